//! Flow keys and the hashes every table of the fast path uses.
//!
//! Addresses are typed: a key is generic over its family's [`Address`] and defaults to IPv4, so
//! `FlowKey` is the IPv4 key the pipeline uses today and [`FlowKeyV6`] the IPv6 one, with the
//! same fields, the same reversal and the same hash (IPv4 hashes are bit for bit those of the
//! `u32` keys this replaced). `Ipv4Addr` is four bytes with alignment 1, so typing the addresses
//! cost no space: a conntrack entry of IPv4 flows is still 56 bytes, and IPv6 flows will get
//! their own table rather than widen it.
//!
//! One hash function (a folded multiply, as foldhash and wyhash use) keyed by a per-table seed:
//! fast enough for a per-packet lookup, and the seed keeps an outsider from crafting collisions
//! against a table whose seed they do not know.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::ip::Address;

/// A unidirectional 5-tuple in a zone. For ICMP echo the identifier plays the port's role
/// (RFC 5508): it is `src_port` of a request and `dst_port` of a reply, the other port being
/// zero. The zone is the GRE tunnel the packet came through (0: none), because remote sites
/// reuse the same private addresses and their flows must stay apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey<A: Address = Ipv4Addr> {
    pub src: A,
    pub dst: A,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub zone: u16,
}

/// The key of an IPv6 flow.
pub type FlowKeyV6 = FlowKey<Ipv6Addr>;

impl<A: Address> Default for FlowKey<A> {
    fn default() -> Self {
        FlowKey {
            src: A::UNSPECIFIED,
            dst: A::UNSPECIFIED,
            src_port: 0,
            dst_port: 0,
            proto: 0,
            zone: 0,
        }
    }
}

impl<A: Address> FlowKey<A> {
    pub fn new(src: A, src_port: u16, dst: A, dst_port: u16, proto: u8) -> Self {
        FlowKey {
            src,
            dst,
            src_port,
            dst_port,
            proto,
            zone: 0,
        }
    }

    /// The key of the packets flowing the other way (in the same zone).
    pub fn reversed(&self) -> Self {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
            zone: self.zone,
        }
    }

    #[inline(always)]
    pub fn hash(&self, seed: u64) -> u64 {
        // An IPv4 word fits in the low half, so this is `src << 32 | dst` there.
        let a = self.src.hash_word().rotate_left(32) ^ self.dst.hash_word();
        let b = (u64::from(self.zone) << 48)
            | (u64::from(self.src_port) << 32)
            | (u64::from(self.dst_port) << 16)
            | u64::from(self.proto);
        mix2(a, b, seed)
    }
}

const K1: u64 = 0x243f_6a88_85a3_08d3;
const K2: u64 = 0x1319_8a2e_0370_7344;
const K3: u64 = 0xa409_3822_299f_31d0;

#[inline(always)]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Hashes two words with a seed; two multiply rounds so every input bit reaches every output bit.
#[inline(always)]
pub fn mix2(a: u64, b: u64, seed: u64) -> u64 {
    let h = folded_multiply(a ^ seed ^ K1, b ^ K2);
    folded_multiply(h ^ K3, seed ^ K1 ^ b.rotate_left(32))
}

/// The hash that decides a flow's owner core and its Maglev slot: the client's address and port
/// are the same in both directions of a NAT-mode flow, so both directions agree on the owner.
#[inline(always)]
pub fn client_hash<A: Address>(client: A, client_port: u16, seed: u64) -> u64 {
    mix2(client.hash_word(), u64::from(client_port), seed)
}

/// The owner of a flow the SNAT gateway opens: its inside endpoint (zone, address, port) is the
/// same for every destination, so all flows of one endpoint share an owner, which is what lets
/// that owner keep one endpoint-independent mapping for them (RFC 4787 REQ-1).
#[inline(always)]
pub fn inside_hash<A: Address>(zone: u16, addr: A, port: u16, seed: u64) -> u64 {
    mix2(
        addr.hash_word() << 16 | u64::from(port),
        u64::from(zone) ^ 0x736e_6174,
        seed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_twice_is_identity_and_hash_depends_on_every_field() {
        let k = FlowKey::new(
            Ipv4Addr::new(198, 18, 0, 1),
            40000,
            Ipv4Addr::new(198, 18, 1, 1),
            80,
            6,
        );
        assert_eq!(k.reversed().reversed(), k);
        let h = k.hash(1);
        assert_ne!(h, k.reversed().hash(1));
        assert_ne!(h, k.hash(2));
        for variant in [
            FlowKey {
                src: Ipv4Addr::new(198, 18, 0, 0),
                ..k
            },
            FlowKey {
                dst: Ipv4Addr::new(198, 18, 1, 0),
                ..k
            },
            FlowKey {
                src_port: k.src_port ^ 1,
                ..k
            },
            FlowKey {
                dst_port: k.dst_port ^ 1,
                ..k
            },
            FlowKey { proto: 17, ..k },
            FlowKey { zone: 1, ..k },
        ] {
            assert_ne!(variant.hash(1), h);
        }
    }

    /// The typed key hashes as the `u32` key it replaced did (flow owners, Maglev slots and
    /// table layouts stay where they were), and an IPv6 key's hash depends on every word.
    #[test]
    fn hashes_of_typed_addresses() {
        let k = FlowKey::new(
            Ipv4Addr::new(198, 18, 0, 1),
            40000,
            Ipv4Addr::new(198, 18, 1, 1),
            80,
            6,
        );
        let a = (0xc612_0001u64 << 32) | 0xc612_0101;
        let b = (40000u64 << 32) | (80 << 16) | 6;
        assert_eq!(k.hash(9), mix2(a, b, 9));
        assert_eq!(
            client_hash(Ipv4Addr::new(198, 18, 0, 1), 5, 9),
            mix2(0xc612_0001, 5, 9)
        );
        let v6 = FlowKeyV6::new(
            "2001:db8::1".parse().unwrap(),
            1,
            "2001:db8::2".parse().unwrap(),
            2,
            17,
        );
        assert_eq!(v6.reversed().reversed(), v6);
        for bit in 0..128 {
            let src = Ipv6Addr::from(u128::from(v6.src) ^ (1 << bit));
            assert_ne!(FlowKey { src, ..v6 }.hash(1), v6.hash(1), "bit {bit}");
        }
        assert_eq!(FlowKeyV6::default().src, Ipv6Addr::UNSPECIFIED);
    }

    #[test]
    fn client_hash_spreads_ports_evenly() {
        let mut buckets = [0u32; 4];
        for port in 0..40_000u16 {
            buckets[(client_hash(Ipv4Addr::new(198, 18, 0, 1), port, 7) % 4) as usize] += 1;
        }
        for b in buckets {
            assert!((9_000..11_000).contains(&b), "{buckets:?}");
        }
    }
}
