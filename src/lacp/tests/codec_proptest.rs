//! Codec properties: every valid PDU re-encodes to its own bytes, every built PDU decodes to
//! itself, and no input makes a decoder panic.

use lacp::fuzzing::check_decode;
use lacp::{Lacpdu, MacAddr, MarkerPdu, PortInfo, PortState, SlowFrame, SlowPdu, SystemId};
use proptest::prelude::*;

fn port_info() -> impl Strategy<Value = PortInfo> {
    (
        any::<u16>(),
        any::<[u8; 6]>(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        any::<u8>(),
    )
        .prop_map(
            |(priority, mac, key, port_priority, port, state)| PortInfo {
                system: SystemId {
                    priority,
                    mac: MacAddr(mac),
                },
                key,
                port_priority,
                port,
                state: PortState(state),
            },
        )
}

/// 110 octets that are a valid LACPDU by our decoder's rules: subtype 1, a nonzero version,
/// the three information lengths right; everything else arbitrary.
fn valid_lacpdu_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 110),
        1u8..=255,
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(mut b, version, extra)| {
            b[0] = 1;
            b[1] = version;
            b[3] = 20;
            b[23] = 20;
            b[43] = 16;
            if version > 1 {
                b.extend_from_slice(&extra);
            }
            b
        })
}

proptest! {
    // Failures are not persisted (the file would land outside this crate); shrunk cases
    // that found bugs are kept as named tests in simulation.rs.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_lacpdus_round_trip_byte_exactly(b in valid_lacpdu_bytes()) {
        let p = Lacpdu::decode(&b).expect("valid");
        prop_assert_eq!(p.encode(), b);
    }

    #[test]
    fn built_lacpdus_decode_to_themselves(a in port_info(), p in port_info(), d in any::<u16>()) {
        let pdu = Lacpdu::new(a, p, d);
        let b = pdu.encode();
        prop_assert_eq!(b.len(), 110);
        prop_assert_eq!(Lacpdu::decode(&b).unwrap(), pdu.clone());
        let f = SlowFrame::new(MacAddr([2, 0, 0, 0, 0, 1]), SlowPdu::Lacp(pdu));
        let fb = f.encode();
        prop_assert_eq!(fb.len(), 124);
        prop_assert_eq!(SlowFrame::decode(&fb).unwrap(), f);
    }

    #[test]
    fn valid_markers_round_trip(mut b in prop::collection::vec(any::<u8>(), 110), resp in any::<bool>(), v in 1u8..) {
        b[0] = 2;
        b[1] = v;
        b[2] = if resp { 2 } else { 1 };
        b[3] = 16;
        let m = MarkerPdu::decode(&b).expect("valid");
        prop_assert_eq!(m.encode(), b);
    }

    #[test]
    fn decoders_never_panic(b in prop::collection::vec(any::<u8>(), 0..300)) {
        check_decode(&b);
    }

    #[test]
    fn decoders_never_panic_behind_a_slow_protocols_header(
        subtype in 0u8..4, b in prop::collection::vec(any::<u8>(), 0..200)
    ) {
        let mut f = lacp::SLOW_PROTOCOLS_MULTICAST.0.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x88, 0x09, subtype]);
        f.extend_from_slice(&b);
        check_decode(&f);
        check_decode(&f[14..]);
    }
}
