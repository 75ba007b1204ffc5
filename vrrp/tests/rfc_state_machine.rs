//! Unit tests of the state machine, each written from one RFC sentence
//! (quoted above the test). RFC 9568 says "Active" where these tests say
//! "Master". All on a virtual clock: one base Instant plus Durations.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use vrrp::{
    Action, AddressMismatchPolicy, Advertisement, Centiseconds, ChecksumContext, ChecksumMode,
    Config, DecodeError, Event, FaultReason, Instance, NewMasterReason, ProtoErrReason, RxError,
    RxMeta, State, TransitionReason, TtlCheck,
};

const LOCAL: &str = "198.18.0.10";
const VIP: &str = "198.18.0.100";
const GROUP: &str = "224.0.0.18";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn config(priority: u8) -> Config {
    let mut c = Config::new(51, ip(LOCAL), vec![ip(VIP)]);
    c.priority = priority;
    c
}

fn started(t0: Instant, c: Config) -> Instance {
    let mut inst = Instance::new(c).unwrap();
    inst.handle_startup(t0);
    drain(&mut inst);
    inst
}

fn drain(inst: &mut Instance) -> Vec<Action> {
    std::iter::from_fn(|| inst.poll_action()).collect()
}

fn sent_priorities(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvertisement(t) => Some(t.advertisement.priority),
            _ => None,
        })
        .collect()
}

fn events(actions: &[Action]) -> Vec<Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn advert(src: &str, priority: u8, interval: u16, addresses: &[&str]) -> (RxMeta, Vec<u8>) {
    let adv = Advertisement {
        vrid: 51,
        priority,
        max_adver_int: Centiseconds(interval),
        addresses: addresses.iter().map(|a| ip(a)).collect(),
    };
    let ctx = ChecksumContext {
        src: ip(src),
        dst: ip(GROUP),
        mode: ChecksumMode::PseudoHeaderV4,
    };
    let meta = RxMeta {
        src: ip(src),
        dst: ip(GROUP),
        ttl_or_hop_limit: 255,
    };
    (meta, adv.to_bytes(&ctx))
}

fn rx(inst: &mut Instance, now: Instant, src: &str, priority: u8) -> Vec<Action> {
    let (meta, bytes) = advert(src, priority, 100, &[VIP]);
    inst.handle_advertisement(now, meta, &bytes);
    drain(inst)
}

fn become_master(t0: Instant, priority: u8) -> (Instance, Instant) {
    let mut inst = started(t0, config(priority));
    let at = inst.poll_timeout().unwrap();
    inst.handle_timeout(at);
    drain(&mut inst);
    assert_eq!(inst.state(), State::Master);
    (inst, at)
}

// §6.4.1: "else // Router is not the IPvX address owner ... Set
// Active_Adver_Interval to Advertisement_Interval ... Set the
// Active_Down_Timer to Active_Down_Interval ... Transition to the {Backup}
// state"
#[test]
fn startup_non_owner_goes_backup_with_master_down_timer() {
    let t0 = Instant::now();
    let mut inst = Instance::new(config(100)).unwrap();
    assert_eq!(inst.state(), State::Initialize);
    assert_eq!(inst.poll_timeout(), None);
    inst.handle_startup(t0);
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Backup);
    assert!(sent_priorities(&actions).is_empty());
    // 3 * 1 s + (256 - 100) / 256 s.
    assert_eq!(
        inst.poll_timeout(),
        Some(t0 + Duration::from_micros(3_609_375))
    );
    assert_eq!(inst.status().master_adver_interval, Centiseconds(100));
}

// §6.4.1: "If the Priority = 255 (i.e., the router owns the IPvX address(es)
// associated with the Virtual Router), then: Send an ADVERTISEMENT ...
// broadcast a gratuitous ARP ... Set the Adver_Timer to
// Advertisement_Interval ... Transition to the {Active} state"
#[test]
fn startup_owner_goes_master_at_once() {
    let t0 = Instant::now();
    let mut inst = Instance::new(config(255)).unwrap();
    inst.handle_startup(t0);
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Master);
    assert_eq!(sent_priorities(&actions), vec![255]);
    assert!(actions.contains(&Action::AddVirtualAddresses(vec![ip(VIP)])));
    assert!(actions.contains(&Action::SendGratuitous(vec![ip(VIP)])));
    assert_eq!(inst.poll_timeout(), Some(t0 + ms(1000)));
    assert_eq!(
        inst.statistics().new_master_reason,
        NewMasterReason::Priority
    );
    assert!(
        inst.status().accepts_virtual_traffic,
        "the owner always accepts"
    );
}

// §6.4.2: "If the Active_Down_Timer fires, then: Send an ADVERTISEMENT ...
// For each IPv4 address associated with the Virtual Router, broadcast a
// gratuitous ARP message ... Set the Adver_Timer to Advertisement_Interval ...
// Transition to the {Active} state"
#[test]
fn master_down_timer_promotes_backup() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let at = inst.poll_timeout().unwrap();
    inst.handle_timeout(at - Duration::from_micros(1));
    assert_eq!(inst.state(), State::Backup, "not a microsecond early");
    inst.handle_timeout(at);
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Master);
    // Order matters to the shell: advert, addresses, then the announcement.
    assert!(matches!(actions[0], Action::SendAdvertisement(_)));
    assert_eq!(actions[1], Action::AddVirtualAddresses(vec![ip(VIP)]));
    assert_eq!(actions[2], Action::SendGratuitous(vec![ip(VIP)]));
    assert_eq!(inst.poll_timeout(), Some(at + ms(1000)));
    let s = inst.statistics();
    assert_eq!(s.master_transitions, 1);
    assert_eq!(s.new_master_reason, NewMasterReason::MasterNoResponse);
    assert!(
        !inst.status().accepts_virtual_traffic,
        "Accept_Mode defaults to False"
    );
}

// §6.4.2: "If the Priority in the ADVERTISEMENT is 0, then: Set the
// Active_Down_Timer to Skew_Time"
#[test]
fn backup_priority_zero_sets_skew_time() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let now = t0 + ms(500);
    rx(&mut inst, now, "198.18.0.1", 0);
    assert_eq!(
        inst.poll_timeout(),
        Some(now + Duration::from_micros(609_375))
    );
    assert_eq!(inst.statistics().rcvd_pri_zero_packets, 1);
    inst.handle_timeout(now + Duration::from_micros(609_375));
    let actions = drain(&mut inst);
    assert!(events(&actions).contains(&Event::StateChanged {
        from: State::Backup,
        to: State::Master,
        reason: TransitionReason::MasterResigned
    }));
}

// §6.4.2: "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT
// is greater than or equal to the local Priority, then: Set
// Active_Adver_Interval to Max Advertise Interval contained in the
// ADVERTISEMENT, Recompute the Skew_Time, Recompute the Active_Down_Interval,
// Set the Active_Down_Timer to Active_Down_Interval"
#[test]
fn backup_learns_master_adver_interval() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let now = t0 + ms(200);
    let (meta, bytes) = advert("198.18.0.1", 200, 50, &[VIP]);
    inst.handle_advertisement(now, meta, &bytes);
    let actions = drain(&mut inst);
    let status = inst.status();
    assert_eq!(status.master_adver_interval, Centiseconds(50));
    assert_eq!(status.master_address, Some(ip("198.18.0.1")));
    assert_eq!(status.master_priority, Some(200));
    // 3 * 0.5 s + 156 * 0.5 / 256 s.
    assert_eq!(
        inst.poll_timeout(),
        Some(now + Duration::from_micros(1_804_687))
    );
    assert!(events(&actions).contains(&Event::MasterChanged {
        previous: None,
        current: Some(ip("198.18.0.1"))
    }));
    // RFC 6527 still counts an interval that differs from ours.
    assert_eq!(inst.statistics().adv_interval_errors, 1);
}

// §6.4.2: "else // preempt was true and priority was less than the local
// priority: Discard the ADVERTISEMENT"
#[test]
fn backup_with_preempt_discards_lower_priority() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(150));
    let deadline = inst.poll_timeout().unwrap();
    rx(&mut inst, t0 + ms(500), "198.18.0.1", 100);
    assert_eq!(inst.poll_timeout(), Some(deadline), "timer not reset");
    inst.handle_timeout(deadline);
    drain(&mut inst);
    assert_eq!(inst.state(), State::Master);
    assert_eq!(
        inst.statistics().new_master_reason,
        NewMasterReason::Preempted
    );
}

// §6.4.2: "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT
// is greater than or equal to the local Priority, then: ... Set the
// Active_Down_Timer to Active_Down_Interval"
#[test]
fn backup_without_preempt_follows_lower_priority() {
    let t0 = Instant::now();
    let mut c = config(150);
    c.preempt = false;
    let mut inst = started(t0, c);
    let now = t0 + ms(500);
    rx(&mut inst, now, "198.18.0.1", 100);
    assert_eq!(inst.poll_timeout(), Some(now + inst.master_down_interval()));
}

// §6.4.2: "If a Shutdown event is received, then: Cancel the
// Active_Down_Timer. Transition to the {Initialize} state."
#[test]
fn backup_shutdown_goes_initialize_silently() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    inst.handle_shutdown(t0 + ms(10));
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Initialize);
    assert!(sent_priorities(&actions).is_empty());
    assert_eq!(inst.poll_timeout(), None);
}

// §6.4.3: "If the Adver_Timer fires, then: Send an ADVERTISEMENT. Reset the
// Adver_Timer to Advertisement_Interval."
#[test]
fn master_sends_on_adver_timer() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 100);
    for i in 1..=5u32 {
        let due = at + ms(1000) * i;
        assert_eq!(inst.poll_timeout(), Some(due));
        inst.handle_timeout(due);
        assert_eq!(sent_priorities(&drain(&mut inst)), vec![100]);
    }
}

// §6.4.3: "If a Shutdown event is received, then: Cancel the Adver_Timer.
// Send an ADVERTISEMENT with Priority = 0. Transition to the {Initialize}
// state."
#[test]
fn master_shutdown_resigns_with_priority_zero() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 100);
    inst.handle_shutdown(at + ms(300));
    let actions = drain(&mut inst);
    assert_eq!(sent_priorities(&actions), vec![0]);
    assert!(actions.contains(&Action::RemoveVirtualAddresses(vec![ip(VIP)])));
    assert_eq!(inst.state(), State::Initialize);
    assert_eq!(inst.poll_timeout(), None);
    assert_eq!(inst.statistics().sent_pri_zero_packets, 1);
}

// §6.4.3: "If the Priority in the ADVERTISEMENT is 0, then: Send an
// ADVERTISEMENT. Reset the Adver_Timer to Advertisement_Interval."
#[test]
fn master_answers_priority_zero() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 100);
    let now = at + ms(400);
    let actions = rx(&mut inst, now, "198.18.0.1", 0);
    assert_eq!(sent_priorities(&actions), vec![100]);
    assert_eq!(inst.poll_timeout(), Some(now + ms(1000)));
    assert_eq!(inst.state(), State::Master);
}

// §6.4.3: "If the Priority in the ADVERTISEMENT is greater than the local
// Priority or the Priority in the ADVERTISEMENT is equal to the local
// Priority and the primary IPvX address of the sender is greater than the
// local primary IPvX address ... Transition to the {Backup} state"
#[test]
fn master_yields_to_higher_priority() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 100);
    let now = at + ms(100);
    let actions = rx(&mut inst, now, "198.18.0.1", 200);
    assert_eq!(inst.state(), State::Backup);
    assert!(actions.contains(&Action::RemoveVirtualAddresses(vec![ip(VIP)])));
    assert!(sent_priorities(&actions).is_empty());
    assert_eq!(inst.poll_timeout(), Some(now + inst.master_down_interval()));
    assert_eq!(inst.status().master_address, Some(ip("198.18.0.1")));
}

// §6.4.3: "... the Priority in the ADVERTISEMENT is equal to the local
// Priority and the primary IPvX address of the sender is greater than the
// local primary IPvX address (based on an unsigned integer comparison of the
// IPvX addresses in network byte order)"
#[test]
fn equal_priority_tie_break_by_address() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 100);
    // 198.18.0.9 < 198.18.0.10 as integers (but not as strings).
    let actions = rx(&mut inst, at + ms(10), "198.18.0.9", 100);
    assert_eq!(inst.state(), State::Master);
    assert_eq!(sent_priorities(&actions), vec![100]);
    rx(&mut inst, at + ms(20), "198.18.0.11", 100);
    assert_eq!(inst.state(), State::Backup);
}

// §6.4.3: "else // new Active Router logic: Discard the ADVERTISEMENT. Send an
// ADVERTISEMENT immediately to assert the {Active} state to the sending VRRP
// Router and to update any learning bridges with the correct Active VRRP
// Router path."
#[test]
fn master_asserts_itself_and_reports_split_brain() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 200);
    let now = at + ms(100);
    let actions = rx(&mut inst, now, "198.18.0.1", 100);
    assert_eq!(sent_priorities(&actions), vec![200]);
    assert!(events(&actions).contains(&Event::SplitBrainDetected {
        peer: ip("198.18.0.1"),
        peer_priority: 100
    }));
    assert!(actions.contains(&Action::SendGratuitous(vec![ip(VIP)])));
    assert_eq!(inst.status().split_brain_peer, Some(ip("198.18.0.1")));
    // A second advert is asserted against but not re-reported.
    let again = rx(&mut inst, now + ms(50), "198.18.0.1", 100);
    assert_eq!(sent_priorities(&again), vec![200]);
    assert!(events(&again).is_empty());
    // Cleared one Master_Down_Interval after the last such advert.
    let mdi = inst.master_down_interval();
    let mut cleared = Vec::new();
    while let Some(t) = inst.poll_timeout() {
        if t > now + ms(50) + mdi {
            break;
        }
        inst.handle_timeout(t);
        cleared.extend(events(&drain(&mut inst)));
    }
    assert!(cleared.contains(&Event::SplitBrainCleared {
        peer: ip("198.18.0.1")
    }));
    assert_eq!(inst.status().split_brain_peer, None);
}

// §5.1.1.3: "A VRRP Router receiving a packet with the TTL not equal to 255
// MUST discard the packet [RFC5082]."
#[test]
fn ttl_not_255_is_discarded() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let deadline = inst.poll_timeout();
    let (mut meta, bytes) = advert("198.18.0.1", 200, 100, &[VIP]);
    meta.ttl_or_hop_limit = 254;
    inst.handle_advertisement(t0 + ms(1), meta, &bytes);
    let s = inst.statistics();
    assert_eq!(s.ip_ttl_errors, 1);
    assert_eq!(s.rcvd_advertisements, 0);
    assert_eq!(s.proto_err_reason, ProtoErrReason::IpTtlError);
    assert_eq!(inst.poll_timeout(), deadline);
}

// Unicast extension (keepalived min_ttl/max_ttl): routed peers cannot keep 255.
#[test]
fn unicast_relaxed_ttl_range() {
    let t0 = Instant::now();
    let mut c = config(100);
    c.unicast_peers = vec![ip("198.18.1.1")];
    c.ttl_check = TtlCheck::Range { min: 250, max: 255 };
    c.check_unicast_source = true;
    let mut inst = started(t0, c);
    let (mut meta, bytes) = advert("198.18.1.1", 200, 100, &[VIP]);
    meta.ttl_or_hop_limit = 253;
    meta.dst = ip(LOCAL);
    let ctx = ChecksumContext {
        src: meta.src,
        dst: meta.dst,
        mode: ChecksumMode::PseudoHeaderV4,
    };
    let bytes = Advertisement::parse_bytes(&bytes, vrrp::AddressFamily::Ipv4)
        .unwrap()
        .to_bytes(&ctx);
    inst.handle_advertisement(t0, meta, &bytes);
    assert_eq!(inst.statistics().rcvd_advertisements, 1);
    meta.ttl_or_hop_limit = 249;
    inst.handle_advertisement(t0, meta, &bytes);
    assert_eq!(inst.statistics().ip_ttl_errors, 1);
    // A stranger is dropped when the source check is on.
    let (stranger, sbytes) = advert("198.18.0.77", 200, 100, &[VIP]);
    inst.handle_advertisement(t0, stranger, &sbytes);
    assert_eq!(inst.statistics().unknown_source_errors, 1);
}

// §5.2.2: "A packet with unknown type MUST be discarded."
#[test]
fn unknown_type_is_discarded() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let (meta, mut bytes) = advert("198.18.0.1", 200, 100, &[VIP]);
    bytes[0] = 0x32;
    inst.handle_advertisement(t0, meta, &bytes);
    assert_eq!(inst.statistics().rcvd_invalid_type_packets, 1);
    assert_eq!(inst.statistics().rcvd_advertisements, 0);
}

// §7.1: "It MUST verify that the VRRP version is 3."
#[test]
fn version_2_is_discarded_but_decoded_for_diagnostics() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let v2 = vrrp::AdvertisementV2 {
        vrid: 51,
        priority: 100,
        auth_type: vrrp::AuthType::SimpleText,
        adver_int: 1,
        addresses: vec!["198.18.0.100".parse().unwrap()],
        auth_data: *b"pass\0\0\0\0",
    };
    let meta = RxMeta {
        src: ip("198.18.0.1"),
        dst: ip(GROUP),
        ttl_or_hop_limit: 255,
    };
    inst.handle_advertisement(t0, meta, &v2.to_bytes());
    let actions = drain(&mut inst);
    assert_eq!(inst.statistics().router.version_errors, 1);
    assert_eq!(
        inst.statistics().proto_err_reason,
        ProtoErrReason::VersionError
    );
    assert_eq!(
        events(&actions),
        vec![Event::Version2Peer {
            src: ip("198.18.0.1"),
            advertisement: v2
        }]
    );
}

// §7.1: "It MUST verify the VRRP checksum."
#[test]
fn bad_checksum_is_discarded_and_reported_once() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let (meta, mut bytes) = advert("198.18.0.1", 200, 100, &[VIP]);
    bytes[7] ^= 0xff;
    inst.handle_advertisement(t0, meta, &bytes);
    let first = drain(&mut inst);
    inst.handle_advertisement(t0 + ms(10), meta, &bytes);
    let second = drain(&mut inst);
    assert_eq!(inst.statistics().router.checksum_errors, 2);
    assert!(matches!(
        events(&first)[..],
        [Event::ReceiveError {
            error: RxError::Checksum { .. },
            ..
        }]
    ));
    assert!(second.is_empty(), "repeats are counted, not re-reported");
}

// §7.1: "It MUST verify that the VRID is configured on the receiving interface."
#[test]
fn foreign_vrid_is_discarded() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let adv = Advertisement {
        vrid: 52,
        priority: 200,
        max_adver_int: Centiseconds(100),
        addresses: vec![ip(VIP)],
    };
    let (meta, _) = advert("198.18.0.1", 200, 100, &[VIP]);
    let ctx = ChecksumContext {
        src: meta.src,
        dst: meta.dst,
        mode: ChecksumMode::PseudoHeaderV4,
    };
    inst.handle_advertisement(t0, meta, &adv.to_bytes(&ctx));
    assert_eq!(inst.statistics().router.vrid_errors, 1);
    assert_eq!(
        inst.statistics().proto_err_reason,
        ProtoErrReason::VrIdError
    );
}

// §7.1: "It MUST verify that the received packet contains the complete VRRP
// packet (including fixed fields and the IPvX address)."
#[test]
fn truncated_packet_is_a_length_error() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let (meta, bytes) = advert("198.18.0.1", 200, 100, &[VIP]);
    for len in 0..bytes.len() {
        inst.handle_advertisement(t0, meta, &bytes[..len]);
    }
    assert_eq!(inst.statistics().packet_length_errors, bytes.len() as u64);
    let actions = drain(&mut inst);
    assert!(events(&actions).iter().any(|e| matches!(
        e,
        Event::ReceiveError {
            error: RxError::Decode(DecodeError::TooShort { .. }),
            ..
        }
    )));
}

// Erratum 8301: "It MUST verify that the Max Advertise Interval is non zero."
// Erratum 8299: "If the received count is 0, the VRRP advertisement MUST be
// ignored."
#[test]
fn zero_interval_and_zero_count_are_ignored() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let (meta, bytes) = advert("198.18.0.1", 200, 0, &[VIP]);
    inst.handle_advertisement(t0, meta, &bytes);
    let (meta, bytes) = advert("198.18.0.1", 200, 100, &[]);
    inst.handle_advertisement(t0, meta, &bytes);
    let s = inst.statistics();
    assert_eq!(s.adv_interval_errors, 1);
    assert_eq!(s.address_list_errors, 1);
    assert_eq!(s.rcvd_advertisements, 0);
    assert_eq!(inst.status().master_address, None);
}

// §7.1: "It MAY verify that the IPvX address(es) associated with the VRID are
// valid. If the above check fails, the receiver SHOULD log the event and MAY
// indicate via network management that a misconfiguration was detected."
#[test]
fn address_list_mismatch_is_reported_not_dropped() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let (meta, bytes) = advert("198.18.0.1", 200, 100, &["198.18.0.101"]);
    inst.handle_advertisement(t0 + ms(5), meta, &bytes);
    let actions = drain(&mut inst);
    assert_eq!(inst.statistics().address_list_errors, 1);
    assert!(events(&actions).contains(&Event::AddressListMismatch {
        peer: ip("198.18.0.1"),
        advertised: vec![ip("198.18.0.101")]
    }));
    assert_eq!(inst.status().master_address, Some(ip("198.18.0.1")));

    let mut c = config(100);
    c.address_mismatch = AddressMismatchPolicy::Discard;
    let mut strict = started(t0, c);
    strict.handle_advertisement(t0 + ms(5), meta, &bytes);
    assert_eq!(strict.status().master_address, None);
    assert_eq!(strict.statistics().address_list_errors, 1);
}

// §5.2.4: "The priority value for the VRRP Router that owns the IPvX
// address associated with the Virtual Router MUST be 255 (decimal). VRRP
// Routers backing up a Virtual Router MUST use priority values between 1-254
// (decimal)."
#[test]
fn effective_priority_clamps_and_owner_is_fixed() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    inst.set_priority_adjustment(t0, 500);
    assert_eq!(inst.effective_priority(), 254);
    inst.set_priority_adjustment(t0, -500);
    assert_eq!(inst.effective_priority(), 1);
    inst.set_priority_adjustment(t0, -30);
    assert_eq!(inst.effective_priority(), 70);
    let actions = drain(&mut inst);
    assert_eq!(
        events(&actions).last(),
        Some(&Event::PriorityChanged { from: 1, to: 70 })
    );
    let mut owner = started(t0, config(255));
    owner.set_priority_adjustment(t0, -100);
    assert_eq!(owner.effective_priority(), 255);
    assert_eq!(owner.status().priority_adjustment, -100);
}

// Tracking: a Backup whose tracked priority now beats the Master preempts it.
#[test]
fn tracked_priority_drives_preemption() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let followed = t0 + ms(100);
    rx(&mut inst, followed, "198.18.0.1", 120);
    inst.set_priority_adjustment(t0 + ms(200), 50);
    rx(&mut inst, t0 + ms(1100), "198.18.0.1", 120);
    rx(&mut inst, t0 + ms(2100), "198.18.0.1", 120);
    // The timer keeps the deadline set by the last advert it followed, with
    // the Master_Down_Interval computed then (priority 100).
    let deadline = inst.poll_timeout().unwrap();
    assert_eq!(
        deadline,
        followed + vrrp::master_down_interval(100, Centiseconds(100))
    );
    inst.handle_timeout(deadline);
    drain(&mut inst);
    assert_eq!(inst.state(), State::Master);
    assert_eq!(
        inst.statistics().new_master_reason,
        NewMasterReason::Preempted
    );
}

// keepalived FAULT: a Master that faults resigns (priority 0), drops its
// addresses and goes silent; clearing the fault restarts as from Startup.
#[test]
fn fault_resigns_and_silences() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 100);
    let now = at + ms(100);
    inst.set_fault(now, Some(FaultReason::InterfaceDown));
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Fault);
    assert_eq!(sent_priorities(&actions), vec![0]);
    assert!(actions.contains(&Action::RemoveVirtualAddresses(vec![ip(VIP)])));
    assert_eq!(inst.poll_timeout(), None, "sends nothing");
    // Adverts are counted but change nothing.
    rx(&mut inst, now + ms(10), "198.18.0.1", 200);
    assert_eq!(inst.state(), State::Fault);
    assert_eq!(inst.statistics().rcvd_advertisements, 1);
    assert_eq!(inst.status().fault, Some(FaultReason::InterfaceDown));
    inst.set_fault(now + ms(20), None);
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Backup);
    assert!(events(&actions).contains(&Event::StateChanged {
        from: State::Fault,
        to: State::Backup,
        reason: TransitionReason::FaultCleared
    }));
}

#[test]
fn fault_before_startup_starts_in_fault() {
    let t0 = Instant::now();
    let mut inst = Instance::new(config(255)).unwrap();
    inst.set_fault(t0, Some(FaultReason::Tracker("chk_nginx".into())));
    assert_eq!(inst.state(), State::Initialize);
    inst.handle_startup(t0);
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Fault);
    assert!(sent_priorities(&actions).is_empty());
    inst.set_fault(t0 + ms(5), None);
    assert_eq!(
        inst.state(),
        State::Master,
        "an owner leaves Fault as Master"
    );
}

// keepalived preempt_delay: a lower-priority Master is followed for the delay
// before the Backup starts discarding its adverts.
#[test]
fn preempt_delay_postpones_preemption() {
    let t0 = Instant::now();
    let mut c = config(200);
    c.preempt_delay = Duration::from_secs(5);
    let mut inst = started(t0, c);
    let mut last_followed = t0;
    for i in 0..10u64 {
        let now = t0 + ms(1000 * i);
        rx(&mut inst, now, "198.18.0.1", 100);
        if now < t0 + Duration::from_secs(5) {
            assert_eq!(inst.poll_timeout(), Some(now + inst.master_down_interval()));
            last_followed = now;
        }
        if inst.poll_timeout().unwrap() <= now + ms(1000) {
            break;
        }
    }
    let deadline = inst.poll_timeout().unwrap();
    assert_eq!(deadline, last_followed + inst.master_down_interval());
    inst.handle_timeout(deadline);
    assert_eq!(inst.state(), State::Master);
}

#[test]
fn own_looped_back_advert_is_ignored() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 100);
    let actions = rx(&mut inst, at + ms(1), LOCAL, 100);
    assert!(actions.is_empty());
    assert_eq!(inst.statistics().rcvd_advertisements, 0);
}

#[test]
fn ipv6_instance_runs_with_pseudo_header() {
    let t0 = Instant::now();
    let c = Config::new(
        52,
        ip("fe80::10"),
        vec![ip("fe80::100"), ip("2001:db8:0:1::100")],
    );
    let mut inst = started(t0, c);
    let at = inst.poll_timeout().unwrap();
    inst.handle_timeout(at);
    let actions = drain(&mut inst);
    let Action::SendAdvertisement(tx) = &actions[0] else {
        panic!("first action must be the advert");
    };
    assert_eq!(tx.dst, ip("ff02::12"));
    assert_eq!(tx.ttl, 255);
    assert_eq!(tx.payload.len(), 8 + 32);
    let p = vrrp::Packet::new_checked(&tx.payload[..]).unwrap();
    assert!(p.verify_checksum(&ChecksumContext {
        src: tx.src,
        dst: tx.dst,
        mode: ChecksumMode::Rfc9568
    }));
}

#[test]
fn sync_group_member_waits_instead_of_promoting() {
    let t0 = Instant::now();
    let mut c = config(100);
    c.sync_group = true;
    let mut inst = started(t0, c);
    let at = inst.poll_timeout().unwrap();
    inst.handle_timeout(at);
    assert_eq!(inst.state(), State::Backup);
    assert!(inst.sync_view().wants_master);
    assert_eq!(inst.poll_timeout(), Some(at + inst.master_down_interval()));
    inst.force_master(at + ms(1));
    assert_eq!(inst.state(), State::Master);
    assert!(!inst.sync_view().wants_master);
}

// Unicast extension: one transmission per peer, each with the checksum of
// its own (src, dst) pair.
#[test]
fn unicast_master_sends_to_each_peer() {
    let t0 = Instant::now();
    let mut c = config(255);
    c.unicast_peers = vec![ip("198.18.1.1"), ip("198.18.2.1")];
    let mut inst = Instance::new(c).unwrap();
    inst.handle_startup(t0);
    let sends: Vec<_> = drain(&mut inst)
        .into_iter()
        .filter_map(|a| match a {
            Action::SendAdvertisement(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 2);
    for (tx, peer) in sends.iter().zip(["198.18.1.1", "198.18.2.1"]) {
        assert_eq!(tx.dst, ip(peer));
        assert_eq!(tx.src, ip(LOCAL));
        let p = vrrp::Packet::new_checked(&tx.payload[..]).unwrap();
        assert!(p.verify_checksum(&ChecksumContext {
            src: tx.src,
            dst: tx.dst,
            mode: ChecksumMode::PseudoHeaderV4
        }));
    }
    assert_ne!(sends[0].payload, sends[1].payload);
    assert_eq!(inst.statistics().sent_advertisements, 2);
}

/// `advert` with the checksum and header of an arbitrary source/destination.
fn advert_between(src: &str, dst: &str, priority: u8) -> (RxMeta, Vec<u8>) {
    let adv = Advertisement {
        vrid: 51,
        priority,
        max_adver_int: Centiseconds(100),
        addresses: vec![ip(VIP)],
    };
    let ctx = ChecksumContext {
        src: ip(src),
        dst: ip(dst),
        mode: ChecksumMode::PseudoHeaderV4,
    };
    let meta = RxMeta {
        src: ip(src),
        dst: ip(dst),
        ttl_or_hop_limit: 255,
    };
    (meta, adv.to_bytes(&ctx))
}

// §5.1.1.1: "Source Address: This is the primary IPv4 address of the
// interface the packet is being sent from." 0.0.0.0, the broadcast and a
// group are nobody's interface address: following one would make a Master
// that no priority-0 advert or Master_Down_Timer of a real router can end.
#[test]
fn non_unicast_source_is_discarded_and_counted() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let before = inst.poll_timeout();
    for src in ["0.0.0.0", "255.255.255.255", "224.0.0.5"] {
        let (meta, bytes) = advert_between(src, GROUP, 200);
        assert_eq!(
            inst.handle_advertisement(t0 + ms(10), meta, &bytes),
            Some(RxError::InvalidSource(ip(src)))
        );
    }
    let s = inst.statistics();
    assert_eq!(s.invalid_source_errors, 3);
    assert_eq!(s.rcvd_advertisements, 0);
    assert_eq!(inst.status().master_address, None);
    assert_eq!(
        inst.poll_timeout(),
        before,
        "the Master_Down_Timer is untouched"
    );
    assert!(events(&drain(&mut inst)).iter().any(|e| matches!(
        e,
        Event::ReceiveError {
            error: RxError::InvalidSource(_),
            ..
        }
    )));

    let mut v6 = started(
        t0,
        Config::new(51, ip("fe80::10"), vec![ip("2001:db8::100")]),
    );
    let adv = Advertisement {
        vrid: 51,
        priority: 200,
        max_adver_int: Centiseconds(100),
        addresses: vec![ip("2001:db8::100")],
    };
    let ctx = ChecksumContext {
        src: ip("::"),
        dst: ip("ff02::12"),
        mode: ChecksumMode::Rfc9568,
    };
    let meta = RxMeta {
        src: ip("::"),
        dst: ip("ff02::12"),
        ttl_or_hop_limit: 255,
    };
    assert_eq!(
        v6.handle_advertisement(t0, meta, &adv.to_bytes(&ctx)),
        Some(RxError::InvalidSource(ip("::")))
    );
    assert_eq!(v6.statistics().invalid_source_errors, 1);
}

// §7.1: "It MUST verify that the IP destination address is the VRRP
// multicast group" on an instance without unicast peers.
#[test]
fn unicast_destination_on_a_multicast_instance_is_discarded() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let (meta, bytes) = advert_between("198.18.0.1", LOCAL, 200);
    assert_eq!(
        inst.handle_advertisement(t0, meta, &bytes),
        Some(RxError::Destination(ip(LOCAL)))
    );
    assert_eq!(inst.statistics().destination_errors, 1);
    assert_eq!(inst.statistics().rcvd_advertisements, 0);
    assert_eq!(inst.status().master_address, None);

    // With unicast peers the same packet is what the protocol expects.
    let mut c = config(100);
    c.unicast_peers = vec![ip("198.18.0.1")];
    let mut uni = started(t0, c);
    assert_eq!(uni.handle_advertisement(t0, meta, &bytes), None);
    assert_eq!(uni.statistics().rcvd_advertisements, 1);
}

// §6.1: Active_Adver_Interval is "the Advertisement_Interval of the current
// Active Router": once we are the Master it is ours, not the one we learned
// while following another router.
#[test]
fn master_shows_its_own_interval_not_the_learned_one() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    let (meta, bytes) = advert("198.18.0.1", 200, 50, &[VIP]);
    inst.handle_advertisement(t0, meta, &bytes);
    assert_eq!(inst.status().master_adver_interval, Centiseconds(50));
    let at = inst.poll_timeout().unwrap();
    inst.handle_timeout(at);
    drain(&mut inst);
    assert_eq!(inst.state(), State::Master);
    let status = inst.status();
    assert_eq!(status.master_adver_interval, Centiseconds(100));
    // Skew_Time and Master_Down_Interval follow the interval in force.
    assert_eq!(
        status.master_down_interval,
        Duration::from_micros(3_609_375)
    );
}

// Reconfiguration in place: a Master whose priority changes stays Master and
// never resigns; its next advert carries the new priority (§6.4.3 "Send an
// ADVERTISEMENT" on the Adver_Timer, with the router's Priority).
#[test]
fn reconfigured_priority_keeps_the_master_and_goes_in_the_next_advert() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 200);
    let mut c = config(150);
    c.primary_address = ip("198.18.0.99"); // ignored: the running primary stays
    inst.reconfigure(at + ms(10), c).unwrap();
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Master);
    assert!(
        sent_priorities(&actions).is_empty(),
        "nothing sent, no priority 0"
    );
    assert!(!actions.iter().any(|a| matches!(
        a,
        Action::RemoveVirtualAddresses(_) | Action::AddVirtualAddresses(_)
    )));
    assert!(events(&actions).contains(&Event::PriorityChanged { from: 200, to: 150 }));
    assert_eq!(inst.statistics().sent_pri_zero_packets, 0);
    let next = inst.poll_timeout().unwrap();
    assert_eq!(next, at + ms(1000), "the advert schedule is unchanged");
    inst.handle_timeout(next);
    let actions = drain(&mut inst);
    assert_eq!(sent_priorities(&actions), vec![150]);
    let Action::SendAdvertisement(tx) = &actions[0] else {
        panic!("advert first");
    };
    assert_eq!(tx.src, ip(LOCAL));

    // Lower than a Backup's: that Backup preempts as after any advert, and we
    // follow its higher-priority advert (§6.4.3).
    let actions = rx(&mut inst, next + ms(5), "198.18.0.1", 180);
    assert_eq!(inst.state(), State::Backup);
    assert!(actions.contains(&Action::RemoveVirtualAddresses(vec![ip(VIP)])));
}

// Adding and removing virtual addresses on a Master touches only those.
#[test]
fn reconfigured_addresses_change_one_by_one() {
    let t0 = Instant::now();
    let mut c = config(200);
    c.virtual_addresses = vec![ip(VIP), ip("198.18.0.101")];
    let mut inst = started(t0, c.clone());
    let at = inst.poll_timeout().unwrap();
    inst.handle_timeout(at);
    drain(&mut inst);
    c.virtual_addresses = vec![ip(VIP), ip("198.18.0.102")];
    inst.reconfigure(at, c).unwrap();
    let actions = drain(&mut inst);
    assert_eq!(
        actions,
        vec![
            Action::RemoveVirtualAddresses(vec![ip("198.18.0.101")]),
            Action::AddVirtualAddresses(vec![ip("198.18.0.102")]),
            Action::SendGratuitous(vec![ip("198.18.0.102")]),
        ]
    );
    inst.handle_timeout(inst.poll_timeout().unwrap());
    let actions = drain(&mut inst);
    let Action::SendAdvertisement(tx) = &actions[0] else {
        panic!("advert");
    };
    assert_eq!(
        tx.advertisement.addresses,
        vec![ip(VIP), ip("198.18.0.102")]
    );

    // A Backup holds no address: nothing to do.
    let mut backup = started(t0, config(100));
    let mut c = config(100);
    c.virtual_addresses.push(ip("198.18.0.103"));
    backup.reconfigure(t0, c).unwrap();
    assert!(drain(&mut backup).is_empty());
}

#[test]
fn reconfigured_interval_applies_to_the_next_advert() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 200);
    let mut c = config(200);
    c.advertisement_interval = Centiseconds(10);
    inst.reconfigure(at + ms(1), c).unwrap();
    assert_eq!(inst.poll_timeout(), Some(at + ms(101)));
    assert_eq!(inst.status().master_adver_interval, Centiseconds(10));
    inst.handle_timeout(at + ms(101));
    let actions = drain(&mut inst);
    let Action::SendAdvertisement(tx) = &actions[0] else {
        panic!("advert");
    };
    assert_eq!(tx.advertisement.max_adver_int, Centiseconds(10));
    assert_eq!(inst.poll_timeout(), Some(at + ms(201)));
}

#[test]
fn reconfigure_refuses_another_vrid_and_invalid_values() {
    let t0 = Instant::now();
    let (mut inst, at) = become_master(t0, 200);
    let mut c = config(200);
    c.vrid = 52;
    assert_eq!(
        inst.reconfigure(at, c),
        Err(vrrp::ConfigError::NotInPlace("VRID"))
    );
    let mut c = config(200);
    c.virtual_addresses.clear();
    assert!(inst.reconfigure(at, c).is_err());
    assert_eq!(inst.config().priority, 200);
    assert_eq!(inst.state(), State::Master);
}

// §6.4.1: the address owner becomes Master; made the owner by a reload, a
// Backup does so at once, as a restart would make it, without the gap.
#[test]
fn reconfigured_owner_takes_over() {
    let t0 = Instant::now();
    let mut inst = started(t0, config(100));
    rx(&mut inst, t0 + ms(5), "198.18.0.1", 200);
    inst.reconfigure(t0 + ms(6), config(255)).unwrap();
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Master);
    assert_eq!(sent_priorities(&actions), vec![255]);
}
