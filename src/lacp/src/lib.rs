//! A sans-IO LACP implementation: the Link Aggregation Control Protocol of IEEE 802.1AX
//! (2014 edition, clause 6.4; formerly IEEE 802.3ad, clause 43), for the bonds of the data
//! plane.
//!
//! The crate holds the codec, the per-port state machines and the aggregator selection. It
//! opens no socket, reads no clock and spawns nothing: every input carries `now` (an
//! [`Instant`](std::time::Instant) the caller reads from its monotonic clock, or a test's
//! virtual one), and outputs are values the caller drains. The daemon's bond shell does the
//! IO: it receives Slow Protocols frames (EtherType 0x8809) on each member and sends what the
//! bond asks for.
//!
//! # Codec
//!
//! * [`Lacpdu`]: subtype 1, the Actor, Partner, Collector and Terminator TLVs, 110 octets.
//!   Version 1 is sent; any version is accepted and read by the version 1 fields, as the
//!   standard's compatibility rule asks; TLV types and reserved octets are not checked and
//!   are kept, so decoding then encoding gives back the very bytes.
//! * [`MarkerPdu`]: subtype 2, Marker and Marker Response; every Marker is answered.
//! * [`SlowFrame`]: the Ethernet frame to 01:80:c2:00:00:02 around either PDU.
//!   Failures are typed ([`DecodeError`]) and say which receive counter they count in.
//!
//! # State machines
//!
//! One [`Bond`] per bond, one port per member NIC, each with the standard's machines
//! (names as in the standard: `Selected`, `NTT`, `Ready_N`, `current_while_timer`, ...):
//!
//! * Receive (CURRENT / EXPIRED / DEFAULTED; current_while_timer of 3 s with the fast
//!   rate, 90 s with the slow one; recordPDU, recordDefault, update_Selected, update_NTT;
//!   port_moved; LACPDUs from our own system, a looped link, dropped and counted);
//! * Periodic Transmission (every 1 s or 30 s, at the rate the partner asks for; none when
//!   both ends are passive);
//! * Mux with coupled control (DETACHED, WAITING with the 2 s wait_while_timer, ATTACHED,
//!   COLLECTING_DISTRIBUTING);
//! * Transmit (on NTT, at most three LACPDUs in any second);
//! * Actor and Partner Churn Detection (flagged after 60 s out of sync);
//! * the Selection Logic, bond-wide: one aggregator per LAG ID, Individual links alone, a
//!   port whose key differs in another aggregator, and one selected aggregator whose
//!   Collecting_Distributing ports are the bond's [`Bond::members`] (none below
//!   `min_links`).
//!
//! ```text
//! let mut bond = Bond::new(BondConfig::new(bond_mac), &ports, now)?;
//! loop {
//!     while let Some(t) = bond.poll_transmit() { send(t.port, t.bytes()) }
//!     apply(bond.members());                       // the distributor's member set
//!     // sleep until bond.next_deadline() or an input, then one of:
//!     bond.handle_timeout(now);
//!     bond.handle_frame(now, port, &frame);        // Err(e): counted, dropped
//!     bond.set_port_enabled(now, port, carrier);
//! }
//! ```
//!
//! # LACPDUs are sent from a timer, not from the data path
//!
//! DPDK's bonding PMD in mode 4 queues LACPDUs on a ring that is drained only inside the
//! application's `rte_eth_tx_burst`/`rte_eth_rx_burst` calls, and requires them "at least 10
//! times per second" ("Slave 1: failed to enqueue LACP packet into RX ring ... Receive and
//! transmit functions must be invoked on bonded interface at least 10 times per second or
//! LACP will not work correctly", DPVS issue #353). Users of DPVS (#353) and F-Stack (#678,
//! "Bond4 is unfriendly in low traffic environment") saw aggregations fail to form or time
//! out when traffic was low, because the PDUs rode on data bursts that did not come. The
//! cure, DPDK's dedicated LACP queues, brought failures of its own (DPVS #725: Mellanox NICs
//! did not negotiate until the dedicated queues were turned off or DPDK was patched, DPDK
//! bug 343). Here LACP timing is the shell's
//! timer: `next_deadline` says when the machines need to run and `poll_transmit` hands over
//! the PDUs at once, so the shell sends them from the control thread whatever the data plane
//! is doing, and the time of a PDU never depends on traffic. (A partner that misses our
//! PDUs for 3 s drops the link, so a PDU late by a burst is a link down.)
//!
//! # What partners send
//!
//! `tests/vectors/` holds LACPDUs captured from Open vSwitch 3.1 (userspace datapath) and
//! from DPDK 22.11's bonding PMD in mode 4 (`dpdk-testpmd` over `net_af_packet`), the two
//! partners issue 15's namespace tests use, while this crate was their partner; and PDUs
//! laid out from the Linux bonding driver's and DPDK's field values. What they show:
//!
//! * Open vSwitch: system priority 65534, port priority 65535; when it stops hearing us it
//!   sends Expired with Synchronization, Collecting and Distributing still set, so by the
//!   standard's recordPDU we keep distributing towards it until it defaults us (2 s more
//!   in our run).
//! * DPDK: system priority 65535, key 0x0021, port priority 255, Long Timeout (we send to
//!   it every 30 s; it sends to us every second, as our Short Timeout asks); its first PDU
//!   claims Synchronization while Defaulted. In testpmd's `io` mode it sent no LACPDU after
//!   the first two: the PMD queues them for the application's next `tx_burst`, which `io`
//!   makes only when something was received, and nothing is delivered before the link
//!   collects (the DPVS and F-Stack failures above, reproduced). `flowgen`, which calls
//!   both bursts all the time, works.
//!
//! Driven by a scratch AF_PACKET program on the real clock, a two-link bond reached
//! Collecting_Distributing 3.0 s after carrier against Open vSwitch (2.4 s against DPDK,
//! whose first PDU was already waiting), dropped a member 3.0 s after the last LACPDU
//! heard on it, and took it back on the next PDU (2 s later once it had defaulted).

//! # Not implemented
//!
//! * Version 2 (802.1AX-2014 §6.4.2.4 and §6.6): conversation-sensitive frame collection
//!   and distribution, the Port Algorithm and Conversation TLVs (received ones are kept, not
//!   interpreted); Distributed Resilient Network Interconnect (DRNI, clause 9).
//! * The Mux machine with independent control (separate COLLECTING and DISTRIBUTING);
//!   the coupled variant is what hosts run.
//! * Sending Marker PDUs (we answer them); Aggregation Port Debug Information (§7.3.4).
//! * LACP_DISABLED (half-duplex links) and dynamic key changes; the partner's administrative
//!   values are fixed to all-zero (no "fallback" aggregation on a silent partner).
//! * Limits on the number of ports per aggregator (every aggregator takes every port).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bond;
pub mod codec;
pub mod config;
pub mod error;
pub mod fuzzing;
pub mod port;
pub mod selection;
pub mod statistics;
pub mod timers;

pub use bond::{Bond, PortStatus, Transmit};
pub use codec::frame::{SlowFrame, SlowPdu};
pub use codec::lacpdu::{Lacpdu, PortInfo, Uninterpreted};
pub use codec::marker::{MarkerKind, MarkerPdu};
pub use codec::state::PortState;
pub use codec::{MacAddr, SystemId, SLOW_PROTOCOLS_ETHERTYPE, SLOW_PROTOCOLS_MULTICAST};
pub use config::{Activity, BondConfig, PortConfig, Timeout};
pub use error::{ConfigError, DecodeError, RxCounter};
pub use port::{ChurnState, MuxState, PeriodicState, RxState, Selected};
pub use selection::LagId;
pub use statistics::PortStatistics;
