//! The ECMP cluster drill's report: one row per router, mode and event, as a table or JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub router: &'static str,
    pub mode: &'static str,
    /// `established` (the connections opened and exercised once), `drain`, `crash`, `add`,
    /// `restart`.
    pub event: &'static str,
    /// The node the event acted on (`-` for `established`).
    pub node: String,
    /// Connections alive before the event: those exercised after it.
    pub connections: usize,
    /// Those that sent their payload and got it back after the event.
    pub survived: usize,
    /// The broken ones by reason.
    pub broken: BTreeMap<String, usize>,
    /// From the event's action (drain, SIGKILL, start) to the router's FIB showing the paths
    /// expected after it; for a crash, the crashed node's path gone.
    pub router_converged_ms: Option<f64>,
    /// Flows the nodes took over mid-flow during the event and its exercise: the client opens
    /// no connection after `established`, so every flow a node opens is one the router moved
    /// to it (a restarted node's own flows count again).
    pub picked_up: u64,
    /// Paths in the router's FIB after the event.
    pub paths: usize,
    /// The exercise after the event: first payload sent to last echo back.
    pub exercise_ms: u64,
    pub detail: String,
}

impl Row {
    pub fn broken_count(&self) -> usize {
        self.connections - self.survived
    }
}

/// A run (one router, one mode) that could not finish.
#[derive(Debug, Clone, Serialize)]
pub struct RunError {
    pub router: &'static str,
    pub mode: &'static str,
    pub error: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub connections: usize,
    /// `{interval_ms, multiplier}` when BFD was on.
    pub bfd: Option<serde_json::Value>,
    /// The counterfactual run: every node with a `cluster_seed` of its own.
    pub per_node_seed: bool,
    pub rows: Vec<Row>,
    pub errors: Vec<RunError>,
    /// The FIB watch's slowest dump rate of all runs (the resolution of `router_converged_ms`).
    pub fib_poll_hz: Option<f64>,
}

impl Report {
    /// Every connection survived every event, and every run finished.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
            && !self.rows.is_empty()
            && self.rows.iter().all(|r| r.broken_count() == 0)
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "connections": self.connections,
            "bfd": self.bfd,
            "per_node_seed": self.per_node_seed,
            "fib_poll_hz": self.fib_poll_hz.map(|h| h.round()),
            "ok": self.ok(),
            "rows": self.rows,
            "errors": self.errors,
        })
    }

    pub fn table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{:<6} {:<8} {:<12} {:<5} {:>11} {:>9} {:>7} {:>10} {:>13} {:>6} {:>12}",
            "router",
            "mode",
            "event",
            "node",
            "connections",
            "survived",
            "broken",
            "picked up",
            "converged ms",
            "paths",
            "exercise ms"
        );
        for r in &self.rows {
            let conv = r
                .router_converged_ms
                .map(|m| format!("{m:.1}"))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                o,
                "{:<6} {:<8} {:<12} {:<5} {:>11} {:>9} {:>7} {:>10} {:>13} {:>6} {:>12}",
                r.router,
                r.mode,
                r.event,
                r.node,
                r.connections,
                r.survived,
                r.broken_count(),
                r.picked_up,
                conv,
                r.paths,
                r.exercise_ms
            );
        }
        let _ = writeln!(o);
        for r in &self.rows {
            if !r.detail.is_empty() || !r.broken.is_empty() {
                let why: Vec<String> = r.broken.iter().map(|(k, v)| format!("{v} {k}")).collect();
                let why = if why.is_empty() {
                    String::new()
                } else {
                    format!(" [broken: {}]", why.join(", "))
                };
                let _ = writeln!(o, "{} {} {}: {}{why}", r.router, r.mode, r.event, r.detail);
            }
        }
        for e in &self.errors {
            let _ = writeln!(o, "{} {}: FAILED: {}", e.router, e.mode, e.error);
        }
        if let Some(hz) = self.fib_poll_hz {
            let _ = writeln!(
                o,
                "\nconverged: the event's action to the router's FIB showing the expected paths \
                 (FIB dumped at {hz:.0} Hz or more); picked up: flows a node took over mid-flow"
            );
        }
        let _ = writeln!(
            o,
            "{}",
            if self.ok() {
                "every connection survived every event"
            } else {
                "CONNECTIONS BROKE or a run failed"
            }
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(survived: usize) -> Row {
        Row {
            router: "bird",
            mode: "dr",
            event: "crash",
            node: "n2".into(),
            connections: 10,
            survived,
            broken: if survived < 10 {
                BTreeMap::from([("timeout".to_string(), 10 - survived)])
            } else {
                BTreeMap::new()
            },
            router_converged_ms: Some(3012.5),
            picked_up: 4,
            paths: 1,
            exercise_ms: 40,
            detail: "SIGKILL, link cut".into(),
        }
    }

    #[test]
    fn ok_only_when_nothing_broke_and_every_run_finished() {
        let mut r = Report {
            connections: 10,
            rows: vec![row(10)],
            ..Report::default()
        };
        assert!(r.ok());
        assert!(r.table().contains("every connection survived"));
        r.rows.push(row(7));
        assert!(!r.ok());
        assert!(r.table().contains("[broken: 3 timeout]"));
        let j = r.to_json();
        assert_eq!(j["ok"], false);
        assert_eq!(j["rows"][1]["survived"], 7);
        assert_eq!(j["rows"][0]["router_converged_ms"], 3012.5);
        r.rows.truncate(1);
        r.errors.push(RunError {
            router: "frr",
            mode: "tunnel",
            error: "x".into(),
        });
        assert!(!r.ok());
        assert!(!Report::default().ok());
    }
}
