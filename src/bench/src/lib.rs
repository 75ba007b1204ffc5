//! The maintainers' benchmarks that need a kernel: forwarding over veth against the kernel's
//! own (`fastpath-bench`, `gateway-bench`), VRRP failover against keepalived (`vrrp-bench`),
//! BGP against BIRD (`bgp-bench`), health checks at scale against keepalived (`health-bench`),
//! the XDP steering program's cost per frame (`steering-bench`); and `xdp-probe`, the
//! diagnostic the XDP integration test runs. They build their topologies with the `lab`
//! harness; the in-memory benchmarks of the pure core are `cargo bench -p dataplane`.
//!
//! Run them in release, as root, through the scripts beside this crate (`bench-vrrp`,
//! `bench-bgp`, `bench-health`) or as `docs/benchmarks.md` says.

pub mod fwdbench;
pub mod zeroloss;
