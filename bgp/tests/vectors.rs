//! Every BGP message captured between BIRD 2.0.12, gobgpd, FRR and ExaBGP
//! (tests/data/bird-gobgp-frr-exabgp.txt) must decode and re-encode
//! byte-exactly, and decode to what the capture's summary says.

use bgp::packet::attributes::{AttributeType, AttributeValue, Origin};
use bgp::packet::capabilities::Capability;
use bgp::packet::family::Family;
use bgp::packet::framer::MessageReader;
use bgp::packet::notification::{CeaseSubcode, ErrorCode};
use bgp::packet::{CodecContext, Message};

const VECTORS: &str = include_str!("data/bird-gobgp-frr-exabgp.txt");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// (decoded summary line, message bytes) for every message in the file.
fn vectors() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut summary = String::new();
    for line in VECTORS.lines() {
        if let Some(s) = line.strip_prefix("decoded: ") {
            summary = s.to_string();
        } else if let Some(h) = line.strip_prefix("bgp hex: ") {
            out.push((summary.clone(), hex(h.trim())));
        }
    }
    out
}

// All captured sessions negotiated the 4-octet AS capability.
const CTX: CodecContext = CodecContext {
    four_octet_as: true,
};

#[test]
fn every_vector_round_trips_byte_exactly() {
    let v = vectors();
    assert_eq!(v.len(), 30, "vector file changed?");
    for (summary, bytes) in &v {
        let (msg, used) = Message::decode(bytes, CTX).unwrap_or_else(|e| panic!("{summary}: {e}"));
        assert_eq!(used, bytes.len(), "{summary}");
        let again = msg.encode(CTX).unwrap();
        assert_eq!(&again, bytes, "{summary}: {msg:?}");
    }
}

#[test]
fn vectors_decode_to_their_summaries() {
    for (summary, bytes) in vectors() {
        let (msg, _) = Message::decode(&bytes, CTX).unwrap();
        match msg {
            Message::Open(o) => {
                assert!(summary.starts_with("OPEN v4"), "{summary}");
                assert_eq!(o.version, 4);
                assert_eq!(o.hold_time, 3);
                assert!(summary.contains(&format!("my_as={}", o.my_as)));
                assert!(summary.contains(&format!("bgp_id={}", o.bgp_id)));
                assert_eq!(o.asn(), o.my_as as u32);
                assert!(o.families().contains(&Family::IPV4_UNICAST));
                assert_eq!(
                    o.supports_route_refresh(),
                    (summary.contains(" Route-Refresh") || summary.contains("[Route-Refresh")),
                    "{summary}"
                );
                assert_eq!(
                    o.graceful_restart().is_some(),
                    summary.contains("Graceful-Restart")
                );
                if summary.contains("Extended-NH") {
                    assert!(o
                        .capabilities()
                        .any(|c| matches!(c, Capability::ExtendedNextHop(_))));
                }
                if summary.contains("ADD-PATH") {
                    assert!(o
                        .capabilities()
                        .any(|c| matches!(c, Capability::AddPath(_))));
                }
            }
            Message::Keepalive => assert_eq!(summary, "KEEPALIVE"),
            Message::Notification(n) => {
                let (c, s) = n.code.to_raw();
                assert!(
                    summary.contains(&format!("code={c} subcode={s}")),
                    "{summary}"
                );
                if c == 6 {
                    assert_eq!(
                        n.code,
                        ErrorCode::Cease(CeaseSubcode::OtherConfigurationChange)
                    );
                }
            }
            Message::Update(u) => {
                if summary.contains("End-of-RIB") {
                    assert_eq!(u.as_end_of_rib(), Some(Family::IPV4_UNICAST));
                    continue;
                }
                assert_eq!(u.as_end_of_rib(), None);
                assert!(
                    u.rfc7606_verdict(true).treat_as_withdraw.is_none(),
                    "{summary}"
                );
                if summary.contains("withdrawn=['198.18.255.1/32']") {
                    assert_eq!(u.withdrawn.len(), 1);
                    assert_eq!(u.withdrawn[0].to_string(), "198.18.255.1/32");
                } else {
                    assert_eq!(u.nlri[0].to_string(), "198.18.255.1/32");
                    let origin = u.attribute(AttributeType::Origin).unwrap();
                    let want = if summary.contains("INCOMPLETE") {
                        Origin::Incomplete
                    } else {
                        Origin::Igp
                    };
                    assert_eq!(origin, &AttributeValue::Origin(want));
                    let Some(AttributeValue::AsPath(p)) = u.attribute(AttributeType::AsPath) else {
                        panic!("{summary}")
                    };
                    assert_eq!(p.path_len(), 1);
                    assert!(summary.contains(&format!("{:08x}(flags", p.first_as().unwrap())));
                    if summary.contains("MED=0") {
                        assert_eq!(
                            u.attribute(AttributeType::MultiExitDisc),
                            Some(&AttributeValue::MultiExitDisc(0))
                        );
                    }
                }
            }
            Message::RouteRefresh(_) => panic!("no ROUTE-REFRESH in the captures"),
        }
    }
}

/// The whole capture, fed through the stream decoder in awkward chunk sizes,
/// yields the same messages.
#[test]
fn stream_decoder_reassembles_any_chunking() {
    let v = vectors();
    let stream: Vec<u8> = v.iter().flat_map(|(_, b)| b.clone()).collect();
    for chunk in [1, 2, 3, 7, 19, 20, 64, 4096] {
        let mut r = MessageReader::new();
        let mut got = Vec::new();
        for c in stream.chunks(chunk) {
            r.push(c);
            while let Some(m) = r.next_message(CTX).unwrap() {
                got.push(m.encode(CTX).unwrap());
            }
        }
        assert_eq!(r.buffered(), 0);
        let want: Vec<Vec<u8>> = v.iter().map(|(_, b)| b.clone()).collect();
        assert_eq!(got, want, "chunk size {chunk}");
    }
}
