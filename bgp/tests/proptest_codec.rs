//! Property tests: encode → decode is the identity for every message type,
//! every truncation of an encoded message is a typed error, and arbitrary
//! input never panics the decoder or the FSM.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::error::DecodeError;
use bgp::packet::aspath::{AsPath, AsSegment, SegmentType};
use bgp::packet::attributes::{
    flags, AttrContext, AttributeValue, Community, LargeCommunity, MpNextHop, MpReachNlri,
    MpUnreachNlri, Nlri, Origin, PathAttribute,
};
use bgp::packet::capabilities::{
    AddPathFamily, Capability, ExtendedNextHopEntry, GracefulRestartFamily,
};
use bgp::packet::family::{Afi, Family, Safi};
use bgp::packet::notification::{ErrorCode, NotificationMessage};
use bgp::packet::open::{OpenMessage, OptionalParameter};
use bgp::packet::prefix::Prefix;
use bgp::packet::route_refresh::{RouteRefreshMessage, RouteRefreshSubtype};
use bgp::packet::update::UpdateMessage;
use bgp::packet::{CodecContext, Message};
use proptest::collection::vec;
use proptest::prelude::*;

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        Just(Family::IPV4_UNICAST),
        Just(Family::IPV6_UNICAST),
        (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi::from(a), Safi::from(s))),
    ]
}

fn prefix_v4() -> impl Strategy<Value = Prefix> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| Prefix::new(IpAddr::V4(Ipv4Addr::from(a)), l).unwrap())
}

fn prefix_v6() -> impl Strategy<Value = Prefix> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| Prefix::new(IpAddr::V6(Ipv6Addr::from(a)), l).unwrap())
}

fn capability() -> impl Strategy<Value = Capability> {
    // Codes with no meaning in this crate (so an Unknown stays Unknown).
    let unknown_code = prop_oneof![
        Just(3u8),
        Just(4),
        Just(7),
        Just(8),
        72u8..=127,
        129u8..=255
    ];
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::ExtendedMessage),
        Just(Capability::EnhancedRouteRefresh),
        any::<u32>().prop_map(Capability::FourOctetAs),
        vec((any::<u16>(), any::<u16>(), any::<u16>()), 0..4).prop_map(|v| {
            Capability::ExtendedNextHop(
                v.into_iter()
                    .map(|(a, s, n)| ExtendedNextHopEntry {
                        nlri_afi: a.into(),
                        nlri_safi: s,
                        next_hop_afi: n.into(),
                    })
                    .collect(),
            )
        }),
        (0u8..16, 0u16..4096, vec((family(), any::<u8>()), 0..3)).prop_map(|(flags, time, f)| {
            Capability::GracefulRestart {
                flags,
                time,
                families: f
                    .into_iter()
                    .map(|(family, flags)| GracefulRestartFamily { family, flags })
                    .collect(),
            }
        }),
        vec((family(), any::<u8>()), 0..3).prop_map(|f| Capability::AddPath(
            f.into_iter()
                .map(|(family, send_receive)| AddPathFamily {
                    family,
                    send_receive
                })
                .collect()
        )),
        (unknown_code, vec(any::<u8>(), 0..8))
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn open() -> impl Strategy<Value = OpenMessage> {
    let param = prop_oneof![
        vec(capability(), 0..4).prop_map(OptionalParameter::Capabilities),
        (
            (0u8..=254).prop_filter("not capabilities", |t| *t != 2),
            vec(any::<u8>(), 0..8)
        )
            .prop_map(|(param_type, value)| OptionalParameter::Unknown { param_type, value }),
    ];
    (
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        vec(param, 0..4),
        any::<bool>(),
    )
        .prop_map(|(version, my_as, hold_time, id, params, extended_params)| {
            let mut o = OpenMessage {
                version,
                my_as,
                hold_time,
                bgp_id: Ipv4Addr::from(id),
                params,
                extended_params,
            };
            // The classic encoding switches to RFC 9072 by itself when the
            // parameters do not fit in 255 octets.
            let classic = Message::Open(OpenMessage {
                extended_params: false,
                ..o.clone()
            });
            if classic.encode(CodecContext::default()).unwrap().len() > 29 + 255 {
                o.extended_params = true;
            }
            o
        })
}

fn as_path(four: bool) -> impl Strategy<Value = AsPath> {
    let asn = if four {
        any::<u32>().boxed()
    } else {
        (0u32..=65535).boxed()
    };
    vec((1u8..=4, vec(asn, 1..6)), 0..4).prop_map(|segs| AsPath {
        segments: segs
            .into_iter()
            .map(|(k, asns)| AsSegment {
                kind: SegmentType::from(k),
                asns,
            })
            .collect(),
    })
}

fn mp_next_hop() -> impl Strategy<Value = MpNextHop> {
    prop_oneof![
        any::<u32>().prop_map(|a| MpNextHop::Ipv4(a.into())),
        (any::<u128>(), proptest::option::of(any::<u128>())).prop_map(|(g, l)| MpNextHop::Ipv6 {
            global: g.into(),
            link_local: l.map(Into::into)
        }),
        vec(any::<u8>(), 0..40)
            .prop_filter("not a named length", |v| ![4, 16, 32].contains(&v.len()))
            .prop_map(MpNextHop::Raw),
    ]
}

fn nlri_for(f: Family) -> BoxedStrategy<Nlri> {
    match (f.has_prefix_nlri(), f.afi) {
        (true, Afi::Ipv6) => vec(prefix_v6(), 0..6).prop_map(Nlri::Prefixes).boxed(),
        (true, _) => vec(prefix_v4(), 0..6).prop_map(Nlri::Prefixes).boxed(),
        (false, _) => vec(any::<u8>(), 0..12).prop_map(Nlri::Raw).boxed(),
    }
}

fn mp_reach() -> impl Strategy<Value = AttributeValue> {
    family().prop_flat_map(|f| {
        (mp_next_hop(), any::<u8>(), nlri_for(f)).prop_map(move |(next_hop, reserved, nlri)| {
            AttributeValue::MpReachNlri(MpReachNlri {
                family: f,
                next_hop,
                reserved,
                nlri,
            })
        })
    })
}

fn mp_unreach() -> impl Strategy<Value = AttributeValue> {
    family().prop_flat_map(|f| {
        nlri_for(f).prop_map(move |withdrawn| {
            AttributeValue::MpUnreachNlri(MpUnreachNlri {
                family: f,
                withdrawn,
            })
        })
    })
}

fn attribute(four: bool) -> impl Strategy<Value = PathAttribute> {
    let asn = if four {
        any::<u32>().boxed()
    } else {
        (0u32..=65535).boxed()
    };
    let unknown_type = prop_oneof![Just(11u8), Just(12), Just(13), 19u8..=31, 33u8..=255];
    let value = prop_oneof![
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ]
        .prop_map(AttributeValue::Origin),
        as_path(four).prop_map(AttributeValue::AsPath),
        any::<u32>().prop_map(|a| AttributeValue::NextHop(a.into())),
        any::<u32>().prop_map(AttributeValue::MultiExitDisc),
        any::<u32>().prop_map(AttributeValue::LocalPref),
        Just(AttributeValue::AtomicAggregate),
        (asn, any::<u32>()).prop_map(|(asn, a)| AttributeValue::Aggregator {
            asn,
            address: a.into()
        }),
        vec(any::<u32>().prop_map(Community), 1..5).prop_map(AttributeValue::Communities),
        any::<u32>().prop_map(|a| AttributeValue::OriginatorId(a.into())),
        vec(any::<u32>().prop_map(Ipv4Addr::from), 1..4).prop_map(AttributeValue::ClusterList),
        as_path(true).prop_map(AttributeValue::As4Path),
        (any::<u32>(), any::<u32>()).prop_map(|(asn, a)| AttributeValue::As4Aggregator {
            asn,
            address: a.into()
        }),
        vec(
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(g, a, b)| LargeCommunity {
                global_admin: g,
                local_data1: a,
                local_data2: b
            }),
            1..4
        )
        .prop_map(AttributeValue::LargeCommunities),
        (unknown_type, vec(any::<u8>(), 0..300))
            .prop_map(|(type_code, data)| AttributeValue::Unknown { type_code, data }),
    ];
    (value, any::<bool>(), any::<bool>()).prop_map(|(v, ext, partial)| {
        let mut a = PathAttribute::new(v);
        if ext {
            a.flags |= flags::EXTENDED_LENGTH;
        }
        if partial && a.flags & flags::OPTIONAL != 0 && a.flags & flags::TRANSITIVE != 0 {
            a.flags |= flags::PARTIAL;
        }
        a
    })
}

fn update(four: bool) -> impl Strategy<Value = UpdateMessage> {
    (
        vec(prefix_v4(), 0..20),
        vec(attribute(four), 0..6),
        proptest::option::of(mp_reach()),
        proptest::option::of(mp_unreach()),
        vec(prefix_v4(), 0..20),
    )
        .prop_map(move |(withdrawn, mut attributes, reach, unreach, nlri)| {
            let ctx = AttrContext {
                four_octet_as: four,
            };
            attributes.extend(reach.map(PathAttribute::new));
            attributes.extend(unreach.map(PathAttribute::new));
            // Long values get Extended Length from the encoder.
            for a in &mut attributes {
                if a.wire_len(ctx) > 3 + 255 {
                    a.flags |= flags::EXTENDED_LENGTH;
                }
            }
            UpdateMessage {
                withdrawn,
                attributes,
                attribute_tail: vec![],
                nlri,
            }
        })
}

fn message(four: bool) -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        update(four).prop_map(Message::Update),
        (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..64)).prop_map(|(c, s, data)| {
            Message::Notification(NotificationMessage::with_data(
                ErrorCode::from_raw(c, s),
                data,
            ))
        }),
        Just(Message::Keepalive),
        (family(), any::<u8>()).prop_map(|(family, st)| Message::RouteRefresh(
            RouteRefreshMessage {
                family,
                subtype: RouteRefreshSubtype::from(st)
            }
        )),
    ]
}

fn round_trip(m: &Message, ctx: CodecContext) -> Result<(), TestCaseError> {
    let bytes = match m.encode(ctx) {
        Ok(b) => b,
        // Too long for 4096 octets: not a round-trip case.
        Err(_) => return Ok(()),
    };
    let (back, used) =
        Message::decode(&bytes, ctx).map_err(|e| TestCaseError::fail(format!("{e}: {m:?}")))?;
    prop_assert_eq!(used, bytes.len());
    prop_assert_eq!(&back, m);
    // Every strict prefix is a typed truncation error, never a panic.
    for k in 0..bytes.len() {
        match Message::decode(&bytes[..k], ctx) {
            Err(DecodeError::Truncated { needed, available }) => {
                prop_assert_eq!(available, k);
                prop_assert!(needed > k);
            }
            other => prop_assert!(false, "prefix {} of {}: {:?}", k, bytes.len(), other),
        }
    }
    // A body cut short with a consistent header decodes or fails cleanly.
    for k in 19..bytes.len() {
        let mut cut = bytes[..k].to_vec();
        cut[16..18].copy_from_slice(&(k as u16).to_be_bytes());
        if let Err(e) = Message::decode(&cut, ctx) {
            prop_assert!(e.notification().is_some(), "{e:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn open_round_trips(o in open()) {
        round_trip(&Message::Open(o), CodecContext::default())?;
    }

    #[test]
    fn update_round_trips_four_octet(u in update(true)) {
        round_trip(&Message::Update(u), CodecContext { four_octet_as: true })?;
    }

    #[test]
    fn update_round_trips_two_octet(u in update(false)) {
        round_trip(&Message::Update(u), CodecContext { four_octet_as: false })?;
    }

    #[test]
    fn any_message_round_trips(m in message(true)) {
        round_trip(&m, CodecContext { four_octet_as: true })?;
    }

    #[test]
    fn notification_round_trips(c in any::<u8>(), s in any::<u8>(), data in vec(any::<u8>(), 0..200)) {
        let m = Message::Notification(NotificationMessage::with_data(ErrorCode::from_raw(c, s), data));
        round_trip(&m, CodecContext::default())?;
    }

    #[test]
    fn route_refresh_round_trips(f in family(), st in any::<u8>()) {
        let m = Message::RouteRefresh(RouteRefreshMessage { family: f, subtype: st.into() });
        round_trip(&m, CodecContext::default())?;
    }

    #[test]
    fn shutdown_communication_round_trips(text in "\\PC{0,300}") {
        let n = NotificationMessage::cease(bgp::packet::notification::CeaseSubcode::AdministrativeShutdown, Some(&text));
        let got = n.shutdown_communication().unwrap();
        prop_assert!(got.len() <= 255);
        prop_assert!(text.starts_with(got));
    }
}

proptest! {
    // A few thousand random byte strings through the same entry points the
    // cargo-fuzz targets use, so CI exercises them on stable.
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic_the_decoder(data in vec(any::<u8>(), 0..600)) {
        bgp::fuzzing::check_decode(&data);
    }

    #[test]
    fn marker_prefixed_garbage_never_panics(t in 1u8..=5, len in 19u16..=700, body in vec(any::<u8>(), 0..700)) {
        // Random bodies behind a valid-looking header reach the per-type
        // decoders much more often than fully random bytes.
        let mut data = vec![0u8];
        data.extend_from_slice(&[0xff; 16]);
        data.extend_from_slice(&len.to_be_bytes());
        data.push(t);
        data.extend_from_slice(&body);
        bgp::fuzzing::check_decode(&data);
        bgp::fuzzing::check_peer(std::time::Instant::now(), &data[1..]);
    }

    #[test]
    fn random_bytes_never_panic_the_peer(data in vec(any::<u8>(), 0..600)) {
        bgp::fuzzing::check_peer(std::time::Instant::now(), &data);
    }
}
