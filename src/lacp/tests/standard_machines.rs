//! One bond against a hand-driven partner: each test takes one transition or function of
//! IEEE 802.1AX-2014 clause 6.4 and quotes the text it checks.

use std::time::{Duration, Instant};

use lacp::{
    Activity, Bond, BondConfig, ChurnState, Lacpdu, MacAddr, MuxState, PeriodicState, PortConfig,
    PortInfo, PortState, RxState, Selected, SlowPdu, SystemId, Timeout,
};

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);
const US: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
const THEM: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xbb]);

struct T {
    t0: Instant,
    now: Instant,
    bond: Bond,
    /// LACPDUs the bond sent: (time since t0, port, pdu).
    sent: Vec<(Duration, usize, Lacpdu)>,
}

impl T {
    fn new(cfg: BondConfig, n: usize) -> T {
        let t0 = Instant::now();
        let ports: Vec<PortConfig> = (0..n)
            .map(|k| PortConfig::new(k as u16 + 1, MacAddr([0x02, 0, 0, 1, 0, k as u8])))
            .collect();
        T {
            t0,
            now: t0,
            bond: Bond::new(cfg, &ports, t0).unwrap(),
            sent: Vec::new(),
        }
    }

    fn fast(n: usize) -> T {
        T::new(BondConfig::new(US), n)
    }

    fn drain(&mut self) {
        while let Some(t) = self.bond.poll_transmit() {
            if let SlowPdu::Lacp(p) = t.frame.pdu {
                self.sent.push((self.now - self.t0, t.port, p));
            }
        }
        lacp::fuzzing::check_invariants(&self.bond);
    }

    /// Runs the bond's timers up to `d` from now, as the shell would.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.bond.next_deadline().filter(|t| *t <= end) {
            self.now = t;
            self.bond.handle_timeout(t);
            self.drain();
        }
        self.now = end;
    }

    fn enable(&mut self, port: usize, on: bool) {
        self.bond.set_port_enabled(self.now, port, on);
        self.drain();
    }

    fn rx(&mut self, port: usize, pdu: &Lacpdu) {
        self.bond.handle_lacpdu(self.now, port, pdu);
        self.drain();
    }

    fn port(&self, port: usize) -> lacp::PortStatus {
        self.bond.port_status(port).unwrap()
    }

    /// What the partner believes of our port, as it would echo it in its Partner TLV.
    fn us(&self, port: usize) -> PortInfo {
        self.port(port).actor
    }

    fn sent_since(&self, t: Duration) -> usize {
        self.sent.iter().filter(|(at, ..)| *at >= t).count()
    }
}

/// The partner's own information: active, fast, aggregatable, with `extra` state bits.
fn them(port: u16, extra: u8) -> PortInfo {
    PortInfo {
        system: SystemId {
            priority: 0x8000,
            mac: THEM,
        },
        key: 7,
        port_priority: 0x80,
        port,
        state: PortState(PortState::ACTIVITY | PortState::TIMEOUT | PortState::AGGREGATION | extra),
    }
}

fn pdu(actor: PortInfo, partner: PortInfo) -> Lacpdu {
    Lacpdu::new(actor, partner, 0)
}

// ---- Receive machine (§6.4.12) ----

#[test]
fn begin_initializes_then_port_disabled() {
    // "INITIALIZE: Selected = UNSELECTED; recordDefault(); Actor_Oper_Port_State.Expired =
    // FALSE; port_moved = FALSE" then UCT to PORT_DISABLED.
    let t = T::fast(1);
    let p = t.port(0);
    assert_eq!(p.rx, RxState::PortDisabled);
    assert_eq!(p.selected, Selected::Unselected);
    assert!(p.actor.state.defaulted() && !p.actor.state.expired());
    // Partner_Admin: all zero but LACP_Timeout, which follows our rate (fast here).
    assert_eq!(p.partner.state, PortState(PortState::TIMEOUT));
    assert_eq!(p.partner.system, SystemId::default());
    assert_eq!(p.mux, MuxState::Detached);
    assert_eq!(p.periodic, PeriodicState::NoPeriodic);
}

#[test]
fn port_enabled_leads_to_expired_with_a_short_timeout() {
    // "PORT_DISABLED → EXPIRED: port_enabled && LACP_Enabled". EXPIRED:
    // "Partner_Oper_Port_State.Synchronization = FALSE; Partner_Oper_Port_State.LACP_Timeout
    // = Short Timeout; start current_while_timer(Short Timeout);
    // Actor_Oper_Port_State.Expired = TRUE".
    let mut t = T::new(
        BondConfig {
            timeout: Timeout::Slow,
            ..BondConfig::new(US)
        },
        1,
    );
    t.enable(0, true);
    let p = t.port(0);
    assert_eq!(p.rx, RxState::Expired);
    assert!(p.actor.state.expired());
    assert!(
        p.partner.state.timeout(),
        "short timeout assumed for the partner"
    );
    assert!(!p.partner.state.synchronization());
    // "current_while_timer expired → DEFAULTED" after Short_Timeout_Time, even with our
    // own slow rate.
    t.run(3 * S - MS);
    assert_eq!(t.port(0).rx, RxState::Expired);
    t.run(MS);
    let p = t.port(0);
    // DEFAULTED: "update_Default_Selected(); recordDefault(); Actor_Oper_Port_State.Expired
    // = FALSE".
    assert_eq!(p.rx, RxState::Defaulted);
    assert!(p.actor.state.defaulted() && !p.actor.state.expired());
    assert_eq!(
        p.partner,
        PortInfo::default(),
        "slow bond: Long Timeout default"
    );
}

#[test]
fn lacpdu_makes_current_and_records_the_partner() {
    // CURRENT: "update_Selected(); update_NTT(); recordPDU(); start
    // current_while_timer(Actor_Oper_Port_State.LACP_Timeout); Actor_Oper_Port_State.Expired
    // = FALSE". recordPDU "sets Actor_Oper_Port_State.Defaulted to FALSE".
    let mut t = T::fast(1);
    t.enable(0, true);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, 0), u));
    let p = t.port(0);
    assert_eq!(p.rx, RxState::Current);
    assert!(!p.actor.state.expired() && !p.actor.state.defaulted());
    assert_eq!(p.partner.system.mac, THEM);
    assert_eq!(
        (p.partner.key, p.partner.port, p.partner.port_priority),
        (7, 9, 0x80)
    );
    // Short timeout: "current_while_timer expired → EXPIRED" 3 s later.
    t.run(3 * S - MS);
    assert_eq!(t.port(0).rx, RxState::Current);
    t.run(MS);
    assert_eq!(t.port(0).rx, RxState::Expired);
    // A PDU in EXPIRED: back to CURRENT.
    let u = t.us(0);
    t.rx(0, &pdu(them(9, 0), u));
    assert_eq!(t.port(0).rx, RxState::Current);
}

#[test]
fn long_timeout_keeps_partner_information_ninety_seconds() {
    let mut t = T::new(
        BondConfig {
            timeout: Timeout::Slow,
            ..BondConfig::new(US)
        },
        1,
    );
    t.enable(0, true);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, 0), u));
    t.run(90 * S - MS);
    assert_eq!(t.port(0).rx, RxState::Current);
    t.run(MS);
    assert_eq!(t.port(0).rx, RxState::Expired);
}

#[test]
fn record_pdu_synchronization_rules() {
    // "Partner_Oper_Port_State.Synchronization ... TRUE if the Partner's view of the Actor
    // in the received LACPDU matches the Actor's operational parameters, the received
    // Actor_State.Synchronization is TRUE, and LACP will actively maintain the link";
    // "also set to TRUE if ... Actor_State.Aggregation in the received PDU is FALSE (an
    // Individual link) and Actor_State.Synchronization ... TRUE".
    let mut t = T::fast(1);
    t.enable(0, true);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, PortState::SYNCHRONIZATION), u));
    assert!(
        t.port(0).partner.state.synchronization(),
        "matched and in sync"
    );

    // The partner holds another key for us: not matched.
    let mut wrong = u;
    wrong.key = 99;
    t.rx(0, &pdu(them(9, PortState::SYNCHRONIZATION), wrong));
    assert!(!t.port(0).partner.state.synchronization());

    // Mismatched but Individual and in sync.
    let mut ind = them(9, PortState::SYNCHRONIZATION);
    ind.state.set_aggregation(false);
    t.rx(0, &pdu(ind, wrong));
    assert!(t.port(0).partner.state.synchronization());

    // Matched, in sync, but the partner says it is not: FALSE.
    t.rx(0, &pdu(them(9, 0), u));
    assert!(!t.port(0).partner.state.synchronization());
}

#[test]
fn passive_partner_of_a_passive_actor_is_not_maintained() {
    let mut t = T::new(
        BondConfig {
            activity: Activity::Passive,
            ..BondConfig::new(US)
        },
        1,
    );
    t.enable(0, true);
    let u = t.us(0);
    let mut passive = them(9, PortState::SYNCHRONIZATION);
    passive.state.set_activity(false);
    t.rx(0, &pdu(passive, u));
    assert!(
        !t.port(0).partner.state.synchronization(),
        "nobody maintains the link"
    );
}

#[test]
fn update_selected_unselects_on_a_new_partner_identity() {
    // update_Selected: "If one or more of the comparisons shows that the value(s) received
    // in the PDU differ from the current operational values, then Selected is set to
    // UNSELECTED."
    let mut t = T::fast(1);
    t.enable(0, true);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, 0), u));
    t.run(3 * S);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, PortState::SYNCHRONIZATION), u));
    assert_eq!(t.port(0).mux, MuxState::CollectingDistributing);
    // Same identity, other state bits: still selected.
    t.rx(
        0,
        &pdu(
            them(9, PortState::SYNCHRONIZATION | PortState::COLLECTING),
            u,
        ),
    );
    assert_eq!(t.port(0).mux, MuxState::CollectingDistributing);
    // The partner's key changes: UNSELECTED, the Mux detaches and the port selects the
    // new group's aggregator, waiting again.
    let mut other = them(9, PortState::SYNCHRONIZATION);
    other.key = 8;
    t.rx(0, &pdu(other, u));
    let p = t.port(0);
    assert_eq!(p.mux, MuxState::Waiting);
    assert!(matches!(
        p.aggregator,
        Some(lacp::LagId::Aggregate { partner_key: 8, .. })
    ));
    assert!(!p.actor.state.synchronization());
}

#[test]
fn update_ntt_answers_a_partner_with_stale_information_at_once() {
    // update_NTT: "If one or more of the comparisons shows that the value(s) received in
    // the PDU differ from the current operational values, then NTT is set to TRUE."
    let mut t = T::fast(1);
    t.enable(0, true);
    t.run(1500 * MS);
    let u = t.us(0);
    let before = t.sent.len();
    t.rx(0, &pdu(them(9, 0), u));
    // The partner's view of us differs only in bits update_NTT does not compare (Expired,
    // Defaulted), so update_NTT raises nothing; the one PDU that goes comes from the Mux
    // re-entering DETACHED ("NTT = TRUE") as the port leaves its provisional aggregator.
    assert_eq!(t.sent.len() - before, 1);
    // A PDU that already reflects us exactly triggers nothing.
    let u = t.us(0);
    let before = t.sent.len();
    t.rx(0, &pdu(them(9, 0), u));
    assert_eq!(t.sent.len(), before);
    // One that has our key wrong does.
    let mut wrong = u;
    wrong.key = 42;
    t.rx(0, &pdu(them(9, 0), wrong));
    assert_eq!(t.sent.len(), before + 1);
}

#[test]
fn carrier_loss_is_port_disabled_from_any_state() {
    // Global: "(! port_enabled) && (! port_moved) → PORT_DISABLED", whose action is
    // "Partner_Oper_Port_State.Synchronization = FALSE".
    let mut t = T::fast(1);
    t.enable(0, true);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, 0), u));
    t.run(3 * S);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, PortState::SYNCHRONIZATION), u));
    assert!(t.port(0).distributing);
    t.enable(0, false);
    let p = t.port(0);
    assert_eq!(p.rx, RxState::PortDisabled);
    assert!(!p.partner.state.synchronization());
    assert!(!p.distributing);
    assert_eq!(
        p.mux,
        MuxState::Attached,
        "still selected, out of Collecting_Distributing"
    );
    assert_eq!(p.periodic, PeriodicState::NoPeriodic);
    // PDUs on a disabled port are counted and dropped.
    t.rx(0, &pdu(them(9, PortState::SYNCHRONIZATION), u));
    assert_eq!(t.port(0).stats.lacpdus_dropped_disabled, 1);
    assert_eq!(t.port(0).rx, RxState::PortDisabled);
}

// ---- Periodic Transmission machine (§6.4.13) ----

#[test]
fn fast_and_slow_periodic_follow_the_partner_timeout() {
    // "FAST_PERIODIC: Start periodic_timer (fast_periodic_time)"; "Partner_Oper_Port_State.
    // LACP_Timeout == Long Timeout → SLOW_PERIODIC"; "PERIODIC_TX: NTT = TRUE".
    // A slow bond's defaulted partner is Long Timeout.
    let mut t = T::new(
        BondConfig {
            timeout: Timeout::Slow,
            ..BondConfig::new(US)
        },
        1,
    );
    t.enable(0, true);
    t.run(10 * S + MS);
    // In EXPIRED the partner is assumed short (every 1 s); at 3 s the Receive machine
    // defaults first, and the defaulted partner is Long Timeout, so FAST_PERIODIC goes to
    // SLOW_PERIODIC instead of PERIODIC_TX: 1 s, 2 s, then 33 s.
    let times: Vec<Duration> = t.sent.iter().map(|e| e.0).collect();
    assert_eq!(times, [S, 2 * S], "{times:?}");
    assert_eq!(t.port(0).periodic, PeriodicState::SlowPeriodic);
    t.run(23 * S);
    let times: Vec<Duration> = t.sent.iter().map(|e| e.0).collect();
    assert_eq!(times, [S, 2 * S, 33 * S], "{times:?}");
    // A partner asking for the short timeout: "SLOW_PERIODIC → PERIODIC_TX:
    // Partner_Oper_Port_State.LACP_Timeout == Short Timeout" then every second, as long
    // as it keeps talking.
    let at = t.now - t.t0;
    for _ in 0..5 {
        let u = t.us(0);
        t.rx(0, &pdu(them(9, 0), u));
        t.run(S);
    }
    assert_eq!(t.port(0).periodic, PeriodicState::FastPeriodic);
    let n = t.sent_since(at);
    assert!((5..=7).contains(&n), "{n} PDUs in 5 s at the fast rate");
    // And back to slow when it asks for the long one.
    let mut slow = them(9, 0);
    slow.state.set_timeout(false);
    for _ in 0..5 {
        let u = t.us(0);
        t.rx(0, &pdu(slow, u));
        t.run(S);
    }
    assert_eq!(t.port(0).periodic, PeriodicState::SlowPeriodic);
    let at = t.now - t.t0;
    for _ in 0..60 {
        let u = t.us(0);
        t.rx(0, &pdu(slow, u));
        t.run(S);
    }
    assert_eq!(t.sent_since(at), 2, "every Slow_Periodic_Time");
}

#[test]
fn fast_bond_keeps_asking_every_second_when_defaulted() {
    let mut t = T::fast(1);
    t.enable(0, true);
    t.run(10 * S + MS);
    assert_eq!(t.port(0).rx, RxState::Defaulted);
    assert_eq!(t.port(0).periodic, PeriodicState::FastPeriodic);
    assert_eq!(t.sent.len(), 10);
}

#[test]
fn passive_actor_speaks_only_when_spoken_to() {
    // Global: "Actor_Oper_Port_State.LACP_Activity == PASSIVE_LACP &&
    // Partner_Oper_Port_State.LACP_Activity == PASSIVE_LACP → NO_PERIODIC"; and "When the
    // Periodic machine is in the NO_PERIODIC state, the Transmit machine shall not transmit".
    let mut t = T::new(
        BondConfig {
            activity: Activity::Passive,
            ..BondConfig::new(US)
        },
        1,
    );
    t.enable(0, true);
    t.run(100 * S);
    assert!(t.sent.is_empty());
    assert_eq!(t.port(0).periodic, PeriodicState::NoPeriodic);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, 0), u));
    t.run(3 * S + MS);
    assert!(
        t.sent.len() >= 3,
        "an active partner gets answers: {}",
        t.sent.len()
    );
}

// ---- Transmit machine (§6.4.16) ----

#[test]
fn no_more_than_three_lacpdus_in_a_fast_periodic_interval() {
    // "no more than three LACPDUs may be transmitted in any Fast_Periodic_Time interval.
    // If NTT is set to TRUE when this limit is in force, the transmission shall be delayed
    // until such a time as the restriction is no longer in force."
    let mut t = T::fast(1);
    t.enable(0, true);
    t.run(1500 * MS);
    let start = t.now - t.t0;
    // Ten PDUs in 100 ms, each with a different view of our key: each sets NTT.
    for k in 0..10u16 {
        let mut wrong = t.us(0);
        wrong.key = 100 + k;
        t.rx(0, &pdu(them(9, 0), wrong));
        t.now += 10 * MS;
    }
    let in_window = t
        .sent
        .iter()
        .filter(|e| e.0 >= start && e.0 < start + S)
        .count();
    assert!(in_window <= 3, "{in_window}");
    // The held-back PDU goes as soon as the window allows, not at the next periodic time.
    let deadline = t.bond.next_deadline().unwrap() - t.t0;
    let first_in_window = t
        .sent
        .iter()
        .filter(|e| e.0 >= start - S)
        .map(|e| e.0)
        .next()
        .unwrap();
    assert!(
        deadline <= first_in_window + S,
        "{deadline:?} {first_in_window:?}"
    );
    let before = t.sent.len();
    t.run(deadline - (t.now - t.t0));
    assert_eq!(t.sent.len(), before + 1);
}

// ---- Mux machine, coupled control (§6.4.15) ----

#[test]
fn mux_waits_two_seconds_then_attaches_then_collects_and_distributes() {
    let mut t = T::fast(1);
    t.enable(0, true);
    t.run(100 * MS);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, 0), u));
    // "DETACHED → WAITING: (Selected == SELECTED) || (Selected == STANDBY)"; WAITING: "Start
    // wait_while_timer".
    assert_eq!(t.port(0).mux, MuxState::Waiting);
    assert_eq!(t.port(0).selected, Selected::Selected);
    t.run(2 * S - MS);
    assert_eq!(t.port(0).mux, MuxState::Waiting);
    // "WAITING → ATTACHED: (Selected == SELECTED) && Ready"; ATTACHED: "Actor.Sync = TRUE;
    // ... NTT = TRUE".
    let before = t.sent.len();
    t.run(MS);
    let p = t.port(0);
    assert_eq!(p.mux, MuxState::Attached);
    assert!(p.actor.state.synchronization() && !p.collecting);
    assert_eq!(t.sent.len(), before + 1, "NTT on attach");
    assert!(t.sent.last().unwrap().2.actor.state.synchronization());
    // "ATTACHED → COLLECTING_DISTRIBUTING: (Selected == SELECTED) &&
    // Partner_Oper_Port_State.Synchronization".
    let u = t.us(0);
    t.rx(0, &pdu(them(9, PortState::SYNCHRONIZATION), u));
    let p = t.port(0);
    assert_eq!(p.mux, MuxState::CollectingDistributing);
    assert!(p.collecting && p.distributing);
    assert_eq!(t.bond.members(), [0]);
    // "COLLECTING_DISTRIBUTING → ATTACHED: ... || (! Partner_Oper_Port_State.Synchronization)".
    let u = t.us(0);
    t.rx(0, &pdu(them(9, 0), u));
    assert_eq!(t.port(0).mux, MuxState::Attached);
    assert!(t.bond.members().is_empty());
}

#[test]
fn ready_waits_for_every_port_waiting_on_the_aggregator() {
    // "The Selection Logic asserts Ready TRUE when the values of Ready_N for all Aggregation
    // Ports that are waiting to attach to a given Aggregator are TRUE": a port that joins
    // later holds the first one back until its own wait_while_timer has run, so both
    // attach together ("to allow multiple links to aggregate simultaneously").
    let mut t = T::fast(2);
    t.enable(0, true);
    let u0 = t.us(0);
    t.rx(0, &pdu(them(1, 0), u0));
    t.run(S);
    t.enable(1, true);
    let u1 = t.us(1);
    t.rx(1, &pdu(them(2, 0), u1));
    t.run(S + 500 * MS);
    // Port 0's timer expired half a second ago; port 1's has not.
    assert_eq!(t.port(0).mux, MuxState::Waiting);
    t.run(500 * MS);
    assert_eq!(t.port(0).mux, MuxState::Attached);
    assert_eq!(t.port(1).mux, MuxState::Attached);
}

// ---- Churn Detection machines (§6.4.17) ----

#[test]
fn churn_after_sixty_seconds_out_of_sync() {
    // "ACTOR_CHURN_MONITOR → ACTOR_CHURN: actor_churn_timer expired"; "→ NO_ACTOR_CHURN:
    // Actor_Oper_Port_State.Synchronization".
    let mut t = T::fast(1);
    t.enable(0, true);
    t.run(60 * S - MS);
    let p = t.port(0);
    assert!(!p.actor_churn && !p.partner_churn);
    assert_eq!(p.actor_churn_state, ChurnState::Monitor);
    t.run(MS);
    let p = t.port(0);
    assert!(
        p.actor_churn && p.partner_churn,
        "no partner for 60 s: {p:?}"
    );
    // A partner appears: both machines go to NO_CHURN once in sync.
    let u = t.us(0);
    t.rx(0, &pdu(them(9, 0), u));
    t.run(2 * S + MS);
    let u = t.us(0);
    t.rx(0, &pdu(them(9, PortState::SYNCHRONIZATION), u));
    let p = t.port(0);
    assert!(!p.actor_churn && !p.partner_churn);
    assert_eq!(p.actor_churn_state, ChurnState::NoChurn);
    // "Global: BEGIN || !port_enabled → MONITOR" (churn FALSE): a disabled port never
    // reports churn however long it stays down.
    t.enable(0, false);
    t.run(200 * S);
    assert!(!t.port(0).actor_churn);
}

// ---- Marker responder (§6.5.4.2) and counters ----

#[test]
fn marker_requests_are_answered_within_the_rate_limit() {
    let mut t = T::fast(1);
    t.enable(0, true);
    let mut f = lacp::SLOW_PROTOCOLS_MULTICAST.0.to_vec();
    f.extend_from_slice(&THEM.0);
    f.extend_from_slice(&[0x88, 0x09, 2, 1, 1, 16, 0, 9]);
    f.extend_from_slice(&THEM.0);
    f.extend_from_slice(&[0, 0, 0, 42]);
    f.resize(124, 0);
    for _ in 0..8 {
        t.bond.handle_frame(t.now, 0, &f).unwrap();
    }
    let mut responses = Vec::new();
    while let Some(x) = t.bond.poll_transmit() {
        if let SlowPdu::Marker(m) = &x.frame.pdu {
            responses.push(m.clone());
            let b = x.bytes();
            assert_eq!(&b[6..12], &[0x02, 0, 0, 1, 0, 0], "from the port's MAC");
            assert_eq!(b[16], 2, "Marker Response Information");
            assert_eq!(&b[17..], &f[17..], "requester fields echoed");
        }
    }
    assert_eq!(responses.len(), 5);
    let s = t.port(0).stats;
    assert_eq!((s.marker_pdus_rx, s.marker_response_pdus_tx), (8, 5));
    // Garbage is counted, not acted on.
    let mut bad = f.clone();
    bad[14] = 0x55;
    assert!(t.bond.handle_frame(t.now, 0, &bad).is_err());
    bad[14] = 3;
    assert!(t.bond.handle_frame(t.now, 0, &bad).is_err());
    let s = t.port(0).stats;
    assert_eq!((s.illegal_rx, s.unknown_rx), (1, 1));
}

#[test]
fn our_own_lacpdus_looped_back_are_dropped() {
    // Two ports of one bond cabled to each other: each hears the other's PDUs, whose actor
    // is our own system. Neither takes them; both stay without a partner.
    let mut t = T::fast(2);
    t.enable(0, true);
    t.enable(1, true);
    for _ in 0..10 {
        t.run(S);
        let sent: Vec<(usize, Lacpdu)> = t.sent.drain(..).map(|(_, p, pdu)| (p, pdu)).collect();
        for (p, pdu) in sent {
            t.rx(1 - p, &pdu);
        }
    }
    for k in 0..2 {
        let p = t.port(k);
        assert_eq!(p.rx, RxState::Defaulted);
        assert!(p.stats.lacpdus_looped_back >= 9, "{:?}", p.stats);
        assert!(!p.distributing);
    }
    assert!(t.bond.members().is_empty());
}

#[test]
fn a_version_2_lacpdu_is_acted_on_by_its_version_1_fields() {
    // "Version 1 implementations ... shall not validate the Version Number, TLV_type, or
    // Reserved fields ... The same actions are taken regardless of the values received".
    let mut t = T::fast(1);
    t.enable(0, true);
    let u = t.us(0);
    let mut b = pdu(them(9, 0), u).encode();
    b[1] = 2;
    // A Port Algorithm TLV where version 1 has its Terminator, and a longer frame.
    b[58..64].copy_from_slice(&[4, 6, 0x00, 0x80, 0xc2, 0x01]);
    b.extend_from_slice(&[0; 30]);
    let mut frame = lacp::SLOW_PROTOCOLS_MULTICAST.0.to_vec();
    frame.extend_from_slice(&THEM.0);
    frame.extend_from_slice(&[0x88, 0x09]);
    frame.extend_from_slice(&b);
    t.bond.handle_frame(t.now, 0, &frame).unwrap();
    t.drain();
    let p = t.port(0);
    assert_eq!(p.rx, RxState::Current);
    assert_eq!(p.partner.system.mac, THEM);
    assert_eq!(p.stats.lacpdus_rx, 1);
}
