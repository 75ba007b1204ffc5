//! Two BFD systems on a virtual wire (see tests/sim): bring-up, timer negotiation with Poll
//! Sequences, a silent peer, AdminDown, a restart with a new discriminator, loss,
//! authentication.

mod sim;

use std::time::Duration;

use bfd::{AuthConfig, AuthType, Diagnostic, Discard, SessionConfig, State};
use sim::Wire;

const MS: Duration = Duration::from_millis(1);

fn fast() -> SessionConfig {
    SessionConfig::new(50 * MS, 3)
}

/// Both sides started, Up, and their Poll Sequences done.
fn up_pair() -> Wire {
    let mut w = Wire::new(fast(), fast());
    w.start_both();
    w.run_until_cond(5 * 1000 * MS, |w| w.both_up())
        .expect("Up");
    w.run_for(500 * MS);
    w
}

#[test]
fn bring_up_is_a_three_way_handshake() {
    let mut w = Wire::new(fast(), fast());
    w.start_both();
    let t = w.run_until_cond(5000 * MS, |w| w.both_up()).expect("Up");
    // Down packets cross, Init packets cross: two one-way latencies, no timer involved.
    assert_eq!(t - w.t0, 2 * w.latency);
    for i in 0..2 {
        let c: Vec<(State, State)> = w.nodes[i].changes.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(c, [(State::Down, State::Init), (State::Init, State::Up)]);
        assert_eq!(w.nodes[i].s.remote_discr(), w.nodes[1 - i].s.local_discr());
        assert_eq!(w.nodes[i].s.statistics().up_transitions, 1);
    }
    // Not Up yet: 1 s pace and 1 s advertised (§6.8.3).
    let first = &w.nodes[0].sent[0].1;
    assert_eq!(first.state, State::Down);
    assert_eq!(first.your_discriminator, 0);
    assert_eq!(first.desired_min_tx, 1_000_000);
    assert_eq!(first.required_min_rx, 50_000);
}

/// Once Up each side polls for its 50 ms interval; after the Finals both send every 37.5 to
/// 50 ms and detect a failure in 150 ms.
#[test]
fn negotiates_the_fast_timers_with_a_poll_sequence() {
    let w = up_pair();
    for i in 0..2 {
        let st = w.nodes[i].s.status();
        assert_eq!(st.tx_interval, 50 * MS);
        assert_eq!(st.detection_time, Some(150 * MS));
        assert!(!st.polling);
        assert_eq!(w.nodes[i].s.statistics().polls_completed, 1);
        let sent = &w.nodes[i].sent;
        assert!(sent.iter().any(|(_, p)| p.poll && p.state == State::Up));
        assert!(sent.iter().any(|(_, p)| p.final_));
        let from = w.now - 400 * MS;
        for g in w.gaps(i, from) {
            assert!(g >= 37 * MS + MS / 2 && g <= 50 * MS, "gap {g:?}");
        }
    }
}

/// §6.8.3: a slower Desired Min TX is used only once the remote system acknowledged it (so
/// its Detection Time grew first); a faster Required Min RX shortens our Detection Time only
/// once acknowledged.
#[test]
fn timer_changes_wait_for_the_final() {
    let mut w = up_pair();
    let mut slow = fast();
    slow.desired_min_tx = 300 * MS;
    let t = w.now;
    // Lose the first Poll, so the sequence takes a while.
    w.nodes[0].drop_next = 1;
    w.nodes[0].s.reconfigure(t, slow.clone()).unwrap();
    w.flush(0);
    assert!(w.nodes[0].s.status().polling);
    assert_eq!(w.nodes[0].s.tx_interval(), 50 * MS, "held until the Final");
    let done = w
        .run_until_cond(500 * MS, |w| !w.nodes[0].s.status().polling)
        .expect("Final");
    // Until then A kept the fast pace, every packet with P.
    let polls: Vec<_> = w.nodes[0]
        .sent
        .iter()
        .filter(|(s, _)| *s > t && *s < done)
        .collect();
    assert!(polls.len() >= 2 && polls.iter().all(|(_, p)| p.poll));
    for g in w.gaps(0, t).iter().take(polls.len() - 1) {
        assert!(*g <= 50 * MS, "{g:?}");
    }
    assert_eq!(w.nodes[0].s.tx_interval(), 300 * MS);
    // B learned the new pace before A used it: 3 x 300 ms.
    assert_eq!(w.nodes[1].s.detection_time(), Some(900 * MS));
    w.run_for(3000 * MS);
    assert!(w.both_up());
    assert_eq!(w.nodes[1].changes.len(), 2, "no flap");

    // A raises its Required Min RX to 300 ms: effective at once (a longer Detection Time is
    // always safe).
    let mut lazy = slow.clone();
    lazy.required_min_rx = 300 * MS;
    let t = w.now;
    w.nodes[0].s.reconfigure(t, lazy).unwrap();
    assert_eq!(w.nodes[0].s.detection_time(), Some(900 * MS));
    w.run_until_cond(1000 * MS, |w| !w.nodes[0].s.status().polling)
        .expect("Final");
    w.run_for(2000 * MS);
    assert_eq!(w.nodes[1].s.tx_interval(), 300 * MS, "B slowed down for A");

    // And back to 50 ms: the Detection Time stays 900 ms until B confirmed it will send
    // faster, then 150 ms.
    let t = w.now;
    w.nodes[0].s.reconfigure(t, slow).unwrap();
    assert!(w.nodes[0].s.status().polling);
    assert_eq!(w.nodes[0].s.detection_time(), Some(900 * MS));
    w.run_until_cond(1000 * MS, |w| !w.nodes[0].s.status().polling)
        .expect("Final");
    assert_eq!(w.nodes[0].s.detection_time(), Some(150 * MS));
    assert_eq!(w.nodes[0].s.statistics().polls_completed, 4);
    w.run_for(2000 * MS);
    assert!(w.both_up());
    assert_eq!(w.nodes[0].changes.len(), 2, "no flap");
}

/// A silent peer: Down with Control Detection Time Expired exactly one Detection Time after
/// the last packet heard.
#[test]
fn silent_peer_is_down_after_the_detection_time() {
    let mut w = up_pair();
    w.crash(1);
    let last_heard = w.nodes[1].sent.last().unwrap().0 + w.latency;
    w.run_for(1000 * MS);
    assert_eq!(w.state(0), State::Down);
    let c = w.nodes[0].changes.last().unwrap();
    assert_eq!(c.from, State::Up);
    assert_eq!(c.diag, Diagnostic::ControlDetectionTimeExpired);
    assert_eq!(c.at, last_heard + 150 * MS);
    assert!(c.is_failure());
    // §6.8.1: the remote discriminator is forgotten; §6.8.3: back to the 1 s pace.
    assert_eq!(w.nodes[0].s.remote_discr(), 0);
    assert_eq!(w.nodes[0].s.tx_interval(), 1000 * MS);
    assert_eq!(w.nodes[0].s.statistics().down_transitions, 1);
}

/// The peer goes AdminDown: we go Down with Neighbor Signaled Session Down, and that is not a
/// path failure (RFC 5882 §3.2); when it is enabled again both come back Up.
#[test]
fn admin_down_from_the_peer() {
    let mut w = up_pair();
    let now = w.now;
    w.nodes[1]
        .s
        .admin_down(now, Diagnostic::AdministrativelyDown);
    w.flush(1);
    w.run_for(100 * MS);
    assert_eq!(w.state(1), State::AdminDown);
    assert_eq!(w.state(0), State::Down);
    let c = *w.nodes[0].changes.last().unwrap();
    assert_eq!(c.diag, Diagnostic::NeighborSignaledSessionDown);
    assert_eq!(c.remote_state, State::AdminDown);
    assert!(!c.is_failure());
    // Our packets to an AdminDown session are discarded there.
    w.run_for(3000 * MS);
    assert!(w.nodes[1].discarded.contains(&Discard::AdminDown));
    // The AdminDown packets stopped after a Detection Time of the remote (3 x 50 ms).
    let admin: Vec<_> = w.nodes[1]
        .sent
        .iter()
        .filter(|(_, p)| p.state == State::AdminDown)
        .map(|(t, _)| *t)
        .collect();
    assert!(admin.len() >= 3 && admin.len() <= 4, "{admin:?}");
    assert!(*admin.last().unwrap() - admin[0] <= 150 * MS);
    assert_eq!(w.state(0), State::Down, "stays Down, not Init");

    let now = w.now;
    w.nodes[1].s.admin_up(now);
    w.flush(1);
    w.run_until_cond(3000 * MS, |w| w.both_up())
        .expect("Up again");
}

/// A peer that restarts (new discriminator) before our Detection Time: its Down packet with
/// Your Discriminator 0 takes us Down (Neighbor Signaled Session Down, a failure), then the
/// session comes back with the new discriminator.
#[test]
fn peer_restart_with_a_new_discriminator() {
    let mut w = up_pair();
    w.crash(1);
    w.run_for(20 * MS);
    let before = w.nodes[0].changes.len();
    w.restart(1, 0x3333);
    w.run_for(MS);
    let c = w.nodes[0].changes[before];
    assert_eq!((c.from, c.to), (State::Up, State::Down));
    assert_eq!(
        c.at,
        w.nodes[1].sent[0].0 + w.latency,
        "at its first packet"
    );
    assert_eq!(c.diag, Diagnostic::NeighborSignaledSessionDown);
    assert!(c.is_failure());
    w.run_until_cond(3000 * MS, |w| w.both_up())
        .expect("Up again");
    assert_eq!(w.nodes[0].s.remote_discr(), 0x3333);
    assert_eq!(w.nodes[0].s.statistics().up_transitions, 2);
}

/// A restart after we already timed out: we are Down, the new session comes up normally.
#[test]
fn peer_restart_after_the_detection_time() {
    let mut w = up_pair();
    w.crash(1);
    w.run_for(2000 * MS);
    assert_eq!(w.state(0), State::Down);
    w.restart(1, 0x4444);
    w.run_until_cond(3000 * MS, |w| w.both_up())
        .expect("Up again");
    assert_eq!(w.nodes[0].s.remote_discr(), 0x4444);
}

/// Detect Mult 3 tolerates two lost packets in a row, not three.
#[test]
fn loss_within_the_multiplier() {
    let mut w = up_pair();
    w.nodes[1].drop_next = 2;
    w.run_for(1000 * MS);
    assert_eq!(w.state(0), State::Up);
    // Three in a row: at most 3 x 50 ms between two heard packets is not guaranteed any more.
    // With jitter the third gap may still fit; five lost always exceed 150 ms.
    w.nodes[1].drop_next = 5;
    w.run_for(1000 * MS);
    assert_eq!(w.nodes[0].s.statistics().down_transitions, 1);
}

/// Detect Mult 1 sends at 75-90 % of the interval so that one packet per interval arrives.
#[test]
fn detect_mult_one_never_flaps() {
    let one = SessionConfig::new(50 * MS, 1);
    let mut w = Wire::new(one.clone(), one);
    w.start_both();
    w.run_until_cond(3000 * MS, |w| w.both_up()).expect("Up");
    let from = w.now + 500 * MS;
    w.run_for(10_000 * MS);
    assert!(w.both_up());
    assert_eq!(w.nodes[0].s.statistics().down_transitions, 0);
    for g in w.gaps(0, from) {
        assert!(g >= 37 * MS + MS / 2 && g <= 45 * MS, "gap {g:?}");
    }
}

fn with_auth(auth_type: AuthType, key: &[u8]) -> SessionConfig {
    let mut c = fast();
    c.auth = Some(AuthConfig {
        auth_type,
        key_id: 7,
        key: key.to_vec(),
    });
    c
}

#[test]
fn every_authentication_type_comes_up() {
    for t in [
        AuthType::SimplePassword,
        AuthType::KeyedMd5,
        AuthType::MeticulousKeyedMd5,
        AuthType::KeyedSha1,
        AuthType::MeticulousKeyedSha1,
    ] {
        let mut w = Wire::new(with_auth(t, b"s3cret"), with_auth(t, b"s3cret"));
        w.start_both();
        w.run_until_cond(3000 * MS, |w| w.both_up())
            .unwrap_or_else(|| panic!("{t:?} Up"));
        w.run_for(5000 * MS);
        assert!(w.both_up(), "{t:?}");
        assert!(
            w.nodes[0].discarded.is_empty(),
            "{t:?}: {:?}",
            w.nodes[0].discarded
        );
    }
}

#[test]
fn a_wrong_key_never_comes_up() {
    for (t, reason) in [
        (AuthType::SimplePassword, Discard::AuthFailed),
        (AuthType::KeyedMd5, Discard::AuthFailed),
        (AuthType::MeticulousKeyedSha1, Discard::AuthFailed),
    ] {
        let mut w = Wire::new(with_auth(t, b"s3cret"), with_auth(t, b"s3crex"));
        w.start_both();
        w.run_for(5000 * MS);
        assert_eq!(w.state(0), State::Down);
        assert!(w.nodes[0].discarded.iter().all(|d| *d == reason));
        assert_eq!(
            w.nodes[0].s.statistics().discards(reason),
            w.nodes[0].discarded.len() as u64
        );
    }
    // Authentication on one side only: each side discards for its own reason.
    let mut w = Wire::new(with_auth(AuthType::KeyedSha1, b"k"), fast());
    w.start_both();
    w.run_for(3000 * MS);
    assert!(w.nodes[0]
        .discarded
        .iter()
        .all(|d| *d == Discard::AuthMissing));
    assert!(w.nodes[1]
        .discarded
        .iter()
        .all(|d| *d == Discard::AuthUnexpected));
    assert!(!w.nodes[0].discarded.is_empty() && !w.nodes[1].discarded.is_empty());
}

/// A replayed meticulous packet is refused for its sequence number.
#[test]
fn meticulous_replay_is_refused() {
    let mut w = Wire::new(
        with_auth(AuthType::MeticulousKeyedMd5, b"k"),
        with_auth(AuthType::MeticulousKeyedMd5, b"k"),
    );
    w.start_both();
    w.run_until_cond(3000 * MS, |w| w.both_up()).expect("Up");
    w.run_for(200 * MS);
    let old = w.nodes[1].sent[w.nodes[1].sent.len() - 2]
        .1
        .encode()
        .unwrap();
    assert_eq!(w.inject(0, 255, &old), Err(Discard::AuthSequence));
}
