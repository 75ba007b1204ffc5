//! The sync thread's loop: workers' changes out to every peer, peers' datagrams in and their
//! records to the owning workers, timers, bulk pages, events and status.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

use super::bulk::Tables;
use super::convert::{self, Work};
use super::status::{PeerStatus, SyncHandle, SyncStatus};
use super::{SyncLink, SyncWorker, IDLE_POLL};
use crate::dataplaned::worker_sync::Inbound;
use crate::events::{EventLog, SyncEvent};
use dataplane::counters::Counter;
use dataplane::pipeline::adopt::owner;
use dataplane::snapshot::Subscriber;
use session_sync::{Event, Peer};

const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// Room a worker's inbound ring must have before another datagram is read: one datagram may
/// release every datagram buffered behind a gap (64 of 33 flow records, 34 for margin), and a
/// removal goes to two workers.
const ROOM: usize = 2 * 64 * 34;
/// How long the thread waits for the workers to drain their rings when it stopped reading.
const HOLD_BACK: Duration = Duration::from_micros(250);
/// Largest datagram read (the peers send at most `max_datagram`, 1,400 bytes by default).
const RECV_BYTES: usize = 65_536;

/// The UDP socket, bound to the address and to the interface (so the datagrams leave there
/// whatever the routing table says).
pub fn bind(ifname: &str, at: SocketAddrV4) -> anyhow::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(ifname.as_bytes()))
        .map_err(|e| anyhow::anyhow!("sync: binding to interface {ifname}: {e}"))?;
    s.bind(&at.into())
        .map_err(|e| anyhow::anyhow!("sync: binding to {at}: {e}"))?;
    // Bulk resyncs come in bursts: room for a window of datagrams from every peer.
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.set_nonblocking(true)?;
    Ok(s.into())
}

struct PeerSlot {
    addr: SocketAddrV4,
    peer: Peer,
}

pub struct State {
    socket: UdpSocket,
    local: SocketAddrV4,
    peers: Vec<PeerSlot>,
    workers: Vec<SyncWorker>,
    snapshots: Subscriber,
    tables: Tables,
    handle: SyncHandle,
    events: EventLog,
    hold: Arc<watch::Sender<bool>>,
    hold_until: Instant,
    released: Option<String>,
    node_id: u64,
    epoch: u64,
    lost_seen: u64,
    apply_ring_full: u64,
    /// Set when a worker's ring had no room for another datagram's records: the datagrams
    /// wait in the socket, unacknowledged, so the peer's window holds the rest back.
    held_back: bool,
    /// How many times it did so.
    held_back_times: u64,
    unknown_source: u64,
    refused_records: u64,
    woke: Vec<bool>,
    metrics: super::metrics::SyncMetrics,
}

impl State {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: session_sync::Config,
        socket: UdpSocket,
        peers: Vec<SocketAddrV4>,
        link: SyncLink,
        handle: SyncHandle,
        events: EventLog,
        hold: Arc<watch::Sender<bool>>,
        preempt_hold: Duration,
        metrics: super::metrics::SyncMetrics,
    ) -> anyhow::Result<State> {
        let now = Instant::now();
        let epoch = loop {
            let e = crate::dataplaned::random_u64();
            if e != 0 {
                break e;
            }
        };
        let node_id = cfg.node_id;
        let peers = peers
            .into_iter()
            .map(|addr| {
                Peer::new(cfg.clone(), epoch, now)
                    .map(|peer| PeerSlot { addr, peer })
                    .map_err(|e| anyhow::anyhow!("sync: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let local = match socket.local_addr()? {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => anyhow::bail!("sync: an IPv4 socket was asked for"),
        };
        let tables = Tables::new(
            link.workers.iter().map(|w| w.shared.clone()).collect(),
            link.worker_stats,
            link.wakers,
        );
        let released = (!*hold.borrow()).then(|| "not held at start".to_string());
        Ok(State {
            woke: vec![false; link.workers.len()],
            socket,
            local,
            peers,
            workers: link.workers,
            snapshots: link.snapshots,
            tables,
            handle,
            events,
            hold,
            hold_until: now + preempt_hold,
            released,
            node_id,
            epoch,
            lost_seen: 0,
            apply_ring_full: 0,
            held_back: false,
            held_back_times: 0,
            unknown_source: 0,
            refused_records: 0,
            metrics,
        })
    }

    /// Runs until `stop`; gives the data plane's ends back for a restart.
    pub fn run(mut self, stop: &AtomicBool) -> SyncLink {
        self.events.emit(
            SyncEvent::Started,
            "sync",
            format!(
                "session sync on {} with {}",
                self.local,
                self.peers
                    .iter()
                    .map(|p| p.addr.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            json!({
                "peers": self.peers.iter().map(|p| p.addr.ip().to_string()).collect::<Vec<_>>(),
                "port": self.local.port(),
            }),
        );
        let mut buf = vec![0u8; RECV_BYTES];
        let mut last_publish = Instant::now() - PUBLISH_EVERY;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            self.take_changes(now);
            self.receive(&mut buf, now);
            for p in &mut self.peers {
                if p.peer.poll_timeout().is_some_and(|t| t <= now) {
                    p.peer.handle_timeout(now);
                }
                p.peer.pump_bulk(now, &mut self.tables);
                while let Some(d) = p.peer.poll_transmit(now) {
                    // A full socket buffer loses the datagram: the peer's acks say so and it
                    // is resent.
                    let _ = self.socket.send_to(&d, p.addr);
                }
            }
            self.wake_workers();
            self.events_and_hold(now);
            if now.duration_since(last_publish) >= PUBLISH_EVERY {
                last_publish = now;
                self.publish(now);
            }
            let due = self
                .peers
                .iter()
                .filter_map(|p| p.peer.poll_timeout())
                .min();
            let mut wait = IDLE_POLL;
            if let Some(d) = due {
                wait = wait.min(d.saturating_duration_since(Instant::now()));
            }
            if self.held_back {
                // The socket is readable but left unread: sleep instead of polling it.
                std::thread::sleep(HOLD_BACK);
            } else {
                poll_readable(self.socket.as_raw_fd(), wait);
            }
        }
        self.handle.publish(None);
        self.metrics.forget();
        SyncLink {
            workers: self.workers,
            worker_stats: self.tables.workers,
            wakers: self.tables.wakers,
            snapshots: self.snapshots,
        }
    }

    /// The workers' changes, to every peer.
    fn take_changes(&mut self, now: Instant) {
        let peers = &mut self.peers;
        for w in &mut self.workers {
            w.changes.drain(usize::MAX, |c| {
                let r = convert::record(&c);
                for p in peers.iter_mut() {
                    // A full queue is counted by the endpoint, which resyncs once it drains.
                    let _ = p.peer.queue(r.clone(), now);
                }
            });
        }
        let lost: u64 = self
            .workers
            .iter()
            .map(|w| w.shared.lost.load(Ordering::Relaxed))
            .sum();
        if lost > self.lost_seen {
            let n = lost - self.lost_seen;
            self.lost_seen = lost;
            for p in &mut self.peers {
                p.peer.start_bulk();
            }
            self.events.emit(
                SyncEvent::RecordsLost,
                "sync",
                format!("{n} flow change(s) did not reach the sync thread: resyncing the peers"),
                json!({ "lost": n }),
            );
        }
    }

    fn receive(&mut self, buf: &mut [u8], now: Instant) {
        loop {
            // Back-pressure: a bulk arriving faster than the workers adopt waits in the socket
            // and the peer's window. Dropping records instead would cost a whole new bulk.
            let held = self
                .workers
                .iter()
                .any(|w| w.inbound.len() + ROOM > super::RING);
            self.held_back_times += u64::from(held && !self.held_back);
            self.held_back = held;
            if held {
                return;
            }
            let (n, from) = match self.socket.recv_from(buf) {
                Ok(x) => x,
                Err(_) => return,
            };
            let from = match from {
                SocketAddr::V4(a) => *a.ip(),
                SocketAddr::V6(_) => {
                    self.unknown_source += 1;
                    continue;
                }
            };
            let Some(i) = self.peers.iter().position(|p| *p.addr.ip() == from) else {
                self.unknown_source += 1;
                continue;
            };
            // Discards are counted by the endpoint.
            let Ok(records) = self.peers[i].peer.receive(&buf[..n], now) else {
                continue;
            };
            self.apply(&records, i, now);
        }
    }

    /// Hands each state record to the worker that owns its flow.
    fn apply(&mut self, records: &[session_sync::Record], from: usize, now: Instant) {
        let snap = self.snapshots.load();
        let mut full = false;
        for r in records {
            let Some(work) = convert::work(r) else {
                if r.is_state() {
                    self.refused_records += 1;
                }
                continue;
            };
            let mut send = |w: usize, item| {
                if let Some(sw) = self.workers.get_mut(w) {
                    if sw.inbound.push(item) {
                        self.woke[w] = true;
                    } else {
                        self.apply_ring_full += 1;
                        full = true;
                    }
                }
            };
            match work {
                Work::Adopt(a) => {
                    send(
                        usize::from(owner(&snap, a.kind, &a.original)),
                        Inbound::Adopt(a),
                    );
                }
                Work::Either(key, item) => {
                    let a = owner(&snap, dataplane::conntrack::Kind::Nat, &key);
                    let b = owner(&snap, dataplane::conntrack::Kind::Snat, &key);
                    send(usize::from(a), item);
                    if b != a {
                        send(usize::from(b), item);
                    }
                }
            }
        }
        if full {
            // What did not fit is missing here: ask the peer for its whole table again.
            let _ = self.peers[from].peer.request_bulk(now);
        }
    }

    fn wake_workers(&mut self) {
        for (w, woke) in self.woke.iter_mut().enumerate() {
            if std::mem::take(woke) {
                self.tables.wakers[w].wake();
            }
        }
    }

    fn events_and_hold(&mut self, now: Instant) {
        for p in &mut self.peers {
            let object = p.addr.ip().to_string();
            while let Some(e) = p.peer.poll_event() {
                let _ = match e {
                    Event::PeerUp { node_id, epoch } => self.events.emit(
                        SyncEvent::PeerUp,
                        &object,
                        format!("sync peer {object} up"),
                        json!({ "node_id": node_id, "epoch": epoch }),
                    ),
                    Event::PeerDown => self.events.emit(
                        SyncEvent::PeerDown,
                        &object,
                        format!("sync peer {object} silent: down"),
                        json!({}),
                    ),
                    Event::PeerRestarted { node_id, epoch } => self.events.emit(
                        SyncEvent::PeerRestarted,
                        &object,
                        format!("sync peer {object} restarted: sending it our table"),
                        json!({ "node_id": node_id, "epoch": epoch }),
                    ),
                    Event::SettingsMismatch { ours, theirs } => self.events.emit(
                        SyncEvent::SettingsMismatch,
                        &object,
                        format!(
                            "sync peer {object} has other settings (workers {} vs {}, {} vs {} pool addresses, digest {:016x} vs {:016x}): nothing is exchanged until they agree",
                            ours.workers, theirs.workers, ours.pools.len(), theirs.pools.len(),
                            ours.config_digest, theirs.config_digest
                        ),
                        json!({
                            "ours": { "workers": ours.workers, "pools": ours.pools.len(), "digest": format!("{:016x}", ours.config_digest) },
                            "theirs": { "workers": theirs.workers, "pools": theirs.pools.len(), "digest": format!("{:016x}", theirs.config_digest) },
                        }),
                    ),
                    Event::SettingsAgreed => self.events.emit(
                        SyncEvent::SettingsAgreed,
                        &object,
                        format!("sync peer {object}: settings agree"),
                        json!({}),
                    ),
                    Event::QueueOverflow => self.events.emit(
                        SyncEvent::RecordsLost,
                        &object,
                        format!("sync queue to {object} full: a bulk resync follows"),
                        json!({ "lost": 1 }),
                    ),
                    Event::BulkSent { entries } => self.events.emit(
                        SyncEvent::BulkSent,
                        &object,
                        format!("our table ({entries} flows) reached {object}"),
                        json!({ "entries": entries }),
                    ),
                    Event::BulkReceived { entries, total } => {
                        let _ = self.events.emit(
                            SyncEvent::BulkReceived,
                            &object,
                            format!("{object}'s table arrived: {entries} of {total} flows"),
                            json!({ "entries": entries, "total": total }),
                        );
                        if self.released.is_none() {
                            self.released = Some(format!("the table of {object} arrived"));
                        }
                        continue;
                    }
                };
            }
        }
        if self.released.is_none() && now >= self.hold_until {
            self.released = Some("preempt_hold ran out before a peer's table arrived".into());
        }
        if let Some(why) = &self.released {
            if *self.hold.borrow() {
                self.hold.send_replace(false);
                self.events.emit(
                    SyncEvent::PreemptReleased,
                    "sync",
                    format!("VRRP may preempt: {why}"),
                    json!({ "reason": why }),
                );
            }
        }
    }

    fn publish(&mut self, now: Instant) {
        let entries = session_sync::BulkSource::entries(&self.tables);
        let mut s = SyncStatus {
            local: self.local.to_string(),
            node_id: self.node_id,
            epoch: self.epoch,
            preempt: match &self.released {
                None => "held".into(),
                Some(why) => format!("released: {why}"),
            },
            table_entries: entries,
            changes_lost: self.lost_seen,
            apply_ring_full: self.apply_ring_full,
            apply_held_back: self.held_back_times,
            unknown_source: self.unknown_source,
            ..SyncStatus::default()
        };
        for w in &self.tables.workers {
            let c = &w.stats.read().counters;
            s.adopted += c.get(Counter::SyncAdopted);
            s.updated += c.get(Counter::SyncUpdated);
            s.removed += c.get(Counter::SyncRemoved);
            s.refused += c.get(Counter::SyncRefused);
        }
        s.refused += self.refused_records;
        for p in &mut self.peers {
            p.peer.set_table_size(entries);
            let st = p.peer.stats();
            s.peers.push(PeerStatus {
                address: p.addr.ip().to_string(),
                state: match (p.peer.is_up(), p.peer.settings_agreed()) {
                    (true, Some(false)) => "settings-mismatch",
                    (true, _) => "up",
                    (false, _) => "down",
                }
                .into(),
                node_id: p.peer.peer_id().map(|x| x.0),
                epoch: p.peer.peer_id().map(|x| x.1),
                srtt_ms: p.peer.srtt().map(|d| d.as_secs_f64() * 1e3),
                rto_ms: p.peer.rto().as_secs_f64() * 1e3,
                lag_ms: p.peer.lag(now).as_secs_f64() * 1e3,
                queued: p.peer.queued() as u64,
                in_flight: p.peer.in_flight() as u64,
                records_queued: st.records_queued,
                records_coalesced: st.records_coalesced,
                records_sent: st.records_sent,
                records_resent: st.records_resent,
                records_received: st.records_received,
                records_lost: st.records_lost,
                datagrams_sent: st.datagrams_sent,
                datagrams_resent: st.datagrams_resent,
                datagrams_received: st.datagrams_received,
                discards: (&st.discards).into(),
                peer_restarts: st.peer_restarts,
                bulk_out: p.peer.bulk_sending().into(),
                bulk_in: p.peer.bulk_receiving().into(),
            });
        }
        self.metrics.update(&s);
        self.handle.publish(Some(s));
    }
}

fn poll_readable(fd: i32, wait: Duration) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = wait.as_millis().min(1000) as i32;
    // SAFETY: one valid, writable pollfd.
    unsafe { libc::poll(&mut p, 1, ms) };
}
