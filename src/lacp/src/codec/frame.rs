//! The Ethernet frame around a Slow Protocols PDU: destination, source, EtherType 0x8809,
//! then the PDU (IEEE 802.3 Annex 57A). LACPDUs are never VLAN-tagged.

use crate::codec::lacpdu::Lacpdu;
use crate::codec::marker::MarkerPdu;
use crate::codec::{
    be16, mac, MacAddr, SLOW_PROTOCOLS_ETHERTYPE, SLOW_PROTOCOLS_MULTICAST, SUBTYPE_LACP,
    SUBTYPE_MARKER,
};
use crate::error::DecodeError;

/// Length of the Ethernet header: destination, source, EtherType.
pub const ETH_HEADER_LEN: usize = 14;

/// "The Slow Protocols ... use subtype values 1 to 10" (Annex 57A.4): 1 LACP, 2 Marker,
/// 3 OAM, 10 OSSP; 0 and 11..=255 are illegal.
const LAST_SLOW_SUBTYPE: u8 = 10;

/// A PDU carried by a Slow Protocols frame that this crate speaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SlowPdu {
    /// Subtype 1.
    Lacp(Lacpdu),
    /// Subtype 2.
    Marker(MarkerPdu),
}

impl SlowPdu {
    /// Encodes the PDU, starting with the subtype.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            SlowPdu::Lacp(p) => p.encode(),
            SlowPdu::Marker(m) => m.encode(),
        }
    }
}

/// A whole Slow Protocols frame, as an AF_PACKET or AF_XDP socket gives it (no FCS).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlowFrame {
    /// Destination: always the Slow_Protocols_Multicast address here.
    pub dst: MacAddr,
    /// Source: the sending port's own MAC address.
    pub src: MacAddr,
    /// The PDU.
    pub pdu: SlowPdu,
}

impl SlowFrame {
    /// A frame from the port whose MAC is `src` to the Slow_Protocols_Multicast address.
    pub fn new(src: MacAddr, pdu: SlowPdu) -> SlowFrame {
        SlowFrame {
            dst: SLOW_PROTOCOLS_MULTICAST,
            src,
            pdu,
        }
    }

    /// Decodes a frame. [`DecodeError::counter`] says which statistic a failure counts in.
    pub fn decode(frame: &[u8]) -> Result<SlowFrame, DecodeError> {
        if frame.len() < ETH_HEADER_LEN + 1 {
            return Err(DecodeError::Truncated {
                len: frame.len(),
                need: ETH_HEADER_LEN + 1,
            });
        }
        let dst = mac(frame, 0);
        let ethertype = be16(frame, 12);
        if ethertype != SLOW_PROTOCOLS_ETHERTYPE {
            return Err(DecodeError::NotSlowProtocols(ethertype));
        }
        if dst != SLOW_PROTOCOLS_MULTICAST {
            return Err(DecodeError::WrongDestination(dst));
        }
        let payload = &frame[ETH_HEADER_LEN..];
        let pdu = match payload[0] {
            SUBTYPE_LACP => SlowPdu::Lacp(Lacpdu::decode(payload)?),
            SUBTYPE_MARKER => SlowPdu::Marker(MarkerPdu::decode(payload)?),
            s @ 1..=LAST_SLOW_SUBTYPE => return Err(DecodeError::UnknownSubtype(s)),
            s => return Err(DecodeError::IllegalSubtype(s)),
        };
        Ok(SlowFrame {
            dst,
            src: mac(frame, 6),
            pdu,
        })
    }

    /// The frame's octets: header and PDU (124 octets for a version 1 PDU; the NIC adds
    /// the FCS).
    pub fn encode(&self) -> Vec<u8> {
        let pdu = self.pdu.encode();
        let mut b = Vec::with_capacity(ETH_HEADER_LEN + pdu.len());
        b.extend_from_slice(&self.dst.0);
        b.extend_from_slice(&self.src.0);
        b.extend_from_slice(&SLOW_PROTOCOLS_ETHERTYPE.to_be_bytes());
        b.extend_from_slice(&pdu);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RxCounter;

    #[test]
    fn subtypes_sort_into_unknown_and_illegal() {
        let mut f = vec![0u8; 124];
        f[..6].copy_from_slice(&SLOW_PROTOCOLS_MULTICAST.0);
        f[12..14].copy_from_slice(&[0x88, 0x09]);
        f[14] = 3; // OAM: a Slow Protocol, but not ours
        let e = SlowFrame::decode(&f).unwrap_err();
        assert_eq!(e, DecodeError::UnknownSubtype(3));
        assert_eq!(e.counter(), RxCounter::Unknown);
        f[14] = 11;
        assert_eq!(
            SlowFrame::decode(&f).unwrap_err().counter(),
            RxCounter::Illegal
        );
        f[14] = 0;
        assert_eq!(
            SlowFrame::decode(&f).unwrap_err().counter(),
            RxCounter::Illegal
        );
        f[12] = 0x08;
        f[13] = 0x00;
        assert_eq!(
            SlowFrame::decode(&f).unwrap_err().counter(),
            RxCounter::Unknown
        );
    }
}
