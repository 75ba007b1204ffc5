//! The header fields a bond's transmit hash reads (`crate::bond`), from a frame as it leaves
//! or from the outer header template of an offloaded rule. Whatever is too short to read is
//! left zero: a frame is always hashed, never refused here.

use std::net::Ipv6Addr;

use super::ethernet::{EtherType, EthernetFrame};
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::ports::ports;

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

fn fold6(a: Ipv6Addr) -> u32 {
    let v = u128::from(a);
    (v as u32) ^ ((v >> 32) as u32) ^ ((v >> 64) as u32) ^ ((v >> 96) as u32)
}

/// The fields of an Ethernet frame (untagged). Whatever is too short to read is left zero:
/// a frame is always hashed, never refused here.
pub fn fields_of(frame: &[u8]) -> Fields {
    let mut f = Fields::default();
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return f;
    };
    f.dst_mac = eth.dst().0;
    f.src_mac = eth.src().0;
    match eth.ethertype() {
        EtherType::Ipv4 => {
            if let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) {
                f.src = u32::from(ip.src());
                f.dst = u32::from(ip.dst());
                f.proto = ip.protocol();
                if ip.frag_offset() == 0 && matches!(f.proto, 6 | 17) {
                    f.ports = ports(ip.rest()).ok();
                }
            }
        }
        EtherType::Ipv6 => {
            if let Ok(ip) = Ipv6Packet::new_checked(eth.payload()) {
                f.src = fold6(ip.src());
                f.dst = fold6(ip.dst());
                f.proto = ip.next_header();
                if matches!(f.proto, 6 | 17) {
                    f.ports = ports(ip.payload()).ok();
                }
            }
        }
        _ => {}
    }
    f
}

/// A MAC address as the low 48 bits of a `u64`.
pub fn mac_u64(m: &[u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(m);
    u64::from_be_bytes(b)
}

/// Source, destination and protocol of an outer IPv4 header template (an offloaded rule's).
pub fn outer(o: &[u8]) -> (u32, u32, u8) {
    match Ipv4Packet::new_quoted(o) {
        Ok(ip) => (u32::from(ip.src()), u32::from(ip.dst()), ip.protocol()),
        Err(_) => (0, 0, 0),
    }
}
