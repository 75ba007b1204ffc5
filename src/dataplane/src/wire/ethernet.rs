//! Ethernet II (IEEE 802.3 with an EtherType; no VLAN tags yet: tagged frames go to the kernel).
//!
//! ```text
//!  0                   6                   12      14
//! +-------------------+-------------------+-------+----------
//! | destination MAC   | source MAC        | type  | payload
//! +-------------------+-------------------+-------+----------
//! ```

use super::bytes::{read_u16, write_u16};
use super::{Field, Rest, Truncated};

pub mod field {
    use super::{Field, Rest};

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = 14..;
}

pub const HEADER_LEN: usize = field::PAYLOAD.start;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            let p = parts
                .next()
                .ok_or_else(|| format!("`{s}` is not a MAC address"))?;
            *b = u8::from_str_radix(p, 16).map_err(|_| format!("`{s}` is not a MAC address"))?;
        }
        if parts.next().is_some() {
            return Err(format!("`{s}` is not a MAC address"));
        }
        Ok(MacAddr(out))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtherType {
    Ipv4,
    Arp,
    Vlan,
    Ipv6,
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(o) => o,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(EthernetFrame { buf })
    }

    /// A view over a buffer known to hold the header (an accessor panics otherwise).
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        EthernetFrame { buf }
    }

    #[inline]
    pub fn dst(&self) -> MacAddr {
        mac_at(self.buf.as_ref(), field::DESTINATION)
    }

    #[inline]
    pub fn src(&self) -> MacAddr {
        mac_at(self.buf.as_ref(), field::SOURCE)
    }

    #[inline]
    pub fn ethertype(&self) -> EtherType {
        read_u16(&self.buf.as_ref()[field::ETHERTYPE]).into()
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[field::PAYLOAD]
    }

    pub fn into_inner(self) -> T {
        self.buf
    }
}

fn mac_at(b: &[u8], f: Field) -> MacAddr {
    let mut m = [0; 6];
    m.copy_from_slice(&b[f]);
    MacAddr(m)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst(&mut self, m: MacAddr) {
        self.buf.as_mut()[field::DESTINATION].copy_from_slice(&m.0);
    }

    #[inline]
    pub fn set_src(&mut self, m: MacAddr) {
        self.buf.as_mut()[field::SOURCE].copy_from_slice(&m.0);
    }

    #[inline]
    pub fn set_ethertype(&mut self, t: EtherType) {
        write_u16(&mut self.buf.as_mut()[field::ETHERTYPE], t.into());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[field::PAYLOAD]
    }
}

/// The header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(f: &EthernetFrame<T>) -> EthernetRepr {
        EthernetRepr {
            src: f.src(),
            dst: f.dst(),
            ethertype: f.ethertype(),
        }
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header at the start of `buf`, which must be at least `buffer_len()` long.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut f = EthernetFrame::new_unchecked(buf);
        f.set_dst(self.dst);
        f.set_src(self.src);
        f.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields_and_truncation() {
        let mut b = [0u8; 20];
        b[12] = 0x08;
        let mut f = EthernetFrame::new_checked(&mut b[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        f.set_dst("02:00:00:00:00:01".parse().unwrap());
        f.set_src(MacAddr([2, 0, 0, 0, 0, 2]));
        f.set_ethertype(EtherType::Unknown(0x88cc));
        assert_eq!(f.dst().to_string(), "02:00:00:00:00:01");
        assert_eq!(f.src(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(f.ethertype(), EtherType::Unknown(0x88cc));
        assert_eq!(f.payload().len(), 6);
        assert!(EthernetFrame::new_checked(&b[..13]).is_err());
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:00:01".parse::<MacAddr>().is_err());
    }

    proptest! {
        #[test]
        fn emit_then_parse(src in any::<[u8; 6]>(), dst in any::<[u8; 6]>(), t in any::<u16>()) {
            let r = EthernetRepr { src: MacAddr(src), dst: MacAddr(dst), ethertype: t.into() };
            let mut b = [0u8; HEADER_LEN];
            r.emit(&mut b);
            prop_assert_eq!(EthernetRepr::parse(&EthernetFrame::new_checked(&b[..]).unwrap()), r);
            prop_assert_eq!(u16::from(r.ethertype), t);
        }
    }
}
