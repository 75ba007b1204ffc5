//! The VRRP part of `appctl status`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::router::{describe_fault, describe_reason, Router};
use crate::status::{VrrpCounters, VrrpInstanceStatus};

fn unix_ms_of(t: Instant) -> u64 {
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    now_unix.saturating_sub(Instant::now().saturating_duration_since(t).as_millis() as u64)
}

pub fn of(r: &Router) -> VrrpInstanceStatus {
    let c = &r.cfg;
    let mut s = VrrpInstanceStatus {
        name: c.name.clone(),
        interface: c.interface.clone(),
        vrid: c.vrid,
        family: if r.v6() { "ipv6" } else { "ipv4" }.into(),
        state: r.state(),
        base_priority: c.priority,
        effective_priority: c.priority,
        advert_interval_ms: c.advert_interval.get().as_millis() as u64,
        virtual_addresses: c.virtual_addresses.iter().map(|a| a.to_string()).collect(),
        virtual_mac: c.virtual_mac.then(|| c.vmac_ifname()),
        sync_group: r.sync_group.clone(),
        fault: r.not_started.clone(),
        split_brain_peer: r.split_brain.map(|p| p.to_string()),
        ..Default::default()
    };
    if let Some(inst) = &r.inst {
        let st = inst.status();
        let stats = inst.statistics();
        s.effective_priority = st.effective_priority;
        s.priority_adjustment = st.priority_adjustment;
        s.master_address = st.master_address.map(|a| a.to_string());
        s.master_priority = st.master_priority;
        s.master_adver_interval_ms = u64::from(st.master_adver_interval.0) * 10;
        s.skew_time_ms = st.skew_time.as_secs_f64() * 1000.0;
        s.master_down_interval_ms = st.master_down_interval.as_secs_f64() * 1000.0;
        if let Some((t, reason)) = &st.last_transition {
            s.last_transition_unix_ms = Some(unix_ms_of(*t));
            s.last_transition_reason = Some(describe_reason(reason));
        }
        s.fault = st.fault.as_ref().map(describe_fault);
        s.split_brain_peer = st.split_brain_peer.map(|p| p.to_string());
        s.counters = VrrpCounters {
            master_transitions: stats.master_transitions,
            new_master_reason: format!("{:?}", stats.new_master_reason).to_lowercase(),
            rcvd_advertisements: stats.rcvd_advertisements,
            sent_advertisements: stats.sent_advertisements,
            adv_interval_errors: stats.adv_interval_errors,
            ip_ttl_errors: stats.ip_ttl_errors,
            rcvd_pri_zero_packets: stats.rcvd_pri_zero_packets,
            sent_pri_zero_packets: stats.sent_pri_zero_packets,
            rcvd_invalid_type_packets: stats.rcvd_invalid_type_packets,
            address_list_errors: stats.address_list_errors,
            packet_length_errors: stats.packet_length_errors,
            checksum_errors: stats.router.checksum_errors,
            version_errors: stats.router.version_errors,
            vrid_errors: stats.router.vrid_errors,
            unknown_source_errors: stats.unknown_source_errors,
            invalid_source_errors: stats.invalid_source_errors,
            destination_errors: stats.destination_errors,
            proto_err_reason: format!("{:?}", stats.proto_err_reason).to_lowercase(),
        };
    }
    s
}
