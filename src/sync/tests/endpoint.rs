//! One test per rule of the endpoint, on a perfect link unless the test drops something.

mod common;

use std::time::{Duration, Instant};

use common::*;
use session_sync::wire::{Datagram, Header, Key, MsgType};
use session_sync::*;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn hellos_bring_both_up_and_agreed() {
    let t = Instant::now();
    let (a, b) = pair(t);
    assert!(a.is_up() && b.is_up());
    assert_eq!(a.settings_agreed(), Some(true));
    assert_eq!(b.peer_id(), Some((1, 0xA)));
}

#[test]
fn records_arrive_in_order_once() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t);
    let sent: Vec<Record> = (0..100).map(upsert).collect();
    for r in &sent {
        a.queue(r.clone(), t).unwrap();
    }
    let (_, got) = exchange(&mut a, &mut b, t);
    assert_eq!(got, sent);
    assert_eq!(a.in_flight(), 0, "all acked");
    assert_eq!(b.stats().records_received, 100);
    // 33 flow records per 1,400-byte datagram.
    assert_eq!(a.stats().records_sent, 100);
}

#[test]
fn nothing_is_sent_before_the_peers_hello() {
    let t = Instant::now();
    let mut a = Peer::new(config(1), 0xA, t).unwrap();
    a.queue(upsert(1), t).unwrap();
    a.handle_timeout(t);
    let d = a.poll_transmit(t).unwrap();
    let key = Key::new(KEY);
    let d = Datagram::decode(&d, &key).unwrap();
    assert_eq!(d.header.msg_type, MsgType::Control);
    assert!(matches!(d.records[..], [Record::Hello(_)]));
    assert!(a.poll_transmit(t).is_none());
}

/// A node with a table hears a new peer: its hello goes before its first window, so the
/// peer (which refuses data until it knows our settings) takes the window at once rather than
/// after a retransmission timeout.
#[test]
fn a_new_peer_takes_our_first_window() {
    let t = Instant::now();
    let mut a = Peer::new(config(1), 0xA, t).unwrap();
    let mut b = Peer::new(config(2), 0xB, t).unwrap();
    let mut table = Table((0..5000).map(upsert).collect());
    b.handle_timeout(t);
    let hello = b.poll_transmit(t).unwrap();
    a.receive(&hello, t).unwrap();
    a.pump_bulk(t, &mut table);
    let mut got = Vec::new();
    let mut datagrams = 0;
    while let Some(d) = a.poll_transmit(t) {
        datagrams += 1;
        got.extend(b.receive(&d, t).unwrap());
    }
    assert_eq!(datagrams, 1 + 32, "the hello and a window of data");
    assert_eq!(b.stats().discards.total(), 0);
    // 33 flow records a datagram, less the room of the bulk's page markers.
    assert!(
        got.len() > 31 * 33,
        "the whole window delivered: {}",
        got.len()
    );
    assert_eq!(got[..], table.0[..got.len()]);
}

#[test]
fn queued_records_of_one_key_coalesce() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t);
    a.queue(upsert(1), t).unwrap();
    a.queue(
        Record::FlowRefresh(FlowRefresh {
            key: key(1),
            state: 3,
            class: 2,
            fins: 1,
            remaining_ms: 5,
        }),
        t,
    )
    .unwrap();
    a.queue(upsert(2), t).unwrap();
    a.queue(Record::FlowRemoved(key(2)), t).unwrap();
    assert_eq!(a.queued(), 2);
    let (_, got) = exchange(&mut a, &mut b, t);
    let mut f = flow(1);
    (f.state, f.class, f.fins, f.remaining_ms) = (3, 2, 1, 5);
    assert_eq!(
        got,
        vec![Record::FlowUpsert(f), Record::FlowRemoved(key(2))]
    );
    assert_eq!(a.stats().records_coalesced, 2);
}

#[test]
fn a_lost_datagram_is_resent_after_the_rto_and_applied_once() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t);
    a.queue(upsert(1), t).unwrap();
    let lost = a.poll_transmit(t).unwrap();
    drop(lost);
    assert!(a.poll_transmit(t).is_none());
    let due = a.poll_timeout().unwrap();
    assert!(due <= t + ms(50));
    a.handle_timeout(due);
    let again = a.poll_transmit(due).unwrap();
    assert_eq!(b.receive(&again, due).unwrap(), vec![upsert(1)]);
    // Its ack gets lost too: the next resend is a replay to b, counted and not applied.
    let _ack = b.poll_transmit(due).unwrap();
    let (third, now) = loop {
        let now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        let sent: Vec<_> = std::iter::from_fn(|| a.poll_transmit(now)).collect();
        if let Some(d) = sent
            .into_iter()
            .find(|d| Datagram::decode(d, &Key::new(KEY)).unwrap().header.msg_type == MsgType::Data)
        {
            break (d, now);
        }
    };
    assert_eq!(b.receive(&third, now), Err(Discard::Replayed));
    let ack = b.poll_transmit(now).unwrap();
    a.receive(&ack, now).unwrap();
    assert_eq!(a.in_flight(), 0);
    assert_eq!(a.stats().records_resent, 2);
    assert_eq!(b.stats().discards.replayed, 1);
    // The RTO backed off twice from 50 ms.
    assert_eq!(a.rto(), ms(200));
}

#[test]
fn out_of_order_datagrams_wait_for_the_gap_and_are_sacked() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t);
    for i in 0..99 {
        a.queue(upsert(i), t).unwrap();
    }
    let d1 = a.poll_transmit(t).unwrap();
    let d2 = a.poll_transmit(t).unwrap();
    let d3 = a.poll_transmit(t).unwrap();
    assert_eq!(b.receive(&d3, t).unwrap(), vec![]);
    assert_eq!(b.receive(&d2, t).unwrap(), vec![]);
    let ack = b.poll_transmit(t).unwrap();
    let h = Datagram::decode(&ack, &Key::new(KEY)).unwrap().header;
    assert_eq!((h.cum_ack, h.sack), (0, 0b11));
    a.receive(&ack, t).unwrap();
    assert_eq!(a.in_flight(), 1, "2 and 3 selectively acked");
    let got = b.receive(&d1, t).unwrap();
    assert_eq!(got, (0..99).map(upsert).collect::<Vec<_>>());
}

#[test]
fn forged_truncated_and_version_mismatched_datagrams_are_counted_never_applied() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t);
    let mut forger = Peer::new(
        Config {
            key: b"not the key".to_vec(),
            ..config(1)
        },
        0xA,
        t,
    )
    .unwrap();
    forger.handle_timeout(t);
    let forged = forger.poll_transmit(t).unwrap();
    assert_eq!(
        b.receive(&forged, t),
        Err(Discard::Decode(DecodeError::BadHmac))
    );
    a.queue(upsert(1), t).unwrap();
    let good = a.poll_transmit(t).unwrap();
    assert!(matches!(
        b.receive(&good[..good.len() - 3], t),
        Err(Discard::Decode(DecodeError::BadLength { .. }))
    ));
    assert!(matches!(
        b.receive(&good[..20], t),
        Err(Discard::Decode(DecodeError::Truncated(20)))
    ));
    let mut v2 = good.clone();
    v2[4] = 2;
    assert_eq!(
        b.receive(&v2, t),
        Err(Discard::Decode(DecodeError::UnsupportedVersion(2)))
    );
    let d = b.stats().discards;
    assert_eq!(
        (d.bad_hmac, d.bad_length, d.truncated, d.unsupported_version),
        (1, 1, 1, 1)
    );
    assert_eq!(b.stats().records_received, 0);
    assert_eq!(b.receive(&good, t).unwrap(), vec![upsert(1)]);
    assert_eq!(b.receive(&good, t), Err(Discard::Replayed));
}

#[test]
fn a_replayed_hello_is_dropped() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t);
    a.handle_timeout(t + ms(100));
    let hello = a.poll_transmit(t + ms(100)).unwrap();
    b.receive(&hello, t + ms(100)).unwrap();
    assert_eq!(b.receive(&hello, t + ms(100)), Err(Discard::Replayed));
}

#[test]
fn our_own_datagrams_are_loopback() {
    let t = Instant::now();
    let mut a = Peer::new(config(1), 0xA, t).unwrap();
    a.handle_timeout(t);
    let d = a.poll_transmit(t).unwrap();
    assert_eq!(a.receive(&d, t), Err(Discard::Loopback));
}

fn data_from_a(seq: u32, peer_epoch: u64, i: u32) -> Vec<u8> {
    Datagram {
        header: Header {
            msg_type: MsgType::Data,
            flags: 0,
            node_id: 1,
            epoch: 0xA,
            seq,
            peer_epoch,
            cum_ack: 0,
            sack: 0,
        },
        records: vec![upsert(i)],
    }
    .encode(&Key::new(KEY))
}

#[test]
fn beyond_the_window_and_to_a_stale_epoch_are_refused() {
    let t = Instant::now();
    let (_a, mut b) = pair(t);
    assert_eq!(
        b.receive(&data_from_a(66, 0xB, 0), t),
        Err(Discard::OutOfWindow)
    );
    assert_eq!(
        b.receive(&data_from_a(1, 0xBAD, 0), t),
        Err(Discard::StaleEpoch)
    );
    assert_eq!(b.receive(&data_from_a(65, 0xB, 0), t), Ok(vec![]));
    assert_eq!(b.stats().discards.out_of_window, 1);
    assert_eq!(b.stats().discards.stale_epoch, 1);
}

#[test]
fn a_flooding_peer_grows_nothing() {
    let t = Instant::now();
    let (_a, mut b) = pair(t);
    // Every sequence number of the window but the first, then far beyond it, 100,000 times.
    for n in 0..100_000u32 {
        let seq = 2 + n % 200;
        let _ = b.receive(&data_from_a(seq, 0xB, n), t);
        assert!(b.reordered() <= 64);
    }
    assert_eq!(b.stats().records_received, 0);
    assert!(b.stats().discards.out_of_window > 0 && b.stats().discards.replayed > 0);
    // And our own queue: a caller queuing without end is refused beyond capacity.
    let mut cfg = config(3);
    cfg.queue_capacity = 1000;
    let mut c = Peer::new(cfg, 1, t).unwrap();
    let refused = (0..100_000)
        .filter(|&i| c.queue(upsert(i), t).is_err())
        .count();
    assert_eq!((c.queued(), refused), (1000, 99_000));
    assert_eq!(c.stats().records_lost, 99_000);
    assert_eq!(c.poll_event(), Some(Event::QueueOverflow));
    assert_eq!(c.poll_event(), None, "one event per overflow");
}

#[test]
fn an_overflowed_queue_is_repaired_by_a_bulk_resync() {
    let t = Instant::now();
    let mut ca = config(1);
    ca.queue_capacity = 100;
    let mut a = Peer::new(ca, 0xA, t).unwrap();
    let mut b = Peer::new(config(2), 0xB, t).unwrap();
    a.handle_timeout(t);
    b.handle_timeout(t);
    exchange(&mut a, &mut b, t);
    let mut table = Table((0..300).map(upsert).collect());
    // The first bulk (on first contact) runs; then the live records overflow.
    a.pump_bulk(t, &mut table);
    exchange(&mut a, &mut b, t);
    let fails = (1000..1300)
        .filter(|&i| a.queue(upsert(i), t).is_err())
        .count();
    assert_eq!(fails, 200);
    table.0.extend((1000..1300).map(upsert));
    let (_, _, got) = run(
        &mut a,
        &mut b,
        t,
        50,
        ms(10),
        &mut table,
        &mut Table(vec![]),
    );
    for i in 1000..1300 {
        assert!(got.contains(&upsert(i)), "record {i} repaired");
    }
    assert!(a.bulk_sending().done);
}

#[test]
fn settings_mismatch_is_loud_and_blocks_data() {
    let t = Instant::now();
    let mut a = Peer::new(config(1), 0xA, t).unwrap();
    let mut cb = config(2);
    cb.settings.workers = 4;
    let mut b = Peer::new(cb, 0xB, t).unwrap();
    a.handle_timeout(t);
    b.handle_timeout(t);
    a.queue(upsert(1), t).unwrap();
    let (_, got) = exchange(&mut a, &mut b, t);
    assert!(got.is_empty());
    assert_eq!(a.settings_agreed(), Some(false));
    assert!(matches!(a.poll_event(), Some(Event::PeerUp { .. })));
    assert!(
        matches!(a.poll_event(), Some(Event::SettingsMismatch { theirs, .. }) if theirs.workers == 4)
    );
    assert_eq!(a.queued(), 1, "held, not sent");
}

#[test]
fn a_silent_peer_goes_down_and_comes_back() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t);
    let mut now = t;
    while a.is_up() {
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        while a.poll_transmit(now).is_some() {}
    }
    assert_eq!(now, t + ms(300), "3 hello intervals");
    assert_eq!(a.poll_event(), Some(Event::PeerDown));
    b.handle_timeout(now);
    exchange(&mut a, &mut b, now);
    assert!(a.is_up());
    assert!(matches!(a.poll_event(), Some(Event::PeerUp { .. })));
}

#[test]
fn a_restarted_peer_gets_a_bulk_resync_and_old_epochs_are_stale() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t);
    let mut table = Table((0..1000).map(upsert).collect());
    a.pump_bulk(t, &mut table);
    // b's hello of its first life, kept for a replay.
    b.handle_timeout(t + ms(100));
    let old = b.poll_transmit(t + ms(100)).unwrap();
    exchange(&mut a, &mut b, t);
    let mut got = Vec::new();
    for _ in 0..100 {
        a.pump_bulk(t, &mut table);
        got.extend(exchange(&mut a, &mut b, t).1);
    }
    assert!(a.bulk_sending().done);
    // b restarts with a new epoch and an empty table.
    let mut b = Peer::new(config(2), 0xB2, t).unwrap();
    let (t, _, got) = run(
        &mut a,
        &mut b,
        t,
        100,
        ms(10),
        &mut table,
        &mut Table(vec![]),
    );
    assert_eq!(got, table.0);
    let events: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
    assert!(events.contains(&Event::PeerRestarted {
        node_id: 2,
        epoch: 0xB2
    }));
    assert!(events.contains(&Event::BulkSent { entries: 1000 }));
    let p = a.bulk_sending();
    assert_eq!((p.sent, p.acked, p.total, p.done), (1000, 1000, 1000, true));
    let r = b.bulk_receiving();
    assert_eq!((r.sent, r.total, r.done), (1000, 1000, true));
    assert_eq!(a.receive(&old, t), Err(Discard::StaleEpoch));
    assert_eq!(a.stats().peer_restarts, 1);
}

#[test]
fn a_peer_asked_for_its_table_sends_it() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t);
    let mut empty = Table(Vec::new());
    let mut table = Table((0..50).map(upsert).collect());
    b.pump_bulk(t, &mut table);
    a.pump_bulk(t, &mut empty);
    exchange(&mut a, &mut b, t);
    while a.poll_event().is_some() {}
    a.request_bulk(t).unwrap();
    let mut got = Vec::new();
    for _ in 0..10 {
        b.pump_bulk(t, &mut table);
        got.extend(exchange(&mut a, &mut b, t).0);
    }
    assert_eq!(got, table.0);
    assert_eq!(
        a.poll_event(),
        Some(Event::BulkReceived {
            entries: 50,
            total: 50
        })
    );
}

#[test]
fn lag_is_the_oldest_unacked_age() {
    let t = Instant::now();
    let (mut a, _b) = pair(t);
    assert_eq!(a.lag(t), Duration::ZERO);
    a.queue(upsert(1), t).unwrap();
    a.poll_transmit(t + ms(5)).unwrap();
    assert_eq!(a.lag(t + ms(30)), ms(30));
}

#[test]
fn bad_configs_are_refused() {
    let t = Instant::now();
    let mut c = config(1);
    c.window = 65;
    assert_eq!(Peer::new(c, 1, t).err(), Some(ConfigError::Window));
    let mut c = config(1);
    c.max_datagram = 100;
    assert_eq!(Peer::new(c, 1, t).err(), Some(ConfigError::MaxDatagram));
    assert_eq!(Peer::new(config(1), 0, t).err(), Some(ConfigError::Epoch));
}
