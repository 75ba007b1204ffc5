//! RFC 6527 (VRRPv3 MIB) counters.
//!
//! [`Statistics`] is one row of `vrrpv3StatisticsTable`. The router-wide
//! `vrrpv3GlobalStatistics` (checksum, version and VRID errors) cannot be
//! owned by one instance, so each instance keeps its own
//! [`RouterStatistics`] for the packets handed to it and the shell sums them
//! (plus what it counts itself for VRIDs no instance claims).

use std::time::Instant;

use crate::error::{DecodeError, RxError};

/// `vrrpv3StatisticsNewMasterReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NewMasterReason {
    /// notMaster(0): this router has not become Master.
    #[default]
    NotMaster,
    /// priority(1): it became Master because of its priority (address owner
    /// at startup, or forced by a sync group).
    Priority,
    /// preempted(2): it preempted a lower-priority Master.
    Preempted,
    /// masterNoResponse(3): the Master stopped advertising or resigned.
    MasterNoResponse,
}

/// `vrrpv3StatisticsProtoErrReason`: the reason for the last protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtoErrReason {
    /// noError(0).
    #[default]
    NoError,
    /// ipTtlError(1).
    IpTtlError,
    /// versionError(2).
    VersionError,
    /// checksumError(3).
    ChecksumError,
    /// vrIdError(4).
    VrIdError,
}

/// `vrrpv3GlobalStatistics` counters, as seen by one instance or summed by the
/// shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouterStatistics {
    /// `vrrpv3RouterChecksumErrors`.
    pub checksum_errors: u64,
    /// `vrrpv3RouterVersionErrors`.
    pub version_errors: u64,
    /// `vrrpv3RouterVrIdErrors`.
    pub vrid_errors: u64,
}

impl RouterStatistics {
    /// Adds `other` into `self` (the shell's aggregation).
    pub fn merge(&mut self, other: &RouterStatistics) {
        self.checksum_errors += other.checksum_errors;
        self.version_errors += other.version_errors;
        self.vrid_errors += other.vrid_errors;
    }
}

/// One `vrrpv3StatisticsEntry` plus the few extra counters operators ask for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statistics {
    /// `vrrpv3StatisticsMasterTransitions`.
    pub master_transitions: u64,
    /// `vrrpv3StatisticsNewMasterReason`.
    pub new_master_reason: NewMasterReason,
    /// `vrrpv3StatisticsRcvdAdvertisements`: adverts that passed validation.
    pub rcvd_advertisements: u64,
    /// `vrrpv3StatisticsAdvIntervalErrors`: interval differs from ours (v3
    /// still adopts it as Master_Adver_Interval) or is zero (discarded).
    pub adv_interval_errors: u64,
    /// `vrrpv3StatisticsIpTtlErrors`.
    pub ip_ttl_errors: u64,
    /// `vrrpv3StatisticsProtoErrReason`.
    pub proto_err_reason: ProtoErrReason,
    /// `vrrpv3StatisticsRcvdPriZeroPackets`.
    pub rcvd_pri_zero_packets: u64,
    /// `vrrpv3StatisticsSentPriZeroPackets`.
    pub sent_pri_zero_packets: u64,
    /// `vrrpv3StatisticsRcvdInvalidTypePackets`.
    pub rcvd_invalid_type_packets: u64,
    /// `vrrpv3StatisticsAddressListErrors` (including a zero address count).
    pub address_list_errors: u64,
    /// `vrrpv3StatisticsPacketLengthErrors`.
    pub packet_length_errors: u64,
    /// `vrrpv3StatisticsRowDiscontinuityTime`: when the counters started.
    pub row_discontinuity_time: Option<Instant>,
    /// `vrrpv3StatisticsRefreshRate` in milliseconds. Counters here are exact
    /// at all times, so this is the advertisement interval: polling faster
    /// than adverts arrive shows nothing new.
    pub refresh_rate_ms: u64,
    /// Router-wide errors seen on packets handed to this instance.
    pub router: RouterStatistics,
    /// Not in RFC 6527: advertisements transmitted (one per destination).
    pub sent_advertisements: u64,
    /// Not in RFC 6527: unicast adverts from unknown sources.
    pub unknown_source_errors: u64,
    /// Not in RFC 6527: adverts from a source that is not a unicast address.
    pub invalid_source_errors: u64,
    /// Not in RFC 6527: adverts of a multicast instance not sent to its group.
    pub destination_errors: u64,
}

impl Statistics {
    /// Counts one discarded packet in the counter the RFC 6527 MIB names for
    /// its cause, and records the protocol error reason.
    pub fn record_rx_error(&mut self, error: &RxError) {
        match error {
            RxError::Ttl { .. } => {
                self.ip_ttl_errors += 1;
                self.proto_err_reason = ProtoErrReason::IpTtlError;
            }
            RxError::Decode(DecodeError::Version { .. }) => {
                self.router.version_errors += 1;
                self.proto_err_reason = ProtoErrReason::VersionError;
            }
            RxError::Decode(DecodeError::UnknownType { .. }) => {
                self.rcvd_invalid_type_packets += 1;
            }
            RxError::Decode(
                DecodeError::TooShort { .. }
                | DecodeError::LengthMismatch { .. }
                | DecodeError::V2OverIpv6,
            ) => {
                self.packet_length_errors += 1;
            }
            RxError::Checksum { .. } => {
                self.router.checksum_errors += 1;
                self.proto_err_reason = ProtoErrReason::ChecksumError;
            }
            RxError::Vrid { .. } => {
                self.router.vrid_errors += 1;
                self.proto_err_reason = ProtoErrReason::VrIdError;
            }
            RxError::ZeroInterval => self.adv_interval_errors += 1,
            RxError::NoAddresses | RxError::AddressList => self.address_list_errors += 1,
            // A packet of the wrong family can only come from a shell bug;
            // the length counter is the closest "malformed" bucket.
            RxError::Family(_) => self.packet_length_errors += 1,
            RxError::UnknownSource(_) => self.unknown_source_errors += 1,
            RxError::InvalidSource(_) => self.invalid_source_errors += 1,
            RxError::Destination(_) => self.destination_errors += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_lands_in_its_counter() {
        let mut s = Statistics::default();
        s.record_rx_error(&RxError::Ttl { ttl: 1 });
        assert_eq!(s.ip_ttl_errors, 1);
        assert_eq!(s.proto_err_reason, ProtoErrReason::IpTtlError);
        s.record_rx_error(&RxError::Checksum { received: 0 });
        assert_eq!(s.router.checksum_errors, 1);
        assert_eq!(s.proto_err_reason, ProtoErrReason::ChecksumError);
        s.record_rx_error(&RxError::Decode(DecodeError::Version { version: 2 }));
        assert_eq!(s.router.version_errors, 1);
        s.record_rx_error(&RxError::Decode(DecodeError::UnknownType { ty: 7 }));
        assert_eq!(s.rcvd_invalid_type_packets, 1);
        s.record_rx_error(&RxError::Decode(DecodeError::TooShort { len: 3 }));
        assert_eq!(s.packet_length_errors, 1);
        s.record_rx_error(&RxError::Vrid { vrid: 9 });
        assert_eq!(s.router.vrid_errors, 1);
        assert_eq!(s.proto_err_reason, ProtoErrReason::VrIdError);
        s.record_rx_error(&RxError::NoAddresses);
        assert_eq!(s.address_list_errors, 1);
        s.record_rx_error(&RxError::ZeroInterval);
        assert_eq!(s.adv_interval_errors, 1);
        s.record_rx_error(&RxError::InvalidSource("0.0.0.0".parse().unwrap()));
        assert_eq!(s.invalid_source_errors, 1);
        s.record_rx_error(&RxError::Destination("198.18.0.1".parse().unwrap()));
        assert_eq!(s.destination_errors, 1);
        let mut total = RouterStatistics::default();
        total.merge(&s.router);
        total.merge(&s.router);
        assert_eq!(total.checksum_errors, 2);
    }
}
