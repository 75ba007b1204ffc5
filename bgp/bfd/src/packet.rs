//! The BFD Control packet (RFC 5880 §4.1): a 24-byte Mandatory Section and an optional
//! Authentication Section ([`crate::auth::AuthSection`]).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! ```
//!
//! [`ControlPacket::decode`] checks only what it needs to read the packet (§6.8.6's version
//! and Length rules, the Authentication Section's shape); the checks that concern a session
//! (Detect Mult, M bit, discriminators, authentication) are the session's
//! ([`crate::Session::handle_packet`]), so that every discard is counted by its reason.
//! Decoding keeps every bit it read, so a decoded packet re-encodes to the same bytes.

use crate::auth::AuthSection;
use crate::error::{DecodeError, EncodeError};

/// RFC 5880 §4.1: "This document defines protocol version 1."
pub const VERSION: u8 = 1;
/// Length of the Mandatory Section.
pub const MANDATORY_LEN: usize = 24;
/// RFC 5881 §4: single-hop Control packets go to UDP port 3784.
pub const SINGLE_HOP_PORT: u16 = 3784;
/// RFC 5881 §4: "The source port MUST be in the range 49152 through 65535."
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// RFC 5880 §4.1 State (Sta): the session state as seen by the transmitting system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// 0: held down by its operator.
    AdminDown = 0,
    /// 1: down, or just created.
    Down = 1,
    /// 2: the remote system is heard and was Down.
    Init = 2,
    /// 3: both systems hear each other.
    Up = 3,
}

impl State {
    /// The 2-bit field's value.
    pub fn from_bits(bits: u8) -> State {
        match bits & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// Lower-case name, as operators and the RFC's prose write it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "admin-down",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RFC 5880 §4.1 Diagnostic (Diag): the local system's reason for the last change in
/// session state. A 5-bit field; 9-31 are reserved and kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Diagnostic {
    /// 0 -- No Diagnostic.
    #[default]
    NoDiagnostic,
    /// 1 -- Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2 -- Echo Function Failed.
    EchoFunctionFailed,
    /// 3 -- Neighbor Signaled Session Down.
    NeighborSignaledSessionDown,
    /// 4 -- Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5 -- Path Down.
    PathDown,
    /// 6 -- Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7 -- Administratively Down.
    AdministrativelyDown,
    /// 8 -- Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9-31 -- Reserved for future use.
    Reserved(u8),
}

impl Diagnostic {
    /// The 5-bit field's value.
    pub fn from_bits(bits: u8) -> Diagnostic {
        match bits & 0x1f {
            0 => Diagnostic::NoDiagnostic,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            n => Diagnostic::Reserved(n),
        }
    }

    /// The value on the wire (5 bits).
    pub fn bits(self) -> u8 {
        match self {
            Diagnostic::NoDiagnostic => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Reserved(n) => n & 0x1f,
        }
    }

    /// A short name for logs, status and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Diagnostic::NoDiagnostic => "none",
            Diagnostic::ControlDetectionTimeExpired => "control-detection-time-expired",
            Diagnostic::EchoFunctionFailed => "echo-function-failed",
            Diagnostic::NeighborSignaledSessionDown => "neighbor-signaled-session-down",
            Diagnostic::ForwardingPlaneReset => "forwarding-plane-reset",
            Diagnostic::PathDown => "path-down",
            Diagnostic::ConcatenatedPathDown => "concatenated-path-down",
            Diagnostic::AdministrativelyDown => "administratively-down",
            Diagnostic::ReverseConcatenatedPathDown => "reverse-concatenated-path-down",
            Diagnostic::Reserved(_) => "reserved",
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Diagnostic::Reserved(n) => write!(f, "reserved ({n})"),
            d => f.write_str(d.as_str()),
        }
    }
}

/// One BFD Control packet as a value. Intervals are in microseconds, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket {
    /// Diag.
    pub diag: Diagnostic,
    /// Sta.
    pub state: State,
    /// P: the sender asks for verification of connectivity or of a parameter change.
    pub poll: bool,
    /// F: the sender answers a packet that had P set.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wishes to operate in Demand mode.
    pub demand: bool,
    /// M: reserved for point-to-multipoint; a receiver discards packets with it set.
    pub multipoint: bool,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator.
    pub my_discriminator: u32,
    /// Your Discriminator.
    pub your_discriminator: u32,
    /// Desired Min TX Interval (µs).
    pub desired_min_tx: u32,
    /// Required Min RX Interval (µs).
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval (µs); 0: the sender loops no Echo packets back.
    pub required_min_echo_rx: u32,
    /// The Authentication Section; present exactly when the A bit is set.
    pub auth: Option<AuthSection>,
    /// Octets after the sections but inside Length. RFC 5880 gives them no meaning and
    /// receivers ignore them; they are kept so that a decoded packet re-encodes unchanged.
    pub trailing: Vec<u8>,
}

impl Default for ControlPacket {
    fn default() -> Self {
        ControlPacket {
            diag: Diagnostic::NoDiagnostic,
            state: State::Down,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            multipoint: false,
            detect_mult: 3,
            my_discriminator: 0,
            your_discriminator: 0,
            desired_min_tx: 1_000_000,
            required_min_rx: 1_000_000,
            required_min_echo_rx: 0,
            auth: None,
            trailing: Vec::new(),
        }
    }
}

/// The Your Discriminator field of `buf`, read without decoding the packet, for choosing the
/// session a datagram belongs to (RFC 5880 §6.8.6). `None` when it is too short to have one.
pub fn peek_your_discriminator(buf: &[u8]) -> Option<u32> {
    buf.get(8..12)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl ControlPacket {
    /// Decodes the Control packet at the start of `buf`, the whole UDP payload (bytes past the
    /// Length field are not part of the packet and are ignored).
    ///
    /// RFC 5880 §6.8.6, in its order: "If the version number is not correct (1), the packet
    /// MUST be discarded. If the Length field is less than the minimum correct value (24 if
    /// the A bit is clear, or 26 if the A bit is set), the packet MUST be discarded. If the
    /// Length field is greater than the payload of the encapsulating protocol, the packet MUST
    /// be discarded." The Authentication Section must then fit inside Length and have the
    /// length its type prescribes (§6.7).
    pub fn decode(buf: &[u8]) -> Result<ControlPacket, DecodeError> {
        let Some(&first) = buf.first() else {
            return Err(DecodeError::Truncated { len: 0 });
        };
        let version = first >> 5;
        if version != VERSION {
            return Err(DecodeError::Version { version });
        }
        if buf.len() < 4 {
            return Err(DecodeError::Truncated { len: buf.len() });
        }
        let flags = buf[1];
        let auth_present = flags & 0x04 != 0;
        let length = usize::from(buf[3]);
        let min = if auth_present {
            MANDATORY_LEN + 2
        } else {
            MANDATORY_LEN
        };
        if length < min {
            return Err(DecodeError::LengthTooSmall { length, min });
        }
        if length > buf.len() {
            return Err(DecodeError::LengthExceedsPayload {
                length,
                payload: buf.len(),
            });
        }
        let word = |at: usize| u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let body = &buf[MANDATORY_LEN..length];
        let (auth, rest) = if auth_present {
            let (a, used) = AuthSection::decode(body)?;
            (Some(a), &body[used..])
        } else {
            (None, body)
        };
        Ok(ControlPacket {
            diag: Diagnostic::from_bits(first),
            state: State::from_bits(flags >> 6),
            poll: flags & 0x20 != 0,
            final_: flags & 0x10 != 0,
            control_plane_independent: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            multipoint: flags & 0x01 != 0,
            detect_mult: buf[2],
            my_discriminator: word(4),
            your_discriminator: word(8),
            desired_min_tx: word(12),
            required_min_rx: word(16),
            required_min_echo_rx: word(20),
            auth,
            trailing: rest.to_vec(),
        })
    }

    /// The value of the Length field this packet encodes with.
    pub fn length(&self) -> usize {
        MANDATORY_LEN + self.auth.as_ref().map_or(0, AuthSection::len) + self.trailing.len()
    }

    /// Encodes the packet. The Authentication Section is written as it is: a Keyed MD5 or
    /// SHA1 packet is signed afterwards (see [`crate::auth::sign`]).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let length = self.length();
        if length > usize::from(u8::MAX) {
            return Err(EncodeError::TooLong { length });
        }
        if let Some(a) = &self.auth {
            a.check()?;
        }
        let mut out = Vec::with_capacity(length);
        out.push(VERSION << 5 | self.diag.bits());
        out.push(
            (self.state as u8) << 6
                | u8::from(self.poll) << 5
                | u8::from(self.final_) << 4
                | u8::from(self.control_plane_independent) << 3
                | u8::from(self.auth.is_some()) << 2
                | u8::from(self.demand) << 1
                | u8::from(self.multipoint),
        );
        out.push(self.detect_mult);
        out.push(length as u8);
        for w in [
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        ] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        if let Some(a) = &self.auth {
            a.encode_into(&mut out);
        }
        out.extend_from_slice(&self.trailing);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session's first packet: Down, discriminator 0x2c3b6a5e, the peer's unknown (0), 1 s
    /// intervals while not Up (§6.8.3), multiplier 3.
    const BIRD_DOWN: [u8; 24] = [
        0x20, 0x40, 0x03, 0x18, 0x2c, 0x3b, 0x6a, 0x5e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x42,
        0x40, 0x00, 0x0f, 0x42, 0x40, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn decodes_the_mandatory_section() {
        let p = ControlPacket::decode(&BIRD_DOWN).unwrap();
        assert_eq!(p.state, State::Down);
        assert_eq!(p.diag, Diagnostic::NoDiagnostic);
        assert_eq!(p.detect_mult, 3);
        assert_eq!(p.my_discriminator, 0x2c3b_6a5e);
        assert_eq!(p.your_discriminator, 0);
        assert_eq!(p.desired_min_tx, 1_000_000);
        assert_eq!(p.required_min_rx, 1_000_000);
        assert_eq!(p.required_min_echo_rx, 0);
        assert!(p.auth.is_none() && p.trailing.is_empty());
        assert_eq!(p.encode().unwrap(), BIRD_DOWN);
    }

    #[test]
    fn every_flag_has_its_bit() {
        type Set = fn(&mut ControlPacket);
        let base = ControlPacket::default();
        let cases: [(Set, u8); 5] = [
            (|p| p.poll = true, 0x20),
            (|p| p.final_ = true, 0x10),
            (|p| p.control_plane_independent = true, 0x08),
            (|p| p.demand = true, 0x02),
            (|p| p.multipoint = true, 0x01),
        ];
        for (set, bit) in cases {
            let mut p = base.clone();
            set(&mut p);
            let bytes = p.encode().unwrap();
            assert_eq!(bytes[1], (State::Down as u8) << 6 | bit);
            assert_eq!(ControlPacket::decode(&bytes).unwrap(), p);
        }
    }

    /// §6.8.6's length rules, in the RFC's order, each with its own error.
    #[test]
    fn length_rules() {
        assert_eq!(
            ControlPacket::decode(&[]),
            Err(DecodeError::Truncated { len: 0 })
        );
        // The version is checked first, even in a runt.
        assert_eq!(
            ControlPacket::decode(&[0x40]),
            Err(DecodeError::Version { version: 2 })
        );
        assert_eq!(
            ControlPacket::decode(&[0x20, 0x40]),
            Err(DecodeError::Truncated { len: 2 })
        );
        let mut short = BIRD_DOWN;
        short[3] = 23;
        assert_eq!(
            ControlPacket::decode(&short),
            Err(DecodeError::LengthTooSmall {
                length: 23,
                min: 24
            })
        );
        // With the A bit set the minimum is 26.
        let mut a = BIRD_DOWN;
        a[1] |= 0x04;
        assert_eq!(
            ControlPacket::decode(&a),
            Err(DecodeError::LengthTooSmall {
                length: 24,
                min: 26
            })
        );
        let mut long = BIRD_DOWN;
        long[3] = 25;
        assert_eq!(
            ControlPacket::decode(&long),
            Err(DecodeError::LengthExceedsPayload {
                length: 25,
                payload: 24
            })
        );
        // Bytes after Length belong to the datagram, not the packet.
        let mut padded = BIRD_DOWN.to_vec();
        padded.extend_from_slice(&[0xee; 8]);
        assert_eq!(
            ControlPacket::decode(&padded).unwrap(),
            ControlPacket::decode(&BIRD_DOWN).unwrap()
        );
    }

    /// Octets inside Length past the sections are kept, so the round trip is exact.
    #[test]
    fn trailing_octets_round_trip() {
        let mut bytes = BIRD_DOWN.to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        bytes[3] = 27;
        let p = ControlPacket::decode(&bytes).unwrap();
        assert_eq!(p.trailing, [1, 2, 3]);
        assert_eq!(p.encode().unwrap(), bytes);
    }

    #[test]
    fn reserved_diagnostics_are_kept() {
        let mut bytes = BIRD_DOWN;
        bytes[0] = 0x20 | 31;
        let p = ControlPacket::decode(&bytes).unwrap();
        assert_eq!(p.diag, Diagnostic::Reserved(31));
        assert_eq!(p.encode().unwrap(), bytes);
        for n in 0..32 {
            assert_eq!(Diagnostic::from_bits(n).bits(), n);
        }
    }

    #[test]
    fn peeks_your_discriminator() {
        let mut bytes = BIRD_DOWN;
        bytes[8..12].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(peek_your_discriminator(&bytes), Some(7));
        assert_eq!(peek_your_discriminator(&bytes[..11]), None);
    }
}
