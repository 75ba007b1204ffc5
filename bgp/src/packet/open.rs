//! OPEN message (RFC 4271 §4.2) with RFC 9072 extended optional parameters.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use super::capabilities::Capability;
use super::family::Family;
use super::wire::Reader;
use crate::error::{DecodeError, EncodeError, OpenError};

/// RFC 6793 §9: the 2-octet placeholder for a 4-octet AS number.
pub const AS_TRANS: u16 = 23456;

/// Optional parameter type 2 (RFC 5492).
pub const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072 §2: marks the extended optional parameter encoding.
const PARAM_EXTENDED: u8 = 255;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OptionalParameter {
    /// Capabilities Advertisement: one parameter may carry several
    /// capabilities, and a speaker may send several such parameters (FRR and
    /// Junos do: one capability per parameter).
    Capabilities(Vec<Capability>),
    /// Any other parameter type (type 1, authentication, is deprecated).
    /// Kept so it re-encodes; the FSM rejects it with OPEN error 2/4.
    Unknown { param_type: u8, value: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpenMessage {
    pub version: u8,
    /// My Autonomous System: AS_TRANS when the real AS needs 4 octets.
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub params: Vec<OptionalParameter>,
    /// Use the RFC 9072 extended parameter encoding even if short enough
    /// for the classic one (preserved from received messages).
    pub extended_params: bool,
}

impl OpenMessage {
    /// Builds our OPEN: version 4, AS_TRANS if needed, all capabilities in
    /// one optional parameter.
    pub fn new(local_as: u32, hold_time: u16, bgp_id: Ipv4Addr, caps: Vec<Capability>) -> Self {
        let my_as = u16::try_from(local_as).unwrap_or(AS_TRANS);
        OpenMessage {
            version: 4,
            my_as,
            hold_time,
            bgp_id,
            params: if caps.is_empty() {
                vec![]
            } else {
                vec![OptionalParameter::Capabilities(caps)]
            },
            extended_params: false,
        }
    }

    /// Every capability, across all Capabilities parameters.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.params.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(c) => c.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The 4-octet AS from the RFC 6793 capability, if advertised.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }

    /// The sender's AS: the 4-octet capability if present, else My AS.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(self.my_as as u32)
    }

    /// Multiprotocol families advertised. RFC 4760 §8: a speaker that sends
    /// none supports IPv4 unicast only.
    pub fn families(&self) -> Vec<Family> {
        let fams: Vec<Family> = self
            .capabilities()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        if fams.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            fams
        }
    }

    pub fn supports_route_refresh(&self) -> bool {
        self.capabilities()
            .any(|c| matches!(c, Capability::RouteRefresh))
    }

    pub fn graceful_restart(&self) -> Option<&Capability> {
        self.capabilities()
            .find(|c| matches!(c, Capability::GracefulRestart { .. }))
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let short = |_| DecodeError::BadMessageLength(19 + body.len() as u16);
        let version = r.u8().map_err(short)?;
        let my_as = r.u16().map_err(short)?;
        let hold_time = r.u16().map_err(short)?;
        let bgp_id = Ipv4Addr::from(r.array::<4>().map_err(short)?);
        let opt_len = r.u8().map_err(short)?;
        let mut extended_params = false;
        let params_buf;
        // RFC 9072 §2: a length of 255 followed by type 255 announces the
        // extended encoding with 2-octet lengths.
        if opt_len == PARAM_EXTENDED && r.remaining() >= 3 && body.get(10) == Some(&PARAM_EXTENDED)
        {
            extended_params = true;
            let _ = r.u8();
            let len = r.u16().map_err(|_| OpenError::Malformed)? as usize;
            params_buf = r.take(len).map_err(|_| OpenError::Malformed)?;
        } else {
            params_buf = r.take(opt_len as usize).map_err(|_| OpenError::Malformed)?;
        }
        if !r.is_empty() {
            // Trailing octets after the declared parameters.
            return Err(OpenError::Malformed.into());
        }
        let mut params = Vec::new();
        let mut pr = Reader::new(params_buf);
        while !pr.is_empty() {
            let param_type = pr.u8().map_err(|_| OpenError::Malformed)?;
            let len = if extended_params {
                pr.u16().map_err(|_| OpenError::Malformed)? as usize
            } else {
                pr.u8().map_err(|_| OpenError::Malformed)? as usize
            };
            let value = pr.take(len).map_err(|_| OpenError::Malformed)?;
            params.push(if param_type == PARAM_CAPABILITIES {
                OptionalParameter::Capabilities(
                    Capability::decode_list(value).map_err(|_| OpenError::Malformed)?,
                )
            } else {
                OptionalParameter::Unknown {
                    param_type,
                    value: value.to_vec(),
                }
            });
        }
        Ok(OpenMessage {
            version,
            my_as,
            hold_time,
            bgp_id,
            params,
            extended_params,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let mut values = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let mut v = Vec::new();
            let t = match p {
                OptionalParameter::Capabilities(caps) => {
                    for c in caps {
                        c.encode(&mut v);
                    }
                    PARAM_CAPABILITIES
                }
                OptionalParameter::Unknown { param_type, value } => {
                    v.extend_from_slice(value);
                    *param_type
                }
            };
            values.push((t, v));
        }
        let classic_len: usize = values.iter().map(|(_, v)| 2 + v.len()).sum();
        let extended =
            self.extended_params || classic_len > 255 || values.iter().any(|(_, v)| v.len() > 255);
        let mut params = Vec::new();
        for (t, v) in &values {
            params.push(*t);
            if extended {
                let len = u16::try_from(v.len())
                    .map_err(|_| EncodeError::FieldTooLong("optional parameter"))?;
                params.extend_from_slice(&len.to_be_bytes());
            } else {
                params.push(v.len() as u8);
            }
            params.extend_from_slice(v);
        }
        if extended {
            let len = u16::try_from(params.len())
                .map_err(|_| EncodeError::FieldTooLong("optional parameters"))?;
            out.push(PARAM_EXTENDED);
            out.push(PARAM_EXTENDED);
            out.extend_from_slice(&len.to_be_bytes());
        } else {
            out.push(params.len() as u8);
        }
        out.extend_from_slice(&params);
        Ok(())
    }
}
