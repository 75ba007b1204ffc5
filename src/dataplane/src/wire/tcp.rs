//! TCP header (RFC 9293), the fields NAT and conntrack need.
//!
//! ```text
//! |          Source Port          |       Destination Port        |
//! |                        Sequence Number                        |
//! |                    Acknowledgment Number                      |
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |           Checksum            |         Urgent Pointer        |
//! ```

use super::{be16, be32, put16, Truncated};

pub const MIN_HEADER_LEN: usize = 20;
/// Offset of the checksum, also used when rewriting a quoted segment inside an ICMP error.
pub const CHECKSUM_AT: usize = 16;

pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

pub struct TcpSegment<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Truncated);
        }
        let hl = usize::from(b[12] >> 4) * 4;
        if hl < MIN_HEADER_LEN || hl > b.len() {
            return Err(Truncated);
        }
        Ok(TcpSegment { buf })
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), 0)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    pub fn seq(&self) -> u32 {
        be32(self.buf.as_ref(), 4)
    }

    pub fn ack(&self) -> u32 {
        be32(self.buf.as_ref(), 8)
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[12] >> 4) * 4
    }

    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[13]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), CHECKSUM_AT)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buf.as_mut(), 0, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buf.as_mut(), 2, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buf.as_mut(), CHECKSUM_AT, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let mut b = [0u8; 24];
        b[0..2].copy_from_slice(&40000u16.to_be_bytes());
        b[2..4].copy_from_slice(&80u16.to_be_bytes());
        b[4..8].copy_from_slice(&7u32.to_be_bytes());
        b[12] = 6 << 4;
        b[13] = flags::SYN | flags::ACK;
        let mut t = TcpSegment::new_checked(&mut b[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port(), t.seq()), (40000, 80, 7));
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), flags::SYN | flags::ACK);
        t.set_dst_port(8080);
        t.set_checksum(0xbeef);
        assert_eq!((t.dst_port(), t.checksum()), (8080, 0xbeef));
        b[12] = 7 << 4;
        assert!(TcpSegment::new_checked(&b[..]).is_err());
        assert!(TcpSegment::new_checked(&b[..19]).is_err());
    }
}
