//! Control packet decoder: no panic, lossless re-encode.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bfd::fuzzing::check_decode(data);
});
