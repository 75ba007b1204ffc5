//! Half-open TCP checks against real listeners on loopback. Raw sockets need CAP_NET_RAW (the
//! daemon runs as root); without it the tests say so loudly and pass nothing off as tested.

use std::net::SocketAddr;
use std::time::Duration;

use health::probe::halfopen::{self, Engines};
use health::{Handshake, TcpCheck};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

use crate::servers::{closed_tcp_port, ctx, full_accept_queue};

fn half_open(target: SocketAddr) -> TcpCheck {
    TcpCheck {
        target,
        handshake: Handshake::HalfOpen,
    }
}

fn raw_permitted() -> bool {
    let ok = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP)).is_ok();
    if !ok {
        eprintln!("!!! SKIPPED: no CAP_NET_RAW; half-open TCP checks untested !!!");
    }
    ok
}

#[tokio::test]
async fn syn_ack_is_up_and_the_application_never_sees_a_connection() {
    if !raw_permitted() {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let engines = Engines::default();
    let r = halfopen::check(&half_open(l.local_addr().unwrap()), &engines, ctx(1000)).await;
    assert!(r.ok, "{r}");
    assert_eq!(r.detail, "SYN-ACK");
    // Our kernel reset the SYN-ACK, so nothing reached the accept queue.
    let accepted = tokio::time::timeout(Duration::from_millis(300), l.accept()).await;
    assert!(accepted.is_err(), "the probe completed a connection");
}

#[tokio::test]
async fn reset_is_refused() {
    if !raw_permitted() {
        return;
    }
    let r = halfopen::check(
        &half_open(closed_tcp_port()),
        &Engines::default(),
        ctx(1000),
    )
    .await;
    assert!(!r.ok);
    assert!(!r.timed_out, "{r}");
    assert_eq!(r.detail, "connection refused");
}

#[tokio::test]
async fn full_accept_queue_times_out() {
    if !raw_permitted() {
        return;
    }
    // Backlog 0 and one queued connection: the kernel drops further SYNs, as for a hung
    // server or a black hole.
    let (s, _fillers) = full_accept_queue().await;
    let target = s.local_addr().unwrap().as_socket().unwrap();
    let start = std::time::Instant::now();
    let r = halfopen::check(&half_open(target), &Engines::default(), ctx(300)).await;
    assert!(!r.ok);
    assert!(r.timed_out, "{r}");
    assert!(r.detail.starts_with("SYN-ACK timed out"), "{}", r.detail);
    assert!(start.elapsed() < Duration::from_millis(1000));
}

#[tokio::test]
async fn configured_source_is_used_and_must_be_local() {
    if !raw_permitted() {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = l.local_addr().unwrap();
    let engines = Engines::default();
    let mut c = ctx(1000);
    c.source = Some("127.0.0.2".parse().unwrap());
    let r = halfopen::check(&half_open(target), &engines, c).await;
    assert!(r.ok, "{r}");
    c.source = Some("198.18.255.254".parse().unwrap());
    let r = halfopen::check(&half_open(target), &engines, c).await;
    assert!(!r.ok);
    assert!(r.detail.starts_with("source:"), "{}", r.detail);
}

#[tokio::test]
async fn ipv6_loopback() {
    if !raw_permitted() {
        return;
    }
    let Ok(l) = TcpListener::bind("[::1]:0").await else {
        eprintln!("!!! SKIPPED: ::1 is not configured; IPv6 half-open check untested !!!");
        return;
    };
    let engines = Engines::default();
    let r = halfopen::check(&half_open(l.local_addr().unwrap()), &engines, ctx(1000)).await;
    assert!(r.ok, "{r}");
    let r = halfopen::check(&half_open("[::1]:1".parse().unwrap()), &engines, ctx(1000)).await;
    assert_eq!(r.detail, "connection refused", "{r}");
}

/// Many probes in flight on one shared raw socket, to several ports, each gets its own answer.
#[tokio::test]
async fn concurrent_probes_share_one_socket() {
    if !raw_permitted() {
        return;
    }
    let open = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = open.local_addr().unwrap();
    let down = closed_tcp_port();
    let engines = std::sync::Arc::new(Engines::default());
    let mut tasks = Vec::new();
    for i in 0..400 {
        let engines = engines.clone();
        let target = if i % 2 == 0 { up } else { down };
        tasks.push(tokio::spawn(async move {
            (
                i,
                halfopen::check(&half_open(target), &engines, ctx(2000)).await,
            )
        }));
    }
    for t in tasks {
        let (i, r) = t.await.unwrap();
        assert_eq!(r.ok, i % 2 == 0, "probe {i}: {r}");
    }
}
