//! A direct-server-return backend: the VIP on `lo`, ARP for it suppressed, reverse-path
//! filtering off, replies straight to the router (its default route), and a TCP echo server.
//! In tunnel mode, the IP-in-IP decapsulation of [`super::decap`] on its interface.
//!
//! What each setting is for (the same list is in docs/operations.md for real backends):
//! - the VIP on `lo` (a /32): the kernel accepts packets to the VIP (DR: only the MAC was
//!   rewritten; tunnel: the inner destination) and replies from it;
//! - `arp_ignore = 1`: answer ARP only for addresses of the interface asked on, so the backend
//!   never claims the VIP on the shared segment (the nodes' ARP, or the router's on a flat LAN,
//!   must never reach a backend for it);
//! - `arp_announce = 2`: never use the VIP as the source of its own ARP requests;
//! - `rp_filter = 0`: packets to the VIP come in from the nodes while the route back to the
//!   client is the router; decapsulated packets arrive on an interface that is not a tunnel's.

use std::net::Ipv4Addr;
use std::time::Duration;

use lab::{wait_for_log, Lab, Netns, Proc};

use super::decap;

/// asyncio echo server: every byte read is written back; one task per connection, so 1,000
/// long-lived connections cost nothing while idle.
const ECHO_PY: &str = r#"import asyncio, sys

async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(echo, "0.0.0.0", int(sys.argv[1]), backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"#;

pub struct Backend {
    pub name: String,
    pub ns: Netns,
    pub addr: Ipv4Addr,
    pub echo: Proc,
    /// `native` or `generic` when the decapsulation is attached (tunnel mode).
    pub decap: Option<&'static str>,
}

/// What every backend shares: the service and the router its replies go to.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    pub vip: Ipv4Addr,
    pub port: u16,
    pub router: Ipv4Addr,
}

/// Prepares `ns` (already on the LAN as `eth0` with address `addr`) as a DSR backend of the
/// service and starts its echo server; `decapsulate` attaches the IP-in-IP decapsulation.
pub fn start(
    lab: &Lab,
    ns: &Netns,
    name: &str,
    addr: Ipv4Addr,
    svc: Service,
    decapsulate: bool,
) -> Backend {
    let Service { vip, port, router } = svc;
    ns.add_addr("lo", &format!("{vip}/32"));
    for (key, value) in [
        ("net.ipv4.conf.all.arp_ignore", "1"),
        ("net.ipv4.conf.eth0.arp_ignore", "1"),
        ("net.ipv4.conf.all.arp_announce", "2"),
        ("net.ipv4.conf.eth0.arp_announce", "2"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv4.conf.eth0.rp_filter", "0"),
        ("net.ipv4.conf.lo.rp_filter", "0"),
    ] {
        ns.sysctl(key, value);
    }
    // Replies go to the router directly: this is what makes it direct server return.
    ns.add_route(&format!("default via {router}"));
    // In fullnat mode the replies go into a node's fast path, which needs whole checksums.
    lab::peers::full_checksums(ns, "eth0");
    let decap = decapsulate.then(|| {
        decap::attach(ns.name(), "eth0")
            .unwrap_or_else(|e| panic!("{name}: IP-in-IP decapsulation: {e}"))
    });
    let script = lab.write_artifact("echo.py", ECHO_PY);
    let echo = ns.spawn(
        &format!("echo-{name}"),
        &[
            "python3",
            "-u",
            script.to_str().expect("UTF-8 path"),
            &port.to_string(),
        ],
    );
    wait_for_log(&echo, "ready", Duration::from_secs(10)).expect("echo server starts");
    Backend {
        name: name.to_string(),
        ns: ns.clone(),
        addr,
        echo,
        decap,
    }
}
