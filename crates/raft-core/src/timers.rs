//! The node's logical clock: ticks, the randomised election timeout, heartbeats and
//! the check-quorum round. No wall clock: one `tick()` is one [`Event::Tick`].
//!
//! [`Event::Tick`]: crate::Event::Tick

use crate::rng::SplitMix64;

/// Tick counters and the pinned PRNG the election timeout is drawn from.
#[derive(Clone, Debug)]
pub(crate) struct Timers {
    rng: SplitMix64,
    election_min_ticks: u32,
    election_max_ticks: u32,
    heartbeat_interval_ticks: u32,
    /// Ticks since the last contact with a leader (followers), since the election
    /// started (candidates), since the last check-quorum round (leaders).
    election_elapsed: u32,
    /// This round's randomised election timeout, in `[min, max]`.
    election_timeout: u32,
    heartbeat_elapsed: u32,
    /// Ticks this node has seen; the clock of lease reads.
    ticks: u64,
}

impl Timers {
    /// Fresh timers; the first election timeout is drawn at once.
    pub(crate) fn new(seed: u64, (min, max): (u32, u32), heartbeat_interval: u32) -> Self {
        assert!(min >= 1 && min <= max && heartbeat_interval >= 1);
        let mut timers = Self {
            rng: SplitMix64::new(seed),
            election_min_ticks: min,
            election_max_ticks: max,
            heartbeat_interval_ticks: heartbeat_interval,
            election_elapsed: 0,
            election_timeout: 0,
            heartbeat_elapsed: 0,
            ticks: 0,
        };
        timers.redraw_election_timeout();
        timers
    }

    /// One logical tick.
    pub(crate) fn tick(&mut self) {
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        self.ticks += 1;
    }

    /// Ticks seen since the node started.
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Whether a follower or candidate has waited out this round's election timeout.
    pub(crate) fn election_due(&self) -> bool {
        self.election_elapsed >= self.election_timeout
    }

    /// Whether the next tick makes the election timeout due.
    pub(crate) fn election_due_next_tick(&self) -> bool {
        self.election_elapsed.saturating_add(1) >= self.election_timeout
    }

    /// Heard from the leader, or granted a vote: the election timer starts over.
    pub(crate) fn restart_election(&mut self) {
        self.election_elapsed = 0;
    }

    /// A new role or a new campaign: both timers start over and the next election
    /// timeout is drawn again, so that candidates spread out.
    pub(crate) fn restart_all(&mut self) {
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.redraw_election_timeout();
    }

    /// A new campaign: the election timer starts over with a fresh draw.
    pub(crate) fn restart_campaign(&mut self) {
        self.election_elapsed = 0;
        self.redraw_election_timeout();
    }

    /// A new leader: both timers start over, with no new draw (a leader does not use it).
    pub(crate) fn restart_as_leader(&mut self) {
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
    }

    /// Whether the last contact with a leader is less than the minimum election
    /// timeout ago (leader stickiness).
    pub(crate) fn heard_recently(&self) -> bool {
        self.election_elapsed < self.election_min_ticks
    }

    /// Whether the node has seen fewer ticks than the minimum election timeout since it
    /// started.
    pub(crate) fn just_started(&self) -> bool {
        self.ticks < u64::from(self.election_min_ticks)
    }

    /// Leader: whether a check-quorum round is due (every minimum election timeout);
    /// if so, the next round starts now.
    pub(crate) fn check_quorum_due(&mut self) -> bool {
        let due = self.election_elapsed >= self.election_min_ticks;
        if due {
            self.election_elapsed = 0;
        }
        due
    }

    /// Leader: counts a tick toward the next heartbeat; whether one is due now.
    pub(crate) fn heartbeat_due(&mut self) -> bool {
        self.heartbeat_elapsed = self.heartbeat_elapsed.saturating_add(1);
        let due = self.heartbeat_elapsed >= self.heartbeat_interval_ticks;
        if due {
            self.heartbeat_elapsed = 0;
        }
        due
    }

    fn redraw_election_timeout(&mut self) {
        self.election_timeout = self
            .rng
            .in_range(self.election_min_ticks, self.election_max_ticks);
        assert!(self.election_timeout >= self.election_min_ticks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An election is due after exactly the drawn timeout, which lies in [min, max];
    // hearing from a leader starts the wait over.
    #[test]
    fn election_is_due_after_the_drawn_timeout() {
        for seed in 0..50 {
            let mut timers = Timers::new(seed, (5, 9), 2);
            let mut waited = 0;
            while !timers.election_due() {
                timers.tick();
                waited += 1;
            }
            assert!((5..=9).contains(&waited), "seed {seed}: {waited}");
            timers.restart_election();
            assert!(!timers.election_due());
            assert!(timers.heard_recently());
        }
    }

    // A heartbeat every interval; check-quorum every minimum election timeout.
    #[test]
    fn heartbeat_and_check_quorum_rounds() {
        let mut timers = Timers::new(1, (4, 8), 3);
        let mut heartbeats = 0;
        let mut rounds = 0;
        for _ in 0..12 {
            timers.tick();
            heartbeats += u32::from(timers.heartbeat_due());
            rounds += u32::from(timers.check_quorum_due());
        }
        assert_eq!((heartbeats, rounds), (4, 3));
        assert_eq!(timers.ticks(), 12);
        assert!(!timers.just_started());
    }
}
