//! Which flows have directions in the XDP program's table of established flows, and what the
//! shell must do about it: install a direction's rule, withdraw a flow's rules. One ordered log
//! for both, because a slot freed and reused within one batch must see its old rules go before
//! its new ones arrive.
//!
//! The log is a buffer sized once when the offload is configured. A full log refuses an
//! install (the flow stays on the worker's path and is offered again by a later packet) and
//! turns a withdrawal into a flush: the shell removes every rule of the worker and the table
//! forgets every flow's offload, which is always correct, never more than a few milliseconds
//! of extra work for the worker.

use super::state::Dir;
use crate::wire::offload::{ACTION_LEN, KEY_LEN};

/// The `flow` of an offer that no conntrack entry tracks (the site end of a tunnel).
pub const STATELESS: u32 = u32::MAX;

/// A direction's rule for the program.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    /// Conntrack slot of the flow, or [`STATELESS`].
    pub flow: u32,
    pub dir: Dir,
    pub key: [u8; KEY_LEN],
    /// The action, its interface index left 0: `egress` names the interface in the snapshot.
    pub action: [u8; ACTION_LEN],
    pub egress: u16,
}

#[derive(Debug, Clone, Copy)]
pub enum OffloadEvent {
    Install(Offer),
    /// Every rule of the flow in this slot goes (it ended, or left the established state).
    Withdraw(u32),
}

#[derive(Debug, Default)]
pub struct OffloadLog {
    buf: Vec<OffloadEvent>,
    capacity: usize,
    /// A withdrawal did not fit: the shell must remove all of this worker's rules.
    pub flush: bool,
    /// Installs refused because the log was full.
    pub refused: u64,
}

impl OffloadLog {
    /// A log of up to `capacity` events between two takes (0: offload off). Allocates now.
    pub fn with_capacity(capacity: usize) -> OffloadLog {
        OffloadLog {
            buf: Vec::with_capacity(capacity),
            capacity,
            flush: false,
            refused: 0,
        }
    }

    #[inline(always)]
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Whether an install would be taken now.
    #[inline(always)]
    pub fn has_room(&self) -> bool {
        self.buf.len() < self.capacity && !self.flush
    }

    pub(crate) fn install(&mut self, offer: Offer) -> bool {
        if !self.has_room() {
            self.refused += 1;
            return false;
        }
        self.buf.push(OffloadEvent::Install(offer));
        true
    }

    pub(super) fn withdraw(&mut self, flow: u32) {
        if self.flush {
            return;
        }
        if self.buf.len() < self.capacity {
            self.buf.push(OffloadEvent::Withdraw(flow));
        } else {
            self.flush = true;
            self.buf.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Hands every event to `f` in order and empties the log (keeping its memory).
    pub fn drain(&mut self, mut f: impl FnMut(&OffloadEvent)) {
        for e in &self.buf {
            f(e);
        }
        self.buf.clear();
    }
}
