//! Polling helpers with timeouts that say what they were waiting for.
//!
//! Integration tests wait on asynchronous things (a daemon logging "ready", a
//! VRRP master elected, a file written). Fixed sleeps are slow and flaky;
//! these poll a condition and, on timeout, return an error whose message names
//! the awaited condition, so a failing test explains itself.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::process::Proc;

/// A wait that did not succeed in time (or can never succeed).
///
/// `Debug` prints the same human message as `Display`, so `.unwrap()` /
/// `.expect()` in a test shows it readably.
pub struct WaitError {
    /// What was being awaited, e.g. "log of `applianced` to contain \"ready\"".
    pub what: String,
    /// The timeout that was given.
    pub timeout: Duration,
    /// How long was actually waited.
    pub elapsed: Duration,
    /// Extra context (such as the tail of a log), possibly empty.
    pub detail: String,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:.2?} (limit {:.2?}) waiting for {}",
            self.elapsed, self.timeout, self.what
        )?;
        if !self.detail.is_empty() {
            write!(f, "\n{}", self.detail)?;
        }
        Ok(())
    }
}

impl fmt::Debug for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for WaitError {}

/// Polls `cond` every `poll` until it returns true or `timeout` passes.
///
/// Returns the elapsed time on success. `what` describes the condition and
/// appears in the timeout error. `cond` is always evaluated once more at the
/// deadline, so a slow scheduler cannot turn a met condition into a timeout.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut cond: impl FnMut() -> bool,
) -> Result<Duration, WaitError> {
    let start = Instant::now();
    loop {
        if cond() {
            return Ok(start.elapsed());
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(WaitError {
                what: what.to_string(),
                timeout,
                elapsed,
                detail: String::new(),
            });
        }
        std::thread::sleep(poll.min(timeout - elapsed));
    }
}

/// Waits until `proc`'s captured output contains `needle`.
///
/// Fails early (without waiting out the timeout) if the process exits before
/// printing it; the error includes the exit status and the tail of the log.
pub fn wait_for_log(proc: &Proc, needle: &str, timeout: Duration) -> Result<Duration, WaitError> {
    let what = format!(
        "output of `{}` (pid {}) to contain {needle:?}",
        proc.name(),
        proc.pid()
    );
    let start = Instant::now();
    let mut exited = None;
    let res = wait_until(&what, timeout, Duration::from_millis(20), || {
        if proc.log().contains(needle) {
            return true;
        }
        // Re-read after seeing the exit: the last output may have landed
        // between the two reads.
        if let Some(st) = proc.try_status() {
            exited = Some(st);
            return true;
        }
        false
    });
    let mut err = match res {
        Ok(d) if exited.is_none() || proc.log().contains(needle) => return Ok(d),
        Ok(_) => WaitError {
            what,
            timeout,
            elapsed: start.elapsed(),
            detail: String::new(),
        },
        Err(e) => e,
    };
    if let Some(st) = exited {
        err.what = format!("{} — but the process exited first ({st})", err.what);
    }
    err.detail = format!(
        "--- last lines of {} ---\n{}",
        proc.log_path().display(),
        tail(&proc.log(), 40)
    );
    Err(err)
}

/// Waits until `path` exists.
pub fn wait_for_file(path: impl AsRef<Path>, timeout: Duration) -> Result<Duration, WaitError> {
    let path = path.as_ref();
    wait_until(
        &format!("file {} to exist", path.display()),
        timeout,
        Duration::from_millis(20),
        || path.exists(),
    )
}

/// The last `n` lines of `s`.
pub(crate) fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_succeeds_and_times_out() {
        let mut n = 0;
        let d = wait_until(
            "n to reach 3",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || {
                n += 1;
                n >= 3
            },
        )
        .unwrap();
        assert!(d < Duration::from_secs(5));

        let err = wait_until(
            "never",
            Duration::from_millis(30),
            Duration::from_millis(5),
            || false,
        )
        .unwrap_err();
        assert!(err.elapsed >= Duration::from_millis(30));
        assert!(err.to_string().contains("waiting for never"), "{err}");
    }

    #[test]
    fn wait_for_file_reports_path() {
        let err = wait_for_file("/nonexistent/netns-tests", Duration::from_millis(10)).unwrap_err();
        assert!(format!("{err:?}").contains("/nonexistent/netns-tests to exist"));
        wait_for_file("/", Duration::from_millis(10)).unwrap();
    }

    #[test]
    fn tail_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
