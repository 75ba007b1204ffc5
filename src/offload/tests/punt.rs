//! Everything the program must not forward goes to the worker untouched: with no steering
//! program in `ol_next` the tail call falls through to XDP_PASS, the frame is unchanged, the
//! reason is counted in `ol_stats` and the entry (when there is one) is not.

mod common;

use common::*;
use dataplane::frames;
use dataplane::wire::{proto, IcmpRepr};
use xdp_offload::{action, EntryCounters, Offload, Stat};

/// The established TCP flow every case is a variation of, installed as an entry.
fn flow() -> Rewrite {
    Rewrite {
        proto: proto::TCP,
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

fn installed(a: Action) -> Option<Offload> {
    let mut o = load()?;
    o.insert(&flow().key().bytes(), &a.bytes()).expect("insert");
    Some(o)
}

/// Runs `frame` and checks that it went to the worker for `reason`, untouched.
fn punts(o: &Offload, frame: &[u8], reason: Stat) {
    let before = o.stats().expect("stats");
    let run = o.test_run(frame, LO).expect("test run");
    assert_eq!(run.retval, action::PASS, "{reason:?}: not handed on");
    assert_eq!(run.frame, frame, "{reason:?}: the frame was changed");
    let after = o.stats().expect("stats");
    for stat in Stat::ALL {
        let i = stat as usize;
        let want = before[i] + u64::from(stat == reason);
        assert_eq!(
            after[i], want,
            "{reason:?}: stat {stat:?} {before:?} -> {after:?}"
        );
    }
    if let Some(v) = o.lookup(&flow().key().bytes()).expect("lookup") {
        let c = EntryCounters::of(&v);
        assert_eq!(
            (c.packets, c.bytes, c.last_seen_ns),
            (0, 0, 0),
            "{reason:?}: counted"
        );
    }
}

fn packet() -> Vec<u8> {
    flow().packet(b"payload")
}

fn with_entry() -> Option<Offload> {
    installed(flow().action(LO))
}

#[test]
fn not_ipv4() {
    let Some(o) = with_entry() else { return };
    let mut f = frame_in(&packet());
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    punts(&o, &f, Stat::NotParsed);
    punts(&o, &f[..20], Stat::NotParsed);
}

#[test]
fn ipv4_options() {
    let Some(o) = with_entry() else { return };
    let p = packet();
    let mut ip = p[..20].to_vec();
    ip.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
    ip.extend_from_slice(&p[20..]);
    let ip = edited(ip, |h| {
        h.set_header_len(24);
        h.set_total_len(p.len() as u16 + 4);
    });
    punts(&o, &frame_in(&ip), Stat::NotParsed);
}

#[test]
fn bad_header_checksum() {
    let Some(o) = with_entry() else { return };
    let mut ip = packet();
    ip[10] ^= 0x01;
    punts(&o, &frame_in(&ip), Stat::NotParsed);
}

#[test]
fn fragments() {
    let Some(o) = with_entry() else { return };
    let first = edited(packet(), |h| h.set_flags_and_offset(false, true, 0));
    punts(&o, &frame_in(&first), Stat::NotParsed);
    let later = edited(packet(), |h| h.set_flags_and_offset(false, false, 185));
    punts(&o, &frame_in(&later), Stat::NotParsed);
}

#[test]
fn total_length_beyond_the_frame() {
    let Some(o) = with_entry() else { return };
    let p = packet();
    let long = edited(p.clone(), |h| h.set_total_len(p.len() as u16 + 100));
    punts(&o, &frame_in(&long), Stat::NotParsed);
    // Less than a header.
    let short = edited(p, |h| h.set_total_len(19));
    punts(&o, &frame_in(&short), Stat::NotParsed);
}

#[test]
fn truncated_transport_headers() {
    let Some(o) = with_entry() else { return };
    for (protocol, len) in [(proto::TCP, 19), (proto::UDP, 7), (proto::ICMP, 7)] {
        let ip = frames::ipv4_packet(CLIENT, VIP, protocol, &vec![0u8; len]);
        punts(&o, &frame_in(&ip), Stat::NotParsed);
    }
}

#[test]
fn other_protocols_and_icmp_types() {
    let Some(o) = with_entry() else { return };
    let sctp = frames::ipv4_packet(CLIENT, VIP, 132, &[0u8; 16]);
    punts(&o, &frame_in(&sctp), Stat::NotParsed);
    let unreachable = frames::icmp_error(VIP, CLIENT, 3, 3, &packet(), 28);
    punts(&o, &frame_in(&unreachable), Stat::NotParsed);
    let other = icmp(
        CLIENT,
        VIP,
        &IcmpRepr::Other {
            msg_type: 13,
            code: 0,
            rest_of_header: 0,
        },
    );
    punts(&o, &frame_in(&other), Stat::NotParsed);
}

#[test]
fn tcp_syn_fin_rst() {
    let Some(o) = with_entry() else { return };
    for flags in [0x02, 0x12, 0x11, 0x01, 0x04, 0x14] {
        let f = frame_in(&tcp(CLIENT, 40000, VIP, 80, flags));
        punts(&o, &f, Stat::TcpFlags);
    }
}

#[test]
fn no_entry() {
    let Some(o) = with_entry() else { return };
    let other_port = tcp(CLIENT, 40001, VIP, 80, ACK_PSH);
    punts(&o, &frame_in(&other_port), Stat::Miss);
    // The same flow in a tunnel is another flow.
    let gre = frames::gre_packet(SITE, TUNNEL_LOCAL, None, &packet());
    punts(&o, &frame_in(&gre), Stat::Miss);
}

#[test]
fn ttl_would_expire() {
    let Some(o) = with_entry() else { return };
    for ttl in [1, 0] {
        punts(&o, &frame_in(&with_ttl(packet(), ttl)), Stat::Ttl);
    }
}

#[test]
fn longer_than_the_rule_allows() {
    let p = packet();
    let mut a = flow().action(LO);
    a.max_len = p.len() as u16 - 1;
    let Some(o) = installed(a) else { return };
    punts(&o, &frame_in(&p), Stat::TooLong);
}

#[test]
fn no_df_into_a_tunnel() {
    let mut a = flow().action(LO);
    a.encap = 2;
    (a.outer, a.encap_len) = ipip_template(LOCAL, BACKEND);
    let Some(o) = installed(a) else { return };
    let no_df = edited(packet(), |h| h.set_flags_and_offset(false, false, 0));
    punts(&o, &frame_in(&no_df), Stat::NotDf);
}

#[test]
fn entries_that_do_not_fit_the_packet() {
    let mut decap = flow().action(LO);
    decap.decap_len = 24;
    let mut gre_len = flow().action(LO);
    gre_len.encap = 1;
    (gre_len.outer, _) = gre_template(LOCAL, SITE, None);
    gre_len.encap_len = 20;
    let mut unknown = flow().action(LO);
    unknown.encap = 3;
    unknown.encap_len = 20;
    for a in [decap, gre_len, unknown] {
        let Some(o) = installed(a) else { return };
        punts(&o, &frame_in(&packet()), Stat::Miss);
    }
}

#[test]
fn egress_port_not_in_the_device_map() {
    let Some(o) = installed(flow().action(7)) else {
        return;
    };
    punts(&o, &frame_in(&packet()), Stat::Miss);
}

#[test]
fn unusable_gre() {
    let Some(o) = with_entry() else { return };
    let gre = |key: Option<u32>, inner: &[u8]| frames::gre_packet(SITE, TUNNEL_LOCAL, key, inner);
    let at_gre = 20; // GRE flags in the outer IPv4 packet
                     // Checksum present, routing present, sequence number present, version 1.
    for flags in [0x8000u16, 0x4000, 0x1000, 0x0001] {
        let mut p = gre(None, &packet());
        p[at_gre..at_gre + 2].copy_from_slice(&flags.to_be_bytes());
        punts(&o, &frame_in(&p), Stat::NotParsed);
    }
    // Not IPv4 inside.
    let mut p = gre(None, &packet());
    p[at_gre + 2..at_gre + 4].copy_from_slice(&0x86ddu16.to_be_bytes());
    punts(&o, &frame_in(&p), Stat::NotParsed);
    // Inner header checksum wrong.
    let mut inner = packet();
    inner[10] ^= 1;
    punts(&o, &frame_in(&gre(Some(1), &inner)), Stat::NotParsed);
    // Inner packet longer than the outer one carries.
    let p = packet();
    let inner = edited(p.clone(), |h| h.set_total_len(p.len() as u16 + 8));
    punts(&o, &frame_in(&gre(None, &inner)), Stat::NotParsed);
    // Truncated GRE header.
    let stub = frames::ipv4_packet(SITE, TUNNEL_LOCAL, proto::GRE, &[0x20, 0, 0x08, 0]);
    punts(&o, &frame_in(&stub), Stat::NotParsed);
}

/// A daemon that stopped renewing the deadline (killed: its program stays attached until the
/// next start sweeps it) has its rules ignored: the packet goes on to the steering program.
#[test]
fn rules_are_not_followed_past_the_daemons_deadline() {
    let Some(mut o) = with_entry() else { return };
    let f = frame_in(&packet());
    o.set_alive_until(1).unwrap();
    punts(&o, &f, Stat::Orphaned);
    o.set_alive_until(u64::MAX).unwrap();
    assert_eq!(o.test_run(&f, LO).unwrap().retval, action::TX);
}
