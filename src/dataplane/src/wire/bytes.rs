//! Big-endian reads and writes of header fields. Private to `wire`: everything else goes through
//! the views' named accessors, so a header layout is written down in exactly one place.
//!
//! The slices are field ranges (`&buf[field::CHECKSUM]`); with a constant range the compiler
//! checks the bound once and the copies become single loads and stores.

#[inline(always)]
pub(super) fn read_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

#[inline(always)]
pub(super) fn read_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[inline(always)]
pub(super) fn write_u16(b: &mut [u8], v: u16) {
    b[..2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(super) fn write_u32(b: &mut [u8], v: u32) {
    b[..4].copy_from_slice(&v.to_be_bytes());
}
