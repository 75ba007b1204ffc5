//! A sans-IO VRRPv3 implementation (RFC 9568, which obsoletes RFC 5798).
//!
//! This crate contains the deterministic protocol logic of a Virtual Router:
//! the wire codec, the state machine, its timers and counters. It opens no
//! socket, reads no clock and spawns nothing: every input carries `now`, every
//! output is a value the caller drains. The daemon's VRRP shell does the IO.
//!
//! # Codec
//!
//! * [`Packet`]: a zero-copy view over a VRRP message (the IP payload), with
//!   [`Packet::new_checked`], field accessors, and
//!   [`Packet::verify_checksum`] / [`Packet::fill_checksum`].
//! * [`Advertisement`]: the VRRPv3 ADVERTISEMENT (`parse` / `emit` /
//!   `buffer_len` / `to_bytes`), over IPv4 or IPv6.
//! * [`AdvertisementV2`]: VRRPv2 decode, for diagnostics of v2 peers.
//! * [`ChecksumMode`]: IPv4 checksum with the keepalived/FRR pseudo-header
//!   (the default, so we interoperate with keepalived out of the box) or the
//!   RFC 9568 message-only form. IPv6 always uses the pseudo-header.
//!
//! # State machine
//!
//! One [`Instance`] per Virtual Router (VRID + family + interface):
//!
//! * create: [`Instance::new`] with a validated [`Config`];
//! * inputs: [`Instance::handle_startup`], [`Instance::handle_shutdown`],
//!   [`Instance::handle_advertisement`] (with [`RxMeta`] from the IP header),
//!   [`Instance::handle_timeout`], [`Instance::set_priority_adjustment`],
//!   [`Instance::set_fault`], [`Instance::set_primary_address`], and for
//!   sync groups [`Instance::force_master`], [`Instance::force_backup`],
//!   [`Instance::set_group_fault`];
//! * outputs: [`Instance::poll_action`] ([`Action`]: send an advertisement,
//!   add/remove the virtual addresses, send gratuitous ARP/NA, report an
//!   [`Event`]) and [`Instance::poll_timeout`];
//! * inspection: [`Instance::status`], [`Instance::statistics`] (RFC 6527).
//!
//! # How the shell drives an instance
//!
//! ```text
//! let mut inst = Instance::new(config)?;
//! inst.handle_startup(now);                  // when the interface is ready
//! loop {
//!     // 1. drain outputs, in order, after every input
//!     while let Some(action) = inst.poll_action() { perform(action) }
//!     // 2. (sync groups) group.update(key, inst.sync_view()) and apply
//!     // 3. sleep until inst.poll_timeout() or the next input, then one of:
//!     inst.handle_timeout(now);              // deadline reached
//!     inst.handle_advertisement(now, meta, payload); // proto-112 packet
//!     inst.set_priority_adjustment(now, sum_of_tracker_weights);
//!     inst.set_fault(now, Some(FaultReason::InterfaceDown)); // or None
//! }
//! inst.handle_shutdown(now);                 // then drain: priority-0 advert
//! ```
//!
//! Actions must be performed in the order they are returned (addresses are
//! added before the gratuitous ARP that announces them). `poll_timeout` must
//! be re-read after every input, since any input may move a deadline. The
//! shell picks the instance for a packet with [`peek_vrid`] and counts
//! packets for unknown VRIDs in its own [`RouterStatistics`].
//!
//! The advert source address is the instance's [`Config::primary_address`]
//! (the interface's primary IPv4 address or IPv6 link-local address, RFC 9568
//! §7.2); each [`Transmit`] carries `src` and `dst` and a payload whose
//! checksum was computed for exactly that pair.
//!
//! # Names
//!
//! Timer and parameter names follow RFC 5798 (`Master_Adver_Interval`,
//! `Master_Down_Interval`, `Skew_Time`); RFC 9568 renamed Master to Active
//! (`Active_Adver_Interval`, `Active_Down_Interval`) without changing the
//! behaviour.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod advertisement;
pub mod checksum;
pub mod config;
pub mod error;
pub mod events;
pub mod fsm;
pub mod packet;
pub mod statistics;
pub mod status;
pub mod sync_group;
pub mod timers;
pub mod v2;

pub use action::{Action, Transmit};
pub use advertisement::Advertisement;
pub use checksum::{ChecksumContext, ChecksumMode};
pub use config::{AddressMismatchPolicy, Config, TtlCheck};
pub use error::{ConfigError, DecodeError, RxError};
pub use events::{Event, FaultReason, TransitionReason};
pub use fsm::{Instance, RxMeta, State, SyncView};
pub use packet::{peek_vrid, AddressFamily, Packet};
pub use statistics::{NewMasterReason, ProtoErrReason, RouterStatistics, Statistics};
pub use status::Status;
pub use sync_group::{SyncCommand, SyncGroup};
pub use timers::{master_down_interval, skew_time, Centiseconds};
pub use v2::{AdvertisementV2, AuthType};
