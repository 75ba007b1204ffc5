//! HTTP/1.1 and HTTPS checks (keepalived `HTTP_GET` / `SSL_GET`): one request with
//! `Connection: close`; the status must be in the expected set and, optionally, the body must
//! contain a string or hash to a SHA-256 digest.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::tls::TlsClient;
use super::{describe_io, tcp, Deadline, ProbeContext};
use crate::result::ProbeResult;
use crate::spec::{BodyExpect, HttpCheck, HttpMethod};
use crate::wire::http::{decode_chunked, encode_request, parse_head, Head};

pub async fn check(spec: &HttpCheck, tls: Option<&TlsClient>, ctx: ProbeContext) -> ProbeResult {
    let deadline = Deadline::new(ctx.timeout);
    let stream = match tcp::connect(spec.target, ctx, &deadline).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match tls {
        None => exchange(stream, spec, &deadline).await,
        Some(tls) => match deadline.run("TLS handshake", tls.connect(stream)).await {
            Ok(Ok(s)) => exchange(s, spec, &deadline).await,
            Ok(Err(e)) => deadline.fail(e),
            Err(timeout) => timeout,
        },
    }
}

async fn exchange<S>(mut stream: S, spec: &HttpCheck, deadline: &Deadline) -> ProbeResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let host = match &spec.host {
        Some(h) => h.clone(),
        None => spec.target.to_string(),
    };
    let request = encode_request(spec.method.as_str(), &spec.path, &host);
    match deadline.run("request", stream.write_all(&request)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return deadline.fail(describe_io(&e)),
        Err(t) => return t,
    }
    let mut reader = Reader {
        stream,
        buf: Vec::new(),
        eof: false,
    };
    let result = read_and_judge(&mut reader, spec, deadline).await;
    // Best effort: a clean TLS close_notify / FIN, without waiting for the peer.
    let _ = tokio::time::timeout(std::time::Duration::ZERO, reader.stream.shutdown()).await;
    result
}

async fn read_and_judge<S>(r: &mut Reader<S>, spec: &HttpCheck, deadline: &Deadline) -> ProbeResult
where
    S: AsyncRead + Unpin,
{
    let (head, body_start) = loop {
        match parse_head(&r.buf) {
            Ok(Some((head, len))) if (100..200).contains(&head.status) && head.status != 101 => {
                // Interim response (100 Continue, 103 Early Hints): the real one follows.
                r.buf.drain(..len);
            }
            Ok(Some(found)) => break found,
            Ok(None) if r.eof => return deadline.fail("connection closed before response"),
            Ok(None) => {
                if let Err(fail) = r.fill(deadline, "response").await {
                    return fail;
                }
            }
            Err(e) => return deadline.fail(format!("bad response: {e}")),
        }
    };
    if !spec.expect_status.contains(head.status) {
        return deadline.fail(format!("HTTP {}", head.status));
    }
    let Some(expect) = &spec.expect_body else {
        // Status is all that was asked for: don't spend the budget reading the body.
        return deadline.ok(format!("HTTP {}", head.status));
    };
    let head_request = spec.method == HttpMethod::Head;
    let body = match read_body(r, &head, head_request, body_start, spec.max_body, deadline).await {
        Ok(b) => b,
        Err(fail) => return fail,
    };
    match expect {
        BodyExpect::Contains(needle) => {
            let found =
                needle.is_empty() || body.windows(needle.len()).any(|w| w == needle.as_slice());
            if found {
                deadline.ok(format!("HTTP {}, body matched", head.status))
            } else {
                deadline.fail("body mismatch")
            }
        }
        BodyExpect::Sha256(want) => {
            let got = sha256_hex(&body);
            if got.eq_ignore_ascii_case(want) {
                deadline.ok(format!("HTTP {}, digest matched", head.status))
            } else {
                deadline.fail(format!("body digest mismatch: sha256 {got}"))
            }
        }
    }
}

async fn read_body<S>(
    r: &mut Reader<S>,
    head: &Head,
    head_request: bool,
    start: usize,
    max: usize,
    deadline: &Deadline,
) -> Result<Vec<u8>, ProbeResult>
where
    S: AsyncRead + Unpin,
{
    if !head.has_body(head_request) {
        return Ok(Vec::new());
    }
    loop {
        let have = &r.buf[start..];
        if head.chunked {
            match decode_chunked(have, max) {
                Ok(Some(body)) => return Ok(body),
                Ok(None) if r.eof => return Err(deadline.fail("connection closed mid-body")),
                Ok(None) => {}
                Err(e) => return Err(deadline.fail(format!("bad body: {e}"))),
            }
        } else if let Some(len) = head.content_length {
            if len > max {
                return Err(deadline.fail(format!("body larger than {max} bytes")));
            }
            if have.len() >= len {
                return Ok(have[..len].to_vec());
            }
            if r.eof {
                return Err(deadline.fail("connection closed mid-body"));
            }
        } else {
            // No framing: the body runs to the end of the connection.
            if have.len() > max {
                return Err(deadline.fail(format!("body larger than {max} bytes")));
            }
            if r.eof {
                return Ok(have.to_vec());
            }
        }
        r.fill(deadline, "body").await?;
    }
}

struct Reader<S> {
    stream: S,
    buf: Vec<u8>,
    eof: bool,
}

impl<S: AsyncRead + Unpin> Reader<S> {
    async fn fill(&mut self, deadline: &Deadline, phase: &str) -> Result<(), ProbeResult> {
        let mut chunk = [0u8; 8192];
        match deadline.run(phase, self.stream.read(&mut chunk)).await? {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            // Many servers close TLS without close_notify; for read-to-close bodies that is
            // the end of the body, not an error worth failing a check over.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => self.eof = true,
            Err(e) => return Err(deadline.fail(describe_io(&e))),
        }
        Ok(())
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write;
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
