use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use health::{
    BoxFuture, CancellationToken, CheckKind, CheckSpec, HealthRunner, Initial, Override, Probe,
    ProbeContext, ProbeResult, Reason, SpecError, State, TcpCheck, UnknownCheck,
};

const MS: Duration = Duration::from_millis(1);

/// A probe that replays a script of results (the last one repeats), each after `delay`.
#[derive(Debug)]
struct Scripted {
    script: Mutex<VecDeque<bool>>,
    last: Mutex<bool>,
    calls: AtomicUsize,
    delay: Duration,
}

impl Scripted {
    fn new(script: &[bool], delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.iter().copied().collect()),
            last: Mutex::new(*script.last().unwrap_or(&true)),
            calls: AtomicUsize::new(0),
            delay,
        })
    }
}

impl Probe for Scripted {
    fn probe(&self, _ctx: ProbeContext) -> BoxFuture<'_, ProbeResult> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            let ok = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(*self.last.lock().unwrap());
            if ok {
                ProbeResult::success(self.delay, "scripted ok")
            } else {
                ProbeResult::failure(self.delay, "scripted failure")
            }
        })
    }
}

fn spec(name: &str, probe: Arc<Scripted>) -> CheckSpec {
    let mut s = CheckSpec::new(name, CheckKind::Custom(probe));
    s.interval = 1000 * MS;
    s.fastinter = Some(100 * MS);
    s.downinter = Some(3000 * MS);
    s.timeout = 500 * MS;
    s.rise = 2;
    s.fall = 3;
    s
}

#[tokio::test(start_paused = true)]
async fn rise_and_fall_through_the_runner() {
    let probe = Scripted::new(&[true, true, true, false, false, false], 10 * MS);
    let shutdown = CancellationToken::new();
    let h = HealthRunner::new(vec![spec("web", probe.clone())])
        .unwrap()
        .with_seed(1)
        .spawn(shutdown.clone());
    let mut events = h.events();
    assert_eq!(h.status("web").unwrap().state, State::Down);

    let up = events.recv().await.unwrap();
    assert_eq!((&*up.name, up.from, up.to), ("web", State::Down, State::Up));
    assert_eq!(up.reason, Reason::Rise { successes: 2 });
    let down = events.recv().await.unwrap();
    assert_eq!((down.from, down.to), (State::Up, State::Down));
    assert!(matches!(down.reason, Reason::Fall { failures: 3, .. }));

    // Probe schedule: t=0 ok (10ms) -> fastinter -> ok at 110 (up, 120) -> 1s -> ok 1120..1130
    // -> fail 2130..2140 -> fastinter fail 2240..2250 -> fail 2350..2360: down.
    assert_eq!(down.at - up.at, 2240 * MS);

    let st = h.status("web").unwrap();
    assert_eq!(st.consecutive_fail, 3);
    assert_eq!(st.last_error.as_deref(), Some("scripted failure"));
    assert_eq!(st.counters.probes, 6);
    assert_eq!(st.counters.transitions, 2);
    shutdown.cancel();
    h.join().await;
}

#[tokio::test(start_paused = true)]
async fn one_probe_stream_many_subscribers() {
    let probe = Scripted::new(&[true], MS);
    let shutdown = CancellationToken::new();
    let h = HealthRunner::new(vec![spec("db", probe.clone())])
        .unwrap()
        .spawn(shutdown.clone());
    let subs: Vec<_> = (0..5).map(|_| h.subscribe("db").unwrap()).collect();
    let mut summary = h.subscribe_summary("db").unwrap();
    summary.changed().await.unwrap();
    assert_eq!(summary.borrow().state, State::Up);

    tokio::time::sleep(Duration::from_secs(10)).await;
    for s in &subs {
        assert_eq!(s.borrow().counters.probes, h.counters("db").unwrap().probes);
    }
    // One task: calls == probes completed (+1 if one is in flight), about 1 per second.
    let probes = h.counters("db").unwrap().probes as usize;
    let calls = probe.calls.load(Ordering::SeqCst);
    assert!(
        calls == probes || calls == probes + 1,
        "{calls} vs {probes}"
    );
    assert!((10..=13).contains(&probes), "{probes}");
    // Stable up: the summary did not wake again.
    assert!(!summary.has_changed().unwrap());
    shutdown.cancel();
    h.join().await;
}

#[tokio::test(start_paused = true)]
async fn override_at_runtime() {
    let probe = Scripted::new(&[true], MS);
    let shutdown = CancellationToken::new();
    let mut s = spec("api", probe);
    s.initial = Initial::Up;
    let h = HealthRunner::new(vec![s]).unwrap().spawn(shutdown.clone());
    let mut events = h.events();

    h.set_override("api", Override::Down).unwrap();
    let e = events.recv().await.unwrap();
    assert_eq!((e.from, e.to), (State::Up, State::Down));
    assert_eq!(e.reason, Reason::Override(Override::Down));
    let st = h.status("api").unwrap();
    assert_eq!(st.override_state, Override::Down);
    assert_eq!(st.state, State::Down);

    // Probes continue underneath.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let st = h.status("api").unwrap();
    assert!(st.counters.probes >= 2);
    assert_eq!(st.health, State::Up);
    assert_eq!(st.state, State::Down);

    h.set_override("api", Override::Auto).unwrap();
    let e = events.recv().await.unwrap();
    assert_eq!((e.from, e.to), (State::Down, State::Up));

    assert_eq!(
        h.set_override("nope", Override::Up),
        Err(UnknownCheck("nope".into()))
    );
    shutdown.cancel();
    h.join().await;
}

#[tokio::test(start_paused = true)]
async fn override_applies_during_a_slow_probe() {
    let probe = Scripted::new(&[true], 400 * MS);
    let shutdown = CancellationToken::new();
    let h = HealthRunner::new(vec![spec("slow", probe)])
        .unwrap()
        .spawn(shutdown.clone());
    let mut summary = h.subscribe_summary("slow").unwrap();
    tokio::time::sleep(100 * MS).await; // probe in flight
    h.set_override("slow", Override::Up).unwrap();
    summary.changed().await.unwrap();
    assert_eq!(summary.borrow().state, State::Up);
    assert_eq!(
        h.counters("slow").unwrap().probes,
        0,
        "applied before the probe ended"
    );
    shutdown.cancel();
    h.join().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_prompt_even_mid_probe() {
    let probe = Scripted::new(&[true], Duration::from_secs(3600));
    let shutdown = CancellationToken::new();
    let mut s = spec("stuck", probe);
    s.timeout = Duration::from_secs(7200);
    let h = HealthRunner::new(vec![s]).unwrap().spawn(shutdown.clone());
    tokio::time::sleep(10 * MS).await;
    let start = tokio::time::Instant::now();
    shutdown.cancel();
    h.join().await;
    assert!(start.elapsed() < 10 * MS);
}

#[tokio::test(start_paused = true)]
async fn probe_overrunning_its_timeout_is_a_timeout() {
    let probe = Scripted::new(&[true], Duration::from_secs(60));
    let shutdown = CancellationToken::new();
    let mut s = spec("hang", probe);
    s.fall = 1;
    s.initial = Initial::Up;
    let h = HealthRunner::new(vec![s]).unwrap().spawn(shutdown.clone());
    let mut events = h.events();
    let e = events.recv().await.unwrap();
    assert_eq!(e.to, State::Down);
    let c = h.counters("hang").unwrap();
    assert_eq!((c.timeouts, c.failures), (1, 1));
    shutdown.cancel();
    h.join().await;
}

#[test]
fn construction_errors() {
    let p = Scripted::new(&[true], MS);
    let err = HealthRunner::new(vec![spec("a", p.clone()), spec("a", p.clone())]).unwrap_err();
    assert_eq!(err, SpecError::Duplicate("a".into()));
    let mut bad = spec("b", p);
    bad.fall = 0;
    assert!(matches!(
        HealthRunner::new(vec![bad]).unwrap_err(),
        SpecError::Invalid { .. }
    ));
}

/// Real time, real sockets: a TCP backend that goes away is marked down after `fall` probes.
#[tokio::test]
async fn tcp_backend_going_away() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = l.local_addr().unwrap();
    let server = tokio::spawn(async move { while l.accept().await.is_ok() {} });
    let mut s = CheckSpec::new("tcp", CheckKind::Tcp(TcpCheck::new(target)));
    s.interval = 50 * MS;
    s.fastinter = Some(20 * MS);
    s.timeout = 200 * MS;
    s.rise = 1;
    s.fall = 2;
    s.jitter = 0.1;
    s.initial = Initial::Unknown;
    let shutdown = CancellationToken::new();
    let h = HealthRunner::new(vec![s]).unwrap().spawn(shutdown.clone());
    let mut events = h.events();
    let e = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((e.from, e.to), (State::Unknown, State::Up));

    server.abort();
    let _ = server.await; // listener dropped: connects are refused from now on
    let e = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((e.from, e.to), (State::Up, State::Down));
    assert!(
        matches!(&e.reason, Reason::Fall { failures: 2, last_error } if last_error == "connection refused")
    );
    shutdown.cancel();
    h.join().await;
}

/// Shutdown in the middle of an external command kills its whole process group.
#[tokio::test]
async fn shutdown_kills_a_running_command_group() {
    let pidfile = crate::servers::temp_path("shutdown-pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let mut s = CheckSpec::new(
        "script",
        CheckKind::Exec(health::ExecCheck {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script],
            dynamic: false,
        }),
    );
    s.timeout = Duration::from_secs(20);
    s.interval = Duration::from_secs(30);
    let shutdown = CancellationToken::new();
    let h = HealthRunner::new(vec![s]).unwrap().spawn(shutdown.clone());
    let mut pid = None;
    for _ in 0..100 {
        if let Some(p) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            pid = Some(p);
            break;
        }
        tokio::time::sleep(10 * MS).await;
    }
    let pid = pid.expect("script started");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), h.join())
        .await
        .expect("prompt shutdown");
    let _ = std::fs::remove_file(&pidfile);
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(|r| r.trim().starts_with('Z')))
            .is_some_and(|zombie| !zombie)
    };
    for _ in 0..50 {
        if !alive() {
            return;
        }
        tokio::time::sleep(20 * MS).await;
    }
    panic!("grandchild {pid} survived shutdown");
}
