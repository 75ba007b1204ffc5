//! The raw bpf(2) call and its attribute buffer, shared by this crate's commands and the
//! daemon's own (the steering program's maps and loader): one place that writes `union
//! bpf_attr` and makes the system call.

/// `union bpf_attr` is larger than any command's part of it; the kernel requires the bytes it
/// does not know to be zero, so a zeroed buffer of this size fits every command.
pub const ATTR_LEN: usize = 128;

/// A zeroed `union bpf_attr` with setters by byte offset (each command's layout is written
/// down where the command is made).
#[repr(C, align(8))]
pub struct Attr([u8; ATTR_LEN]);

impl Default for Attr {
    fn default() -> Self {
        Attr::new()
    }
}

impl Attr {
    pub fn new() -> Attr {
        Attr([0; ATTR_LEN])
    }

    pub fn put_u32(&mut self, at: usize, v: u32) -> &mut Self {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }

    pub fn put_u64(&mut self, at: usize, v: u64) -> &mut Self {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }

    /// An object name (BPF_OBJ_NAME_LEN is 16 including the NUL).
    pub fn put_name(&mut self, at: usize, name: &str) -> &mut Self {
        let n = name.len().min(15);
        self.0[at..at + n].copy_from_slice(&name.as_bytes()[..n]);
        self
    }

    pub fn u32_at(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[at..at + 4]);
        u32::from_ne_bytes(b)
    }
}

/// bpf(`cmd`, `attr`): the call's return value (a new descriptor for the commands that make
/// one), or the error it set.
pub fn bpf(cmd: libc::c_long, attr: &mut Attr) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, writable buffer of ATTR_LEN bytes laid out as `union bpf_attr`
    // for `cmd`; every pointer the caller stored in it refers to memory it keeps alive (and,
    // for output buffers, writable for the length stored beside it) for the duration of the
    // call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), ATTR_LEN as u32) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
