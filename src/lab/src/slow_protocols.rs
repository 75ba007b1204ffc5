//! Silencing IEEE 802.3 Slow Protocols (LACP, Marker: EtherType 0x8809) leaving one
//! interface, so a test can make a LACP partner stop sending LACPDUs on one member while
//! its data traffic still flows.
//!
//! The filter is an nftables `netdev` table with an `egress` hook on the sender's own
//! interface (tc's matchall/basic classifiers are modules this kernel may lack). It only
//! sees frames that go through the device's transmit path: a packet socket with
//! `PACKET_QDISC_BYPASS` may skip it (DPDK's `net_af_packet` sets that by default, so
//! [`crate::testpmd`] turns it off). Filtering at the receiver instead does not work:
//! packet sockets (Open vSwitch's and DPDK's userspace datapaths) get every frame before
//! the ingress hooks run.

use crate::netns::Netns;
use crate::tools::require_tool;

/// IEEE 802.3 Annex 57A Slow Protocols EtherType.
const SLOW_PROTOCOLS: &str = "0x8809";

fn table(ifname: &str) -> String {
    // nftables identifiers: letters, digits, '_' (interface names may hold '-' or '.').
    let id: String = ifname
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("nt_slow_{id}")
}

/// Drops (`block == true`) or again passes (`false`) Slow Protocols frames sent out of
/// `ifname` in `ns`. Idempotent.
pub(crate) fn block_egress(ns: &Netns, ifname: &str, block: bool) {
    require_tool("nft");
    let table = table(ifname);
    let present = ns
        .exec(&["nft", "list", "table", "netdev", &table])
        .status
        .success();
    if block && !present {
        let rules = format!(
            "table netdev {table} {{\n  chain egress {{\n    \
             type filter hook egress device \"{ifname}\" priority 0; policy accept;\n    \
             ether type {SLOW_PROTOCOLS} counter drop\n  }}\n}}\n"
        );
        ns.run_ok(&["nft", &rules]);
    } else if !block && present {
        ns.run_ok(&["nft", "delete", "table", "netdev", &table]);
    }
}

/// Frames the egress filter of `ifname` has dropped so far (0 without one).
pub(crate) fn dropped(ns: &Netns, ifname: &str) -> u64 {
    let out = ns.exec(&["nft", "list", "table", "netdev", &table(ifname)]);
    // "ether type 0x8809 counter packets 17 bytes 2108 drop"
    String::from_utf8_lossy(&out.stdout)
        .split("counter packets ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
