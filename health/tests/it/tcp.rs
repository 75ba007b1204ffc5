use std::time::Duration;

use health::probe::tcp;
use health::TcpCheck;
use tokio::net::TcpListener;

use crate::servers::{closed_tcp_port, ctx, full_accept_queue};

#[tokio::test]
async fn accepts_is_up() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = l.local_addr().unwrap();
    tokio::spawn(async move { while l.accept().await.is_ok() {} });
    let r = tcp::check(&TcpCheck::new(target), ctx(1000)).await;
    assert!(r.ok, "{r}");
    assert_eq!(r.detail, "connected");
}

#[tokio::test]
async fn refused_is_down() {
    let r = tcp::check(&TcpCheck::new(closed_tcp_port()), ctx(1000)).await;
    assert!(!r.ok);
    assert!(!r.timed_out);
    assert_eq!(r.detail, "connection refused");
}

#[tokio::test]
async fn accept_then_rst_is_still_a_connect() {
    // TCP_CHECK is layer 4: the handshake completed, whatever the server does next.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
        }
    });
    assert!(tcp::check(&TcpCheck::new(target), ctx(1000)).await.ok);
}

#[tokio::test]
async fn never_answers_times_out() {
    // A listener with backlog 0 and a full accept queue drops further SYNs: the client's
    // connect hangs, which is what a black-holed server looks like.
    let (s, _fillers) = full_accept_queue().await;
    let target = s.local_addr().unwrap().as_socket().unwrap();
    let start = std::time::Instant::now();
    let r = tcp::check(&TcpCheck::new(target), ctx(300)).await;
    assert!(!r.ok);
    assert!(r.timed_out, "{r}");
    assert!(r.detail.starts_with("connect timed out"), "{}", r.detail);
    assert!(start.elapsed() < Duration::from_millis(1000));
    drop(s);
}

#[tokio::test]
async fn source_address_is_used() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = l.local_addr().unwrap();
    let src: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let mut c = ctx(1000);
    c.source = Some(src);
    let accept = tokio::spawn(async move { l.accept().await.unwrap().1 });
    let r = tcp::check(&TcpCheck::new(target), c).await;
    assert!(r.ok, "{r}");
    assert_eq!(accept.await.unwrap().ip(), src);
}

#[tokio::test]
async fn ipv6_loopback() {
    let Ok(l) = TcpListener::bind("[::1]:0").await else {
        eprintln!("!!! SKIPPED: ::1 is not configured; IPv6 TCP check untested !!!");
        return;
    };
    let target = l.local_addr().unwrap();
    tokio::spawn(async move { while l.accept().await.is_ok() {} });
    let mut c = ctx(1000);
    c.source = Some("::1".parse().unwrap());
    let r = tcp::check(&TcpCheck::new(target), c).await;
    assert!(r.ok, "{r}");
}
