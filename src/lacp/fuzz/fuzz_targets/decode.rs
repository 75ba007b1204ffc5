//! Slow Protocols frame, LACPDU and Marker PDU decoders: no panic, lossless re-encode.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lacp::fuzzing::check_decode(data);
});
