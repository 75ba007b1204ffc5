//! The in-memory direct-return benchmark's cases (e) at a small size: each checks what its
//! frames became, so the benchmark measures what it says.

use std::time::Duration;

#[allow(dead_code)]
#[path = "../benches/pipeline/measure.rs"]
mod measure;

#[allow(dead_code)]
#[path = "../benches/pipeline/gateway.rs"]
mod gateway;

#[allow(dead_code)]
#[path = "../benches/pipeline/direct.rs"]
mod direct;

use dataplane::snapshot::Direct;

#[test]
fn every_mode_forwards_its_frames() {
    for d in [
        None,
        Some(Direct::Routing),
        Some(Direct::Tunnel { source: None }),
    ] {
        direct::cases(d, 300, Duration::from_millis(1), || 0);
    }
}
