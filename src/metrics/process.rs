//! process_* metrics in the Prometheus convention, read from /proc/self when scraped.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone)]
pub struct ProcessMetrics {
    cpu_seconds: Gauge<f64, AtomicU64>,
    resident_bytes: Gauge,
    open_fds: Gauge,
    start_time: Gauge<f64, AtomicU64>,
    threads: Gauge,
}

impl ProcessMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = ProcessMetrics {
            cpu_seconds: Gauge::default(),
            resident_bytes: Gauge::default(),
            open_fds: Gauge::default(),
            start_time: Gauge::default(),
            threads: Gauge::default(),
        };
        let sub = registry.sub_registry_with_prefix("process");
        // prometheus-client appends no suffix to gauges; the conventional name ends in _total.
        sub.register(
            "cpu_seconds_total",
            "User and system CPU time spent",
            m.cpu_seconds.clone(),
        );
        sub.register(
            "resident_memory_bytes",
            "Resident set size",
            m.resident_bytes.clone(),
        );
        sub.register("open_fds", "Open file descriptors", m.open_fds.clone());
        sub.register(
            "start_time_seconds",
            "Start time of the process since the Unix epoch",
            m.start_time.clone(),
        );
        sub.register("threads", "Operating system threads", m.threads.clone());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        m.start_time.set(now);
        m
    }

    pub fn refresh(&self) {
        if let Some(s) = read_stat() {
            self.cpu_seconds.set(s.cpu_seconds);
            self.resident_bytes.set(s.rss_bytes as i64);
            self.threads.set(s.threads as i64);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(dir.count() as i64);
        }
    }
}

struct Stat {
    cpu_seconds: f64,
    rss_bytes: u64,
    threads: u64,
}

fn read_stat() -> Option<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields are numbered from 3 (state) in proc(5); utime=14, stime=15, num_threads=20, rss=24.
    let at = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    Some(Stat {
        cpu_seconds: (at(14)? + at(15)?) as f64 / ticks,
        rss_bytes: at(24)? * page,
        threads: at(20)?,
    })
}
