//! The network seam.

use alloc::vec::Vec;

use crate::error::Result;
use crate::message::Message;
use crate::types::NodeId;

/// Delivers protocol messages to peers.
///
/// The node never calls it: the driver does, for each
/// [`Action::Send`](crate::Action::Send). Delivery may be lossy, duplicated and
/// reordered; Raft tolerates all three.
pub trait RaftTransport {
    /// Accepts `message` for eventual delivery to `to`.
    ///
    /// # Errors
    /// Whatever the transport considers a failure to accept the message; the protocol
    /// treats it like a lost message.
    fn send(&mut self, to: NodeId, message: Message) -> Result<()>;
}

/// An in-memory [`RaftTransport`] that records outgoing messages in send order.
///
/// ```
/// use raft_core::{Message, MemoryTransport, RaftTransport, TimeoutNow};
/// let mut transport = MemoryTransport::new();
/// transport.send(2, Message::TimeoutNow(TimeoutNow { term: 1, leader: 1 })).unwrap();
/// assert_eq!(transport.pending(), 1);
/// assert_eq!(transport.take()[0].0, 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryTransport {
    outbox: Vec<(NodeId, Message)>,
}

impl MemoryTransport {
    /// An empty transport.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drains every recorded message, in send order.
    pub fn take(&mut self) -> Vec<(NodeId, Message)> {
        core::mem::take(&mut self.outbox)
    }

    /// Number of messages recorded and not yet taken.
    pub fn pending(&self) -> usize {
        self.outbox.len()
    }
}

impl RaftTransport for MemoryTransport {
    fn send(&mut self, to: NodeId, message: Message) -> Result<()> {
        self.outbox.push((to, message));
        Ok(())
    }
}
