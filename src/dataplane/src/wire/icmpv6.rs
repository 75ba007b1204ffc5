//! ICMPv6 (RFC 4443). Unlike ICMPv4 its checksum covers the IPv6 pseudo-header (RFC 4443 §2.3),
//! so a NAT that changes an address updates it as it would a TCP or UDP checksum. Errors (types
//! below 128) quote as much of the offending packet as fits in the minimum MTU of 1280 bytes.
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |     Identifier (echo)         |   Sequence Number (echo)      |
//! |     MTU (packet too big) / Pointer (parameter problem)        |
//! |     quoted packet (errors) / data (echo)                      |
//! ```

use std::net::Ipv6Addr;

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::checksum;
use super::ip::Address;
use super::Truncated;

pub mod field {
    use crate::wire::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    /// Packet Too Big's MTU, Parameter Problem's pointer, unused in other errors.
    pub const MTU: Field = 4..8;
    pub const POINTER: Field = 4..8;
    pub const DATA: Rest = 8..;
}

pub const HEADER_LEN: usize = field::DATA.start;

pub mod kind {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAMETER_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
}

#[derive(Debug, Clone, Copy)]
pub struct Icmpv6Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Icmpv6Packet { buf })
    }

    /// A view over a buffer the caller has validated (an accessor panics if it is too short).
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        Icmpv6Packet { buf }
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

    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::ECHO_IDENT])
    }

    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::ECHO_SEQNO])
    }

    /// The MTU of a Packet Too Big message (RFC 4443 §3.2).
    #[inline]
    pub fn mtu(&self) -> u32 {
        read_u32(&self.buf.as_ref()[field::MTU])
    }

    /// The pointer of a Parameter Problem message (RFC 4443 §3.4).
    #[inline]
    pub fn pointer(&self) -> u32 {
        read_u32(&self.buf.as_ref()[field::POINTER])
    }

    /// Error messages have the high bit of the type clear (RFC 4443 §2.1).
    #[inline]
    pub fn is_error(&self) -> bool {
        self.msg_type() < 128
    }

    /// The quoted packet of an error, or the echo data.
    #[inline]
    pub fn quoted(&self) -> &[u8] {
        &self.buf.as_ref()[field::DATA]
    }

    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let b = self.buf.as_ref();
        checksum::fold(
            Ipv6Addr::pseudo_header(src, dst, super::proto::ICMPV6, b.len()) + checksum::sum(b),
        ) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
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

    #[inline]
    pub fn set_mtu(&mut self, v: u32) {
        write_u32(&mut self.buf.as_mut()[field::MTU], v);
    }

    #[inline]
    pub fn set_pointer(&mut self, v: u32) {
        write_u32(&mut self.buf.as_mut()[field::POINTER], v);
    }

    /// Sets the echo identifier, updating the checksum.
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

    /// Computes the checksum over the pseudo-header of `src` and `dst` and the whole message.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let b = self.buf.as_ref();
        let c = Ipv6Addr::pseudo_header(src, dst, super::proto::ICMPV6, b.len()) + checksum::sum(b);
        self.set_checksum(checksum::finish(c));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr {
    DestUnreachable {
        code: u8,
    },
    PacketTooBig {
        mtu: u32,
    },
    TimeExceeded {
        code: u8,
    },
    ParamProblem {
        code: u8,
        pointer: u32,
    },
    EchoRequest {
        ident: u16,
        seq_no: u16,
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
    },
    /// Anything else (neighbour discovery, MLD…) with its second word whole.
    Other {
        msg_type: u8,
        code: u8,
        rest_of_header: u32,
    },
}

impl Icmpv6Repr {
    pub fn parse<T: AsRef<[u8]>>(m: &Icmpv6Packet<T>) -> Icmpv6Repr {
        let echo = || (m.echo_ident(), m.echo_seq_no());
        match m.msg_type() {
            kind::DEST_UNREACHABLE => Icmpv6Repr::DestUnreachable { code: m.code() },
            kind::PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig { mtu: m.mtu() },
            kind::TIME_EXCEEDED => Icmpv6Repr::TimeExceeded { code: m.code() },
            kind::PARAMETER_PROBLEM => Icmpv6Repr::ParamProblem {
                code: m.code(),
                pointer: m.pointer(),
            },
            kind::ECHO_REQUEST => {
                let (ident, seq_no) = echo();
                Icmpv6Repr::EchoRequest { ident, seq_no }
            }
            kind::ECHO_REPLY => {
                let (ident, seq_no) = echo();
                Icmpv6Repr::EchoReply { ident, seq_no }
            }
            msg_type => Icmpv6Repr::Other {
                msg_type,
                code: m.code(),
                rest_of_header: m.pointer(),
            },
        }
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header at the start of `buf` with a zero checksum: fill it in with
    /// [`Icmpv6Packet::fill_checksum`] once the data is behind it.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut m = Icmpv6Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        let echo = |ident: u16, seq_no: u16| u32::from(ident) << 16 | u32::from(seq_no);
        let (msg_type, code, rest) = match *self {
            Icmpv6Repr::DestUnreachable { code } => (kind::DEST_UNREACHABLE, code, 0),
            Icmpv6Repr::PacketTooBig { mtu } => (kind::PACKET_TOO_BIG, 0, mtu),
            Icmpv6Repr::TimeExceeded { code } => (kind::TIME_EXCEEDED, code, 0),
            Icmpv6Repr::ParamProblem { code, pointer } => (kind::PARAMETER_PROBLEM, code, pointer),
            Icmpv6Repr::EchoRequest { ident, seq_no } => {
                (kind::ECHO_REQUEST, 0, echo(ident, seq_no))
            }
            Icmpv6Repr::EchoReply { ident, seq_no } => (kind::ECHO_REPLY, 0, echo(ident, seq_no)),
            Icmpv6Repr::Other {
                msg_type,
                code,
                rest_of_header,
            } => (msg_type, code, rest_of_header),
        };
        m.set_msg_type(msg_type);
        m.set_code(code);
        m.set_checksum(0);
        m.set_pointer(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn repr() -> impl Strategy<Value = Icmpv6Repr> {
        prop_oneof![
            any::<u8>().prop_map(|code| Icmpv6Repr::DestUnreachable { code }),
            any::<u32>().prop_map(|mtu| Icmpv6Repr::PacketTooBig { mtu }),
            any::<u8>().prop_map(|code| Icmpv6Repr::TimeExceeded { code }),
            (any::<u8>(), any::<u32>())
                .prop_map(|(code, pointer)| Icmpv6Repr::ParamProblem { code, pointer }),
            (any::<u16>(), any::<u16>())
                .prop_map(|(ident, seq_no)| Icmpv6Repr::EchoRequest { ident, seq_no }),
            (any::<u16>(), any::<u16>())
                .prop_map(|(ident, seq_no)| Icmpv6Repr::EchoReply { ident, seq_no }),
            (5u8..128, any::<u8>(), any::<u32>()).prop_map(|(msg_type, code, rest_of_header)| {
                Icmpv6Repr::Other {
                    msg_type,
                    code,
                    rest_of_header,
                }
            }),
            (130u8.., any::<u8>(), any::<u32>()).prop_map(|(msg_type, code, rest_of_header)| {
                Icmpv6Repr::Other {
                    msg_type,
                    code,
                    rest_of_header,
                }
            }),
        ]
    }

    #[test]
    fn echo_and_error() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut b = [0u8; 16];
        Icmpv6Repr::EchoRequest {
            ident: 7,
            seq_no: 1,
        }
        .emit(&mut b);
        let mut m = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        assert!(!m.is_error());
        m.fill_checksum(src, dst);
        assert!(m.verify_checksum(src, dst));
        assert!(!m.verify_checksum(dst, dst), "the pseudo-header counts");
        m.set_echo_ident_update_checksum(4000);
        assert!(m.verify_checksum(src, dst));
        assert_eq!(m.echo_ident(), 4000);
        Icmpv6Repr::PacketTooBig { mtu: 1280 }.emit(&mut b);
        let m = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(m.is_error());
        assert_eq!(m.mtu(), 1280);
        assert!(Icmpv6Packet::new_checked(&b[..7]).is_err());
    }

    proptest! {
        #[test]
        fn emit_then_parse(r in repr(), data in proptest::collection::vec(any::<u8>(), 0..16),
                           src in any::<u128>(), dst in any::<u128>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut b);
            b.extend_from_slice(&data);
            let mut m = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
            m.fill_checksum(src, dst);
            prop_assert!(m.verify_checksum(src, dst));
            prop_assert_eq!(Icmpv6Repr::parse(&m), r);
            prop_assert_eq!(m.quoted(), &data[..]);
        }
    }
}
