//! Random event sequences: two bonds back to back through links that go up and down, turn
//! silent, lose frames. After every event both bonds keep the invariants (checked in
//! `sim`): a port distributes only when enabled, selected and in sync with its partner.
//! Whatever happened, once every link is up and clean the aggregation forms again.

mod sim;

use std::time::Duration;

use lacp::fuzzing::check_bond;
use lacp::{Activity, BondConfig, Timeout};
use proptest::prelude::*;
use sim::{ports, Lab, A_MAC, B_MAC};

#[derive(Debug, Clone)]
enum Ev {
    Link(usize, bool),
    MuteA(usize, bool),
    MuteB(usize, bool),
    Loss(u32),
    Run(u64),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        (0usize..3, any::<bool>()).prop_map(|(k, u)| Ev::Link(k, u)),
        (0usize..3, any::<bool>()).prop_map(|(k, m)| Ev::MuteA(k, m)),
        (0usize..3, any::<bool>()).prop_map(|(k, m)| Ev::MuteB(k, m)),
        (0u32..60).prop_map(Ev::Loss),
        (0u64..5000).prop_map(Ev::Run),
    ]
}

proptest! {
    // Failures are not persisted (the file would land outside this crate); shrunk cases
    // that found bugs are kept as named tests in simulation.rs.
    #![proptest_config(ProptestConfig {
        cases: 150,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_events_keep_invariants_and_the_group_heals(
        events in prop::collection::vec(ev(), 0..60),
        a_passive in any::<bool>(),
        slow in any::<bool>(),
    ) {
        let mut a = BondConfig::new(A_MAC);
        if a_passive {
            a.activity = Activity::Passive;
        }
        let mut b = BondConfig::new(B_MAC);
        if slow {
            a.timeout = Timeout::Slow;
            b.timeout = Timeout::Slow;
        }
        let mut lab = Lab::new(a, &ports(0xa, 3), b, &ports(0xb, 3));
        for e in events {
            match e {
                Ev::Link(k, up) => lab.set_link(k, up),
                Ev::MuteA(k, m) => lab.links[k].mute_a = m,
                Ev::MuteB(k, m) => lab.links[k].mute_b = m,
                Ev::Loss(l) => lab.loss = l,
                Ev::Run(ms) => lab.run_for(Duration::from_millis(ms)),
            }
        }
        lab.loss = 0;
        for k in 0..3 {
            lab.links[k].mute_a = false;
            lab.links[k].mute_b = false;
            if !lab.links[k].up {
                lab.set_link(k, true);
            }
        }
        // Stale information expires (90 s at the slow rate, then the defaulted partner is
        // relearned at the next periodic PDU, 30 s away), then the wait_while_timer.
        let limit = if slow { Duration::from_secs(200) } else { Duration::from_secs(15) };
        let took = lab.run_until(limit, |l| l.formed(&[0, 1, 2]));
        prop_assert!(took.is_some(), "did not heal: {:?} {:?}",
            (0..3).map(|k| lab.a.port_status(k).unwrap()).collect::<Vec<_>>(),
            (0..3).map(|k| lab.b.port_status(k).unwrap()).collect::<Vec<_>>());
    }

    #[test]
    fn arbitrary_inputs_never_break_a_bond(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        check_bond(&data);
    }
}
