//! What `appctl sync` prints.

use std::fmt::Write;

use crate::syncd::status::{Bulk, PeerStatus};
use crate::syncd::SyncStatus;

fn bulk(b: &Bulk) -> String {
    if b.total == 0 && b.sent == 0 {
        return "none yet".into();
    }
    format!(
        "{} of {} sent, {} acked{}",
        b.sent,
        b.total,
        b.acked,
        if b.done { ", done" } else { "" }
    )
}

fn peer(o: &mut String, p: &PeerStatus) {
    let _ = writeln!(
        o,
        "peer {:<16} {:<18} node {}  srtt {}  rto {:.0}ms  lag {:.1}ms",
        p.address,
        p.state.to_uppercase(),
        p.node_id.map_or("-".into(), |n| format!("{n:#x}")),
        p.srtt_ms.map_or("-".into(), |s| format!("{s:.2}ms")),
        p.rto_ms,
        p.lag_ms
    );
    let _ = writeln!(
        o,
        "  records sent {}  resent {}  received {}  lost {}  coalesced {}  queued {}  in flight {}",
        p.records_sent,
        p.records_resent,
        p.records_received,
        p.records_lost,
        p.records_coalesced,
        p.queued,
        p.in_flight
    );
    let _ = writeln!(
        o,
        "  datagrams sent {}  resent {}  received {}  restarts seen {}",
        p.datagrams_sent, p.datagrams_resent, p.datagrams_received, p.peer_restarts
    );
    let _ = writeln!(o, "  bulk to peer: {}", bulk(&p.bulk_out));
    let _ = writeln!(o, "  bulk from peer: {}", bulk(&p.bulk_in));
    let d = &p.discards;
    if d.total > 0 {
        let named = d.named();
        let v: Vec<String> = named
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(o, "  discarded {}: {}", d.total, v.join(", "));
    }
}

pub fn sync(s: &SyncStatus) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "session sync on {}  node {:#x}  epoch {:#x}",
        s.local, s.node_id, s.epoch
    );
    let _ = writeln!(o, "preemption {}", s.preempt);
    let _ = writeln!(
        o,
        "flows here {}  from peers: adopted {}  updated {}  removed {}  refused {}",
        s.table_entries, s.adopted, s.updated, s.removed, s.refused
    );
    if s.changes_lost + s.apply_ring_full + s.apply_held_back + s.unknown_source > 0 {
        let _ = writeln!(
            o,
            "changes lost {}  apply ring full {}  held back for the workers {}  datagrams from strangers {}",
            s.changes_lost, s.apply_ring_full, s.apply_held_back, s.unknown_source
        );
    }
    for p in &s.peers {
        peer(&mut o, p);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_with_discards_and_a_bulk_in_progress() {
        let mut p = PeerStatus {
            address: "198.18.2.3".into(),
            state: "up".into(),
            node_id: Some(0xc612_0203_0000_1d6b),
            srtt_ms: Some(0.21),
            rto_ms: 10.0,
            records_sent: 1012,
            bulk_in: Bulk {
                sent: 500,
                acked: 500,
                total: 1000,
                done: false,
            },
            ..PeerStatus::default()
        };
        p.discards.bad_hmac = 2;
        p.discards.replayed = 1;
        p.discards.total = 3;
        let s = SyncStatus {
            local: "198.18.2.2:7531".into(),
            preempt: "held".into(),
            table_entries: 500,
            adopted: 500,
            peers: vec![p],
            ..SyncStatus::default()
        };
        let text = sync(&s);
        assert!(text.contains("preemption held"), "{text}");
        assert!(text.contains("peer 198.18.2.3       UP"), "{text}");
        assert!(
            text.contains("bulk from peer: 500 of 1000 sent, 500 acked\n"),
            "{text}"
        );
        assert!(text.contains("bulk to peer: none yet"), "{text}");
        assert!(
            text.contains("discarded 3: bad_hmac 2, replayed 1"),
            "{text}"
        );
        assert!(!text.contains("changes lost"), "{text}");
    }
}
