//! An AF_XDP socket in copy mode with its own UMEM, over libc (see docs/architecture.md for why
//! not a crate). One socket serves one (interface, queue); the worker that owns it is the only
//! thread touching its rings and frames.
//!
//! Frame life cycle: every UMEM frame is in exactly one place: the free list, the fill ring
//! (lent to the kernel for RX), the RX ring (received, ours to process), the TX ring (lent to
//! the kernel to send) or the completion ring (sent, coming back to the free list).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::ring::Ring;

#[derive(Debug, Clone, Copy)]
pub struct XskConfig {
    /// UMEM frames (a power of two); half start in the fill ring.
    pub frames: u32,
    /// Bytes per frame (2048 or 4096).
    pub frame_size: u32,
    /// Size of each ring (a power of two).
    pub ring_size: u32,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frames: 8192,
            frame_size: 2048,
            ring_size: 4096,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("AF_XDP socket on interface {ifindex} queue {queue}: {what}: {source}")]
pub struct XskError {
    ifindex: u32,
    queue: u32,
    what: &'static str,
    #[source]
    source: std::io::Error,
}

/// Kernel statistics of a socket (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct XskStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

struct Umem {
    area: *mut u8,
    len: usize,
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: the area was mapped by us with this length; the socket that registered it is
        // closed first (field order in `Xsk`).
        unsafe { libc::munmap(self.area as *mut libc::c_void, self.len) };
    }
}

pub struct Xsk {
    // Drop order matters: rings, then the socket, then the UMEM it registered.
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    fill: Ring<u64>,
    comp: Ring<u64>,
    fd: OwnedFd,
    umem: Umem,
    free: Vec<u64>,
    cfg: XskConfig,
    ifindex: u32,
    queue: u32,
    /// TX descriptors written but not yet submitted.
    tx_pending: u32,
    /// Descriptors the kernel sends per kick (`XDP_MAX_TX_SKB_BUDGET`), when it took the
    /// option; 32 otherwise.
    tx_budget: Option<u32>,
}

/// `SOL_XDP` option: descriptors a copy-mode send call may take, 32 up to the TX ring's size
/// (Linux 6.17; not in libc yet).
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

// SAFETY: all raw pointers point into mappings owned by this value; it is moved to its worker
// thread and used there only.
unsafe impl Send for Xsk {}

/// A received frame: its UMEM address and length.
#[derive(Debug, Clone, Copy)]
pub struct RxFrame {
    pub addr: u64,
    pub len: u32,
}

fn sockopt<T>(fd: RawFd, opt: libc::c_int, v: &T) -> std::io::Result<()> {
    // SAFETY: `v` is a live value of the size we pass, as the option expects.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn map_ring(fd: RawFd, len: usize, pgoff: u64) -> std::io::Result<*mut libc::c_void> {
    // SAFETY: a fresh shared mapping of the socket's ring at the kernel's page offset.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            pgoff as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(p)
    }
}

impl Xsk {
    /// Creates the socket and its UMEM, binds it to `ifindex`/`queue` in copy mode, and lends
    /// half of the frames to the fill ring.
    pub fn open(ifindex: u32, queue: u32, cfg: XskConfig) -> Result<Xsk, XskError> {
        let err = |what: &'static str| {
            move |source: std::io::Error| XskError {
                ifindex,
                queue,
                what,
                source,
            }
        };
        assert!(cfg.frames.is_power_of_two() && cfg.ring_size.is_power_of_two());
        // SAFETY: plain socket creation.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(err("socket")(std::io::Error::last_os_error()));
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let len = cfg.frames as usize * cfg.frame_size as usize;
        // SAFETY: a fresh private anonymous mapping.
        let area = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if area == libc::MAP_FAILED {
            return Err(err("mapping the UMEM")(std::io::Error::last_os_error()));
        }
        let umem = Umem {
            area: area as *mut u8,
            len,
        };
        let reg = libc::xdp_umem_reg_v1 {
            addr: area as u64,
            len: len as u64,
            chunk_size: cfg.frame_size,
            headroom: 0,
        };
        sockopt(raw, libc::XDP_UMEM_REG, &reg).map_err(err("registering the UMEM"))?;
        let n = cfg.ring_size;
        sockopt(raw, libc::XDP_UMEM_FILL_RING, &n).map_err(err("sizing the fill ring"))?;
        sockopt(raw, libc::XDP_UMEM_COMPLETION_RING, &n)
            .map_err(err("sizing the completion ring"))?;
        sockopt(raw, libc::XDP_RX_RING, &n).map_err(err("sizing the RX ring"))?;
        sockopt(raw, libc::XDP_TX_RING, &n).map_err(err("sizing the TX ring"))?;
        // Copy mode sends 32 descriptors per sendto unless told more (Linux 6.17+): one kick
        // can then empty the ring. Older kernels refuse the option and keep 32.
        let tx_budget = sockopt(raw, XDP_MAX_TX_SKB_BUDGET, &n).is_ok().then_some(n);

        // SAFETY: zero is a valid value of this plain-integer struct.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut optlen = std::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
        // SAFETY: `off` is writable and `optlen` says how large it is.
        let r = unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                &mut off as *mut _ as *mut libc::c_void,
                &mut optlen,
            )
        };
        if r != 0 {
            return Err(err("reading ring offsets")(std::io::Error::last_os_error()));
        }
        let desc = std::mem::size_of::<libc::xdp_desc>();
        let rx_len = off.rx.desc as usize + n as usize * desc;
        let tx_len = off.tx.desc as usize + n as usize * desc;
        let fr_len = off.fr.desc as usize + n as usize * 8;
        let cr_len = off.cr.desc as usize + n as usize * 8;
        // SAFETY: the mapping is the RX ring the kernel laid out at these offsets, of `n`
        // descriptors of the ring's type (the same holds for the three rings below).
        let rx = unsafe {
            Ring::from_mapping(
                map_ring(raw, rx_len, libc::XDP_PGOFF_RX_RING as u64).map_err(err("mapping RX"))?,
                rx_len,
                &off.rx,
                n,
            )
        };
        // SAFETY: as for RX: the kernel's ring at its offsets, `n` descriptors.
        let tx = unsafe {
            Ring::from_mapping(
                map_ring(raw, tx_len, libc::XDP_PGOFF_TX_RING as u64).map_err(err("mapping TX"))?,
                tx_len,
                &off.tx,
                n,
            )
        };
        // SAFETY: as for RX: the kernel's ring at its offsets, `n` descriptors.
        let fill = unsafe {
            Ring::from_mapping(
                map_ring(raw, fr_len, libc::XDP_UMEM_PGOFF_FILL_RING)
                    .map_err(err("mapping the fill ring"))?,
                fr_len,
                &off.fr,
                n,
            )
        };
        // SAFETY: as for RX: the kernel's ring at its offsets, `n` descriptors.
        let comp = unsafe {
            Ring::from_mapping(
                map_ring(raw, cr_len, libc::XDP_UMEM_PGOFF_COMPLETION_RING)
                    .map_err(err("mapping the completion ring"))?,
                cr_len,
                &off.cr,
                n,
            )
        };
        let mut xsk = Xsk {
            rx,
            tx,
            fill,
            comp,
            fd,
            umem,
            free: (0..u64::from(cfg.frames))
                .rev()
                .map(|i| i * u64::from(cfg.frame_size))
                .collect(),
            cfg,
            ifindex,
            queue,
            tx_pending: 0,
            tx_budget,
        };
        xsk.refill(cfg.frames / 2);

        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_COPY | libc::XDP_USE_NEED_WAKEUP,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: `sa` is a valid sockaddr_xdp of the size we pass.
        let r = unsafe {
            libc::bind(
                raw,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(err("binding")(std::io::Error::last_os_error()));
        }
        Ok(xsk)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Descriptors one kick sends, when the kernel took `XDP_MAX_TX_SKB_BUDGET`.
    pub fn tx_budget(&self) -> Option<u32> {
        self.tx_budget
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Lends up to `max` free frames to the kernel for RX.
    pub fn refill(&mut self, max: u32) {
        let n = self.fill.free(max).min(max).min(self.free.len() as u32);
        for i in 0..n {
            let addr = self.free.pop().expect("counted");
            self.fill.put(i, addr);
        }
        if n > 0 {
            self.fill.submit(n);
        }
    }

    /// Takes up to `out.len()` received frames; returns how many. Each must later be given
    /// back with [`Xsk::recycle`] or [`Xsk::transmit`].
    pub fn receive(&mut self, out: &mut [RxFrame]) -> usize {
        let n = self.rx.ready().min(out.len() as u32);
        for (i, slot) in out.iter_mut().enumerate().take(n as usize) {
            let d = self.rx.get(i as u32);
            *slot = RxFrame {
                addr: d.addr,
                len: d.len,
            };
        }
        if n > 0 {
            self.rx.release(n);
        }
        n as usize
    }

    /// The bytes of a frame of this socket's UMEM.
    pub fn frame_mut(&mut self, addr: u64, len: u32) -> &mut [u8] {
        let frame = addr - addr % u64::from(self.cfg.frame_size);
        let end = addr + u64::from(len);
        assert!(
            end <= frame + u64::from(self.cfg.frame_size) && (end as usize) <= self.umem.len,
            "descriptor outside its frame"
        );
        // SAFETY: the range lies within one frame of our UMEM (checked above), and the frame is
        // ours (received or taken from the free list), so the kernel does not touch it now.
        unsafe { std::slice::from_raw_parts_mut(self.umem.area.add(addr as usize), len as usize) }
    }

    /// The bytes from `addr` to the end of its frame: a received frame and the room behind it,
    /// which a frame growing on its way (GRE encapsulation) uses.
    pub fn frame_room_mut(&mut self, addr: u64) -> &mut [u8] {
        let frame = addr - addr % u64::from(self.cfg.frame_size);
        let len = (frame + u64::from(self.cfg.frame_size) - addr) as u32;
        self.frame_mut(addr, len)
    }

    /// Gives a frame back to the free list.
    pub fn recycle(&mut self, addr: u64) {
        self.free.push(addr - addr % u64::from(self.cfg.frame_size));
    }

    /// Queues a frame of this UMEM for sending; `false` (and the frame recycled) when the TX
    /// ring is full. Call [`Xsk::flush`] after a batch.
    pub fn transmit(&mut self, addr: u64, len: u32) -> bool {
        if self.tx.free(self.tx_pending + 1) <= self.tx_pending {
            self.recycle(addr);
            return false;
        }
        self.tx.put(
            self.tx_pending,
            libc::xdp_desc {
                addr,
                len,
                options: 0,
            },
        );
        self.tx_pending += 1;
        true
    }

    /// Copies `data` into a free frame and queues it; `false` when no frame or slot is free.
    pub fn transmit_copy(&mut self, data: &[u8]) -> bool {
        if data.len() > self.cfg.frame_size as usize {
            return false;
        }
        let Some(addr) = self.free.pop() else {
            return false;
        };
        self.frame_mut(addr, data.len() as u32)
            .copy_from_slice(data);
        self.transmit(addr, data.len() as u32)
    }

    /// Submits queued TX descriptors and kicks the kernel, and takes back completed frames.
    ///
    /// In copy mode the kernel sends from inside `sendto`, at most 32 frames per call
    /// (`TX_BATCH_SIZE`; the ring's size where it took `XDP_MAX_TX_SKB_BUDGET`), so the kick
    /// repeats until the ring is drained or the kernel stops
    /// making progress (a full device queue: the rest goes with the next flush). Returns
    /// whether frames are still waiting in the TX ring.
    pub fn flush(&mut self) -> bool {
        if self.tx_pending > 0 {
            self.tx.submit(self.tx_pending);
            self.tx_pending = 0;
        }
        let mut left = self.tx.outstanding();
        while left > 0 {
            // SAFETY: a zero-length sendto on our own AF_XDP socket: no buffer is read.
            unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            // The return value is no guide: after its 32 frames the kernel says EAGAIN even
            // though it sent them (and EBUSY when the qdisc dropped one), so stopping on an
            // error sent 32 frames per flush and left the rest waiting for the next packet.
            // Progress is what the consumer index says.
            let now = self.tx.outstanding();
            if now >= left {
                break;
            }
            left = now;
        }
        let done = self.comp.ready();
        for i in 0..done {
            let addr = self.comp.get(i);
            self.recycle(addr);
        }
        if done > 0 {
            self.comp.release(done);
        }
        left > 0
    }

    pub fn fill_needs_wakeup(&self) -> bool {
        self.fill.needs_wakeup()
    }

    pub fn free_frames(&self) -> usize {
        self.free.len()
    }

    pub fn stats(&self) -> std::io::Result<XskStats> {
        // SAFETY: zero is a valid value of this plain-integer struct.
        let mut s: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::xdp_statistics>() as libc::socklen_t;
        // SAFETY: `s` is writable and `len` says how large it is.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                &mut s as *mut _ as *mut libc::c_void,
                &mut len,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(XskStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passes (workers sleep here when idle
/// instead of spinning, since the machine's cores are shared).
pub fn wait_readable(fds: &[RawFd], timeout_ms: i32) {
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0,
    }; 16];
    let n = fds.len().min(pfds.len());
    for (p, fd) in pfds.iter_mut().zip(fds) {
        p.fd = *fd;
    }
    // SAFETY: `pfds[..n]` is a valid, writable array of pollfd.
    unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
    // A socket whose interface went away reports an error at once, every time: wait the
    // timeout anyway, so an idle worker never spins.
    if pfds[..n]
        .iter()
        .any(|p| p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0)
    {
        std::thread::sleep(std::time::Duration::from_millis(timeout_ms.max(0) as u64));
    }
}
