use std::collections::HashMap;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::wire::tcp::flags::*;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);

fn flow(client_port: u16, proto: u8, state: State) -> NewFlow {
    NewFlow::nat(
        FlowKey::new(Ipv4Addr::new(198, 18, 0, 7), client_port, VIP, 80, proto),
        BACKEND,
        8080,
        0,
        3,
        state,
    )
}

fn ignore(_: &Entry) {}

#[test]
fn both_directions_find_one_entry() {
    let mut ct = Conntrack::new(16, Timeouts::default(), 1);
    let f = flow(40000, 6, State::SynSent);
    let i = ct.insert(0, &f, &mut ignore).unwrap();
    assert_eq!(ct.lookup(&f.original), Some((i, Dir::Original)));
    let reply = FlowKey::new(BACKEND, 8080, Ipv4Addr::new(198, 18, 0, 7), 40000, 6);
    assert_eq!(ct.lookup(&reply), Some((i, Dir::Reply)));
    // The reverse of the original key (VIP→client) is not a key of this flow.
    assert_eq!(ct.lookup(&f.original.reversed()), None);
    assert_eq!(ct.used(), 1);
    assert_eq!(ct.get(i).backend_id, 3);
}

#[test]
fn tcp_flags_move_flows_between_classes() {
    let mut ct = Conntrack::new(16, Timeouts::default(), 1);
    let i = ct
        .insert(0, &flow(1, 6, State::SynSent), &mut ignore)
        .unwrap();
    assert_eq!(ct.class_len(Class::TcpSyn), 1);
    ct.touch(i, Dir::Reply, 1, Some(SYN | ACK));
    ct.touch(i, Dir::Original, 2, Some(ACK));
    assert_eq!(ct.get(i).state(), State::Established);
    assert_eq!(
        (
            ct.class_len(Class::TcpSyn),
            ct.class_len(Class::TcpEstablished)
        ),
        (0, 1)
    );
    ct.touch(i, Dir::Original, 3, Some(FIN | ACK));
    ct.touch(i, Dir::Reply, 4, Some(FIN | ACK));
    assert_eq!(ct.get(i).state(), State::TimeWait);
    assert_eq!(ct.class_len(Class::TcpTimeWait), 1);
    assert_eq!(ct.get(i).packets, 4);
}

#[test]
fn idle_flows_expire_after_their_class_timeout_and_active_ones_stay() {
    let t = Timeouts::default();
    let udp = t.of(Class::Udp);
    let mut ct = Conntrack::new(16, t, 1);
    let idle = ct.insert(0, &flow(1, 17, State::Udp), &mut ignore).unwrap();
    let busy = ct.insert(0, &flow(2, 17, State::Udp), &mut ignore).unwrap();
    let syn = ct
        .insert(0, &flow(3, 6, State::SynSent), &mut ignore)
        .unwrap();
    // The SYN flow expires first: its class has the shortest timeout.
    assert_eq!(ct.expire(t.of(Class::TcpSyn) - 1, 100, &mut ignore), 0);
    let mut freed = vec![];
    assert_eq!(
        ct.expire(t.of(Class::TcpSyn), 100, &mut |e: &Entry| freed
            .push(e.client_port)),
        1
    );
    assert_eq!(freed, [3]);
    assert!(ct.get(syn).is_free());
    ct.touch(busy, Dir::Original, udp - 1, None);
    assert_eq!(ct.expire(udp - 1, 100, &mut ignore), 0);
    // At the timeout the idle flow goes; the busy one is re-queued.
    assert_eq!(ct.expire(udp, 100, &mut ignore), 1);
    assert!(ct.get(idle).is_free());
    assert!(!ct.get(busy).is_free());
    // It was re-queued at `udp`, so it is looked at again one timeout later: freed late (by less
    // than one timeout), never early.
    assert_eq!(ct.expire(2 * udp - 1, 100, &mut ignore), 0);
    assert_eq!(ct.expire(2 * udp, 100, &mut ignore), 1);
    assert_eq!(ct.used(), 0);
    assert_eq!(ct.stats.expired, 3);
}

#[test]
fn expiry_survives_clock_wrap() {
    let t = Timeouts::default();
    let mut ct = Conntrack::new(4, t, 1);
    let start = u32::MAX - 10;
    ct.insert(start, &flow(1, 17, State::Udp), &mut ignore)
        .unwrap();
    assert_eq!(
        ct.expire(start.wrapping_add(t.of(Class::Udp) - 1), 10, &mut ignore),
        0
    );
    assert_eq!(
        ct.expire(start.wrapping_add(t.of(Class::Udp)), 10, &mut ignore),
        1
    );
}

#[test]
fn full_table_evicts_embryonic_then_refuses() {
    let mut ct = Conntrack::new(3, Timeouts::default(), 1);
    ct.insert(0, &flow(1, 6, State::SynSent), &mut ignore)
        .unwrap();
    ct.insert(1, &flow(2, 6, State::Established), &mut ignore)
        .unwrap();
    ct.insert(2, &flow(3, 6, State::Established), &mut ignore)
        .unwrap();
    // Full: the embryonic flow makes room.
    let mut freed = vec![];
    ct.insert(3, &flow(4, 6, State::Established), &mut |e: &Entry| {
        freed.push(e.client_port)
    })
    .unwrap();
    assert_eq!(freed, [1]);
    assert_eq!(ct.stats.evicted, 1);
    // Full of established flows: the new flow is refused and they are untouched.
    assert_eq!(
        ct.insert(4, &flow(5, 6, State::SynSent), &mut ignore),
        Err(InsertError::Full)
    );
    assert_eq!(ct.stats.full_drops, 1);
    assert_eq!(ct.used(), 3);
    // Once one has expired, it is reclaimed for the new flow.
    let later = 2 + ct.timeouts().of(Class::TcpEstablished);
    ct.insert(later, &flow(5, 6, State::SynSent), &mut ignore)
        .unwrap();
    assert_eq!(ct.stats.expired, 2);
}

#[test]
fn reply_key_conflict_is_refused() {
    let mut ct = Conntrack::new(4, Timeouts::default(), 1);
    ct.insert(0, &flow(1, 6, State::SynSent), &mut ignore)
        .unwrap();
    // Same client port to another VIP mapped to the same backend: replies would be ambiguous.
    let mut other = flow(1, 6, State::SynSent);
    other.original.dst = Ipv4Addr::new(198, 18, 1, 2);
    assert_eq!(
        ct.insert(0, &other, &mut ignore),
        Err(InsertError::Conflict)
    );
    assert_eq!(ct.stats.conflicts, 1);
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u16),
    Remove(u16),
}

proptest! {
    /// Random inserts and removals agree with a HashMap model, through index collisions and
    /// backward-shift deletions.
    #[test]
    fn agrees_with_a_model(ops in proptest::collection::vec(
        prop_oneof![(0u16..64).prop_map(Op::Insert), (0u16..64).prop_map(Op::Remove)], 1..400)) {
        let mut ct = Conntrack::new(48, Timeouts::default(), 7);
        let mut model: HashMap<u16, u32> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(p) => {
                    let f = flow(p, 17, State::Udp);
                    match ct.lookup(&f.original) {
                        Some((i, Dir::Original)) => prop_assert_eq!(model.get(&p), Some(&i)),
                        Some(other) => prop_assert!(false, "{other:?}"),
                        None => {
                            prop_assert!(!model.contains_key(&p));
                            match ct.insert(0, &f, &mut ignore) {
                                Ok(i) => { model.insert(p, i); }
                                Err(InsertError::Full) => prop_assert_eq!(model.len(), 48),
                                Err(e) => prop_assert!(false, "{e:?}"),
                            }
                        }
                    }
                }
                Op::Remove(p) => {
                    if let Some(i) = model.remove(&p) {
                        ct.remove(i, &mut ignore);
                    }
                }
            }
            prop_assert_eq!(ct.used() as usize, model.len());
            for (p, i) in &model {
                let f = flow(*p, 17, State::Udp);
                prop_assert_eq!(ct.lookup(&f.original), Some((*i, Dir::Original)));
                let reply = FlowKey::new(BACKEND, 8080, Ipv4Addr::new(198, 18, 0, 7), *p, 17);
                prop_assert_eq!(ct.lookup(&reply), Some((*i, Dir::Reply)));
            }
        }
    }
}

#[test]
fn zones_keep_flows_apart_and_profiles_have_their_own_timeouts() {
    let mut ct = Conntrack::new(8, Timeouts::default(), 1);
    let mut snat = Timeouts::default();
    snat.ms[Class::Udp as usize] = 600_000;
    ct.set_timeouts(1, snat);
    // The same inside 5-tuple from two tunnels, translated to two external ports.
    for zone in [1u16, 2] {
        let original = FlowKey {
            zone,
            ..FlowKey::new(Ipv4Addr::new(198, 18, 64, 5), 5000, BACKEND, 53, 17)
        };
        let f = NewFlow {
            local: Ipv4Addr::new(198, 19, 0, 1),
            local_port: 40000 + zone,
            kind: Kind::Snat,
            profile: 1,
            ..NewFlow::nat(original, BACKEND, 53, 0, 0, State::Udp)
        };
        ct.insert(0, &f, &mut |_| {}).unwrap();
    }
    let lb = flow(7, 17, State::Udp);
    ct.insert(0, &lb, &mut |_| {}).unwrap();
    assert_eq!(ct.used(), 3);
    for zone in [1u16, 2] {
        let original = FlowKey {
            zone,
            ..FlowKey::new(Ipv4Addr::new(198, 18, 64, 5), 5000, BACKEND, 53, 17)
        };
        let (i, dir) = ct.lookup(&original).unwrap();
        assert_eq!((ct.get(i).zone, dir), (zone, Dir::Original));
        // Replies carry no zone: the external port tells the flows apart.
        let reply = FlowKey::new(BACKEND, 53, Ipv4Addr::new(198, 19, 0, 1), 40000 + zone, 17);
        assert_eq!(ct.lookup(&reply), Some((i, Dir::Reply)));
    }
    let unzoned = FlowKey::new(Ipv4Addr::new(198, 18, 64, 5), 5000, BACKEND, 53, 17);
    assert_eq!(ct.lookup(&unzoned), None);
    // After 5 minutes only the load balancer's UDP flow has expired.
    let mut freed = Vec::new();
    ct.expire(300_001, 16, &mut |e| freed.push(e.zone));
    assert_eq!(freed, [0]);
    ct.expire(599_999, 16, &mut |e| freed.push(e.zone));
    assert_eq!(freed, [0]);
    ct.expire(600_001, 16, &mut |e| freed.push(e.zone));
    assert_eq!(freed, [0, 1, 2]);
}
