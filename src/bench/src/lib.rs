//! The maintainers' benchmarks that need a kernel: forwarding over veth against the kernel's
//! own (`fastpath-bench`, `gateway-bench`), VRRP failover against keepalived (`vrrp-bench`),
//! BGP against BIRD (`bgp-bench`), health checks at scale against keepalived (`health-bench`),
//! the XDP steering program's cost per frame (`steering-bench`), session sync's bulk
//! resynchronisation over veth (`sync-bench`); and `xdp-probe`, the
//! diagnostic the XDP integration test runs. They build their topologies with the `lab`
//! harness; the in-memory benchmarks of the pure core are `cargo bench -p dataplane`.
//!
//! Run them in release, as root, through the scripts beside this crate (`bench-vrrp`,
//! `bench-bgp`, `bench-health`) or as `docs/benchmarks.md` says.

pub mod fwdbench;
pub mod fwdfamily;
pub mod syncnode;
pub mod zeroloss;

/// Prints `usage` and exits 0 when the arguments ask for help (`-h`, `--help`): before any
/// check of root or tools, so help works anywhere.
pub fn help_or_continue(usage: &str) {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        use std::io::Write;
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "{}", usage.trim());
        std::process::exit(0);
    }
}
