//! The timeline picture of a recorded run: one self-contained HTML file (inline SVG, a
//! few lines of inline script for zoom and filters, nothing fetched) with one lane per
//! node — role and term bands, commits, crashes and restarts — every message as an
//! arrow from send to arrival (lost, cut, duplicated and delayed ones marked), the
//! partitions, one row per client with its operations, and the first violation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use raft_core::NodeId;

use crate::config::TIME_PER_TICK;
use crate::trace::{Fate, Timed, TraceEvent};

const LEFT: f64 = 96.0;
const TOP: f64 = 40.0;
const LANE: f64 = 64.0;
const CLIENT_ROW: f64 = 20.0;
/// Pixels per tick at zoom 1.
const PX_PER_TICK: f64 = 14.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn x(time: u64) -> f64 {
    LEFT + time as f64 / TIME_PER_TICK as f64 * PX_PER_TICK
}

fn role_colour(role: &str) -> &'static str {
    match role {
        "leader" => "#3a9d5d",
        "candidate" => "#e0b43a",
        "down" => "#333333",
        _ => "#c9d3dd",
    }
}

fn message_class(kind: &str, entries: u64) -> &'static str {
    match kind {
        "AppendEntries" if entries == 0 => "heartbeat",
        "AppendEntriesReply" => "reply",
        "AppendEntries" => "append",
        "PreVote" | "RequestVote" | "PreVoteReply" | "RequestVoteReply" | "TimeoutNow" => "vote",
        "ReadConfirm" | "ReadConfirmReply" => "read",
        _ => "snapshot",
    }
}

/// Draws `events` (a run's record, [`crate::record_seed`]) as one HTML page titled
/// `title`.
pub fn timeline_html(title: &str, events: &[Timed]) -> String {
    let nodes: Vec<NodeId> = {
        let mut ids: Vec<NodeId> = events
            .iter()
            .filter_map(|timed| match timed.event {
                TraceEvent::State { node, .. } => Some(node),
                TraceEvent::Send { from, to, .. } => Some(from.max(to)),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let clients: Vec<u64> = {
        let mut ids: Vec<u64> = events
            .iter()
            .filter_map(|timed| match timed.event {
                TraceEvent::Invoke { client, .. } => Some(client),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let end = events.last().map_or(0, |timed| timed.time) + 2 * TIME_PER_TICK;
    let lane_of: BTreeMap<NodeId, usize> =
        nodes.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let lane_y = |node: NodeId| TOP + lane_of.get(&node).copied().unwrap_or(0) as f64 * LANE;
    let clients_top = TOP + nodes.len() as f64 * LANE + 16.0;
    let height = clients_top + clients.len() as f64 * CLIENT_ROW + 30.0;
    let width = x(end) + 220.0;
    let mut svg = String::new();

    // Time axis.
    let ticks = end / TIME_PER_TICK;
    let step = if ticks > 600 { 50 } else { 10 };
    for tick in (0..=ticks).step_by(step as usize) {
        let at = x(tick * TIME_PER_TICK);
        let _ = write!(
            svg,
            r##"<line x1="{at}" y1="{}" x2="{at}" y2="{height}" class="grid"/><text x="{at}" y="{}" class="axis">{tick}</text>"##,
            TOP - 8.0,
            TOP - 12.0
        );
    }
    // Lanes and labels.
    for &node in &nodes {
        let y = lane_y(node);
        let _ = write!(
            svg,
            r##"<text x="8" y="{}" class="lane">n{node}</text><line x1="{LEFT}" y1="{}" x2="{width}" y2="{}" class="lanesep"/>"##,
            y + LANE / 2.0 + 4.0,
            y + LANE,
            y + LANE
        );
    }
    // Partitions: shaded across the lanes of the nodes a cut touches.
    let mut open: Option<(u64, Vec<(NodeId, NodeId)>)> = None;
    let close_partition = |svg: &mut String, start: u64, stop: u64, cut: &[(NodeId, NodeId)]| {
        let mut touched: Vec<NodeId> = cut.iter().flat_map(|&(a, b)| [a, b]).collect();
        touched.sort_unstable();
        touched.dedup();
        let links: Vec<String> = cut.iter().map(|(a, b)| format!("{a}→{b}")).collect();
        for node in touched {
            let _ = write!(
                svg,
                r##"<rect x="{}" y="{}" width="{}" height="{}" class="partition"><title>partition: {} cut</title></rect>"##,
                x(start),
                lane_y(node) + 2.0,
                (x(stop) - x(start)).max(1.0),
                LANE - 4.0,
                escape(&links.join(" "))
            );
        }
    };
    // Role bands.
    let mut last_state: BTreeMap<NodeId, (u64, &str, u64)> = BTreeMap::new();
    let band = |svg: &mut String, node: NodeId, start: u64, stop: u64, role: &str, term: u64| {
        let y = lane_y(node) + 8.0;
        let _ = write!(
            svg,
            r##"<rect x="{}" y="{y}" width="{}" height="22" fill="{}" class="band"><title>n{node} {role} term {term} ({:.2}..{:.2})</title></rect>"##,
            x(start),
            (x(stop) - x(start)).max(0.5),
            role_colour(role),
            start as f64 / TIME_PER_TICK as f64,
            stop as f64 / TIME_PER_TICK as f64
        );
        if x(stop) - x(start) > 26.0 && role != "down" {
            let _ = write!(
                svg,
                r##"<text x="{}" y="{}" class="term">t{term}</text>"##,
                x(start) + 3.0,
                y + 15.0
            );
        }
    };
    let mut commits: BTreeMap<NodeId, u64> = BTreeMap::new();
    let mut invoked: BTreeMap<(u64, u64), (u64, String)> = BTreeMap::new();
    let mut violation_at = None;
    for timed in events {
        let time = timed.time;
        match &timed.event {
            TraceEvent::State {
                node,
                role,
                term,
                commit,
                ..
            } => {
                if let Some(&(start, old_role, old_term)) = last_state.get(node)
                    && (old_role != *role || old_term != *term)
                {
                    band(&mut svg, *node, start, time, old_role, old_term);
                    let _ = last_state.insert(*node, (time, role, *term));
                } else if !last_state.contains_key(node) {
                    let _ = last_state.insert(*node, (0, role, *term));
                }
                let before = commits.insert(*node, *commit).unwrap_or(0);
                if *commit > before {
                    let y = lane_y(*node) + 34.0;
                    let _ = write!(
                        svg,
                        r##"<line x1="{0}" y1="{y}" x2="{0}" y2="{1}" class="commit"><title>n{node} commits through {commit}</title></line>"##,
                        x(time),
                        y + 8.0
                    );
                }
            }
            TraceEvent::Send {
                id,
                from,
                to,
                kind,
                term,
                entries,
                fate,
                arrive,
            } => {
                let class = message_class(kind, *entries);
                let (x1, y1) = (x(time), lane_y(*from) + LANE / 2.0 - 6.0);
                let y2 = lane_y(*to) + LANE / 2.0 - 6.0;
                let label = format!(
                    "#{id} {kind} n{from}→n{to} term {term}{}: {}",
                    if *entries > 0 {
                        format!(", {entries} entries")
                    } else {
                        String::new()
                    },
                    match fate {
                        Fate::Delivered => "delivered",
                        Fate::Duplicated => "duplicated",
                        Fate::Dropped => "lost",
                        Fate::Blocked => "cut by a partition",
                    }
                );
                match fate {
                    Fate::Dropped | Fate::Blocked => {
                        let (mx, my) = (x1 + 3.0 * PX_PER_TICK / 4.0, (y1 + y2) / 2.0);
                        let mark = if *fate == Fate::Dropped {
                            "lost"
                        } else {
                            "cut"
                        };
                        let _ = write!(
                            svg,
                            r##"<g class="msg {class} {mark}"><line x1="{x1}" y1="{y1}" x2="{mx}" y2="{my}"/><text x="{mx}" y="{my}" class="x">✕</text><title>{}</title></g>"##,
                            escape(&label)
                        );
                    }
                    Fate::Delivered | Fate::Duplicated => {
                        for &at in arrive {
                            let delayed = at - time > TIME_PER_TICK;
                            let extra = match (fate, delayed) {
                                (Fate::Duplicated, _) => " dup",
                                (_, true) => " delayed",
                                _ => "",
                            };
                            let _ = write!(
                                svg,
                                r##"<g class="msg {class}{extra}"><line x1="{x1}" y1="{y1}" x2="{}" y2="{y2}" marker-end="url(#arrow)"/><title>{}</title></g>"##,
                                x(at),
                                escape(&label)
                            );
                        }
                    }
                }
            }
            TraceEvent::Crash { node } => {
                let _ = write!(
                    svg,
                    r##"<text x="{}" y="{}" class="crash">✕<title>n{node} crashes</title></text>"##,
                    x(time) - 6.0,
                    lane_y(*node) + 58.0
                );
            }
            TraceEvent::Restart { node } => {
                let _ = write!(
                    svg,
                    r##"<circle cx="{}" cy="{}" r="5" class="restart"><title>n{node} restarts</title></circle>"##,
                    x(time),
                    lane_y(*node) + 53.0
                );
            }
            TraceEvent::Partition { cut } => {
                if let Some((start, links)) = open.take() {
                    close_partition(&mut svg, start, time, &links);
                }
                if !cut.is_empty() {
                    open = Some((time, cut.clone()));
                }
            }
            TraceEvent::Invoke { client, seq, op } => {
                let _ = invoked.insert((*client, *seq), (time, op.clone()));
            }
            TraceEvent::Complete {
                client,
                seq,
                outcome,
            } => {
                if let Some((start, op)) = invoked.remove(&(*client, *seq)) {
                    client_bar(
                        &mut svg,
                        &clients,
                        clients_top,
                        *client,
                        start,
                        time,
                        &op,
                        Some(outcome),
                    );
                }
            }
            TraceEvent::Note { node, text } => {
                let y = node.map_or(TOP - 4.0, |id| lane_y(id) + 4.0);
                let _ = write!(
                    svg,
                    r##"<path d="M{0} {y} l4 4 l-4 4 l-4 -4 z" class="note"><title>{1}</title></path>"##,
                    x(time),
                    escape(&format!(
                        "{}{text}",
                        node.map_or(String::new(), |id| format!("n{id}: "))
                    ))
                );
            }
            TraceEvent::Violation { property, detail } => {
                violation_at = Some(x(time));
                let _ = write!(
                    svg,
                    r##"<g id="violation"><line x1="{0}" y1="{1}" x2="{0}" y2="{height}" class="violation"/><text x="{2}" y="{3}" class="violation">{4}</text><title>{5}</title></g>"##,
                    x(time),
                    TOP - 30.0,
                    x(time) + 4.0,
                    TOP - 18.0,
                    escape(property),
                    escape(detail)
                );
            }
            TraceEvent::Deliver { .. } => {}
        }
    }
    for (node, (start, role, term)) in last_state {
        band(&mut svg, node, start, end, role, term);
    }
    if let Some((start, links)) = open {
        close_partition(&mut svg, start, end, &links);
    }
    for ((client, _), (start, op)) in invoked {
        client_bar(
            &mut svg,
            &clients,
            clients_top,
            client,
            start,
            end,
            &op,
            None,
        );
    }
    for (row, client) in clients.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<text x="8" y="{}" class="client">client {client}</text>"##,
            clients_top + row as f64 * CLIENT_ROW + 13.0
        );
    }
    page(title, &svg, width, height, violation_at)
}

#[allow(clippy::too_many_arguments)]
fn client_bar(
    svg: &mut String,
    clients: &[u64],
    top: f64,
    client: u64,
    start: u64,
    stop: u64,
    op: &str,
    outcome: Option<&String>,
) {
    let row = clients.iter().position(|&c| c == client).unwrap_or(0);
    let y = top + row as f64 * CLIENT_ROW + 2.0;
    let kind = if op.starts_with("Get") {
        "get"
    } else {
        "write"
    };
    let pending = if outcome.is_none() { " pending" } else { "" };
    let _ = write!(
        svg,
        r##"<rect x="{}" y="{y}" width="{}" height="15" class="op {kind}{pending}"><title>{}</title></rect>"##,
        x(start),
        (x(stop) - x(start)).max(1.0),
        escape(&format!(
            "client {client}: {op} -> {}",
            outcome.map_or("no answer", String::as_str)
        ))
    );
}

fn page(title: &str, svg: &str, width: f64, height: f64, violation_at: Option<f64>) -> String {
    let title = escape(title);
    let scroll = violation_at.map_or(0.0, |at| (at - 400.0).max(0.0));
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 0; }}
header {{ padding: 8px 12px; background: #f4f6f8; border-bottom: 1px solid #ccd; position: sticky; top: 0; }}
header label {{ margin-right: 14px; }}
#scroll {{ overflow: auto; }}
.hide-heartbeat .heartbeat, .hide-heartbeat .reply {{ display: none; }}
.hide-messages .msg {{ display: none; }}
</style></head><body>
<header><b>{title}</b> &nbsp; time in ticks &nbsp;
<label>zoom <input id="zoom" type="range" min="0.1" max="4" step="0.05" value="1"></label>
<label><input id="hb" type="checkbox"> hide heartbeats and acks</label>
<label><input id="msgs" type="checkbox"> hide all messages</label>
<span>bands: <span style="color:#3a9d5d">leader</span>, <span style="color:#c9a02a">candidate</span>, grey follower, black down; arrows: messages (red ✕ lost or cut, orange duplicated, dashed delayed); red shade: partition; blue marks: commits; ◆ notes; hover for details</span>
</header>
<div id="scroll"><svg id="run" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">
<style>
text {{ font-family: "DejaVu Sans", sans-serif; font-size: 12px; }}
.grid {{ stroke: #eef0f3; }} .axis {{ fill: #667; font-size: 10px; text-anchor: middle; }}
.lane {{ font-weight: 600; }} .lanesep {{ stroke: #dde; }} .client {{ fill: #445; font-size: 11px; }}
.band {{ opacity: 0.9; }} .term {{ fill: #fff; font-size: 11px; pointer-events: none; }}
.commit {{ stroke: #1d5fa8; stroke-width: 1.5; }}
.msg line {{ stroke-width: 1; }} .msg .x {{ font-size: 10px; fill: #c22; }}
.append line {{ stroke: #2f6fd0; }} .heartbeat line {{ stroke: #9bb6e0; }} .reply line {{ stroke: #8aa; }}
.vote line {{ stroke: #8a3fc4; }} .read line {{ stroke: #1a9a8a; }} .snapshot line {{ stroke: #a0622d; stroke-width: 2; }}
.lost line, .cut line {{ stroke: #c22; stroke-dasharray: 3 2; }} .cut .x {{ fill: #777; }}
.dup line {{ stroke: #e07b00; }} .delayed line {{ stroke-dasharray: 6 3; }}
.crash {{ fill: #000; font-size: 16px; font-weight: 700; }} .restart {{ fill: #3a9d5d; stroke: #fff; }}
.partition {{ fill: #d22; opacity: 0.10; }}
.op {{ stroke: #fff; }} .get {{ fill: #7fc4b8; }} .write {{ fill: #8fa9d6; }} .pending {{ fill: #e8c26b; }}
.note {{ fill: #a05fc0; }}
line.violation {{ stroke: #d00; stroke-width: 2.5; }} text.violation {{ fill: #d00; font-weight: 700; }}
</style>
<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0 L6 3 L0 6 z" fill="#557"/></marker></defs>
{svg}
</svg></div>
<script>
const svg = document.getElementById("run"), box = document.getElementById("scroll");
const w = {width}, h = {height};
document.getElementById("zoom").addEventListener("input", e => {{
  const z = parseFloat(e.target.value); svg.setAttribute("width", w * z); svg.setAttribute("height", h * Math.min(1, Math.max(z, 0.5)));
}});
document.getElementById("hb").addEventListener("change", e => svg.classList.toggle("hide-heartbeat", e.target.checked));
document.getElementById("msgs").addEventListener("change", e => svg.classList.toggle("hide-messages", e.target.checked));
box.scrollLeft = {scroll};
</script></body></html>
"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Profile, SimConfig, record_seed};

    // Proves the page stands alone (no fetched resource), has a lane per node and a
    // row per client, and marks messages; the same run draws the same bytes.
    #[test]
    fn a_run_draws_one_self_contained_page() {
        let mut config = SimConfig::for_seed(4, Profile::All);
        config.fault_ticks = 60;
        config.settle_ticks = 300;
        let (events, _) = record_seed(4, config);
        let html = timeline_html("seed 4", &events);
        assert!(html.starts_with("<!DOCTYPE html>"));
        for forbidden in ["http://", "https://", "src=", "href="] {
            let outside = html.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside.contains(forbidden), "{forbidden}");
        }
        for lane in ["n1</text>", "n2</text>", "n3</text>", "client 1</text>"] {
            assert!(html.contains(lane), "{lane}");
        }
        assert!(html.contains("class=\"msg append"));
        assert!(html.contains("marker-end"));
        let (again, _) = record_seed(4, config);
        assert_eq!(timeline_html("seed 4", &again), html);
    }
}
