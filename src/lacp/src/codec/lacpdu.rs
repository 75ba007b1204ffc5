//! The LACPDU (§6.4.2.3): subtype 1, version, then the Actor, Partner,
//! Collector and Terminator TLVs at fixed offsets, then 50 reserved octets.
//!
//! ```text
//! offset len  field
//!      0   1  Subtype = 1 (LACP)
//!      1   1  Version Number = 1
//!      2  20  Actor TLV: TLV_type = 1, Actor_Information_Length = 20,
//!             Actor_System_Priority (2), Actor_System (6), Actor_Key (2),
//!             Actor_Port_Priority (2), Actor_Port (2), Actor_State (1), Reserved (3)
//!     22  20  Partner TLV: TLV_type = 2, Partner_Information_Length = 20, the same fields
//!     42  16  Collector TLV: TLV_type = 3, Collector_Information_Length = 16,
//!             CollectorMaxDelay (2), Reserved (12)
//!     58   2  Terminator TLV: TLV_type = 0, Terminator_Length = 0
//!     60  50  Reserved                                                  (110 octets)
//! ```
//!
//! What a receiver checks follows the standard's compatibility rule (§6.4.2.3, after the
//! field list): "Version 1 implementations ... shall not validate the Version Number,
//! TLV_type, or Reserved fields in received LACPDUs. The same actions are taken regardless
//! of the values received in these fields. A Version 1 implementation may validate the
//! Actor_Information_Length, Partner_Information_Length, Collector_Information_Length, or
//! Terminator_Length fields." So any version is accepted and read by the version 1 fields
//! at their version 1 offsets (a version 2 PDU's extra TLVs follow the Collector TLV and are
//! kept, not interpreted), the three information lengths are checked, and the TLV types and
//! reserved octets are kept as received so the PDU re-encodes byte for byte.

use crate::codec::state::PortState;
use crate::codec::{be16, mac, MacAddr, SystemId, PDU_LEN, SUBTYPE_LACP};
use crate::error::DecodeError;

/// The information one side gives about itself (Actor TLV) or about what it believes of
/// the other side (Partner TLV).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortInfo {
    /// System_Priority and System.
    pub system: SystemId,
    /// The operational Key.
    pub key: u16,
    /// Port_Priority.
    pub port_priority: u16,
    /// Port number.
    pub port: u16,
    /// The state flags.
    pub state: PortState,
}

/// The octets a version 1 receiver does not interpret, as received (or the standard's
/// values in a PDU we build), so that decode then encode gives back the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uninterpreted {
    /// TLV_type of the Actor, Partner and Collector TLVs (1, 2, 3 as sent by everyone).
    pub tlv_types: [u8; 3],
    /// The reserved octets closing the Actor TLV.
    pub actor_reserved: [u8; 3],
    /// The reserved octets closing the Partner TLV.
    pub partner_reserved: [u8; 3],
    /// The Collector TLV's reserved octets.
    pub collector_reserved: [u8; 12],
    /// Everything after the Collector TLV: the Terminator TLV and 50 reserved octets in
    /// version 1 (52 octets), the version 2 TLVs and what follows them otherwise.
    pub tail: Vec<u8>,
}

impl Default for Uninterpreted {
    fn default() -> Self {
        Uninterpreted {
            tlv_types: [TLV_ACTOR, TLV_PARTNER, TLV_COLLECTOR],
            actor_reserved: [0; 3],
            partner_reserved: [0; 3],
            collector_reserved: [0; 12],
            // Terminator TLV (type 0, length 0) and the 50 reserved octets: all zero.
            tail: vec![0; V1_TAIL_LEN],
        }
    }
}

/// TLV_type of the Actor Information TLV.
pub const TLV_ACTOR: u8 = 1;
/// TLV_type of the Partner Information TLV.
pub const TLV_PARTNER: u8 = 2;
/// TLV_type of the Collector Information TLV.
pub const TLV_COLLECTOR: u8 = 3;
/// Actor_Information_Length and Partner_Information_Length.
pub const INFO_LEN: u8 = 20;
/// Collector_Information_Length.
pub const COLLECTOR_LEN: u8 = 16;

const OFF_ACTOR: usize = 2;
const OFF_PARTNER: usize = 22;
const OFF_COLLECTOR: usize = 42;
const OFF_TAIL: usize = 58;
const V1_TAIL_LEN: usize = PDU_LEN - OFF_TAIL;

/// A decoded LACPDU (without the Ethernet header).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lacpdu {
    /// Version Number: 1 in the PDUs we send; any value is accepted on receipt.
    pub version: u8,
    /// The sender's own information.
    pub actor: PortInfo,
    /// What the sender holds about us.
    pub partner: PortInfo,
    /// CollectorMaxDelay, in tens of microseconds.
    pub collector_max_delay: u16,
    /// The octets kept for a byte-exact re-encode.
    pub uninterpreted: Uninterpreted,
}

impl Lacpdu {
    /// A version 1 LACPDU with every uninterpreted octet as the standard sets it.
    pub fn new(actor: PortInfo, partner: PortInfo, collector_max_delay: u16) -> Lacpdu {
        Lacpdu {
            version: 1,
            actor,
            partner,
            collector_max_delay,
            uninterpreted: Uninterpreted::default(),
        }
    }

    /// Decodes an LACPDU from the octets after the EtherType (starting with the subtype).
    /// A version 1 PDU is its first 110 octets (a longer buffer's tail is padding); a later
    /// version keeps every octet of `b`, since its TLVs may run past 110.
    pub fn decode(b: &[u8]) -> Result<Lacpdu, DecodeError> {
        if b.len() < PDU_LEN {
            return Err(DecodeError::Truncated {
                len: b.len(),
                need: PDU_LEN,
            });
        }
        if b[0] != SUBTYPE_LACP {
            return Err(DecodeError::WrongSubtype(b[0]));
        }
        let version = b[1];
        if version == 0 {
            // Version 0 never existed: the first LACP (802.3ad-2000) is version 1. The
            // rule above is about versions a version 1 receiver does not know yet.
            return Err(DecodeError::BadVersion(0));
        }
        let check_len = |at: usize, want: u8, tlv: &'static str| {
            if b[at + 1] == want {
                Ok(())
            } else {
                Err(DecodeError::BadTlvLength {
                    tlv,
                    len: b[at + 1],
                    want,
                })
            }
        };
        check_len(OFF_ACTOR, INFO_LEN, "Actor Information")?;
        check_len(OFF_PARTNER, INFO_LEN, "Partner Information")?;
        check_len(OFF_COLLECTOR, COLLECTOR_LEN, "Collector Information")?;
        let end = if version == 1 { PDU_LEN } else { b.len() };
        let mut u = Uninterpreted {
            tlv_types: [b[OFF_ACTOR], b[OFF_PARTNER], b[OFF_COLLECTOR]],
            tail: b[OFF_TAIL..end].to_vec(),
            ..Uninterpreted::default()
        };
        u.actor_reserved
            .copy_from_slice(&b[OFF_ACTOR + 17..OFF_ACTOR + 20]);
        u.partner_reserved
            .copy_from_slice(&b[OFF_PARTNER + 17..OFF_PARTNER + 20]);
        u.collector_reserved
            .copy_from_slice(&b[OFF_COLLECTOR + 4..OFF_COLLECTOR + 16]);
        Ok(Lacpdu {
            version,
            actor: read_info(b, OFF_ACTOR),
            partner: read_info(b, OFF_PARTNER),
            collector_max_delay: be16(b, OFF_COLLECTOR + 2),
            uninterpreted: u,
        })
    }

    /// The PDU's length in octets: 110 for the PDUs we build and for any version 1 PDU.
    pub fn len(&self) -> usize {
        OFF_TAIL + self.uninterpreted.tail.len()
    }

    /// Never empty: the fixed part alone is 58 octets. (Here for clippy's `len` rule.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Encodes the PDU, starting with the subtype.
    pub fn encode(&self) -> Vec<u8> {
        let u = &self.uninterpreted;
        let mut b = Vec::with_capacity(self.len());
        b.push(SUBTYPE_LACP);
        b.push(self.version);
        write_info(&mut b, u.tlv_types[0], &self.actor, &u.actor_reserved);
        write_info(&mut b, u.tlv_types[1], &self.partner, &u.partner_reserved);
        b.push(u.tlv_types[2]);
        b.push(COLLECTOR_LEN);
        b.extend_from_slice(&self.collector_max_delay.to_be_bytes());
        b.extend_from_slice(&u.collector_reserved);
        b.extend_from_slice(&u.tail);
        b
    }
}

fn read_info(b: &[u8], at: usize) -> PortInfo {
    PortInfo {
        system: SystemId {
            priority: be16(b, at + 2),
            mac: mac(b, at + 4),
        },
        key: be16(b, at + 10),
        port_priority: be16(b, at + 12),
        port: be16(b, at + 14),
        state: PortState(b[at + 16]),
    }
}

fn write_info(b: &mut Vec<u8>, tlv_type: u8, i: &PortInfo, reserved: &[u8; 3]) {
    b.push(tlv_type);
    b.push(INFO_LEN);
    b.extend_from_slice(&i.system.priority.to_be_bytes());
    b.extend_from_slice(&i.system.mac.0);
    b.extend_from_slice(&i.key.to_be_bytes());
    b.extend_from_slice(&i.port_priority.to_be_bytes());
    b.extend_from_slice(&i.port.to_be_bytes());
    b.push(i.state.0);
    b.extend_from_slice(reserved);
}

/// Reads the system MAC of a PDU's actor without decoding the rest (for logs of PDUs that
/// fail to decode). `None` when the buffer is too short.
pub fn peek_actor_system(b: &[u8]) -> Option<MacAddr> {
    (b.len() >= OFF_ACTOR + 10).then(|| mac(b, OFF_ACTOR + 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lacpdu {
        let actor = PortInfo {
            system: SystemId {
                priority: 0xffff,
                mac: MacAddr([0x6c, 0x92, 0xbf, 0x47, 0xb2, 0x66]),
            },
            key: 0x0021,
            port_priority: 0x00ff,
            port: 1,
            state: PortState(0x05),
        };
        Lacpdu::new(actor, PortInfo::default(), 0)
    }

    #[test]
    fn offsets_match_the_lacpdu_structure() {
        let b = sample().encode();
        assert_eq!(b.len(), PDU_LEN);
        assert_eq!(&b[..4], &[1, 1, 1, 20]);
        assert_eq!(&b[4..6], &[0xff, 0xff]);
        assert_eq!(&b[6..12], &[0x6c, 0x92, 0xbf, 0x47, 0xb2, 0x66]);
        assert_eq!(&b[12..18], &[0, 0x21, 0, 0xff, 0, 1]);
        assert_eq!(b[18], 0x05);
        assert_eq!(&b[22..24], &[2, 20]);
        assert_eq!(&b[42..44], &[3, 16]);
        assert_eq!(&b[58..60], &[0, 0], "Terminator TLV");
        assert!(b[60..].iter().all(|&x| x == 0));
        assert_eq!(Lacpdu::decode(&b).unwrap(), sample());
    }

    #[test]
    fn short_and_wrong_pdus_are_typed_errors() {
        let b = sample().encode();
        assert_eq!(
            Lacpdu::decode(&b[..109]),
            Err(DecodeError::Truncated {
                len: 109,
                need: 110
            })
        );
        let mut bad = b.clone();
        bad[3] = 19;
        assert!(matches!(
            Lacpdu::decode(&bad),
            Err(DecodeError::BadTlvLength {
                len: 19,
                want: 20,
                ..
            })
        ));
        let mut bad = b.clone();
        bad[0] = 2;
        assert_eq!(Lacpdu::decode(&bad), Err(DecodeError::WrongSubtype(2)));
    }

    #[test]
    fn later_versions_are_read_by_the_version_1_fields() {
        // "shall not validate the Version Number, TLV_type, or Reserved fields": a version 2
        // PDU with a Port Algorithm TLV (type 4, length 6) after the Collector TLV, and
        // odd reserved octets, gives the same actor and partner as version 1.
        let mut b = sample().encode();
        b[1] = 2;
        b[21] = 0xaa;
        b[58..64].copy_from_slice(&[4, 6, 0, 0x80, 0xc2, 1]);
        b.extend_from_slice(&[0; 20]);
        let p = Lacpdu::decode(&b).unwrap();
        assert_eq!(p.version, 2);
        assert_eq!(p.actor, sample().actor);
        assert_eq!(p.len(), 130);
        assert_eq!(p.encode(), b);
        // Version 1 stops at 110 octets: the rest is frame padding.
        let mut v1 = sample().encode();
        v1.extend_from_slice(&[0xee; 4]);
        assert_eq!(Lacpdu::decode(&v1).unwrap().encode(), &v1[..110]);
    }
}
