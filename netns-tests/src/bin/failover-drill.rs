//! The failover drill: two appliance nodes (VRRP, priority 200 and 100) and a client on one
//! bridged LAN, in namespaces removed afterwards. It crashes the master, then stops it
//! gracefully, then takes its link down, and for each reports the failover time measured from
//! packets captured on the bridge and the loss seen by a 200/s probe stream to the virtual
//! address. `--json` for machines, `--interval-ms N` for the advertisement interval.

use netns_tests::drill::{Drill, Implementation, Scenario};
use netns_tests::Lab;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let interval_ms: u64 = args
        .iter()
        .position(|a| a == "--interval-ms")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let lab = Lab::new("failover-drill");
    if !json {
        println!("failover drill: 2 appliance nodes + client on a bridge, advert interval {interval_ms} ms");
    }
    let mut drill = Drill::new(lab, Implementation::Appliance, interval_ms);
    let mut trials = Vec::new();
    for s in [Scenario::Crash, Scenario::Graceful, Scenario::LinkDown] {
        let t = drill.run(Implementation::Appliance, s);
        if !json {
            eprintln!("  {} done", s.name());
        }
        trials.push(t);
    }
    if json {
        let v: Vec<_> = trials.iter().map(|t| t.to_json()).collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
    } else {
        println!(
            "\n{:<10} {:>12} {:>12} {:>10} {:>8} {:>8} {:>9}",
            "scenario", "failover ms", "RFC ms", "delta ms", "probes", "lost", "loss ms"
        );
        for t in &trials {
            let f = t
                .failover_ms
                .map(|f| format!("{f:.1}"))
                .unwrap_or_else(|| "n/a".into());
            let d = t
                .failover_ms
                .map(|f| format!("{:+.1}", f - t.expected_ms))
                .unwrap_or_else(|| "n/a".into());
            println!(
                "{:<10} {:>12} {:>12.1} {:>10} {:>8} {:>8} {:>9}",
                t.scenario.name(),
                f,
                t.expected_ms,
                d,
                t.probes_sent,
                t.probes_lost,
                t.loss_ms()
            );
        }
        println!("\nfailover: old master's last advertisement -> new master's first gratuitous ARP (bridge capture)");
        println!("RFC: Master_Down_Interval (crash, link down) or Skew_Time (graceful) of the backup, priority 100");
    }
    let bad = trials.iter().any(|t| t.failover_ms.is_none());
    drop(drill);
    if bad {
        eprintln!("failover-drill: a failover could not be timed from the capture");
        std::process::exit(1);
    }
}
