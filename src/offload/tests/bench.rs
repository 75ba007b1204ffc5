//! The program alone, in memory: `BPF_PROG_TEST_RUN` ns per packet for each case.
//!
//!     cargo test -p xdp-offload --test bench -- --ignored --nocapture
//!
//! The kernel does not restore the frame between the runs of one `repeat`, so a forwarded
//! frame would be seen again already rewritten (and miss). Forwarding cases are therefore
//! timed as the mean of the kernel's own duration over RUNS single runs, which includes the
//! kernel's timing of the run itself; that overhead is measured on a path that leaves the
//! frame alone (a non-IPv4 frame), once with `repeat` = RUNS and once as RUNS single runs,
//! and reported beside the figures.

mod common;

use common::*;
use dataplane::wire::proto;
use xdp_offload::{action, Offload};

const DEFAULT_RUNS: u32 = 1_000_000;

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
}
