//! What an instance reports to the shell: state changes and diagnostics.

use std::net::IpAddr;

use crate::error::RxError;
use crate::fsm::State;
use crate::v2::AdvertisementV2;

/// Why the instance is in the Fault state (non-RFC, keepalived-style).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaultReason {
    /// The interface is down (netlink).
    InterfaceDown,
    /// The interface has no primary address of the instance's family.
    NoPrimaryAddress,
    /// A tracker with weight 0 (keepalived semantics) failed; the name is the
    /// tracker's.
    Tracker(String),
    /// Anything else the shell wants to show.
    Other(String),
}

/// Why a state transition happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransitionReason {
    /// Startup event (RFC 9568 §6.4.1).
    Startup,
    /// Shutdown event.
    Shutdown,
    /// Master_Down_Timer fired: the Master went silent.
    MasterDownTimer,
    /// Master_Down_Timer fired after we had been discarding a lower-priority
    /// Master's adverts: we preempted it.
    Preempted,
    /// Master_Down_Timer fired Skew_Time after the Master resigned (priority 0).
    MasterResigned,
    /// A Master saw an advert with a higher priority (or equal priority and a
    /// higher address) and stepped down (§6.4.3).
    HigherPriorityAdvert {
        /// The new Master.
        from: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// A fault was raised.
    Fault(FaultReason),
    /// All faults cleared.
    FaultCleared,
    /// Another member of the sync group moved (or is in Fault).
    SyncGroup,
}

/// A notification for the shell (log, event stream, notify hooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The instance moved between states.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: TransitionReason,
    },
    /// While Backup: the Master we follow changed (learned from adverts), or
    /// we lost track of it (`current: None` after leaving Backup).
    MasterChanged {
        /// The Master we followed before.
        previous: Option<IpAddr>,
        /// The Master we follow now.
        current: Option<IpAddr>,
    },
    /// While Master: another router also advertises as Master with a lower
    /// priority (or equal priority and lower address): two Masters on the
    /// segment, usually after a partition or one-way loss.
    SplitBrainDetected {
        /// The other Master.
        peer: IpAddr,
        /// Its advertised priority.
        peer_priority: u8,
    },
    /// No lower-priority Master advert for a Master_Down_Interval, or we
    /// left the Master state.
    SplitBrainCleared {
        /// The peer reported by the matching `SplitBrainDetected`.
        peer: IpAddr,
    },
    /// A peer advertises a different address list (reported once per distinct
    /// list per peer; the counter counts every packet).
    AddressListMismatch {
        /// The sender.
        peer: IpAddr,
        /// The addresses it advertised.
        advertised: Vec<IpAddr>,
    },
    /// The effective priority changed (tracking or configuration).
    PriorityChanged {
        /// Old effective priority.
        from: u8,
        /// New effective priority.
        to: u8,
    },
    /// A received packet was discarded. Repeats of the same error from the
    /// same source are counted but not reported again until something else
    /// is reported, so a misconfigured peer at 10 cs cannot flood the log.
    ReceiveError {
        /// The sender.
        src: IpAddr,
        /// Why it was discarded.
        error: RxError,
    },
    /// A VRRPv2 peer on our VRID (keepalived's default for IPv4): the advert
    /// is discarded as a version error; its decode is here for diagnostics.
    /// Rate-limited like `ReceiveError`.
    Version2Peer {
        /// The sender.
        src: IpAddr,
        /// What it sent (auth data may contain a clear-text password).
        advertisement: AdvertisementV2,
    },
}
