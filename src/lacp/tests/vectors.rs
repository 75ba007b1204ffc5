//! Byte vectors from other implementations: every frame decodes to the field values its
//! sender put in, re-encodes to the same bytes, and drives the machines as it should.

use std::time::{Duration, Instant};

use lacp::{
    Bond, BondConfig, MacAddr, PortConfig, PortState, RxState, SlowFrame, SlowPdu, SystemId,
};

fn load(name: &str) -> Vec<(String, Vec<u8>)> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap().to_string();
            let hex: String = words.collect();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (name, bytes)
        })
        .collect()
}

fn lacpdu(bytes: &[u8]) -> lacp::Lacpdu {
    match SlowFrame::decode(bytes).unwrap().pdu {
        SlowPdu::Lacp(p) => p,
        other => panic!("not an LACPDU: {other:?}"),
    }
}

#[test]
fn every_vector_round_trips_byte_exactly() {
    for file in [
        "ovs-3.1.0-netdev.hex",
        "dpdk-22.11-mode4.hex",
        "constructed.hex",
    ] {
        let v = load(file);
        assert!(!v.is_empty());
        for (name, bytes) in v {
            assert_eq!(bytes.len(), 124, "{name}");
            let f = SlowFrame::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(f.encode(), bytes, "{name}");
        }
    }
}

const OVS: SystemId = SystemId {
    priority: 65534,
    mac: MacAddr([0x02, 0, 0, 0, 0x0c, 0]),
};

#[test]
fn open_vswitch_fields() {
    let v = load("ovs-3.1.0-netdev.hex");
    let get = |n: &str| lacpdu(&v.iter().find(|(name, _)| name == n).unwrap().1);
    let steady = get("ovs_steady_o1");
    // What Open vSwitch sent with no LACP options but the rate: system priority 65534, port
    // priority 65535, key 1.
    assert_eq!(steady.actor.system, OVS);
    assert_eq!(
        (
            steady.actor.key,
            steady.actor.port_priority,
            steady.actor.port
        ),
        (1, 65535, 2)
    );
    assert_eq!(steady.actor.state, PortState(0x3f));
    assert_eq!(steady.partner.system.mac, MacAddr([0x02, 0, 0, 0, 0x0d, 0]));
    assert_eq!(steady.partner.port, 1);
    assert_eq!(steady.collector_max_delay, 0);
    // When it has not heard from us for 3 s it says Expired but keeps Synchronization,
    // Collecting and Distributing set, and takes Synchronization from us.
    let expired = get("ovs_expired");
    assert!(expired.actor.state.expired() && expired.actor.state.synchronization());
    assert!(!expired.partner.state.synchronization());
    // Defaulted: the partner fields are all zero.
    let d = get("ovs_defaulted");
    assert!(d.actor.state.defaulted());
    assert_eq!(d.partner, lacp::PortInfo::default());
}

#[test]
fn constructed_fields() {
    let v = load("constructed.hex");
    let linux = lacpdu(&v[0].1);
    assert_eq!(linux.actor.system.priority, 65535);
    assert_eq!(linux.actor.key, 0x000f, "10 Gb/s full duplex, no user key");
    assert_eq!((linux.actor.port_priority, linux.actor.port), (255, 1));
    assert_eq!(linux.partner.system, OVS);
    let dpdk = lacpdu(&v[1].1);
    assert_eq!(dpdk.actor.key, 0x0021);
    assert_eq!(dpdk.actor.state, PortState(0x05));
    assert_eq!(dpdk.partner.system.priority, 0x8000);
    assert_eq!(dpdk.partner.key, 0x0e41);
    assert_eq!(dpdk.partner.port, 0x005e);
    assert_eq!(dpdk.partner.state, PortState(0x45));
}

#[test]
fn open_vswitch_pdus_bring_our_port_to_collecting_distributing() {
    // Our side as it was during the capture: the PDUs name us as their partner, so the
    // port records OVS in sync and, after the wait_while_timer, distributes.
    let v = load("ovs-3.1.0-netdev.hex");
    let get = |n: &str| lacpdu(&v.iter().find(|(name, _)| name == n).unwrap().1);
    let t0 = Instant::now();
    let ports = [
        PortConfig::new(1, MacAddr([0x02, 0, 0, 0, 0x0d, 1])),
        PortConfig::new(2, MacAddr([0x02, 0, 0, 0, 0x0d, 2])),
    ];
    let mut b = Bond::new(
        BondConfig::new(MacAddr([0x02, 0, 0, 0, 0x0d, 0])),
        &ports,
        t0,
    )
    .unwrap();
    b.set_port_enabled(t0, 0, true);
    b.handle_lacpdu(t0, 0, &get("ovs_partner_not_yet_in_sync"));
    assert_eq!(b.port_status(0).unwrap().rx, RxState::Current);
    assert!(b.members().is_empty());
    let t = t0 + Duration::from_secs(2);
    b.handle_timeout(t);
    b.handle_lacpdu(t, 0, &get("ovs_steady_o1"));
    let s = b.port_status(0).unwrap();
    assert!(s.partner.state.synchronization(), "{s:?}");
    assert_eq!(b.members(), [0]);
    // OVS defaulted us: the Partner fields no longer name us, so it is not in sync with us.
    b.handle_lacpdu(t, 0, &get("ovs_defaulted"));
    assert!(b.members().is_empty());
}

#[test]
fn dpdk_mode4_fields() {
    let v = load("dpdk-22.11-mode4.hex");
    let get = |n: &str| lacpdu(&v.iter().find(|(name, _)| name == n).unwrap().1);
    let steady = get("dpdk_steady_port1");
    // The bonding PMD's defaults, as DPVS issue #353 logged them too: system priority
    // 65535, key 0x0021, port priority 255, ports from 1; Long Timeout (no TIMEOUT bit).
    assert_eq!(steady.actor.system.priority, 65535);
    assert_eq!(
        (
            steady.actor.key,
            steady.actor.port_priority,
            steady.actor.port
        ),
        (0x21, 255, 1)
    );
    assert_eq!(steady.actor.state, PortState(0x3d));
    assert!(!steady.actor.state.timeout());
    assert_eq!(steady.partner.state, PortState(0x3f));
    assert_eq!(get("dpdk_steady_port2").actor.port, 2);
    // Its first PDU claims Synchronization while Defaulted and Expired.
    let first = get("dpdk_first");
    assert_eq!(first.actor.state, PortState(0xcd));
    assert_eq!(first.partner.system.mac, MacAddr::ZERO);
}

#[test]
fn dpdk_pdus_bring_our_port_to_collecting_distributing() {
    let v = load("dpdk-22.11-mode4.hex");
    let get = |n: &str| lacpdu(&v.iter().find(|(name, _)| name == n).unwrap().1);
    let t0 = Instant::now();
    let ports = [
        PortConfig::new(1, MacAddr([0x02, 0, 0, 0, 0x0d, 1])),
        PortConfig::new(2, MacAddr([0x02, 0, 0, 0, 0x0d, 2])),
    ];
    let mut b = Bond::new(
        BondConfig::new(MacAddr([0x02, 0, 0, 0, 0x0d, 0])),
        &ports,
        t0,
    )
    .unwrap();
    b.set_port_enabled(t0, 0, true);
    b.set_port_enabled(t0, 1, true);
    b.handle_lacpdu(t0, 0, &get("dpdk_first"));
    // Defaulted partner view of us: not in sync, whatever its own flags say.
    assert!(!b.port_status(0).unwrap().partner.state.synchronization());
    b.handle_lacpdu(t0, 0, &get("dpdk_partner_not_yet_in_sync"));
    b.handle_lacpdu(t0, 1, &get("dpdk_steady_port2"));
    let t = t0 + Duration::from_secs(2);
    b.handle_timeout(t);
    b.handle_lacpdu(t, 0, &get("dpdk_steady_port1"));
    b.handle_lacpdu(t, 1, &get("dpdk_steady_port2"));
    assert_eq!(b.members(), [0, 1]);
    // It asks for the long timeout: we transmit every Slow_Periodic_Time to it.
    assert_eq!(
        b.port_status(0).unwrap().periodic,
        lacp::PeriodicState::SlowPeriodic
    );
    // After it had defaulted us (we were deaf for 5 s), DPDK still names us correctly and
    // still sets its own Synchronization (not Collecting): by recordPDU that is "in sync",
    // so the port stays a member; DPDK collects again after its own wait_while_timer.
    b.handle_lacpdu(t, 0, &get("dpdk_sees_us_defaulted"));
    assert!(b.port_status(0).unwrap().partner.state.synchronization());
    assert_eq!(b.members(), [0, 1]);
}
