use health::probe::udp;
use health::UdpCheck;

use crate::servers::{closed_udp_port, ctx, udp_echo};

fn spec(target: std::net::SocketAddr) -> UdpCheck {
    UdpCheck {
        target,
        payload: b"PING health".to_vec(),
        expect: None,
        require_reply: true,
    }
}

#[tokio::test]
async fn echo_reply_is_up() {
    let mut s = spec(udp_echo().await);
    let r = udp::check(&s, ctx(1000)).await;
    assert!(r.ok, "{r}");
    s.expect = Some(b"health".to_vec());
    assert!(udp::check(&s, ctx(1000)).await.ok);
    s.expect = Some(b"PONG".to_vec());
    let r = udp::check(&s, ctx(1000)).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "reply mismatch");
}

#[tokio::test]
async fn port_unreachable_is_down() {
    let r = udp::check(&spec(closed_udp_port()), ctx(1000)).await;
    assert!(!r.ok);
    assert!(!r.timed_out);
    assert_eq!(r.detail, "port unreachable (ICMP)");
    // Even when no reply is required, an ICMP unreachable fails the check.
    let mut s = spec(closed_udp_port());
    s.require_reply = false;
    assert!(!udp::check(&s, ctx(1000)).await.ok);
}

#[tokio::test]
async fn silence() {
    // Bound but never answering.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut s = spec(silent.local_addr().unwrap());
    let r = udp::check(&s, ctx(200)).await;
    assert!(!r.ok && r.timed_out, "{r}");
    s.require_reply = false;
    let r = udp::check(&s, ctx(200)).await;
    assert!(r.ok, "{r}");
    drop(silent);
}
