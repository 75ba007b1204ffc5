//! The rules the pipeline offers, held to the model: for every kind of flow, the model applied
//! to a data packet gives the pipeline's own output byte for byte.

use std::collections::HashMap;

use proptest::prelude::*;

use super::model::{self, Punt};
use crate::conntrack::{Dir, LastSeen, OffloadEvent};
use crate::counters::Counter;
use crate::pipeline::{Pipeline, Verdict};
use crate::snapshot::Snapshot;
use crate::testkit::offload::{pipeline, shapes, snapshot, Case, Flow, Shape};
use crate::wire::offload::{ActionRepr, Encap, KeyRepr, ACTION_LEN, KEY_LEN};
use crate::wire::tcp::flags::{ACK, FIN};

/// The program's table as the shell would keep it: rules by key, per flow slot.
#[derive(Default)]
struct Table {
    rules: HashMap<[u8; KEY_LEN], ([u8; ACTION_LEN], u16)>,
    by_flow: HashMap<u32, Vec<[u8; KEY_LEN]>>,
    withdrawn: usize,
}

impl Table {
    fn take(&mut self, p: &mut Pipeline) {
        let flush = p.take_offload(|e| match e {
            OffloadEvent::Install(o) => {
                self.rules.insert(o.key, (o.action, o.egress));
                self.by_flow.entry(o.flow).or_default().push(o.key);
            }
            OffloadEvent::Withdraw(i) => {
                for k in self.by_flow.remove(i).unwrap_or_default() {
                    self.rules.remove(&k);
                    self.withdrawn += 1;
                }
            }
        });
        if flush {
            self.withdrawn += self.rules.len();
            self.rules.clear();
            self.by_flow.clear();
        }
    }
}

fn action_of(b: &[u8; ACTION_LEN], k: &[u8; KEY_LEN]) -> ActionRepr {
    // The action's fields as the derive made them: found again by deriving nothing, so the
    // test reads them back through the model's own use of the emitted bytes.
    let _ = KeyRepr::parse(k);
    crate::wire::offload::ActionRepr::parse(b)
}

/// Runs `frame` through the model (if a rule matches) and the pipeline; they must agree.
/// Returns whether the model forwarded it.
fn both(p: &mut Pipeline, s: &Snapshot, t: &Table, now: u32, mut f: Vec<u8>, len: usize) -> bool {
    let mut m = f.clone();
    let modelled = model::parse(&m[..len]).ok().and_then(|seen| {
        let (a, egress) = t.rules.get(&seen.key.emit())?;
        let a = action_of(a, &seen.key.emit());
        Some((model::apply(&a, &seen, &mut m, len), *egress))
    });
    let (v, out) = p.process_frame(s, now, &mut f, len);
    match modelled {
        Some((Ok(n), egress)) => {
            assert_eq!(v, Verdict::Tx { iface: egress });
            assert_eq!(&m[..n], &f[..out], "the model and the pipeline differ");
            true
        }
        _ => false,
    }
}

fn established(case: Case) -> (Pipeline, Snapshot, Flow, Table) {
    let s = snapshot();
    let mut p = pipeline();
    let flow = Flow::open(case, 1, &mut p, &s, 0);
    let mut t = Table::default();
    t.take(&mut p);
    (p, s, flow, t)
}

#[test]
fn every_case_offers_a_rule_per_direction_that_the_model_applies_as_the_pipeline_forwards() {
    for case in Case::ALL {
        let (mut p, s, flow, mut t) = established(case);
        // TCP: the original direction's rule comes with the handshake's last ACK, the reply's
        // with its first packet after it. UDP and echo flows: each direction's first packet.
        let shape = Shape::default();
        let tcp = case.proto() == crate::wire::proto::TCP;
        assert_eq!(t.rules.len(), if tcp { 1 } else { 2 }, "{case:?}");
        let (f, len) = flow.original(&shape);
        assert!(both(&mut p, &s, &t, 1, f, len), "{case:?}");
        t.take(&mut p);
        if case.two_way() {
            let (f, len) = flow.reply_frame(&shape);
            assert_eq!(both(&mut p, &s, &t, 1, f, len), !tcp, "{case:?}");
            t.take(&mut p);
        }
        let want = if case.two_way() { 2 } else { 1 };
        assert_eq!(t.rules.len(), want, "{case:?}");
        // An untracked flow's packets offer their rule whenever they reach the pipeline (here:
        // every packet, since the test runs both): the shell keeps one.
        let offered = p.counters().get(Counter::OffloadOffered);
        if case == Case::SiteEnd {
            assert!(offered >= want as u64, "{offered}");
        } else {
            assert_eq!(offered, want as u64, "{case:?}");
        }
        assert_eq!(p.counters().get(Counter::OffloadUnfit), 0, "{case:?}");
        for _ in 0..3 {
            let (f, len) = flow.original(&shape);
            assert!(both(&mut p, &s, &t, 2, f, len), "{case:?} original");
            if case.two_way() {
                let (f, len) = flow.reply_frame(&shape);
                assert!(both(&mut p, &s, &t, 2, f, len), "{case:?} reply");
            }
        }
        let encaps: Vec<Encap> = t
            .rules
            .values()
            .map(|(a, _)| crate::wire::offload::ActionRepr::parse(a).encap)
            .collect();
        match case {
            Case::Tunnel => assert_eq!(encaps, [Encap::Ipip]),
            Case::GreSnat | Case::GreSnatKeyed | Case::SiteEnd => {
                assert!(encaps.contains(&Encap::Gre))
            }
            _ => assert!(encaps.iter().all(|e| *e == Encap::None)),
        }
    }
}

#[test]
fn what_the_program_leaves_to_the_worker() {
    let (mut p, s, flow, mut t) = established(Case::GreSnatKeyed);
    for f in [
        flow.original(&Shape::default()),
        flow.reply_frame(&Shape::default()),
    ] {
        both(&mut p, &s, &t, 1, f.0, f.1);
        t.take(&mut p);
    }
    let punt = |shape: Shape, reply: bool| {
        let (f, len) = if reply {
            flow.reply_frame(&shape)
        } else {
            flow.original(&shape)
        };
        let seen = model::parse(&f[..len]);
        let seen = match seen {
            Ok(seen) => seen,
            Err(e) => return e,
        };
        let (a, _) = t.rules.get(&seen.key.emit()).expect("a rule");
        let a = action_of(a, &seen.key.emit());
        let mut m = f.clone();
        model::apply(&a, &seen, &mut m, len).expect_err("punted")
    };
    assert_eq!(
        punt(
            Shape {
                ttl: 1,
                ..Shape::default()
            },
            false
        ),
        Punt::Ttl
    );
    assert_eq!(
        punt(
            Shape {
                tcp_flags: FIN | ACK,
                ..Shape::default()
            },
            false
        ),
        Punt::TcpFlags
    );
    // Into the tunnel: larger than its MTU, or without Don't Fragment.
    assert_eq!(
        punt(
            Shape {
                payload: vec![0; 1400],
                ..Shape::default()
            },
            true
        ),
        Punt::TooLong
    );
    assert_eq!(
        punt(
            Shape {
                dont_frag: false,
                ..Shape::default()
            },
            true
        ),
        Punt::NotDf
    );
}

#[test]
fn a_fin_withdraws_both_directions_and_the_flow_goes_back_to_the_worker() {
    let (mut p, s, flow, mut t) = established(Case::NatTcp);
    for f in [
        flow.original(&Shape::default()),
        flow.reply_frame(&Shape::default()),
    ] {
        both(&mut p, &s, &t, 1, f.0, f.1);
        t.take(&mut p);
    }
    assert_eq!(t.rules.len(), 2);
    let fin = Shape {
        tcp_flags: FIN | ACK,
        ..Shape::default()
    };
    let (f, len) = flow.original(&fin);
    assert!(!both(&mut p, &s, &t, 2, f, len));
    t.take(&mut p);
    assert!(t.rules.is_empty());
    assert_eq!(t.withdrawn, 2);
    // Past the handshake's end nothing is offered again.
    let (f, len) = flow.reply_frame(&Shape::default());
    both(&mut p, &s, &t, 3, f, len);
    t.take(&mut p);
    assert!(t.rules.is_empty());
}

#[test]
fn expiry_asks_when_the_program_last_forwarded_an_offloaded_flow() {
    let (mut p, s, flow, mut t) = established(Case::NatUdp);
    for f in [
        flow.original(&Shape::default()),
        flow.reply_frame(&Shape::default()),
    ] {
        both(&mut p, &s, &t, 1, f.0, f.1);
        t.take(&mut p);
    }
    let timeout = 300_000;
    // The program forwarded a packet at `timeout - 10`: the flow lives on.
    let mut asked = 0;
    p.housekeeping_with(timeout + 5, &mut |_, e| {
        asked += 1;
        assert!(e.offloaded(Dir::Original) && e.offloaded(Dir::Reply));
        LastSeen::At(timeout - 10)
    });
    assert_eq!(asked, 1);
    assert_eq!(p.conntrack().used(), 1);
    // Without a caller that can ask, an offloaded flow is never expired on the table's word.
    p.housekeeping(3 * timeout);
    assert_eq!(p.conntrack().used(), 1);
    // Nothing since: it expires, and its rules are withdrawn.
    p.housekeeping_with(2 * timeout + 10, &mut |_, _| LastSeen::At(timeout - 10));
    assert_eq!(p.conntrack().used(), 0);
    t.take(&mut p);
    assert!(t.rules.is_empty());
}

#[test]
fn withdrawing_everything_is_a_flush_and_rules_come_back_on_the_next_packets() {
    let (mut p, s, flow, mut t) = established(Case::FullNat);
    let (f, len) = flow.original(&Shape::default());
    both(&mut p, &s, &t, 1, f, len);
    t.take(&mut p);
    assert_eq!(t.rules.len(), 1);
    p.withdraw_all_offloads();
    t.take(&mut p);
    assert!(t.rules.is_empty());
    let (f, len) = flow.original(&Shape::default());
    assert!(!both(&mut p, &s, &t, 2, f, len));
    t.take(&mut p);
    assert_eq!(t.rules.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any data packet of an offloaded flow: where the model forwards it, the pipeline forwards
    /// exactly the same bytes by the same interface; where it does not, nothing is claimed.
    #[test]
    fn the_model_and_the_pipeline_agree_on_any_data_packet(
        case in proptest::sample::select(Case::ALL.to_vec()),
        shapes in proptest::collection::vec((shapes(), any::<bool>()), 1..8),
    ) {
        let (mut p, s, flow, mut t) = established(case);
        for f in [Some(flow.original(&Shape::default())),
                  case.two_way().then(|| flow.reply_frame(&Shape::default()))].into_iter().flatten() {
            both(&mut p, &s, &t, 1, f.0, f.1);
            t.take(&mut p);
        }
        for (shape, reply) in shapes {
            let (f, len) = if reply && case.two_way() {
                flow.reply_frame(&shape)
            } else {
                flow.original(&shape)
            };
            both(&mut p, &s, &t, 2, f, len);
            t.take(&mut p);
        }
    }
}

#[test]
fn a_direction_that_fits_no_rule_is_tried_again_only_now_and_then() {
    let (mut p, s, flow, mut t) = established(Case::GreSnatKeyed);
    // Into the tunnel without Don't Fragment: the worker numbers such packets, no rule can.
    let no_df = Shape {
        dont_frag: false,
        ..Shape::default()
    };
    for _ in 0..10 {
        let (f, len) = flow.reply_frame(&no_df);
        assert!(!both(&mut p, &s, &t, 1, f, len));
    }
    t.take(&mut p);
    assert_eq!(p.counters().get(Counter::OffloadUnfit), 1);
    // A later packet that fits gets its rule at the flow's next 64th packet.
    for _ in 0..64 {
        let (f, len) = flow.reply_frame(&Shape::default());
        both(&mut p, &s, &t, 2, f, len);
        t.take(&mut p);
    }
    assert_eq!(t.rules.len(), 2);
    assert_eq!(p.counters().get(Counter::OffloadUnfit), 1);
}
