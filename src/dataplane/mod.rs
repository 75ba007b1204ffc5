//! The fast path's pure core: packet views, checksums, connection tracking, schedulers, the
//! NAT pipeline and the SNAT gateway (GRE tunnels, pools). No IO, no locks and no allocation
//! per packet: the AF_XDP workers drive it with frames in their UMEM, and the benchmark and unit
//! tests drive it with frames in memory.

pub mod checksum;
pub mod conntrack;
pub mod counters;
pub mod flow;
pub mod frames;
pub mod gateway;
pub mod lookup;
pub mod nat;
pub mod neighbours;
pub mod pipeline;
pub mod pmtu;
pub mod sched;
pub mod snapshot;
pub mod snat;
pub mod testkit;
pub mod tunnel;
pub mod tunnel_counters;
pub mod wire;
