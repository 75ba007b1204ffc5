//! One task per neighbour: owns a `bgp::Peer` (sans-IO) and carries out what it asks for —
//! dialling, writing, closing — feeding back bytes, closures and timeouts in the order the
//! crate documents.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::bgp::packet::family::Afi;
use ::bgp::{CloseReason, Command, ConnectionId, Event, Family, Peer, PeerConfig, State};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::announce::Routes;
use super::metrics::{label, BgpMetrics};
use super::socket::{self, TtlPolicy};
use super::status::PeerStatus;
use crate::bfdd::BfdStates;
use crate::config::bgp::{BgpConfig, FamilyName, NeighborConfig};
use crate::events::{BgpEvent, EventLog};

/// The routes every peer should carry, and when that was decided (for the latency histogram).
#[derive(Debug, Default)]
pub struct RouteSet {
    pub routes: Routes,
    pub decided_at: Option<Instant>,
}

/// A NOTIFICATION and its queued bytes get this long to leave when a socket is closed.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

pub struct NeighborTask {
    pub global: BgpConfig,
    pub cfg: NeighborConfig,
    pub routes: watch::Receiver<Arc<RouteSet>>,
    pub accepted: mpsc::Receiver<TcpStream>,
    pub events: EventLog,
    pub metrics: BgpMetrics,
    pub status: Arc<Mutex<std::collections::BTreeMap<String, PeerStatus>>>,
    /// Set before `stop` is cancelled when the session is only being restarted (a reload):
    /// then no graceful-shutdown wait.
    pub quick: Arc<AtomicBool>,
    /// `graceful_shutdown_wait` in milliseconds, already shortened to fit the daemon's
    /// shutdown grace; a reload changes it in place.
    pub gshut_wait_ms: Arc<AtomicU64>,
    /// Every peer's BFD state; a growing failure count for ours tears the session down.
    pub bfd: watch::Receiver<BfdStates>,
}

enum Input {
    Connected(ConnectionId, io::Result<TcpStream>),
    Data(ConnectionId, Vec<u8>),
    Closed(ConnectionId),
    Drained(ConnectionId),
}

struct Conn {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

pub fn peer_config(global: &BgpConfig, n: &NeighborConfig) -> PeerConfig {
    let mut pc = PeerConfig::new(global.local_as, n.remote_as, global.router_id);
    pc.hold_time = global.hold_time.get().as_secs().min(u16::MAX as u64) as u16;
    pc.connect_retry_time = global.connect_retry.get();
    pc.idle_hold_min = Duration::from_secs(1);
    pc.idle_hold_max = Duration::from_secs(30);
    pc.passive = n.passive;
    pc.families = n
        .families()
        .into_iter()
        .map(|f| match f {
            FamilyName::Ipv4Unicast => Family::IPV4_UNICAST,
            FamilyName::Ipv6Unicast => Family::IPV6_UNICAST,
        })
        .collect();
    pc
}

pub fn ttl_policy(global: &BgpConfig, n: &NeighborConfig) -> TtlPolicy {
    if n.gtsm {
        TtlPolicy::Gtsm
    } else if let Some(t) = n.multihop {
        TtlPolicy::Multihop(t)
    } else if n.remote_as == global.local_as {
        // iBGP peers are commonly loopback-to-loopback, several hops away.
        TtlPolicy::Multihop(64)
    } else {
        TtlPolicy::Default
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

fn lower(s: State) -> String {
    format!("{s:?}").to_lowercase()
}

struct Driver {
    peer: Peer,
    name: String,
    cfg: NeighborConfig,
    ttl: TtlPolicy,
    connect_timeout: Duration,
    input_tx: mpsc::UnboundedSender<Input>,
    conns: HashMap<ConnectionId, Conn>,
    connecting: HashMap<ConnectionId, JoinHandle<()>>,
    closing: Vec<JoinHandle<()>>,
    /// When the route change not yet on the wire was decided.
    pending_since: Option<Instant>,
    established_at: Option<(Instant, u64)>,
    st: PeerStatus,
    events: EventLog,
    metrics: BgpMetrics,
}

impl NeighborTask {
    pub async fn run(mut self, stop: CancellationToken) {
        let name = self.cfg.address.to_string();
        let seed = unix_ms() ^ (u64::from(self.cfg.remote_as) << 32) ^ name.len() as u64;
        let mut peer = Peer::new(peer_config(&self.global, &self.cfg), seed);
        peer.set_routes(self.routes.borrow_and_update().routes.clone());
        let (input_tx, mut input_rx) = mpsc::unbounded_channel();
        let mut d = Driver {
            peer,
            st: PeerStatus {
                address: name.clone(),
                remote_as: self.cfg.remote_as,
                md5: self.cfg.md5_password.is_some(),
                ..Default::default()
            },
            name,
            ttl: ttl_policy(&self.global, &self.cfg),
            connect_timeout: self.global.connect_retry.get().max(Duration::from_secs(1)),
            cfg: self.cfg.clone(),
            input_tx,
            conns: HashMap::new(),
            connecting: HashMap::new(),
            closing: Vec::new(),
            pending_since: None,
            established_at: None,
            events: self.events.clone(),
            metrics: self.metrics.clone(),
        };
        d.peer.start(Instant::now());
        d.pump();
        // Failures before this task started (a restart of the session by a reload) are not
        // ours to act on.
        let addr = self.cfg.address;
        let mut bfd_failures = self
            .bfd
            .borrow_and_update()
            .get(&addr)
            .map_or(0, |p| p.failures);
        d.st.bfd = self
            .bfd
            .borrow()
            .get(&addr)
            .map(|p| p.state.as_str().to_string());
        d.publish(&self.status);

        let mut shutdown_at: Option<tokio::time::Instant> = None;
        loop {
            let timeout = d.peer.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = stop.cancelled(), if shutdown_at.is_none() => {
                    let wait = if self.quick.load(Ordering::Relaxed)
                        || d.peer.state() != State::Established
                        || d.peer.rib().advertised_count() == 0
                    {
                        Duration::ZERO
                    } else {
                        // RFC 8326: routers lower our preference and move traffic first.
                        d.peer.set_graceful_shutdown(true);
                        Duration::from_millis(self.gshut_wait_ms.load(Ordering::Relaxed))
                    };
                    shutdown_at = Some(tokio::time::Instant::now() + wait);
                }
                _ = tokio::time::sleep_until(shutdown_at.unwrap_or_else(tokio::time::Instant::now)), if shutdown_at.is_some() => break,
                r = self.routes.changed() => {
                    if r.is_err() { break }
                    let set = self.routes.borrow_and_update().clone();
                    d.peer.set_routes(set.routes.clone());
                    if d.pending_since.is_none() {
                        d.pending_since = set.decided_at;
                    }
                }
                r = self.bfd.changed() => {
                    if r.is_err() { break }
                    let now_bfd = self.bfd.borrow_and_update().get(&addr).copied();
                    d.st.bfd = now_bfd.map(|p| p.state.as_str().to_string());
                    let failures = now_bfd.map_or(0, |p| p.failures);
                    if failures > bfd_failures {
                        d.bfd_down();
                    }
                    bfd_failures = failures;
                }
                Some(input) = d_recv(&mut input_rx) => d.input(input),
                Some(stream) = self.accepted.recv() => d.accept(stream),
                _ = sleep_until_opt(timeout) => d.peer.handle_timeout(Instant::now()),
            }
            d.pump();
            d.publish(&self.status);
        }

        // Withdraw everything, then Cease/Administrative Shutdown; both leave through the
        // writers in order before the sockets close.
        d.peer.set_routes(Routes::new());
        d.pump();
        d.peer
            .stop(Instant::now(), Some("applianced shutting down"));
        d.pump();
        d.publish(&self.status);
        for (_, c) in d.conns.drain() {
            drop(c.tx);
            d.closing.push(c.writer);
            c.reader.abort();
        }
        for (_, h) in d.connecting.drain() {
            h.abort();
        }
        for h in d.closing.drain(..) {
            let _ = tokio::time::timeout(CLOSE_FLUSH, h).await;
        }
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&d.name);
        d.metrics.established.remove(&label("neighbor", &d.name));
    }
}

async fn d_recv(rx: &mut mpsc::UnboundedReceiver<Input>) -> Option<Input> {
    rx.recv().await
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    /// RFC 5882 §4.3: the neighbour's BFD session failed; the BGP session goes down now
    /// rather than after the hold time.
    fn bfd_down(&mut self) {
        let state = self.peer.state();
        if !self.peer.handle_bfd_down(Instant::now()) {
            return;
        }
        let n = &self.name;
        tracing::warn!("bgp {n}: BFD down, session torn down ({})", lower(state));
        self.st.bfd_teardowns += 1;
        self.metrics
            .bfd_teardowns
            .get_or_create(&label("neighbor", n))
            .inc();
        self.events.emit(
            BgpEvent::BfdDown,
            n,
            format!("BFD session with {n} failed: BGP session torn down"),
            json!({ "state": lower(state) }),
        );
    }

    fn input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Connected(id, result) => {
                if self.connecting.remove(&id).is_none() {
                    return; // the core gave up on it meanwhile
                }
                match result {
                    Ok(stream) => match stream.local_addr() {
                        Ok(local) => {
                            self.spawn_conn(id, stream);
                            self.peer.handle_connected(now, id, local.ip());
                        }
                        Err(_) => self.peer.handle_closed(now, id),
                    },
                    Err(e) => {
                        tracing::info!("bgp {}: dialling failed: {e}", self.name);
                        self.st.last_error = Some(format!("connect: {e}"));
                        self.peer.handle_closed(now, id);
                    }
                }
            }
            Input::Data(id, bytes) => {
                if self.conns.contains_key(&id) {
                    self.peer.handle_data(now, id, &bytes);
                }
            }
            Input::Closed(id) => {
                if let Some(c) = self.conns.remove(&id) {
                    c.reader.abort();
                    c.writer.abort();
                    self.peer.handle_closed(now, id);
                }
            }
            Input::Drained(id) => {
                if self.conns.contains_key(&id) {
                    self.peer.handle_transmit_drained(now, id);
                }
            }
        }
    }

    fn accept(&mut self, stream: TcpStream) {
        let Ok(local) = stream.local_addr() else {
            return;
        };
        if let Err(e) = socket::apply_accepted(&stream, self.ttl) {
            tracing::warn!("bgp {}: TTL on accepted connection: {e}", self.name);
        }
        match self.peer.accept(Instant::now(), local.ip()) {
            Some(id) => {
                tracing::info!(
                    "bgp {}: accepted a connection from the peer ({})",
                    self.name,
                    lower(self.peer.state())
                );
                self.spawn_conn(id, stream);
            }
            None => tracing::info!(
                "bgp {}: incoming connection closed (two connections already, or stopping)",
                self.name
            ),
        }
    }

    fn spawn_conn(&mut self, id: ConnectionId, stream: TcpStream) {
        let (mut r, mut w) = stream.into_split();
        let tx = self.input_tx.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Input::Closed(id));
                        return;
                    }
                    Ok(n) => {
                        if tx.send(Input::Data(id, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
        let tx = self.input_tx.clone();
        let writer = tokio::spawn(async move {
            while let Some(data) = wrx.recv().await {
                let ok = tokio::time::timeout(CLOSE_FLUSH * 5, w.write_all(&data)).await;
                if !matches!(ok, Ok(Ok(()))) {
                    let _ = tx.send(Input::Closed(id));
                    return;
                }
                if wrx.is_empty() {
                    let _ = tx.send(Input::Drained(id));
                }
            }
            // Sender dropped: the core closed this connection; FIN after the last bytes.
            let _ = w.shutdown().await;
        });
        self.conns.insert(
            id,
            Conn {
                tx: wtx,
                reader,
                writer,
            },
        );
    }

    fn connect(&mut self, id: ConnectionId) {
        let tx = self.input_tx.clone();
        let peer = self.cfg.address;
        let local = self.cfg.local_address;
        let ttl = self.ttl;
        let key = self.cfg.md5_password.as_ref().map(|k| k.expose().to_vec());
        let timeout = self.connect_timeout;
        let h = tokio::spawn(async move {
            let r = socket::connect(peer, local, ttl, key.as_deref(), timeout).await;
            let _ = tx.send(Input::Connected(id, r));
        });
        self.connecting.insert(id, h);
    }

    /// Drains the core's outputs in the documented order.
    fn pump(&mut self) {
        let now = Instant::now();
        while let Some(t) = self.peer.poll_transmit(now) {
            if let Some(c) = self.conns.get(&t.conn) {
                // Message type octet of the first message: 2 is UPDATE.
                if t.data.get(18) == Some(&2) {
                    if let Some(since) = self.pending_since.take() {
                        self.metrics
                            .update_latency
                            .observe(since.elapsed().as_secs_f64());
                    }
                }
                let _ = c.tx.send(t.data);
            }
        }
        while let Some(cmd) = self.peer.poll_command() {
            match cmd {
                Command::Connect(id) => self.connect(id),
                Command::Close(id) => {
                    if let Some(c) = self.conns.remove(&id) {
                        c.reader.abort();
                        drop(c.tx);
                        self.closing.push(c.writer);
                    }
                    if let Some(h) = self.connecting.remove(&id) {
                        h.abort();
                    }
                }
            }
        }
        self.closing.retain(|h| !h.is_finished());
        while let Some(ev) = self.peer.poll_event() {
            self.event(ev);
        }
        if self.peer.state() != State::Established {
            // Nothing to measure until a session can carry it.
            self.pending_since = None;
        }
    }

    fn event(&mut self, ev: Event) {
        let n = &self.name;
        match ev {
            Event::StateChanged { from, to } => {
                tracing::info!("bgp {n}: {} -> {}", lower(from), lower(to));
                if to == State::Established {
                    // Errors of the attempts that led here are history now.
                    self.st.last_error = None;
                    self.established_at = Some((Instant::now(), unix_ms()));
                    self.metrics
                        .established
                        .get_or_create(&label("neighbor", n))
                        .set(1);
                    self.events.emit(
                        BgpEvent::PeerEstablished,
                        n,
                        format!("session with {n} (AS {}) established", self.cfg.remote_as),
                        json!({ "remote_as": self.cfg.remote_as }),
                    );
                } else if from == State::Established {
                    self.established_at = None;
                    self.metrics
                        .established
                        .get_or_create(&label("neighbor", n))
                        .set(0);
                    self.events.emit(
                        BgpEvent::PeerDown,
                        n,
                        format!("session with {n} left established (now {})", lower(to)),
                        json!({ "state": lower(to) }),
                    );
                }
            }
            Event::ConnectionClosed { conn, reason } => {
                let why = match &reason {
                    CloseReason::NotificationSent(m) => format!("we sent NOTIFICATION {m}"),
                    CloseReason::NotificationReceived(m) => {
                        format!("the peer sent NOTIFICATION {m}")
                    }
                    CloseReason::TcpFailed => "TCP closed or failed".into(),
                    CloseReason::ConnectTimeout => "no answer within connect_retry".into(),
                    CloseReason::Stopped => "stopped".into(),
                    CloseReason::BfdDown => "BFD down".into(),
                };
                tracing::info!("bgp {n}: connection {} closed: {why}", conn.0);
            }
            Event::CollisionResolved { kept, closed } => tracing::info!(
                "bgp {n}: connection collision: kept {}, closed {}",
                kept.0,
                closed.0
            ),
            Event::NotificationSent(m) => {
                self.metrics
                    .notifications_sent
                    .get_or_create(&label("neighbor", n))
                    .inc();
                self.events.emit(
                    BgpEvent::NotificationSent,
                    n,
                    format!("NOTIFICATION to {n}: {m}"),
                    json!({}),
                );
                self.st.last_notification_sent = Some(m.to_string());
            }
            Event::NotificationReceived(m) => {
                self.metrics
                    .notifications_received
                    .get_or_create(&label("neighbor", n))
                    .inc();
                self.events.emit(
                    BgpEvent::NotificationReceived,
                    n,
                    format!("NOTIFICATION from {n}: {m}"),
                    json!({}),
                );
                self.st.last_notification_received = Some(m.to_string());
            }
            _ => {}
        }
    }

    fn publish(&mut self, all: &Mutex<std::collections::BTreeMap<String, PeerStatus>>) {
        let st = &mut self.st;
        st.state = lower(self.peer.state());
        st.prefixes_advertised = self.peer.rib().advertised_count();
        st.established_unix_ms = self.established_at.map(|(_, u)| u);
        st.uptime_ms = self
            .established_at
            .map(|(t, _)| t.elapsed().as_millis() as u64);
        match self.peer.negotiated() {
            Some(neg) if self.peer.state() == State::Established => {
                st.hold_time = Some(neg.hold_time);
                st.families = neg.families.iter().map(|f| family_name(*f)).collect();
                st.four_octet_as = neg.four_octet_as;
                st.route_refresh = neg.route_refresh;
                st.peer_graceful_restart = neg.peer_graceful_restart.is_some();
            }
            _ => {
                st.hold_time = None;
                st.families.clear();
            }
        }
        all.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.name.clone(), st.clone());
    }
}

fn family_name(f: Family) -> String {
    match f.afi {
        Afi::Ipv4 => "ipv4-unicast".into(),
        Afi::Ipv6 => "ipv6-unicast".into(),
        _ => f.to_string(),
    }
}

/// The address a neighbour's session is accepted on (its listener).
pub fn listen_address(n: &NeighborConfig) -> IpAddr {
    n.local_address.unwrap_or(match n.address {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    })
}
