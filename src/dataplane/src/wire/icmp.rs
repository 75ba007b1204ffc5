//! ICMPv4 (RFC 792). Errors (destination unreachable, time exceeded, parameter problem) quote the
//! offending datagram's IP header and at least its first 8 bytes after the 8-byte ICMP header;
//! [`IcmpPacket::quoted`] gives that datagram so NAT can translate it too.
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |     Identifier (echo) / unused / next-hop MTU (errors)        |
//! |     quoted IP header + 8 bytes (errors) / data (echo)         |
//! ```

use super::{be16, put16, Truncated};

pub const HEADER_LEN: usize = 8;

pub mod kind {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
}

/// Codes of destination unreachable (RFC 792, RFC 1191).
pub mod code {
    /// Fragmentation needed and DF set; the next-hop MTU is in bytes 6-7 (RFC 1191 §4).
    pub const FRAG_NEEDED: u8 = 4;
}

pub struct IcmpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(IcmpPacket { buf })
    }

    pub fn msg_type(&self) -> u8 {
        self.buf.as_ref()[0]
    }

    pub fn code(&self) -> u8 {
        self.buf.as_ref()[1]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    /// Identifier of an echo request or reply.
    pub fn echo_ident(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }

    /// Error messages carry a quoted datagram; informational ones do not.
    pub fn is_error(&self) -> bool {
        matches!(
            self.msg_type(),
            kind::DEST_UNREACHABLE | kind::TIME_EXCEEDED | kind::PARAMETER_PROBLEM
        )
    }

    /// The quoted datagram of an error (IP header and what follows), or the echo data.
    pub fn quoted(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buf.as_mut(), 2, v);
    }

    pub fn quoted_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum over the whole message. Used for errors, which are rare and
    /// whose quoted headers change in several places at once.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = !crate::checksum::fold(crate::checksum::sum(self.buf.as_ref()));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            crate::checksum::fold(crate::checksum::sum(p.as_bytes())),
            0xffff
        );
        b[0] = kind::ECHO_REQUEST;
        b[4..6].copy_from_slice(&77u16.to_be_bytes());
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        assert!(!p.is_error());
        assert_eq!(p.echo_ident(), 77);
        assert!(IcmpPacket::new_checked(&b[..7]).is_err());
    }
}
