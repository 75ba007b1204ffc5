//! UDP check (keepalived `UDP_CHECK`): send a payload, expect a reply.
//!
//! The socket is connected so that the kernel reports an ICMP port unreachable from the
//! target as ECONNREFUSED on the next receive; that is the only fast failure UDP offers.

use std::io;

use tokio::net::UdpSocket;

use super::{bind_addr, describe_io, Deadline, ProbeContext};
use crate::result::ProbeResult;
use crate::spec::UdpCheck;

pub async fn check(spec: &UdpCheck, ctx: ProbeContext) -> ProbeResult {
    let deadline = Deadline::new(ctx.timeout);
    let sock = match connected(spec.target, ctx).await {
        Ok(s) => s,
        Err(e) => return deadline.fail(describe_io(&e)),
    };
    if let Err(e) = sock.send(&spec.payload).await {
        return deadline.fail(describe_udp(&e));
    }
    let mut buf = vec![0u8; 65536];
    match deadline.run("reply", sock.recv(&mut buf)).await {
        Ok(Ok(n)) => match &spec.expect {
            Some(want) if !contains(&buf[..n], want) => deadline.fail("reply mismatch"),
            _ => deadline.ok(format!("{n}-byte reply")),
        },
        Ok(Err(e)) => deadline.fail(describe_udp(&e)),
        Err(_) if !spec.require_reply => deadline.ok("no reply, none required"),
        Err(timeout) => timeout,
    }
}

pub(crate) async fn connected(
    target: std::net::SocketAddr,
    ctx: ProbeContext,
) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind(bind_addr(ctx.source, target.ip())).await?;
    sock.connect(target).await?;
    Ok(sock)
}

pub(crate) fn describe_udp(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        "port unreachable (ICMP)".into()
    } else {
        describe_io(e)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
