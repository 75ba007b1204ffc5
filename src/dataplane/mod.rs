//! The fast path's pure core: packet views, checksums, connection tracking, schedulers and the
//! NAT pipeline. No IO, no locks and no allocation per packet: the AF_XDP workers drive it with
//! frames in their UMEM, and the benchmark and unit tests drive it with frames in memory.

pub mod checksum;
pub mod conntrack;
pub mod counters;
pub mod flow;
pub mod frames;
pub mod lookup;
pub mod nat;
pub mod neighbours;
pub mod pipeline;
pub mod sched;
pub mod snapshot;
pub mod wire;
