//! Per-check Prometheus families. Counters are fed by deltas of the runner's counters, so they
//! stay monotonic when a reload restarts a changed check (the runner's own counters restart).

use std::sync::atomic::AtomicU64;

use health::{CheckStatus, Counters, State};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::{Labels, Metrics};

#[derive(Clone, Default)]
pub struct CheckMetrics {
    probes: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    timeouts: Family<Labels, Counter>,
    transitions: Family<Labels, Counter>,
    state: Family<Labels, Gauge>,
    latency: Family<Labels, Gauge<f64, AtomicU64>>,
}

impl CheckMetrics {
    pub fn register(m: &Metrics) -> Self {
        let c = CheckMetrics::default();
        m.register("health_probes", "Probes run, by check", c.probes.clone());
        m.register(
            "health_probe_failures",
            "Failed probes (timeouts included), by check",
            c.failures.clone(),
        );
        m.register(
            "health_probe_timeouts",
            "Probes that ran out of time, by check",
            c.timeouts.clone(),
        );
        m.register(
            "health_transitions",
            "Changes of a check's effective state (probes and overrides)",
            c.transitions.clone(),
        );
        m.register(
            "health_state",
            "Effective state of a check: 1 up, 0 down, -1 unknown",
            c.state.clone(),
        );
        m.register(
            "health_latency_seconds",
            "Duration of the latest probe of a check",
            c.latency.clone(),
        );
        c
    }

    /// The series of one check, looked up once: a probe then costs a few atomic adds.
    pub fn for_check(&self, name: &str) -> CheckSeries {
        let l = labels(name);
        CheckSeries {
            probes: self.probes.get_or_create(&l).clone(),
            failures: self.failures.get_or_create(&l).clone(),
            timeouts: self.timeouts.get_or_create(&l).clone(),
            transitions: self.transitions.get_or_create(&l).clone(),
            state: self.state.get_or_create(&l).clone(),
            latency: self.latency.get_or_create(&l).clone(),
            seen: Counters::default(),
        }
    }

    /// Drops a removed check's series so a scrape no longer shows it.
    pub fn remove(&self, name: &str) {
        let l = labels(name);
        self.probes.remove(&l);
        self.failures.remove(&l);
        self.timeouts.remove(&l);
        self.transitions.remove(&l);
        self.state.remove(&l);
        self.latency.remove(&l);
    }
}

fn labels(name: &str) -> Labels {
    vec![("check".to_string(), name.to_string())]
}

pub struct CheckSeries {
    probes: Counter,
    failures: Counter,
    timeouts: Counter,
    transitions: Counter,
    state: Gauge,
    latency: Gauge<f64, AtomicU64>,
    /// The runner's counters at the previous update.
    seen: Counters,
}

impl CheckSeries {
    pub fn update(&mut self, st: &CheckStatus) {
        let c = st.counters;
        // saturating: a fresh runner (after a reload) starts from zero again.
        self.probes
            .inc_by(c.probes.saturating_sub(self.seen.probes));
        self.failures
            .inc_by(c.failures.saturating_sub(self.seen.failures));
        self.timeouts
            .inc_by(c.timeouts.saturating_sub(self.seen.timeouts));
        self.transitions
            .inc_by(c.transitions.saturating_sub(self.seen.transitions));
        self.seen = c;
        self.state.set(match st.state {
            State::Up => 1,
            State::Down => 0,
            State::Unknown => -1,
        });
        if let Some(l) = st.last_latency {
            self.latency.set(l.as_secs_f64());
        }
    }
}
