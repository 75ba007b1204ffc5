//! One BFD session in the shell: the sans-IO `bfd::Session`, its send socket, and the IO for
//! its actions (datagrams, events, metrics).

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ::bfd::{Action, Discard, RxMeta, State, StateChange};
use serde_json::json;

use super::metrics::{self, BfdMetrics};
use super::socket::TxSocket;
use super::spec::SessionSpec;
use super::status::BfdSessionStatus;
use crate::events::{BfdEvent, EventLog};

pub struct Shared<'a> {
    pub events: &'a EventLog,
    pub metrics: &'a BfdMetrics,
}

pub struct ShellSession {
    pub spec: SessionSpec,
    pub core: ::bfd::Session,
    /// The send socket, or why it could not be opened (retried every second).
    tx: Result<TxSocket, String>,
    send_errors: u64,
    last_change_unix_ms: Option<u64>,
    /// Up → Down transitions that are path failures (RFC 5882), for the BGP sessions.
    pub failures: u64,
    /// Removed by a reload: AdminDown, its last packets still going out; it takes no
    /// datagrams and is dropped once silent.
    pub retiring: bool,
    /// The peer name used in metrics and events.
    name: String,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl ShellSession {
    /// A started session with discriminator `discr`, its first bfd.XmitAuthSeq `seq`, and its
    /// send socket bound from port `port` on. The configuration was validated, so the core
    /// accepts it; an error here is a bug worth a message, not a panic.
    pub fn new(
        spec: SessionSpec,
        discr: u32,
        seq: u32,
        port: u16,
        now: Instant,
    ) -> Result<ShellSession, String> {
        let mut core = ::bfd::Session::new(spec.core(), discr, seq).map_err(|e| e.to_string())?;
        core.start(now);
        let tx = TxSocket::open(spec.peer, spec.local, port).map_err(|e| e.to_string());
        if let Err(e) = &tx {
            tracing::warn!("bfd {}: cannot open the send socket: {e}", spec.peer);
        }
        Ok(ShellSession {
            name: spec.peer.to_string(),
            spec,
            core,
            tx,
            send_errors: 0,
            last_change_unix_ms: None,
            failures: 0,
            retiring: false,
        })
    }

    /// Opens the send socket again if it failed.
    pub fn retry_socket(&mut self, port: u16) {
        if self.tx.is_err() {
            self.tx =
                TxSocket::open(self.spec.peer, self.spec.local, port).map_err(|e| e.to_string());
        }
    }

    /// Hands a datagram to the core and counts the outcome.
    pub fn receive(&mut self, now: Instant, ttl: u8, payload: &[u8], m: &BfdMetrics) {
        match self.core.handle_packet(now, RxMeta { ttl }, payload) {
            Ok(()) => {
                m.packets_in.get_or_create(&metrics::peer(&self.name)).inc();
            }
            Err(reason) => {
                m.discards
                    .get_or_create(&metrics::with(&self.name, "reason", reason.as_str()))
                    .inc();
            }
        }
    }

    /// Performs the core's actions in order. Returns whether the state changed.
    pub fn perform(&mut self, sh: &Shared<'_>) -> bool {
        let mut changed = false;
        while let Some(a) = self.core.poll_action() {
            match a {
                Action::Transmit(t) => self.send(&t.bytes, sh.metrics),
                Action::StateChanged(c) => {
                    changed = true;
                    self.state_changed(c, sh);
                }
            }
        }
        changed
    }

    fn send(&mut self, bytes: &[u8], m: &BfdMetrics) {
        let sent = match &self.tx {
            Ok(tx) => tx.send(bytes, self.spec.peer).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        match sent {
            Ok(_) => {
                m.packets_out
                    .get_or_create(&metrics::peer(&self.name))
                    .inc();
            }
            Err(e) => {
                if self.send_errors == 0 {
                    tracing::warn!("bfd {}: send failed: {e}", self.name);
                }
                self.send_errors += 1;
                m.send_errors
                    .get_or_create(&metrics::peer(&self.name))
                    .inc();
            }
        }
    }

    fn state_changed(&mut self, c: StateChange, sh: &Shared<'_>) {
        let n = &self.name;
        self.last_change_unix_ms = Some(unix_ms());
        sh.metrics
            .state
            .get_or_create(&metrics::peer(n))
            .set(c.to as i64);
        let st = self.core.status();
        let timing = json!({
            "local_discriminator": st.local_discr,
            "remote_discriminator": st.remote_discr,
            "tx_interval_ms": ms(st.tx_interval),
            "detection_time_ms": st.detection_time.map(ms),
        });
        if c.to == State::Up {
            sh.metrics.up.get_or_create(&metrics::peer(n)).inc();
            tracing::info!(
                "bfd {n}: up (discriminators {:#x}/{:#x})",
                st.local_discr,
                st.remote_discr
            );
            sh.events.emit(
                BfdEvent::SessionUp,
                n,
                format!("BFD session with {n} up"),
                json!({ "from": c.from.as_str(), "timing": timing }),
            );
        } else if c.from == State::Up {
            let failure = c.is_failure();
            if failure {
                self.failures += 1;
            }
            sh.metrics
                .down
                .get_or_create(&metrics::with(n, "failure", &failure.to_string()))
                .inc();
            tracing::warn!(
                "bfd {n}: {} -> {} ({}, remote {})",
                c.from,
                c.to,
                c.diag,
                c.remote_state
            );
            sh.events.emit(
                BfdEvent::SessionDown,
                n,
                format!("BFD session with {n} {}: {}", c.to, c.diag),
                json!({
                    "to": c.to.as_str(),
                    "diag": c.diag.as_str(),
                    "remote_state": c.remote_state.as_str(),
                    "failure": failure,
                }),
            );
        } else {
            tracing::debug!("bfd {n}: {} -> {} ({})", c.from, c.to, c.diag);
        }
    }

    /// Refreshes the gauges that follow the negotiation.
    pub fn export_timing(&self, m: &BfdMetrics) {
        let st = self.core.status();
        m.tx_interval
            .get_or_create(&metrics::peer(&self.name))
            .set(st.tx_interval.as_secs_f64());
        if let Some(d) = st.detection_time {
            m.detection_time
                .get_or_create(&metrics::peer(&self.name))
                .set(d.as_secs_f64());
        }
    }

    /// Removes this session's metrics (the reload removed it).
    pub fn forget_metrics(&self, m: &BfdMetrics) {
        let p = metrics::peer(&self.name);
        m.state.remove(&p);
        m.detection_time.remove(&p);
        m.tx_interval.remove(&p);
    }

    pub fn status(&self) -> BfdSessionStatus {
        let st = self.core.status();
        let stats = self.core.statistics();
        let us = |d: std::time::Duration| d.as_micros() as u64;
        let discards: BTreeMap<String, u64> = stats
            .discards_by_reason()
            .map(|(r, n): (Discard, u64)| (r.as_str().to_string(), n))
            .collect();
        BfdSessionStatus {
            peer: self.name.clone(),
            local_address: self.spec.local.map(|a| a.to_string()),
            source_port: self.tx.as_ref().ok().map(|t| t.port),
            state: st.state.as_str().into(),
            remote_state: st.remote_state.as_str().into(),
            local_diag: st.local_diag.as_str().into(),
            remote_diag: st.remote_diag.as_str().into(),
            local_discriminator: st.local_discr,
            remote_discriminator: st.remote_discr,
            interval_us: us(self.spec.bfd.interval.get()),
            multiplier: self.spec.bfd.multiplier,
            auth: self
                .spec
                .bfd
                .auth
                .as_ref()
                .map(|a| a.auth_type.core().as_str().to_string()),
            tx_interval_us: us(st.tx_interval),
            detection_time_us: st.detection_time.map(us),
            remote_multiplier: st.remote_detect_mult,
            remote_min_rx_us: us(st.remote_min_rx),
            remote_min_tx_us: us(st.remote_desired_min_tx),
            polling: st.polling,
            packets_in: stats.packets_in,
            packets_out: stats.packets_out.saturating_sub(self.send_errors),
            send_errors: self.send_errors,
            discards,
            up_transitions: stats.up_transitions,
            down_transitions: stats.down_transitions,
            polls_completed: stats.polls_completed,
            last_state_change_unix_ms: self.last_change_unix_ms,
            error: self.tx.as_ref().err().cloned(),
        }
    }
}
