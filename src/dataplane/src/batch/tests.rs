use std::collections::VecDeque;
use std::net::Ipv4Addr;

use super::*;
use crate::frames::{self, checksums_ok};
use crate::snapshot::Spec;
use crate::testkit::memory::{Frames, MemoryQueue, Slot};
use crate::testkit::{self, backend, ip_of, l2, mac, route, sa, two_interfaces, web_service};
use crate::wire::tcp::flags::{ACK, SYN};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);
const B1: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
const IF_CLIENT: u16 = 0;
const IF_BACKEND: u16 = 1;

fn snap(workers: u16) -> Snapshot {
    let spec = Spec {
        services: vec![web_service(VIP, vec![backend(B1, 8080, true)], None)],
        interfaces: two_interfaces("client", "backend"),
        routes: vec![
            route([198, 18, 0, 0], 24, None, IF_CLIENT),
            route([198, 18, 2, 0], 24, None, IF_BACKEND),
        ],
        neighbours: vec![(CLIENT, mac(7)), (B1, mac(0xb1))],
        workers,
        hash_seed: 42,
        cluster_seed: 0,
        ..Spec::default()
    };
    Snapshot::build(&spec, None).unwrap()
}

/// A client's SYN to the VIP from `port`: 60 bytes.
fn syn(port: u16) -> Vec<u8> {
    frames::ethernet(
        l2(7, 0xa0),
        &frames::tcp_segment(sa(CLIENT, port), sa(VIP, 80), SYN, b""),
    )
}

/// Queues as a NIC's: each on its own interface, with its own buffers, a transmit ring of
/// `tx_room` frames per turn, and a record of everything sent or given back.
struct Nic {
    ifaces: Vec<u16>,
    rx: Vec<VecDeque<Vec<u8>>>,
    buffers: Vec<Vec<u8>>,
    tx_room: usize,
    sent: Vec<(usize, Vec<u8>)>,
    copies: Vec<(u16, Vec<u8>)>,
    recycled: usize,
}

impl Nic {
    fn new(ifaces: &[u16], tx_room: usize) -> Nic {
        Nic {
            ifaces: ifaces.to_vec(),
            rx: vec![VecDeque::new(); ifaces.len()],
            buffers: Vec::new(),
            tx_room,
            sent: Vec::new(),
            copies: Vec::new(),
            recycled: 0,
        }
    }

    /// (buffer, length) of a received frame.
    const NONE: (usize, usize) = (usize::MAX, 0);
}

impl Queues for Nic {
    type Frame = (usize, usize);

    fn count(&self) -> usize {
        self.ifaces.len()
    }

    fn iface(&self, q: usize) -> u16 {
        self.ifaces[q]
    }

    fn receive(&mut self, q: usize, into: &mut [(usize, usize)]) -> usize {
        let mut n = 0;
        while n < into.len() {
            let Some(f) = self.rx[q].pop_front() else {
                break;
            };
            let len = f.len();
            let mut buf = f;
            buf.resize(testkit::ROOM, 0);
            self.buffers.push(buf);
            into[n] = (self.buffers.len() - 1, len);
            n += 1;
        }
        n
    }

    fn len(f: &(usize, usize)) -> usize {
        f.1
    }

    fn frame(&mut self, _q: usize, f: (usize, usize)) -> &[u8] {
        &self.buffers[f.0][..f.1]
    }

    fn frame_room(&mut self, _q: usize, f: (usize, usize)) -> &mut [u8] {
        &mut self.buffers[f.0]
    }

    fn transmit(&mut self, q: usize, f: (usize, usize), len: usize) -> bool {
        if self.sent.len() + self.copies.len() >= self.tx_room {
            self.recycled += 1;
            return false;
        }
        self.sent.push((q, self.buffers[f.0][..len].to_vec()));
        true
    }

    fn recycle(&mut self, _q: usize, _f: (usize, usize)) {
        self.recycled += 1;
    }

    fn transmit_copy(&mut self, iface: u16, bytes: &[u8]) -> bool {
        if !self.ifaces.contains(&iface) || self.sent.len() + self.copies.len() >= self.tx_room {
            return false;
        }
        self.copies.push((iface, bytes.to_vec()));
        true
    }
}

/// Other workers' rings: what was pushed to each, and how many each takes.
struct Rings {
    pushed: Vec<(u16, Vec<u8>)>,
    room: usize,
}

impl Handoff for Rings {
    fn push(&mut self, to: u16, frame: &[u8]) -> bool {
        if self.pushed.len() >= self.room {
            return false;
        }
        self.pushed.push((to, frame.to_vec()));
        true
    }
}

/// A ring other workers filled.
struct Ring(VecDeque<Vec<u8>>);

impl HandedOver for Ring {
    fn drain(&mut self, max: usize, mut f: impl FnMut(&mut [u8], usize)) -> usize {
        let mut n = 0;
        while n < max {
            let Some(mut frame) = self.0.pop_front() else {
                break;
            };
            let len = frame.len();
            frame.resize(testkit::ROOM, 0);
            f(&mut frame, len);
            n += 1;
        }
        n
    }
}

fn turn(nic: &mut Nic, rings: &mut Rings, workers: u16) -> Tally {
    let s = snap(workers);
    let mut p = testkit::pipeline(0, 1024);
    let mut l = WorkerLoop::new(testkit::ROOM, Nic::NONE);
    l.receive(&mut p, &s, 0, nic, rings)
}

#[test]
fn a_frame_for_its_own_queues_interface_is_sent_in_place() {
    let mut nic = Nic::new(&[IF_BACKEND], 1000);
    nic.rx[0].extend((0..50).map(syn));
    let t = turn(
        &mut nic,
        &mut Rings {
            pushed: vec![],
            room: 0,
        },
        1,
    );
    assert_eq!(
        t,
        Tally {
            frames: 50,
            tx_full: 0,
            handoff_full: 0
        }
    );
    assert_eq!((nic.sent.len(), nic.copies.len(), nic.recycled), (50, 0, 0));
    for (q, f) in &nic.sent {
        assert_eq!(*q, 0);
        assert_eq!(ip_of(f).dst(), B1, "translated to the backend");
        assert!(checksums_ok(f));
    }
}

#[test]
fn a_frame_for_another_interface_is_copied_there_and_its_buffer_given_back() {
    let mut nic = Nic::new(&[IF_CLIENT, IF_BACKEND], 1000);
    nic.rx[0].extend((0..70).map(syn));
    let t = turn(
        &mut nic,
        &mut Rings {
            pushed: vec![],
            room: 0,
        },
        1,
    );
    // Two turns' worth of frames arrived; one turn takes a batch.
    assert_eq!(
        t,
        Tally {
            frames: BATCH,
            tx_full: 0,
            handoff_full: 0
        }
    );
    assert_eq!(
        (nic.sent.len(), nic.copies.len(), nic.recycled),
        (0, BATCH, BATCH)
    );
    for (iface, f) in &nic.copies {
        assert_eq!(*iface, IF_BACKEND);
        assert_eq!(ip_of(f).dst(), B1);
        assert!(checksums_ok(f));
    }
}

#[test]
fn full_transmit_rings_are_counted() {
    let mut nic = Nic::new(&[IF_BACKEND, IF_CLIENT], 10);
    nic.rx[0].extend((0..8).map(syn));
    nic.rx[1].extend((100..108).map(syn));
    let t = turn(
        &mut nic,
        &mut Rings {
            pushed: vec![],
            room: 0,
        },
        1,
    );
    assert_eq!(
        t,
        Tally {
            frames: 16,
            tx_full: 6,
            handoff_full: 0
        }
    );
    assert_eq!((nic.sent.len(), nic.copies.len()), (8, 2));
}

#[test]
fn frames_of_another_workers_flows_are_handed_over_as_received() {
    let mut nic = Nic::new(&[IF_BACKEND], 1000);
    let sent: Vec<Vec<u8>> = (0..40).map(syn).collect();
    nic.rx[0].extend(sent.iter().cloned());
    let mut rings = Rings {
        pushed: vec![],
        room: 5,
    };
    let t = turn(&mut nic, &mut rings, 2);
    assert_eq!(t.frames, 40);
    assert_eq!(rings.pushed.len(), 5);
    assert!(t.handoff_full > 0, "{t:?}");
    assert_eq!(5 + t.handoff_full as usize + nic.sent.len(), 40);
    assert_eq!(nic.recycled, 5 + t.handoff_full as usize);
    for (to, f) in &rings.pushed {
        assert_eq!(*to, 1);
        assert!(sent.contains(f), "handed over untouched");
    }
}

#[test]
fn frames_the_pipeline_does_not_take_are_given_back() {
    let mut nic = Nic::new(&[IF_CLIENT], 1000);
    nic.rx[0].push_back(vec![0; 60]);
    nic.rx[0].push_back(frames::ethernet(
        l2(7, 0xa0),
        &frames::tcp_segment(sa(CLIENT, 1), sa(B1, 22), ACK, b""),
    ));
    let t = turn(
        &mut nic,
        &mut Rings {
            pushed: vec![],
            room: 0,
        },
        1,
    );
    assert_eq!(t.frames, 2);
    assert_eq!((nic.sent.len(), nic.copies.len(), nic.recycled), (0, 0, 2));
}

#[test]
fn handed_over_frames_are_processed_and_sent_by_their_interface() {
    let s = snap(1);
    let mut p = testkit::pipeline(0, 1024);
    let mut l = WorkerLoop::new(testkit::ROOM, Nic::NONE);
    let mut rings = [
        Ring((0..3).map(syn).collect()),
        Ring((3..5).map(syn).collect()),
    ];
    let mut nic = Nic::new(&[IF_BACKEND], 1000);
    let t = l.handed_over(&mut p, &s, 0, &mut nic, &mut rings);
    assert_eq!(
        t,
        Tally {
            frames: 5,
            tx_full: 0,
            handoff_full: 0
        }
    );
    assert_eq!(nic.copies.len(), 5);
    assert!(nic
        .copies
        .iter()
        .all(|(i, f)| *i == IF_BACKEND && ip_of(f).dst() == B1));
    // Without a queue on the backends' interface, nothing can be sent.
    let mut rings = [Ring((5..7).map(syn).collect())];
    let mut nic = Nic::new(&[IF_CLIENT], 1000);
    let t = l.handed_over(&mut p, &s, 0, &mut nic, &mut rings);
    assert_eq!(
        t,
        Tally {
            frames: 2,
            tx_full: 2,
            handoff_full: 0
        }
    );
}

#[test]
fn housekeeping_runs_once_per_millisecond() {
    let mut p = testkit::pipeline(0, 16);
    let mut l = WorkerLoop::new(16, Nic::NONE);
    assert!(l.housekeeping(&mut p, 0));
    assert!(!l.housekeeping(&mut p, 0));
    assert!(l.housekeeping(&mut p, 1));
    assert!(!l.housekeeping(&mut p, 1));
    assert!(l.housekeeping(&mut p, 7));
}

#[test]
fn memory_queues_send_every_frame_in_place() {
    let s = snap(1);
    let mut p = testkit::pipeline(0, 1024);
    let mut t = Frames::new(60, 100);
    for port in 0..100 {
        t.push(&syn(port));
    }
    let mut q = MemoryQueue::new(&t);
    let mut l = WorkerLoop::new(0, Slot::default());
    let mut turns = 0;
    while q.remaining() > 0 {
        let n = l.receive(&mut p, &s, 0, &mut q, &mut NoHandoff);
        assert_eq!(n.frames, BATCH.min(100 - turns * BATCH));
        turns += 1;
    }
    assert_eq!((turns, q.sent), (2, 100));
    let last = q.last_sent().unwrap();
    assert_eq!(ip_of(last).dst(), B1);
    assert_eq!(crate::testkit::l4_ports(&ip_of(last)).0, 99);
    q.rewind();
    assert_eq!(q.remaining(), 100);
}
