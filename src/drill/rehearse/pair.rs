//! The pair a rehearsal runs: two files, one file and a second node derived from it, or the
//! built-in example pair (`examples/ha-pair-a.toml` and `examples/ha-pair-b.toml`, compiled in so
//! an installed `applianced` has them too).
//!
//! The derived node is the same file with:
//! - `[daemon] node_name`: a trailing number counted up (`lb1` → `lb2`), otherwise `-b` added;
//! - every VRRP priority halved (200 → 100, at least 1), so the file's node stays the master;
//! - every static address replaced by the VRRP unicast peer in its subnet, if the instance on
//!   that interface names one, otherwise by the next address of the subnet the file does not
//!   use (198.18.0.2/24 → 198.18.0.3/24);
//! - the BGP router id, the neighbours' `local_address` and the checks' `source` mapped the
//!   same way (a router id that is no address of the file is counted up by one);
//! - unicast peers that are the derived node's own addresses replaced by the file's.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use toml_edit::{value, Array, DocumentMut, Item};

use super::addr::{subnet_of, Used};
use crate::config::{self, Config};

pub const BUILTIN_A: &str = include_str!("../../../examples/ha-pair-a.toml");
pub const BUILTIN_B: &str = include_str!("../../../examples/ha-pair-b.toml");

/// Where a node's configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    BuiltIn(&'static str),
    /// Derived from the other node's file (see the module's documentation).
    Derived(String),
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::File(p) => p.display().to_string(),
            Origin::BuiltIn(name) => format!("built-in {name}"),
            Origin::Derived(from) => format!("derived from {from}"),
        }
    }
}

/// One node's file: its text, as parsed, and where it came from.
#[derive(Debug, Clone)]
pub struct NodeFile {
    pub origin: Origin,
    pub text: String,
    pub config: Config,
    /// What derivation changed, one line each (empty for a given file).
    pub changes: Vec<String>,
}

/// Loads the pair. Errors are the configuration's own messages (file:line:column, key, hint)
/// or a file that cannot be read.
pub fn load(paths: &[PathBuf]) -> Result<[NodeFile; 2], Vec<String>> {
    match paths {
        [] => Ok([
            parse(Origin::BuiltIn("examples/ha-pair-a.toml"), BUILTIN_A)?,
            parse(Origin::BuiltIn("examples/ha-pair-b.toml"), BUILTIN_B)?,
        ]),
        [a] => {
            let a = read(a)?;
            let b = derive(&a)?;
            Ok([a, b])
        }
        [a, b] => Ok([read(a)?, read(b)?]),
        _ => Err(vec![
            "give at most two configuration files (an HA pair)".into()
        ]),
    }
}

fn read(path: &Path) -> Result<NodeFile, Vec<String>> {
    let bytes = config::read_regular_file(path, 4 << 20)
        .map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let text = String::from_utf8(bytes)
        .map_err(|_| vec![format!("{}: file is not valid UTF-8", path.display())])?;
    parse(Origin::File(path.to_path_buf()), &text)
}

fn parse(origin: Origin, text: &str) -> Result<NodeFile, Vec<String>> {
    let name = match &origin {
        Origin::File(p) => p.clone(),
        Origin::BuiltIn(n) => PathBuf::from(n),
        Origin::Derived(from) => PathBuf::from(format!("{from} (derived)")),
    };
    let config = config::parse_str(text, &name)
        .map_err(|errs| errs.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    Ok(NodeFile {
        origin,
        text: text.to_string(),
        config,
        changes: Vec::new(),
    })
}

/// `lb1` → `lb2`, `edge-09` → `edge-10`, `gw` → `gw-b`.
pub fn next_name(name: &str) -> String {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return format!("{name}-b");
    }
    let (stem, num) = name.split_at(name.len() - digits);
    match num.parse::<u64>() {
        Ok(n) => format!("{stem}{:0width$}", n + 1, width = digits),
        Err(_) => format!("{name}-b"),
    }
}

/// Every address the file names, so a derived address never clashes with one.
pub fn used_addresses(c: &Config) -> Used {
    let mut u = Used::default();
    for i in c.interfaces.values() {
        i.static_addresses.iter().for_each(|a| u.insert(a.ip()));
    }
    for v in &c.vrrp.instance {
        v.virtual_addresses.iter().for_each(|a| u.insert(a.ip()));
        v.unicast_peers.iter().for_each(|a| u.insert(*a));
    }
    for s in &c.service {
        u.insert(s.vip);
        s.backends.iter().for_each(|b| u.insert(b.address));
        if let Some(t) = s.tunnel_source {
            u.insert(t);
        }
    }
    for ch in c.checks.values() {
        if let Some((ip, _)) = ch
            .target
            .as_deref()
            .and_then(|t| super::addr::parse_target(t, 0))
        {
            u.insert(ip);
        }
        if let Some(s) = ch.source {
            u.insert(s);
        }
    }
    if let Some(b) = &c.bgp {
        u.insert(IpAddr::V4(b.router_id));
        for n in &b.neighbor {
            u.insert(n.address);
            n.local_address.iter().for_each(|a| u.insert(*a));
        }
    }
    for t in &c.gre.tunnel {
        u.insert(IpAddr::V4(t.local));
        u.insert(IpAddr::V4(t.remote));
    }
    for p in &c.snat.pool {
        p.addresses.iter().for_each(|a| u.insert(*a));
    }
    u
}

/// The second node of a pair from the first's file (see the module's documentation).
pub fn derive(a: &NodeFile) -> Result<NodeFile, Vec<String>> {
    let cfg = &a.config;
    let from = a.origin.describe();
    let mut doc: DocumentMut = a.text.parse().map_err(|e| vec![format!("{from}: {e}")])?;
    let mut changes = Vec::new();
    let mut used = used_addresses(cfg);

    // The node's own addresses, interface by interface, and their replacements.
    let mut map: BTreeMap<IpAddr, IpAddr> = BTreeMap::new();
    for (ifname, ifc) in &cfg.interfaces {
        let peers: Vec<IpAddr> = cfg
            .vrrp
            .instance
            .iter()
            .filter(|v| &v.interface == ifname)
            .flat_map(|v| v.unicast_peers.iter().copied())
            .collect();
        let mut new_list = Array::new();
        for net in &ifc.static_addresses {
            let subnet = subnet_of(net);
            let peer = peers
                .iter()
                .find(|p| subnet.contains(**p) && !map.values().any(|m| m == *p))
                .copied();
            let b = match peer {
                Some(p) => p,
                None => used.next_after(&subnet, net.ip()).ok_or_else(|| {
                    let why = if super::addr::is_subnet(net) {
                        format!("no free address left in {subnet} for the second node")
                    } else {
                        format!("{net} is a single address, which the second node cannot have too")
                    };
                    vec![format!(
                        "{from}: interfaces.{ifname}: {why}; give the second node's file"
                    )]
                })?,
            };
            map.insert(net.ip(), b);
            new_list.push(format!("{b}/{}", net.prefix()));
            changes.push(format!("interfaces.{ifname}: {} -> {b}", net.ip()));
        }
        if !ifc.static_addresses.is_empty() {
            doc["interfaces"][ifname.as_str()]["static_addresses"] = value(new_list);
        }
    }
    let mapped = |ip: IpAddr| map.get(&ip).copied();

    let name = cfg.daemon.node_name.clone().unwrap_or_else(|| "a".into());
    let b_name = next_name(&name);
    doc["daemon"]["node_name"] = value(b_name.clone());
    changes.push(format!("daemon.node_name: {name} -> {b_name}"));

    if let Some(Item::ArrayOfTables(insts)) = doc
        .get_mut("vrrp")
        .and_then(|v| v.as_table_like_mut())
        .and_then(|t| t.get_mut("instance"))
    {
        for (i, t) in insts.iter_mut().enumerate() {
            let Some(inst) = cfg.vrrp.instance.get(i) else {
                continue;
            };
            let p = (inst.priority / 2).max(1);
            t["priority"] = value(i64::from(p));
            changes.push(format!(
                "vrrp.instance {}: priority {} -> {p}",
                inst.name, inst.priority
            ));
            if !inst.unicast_peers.is_empty() {
                // The file's node is this node's peer; other peers stay.
                let mut peers = Array::new();
                for p in &inst.unicast_peers {
                    let swapped = map
                        .iter()
                        .find(|(_, b)| *b == p)
                        .map(|(a, _)| *a)
                        .unwrap_or(*p);
                    peers.push(swapped.to_string());
                }
                t["unicast_peers"] = value(peers);
            }
        }
    }

    if let Some(bgp) = &cfg.bgp {
        let rid = IpAddr::V4(bgp.router_id);
        let new_rid = match mapped(rid) {
            Some(IpAddr::V4(v)) => v,
            _ => {
                let mut n = u32::from(bgp.router_id).wrapping_add(1).max(1);
                while used.contains(IpAddr::V4(Ipv4Addr::from(n))) {
                    n = n.wrapping_add(1).max(1);
                }
                Ipv4Addr::from(n)
            }
        };
        doc["bgp"]["router_id"] = value(new_rid.to_string());
        changes.push(format!("bgp.router_id: {} -> {new_rid}", bgp.router_id));
        if let Some(Item::ArrayOfTables(ns)) = doc["bgp"]
            .as_table_like_mut()
            .and_then(|t| t.get_mut("neighbor"))
        {
            for (i, t) in ns.iter_mut().enumerate() {
                let Some(n) = bgp.neighbor.get(i) else {
                    continue;
                };
                if let Some(l) = n.local_address.and_then(|l| mapped(l).map(|m| (l, m))) {
                    t["local_address"] = value(l.1.to_string());
                    changes.push(format!(
                        "bgp.neighbor {}: local_address {} -> {}",
                        n.address, l.0, l.1
                    ));
                }
            }
        }
    }

    for (name, ch) in &cfg.checks {
        if let Some((old, new)) = ch.source.and_then(|s| mapped(s).map(|m| (s, m))) {
            doc["checks"][name.as_str()]["source"] = value(new.to_string());
            changes.push(format!("checks.{name}: source {old} -> {new}"));
        }
    }

    let text =
        format!("# Derived by `applianced drill` from {from}: the second node of the pair.\n{doc}");
    let mut b = parse(Origin::Derived(from), &text)?;
    b.changes = changes;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_count_up() {
        assert_eq!(next_name("lb1"), "lb2");
        assert_eq!(next_name("edge-09"), "edge-10");
        assert_eq!(next_name("gw"), "gw-b");
    }

    #[test]
    fn the_builtin_pair_parses() {
        let [a, b] = load(&[]).unwrap();
        assert_eq!(a.config.daemon.node_name.as_deref(), Some("lb1"));
        assert_eq!(b.config.daemon.node_name.as_deref(), Some("lb2"));
    }

    #[test]
    fn derives_the_second_node() {
        let a = parse(Origin::BuiltIn("a"), BUILTIN_A).unwrap();
        let b = derive(&a).unwrap();
        let (ca, cb) = (&a.config, &b.config);
        assert_eq!(cb.daemon.node_name.as_deref(), Some("lb2"));
        for (va, vb) in ca.vrrp.instance.iter().zip(&cb.vrrp.instance) {
            assert_eq!(vb.priority, (va.priority / 2).max(1));
            assert_eq!(va.virtual_addresses, vb.virtual_addresses);
            assert_eq!(va.vrid, vb.vrid);
        }
        // Every static address moved to a free one of the same subnet.
        let used = used_addresses(ca);
        for (name, ia) in &ca.interfaces {
            let ib = &cb.interfaces[name];
            assert_eq!(ia.static_addresses.len(), ib.static_addresses.len());
            for (x, y) in ia.static_addresses.iter().zip(&ib.static_addresses) {
                assert_ne!(x.ip(), y.ip());
                assert!(!used.contains(y.ip()), "{y} is used by the file");
                assert_eq!(subnet_of(x), subnet_of(y));
            }
        }
        let (ba, bb) = (ca.bgp.as_ref().unwrap(), cb.bgp.as_ref().unwrap());
        assert_ne!(ba.router_id, bb.router_id);
        let own: Vec<IpAddr> = cb
            .interfaces
            .values()
            .flat_map(|i| i.static_addresses.iter().map(|a| a.ip()))
            .collect();
        for n in &bb.neighbor {
            if let Some(l) = n.local_address {
                assert!(own.contains(&l), "{l} is not one of {own:?}");
            }
        }
        assert!(b.text.starts_with("# Derived by `applianced drill`"));
        assert!(!b.changes.is_empty());
    }

    #[test]
    fn unicast_peers_swap() {
        let text = r#"
[daemon]
node_name = "n1"
[interfaces.eth0]
static_addresses = ["198.18.0.2/24"]
[[vrrp.instance]]
name = "v"
interface = "eth0"
vrid = 1
priority = 150
virtual_addresses = ["198.18.0.1/24"]
unicast_peers = ["198.18.0.9"]
"#;
        let a = parse(Origin::BuiltIn("a"), text).unwrap();
        let b = derive(&a).unwrap();
        let ib = &b.config.interfaces["eth0"];
        assert_eq!(ib.static_addresses[0].to_string(), "198.18.0.9/24");
        assert_eq!(
            b.config.vrrp.instance[0].unicast_peers,
            vec!["198.18.0.2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(b.config.vrrp.instance[0].priority, 75);
    }
}
