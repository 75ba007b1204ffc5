//! The port pair that TCP (RFC 9293), UDP (RFC 768), DCCP and SCTP headers all begin with. The
//! steering rules read only these four bytes of a transport header, however short the rest is,
//! exactly as the XDP program does; the full views check more.
//!
//! ```text
//! |          Source Port          |       Destination Port        |
//! ```

use super::bytes::read_u16;
use super::Truncated;

pub mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
}

pub const LEN: usize = field::DST_PORT.end;

/// `(source, destination)` of a transport header that has at least its first four bytes.
#[inline]
pub fn ports(l4: &[u8]) -> Result<(u16, u16), Truncated> {
    if l4.len() < LEN {
        return Err(Truncated);
    }
    Ok((
        read_u16(&l4[field::SRC_PORT]),
        read_u16(&l4[field::DST_PORT]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_bytes_are_enough() {
        assert_eq!(ports(&[0x9c, 0x40, 0, 80]), Ok((40000, 80)));
        assert_eq!(ports(&[0x9c, 0x40, 0]), Err(Truncated));
    }
}
