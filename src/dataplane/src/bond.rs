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

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{checksum, offload};

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

/// The header fields a frame is hashed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fields {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// IPv4 addresses, or IPv6 ones folded to 32 bits; zero for other frames.
    pub src: u32,
    pub dst: u32,
    /// IP protocol (0 for frames that are not IP).
    pub proto: u8,
    /// TCP/UDP ports of a first or only fragment.
    pub ports: Option<(u16, u16)>,
}

fn fold6(a: &[u8]) -> u32 {
    let a: [u8; 16] = a.try_into().unwrap_or([0; 16]);
    let v = u128::from(Ipv6Addr::from(a));
    (v as u32) ^ ((v >> 32) as u32) ^ ((v >> 64) as u32) ^ ((v >> 96) as u32)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The fields of an Ethernet frame (untagged). Whatever is too short to read is left zero:
/// a frame is always hashed, never refused here.
pub fn fields_of(frame: &[u8]) -> Fields {
    let mut f = Fields::default();
    if frame.len() < 14 {
        return f;
    }
    f.dst_mac.copy_from_slice(&frame[0..6]);
    f.src_mac.copy_from_slice(&frame[6..12]);
    let ip = &frame[14..];
    match be16(frame, 12) {
        Some(0x0800) if ip.len() >= 20 && ip[0] >> 4 == 4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            f.src = be32(ip, 12).unwrap_or(0);
            f.dst = be32(ip, 16).unwrap_or(0);
            f.proto = ip[9];
            let frag = be16(ip, 6).unwrap_or(0) & 0x1fff;
            if frag == 0 && matches!(f.proto, 6 | 17) && ihl >= 20 {
                f.ports = be16(ip, ihl).zip(be16(ip, ihl + 2));
            }
        }
        Some(0x86dd) if ip.len() >= 40 && ip[0] >> 4 == 6 => {
            f.src = fold6(&ip[8..24]);
            f.dst = fold6(&ip[24..40]);
            f.proto = ip[6];
            if matches!(f.proto, 6 | 17) {
                f.ports = be16(ip, 40).zip(be16(ip, 42));
            }
        }
        _ => {}
    }
    f
}

/// A 64-bit finalizer (splitmix64's): every input bit reaches every output bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn mac64(m: &[u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(m);
    u64::from_be_bytes(b)
}

/// The hash of `f` by `policy`. Symmetric in neither direction on purpose: each direction of a
/// flow is its own stream with its own member, as on any bond.
pub fn hash(f: &Fields, policy: XmitHash) -> u32 {
    let l2 = mac64(&f.dst_mac) ^ mac64(&f.src_mac).rotate_left(17);
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
        let o = &a.outer;
        f.src = u32::from_be_bytes([o[12], o[13], o[14], o[15]]);
        f.dst = u32::from_be_bytes([o[16], o[17], o[18], o[19]]);
        f.proto = o[9];
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

/// A gratuitous ARP (an ARP announcement, RFC 5227 §2.3: a request whose sender and target
/// addresses are both `ip`) from `mac`, broadcast, padded to the 60-byte minimum frame.
pub fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let a = &mut f[14..42];
    a[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    a[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
    a[4] = 6;
    a[5] = 4;
    a[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    a[8..14].copy_from_slice(&mac);
    a[14..18].copy_from_slice(&ip.octets());
    a[18..24].fill(0);
    a[24..28].copy_from_slice(&ip.octets());
    f
}

/// An ARP request for `target` from `mac`/`sender` (the ARP monitor's probe; `sender`
/// 0.0.0.0 makes it an RFC 5227 probe that no cache learns from).
pub fn arp_request(mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> [u8; 60] {
    let mut f = gratuitous_arp(mac, sender);
    f[38..42].copy_from_slice(&target.octets());
    f
}

/// Whether `frame` is an ARP reply (or request) sent by `from`: what the ARP monitor counts as
/// the target being reachable through the member it arrived on.
pub fn is_arp_from(frame: &[u8], from: Ipv4Addr) -> bool {
    frame.len() >= 42
        && frame[12..14] == [0x08, 0x06]
        && frame[14..22] == [0, 1, 8, 0, 6, 4, 0, 2]
        && frame[28..32] == from.octets()
}

/// The length of an unsolicited Neighbor Advertisement with its target link-layer option.
pub const NA_LEN: usize = 14 + 40 + 24 + 8;

/// An unsolicited Neighbor Advertisement for `ip` (RFC 4861 §7.2.6): to all nodes, Override
/// set, Solicited clear, with the target link-layer address option, hop limit 255.
pub fn unsolicited_na(mac: [u8; 6], ip: Ipv6Addr) -> [u8; NA_LEN] {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut f = [0u8; NA_LEN];
    f[0..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let payload = 24 + 8;
    let h = &mut f[14..54];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    h[6] = 58;
    h[7] = 255;
    h[8..24].copy_from_slice(&ip.octets());
    h[24..40].copy_from_slice(&all_nodes.octets());
    let m = &mut f[54..];
    m[0] = 136; // Neighbor Advertisement
    m[4] = 0x20; // Override
    m[8..24].copy_from_slice(&ip.octets());
    m[24] = 2; // Target Link-Layer Address
    m[25] = 1;
    m[26..32].copy_from_slice(&mac);
    let sum = checksum::pseudo_header_v6(ip, all_nodes, 58, payload as u32) + checksum::sum(m);
    let c = checksum::finish(sum);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    f
}

#[cfg(test)]
mod tests;
