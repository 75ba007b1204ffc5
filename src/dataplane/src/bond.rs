//! A bond's distributor, the pure part: which member a frame leaves by, which member is the
//! active one of an active-backup bond, and the announcements a new active member sends.
//!
//! The transmit hash works on the frame as it leaves (after translation and encapsulation),
//! the way Linux's `xmit_hash_policy` does, so every packet of one flow direction hashes
//! alike. A member is chosen as `hash % configured members`; only when that member does not
//! distribute now is another one chosen among those that do. So when a member leaves, only
//! its own flows move (to the others, spread by a second part of the hash), and when it comes
//! back they return: the rest never change member (Linux's `hash % active` moves most flows
//! on every change; a switch's per-member MAC learning and the peers' reordering pay for it).

use crate::wire::{hash_fields, offload};

pub use crate::wire::announce::{arp_request, gratuitous_arp, is_arp_from, unsolicited_na, NA_LEN};
pub use crate::wire::hash_fields::{fields_of, Fields};

/// The transmit hash policy (`xmit_hash` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XmitHash {
    /// Source and destination MAC.
    L2,
    /// MACs and IP addresses.
    L23,
    /// IP addresses and TCP/UDP ports (addresses only for other protocols and fragments).
    #[default]
    L34,
}

/// The most members a bond has (the distribution mask is a `u64`; 16 is the configuration's
/// limit).
pub const MAX_MEMBERS: usize = 16;

/// A 64-bit finalizer (splitmix64's): every input bit reaches every output bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The hash of `f` by `policy`. Symmetric in neither direction on purpose: each direction of a
/// flow is its own stream with its own member, as on any bond.
pub fn hash(f: &Fields, policy: XmitHash) -> u32 {
    let l2 = hash_fields::mac_u64(&f.dst_mac) ^ hash_fields::mac_u64(&f.src_mac).rotate_left(17);
    let l3 = (u64::from(f.src) << 32 | u64::from(f.dst)) ^ u64::from(f.proto) << 56;
    let v = match policy {
        XmitHash::L2 => mix(l2),
        XmitHash::L23 => mix(l2 ^ mix(l3)),
        XmitHash::L34 => {
            let l4 = f
                .ports
                .map_or(0, |(s, d)| u64::from(s) << 16 | u64::from(d));
            mix(l3 ^ mix(l4 | 1 << 40))
        }
    };
    (v ^ (v >> 32)) as u32
}

/// The hash of a frame by `policy`.
pub fn frame_hash(frame: &[u8], policy: XmitHash) -> u32 {
    hash(&fields_of(frame), policy)
}

/// The fields of the frames an offloaded rule sends (its key and action as the XDP program
/// holds them), so that the program's packets of a flow leave by the member the worker's did.
pub fn rule_fields(key: &[u8; offload::KEY_LEN], action: &[u8; offload::ACTION_LEN]) -> Fields {
    let k = offload::KeyRepr::parse(key);
    let a = offload::ActionRepr::parse(action);
    let mut f = Fields {
        dst_mac: a.dst_mac,
        src_mac: a.src_mac,
        ..Fields::default()
    };
    if a.encap == offload::Encap::None {
        f.src = u32::from(a.src);
        f.dst = u32::from(a.dst);
        f.proto = k.proto;
        if matches!(k.proto, 6 | 17) {
            f.ports = Some((a.src_port, a.dst_port));
        }
    } else {
        (f.src, f.dst, f.proto) = hash_fields::outer(&a.outer);
    }
    f
}

/// The members a bond transmits by: `members` configured, those in `distributing` (bit `i`
/// for member `i`) carry traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Distributor {
    members: u8,
    distributing: u64,
    /// The distributing members in order, `count` of them.
    order: [u8; MAX_MEMBERS],
    count: u8,
}

impl Distributor {
    pub fn new(members: usize, distributing: u64) -> Distributor {
        let members = members.min(MAX_MEMBERS);
        let distributing = distributing & ((1u64 << members) - 1);
        let mut d = Distributor {
            members: members as u8,
            distributing,
            ..Distributor::default()
        };
        for i in 0..members {
            if distributing & 1 << i != 0 {
                d.order[usize::from(d.count)] = i as u8;
                d.count += 1;
            }
        }
        d
    }

    pub fn distributing(&self) -> u64 {
        self.distributing
    }

    /// The member for a frame of hash `h`; `None` when no member distributes.
    #[inline]
    pub fn pick(&self, h: u32) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        let first = h as usize % usize::from(self.members);
        if self.distributing & 1 << first != 0 {
            return Some(first);
        }
        // The hash's other half spreads a missing member's flows over the rest.
        let again = (h.rotate_left(16) as usize) % usize::from(self.count);
        Some(usize::from(self.order[again]))
    }
}

/// Active-backup: the member that carries the bond. The primary whenever it is up (Linux's
/// `primary_reselect=always`); else the current one while it stays up (no needless
/// failover back and forth); else the first member that is up.
pub fn choose_active(current: Option<usize>, primary: Option<usize>, up: u64) -> Option<usize> {
    let is_up = |i: usize| i < 64 && up & 1 << i != 0;
    if let Some(p) = primary.filter(|&p| is_up(p)) {
        return Some(p);
    }
    if let Some(c) = current.filter(|&c| is_up(c)) {
        return Some(c);
    }
    (0..64).find(|&i| is_up(i))
}

#[cfg(test)]
mod tests;
