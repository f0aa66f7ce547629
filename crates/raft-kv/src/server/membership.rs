//! Membership requests on the leader: `add-learner`, `promote`, `remove` (single-server
//! changes) and `set-voters` (any voter set in one joint change), and the record of a
//! learner's addresses that every node applies.

use super::*;

impl Server {
    /// Records where node `id` listens (from the log or a snapshot) and starts
    /// talking to it.
    pub(super) fn learn_member(&mut self, id: NodeId, raft: &str, client: &str) {
        let (Ok(raft), Ok(client)) = (raft.parse(), client.parse()) else {
            self.say(&format!("ignored bad addresses for node {id}"));
            return;
        };
        if self.config.members.get(&id) == Some(&Member { raft, client }) {
            return;
        }
        let _ = self.config.members.insert(id, Member { raft, client });
        if let Err(error) = self.transport.add_peer(id, raft) {
            self.fatal = Some(format!("adding peer {id}: {error}"));
        }
    }

    /// A membership request on the leader. Everything that can be checked is checked
    /// before anything is proposed: a request that can never succeed (a typo: a node
    /// that is already a member, is not one, is not a learner, or would move to other
    /// addresses) is answered `ERR invalid` at once and changes nothing.
    pub(super) fn change_membership(&mut self, request: Request) -> Response {
        let change = match &request {
            Request::AddLearner { id, .. } => MembershipChange::AddLearner(*id),
            Request::Promote { id } => MembershipChange::PromoteLearner(*id),
            Request::Remove { id } => MembershipChange::RemoveMember(*id),
            _ => return Response::Invalid("not a membership request".into()),
        };
        if !self.node.is_leader() {
            return self.redirect(self.node.leader());
        }
        let membership = self.node.membership().clone();
        if let Request::AddLearner { id, raft, client } = &request {
            let (Ok(raft), Ok(client)) = (raft.parse(), client.parse()) else {
                return Response::Invalid("addresses must be IP:PORT".into());
            };
            let addresses = Member { raft, client };
            let known = self.config.members.get(id).copied();
            if *id == 0 {
                return Response::Invalid("node ids start at 1".into());
            }
            if membership.is_member(*id) {
                // The same request again (a retry whose answer was lost) is done;
                // anything else would rewire a member.
                return if membership.is_learner(*id) && known == Some(addresses) {
                    self.propose_addresses(&request)
                } else if membership.is_voter(*id) {
                    Response::Invalid(format!("node {id} is already a voter"))
                } else {
                    Response::Invalid(format!(
                        "node {id} is already a learner at other addresses; changing a \
                         member's addresses is not supported: remove it first"
                    ))
                };
            }
            let clash = self.config.members.iter().find(|(other, member)| {
                **other != *id && (member.raft == raft || member.client == client)
            });
            if let Some((other, _)) = clash {
                return Response::Invalid(format!("node {other} already listens there"));
            }
        }
        if let Err(reason) = membership.apply(change) {
            return Response::Invalid(reason.to_string());
        }
        match self.step(Event::ChangeMembership(change)) {
            Ok(()) => {}
            Err(error) => {
                // What is left is transient: another change in progress, a transfer,
                // a learner still catching up.
                return match error {
                    Error::NotLeader { leader } => self.redirect(leader),
                    other => Response::Retry(other.to_string().replace('\n', " ")),
                };
            }
        }
        if let Request::AddLearner { id, raft, client } = &request {
            // The change is in: reach the node now, and let every node learn its
            // addresses through the log, right behind the change.
            self.learn_member(*id, raft, client);
            return self.propose_addresses(&request);
        }
        Response::Done
    }

    /// `set-voters` on the leader: one joint change to exactly these voters. Every node
    /// named must already be a member (its addresses came with `add-learner`); the
    /// rest is the core's to check (learner catch-up, one change at a time, the guard).
    pub(super) fn set_voters(&mut self, ids: Vec<u64>, expected_config: Option<u64>) -> Response {
        if !self.node.is_leader() {
            return self.redirect(self.node.leader());
        }
        let membership = self.node.membership();
        if let Some(stranger) = ids.iter().find(|&&id| !membership.is_member(id)) {
            return Response::Invalid(format!(
                "node {stranger} is not a member: add it as a learner first"
            ));
        }
        let mut change = ConfigChange::set_voters(ids);
        if let Some(index) = expected_config {
            change = change.guarded(index);
        }
        match self.step(Event::ChangeConfig(change)) {
            Ok(()) => Response::Done,
            Err(Error::NotLeader { leader }) => self.redirect(leader),
            Err(error @ (Error::InvalidConfigChange { .. } | Error::ConfigChanged { .. })) => {
                Response::Invalid(error.to_string())
            }
            Err(error) => Response::Retry(error.to_string().replace('\n', " ")),
        }
    }

    /// Proposes the record of a learner's addresses (applied by every node).
    fn propose_addresses(&mut self, request: &Request) -> Response {
        let record = Command {
            session: None,
            request: request.clone(),
        };
        match self.step(Event::Propose(record.encode())) {
            Ok(()) => Response::Done,
            Err(error) => self.refusal(&error),
        }
    }
}
