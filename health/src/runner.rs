//! The async shell: exactly one probe task per check, driving a [`Verdict`] and publishing
//! through watch channels so any number of consumers share one probe stream.
//!
//! ```no_run
//! # async fn demo(specs: Vec<health::CheckSpec>) -> Result<(), health::SpecError> {
//! use health::{HealthRunner, Override};
//! use tokio_util::sync::CancellationToken;
//!
//! let shutdown = CancellationToken::new();
//! let health = HealthRunner::new(specs)?.spawn(shutdown.clone());
//! let mut web = health.subscribe_summary("web").expect("configured");
//! let mut events = health.events();
//! health.set_override("web", Override::Down).unwrap(); // maintenance
//! web.changed().await.ok();
//! shutdown.cancel();
//! health.join().await;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::jitter::fnv1a;
use crate::probe::Prober;
use crate::spec::{CheckSpec, SpecError};
use crate::status::{CheckStatus, Summary, TransitionEvent};
use crate::verdict::{Counters, Override, Transition, Verdict};

/// The one place the shell reads the clock. tokio's clock, so that tests with paused time
/// drive the verdict core on virtual time.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Validated checks, ready to spawn.
#[derive(Debug)]
pub struct HealthRunner {
    checks: Vec<(CheckSpec, Prober)>,
    seed: Option<u64>,
    event_capacity: usize,
}

impl HealthRunner {
    /// Validate every spec and prepare its prober (TLS configs, CA files): configuration errors
    /// surface here, before anything runs.
    pub fn new(specs: Vec<CheckSpec>) -> Result<Self, SpecError> {
        Self::with_half_open(specs, &Arc::default())
    }

    /// As [`HealthRunner::new`], with half-open TCP checks on the raw sockets of `engines`,
    /// which a caller running several runners shares among them: one raw socket per family for
    /// all half-open checks of the process.
    pub fn with_half_open(
        specs: Vec<CheckSpec>,
        engines: &Arc<crate::probe::halfopen::Engines>,
    ) -> Result<Self, SpecError> {
        let mut seen = HashSet::new();
        let mut checks = Vec::with_capacity(specs.len());
        for spec in specs {
            if !seen.insert(spec.name.clone()) {
                return Err(SpecError::Duplicate(spec.name));
            }
            let prober = Prober::with_engines(&spec, engines)?;
            checks.push((spec, prober));
        }
        Ok(Self {
            checks,
            seed: None,
            event_capacity: 256,
        })
    }

    /// Fix the jitter seed (tests). By default it comes from the time and pid, so appliances
    /// with identical configs do not probe shared backends in lockstep either.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Capacity of the transition-event broadcast; a receiver that falls further behind gets
    /// `RecvError::Lagged` and should resynchronise from the status watches.
    #[must_use]
    pub fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Start one task per check. Must be called inside a tokio runtime. Tasks end when
    /// `shutdown` is cancelled (not when the handles are dropped: a check with no subscriber
    /// left still runs until shutdown).
    pub fn spawn(self, shutdown: CancellationToken) -> HealthHandle {
        let seed = self.seed.unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default();
            t ^ u64::from(std::process::id())
        });
        let (events, _) = broadcast::channel(self.event_capacity);
        let mut checks = BTreeMap::new();
        let mut tasks = Vec::new();
        let start = now();
        for (spec, prober) in self.checks {
            let name: Arc<str> = Arc::from(spec.name.as_str());
            let slack = slack_for(&spec.verdict_config());
            let verdict = Verdict::new(spec.verdict_config(), start, seed ^ fnv1a(name.as_bytes()));
            let (status_tx, status_rx) = watch::channel(CheckStatus::from_verdict(&name, &verdict));
            let (summary_tx, summary_rx) = watch::channel(status_rx.borrow().summary());
            let (override_tx, override_rx) = watch::channel(Override::Auto);
            let task = CheckTask {
                name: name.clone(),
                verdict,
                status_tx,
                summary_tx,
                override_rx: Some(override_rx),
                events: events.clone(),
                slack,
            };
            let span = tracing::debug_span!("health", check = %name);
            tasks.push(tokio::spawn(
                task.run(prober, shutdown.clone()).instrument(span),
            ));
            checks.insert(
                name,
                CheckChannels {
                    status: status_rx,
                    summary: summary_rx,
                    override_tx,
                },
            );
        }
        HealthHandle {
            inner: Arc::new(Inner {
                checks,
                events,
                tasks: Mutex::new(tasks),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("no health check named {0:?}")]
pub struct UnknownCheck(pub String);

/// Access to running checks. Cheap to clone; hand one to each consumer.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    checks: BTreeMap<Arc<str>, CheckChannels>,
    events: broadcast::Sender<TransitionEvent>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Debug)]
struct CheckChannels {
    status: watch::Receiver<CheckStatus>,
    summary: watch::Receiver<Summary>,
    override_tx: watch::Sender<Override>,
}

impl HealthHandle {
    /// Check names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner.checks.keys().map(|k| &**k)
    }

    /// The full status, updated after every probe (counters, latency, last error...).
    pub fn subscribe(&self, name: &str) -> Option<watch::Receiver<CheckStatus>> {
        self.inner.checks.get(name).map(|c| c.status.clone())
    }

    /// State and weight only; wakes only when one of them changes.
    pub fn subscribe_summary(&self, name: &str) -> Option<watch::Receiver<Summary>> {
        self.inner.checks.get(name).map(|c| c.summary.clone())
    }

    /// Transitions of every check, in order per check.
    pub fn events(&self) -> broadcast::Receiver<TransitionEvent> {
        self.inner.events.subscribe()
    }

    /// Set or clear (`Override::Auto`) the manual override; applied by the check's task at once,
    /// even in the middle of a probe.
    pub fn set_override(&self, name: &str, ov: Override) -> Result<(), UnknownCheck> {
        let c = self
            .inner
            .checks
            .get(name)
            .ok_or_else(|| UnknownCheck(name.to_string()))?;
        c.override_tx.send_replace(ov);
        Ok(())
    }

    pub fn status(&self, name: &str) -> Option<CheckStatus> {
        self.inner
            .checks
            .get(name)
            .map(|c| c.status.borrow().clone())
    }

    /// Every check's status, sorted by name (for `appctl` and the JSON status API).
    pub fn statuses(&self) -> Vec<CheckStatus> {
        self.inner
            .checks
            .values()
            .map(|c| c.status.borrow().clone())
            .collect()
    }

    /// Probe counters for metrics.
    pub fn counters(&self, name: &str) -> Option<Counters> {
        self.inner
            .checks
            .get(name)
            .map(|c| c.status.borrow().counters)
    }

    /// Wait for every check task to end (after the shutdown token is cancelled).
    pub async fn join(&self) {
        let tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            if let Err(e) = t.await {
                if e.is_panic() {
                    tracing::error!("health check task panicked: {e}");
                }
            }
        }
    }
}

/// One check's task state.
struct CheckTask {
    name: Arc<str>,
    verdict: Verdict,
    status_tx: watch::Sender<CheckStatus>,
    summary_tx: watch::Sender<Summary>,
    /// `None` once every handle is gone: then no override can come any more.
    override_rx: Option<watch::Receiver<Override>>,
    events: broadcast::Sender<TransitionEvent>,
    /// Probe times are rounded up to a grid of this step (see [`coalesce`]).
    slack: Duration,
}

/// Timer slack, as the kernel's `timerslack_ns` does for sleeps: a hundredth of the shortest
/// interval, at most 10 ms. With a thousand jittered checks a second, every probe otherwise
/// wakes the process on its own (measured: wakeups, not probes, were most of the CPU); on a
/// shared grid the probes due in one step run in one wakeup, and their replies arrive together.
fn slack_for(c: &crate::verdict::VerdictConfig) -> Duration {
    let shortest = c
        .interval
        .min(c.fastinter.unwrap_or(c.interval))
        .min(c.downinter.unwrap_or(c.interval));
    let slack = (shortest / 100).min(Duration::from_millis(10));
    // tokio's timer wheel already rounds to 1 ms; a finer grid would only shift probes.
    if slack < Duration::from_millis(2) {
        Duration::ZERO
    } else {
        slack
    }
}

/// `at` rounded up to the process-wide grid of `slack`, so that checks in different runners
/// (the daemon runs one per check) share wakeups.
fn coalesce(at: tokio::time::Instant, slack: Duration) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let step = slack.as_nanos();
    let Some(since) = at.checked_duration_since(epoch) else {
        return at;
    };
    if step == 0 {
        return at;
    }
    let steps = since.as_nanos().div_ceil(step);
    u32::try_from(steps)
        .ok()
        .and_then(|n| slack.checked_mul(n))
        .map_or(at, |d| epoch + d)
}

impl CheckTask {
    async fn run(mut self, prober: Prober, shutdown: CancellationToken) {
        loop {
            let at = coalesce(
                tokio::time::Instant::from_std(self.verdict.next_probe_at()),
                self.slack,
            );
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                ov = next_override(&mut self.override_rx) => {
                    self.apply_override(ov);
                    continue;
                }
                () = tokio::time::sleep_until(at) => {}
            }

            let probe = prober.run();
            tokio::pin!(probe);
            let result = loop {
                tokio::select! {
                    biased;
                    // Dropping the probe future cancels it (the exec probe's child is killed).
                    () = shutdown.cancelled() => return,
                    ov = next_override(&mut self.override_rx) => self.apply_override(ov),
                    r = &mut probe => break r,
                }
            };
            tracing::trace!(%result, "probe");
            let transition = self.verdict.observe(now(), result);
            self.publish(transition);
        }
    }

    fn apply_override(&mut self, ov: Option<Override>) {
        let Some(ov) = ov else {
            self.override_rx = None;
            return;
        };
        if ov == self.verdict.override_state() {
            return;
        }
        tracing::info!(override_state = %ov, "manual override");
        let transition = self.verdict.set_override(now(), ov);
        self.publish(transition);
    }

    fn publish(&mut self, transition: Option<Transition>) {
        let status = CheckStatus::from_verdict(&self.name, &self.verdict);
        let summary = status.summary();
        self.status_tx.send_replace(status);
        self.summary_tx.send_if_modified(|s| {
            let changed = *s != summary;
            *s = summary;
            changed
        });
        if let Some(t) = transition {
            tracing::info!(from = %t.from, to = %t.to, reason = %t.reason, "health transition");
            // No receivers is fine: the watches carry the state anyway.
            let _ = self.events.send(TransitionEvent {
                name: self.name.clone(),
                from: t.from,
                to: t.to,
                reason: t.reason,
                at: self.verdict.last_change().unwrap_or_else(now),
            });
        }
    }
}

/// The next override value; `None` when the sender is gone. Pending for ever once it is gone,
/// so the select loop does not spin.
async fn next_override(rx: &mut Option<watch::Receiver<Override>>) -> Option<Override> {
    match rx {
        Some(r) => match r.changed().await {
            Ok(()) => Some(*r.borrow_and_update()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{CheckKind, CheckSpec, TcpCheck};

    fn config(interval_ms: u64, fastinter_ms: Option<u64>) -> crate::verdict::VerdictConfig {
        let mut s = CheckSpec::new(
            "t",
            CheckKind::Tcp(TcpCheck::new(([198, 18, 0, 1], 80).into())),
        );
        s.interval = Duration::from_millis(interval_ms);
        s.fastinter = fastinter_ms.map(Duration::from_millis);
        s.verdict_config()
    }

    #[test]
    fn slack_is_a_hundredth_of_the_shortest_interval_capped() {
        assert_eq!(slack_for(&config(1000, None)), Duration::from_millis(10));
        assert_eq!(slack_for(&config(60_000, None)), Duration::from_millis(10));
        assert_eq!(slack_for(&config(500, None)), Duration::from_millis(5));
        assert_eq!(
            slack_for(&config(2000, Some(300))),
            Duration::from_millis(3)
        );
        // Below tokio's 1 ms wheel granularity there is nothing to gain.
        assert_eq!(slack_for(&config(100, None)), Duration::ZERO);
    }

    #[test]
    fn coalesced_times_are_on_one_grid_never_earlier_and_within_a_step() {
        let slack = Duration::from_millis(10);
        // The grid starts at the first use in the process; times before it are left alone.
        let before = tokio::time::Instant::now();
        let base = coalesce(before, slack).max(before) + Duration::from_millis(1);
        let mut grid = None;
        for off in [0u64, 1, 3_000_000, 9_999_999, 10_000_000, 123_456_789] {
            let at = base + Duration::from_nanos(off);
            let c = coalesce(at, slack);
            assert!(c >= at && c - at < slack, "{off}");
            // Two coalesced times differ by whole steps.
            let g = *grid.get_or_insert(c);
            let d = if c >= g { c - g } else { g - c };
            assert_eq!(d.as_nanos() % slack.as_nanos(), 0, "{off}");
        }
        assert_eq!(coalesce(base, Duration::ZERO), base);
        let long_ago = before.checked_sub(Duration::from_secs(1)).unwrap_or(before);
        assert_eq!(coalesce(long_ago, slack), long_ago);
    }
}
