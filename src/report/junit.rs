//! JUnit XML, for a run (`--junit`), a merge (`ptest merge --junit`) and `ptest libtest`: one
//! mapping from the run's record to quick-junit's data model, and one writer. The file is valid
//! against the common schema (junit-10.xsd, as pytest's sources ship it) apart from `file`/`line`
//! on `testcase`, the extension GitLab, CircleCI and GitHub's JUnit actions read.
//!
//! A `testsuite` per phase (in the order the suites come) with a `testcase` per suite
//! (classname = its category): a failure says why, its type, and its last attempt's output tail;
//! `system-out` names the log (GitLab's `[[ATTACHMENT|path]]`); earlier failed attempts are
//! `flakyFailure`s (the suite passed at last) or `rerunFailure`s (it did not). Then a `testsuite`
//! per batch with the testcases its parts reported, a flaky test (it failed, then passed on a
//! retry of its part) with a `flakyFailure` saying what failed before.

use std::io::Write;
use std::time::Duration;

use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite, XmlString,
};

use crate::event::Status;
use crate::record::{Outcome, Record, Suite};

/// The XML text of a document ([`write`]).
pub(crate) fn to_xml(report: &Report) -> String {
    let mut bytes = Vec::new();
    let _ = write(report, &mut bytes);
    String::from_utf8(bytes).unwrap_or_default()
}

/// Writes the XML of a document to `out` as it is serialized. quick-junit always writes
/// `skipped` on `testsuites`, which the schema does not allow there (it does on `testsuite`):
/// the root's is left out as it goes by.
pub(crate) fn write(report: &Report, out: impl Write) -> std::io::Result<()> {
    let mut root = RootWithoutSkipped {
        out,
        head: Some(Vec::new()),
    };
    report.serialize(&mut root).map_err(std::io::Error::other)?;
    if let Some(head) = root.head.take() {
        root.out.write_all(&head)?;
    }
    root.out.flush()
}

/// Holds back the start of the document until the root tag has ended, then writes it without
/// its `skipped`; everything after passes straight through.
struct RootWithoutSkipped<W: Write> {
    out: W,
    /// What came up to the root tag's end; `None` once it went out.
    head: Option<Vec<u8>>,
}

impl<W: Write> Write for RootWithoutSkipped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use memchr::memmem::find;
        let Some(head) = self.head.as_mut() else {
            self.out.write_all(buf)?;
            return Ok(buf.len());
        };
        head.extend_from_slice(buf);
        let Some(root) = find(head, b"<testsuites") else {
            return Ok(buf.len());
        };
        let Some(end) = memchr::memchr(b'>', &head[root..]).map(|i| root + i) else {
            return Ok(buf.len());
        };
        if let Some(at) = find(&head[root..end], b" skipped=\"").map(|i| root + i) {
            let value = at + b" skipped=\"".len();
            if let Some(close) = memchr::memchr(b'"', &head[value..end]) {
                head.drain(at..=value + close);
            }
        }
        self.out.write_all(head)?;
        self.head = None;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Text as XML can hold it: quick-junit removes ANSI codes and the control characters XML 1.0
/// cannot hold; U+FFFE and U+FFFF, also not characters in XML, become U+FFFD.
pub(crate) fn xml(s: &str) -> XmlString {
    XmlString::new(s.replace(['\u{FFFE}', '\u{FFFF}'], "\u{FFFD}"))
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

fn timestamp(secs: f64) -> Option<chrono::DateTime<chrono::Utc>> {
    let whole = secs.floor();
    // Both in range: the fraction is in [0, 1), and the crate allows these casts.
    chrono::DateTime::from_timestamp(whole as i64, ((secs - whole) * 1e9) as u32)
}

/// A failure of a test or an attempt: message, type, and text.
fn non_success(kind: NonSuccessKind, message: &str, ty: &str, text: &str) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(xml(message)).set_type(xml(ty));
    if !text.is_empty() {
        status.set_description(xml(text));
    }
    status
}

fn skipped(why: Option<&str>) -> TestCaseStatus {
    let mut status = TestCaseStatus::skipped();
    status.set_message(xml(why.unwrap_or_default()));
    status
}

/// An earlier failure: a suite's failed attempt (its tail in a `stackTrace` child, as Surefire
/// writes it) or what a flaky test did before it passed.
fn rerun(message: &str, ty: &str, trace: Option<&str>) -> TestRerun {
    let mut r = TestRerun::new(NonSuccessKind::Failure);
    r.message = Some(xml(message));
    r.ty = Some(xml(ty));
    r.stack_trace = trace.map(xml);
    r
}

/// The testcase of one suite.
fn suite_case(s: &Suite) -> TestCase {
    let why = s.error_message.as_deref();
    let mut status = match s.status {
        Status::Passed | Status::Flaky => TestCaseStatus::success(),
        Status::Failed | Status::TimedOut => non_success(
            NonSuccessKind::Failure,
            why.unwrap_or("failed"),
            s.status.label(),
            s.tail(),
        ),
        Status::Cancelled => non_success(
            NonSuccessKind::Error,
            &format!("cancelled ({})", why.unwrap_or("stopped")),
            "cancelled",
            s.tail(),
        ),
        Status::Skipped => skipped(s.skip_reason.as_deref()),
    };
    status.set_rerun_kind(FlakyOrRerun::Rerun);
    status.add_reruns(s.earlier_failures().map(|a| {
        let why = a.error_message.as_deref().unwrap_or("failed");
        let message = format!("attempt {}/{}: {why}", a.attempt, s.of_attempts());
        rerun(&message, a.status.label(), a.tail.as_deref())
    }));
    let mut case = TestCase::new(xml(&s.name), status);
    case.set_classname(xml(&s.category))
        .set_time(seconds(s.duration));
    if let Some(f) = &s.file {
        case.extra.insert("file".into(), xml(f));
    }
    if let Some(log) = s.log_file.as_deref().filter(|_| s.attempts > 0) {
        case.set_system_out(xml(&format!("[[ATTACHMENT|{log}]]")));
    }
    case
}

/// The testcase of one test a batch's command reported.
fn test_case(c: &crate::record::TestCase) -> TestCase {
    let label = c.status.label();
    let problem = |kind| {
        non_success(
            kind,
            c.message.as_deref().unwrap_or(label),
            c.kind.as_deref().unwrap_or(label),
            c.text.as_deref().unwrap_or_default(),
        )
    };
    let status = match c.status {
        Outcome::Passed if c.is_flaky() => {
            // Its earlier failure, as Surefire writes a test that passed on a rerun.
            let mut st = TestCaseStatus::success();
            st.set_rerun_kind(FlakyOrRerun::Flaky);
            let before = format!(
                "failed before it passed on attempt {}: {}",
                c.attempts,
                c.before()
            );
            st.add_rerun(rerun(&before, "failed", None));
            st
        }
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed => problem(NonSuccessKind::Failure),
        Outcome::Error => problem(NonSuccessKind::Error),
        Outcome::Skipped => skipped(c.message.as_deref()),
    };
    let mut case = TestCase::new(xml(&c.name), status);
    case.set_time(seconds(c.duration.unwrap_or_default()));
    if let Some(cn) = &c.classname {
        case.set_classname(xml(cn));
    }
    if let Some(f) = &c.file {
        case.extra.insert("file".into(), xml(f));
    }
    if let Some(l) = c.line {
        case.extra.insert("line".into(), l.to_string().into());
    }
    case
}

/// A testsuite being gathered: its cases, its first start and last end (seconds).
struct Gathered {
    name: String,
    cases: Vec<TestCase>,
    first: f64,
    last: f64,
    /// Added up (a batch's parts) rather than first start to last end (a phase's suites).
    time: Option<f64>,
}

impl Gathered {
    fn at<'a>(list: &'a mut Vec<Gathered>, name: &str, added: bool) -> &'a mut Gathered {
        let i = list.iter().position(|g| g.name == name).unwrap_or_else(|| {
            list.push(Gathered {
                name: name.to_owned(),
                cases: Vec::new(),
                first: f64::INFINITY,
                last: f64::NEG_INFINITY,
                time: added.then_some(0.0),
            });
            list.len() - 1
        });
        &mut list[i]
    }

    fn span(&mut self, s: &Suite) {
        self.first = self.first.min(s.start_time.unwrap_or(f64::INFINITY));
        self.last = self.last.max(s.end_time.unwrap_or(f64::NEG_INFINITY));
    }

    fn into_suite(self) -> TestSuite {
        let mut t = TestSuite::new(xml(&self.name));
        let started = self.first.is_finite();
        let span = if started { self.last - self.first } else { 0.0 };
        t.set_time(seconds(self.time.unwrap_or(span)));
        if let Some(at) = timestamp(self.first).filter(|_| started) {
            t.set_timestamp(at);
        }
        t.add_test_cases(self.cases);
        t
    }
}

/// The JUnit document of a run's (or a merge's) record.
pub(crate) fn of_record(record: &Record) -> Report {
    let mut phases: Vec<Gathered> = Vec::new();
    let mut batches: Vec<Gathered> = Vec::new();
    for s in &record.suites {
        let phase = Gathered::at(&mut phases, &s.phase, false);
        phase.span(s);
        phase.cases.push(suite_case(s));
        if let Some(b) = s.batch.as_ref().filter(|_| !s.cases().is_empty()) {
            let batch = Gathered::at(&mut batches, &b.name, true);
            batch.span(s);
            batch.time = batch.time.map(|t| t + s.duration);
            batch.cases.extend(s.cases().iter().map(test_case));
        }
    }
    let mut report = Report::new("ptest");
    report.set_time(seconds(record.duration));
    report.add_test_suites(phases.into_iter().chain(batches).map(Gathered::into_suite));
    report
}
