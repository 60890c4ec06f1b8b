//! How suites' processes are started and stopped (DESIGN §5, §3 rules 6 and 8): each in its own
//! session without a controlling terminal, one SIGTERM per group per stop, a start that meets the
//! process limit delayed rather than failed.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::probe::{Probed, alive, status, suite, wait_exit};

/// A pty pair: the test keeps the master open while ptest runs with the slave as its
/// controlling terminal (as under an interactive shell).
fn open_pty() -> (libc::c_int, std::ffi::CString) {
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r work on the new descriptor and our buffer.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        #[cfg(target_os = "linux")]
        let name = {
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
            std::ffi::CStr::from_ptr(name.as_ptr()).to_owned()
        };
        // macOS has no ptsname_r in libc's bindings; only the Linux run of this test opens one.
        #[cfg(not(target_os = "linux"))]
        let name = std::ffi::CStr::from_ptr(libc::ptsname(master)).to_owned();
        (master, name)
    }
}

/// A suite that reads `/dev/tty` while ptest has a terminal used to be stopped by SIGTTIN (it ran
/// in a background group of ptest's session) and hang until its timeout.
#[test]
fn a_suite_has_no_controlling_terminal() {
    let p = Probed::new(
        r#"
ptest.suite {
  name = "tty-open",
  cmd = "if (exec 3</dev/tty) 2>/dev/null; then echo HAS_TTY; exit 1; else echo NO_TTY; fi",
}
ptest.suite { name = "tty-read", cmd = "read line < /dev/tty", timeout = "10s" }
ptest.suite {
  name = "session",
  cmd = "cut -d' ' -f6 /proc/self/stat > sid.txt; echo $$ > pid.txt",
}
"#,
    );
    let (master, slave) = open_pty();
    let mut cmd = p.p.cmd();
    cmd.args(["-j", "3"])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(p.p.join("stdout.txt")).unwrap())
        .stderr(std::fs::File::create(p.p.join("stderr.txt")).unwrap());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = libc::open(slave.as_ptr(), libc::O_RDWR);
            // The request's type differs: c_ulong on Linux, u32 on macOS.
            #[allow(clippy::unnecessary_cast, clippy::cast_lossless)]
            let request = libc::TIOCSCTTY as libc::c_ulong;
            if fd < 0 || libc::ioctl(fd, request, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let t = std::time::Instant::now();
    let mut child = cmd.spawn().unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(60));
    let took = t.elapsed();
    // SAFETY: closes the descriptor open_pty made.
    unsafe { libc::close(master) };
    let stdout = std::fs::read_to_string(p.p.join("stdout.txt")).unwrap();
    assert_eq!(code, 1, "{stdout}");
    let r = p.report();
    assert_eq!(status(&r, "tty-open"), "passed", "{stdout}");
    assert_eq!(
        status(&r, "tty-read"),
        "failed",
        "reading /dev/tty fails at once instead of hanging: {}",
        suite(&r, "tty-read")
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let sid = std::fs::read_to_string(p.p.join("sid.txt")).unwrap();
    let pid = std::fs::read_to_string(p.p.join("pid.txt")).unwrap();
    assert_eq!(sid.trim(), pid.trim(), "the suite leads its own session");
}

/// On a timeout, a program under `sh -c 'prog; ...'` got SIGTERM from the timeout and again 1 ms
/// later from the end-of-run sweep; a nested ptest read the second as "kill now".
#[test]
fn one_sigterm_per_group_per_stop() {
    let p = Probed::new(
        r#"
ptest.config { grace = "3s" }
ptest.suite {
  name = "nested", timeout = "1s",
  cmd = "sh term.sh; echo after",
}
"#,
    );
    // Counts each SIGTERM, ends two seconds after the first.
    p.p.file(
        "term.sh",
        "echo $$ > term.pid\n\
         trap 'echo TERM >> terms.txt; n=$((n+1))' TERM\n\
         n=0; i=0\n\
         while [ $i -lt 200 ]; do\n\
           if [ $n -gt 0 ]; then j=$((j+1)); [ $j -gt 40 ] && exit 0; fi\n\
           sleep 0.05; i=$((i+1))\n\
         done\n",
    );
    let run = p.run(&[]);
    assert_eq!(run.out.code, 1, "{}", run.out.stdout);
    assert_eq!(status(&p.report(), "nested"), "timed_out");
    let terms = std::fs::read_to_string(p.p.join("terms.txt")).unwrap_or_default();
    assert_eq!(terms.lines().count(), 1, "SIGTERMs received: {terms:?}");
    let pid = crate::probe::pid_in(&p.p, "term.pid");
    assert!(!alive(pid));
}

/// Under a process limit (`ulimit -u`), clone fails with EAGAIN: such a start is delayed and
/// tried again, never a failed suite. The limit does not bind root, so ptest runs as a user id
/// nobody else uses, where only its own processes count.
#[test]
fn a_start_refused_by_the_process_limit_waits_and_retries() {
    // SAFETY: geteuid reads our own user id.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "this test needs root in CI (to run ptest as another user)"
        );
        println!("skipped: needs root to run ptest under another user's process limit");
        return;
    }
    const N: usize = 12;
    // In /tmp, which every user can reach: the other user cannot open the temp folder when it
    // is a ptest attempt's own (these tests run under ptest too).
    let p = Probed::new_in(
        std::path::Path::new("/tmp"),
        &format!(
            "for i = 1, {N} do ptest.suite {{ name = 's' .. i, cmd = {{ 'sleep', '0.3' }} }} end\n"
        ),
    );
    std::fs::set_permissions(
        p.p.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let mut cmd = p.p.cmd();
    // The run's own folder goes where that user may write, too.
    cmd.args(["-j", &N.to_string()]).env("TMPDIR", "/tmp");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // ptest's own threads and about three suites at a time fit.
            let limit = libc::rlimit {
                rlim_cur: 8,
                rlim_max: 8,
            };
            let uid = 54_321;
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(uid) != 0
                || libc::setrlimit(libc::RLIMIT_NPROC, &raw const limit) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = crate::harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let r = p.report();
    assert_eq!(r["summary"]["passed"], N, "{}", out.stdout);
    let delayed = (1..=N)
        .filter(|i| {
            std::fs::read_to_string(p.p.join(&format!("test-logs/s{i}.log")))
                .unwrap()
                .contains("the process limit is reached")
        })
        .count();
    assert!(
        delayed > 0,
        "the limit never bound: the test proves nothing"
    );
}
