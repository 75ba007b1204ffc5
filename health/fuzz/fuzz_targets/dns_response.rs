//! The DNS check's reply parser on arbitrary datagrams: no panic; no more answers than the
//! header announces; a question name that is valid re-encodes into a query that parses back
//! to the same question; and the test servers' `encode_reply`, given the datagram as a query,
//! builds a reply that parses with the query's id and one answer per address.
#![no_main]

use std::net::IpAddr;

use health::wire::dns::{encode_query, encode_reply, parse_response, validate_name, RData};
use health::{QType, Rcode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse_response(data) {
        let ancount = data
            .get(6..8)
            .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
        assert!(r.answers.len() <= usize::from(ancount));
        for a in &r.answers {
            match a.data {
                RData::A(_) => assert_eq!(a.rtype, QType::A),
                RData::Aaaa(_) => assert_eq!(a.rtype, QType::AAAA),
                RData::Other(t) => assert_eq!(t, a.rtype.0),
            }
        }
        if let Some((name, qtype)) = &r.question {
            if validate_name(name).is_ok() {
                let q = encode_query(r.id, name, *qtype, true);
                let back = parse_response(&q).expect("our own query parses");
                assert_eq!(back.id, r.id);
                let got = back.question.expect("one question");
                assert_eq!(got.1, *qtype);
                assert_eq!(got.0.trim_end_matches('.'), name.trim_end_matches('.'));
            }
        }
    }
    let addrs: [IpAddr; 2] = [
        "198.18.0.1".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
    ];
    if let Some(reply) = encode_reply(data, Rcode(0), &addrs) {
        let r = parse_response(&reply).expect("a reply the test server built parses");
        assert_eq!(r.id, u16::from_be_bytes([data[0], data[1]]));
        assert!(r.is_response);
        assert_eq!(r.answers.len(), addrs.len());
    }
});
