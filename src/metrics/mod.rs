//! Prometheus metrics on prometheus-client. The registry is built at start; subsystems register
//! their families through [`Metrics::register`] and update them without locks (the metric types
//! are atomics). Process metrics are read from /proc at scrape time.

pub mod http;
mod process;

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Metric, Registry};

pub type Labels = Vec<(String, String)>;

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    pub reloads: Family<Labels, Counter>,
    pub config_generation: Gauge,
    pub events: Family<Labels, Counter>,
    pub leftovers_removed: Counter,
    process: process::ProcessMetrics,
}

impl Metrics {
    pub fn new(node: &str) -> Self {
        // process_* keep their conventional names; everything of ours is under appliance_.
        let mut root = Registry::default();
        let process = process::ProcessMetrics::register(&mut root);
        let registry = root.sub_registry_with_prefix("appliance");
        let info = Info::new(vec![
            ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("node".to_string(), node.to_string()),
        ]);
        registry.register("build", "Version and node name of this daemon", info);
        let reloads = Family::<Labels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads by result (success, failure)",
            reloads.clone(),
        );
        let config_generation = Gauge::default();
        registry.register(
            "config_generation",
            "Generation of the running configuration (1 at start, +1 per successful reload)",
            config_generation.clone(),
        );
        let events = Family::<Labels, Counter>::default();
        registry.register(
            "events",
            "Events written to the event log, by subsystem and kind",
            events.clone(),
        );
        let leftovers_removed = Counter::default();
        registry.register(
            "kernel_leftovers_removed",
            "Kernel objects left by a crashed earlier run and removed at start",
            leftovers_removed.clone(),
        );
        Metrics {
            registry: Arc::new(Mutex::new(root)),
            reloads,
            config_generation,
            events,
            leftovers_removed,
            process,
        }
    }

    /// Adds a subsystem's metric; `name` gets the `appliance_` prefix.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sub_registry_with_prefix("appliance")
            .register(name, help, metric);
    }

    pub fn count_event(&self, subsystem: &str, kind: &str) {
        self.events
            .get_or_create(&vec![
                ("subsystem".to_string(), subsystem.to_string()),
                ("kind".to_string(), kind.to_string()),
            ])
            .inc();
    }

    pub fn count_reload(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.reloads
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        self.process.refresh();
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &reg);
        out
    }
}
