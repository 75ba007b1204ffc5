//! The tunnel-mode backends' decapsulation: an XDP program of the drill's own (the IPv6
//! namespace test's backends use it too) that takes the
//! outer IPv4 header off IP-in-IP packets (RFC 2003: protocol 4, the inner packet follows the
//! outer header) and passes the inner packet to the stack, as the kernel's `ipip` module would.
//! The kernel here has no `ipip` module; a real backend loads it instead (docs/operations.md).
//!
//! Assembled at run time with the data plane's BPF assembler, so the drill needs no clang:
//!
//! ```text
//! if data + 34 > data_end                      -> pass (no Ethernet + IPv4 header)
//! if ethertype != IPv4                         -> pass
//! if outer version/IHL != 0x45                 -> pass (options: not from an encapsulator)
//! if outer is a fragment (MF or an offset)     -> pass (the stack reassembles; no ipip there)
//! if outer protocol != 4                       -> pass
//! copy the 14 bytes of Ethernet header 20 bytes forward, over the outer IPv4 header
//! bpf_xdp_adjust_head(ctx, 20)                 -> drop if refused (the header is overwritten)
//! pass
//! ```
//!
//! IPv6 in IPv6 (RFC 2473: next header 41, the inner packet behind the fixed header) is taken
//! apart the same way, as the kernel's `ip6_tunnel` would (also absent here):
//!
//! ```text
//! if ethertype == IPv6 and data + 54 <= data_end and next header == 41:
//!     copy the Ethernet header 40 bytes forward; bpf_xdp_adjust_head(ctx, 40); pass
//! ```

use std::os::fd::{AsRawFd, OwnedFd};

use netlink_packet_route::link::{LinkAttribute, LinkXdp};

use super::netns;
use crate::dataplaned::xdp::asm::{Asm, Cond, Insn, Reg, Size};
use crate::dataplaned::xdp::bpf;
use crate::kernel::Netlink;

/// linux/bpf.h `BPF_FUNC_xdp_adjust_head`.
const XDP_ADJUST_HEAD: i32 = 44;
const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;
const ETH_LEN: i16 = 14;
const IPV4_LEN: i16 = 20;
const IPV6_LEN: i16 = 40;
/// The IPv6 header's Next Header field.
const IPV6_NEXT_HEADER: i16 = 6;
/// linux/if_link.h
const XDP_FLAGS_SKB_MODE: u32 = 2;
const XDP_FLAGS_DRV_MODE: u32 = 4;

/// The program's instructions.
pub fn program() -> Vec<Insn> {
    let mut a = Asm::new();
    let (pass, drop) = (a.label(), a.label());
    a.mov_reg(Reg::R6, Reg::R1);
    a.load(Size::W, Reg::R2, Reg::R1, 0); // xdp_md.data
    a.load(Size::W, Reg::R3, Reg::R1, 4); // xdp_md.data_end
    a.mov_reg(Reg::R4, Reg::R2);
    a.add_imm(Reg::R4, i32::from(ETH_LEN + IPV4_LEN));
    a.jump_reg(Cond::Gt, Reg::R4, Reg::R3, pass);
    // Loads are little-endian: 0x0800 on the wire reads as 0x0008, 0x86dd as 0xdd86.
    let ipv6 = a.label();
    a.load(Size::H, Reg::R5, Reg::R2, 12);
    a.jump_imm(Cond::Eq, Reg::R5, 0xdd86, ipv6);
    a.jump_imm(Cond::Ne, Reg::R5, 0x0008, pass);
    a.load(Size::B, Reg::R5, Reg::R2, ETH_LEN);
    a.jump_imm(Cond::Ne, Reg::R5, 0x45, pass);
    // Flags and fragment offset (MF | offset = 0x3fff, read little-endian as 0xff3f).
    a.load(Size::H, Reg::R5, Reg::R2, ETH_LEN + 6);
    a.and_imm(Reg::R5, 0xff3f);
    a.jump_imm(Cond::Ne, Reg::R5, 0, pass);
    a.load(Size::B, Reg::R5, Reg::R2, ETH_LEN + 9);
    a.jump_imm(Cond::Ne, Reg::R5, 4, pass);
    for (off, size) in [(0, Size::W), (4, Size::W), (8, Size::W), (12, Size::H)] {
        a.load(size, Reg::R5, Reg::R2, off);
        a.store_reg(size, Reg::R2, off + IPV4_LEN, Reg::R5);
    }
    a.mov_reg(Reg::R1, Reg::R6);
    a.mov_imm(Reg::R2, i32::from(IPV4_LEN));
    a.call(XDP_ADJUST_HEAD);
    a.jump_imm(Cond::Ne, Reg::R0, 0, drop);
    a.jump(pass);

    a.bind(ipv6);
    a.mov_reg(Reg::R4, Reg::R2);
    a.add_imm(Reg::R4, i32::from(ETH_LEN + IPV6_LEN));
    a.jump_reg(Cond::Gt, Reg::R4, Reg::R3, pass);
    a.load(Size::B, Reg::R5, Reg::R2, ETH_LEN + IPV6_NEXT_HEADER);
    a.jump_imm(Cond::Ne, Reg::R5, 41, pass);
    for (off, size) in [(0, Size::W), (4, Size::W), (8, Size::W), (12, Size::H)] {
        a.load(size, Reg::R5, Reg::R2, off);
        a.store_reg(size, Reg::R2, off + IPV6_LEN, Reg::R5);
    }
    a.mov_reg(Reg::R1, Reg::R6);
    a.mov_imm(Reg::R2, i32::from(IPV6_LEN));
    a.call(XDP_ADJUST_HEAD);
    a.jump_imm(Cond::Ne, Reg::R0, 0, drop);

    a.bind(pass);
    a.mov_imm(Reg::R0, XDP_PASS);
    a.exit();
    a.bind(drop);
    a.mov_imm(Reg::R0, XDP_DROP);
    a.exit();
    a.finish()
}

/// Loads the program (the verifier's log in the error if it is refused).
pub fn load() -> Result<OwnedFd, String> {
    bpf::load_xdp(&program(), "ipip_decap", c"GPL").map_err(|e| e.to_string())
}

/// Attaches the program to `ifname` in namespace `ns`: native mode, generic if the driver has
/// none. Returns the mode. The attachment holds the program after its descriptor is closed, and
/// goes with the interface when the lab removes it.
pub fn attach(ns: &str, ifname: &str) -> Result<&'static str, String> {
    let prog = load()?;
    let ifname = ifname.to_string();
    netns::run(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        rt.block_on(async {
            let nl = Netlink::connect().map_err(|e| e.to_string())?;
            let index = nl.link_index(&ifname).await.map_err(|e| e.to_string())?;
            let mut errors = Vec::new();
            for (flags, mode) in [
                (XDP_FLAGS_DRV_MODE, "native"),
                (XDP_FLAGS_SKB_MODE, "generic"),
            ] {
                let msg = rtnetlink::LinkUnspec::new_with_index(index)
                    .append_extra_attribute(LinkAttribute::Xdp(vec![
                        LinkXdp::Fd(prog.as_raw_fd()),
                        LinkXdp::Flags(flags),
                    ]))
                    .build();
                match nl.handle().link().set(msg).execute().await {
                    Ok(()) => return Ok(mode),
                    Err(e) => errors.push(format!("{mode}: {e}")),
                }
            }
            Err(format!("attaching to {ifname}: {}", errors.join("; ")))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_to_a_small_program_that_ends_in_exits() {
        let p = program();
        assert!(p.len() < 64, "{} instructions", p.len());
        assert_eq!(p.last().map(|i| i.code), Some(0x95));
        // Every path ends in an exit: the pass and the drop tails.
        assert_eq!(p.iter().filter(|i| i.code == 0x95).count(), 2);
    }
}
