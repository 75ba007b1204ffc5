//! Address families (RFC 4760 AFI/SAFI).

use super::wire::wire_enum;

wire_enum! {
    /// IANA Address Family Identifier.
    pub enum Afi(u16) {
        Ipv4 = 1,
        Ipv6 = 2,
    }
}

wire_enum! {
    /// IANA Subsequent Address Family Identifier.
    pub enum Safi(u8) {
        Unicast = 1,
        Multicast = 2,
    }
}

/// An (AFI, SAFI) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Family {
    pub afi: Afi,
    pub safi: Safi,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family {
        afi: Afi::Ipv4,
        safi: Safi::Unicast,
    };
    pub const IPV6_UNICAST: Family = Family {
        afi: Afi::Ipv6,
        safi: Safi::Unicast,
    };

    pub fn new(afi: Afi, safi: Safi) -> Self {
        Family { afi, safi }
    }

    /// Whether this crate can parse the family's NLRI as plain prefixes.
    pub fn has_prefix_nlri(self) -> bool {
        matches!(self.afi, Afi::Ipv4 | Afi::Ipv6)
            && matches!(self.safi, Safi::Unicast | Safi::Multicast)
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.afi, self.safi) {
            (Afi::Ipv4, Safi::Unicast) => f.write_str("ipv4-unicast"),
            (Afi::Ipv6, Safi::Unicast) => f.write_str("ipv6-unicast"),
            (afi, safi) => write!(f, "afi {}/safi {}", u16::from(afi), u8::from(safi)),
        }
    }
}
