//! `-v` holds no descriptor per running suite (issue 12 item 12): 256 suites that are all
//! running at the same moment, under `ulimit -n 64`, all pass and every line each wrote reaches
//! the `-v` output, in order, the last one without a newline included.
//!
//! "At the same moment" is made certain, not hoped for with a sleep: each suite records that it
//! started and then blocks on a FIFO that the test opens only once all of them have started.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::Project;

/// Each suite: five lines, the barrier, five lines, one without a newline.
const SUITE_SH: &str = r#"i=$1
for k in 1 2 3 4 5; do echo "before-$i-$k"; done
: > "started/$i"
read -r _ < go
for k in 1 2 3 4 5; do echo "after-$i-$k"; done
printf 'last-%s' "$i"
"#;

/// Waits until `n` suites have started, calls `at_barrier` while they are all running, then
/// lets them all go on. The FIFO stays open for writing until `until` returns, so a reader that
/// opens it late still finds its line.
pub(crate) fn release_together(
    dir: &Path,
    n: usize,
    at_barrier: impl FnOnce(),
    mut until: impl FnMut() -> bool,
) {
    let started = dir.join("started");
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let count = std::fs::read_dir(&started).map_or(0, Iterator::count);
        if count >= n {
            break;
        }
        assert!(
            Instant::now() < give_up && !until(),
            "only {count} of {n} suites started together"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    at_barrier();
    let mut go = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("go"))
        .expect("open the FIFO");
    go.write_all(&b"\n".repeat(n)).expect("release the suites");
    while !until() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn make_fifo(dir: &Path) {
    std::fs::create_dir(dir.join("started")).unwrap();
    let status = Command::new("mkfifo").arg(dir.join("go")).status().unwrap();
    assert!(status.success());
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// ptest's open descriptors while every suite was running (Linux: from /proc).
    fds: Option<usize>,
}

fn run(n: usize, verbose: bool) -> Run {
    let p = Project::new(&format!(
        "for i = 1, {n} do ptest.suite {{ name = 's' .. i, cmd = {{ 'sh', 'suite.sh', tostring(i) }} }} end\n"
    ));
    p.file("suite.sh", SUITE_SH);
    make_fifo(p.path());
    let flag = if verbose { "-v" } else { "-q" };
    let mut child = Command::new("sh")
        .current_dir(p.path())
        .env_remove("CI")
        .env_remove("PTEST_WORKERS")
        .args([
            "-c",
            &format!("ulimit -n 64 && exec \"$0\" {flag} -j {n} ptest.lua"),
        ])
        .arg(
            std::env::var_os("PTEST_TEST_BIN")
                .unwrap_or_else(|| env!("CARGO_BIN_EXE_ptest").into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stdout while the run goes on, so ptest never blocks on a full pipe.
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut { stdout }, &mut text).unwrap();
        text
    });
    let pid = child.id();
    let mut fds = None;
    let mut status = None;
    release_together(
        p.path(),
        n,
        || {
            fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .ok()
                .map(Iterator::count);
        },
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
    );
    let stdout = reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    Run {
        code: status.unwrap().code(),
        stdout,
        stderr,
        fds,
    }
}

#[test]
fn verbose_with_256_suites_running_at_once_under_ulimit_64_loses_no_line() {
    const N: usize = 256;
    let quiet = run(N, false);
    assert_eq!(quiet.code, Some(0), "{}", quiet.stderr);
    let out = run(N, true);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stderr, tail(&out.stdout));
    for i in 1..=N {
        let prefix = format!("s{i} | ");
        let mine: Vec<&str> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect();
        let mut want: Vec<String> = (1..=5).map(|k| format!("before-{i}-{k}")).collect();
        want.extend((1..=5).map(|k| format!("after-{i}-{k}")));
        want.push(format!("last-{i}"));
        assert_eq!(mine, want, "suite s{i}'s lines, in order");
    }
    // With all 256 running, -v holds what -q holds, give or take the one log it is reading.
    if let (Some(quiet), Some(verbose)) = (quiet.fds, out.fds) {
        assert!(
            verbose <= quiet + 1,
            "ptest held {verbose} descriptors with -v, {quiet} without"
        );
    }
}

fn tail(text: &str) -> &str {
    let mut from = text.len().saturating_sub(4000);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..]
}
