//! The crate's one `unsafe`: a cache-prefetch hint. The worker prepares a group of frames and
//! prefetches their conntrack slots before processing them, which hides most of a cache miss per
//! packet at a million flows (see docs/benchmarks.md, (d)). `std` has no safe prefetch.

#![allow(unsafe_code)]

/// Hints the CPU to start loading `v`'s cache line.
#[inline(always)]
pub fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let p: *const T = v;
        // SAFETY: SSE is part of the x86_64 baseline, so the instruction exists on every CPU
        // this code runs on; a prefetch only hints the cache, never faults, and the address is
        // of a live value anyway.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}
