//! Nodes and the network: stepping nodes, carrying out their actions, encoding every message, loss, duplication, delay and partitions.

use super::*;

impl Simulation {
    pub(super) fn step(&mut self, id: NodeId, event: Event) -> Result<(), Violation> {
        if !self.nodes[&id].is_up() {
            return Ok(());
        }
        // A disk error now and then: the step's sync fails and the node must stop.
        let fault = self.nodes[&id].disk_fault.clone();
        let injected =
            self.config.faults.storage && !self.healed && fault.is_some() && self.rng.chance(3);
        if let (true, Some(fault)) = (injected, &fault) {
            fault.set(true);
        }
        let described = if self.trace.is_some() {
            Some(format!("{event:?}"))
        } else {
            None
        };
        let raft = self
            .nodes
            .get_mut(&id)
            .and_then(|n| n.raft_mut())
            .expect("checked above");
        let result = raft.step(event);
        if let Some(fault) = &fault {
            fault.set(false); // unused if the step wrote nothing
        }
        self.record_state(id);
        match result {
            Ok(actions) => {
                if let Some(text) = described {
                    let text: String = text.chars().take(160).collect();
                    self.note(Some(id), || format!("<- {text}"));
                }
                self.after_step(id, actions)
            }
            // The injected disk error: the node released nothing from this step and
            // refuses to go on, as it should; the process dies and restarts later.
            Err(error) if error.is_fatal() && injected => {
                self.note(Some(id), || format!("disk error: {error}"));
                self.crash(id);
                Ok(())
            }
            Err(error) if error.is_fatal() => {
                Err(self.violation("Node error", format!("n{id}: {error}")))
            }
            // Refusals of bad input are fine (a duplicate from a stale term, say).
            Err(error) => {
                self.note(Some(id), || format!("refused: {error}"));
                Ok(())
            }
        }
    }

    pub(super) fn after_step(&mut self, id: NodeId, actions: Vec<Action>) -> Result<(), Violation> {
        for action in actions {
            match action {
                Action::Send { to, message } => {
                    let frame = raft_wire::encode(&message).map_err(|error| {
                        self.violation("Wire round trip", format!("encode: {error}"))
                    })?;
                    let label = self.recording.is_some().then(|| summary(&message));
                    self.transmit(id, to, frame, label);
                }
                Action::Apply {
                    index,
                    term,
                    command,
                } => self.apply(id, index, term, &command)?,
                Action::ReadReady { index, context } => {
                    let Some(command) = Command::decode(&context) else {
                        return Err(self.violation(
                            "Read context",
                            format!("n{id} returned a foreign read context"),
                        ));
                    };
                    let term = self.nodes[&id].raft().map_or(0, RaftNode::term);
                    self.check_read(id, command.client, command.seq, term)?;
                    let node = self.nodes.get_mut(&id).expect("node exists");
                    node.reads.push(ConfirmedRead {
                        index,
                        client: command.client,
                        seq: command.seq,
                        key: command.op.key(),
                    });
                    self.note(Some(id), || {
                        format!(
                            "read for client {} #{} ready at {index}",
                            command.client, command.seq
                        )
                    });
                }
                Action::ReadDropped { context } => {
                    if let Some(command) = Command::decode(&context) {
                        self.reject(command.client, command.seq, None);
                    }
                }
                Action::SyncLog => {
                    // The fsync takes a moment; the sends are already on their way.
                    let delay = self.rng.between(0, TIME_PER_TICK / 2);
                    self.schedule(delay, Ev::SyncLog(id));
                }
                Action::MembershipChanged { membership } => {
                    let node = self.nodes.get_mut(&id).expect("node exists");
                    node.last_membership = Some(membership);
                    if self.held_change == Some(id) {
                        self.held_change = None;
                    }
                }
                Action::MembershipChangeDropped { .. } | Action::ConfigChangeDropped { .. }
                    if self.held_change == Some(id) =>
                {
                    self.held_change = None;
                }
                Action::Repaired { through } => {
                    let now = self.queue.now();
                    let node = self.nodes.get_mut(&id).expect("node exists");
                    if let Some(since) = node.repairing_since.take() {
                        let ticks = (now - since) / TIME_PER_TICK;
                        self.stats.repairs += 1;
                        self.stats.repair_ticks_max = self.stats.repair_ticks_max.max(ticks);
                    }
                    self.note(Some(id), || format!("repaired through {through}"));
                }
                Action::RestoreSnapshot { index, data, .. } => {
                    let Some(kv) = Kv::decode(&data) else {
                        return Err(self.violation(
                            "Snapshot",
                            format!("n{id} got a snapshot that does not decode"),
                        ));
                    };
                    self.nodes.get_mut(&id).expect("node exists").kv = kv;
                    self.note(Some(id), || format!("restores a snapshot through {index}"));
                }
                _ => {}
            }
        }
        self.serve_reads(id);
        self.maybe_snapshot(id)?;
        self.note_rejoined(id);
        self.check_node(id)
    }

    /// A wiped node is back once a committed configuration names its new incarnation
    /// and no longer lists it as rejoining (promoted back if it was a voter).
    fn note_rejoined(&mut self, id: NodeId) {
        let now = self.queue.now();
        let node = self.nodes.get_mut(&id).expect("node exists");
        let (Some(since), Some(raft)) = (node.wiped_since, node.raft()) else {
            return;
        };
        let membership = raft.membership();
        let named = membership.is_member(id)
            && membership.incarnation(id) == raft.log().incarnation()
            && !membership.rejoining().contains(&id)
            && raft.commit_index() >= raft.config_index();
        if named {
            node.wiped_since = None;
            let ticks = (now - since) / TIME_PER_TICK;
            self.stats.rejoins += 1;
            self.stats.rejoin_ticks_max = self.stats.rejoin_ticks_max.max(ticks);
            self.note(Some(id), || {
                format!("rejoined as its new incarnation after {ticks} ticks")
            });
        }
    }

    /// With snapshots on, a node whose log holds 40 applied entries past its snapshot
    /// captures its state machine and compacts.
    pub(super) fn maybe_snapshot(&mut self, id: NodeId) -> Result<(), Violation> {
        if !self.config.faults.snapshots {
            return Ok(());
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Life::Up(raft) = &mut node.life else {
            return Ok(());
        };
        let applied = raft.last_applied();
        if applied < raft.log().snapshot_index() + 40 {
            return Ok(());
        }
        let data = node.kv.encode().into();
        match raft.step(Event::Snapshot {
            index: applied,
            data,
        }) {
            Ok(actions) => {
                self.note(Some(id), || format!("snapshots through {applied}"));
                // The step also synced a deferred append, and may have committed.
                self.after_step(id, actions)
            }
            Err(error) => Err(self.violation("Node error", format!("snapshot on n{id}: {error}"))),
        }
    }

    /// Answers confirmed reads whose index the node's state machine has reached.
    pub(super) fn serve_reads(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(applied) = node.raft().map(|raft| raft.last_applied()) else {
            return;
        };
        let (ready, waiting): (Vec<_>, Vec<_>) =
            node.reads.drain(..).partition(|read| read.index <= applied);
        node.reads = waiting;
        for ConfirmedRead {
            client, seq, key, ..
        } in ready
        {
            let value = self.nodes[&id].kv.data().get(&key).copied();
            let delay = self.rng.between(1, TIME_PER_TICK);
            self.schedule(
                delay,
                Ev::ClientReply {
                    client,
                    seq,
                    outcome: Outcome::Read(value),
                },
            );
        }
    }

    /// Hands a frame to the network: lost, cut by a partition, delivered once or twice,
    /// after a random delay. `label` (kind, term, entries) is for the recorded trace.
    pub(super) fn transmit(
        &mut self,
        from: NodeId,
        to: NodeId,
        frame: Vec<u8>,
        label: Option<(&'static str, Term, u64)>,
    ) {
        let faults = self.config.faults;
        let msg = self.recording.as_mut().map_or(0, |recording| {
            recording.messages += 1;
            recording.messages
        });
        let blocked = self.blocked.contains(&(from, to));
        let (fate, copies) = if blocked {
            (Fate::Blocked, 0)
        } else if !self.healed && self.rng.chance(faults.drop_per_mille) {
            (Fate::Dropped, 0)
        } else if !self.healed && self.rng.chance(faults.duplicate_per_mille) {
            (Fate::Duplicated, 2)
        } else {
            (Fate::Delivered, 1)
        };
        let mut arrive = Vec::new();
        for _ in 0..copies {
            let delay = self.rng.between(1, faults.delay_ticks_max * TIME_PER_TICK);
            arrive.push(self.queue.now() + delay);
            self.schedule(
                delay,
                Ev::Deliver {
                    to,
                    frame: frame.clone(),
                    msg,
                },
            );
        }
        if let Some((kind, term, entries)) = label {
            self.record(|| TraceEvent::Send {
                id: msg,
                from,
                to,
                kind,
                term,
                entries,
                fate,
                arrive,
            });
        }
    }

    pub(super) fn apply(
        &mut self,
        id: NodeId,
        index: Index,
        term: Term,
        command: &[u8],
    ) -> Result<(), Violation> {
        match self.committed.get(&index) {
            Some((seen_term, seen)) if (*seen_term, seen.as_slice()) != (term, command) => {
                return Err(self.violation(
                    "State Machine Safety",
                    format!("n{id} applied a different entry at index {index} (term {term}, another node applied term {seen_term})"),
                ));
            }
            Some(_) => {}
            None => {
                let _ = self.committed.insert(index, (term, command.to_vec()));
                self.stats.commit_index = self.stats.commit_index.max(index);
            }
        }
        let Some(command) = Command::decode(command) else {
            return Err(self.violation(
                "State Machine Safety",
                format!("n{id} applied an entry that is not a command at {index}"),
            ));
        };
        let node = self.nodes.get_mut(&id).expect("node exists");
        let outcome = node.kv.apply(&command);
        if node.waiting.remove(&(command.client, command.seq)) {
            let delay = self.rng.between(1, TIME_PER_TICK);
            self.schedule(
                delay,
                Ev::ClientReply {
                    client: command.client,
                    seq: command.seq,
                    outcome,
                },
            );
        }
        Ok(())
    }
}
