//! What changed in a conntrack table since the shell last looked, for session sync: flows
//! created, changing timeout class, refreshed and removed, each with a copy of its entry and
//! the lifetime it has left. The log is a buffer sized once when sync is configured; a full
//! log refuses further changes and counts them (`lost`), and the shell answers a loss with a
//! bulk resynchronisation, which sends the whole table again.
//!
//! Changes the table makes because a peer told it to (an adopted flow, a removal the peer
//! reported) are not logged: the peer knows them, and logging them would echo every record
//! back to where it came from.

use super::entry::Entry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new flow (its first packet).
    Created,
    /// The flow moved to another timeout class (a TCP handshake done, a FIN, a RST).
    ClassChanged,
    /// Still carrying packets: a refresh, so the peer's copy does not expire before ours.
    Refreshed,
    /// Expired, evicted or closed.
    Removed,
}

#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub kind: ChangeKind,
    pub entry: Entry,
    /// Milliseconds the flow had left when the change was logged.
    pub remaining_ms: u32,
}

#[derive(Debug, Default)]
pub struct ChangeLog {
    buf: Vec<Change>,
    /// Capacity; 0 means sync is off and nothing is logged.
    capacity: usize,
    /// Set while the table applies what a peer sent.
    muted: bool,
    /// Changes refused because the log was full.
    pub lost: u64,
}

impl ChangeLog {
    /// A log holding up to `capacity` changes between two takes (0: off). Allocates now.
    pub fn with_capacity(capacity: usize) -> ChangeLog {
        ChangeLog {
            buf: Vec::with_capacity(capacity),
            capacity,
            muted: false,
            lost: 0,
        }
    }

    #[inline(always)]
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    #[inline(always)]
    pub(super) fn push(&mut self, kind: ChangeKind, entry: &Entry, remaining_ms: u32) {
        if self.capacity == 0 || self.muted {
            return;
        }
        if self.buf.len() == self.capacity {
            self.lost += 1;
            return;
        }
        self.buf.push(Change {
            kind,
            entry: *entry,
            remaining_ms,
        });
    }

    pub(super) fn mute(&mut self, muted: bool) {
        self.muted = muted;
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Hands every logged change to `f`, oldest first, and empties the log (keeping its memory).
    pub fn drain(&mut self, mut f: impl FnMut(&Change)) {
        for c in &self.buf {
            f(c);
        }
        self.buf.clear();
    }
}
