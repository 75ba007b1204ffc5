//! Counters for `appctl sync` and the metrics.

use crate::endpoint::Discard;
use crate::wire::DecodeError;

/// Datagrams discarded, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Discards {
    pub truncated: u64,
    pub bad_magic: u64,
    pub unsupported_version: u64,
    pub bad_length: u64,
    pub bad_hmac: u64,
    /// Signed by the key but malformed inside (unknown record type, bad record, ...).
    pub malformed: u64,
    pub unknown_record_type: u64,
    /// Our own datagram looped back (multicast).
    pub loopback: u64,
    /// From an epoch of the peer that has been replaced, or a Data stream addressed to an
    /// earlier epoch of ours.
    pub stale_epoch: u64,
    /// A sequence number already seen.
    pub replayed: u64,
    /// Beyond the receive window.
    pub out_of_window: u64,
    /// The peer's settings differ from ours: refused until they agree.
    pub settings_mismatch: u64,
}

impl Discards {
    pub fn count(&mut self, d: &Discard) {
        let c = match d {
            Discard::Decode(e) => match e {
                DecodeError::Truncated(_) => &mut self.truncated,
                DecodeError::BadMagic => &mut self.bad_magic,
                DecodeError::UnsupportedVersion(_) => &mut self.unsupported_version,
                DecodeError::BadLength { .. } => &mut self.bad_length,
                DecodeError::BadHmac => &mut self.bad_hmac,
                DecodeError::UnknownRecordType(_) => &mut self.unknown_record_type,
                _ => &mut self.malformed,
            },
            Discard::Loopback => &mut self.loopback,
            Discard::StaleEpoch => &mut self.stale_epoch,
            Discard::Replayed => &mut self.replayed,
            Discard::OutOfWindow => &mut self.out_of_window,
            Discard::SettingsMismatch => &mut self.settings_mismatch,
        };
        *c += 1;
    }

    pub fn total(&self) -> u64 {
        self.truncated
            + self.bad_magic
            + self.unsupported_version
            + self.bad_length
            + self.bad_hmac
            + self.malformed
            + self.unknown_record_type
            + self.loopback
            + self.stale_epoch
            + self.replayed
            + self.out_of_window
            + self.settings_mismatch
    }
}

/// A bulk resync's progress, in entries (state records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkProgress {
    /// Entries handed to the link (sending side) or applied (receiving side).
    pub sent: u64,
    /// Entries the peer acknowledged (sending side; equals `sent` on the receiving side).
    pub acked: u64,
    /// The table size when the bulk began.
    pub total: u64,
    pub done: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records the caller queued (bulk entries are counted in the bulk progress).
    pub records_queued: u64,
    /// Queued records replaced by a later one of the same key before they were sent.
    pub records_coalesced: u64,
    /// Records in first transmissions.
    pub records_sent: u64,
    pub records_resent: u64,
    /// State records delivered to the caller to apply.
    pub records_received: u64,
    /// Records refused because the send queue was full, plus records in flight abandoned when
    /// the peer restarted (the bulk resync that follows replaces them).
    pub records_lost: u64,
    pub datagrams_sent: u64,
    pub datagrams_resent: u64,
    pub datagrams_received: u64,
    pub discards: Discards,
    pub peer_restarts: u64,
    pub peer_down: u64,
}
