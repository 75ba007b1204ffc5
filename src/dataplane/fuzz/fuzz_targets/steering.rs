//! The steering rules on arbitrary bytes, against the `frame` target's snapshots: no panic,
//! and bytes behind a frame never take it away from the fast path (the XDP program reads
//! fields only where the frame has them, so more bytes can only let more reads succeed).
#![no_main]

use std::sync::OnceLock;

use dataplane::steering::owns;
use dataplane_fuzz::World;
use libfuzzer_sys::fuzz_target;

static WORLD: OnceLock<World> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let w = WORLD.get_or_init(World::new);
    for snap in &w.snaps {
        if owns(snap, data) {
            let mut padded = data.to_vec();
            padded.extend_from_slice(&[0xff; 64]);
            assert!(owns(snap, &padded), "trailing bytes changed the answer");
        }
    }
});
