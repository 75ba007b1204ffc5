//! Per-port counters, after the aggregation port statistics of IEEE 802.1AX-2014 §7.3.3.

/// One port's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStatistics {
    /// aAggPortStatsLACPDUsRx: valid LACPDUs received.
    pub lacpdus_rx: u64,
    /// aAggPortStatsMarkerPDUsRx: valid Marker PDUs received.
    pub marker_pdus_rx: u64,
    /// aAggPortStatsMarkerResponsePDUsRx: valid Marker Response PDUs received.
    pub marker_response_pdus_rx: u64,
    /// aAggPortStatsUnknownRx: Slow Protocols frames of another protocol, or frames to the
    /// Slow Protocols address that are not Slow Protocols.
    pub unknown_rx: u64,
    /// aAggPortStatsIllegalRx: badly formed PDUs and illegal subtypes.
    pub illegal_rx: u64,
    /// aAggPortStatsLACPDUsTx: LACPDUs sent.
    pub lacpdus_tx: u64,
    /// aAggPortStatsMarkerResponsePDUsTx: Marker Response PDUs sent.
    pub marker_response_pdus_tx: u64,
    /// LACPDUs received while the port was disabled, which the Receive machine cannot take.
    pub lacpdus_dropped_disabled: u64,
    /// LACPDUs whose actor is this very system: the link loops back to us (a cable between
    /// two of our ports, a reflecting hub, or our own frames echoed), dropped.
    pub lacpdus_looped_back: u64,
}
