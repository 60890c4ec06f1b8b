//! `--junit FILE`: JUnit XML for CI systems, valid against the common schema (junit-10.xsd, as
//! pytest's sources ship it) apart from `file`/`line` on `testcase`, the extension GitLab,
//! CircleCI and GitHub's JUnit actions read. A `testsuite` per phase, a `testcase` per suite
//! (classname = its category); a failure says why, its type, and the log's tail without ANSI
//! codes; `system-out` names the log (GitLab's `[[ATTACHMENT|path]]`); earlier failed attempts
//! are `flakyFailure`s (the suite passed at last) or `rerunFailure`s (it did not).
//!
//! The document is plain data (`Document` → `TestSuite` → `TestCase`) written by hand: a batch
//! with per-item results is one more `TestSuite` holding many `TestCase`s.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use super::terminal::last_lines;
use crate::event::{AttemptDetail, Event, RunInfo, Sink, Status, SuiteResult};
use crate::plan::Plan;

/// Lines of a log's tail in a failure.
const TAIL_LINES: usize = 100;

#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub name: String,
    pub time: Duration,
    pub suites: Vec<TestSuite>,
}

#[derive(Debug, Clone)]
pub(crate) struct TestSuite {
    pub name: String,
    /// Wall time from its first start to its last end.
    pub time: Duration,
    pub timestamp: Option<SystemTime>,
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Clone)]
pub(crate) struct TestCase {
    pub name: String,
    pub classname: String,
    pub time: Duration,
    /// Path relative to the config's folder, where the case is about one file.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub outcome: Outcome,
    /// Failed attempts before the last one.
    pub reruns: Vec<Rerun>,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Passed,
    /// `<failure>`: the test ran and failed (or timed out).
    Failure(Problem),
    /// `<error>`: it could not finish (cancelled).
    Error(Problem),
    Skipped {
        message: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub message: String,
    pub kind: String,
    /// The log's tail, without ANSI codes.
    pub text: String,
}

/// An earlier failed attempt: `flakyFailure` when the case passed at last, else `rerunFailure`.
#[derive(Debug, Clone)]
pub(crate) struct Rerun {
    pub problem: Problem,
}

impl Document {
    /// The XML text.
    pub(crate) fn to_xml(&self) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let cases = || self.suites.iter().flat_map(|s| &s.cases);
        let _ = writeln!(
            x,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
            attr(&self.name),
            cases().count(),
            cases()
                .filter(|c| matches!(c.outcome, Outcome::Failure(_)))
                .count(),
            cases()
                .filter(|c| matches!(c.outcome, Outcome::Error(_)))
                .count(),
            secs(self.time)
        );
        for s in &self.suites {
            s.write(&mut x);
        }
        x.push_str("</testsuites>\n");
        x
    }
}

impl TestSuite {
    fn write(&self, x: &mut String) {
        let count = |f: fn(&Outcome) -> bool| self.cases.iter().filter(|c| f(&c.outcome)).count();
        let _ = write!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\"",
            attr(&self.name),
            self.cases.len(),
            count(|o| matches!(o, Outcome::Failure(_))),
            count(|o| matches!(o, Outcome::Error(_))),
            count(|o| matches!(o, Outcome::Skipped { .. })),
            secs(self.time)
        );
        if let Some(t) = self.timestamp {
            let _ = write!(x, " timestamp=\"{}\"", humantime::format_rfc3339_seconds(t));
        }
        x.push_str(">\n");
        for c in &self.cases {
            c.write(x);
        }
        x.push_str("  </testsuite>\n");
    }
}

impl TestCase {
    fn write(&self, x: &mut String) {
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            attr(&self.name),
            attr(&self.classname),
            secs(self.time)
        );
        if let Some(f) = &self.file {
            let _ = write!(x, " file=\"{}\"", attr(f));
        }
        if let Some(l) = self.line {
            let _ = write!(x, " line=\"{l}\"");
        }
        let empty = matches!(self.outcome, Outcome::Passed)
            && self.reruns.is_empty()
            && self.system_out.is_none()
            && self.system_err.is_none();
        if empty {
            x.push_str("/>\n");
            return;
        }
        x.push_str(">\n");
        match &self.outcome {
            Outcome::Passed => {}
            Outcome::Failure(p) => problem(x, "failure", p),
            Outcome::Error(p) => problem(x, "error", p),
            Outcome::Skipped { message } => {
                let _ = writeln!(x, "      <skipped message=\"{}\"/>", attr(message));
            }
        }
        let rerun_tag = if matches!(self.outcome, Outcome::Passed) {
            "flakyFailure"
        } else {
            "rerunFailure"
        };
        for r in &self.reruns {
            // rerunType: the tail goes in a `stackTrace` child, as Surefire writes it.
            let _ = writeln!(
                x,
                "      <{rerun_tag} message=\"{}\" type=\"{}\"><stackTrace>{}</stackTrace></{rerun_tag}>",
                attr(&r.problem.message),
                attr(&r.problem.kind),
                text(&r.problem.text)
            );
        }
        if let Some(out) = &self.system_out {
            let _ = writeln!(x, "      <system-out>{}</system-out>", text(out));
        }
        if let Some(err) = &self.system_err {
            let _ = writeln!(x, "      <system-err>{}</system-err>", text(err));
        }
        x.push_str("    </testcase>\n");
    }
}

fn problem(x: &mut String, tag: &str, p: &Problem) {
    let _ = writeln!(
        x,
        "      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>",
        attr(&p.message),
        attr(&p.kind),
        text(&p.text)
    );
}

/// Seconds with at most three decimals, as the schema's `SUREFIRE_TIME` allows.
fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Characters XML 1.0 cannot hold at all (most C0 controls, U+FFFE, U+FFFF) become U+FFFD.
fn xml_char(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
        c => c,
    }
}

/// Escaped element text.
pub(crate) fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped attribute value (line breaks kept as character references).
pub(crate) fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// The last lines of one attempt's output, ANSI codes removed.
fn tail(r: &SuiteResult, range: Option<(u64, u64)>) -> String {
    match (&r.log_file, range) {
        (Some(p), Some((a, b))) => {
            let raw = crate::exec::read_tail(p, a, b);
            let plain = super::strip_ansi(&raw);
            last_lines(plain.as_bytes(), TAIL_LINES).join("\n")
        }
        _ => String::new(),
    }
}

fn rerun(r: &SuiteResult, d: &AttemptDetail, of: u32) -> Rerun {
    Rerun {
        problem: Problem {
            message: format!(
                "attempt {}/{of}: {}",
                d.attempt,
                d.message.as_deref().unwrap_or("failed")
            ),
            kind: d.status.label().to_owned(),
            text: tail(r, d.output),
        },
    }
}

/// The testcase of one suite.
pub(crate) fn suite_case(plan: &Plan, r: &SuiteResult) -> TestCase {
    let s = plan.suite(r.id);
    let last = r.attempts_detail.last();
    let earlier = match r.attempts_detail.split_last() {
        Some((_, before)) if r.status != Status::Skipped => before,
        _ => &r.attempts_detail[..],
    };
    let reruns = earlier
        .iter()
        .filter(|d| d.status != Status::Passed)
        .map(|d| rerun(r, d, s.retry.attempts))
        .collect();
    let outcome = match r.status {
        Status::Passed | Status::Flaky => Outcome::Passed,
        Status::Failed | Status::TimedOut => Outcome::Failure(Problem {
            message: r.error_message.clone().unwrap_or_else(|| "failed".into()),
            kind: r.status.label().to_owned(),
            text: tail(r, last.and_then(|d| d.output).or(r.last_output)),
        }),
        Status::Cancelled => Outcome::Error(Problem {
            message: format!(
                "cancelled ({})",
                r.error_message.as_deref().unwrap_or("stopped")
            ),
            kind: "cancelled".to_owned(),
            text: tail(r, last.and_then(|d| d.output).or(r.last_output)),
        }),
        Status::Skipped => Outcome::Skipped {
            message: r
                .skip_reason
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        },
    };
    TestCase {
        name: s.name.clone(),
        classname: s.category.clone(),
        time: r.duration,
        file: super::suite_file(plan, s),
        line: None,
        outcome,
        reruns,
        system_out: r
            .log_file
            .as_deref()
            .filter(|_| r.attempts > 0)
            .map(|p| format!("[[ATTACHMENT|{}]]", super::display_path(p).display())),
        system_err: None,
    }
}

/// The whole document: a testsuite per phase that has suites.
pub(crate) fn build(
    plan: &Plan,
    _run: &RunInfo,
    results: &[SuiteResult],
    wall: Duration,
) -> Document {
    let mut doc = Document {
        name: "ptest".to_owned(),
        time: wall,
        suites: Vec::new(),
    };
    for phase in &plan.phases {
        let in_phase: Vec<&SuiteResult> = results
            .iter()
            .filter(|r| plan.suite(r.id).phase == phase.id)
            .collect();
        if in_phase.is_empty() {
            continue;
        }
        let first = in_phase.iter().filter_map(|r| r.start_time).min();
        let last = in_phase.iter().filter_map(|r| r.end_time).max();
        let time = match (first, last) {
            (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        doc.suites.push(TestSuite {
            name: phase.name.clone(),
            time,
            timestamp: first,
            cases: in_phase.iter().map(|r| suite_case(plan, r)).collect(),
        });
    }
    doc.suites.extend(batch_suites(plan, results));
    doc
}

/// DESIGN §6: a batch with results is a `testsuite` of its own, named after the batch, holding
/// the testcases its command reported (their names, classnames, files, lines and times).
fn batch_suites(plan: &Plan, results: &[SuiteResult]) -> Vec<TestSuite> {
    let mut suites: Vec<TestSuite> = Vec::new();
    for r in results {
        let Some(part) = &plan.suite(r.id).part else {
            continue;
        };
        if r.testcases.is_empty() {
            continue;
        }
        let at = match suites.iter().position(|t| t.name == part.batch) {
            Some(i) => i,
            None => {
                suites.push(TestSuite {
                    name: part.batch.clone(),
                    time: Duration::ZERO,
                    timestamp: r.start_time,
                    cases: Vec::new(),
                });
                suites.len() - 1
            }
        };
        let suite = &mut suites[at];
        suite.time += r.duration;
        suite.timestamp = suite.timestamp.min(r.start_time).or(r.start_time);
        suite.cases.extend(r.testcases.iter().map(batch_case));
    }
    suites
}

/// The testcase of one test a batch's command reported (also for `ptest merge`).
pub(crate) fn batch_case(c: &crate::batch::results::TestCase) -> TestCase {
    use crate::batch::results::Outcome as Case;
    let problem = || Problem {
        message: c
            .message
            .clone()
            .unwrap_or_else(|| c.outcome.label().into()),
        kind: c.kind.clone().unwrap_or_else(|| c.outcome.label().into()),
        text: c.text.clone().unwrap_or_default(),
    };
    let outcome = match c.outcome {
        Case::Passed => Outcome::Passed,
        Case::Failed => Outcome::Failure(problem()),
        Case::Error => Outcome::Error(problem()),
        Case::Skipped => Outcome::Skipped {
            message: c.message.clone().unwrap_or_default(),
        },
    };
    TestCase {
        name: c.name.clone(),
        classname: c.classname.clone().unwrap_or_default(),
        time: c
            .time
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            .unwrap_or_default(),
        file: c.file.clone(),
        line: c.line,
        outcome,
        reruns: Vec::new(),
        system_out: None,
        system_err: None,
    }
}

/// Writes the XML when the run ends.
pub(crate) struct JunitSink {
    pub path: std::path::PathBuf,
    pub errors: Vec<String>,
}

impl Sink for JunitSink {
    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &Event<'_>) {
        if let Event::RunFinished {
            results, summary, ..
        } = event
        {
            let xml = build(plan, run, results, summary.duration).to_xml();
            if let Err(e) = super::write_file_atomic(&self.path, xml.as_bytes()) {
                self.errors.push(format!(
                    "cannot write JUnit report {}: {}",
                    self.path.display(),
                    crate::io_message(&e)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped_and_hold_only_xml_characters() {
        assert_eq!(
            text("a<b>&c\u{1}\u{8}d\n"),
            "a&lt;b&gt;&amp;c\u{FFFD}\u{FFFD}d\n"
        );
        assert_eq!(attr("\"x\"\nnext\t"), "&quot;x&quot;&#10;next&#9;");
        assert_eq!(secs(Duration::from_millis(1500)), "1.500");
    }
}
