//! Datagram decoder: no panic, lossless re-encode (as is, and re-signed to reach the records).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    session_sync::fuzzing::check_decode(data);
});
