//! Breaks found by re-running issue 12's attacks (and a few like them) on the release binary,
//! each kept fixed by a test that failed before its fix.

use std::time::{Duration, Instant};

use crate::probe::{Probed, signal, wait_exit, wait_until};

/// A `suite_finished` hook in an endless loop ran for its whole budget (5 s) once per cancelled
/// suite after Ctrl-C, and a second Ctrl-C ("kill at once") waited for each of them too: three
/// running suites took 15 s to stop. A stop signal now abandons the callback it interrupts, and
/// after the second no callback runs.
#[test]
fn a_second_ctrl_c_is_not_held_up_by_endless_hooks() {
    let p = Probed::new(
        r#"
ptest.on("suite_finished", function(r) while true do end end)
for i = 1, 3 do ptest.suite { name = "s" .. i, cmd = probe("s" .. i, 30) } end
"#,
    );
    let mut child = p.spawn(&["-j", "3"]);
    assert!(wait_until(Duration::from_secs(20), || {
        let spans = p.spans();
        (1..=3).all(|i| spans.ran(&format!("s{i}")))
    }));
    let clock = Instant::now();
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGINT);
    let code = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(code, 130);
    assert!(
        clock.elapsed() < Duration::from_secs(4),
        "took {:?} to stop",
        clock.elapsed()
    );
    let stderr = std::fs::read_to_string(p.p.join("stderr.txt")).unwrap();
    assert!(
        stderr.contains("abandoned: ptest was asked to stop"),
        "{stderr}"
    );
    p.spans().assert_no_process_left();
}

/// A hook stuck in one long C call (a backtracking `string.find`, which no instruction count
/// interrupts) held the scheduler's thread: Ctrl-C and a second Ctrl-C did nothing until the
/// call returned (9 to 19 s on 64 KiB, minutes here). A second stop signal now ends ptest
/// within a second whatever it is doing, and the watchdog stops what still ran (issue 25.3).
#[test]
fn a_second_ctrl_c_ends_ptest_while_a_hook_is_stuck_in_one_long_c_call() {
    let p = Probed::new(
        r#"
ptest.on("suite_finished", function(r)
  if r.name == "quick" then
    local f = io.open("hook.started", "w")
    f:write("started\n")
    f:close()
    local text = ("a"):rep(20000)
    text:find(".-.-.-.-b")
  end
end)
ptest.suite { name = "quick", cmd = "true" }
ptest.suite { name = "long", cmd = probe("long", 60) }
"#,
    );
    let mut child = p.spawn(&["-j", "2"]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            p.spans().ran("long")
                && std::fs::read_to_string(p.p.join("hook.started"))
                    .is_ok_and(|s| s.ends_with('\n'))
        }),
        "the hook did not start"
    );
    let clock = Instant::now();
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGINT);
    let code = wait_exit(&mut child, Duration::from_secs(30));
    let took = clock.elapsed();
    assert_eq!(code, 130);
    assert!(took < Duration::from_secs(3), "took {took:?} to stop");
    let stderr = std::fs::read_to_string(p.p.join("stderr.txt")).unwrap();
    assert!(stderr.contains("stopped at once"), "{stderr}");
    p.spans()
        .assert_no_process_left_within(Duration::from_secs(15));
}

/// `os.execute("... &")` in a `run_finished` hook left its process running after ptest exited:
/// the end-of-run sweep had already happened when the last hook ran. The sweep now runs again
/// after it (only when such a hook exists).
#[test]
fn what_a_run_finished_hook_starts_does_not_outlive_ptest() {
    let p = Probed::new(
        r#"
ptest.on("run_finished", function()
  os.execute("sh -c 'echo $$ > hook.pid; exec sleep 300' >/dev/null 2>&1 &")
  -- The file exists before the shell has written its line: wait for the whole line.
  local deadline = os.time() + 10
  while os.time() < deadline do
    local f = io.open("hook.pid")
    local line = f and f:read("a") or ""
    if f then f:close() end
    if line:find("\n") then break end
  end
end)
ptest.suite { name = "a", cmd = probe("a", 0) }
"#,
    );
    let out = p.p.run(&["-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pid: libc::pid_t = std::fs::read_to_string(p.p.join("hook.pid"))
        .expect("the hook started its process")
        .trim()
        .parse()
        .unwrap();
    // Without a subreaper (PTEST_PLATFORM=posix) init reaps it, moments later.
    let gone = wait_until(Duration::from_secs(5), || {
        // SAFETY: signal 0 only asks whether the process exists.
        let rc = unsafe { libc::kill(pid, 0) };
        rc != 0
    });
    if !gone {
        // SAFETY: the process the hook started, still there: stopped so it does not linger.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(gone, "the hook's process {pid} outlived ptest");
}

/// A request line that is not UTF-8 closed the connection without an answer; it gets `err`
/// like any other malformed request now, and the connection stays usable.
#[test]
fn a_socket_request_that_is_not_utf8_gets_an_error_reply() {
    let p = crate::harness::Project::new(
        r#"
ptest.limiter { name = "api", rate = 1000 }
ptest.suite { name = "c", cmd = { "python3", "client.py" } }
"#,
    );
    p.file(
        "client.py",
        r#"import os, socket
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["PTEST_SOCKET"])
f = s.makefile("rwb")
for req in (b"acquire \xff\xfe\n", b"acquire api\n"):
    f.write(req); f.flush()
    print(f.readline().decode("utf-8", "replace").strip())
"#,
    );
    let out = p.run(&["-q"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(p.join("test-logs/c.log")).unwrap();
    let replies: Vec<&str> = log.lines().skip(1).collect();
    assert_eq!(replies.len(), 2, "{log}");
    assert!(replies[0].starts_with("err unknown limiter"), "{log}");
    assert_eq!(replies[1], "ok", "{log}");
}
