//! On GitHub Actions (`GITHUB_ACTIONS=true`): an `::error` annotation per failed suite and a
//! `::warning` per flaky one on stdout (with `file=` where the suite is about one file) — a
//! batch's part whose results name failed tests gets one per failed test instead, on its file
//! and line —, within GitHub's limit of 10 of each per step — past it, one notice says how many
//! were left out and points to the summary; each failure's tail folded in a `::group::`; and a
//! Markdown summary appended to `$GITHUB_STEP_SUMMARY` (counts, what did not pass, the failed
//! and the flaky tests by name, the slowest suites, each failure's tail) kept under GitHub's
//! 1 MiB. A flaky test of a part is a `::warning` of its own; a Rust test's file and line come
//! from where it panicked.
//!
//! Test output is shown between `::stop-commands::` markers, so a line in it that looks like a
//! workflow command is printed, not obeyed.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use super::{secs, shown, shown_lines};
use crate::event::{Event, RunInfo, Sink, Status};
use crate::plan::Plan;
use crate::record::{Record, Suite, TestCase, last_lines};

/// GitHub shows at most this many annotations of each kind per step.
const ANNOTATIONS: usize = 10;
/// A step summary larger than 1 MiB is refused whole.
const SUMMARY_LIMIT: u64 = 1024 * 1024;
/// Room kept for the end of the summary after the tails.
const SUMMARY_RESERVE: usize = 4 * 1024;
const TAIL_LINES: usize = 50;
const SLOWEST: usize = 5;
/// A failed test's annotation without a message shows this many lines of its output.
const TEST_TEXT_LINES: usize = 10;
/// The step summary lists at most this many failed tests, and as many flaky ones.
const SUMMARY_TESTS: usize = 100;

/// Workflow-command data escaping (`%`, CR, LF), after [`shown_lines`]; properties are one
/// line ([`shown`]) and also escape `:` and `,`.
fn data(s: &str) -> String {
    shown_lines(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(s: &str) -> String {
    data(&shown(s)).replace(':', "%3A").replace(',', "%2C")
}

/// A Markdown table cell.
fn cell(s: &str) -> String {
    shown(&s.replace(['\n', '\r'], " "))
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
}

/// A code fence longer than any run of backticks in `text`.
fn fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

pub(crate) struct GithubSink {
    pub summary_file: Option<PathBuf>,
    /// What a test's `file=` is relative to, the first that holds it: the checkout
    /// (`GITHUB_WORKSPACE`), then ptest's own folder. GitHub places annotations by a path from
    /// the repository's root.
    roots: Vec<PathBuf>,
    /// Annotations made: errors, warnings.
    used: [usize; 2],
    /// Annotations past GitHub's limit: of failed tests, failed suites, flaky tests and flaky
    /// suites ([`LEFT_OUT`]).
    left_out: [usize; 4],
}

/// What [`GithubSink::left_out`] counts, in the order the note past the limits names them.
const LEFT_OUT: [&str; 4] = [
    "failed tests",
    "failed suites",
    "flaky tests",
    "flaky suites",
];
const FAILED_TEST: usize = 0;
const FAILED_SUITE: usize = 1;
const FLAKY_TEST: usize = 2;
const FLAKY_SUITE: usize = 3;

/// A workflow command: `::KIND PROPERTIES title=TITLE::MESSAGE`, `place` its properties before
/// the title (`file=...,line=...,`).
fn command(kind: &str, place: &str, title: &str, message: &str) -> String {
    format!(
        "::{kind} {place}title={}::{}\n",
        property(title),
        data(message)
    )
}

impl GithubSink {
    /// `Some` only on GitHub Actions.
    pub(crate) fn detect() -> Option<GithubSink> {
        (std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")).then(|| {
            let roots = std::env::var_os("GITHUB_WORKSPACE")
                .filter(|w| !w.is_empty())
                .map(PathBuf::from)
                .into_iter()
                .chain(std::env::current_dir().ok())
                .collect();
            GithubSink::new(
                std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
                roots,
            )
        })
    }

    fn new(summary_file: Option<PathBuf>, roots: Vec<PathBuf>) -> GithubSink {
        GithubSink {
            summary_file,
            roots: roots
                .into_iter()
                .map(|r| std::fs::canonicalize(&r).unwrap_or(r))
                .collect(),
            used: [0; 2],
            left_out: [0; 4],
        }
    }

    /// Whether one more annotation of a kind ([`LEFT_OUT`]'s index: errors, then warnings) is
    /// within GitHub's limit; else it is counted as left out.
    fn fits(&mut self, kind: usize) -> bool {
        let used = &mut self.used[usize::from(kind >= FLAKY_TEST)];
        *used += 1;
        if *used <= ANNOTATIONS {
            return true;
        }
        self.left_out[kind] += 1;
        false
    }

    /// A file (relative to the config's folder) and line as properties, the file from the first
    /// root that holds it; nothing when none does.
    fn place(&self, plan: &Plan, file: Option<&str>, line: Option<u32>) -> String {
        let Some(path) = file.map(|f| plan.config_dir.join(f)) else {
            return String::new();
        };
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let Some(file) = self.roots.iter().find_map(|r| path.strip_prefix(r).ok()) else {
            return String::new();
        };
        let file = property(&file.to_string_lossy());
        match line {
            Some(line) => format!("file={file},line={line},"),
            None => format!("file={file},"),
        }
    }

    /// A failed test of a batch's part, titled with its name, its message as the text, on its
    /// file (and line) when they can be found.
    fn test_annotation(&self, plan: &Plan, c: &TestCase) -> String {
        let [message, text] =
            [&c.message, &c.text].map(|s| s.as_deref().map(str::trim).filter(|s| !s.is_empty()));
        let body = match (message, text) {
            (Some(message), _) => message.to_owned(),
            (None, Some(text)) => text
                .lines()
                .take(TEST_TEXT_LINES)
                .collect::<Vec<_>>()
                .join("\n"),
            (None, None) => c.status.label().to_owned(),
        };
        self.test_command(plan, "error", c, c.status.label(), &body)
    }

    /// A test's annotation titled `NAME WHAT`, with `text`, where the record found the test
    /// (when it failed or was flaky).
    fn test_command(
        &self,
        plan: &Plan,
        kind: &str,
        c: &TestCase,
        what: &str,
        text: &str,
    ) -> String {
        let at = c.location.as_ref();
        let place = self.place(plan, at.map(|p| p.file.as_str()), at.and_then(|p| p.line));
        command(kind, &place, &format!("{} {what}", c.display()), text)
    }

    /// A suite's annotation titled `ptest: NAME WHAT`, its message followed by its log.
    fn annotation(&self, plan: &Plan, e: &Suite, kind: &str, what: &str, message: &str) -> String {
        let log = e
            .log_file
            .as_deref()
            .map(|p| format!(" (log: {p})"))
            .unwrap_or_default();
        let place = self.place(plan, e.file.as_deref(), None);
        let title = format!("ptest: {} {what}", e.name);
        command(kind, &place, &title, &format!("{message}{log}"))
    }

    /// A failed suite `e`.
    fn failed(&mut self, plan: &Plan, e: &Suite) -> String {
        let mut out = String::new();
        let failed_tests: Vec<&TestCase> =
            e.cases().iter().filter(|c| c.status.is_failure()).collect();
        // Failed tests say why a part failed; a timeout is the part's own, said too.
        if (failed_tests.is_empty() || e.status != Status::Failed) && self.fits(FAILED_SUITE) {
            out += &self.annotation(plan, e, "error", e.status.label(), e.error());
        }
        for c in failed_tests {
            if self.fits(FAILED_TEST) {
                out.push_str(&self.test_annotation(plan, c));
            }
        }
        let lines = last_lines(e.tail(), TAIL_LINES);
        if !lines.is_empty() {
            // The tail folded, and never read as workflow commands.
            let token = format!("ptest-{:016x}", fastrand::u64(..));
            let (name, status) = (shown(&e.name), e.status.label());
            let title = data(&format!("ptest: {name} {status}: last lines of its log"));
            let _ = writeln!(out, "::group::{title}\n::stop-commands::{token}");
            for l in lines {
                let _ = writeln!(out, "{}", shown(l));
            }
            let _ = writeln!(out, "::{token}::\n::endgroup::");
        }
        out
    }

    /// A part's flaky tests, a `::warning` each on its file and line where known.
    fn flaky_tests(&mut self, plan: &Plan, e: &Suite) -> String {
        let mut out = String::new();
        for c in e.cases().iter().filter(|c| c.is_flaky()) {
            if self.fits(FLAKY_TEST) {
                let what = format!(
                    "flaky (passed on attempt {}/{})",
                    c.attempts,
                    e.of_attempts()
                );
                let before = format!("failed before: {}", c.before());
                out += &self.test_command(plan, "warning", c, &what, &before);
            }
        }
        out
    }

    /// A suite as it ends: a failure's annotations and tail, a flaky suite's warning, then its
    /// flaky tests'.
    fn finished(&mut self, plan: &Plan, e: &Suite) -> String {
        let first = match e.status {
            s if s.is_failure() => self.failed(plan, e),
            Status::Flaky => self.flaky(plan, e),
            _ => String::new(),
        };
        first + &self.flaky_tests(plan, e)
    }

    fn flaky(&mut self, plan: &Plan, e: &Suite) -> String {
        // A part whose tests say which were flaky is annotated per test instead.
        if e.cases().iter().any(TestCase::is_flaky) || !self.fits(FLAKY_SUITE) {
            return String::new();
        }
        let what = format!(
            "flaky (passed on attempt {}/{})",
            e.attempts,
            e.of_attempts()
        );
        let before = format!("failed before: {}", e.failed_before());
        self.annotation(plan, e, "warning", &what, &before)
    }

    /// The note past GitHub's limits, at the end of the run.
    fn overflow(&self) -> String {
        let mut more: Vec<String> = (self.left_out.iter().zip(LEFT_OUT))
            .filter(|(n, _)| **n > 0)
            .map(|(n, what)| format!("{n} more {what}"))
            .collect();
        let Some(last) = more.pop() else {
            return String::new();
        };
        let listed = if more.is_empty() {
            last
        } else {
            format!("{} and {last}", more.join(", "))
        };
        format!(
            "::notice title=ptest::{}\n",
            data(&format!(
                "{listed} are not annotated (GitHub shows {ANNOTATIONS} of each kind per step): see the job summary"
            ))
        )
    }
}

/// A Markdown table after `title`: `head`'s columns (the first cells of `row`), a row each of
/// at most `most` items, then how many `more` there were past them (when named); nothing
/// without items.
fn md_table<T>(
    title: &str,
    head: &[&str],
    items: &[T],
    (most, more): (usize, &str),
    row: impl Fn(&T) -> Vec<String>,
) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{title}| {} |\n|{}\n",
        head.join(" | "),
        "---|".repeat(head.len())
    );
    for item in items.iter().take(most) {
        out.push_str(&format!("| {} |\n", row(item).join(" | ")));
    }
    if items.len() > most && !more.is_empty() {
        out.push_str(&format!(
            "\n{} more {more}: see the JUnit report.\n",
            items.len() - most
        ));
    }
    out.push('\n');
    out
}

/// The failed tests and the flaky ones by name, a table each (at most [`SUMMARY_TESTS`] rows,
/// then how many more).
fn tests_tables(record: &Record) -> String {
    let cases = |keep: fn(&TestCase) -> bool| -> Vec<(&Suite, &TestCase)> {
        record.tests().filter(|(_, c)| keep(c)).collect()
    };
    let failed = md_table(
        "**Failed tests**\n\n",
        &["test", "status", "suite", "message"],
        &cases(|c| c.status.is_failure()),
        (SUMMARY_TESTS, "failed tests"),
        |(s, c)| {
            let why = c.summary().unwrap_or_default();
            vec![
                cell(&c.display()),
                c.status.label().into(),
                cell(&s.name),
                cell(why),
            ]
        },
    );
    let flaky = md_table(
        "**Flaky tests** (failed, then passed on a retry)\n\n",
        &["test", "passed on attempt", "suite", "failed before"],
        &cases(TestCase::is_flaky),
        (SUMMARY_TESTS, "flaky tests"),
        |(s, c)| {
            let on = format!("{}/{}", c.attempts, s.of_attempts());
            vec![cell(&c.display()), on, cell(&s.name), cell(c.before())]
        },
    );
    failed + &flaky
}

/// The step summary of a run's record, at most `budget` bytes.
pub(crate) fn summary_markdown(record: &Record, budget: usize) -> String {
    let counts = super::counts_sentence(record, |_, t| t.to_owned());
    let mut md = format!("### ptest: {counts}\n\n");
    if record.summary.interrupted {
        let after = secs(record.duration);
        let _ = writeln!(
            md,
            "Interrupted after {after}: running suites were cancelled, the rest skipped.\n"
        );
    } else {
        let _ = writeln!(md, "{}\n", super::wall_sentence(record));
    }
    let notable: Vec<&Suite> = record
        .suites
        .iter()
        .filter(|s| s.status != Status::Passed)
        .collect();
    let table = md_table(
        "",
        &["suite", "status", "duration", "details"],
        &notable,
        (notable.len(), ""),
        |s| {
            let details = match s.status {
                Status::Flaky => format!("failed before: {}", s.failed_before()),
                _ => s.why().to_owned(),
            };
            let (name, status) = (cell(&s.name), s.status.label().into());
            vec![name, status, secs(s.duration), cell(&details)]
        },
    );
    let ran = record.slowest();
    let slow = md_table(
        "**Slowest**\n\n",
        &["suite", "duration", "attempts"],
        if ran.len() > 1 { &ran } else { &[] },
        (SLOWEST, ""),
        |s| vec![cell(&s.name), secs(s.duration), s.attempts.to_string()],
    );
    let tests = tests_tables(record);
    // The counts always; the tables and the slowest if they fit; then as many tails as fit.
    let limit = budget.saturating_sub(SUMMARY_RESERVE);
    for part in [table, tests, slow] {
        if md.len() + part.len() <= limit {
            md.push_str(&part);
        }
    }
    let mut left_out = 0;
    for s in record.failures() {
        let lines = last_lines(s.tail(), TAIL_LINES).into_iter().map(shown);
        let lines = lines.collect::<Vec<_>>().join("\n");
        let f = fence(&lines);
        let block = format!(
            "<details open><summary>{} {}: {}</summary>\n\n{f}text\n{lines}\n{f}\n\n</details>\n\n",
            cell(&s.name),
            s.status.label(),
            cell(s.error()),
        );
        if md.len() + block.len() <= limit {
            md.push_str(&block);
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        let _ = writeln!(
            md,
            "{left_out} more failures' output left out to stay under GitHub's 1 MiB: see their logs."
        );
    }
    md
}

impl Sink for GithubSink {
    fn event(&mut self, plan: &Plan, _run: &RunInfo, event: &Event<'_>) {
        let text = match event {
            Event::SuiteFinished { entry, .. } => self.finished(plan, entry),
            Event::RunFinished { record, .. } => {
                if let Some(path) = &self.summary_file {
                    // Earlier writers in the same step share the limit.
                    let used = std::fs::metadata(path).map_or(0, |m| m.len());
                    let budget = SUMMARY_LIMIT.saturating_sub(used) as usize;
                    let md = summary_markdown(record, budget);
                    if let Ok(mut f) = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                    {
                        let _ = f.write_all(md.as_bytes());
                    }
                }
                self.overflow()
            }
            _ => return,
        };
        if !text.is_empty() {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_workflow_commands() {
        assert_eq!(data("50%\nnext"), "50%25%0Anext");
        assert_eq!(property("a: b, c"), "a%3A b%2C c");
    }

    #[test]
    fn a_failed_tests_annotation_says_its_message_else_its_texts_first_lines_else_its_status() {
        let (_f, p) = batch();
        let lines = |n: usize, sep: &str| {
            let l: Vec<String> = (1..=n).map(|i| format!("line {i}")).collect();
            l.join(sep)
        };
        let mut c: crate::record::TestCase = serde_json::from_value(serde_json::json!(
            { "name": "test_t", "status": "failed", "message": "  \n", "text": "\n  " }
        ))
        .unwrap();
        let body = |c: &crate::record::TestCase| {
            let line = sink().test_annotation(&p, c);
            line.split_once(" failed::").unwrap().1.to_owned()
        };
        assert_eq!(body(&c), "failed\n");
        c.text = Some(format!("\n  {}\n", lines(12, "\n")));
        assert_eq!(body(&c), format!("{}\n", lines(10, "%0A")));
        c.message = Some(" assert 1 == 2\n".into());
        assert_eq!(body(&c), "assert 1 == 2\n");
    }

    #[test]
    fn a_fence_is_longer_than_any_backtick_run_inside() {
        assert_eq!(fence("plain"), "```");
        assert_eq!(fence("a ```` b"), "`````");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
    use crate::batch::results::{Outcome, TestCase};
    use crate::event::SuiteResult;
    use crate::plan::tests::{Fixture, plan};
    use crate::report::display_path;
    use crate::report::tests::{entry, record_of, result, test_case, with_log};

    fn sink() -> GithubSink {
        GithubSink::new(None, Vec::new())
    }

    impl GithubSink {
        /// What it prints for a failed result `r` of `p`.
        fn failed_result(&mut self, p: &Plan, r: &SuiteResult) -> String {
            self.finished(p, &entry(p, r))
        }

        fn flaky_result(&mut self, p: &Plan, r: &SuiteResult) -> String {
            self.finished(p, &entry(p, r))
        }
    }

    #[test]
    fn markdown_cells_and_data_escape_what_would_break_them() {
        assert_eq!(cell("a\\b<script>\r"), "a\\\\b&lt;script> ");
        // A carriage return is shown, never sent: GitHub's runner would start a line there.
        assert_eq!(data("a\r\nb%"), "a\\r%0Ab%25");
        // A title or file is one line: a line break in it is shown.
        assert_eq!(property("x%:y,z\n"), "x%25%3Ay%2Cz\\n");
        assert_eq!(fence("``a`b``"), "```");
    }

    #[test]
    fn an_error_per_failure_names_the_suite_the_reason_and_the_log() {
        let p = plan(r#"ptest.suite { name = "unit: core, fast", cmd = "true" }"#);
        let r = result(&p, "unit: core, fast", Status::Failed, 1.0);
        let log = display_path(r.log_file.as_deref().unwrap())
            .display()
            .to_string();
        assert_eq!(
            sink().failed_result(&p, &r),
            format!(
                "::error title=ptest%3A unit%3A core%2C fast failed::exit code 3 (log: {log})\n"
            )
        );
    }

    #[test]
    fn a_suite_about_one_file_is_annotated_on_it() {
        let f = Fixture::new(
            r#"
            ptest.suite { name = "tests/test_a.py", cmd = "pytest tests/test_a.py" }
            ptest.suite { name = "two", cmd = "pytest tests/test_a.py tests/test_b.py" }
            "#,
        );
        std::fs::create_dir(f.dir.path().join("tests")).unwrap();
        std::fs::write(f.dir.path().join("tests/test_a.py"), "").unwrap();
        std::fs::write(f.dir.path().join("tests/test_b.py"), "").unwrap();
        let p = f.plan();
        let at = |root: &std::path::Path| GithubSink::new(None, vec![root.to_path_buf()]);
        let one =
            at(f.dir.path()).failed_result(&p, &result(&p, "tests/test_a.py", Status::Failed, 1.0));
        assert!(
            one.starts_with("::error file=tests/test_a.py,title=ptest%3A tests/test_a.py failed::"),
            "{one}"
        );
        // From the repository's root when the config is in a folder of it (GitHub places an
        // annotation by the path from there); none for a file outside the checkout.
        let repo = f.dir.path().parent().unwrap();
        let sub = f.dir.path().file_name().unwrap().to_str().unwrap();
        let deeper =
            at(repo).failed_result(&p, &result(&p, "tests/test_a.py", Status::Failed, 1.0));
        assert!(
            deeper.starts_with(&format!("::error file={sub}/tests/test_a.py,title=")),
            "{deeper}"
        );
        let outside = at(std::path::Path::new("/nonexistent"))
            .failed_result(&p, &result(&p, "tests/test_a.py", Status::Failed, 1.0));
        assert!(outside.starts_with("::error title="), "{outside}");
        // About two files: no file.
        let two = sink().failed_result(&p, &result(&p, "two", Status::TimedOut, 1.0));
        assert!(
            two.starts_with("::error title=ptest%3A two timed_out::timed out after 2m"),
            "{two}"
        );
    }

    #[test]
    fn a_failures_tail_is_folded_and_never_read_as_commands() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(r#"ptest.suite { name = "a", cmd = "true" }"#);
        let r = with_log(
            result(&p, "a", Status::Failed, 1.0),
            dir.path(),
            "\x1b[1mbold\x1b[0m\n::error::forged\n",
        );
        let out = sink().failed_result(&p, &r);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("::error title=ptest%3A a failed::"));
        assert_eq!(lines[1], "::group::ptest: a failed: last lines of its log");
        let token = lines[2]
            .strip_prefix("::stop-commands::")
            .expect("commands stopped before the tail");
        assert!(token.starts_with("ptest-") && token.len() == 22, "{token}");
        assert_eq!(&lines[3..5], ["bold", "::error::forged"]);
        assert_eq!(lines[5], format!("::{token}::"));
        assert_eq!(lines[6], "::endgroup::");
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn annotations_stop_at_ten_of_each_kind_and_a_notice_counts_the_rest() {
        let p = plan(
            r#"
            for i = 1, 12 do ptest.suite { name = "s" .. i, cmd = "true", retry = 1 } end
            "#,
        );
        let mut g = sink();
        let mut errors = 0;
        let mut warnings = 0;
        for i in 1..=12 {
            let name = format!("s{i}");
            errors += g
                .failed_result(&p, &result(&p, &name, Status::Failed, 1.0))
                .matches("::error ")
                .count();
            if i <= 11 {
                warnings += g
                    .flaky_result(&p, &result(&p, &name, Status::Flaky, 1.0))
                    .matches("::warning ")
                    .count();
            }
        }
        assert_eq!((errors, warnings), (10, 10));
        assert_eq!(
            g.overflow(),
            "::notice title=ptest::2 more failed suites and 1 more flaky suites are not annotated (GitHub shows 10 of each kind per step): see the job summary\n"
        );
        assert_eq!(sink().overflow(), "");
    }

    #[test]
    fn a_flaky_warning_says_which_attempt_passed_and_what_failed_before() {
        let p = plan(r#"ptest.suite { name = "net", cmd = "true", retry = 2 }"#);
        let r = result(&p, "net", Status::Flaky, 1.0);
        let log = display_path(r.log_file.as_deref().unwrap())
            .display()
            .to_string();
        assert_eq!(
            sink().flaky_result(&p, &r),
            format!(
                "::warning title=ptest%3A net flaky (passed on attempt 2/3)::failed before: exit code 1 (log: {log})\n"
            )
        );
    }

    fn case(name: &str, classname: &str, file: Option<&str>, outcome: Outcome) -> TestCase {
        TestCase {
            classname: Some(classname.into()),
            ..test_case(name, file, outcome)
        }
    }

    /// A batch of two test files (and a go package's folder) in a temporary folder.
    fn batch() -> (Fixture, crate::plan::Plan) {
        let f = Fixture::new(
            r#"ptest.batch { name = "py", items = { "tests/test_x.py", "tests/test_y.py" },
                 batches = 1, cmd = { "true", "{items}" }, results = "r.xml" }"#,
        );
        for file in ["tests/test_x.py", "tests/test_y.py", "calc/calc_test.go"] {
            let path = f.dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let p = f.plan();
        (f, p)
    }

    #[test]
    fn a_part_with_results_is_annotated_per_failed_test_on_its_file_and_line() {
        let (f, p) = batch();
        let mut r = result(&p, "py[1]", Status::Failed, 1.0);
        let mut bad = case(
            "test_y[a,b]",
            "tests.test_x",
            Some("tests/test_x.py"),
            Outcome::Failed,
        );
        // Its `line` attribute (the definition's) is not where it failed.
        bad.line = Some(4);
        bad.message = Some("assert 1 == 2\n50% off".into());
        bad.text = Some(
            "def test_y():\n>       assert 1 == 2\nE       assert 1 == 2\n\ntests/test_x.py:7: AssertionError"
                .into(),
        );
        // No file in the results (pytest's xunit2): its item is; a text without `FILE:LINE`.
        let mut err = case("test_err", "tests.test_y", None, Outcome::Error);
        err.item = p
            .suite(r.id)
            .part
            .as_ref()
            .unwrap()
            .items
            .iter()
            .position(|(i, _)| i == "tests/test_y.py");
        err.message = Some("fixture 'db' not found".into());
        err.text = Some("file /x/tests/test_y.py, line 1".into());
        // go: no file, its output names one in the package's folder.
        let mut go = case("TestBoom", "example.com/m/calc", None, Outcome::Failed);
        go.text = Some("    calc_test.go:20: boom: got 4, want 5\n    more".into());
        // Nowhere to be found: no file.
        let mut gone = case(
            "test_gone",
            "tests.test_z",
            Some("tests/test_z.py"),
            Outcome::Failed,
        );
        gone.text = Some("tests/test_z.py:3: AssertionError".into());
        r.testcases = vec![
            case(
                "test_ok",
                "tests.test_x",
                Some("tests/test_x.py"),
                Outcome::Passed,
            ),
            bad,
            err,
            case(
                "test_skip",
                "tests.test_y",
                Some("tests/test_y.py"),
                Outcome::Skipped,
            ),
            go,
            gone,
        ];
        let mut g = GithubSink::new(None, vec![f.dir.path().to_path_buf()]);
        let out = g.failed_result(&p, &r);
        assert_eq!(
            out,
            "::error file=tests/test_x.py,line=7,title=tests/test_x.py%3A%3Atest_y[a%2Cb] failed::assert 1 == 2%0A50%25 off\n\
             ::error file=tests/test_y.py,title=tests.test_y%3A%3Atest_err error::fixture 'db' not found\n\
             ::error file=calc/calc_test.go,line=20,title=example.com/m/calc%3A%3ATestBoom failed::calc_test.go:20: boom: got 4, want 5%0A    more\n\
             ::error title=tests/test_z.py%3A%3Atest_gone failed::tests/test_z.py:3: AssertionError\n"
        );
        // Outside every root: no file.
        let elsewhere = GithubSink::new(None, vec![PathBuf::from("/nonexistent")]);
        assert!(
            elsewhere
                .test_annotation(&p, &entry(&p, &r).cases()[1])
                .starts_with("::error title=tests/test_x.py%3A%3Atest_y[a%2Cb] failed::"),
        );
    }

    #[test]
    fn a_part_without_failed_tests_or_that_timed_out_is_annotated_as_a_suite() {
        let (f, p) = batch();
        let root = vec![f.dir.path().to_path_buf()];
        let mut r = result(&p, "py[1]", Status::Failed, 1.0);
        r.testcases = vec![case(
            "test_ok",
            "tests.test_x",
            Some("tests/test_x.py"),
            Outcome::Passed,
        )];
        let out = GithubSink::new(None, root.clone()).failed_result(&p, &r);
        assert!(
            out.starts_with("::error title=ptest%3A py[1] failed::exit code 3"),
            "{out}"
        );
        assert_eq!(out.matches("::error").count(), 1, "{out}");
        let mut r = result(&p, "py[1]", Status::TimedOut, 1.0);
        r.testcases = vec![case(
            "test_hang",
            "tests.test_x",
            Some("tests/test_x.py"),
            Outcome::Failed,
        )];
        let out = GithubSink::new(None, root).failed_result(&p, &r);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "::error title=ptest%3A py[1] timed_out::timed out after 2m (log: ".to_owned()
                    + &display_path(r.log_file.as_deref().unwrap())
                        .display()
                        .to_string()
                    + ")",
                "::error file=tests/test_x.py,title=tests/test_x.py%3A%3Atest_hang failed::failed"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn failed_tests_count_towards_the_limit_and_the_notice_says_how_many_were_left_out() {
        let (f, p) = batch();
        let mut g = GithubSink::new(None, vec![f.dir.path().to_path_buf()]);
        let mut r = result(&p, "py[1]", Status::Failed, 1.0);
        r.testcases = (1..=12)
            .map(|i| {
                case(
                    &format!("test_{i}"),
                    "tests.test_x",
                    Some("tests/test_x.py"),
                    Outcome::Failed,
                )
            })
            .collect();
        let out = g.failed_result(&p, &r);
        assert_eq!(out.matches("::error ").count(), 10, "{out}");
        assert!(out.contains("test_10 failed"), "{out}");
        assert!(!out.contains("test_11"), "{out}");
        // A suite past the limit, and a flaky one within it.
        let plain = result(&p, "py[1]", Status::TimedOut, 1.0);
        assert_eq!(g.failed_result(&p, &plain).matches("::error ").count(), 0);
        assert_eq!(
            g.overflow(),
            "::notice title=ptest::2 more failed tests and 1 more failed suites are not annotated (GitHub shows 10 of each kind per step): see the job summary\n"
        );
        for _ in 0..11 {
            g.flaky_result(&p, &result(&p, "py[1]", Status::Flaky, 1.0));
        }
        assert!(
            g.overflow().contains(
                "::2 more failed tests, 1 more failed suites and 1 more flaky suites are not"
            ),
            "{}",
            g.overflow()
        );
    }

    #[test]
    fn a_rust_test_is_annotated_where_it_panicked() {
        let (f, p) = batch();
        std::fs::create_dir_all(f.dir.path().join("src")).unwrap();
        std::fs::write(f.dir.path().join("src/lib.rs"), "").unwrap();
        let mut r = result(&p, "py[1]", Status::Failed, 1.0);
        let mut fails = case("tiny(lib)/tests::fails", "", None, Outcome::Failed);
        fails.classname = None;
        fails.message = Some("assertion `left == right` failed".into());
        fails.text = Some(
            "\nthread 'tests::fails' (3620) panicked at src/lib.rs:30:9:\nassertion failed\n   4: tiny::tests::fails\n             at ./src/lib.rs:30:9".into(),
        );
        // A panic in a file that is not there (the standard library's): no file.
        let mut std_panic = case("it/deep", "", None, Outcome::Failed);
        std_panic.classname = None;
        std_panic.text =
            Some("thread 'deep' panicked at /rustc/abc/library/core/src/x.rs:5:1:\nboom".into());
        r.testcases = vec![fails, std_panic];
        let out = GithubSink::new(None, vec![f.dir.path().to_path_buf()]).failed_result(&p, &r);
        assert_eq!(
            out,
            "::error file=src/lib.rs,line=30,title=tiny(lib)/tests%3A%3Afails failed::assertion `left == right` failed\n\
             ::error title=it/deep failed::thread 'deep' panicked at /rustc/abc/library/core/src/x.rs:5:1:%0Aboom\n"
        );
    }

    #[test]
    fn a_flaky_test_is_a_warning_of_its_own_and_the_summary_names_it() {
        let (f, p) = batch();
        let mut g = GithubSink::new(None, vec![f.dir.path().to_path_buf()]);
        let mut r = result(&p, "py[1]", Status::Flaky, 1.0);
        let mut shaky = case(
            "test_shaky",
            "tests.test_x",
            Some("tests/test_x.py"),
            Outcome::Passed,
        );
        shaky.attempts = 2;
        shaky.failed_before = Some("ConnectionError: refused".into());
        r.testcases = vec![
            case(
                "test_ok",
                "tests.test_x",
                Some("tests/test_x.py"),
                Outcome::Passed,
            ),
            shaky,
        ];
        assert_eq!(
            g.flaky_result(&p, &r),
            "::warning file=tests/test_x.py,title=tests/test_x.py%3A%3Atest_shaky flaky (passed on attempt 2/2)::failed before: ConnectionError: refused\n"
        );
        // Past GitHub's limit: counted as flaky tests left out.
        for _ in 0..10 {
            g.flaky_result(&p, &r);
        }
        assert_eq!(
            g.overflow(),
            "::notice title=ptest::1 more flaky tests are not annotated (GitHub shows 10 of each kind per step): see the job summary\n"
        );
        // A part that failed for another test still says which were flaky.
        let mut failed = r.clone();
        failed.status = Status::Failed;
        failed.testcases.push(case(
            "test_bad",
            "tests.test_x",
            Some("tests/test_x.py"),
            Outcome::Failed,
        ));
        let mut g = GithubSink::new(None, vec![f.dir.path().to_path_buf()]);
        let e = entry(&p, &failed);
        let out = g.finished(&p, &e);
        assert_eq!(out.matches("::error ").count(), 1, "{out}");
        assert!(
            out.contains(
                "::warning file=tests/test_x.py,title=tests/test_x.py%3A%3Atest_shaky flaky"
            ),
            "{out}"
        );
        // The step summary lists both by name.
        let mut record = crate::report::tests::renderers::mixed();
        record.suites[6] = e;
        let md = summary_markdown(&record, 1 << 20);
        assert!(
            md.contains("| tests/test_x.py::test_bad | failed | py[1] |  |"),
            "{md}"
        );
        assert!(
            md.contains("| tests/test_x.py::test_shaky | 2/2 | py[1] | ConnectionError: refused |"),
            "{md}"
        );
    }

    fn four() -> (crate::plan::Plan, Vec<SuiteResult>) {
        let p = plan(
            r#"
            ptest.suite { name = "ok", cmd = "true" }
            ptest.suite { name = "a|b", cmd = "true" }
            ptest.suite { name = "shaky", cmd = "true", retry = 1 }
            ptest.suite { name = "never", cmd = "true" }
            "#,
        );
        let results = vec![
            result(&p, "ok", Status::Passed, 3.0),
            result(&p, "a|b", Status::Failed, 2.0),
            result(&p, "shaky", Status::Flaky, 1.0),
            result(&p, "never", Status::Skipped, 0.0),
        ];
        (p, results)
    }

    #[test]
    fn the_step_summary_has_counts_a_table_of_what_did_not_pass_and_the_slowest() {
        let (p, results) = four();
        let md = summary_markdown(&record_of(&p, &results, 3.0, false, &[]), 1 << 20);
        let want = "### ptest: 4 suites: 1 passed, 1 flaky, 1 failed, 1 skipped\n\n\
            Wall 3.0s for 4 suites; the suites' own time 6.0s\n\n\
            | suite | status | duration | details |\n|---|---|---|---|\n\
            | a\\|b | failed | 2.0s | exit code 3 |\n\
            | shaky | flaky | 1.0s | failed before: exit code 1 |\n\
            | never | skipped | 0ms | dependency \"x\" failed |\n\n\
            **Slowest**\n\n| suite | duration | attempts |\n|---|---|---|\n\
            | ok | 3.0s | 1 |\n| a\\|b | 2.0s | 1 |\n| shaky | 1.0s | 2 |\n\n";
        assert!(md.starts_with(want), "{md}");
        assert!(
            md.contains("<details open><summary>a\\|b failed: exit code 3</summary>\n\n```text\n\n```\n\n</details>"),
            "{md}"
        );
    }

    #[test]
    fn an_interrupted_summary_says_so_instead_of_a_speedup() {
        let (p, results) = four();
        let md = summary_markdown(&record_of(&p, &results, 3.0, true, &[]), 1 << 20);
        assert!(
            md.contains(
                "\n\nInterrupted after 3.0s: running suites were cancelled, the rest skipped.\n\n"
            ),
            "{md}"
        );
        assert!(!md.contains("speedup"), "{md}");
    }

    #[test]
    fn the_step_summary_stays_within_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(
            r#"
            for i = 1, 4 do ptest.suite { name = "f" .. i, cmd = "true" } end
            "#,
        );
        let big = "x".repeat(2000) + "\n";
        let results: Vec<SuiteResult> = (1..=4)
            .map(|i| {
                with_log(
                    result(&p, &format!("f{i}"), Status::Failed, 1.0),
                    dir.path(),
                    &big,
                )
            })
            .collect();
        let record = record_of(&p, &results, 1.0, false, &[]);
        // Room for the counts, the tables and two tails only.
        let budget = SUMMARY_RESERVE + 1000 + 2 * 2100;
        let md = summary_markdown(&record, budget);
        assert_eq!(md.matches("<details open>").count(), 2, "{md}");
        assert!(
            md.ends_with(
                "2 more failures' output left out to stay under GitHub's 1 MiB: see their logs.\n"
            ),
            "{md}"
        );
        assert!(md.len() <= budget);
        // With no room at all, the counts still come.
        let md = summary_markdown(&record, 10);
        assert!(
            md.starts_with("### ptest: 4 suites: 0 passed, 4 failed"),
            "{md}"
        );
        assert!(!md.contains("| suite |"), "{md}");
    }
}
