//! VRRP interop with FRR 8.4's vrrpd in both roles, IPv4 and IPv6, with the appliance's
//! virtual MAC off and (IPv4: the only family the appliance offers it for) on. FRR always sends its adverts from the virtual MAC (RFC 9568 §7.3),
//! so with `virtual_mac = true` on our side a backup here must hear frames that carry its
//! own macvlan's MAC as their source.

use std::time::Duration;

use netns_tests::frr::FrrVrrp;
use netns_tests::vrrp_lab::{appliance_config, has_addr, vrrp_state, wait_vrrp_state, VrrpSpec};
use netns_tests::{Appliance, Lab, Netns, Signal};

const T: Duration = Duration::from_secs(15);

fn spec(v6: bool, priority: u8, virtual_mac: bool) -> VrrpSpec {
    let mut s = if v6 {
        VrrpSpec::v6(priority, 100)
    } else {
        VrrpSpec::v4(priority, 100)
    };
    s.virtual_mac = virtual_mac;
    s
}

fn counters(n: &Appliance, inst: &str) -> serde_json::Value {
    let st = n.status();
    st["vrrp"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == inst)
        .unwrap()["counters"]
        .clone()
}

/// FRR master → the appliance stays backup (for 20 of FRR's intervals, hearing them) and takes
/// over when FRR stops; then FRR, restarted with a lower priority, stays backup under the
/// appliance's master.
fn both_roles(v6: bool, virtual_mac: bool) {
    let lab = Lab::for_current_test();
    let (a, f, client): (Netns, Netns, Netns) = (lab.netns("a"), lab.netns("f"), lab.netns("c"));
    let lan = lab.lan(&[&a, &f, &client], "198.18.0.0/24");
    lan.add_subnet("2001:db8:0:1::/64", 1);
    let ours = spec(v6, 100, virtual_mac);
    let inst = ours.name.clone();
    let vip = ours.vip_addr();

    let frr = FrrVrrp::start(&lab, &f, "frr", &spec(v6, 200, true));
    frr.wait_state("Master", T);
    let mut node = Appliance::new(
        &lab,
        &a,
        "a",
        &appliance_config("a", std::slice::from_ref(&ours), ""),
    );
    node.start();
    wait_vrrp_state(&node, &inst, "backup", T);
    let heard = counters(&node, &inst)["rcvd_advertisements"]
        .as_u64()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        vrrp_state(&node, &inst),
        "backup",
        "FRR's adverts are heard"
    );
    assert!(frr.is_master());
    let c = counters(&node, &inst);
    assert!(
        c["rcvd_advertisements"].as_u64().unwrap() >= heard + 15,
        "adverts from FRR's virtual MAC counted: {c}"
    );
    assert_eq!(c["master_transitions"], 0, "{c}");
    assert!(!has_addr(&a, &vip));
    client.assert_ping(&vip);

    // FRR resigns: the appliance takes over (after Skew_Time).
    frr.stop();
    wait_vrrp_state(&node, &inst, "master", T);
    assert!(has_addr(&a, &vip));
    client.assert_ping(&vip);

    // FRR again, lower priority: it must stay backup under our master.
    let frr = FrrVrrp::start(&lab, &f, "frr2", &spec(v6, 50, true));
    frr.wait_state("Backup", T);
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(frr.state(), "Backup", "FRR hears our adverts");
    assert!(frr.macvlan_protodown());
    assert_eq!(vrrp_state(&node, &inst), "master");
    let st = node.status();
    let vi = st["vrrp"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == inst.as_str())
        .unwrap()
        .clone();
    assert!(vi["split_brain_peer"].is_null(), "{vi}");
    client.assert_ping(&vip);

    node.proc().signal(Signal::SIGTERM).unwrap();
    assert!(node.proc().wait_timeout(T).unwrap().success());
    frr.wait_state("Master", T);
    frr.stop();
}

#[test]
fn frr_v4() {
    both_roles(false, false);
}

#[test]
fn frr_v4_virtual_mac() {
    both_roles(false, true);
}

#[test]
fn frr_v6() {
    both_roles(true, false);
}
