//! BGP benchmark against BIRD 2 as the upstream router, judged at the router's kernel FIB:
//!
//! 1. health verdict → route change: `appctl health set web down|auto` on the announcing node,
//!    timed until `ip monitor route` in the router's namespace reports the VIP deleted (or
//!    added back);
//! 2. bulk announcement: `applianced` announcing N prefixes (default 10,000), timed from start
//!    until the router's FIB holds all of them, then BIRD as the announcer of the same set.
//!
//! Root only; run a release build on an otherwise idle machine.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lab::{bird, wait_for_log, wait_until, Appliance, Lab, Netns};

const VIP: &str = "198.18.255.1";
const ROUTER_AS: u32 = 65000;

struct Args {
    flips: usize,
    prefixes: usize,
    bird_announcer: bool,
}

fn args() -> Args {
    let mut a = Args {
        flips: 50,
        prefixes: 10_000,
        bird_announcer: true,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(k) = it.next() {
        let mut num = || -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{k} needs a number"))
        };
        match k.as_str() {
            "--flips" => a.flips = num(),
            "--prefixes" => a.prefixes = num().min(32_768),
            "--no-bird-announcer" => a.bird_announcer = false,
            other => panic!(
                "unknown argument {other}; usage: bgp-bench [--flips N] [--prefixes N] \
                 [--no-bird-announcer]"
            ),
        }
    }
    a
}

/// The i-th bulk prefix: host routes in 198.18.128.0/17.
fn bulk_prefix(i: usize) -> String {
    format!("198.18.{}.{}/32", 128 + i / 256, i % 256)
}

fn router_conf() -> String {
    let mut c = bird::router_header("198.18.1.1", "{ warning, error, fatal }", ROUTER_AS, false);
    c.push_str(&bird::session(
        "n1",
        "198.18.1.2",
        65001,
        "198.18.1.1",
        "",
        "ipv4",
    ));
    c.push_str(&bird::session(
        "x1",
        "198.18.1.6",
        65002,
        "198.18.1.5",
        "",
        "ipv4",
    ));
    c
}

fn node_conf(prefixes: usize) -> String {
    let mut c = String::from(
        "[daemon]\nnode_name = \"n1\"\nshutdown_grace = \"20s\"\n\n\
         [checks.web]\ntype = \"tcp\"\ntarget = \"198.18.1.2:8080\"\ntimeout = \"1s\"\n\
         interval = \"1h\"\nrise = 1\nfall = 1\n\n\
         [bgp]\nlocal_as = 65001\nrouter_id = \"198.18.1.2\"\ngraceful_shutdown_wait = \"0s\"\n\
         connect_retry = \"1s\"\n\n\
         [[bgp.neighbor]]\naddress = \"198.18.1.1\"\nremote_as = 65000\n\
         local_address = \"198.18.1.2\"\n\n",
    );
    if prefixes == 0 {
        c.push_str(&format!(
            "[[bgp.announce]]\nprefix = \"{VIP}/32\"\nchecks = [\"web\"]\n"
        ));
    }
    for i in 0..prefixes {
        c.push_str(&format!(
            "[[bgp.announce]]\nprefix = \"{}\"\n",
            bulk_prefix(i)
        ));
    }
    c
}

fn bird_announcer_conf(prefixes: usize) -> String {
    let mut c = String::from(
        "router id 198.18.1.6;\nlog stderr { warning, error, fatal };\n\
         protocol device { }\nprotocol static bulk { ipv4;\n",
    );
    for i in 0..prefixes {
        c.push_str(&format!("  route {} blackhole;\n", bulk_prefix(i)));
    }
    c.push_str(
        "}\nprotocol bgp r { local 198.18.1.6 as 65002; neighbor 198.18.1.5 as 65000; \
         hold time 3; keepalive time 1; ipv4 { import none; export where proto = \"bulk\"; }; }\n",
    );
    c
}

const WEB_PY: &str = "import socket\n\
s=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
s.bind(('198.18.1.2',8080))\ns.listen(16)\nprint('listening',flush=True)\n\
while True:\n    c,_=s.accept()\n    c.close()\n";

/// Lines of `ip monitor route` in the router's namespace, stamped on arrival.
fn monitor(router: &Netns) -> (std::process::Child, mpsc::Receiver<(Instant, String)>) {
    let mut child = Command::new("ip")
        .args(["-n", router.name(), "monitor", "route"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ip monitor route");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// Waits for a monitor line about the VIP that is (or is not) a deletion.
fn wait_vip(rx: &mpsc::Receiver<(Instant, String)>, deleted: bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (t, line) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no route change for {VIP} within 10 s"));
        if line.contains(VIP) && line.starts_with("Deleted") == deleted {
            return t;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<34} n={:<4} min {:7.2} ms  p50 {:7.2} ms  p99 {:7.2} ms  max {:7.2} ms",
        v.len(),
        ms(percentile(&v, 0.0)),
        ms(percentile(&v, 0.5)),
        ms(percentile(&v, 0.99)),
        ms(percentile(&v, 1.0))
    );
}

fn bird_routes(router: &Netns) -> usize {
    let out = router.ip(&["-4", "route", "show", "proto", "bird"]);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Time from `t0` to the first route in the router's FIB, and to all `n` of them. The first is
/// session setup (each announcer's own connect delay); the difference is the transfer of the
/// whole set, the part that compares the two announcers.
fn time_bulk(router: &Netns, n: usize, t0: Instant) -> (Duration, Duration) {
    wait_until(
        "the first route in the router's FIB",
        Duration::from_secs(60),
        Duration::from_millis(2),
        || bird_routes(router) > 0,
    )
    .unwrap();
    let first = t0.elapsed();
    wait_routes(router, n, Duration::from_secs(300));
    (first, t0.elapsed())
}

fn wait_routes(router: &Netns, n: usize, timeout: Duration) -> Duration {
    wait_until(
        &format!("{n} BGP routes in the router's FIB"),
        timeout,
        Duration::from_millis(20),
        || bird_routes(router) == n,
    )
    .unwrap()
}

const USAGE: &str = "usage: bgp-bench [--flips N] [--prefixes N] [--no-bird-announcer]\n\nHealth verdict to router FIB, and bulk announcement, against BIRD 2 (root; bird2).";

fn main() {
    bench::help_or_continue(USAGE);
    lab::tools_or_exit("bgp-bench", &["bird", "birdc", "ip"]);
    let a = args();
    let lab = Lab::new("bgp-bench");
    let (router, node, other) = (lab.netns("r"), lab.netns("n1"), lab.netns("x1"));
    lab.veth(&router, "eth1", &node, "eth0");
    lab.veth(&router, "eth2", &other, "eth0");
    router.add_addr("eth1", "198.18.1.1/30");
    node.add_addr("eth0", "198.18.1.2/30");
    router.add_addr("eth2", "198.18.1.5/30");
    other.add_addr("eth0", "198.18.1.6/30");
    let _router_bird = bird::spawn(&lab, &router, "router", &router_conf());
    let script = lab.write_artifact("web.py", WEB_PY);
    let web = node.spawn("web", &["/usr/bin/python3", script.to_str().unwrap()]);
    wait_for_log(&web, "listening", Duration::from_secs(10)).unwrap();

    // 1. Verdict → FIB.
    {
        let mut n1 = Appliance::new(&lab, &node, "n1", &node_conf(0));
        let (mut mon, rx) = monitor(&router);
        n1.start();
        wait_vip(&rx, false);
        let (mut down, mut up) = (Vec::new(), Vec::new());
        for _ in 0..a.flips {
            let t0 = Instant::now();
            assert!(n1
                .appctl(&["health", "set", "web", "down"])
                .status
                .success());
            down.push(wait_vip(&rx, true) - t0);
            let t0 = Instant::now();
            assert!(n1
                .appctl(&["health", "set", "web", "auto"])
                .status
                .success());
            up.push(wait_vip(&rx, false) - t0);
        }
        let _ = mon.kill();
        let _ = mon.wait();
        println!("bgp-bench: router BIRD 2, hold 3 s; times include one appctl round trip");
        report("verdict down -> route deleted", down);
        report("verdict up -> route installed", up);
        n1.proc().stop(Duration::from_secs(20));
        wait_routes(&router, 0, Duration::from_secs(10));
    }

    // 2. Bulk announcement, ours then BIRD's.
    let mut n1 = Appliance::new(&lab, &node, "n1-bulk", &node_conf(a.prefixes));
    let t0 = Instant::now();
    n1.start();
    let (first, all) = time_bulk(&router, a.prefixes, t0);
    println!(
        "applianced: {} prefixes: first in the router's FIB {:8.1} ms after start, all {:8.1} ms; transfer {:8.1} ms",
        a.prefixes,
        first.as_secs_f64() * 1000.0,
        all.as_secs_f64() * 1000.0,
        (all - first).as_secs_f64() * 1000.0
    );
    n1.proc().stop(Duration::from_secs(20));
    wait_routes(&router, 0, Duration::from_secs(60));

    if a.bird_announcer {
        let t0 = Instant::now();
        let _x = bird::spawn(&lab, &other, "announcer", &bird_announcer_conf(a.prefixes));
        let (first, all) = time_bulk(&router, a.prefixes, t0);
        println!(
            "BIRD 2:     {} prefixes: first in the router's FIB {:8.1} ms after start, all {:8.1} ms; transfer {:8.1} ms",
            a.prefixes,
            first.as_secs_f64() * 1000.0,
            all.as_secs_f64() * 1000.0,
            (all - first).as_secs_f64() * 1000.0
        );
    }
}
