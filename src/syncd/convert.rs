//! Between the data plane's flows and the sync records: a flow change becomes a record for
//! the peers; a peer's record becomes work for the worker that owns the flow here.
//!
//! Every change that leaves a flow alive is sent as a full upsert (40 bytes on the wire): a
//! peer that missed the flow's creation (it was down, its queue overflowed) can still create
//! it from any later record, and the 14 bytes a bare refresh would save are not worth a flow
//! the peer cannot rebuild. SNAT mappings and FullNAT ports travel inside the flow records
//! that hold them: here a mapping or a pool port lives exactly as long as its flows.

use dataplane::conntrack::{Change, ChangeKind, Entry, Kind, State};
use dataplane::flow::FlowKey;
use dataplane::pipeline::adopt::Adopted;
use session_sync as sync;

use crate::dataplaned::worker_sync::Inbound;

pub fn record(c: &Change) -> sync::Record {
    match c.kind {
        ChangeKind::Removed => sync::Record::FlowRemoved(key_of(&c.entry)),
        _ => sync::Record::FlowUpsert(flow_of(&c.entry, c.remaining_ms)),
    }
}

pub fn flow_of(e: &Entry, remaining_ms: u32) -> sync::Flow {
    sync::Flow {
        key: key_of(e),
        kind: match e.kind() {
            Kind::Nat => sync::Kind::Nat,
            Kind::Snat => sync::Kind::Snat,
            Kind::FullNat => sync::Kind::FullNat,
            Kind::Dr => sync::Kind::Dr,
            Kind::Tunnel => sync::Kind::Tunnel,
            // NAT64 flows live in the IPv6 table, which session sync does not carry.
            Kind::Nat64 => sync::Kind::FullNat,
        },
        state: e.state,
        class: e.class,
        fins: e.fins,
        profile: e.profile,
        backend: e.backend,
        backend_port: e.backend_port,
        local: e.local,
        local_port: e.local_port,
        remaining_ms,
    }
}

fn key_of(e: &Entry) -> sync::FlowKey {
    sync::FlowKey {
        zone: e.zone,
        proto: e.proto,
        client: e.client,
        client_port: e.client_port,
        vip: e.vip,
        vip_port: e.vip_port,
    }
}

fn original(k: &sync::FlowKey) -> FlowKey {
    FlowKey {
        src: k.client,
        dst: k.vip,
        src_port: k.client_port,
        dst_port: k.vip_port,
        proto: k.proto,
        zone: k.zone,
    }
}

/// A state byte the data plane knows, or `None` (the record is refused).
fn state(v: u8) -> Option<State> {
    (v <= State::Icmp as u8).then(|| State::from_u8(v))
}

/// What a peer's record asks of the data plane: a flow to adopt (its kind says which ownership
/// rule finds its worker), or a refresh or removal of the flow with `key`, which names no kind,
/// so both rules' workers are asked.
pub enum Work {
    Adopt(Adopted),
    Either(FlowKey, Inbound),
}

/// The work a state record asks for; `None` for a record that names a state the data plane
/// does not have (counted as refused), or one that needs no work here.
pub fn work(r: &sync::Record) -> Option<Work> {
    Some(match r {
        sync::Record::FlowUpsert(f) => {
            let kind = match f.kind {
                sync::Kind::Nat => Kind::Nat,
                sync::Kind::Snat => Kind::Snat,
                sync::Kind::FullNat => Kind::FullNat,
                sync::Kind::Dr => Kind::Dr,
                sync::Kind::Tunnel => Kind::Tunnel,
            };
            Work::Adopt(Adopted {
                original: original(&f.key),
                kind,
                state: state(f.state)?,
                fins: f.fins & 3,
                profile: f.profile,
                backend: f.backend,
                backend_port: f.backend_port,
                local: f.local,
                local_port: f.local_port,
                remaining_ms: f.remaining_ms,
            })
        }
        sync::Record::FlowRefresh(f) => Work::Either(
            original(&f.key),
            Inbound::Refresh {
                key: original(&f.key),
                state: state(f.state)?,
                fins: f.fins & 3,
                remaining_ms: f.remaining_ms,
            },
        ),
        sync::Record::FlowRemoved(k) => Work::Either(original(k), Inbound::Forget(original(k))),
        // Mappings and pool ports come with their flows (see above).
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_flow_survives_the_round_trip_through_a_record() {
        let e = Entry {
            client: Ipv4Addr::new(198, 18, 0, 7),
            vip: Ipv4Addr::new(198, 18, 1, 1),
            backend: Ipv4Addr::new(198, 18, 2, 1),
            local: Ipv4Addr::new(198, 18, 3, 1),
            client_port: 40000,
            vip_port: 80,
            backend_port: 8080,
            local_port: 1025,
            zone: 3,
            proto: 6,
            state: State::Established as u8,
            class: 1,
            fins: 1,
            profile: 0,
            kind: Kind::FullNat as u8,
            ..Entry::EMPTY
        };
        let c = Change {
            kind: ChangeKind::Created,
            entry: e,
            remaining_ms: 1234,
        };
        let Some(Work::Adopt(a)) = work(&record(&c)) else {
            panic!("an upsert adopts");
        };
        assert_eq!(a, Adopted::from_entry(&e, 1234));
        let gone = Change {
            kind: ChangeKind::Removed,
            ..c
        };
        let Some(Work::Either(_, Inbound::Forget(k))) = work(&record(&gone)) else {
            panic!("a removal forgets");
        };
        assert_eq!(k, e.original_key());
        let mut bad = flow_of(&e, 1);
        bad.state = 200;
        assert!(work(&sync::Record::FlowUpsert(bad)).is_none());
    }
}
