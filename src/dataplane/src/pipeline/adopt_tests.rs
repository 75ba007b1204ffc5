//! Session sync through the pipeline: one node's flows, taken from its change log or its bulk
//! export, adopted by a peer, which then carries on every flow both ways exactly as the first
//! node would have (same backend, same pool address and port, same site tunnel).

use std::net::Ipv4Addr;

use super::adopt::{owner, AdoptError, Adopted, Adoption};
use super::gateway_tests::{
    from_outside, from_site, snap, spec, untunnel, BACKEND, CLIENT, EXT1, EXT2, HOST, IF_IN,
    IF_OUT, LB_LOCAL, SERVER, SITE_A, SITE_B, VIP,
};
use super::*;
use crate::conntrack::{ChangeKind, Class};
use crate::frames;
use crate::testkit::{ip_of, l4_ports as ports, pipeline, run_frame as run, sa};
use crate::wire::tcp::flags::*;

const LOG: usize = 1024;

fn logging(worker: u16) -> Pipeline {
    let mut p = pipeline(worker, 256);
    p.log_changes(LOG);
    p
}

fn changes(p: &mut Pipeline) -> Vec<(ChangeKind, Adopted)> {
    let mut v = Vec::new();
    p.take_changes(|c| v.push((c.kind, Adopted::from_entry(&c.entry, c.remaining_ms))));
    v
}

/// Opens a FullNAT flow from the client and a SNAT flow from site a on `p`; returns the
/// FullNAT flow's (pool address, port) and the SNAT flow's external endpoint.
fn open_two(p: &mut Pipeline, s: &Snapshot) -> ((Ipv4Addr, u16), (Ipv4Addr, u16)) {
    let mut f = from_outside(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 80),
        SYN,
        b"",
    ));
    assert_eq!(run(p, s, 0, &mut f), Verdict::Tx { iface: IF_IN });
    let ip = ip_of(&f);
    let full = (ip.src(), ports(&ip).0);
    let syn = frames::tcp_segment(sa(HOST, 40000), sa(SERVER, 443), SYN, b"");
    let mut f = from_site(SITE_A, &syn);
    assert_eq!(run(p, s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    (full, (ip.src(), ports(&ip).0))
}

#[test]
fn a_peer_carries_on_fullnat_and_snat_flows_it_adopted() {
    let s = snap(1);
    let mut a = logging(0);
    let (full, ext) = open_two(&mut a, &s);
    let log = changes(&mut a);
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|(k, _)| *k == ChangeKind::Created));

    let mut b = logging(0);
    for (_, f) in &log {
        assert_eq!(owner(&s, f.kind, &f.original), 0);
        assert_eq!(b.adopt(&s, 5, f), Ok(Adoption::New));
    }
    assert!(
        changes(&mut b).is_empty(),
        "what a peer sent is not sent back"
    );
    assert_eq!(b.counters().get(Counter::SyncAdopted), 2);
    assert_eq!(b.snat().mappings.len(), 1);

    // The client's next segment leaves the peer from the same pool port to the same backend.
    let mut f = from_outside(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 80),
        ACK,
        b"x",
    ));
    assert_eq!(run(&mut b, &s, 10, &mut f), Verdict::Tx { iface: IF_IN });
    let ip = ip_of(&f);
    assert_eq!(
        (ip.src(), ports(&ip).0, ip.dst()),
        (full.0, full.1, BACKEND)
    );
    // The backend's answer to that port finds the flow.
    let mut f = from_outside(&frames::tcp_segment(
        sa(BACKEND, 8080),
        sa(full.0, full.1),
        ACK,
        b"y",
    ));
    assert_eq!(run(&mut b, &s, 11, &mut f), Verdict::Tx { iface: IF_OUT });
    assert_eq!(ip_of(&f).dst(), CLIENT);
    // The server's answer to the external endpoint goes down site a's tunnel.
    let mut f = from_outside(&frames::tcp_segment(
        sa(SERVER, 443),
        sa(ext.0, ext.1),
        ACK,
        b"z",
    ));
    assert_eq!(run(&mut b, &s, 12, &mut f), Verdict::Tx { iface: IF_IN });
    assert_eq!(untunnel(&f).0, SITE_A);
    // Site b's same inside endpoint is another flow: it gets a mapping of its own.
    let syn = frames::tcp_segment(sa(HOST, 40000), sa(SERVER, 443), SYN, b"");
    let mut f = from_site(SITE_B, &syn);
    assert_eq!(run(&mut b, &s, 13, &mut f), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    assert_ne!((ip.src(), ports(&ip).0), ext);
    assert!(ip.src() == EXT1 || ip.src() == EXT2);
    // The port it holds is not handed out again, and the backend's count includes the flow.
    let fl = *b
        .conntrack()
        .iter()
        .find(|e| e.kind() == Kind::FullNat)
        .unwrap();
    assert_eq!(b.sched().active(fl.backend_id), 1);
    assert_eq!(fl.local, LB_LOCAL);
}

#[test]
fn changes_are_logged_once_each_and_only_where_packets_made_them() {
    let s = snap(1);
    let mut a = logging(0);
    let (full, _) = open_two(&mut a, &s);
    changes(&mut a);
    let mut f = from_outside(&frames::tcp_segment(
        sa(BACKEND, 8080),
        sa(full.0, full.1),
        SYN | ACK,
        b"",
    ));
    assert_eq!(run(&mut a, &s, 1, &mut f), Verdict::Tx { iface: IF_OUT });
    assert!(
        changes(&mut a).is_empty(),
        "SYN to SYN-ACK stays in one class"
    );
    let mut f = from_outside(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 80),
        ACK,
        b"",
    ));
    run(&mut a, &s, 2, &mut f);
    let log = changes(&mut a);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, ChangeKind::ClassChanged);
    assert_eq!(log[0].1.state, State::Established);
    let mut f = from_outside(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 80),
        RST,
        b"",
    ));
    run(&mut a, &s, 3, &mut f);
    assert_eq!(changes(&mut a)[0].0, ChangeKind::ClassChanged);
    // Expiry removes and logs it.
    let t = a.conntrack().timeouts().of(Class::TcpTimeWait);
    a.housekeeping(3 + t + 1);
    let log = changes(&mut a);
    assert!(log
        .iter()
        .any(|(k, f)| *k == ChangeKind::Removed && f.original.src == CLIENT));
}

#[test]
fn flows_with_traffic_are_refreshed_at_half_their_timeout_and_copies_end_with_them() {
    let s = snap(1);
    let mut a = logging(0);
    let mut b = logging(0);
    let udp = |a: &mut Pipeline, now| {
        let mut f = from_outside(&frames::udp_datagram(
            sa(Ipv4Addr::new(198, 18, 96, 9), 7000),
            sa(SERVER, 53),
            b"q",
        ));
        assert_eq!(run(a, &s, now, &mut f), Verdict::Tx { iface: IF_OUT });
    };
    udp(&mut a, 0);
    for (_, f) in changes(&mut a) {
        b.adopt(&s, 0, &f).unwrap();
    }
    let t = 300_000; // the pool's UDP timeout in `spec`
    udp(&mut a, 1000);
    a.housekeeping(t / 2 + 1);
    let log = changes(&mut a);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, ChangeKind::Refreshed);
    assert_eq!(log[0].1.remaining_ms, t - (t / 2 + 1 - 1000));
    // The copy, not refreshed, says nothing, and would end when the original would have
    // without its second packet.
    b.housekeeping(t / 2 + 1);
    assert!(
        changes(&mut b).is_empty(),
        "a copy without packets is not reported back"
    );
    b.housekeeping(t + 1);
    assert_eq!(b.conntrack().used(), 0);
    // Applying the refresh keeps it as long as the original.
    let mut b = logging(0);
    for (_, f) in &log {
        assert_eq!(b.adopt(&s, t / 2 + 1, f), Ok(Adoption::New));
    }
    b.housekeeping(t + 2);
    assert_eq!(b.conntrack().used(), 1);
    // Expiry looks at a flow every half timeout: the copy ends at the first look after the
    // original's end (t + 1000).
    b.housekeeping(t + 2 + t / 2);
    assert_eq!(b.conntrack().used(), 0);
}

#[test]
fn a_peers_removal_never_ends_a_flow_that_lives_on_here() {
    let s = snap(1);
    let mut a = logging(0);
    let (_, _) = open_two(&mut a, &s);
    let log = changes(&mut a);
    let mut b = logging(0);
    for (_, f) in &log {
        b.adopt(&s, 0, f).unwrap();
    }
    let key = log[0].1.original;
    // Here the flow has its whole lifetime: a removal from a peer whose copy ran out is a race
    // this node's live flow must survive.
    assert!(!b.forget(10, &key));
    assert_eq!(b.counters().get(Counter::SyncRemoveIgnored), 1);
    assert_eq!(b.conntrack().used(), 2);
    // About to run out here too: the removal applies.
    let t = b.conntrack().timeouts().of(Class::TcpSyn);
    assert!(b.forget(t - 1000, &key));
    assert_eq!(b.conntrack().used(), 1);
    assert_eq!(b.counters().get(Counter::SyncRemoved), 1);
}

#[test]
fn a_peers_new_flow_of_the_same_tuple_replaces_a_copy_but_not_a_live_flow() {
    let s = snap(1);
    let mut a = pipeline(0, 256);
    let (_, _) = open_two(&mut a, &s);
    let full = a
        .conntrack()
        .iter()
        .map(|e| Adopted::from_entry(e, 5000))
        .find(|f| f.kind == Kind::FullNat)
        .unwrap();
    let mut b = pipeline(0, 256);
    b.adopt(&s, 0, &full).unwrap();
    // The peer scheduled the same tuple afresh, from another pool port: the copy, which
    // carried nothing here, gives way and its port is free again.
    let moved = Adopted {
        local_port: full.local_port + 2,
        ..full
    };
    assert_eq!(b.adopt(&s, 1, &moved), Ok(Adoption::New));
    assert_eq!(b.conntrack().used(), 1);
    assert_eq!(b.snat().pools[1].used(0), [1, 0, 0]);
    // Once the flow carries packets here, a peer's other version of it is refused.
    let mut f = from_outside(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 80),
        ACK,
        b"x",
    ));
    assert_eq!(run(&mut b, &s, 2, &mut f), Verdict::Tx { iface: IF_IN });
    let mut f = from_outside(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 80),
        ACK,
        b"y",
    ));
    assert_eq!(run(&mut b, &s, 3, &mut f), Verdict::Tx { iface: IF_IN });
    assert_eq!(ports(&ip_of(&f)).0, moved.local_port);
    assert_eq!(b.adopt(&s, 4, &full), Err(AdoptError::Conflict));
}

#[test]
fn a_bulk_export_pages_through_every_flow() {
    let s = snap(1);
    let mut a = pipeline(0, 256);
    for port in 0..50 {
        let mut f = from_outside(&frames::tcp_segment(
            sa(CLIENT, 20000 + port),
            sa(VIP, 80),
            SYN,
            b"",
        ));
        assert_eq!(run(&mut a, &s, 0, &mut f), Verdict::Tx { iface: IF_IN });
    }
    let mut b = pipeline(0, 256);
    let mut cursor = Some(0);
    let mut pages = 0;
    while let Some(c) = cursor {
        let mut page = Vec::new();
        cursor = a.export(c, 16, 0, |_, e, left| {
            page.push(Adopted::from_entry(e, left))
        });
        assert!(page.len() <= 16);
        for f in page {
            assert_eq!(b.adopt(&s, 0, &f), Ok(Adoption::New));
        }
        pages += 1;
    }
    assert_eq!(pages, 4);
    assert_eq!(b.conntrack().used(), 50);
    // Adopting the same again only updates.
    a.export(0, 1, 0, |_, e, left| {
        assert_eq!(
            b.adopt(&s, 0, &Adopted::from_entry(e, left)),
            Ok(Adoption::Updated)
        )
    });
}

#[test]
fn records_this_node_cannot_honour_are_refused_and_counted() {
    let s = snap(1);
    let mut a = pipeline(0, 256);
    let (_, _) = open_two(&mut a, &s);
    let flows: Vec<Adopted> = a
        .conntrack()
        .iter()
        .map(|e| Adopted::from_entry(e, 1000))
        .collect();
    let full = *flows.iter().find(|f| f.kind == Kind::FullNat).unwrap();
    let snat = *flows.iter().find(|f| f.kind == Kind::Snat).unwrap();
    let mut b = pipeline(0, 256);
    let bad = [
        (
            Adopted {
                backend: Ipv4Addr::new(198, 18, 2, 99),
                ..full
            },
            AdoptError::UnknownBackend,
        ),
        (
            Adopted {
                original: FlowKey {
                    dst_port: 81,
                    ..full.original
                },
                ..full
            },
            AdoptError::UnknownService,
        ),
        (
            Adopted {
                local: Ipv4Addr::new(198, 18, 9, 9),
                ..full
            },
            AdoptError::UnknownPool,
        ),
        (
            Adopted {
                kind: Kind::Nat,
                ..full
            },
            AdoptError::UnknownService,
        ),
        (Adopted { profile: 0, ..snat }, AdoptError::UnknownPool),
    ];
    for (f, why) in bad {
        assert_eq!(b.adopt(&s, 0, &f), Err(why), "{f:?}");
    }
    assert_eq!(b.conntrack().used(), 0);
    assert_eq!(b.snat().mappings.len(), 0);
    // The same inside endpoint mapped elsewhere, and a port already taken.
    b.adopt(&s, 0, &snat).unwrap();
    let other = Adopted {
        original: FlowKey {
            dst: Ipv4Addr::new(198, 19, 1, 2),
            ..snat.original
        },
        local_port: snat.local_port ^ 1,
        ..snat
    };
    assert_eq!(b.adopt(&s, 0, &other), Err(AdoptError::MappingConflict));
    let taken = Adopted {
        original: FlowKey {
            src_port: 40001,
            ..full.original
        },
        ..full
    };
    b.adopt(&s, 0, &full).unwrap();
    assert_eq!(b.adopt(&s, 0, &taken), Err(AdoptError::PortTaken));
    assert_eq!(b.counters().get(Counter::SyncRefused), 7);

    // With two workers, a port of the other worker's share is refused by this one.
    let s2 = Snapshot::build(&spec(2, (1024, 65535), 300_000), None).unwrap();
    let mut w = [pipeline(0, 256), pipeline(1, 256)];
    let o = usize::from(owner(&s2, Kind::FullNat, &full.original));
    assert_eq!(
        w[1 - o].adopt(&s2, 0, &full).err(),
        if crate::snat::ports::owner_of_port(full.local_port, 2) == (1 - o) as u16 {
            None
        } else {
            Some(AdoptError::PortTaken)
        }
    );
}

mod random {
    use super::*;
    use proptest::prelude::*;

    /// Addresses from small sets, so that random records hit the services, backends and pools
    /// of the snapshot as often as they miss them.
    fn addr() -> impl Strategy<Value = Ipv4Addr> {
        prop_oneof![
            Just(VIP),
            Just(BACKEND),
            Just(LB_LOCAL),
            Just(EXT1),
            Just(EXT2),
            Just(CLIENT),
            Just(HOST),
            Just(SERVER),
            any::<u32>().prop_map(Ipv4Addr::from),
        ]
    }

    fn kind() -> impl Strategy<Value = Kind> {
        (0u8..5).prop_map(Kind::from_u8)
    }

    fn adopted() -> impl Strategy<Value = Adopted> {
        (
            (
                addr(),
                addr(),
                prop_oneof![Just(80u16), Just(443), any::<u16>()],
            ),
            (
                any::<u16>(),
                prop_oneof![Just(6u8), Just(17), Just(1)],
                0u16..3,
            ),
            (kind(), 0u8..8, any::<u8>(), 0u8..4),
            (
                addr(),
                prop_oneof![Just(8080u16), any::<u16>()],
                addr(),
                any::<u16>(),
            ),
            any::<u32>(),
        )
            .prop_map(
                |(
                    (src, dst, dst_port),
                    (src_port, proto, zone),
                    (kind, state, fins, profile),
                    (backend, backend_port, local, local_port),
                    remaining_ms,
                )| Adopted {
                    original: FlowKey {
                        src,
                        dst,
                        src_port,
                        dst_port,
                        proto,
                        zone,
                    },
                    kind,
                    state: State::from_u8(state),
                    fins,
                    profile,
                    backend,
                    backend_port,
                    local,
                    local_port,
                    remaining_ms,
                },
            )
    }

    #[derive(Debug, Clone)]
    enum Op {
        Adopt(Adopted),
        Forget(usize),
        Refresh(usize, u8, u32),
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever a peer sends, in any order: nothing panics, the table never holds more
        /// than its capacity, every adopted flow is counted once, and once every flow is gone
        /// again nothing is left held (no pool port, no mapping, no backend count).
        #[test]
        fn any_records_leave_the_tables_consistent(
            ops in proptest::collection::vec(
                prop_oneof![
                    4 => adopted().prop_map(Op::Adopt),
                    1 => any::<usize>().prop_map(Op::Forget),
                    1 => (any::<usize>(), 0u8..8, any::<u32>()).prop_map(|(i, s, r)| Op::Refresh(i, s, r)),
                ],
                1..200,
            ),
            workers in 1u16..3,
        ) {
            let s = Snapshot::build(&spec(workers, (1024, 65535), 300_000), None).unwrap();
            let mut p = pipeline(0, 64);
            let mut seen: Vec<Adopted> = Vec::new();
            let mut now = 0u32;
            for op in ops {
                now = now.wrapping_add(7);
                match op {
                    Op::Adopt(a) => {
                        let before = p.conntrack().used();
                        let evicted = p.conntrack().stats.evicted + p.conntrack().stats.expired;
                        match p.adopt(&s, now, &a) {
                            Ok(Adoption::New) => {
                                // A full table makes room by evicting a handshake, or expiring.
                                let made_room = p.conntrack().stats.evicted
                                    + p.conntrack().stats.expired
                                    - evicted;
                                prop_assert_eq!(
                                    u64::from(p.conntrack().used()) + made_room,
                                    u64::from(before) + 1
                                );
                                seen.push(a);
                            }
                            Ok(Adoption::Updated) => prop_assert_eq!(p.conntrack().used(), before),
                            Err(_) => prop_assert!(p.conntrack().used() <= before),
                        }
                    }
                    Op::Forget(i) if !seen.is_empty() => {
                        let k = seen[i % seen.len()].original;
                        p.forget(now, &k);
                    }
                    Op::Refresh(i, st, r) if !seen.is_empty() => {
                        let k = seen[i % seen.len()].original;
                        p.refresh_adopted(now, &k, State::from_u8(st), 0, r);
                    }
                    _ => {}
                }
                prop_assert!(p.conntrack().used() <= p.conntrack().capacity());
            }
            // Everything runs out: the flows expire (a peer's removal applies only to flows
            // about to).
            let later = now.wrapping_add(4_000_000);
            for _ in 0..8 {
                p.housekeeping(later);
            }
            prop_assert_eq!(p.conntrack().used(), 0);
            prop_assert_eq!(p.snat().mappings.len(), 0);
            for pool in &p.snat().pools {
                for a in 0..pool.addrs.len() {
                    prop_assert_eq!(pool.used(a), [0, 0, 0]);
                }
            }
            for id in 0..4u16 {
                prop_assert_eq!(p.sched().active(id), 0);
            }
        }
    }
}
