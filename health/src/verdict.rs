//! The pure verdict core: rise/fall hysteresis, probe scheduling and manual override.
//!
//! No IO and no clock: every input carries `now`, and the next probe time comes out of
//! [`Verdict::next_probe_at`]. The async runner is a thin loop around this type, and the tests
//! below drive it on a virtual clock.
//!
//! Polling order for a driver:
//! 1. sleep until [`Verdict::next_probe_at`];
//! 2. run a probe, bounded by [`VerdictConfig::timeout`];
//! 3. feed the result to [`Verdict::observe`], which returns a [`Transition`] when the
//!    effective state flipped and schedules the next probe;
//! 4. at any time, [`Verdict::set_override`] may flip the effective state too.

use std::fmt;
use std::time::{Duration, Instant};

use crate::jitter::{spread, SplitMix64};
use crate::result::ProbeResult;

/// The health of a check as the consumers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// No verdict yet (only with [`Initial::Unknown`], before the first probe result).
    Unknown,
    Up,
    Down,
}

impl State {
    pub fn is_up(self) -> bool {
        self == State::Up
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Down => "down",
        })
    }
}

/// The state a check starts in (config: `initial = "up" | "down" | "unknown"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Initial {
    /// Start up; `fall` failures are needed to go down (HAProxy `init-state fully-up`).
    Up,
    /// Start down; `rise` successes are needed to go up (keepalived `init_fail`, HAProxy
    /// `fully-down`). The safe default: nothing is announced before it has been proven healthy.
    #[default]
    Down,
    /// Start [`State::Unknown`]; the first probe result decides, without waiting for rise/fall,
    /// so consumers get a real verdict after one probe instead of `rise` of them.
    Unknown,
}

/// Manual administrative override, for maintenance.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Override {
    /// Follow the probes.
    #[default]
    Auto,
    /// Force up whatever the probes say.
    Up,
    /// Force down (drain) whatever the probes say.
    Down,
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Override::Auto => "auto",
            Override::Up => "up",
            Override::Down => "down",
        })
    }
}

/// Timing and hysteresis parameters (the IO-free part of a `CheckSpec`).
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictConfig {
    /// Probe interval while the state is stable (HAProxy `inter`, keepalived `delay_loop`).
    pub interval: Duration,
    /// Per-probe timeout; a probe that takes longer is a failure.
    pub timeout: Duration,
    /// Consecutive successes needed to go from down to up.
    pub rise: u32,
    /// Consecutive failures needed to go from up to down.
    pub fall: u32,
    /// Interval while a transition is under way (a result contrary to the current state has been
    /// seen, or the state is still unknown). `None` = `interval`.
    pub fastinter: Option<Duration>,
    /// Interval while fully down. `None` = `interval`.
    pub downinter: Option<Duration>,
    /// Jitter fraction in `[0, 1)`: each delay is spread uniformly over
    /// `delay * [1 - jitter, 1 + jitter)`, and the first probe is delayed by up to
    /// `jitter * interval`, so checks started together do not probe in lockstep.
    pub jitter: f64,
    pub initial: Initial,
}

impl Default for VerdictConfig {
    /// HAProxy's defaults: `inter 2s`, `rise 2`, `fall 3`.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(2),
            rise: 2,
            fall: 3,
            fastinter: None,
            downinter: None,
            jitter: 0.0,
            initial: Initial::Down,
        }
    }
}

/// Why the effective state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `rise` consecutive successes.
    Rise { successes: u32 },
    /// `fall` consecutive failures.
    Fall { failures: u32, last_error: String },
    /// The first result of a check that started [`State::Unknown`].
    FirstResult { ok: bool, detail: String },
    /// An operator set this override.
    Override(Override),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Rise { successes } => write!(f, "{successes} consecutive successes"),
            Reason::Fall {
                failures,
                last_error,
            } => write!(f, "{failures} consecutive failures, last: {last_error}"),
            Reason::FirstResult { ok: true, .. } => f.write_str("first probe succeeded"),
            Reason::FirstResult { ok: false, detail } => {
                write!(f, "first probe failed: {detail}")
            }
            Reason::Override(o) => write!(f, "manual override {o}"),
        }
    }
}

/// A change of the effective state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: Reason,
}

/// Per-check counters for metrics. Monotonic for the life of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counters {
    pub probes: u64,
    pub successes: u64,
    /// All failed probes, timeouts included.
    pub failures: u64,
    pub timeouts: u64,
    /// Changes of the effective state (probe verdicts and overrides).
    pub transitions: u64,
}

/// Which interval applies now (before jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Stable up: `interval`.
    Steady,
    /// A contrary result was seen, or the state is unknown: `fastinter`.
    Transitioning,
    /// Fully down: `downinter`.
    Down,
}

/// The verdict state machine of one check.
#[derive(Debug, Clone)]
pub struct Verdict {
    cfg: VerdictConfig,
    /// What the probes say, after hysteresis.
    health: State,
    override_: Override,
    consecutive_ok: u32,
    consecutive_fail: u32,
    weight: Option<i32>,
    last_result: Option<ProbeResult>,
    last_error: Option<String>,
    last_change: Option<Instant>,
    next_probe: Instant,
    rng: SplitMix64,
    counters: Counters,
}

impl Verdict {
    /// A new check at `now`. `seed` drives the jitter; the same seed gives the same schedule.
    pub fn new(cfg: VerdictConfig, now: Instant, seed: u64) -> Self {
        let health = match cfg.initial {
            Initial::Up => State::Up,
            Initial::Down => State::Down,
            Initial::Unknown => State::Unknown,
        };
        let mut rng = SplitMix64::new(seed);
        // Stagger the first probe within [0, jitter * interval) so checks that start together
        // (daemon start, config reload) spread out from the first round.
        let first = if cfg.jitter > 0.0 {
            cfg.interval.mul_f64(cfg.jitter * rng.next_unit())
        } else {
            Duration::ZERO
        };
        Self {
            cfg,
            health,
            override_: Override::Auto,
            consecutive_ok: 0,
            consecutive_fail: 0,
            weight: None,
            last_result: None,
            last_error: None,
            last_change: None,
            next_probe: now + first,
            rng,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &VerdictConfig {
        &self.cfg
    }

    /// The state consumers should act on: the override if one is set, else the probe verdict.
    pub fn state(&self) -> State {
        match self.override_ {
            Override::Auto => self.health,
            Override::Up => State::Up,
            Override::Down => State::Down,
        }
    }

    /// The probe verdict, ignoring any override.
    pub fn health(&self) -> State {
        self.health
    }

    pub fn override_state(&self) -> Override {
        self.override_
    }

    pub fn consecutive_ok(&self) -> u32 {
        self.consecutive_ok
    }

    pub fn consecutive_fail(&self) -> u32 {
        self.consecutive_fail
    }

    /// The weight of the latest result (file and dynamic exec checks), if any.
    pub fn weight(&self) -> Option<i32> {
        self.weight
    }

    pub fn last_result(&self) -> Option<&ProbeResult> {
        self.last_result.as_ref()
    }

    /// The detail of the latest failed probe; kept across later successes for diagnosis.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// When the effective state last changed (`None`: never).
    pub fn last_change(&self) -> Option<Instant> {
        self.last_change
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// When the next probe should start.
    pub fn next_probe_at(&self) -> Instant {
        self.next_probe
    }

    pub fn phase(&self) -> Phase {
        match self.health {
            State::Unknown => Phase::Transitioning,
            State::Up if self.consecutive_fail > 0 => Phase::Transitioning,
            State::Up => Phase::Steady,
            State::Down if self.consecutive_ok > 0 => Phase::Transitioning,
            State::Down => Phase::Down,
        }
    }

    /// The interval for the current phase, before jitter.
    pub fn current_interval(&self) -> Duration {
        match self.phase() {
            Phase::Steady => self.cfg.interval,
            Phase::Transitioning => self.cfg.fastinter.unwrap_or(self.cfg.interval),
            Phase::Down => self.cfg.downinter.unwrap_or(self.cfg.interval),
        }
    }

    /// Feed one probe result, completed at `now`. Returns the transition of the effective state,
    /// if any, and schedules the next probe from `now`.
    pub fn observe(&mut self, now: Instant, result: ProbeResult) -> Option<Transition> {
        let before = self.state();
        self.counters.probes += 1;
        if result.ok {
            self.counters.successes += 1;
            self.consecutive_ok = self.consecutive_ok.saturating_add(1);
            self.consecutive_fail = 0;
        } else {
            self.counters.failures += 1;
            if result.timed_out {
                self.counters.timeouts += 1;
            }
            self.consecutive_fail = self.consecutive_fail.saturating_add(1);
            self.consecutive_ok = 0;
            self.last_error = Some(result.detail.clone());
        }
        self.weight = result.weight;

        // `>=` rather than `==`: the counters only pass the threshold while the state is the
        // opposite one, so the flip still happens on exactly the rise-th / fall-th result.
        let reason = match self.health {
            State::Unknown => {
                self.health = if result.ok { State::Up } else { State::Down };
                Some(Reason::FirstResult {
                    ok: result.ok,
                    detail: result.detail.clone(),
                })
            }
            State::Up if self.consecutive_fail >= self.cfg.fall => {
                self.health = State::Down;
                Some(Reason::Fall {
                    failures: self.consecutive_fail,
                    last_error: result.detail.clone(),
                })
            }
            State::Down if self.consecutive_ok >= self.cfg.rise => {
                self.health = State::Up;
                Some(Reason::Rise {
                    successes: self.consecutive_ok,
                })
            }
            _ => None,
        };
        self.last_result = Some(result);
        self.schedule(now);
        reason.and_then(|reason| self.effective_transition(now, before, reason))
    }

    /// Set or clear the manual override at `now`. Returns the transition of the effective state,
    /// if any. Probing goes on underneath, so clearing the override falls back to a current
    /// verdict at once.
    pub fn set_override(&mut self, now: Instant, ov: Override) -> Option<Transition> {
        let before = self.state();
        self.override_ = ov;
        self.effective_transition(now, before, Reason::Override(ov))
    }

    fn effective_transition(
        &mut self,
        now: Instant,
        before: State,
        reason: Reason,
    ) -> Option<Transition> {
        let after = self.state();
        if after == before {
            return None;
        }
        self.last_change = Some(now);
        self.counters.transitions += 1;
        Some(Transition {
            from: before,
            to: after,
            reason,
        })
    }

    fn schedule(&mut self, now: Instant) {
        let base = self.current_interval();
        let u = self.rng.next_unit();
        self.next_probe = now + spread(base, self.cfg.jitter, u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn cfg(rise: u32, fall: u32, initial: Initial) -> VerdictConfig {
        VerdictConfig {
            interval: 1000 * MS,
            timeout: 500 * MS,
            rise,
            fall,
            fastinter: Some(200 * MS),
            downinter: Some(5000 * MS),
            jitter: 0.0,
            initial,
        }
    }

    fn ok() -> ProbeResult {
        ProbeResult::success(MS, "")
    }

    fn fail() -> ProbeResult {
        ProbeResult::failure(MS, "connection refused")
    }

    /// A virtual clock: each probe happens exactly when the core asks for it.
    struct Clock {
        now: Instant,
    }

    impl Clock {
        fn new() -> Self {
            Self {
                now: Instant::now(),
            }
        }

        /// Jump to the scheduled probe time and feed `r`.
        fn probe(&mut self, v: &mut Verdict, r: ProbeResult) -> Option<Transition> {
            self.now = v.next_probe_at();
            v.observe(self.now, r)
        }
    }

    #[test]
    fn initial_states() {
        let now = Instant::now();
        assert_eq!(
            Verdict::new(cfg(2, 3, Initial::Up), now, 0).state(),
            State::Up
        );
        assert_eq!(
            Verdict::new(cfg(2, 3, Initial::Down), now, 0).state(),
            State::Down
        );
        assert_eq!(
            Verdict::new(cfg(2, 3, Initial::Unknown), now, 0).state(),
            State::Unknown
        );
    }

    #[test]
    fn goes_down_after_exactly_fall_failures() {
        for fall in 1..=6 {
            let mut c = Clock::new();
            let mut v = Verdict::new(cfg(2, fall, Initial::Up), c.now, 0);
            for i in 1..fall {
                assert_eq!(c.probe(&mut v, fail()), None, "fall={fall} probe {i}");
                assert_eq!(v.state(), State::Up);
                assert_eq!(v.consecutive_fail(), i);
            }
            let t = c
                .probe(&mut v, fail())
                .expect("transition on the fall-th failure");
            assert_eq!((t.from, t.to), (State::Up, State::Down));
            assert_eq!(
                t.reason,
                Reason::Fall {
                    failures: fall,
                    last_error: "connection refused".into()
                }
            );
            // Further failures do not produce more transitions.
            assert_eq!(c.probe(&mut v, fail()), None);
            assert_eq!(v.state(), State::Down);
        }
    }

    #[test]
    fn goes_up_after_exactly_rise_successes() {
        for rise in 1..=6 {
            let mut c = Clock::new();
            let mut v = Verdict::new(cfg(rise, 3, Initial::Down), c.now, 0);
            for i in 1..rise {
                assert_eq!(c.probe(&mut v, ok()), None, "rise={rise} probe {i}");
                assert_eq!(v.state(), State::Down);
                assert_eq!(v.consecutive_ok(), i);
            }
            let t = c
                .probe(&mut v, ok())
                .expect("transition on the rise-th success");
            assert_eq!((t.from, t.to), (State::Down, State::Up));
            assert_eq!(t.reason, Reason::Rise { successes: rise });
            assert_eq!(c.probe(&mut v, ok()), None);
        }
    }

    #[test]
    fn interrupted_streak_resets() {
        let mut c = Clock::new();
        let mut v = Verdict::new(cfg(2, 3, Initial::Up), c.now, 0);
        c.probe(&mut v, fail());
        c.probe(&mut v, fail());
        c.probe(&mut v, ok()); // breaks the streak
        assert_eq!(v.consecutive_fail(), 0);
        assert_eq!(c.probe(&mut v, fail()), None);
        assert_eq!(c.probe(&mut v, fail()), None);
        assert!(c.probe(&mut v, fail()).is_some());

        // And the same for rise.
        c.probe(&mut v, ok());
        c.probe(&mut v, fail());
        assert_eq!(c.probe(&mut v, ok()), None);
        assert!(c.probe(&mut v, ok()).is_some());
        assert_eq!(v.state(), State::Up);
    }

    #[test]
    fn unknown_resolves_on_first_result() {
        let mut c = Clock::new();
        let mut v = Verdict::new(cfg(3, 3, Initial::Unknown), c.now, 0);
        let t = c.probe(&mut v, fail()).unwrap();
        assert_eq!((t.from, t.to), (State::Unknown, State::Down));
        assert!(matches!(t.reason, Reason::FirstResult { ok: false, .. }));

        let mut v = Verdict::new(cfg(3, 3, Initial::Unknown), c.now, 0);
        let t = c.probe(&mut v, ok()).unwrap();
        assert_eq!((t.from, t.to), (State::Unknown, State::Up));
    }

    #[test]
    fn interval_steady_fast_and_down() {
        let mut c = Clock::new();
        let start = c.now;
        let mut v = Verdict::new(cfg(2, 2, Initial::Up), start, 0);
        // No jitter: first probe immediately.
        assert_eq!(v.next_probe_at(), start);

        c.probe(&mut v, ok());
        assert_eq!(v.phase(), Phase::Steady);
        assert_eq!(v.next_probe_at() - c.now, 1000 * MS);

        c.probe(&mut v, fail()); // contrary result: transition under way
        assert_eq!(v.phase(), Phase::Transitioning);
        assert_eq!(v.next_probe_at() - c.now, 200 * MS);

        c.probe(&mut v, fail()); // now down
        assert_eq!(v.state(), State::Down);
        assert_eq!(v.phase(), Phase::Down);
        assert_eq!(v.next_probe_at() - c.now, 5000 * MS);

        c.probe(&mut v, ok()); // contrary again: fastinter
        assert_eq!(v.next_probe_at() - c.now, 200 * MS);
        c.probe(&mut v, ok()); // up
        assert_eq!(v.state(), State::Up);
        assert_eq!(v.next_probe_at() - c.now, 1000 * MS);
    }

    #[test]
    fn unknown_uses_fastinter() {
        let now = Instant::now();
        let v = Verdict::new(cfg(2, 2, Initial::Unknown), now, 0);
        assert_eq!(v.current_interval(), 200 * MS);
    }

    #[test]
    fn intervals_default_to_interval() {
        let mut conf = cfg(1, 1, Initial::Down);
        conf.fastinter = None;
        conf.downinter = None;
        let v = Verdict::new(conf, Instant::now(), 0);
        assert_eq!(v.current_interval(), 1000 * MS);
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        let mut conf = cfg(1, 1, Initial::Up);
        conf.jitter = 0.25;
        let start = Instant::now();
        let run = |seed| {
            let mut v = Verdict::new(conf.clone(), start, seed);
            let mut c = Clock { now: start };
            let mut times = vec![v.next_probe_at() - start];
            for _ in 0..50 {
                c.probe(&mut v, ok());
                let d = v.next_probe_at() - c.now;
                assert!(d >= 750 * MS && d < 1250 * MS, "{d:?}");
                times.push(v.next_probe_at() - start);
            }
            times
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        // The first probe lands in [0, jitter * interval).
        for seed in 0..100 {
            let v = Verdict::new(conf.clone(), start, seed);
            assert!(v.next_probe_at() - start < 250 * MS);
        }
        // Different seeds actually spread the first probes out.
        let firsts: std::collections::HashSet<_> = (0..20)
            .map(|s| Verdict::new(conf.clone(), start, s).next_probe_at())
            .collect();
        assert!(firsts.len() > 15);
    }

    #[test]
    fn override_forces_and_releases() {
        let mut c = Clock::new();
        let mut v = Verdict::new(cfg(2, 2, Initial::Up), c.now, 0);
        let t = v.set_override(c.now, Override::Down).unwrap();
        assert_eq!((t.from, t.to), (State::Up, State::Down));
        assert_eq!(t.reason, Reason::Override(Override::Down));
        assert_eq!(v.last_change(), Some(c.now));
        // Same override again: no transition.
        assert_eq!(v.set_override(c.now, Override::Down), None);

        // Probes keep running under the override; the health verdict moves, the state does not.
        c.probe(&mut v, fail());
        assert_eq!(c.probe(&mut v, fail()), None);
        assert_eq!(v.health(), State::Down);
        assert_eq!(v.state(), State::Down);
        c.probe(&mut v, ok());
        assert_eq!(c.probe(&mut v, ok()), None, "no event while overridden");
        assert_eq!(v.health(), State::Up);

        // Releasing: health is up, effective was down -> transition to up.
        let t = v.set_override(c.now, Override::Auto).unwrap();
        assert_eq!((t.from, t.to), (State::Down, State::Up));

        // Forcing up while healthy: nothing changes.
        assert_eq!(v.set_override(c.now, Override::Up), None);
        c.probe(&mut v, fail());
        assert_eq!(c.probe(&mut v, fail()), None);
        assert_eq!(v.state(), State::Up);
        let t = v.set_override(c.now, Override::Auto).unwrap();
        assert_eq!((t.from, t.to), (State::Up, State::Down));
        assert_eq!(v.counters().transitions, 3);
    }

    #[test]
    fn counters_and_last_error() {
        let mut c = Clock::new();
        let mut v = Verdict::new(cfg(1, 1, Initial::Up), c.now, 0);
        c.probe(&mut v, ok());
        c.probe(&mut v, fail());
        c.probe(&mut v, ProbeResult::timeout(500 * MS, "connect"));
        c.probe(&mut v, ok());
        let n = v.counters();
        assert_eq!(
            n,
            Counters {
                probes: 4,
                successes: 2,
                failures: 2,
                timeouts: 1,
                transitions: 2
            }
        );
        assert_eq!(v.last_error(), Some("connect timed out after 500 ms"));
        assert!(v.last_result().unwrap().ok);
    }

    #[test]
    fn weight_follows_latest_result() {
        let mut c = Clock::new();
        let mut v = Verdict::new(cfg(1, 1, Initial::Down), c.now, 0);
        c.probe(&mut v, ok().with_weight(10));
        assert_eq!(v.weight(), Some(10));
        assert_eq!(v.state(), State::Up);
        let t = c.probe(&mut v, fail().with_weight(0)).unwrap();
        assert_eq!(t.to, State::Down);
        assert_eq!(v.weight(), Some(0));
    }

    #[test]
    fn last_change_tracks_transitions() {
        let mut c = Clock::new();
        let mut v = Verdict::new(cfg(1, 1, Initial::Down), c.now, 0);
        assert_eq!(v.last_change(), None);
        c.probe(&mut v, ok());
        let t1 = c.now;
        assert_eq!(v.last_change(), Some(t1));
        c.probe(&mut v, ok());
        assert_eq!(v.last_change(), Some(t1));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Against a reference model: the state flips exactly when the current streak of
            /// contrary results reaches rise/fall, and never otherwise.
            #[test]
            fn matches_reference_model(
                rise in 1u32..5,
                fall in 1u32..5,
                start_up in any::<bool>(),
                results in proptest::collection::vec(any::<bool>(), 0..64),
            ) {
                let initial = if start_up { Initial::Up } else { Initial::Down };
                let mut c = Clock::new();
                let mut v = Verdict::new(cfg(rise, fall, initial), c.now, 3);
                let mut up = start_up;
                let mut streak = 0u32; // contrary results in a row
                for r in results {
                    let contrary = r != up;
                    streak = if contrary { streak + 1 } else { 0 };
                    let flip = contrary && streak == if up { fall } else { rise };
                    let t = c.probe(&mut v, if r { ok() } else { fail() });
                    prop_assert_eq!(t.is_some(), flip);
                    if flip {
                        up = !up;
                        streak = 0;
                    }
                    prop_assert_eq!(v.state().is_up(), up);
                }
            }
        }
    }
}
