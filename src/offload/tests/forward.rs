//! The program on every offloaded case, through `BPF_PROG_TEST_RUN`: hand-built entries, the
//! output frame compared field by field with one built afresh by the data plane's frame
//! builders, and every checksum verified from scratch.

mod common;

use std::net::Ipv4Addr;

use common::*;
use dataplane::wire::proto;
use xdp_offload::{action, EntryCounters, Offload, Stat};

const PAYLOAD: &[u8] = b"established flow payload";

/// Installs `key -> value`, runs `frame` arriving on lo, and checks that it left through lo
/// (XDP_TX) as `want`, with correct checksums, counted once in the entry and the stats.
fn forwards(o: &mut Offload, key: &Key, value: &Action, frame: &[u8], want: &[u8]) {
    o.insert(&key.bytes(), &value.bytes()).expect("insert");
    let before = o.stats().expect("stats");
    let run = o.test_run(frame, LO).expect("test run");
    assert_eq!(
        run.retval,
        action::TX,
        "not forwarded: stats {:?}",
        o.stats()
    );
    assert_frame_eq(&run.frame, want);
    assert_checksums(&run.frame);

    let after = o.stats().expect("stats");
    assert_eq!(
        after[Stat::Forwarded as usize],
        before[Stat::Forwarded as usize] + 1
    );
    assert_eq!(
        after[Stat::ForwardedBytes as usize],
        before[Stat::ForwardedBytes as usize] + frame.len() as u64
    );
    let c = EntryCounters::of(&o.lookup(&key.bytes()).expect("lookup").expect("entry"));
    assert_eq!((c.packets, c.bytes), (1, frame.len() as u64));
    assert!(c.last_seen_ns > 0);
}

fn nat_to_backend(protocol: u8) -> Rewrite {
    Rewrite {
        proto: protocol,
        echo_request: true,
        src: CLIENT,
        dst: VIP,
        sport: 40000,
        dport: 80,
        ttl: 64,
        new_src: CLIENT,
        new_dst: BACKEND,
        new_sport: 40000,
        new_dport: 8080,
    }
}

fn nat_reply(protocol: u8) -> Rewrite {
    Rewrite {
        proto: protocol,
        echo_request: false,
        src: BACKEND,
        dst: CLIENT,
        sport: 8080,
        dport: 40000,
        ttl: 64,
        new_src: VIP,
        new_dst: CLIENT,
        new_sport: 80,
        new_dport: 40000,
    }
}

/// A plain rewrite: the frame keeps its length (padding included).
fn plain_case(r: Rewrite) {
    let Some(mut o) = load() else { return };
    let frame = frame_in(&r.packet(PAYLOAD));
    let mut want = frame_out(&r.expected(PAYLOAD), false);
    want.resize(frame.len(), 0);
    forwards(&mut o, &r.key(), &r.action(LO), &frame, &want);
}

#[test]
fn nat_tcp_towards_the_backend() {
    plain_case(nat_to_backend(proto::TCP));
}

#[test]
fn nat_tcp_reply_from_the_backend() {
    plain_case(nat_reply(proto::TCP));
}

#[test]
fn nat_udp_both_ways() {
    plain_case(nat_to_backend(proto::UDP));
    plain_case(nat_reply(proto::UDP));
}

#[test]
fn snat_icmp_echo_both_ways() {
    // SNAT of a ping: the request's source and identifier are translated, the reply's
    // destination and identifier back.
    plain_case(Rewrite {
        proto: proto::ICMP,
        echo_request: true,
        src: CLIENT,
        dst: BACKEND,
        sport: 0x1234,
        dport: 0,
        ttl: 64,
        new_src: LOCAL,
        new_dst: BACKEND,
        new_sport: 0x4321,
        new_dport: 0,
    });
    plain_case(Rewrite {
        proto: proto::ICMP,
        echo_request: false,
        src: BACKEND,
        dst: LOCAL,
        sport: 0,
        dport: 0x4321,
        ttl: 64,
        new_src: BACKEND,
        new_dst: CLIENT,
        new_sport: 0,
        new_dport: 0x1234,
    });
}

#[test]
fn fullnat_rewrites_both_addresses_and_ports() {
    plain_case(Rewrite {
        proto: proto::TCP,
        echo_request: true,
        src: CLIENT,
        dst: VIP,
        sport: 40000,
        dport: 443,
        ttl: 17,
        new_src: LOCAL,
        new_dst: BACKEND,
        new_sport: 61000,
        new_dport: 8443,
    });
    plain_case(Rewrite {
        proto: proto::UDP,
        echo_request: true,
        src: BACKEND,
        dst: LOCAL,
        sport: 53,
        dport: 61000,
        ttl: 2,
        new_src: VIP,
        new_dst: CLIENT,
        new_sport: 53,
        new_dport: 40000,
    });
}

#[test]
fn udp_without_checksum_keeps_none() {
    let Some(mut o) = load() else { return };
    let r = nat_to_backend(proto::UDP);
    let zero = |mut ip: Vec<u8>| {
        ip[26..28].copy_from_slice(&[0, 0]);
        ip
    };
    let frame = frame_in(&zero(r.packet(PAYLOAD)));
    let mut want = frame_out(&zero(r.expected(PAYLOAD)), false);
    want.resize(frame.len(), 0);
    forwards(&mut o, &r.key(), &r.action(LO), &frame, &want);
}

#[test]
fn direct_routing_changes_only_macs_and_ttl() {
    let r = Rewrite {
        new_dst: VIP,
        new_dport: 80,
        ..nat_to_backend(proto::TCP)
    };
    assert_eq!(r.ip_delta(), 0xfeff, "only the TTL word changes");
    assert_eq!(r.l4_delta(), 0);
    plain_case(r);
}

/// GRE in, decapsulated, rewritten: the frame ends with the inner packet.
fn gre_decap_case(key: Option<u32>) {
    let Some(mut o) = load() else { return };
    let r = Rewrite {
        proto: proto::TCP,
        echo_request: true,
        src: Ipv4Addr::new(198, 18, 100, 5),
        dst: BACKEND,
        sport: 5555,
        dport: 22,
        ttl: 63,
        new_src: LOCAL,
        new_dst: BACKEND,
        new_sport: 61001,
        new_dport: 22,
    };
    let outer = dataplane::frames::gre_packet(SITE, TUNNEL_LOCAL, key, &r.packet(PAYLOAD));
    let frame = frame_in(&outer);
    let mut a = r.action(LO);
    a.decap_len = if key.is_some() { 28 } else { 24 };
    let k = r.key().in_gre(SITE, TUNNEL_LOCAL, key);
    forwards(
        &mut o,
        &k,
        &a,
        &frame,
        &frame_out(&r.expected(PAYLOAD), false),
    );
}

#[test]
fn gre_decap_and_rewrite_without_key() {
    gre_decap_case(None);
}

#[test]
fn gre_decap_and_rewrite_with_key() {
    gre_decap_case(Some(0xdead_beef));
}

/// Rewritten, then encapsulated in GRE towards the site.
fn gre_encap_case(key: Option<u32>) {
    let Some(mut o) = load() else { return };
    let r = Rewrite {
        proto: proto::UDP,
        echo_request: true,
        src: BACKEND,
        dst: LOCAL,
        sport: 53,
        dport: 61002,
        ttl: 64,
        new_src: BACKEND,
        new_dst: Ipv4Addr::new(198, 18, 100, 5),
        new_sport: 53,
        new_dport: 5555,
    };
    let frame = frame_in(&r.packet(PAYLOAD));
    let mut a = r.action(LO);
    a.encap = 1;
    (a.outer, a.encap_len) = gre_template(TUNNEL_LOCAL, SITE, key);
    let want = frame_out(
        &encapsulated(TUNNEL_LOCAL, SITE, Some(key), &r.expected(PAYLOAD)),
        false,
    );
    forwards(&mut o, &r.key(), &a, &frame, &want);
}

#[test]
fn rewrite_and_gre_encap_without_key() {
    gre_encap_case(None);
}

#[test]
fn rewrite_and_gre_encap_with_key() {
    gre_encap_case(Some(7));
}

#[test]
fn gre_in_gre_out_with_another_key() {
    // A flow between two sites: decapsulated, rewritten, encapsulated again.
    let Some(mut o) = load() else { return };
    let r = nat_to_backend(proto::TCP);
    let outer = dataplane::frames::gre_packet(SITE, TUNNEL_LOCAL, None, &r.packet(PAYLOAD));
    let frame = frame_in(&outer);
    let other_site = Ipv4Addr::new(198, 19, 0, 3);
    let mut a = r.action(LO);
    a.decap_len = 24;
    a.encap = 1;
    (a.outer, a.encap_len) = gre_template(TUNNEL_LOCAL, other_site, Some(42));
    let want = frame_out(
        &encapsulated(
            TUNNEL_LOCAL,
            other_site,
            Some(Some(42)),
            &r.expected(PAYLOAD),
        ),
        false,
    );
    let k = r.key().in_gre(SITE, TUNNEL_LOCAL, None);
    forwards(&mut o, &k, &a, &frame, &want);
}

#[test]
fn ipip_encap_for_tunnel_mode_dsr() {
    // The VIP stays the destination; the packet travels to the backend in IPIP, its TOS
    // copied to the outer header.
    let Some(mut o) = load() else { return };
    let r = Rewrite {
        new_dst: VIP,
        new_dport: 80,
        ..nat_to_backend(proto::TCP)
    };
    let tos = |ip: Vec<u8>| edited(ip, |p| p.set_dscp_ecn(0xb8));
    let frame = frame_in(&tos(r.packet(PAYLOAD)));
    let mut a = r.action(LO);
    a.encap = 2;
    (a.outer, a.encap_len) = ipip_template(LOCAL, BACKEND);
    let want = frame_out(
        &encapsulated(LOCAL, BACKEND, None, &tos(r.expected(PAYLOAD))),
        false,
    );
    assert_eq!(want[15], 0xb8, "outer TOS copied");
    forwards(&mut o, &r.key(), &a, &frame, &want);
}

#[test]
fn counters_accumulate_and_last_seen_advances() {
    let Some(mut o) = load() else { return };
    let r = nat_to_backend(proto::TCP);
    let key = r.key().bytes();
    let mut a = r.action(LO);
    // An entry replaced by the worker keeps what it carries.
    a.packets = 10;
    a.bytes = 1000;
    o.insert(&key, &a.bytes()).unwrap();
    let frame = frame_in(&r.packet(PAYLOAD));
    let mut last = 0;
    for n in 1..=3u64 {
        assert_eq!(o.test_run(&frame, LO).unwrap().retval, action::TX);
        let c = EntryCounters::of(&o.lookup(&key).unwrap().unwrap());
        assert_eq!(c.packets, 10 + n);
        assert_eq!(c.bytes, 1000 + n * frame.len() as u64);
        assert!(c.last_seen_ns > last, "last_seen moves forward");
        last = c.last_seen_ns;
    }
    // Not moved by what does not forward.
    let syn = frame_in(&tcp(CLIENT, 40000, VIP, 80, 0x02));
    assert_eq!(o.test_run(&syn, LO).unwrap().retval, action::PASS);
    let c = EntryCounters::of(&o.lookup(&key).unwrap().unwrap());
    assert_eq!((c.packets, c.last_seen_ns), (13, last));
    // Removal: the next packet is the worker's.
    o.remove(&key).unwrap();
    o.remove(&key).unwrap();
    assert_eq!(o.lookup(&key).unwrap(), None);
    assert_eq!(o.test_run(&frame, LO).unwrap().retval, action::PASS);
}

#[test]
fn udp_checksum_that_comes_out_zero_is_sent_as_all_ones() {
    // RFC 768: a computed zero is sent as 0xffff (zero means "none"). Choose the payload's
    // last word so that the translated datagram sums to exactly 0xffff.
    use dataplane::wire::checksum::{fold, pseudo_header_v4, sum};
    let Some(mut o) = load() else { return };
    let r = nat_to_backend(proto::UDP);
    let mut payload = b"zero-sum".to_vec();
    let translated = r.expected(&payload);
    let mut udp = translated[20..].to_vec();
    udp[6..8].copy_from_slice(&[0, 0]);
    let s = pseudo_header_v4(r.new_src, r.new_dst, proto::UDP, udp.len() as u16) + sum(&udp);
    let w = !fold(s - u64::from(u16::from_be_bytes([payload[6], payload[7]])));
    payload[6..8].copy_from_slice(&w.to_be_bytes());
    let want_ip = r.expected(&payload);
    assert_eq!(&want_ip[26..28], &[0xff, 0xff], "the case is the one meant");
    let frame = frame_in(&r.packet(&payload));
    let mut want = frame_out(&want_ip, false);
    want.resize(frame.len(), 0);
    forwards(&mut o, &r.key(), &r.action(LO), &frame, &want);
}

#[test]
fn bytes_behind_the_packet_stay_in_a_plain_frame_and_go_with_a_tunnel() {
    // A frame longer than Ethernet's padding explains (a trailer some link added): the
    // rewrite in place keeps it, as the worker's does; a new framing ends with the packet.
    let Some(mut o) = load() else { return };
    let r = nat_to_backend(proto::TCP);
    let trailer = [0xee; 40];
    let mut frame = frame_in(&r.packet(PAYLOAD));
    frame.extend_from_slice(&trailer);
    let mut want = frame_out(&r.expected(PAYLOAD), false);
    want.extend_from_slice(&trailer);
    forwards(&mut o, &r.key(), &r.action(LO), &frame, &want);

    let Some(mut o) = load() else { return };
    let mut frame = frame_in(&dataplane::frames::gre_packet(
        SITE,
        TUNNEL_LOCAL,
        None,
        &r.packet(PAYLOAD),
    ));
    frame.extend_from_slice(&trailer);
    let mut a = r.action(LO);
    a.decap_len = 24;
    let k = r.key().in_gre(SITE, TUNNEL_LOCAL, None);
    forwards(
        &mut o,
        &k,
        &a,
        &frame,
        &frame_out(&r.expected(PAYLOAD), false),
    );
}

#[test]
fn a_padded_frame_loses_its_padding_when_encapsulated() {
    // An ICMP echo without data is 28 bytes of IPv4, padded to a 60-byte frame; the padding
    // must not end up inside the IPIP packet.
    let Some(mut o) = load() else { return };
    let r = Rewrite {
        proto: proto::ICMP,
        echo_request: true,
        src: CLIENT,
        dst: VIP,
        sport: 7,
        dport: 0,
        ttl: 64,
        new_src: CLIENT,
        new_dst: BACKEND,
        new_sport: 7,
        new_dport: 0,
    };
    let frame = frame_in(&r.packet(b""));
    assert_eq!(frame.len(), 60, "padded");
    let mut a = r.action(LO);
    a.encap = 2;
    (a.outer, a.encap_len) = ipip_template(LOCAL, BACKEND);
    let want = frame_out(&encapsulated(LOCAL, BACKEND, None, &r.expected(b"")), false);
    assert_eq!(want.len(), 14 + 20 + 28);
    forwards(&mut o, &r.key(), &a, &frame, &want);
}
