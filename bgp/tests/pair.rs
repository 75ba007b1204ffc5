//! Two speakers over an in-memory pipe on a virtual clock.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use bgp::packet::aspath::AsPath;
use bgp::packet::attributes::{
    AttributeType, AttributeValue, Community, LargeCommunity, MpNextHop,
};
use bgp::packet::notification::{CeaseSubcode, ErrorCode};
use bgp::packet::open::AS_TRANS;
use bgp::packet::update::UpdateMessage;
use bgp::{Event, Family, PeerConfig, Prefix, RouteAttributes, State};
use common::Pair;

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn updates(events: &[Event]) -> Vec<UpdateMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::UpdateReceived { update, verdict } => {
                assert_eq!(verdict.treat_as_withdraw, None);
                Some((**update).clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn ebgp_pair_establishes_announces_and_withdraws() {
    let mut pair = Pair::ebgp();
    pair.peers[0].set_route(
        p("198.18.255.1/32"),
        RouteAttributes {
            med: Some(100),
            communities: vec![Community::new(65001, 42)],
            large_communities: vec![LargeCommunity {
                global_admin: 65001,
                local_data1: 1,
                local_data2: 2,
            }],
            ..Default::default()
        },
    );
    pair.start();
    pair.establish(Duration::from_secs(5));

    let neg = pair.peers[0].negotiated().unwrap().clone();
    assert_eq!(neg.peer_as, 65002);
    assert_eq!(neg.peer_id, Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(neg.hold_time, 90);
    assert_eq!(neg.keepalive, Duration::from_secs(30));
    assert!(neg.four_octet_as && neg.route_refresh && neg.ebgp);
    assert_eq!(neg.families, vec![Family::IPV4_UNICAST]);
    assert!(neg.peer_graceful_restart.is_none());

    let ev = pair.take_events(1);
    let ups = updates(&ev);
    assert_eq!(ups.len(), 1);
    let u = &ups[0];
    assert_eq!(u.nlri, vec![p("198.18.255.1/32")]);
    assert_eq!(
        u.attribute(AttributeType::AsPath),
        Some(&AttributeValue::AsPath(AsPath::sequence([65001])))
    );
    assert_eq!(
        u.attribute(AttributeType::NextHop),
        Some(&AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, 1)))
    );
    assert_eq!(
        u.attribute(AttributeType::MultiExitDisc),
        Some(&AttributeValue::MultiExitDisc(100))
    );
    assert_eq!(
        u.attribute(AttributeType::LocalPref),
        None,
        "no LOCAL_PREF to eBGP"
    );
    assert!(ev.contains(&Event::EndOfRibReceived(Family::IPV4_UNICAST)));

    // Withdraw.
    pair.peers[0].remove_route(p("198.18.255.1/32"));
    pair.drive();
    let ups = updates(&pair.take_events(1));
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].withdrawn, vec![p("198.18.255.1/32")]);
    assert!(ups[0].attributes.is_empty() && ups[0].nlri.is_empty());

    // Keepalives keep the session up for a long time.
    pair.run_for(Duration::from_secs(600));
    assert_eq!(pair.state(0), State::Established);
    assert_eq!(pair.state(1), State::Established);
}

#[test]
fn prepend_and_route_change() {
    let mut pair = Pair::ebgp();
    pair.peers[0].set_route(p("198.18.255.1/32"), RouteAttributes::default());
    pair.start();
    pair.establish(Duration::from_secs(5));
    pair.take_events(1);
    pair.peers[0].set_route(
        p("198.18.255.1/32"),
        RouteAttributes {
            prepend: 2,
            ..Default::default()
        },
    );
    pair.drive();
    let ups = updates(&pair.take_events(1));
    assert_eq!(ups.len(), 1);
    assert_eq!(
        ups[0].attribute(AttributeType::AsPath),
        Some(&AttributeValue::AsPath(AsPath::sequence([
            65001, 65001, 65001
        ])))
    );
    // Setting the same attributes again sends nothing.
    pair.peers[0].set_route(
        p("198.18.255.1/32"),
        RouteAttributes {
            prepend: 2,
            ..Default::default()
        },
    );
    pair.drive();
    assert!(updates(&pair.take_events(1)).is_empty());
}

#[test]
fn many_prefixes_are_packed() {
    let mut pair = Pair::ebgp();
    for i in 0..2000u32 {
        let a = Ipv4Addr::from(0xC612_0000 + i);
        pair.peers[0].set_route(Prefix::host(IpAddr::V4(a)), RouteAttributes::default());
    }
    pair.start();
    pair.establish(Duration::from_secs(5));
    let ups = updates(&pair.take_events(1));
    let total: usize = ups.iter().map(|u| u.nlri.len()).sum();
    assert_eq!(total, 2000);
    // ~800 /32s fit in 4096 octets.
    assert_eq!(
        ups.len(),
        3,
        "{:?}",
        ups.iter().map(|u| u.nlri.len()).collect::<Vec<_>>()
    );
    for (_, bytes) in &pair.sent[0] {
        assert!(bytes.len() <= 16 * 1024 + 4096);
    }
}

#[test]
fn hold_timer_expires_when_peer_stops_reading() {
    let mut a = PeerConfig::new(65001, 65002, Ipv4Addr::new(192, 0, 2, 1));
    a.hold_time = 9;
    let mut b = PeerConfig::new(65002, 65001, Ipv4Addr::new(192, 0, 2, 2));
    b.passive = true;
    b.hold_time = 9;
    let mut pair = Pair::new(a, b);
    pair.start();
    pair.establish(Duration::from_secs(5));
    assert_eq!(
        pair.peers[0].negotiated().unwrap().keepalive,
        Duration::from_secs(3)
    );
    pair.take_events(0);
    pair.take_events(1);

    // b stops reading: a's keepalives pile up unread, so b's hold timer
    // fires after 9 s and b sends NOTIFICATION 4/0.
    pair.reading[1] = false;
    let t0 = pair.now;
    pair.run_for(Duration::from_secs(10));
    let ev_b = pair.take_events(1);
    let sent = ev_b
        .iter()
        .find_map(|e| match e {
            Event::NotificationSent(n) => Some((n.clone(), ())),
            _ => None,
        })
        .expect("b sent a NOTIFICATION");
    assert_eq!(sent.0.code, ErrorCode::HoldTimerExpired(0));
    let ev_a = pair.take_events(0);
    assert!(ev_a.iter().any(
        |e| matches!(e, Event::NotificationReceived(n) if n.code == ErrorCode::HoldTimerExpired(0))
    ));
    assert!(pair.now - t0 <= Duration::from_secs(10));
    assert_ne!(pair.state(1), State::Established);

    // Once b reads again, the pair re-establishes by itself (backoff).
    pair.reading[1] = true;
    pair.establish(Duration::from_secs(120));
}

#[test]
fn graceful_shutdown_ebgp_adds_community() {
    let mut pair = Pair::ebgp();
    pair.peers[0].set_route(p("198.18.255.1/32"), RouteAttributes::default());
    pair.start();
    pair.establish(Duration::from_secs(5));
    pair.take_events(1);
    pair.peers[0].set_graceful_shutdown(true);
    pair.drive();
    let ups = updates(&pair.take_events(1));
    assert_eq!(ups.len(), 1);
    assert_eq!(
        ups[0].attribute(AttributeType::Communities),
        Some(&AttributeValue::Communities(vec![
            Community::GRACEFUL_SHUTDOWN
        ]))
    );
    assert_eq!(ups[0].attribute(AttributeType::LocalPref), None);
    pair.peers[0].set_graceful_shutdown(false);
    pair.drive();
    let ups = updates(&pair.take_events(1));
    assert_eq!(ups[0].attribute(AttributeType::Communities), None);
}

#[test]
fn ibgp_local_pref_and_graceful_shutdown() {
    let a = PeerConfig::new(65000, 65000, Ipv4Addr::new(192, 0, 2, 1));
    let mut b = PeerConfig::new(65000, 65000, Ipv4Addr::new(192, 0, 2, 2));
    b.passive = true;
    let mut pair = Pair::new(a, b);
    pair.peers[0].set_route(
        p("198.18.255.1/32"),
        RouteAttributes {
            prepend: 3, // ignored on iBGP
            ..Default::default()
        },
    );
    pair.start();
    pair.establish(Duration::from_secs(5));
    let ups = updates(&pair.take_events(1));
    assert_eq!(
        ups[0].attribute(AttributeType::LocalPref),
        Some(&AttributeValue::LocalPref(100))
    );
    assert_eq!(
        ups[0].attribute(AttributeType::AsPath),
        Some(&AttributeValue::AsPath(AsPath::empty()))
    );
    pair.peers[0].set_graceful_shutdown(true);
    pair.drive();
    let ups = updates(&pair.take_events(1));
    assert_eq!(
        ups[0].attribute(AttributeType::LocalPref),
        Some(&AttributeValue::LocalPref(0))
    );
    assert_eq!(
        ups[0].attribute(AttributeType::Communities),
        Some(&AttributeValue::Communities(vec![
            Community::GRACEFUL_SHUTDOWN
        ]))
    );
}

#[test]
fn ipv6_routes_use_mp_reach_with_link_local_next_hop() {
    let mut a = PeerConfig::new(65001, 65002, Ipv4Addr::new(192, 0, 2, 1));
    a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    a.next_hop_v6 = Some("2001:db8::1".parse().unwrap());
    a.next_hop_v6_link_local = Some("fe80::1".parse().unwrap());
    let mut b = PeerConfig::new(65002, 65001, Ipv4Addr::new(192, 0, 2, 2));
    b.passive = true;
    b.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    b.next_hop_v6 = Some("2001:db8::2".parse().unwrap());
    let mut pair = Pair::new(a, b);
    pair.peers[0].set_route(p("2001:db8:ffff::1/128"), RouteAttributes::default());
    pair.peers[0].set_route(p("2001:db8:ffff::2/128"), RouteAttributes::default());
    pair.peers[0].set_route(p("198.18.255.1/32"), RouteAttributes::default());
    pair.start();
    pair.establish(Duration::from_secs(5));
    assert_eq!(
        pair.peers[0].negotiated().unwrap().families,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    let ev = pair.take_events(1);
    assert!(ev.contains(&Event::EndOfRibReceived(Family::IPV4_UNICAST)));
    assert!(ev.contains(&Event::EndOfRibReceived(Family::IPV6_UNICAST)));
    let ups = updates(&ev);
    let v6 = ups
        .iter()
        .find_map(|u| match u.attribute(AttributeType::MpReachNlri) {
            Some(AttributeValue::MpReachNlri(m)) => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(v6.family, Family::IPV6_UNICAST);
    assert_eq!(
        v6.next_hop,
        MpNextHop::Ipv6 {
            global: "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
            link_local: Some("fe80::1".parse().unwrap())
        }
    );
    assert_eq!(
        v6.nlri.prefixes(),
        &[p("2001:db8:ffff::1/128"), p("2001:db8:ffff::2/128")]
    );

    pair.peers[0].remove_route(p("2001:db8:ffff::1/128"));
    pair.drive();
    let ups = updates(&pair.take_events(1));
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].withdrawn_all(), vec![p("2001:db8:ffff::1/128")]);
    assert_eq!(ups[0].as_end_of_rib(), None);
}

#[test]
fn ipv6_not_offered_without_next_hop() {
    let mut a = PeerConfig::new(65001, 65002, Ipv4Addr::new(192, 0, 2, 1));
    a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let mut b = PeerConfig::new(65002, 65001, Ipv4Addr::new(192, 0, 2, 2));
    b.passive = true;
    b.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let mut pair = Pair::new(a, b);
    pair.peers[0].set_route(p("2001:db8:ffff::1/128"), RouteAttributes::default());
    pair.start();
    pair.establish(Duration::from_secs(5));
    assert_eq!(
        pair.peers[0].negotiated().unwrap().families,
        vec![Family::IPV4_UNICAST]
    );
    assert!(updates(&pair.take_events(1)).is_empty());
}

#[test]
fn two_octet_peer_gets_as_trans_and_as4_path() {
    let a = PeerConfig::new(4_200_000_001, 65002, Ipv4Addr::new(192, 0, 2, 1));
    let mut b = PeerConfig::new(65002, 4_200_000_001, Ipv4Addr::new(192, 0, 2, 2));
    b.passive = true;
    b.four_octet_as = false;
    let mut pair = Pair::new(a, b);
    pair.peers[0].set_route(p("198.18.255.1/32"), RouteAttributes::default());
    pair.start();
    pair.establish(Duration::from_secs(5));
    assert!(!pair.peers[0].negotiated().unwrap().four_octet_as);
    let ups = updates(&pair.take_events(1));
    assert_eq!(
        ups[0].attribute(AttributeType::AsPath),
        Some(&AttributeValue::AsPath(AsPath::sequence([AS_TRANS as u32])))
    );
    assert_eq!(
        ups[0].attribute(AttributeType::As4Path),
        Some(&AttributeValue::As4Path(AsPath::sequence([4_200_000_001])))
    );
}

#[test]
fn route_refresh_resends_everything() {
    let mut pair = Pair::ebgp();
    pair.peers[0].set_route(p("198.18.255.1/32"), RouteAttributes::default());
    pair.peers[0].set_route(p("198.18.255.2/32"), RouteAttributes::default());
    pair.start();
    pair.establish(Duration::from_secs(5));
    pair.take_events(1);
    // b asks a for a refresh (crafted on b's connection).
    let conn = pair.peers[0].established_connection().unwrap();
    let rr = bgp::packet::Message::RouteRefresh(
        bgp::packet::route_refresh::RouteRefreshMessage::new(Family::IPV4_UNICAST),
    );
    let now = pair.now;
    pair.peers[0].handle_data(now, conn, &rr.encode(Default::default()).unwrap());
    pair.drive();
    assert!(pair
        .take_events(0)
        .contains(&Event::RouteRefreshRequested(Family::IPV4_UNICAST)));
    let ups = updates(&pair.take_events(1));
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].nlri.len(), 2);
}

#[test]
fn both_active_collision_leaves_one_session() {
    let a = PeerConfig::new(65001, 65002, Ipv4Addr::new(192, 0, 2, 1));
    let b = PeerConfig::new(65002, 65001, Ipv4Addr::new(192, 0, 2, 2));
    let mut pair = Pair::new(a, b);
    pair.start();
    pair.establish(Duration::from_secs(5));
    pair.run_for(Duration::from_secs(60));
    assert_eq!(pair.state(0), State::Established);
    assert_eq!(pair.links.len(), 1, "exactly one connection survives");
    let ev: Vec<Event> = pair
        .take_events(0)
        .into_iter()
        .chain(pair.take_events(1))
        .collect();
    let cease = ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::NotificationSent(n) if n.code == cease)));
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::CollisionResolved { .. })));
    // b has the higher BGP identifier, so the surviving connection is the
    // one b dialled: on a it is the inbound one.
    let kept_on_b = pair.links[0]
        .ends
        .iter()
        .find(|e| e.side == 1)
        .unwrap()
        .conn;
    assert_eq!(pair.peers[1].established_connection(), Some(kept_on_b));
}

#[test]
fn refused_connections_back_off_exponentially() {
    let mut pair = Pair::ebgp();
    pair.listening[1] = false;
    pair.start();
    pair.run_for(Duration::from_secs(300));
    let dials: Vec<_> = pair.sent[0].iter().collect();
    assert!(dials.is_empty(), "no bytes without a connection");
    // Count closes of dial attempts on a.
    let attempts = pair.events[0]
        .iter()
        .filter(|e| matches!(e, Event::ConnectionClosed { .. }))
        .count();
    // 1,2,4,8,16,32,60,60,60,60 s (jittered 0.75-1.0): about 10 in 300 s,
    // far from one per second.
    assert!((8..=14).contains(&attempts), "{attempts} attempts");
    pair.listening[1] = true;
    pair.establish(Duration::from_secs(70));
}

#[test]
fn stop_sends_cease_with_shutdown_communication() {
    let mut pair = Pair::ebgp();
    pair.start();
    pair.establish(Duration::from_secs(5));
    let now = pair.now;
    pair.peers[0].stop(now, Some("maintenance"));
    pair.drive();
    let ev = pair.take_events(1);
    let n = ev
        .iter()
        .find_map(|e| match e {
            Event::NotificationReceived(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        n.code,
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(n.shutdown_communication(), Some("maintenance"));
    assert_eq!(pair.state(0), State::Idle);
    assert_eq!(pair.state(1), State::Active, "passive side waits again");
}
