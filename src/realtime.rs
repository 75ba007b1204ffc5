//! What the real-time threads (VRRP, BFD) share: a timer with the kernel's precision and
//! SCHED_FIFO scheduling.
//!
//! tokio's timer wheel has a 1 ms resolution and rounds deadlines up, which adds up to a
//! millisecond to every Master_Down and Skew timer and to every BFD transmission and Detection
//! Time; a failover is that timer, so those threads sleep on a CLOCK_MONOTONIC timerfd instead
//! (the clock `Instant` uses on Linux).

use std::io;
use std::time::Instant;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

/// TimerFd implements `AsFd`; tokio's AsyncFd wants `AsRawFd`.
struct Fd(TimerFd);

impl std::os::fd::AsRawFd for Fd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

pub struct PreciseTimer {
    fd: AsyncFd<Fd>,
}

impl PreciseTimer {
    pub fn new() -> io::Result<PreciseTimer> {
        let t = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        // SAFETY: the TimerFd owns its descriptor, which stays open and unchanged for the life
        // of the AsyncFd that takes ownership of it.
        let fd = unsafe { AsyncFd::register(Fd(t)) }.map_err(|e| e.into_parts().1)?;
        Ok(PreciseTimer { fd })
    }

    /// Resolves at `deadline`; arming replaces any earlier deadline.
    pub async fn sleep_until(&self, deadline: Instant) -> io::Result<()> {
        let now = Instant::now();
        if deadline <= now {
            return Ok(());
        }
        self.fd
            .get_ref()
            .0
            .set(
                Expiration::OneShot(TimeSpec::from_duration(deadline - now)),
                TimerSetTimeFlags::empty(),
            )
            .map_err(io::Error::from)?;
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| fd.get_ref().0.wait().map_err(io::Error::from)) {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// The timer of a real-time thread's loop: the timerfd when one could be made, tokio's
/// (1 ms resolution) otherwise.
pub struct LoopTimer(Option<PreciseTimer>);

impl LoopTimer {
    /// `subsystem` names the thread in the warning when there is no timerfd.
    pub fn new(subsystem: &str) -> LoopTimer {
        match PreciseTimer::new() {
            Ok(t) => LoopTimer(Some(t)),
            Err(e) => {
                tracing::warn!(
                    "{subsystem}: no timerfd ({e}); timers fall back to 1 ms resolution"
                );
                LoopTimer(None)
            }
        }
    }

    /// Resolves at `deadline`; never without one.
    pub async fn sleep_until(&self, deadline: Option<Instant>) {
        match (deadline, &self.0) {
            (Some(d), Some(t)) => {
                if t.sleep_until(d).await.is_err() {
                    tokio::time::sleep_until(d.into()).await;
                }
            }
            (Some(d), None) => tokio::time::sleep_until(d.into()).await,
            (None, _) => std::future::pending().await,
        }
    }
}

/// SCHED_FIFO at `priority` for the calling thread; 0 returns it to normal scheduling.
/// `subsystem` names the thread in the warning when the kernel refuses.
pub fn set_realtime(subsystem: &str, priority: u8) {
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    let policy = if priority == 0 {
        libc::SCHED_OTHER
    } else {
        libc::SCHED_FIFO
    };
    // SAFETY: sched_setscheduler with pid 0 changes only the calling thread; `param` is a valid
    // sched_param for the duration of the call.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc != 0 {
        tracing::warn!(
            "{subsystem}: SCHED_FIFO priority {priority} refused ({}); running with normal scheduling",
            std::io::Error::last_os_error()
        );
    }
}
