//! `ptest libtest`: runs Rust test binaries (libtest's harness, as `cargo test` builds them), one
//! after another, each on its share of a batch part's items (`BINARY/TEST`), and writes what
//! they reported as JUnit XML, for the batch's `results` (DESIGN §9). On stable Rust
//! libtest writes no machine-readable output, so its usual text is read as it goes by: passed
//! through unchanged (the suite's log looks as it always did), each `test NAME ... ok|FAILED|
//! ignored` line an outcome, the time between a test's start and its line its duration (exact
//! with `--test-threads=1`, where libtest prints the name before it runs the test), and each
//! `---- NAME stdout ----` section of the failures the failed test's text and panic message.
//! Knows nothing of plans or runs: the scheduler reads the file like any other JUnit.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::report::junit::xml;

/// How one test ended, as libtest says it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Passed,
    Failed,
    /// `ignored` (with `#[ignore = "reason"]`, the reason).
    Ignored(Option<String>),
    /// It started and the binary ended before it did (a crash, `process::exit`, a signal).
    Unfinished,
}

impl Outcome {
    /// As the record says it (an unfinished test is an error, as its testcase is).
    fn record(&self) -> crate::record::Outcome {
        match self {
            Outcome::Passed => crate::record::Outcome::Passed,
            Outcome::Failed => crate::record::Outcome::Failed,
            Outcome::Ignored(_) => crate::record::Outcome::Skipped,
            Outcome::Unfinished => crate::record::Outcome::Error,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Test {
    pub name: String,
    pub outcome: Outcome,
    /// Seconds.
    pub time: f64,
    /// What the test printed, from the failures section.
    pub output: Option<String>,
}

/// Where the reader is in libtest's output.
#[derive(Debug, Clone, PartialEq)]
enum Section {
    /// The `test NAME ... RESULT` lines.
    Results,
    /// Inside `---- NAME stdout ----`, of a failure (true) or a success (`--show-output`).
    Output { name: String, failure: bool },
    /// After a `failures:` or `successes:` heading: the next section's kind.
    Heading { failure: bool },
}

/// Reads libtest's output, chunk by chunk, as it arrives.
pub(crate) struct Reader {
    line: Vec<u8>,
    /// The test whose name was printed and whose result was not yet: since when.
    running: Option<(String, Instant)>,
    /// A `test NAME ... ` line whose result came on a line of its own (the test wrote to the
    /// terminal directly).
    waiting: Option<String>,
    last: Instant,
    section: Section,
    pub tests: Vec<Test>,
}

impl Reader {
    pub(crate) fn new(start: Instant) -> Reader {
        Reader {
            line: Vec::new(),
            running: None,
            waiting: None,
            last: start,
            section: Section::Results,
            tests: Vec::new(),
        }
    }

    /// Bytes the binary wrote, read at `now`.
    pub(crate) fn feed(&mut self, bytes: &[u8], now: Instant) {
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..i]);
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
            self.on_line(line.strip_suffix('\r').unwrap_or(&line), now);
            rest = &rest[i + 1..];
        }
        self.line.extend_from_slice(rest);
        // With one test thread, libtest prints `test NAME ... ` when the test starts.
        if self.running.is_none() && self.section == Section::Results {
            let partial = String::from_utf8_lossy(&self.line);
            if let Some(name) = partial
                .strip_prefix("test ")
                .and_then(|r| r.strip_suffix(" ... "))
            {
                self.running = Some((test_name(name).to_owned(), now));
            }
        }
    }

    fn on_line(&mut self, line: &str, now: Instant) {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|r| r.strip_suffix(" stdout ----"))
        {
            let failure = match &self.section {
                Section::Heading { failure } | Section::Output { failure, .. } => *failure,
                Section::Results => true,
            };
            self.section = Section::Output {
                name: name.to_owned(),
                failure,
            };
            return;
        }
        if line == "failures:" || line == "successes:" {
            self.section = Section::Heading {
                failure: line == "failures:",
            };
            return;
        }
        match &self.section {
            Section::Output {
                name,
                failure: true,
            } => {
                let name = name.clone();
                if let Some(t) = self.tests.iter_mut().rev().find(|t| t.name == name) {
                    let out = t.output.get_or_insert_with(String::new);
                    out.push_str(line);
                    out.push('\n');
                }
            }
            Section::Output { .. } | Section::Heading { .. } => {}
            Section::Results => self.on_result_line(line, now),
        }
    }

    fn on_result_line(&mut self, line: &str, now: Instant) {
        if let Some(rest) = line.strip_prefix("test ")
            && let Some((name, result)) = rest.split_once(" ... ")
        {
            let name = test_name(name).to_owned();
            match outcome(result) {
                Some(o) => self.ended(name, o, now),
                None => self.waiting = Some(name),
            }
            return;
        }
        if let Some(name) = self.waiting.take() {
            match outcome(line.trim()) {
                Some(o) => self.ended(name, o, now),
                None => self.waiting = Some(name),
            }
        }
    }

    fn ended(&mut self, name: String, outcome: Outcome, now: Instant) {
        let since = match self.running.take() {
            Some((running, at)) if running == name => at,
            _ => self.last,
        };
        self.last = now;
        self.tests.push(Test {
            name,
            outcome,
            time: now.saturating_duration_since(since).as_secs_f64(),
            output: None,
        });
    }

    /// The binary has ended (at `now`): a test that started and never ended is unfinished.
    pub(crate) fn finish(&mut self, now: Instant) {
        if !self.line.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
            self.on_line(&line, now);
        }
        if let Some((name, at)) = self.running.take()
            && !self.tests.iter().any(|t| t.name == name)
        {
            self.tests.push(Test {
                name,
                outcome: Outcome::Unfinished,
                time: now.saturating_duration_since(at).as_secs_f64(),
                output: None,
            });
        }
    }
}

/// `NAME - should panic` is the test NAME.
fn test_name(s: &str) -> &str {
    s.strip_suffix(" - should panic").unwrap_or(s)
}

fn outcome(result: &str) -> Option<Outcome> {
    match result {
        "ok" => Some(Outcome::Passed),
        "ignored" => Some(Outcome::Ignored(None)),
        r if r.starts_with("FAILED") => Some(Outcome::Failed),
        r if r.starts_with("ignored, ") => Some(Outcome::Ignored(Some(r[9..].to_owned()))),
        // `cargo bench` style results of a benchmark run as a test.
        r if r.starts_with("bench:") => Some(Outcome::Passed),
        _ => None,
    }
}

/// The panic's message in a failed test's output: the lines after `thread 'NAME' panicked at
/// FILE:LINE:COL:` up to the backtrace note, joined; else the output's first line.
pub(crate) fn panic_message(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    if let Some(at) = lines
        .iter()
        .position(|l| l.starts_with("thread '") && l.contains(" panicked at "))
    {
        // Before Rust 1.73: thread 'x' panicked at 'message', src/lib.rs:3:5
        let head = lines[at];
        if let Some(old) = head.split("' panicked at '").nth(1)
            && let Some((message, _)) = old.rsplit_once("', ")
        {
            return Some(message.to_owned());
        }
        let message: Vec<&str> = lines[at + 1..]
            .iter()
            .take_while(|l| {
                !l.is_empty() && !l.starts_with("note: ") && !l.starts_with("stack backtrace:")
            })
            .copied()
            .collect();
        if !message.is_empty() {
            return Some(message.join("\n"));
        }
    }
    lines
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

/// One binary's tests as a JUnit `testsuite` named after it; each testcase is named
/// `BINARY/TEST`, the batch item it stands for. `ended`: how the binary ended.
pub(crate) fn junit_suite(binary: &str, tests: &[Test], ended: &str) -> TestSuite {
    let mut suite = TestSuite::new(xml(binary));
    let secs = |s: f64| std::time::Duration::try_from_secs_f64(s).unwrap_or_default();
    suite.set_time(secs(tests.iter().map(|t| t.time).sum()));
    for t in tests {
        let output = t.output.as_deref().map(|o| o.trim_end_matches('\n'));
        let status = match &t.outcome {
            Outcome::Passed => TestCaseStatus::success(),
            Outcome::Ignored(reason) => {
                let mut st = TestCaseStatus::skipped();
                if let Some(r) = reason {
                    st.set_message(xml(r));
                }
                st
            }
            Outcome::Failed => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(xml(&output.and_then(panic_message).unwrap_or_default()))
                    .set_type("panic")
                    .set_description(xml(output.unwrap_or("")));
                st
            }
            Outcome::Unfinished => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                st.set_message(xml(&format!(
                    "the test binary ended ({ended}) while this test ran"
                )))
                .set_type("crash");
                st
            }
        };
        let mut case = TestCase::new(xml(&format!("{binary}/{}", t.name)), status);
        case.set_time(secs(t.time));
        suite.add_test_case(case);
    }
    suite
}

/// The whole document, of the binaries' `testsuite`s.
fn junit(suites: Vec<TestSuite>) -> String {
    let mut report = Report::unnamed();
    report.add_test_suites(suites);
    crate::report::junit::to_xml(&report)
}

/// End as the test binary did: its exit code, or its signal raised again.
pub(crate) fn end_like(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        crate::os::process::die_of(sig);
    }
    status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1))
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "status unknown".to_owned(),
    }
}

/// The results file, replaced in one step through a temp file beside it that this call makes
/// (`O_EXCL`, never through a link, under a name nobody can plant ahead: a fixed `.part` name
/// was written through a symbolic link put in its place). A link or a folder at `path` itself
/// is refused.
fn write_junit(path: &Path, xml: &str) -> std::io::Result<()> {
    crate::safe_write::write_with(path, xml.as_bytes(), |earlier, id| {
        crate::safe_write::remove_if_same(&earlier, id);
    })
}

/// The first argument that makes ptest this helper.
pub(crate) const COMMAND: &str = "libtest";

const USAGE: &str = "usage: ptest libtest --junit FILE [--bin NAME EXE DIR PACKAGE@VERSION]... [--arg ARG]... -- NAME/TEST...\n\
    Runs each named test in its binary (one process per binary, in the order of first mention:\n\
    EXE --exact ARG... TEST..., in DIR, with CARGO_MANIFEST_DIR, CARGO_PKG_NAME and\n\
    CARGO_PKG_VERSION set), its output unchanged, and writes the results to FILE as JUnit XML:\n\
    a testcase per test, named NAME/TEST. The cargo preset's batches run their tests this way.";

/// A test binary `ptest libtest` may run.
#[derive(Debug, PartialEq)]
struct Binary {
    name: String,
    exe: OsString,
    dir: OsString,
    package: String,
    version: String,
}

/// What follows `ptest libtest`.
#[derive(Debug, PartialEq)]
struct Args {
    junit: std::path::PathBuf,
    binaries: Vec<Binary>,
    args: Vec<OsString>,
    items: Vec<String>,
}

fn parse(args: &[OsString]) -> Result<Args, String> {
    let mut junit = None;
    let mut binaries = Vec::new();
    let mut common = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let flag = a.to_string_lossy();
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs {what}"))
        };
        match flag.as_ref() {
            "--" => {
                let items: Vec<String> = it.map(|i| i.to_string_lossy().into_owned()).collect();
                let junit = junit.ok_or("--junit FILE is required")?;
                for i in &items {
                    let known = i
                        .split_once('/')
                        .is_some_and(|(b, _)| binaries.iter().any(|x: &Binary| x.name == b));
                    if !known {
                        return Err(format!("{i}: not NAME/TEST of a --bin NAME"));
                    }
                }
                return Ok(Args {
                    junit,
                    binaries,
                    args: common,
                    items,
                });
            }
            "--junit" => junit = Some(std::path::PathBuf::from(value("FILE")?)),
            "--arg" => common.push(value("an argument")?),
            "--bin" => {
                let name = value("NAME EXE DIR PACKAGE@VERSION")?;
                let exe = value("NAME EXE DIR PACKAGE@VERSION")?;
                let dir = value("NAME EXE DIR PACKAGE@VERSION")?;
                let pkg = value("NAME EXE DIR PACKAGE@VERSION")?;
                let pkg = pkg.to_string_lossy();
                let (package, version) = pkg.rsplit_once('@').unwrap_or((&pkg, ""));
                binaries.push(Binary {
                    name: name.to_string_lossy().into_owned(),
                    exe,
                    dir,
                    package: package.to_owned(),
                    version: version.to_owned(),
                });
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Err("no -- NAME/TEST...".into())
}

/// Run one binary on its tests; its `testsuite` and how it ended.
fn run_binary(
    b: &Binary,
    common: &[OsString],
    tests: &[&str],
    live: &mut super::live::Live,
) -> (TestSuite, Option<std::process::ExitStatus>) {
    let start = Instant::now();
    let spawned = Command::new(&b.exe)
        .args(common)
        .args(tests)
        .current_dir(&b.dir)
        .env("CARGO_MANIFEST_DIR", &b.dir)
        .env("CARGO_PKG_NAME", &b.package)
        .env("CARGO_PKG_VERSION", &b.version)
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let why = format!(
                "cannot start {}: {}",
                Path::new(&b.exe).display(),
                crate::io_message(&e)
            );
            eprintln!("error: ptest libtest: {why}");
            let not_run: Vec<Test> = tests
                .iter()
                .map(|t| Test {
                    name: (*t).to_owned(),
                    outcome: Outcome::Unfinished,
                    time: 0.0,
                    output: None,
                })
                .collect();
            return (junit_suite(&b.name, &not_run, &why), None);
        }
    };
    let mut from = child.stdout.take().expect("piped stdout");
    let mut reader = Reader::new(start);
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    // Each test is told to the run as it ends, and as it starts (the run hears of the start
    // only of a test that runs for a while).
    let mut told = 0;
    let mut running: Option<String> = None;
    let tell = |reader: &Reader, told: &mut usize, live: &mut super::live::Live| {
        for t in &reader.tests[*told..] {
            live.ended(t.outcome.record(), &format!("{}/{}", b.name, t.name));
        }
        *told = reader.tests.len();
    };
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // The log gets every byte, as if the binary wrote it itself.
                let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                reader.feed(&buf[..n], Instant::now());
                tell(&reader, &mut told, live);
                let now = reader.running.as_ref().map(|(name, _)| name);
                if now != running.as_ref() {
                    running = now.cloned();
                    if let Some(name) = &running {
                        live.started(&format!("{}/{}", b.name, name));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(from);
    let status = loop {
        match child.wait() {
            Ok(s) => break Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break None,
        }
    };
    reader.finish(Instant::now());
    tell(&reader, &mut told, live);
    let ended = status.map_or_else(|| "status unknown".to_owned(), describe);
    (junit_suite(&b.name, &reader.tests, &ended), status)
}

/// `ptest libtest ...`: the exit code to end with.
pub(crate) fn main(args: &[OsString]) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            crate::print_stdout(&format!("{USAGE}\n"));
            return crate::exit::OK;
        }
        Err(e) => {
            eprintln!("error: ptest libtest: {e}\n{USAGE}");
            return crate::exit::USAGE;
        }
    };
    // A signal that stops the run also reaches the test binary (same process group): wait for
    // it to end, and write what it reported; no further binary starts.
    let stopped = crate::os::process::note_stop_signals();
    let mut live = super::live::Live::connect();
    let mut suites = Vec::new();
    // The first binary that failed decides the exit: its signal, or its code.
    let mut failed: Option<Option<std::process::ExitStatus>> = None;
    for b in &a.binaries {
        let prefix = format!("{}/", b.name);
        let tests: Vec<&str> = a
            .items
            .iter()
            .filter_map(|i| i.strip_prefix(&prefix))
            .collect();
        if tests.is_empty() || stopped.load(std::sync::atomic::Ordering::SeqCst) {
            continue;
        }
        let (suite, status) = run_binary(b, &a.args, &tests, &mut live);
        suites.push(suite);
        if failed.is_none() && !status.is_some_and(|s| s.success()) {
            failed = Some(status);
        }
    }
    // Before it may end by a signal (no destructor runs then).
    live.finish();
    if let Err(e) = write_junit(&a.junit, &junit(suites)) {
        eprintln!(
            "error: ptest libtest: cannot write {}: {}",
            a.junit.display(),
            crate::io_message(&e)
        );
    }
    match failed {
        None => crate::exit::OK,
        Some(Some(status)) if status.signal().is_some() => end_like(status),
        Some(Some(status)) => status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1)),
        Some(None) => 127,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const RUN: &str = "\nrunning 4 tests\ntest tests::adds ... ok\ntest tests::fails ... FAILED\n\
        test tests::ignored ... ignored, not today\ntest tests::panics - should panic ... ok\n\n\
        failures:\n\n---- tests::fails stdout ----\nbefore failing\n\n\
        thread 'tests::fails' (17960) panicked at src/lib.rs:20:9:\n\
        assertion `left == right` failed: two and two\n  left: 4\n right: 5\n\
        note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\n\
        failures:\n    tests::fails\n\n\
        test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.16s\n\n";

    fn read_all(chunks: &[&str]) -> Vec<Test> {
        let t0 = Instant::now();
        let mut r = Reader::new(t0);
        for (i, c) in chunks.iter().enumerate() {
            r.feed(
                c.as_bytes(),
                t0 + Duration::from_millis(10 * (i as u64 + 1)),
            );
        }
        r.finish(t0 + Duration::from_secs(1));
        r.tests
    }

    #[test]
    fn outcomes_names_and_the_failures_output() {
        let tests = read_all(&[RUN]);
        let got: Vec<(&str, &Outcome)> = tests
            .iter()
            .map(|t| (t.name.as_str(), &t.outcome))
            .collect();
        assert_eq!(
            got,
            [
                ("tests::adds", &Outcome::Passed),
                ("tests::fails", &Outcome::Failed),
                (
                    "tests::ignored",
                    &Outcome::Ignored(Some("not today".into()))
                ),
                ("tests::panics", &Outcome::Passed),
            ]
        );
        let out = tests[1].output.as_deref().unwrap();
        assert!(out.starts_with("before failing\n"), "{out}");
        assert_eq!(
            panic_message(out).as_deref(),
            Some("assertion `left == right` failed: two and two\n  left: 4\n right: 5")
        );
        assert!(tests[0].output.is_none());
    }

    #[test]
    fn a_test_is_timed_from_its_name_to_its_result() {
        // One test thread: the name, then (after the test ran) the result.
        let tests = read_all(&[
            "\nrunning 2 tests\ntest a ... ",
            "ok\ntest b ... ",
            "",
            "ok\n",
        ]);
        assert_eq!(tests.len(), 2);
        assert!((tests[0].time - 0.010).abs() < 1e-9, "{tests:?}");
        assert!((tests[1].time - 0.020).abs() < 1e-9, "{tests:?}");
    }

    #[test]
    fn output_written_past_the_capture_and_a_crash() {
        // A child process wrote to the terminal between the name and the result; then the
        // binary died in the next test.
        let tests = read_all(&["test a ... hello from a child\nok\ntest b ... "]);
        assert_eq!(tests[0].outcome, Outcome::Passed);
        assert_eq!(tests[1].name, "b");
        assert_eq!(tests[1].outcome, Outcome::Unfinished);
        let xml = junit(vec![junit_suite("it", &tests, "killed by signal 11")]);
        assert!(xml.contains("the test binary ended (killed by signal 11) while this test ran"));
    }

    #[test]
    fn the_junit_is_what_ptest_reads() {
        let tests = read_all(&[RUN]);
        let xml = junit(vec![junit_suite("tiny(lib)", &tests, "exit code 101")]);
        let mut cases = crate::batch::results::tests::parse(xml.as_bytes()).unwrap();
        crate::batch::results::attribute(
            &mut cases,
            &[
                "tiny(lib)/tests::panics",
                "tiny(lib)/tests::fails",
                "tiny(lib)/tests::adds",
                "tiny(lib)/tests::ignored",
            ],
        );
        assert_eq!(
            cases.iter().map(|c| c.item).collect::<Vec<_>>(),
            [Some(2), Some(1), Some(3), Some(0)]
        );
        use crate::batch::results::Outcome as O;
        assert_eq!(
            cases.iter().map(|c| c.outcome).collect::<Vec<_>>(),
            [O::Passed, O::Failed, O::Skipped, O::Passed]
        );
        assert_eq!(cases[1].display(), "tiny(lib)/tests::fails");
        // An attribute holds one line: the message's line breaks are read back as spaces.
        assert_eq!(
            cases[1].summary().as_deref(),
            Some("assertion `left == right` failed: two and two   left: 4  right: 5")
        );
        assert!(cases[1].text.as_deref().unwrap().contains("right: 5"));
        assert_eq!(cases[2].message.as_deref(), Some("not today"));
    }

    #[test]
    fn its_arguments() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let a = parse(&os(&[
            "--junit",
            "j.xml",
            "--bin",
            "it",
            "/t/it-1",
            "/w",
            "tiny@0.1.0",
            "--arg",
            "--exact",
            "--",
            "it/a",
            "it/b::c",
        ]))
        .unwrap();
        assert_eq!(a.junit, std::path::Path::new("j.xml"));
        assert_eq!(
            a.binaries,
            [Binary {
                name: "it".into(),
                exe: "/t/it-1".into(),
                dir: "/w".into(),
                package: "tiny".into(),
                version: "0.1.0".into(),
            }]
        );
        assert_eq!(a.args, os(&["--exact"]));
        assert_eq!(a.items, ["it/a", "it/b::c"]);
        assert_eq!(
            parse(&os(&["--bin", "it", "x", "/w", "p@1", "--", "it/a"])),
            Err("--junit FILE is required".into())
        );
        assert_eq!(
            parse(&os(&[
                "--junit", "j", "--bin", "it", "x", "/w", "p@1", "--", "other/a"
            ])),
            Err("other/a: not NAME/TEST of a --bin NAME".into())
        );
        assert_eq!(
            parse(&os(&["--jnuit", "j.xml"])),
            Err("unexpected argument --jnuit".into())
        );
        assert_eq!(
            parse(&os(&["--junit", "j", "--bin", "it"])),
            Err("--bin needs NAME EXE DIR PACKAGE@VERSION".into())
        );
    }

    #[test]
    fn old_panic_format_and_plain_text() {
        assert_eq!(
            panic_message("thread 'x' panicked at 'boom', src/lib.rs:3:5\nnote: ...\n").as_deref(),
            Some("boom")
        );
        assert_eq!(
            panic_message("\n  Error: oops\n").as_deref(),
            Some("Error: oops")
        );
    }

    #[test]
    fn the_junit_file_is_never_written_through_a_planted_link() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let junit = d.path().join("ptest-junit.xml");
        // The fixed name the file was once written to first.
        std::os::unix::fs::symlink(&victim, d.path().join("ptest-junit.xml.part")).unwrap();
        write_junit(&junit, "<testsuites/>").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&junit).unwrap(), "<testsuites/>");
        // Written again over the earlier one; a link at the path itself is refused.
        write_junit(&junit, "<testsuites></testsuites>").unwrap();
        assert_eq!(
            std::fs::read_to_string(&junit).unwrap(),
            "<testsuites></testsuites>"
        );
        let link = d.path().join("link.xml");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(write_junit(&link, "<x/>").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
