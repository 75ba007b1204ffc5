//! Issue 14's proof as a test: the ECMP cluster drill (`applianced drill --scenario
//! ecmp-cluster`) with 200 connections, behind FRR and behind BIRD 2, in DR and tunnel mode.
//! Three nodes announce one VIP; the router spreads flows over them with its L4 hash; nodes are
//! drained, crashed, added and restarted; every connection must survive every event, and the
//! flows that moved must have been taken over by nodes that never saw them (else the events
//! proved nothing). The counterfactual, nodes with Maglev tables of their own, must break
//! connections: that is what the consistent choice buys, and it shows the drill sees a break.
//!
//! The tunnel-mode backends decapsulate with an XDP program of the drill's own (the kernel here
//! has no `ipip` module); a test of its own checks it and the DR backends' ARP suppression.

use std::net::Ipv4Addr;

use appliance::drill::cluster::backend::{self, Service};
use appliance::drill::cluster::report::Row;
use appliance::drill::cluster::router::Flavour;
use appliance::drill::cluster::topology::{Bfd, Mode, HOLD_TIME_S};
use appliance::drill::cluster::{probe, run_one, Options};
use netns_tests::Lab;

const CONNECTIONS: usize = 200;

fn options(bfd: Option<Bfd>, per_node_seed: bool) -> Options {
    Options {
        routers: Flavour::ALL.to_vec(),
        modes: Mode::ALL.to_vec(),
        connections: CONNECTIONS,
        bfd,
        per_node_seed,
        seed: 1,
    }
}

/// Runs the drill behind `router` in `mode`; fails on a run that could not finish.
fn drill(router: Flavour, mode: Mode, opts: &Options) -> Vec<Row> {
    let lab = Lab::new(&format!("cluster_{}_{}", router.name(), mode.name()));
    let (rows, error, hz) = run_one(lab, router, mode, opts, &mut |r| {
        println!(
            "{} {} {:<11} {:<3} {}/{} survived, {} picked up, converged {:?} ms: {}",
            r.router,
            r.mode,
            r.event,
            r.node,
            r.survived,
            r.connections,
            r.picked_up,
            r.router_converged_ms,
            r.detail
        )
    });
    println!("FIB dumped at {hz:.0} Hz");
    assert!(
        error.is_none(),
        "{} {}: {error:?}",
        router.name(),
        mode.name()
    );
    assert!(hz >= 1000.0, "the FIB was dumped at only {hz:.0} Hz");
    assert_eq!(rows.len(), 5, "{rows:#?}");
    rows
}

/// Every connection survives every event, and every event moved flows between nodes.
fn survives(router: Flavour) {
    let opts = options(None, false);
    for mode in Mode::ALL {
        let rows = drill(router, mode, &opts);
        for r in &rows {
            assert_eq!(
                (r.connections, r.survived),
                (CONNECTIONS, CONNECTIONS),
                "{} {} {}: {:?}",
                r.router,
                r.mode,
                r.event,
                r.broken
            );
            if r.event != "established" {
                assert!(
                    r.picked_up > 0,
                    "{} {} {}: no flow moved to another node",
                    r.router,
                    r.mode,
                    r.event
                );
            }
        }
        let ms = |event: &str| {
            rows.iter()
                .find(|r| r.event == event)
                .and_then(|r| r.router_converged_ms)
                .unwrap_or(f64::MAX)
        };
        // A drain is an UPDATE; without BFD a silent node's path lasts its hold time.
        assert!(ms("drain") < 1000.0, "drain: {} ms", ms("drain"));
        let hold = (HOLD_TIME_S * 1000) as f64;
        assert!(ms("crash") <= hold + 1000.0, "crash: {} ms", ms("crash"));
    }
}

#[test]
fn dsr_connections_survive_every_event_behind_frr() {
    survives(Flavour::Frr);
}

#[test]
fn dsr_connections_survive_every_event_behind_bird() {
    survives(Flavour::Bird);
}

#[test]
fn nodes_with_maglev_tables_of_their_own_break_the_connections_that_move() {
    let rows = drill(Flavour::Bird, Mode::Dr, &options(None, true));
    let broken: usize = rows.iter().map(Row::broken_count).sum();
    assert!(broken > 0, "nothing broke: {rows:#?}");
    // Broken by the backends that never saw them, which reset them.
    assert!(
        rows.iter().any(|r| r.broken.contains_key("reset")),
        "{rows:#?}"
    );
}

/// With BFD at 50 ms x 3 on the router sessions, a crashed node's path is gone from the
/// router's FIB within 250 ms (issue 14's target), behind both routers.
#[test]
fn bfd_cuts_a_crashed_nodes_path_within_250_ms() {
    let bfd = Bfd {
        interval_ms: 50,
        multiplier: 3,
    };
    let opts = options(Some(bfd), false);
    for router in Flavour::ALL {
        let rows = drill(router, Mode::Dr, &opts);
        let crash = rows.iter().find(|r| r.event == "crash").unwrap();
        let ms = crash.router_converged_ms.unwrap();
        assert!(
            ms <= 250.0,
            "{}: crash path gone after {ms} ms",
            router.name()
        );
        assert!(
            rows.iter().all(|r| r.survived == r.connections),
            "{rows:#?}"
        );
    }
}

/// The backends alone, from a sender on their segment: a tunnel backend answers an echo sent
/// to the VIP inside IP-in-IP (its XDP decapsulation), one without the decapsulation does not;
/// both answer for the VIP when they get a packet to it (DR); and neither answers ARP for it.
#[test]
fn backends_decapsulate_ip_in_ip_and_keep_the_vip_to_themselves() {
    let lab = Lab::for_current_test();
    let (n, b1, b2) = (lab.netns("n"), lab.netns("b1"), lab.netns("b2"));
    lab.lan(&[&n, &b1, &b2], "198.18.41.0/24");
    let addr = |h: u8| Ipv4Addr::new(198, 18, 41, h);
    let vip = Ipv4Addr::new(198, 18, 42, 1);
    let svc = Service {
        vip,
        port: 8080,
        router: addr(1),
    };
    let tunnel = backend::start(&lab, &b1, "b1", addr(2), svc, true);
    let plain = backend::start(&lab, &b2, "b2", addr(3), svc, false);
    assert!(tunnel.decap.is_some() && plain.decap.is_none());
    probe::tunnel(n.name(), addr(1), addr(2), vip).unwrap();
    let e = probe::tunnel(n.name(), addr(1), addr(3), vip).unwrap_err();
    assert!(e.contains("IP-in-IP"), "{e}");
    probe::direct(&n, addr(2), vip).unwrap();
    probe::direct(&n, addr(3), vip).unwrap();
    // On-link, the VIP would need an ARP answer: arp_ignore = 1 keeps both backends silent.
    n.add_route(&format!("{vip}/32 dev eth0"));
    assert!(
        !n.ping(&vip.to_string()),
        "a backend answered ARP for the VIP"
    );
    let neigh = n.ip_ok(&["neigh", "show", &vip.to_string()]);
    assert!(!neigh.contains("lladdr"), "{neigh}");
}
