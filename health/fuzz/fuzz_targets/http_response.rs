//! The HTTP check's response reading on arbitrary bytes from the server, as the probe does it
//! (`probe::http::read_and_judge`): heads parsed as bytes arrive, interim 1xx responses
//! skipped, then the body framed by chunked encoding, Content-Length or the end of the
//! connection, within `max_body`. No panic; a body is never larger than `max_body`; and the
//! outcome does not depend on how the bytes were split into reads.
#![no_main]

use health::wire::http::{decode_chunked, parse_head};
use libfuzzer_sys::fuzz_target;

/// What the probe concludes: the status and body, or that it failed.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Body(u16, Vec<u8>),
    Failed,
}

/// The probe's reading loop, over `data` delivered `step` bytes per read.
fn read(data: &[u8], step: usize, max: usize, head_request: bool) -> Outcome {
    let mut got = 0;
    let mut buf: Vec<u8> = Vec::new();
    // One read: false at the end of the connection.
    let mut fill = |buf: &mut Vec<u8>| {
        let n = step.min(data.len() - got);
        buf.extend_from_slice(&data[got..got + n]);
        got += n;
        n > 0
    };
    let mut eof = false;
    let (head, start) = loop {
        match parse_head(&buf) {
            Ok(Some((head, len))) if (100..200).contains(&head.status) && head.status != 101 => {
                assert!(len <= buf.len());
                buf.drain(..len);
            }
            Ok(Some(found)) => break found,
            Ok(None) if eof => return Outcome::Failed,
            Ok(None) => eof = !fill(&mut buf),
            Err(_) => return Outcome::Failed,
        }
    };
    assert!(start <= buf.len(), "the body starts inside the buffer");
    assert!((100..1000).contains(&head.status), "three digits");
    if !head.has_body(head_request) {
        return Outcome::Body(head.status, Vec::new());
    }
    loop {
        let have = &buf[start..];
        if head.chunked {
            match decode_chunked(have, max) {
                Ok(Some(body)) => {
                    assert!(body.len() <= max, "a body past max_body");
                    return Outcome::Body(head.status, body);
                }
                Ok(None) if eof => return Outcome::Failed,
                Ok(None) => {}
                Err(_) => return Outcome::Failed,
            }
        } else if let Some(len) = head.content_length {
            if len > max {
                return Outcome::Failed;
            }
            if have.len() >= len {
                return Outcome::Body(head.status, have[..len].to_vec());
            }
            if eof {
                return Outcome::Failed;
            }
        } else {
            if have.len() > max {
                return Outcome::Failed;
            }
            if eof {
                return Outcome::Body(head.status, have.to_vec());
            }
        }
        eof = !fill(&mut buf);
    }
}

/// Heads the input may start with, so that the body framings are reached from the first
/// execution rather than after the fuzzer has guessed a whole status line and header.
const HEADS: [&[u8]; 4] = [
    b"",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n",
];

fuzz_target!(|data: &[u8]| {
    let [sel, split, data @ ..] = data else {
        return;
    };
    // The configured limit: none, small, the default (1 MiB) or as large as it gets.
    let max = [0, 64, 1 << 20, usize::MAX][usize::from(sel & 3)];
    let head_request = sel & 4 != 0;
    let mut bytes = HEADS[usize::from(sel >> 3) % HEADS.len()].to_vec();
    bytes.extend_from_slice(data);
    let whole = read(&bytes, bytes.len().max(1), max, head_request);
    // At most 64 reads: the probe re-parses what it holds after every read, so one byte per
    // read costs the square of the length (the probe's deadline bounds that; here it would
    // only slow the fuzzer down).
    let step = (usize::from(*split) + 1).max(bytes.len() / 64);
    let split = read(&bytes, step, max, head_request);
    assert_eq!(whole, split, "the outcome depends on how the bytes arrived");
});
