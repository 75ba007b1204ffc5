//! A single-producer single-consumer ring of plain values, allocated once: what the workers
//! and the session-sync thread exchange (flow changes one way, a peer's records the other),
//! so neither ever waits for the other or allocates on the packet path.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[repr(align(64))]
struct Index(AtomicUsize);

struct Ring<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// Next slot the producer writes (written by the producer only).
    head: Index,
    /// Next slot the consumer reads (written by the consumer only).
    tail: Index,
}

// SAFETY: a slot is written by the producer only while it is outside [tail, head) and read by
// the consumer only while inside it; the release/acquire pairs on head and tail hand each slot
// over. `T: Copy` values have no drop to run twice or forget.
unsafe impl<T: Copy + Send> Sync for Ring<T> {}
// SAFETY: as above.
unsafe impl<T: Copy + Send> Send for Ring<T> {}

pub struct Producer<T> {
    ring: Arc<Ring<T>>,
}

pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
}

/// A ring of `capacity` values (rounded up to a power of two).
pub fn ring<T: Copy + Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let n = capacity.max(2).next_power_of_two();
    let slots = (0..n)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let ring = Arc::new(Ring {
        slots,
        mask: n - 1,
        head: Index(AtomicUsize::new(0)),
        tail: Index(AtomicUsize::new(0)),
    });
    (Producer { ring: ring.clone() }, Consumer { ring })
}

impl<T: Copy + Send> Producer<T> {
    /// Appends `v`; `false` when the ring is full (the caller counts the loss).
    pub fn push(&mut self, v: T) -> bool {
        let r = &*self.ring;
        let head = r.head.0.load(Ordering::Relaxed);
        let tail = r.tail.0.load(Ordering::Acquire);
        if head.wrapping_sub(tail) > r.mask {
            return false;
        }
        // SAFETY: slot `head` is outside [tail, head): only the producer touches it until the
        // release store below publishes it.
        unsafe { (*r.slots[head & r.mask].get()).write(v) };
        r.head.0.store(head.wrapping_add(1), Ordering::Release);
        true
    }

    /// Values waiting for the consumer.
    pub fn len(&self) -> usize {
        let r = &*self.ring;
        r.head
            .0
            .load(Ordering::Relaxed)
            .wrapping_sub(r.tail.0.load(Ordering::Acquire))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Copy + Send> Consumer<T> {
    /// Hands up to `max` values, oldest first, to `f`; returns how many.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(T)) -> usize {
        let r = &*self.ring;
        let tail = r.tail.0.load(Ordering::Relaxed);
        let head = r.head.0.load(Ordering::Acquire);
        let n = head.wrapping_sub(tail).min(max);
        for i in 0..n {
            // SAFETY: slots in [tail, head) were written and published by the producer's
            // release store, and stay the consumer's until the tail store below.
            let v = unsafe { (*r.slots[tail.wrapping_add(i) & r.mask].get()).assume_init() };
            f(v);
        }
        if n > 0 {
            r.tail.0.store(tail.wrapping_add(n), Ordering::Release);
        }
        n
    }

    pub fn is_empty(&self) -> bool {
        let r = &*self.ring;
        r.head.0.load(Ordering::Acquire) == r.tail.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_full() {
        let (mut p, mut c) = ring::<u32>(4);
        for i in 0..4 {
            assert!(p.push(i));
        }
        assert!(!p.push(9), "full");
        assert_eq!(p.len(), 4);
        let mut got = vec![];
        assert_eq!(c.drain(3, |v| got.push(v)), 3);
        assert!(p.push(4));
        c.drain(10, |v| got.push(v));
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert!(c.is_empty() && p.is_empty());
    }

    #[test]
    fn across_threads_in_order() {
        let (mut p, mut c) = ring::<u64>(64);
        let n = 200_000u64;
        let t = std::thread::spawn(move || {
            let mut i = 0;
            while i < n {
                if p.push(i) {
                    i += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0;
        while next < n {
            c.drain(64, |v| {
                assert_eq!(v, next);
                next += 1;
            });
        }
        t.join().unwrap();
    }
}
