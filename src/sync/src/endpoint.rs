//! The reliable-delivery state machine towards one peer: sequence numbers, cumulative and
//! selective acks, retransmission on an RFC 6298 timer, a bounded window and bounded queues,
//! replay protection per (node, epoch), liveness by hello, and the bulk resync.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError};
use crate::record::{BulkPage, BulkRequest, CoalesceKey, Hello, Record, Settings};
use crate::rto::Rto;
use crate::stats::{BulkProgress, Stats};
use crate::wire::{
    record_len, Datagram, DecodeError, Header, Key, MsgType, FLAG_ACK_NOW, HEADER_LEN, MAC_LEN,
    SACK_BITS,
};

/// Why a received datagram was dropped (each counted in [`Stats::discards`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("our own datagram")]
    Loopback,
    #[error("stale epoch")]
    StaleEpoch,
    #[error("replayed sequence number")]
    Replayed,
    #[error("sequence number beyond the window")]
    OutOfWindow,
    #[error("settings differ from the peer's, or its hello has not arrived")]
    SettingsMismatch,
}

/// What the owner should know about (drained with [`Peer::poll_event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer is heard (again).
    PeerUp {
        node_id: u64,
        epoch: u64,
    },
    /// Nothing heard for `dead_after` hello intervals.
    PeerDown,
    /// The peer came back with a new epoch: it lost its tables. Its receive state was reset,
    /// records in flight to it abandoned, and a bulk resync to it begun.
    PeerRestarted {
        node_id: u64,
        epoch: u64,
    },
    /// The peer's settings differ: nothing is sent to it nor applied from it until they agree.
    SettingsMismatch {
        ours: Settings,
        theirs: Settings,
    },
    SettingsAgreed,
    /// The send queue refused a record; a bulk resync follows once the queue has drained.
    QueueOverflow,
    /// Our bulk resync to the peer is acknowledged whole.
    BulkSent {
        entries: u64,
    },
    /// The peer's bulk resync to us arrived whole (every entry before it delivered).
    BulkReceived {
        entries: u64,
        total: u64,
    },
}

/// The data plane's table, read page by page for a bulk resync.
pub trait BulkSource {
    /// Entries in the table now (the progress's total).
    fn entries(&self) -> u64;
    /// Appends up to `max` state records from `cursor` (0: the start) to `out`; returns the
    /// cursor after them, or `None` when the table has nothing after them.
    fn page(&mut self, cursor: u64, max: usize, out: &mut Vec<Record>) -> Option<u64>;
}

/// The queue refused a record (full); counted in `records_lost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sync send queue full")]
pub struct QueueFull;

#[derive(Debug)]
struct Queued {
    record: Record,
    bulk: bool,
    at: Instant,
}

#[derive(Debug)]
struct InFlight {
    records: Vec<Record>,
    bulk_entries: u64,
    bulk_last: bool,
    first_sent: Instant,
    /// When its oldest record was queued (the lag).
    queued_at: Instant,
    due: Instant,
    resent: bool,
}

#[derive(Debug, Default)]
struct BulkTx {
    cursor: u64,
    started: bool,
    exhausted: bool,
    progress: BulkProgress,
}

const MAX_EVENTS: usize = 64;
const RETIRED_EPOCHS: usize = 8;

pub struct Peer {
    cfg: Config,
    key: Key,
    epoch: u64,
    /// The peer's (node id, epoch), once heard.
    peer: Option<(u64, u64)>,
    retired: VecDeque<u64>,
    up: bool,
    /// Some(true) once its hello matches our settings.
    agreed: Option<bool>,
    peer_table_size: u64,
    table_size: u64,
    last_heard: Option<Instant>,
    next_hello: Instant,
    hello_due: bool,
    // Sending.
    queue: VecDeque<Queued>,
    /// Absolute position of `queue[0]`; `coalesce` maps a key to an absolute position.
    queue_base: u64,
    coalesce: HashMap<CoalesceKey, u64>,
    overflowed: bool,
    next_seq: u32,
    in_flight: BTreeMap<u32, InFlight>,
    resend: VecDeque<u32>,
    ctl_seq: u32,
    rto: Rto,
    bulk_tx: BulkTx,
    // Receiving.
    rx_cum: u32,
    rx_buf: BTreeMap<u32, Vec<Record>>,
    rx_ctl_seq: u32,
    ack_pending: bool,
    bulk_rx: BulkProgress,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Peer {
    /// `epoch`: a random value drawn at each start of the daemon (nonzero).
    pub fn new(cfg: Config, epoch: u64, now: Instant) -> Result<Peer, ConfigError> {
        cfg.validate()?;
        // 0 on the wire means "no epoch heard yet".
        if epoch == 0 {
            return Err(ConfigError::Epoch);
        }
        Ok(Peer {
            key: Key::new(&cfg.key),
            rto: Rto::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            cfg,
            epoch,
            peer: None,
            retired: VecDeque::new(),
            up: false,
            agreed: None,
            peer_table_size: 0,
            table_size: 0,
            last_heard: None,
            next_hello: now,
            hello_due: false,
            queue: VecDeque::new(),
            queue_base: 0,
            coalesce: HashMap::new(),
            overflowed: false,
            next_seq: 1,
            in_flight: BTreeMap::new(),
            resend: VecDeque::new(),
            ctl_seq: 0,
            bulk_tx: BulkTx::default(),
            rx_cum: 0,
            rx_buf: BTreeMap::new(),
            rx_ctl_seq: 0,
            ack_pending: false,
            bulk_rx: BulkProgress::default(),
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    // ---- Owner's view -------------------------------------------------------------------

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Whether the peer's hello matched our settings (`None`: no hello yet).
    pub fn settings_agreed(&self) -> Option<bool> {
        self.agreed
    }

    pub fn peer_id(&self) -> Option<(u64, u64)> {
        self.peer
    }

    pub fn peer_table_size(&self) -> u64 {
        self.peer_table_size
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Datagrams received ahead of a gap (at most 64).
    pub fn reordered(&self) -> usize {
        self.rx_buf.len()
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.rto.srtt()
    }

    pub fn rto(&self) -> Duration {
        self.rto.current()
    }

    /// Age of the oldest record not yet acknowledged.
    pub fn lag(&self, now: Instant) -> Duration {
        let q = self.queue.front().map(|q| q.at);
        let f = self.in_flight.values().map(|f| f.queued_at).min();
        match (q, f) {
            (None, None) => Duration::ZERO,
            (a, b) => now.saturating_duration_since(a.into_iter().chain(b).min().unwrap_or(now)),
        }
    }

    pub fn bulk_sending(&self) -> BulkProgress {
        self.bulk_tx.progress
    }

    pub fn bulk_receiving(&self) -> BulkProgress {
        self.bulk_rx
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn event(&mut self, e: Event) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    // ---- Sending ------------------------------------------------------------------------

    /// Queues a record for the peer. A flow, SNAT mapping or FullNAT port record still in
    /// the queue (not yet sent) is replaced in place by a later one of the same key (a
    /// refresh folds into a queued upsert), so the queue holds one record per key. A full
    /// queue refuses the new record (counted lost) and schedules a bulk resync.
    pub fn queue(&mut self, record: Record, now: Instant) -> Result<(), QueueFull> {
        self.push(record, false, now)
    }

    fn push(&mut self, record: Record, bulk: bool, now: Instant) -> Result<(), QueueFull> {
        let key = record.coalesce_key();
        if let Some(pos) = key.and_then(|k| self.coalesce.get(&k)) {
            let q = &mut self.queue[(pos - self.queue_base) as usize];
            q.record = q.record.clone().supersede(record);
            q.bulk |= bulk;
            self.stats.records_queued += u64::from(!bulk);
            self.stats.records_coalesced += 1;
            return Ok(());
        }
        if self.queue.len() >= self.cfg.queue_capacity {
            self.stats.records_lost += 1;
            if !self.overflowed {
                self.overflowed = true;
                self.event(Event::QueueOverflow);
            }
            return Err(QueueFull);
        }
        if let Some(k) = key {
            self.coalesce
                .insert(k, self.queue_base + self.queue.len() as u64);
        }
        self.queue.push_back(Queued {
            record,
            bulk,
            at: now,
        });
        self.stats.records_queued += u64::from(!bulk);
        Ok(())
    }

    fn pop(&mut self) -> Option<Queued> {
        let q = self.queue.pop_front()?;
        if let Some(k) = q.record.coalesce_key() {
            if self.coalesce.get(&k) == Some(&self.queue_base) {
                self.coalesce.remove(&k);
            }
        }
        self.queue_base += 1;
        Some(q)
    }

    /// Begins a bulk resync to the peer from the start of the table (again, if one runs).
    /// The endpoint does so itself when it first hears the peer, when the peer restarts,
    /// when the peer asks, and after the queue overflowed.
    pub fn start_bulk(&mut self) {
        self.bulk_tx = BulkTx {
            started: true,
            ..BulkTx::default()
        };
    }

    /// Asks the peer for its whole table (for example before preempting it).
    pub fn request_bulk(&mut self, now: Instant) -> Result<(), QueueFull> {
        self.bulk_rx = BulkProgress::default();
        self.push(Record::BulkRequest(BulkRequest { cursor: 0 }), false, now)
    }

    /// Pulls bulk pages from `source` while the backlog allows; returns entries pulled.
    /// Pacing is the window's: pages are pulled only as acks drain the queue.
    pub fn pump_bulk(&mut self, now: Instant, source: &mut dyn BulkSource) -> usize {
        if self.overflowed && self.queue.len() <= self.cfg.queue_capacity / 2 {
            self.overflowed = false;
            self.start_bulk();
        }
        if !self.can_send() || !self.bulk_tx.started || self.bulk_tx.exhausted {
            return 0;
        }
        let mut pulled = 0;
        // A page and its marker must fit the backlog, itself at most half the queue.
        let limit = self
            .cfg
            .bulk_backlog
            .min(self.cfg.queue_capacity / 2)
            .max(2);
        let size = self.cfg.bulk_page.min(limit - 1);
        let mut page = Vec::with_capacity(size);
        while self.queue.len() + size < limit {
            if self.bulk_tx.progress.sent == 0 && self.bulk_tx.cursor == 0 {
                self.bulk_tx.progress.total = source.entries();
            }
            page.clear();
            let next = source.page(self.bulk_tx.cursor, size, &mut page);
            page.truncate(size);
            let entries = page.len() as u32;
            for r in page.drain(..) {
                // Room was checked above.
                let _ = self.push(r, true, now);
            }
            pulled += entries as usize;
            self.bulk_tx.progress.sent += u64::from(entries);
            self.bulk_tx.cursor = next.unwrap_or(self.bulk_tx.cursor);
            let last = next.is_none();
            let marker = Record::BulkPage(BulkPage {
                cursor: self.bulk_tx.cursor,
                total: self.bulk_tx.progress.total,
                entries,
                last,
            });
            let _ = self.push(marker, true, now);
            if last {
                self.bulk_tx.exhausted = true;
                break;
            }
        }
        pulled
    }

    fn can_send(&self) -> bool {
        self.up && self.agreed == Some(true)
    }

    fn header(&mut self, msg_type: MsgType, seq: u32, flags: u8) -> Header {
        let mut sack = 0u64;
        for &s in self.rx_buf.keys() {
            let off = s.wrapping_sub(self.rx_cum).wrapping_sub(2);
            if off < SACK_BITS {
                sack |= 1 << off;
            }
        }
        self.ack_pending = false;
        Header {
            msg_type,
            flags,
            node_id: self.cfg.node_id,
            epoch: self.epoch,
            seq,
            peer_epoch: self.peer.map_or(0, |p| p.1),
            cum_ack: self.rx_cum,
            sack,
        }
    }

    /// The next datagram to send, if any: a hello, a retransmission, new records, or a bare
    /// ack, in that order. Call until `None` after every `queue`, `receive`, `handle_timeout`
    /// and `pump_bulk`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        // The hello first: a peer that just appeared refuses data until our hello has told
        // it our settings, so a window sent ahead of the hello would be discarded whole and
        // wait a retransmission timeout (measured by `sync-bench`: 64 datagrams refused and
        // 200 ms lost at the start of every bulk resync to a new peer).
        if self.hello_due {
            self.hello_due = false;
            let hello = Record::Hello(Hello {
                table_size: self.table_size,
                settings: self.cfg.settings.clone(),
            });
            return Some(self.control(vec![hello]));
        }
        if self.can_send() {
            while let Some(seq) = self.resend.pop_front() {
                let Some(f) = self.in_flight.get(&seq) else {
                    continue;
                };
                let records = f.records.clone();
                let header = self.header(MsgType::Data, seq, FLAG_ACK_NOW);
                self.stats.datagrams_resent += 1;
                self.stats.records_resent += records.len() as u64;
                return Some(Datagram { header, records }.encode(&self.key));
            }
            // Sequence numbers wrap: the oldest in flight is the farthest behind `next_seq`.
            let span = self
                .in_flight
                .keys()
                .map(|&s| self.next_seq.wrapping_sub(s))
                .max()
                .unwrap_or(0);
            if !self.queue.is_empty() && span < self.cfg.window {
                return Some(self.send_new(now));
            }
        }
        if self.ack_pending {
            return Some(self.control(Vec::new()));
        }
        None
    }

    /// Sets the table size the hellos report.
    pub fn set_table_size(&mut self, entries: u64) {
        self.table_size = entries;
    }

    fn control(&mut self, records: Vec<Record>) -> Vec<u8> {
        self.ctl_seq += 1;
        let header = self.header(MsgType::Control, self.ctl_seq, 0);
        self.stats.datagrams_sent += 1;
        Datagram { header, records }.encode(&self.key)
    }

    fn send_new(&mut self, now: Instant) -> Vec<u8> {
        let mut room = self.cfg.max_datagram - HEADER_LEN - MAC_LEN;
        let mut records = Vec::new();
        let (mut bulk_entries, mut bulk_last) = (0, false);
        let mut queued_at = now;
        while let Some(q) = self.queue.front() {
            let len = record_len(&q.record);
            if len > room {
                break;
            }
            room -= len;
            let q = self.pop().expect("front exists");
            queued_at = queued_at.min(q.at);
            if q.bulk && q.record.is_state() {
                bulk_entries += 1;
            }
            if let Record::BulkPage(p) = &q.record {
                bulk_last |= p.last;
            }
            records.push(q.record);
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let header = self.header(MsgType::Data, seq, 0);
        let bytes = Datagram {
            header,
            records: records.clone(),
        }
        .encode(&self.key);
        self.stats.datagrams_sent += 1;
        self.stats.records_sent += records.len() as u64;
        self.in_flight.insert(
            seq,
            InFlight {
                records,
                bulk_entries,
                bulk_last,
                first_sent: now,
                queued_at,
                due: now + self.rto.current(),
                resent: false,
            },
        );
        bytes
    }

    // ---- Timers -------------------------------------------------------------------------

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_hello;
        if self.up {
            if let Some(h) = self.last_heard {
                t = t.min(h + self.dead_time());
            }
            if self.can_send() {
                if let Some(d) = self.in_flight.values().map(|f| f.due).min() {
                    t = t.min(d);
                }
            }
        }
        Some(t)
    }

    fn dead_time(&self) -> Duration {
        self.cfg.hello_interval * self.cfg.dead_after
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_hello {
            self.hello_due = true;
            self.next_hello = now + self.cfg.hello_interval;
        }
        if self.up && self.last_heard.is_some_and(|h| now >= h + self.dead_time()) {
            self.up = false;
            self.stats.peer_down += 1;
            self.event(Event::PeerDown);
        }
        if self.can_send() && self.in_flight.values().any(|f| f.due <= now) {
            // §5.4-5.6 of RFC 6298: back off once per expiry, resend what is due.
            self.rto.backoff();
            let due = now + self.rto.current();
            for (&seq, f) in self.in_flight.iter_mut() {
                if f.due <= now {
                    f.due = due;
                    f.resent = true;
                    if !self.resend.contains(&seq) {
                        self.resend.push_back(seq);
                    }
                }
            }
        }
    }

    // ---- Receiving ----------------------------------------------------------------------

    /// Authenticates and processes a datagram from the peer; returns the state records to
    /// apply, in the order the peer queued them, each exactly once.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<Vec<Record>, Discard> {
        let r = self.receive_inner(bytes, now);
        match &r {
            Ok(recs) => {
                self.stats.datagrams_received += 1;
                self.stats.records_received += recs.len() as u64;
            }
            Err(d) => self.stats.discards.count(d),
        }
        r
    }

    fn receive_inner(&mut self, bytes: &[u8], now: Instant) -> Result<Vec<Record>, Discard> {
        let dg = Datagram::decode(bytes, &self.key)?;
        let h = &dg.header;
        if h.node_id == self.cfg.node_id {
            return Err(Discard::Loopback);
        }
        match self.peer {
            Some(p) if p == (h.node_id, h.epoch) => {}
            _ if self.retired.contains(&h.epoch) => return Err(Discard::StaleEpoch),
            Some(old) => {
                self.retire(old.1);
                self.new_peer(h.node_id, h.epoch, now);
                self.stats.peer_restarts += 1;
                self.event(Event::PeerRestarted {
                    node_id: h.node_id,
                    epoch: h.epoch,
                });
            }
            None => self.new_peer(h.node_id, h.epoch, now),
        }
        // Replay and window checks before anything in the datagram takes effect.
        match h.msg_type {
            MsgType::Control => {
                // Serial number arithmetic: the counter may wrap in a long-lived epoch.
                if (h.seq.wrapping_sub(self.rx_ctl_seq) as i32) <= 0 {
                    return Err(Discard::Replayed);
                }
                self.rx_ctl_seq = h.seq;
            }
            MsgType::Data => {
                if h.peer_epoch != self.epoch {
                    return Err(Discard::StaleEpoch);
                }
                let off = h.seq.wrapping_sub(self.rx_cum);
                if off == 0 || off > SACK_BITS + 1 {
                    // Behind the cumulative ack (a replay or a resend whose ack was lost) or
                    // beyond the window: ack so an honest sender learns where we are.
                    self.ack_pending = true;
                    return Err(if off > u32::MAX / 2 || off == 0 {
                        Discard::Replayed
                    } else {
                        Discard::OutOfWindow
                    });
                }
                if self.rx_buf.contains_key(&h.seq) {
                    self.ack_pending = true;
                    return Err(Discard::Replayed);
                }
            }
        }
        self.last_heard = Some(now);
        if !self.up {
            self.up = true;
            for f in self.in_flight.values_mut() {
                f.due = now;
            }
            self.event(Event::PeerUp {
                node_id: h.node_id,
                epoch: h.epoch,
            });
        }
        for r in &dg.records {
            if let Record::Hello(hello) = r {
                self.hello(hello);
            }
        }
        if h.peer_epoch == self.epoch {
            self.acked(h.cum_ack, h.sack, now);
        }
        if h.msg_type == MsgType::Control {
            return Ok(Vec::new());
        }
        if self.agreed != Some(true) {
            return Err(Discard::SettingsMismatch);
        }
        self.ack_pending = true;
        self.rx_buf.insert(h.seq, dg.records);
        let mut out = Vec::new();
        while let Some(recs) = self.rx_buf.remove(&self.rx_cum.wrapping_add(1)) {
            self.rx_cum = self.rx_cum.wrapping_add(1);
            for r in recs {
                self.deliver(r, &mut out);
            }
        }
        Ok(out)
    }

    fn deliver(&mut self, r: Record, out: &mut Vec<Record>) {
        match r {
            Record::BulkRequest(_) => self.start_bulk(),
            Record::BulkPage(p) => {
                if self.bulk_rx.done {
                    self.bulk_rx = BulkProgress::default();
                }
                self.bulk_rx.total = p.total;
                self.bulk_rx.sent += u64::from(p.entries);
                self.bulk_rx.acked = self.bulk_rx.sent;
                if p.last {
                    self.bulk_rx.done = true;
                    self.event(Event::BulkReceived {
                        entries: self.bulk_rx.sent,
                        total: p.total,
                    });
                }
            }
            Record::Hello(_) => {}
            r => out.push(r),
        }
    }

    fn hello(&mut self, hello: &Hello) {
        self.peer_table_size = hello.table_size;
        let ok = hello.settings == self.cfg.settings;
        match (self.agreed, ok) {
            (Some(true), true) | (Some(false), false) => {}
            (_, true) => {
                if self.agreed.is_some() {
                    self.event(Event::SettingsAgreed);
                }
                self.agreed = Some(true);
            }
            (_, false) => {
                self.agreed = Some(false);
                self.event(Event::SettingsMismatch {
                    ours: self.cfg.settings.clone(),
                    theirs: hello.settings.clone(),
                });
            }
        }
    }

    fn acked(&mut self, cum: u32, sack: u64, now: Instant) {
        let mut sample = None;
        let acked: Vec<u32> = self
            .in_flight
            .keys()
            .copied()
            .filter(|&s| {
                let off = s.wrapping_sub(cum).wrapping_sub(2);
                s.wrapping_sub(cum) > u32::MAX / 2
                    || s == cum
                    || (off < SACK_BITS && sack & (1 << off) != 0)
            })
            .collect();
        for s in acked {
            let f = self.in_flight.remove(&s).expect("listed");
            if !f.resent {
                sample = Some(now.saturating_duration_since(f.first_sent));
            }
            self.bulk_tx.progress.acked += f.bulk_entries;
            if f.bulk_last {
                self.bulk_tx.progress.done = true;
                self.event(Event::BulkSent {
                    entries: self.bulk_tx.progress.acked,
                });
            }
        }
        if let Some(r) = sample {
            self.rto.sample(r);
        }
    }

    fn retire(&mut self, epoch: u64) {
        if self.retired.len() == RETIRED_EPOCHS {
            self.retired.pop_front();
        }
        self.retired.push_back(epoch);
    }

    /// A peer heard for the first time, or back with a new epoch: both directions start over.
    fn new_peer(&mut self, node_id: u64, epoch: u64, now: Instant) {
        let first = self.peer.is_none();
        self.peer = Some((node_id, epoch));
        self.rx_cum = 0;
        self.rx_buf.clear();
        self.rx_ctl_seq = 0;
        self.agreed = None;
        self.bulk_rx = BulkProgress::default();
        if !first {
            // Our stream was addressed to the old epoch; what is in flight is superseded by
            // the bulk resync below.
            let abandoned: usize = self.in_flight.values().map(|f| f.records.len()).sum();
            self.stats.records_lost += abandoned as u64;
            self.in_flight.clear();
            self.resend.clear();
            self.next_seq = 1;
        }
        self.up = false;
        self.last_heard = Some(now);
        // Our settings at once: the peer sends nothing before it has them.
        self.hello_due = true;
        self.start_bulk();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Flow, FlowKey, Kind};
    use std::net::Ipv4Addr;

    fn upsert(i: u16) -> Record {
        let key = FlowKey {
            zone: 0,
            proto: 17,
            client: Ipv4Addr::new(198, 18, 0, 1),
            client_port: i,
            vip: Ipv4Addr::new(198, 19, 0, 1),
            vip_port: 53,
        };
        Record::FlowUpsert(Flow {
            key,
            kind: Kind::Nat,
            state: 6,
            class: 4,
            fins: 0,
            profile: 0,
            backend: Ipv4Addr::new(198, 18, 1, 1),
            backend_port: 53,
            local: key.client,
            local_port: i,
            remaining_ms: 30_000,
        })
    }

    fn shuttle(a: &mut Peer, b: &mut Peer, now: Instant) -> Vec<Record> {
        let mut got = Vec::new();
        for _ in 0..100 {
            let mut moved = false;
            while let Some(d) = a.poll_transmit(now) {
                moved = true;
                got.extend(b.receive(&d, now).unwrap_or_default());
            }
            while let Some(d) = b.poll_transmit(now) {
                moved = true;
                let _ = a.receive(&d, now);
            }
            if !moved {
                break;
            }
        }
        got
    }

    /// Sequence numbers are serial: a long-lived epoch crosses 2^32 without a stall.
    #[test]
    fn sequence_numbers_wrap() {
        let t = Instant::now();
        let settings = Settings::default();
        let mut a = Peer::new(Config::new(1, b"k".to_vec(), settings.clone()), 1, t).unwrap();
        let mut b = Peer::new(Config::new(2, b"k".to_vec(), settings), 2, t).unwrap();
        a.handle_timeout(t);
        b.handle_timeout(t);
        shuttle(&mut a, &mut b, t);
        a.next_seq = u32::MAX - 40;
        b.rx_cum = u32::MAX - 41;
        let sent: Vec<Record> = (0..3000).map(upsert).collect();
        for r in &sent {
            a.queue(r.clone(), t).unwrap();
        }
        // Drop one datagram across the wrap so the selective ack and the resend cross it.
        let mut got = Vec::new();
        for i in 0..10 {
            let d = a.poll_transmit(t).unwrap();
            if i != 2 {
                got.extend(b.receive(&d, t).unwrap());
            }
        }
        let later = t + Duration::from_secs(1);
        a.handle_timeout(later);
        got.extend(shuttle(&mut a, &mut b, later));
        assert_eq!(got.len(), sent.len());
        assert_eq!(got, sent);
        assert!(a.next_seq < 100 && b.rx_cum < 100, "wrapped");
        assert_eq!(a.in_flight(), 0);
    }
}
