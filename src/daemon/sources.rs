//! Where `appctl status` comes from: the supervisor's own part ([`Shared`]) and each
//! subsystem's published part, assembled on request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::bgpd::BgpHandle;
use crate::events::EventLog;
use crate::healthd::HealthControl;
use crate::status::{
    DaemonStatus, InterfaceStatus, MetricsStatus, ReloadOutcome, Status, VrrpInstanceStatus,
    STATUS_SCHEMA,
};

/// The supervisor's part of the status; reloads and the metrics endpoint update it.
pub(super) struct Shared {
    pub node: String,
    pub config_path: PathBuf,
    pub started_unix_ms: u64,
    pub started: Instant,
    pub generation: u64,
    pub loaded_unix_ms: u64,
    pub last_reload: Option<ReloadOutcome>,
    pub leftovers_removed: u64,
    pub metrics_listen: Option<String>,
}

/// Every part of the status, each read from its owner when a request comes.
pub(super) struct StatusSources {
    pub shared: Arc<Mutex<Shared>>,
    pub events: EventLog,
    pub interfaces: watch::Receiver<Vec<InterfaceStatus>>,
    pub vrrp: watch::Receiver<Vec<VrrpInstanceStatus>>,
    pub health: HealthControl,
    pub bgp: BgpHandle,
}

impl StatusSources {
    pub fn status(&self) -> Status {
        let s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        Status {
            schema: STATUS_SCHEMA,
            daemon: DaemonStatus {
                node: s.node.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                pid: std::process::id(),
                started_unix_ms: s.started_unix_ms,
                uptime_ms: s.started.elapsed().as_millis() as u64,
                config_path: s.config_path.display().to_string(),
                config_generation: s.generation,
                config_loaded_unix_ms: s.loaded_unix_ms,
                last_reload: s.last_reload.clone(),
                last_event_seq: self.events.last_seq(),
                leftovers_removed: s.leftovers_removed,
            },
            interfaces: self.interfaces.borrow().clone(),
            metrics: MetricsStatus {
                listen: s.metrics_listen.clone(),
            },
            vrrp: self.vrrp.borrow().clone(),
            checks: self.health.statuses(),
            bgp: self.bgp.status(),
        }
    }
}
