//! Test tool: attaches the steering program to one interface, opens an AF_XDP socket on each of
//! its queues, and logs every frame that reaches a socket (`rx q=.. proto src -> dst`), until
//! SIGTERM, when it detaches and says `detached`. The ledger in `--state` records the attachment
//! like the daemon's, so a killed probe leaves an entry the daemon's sweep removes.
//!
//! ```text
//! xdp-probe --iface eth0 --state DIR [--queues N] [--generic]
//!           [--service VIP:PORT/tcp|udp|icmp]... [--backend ADDR:PORT/PROTO]... [--local ADDR]...
//! ```

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use appliance::dataplaned::xdp::attach;
use appliance::dataplaned::xdp::steer::{OwnedKey, OwnedMap, Program};
use appliance::dataplaned::xdp::xsk::{wait_readable, RxFrame, Xsk, XskConfig};
use appliance::kernel::{Ledger, Netlink};
use dataplane::wire::{proto, EthernetFrame, Ipv4Packet};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn endpoint(s: &str) -> (Ipv4Addr, u16, u8) {
    let (addr, p) = s.rsplit_once('/').expect("ADDR:PORT/PROTO");
    let proto = match p {
        "tcp" => proto::TCP,
        "udp" => proto::UDP,
        "icmp" => proto::ICMP,
        other => panic!("unknown protocol {other}"),
    };
    let sa: SocketAddrV4 = addr.parse().expect("ADDR:PORT");
    (*sa.ip(), sa.port(), proto)
}

fn describe(frame: &[u8]) -> String {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return "short frame".into();
    };
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return format!("ethertype {:?}", eth.ethertype());
    };
    let l4 = ip.payload();
    let ports = if l4.len() >= 4 && matches!(ip.protocol(), proto::TCP | proto::UDP) {
        (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        )
    } else {
        (0, 0)
    };
    let name = match ip.protocol() {
        proto::TCP => "tcp",
        proto::UDP => "udp",
        proto::ICMP => "icmp",
        _ => "other",
    };
    format!(
        "{name} {}:{} -> {}:{}",
        ip.src(),
        ports.0,
        ip.dst(),
        ports.1
    )
}

const USAGE: &str = "usage: xdp-probe --iface IFACE --state DIR [--queues N] [--generic] [--service VIP:PORT/PROTO]... [--backend ADDR:PORT/PROTO]... [--local ADDR]...\n\nThe XDP integration test's diagnostic (root).";

fn main() {
    bench::help_or_continue(USAGE);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| -> Vec<String> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].clone())
            .collect()
    };
    let iface = value("--iface").pop().expect("--iface");
    let state = value("--state").pop().expect("--state");
    let queues: u32 = value("--queues")
        .pop()
        .map_or(1, |q| q.parse().expect("--queues N"));
    let generic = args.iter().any(|a| a == "--generic");
    let mut keys = BTreeSet::new();
    for s in value("--service") {
        let (a, p, pr) = endpoint(&s);
        keys.insert(OwnedKey::service(a, p, pr));
    }
    for s in value("--backend") {
        let (a, p, pr) = endpoint(&s);
        keys.insert(OwnedKey::backend(a, p, pr));
    }
    for s in value("--local") {
        keys.insert(OwnedKey::local(s.parse().expect("--local ADDR")));
    }

    let handler = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &handler) }.expect("install signal handler");
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (nl, ledger) = rt.block_on(async {
        let nl = Netlink::connect().expect("netlink");
        let (ledger, _) = Ledger::open(std::path::Path::new(&state)).expect("ledger");
        (nl, ledger)
    });
    let ifindex = rt
        .block_on(nl.link_index(&iface))
        .expect("interface exists");

    let mut owned = OwnedMap::create().unwrap_or_else(|e| panic!("{e}"));
    owned.set_keys(&keys).expect("owned keys");
    let steering = Program::load(&owned, queues).unwrap_or_else(|e| panic!("{e}"));
    let mut sockets: Vec<Xsk> = (0..queues)
        .map(|q| {
            let x = Xsk::open(ifindex, q, XskConfig::default()).unwrap_or_else(|e| panic!("{e}"));
            steering.set_socket(q, x.fd()).expect("xskmap");
            x
        })
        .collect();
    let mode = rt
        .block_on(attach::attach(&nl, &ledger, &iface, steering.fd(), generic))
        .unwrap_or_else(|e| panic!("{e}"));
    println!("attached {mode:?} with {} keys", keys.len());
    println!("ready");

    let fds: Vec<i32> = sockets.iter().map(|s| s.fd()).collect();
    let mut batch = [RxFrame { addr: 0, len: 0 }; 64];
    while !STOP.load(Ordering::Relaxed) {
        let mut got = 0;
        for (q, x) in sockets.iter_mut().enumerate() {
            let n = x.receive(&mut batch);
            for f in &batch[..n] {
                let d = describe(x.frame_mut(f.addr, f.len));
                println!("rx q={q} {d}");
                x.recycle(f.addr);
            }
            x.refill(64);
            got += n;
        }
        if got == 0 {
            wait_readable(&fds, 50);
        }
    }
    let total_dropped: u64 = sockets
        .iter()
        .filter_map(|s| s.stats().ok())
        .map(|s| s.rx_dropped)
        .sum();
    rt.block_on(attach::detach(&nl, &ledger, &iface))
        .expect("detach");
    drop(sockets);
    println!("detached (rx_dropped {total_dropped})");
    std::thread::sleep(Duration::from_millis(10));
}
