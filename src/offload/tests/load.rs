//! Loading and the maps' control side: without kernel BTF, the flow table's size chosen at
//! load time, the device map and XDP_REDIRECT, the hand-over to the next program.

mod common;

use std::process::Command;

use common::*;
use dataplane::wire::proto;
use xdp_offload::{action, LoadOptions, OffloadError, Stat};

fn flow() -> Rewrite {
    Rewrite {
        proto: proto::UDP,
        echo_request: true,
        src: CLIENT,
        dst: VIP,
        sport: 40000,
        dport: 53,
        ttl: 64,
        new_src: CLIENT,
        new_dst: BACKEND,
        new_sport: 40000,
        new_dport: 53,
    }
}

#[test]
fn loads_without_kernel_btf() {
    let Some(mut o) = load_with(LoadOptions {
        kernel_btf: false,
        ..LoadOptions::default()
    }) else {
        return;
    };
    let r = flow();
    o.insert(&r.key().bytes(), &r.action(LO).bytes()).unwrap();
    let run = o.test_run(&frame_in(&r.packet(b"x")), LO).unwrap();
    assert_eq!(run.retval, action::TX);
}

#[test]
fn the_flow_table_has_the_size_asked_for() {
    let Some(mut o) = load_with(LoadOptions {
        max_flows: 4,
        ..LoadOptions::default()
    }) else {
        return;
    };
    assert_eq!(o.max_flows(), 4);
    let key = |port: u16| Key::plain(proto::UDP, CLIENT, port, VIP, 53).bytes();
    let value = flow().action(LO).bytes();
    for port in 1..=4 {
        o.insert(&key(port), &value).unwrap();
    }
    // Replacing an entry of a full table works; a fifth does not fit.
    o.insert(&key(4), &value).unwrap();
    let err = o.insert(&key(5), &value).unwrap_err();
    assert!(
        matches!(
            err,
            OffloadError::Map {
                map: "ol_flows",
                ..
            }
        ),
        "{err}"
    );
    let mut keys: Vec<u8> = o.entries().map(|e| e.unwrap().0[9]).collect();
    keys.sort();
    assert_eq!(keys, [1, 2, 3, 4]);
}

#[test]
fn lo_is_a_port_and_removing_ports_is_idempotent() {
    let Some(mut o) = load() else { return };
    o.add_port(LO)
        .expect("the kernel takes lo into a DEVMAP_HASH");
    o.remove_port(LO).unwrap();
    o.remove_port(LO).unwrap();
    o.clear_next(LO).unwrap();
}

#[test]
fn the_next_program_gets_every_punted_packet() {
    // A second instance of the program stands in for the steering program: what the first
    // hands on shows up in the second's stats (and ends in its own empty `ol_next`).
    let Some(mut first) = load() else { return };
    let Some(second) = load() else { return };
    first.set_next(LO, second.prog_fd().unwrap()).unwrap();
    let syn = frame_in(&tcp(CLIENT, 40000, VIP, 80, 0x02));
    assert_eq!(first.test_run(&syn, LO).unwrap().retval, action::PASS);
    assert_eq!(first.stats().unwrap()[Stat::TcpFlags as usize], 1);
    assert_eq!(second.stats().unwrap()[Stat::TcpFlags as usize], 1);
    // Without it, the packet goes no further.
    first.clear_next(LO).unwrap();
    assert_eq!(first.test_run(&syn, LO).unwrap().retval, action::PASS);
    assert_eq!(first.stats().unwrap()[Stat::TcpFlags as usize], 2);
    assert_eq!(second.stats().unwrap()[Stat::TcpFlags as usize], 1);
}

/// Runs `f` on a thread of its own in a network namespace of its own, which the kernel
/// removes with everything in it when the thread ends, however it ends.
fn in_private_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare(2) with CLONE_NEWNET only changes this thread's namespace.
            let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "unshare: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("the namespace's thread")
    })
}

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert_ne!(i, 0, "{name}: {}", std::io::Error::last_os_error());
    i
}

#[test]
fn another_egress_is_a_redirect_through_the_device_map() {
    in_private_netns(|| {
        // `ip` runs in this thread's namespace: a child inherits its parent thread's.
        let ok = Command::new("ip")
            .args(["link", "add", "ol0", "type", "veth", "peer", "name", "ol1"])
            .status()
            .expect("ip");
        assert!(ok.success(), "ip link add");
        let (ol0, ol1) = (ifindex("ol0"), ifindex("ol1"));
        let Some(mut o) = load() else { return };
        let r = flow();
        o.insert(&r.key().bytes(), &r.action(ol1).bytes()).unwrap();
        let frame = frame_in(&r.packet(b"x"));

        // Not a port yet: the worker's.
        assert_eq!(o.test_run(&frame, ol0).unwrap().retval, action::PASS);
        assert_eq!(o.stats().unwrap()[Stat::Miss as usize], 1);

        o.add_port(ol1).unwrap();
        let run = o.test_run(&frame, ol0).unwrap();
        assert_eq!(run.retval, action::REDIRECT);
        let mut want = frame_out(&r.expected(b"x"), false);
        want.resize(frame.len(), 0);
        assert_frame_eq(&run.frame, &want);

        // Arriving on the egress itself: sent back out.
        assert_eq!(o.test_run(&frame, ol1).unwrap().retval, action::TX);

        o.remove_port(ol1).unwrap();
        assert_eq!(o.test_run(&frame, ol0).unwrap().retval, action::PASS);
        assert_eq!(o.stats().unwrap()[Stat::Forwarded as usize], 2);
    });
}

/// Keeps only CAP_BPF and CAP_NET_ADMIN in this thread (capabilities are per thread; the
/// thread ends with the test). That is what the daemon's systemd unit leaves it for bpf(2).
fn keep_only_bpf_and_net_admin() {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_BPF: u32 = 39;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let low = 1 << CAP_NET_ADMIN;
    let high = 1 << (CAP_BPF - 32);
    let data = [
        Data {
            effective: low,
            permitted: low,
            inheritable: 0,
        },
        Data {
            effective: high,
            permitted: high,
            inheritable: 0,
        },
    ];
    // SAFETY: capset(2) with a version 3 header and its two data words, both live for the
    // call; pid 0 is the calling thread.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    assert_eq!(r, 0, "capset: {}", std::io::Error::last_os_error());
}

#[test]
fn loads_with_only_the_capabilities_the_daemon_keeps() {
    // Without CAP_PERFMON the verifier refuses, among others, subtracting packet pointers;
    // the program must not need it.
    if load().is_none() {
        return;
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            keep_only_bpf_and_net_admin();
            let mut o = match xdp_offload::Offload::load(LoadOptions::default()) {
                Ok(o) => o,
                Err(e) => panic!("{}", chain(&e)),
            };
            o.set_alive_until(u64::MAX).unwrap();
            let r = flow();
            o.insert(&r.key().bytes(), &r.action(LO).bytes()).unwrap();
            let run = o.test_run(&frame_in(&r.packet(b"x")), LO).unwrap();
            assert_eq!(run.retval, action::TX);
        })
        .join()
        .expect("the thread without capabilities");
    });
}

/// An XDP program that drops everything, loaded the way the daemon's own loader loads the
/// steering program (raw bpf(2), no BTF), with `expected_attach_type`.
fn drop_all_program(expected_attach_type: u32) -> Result<std::os::fd::OwnedFd, std::io::Error> {
    use std::os::fd::FromRawFd;
    // r0 = XDP_DROP; exit
    let insns: [u64; 2] = [
        u64::from_le_bytes([0xb7, 0, 0, 0, 1, 0, 0, 0]),
        u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
    ];
    let license = c"Apache-2.0";
    let mut attr = [0u64; 16];
    // prog_type (XDP = 6), insn_cnt; insns; license
    attr[0] = 6 | (2 << 32);
    attr[1] = insns.as_ptr() as u64;
    attr[2] = license.as_ptr() as u64;
    // expected_attach_type, at byte 68
    attr[8] = u64::from(expected_attach_type) << 32;
    // SAFETY: `attr` is a zeroed, live `union bpf_attr` of 128 bytes for BPF_PROG_LOAD whose
    // pointers refer to `insns` and `license`, both alive for the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_mut_ptr(), 128u32) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// `enum bpf_attach_type`: BPF_XDP, what aya loads an XDP program with.
const BPF_XDP: u32 = 37;

#[test]
fn a_program_loaded_like_the_steering_program_takes_the_punted_packets() {
    use std::os::fd::AsFd;
    // The steering program must be loaded with expected_attach_type BPF_XDP, as aya loads
    // this one: recent kernels (6.18 here) put into a program array only programs whose
    // expected attach type is its owner's, and refuse one loaded with 0 (EINVAL).
    let Some(mut o) = load() else { return };
    let next = drop_all_program(BPF_XDP).expect("BPF_PROG_LOAD");
    o.set_next(LO, next.as_fd())
        .expect("the kernel takes it into ol_next");
    let syn = frame_in(&tcp(CLIENT, 40000, VIP, 80, 0x02));
    assert_eq!(o.test_run(&syn, LO).unwrap().retval, action::DROP);
    // Forwarded packets do not go there.
    let r = flow();
    o.insert(&r.key().bytes(), &r.action(LO).bytes()).unwrap();
    let run = o.test_run(&frame_in(&r.packet(b"x")), LO).unwrap();
    assert_eq!(run.retval, action::TX);
}
