//! Entry points shared by the cargo-fuzz targets (`src/lacp/fuzz`) and the random-input
//! tests that run on stable. Each panics only when an invariant breaks, never on malformed
//! input.

use std::time::{Duration, Instant};

use crate::bond::Bond;
use crate::codec::frame::{SlowFrame, SlowPdu};
use crate::codec::lacpdu::Lacpdu;
use crate::codec::marker::MarkerPdu;
use crate::codec::MacAddr;
use crate::config::{Activity, BondConfig, PortConfig, Timeout};
use crate::port::{MuxState, Selected};

/// Decodes `data` as a frame, an LACPDU and a Marker PDU; whatever decodes must re-encode to
/// exactly the octets it came from.
pub fn check_decode(data: &[u8]) {
    if let Ok(p) = Lacpdu::decode(data) {
        assert_eq!(p.encode(), &data[..p.len()], "lossless LACPDU {p:?}");
    }
    if let Ok(m) = MarkerPdu::decode(data) {
        assert_eq!(m.encode(), &data[..110], "lossless Marker PDU {m:?}");
    }
    if let Ok(f) = SlowFrame::decode(data) {
        let again = f.encode();
        assert_eq!(again, &data[..again.len()], "lossless frame {f:?}");
    }
}

/// The invariants every bond keeps after every input: a distributing port is in sync with
/// its partner, selected, enabled and in the selected aggregator; `members` are such ports.
pub fn check_invariants(bond: &Bond) {
    for i in 0..bond.port_count() {
        let Some(s) = bond.port_status(i) else {
            panic!("port {i} has no status");
        };
        assert_eq!(
            s.distributing,
            s.mux == MuxState::CollectingDistributing,
            "{s:?}"
        );
        assert_eq!(s.collecting, s.distributing, "coupled control: {s:?}");
        if s.distributing {
            assert!(s.enabled, "distributing while disabled: {s:?}");
            assert!(
                s.partner.state.synchronization(),
                "distributing out of sync: {s:?}"
            );
            assert!(s.actor.state.synchronization(), "{s:?}");
            assert_eq!(s.selected, Selected::Selected, "{s:?}");
        }
        if s.mux == MuxState::Attached {
            assert!(s.actor.state.synchronization());
        }
    }
    for m in bond.members() {
        let s = bond.port_status(m).expect("member exists");
        assert!(s.distributing && s.aggregator == bond.selected_aggregator());
    }
}

/// Feeds `data` to a two-port bond as a sequence of events: each record is an op byte, a
/// time step byte and, for frames, a length byte and that many octets. Checks that nothing
/// panics, that the invariants hold after every input, that every frame the bond sends
/// decodes, that deadlines never lie in the past after the bond has run, and that no port
/// sends more than three LACPDUs in any second.
pub fn check_bond(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut cfg = BondConfig::new(MacAddr([0x02, 0, 0, 0, 0, 0x10]));
    cfg.activity = if mode & 1 == 0 {
        Activity::Active
    } else {
        Activity::Passive
    };
    cfg.timeout = if mode & 2 == 0 {
        Timeout::Fast
    } else {
        Timeout::Slow
    };
    cfg.min_links = usize::from(mode >> 6).min(2);
    let mut ports = [
        PortConfig::new(1, MacAddr([0x02, 0, 0, 0, 0, 0x11])),
        PortConfig::new(2, MacAddr([0x02, 0, 0, 0, 0, 0x12])),
    ];
    ports[1].aggregatable = mode & 4 == 0;
    let t0 = Instant::now();
    let mut now = t0;
    let mut bond = Bond::new(cfg, &ports, now).expect("valid configuration");
    let mut sent: [Vec<Instant>; 2] = [Vec::new(), Vec::new()];
    while let [op, step, tail @ ..] = rest {
        rest = tail;
        now += Duration::from_millis(u64::from(*step) * 20);
        let port = usize::from(op & 1);
        match op >> 1 & 3 {
            0 => bond.set_port_enabled(now, port, op & 8 != 0),
            1 => bond.handle_timeout(now),
            _ => {
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                let n = usize::from(len).min(tail.len());
                let (frame, next) = tail.split_at(n);
                rest = next;
                if op & 16 != 0 {
                    // Treat the octets as an LACPDU body behind a valid header, so the
                    // fuzzer reaches the machines more often than the codec.
                    let mut f = crate::SLOW_PROTOCOLS_MULTICAST.0.to_vec();
                    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x99, 0x88, 0x09, 1, 1]);
                    f.extend_from_slice(frame);
                    f.resize(f.len().max(124), 0);
                    let _ = bond.handle_frame(now, port, &f);
                } else {
                    let _ = bond.handle_frame(now, port, frame);
                }
            }
        }
        // Run whatever is due, as the shell does before sleeping.
        if bond.next_deadline().is_some_and(|d| d <= now) {
            bond.handle_timeout(now);
        }
        // One run settles everything that was due: no deadline is left in the past (the
        // shell would spin on it).
        assert!(
            bond.next_deadline().is_none_or(|d| d > now),
            "stale deadline"
        );
        check_invariants(&bond);
        while let Some(t) = bond.poll_transmit() {
            let f = SlowFrame::decode(&t.bytes()).expect("our frames decode");
            assert_eq!(f, t.frame);
            if let SlowPdu::Lacp(_) = f.pdu {
                let s = &mut sent[t.port];
                s.push(now);
                if s.len() > 3 {
                    let w = s[s.len() - 4];
                    assert!(
                        now - w >= Duration::from_secs(1),
                        "four LACPDUs in a second"
                    );
                }
            }
        }
    }
}
