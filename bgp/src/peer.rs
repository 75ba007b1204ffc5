//! A configured BGP peer: the RFC 4271 §8 FSM across its connections, the
//! ConnectRetry and restart-backoff timers, RFC 4271 §6.8 collision
//! resolution, and the Adj-RIB-Out that feeds the Established connection.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::adj_rib_out::{AdjRibOut, RouteAttributes};
use crate::collision::{self, Loser};
use crate::config::PeerConfig;
use crate::events::{CloseReason, Command, ConnectionId, Event, State, Transmit};
use crate::fsm::Connection;
use crate::negotiated::{build_open, export_policy, negotiate, Negotiated};
use crate::packet::notification::{CeaseSubcode, ErrorCode, FsmSubcode, NotificationMessage};
use crate::packet::open::OpenMessage;
use crate::packet::prefix::Prefix;
use crate::packet::update::UpdateMessage;
use crate::packet::Message;
use crate::timers::{Backoff, Jitter, Timer, MAX_TIMER};

/// Announcements are not generated while this many octets handed out have
/// not been reported written: keeps a slow peer's backlog inside the core,
/// where a later withdrawal can still overtake it.
const ANNOUNCE_WINDOW: usize = 64 * 1024;
/// Upper bound of UPDATE octets per `Transmit`.
const TRANSMIT_CHUNK: usize = 16 * 1024;
/// RFC 9687 §4 default lower bound of the SendHoldTimer.
const MIN_SEND_HOLD: Duration = Duration::from_secs(8 * 60);

/// The speaker core for one configured peer. See the crate documentation
/// for the order in which the shell calls it.
#[derive(Debug)]
pub struct Peer {
    cfg: PeerConfig,
    jitter: Jitter,
    backoff: Backoff,
    /// ManualStart seen and no ManualStop since.
    started: bool,
    /// Automatic restart pending (IdleHoldTimer): the FSM is Idle until then.
    idle_until: Option<Instant>,
    connect_retry_at: Option<Instant>,
    conns: Vec<Connection>,
    /// Connections we closed: bytes still to hand out, then a Close command.
    closing: Vec<(ConnectionId, Vec<u8>)>,
    commands: VecDeque<Command>,
    events: VecDeque<Event>,
    next_id: u64,
    state: State,
    rib: AdjRibOut,
}

impl Peer {
    /// `seed` feeds the jitter PRNG; pass something random in production and
    /// a constant in tests.
    pub fn new(mut cfg: PeerConfig, seed: u64) -> Self {
        for d in [
            &mut cfg.open_hold_time,
            &mut cfg.connect_retry_time,
            &mut cfg.idle_hold_min,
            &mut cfg.idle_hold_max,
        ] {
            *d = (*d).min(MAX_TIMER);
        }
        cfg.delay_open = cfg.delay_open.map(|d| d.min(MAX_TIMER));
        cfg.send_hold_time = cfg.send_hold_time.map(|d| d.min(MAX_TIMER));
        let backoff = Backoff::new(cfg.idle_hold_min, cfg.idle_hold_max);
        Peer {
            cfg,
            jitter: Jitter::new(seed),
            backoff,
            started: false,
            idle_until: None,
            connect_retry_at: None,
            conns: Vec::new(),
            closing: Vec::new(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
            state: State::Idle,
            rib: AdjRibOut::new(),
        }
    }

    // ----- getters -------------------------------------------------------

    pub fn config(&self) -> &PeerConfig {
        &self.cfg
    }

    /// The RFC 4271 state of the most advanced connection.
    pub fn state(&self) -> State {
        self.state
    }

    /// Negotiated parameters of the Established session.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.established().and_then(|c| c.negotiated.as_ref())
    }

    pub fn established_connection(&self) -> Option<ConnectionId> {
        self.established().map(|c| c.id)
    }

    /// Live connections (pending, opening or established).
    pub fn connections(&self) -> Vec<(ConnectionId, State)> {
        self.conns.iter().map(|c| (c.id, c.state)).collect()
    }

    pub fn rib(&self) -> &AdjRibOut {
        &self.rib
    }

    // ----- routes --------------------------------------------------------

    pub fn set_route(&mut self, prefix: Prefix, attrs: RouteAttributes) {
        self.rib.set_route(prefix, attrs);
    }

    pub fn remove_route(&mut self, prefix: Prefix) {
        self.rib.remove_route(prefix);
    }

    pub fn set_routes(&mut self, routes: impl IntoIterator<Item = (Prefix, RouteAttributes)>) {
        self.rib.set_routes(routes);
    }

    /// RFC 8326: re-announce everything with GRACEFUL_SHUTDOWN (and
    /// LOCAL_PREF 0 toward iBGP), or back to normal.
    pub fn set_graceful_shutdown(&mut self, on: bool) {
        self.rib.set_graceful_shutdown(on);
    }

    // ----- administrative events ------------------------------------------

    /// ManualStart (passive or not, per configuration).
    pub fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        self.backoff.reset();
        self.idle_until = None;
        self.enter_connect(now);
        self.update_state();
    }

    /// ManualStop: Cease/Administrative Shutdown (with an RFC 8203/9003
    /// shutdown communication) on every connection that sent an OPEN, then
    /// close them all. Withdraw routes first (clear them and drain
    /// `poll_transmit`) if the peer should not wait for the TCP close.
    pub fn stop(&mut self, now: Instant, communication: Option<&str>) {
        self.started = false;
        self.idle_until = None;
        self.connect_retry_at = None;
        let ids: Vec<ConnectionId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            let sent_open = self.conn(id).is_some_and(|c| c.open_sent());
            let n = sent_open.then(|| {
                NotificationMessage::cease(CeaseSubcode::AdministrativeShutdown, communication)
            });
            self.close_connection(now, id, n, CloseReason::Stopped);
        }
        self.update_state();
    }

    /// The neighbour's BFD session went from Up to Down (RFC 5882 §4.3: "the BFD session
    /// going down ... SHOULD cause the client to take the session down"): every connection is
    /// closed at once, with a Cease/BFD Down NOTIFICATION (RFC 9384) where an OPEN was sent,
    /// in case the transport still carries it. The peer stays started: it dials again after
    /// the usual restart backoff, whether or not BFD is Up by then (RFC 5882 leaves that to
    /// the client; a session that cannot reach the peer simply fails to connect).
    /// Returns whether anything was torn down.
    pub fn handle_bfd_down(&mut self, now: Instant) -> bool {
        let ids: Vec<ConnectionId> = self.conns.iter().map(|c| c.id).collect();
        for id in &ids {
            let sent_open = self.conn(*id).is_some_and(|c| c.open_sent());
            let n = sent_open
                .then(|| NotificationMessage::new(ErrorCode::Cease(CeaseSubcode::BfdDown)));
            self.close_connection(now, *id, n, CloseReason::BfdDown);
        }
        self.update_state();
        !ids.is_empty()
    }

    // ----- TCP events ----------------------------------------------------

    /// The peer connected to us (TcpConnectionConfirmed). Returns the id to
    /// use for this socket, or `None` if the shell must close it at once
    /// (stopped, or two connections already).
    ///
    /// Accepted in Connect and Active (RFC 4271 §8.2.2) and also while Idle
    /// waits to dial again after a failure, as BIRD and FRR do: a peer that
    /// only dials out, or one that just restarted and refused our last
    /// attempt, must not wait for our backoff. The pending dial still happens
    /// unless a session is up by then; collision detection picks between the
    /// two connections.
    pub fn accept(&mut self, now: Instant, local: IpAddr) -> Option<ConnectionId> {
        if !self.started || self.conns.len() >= 2 {
            return None;
        }
        let id = self.alloc_id();
        self.conns.push(Connection::incoming(id, local));
        if self.established().is_some() {
            // RFC 4271 §6.8: a collision with an Established session closes
            // the new connection.
            let n = NotificationMessage::new(ErrorCode::Cease(
                CeaseSubcode::ConnectionCollisionResolution,
            ));
            self.close_connection(now, id, Some(n), CloseReason::Stopped);
            return Some(id);
        }
        self.tcp_up(now, id);
        self.update_state();
        Some(id)
    }

    /// Our outgoing connection `conn` completed (Tcp_CR_Acked).
    pub fn handle_connected(&mut self, now: Instant, conn: ConnectionId, local: IpAddr) {
        let Some(c) = self.conn_mut(conn) else {
            // Already given up on (ConnectRetry fired): the shell should
            // have closed it on our Close command.
            return;
        };
        if c.tcp_up {
            return;
        }
        c.tcp_up = true;
        c.local = Some(local);
        self.connect_retry_at = None;
        self.tcp_up(now, conn);
        self.update_state();
    }

    /// TCP failed, was refused, or the peer closed it (TcpConnectionFails).
    pub fn handle_closed(&mut self, now: Instant, conn: ConnectionId) {
        if self.conn(conn).is_none() {
            return;
        }
        self.close_connection(now, conn, None, CloseReason::TcpFailed);
        self.update_state();
    }

    /// Octets read from `conn`.
    pub fn handle_data(&mut self, now: Instant, conn: ConnectionId, data: &[u8]) {
        let Some(c) = self.conn_mut(conn) else { return };
        if !c.tcp_up {
            return;
        }
        c.reader.push(data);
        while let Some(c) = self.conn_mut(conn) {
            let codec = c.codec;
            match c.reader.next_message(codec) {
                Ok(None) => break,
                Ok(Some(msg)) => {
                    self.on_message(now, conn, msg);
                    self.update_state();
                }
                Err(e) => {
                    let n = e.notification();
                    self.close_connection(now, conn, n, CloseReason::TcpFailed);
                    break;
                }
            }
        }
        self.update_state();
    }

    /// The shell has written every octet handed out for `conn` so far: the
    /// RFC 9687 SendHoldTimer stops.
    pub fn handle_transmit_drained(&mut self, _now: Instant, conn: ConnectionId) {
        if let Some(c) = self.conn_mut(conn) {
            c.in_flight = 0;
            c.timers.stop(Timer::SendHold);
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.idle_until.is_some_and(|t| t <= now) {
            self.idle_until = None;
            // An incoming connection accepted meanwhile may already be
            // Established; then there is nothing to dial for.
            if self.started && self.established().is_none() && self.conns.len() < 2 {
                self.enter_connect(now);
            }
        }
        if self.connect_retry_at.is_some_and(|t| t <= now) {
            self.connect_retry_at = None;
            self.connect_retry_expired(now);
        }
        let ids: Vec<ConnectionId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            let Some(c) = self.conn_mut(id) else { continue };
            for t in c.timers.expired(now) {
                if self.conn(id).is_none() {
                    break;
                }
                self.on_timer(now, id, t);
            }
        }
        self.update_state();
    }

    // ----- outputs -------------------------------------------------------

    /// Next bytes to write. Call until `None` whenever something happened
    /// (and when a socket becomes writable again).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some((id, data)) = self.closing.iter_mut().find(|(_, d)| !d.is_empty()) {
            return Some(Transmit {
                conn: *id,
                data: std::mem::take(data),
            });
        }
        let est = self.established().map(|c| c.id);
        let send_hold_default = self.cfg.send_hold_time;
        for i in 0..self.conns.len() {
            let id = self.conns[i].id;
            if Some(id) == est {
                self.fill_updates(now, i);
            }
            let c = &mut self.conns[i];
            if c.out.is_empty() {
                continue;
            }
            let data = std::mem::take(&mut c.out);
            c.in_flight += data.len();
            if !c.timers.is_running(Timer::SendHold) {
                let hold = c
                    .negotiated
                    .as_ref()
                    .and_then(|n| n.hold())
                    .unwrap_or(Duration::ZERO);
                let send_hold = send_hold_default.unwrap_or_else(|| MIN_SEND_HOLD.max(hold * 2));
                c.timers.set(Timer::SendHold, now + send_hold);
            }
            return Some(Transmit { conn: id, data });
        }
        None
    }

    /// Next socket command (connect / close).
    pub fn poll_command(&mut self) -> Option<Command> {
        if let Some(c) = self.commands.pop_front() {
            return Some(c);
        }
        let i = self.closing.iter().position(|(_, d)| d.is_empty())?;
        let (id, _) = self.closing.remove(i);
        Some(Command::Close(id))
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Earliest deadline; call `handle_timeout` when it passes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns
            .iter()
            .filter_map(|c| c.timers.next_timeout())
            .chain(self.idle_until)
            .chain(self.connect_retry_at)
            .min()
    }

    // ----- internals -----------------------------------------------------

    fn alloc_id(&mut self) -> ConnectionId {
        let id = ConnectionId(self.next_id);
        self.next_id += 1;
        id
    }

    fn conn(&self, id: ConnectionId) -> Option<&Connection> {
        self.conns.iter().find(|c| c.id == id)
    }

    fn conn_mut(&mut self, id: ConnectionId) -> Option<&mut Connection> {
        self.conns.iter_mut().find(|c| c.id == id)
    }

    fn established(&self) -> Option<&Connection> {
        self.conns.iter().find(|c| c.state == State::Established)
    }

    fn compute_state(&self) -> State {
        if !self.started {
            return State::Idle;
        }
        match self.conns.iter().map(|c| c.state).max() {
            Some(s) => s,
            None if self.idle_until.is_some() => State::Idle,
            None => State::Active,
        }
    }

    fn update_state(&mut self) {
        let to = self.compute_state();
        if to != self.state {
            self.events.push_back(Event::StateChanged {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }

    /// Leaves Idle: dial (Connect) or wait for the peer (Active).
    fn enter_connect(&mut self, now: Instant) {
        if self.cfg.passive {
            return;
        }
        self.dial(now);
    }

    fn dial(&mut self, now: Instant) {
        let id = self.alloc_id();
        self.conns.push(Connection::outgoing(id));
        self.commands.push_back(Command::Connect(id));
        self.connect_retry_at = Some(now + self.jitter.apply(self.cfg.connect_retry_time));
    }

    /// RFC 4271 Event 9 in Connect: give up on the pending attempt and dial
    /// again; in Active (no connection): dial.
    fn connect_retry_expired(&mut self, now: Instant) {
        if !self.started || self.cfg.passive {
            return;
        }
        let pending: Vec<ConnectionId> = self
            .conns
            .iter()
            .filter(|c| c.outgoing && !c.tcp_up)
            .map(|c| c.id)
            .collect();
        for id in &pending {
            self.close_connection(now, *id, None, CloseReason::ConnectTimeout);
        }
        if self.conns.is_empty() || !pending.is_empty() {
            self.idle_until = None;
            self.dial(now);
        }
    }

    /// TCP is up on `id`: send OPEN now, or start DelayOpen.
    fn tcp_up(&mut self, now: Instant, id: ConnectionId) {
        let delay = self.cfg.delay_open;
        let Some(c) = self.conn_mut(id) else { return };
        match delay {
            Some(d) => {
                c.timers.set(Timer::DelayOpen, now + d);
                // Hold time for the DelayOpen phase, as in OpenSent.
            }
            None => self.send_open(now, id),
        }
        let open_hold = self.cfg.open_hold_time;
        if let Some(c) = self.conn_mut(id) {
            c.timers.set(Timer::Hold, now + open_hold);
        }
    }

    fn send_open(&mut self, now: Instant, id: ConnectionId) {
        let open_hold = self.cfg.open_hold_time;
        let open = {
            let Some(c) = self.conn(id) else { return };
            build_open(&self.cfg, c.local)
        };
        let Some(c) = self.conn_mut(id) else { return };
        c.send(&Message::Open(open.clone()));
        c.our_open = Some(open);
        c.timers.stop(Timer::DelayOpen);
        c.timers.set(Timer::Hold, now + open_hold);
        c.state = State::OpenSent;
    }

    fn on_timer(&mut self, now: Instant, id: ConnectionId, t: Timer) {
        match t {
            Timer::Hold => {
                let n = NotificationMessage::new(ErrorCode::HoldTimerExpired(0));
                self.close_connection(now, id, Some(n), CloseReason::TcpFailed);
            }
            Timer::SendHold => {
                // RFC 9687 §3: our output has been stuck; the NOTIFICATION is
                // attempted, but the shell must not block on it.
                let n = NotificationMessage::new(ErrorCode::SendHoldTimerExpired(0));
                self.close_connection(now, id, Some(n), CloseReason::TcpFailed);
            }
            Timer::Keepalive => self.send_keepalive(now, id),
            Timer::DelayOpen => self.send_open(now, id),
        }
    }

    fn send_keepalive(&mut self, now: Instant, id: ConnectionId) {
        let Some(c) = self.conn_mut(id) else { return };
        c.send(&Message::Keepalive);
        self.restart_keepalive(now, id);
    }

    fn restart_keepalive(&mut self, now: Instant, id: ConnectionId) {
        let Some(interval) = self.conn(id).and_then(|c| c.keepalive_interval()) else {
            return;
        };
        let d = self.jitter.apply(interval);
        if let Some(c) = self.conn_mut(id) {
            c.timers.set(Timer::Keepalive, now + d);
        }
    }

    /// Removes a connection, optionally sending a NOTIFICATION first, and
    /// decides what the peer does next.
    fn close_connection(
        &mut self,
        now: Instant,
        id: ConnectionId,
        notification: Option<NotificationMessage>,
        reason: CloseReason,
    ) {
        let Some(i) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        let mut c = self.conns.remove(i);
        let reason = match notification {
            Some(n) => {
                c.send(&Message::Notification(n.clone()));
                self.events.push_back(Event::NotificationSent(n.clone()));
                CloseReason::NotificationSent(n)
            }
            None => reason,
        };
        if c.state == State::Established {
            self.rib.session_down();
        }
        if c.tcp_up || c.outgoing {
            self.closing.push((id, c.out));
        }
        self.events
            .push_back(Event::ConnectionClosed { conn: id, reason });
        if self.conns.is_empty() && self.started {
            // No connection left: back to Idle with exponential backoff
            // (RFC 4271 §8.1.1 DampPeerOscillations), or keep waiting in
            // Active when passive.
            self.connect_retry_at = None;
            if !self.cfg.passive {
                self.idle_until = Some(now + self.backoff.next_delay(&mut self.jitter));
            }
        }
    }

    fn fsm_error(&mut self, now: Instant, id: ConnectionId, state: State) {
        let sub = match state {
            State::OpenSent => FsmSubcode::UnexpectedMessageInOpenSent,
            State::OpenConfirm => FsmSubcode::UnexpectedMessageInOpenConfirm,
            State::Established => FsmSubcode::UnexpectedMessageInEstablished,
            _ => FsmSubcode::Unspecified,
        };
        let n = NotificationMessage::new(ErrorCode::FsmError(sub));
        self.close_connection(now, id, Some(n), CloseReason::TcpFailed);
    }

    fn on_message(&mut self, now: Instant, id: ConnectionId, msg: Message) {
        let Some(c) = self.conn(id) else { return };
        let state = c.state;
        if let Message::Notification(n) = msg {
            self.events
                .push_back(Event::NotificationReceived(n.clone()));
            self.close_connection(now, id, None, CloseReason::NotificationReceived(n));
            return;
        }
        match (state, msg) {
            (State::Connect | State::Active | State::OpenSent, Message::Open(open)) => {
                self.on_open(now, id, open)
            }
            (State::OpenConfirm, Message::Keepalive) => self.on_established(now, id),
            (State::Established, Message::Keepalive) => {
                if let Some(c) = self.conn_mut(id) {
                    c.restart_hold(now);
                }
            }
            (State::Established, Message::Update(u)) => self.on_update(now, id, u),
            (State::Established, Message::RouteRefresh(rr)) => {
                if let Some(c) = self.conn_mut(id) {
                    c.restart_hold(now);
                }
                let ok = self.cfg.route_refresh
                    && self
                        .negotiated()
                        .is_some_and(|n| n.families.contains(&rr.family));
                // RFC 2918 §4: a refresh for a family we did not advertise
                // is ignored.
                if ok {
                    self.rib.route_refresh(rr.family);
                    self.events
                        .push_back(Event::RouteRefreshRequested(rr.family));
                }
            }
            (state, _) => self.fsm_error(now, id, state),
        }
    }

    fn on_open(&mut self, now: Instant, id: ConnectionId, open: OpenMessage) {
        let ours = {
            let Some(c) = self.conn(id) else { return };
            c.our_open
                .clone()
                .unwrap_or_else(|| build_open(&self.cfg, c.local))
        };
        let neg = match negotiate(&self.cfg, &ours, &open) {
            Ok(n) => n,
            Err(e) => {
                let n = e.notification();
                self.close_connection(now, id, Some(n), CloseReason::TcpFailed);
                return;
            }
        };
        if !self.resolve_collision(now, id, &neg) {
            return;
        }
        let delayed = self.conn(id).is_some_and(|c| !c.open_sent());
        if delayed {
            // RFC 4271 §8.2.2: OPEN received while DelayOpen runs: send ours
            // and a KEEPALIVE, go to OpenConfirm.
            self.send_open(now, id);
        }
        let Some(c) = self.conn_mut(id) else { return };
        c.codec = neg.codec();
        c.negotiated = Some(neg);
        c.send(&Message::Keepalive);
        c.state = State::OpenConfirm;
        c.restart_hold(now);
        self.restart_keepalive(now, id);
        self.events.push_back(Event::OpenReceived(Box::new(open)));
    }

    /// RFC 4271 §6.8. Returns false if `id` lost and was closed.
    fn resolve_collision(&mut self, now: Instant, id: ConnectionId, neg: &Negotiated) -> bool {
        let Some((other_id, other_state, other_outgoing)) = self
            .conns
            .iter()
            .find(|c| c.id != id && c.tcp_up)
            .map(|c| (c.id, c.state, c.outgoing))
        else {
            return true;
        };
        let this_outgoing = self.conn(id).is_some_and(|c| c.outgoing);
        let loser = match collision::resolve(
            (self.cfg.router_id, self.cfg.local_as),
            (neg.peer_id, neg.peer_as),
            this_outgoing,
            other_outgoing,
            other_state,
        ) {
            Loser::This => id,
            Loser::Other => other_id,
            Loser::Undecided => return true,
        };
        let kept = if loser == id { other_id } else { id };
        let cease = NotificationMessage::new(ErrorCode::Cease(
            CeaseSubcode::ConnectionCollisionResolution,
        ));
        self.close_connection(now, loser, Some(cease), CloseReason::TcpFailed);
        self.events.push_back(Event::CollisionResolved {
            kept,
            closed: loser,
        });
        loser != id
    }

    fn on_established(&mut self, now: Instant, id: ConnectionId) {
        let Some(c) = self.conn_mut(id) else { return };
        c.state = State::Established;
        c.restart_hold(now);
        let local = c.local;
        let Some(neg) = c.negotiated.clone() else {
            return;
        };
        self.backoff.reset();
        self.connect_retry_at = None;
        self.idle_until = None;
        // A dial still in progress is pointless now.
        let pending: Vec<ConnectionId> = self
            .conns
            .iter()
            .filter(|c| c.id != id && !c.tcp_up)
            .map(|c| c.id)
            .collect();
        for p in pending {
            self.close_connection(now, p, None, CloseReason::Stopped);
        }
        self.rib.session_up(export_policy(&self.cfg, &neg, local));
        self.events.push_back(Event::Established(Box::new(neg)));
    }

    fn on_update(&mut self, now: Instant, id: ConnectionId, update: UpdateMessage) {
        let Some(c) = self.conn_mut(id) else { return };
        c.restart_hold(now);
        let ebgp = c.negotiated.as_ref().is_some_and(|n| n.ebgp);
        if let Some(f) = update.as_end_of_rib() {
            self.events.push_back(Event::EndOfRibReceived(f));
            return;
        }
        let verdict = update.rfc7606_verdict(ebgp);
        self.events.push_back(Event::UpdateReceived {
            update: Box::new(update),
            verdict,
        });
    }

    /// Appends Adj-RIB-Out UPDATEs to the Established connection's output:
    /// withdrawals always, announcements while the window allows.
    fn fill_updates(&mut self, now: Instant, i: usize) {
        let mut sent_update = false;
        loop {
            let c = &self.conns[i];
            if c.out.len() >= TRANSMIT_CHUNK {
                break;
            }
            let window_open = c.in_flight + c.out.len() < ANNOUNCE_WINDOW;
            let next = if window_open {
                self.rib.next_update()
            } else {
                self.rib.next_withdrawal()
            };
            let Some(u) = next else { break };
            let c = &mut self.conns[i];
            let len_before = c.out.len();
            if Message::Update(u.update)
                .encode_into(c.codec, &mut c.out)
                .is_ok()
            {
                sent_update |= c.out.len() > len_before;
            }
            if let Some(f) = u.end_of_rib {
                self.events.push_back(Event::EndOfRibSent(f));
            }
        }
        if sent_update {
            // RFC 4271 §4.4: an UPDATE also proves liveness, so the next
            // KEEPALIVE can wait a full interval.
            let id = self.conns[i].id;
            self.restart_keepalive(now, id);
        }
    }
}
