//! An endpoint fed datagrams and time steps: no panic, what it sends decodes, bounds hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    session_sync::fuzzing::check_endpoint(data);
});
