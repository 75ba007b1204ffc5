//! The chaos drill's report: one line per event and a summary, as text or JSON.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::invariants::Violation;

#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub seq: u64,
    /// Since the drill's first event, milliseconds.
    pub t_ms: u64,
    pub kind: &'static str,
    pub target: String,
    pub detail: String,
    /// From the end of the disturbance to one master, VIP on it alone, nothing left over.
    pub vrrp_settle_ms: Option<u64>,
    /// ... and the health check and the router's route following.
    pub settle_ms: Option<u64>,
    /// Longest time the VIP was on both live nodes during the event and its settling.
    pub overlap_ms: f64,
    /// Pings to the VIP lost from the event's start to its settling.
    pub pings_lost: u64,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub seed: u64,
    pub interval_ms: u64,
    pub duration_s: f64,
    pub overlap_bound_ms: f64,
    pub vrrp_settle_bound_ms: u64,
    pub events: Vec<EventRecord>,
    pub max_rss_kib: u64,
    pub max_rss_growth_kib: u64,
    pub pings_sent: u64,
    pub pings_received: u64,
    /// Found at the end of the run (a daemon that died between events, ...).
    pub final_violations: Vec<Violation>,
}

impl Report {
    pub fn by_kind(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for e in &self.events {
            *m.entry(e.kind).or_insert(0) += 1;
        }
        m
    }

    pub fn violations(&self) -> Vec<&Violation> {
        self.events
            .iter()
            .flat_map(|e| &e.violations)
            .chain(&self.final_violations)
            .collect()
    }

    pub fn violations_by_invariant(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for v in self.violations() {
            *m.entry(v.invariant).or_insert(0) += 1;
        }
        m
    }

    pub fn max_overlap_ms(&self) -> f64 {
        self.events.iter().map(|e| e.overlap_ms).fold(0.0, f64::max)
    }

    pub fn max_vrrp_settle_ms(&self) -> u64 {
        self.events
            .iter()
            .filter_map(|e| e.vrrp_settle_ms)
            .max()
            .unwrap_or(0)
    }

    pub fn loss_percent(&self) -> f64 {
        if self.pings_sent == 0 {
            return 0.0;
        }
        100.0 * (self.pings_sent.saturating_sub(self.pings_received)) as f64
            / self.pings_sent as f64
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "seed": self.seed,
            "interval_ms": self.interval_ms,
            "duration_s": self.duration_s,
            "events": self.events,
            "summary": {
                "events": self.events.len(),
                "events_by_kind": self.by_kind(),
                "violations": self.violations().len(),
                "violations_by_invariant": self.violations_by_invariant(),
                "final_violations": self.final_violations,
                "max_overlap_ms": self.max_overlap_ms(),
                "overlap_bound_ms": self.overlap_bound_ms,
                "max_vrrp_settle_ms": self.max_vrrp_settle_ms(),
                "vrrp_settle_bound_ms": self.vrrp_settle_bound_ms,
                "max_rss_kib": self.max_rss_kib,
                "max_rss_growth_kib": self.max_rss_growth_kib,
                "pings_sent": self.pings_sent,
                "pings_received": self.pings_received,
                "loss_percent": self.loss_percent(),
            }
        })
    }

    pub fn summary_text(&self) -> String {
        let kinds: Vec<String> = self
            .by_kind()
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let mut s = format!(
            "\nchaos drill: {} events in {:.0} s, seed {}, advert interval {} ms\n\
             events:       {}\n",
            self.events.len(),
            self.duration_s,
            self.seed,
            self.interval_ms,
            kinds.join(", ")
        );
        let v = self.violations_by_invariant();
        if v.is_empty() {
            s.push_str("violations:   none\n");
        } else {
            let list: Vec<String> = v.iter().map(|(k, n)| format!("{k} {n}")).collect();
            s.push_str(&format!(
                "violations:   {} ({})\n",
                self.violations().len(),
                list.join(", ")
            ));
        }
        s.push_str(&format!(
            "VIP overlap:  max {:.1} ms (bound {:.0} ms)\n\
             VRRP settle:  max {} ms (bound {} ms)\n\
             memory:       max RSS {:.1} MiB, largest growth in one daemon life {:.1} MiB\n\
             traffic:      {} pings to the VIP ({:.0}/s), {} lost ({:.2} %)\n",
            self.max_overlap_ms(),
            self.overlap_bound_ms,
            self.max_vrrp_settle_ms(),
            self.vrrp_settle_bound_ms,
            self.max_rss_kib as f64 / 1024.0,
            self.max_rss_growth_kib as f64 / 1024.0,
            self.pings_sent,
            self.pings_sent as f64 / self.duration_s.max(1.0),
            self.pings_sent.saturating_sub(self.pings_received),
            self.loss_percent()
        ));
        for v in &self.final_violations {
            s.push_str(&format!("  at the end: {}: {}\n", v.invariant, v.detail));
        }
        s
    }
}

/// One event as a line (and its violations beneath it).
pub fn event_line(e: &EventRecord) -> String {
    let ms = |v: Option<u64>| v.map(|v| format!("{v}")).unwrap_or_else(|| "-".into());
    let mut s =
        format!(
        "{:>7.1}s #{:<3} {:<16} {:<7} vrrp {:>5} ms  settled {:>5} ms  overlap {:>5.1} ms  lost {:>3}  {}  {}",
        e.t_ms as f64 / 1000.0,
        e.seq,
        e.kind,
        e.target,
        ms(e.vrrp_settle_ms),
        ms(e.settle_ms),
        e.overlap_ms,
        e.pings_lost,
        if e.violations.is_empty() { "ok  " } else { "FAIL" },
        e.detail
    );
    for v in &e.violations {
        s.push_str(&format!("\n           {}: {}", v.invariant, v.detail));
    }
    s
}
