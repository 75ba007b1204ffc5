//! RFC 4271 §8.2.2 transitions, driven on one `Peer` with a scripted remote.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp::packet::capabilities::Capability;
use bgp::packet::notification::{
    CeaseSubcode, ErrorCode, FsmSubcode, MessageHeaderSubcode, NotificationMessage,
    OpenMessageSubcode, UpdateMessageSubcode,
};
use bgp::packet::open::{OpenMessage, OptionalParameter};
use bgp::packet::update::UpdateMessage;
use bgp::packet::{CodecContext, Message};
use bgp::{
    CloseReason, Command, ConnectionId, Event, Family, Peer, PeerConfig, Prefix, RouteAttributes,
    State,
};
use common::messages;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const OUR_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const CTX: CodecContext = CodecContext {
    four_octet_as: true,
};

fn cfg() -> PeerConfig {
    let mut c = PeerConfig::new(65001, 65002, OUR_ID);
    c.hold_time = 9;
    c
}

fn peer_open(asn: u32, hold: u16, id: Ipv4Addr) -> OpenMessage {
    OpenMessage::new(
        asn,
        hold,
        id,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(asn),
        ],
    )
}

fn enc(m: Message) -> Vec<u8> {
    m.encode(CTX).unwrap()
}

struct Harness {
    peer: Peer,
    now: Instant,
}

impl Harness {
    fn new(cfg: PeerConfig) -> Self {
        Harness {
            peer: Peer::new(cfg, 42),
            now: Instant::now(),
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        self.peer.handle_timeout(now);
    }

    /// Advances to the next deadline.
    fn fire_next(&mut self) {
        let t = self.peer.poll_timeout().expect("a timer is armed");
        self.now = self.now.max(t);
        let now = self.now;
        self.peer.handle_timeout(now);
    }

    /// All bytes written on `conn` since last call, decoded.
    fn sent(&mut self, conn: ConnectionId) -> Vec<Message> {
        let mut out = Vec::new();
        let now = self.now;
        while let Some(t) = self.peer.poll_transmit(now) {
            assert_eq!(t.conn, conn);
            out.extend(messages(&t.data, CTX));
            self.peer.handle_transmit_drained(now, t.conn);
        }
        out
    }

    fn commands(&mut self) -> Vec<Command> {
        std::iter::from_fn(|| self.peer.poll_command()).collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.peer.poll_event()).collect()
    }

    fn recv(&mut self, conn: ConnectionId, m: Message) {
        let now = self.now;
        self.peer.handle_data(now, conn, &enc(m));
    }

    /// start → Connect → TCP up → OpenSent. Returns the connection.
    fn reach_open_sent(&mut self) -> ConnectionId {
        let now = self.now;
        self.peer.start(now);
        assert_eq!(self.peer.state(), State::Connect);
        let [Command::Connect(c)] = self.commands()[..] else {
            panic!()
        };
        self.peer.handle_connected(now, c, LOCAL);
        assert_eq!(self.peer.state(), State::OpenSent);
        let sent = self.sent(c);
        assert!(matches!(sent[..], [Message::Open(_)]), "{sent:?}");
        c
    }

    fn reach_open_confirm(&mut self) -> ConnectionId {
        let c = self.reach_open_sent();
        self.recv(c, Message::Open(peer_open(65002, 90, PEER_ID)));
        assert_eq!(self.peer.state(), State::OpenConfirm);
        assert_eq!(self.sent(c), vec![Message::Keepalive]);
        c
    }

    fn reach_established(&mut self) -> ConnectionId {
        let c = self.reach_open_confirm();
        self.recv(c, Message::Keepalive);
        assert_eq!(self.peer.state(), State::Established);
        c
    }

    /// Asserts the connection was closed after sending exactly `n`.
    fn expect_notification(&mut self, c: ConnectionId, code: ErrorCode) -> NotificationMessage {
        let sent = self.sent(c);
        let Some(Message::Notification(n)) = sent.last().cloned() else {
            panic!("no NOTIFICATION: {sent:?}")
        };
        assert_eq!(n.code, code);
        assert!(self.commands().contains(&Command::Close(c)));
        n
    }
}

#[test]
fn idle_until_manual_start() {
    let mut h = Harness::new(cfg());
    assert_eq!(h.peer.state(), State::Idle);
    assert_eq!(h.peer.poll_timeout(), None);
    assert!(h.commands().is_empty());
    // Idle refuses connections.
    let now = h.now;
    assert_eq!(h.peer.accept(now, LOCAL), None);
}

#[test]
fn full_handshake_and_negotiated_state() {
    let mut h = Harness::new(cfg());
    let c = h.reach_open_sent();
    let mut theirs = peer_open(65002, 30, PEER_ID);
    theirs.params.push(OptionalParameter::Capabilities(vec![
        Capability::GracefulRestart {
            flags: 0,
            time: 120,
            families: vec![],
        },
    ]));
    h.recv(c, Message::Open(theirs));
    assert_eq!(h.sent(c), vec![Message::Keepalive]);
    h.recv(c, Message::Keepalive);
    assert_eq!(h.peer.state(), State::Established);
    let n = h.peer.negotiated().unwrap();
    assert_eq!(n.hold_time, 9, "min(9, 30)");
    assert_eq!(n.keepalive, Duration::from_secs(3));
    assert!(n.peer_graceful_restart.is_some());
    let ev = h.events();
    let states: Vec<State> = ev
        .iter()
        .filter_map(|e| match e {
            Event::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        vec![
            State::Connect,
            State::OpenSent,
            State::OpenConfirm,
            State::Established
        ]
    );
    assert!(ev.iter().any(|e| matches!(e, Event::OpenReceived(_))));
    assert!(ev.iter().any(|e| matches!(e, Event::Established(_))));
    // End-of-RIB for IPv4 even with no routes.
    assert_eq!(h.sent(c), vec![Message::Update(UpdateMessage::default())]);
}

#[test]
fn keepalives_every_third_of_hold_and_hold_expiry_sends_4_0() {
    let mut h = Harness::new(cfg());
    let c = h.reach_established();
    h.sent(c);
    let t0 = h.now;
    let mut keepalives = 0;
    // Peer goes silent: we keep sending keepalives (jittered 0.75-1.0 × 3 s)
    // until the 9 s hold timer fires.
    loop {
        h.fire_next();
        let sent = h.sent(c);
        if let Some(Message::Notification(n)) = sent.last() {
            assert_eq!(n.code, ErrorCode::HoldTimerExpired(0));
            break;
        }
        assert_eq!(sent, vec![Message::Keepalive]);
        keepalives += 1;
    }
    assert_eq!(h.now - t0, Duration::from_secs(9));
    assert!((3..=4).contains(&keepalives), "{keepalives}");
    assert!(h.commands().contains(&Command::Close(c)));
    assert_eq!(h.peer.state(), State::Idle);
    assert!(h.events().iter().any(|e| matches!(e,
        Event::ConnectionClosed { reason: CloseReason::NotificationSent(n), .. } if n.code == ErrorCode::HoldTimerExpired(0))));
    // Automatic restart after the backoff.
    h.fire_next();
    assert_eq!(h.peer.state(), State::Connect);
    assert!(matches!(h.commands()[..], [Command::Connect(_)]));
}

#[test]
fn received_traffic_restarts_hold_timer() {
    let mut h = Harness::new(cfg());
    let c = h.reach_established();
    for _ in 0..10 {
        h.advance(Duration::from_secs(5));
        h.recv(c, Message::Keepalive);
    }
    assert_eq!(h.peer.state(), State::Established);
}

#[test]
fn hold_time_zero_disables_keepalives() {
    let mut h = Harness::new(cfg());
    let c = h.reach_open_sent();
    h.recv(c, Message::Open(peer_open(65002, 0, PEER_ID)));
    h.recv(c, Message::Keepalive);
    assert_eq!(h.peer.negotiated().unwrap().hold_time, 0);
    h.sent(c);
    // Only the SendHold timer may remain armed, and it stops on drain.
    assert_eq!(h.peer.poll_timeout(), None);
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.peer.state(), State::Established);
}

#[test]
fn unacceptable_hold_time_2_6() {
    for hold in [1, 2] {
        let mut h = Harness::new(cfg());
        let c = h.reach_open_sent();
        h.recv(c, Message::Open(peer_open(65002, hold, PEER_ID)));
        h.expect_notification(
            c,
            ErrorCode::OpenMessage(OpenMessageSubcode::UnacceptableHoldTime),
        );
        assert_eq!(h.peer.state(), State::Idle);
    }
}

#[test]
fn bad_peer_as_2_2() {
    let mut h = Harness::new(cfg());
    let c = h.reach_open_sent();
    h.recv(c, Message::Open(peer_open(65099, 90, PEER_ID)));
    h.expect_notification(c, ErrorCode::OpenMessage(OpenMessageSubcode::BadPeerAs));
}

#[test]
fn unsupported_version_2_1_with_our_version() {
    let mut h = Harness::new(cfg());
    let c = h.reach_open_sent();
    let mut o = peer_open(65002, 90, PEER_ID);
    o.version = 3;
    h.recv(c, Message::Open(o));
    let n = h.expect_notification(
        c,
        ErrorCode::OpenMessage(OpenMessageSubcode::UnsupportedVersionNumber),
    );
    assert_eq!(n.data, vec![0, 4]);
}

#[test]
fn bad_bgp_identifier_2_3() {
    let mut h = Harness::new(cfg());
    let c = h.reach_open_sent();
    h.recv(
        c,
        Message::Open(peer_open(65002, 90, Ipv4Addr::UNSPECIFIED)),
    );
    h.expect_notification(
        c,
        ErrorCode::OpenMessage(OpenMessageSubcode::BadBgpIdentifier),
    );
    // iBGP with our own identifier.
    let mut c2 = cfg();
    c2.remote_as = 65001;
    let mut h = Harness::new(c2);
    let c = h.reach_open_sent();
    h.recv(c, Message::Open(peer_open(65001, 90, OUR_ID)));
    h.expect_notification(
        c,
        ErrorCode::OpenMessage(OpenMessageSubcode::BadBgpIdentifier),
    );
}

#[test]
fn unsupported_optional_parameter_2_4() {
    let mut h = Harness::new(cfg());
    let c = h.reach_open_sent();
    let mut o = peer_open(65002, 90, PEER_ID);
    o.params.push(OptionalParameter::Unknown {
        param_type: 1,
        value: vec![0],
    });
    h.recv(c, Message::Open(o));
    h.expect_notification(
        c,
        ErrorCode::OpenMessage(OpenMessageSubcode::UnsupportedOptionalParameter),
    );
}

#[test]
fn two_octet_peer_with_as_trans_and_capability_is_accepted() {
    let mut c = cfg();
    c.remote_as = 4_200_000_002;
    let mut h = Harness::new(c);
    let conn = h.reach_open_sent();
    let o = peer_open(4_200_000_002, 90, PEER_ID);
    assert_eq!(o.my_as, 23456);
    h.recv(conn, Message::Open(o));
    assert_eq!(h.peer.state(), State::OpenConfirm);
}

#[test]
fn unexpected_messages_are_fsm_errors() {
    // KEEPALIVE in OpenSent → 5/1
    let mut h = Harness::new(cfg());
    let c = h.reach_open_sent();
    h.recv(c, Message::Keepalive);
    h.expect_notification(
        c,
        ErrorCode::FsmError(FsmSubcode::UnexpectedMessageInOpenSent),
    );
    // UPDATE in OpenConfirm → 5/2
    let mut h = Harness::new(cfg());
    let c = h.reach_open_confirm();
    h.recv(c, Message::Update(UpdateMessage::default()));
    h.expect_notification(
        c,
        ErrorCode::FsmError(FsmSubcode::UnexpectedMessageInOpenConfirm),
    );
    // OPEN in Established → 5/3
    let mut h = Harness::new(cfg());
    let c = h.reach_established();
    h.sent(c);
    h.recv(c, Message::Open(peer_open(65002, 90, PEER_ID)));
    h.expect_notification(
        c,
        ErrorCode::FsmError(FsmSubcode::UnexpectedMessageInEstablished),
    );
}

#[test]
fn notification_received_goes_idle_without_reply() {
    for stage in 0..3 {
        let mut h = Harness::new(cfg());
        let c = match stage {
            0 => h.reach_open_sent(),
            1 => h.reach_open_confirm(),
            _ => h.reach_established(),
        };
        h.sent(c);
        let n = NotificationMessage::cease(CeaseSubcode::AdministrativeShutdown, Some("bye"));
        h.recv(c, Message::Notification(n.clone()));
        assert!(h.sent(c).is_empty(), "never answer a NOTIFICATION with one");
        assert!(h.commands().contains(&Command::Close(c)));
        assert_eq!(h.peer.state(), State::Idle);
        assert!(h.events().contains(&Event::NotificationReceived(n)));
    }
}

#[test]
fn header_errors() {
    let cases: Vec<(Vec<u8>, MessageHeaderSubcode, Vec<u8>)> = vec![
        (
            {
                let mut m = enc(Message::Keepalive);
                m[0] = 0;
                m
            },
            MessageHeaderSubcode::ConnectionNotSynchronized,
            vec![],
        ),
        (
            {
                let mut m = enc(Message::Keepalive);
                m[17] = 20;
                m
            },
            MessageHeaderSubcode::BadMessageLength,
            vec![0, 20],
        ),
        (
            {
                let mut m = enc(Message::Keepalive);
                m[16] = 0x20;
                m[17] = 0;
                m
            },
            MessageHeaderSubcode::BadMessageLength,
            vec![0x20, 0],
        ),
        (
            {
                let mut m = enc(Message::Keepalive);
                m[18] = 9;
                m
            },
            MessageHeaderSubcode::BadMessageType,
            vec![9],
        ),
    ];
    for (bytes, sub, data) in cases {
        let mut h = Harness::new(cfg());
        let c = h.reach_established();
        h.sent(c);
        let now = h.now;
        h.peer.handle_data(now, c, &bytes);
        let n = h.expect_notification(c, ErrorCode::MessageHeader(sub));
        assert_eq!(n.data, data);
    }
}

#[test]
fn update_errors_reset_or_treat_as_withdraw() {
    use bgp::packet::attributes::{flags, AttributeValue, PathAttribute};
    // Unrecognised well-known attribute → 3/2 session reset.
    let mut h = Harness::new(cfg());
    let c = h.reach_established();
    h.sent(c);
    let raw = [0xffu8; 16]
        .iter()
        .copied()
        .chain([0, 27, 2, 0, 0, 0, 4, 0x40, 99, 1, 7])
        .collect::<Vec<u8>>();
    let now = h.now;
    h.peer.handle_data(now, c, &raw);
    let n = h.expect_notification(
        c,
        ErrorCode::UpdateMessage(UpdateMessageSubcode::UnrecognizedWellKnownAttribute),
    );
    assert_eq!(n.data, vec![0x40, 99, 1, 7]);

    // Bad ORIGIN value → treat-as-withdraw, session stays up.
    let mut h = Harness::new(cfg());
    let c = h.reach_established();
    h.sent(c);
    let u = UpdateMessage {
        attributes: vec![PathAttribute {
            flags: flags::WELL_KNOWN,
            value: AttributeValue::Unknown {
                type_code: 1,
                data: vec![7],
            },
        }],
        nlri: vec!["198.18.255.1/32".parse::<Prefix>().unwrap()],
        ..Default::default()
    };
    let now = h.now;
    h.peer.handle_data(now, c, &enc(Message::Update(u)));
    assert_eq!(h.peer.state(), State::Established);
    let ev = h.events();
    let verdict = ev
        .iter()
        .find_map(|e| match e {
            Event::UpdateReceived { verdict, .. } => Some(verdict.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        verdict.treat_as_withdraw.unwrap().subcode,
        UpdateMessageSubcode::InvalidOriginAttribute
    );

    // Withdrawn-routes length past the message → 3/1.
    let mut h = Harness::new(cfg());
    let c = h.reach_established();
    h.sent(c);
    let mut m = enc(Message::Update(UpdateMessage::default()));
    m[20] = 50;
    let now = h.now;
    h.peer.handle_data(now, c, &m);
    h.expect_notification(
        c,
        ErrorCode::UpdateMessage(UpdateMessageSubcode::MalformedAttributeList),
    );
}

#[test]
fn route_refresh_bad_length_7_1() {
    let mut h = Harness::new(cfg());
    let c = h.reach_established();
    h.sent(c);
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0, 24, 5, 0, 1, 0, 1, 0]);
    let now = h.now;
    h.peer.handle_data(now, c, &m);
    h.expect_notification(
        c,
        ErrorCode::RouteRefresh(
            bgp::packet::notification::RouteRefreshSubcode::InvalidMessageLength,
        ),
    );
}

#[test]
fn connect_retry_expiry_redials() {
    let mut c = cfg();
    c.connect_retry_time = Duration::from_secs(10);
    let mut h = Harness::new(c);
    let now = h.now;
    h.peer.start(now);
    let [Command::Connect(first)] = h.commands()[..] else {
        panic!()
    };
    h.fire_next();
    let elapsed = h.now - now;
    assert!(
        elapsed >= Duration::from_millis(7500) && elapsed <= Duration::from_secs(10),
        "{elapsed:?}"
    );
    let cmds = h.commands();
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(cmds.contains(&Command::Close(first)));
    assert!(
        matches!(cmds.iter().find(|c| matches!(c, Command::Connect(_))), Some(Command::Connect(n)) if *n != first)
    );
    assert_eq!(h.peer.state(), State::Connect);
}

#[test]
fn tcp_failure_in_each_state_goes_idle_then_retries() {
    for stage in 0..4 {
        let mut h = Harness::new(cfg());
        let now = h.now;
        let c = match stage {
            0 => {
                h.peer.start(now);
                let [Command::Connect(c)] = h.commands()[..] else {
                    panic!()
                };
                c
            }
            1 => h.reach_open_sent(),
            2 => h.reach_open_confirm(),
            _ => h.reach_established(),
        };
        let now = h.now;
        h.peer.handle_closed(now, c);
        assert_eq!(h.peer.state(), State::Idle, "stage {stage}");
        h.fire_next();
        assert_eq!(h.peer.state(), State::Connect);
    }
}

/// A peer that only dials out (ExaBGP with listening off), or one that just
/// restarted and refused our dial: its connection is accepted while we wait
/// to dial again, and the session comes up without waiting for the backoff.
#[test]
fn refused_dial_still_accepts_the_peers_connection() {
    let mut h = Harness::new(cfg());
    let now = h.now;
    h.peer.start(now);
    let [Command::Connect(dial)] = h.commands()[..] else {
        panic!()
    };
    // Connection refused: Idle with a restart pending.
    h.peer.handle_closed(now, dial);
    assert_eq!(h.peer.state(), State::Idle);
    let retry_at = h.peer.poll_timeout().expect("a restart is pending");
    assert!(retry_at > now);
    h.commands();

    let inc = h
        .peer
        .accept(now, LOCAL)
        .expect("accepted while Idle waits");
    assert_eq!(h.peer.state(), State::OpenSent);
    assert!(matches!(h.sent(inc)[..], [Message::Open(_)]));
    h.recv(inc, Message::Open(peer_open(65002, 90, PEER_ID)));
    assert_eq!(h.sent(inc), vec![Message::Keepalive]);
    h.recv(inc, Message::Keepalive);
    assert_eq!(h.peer.state(), State::Established);

    // The restart that was pending dials nothing once the session is up.
    h.now = retry_at + Duration::from_secs(1);
    let now = h.now;
    h.peer.handle_timeout(now);
    assert!(
        !h.commands()
            .iter()
            .any(|c| matches!(c, Command::Connect(_))),
        "dialled although Established"
    );
    assert_eq!(h.peer.state(), State::Established);
}

/// While the accepted connection is still opening, the pending dial goes out
/// and the two connections are left to collision detection.
#[test]
fn pending_dial_goes_out_beside_an_opening_inbound_connection() {
    let mut h = Harness::new(cfg());
    let now = h.now;
    h.peer.start(now);
    let [Command::Connect(dial)] = h.commands()[..] else {
        panic!()
    };
    h.peer.handle_closed(now, dial);
    h.commands();
    let inc = h.peer.accept(now, LOCAL).unwrap();
    h.sent(inc);
    h.fire_next();
    let cmds = h.commands();
    let [Command::Connect(out)] = cmds[..] else {
        panic!("{cmds:?}")
    };
    assert_ne!(out, inc);
    assert_eq!(h.peer.connections().len(), 2);
    assert_eq!(h.peer.state(), State::OpenSent);
}

#[test]
fn passive_waits_in_active_and_accepts() {
    let mut c = cfg();
    c.passive = true;
    let mut h = Harness::new(c);
    let now = h.now;
    h.peer.start(now);
    assert_eq!(h.peer.state(), State::Active);
    assert!(h.commands().is_empty());
    assert_eq!(h.peer.poll_timeout(), None);
    let conn = h.peer.accept(now, LOCAL).unwrap();
    assert_eq!(h.peer.state(), State::OpenSent);
    assert!(matches!(h.sent(conn)[..], [Message::Open(_)]));
    // Failure in OpenSent: back to Active, no dialling, no backoff.
    h.peer.handle_closed(now, conn);
    assert_eq!(h.peer.state(), State::Active);
    assert!(h.peer.accept(now, LOCAL).is_some());
}

#[test]
fn delay_open_waits_for_peer_open() {
    let mut c = cfg();
    c.passive = true;
    c.delay_open = Some(Duration::from_secs(5));
    // Case 1: the peer's OPEN arrives first → OPEN + KEEPALIVE, OpenConfirm.
    let mut h = Harness::new(c.clone());
    let now = h.now;
    h.peer.start(now);
    let conn = h.peer.accept(now, LOCAL).unwrap();
    assert_eq!(h.peer.state(), State::Active);
    assert!(h.sent(conn).is_empty());
    h.advance(Duration::from_secs(1));
    h.recv(conn, Message::Open(peer_open(65002, 90, PEER_ID)));
    let sent = h.sent(conn);
    assert!(
        matches!(sent[..], [Message::Open(_), Message::Keepalive]),
        "{sent:?}"
    );
    assert_eq!(h.peer.state(), State::OpenConfirm);
    // Case 2: DelayOpen expires → OPEN, OpenSent.
    let mut h = Harness::new(c);
    let now = h.now;
    h.peer.start(now);
    let conn = h.peer.accept(now, LOCAL).unwrap();
    h.fire_next();
    assert_eq!(h.now - now, Duration::from_secs(5));
    assert!(matches!(h.sent(conn)[..], [Message::Open(_)]));
    assert_eq!(h.peer.state(), State::OpenSent);
}

#[test]
fn send_hold_timer_expires_when_output_is_stuck() {
    let mut c = cfg();
    c.send_hold_time = Some(Duration::from_secs(20));
    let mut h = Harness::new(c);
    let conn = h.reach_established();
    h.sent(conn);
    let t0 = h.now;
    // From now on the shell never reports the socket drained, while the
    // peer keeps sending keepalives (so the receive hold timer is happy).
    let mut closed = false;
    for _ in 0..100 {
        h.advance(Duration::from_secs(1));
        h.recv(conn, Message::Keepalive);
        let now = h.now;
        while let Some(t) = h.peer.poll_transmit(now) {
            if let Some(Message::Notification(n)) = messages(&t.data, CTX).last() {
                assert_eq!(n.code, ErrorCode::SendHoldTimerExpired(0));
                closed = true;
            }
        }
        if closed {
            break;
        }
    }
    assert!(closed);
    let waited = h.now - t0;
    assert!(
        waited >= Duration::from_secs(20) && waited <= Duration::from_secs(24),
        "{waited:?}"
    );
    assert!(h.commands().contains(&Command::Close(conn)));
}

fn collide(local_id: Ipv4Addr, peer_id: Ipv4Addr) -> (ConnectionId, ConnectionId, Harness) {
    let mut c = cfg();
    c.router_id = local_id;
    let mut h = Harness::new(c);
    let out = h.reach_open_sent();
    let now = h.now;
    let inc = h.peer.accept(now, LOCAL).unwrap();
    assert!(matches!(h.sent(inc)[..], [Message::Open(_)]));
    // OPEN on the outgoing connection first: OpenConfirm.
    h.recv(out, Message::Open(peer_open(65002, 90, peer_id)));
    assert_eq!(h.sent(out), vec![Message::Keepalive]);
    // Then on the incoming one: collision.
    h.recv(inc, Message::Open(peer_open(65002, 90, peer_id)));
    (out, inc, h)
}

#[test]
fn collision_local_higher_id_keeps_our_connection() {
    let (out, inc, mut h) = collide(Ipv4Addr::new(192, 0, 2, 9), PEER_ID);
    h.expect_notification(
        inc,
        ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution),
    );
    assert!(h.events().contains(&Event::CollisionResolved {
        kept: out,
        closed: inc
    }));
    assert_eq!(h.peer.connections(), vec![(out, State::OpenConfirm)]);
    h.recv(out, Message::Keepalive);
    assert_eq!(h.peer.state(), State::Established);
}

#[test]
fn collision_peer_higher_id_keeps_their_connection() {
    let (out, inc, mut h) = collide(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 200));
    let now = h.now;
    let mut closed_out = false;
    while let Some(t) = h.peer.poll_transmit(now) {
        if t.conn == out {
            let m = messages(&t.data, CTX);
            assert!(matches!(m.last(), Some(Message::Notification(n))
                if n.code == ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution)));
            closed_out = true;
        } else {
            assert_eq!(messages(&t.data, CTX), vec![Message::Keepalive]);
        }
    }
    assert!(closed_out);
    assert!(h.commands().contains(&Command::Close(out)));
    assert!(h.events().contains(&Event::CollisionResolved {
        kept: inc,
        closed: out
    }));
    h.recv(inc, Message::Keepalive);
    assert_eq!(h.peer.state(), State::Established);
    assert_eq!(h.peer.established_connection(), Some(inc));
}

#[test]
fn inbound_while_established_is_ceased() {
    let mut h = Harness::new(cfg());
    let c = h.reach_established();
    h.sent(c);
    let now = h.now;
    let extra = h.peer.accept(now, LOCAL).unwrap();
    h.expect_notification(
        extra,
        ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution),
    );
    assert_eq!(h.peer.state(), State::Established);
}

#[test]
fn withdrawal_overtakes_pending_bulk_announcements() {
    let mut h = Harness::new(cfg());
    for i in 0..5000u32 {
        let a = Ipv4Addr::from(0xC612_0000 + i);
        h.peer
            .set_route(Prefix::host(IpAddr::V4(a)), RouteAttributes::default());
    }
    let c = h.reach_established();
    let now = h.now;
    // The shell takes one chunk, then the health checker fails a VIP that
    // has not been announced yet and one that has.
    let first = h.peer.poll_transmit(now).unwrap();
    let first_msgs = messages(&first.data, CTX);
    let announced_first = match &first_msgs[0] {
        Message::Update(u) => u.nlri[0],
        m => panic!("{m:?}"),
    };
    let late = Prefix::host(IpAddr::V4(Ipv4Addr::from(0xC612_0000 + 4999)));
    h.peer.remove_route(announced_first);
    h.peer.remove_route(late);
    let next = messages(&h.peer.poll_transmit(now).unwrap().data, CTX);
    let Message::Update(u) = &next[0] else {
        panic!()
    };
    assert_eq!(
        u.withdrawn,
        vec![announced_first],
        "withdrawal first, only what was sent"
    );
    // The never-sent prefix is neither withdrawn nor announced later.
    let mut rest = next[1..].to_vec();
    while let Some(t) = h.peer.poll_transmit(now) {
        rest.extend(messages(&t.data, CTX));
    }
    let all: Vec<Prefix> = rest
        .iter()
        .flat_map(|m| match m {
            Message::Update(u) => u
                .nlri
                .iter()
                .chain(&u.withdrawn)
                .copied()
                .collect::<Vec<_>>(),
            _ => vec![],
        })
        .collect();
    assert!(!all.contains(&late));
    let _ = c;
}

#[test]
fn announcements_pause_while_output_not_drained() {
    let mut h = Harness::new(cfg());
    for i in 0..20000u32 {
        let a = Ipv4Addr::from(0xC612_0000 + i);
        h.peer
            .set_route(Prefix::host(IpAddr::V4(a)), RouteAttributes::default());
    }
    let c = h.reach_established();
    let now = h.now;
    let mut handed = 0;
    while let Some(t) = h.peer.poll_transmit(now) {
        handed += t.data.len();
    }
    assert!(
        handed < 96 * 1024,
        "{handed} octets handed out without a drain"
    );
    // A withdrawal still goes out while the window is closed.
    h.peer
        .remove_route(Prefix::host(IpAddr::V4(Ipv4Addr::from(0xC612_0000))));
    let t = h.peer.poll_transmit(now).unwrap();
    assert!(matches!(&messages(&t.data, CTX)[0], Message::Update(u) if u.withdrawn.len() == 1));
    h.peer.handle_transmit_drained(now, c);
    assert!(h.peer.poll_transmit(now).is_some());
}

fn vector(prefix: &str) -> Vec<u8> {
    let text = include_str!("data/bird-gobgp-frr-exabgp.txt");
    let line = text
        .lines()
        .filter_map(|l| l.strip_prefix("bgp hex: "))
        .find(|h| h.starts_with(prefix))
        .unwrap_or_else(|| panic!("no vector {prefix}"));
    (0..line.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
        .collect()
}

const MARKER_HEX: &str = "ffffffffffffffffffffffffffffffff";

/// Our UPDATE for a VIP is byte-identical to BIRD's for the same route, and
/// the real OPENs of BIRD, gobgpd, FRR and ExaBGP are accepted.
#[test]
fn real_peer_opens_are_accepted_and_our_update_matches_bird() {
    // (OPEN vector, peer AS, route refresh, graceful restart)
    let opens = [
        (format!("{MARKER_HEX}00350104fde8"), 65000, true, true), // BIRD router
        (format!("{MARKER_HEX}003b0104fdea"), 65002, true, false), // gobgpd
        (format!("{MARKER_HEX}00610104fdeb"), 65003, true, true), // FRR
        (format!("{MARKER_HEX}00310104fdec"), 65004, false, false), // ExaBGP
    ];
    for (prefix, asn, rr, gr) in opens {
        let mut c = PeerConfig::new(65001, asn, Ipv4Addr::new(198, 18, 1, 2));
        c.hold_time = 90;
        let mut h = Harness::new(c);
        h.peer.set_route(
            "198.18.255.1/32".parse().unwrap(),
            RouteAttributes::default(),
        );
        let now = h.now;
        h.peer.start(now);
        let [Command::Connect(conn)] = h.commands()[..] else {
            panic!()
        };
        h.peer
            .handle_connected(now, conn, IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)));
        h.sent(conn);
        h.peer.handle_data(now, conn, &vector(&prefix));
        assert_eq!(h.peer.state(), State::OpenConfirm, "{prefix}");
        h.sent(conn);
        h.peer
            .handle_data(now, conn, &vector(&format!("{MARKER_HEX}001304")));
        assert_eq!(h.peer.state(), State::Established);
        let n = h.peer.negotiated().unwrap().clone();
        assert_eq!(n.hold_time, 3);
        assert_eq!(n.keepalive, Duration::from_secs(1));
        assert_eq!(n.route_refresh, rr, "{prefix}");
        assert_eq!(n.peer_graceful_restart.is_some(), gr, "{prefix}");
        assert!(n.four_octet_as);
        assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
        let mut wire = Vec::new();
        while let Some(t) = h.peer.poll_transmit(now) {
            wire.extend(t.data);
        }
        if asn == 65000 {
            // BIRD (AS 65001, 198.18.1.2) announcing 198.18.255.1/32, then
            // End-of-RIB: the exact octets of the capture.
            let mut want = vector(&format!(
                "{MARKER_HEX}003002000000144001010040020602010000fde9"
            ));
            want.extend(vector(&format!("{MARKER_HEX}00170200000000")));
            assert_eq!(wire, want);
        }
    }
}

#[test]
fn absurd_durations_do_not_panic() {
    let mut c = cfg();
    c.connect_retry_time = Duration::MAX;
    c.idle_hold_min = Duration::MAX;
    c.idle_hold_max = Duration::MAX;
    c.open_hold_time = Duration::MAX;
    c.send_hold_time = Some(Duration::MAX);
    c.delay_open = Some(Duration::MAX);
    let mut h = Harness::new(c);
    let conn = h.reach_open_sent_delayed();
    let now = h.now;
    h.peer.handle_closed(now, conn);
    h.fire_next();
    assert_eq!(h.peer.state(), State::Connect);
}

impl Harness {
    /// Like `reach_open_sent` but with DelayOpen configured: TCP up, no OPEN.
    fn reach_open_sent_delayed(&mut self) -> ConnectionId {
        let now = self.now;
        self.peer.start(now);
        let [Command::Connect(c)] = self.commands()[..] else {
            panic!()
        };
        self.peer.handle_connected(now, c, LOCAL);
        assert!(self.sent(c).is_empty());
        c
    }
}

/// RFC 5882 §4.3 with RFC 9384: BFD Down tears an Established session down at once with
/// Cease/BFD Down (subcode 10), then the peer dials again after its restart backoff.
#[test]
fn bfd_down_tears_the_session_down_with_cease_10() {
    let mut h = Harness::new(cfg());
    let c = h.reach_established();
    h.events();
    let now = h.now;
    assert!(h.peer.handle_bfd_down(now));
    assert_eq!(h.peer.state(), State::Idle);
    let n = h.expect_notification(c, ErrorCode::Cease(CeaseSubcode::BfdDown));
    assert_eq!(enc(Message::Notification(n.clone()))[19..], [6, 10]);
    let ev = h.events();
    assert!(ev.contains(&Event::NotificationSent(n.clone())), "{ev:?}");
    assert!(ev.contains(&Event::StateChanged {
        from: State::Established,
        to: State::Idle
    }));
    // Still started: the restart backoff brings a new dial.
    h.fire_next();
    assert!(matches!(h.commands()[..], [Command::Connect(_)]));
    // Nothing to tear down while only dialling: no NOTIFICATION, the dial is abandoned.
    let now = h.now;
    assert!(h.peer.handle_bfd_down(now));
    let ev = h.events();
    assert!(
        !ev.iter().any(|e| matches!(e, Event::NotificationSent(_))),
        "{ev:?}"
    );
    let now = h.now;
    assert!(!h.peer.handle_bfd_down(now), "nothing left");
}
