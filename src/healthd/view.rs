//! The health crate's `CheckStatus` as the status model shows it.

use std::time::Instant;

use health::CheckStatus;

use crate::config::CheckConfig;
use crate::status::{CheckCounters, CheckView};

pub fn view(name: &str, cfg: &CheckConfig, st: &CheckStatus) -> CheckView {
    let now_ms = crate::daemon::unix_ms();
    // Monotonic instants become wall-clock times only here, for display.
    let to_unix = |t: Instant| now_ms.saturating_sub(t.elapsed().as_millis() as u64);
    let r = st.last_result.as_ref();
    CheckView {
        name: name.to_string(),
        kind: cfg.kind.as_str().to_string(),
        target: cfg.describe_target(),
        state: st.state.to_string(),
        health: st.health.to_string(),
        override_state: st.override_state.to_string(),
        consecutive_ok: st.consecutive_ok,
        consecutive_fail: st.consecutive_fail,
        last_result: r.map(|r| {
            match (r.ok, r.timed_out) {
                (true, _) => "ok",
                (false, true) => "timeout",
                (false, false) => "fail",
            }
            .to_string()
        }),
        last_detail: r.map(|r| r.detail.clone()).filter(|d| !d.is_empty()),
        latency_ms: st.last_latency.map(|l| l.as_secs_f64() * 1000.0),
        last_error: st.last_error.clone(),
        last_change_unix_ms: st.last_change.map(to_unix),
        weight: st.weight,
        interval_ms: cfg.interval.get().as_millis() as u64,
        rise: cfg.rise,
        fall: cfg.fall,
        counters: CheckCounters {
            probes: st.counters.probes,
            successes: st.counters.successes,
            failures: st.counters.failures,
            timeouts: st.counters.timeouts,
            transitions: st.counters.transitions,
        },
    }
}
