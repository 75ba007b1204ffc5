//! An Established peer fed arbitrary octets: no panic in the FSM.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bgp::fuzzing::check_peer(std::time::Instant::now(), data);
});
