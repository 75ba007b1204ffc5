//! The codec: round trips, byte-exact re-encoding, and one typed error per bad input.

mod common;

use std::net::Ipv4Addr;

use proptest::prelude::*;
use session_sync::wire::{HEADER_LEN, MAC_LEN};
use session_sync::*;

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn flow_key() -> impl Strategy<Value = FlowKey> {
    (
        any::<u16>(),
        any::<u8>(),
        v4(),
        any::<u16>(),
        v4(),
        any::<u16>(),
    )
        .prop_map(
            |(zone, proto, client, client_port, vip, vip_port)| FlowKey {
                zone,
                proto,
                client,
                client_port,
                vip,
                vip_port,
            },
        )
}

fn inside() -> impl Strategy<Value = Inside> {
    (any::<u16>(), any::<u8>(), v4(), any::<u16>()).prop_map(|(zone, proto, addr, port)| Inside {
        zone,
        proto,
        addr,
        port,
    })
}

fn kind() -> impl Strategy<Value = Kind> {
    (0u8..5).prop_map(|k| Kind::from_u8(k).unwrap())
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        (
            flow_key(),
            kind(),
            any::<[u8; 4]>(),
            v4(),
            any::<u16>(),
            v4(),
            any::<u16>(),
            any::<u32>()
        )
            .prop_map(
                |(key, kind, s, backend, backend_port, local, local_port, ms)| {
                    Record::FlowUpsert(Flow {
                        key,
                        kind,
                        state: s[0],
                        class: s[1],
                        fins: s[2],
                        profile: s[3],
                        backend,
                        backend_port,
                        local,
                        local_port,
                        remaining_ms: ms,
                    })
                }
            ),
        (flow_key(), any::<[u8; 3]>(), any::<u32>()).prop_map(|(key, s, ms)| {
            Record::FlowRefresh(FlowRefresh {
                key,
                state: s[0],
                class: s[1],
                fins: s[2],
                remaining_ms: ms,
            })
        }),
        flow_key().prop_map(Record::FlowRemoved),
        (inside(), v4(), any::<u16>(), any::<u8>()).prop_map(|(inside, external, p, pool)| {
            Record::SnatMapping(SnatMapping {
                inside,
                external,
                external_port: p,
                pool,
            })
        }),
        inside().prop_map(Record::SnatMappingRemoved),
        (
            any::<u8>(),
            v4(),
            any::<u16>(),
            v4(),
            any::<u16>(),
            any::<bool>()
        )
            .prop_map(|(proto, local, local_port, backend, backend_port, held)| {
                Record::FullNatPort(FullNatPort {
                    proto,
                    local,
                    local_port,
                    backend,
                    backend_port,
                    held,
                })
            }),
        any::<u64>().prop_map(|cursor| Record::BulkRequest(BulkRequest { cursor })),
        (any::<u64>(), any::<u64>(), any::<u32>(), any::<bool>()).prop_map(
            |(cursor, total, entries, last)| Record::BulkPage(BulkPage {
                cursor,
                total,
                entries,
                last
            })
        ),
        (
            any::<u64>(),
            any::<u16>(),
            any::<u64>(),
            prop::collection::vec((v4(), any::<u16>(), any::<u16>()), 0..8)
        )
            .prop_map(|(table_size, workers, config_digest, pools)| {
                Record::Hello(Hello {
                    table_size,
                    settings: Settings {
                        workers,
                        config_digest,
                        pools: pools
                            .into_iter()
                            .map(|(addr, port_lo, port_hi)| PoolRange {
                                addr,
                                port_lo,
                                port_hi,
                            })
                            .collect(),
                    },
                })
            }),
    ]
}

fn datagram() -> impl Strategy<Value = Datagram> {
    (
        any::<bool>(),
        any::<u8>(),
        any::<[u64; 4]>(),
        any::<[u32; 2]>(),
        prop::collection::vec(record(), 0..20),
    )
        .prop_map(|(data, flags, w, s, records)| Datagram {
            header: Header {
                msg_type: if data {
                    MsgType::Data
                } else {
                    MsgType::Control
                },
                flags,
                node_id: w[0],
                epoch: w[1],
                seq: s[0],
                peer_epoch: w[2],
                cum_ack: s[1],
                sack: w[3],
            },
            records,
        })
}

proptest! {
    #[test]
    fn round_trip(d in datagram()) {
        let key = Key::new(common::KEY);
        let bytes = d.encode(&key);
        prop_assert_eq!(bytes.len(), d.encoded_len());
        let back = Datagram::decode(&bytes, &key).unwrap();
        prop_assert_eq!(&back, &d);
        prop_assert_eq!(back.encode(&key), bytes);
    }

    #[test]
    fn any_single_bit_flip_is_refused(d in datagram(), bit in any::<usize>()) {
        let key = Key::new(common::KEY);
        let mut bytes = d.encode(&key);
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Datagram::decode(&bytes, &key).is_err());
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        session_sync::fuzzing::check_decode(&bytes);
    }

    #[test]
    fn endpoint_fed_random_bytes_keeps_bounds(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        session_sync::fuzzing::check_endpoint(&bytes);
    }
}

fn sample() -> (Key, Vec<u8>) {
    let key = Key::new(common::KEY);
    let d = Datagram {
        header: Header {
            msg_type: MsgType::Data,
            flags: 0,
            node_id: 1,
            epoch: 2,
            seq: 3,
            peer_epoch: 4,
            cum_ack: 5,
            sack: 6,
        },
        records: vec![common::upsert(1), Record::FlowRemoved(common::key(2))],
    };
    let b = d.encode(&key);
    (key, b)
}

#[test]
fn header_layout_is_the_documented_one() {
    let (_, b) = sample();
    assert_eq!(&b[..8], b"ASYN\x01\x01\x00\x00");
    assert_eq!(b[8..16], 1u64.to_be_bytes());
    assert_eq!(b[16..24], 2u64.to_be_bytes());
    assert_eq!(b[24..28], 3u32.to_be_bytes());
    assert_eq!(b[28..30], 2u16.to_be_bytes());
    assert_eq!(usize::from(u16::from_be_bytes([b[30], b[31]])), b.len());
    assert_eq!(b[32..40], 4u64.to_be_bytes());
    assert_eq!(b[40..44], 5u32.to_be_bytes());
    assert_eq!(b[44..52], 6u64.to_be_bytes());
    // Flow upsert: type 1, body 37, address family 4, proto 6.
    assert_eq!(&b[52..57], &[1, 0, 37, 4, 6]);
    assert_eq!(b.len(), HEADER_LEN + 40 + 19 + MAC_LEN);
}

#[test]
fn a_flow_record_takes_40_bytes_and_33_fit_a_datagram() {
    assert_eq!(session_sync::wire::record_len(&common::upsert(1)), 40);
    assert_eq!((1400 - HEADER_LEN - MAC_LEN) / 40, 33);
}

/// Re-signs `b` after editing it, so the error under test is not the HMAC's.
fn resign(b: &[u8], key: &Key) -> Vec<u8> {
    session_sync::fuzzing::resign(b, key).unwrap()
}

#[test]
fn each_bad_input_has_its_error() {
    let (key, b) = sample();
    assert_eq!(
        Datagram::decode(&b[..40], &key),
        Err(DecodeError::Truncated(40))
    );
    let mut m = b.clone();
    m[0] = b'X';
    assert_eq!(Datagram::decode(&m, &key), Err(DecodeError::BadMagic));
    let mut m = b.clone();
    m[4] = 2;
    assert_eq!(
        Datagram::decode(&m, &key),
        Err(DecodeError::UnsupportedVersion(2))
    );
    assert_eq!(
        Datagram::decode(&b[..b.len() - 1], &key),
        Err(DecodeError::BadLength {
            declared: b.len(),
            actual: b.len() - 1
        })
    );
    assert_eq!(
        Datagram::decode(&b, &Key::new(b"wrong")),
        Err(DecodeError::BadHmac)
    );
    let mut m = b.clone();
    m[5] = 9;
    assert_eq!(
        Datagram::decode(&resign(&m, &key), &key),
        Err(DecodeError::UnknownMessageType(9))
    );
    let mut m = b.clone();
    m[7] = 1;
    assert_eq!(
        Datagram::decode(&resign(&m, &key), &key),
        Err(DecodeError::Reserved)
    );
    let mut m = b.clone();
    m[52] = 77;
    assert_eq!(
        Datagram::decode(&resign(&m, &key), &key),
        Err(DecodeError::UnknownRecordType(77))
    );
    let mut m = b.clone();
    m[54] = 36;
    assert_eq!(
        Datagram::decode(&resign(&m, &key), &key),
        Err(DecodeError::BadRecordLength { code: 1, len: 36 })
    );
    let mut m = b.clone();
    m[55] = 6;
    assert_eq!(
        Datagram::decode(&resign(&m, &key), &key),
        Err(DecodeError::UnsupportedAddressFamily(6))
    );
    let mut m = b.clone();
    m[55 + 16] = 5; // kind
    assert_eq!(
        Datagram::decode(&resign(&m, &key), &key),
        Err(DecodeError::BadValue(1))
    );
    let mut m = b.clone();
    m[29] = 3;
    assert_eq!(
        Datagram::decode(&resign(&m, &key), &key),
        Err(DecodeError::BadRecordCount {
            declared: 3,
            actual: 2
        })
    );
}

#[test]
fn peek_sender_reads_node_and_epoch() {
    let (_, b) = sample();
    assert_eq!(peek_sender(&b), Some((1, 2)));
    assert_eq!(peek_sender(&b[..20]), None);
}
