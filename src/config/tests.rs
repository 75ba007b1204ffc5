//! Table-driven tests: each broken file must be rejected with the right line, column and key.

use std::path::Path;

use super::*;

fn errors(text: &str) -> ConfigErrors {
    parse_str(text, Path::new("t.toml")).expect_err("config should be rejected")
}

struct Case {
    name: &'static str,
    text: &'static str,
    line: usize,
    column: usize,
    key: &'static str,
    /// A fragment the message or hint must contain.
    says: &'static str,
}

/// A data plane with bond0 over eth1 and eth2 declared: lines 1-8 are fixed, a case's own lines
/// start at line 9 (`members` first).
macro_rules! bonded {
    ($($extra:literal),*) => {
        concat!(
            "[interfaces.bond0]\n[interfaces.eth1]\n[interfaces.eth2]\n[interfaces.eth3]\n\
             [dataplane]\ninterfaces = [\"bond0\"]\n[[bond]]\nname = \"bond0\"\n",
            $($extra),*
        )
    };
}

/// An IPv6 service over two pools (IPv4 `v4`, IPv6 `v6`): lines 1-14 are fixed, a case's own
/// lines start at line 15.
macro_rules! ipv6_service {
    ($($extra:literal),*) => {
        concat!(
            "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n\
             [[snat.pool]]\nname = \"v4\"\naddresses = [\"198.19.0.1\"]\n\
             [[snat.pool]]\nname = \"v6\"\naddresses = [\"2001:db8:9::1\"]\n\
             [[service]]\nname = \"web64\"\nvip = \"2001:db8:1::64\"\nport = 80\nprotocol = \"tcp\"\n",
            $($extra),*
        )
    };
}

const CASES: &[Case] = &[
    Case {
        name: "NAT64 in nat mode",
        text: ipv6_service!("mode = \"nat\"\n", "backends = [{ address = \"198.18.2.1\", port = 8080 }]\n"),
        line: 15,
        column: 8,
        key: "service[0].mode",
        says: "mode = \"fullnat\" and pool",
    },
    Case {
        name: "NAT64 in direct-routing mode",
        text: ipv6_service!("mode = \"dr\"\n", "backends = [{ address = \"198.18.2.1\" }]\n"),
        line: 15,
        column: 8,
        key: "service[0].mode",
        says: "NAT64",
    },
    Case {
        name: "NAT64 with an IPv6 pool",
        text: ipv6_service!(
            "mode = \"fullnat\"\npool = \"v6\"\n",
            "backends = [{ address = \"198.18.2.1\", port = 8080 }]\n"
        ),
        line: 16,
        column: 8,
        key: "service[0].pool",
        says: "IPv4 [[snat.pool]]",
    },
    Case {
        name: "NAT64 without a pool",
        text: ipv6_service!("mode = \"fullnat\"\n", "backends = [{ address = \"198.18.2.1\", port = 8080 }]\n"),
        line: 15,
        column: 8,
        key: "service[0].mode",
        says: "IPv4 [[snat.pool]]",
    },
    Case {
        name: "backends of both families",
        text: ipv6_service!(
            "mode = \"fullnat\"\npool = \"v4\"\n",
            "backends = [{ address = \"198.18.2.1\", port = 8080 }, { address = \"2001:db8:2::1\", port = 8080 }]\n"
        ),
        line: 17,
        column: 66,
        key: "service[0].backends[1].address",
        says: "one family",
    },
    Case {
        name: "a NAT64 prefix of a length RFC 6052 does not have",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\nnat64_prefix = \"2001:db8::/33\"\n",
        line: 4,
        column: 16,
        key: "dataplane.nat64_prefix",
        says: "/32, /40, /48, /56, /64 or /96",
    },
    Case {
        name: "a sync key anyone could guess",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[sync]\ninterface = \"eth0\"\n\
               peers = [\"198.18.2.3\"]\nkey = \"short\"\n",
        line: 7,
        column: 7,
        key: "sync.key",
        says: "at least 16",
    },
    Case {
        name: "sync without a key",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[sync]\ninterface = \"eth0\"\n\
               peers = [\"198.18.2.3\"]\n",
        line: 4,
        column: 2,
        key: "sync",
        says: "key_file",
    },
    Case {
        name: "this node among its own sync peers",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[sync]\ninterface = \"eth0\"\n\
               local = \"198.18.2.2\"\npeers = [\"198.18.2.3\", \"198.18.2.2\"]\n\
               key = \"0123456789abcdef\"\n",
        line: 7,
        column: 24,
        key: "sync.peers[1]",
        says: "own `local`",
    },
    Case {
        name: "a misspelt sync key",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[sync]\ninterface = \"eth0\"\n\
               peer = [\"198.18.2.3\"]\nkey = \"0123456789abcdef\"\n",
        line: 6,
        column: 1,
        key: "sync.peer",
        says: "peers",
    },
    Case {
        name: "sync without a data plane",
        text: "[sync]\ninterface = \"eth0\"\npeers = [\"198.18.2.3\"]\nkey = \"0123456789abcdef\"\n",
        line: 1,
        column: 2,
        key: "sync",
        says: "[dataplane]",
    },
    Case {
        name: "a BFD interval a user-space daemon cannot keep",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\n\
               address = \"198.18.0.2\"\nremote_as = 65000\nbfd = { interval = \"1ms\", multiplier = 3 }\n",
        line: 7,
        column: 20,
        key: "bgp.neighbor[0].bfd.interval",
        says: "10ms to 60s",
    },
    Case {
        name: "a BFD multiplier of zero",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\n\
               address = \"198.18.0.2\"\nremote_as = 65000\nbfd = { interval = \"50ms\", multiplier = 0 }\n",
        line: 7,
        column: 41,
        key: "bgp.neighbor[0].bfd.multiplier",
        says: "3 is usual",
    },
    Case {
        name: "a BFD multiplier past the octet",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\n\
               address = \"198.18.0.2\"\nremote_as = 65000\nbfd = { multiplier = 300 }\n",
        line: 7,
        column: 22,
        key: "bgp.neighbor[0].bfd.multiplier",
        says: "u8",
    },
    Case {
        name: "single-hop BFD on a multihop neighbor",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\n\
               address = \"198.18.0.2\"\nremote_as = 65000\nmultihop = 2\nbfd = {}\n",
        line: 8,
        column: 7,
        key: "bgp.neighbor[0].bfd",
        says: "single hop",
    },
    Case {
        name: "a BFD SHA1 key longer than its field",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\n\
               address = \"198.18.0.2\"\nremote_as = 65000\n\
               bfd = { auth = { type = \"keyed-sha1\", key = \"0123456789abcdefghijk\" } }\n",
        line: 7,
        column: 45,
        key: "bgp.neighbor[0].bfd.auth.key",
        says: "1 to 20 bytes",
    },
    Case {
        name: "a misspelt BFD key",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\n\
               address = \"198.18.0.2\"\nremote_as = 65000\nbfd = { intervall = \"50ms\" }\n",
        line: 7,
        column: 9,
        key: "bgp.neighbor[0].bfd.intervall",
        says: "did you mean `interval`",
    },
    // Numbers the parser takes but the daemon cannot use: each is refused with its place, never
    // left for a multiplication, an allocation or a timer to panic on.
    Case {
        name: "the most negative tracking weight (negating it overflowed)",
        text: "[interfaces.eth0]\n[[vrrp.instance]]\nname = \"vi\"\ninterface = \"eth0\"\nvrid = 7\n\
               virtual_addresses = [\"198.18.0.100/24\"]\n\
               track_interfaces = [{ interface = \"eth0\", weight = -2147483648 }]\n",
        line: 7,
        column: 52,
        key: "vrrp.instance[0].track_interfaces[0].weight",
        says: "-254..254",
    },
    Case {
        name: "a connect_retry of a year",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\nconnect_retry = \"366days\"\n",
        line: 4,
        column: 17,
        key: "bgp.connect_retry",
        says: "at most 65535s",
    },
    Case {
        name: "a duration past what a timer can add to an Instant",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\ngraceful_shutdown_wait = \"1e20s\"\n",
        line: 4,
        column: 26,
        key: "bgp.graceful_shutdown_wait",
        says: "366 days",
    },
    Case {
        name: "a conntrack table that cannot be allocated",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\nconntrack_per_worker = 4294967295\n",
        line: 4,
        column: 24,
        key: "dataplane.conntrack_per_worker",
        says: "16 to 67108864",
    },
    Case {
        name: "a backend weight that would overflow the scheduler's sums",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[service]]\nname = \"web\"\n\
               vip = \"198.18.100.1\"\nport = 80\nprotocol = \"tcp\"\n\
               backends = [{ address = \"198.18.1.2\", port = 80, weight = 4294967295 }]\n",
        line: 9,
        column: 59,
        key: "service[0].backends[0].weight",
        says: "0 to 10000",
    },
    Case {
        name: "as many queues as a u32 holds",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\nqueues = 4294967295\n",
        line: 4,
        column: 10,
        key: "dataplane.queues",
        says: "queue",
    },
    Case {
        name: "typo in a daemon key gets a did-you-mean",
        text: "[daemon]\nstate_dirr = \"/x\"\n",
        line: 2,
        column: 1,
        key: "daemon.state_dirr",
        says: "did you mean `state_dir`?",
    },
    Case {
        name: "unknown top-level section lists the valid ones",
        text: "[daemon]\n\n[vrpp]\n",
        line: 3,
        column: 2,
        key: "vrpp",
        says: "unknown key `vrpp`",
    },
    Case {
        name: "TOML syntax error",
        text: "[daemon\nnode_name = \"x\"\n",
        line: 1,
        column: 8,
        key: "",
        says: "TOML syntax error",
    },
    Case {
        name: "duration without unit",
        text: "[daemon]\nshutdown_grace = 5\n",
        line: 2,
        column: 18,
        key: "daemon.shutdown_grace",
        says: "\"5s\"",
    },
    Case {
        name: "duration that is not one",
        text: "[daemon]\nshutdown_grace = \"soon\"\n",
        line: 2,
        column: 18,
        key: "daemon.shutdown_grace",
        says: "invalid duration",
    },
    Case {
        name: "shutdown grace too long",
        text: "[daemon]\nshutdown_grace = \"1h\"\n",
        line: 2,
        column: 18,
        key: "daemon.shutdown_grace",
        says: "too long",
    },
    Case {
        name: "a duration too long for any timer is refused, never a panic",
        text: "[daemon]\nshutdown_grace = \"1e20s\"\n",
        line: 2,
        column: 18,
        key: "daemon.shutdown_grace",
        says: "maximum of 366 days",
    },
    Case {
        name: "a duration in a health check too long for any timer",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.1:80\"\ninterval = \"600000000000h\"\n",
        line: 4,
        column: 12,
        key: "checks.web.interval",
        says: "maximum of 366 days",
    },
    Case {
        name: "relative state dir",
        text: "[daemon]\nnode_name = \"a\"\nstate_dir = \"run/x\"\n",
        line: 3,
        column: 13,
        key: "daemon.state_dir",
        says: "absolute path",
    },
    Case {
        name: "node name with a space",
        text: "[daemon]\nnode_name = \"lb 1\"\n",
        line: 2,
        column: 13,
        key: "daemon.node_name",
        says: "whitespace",
    },
    Case {
        name: "wrong type for node name",
        text: "[daemon]\nnode_name = 7\n",
        line: 2,
        column: 13,
        key: "daemon.node_name",
        says: "invalid type",
    },
    Case {
        name: "relative control socket",
        text: "[control]\nsocket = \"appctl.sock\"\n",
        line: 2,
        column: 10,
        key: "control.socket",
        says: "absolute path",
    },
    Case {
        name: "control socket path too long for sun_path",
        text: "[control]\nsocket = \"/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\"\n",
        line: 2,
        column: 10,
        key: "control.socket",
        says: "at most 107",
    },
    Case {
        name: "metrics listen without port",
        text: "[metrics]\nlisten = \"127.0.0.1\"\n",
        line: 2,
        column: 10,
        key: "metrics.listen",
        says: "127.0.0.1:9469",
    },
    Case {
        name: "unknown key in metrics",
        text: "[metrics]\nlsiten = \"127.0.0.1:9469\"\n",
        line: 2,
        column: 1,
        key: "metrics.lsiten",
        says: "did you mean `listen`?",
    },
    Case {
        name: "bad static address",
        text: "[interfaces.eth0]\nstatic_addresses = [\"198.18.0.1/24\", \"198.18.0.300/24\"]\n",
        line: 2,
        column: 38,
        key: "interfaces.eth0.static_addresses[1]",
        says: "invalid",
    },
    Case {
        name: "prefix length out of range",
        text: "[interfaces.eth0]\nstatic_addresses = [\"198.18.0.1/33\"]\n",
        line: 2,
        column: 21,
        key: "interfaces.eth0.static_addresses[0]",
        says: "198.18.0.10/24",
    },
    Case {
        name: "interface name too long",
        text: "[interfaces.averyveryverylongname0]\n",
        line: 1,
        column: 13,
        key: "interfaces.averyveryverylongname0",
        says: "not a valid Linux interface name",
    },
    Case {
        name: "same static address on two interfaces",
        text: "[interfaces.eth0]\nstatic_addresses = [\"198.18.0.1/24\"]\n[interfaces.eth1]\nstatic_addresses = [\"198.18.0.1/24\"]\n",
        line: 4,
        column: 21,
        key: "interfaces.eth1.static_addresses[0]",
        says: "already listed on interface `eth0`",
    },
    Case {
        name: "multicast static address",
        text: "[interfaces.eth0]\nstatic_addresses = [\"224.0.0.18/32\"]\n",
        line: 2,
        column: 21,
        key: "interfaces.eth0.static_addresses[0]",
        says: "cannot be assigned",
    },
    Case {
        name: "typo in interface key",
        text: "[interfaces.eth0]\nstatic_adresses = []\n",
        line: 2,
        column: 1,
        key: "interfaces.eth0.static_adresses",
        says: "did you mean `static_addresses`?",
    },
    Case {
        name: "unknown check type gets a did-you-mean",
        text: "[checks.web]\ntype = \"htp\"\ntarget = \"198.18.0.10:80\"\n",
        line: 2,
        column: 8,
        key: "checks.web.type",
        says: "did you mean `http`?",
    },
    Case {
        name: "typo in a check key",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\nintervall = \"1s\"\n",
        line: 4,
        column: 1,
        key: "checks.web.intervall",
        says: "did you mean `interval`?",
    },
    Case {
        name: "check without its required target points at the table",
        text: "[checks.web]\ntype = \"tcp\"\n",
        line: 1,
        column: 9,
        key: "checks.web.target",
        says: "a tcp check needs `target`",
    },
    Case {
        name: "rise of zero",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\nrise = 0\n",
        line: 4,
        column: 8,
        key: "checks.web.rise",
        says: "1 to 1000",
    },
    Case {
        name: "check interval without unit",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\ninterval = 1\n",
        line: 4,
        column: 12,
        key: "checks.web.interval",
        says: "\"1s\"",
    },
    Case {
        name: "key of another check type",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\nexpect_body = \"ok\"\n",
        line: 4,
        column: 15,
        key: "checks.web.expect_body",
        says: "only type http, https takes it",
    },
    Case {
        name: "bad HTTP status list",
        text: "[checks.web]\ntype = \"http\"\ntarget = \"198.18.0.10:80\"\nexpect_status = \"200-2x9\"\n",
        line: 4,
        column: 17,
        key: "checks.web.expect_status",
        says: "\"200-299,301\"",
    },
    Case {
        name: "icmp target with a port",
        text: "[checks.gw]\ntype = \"icmp\"\ntarget = \"198.18.0.1:80\"\n",
        line: 3,
        column: 10,
        key: "checks.gw.target",
        says: "without a port",
    },
    Case {
        name: "DNS expected address of the wrong family for the query type",
        text: "[checks.ns]\ntype = \"dns\"\ntarget = \"198.18.0.53\"\nname = \"www.example.net\"\nexpect_address = \"2001:db8::1\"\n",
        line: 5,
        column: 18,
        key: "checks.ns.expect_address",
        says: "qtype = \"AAAA\"",
    },
    Case {
        name: "unknown initial state",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\ninitial = \"dwn\"\n",
        line: 4,
        column: 11,
        key: "checks.web.initial",
        says: "did you mean `down`?",
    },
    Case {
        name: "misspelt tcp handshake",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\nhandshake = \"half_open\"\n",
        line: 4,
        column: 13,
        key: "checks.web.handshake",
        says: "did you mean `half-open`?",
    },
    Case {
        name: "handshake on an http check",
        text: "[checks.web]\ntype = \"http\"\ntarget = \"198.18.0.10:80\"\nhandshake = \"half-open\"\n",
        line: 4,
        column: 13,
        key: "checks.web.handshake",
        says: "only type tcp takes it",
    },
    Case {
        name: "source of another address family than the target",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\nsource = \"2001:db8::1\"\n",
        line: 4,
        column: 10,
        key: "checks.web.source",
        says: "different address families",
    },
    Case {
        name: "jitter of more than one",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\njitter = 1.5\n",
        line: 4,
        column: 10,
        key: "checks.web.jitter",
        says: "[0, 1)",
    },
    Case {
        name: "exec check with an empty command",
        text: "[checks.db]\ntype = \"exec\"\ncommand = []\n",
        line: 3,
        column: 11,
        key: "checks.db.command",
        says: "empty command",
    },
    Case {
        name: "check name with a space",
        text: "[checks.\"we b\"]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\n",
        line: 1,
        column: 9,
        key: "checks.\"we b\"",
        says: "not a valid check name",
    },
    Case {
        name: "section given a value instead of a table",
        text: "daemon = 3\n",
        line: 1,
        column: 10,
        key: "daemon",
        says: "invalid type",
    },
    Case {
        name: "bgp announce gated by an unknown check",
        text: "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\n[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\naddress = \"198.18.0.254\"\nremote_as = 65000\n[[bgp.announce]]\nprefix = \"198.18.255.1/32\"\nchecks = [\"wbe\"]\n",
        line: 12,
        column: 11,
        key: "bgp.announce[0].checks[0]",
        says: "did you mean `web`?",
    },
    Case {
        name: "bgp hold time of 2s",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\nhold_time = \"2s\"\n",
        line: 4,
        column: 13,
        key: "bgp.hold_time",
        says: "0 or 3s to 65535s",
    },
    Case {
        name: "bgp announce gated by an unknown vrrp instance",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\naddress = \"198.18.0.254\"\nremote_as = 65000\n[[bgp.announce]]\nprefix = \"198.18.255.1/32\"\nvrrp_instance = \"vi1\"\n",
        line: 9,
        column: 17,
        key: "bgp.announce[0].vrrp_instance",
        says: "unknown VRRP instance `vi1`",
    },
    Case {
        name: "bgp neighbor with gtsm and multihop",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\naddress = \"198.18.0.254\"\nremote_as = 65000\nmultihop = 2\ngtsm = true\n",
        line: 8,
        column: 8,
        key: "bgp.neighbor[0].gtsm",
        says: "exclude each other",
    },
    Case {
        name: "bgp bad community",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\naddress = \"198.18.0.254\"\nremote_as = 65000\n[[bgp.announce]]\nprefix = \"198.18.255.1/32\"\ncommunities = [\"65000-1\"]\n",
        line: 9,
        column: 16,
        key: "bgp.announce[0].communities[0]",
        says: "\"ASN:VALUE\"",
    },
    Case {
        name: "bgp prefix with host bits",
        text: "[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n[[bgp.neighbor]]\naddress = \"198.18.0.254\"\nremote_as = 65000\n[[bgp.announce]]\nprefix = \"198.18.255.1/24\"\n",
        line: 8,
        column: 10,
        key: "bgp.announce[0].prefix",
        says: "write 198.18.255.0/24",
    },
    Case {
        name: "snat pool names an unknown tunnel",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"site-a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\n[[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\ntunnels = [\"site-b\"]\n",
        line: 11,
        column: 12,
        key: "snat.pool[0].tunnels[0]",
        says: "did you mean `site-a`?",
    },
    Case {
        name: "NAT64 sources on a tunnel no pool lists",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nnat64_sources = [\"fd00:66::/48\"]\n",
        line: 8,
        column: 17,
        key: "gre.tunnel[0].nat64_sources",
        says: "in no IPv4 pool",
    },
    Case {
        name: "NAT64 sources that are link-local",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nnat64_sources = [\"fe80::/64\"]\n[[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\ntunnels = [\"a\"]\n",
        line: 8,
        column: 18,
        key: "gre.tunnel[0].nat64_sources[0]",
        says: "link-local",
    },
    Case {
        name: "NAT64 sources of two tunnels overlap",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nnat64_sources = [\"fd00:66::/48\"]\n[[gre.tunnel]]\nname = \"b\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.20\"\nnat64_sources = [\"fd00:66:0:5::/64\"]\n[[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\ntunnels = [\"a\", \"b\"]\n",
        line: 13,
        column: 18,
        key: "gre.tunnel[1].nat64_sources[0]",
        says: "overlaps fd00:66::/48 of tunnel `a`",
    },
    Case {
        name: "a tunnel's IPv6 prefix is unique local",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nipv6_prefixes = [\"2001:db8:64::/48\", \"fd00:1::/48\"]\n",
        line: 8,
        column: 38,
        key: "gre.tunnel[0].ipv6_prefixes[1]",
        says: "unique local",
    },
    Case {
        name: "a tunnel's IPv6 prefix with host bits",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nipv6_prefixes = [\"2001:db8:64::1/48\"]\n",
        line: 8,
        column: 18,
        key: "gre.tunnel[0].ipv6_prefixes[0]",
        says: "write 2001:db8:64::/48",
    },
    Case {
        name: "two tunnels' IPv6 prefixes overlap",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nipv6_prefixes = [\"2001:db8:64::/48\"]\n[[gre.tunnel]]\nname = \"b\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.20\"\nipv6_prefixes = [\"2001:db8:64:5::/64\"]\n",
        line: 13,
        column: 18,
        key: "gre.tunnel[1].ipv6_prefixes[0]",
        says: "overlaps 2001:db8:64::/48 of tunnel `a`",
    },
    Case {
        name: "a tunnel carrying IPv6 with an MTU below 1280",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nmtu = 1000\nipv6_prefixes = [\"2001:db8:64::/48\"]\n",
        line: 8,
        column: 7,
        key: "gre.tunnel[0].mtu",
        says: "1280 or more",
    },
    Case {
        name: "a tunnel's IPv6 prefix holds a VIP",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nipv6_prefixes = [\"2001:db8:64::/48\"]\n[[service]]\nname = \"w\"\nvip = \"2001:db8:64::80\"\nport = 80\nprotocol = \"tcp\"\nbackends = [{ address = \"2001:db8:2::1\", port = 80 }]\n",
        line: 8,
        column: 18,
        key: "gre.tunnel[0].ipv6_prefixes[0]",
        says: "a service VIP",
    },
    Case {
        name: "gre tunnel mtu out of range",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nmtu = 100\n",
        line: 8,
        column: 7,
        key: "gre.tunnel[0].mtu",
        says: "576 to 9000",
    },
    Case {
        name: "typo in a gre tunnel key",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremot = \"198.18.8.10\"\n",
        line: 7,
        column: 1,
        key: "gre.tunnel[0].remot",
        says: "did you mean `remote`?",
    },
    Case {
        name: "two tunnels with the same remote and key",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nkey = 7\n[[gre.tunnel]]\nname = \"b\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nkey = 7\n",
        line: 12,
        column: 10,
        key: "gre.tunnel[1].remote",
        says: "different key",
    },
    Case {
        name: "snat port range that is not one",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\nports = \"1024:2048\"\n",
        line: 7,
        column: 9,
        key: "snat.pool[0].ports",
        says: "\"LOW-HIGH\"",
    },
    Case {
        name: "snat port range too small for the workers",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\nworkers = 2\nqueues = 2\n[[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\nports = \"2000-2000\"\n",
        line: 9,
        column: 9,
        key: "snat.pool[0].ports",
        says: "a port for each of the 2 worker(s)",
    },
    Case {
        name: "address in two snat pools",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[snat.pool]]\nname = \"a\"\naddresses = [\"198.19.0.1\"]\n[[snat.pool]]\nname = \"b\"\naddresses = [\"198.19.0.2\", \"198.19.0.1\"]\n",
        line: 9,
        column: 28,
        key: "snat.pool[1].addresses[1]",
        says: "already an address of pool `a`",
    },
    Case {
        name: "snat source with host bits",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\nsources = [\"198.18.96.1/24\"]\n",
        line: 7,
        column: 12,
        key: "snat.pool[0].sources[0]",
        says: "write 198.18.96.0/24",
    },
    Case {
        name: "snat timeout too short",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\ntimeouts = { udp = \"10ms\" }\n",
        line: 7,
        column: 20,
        key: "snat.pool[0].timeouts.udp",
        says: "1s to 24 days",
    },
    Case {
        name: "fullnat service without a pool",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\nmode = \"fullnat\"\nbackends = []\n",
        line: 9,
        column: 8,
        key: "service[0].mode",
        says: "needs a pool",
    },
    Case {
        name: "fullnat service with an unknown pool",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[snat.pool]]\nname = \"lb\"\naddresses = [\"198.19.0.9\"]\n[[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\nmode = \"fullnat\"\npool = \"lbb\"\nbackends = []\n",
        line: 13,
        column: 8,
        key: "service[0].pool",
        says: "did you mean `lb`?",
    },
    Case {
        name: "site tunnel without inside prefixes",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.10\"\nremote = \"198.18.8.1\"\nrole = \"site\"\n",
        line: 8,
        column: 8,
        key: "gre.tunnel[0].role",
        says: "needs the inside prefixes",
    },
    Case {
        name: "inside prefixes on a central tunnel",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.10\"\nremote = \"198.18.8.1\"\ninside = [\"198.18.64.0/24\"]\n",
        line: 8,
        column: 10,
        key: "gre.tunnel[0].inside",
        says: "role = \"site\"",
    },
    Case {
        name: "site tunnel inside prefix with host bits",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.10\"\nremote = \"198.18.8.1\"\nrole = \"site\"\ninside = [\"198.18.64.1/24\"]\n",
        line: 9,
        column: 11,
        key: "gre.tunnel[0].inside[0]",
        says: "write 198.18.64.0/24",
    },
    Case {
        name: "site tunnel named by a pool",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.10\"\nremote = \"198.18.8.1\"\nrole = \"site\"\ninside = [\"198.18.64.0/24\"]\n[[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\ntunnels = [\"a\"]\n",
        line: 13,
        column: 12,
        key: "snat.pool[0].tunnels[0]",
        says: "is a site tunnel",
    },
    Case {
        name: "site tunnel inside prefix overlapping a pool source",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\nsources = [\"198.18.64.0/22\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.10\"\nremote = \"198.18.8.1\"\nrole = \"site\"\ninside = [\"198.18.65.0/24\"]\n",
        line: 13,
        column: 11,
        key: "gre.tunnel[0].inside[0]",
        says: "overlaps 198.18.64.0/22, a source of pool `out`",
    },
    Case {
        name: "two site tunnels with overlapping inside prefixes",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nrole = \"site\"\nlocal = \"198.18.8.10\"\nremote = \"198.18.8.1\"\ninside = [\"198.18.64.0/24\"]\n[[gre.tunnel]]\nname = \"b\"\nrole = \"site\"\nlocal = \"198.18.8.10\"\nremote = \"198.18.8.2\"\ninside = [\"198.18.66.0/24\", \"198.18.64.128/25\"]\n",
        line: 15,
        column: 29,
        key: "gre.tunnel[1].inside[1]",
        says: "an inside prefix of tunnel `a`",
    },
    Case {
        name: "unknown tunnel role",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.10\"\nremote = \"198.18.8.1\"\nrole = \"hub\"\ninside = [\"198.18.64.0/24\"]\n",
        line: 8,
        column: 8,
        key: "gre.tunnel[0].role",
        says: "`site`",
    },
    Case {
        name: "gre tunnel without the data plane",
        text: "[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\n",
        line: 1,
        column: 1,
        key: "gre.tunnel[0]",
        says: "need the data plane",
    },
    Case {
        name: "a misspelt bond mode",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmode = \"active_backup\"\n"),
        line: 10,
        column: 8,
        key: "bond[0].mode",
        says: "did you mean `active-backup`?",
    },
    Case {
        name: "an unknown transmit hash",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nxmit_hash = \"layer3+4\"\n"),
        line: 10,
        column: 13,
        key: "bond[0].xmit_hash",
        says: "expected one of `l2`, `l23`, `l34`",
    },
    Case {
        name: "a misspelt bond key",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nlacp_rte = \"slow\"\n"),
        line: 10,
        column: 1,
        key: "bond[0].lacp_rte",
        says: "did you mean `lacp_rate`?",
    },
    Case {
        name: "a bond member not declared",
        text: bonded!("members = [\"eth1\", \"eth9\"]\n"),
        line: 9,
        column: 20,
        key: "bond[0].members[1]",
        says: "unknown interface `eth9`",
    },
    Case {
        name: "a bond member listed twice",
        text: bonded!("members = [\"eth1\", \"eth1\"]\n"),
        line: 9,
        column: 20,
        key: "bond[0].members[1]",
        says: "listed twice",
    },
    Case {
        name: "a bond without members",
        text: bonded!("members = []\n"),
        line: 9,
        column: 11,
        key: "bond[0].members",
        says: "1 to 16 members",
    },
    Case {
        name: "a NIC in two bonds",
        text: "[interfaces.bond0]\n[interfaces.bond1]\n[interfaces.eth1]\n[interfaces.eth2]\n\
               [dataplane]\ninterfaces = [\"bond0\", \"bond1\"]\n[[bond]]\nname = \"bond0\"\n\
               members = [\"eth1\", \"eth2\"]\n[[bond]]\nname = \"bond1\"\nmembers = [\"eth2\"]\n",
        line: 12,
        column: 12,
        key: "bond[1].members[0]",
        says: "already a member of bond `bond0`",
    },
    Case {
        name: "a bond as a member of a bond",
        text: "[interfaces.bond0]\n[interfaces.bond1]\n[interfaces.eth1]\n[interfaces.eth2]\n\
               [dataplane]\ninterfaces = [\"bond0\", \"bond1\"]\n[[bond]]\nname = \"bond0\"\n\
               members = [\"eth1\", \"eth2\"]\n[[bond]]\nname = \"bond1\"\nmembers = [\"bond0\"]\n",
        line: 12,
        column: 12,
        key: "bond[1].members[0]",
        says: "bonds do not nest",
    },
    Case {
        name: "two bonds of one name",
        text: bonded!("members = [\"eth1\"]\n[[bond]]\nname = \"bond0\"\nmembers = [\"eth2\"]\n"),
        line: 11,
        column: 8,
        key: "bond[1].name",
        says: "declared twice",
    },
    Case {
        name: "a VRRP instance on a bond member",
        text: bonded!("members = [\"eth1\", \"eth2\"]\n[[vrrp.instance]]\nname = \"vi\"\ninterface = \"eth1\"\nvrid = 7\n\
               virtual_addresses = [\"198.18.0.100/24\"]\n"),
        line: 12,
        column: 13,
        key: "vrrp.instance[0].interface",
        says: "run the instance on `bond0` instead",
    },
    Case {
        name: "a VRRP instance tracking a bond member",
        text: bonded!("members = [\"eth1\", \"eth2\"]\n[[vrrp.instance]]\nname = \"vi\"\ninterface = \"bond0\"\nvrid = 7\n\
               virtual_addresses = [\"198.18.0.100/24\"]\ntrack_interfaces = [{ interface = \"eth2\" }]\n"),
        line: 15,
        column: 35,
        key: "vrrp.instance[0].track_interfaces[0].interface",
        says: "track `bond0` instead",
    },
    Case {
        name: "session sync over a bond member",
        text: bonded!("members = [\"eth1\", \"eth2\"]\n[sync]\ninterface = \"eth1\"\npeers = [\"198.18.2.3\"]\n\
               key = \"0123456789abcdef\"\n"),
        line: 11,
        column: 13,
        key: "sync.interface",
        says: "is a member of bond `bond0`",
    },
    Case {
        name: "an address on a bond member",
        text: "[interfaces.bond0]\n[interfaces.eth1]\nstatic_addresses = [\"198.18.0.2/24\"]\n\
               [interfaces.eth2]\n[dataplane]\ninterfaces = [\"bond0\"]\n[[bond]]\nname = \"bond0\"\n\
               members = [\"eth1\", \"eth2\"]\n",
        line: 3,
        column: 20,
        key: "interfaces.eth1.static_addresses",
        says: "put them on `bond0` instead",
    },
    Case {
        name: "a bond member among the data interfaces",
        text: "[interfaces.bond0]\n[interfaces.eth1]\n[interfaces.eth2]\n[dataplane]\n\
               interfaces = [\"bond0\", \"eth2\"]\n[[bond]]\nname = \"bond0\"\nmembers = [\"eth1\", \"eth2\"]\n",
        line: 5,
        column: 24,
        key: "dataplane.interfaces[1]",
        says: "list `bond0` instead",
    },
    Case {
        name: "a bond the data plane does not run",
        text: "[interfaces.bond0]\n[interfaces.eth1]\n[interfaces.eth3]\n[dataplane]\n\
               interfaces = [\"eth3\"]\n[[bond]]\nname = \"bond0\"\nmembers = [\"eth1\"]\n",
        line: 7,
        column: 8,
        key: "bond[0].name",
        says: "add \"bond0\" to [dataplane] interfaces",
    },
    Case {
        name: "a bond without a data plane",
        text: "[interfaces.bond0]\n[interfaces.eth1]\n[[bond]]\nname = \"bond0\"\nmembers = [\"eth1\"]\n",
        line: 3,
        column: 1,
        key: "bond[0]",
        says: "needs the data plane",
    },
    Case {
        name: "a bond name not declared",
        text: "[interfaces.eth1]\n[[bond]]\nname = \"bond0\"\nmembers = [\"eth1\"]\n",
        line: 3,
        column: 8,
        key: "bond[0].name",
        says: "declare it first as [interfaces.bond0]",
    },
    Case {
        name: "a primary that is not a member",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmode = \"active-backup\"\nprimary = \"eth3\"\n"),
        line: 11,
        column: 11,
        key: "bond[0].primary",
        says: "not a member of bond `bond0`",
    },
    Case {
        name: "a primary on an LACP bond",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nprimary = \"eth1\"\n"),
        line: 10,
        column: 11,
        key: "bond[0].primary",
        says: "applies to active-backup",
    },
    Case {
        name: "an ARP monitor on an LACP bond",
        text: bonded!("members = [\"eth1\", \"eth2\"]\narp_monitor = { target = \"198.18.0.1\" }\n"),
        line: 10,
        column: 15,
        key: "bond[0].arp_monitor",
        says: "LACP already checks every link",
    },
    Case {
        name: "an ARP monitor on a balance-xor bond",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmode = \"balance-xor\"\narp_monitor = { target = \"198.18.0.1\" }\n"),
        line: 11,
        column: 15,
        key: "bond[0].arp_monitor",
        says: "set mode = \"active-backup\"",
    },
    Case {
        name: "an ARP monitor every 5ms",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmode = \"active-backup\"\n\
               arp_monitor = { target = \"198.18.0.1\", interval = \"5ms\" }\n"),
        line: 11,
        column: 51,
        key: "bond[0].arp_monitor.interval",
        says: "outside 10ms to 10s",
    },
    Case {
        name: "an ARP monitor every minute",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmode = \"active-backup\"\n\
               arp_monitor = { target = \"198.18.0.1\", interval = \"1m\" }\n"),
        line: 11,
        column: 51,
        key: "bond[0].arp_monitor.interval",
        says: "the default is 100ms",
    },
    Case {
        name: "an ARP monitor towards a multicast group",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmode = \"active-backup\"\narp_monitor = { target = \"224.0.0.1\" }\n"),
        line: 11,
        column: 26,
        key: "bond[0].arp_monitor.target",
        says: "not the unicast address",
    },
    Case {
        name: "min_links of zero",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmin_links = 0\n"),
        line: 10,
        column: 13,
        key: "bond[0].min_links",
        says: "1 to the number of members (2)",
    },
    Case {
        name: "min_links above the members",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmin_links = 3\n"),
        line: 10,
        column: 13,
        key: "bond[0].min_links",
        says: "1 to the number of members (2)",
    },
    Case {
        name: "a multicast bond MAC",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmac = \"01:00:5e:00:00:01\"\n"),
        line: 10,
        column: 7,
        key: "bond[0].mac",
        says: "not a unicast address",
    },
    Case {
        name: "an all-zero bond MAC",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmac = \"00:00:00:00:00:00\"\n"),
        line: 10,
        column: 7,
        key: "bond[0].mac",
        says: "02:00:5e:10:00:01",
    },
    Case {
        name: "a bond MAC of five octets",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nmac = \"02:00:5e:10:00\"\n"),
        line: 10,
        column: 7,
        key: "bond[0].mac",
        says: "six hex octets",
    },
    Case {
        name: "an LACP key past 16 bits",
        text: bonded!("members = [\"eth1\", \"eth2\"]\nkey = 65536\n"),
        line: 10,
        column: 7,
        key: "bond[0].key",
        says: "u16",
    },

    Case {
        name: "an IPv6 service with an IPv4 backend",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[service]]\nname = \"web6\"\n\
               vip = \"2001:db8:1::1\"\nport = 80\nprotocol = \"tcp\"\n\
               backends = [{ address = \"2001:db8:2::1\", port = 80 }, { address = \"198.18.2.1\", port = 80 }]\n",
        line: 9,
        column: 67,
        key: "service[0].backends[1].address",
        says: "NAT64 (an IPv6 VIP with IPv4 backends) is a service with mode = \"fullnat\"",
    },
    Case {
        name: "an IPv4 service with an IPv6 backend",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[service]]\nname = \"web\"\n\
               vip = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\
               backends = [{ address = \"2001:db8:2::1\", port = 80 }]\n",
        line: 9,
        column: 25,
        key: "service[0].backends[0].address",
        says: "backend 2001:db8:2::1 is IPv6 but the VIP 198.18.1.1 is IPv4",
    },
    Case {
        name: "an IPv6 tunnel-mode service with an IPv4 tunnel source",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[service]]\nname = \"web6\"\n\
               vip = \"2001:db8:1::1\"\nport = 80\nprotocol = \"tcp\"\nmode = \"tunnel\"\n\
               tunnel_source = \"198.18.2.254\"\nbackends = [{ address = \"2001:db8:2::1\" }]\n",
        line: 10,
        column: 17,
        key: "service[0].tunnel_source",
        says: "RFC 2473",
    },
    Case {
        name: "an IPv6 fullnat service with an IPv4 pool",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[snat.pool]]\nname = \"p4\"\n\
               addresses = [\"198.19.0.1\"]\n[[service]]\nname = \"web6\"\nvip = \"2001:db8:1::1\"\n\
               port = 80\nprotocol = \"tcp\"\nmode = \"fullnat\"\npool = \"p4\"\n\
               backends = [{ address = \"2001:db8:2::1\", port = 80 }]\n",
        line: 13,
        column: 8,
        key: "service[0].pool",
        says: "pool `p4` is IPv4 but the VIP 2001:db8:1::1 is IPv6",
    },
    Case {
        name: "an IPv4 fullnat service with an IPv6 pool",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[snat.pool]]\nname = \"p6\"\n\
               addresses = [\"2001:db8:9::1\"]\n[[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\n\
               port = 80\nprotocol = \"tcp\"\nmode = \"fullnat\"\npool = \"p6\"\n\
               backends = [{ address = \"198.18.2.1\", port = 80 }]\n",
        line: 13,
        column: 8,
        key: "service[0].pool",
        says: "NAT46, is not supported",
    },
    Case {
        name: "a pool of both families",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[snat.pool]]\nname = \"p\"\n\
               addresses = [\"2001:db8:9::1\", \"198.19.0.1\"]\n",
        line: 6,
        column: 31,
        key: "snat.pool[0].addresses[1]",
        says: "a pool is of one family",
    },
    Case {
        name: "an IPv6 pool serving GRE tunnels",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[gre.tunnel]]\nname = \"a\"\n\
               local = \"198.18.8.1\"\nremote = \"198.18.8.10\"\n[[snat.pool]]\nname = \"p6\"\n\
               addresses = [\"2001:db8:9::1\"]\ntunnels = [\"a\"]\n",
        line: 11,
        column: 11,
        key: "snat.pool[0].tunnels",
        says: "the SNAT gateway (GRE tunnels, inside prefixes) is IPv4 for now",
    },
    Case {
        name: "an IPv6 conntrack table out of range",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\nconntrack_v6_per_worker = 8\n",
        line: 4,
        column: 27,
        key: "dataplane.conntrack_v6_per_worker",
        says: "16 to 16777216",
    },
    Case {
        name: "a multicast IPv6 VIP",
        text: "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n[[service]]\nname = \"web6\"\n\
               vip = \"ff02::1\"\nport = 80\nprotocol = \"tcp\"\n\
               backends = [{ address = \"2001:db8:2::1\", port = 80 }]\n",
        line: 6,
        column: 7,
        key: "service[0].vip",
        says: "ff02::1 cannot be a VIP",
    },
];

#[test]
fn broken_configs_name_line_column_and_key() {
    let mut failures = Vec::new();
    for c in CASES {
        let errs = errors(c.text);
        let e = &errs.0[0];
        let shown = e.to_string();
        let ok = e.line == c.line
            && e.column == c.column
            && e.key == c.key
            && shown.contains(c.says)
            && shown.starts_with(&format!("t.toml:{}:{}: ", c.line, c.column));
        if !ok {
            failures.push(format!(
                "{}: expected {}:{} `{}` containing {:?}, got: {shown}",
                c.name, c.line, c.column, c.key, c.says
            ));
        }
        assert!(
            !shown.contains("Error {"),
            "{}: Debug dump in {shown}",
            c.name
        );
    }
    assert!(CASES.len() >= 15);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn validation_reports_every_problem() {
    let errs = errors("[daemon]\nstate_dir = \"x\"\n[control]\nsocket = \"y\"\n");
    assert_eq!(errs.0.len(), 2, "{errs}");
}

#[test]
fn empty_file_is_all_defaults() {
    let cfg = parse_str("", Path::new("t.toml")).unwrap();
    assert_eq!(cfg, Config::default());
    assert_eq!(cfg.control.socket, Path::new(daemon::DEFAULT_SOCKET));
}

#[test]
fn every_example_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = load_file(&path) {
                panic!("{e}");
            }
            n += 1;
        }
    }
    assert!(n > 0, "no examples found in {}", dir.display());
}

#[test]
fn unreadable_file_is_one_line() {
    let e = load_file(Path::new("/nonexistent/appliance.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/appliance.toml: cannot read file: No such file or directory (os error 2)"
    );
}

#[test]
fn only_regular_files_are_read() {
    let dir = std::env::temp_dir().join(format!("appliance-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.toml");
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    // A FIFO without a writer would block a reader forever; it is refused at once.
    for (path, says) in [
        (fifo.as_path(), "a FIFO"),
        (Path::new("/dev/zero"), "a character device"),
        (dir.as_path(), "a directory"),
    ] {
        let e = load_file(path).unwrap_err().to_string();
        assert!(e.contains("not a regular file") && e.contains(says), "{e}");
    }
    let big = dir.join("big.toml");
    std::fs::write(&big, vec![b'#'; (super::MAX_FILE_BYTES + 1) as usize]).unwrap();
    assert!(load_file(&big).unwrap_err().to_string().contains("at most"));
    std::fs::remove_dir_all(&dir).unwrap();
}
