//! A two-port bond fed carrier changes, frames and time steps: no panic, invariants hold,
//! every frame it sends decodes, at most three LACPDUs a second per port.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lacp::fuzzing::check_bond(data);
});
