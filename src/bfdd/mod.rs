//! The BFD subsystem: one single-hop session (RFC 5880, RFC 5881) per `[[bgp.neighbor]]` with
//! `bfd`, each a sans-IO `::bfd::Session` driven here with UDP sockets and timers. The BGP
//! sessions watch [`BfdStates`] and tear down when their peer's session fails (RFC 5882).
//!
//! Like VRRP, it runs on its own OS thread with a current-thread runtime, SCHED_FIFO when
//! configured, and sleeps on a timerfd: a 50 ms x 3 session must notice a silent peer 150 ms
//! after its last packet, not when a busy runtime gets round to it.

mod metrics;
mod session;
mod socket;
mod spec;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::bfd::{peek_your_discriminator, Diagnostic, Discard, Jitter};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::events::{BfdEvent, EventLog};

pub use spec::{reload_plan, SessionSpec};
pub use status::{BfdHandle, BfdPeer, BfdSessionStatus, BfdStates, BfdStatus};

use metrics::BfdMetrics;
use session::{Shared, ShellSession};
use socket::{Received, RxSocket};

const THREAD_NAME: &str = "bfd";
/// How often a send socket that could not be opened is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// At shutdown, AdminDown packets go out for a Detection Time of the peer (RFC 5880
/// §6.8.16), but never longer than this.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);
/// At shutdown, the sessions stay Up while BGP closes gracefully, but never longer than this
/// past the daemon's shutdown grace (then the supervisor stops waiting anyway).
const BGP_WAIT_MARGIN: Duration = Duration::from_millis(500);

pub struct Bfd {
    pub events: EventLog,
    pub metrics: crate::metrics::Metrics,
    pub config: watch::Receiver<Arc<Config>>,
    /// `appctl bfd` requests.
    pub requests: mpsc::Receiver<oneshot::Sender<BfdStatus>>,
    /// Each peer's state and failures, for the BGP sessions.
    pub states: watch::Sender<BfdStates>,
    /// Cancelled once the BGP sessions have closed at shutdown.
    pub bgp_stopped: CancellationToken,
}

struct RxTask {
    handle: JoinHandle<()>,
    sock: Arc<RxSocket>,
}

/// The subsystem's mutable state on its thread.
struct Engine {
    sessions: Vec<ShellSession>,
    rx: BTreeMap<IpAddr, RxTask>,
    /// Datagrams no session took, by reason.
    unmatched: BTreeMap<Discard, u64>,
    rng: Rng,
}

impl Bfd {
    /// Runs the subsystem on its own OS thread with its own runtime, real-time scheduled when
    /// configured.
    pub async fn run_isolated(self, stop: CancellationToken) {
        let (done_tx, done_rx) = oneshot::channel();
        let prio = rt_priority(&self.config.borrow());
        let spawned = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                if prio > 0 {
                    crate::realtime::set_realtime(THREAD_NAME, prio);
                }
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("bfd: cannot start its runtime: {e}");
                        return;
                    }
                };
                rt.block_on(self.run(stop));
                let _ = done_tx.send(());
            });
        match spawned {
            Ok(_) => {
                let _ = done_rx.await;
            }
            Err(e) => tracing::error!("bfd: cannot start its thread: {e}"),
        }
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let m = BfdMetrics::register(&self.metrics);
        let (rx_tx, mut rx_rx) = mpsc::channel::<Received>(4096);
        let precise = crate::realtime::LoopTimer::new("bfd");
        let mut retry = tokio::time::interval(RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut e = Engine {
            sessions: Vec::new(),
            rx: BTreeMap::new(),
            unmatched: BTreeMap::new(),
            rng: Rng::seeded(),
        };
        let mut cfg = self.config.borrow_and_update().clone();
        e.apply(&cfg, Instant::now(), &self.shared(&m));
        // Set when the daemon stops: the sessions run on until BGP is done (or this passes).
        let mut stopping: Option<tokio::time::Instant> = None;

        loop {
            let sh = self.shared(&m);
            e.settle(&sh);
            e.ensure_rx(&rx_tx);
            self.publish(&e);

            let deadline = e.next_timeout();
            let sleep = precise.sleep_until(deadline);
            // Biased: shutdown first, then due timers, so a stream of datagrams never delays a
            // transmission or a Detection Time.
            tokio::select! {
                biased;
                _ = stop.cancelled(), if stopping.is_none() => {
                    // The BGP sessions close first (RFC 8326's graceful shutdown included): a
                    // peer that took our AdminDown for a failure (BIRD 2.0 does, against RFC
                    // 5882 §3.2) would otherwise drop them, and the traffic, at once.
                    let grace = cfg.daemon.shutdown_grace.get().saturating_sub(BGP_WAIT_MARGIN);
                    stopping = Some(tokio::time::Instant::now() + grace);
                }
                _ = self.bgp_stopped.cancelled(), if stopping.is_some() => break,
                _ = tokio::time::sleep_until(stopping.unwrap_or_else(tokio::time::Instant::now)), if stopping.is_some() => {
                    tracing::warn!("bfd: BGP did not finish closing; stopping the sessions anyway");
                    break;
                }
                _ = sleep => {
                    // Whatever arrived before the timer fired is handled first: a Detection
                    // Time that fires late must not take down a session whose packet is
                    // waiting in a socket (the channel holds older datagrams than the sockets).
                    let now = Instant::now();
                    while let Ok(pkt) = rx_rx.try_recv() {
                        e.dispatch(pkt, now, &m);
                    }
                    let socks: Vec<Arc<RxSocket>> = e.rx.values().map(|t| t.sock.clone()).collect();
                    for s in socks {
                        while let Some(pkt) = s.try_recv() {
                            e.dispatch(pkt, now, &m);
                        }
                    }
                    e.fire(now);
                }
                r = self.config.changed(), if stopping.is_none() => {
                    if r.is_err() { break }
                    let new = self.config.borrow_and_update().clone();
                    if new.bgp != cfg.bgp {
                        let (old_p, new_p) = (rt_priority(&cfg), rt_priority(&new));
                        if old_p != new_p && std::thread::current().name() == Some(THREAD_NAME) {
                            crate::realtime::set_realtime(THREAD_NAME, new_p);
                        }
                        e.apply(&new, Instant::now(), &self.shared(&m));
                    }
                    cfg = new;
                }
                Some(pkt) = rx_rx.recv() => {
                    let now = Instant::now();
                    e.dispatch(pkt, now, &m);
                    while let Ok(more) = rx_rx.try_recv() {
                        e.dispatch(more, now, &m);
                    }
                }
                Some(reply) = self.requests.recv() => {
                    let _ = reply.send(e.status());
                }
                _ = retry.tick() => {
                    for s in &mut e.sessions {
                        let port = e.rng.port();
                        s.retry_socket(port);
                    }
                }
            }
        }

        // Shutdown, BGP being closed: every session goes AdminDown (RFC 5880 §6.8.16), so that
        // peers know we left on purpose (RFC 5882 §3.2); the AdminDown packets go out for a
        // Detection Time, then the thread ends.
        let sh = self.shared(&m);
        let now = Instant::now();
        // A peer that is Up with us gets the AdminDown packets for its whole Detection Time;
        // to the others (already Down) the first one says enough.
        let mut was_up = BTreeSet::new();
        for s in &mut e.sessions {
            if s.retiring || s.core.state() == ::bfd::State::Up {
                was_up.insert(s.core.local_discr());
            }
            s.core.admin_down(now, Diagnostic::AdministrativelyDown);
        }
        e.settle(&sh);
        self.publish(&e);
        let limit = now + SHUTDOWN_LIMIT;
        while let Some(d) = e
            .sessions
            .iter()
            .filter(|s| was_up.contains(&s.core.local_discr()))
            .filter_map(|s| s.core.poll_timeout())
            .min()
            .filter(|d| *d <= limit)
        {
            tokio::time::sleep_until(d.into()).await;
            e.fire(Instant::now());
            e.settle(&sh);
        }
        for (_, t) in std::mem::take(&mut e.rx) {
            t.handle.abort();
        }
    }

    fn shared<'a>(&'a self, m: &'a BfdMetrics) -> Shared<'a> {
        Shared {
            events: &self.events,
            metrics: m,
        }
    }

    /// Publishes each peer's state for the BGP sessions, when it changed.
    fn publish(&self, e: &Engine) {
        let states: BfdStates = e
            .sessions
            .iter()
            .filter(|s| !s.retiring)
            .map(|s| {
                (
                    s.spec.peer,
                    BfdPeer {
                        state: s.core.state(),
                        failures: s.failures,
                    },
                )
            })
            .collect();
        self.states.send_if_modified(|cur| {
            let changed = *cur != states;
            if changed {
                *cur = states;
            }
            changed
        });
    }
}

fn rt_priority(cfg: &Config) -> u8 {
    cfg.bgp.as_ref().map_or(0, |b| b.bfd_realtime_priority)
}

impl Engine {
    /// Brings the sessions in line with the configuration (`spec::reload_plan` describes the
    /// same): removed ones go AdminDown and retire, changed ones are reconfigured in place
    /// (a Poll Sequence for new timers), new ones start; untouched ones are not disturbed.
    fn apply(&mut self, cfg: &Config, now: Instant, sh: &Shared<'_>) {
        let want = spec::specs(cfg);
        for s in self.sessions.iter_mut().filter(|s| !s.retiring) {
            match want.iter().find(|w| w.peer == s.spec.peer) {
                Some(w) if w.same_session(&s.spec) => {
                    if *w != s.spec {
                        match s.core.reconfigure(now, w.core()) {
                            Ok(()) => {
                                sh.events.emit(
                                    BfdEvent::SessionChanged,
                                    &w.peer.to_string(),
                                    format!(
                                        "BFD session with {} now {} x{}",
                                        w.peer, w.bfd.interval, w.bfd.multiplier
                                    ),
                                    json!({
                                        "interval": w.bfd.interval.to_string(),
                                        "multiplier": w.bfd.multiplier,
                                    }),
                                );
                                s.spec = w.clone();
                            }
                            Err(err) => tracing::error!("bfd {}: {err}", w.peer),
                        }
                    }
                }
                _ => {
                    s.core.admin_down(now, Diagnostic::AdministrativelyDown);
                    s.retiring = true;
                    sh.events.emit(
                        BfdEvent::SessionRemoved,
                        &s.spec.peer.to_string(),
                        format!("BFD session with {} removed", s.spec.peer),
                        json!({}),
                    );
                }
            }
        }
        for w in want {
            if self
                .sessions
                .iter()
                .any(|s| !s.retiring && s.spec.peer == w.peer)
            {
                continue;
            }
            let discr = self.discriminator();
            let (seq, port) = (self.rng.next_u64() as u32, self.rng.port());
            let peer = w.peer;
            let desc = format!("{} x{}", w.bfd.interval, w.bfd.multiplier);
            match ShellSession::new(w, discr, seq, port, now) {
                Ok(s) => {
                    sh.events.emit(
                        BfdEvent::SessionAdded,
                        &peer.to_string(),
                        format!("BFD session with {peer} added ({desc})"),
                        json!({ "local_discriminator": discr }),
                    );
                    self.sessions.push(s);
                }
                Err(err) => tracing::error!("bfd {peer}: cannot create the session: {err}"),
            }
        }
    }

    /// A random discriminator, nonzero and unique on this system (RFC 5880 §6.8.1).
    fn discriminator(&mut self) -> u32 {
        loop {
            let d = self.rng.next_u64() as u32;
            if d != 0 && !self.sessions.iter().any(|s| s.core.local_discr() == d) {
                return d;
            }
        }
    }

    /// Performs every session's actions and drops retired sessions that fell silent.
    fn settle(&mut self, sh: &Shared<'_>) {
        for s in &mut self.sessions {
            if s.perform(sh) {
                s.export_timing(sh.metrics);
            }
        }
        self.sessions.retain(|s| {
            let gone = s.retiring && s.core.poll_timeout().is_none();
            if gone {
                s.forget_metrics(sh.metrics);
            }
            !gone
        });
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.sessions
            .iter()
            .filter_map(|s| s.core.poll_timeout())
            .min()
    }

    /// Fires the timers due at `now`, each session with a fresh jitter.
    fn fire(&mut self, now: Instant) {
        for s in &mut self.sessions {
            if s.core.poll_timeout().is_some_and(|d| d <= now) {
                let j = Jitter(self.rng.next_u64() as u16);
                s.core.handle_timeout(now, j);
            }
        }
    }

    /// Hands a datagram to its session (see [`select`]), or counts it as no session's.
    fn dispatch(&mut self, pkt: Received, now: Instant, m: &BfdMetrics) {
        let your = peek_your_discriminator(&pkt.payload).unwrap_or(0);
        let keys = self.sessions.iter().map(|s| Key {
            peer: s.spec.peer,
            local: s.spec.local,
            discr: s.core.local_discr(),
            live: !s.retiring,
        });
        match select(keys, pkt.src, pkt.dst, your) {
            Ok(i) => {
                let s = &mut self.sessions[i];
                s.receive(now, pkt.ttl, &pkt.payload, m);
                s.export_timing(m);
            }
            Err(reason) => {
                *self.unmatched.entry(reason).or_default() += 1;
                m.discards
                    .get_or_create(&metrics::with("", "reason", reason.as_str()))
                    .inc();
            }
        }
    }

    /// Opens the receive socket of every address sessions use (the family's unspecified
    /// address for sessions without `local_address`), closes unused ones.
    fn ensure_rx(&mut self, tx: &mpsc::Sender<Received>) {
        let wanted: BTreeSet<IpAddr> = self
            .sessions
            .iter()
            .filter(|s| !s.retiring)
            .map(|s| {
                s.spec.local.unwrap_or(match s.spec.peer {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                })
            })
            .collect();
        self.rx.retain(|a, t| {
            let keep = wanted.contains(a) && !t.handle.is_finished();
            if !keep {
                t.handle.abort();
            }
            keep
        });
        for addr in wanted {
            if self.rx.contains_key(&addr) {
                continue;
            }
            match RxSocket::open(addr) {
                Ok(sock) => {
                    let sock = Arc::new(sock);
                    let (task_sock, tx) = (sock.clone(), tx.clone());
                    let handle = tokio::spawn(async move {
                        loop {
                            match task_sock.recv().await {
                                Ok(pkt) => {
                                    if tx.send(pkt).await.is_err() {
                                        return;
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!("bfd receive on {addr}: {e}");
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                }
                            }
                        }
                    });
                    self.rx.insert(addr, RxTask { handle, sock });
                }
                Err(e) => tracing::error!("bfd: cannot listen on {addr} port 3784: {e}"),
            }
        }
    }

    fn status(&self) -> BfdStatus {
        BfdStatus {
            sessions: self
                .sessions
                .iter()
                .filter(|s| !s.retiring)
                .map(ShellSession::status)
                .collect(),
            unmatched_discards: self
                .unmatched
                .iter()
                .map(|(r, n)| (r.as_str().to_string(), *n))
                .collect(),
        }
    }
}

/// What demultiplexing needs to know of a session.
struct Key {
    peer: IpAddr,
    local: Option<IpAddr>,
    discr: u32,
    /// Not retiring: a removed session takes no datagrams.
    live: bool,
}

/// RFC 5880 §6.8.6: "If the Your Discriminator field is nonzero, it MUST be used to select the
/// session with which this BFD packet is associated. If no session is found, the packet MUST be
/// discarded." Otherwise the session is the one for the source address (and, with a
/// `local_address`, the destination). Either way the source must be the session's peer:
/// single-hop sessions are per neighbour, and a discriminator is no credential.
fn select(
    sessions: impl Iterator<Item = Key>,
    src: IpAddr,
    dst: IpAddr,
    your: u32,
) -> Result<usize, Discard> {
    let mut named = false;
    for (i, k) in sessions.enumerate() {
        if !k.live {
            continue;
        }
        if your != 0 {
            if k.discr == your {
                named = true;
                if k.peer == src {
                    return Ok(i);
                }
            }
        } else if k.peer == src && k.local.is_none_or(|l| l == dst) {
            return Ok(i);
        }
    }
    if your != 0 && !named {
        Err(Discard::YourDiscriminatorUnknown)
    } else {
        Err(Discard::NoSession)
    }
}

/// The random values BFD asks for (discriminators, the first authentication sequence
/// number, source ports, per-packet jitter): xorshift64* seeded from the kernel. Nothing here
/// needs to resist prediction beyond what the RFC asks ("SHOULD be set to a random (but
/// still unique) value to improve security").
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        use std::io::Read;
        let mut b = [0u8; 8];
        let seed = match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b))
        {
            Ok(()) => u64::from_ne_bytes(b),
            // std seeds each RandomState from the OS.
            Err(_) => std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
        };
        Rng(seed | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A port in 49152-65535 (RFC 5881 §4) to start the search for a free one from.
    fn port(&mut self) -> u16 {
        49152 + (self.next_u64() % 16384) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(peer: &str, local: Option<&str>, discr: u32, live: bool) -> Key {
        Key {
            peer: peer.parse().unwrap(),
            local: local.map(|l| l.parse().unwrap()),
            discr,
            live,
        }
    }

    fn keys() -> Vec<Key> {
        vec![
            key("198.18.1.1", Some("198.18.1.2"), 10, true),
            key("198.18.1.5", None, 20, true),
            key("2001:db8:1::1", Some("2001:db8:1::2"), 30, true),
            // A removed session still sending AdminDown takes nothing.
            key("198.18.1.9", None, 40, false),
        ]
    }

    fn sel(src: &str, dst: &str, your: u32) -> Result<usize, Discard> {
        select(
            keys().into_iter(),
            src.parse().unwrap(),
            dst.parse().unwrap(),
            your,
        )
    }

    #[test]
    fn your_discriminator_first_then_addresses() {
        assert_eq!(sel("198.18.1.1", "198.18.1.2", 10), Ok(0));
        assert_eq!(sel("198.18.1.5", "198.18.1.6", 20), Ok(1));
        assert_eq!(sel("2001:db8:1::1", "2001:db8:1::2", 30), Ok(2));
        // Your Discriminator 0 (the peer's first packets, or a restarted peer): by address.
        assert_eq!(sel("198.18.1.1", "198.18.1.2", 0), Ok(0));
        assert_eq!(sel("198.18.1.5", "198.18.1.6", 0), Ok(1));
        // A configured local address must be the destination.
        assert_eq!(sel("198.18.1.1", "198.18.1.3", 0), Err(Discard::NoSession));
    }

    #[test]
    fn unknown_and_stolen_discriminators() {
        assert_eq!(
            sel("198.18.1.1", "198.18.1.2", 99),
            Err(Discard::YourDiscriminatorUnknown)
        );
        // Another session's discriminator from the wrong peer.
        assert_eq!(sel("198.18.1.5", "198.18.1.6", 10), Err(Discard::NoSession));
        assert_eq!(sel("198.18.7.7", "198.18.1.2", 0), Err(Discard::NoSession));
        // Retiring sessions take nothing: their discriminator names no session any more.
        assert_eq!(
            sel("198.18.1.9", "198.18.1.10", 40),
            Err(Discard::YourDiscriminatorUnknown)
        );
        assert_eq!(sel("198.18.1.9", "198.18.1.10", 0), Err(Discard::NoSession));
    }
}
