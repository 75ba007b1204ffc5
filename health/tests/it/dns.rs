use std::net::{IpAddr, SocketAddr};

use health::probe::dns;
use health::wire::dns::{encode_reply, parse_response};
use health::{DnsCheck, QType, Rcode};
use tokio::net::UdpSocket;

use crate::servers::{closed_udp_port, ctx};

/// A tiny authoritative responder: `ok.test` has A 198.18.0.10, `fail.test` is SERVFAIL,
/// anything else NXDOMAIN. Before every real reply it sends one with the wrong id, which the
/// probe must ignore.
async fn responder() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = s.recv_from(&mut buf).await {
            let q = &buf[..n];
            let Ok(parsed) = parse_response(q) else {
                continue;
            };
            let name = parsed.question.map(|(n, _)| n).unwrap_or_default();
            let (rcode, addrs): (Rcode, Vec<IpAddr>) = match name.as_str() {
                "ok.test" => (Rcode::NOERROR, vec!["198.18.0.10".parse().unwrap()]),
                "fail.test" => (Rcode::SERVFAIL, vec![]),
                _ => (Rcode::NXDOMAIN, vec![]),
            };
            let mut reply = encode_reply(q, rcode, &addrs).unwrap();
            let mut spoof = reply.clone();
            spoof[0] ^= 0xFF;
            spoof[7] = 0; // and no answers
            let _ = s.send_to(&spoof, peer).await;
            let _ = s.send_to(&reply, peer).await;
            reply.clear();
        }
    });
    addr
}

#[tokio::test]
async fn noerror_with_expected_address() {
    let server = responder().await;
    let mut s = DnsCheck::new(server, "ok.test.", QType::A);
    let r = dns::check(&s, ctx(1000)).await;
    assert!(r.ok, "{r}");
    s.expect_address = Some("198.18.0.10".parse().unwrap());
    let r = dns::check(&s, ctx(1000)).await;
    assert!(r.ok, "{r}");
    s.expect_address = Some("198.18.0.11".parse().unwrap());
    let r = dns::check(&s, ctx(1000)).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "no answer with 198.18.0.11 (got [198.18.0.10])");
}

#[tokio::test]
async fn servfail_is_down() {
    let server = responder().await;
    let r = dns::check(&DnsCheck::new(server, "fail.test", QType::A), ctx(1000)).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "rcode SERVFAIL (expected NOERROR)");
}

#[tokio::test]
async fn expected_nxdomain() {
    let server = responder().await;
    let mut s = DnsCheck::new(server, "missing.test", QType::AAAA);
    assert!(!dns::check(&s, ctx(1000)).await.ok);
    s.expect_rcode = Rcode::NXDOMAIN;
    assert!(dns::check(&s, ctx(1000)).await.ok);
}

#[tokio::test]
async fn no_server() {
    let r = dns::check(
        &DnsCheck::new(closed_udp_port(), "ok.test", QType::A),
        ctx(1000),
    )
    .await;
    assert_eq!(r.detail, "port unreachable (ICMP)");
}
