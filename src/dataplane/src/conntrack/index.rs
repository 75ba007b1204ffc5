//! The open-addressing index from flow keys to entries: linear probing over 8-byte slots, each
//! holding the low 32 bits of the key's hash (the home position is those bits masked, the rest
//! filters out most mismatches without touching the entry) and the entry number with the
//! direction in its low bit. Deletion shifts later slots back (Knuth's algorithm R), so there
//! are no tombstones and probe lengths never degrade with churn.

use super::state::Dir;
pub use crate::prefetch::prefetch;
use crate::tables::{self, AllocError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub hash: u32,
    /// `entry << 1 | dir`, or [`Slot::EMPTY`].
    pub tagged: u32,
}

impl Slot {
    pub const EMPTY_TAG: u32 = u32::MAX;
    pub const EMPTY: Slot = Slot {
        hash: 0,
        tagged: Slot::EMPTY_TAG,
    };

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.tagged == Slot::EMPTY_TAG
    }

    #[inline(always)]
    pub fn entry(&self) -> u32 {
        self.tagged >> 1
    }

    #[inline(always)]
    pub fn dir(&self) -> Dir {
        if self.tagged & 1 == 0 {
            Dir::Original
        } else {
            Dir::Reply
        }
    }
}

pub struct Index {
    slots: Box<[Slot]>,
    mask: u32,
}

impl Index {
    /// An index for `keys` keys at a load factor of at most one half.
    pub fn with_keys(keys: usize) -> Index {
        Index::try_with_keys(keys).expect("conntrack index")
    }

    /// [`Index::with_keys`], or an error when the memory cannot be had.
    pub fn try_with_keys(keys: usize) -> Result<Index, AllocError> {
        let n = Index::slots_for(keys);
        Ok(Index {
            slots: tables::boxed("conntrack index", n, Slot::EMPTY)?,
            mask: (n - 1) as u32,
        })
    }

    fn slots_for(keys: usize) -> usize {
        keys.saturating_mul(2).next_power_of_two().max(16)
    }

    /// The memory [`Index::with_keys`] takes.
    pub fn bytes_for(keys: usize) -> u64 {
        tables::bytes_of::<Slot>(Index::slots_for(keys))
    }

    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    pub fn bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }

    /// Starts loading the home slot of `hash` into the cache, so a lookup a few packets later
    /// finds it there (the batch's lookups overlap their memory latency).
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[(hash as u32 & self.mask) as usize]);
    }

    /// The entry of the first slot on `hash`'s probe sequence with the same hash, if any: a
    /// likely match, worth prefetching (the real check is [`Index::find`]'s).
    #[inline(always)]
    pub fn first_candidate(&self, hash: u64) -> Option<u32> {
        let h = hash as u32;
        let mut pos = h & self.mask;
        loop {
            let s = self.slots[pos as usize];
            if s.is_empty() {
                return None;
            }
            if s.hash == h {
                return Some(s.entry());
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// Walks the probe sequence of `hash`, calling `is_match` on each candidate with the same
    /// hash; returns the first it accepts.
    #[inline(always)]
    pub fn find(
        &self,
        hash: u64,
        mut is_match: impl FnMut(u32, Dir) -> bool,
    ) -> Option<(u32, Dir)> {
        let h = hash as u32;
        let mut pos = h & self.mask;
        loop {
            let s = self.slots[pos as usize];
            if s.is_empty() {
                return None;
            }
            if s.hash == h && is_match(s.entry(), s.dir()) {
                return Some((s.entry(), s.dir()));
            }
            pos = (pos + 1) & self.mask;
        }
    }

    pub fn insert(&mut self, hash: u64, entry: u32, dir: Dir) {
        let h = hash as u32;
        let mut pos = h & self.mask;
        while !self.slots[pos as usize].is_empty() {
            pos = (pos + 1) & self.mask;
        }
        self.slots[pos as usize] = Slot {
            hash: h,
            tagged: (entry << 1) | dir as u32,
        };
    }

    /// Removes the slot pointing at (`entry`, `dir`), which must exist under `hash`.
    pub fn remove(&mut self, hash: u64, entry: u32, dir: Dir) {
        let tagged = (entry << 1) | dir as u32;
        let mut i = hash as u32 & self.mask;
        while self.slots[i as usize].tagged != tagged {
            debug_assert!(!self.slots[i as usize].is_empty(), "removing a missing key");
            if self.slots[i as usize].is_empty() {
                return;
            }
            i = (i + 1) & self.mask;
        }
        // Backward shift: move up every later slot of the cluster whose home is not between the
        // hole and itself, so every key stays reachable from its home without tombstones.
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let s = self.slots[j as usize];
            if s.is_empty() {
                break;
            }
            let home = s.hash & self.mask;
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(i) & self.mask) {
                self.slots[i as usize] = s;
                i = j;
            }
        }
        self.slots[i as usize] = Slot::EMPTY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_keys_survive_removals() {
        let mut idx = Index::with_keys(8);
        let mask = u64::from(idx.mask);
        // Five keys with the same home, one with the next home, interleaved removals.
        let hashes: Vec<u64> = (0..5u64).map(|i| (i << 32) | 3).chain([4]).collect();
        for (e, h) in hashes.iter().enumerate() {
            idx.insert(*h, e as u32, Dir::Original);
        }
        idx.remove(hashes[1], 1, Dir::Original);
        idx.remove(hashes[0], 0, Dir::Original);
        for (e, h) in hashes.iter().enumerate().skip(2) {
            assert_eq!(
                idx.find(*h, |c, _| c == e as u32),
                Some((e as u32, Dir::Original)),
                "entry {e} (mask {mask})"
            );
        }
        assert_eq!(idx.find(hashes[0], |c, _| c == 0), None);
    }

    #[test]
    fn wraps_around_the_end() {
        let mut idx = Index::with_keys(8);
        let last = u64::from(idx.mask);
        for e in 0..4 {
            idx.insert(last, e, Dir::Reply);
        }
        idx.remove(last, 0, Dir::Reply);
        for e in 1..4 {
            assert_eq!(idx.find(last, |c, _| c == e), Some((e, Dir::Reply)));
        }
    }
}
