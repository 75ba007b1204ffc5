//! VRRP failover benchmark: keepalived 2.2.7 pairs against appliance pairs in the same run, for
//! each advertisement interval and for crash and graceful failovers. Every trial is timed from
//! the bridge capture (old master's last advert -> new master's first gratuitous ARP).
//!
//!   vrrp-bench [--trials 20] [--intervals 1000,100,10] [--json]

use appliance::drill::failover::{median, Drill, Implementation, Scenario, Trial};
use lab::Lab;

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

const USAGE: &str = "usage: vrrp-bench [--trials N] [--intervals MS,MS,...] [--json]\n\nVRRP failover time against keepalived (root; keepalived, tcpdump).";

fn main() {
    bench::help_or_continue(USAGE);
    lab::tools_or_exit("vrrp-bench", &["keepalived", "tcpdump", "ip"]);
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let trials: usize = arg(&args, "--trials")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let intervals: Vec<u64> = arg(&args, "--intervals")
        .unwrap_or("1000,100,10")
        .split(',')
        .filter_map(|v| v.parse().ok())
        .collect();
    let mut all: Vec<Trial> = Vec::new();
    for &interval in &intervals {
        for imp in [Implementation::Keepalived, Implementation::Appliance] {
            let lab = Lab::new(&format!("vrrp-bench-{}-{interval}", imp.name()));
            let mut drill = Drill::new(lab, imp, interval);
            for s in [Scenario::Crash, Scenario::Graceful] {
                for n in 0..trials {
                    let t = drill.run(imp, s);
                    eprintln!(
                        "{:<10} {:>5} ms {:<8} #{:<2} failover {:>8} ms (RFC {:.1})",
                        imp.name(),
                        interval,
                        s.name(),
                        n + 1,
                        t.failover_ms
                            .map(|f| format!("{f:.1}"))
                            .unwrap_or_else(|| "n/a".into()),
                        t.expected_ms
                    );
                    all.push(t);
                }
            }
        }
    }
    if json {
        let v: Vec<_> = all.iter().map(|t| t.to_json()).collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
        return;
    }
    println!(
        "| interval | scenario | RFC ms | keepalived median (min-max) ms | appliance median (min-max) ms | appliance max - RFC ms | ratio keepalived/appliance (median) | loss ms median k / a |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &interval in &intervals {
        for s in [Scenario::Crash, Scenario::Graceful] {
            let pick = |imp| {
                all.iter()
                    .filter(|t| {
                        t.implementation == imp && t.scenario == s && t.interval_ms == interval
                    })
                    .collect::<Vec<_>>()
            };
            let k = pick(Implementation::Keepalived);
            let a = pick(Implementation::Appliance);
            let vals = |v: &[&Trial]| v.iter().filter_map(|t| t.failover_ms).collect::<Vec<f64>>();
            let (kv, av) = (vals(&k), vals(&a));
            let fmt = |v: &[f64]| match median(v) {
                Some(m) => format!(
                    "{m:.1} ({:.1}-{:.1}) n={}",
                    v.iter().cloned().fold(f64::INFINITY, f64::min),
                    v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                    v.len()
                ),
                None => "n/a".into(),
            };
            let rfc = a.first().map(|t| t.expected_ms).unwrap_or(0.0);
            let amax = av.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let loss = |v: &[&Trial]| {
                median(&v.iter().map(|t| t.loss_ms() as f64).collect::<Vec<_>>()).unwrap_or(0.0)
            };
            let ratio = match (median(&kv), median(&av)) {
                (Some(k), Some(a)) if a > 0.0 => format!("{:.2}", k / a),
                _ => "n/a".into(),
            };
            println!(
                "| {interval} ms | {} | {rfc:.1} | {} | {} | {:+.1} | {ratio} | {:.0} / {:.0} |",
                s.name(),
                fmt(&kv),
                fmt(&av),
                amax - rfc,
                loss(&k),
                loss(&a)
            );
        }
    }
}
