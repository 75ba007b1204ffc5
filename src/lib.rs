//! The appliance shell: every piece of IO (config files, sockets, netlink, signals, metrics)
//! lives in this crate; the protocol logic lives in the sans-IO `vrrp`, `bgp`, `bfd`, `health` and
//! `dataplane` crates. Each shell module pairs with its core: `vrrpd` with `vrrp`, `bgpd` with
//! `bgp`, `bfdd` with `bfd`, `healthd` with `health`, `dataplaned` (with its kernel side in
//! `dataplaned::xdp`) with `dataplane`, `syncd` with `session_sync`.

pub mod bfdd;
pub mod bgpd;
pub mod bondd;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dataplaned;
pub mod drill;
pub mod events;
pub mod healthd;
pub mod interfaces;
pub mod kernel;
pub mod logging;
pub mod metrics;
pub mod package;
pub mod realtime;
pub mod status;
pub mod syncd;
pub mod verdicts;
pub mod vrrpd;
