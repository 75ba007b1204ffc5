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
        let named = [
            ("truncated", d.truncated),
            ("bad_magic", d.bad_magic),
            ("unsupported_version", d.unsupported_version),
            ("bad_length", d.bad_length),
            ("bad_hmac", d.bad_hmac),
            ("malformed", d.malformed),
            ("unknown_record_type", d.unknown_record_type),
            ("stale_epoch", d.stale_epoch),
            ("replayed", d.replayed),
            ("out_of_window", d.out_of_window),
            ("settings_mismatch", d.settings_mismatch),
        ];
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
