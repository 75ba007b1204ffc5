//! Multi-router scenarios on a simulated L2 segment (see tests/sim).

mod sim;

use std::time::Duration;

use sim::{v4_config, Segment};
use vrrp::{
    master_down_interval, skew_time, Centiseconds, Event, FaultReason, NewMasterReason, State,
    TransitionReason,
};

const SECOND: Duration = Duration::from_secs(1);
const CS100: Centiseconds = Centiseconds(100);

/// Three routers 100 / 150 / 200 on one segment, started together.
fn three_routers() -> (Segment, usize, usize, usize) {
    let mut seg = Segment::new();
    let a = seg.add("a", v4_config(1, 100));
    let b = seg.add("b", v4_config(2, 150));
    let c = seg.add("c", v4_config(3, 200));
    seg.start_all();
    seg.run_for(10 * SECOND);
    (seg, a, b, c)
}

#[test]
fn highest_priority_wins() {
    let (mut seg, a, b, c) = three_routers();
    assert_eq!(seg.masters(), vec![c]);
    // The highest priority has the shortest Master_Down_Interval.
    assert_eq!(
        seg.entered(c, State::Master),
        Some(seg.t0 + master_down_interval(200, CS100))
    );
    assert_eq!(seg.times_entered(a, State::Master), 0);
    assert_eq!(seg.times_entered(b, State::Master), 0);
    seg.run_for(60 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
    let addr_c = seg.routers[c].config.primary_address;
    for i in [a, b] {
        assert_eq!(seg.state(i), State::Backup);
        assert_eq!(seg.routers[i].inst.status().master_address, Some(addr_c));
        assert!(!seg.routers[i].holds_vips);
    }
    assert!(seg.routers[c].holds_vips);
}

#[test]
fn crash_failover_at_exactly_master_down_interval() {
    let (mut seg, a, b, c) = three_routers();
    seg.run_for(SECOND / 3);
    let (last_advert, _) = seg.last_sent(c).unwrap();
    seg.crash(c);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![b]);
    assert_eq!(
        seg.entered(b, State::Master),
        Some(last_advert + master_down_interval(150, CS100))
    );
    assert_eq!(seg.times_entered(a, State::Master), 0);
    assert_eq!(
        seg.routers[b].inst.statistics().new_master_reason,
        NewMasterReason::MasterNoResponse
    );
}

#[test]
fn graceful_failover_at_skew_time() {
    let (mut seg, a, b, c) = three_routers();
    seg.run_for(SECOND / 2);
    let t_shutdown = seg.now;
    seg.shutdown(c);
    assert_eq!(seg.last_sent(c), Some((t_shutdown, 0)));
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![b]);
    assert_eq!(
        seg.entered(b, State::Master),
        Some(t_shutdown + skew_time(150, CS100))
    );
    // a waited its own (longer) Skew_Time and saw b first.
    assert_eq!(seg.times_entered(a, State::Master), 0);
    assert_eq!(seg.state(c), State::Initialize);
    assert!(!seg.routers[c].holds_vips);
    assert_eq!(seg.routers[c].inst.statistics().sent_pri_zero_packets, 1);
}

#[test]
fn preempt_takes_over_after_master_down_interval() {
    let mut seg = Segment::new();
    let a = seg.add("a", v4_config(1, 100));
    let c = seg.add("c", v4_config(3, 200));
    seg.start(a);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![a]);
    let t_start = seg.now;
    seg.start(c);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
    assert_eq!(
        seg.entered(c, State::Master),
        Some(t_start + master_down_interval(200, CS100))
    );
    assert_eq!(
        seg.routers[c].inst.statistics().new_master_reason,
        NewMasterReason::Preempted
    );
    assert!(seg.routers[a].events.iter().any(|(_, e)| matches!(
        e,
        Event::StateChanged {
            to: State::Backup,
            reason: TransitionReason::HigherPriorityAdvert { priority: 200, .. },
            ..
        }
    )));
}

#[test]
fn nopreempt_leaves_the_master_alone() {
    let mut seg = Segment::new();
    let a = seg.add("a", v4_config(1, 100));
    let mut cfg = v4_config(3, 200);
    cfg.preempt = false;
    let c = seg.add("c", cfg);
    seg.start(a);
    seg.run_for(10 * SECOND);
    seg.start(c);
    seg.run_for(120 * SECOND);
    assert_eq!(seg.masters(), vec![a]);
    assert_eq!(seg.times_entered(c, State::Master), 0);
    // ...but it still takes over when the Master dies.
    seg.crash(a);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
}

#[test]
fn preempt_delay_postpones_takeover() {
    let mut seg = Segment::new();
    let a = seg.add("a", v4_config(1, 100));
    let mut cfg = v4_config(3, 200);
    cfg.preempt_delay = 5 * SECOND;
    let c = seg.add("c", cfg);
    seg.start(a);
    seg.run_for(10 * SECOND);
    let t_start = seg.now;
    seg.start(c);
    seg.run_for(20 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
    let a_sent: Vec<_> = seg.routers[a].sent.iter().map(|(t, _)| *t).collect();
    let first_seen = *a_sent.iter().find(|t| **t >= t_start).unwrap();
    let last_followed = *a_sent
        .iter()
        .filter(|t| **t < first_seen + 5 * SECOND)
        .max()
        .unwrap();
    assert_eq!(
        seg.entered(c, State::Master),
        Some(last_followed + master_down_interval(200, CS100))
    );
    assert!(seg.entered(c, State::Master).unwrap() > t_start + 5 * SECOND);
}

#[test]
fn owner_takes_over_at_once() {
    let mut seg = Segment::new();
    let b = seg.add("b", v4_config(2, 150));
    let o = seg.add("owner", v4_config(100, 255));
    seg.start(b);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![b]);
    seg.run_for(SECOND / 4);
    let t_start = seg.now;
    seg.start(o);
    seg.run_for(Duration::ZERO);
    assert_eq!(seg.masters(), vec![o]);
    assert_eq!(seg.entered(o, State::Master), Some(t_start));
    assert_eq!(seg.entered(b, State::Backup), Some(t_start));
    seg.run_for(30 * SECOND);
    assert_eq!(seg.masters(), vec![o]);
    // An owner cannot be adjusted by tracking.
    seg.set_priority_adjustment(o, -200);
    seg.run_for(30 * SECOND);
    assert_eq!(seg.masters(), vec![o]);
}

#[test]
fn partition_gives_two_masters_then_heals_to_one() {
    let mut seg = Segment::new();
    let a = seg.add("a", v4_config(1, 100));
    let c = seg.add("c", v4_config(3, 200));
    seg.start_all();
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
    seg.run_for(SECOND / 2);
    let (last_from_c, _) = seg.last_sent(c).unwrap();
    seg.partition(&[1, 2]);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![a, c], "each island has its Master");
    assert_eq!(
        seg.entered(a, State::Master),
        Some(last_from_c + master_down_interval(100, CS100))
    );
    // Heal right after c advertised, so a's advert reaches c first and c
    // sees the split brain.
    let before = seg.last_sent(c);
    seg.run_until_pred(2 * SECOND, |s| s.last_sent(c) != before)
        .unwrap();
    // Let that advert reach the (still partitioned) wire first.
    seg.run_for(Duration::ZERO);
    let t_heal = seg.now;
    seg.heal();
    let healed = seg
        .run_until_pred(2 * SECOND, |s| s.masters().len() == 1)
        .expect("heals within one advert interval");
    assert!(healed - t_heal <= SECOND);
    assert_eq!(seg.masters(), vec![c]);
    let peer_a = seg.routers[a].config.primary_address;
    assert!(seg.routers[c].events.iter().any(|(_, e)| *e
        == Event::SplitBrainDetected {
            peer: peer_a,
            peer_priority: 100
        }));
    // c re-announced the VIPs so hosts that followed a come back.
    assert!(seg.routers[c].gratuitous.iter().any(|t| *t >= t_heal));
    seg.run_for(10 * SECOND);
    assert!(seg.routers[c]
        .events
        .iter()
        .any(|(_, e)| *e == Event::SplitBrainCleared { peer: peer_a }));
    assert_eq!(seg.masters(), vec![c]);
}

#[test]
fn ten_centisecond_intervals() {
    let mut seg = Segment::new();
    let cs10 = Centiseconds(10);
    let mut ids = Vec::new();
    for (host, prio) in [(1, 100), (2, 150), (3, 200)] {
        let mut cfg = v4_config(host, prio);
        cfg.advertisement_interval = cs10;
        ids.push(seg.add(&format!("r{host}"), cfg));
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    seg.start_all();
    seg.run_for(2 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
    assert_eq!(
        seg.entered(c, State::Master),
        Some(seg.t0 + master_down_interval(200, cs10))
    );
    assert_eq!(seg.routers[b].inst.status().master_adver_interval, cs10);
    // 10 adverts per second.
    let sent_before = seg.routers[c].sent.len();
    seg.run_for(SECOND);
    assert_eq!(seg.routers[c].sent.len() - sent_before, 10);
    seg.run_for(Duration::from_millis(35));
    let (last, _) = seg.last_sent(c).unwrap();
    seg.crash(c);
    seg.run_for(SECOND);
    assert_eq!(seg.masters(), vec![b]);
    // 300 ms + 106/256 * 100 ms.
    assert_eq!(
        seg.entered(b, State::Master),
        Some(last + Duration::from_micros(341_406))
    );
    assert_eq!(seg.times_entered(a, State::Master), 0);
}

#[test]
fn a_backup_learns_a_slower_masters_interval() {
    let mut seg = Segment::new();
    let mut fast = v4_config(1, 100);
    fast.advertisement_interval = Centiseconds(10);
    let a = seg.add("a", fast);
    let mut slow = v4_config(3, 200);
    slow.advertisement_interval = Centiseconds(300);
    let c = seg.add("c", slow);
    seg.start_all();
    // At startup a only knows its own 100 ms and wins the first election
    // (RFC 9568 §6.4.1); c preempts it and a learns c's 3 s.
    seg.run_for(20 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
    let settled = seg.times_entered(a, State::Master);
    seg.run_for(120 * SECOND);
    // a now uses the Master's 3 s, not its own 100 ms: no false takeover.
    assert_eq!(seg.masters(), vec![c]);
    assert_eq!(seg.times_entered(a, State::Master), settled);
    assert_eq!(
        seg.routers[a].inst.status().master_adver_interval,
        Centiseconds(300)
    );
}

#[test]
fn losing_two_adverts_is_harmless_three_is_failover() {
    let (mut seg, a, b, c) = three_routers();
    seg.routers[c].drop_next = 2;
    seg.run_for(30 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
    assert_eq!(seg.times_entered(a, State::Master), 0);
    assert_eq!(seg.times_entered(b, State::Master), 0);

    let (last_delivered, _) = seg.last_sent(c).unwrap();
    seg.routers[c].drop_next = 3;
    seg.run_for(3 * SECOND + SECOND / 2);
    assert_eq!(
        seg.entered(b, State::Master),
        Some(last_delivered + master_down_interval(150, CS100))
    );
    // c's fourth advert (priority 200) then takes the role back.
    seg.run_for(5 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
}

#[test]
fn random_loss_converges_once_the_network_recovers() {
    let (mut seg, _a, _b, c) = three_routers();
    seg.loss = 0.2;
    for _ in 0..600 {
        seg.run_for(SECOND);
        for r in &seg.routers {
            // Only a Master ever holds the addresses.
            assert_eq!(r.holds_vips, r.inst.state() == State::Master, "{}", r.name);
        }
    }
    seg.loss = 0.0;
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
}

#[test]
fn tracking_moves_mastership() {
    let (mut seg, _a, b, c) = three_routers();
    // c's health check fails: 200 - 60 = 140 < 150, and b preempts.
    seg.set_priority_adjustment(c, -60);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![b]);
    // Recovered: c preempts back.
    seg.set_priority_adjustment(c, 0);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
}

#[test]
fn fault_hands_over_at_skew_time() {
    let (mut seg, _a, b, c) = three_routers();
    seg.run_for(SECOND / 5);
    let t_fault = seg.now;
    seg.set_fault(c, Some(FaultReason::InterfaceDown));
    seg.run_for(5 * SECOND);
    assert_eq!(seg.masters(), vec![b]);
    assert_eq!(
        seg.entered(b, State::Master),
        Some(t_fault + skew_time(150, CS100))
    );
    assert_eq!(seg.state(c), State::Fault);
    let sent = seg.routers[c].sent.len();
    seg.run_for(10 * SECOND);
    assert_eq!(seg.routers[c].sent.len(), sent, "Fault sends nothing");
    seg.set_fault(c, None);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![c]);
}

#[test]
fn sync_group_moves_together() {
    let mut seg = Segment::new();
    let member = |host: u8, vrid: u8, prio: u8| {
        let mut cfg = v4_config(host, prio);
        cfg.vrid = vrid;
        cfg.virtual_addresses = vec![std::net::IpAddr::from([198, 18, 0, 100 + vrid - 51])];
        cfg.sync_group = true;
        cfg
    };
    let x1 = seg.add("x1", member(1, 51, 200));
    let x2 = seg.add("x2", member(1, 52, 200));
    let y1 = seg.add("y1", member(2, 51, 100));
    let y2 = seg.add("y2", member(2, 52, 100));
    seg.sync_groups.push(vrrp::SyncGroup::new([x1, x2]));
    seg.sync_groups.push(vrrp::SyncGroup::new([y1, y2]));
    seg.start_all();
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![x1, x2]);

    // x1's interface fails: x2 follows it into Fault, y takes both VRIDs.
    seg.set_fault(x1, Some(FaultReason::InterfaceDown));
    seg.run_for(10 * SECOND);
    assert_eq!(seg.state(x1), State::Fault);
    assert_eq!(seg.state(x2), State::Fault);
    assert!(seg.routers[x2].inst.status().group_fault);
    assert_eq!(seg.masters(), vec![y1, y2]);

    // Recovered: x preempts both back, and y steps down together.
    seg.set_fault(x1, None);
    seg.run_for(15 * SECOND);
    assert_eq!(seg.masters(), vec![x1, x2]);
    assert_eq!(seg.state(y1), State::Backup);
    assert_eq!(seg.state(y2), State::Backup);
}

#[test]
fn ipv6_segment_elects_and_fails_over() {
    let mut seg = Segment::new();
    let v6 = |host: u16, prio: u8| {
        let mut c = vrrp::Config::new(
            52,
            std::net::IpAddr::from([0xfe80, 0, 0, 0, 0, 0, 0, host]),
            vec![
                "fe80::100".parse().unwrap(),
                "2001:db8:0:1::100".parse().unwrap(),
            ],
        );
        c.priority = prio;
        c
    };
    let a = seg.add("a", v6(1, 100));
    let b = seg.add("b", v6(2, 100));
    seg.start_all();
    seg.run_for(10 * SECOND);
    // Equal priorities: both time out together, the higher address wins.
    assert_eq!(seg.masters(), vec![b]);
    assert_eq!(seg.times_entered(a, State::Master), 1);
    seg.crash(b);
    seg.run_for(10 * SECOND);
    assert_eq!(seg.masters(), vec![a]);
}
