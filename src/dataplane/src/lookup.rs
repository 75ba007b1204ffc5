//! An immutable hash map from packed `u64` keys, built once per snapshot: linear probing at a load
//! factor of at most one half, keys and values in flat arrays. Lookups never allocate or lock,
//! which `std::collections::HashMap` would also satisfy, but this one is faster for the tiny
//! keys the fast path uses (services, backends, neighbours) and has no per-lookup SipHash.

use std::net::Ipv4Addr;

use crate::flow::mix2;

const EMPTY: u64 = u64::MAX;

#[derive(Debug, Clone)]
pub struct StaticMap<V> {
    keys: Box<[u64]>,
    vals: Box<[V]>,
    mask: u64,
    seed: u64,
}

impl<V: Copy + Default> StaticMap<V> {
    /// Builds the map; a later duplicate key replaces the earlier value. `u64::MAX` is reserved.
    pub fn build(items: impl IntoIterator<Item = (u64, V)>, seed: u64) -> StaticMap<V> {
        let items: Vec<(u64, V)> = items.into_iter().collect();
        let n = (items.len() * 2).next_power_of_two().max(8);
        let mut m = StaticMap {
            keys: vec![EMPTY; n].into_boxed_slice(),
            vals: vec![V::default(); n].into_boxed_slice(),
            mask: (n - 1) as u64,
            seed,
        };
        for (k, v) in items {
            assert_ne!(k, EMPTY, "reserved key");
            let mut i = m.home(k);
            while m.keys[i] != EMPTY && m.keys[i] != k {
                i = (i + 1) & m.mask as usize;
            }
            m.keys[i] = k;
            m.vals[i] = v;
        }
        m
    }

    #[inline(always)]
    fn home(&self, k: u64) -> usize {
        (mix2(k, 0, self.seed) & self.mask) as usize
    }

    #[inline(always)]
    pub fn get(&self, k: u64) -> Option<V> {
        let mut i = self.home(k);
        loop {
            let at = self.keys[i];
            if at == k {
                return Some(self.vals[i]);
            }
            if at == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask as usize;
        }
    }

    pub fn len(&self) -> usize {
        self.keys.iter().filter(|&&k| k != EMPTY).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Packs an (address, port, protocol) triple: VIPs and backends are looked up this way.
#[inline(always)]
pub fn endpoint_key(addr: Ipv4Addr, port: u16, proto: u8) -> u64 {
    (u64::from(u32::from(addr)) << 24) | (u64::from(port) << 8) | u64::from(proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_put() {
        let m = StaticMap::build((0..100u64).map(|k| (k * 7919, k as u32)), 3);
        assert_eq!(m.len(), 100);
        for k in 0..100u64 {
            assert_eq!(m.get(k * 7919), Some(k as u32));
        }
        assert_eq!(m.get(1), None);
        let empty: StaticMap<u8> = StaticMap::build([], 0);
        assert_eq!(empty.get(0), None);
        assert!(empty.is_empty());
        let a = Ipv4Addr::new(198, 18, 0, 1);
        assert_ne!(endpoint_key(a, 2, 6), endpoint_key(a, 2, 17));
    }
}
