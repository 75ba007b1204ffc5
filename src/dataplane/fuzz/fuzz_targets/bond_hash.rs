//! The bond's transmit hash on arbitrary bytes (it reads every frame a bond sends, the host's
//! from the tap included): no panic, the same answer twice, a member always chosen among the
//! distributing ones; and the ARP monitor's check on the same bytes.
#![no_main]

use std::net::Ipv4Addr;

use dataplane::bond::{frame_hash, is_arp_from, Distributor, XmitHash};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mask = data.first().map_or(0, |&b| u64::from(b));
    let d = Distributor::new(4, mask);
    for p in [XmitHash::L2, XmitHash::L23, XmitHash::L34] {
        let h = frame_hash(data, p);
        assert_eq!(h, frame_hash(data, p));
        match d.pick(h) {
            Some(m) => assert!(m < 4 && mask & 1 << m != 0),
            None => assert_eq!(mask & 0xf, 0),
        }
    }
    let _ = is_arp_from(data, Ipv4Addr::new(198, 18, 0, 1));
});
