//! The two TCP segments of a half-open check (RFC 9293 §3.5): our SYN, built with its IP header
//! for a raw socket with `IP_HDRINCL` / `IPV6_HDRINCL`, and the peer's answer (SYN-ACK or RST).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::icmp::checksum_of as checksum;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// TCP header with one MSS option (kind 2, length 4): servers answer a SYN without options too,
/// but some middleboxes drop option-less SYNs as scans.
const SYN_LEN: usize = 24;
const MSS: u16 = 1460;
const IPPROTO_TCP: u8 = 6;
const TTL: u8 = 64;

/// What came back for one of our SYNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The peer's port (our destination).
    pub source_port: u16,
    /// Our port (the reserved one the socket filter matches).
    pub destination_port: u16,
    /// Our initial sequence number plus one, in both a SYN-ACK and a RST to a SYN.
    pub ack: u32,
    pub flags: u8,
}

impl Reply {
    pub fn is_syn_ack(&self) -> bool {
        self.flags & (SYN | ACK | RST) == SYN | ACK
    }

    /// RFC 9293 §3.10.7.1: a closed port answers a SYN with <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>.
    pub fn is_reset(&self) -> bool {
        self.flags & (RST | ACK) == RST | ACK
    }
}

/// A SYN from `src:sport` to `dst:dport` with initial sequence number `isn`, IP header included.
/// Both addresses must be of one family.
pub fn syn(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, isn: u32) -> Option<Vec<u8>> {
    let mut tcp = [0u8; SYN_LEN];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&isn.to_be_bytes());
    tcp[12] = ((SYN_LEN / 4) as u8) << 4;
    tcp[13] = SYN;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    tcp[20] = 2;
    tcp[21] = 4;
    tcp[22..24].copy_from_slice(&MSS.to_be_bytes());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let sum = checksum(&[&pseudo_v4(s, d, SYN_LEN), &tcp]);
            tcp[16..18].copy_from_slice(&sum.to_be_bytes());
            let mut out = Vec::with_capacity(20 + SYN_LEN);
            out.extend_from_slice(&ipv4_header(s, d, SYN_LEN));
            out.extend_from_slice(&tcp);
            Some(out)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let sum = checksum(&[&pseudo_v6(s, d, SYN_LEN), &tcp]);
            tcp[16..18].copy_from_slice(&sum.to_be_bytes());
            let mut out = Vec::with_capacity(40 + SYN_LEN);
            out.extend_from_slice(&ipv6_header(s, d, SYN_LEN));
            out.extend_from_slice(&tcp);
            Some(out)
        }
        _ => None,
    }
}

/// Parse what a raw TCP socket delivered: IPv4 sockets include the IP header, IPv6 sockets do
/// not (RFC 3542 §3). Truncated or non-TCP input is `None`.
pub fn parse_reply(v6: bool, packet: &[u8]) -> Option<Reply> {
    let tcp = if v6 {
        packet
    } else {
        let first = *packet.first()?;
        let ihl = usize::from(first & 0x0F) * 4;
        if first >> 4 != 4 || ihl < 20 || *packet.get(9)? != IPPROTO_TCP {
            return None;
        }
        packet.get(ihl..)?
    };
    if tcp.len() < 20 {
        return None;
    }
    Some(Reply {
        source_port: u16::from_be_bytes([tcp[0], tcp[1]]),
        destination_port: u16::from_be_bytes([tcp[2], tcp[3]]),
        ack: u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]),
        flags: tcp[13],
    })
}

fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, payload: usize) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
    // DF: a SYN is never fragmented; the kernel fills in the identification and the header
    // checksum for IP_HDRINCL sockets (raw(7)).
    h[6] = 0x40;
    h[8] = TTL;
    h[9] = IPPROTO_TCP;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    h
}

fn ipv6_header(src: Ipv6Addr, dst: Ipv6Addr, payload: usize) -> [u8; 40] {
    let mut h = [0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    h[6] = IPPROTO_TCP;
    h[7] = TTL;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h
}

fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[0..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = IPPROTO_TCP;
    p[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> [u8; 40] {
    let mut p = [0u8; 40];
    p[0..16].copy_from_slice(&src.octets());
    p[16..32].copy_from_slice(&dst.octets());
    p[32..36].copy_from_slice(&(len as u32).to_be_bytes());
    p[39] = IPPROTO_TCP;
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Verifying a correct checksum over the pseudo-header and segment gives zero.
    #[test]
    fn syn_v4_has_valid_checksum_and_header() {
        let p = syn(v4("198.18.0.1"), 40000, v4("198.18.0.2"), 80, 0x0102_0304).unwrap();
        assert_eq!(p.len(), 44);
        assert_eq!(p[0], 0x45);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 44);
        assert_eq!(p[9], 6);
        let tcp = &p[20..];
        assert_eq!(u16::from_be_bytes([tcp[0], tcp[1]]), 40000);
        assert_eq!(u16::from_be_bytes([tcp[2], tcp[3]]), 80);
        assert_eq!(&tcp[4..8], &[1, 2, 3, 4]);
        assert_eq!(tcp[13], SYN);
        let pseudo = pseudo_v4(
            "198.18.0.1".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            24,
        );
        assert_eq!(checksum(&[&pseudo, tcp]), 0);
    }

    #[test]
    fn syn_v6_has_valid_checksum_and_header() {
        let (s, d): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let p = syn(IpAddr::V6(s), 1, IpAddr::V6(d), 443, 7).unwrap();
        assert_eq!(p.len(), 64);
        assert_eq!(p[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([p[4], p[5]]), 24);
        assert_eq!(checksum(&[&pseudo_v6(s, d, 24), &p[40..]]), 0);
    }

    #[test]
    fn mixed_families_are_refused() {
        assert!(syn(v4("198.18.0.1"), 1, "2001:db8::1".parse().unwrap(), 2, 3).is_none());
    }

    /// A SYN-ACK as the peer would send it, parsed from a v4 raw-socket delivery.
    #[test]
    fn parses_syn_ack_and_reset() {
        let mut p = syn(v4("198.18.0.2"), 80, v4("198.18.0.1"), 40000, 99).unwrap();
        p[20 + 8..20 + 12].copy_from_slice(&0x0102_0305u32.to_be_bytes());
        p[20 + 13] = SYN | ACK;
        let r = parse_reply(false, &p).unwrap();
        assert_eq!(
            (r.source_port, r.destination_port, r.ack),
            (80, 40000, 0x0102_0305)
        );
        assert!(r.is_syn_ack() && !r.is_reset());
        p[20 + 13] = RST | ACK;
        let r = parse_reply(false, &p).unwrap();
        assert!(r.is_reset() && !r.is_syn_ack());
        // IPv6 raw sockets deliver the segment alone.
        let r6 = parse_reply(true, &p[20..]).unwrap();
        assert_eq!(r6, r);
    }

    #[test]
    fn truncated_or_foreign_input_is_none() {
        let p = syn(v4("198.18.0.2"), 80, v4("198.18.0.1"), 40000, 99).unwrap();
        for n in 0..40 {
            assert!(parse_reply(false, &p[..n]).is_none(), "{n}");
        }
        let mut udp = p.clone();
        udp[9] = 17;
        assert!(parse_reply(false, &udp).is_none());
        assert!(parse_reply(true, &p[20..39]).is_none());
    }
}
