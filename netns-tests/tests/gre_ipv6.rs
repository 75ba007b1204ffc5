//! IPv6 from a site through its GRE tunnel, untranslated: the site's prefix is global
//! (`ipv6_prefixes` of the tunnel), so the central gateway takes IPv6 out of the tunnel and
//! routes it as it is, and tunnels IPv6 to the site's prefix back, while the same tunnel's
//! IPv4 is translated through the pool as always.
//!
//! ```text
//!  ua (2001:db8:64::5, 198.18.64.5) ── sa ══GRE key 100 over IPv4══ lb ── srv (2001:db8:50::2,
//!                                     (tun gre0, IPv4 and IPv6)         198.18.50.2 / .70.2)
//! ```
//!
//! The kernel has no GRE module: the site gateway is `peers/gre_site.py --ipv6` (a TUN device
//! and a raw protocol-47 socket). The appliance's kernel forwards neither family, so whatever
//! crosses it went through the fast path. Proven here:
//! - TCP and UDP from the site's IPv6 host reach the server, which sees the host's own
//!   address; ping both ways;
//! - a 4 MiB download from the server to the site: its full-sized segments do not fit the
//!   tunnel (MTU 1400), the gateway answers Packet Too Big from its own IPv6 address, the
//!   server's path MTU comes down and the download completes;
//! - IPv4 through the same tunnel is still translated to the pool;
//! - NAT64 through the same tunnel: the site's IPv6 host asks the IPv4 server by its address
//!   under the NAT64 prefix and the server sees the pool's address (TCP and UDP); a 4 MiB
//!   download from the IPv4 server, whose segments grow by 20 bytes in translation past the
//!   tunnel's MTU: fragmentation needed back to the server, and it completes;
//! - `appctl gre` shows the tunnel's IPv6 prefixes and counts, `appctl conntrack` the NAT64
//!   flows with their tunnel.

use std::time::Duration;

use netns_tests::peers::{full_checksums, serve_http6};
use netns_tests::{wait_for_log, wait_until, Appliance, DataplaneHeader, Lab, Netns, Proc};

const USER6: &str = "2001:db8:64::5";
const SERVER6: &str = "2001:db8:50::2";
const GATEWAY6: &str = "2001:db8:50::1";
const SERVER4: &str = "198.18.70.2";
const PORT: &str = "7000";
/// The NAT64 prefix (RFC 6052); the Well-Known one may not carry these non-global addresses.
const PREF64: &str = "2001:db8:ff64::/96";
/// 198.18.70.2 under it.
const SERVER4_AS6: &str = "2001:db8:ff64::c612:4602";

fn peer_script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn config() -> String {
    let header = DataplaneHeader {
        node: "gw",
        shutdown_grace: Some("3s"),
        interfaces: &[("eth0", "Internet"), ("eth1", "site a underlay")],
        workers: 2,
        queues: 2,
    };
    format!(
        r#"{header}conntrack_per_worker = 4096
nat64_prefix = "{PREF64}"

[[gre.tunnel]]
name = "site-a"
local = "198.18.41.1"
remote = "198.18.41.2"
key = 100
mtu = 1400
ipv6_prefixes = ["2001:db8:64::/48"]
nat64_sources = ["2001:db8:64::/48"]

[[snat.pool]]
name = "internet"
tunnels = ["site-a"]
addresses = ["198.18.60.1"]
"#
    )
}

struct Bed {
    _lab: Lab,
    node: Appliance,
    user: Netns,
    srv: Netns,
    _ns: Vec<Netns>,
    _procs: Vec<Proc>,
}

fn setup(lab: Lab) -> Bed {
    let (lb, srv, sa, ua) = (
        lab.netns("lb"),
        lab.netns("srv"),
        lab.netns("sa"),
        lab.netns("ua"),
    );
    // The Internet side: the server, IPv6 on the link, IPv4 behind it as a router would be.
    lab.veth_builder(&lb, "eth0", &srv, "eth0")
        .queues(2)
        .create();
    lb.add_addr("eth0", "198.18.50.1/24");
    lb.add_addr("eth0", &format!("{GATEWAY6}/64"));
    srv.add_addr("eth0", "198.18.50.2/24");
    srv.add_addr("eth0", &format!("{SERVER6}/64"));
    srv.add_addr("lo", &format!("{SERVER4}/32"));
    srv.add_route("198.18.60.0/24 via 198.18.50.1");
    srv.ip_ok(&["-6", "route", "add", "2001:db8:64::/48", "via", GATEWAY6]);
    lb.add_route("198.18.70.0/24 via 198.18.50.2");
    full_checksums(&srv, "eth0");

    // The site: its gateway's underlay to the appliance, the user behind it.
    lab.veth_builder(&lb, "eth1", &sa, "eth0")
        .queues(2)
        .create();
    lb.add_addr("eth1", "198.18.41.1/24");
    sa.add_addr("eth0", "198.18.41.2/24");
    lab.veth(&sa, "eth1", &ua, "eth0");
    sa.add_addr("eth1", "198.18.64.1/24");
    sa.add_addr("eth1", "2001:db8:64::1/64");
    ua.add_addr("eth0", "198.18.64.5/24");
    ua.add_addr("eth0", &format!("{USER6}/64"));
    ua.add_route("default via 198.18.64.1");
    ua.ip_ok(&["-6", "route", "add", "default", "via", "2001:db8:64::1"]);
    full_checksums(&ua, "eth0");
    sa.sysctl("net.ipv4.ip_forward", "1");
    sa.sysctl("net.ipv6.conf.all.forwarding", "1");
    for key in ["all", "default", "eth0", "eth1"] {
        sa.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0");
    }
    sa.ip_ok(&["tuntap", "add", "dev", "gre0", "mode", "tun"]);
    let site = sa
        .process(
            "gre-site",
            &[
                "python3",
                &peer_script("gre_site.py"),
                "gre0",
                "198.18.41.2",
                "198.18.41.1",
                "100",
                "--ipv6",
            ],
        )
        .spawn();
    wait_for_log(&site, "ready", Duration::from_secs(10)).unwrap();
    sa.ip_ok(&["link", "set", "gre0", "mtu", "1400", "up"]);
    sa.add_route("198.18.70.0/24 dev gre0");
    sa.ip_ok(&["-6", "route", "add", "default", "dev", "gre0"]);

    let echo4 = srv
        .process(
            "echo4",
            &["python3", &peer_script("echo_peer.py"), SERVER4, PORT],
        )
        .spawn();
    wait_for_log(&echo4, "ready", Duration::from_secs(10)).unwrap();
    let echo6 = srv
        .process(
            "echo6",
            &["python3", &peer_script("echo_peer.py"), SERVER6, PORT],
        )
        .spawn();
    wait_for_log(&echo6, "ready", Duration::from_secs(10)).unwrap();
    let http = serve_http6(&lab, &srv, "srv");

    // Whatever crosses the appliance goes through the fast path.
    lb.sysctl("net.ipv4.ip_forward", "0");
    lb.sysctl("net.ipv6.conf.all.forwarding", "0");
    let mut node = Appliance::new(&lab, &lb, "gw", &config());
    node.start();
    node.wait_dataplane_running();
    Bed {
        _lab: lab,
        node,
        user: ua,
        srv,
        _ns: vec![lb, sa],
        _procs: vec![site, echo4, echo6, http],
    }
}

fn status(node: &Appliance) -> String {
    let mut s = String::new();
    for what in ["dataplane", "gre"] {
        s += &String::from_utf8_lossy(&node.appctl(&[what]).stdout);
    }
    s
}

/// What the echo server at `server` saw as the user's address, over TCP and UDP (source port
/// 5000).
fn ask(bed: &Bed, server: &str, tag: &str) -> (String, String) {
    let mut last = String::new();
    let mut answer = None;
    wait_until(
        &format!("{tag} reaching {server}"),
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let out = bed.user.exec(&[
                "python3",
                &peer_script("ask_peer.py"),
                server,
                PORT,
                "5000",
                tag,
            ]);
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let seen = |proto: &str| {
                last.lines()
                    .find_map(|l| l.strip_prefix(&format!("{proto} ")))
                    .and_then(|l| l.split_whitespace().next())
                    .map(str::to_string)
            };
            answer = seen("tcp").zip(seen("udp"));
            out.status.success() && answer.is_some()
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {last}\n{}", status(&bed.node)));
    answer.unwrap()
}

#[test]
fn ipv6_from_a_site_with_a_global_prefix_is_routed_through_its_tunnel() {
    let bed = setup(Lab::for_current_test());

    // The server sees the site host's own IPv6 address: nothing translated.
    let (tcp, udp) = ask(&bed, SERVER6, "six");
    assert!(tcp.starts_with(&format!("{USER6}:")), "{tcp}");
    assert!(udp.starts_with(&format!("{USER6}:")), "{udp}");
    // IPv4 through the same tunnel is still translated to the pool.
    let (tcp4, udp4) = ask(&bed, SERVER4, "four");
    assert!(tcp4.starts_with("198.18.60.1:"), "{tcp4}");
    assert!(udp4.starts_with("198.18.60.1:"), "{udp4}");
    // ICMPv6 echo both ways.
    bed.user.assert_ping(SERVER6);
    bed.srv.assert_ping(USER6);

    // A 4 MiB download to the site: the server's full-sized segments meet the tunnel's MTU.
    let out = bed.user.exec(&[
        "curl",
        "-sS",
        "-g",
        "--max-time",
        "30",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &format!("http://[{SERVER6}]:8080/big"),
    ]);
    assert!(out.status.success(), "{}", status(&bed.node));
    assert_eq!(String::from_utf8_lossy(&out.stdout), (4 << 20).to_string());
    let cache = bed.srv.run_ok(&["ip", "-6", "route", "get", USER6]);
    assert!(cache.contains("mtu 1400"), "{cache}");

    wait_until(
        "the tunnel's IPv6 counted both ways, Packet Too Big sent",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || {
            let gre = bed.node.json(&["gre", "--json"]);
            let t = &gre[0];
            t["ipv6_prefixes"][0] == "2001:db8:64::/48"
                && t["rx_packets"].as_u64().unwrap() > 1000
                && t["tx_packets"].as_u64().unwrap() > 1000
                && t["frag_needed_sent"].as_u64().unwrap() >= 1
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", status(&bed.node)));
    let text = String::from_utf8_lossy(&bed.node.appctl(&["gre"]).stdout).into_owned();
    assert!(text.contains("IPv6 routed 2001:db8:64::/48"), "{text}");
    let st = bed.node.json(&["dataplane", "--json"]);
    assert!(
        st["totals"]["frag_needed_sent"].as_u64().unwrap() >= 1,
        "{st}"
    );
    // Nothing of the IPv6 traffic was tracked: routed, not translated.
    let ct = bed.node.json(&["conntrack", "--json"]);
    assert_eq!(ct["used_v6"], 0, "{ct}");

    // NAT64 through the same tunnel: the IPv4 server by its address under the prefix.
    let (tcp64, udp64) = ask(&bed, SERVER4_AS6, "sixtofour");
    assert!(tcp64.starts_with("198.18.60.1:"), "{tcp64}");
    assert!(udp64.starts_with("198.18.60.1:"), "{udp64}");
    let ct = bed.node.json(&["conntrack", "--json"]);
    let flows = ct["flows"].as_array().unwrap();
    assert!(
        flows.iter().any(|f| f["kind"] == "nat64"
            && f["tunnel"] == "site-a"
            && f["client"] == format!("[{USER6}]:5000")),
        "{ct}"
    );
    let before = bed.node.json(&["dataplane", "--json"])["totals"]["frag_needed_sent"]
        .as_u64()
        .unwrap();
    let out = bed.user.exec(&[
        "curl",
        "-sS",
        "-g",
        "--max-time",
        "30",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &format!("http://[{SERVER4_AS6}]:8080/big"),
    ]);
    assert!(out.status.success(), "{}", status(&bed.node));
    assert_eq!(String::from_utf8_lossy(&out.stdout), (4 << 20).to_string());
    let st = bed.node.json(&["dataplane", "--json"]);
    assert!(
        st["totals"]["frag_needed_sent"].as_u64().unwrap() > before,
        "{st}"
    );
    assert!(
        st["totals"]["nat64_to_ipv6"].as_u64().unwrap() > 1000,
        "{st}"
    );
    let text = String::from_utf8_lossy(&bed.node.appctl(&["gre"]).stdout).into_owned();
    assert!(text.contains("IPv6 NAT64 from 2001:db8:64::/48"), "{text}");
}
