//! The established-flow offload's map layout: the key the XDP program builds from a packet and
//! the action it applies (`struct ol_key` and `struct ol_action` of
//! `src/offload/bpf/offload.c`; the two must agree byte for byte, which the differential test
//! checks). Addresses, ports and the GRE key are in network order as in the packet, so the
//! program copies them without swaps; lengths, deltas, the interface index and the counters
//! are in the host's order, which is what the program computes with.

use std::net::Ipv4Addr;

use super::bytes::{read_u16, read_u32, write_u16, write_u32};

pub mod key {
    use crate::wire::Field;

    pub const SADDR: Field = 0..4;
    pub const DADDR: Field = 4..8;
    pub const SPORT: Field = 8..10;
    pub const DPORT: Field = 10..12;
    pub const PROTO: usize = 12;
    pub const TUNNEL: usize = 13;
    pub const TUN_REMOTE: Field = 16..20;
    pub const TUN_LOCAL: Field = 20..24;
    pub const TUN_KEY: Field = 24..28;
}

pub mod action {
    use crate::wire::Field;

    pub const SADDR: Field = 0..4;
    pub const DADDR: Field = 4..8;
    pub const SPORT: Field = 8..10;
    pub const DPORT: Field = 10..12;
    pub const IP_DELTA: Field = 12..14;
    pub const L4_DELTA: Field = 14..16;
    pub const DMAC: Field = 16..22;
    pub const SMAC: Field = 22..28;
    pub const IFINDEX: Field = 28..32;
    pub const MAX_LEN: Field = 32..34;
    pub const DECAP_LEN: usize = 34;
    pub const ENCAP: usize = 35;
    pub const ENCAP_LEN: usize = 36;
    pub const OUTER: Field = 40..68;
    pub const PACKETS: Field = 72..80;
    pub const BYTES: Field = 80..88;
    pub const LAST_SEEN: Field = 88..96;
}

pub const KEY_LEN: usize = key::TUN_KEY.end;
pub const ACTION_LEN: usize = action::LAST_SEEN.end;
/// The longest outer header the program writes: IPv4 and GRE with a key.
pub const OUTER_MAX: usize = action::OUTER.end - action::OUTER.start;

/// How the packet reached us, as far as the key is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tunnel {
    Plain,
    /// GRE from `remote` to `local`, with its key when it has one.
    Gre {
        remote: Ipv4Addr,
        local: Ipv4Addr,
        key: Option<u32>,
    },
}

/// `struct ol_key`: a packet's (inner) 5-tuple as the pipeline's flow key has it (an echo
/// request's identifier is its source "port", a reply's its destination's), and its tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyRepr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub tunnel: Tunnel,
}

impl KeyRepr {
    pub fn emit(&self) -> [u8; KEY_LEN] {
        let mut b = [0u8; KEY_LEN];
        b[key::SADDR].copy_from_slice(&self.src.octets());
        b[key::DADDR].copy_from_slice(&self.dst.octets());
        write_u16(&mut b[key::SPORT], self.src_port);
        write_u16(&mut b[key::DPORT], self.dst_port);
        b[key::PROTO] = self.proto;
        if let Tunnel::Gre { remote, local, key } = self.tunnel {
            b[key::TUNNEL] = if key.is_some() { 2 } else { 1 };
            b[key::TUN_REMOTE].copy_from_slice(&remote.octets());
            b[key::TUN_LOCAL].copy_from_slice(&local.octets());
            write_u32(&mut b[key::TUN_KEY], key.unwrap_or(0));
        }
        b
    }

    pub fn parse(b: &[u8; KEY_LEN]) -> KeyRepr {
        let addr = |f: crate::wire::Field| Ipv4Addr::from(read_u32(&b[f]));
        let tunnel = match b[key::TUNNEL] {
            0 => Tunnel::Plain,
            t => Tunnel::Gre {
                remote: addr(key::TUN_REMOTE),
                local: addr(key::TUN_LOCAL),
                key: (t == 2).then(|| read_u32(&b[key::TUN_KEY])),
            },
        };
        KeyRepr {
            src: addr(key::SADDR),
            dst: addr(key::DADDR),
            src_port: read_u16(&b[key::SPORT]),
            dst_port: read_u16(&b[key::DPORT]),
            proto: b[key::PROTO],
            tunnel,
        }
    }
}

/// What the program wraps a packet in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encap {
    None = 0,
    Gre = 1,
    Ipip = 2,
}

/// `struct ol_action` without its counters: what the program does with a packet of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionRepr {
    /// The (inner) packet's new addresses and ports (or echo identifiers).
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// RFC 1624 deltas: `check' = !fold(!check + delta)`.
    pub ip_delta: u16,
    pub l4_delta: u16,
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// The egress interface's kernel index (0 until the shell fills it in).
    pub ifindex: u32,
    /// Largest (inner) IPv4 Total Length the rule forwards.
    pub max_len: u16,
    /// Outer bytes removed after the Ethernet header (GRE decapsulation).
    pub decap_len: u8,
    pub encap: Encap,
    /// The outer header template (IPv4 with length, ident, flags and checksum zero; GRE).
    pub outer: [u8; OUTER_MAX],
    pub outer_len: u8,
}

impl ActionRepr {
    pub fn emit(&self) -> [u8; ACTION_LEN] {
        let mut b = [0u8; ACTION_LEN];
        b[action::SADDR].copy_from_slice(&self.src.octets());
        b[action::DADDR].copy_from_slice(&self.dst.octets());
        write_u16(&mut b[action::SPORT], self.src_port);
        write_u16(&mut b[action::DPORT], self.dst_port);
        b[action::IP_DELTA].copy_from_slice(&self.ip_delta.to_ne_bytes());
        b[action::L4_DELTA].copy_from_slice(&self.l4_delta.to_ne_bytes());
        b[action::DMAC].copy_from_slice(&self.dst_mac);
        b[action::SMAC].copy_from_slice(&self.src_mac);
        b[action::IFINDEX].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[action::MAX_LEN].copy_from_slice(&self.max_len.to_ne_bytes());
        b[action::DECAP_LEN] = self.decap_len;
        b[action::ENCAP] = self.encap as u8;
        b[action::ENCAP_LEN] = self.outer_len;
        b[action::OUTER].copy_from_slice(&self.outer);
        b
    }
}

impl ActionRepr {
    /// An action's fields as [`ActionRepr::emit`] wrote them (its counters left out).
    pub fn parse(b: &[u8; ACTION_LEN]) -> ActionRepr {
        let addr = |f: crate::wire::Field| Ipv4Addr::from(read_u32(&b[f]));
        let ne16 = |f: crate::wire::Field| u16::from_ne_bytes([b[f.start], b[f.start + 1]]);
        let mut ifindex = [0u8; 4];
        ifindex.copy_from_slice(&b[action::IFINDEX]);
        let mac = |f: crate::wire::Field| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&b[f]);
            m
        };
        let mut outer = [0u8; OUTER_MAX];
        outer.copy_from_slice(&b[action::OUTER]);
        ActionRepr {
            src: addr(action::SADDR),
            dst: addr(action::DADDR),
            src_port: read_u16(&b[action::SPORT]),
            dst_port: read_u16(&b[action::DPORT]),
            ip_delta: ne16(action::IP_DELTA),
            l4_delta: ne16(action::L4_DELTA),
            dst_mac: mac(action::DMAC),
            src_mac: mac(action::SMAC),
            ifindex: u32::from_ne_bytes(ifindex),
            max_len: ne16(action::MAX_LEN),
            decap_len: b[action::DECAP_LEN],
            encap: match b[action::ENCAP] {
                1 => Encap::Gre,
                2 => Encap::Ipip,
                _ => Encap::None,
            },
            outer,
            outer_len: b[action::ENCAP_LEN],
        }
    }
}

/// The counters the program keeps in an action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionCounters {
    pub packets: u64,
    pub bytes: u64,
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) of the last packet; 0: none yet.
    pub last_seen_ns: u64,
}

impl ActionCounters {
    pub fn parse(b: &[u8; ACTION_LEN]) -> ActionCounters {
        let word = |f: crate::wire::Field| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[f]);
            u64::from_ne_bytes(w)
        };
        ActionCounters {
            packets: word(action::PACKETS),
            bytes: word(action::BYTES),
            last_seen_ns: word(action::LAST_SEEN),
        }
    }
}

/// Writes `ifindex` into an emitted action (the shell knows it, the pure core does not).
pub fn set_ifindex(b: &mut [u8; ACTION_LEN], ifindex: u32) {
    b[action::IFINDEX].copy_from_slice(&ifindex.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = KeyRepr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            src_port: 1234,
            dst_port: 80,
            proto: 6,
            tunnel: Tunnel::Gre {
                remote: Ipv4Addr::new(198, 19, 0, 1),
                local: Ipv4Addr::new(198, 19, 0, 2),
                key: Some(7),
            },
        };
        assert_eq!(KeyRepr::parse(&k.emit()), k);
        let plain = KeyRepr {
            tunnel: Tunnel::Plain,
            ..k
        };
        assert_eq!(KeyRepr::parse(&plain.emit()), plain);
        let b = plain.emit();
        assert_eq!(&b[key::SPORT], &[0x04, 0xd2]);
        assert!(b[key::TUNNEL..].iter().all(|&x| x == 0));
    }
}
