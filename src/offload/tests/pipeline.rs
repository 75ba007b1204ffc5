//! The differential test of the offload: flows of every kind the program may forward (NAT TCP,
//! UDP and echo, FullNAT, `dr`, `tunnel`, GRE + SNAT with and without a key, SNAT from an
//! inside prefix) are opened through the data plane's own pipeline with the offload on; the
//! rules it offers go into the program's table; then proptest-generated data packets of both
//! directions go through the pipeline and through the program (`BPF_PROG_TEST_RUN`). Wherever
//! the program forwards a packet, its output is the pipeline's, byte for byte; wherever it does
//! not, it hands the packet on untouched.

mod common;

use std::collections::HashMap;

use common::{load, LO};
use dataplane::conntrack::OffloadEvent;
use dataplane::pipeline::{Pipeline, Verdict};
use dataplane::snapshot::Snapshot;
use dataplane::testkit::offload::{pipeline, shapes, snapshot, Case, Flow, Shape};
use dataplane::wire::offload::{set_ifindex, KEY_LEN};
use dataplane::wire::tcp::flags::{ACK, FIN};
use proptest::prelude::*;
use xdp_offload::{action, Offload};

/// Installs the pipeline's pending offers (egress: lo, so a forwarded packet comes back as
/// XDP_TX) and removes what it withdrew; returns the keys now in the table.
fn sync_rules(p: &mut Pipeline, o: &mut Offload, keys: &mut HashMap<u32, Vec<[u8; KEY_LEN]>>) {
    let mut events = Vec::new();
    let flush = p.take_offload(|e| events.push(*e));
    if flush {
        for k in keys.drain().flat_map(|(_, v)| v) {
            o.remove(&k).unwrap();
        }
    }
    for e in events {
        match e {
            OffloadEvent::Install(offer) => {
                let mut a = offer.action;
                set_ifindex(&mut a, LO);
                o.insert(&offer.key, &a).unwrap();
                let held = keys.entry(offer.flow).or_default();
                // An untracked flow offers its rule again whenever a packet reaches the
                // pipeline: one is kept, as the workers keep one.
                if !held.contains(&offer.key) {
                    held.push(offer.key);
                }
            }
            OffloadEvent::Withdraw(i) => {
                for k in keys.remove(&i).unwrap_or_default() {
                    o.remove(&k).unwrap();
                }
            }
        }
    }
}

/// One packet through both; panics where they disagree. Returns whether the program forwarded
/// it.
fn both(p: &mut Pipeline, s: &Snapshot, o: &Offload, (mut f, len): (Vec<u8>, usize)) -> bool {
    let input = f[..len].to_vec();
    let run = o.test_run(&input, LO).unwrap();
    let (v, out) = p.process_frame(s, 10, &mut f, len);
    match run.retval {
        action::TX => {
            assert!(matches!(v, Verdict::Tx { .. }), "the pipeline said {v:?}");
            assert_eq!(run.frame, &f[..out], "the program and the pipeline differ");
            true
        }
        // Handed on (an empty `ol_next`: to the kernel here): untouched.
        action::PASS => {
            assert_eq!(run.frame, input, "a packet handed on was changed");
            false
        }
        r => panic!("unexpected XDP action {r}"),
    }
}

fn established(
    case: Case,
    o: &mut Offload,
) -> (Pipeline, Snapshot, Flow, HashMap<u32, Vec<[u8; KEY_LEN]>>) {
    let s = snapshot();
    let mut p = pipeline();
    let flow = Flow::open(case, 1, &mut p, &s, 0);
    let mut keys = HashMap::new();
    sync_rules(&mut p, o, &mut keys);
    // Each direction's first established packet, through the pipeline alone, offers its rule.
    let (mut f, len) = flow.original(&Shape::default());
    p.process_frame(&s, 1, &mut f, len);
    if case.two_way() {
        let (mut f, len) = flow.reply_frame(&Shape::default());
        p.process_frame(&s, 1, &mut f, len);
    }
    sync_rules(&mut p, o, &mut keys);
    (p, s, flow, keys)
}

#[test]
fn every_case_is_forwarded_by_the_program_as_by_the_pipeline() {
    let Some(mut o) = load() else { return };
    for case in Case::ALL {
        let (mut p, s, flow, keys) = established(case, &mut o);
        assert_eq!(
            keys.values().map(Vec::len).sum::<usize>(),
            if case.two_way() { 2 } else { 1 },
            "{case:?}"
        );
        assert!(
            both(&mut p, &s, &o, flow.original(&Shape::default())),
            "{case:?}"
        );
        if case.two_way() {
            assert!(
                both(&mut p, &s, &o, flow.reply_frame(&Shape::default())),
                "{case:?}"
            );
        }
        for k in keys.values().flatten() {
            o.remove(k).unwrap();
        }
    }
}

#[test]
fn a_fin_goes_to_the_worker_and_takes_the_rules_away() {
    let Some(mut o) = load() else { return };
    let (mut p, s, flow, mut keys) = established(Case::FullNat, &mut o);
    let fin = Shape {
        tcp_flags: FIN | ACK,
        ..Shape::default()
    };
    assert!(!both(&mut p, &s, &o, flow.original(&fin)));
    sync_rules(&mut p, &mut o, &mut keys);
    assert!(keys.is_empty());
    assert!(!both(&mut p, &s, &o, flow.reply_frame(&Shape::default())));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Any sequence of data packets of any case, either way: every packet the program forwards
    /// is the pipeline's output byte for byte; rules follow the pipeline's offers and
    /// withdrawals between packets, as the workers apply them.
    #[test]
    fn the_program_and_the_pipeline_agree(
        case in proptest::sample::select(Case::ALL.to_vec()),
        packets in proptest::collection::vec((shapes(), any::<bool>()), 1..12),
    ) {
        let Some(mut o) = load() else { return Ok(()) };
        let (mut p, s, flow, mut keys) = established(case, &mut o);
        for (shape, reply) in packets {
            let frame = if reply && case.two_way() {
                flow.reply_frame(&shape)
            } else {
                flow.original(&shape)
            };
            both(&mut p, &s, &o, frame);
            sync_rules(&mut p, &mut o, &mut keys);
        }
    }
}
