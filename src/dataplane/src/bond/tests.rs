use super::*;
use crate::wire::checksum;

fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, frag: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[20..22].copy_from_slice(&frag.to_be_bytes());
    f[23] = 17;
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&dst);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f
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
    let mut arp = vec![0u8; 42];
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(fields_of(&arp).proto, 0);
}

#[test]
fn l34_separates_flows_that_l23_keeps_together() {
    let a = udp_frame([198, 18, 0, 1], [198, 18, 1, 1], 1000, 80, 0);
    let members = 2;
    let l34: std::collections::BTreeSet<u32> = (0..64u16)
        .map(|p| {
            let mut f = a.clone();
            f[34..36].copy_from_slice(&(1000 + p).to_be_bytes());
            frame_hash(&f, XmitHash::L34) % members
        })
        .collect();
    assert_eq!(l34.len(), 2, "64 ports of one host pair use both members");
    let l23: std::collections::BTreeSet<u32> = (0..64u16)
        .map(|p| {
            let mut f = a.clone();
            f[34..36].copy_from_slice(&(1000 + p).to_be_bytes());
            frame_hash(&f, XmitHash::L23)
        })
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
fn gratuitous_arp_is_an_announcement() {
    let mac = [2, 0, 0x5e, 0x10, 0, 1];
    let f = gratuitous_arp(mac, Ipv4Addr::new(198, 18, 0, 2));
    let want: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0x5e, 0x10, 0, 1, 0x08, 0x06, // Ethernet
        0, 1, 8, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
        2, 0, 0x5e, 0x10, 0, 1, 198, 18, 0, 2, // sender
        0, 0, 0, 0, 0, 0, 198, 18, 0, 2, // target
    ];
    assert_eq!(&f[..42], &want);
    assert!(f[42..].iter().all(|&b| b == 0));
    let p = arp_request(mac, Ipv4Addr::UNSPECIFIED, Ipv4Addr::new(198, 18, 0, 1));
    assert_eq!(&p[28..32], &[0, 0, 0, 0]);
    assert_eq!(&p[38..42], &[198, 18, 0, 1]);
    assert!(
        !is_arp_from(&p, Ipv4Addr::new(198, 18, 0, 1)),
        "a request is not a reply"
    );
    let mut reply = p;
    reply[21] = 2;
    reply[28..32].copy_from_slice(&[198, 18, 0, 1]);
    assert!(is_arp_from(&reply, Ipv4Addr::new(198, 18, 0, 1)));
    assert!(!is_arp_from(&reply, Ipv4Addr::new(198, 18, 0, 9)));
}

#[test]
fn unsolicited_na_checksums_and_layout() {
    let mac = [2, 0, 0x5e, 0x10, 0, 1];
    let ip: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let f = unsolicited_na(mac, ip);
    assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(f[14 + 7], 255, "hop limit 255 or receivers drop it");
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let m = &f[54..];
    assert_eq!(m[0], 136);
    assert_eq!(m[4], 0x20, "override, not solicited, not router");
    // A receiver's check: the sum over pseudo-header and message folds to all ones.
    let acc = checksum::pseudo_header_v6(ip, all_nodes, 58, m.len() as u32) + checksum::sum(m);
    assert_eq!(checksum::fold(acc), 0xffff);
    assert_eq!(&m[26..32], &mac);
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
    gre.outer[9] = 4;
    gre.outer[12..16].copy_from_slice(&[198, 18, 0, 1]);
    gre.outer[16..20].copy_from_slice(&[198, 18, 1, 1]);
    f[23] = 4;
    assert_eq!(
        hash(&rule_fields(&key.emit(), &gre.emit()), XmitHash::L34),
        frame_hash(&f, XmitHash::L34)
    );
}
