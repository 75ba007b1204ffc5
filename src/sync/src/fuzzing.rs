//! Entry points shared by the cargo-fuzz targets (`src/sync/fuzz`) and the random-input tests
//! that run on stable. Each panics only when an invariant breaks, never on malformed input.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::endpoint::Peer;
use crate::record::Settings;
use crate::wire::{Datagram, Key};

/// The key the fuzz inputs are signed with.
pub const FUZZ_KEY: &[u8] = b"fuzz";

/// Decodes `data` as a datagram; one that decodes must re-encode to exactly `data`. The
/// HMAC is checked too, so to reach the record decoder the fuzzer's input is re-signed:
/// the input is decoded both as is and with its last 16 bytes replaced by a valid tag.
pub fn check_decode(data: &[u8]) {
    let key = Key::new(FUZZ_KEY);
    if let Ok(d) = Datagram::decode(data, &key) {
        assert_eq!(d.encode(&key), data, "lossless re-encode of {d:?}");
    }
    if let Some(signed) = resign(data, &key) {
        if let Ok(d) = Datagram::decode(&signed, &key) {
            assert_eq!(d.encode(&key), signed, "lossless re-encode of {d:?}");
        }
    }
}

/// `data` with its length field set to its size and a valid HMAC appended in place of its
/// last 16 bytes, or `None` when it is too short to be a datagram.
pub fn resign(data: &[u8], key: &Key) -> Option<Vec<u8>> {
    use crate::wire::{HEADER_LEN, MAC_LEN};
    if data.len() < HEADER_LEN + MAC_LEN || data.len() > usize::from(u16::MAX) {
        return None;
    }
    let mut b = data[..data.len() - MAC_LEN].to_vec();
    let len = u16::try_from(data.len()).ok()?;
    b[30..32].copy_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&key.sign(&b));
    Some(b)
}

/// Feeds `data` to an endpoint as datagrams (re-signed, so they reach the state machine)
/// and time steps: a length byte, a time-step byte, then that many bytes. Checks that
/// nothing panics, that every datagram the endpoint sends decodes, and that its buffers
/// stay within their bounds.
pub fn check_endpoint(data: &[u8]) {
    let key = Key::new(FUZZ_KEY);
    let mut cfg = Config::new(1, FUZZ_KEY.to_vec(), Settings::default());
    cfg.queue_capacity = 64;
    let t0 = Instant::now();
    let mut now = t0;
    let Ok(mut p) = Peer::new(cfg.clone(), 7, now) else {
        return;
    };
    let mut rest = data;
    while let [len, step, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        now += Duration::from_millis(u64::from(*step) * 8);
        p.handle_timeout(now);
        // Build a datagram from the chunk: a header-sized prefix of zeros is padded in so
        // short inputs still reach the endpoint's checks.
        let mut bytes = chunk.to_vec();
        if bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&crate::wire::MAGIC);
        }
        if let Some(b) = resign(&bytes, &key) {
            let _ = p.receive(&b, now);
        }
        let _ = p.receive(chunk, now);
        while let Some(out) = p.poll_transmit(now) {
            assert!(out.len() <= cfg.max_datagram);
            Datagram::decode(&out, &key).expect("what we send decodes");
        }
        while p.poll_event().is_some() {}
        assert!(p.queued() <= cfg.queue_capacity);
        assert!(p.in_flight() <= cfg.window as usize);
        assert!(p.reordered() <= 64);
    }
}
