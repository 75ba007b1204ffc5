//! IPv4-embedded IPv6 addresses (RFC 6052 §2.2): an IPv4 address written into an IPv6 prefix
//! `Pref64::/n`, n one of 32, 40, 48, 56, 64 or 96. The 32 bits follow the prefix, skipping
//! bits 64 to 71 (the "u" octet, zero for compatibility with RFC 4291's interface identifiers);
//! what is left after them (the suffix) is zero.
//!
//! Pure and standalone: the load balancer's NAT64 writes routers' IPv4 addresses with it, a
//! NAT64 gateway (IPv6 hosts to `64:ff9b::a.b.c.d`) reads destinations with it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A NAT64 prefix: its bits and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pref64 {
    bits: u128,
    len: u8,
}

/// Why a prefix cannot be a `Pref64`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("a NAT64 prefix is /32, /40, /48, /56, /64 or /96 (RFC 6052 §2.2), not /{0}")]
    Length(u8),
    #[error("bits set after the prefix length")]
    HostBits,
    #[error("bits 64 to 71 (the u octet) of a /96 must be zero (RFC 6052 §2.2)")]
    UOctet,
    #[error("expected ADDRESS/LENGTH")]
    Syntax,
}

/// The lengths RFC 6052 §2.2 allows.
pub const LENGTHS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// Bits 64 to 71 of an address.
const U_OCTET: u128 = 0xff << 56;

impl Pref64 {
    /// The Well-Known Prefix `64:ff9b::/96` (RFC 6052 §2.1).
    pub const WELL_KNOWN: Pref64 = Pref64 {
        bits: 0x0064_ff9b << 96,
        len: 96,
    };

    pub fn new(prefix: Ipv6Addr, len: u8) -> Result<Pref64, PrefixError> {
        if !LENGTHS.contains(&len) {
            return Err(PrefixError::Length(len));
        }
        let bits = u128::from(prefix);
        if bits & !mask(len) != 0 {
            return Err(PrefixError::HostBits);
        }
        if bits & U_OCTET != 0 {
            return Err(PrefixError::UOctet);
        }
        Ok(Pref64 { bits, len })
    }

    pub fn prefix(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.bits)
    }

    /// The prefix length (32, 40, 48, 56, 64 or 96).
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn is_well_known(&self) -> bool {
        *self == Pref64::WELL_KNOWN
    }

    /// Whether `v4` may be written under this prefix: the Well-Known Prefix must not carry
    /// non-global IPv4 addresses (RFC 6052 §3.1); a network-specific prefix carries any.
    pub fn may_embed(&self, v4: Ipv4Addr) -> bool {
        !self.is_well_known() || is_global(v4)
    }

    /// `v4` written into this prefix (RFC 6052 §2.2).
    pub fn embed(&self, v4: Ipv4Addr) -> Ipv6Addr {
        let v = u32::from(v4);
        if self.len == 96 {
            return Ipv6Addr::from(self.bits | u128::from(v));
        }
        // `a` bits before the u octet (bits len..64), the other `r` after it (from bit 72).
        let a = 64 - u32::from(self.len);
        let r = 32 - a;
        let hi = if a == 0 { 0 } else { u128::from(v >> r) << 64 };
        let lo = u128::from(v & low_bits(r)) << (56 - r);
        Ipv6Addr::from(self.bits | hi | lo)
    }

    /// The IPv4 address `v6` carries under this prefix: `None` when `v6` is not under it or its
    /// u octet is not zero. The suffix is ignored, as §2.2 says receivers do.
    pub fn extract(&self, v6: Ipv6Addr) -> Option<Ipv4Addr> {
        let x = u128::from(v6);
        if x & mask(self.len) != self.bits || x & U_OCTET != 0 {
            return None;
        }
        if self.len == 96 {
            return Some(Ipv4Addr::from(x as u32));
        }
        let a = 64 - u32::from(self.len);
        let r = 32 - a;
        let hi = if a == 0 {
            0
        } else {
            ((x >> 64) as u32 & low_bits(a)) << r
        };
        let lo = (x >> (56 - r)) as u32 & low_bits(r);
        Some(Ipv4Addr::from(hi | lo))
    }
}

impl Default for Pref64 {
    fn default() -> Self {
        Pref64::WELL_KNOWN
    }
}

impl fmt::Display for Pref64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.prefix(), self.len)
    }
}

impl FromStr for Pref64 {
    type Err = PrefixError;

    fn from_str(s: &str) -> Result<Pref64, PrefixError> {
        let (a, l) = s.split_once('/').ok_or(PrefixError::Syntax)?;
        let a: Ipv6Addr = a.parse().map_err(|_| PrefixError::Syntax)?;
        let l: u8 = l.parse().map_err(|_| PrefixError::Syntax)?;
        Pref64::new(a, l)
    }
}

/// `embed(prefix, v4)`: see [`Pref64::embed`].
pub fn embed(prefix: &Pref64, v4: Ipv4Addr) -> Ipv6Addr {
    prefix.embed(v4)
}

/// `extract(prefix, v6)`: see [`Pref64::extract`].
pub fn extract(prefix: &Pref64, v6: Ipv6Addr) -> Option<Ipv4Addr> {
    prefix.extract(v6)
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

fn low_bits(n: u32) -> u32 {
    if n >= 32 {
        u32::MAX
    } else {
        (1u32 << n) - 1
    }
}

/// Whether `a` is globally reachable (RFC 6890's special-purpose registry, the blocks that are
/// not): what the Well-Known Prefix may carry.
pub fn is_global(a: Ipv4Addr) -> bool {
    let v = u32::from(a);
    const NOT_GLOBAL: [(u32, u8); 15] = [
        (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
        (0x0a00_0000, 8),  // 10.0.0.0/8
        (0x6440_0000, 10), // 100.64.0.0/10 shared address space
        (0x7f00_0000, 8),  // 127.0.0.0/8
        (0xa9fe_0000, 16), // 169.254.0.0/16
        (0xac10_0000, 12), // 172.16.0.0/12
        (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
        (0xc000_0200, 24), // 192.0.2.0/24 TEST-NET-1
        (0xc0a8_0000, 16), // 192.168.0.0/16
        (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
        (0xc633_6400, 24), // 198.51.100.0/24 TEST-NET-2
        (0xcb00_7100, 24), // 203.0.113.0/24 TEST-NET-3
        (0xe000_0000, 4),  // multicast
        (0xf000_0000, 4),  // reserved, and the limited broadcast
        (0xc058_6300, 24), // 192.88.99.0/24 deprecated 6to4 relays
    ];
    !NOT_GLOBAL
        .iter()
        .any(|&(net, len)| v & (u32::MAX << (32 - u32::from(len))) == net)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Pref64 {
        s.parse().unwrap()
    }

    /// RFC 6052 §2.4, Table 1: 192.0.2.33 under each length.
    #[test]
    fn rfc6052_table_1() {
        let v4: Ipv4Addr = "192.0.2.33".parse().unwrap();
        for (prefix, want) in [
            ("2001:db8::/32", "2001:db8:c000:221::"),
            ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
            ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
            ("64:ff9b::/96", "64:ff9b::192.0.2.33"),
        ] {
            let pre = p(prefix);
            let want: Ipv6Addr = want.parse().unwrap();
            assert_eq!(embed(&pre, v4), want, "{prefix}");
            assert_eq!(extract(&pre, want), Some(v4), "{prefix}");
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(
            "2001:db8::/33".parse::<Pref64>(),
            Err(PrefixError::Length(33))
        );
        assert_eq!(
            "2001:db8::1/96".parse::<Pref64>(),
            Err(PrefixError::HostBits)
        );
        assert_eq!(
            "2001:db8:0:0:ff00::/96".parse::<Pref64>(),
            Err(PrefixError::UOctet)
        );
        assert_eq!("2001:db8::".parse::<Pref64>(), Err(PrefixError::Syntax));
        let pre = p("2001:db8:122:344::/64");
        // Another prefix, or a u octet that is not zero.
        assert_eq!(extract(&pre, "2001:db8:122:345::".parse().unwrap()), None);
        assert_eq!(
            extract(&pre, "2001:db8:122:344:1c0:2:2100:0".parse().unwrap()),
            None
        );
        assert_eq!(Pref64::default().to_string(), "64:ff9b::/96");
    }

    #[test]
    fn the_well_known_prefix_carries_only_global_addresses() {
        let wkp = Pref64::WELL_KNOWN;
        assert!(wkp.may_embed("8.8.8.8".parse().unwrap()));
        for a in [
            "10.1.2.3",
            "192.168.1.1",
            "198.18.0.1",
            "172.20.0.1",
            "127.0.0.1",
        ] {
            assert!(!wkp.may_embed(a.parse().unwrap()), "{a}");
        }
        assert!(p("2001:db8:64::/96").may_embed("198.18.0.1".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn extract_inverts_embed(v4 in any::<u32>(), which in 0usize..6, net in any::<u128>(), suffix in any::<u8>()) {
            let len = LENGTHS[which];
            let bits = net & mask(len) & !U_OCTET;
            let pre = Pref64::new(Ipv6Addr::from(bits), len).unwrap();
            let v4 = Ipv4Addr::from(v4);
            let v6 = embed(&pre, v4);
            prop_assert_eq!(u128::from(v6) & U_OCTET, 0);
            prop_assert_eq!(u128::from(v6) & mask(len), bits);
            prop_assert_eq!(extract(&pre, v6), Some(v4));
            // The suffix is ignored on the way back.
            if len < 96 {
                let with_suffix = Ipv6Addr::from(u128::from(v6) | u128::from(suffix));
                prop_assert_eq!(extract(&pre, with_suffix), Some(v4));
            }
        }
    }
}
