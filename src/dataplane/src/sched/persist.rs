//! Source-address persistence (IPVS `persistent`): new flows from a client to a service go to
//! the backend its previous flow went to, until `timeout` passes without a new flow.
//!
//! A direct-mapped cache allocated at start: a colliding client overwrites the slot, so under
//! pressure persistence degrades to the scheduler's choice (counted by the caller as a miss)
//! instead of costing memory or allocation.

use crate::flow::mix2;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    client: u32,
    service: u16,
    backend_id: u16,
    last: u32,
    valid: bool,
}

pub struct PersistCache {
    slots: Box<[Slot]>,
    mask: u64,
    seed: u64,
}

impl PersistCache {
    pub fn new(capacity: usize, seed: u64) -> PersistCache {
        let n = capacity.next_power_of_two().max(1);
        PersistCache {
            slots: vec![Slot::default(); n].into_boxed_slice(),
            mask: (n - 1) as u64,
            seed,
        }
    }

    #[inline(always)]
    fn slot(&self, client: u32, service: u16) -> usize {
        (mix2(u64::from(client), u64::from(service), self.seed) & self.mask) as usize
    }

    /// The backend remembered for `client` on `service`, if within `timeout` ms of `now`.
    pub fn get(&self, client: u32, service: u16, now: u32, timeout: u32) -> Option<u16> {
        let s = &self.slots[self.slot(client, service)];
        (s.valid
            && s.client == client
            && s.service == service
            && now.wrapping_sub(s.last) < timeout)
            .then_some(s.backend_id)
    }

    pub fn put(&mut self, client: u32, service: u16, backend_id: u16, now: u32) {
        let i = self.slot(client, service);
        self.slots[i] = Slot {
            client,
            service,
            backend_id,
            last: now,
            valid: true,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_timeout() {
        let mut c = PersistCache::new(64, 1);
        assert_eq!(c.get(7, 0, 0, 1000), None);
        c.put(7, 0, 42, 100);
        assert_eq!(c.get(7, 0, 1099, 1000), Some(42));
        assert_eq!(c.get(7, 0, 1100, 1000), None);
        assert_eq!(c.get(7, 1, 200, 1000), None, "per service");
        assert_eq!(c.get(8, 0, 200, 1000), None, "per client");
    }
}
