//! What an instance asks the shell to do.

use std::net::IpAddr;

use crate::advertisement::Advertisement;
use crate::events::Event;

/// One advertisement to put on the wire.
///
/// The payload is the VRRP message with its checksum already computed for
/// `src` and `dst`: the shell opens a raw socket (protocol 112), sets the
/// TTL / Hop Limit to `ttl`, binds `src` and sends `payload` to `dst`. For
/// IPv6 it must not ask the kernel to compute the checksum again
/// (`IPV6_CHECKSUM`), or it must send `advertisement` re-encoded by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Source address: the instance's primary address.
    pub src: IpAddr,
    /// Destination: the multicast group or one unicast peer.
    pub dst: IpAddr,
    /// IPv4 TTL / IPv6 Hop Limit (always 255, RFC 9568 §5.1.1.3).
    pub ttl: u8,
    /// The advertisement as a value (for logs and tests).
    pub advertisement: Advertisement,
    /// The encoded VRRP message.
    pub payload: Vec<u8>,
}

/// An output of the state machine, drained with
/// [`crate::Instance::poll_action`] in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an ADVERTISEMENT.
    SendAdvertisement(Transmit),
    /// Install the virtual addresses (becoming Master).
    AddVirtualAddresses(Vec<IpAddr>),
    /// Remove the virtual addresses (leaving Master).
    RemoveVirtualAddresses(Vec<IpAddr>),
    /// Announce the addresses: gratuitous ARP for IPv4, unsolicited Neighbor
    /// Advertisement (R and O set, S clear) for IPv6, from the virtual MAC.
    /// The shell decides how many and how far apart.
    SendGratuitous(Vec<IpAddr>),
    /// A notification.
    Event(Event),
}
