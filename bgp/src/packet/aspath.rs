//! AS_PATH and AS4_PATH (RFC 4271 §4.3 type 2, RFC 6793 §3).
//!
//! ```text
//! AS path segment:  <segment type (1), segment length in ASes (1), ASes>
//! ```
//!
//! Each AS is 2 octets on a session without the 4-octet AS capability and 4
//! octets with it; AS4_PATH always uses 4 octets.

use super::open::AS_TRANS;
use super::wire::{wire_enum, Reader, Short};

wire_enum! {
    /// RFC 4271 §4.3 and RFC 5065 segment types.
    pub enum SegmentType(u8) {
        AsSet = 1,
        AsSequence = 2,
        ConfedSequence = 3,
        ConfedSet = 4,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AsSegment {
    pub kind: SegmentType,
    /// 1..=255 AS numbers (a segment length of zero is malformed, RFC 7606 §7.2).
    pub asns: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// An empty path (what an iBGP originator sends).
    pub fn empty() -> Self {
        AsPath::default()
    }

    /// A single AS_SEQUENCE.
    pub fn sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let mut p = AsPath::empty();
        let asns: Vec<u32> = asns.into_iter().collect();
        for asn in asns.into_iter().rev() {
            p.prepend(asn, 1);
        }
        p
    }

    /// Prepends `asn` `count` times (RFC 4271 §5.1.2): into the leading
    /// AS_SEQUENCE while it has room for 255 entries, else in new segments.
    pub fn prepend(&mut self, asn: u32, count: usize) {
        for _ in 0..count {
            match self.segments.first_mut() {
                Some(seg) if seg.kind == SegmentType::AsSequence && seg.asns.len() < 255 => {
                    seg.asns.insert(0, asn)
                }
                _ => self.segments.insert(
                    0,
                    AsSegment {
                        kind: SegmentType::AsSequence,
                        asns: vec![asn],
                    },
                ),
            }
        }
    }

    /// RFC 4271 §9.1.2.2 path length: an AS_SET counts as one, confederation
    /// segments count as zero.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::AsSequence => s.asns.len(),
                SegmentType::AsSet => 1,
                _ => 0,
            })
            .sum()
    }

    /// True when some AS does not fit in 2 octets, so a 2-octet peer also
    /// needs AS4_PATH (RFC 6793 §4.2.2).
    pub fn needs_as4(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.asns.iter().any(|&a| a > u16::MAX as u32))
    }

    /// The leftmost AS (the neighbour that sent the path).
    pub fn first_as(&self) -> Option<u32> {
        self.segments
            .first()
            .filter(|s| s.kind == SegmentType::AsSequence)
            .and_then(|s| s.asns.first().copied())
    }

    /// Encodes the segments. With `four_octet` false, ASes above 65535 become
    /// AS_TRANS (RFC 6793 §4.2.2). Segments longer than 255 are split.
    pub fn encode(&self, four_octet: bool, out: &mut Vec<u8>) {
        for seg in &self.segments {
            for chunk in seg.asns.chunks(255) {
                out.push(seg.kind.into());
                out.push(chunk.len() as u8);
                for &asn in chunk {
                    if four_octet {
                        out.extend_from_slice(&asn.to_be_bytes());
                    } else {
                        let a = u16::try_from(asn).unwrap_or(AS_TRANS);
                        out.extend_from_slice(&a.to_be_bytes());
                    }
                }
            }
        }
    }

    /// Decodes; `Err` means Malformed AS_PATH (RFC 7606 §7.2): unknown
    /// segment type, zero-length segment, or a segment overrunning the
    /// attribute.
    pub(crate) fn decode(buf: &[u8], four_octet: bool) -> Result<Self, Short> {
        let mut r = Reader::new(buf);
        let mut segments = Vec::new();
        while !r.is_empty() {
            let kind = SegmentType::from(r.u8()?);
            if let SegmentType::Unknown(_) = kind {
                return Err(Short);
            }
            let n = r.u8()? as usize;
            if n == 0 {
                return Err(Short);
            }
            let mut asns = Vec::with_capacity(n);
            for _ in 0..n {
                asns.push(if four_octet {
                    r.u32()?
                } else {
                    r.u16()? as u32
                });
            }
            segments.push(AsSegment { kind, asns });
        }
        Ok(AsPath { segments })
    }
}

impl std::fmt::Display for AsPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for seg in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let list: Vec<String> = seg.asns.iter().map(|a| a.to_string()).collect();
            match seg.kind {
                SegmentType::AsSequence => write!(f, "{}", list.join(" "))?,
                SegmentType::AsSet => write!(f, "{{{}}}", list.join(","))?,
                _ => write!(f, "({})", list.join(" "))?,
            }
        }
        Ok(())
    }
}
