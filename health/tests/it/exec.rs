use std::time::{Duration, Instant};

use health::probe::exec;
use health::ExecCheck;

use crate::servers::{ctx, temp_path};

fn sh(script: &str) -> ExecCheck {
    ExecCheck {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        dynamic: false,
    }
}

#[tokio::test]
async fn exit_codes() {
    let r = exec::check(&sh("exit 0"), ctx(2000)).await;
    assert!(r.ok, "{r}");
    let r = exec::check(&sh("echo 'backend busy' >&2; exit 1"), ctx(2000)).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "exit status 1; stderr: backend busy");
}

#[tokio::test]
async fn dynamic_weight() {
    let mut s = sh("exit 7");
    assert!(!exec::check(&s, ctx(2000)).await.ok);
    s.dynamic = true;
    let r = exec::check(&s, ctx(2000)).await;
    assert!(r.ok);
    assert_eq!(r.weight, Some(5));
    s.args[1] = "exit 1".into();
    assert!(!exec::check(&s, ctx(2000)).await.ok);
}

#[tokio::test]
async fn output_tail_is_bounded() {
    let r = exec::check(&sh("seq 1 2000; exit 3"), ctx(2000)).await;
    assert!(!r.ok);
    assert!(r.detail.len() < 400, "{}", r.detail);
    assert!(r.detail.ends_with("1999 2000"), "{}", r.detail);
}

#[tokio::test]
async fn missing_program() {
    let s = ExecCheck {
        program: "/nonexistent/check".into(),
        args: vec![],
        dynamic: false,
    };
    let r = exec::check(&s, ctx(1000)).await;
    assert!(!r.ok);
    assert!(
        r.detail.starts_with("cannot run /nonexistent/check"),
        "{}",
        r.detail
    );
}

/// The state letter of a process from /proc, or None once it is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let pidfile = temp_path("pid");
    // The shell starts a background grandchild and records its pid, then waits.
    let script = format!("sleep 10 & echo $! > {}; wait", pidfile.display());
    let start = Instant::now();
    let r = exec::check(&sh(&script), ctx(400)).await;
    let took = start.elapsed();
    assert!(!r.ok && r.timed_out, "{r}");
    assert!(r.detail.contains("process group killed"), "{}", r.detail);
    assert!(took < Duration::from_secs(2), "{took:?}");

    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = std::fs::remove_file(&pidfile);
    // Killed: gone, or a zombie waiting for a reaper that is not us.
    let mut state = proc_state(pid);
    for _ in 0..50 {
        if matches!(state, None | Some('Z')) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        state = proc_state(pid);
    }
    assert!(
        matches!(state, None | Some('Z')),
        "grandchild {pid} still {state:?}"
    );
}

#[tokio::test]
async fn plain_sleep_is_killed_at_timeout() {
    let s = ExecCheck {
        program: "sleep".into(),
        args: vec!["10".into()],
        dynamic: false,
    };
    let start = Instant::now();
    let r = exec::check(&s, ctx(300)).await;
    assert!(r.timed_out);
    assert!(start.elapsed() < Duration::from_secs(2));
}
