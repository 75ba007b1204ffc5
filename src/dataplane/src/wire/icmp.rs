//! ICMPv4 (RFC 792). Errors (destination unreachable, time exceeded, parameter problem) quote the
//! offending datagram's IP header and at least its first 8 bytes after the 8-byte ICMP header;
//! [`IcmpPacket::quoted`] gives that datagram so NAT can translate it too.
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |     Identifier (echo)         |   Sequence Number (echo)      |
//! |     unused (errors)           |   Next-Hop MTU (RFC 1191)     |
//! |     quoted IP header + 8 bytes (errors) / data (echo)         |
//! ```

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::checksum;
use super::Truncated;

pub mod field {
    use crate::wire::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// The second word: echo identifier and sequence number, or an error's unused word with
    /// the next-hop MTU of fragmentation needed in its low half.
    pub const REST_OF_HEADER: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const NEXT_HOP_MTU: Field = 6..8;
    /// An error's quoted datagram, or an echo's data.
    pub const DATA: Rest = 8..;
}

pub const HEADER_LEN: usize = field::DATA.start;

/// What an error quotes at least behind the offending datagram's IP header: its first 64 bits
/// (RFC 792), which hold the ports of TCP and UDP and an echo's identifier.
pub const QUOTED_DATA_LEN: usize = 8;

pub mod kind {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
}

/// Codes of destination unreachable (RFC 792, RFC 1191).
pub mod code {
    /// Fragmentation needed and DF set; the next-hop MTU is in the header (RFC 1191 §4).
    pub const FRAG_NEEDED: u8 = 4;
    /// Time to live exceeded in transit (RFC 792), of type time exceeded.
    pub const TTL_EXCEEDED: u8 = 0;
}

#[derive(Debug, Clone, Copy)]
pub struct IcmpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(IcmpPacket { buf })
    }

    /// A view over a buffer the caller has validated (an accessor panics if it is too short).
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        IcmpPacket { buf }
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buf.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buf.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::CHECKSUM])
    }

    /// Identifier of an echo request or reply.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::ECHO_IDENT])
    }

    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::ECHO_SEQNO])
    }

    /// The next-hop MTU of a fragmentation-needed error (RFC 1191 §4).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::NEXT_HOP_MTU])
    }

    /// The second word whole, for messages this module has no names for.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        read_u32(&self.buf.as_ref()[field::REST_OF_HEADER])
    }

    /// Error messages carry a quoted datagram; informational ones do not.
    #[inline]
    pub fn is_error(&self) -> bool {
        matches!(
            self.msg_type(),
            kind::DEST_UNREACHABLE | kind::TIME_EXCEEDED | kind::PARAMETER_PROBLEM
        )
    }

    /// The quoted datagram of an error (IP header and what follows), or the echo data.
    #[inline]
    pub fn quoted(&self) -> &[u8] {
        &self.buf.as_ref()[field::DATA]
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buf.as_ref())) == 0xffff
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }
}

impl<'a> IcmpPacket<&'a [u8]> {
    /// [`IcmpPacket::quoted`], outliving the view.
    pub fn into_quoted(self) -> &'a [u8] {
        &self.buf[field::DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buf.as_mut()[field::TYPE] = v;
    }

    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buf.as_mut()[field::CODE] = v;
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::CHECKSUM], v);
    }

    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::ECHO_IDENT], v);
    }

    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::ECHO_SEQNO], v);
    }

    /// Sets the whole second word (an error's unused bytes with the next-hop MTU).
    #[inline]
    pub fn set_rest_of_header(&mut self, v: u32) {
        write_u32(&mut self.buf.as_mut()[field::REST_OF_HEADER], v);
    }

    /// Sets the echo identifier, updating the checksum (ICMP has no pseudo-header, so only
    /// the identifier's word changes).
    #[inline]
    pub fn set_echo_ident_update_checksum(&mut self, v: u16) {
        let old = self.echo_ident();
        if old != v {
            self.set_echo_ident(v);
            self.set_checksum(checksum::update16(self.checksum(), old, v));
        }
    }

    #[inline]
    pub fn quoted_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[field::DATA]
    }

    /// Recomputes the checksum over the whole message. Used for errors, which are rare and
    /// whose quoted headers change in several places at once.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::finish(checksum::sum(self.buf.as_ref()));
        self.set_checksum(c);
    }
}

/// The header of the messages the data plane reads or sends; anything else is kept whole as
/// `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpRepr {
    EchoRequest {
        ident: u16,
        seq_no: u16,
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
    },
    /// `next_hop_mtu` is that of fragmentation needed (RFC 1191), zero for other codes.
    DestUnreachable {
        code: u8,
        next_hop_mtu: u16,
    },
    TimeExceeded {
        code: u8,
    },
    Other {
        msg_type: u8,
        code: u8,
        rest_of_header: u32,
    },
}

impl IcmpRepr {
    pub fn parse<T: AsRef<[u8]>>(m: &IcmpPacket<T>) -> IcmpRepr {
        match m.msg_type() {
            kind::ECHO_REQUEST => IcmpRepr::EchoRequest {
                ident: m.echo_ident(),
                seq_no: m.echo_seq_no(),
            },
            kind::ECHO_REPLY => IcmpRepr::EchoReply {
                ident: m.echo_ident(),
                seq_no: m.echo_seq_no(),
            },
            kind::DEST_UNREACHABLE => IcmpRepr::DestUnreachable {
                code: m.code(),
                next_hop_mtu: m.next_hop_mtu(),
            },
            kind::TIME_EXCEEDED => IcmpRepr::TimeExceeded { code: m.code() },
            msg_type => IcmpRepr::Other {
                msg_type,
                code: m.code(),
                rest_of_header: m.rest_of_header(),
            },
        }
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header at the start of `buf` with a zero checksum: fill it in with
    /// [`IcmpPacket::fill_checksum`] once the data is behind it.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut m = IcmpPacket::new_unchecked(&mut buf[..HEADER_LEN]);
        let (msg_type, code, rest) = match *self {
            IcmpRepr::EchoRequest { ident, seq_no } => (
                kind::ECHO_REQUEST,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
            ),
            IcmpRepr::EchoReply { ident, seq_no } => (
                kind::ECHO_REPLY,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
            ),
            IcmpRepr::DestUnreachable { code, next_hop_mtu } => {
                (kind::DEST_UNREACHABLE, code, u32::from(next_hop_mtu))
            }
            IcmpRepr::TimeExceeded { code } => (kind::TIME_EXCEEDED, code, 0),
            IcmpRepr::Other {
                msg_type,
                code,
                rest_of_header,
            } => (msg_type, code, rest_of_header),
        };
        m.set_msg_type(msg_type);
        m.set_code(code);
        m.set_checksum(0);
        m.set_rest_of_header(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn error_and_echo() {
        let mut b = [0u8; 36];
        b[0] = kind::DEST_UNREACHABLE;
        b[1] = 3;
        b[8] = 0x45;
        let mut p = IcmpPacket::new_checked(&mut b[..]).unwrap();
        assert!(p.is_error());
        assert_eq!(p.code(), 3);
        assert_eq!(p.quoted()[0], 0x45);
        p.fill_checksum();
        assert!(p.verify_checksum());
        b[0] = kind::ECHO_REQUEST;
        b[4..6].copy_from_slice(&77u16.to_be_bytes());
        let mut p = IcmpPacket::new_checked(&mut b[..]).unwrap();
        assert!(!p.is_error());
        assert_eq!(p.echo_ident(), 77);
        p.fill_checksum();
        p.set_echo_ident_update_checksum(1077);
        assert_eq!(p.echo_ident(), 1077);
        assert!(p.verify_checksum());
        assert!(IcmpPacket::new_checked(&b[..7]).is_err());
    }

    fn repr() -> impl Strategy<Value = IcmpRepr> {
        prop_oneof![
            (any::<u16>(), any::<u16>())
                .prop_map(|(ident, seq_no)| IcmpRepr::EchoRequest { ident, seq_no }),
            (any::<u16>(), any::<u16>())
                .prop_map(|(ident, seq_no)| IcmpRepr::EchoReply { ident, seq_no }),
            (any::<u8>(), any::<u16>()).prop_map(|(code, next_hop_mtu)| {
                IcmpRepr::DestUnreachable { code, next_hop_mtu }
            }),
            any::<u8>().prop_map(|code| IcmpRepr::TimeExceeded { code }),
            (any::<u8>(), any::<u8>(), any::<u32>())
                .prop_filter("a type with a name", |(t, _, _)| {
                    ![0, 3, 8, 11].contains(t)
                })
                .prop_map(|(msg_type, code, rest_of_header)| IcmpRepr::Other {
                    msg_type,
                    code,
                    rest_of_header,
                }),
        ]
    }

    proptest! {
        #[test]
        fn emit_then_parse(r in repr(), data in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut b);
            b.extend_from_slice(&data);
            let mut m = IcmpPacket::new_checked(&mut b[..]).unwrap();
            m.fill_checksum();
            prop_assert!(m.verify_checksum());
            prop_assert_eq!(IcmpRepr::parse(&m), r);
            prop_assert_eq!(m.quoted(), &data[..]);
        }
    }
}
