//! The two digests BFD authentication uses, written here so the core stays free of
//! dependencies: MD5 ([`md5()`]) and SHA-1 ([`sha1()`]). Both are the Merkle-Damgård
//! construction over 64-byte blocks; only the word order of the length differs.

mod md5;
mod sha1;

pub use md5::md5;
pub use sha1::sha1;

/// Byte order of the words (and of the bit length in the padding).
#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

/// Calls `f` on each 64-byte block of `data` padded as MD5 and SHA-1 pad: a 0x80 byte, zeros
/// up to 56 mod 64, then the message length in bits as 64 bits in `endian` order.
fn for_each_block(data: &[u8], endian: Endian, mut f: impl FnMut(&[u8; 64])) {
    let mut chunks = data.chunks_exact(64);
    for block in &mut chunks {
        let mut b = [0u8; 64];
        b.copy_from_slice(block);
        f(&b);
    }
    let rest = chunks.remainder();
    let bits = (data.len() as u64).wrapping_mul(8);
    let len = match endian {
        Endian::Little => bits.to_le_bytes(),
        Endian::Big => bits.to_be_bytes(),
    };
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let total = if rest.len() < 56 { 64 } else { 128 };
    tail[total - 8..total].copy_from_slice(&len);
    for block in tail[..total].chunks_exact(64) {
        let mut b = [0u8; 64];
        b.copy_from_slice(block);
        f(&b);
    }
}

/// Compares two digests in time that does not depend on where they differ.
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
