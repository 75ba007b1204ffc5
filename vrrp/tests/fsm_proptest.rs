//! Random input sequences against one instance: whatever arrives, the
//! invariants the shell relies on hold and nothing panics.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vrrp::{
    Action, Advertisement, Centiseconds, ChecksumContext, ChecksumMode, Config, FaultReason,
    Instance, RxMeta, State,
};

#[derive(Debug, Clone)]
enum Input {
    Startup,
    Shutdown,
    /// Advance the clock by this many milliseconds and fire due timers.
    Wait(u16),
    Advert {
        host: u8,
        priority: u8,
        interval: u16,
        ttl: u8,
        corrupt: bool,
    },
    Adjust(i16),
    Fault(bool),
    GroupFault(bool),
    ForceMaster,
    ForceBackup,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => Just(Input::Startup),
        1 => Just(Input::Shutdown),
        8 => (0u16..5000).prop_map(Input::Wait),
        8 => (1u8..6, any::<u8>(), 0u16..400, prop_oneof![9 => Just(255u8), 1 => any::<u8>()], prop::bool::weighted(0.1))
            .prop_map(|(host, priority, interval, ttl, corrupt)| Input::Advert { host, priority, interval, ttl, corrupt }),
        2 => (-300i16..300).prop_map(Input::Adjust),
        1 => any::<bool>().prop_map(Input::Fault),
        1 => any::<bool>().prop_map(Input::GroupFault),
        1 => Just(Input::ForceMaster),
        1 => Just(Input::ForceBackup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants_hold_under_any_input(
        priority in prop_oneof![Just(255u8), 1u8..255],
        preempt in any::<bool>(),
        delay_ms in prop_oneof![Just(0u64), 0u64..5000],
        inputs in prop::collection::vec(input(), 1..80),
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let local: IpAddr = "198.18.0.3".parse().unwrap();
        let vip: IpAddr = "198.18.0.100".parse().unwrap();
        let mut cfg = Config::new(51, local, vec![vip]);
        cfg.priority = priority;
        cfg.preempt = preempt;
        cfg.preempt_delay = Duration::from_millis(delay_ms);
        let mut inst = Instance::new(cfg).unwrap();
        let mut holds_vips = false;

        for input in inputs {
            match input {
                Input::Startup => inst.handle_startup(now),
                Input::Shutdown => inst.handle_shutdown(now),
                Input::Wait(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    inst.handle_timeout(now);
                }
                Input::Advert { host, priority, interval, ttl, corrupt } => {
                    let src = IpAddr::from([198, 18, 0, host]);
                    let dst: IpAddr = "224.0.0.18".parse().unwrap();
                    let adv = Advertisement {
                        vrid: 51,
                        priority,
                        max_adver_int: Centiseconds(interval),
                        addresses: vec![vip],
                    };
                    let mut bytes = adv.to_bytes(&ChecksumContext { src, dst, mode: ChecksumMode::PseudoHeaderV4 });
                    if corrupt {
                        let at = usize::from(host) % bytes.len();
                        bytes[at] ^= 0x5a;
                    }
                    inst.handle_advertisement(now, RxMeta { src, dst, ttl_or_hop_limit: ttl }, &bytes);
                }
                Input::Adjust(a) => inst.set_priority_adjustment(now, i32::from(a)),
                Input::Fault(f) => inst.set_fault(now, f.then_some(FaultReason::InterfaceDown)),
                Input::GroupFault(f) => inst.set_group_fault(now, f),
                Input::ForceMaster => inst.force_master(now),
                Input::ForceBackup => inst.force_backup(now),
            }
            while let Some(action) = inst.poll_action() {
                match action {
                    Action::AddVirtualAddresses(_) => {
                        prop_assert!(!holds_vips, "added twice");
                        holds_vips = true;
                    }
                    Action::RemoveVirtualAddresses(_) => {
                        prop_assert!(holds_vips, "removed while not held");
                        holds_vips = false;
                    }
                    Action::SendAdvertisement(tx) => {
                        prop_assert_eq!(tx.ttl, 255);
                        prop_assert_eq!(tx.src, local);
                        let p = vrrp::Packet::new_checked(&tx.payload[..]).unwrap();
                        let ctx = ChecksumContext {
                            src: tx.src,
                            dst: tx.dst,
                            mode: ChecksumMode::PseudoHeaderV4,
                        };
                        prop_assert!(p.verify_checksum(&ctx));
                    }
                    _ => {}
                }
            }
            let state = inst.state();
            // The addresses are held exactly while Master.
            prop_assert_eq!(holds_vips, state == State::Master);
            // Timers: only Backup and Master have them, and none is overdue.
            match state {
                State::Initialize | State::Fault => prop_assert_eq!(inst.poll_timeout(), None),
                State::Backup | State::Master => {
                    let t = inst.poll_timeout();
                    prop_assert!(t.is_some_and(|t| t > now), "timer missing or overdue");
                }
            }
            let p = inst.effective_priority();
            if priority == 255 {
                prop_assert_eq!(p, 255);
            } else {
                prop_assert!((1..=254).contains(&p));
            }
        }
    }
}
