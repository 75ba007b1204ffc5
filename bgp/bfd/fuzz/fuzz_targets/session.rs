//! A session fed datagrams and time steps: no panic, every packet it sends decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bfd::fuzzing::check_session(data);
});
