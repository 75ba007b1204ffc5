//! The fast path's pure core: packet views, checksums, connection tracking, schedulers, the
//! NAT pipeline and the SNAT gateway (GRE tunnels, pools). No IO, no locks and no allocation
//! per packet: the AF_XDP workers drive it with frames in their UMEM, and the benchmark and unit
//! tests drive it with frames in memory.
//!
//! No `unsafe` but the one cache-prefetch hint in `prefetch.rs`; no dependency that does IO.
//!
//! Every header byte is read and written through [`wire`]: its views, `Repr`s and checksum
//! module are the only place a header layout is written down (`.ci/wire-offsets` checks it).

#![deny(unsafe_code)]

pub mod batch;
pub mod bond;
pub mod conntrack;
pub mod counters;
pub mod flow;
#[cfg(any(test, feature = "testkit"))]
pub mod frames;
pub mod gateway;
pub mod lookup;
pub mod nat;
pub mod nat64;
pub mod neighbours;
pub mod offload;
pub mod pipeline;
pub mod pmtu;
mod prefetch;
pub mod ratelimit;
pub mod sched;
pub mod snapshot;
pub mod snat;
pub mod steering;
pub mod tables;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod tunnel;
pub mod tunnel_counters;
pub mod wire;

/// The Internet checksum lives with the headers it covers; the shells and benchmarks name it
/// from here.
pub use wire::checksum;
