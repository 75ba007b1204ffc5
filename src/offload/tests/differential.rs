//! The program's plain rewrite against the worker's: random flows and frames through
//! `dataplane::nat::rewrite` + `decrement_ttl` and through the program with an entry built
//! from the ABI's deltas must give byte-identical frames.

mod common;

use std::cell::RefCell;
use std::net::Ipv4Addr;

use common::*;
use dataplane::nat::{self, Side};
use dataplane::wire::{proto, EthernetFrame, Ipv4Packet, MacAddr};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use xdp_offload::action;

/// The worker's rewrite of the same frame: both sides (a NAT rule leaves one as it is),
/// the TTL, the Ethernet header.
fn reference(frame: &[u8], r: &Rewrite) -> Vec<u8> {
    let mut f = frame.to_vec();
    let tot_len = usize::from(u16::from_be_bytes([f[16], f[17]]));
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..14 + tot_len]);
        // For ICMP the identifier is the request's source "port", the reply's destination
        // one; nat::rewrite applies it only on its side.
        nat::rewrite(&mut ip, Side::Src, r.new_src, r.new_sport);
        nat::rewrite(&mut ip, Side::Dst, r.new_dst, r.new_dport);
        ip.decrement_ttl();
    }
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst(MacAddr(OUT_DMAC));
    eth.set_src(MacAddr(OUT_SMAC));
    f
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    // Now and then a word of all ones or zeros, where ones'-complement arithmetic has its
    // two zeros.
    prop_oneof![
        any::<u32>().prop_map(Ipv4Addr::from),
        Just(Ipv4Addr::new(255, 255, 0, 0)),
        Just(Ipv4Addr::new(0, 0, 255, 255)),
    ]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![any::<u16>(), Just(0), Just(0xffff)]
}

/// A new value, or (often) the old one kept.
fn maybe<T: Clone + std::fmt::Debug>(old: T, new: T, keep: bool) -> T {
    if keep {
        old
    } else {
        new
    }
}

prop_compose! {
    fn case()(
        protocol in prop_oneof![Just(proto::TCP), Just(proto::UDP), Just(proto::ICMP)],
        echo_request in any::<bool>(),
        src in addr(), dst in addr(), sport in port(), dport in port(),
        new_src in addr(), new_dst in addr(), new_sport in port(), new_dport in port(),
        keep in any::<[bool; 4]>(),
        ttl in 2u8..=255,
        payload in proptest::collection::vec(any::<u8>(), 0..80),
        udp_zero in any::<bool>(),
    ) -> (Rewrite, Vec<u8>, bool) {
        let r = Rewrite {
            proto: protocol,
            echo_request,
            src, dst, sport, dport, ttl,
            new_src: maybe(src, new_src, keep[0]),
            new_dst: maybe(dst, new_dst, keep[1]),
            new_sport: maybe(sport, new_sport, keep[2]),
            new_dport: maybe(dport, new_dport, keep[3]),
        };
        (r, payload, udp_zero && protocol == proto::UDP)
    }
}

#[test]
fn plain_rewrite_is_the_workers_byte_for_byte() {
    let Some(o) = load() else { return };
    let o = RefCell::new(o);
    let mut runner = TestRunner::new(Config::with_cases(2000));
    runner
        .run(&case(), |(r, payload, udp_zero)| {
            let mut ip = r.packet(&payload);
            if udp_zero {
                ip[26..28].copy_from_slice(&[0, 0]);
            }
            let frame = frame_in(&ip);
            let mut o = o.borrow_mut();
            o.insert(&r.key().bytes(), &r.action(LO).bytes()).unwrap();
            let run = o.test_run(&frame, LO).unwrap();
            prop_assert_eq!(run.retval, action::TX);
            let want = reference(&frame, &r);
            prop_assert_eq!(&run.frame, &want, "{:?}", r);
            o.remove(&r.key().bytes()).unwrap();
            Ok(())
        })
        .unwrap();
}

/// The frames the mutation test starts from, with their entries: a plain NAT flow and a GRE
/// (key) flow that is decapsulated.
fn seeds() -> Vec<(Key, Action, Vec<u8>)> {
    let r = Rewrite {
        proto: proto::TCP,
        echo_request: true,
        src: CLIENT,
        dst: VIP,
        sport: 40000,
        dport: 80,
        ttl: 64,
        new_src: LOCAL,
        new_dst: BACKEND,
        new_sport: 61000,
        new_dport: 8080,
    };
    let mut decap = r.action(LO);
    decap.decap_len = 28;
    vec![
        (r.key(), r.action(LO), frame_in(&r.packet(b"0123456789"))),
        (
            r.key().in_gre(SITE, TUNNEL_LOCAL, Some(5)),
            decap,
            frame_in(&dataplane::frames::gre_packet(
                SITE,
                TUNNEL_LOCAL,
                Some(5),
                &r.packet(b"0123456789"),
            )),
        ),
    ]
}

#[test]
fn damaged_frames_are_forwarded_correctly_or_handed_on_intact() {
    // The program reads untrusted bytes: whatever a frame holds, it either forwards it (with
    // a correct IPv4 header checksum) or hands it on unchanged, and never aborts.
    let Some(mut o) = load() else { return };
    let seeds = seeds();
    for (k, a, _) in &seeds {
        o.insert(&k.bytes(), &a.bytes()).unwrap();
    }
    let mut runner = TestRunner::new(Config::with_cases(3000));
    let strategy = (
        0..seeds.len(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        any::<prop::sample::Index>(),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(seed, edits, cut, truncate)| {
            let mut frame = seeds[seed].2.clone();
            for (at, byte) in edits {
                let i = at.index(frame.len());
                frame[i] = byte;
            }
            if truncate {
                frame.truncate(14.max(cut.index(frame.len())));
            }
            let run = o.test_run(&frame, LO).unwrap();
            match run.retval {
                action::PASS => prop_assert_eq!(&run.frame, &frame),
                action::TX => {
                    let ip = Ipv4Packet::new_checked(&run.frame[14..]).expect("IPv4");
                    prop_assert!(ip.verify_checksum());
                }
                other => prop_assert!(false, "action {}", other),
            }
            Ok(())
        })
        .unwrap();
}
