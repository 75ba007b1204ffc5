//! The in-memory gateway benchmark's cases (d) at a small size: every case checks that its
//! frames were translated, so the benchmark measures what it says. The benchmark's own entry
//! point is not run here, hence `dead_code`.

use std::time::Duration;

#[allow(dead_code)]
#[path = "../benches/pipeline/measure.rs"]
mod measure;

#[allow(dead_code)]
#[path = "../benches/pipeline/gateway.rs"]
mod gateway;

use gateway::{addrs_for, established, fullnat, fullnat_new, new_sessions, share};

/// Every case with one worker and as worker 0 of two.
#[test]
fn every_case_translates_its_frames() {
    let ms = Duration::from_millis(1);
    for workers in [1, 2] {
        established(300, workers, false, ms, || 0);
        established(300, workers, true, ms, || 0);
        new_sessions(300, workers, || 0);
        fullnat(300, workers, true, ms, || 0);
        fullnat_new(300, workers, || 0);
    }
}

#[test]
fn pools_cover_worker_zeros_share() {
    assert_eq!(share(1), 64512);
    assert_eq!(share(2), 32256);
    assert_eq!(addrs_for(1_000_000, 1), 17);
    assert_eq!(addrs_for(1_000_000, 2), 33);
}
