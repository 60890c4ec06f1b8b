//! Stopping things (DESIGN §3 rules 5–8): timeouts that fire even when the process ignores
//! SIGTERM or a daemon holds its output, grandchildren and daemons killed by the end of the run,
//! SIGINT and SIGTERM to ptest (exit 130, report written, nothing left running), a second Ctrl-C.

use std::time::Duration;

use crate::probe::{
    Probed, alive, pid_in, signal, skip_reason, status, suite, timed, wait_exit, wait_until,
};

#[test]
fn timeout_ends_a_sleeper_within_seconds() {
    let p = Probed::new(
        r#"
ptest.suite { name = "sleeper", cmd = probe("sleeper", 30), timeout = "1s" }
ptest.suite { name = "quick", cmd = probe("quick", 0) }
"#,
    );
    let (run, took) = timed(&p, &["-j", "2"]);
    assert_eq!(run.out.code, 1, "{}", run.out.stdout);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(run.spans.get("sleeper").end.is_none());
    run.spans.assert_no_process_left();
    let r = p.report();
    let s = suite(&r, "sleeper");
    assert_eq!(s["status"], "timed_out");
    let message = s["error_message"].as_str().unwrap();
    assert!(message.starts_with("timed out after 1"), "{message}");
    assert!(s["duration"].as_f64().unwrap() < 10.0);
    assert_eq!(r["summary"]["timed_out"], 1);
    assert_eq!(status(&r, "quick"), "passed");
    assert!(run.out.stdout.contains("TIMEOUT"), "{}", run.out.stdout);
}

#[test]
fn timeout_kills_a_group_that_ignores_sigterm_after_the_grace_period() {
    let p = Probed::new(
        r#"
ptest.config { grace = "1s" }
ptest.suite {
  name = "stubborn", timeout = "1s",
  cmd = "trap '' TERM; sleep 30 & echo $! > child.pid; echo $$ > sh.pid; wait; wait; wait",
}
"#,
    );
    let (run, took) = timed(&p, &[]);
    assert_eq!(run.out.code, 1);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(status(&p.report(), "stubborn"), "timed_out");
    assert!(!alive(pid_in(&p.p, "child.pid")));
    assert!(!alive(pid_in(&p.p, "sh.pid")));
}

/// With `-v` output goes through a pipe; a daemon that keeps it open must not keep the suite
/// (or the run) from ending.
#[test]
fn timeout_fires_while_a_daemon_holds_the_output_open() {
    let p = Probed::new(
        r#"
ptest.suite {
  name = "holder", timeout = "1s",
  cmd = "setsid sleep 30 & echo $! > daemon.pid; echo started; sleep 30",
}
"#,
    );
    let t = std::time::Instant::now();
    let out = p.p.run(&["-v"]);
    let took = t.elapsed();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(out.stdout.contains("holder | started"), "{}", out.stdout);
    assert_eq!(status(&p.report(), "holder"), "timed_out");
    assert!(!alive(pid_in(&p.p, "daemon.pid")));
}

#[test]
fn grandchildren_and_daemons_do_not_outlive_the_run() {
    let p = Probed::new(
        r#"
ptest.config { grace = "1s" }
ptest.suite { name = "grandchild", cmd = "sleep 300 & echo $! > grandchild.pid" }
ptest.suite {
  name = "setsid", cmd = "setsid sh -c 'echo $$ > setsid.pid; exec sleep 300' > /dev/null 2>&1 &",
}
ptest.suite {
  name = "double-fork",
  cmd = "sh -c 'setsid sh -c \"sleep 300 & echo \\$! > double.pid\" &' ; sleep 0.2",
}
ptest.suite {
  name = "deaf-daemon",
  cmd = "setsid sh -c 'trap \"\" TERM; echo $$ > deaf.pid; sleep 300' > /dev/null 2>&1 &",
}
"#,
    );
    let (run, took) = timed(&p, &["-j", "4"]);
    assert_eq!(run.out.code, 0, "{}\n{}", run.out.stdout, run.out.stderr);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    for file in ["grandchild.pid", "setsid.pid", "double.pid", "deaf.pid"] {
        let pid = pid_in(&p.p, file);
        assert!(!alive(pid), "{file}: process {pid} outlived ptest");
    }
}

/// Spawn ptest on three 30-second suites at `-j 2` and an `always` teardown, wait until two
/// suites run, then send `sig`.
fn interrupt_mid_run(sig: libc::c_int) {
    let p = Probed::new(
        r#"
ptest.config { grace = "2s" }
ptest.phase { name = "main" }
ptest.phase { name = "teardown", always = true }
ptest.suite {
  name = "daemon", phase = "main",
  cmd = "setsid sh -c 'echo $$ > daemon.pid; exec sleep 300' > /dev/null 2>&1 & sleep 30",
}
for _, n in ipairs({ "a", "b", "c" }) do
  ptest.suite { name = n, phase = "main", cmd = probe(n, 30) }
end
ptest.suite { name = "stop-db", phase = "teardown", cmd = probe("stop-db", 0) }
"#,
    );
    let mut child = p.spawn(&["-j", "3"]);
    let running = wait_until(Duration::from_secs(10), || {
        let s = p.spans();
        s.ran("a") && s.ran("b") && p.p.join("daemon.pid").exists()
    });
    assert!(running, "suites did not start: {:?}", p.spans().names());
    signal(&child, sig);
    let code = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 130);

    let spans = p.spans();
    assert!(!spans.ran("c"));
    spans.assert_no_process_left();
    assert!(
        !alive(pid_in(&p.p, "daemon.pid")),
        "the daemon outlived ptest"
    );
    let r = p.report();
    assert_eq!(status(&r, "a"), "cancelled");
    assert_eq!(status(&r, "b"), "cancelled");
    assert_eq!(status(&r, "daemon"), "cancelled");
    assert_eq!(status(&r, "c"), "skipped");
    assert_eq!(skip_reason(&r, "c"), "interrupted");
    assert_eq!(
        status(&r, "stop-db"),
        "passed",
        "the always phase runs after Ctrl-C"
    );
    assert_eq!(r["summary"]["cancelled"], 3);
    assert_eq!(r["summary"]["interrupted"], true);
    let leftovers: Vec<_> = std::fs::read_dir(p.p.join("test-logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn sigint_cancels_reports_and_exits_130() {
    interrupt_mid_run(libc::SIGINT);
}

#[test]
fn sigterm_cancels_reports_and_exits_130() {
    interrupt_mid_run(libc::SIGTERM);
}

#[test]
fn a_second_ctrl_c_kills_at_once() {
    let p = Probed::new(
        r#"
ptest.config { grace = "60s" }
ptest.phase { name = "main" }
ptest.phase { name = "teardown", always = true }
ptest.suite {
  name = "deaf", phase = "main",
  cmd = "trap '' TERM; echo $$ > deaf.pid; sleep 60 & echo $! > sleep.pid; wait; wait; wait",
}
ptest.suite { name = "stop-db", phase = "teardown", cmd = probe("stop-db", 0) }
"#,
    );
    let t = std::time::Instant::now();
    let mut child = p.spawn(&[]);
    assert!(wait_until(Duration::from_secs(10), || p
        .p
        .join("sleep.pid")
        .exists()));
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first Ctrl-C waits for the grace period"
    );
    signal(&child, libc::SIGINT);
    let code = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 130);
    assert!(t.elapsed() < Duration::from_secs(15));
    assert!(!alive(pid_in(&p.p, "deaf.pid")));
    assert!(!alive(pid_in(&p.p, "sleep.pid")));
    let r = p.report();
    assert_eq!(status(&r, "deaf"), "cancelled");
    assert_eq!(
        status(&r, "stop-db"),
        "skipped",
        "a second Ctrl-C skips always phases"
    );
    assert!(!p.spans().ran("stop-db"));
}

#[test]
fn suites_end_when_ptest_starts_with_sigchld_blocked() {
    // A parent that blocks SIGCHLD passes the mask on (some process supervisors do). ptest reads
    // SIGCHLD from a signalfd, which sees a blocked signal; a signal handler never ran, and such
    // a run waited forever for its first suite. The deadline only bounds a regression.
    let p = crate::harness::Project::new(
        r#"for i = 1, 3 do ptest.suite { name = "s" .. i, cmd = "true" } end"#,
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ptest"));
    cmd.current_dir(p.path())
        .args(["-q", "ptest.lua"])
        .stdout(std::process::Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            libc::sigaddset(&raw mut set, libc::SIGCHLD);
            libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let status = status.expect("ptest ended (it was killed after 60 s)");
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("3 suites: 3 passed"), "{stdout}");
}

/// SIGHUP (the terminal closed) and SIGQUIT killed ptest at once, leaving its suites running and
/// no report: they stop a run as SIGTERM does (DESIGN §3 rule 8).
#[test]
fn sighup_cancels_reports_and_exits_130() {
    interrupt_mid_run(libc::SIGHUP);
}

#[test]
fn sigquit_cancels_reports_and_exits_130() {
    interrupt_mid_run(libc::SIGQUIT);
}

/// SIGUSR1, SIGUSR2 and SIGALRM killed ptest; they must not, nor reach its suites as ignored.
#[test]
fn usr1_usr2_and_alrm_do_not_kill_ptest() {
    let p = Probed::new(
        r#"
ptest.suite { name = "long", cmd = probe("long", 2) }
ptest.suite { name = "later", cmd = "sleep 1.5; grep -E '^Sig(Ign|Cgt)' /proc/self/status > dispositions.txt" }
"#,
    );
    let mut child = p.spawn(&["-j", "2"]);
    assert!(wait_until(Duration::from_secs(10), || p
        .spans()
        .ran("long")));
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM] {
        signal(&child, sig);
        std::thread::sleep(Duration::from_millis(100));
    }
    let code = wait_exit(&mut child, Duration::from_secs(30));
    let stdout = std::fs::read_to_string(p.p.join("stdout.txt")).unwrap();
    assert_eq!(code, 0, "{stdout}");
    let r = p.report();
    assert_eq!(status(&r, "long"), "passed");
    assert_eq!(status(&r, "later"), "passed");
    // A suite started after ptest set these up still gets them as a fresh process does.
    let text = std::fs::read_to_string(p.p.join("dispositions.txt")).unwrap();
    for line in text.lines() {
        let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
        for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM] {
            assert_eq!(mask & (1 << (sig - 1)), 0, "{line}: signal {sig}");
        }
    }
}

/// During the final sweep (a suite left a daemon that ignores SIGTERM, the grace period is
/// long), a SIGTERM to ptest was ignored for the whole grace period: it kills at once there too.
#[test]
fn a_signal_during_the_final_sweep_kills_at_once() {
    let p = Probed::new(
        r#"
ptest.config { grace = "120s" }
ptest.suite {
  name = "leaves-deaf",
  cmd = "sh -c 'trap \"\" TERM; echo $$ > deaf.pid; exec sleep 300' > /dev/null 2>&1 & sleep 0.2; echo done > done.txt",
}
"#,
    );
    let t = std::time::Instant::now();
    let mut child = p.spawn(&[]);
    assert!(wait_until(Duration::from_secs(10), || p
        .p
        .join("done.txt")
        .exists()));
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the sweep waits for the grace period"
    );
    signal(&child, libc::SIGTERM);
    let code = wait_exit(&mut child, Duration::from_secs(30));
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    assert_eq!(code, 130);
    assert!(!alive(pid_in(&p.p, "deaf.pid")));
    assert_eq!(status(&p.report(), "leaves-deaf"), "passed");
}
