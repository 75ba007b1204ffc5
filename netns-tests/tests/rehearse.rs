//! `applianced drill` rehearsing an HA pair (issue 18): with no file (the built-in example
//! pair), with the example pair's two files, and with one file (the second node derived);
//! the JSON has every scenario's figures (through the services and through the SNAT gateway)
//! and timeline; a healthy pair loses nothing to a bad reload and at most what its checks allow
//! to a backend failure; the timeline opens in a real
//! browser (headless Chromium) and shows the VRRP states' colours; files the drill cannot
//! rehearse are refused with one line per reason; nothing of a rehearsal remains. The gateway
//! pair's GRE site is built and its traffic reported; its https and dns checks are served.
//!
//! The rehearsals run one at a time (a lock): two on this machine's two cores at once would
//! time each other's load.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn example(name: &str) -> String {
    netns_tests::workspace_root()
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

/// A fresh output directory for one test, removed by the test when it passes.
fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rehearse-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

struct Ran {
    status: i32,
    json: Value,
    stderr: String,
}

/// `applianced drill ARGS --json --out OUT`; checks that no namespace of it remains.
fn drill(args: &[&str], out: &Path) -> Ran {
    netns_tests::require_root();
    let child = Command::new(netns_tests::bin_path("applianced"))
        .arg("drill")
        .args(args)
        .arg("--json")
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run applianced drill");
    let pid = child.id();
    let o = child.wait_with_output().expect("applianced drill output");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let left: Vec<String> = netns_tests::list_netns()
        .into_iter()
        .filter(|n| netns_tests::owner_pid(n) == Some(pid))
        .collect();
    assert!(left.is_empty(), "namespaces of the drill left: {left:?}");
    let json = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    Ran {
        status: o.status.code().unwrap_or(-1),
        json,
        stderr,
    }
}

fn scenario<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["scenarios"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no scenario {name} in {r:#}"))
}

/// The fields every scenario must have, and what a healthy pair does.
fn assert_healthy_rehearsal(r: &Value, names: &[&str]) {
    assert_eq!(r["ok"], true, "problems: {:#}", r["problems"]);
    for &n in names {
        let s = scenario(r, n);
        for key in [
            "failover_ms",
            "requests_failed",
            "connections_broken",
            "svg",
        ] {
            assert!(s.get(key).is_some(), "{n}: no {key} in {s:#}");
        }
        assert!(s["requests_failed"].is_u64(), "{s:#}");
        assert!(s["connections_broken"].is_u64(), "{s:#}");
        assert!(
            s["requests"].as_u64().unwrap() > 0,
            "{n}: no traffic: {s:#}"
        );
        // The office's traffic through the SNAT gateway, counted apart.
        let snat = &s["snat"];
        assert!(snat["requests"].as_u64().unwrap() > 0, "{n}: {s:#}");
        assert!(snat["connections_broken"].is_u64(), "{n}: {s:#}");
        let svg = s["svg"].as_str().expect("an SVG path");
        assert!(Path::new(svg).is_file(), "{svg}");
        if ["crash", "graceful", "link-down"].contains(&n) {
            let f = s["failover_ms"].as_f64().expect("a failover time");
            let rfc = s["rfc_ms"].as_f64().expect("the RFC's time");
            // The backup takes over after the RFC's interval, within a few scheduling delays.
            assert!(
                f > rfc * 0.5 && f < rfc + 250.0,
                "{n}: {f} ms, RFC {rfc} ms"
            );
            assert_ne!(s["master_after"], s["master_before"], "{s:#}");
        } else {
            assert!(s["failover_ms"].is_null(), "{s:#}");
            assert_eq!(s["master_after"], s["master_before"], "{s:#}");
        }
    }
    // A refused reload costs nothing.
    if names.contains(&"bad-reload") {
        let s = scenario(r, "bad-reload");
        assert!(s["requests_failed"].as_u64().unwrap() <= 2, "{s:#}");
        assert_eq!(s["connections_broken"], 0, "{s:#}");
        assert!(s["snat"]["requests_failed"].as_u64().unwrap() <= 2, "{s:#}");
        assert_eq!(s["snat"]["connections_broken"], 0, "{s:#}");
        assert!(
            s["detail"]
                .as_str()
                .unwrap()
                .contains("unknown key `priorty`"),
            "{s:#}"
        );
    }
    // A backend failing costs at most what reaches it before its check says down: fall (2) x
    // interval (200 ms) x the requests per second (200 HTTP + 100 UDP).
    if names.contains(&"backend-fail") {
        let s = scenario(r, "backend-fail");
        let failed = s["requests_failed"].as_u64().unwrap();
        assert!(failed <= 2 * 200 * 300 / 1000, "{failed}: {s:#}");
        // The office's traffic does not pass the backends.
        assert!(s["snat"]["requests_failed"].as_u64().unwrap() <= 2, "{s:#}");
        assert_eq!(s["snat"]["connections_broken"], 0, "{s:#}");
    }
    // The router's route moves with the master.
    if names.contains(&"crash") {
        let s = scenario(r, "crash");
        assert!(s["route_convergence_ms"].as_f64().is_some(), "{s:#}");
    }
}

const ALL: [&str; 6] = [
    "crash",
    "graceful",
    "link-down",
    "backend-fail",
    "bgp-peer-lost",
    "bad-reload",
];

#[test]
fn no_file_rehearses_the_builtin_pair_and_the_timeline_opens_in_a_browser() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = out_dir("builtin");
    let r = drill(&[], &out);
    assert_eq!(r.status, 0, "{}\n{:#}", r.stderr, r.json);
    assert_healthy_rehearsal(&r.json, &ALL);
    assert_eq!(
        r.json["nodes"][0]["config"],
        "built-in examples/ha-pair-a.toml"
    );
    let svg = scenario(&r.json, "crash")["svg"]
        .as_str()
        .unwrap()
        .to_string();
    check_svg(Path::new(&svg));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_example_pair_files_rehearse() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = out_dir("files");
    let (a, b) = (example("ha-pair-a.toml"), example("ha-pair-b.toml"));
    let r = drill(&[&a, &b], &out);
    assert_eq!(r.status, 0, "{}\n{:#}", r.stderr, r.json);
    assert_healthy_rehearsal(&r.json, &ALL);
    assert_eq!(r.json["nodes"][1]["config"], b);
    let _ = std::fs::remove_dir_all(&out);
}

/// The gateway pair: a GRE site built at the tunnel's remote end (a third appliance with the
/// site end of the tunnel, and a user behind it) whose traffic leaves through the pair's SNAT
/// pool; with session sync, a graceful failover breaks none of its connections. Its https and
/// dns checks are served and come up (the rehearsal is ok only with every check up).
#[test]
fn the_gateway_pair_rehearses_its_gre_site_and_checks() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = out_dir("gateway");
    let (a, b) = (
        example("gateway-pair-a.toml"),
        example("gateway-pair-b.toml"),
    );
    let r = drill(&[&a, &b, "--scenario", "graceful"], &out);
    assert_eq!(r.status, 0, "{}\n{:#}", r.stderr, r.json);
    assert_healthy_rehearsal(&r.json, &["graceful"]);
    let s = scenario(&r.json, "graceful");
    assert_eq!(s["connections_broken"], 0, "{s:#}");
    let sites: Vec<&Value> = s["snat"]["by_origin"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["from"].as_str().unwrap().starts_with("site branch 198."))
        .collect();
    assert_eq!(sites.len(), 1, "{s:#}");
    let site = sites[0];
    assert!(site["requests"].as_u64().unwrap() > 0, "{site:#}");
    assert!(site["connections"].as_u64().unwrap() > 0, "{site:#}");
    assert_eq!(site["connections_broken"], 0, "{site:#}");
    // The text report says it per site, like the SNAT user's line.
    let text = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(
        text.contains("GRE site     g1   tunnel branch (198.18.40.30 to 198.18.40.10)"),
        "{text}"
    );
    // web1's https check is served over TLS with the drill's certificate, verified for its
    // `sni` against the drill's CA: it comes up (the rehearsal is ok only with every check up).
    assert!(
        text.contains("backend      b1   198.18.42.11 on eth1, serving tcp/8080 https/8443"),
        "{text}"
    );
    assert!(
        text.contains("checks.web1: verified against the drill's own CA"),
        "{text}"
    );
    // The resolver check's target is a DNS responder answering its question.
    assert!(
        text.contains("check target t1   198.18.42.53 on eth1, serving dns/53"),
        "{text}"
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("graceful: through the SNAT gateway from site branch ")
                && l.ends_with(&format!(
                    "requests failed, 0/{} connections broken",
                    site["connections"]
                ))
        ),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn one_file_derives_the_second_node() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = out_dir("derived");
    let a = example("ha-pair-a.toml");
    let r = drill(
        &[&a, "--scenario", "crash", "--scenario", "bad-reload"],
        &out,
    );
    assert_eq!(r.status, 0, "{}\n{:#}", r.stderr, r.json);
    assert_healthy_rehearsal(&r.json, &["crash", "bad-reload"]);
    assert_eq!(r.json["scenarios"].as_array().unwrap().len(), 2);
    let b = &r.json["nodes"][1];
    assert_eq!(b["name"], "lb2");
    assert!(
        b["config"].as_str().unwrap().starts_with("derived from"),
        "{b:#}"
    );
    let derived: Vec<&str> = b["derived"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        derived.contains(&"interfaces.eth0: 198.18.0.2 -> 198.18.0.3"),
        "{derived:?}"
    );
    assert!(derived.contains(&"vrrp.instance front: priority 200 -> 100"));
    // The derived file is in the output directory for the operator to read.
    let text = std::fs::read_to_string(out.join("lb2.toml")).unwrap();
    assert!(
        text.starts_with("# Derived by `applianced drill`"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn refuses_files_it_cannot_rehearse_with_one_line_each() {
    let out = out_dir("refused");
    std::fs::create_dir_all(&out).unwrap();
    let base = std::fs::read_to_string(example("ha-pair-a.toml")).unwrap();
    // A backend on no segment, a check of an address outside the test ranges, a GRE tunnel no
    // pool lists (nothing leaves through it).
    let bad = base
        .replace("198.18.2.12\", port = 8080", "198.18.9.12\", port = 8080")
        .replace(
            "target = \"198.18.2.12:8080\"",
            "target = \"192.0.2.12:8080\"",
        )
        + "\n[[gre.tunnel]]\nname = \"site\"\nlocal = \"198.18.0.2\"\nremote = \"198.18.0.99\"\n";
    let path = out.join("bad.toml");
    std::fs::write(&path, bad).unwrap();
    let o = Command::new(netns_tests::bin_path("applianced"))
        .args(["drill", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(o.stdout.is_empty(), "nothing on stdout: {:?}", o.stdout);
    let lines: Vec<&str> = stderr.lines().collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(
        has("backend 198.18.9.12: 198.18.9.12 is on no segment"),
        "{stderr}"
    );
    assert!(
        has("checks.web2.target: 192.0.2.12 is outside what the drill emulates"),
        "{stderr}"
    );
    assert!(
        has("gre.tunnel \"site\": no [[snat.pool]] lists the tunnel"),
        "{stderr}"
    );
    // Each reason once, naming both the file and its derived second node.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("no [[snat.pool]]"))
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        lines.last().unwrap().contains("cannot rehearse this pair"),
        "{stderr}"
    );
    // A file that does not parse: the configuration's own message, file:line:column.
    let broken = out.join("broken.toml");
    std::fs::write(&broken, "[daemon\n").unwrap();
    let o = Command::new(netns_tests::bin_path("applianced"))
        .args(["drill", broken.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.toml:1:"), "{stderr}");
    let _ = std::fs::remove_dir_all(&out);
}

/// Parses `svg` as XML (python3's parser) and opens it in headless Chromium: the screenshot
/// must not be blank and must show the master's and the backup's colours in bands, the
/// stopped daemon's, and the failed requests' red.
fn check_svg(svg: &Path) {
    let text = std::fs::read_to_string(svg).unwrap();
    assert!(
        !text.contains("<script") && !text.contains("href="),
        "not self-contained"
    );
    let xml = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E\n\
             r = E.parse(sys.argv[1]).getroot()\n\
             assert r.tag == '{http://www.w3.org/2000/svg}svg', r.tag\n\
             print(sum(1 for _ in r.iter()))",
            svg.to_str().unwrap(),
        ])
        .output()
        .expect("python3 (apt-get install python3)");
    assert!(
        xml.status.success(),
        "not well-formed XML: {}",
        String::from_utf8_lossy(&xml.stderr)
    );
    let elements: usize = String::from_utf8_lossy(&xml.stdout).trim().parse().unwrap();
    assert!(elements > 100, "{elements} elements");

    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find_map(netns_tests::find_tool)
        .expect("headless Chromium is needed to check the timeline: apt-get install chromium");
    let png = svg.with_extension("png");
    let shot = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,720",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .output()
        .expect("run chromium");
    assert!(
        png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let counts = colours(&png);
    let total: u64 = counts.values().sum();
    let of = |hex: &str| {
        counts
            .get(hex.trim_start_matches('#'))
            .copied()
            .unwrap_or(0)
    };
    let white = of("#ffffff");
    assert!(total >= 1280 * 600, "{total} pixels");
    assert!(white < total * 9 / 10, "blank: {white} of {total} white");
    use appliance::drill::rehearse::svg::{BACKUP, DOWN, FAILED, MASTER};
    // The bands: 4 (two nodes, two instances) of 22 px over the plot's width, the states
    // sharing it; each state covers a good part of one band at least.
    for (name, c) in [("master", MASTER), ("backup", BACKUP), ("down", DOWN)] {
        assert!(of(c) > 5_000, "{name} ({c}): {} pixels: {counts:?}", of(c));
    }
    assert!(of(FAILED) > 50, "failed ({FAILED}): {} pixels", of(FAILED));
}

/// Pixel counts by colour (`rrggbb`) of an 8-bit RGB or RGBA PNG, decoded by python3's zlib.
fn colours(png: &Path) -> std::collections::BTreeMap<String, u64> {
    const DECODE: &str = r#"
import sys, zlib, struct, json
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    n, = struct.unpack('>I', data[pos:pos + 4])
    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
    elif kind == b'IDAT':
        idat += body
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride, prev, i, counts = zlib.decompress(idat), w * bpp, bytearray(w * bpp), 0, {}
for y in range(h):
    f = raw[i]; i += 1
    line = bytearray(raw[i:i + stride]); i += stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        k = line[x:x + 3].hex()
        counts[k] = counts.get(k, 0) + 1
    prev = line
print(json.dumps(counts))
"#;
    let o = Command::new("python3")
        .args(["-c", DECODE, png.to_str().unwrap()])
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "PNG decode: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("pixel counts")
}
