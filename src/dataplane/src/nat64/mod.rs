//! NAT64 for FullNAT services: IPv6 clients reach a VIP whose backends are IPv4 (RFC 6146's
//! stateful translation, the flow's IPv4 source from an IPv4 pool). The pure parts live here:
//! RFC 6052 address embedding (`prefix`), IP/ICMP header translation of a flow's packets
//! (`translate`, RFC 7915 §4 and §5) and of the ICMP errors about them (`icmp`). The pipeline
//! (`pipeline/nat64.rs`) decides addresses and ports from the flow and calls them.

pub mod icmp;
pub mod prefix;
pub mod translate;

pub use prefix::{embed, extract, Pref64};
pub use translate::{Endpoints, Refused};
