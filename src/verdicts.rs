//! The one place health verdicts meet their consumers. The health subsystem runs each check once
//! and publishes the whole table here; VRRP (priority weights, fault), BGP (announcement gates)
//! and the data plane (backend pools) each hold a receiver and react when it changes. A table
//! rather than one channel per check keeps consumers simple across reloads that add or remove
//! checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The check's effective state (after rise/fall hysteresis and any operator override).
    pub up: bool,
    /// A weight reported by checks that carry one (file checks, dynamic exec checks).
    pub weight: Option<i32>,
}

pub type Verdicts = Arc<BTreeMap<String, Verdict>>;

pub fn channel() -> (watch::Sender<Verdicts>, watch::Receiver<Verdicts>) {
    watch::channel(Arc::new(BTreeMap::new()))
}
