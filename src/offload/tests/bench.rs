//! The program alone, in memory: `BPF_PROG_TEST_RUN` ns per packet for each case.
//!
//!     cargo test -p xdp-offload --test bench -- --ignored --nocapture
//!
//! The kernel does not restore the frame between the runs of one `repeat`, so a forwarded
//! frame is seen again already rewritten. Two measurements, each over RUNS packets:
//! - "in a loop" (OFFLOAD_BENCH_LOOP_PACKETS, default 250,000 packets): entries in pairs, the second undoing the first (A -> B, B -> A; GRE decap
//!   then encap back), so that every run forwards; a frame with TTL 255 goes round 250 times
//!   per call (`repeat` 250), and the stats confirm that every run forwarded. This is the
//!   program's own cost, the kernel's timing spread over 250 runs.
//! - "single runs": one rule, RUNS calls with `repeat` 1; the mean includes the kernel's
//!   timing of a single run, measured on a frame the program leaves alone (a non-IPv4 frame,
//!   `repeat` RUNS against RUNS single runs) and subtracted in the last column.

mod common;

use common::*;
use dataplane::wire::proto;
use xdp_offload::{action, Offload, Stat};

const DEFAULT_RUNS: u32 = 1_000_000;

/// Packets per case of the loop measurement: each call with `repeat` > 1 swaps the kernel's
/// XDP dispatcher (synchronize_rcu, milliseconds; outside the measured time), so a million
/// packets (4,000 calls) take minutes per case.
const DEFAULT_LOOP_PACKETS: u32 = 250_000;

fn loop_packets() -> u32 {
    std::env::var("OFFLOAD_BENCH_LOOP_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_LOOP_PACKETS)
}

fn runs() -> u32 {
    std::env::var("OFFLOAD_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_RUNS)
}

/// Mean kernel-measured ns per run over `n` single runs, and the action every run returned.
fn single_runs(o: &Offload, frame: &[u8], n: u32) -> (f64, u32) {
    let mut total = 0u64;
    let mut retval = None;
    for _ in 0..n {
        let run = o.test_run(frame, LO).expect("test run");
        assert!(retval.is_none_or(|r| r == run.retval), "the action changed");
        retval = Some(run.retval);
        total += u64::from(run.duration_ns);
    }
    (total as f64 / f64::from(n), retval.unwrap_or(u32::MAX))
}

struct Case {
    name: &'static str,
    key: Key,
    action: Action,
    frame: Vec<u8>,
}

fn nat(protocol: u8, echo_request: bool) -> Rewrite {
    Rewrite {
        proto: protocol,
        echo_request,
        src: CLIENT,
        dst: VIP,
        sport: 40000,
        dport: if protocol == proto::ICMP { 0 } else { 80 },
        ttl: 64,
        new_src: CLIENT,
        new_dst: BACKEND,
        new_sport: 40000,
        new_dport: if protocol == proto::ICMP { 0 } else { 8080 },
    }
}

const PAYLOAD: &[u8] = &[0x5a; 64];

fn plain(name: &'static str, r: Rewrite) -> Case {
    Case {
        name,
        key: r.key(),
        action: r.action(LO),
        frame: frame_in(&r.packet(PAYLOAD)),
    }
}

fn cases() -> Vec<Case> {
    let mut v = vec![
        plain("NAT TCP", nat(proto::TCP, true)),
        plain("NAT UDP", nat(proto::UDP, true)),
        plain("NAT ICMP echo", nat(proto::ICMP, true)),
        plain(
            "FullNAT TCP",
            Rewrite {
                new_src: LOCAL,
                new_sport: 61000,
                ..nat(proto::TCP, true)
            },
        ),
        plain(
            "DR (MACs, TTL)",
            Rewrite {
                new_dst: VIP,
                new_dport: 80,
                ..nat(proto::TCP, true)
            },
        ),
    ];

    let r = Rewrite {
        new_src: LOCAL,
        new_sport: 61000,
        ..nat(proto::TCP, true)
    };
    let mut a = r.action(LO);
    a.decap_len = 28;
    v.push(Case {
        name: "GRE (key) decap + SNAT",
        key: r.key().in_gre(SITE, TUNNEL_LOCAL, Some(9)),
        action: a,
        frame: frame_in(&dataplane::frames::gre_packet(
            SITE,
            TUNNEL_LOCAL,
            Some(9),
            &r.packet(PAYLOAD),
        )),
    });

    let mut a = r.action(LO);
    a.encap = 1;
    (a.outer, a.encap_len) = gre_template(TUNNEL_LOCAL, SITE, Some(9));
    v.push(Case {
        name: "SNAT + GRE (key) encap",
        key: r.key(),
        action: a,
        frame: frame_in(&r.packet(PAYLOAD)),
    });

    let dsr = Rewrite {
        new_dst: VIP,
        new_dport: 80,
        ..nat(proto::TCP, true)
    };
    let mut a = dsr.action(LO);
    a.encap = 2;
    (a.outer, a.encap_len) = ipip_template(LOCAL, BACKEND);
    v.push(Case {
        name: "IPIP encap (DSR)",
        key: dsr.key(),
        action: a,
        frame: frame_in(&dsr.packet(PAYLOAD)),
    });

    let mut a = r.action(LO);
    a.decap_len = 24;
    a.encap = 1;
    (a.outer, a.encap_len) = gre_template(TUNNEL_LOCAL, SITE, None);
    v.push(Case {
        name: "GRE decap + rewrite + GRE encap",
        key: r.key().in_gre(SITE, TUNNEL_LOCAL, None),
        action: a,
        frame: frame_in(&dataplane::frames::gre_packet(
            SITE,
            TUNNEL_LOCAL,
            None,
            &r.packet(PAYLOAD),
        )),
    });
    v
}

/// The reverse of `r` (what it produced, back to what it was).
fn undo(r: &Rewrite) -> Rewrite {
    Rewrite {
        src: r.new_src,
        dst: r.new_dst,
        sport: r.new_sport,
        dport: r.new_dport,
        new_src: r.src,
        new_dst: r.dst,
        new_sport: r.sport,
        new_dport: r.dport,
        ..*r
    }
}

/// Runs `frame` round the loop of `entries` RUNS times in all, 250 per call; ns per packet.
fn in_a_loop(o: &mut Offload, entries: &[(Key, Action)], frame: &[u8], n: u32) -> f64 {
    const ROUND: u32 = 250;
    for (k, a) in entries {
        o.insert(&k.bytes(), &a.bytes()).unwrap();
    }
    let calls = (n / ROUND).max(1);
    let mut total = 0u64;
    for _ in 0..calls {
        let before = o.stats().unwrap()[Stat::Forwarded as usize];
        let run = o.test_run_repeat(frame, LO, ROUND).unwrap();
        assert_eq!(run.retval, action::TX);
        let forwarded = o.stats().unwrap()[Stat::Forwarded as usize] - before;
        assert_eq!(forwarded, u64::from(ROUND), "every run forwarded");
        total += u64::from(run.duration_ns) * u64::from(ROUND);
    }
    for (k, _) in entries {
        o.remove(&k.bytes()).unwrap();
    }
    total as f64 / f64::from(calls * ROUND)
}

/// A case of the loop measurement: its name, the entries of the loop, the frame sent round.
type Loop = (&'static str, Vec<(Key, Action)>, Vec<u8>);

fn loops() -> Vec<Loop> {
    let ttl255 = |r: Rewrite| Rewrite { ttl: 255, ..r };
    let pair = |name, r: Rewrite| {
        let r = ttl255(r);
        let back = undo(&r);
        let entries = vec![(r.key(), r.action(LO)), (back.key(), back.action(LO))];
        (name, entries, frame_in(&r.packet(PAYLOAD)))
    };
    let dr = ttl255(Rewrite {
        new_dst: VIP,
        new_dport: 80,
        ..nat(proto::TCP, true)
    });
    let mut v = vec![
        pair("NAT TCP", nat(proto::TCP, true)),
        pair("NAT UDP", nat(proto::UDP, true)),
        pair("NAT ICMP echo", nat(proto::ICMP, true)),
        pair(
            "FullNAT TCP",
            Rewrite {
                new_src: LOCAL,
                new_sport: 61000,
                ..nat(proto::TCP, true)
            },
        ),
        (
            "DR (MACs, TTL)",
            vec![(dr.key(), dr.action(LO))],
            frame_in(&dr.packet(PAYLOAD)),
        ),
    ];
    // GRE (key) in, decapsulated and SNATed; the reply direction's rule takes it back into
    // the same tunnel, so the frame alternates between the two.
    let r = ttl255(Rewrite {
        new_src: LOCAL,
        new_sport: 61000,
        ..nat(proto::TCP, true)
    });
    let mut decap = r.action(LO);
    decap.decap_len = 28;
    let back = undo(&r);
    let mut encap = back.action(LO);
    encap.encap = 1;
    (encap.outer, encap.encap_len) = gre_template(SITE, TUNNEL_LOCAL, Some(9));
    v.push((
        "GRE (key) decap + SNAT / SNAT + encap",
        vec![
            (r.key().in_gre(SITE, TUNNEL_LOCAL, Some(9)), decap),
            (back.key(), encap),
        ],
        frame_in(&dataplane::frames::gre_packet(
            SITE,
            TUNNEL_LOCAL,
            Some(9),
            &r.packet(PAYLOAD),
        )),
    ));
    v
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn ns_per_packet() {
    let Some(mut o) = load() else { return };
    let n = runs();

    // The timing overhead of a single run, from a frame the program leaves alone.
    let mut arp = frame_in(&nat(proto::TCP, true).packet(PAYLOAD));
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let repeated = o.test_run_repeat(&arp, LO, n).unwrap();
    assert_eq!(repeated.retval, action::PASS);
    let (single, _) = single_runs(&o, &arp, n);
    let overhead = single - f64::from(repeated.duration_ns);
    println!("BPF_PROG_TEST_RUN, {n} runs per case, frames of 60-142 bytes");
    println!(
        "{:<34} {:>8} {:>14} {:>10}",
        "case", "action", "ns/packet", "- overhead"
    );
    println!(
        "{:<34} {:>8} {:>14} {:>10}",
        "not IPv4 -> worker (repeat)", "PASS", repeated.duration_ns, "-"
    );
    println!(
        "{:<34} {:>8} {:>14.1} {:>10}",
        "not IPv4 -> worker (single runs)", "PASS", single, "-"
    );
    let miss = frame_in(&nat(proto::TCP, true).packet(PAYLOAD));
    let repeated = o.test_run_repeat(&miss, LO, n).unwrap();
    println!(
        "{:<34} {:>8} {:>14} {:>10}",
        "miss -> worker (repeat)", "PASS", repeated.duration_ns, "-"
    );

    for c in cases() {
        o.insert(&c.key.bytes(), &c.action.bytes()).unwrap();
        let (ns, retval) = single_runs(&o, &c.frame, n);
        assert_eq!(retval, action::TX, "{} did not forward", c.name);
        println!(
            "{:<34} {:>8} {:>14.1} {:>10.1}",
            c.name,
            "TX",
            ns,
            ns - overhead
        );
        o.remove(&c.key.bytes()).unwrap();
    }
    println!("timing overhead of a single run: {overhead:.1} ns (subtracted in the last column)");

    let n = loop_packets();
    println!("\nin a loop (250 runs per call, every one forwarded), {n} packets per case");
    for (name, entries, frame) in loops() {
        let ns = in_a_loop(&mut o, &entries, &frame, n);
        println!("{name:<40} {:>8} {ns:>10.1}", "TX");
    }
}
