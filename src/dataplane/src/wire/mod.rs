//! The one wire layer of the data plane: zero-copy views over every header it reads or
//! rewrites, smoltcp-style. Each format has a `field` module naming its byte ranges; a view
//! `Packet<T: AsRef<[u8]>>` checks the length once in `new_checked` and then reads fields in
//! place, with setters when `T: AsMut<[u8]>`; a `Repr` parses a view into plain fields and emits
//! them into a buffer (for what the data plane builds, and for the tests' frames). Nothing here
//! allocates or copies, so the per-packet path can parse a frame where it lies in the UMEM.
//!
//! No code outside this module indexes header bytes (`.ci/wire-offsets` checks it): header
//! layouts, the big-endian helpers (`bytes`) and the checksum arithmetic live here alone.
//!
//! Unknown code points are returned as raw numbers, never as errors: classifying them is the
//! pipeline's job.

pub mod announce;
mod bytes;
pub mod checksum;
pub mod ethernet;
pub mod gre;
pub mod hash_fields;
pub mod icmp;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod offload;
pub mod ports;
pub mod tcp;
pub mod udp;

pub use ethernet::{EtherType, EthernetFrame, EthernetRepr, MacAddr};
pub use gre::{GrePacket, GreRepr};
pub use icmp::{IcmpPacket, IcmpRepr};
pub use icmpv6::{Icmpv6Packet, Icmpv6Repr};
pub use ip::{Address, IpHeader};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use tcp::{TcpRepr, TcpSegment};
pub use udp::{UdpDatagram, UdpRepr};

/// A header field's byte range.
pub type Field = core::ops::Range<usize>;
/// From a byte offset to the end of the buffer.
pub type Rest = core::ops::RangeFrom<usize>;

/// The buffer is shorter than the header (or than a length field says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

/// IP protocol numbers the fast path knows.
pub mod proto {
    pub const ICMP: u8 = 1;
    /// IP in IP (RFC 2003).
    pub const IPIP: u8 = 4;
    /// IPv6 encapsulation (RFC 2473): IPv6 in IPv6.
    pub const IPV6: u8 = 41;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
    pub const ICMPV6: u8 = 58;
}
