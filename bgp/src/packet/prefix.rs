//! IP prefixes and their NLRI encoding (RFC 4271 §4.3: length in bits, then
//! the minimum number of octets holding that many bits).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::family::{Afi, Family};
use super::wire::{Reader, Short};

/// An IPv4 or IPv6 prefix.
///
/// Prefixes built with [`Prefix::new`] have their host bits cleared. Decoded
/// prefixes keep whatever trailing bits the sender put in the last octet so
/// they re-encode byte-exactly; [`Prefix::canonical`] clears them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("prefix length {len} too long for the address family")]
pub struct PrefixLengthError {
    pub len: u8,
}

impl Prefix {
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixLengthError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(PrefixLengthError { len });
        }
        Ok(Prefix { addr, len }.canonical())
    }

    /// A host route (/32 or /128), the usual shape of an anycast VIP.
    pub fn host(addr: IpAddr) -> Self {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Prefix { addr, len }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for a zero-length prefix (the default route).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn family(&self) -> Family {
        if self.addr.is_ipv4() {
            Family::IPV4_UNICAST
        } else {
            Family::IPV6_UNICAST
        }
    }

    /// The same prefix with host bits cleared.
    pub fn canonical(self) -> Self {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - self.len as u32).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - self.len as u32).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        Prefix {
            addr,
            len: self.len,
        }
    }

    /// Octets this prefix occupies in an NLRI field.
    pub fn wire_len(&self) -> usize {
        1 + (self.len as usize).div_ceil(8)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let n = (self.len as usize).div_ceil(8);
        out.push(self.len);
        match self.addr {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n]),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n]),
        }
    }

    /// Decodes one prefix of the given AFI; `Err` on a bad length or a short
    /// buffer (both are Invalid Network Field, RFC 4271 §6.3).
    pub(crate) fn decode(r: &mut Reader<'_>, afi: Afi) -> Result<Self, Short> {
        let len = r.u8()?;
        let n = (len as usize).div_ceil(8);
        match afi {
            Afi::Ipv6 => {
                if len > 128 {
                    return Err(Short);
                }
                let mut o = [0u8; 16];
                o[..n].copy_from_slice(r.take(n)?);
                Ok(Prefix {
                    addr: IpAddr::V6(Ipv6Addr::from(o)),
                    len,
                })
            }
            _ => {
                if len > 32 {
                    return Err(Short);
                }
                let mut o = [0u8; 4];
                o[..n].copy_from_slice(r.take(n)?);
                Ok(Prefix {
                    addr: IpAddr::V4(Ipv4Addr::from(o)),
                    len,
                })
            }
        }
    }

    /// Decodes a whole NLRI field.
    pub(crate) fn decode_all(buf: &[u8], afi: Afi) -> Result<Vec<Prefix>, Short> {
        let mut r = Reader::new(buf);
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Prefix::decode(&mut r, afi)?);
        }
        Ok(out)
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("{s}: missing /len"))?;
        let addr: IpAddr = a.parse().map_err(|e| format!("{s}: {e}"))?;
        let len: u8 = l.parse().map_err(|e| format!("{s}: {e}"))?;
        Prefix::new(addr, len).map_err(|e| e.to_string())
    }
}
