//! Health checks of a real `applianced` against real servers in another namespace: a server
//! killed (RST), black-holed by nftables (timeout), slow, answering HTTP 500 or the wrong body,
//! TLS with a self-signed certificate, DNS SERVFAIL and a silent UDP service.
//!
//! Probes are counted from the daemon's own counters, never from wall-clock time: every check
//! here has a phase interval of one hour after its expected transition (`downinter` after going
//! down, `interval` after going up), so once the transition happened the counters stop and
//! must equal `fall` or `rise` exactly, however loaded the machine is.

use std::path::PathBuf;
use std::time::Duration;

use netns_tests::{require_tool, wait_for_log, wait_until, Appliance, Lab, Netns, Proc};
use serde_json::Value;

const LB: &str = "198.18.1.1";
const SRV: &str = "198.18.1.2";
const SRV6: &str = "2001:db8:1::2";

/// Small servers, one per process: `KIND PORT [MODE] [CERT KEY]`. Each prints "listening" once
/// it accepts, so the test never races its start.
const SERVERS_PY: &str = r#"
import socket, ssl, struct, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

kind, port = sys.argv[1], int(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "ok"

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if mode == "slow":
            time.sleep(3)
        code = 500 if mode == "500" else 200
        body = b"hello\n" if mode == "wrongbody" else b"healthy\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

class DualStack(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

def udp_socket():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    return s

if kind in ("http", "https"):
    srv = DualStack(("::", port), Handler)
    if kind == "https":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening", flush=True)
    srv.serve_forever()
elif kind == "udp-silent":
    s = udp_socket()
    print("listening", flush=True)
    while True:
        s.recvfrom(2048)
elif kind == "dns-servfail":
    s = udp_socket()
    print("listening", flush=True)
    while True:
        q, peer = s.recvfrom(2048)
        end = 12
        while q[end] != 0:
            end += q[end] + 1
        question = q[12:end + 5]
        flags = 0x8000 | (struct.unpack(">H", q[2:4])[0] & 0x0100) | 0x0080 | 2
        s.sendto(q[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + question, peer)
"#;

struct Setup {
    lab: Lab,
    lb: Netns,
    srv: Netns,
    script: PathBuf,
    python: String,
}

/// The daemon's namespace `lb` and the servers' `srv` on one veth, IPv4 and IPv6.
fn setup() -> Setup {
    let lab = Lab::for_current_test();
    let (lb, srv) = (lab.netns("lb"), lab.netns("srv"));
    lab.veth(&lb, "eth0", &srv, "eth0");
    lb.add_addr("eth0", &format!("{LB}/24"));
    lb.add_addr("eth0", "2001:db8:1::1/64");
    srv.add_addr("eth0", &format!("{SRV}/24"));
    srv.add_addr("eth0", &format!("{SRV6}/64"));
    let script = lab.write_artifact("servers.py", SERVERS_PY);
    // Debian's interpreter when present: a pyenv shim would read the caller's environment.
    let python = ["/usr/bin/python3"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(String::from)
        .unwrap_or_else(|| require_tool("python3").display().to_string());
    Setup {
        lab,
        lb,
        srv,
        script,
        python,
    }
}

impl Setup {
    fn server(&self, name: &str, args: &[&str]) -> Proc {
        let mut argv = vec![self.python.as_str(), self.script.to_str().unwrap()];
        argv.extend_from_slice(args);
        let p = self.srv.spawn(name, &argv);
        wait_for_log(&p, "listening", Duration::from_secs(10)).unwrap();
        p
    }

    fn daemon(&self, checks: &str) -> Appliance {
        let mut node = Appliance::new(&self.lab, &self.lb, "lb", checks);
        node.start();
        node
    }
}

/// A check that must go down: starts up, probes every 200 ms while up or in doubt, and after
/// going down not again for an hour.
fn down_check(name: &str, body: &str) -> String {
    format!(
        "[checks.{name}]\n{body}\ninterval = \"200ms\"\ntimeout = \"400ms\"\nfall = 2\n\
         initial = \"up\"\ndowninter = \"1h\"\n"
    )
}

/// A check that must come up: starts down, probes every 200 ms while in doubt, and once up not
/// again for an hour.
fn up_check(name: &str, body: &str) -> String {
    format!(
        "[checks.{name}]\n{body}\ninterval = \"1h\"\nfastinter = \"200ms\"\ntimeout = \"1s\"\n\
         rise = 2\ninitial = \"down\"\n"
    )
}

fn find(st: &Value, name: &str) -> Option<Value> {
    st["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .cloned()
}

fn check(st: &Value, name: &str) -> Value {
    find(st, name).unwrap_or_else(|| panic!("no check {name} in {st}"))
}

/// Waits until `name` is in `state`, then returns its status.
fn wait_state(node: &Appliance, name: &str, state: &str) -> Value {
    wait_until(
        &format!("check {name} {state}"),
        Duration::from_secs(30),
        Duration::from_millis(50),
        // A reload replaces a changed check: it may be missing for a moment.
        || find(&node.status(), name).is_some_and(|c| c["state"] == state),
    )
    .unwrap();
    check(&node.status(), name)
}

/// The check went down after exactly `fall` failures, and then stopped probing (downinter 1h).
fn assert_down_after(node: &Appliance, name: &str, fall: u64, error: &str) -> Value {
    let c = wait_state(node, name, "down");
    assert_eq!(c["counters"]["probes"], fall, "{c}");
    assert_eq!(c["counters"]["failures"], fall, "{c}");
    assert_eq!(c["consecutive_fail"], fall, "{c}");
    assert_eq!(c["counters"]["transitions"], 1, "{c}");
    let e = c["last_error"].as_str().unwrap_or_default();
    assert!(e.contains(error), "{name}: expected {error:?} in {c}");
    c
}

fn assert_up_after(node: &Appliance, name: &str, rise: u64) -> Value {
    let c = wait_state(node, name, "up");
    assert_eq!(c["counters"]["probes"], rise, "{c}");
    assert_eq!(c["consecutive_ok"], rise, "{c}");
    assert_eq!(c["counters"]["transitions"], 1, "{c}");
    c
}

fn events(node: &Appliance) -> Vec<Value> {
    let out = node.appctl(&["events", "--json"]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "appctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn killed_server_goes_down_after_fall_and_recovers_after_rise() {
    let s = setup();
    let mut server = s.server("web-server", &["http", "8080"]);
    // Phase 1, coming up: rise 2, then no probe for an hour.
    let timing_up = "interval = \"1h\"\nfastinter = \"200ms\"\ndowninter = \"1h\"\n";
    let cfg = |timing: &str| {
        format!(
            "[checks.web]\ntype = \"tcp\"\ntarget = \"{SRV}:8080\"\ntimeout = \"1s\"\n\
             rise = 2\nfall = 3\n{timing}"
        )
    };
    let node = s.daemon(&cfg(timing_up));
    assert_up_after(&node, "web", 2);

    // Phase 2: kill the server (its port now answers RST) and reload with 200 ms probes while
    // up. Only timing changed, so the check continues from up: down after exactly 3 failures.
    server.kill();
    node.write_config(&cfg(
        "interval = \"200ms\"\nfastinter = \"200ms\"\ndowninter = \"1h\"\n",
    ));
    stdout(&node.appctl(&["reload"]));
    let c = wait_state(&node, "web", "down");
    assert_eq!(c["counters"]["probes"], 3, "{c}");
    assert_eq!(c["consecutive_fail"], 3, "{c}");
    assert_eq!(
        c["counters"]["timeouts"], 0,
        "refused is not a timeout: {c}"
    );
    assert_eq!(c["last_error"], "connection refused", "{c}");
    let downs: Vec<Value> = events(&node)
        .into_iter()
        .filter(|e| e["kind"] == "check_down" && e["object"] == "web")
        .collect();
    assert_eq!(downs.len(), 1, "{downs:?}");
    assert_eq!(downs[0]["subsystem"], "health");
    assert!(
        downs[0]["message"]
            .as_str()
            .unwrap()
            .contains("3 consecutive failures, last: connection refused"),
        "{downs:?}"
    );

    // appctl health names state, counters and the error.
    let text = stdout(&node.appctl(&["health"]));
    for want in [
        "web (tcp 198.18.1.2:8080)",
        "state       down",
        "streak      0 ok, 3 failed  (rise 2, fall 3, every 200ms)",
        "counters    probes 3, ok 0, failed 3, timeouts 0, transitions 1",
        "last error  connection refused",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }

    // Phase 3: the server is back; probes while down every 200 ms: up after exactly 2.
    server = s.server("web-server", &["http", "8080"]);
    node.write_config(&cfg(timing_up).replace("downinter = \"1h\"", "downinter = \"200ms\""));
    stdout(&node.appctl(&["reload"]));
    let c = wait_state(&node, "web", "up");
    assert_eq!(c["counters"]["probes"], 2, "{c}");
    assert_eq!(c["consecutive_ok"], 2, "{c}");
    assert_eq!(c["last_error"], Value::Null, "a new runner forgets: {c}");

    // Operator override: down while the probes say up, then back to auto.
    let out = stdout(&node.appctl(&["health", "set", "web", "down"]));
    assert_eq!(out.trim(), "web: override down, state down (probes say up)");
    let c = check(&node.status(), "web");
    assert_eq!(
        (&c["state"], &c["health"], &c["override"]),
        (&"down".into(), &"up".into(), &"down".into())
    );
    assert!(stdout(&node.appctl(&["status"])).contains("override down (probes: up)"));
    // The override survives a reload that changes the check.
    node.write_config(&cfg(timing_up).replace("timeout = \"1s\"", "timeout = \"900ms\""));
    stdout(&node.appctl(&["reload"]));
    // The reload is applied by the health task after `appctl reload` returns.
    wait_until(
        "third check_changed event",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            events(&node)
                .iter()
                .filter(|e| e["kind"] == "check_changed")
                .count()
                == 3
        },
    )
    .unwrap();
    assert_eq!(check(&node.status(), "web")["override"], "down");
    assert_eq!(check(&node.status(), "web")["state"], "down");
    let out = stdout(&node.appctl(&["health", "set", "web", "auto"]));
    assert!(out.contains("override auto, state up"), "{out}");

    // An unknown name is an error with a hint, and exit status 1.
    let out = node.appctl(&["health", "set", "wbe", "down"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no health check named `wbe` (hint: did you mean `web`?)"),
        "{err}"
    );
    drop(server);
}

#[test]
fn blackholed_server_times_out() {
    let s = setup();
    require_tool("nft");
    let _server = s.server("web-server", &["http", "8080"]);
    s.srv.run_ok(&[
        "nft",
        "add table inet bh; add chain inet bh in { type filter hook input priority 0; }; \
         add rule inet bh in tcp dport 8080 drop",
    ]);
    let node = s.daemon(&down_check(
        "web",
        &format!("type = \"tcp\"\ntarget = \"{SRV}:8080\""),
    ));
    let c = assert_down_after(&node, "web", 2, "connect timed out after");
    assert_eq!(c["counters"]["timeouts"], 2, "{c}");
    assert_eq!(c["last_result"], "timeout", "{c}");
}

#[test]
fn failures_name_their_cause_and_good_servers_come_up() {
    let s = setup();
    let dir = s.lab.artifacts().to_path_buf();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    require_tool("openssl");
    s.lb.run_ok(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=backend.example.net",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let _servers = [
        s.server("ok", &["http", "8080"]),
        s.server("err500", &["http", "8081", "500"]),
        s.server("wrongbody", &["http", "8082", "wrongbody"]),
        s.server("slow", &["http", "8083", "slow"]),
        s.server("tls", &["https", "8443", "ok", cert, key]),
        s.server("dns", &["dns-servfail", "5353"]),
        s.server("udp", &["udp-silent", "5140"]),
    ];
    let http = |port: u16, extra: &str| {
        format!("type = \"http\"\ntarget = \"{SRV}:{port}\"\npath = \"/healthz\"\n{extra}")
    };
    let tls = |verify: bool| {
        format!(
            "type = \"https\"\ntarget = \"{SRV}:8443\"\nsni = \"backend.example.net\"\n\
             tls_verify = {verify}\nexpect_body = \"healthy\""
        )
    };
    let config = [
        up_check("web", &http(8080, "expect_body = \"healthy\"")),
        up_check(
            "web6",
            &format!("type = \"http\"\ntarget = \"[{SRV6}]:8080\"\nexpect_status = \"200\""),
        ),
        up_check("tls_noverify", &tls(false)),
        down_check("http500", &http(8081, "")),
        down_check("wrongbody", &http(8082, "expect_body = \"healthy\"")),
        down_check("slow", &http(8083, "")),
        down_check("tls_verify", &tls(true)),
        down_check(
            "dns",
            &format!("type = \"dns\"\ntarget = \"{SRV}:5353\"\nname = \"www.example.net\""),
        ),
        down_check(
            "udp",
            &format!("type = \"udp\"\ntarget = \"{SRV}:5140\"\npayload = \"ping\""),
        ),
    ]
    .join("\n");
    let node = s.daemon(&config);

    for name in ["web", "web6", "tls_noverify"] {
        assert_up_after(&node, name, 2);
    }
    assert_down_after(&node, "http500", 2, "HTTP 500");
    assert_down_after(&node, "wrongbody", 2, "body mismatch");
    let slow = assert_down_after(&node, "slow", 2, "timed out after");
    assert_eq!(slow["counters"]["timeouts"], 2, "{slow}");
    assert_down_after(&node, "tls_verify", 2, "certificate");
    assert_down_after(&node, "dns", 2, "SERVFAIL");
    let udp = assert_down_after(&node, "udp", 2, "timed out");
    assert_eq!(udp["counters"]["timeouts"], 2, "{udp}");

    // The compact status view lists every check with its state.
    let text = stdout(&node.appctl(&["status"]));
    assert!(
        text.contains("http500      http  198.18.1.2:8081          DOWN"),
        "{text}"
    );
    assert!(
        text.contains("web6         http  [2001:db8:1::2]:8080     UP"),
        "{text}"
    );
}

/// `handshake = "half-open"` against real servers: up over IPv4 and IPv6 (the server never
/// accepts a connection from it), refused once the server is killed, timed out when nftables
/// black-holes the port, each after exactly `rise` / `fall` probes.
#[test]
fn half_open_tcp_checks_follow_real_servers() {
    let s = setup();
    require_tool("nft");
    // Counts the connections it accepts: a half-open probe must never complete one.
    let counting = s.lab.write_artifact(
        "count.py",
        "import socket, sys\n\
         s = socket.socket(socket.AF_INET6)\n\
         s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n\
         s.bind(('::', int(sys.argv[1])))\n\
         s.listen(64)\n\
         print('listening', flush=True)\n\
         while True:\n    c, peer = s.accept()\n    print('accepted', peer, flush=True)\n    c.close()\n",
    );
    let spawn = |name: &str, port: &str| {
        let p = s
            .srv
            .spawn(name, &[s.python.as_str(), counting.to_str().unwrap(), port]);
        wait_for_log(&p, "listening", Duration::from_secs(10)).unwrap();
        p
    };
    let web = spawn("web", "8080");
    let _dark = spawn("dark", "8081");
    let victim = spawn("victim", "8082");
    s.srv.run_ok(&[
        "nft",
        "add table inet bh; add chain inet bh in { type filter hook input priority 0; }; \
         add rule inet bh in tcp dport 8081 drop",
    ]);
    let half = "handshake = \"half-open\"";
    let checks = [
        up_check(
            "v4",
            &format!("type = \"tcp\"\ntarget = \"{SRV}:8080\"\n{half}"),
        ),
        up_check(
            "v6",
            &format!("type = \"tcp\"\ntarget = \"[{SRV6}]:8080\"\n{half}"),
        ),
        down_check(
            "dark",
            &format!("type = \"tcp\"\ntarget = \"{SRV}:8081\"\n{half}"),
        ),
        down_check(
            "killed",
            &format!("type = \"tcp\"\ntarget = \"{SRV}:8082\"\n{half}"),
        ),
    ]
    .concat();
    let node = s.daemon(&checks);
    assert_up_after(&node, "v4", 2);
    assert_up_after(&node, "v6", 2);
    let c = assert_down_after(&node, "dark", 2, "SYN-ACK timed out after");
    assert_eq!(c["counters"]["timeouts"], 2, "{c}");
    assert!(
        !web.log().contains("accepted"),
        "a half-open probe completed a connection:\n{}",
        web.log()
    );

    // A server dies: its kernel answers with RST, the check goes down after `fall`.
    assert!(!victim.log().contains("accepted"), "{}", victim.log());
    victim.kill();
    let c = wait_state(&node, "killed", "down");
    assert_eq!(c["consecutive_fail"], 2, "{c}");
    assert_eq!(c["counters"]["transitions"], 1, "{c}");
    assert_eq!(c["last_error"], "connection refused", "{c}");
}
