//! The frames a bond's new active member announces itself with (gratuitous ARP, unsolicited
//! Neighbor Advertisement), the ARP monitor's probe, and its check of an answer.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;

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
mod tests {
    use super::*;

    #[test]
    fn gratuitous_arp_is_an_announcement() {
        let mac = [2, 0, 0x5e, 0x10, 0, 1];
        let f = gratuitous_arp(mac, Ipv4Addr::new(198, 18, 0, 2));
        let want: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0x5e, 0x10, 0, 1, 0x08,
            0x06, // Ethernet
            0, 1, 8, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
            2, 0, 0x5e, 0x10, 0, 1, 198, 18, 0, 2, // sender
            0, 0, 0, 0, 0, 0, 198, 18, 0, 2, // target
        ];
        assert_eq!(&f[..42], &want);
        assert!(f[42..].iter().all(|&b| b == 0));
        let p = arp_request(mac, Ipv4Addr::UNSPECIFIED, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(&p[28..32], &[0, 0, 0, 0]);
        assert_eq!(&p[38..42], &[198, 18, 0, 1]);
        assert!(
            !is_arp_from(&p, Ipv4Addr::new(198, 18, 0, 1)),
            "a request is not a reply"
        );
        let mut reply = p;
        reply[21] = 2;
        reply[28..32].copy_from_slice(&[198, 18, 0, 1]);
        assert!(is_arp_from(&reply, Ipv4Addr::new(198, 18, 0, 1)));
        assert!(!is_arp_from(&reply, Ipv4Addr::new(198, 18, 0, 9)));
    }

    #[test]
    fn unsolicited_na_checksums_and_layout() {
        let mac = [2, 0, 0x5e, 0x10, 0, 1];
        let ip: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let f = unsolicited_na(mac, ip);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(f[14 + 7], 255, "hop limit 255 or receivers drop it");
        let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
        let m = &f[54..];
        assert_eq!(m[0], 136);
        assert_eq!(m[4], 0x20, "override, not solicited, not router");
        // A receiver's check: the sum over pseudo-header and message folds to all ones.
        let acc = super::checksum::pseudo_header_v6(ip, all_nodes, 58, m.len() as u32)
            + super::checksum::sum(m);
        assert_eq!(super::checksum::fold(acc), 0xffff);
        assert_eq!(&m[26..32], &mac);
    }
}
