//! Property tests: encode then decode is the identity, decode then encode gives back the
//! bytes, and arbitrary bytes never panic the codec or a session.

use bfd::{AuthSection, ControlPacket, Diagnostic, State};
use proptest::prelude::*;

fn auth() -> impl Strategy<Value = Option<AuthSection>> {
    prop_oneof![
        Just(None),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 1..=16))
            .prop_map(|(key_id, password)| Some(AuthSection::SimplePassword { key_id, password })),
        (
            any::<bool>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<[u8; 16]>()
        )
            .prop_map(|(meticulous, key_id, reserved, sequence, digest)| Some(
                AuthSection::KeyedMd5 {
                    meticulous,
                    key_id,
                    reserved,
                    sequence,
                    digest
                }
            )),
        (
            any::<bool>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<[u8; 20]>()
        )
            .prop_map(|(meticulous, key_id, reserved, sequence, hash)| Some(
                AuthSection::KeyedSha1 {
                    meticulous,
                    key_id,
                    reserved,
                    sequence,
                    hash
                }
            )),
        (
            prop_oneof![Just(0u8), 6u8..=255],
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(auth_type, data)| Some(AuthSection::Unknown { auth_type, data })),
    ]
}

prop_compose! {
    fn packet()(
        diag in 0u8..32,
        state in 0u8..4,
        flags in any::<[bool; 5]>(),
        detect_mult in any::<u8>(),
        words in any::<[u32; 5]>(),
        auth in auth(),
        trailing in prop::collection::vec(any::<u8>(), 0..16),
    ) -> ControlPacket {
        ControlPacket {
            diag: Diagnostic::from_bits(diag),
            state: State::from_bits(state),
            poll: flags[0],
            final_: flags[1],
            control_plane_independent: flags[2],
            demand: flags[3],
            multipoint: flags[4],
            detect_mult,
            my_discriminator: words[0],
            your_discriminator: words[1],
            desired_min_tx: words[2],
            required_min_rx: words[3],
            required_min_echo_rx: words[4],
            auth,
            trailing,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn encode_then_decode(p in packet()) {
        let bytes = p.encode().unwrap();
        prop_assert_eq!(bytes.len(), p.length());
        prop_assert_eq!(usize::from(bytes[3]), p.length());
        prop_assert_eq!(ControlPacket::decode(&bytes), Ok(p));
    }

    /// Every prefix of a valid packet is an error, never a panic.
    #[test]
    fn truncations_are_errors(p in packet()) {
        let bytes = p.encode().unwrap();
        for n in 0..bytes.len() {
            prop_assert!(ControlPacket::decode(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..96)) {
        bfd::fuzzing::check_decode(&data);
    }

    /// Valid packets with one byte changed: decode or refuse, and re-encode losslessly.
    #[test]
    fn mutated_packets(p in packet(), at in any::<prop::sample::Index>(), v in any::<u8>()) {
        let mut bytes = p.encode().unwrap();
        let i = at.index(bytes.len());
        bytes[i] = v;
        bfd::fuzzing::check_decode(&bytes);
    }

    #[test]
    fn sessions_survive_anything(data in prop::collection::vec(any::<u8>(), 0..512)) {
        bfd::fuzzing::check_session(&data);
    }

    /// Sessions fed well-formed packets of every shape (the random bytes above rarely pass
    /// the early checks).
    #[test]
    fn sessions_survive_valid_packets(ps in prop::collection::vec((packet(), any::<u8>()), 1..24), mode in 0u8..6) {
        let mut data = vec![mode];
        for (mut p, step) in ps {
            p.detect_mult = p.detect_mult.max(1);
            p.multipoint = false;
            if p.my_discriminator == 0 { p.my_discriminator = 1; }
            if p.your_discriminator % 2 == 0 { p.your_discriminator = 0x1234_5678; }
            let b = p.encode().unwrap();
            data.extend_from_slice(&[b.len() as u8, step, 255]);
            data.extend_from_slice(&b);
        }
        bfd::fuzzing::check_session(&data);
    }
}
