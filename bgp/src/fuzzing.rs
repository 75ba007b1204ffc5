//! Entry points shared by the cargo-fuzz targets (bgp/fuzz) and the
//! random-input tests that run on stable in CI. Each panics only when an
//! invariant is broken, never on malformed input.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::config::PeerConfig;
use crate::events::{Command, State};
use crate::packet::capabilities::Capability;
use crate::packet::family::Family;
use crate::packet::framer::MessageReader;
use crate::packet::open::OpenMessage;
use crate::packet::{CodecContext, Message};
use crate::peer::Peer;

/// Decodes `data` as a stream of messages in both AS-number widths, the
/// first octet choosing the chunking. Every message that decodes must
/// re-encode to exactly the octets it came from (the codec is lossless),
/// and every error must map to a NOTIFICATION.
pub fn check_decode(data: &[u8]) {
    let (chunk, data) = match data.split_first() {
        Some((c, rest)) => ((*c as usize % 64) + 1, rest),
        None => return,
    };
    for four_octet_as in [false, true] {
        let ctx = CodecContext { four_octet_as };
        // Whole-buffer decoding.
        let mut rest = data;
        while !rest.is_empty() {
            match Message::decode(rest, ctx) {
                Ok((m, used)) => {
                    let again = m.encode(ctx).expect("decoded message re-encodes");
                    assert_eq!(again, &rest[..used], "lossless re-encode of {m:?}");
                    rest = &rest[used..];
                }
                Err(e) => {
                    if !matches!(e, crate::error::DecodeError::Truncated { .. }) {
                        assert!(e.notification().is_some());
                    }
                    break;
                }
            }
        }
        // Stream decoding in small chunks.
        let mut r = MessageReader::new();
        'chunks: for c in data.chunks(chunk) {
            r.push(c);
            loop {
                match r.next_message(ctx) {
                    Ok(Some(m)) => {
                        let _ = m.encode(ctx).expect("decoded message re-encodes");
                    }
                    Ok(None) => break,
                    Err(e) => {
                        assert!(e.notification().is_some());
                        break 'chunks;
                    }
                }
            }
        }
    }
}

/// Brings a `Peer` to Established with a scripted neighbour, then feeds it
/// `data` as received octets while virtual time passes from `start`,
/// checking it never panics. (The caller supplies the base instant: the
/// core never reads a clock.)
pub fn check_peer(start: Instant, data: &[u8]) {
    let local = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
    let mut cfg = PeerConfig::new(65001, 65002, Ipv4Addr::new(192, 0, 2, 1));
    cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    cfg.next_hop_v6 = Some("2001:db8::1".parse().expect("valid"));
    let mut peer = Peer::new(cfg, 7);
    let mut now = start;
    peer.set_route(
        "198.18.255.1/32".parse().expect("valid"),
        Default::default(),
    );
    peer.start(now);
    let Some(Command::Connect(conn)) = peer.poll_command() else {
        panic!("active peer dials")
    };
    peer.handle_connected(now, conn, local);
    let open = OpenMessage::new(
        65002,
        9,
        Ipv4Addr::new(192, 0, 2, 2),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::FourOctetAs(65002),
            Capability::RouteRefresh,
        ],
    );
    let ctx = CodecContext::default();
    for m in [Message::Open(open), Message::Keepalive] {
        peer.handle_data(now, conn, &m.encode(ctx).expect("encodes"));
    }
    assert_eq!(peer.state(), State::Established);
    for chunk in data.chunks(97) {
        peer.handle_data(now, conn, chunk);
        now += Duration::from_millis(700);
        peer.handle_timeout(now);
        while peer.poll_transmit(now).is_some() {}
        while peer.poll_command().is_some() {}
        while peer.poll_event().is_some() {}
    }
}
