//! A sans-IO BGP-4 speaker core for an anycast VIP announcer: wire codec,
//! RFC 4271 §8 session FSM with collision resolution, and a per-peer
//! Adj-RIB-Out. It originates routes and never installs received ones.
//!
//! Like quinn-proto, the core has no sockets, no clock and no threads. The
//! shell (the daemon's tokio TCP code) owns the sockets, passes `now` into
//! every call, and carries out what the core asks for.
//!
//! # Pieces
//!
//! - [`packet`]: [`Message`](packet::Message) `decode`/`encode_into` for
//!   OPEN, UPDATE, NOTIFICATION, KEEPALIVE and ROUTE-REFRESH, and
//!   [`MessageReader`](packet::framer::MessageReader), which frames messages
//!   out of arbitrary TCP chunks. Decoding never panics; every error maps to
//!   the NOTIFICATION RFC 4271 §6 prescribes
//!   ([`DecodeError::notification`](error::DecodeError::notification)), and
//!   UPDATE attribute errors follow RFC 7606
//!   ([`UpdateMessage::rfc7606_verdict`](packet::update::UpdateMessage::rfc7606_verdict)).
//! - [`peer::Peer`]: one configured neighbour ([`config::PeerConfig`]): the
//!   FSM over up to two TCP connections, ConnectRetry with jittered
//!   exponential restart backoff, Hold/Keepalive, DelayOpen, the RFC 9687
//!   SendHoldTimer, and the [`adj_rib_out::AdjRibOut`] that turns the
//!   desired routes into packed UPDATEs.
//!
//! # How the shell drives a [`Peer`]
//!
//! 1. `Peer::new(config, seed)`, then `set_route(prefix, attrs)` for each
//!    VIP (any time, before or after the session is up), then
//!    `start(now)`.
//! 2. After **every** input below, drain the outputs in this order:
//!    - `poll_transmit(now)` until `None`: write each `Transmit.data` to
//!      `Transmit.conn` in order. When a connection's writes have all been
//!      accepted by the socket, call `handle_transmit_drained(now, conn)`.
//!    - `poll_command()` until `None`: `Command::Connect(id)` → dial the
//!      peer and later report `handle_connected(now, id, local_ip)` or
//!      `handle_closed(now, id)`; `Command::Close(id)` → close that socket
//!      (its last bytes, e.g. a NOTIFICATION, came out of `poll_transmit`
//!      first; write them without blocking indefinitely).
//!    - `poll_event()` until `None`: log, export metrics.
//!    - `poll_timeout()`: sleep until that instant (or the next input), then
//!      call `handle_timeout(now)`.
//! 3. Inputs: `accept(now, local_ip)` for an inbound TCP connection from the
//!    peer (`None` means close it at once), `handle_data(now, conn, bytes)`
//!    for bytes read, `handle_closed(now, conn)` on EOF/error,
//!    `handle_timeout(now)`, `set_route`/`remove_route`/`set_routes`/
//!    `set_graceful_shutdown`, and `stop(now, Some("reason"))`.
//! 4. Orderly shutdown: `set_graceful_shutdown(true)` and wait, then
//!    `set_routes([])` and drain `poll_transmit` (the withdrawals), then
//!    `stop(now, Some("..."))` and drain again.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Instant;
//! use bgp::{Command, Peer, PeerConfig, Prefix, RouteAttributes};
//!
//! let cfg = PeerConfig::new(65001, 65002, Ipv4Addr::new(192, 0, 2, 1));
//! cfg.validate().expect("valid configuration");
//! let mut peer = Peer::new(cfg, /* jitter seed */ 0x5eed);
//! peer.set_route("198.18.255.1/32".parse::<Prefix>().unwrap(), RouteAttributes::default());
//! let now = Instant::now();
//! peer.start(now);
//! // The shell dials and reports the outcome.
//! let Some(Command::Connect(conn)) = peer.poll_command() else { unreachable!() };
//! peer.handle_connected(now, conn, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)));
//! // Our OPEN is ready to be written.
//! let tx = peer.poll_transmit(now).unwrap();
//! assert_eq!(tx.conn, conn);
//! assert_eq!(tx.data[18], 1); // message type OPEN
//! // Sleep until `peer.poll_timeout()`, then `peer.handle_timeout(now)`.
//! assert!(peer.poll_timeout().is_some());
//! ```
//!
//! Withdrawals are generated before announcements and UPDATEs only when
//! polled, so a withdrawal issued during a bulk announcement overtakes
//! everything not yet handed out; keepalives never queue behind UPDATEs.

#![forbid(unsafe_code)]

pub mod adj_rib_out;
pub mod collision;
pub mod config;
pub mod error;
pub mod events;
pub(crate) mod fsm;
pub mod fuzzing;
pub mod negotiated;
pub mod packet;
pub mod peer;
pub mod timers;

pub use adj_rib_out::RouteAttributes;
pub use config::{ConfigError, PeerConfig};
pub use events::{CloseReason, Command, ConnectionId, Event, State, Transmit};
pub use negotiated::Negotiated;
pub use packet::family::Family;
pub use packet::prefix::Prefix;
pub use peer::Peer;
