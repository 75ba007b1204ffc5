//! ROUTE-REFRESH message (RFC 2918 §3, subtypes from RFC 7313 §3.2).
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subt. | SAFI  |
//! +-------+-------+-------+-------+
//! ```

use super::family::Family;
use super::wire::wire_enum;
use crate::error::DecodeError;

wire_enum! {
    /// RFC 7313 §3.2 message subtype (the RFC 2918 reserved octet).
    pub enum RouteRefreshSubtype(u8) {
        Normal = 0,
        BeginningOfRouteRefresh = 1,
        EndOfRouteRefresh = 2,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefreshMessage {
    pub family: Family,
    pub subtype: RouteRefreshSubtype,
}

impl RouteRefreshMessage {
    pub fn new(family: Family) -> Self {
        RouteRefreshMessage {
            family,
            subtype: RouteRefreshSubtype::Normal,
        }
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        // RFC 7313 §5: any length but 4 octets of body is an error.
        let [a0, a1, subtype, safi] = <[u8; 4]>::try_from(body)
            .map_err(|_| DecodeError::RouteRefreshLength(19 + body.len() as u16))?;
        Ok(RouteRefreshMessage {
            family: Family::new(u16::from_be_bytes([a0, a1]).into(), safi.into()),
            subtype: subtype.into(),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&u16::from(self.family.afi).to_be_bytes());
        out.push(self.subtype.into());
        out.push(self.family.safi.into());
    }
}
