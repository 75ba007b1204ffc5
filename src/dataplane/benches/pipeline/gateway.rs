//! (d), the SNAT gateway and FullNAT cases: the packet path of one worker over frames in
//! memory, no IO.
//!
//! - *site → Internet*: Ethernet + outer IPv4 + GRE with an RFC 2890 key + inner IPv4/UDP from
//!   one of [`SITES`] tunnels; decapsulated, source-translated to a pool address and port,
//!   forwarded to the default router.
//! - *Internet → site*: the server's reply to the pool address and port; translated back and
//!   GRE-encapsulated toward the site's gateway (the frame grows by 28 bytes into the room
//!   behind it, as in a UMEM chunk).
//! - *new sessions*: every frame a new inside endpoint: ownership check, port allocation,
//!   endpoint-independent mapping and conntrack insert.
//! - *FullNAT*: a service whose source is taken from a pool: established (client → VIP and the
//!   backend's reply, alternating) and new flows.
//!
//! Frames go through the AF_XDP worker's own packet path, [`dataplane::batch::WorkerLoop`]: in
//! groups of [`PREPARE_GROUP`], each prepared (parsed, hashed), the group's conntrack entries
//! prefetched, then each finished in its slot with room to grow and sent; housekeeping once per
//! millisecond. `, batch` rows use [`Pipeline::process_batch`] for comparison (its frames
//! cannot grow, so it serves only the decapsulating direction).
//!
//! The benchmarked pipeline is worker 0 of `workers`: it owns the ports `p` with
//! `p % workers == 0` of every pool address, and only inside endpoints (and FullNAT clients)
//! whose hash it owns are used, as the steering and handoff would deliver them. Pools are sized
//! from that share so that the new-session runs cannot run out of ports; exhaustion, should it
//! happen anyway, is printed and fails the run.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use dataplane::batch::BATCH;
use dataplane::counters::{Counter, DropReason};
use dataplane::frames;
use dataplane::gateway::{PoolSpec, TunnelSpec};
use dataplane::pipeline::{Pipeline, Verdict, PREPARE_GROUP};
use dataplane::snapshot::{Snapshot, Spec};
use dataplane::snat::ports::PortSpace;
use dataplane::testkit::memory::{Frames, SLOT};
use dataplane::testkit::web::{self, VIP};
use dataplane::testkit::{self, ip_of as ipv4, l2, l4_ports, mac, route, two_interfaces};
use dataplane::wire::tcp::flags::ACK;
use dataplane::wire::{proto, GrePacket, Ipv4Packet};

use crate::measure::{measure, Api, Run};

pub const SITES: u32 = 4;
const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 1);
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 254);
const SERVERS: u32 = 100;
/// UDP payload: the inner datagram is 46 bytes, the translated frame the 60-byte minimum.
const PAYLOAD: [u8; 18] = [0x55; 18];
const PORTS: (u16, u16) = (1024, 65535);
const IF_OUT: u16 = 0;
const IF_IN: u16 = 1;

fn site(s: u32) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 8, 10 + s as u8)
}

fn key(s: u32) -> u32 {
    1000 + s
}

/// Session `i`'s inside endpoint (behind site `i % SITES`): 4096 ports per host.
fn inside(i: u32) -> SocketAddrV4 {
    let base = u32::from(Ipv4Addr::new(198, 18, 128, 0));
    SocketAddrV4::new(Ipv4Addr::from(base + (i >> 12)), 20000 + (i & 0xfff) as u16)
}

fn server(i: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(198, 19, 1, 1 + (i % SERVERS) as u8), 443)
}

/// FullNAT flow `i`'s client, in 198.19.128.0/17.
fn client(i: u32) -> SocketAddrV4 {
    let base = u32::from(Ipv4Addr::new(198, 19, 128, 0));
    SocketAddrV4::new(Ipv4Addr::from(base + (i & 0x7fff)), 1024 + (i >> 15) as u16)
}

/// Pool `pool`'s `n`th address: the SNAT pool in 198.19.0.0/24, FullNAT's in 198.19.2.0/24.
fn pool_addr(pool: u8, n: u32) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 2 * pool, 1 + n as u8)
}

/// Ports per pool address in worker 0's share.
pub fn share(workers: u16) -> u32 {
    PortSpace::new(PORTS.0, PORTS.1, workers, 0).len()
}

/// Addresses for `sessions` ports in worker 0's share, and one spare.
pub fn addrs_for(sessions: u32, workers: u16) -> u32 {
    sessions.div_ceil(share(workers)) + 1
}

fn snapshot(workers: u16, sessions: u32) -> Snapshot {
    let n = addrs_for(sessions, workers);
    assert!(n < 250, "a pool in one /24");
    let pool = |p: u8, name: &str| PoolSpec {
        name: name.into(),
        addrs: (0..n).map(|a| pool_addr(p, a)).collect(),
        ports: PORTS,
        timeouts: Default::default(),
        sources: vec![],
    };
    let spec = Spec {
        locals: Vec::new(),
        services: vec![web::service(Some(1))],
        interfaces: two_interfaces("outside", "inside"),
        routes: vec![
            route([198, 18, 8, 0], 24, None, IF_IN),
            route([198, 18, 2, 0], 24, None, IF_IN),
            route([0, 0, 0, 0], 0, Some(ROUTER), IF_OUT),
        ],
        neighbours: (0..SITES)
            .map(|s| (site(s), mac(0x10 + s as u8)))
            .chain(web::backend_neighbours())
            .chain([(ROUTER, mac(0xfe))])
            .collect(),
        workers,
        hash_seed: 42,
        cluster_seed: 0,
        tunnels: (0..SITES)
            .map(|s| TunnelSpec {
                name: format!("site-{s}"),
                local: LOCAL,
                remote: site(s),
                key: Some(key(s)),
                mtu: 1400,
                pool: Some(0),
                inside: vec![],
                routed6: vec![],
                nat64_sources: vec![],
            })
            .collect(),
        pools: vec![pool(0, "internet"), pool(1, "fullnat")],
    };
    Snapshot::build(&spec, None).expect("valid snapshot")
}

/// The benchmarked pipeline: worker 0's, with room for `capacity` flows.
fn pipeline(capacity: u32) -> Pipeline {
    testkit::pipeline(0, capacity)
}

/// Session `i`'s packet from its site: 88 bytes.
fn from_site(i: u32) -> Vec<u8> {
    let s = i % SITES;
    let inner = frames::udp_datagram(inside(i), server(i), &PAYLOAD);
    frames::ethernet(
        l2(0x10 + s as u8, 0xa1),
        &frames::gre_packet(site(s), LOCAL, Some(key(s)), &inner),
    )
}

/// The server's reply to session `i`'s external endpoint: 60 bytes.
fn from_server(i: u32, ext: SocketAddrV4) -> Vec<u8> {
    frames::ethernet(
        l2(0xfe, 0xa0),
        &frames::udp_datagram(server(i), ext, &PAYLOAD),
    )
}

fn from_client(i: u32) -> Vec<u8> {
    frames::ethernet(
        l2(0xfe, 0xa0),
        &frames::tcp_segment(client(i), SocketAddrV4::new(VIP, 80), ACK, b""),
    )
}

/// The first `n` candidates (`frame(0)`, `frame(1)`, …) worker 0 owns: with one worker all of
/// them; otherwise those a scratch worker 0 does not hand over.
fn owned(snap: &Snapshot, n: u32, frame: impl Fn(u32) -> Vec<u8>) -> Vec<u32> {
    if snap.workers <= 1 {
        return (0..n).collect();
    }
    let mut scratch = pipeline(n);
    let mut buf = [0u8; SLOT];
    let mut out = Vec::with_capacity(n as usize);
    let mut i = 0;
    while out.len() < n as usize {
        let f = frame(i);
        buf[..f.len()].copy_from_slice(&f);
        match scratch.process_frame(snap, 0, &mut buf, f.len()).0 {
            Verdict::Handoff { .. } => {}
            Verdict::Tx { .. } => out.push(i),
            v => panic!("candidate {i}: {v:?}"),
        }
        i += 1;
    }
    out
}

/// Checks a translated site → Internet frame; returns its external endpoint.
fn check_out(f: &[u8], workers: u16) -> SocketAddrV4 {
    assert!(frames::checksums_ok(f), "checksums");
    assert_eq!(&f[0..6], &mac(0xfe).0, "to the router");
    let ip = ipv4(f);
    assert_eq!(ip.protocol(), proto::UDP);
    let (sport, dport) = l4_ports(&ip);
    assert_eq!(dport, 443);
    assert_eq!(ip.src().octets()[..3], [198, 19, 0], "from the SNAT pool");
    assert_eq!(sport % workers, 0, "a port of worker 0's share");
    SocketAddrV4::new(ip.src(), sport)
}

/// Checks a reply encapsulated toward a site.
fn check_back(f: &[u8]) {
    assert_eq!(f.len(), 88, "encapsulated");
    assert!(frames::checksums_ok(f), "checksums");
    let outer = ipv4(f);
    assert_eq!(outer.protocol(), proto::GRE);
    assert_eq!(outer.src(), LOCAL);
    let s = u32::from(outer.dst().octets()[3] - 10);
    assert_eq!(outer.dst(), site(s));
    assert_eq!(&f[0..6], &mac(0x10 + s as u8).0, "to the site gateway");
    let g = GrePacket::new_checked(outer.payload()).expect("GRE");
    assert_eq!(g.key(), Some(key(s)));
    let inner = Ipv4Packet::new_checked(g.payload()).expect("inner IPv4");
    assert_eq!(inner.dst().octets()[..2], [198, 18], "to the inside host");
    assert_eq!(l4_ports(&inner).0, 443);
}

/// Checks a FullNAT frame, either way.
fn check_fullnat(f: &[u8], workers: u16) {
    assert!(frames::checksums_ok(f), "checksums");
    let ip = ipv4(f);
    let to_backend = ip.dst().octets()[..3] == [198, 18, 2];
    if to_backend {
        assert_eq!(
            ip.src().octets()[..3],
            [198, 19, 2],
            "from the FullNAT pool"
        );
        assert_eq!(l4_ports(&ip).0 % workers, 0, "a port of worker 0's share");
    } else {
        assert_eq!(ip.src(), VIP);
        assert_eq!(ip.dst().octets()[..2], [198, 19], "to the client");
    }
}

/// A case's result line.
pub fn line(case: &str, r: &Run, note: &str) {
    println!(
        "{:<46} {:>10.1} {:>9.2} {:>12} {:>8}   {note}",
        case,
        r.ns_per_packet(),
        r.mpps(),
        r.packets,
        r.allocs
    );
}

fn delta(p: &Pipeline, c: Counter, before: u64) -> u64 {
    p.counters().get(c) - before
}

/// Established SNAT sessions, each way, in order (and shuffled if `shuffle`).
pub fn established(sessions: u32, workers: u16, shuffle: bool, min: Duration, a: fn() -> u64) {
    let snap = snapshot(workers, sessions);
    let ids = owned(&snap, sessions, from_site);
    let mut p = pipeline(sessions);
    let mut out = Frames::new(88, ids.len());
    let mut back = Frames::new(60, ids.len());
    let mut buf = [0u8; SLOT];
    for &i in &ids {
        let f = from_site(i);
        out.push(&f);
        buf[..f.len()].copy_from_slice(&f);
        let (v, len) = p.process_frame(&snap, 0, &mut buf, f.len());
        assert_eq!(v, Verdict::Tx { iface: IF_OUT }, "session {i} opened");
        assert_eq!(len, 60, "decapsulated to the inner datagram");
        back.push(&from_server(i, check_out(&buf[..len], workers)));
    }
    assert_eq!(p.snat().mappings.len(), ids.len());
    if shuffle {
        out = out.shuffled(1);
        back = back.shuffled(1);
    }
    let random = if shuffle { ", random" } else { "" };
    let mut cases = vec![("out", Api::Worker, &out), ("back", Api::Worker, &back)];
    if shuffle {
        // For comparison: what the batch API's prefetch does for the direction it can take.
        cases.push(("out", Api::Batch, &out));
    }
    for (dir, api, t) in cases {
        let (dec, enc) = (
            p.counters().get(Counter::GreDecapsulated),
            p.counters().get(Counter::GreEncapsulated),
        );
        let r = measure(&mut p, &snap, t, min, false, api, a);
        assert_eq!(r.tx, r.packets, "every frame translated");
        if dir == "out" {
            assert!(api == Api::Batch || r.last.len() == 60, "decapsulated");
            check_out(&r.last[..60], workers);
            assert_eq!(delta(&p, Counter::GreDecapsulated, dec), r.packets);
        } else {
            check_back(&r.last);
            assert_eq!(delta(&p, Counter::GreEncapsulated, enc), r.packets);
        }
        let batch = if api == Api::Batch { ", batch" } else { "" };
        line(
            &format!("gre+snat {dir}, {sessions} sessions{random}{batch}"),
            &r,
            &format!("(frame copy {:.1} ns)", r.copy_ns),
        );
    }
}

/// New SNAT sessions: every frame from a new inside endpoint, into an empty table.
pub fn new_sessions(sessions: u32, workers: u16, a: fn() -> u64) {
    let snap = snapshot(workers, sessions);
    let ids = owned(&snap, sessions, from_site);
    let mut t = Frames::new(88, ids.len());
    for &i in &ids {
        t.push(&from_site(i));
    }
    let mut p = pipeline(sessions);
    // The first snapshot sizes the port maps (per snapshot, not per packet): before measuring.
    p.process_batch(&snap, 0, std::iter::empty(), &mut []);
    let r = measure(&mut p, &snap, &t, Duration::ZERO, true, Api::Worker, a);
    let exhausted = p.counters().drops(DropReason::PortsExhausted);
    let ports = addrs_for(sessions, workers) * share(workers);
    line(
        &format!("gre+snat new sessions, {sessions}"),
        &r,
        &format!(
            "(ports exhausted: {exhausted}; pool {ports} ports, {} in use)",
            p.snat().mappings.len()
        ),
    );
    assert_eq!(exhausted, 0, "the pool ran out of ports");
    assert_eq!(r.tx, r.packets, "every session opened");
    assert_eq!(p.snat().mappings.len(), ids.len());
    check_out(&r.last, workers);
}

/// FullNAT: established flows (client and backend alternating) and new flows.
pub fn fullnat(flows: u32, workers: u16, shuffle: bool, min: Duration, a: fn() -> u64) {
    let snap = snapshot(workers, flows);
    let ids = owned(&snap, flows, from_client);
    let mut p = pipeline(flows);
    let mut t = Frames::new(60, 2 * ids.len());
    let mut buf = [0u8; SLOT];
    for &i in &ids {
        let f = from_client(i);
        t.push(&f);
        buf[..f.len()].copy_from_slice(&f);
        let (v, len) = p.process_frame(&snap, 0, &mut buf, f.len());
        assert_eq!(v, Verdict::Tx { iface: IF_IN }, "flow {i} opened");
        check_fullnat(&buf[..len], workers);
        let ip = ipv4(&buf[..len]);
        let (lport, bport) = l4_ports(&ip);
        t.push(&frames::ethernet(
            l2(0xb0 + ip.dst().octets()[3] - 1, 0xa1),
            &frames::tcp_segment(
                SocketAddrV4::new(ip.dst(), bport),
                SocketAddrV4::new(ip.src(), lport),
                ACK,
                b"",
            ),
        ));
    }
    if shuffle {
        t = t.shuffled(2);
    }
    let r = measure(&mut p, &snap, &t, min, false, Api::Worker, a);
    assert_eq!(r.tx, r.packets, "every frame translated");
    check_fullnat(&r.last, workers);
    line(
        &format!(
            "fullnat, {flows} flows{}",
            if shuffle { ", random" } else { "" }
        ),
        &r,
        &format!("(frame copy {:.1} ns)", r.copy_ns),
    );
}

pub fn fullnat_new(flows: u32, workers: u16, a: fn() -> u64) {
    let snap = snapshot(workers, flows);
    let ids = owned(&snap, flows, from_client);
    let mut t = Frames::new(60, ids.len());
    for &i in &ids {
        t.push(&from_client(i));
    }
    let mut p = pipeline(flows);
    p.process_batch(&snap, 0, std::iter::empty(), &mut []);
    let r = measure(&mut p, &snap, &t, Duration::ZERO, true, Api::Worker, a);
    let exhausted = p.counters().drops(DropReason::PortsExhausted);
    line(
        &format!("fullnat new flows, {flows}"),
        &r,
        &format!("(ports exhausted: {exhausted})"),
    );
    assert_eq!(exhausted, 0, "the pool ran out of ports");
    assert_eq!(r.tx, r.packets, "every flow opened");
    check_fullnat(&r.last, workers);
}

/// All gateway cases: 1 000 and `big` sessions.
pub fn run(big: u32, workers: u16, min: Duration, allocs: fn() -> u64) {
    println!(
        "(d) SNAT gateway and FullNAT, worker 0 of {workers}, the worker's packet path: batches of \
         {BATCH} in groups of {PREPARE_GROUP} prepared, prefetched, finished, housekeeping once per \
         ms (\", batch\": process_batch)"
    );
    println!(
        "    out: 88-byte frames (IPv4 + GRE with key + IPv4/UDP, {SITES} tunnels) -> 60; \
         back: 60 -> 88; fullnat: 60-byte TCP ACKs"
    );
    println!(
        "    pools: {} addresses x {} ports of worker 0 (port % {workers} == 0) for {big} sessions",
        addrs_for(big, workers),
        share(workers)
    );
    println!(
        "{:<46} {:>10} {:>9} {:>12} {:>8}",
        "case", "ns/packet", "Mpps", "packets", "allocs"
    );
    for (n, shuffle) in [(1_000, false), (big, false), (big, true)] {
        established(n, workers, shuffle, min, allocs);
    }
    new_sessions(big, workers, allocs);
    for (n, shuffle) in [(1_000, false), (big, true)] {
        fullnat(n, workers, shuffle, min, allocs);
    }
    fullnat_new(big, workers, allocs);
}
