//! Tunnel mode over IPv6 (RFC 2473): the client's packets wrapped in IPv6 to the backend,
//! one-way flows, Packet Too Big for what would not fit once wrapped, no source refused.

use std::net::Ipv6Addr;

use super::{Pipeline, PipelineConfig, Verdict};
use crate::counters::DropReason;
use crate::snapshot::{Direct, Snapshot, Spec};
use crate::testkit::l2;
use crate::testkit::v6::*;
use crate::wire::tcp::flags::{ACK, SYN};
use crate::wire::{icmpv6, proto, EthernetFrame, Icmpv6Packet, Ipv6Packet};

const VIP_TUN: &str = "2001:db8:1::83";
const SOURCE: &str = "2001:db8:2::1";

fn snap(source: Option<Ipv6Addr>) -> Snapshot {
    let mut s6 = spec6(1);
    let mut t = s6.services[0].clone();
    t.name = "tun6".into();
    t.vip = a6(VIP_TUN).into();
    t.direct = Some(Direct::Tunnel { source });
    s6.services.push(t);
    let spec = Spec {
        interfaces: crate::testkit::two_interfaces("eth0", "eth1"),
        workers: 1,
        hash_seed: 7,
        ..Spec::default()
    };
    Snapshot::build_with_v6(&spec, &s6, None).unwrap()
}

fn pipe() -> Pipeline {
    Pipeline::new(PipelineConfig {
        conntrack_capacity: 64,
        conntrack_v6_capacity: 64,
        ..PipelineConfig::default()
    })
}

fn run(p: &mut Pipeline, snap: &Snapshot, f: &mut Vec<u8>) -> Verdict {
    let len = f.len();
    f.resize(len + 1500, 0);
    let (v, n) = p.process_frame(snap, 0, f, len);
    f.truncate(if matches!(v, Verdict::Tx { .. }) {
        n
    } else {
        len
    });
    v
}

#[test]
fn wrapped_in_ipv6_to_the_backend_with_the_vip_kept_inside() {
    let s = snap(Some(a6(SOURCE)));
    let mut p = pipe();
    for (flags, body_hop) in [(SYN, 63), (ACK, 63)] {
        let inner = tcp6(a6(CLIENT), 40000, a6(VIP_TUN), 80, flags);
        let mut f = eth6(l2(1, 0xa0), &inner);
        assert_eq!(run(&mut p, &s, &mut f), Verdict::Tx { iface: 1 });
        let outer = ip6_of(&f);
        assert_eq!(
            (
                outer.src(),
                outer.dst(),
                outer.next_header(),
                outer.hop_limit()
            ),
            (a6(SOURCE), a6(BACKEND), proto::IPV6, 64)
        );
        assert_ne!(outer.flow_label(), 0);
        let inside = Ipv6Packet::new_checked(outer.payload()).unwrap();
        assert_eq!(usize::from(outer.payload_len()), inner.len());
        assert_eq!((inside.src(), inside.dst()), (a6(CLIENT), a6(VIP_TUN)));
        assert_eq!(inside.hop_limit(), body_hop);
        assert_eq!(
            inside.payload(),
            Ipv6Packet::new_unchecked(&inner[..]).payload()
        );
        assert_eq!(
            EthernetFrame::new_checked(&f[..]).unwrap().dst(),
            crate::testkit::mac(0x10)
        );
    }
    // One flow, one way: the backend answers the client itself.
    assert_eq!(p.ct6.used(), 1);
}

#[test]
fn too_big_once_wrapped_gets_packet_too_big_from_the_vip() {
    let s = snap(Some(a6(SOURCE)));
    let mut p = pipe();
    let mut syn = eth6(l2(1, 0xa0), &tcp6(a6(CLIENT), 40001, a6(VIP_TUN), 80, SYN));
    assert_eq!(run(&mut p, &s, &mut syn), Verdict::Tx { iface: 1 });
    // 1,480 bytes: fits the 1,500-byte link alone, not with the 40 of the outer header.
    let mut seg = tcp6(a6(CLIENT), 40001, a6(VIP_TUN), 80, ACK);
    seg.extend_from_slice(&[0u8; 1420]);
    assert_eq!(seg.len(), 1480);
    let plen = (seg.len() - 40) as u16;
    Ipv6Packet::new_unchecked(&mut seg[..]).set_payload_len(plen);
    let mut f = eth6(l2(1, 0xa0), &seg);
    assert_eq!(run(&mut p, &s, &mut f), Verdict::Tx { iface: 0 });
    let err = ip6_of(&f);
    assert_eq!((err.src(), err.dst()), (a6(VIP_TUN), a6(CLIENT)));
    let m = Icmpv6Packet::new_checked(err.payload()).unwrap();
    assert_eq!(m.msg_type(), icmpv6::kind::PACKET_TOO_BIG);
    assert_eq!(m.mtu(), 1460);
    assert!(checksum6_ok(&f));
}

#[test]
fn no_outer_source_is_refused() {
    let s = snap(None);
    let mut p = pipe();
    let mut f = eth6(l2(1, 0xa0), &tcp6(a6(CLIENT), 40000, a6(VIP_TUN), 80, SYN));
    assert_eq!(run(&mut p, &s, &mut f), Verdict::Drop(DropReason::NoSource));
}
