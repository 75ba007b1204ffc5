//! Intrusive doubly linked lists threaded through the entry slab, one per timeout class.
//!
//! Lists are ordered by `queued_at`, the time an entry was put at the tail, not by its last
//! packet: a packet only writes `last_seen` in the entry it already holds, and never touches its
//! neighbours' cache lines. Expiry looks at the head: if even the head was queued less than one
//! timeout ago, nothing in the list can have expired; if the head's `last_seen` is older than
//! the timeout it is dead; otherwise it was active and is re-queued at the tail. Every entry is
//! thus looked at about once per timeout, and is freed at most one timeout late and never early.

use super::entry::{Entry, NIL};

/// An entry with list links: both tables' entries (IPv4's [`Entry`], IPv6's `EntryV6`).
pub trait Linked {
    fn prev(&self) -> u32;
    fn next(&self) -> u32;
    fn set_prev(&mut self, i: u32);
    fn set_next(&mut self, i: u32);
}

impl Linked for Entry {
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

#[derive(Debug, Clone, Copy)]
pub struct List {
    pub head: u32,
    pub tail: u32,
    pub len: u32,
}

impl List {
    pub const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };

    pub fn push_tail<E: Linked>(&mut self, entries: &mut [E], i: u32) {
        let e = &mut entries[i as usize];
        e.set_prev(self.tail);
        e.set_next(NIL);
        if self.tail == NIL {
            self.head = i;
        } else {
            entries[self.tail as usize].set_next(i);
        }
        self.tail = i;
        self.len += 1;
    }

    pub fn unlink<E: Linked>(&mut self, entries: &mut [E], i: u32) {
        let (prev, next) = (entries[i as usize].prev(), entries[i as usize].next());
        if prev == NIL {
            self.head = next;
        } else {
            entries[prev as usize].set_next(next);
        }
        if next == NIL {
            self.tail = prev;
        } else {
            entries[next as usize].set_prev(prev);
        }
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(list: &List, entries: &[Entry]) -> Vec<u32> {
        let mut out = vec![];
        let mut i = list.head;
        while i != NIL {
            out.push(i);
            i = entries[i as usize].next;
        }
        out
    }

    #[test]
    fn push_and_unlink_anywhere() {
        let mut entries = vec![Entry::EMPTY; 4];
        let mut l = List::EMPTY;
        for i in 0..4 {
            l.push_tail(&mut entries, i);
        }
        l.unlink(&mut entries, 2);
        assert_eq!(walk(&l, &entries), [0, 1, 3]);
        l.unlink(&mut entries, 0);
        l.unlink(&mut entries, 3);
        assert_eq!(walk(&l, &entries), [1]);
        assert_eq!((l.head, l.tail, l.len), (1, 1, 1));
        l.unlink(&mut entries, 1);
        assert_eq!((l.head, l.tail, l.len), (NIL, NIL, 0));
    }
}
