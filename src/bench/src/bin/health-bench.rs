//! Health-check scale benchmark (issue 5): N TCP checks at one interval against a local server
//! in another namespace, first by `applianced`, then by HAProxy (the checker operators take as
//! the reference: one backend of N servers, `check inter`) and keepalived running the same N
//! checks.
//! Reports each one's CPU (utime + stime from /proc over the window, as a share of one core)
//! and resident memory. Run it through `src/bench/bench-health` (release build, root).
//!
//! keepalived's own TCP_CHECK lives in its LVS checker, which exits at start without IPVS in the
//! kernel ("IPVS: Can't initialize ipvs ... permanent error FATAL"), so the closest equivalent
//! is one `vrrp_script` per check running a bash TCP connect (`</dev/tcp/IP/PORT`), tracked by
//! one VRRP instance with the same rise/fall. Its CPU includes the scripts it forks (the vrrp
//! process's `cutime`/`cstime`), since that is the work it does per check.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use lab::cpustat::cpu_seconds;
use lab::{bin_path, require_tool, run_appctl, wait_until, Lab, Netns, Proc};

const LB: &str = "198.18.1.1";
const SRV: &str = "198.18.1.2";
const PORT: u16 = 9000;

/// Accepts and closes; the backlog is large so a burst of probes never sees a full queue.
const SERVER_PY: &str = "import socket\n\
s = socket.socket()\n\
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind(('0.0.0.0', 9000))\n\
s.listen(4096)\n\
print('listening', flush=True)\n\
while True:\n    c, _ = s.accept()\n    c.close()\n";

struct Args {
    checks: usize,
    seconds: u64,
    interval_s: u64,
    keepalived: bool,
    haproxy: bool,
    /// One JSON object per checker on stdout instead of the table.
    json: bool,
    /// Place the work as on a host with a real NIC: the checker on CPU 0, the server and the
    /// receive processing of its interface (RPS) on CPU 1. Over a veth pair the receiver's
    /// softirq otherwise runs in the sender's context and is billed to the checker.
    rps: bool,
    /// The tcp checks' `handshake` values to measure, one applianced run each.
    handshakes: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        checks: 1000,
        seconds: 30,
        interval_s: 1,
        keepalived: true,
        haproxy: true,
        json: false,
        rps: false,
        handshakes: vec!["full".into(), "half-open".into()],
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(k) = it.next() {
        let mut num = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{k} needs a number"))
        };
        match k.as_str() {
            "--checks" => a.checks = num() as usize,
            "--seconds" => a.seconds = num(),
            "--interval" => a.interval_s = num(),
            "--no-keepalived" => a.keepalived = false,
            "--no-haproxy" => a.haproxy = false,
            "--json" => a.json = true,
            "--rps" => a.rps = true,
            "--handshake" => {
                let h = it.next().cloned().unwrap_or_default();
                assert!(
                    h == "full" || h == "half-open",
                    "--handshake takes full or half-open"
                );
                a.handshakes = vec![h];
            }
            other => panic!(
                "unknown argument {other}; usage: health-bench [--checks N] [--seconds S] \
                 [--interval SECONDS] [--no-keepalived] [--no-haproxy] [--rps] \
                 [--handshake full|half-open] [--json]"
            ),
        }
    }
    a
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Measured {
    cpu_percent: f64,
    /// The user-space share of `cpu_percent`; the rest is kernel time (sockets, TCP, fork).
    user_percent: f64,
    rss_max_mib: f64,
}

/// Samples `pids()` once a second for `seconds`: CPU over the window, the largest total RSS.
fn measure(seconds: u64, pids: impl Fn() -> Vec<u32>, with_children: bool) -> Measured {
    let cpu = |ps: &[u32]| {
        ps.iter()
            .map(|p| cpu_seconds(*p, with_children).unwrap_or((0.0, 0.0)))
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    let start_pids = pids();
    let c0 = cpu(&start_pids);
    let t0 = Instant::now();
    let mut rss_max = 0;
    while t0.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        rss_max = rss_max.max(pids().iter().map(|p| rss_kib(*p)).sum::<u64>());
    }
    // The same processes as at the start: CPU of a process that appeared mid-window would count
    // from its birth, and one that left would vanish.
    let c1 = cpu(&start_pids);
    let window = t0.elapsed().as_secs_f64();
    Measured {
        cpu_percent: ((c1.0 + c1.1) - (c0.0 + c0.1)) / window * 100.0,
        user_percent: (c1.0 - c0.0) / window * 100.0,
        rss_max_mib: rss_max as f64 / 1024.0,
    }
}

/// With `--rps`, runs `argv` on CPU 0 (taskset); otherwise unchanged.
fn pinned(a: &Args, cpu: &str, argv: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    if a.rps {
        v.extend(["taskset".to_string(), "-c".to_string(), cpu.to_string()]);
    }
    v.extend(argv.iter().map(|s| s.to_string()));
    v
}

fn applianced(lab: &Lab, lb: &Netns, a: &Args, handshake: &str) -> (Measured, usize) {
    let dir = Path::new("/tmp/nt-appliance").join(format!("health-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("appctl.sock");
    let mut cfg = format!(
        "[daemon]\nstate_dir = \"{}\"\n[control]\nsocket = \"{}\"\n",
        dir.display(),
        socket.display()
    );
    for i in 0..a.checks {
        // jitter spreads the probes over the interval instead of 1,000 in one burst per second,
        // as an operator would configure it.
        let _ = write!(
            cfg,
            "[checks.c{i:04}]\ntype = \"tcp\"\ntarget = \"{SRV}:{PORT}\"\ninterval = \"{}s\"\n\
             timeout = \"1s\"\nrise = 2\nfall = 3\njitter = 0.2\nhandshake = \"{handshake}\"\n",
            a.interval_s
        );
    }
    let cfg_path = lab.write_artifact(&format!("applianced-{handshake}.toml"), &cfg);
    let bin = bin_path("applianced");
    let argv = pinned(
        a,
        "0",
        &[
            bin.to_str().unwrap(),
            "run",
            "-c",
            cfg_path.to_str().unwrap(),
            "--log-level",
            "info",
        ],
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let proc = lb.process("applianced", &argv).spawn();
    let up = || -> usize {
        let out = run_appctl(&socket, &["status", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| {
                v["checks"]
                    .as_array()
                    .map(|c| c.iter().filter(|c| c["state"] == "up").count())
            })
            .unwrap_or(0)
    };
    let result = measure_once_up("applianced", &proc, up, a);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Waits until `up()` counts every check, measures `proc` over the window, and stops it;
/// returns the measurement and how many checks were still up at its end.
fn measure_once_up(name: &str, proc: &Proc, up: impl Fn() -> usize, a: &Args) -> (Measured, usize) {
    wait_until(
        &format!("every check of {name} up"),
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            assert!(proc.is_running(), "{name} exited:\n{}", proc.log());
            up() == a.checks
        },
    )
    .unwrap();
    let pid = proc.pid();
    let m = measure(a.seconds, || vec![pid], false);
    let still_up = up();
    proc.stop(Duration::from_secs(5));
    (m, still_up)
}

fn keepalived(lab: &Lab, lb: &Netns, a: &Args) -> Measured {
    let ka = require_tool("keepalived");
    let mut cfg = String::from(
        "global_defs {\n  router_id bench\n  script_user root\n  max_auto_priority\n}\n",
    );
    for i in 0..a.checks {
        let _ = write!(
            cfg,
            "vrrp_script c{i:04} {{\n  script \"/bin/bash -c '</dev/tcp/{SRV}/{PORT}'\"\n  \
             interval {}\n  timeout 1\n  rise 2\n  fall 3\n}}\n",
            a.interval_s
        );
    }
    cfg.push_str(
        "vrrp_instance bench {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  \
         advert_int 1\n  virtual_ipaddress {\n    198.18.1.100/24\n  }\n  track_script {\n",
    );
    for i in 0..a.checks {
        let _ = writeln!(cfg, "    c{i:04}");
    }
    cfg.push_str("  }\n}\n");
    let conf = lab.write_artifact("keepalived.conf", &cfg);
    let art = lab.artifacts();
    let pidfile = |n: &str| art.join(n).to_str().unwrap().to_string();
    let argv = pinned(
        a,
        "0",
        &[
            ka.to_str().unwrap(),
            "-n",
            "-l",
            "-P",
            "-f",
            conf.to_str().unwrap(),
            "-p",
            &pidfile("keepalived.pid"),
            "-r",
            &pidfile("vrrp.pid"),
            "-c",
            &pidfile("checkers.pid"),
        ],
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let proc: Proc = lb.process("keepalived", &argv).spawn();
    // Every script must pass `rise` times before the instance leaves FAULT; if keepalived
    // cannot keep up, that never happens and the measurement says so by its CPU.
    let master = wait_until(
        "keepalived instance MASTER",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || proc.log().contains("Entering MASTER STATE"),
    );
    if master.is_err() {
        eprintln!("health-bench: keepalived did not reach MASTER within 30 s (scripts lagging)");
    }
    let ns = lb.clone();
    let pids = move || -> Vec<u32> {
        ns.pids()
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "keepalived")
            })
            .map(|p| p as u32)
            .collect()
    };
    let m = measure(a.seconds, pids, true);
    proc.stop(Duration::from_secs(5));
    m
}

/// HAProxy checking N servers (all the same listener: HAProxy keys servers by name) with
/// `check inter`, one thread, as a load balancer's health checker runs. Up when its stats socket
/// reports every server UP.
fn haproxy(lab: &Lab, lb: &Netns, a: &Args) -> (Measured, usize) {
    let bin = require_tool("haproxy");
    let art = lab.artifacts();
    let stats = art.join("haproxy.sock");
    let mut cfg = format!(
        "global\n  nbthread 1\n  stats socket {} mode 600 level admin\n\
         defaults\n  mode tcp\n  timeout connect 1s\n  timeout check 1s\n  \
         timeout client 10s\n  timeout server 10s\n\
         backend bench\n  default-server check inter {}s rise 2 fall 3\n",
        stats.display(),
        a.interval_s
    );
    for i in 0..a.checks {
        let _ = writeln!(cfg, "  server c{i:04} {SRV}:{PORT}");
    }
    let conf = lab.write_artifact("haproxy.cfg", &cfg);
    let argv = pinned(
        a,
        "0",
        &[bin.to_str().unwrap(), "-db", "-f", conf.to_str().unwrap()],
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let proc: Proc = lb.process("haproxy", &argv).spawn();
    let up = || -> usize {
        use std::io::{Read, Write};
        let Ok(mut c) = std::os::unix::net::UnixStream::connect(&stats) else {
            return 0;
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
        let mut out = String::new();
        if c.write_all(b"show stat\n").is_err() || c.read_to_string(&mut out).is_err() {
            return 0;
        }
        // CSV: pxname,svname,...,status (18th field).
        out.lines()
            .filter(|l| l.starts_with("bench,c"))
            .filter(|l| l.split(',').nth(17) == Some("UP"))
            .count()
    };
    measure_once_up("haproxy", &proc, up, a)
}

fn json_line(checker: &str, a: &Args, m: &Measured, up: Option<usize>) -> String {
    serde_json::json!({
        "benchmark": "health",
        "checker": checker,
        "checks": a.checks,
        "interval_s": a.interval_s,
        "window_s": a.seconds,
        "rps": a.rps,
        "cpu_percent": m.cpu_percent,
        "user_percent": m.user_percent,
        "rss_max_mib": m.rss_max_mib,
        "checks_up_at_end": up,
    })
    .to_string()
}

const USAGE: &str = "usage: health-bench [--checks N] [--seconds S] [--interval S] [--handshake full|half-open] [--rps] [--no-keepalived] [--no-haproxy] [--json]\n\nCPU and memory of N TCP checks against HAProxy and keepalived (root; python3, haproxy, keepalived).";

fn main() {
    bench::help_or_continue(USAGE);
    lab::tools_or_exit("health-bench", &["python3", "ip"]);
    let a = args();
    let lab = Lab::new("health-bench");
    let (lb, srv) = (lab.netns("lb"), lab.netns("srv"));
    lab.veth(&lb, "eth0", &srv, "eth0");
    lb.add_addr("eth0", &format!("{LB}/24"));
    srv.add_addr("eth0", &format!("{SRV}/24"));
    let script = lab.write_artifact("server.py", SERVER_PY);
    let python = require_tool("python3");
    let argv = pinned(
        &a,
        "1",
        &[python.to_str().unwrap(), script.to_str().unwrap()],
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let server = srv.spawn("server", &argv);
    if a.rps {
        // Receive processing of the server's interface on CPU 1 (mask 0x2).
        srv.run_ok(&[
            "sh",
            "-c",
            "echo 2 > /sys/class/net/eth0/queues/rx-0/rps_cpus",
        ]);
    }
    lab::wait_for_log(&server, "listening", Duration::from_secs(10)).unwrap();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The header goes to stderr with --json, so stdout is one JSON object per line.
    let header = if a.json {
        |l: String| eprintln!("{l}")
    } else {
        |l: String| println!("{l}")
    };
    header(format!(
        "health-bench: {} TCP checks every {} s, {} s window, {cores} cores{}",
        a.checks,
        a.interval_s,
        a.seconds,
        if a.rps {
            ", checker on CPU 0, server + its RX (RPS) on CPU 1"
        } else {
            ""
        }
    ));
    let mut ours = Vec::new();
    for h in &a.handshakes {
        let (m, still_up) = applianced(&lab, &lb, &a, h);
        if a.json {
            println!(
                "{}",
                json_line(&format!("applianced {h}"), &a, &m, Some(still_up))
            );
        } else {
            println!(
                "applianced {h:<9}  CPU {:6.2}% of one core (user {:.2}%)   RSS max {:6.1} MiB   ({still_up}/{} checks up at the end)",
                m.cpu_percent, m.user_percent, m.rss_max_mib, a.checks
            );
        }
        ours.push((h, m));
    }
    let mut others = Vec::new();
    if a.haproxy {
        let (m, still_up) = haproxy(&lab, &lb, &a);
        if a.json {
            println!("{}", json_line("haproxy", &a, &m, Some(still_up)));
        } else {
            println!(
                "haproxy               CPU {:6.2}% of one core (user {:.2}%)   RSS max {:6.1} MiB   ({still_up}/{} servers up at the end; check inter, one thread)",
                m.cpu_percent, m.user_percent, m.rss_max_mib, a.checks
            );
        }
        others.push(("haproxy", m));
    }
    if a.keepalived {
        let ka = keepalived(&lab, &lb, &a);
        if a.json {
            println!("{}", json_line("keepalived", &a, &ka, None));
        } else {
            println!(
                "keepalived            CPU {:6.2}% of one core (user {:.2}%)   RSS max {:6.1} MiB   (vrrp_script + bash /dev/tcp, scripts' CPU included)",
                ka.cpu_percent, ka.user_percent, ka.rss_max_mib
            );
        }
        others.push(("keepalived", ka));
    }
    if a.json {
        return;
    }
    for (name, o) in &others {
        for (h, m) in &ours {
            println!(
                "ratio {h:<9}       CPU {:.1}x   RSS {:.1}x   ({name} / applianced)",
                o.cpu_percent / m.cpu_percent.max(0.01),
                o.rss_max_mib / m.rss_max_mib.max(0.01)
            );
        }
    }
}
