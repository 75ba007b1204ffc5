//! One small task per check between its runner and the rest of the daemon: the verdict table
//! (only when state or weight changes), the event log (each transition, with its reason) and
//! the metrics (after every probe).

use std::sync::Arc;

use health::{HealthHandle, State, TransitionEvent};
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::metrics::CheckSeries;
use crate::events::{EventLog, HealthEvent};
use crate::verdicts::{Verdict, Verdicts};

/// Where the forwarders publish; shared by every check.
#[derive(Clone)]
pub struct Sink {
    pub events: EventLog,
    pub verdicts: watch::Sender<Verdicts>,
}

impl Sink {
    /// Sets one entry of the table; consumers wake only if it really changed.
    pub fn set_verdict(&self, name: &str, v: Verdict) {
        self.verdicts.send_if_modified(|table| {
            if table.get(name) == Some(&v) {
                return false;
            }
            Arc::make_mut(table).insert(name.to_string(), v);
            true
        });
    }

    pub fn remove_verdict(&self, name: &str) {
        self.verdicts.send_if_modified(|table| {
            if !table.contains_key(name) {
                return false;
            }
            Arc::make_mut(table).remove(name);
            true
        });
    }
}

pub async fn forward(
    name: String,
    handle: HealthHandle,
    mut transitions: broadcast::Receiver<TransitionEvent>,
    mut series: CheckSeries,
    sink: Sink,
    stop: CancellationToken,
) {
    // The runner was built with this one check, so it exists.
    let Some(mut status) = handle.subscribe(&name) else {
        return;
    };
    loop {
        {
            let st = status.borrow_and_update();
            series.update(&st);
            sink.set_verdict(
                &name,
                Verdict {
                    up: st.state == State::Up,
                    weight: st.weight,
                },
            );
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            r = status.changed() => if r.is_err() { return },
            ev = transitions.recv() => match ev {
                Ok(ev) => log_transition(&sink.events, &ev),
                // The table follows the status watch, so a missed event loses only its log line.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("health check {name}: {n} transition event(s) not logged");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

fn log_transition(events: &EventLog, ev: &TransitionEvent) {
    let kind = match ev.to {
        State::Up => HealthEvent::CheckUp,
        State::Down => HealthEvent::CheckDown,
        // A check never goes back to unknown.
        State::Unknown => HealthEvent::CheckUnknown,
    };
    events.emit(
        kind,
        &ev.name,
        format!("{} is {} ({})", ev.name, ev.to, ev.reason),
        json!({
            "from": ev.from.to_string(),
            "to": ev.to.to_string(),
            "reason": ev.reason.to_string(),
        }),
    );
}
