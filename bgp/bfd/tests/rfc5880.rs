//! One session against packets written by hand, a test per rule of RFC 5880 §6.8 (quoted).

use std::time::{Duration, Instant};

use bfd::{
    Action, AuthConfig, AuthSection, AuthType, ControlPacket, Diagnostic, Discard, Jitter, RxMeta,
    Session, SessionConfig, State,
};

const MS: Duration = Duration::from_millis(1);
const LOCAL: u32 = 0xaaaa;
const REMOTE: u32 = 0xbbbb;
const TTL: RxMeta = RxMeta { ttl: 255 };

fn cfg() -> SessionConfig {
    SessionConfig::new(50 * MS, 3)
}

fn session(cfg: SessionConfig) -> (Session, Instant) {
    let t0 = Instant::now();
    let mut s = Session::new(cfg, LOCAL, 100).unwrap();
    s.start(t0);
    (s, t0)
}

/// A packet from the remote system.
fn remote(state: State, your: u32) -> ControlPacket {
    ControlPacket {
        state,
        my_discriminator: REMOTE,
        your_discriminator: your,
        desired_min_tx: 50_000,
        required_min_rx: 50_000,
        detect_mult: 3,
        ..ControlPacket::default()
    }
}

fn bytes(p: &ControlPacket) -> Vec<u8> {
    p.encode().unwrap()
}

fn sent(s: &mut Session) -> Vec<ControlPacket> {
    let mut out = Vec::new();
    while let Some(a) = s.poll_action() {
        if let Action::Transmit(t) = a {
            out.push(t.packet);
        }
    }
    out
}

fn changes(s: &mut Session) -> Vec<(State, State, Diagnostic)> {
    let mut out = Vec::new();
    while let Some(a) = s.poll_action() {
        if let Action::StateChanged(c) = a {
            out.push((c.from, c.to, c.diag));
        }
    }
    out
}

/// Brings `s` Up against the hand-written remote at `now`.
fn bring_up(s: &mut Session, now: Instant) {
    s.handle_packet(now, TTL, &bytes(&remote(State::Down, 0)))
        .unwrap();
    s.handle_packet(now, TTL, &bytes(&remote(State::Init, LOCAL)))
        .unwrap();
    assert_eq!(s.state(), State::Up);
}

// ----- §6.8.1 State Variables -------------------------------------------------------------

/// bfd.SessionState and bfd.RemoteSessionState "MUST be initialized to Down"; bfd.RemoteDiscr
/// and bfd.LocalDiag to zero; bfd.RemoteMinRxInterval to 1; bfd.DesiredMinTxInterval "to a
/// value of at least one second".
#[test]
fn initial_values() {
    let s = Session::new(cfg(), LOCAL, 0).unwrap();
    let st = s.status();
    assert_eq!(st.state, State::Down);
    assert_eq!(st.remote_state, State::Down);
    assert_eq!(st.remote_discr, 0);
    assert_eq!(st.local_diag, Diagnostic::NoDiagnostic);
    assert_eq!(st.remote_min_rx, Duration::from_micros(1));
    assert_eq!(st.desired_min_tx, Duration::from_secs(1));
    assert_eq!(st.required_min_rx, 50 * MS);
    // bfd.LocalDiscr "MUST be unique across all BFD sessions on this system, and nonzero".
    assert!(Session::new(cfg(), 0, 0).is_err());
    // bfd.DetectMult "MUST be a nonzero integer".
    assert!(Session::new(SessionConfig::new(50 * MS, 0), LOCAL, 0).is_err());
}

// ----- §6.1, §6.8.7 transmission -----------------------------------------------------------

/// "A system taking the Active role MUST send BFD Control packets for a particular session,
/// regardless of whether it has received any BFD packets for that session."
#[test]
fn active_role_sends_at_once_and_every_second_while_down() {
    let (mut s, t0) = session(cfg());
    assert_eq!(s.poll_timeout(), Some(t0));
    s.handle_timeout(t0, Jitter::NONE);
    let p = sent(&mut s);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].state, State::Down);
    assert_eq!(p[0].my_discriminator, LOCAL);
    assert_eq!(p[0].your_discriminator, 0);
    assert_eq!(p[0].desired_min_tx, 1_000_000);
    assert!(!p[0].poll && !p[0].final_ && !p[0].demand && !p[0].multipoint);
    assert_eq!(p[0].required_min_echo_rx, 0);
    // The 1 s pace of §6.8.3, jittered down by at most 25 %.
    assert_eq!(s.poll_timeout(), Some(t0 + 1000 * MS));
    s.handle_timeout(t0 + 1000 * MS, Jitter(u16::MAX));
    assert_eq!(sent(&mut s).len(), 1);
    let next = s.poll_timeout().unwrap() - (t0 + 1000 * MS);
    assert!(next > 750 * MS && next < 751 * MS, "{next:?}");
}

/// "A system taking the Passive role MUST NOT begin sending BFD packets for a particular
/// session until it has received a BFD packet for that session."
#[test]
fn passive_role_waits_for_the_remote() {
    let mut c = cfg();
    c.passive = true;
    let (mut s, t0) = session(c);
    assert_eq!(s.poll_timeout(), None);
    s.handle_packet(t0, TTL, &bytes(&remote(State::Down, 0)))
        .unwrap();
    let p = sent(&mut s);
    assert_eq!(p.len(), 1, "the Init that answers");
    assert_eq!(p[0].state, State::Init);
    assert_eq!(p[0].your_discriminator, REMOTE);
}

/// "A system MUST NOT periodically transmit BFD Control packets if bfd.RemoteMinRxInterval is
/// zero."
#[test]
fn remote_min_rx_zero_stops_periodic_packets() {
    let (mut s, t0) = session(cfg());
    bring_up(&mut s, t0);
    let mut p = remote(State::Up, LOCAL);
    p.required_min_rx = 0;
    s.handle_packet(t0 + MS, TTL, &bytes(&p)).unwrap();
    sent(&mut s);
    // Only the detection timer is left.
    assert_eq!(s.poll_timeout(), Some(t0 + MS + 150 * MS));
}

/// §6.8.6: with bfd.RemoteDemandMode 1 and both Up the local system "MUST cease the periodic
/// transmission of BFD Control packets"; Poll Sequences still go out.
#[test]
fn remote_demand_mode_is_honoured() {
    let (mut s, t0) = session(cfg());
    bring_up(&mut s, t0);
    // Finish our Poll Sequence first.
    let mut f = remote(State::Up, LOCAL);
    f.final_ = true;
    s.handle_packet(t0 + MS, TTL, &bytes(&f)).unwrap();
    let mut d = remote(State::Up, LOCAL);
    d.demand = true;
    s.handle_packet(t0 + 2 * MS, TTL, &bytes(&d)).unwrap();
    assert!(s.status().remote_demand);
    sent(&mut s);
    let deadline = s.poll_timeout().unwrap();
    // The Detection Time still runs, nothing else.
    assert_eq!(deadline, t0 + 2 * MS + 150 * MS);
    // A Poll from the remote is answered even so.
    d.poll = true;
    s.handle_packet(t0 + 3 * MS, TTL, &bytes(&d)).unwrap();
    let p = sent(&mut s);
    assert_eq!(p.len(), 1);
    assert!(p[0].final_ && !p[0].poll);
}

/// §6.8.7: the interval is "the larger of bfd.DesiredMinTxInterval and
/// bfd.RemoteMinRxInterval", reduced by 0-25 % of jitter; a reduced RemoteMinRxInterval is
/// honoured immediately (§6.8.3).
#[test]
fn transmit_interval_follows_the_remote_required_min_rx() {
    let (mut s, t0) = session(cfg());
    bring_up(&mut s, t0);
    let mut slow = remote(State::Up, LOCAL);
    slow.required_min_rx = 400_000;
    // A slow sender, so the Detection Time (3 s) is not the next deadline.
    slow.desired_min_tx = 1_000_000;
    slow.final_ = true;
    s.handle_packet(t0 + MS, TTL, &bytes(&slow)).unwrap();
    assert_eq!(s.tx_interval(), 400 * MS);
    let t = s.poll_timeout().unwrap();
    s.handle_timeout(t, Jitter::NONE);
    sent(&mut s);
    assert_eq!(s.poll_timeout(), Some(t + 400 * MS));
    let mut fast = remote(State::Up, LOCAL);
    fast.required_min_rx = 10_000;
    fast.desired_min_tx = 1_000_000;
    s.handle_packet(t + 5 * MS, TTL, &bytes(&fast)).unwrap();
    assert_eq!(s.tx_interval(), 50 * MS);
    assert_eq!(s.poll_timeout(), Some(t + 50 * MS), "moved at once");
}

// ----- §6.8.6 reception: every discard, counted by reason ---------------------------------

fn expect_discard(s: &mut Session, now: Instant, ttl: u8, b: &[u8], reason: Discard) {
    let before = s.statistics().discards(reason);
    let state = s.status();
    assert_eq!(s.handle_packet(now, RxMeta { ttl }, b), Err(reason));
    assert_eq!(s.statistics().discards(reason), before + 1);
    let mut after = s.status();
    // Nothing of the remote system's was taken from a discarded packet.
    after.detection_time = state.detection_time;
    assert_eq!(after, state, "{reason:?} changed the session");
}

#[test]
fn every_discard_rule() {
    let (mut s, t0) = session(cfg());
    let good = bytes(&remote(State::Down, 0));
    // RFC 5881 §5: TTL 255 only.
    expect_discard(&mut s, t0, 254, &good, Discard::Ttl);
    expect_discard(&mut s, t0, 1, &good, Discard::Ttl);
    // "If the version number is not correct (1)".
    let mut v = good.clone();
    v[0] = (v[0] & 0x1f) | (2 << 5);
    expect_discard(&mut s, t0, 255, &v, Discard::Version);
    expect_discard(&mut s, t0, 255, &good[..3], Discard::Truncated);
    // "If the Length field is less than the minimum correct value".
    let mut l = good.clone();
    l[3] = 20;
    expect_discard(&mut s, t0, 255, &l, Discard::LengthTooSmall);
    // "If the Length field is greater than the payload".
    expect_discard(&mut s, t0, 255, &good[..23], Discard::LengthExceedsPayload);
    // "If the Detect Mult field is zero".
    let mut p = remote(State::Down, 0);
    p.detect_mult = 0;
    expect_discard(&mut s, t0, 255, &bytes(&p), Discard::DetectMultZero);
    // "If the Multipoint (M) bit is nonzero".
    let mut p = remote(State::Down, 0);
    p.multipoint = true;
    expect_discard(&mut s, t0, 255, &bytes(&p), Discard::Multipoint);
    // "If the My Discriminator field is zero".
    let mut p = remote(State::Down, 0);
    p.my_discriminator = 0;
    expect_discard(&mut s, t0, 255, &bytes(&p), Discard::MyDiscriminatorZero);
    // A Your Discriminator that is not ours.
    expect_discard(
        &mut s,
        t0,
        255,
        &bytes(&remote(State::Init, 0x5555)),
        Discard::YourDiscriminatorUnknown,
    );
    // "If the Your Discriminator field is zero and the State field is not Down or AdminDown".
    for st in [State::Init, State::Up] {
        expect_discard(
            &mut s,
            t0,
            255,
            &bytes(&remote(st, 0)),
            Discard::YourDiscriminatorZero,
        );
    }
    // "If the A bit is set and no authentication is in use".
    let mut p = remote(State::Down, 0);
    p.auth = Some(AuthSection::SimplePassword {
        key_id: 1,
        password: b"x".to_vec(),
    });
    expect_discard(&mut s, t0, 255, &bytes(&p), Discard::AuthUnexpected);
    // A malformed Authentication Section.
    let mut b = bytes(&p);
    b[25] = 2;
    expect_discard(&mut s, t0, 255, &b, Discard::AuthLength);
    assert_eq!(s.statistics().packets_in, 0);
    assert_eq!(s.statistics().discards_total(), 14);
    // The same packet with TTL 255 and nothing wrong is taken.
    s.handle_packet(t0, TTL, &good).unwrap();
    assert_eq!(s.statistics().packets_in, 1);
    assert_eq!(s.state(), State::Init);
}

/// "If bfd.SessionState is AdminDown: Discard the packet."
#[test]
fn admin_down_discards_everything() {
    let (mut s, t0) = session(cfg());
    s.admin_down(t0, Diagnostic::AdministrativelyDown);
    assert_eq!(
        s.handle_packet(t0, TTL, &bytes(&remote(State::Down, 0))),
        Err(Discard::AdminDown)
    );
    assert_eq!(s.state(), State::AdminDown);
}

// ----- §6.8.6 the state machine ------------------------------------------------------------

/// Every (local, received) pair of the state machine.
#[test]
fn state_machine_table() {
    use State::*;
    let cases = [
        // (local before, received, local after, diag)
        (Down, Down, Init, Diagnostic::NoDiagnostic),
        (Down, Init, Up, Diagnostic::NoDiagnostic),
        (Down, Up, Down, Diagnostic::NoDiagnostic),
        (Down, AdminDown, Down, Diagnostic::NoDiagnostic),
        (Init, Down, Init, Diagnostic::NoDiagnostic),
        (Init, Init, Up, Diagnostic::NoDiagnostic),
        (Init, Up, Up, Diagnostic::NoDiagnostic),
        (
            Init,
            AdminDown,
            Down,
            Diagnostic::NeighborSignaledSessionDown,
        ),
        (Up, Down, Down, Diagnostic::NeighborSignaledSessionDown),
        (Up, Init, Up, Diagnostic::NoDiagnostic),
        (Up, Up, Up, Diagnostic::NoDiagnostic),
        (Up, AdminDown, Down, Diagnostic::NeighborSignaledSessionDown),
    ];
    for (before, received, after, diag) in cases {
        let (mut s, t0) = session(cfg());
        match before {
            Down => {}
            Init => {
                s.handle_packet(t0, TTL, &bytes(&remote(Down, 0))).unwrap();
            }
            _ => bring_up(&mut s, t0),
        }
        assert_eq!(s.state(), before);
        sent(&mut s);
        let your = if matches!(received, Down | AdminDown) {
            0
        } else {
            LOCAL
        };
        s.handle_packet(t0 + MS, TTL, &bytes(&remote(received, your)))
            .unwrap();
        assert_eq!(s.state(), after, "{before:?} + {received:?}");
        if after != before {
            assert_eq!(s.local_diag(), diag, "{before:?} + {received:?}");
            // A packet goes out at once to tell the remote system.
            let p = sent(&mut s);
            assert_eq!(p.len(), 1);
            assert_eq!(p[0].state, after);
        }
    }
}

/// §6.8.4: no packet for a Detection Time in Init or Up: Down, diag 1, RemoteDiscr 0.
#[test]
fn detection_time_expiry() {
    let (mut s, t0) = session(cfg());
    bring_up(&mut s, t0);
    // The remote's 1 s Desired Min TX (still polling) makes it 3 s.
    let mut p = remote(State::Up, LOCAL);
    p.desired_min_tx = 1_000_000;
    s.handle_packet(t0 + MS, TTL, &bytes(&p)).unwrap();
    assert_eq!(s.detection_time(), Some(3000 * MS));
    while let Some(d) = s.poll_timeout() {
        if d >= t0 + MS + 3000 * MS || s.state() != State::Up {
            break;
        }
        s.handle_timeout(d, Jitter::NONE);
    }
    assert_eq!(s.state(), State::Up);
    changes(&mut s);
    s.handle_timeout(t0 + MS + 3000 * MS, Jitter::NONE);
    assert_eq!(
        changes(&mut s),
        [(
            State::Up,
            State::Down,
            Diagnostic::ControlDetectionTimeExpired
        )]
    );
    assert_eq!(s.remote_discr(), 0);

    // In Down the timer only forgets the remote discriminator.
    let (mut s, t0) = session(cfg());
    s.handle_packet(t0, TTL, &bytes(&remote(State::AdminDown, 0)))
        .unwrap();
    assert_eq!(s.remote_discr(), REMOTE);
    s.handle_timeout(t0 + 150 * MS, Jitter::NONE);
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.remote_discr(), 0);
}

// ----- §6.5 Poll Sequence ------------------------------------------------------------------

/// "If the Poll (P) bit is set, send a BFD Control packet to the remote system with the Poll
/// (P) bit clear, and the Final (F) bit set" -- at once, in any state.
#[test]
fn poll_is_answered_with_final_at_once() {
    for up in [false, true] {
        let (mut s, t0) = session(cfg());
        if up {
            bring_up(&mut s, t0);
        }
        sent(&mut s);
        let mut p = remote(
            if up { State::Up } else { State::Down },
            if up { LOCAL } else { 0 },
        );
        p.poll = true;
        s.handle_packet(t0 + MS, TTL, &bytes(&p)).unwrap();
        let out = sent(&mut s);
        let f = out.last().unwrap();
        assert!(f.final_ && !f.poll, "{f:?}");
    }
}

/// Coming Up changes bfd.DesiredMinTxInterval from 1 s to the configured value: a Poll
/// Sequence, P on every periodic packet until a Final, never P and F together.
#[test]
fn coming_up_polls_for_the_fast_interval() {
    let (mut s, t0) = session(cfg());
    bring_up(&mut s, t0);
    let st = s.status();
    assert!(st.polling);
    assert_eq!(st.desired_min_tx, 50 * MS);
    assert_eq!(st.tx_interval, 50 * MS, "a faster pace applies at once");
    let p = sent(&mut s);
    assert_eq!(p.last().unwrap().state, State::Up);
    assert!(p.last().unwrap().poll, "the Up packet starts the sequence");
    let mut t = t0;
    for _ in 0..3 {
        t = s.poll_timeout().unwrap();
        s.handle_timeout(t, Jitter::NONE);
        let p = sent(&mut s);
        assert!(
            p.iter()
                .all(|p| p.poll && !p.final_ && p.desired_min_tx == 50_000),
            "{p:?}"
        );
    }
    let mut f = remote(State::Up, LOCAL);
    f.final_ = true;
    s.handle_packet(t + MS, TTL, &bytes(&f)).unwrap();
    assert!(!s.status().polling);
    let t = s.poll_timeout().unwrap();
    s.handle_timeout(t, Jitter::NONE);
    assert!(sent(&mut s).iter().all(|p| !p.poll));
    assert_eq!(s.statistics().polls_completed, 1);
}

/// §6.8.3: a second change during a Poll Sequence waits for it to end and for a packet
/// without F, then gets its own Poll Sequence.
#[test]
fn second_change_gets_its_own_poll() {
    let (mut s, t0) = session(cfg());
    bring_up(&mut s, t0);
    let mut c = cfg();
    c.required_min_rx = 100 * MS;
    s.reconfigure(t0 + MS, c).unwrap();
    let mut f = remote(State::Up, LOCAL);
    f.final_ = true;
    s.handle_packet(t0 + 2 * MS, TTL, &bytes(&f)).unwrap();
    assert!(!s.status().polling, "the first sequence ended");
    s.handle_packet(t0 + 3 * MS, TTL, &bytes(&f)).unwrap();
    assert!(!s.status().polling, "a second Final does not start one");
    s.handle_packet(t0 + 4 * MS, TTL, &bytes(&remote(State::Up, LOCAL)))
        .unwrap();
    assert!(s.status().polling, "the pending change is polled now");
}

// ----- §6.8.16 Administrative Control ------------------------------------------------------

#[test]
fn admin_down_then_up() {
    let (mut s, t0) = session(cfg());
    bring_up(&mut s, t0);
    let mut f = remote(State::Up, LOCAL);
    f.final_ = true;
    s.handle_packet(t0, TTL, &bytes(&f)).unwrap();
    sent(&mut s);
    let t = t0 + 10 * MS;
    s.admin_down(t, Diagnostic::AdministrativelyDown);
    let mut times = Vec::new();
    let mut out = sent(&mut s);
    times.push(t);
    while let Some(d) = s.poll_timeout() {
        if d > t + 10_000 * MS {
            break;
        }
        s.handle_timeout(d, Jitter::NONE);
        let p = sent(&mut s);
        if !p.is_empty() {
            times.push(d);
        }
        out.extend(p);
    }
    assert!(out
        .iter()
        .all(|p| p.state == State::AdminDown && p.diag == Diagnostic::AdministrativelyDown));
    // "for at least a Detection Time" of the remote system (3 x 50 ms), at the pace it knows.
    assert_eq!(times, [t, t + 50 * MS, t + 100 * MS, t + 150 * MS]);
    s.admin_up(t + 1000 * MS);
    assert_eq!(s.state(), State::Down);
    let p = sent(&mut s);
    assert_eq!(p.len(), 1, "Down, at once");
    assert_eq!(
        (p[0].state, p[0].diag),
        (State::Down, Diagnostic::NoDiagnostic)
    );
    // Periodic packets again, at the 1 s pace from the last one.
    assert_eq!(s.poll_timeout(), Some(t + 150 * MS + 1000 * MS));
}

// ----- §6.7 Authentication -----------------------------------------------------------------

fn auth_cfg(auth_type: AuthType) -> SessionConfig {
    let mut c = cfg();
    c.auth = Some(AuthConfig {
        auth_type,
        key_id: 3,
        key: b"key".to_vec(),
    });
    c
}

fn signed(mut p: ControlPacket, key: &[u8]) -> Vec<u8> {
    let mut b = p.encode().unwrap();
    bfd::auth::sign(&mut b, key);
    p.auth = None;
    b
}

fn md5_packet(seq: u32, key_id: u8, meticulous: bool) -> ControlPacket {
    let mut p = remote(State::Down, 0);
    p.auth = Some(AuthSection::KeyedMd5 {
        meticulous,
        key_id,
        reserved: 0,
        sequence: seq,
        digest: [0; 16],
    });
    p
}

/// "If the A bit is clear and authentication is in use ... the packet MUST be discarded"; a
/// wrong Auth Type, Key ID, password or digest each have their reason.
#[test]
fn authentication_discards() {
    let (mut s, t0) = session(auth_cfg(AuthType::KeyedMd5));
    expect_discard(
        &mut s,
        t0,
        255,
        &bytes(&remote(State::Down, 0)),
        Discard::AuthMissing,
    );
    let mut sha = remote(State::Down, 0);
    sha.auth = Some(AuthSection::KeyedSha1 {
        meticulous: false,
        key_id: 3,
        reserved: 0,
        sequence: 1,
        hash: [0; 20],
    });
    expect_discard(&mut s, t0, 255, &signed(sha, b"key"), Discard::AuthType);
    expect_discard(
        &mut s,
        t0,
        255,
        &signed(md5_packet(1, 4, false), b"key"),
        Discard::AuthKeyId,
    );
    expect_discard(
        &mut s,
        t0,
        255,
        &signed(md5_packet(1, 3, false), b"kez"),
        Discard::AuthFailed,
    );
    // Meticulous is another Auth Type.
    expect_discard(
        &mut s,
        t0,
        255,
        &signed(md5_packet(1, 3, true), b"key"),
        Discard::AuthType,
    );
    s.handle_packet(t0, TTL, &signed(md5_packet(1, 3, false), b"key"))
        .unwrap();

    let (mut s, t0) = session(auth_cfg(AuthType::SimplePassword));
    let mut p = remote(State::Down, 0);
    p.auth = Some(AuthSection::SimplePassword {
        key_id: 3,
        password: b"keys".to_vec(),
    });
    expect_discard(&mut s, t0, 255, &bytes(&p), Discard::AuthLength);
    p.auth = Some(AuthSection::SimplePassword {
        key_id: 3,
        password: b"kez".to_vec(),
    });
    expect_discard(&mut s, t0, 255, &bytes(&p), Discard::AuthFailed);
    p.auth = Some(AuthSection::SimplePassword {
        key_id: 3,
        password: b"key".to_vec(),
    });
    s.handle_packet(t0, TTL, &bytes(&p)).unwrap();
}

/// Keyed: sequence numbers from bfd.RcvAuthSeq to bfd.RcvAuthSeq + 3 x Detect Mult, modulo
/// 2^32; Meticulous: from bfd.RcvAuthSeq + 1.
#[test]
fn sequence_number_windows() {
    for meticulous in [false, true] {
        let t = if meticulous {
            AuthType::MeticulousKeyedMd5
        } else {
            AuthType::KeyedMd5
        };
        let (mut s, t0) = session(auth_cfg(t));
        let start = u32::MAX - 2;
        s.handle_packet(t0, TTL, &signed(md5_packet(start, 3, meticulous), b"key"))
            .unwrap();
        // The same number again: a replay for meticulous, fine for keyed.
        let again = s.handle_packet(t0, TTL, &signed(md5_packet(start, 3, meticulous), b"key"));
        assert_eq!(again.is_ok(), !meticulous);
        // 3 x 3 = 9 ahead, across the wrap: accepted; 10 ahead: not.
        expect_discard(
            &mut s,
            t0,
            255,
            &signed(md5_packet(start.wrapping_add(10), 3, meticulous), b"key"),
            Discard::AuthSequence,
        );
        s.handle_packet(
            t0,
            TTL,
            &signed(md5_packet(start.wrapping_add(9), 3, meticulous), b"key"),
        )
        .unwrap();
        // Behind the window.
        expect_discard(
            &mut s,
            t0,
            255,
            &signed(md5_packet(start, 3, meticulous), b"key"),
            Discard::AuthSequence,
        );
        // A forged packet (bad digest) does not move the window.
        expect_discard(
            &mut s,
            t0,
            255,
            &signed(md5_packet(start.wrapping_add(12), 3, meticulous), b"bad"),
            Discard::AuthFailed,
        );
        s.handle_packet(
            t0,
            TTL,
            &signed(md5_packet(start.wrapping_add(10), 3, meticulous), b"key"),
        )
        .unwrap();
    }
}

/// bfd.AuthSeqKnown "MUST be set to zero after no packets have been received on this session
/// for at least twice the Detection Time": then any sequence number is taken again.
#[test]
fn sequence_forgotten_after_twice_the_detection_time() {
    let (mut s, t0) = session(auth_cfg(AuthType::MeticulousKeyedMd5));
    s.handle_packet(t0, TTL, &signed(md5_packet(1000, 3, true), b"key"))
        .unwrap();
    // Detection Time: 3 x max(50 ms, the remote's 50 ms) = 150 ms.
    s.handle_timeout(t0 + 299 * MS, Jitter::NONE);
    assert_eq!(
        s.handle_packet(t0 + 299 * MS, TTL, &signed(md5_packet(5, 3, true), b"key")),
        Err(Discard::AuthSequence)
    );
    s.handle_timeout(t0 + 300 * MS, Jitter::NONE);
    s.handle_packet(t0 + 300 * MS, TTL, &signed(md5_packet(5, 3, true), b"key"))
        .unwrap();
}

/// Meticulous types advance bfd.XmitAuthSeq on every packet, keyed ones on state changes;
/// every packet we send verifies with the key.
#[test]
fn transmitted_sequence_numbers() {
    for (t, meticulous) in [
        (AuthType::MeticulousKeyedSha1, true),
        (AuthType::KeyedSha1, false),
    ] {
        let (mut s, t0) = session(auth_cfg(t));
        let mut seqs = Vec::new();
        let mut now = t0;
        for _ in 0..3 {
            now = s.poll_timeout().unwrap();
            s.handle_timeout(now, Jitter::NONE);
            while let Some(a) = s.poll_action() {
                if let Action::Transmit(tx) = a {
                    assert!(bfd::auth::verify(&tx.bytes, b"key"));
                    seqs.push(tx.packet.auth.unwrap().sequence().unwrap());
                }
            }
        }
        if meticulous {
            assert_eq!(seqs, [101, 102, 103]);
        } else {
            assert_eq!(seqs, [100, 100, 100]);
        }
        let _ = now;
    }
}
