//! Arbitrary frames, raw or patched from templates, through a pipeline that already holds
//! flows of every kind: no panic, and a frame that arrives with valid checksums leaves with
//! valid checksums.
#![no_main]

use std::sync::OnceLock;

use dataplane_fuzz::World;
use libfuzzer_sys::fuzz_target;

static WORLD: OnceLock<World> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    dataplane_fuzz::run(WORLD.get_or_init(World::new), data);
});
