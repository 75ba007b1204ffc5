//! Two bonds back to back on a virtual clock (see `sim/mod.rs`): forming, carrier flaps, a
//! partner that stops sending, key mismatches, Individual links, passive ends, churn.

mod sim;

use std::time::Duration;

use lacp::{Activity, BondConfig, LagId, MuxState, PortConfig, RxState, Selected, Timeout};
use sim::{ports, Lab, A_MAC, B_MAC};

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

#[test]
fn fast_rate_forms_after_wait_while_and_one_exchange() {
    let mut lab = Lab::pair(2);
    lab.all_up();
    let took = lab.run_until(20 * S, |l| l.formed(&[0, 1])).expect("forms");
    // The first periodic LACPDU goes 1 s after carrier; the ports then reselect with the
    // partner's identity and wait Aggregate_Wait_Time (2 s) before attaching; one more
    // exchange brings Collecting_Distributing.
    assert!(
        took >= 3 * S,
        "formed in {took:?}, before the wait_while_timer could expire"
    );
    assert!(took <= 3 * S + 50 * MS, "formed in {took:?}");
    for k in 0..2 {
        let s = lab.a.port_status(k).unwrap();
        assert!(s.collecting && s.distributing);
        assert_eq!(s.partner.system.mac, B_MAC);
        assert_eq!(s.rx, RxState::Current);
    }
    // Both links are in one aggregator on each side.
    assert_eq!(
        lab.a.port_status(0).unwrap().aggregator,
        lab.a.port_status(1).unwrap().aggregator
    );
    // Steady state: one LACPDU per second per port and direction.
    let before = lab.log.len();
    lab.run_for(10 * S);
    let per_port = (lab.log.len() - before) as f64 / 4.0;
    assert!(
        (9.0..=11.0).contains(&per_port),
        "{per_port} LACPDUs in 10 s"
    );
    assert!(lab.formed(&[0, 1]));
}

#[test]
fn carrier_loss_removes_the_member_at_once_and_it_rejoins() {
    let mut lab = Lab::pair(2);
    lab.all_up();
    lab.run_until(20 * S, |l| l.formed(&[0, 1])).unwrap();
    lab.run_for(5 * S);
    lab.set_link(0, false);
    assert_eq!(lab.a.members(), [1]);
    assert_eq!(lab.b.members(), [1]);
    assert_eq!(lab.a.port_status(0).unwrap().rx, RxState::PortDisabled);
    lab.run_for(5 * S);
    lab.set_link(0, true);
    // Same partner on the same link: the port is still SELECTED, so it needs no new
    // wait_while: back as soon as one LACPDU each way has been exchanged.
    let took = lab
        .run_until(10 * S, |l| l.formed(&[0, 1]))
        .expect("rejoins");
    assert!(took <= 2 * S + 50 * MS, "rejoined in {took:?}");
    // A flapping link keeps coming back and never breaks the other member.
    for _ in 0..5 {
        lab.set_link(1, false);
        assert_eq!(lab.a.members(), [0]);
        lab.run_for(300 * MS);
        lab.set_link(1, true);
        lab.run_for(200 * MS);
        assert!(lab.a.members().contains(&0));
    }
    lab.run_until(10 * S, |l| l.formed(&[0, 1]))
        .expect("settles");
}

#[test]
fn silent_partner_is_out_after_three_fast_periods_and_back_when_it_speaks() {
    let mut lab = Lab::pair(2);
    lab.all_up();
    lab.run_until(20 * S, |l| l.formed(&[0, 1])).unwrap();
    lab.run_for(5 * S);
    lab.links[0].mute_b = true;
    let last_rx = lab
        .log
        .iter()
        .rev()
        .find(|(_, from_a, port, _)| !from_a && *port == 0)
        .map(|(t, ..)| *t)
        .unwrap();
    let took = lab
        .run_until(10 * S, |l| !l.a.members().contains(&0))
        .expect("member removed");
    let since_last = lab.elapsed() - last_rx - lab.delay;
    // current_while_timer: Short_Timeout_Time = 3 s after the last LACPDU received.
    assert_eq!(
        since_last,
        3 * S,
        "out {since_last:?} after the last PDU ({took:?} after mute)"
    );
    assert_eq!(lab.a.members(), [1]);
    assert_eq!(lab.a.port_status(0).unwrap().rx, RxState::Expired);
    // Three more seconds and the partner information is defaulted; B hears that we are no
    // longer in sync on that link and stops distributing on it too.
    lab.run_for(3 * S + 10 * MS);
    assert_eq!(lab.a.port_status(0).unwrap().rx, RxState::Defaulted);
    assert_eq!(lab.b.members(), [1]);
    lab.links[0].mute_b = false;
    let took = lab
        .run_until(10 * S, |l| l.formed(&[0, 1]))
        .expect("back in");
    // Defaulted means reselecting, so the wait_while_timer runs again.
    assert!(took <= 4 * S, "back in {took:?}");
}

#[test]
fn slow_rate_times_out_after_ninety_seconds() {
    let mut a = BondConfig::new(A_MAC);
    a.timeout = Timeout::Slow;
    let mut b = BondConfig::new(B_MAC);
    b.timeout = Timeout::Slow;
    let mut lab = Lab::new(a, &ports(0xa, 1), b, &ports(0xb, 1));
    lab.all_up();
    lab.run_until(60 * S, |l| l.formed(&[0]))
        .expect("forms at the slow rate");
    let before = lab.log.len();
    lab.run_for(300 * S);
    // Slow_Periodic_Time 30 s: 10 PDUs per direction in 300 s.
    let n = lab.log.len() - before;
    assert!((19..=21).contains(&n), "{n} LACPDUs in 300 s");
    lab.links[0].mute_b = true;
    let took = lab
        .run_until(200 * S, |l| l.a.members().is_empty())
        .unwrap();
    assert!(took > 60 * S && took <= 90 * S, "{took:?}");
}

#[test]
fn key_mismatch_keeps_a_port_out_and_churn_is_flagged() {
    let mut bp = ports(0xb, 2);
    bp[1].key = Some(2);
    let mut lab = Lab::new(
        BondConfig::new(A_MAC),
        &ports(0xa, 2),
        BondConfig::new(B_MAC),
        &bp,
    );
    lab.all_up();
    lab.run_until(20 * S, |l| l.formed(&[0]))
        .expect("forms on the matching link");
    lab.run_for(10 * S);
    assert!(lab.formed(&[0]));
    let a1 = lab.a.port_status(1).unwrap();
    assert_ne!(a1.aggregator, lab.a.selected_aggregator());
    assert_eq!(a1.selected, Selected::Standby);
    assert_eq!(a1.mux, MuxState::Waiting);
    assert!(!a1.actor.state.synchronization());
    assert!(matches!(
        a1.aggregator,
        Some(LagId::Aggregate { partner_key: 2, .. })
    ));
    // Churn_Detection_Time: 60 s out of sync.
    assert!(!a1.actor_churn);
    lab.run_for(60 * S);
    let a1 = lab.a.port_status(1).unwrap();
    assert!(a1.actor_churn && a1.partner_churn, "{a1:?}");
    let a0 = lab.a.port_status(0).unwrap();
    assert!(!a0.actor_churn && !a0.partner_churn);
    let b1 = lab.b.port_status(1).unwrap();
    assert!(b1.actor_churn && b1.partner_churn);
}

#[test]
fn individual_link_gets_its_own_aggregator() {
    let mut bp = ports(0xb, 2);
    bp[1].aggregatable = false;
    let mut lab = Lab::new(
        BondConfig::new(A_MAC),
        &ports(0xa, 2),
        BondConfig::new(B_MAC),
        &bp,
    );
    lab.all_up();
    lab.run_until(20 * S, |l| l.formed(&[0])).expect("forms");
    lab.run_for(5 * S);
    let a1 = lab.a.port_status(1).unwrap();
    assert_eq!(a1.aggregator, Some(LagId::Individual { actor_port: 2 }));
    assert!(!a1.partner.state.aggregation());
    assert_eq!(a1.selected, Selected::Standby);
    // Alone, the individual link carries the traffic.
    lab.set_link(0, false);
    let took = lab
        .run_until(20 * S, |l| l.formed(&[1]))
        .expect("individual link used");
    assert!(took <= 4 * S, "{took:?}");
    assert_eq!(
        lab.a.selected_aggregator(),
        Some(LagId::Individual { actor_port: 2 })
    );
}

#[test]
fn passive_passive_never_forms_and_stays_silent() {
    let mut a = BondConfig::new(A_MAC);
    a.activity = Activity::Passive;
    let mut b = BondConfig::new(B_MAC);
    b.activity = Activity::Passive;
    let mut lab = Lab::new(a, &ports(0xa, 2), b, &ports(0xb, 2));
    lab.all_up();
    lab.run_for(200 * S);
    assert!(lab.a.members().is_empty() && lab.b.members().is_empty());
    assert!(
        lab.log.is_empty(),
        "passive ends sent {} LACPDUs",
        lab.log.len()
    );
}

#[test]
fn active_passive_forms() {
    let mut b = BondConfig::new(B_MAC);
    b.activity = Activity::Passive;
    let mut lab = Lab::new(BondConfig::new(A_MAC), &ports(0xa, 2), b, &ports(0xb, 2));
    lab.all_up();
    let took = lab.run_until(20 * S, |l| l.formed(&[0, 1])).expect("forms");
    assert!(took <= 4 * S, "{took:?}");
    // The passive end answers at the rate the active one asks for.
    let before = lab.log.iter().filter(|e| !e.1).count();
    lab.run_for(10 * S);
    let n = lab.log.iter().filter(|e| !e.1).count() - before;
    assert!((18..=22).contains(&n), "passive end sent {n} in 10 s");
    // Both passive ports go quiet when the active end stops speaking.
    lab.links[0].mute_a = true;
    lab.links[1].mute_a = true;
    lab.run_for(10 * S);
    let quiet = lab.log.len();
    lab.run_for(100 * S);
    assert_eq!(lab.log.iter().skip(quiet).filter(|e| !e.1).count(), 0);
}

#[test]
fn min_links_holds_the_bond_down() {
    let mut a = BondConfig::new(A_MAC);
    a.min_links = 2;
    let mut lab = Lab::new(a, &ports(0xa, 2), BondConfig::new(B_MAC), &ports(0xb, 2));
    lab.all_up();
    lab.run_until(20 * S, |l| l.formed(&[0, 1])).expect("forms");
    assert!(lab.a.is_up());
    lab.set_link(1, false);
    assert!(!lab.a.is_up() && lab.a.members().is_empty());
    // The port itself still collects and distributes; only the bond's member set is empty.
    assert!(lab.a.port_status(0).unwrap().distributing);
    assert_eq!(lab.b.members(), [0]);
}

#[test]
fn lossy_delaying_wire_still_forms_and_stays_consistent() {
    let mut lab = Lab::pair(3);
    lab.loss = 20;
    lab.delay = 40 * MS;
    lab.all_up();
    lab.run_until(60 * S, |l| l.formed(&[0, 1, 2]))
        .expect("forms despite 20% loss");
    // Invariants are checked after every event; a member may drop out after three lost
    // PDUs in a row, but the group heals.
    lab.run_for(300 * S);
    lab.loss = 0;
    lab.run_until(20 * S, |l| l.formed(&[0, 1, 2]))
        .expect("heals");
}

#[test]
fn moved_link_is_reinitialized() {
    // A's port 0 loses carrier; B's port 0 then shows up on A's port 1 (recabled):
    // port_moved sends A's port 0 back to INITIALIZE, forgetting the partner.
    let mut lab = Lab::pair(2);
    lab.all_up();
    lab.run_until(20 * S, |l| l.formed(&[0, 1])).unwrap();
    lab.set_link(0, false);
    let pdu_from_b0 = lab
        .log
        .iter()
        .rev()
        .find(|(_, from_a, port, _)| !from_a && *port == 0)
        .unwrap()
        .3
        .clone();
    let now = lab.now;
    lab.a.handle_lacpdu(now, 1, &pdu_from_b0);
    let s = lab.a.port_status(0).unwrap();
    assert_eq!(s.rx, RxState::PortDisabled);
    assert!(s.actor.state.defaulted(), "partner forgotten: {s:?}");
    assert_eq!(s.selected, Selected::Unselected);
}

#[test]
fn bad_configurations_are_refused() {
    let now = std::time::Instant::now();
    let b = BondConfig::new(A_MAC);
    assert!(lacp::Bond::new(b.clone(), &[], now).is_err());
    let mut p = ports(0xa, 2);
    p[1].number = 1;
    assert_eq!(
        lacp::Bond::new(b.clone(), &p, now).unwrap_err(),
        lacp::ConfigError::DuplicatePortNumber(1)
    );
    let z = PortConfig::new(0, sim::port_mac(0xa, 0));
    assert_eq!(
        lacp::Bond::new(b, &[z], now).unwrap_err(),
        lacp::ConfigError::ZeroPortNumber
    );
    let mut m3 = BondConfig::new(A_MAC);
    m3.min_links = 3;
    assert_eq!(
        lacp::Bond::new(m3, &ports(0xa, 2), now).unwrap_err(),
        lacp::ConfigError::MinLinksAboveMembers {
            min_links: 3,
            ports: 2
        }
    );
    let m = BondConfig::new(lacp::SLOW_PROTOCOLS_MULTICAST);
    assert!(lacp::Bond::new(m, &ports(0xa, 1), now).is_err());
}

#[test]
fn both_ends_defaulted_find_each_other_within_seconds() {
    // Found by machine_proptest: one end never hears the other (A's frames lost) until
    // both have defaulted. With the standard's Long Timeout as the partner's administrative
    // default both would then speak every 30 s; a fast bond keeps the short one and heals
    // within a few seconds of the wire being fixed.
    let mut lab = Lab::pair(3);
    lab.set_link(1, true);
    lab.links[1].mute_a = true;
    lab.run_for(9 * S);
    // B never heard A. (With a Long Timeout default A would have defaulted too, B having
    // gone quiet; the shrunk case took 26 s to heal then.)
    assert_eq!(lab.b.port_status(1).unwrap().rx, RxState::Defaulted);
    lab.links[1].mute_a = false;
    lab.set_link(0, true);
    lab.set_link(2, true);
    let took = lab
        .run_until(30 * S, |l| l.formed(&[0, 1, 2]))
        .expect("heals");
    assert!(took <= 4 * S, "{took:?}");
}

#[test]
fn mixed_rates_each_end_sends_at_the_rate_the_other_asks_for() {
    // A is fast, B slow: B sends every second (A's Short Timeout asks for it), A every 30 s
    // (B's Long Timeout). Each end times the other out by its own timeout.
    let mut b = BondConfig::new(B_MAC);
    b.timeout = Timeout::Slow;
    let mut lab = Lab::new(BondConfig::new(A_MAC), &ports(0xa, 1), b, &ports(0xb, 1));
    lab.all_up();
    let took = lab.run_until(20 * S, |l| l.formed(&[0])).expect("forms");
    assert!(took <= 4 * S, "{took:?}");
    lab.run_for(40 * S);
    let from = lab.log.len();
    lab.run_for(60 * S);
    let (a, b): (Vec<_>, Vec<_>) = lab.log[from..].iter().partition(|e| e.1);
    assert!((1..=3).contains(&a.len()), "A sent {} in 60 s", a.len());
    assert!((59..=61).contains(&b.len()), "B sent {} in 60 s", b.len());
    assert!(lab.formed(&[0]));
    // B goes quiet: A (short timeout) drops it after 3 s.
    lab.links[0].mute_b = true;
    let took = lab.run_until(10 * S, |l| l.a.members().is_empty()).unwrap();
    assert!(took <= 3 * S, "{took:?}");
}
