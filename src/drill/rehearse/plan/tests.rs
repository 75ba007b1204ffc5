//! The plans of the example pair, of a derived pair, and the refusals.

use super::super::pair::{derive, load, NodeFile, Origin};
use super::*;
use std::net::IpAddr;

fn file(text: &str) -> NodeFile {
    NodeFile {
        origin: Origin::BuiltIn("test.toml"),
        text: text.into(),
        config: crate::config::parse_str(text, std::path::Path::new("test.toml"))
            .unwrap_or_else(|e| panic!("{e}")),
        changes: Vec::new(),
    }
}

#[test]
fn the_example_pair() {
    let p = plan(load(&[]).unwrap()).unwrap();
    assert_eq!(p.nodes[0].name, "lb1");
    assert_eq!(p.nodes[1].name, "lb2");
    let segs: Vec<&str> = p.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(segs, ["eth0", "eth1", "eth2"]);
    let client = p.client();
    assert_eq!(client.links.len(), 1);
    assert_eq!(client.links[0].segment, "eth0");
    let backends: Vec<&Host> = p.hosts.iter().filter(|h| h.role == Role::Backend).collect();
    assert_eq!(backends.len(), 2);
    for b in &backends {
        assert_eq!(b.links[0].segment, "eth1");
        assert_eq!(b.gateways, vec!["198.18.2.1".parse::<IpAddr>().unwrap()]);
        assert!(b.serve.tcp.contains(&8080) && b.serve.udp.contains(&5353));
    }
    assert_eq!(p.routers.len(), 1);
    assert_eq!(p.routers[0].sessions.len(), 2);
    assert_eq!(p.routers[0].local_as, 65000);
    assert_eq!(p.front.instance, "front");
    assert_eq!(p.front.vip, Some("198.18.0.10".parse().unwrap()));
    assert_eq!(p.prefixes.len(), 2);
    // The office's traffic leaves through the SNAT gateway to the client, which routes the
    // pool's address back through the VIP.
    assert_eq!(p.snat.len(), 1);
    let inside = &p.hosts[p.snat[0].host];
    assert_eq!(inside.role, Role::Inside);
    assert_eq!(inside.first_v4().unwrap().to_string(), "198.18.96.254");
    assert_eq!(
        inside.gateways,
        vec!["198.18.96.1".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(
        p.client().routes,
        vec!["198.19.0.1/32 via 198.18.0.10".to_string()]
    );
    assert_eq!(p.services.len(), 2);
    assert!(p.nodes.iter().all(|n| n.extra.is_empty()));
    // The client is on the VIPs' subnet, at an address nobody uses.
    let c = client.first_v4().unwrap();
    assert_eq!(c.to_string(), "198.18.0.253", "{}", p.describe());
}

#[test]
fn one_file_makes_a_pair() {
    let [a, _] = load(&[]).unwrap();
    let b = derive(&a).unwrap();
    let p = plan([a, b]).unwrap();
    assert_eq!(p.routers[0].sessions[1].node_addr.to_string(), "198.18.0.3");
}

const BASE: &str = r#"
[interfaces.eth0]
static_addresses = ["198.18.0.2/24"]
[[vrrp.instance]]
name = "v"
interface = "eth0"
vrid = 1
virtual_addresses = ["198.18.0.1/24"]
"#;

fn refusals(extra: &str) -> Vec<String> {
    let a = file(&format!("{BASE}{extra}"));
    let b = derive(&a).unwrap();
    plan([a, b]).err().unwrap_or_default()
}

#[test]
fn refuses_what_it_cannot_rehearse() {
    let r = refusals(
        r#"
[checks.far]
type = "tcp"
target = "198.18.9.9:80"
"#,
    );
    assert!(
        !r.is_empty() && r.iter().all(|l| l.contains("on no segment")),
        "{r:?}"
    );
    let r = refusals(
        r#"
[checks.real]
type = "tcp"
target = "10.1.1.1:80"
"#,
    );
    assert!(
        !r.is_empty()
            && r.iter()
                .all(|l| l.contains("outside what the drill emulates")),
        "{r:?}"
    );
    let r = refusals(
        r#"
[dataplane]
interfaces = ["eth0"]
[[gre.tunnel]]
name = "site"
local = "198.18.0.2"
remote = "198.18.0.9"
"#,
    );
    assert!(
        r.iter()
            .any(|l| l.contains("gre.tunnel \"site\": no [[snat.pool]] lists the tunnel")),
        "{r:?}"
    );
    let r = refusals(
        r#"
[dataplane]
interfaces = ["eth0"]
[[gre.tunnel]]
name = "site"
local = "198.18.0.2"
remote = "203.0.113.9"
[[snat.pool]]
name = "out"
addresses = ["198.19.0.1"]
tunnels = ["site"]
"#,
    );
    assert!(
        r.iter()
            .any(|l| l.contains("gre.tunnel \"site\" remote: 203.0.113.9 is outside")),
        "{r:?}"
    );
    // An https check that trusts only its own CA cannot be satisfied; one that does not verify
    // can.
    let https = "[checks.tls]\ntype = \"https\"\ntarget = \"198.18.0.9:8443\"\n";
    let ca = std::env::temp_dir().join(format!("plan-ca-{}.pem", std::process::id()));
    super::super::tls::Authority::new()
        .unwrap()
        .write(&ca)
        .unwrap();
    let r = refusals(&format!("{https}ca_file = \"{}\"\n", ca.display()));
    let _ = std::fs::remove_file(&ca);
    assert!(
        r.iter()
            .any(|l| l.contains("checks.tls.ca_file: the check trusts only the CAs of")),
        "{r:?}"
    );
    assert!(refusals(&format!("{https}tls_verify = false\n")).is_empty());
    let no_vrrp = file("[interfaces.eth0]\nstatic_addresses = [\"198.18.0.2/24\"]\n");
    let b = derive(&no_vrrp).unwrap();
    let r = plan([no_vrrp, b]).err().unwrap();
    assert!(r.iter().any(|l| l.contains("no VRRP instance")), "{r:?}");
    let a = file(BASE);
    let b = file(&BASE.replace("eth0", "eth1"));
    let r = plan([a, b]).err().unwrap();
    assert!(r.iter().any(|l| l.contains("does not declare it")), "{r:?}");
}

/// The gateway pair of `examples/`: one GRE site at the tunnel's remote, on the segment that
/// holds it, with a user on an inside network of its own.
#[test]
fn a_gre_site_per_central_tunnel() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let files = load(&[
        dir.join("gateway-pair-a.toml"),
        dir.join("gateway-pair-b.toml"),
    ])
    .unwrap();
    let p = plan(files).unwrap_or_else(|r| panic!("{r:?}"));
    assert_eq!(p.sites.len(), 1, "{}", p.describe());
    let s = &p.sites[0];
    assert_eq!((s.tunnel.as_str(), s.pool.as_str()), ("branch", "internet"));
    let g = &p.hosts[s.gateway];
    assert_eq!(g.role, Role::SiteGateway);
    assert_eq!(g.links[0].segment, "eth0");
    assert_eq!(g.links[0].addrs[0].to_string(), "198.18.40.30/24");
    assert_eq!(p.hosts[s.user].role, Role::SiteUser);
    // The site end of the tunnel, back to the VIP, with the central end's key and MTU.
    let t = s.site.config();
    for want in [
        "role = \"site\"",
        "local = \"198.18.40.30\"",
        "remote = \"198.18.40.10\"",
        "key = 100",
        "mtu = 1400",
    ] {
        assert!(t.contains(want), "{want}: {t}");
    }
    // The inside network overlaps nothing of the files; the user sends to the client, which
    // routes the pool's address back through the VIP.
    assert_eq!(s.site.inside.to_string(), "198.19.255.0/24");
    assert!(s.site.inside.contains(s.user_addr));
    assert_eq!(Some(s.to), p.client().first_v4());
    assert!(p
        .client()
        .routes
        .contains(&"198.19.40.1/32 via 198.18.40.10".to_string()));
    assert!(p.describe().contains("GRE site"), "{}", p.describe());
    // web1's https check: served over TLS for its address and its `sni`, and verified against
    // the drill's CA in place of the public roots.
    let b1 = p
        .hosts
        .iter()
        .find(|h| h.first_v4() == Some("198.18.42.11".parse().unwrap()))
        .unwrap();
    assert!(b1.serve.https.contains(&8443) && b1.serve.tcp.contains(&8080));
    assert!(!b1.serve.tcp.contains(&8443));
    assert!(b1.serve.tls_names.contains("198.18.42.11"));
    assert!(b1.serve.tls_names.contains("web1.backends.example.net"));
    assert_eq!(b1.serve.http_paths["/healthz"], (200, "ok".to_string()));
    assert_eq!(p.nodes[0].drill_ca, ["web1"]);
    assert!(p.needs_tls());
    // The resolver check's target answers its question with the address it expects.
    let t1 = p
        .hosts
        .iter()
        .find(|h| h.first_v4() == Some("198.18.42.53".parse().unwrap()))
        .unwrap();
    assert_eq!(t1.role, Role::CheckTarget);
    assert!(t1.serve.udp.is_empty());
    assert_eq!(
        t1.serve.dns[&53],
        [super::super::dns::DnsAnswer::new(
            "www.example.net",
            1,
            0,
            vec!["198.18.40.10".parse().unwrap()]
        )]
    );
}

/// A tunnel whose remote is on no segment's subnet: its gateway goes on the segment of `local`,
/// alone on its link, with a route each way; a second tunnel gets a site of its own.
#[test]
fn a_site_gateway_off_the_subnets_gets_routes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let files = load(&[
        dir.join("gateway-pair-a.toml"),
        dir.join("gateway-pair-b.toml"),
    ])
    .unwrap();
    let edit = |f: NodeFile| {
        let text = f
            .text
            .replace("remote = \"198.18.40.30\"", "remote = \"198.18.44.30\"")
            .replace("tunnels = [\"branch\"]", "tunnels = [\"branch\", \"b2\"]")
            .replace(
                "[[snat.pool]]",
                "[[gre.tunnel]]\nname = \"b2\"\nlocal = \"198.18.40.10\"\nremote = \"198.18.40.31\"\nkey = 2\n\n[[snat.pool]]",
            );
        file(&text)
    };
    let [a, b] = files;
    let p = plan([edit(a), edit(b)]).unwrap_or_else(|r| panic!("{r:?}"));
    assert_eq!(p.sites.len(), 2, "{}", p.describe());
    let g = &p.hosts[p.sites[0].gateway];
    assert_eq!(g.links[0].segment, "eth0");
    assert_eq!(g.links[0].addrs[0].to_string(), "198.18.44.30/32");
    assert_eq!(g.routes, ["198.18.40.10/32 dev eth0"]);
    for n in &p.nodes {
        assert_eq!(n.routes, ["198.18.44.30/32 dev eth0"]);
    }
    assert!(p.notes.iter().any(|n| n.contains("on no segment's subnet")));
    assert_eq!(p.sites[1].site.local.to_string(), "198.18.40.31");
    assert_eq!(p.sites[1].site.inside.to_string(), "198.19.254.0/24");
}

#[test]
fn interfaces_without_addresses_get_one() {
    let text = r#"
[interfaces.eth0]
[[vrrp.instance]]
name = "v"
interface = "eth0"
vrid = 1
priority = 200
virtual_addresses = ["198.18.0.100/24"]
"#;
    let a = file(text);
    let b = file(&text.replace("priority = 200", "priority = 100"));
    let p = plan([a, b]).unwrap();
    assert_eq!(p.nodes[0].extra.len(), 1);
    assert_eq!(p.nodes[0].extra[0].1.to_string(), "198.18.0.1/24");
    assert_eq!(p.nodes[1].extra[0].1.to_string(), "198.18.0.2/24");
    // No VIP with a prefix and no static address: no subnet to number.
    let a = file(&text.replace("198.18.0.100/24", "198.18.0.100/32"));
    let b = derive(&a).unwrap();
    let r = plan([a, b]).err().unwrap();
    assert!(
        r.iter().any(|l| l.contains("cannot tell its subnet")),
        "{r:?}"
    );
}
