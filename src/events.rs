//! The ordered event log: every state change in the appliance, numbered, timestamped, kept in a
//! bounded ring for `appctl events` and broadcast live to `appctl events --follow`. What can be
//! emitted is listed in [`catalogue`].

pub mod catalogue;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use catalogue::{
    BfdEvent, BgpEvent, BondEvent, ConfigEvent, DaemonEvent, DataplaneEvent, EventKind,
    HealthEvent, InterfacesEvent, SyncEvent, VrrpEvent,
};

/// Events kept for late readers; older ones are dropped (their sequence numbers tell how many).
const RING: usize = 4096;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Strictly increasing from 1 for the life of the process.
    pub seq: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// RFC 3339 UTC timestamp with milliseconds.
    pub time: String,
    /// `daemon`, `config`, `interfaces`, `vrrp`, `bgp`, `health` or `dataplane`
    /// ([`EventKind::subsystem`]).
    pub subsystem: String,
    /// Short machine-readable kind, e.g. `state_change`, `reload_failed` ([`EventKind::as_str`]).
    pub kind: String,
    /// The object concerned (instance, peer, check, interface), empty when none.
    pub object: String,
    pub message: String,
    /// Structured details for machines (`{"from":"backup","to":"master"}`).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub fields: serde_json::Value,
}

struct Inner {
    next_seq: u64,
    ring: VecDeque<Event>,
}

/// Cheap to clone; all clones share one log.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Inner>>,
    tx: broadcast::Sender<Event>,
    on_emit: Arc<dyn Fn(&Event) + Send + Sync>,
}

impl EventLog {
    pub fn new() -> Self {
        Self::with_hook(Arc::new(|_| {}))
    }

    /// `hook` sees every event after it is numbered (metrics count them by subsystem and kind).
    pub fn with_hook(hook: Arc<dyn Fn(&Event) + Send + Sync>) -> Self {
        let (tx, _) = broadcast::channel(RING);
        EventLog {
            inner: Arc::new(Mutex::new(Inner {
                next_seq: 1,
                ring: VecDeque::with_capacity(RING),
            })),
            tx,
            on_emit: hook,
        }
    }

    /// Records an event and logs it through tracing.
    pub fn emit(
        &self,
        kind: impl Into<EventKind>,
        object: &str,
        message: impl Into<String>,
        fields: serde_json::Value,
    ) -> Event {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let unix_ms = now.as_millis() as u64;
        let kind = kind.into();
        let message = message.into();
        // Numbering and sending happen under one lock so followers see events in seq order.
        let ev = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let ev = Event {
                seq: inner.next_seq,
                unix_ms,
                time: rfc3339_ms(unix_ms),
                subsystem: kind.subsystem().to_string(),
                kind: kind.as_str().to_string(),
                object: object.to_string(),
                message,
                fields,
            };
            inner.next_seq += 1;
            if inner.ring.len() == RING {
                inner.ring.pop_front();
            }
            inner.ring.push_back(ev.clone());
            let _ = self.tx.send(ev.clone());
            ev
        };
        tracing::info!(
            target: "event",
            seq = ev.seq,
            subsystem = %ev.subsystem,
            kind = %ev.kind,
            object = %ev.object,
            "{}",
            ev.message
        );
        (self.on_emit)(&ev);
        ev
    }

    /// Events with `seq > after`, oldest first, plus a live receiver that continues exactly
    /// where the snapshot ends (the receiver is created under the same lock).
    pub fn since(&self, after: u64) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let backlog = inner
            .ring
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        (backlog, rx)
    }

    pub fn last_seq(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_seq
            - 1
    }
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

/// `2026-11-21T14:38:00.123Z` without pulling in a calendar crate.
pub fn rfc3339_ms(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_271_880_123), "2026-11-21T14:38:00.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn sequence_and_backlog() {
        let log = EventLog::new();
        for i in 0..5 {
            log.emit(
                DaemonEvent::Started,
                "o",
                format!("e{i}"),
                serde_json::Value::Null,
            );
        }
        let (backlog, mut rx) = log.since(2);
        assert_eq!(
            backlog.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        log.emit(DaemonEvent::Stopping, "o", "live", serde_json::Value::Null);
        assert_eq!(rx.try_recv().unwrap().seq, 6);
    }
}
