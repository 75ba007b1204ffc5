//! Capabilities Advertisement (RFC 5492) and the capabilities we understand.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```
//!
//! A capability whose value does not have the shape its RFC defines is kept
//! as [`Capability::Unknown`]: RFC 5492 lets us ignore what we do not
//! understand, and keeping the bytes makes re-encoding exact.

use super::family::{Afi, Family, Safi};
use super::wire::{wire_enum, Reader, Short};

wire_enum! {
    /// IANA capability codes this crate names.
    pub enum CapabilityCode(u8) {
        Multiprotocol = 1,
        RouteRefresh = 2,
        ExtendedNextHop = 5,
        ExtendedMessage = 6,
        Role = 9,
        GracefulRestart = 64,
        FourOctetAs = 65,
        AddPath = 69,
        EnhancedRouteRefresh = 70,
        LongLivedGracefulRestart = 71,
        Fqdn = 73,
        /// Pre-standard Cisco route refresh.
        RouteRefreshCisco = 128,
    }
}

/// One family in a Graceful Restart capability (RFC 4724 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// Bit 0x80: forwarding state preserved.
    pub flags: u8,
}

/// One entry of the Extended Next Hop capability (RFC 8950 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtendedNextHopEntry {
    pub nlri_afi: Afi,
    /// RFC 8950 widens the SAFI to two octets here.
    pub nlri_safi: u16,
    pub next_hop_afi: Afi,
}

/// One entry of the ADD-PATH capability (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddPathFamily {
    pub family: Family,
    /// 1 receive, 2 send, 3 both.
    pub send_receive: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// RFC 4760 §8.
    Multiprotocol(Family),
    /// RFC 2918.
    RouteRefresh,
    /// RFC 8950.
    ExtendedNextHop(Vec<ExtendedNextHopEntry>),
    /// RFC 8654 (recognised, never negotiated by us).
    ExtendedMessage,
    /// RFC 4724: we tolerate it and report it; we never restart gracefully.
    GracefulRestart {
        /// Restart Flags (4 high bits: R = 0x8, N = 0x4).
        flags: u8,
        /// Restart Time in seconds (12 bits).
        time: u16,
        families: Vec<GracefulRestartFamily>,
    },
    /// RFC 6793.
    FourOctetAs(u32),
    /// RFC 7911.
    AddPath(Vec<AddPathFamily>),
    /// RFC 7313.
    EnhancedRouteRefresh,
    /// Anything else, or a known code whose value is malformed.
    Unknown { code: u8, value: Vec<u8> },
}

impl Capability {
    pub fn code(&self) -> CapabilityCode {
        match self {
            Capability::Multiprotocol(_) => CapabilityCode::Multiprotocol,
            Capability::RouteRefresh => CapabilityCode::RouteRefresh,
            Capability::ExtendedNextHop(_) => CapabilityCode::ExtendedNextHop,
            Capability::ExtendedMessage => CapabilityCode::ExtendedMessage,
            Capability::GracefulRestart { .. } => CapabilityCode::GracefulRestart,
            Capability::FourOctetAs(_) => CapabilityCode::FourOctetAs,
            Capability::AddPath(_) => CapabilityCode::AddPath,
            Capability::EnhancedRouteRefresh => CapabilityCode::EnhancedRouteRefresh,
            Capability::Unknown { code, .. } => CapabilityCode::from(*code),
        }
    }

    fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            Capability::Multiprotocol(f) => {
                out.extend_from_slice(&u16::from(f.afi).to_be_bytes());
                out.push(0);
                out.push(f.safi.into());
            }
            Capability::RouteRefresh
            | Capability::ExtendedMessage
            | Capability::EnhancedRouteRefresh => {}
            Capability::ExtendedNextHop(entries) => {
                for e in entries {
                    out.extend_from_slice(&u16::from(e.nlri_afi).to_be_bytes());
                    out.extend_from_slice(&e.nlri_safi.to_be_bytes());
                    out.extend_from_slice(&u16::from(e.next_hop_afi).to_be_bytes());
                }
            }
            Capability::GracefulRestart {
                flags,
                time,
                families,
            } => {
                let word = ((*flags as u16 & 0x0f) << 12) | (time & 0x0fff);
                out.extend_from_slice(&word.to_be_bytes());
                for f in families {
                    out.extend_from_slice(&u16::from(f.family.afi).to_be_bytes());
                    out.push(f.family.safi.into());
                    out.push(f.flags);
                }
            }
            Capability::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
            Capability::AddPath(families) => {
                for f in families {
                    out.extend_from_slice(&u16::from(f.family.afi).to_be_bytes());
                    out.push(f.family.safi.into());
                    out.push(f.send_receive);
                }
            }
            Capability::Unknown { value, .. } => out.extend_from_slice(value),
        }
    }

    /// Appends the capability TLV; values over 255 octets are cut (only an
    /// absurd Unknown could be that long, and only if built by hand).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut value = Vec::new();
        self.encode_value(&mut value);
        value.truncate(255);
        out.push(self.code().into());
        out.push(value.len() as u8);
        out.extend_from_slice(&value);
    }

    fn decode_value(code: u8, value: &[u8]) -> Result<Capability, Short> {
        let mut r = Reader::new(value);
        let cap = match CapabilityCode::from(code) {
            CapabilityCode::Multiprotocol => {
                let afi = r.u16()?;
                let _reserved = r.u8()?;
                let safi = r.u8()?;
                Capability::Multiprotocol(Family::new(afi.into(), safi.into()))
            }
            CapabilityCode::RouteRefresh => Capability::RouteRefresh,
            CapabilityCode::ExtendedMessage => Capability::ExtendedMessage,
            CapabilityCode::EnhancedRouteRefresh => Capability::EnhancedRouteRefresh,
            CapabilityCode::ExtendedNextHop => {
                let mut entries = Vec::new();
                while !r.is_empty() {
                    entries.push(ExtendedNextHopEntry {
                        nlri_afi: r.u16()?.into(),
                        nlri_safi: r.u16()?,
                        next_hop_afi: r.u16()?.into(),
                    });
                }
                Capability::ExtendedNextHop(entries)
            }
            CapabilityCode::GracefulRestart => {
                let word = r.u16()?;
                let mut families = Vec::new();
                while !r.is_empty() {
                    let afi: Afi = r.u16()?.into();
                    let safi: Safi = r.u8()?.into();
                    families.push(GracefulRestartFamily {
                        family: Family::new(afi, safi),
                        flags: r.u8()?,
                    });
                }
                Capability::GracefulRestart {
                    flags: (word >> 12) as u8,
                    time: word & 0x0fff,
                    families,
                }
            }
            CapabilityCode::FourOctetAs => Capability::FourOctetAs(r.u32()?),
            CapabilityCode::AddPath => {
                let mut families = Vec::new();
                while !r.is_empty() {
                    let afi: Afi = r.u16()?.into();
                    let safi: Safi = r.u8()?.into();
                    families.push(AddPathFamily {
                        family: Family::new(afi, safi),
                        send_receive: r.u8()?,
                    });
                }
                Capability::AddPath(families)
            }
            _ => return Err(Short),
        };
        if !r.is_empty() {
            return Err(Short);
        }
        Ok(cap)
    }

    /// Decodes one capability value. Never fails: a value that does not
    /// match its RFC shape (or would not re-encode to the same bytes) is kept
    /// as `Unknown`.
    pub(crate) fn decode(code: u8, value: &[u8]) -> Capability {
        if let Ok(cap) = Capability::decode_value(code, value) {
            let mut again = Vec::new();
            cap.encode_value(&mut again);
            if again == value {
                return cap;
            }
        }
        Capability::Unknown {
            code,
            value: value.to_vec(),
        }
    }

    /// Decodes a sequence of capability TLVs (the value of one Capabilities
    /// optional parameter).
    pub(crate) fn decode_list(buf: &[u8]) -> Result<Vec<Capability>, Short> {
        let mut r = Reader::new(buf);
        let mut caps = Vec::new();
        while !r.is_empty() {
            let code = r.u8()?;
            let len = r.u8()? as usize;
            let value = r.take(len)?;
            caps.push(Capability::decode(code, value));
        }
        Ok(caps)
    }
}
