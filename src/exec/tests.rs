//! Tests of the executor against real processes: exit codes, signals, logs byte for byte, spawn
//! errors, timeouts, cancels, echo, the shutdown sweep and many attempts at once. Must not depend
//! on anything outside `crate::exec`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustix::process::Signal;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::exec::log::LineSplitter;
use crate::exec::{
    AttemptEnd, AttemptOutcome, AttemptSpec, CommandLine, Executor, LineSink, LogStart,
};

/// A sweep kills every stray child of the test process, whichever test left it. Tests that sweep,
/// and tests that keep a process alive which ignores SIGTERM (it would stretch another test's
/// sweep to its grace period), take turns.
static SWEEP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Far above what any of these needs, so a loaded machine does not make them flaky.
const PATIENCE: Duration = Duration::from_secs(15);

fn shell(line: &str) -> CommandLine {
    CommandLine::Shell(line.into())
}

fn argv(words: &[&str]) -> CommandLine {
    CommandLine::Argv(words.iter().map(|&word| word.into()).collect())
}

fn header(key: u64) -> String {
    format!("=== ptest: s{key} attempt 1/1 ===")
}

fn spec(key: u64, dir: &Path, command: CommandLine) -> AttemptSpec {
    AttemptSpec {
        key,
        command,
        cwd: dir.to_path_buf(),
        env: Vec::new(),
        log_path: dir.join(format!("s{key}.log")),
        header: header(key),
        timeout: Duration::from_secs(30),
        grace: Duration::from_secs(1),
        log_start: LogStart::Append,
        echo: None,
    }
}

async fn next(outcomes: &mut UnboundedReceiver<AttemptOutcome>) -> AttemptOutcome {
    tokio::time::timeout(PATIENCE, outcomes.recv())
        .await
        .expect("an outcome in time")
        .expect("the channel is open")
}

/// A new executor whose attempts carry a run id of their own, as a run's do: without a child
/// subreaper (the portable path) the shutdown sweep finds daemons by it.
fn executor() -> (Executor, UnboundedReceiver<AttemptOutcome>) {
    let (mut executor, outcomes) = Executor::new(None).unwrap();
    let id = format!("exec-test-{:016x}", fastrand::u64(..));
    executor.set_run_env(&[("PTEST_RUN_ID".to_owned(), id.into())]);
    (executor, outcomes)
}

async fn finish(executor: Executor) {
    let _turn = SWEEP.lock().await;
    executor.shutdown(Duration::from_secs(1)).await;
}

/// Runs one attempt on its own executor; returns the outcome and the attempt's output.
async fn run(spec: AttemptSpec) -> (AttemptOutcome, Vec<u8>) {
    let log_path = spec.log_path.clone();
    let (mut executor, mut outcomes) = executor();
    executor.start(spec);
    let outcome = next(&mut outcomes).await;
    finish(executor).await;
    let output = output_of(&outcome, &log_path);
    (outcome, output)
}

fn output_of(outcome: &AttemptOutcome, log_path: &Path) -> Vec<u8> {
    let log = std::fs::read(log_path).unwrap();
    log[outcome.log_start as usize..outcome.log_end as usize].to_vec()
}

/// A zombie still has its /proc entry, so this is also false only once the process is reaped.
fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

async fn gone_within(pid: i32, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while exists(pid) {
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// A pid that a test script writes to a file from a background process.
async fn pid_from(path: PathBuf) -> i32 {
    let until = Instant::now() + PATIENCE;
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if text.ends_with('\n') {
                return text.trim().parse().unwrap();
            }
        }
        assert!(
            Instant::now() < until,
            "{} was never written",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[derive(Default)]
struct Lines(Mutex<Vec<(String, Vec<u8>)>>);

impl LineSink for Lines {
    fn line(&self, prefix: &str, line: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .push((prefix.to_owned(), line.to_vec()));
    }
}

impl Lines {
    fn take(&self) -> Vec<Vec<u8>> {
        let lines = std::mem::take(&mut *self.0.lock().unwrap());
        lines
            .into_iter()
            .map(|(prefix, line)| {
                assert_eq!(prefix, "[p] ");
                line
            })
            .collect()
    }
}

fn echoing(mut spec: AttemptSpec) -> (AttemptSpec, Arc<Lines>) {
    let lines = Arc::new(Lines::default());
    let sink: Arc<dyn LineSink> = lines.clone();
    spec.echo = Some(("[p] ".to_owned(), sink));
    (spec, lines)
}

#[tokio::test]
async fn reports_exit_code_start_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let before = SystemTime::now();
    let (outcome, _) = run(spec(1, dir.path(), shell("sleep 0.3; exit 3"))).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(3));
    assert!(outcome.started >= before && outcome.started <= SystemTime::now());
    assert!(
        outcome.duration >= Duration::from_millis(300),
        "{outcome:?}"
    );
    assert!(outcome.duration < PATIENCE);

    let mut unbounded = spec(2, dir.path(), argv(&["true"]));
    unbounded.timeout = Duration::MAX;
    unbounded.grace = Duration::MAX;
    let (outcome, _) = run(unbounded).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
}

#[tokio::test]
async fn reports_the_signal_that_ended_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let (outcome, _) = run(spec(1, dir.path(), shell("kill -USR1 $$; sleep 5"))).await;
    assert_eq!(outcome.end, AttemptEnd::Signaled(Signal::USR1.as_raw()));
}

#[tokio::test]
async fn shell_lines_are_interpreted_and_argv_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut by_shell = spec(1, dir.path(), shell(r#"printf '%s|' "$X" $X"#));
    by_shell.env.push(("X".to_owned(), "x y".into()));
    let (outcome, output) = run(by_shell).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    assert_eq!(output, b"x y|x|y|");

    let by_argv = spec(2, dir.path(), argv(&["printf", "%s|", "a b", "$HOME", "*"]));
    let (outcome, output) = run(by_argv).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    assert_eq!(output, b"a b|$HOME|*|");
}

#[tokio::test]
async fn runs_in_its_folder_with_its_environment_on_top_of_ours() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut spec = spec(
        1,
        dir.path(),
        shell(r#"pwd -P; echo "$FOO"; echo "$HOME"; test -n "$PATH" && echo inherited"#),
    );
    spec.cwd.clone_from(&work);
    spec.env = vec![
        ("FOO".to_owned(), "bar".into()),
        ("HOME".to_owned(), "/elsewhere".into()),
    ];
    let (outcome, output) = run(spec).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    let expected = format!(
        "{}\nbar\n/elsewhere\ninherited\n",
        work.canonicalize().unwrap().display()
    );
    assert_eq!(String::from_utf8(output).unwrap(), expected);
}

#[tokio::test]
async fn log_holds_header_and_exact_bytes_in_write_order() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("suite.log");
    std::fs::write(&log_path, b"earlier\n").unwrap();
    let script = r"printf 'a\n'; printf 'b\n' >&2; printf '\377\376\n'; printf 'c' >&2; printf 'd'";
    let (mut executor, mut outcomes) = executor();

    let mut first = spec(1, dir.path(), shell(script));
    first.log_path.clone_from(&log_path);
    executor.start(first);
    let first = next(&mut outcomes).await;
    let mut second = spec(2, dir.path(), shell("printf 'again'"));
    second.log_path.clone_from(&log_path);
    executor.start(second);
    let second = next(&mut outcomes).await;
    finish(executor).await;

    let mut expected = b"earlier\n".to_vec();
    expected.extend_from_slice(format!("{}\n", header(1)).as_bytes());
    assert_eq!(first.log_start, expected.len() as u64);
    expected.extend_from_slice(b"a\nb\n\xff\xfe\ncd");
    assert_eq!(first.log_end, expected.len() as u64);
    expected.extend_from_slice(format!("{}\n", header(2)).as_bytes());
    assert_eq!(second.log_start, expected.len() as u64);
    expected.extend_from_slice(b"again");
    assert_eq!(second.log_end, expected.len() as u64);
    assert_eq!(std::fs::read(&log_path).unwrap(), expected);
}

#[tokio::test]
async fn large_output_goes_to_the_log_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (outcome, output) = run(spec(1, dir.path(), shell("head -c 20000000 /dev/urandom"))).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    assert_eq!(output.len(), 20_000_000);
}

#[tokio::test]
async fn spawn_failures_say_why_in_the_outcome_and_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("script.sh");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    let not_executable = not_executable.to_str().unwrap().to_owned();
    let missing_dir = dir.path().join("missing");

    let (mut executor, mut outcomes) = executor();
    executor.start(spec(
        1,
        dir.path(),
        argv(&["no-such-command-xyz", "--flag"]),
    ));
    executor.start(spec(2, dir.path(), argv(&[&not_executable])));
    let mut in_missing_dir = spec(3, dir.path(), argv(&["true"]));
    in_missing_dir.cwd.clone_from(&missing_dir);
    executor.start(in_missing_dir);
    executor.start(spec(4, dir.path(), argv(&[])));
    let mut unwritable_log = spec(5, dir.path(), argv(&["true"]));
    // A missing log folder is made again; one that is a file cannot be.
    unwritable_log.log_path = Path::new(&not_executable).join("s5.log");
    executor.start(unwritable_log);

    let mut seen = HashMap::new();
    for _ in 0..5 {
        let outcome = next(&mut outcomes).await;
        seen.insert(outcome.key, outcome);
    }
    assert_eq!(executor.running(), 0);
    finish(executor).await;

    let expected = [
        (1, "command not found: no-such-command-xyz".to_owned()),
        (2, format!("permission denied: {not_executable}")),
        (
            3,
            format!("working directory not found: {}", missing_dir.display()),
        ),
        (4, "empty command".to_owned()),
    ];
    for (key, message) in expected {
        let outcome = &seen[&key];
        assert_eq!(outcome.end, AttemptEnd::SpawnFailed(message.clone()));
        assert!(outcome.peak_rss_kb.is_none() && outcome.cpu_time.is_none());
        let log = std::fs::read(dir.path().join(format!("s{key}.log"))).unwrap();
        assert_eq!(
            log,
            format!("{}\nptest: {message}\n", header(key)).into_bytes()
        );
        assert_eq!(outcome.log_start as usize, header(key).len() + 1);
        assert_eq!(outcome.log_end as usize, log.len());
    }
    match &seen[&5].end {
        AttemptEnd::SpawnFailed(message) => assert!(message.starts_with("cannot open log file")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn timeout_stops_the_whole_group_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(
        1,
        dir.path(),
        shell("sleep 30 & echo $! > bg.pid; sleep 30; wait"),
    );
    spec.timeout = Duration::from_millis(500);
    spec.grace = Duration::from_secs(20);
    let clock = Instant::now();
    let (outcome, _) = run(spec).await;
    assert_eq!(outcome.end, AttemptEnd::TimedOut);
    assert!(outcome.duration >= Duration::from_millis(500));
    assert!(
        clock.elapsed() < Duration::from_secs(10),
        "{:?}",
        clock.elapsed()
    );
    let grandchild = pid_from(dir.path().join("bg.pid")).await;
    assert!(gone_within(grandchild, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn sigterm_ignored_means_sigkill_after_grace() {
    let _turn = SWEEP.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(1, dir.path(), shell("trap '' TERM; sleep 30"));
    spec.timeout = Duration::from_millis(300);
    spec.grace = Duration::from_secs(1);
    let (mut executor, mut outcomes) = executor();
    executor.start(spec);
    let outcome = next(&mut outcomes).await;
    executor.shutdown(Duration::from_secs(1)).await;
    assert_eq!(outcome.end, AttemptEnd::TimedOut);
    assert!(
        outcome.duration >= Duration::from_millis(1300),
        "{outcome:?}"
    );
    assert!(outcome.duration < Duration::from_secs(10), "{outcome:?}");
}

#[tokio::test]
async fn timed_out_leader_reports_while_a_grandchild_lingers_in_its_group() {
    let _turn = SWEEP.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let script = "(trap '' TERM; exec sleep 30) & echo started; sleep 30; wait";
    let (mut spec, lines) = echoing(spec(1, dir.path(), shell(script)));
    spec.timeout = Duration::from_millis(500);
    spec.grace = Duration::from_secs(20);
    let log_path = spec.log_path.clone();
    let (mut executor, mut outcomes) = executor();
    let clock = Instant::now();
    executor.start(spec);
    let outcome = next(&mut outcomes).await;
    assert_eq!(outcome.end, AttemptEnd::TimedOut);
    assert!(
        clock.elapsed() < Duration::from_secs(10),
        "{:?}",
        clock.elapsed()
    );
    assert_eq!(output_of(&outcome, &log_path), b"started\n");
    assert_eq!(lines.take(), vec![b"started".to_vec()]);

    // The grandchild ignores SIGTERM: the sweep's SIGKILL after one second ends it.
    let clock = Instant::now();
    executor.shutdown(Duration::from_secs(1)).await;
    assert!(
        clock.elapsed() < Duration::from_secs(10),
        "{:?}",
        clock.elapsed()
    );
}

#[tokio::test]
async fn echo_follows_what_a_grandchild_writes_after_the_leader_ended() {
    // Another test's shutdown sweep would stop the grandchild.
    let _turn = SWEEP.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let script = "echo first; (sleep 0.1; echo second; printf third) & exit 0";
    let (spec, lines) = echoing(spec(1, dir.path(), shell(script)));
    let (mut executor, mut outcomes) = executor();
    executor.start(spec);
    let outcome = next(&mut outcomes).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    assert_eq!(
        lines.take(),
        vec![b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
    );
    executor.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn cancel_stops_one_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut executor, mut outcomes) = executor();
    executor.start(spec(1, dir.path(), shell("sleep 30")));
    executor.start(spec(2, dir.path(), shell("sleep 0.2")));
    assert_eq!(executor.running(), 2);
    let clock = Instant::now();
    executor.cancel(1);
    executor.cancel(99);
    let mut ends: HashMap<u64, AttemptEnd> = HashMap::new();
    for _ in 0..2 {
        let outcome = next(&mut outcomes).await;
        ends.insert(outcome.key, outcome.end);
    }
    assert_eq!(ends[&1], AttemptEnd::Cancelled);
    assert_eq!(ends[&2], AttemptEnd::Exited(0));
    assert!(clock.elapsed() < Duration::from_secs(10));
    assert_eq!(executor.running(), 0);
    executor.cancel(1);
    finish(executor).await;
}

#[tokio::test]
async fn failures_before_exec_stay_with_their_own_attempt() {
    // Starts do not wait for the exec, so a failure is read back from the child's slot after it
    // ends; slots are reused while others are still busy. Interleave failing and passing starts
    // and check that no failure lands on the wrong attempt.
    let dir = tempfile::tempdir().unwrap();
    let (mut executor, mut outcomes) = executor();
    for key in 0..120 {
        let command = match key % 3 {
            0 => argv(&["no-such-command-xyz"]),
            1 => shell("exit 127"),
            _ => argv(&["true"]),
        };
        executor.start(spec(key, dir.path(), command));
    }
    for _ in 0..120 {
        let outcome = next(&mut outcomes).await;
        let expected = match outcome.key % 3 {
            0 => AttemptEnd::SpawnFailed("command not found: no-such-command-xyz".into()),
            // sh did exec: its own 127 is an exit code, not a failure to start.
            1 => AttemptEnd::Exited(127),
            _ => AttemptEnd::Exited(0),
        };
        assert_eq!(outcome.end, expected, "attempt {}", outcome.key);
    }
    assert_eq!(executor.running(), 0);
    finish(executor).await;
}

#[tokio::test]
async fn kill_all_does_not_wait_for_grace() {
    let _turn = SWEEP.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut executor, mut outcomes) = executor();
    for key in 1..=3 {
        let mut spec = spec(key, dir.path(), shell("trap '' TERM; sleep 30"));
        spec.grace = Duration::from_secs(30);
        executor.start(spec);
    }
    executor.cancel(1);
    let clock = Instant::now();
    executor.kill_all();
    for _ in 1..=3 {
        assert_eq!(next(&mut outcomes).await.end, AttemptEnd::Cancelled);
    }
    assert!(clock.elapsed() < Duration::from_secs(10));
    executor.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn echo_delivers_lines_and_the_log_keeps_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let script = r"printf 'one\ntwo\377\r\n'; printf 'err\n' >&2; printf '\n'; printf 'last'";
    let (spec, lines) = echoing(spec(1, dir.path(), shell(script)));
    let (outcome, output) = run(spec).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    assert_eq!(output, b"one\ntwo\xff\r\nerr\n\nlast");
    let expected: Vec<&[u8]> = vec![b"one", b"two\xff\r", b"err", b"", b"last"];
    assert_eq!(lines.take(), expected);
}

#[tokio::test]
async fn echo_of_much_output_and_a_huge_line() {
    let dir = tempfile::tempdir().unwrap();
    let (spec1, lines) = echoing(spec(1, dir.path(), shell("seq 1 100000")));
    let (outcome, output) = run(spec1).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    let expected: Vec<Vec<u8>> = (1..=100_000).map(|n| n.to_string().into_bytes()).collect();
    assert_eq!(
        output,
        expected
            .join(&b'\n')
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<u8>>()
    );
    assert_eq!(lines.take(), expected);

    let command = shell("head -c 3000000 /dev/zero | tr '\\0' x");
    let (spec2, lines) = echoing(spec(2, dir.path(), command));
    let (outcome, output) = run(spec2).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    assert_eq!(output, vec![b'x'; 3_000_000]);
    let pieces = lines.take();
    assert!(pieces.len() > 1 && pieces.iter().all(|piece| piece.len() <= 256 * 1024));
    assert_eq!(pieces.concat(), vec![b'x'; 3_000_000]);
}

#[tokio::test]
async fn shutdown_kills_daemons_and_leftover_group_members() {
    let _turn = SWEEP.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let script = r"setsid sh -c 'echo $$ > daemon.pid; exec sleep 300' &
        (sleep 300 & echo $! > leftover.pid) &
        exit 0";
    let (mut executor, mut outcomes) = executor();
    executor.start(spec(1, dir.path(), shell(script)));
    assert_eq!(next(&mut outcomes).await.end, AttemptEnd::Exited(0));
    let daemon = pid_from(dir.path().join("daemon.pid")).await;
    let leftover = pid_from(dir.path().join("leftover.pid")).await;
    // A suite may leave a daemon for a later suite: it outlives its attempt, not the run.
    assert!(exists(daemon) && exists(leftover));

    let clock = Instant::now();
    executor.shutdown(Duration::from_secs(30)).await;
    assert!(
        clock.elapsed() < Duration::from_secs(10),
        "{:?}",
        clock.elapsed()
    );
    assert!(!exists(daemon) && !exists(leftover));
}

#[tokio::test]
async fn shutdown_kills_a_daemon_that_ignores_sigterm() {
    let _turn = SWEEP.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let script = r#"setsid sh -c "trap '' TERM; echo \$\$ > daemon.pid; exec sleep 300" &"#;
    let (mut executor, mut outcomes) = executor();
    executor.start(spec(1, dir.path(), shell(script)));
    assert_eq!(next(&mut outcomes).await.end, AttemptEnd::Exited(0));
    let daemon = pid_from(dir.path().join("daemon.pid")).await;
    assert!(exists(daemon));

    let clock = Instant::now();
    executor.shutdown(Duration::from_secs(1)).await;
    assert!(clock.elapsed() >= Duration::from_millis(900));
    assert!(
        clock.elapsed() < Duration::from_secs(10),
        "{:?}",
        clock.elapsed()
    );
    assert!(!exists(daemon));
}

#[tokio::test]
async fn shutdown_cancels_what_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut executor, mut outcomes) = executor();
    executor.start(spec(1, dir.path(), shell("echo $$ > leader.pid; sleep 30")));
    let leader = pid_from(dir.path().join("leader.pid")).await;
    finish(executor).await;
    let outcome = outcomes
        .try_recv()
        .expect("reported before shutdown returned");
    assert_eq!(outcome.end, AttemptEnd::Cancelled);
    assert!(!exists(leader));
}

#[tokio::test]
async fn shutdown_with_nothing_left_does_not_wait_for_grace() {
    let dir = tempfile::tempdir().unwrap();
    let (mut executor, mut outcomes) = executor();
    executor.start(spec(1, dir.path(), argv(&["true"])));
    next(&mut outcomes).await;
    let _turn = SWEEP.lock().await;
    let clock = Instant::now();
    executor.shutdown(Duration::MAX).await;
    assert!(
        clock.elapsed() < Duration::from_secs(5),
        "{:?}",
        clock.elapsed()
    );
}

#[tokio::test]
async fn reports_peak_memory_and_cpu_time() {
    let dir = tempfile::tempdir().unwrap();
    let busy = "i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done";
    let (outcome, _) = run(spec(1, dir.path(), shell(busy))).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    assert!(outcome.peak_rss_kb.unwrap() > 100, "{outcome:?}");
    assert!(outcome.cpu_time.unwrap() > Duration::ZERO, "{outcome:?}");
}

#[tokio::test]
async fn hundreds_at_once_report_exactly_once_and_leak_no_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let fds_before = open_fds();
    let (mut executor, mut outcomes) = executor();
    let mut sinks = Vec::new();
    for key in 0..250 {
        let spec = spec(
            key,
            dir.path(),
            shell(&format!("echo {key}; exit {}", key % 5)),
        );
        if key % 5 == 0 {
            let (spec, lines) = echoing(spec);
            sinks.push((key, lines));
            executor.start(spec);
        } else {
            executor.start(spec);
        }
    }
    let mut seen = HashMap::new();
    for _ in 0..250 {
        let outcome = next(&mut outcomes).await;
        assert_eq!(outcome.end, AttemptEnd::Exited((outcome.key % 5) as i32));
        assert!(
            seen.insert(outcome.key, outcome).is_none(),
            "reported twice"
        );
    }
    assert_eq!(seen.len(), 250);
    assert_eq!(executor.running(), 0);
    for (key, lines) in sinks {
        assert_eq!(lines.take(), vec![key.to_string().into_bytes()]);
    }
    finish(executor).await;
    assert!(outcomes.try_recv().is_err());
    // Other tests open files meanwhile; a leak here would be hundreds.
    let fds_after = open_fds();
    assert!(fds_after < fds_before + 40, "{fds_before} -> {fds_after}");
}

#[test]
fn works_on_a_current_thread_runtime_with_a_local_set() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let dir = tempfile::tempdir().unwrap();
    let ends = local.block_on(&runtime, async {
        let (mut executor, mut outcomes) = executor();
        let (spec, _lines) = echoing(spec(1, dir.path(), shell("echo hi; exit 4")));
        executor.start(spec);
        let mut timed = self::spec(2, dir.path(), shell("sleep 30"));
        timed.timeout = Duration::from_millis(200);
        executor.start(timed);
        let scheduler = tokio::task::spawn_local(async move {
            let mut ends = vec![next(&mut outcomes).await, next(&mut outcomes).await];
            ends.sort_by_key(|outcome| outcome.key);
            finish(executor).await;
            ends.into_iter()
                .map(|outcome| outcome.end)
                .collect::<Vec<_>>()
        });
        scheduler.await.unwrap()
    });
    assert_eq!(ends, vec![AttemptEnd::Exited(4), AttemptEnd::TimedOut]);
}

#[test]
fn line_splitter_keeps_bytes_and_bounds_memory() {
    let mut splitter = LineSplitter::default();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut emit = |line: &[u8]| lines.push(line.to_vec());
    splitter.feed(b"ab", &mut emit);
    splitter.feed(b"c\n\nd\r\ne", &mut emit);
    splitter.feed(b"\xff", &mut emit);
    splitter.finish(&mut emit);
    splitter.finish(&mut emit);
    assert_eq!(
        lines,
        vec![
            b"abc".to_vec(),
            Vec::new(),
            b"d\r".to_vec(),
            b"e\xff".to_vec()
        ]
    );

    let mut pieces: Vec<usize> = Vec::new();
    let mut splitter = LineSplitter::default();
    for _ in 0..100 {
        splitter.feed(&[b'x'; 10_000], &mut |line: &[u8]| pieces.push(line.len()));
    }
    splitter.finish(&mut |line: &[u8]| pieces.push(line.len()));
    assert_eq!(pieces.iter().sum::<usize>(), 1_000_000);
    assert!(pieces.iter().all(|&len| len <= 128 * 1024));
}

#[tokio::test]
async fn kill_switch_cuts_a_shutdown_short() {
    let _turn = SWEEP.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let script = r#"setsid sh -c "trap '' TERM; echo \$\$ > daemon.pid; exec sleep 300" &"#;
    let (mut executor, mut outcomes) = executor();
    executor.start(spec(1, dir.path(), shell(script)));
    let mut running = spec(2, dir.path(), shell("trap '' TERM; sleep 30"));
    running.grace = Duration::from_secs(60);
    executor.start(running);
    assert_eq!(next(&mut outcomes).await.end, AttemptEnd::Exited(0));
    let daemon = pid_from(dir.path().join("daemon.pid")).await;

    let switch = executor.kill_switch();
    let second_ctrl_c = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        switch.fire();
    });
    let clock = Instant::now();
    executor.shutdown(Duration::from_secs(60)).await;
    assert!(
        clock.elapsed() < Duration::from_secs(10),
        "{:?}",
        clock.elapsed()
    );
    second_ctrl_c.join().unwrap();
    assert!(!exists(daemon));
    assert_eq!(next(&mut outcomes).await.end, AttemptEnd::Cancelled);
}

#[tokio::test]
async fn children_get_the_open_file_limit_ptest_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let (outcome, output) = run(spec(1, dir.path(), shell("ulimit -n"))).await;
    assert_eq!(outcome.end, AttemptEnd::Exited(0));
    let ours = crate::os::process::nofile();
    assert_eq!(ours.soft, ours.hard, "raised for ptest itself");
    let expected = crate::os::process::child_nofile().map_or(ours.soft, |l| l.soft);
    assert_eq!(
        String::from_utf8(output).unwrap().trim(),
        expected.to_string()
    );
}

#[tokio::test]
async fn children_reset_the_signals_ptest_handles_and_sigpipe() {
    let (executor, _outcomes) = executor();
    let signals = crate::os::spawn::Dispositions::current();
    // The executor's reaper handles SIGCHLD; Rust ignores SIGPIPE; SIGUSR2 gets a handler that
    // does nothing, so that it cannot kill ptest.
    assert!(signals.resets(Signal::CHILD));
    assert!(signals.resets(Signal::PIPE));
    assert!(signals.resets(Signal::USR2));
    assert!(!signals.resets(Signal::KILL) && !signals.resets(Signal::WINCH));
    finish(executor).await;
}
