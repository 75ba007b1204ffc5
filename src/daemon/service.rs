//! The daemon's side of its systemd unit (`Type=notify`, `WatchdogSec=`): what it tells the
//! service manager and when. `READY=1` only after the control socket has answered a status
//! request the way `appctl` asks it, so `systemctl start` returning means `appctl` works;
//! `WATCHDOG=1` from the supervisor's own loop, so a wedged supervisor (or a runtime that no
//! longer schedules it) is restarted; `STATUS=` a one-line summary for `systemctl status`.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::notify::{self, Notifier, State};
use super::start::Daemon;
use crate::control::protocol::{Command, ReloadReply, Request, Response, PROTOCOL_VERSION};
use crate::status::Status;

/// How long the control socket gets to answer the readiness probe. Starting takes
/// milliseconds; this only bounds a daemon that would otherwise never say it is ready.
const READY_PROBE: Duration = Duration::from_secs(10);

/// Asks the control socket for the status, as `appctl status` does.
async fn probe(socket: &Path, within: Duration) -> Result<Status, String> {
    let ask = async {
        let mut stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut line = serde_json::to_vec(&Request {
            version: PROTOCOL_VERSION,
            command: Command::Status,
        })
        .map_err(|e| e.to_string())?;
        line.push(b'\n');
        stream
            .write_all(&line)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut reply = String::new();
        BufReader::new(stream)
            .read_line(&mut reply)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let resp: Response = serde_json::from_str(&reply).map_err(|e| format!("reply: {e}"))?;
        if !resp.ok {
            return Err(resp.error.unwrap_or_else(|| "request failed".into()));
        }
        serde_json::from_value(resp.data).map_err(|e| format!("status: {e}"))
    };
    tokio::time::timeout(within, ask)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", within.as_millis())))
}

/// `READY=1` once the control socket answers; an error when it does not (the caller stops).
pub(super) async fn ready(d: &Daemon, n: &Notifier) -> anyhow::Result<()> {
    if !n.enabled() {
        return Ok(());
    }
    let status = probe(&d.socket, READY_PROBE).await.map_err(|e| {
        anyhow::anyhow!("control socket {} does not answer: {e}", d.socket.display())
    })?;
    n.notify(&[State::Ready, State::Status(status_line(&status))]);
    if let Some(t) = n.watchdog() {
        tracing::info!(
            "systemd watchdog: {} ms, petted every {} ms",
            t.as_millis(),
            notify::watchdog_period(t).as_millis()
        );
    }
    Ok(())
}

pub(super) fn reloading(n: &Notifier, trigger: &str) {
    n.notify(&[
        State::Reloading {
            monotonic_usec: notify::monotonic_usec(),
        },
        State::Status(format!("reloading ({trigger})")),
    ]);
}

/// `READY=1` after every reload, applied or rejected: either way the daemon serves (a rejected
/// file leaves the running configuration in place), and systemd waits for it.
pub(super) fn reloaded(n: &Notifier, result: &Result<ReloadReply, String>) {
    let status = match result {
        Ok(r) => format!(
            "reloaded: generation {}, {} change(s)",
            r.generation,
            r.changes.len()
        ),
        Err(e) => format!(
            "reload rejected, configuration unchanged: {}",
            e.lines().next().unwrap_or("")
        ),
    };
    n.notify(&[State::Ready, State::Status(status)]);
}

/// `STOPPING=1`, with room for the configured grace and the final sweep should they outlast
/// the unit's `TimeoutStopSec=`.
pub(super) fn stopping(d: &Daemon, n: &Notifier, why: &str) {
    let grace = d.config_tx.borrow().daemon.shutdown_grace.get();
    n.notify(&[
        State::Stopping,
        State::Status(format!("stopping ({why})")),
        State::ExtendTimeout(grace + Duration::from_secs(30)),
    ]);
}

/// The supervisor's watchdog: ticks at half of `WATCHDOG_USEC`; never when there is none.
pub(super) struct Watchdog {
    interval: Option<Interval>,
    period: Duration,
}

impl Watchdog {
    pub fn new(n: &Notifier) -> Watchdog {
        let period = n.watchdog().map(notify::watchdog_period);
        Watchdog {
            interval: period.map(|p| {
                let mut i = tokio::time::interval_at(Instant::now() + p, p);
                // After a stall, one ping now rather than a burst that hides it.
                i.set_missed_tick_behavior(MissedTickBehavior::Delay);
                i
            }),
            period: period.unwrap_or_default(),
        }
    }

    pub async fn tick(&mut self) {
        match &mut self.interval {
            Some(i) => {
                i.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Called from the supervisor's loop: that the loop got here is what the ping certifies.
    /// The status refresh asks the control socket, as the operator would; if it does not
    /// answer the summary says so, but the ping still goes (a restart would fail the node
    /// over while its data plane, VRRP and BGP may be fine).
    pub async fn pet(&self, d: &Daemon, n: &Notifier) {
        let line = match probe(&d.socket, self.period / 2).await {
            Ok(status) => status_line(&status),
            Err(e) => {
                tracing::warn!("control socket {} does not answer: {e}", d.socket.display());
                format!("control socket not answering: {e}")
            }
        };
        n.notify(&[State::Watchdog, State::Status(line)]);
    }
}

/// One line for `systemctl status`: what an operator looks at first.
pub fn status_line(s: &Status) -> String {
    let mut parts = vec![format!("generation {}", s.daemon.config_generation)];
    if s.daemon.last_reload.as_ref().is_some_and(|r| !r.ok) {
        parts.push("last reload rejected".into());
    }
    if !s.vrrp.is_empty() {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for v in &s.vrrp {
            let name = v.state.as_str();
            match counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, c)) => *c += 1,
                None => counts.push((name, 1)),
            }
        }
        let each: Vec<String> = counts.iter().map(|(n, c)| format!("{c} {n}")).collect();
        parts.push(format!("vrrp {}", each.join(", ")));
    }
    if !s.checks.is_empty() {
        let up = s.checks.iter().filter(|c| c.state == "up").count();
        parts.push(format!("checks {up}/{} up", s.checks.len()));
    }
    if let Some(bgp) = s.bgp.as_ref().filter(|b| !b.peers.is_empty()) {
        let est = bgp
            .peers
            .iter()
            .filter(|p| p.state == "established")
            .count();
        parts.push(format!("bgp {est}/{} peers established", bgp.peers.len()));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{CheckView, ReloadOutcome, VrrpInstanceStatus};
    use crate::vrrpd::VrrpState;

    fn status() -> Status {
        Status {
            daemon: crate::status::DaemonStatus {
                config_generation: 3,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn an_empty_daemon_is_its_generation() {
        assert_eq!(status_line(&status()), "generation 3");
    }

    #[test]
    fn the_line_counts_states_checks_and_peers() {
        let mut s = status();
        let vrrp = |state| VrrpInstanceStatus {
            state,
            ..Default::default()
        };
        s.vrrp = vec![
            vrrp(VrrpState::Master),
            vrrp(VrrpState::Backup),
            vrrp(VrrpState::Master),
        ];
        let check = |state: &str| CheckView {
            state: state.into(),
            ..Default::default()
        };
        s.checks = vec![check("up"), check("down"), check("up")];
        s.bgp = Some(crate::bgpd::BgpStatus {
            peers: vec![
                crate::bgpd::PeerStatus {
                    state: "established".into(),
                    ..Default::default()
                },
                crate::bgpd::PeerStatus {
                    state: "active".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        s.daemon.last_reload = Some(ReloadOutcome {
            unix_ms: 0,
            ok: false,
            error: Some("x".into()),
        });
        assert_eq!(
            status_line(&s),
            "generation 3; last reload rejected; vrrp 2 master, 1 backup; checks 2/3 up; \
             bgp 1/2 peers established"
        );
    }
}
