//! Frames in memory standing in for a worker's AF_XDP sockets: [`MemoryQueue`] feeds
//! [`WorkerLoop`](crate::batch::WorkerLoop) copies of template frames, as a NIC would deliver
//! them into UMEM chunks, so that the in-memory benchmarks run the worker's own packet path.

use crate::batch::{Queues, BATCH};

/// A slot's size: the largest frame the benchmarks send (88 bytes) and room behind it for the
/// tunnel headers a reply into a GRE tunnel gets.
pub const SLOT: usize = 128;

/// Frames of one length, back to back.
#[derive(Clone)]
pub struct Frames {
    data: Vec<u8>,
    len: usize,
}

impl Frames {
    /// Room for `n` frames of `len` bytes.
    pub fn new(len: usize, n: usize) -> Frames {
        Frames {
            data: Vec::with_capacity(len * n),
            len,
        }
    }

    pub fn push(&mut self, f: &[u8]) {
        assert_eq!(f.len(), self.len);
        self.data.extend_from_slice(f);
    }

    /// The length of every frame.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn count(&self) -> usize {
        self.data.len() / self.len
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn get(&self, i: usize) -> &[u8] {
        &self.data[i * self.len..(i + 1) * self.len] // wire-offsets: not a header
    }

    /// The frames in a fixed pseudo-random order ([`shuffled_order`]), groups of `group`
    /// frames kept together: sessions were opened in order, so their entries sit in order;
    /// shuffled, every entry is a cache miss.
    pub fn shuffled(&self, group: usize) -> Frames {
        let order = shuffled_order(self.count() / group);
        let mut out = Frames::new(self.len, self.count());
        for g in order {
            for k in 0..group {
                out.push(self.get(g * group + k));
            }
        }
        out
    }
}

/// `0..n` in a fixed pseudo-random order (Fisher-Yates with xorshift64), the same every run.
pub fn shuffled_order(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// A received frame of a [`MemoryQueue`]: its slot and length.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub index: usize,
    pub len: usize,
}

/// One receive queue whose frames are copies of `templates`, one pass over them at a time,
/// into [`BATCH`] slots of [`SLOT`] bytes. Its memory is every interface's
/// ([`Queues::SHARED_MEMORY`]): each transmitted frame is sent in place and counted.
pub struct MemoryQueue<'a> {
    templates: &'a Frames,
    next: usize,
    slots: Vec<[u8; SLOT]>,
    /// Frames transmitted.
    pub sent: u64,
    /// The last frame transmitted, as it was sent (its slot is reused by the next receive).
    pub last_sent: Option<Slot>,
}

impl<'a> MemoryQueue<'a> {
    pub fn new(templates: &'a Frames) -> MemoryQueue<'a> {
        assert!(templates.len() <= SLOT, "a frame larger than a slot");
        MemoryQueue {
            templates,
            next: 0,
            slots: vec![[0; SLOT]; BATCH],
            sent: 0,
            last_sent: None,
        }
    }

    /// Frames left in this pass.
    pub fn remaining(&self) -> usize {
        self.templates.count() - self.next
    }

    /// Starts the next pass over the templates.
    pub fn rewind(&mut self) {
        self.next = 0;
    }

    /// The bytes of the last frame transmitted.
    pub fn last_sent(&self) -> Option<&[u8]> {
        self.last_sent.map(|s| self.bytes(s))
    }

    /// The bytes of a frame (until its slot is reused).
    pub fn bytes(&self, s: Slot) -> &[u8] {
        &self.slots[s.index][..s.len]
    }

    /// The first `n` slots, each cut to the templates' length: the frames of the last
    /// [`Queues::receive`] of `n`, for a caller that processes them as one batch.
    pub fn received_mut(&mut self, n: usize) -> impl Iterator<Item = &mut [u8]> {
        let len = self.templates.len();
        self.slots[..n].iter_mut().map(move |s| &mut s[..len])
    }
}

impl Queues for MemoryQueue<'_> {
    type Frame = Slot;
    const SHARED_MEMORY: bool = true;

    fn count(&self) -> usize {
        1
    }

    fn iface(&self, _q: usize) -> u16 {
        0
    }

    #[inline]
    fn receive(&mut self, _q: usize, into: &mut [Slot]) -> usize {
        let len = self.templates.len();
        let n = self.remaining().min(into.len()).min(self.slots.len());
        let from = &self.templates.data[self.next * len..(self.next + n) * len];
        let frames = from.chunks_exact(len);
        for (k, ((slot, d), f)) in self
            .slots
            .iter_mut()
            .zip(into.iter_mut())
            .zip(frames)
            .enumerate()
        {
            slot[..len].copy_from_slice(f);
            *d = Slot { index: k, len };
        }
        self.next += n;
        n
    }

    #[inline]
    fn len(frame: &Slot) -> usize {
        frame.len
    }

    #[inline]
    fn frame(&mut self, _q: usize, f: Slot) -> &[u8] {
        &self.slots[f.index][..f.len]
    }

    #[inline]
    fn frame_room(&mut self, _q: usize, f: Slot) -> &mut [u8] {
        &mut self.slots[f.index]
    }

    #[inline]
    fn transmit(&mut self, _q: usize, f: Slot, len: usize) -> bool {
        self.sent += 1;
        self.last_sent = Some(Slot {
            index: f.index,
            len,
        });
        true
    }

    #[inline]
    fn recycle(&mut self, _q: usize, _f: Slot) {}

    /// Never called: with one memory for every interface nothing is copied.
    fn transmit_copy(&mut self, _iface: u16, _bytes: &[u8]) -> bool {
        false
    }
}
