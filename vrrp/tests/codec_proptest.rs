//! Property tests for the codec: emit then parse is the identity, every
//! truncation is a typed error, and arbitrary bytes never panic anything.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use proptest::prelude::*;
use vrrp::{
    AddressFamily, Advertisement, AdvertisementV2, AuthType, Centiseconds, ChecksumContext,
    ChecksumMode, Config, DecodeError, Instance, Packet, RxMeta,
};

fn family() -> impl Strategy<Value = AddressFamily> {
    prop_oneof![Just(AddressFamily::Ipv4), Just(AddressFamily::Ipv6)]
}

fn address(family: AddressFamily) -> BoxedStrategy<IpAddr> {
    match family {
        AddressFamily::Ipv4 => any::<u32>()
            .prop_map(|v| IpAddr::V4(Ipv4Addr::from(v)))
            .boxed(),
        AddressFamily::Ipv6 => any::<u128>()
            .prop_map(|v| IpAddr::V6(Ipv6Addr::from(v)))
            .boxed(),
    }
}

prop_compose! {
    fn advertisement_in(family: AddressFamily)(
        vrid in any::<u8>(),
        priority in any::<u8>(),
        interval in 0u16..=0x0fff,
        addresses in prop::collection::vec(address(family), 0..12),
    ) -> Advertisement {
        Advertisement { vrid, priority, max_adver_int: Centiseconds(interval), addresses }
    }
}

fn advertisement() -> impl Strategy<Value = (AddressFamily, Advertisement)> {
    family().prop_flat_map(|f| advertisement_in(f).prop_map(move |a| (f, a)))
}

fn context(family: AddressFamily) -> impl Strategy<Value = ChecksumContext> {
    (
        address(family),
        address(family),
        prop_oneof![
            Just(ChecksumMode::Rfc9568),
            Just(ChecksumMode::PseudoHeaderV4)
        ],
    )
        .prop_map(|(src, dst, mode)| ChecksumContext { src, dst, mode })
}

prop_compose! {
    fn advertisement_v2()(
        vrid in any::<u8>(),
        priority in any::<u8>(),
        auth in any::<u8>(),
        adver_int in any::<u8>(),
        addresses in prop::collection::vec(any::<u32>().prop_map(Ipv4Addr::from), 0..12),
        auth_data in any::<[u8; 8]>(),
    ) -> AdvertisementV2 {
        AdvertisementV2 { vrid, priority, auth_type: AuthType::from(auth), adver_int, addresses, auth_data }
    }
}

proptest! {
    #[test]
    fn emit_then_parse_is_identity(
        (fam, advert, ctx) in advertisement()
            .prop_flat_map(|(f, a)| (Just(f), Just(a), context(f)))
    ) {
        let bytes = advert.to_bytes(&ctx);
        prop_assert_eq!(bytes.len(), advert.buffer_len());
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        prop_assert!(packet.verify_checksum(&ctx));
        prop_assert_eq!(Advertisement::parse(&packet, fam).unwrap(), advert);
    }

    #[test]
    fn every_truncation_is_a_typed_error((fam, advert) in advertisement()) {
        let ctx = ChecksumContext {
            src: match fam {
                AddressFamily::Ipv4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
                AddressFamily::Ipv6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
            },
            dst: match fam {
                AddressFamily::Ipv4 => IpAddr::V4(Ipv4Addr::BROADCAST),
                AddressFamily::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            },
            mode: ChecksumMode::PseudoHeaderV4,
        };
        let bytes = advert.to_bytes(&ctx);
        for len in 0..bytes.len() {
            let err = Advertisement::parse_bytes(&bytes[..len], fam).unwrap_err();
            if len < 8 {
                prop_assert_eq!(err, DecodeError::TooShort { len });
            } else {
                prop_assert_eq!(err, DecodeError::LengthMismatch { expected: bytes.len(), actual: len });
            }
        }
    }

    #[test]
    fn v2_emit_then_parse_is_identity(advert in advertisement_v2()) {
        let bytes = advert.to_bytes();
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        prop_assert!(packet.verify_checksum_v2());
        prop_assert_eq!(AdvertisementV2::parse(&packet).unwrap(), advert.clone());
        for len in 0..bytes.len() {
            prop_assert!(AdvertisementV2::parse_bytes(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        ttl in any::<u8>(),
        v6 in any::<bool>(),
    ) {
        let _ = Advertisement::parse_bytes(&bytes, AddressFamily::Ipv4);
        let _ = Advertisement::parse_bytes(&bytes, AddressFamily::Ipv6);
        let _ = AdvertisementV2::parse_bytes(&bytes);
        let _ = vrrp::peek_vrid(&bytes);
        let (primary, vip, peer): (IpAddr, IpAddr, IpAddr) = if v6 {
            ("fe80::1".parse().unwrap(), "2001:db8::1".parse().unwrap(), "fe80::2".parse().unwrap())
        } else {
            ("198.18.0.1".parse().unwrap(), "198.18.0.100".parse().unwrap(), "198.18.0.2".parse().unwrap())
        };
        let mut inst = Instance::new(Config::new(1, primary, vec![vip])).unwrap();
        let t0 = Instant::now();
        inst.handle_startup(t0);
        inst.handle_advertisement(t0, RxMeta { src: peer, dst: peer, ttl_or_hop_limit: ttl }, &bytes);
        while inst.poll_action().is_some() {}
    }
}
