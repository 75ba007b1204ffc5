//! GRE (RFC 2784) with the key extension of RFC 2890, as remote site gateways send it.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C|R|K|S|s|Recur|  Reserved0    | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Checksum (optional)      |       Reserved1 (Optional)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Key (optional)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Sequence Number (Optional)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! What we accept: version 0, the K bit, protocol type IPv4. What we refuse (each with its own
//! error, so the pipeline counts it per tunnel):
//! - C (checksum): a tunnel over a network that corrupts packets is better fixed than papered
//!   over, and verifying would cost a pass over every packet;
//! - S (sequence numbers, RFC 2890 §2.2): they ask for in-order delivery, which a per-core data
//!   plane cannot give without a reorder buffer, and RFC 2890 lets a receiver without one
//!   refuse them;
//! - R and s (RFC 1701 routing): RFC 2784 §2.3 says a receiver that does not implement RFC 1701
//!   MUST discard packets with bits 1 to 5 set;
//! - a version other than 0 (RFC 2784 §2.3.1: MUST discard).
//!
//! Reserved0 bits 6 to 12 are ignored on receipt, as RFC 2784 §2.3 asks.

use super::bytes::{read_u16, read_u32, write_u16, write_u32};

pub mod field {
    use crate::wire::Field;

    /// The C, R, K, S, s bits, Recur, Reserved0 and Ver.
    pub const FLAGS: Field = 0..2;
    pub const PROTOCOL: Field = 2..4;
    /// The RFC 2890 key, when K is set (C is refused, so it always follows the base header).
    pub const KEY: Field = 4..8;
}

/// Base header: flags and version, protocol type.
pub const BASE_LEN: usize = field::PROTOCOL.end;
/// The RFC 2890 key.
pub const KEY_LEN: usize = field::KEY.end - field::KEY.start;

/// Protocol type of an IPv4 payload (an EtherType, RFC 2784 §2.4).
pub const PROTO_IPV4: u16 = 0x0800;
/// IPv6 in GRE (RFC 7676 §3: the EtherType).
pub const PROTO_IPV6: u16 = 0x86DD;

/// Bits of the flags and version word.
pub mod bits {
    pub const C: u16 = 0x8000;
    pub const R: u16 = 0x4000;
    pub const K: u16 = 0x2000;
    pub const S: u16 = 0x1000;
    pub const STRICT: u16 = 0x0800;
    pub const VERSION: u16 = 0x0007;
}

/// Why a GRE header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GreError {
    /// Shorter than the header its flags announce.
    Truncated,
    /// Version other than 0.
    Version(u8),
    /// The checksum bit: not supported.
    Checksum,
    /// Sequence numbers: not supported.
    Sequence,
    /// RFC 1701 routing or strict source route bits.
    Routing,
}

/// A view of a GRE header and its payload.
#[derive(Debug, Clone, Copy)]
pub struct GrePacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> GrePacket<T> {
    /// Checks the flags we refuse and the length the flags announce.
    pub fn new_checked(buf: T) -> Result<Self, GreError> {
        if buf.as_ref().len() < BASE_LEN {
            return Err(GreError::Truncated);
        }
        let p = GrePacket { buf };
        let f = p.flags();
        if f & bits::VERSION != 0 {
            return Err(GreError::Version((f & bits::VERSION) as u8));
        }
        if f & (bits::R | bits::STRICT) != 0 {
            return Err(GreError::Routing);
        }
        if f & bits::C != 0 {
            return Err(GreError::Checksum);
        }
        if f & bits::S != 0 {
            return Err(GreError::Sequence);
        }
        if p.buf.as_ref().len() < p.header_len() {
            return Err(GreError::Truncated);
        }
        Ok(p)
    }

    /// A view over a buffer the caller has validated (an accessor panics if it is too short).
    pub fn new_unchecked(buf: T) -> Self {
        GrePacket { buf }
    }

    /// The flags and version word whole.
    pub fn flags(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::FLAGS])
    }

    pub fn has_key(&self) -> bool {
        self.flags() & bits::K != 0
    }

    pub fn header_len(&self) -> usize {
        BASE_LEN + if self.has_key() { KEY_LEN } else { 0 }
    }

    pub fn protocol(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::PROTOCOL])
    }

    /// The RFC 2890 key, when the K bit is set.
    pub fn key(&self) -> Option<u32> {
        self.has_key()
            .then(|| read_u32(&self.buf.as_ref()[field::KEY]))
    }

    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GrePacket<T> {
    /// Version 0 with no flag but K, as the key says; the key itself when there is one.
    pub fn set_key(&mut self, key: Option<u32>) {
        let f = if key.is_some() { bits::K } else { 0 };
        write_u16(&mut self.buf.as_mut()[field::FLAGS], f);
        if let Some(k) = key {
            write_u32(&mut self.buf.as_mut()[field::KEY], k);
        }
    }

    /// Sets the flags and version word whole (the key, if K is set, is not touched).
    pub fn set_flags(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::FLAGS], v);
    }

    pub fn set_protocol(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::PROTOCOL], v);
    }
}

/// The fields of a header we emit: only the key is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreRepr {
    pub key: Option<u32>,
    pub protocol: u16,
}

impl GreRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &GrePacket<T>) -> GreRepr {
        GreRepr {
            key: p.key(),
            protocol: p.protocol(),
        }
    }

    pub fn buffer_len(&self) -> usize {
        BASE_LEN + if self.key.is_some() { KEY_LEN } else { 0 }
    }

    /// Writes the header at the start of `buf`, which must be at least `buffer_len()` long.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = GrePacket::new_unchecked(&mut buf[..self.buffer_len()]);
        p.set_key(self.key);
        p.set_protocol(self.protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A keyed GRE header as Linux's `ip_gre` emits it (`key 7`), then the first byte of an
    /// IPv4 payload.
    const KEYED: [u8; 9] = [0x20, 0x00, 0x08, 0x00, 0, 0, 0, 7, 0x45];

    #[test]
    fn test_deconstruct() {
        let p = GrePacket::new_checked(&KEYED[..]).unwrap();
        assert_eq!(p.key(), Some(7));
        assert_eq!(p.protocol(), PROTO_IPV4);
        assert_eq!(p.header_len(), 8);
        assert_eq!(p.payload(), &[0x45]);
        let plain = [0u8, 0, 0x08, 0x00, 0x45];
        let p = GrePacket::new_checked(&plain[..]).unwrap();
        assert_eq!((p.key(), p.header_len()), (None, 4));
    }

    #[test]
    fn test_construct() {
        let mut b = [0xffu8; 8];
        GreRepr {
            key: Some(7),
            protocol: PROTO_IPV4,
        }
        .emit(&mut b);
        assert_eq!(b, KEYED[..8]);
    }

    #[test]
    fn refused_flags() {
        let with = |f: u16| {
            let mut b = KEYED;
            b[0..2].copy_from_slice(&(f | bits::K).to_be_bytes());
            GrePacket::new_checked(b).err()
        };
        assert_eq!(with(bits::C), Some(GreError::Checksum));
        assert_eq!(with(bits::S), Some(GreError::Sequence));
        assert_eq!(with(bits::R), Some(GreError::Routing));
        assert_eq!(with(bits::STRICT), Some(GreError::Routing));
        assert_eq!(with(1), Some(GreError::Version(1)));
        // Reserved0 bits 6-12 are ignored (RFC 2784 §2.3).
        assert_eq!(with(0x0040), None);
    }

    proptest! {
        #[test]
        fn emit_then_parse(key in proptest::option::of(any::<u32>()), protocol in any::<u16>()) {
            let r = GreRepr { key, protocol };
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut b);
            let p = GrePacket::new_checked(&b[..]).unwrap();
            prop_assert_eq!(GreRepr::parse(&p), r);
            for len in 0..r.buffer_len() {
                prop_assert_eq!(GrePacket::new_checked(&b[..len]).err(), Some(GreError::Truncated));
            }
        }

        /// Any bytes: a typed result, never a panic.
        #[test]
        fn arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(p) = GrePacket::new_checked(&b[..]) {
                prop_assert!(p.header_len() <= b.len());
                let _ = (p.key(), p.payload().len());
            }
        }
    }
}
