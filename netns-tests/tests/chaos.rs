//! The chaos drill (`applianced drill --scenario chaos`) as a short CI run: 12 seeded events
//! against an HA pair with traffic, BGP to BIRD and a health-checked backend. Every kind of
//! event must happen, no invariant may be violated, and nothing of the bed may remain.

use appliance::drill::chaos::{run_in, Kind, Length, Options};
use netns_tests::{own_namespaces, Lab};

#[test]
fn chaos_drill_short_run_holds_every_invariant() {
    let lab = Lab::for_current_test();
    let report = run_in(
        lab,
        Options {
            length: Length::Events(12),
            seed: 1,
            interval_ms: 100,
        },
        true,
    );
    print!("{}", report.summary_text());
    let kinds = report.by_kind();
    for k in Kind::ALL {
        assert!(
            kinds.get(k.name()).is_some_and(|&n| n >= 1),
            "no {} event in {kinds:?}",
            k.name()
        );
    }
    assert_eq!(report.events.len(), 12);
    let v = report.violations();
    assert!(v.is_empty(), "violations: {v:#?}");
    // The VIP must actually have been served: the traffic saw replies.
    assert!(
        report.pings_received > 0,
        "no ping to the VIP answered: {}",
        report.summary_text()
    );
    // The bed was dropped with the report's making: every namespace is gone.
    assert!(own_namespaces().is_empty(), "{:?}", own_namespaces());
}
