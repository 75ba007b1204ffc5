//! The XDP steering program's cost per frame, run in the kernel with `BPF_PROG_TEST_RUN`
//! (10^6 runs each), for a frame it steers to a socket (owned: the web service's SYN) and for a
//! frame it passes to the kernel (another port of the VIP), then the same two over IPv6 (the
//! IPv6 fixture's web service; passed: a port of the host's own address). The figure includes
//! the test-run harness's own per-run overhead. Root only.
//!
//! `steering-bench [--cpu N]`; `--cpu N` pins the benchmark to CPU N.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;

use appliance::dataplaned::spec::owned_keys_v6;
use appliance::dataplaned::xdp::steer::{OwnedKey, OwnedMap, Program, Unbound};
use dataplane::frames;
use dataplane::testkit::l2;
use dataplane::testkit::v6::{a6, eth6, spec6, tcp6, CLIENT, VIP as VIP6};
use dataplane::testkit::web::{backend, client, client_frame, to_frame, VIP};
use dataplane::wire::tcp::flags::SYN;

/// One of the host's own addresses, as the daemon registers them.
const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

/// ns per run of the steering program for a frame it steers and one it passes, IPv4 then IPv6.
fn steering_cost() -> Result<[u32; 4], String> {
    let mut owned = OwnedMap::create().map_err(|e| e.to_string())?;
    let keys = [
        OwnedKey::service(VIP, 80, 6),
        OwnedKey::backend(backend(0), 8080, 6),
        OwnedKey::local(LOCAL),
    ]
    .into();
    owned.set_keys(&keys).map_err(|e| e.to_string())?;
    owned
        .set_keys_v6(&owned_keys_v6(&spec6(2)))
        .map_err(|e| e.to_string())?;
    let prog = Program::load_with(&owned, 1, Unbound::Drop).map_err(|e| e.to_string())?;
    let owned_frame = client_frame(0, SYN);
    let passed_frame = to_frame(frames::ethernet(
        l2(1, 2),
        &frames::tcp_segment(client(0), SocketAddrV4::new(VIP, 22), SYN, b""),
    ));
    let run = |f: &[u8]| {
        prog.test_run(f, 1_000_000)
            .map(|r| r.1)
            .map_err(|e| e.to_string())
    };
    let (client6, vip6) = (a6(CLIENT), a6(VIP6));
    let owned6 = eth6(l2(1, 2), &tcp6(client6, 40000, vip6, 80, SYN));
    let passed6 = eth6(
        l2(1, 2),
        &tcp6(client6, 40000, a6("2001:db8:2::1"), 22, SYN),
    );
    Ok([
        run(&owned_frame)?,
        run(&passed_frame)?,
        run(&owned6)?,
        run(&passed6)?,
    ])
}

const USAGE: &str = "usage: steering-bench [--cpu N]\n\nThe XDP steering program's cost per frame (BPF_PROG_TEST_RUN; root).";

fn main() -> ExitCode {
    bench::help_or_continue(USAGE);
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--cpu") {
        let cpu = args
            .get(i + 1)
            .and_then(|c| c.parse().ok())
            .expect("--cpu N");
        if let Err(e) = lab::cpustat::pin(std::process::id(), cpu) {
            eprintln!("cannot pin to CPU {cpu}: {e}");
        }
    }
    match steering_cost() {
        Ok([owned, passed, owned6, passed6]) => {
            println!(
                "steering program (BPF_PROG_TEST_RUN, 10^6 runs): owned frame {owned} ns, passed frame {passed} ns; IPv6: owned frame {owned6} ns, passed frame {passed6} ns"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("steering program: cannot run it: {e}");
            ExitCode::FAILURE
        }
    }
}
