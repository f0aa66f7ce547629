//! The simulated clients: the workload, retries, redirects, and the history they record.

use super::*;

impl Simulation {
    pub(super) fn client_next(&mut self, client: u64) {
        if self.healed
            && self.queue.now() > self.config.fault_ticks * TIME_PER_TICK + 100 * TIME_PER_TICK
        {
            return; // stop new work late in the settle phase so the run can converge
        }
        if self.clients[&client].seq >= self.config.operations_max {
            return; // this client is done
        }
        let key = self.rng.below(u64::from(self.config.keys)) as u8;
        let state = self.clients.get_mut(&client).expect("client exists");
        state.seq += 1;
        let value = client * 1_000_000 + state.seq;
        let op = match self.rng.below(10) {
            0..=3 => Op::Put(key, value),
            4..=6 => Op::Get(key),
            7 => Op::Delete(key),
            _ => {
                let expected = self.history.iter().rev().find_map(|r| match r.op {
                    Op::Put(k, v) if k == key => Some(v),
                    _ => None,
                });
                Op::Cas(key, expected, value)
            }
        };
        let state = self.clients.get_mut(&client).expect("client exists");
        state.op = Some(op);
        state.attempt = 0;
        state.record = self.history.len();
        self.history.push(Recorded {
            client,
            invoked: self.queue.sequence(),
            returned: None,
            op,
        });
        let seq = self.clients[&client].seq;
        self.note(None, || format!("client {client} invokes #{seq} {op:?}"));
        self.record(|| TraceEvent::Invoke {
            client,
            seq,
            op: format!("{op:?}"),
        });
        let delay = self.rng.between(1, TIME_PER_TICK);
        self.send_client(client, delay);
    }

    pub(super) fn send_client(&mut self, client: u64, delay: u64) {
        let state = &self.clients[&client];
        let (mut to, seq, attempt) = (state.target, state.seq, state.attempt);
        // With follower reads, a first attempt at a read goes to any node.
        if self.config.follower_reads && attempt == 0 && matches!(state.op, Some(Op::Get(_))) {
            to = 1 + self.rng.below(self.config.nodes);
        }
        self.schedule(delay, Ev::ClientArrive { client, to, seq });
        self.schedule(
            delay + 30 * TIME_PER_TICK,
            Ev::ClientTimeout {
                client,
                seq,
                attempt,
            },
        );
    }

    pub(super) fn client_arrive(
        &mut self,
        client: u64,
        to: NodeId,
        seq: u64,
    ) -> Result<(), Violation> {
        let Some(op) = self
            .clients
            .get(&client)
            .filter(|c| c.seq == seq)
            .and_then(|c| c.op)
        else {
            return Ok(());
        };
        if !self.nodes[&to].is_up() {
            return Ok(()); // a crashed node: the client times out
        }
        let command = Command { client, seq, op };
        // Reads go through ReadIndex (or a lease), writes through the log.
        let event = match op {
            Op::Get(_) => Event::ReadIndex(command.encode().into()),
            _ => Event::Propose(command.encode()),
        };
        let actions = self
            .nodes
            .get_mut(&to)
            .and_then(|n| n.raft_mut())
            .map(|raft| raft.step(event));
        match actions {
            Some(Ok(actions)) => {
                if matches!(op, Op::Get(_)) {
                    let now = self.queue.now();
                    let _ = self.read_arrivals.insert((to, client, seq), now);
                }
                if !matches!(op, Op::Get(_)) {
                    let _ = self
                        .nodes
                        .get_mut(&to)
                        .expect("node exists")
                        .waiting
                        .insert((client, seq));
                }
                self.note(Some(to), || format!("accepts client {client} #{seq}"));
                self.after_step(to, actions)?;
            }
            Some(Err(Error::NotLeader { leader })) => {
                self.reject(client, seq, leader);
            }
            Some(Err(Error::TransferInProgress { target })) => {
                self.reject(client, seq, Some(target));
            }
            Some(Err(error)) => {
                return Err(self.violation("Node error", format!("proposal on n{to}: {error}")));
            }
            None => {}
        }
        Ok(())
    }

    pub(super) fn reject(&mut self, client: u64, seq: u64, hint: Option<NodeId>) {
        let delay = self.rng.between(1, TIME_PER_TICK);
        self.schedule(delay, Ev::ClientReject { client, seq, hint });
    }
}
