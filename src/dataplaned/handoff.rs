//! Single-producer single-consumer rings that carry frames between workers, for frames that land
//! on a worker that does not own their flow (the kernel redirects a frame only to the socket of
//! the queue it arrived on, and veth has no flow steering; DPVS calls this "conn redirect").
//!
//! Slots are fixed-size buffers allocated once; a push copies the frame in, the consumer
//! processes it in place. Head and tail are on separate cache lines so producer and consumer
//! do not false-share.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Largest frame carried (a standard MTU frame fits).
pub const SLOT_BYTES: usize = 2048;

struct Slot {
    len: usize,
    data: [u8; SLOT_BYTES],
}

#[repr(align(64))]
struct Index(AtomicUsize);

struct Ring {
    slots: Box<[UnsafeCell<Slot>]>,
    mask: usize,
    /// Next slot the producer writes (written by the producer only).
    head: Index,
    /// Next slot the consumer reads (written by the consumer only).
    tail: Index,
}

// SAFETY: a slot is accessed by the producer only while it is outside [tail, head) and by the
// consumer only while inside it; the release/acquire pairs on head and tail hand each slot over.
unsafe impl Sync for Ring {}
// SAFETY: as above; the ring owns plain bytes.
unsafe impl Send for Ring {}

pub struct Producer {
    ring: Arc<Ring>,
}

pub struct Consumer {
    ring: Arc<Ring>,
}

/// A ring of `capacity` (a power of two) frames.
pub fn ring(capacity: usize) -> (Producer, Consumer) {
    assert!(capacity.is_power_of_two());
    let slots = (0..capacity)
        .map(|_| {
            UnsafeCell::new(Slot {
                len: 0,
                data: [0; SLOT_BYTES],
            })
        })
        .collect();
    let ring = Arc::new(Ring {
        slots,
        mask: capacity - 1,
        head: Index(AtomicUsize::new(0)),
        tail: Index(AtomicUsize::new(0)),
    });
    (Producer { ring: ring.clone() }, Consumer { ring })
}

impl Producer {
    /// Copies `frame` in; `false` if the ring is full or the frame too large (the caller counts
    /// the drop).
    pub fn push(&mut self, frame: &[u8]) -> bool {
        let r = &*self.ring;
        let head = r.head.0.load(Ordering::Relaxed);
        let tail = r.tail.0.load(Ordering::Acquire);
        if head.wrapping_sub(tail) > r.mask || frame.len() > SLOT_BYTES {
            return false;
        }
        // SAFETY: slot `head` is outside [tail, head): only the producer touches it until the
        // release store below publishes it.
        let slot = unsafe { &mut *r.slots[head & r.mask].get() };
        slot.data[..frame.len()].copy_from_slice(frame);
        slot.len = frame.len();
        r.head.0.store(head.wrapping_add(1), Ordering::Release);
        true
    }
}

impl Consumer {
    /// Hands up to `max` frames, in order, to `f` as (slot buffer, frame length): `f` may
    /// rewrite a frame in place and grow it into the rest of the slot. Returns how many.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(&mut [u8], usize)) -> usize {
        let r = &*self.ring;
        let tail = r.tail.0.load(Ordering::Relaxed);
        let head = r.head.0.load(Ordering::Acquire);
        let n = head.wrapping_sub(tail).min(max);
        for i in 0..n {
            // SAFETY: slots in [tail, head) were published by the producer's release store and
            // are the consumer's until the tail store below.
            let slot = unsafe { &mut *r.slots[tail.wrapping_add(i) & r.mask].get() };
            let len = slot.len;
            f(&mut slot.data[..], len);
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

impl dataplane::batch::HandedOver for Consumer {
    #[inline]
    fn drain(&mut self, max: usize, f: impl FnMut(&mut [u8], usize)) -> usize {
        Consumer::drain(self, max, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_and_oversize() {
        let (mut p, mut c) = ring(4);
        for i in 0..4u8 {
            assert!(p.push(&[i; 3]));
        }
        assert!(!p.push(&[9]), "full");
        assert!(!p.push(&[0; SLOT_BYTES + 1]));
        let mut got = vec![];
        assert_eq!(c.drain(2, |f, _| got.push(f[0])), 2);
        assert!(p.push(&[4]));
        c.drain(10, |f, _| got.push(f[0]));
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert!(c.is_empty());
    }

    #[test]
    fn across_threads_in_order() {
        let (mut p, mut c) = ring(64);
        let n = 100_000u32;
        let t = std::thread::spawn(move || {
            let mut i = 0u32;
            while i < n {
                if p.push(&i.to_le_bytes()) {
                    i += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0u32;
        while next < n {
            c.drain(64, |f, len| {
                assert_eq!(u32::from_le_bytes(f[..len].try_into().unwrap()), next);
                next += 1;
            });
        }
        t.join().unwrap();
    }
}
