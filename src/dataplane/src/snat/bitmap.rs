//! A fixed set of numbered slots (a worker's ports on one external address), free or taken,
//! with allocation that never scans the whole set: one bit per slot, and a summary word per 64
//! slot words with a bit set for each word that still has a free slot. Finding a free slot
//! looks at summary words (at most 16 for the 65,536 ports of an address), then one slot word.
//!
//! The search starts at a cursor that moves on after every allocation, so a port just freed is
//! handed out again only after the cursor has gone round: a remote host that still holds the
//! old connection in TIME_WAIT is unlikely to see the same four-tuple reused at once.

/// Slots of one bitmap; a set bit is a free slot.
#[derive(Debug, Clone)]
pub struct Bitmap {
    words: Box<[u64]>,
    summary: Box<[u64]>,
    len: u32,
    free: u32,
    /// Slot word where the next search starts.
    cursor: u32,
}

impl Bitmap {
    /// `len` slots, all free.
    pub fn new(len: u32) -> Bitmap {
        let nwords = (len as usize).div_ceil(64);
        let mut words = vec![u64::MAX; nwords].into_boxed_slice();
        if len % 64 != 0 {
            words[nwords - 1] = (1u64 << (len % 64)) - 1;
        }
        let nsum = nwords.div_ceil(64);
        let mut summary = vec![u64::MAX; nsum].into_boxed_slice();
        if nwords % 64 != 0 {
            summary[nsum - 1] = (1u64 << (nwords % 64)) - 1;
        }
        Bitmap {
            words,
            summary,
            len,
            free: len,
            cursor: 0,
        }
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn free(&self) -> u32 {
        self.free
    }

    pub fn used(&self) -> u32 {
        self.len - self.free
    }

    pub fn is_free(&self, slot: u32) -> bool {
        slot < self.len && self.words[slot as usize / 64] & (1 << (slot % 64)) != 0
    }

    /// Takes a free slot, or `None` when all are taken.
    pub fn take(&mut self) -> Option<u32> {
        if self.free == 0 {
            return None;
        }
        let w = self.next_word_with_free(self.cursor as usize)?;
        let bit = self.words[w].trailing_zeros();
        let slot = w as u32 * 64 + bit;
        self.clear(slot);
        self.cursor = if w + 1 == self.words.len() {
            0
        } else {
            w as u32 + 1
        };
        Some(slot)
    }

    /// Takes a particular slot (when rebuilding from live flows); false if it was taken.
    pub fn take_slot(&mut self, slot: u32) -> bool {
        if !self.is_free(slot) {
            return false;
        }
        self.clear(slot);
        true
    }

    /// Frees a slot; false (and nothing changes) if it was free already or out of range.
    pub fn release(&mut self, slot: u32) -> bool {
        if slot >= self.len || self.is_free(slot) {
            return false;
        }
        let w = slot as usize / 64;
        self.words[w] |= 1 << (slot % 64);
        self.summary[w / 64] |= 1 << (w % 64);
        self.free += 1;
        true
    }

    fn clear(&mut self, slot: u32) {
        let w = slot as usize / 64;
        self.words[w] &= !(1 << (slot % 64));
        if self.words[w] == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
        self.free -= 1;
    }

    /// The first slot word at or after `from` (wrapping) with a free slot, by its summary bit.
    fn next_word_with_free(&self, from: usize) -> Option<usize> {
        let n = self.summary.len();
        let (first, bit) = (from / 64, from % 64);
        // The summary word holding `from`, from its bit on; then the others in order; then the
        // bits below `from` in the first word again.
        let masked = self.summary[first] & (u64::MAX << bit);
        if masked != 0 {
            return Some(first * 64 + masked.trailing_zeros() as usize);
        }
        for k in 1..=n {
            let s = (first + k) % n;
            let word = if s == first {
                self.summary[s] & !(u64::MAX << bit)
            } else {
                self.summary[s]
            };
            if word != 0 {
                return Some(s * 64 + word.trailing_zeros() as usize);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn takes_every_slot_once_then_none() {
        for len in [1u32, 63, 64, 65, 4097, 64_512] {
            let mut b = Bitmap::new(len);
            let mut seen = vec![false; len as usize];
            for _ in 0..len {
                let s = b.take().unwrap();
                assert!(!seen[s as usize], "slot {s} twice");
                seen[s as usize] = true;
            }
            assert_eq!(b.take(), None);
            assert_eq!(b.free(), 0);
            assert!(b.release(len - 1));
            assert!(!b.release(len - 1), "double release");
            assert!(!b.release(len), "out of range");
            assert_eq!(b.take(), Some(len - 1));
        }
    }

    #[test]
    fn cursor_delays_reuse() {
        let mut b = Bitmap::new(256);
        let first = b.take().unwrap();
        b.release(first);
        // The next allocations come from the following words, not the slot just freed.
        let next: Vec<u32> = (0..3).map(|_| b.take().unwrap()).collect();
        assert!(!next.contains(&first), "{next:?}");
    }

    #[test]
    fn take_slot_and_used() {
        let mut b = Bitmap::new(100);
        assert!(b.take_slot(99));
        assert!(!b.take_slot(99));
        assert!(!b.take_slot(100));
        assert_eq!(b.used(), 1);
        assert!(!b.is_free(99));
    }

    proptest! {
        /// Against a model: a free slot is never handed out twice and `take` fails only when
        /// every slot is taken.
        #[test]
        fn matches_a_model(len in 1u32..700, ops in proptest::collection::vec(any::<(bool, u16)>(), 0..400)) {
            let mut b = Bitmap::new(len);
            let mut taken = std::collections::BTreeSet::new();
            for (take, n) in ops {
                if take {
                    match b.take() {
                        Some(s) => prop_assert!(taken.insert(s)),
                        None => prop_assert_eq!(taken.len() as u32, len),
                    }
                } else {
                    let s = u32::from(n) % len;
                    prop_assert_eq!(b.release(s), taken.remove(&s));
                }
                prop_assert_eq!(b.used() as usize, taken.len());
            }
        }
    }
}
