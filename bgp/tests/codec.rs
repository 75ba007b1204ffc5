//! Codec unit tests: hand-made vectors for what the captures do not cover
//! (IPv6, 2-octet AS, RFC 9072, RFC 7606 cases, AS_PATH helpers).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::adj_rib_out::{AdjRibOut, ExportPolicy};
use bgp::error::DecodeError;
use bgp::packet::aspath::{AsPath, AsSegment, SegmentType};
use bgp::packet::attributes::{flags, AttributeType, AttributeValue, Community, Rfc7606Action};
use bgp::packet::capabilities::Capability;
use bgp::packet::notification::{
    CeaseSubcode, ErrorCode, NotificationMessage, UpdateMessageSubcode as Sub,
};
use bgp::packet::open::{OpenMessage, OptionalParameter, AS_TRANS};
use bgp::packet::update::UpdateMessage;
use bgp::packet::{CodecContext, Message};
use bgp::{Family, Prefix, RouteAttributes};

const FOUR: CodecContext = CodecContext {
    four_octet_as: true,
};
const TWO: CodecContext = CodecContext {
    four_octet_as: false,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Wraps an UPDATE body (withdrawn len .. NLRI) in a header.
fn update_bytes(body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(body);
    m
}

/// An UPDATE with the given raw attributes and one NLRI 198.18.255.1/32.
fn update_with_attrs(attrs: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(&hex("20 c612ff01"));
    update_bytes(&body)
}

const GOOD: &str = "40 01 01 00  40 02 06 02 01 0000fde9  40 03 04 c6120102";

fn decode_update(bytes: &[u8], ctx: CodecContext) -> Result<UpdateMessage, DecodeError> {
    match Message::decode(bytes, ctx)?.0 {
        Message::Update(u) => Ok(u),
        m => panic!("{m:?}"),
    }
}

#[test]
fn ipv6_end_of_rib_is_an_empty_mp_unreach() {
    let eor = Message::Update(UpdateMessage::end_of_rib(Family::IPV6_UNICAST));
    let bytes = eor.encode(FOUR).unwrap();
    assert_eq!(
        bytes,
        hex("ffffffffffffffffffffffffffffffff 001d 02 0000 0006 800f03 000201")
    );
    let u = decode_update(&bytes, FOUR).unwrap();
    assert_eq!(u.as_end_of_rib(), Some(Family::IPV6_UNICAST));
    assert_eq!(
        Message::Update(UpdateMessage::end_of_rib(Family::IPV4_UNICAST))
            .encode(FOUR)
            .unwrap(),
        hex("ffffffffffffffffffffffffffffffff 0017 02 0000 0000")
    );
}

#[test]
fn two_octet_as_path_decodes_with_context() {
    let attrs = "40 01 01 00  40 02 04 02 01 5ba0  40 03 04 c6120102  c0 11 06 02 01 fa56ea01";
    let bytes = update_with_attrs(&hex(attrs));
    let u = decode_update(&bytes, TWO).unwrap();
    assert_eq!(
        u.attribute(AttributeType::AsPath),
        Some(&AttributeValue::AsPath(AsPath::sequence([AS_TRANS as u32])))
    );
    assert_eq!(
        u.attribute(AttributeType::As4Path),
        Some(&AttributeValue::As4Path(AsPath::sequence([4_200_000_001])))
    );
    assert_eq!(Message::Update(u).encode(TWO).unwrap(), bytes);
    // The same bytes on a 4-octet session: the AS_PATH is malformed
    // (treat-as-withdraw, RFC 7606 §7.2).
    let u = decode_update(&bytes, FOUR).unwrap();
    assert_eq!(
        u.rfc7606_verdict(true).treat_as_withdraw.unwrap().subcode,
        Sub::MalformedAsPath
    );
}

#[test]
fn as_path_prepend_and_sets() {
    let mut p = AsPath::sequence([65002, 65003]);
    p.prepend(65001, 2);
    assert_eq!(p, AsPath::sequence([65001, 65001, 65002, 65003]));
    assert_eq!(p.path_len(), 4);
    assert_eq!(p.to_string(), "65001 65001 65002 65003");
    let mut s = AsPath {
        segments: vec![AsSegment {
            kind: SegmentType::AsSet,
            asns: vec![1, 2],
        }],
    };
    assert_eq!(s.path_len(), 1);
    s.prepend(65001, 1);
    assert_eq!(s.segments.len(), 2);
    assert_eq!(s.to_string(), "65001 {1,2}");
    let mut long = AsPath::empty();
    long.prepend(7, 300);
    assert_eq!(long.segments.len(), 2);
    assert_eq!(long.path_len(), 300);
    assert!(!long.needs_as4());
    assert!(AsPath::sequence([4_200_000_000]).needs_as4());
}

#[test]
fn rfc7606_attribute_level_outcomes() {
    let cases: Vec<(String, Option<Sub>, bool)> = vec![
        // ORIGIN with a bad value → treat-as-withdraw
        (
            "40 01 01 09  40 02 00  40 03 04 c6120102".to_string(),
            Some(Sub::InvalidOriginAttribute),
            false,
        ),
        // NEXT_HOP length 5 → treat-as-withdraw
        (
            "40 01 01 00  40 02 00  40 03 05 c612010200".to_string(),
            Some(Sub::AttributeLengthError),
            false,
        ),
        // ORIGIN flagged optional → flags error, treat-as-withdraw
        (
            "c0 01 01 00  40 02 00  40 03 04 c6120102".to_string(),
            Some(Sub::AttributeFlagsError),
            false,
        ),
        // COMMUNITIES of 3 octets → treat-as-withdraw
        (
            format!("{GOOD} c0 08 03 010203"),
            Some(Sub::OptionalAttributeError),
            false,
        ),
        // LARGE_COMMUNITIES of 8 octets → treat-as-withdraw (RFC 8092)
        (
            format!("{GOOD} c0 20 08 0102030405060708"),
            Some(Sub::OptionalAttributeError),
            false,
        ),
        // AGGREGATOR of 5 octets → attribute discard
        (format!("{GOOD} c0 07 05 0102030405"), None, true),
        // ATOMIC_AGGREGATE with a value → attribute discard
        (format!("{GOOD} 40 06 01 00"), None, true),
        // AS4_PATH malformed → attribute discard (RFC 6793)
        (format!("{GOOD} c0 11 03 020100"), None, true),
        // Duplicate MED → later one discarded
        (
            format!("{GOOD} 80 04 04 00000001 80 04 04 00000002"),
            None,
            true,
        ),
        // Missing NEXT_HOP with IPv4 NLRI → treat-as-withdraw
        (
            "40 01 01 00  40 02 00".to_string(),
            Some(Sub::MissingWellKnownAttribute),
            false,
        ),
        // Unknown optional attribute → kept, fine
        (format!("{GOOD} e0 63 02 abcd"), None, false),
    ];
    for (attrs, withdraw, discard) in cases {
        let bytes = update_with_attrs(&hex(&attrs));
        let u = decode_update(&bytes, FOUR).unwrap_or_else(|e| panic!("{attrs}: {e}"));
        let v = u.rfc7606_verdict(true);
        assert_eq!(v.treat_as_withdraw.map(|e| e.subcode), withdraw, "{attrs}");
        assert_eq!(!v.discarded.is_empty(), discard, "{attrs}");
        assert_eq!(u.nlri.len(), 1);
        // Lossless even when malformed.
        assert_eq!(Message::Update(u).encode(FOUR).unwrap(), bytes, "{attrs}");
    }
}

#[test]
fn rfc7606_session_reset_cases() {
    let cases: Vec<(String, Sub)> = vec![
        // Unrecognised well-known attribute
        (
            format!("{GOOD} 40 63 00"),
            Sub::UnrecognizedWellKnownAttribute,
        ),
        // MP_REACH_NLRI twice
        (
            format!("{GOOD} 80 0e 05 0002 01 00 00  80 0e 05 0002 01 00 00"),
            Sub::MalformedAttributeList,
        ),
        // MP_REACH_NLRI whose prefix overruns
        (
            format!("{GOOD} 80 0e 07 0002 01 00 00 40 20"),
            Sub::OptionalAttributeError,
        ),
        // MP_UNREACH_NLRI shorter than AFI/SAFI
        (format!("{GOOD} 80 0f 02 0002"), Sub::OptionalAttributeError),
        // MP_REACH_NLRI flagged transitive
        (
            format!("{GOOD} c0 0e 05 0002 01 00 00"),
            Sub::AttributeFlagsError,
        ),
    ];
    for (attrs, sub) in cases {
        let err = decode_update(&update_with_attrs(&hex(&attrs)), FOUR).unwrap_err();
        let n = err.notification().unwrap();
        assert_eq!(n.code, ErrorCode::UpdateMessage(sub), "{attrs}");
    }
    // Withdrawn length beyond the message, and a bad NLRI prefix length.
    let n = decode_update(&update_bytes(&hex("0009 20c612ff01 0000")), FOUR)
        .unwrap_err()
        .notification()
        .unwrap();
    assert_eq!(
        n.code,
        ErrorCode::UpdateMessage(Sub::MalformedAttributeList)
    );
    let n = decode_update(&update_bytes(&hex("0000 0000 21c612ff0101")), FOUR)
        .unwrap_err()
        .notification()
        .unwrap();
    assert_eq!(n.code, ErrorCode::UpdateMessage(Sub::InvalidNetworkField));
}

#[test]
fn attribute_overrun_is_treat_as_withdraw_with_nlri_kept() {
    // Last attribute claims 9 octets but only 4 remain in the field.
    let attrs = format!("{GOOD} c0 08 09 00010002");
    let bytes = update_with_attrs(&hex(&attrs));
    let u = decode_update(&bytes, FOUR).unwrap();
    assert_eq!(u.attribute_tail, hex("c0 08 09 00010002"));
    assert_eq!(u.nlri, vec!["198.18.255.1/32".parse::<Prefix>().unwrap()]);
    assert_eq!(
        u.rfc7606_verdict(true).treat_as_withdraw.unwrap().subcode,
        Sub::MalformedAttributeList
    );
    assert_eq!(Message::Update(u).encode(FOUR).unwrap(), bytes);
}

#[test]
fn local_pref_from_ebgp_is_discarded() {
    let bytes = update_with_attrs(&hex(&format!("{GOOD} 40 05 04 00000064")));
    let u = decode_update(&bytes, FOUR).unwrap();
    assert_eq!(u.rfc7606_verdict(true).discarded, vec![3]);
    assert!(u.rfc7606_verdict(false).discarded.is_empty());
}

#[test]
fn mp_reach_ipv6_with_link_local_next_hop() {
    let attrs = "40 01 01 00  40 02 00  \
                 90 0e 0036 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 \
                 80 20010db8ffff00000000000000000001";
    let bytes = update_bytes(&{
        let a = hex(attrs);
        let mut b = vec![0, 0];
        b.extend_from_slice(&(a.len() as u16).to_be_bytes());
        b.extend_from_slice(&a);
        b
    });
    let u = decode_update(&bytes, FOUR).unwrap();
    let Some(AttributeValue::MpReachNlri(m)) = u.attribute(AttributeType::MpReachNlri) else {
        panic!()
    };
    assert_eq!(m.family, Family::IPV6_UNICAST);
    assert_eq!(
        m.next_hop,
        bgp::packet::attributes::MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some("fe80::1".parse().unwrap())
        }
    );
    assert_eq!(
        u.announced(),
        vec!["2001:db8:ffff::1/128".parse::<Prefix>().unwrap()]
    );
    assert!(u.rfc7606_verdict(true).treat_as_withdraw.is_none());
    assert_eq!(Message::Update(u).encode(FOUR).unwrap(), bytes);
}

#[test]
fn open_with_extended_optional_parameters_rfc9072() {
    // Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Length 7, then
    // Capabilities with a 2-octet length 4: 4-octet AS... (2 + 2 + 6 = wait)
    let body = "04 fde9 005a c0000202 ff ff 0009 02 0006 41 04 0000fde9";
    let mut m = vec![0xff; 16];
    let b = hex(body);
    m.extend_from_slice(&((19 + b.len()) as u16).to_be_bytes());
    m.push(1);
    m.extend_from_slice(&b);
    let (msg, _) = Message::decode(&m, FOUR).unwrap();
    let Message::Open(o) = &msg else { panic!() };
    assert!(o.extended_params);
    assert_eq!(o.four_octet_as(), Some(65001));
    assert_eq!(msg.encode(FOUR).unwrap(), m);
}

#[test]
fn open_builder_uses_as_trans_for_wide_as() {
    let o = OpenMessage::new(
        4_200_000_001,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![Capability::FourOctetAs(4_200_000_001)],
    );
    assert_eq!(o.my_as, AS_TRANS);
    assert_eq!(o.asn(), 4_200_000_001);
    // Several optional parameters, one capability each (FRR/Junos style).
    let multi = OpenMessage {
        params: vec![
            OptionalParameter::Capabilities(vec![Capability::Multiprotocol(Family::IPV6_UNICAST)]),
            OptionalParameter::Capabilities(vec![Capability::RouteRefresh]),
        ],
        ..o
    };
    assert_eq!(multi.families(), vec![Family::IPV6_UNICAST]);
    assert!(multi.supports_route_refresh());
}

#[test]
fn malformed_capability_value_is_kept_as_unknown() {
    // MP capability with 3 octets instead of 4.
    let body = "04 fde9 005a c0000202 07 02 05 01 03 000100";
    let mut m = vec![0xff; 16];
    let b = hex(body);
    m.extend_from_slice(&((19 + b.len()) as u16).to_be_bytes());
    m.push(1);
    m.extend_from_slice(&b);
    let (msg, _) = Message::decode(&m, FOUR).unwrap();
    let Message::Open(o) = &msg else { panic!() };
    assert_eq!(
        o.capabilities().next(),
        Some(&Capability::Unknown {
            code: 1,
            value: vec![0, 1, 0]
        })
    );
    assert_eq!(msg.encode(FOUR).unwrap(), m);
}

#[test]
fn notification_codes_and_shutdown_communication() {
    for code in 0..=9u8 {
        for sub in 0..=12u8 {
            let e = ErrorCode::from_raw(code, sub);
            assert_eq!(e.to_raw(), (code, sub));
        }
    }
    let n = NotificationMessage::cease(CeaseSubcode::AdministrativeShutdown, Some("VIP drained"));
    assert_eq!(n.data[0], 11);
    assert_eq!(n.shutdown_communication(), Some("VIP drained"));
    assert_eq!(
        n.to_string(),
        "6/2 Cease(AdministrativeShutdown) \"VIP drained\""
    );
    let bad = NotificationMessage::with_data(
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
        vec![5, 0xff],
    );
    assert_eq!(bad.shutdown_communication(), None);
    let other = NotificationMessage::cease(CeaseSubcode::PeerDeconfigured, Some("ignored"));
    assert!(other.data.is_empty());
}

#[test]
fn prefixes_parse_print_and_canonicalise() {
    let p: Prefix = "198.18.255.7/24".parse().unwrap();
    assert_eq!(p.to_string(), "198.18.255.0/24");
    assert_eq!(p.wire_len(), 4);
    assert!("198.18.0.0/33".parse::<Prefix>().is_err());
    let h = Prefix::host(IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(h.len(), 128);
    assert_eq!(h.family(), Family::IPV6_UNICAST);
}

fn policy(families: Vec<Family>) -> ExportPolicy {
    ExportPolicy {
        local_as: 65001,
        ebgp: true,
        four_octet_as: true,
        families,
        next_hop_v4: Some(Ipv4Addr::new(198, 18, 0, 1)),
        next_hop_v6: Some(("2001:db8::1".parse().unwrap(), None)),
        default_local_pref: 100,
    }
}

fn drain(rib: &mut AdjRibOut) -> Vec<UpdateMessage> {
    std::iter::from_fn(|| rib.next_update())
        .map(|u| u.update)
        .collect()
}

#[test]
fn rib_never_sends_an_empty_mp_unreach_as_a_withdraw() {
    let mut rib = AdjRibOut::new();
    rib.session_up(policy(vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]));
    let eors = drain(&mut rib);
    assert_eq!(eors.len(), 2);
    let v6: Prefix = "2001:db8:ffff::1/128".parse().unwrap();
    // Withdrawing something never announced sends nothing (exabgp#954).
    rib.set_route(v6, RouteAttributes::default());
    rib.remove_route(v6);
    assert!(drain(&mut rib).is_empty());
}

#[test]
fn rib_packs_ipv6_within_4096_octets() {
    let mut rib = AdjRibOut::new();
    for i in 0..1000u128 {
        let a = Ipv6Addr::from(0x2001_0db8_ffff_0000_0000_0000_0000_0000u128 + i);
        rib.set_route(Prefix::host(IpAddr::V6(a)), RouteAttributes::default());
    }
    rib.session_up(policy(vec![Family::IPV6_UNICAST]));
    let ups = drain(&mut rib);
    let mut total = 0;
    let announcements = &ups[..ups.len() - 1];
    for (i, u) in announcements.iter().enumerate() {
        let bytes = Message::Update(u.clone()).encode(FOUR).unwrap();
        assert!(bytes.len() <= 4096, "{}", bytes.len());
        if i + 1 < announcements.len() {
            assert!(bytes.len() > 4096 - 17, "not full: {}", bytes.len());
        }
        total += u.announced().len();
    }
    assert_eq!(total, 1000);
    assert_eq!(
        ups.last().unwrap().as_end_of_rib(),
        Some(Family::IPV6_UNICAST)
    );
    // Withdraw all: packed too, never empty.
    rib.set_routes(std::iter::empty());
    let w = drain(&mut rib);
    assert_eq!(
        w.iter().map(|u| u.withdrawn_all().len()).sum::<usize>(),
        1000
    );
    assert!(w.len() <= 5);
    assert_eq!(rib.advertised_count(), 0);
}

#[test]
fn rib_graceful_shutdown_does_not_duplicate_community_and_groups_by_attributes() {
    let mut rib = AdjRibOut::new();
    let a: Prefix = "198.18.255.1/32".parse().unwrap();
    let b: Prefix = "198.18.255.2/32".parse().unwrap();
    let c: Prefix = "198.18.255.3/32".parse().unwrap();
    rib.set_route(
        a,
        RouteAttributes {
            communities: vec![Community::GRACEFUL_SHUTDOWN],
            ..Default::default()
        },
    );
    rib.set_route(b, RouteAttributes::default());
    rib.set_route(
        c,
        RouteAttributes {
            med: Some(5),
            ..Default::default()
        },
    );
    rib.set_graceful_shutdown(true);
    rib.session_up(policy(vec![Family::IPV4_UNICAST]));
    let ups = drain(&mut rib);
    // a and b share attributes once GSHUT is added; c differs; then EoR.
    assert_eq!(ups.len(), 3, "{ups:?}");
    assert_eq!(ups[0].nlri, vec![a, b]);
    assert_eq!(
        ups[0].attribute(AttributeType::Communities),
        Some(&AttributeValue::Communities(vec![
            Community::GRACEFUL_SHUTDOWN
        ]))
    );
    assert_eq!(ups[1].nlri, vec![c]);
    // Attributes are in ascending type order (RFC 4271 §5).
    let types: Vec<u8> = ups[1].attributes.iter().map(|a| a.type_code()).collect();
    let mut sorted = types.clone();
    sorted.sort();
    assert_eq!(types, sorted);
    let _ = (flags::OPTIONAL, Rfc7606Action::TreatAsWithdraw);
}

#[test]
fn unrecognized_attributes_propagate_per_rfc4271_section_5() {
    use bgp::packet::attributes::PathAttribute;
    let transitive = PathAttribute {
        flags: flags::OPTIONAL_TRANSITIVE,
        value: AttributeValue::Unknown {
            type_code: 99,
            data: vec![1],
        },
    };
    let p = transitive.propagate_unrecognized().unwrap();
    assert_eq!(p.flags, flags::OPTIONAL_TRANSITIVE | flags::PARTIAL);
    let non_transitive = PathAttribute {
        flags: flags::OPTIONAL_NON_TRANSITIVE,
        value: AttributeValue::Unknown {
            type_code: 99,
            data: vec![1],
        },
    };
    assert_eq!(non_transitive.propagate_unrecognized(), None);
    let med = PathAttribute::new(AttributeValue::MultiExitDisc(1));
    assert_eq!(med.propagate_unrecognized(), Some(med.clone()));
    // A received unknown transitive attribute keeps its Partial bit on
    // re-encoding.
    let bytes = update_with_attrs(&hex(&format!("{GOOD} e0 63 02 abcd")));
    let u = decode_update(&bytes, FOUR).unwrap();
    assert_eq!(u.attributes[3].flags, 0xe0);
}
