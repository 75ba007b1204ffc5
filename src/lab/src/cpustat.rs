//! CPU time for per-packet cost: a CPU's busy time from `/proc/stat` (what a forwarding core
//! spends, softirq included, whoever it is spent for), a thread's run time from its
//! `schedstat` (nanoseconds on the CPU, exact rather than tick-sampled), and a process's user
//! and system time from its `stat`.

use std::time::Duration;

/// Busy time of `cpu` so far: every `/proc/stat` column but idle and iowait.
pub fn cpu_busy(cpu: usize) -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let label = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(label.as_str()))
        .unwrap_or_else(|| panic!("no {label} in /proc/stat"));
    busy_of(line)
}

/// user nice system idle iowait irq softirq steal (guest time is already in user).
fn busy_of(line: &str) -> Duration {
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let ticks: u64 =
        f.iter().take(8).sum::<u64>() - f.get(3).unwrap_or(&0) - f.get(4).unwrap_or(&0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

/// CPU seconds (user, system) of process `pid`: all its threads, plus its reaped children's
/// with `with_children`; `None` once it is gone.
pub fn cpu_seconds(pid: u32, with_children: bool) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which may hold spaces and ends at the last ')':
    // state is index 0.
    let f: Vec<u64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    if f.len() < 15 {
        return None;
    }
    let (user, sys) = if with_children {
        (f[11] + f[13], f[12] + f[14])
    } else {
        (f[11], f[12])
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((user as f64 / hz, sys as f64 / hz))
}

/// Run time of the thread of `pid` named `name` (its `comm`), if there is one.
pub fn thread_runtime(pid: u32, name: &str) -> Option<Duration> {
    threads_runtime(pid, |comm| comm == name)
}

/// Summed run time (`schedstat`) of the threads of `pid` whose `comm` `wanted` accepts; `None`
/// if there is none.
pub fn threads_runtime(pid: u32, wanted: impl Fn(&str) -> bool) -> Option<Duration> {
    let mut total = None;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if wanted(comm.trim_end()) {
            let s = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
            total = Some(total.unwrap_or(Duration::ZERO) + Duration::from_nanos(ns));
        }
    }
    total
}

/// Pins `pid` (one thread or process) to `cpu`.
pub fn pin(pid: u32, cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it; the call only reads
    // it and `pid` is plain data (a vanished pid is an error, not undefined behaviour).
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(
            pid as libc::pid_t,
            std::mem::size_of::<libc::cpu_set_t>(),
            &set,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_excludes_idle_and_iowait() {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        let d = busy_of("cpu0 10 0 20 1000 500 0 30 0 0 0");
        assert_eq!(d, Duration::from_nanos(60 * 1_000_000_000 / hz));
        assert!(cpu_busy(0) > Duration::ZERO);
    }

    #[test]
    fn cpu_seconds_of_a_busy_process_grow() {
        let me = std::process::id();
        let (u0, s0) = cpu_seconds(me, false).unwrap();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let (u1, s1) = cpu_seconds(me, true).unwrap();
        assert!(u1 + s1 > u0 + s0, "{u0}+{s0} -> {u1}+{s1}");
        assert_eq!(cpu_seconds(u32::MAX, false), None);
    }
}
