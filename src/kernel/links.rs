//! Link state from the kernel: one dump, then the RTNLGRP_LINK monitor, published as a `watch`
//! of the whole table so any subsystem (interface status, VRRP interface tracking, the data
//! plane) reads the same view and wakes on changes.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::MulticastGroup;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub admin_up: bool,
    /// RFC 2863 operational state as the kernel reports it.
    pub oper_state: String,
    /// Usable for traffic: administratively up and operstate up (or unknown, which is what
    /// drivers without carrier reporting say, e.g. `lo`).
    pub usable: bool,
    pub mac: [u8; 6],
    pub mtu: u32,
}

pub type LinkTable = BTreeMap<String, LinkInfo>;

fn oper_str(s: &State) -> String {
    match s {
        State::Up => "up".into(),
        State::Down => "down".into(),
        State::LowerLayerDown => "lowerlayerdown".into(),
        State::Dormant => "dormant".into(),
        State::Testing => "testing".into(),
        State::NotPresent => "notpresent".into(),
        State::Unknown => "unknown".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

pub fn link_info(msg: &LinkMessage) -> Option<LinkInfo> {
    let mut name = None;
    let mut oper = State::Unknown;
    let mut mac = [0u8; 6];
    let mut mtu = 0;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::OperState(s) => oper = *s,
            LinkAttribute::Address(a) if a.len() == 6 => mac.copy_from_slice(a),
            LinkAttribute::Mtu(m) => mtu = *m,
            _ => {}
        }
    }
    let admin_up = msg.header.flags.contains(LinkFlags::Up);
    Some(LinkInfo {
        index: msg.header.index,
        name: name?,
        admin_up,
        usable: admin_up && matches!(oper, State::Up | State::Unknown),
        oper_state: oper_str(&oper),
        mac,
        mtu,
    })
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Starts the monitor; the returned receiver always holds the current table.
pub async fn watch_links(stop: CancellationToken) -> std::io::Result<watch::Receiver<LinkTable>> {
    // Subscribe before dumping so no change between the two is lost.
    let (conn, handle, mut messages) =
        rtnetlink::new_multicast_connection(&[MulticastGroup::Link])?;
    tokio::spawn(conn);
    let mut table = LinkTable::new();
    let dump: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(std::io::Error::other)?;
    for msg in &dump {
        if let Some(info) = link_info(msg) {
            table.insert(info.name.clone(), info);
        }
    }
    let (tx, rx) = watch::channel(table);
    tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => return,
                m = messages.next() => match m { Some((m, _)) => m, None => return },
            };
            let NetlinkPayload::InnerMessage(inner) = msg.payload else {
                continue;
            };
            tx.send_modify(|t| match inner {
                RouteNetlinkMessage::NewLink(m) => {
                    if let Some(info) = link_info(&m) {
                        // A rename arrives as NEWLINK with the same index and a new name.
                        t.retain(|_, v| v.index != info.index || v.name == info.name);
                        t.insert(info.name.clone(), info);
                    }
                }
                RouteNetlinkMessage::DelLink(m) => {
                    t.retain(|_, v| v.index != m.header.index);
                }
                _ => {}
            });
        }
    });
    Ok(rx)
}
