//! TCP header (RFC 9293), the fields NAT, conntrack and MSS clamping need.
//!
//! ```text
//! |          Source Port          |       Destination Port        |
//! |                        Sequence Number                        |
//! |                    Acknowledgment Number                      |
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |           Checksum            |         Urgent Pointer        |
//! |                    Options (Data Offset > 5)                  |
//! ```

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::checksum;
use super::ip::Address;
use super::Truncated;

pub mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data Offset in 32-bit words (high nibble).
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
    pub const OPTIONS_START: usize = URGENT.end;
}

pub const MIN_HEADER_LEN: usize = field::OPTIONS_START;

/// The part of a segment every ICMP error quotes (RFC 792: 8 bytes): both ports and the
/// sequence number, not the checksum.
pub const QUOTED_LEN: usize = field::SEQ_NUM.end;

pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// Option kinds (RFC 9293 §3.1) and the MSS option's layout (kind, length 4, value).
pub mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const MSS_LEN: usize = 4;
}

#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    /// Checks that the header, options included, is in the buffer.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        if buf.as_ref().len() < MIN_HEADER_LEN {
            return Err(Truncated);
        }
        let t = TcpSegment { buf };
        let hl = t.header_len();
        if hl < MIN_HEADER_LEN || hl > t.buf.as_ref().len() {
            return Err(Truncated);
        }
        Ok(t)
    }

    /// The start of a segment quoted by an ICMP error: the ports are there, the rest may not
    /// be (see [`TcpSegment::has_checksum`]).
    #[inline]
    pub fn new_quoted(buf: T) -> Result<Self, Truncated> {
        if buf.as_ref().len() < QUOTED_LEN {
            return Err(Truncated);
        }
        Ok(TcpSegment { buf })
    }

    /// A view over a buffer the caller has validated (an accessor panics if it is too short).
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        TcpSegment { buf }
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::SRC_PORT])
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::DST_PORT])
    }

    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(&self.buf.as_ref()[field::SEQ_NUM])
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(&self.buf.as_ref()[field::ACK_NUM])
    }

    /// Data Offset in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    #[inline]
    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[field::FLAGS]
    }

    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::WIN_SIZE])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::CHECKSUM])
    }

    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::URGENT])
    }

    /// A quote may stop before the checksum: only 8 bytes are guaranteed.
    #[inline]
    pub fn has_checksum(&self) -> bool {
        self.buf.as_ref().len() >= field::CHECKSUM.end
    }

    pub fn options(&self) -> &[u8] {
        &self.buf.as_ref()[field::OPTIONS_START..self.header_len()]
    }

    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }

    /// Where the value of the MSS option lies in the segment, walking the option list. `None`
    /// without one, or when the list is malformed before it (such a segment is the endpoints'
    /// business: it is forwarded as it came).
    fn mss_at(&self) -> Option<usize> {
        let b = self.buf.as_ref();
        let hl = self.header_len().min(b.len());
        let mut i = field::OPTIONS_START;
        while i < hl {
            match b[i] {
                option::END => return None,
                option::NOP => i += 1,
                kind => {
                    let len = usize::from(*b.get(i + 1)?);
                    if len < 2 || i + len > hl {
                        return None;
                    }
                    if kind == option::MSS && len == option::MSS_LEN {
                        return Some(i + 2);
                    }
                    i += len;
                }
            }
        }
        None
    }

    /// The MSS option's value (RFC 9293 §3.7.1), if the segment has one.
    pub fn mss(&self) -> Option<u16> {
        self.mss_at().map(|at| read_u16(&self.buf.as_ref()[at..]))
    }

    /// Verifies the checksum over the pseudo-header of `src` and `dst`.
    pub fn verify_checksum<A: Address>(&self, src: A, dst: A) -> bool {
        let b = self.buf.as_ref();
        checksum::fold(A::pseudo_header(src, dst, super::proto::TCP, b.len()) + checksum::sum(b))
            == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::SRC_PORT], v);
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::DST_PORT], v);
    }

    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        write_u32(&mut self.buf.as_mut()[field::SEQ_NUM], v);
    }

    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        write_u32(&mut self.buf.as_mut()[field::ACK_NUM], v);
    }

    /// Data Offset from a header length in bytes (a multiple of 4).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        self.buf.as_mut()[field::DATA_OFF] = ((len / 4) << 4) as u8;
    }

    #[inline]
    pub fn set_flags(&mut self, v: u8) {
        self.buf.as_mut()[field::FLAGS] = v;
    }

    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::WIN_SIZE], v);
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::CHECKSUM], v);
    }

    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::URGENT], v);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buf.as_mut()[field::OPTIONS_START..hl]
    }

    /// Rewrites the MSS option's value, updating the checksum incrementally. False when the
    /// segment has no MSS option.
    pub fn set_mss_update_checksum(&mut self, mss: u16) -> bool {
        let Some(at) = self.mss_at() else {
            return false;
        };
        let c = self.checksum();
        // The checksum is over 16-bit words from the start of the segment; the option may start
        // at an odd offset, and then its two bytes lie in two words: update both.
        let c = if at % 2 == 0 {
            let old = read_u16(&self.buf.as_ref()[at..]);
            write_u16(&mut self.buf.as_mut()[at..], mss);
            checksum::update16(c, old, mss)
        } else {
            let (w0, w1) = (at - 1, at + 1);
            let old = (
                read_u16(&self.buf.as_ref()[w0..]),
                read_u16(&self.buf.as_ref()[w1..]),
            );
            write_u16(&mut self.buf.as_mut()[at..], mss);
            let new = (
                read_u16(&self.buf.as_ref()[w0..]),
                read_u16(&self.buf.as_ref()[w1..]),
            );
            checksum::update16(checksum::update16(c, old.0, new.0), old.1, new.1)
        };
        self.set_checksum(c);
        true
    }

    /// Computes the checksum over the pseudo-header of `src` and `dst` and the whole buffer.
    pub fn fill_checksum<A: Address>(&mut self, src: A, dst: A) {
        self.set_checksum(0);
        let b = self.buf.as_ref();
        let c = A::pseudo_header(src, dst, super::proto::TCP, b.len()) + checksum::sum(b);
        self.set_checksum(checksum::finish(c));
    }
}

/// The fields of a segment we build; the only option emitted is the MSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    pub flags: u8,
    pub window_len: u16,
    pub mss: Option<u16>,
}

impl TcpRepr {
    pub fn parse<T: AsRef<[u8]>>(t: &TcpSegment<T>) -> TcpRepr {
        TcpRepr {
            src_port: t.src_port(),
            dst_port: t.dst_port(),
            seq_number: t.seq_number(),
            ack_number: t.ack_number(),
            flags: t.flags(),
            window_len: t.window_len(),
            mss: t.mss(),
        }
    }

    /// The header length: 20 bytes, 24 with the MSS option.
    pub const fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN
            + if self.mss.is_some() {
                option::MSS_LEN
            } else {
                0
            }
    }

    /// Writes the header at the start of `buf` (at least `buffer_len()` long) with a zero
    /// checksum: fill it in with [`TcpSegment::fill_checksum`] once the payload is behind it.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut t = TcpSegment::new_unchecked(&mut buf[..self.buffer_len()]);
        t.set_src_port(self.src_port);
        t.set_dst_port(self.dst_port);
        t.set_seq_number(self.seq_number);
        t.set_ack_number(self.ack_number);
        t.set_header_len(self.buffer_len());
        t.set_flags(self.flags);
        t.set_window_len(self.window_len);
        t.set_checksum(0);
        t.set_urgent_at(0);
        if let Some(mss) = self.mss {
            let o = t.options_mut();
            o[0] = option::MSS;
            o[1] = option::MSS_LEN as u8;
            write_u16(&mut o[2..], mss);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields() {
        let mut b = [0u8; 24];
        b[0..2].copy_from_slice(&40000u16.to_be_bytes());
        b[2..4].copy_from_slice(&80u16.to_be_bytes());
        b[4..8].copy_from_slice(&7u32.to_be_bytes());
        b[12] = 6 << 4;
        b[13] = flags::SYN | flags::ACK;
        let mut t = TcpSegment::new_checked(&mut b[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port(), t.seq_number()), (40000, 80, 7));
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), flags::SYN | flags::ACK);
        t.set_dst_port(8080);
        t.set_checksum(0xbeef);
        assert_eq!((t.dst_port(), t.checksum()), (8080, 0xbeef));
        b[12] = 7 << 4;
        assert!(TcpSegment::new_checked(&b[..]).is_err());
        assert!(TcpSegment::new_checked(&b[..19]).is_err());
        assert!(TcpSegment::new_quoted(&b[..8]).is_ok_and(|t| !t.has_checksum()));
        assert!(TcpSegment::new_quoted(&b[..7]).is_err());
    }

    #[test]
    fn mss_behind_other_options_and_malformed_lists() {
        let with = |opts: &[u8]| {
            let mut b = vec![0u8; 20];
            b.extend_from_slice(opts);
            TcpSegment::new_unchecked(&mut b[..]).set_header_len(20 + opts.len());
            TcpSegment::new_checked(b).unwrap().mss()
        };
        assert_eq!(with(&[1, 1, 2, 4, 0x05, 0xb4, 0, 0]), Some(1460));
        assert_eq!(with(&[3, 3, 7, 2, 4, 0x05, 0xb4, 0]), Some(1460));
        assert_eq!(with(&[0, 2, 4, 5]), None, "after the end of the list");
        assert_eq!(with(&[3, 0, 2, 4]), None, "a zero length");
        assert_eq!(with(&[3, 9, 0, 0]), None, "beyond the header");
        assert_eq!(with(&[2, 3, 0, 0]), None, "an MSS of the wrong length");
    }

    proptest! {
        #[test]
        fn emit_then_parse(src_port in any::<u16>(), dst_port in any::<u16>(),
                           seq_number in any::<u32>(), ack_number in any::<u32>(),
                           flags in any::<u8>(), window_len in any::<u16>(),
                           mss in proptest::option::of(any::<u16>()),
                           payload in proptest::collection::vec(any::<u8>(), 0..16)) {
            let r = TcpRepr { src_port, dst_port, seq_number, ack_number, flags, window_len, mss };
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut b);
            b.extend_from_slice(&payload);
            let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
            let mut t = TcpSegment::new_checked(&mut b[..]).unwrap();
            t.fill_checksum(src, dst);
            prop_assert!(t.verify_checksum(src, dst));
            prop_assert_eq!(TcpRepr::parse(&t), r);
            prop_assert_eq!(t.payload(), &payload[..]);
        }

        /// Rewriting the MSS keeps the checksum valid, at either alignment.
        #[test]
        fn mss_update_keeps_the_checksum(nops in 0usize..2, old in any::<u16>(), new in any::<u16>(),
                                         payload in proptest::collection::vec(any::<u8>(), 0..9)) {
            let mut b = vec![0u8; 20];
            b.extend(std::iter::repeat_n(option::NOP, nops));
            b.extend_from_slice(&[option::MSS, 4]);
            b.extend_from_slice(&old.to_be_bytes());
            b.resize(28, option::END);
            b.extend_from_slice(&payload);
            let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
            let mut t = TcpSegment::new_unchecked(&mut b[..]);
            t.set_header_len(28);
            t.fill_checksum(src, dst);
            prop_assert_eq!(t.mss(), Some(old));
            prop_assert!(t.set_mss_update_checksum(new));
            prop_assert_eq!(t.mss(), Some(new));
            prop_assert!(t.verify_checksum(src, dst));
        }

        /// Any bytes: a typed result, never a panic.
        #[test]
        fn arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(t) = TcpSegment::new_checked(&b[..]) {
                let _ = (TcpRepr::parse(&t), t.options().len(), t.payload().len());
            }
        }
    }
}
