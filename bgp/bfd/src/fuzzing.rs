//! Entry points shared by the cargo-fuzz targets (`bgp/bfd/fuzz`) and the random-input tests
//! that run on stable. Each panics only when an invariant breaks, never on malformed input.

use std::time::{Duration, Instant};

use crate::action::Action;
use crate::auth::AuthType;
use crate::config::{AuthConfig, SessionConfig};
use crate::packet::ControlPacket;
use crate::session::receive::RxMeta;
use crate::session::Session;
use crate::timers::Jitter;

/// Decodes `data`; a packet that decodes must re-encode to exactly its Length bytes.
pub fn check_decode(data: &[u8]) {
    if let Ok(p) = ControlPacket::decode(data) {
        let again = p.encode().expect("a decoded packet encodes");
        assert_eq!(again, &data[..p.length()], "lossless re-encode of {p:?}");
    }
}

/// Feeds `data` to sessions as a sequence of datagrams and time steps: the first byte picks
/// the authentication, then each record is a length byte, a time step byte, a TTL-choice
/// byte and that many bytes of datagram. Checks that nothing panics, that every packet the
/// session sends decodes, and that a session never sends P and F together.
pub fn check_session(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut cfg = SessionConfig::new(Duration::from_millis(50), 3);
    let auth_type = match mode % 6 {
        1 => Some(AuthType::SimplePassword),
        2 => Some(AuthType::KeyedMd5),
        3 => Some(AuthType::MeticulousKeyedMd5),
        4 => Some(AuthType::KeyedSha1),
        5 => Some(AuthType::MeticulousKeyedSha1),
        _ => None,
    };
    cfg.auth = auth_type.map(|auth_type| AuthConfig {
        auth_type,
        key_id: 1,
        key: b"fuzz".to_vec(),
    });
    let mut s = Session::new(cfg, 0x1234_5678, 7).expect("valid configuration");
    let mut now = Instant::now();
    s.start(now);
    while let [len, step, ttl, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_millis(u64::from(*step) * 4);
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now, Jitter(u16::from(*step) << 8));
        }
        let ttl = if ttl % 4 == 0 { *ttl } else { 255 };
        let _ = s.handle_packet(now, RxMeta { ttl }, datagram);
        if *step == 0xff {
            s.admin_down(now, crate::Diagnostic::AdministrativelyDown);
        } else if *step == 0xfe {
            s.admin_up(now);
        }
        while let Some(a) = s.poll_action() {
            if let Action::Transmit(t) = a {
                let p = ControlPacket::decode(&t.bytes).expect("our packets decode");
                assert!(!(p.poll && p.final_), "P and F together");
                assert_eq!(p, t.packet);
            }
        }
        assert!(s
            .poll_timeout()
            .is_none_or(|t| t + Duration::from_secs(3600) > now));
    }
}
