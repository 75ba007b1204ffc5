//! The address family of benchmark (b) (`fastpath-bench`): the topology's addresses in the test
//! ranges, and how trafgen, nftables and sysctl spell that family. The IPv4 and IPv6 runs are
//! the same measurement; only these words differ.

/// One family's addresses and spellings.
pub struct Family {
    /// `"ipv4"` or `"ipv6"`, as the JSON records and the report name it.
    pub name: &'static str,
    pub vip: &'static str,
    /// The generator (gen's eth0).
    pub gen: &'static str,
    /// lb's eth0, on the generator's link.
    pub lb_gen: &'static str,
    /// lb's eth1, on the sink's link.
    pub lb_sink: &'static str,
    /// The sink, the service's one backend.
    pub sink: &'static str,
    /// The links' prefix length.
    pub prefix: u8,
    /// The FullNAT pool's address (measured for IPv6 only).
    pub pool: &'static str,
    /// nftables' family (`ip`, `ip6`).
    pub nft: &'static str,
    /// The sysctl that makes lb's kernel forward this family.
    pub forwarding: &'static str,
}

pub const V4: Family = Family {
    name: "ipv4",
    vip: "198.18.42.1",
    gen: "198.18.40.2",
    lb_gen: "198.18.40.1",
    lb_sink: "198.18.41.1",
    sink: "198.18.41.2",
    prefix: 24,
    pool: "198.18.43.1",
    nft: "ip",
    forwarding: "net.ipv4.ip_forward",
};

pub const V6: Family = Family {
    name: "ipv6",
    vip: "2001:db8:42::1",
    gen: "2001:db8:40::2",
    lb_gen: "2001:db8:40::1",
    lb_sink: "2001:db8:41::1",
    sink: "2001:db8:41::2",
    prefix: 64,
    pool: "2001:db8:43::1",
    nft: "ip6",
    forwarding: "net.ipv6.conf.all.forwarding",
};

/// The datagram's payload: 18 bytes, which makes the IPv4 frame the Ethernet minimum of 60
/// bytes (14 + 20 + 8 + 18); the IPv6 frame carries the same datagram in 80 (14 + 40 + 8 + 18).
const PAYLOAD: &str = "0123456789abcdefgh";

impl Family {
    pub fn is_v6(&self) -> bool {
        self.nft == "ip6"
    }

    /// Bytes per frame on the wire (without the FCS).
    pub fn frame_len(&self) -> usize {
        14 + if self.is_v6() { 40 } else { 20 } + 8 + PAYLOAD.len()
    }

    /// trafgen's packet: UDP to VIP:9 from 1,024 source ports. trafgen computes the UDP
    /// checksum per packet (IPv6 pseudo-header included: a datagram without one is invalid in
    /// IPv6, and the kernel's conntrack drops UDP with a bad one). trafgen 0.6.8 leaves the
    /// EtherType 0 under `ip6()` although its manual says it sets 0x86DD, so it is spelled out.
    /// IPv4 has Don't Fragment, as Linux sends UDP (path MTU discovery on by default): what may
    /// be wrapped in IP in IP by the XDP program, which leaves the numbering of fragmentable
    /// outer packets to the workers. IPv6 routers never fragment.
    pub fn trafgen_packet(&self, gen_mac: &str, lb_mac: &str) -> String {
        let (ethertype, l3) = if self.is_v6() {
            (
                "0x86dd",
                format!("ip6(sa={}, da={}, hoplimit=64)", self.gen, self.vip),
            )
        } else {
            (
                "0x0800",
                format!("ipv4(sa={}, da={}, ttl=64, df)", self.gen, self.vip),
            )
        };
        format!(
            "{{ eth(da={lb_mac}, sa={gen_mac}, type={ethertype}), {l3}, \
             udp(sp=dinc(10000, 11023), dp=9), \"{PAYLOAD}\" }}\n"
        )
    }

    /// `address:port` as nftables' `dnat to` takes it (IPv6 in brackets).
    pub fn dnat_target(&self, addr: &str, port: u16) -> String {
        if self.is_v6() {
            format!("[{addr}]:{port}")
        } else {
            format!("{addr}:{port}")
        }
    }

    /// The kernel's reference: a `bench` table of this family with a DNAT of VIP:9 to the sink
    /// at prerouting (so conntrack), as one nft script.
    pub fn kernel_dnat(&self) -> String {
        let f = self.nft;
        format!(
            "add table {f} bench; \
             add chain {f} bench pre {{ type nat hook prerouting priority dstnat; }}; \
             add rule {f} bench pre {f} daddr {} udp dport 9 dnat to {}",
            self.vip,
            self.dnat_target(self.sink, 9)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn addresses_are_of_their_family_and_in_the_test_ranges() {
        for f in [&V4, &V6] {
            for a in [f.vip, f.gen, f.lb_gen, f.lb_sink, f.sink, f.pool] {
                let ip: IpAddr = a.parse().unwrap();
                assert_eq!(ip.is_ipv6(), f.is_v6(), "{a}");
                assert!(lab::is_test_addr(ip), "{a}");
            }
        }
    }

    #[test]
    fn ipv6_frames_say_so_and_carry_the_same_datagram() {
        let p = V6.trafgen_packet("02:00:00:00:00:02", "02:00:00:00:00:01");
        assert!(p.contains("type=0x86dd"), "{p}");
        assert!(
            p.contains("ip6(sa=2001:db8:40::2, da=2001:db8:42::1"),
            "{p}"
        );
        assert_eq!(V4.frame_len(), 60);
        assert_eq!(V6.frame_len(), 80);
    }

    #[test]
    fn ipv6_dnat_brackets_the_address() {
        assert!(V6
            .kernel_dnat()
            .ends_with("ip6 daddr 2001:db8:42::1 udp dport 9 dnat to [2001:db8:41::2]:9"));
        assert!(V4
            .kernel_dnat()
            .ends_with("ip daddr 198.18.42.1 udp dport 9 dnat to 198.18.41.2:9"));
    }
}
