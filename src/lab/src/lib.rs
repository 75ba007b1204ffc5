//! Labs of real processes inside Linux network namespaces: the harness of the
//! integration tests (`netns-tests`), of the maintainers' benchmarks
//! (`src/bench`) and of the failover drill (`applianced drill`).
//!
//! A test creates a [`Lab`]; the lab creates uniquely named namespaces
//! (`nt-<pid>-<n>-<short>`), links between them, and processes inside them,
//! and removes all of it when dropped — panics included. Processes' output is
//! captured to `netns-tests/artifacts/<test>-<pid>/<name>.log`; when a test
//! fails, every log and each namespace's addresses and routes are printed.
//!
//! The tests need root and **fail** (never skip) without it; external tools
//! are checked with [`require_tool`], which names the Debian package.
//! Only test addresses are accepted: 198.18.0.0/15 and 2001:db8::/32.
//!
//! ```no_run
//! use std::time::Duration;
//! use lab::{bin_path, wait_for_log, Lab};
//!
//! let lab = Lab::new("vrrp_failover");
//! let (a, b) = (lab.netns("a"), lab.netns("b"));
//! lab.veth(&a, "eth0", &b, "eth0"); // both ends up
//! a.add_addr("eth0", "198.18.0.1/24");
//! b.add_addr("eth0", "198.18.0.2/24");
//! a.assert_ping("198.18.0.2");
//!
//! let cfg = lab.write_artifact("a.toml", "# daemon config\n");
//! let daemon = a
//!     .process("applianced-a", &[bin_path("applianced").to_str().unwrap(),
//!                                "--config", cfg.to_str().unwrap()])
//!     .env("RUST_LOG", "debug")
//!     .spawn();
//! wait_for_log(&daemon, "ready", Duration::from_secs(10)).unwrap();
//!
//! // Three hosts on one switched LAN: addresses .1, .2, .3.
//! let (h1, h2, h3) = (lab.netns("h1"), lab.netns("h2"), lab.netns("h3"));
//! let lan = lab.lan(&[&h1, &h2, &h3], "198.18.5.0/24");
//! h1.assert_ping(&lan.addr(2));
//! // Dropping `lab` stops the daemon and deletes every namespace and link.
//! ```
//!
//! Bonding partners (issue 15): [`ovs::OvsSwitch`] (Open vSwitch, userspace datapath) and
//! [`testpmd::TestpmdBond`] (DPDK testpmd's bonding PMD over `net_af_packet`) need no
//! kernel bonding or openvswitch module; `netns-tests/tests/bond_partners.rs` proves them
//! against each other.
//!
//! Machine setup: `netns-tests/test-all` (as root) installs the
//! Debian packages the harness itself uses (iproute2, ethtool, iputils-ping).
//!
//! Environment:
//! * `NETNS_KEEP=1` keeps the artifacts directory of passing tests too
//!   (failing tests always keep it).
//! * `APPLIANCE_BIN_DIR` overrides where [`bin_path`] looks for binaries.
//!
//! Caveat: every namespace, link and process must be made through the Lab so
//! that it is tracked; use [`Netns::ip`] / [`Netns::exec`] for anything else,
//! but links added that way are only removed along with their namespace.

mod addr;
mod appliance;
mod bins;
pub mod bird;
mod cleanup;
mod cmd;
pub mod cpustat;
pub mod exabgp;
pub mod frr;
pub mod frr_router;
mod lab;
mod link;
mod netns;
pub mod ovs;
pub mod pcap;
pub mod peers;
mod process;
mod slow_protocols;
pub mod testpmd;
mod tools;
pub mod vrrp_lab;
mod wait;

pub use addr::{assert_test_addr, is_test_addr};
pub use appliance::{run_appctl, with_offload, Appliance, DataplaneHeader, OFFLOAD_ENV};
pub use bins::{bin_dirs, bin_path, workspace_root};
pub use cleanup::{list_netns, own_namespaces, owner_pid, remove_stale_namespaces, NETNS_PREFIX};
pub use lab::{Lab, DEFAULT_STOP_GRACE};
pub use link::{Lan, Link, Veth, VethBuilder};
pub use netns::Netns;
pub use process::{Proc, ProcBuilder};
pub use tools::{
    debian_package, find_tool, missing_tools, require_root, require_tool, tools_or_exit,
};
pub use wait::{wait_for_file, wait_for_log, wait_until, WaitError};

/// Re-exported so tests can name signals for [`Proc::signal`] without
/// depending on `nix` themselves.
pub use nix::sys::signal::Signal;
