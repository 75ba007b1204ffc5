//! A tiny eBPF assembler: enough instructions for the steering program, with labels for
//! forward and backward jumps. Programs are assembled at run time, so the build needs no clang
//! and the kernel needs no BTF (the way libxdp's default program and cilium/ebpf's `asm` work).
//!
//! Encoding (linux/bpf.h `struct bpf_insn`): opcode, dst and src registers in one byte (dst in
//! the low nibble), a signed 16-bit offset and a signed 32-bit immediate, little-endian.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const _: () = assert!(std::mem::size_of::<Insn>() == 8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    R0 = 0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    /// The read-only frame pointer.
    R10,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }
}

/// Jump conditions (BPF_JMP class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    Eq = 0x10,
    Gt = 0x20,
    Ge = 0x30,
    Ne = 0x50,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

// Instruction classes and modes.
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const ALU64: u8 = 0x07;
const JMP: u8 = 0x05;
const MEM: u8 = 0x60;
const K: u8 = 0x00;
const X: u8 = 0x08;
const ADD: u8 = 0x00;
const AND: u8 = 0x50;
const LSH: u8 = 0x60;
const MOV: u8 = 0xb0;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
const JA: u8 = 0x00;
/// `BPF_LD | BPF_IMM | BPF_DW`: a 64-bit immediate in two slots.
const LD_IMM64: u8 = 0x18;
/// `src_reg` of an `LD_IMM64` whose immediate is a map file descriptor.
pub const PSEUDO_MAP_FD: u8 = 1;

#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
}

fn regs(dst: Reg, src: Reg) -> u8 {
    ((src as u8) << 4) | dst as u8
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    fn emit(&mut self, code: u8, dst: Reg, src: Reg, off: i16, imm: i32) {
        self.insns.push(Insn {
            code,
            regs: regs(dst, src),
            off,
            imm,
        });
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `l` at the next instruction.
    pub fn bind(&mut self, l: Label) {
        assert!(self.labels[l.0].is_none(), "label bound twice");
        self.labels[l.0] = Some(self.insns.len());
    }

    pub fn mov_imm(&mut self, dst: Reg, imm: i32) {
        self.emit(ALU64 | MOV | K, dst, Reg::R0, 0, imm);
    }

    pub fn mov_reg(&mut self, dst: Reg, src: Reg) {
        self.emit(ALU64 | MOV | X, dst, src, 0, 0);
    }

    pub fn add_imm(&mut self, dst: Reg, imm: i32) {
        self.emit(ALU64 | ADD | K, dst, Reg::R0, 0, imm);
    }

    pub fn add_reg(&mut self, dst: Reg, src: Reg) {
        self.emit(ALU64 | ADD | X, dst, src, 0, 0);
    }

    pub fn lsh_imm(&mut self, dst: Reg, imm: i32) {
        self.emit(ALU64 | LSH | K, dst, Reg::R0, 0, imm);
    }

    pub fn and_imm(&mut self, dst: Reg, imm: i32) {
        self.emit(ALU64 | AND | K, dst, Reg::R0, 0, imm);
    }

    /// `dst = *(size *)(src + off)`
    pub fn load(&mut self, size: Size, dst: Reg, src: Reg, off: i16) {
        self.emit(LDX | MEM | size.bits(), dst, src, off, 0);
    }

    /// `*(size *)(dst + off) = src`
    pub fn store_reg(&mut self, size: Size, dst: Reg, off: i16, src: Reg) {
        self.emit(STX | MEM | size.bits(), dst, src, off, 0);
    }

    /// `*(size *)(dst + off) = imm`
    pub fn store_imm(&mut self, size: Size, dst: Reg, off: i16, imm: i32) {
        self.emit(ST | MEM | size.bits(), dst, Reg::R0, off, imm);
    }

    /// `dst = map` for a helper's map argument.
    pub fn load_map_fd(&mut self, dst: Reg, fd: i32) {
        self.insns.push(Insn {
            code: LD_IMM64,
            regs: (PSEUDO_MAP_FD << 4) | dst as u8,
            off: 0,
            imm: fd,
        });
        self.insns.push(Insn {
            code: 0,
            regs: 0,
            off: 0,
            imm: 0,
        });
    }

    pub fn jump_imm(&mut self, cond: Cond, dst: Reg, imm: i32, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(JMP | cond as u8 | K, dst, Reg::R0, 0, imm);
    }

    pub fn jump_reg(&mut self, cond: Cond, dst: Reg, src: Reg, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(JMP | cond as u8 | X, dst, src, 0, 0);
    }

    pub fn jump(&mut self, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(JMP | JA, Reg::R0, Reg::R0, 0, 0);
    }

    /// Calls helper number `helper` (linux/bpf.h `enum bpf_func_id`).
    pub fn call(&mut self, helper: i32) {
        self.emit(JMP | CALL, Reg::R0, Reg::R0, 0, helper);
    }

    pub fn exit(&mut self) {
        self.emit(JMP | EXIT, Reg::R0, Reg::R0, 0, 0);
    }

    /// Resolves jumps; panics on an unbound label (a bug in the program generator).
    pub fn finish(mut self) -> Vec<Insn> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let target = self.labels[l.0].expect("jump to an unbound label");
            let off = target as isize - at as isize - 1;
            self.insns[at].off = i16::try_from(off).expect("jump within range");
        }
        self.insns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The libbpf default program, as published in raw form: redirect to the XSK of the
    /// receiving queue, XDP_PASS when there is none.
    #[test]
    fn encodes_the_libbpf_default_program() {
        let mut a = Asm::new();
        a.load(Size::W, Reg::R2, Reg::R1, 16);
        a.load_map_fd(Reg::R1, 7);
        a.mov_imm(Reg::R3, 2);
        a.call(51);
        a.exit();
        let p = a.finish();
        assert_eq!(
            p[0],
            Insn {
                code: 0x61,
                regs: 0x12,
                off: 16,
                imm: 0
            }
        );
        assert_eq!(
            p[1],
            Insn {
                code: 0x18,
                regs: 0x11,
                off: 0,
                imm: 7
            }
        );
        assert_eq!(
            p[3],
            Insn {
                code: 0xb7,
                regs: 0x03,
                off: 0,
                imm: 2
            }
        );
        assert_eq!(
            p[4],
            Insn {
                code: 0x85,
                regs: 0,
                off: 0,
                imm: 51
            }
        );
        assert_eq!(
            p[5],
            Insn {
                code: 0x95,
                regs: 0,
                off: 0,
                imm: 0
            }
        );
    }

    #[test]
    fn jumps_resolve_both_ways() {
        let mut a = Asm::new();
        let (back, fwd) = (a.label(), a.label());
        a.bind(back);
        a.jump_imm(Cond::Eq, Reg::R1, 0, fwd); // 0 -> 3
        a.mov_imm(Reg::R0, 1); // 1
        a.jump(back); // 2 -> 0
        a.bind(fwd);
        a.exit(); // 3
        let p = a.finish();
        assert_eq!((p[0].code, p[0].off), (0x15, 2));
        assert_eq!((p[2].code, p[2].off), (0x05, -3));
    }
}
