//! Zero-copy views over frames, smoltcp-style: `View<T: AsRef<[u8]>>` checks the length once in
//! `new_checked` and then reads fields in place; setters exist when `T: AsMut<[u8]>`. Nothing
//! here allocates or copies, so the per-packet path can parse a frame where it lies in the UMEM.
//!
//! Only what the fast path reads or rewrites has an accessor. Unknown code points are returned
//! as raw numbers, never as errors: classifying them is the pipeline's job.

pub mod ethernet;
pub mod gre;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

pub use ethernet::{EtherType, EthernetFrame, MacAddr};
pub use gre::GrePacket;
pub use icmp::IcmpPacket;
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;
pub use tcp::TcpSegment;
pub use udp::UdpDatagram;

/// The buffer is shorter than the header (or than a length field says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

/// IP protocol numbers the fast path knows.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
    pub const ICMPV6: u8 = 58;
}

#[inline(always)]
pub fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
