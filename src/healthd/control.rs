//! The running checks and the operator's handle on them: start and stop one check, its status
//! for `appctl`, and manual overrides, which outlive reloads (they are kept here, by name, and
//! re-applied when a reload restarts a check).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use health::probe::halfopen::Engines as HalfOpenSockets;
use health::{HealthHandle, HealthRunner, Initial, Override, State};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::forward::{forward, Sink};
use super::metrics::CheckMetrics;
use super::view::view;
use crate::config::CheckConfig;
use crate::events::HealthEvent;
use crate::status::CheckView;
use crate::verdicts::Verdict;

/// Each check has its own runner, so a reload can replace one check without touching the
/// verdicts of the others (the health crate cannot add or remove checks of a running runner).
struct RunningCheck {
    cfg: CheckConfig,
    handle: HealthHandle,
    stop: CancellationToken,
    forwarder: JoinHandle<()>,
}

#[derive(Default)]
struct Inner {
    running: BTreeMap<String, RunningCheck>,
    overrides: BTreeMap<String, Override>,
}

/// Cheap to clone: the control socket and the reload task share one.
#[derive(Clone)]
pub struct HealthControl {
    inner: Arc<Mutex<Inner>>,
    sink: Sink,
    metrics: CheckMetrics,
    stop: CancellationToken,
    /// The raw sockets of half-open TCP checks: one per family for all checks, since a raw
    /// socket per check would see (and filter) every TCP segment once per check.
    half_open: Arc<HalfOpenSockets>,
    /// The checks' own runtime (see [`health_runtime`]).
    rt: tokio::runtime::Handle,
}

/// The probes and their forwarders run on one thread with a current-thread runtime of their
/// own, as VRRP does. A thousand checks a second on the daemon's multi-thread runtime woke the
/// other worker on most probes (eventfd and futex wakeups were a third of the checker's CPU);
/// one thread handles a probe's timer, send and reply without waking anyone else. The thread
/// ends when `stop` is cancelled, after the tasks have had a moment to clean up.
fn health_runtime(stop: CancellationToken) -> tokio::runtime::Handle {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("health")
        .build();
    match rt {
        Ok(rt) => {
            let handle = rt.handle().clone();
            let spawned = std::thread::Builder::new()
                .name("health".into())
                .spawn(move || {
                    rt.block_on(stop.cancelled());
                    rt.shutdown_timeout(std::time::Duration::from_secs(2));
                });
            match spawned {
                Ok(_) => handle,
                Err(e) => {
                    tracing::error!(
                        "cannot start the health thread ({e}); checks share the main runtime"
                    );
                    tokio::runtime::Handle::current()
                }
            }
        }
        Err(e) => {
            tracing::error!("cannot build the health runtime ({e}); checks share the main runtime");
            tokio::runtime::Handle::current()
        }
    }
}

/// A transition event's broadcast is only a log feed (state travels through watches), so a
/// handful of slots per check is plenty and keeps thousands of checks small.
const EVENT_SLOTS: usize = 8;

impl HealthControl {
    pub fn new(sink: Sink, metrics: CheckMetrics, stop: CancellationToken) -> Self {
        let rt = health_runtime(stop.clone());
        HealthControl {
            inner: Arc::default(),
            sink,
            metrics,
            stop,
            half_open: Arc::default(),
            rt,
        }
    }

    pub fn events(&self) -> crate::events::EventLog {
        self.sink.events.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts one check. `carry` is the state of the check this one replaces (a reload that
    /// changed only timing keys): it becomes the starting state, so an up check stays up until
    /// `fall` failures instead of dropping to its `initial` state.
    pub fn start(&self, name: &str, cfg: &CheckConfig, carry: Option<State>) {
        let spec = cfg.to_spec(name).map(|mut spec| {
            spec.initial = match carry {
                Some(State::Up) => Initial::Up,
                Some(State::Down) => Initial::Down,
                _ => spec.initial,
            };
            spec
        });
        // Validation built this very runner already; failing now means the environment changed
        // in between (a CA file removed). The check is then down rather than absent, so
        // consumers that gate on it stay safe.
        let runner = match spec
            .map_err(|p| {
                p.into_iter()
                    .map(|p| p.message)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .and_then(|s| {
                HealthRunner::with_half_open(vec![s], &self.half_open).map_err(|e| e.to_string())
            }) {
            Ok(r) => r.with_event_capacity(EVENT_SLOTS),
            Err(e) => {
                tracing::error!("health check {name} cannot start: {e}");
                self.sink.events.emit(
                    HealthEvent::CheckFailed,
                    name,
                    format!("{name} cannot start: {e}"),
                    json!({ "error": e }),
                );
                self.sink.set_verdict(
                    name,
                    Verdict {
                        up: false,
                        weight: None,
                    },
                );
                return;
            }
        };
        let stop = self.stop.child_token();
        // Every task of the check, the runner's and the forwarder, on the health thread.
        let _on_health_thread = self.rt.enter();
        let handle = runner.spawn(stop.clone());
        // Subscribed at once, not when the forwarder first runs, or a check whose first probe
        // is quick (a file) would make its first transition unseen. What remains is the time
        // between the spawn above and this line, far shorter than any probe.
        let transitions = handle.events();
        // Published here, not only by the forwarder once it runs: the table must list every
        // check before the consumers that `checks::start` precedes come up.
        if let Some(st) = handle.status(name) {
            self.sink.set_verdict(
                name,
                Verdict {
                    up: st.state == State::Up,
                    weight: st.weight,
                },
            );
        }
        let mut inner = self.lock();
        if let Some(ov) = inner.overrides.get(name) {
            let _ = handle.set_override(name, *ov);
        }
        let forwarder = tokio::spawn(forward(
            name.to_string(),
            handle.clone(),
            transitions,
            self.metrics.for_check(name),
            self.sink.clone(),
            stop.clone(),
        ));
        inner.running.insert(
            name.to_string(),
            RunningCheck {
                cfg: cfg.clone(),
                handle,
                stop,
                forwarder,
            },
        );
    }

    /// Stops one check and waits for its tasks; returns what its probes said at that moment
    /// (the override is kept apart and re-applied by `start`).
    /// With `forget`, its verdict, metrics and override go too (the check left the file).
    pub async fn stop(&self, name: &str, forget: bool) -> Option<State> {
        let rc = {
            let mut inner = self.lock();
            if forget {
                inner.overrides.remove(name);
            }
            inner.running.remove(name)
        };
        let state = rc
            .as_ref()
            .and_then(|rc| rc.handle.status(name))
            .map(|s| s.health);
        if let Some(rc) = rc {
            rc.stop.cancel();
            let _ = rc.forwarder.await;
            rc.handle.join().await;
        }
        if forget {
            self.sink.remove_verdict(name);
            self.metrics.remove(name);
        }
        state
    }

    /// The configuration each running check was started with.
    pub fn configs(&self) -> BTreeMap<String, CheckConfig> {
        self.lock()
            .running
            .iter()
            .map(|(n, rc)| (n.clone(), rc.cfg.clone()))
            .collect()
    }

    /// Every check's status, by name, for `appctl status` and `appctl health`.
    pub fn statuses(&self) -> Vec<CheckView> {
        self.lock()
            .running
            .iter()
            .filter_map(|(n, rc)| rc.handle.status(n).map(|st| view(n, &rc.cfg, &st)))
            .collect()
    }

    /// `appctl health set NAME up|down|auto`. The override is applied by the check's task at
    /// once (even mid-probe) and kept across reloads; the reply waits for the task to apply it,
    /// so it shows the resulting state.
    pub async fn set_override(&self, name: &str, ov: Override) -> Result<CheckView, String> {
        let (mut status, cfg) = {
            let mut inner = self.lock();
            let Some(rc) = inner.running.get(name) else {
                return Err(unknown_check(name, inner.running.keys()));
            };
            rc.handle
                .set_override(name, ov)
                .map_err(|e| e.to_string())?;
            let status = rc.handle.subscribe(name).ok_or("check vanished")?;
            let cfg = rc.cfg.clone();
            match ov {
                Override::Auto => inner.overrides.remove(name),
                _ => inner.overrides.insert(name.to_string(), ov),
            };
            (status, cfg)
        };
        self.sink.events.emit(
            HealthEvent::Override,
            name,
            format!("{name}: operator override {ov}"),
            json!({ "override": ov.to_string() }),
        );
        // Timing out only means the reply shows the state before the task applied it.
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            status.wait_for(|s| s.override_state == ov),
        )
        .await;
        let st = status.borrow().clone();
        Ok(view(name, &cfg, &st))
    }

    /// Stops every check (shutdown).
    pub async fn stop_all(&self) {
        let names: Vec<String> = self.lock().running.keys().cloned().collect();
        for n in names {
            self.stop(&n, false).await;
        }
    }
}

/// "no health check named `wbe` (hint: did you mean `web`?)".
fn unknown_check<'a>(name: &str, names: impl Iterator<Item = &'a String> + Clone) -> String {
    let hint = crate::config::suggest::closest(name, names.clone().map(String::as_str))
        .map(|c| format!("did you mean `{c}`?"))
        .unwrap_or_else(|| {
            let all: Vec<&str> = names.map(String::as_str).collect();
            if all.is_empty() {
                "no checks are configured".to_string()
            } else {
                format!("the checks are {}", all.join(", "))
            }
        });
    format!("no health check named `{name}` (hint: {hint})")
}
