//! UPDATE message (RFC 4271 §4.3), End-of-RIB (RFC 4724 §2) and the
//! message-level part of RFC 7606 error handling.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use std::collections::HashSet;

use super::attributes::{
    decode_value, AttrContext, AttrDecode, AttributeType, AttributeValue, MpUnreachNlri, Nlri,
    PathAttribute, Rfc7606Action,
};
use super::family::{Afi, Family};
use super::notification::UpdateMessageSubcode as Sub;
use super::prefix::Prefix;
use super::wire::Reader;
use crate::error::{DecodeError, EncodeError, UpdateError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UpdateMessage {
    /// IPv4 unicast prefixes withdrawn.
    pub withdrawn: Vec<Prefix>,
    pub attributes: Vec<PathAttribute>,
    /// RFC 7606 §4: octets left in the attribute field that do not frame
    /// as an attribute. Non-empty means treat-as-withdraw; kept verbatim.
    pub attribute_tail: Vec<u8>,
    /// IPv4 unicast prefixes announced.
    pub nlri: Vec<Prefix>,
}

/// RFC 7606 verdict for a decoded UPDATE that did not reset the session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rfc7606Verdict {
    /// Set when every route the UPDATE announces must be handled as
    /// withdrawn; carries the first error found.
    pub treat_as_withdraw: Option<UpdateError>,
    /// Indexes into `attributes` that must be ignored (malformed
    /// discardable attributes, duplicates, LOCAL_PREF from an eBGP peer).
    pub discarded: Vec<usize>,
}

impl UpdateMessage {
    /// The End-of-RIB marker for a family (RFC 4724 §2): an empty UPDATE for
    /// IPv4 unicast, an UPDATE holding only an empty MP_UNREACH_NLRI
    /// otherwise.
    pub fn end_of_rib(family: Family) -> Self {
        if family == Family::IPV4_UNICAST {
            return UpdateMessage::default();
        }
        UpdateMessage {
            attributes: vec![PathAttribute::new(AttributeValue::MpUnreachNlri(
                MpUnreachNlri {
                    family,
                    withdrawn: Nlri::Prefixes(vec![]),
                },
            ))],
            ..Default::default()
        }
    }

    /// If this UPDATE is an End-of-RIB marker, its family.
    pub fn as_end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() || !self.attribute_tail.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(Family::IPV4_UNICAST),
            [PathAttribute {
                value: AttributeValue::MpUnreachNlri(m),
                ..
            }] if m.withdrawn.is_empty() => Some(m.family),
            _ => None,
        }
    }

    pub fn attribute(&self, t: AttributeType) -> Option<&AttributeValue> {
        let code: u8 = t.into();
        self.attributes
            .iter()
            .find(|a| a.type_code() == code)
            .map(|a| &a.value)
    }

    /// All prefixes announced, IPv4 NLRI and MP_REACH_NLRI.
    pub fn announced(&self) -> Vec<Prefix> {
        let mut v = self.nlri.clone();
        if let Some(AttributeValue::MpReachNlri(m)) = self.attribute(AttributeType::MpReachNlri) {
            v.extend_from_slice(m.nlri.prefixes());
        }
        v
    }

    /// All prefixes withdrawn, IPv4 field and MP_UNREACH_NLRI.
    pub fn withdrawn_all(&self) -> Vec<Prefix> {
        let mut v = self.withdrawn.clone();
        if let Some(AttributeValue::MpUnreachNlri(m)) = self.attribute(AttributeType::MpUnreachNlri)
        {
            v.extend_from_slice(m.withdrawn.prefixes());
        }
        v
    }

    /// Applies RFC 7606 §3 message-level rules on top of the per-attribute
    /// ones recorded during decoding. `ebgp` selects §7.5 (LOCAL_PREF from an
    /// external peer is discarded).
    pub fn rfc7606_verdict(&self, ebgp: bool) -> Rfc7606Verdict {
        let mut v = Rfc7606Verdict::default();
        let mut seen = HashSet::new();
        for (i, a) in self.attributes.iter().enumerate() {
            if !seen.insert(a.type_code()) {
                // §3 g: later duplicates are discarded.
                v.discarded.push(i);
                continue;
            }
            match &a.value {
                AttributeValue::Malformed { error, action, .. } => match action {
                    Rfc7606Action::TreatAsWithdraw => {
                        v.treat_as_withdraw.get_or_insert_with(|| error.clone());
                    }
                    Rfc7606Action::AttributeDiscard => v.discarded.push(i),
                },
                AttributeValue::LocalPref(_) if ebgp => v.discarded.push(i),
                _ => {}
            }
        }
        if !self.attribute_tail.is_empty() {
            v.treat_as_withdraw
                .get_or_insert_with(|| UpdateError::new(Sub::MalformedAttributeList));
        }
        // §3 d: missing well-known mandatory attributes. NEXT_HOP is only
        // mandatory with IPv4 NLRI (RFC 4760 §3).
        let has_mp_reach = seen.contains(&AttributeType::MpReachNlri.into());
        if !self.nlri.is_empty() || has_mp_reach {
            let mut required = vec![AttributeType::Origin, AttributeType::AsPath];
            if !self.nlri.is_empty() {
                required.push(AttributeType::NextHop);
            }
            for t in required {
                let code: u8 = t.into();
                if !seen.contains(&code) {
                    v.treat_as_withdraw.get_or_insert_with(|| {
                        UpdateError::with_data(Sub::MissingWellKnownAttribute, vec![code])
                    });
                }
            }
        }
        v
    }

    pub(crate) fn decode_body(body: &[u8], ctx: AttrContext) -> Result<Self, DecodeError> {
        let list_err = || DecodeError::Update(UpdateError::new(Sub::MalformedAttributeList));
        let mut r = Reader::new(body);
        // RFC 4271 §6.3: lengths that do not add up are a Malformed
        // Attribute List; RFC 7606 §4 keeps that as a session reset because
        // the NLRI cannot be located.
        let wlen = r.u16().map_err(|_| list_err())? as usize;
        let wbuf = r.take(wlen).map_err(|_| list_err())?;
        let alen = r.u16().map_err(|_| list_err())? as usize;
        let abuf = r.take(alen).map_err(|_| list_err())?;
        let nbuf = r.rest();

        let invalid_net = || DecodeError::Update(UpdateError::new(Sub::InvalidNetworkField));
        let withdrawn = Prefix::decode_all(wbuf, Afi::Ipv4).map_err(|_| invalid_net())?;
        let nlri = Prefix::decode_all(nbuf, Afi::Ipv4).map_err(|_| invalid_net())?;

        let mut attributes = Vec::new();
        let mut attribute_tail = Vec::new();
        let mut ar = Reader::new(abuf);
        let mut mp_seen = [false; 2];
        while !ar.is_empty() {
            let start = abuf.len() - ar.remaining();
            let header = (|| {
                let f = ar.u8()?;
                let t = ar.u8()?;
                let len = if f & super::attributes::flags::EXTENDED_LENGTH != 0 {
                    ar.u16()? as usize
                } else {
                    ar.u8()? as usize
                };
                let data = ar.take(len)?;
                Ok::<_, super::wire::Short>((f, t, data))
            })();
            let Ok((f, t, data)) = header else {
                // RFC 7606 §4: the last attribute overruns the field, or too
                // few octets remain for a header: treat-as-withdraw.
                attribute_tail = abuf[start..].to_vec();
                break;
            };
            // RFC 7606 §3 g: a repeated MP_REACH/MP_UNREACH is a reset.
            let mp_index = match AttributeType::from(t) {
                AttributeType::MpReachNlri => Some(0),
                AttributeType::MpUnreachNlri => Some(1),
                _ => None,
            };
            if let Some(i) = mp_index {
                if std::mem::replace(&mut mp_seen[i], true) {
                    return Err(list_err());
                }
            }
            match decode_value(f, t, data, ctx) {
                AttrDecode::Ok(value) => attributes.push(PathAttribute { flags: f, value }),
                AttrDecode::SessionReset(e) => return Err(DecodeError::Update(e)),
            }
        }
        Ok(UpdateMessage {
            withdrawn,
            attributes,
            attribute_tail,
            nlri,
        })
    }

    pub(crate) fn encode_body(
        &self,
        ctx: AttrContext,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let mut w = Vec::new();
        self.withdrawn.iter().for_each(|p| p.encode(&mut w));
        let wlen =
            u16::try_from(w.len()).map_err(|_| EncodeError::FieldTooLong("withdrawn routes"))?;
        out.extend_from_slice(&wlen.to_be_bytes());
        out.extend_from_slice(&w);
        let mut a = Vec::new();
        for attr in &self.attributes {
            attr.encode(ctx, &mut a)?;
        }
        a.extend_from_slice(&self.attribute_tail);
        let alen =
            u16::try_from(a.len()).map_err(|_| EncodeError::FieldTooLong("path attributes"))?;
        out.extend_from_slice(&alen.to_be_bytes());
        out.extend_from_slice(&a);
        self.nlri.iter().for_each(|p| p.encode(out));
        Ok(())
    }
}
