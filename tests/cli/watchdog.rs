//! What outlives ptest when ptest itself dies (DESIGN §3 rule 8) or a config starts processes
//! (DESIGN §7): nothing. The watchdog stops every group after SIGKILL; processes that
//! `io.popen` and `os.execute` leave running are swept like a suite's.

use std::time::Duration;

use crate::probe::{Probed, alive, pid_in, wait_until};

#[test]
fn sigkill_of_ptest_leaves_no_suite_running() {
    const N: usize = 6;
    let p = Probed::new(&format!(
        "for i = 1, {N} do ptest.suite {{ name = 's' .. i, cmd = probe('s' .. i, 300) }} end\n\
         ptest.suite {{ name = 'deaf', cmd = \"trap '' TERM; echo $$ > deaf.pid; sleep 300 & echo $! > deaf-child.pid; wait\" }}\n"
    ));
    let mut child = p.spawn(&["-j", "16"]);
    let started = wait_until(Duration::from_secs(20), || {
        let s = p.spans();
        (1..=N).all(|i| {
            s.all
                .iter()
                .any(|x| x.name == format!("s{i}") && x.pids.len() == 2)
        }) && std::fs::read_to_string(p.p.join("deaf-child.pid")).is_ok_and(|s| s.ends_with('\n'))
    });
    assert!(started, "suites did not start: {:?}", p.spans().names());
    let pids: Vec<i32> = p.spans().all.iter().flat_map(|s| s.pids.clone()).collect();
    assert_eq!(pids.len(), 2 * N);
    let run_dirs = |pid: u32| -> Vec<std::path::PathBuf> {
        // The run's folder is $TMPDIR/ptest-RUN_ID; the suites' PTEST_TMPDIR lives inside it.
        let env = std::fs::read(format!("/proc/{}/environ", pids[0])).unwrap_or_default();
        let _ = pid;
        env.split(|&b| b == 0)
            .filter_map(|kv| kv.strip_prefix(b"PTEST_TMPDIR="))
            .map(|v| {
                std::path::Path::new(std::str::from_utf8(v).unwrap())
                    .parent()
                    .unwrap()
                    .to_path_buf()
            })
            .collect()
    };
    let folders = run_dirs(child.id());
    assert_eq!(folders.len(), 1, "the suite's PTEST_TMPDIR");
    assert!(folders[0].exists());

    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let mut all = pids.clone();
    all.push(pid_in(&p.p, "deaf.pid"));
    all.push(pid_in(&p.p, "deaf-child.pid"));
    let gone = wait_until(Duration::from_secs(30), || {
        all.iter().all(|&pid| !alive(pid))
    });
    let left: Vec<i32> = all.iter().copied().filter(|&pid| alive(pid)).collect();
    for &pid in &left {
        // SAFETY: kills a process this test's suites started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(gone, "processes outlived a SIGKILLed ptest: {left:?}");
    assert!(
        wait_until(Duration::from_secs(10), || !folders[0].exists()),
        "the run's folder {} is left behind",
        folders[0].display()
    );
}

#[test]
fn processes_a_config_starts_do_not_outlive_ptest() {
    let p = Probed::new(
        r#"
os.execute("sleep 300 & echo $! > execute.pid")
local f = io.popen("sleep 301 & echo $!")
local popen_pid = f:read("l")
f:close()
local out = io.open("popen.pid", "w"); out:write(popen_pid, "\n"); out:close()
ptest.on("suite_finished", function(r)
  os.execute("sleep 302 & echo $! > hook.pid")
end)
ptest.suite { name = "a", cmd = probe("a", 0) }
"#,
    );
    // Output to files: a stray holding the test's pipe would make waiting for it look like
    // ptest stopping it.
    let mut child = p.spawn(&[]);
    let code = crate::probe::wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(code, 0);
    let pids: Vec<i32> = ["execute.pid", "popen.pid", "hook.pid"]
        .iter()
        .map(|f| pid_in(&p.p, f))
        .collect();
    let gone = wait_until(Duration::from_secs(10), || {
        pids.iter().all(|&pid| !alive(pid))
    });
    let left: Vec<i32> = pids.iter().copied().filter(|&pid| alive(pid)).collect();
    for &pid in &left {
        // SAFETY: kills a process this test's config started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(
        gone,
        "processes the config started outlived ptest: {left:?}"
    );
}

/// A daemon that left its suite's group (`setsid`) has no group ptest announced: the watchdog
/// finds it by the run's id in its environment (issue 25.2).
#[test]
fn sigkill_of_ptest_leaves_no_setsid_daemon() {
    let p = Probed::new(
        "ptest.suite { name = 'd', cmd = \"setsid sh -c 'echo $$ > daemon.pid; exec sleep 300' & sleep 300\" }\n",
    );
    let mut child = p.spawn(&[]);
    assert!(
        wait_until(Duration::from_secs(20), || p.p.join("daemon.pid").exists()
            && std::fs::read_to_string(p.p.join("daemon.pid"))
                .is_ok_and(|s| s.ends_with('\n'))),
        "the daemon did not start"
    );
    let daemon = pid_in(&p.p, "daemon.pid");
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let gone = wait_until(Duration::from_secs(20), || !alive(daemon));
    if !gone {
        // SAFETY: kills a process this test's suite started.
        unsafe { libc::kill(daemon, libc::SIGKILL) };
    }
    assert!(gone, "a setsid daemon outlived a SIGKILLed ptest");
}

/// What the config starts while it is evaluated (a preset's `go list`, `cargo test --no-run`)
/// is the run's from the config's first line: a stop signal to ptest then stops it too
/// (issue 25.6).
#[test]
fn a_stop_signal_during_evaluation_leaves_nothing_the_config_started() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let p = Probed::new(
            r#"
local f = io.popen("sh -c 'echo $$ > lister.pid; exec sleep 300'")
f:read("a")
ptest.suite { name = "a", cmd = "true" }
"#,
        );
        let mut child = p.spawn(&[]);
        assert!(
            wait_until(Duration::from_secs(20), || std::fs::read_to_string(
                p.p.join("lister.pid")
            )
            .is_ok_and(|s| s.ends_with('\n'))),
            "the config's listing did not start"
        );
        let lister = pid_in(&p.p, "lister.pid");
        crate::probe::signal(&child, sig);
        let _ = crate::probe::wait_exit(&mut child, Duration::from_secs(30));
        let gone = wait_until(Duration::from_secs(20), || !alive(lister));
        if !gone {
            // SAFETY: kills a process this test's config started.
            unsafe { libc::kill(lister, libc::SIGKILL) };
        }
        assert!(
            gone,
            "signal {sig} during evaluation left the config's process running"
        );
    }
}
