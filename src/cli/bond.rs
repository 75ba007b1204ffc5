//! What `appctl bond` prints.

use std::fmt::Write;

use crate::bondd::status::{BondStatus, MemberStatus};

fn yes(b: bool, word: &str) -> String {
    if b {
        word.to_string()
    } else {
        format!("no-{word}")
    }
}

fn member(o: &mut String, m: &MemberStatus) {
    let mut flags = vec![
        yes(m.carrier, "carrier"),
        yes(m.collecting, "collecting"),
        yes(m.distributing, "distributing"),
    ];
    if let Some(a) = m.arp_ok {
        flags.push(yes(a, "arp"));
    }
    let _ = writeln!(
        o,
        "  {:<12} {} ifindex {}  {}",
        m.name,
        m.mac,
        m.ifindex,
        flags.join(" ")
    );
    if let Some(l) = &m.lacp {
        let _ = writeln!(
            o,
            "    port {}  rx {}  mux {}  {}",
            l.port, l.rx, l.mux, l.selected
        );
        let _ = writeln!(o, "    actor   state {}", l.actor_state);
        let _ = writeln!(
            o,
            "    partner {} key {} port {} state {}",
            l.partner_system, l.partner_key, l.partner_port, l.partner_state
        );
        let _ = writeln!(
            o,
            "    lacpdus rx {} tx {}  errors {}  looped back {}",
            l.lacpdus_rx, l.lacpdus_tx, l.rx_errors, l.looped_back
        );
    }
    let _ = writeln!(
        o,
        "    joined {} left {}  host frames rx {} tx {}  discarded (not collecting) {}",
        m.joins, m.leaves, m.host_rx, m.host_tx, m.rx_discarded
    );
}

pub fn bonds(b: &Vec<BondStatus>) -> String {
    let mut o = String::new();
    if b.is_empty() {
        let _ = writeln!(o, "no bonds (no [[bond]] in the configuration)");
    }
    for s in b {
        let carrying = s.members.iter().filter(|m| m.distributing).count();
        let _ = writeln!(
            o,
            "{} {}  mode {}  hash {}  mac {}  {}/{} members carry it (min_links {})",
            s.name,
            if s.up { "UP" } else { "DOWN" },
            s.mode,
            s.xmit_hash,
            s.mac,
            carrying,
            s.members.len(),
            s.min_links
        );
        if s.mode == "active-backup" {
            let _ = writeln!(
                o,
                "  active {}  failovers {}",
                s.active.as_deref().unwrap_or("none"),
                s.failovers
            );
        }
        if let Some(l) = &s.lacp {
            let _ = writeln!(
                o,
                "  lacp {} rate {}  system {},{} key {}  aggregator {}",
                if l.active { "active" } else { "passive" },
                l.rate,
                l.system_priority,
                l.system,
                l.key,
                l.aggregator.as_deref().unwrap_or("none")
            );
        }
        for m in &s.members {
            member(&mut o, m);
        }
        if s.host_tx_dropped > 0 {
            let _ = writeln!(
                o,
                "  host frames dropped (no member): {}",
                s.host_tx_dropped
            );
        }
    }
    o
}
