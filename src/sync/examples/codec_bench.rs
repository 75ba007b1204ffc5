//! Quick figures: bytes on the wire per flow record, encode and decode (with the HMAC) per
//! record, and a bulk resync of 1,000,000 entries between two endpoints in memory.
//!
//!     cargo run --release -p session-sync --example codec_bench

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use session_sync::wire::{record_len, Datagram, Header, Key, MsgType};
use session_sync::*;

fn flow(i: u32) -> Record {
    Record::FlowUpsert(Flow {
        key: FlowKey {
            zone: 0,
            proto: 6,
            client: Ipv4Addr::from(0xC612_0000 | (i >> 16)),
            client_port: i as u16,
            vip: Ipv4Addr::new(198, 19, 0, 1),
            vip_port: 80,
        },
        kind: Kind::Nat,
        state: 2,
        class: 1,
        fins: 0,
        profile: 0,
        backend: Ipv4Addr::new(198, 18, 1, 1),
        backend_port: 8080,
        local: Ipv4Addr::from(0xC612_0000 | (i >> 16)),
        local_port: i as u16,
        remaining_ms: 1000,
    })
}

struct Table(u64);

impl BulkSource for Table {
    fn entries(&self) -> u64 {
        self.0
    }
    fn page(&mut self, cursor: u64, max: usize, out: &mut Vec<Record>) -> Option<u64> {
        let end = (cursor + max as u64).min(self.0);
        out.extend((cursor..end).map(|i| flow(i as u32)));
        (end < self.0).then_some(end)
    }
}

fn main() {
    let key = Key::new(b"a shared secret of 32 bytes.....");
    let d = Datagram {
        header: Header {
            msg_type: MsgType::Data,
            flags: 0,
            node_id: 1,
            epoch: 2,
            seq: 3,
            peer_epoch: 4,
            cum_ack: 5,
            sack: 0,
        },
        records: (0..33).map(flow).collect(),
    };
    let bytes = d.encode(&key);
    println!(
        "flow record: {} bytes; 33 per 1,400-byte datagram ({} bytes, {:.1} bytes per flow with header and HMAC)",
        record_len(&d.records[0]),
        bytes.len(),
        bytes.len() as f64 / 33.0
    );
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        black_box(black_box(&d).encode(&key));
    }
    let enc = t.elapsed();
    let t = Instant::now();
    for _ in 0..n {
        black_box(Datagram::decode(black_box(&bytes), &key).unwrap());
    }
    let dec = t.elapsed();
    let per = |e: Duration| e.as_nanos() as f64 / f64::from(n) / 33.0;
    println!(
        "encode + sign: {:.0} ns per record ({:.2} us per datagram); verify + decode: {:.0} ns per record ({:.2} us per datagram)",
        per(enc),
        enc.as_secs_f64() * 1e6 / f64::from(n),
        per(dec),
        dec.as_secs_f64() * 1e6 / f64::from(n)
    );

    // Bulk resync of 1,000,000 entries, both endpoints in this thread, a perfect link.
    let settings = Settings::default();
    let now = Instant::now();
    let mut a = Peer::new(Config::new(1, b"k".to_vec(), settings.clone()), 0xA, now).unwrap();
    let mut b = Peer::new(Config::new(2, b"k".to_vec(), settings), 0xB, now).unwrap();
    let mut table = Table(1_000_000);
    let mut empty = Table(0);
    let (mut applied, mut bytes_on_wire) = (0usize, 0usize);
    let start = Instant::now();
    a.handle_timeout(now);
    b.handle_timeout(now);
    while !(a.bulk_sending().done && a.bulk_sending().sent == 1_000_000) {
        a.pump_bulk(now, &mut table);
        b.pump_bulk(now, &mut empty);
        while let Some(d) = a.poll_transmit(now) {
            bytes_on_wire += d.len();
            applied += b.receive(&d, now).map_or(0, |r| r.len());
        }
        while let Some(d) = b.poll_transmit(now) {
            let _ = a.receive(&d, now);
        }
    }
    let took = start.elapsed();
    println!(
        "bulk resync of 1,000,000 entries in memory: {:.2} s ({:.0} entries/s), {} applied, {:.1} MB on the wire ({:.1} bytes per entry)",
        took.as_secs_f64(),
        1e6 / took.as_secs_f64(),
        applied,
        bytes_on_wire as f64 / 1e6,
        bytes_on_wire as f64 / 1e6
    );
}
