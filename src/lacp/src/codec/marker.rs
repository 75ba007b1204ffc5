//! The Marker protocol's PDUs (§6.5.3.3): a Marker PDU asks the partner to
//! answer once every frame it sent before it on the link has been delivered; the Marker
//! Responder (§6.5.4.2) must answer every one. We never send Marker PDUs (our distributor
//! does not move conversations between links by the Marker protocol) but answer them, as
//! the standard requires of every Aggregation Port.
//!
//! ```text
//! offset len  field
//!      0   1  Subtype = 2 (Marker)
//!      1   1  Version Number = 1
//!      2   1  TLV_type = 1 (Marker Information) or 2 (Marker Response Information)
//!      3   1  Marker_Information_Length = 16
//!      4   2  Requester_Port
//!      6   6  Requester_System
//!     12   4  Requester_Transaction_ID
//!     16   2  Pad
//!     18   2  Terminator TLV: TLV_type = 0, Terminator_Length = 0
//!     20  90  Reserved                                                  (110 octets)
//! ```
//!
//! As for the LACPDU, the version, the pad and the reserved octets are not checked and are
//! kept as received; the TLV type is, since it says whether this is a request or a response.

use crate::codec::{be16, be32, mac, MacAddr, PDU_LEN, SUBTYPE_MARKER};
use crate::error::DecodeError;

/// TLV_type of a Marker Information TLV (a request).
pub const TLV_MARKER_INFORMATION: u8 = 1;
/// TLV_type of a Marker Response Information TLV.
pub const TLV_MARKER_RESPONSE: u8 = 2;
/// Marker_Information_Length (and Marker_Response_Information_Length).
pub const MARKER_INFO_LEN: u8 = 16;

/// Request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkerKind {
    /// Marker Information: a request to answer.
    Request,
    /// Marker Response Information: the answer to a request.
    Response,
}

/// A decoded Marker or Marker Response PDU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MarkerPdu {
    /// Version Number (1).
    pub version: u8,
    /// Request or response.
    pub kind: MarkerKind,
    /// Requester_Port: the requester's port number.
    pub requester_port: u16,
    /// Requester_System: the requester's system MAC.
    pub requester_system: MacAddr,
    /// Requester_Transaction_ID, chosen by the requester.
    pub transaction_id: u32,
    /// Pad, as received (0 when sent).
    pub pad: [u8; 2],
    /// The Terminator TLV and reserved octets, as received (90 + 2 zero octets when sent).
    pub tail: Vec<u8>,
}

const OFF_TAIL: usize = 18;

impl MarkerPdu {
    /// Decodes a Marker PDU from the octets after the EtherType. The PDU is 110 octets; a
    /// longer buffer's tail is padding.
    pub fn decode(b: &[u8]) -> Result<MarkerPdu, DecodeError> {
        if b.len() < PDU_LEN {
            return Err(DecodeError::Truncated {
                len: b.len(),
                need: PDU_LEN,
            });
        }
        if b[0] != SUBTYPE_MARKER {
            return Err(DecodeError::WrongSubtype(b[0]));
        }
        if b[1] == 0 {
            return Err(DecodeError::BadVersion(0));
        }
        let kind = match b[2] {
            TLV_MARKER_INFORMATION => MarkerKind::Request,
            TLV_MARKER_RESPONSE => MarkerKind::Response,
            t => return Err(DecodeError::UnknownMarkerTlv(t)),
        };
        if b[3] != MARKER_INFO_LEN {
            return Err(DecodeError::BadTlvLength {
                tlv: "Marker Information",
                len: b[3],
                want: MARKER_INFO_LEN,
            });
        }
        Ok(MarkerPdu {
            version: b[1],
            kind,
            requester_port: be16(b, 4),
            requester_system: mac(b, 6),
            transaction_id: be32(b, 12),
            pad: [b[16], b[17]],
            tail: b[OFF_TAIL..PDU_LEN].to_vec(),
        })
    }

    /// Encodes the PDU, starting with the subtype.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(PDU_LEN);
        b.push(SUBTYPE_MARKER);
        b.push(self.version);
        b.push(match self.kind {
            MarkerKind::Request => TLV_MARKER_INFORMATION,
            MarkerKind::Response => TLV_MARKER_RESPONSE,
        });
        b.push(MARKER_INFO_LEN);
        b.extend_from_slice(&self.requester_port.to_be_bytes());
        b.extend_from_slice(&self.requester_system.0);
        b.extend_from_slice(&self.transaction_id.to_be_bytes());
        b.extend_from_slice(&self.pad);
        b.extend_from_slice(&self.tail);
        b
    }

    /// The Marker Responder's answer (§6.5.4.2): "The Marker Responder ... shall transmit a
    /// Marker Response PDU ... The Requester_Port, Requester_System, and
    /// Requester_Transaction_ID parameter values in the Marker Response PDU shall be the same
    /// as the corresponding values in the Marker PDU received." Version 1, zero pad and
    /// reserved octets, whatever the request carried there.
    pub fn response(&self) -> MarkerPdu {
        MarkerPdu {
            version: 1,
            kind: MarkerKind::Response,
            requester_port: self.requester_port,
            requester_system: self.requester_system,
            transaction_id: self.transaction_id,
            pad: [0; 2],
            tail: vec![0; PDU_LEN - OFF_TAIL],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_answered_with_the_same_requester_fields() {
        let mut req = vec![0u8; PDU_LEN];
        req[..4].copy_from_slice(&[2, 1, 1, 16]);
        req[4..6].copy_from_slice(&[0, 7]);
        req[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        req[12..16].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let m = MarkerPdu::decode(&req).unwrap();
        assert_eq!(m.kind, MarkerKind::Request);
        assert_eq!(m.encode(), req);
        let r = m.response().encode();
        assert_eq!(r[2], TLV_MARKER_RESPONSE);
        assert_eq!(&r[3..], &req[3..]);
        assert_eq!(
            MarkerPdu::decode(&r[..100]),
            Err(DecodeError::Truncated {
                len: 100,
                need: 110
            })
        );
        let mut bad = req.clone();
        bad[2] = 3;
        assert_eq!(
            MarkerPdu::decode(&bad),
            Err(DecodeError::UnknownMarkerTlv(3))
        );
    }
}
