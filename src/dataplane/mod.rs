//! The fast path's pure core: packet views, checksums, connection tracking, schedulers and the
//! NAT pipeline. No IO, no locks and no allocation per packet: the AF_XDP workers drive it with
//! frames in their UMEM, and the benchmark and unit tests drive it with frames in memory.

pub mod checksum;
pub mod conntrack;
pub mod flow;
pub mod wire;
pub mod lookup;
pub mod neighbours;
pub mod sched;
pub mod snapshot;
