//! What one probe reports. Pure data, shared by the verdict core and the probes.

use std::fmt;
use std::time::Duration;

/// The outcome of a single probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// Did the target pass this probe?
    pub ok: bool,
    /// Time from the start of the probe to its result (or to the timeout).
    pub latency: Duration,
    /// Short human text: empty or a summary on success, the error on failure
    /// ("connection refused", "HTTP 500", "body mismatch", "certificate verify failed: ...").
    pub detail: String,
    /// A weight reported by the target itself: the number in a `track_file`, or the exit code of
    /// a dynamic external command. `None` for checks that do not report one.
    pub weight: Option<i32>,
    /// The probe failed because its timeout elapsed (counted separately for metrics).
    pub timed_out: bool,
}

impl ProbeResult {
    pub fn success(latency: Duration, detail: impl Into<String>) -> Self {
        Self {
            ok: true,
            latency,
            detail: detail.into(),
            weight: None,
            timed_out: false,
        }
    }

    pub fn failure(latency: Duration, detail: impl Into<String>) -> Self {
        Self {
            ok: false,
            latency,
            detail: detail.into(),
            weight: None,
            timed_out: false,
        }
    }

    pub fn timeout(latency: Duration, what: &str) -> Self {
        Self {
            ok: false,
            latency,
            detail: format!("{what} timed out after {} ms", latency.as_millis()),
            weight: None,
            timed_out: true,
        }
    }

    #[must_use]
    pub fn with_weight(mut self, weight: i32) -> Self {
        self.weight = Some(weight);
        self
    }
}

impl fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.ok { "ok" } else { "fail" };
        write!(f, "{verdict} in {} us", self.latency.as_micros())?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if let Some(w) = self.weight {
            write!(f, " (weight {w})")?;
        }
        Ok(())
    }
}
