//! Path attributes (RFC 4271 §4.3, §5) and RFC 7606 revised error handling.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attr. Flags  |Attr. Type Code|  then 1 or 2 (Extended Length) octets
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  of length, then the value
//! ```
//!
//! Decoding never loses bytes: the flags octet is kept as received (FRR, for
//! one, sets Extended Length on short AS_PATHs), unknown attributes are kept
//! raw, and a malformed attribute that RFC 7606 does not escalate to a session
//! reset is kept raw too, tagged with the action the receiver must take.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::aspath::AsPath;
use super::family::{Afi, Family, Safi};
use super::notification::UpdateMessageSubcode as Sub;
use super::prefix::Prefix;
use super::wire::{wire_enum, Reader, Short};
use crate::error::{EncodeError, UpdateError};

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
    /// Flags of a well-known attribute.
    pub const WELL_KNOWN: u8 = TRANSITIVE;
    pub const OPTIONAL_TRANSITIVE: u8 = OPTIONAL | TRANSITIVE;
    pub const OPTIONAL_NON_TRANSITIVE: u8 = OPTIONAL;
}

wire_enum! {
    /// IANA path attribute type codes this crate names.
    pub enum AttributeType(u8) {
        Origin = 1,
        AsPath = 2,
        NextHop = 3,
        MultiExitDisc = 4,
        LocalPref = 5,
        AtomicAggregate = 6,
        Aggregator = 7,
        Communities = 8,
        OriginatorId = 9,
        ClusterList = 10,
        MpReachNlri = 14,
        MpUnreachNlri = 15,
        ExtendedCommunities = 16,
        As4Path = 17,
        As4Aggregator = 18,
        LargeCommunities = 32,
    }
}

/// ORIGIN values (RFC 4271 §4.3 a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Origin {
    #[default]
    Igp,
    Egp,
    Incomplete,
}

/// A standard community (RFC 1997), `asn:value` in one u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// RFC 8326 GRACEFUL_SHUTDOWN, 65535:0.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// RFC 7999 BLACKHOLE, 65535:666.
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);
    /// RFC 1997 NO_EXPORT.
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// RFC 1997 NO_ADVERTISE.
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// RFC 1997 NO_EXPORT_SUBCONFED.
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);

    pub fn new(asn: u16, value: u16) -> Self {
        Community(((asn as u32) << 16) | value as u32)
    }
}

impl std::fmt::Display for Community {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// A large community (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data1: u32,
    pub local_data2: u32,
}

impl std::fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data1, self.local_data2
        )
    }
}

/// Next hop in MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MpNextHop {
    Ipv4(Ipv4Addr),
    /// 16 octets (global) or 32 octets (global then link-local).
    Ipv6 {
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
    /// Any other length (VPN next hops, RFC 8950 forms we do not name).
    Raw(Vec<u8>),
}

impl MpNextHop {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MpNextHop::Ipv4(a) => out.extend_from_slice(&a.octets()),
            MpNextHop::Ipv6 { global, link_local } => {
                out.extend_from_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.extend_from_slice(&ll.octets());
                }
            }
            MpNextHop::Raw(b) => out.extend_from_slice(b),
        }
    }

    fn wire_len(&self) -> usize {
        match self {
            MpNextHop::Ipv4(_) => 4,
            MpNextHop::Ipv6 { link_local, .. } => 16 + 16 * link_local.is_some() as usize,
            MpNextHop::Raw(b) => b.len(),
        }
    }

    fn decode(b: &[u8]) -> Self {
        let v6 = |s: &[u8]| {
            let mut o = [0u8; 16];
            o.copy_from_slice(s);
            Ipv6Addr::from(o)
        };
        match b.len() {
            4 => MpNextHop::Ipv4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            16 => MpNextHop::Ipv6 {
                global: v6(b),
                link_local: None,
            },
            32 => MpNextHop::Ipv6 {
                global: v6(&b[..16]),
                link_local: Some(v6(&b[16..])),
            },
            _ => MpNextHop::Raw(b.to_vec()),
        }
    }
}

/// NLRI of a family: parsed prefixes, or raw octets for families we do not
/// parse (so they still re-encode).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Nlri {
    Prefixes(Vec<Prefix>),
    Raw(Vec<u8>),
}

impl Nlri {
    pub fn prefixes(&self) -> &[Prefix] {
        match self {
            Nlri::Prefixes(p) => p,
            Nlri::Raw(_) => &[],
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Nlri::Prefixes(p) => p.is_empty(),
            Nlri::Raw(r) => r.is_empty(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Nlri::Prefixes(ps) => ps.iter().for_each(|p| p.encode(out)),
            Nlri::Raw(r) => out.extend_from_slice(r),
        }
    }

    fn decode(family: Family, b: &[u8]) -> Result<Self, Short> {
        if family.has_prefix_nlri() {
            Ok(Nlri::Prefixes(Prefix::decode_all(b, family.afi)?))
        } else {
            Ok(Nlri::Raw(b.to_vec()))
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReachNlri {
    pub family: Family,
    pub next_hop: MpNextHop,
    /// The reserved octet (RFC 4760: SNPA count in RFC 2858), kept verbatim.
    pub reserved: u8,
    pub nlri: Nlri,
}

/// MP_UNREACH_NLRI (RFC 4760 §4). With no withdrawn routes it is the
/// End-of-RIB marker of a non-IPv4 family (RFC 4724 §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreachNlri {
    pub family: Family,
    pub withdrawn: Nlri,
}

/// What RFC 7606 tells the receiver to do with a malformed attribute that
/// does not reset the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rfc7606Action {
    /// RFC 7606 §2: handle the UPDATE's routes as withdrawn.
    TreatAsWithdraw,
    /// RFC 7606 §2: ignore this attribute, process the rest.
    AttributeDiscard,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    Origin(Origin),
    AsPath(AsPath),
    NextHop(Ipv4Addr),
    MultiExitDisc(u32),
    LocalPref(u32),
    AtomicAggregate,
    /// AS is 2 or 4 octets depending on the session.
    Aggregator {
        asn: u32,
        address: Ipv4Addr,
    },
    Communities(Vec<Community>),
    OriginatorId(Ipv4Addr),
    ClusterList(Vec<Ipv4Addr>),
    MpReachNlri(MpReachNlri),
    MpUnreachNlri(MpUnreachNlri),
    As4Path(AsPath),
    As4Aggregator {
        asn: u32,
        address: Ipv4Addr,
    },
    LargeCommunities(Vec<LargeCommunity>),
    /// An attribute we do not interpret (extended communities included).
    Unknown {
        type_code: u8,
        data: Vec<u8>,
    },
    /// A known attribute whose value is malformed but whose error RFC 7606
    /// handles without a session reset.
    Malformed {
        type_code: u8,
        data: Vec<u8>,
        error: UpdateError,
        action: Rfc7606Action,
    },
}

/// A path attribute: its flags octet as sent plus its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathAttribute {
    pub flags: u8,
    pub value: AttributeValue,
}

/// Decoding context: the width of AS numbers in AS_PATH and AGGREGATOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrContext {
    pub four_octet_as: bool,
}

impl PathAttribute {
    /// An attribute with the flags its RFC defines (Extended Length is added
    /// on encode when needed).
    pub fn new(value: AttributeValue) -> Self {
        let flags = match &value {
            AttributeValue::Unknown { .. } | AttributeValue::Malformed { .. } => {
                flags::OPTIONAL_TRANSITIVE
            }
            v => expected_flags(v.type_code()).unwrap_or(flags::OPTIONAL_TRANSITIVE),
        };
        PathAttribute { flags, value }
    }

    pub fn type_code(&self) -> u8 {
        self.value.type_code()
    }

    /// RFC 4271 §5: what to re-advertise of a received attribute we do not
    /// recognise: optional transitive ones go on with the Partial bit set,
    /// optional non-transitive ones are dropped. Recognised ones unchanged.
    pub fn propagate_unrecognized(&self) -> Option<PathAttribute> {
        match &self.value {
            AttributeValue::Unknown { .. } => {
                if self.flags & flags::OPTIONAL == 0 {
                    None
                } else if self.flags & flags::TRANSITIVE != 0 {
                    Some(PathAttribute {
                        flags: self.flags | flags::PARTIAL,
                        value: self.value.clone(),
                    })
                } else {
                    None
                }
            }
            _ => Some(self.clone()),
        }
    }

    pub(crate) fn encode(&self, ctx: AttrContext, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut value = Vec::new();
        self.value.encode(ctx, &mut value);
        let len = value.len();
        if len > u16::MAX as usize {
            return Err(EncodeError::FieldTooLong("path attribute"));
        }
        let mut f = self.flags;
        if len > 255 {
            f |= flags::EXTENDED_LENGTH;
        }
        out.push(f);
        out.push(self.type_code());
        if f & flags::EXTENDED_LENGTH != 0 {
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(len as u8);
        }
        out.extend_from_slice(&value);
        Ok(())
    }

    /// Encoded size in octets.
    pub fn wire_len(&self, ctx: AttrContext) -> usize {
        let mut v = Vec::new();
        // Infallible for sizes that fit; a too-long attribute reports its size.
        let _ = self.encode(ctx, &mut v);
        v.len()
    }
}

/// The Optional/Transitive bits RFC 4271/4760/6793/8092/4456/1997 define for
/// a type, or None for types we do not check.
fn expected_flags(type_code: u8) -> Option<u8> {
    use AttributeType as T;
    Some(match AttributeType::from(type_code) {
        T::Origin | T::AsPath | T::NextHop | T::LocalPref | T::AtomicAggregate => flags::WELL_KNOWN,
        T::MultiExitDisc | T::OriginatorId | T::ClusterList | T::MpReachNlri | T::MpUnreachNlri => {
            flags::OPTIONAL_NON_TRANSITIVE
        }
        T::Aggregator
        | T::Communities
        | T::As4Path
        | T::As4Aggregator
        | T::LargeCommunities
        | T::ExtendedCommunities => flags::OPTIONAL_TRANSITIVE,
        T::Unknown(_) => return None,
    })
}

impl AttributeValue {
    pub fn type_code(&self) -> u8 {
        use AttributeType as T;
        let t = match self {
            AttributeValue::Origin(_) => T::Origin,
            AttributeValue::AsPath(_) => T::AsPath,
            AttributeValue::NextHop(_) => T::NextHop,
            AttributeValue::MultiExitDisc(_) => T::MultiExitDisc,
            AttributeValue::LocalPref(_) => T::LocalPref,
            AttributeValue::AtomicAggregate => T::AtomicAggregate,
            AttributeValue::Aggregator { .. } => T::Aggregator,
            AttributeValue::Communities(_) => T::Communities,
            AttributeValue::OriginatorId(_) => T::OriginatorId,
            AttributeValue::ClusterList(_) => T::ClusterList,
            AttributeValue::MpReachNlri(_) => T::MpReachNlri,
            AttributeValue::MpUnreachNlri(_) => T::MpUnreachNlri,
            AttributeValue::As4Path(_) => T::As4Path,
            AttributeValue::As4Aggregator { .. } => T::As4Aggregator,
            AttributeValue::LargeCommunities(_) => T::LargeCommunities,
            AttributeValue::Unknown { type_code, .. }
            | AttributeValue::Malformed { type_code, .. } => return *type_code,
        };
        t.into()
    }

    fn encode(&self, ctx: AttrContext, out: &mut Vec<u8>) {
        match self {
            AttributeValue::Origin(o) => out.push(match o {
                Origin::Igp => 0,
                Origin::Egp => 1,
                Origin::Incomplete => 2,
            }),
            AttributeValue::AsPath(p) => p.encode(ctx.four_octet_as, out),
            AttributeValue::NextHop(a) | AttributeValue::OriginatorId(a) => {
                out.extend_from_slice(&a.octets())
            }
            AttributeValue::MultiExitDisc(v) | AttributeValue::LocalPref(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            AttributeValue::AtomicAggregate => {}
            AttributeValue::Aggregator { asn, address } => {
                if ctx.four_octet_as {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let a = u16::try_from(*asn).unwrap_or(super::open::AS_TRANS);
                    out.extend_from_slice(&a.to_be_bytes());
                }
                out.extend_from_slice(&address.octets());
            }
            AttributeValue::As4Aggregator { asn, address } => {
                out.extend_from_slice(&asn.to_be_bytes());
                out.extend_from_slice(&address.octets());
            }
            AttributeValue::Communities(cs) => cs
                .iter()
                .for_each(|c| out.extend_from_slice(&c.0.to_be_bytes())),
            AttributeValue::ClusterList(ids) => {
                ids.iter().for_each(|a| out.extend_from_slice(&a.octets()))
            }
            AttributeValue::MpReachNlri(m) => {
                out.extend_from_slice(&u16::from(m.family.afi).to_be_bytes());
                out.push(m.family.safi.into());
                out.push(m.next_hop.wire_len() as u8);
                m.next_hop.encode(out);
                out.push(m.reserved);
                m.nlri.encode(out);
            }
            AttributeValue::MpUnreachNlri(m) => {
                out.extend_from_slice(&u16::from(m.family.afi).to_be_bytes());
                out.push(m.family.safi.into());
                m.withdrawn.encode(out);
            }
            AttributeValue::As4Path(p) => p.encode(true, out),
            AttributeValue::LargeCommunities(ls) => {
                for l in ls {
                    out.extend_from_slice(&l.global_admin.to_be_bytes());
                    out.extend_from_slice(&l.local_data1.to_be_bytes());
                    out.extend_from_slice(&l.local_data2.to_be_bytes());
                }
            }
            AttributeValue::Unknown { data, .. } | AttributeValue::Malformed { data, .. } => {
                out.extend_from_slice(data)
            }
        }
    }
}

/// The outcome of decoding one attribute's value.
pub(crate) enum AttrDecode {
    Ok(AttributeValue),
    /// RFC 7606 says reset the session (NOTIFICATION 3/x).
    SessionReset(UpdateError),
}

/// RFC 4271 §6.3: NOTIFICATION data for attribute errors is the whole
/// attribute (flags, type, length, value).
fn attr_bytes(flags_octet: u8, type_code: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![flags_octet, type_code];
    if flags_octet & flags::EXTENDED_LENGTH != 0 {
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    } else {
        v.push(data.len() as u8);
    }
    v.extend_from_slice(data);
    v
}

/// Decodes one attribute value, applying RFC 7606 §7 per-attribute rules.
pub(crate) fn decode_value(
    flags_octet: u8,
    type_code: u8,
    data: &[u8],
    ctx: AttrContext,
) -> AttrDecode {
    use AttributeType as T;
    let ty = AttributeType::from(type_code);
    let whole = || attr_bytes(flags_octet, type_code, data);
    let malformed = |sub: Sub, action: Rfc7606Action, err_data: Vec<u8>| {
        AttrDecode::Ok(AttributeValue::Malformed {
            type_code,
            data: data.to_vec(),
            error: UpdateError::with_data(sub, err_data),
            action,
        })
    };
    use Rfc7606Action::{AttributeDiscard as Discard, TreatAsWithdraw as Withdraw};

    let Some(expected) = expected_flags(type_code) else {
        // RFC 4271 §6.3: an unrecognised well-known attribute is an error
        // that resets the session; RFC 7606 keeps that.
        if flags_octet & flags::OPTIONAL == 0 {
            return AttrDecode::SessionReset(UpdateError::with_data(
                Sub::UnrecognizedWellKnownAttribute,
                whole(),
            ));
        }
        return AttrDecode::Ok(AttributeValue::Unknown {
            type_code,
            data: data.to_vec(),
        });
    };
    let mp = matches!(ty, T::MpReachNlri | T::MpUnreachNlri);
    if flags_octet & (flags::OPTIONAL | flags::TRANSITIVE) != expected {
        // RFC 7606 §3 c: flag conflicts are malformed attributes; for
        // MP_REACH/MP_UNREACH that means session reset (§5.3).
        let err = UpdateError::with_data(Sub::AttributeFlagsError, whole());
        if mp {
            return AttrDecode::SessionReset(err);
        }
        let action = match ty {
            T::AtomicAggregate | T::Aggregator | T::As4Path | T::As4Aggregator => Discard,
            _ => Withdraw,
        };
        return malformed(Sub::AttributeFlagsError, action, whole());
    }

    let four = |b: &[u8]| -> Option<[u8; 4]> { b.try_into().ok() };
    match ty {
        // RFC 7606 §7.1
        T::Origin => match data {
            [0] => AttrDecode::Ok(AttributeValue::Origin(Origin::Igp)),
            [1] => AttrDecode::Ok(AttributeValue::Origin(Origin::Egp)),
            [2] => AttrDecode::Ok(AttributeValue::Origin(Origin::Incomplete)),
            [_] => malformed(Sub::InvalidOriginAttribute, Withdraw, whole()),
            _ => malformed(Sub::AttributeLengthError, Withdraw, whole()),
        },
        // RFC 7606 §7.2
        T::AsPath => match AsPath::decode(data, ctx.four_octet_as) {
            Ok(p) => AttrDecode::Ok(AttributeValue::AsPath(p)),
            Err(_) => malformed(Sub::MalformedAsPath, Withdraw, vec![]),
        },
        // RFC 7606 §7.3
        T::NextHop => match four(data) {
            Some(o) => AttrDecode::Ok(AttributeValue::NextHop(Ipv4Addr::from(o))),
            None => malformed(Sub::AttributeLengthError, Withdraw, whole()),
        },
        // RFC 7606 §7.4 / §7.5
        T::MultiExitDisc | T::LocalPref => match four(data) {
            Some(o) => {
                let v = u32::from_be_bytes(o);
                AttrDecode::Ok(if ty == T::LocalPref {
                    AttributeValue::LocalPref(v)
                } else {
                    AttributeValue::MultiExitDisc(v)
                })
            }
            None => malformed(Sub::AttributeLengthError, Withdraw, whole()),
        },
        // RFC 7606 §7.6
        T::AtomicAggregate => {
            if data.is_empty() {
                AttrDecode::Ok(AttributeValue::AtomicAggregate)
            } else {
                malformed(Sub::AttributeLengthError, Discard, whole())
            }
        }
        // RFC 7606 §7.7, RFC 6793 §6 (AS4_AGGREGATOR)
        T::Aggregator | T::As4Aggregator => {
            let wide = ty == T::As4Aggregator || ctx.four_octet_as;
            let mut r = Reader::new(data);
            let parsed = (|| -> Result<(u32, Ipv4Addr), Short> {
                let asn = if wide { r.u32()? } else { r.u16()? as u32 };
                let addr = Ipv4Addr::from(r.array::<4>()?);
                if !r.is_empty() {
                    return Err(Short);
                }
                Ok((asn, addr))
            })();
            match parsed {
                Ok((asn, address)) if ty == T::Aggregator => {
                    AttrDecode::Ok(AttributeValue::Aggregator { asn, address })
                }
                Ok((asn, address)) => {
                    AttrDecode::Ok(AttributeValue::As4Aggregator { asn, address })
                }
                Err(_) => malformed(Sub::AttributeLengthError, Discard, whole()),
            }
        }
        // RFC 7606 §7.8
        T::Communities => {
            if data.is_empty() || data.len() % 4 != 0 {
                return malformed(Sub::OptionalAttributeError, Withdraw, whole());
            }
            AttrDecode::Ok(AttributeValue::Communities(
                data.chunks_exact(4)
                    .map(|c| Community(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            ))
        }
        // RFC 7606 §7.9
        T::OriginatorId => match four(data) {
            Some(o) => AttrDecode::Ok(AttributeValue::OriginatorId(Ipv4Addr::from(o))),
            None => malformed(Sub::AttributeLengthError, Withdraw, whole()),
        },
        // RFC 7606 §7.10
        T::ClusterList => {
            if data.is_empty() || data.len() % 4 != 0 {
                return malformed(Sub::AttributeLengthError, Withdraw, whole());
            }
            AttrDecode::Ok(AttributeValue::ClusterList(
                data.chunks_exact(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                    .collect(),
            ))
        }
        // RFC 7606 §7.11 / §5.3: an MP attribute we cannot parse means we do
        // not know which routes it carries, so only a reset is safe.
        T::MpReachNlri => match decode_mp_reach(data) {
            Ok(m) => AttrDecode::Ok(AttributeValue::MpReachNlri(m)),
            Err(_) => AttrDecode::SessionReset(UpdateError::with_data(
                Sub::OptionalAttributeError,
                whole(),
            )),
        },
        T::MpUnreachNlri => match decode_mp_unreach(data) {
            Ok(m) => AttrDecode::Ok(AttributeValue::MpUnreachNlri(m)),
            Err(_) => AttrDecode::SessionReset(UpdateError::with_data(
                Sub::OptionalAttributeError,
                whole(),
            )),
        },
        // RFC 6793 §6: a malformed AS4_PATH is discarded.
        T::As4Path => match AsPath::decode(data, true) {
            Ok(p) => AttrDecode::Ok(AttributeValue::As4Path(p)),
            Err(_) => malformed(Sub::MalformedAsPath, Discard, vec![]),
        },
        // RFC 8092 §6
        T::LargeCommunities => {
            if data.is_empty() || data.len() % 12 != 0 {
                return malformed(Sub::OptionalAttributeError, Withdraw, whole());
            }
            AttrDecode::Ok(AttributeValue::LargeCommunities(
                data.chunks_exact(12)
                    .map(|c| LargeCommunity {
                        global_admin: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                        local_data1: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                        local_data2: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                    })
                    .collect(),
            ))
        }
        T::ExtendedCommunities | T::Unknown(_) => AttrDecode::Ok(AttributeValue::Unknown {
            type_code,
            data: data.to_vec(),
        }),
    }
}

fn decode_mp_reach(data: &[u8]) -> Result<MpReachNlri, Short> {
    let mut r = Reader::new(data);
    let afi: Afi = r.u16()?.into();
    let safi: Safi = r.u8()?.into();
    let family = Family::new(afi, safi);
    let nh_len = r.u8()? as usize;
    let next_hop = MpNextHop::decode(r.take(nh_len)?);
    let reserved = r.u8()?;
    let nlri = Nlri::decode(family, r.rest())?;
    Ok(MpReachNlri {
        family,
        next_hop,
        reserved,
        nlri,
    })
}

fn decode_mp_unreach(data: &[u8]) -> Result<MpUnreachNlri, Short> {
    let mut r = Reader::new(data);
    let afi: Afi = r.u16()?.into();
    let safi: Safi = r.u8()?.into();
    let family = Family::new(afi, safi);
    let withdrawn = Nlri::decode(family, r.rest())?;
    Ok(MpUnreachNlri { family, withdrawn })
}
