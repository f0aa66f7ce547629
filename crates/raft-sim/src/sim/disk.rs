//! Crashes, restarts and damaged disks: a crash loses unsynced writes (or keeps a torn
//! prefix of them); with the `disk` fault it may also damage synced data. Memory logs
//! lose entries from a point on (`CrashLog::after_disk_damage`); WalLogs get real
//! damage in their files (a flipped bit, a torn sector, a record written at the wrong
//! offset) and restart through `WalLog::open_repairing`. Either way the node repairs
//! from its peers (docs/RECOVERY.md, rule 1).

use std::path::{Path, PathBuf};

use super::*;

/// Bytes of a disk sector: a torn write loses whole sectors.
const SECTOR_BYTES: usize = 512;

/// The WAL segment files in `dir`, oldest first (their names sort by sequence).
fn segment_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    files.sort();
    Some(files)
}

impl Simulation {
    pub(super) fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        if !node.is_up() {
            return;
        }
        if self.held_change == Some(id) {
            // A crash drops the change the node held.
            self.held_change = None;
        }
        // (A placeholder for the moment the storage is taken from the RaftNode.)
        let placeholder = Life::Down(Down::Wal {
            dir: PathBuf::new(),
            undo: None,
        });
        let Life::Up(raft) = std::mem::replace(&mut node.life, placeholder) else {
            unreachable!("checked up above");
        };
        let damage = self.disk_damage_allowed(id, raft.membership()) && self.rng.chance(250);
        let mut damaged = None;
        // One damage in five wipes the storage: the node comes back empty as a new
        // incarnation and the leader adds it back (rule 2).
        let wipe = damage && self.rng.chance(200);
        let (down, unsynced, torn) = match raft.into_log() {
            SimStorage::Memory(log) if wipe => {
                let unsynced = log.unsynced_writes();
                let incarnation = self.rng.between(1, u64::MAX);
                let log = SimLog::from_durable(MemoryLog::with_incarnation(incarnation));
                damaged = Some(format!(
                    "its storage is wiped: it restarts empty as incarnation {incarnation}"
                ));
                self.forget_wiped(id, Some(&log));
                (Down::Memory(Box::new(log)), unsynced, 0)
            }
            // The directory is gone; the node is started on an empty one as a new
            // incarnation (what raft-kv does without `--init`).
            SimStorage::Wal(log) if wipe => {
                let dir = log.dir().to_path_buf();
                drop(log);
                let (log, incarnation) = self
                    .recreate_wal(id, &dir)
                    .unwrap_or_else(|error| panic!("cannot recreate a simulation WAL: {error}"));
                drop(log);
                damaged = Some(format!(
                    "its data directory is wiped: it restarts empty as incarnation {incarnation}"
                ));
                (Down::Wal { dir, undo: None }, 0, 0)
            }
            SimStorage::Memory(log) => {
                let unsynced = log.unsynced_writes();
                let torn = if unsynced > 0 {
                    self.rng.below(unsynced as u64 + 1) as usize
                } else {
                    0
                };
                let mut log = log.after_crash(torn);
                // A synced record fails its checksum: it and everything after it is
                // lost, recent entries most often.
                let (first, last) = (log.snapshot_index() + 1, log.last_index());
                if damage && first <= last {
                    let span = (last - first + 1).min(1 + self.rng.below(12));
                    let lost_from = last + 1 - span;
                    log = log.after_disk_damage(lost_from);
                    damaged = Some(format!("entries {lost_from}..={last} are lost"));
                }
                (Down::Memory(Box::new(log)), unsynced, torn)
            }
            // Dropping a WalLog loses exactly its unwritten buffer, as a crash does; a
            // crash in the middle of a sync tears that buffer's batch instead.
            SimStorage::Wal(log) => {
                let dir = log.dir().to_path_buf();
                let torn = if damage && self.rng.chance(500) {
                    self.tear_wal(log, &dir)
                } else {
                    drop(log);
                    None
                };
                let undo = match torn {
                    Some((what, undo)) => {
                        self.stats.torn_writes += 1;
                        self.note(Some(id), || what);
                        Some(undo)
                    }
                    None if damage => self.damage_wal(&dir).map(|(what, undo)| {
                        damaged = Some(what);
                        undo
                    }),
                    None => None,
                };
                (Down::Wal { dir, undo }, 0, 0)
            }
        };
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.life = Life::Down(down);
        node.kv = Kv::default();
        node.waiting.clear();
        node.reads.clear();
        node.leading = None;
        self.stats.crashes += 1;
        self.record(|| TraceEvent::Crash { node: id });
        self.record_state(id);
        self.note(Some(id), || {
            format!("crashes (keeps {torn} of {unsynced} unsynced writes)")
        });
        if let Some(what) = damaged {
            self.stats.disk_damages += 1;
            self.note(Some(id), || format!("its disk is damaged: {what}"));
        }
    }

    /// The crash comes in the middle of a sync: the batch being written reaches the
    /// newest segment as a random subset of its sectors (a device persists them
    /// independently). Most subsets read as a torn tail and are cut; one with a hole
    /// before surviving sectors reads as damage and is repaired (its term and vote
    /// reached the `vote` file whole before: docs/RECOVERY.md section 8). Returns what
    /// was done and the
    /// file's bytes before; `None` when nothing was being written.
    fn tear_wal(
        &mut self,
        log: raft_wal::WalLog,
        dir: &Path,
    ) -> Option<(String, (PathBuf, Vec<u8>))> {
        let newest = segment_files(dir)?.pop()?;
        let before = std::fs::read(&newest).ok()?;
        let rng = &mut self.rng;
        let mut kept = Vec::new();
        let torn = log
            .crash_during_sync(&mut |sector| {
                let written = rng.chance(500);
                if written {
                    kept.push(sector);
                }
                written
            })
            .ok()?;
        let name = newest.file_name()?.to_string_lossy().into_owned();
        torn.then(|| {
            (
                format!("crashes mid-sync: sectors {kept:?} of the batch reached {name}"),
                (newest, before),
            )
        })
    }

    /// Damages one of the segment files in `dir`: a flipped bit, a torn (zeroed)
    /// sector, or a stretch of the file copied over another (a misdirected write); or,
    /// rarely, the `vote` file that holds the term and vote (a flipped bit: the log is
    /// refused, since the newest vote is unknown). Returns what was done and the
    /// file's bytes before.
    fn damage_wal(&mut self, dir: &Path) -> Option<(String, (PathBuf, Vec<u8>))> {
        if self.rng.chance(60) {
            let file = dir.join("vote");
            let before = std::fs::read(&file).ok()?;
            let mut bytes = before.clone();
            let at = self.rng.below(bytes.len() as u64) as usize;
            let bit = self.rng.below(8);
            bytes[at] ^= 1 << bit;
            std::fs::write(&file, &bytes).ok()?;
            return Some((
                format!("bit {bit} of byte {at} of its vote file flipped"),
                (file, before),
            ));
        }
        let files = segment_files(dir)?;
        let file = files
            .get(self.rng.below(files.len() as u64) as usize)?
            .clone();
        let before = std::fs::read(&file).ok()?;
        // Past the segment header: a damaged header is tested in raft-wal.
        let header = 28;
        if before.len() <= header + 64 {
            return None;
        }
        let name = file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        let sealed = files.last() != Some(&file);
        if self.rng.chance(100) && sealed {
            // A read error: the segment cannot be read back at all when the node
            // restarts (a directory in its place stands in for EIO). Repair mode takes
            // it as damaged whole. A sealed one only: the next segment's first index
            // bounds what it held. The newest segment's bound would come from its size
            // alone and may run past anything the cluster writes; the node then
            // abstains until a leader of a newer term reaches it (docs/RECOVERY.md
            // section 2), which a quiet cluster after healing never elects.
            std::fs::remove_file(&file).ok()?;
            std::fs::create_dir(&file).ok()?;
            return Some((
                format!("{name:?} cannot be read (a read error)"),
                (file, before),
            ));
        }
        let mut bytes = before.clone();
        let span = (bytes.len() - header) as u64;
        let at = header + self.rng.below(span) as usize;
        let what = match self.rng.below(3) {
            0 => {
                let bit = self.rng.below(8);
                bytes[at] ^= 1 << bit;
                format!("bit {bit} of byte {at} of {name:?} flipped")
            }
            // A sector of synced data reads back as zeros. Only where valid data
            // follows: zeros at the very end of the newest segment are what a torn
            // (unacknowledged) write leaves, and a synced tail that vanishes is a
            // lying fsync, which no protocol survives.
            1 if at + SECTOR_BYTES + 64 < bytes.len() => {
                let start = (at / SECTOR_BYTES * SECTOR_BYTES).max(header);
                let end = at / SECTOR_BYTES * SECTOR_BYTES + SECTOR_BYTES;
                bytes[start..end].fill(0);
                format!("sector at {start} of {name:?} zeroed")
            }
            1 => {
                let bit = self.rng.below(8);
                bytes[at] ^= 1 << bit;
                format!("bit {bit} of byte {at} of {name:?} flipped")
            }
            // A misdirected write: a whole sector lands on another sector of the file.
            // (Batch starts name where they were written, and entries must continue
            // the log; a copy that replaced whole non-entry records inside a batch with
            // equal-sized older ones would still go unnoticed: docs/RECOVERY.md.)
            _ => {
                let sectors = bytes.len() / SECTOR_BYTES;
                if sectors < 2 {
                    return None;
                }
                let from = self.rng.below(sectors as u64) as usize * SECTOR_BYTES;
                let to = self.rng.below(sectors as u64) as usize * SECTOR_BYTES;
                if from == to || to < header {
                    return None;
                }
                let chunk = bytes[from..from + SECTOR_BYTES].to_vec();
                bytes[to..to + SECTOR_BYTES].copy_from_slice(&chunk);
                format!("sector at {from} of {name:?} written over the one at {to}")
            }
        };
        std::fs::write(&file, &bytes).ok()?;
        Some((what, (file, before)))
    }

    /// Whether a crash of `id` may also damage its disk: the run has the fault, and
    /// the damaged or repairing voters of `membership` (the configuration `id`
    /// follows; both halves when joint), counting `id`, stay a minority of each half,
    /// so intact voters can still elect a leader that repairs them. (More damage
    /// than that makes the cluster wait for an operator, which is right but not what
    /// a seed can check.)
    fn disk_damage_allowed(&self, id: NodeId, membership: &Membership) -> bool {
        if !self.config.faults.disk
            || self.healed
            || self.small_config_seen
            || self.held_change.is_some()
        {
            return false;
        }
        let damaged =
            |other: NodeId| other == id || self.nodes.get(&other).is_some_and(Self::is_damaged);
        let minority = |voters: &[NodeId]| {
            let count = voters.iter().filter(|&&voter| damaged(voter)).count();
            count <= voters.len().saturating_sub(1) / 2
        };
        // In the configuration `id` follows, in every running node's (one of them
        // may already hold a newer one) and in the last one each node that is down
        // reported (its log may hold it, and it may lead with it when it is back).
        std::iter::once(membership)
            .chain(self.nodes.values().filter_map(|node| match node.raft() {
                Some(raft) => Some(raft.membership()),
                None => node.last_membership.as_ref(),
            }))
            .all(|membership| {
                minority(membership.voters()) && minority(membership.outgoing_voters())
            })
    }

    /// Replaces `id`'s WalLog directory by an empty one of a new incarnation drawn
    /// from the seed (what raft-kv does on an empty directory without `--init`).
    fn recreate_wal(
        &mut self,
        id: NodeId,
        dir: &Path,
    ) -> Result<(raft_wal::WalLog, raft_core::Incarnation), raft_wal::WalError> {
        let incarnation = self.rng.between(1, u64::MAX);
        let _ = std::fs::remove_dir_all(dir);
        let log = raft_wal::WalLog::create_incarnation(dir, Self::wal_options(), incarnation)?;
        self.forget_wiped(id, None);
        Ok((log, incarnation))
    }

    /// A wiped node is a new voter to the checker (its old incarnation's terms and
    /// votes are gone with its storage: the protocol keeps it from voting as the old
    /// one), and its storage errors are injected through the new log.
    fn forget_wiped(&mut self, id: NodeId, log: Option<&SimLog>) {
        self.votes.retain(|&(voter, _), _| voter != id);
        let _ = self.terms_seen.remove(&id);
        self.stats.wipes += 1;
        let now = self.queue.now();
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.disk_fault = log.map(SimLog::fault_handle);
        node.wiped_since = node.wiped_since.or(Some(now));
    }

    /// Whether `node` is repairing (up, or down since: a WalLog's mark is in its
    /// files), down with a damaged disk, or wiped and not named again yet.
    fn is_damaged(node: &Node) -> bool {
        node.repairing_since.is_some()
            || node.wiped_since.is_some()
            || match &node.life {
                Life::Up(raft) => raft.log().repair_mark().is_some(),
                Life::Down(Down::Memory(log)) => log.repair_mark().is_some(),
                Life::Down(Down::Wal { undo, .. }) => undo.is_some(),
            }
    }

    /// Whether any node is repairing, or down with a damaged disk.
    pub(super) fn any_disk_damaged(&self) -> bool {
        self.nodes.values().any(Self::is_damaged)
    }

    /// Opens a crashed node's WalLog in repair mode. A log refused because its newest
    /// term and vote are unknown (a damaged `vote` file: rule 2) gets its undamaged
    /// file back.
    fn open_wal(
        &mut self,
        id: NodeId,
        dir: &Path,
        undo: Option<(PathBuf, Vec<u8>)>,
    ) -> Result<raft_wal::WalLog, Violation> {
        match raft_wal::WalLog::open_repairing(dir, Self::wal_options()) {
            Ok((log, report)) => {
                if let Some(report) = report {
                    self.note(Some(id), || format!("repairing: {report}"));
                }
                Ok(log)
            }
            // The way back an operator takes (docs/RECOVERY.md, rule 2): the directory
            // is set aside and the node started on an empty one, as a new incarnation.
            Err(error) if error.is_lost_vote() && undo.is_some() => {
                self.stats.disk_refusals += 1;
                let (log, incarnation) = self
                    .recreate_wal(id, dir)
                    .map_err(|error| self.violation("WAL recovery", format!("n{id}: {error}")))?;
                self.note(Some(id), || {
                    format!(
                        "log refused ({error}): started on an empty directory as incarnation \
                         {incarnation}"
                    )
                });
                Ok(log)
            }
            Err(error) => Err(self.violation("WAL recovery", format!("n{id}: {error}"))),
        }
    }

    pub(super) fn restart(&mut self, id: NodeId) -> Result<(), Violation> {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let config = Self::node_config(self.seed, &self.config, id, &ids);
        let node = self.nodes.get_mut(&id).expect("node exists");
        if node.is_up() {
            return Ok(());
        }
        // (A placeholder until the storage is opened again.)
        let placeholder = Down::Wal {
            dir: PathBuf::new(),
            undo: None,
        };
        let Life::Down(down) = std::mem::replace(&mut node.life, Life::Down(placeholder)) else {
            unreachable!("checked down above");
        };
        let storage = match down {
            Down::Memory(log) => SimStorage::Memory(*log),
            Down::Wal { dir, undo } => SimStorage::Wal(self.open_wal(id, &dir, undo)?),
        };
        let raft = RaftNode::try_with_log(config, storage)
            .map_err(|error| self.violation("Restart", format!("n{id}: {error}")))?;
        let repairing = raft.log().repair_mark().is_some();
        let now = self.queue.now();
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.life = Life::Up(Box::new(raft));
        if repairing {
            node.repairing_since = node.repairing_since.or(Some(now));
        }
        self.note(Some(id), || "restarts from its durable log".into());
        self.record(|| TraceEvent::Restart { node: id });
        self.record_state(id);
        Ok(())
    }
}
