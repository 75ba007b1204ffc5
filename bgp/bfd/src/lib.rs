//! A sans-IO BFD implementation: Bidirectional Forwarding Detection (RFC 5880) in
//! Asynchronous mode, for single-hop sessions over IPv4 and IPv6 (RFC 5881).
//!
//! The crate holds the codec, the authentication digests and the session state machine. It
//! opens no socket, reads no clock, draws no random number and spawns nothing: every input
//! carries `now`, the random values the RFC asks for are arguments, and outputs are values the
//! caller drains. The daemon's BFD shell (`src/bfdd`) does the IO: UDP port 3784, TTL 255.
//!
//! # Codec
//!
//! * [`ControlPacket`]: `decode` (§6.8.6's version and length rules) and `encode`, lossless:
//!   a decoded packet re-encodes to the same bytes.
//! * [`AuthSection`]: Simple Password, Keyed and Meticulous Keyed MD5 and SHA1 (§4.2-4.4);
//!   [`auth::sign`] and [`auth::verify`] compute the digests (§6.7.3, §6.7.4).
//! * [`peek_your_discriminator`] for choosing a session before decoding.
//!
//! # Session
//!
//! ```text
//! let mut s = Session::new(config, random_nonzero_discriminator, random_u32)?;
//! s.start(now);
//! loop {
//!     while let Some(action) = s.poll_action() {
//!         match action {
//!             Action::Transmit(t) => send(t.bytes),          // to port 3784, TTL 255
//!             Action::StateChanged(c) => report(c),          // c.is_failure(): Up -> Down
//!         }
//!     }
//!     // sleep until s.poll_timeout() or a datagram, then one of:
//!     s.handle_timeout(now, Jitter(random_u16));
//!     s.handle_packet(now, RxMeta { ttl }, &payload);        // Err(reason): discarded
//!     s.reconfigure(now, new_config)?;                       // timers: Poll Sequence
//!     s.admin_down(now, Diagnostic::AdministrativelyDown);   // before stopping
//! }
//! ```
//!
//! The shell chooses the session of a datagram: by Your Discriminator when it is nonzero
//! (a datagram naming no session is [`Discard::YourDiscriminatorUnknown`]), else by source
//! address and interface ([`Discard::NoSession`] when none matches).
//!
//! # Names
//!
//! Variables follow §6.8.1 (`bfd.SessionState` is [`Session::state`], `bfd.LocalDiscr`
//! [`Session::local_discr`], ...). Demand mode is not offered (our D bit is clear) but is
//! honoured when the remote system asks for it; the Echo function is not implemented.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod auth;
pub mod config;
pub mod digest;
pub mod error;
pub mod fuzzing;
pub mod packet;
pub mod session;
pub mod statistics;
pub mod timers;

pub use action::{Action, StateChange, Transmit};
pub use auth::{AuthSection, AuthType};
pub use config::{AuthConfig, SessionConfig};
pub use error::{ConfigError, DecodeError, Discard, EncodeError};
pub use packet::{
    peek_your_discriminator, ControlPacket, Diagnostic, State, SINGLE_HOP_PORT, SOURCE_PORTS,
};
pub use session::receive::RxMeta;
pub use session::{Session, Status};
pub use statistics::Statistics;
pub use timers::Jitter;
