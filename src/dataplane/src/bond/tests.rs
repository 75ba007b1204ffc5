use std::net::Ipv4Addr;

use super::*;

fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, frag: u16) -> Vec<u8> {
    use crate::frames::{ethernet, udp_datagram, L2};
    use crate::wire::ethernet::MacAddr;
    use std::net::SocketAddrV4;
    let mut ip = udp_datagram(
        SocketAddrV4::new(src.into(), sport),
        SocketAddrV4::new(dst.into(), dport),
        b"",
    );
    crate::wire::Ipv4Packet::new_unchecked(&mut ip[..]).set_flags_and_offset(false, false, frag);
    let l2 = L2 {
        src: MacAddr([2, 0, 0, 0, 0, 2]),
        dst: MacAddr([2, 0, 0, 0, 0, 1]),
    };
    ethernet(l2, &ip)
}

#[test]
fn fields_of_udp_reads_addresses_and_ports() {
    let f = fields_of(&udp_frame([198, 18, 0, 1], [198, 18, 1, 1], 1234, 80, 0));
    assert_eq!(f.src, u32::from(Ipv4Addr::new(198, 18, 0, 1)));
    assert_eq!(f.dst, u32::from(Ipv4Addr::new(198, 18, 1, 1)));
    assert_eq!(f.proto, 17);
    assert_eq!(f.ports, Some((1234, 80)));
    assert_eq!(f.dst_mac, [2, 0, 0, 0, 0, 1]);
}

#[test]
fn a_later_fragment_has_no_ports() {
    // Offset 185 (1480 bytes): the bytes where ports would be are payload.
    let f = fields_of(&udp_frame([198, 18, 0, 1], [198, 18, 1, 1], 1234, 80, 185));
    assert_eq!(f.ports, None);
    // So every fragment of a datagram hashes alike under l34 (first has ports: MF only, no
    // offset, still a first fragment, so it keeps them: Linux does the same).
}

#[test]
fn short_and_foreign_frames_hash_without_panicking() {
    for len in 0..80 {
        let f = vec![0xffu8; len];
        let _ = frame_hash(&f, XmitHash::L34);
        let _ = frame_hash(&f, XmitHash::L23);
        let _ = frame_hash(&f, XmitHash::L2);
    }
    let arp = gratuitous_arp([2, 0, 0, 0, 0, 1], Ipv4Addr::new(198, 18, 0, 1));
    assert_eq!(fields_of(&arp).proto, 0);
}

#[test]
fn l34_separates_flows_that_l23_keeps_together() {
    let frame = |p: u16| udp_frame([198, 18, 0, 1], [198, 18, 1, 1], 1000 + p, 80, 0);
    let members = 2;
    let l34: std::collections::BTreeSet<u32> = (0..64u16)
        .map(|p| frame_hash(&frame(p), XmitHash::L34) % members)
        .collect();
    assert_eq!(l34.len(), 2, "64 ports of one host pair use both members");
    let l23: std::collections::BTreeSet<u32> = (0..64u16)
        .map(|p| frame_hash(&frame(p), XmitHash::L23))
        .collect();
    assert_eq!(l23.len(), 1, "l23 ignores ports");
}

#[test]
fn hashes_spread_evenly() {
    let d = Distributor::new(2, 0b11);
    let mut n = [0u32; 2];
    for p in 0..10_000u16 {
        let f = udp_frame(
            [198, 18, (p >> 8) as u8, p as u8],
            [198, 18, 1, 1],
            p,
            80,
            0,
        );
        n[d.pick(frame_hash(&f, XmitHash::L34)).unwrap()] += 1;
    }
    assert!(n[0] > 4_700 && n[1] > 4_700, "{n:?}");
}

#[test]
fn only_the_missing_members_flows_move() {
    let all = Distributor::new(4, 0b1111);
    let without_2 = Distributor::new(4, 0b1011);
    let mut moved_to = [0u32; 4];
    for h in (0..40_000u32).map(|i| i.wrapping_mul(0x9e37_79b9)) {
        let before = all.pick(h).unwrap();
        let after = without_2.pick(h).unwrap();
        if before != 2 {
            assert_eq!(before, after, "a flow on a surviving member moved");
        } else {
            assert_ne!(after, 2);
            moved_to[after] += 1;
        }
        // And they come back when it returns.
        assert_eq!(all.pick(h), Some(before));
    }
    // Member 2's flows spread over the three others.
    for m in [0, 1, 3] {
        assert!(moved_to[m] > 2_500, "{moved_to:?}");
    }
}

#[test]
fn no_distributing_member_picks_none() {
    assert_eq!(Distributor::new(2, 0).pick(7), None);
    assert_eq!(Distributor::new(0, 0).pick(7), None);
    // Bits beyond the configured members are ignored.
    assert_eq!(Distributor::new(2, 0b100).pick(7), None);
    assert_eq!(Distributor::new(1, 1).pick(u32::MAX), Some(0));
}

#[test]
fn active_backup_prefers_primary_then_keeps_current() {
    assert_eq!(choose_active(None, None, 0b11), Some(0));
    assert_eq!(
        choose_active(Some(1), None, 0b11),
        Some(1),
        "no needless failback"
    );
    assert_eq!(
        choose_active(Some(1), Some(0), 0b11),
        Some(0),
        "primary returns"
    );
    assert_eq!(choose_active(Some(0), Some(0), 0b10), Some(1));
    assert_eq!(choose_active(Some(0), None, 0), None);
    assert_eq!(choose_active(None, Some(5), 0b100), Some(2));
}

#[test]
fn an_offloaded_rule_hashes_as_the_frames_it_sends() {
    use crate::wire::offload::{ActionRepr, Encap, KeyRepr, Tunnel, OUTER_MAX};
    let key = KeyRepr {
        src: Ipv4Addr::new(198, 18, 9, 9),
        dst: Ipv4Addr::new(198, 18, 0, 10),
        src_port: 40000,
        dst_port: 80,
        proto: 17,
        tunnel: Tunnel::Plain,
    };
    let mut f = udp_frame([198, 18, 0, 1], [198, 18, 1, 1], 1234, 8080, 0);
    let action = ActionRepr {
        src: Ipv4Addr::new(198, 18, 0, 1),
        dst: Ipv4Addr::new(198, 18, 1, 1),
        src_port: 1234,
        dst_port: 8080,
        ip_delta: 0,
        l4_delta: 0,
        dst_mac: [2, 0, 0, 0, 0, 1],
        src_mac: [2, 0, 0, 0, 0, 2],
        ifindex: 0,
        max_len: 1500,
        decap_len: 0,
        encap: Encap::None,
        outer: [0; OUTER_MAX],
        outer_len: 0,
    };
    for policy in [XmitHash::L2, XmitHash::L23, XmitHash::L34] {
        assert_eq!(
            hash(&rule_fields(&key.emit(), &action.emit()), policy),
            frame_hash(&f, policy),
            "{policy:?}"
        );
    }
    // Encapsulated: the outer header is what leaves.
    let mut gre = action;
    gre.encap = Encap::Ipip;
    let hdr = crate::frames::ipv4_packet(
        Ipv4Addr::new(198, 18, 0, 1),
        Ipv4Addr::new(198, 18, 1, 1),
        4,
        &[],
    );
    gre.outer[..hdr.len()].copy_from_slice(&hdr);
    let mut eth = crate::wire::EthernetFrame::new_unchecked(&mut f[..]);
    crate::wire::Ipv4Packet::new_unchecked(eth.payload_mut()).set_protocol(4);
    assert_eq!(
        hash(&rule_fields(&key.emit(), &gre.emit()), XmitHash::L34),
        frame_hash(&f, XmitHash::L34)
    );
}
