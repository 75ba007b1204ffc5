//! The four single-producer single-consumer rings the kernel shares with an AF_XDP socket
//! (fill, completion, RX, TX), mapped from the socket. Producer and consumer indices are free-
//! running u32s; the kernel reads ours with acquire semantics, so ours are published with
//! release stores after the descriptors are written (and theirs read with acquire loads before
//! descriptors are read), as in libxdp's `xsk.h`.

use std::sync::atomic::{AtomicU32, Ordering};

pub struct Ring<T: Copy> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    descs: *mut T,
    mask: u32,
    size: u32,
    /// Our view of the other side's index, refreshed only when needed (saves cache traffic).
    cached_prod: u32,
    cached_cons: u32,
    map: *mut libc::c_void,
    map_len: usize,
}

// SAFETY: the ring is used by one thread at a time (the worker that owns the socket); the raw
// pointers point into a mapping owned by the ring and released in Drop.
unsafe impl<T: Copy> Send for Ring<T> {}

impl<T: Copy> Ring<T> {
    /// Takes ownership of a ring mapping.
    ///
    /// # Safety
    /// `map` must be a live mapping of `map_len` bytes for this ring, with the producer,
    /// consumer and flags words and `size` descriptors of `T` at the given offsets, as the kernel
    /// reported them in `XDP_MMAP_OFFSETS`; `size` must be a power of two.
    pub unsafe fn from_mapping(
        map: *mut libc::c_void,
        map_len: usize,
        off: &libc::xdp_ring_offset,
        size: u32,
    ) -> Ring<T> {
        let base = map as *mut u8;
        // SAFETY: the offsets lie within the mapping (caller's contract).
        unsafe {
            let producer = base.add(off.producer as usize) as *const AtomicU32;
            let consumer = base.add(off.consumer as usize) as *const AtomicU32;
            Ring {
                producer,
                consumer,
                flags: base.add(off.flags as usize) as *const AtomicU32,
                descs: base.add(off.desc as usize) as *mut T,
                mask: size - 1,
                size,
                cached_prod: (*producer).load(Ordering::Relaxed),
                cached_cons: (*consumer).load(Ordering::Relaxed),
                map,
                map_len,
            }
        }
    }

    fn prod(&self) -> &AtomicU32 {
        // SAFETY: points into our live mapping; the kernel only accesses it atomically.
        unsafe { &*self.producer }
    }

    fn cons(&self) -> &AtomicU32 {
        // SAFETY: as `prod`.
        unsafe { &*self.consumer }
    }

    /// The ring's flags word (`XDP_RING_NEED_WAKEUP`).
    pub fn needs_wakeup(&self) -> bool {
        // SAFETY: as `prod`.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    // --- producer side (fill, TX) ---

    /// Free slots, at most `want` checked precisely.
    pub fn free(&mut self, want: u32) -> u32 {
        let free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free >= want {
            return free;
        }
        self.cached_cons = self.cons().load(Ordering::Acquire);
        self.size - self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Writes the `i`th descriptor after the last submitted one; the caller checked `free`.
    pub fn put(&mut self, i: u32, v: T) {
        let at = (self.cached_prod.wrapping_add(i) & self.mask) as usize;
        // SAFETY: `at` is within the ring's `size` descriptors; the slot is ours until submitted.
        unsafe { self.descs.add(at).write(v) }
    }

    pub fn submit(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_add(n);
        self.prod().store(self.cached_prod, Ordering::Release);
    }

    /// Descriptors submitted that the other side has not consumed yet.
    pub fn outstanding(&mut self) -> u32 {
        self.cached_cons = self.cons().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    // --- consumer side (RX, completion) ---

    /// Descriptors ready to read.
    pub fn ready(&mut self) -> u32 {
        self.cached_prod = self.prod().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// The `i`th ready descriptor; the caller checked `ready`.
    pub fn get(&self, i: u32) -> T {
        let at = (self.cached_cons.wrapping_add(i) & self.mask) as usize;
        // SAFETY: within the ring; the kernel published it before moving its producer index.
        unsafe { self.descs.add(at).read() }
    }

    pub fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.cons().store(self.cached_cons, Ordering::Release);
    }
}

impl<T: Copy> Drop for Ring<T> {
    fn drop(&mut self) {
        // SAFETY: we own this mapping and nothing refers to it after drop.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}
