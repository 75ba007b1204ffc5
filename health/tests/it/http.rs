use std::time::Duration;

use health::probe::http::{self, sha256_hex};
use health::{BodyExpect, HttpCheck, HttpMethod};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::servers::{closed_tcp_port, ctx, http_server, read_request, Reply};

fn spec(target: std::net::SocketAddr) -> HttpCheck {
    HttpCheck::new(target)
}

#[tokio::test]
async fn status_200_is_up() {
    let (addr, mut reqs) = http_server(Reply::new(200, "hello")).await;
    let mut s = spec(addr);
    s.path = "/healthz".into();
    s.host = Some("svc.example".into());
    let r = http::check(&s, None, ctx(1000)).await;
    assert!(r.ok, "{r}");
    assert_eq!(r.detail, "HTTP 200");
    let req = reqs.recv().await.unwrap();
    assert!(req.starts_with("GET /healthz HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("Host: svc.example\r\n"), "{req}");
}

#[tokio::test]
async fn status_500_is_down() {
    let (addr, _) = http_server(Reply::new(500, "oops")).await;
    let r = http::check(&spec(addr), None, ctx(1000)).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "HTTP 500");
}

#[tokio::test]
async fn status_set_accepts_redirect() {
    let (addr, _) = http_server(Reply::new(301, "")).await;
    let mut s = spec(addr);
    assert!(!http::check(&s, None, ctx(1000)).await.ok);
    s.expect_status = "200-299,301".parse().unwrap();
    assert!(http::check(&s, None, ctx(1000)).await.ok);
}

#[tokio::test]
async fn body_substring() {
    let (addr, _) = http_server(Reply::new(200, "status: ready\n")).await;
    let mut s = spec(addr);
    s.expect_body = Some(BodyExpect::Contains(b"ready".to_vec()));
    let r = http::check(&s, None, ctx(1000)).await;
    assert!(r.ok, "{r}");
    s.expect_body = Some(BodyExpect::Contains(b"degraded".to_vec()));
    let r = http::check(&s, None, ctx(1000)).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "body mismatch");
}

#[tokio::test]
async fn chunked_body_digest() {
    let mut reply = Reply::new(200, "the quick brown fox");
    reply.chunked = true;
    let (addr, _) = http_server(reply).await;
    let mut s = spec(addr);
    s.expect_body = Some(BodyExpect::Sha256(
        sha256_hex(b"the quick brown fox").to_uppercase(),
    ));
    let r = http::check(&s, None, ctx(1000)).await;
    assert!(r.ok, "{r}");
    s.expect_body = Some(BodyExpect::Sha256(sha256_hex(b"other")));
    let r = http::check(&s, None, ctx(1000)).await;
    assert!(!r.ok);
    assert!(r.detail.starts_with("body digest mismatch"), "{}", r.detail);
}

#[tokio::test]
async fn head_request() {
    let (addr, mut reqs) = http_server(Reply::new(204, "")).await;
    let mut s = spec(addr);
    s.method = HttpMethod::Head;
    assert!(http::check(&s, None, ctx(1000)).await.ok);
    assert!(reqs.recv().await.unwrap().starts_with("HEAD / HTTP/1.1"));
}

#[tokio::test]
async fn slow_response_times_out() {
    let mut reply = Reply::new(200, "late");
    reply.delay = Duration::from_secs(5);
    let (addr, _) = http_server(reply).await;
    let start = std::time::Instant::now();
    let r = http::check(&spec(addr), None, ctx(300)).await;
    assert!(!r.ok && r.timed_out, "{r}");
    assert!(r.detail.starts_with("response timed out"), "{}", r.detail);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn refused() {
    let r = http::check(&spec(closed_tcp_port()), None, ctx(1000)).await;
    assert_eq!(r.detail, "connection refused");
}

#[tokio::test]
async fn reset_after_request() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            read_request(&mut s).await;
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s); // RST
        }
    });
    let r = http::check(&spec(addr), None, ctx(1000)).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "connection reset");
}

#[tokio::test]
async fn garbage_response() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
            let mut sink = [0u8; 512];
            let _ = s.read(&mut sink).await;
        }
    });
    let r = http::check(&spec(addr), None, ctx(1000)).await;
    assert!(!r.ok);
    assert!(r.detail.starts_with("bad response"), "{}", r.detail);
}

#[tokio::test]
async fn body_limit() {
    let (addr, _) = http_server(Reply::new(200, &"x".repeat(5000))).await;
    let mut s = spec(addr);
    s.max_body = 1000;
    s.expect_body = Some(BodyExpect::Contains(b"x".to_vec()));
    let r = http::check(&s, None, ctx(1000)).await;
    assert!(!r.ok);
    assert!(r.detail.contains("larger than 1000"), "{}", r.detail);
}
