//! What a bond's thread shares with the data plane's workers: which members carry traffic now
//! (written by the bond thread, read by every worker once per batch), the tap the host's
//! traffic goes to, and counters the workers keep per member.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dataplane::bond::{Distributor, XmitHash};

use super::status::BondStatus;
use crate::dataplaned::worker::Waker;

/// Per member, counted by the workers.
#[derive(Default)]
pub struct MemberCounters {
    /// Frames the fast path did not own, written to the tap for the kernel.
    pub to_host: AtomicU64,
    /// Frames received while the member was not collecting (a backup link, a port that LACP
    /// has not put in the aggregation): discarded, as 802.1AX and active-backup require.
    pub discarded: AtomicU64,
    /// Frames written to the tap that the kernel did not take (its queue was full).
    pub to_host_failed: AtomicU64,
    /// When an ARP frame from the monitored target last arrived here (ms on the bond's
    /// clock, 0 = never).
    pub arp_seen_ms: AtomicU64,
}

pub struct BondShared {
    pub name: String,
    pub members: Vec<String>,
    /// Bit `i`: member `i` transmits (802.3ad: Collecting_Distributing in the selected
    /// aggregator; active-backup: the active member; balance-xor: members with carrier).
    pub distributing: AtomicU64,
    /// Bit `i`: frames received on member `i` are accepted (the same set: coupled control).
    pub collecting: AtomicU64,
    /// Bumped after every change of the two sets or the policy, so a worker rebuilds its view
    /// (and withdraws offloaded rules that leave by the bond) only then.
    pub epoch: AtomicU64,
    policy: AtomicU8,
    /// The tap device the kernel sees as the bond: the workers write the host's frames here.
    pub tap: OwnedFd,
    pub counters: Vec<MemberCounters>,
    /// The ARP monitor's target (0 when none): the workers note its ARP frames by member.
    pub arp_target: AtomicU32,
    /// The clock `arp_seen_ms` counts from.
    pub clock: Instant,
    pub status: Mutex<BondStatus>,
    /// The data plane's workers, woken when the member sets change: an idle worker (the
    /// offload forwards its flows) would otherwise notice only at its next poll timeout, and
    /// the offloaded rules of a member that left would go on sending into it until then.
    pub workers: Mutex<Option<Arc<Vec<Waker>>>>,
}

fn policy_code(p: XmitHash) -> u8 {
    match p {
        XmitHash::L2 => 0,
        XmitHash::L23 => 1,
        XmitHash::L34 => 2,
    }
}

impl BondShared {
    pub fn new(name: String, members: Vec<String>, tap: OwnedFd, policy: XmitHash) -> BondShared {
        let n = members.len();
        BondShared {
            name,
            members,
            distributing: AtomicU64::new(0),
            collecting: AtomicU64::new(0),
            epoch: AtomicU64::new(1),
            policy: AtomicU8::new(policy_code(policy)),
            tap,
            counters: (0..n).map(|_| MemberCounters::default()).collect(),
            arp_target: AtomicU32::new(0),
            clock: Instant::now(),
            status: Mutex::new(BondStatus::default()),
            workers: Mutex::new(None),
        }
    }

    pub fn policy(&self) -> XmitHash {
        match self.policy.load(Ordering::Relaxed) {
            0 => XmitHash::L2,
            1 => XmitHash::L23,
            _ => XmitHash::L34,
        }
    }

    /// Publishes the member sets (and the policy); returns whether anything changed.
    pub fn publish(&self, distributing: u64, collecting: u64, policy: XmitHash) -> bool {
        let d = self.distributing.swap(distributing, Ordering::Relaxed);
        let c = self.collecting.swap(collecting, Ordering::Relaxed);
        let p = self.policy.swap(policy_code(policy), Ordering::Relaxed);
        let changed = d != distributing || c != collecting || p != policy_code(policy);
        if changed {
            self.epoch.fetch_add(1, Ordering::Release);
            if let Some(w) = &*self.workers.lock().unwrap_or_else(|p| p.into_inner()) {
                for w in w.iter() {
                    w.wake();
                }
            }
        }
        changed
    }

    pub fn distributor(&self) -> Distributor {
        Distributor::new(
            self.members.len(),
            self.distributing.load(Ordering::Relaxed),
        )
    }

    /// Notes an ARP frame from the ARP monitor's target received on `member`.
    #[inline]
    pub fn note_arp(&self, member: usize, frame: &[u8]) {
        let target = self.arp_target.load(Ordering::Relaxed);
        if target != 0 && dataplane::bond::is_arp_from(frame, Ipv4Addr::from(target)) {
            let ms = self.clock.elapsed().as_millis() as u64;
            self.counters[member]
                .arp_seen_ms
                .store(ms.max(1), Ordering::Relaxed);
        }
    }

    /// Hands a frame the fast path does not own to the kernel, as received on the bond.
    pub fn to_host(&self, member: usize, frame: &[u8]) {
        // SAFETY: writes `frame.len()` bytes from a live slice to our non-blocking tap
        // descriptor; a tap takes one frame per write.
        let n = unsafe { libc::write(self.tap.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
        let c = &self.counters[member];
        if n < 0 {
            c.to_host_failed.fetch_add(1, Ordering::Relaxed);
        } else {
            c.to_host.fetch_add(1, Ordering::Relaxed);
        }
    }
}
