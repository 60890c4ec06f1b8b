//! ptest never signals a process it did not start (DESIGN §7), even when the number of a process
//! group it started passes to someone else's process: a suite's leader exits, a background child
//! keeps the group alive for a while, then the group empties and the kernel hands the number to
//! an unrelated process (here forced through `ns_last_pid`, which takes root). The end-of-run
//! sweep (on both platform paths) and the watchdog after a SIGKILL must leave that process
//! alone.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::probe::{Probed, alive_with, pid_in, wait_exit, wait_until};

/// The config: `lingers` leaves a background child that keeps its group a moment after its
/// leader exits; `holds` keeps the run going until the test has forced the reuse, and writes
/// the run's id first, by which the test knows it from a later holder of its pid.
const CONFIG: &str = r#"
ptest.suite { name = "lingers", cmd = "echo $$ > lingers.pid; (sleep 0.3; echo > lingered) & exit 0" }
ptest.suite { name = "holds", cmd = "echo $PTEST_RUN_ID > holds.id; echo $$ > holds.pid; while [ ! -e reused ]; do sleep 0.02; done" }
"#;

/// A process of this test's own, not ptest's, that leads a session whose number is `want`:
/// `ns_last_pid` set just below it, then a start, until the kernel hands out that number (the
/// group must have emptied first, and another process may take it before us). `None` without
/// root, or when it never came.
fn unrelated_with_pid(dir: &Path, want: i32, limit: Duration) -> Option<Child> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let Ok(mut last) = std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/sys/kernel/ns_last_pid")
        else {
            return None;
        };
        if write!(last, "{}", want - 1).is_err() {
            return None;
        }
        drop(last);
        let mut child = Command::new("setsid")
            .args(["sleep", "120"])
            .current_dir(dir)
            .env_remove("PTEST_RUN_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        if child.id() as i32 == want {
            return Some(child);
        }
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// What /proc says of `pid` now, for a failure's message.
fn describe(pid: i32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    format!("stat {:?}, command {:?}", stat.trim(), cmdline.trim())
}

fn can_force_pids() -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/kernel/ns_last_pid")
        .is_ok()
}

/// Runs the scenario to ptest's end, by its own end (`kill: false`) or by SIGKILL (then until
/// the watchdog is done), and checks that the unrelated process (this test's child) lived.
fn scenario(env: &[(&str, &str)], kill: bool) {
    if !can_force_pids() {
        eprintln!("skipped: forcing a pid needs root (/proc/sys/kernel/ns_last_pid)");
        return;
    }
    let p = Probed::new(CONFIG);
    let mut cmd = p.p.cmd();
    cmd.args(["-j", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut ptest = cmd.spawn().unwrap();
    let ready = wait_until(Duration::from_secs(30), || {
        p.p.join("lingered").exists() && p.p.join("holds.pid").exists()
    });
    assert!(ready, "the suites did not get going");
    let group = pid_in(&p.p, "lingers.pid");
    let unrelated = unrelated_with_pid(p.p.path(), group, Duration::from_secs(20));
    let Some(mut unrelated) = unrelated else {
        let _ = ptest.kill();
        panic!("could not take pid {group} for an unrelated process");
    };
    if kill {
        ptest.kill().unwrap(); // SIGKILL: the watchdog takes over.
        let _ = ptest.wait();
        // The watchdog stops what is the run's: `holds` is its sign of having acted (stopped:
        // a zombie counts, whoever adopted it reaps it in its own time). Known by its pid and
        // the run's id in its environment: the pid alone may pass to another process as soon
        // as `holds` has gone, and forcing pids (here, and in the other tests of this file
        // running beside it) hands recently freed numbers out again at once.
        let holds = pid_in(&p.p, "holds.pid");
        let id = std::fs::read_to_string(p.p.join("holds.id")).unwrap();
        let marker = format!("PTEST_RUN_ID={}", id.trim());
        assert!(
            wait_until(Duration::from_secs(20), || !alive_with(holds, &marker)),
            "the watchdog did not stop the run's own suite: pid {holds} is {}",
            describe(holds)
        );
        // And gives it the time it would give a group before SIGKILL.
        std::thread::sleep(Duration::from_millis(2500));
    } else {
        std::fs::write(p.p.join("reused"), "").unwrap();
        assert_eq!(wait_exit(&mut ptest, Duration::from_secs(60)), 0);
    }
    let survived = unrelated.try_wait().unwrap().is_none();
    let _ = unrelated.kill();
    let status = unrelated.wait().unwrap();
    assert!(
        survived,
        "ptest signalled the unrelated process that got its old group number {group}: {status:?}"
    );
}

#[test]
fn the_linux_sweep_leaves_a_reused_group_number_alone() {
    scenario(&[], false);
}

#[test]
fn the_portable_sweep_leaves_a_reused_group_number_alone() {
    scenario(&[("PTEST_PLATFORM", "posix")], false);
}

#[test]
fn the_watchdog_leaves_a_reused_group_number_alone() {
    scenario(&[("PTEST_PLATFORM", "posix")], true);
}

#[test]
fn the_watchdog_on_the_linux_path_leaves_a_reused_group_number_alone() {
    scenario(&[], true);
}
