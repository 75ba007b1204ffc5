use std::net::IpAddr;

use health::probe::icmp;
use health::{IcmpCheck, IcmpMode};

use crate::servers::ctx;

fn loopback_v6_configured() -> bool {
    std::net::UdpSocket::bind("[::1]:0").is_ok()
}

async fn ping(target: &str, mode: IcmpMode) {
    let target: IpAddr = target.parse().unwrap();
    if !icmp::icmp_permitted(target.is_ipv6()) {
        eprintln!(
            "!!! SKIPPED: ICMP sockets are not permitted here; ICMP echo to {target} untested !!!"
        );
        return;
    }
    if target.is_ipv6() && !loopback_v6_configured() {
        eprintln!("!!! SKIPPED: ::1 is not configured; ICMPv6 echo untested !!!");
        return;
    }
    let mut spec = IcmpCheck::new(target);
    spec.mode = mode;
    let r = icmp::check(&spec, ctx(1000)).await;
    if mode != IcmpMode::Auto && !r.ok && r.detail.starts_with("ICMP socket") {
        eprintln!(
            "!!! SKIPPED: {mode:?} ICMP sockets not allowed ({}) !!!",
            r.detail
        );
        return;
    }
    assert!(r.ok, "ping {target} ({mode:?}): {r}");
}

#[tokio::test]
async fn echo_v4_auto() {
    ping("127.0.0.1", IcmpMode::Auto).await;
}

#[tokio::test]
async fn echo_v4_raw() {
    ping("127.0.0.1", IcmpMode::Raw).await;
}

#[tokio::test]
async fn echo_v4_datagram() {
    ping("127.0.0.1", IcmpMode::Datagram).await;
}

#[tokio::test]
async fn echo_v6_auto() {
    ping("::1", IcmpMode::Auto).await;
}

#[tokio::test]
async fn echo_v6_raw() {
    ping("::1", IcmpMode::Raw).await;
}
