//! CPU time for per-packet cost: a CPU's busy time from `/proc/stat` (what a forwarding core
//! spends, softirq included, whoever it is spent for) and a thread's run time from its
//! `schedstat` (nanoseconds on the CPU, exact rather than tick-sampled).

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
}
