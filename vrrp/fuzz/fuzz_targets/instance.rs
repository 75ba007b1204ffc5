//! One Virtual Router fed whatever the input decodes to: adverts built from fields (any
//! priority, interval, source, TTL, VRID, address list, a corrupted octet), raw payloads,
//! timer ticks, priority adjustments, faults, sync-group commands, start-up and shutdown.
//! After every input, as the shell relies on: no panic; the virtual addresses are added and
//! removed alternately and held exactly while Master; Backup and Master have a deadline in the
//! future, Initialize and Fault none; the effective priority stays 255 for the owner and within
//! 1..=254 otherwise; every advertisement sent leaves from the primary address with TTL 255,
//! for this VRID, with a checksum that verifies; the statistics never go down.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vrrp::{
    Action, AddressFamily, AddressMismatchPolicy, Advertisement, Centiseconds, ChecksumContext,
    ChecksumMode, Config, FaultReason, Instance, Packet, RxMeta, State, TtlCheck,
};

const VRID: u8 = 51;

/// Reads the input front to back; past its end every read is zero.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

/// Host `n` of the test network of `family`; host 3 is this router.
fn host(v6: bool, n: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(n)))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, n))
    }
}

fn vip(v6: bool, n: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            0,
            0x100 + u16::from(n),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100 + n))
    }
}

fn group(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12))
    } else {
        IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))
    }
}

fn config(b: &mut Bytes<'_>) -> Config {
    let flags = b.u8();
    let v6 = flags & 1 != 0;
    let mut cfg = Config::new(VRID, host(v6, 3), vec![vip(v6, 0), vip(v6, 1)]);
    cfg.preempt = flags & 2 != 0;
    cfg.accept_mode = flags & 4 != 0;
    cfg.priority = if flags & 8 != 0 { 255 } else { b.u8().max(1) };
    cfg.checksum_mode = if flags & 16 != 0 {
        ChecksumMode::Rfc9568
    } else {
        ChecksumMode::PseudoHeaderV4
    };
    cfg.accept_either_checksum = flags & 32 != 0;
    if flags & 64 != 0 {
        cfg.unicast_peers = vec![host(v6, 1), host(v6, 2)];
        cfg.check_unicast_source = flags & 128 != 0;
        cfg.ttl_check = TtlCheck::Range { min: 250, max: 255 };
    } else if flags & 128 != 0 {
        cfg.address_mismatch = AddressMismatchPolicy::Discard;
    }
    cfg.advertisement_interval = Centiseconds(b.u16() % 500);
    cfg.preempt_delay = Duration::from_millis(u64::from(b.u8()) * 20);
    cfg
}

/// The advert a peer sends, from fields of the input.
fn advert(b: &mut Bytes<'_>, v6: bool, mode: ChecksumMode) -> (RxMeta, Vec<u8>) {
    let (src_host, priority, interval, ttl, flags) = (b.u8(), b.u8(), b.u16(), b.u8(), b.u8());
    let src = match flags & 3 {
        0 => host(v6, 1 + src_host % 4),
        1 => host(v6, src_host),
        2 if v6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        2 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => host(!v6, src_host),
    };
    let dst = if flags & 4 != 0 {
        host(v6, 3)
    } else {
        group(v6)
    };
    let addresses = match (flags >> 3) & 3 {
        0 => vec![vip(v6, 0), vip(v6, 1)],
        1 => vec![vip(v6, 1)],
        2 => vec![],
        _ => (0..b.u8() % 8).map(|n| vip(v6, n)).collect(),
    };
    let adv = Advertisement {
        vrid: if flags & 32 != 0 { b.u8() } else { VRID },
        priority,
        max_adver_int: Centiseconds(interval & 0x0fff),
        addresses,
    };
    let mut bytes = adv.to_bytes(&ChecksumContext { src, dst, mode });
    if flags & 64 != 0 {
        let at = usize::from(b.u8()) % bytes.len();
        bytes[at] ^= b.u8() | 1;
    }
    let ttl = if flags & 128 != 0 { ttl } else { 255 };
    let meta = RxMeta {
        src,
        dst,
        ttl_or_hop_limit: ttl,
    };
    (meta, bytes)
}

/// Arbitrary octets as a payload from a peer, with the checksum refilled or not.
fn raw(b: &mut Bytes<'_>, v6: bool, mode: ChecksumMode) -> (RxMeta, Vec<u8>) {
    let (src_host, flags, len) = (b.u8(), b.u8(), b.u8());
    let src = host(v6, src_host);
    let dst = group(v6);
    let mut bytes = b.take(usize::from(len)).to_vec();
    if flags & 1 != 0 {
        if let Ok(mut p) = Packet::new_checked(&mut bytes[..]) {
            p.fill_checksum(&ChecksumContext { src, dst, mode });
        }
    }
    let meta = RxMeta {
        src,
        dst,
        ttl_or_hop_limit: 255,
    };
    (meta, bytes)
}

/// The counters that only ever grow.
fn counters(inst: &Instance) -> [u64; 4] {
    let s = inst.statistics();
    [
        s.rcvd_advertisements,
        s.rcvd_pri_zero_packets,
        s.adv_interval_errors,
        s.address_list_errors,
    ]
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let cfg = config(&mut b);
    let v6 = cfg.family() == AddressFamily::Ipv6;
    let (local, mode, owner) = (cfg.primary_address, cfg.checksum_mode, cfg.priority == 255);
    let Ok(mut inst) = Instance::new(cfg) else {
        return;
    };
    let mut now = Instant::now();
    let mut holds_vips = false;
    let mut seen = counters(&inst);
    while !b.0.is_empty() {
        match b.u8() % 11 {
            0 => inst.handle_startup(now),
            1 => inst.handle_shutdown(now),
            2 | 3 => {
                now += Duration::from_millis(u64::from(b.u16()));
                inst.handle_timeout(now);
            }
            4 | 5 => {
                let (meta, bytes) = advert(&mut b, v6, mode);
                inst.handle_advertisement(now, meta, &bytes);
            }
            6 => {
                let (meta, bytes) = raw(&mut b, v6, mode);
                inst.handle_advertisement(now, meta, &bytes);
            }
            7 => inst.set_priority_adjustment(now, i32::from(b.u16() as i16)),
            8 => {
                let fault = b.u8() & 1 != 0;
                inst.set_fault(now, fault.then_some(FaultReason::InterfaceDown));
            }
            9 => {
                let f = b.u8();
                inst.set_group_fault(now, f & 1 != 0);
            }
            _ => {
                if b.u8() & 1 != 0 {
                    inst.force_master(now)
                } else {
                    inst.force_backup(now)
                }
            }
        }
        while let Some(action) = inst.poll_action() {
            match action {
                Action::AddVirtualAddresses(_) => {
                    assert!(!holds_vips, "added twice");
                    holds_vips = true;
                }
                Action::RemoveVirtualAddresses(_) => {
                    assert!(holds_vips, "removed while not held");
                    holds_vips = false;
                }
                Action::SendAdvertisement(tx) => {
                    assert_eq!(tx.ttl, 255);
                    assert_eq!(tx.src, local);
                    assert_eq!(tx.advertisement.vrid, VRID);
                    let p = Packet::new_checked(&tx.payload[..]).expect("a whole header");
                    let ctx = ChecksumContext {
                        src: tx.src,
                        dst: tx.dst,
                        mode,
                    };
                    assert!(p.verify_checksum(&ctx), "sent checksum verifies");
                }
                _ => {}
            }
        }
        let state = inst.state();
        assert_eq!(
            holds_vips,
            state == State::Master,
            "VIPs held exactly while Master"
        );
        match state {
            State::Initialize | State::Fault => assert_eq!(inst.poll_timeout(), None),
            State::Backup | State::Master => {
                let t = inst.poll_timeout();
                assert!(t.is_some_and(|t| t > now), "timer missing or overdue");
            }
        }
        let p = inst.effective_priority();
        if owner {
            assert_eq!(p, 255);
        } else {
            assert!((1..=254).contains(&p), "effective priority {p}");
        }
        let c = counters(&inst);
        assert!(
            c.iter().zip(seen).all(|(now, before)| *now >= before),
            "a counter went down"
        );
        seen = c;
    }
});
