//! The half-open TCP check's reply parser on arbitrary datagrams of a raw socket (IPv4 with
//! its header, IPv6 without): no panic; and a SYN built from the input's first octets parses
//! back to its own ports and flags.
#![no_main]

use std::net::IpAddr;

use health::wire::tcp::{parse_reply, syn, SYN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for v6 in [false, true] {
        let _ = parse_reply(v6, data);
    }
    let Some(f) = data.get(..10) else { return };
    let (sport, dport) = (
        u16::from_be_bytes([f[0], f[1]]),
        u16::from_be_bytes([f[2], f[3]]),
    );
    let isn = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
    let (src, dst): (IpAddr, IpAddr) = if f[8] & 1 == 0 {
        ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap())
    } else {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    };
    let v6 = src.is_ipv6();
    let packet = syn(src, sport, dst, dport, isn).expect("one family");
    // An IPv6 raw socket delivers the segment without the 40-octet header.
    let delivered = if v6 { &packet[40..] } else { &packet[..] };
    let r = parse_reply(v6, delivered).expect("our own SYN parses");
    // A SYN acknowledges nothing: its Acknowledgment Number is zero.
    assert_eq!(
        (r.source_port, r.destination_port, r.ack, r.flags),
        (sport, dport, 0, SYN)
    );
});
