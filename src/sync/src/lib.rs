//! A sans-IO session-sync core: the wire format and the reliable delivery, towards one peer,
//! of the records that let an HA peer recreate our flows, SNAT mappings and FullNAT ports
//! (issue 13). It opens no socket, reads no clock and draws no random number: `now` and the
//! per-start `epoch` are arguments. The daemon's shell sends the datagrams over UDP, applies
//! the records into the data plane's tables and serves the bulk pages from them.
//!
//! # Wire format, version 1
//!
//! Every integer is big-endian. A datagram (at most `max_datagram`, 1,400 bytes by default):
//!
//! ```text
//!  0               4       5       6       7       8
//! +---------------+-------+-------+-------+-------+
//! | magic "ASYN"  |version| type  | flags |   0   |   type: 1 Data, 2 Control
//! +---------------+-------+-------+-------+-------+   flags: 0x01 ack now (a resend)
//! |                 sender node id (8)            |  8
//! |                 sender epoch (8)              | 16   random per start of the sender
//! | sequence number (4)   | record count (2)| length (2) | 24  length: whole datagram
//! |                 peer epoch (8)                | 32   the receiver's epoch the acks
//! | cumulative ack (4)    |                         40   and a Data stream belong to
//! |                 selective ack bitmap (8)      | 44   bit i: cum ack + 2 + i arrived
//! +-----------------------------------------------+ 52
//! | records: type (1), body length (2), body      |
//! | ...                                           |
//! +-----------------------------------------------+
//! | HMAC-SHA256 of everything above, first 16 bytes|
//! +-----------------------------------------------+
//! ```
//!
//! Record bodies (`af` is the address family, 4; 6 is reserved for IPv6, whose addresses
//! will take 16 bytes each; a flow key is `af, proto, zone(2), client(4), client port(2),
//! vip(4), vip port(2)`, 16 bytes):
//!
//! | type | record               | body                                                      | bytes |
//! |------|----------------------|-----------------------------------------------------------|------:|
//! | 1    | flow upsert          | key, kind, state, class, fins, profile, backend(4), backend port(2), local(4), local port(2), remaining ms(4) | 37 |
//! | 2    | flow refresh / class | key, state, class, fins, remaining ms(4)                  | 23 |
//! | 3    | flow removed         | key                                                       | 16 |
//! | 4    | SNAT mapping upsert  | af, proto, zone(2), inside(4), inside port(2), external(4), external port(2), pool | 17 |
//! | 5    | SNAT mapping removed | af, proto, zone(2), inside(4), inside port(2)             | 10 |
//! | 6    | FullNAT port         | af, proto, local(4), local port(2), backend(4), backend port(2), held (0/1) | 15 |
//! | 7    | bulk request         | cursor(8)                                                 | 8 |
//! | 8    | bulk page marker     | cursor(8), total(8), entries(4), last (0/1)               | 21 |
//! | 9    | hello                | table size(8), workers(2), config digest(8), pools(1), per pool: af, address(4), port lo(2), port hi(2) | 19 + 9n |
//!
//! A flow record is 40 bytes on the wire with its type and length; a 1,400-byte datagram
//! carries 33 of them (1,332 bytes of records after the 52-byte header and 16-byte HMAC).
//!
//! Decoding checks, each with its own [`DecodeError`]: at least a header and an HMAC
//! (truncated), the magic, the version, the length field against the datagram's size, the
//! HMAC (constant time), then the message type, the reserved byte, every record's type and
//! length, address families and flag values, and the record count.
//!
//! # Delivery ([`Peer`])
//!
//! * **Data** datagrams carry state records under a sequence number (per sender epoch,
//!   starting at 1, serial arithmetic). The receiver delivers them **in order, exactly once**:
//!   a datagram ahead of a gap waits (at most 64, the selective ack's reach), so a
//!   flow removed after being created is never applied before its creation. Every datagram
//!   acks the peer's stream: a cumulative ack plus a 64-bit selective ack bitmap.
//!   Unacked datagrams are resent on an RFC 6298 timer (SRTT/RTTVAR, Karn's rule, doubling
//!   backoff, bounded by `rto_min`..`rto_max`); at most `window` (<= 64) are in flight.
//! * **Control** datagrams carry a hello or nothing (a bare ack); their sequence number is a
//!   separate counter that must grow, so a replayed hello is dropped too. Any other record
//!   in a Control datagram is ignored: state travels only where it is acked and ordered.
//! * **Replay**: a Data sequence number at or behind the cumulative ack or already buffered
//!   is counted `replayed` and dropped; beyond the window, `out_of_window`. A Data datagram
//!   addressed to an earlier epoch of ours, or from an epoch of the peer that was replaced
//!   (the last 8 are remembered), is `stale_epoch`. Known limit: after *we* restart, the
//!   replaced epochs are forgotten, so someone who recorded the peer's signed datagrams can
//!   replay one of an older peer epoch and make us take it for a restart: that costs a
//!   bulk resync, never wrong state (data to a wrong epoch is refused by the peer).
//! * **Restart**: a new sender epoch means the peer lost its tables. Receive state is reset,
//!   records in flight to it are abandoned (counted lost; they are superseded) and a bulk
//!   resync to it begins. Data is sent only once the peer's hello has arrived with settings
//!   equal to ours ([`Settings`]: worker count, SNAT pool ranges, a digest of the rest); a
//!   mismatch raises [`Event::SettingsMismatch`] and every Data datagram from it is refused.
//! * **Coalescing**: a flow (or SNAT mapping, or FullNAT port) record still in the send queue
//!   is replaced in place by a later record of the same key, a refresh folding into a queued
//!   upsert; once sent, a record is delivered, and a later one follows it in order. So the
//!   peer applies every record queued exactly once, or its latest state when superseded.
//! * **Bounds**: the send queue holds `queue_capacity` records; a full queue **refuses** the
//!   new record (`records_lost`, [`Event::QueueOverflow`]) rather than dropping the oldest,
//!   because a dropped record cannot be told apart from a delivered one later, and once the
//!   queue has drained to half a bulk resync repairs what was refused. In flight: `window`
//!   datagrams; reordered: 64; events: 64. A peer flooding datagrams grows nothing.
//! * **Bulk resync** is driven by its owner: the endpoint pulls pages from the caller's
//!   [`BulkSource`] by cursor in [`Peer::pump_bulk`], only while fewer than `bulk_backlog`
//!   records wait, so live records keep flowing and the pace is the window's. Each page ends
//!   with a marker (cursor, total, entries, last); progress (entries sent, acked, total) on
//!   both sides.
//! * **Liveness**: a hello every `hello_interval`; the peer is down after `dead_after`
//!   intervals without an authenticated datagram; nothing is resent while it is down.
//!
//! # Figures
//!
//! `cargo run --release -p session-sync --example codec_bench` (2-core shared machine): a
//! flow record is 40 bytes, 42 bytes per flow with the header and HMAC shared by 33 of
//! them; encode and sign about 56 ns per flow record (1.9 us per full datagram), verify and
//! decode about 73 ns (2.4 us); a bulk resync of 1,000,000 entries between two endpoints in
//! memory (no sockets) 0.47 s, 42 MB.
//!
//! # Use
//!
//! ```text
//! let mut p = Peer::new(config, random_epoch, now)?;
//! loop {
//!     p.queue(record, now)?;                        // from the workers' change rings
//!     let apply = p.receive(&datagram, now)?;       // Err(reason): counted, dropped
//!     p.handle_timeout(now);                        // at p.poll_timeout()
//!     p.pump_bulk(now, &mut table);                 // BulkSource over the conntrack
//!     while let Some(bytes) = p.poll_transmit(now) { send(bytes) }
//!     while let Some(e) = p.poll_event() { report(e) }
//! }
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod endpoint;
pub mod fuzzing;
pub mod record;
pub mod rto;
pub mod stats;
pub mod wire;

pub use config::{Config, ConfigError};
pub use endpoint::{BulkSource, Discard, Event, Peer, QueueFull};
pub use record::*;
pub use stats::{BulkProgress, Discards, Stats};
pub use wire::{peek_sender, Datagram, DecodeError, Header, Key, MsgType};
