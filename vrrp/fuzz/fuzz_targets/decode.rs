//! The VRRP decoders on arbitrary bytes, as the payload of an IPv4 and of an IPv6 packet,
//! VRRPv3 and VRRPv2: no panic; a v3 advertisement has addresses of its family only and
//! re-emits (under every checksum form) to a message that verifies and parses to the same
//! advertisement; a v2 advertisement re-emits to one that verifies and parses back.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vrrp::{
    peek_vrid, AddressFamily, Advertisement, AdvertisementV2, ChecksumContext, ChecksumMode, Packet,
};

const V4: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
    IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
];
const V6: [IpAddr; 2] = [
    IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
    IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
];

fn contexts(family: AddressFamily) -> Vec<ChecksumContext> {
    let [src, dst] = match family {
        AddressFamily::Ipv4 => V4,
        AddressFamily::Ipv6 => V6,
    };
    [ChecksumMode::PseudoHeaderV4, ChecksumMode::Rfc9568]
        .into_iter()
        .map(|mode| ChecksumContext { src, dst, mode })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let vrid = peek_vrid(data);
    if let Ok(p) = Packet::new_checked(data) {
        assert_eq!(vrid, Some(p.vrid()));
        let _ = (
            p.version(),
            p.packet_type(),
            p.address_count(),
            p.max_adver_int(),
        );
        let _ = (p.auth_type(), p.adver_int_v2(), p.checksum(), p.body());
        let _ = p.verify_checksum_v2();
        for family in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
            for ctx in contexts(family) {
                let _ = p.verify_checksum(&ctx);
            }
        }
    }
    for family in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
        let Ok(a) = Advertisement::parse_bytes(data, family) else {
            continue;
        };
        assert!(a.addresses.iter().all(|x| AddressFamily::of(x) == family));
        assert_eq!(a.buffer_len(), data.len(), "the length was checked");
        for ctx in contexts(family) {
            let bytes = a.to_bytes(&ctx);
            let p = Packet::new_checked(&bytes[..]).expect("emitted header");
            assert!(p.verify_checksum(&ctx), "emitted checksum verifies");
            assert_eq!(Advertisement::parse_bytes(&bytes, family).as_ref(), Ok(&a));
        }
    }
    if let Ok(a) = AdvertisementV2::parse_bytes(data) {
        assert_eq!(a.buffer_len(), data.len(), "the length was checked");
        let mut bytes = vec![0u8; a.buffer_len()];
        a.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert!(Packet::new_checked(&bytes[..])
            .expect("emitted header")
            .verify_checksum_v2());
        assert_eq!(AdvertisementV2::parse_bytes(&bytes).as_ref(), Ok(&a));
    }
});
