//! The stateful-failover drill's report: one row per event with the connections counted before
//! it, those that survived it, the failover time, and the same per traffic class; as a table
//! or JSON (`events`: `event`, `connections`, `survived`, `failover_ms`, `classes` ...).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use serde_json::json;

use crate::drill::cluster::traffic::Outcome;

/// One traffic class's share of an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClassRow {
    pub connections: usize,
    pub survived: usize,
    pub broken: BTreeMap<String, usize>,
}

impl From<&Outcome> for ClassRow {
    fn from(o: &Outcome) -> ClassRow {
        ClassRow {
            connections: o.connections,
            survived: o.survived,
            broken: o.broken.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `crash`, `crash-return`, `graceful`, `graceful-return`, `link-down`.
    pub event: &'static str,
    /// What was done, to which node.
    pub action: String,
    /// The master before and after.
    pub from: &'static str,
    pub to: &'static str,
    /// Connections and flows alive before the event (exercised before it, opened at least
    /// 1 s before it): those exercised after it.
    pub connections: usize,
    /// Those that sent their payload and got it back after the event.
    pub survived: usize,
    pub broken: BTreeMap<String, usize>,
    /// From the old master's last advertisement of the client-side instance to the new
    /// master's first gratuitous ARP for the VIP (captured on the client-side segment).
    pub failover_ms: Option<f64>,
    /// What RFC 9568 makes of it: the backup's Master_Down_Interval (crash, link down) or its
    /// Skew_Time (graceful: the master resigns with priority 0); none for a preemption.
    pub rfc_ms: Option<f64>,
    /// From the action (SIGKILL, SIGTERM, link down, start) to the new master seen holding
    /// both instances in its status: for a return, the daemon's start, its bulk
    /// resynchronisation and the preemption.
    pub takeover_ms: f64,
    /// The exercise after the event: first payload sent to last answer.
    pub exercise_ms: u64,
    pub classes: BTreeMap<String, ClassRow>,
    pub detail: String,
}

impl Row {
    pub fn ok(&self) -> bool {
        self.survived == self.connections
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `[sync]` was asked for (not `--without-sync`).
    pub sync_requested: bool,
    /// The pair ran with `[sync]` (false when this build does not know the section).
    pub sync: bool,
    /// Per class, the connections and flows asked for and opened at the start.
    pub opened: BTreeMap<String, ClassRow>,
    pub events: Vec<Row>,
    /// What stopped the run early, if anything.
    pub errors: Vec<String>,
    pub seconds: f64,
}

impl Report {
    /// Every event ran and every connection survived every one.
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && !self.events.is_empty() && self.events.iter().all(Row::ok)
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "scenario": "stateful-failover",
            "sync_requested": self.sync_requested,
            "sync": self.sync,
            "opened": self.opened,
            "events": self.events,
            "errors": self.errors,
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "ok": self.ok(),
        })
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<16} {:>5} {:>12} {:>10} {:>8} {:>11} {:>9}  broken",
            "event", "to", "survived", "failover", "RFC", "takeover", "exercise"
        );
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} ms"));
        for r in &self.events {
            let _ = writeln!(
                s,
                "{:<16} {:>5} {:>12} {:>10} {:>8} {:>8.0} ms {:>6} ms  {}",
                r.event,
                r.to,
                format!("{}/{}", r.survived, r.connections),
                ms(r.failover_ms),
                r.rfc_ms
                    .map_or_else(|| "-".to_string(), |v| format!("{v:.0}")),
                r.takeover_ms,
                r.exercise_ms,
                broken_text(&r.broken)
            );
        }
        let classes: Vec<&String> = self.opened.keys().collect();
        if !classes.is_empty() && !self.events.is_empty() {
            let _ = writeln!(s, "\nsurvived per class:");
            let _ = write!(s, "{:<16}", "event");
            for c in &classes {
                let _ = write!(s, " {:>16}", c);
            }
            let _ = writeln!(s);
            for r in &self.events {
                let _ = write!(s, "{:<16}", r.event);
                for c in &classes {
                    let cell = r
                        .classes
                        .get(*c)
                        .map(|x| format!("{}/{}", x.survived, x.connections))
                        .unwrap_or_else(|| "-".into());
                    let _ = write!(s, " {:>16}", cell);
                }
                let _ = writeln!(s);
            }
        }
        let _ = writeln!(
            s,
            "\nsync: {}",
            if self.sync {
                "on"
            } else {
                "off (--without-sync)"
            }
        );
        let _ = writeln!(
            s,
            "failover: old master's last advertisement -> new master's first gratuitous ARP \
             (client-side segment)"
        );
        for e in &self.errors {
            let _ = writeln!(s, "error: {e}");
        }
        s
    }
}

fn broken_text(b: &BTreeMap<String, usize>) -> String {
    b.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(connections: usize, survived: usize) -> Row {
        let mut classes = BTreeMap::new();
        classes.insert(
            "nat-tcp/lan".to_string(),
            ClassRow {
                connections,
                survived,
                broken: BTreeMap::new(),
            },
        );
        Row {
            event: "crash",
            action: "SIGKILL a".into(),
            from: "a",
            to: "b",
            connections,
            survived,
            broken: BTreeMap::new(),
            failover_ms: Some(361.2),
            rfc_ms: Some(360.9),
            takeover_ms: 380.0,
            exercise_ms: 12,
            classes,
            detail: String::new(),
        }
    }

    #[test]
    fn json_has_the_fields_per_event_and_ok_needs_every_connection() {
        let mut r = Report {
            sync_requested: true,
            sync: true,
            events: vec![row(10, 10)],
            ..Report::default()
        };
        r.opened.insert("nat-tcp/lan".into(), ClassRow::default());
        assert!(r.ok());
        let j = r.to_json();
        let e = &j["events"][0];
        assert_eq!(e["event"], "crash");
        assert_eq!(e["connections"], 10);
        assert_eq!(e["survived"], 10);
        assert_eq!(e["failover_ms"], 361.2);
        assert_eq!(e["classes"]["nat-tcp/lan"]["survived"], 10);
        assert!(r.table().contains("10/10"), "{}", r.table());
        r.events.push(row(10, 9));
        assert!(!r.ok());
        assert!(!Report::default().ok(), "no event ran");
    }
}
