//! Endpoint-independent mappings (RFC 4787 REQ-1 for UDP, RFC 5382 REQ-1 for TCP): an inside
//! endpoint (tunnel, address, port, protocol) keeps one external address and port for every
//! destination it talks to, as long as at least one of its flows lives. Each flow holds a
//! reference; the port goes back to the pool when the last one ends.
//!
//! A fixed-size open-addressing table with linear probing and backward-shift deletion, sized
//! once at start for as many mappings as the worker has conntrack entries (every mapping has a
//! flow), so it never grows and never fills before the conntrack does.

use std::net::Ipv4Addr;

use crate::flow::mix2;
use crate::tables::{self, AllocError};
use crate::wire::Address;

/// An inside endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inside {
    pub zone: u16,
    pub proto: u8,
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl Default for Inside {
    fn default() -> Self {
        Inside {
            zone: 0,
            proto: 0,
            addr: Ipv4Addr::UNSPECIFIED,
            port: 0,
        }
    }
}

impl Inside {
    fn hash(&self, seed: u64) -> u64 {
        mix2(
            self.addr.hash_word() << 16 | u64::from(self.port),
            u64::from(self.zone) << 8 | u64::from(self.proto),
            seed,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Slot {
    inside: Inside,
    ext_addr: u32,
    ext_port: u16,
    /// Flows using the mapping; 0 marks an empty slot.
    refs: u32,
}

pub struct Mappings {
    slots: Box<[Slot]>,
    mask: usize,
    seed: u64,
    len: usize,
}

impl Mappings {
    pub fn new(capacity: usize, seed: u64) -> Mappings {
        Mappings::try_new(capacity, seed).expect("SNAT mappings")
    }

    /// [`Mappings::new`], or an error when the memory cannot be had.
    pub fn try_new(capacity: usize, seed: u64) -> Result<Mappings, AllocError> {
        let n = Mappings::slots_for(capacity);
        Ok(Mappings {
            slots: tables::boxed("SNAT mappings", n, Slot::default())?,
            mask: n - 1,
            seed,
            len: 0,
        })
    }

    fn slots_for(capacity: usize) -> usize {
        capacity.saturating_mul(2).next_power_of_two().max(16)
    }

    /// The memory [`Mappings::new`] takes.
    pub fn bytes_for(capacity: usize) -> u64 {
        tables::bytes_of::<Slot>(Mappings::slots_for(capacity))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn home(&self, k: &Inside) -> usize {
        k.hash(self.seed) as usize & self.mask
    }

    fn position(&self, k: &Inside) -> Option<usize> {
        let mut i = self.home(k);
        loop {
            let s = &self.slots[i];
            if s.refs == 0 {
                return None;
            }
            if s.inside == *k {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The external endpoint of `k`, if it has a mapping.
    pub fn get(&self, k: &Inside) -> Option<(u32, u16)> {
        self.position(k)
            .map(|i| (self.slots[i].ext_addr, self.slots[i].ext_port))
    }

    /// One more flow uses the existing mapping of `k`; false if there is none.
    pub fn hold(&mut self, k: &Inside) -> bool {
        match self.position(k) {
            Some(i) => {
                self.slots[i].refs += 1;
                true
            }
            None => false,
        }
    }

    /// A new mapping with one reference. The caller has checked that `k` has none and that the
    /// table has room (it is sized for the conntrack, so it has while a flow can be inserted).
    pub fn insert(&mut self, k: Inside, ext_addr: u32, ext_port: u16) -> bool {
        if self.len * 2 >= self.slots.len() {
            return false;
        }
        let mut i = self.home(&k);
        while self.slots[i].refs != 0 {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = Slot {
            inside: k,
            ext_addr,
            ext_port,
            refs: 1,
        };
        self.len += 1;
        true
    }

    /// Drops one reference; returns the external endpoint when that was the last one (the port
    /// is then the caller's to give back).
    pub fn release(&mut self, k: &Inside) -> Option<(u32, u16)> {
        let i = self.position(k)?;
        self.slots[i].refs -= 1;
        if self.slots[i].refs > 0 {
            return None;
        }
        let ext = (self.slots[i].ext_addr, self.slots[i].ext_port);
        self.remove_at(i);
        Some(ext)
    }

    /// Knuth's algorithm R: later slots whose home is not between the hole and themselves move
    /// back into the hole, so lookups never need tombstones.
    fn remove_at(&mut self, mut hole: usize) {
        self.slots[hole] = Slot::default();
        self.len -= 1;
        let mut i = hole;
        loop {
            i = (i + 1) & self.mask;
            if self.slots[i].refs == 0 {
                return;
            }
            let home = self.home(&self.slots[i].inside);
            // Does `home` lie cyclically in (hole, i]? Then the slot stays.
            let stays = if hole <= i {
                hole < home && home <= i
            } else {
                hole < home || home <= i
            };
            if !stays {
                self.slots[hole] = self.slots[i];
                self.slots[i] = Slot::default();
                hole = i;
            }
        }
    }

    /// Every mapping (for rebuilding port maps after a reload).
    pub fn iter(&self) -> impl Iterator<Item = (Inside, u32, u16)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.refs > 0)
            .map(|s| (s.inside, s.ext_addr, s.ext_port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn k(zone: u16, port: u16) -> Inside {
        Inside {
            zone,
            proto: 17,
            addr: Ipv4Addr::new(198, 18, 0, 1),
            port,
        }
    }

    #[test]
    fn references_keep_a_mapping() {
        let mut m = Mappings::new(8, 1);
        assert!(m.insert(k(1, 5000), 7, 40000));
        // The same inside address and port in another tunnel is another endpoint.
        assert_eq!(m.get(&k(2, 5000)), None);
        assert!(m.hold(&k(1, 5000)));
        assert_eq!(m.release(&k(1, 5000)), None);
        assert_eq!(m.get(&k(1, 5000)), Some((7, 40000)));
        assert_eq!(m.release(&k(1, 5000)), Some((7, 40000)));
        assert_eq!(m.get(&k(1, 5000)), None);
        assert!(m.is_empty());
    }

    proptest! {
        /// Against a model, with a tiny table so probe chains wrap and deletions shift.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((any::<bool>(), 0u16..24), 0..300)) {
            let mut m = Mappings::new(12, 3);
            let mut model = std::collections::BTreeMap::new();
            for (add, p) in ops {
                let key = k(p % 3, p);
                if add {
                    if let Some(n) = model.get_mut(&p) {
                        prop_assert!(m.hold(&key));
                        *n += 1;
                    } else if m.insert(key, 9, p) {
                        model.insert(p, 1u32);
                    }
                } else {
                    let r = m.release(&key);
                    match model.get_mut(&p) {
                        Some(n) if *n == 1 => { prop_assert_eq!(r, Some((9, p))); model.remove(&p); }
                        Some(n) => { prop_assert_eq!(r, None); *n -= 1; }
                        None => prop_assert_eq!(r, None),
                    }
                }
                for q in 0..24u16 {
                    prop_assert_eq!(m.get(&k(q % 3, q)).is_some(), model.contains_key(&q));
                }
            }
        }
    }
}
