//! The IPv6 flows of one core: a table of its own beside the IPv4 one, not a wider entry in one
//! table.
//!
//! Why two tables: an IPv6 entry holds four 16-byte addresses, 48 bytes more than an IPv4 one.
//! One table of the larger entry would make every IPv4 flow pay for IPv6 (56 → 104+ bytes, two
//! cache lines), and an enum of both is as large as its larger variant. Two tables keep the IPv4
//! entry at 56 bytes and make the IPv6 cost explicit; what they share is code (the [`Index`],
//! the LRU [`List`]s, the TCP transitions of `state.rs`), not memory. Each table is sized by
//! the configuration (`conntrack_per_worker` for IPv4; the IPv6 one's capacity is the
//! caller's), so a burst of one family cannot evict the other's flows.
//!
//! The entry is 92 bytes (const-asserted): the addresses (64), LRU links and the two times
//! (16), four ports (8), the backend id (2), the protocol (1, 0 when free) and one byte of
//! state, kind and FIN bits. The timeout class is the state's, so it is not stored; there is
//! no zone (no GRE over IPv6 yet), no timeout profile (no SNAT gateway over IPv6: FullNAT flows
//! keep the load balancer's timeouts), no service index and no packet count (no IPv6 offload).
//! With the two-key index at a load of at most one half (8-byte slots, 4 per flow, rounded up
//! to a power of two) that is 92 + 33.6 = 125.6 bytes per flow at 1,000,000 flows, within the
//! 128 the issue allows.

use std::net::Ipv6Addr;

use super::entry::{Kind, NIL};
use super::index::{self, Index};
use super::lru::{Linked, List};
use super::state::{self, Class, Dir, State, Timeouts, CLASSES};
use super::InsertError;
use crate::flow::FlowKeyV6;
use crate::tables::{self, AllocError};
use crate::wire::proto;

#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct EntryV6 {
    pub client: Ipv6Addr,
    pub vip: Ipv6Addr,
    pub backend: Ipv6Addr,
    /// The translated source (the client itself in NAT mode, a pool address in FullNAT).
    pub local: Ipv6Addr,
    pub prev: u32,
    pub next: u32,
    pub last_seen: u32,
    pub queued_at: u32,
    pub client_port: u16,
    pub vip_port: u16,
    pub backend_port: u16,
    pub local_port: u16,
    pub backend_id: u16,
    /// TCP, UDP or ICMPv6; 0 for a free entry.
    pub proto: u8,
    /// State (bits 0-2), kind (bits 3-4: NAT, FullNAT, DR, NAT64), FIN bits (5-6).
    bits: u8,
}

const _: () = assert!(std::mem::size_of::<EntryV6>() == 92);

impl Linked for EntryV6 {
    #[inline(always)]
    fn prev(&self) -> u32 {
        self.prev
    }
    #[inline(always)]
    fn next(&self) -> u32 {
        self.next
    }
    #[inline(always)]
    fn set_prev(&mut self, i: u32) {
        self.prev = i;
    }
    #[inline(always)]
    fn set_next(&mut self, i: u32) {
        self.next = i;
    }
}

/// The kind in the entry's bits: its low two bits at 3-4, the third at 7 (state is 0-2, FIN
/// bits 5-6).
fn kind_bits(k: Kind) -> u8 {
    let v: u8 = match k {
        Kind::FullNat => 1,
        Kind::Dr => 2,
        Kind::Tunnel => 3,
        Kind::Nat64 => 4,
        _ => 0,
    };
    (v & 3) << 3 | (v & 4) << 5
}

impl EntryV6 {
    pub const EMPTY: EntryV6 = EntryV6 {
        client: Ipv6Addr::UNSPECIFIED,
        vip: Ipv6Addr::UNSPECIFIED,
        backend: Ipv6Addr::UNSPECIFIED,
        local: Ipv6Addr::UNSPECIFIED,
        prev: NIL,
        next: NIL,
        last_seen: 0,
        queued_at: 0,
        client_port: 0,
        vip_port: 0,
        backend_port: 0,
        local_port: 0,
        backend_id: 0,
        proto: 0,
        bits: 0,
    };

    #[inline(always)]
    pub fn state(&self) -> State {
        State::from_u8(self.bits & 7)
    }

    #[inline(always)]
    fn set_state(&mut self, s: State) {
        self.bits = (self.bits & !7) | (s as u8 & 7);
    }

    #[inline(always)]
    pub fn fins(&self) -> u8 {
        (self.bits >> 5) & 3
    }

    #[inline(always)]
    fn set_fins(&mut self, f: u8) {
        self.bits = (self.bits & !(3 << 5)) | ((f & 3) << 5);
    }

    #[inline(always)]
    pub fn kind(&self) -> Kind {
        match (self.bits >> 3) & 3 | (self.bits >> 5) & 4 {
            1 => Kind::FullNat,
            2 => Kind::Dr,
            3 => Kind::Tunnel,
            4 => Kind::Nat64,
            _ => Kind::Nat,
        }
    }

    pub fn class(&self) -> Class {
        self.state().class()
    }

    pub fn is_free(&self) -> bool {
        self.proto == 0
    }

    #[inline(always)]
    pub fn original_key(&self) -> FlowKeyV6 {
        FlowKeyV6::new(
            self.client,
            self.client_port,
            self.vip,
            self.vip_port,
            self.proto,
        )
    }

    #[inline(always)]
    pub fn reply_key(&self) -> FlowKeyV6 {
        FlowKeyV6::new(
            self.backend,
            self.backend_port,
            self.local,
            self.local_port,
            self.proto,
        )
    }

    #[inline(always)]
    pub fn key(&self, dir: Dir) -> FlowKeyV6 {
        match dir {
            Dir::Original => self.original_key(),
            Dir::Reply => self.reply_key(),
        }
    }
}

/// A new IPv6 flow (see [`super::NewFlow`]).
#[derive(Debug, Clone, Copy)]
pub struct NewFlowV6 {
    pub original: FlowKeyV6,
    pub backend: Ipv6Addr,
    pub backend_port: u16,
    pub local: Ipv6Addr,
    pub local_port: u16,
    pub backend_id: u16,
    pub state: State,
    /// NAT, FullNAT or DR.
    pub kind: Kind,
}

/// Monotonic event counts of the IPv6 table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsV6 {
    pub inserted: u64,
    pub expired: u64,
    pub evicted: u64,
    pub full_drops: u64,
    pub conflicts: u64,
}

pub struct ConntrackV6 {
    entries: Box<[EntryV6]>,
    index: Index,
    lists: [List; CLASSES],
    free: u32,
    used: u32,
    seed: u64,
    timeouts: Timeouts,
    pub stats: StatsV6,
}

#[inline(always)]
fn age(now: u32, then: u32) -> u32 {
    now.wrapping_sub(then)
}

impl ConntrackV6 {
    pub fn new(capacity: u32, timeouts: Timeouts, seed: u64) -> ConntrackV6 {
        ConntrackV6::try_new(capacity, timeouts, seed).expect("IPv6 conntrack")
    }

    /// The memory a table of `capacity` flows takes: its entries and its index.
    pub fn bytes_for(capacity: u32) -> u64 {
        tables::bytes_of::<EntryV6>(capacity as usize) + Index::bytes_for(capacity as usize * 2)
    }

    pub fn try_new(
        capacity: u32,
        timeouts: Timeouts,
        seed: u64,
    ) -> Result<ConntrackV6, AllocError> {
        assert!(capacity > 0 && capacity < (1 << 30), "capacity {capacity}");
        let mut entries =
            tables::boxed("IPv6 conntrack entries", capacity as usize, EntryV6::EMPTY)?;
        for (i, e) in entries.iter_mut().enumerate() {
            e.next = if i + 1 == capacity as usize {
                NIL
            } else {
                i as u32 + 1
            };
        }
        Ok(ConntrackV6 {
            entries,
            index: Index::try_with_keys(capacity as usize * 2)?,
            lists: [List::EMPTY; CLASSES],
            free: 0,
            used: 0,
            seed,
            timeouts,
            stats: StatsV6::default(),
        })
    }

    pub fn capacity(&self) -> u32 {
        self.entries.len() as u32
    }

    pub fn used(&self) -> u32 {
        self.used
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Bytes allocated: the slab plus the index.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.entries) + self.index.bytes()
    }

    pub fn class_len(&self, c: Class) -> u32 {
        self.lists[c as usize].len
    }

    #[inline(always)]
    pub fn prefetch(&self, key: &FlowKeyV6) -> u64 {
        let h = key.hash(self.seed);
        self.index.prefetch(h);
        h
    }

    #[inline(always)]
    pub fn prefetch_entry(&self, hash: u64) {
        if let Some(e) = self.index.first_candidate(hash) {
            index::prefetch(&self.entries[e as usize]);
        }
    }

    #[inline(always)]
    pub fn lookup(&self, key: &FlowKeyV6) -> Option<(u32, Dir)> {
        self.lookup_hashed(key, key.hash(self.seed))
    }

    #[inline(always)]
    pub fn lookup_hashed(&self, key: &FlowKeyV6, hash: u64) -> Option<(u32, Dir)> {
        let entries = &self.entries;
        self.index
            .find(hash, |e, dir| entries[e as usize].key(dir) == *key)
    }

    #[inline(always)]
    pub fn get(&self, i: u32) -> &EntryV6 {
        &self.entries[i as usize]
    }

    /// Live entries, for listings (not for the packet path).
    pub fn iter(&self) -> impl Iterator<Item = &EntryV6> {
        self.entries.iter().filter(|e| !e.is_free())
    }

    /// Records a packet of flow `i`: its time, and for TCP its flags' effect on the state.
    #[inline(always)]
    pub fn touch(&mut self, i: u32, dir: Dir, now: u32, tcp_flags: Option<u8>) {
        let e = &mut self.entries[i as usize];
        e.last_seen = now;
        let Some(f) = tcp_flags else { return };
        let (next, fins) = if e.kind().one_way() {
            state::tcp_next_one_way(e.state(), e.fins(), f)
        } else {
            state::tcp_next(e.state(), e.fins(), dir, f)
        };
        e.set_fins(fins);
        let old = e.state();
        if next != old {
            e.set_state(next);
            if old.class() != next.class() {
                self.requeue(i, old.class(), next.class(), now);
            }
        }
    }

    fn requeue(&mut self, i: u32, old: Class, new: Class, now: u32) {
        self.lists[old as usize].unlink(&mut self.entries, i);
        self.entries[i as usize].queued_at = now;
        self.lists[new as usize].push_tail(&mut self.entries, i);
    }

    /// Records a new flow; `on_free` sees every entry freed to make room.
    pub fn insert(
        &mut self,
        now: u32,
        flow: &NewFlowV6,
        on_free: &mut impl FnMut(&EntryV6),
    ) -> Result<u32, InsertError> {
        debug_assert!(matches!(
            flow.original.proto,
            proto::TCP | proto::UDP | proto::ICMPV6
        ));
        let reply = FlowKeyV6::new(
            flow.backend,
            flow.backend_port,
            flow.local,
            flow.local_port,
            flow.original.proto,
        );
        let one_way = flow.kind.one_way();
        if !one_way && self.lookup(&reply).is_some() {
            self.stats.conflicts += 1;
            return Err(InsertError::Conflict);
        }
        if self.free == NIL {
            self.make_room(now, on_free)?;
        }
        let i = self.free;
        self.free = self.entries[i as usize].next;
        let mut e = EntryV6 {
            client: flow.original.src,
            vip: flow.original.dst,
            backend: flow.backend,
            local: flow.local,
            prev: NIL,
            next: NIL,
            last_seen: now,
            queued_at: now,
            client_port: flow.original.src_port,
            vip_port: flow.original.dst_port,
            backend_port: flow.backend_port,
            local_port: flow.local_port,
            backend_id: flow.backend_id,
            proto: flow.original.proto,
            bits: kind_bits(flow.kind),
        };
        e.set_state(flow.state);
        self.entries[i as usize] = e;
        self.lists[flow.state.class() as usize].push_tail(&mut self.entries, i);
        self.index
            .insert(flow.original.hash(self.seed), i, Dir::Original);
        if !one_way {
            self.index.insert(reply.hash(self.seed), i, Dir::Reply);
        }
        self.used += 1;
        self.stats.inserted += 1;
        Ok(i)
    }

    fn make_room(
        &mut self,
        now: u32,
        on_free: &mut impl FnMut(&EntryV6),
    ) -> Result<(), InsertError> {
        if self.expire(now, 8, on_free) > 0 {
            return Ok(());
        }
        let syn = self.lists[Class::TcpSyn as usize].head;
        if syn != NIL {
            self.remove(syn, on_free);
            self.stats.evicted += 1;
            return Ok(());
        }
        self.stats.full_drops += 1;
        Err(InsertError::Full)
    }

    /// Frees flow `i`.
    pub fn remove(&mut self, i: u32, on_free: &mut impl FnMut(&EntryV6)) {
        let e = self.entries[i as usize];
        debug_assert!(!e.is_free());
        on_free(&e);
        self.lists[e.class() as usize].unlink(&mut self.entries, i);
        self.index
            .remove(e.original_key().hash(self.seed), i, Dir::Original);
        if !e.kind().one_way() {
            self.index
                .remove(e.reply_key().hash(self.seed), i, Dir::Reply);
        }
        self.entries[i as usize] = EntryV6 {
            next: self.free,
            ..EntryV6::EMPTY
        };
        self.free = i;
        self.used -= 1;
    }

    /// Frees expired flows looking at no more than `budget` list heads (as the IPv4 table:
    /// freed at most one timeout late, never early); returns how many were freed.
    pub fn expire(&mut self, now: u32, mut budget: u32, on_free: &mut impl FnMut(&EntryV6)) -> u32 {
        let mut freed = 0;
        for c in Class::ALL {
            let timeout = self.timeouts.of(c);
            while budget > 0 {
                let head = self.lists[c as usize].head;
                if head == NIL {
                    break;
                }
                let e = self.entries[head as usize];
                if age(now, e.queued_at) < timeout {
                    break;
                }
                budget -= 1;
                if age(now, e.last_seen) >= timeout {
                    self.remove(head, on_free);
                    self.stats.expired += 1;
                    freed += 1;
                } else {
                    self.requeue(head, c, c, now);
                }
            }
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(i: u16) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)
    }

    fn flow(client_port: u16, state: State) -> NewFlowV6 {
        NewFlowV6 {
            original: FlowKeyV6::new(a(1), client_port, a(100), 80, proto::TCP),
            backend: a(200),
            backend_port: 8080,
            local: a(1),
            local_port: client_port,
            backend_id: 3,
            state,
            kind: Kind::Nat,
        }
    }

    #[test]
    fn both_keys_find_the_flow_and_tcp_state_follows_flags() {
        use crate::wire::tcp::flags::{ACK, FIN, SYN};
        let mut ct = ConntrackV6::new(4, Timeouts::default(), 7);
        let i = ct
            .insert(0, &flow(40000, State::SynSent), &mut |_| {})
            .unwrap();
        let e = *ct.get(i);
        assert_eq!(ct.lookup(&e.original_key()), Some((i, Dir::Original)));
        assert_eq!(ct.lookup(&e.reply_key()), Some((i, Dir::Reply)));
        assert_eq!(
            (e.kind(), e.state(), e.backend_id),
            (Kind::Nat, State::SynSent, 3)
        );
        ct.touch(i, Dir::Reply, 1, Some(SYN | ACK));
        ct.touch(i, Dir::Original, 2, Some(ACK));
        assert_eq!(ct.get(i).state(), State::Established);
        assert_eq!(ct.class_len(Class::TcpEstablished), 1);
        ct.touch(i, Dir::Original, 3, Some(FIN | ACK));
        ct.touch(i, Dir::Reply, 4, Some(FIN | ACK));
        assert_eq!(ct.get(i).state(), State::TimeWait);
        assert_eq!(ct.get(i).fins(), state::FIN_ORIGINAL | state::FIN_REPLY);
        // A second flow whose reply key is the first's is refused.
        let mut dup = flow(40000, State::SynSent);
        dup.original.src_port = 1;
        assert_eq!(ct.insert(5, &dup, &mut |_| {}), Err(InsertError::Conflict));
    }

    #[test]
    fn expiry_eviction_and_full() {
        let t = Timeouts::default();
        let mut ct = ConntrackV6::new(2, t, 7);
        let i = ct
            .insert(0, &flow(1, State::Established), &mut |_| {})
            .unwrap();
        ct.insert(0, &flow(2, State::SynSent), &mut |_| {}).unwrap();
        // Full: the embryonic flow is evicted for a new one, the established one stays.
        let mut freed = 0;
        ct.insert(1, &flow(3, State::Established), &mut |_| freed += 1)
            .unwrap();
        assert_eq!((freed, ct.stats.evicted), (1, 1));
        assert_eq!(
            ct.insert(2, &flow(4, State::Established), &mut |_| {}),
            Err(InsertError::Full)
        );
        // Established flows expire after their timeout, not before.
        let est = t.of(Class::TcpEstablished);
        assert_eq!(ct.expire(est - 1, 64, &mut |_| {}), 0);
        ct.touch(i, Dir::Original, est - 1, None);
        assert_eq!(ct.expire(est + 1, 64, &mut |_| {}), 1, "the idle one");
        assert_eq!(ct.used(), 1);
        assert_eq!(ct.expire(2 * est + 1, 64, &mut |_| {}), 1);
        assert_eq!(ct.used(), 0);
        assert_eq!(ct.lookup(&flow(1, State::Udp).original), None);
    }

    #[test]
    fn at_most_128_bytes_per_flow_at_a_million() {
        let per_flow = ConntrackV6::bytes_for(1_000_000) as f64 / 1e6;
        assert!(per_flow <= 128.0, "{per_flow}");
    }
}
