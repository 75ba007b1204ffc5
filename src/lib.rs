//! The appliance shell: every piece of IO (config files, sockets, netlink, signals, metrics)
//! lives in this crate; the protocol logic lives in the sans-IO `vrrp`, `bgp` and `health` crates.

pub mod bgpd;
pub mod checks;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dataplane;
pub mod events;
pub mod fastpath;
pub mod interfaces;
pub mod kernel;
pub mod logging;
pub mod metrics;
pub mod status;
pub mod verdicts;
pub mod vrrpd;
pub mod xdp;
