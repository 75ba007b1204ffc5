//! A worker's view of the bonds among its interfaces: which of its sockets sit on which member,
//! and the member sets the bond thread publishes, re-read only when their epoch moves.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use dataplane::bond::{self, Distributor, XmitHash};

use crate::bondd::shared::BondShared;

/// A socket's place in a bond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberOf {
    /// Index into the worker's bonds.
    pub bond: u8,
    /// The member's position in its bond.
    pub pos: u8,
}

pub struct WorkerBond {
    pub shared: Arc<BondShared>,
    /// The bond's interface index in the snapshot.
    pub iface: u16,
    /// By member position: this worker's first socket on it.
    pub socket: Vec<Option<usize>>,
    /// By member position: its kernel index.
    pub ifindex: Vec<u32>,
    epoch: u64,
    dist: Distributor,
    collecting: u64,
    policy: XmitHash,
}

impl WorkerBond {
    pub fn new(shared: Arc<BondShared>, iface: u16, ifindex: Vec<u32>) -> WorkerBond {
        WorkerBond {
            shared,
            iface,
            socket: vec![None; ifindex.len()],
            ifindex,
            epoch: 0,
            dist: Distributor::default(),
            collecting: 0,
            policy: XmitHash::default(),
        }
    }

    /// Re-reads the member sets when the bond thread changed them; returns whether it did.
    #[inline]
    pub fn refresh(&mut self) -> bool {
        let e = self.shared.epoch.load(Ordering::Acquire);
        if e == self.epoch {
            return false;
        }
        self.epoch = e;
        self.dist = self.shared.distributor();
        self.collecting = self.shared.collecting.load(Ordering::Relaxed);
        self.policy = self.shared.policy();
        true
    }

    #[inline]
    pub fn collecting(&self, pos: u8) -> bool {
        self.collecting & 1 << pos != 0
    }

    /// The socket a frame of the bond leaves by; `None` when no member distributes (or this
    /// worker has no socket on the chosen one).
    #[inline]
    pub fn socket_for(&self, frame: &[u8]) -> Option<usize> {
        let m = self.dist.pick(bond::frame_hash(frame, self.policy))?;
        self.socket.get(m).copied().flatten()
    }

    pub fn distributor(&self) -> Distributor {
        self.dist
    }

    pub fn policy(&self) -> XmitHash {
        self.policy
    }
}
