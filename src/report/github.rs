//! On GitHub Actions (`GITHUB_ACTIONS=true`): an `::error` annotation per failed suite and a
//! `::warning` per flaky one on stdout (with `file=` where the suite is about one file), within
//! GitHub's limit of 10 of each per step — past it, one notice points to the summary; each
//! failure's tail folded in a `::group::`; and a Markdown summary appended to
//! `$GITHUB_STEP_SUMMARY` (counts, the slowest suites, each failure's tail) kept under GitHub's
//! 1 MiB.
//!
//! Test output is shown between `::stop-commands::` markers, so a line in it that looks like a
//! workflow command is printed, not obeyed.

use std::io::Write;
use std::path::PathBuf;

use super::terminal::last_lines;
use super::{display_path, strip_ansi, suite_file};
use crate::duration::human;
use crate::event::{Event, RunInfo, Sink, Status, SuiteResult};
use crate::plan::Plan;

/// GitHub shows at most this many annotations of each kind per step.
const ANNOTATIONS: usize = 10;
/// A step summary larger than 1 MiB is refused whole.
const SUMMARY_LIMIT: u64 = 1024 * 1024;
/// Room kept for the end of the summary after the tails.
const SUMMARY_RESERVE: usize = 4 * 1024;
const TAIL_LINES: usize = 50;
const SLOWEST: usize = 5;

/// Workflow-command data escaping (`%`, CR, LF); properties also escape `:` and `,`.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace(['\n', '\r'], " ")
}

/// A code fence longer than any run of backticks in `text`.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn tail(r: &SuiteResult) -> Vec<String> {
    match (&r.log_file, r.last_output) {
        (Some(p), Some((a, b))) => {
            let plain = strip_ansi(&crate::exec::read_tail(p, a, b));
            last_lines(plain.as_bytes(), TAIL_LINES)
        }
        _ => Vec::new(),
    }
}

pub(crate) struct GithubSink {
    pub summary_file: Option<PathBuf>,
    errors: usize,
    warnings: usize,
}

impl GithubSink {
    /// `Some` only on GitHub Actions.
    pub(crate) fn detect() -> Option<GithubSink> {
        (std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")).then(|| GithubSink {
            summary_file: std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            errors: 0,
            warnings: 0,
        })
    }

    fn annotation(plan: &Plan, r: &SuiteResult, kind: &str, title: &str, message: &str) -> String {
        let s = plan.suite(r.id);
        let file = suite_file(plan, s)
            .map(|f| format!("file={},", property(&f)))
            .unwrap_or_default();
        let log = r
            .log_file
            .as_deref()
            .map(|p| format!(" (log: {})", display_path(p).display()))
            .unwrap_or_default();
        format!(
            "::{kind} {file}title={}::{}\n",
            property(title),
            data(&format!("{message}{log}"))
        )
    }

    fn failed(&mut self, plan: &Plan, r: &SuiteResult) -> String {
        let s = plan.suite(r.id);
        let mut out = String::new();
        self.errors += 1;
        if self.errors <= ANNOTATIONS {
            out.push_str(&Self::annotation(
                plan,
                r,
                "error",
                &format!("ptest: {} {}", s.name, r.status.label()),
                r.error_message.as_deref().unwrap_or("failed"),
            ));
        }
        let lines = tail(r);
        if !lines.is_empty() {
            // The tail folded, and never read as workflow commands.
            let token = format!("ptest-{:016x}", fastrand::u64(..));
            out.push_str(&format!(
                "::group::{}\n::stop-commands::{token}\n",
                data(&format!(
                    "ptest: {} {}: last lines of its log",
                    s.name,
                    r.status.label()
                ))
            ));
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
            out.push_str(&format!("::{token}::\n::endgroup::\n"));
        }
        out
    }

    fn flaky(&mut self, plan: &Plan, r: &SuiteResult) -> String {
        self.warnings += 1;
        if self.warnings > ANNOTATIONS {
            return String::new();
        }
        let s = plan.suite(r.id);
        Self::annotation(
            plan,
            r,
            "warning",
            &format!(
                "ptest: {} flaky (passed on attempt {}/{})",
                s.name, r.attempts, s.retry.attempts
            ),
            &format!("failed before: {}", r.failed_attempts.join("; ")),
        )
    }

    /// The note past GitHub's limits, at the end of the run.
    fn overflow(&self) -> String {
        let mut more = Vec::new();
        if self.errors > ANNOTATIONS {
            more.push(format!("{} more failed suites", self.errors - ANNOTATIONS));
        }
        if self.warnings > ANNOTATIONS {
            more.push(format!("{} more flaky suites", self.warnings - ANNOTATIONS));
        }
        if more.is_empty() {
            return String::new();
        }
        format!(
            "::notice title=ptest::{}\n",
            data(&format!(
                "{} are not annotated (GitHub shows {ANNOTATIONS} of each kind per step): see the job summary",
                more.join(" and ")
            ))
        )
    }
}

/// The step summary, at most `budget` bytes.
pub(crate) fn summary_markdown(
    plan: &Plan,
    results: &[SuiteResult],
    summary: &crate::event::Summary,
    budget: usize,
) -> String {
    let mut md = format!(
        "### ptest: {} passed, {} flaky, {} failed, {} timed out, {} cancelled, {} skipped\n\n",
        summary.passed,
        summary.flaky,
        summary.failed,
        summary.timed_out,
        summary.cancelled,
        summary.skipped,
    );
    if summary.interrupted {
        md.push_str(&format!(
            "Interrupted after {}: running suites were cancelled, the rest skipped.\n\n",
            human(summary.duration)
        ));
    } else {
        md.push_str(&format!(
            "{} suites, wall time {}, sequential {}, speedup {:.1}×\n\n",
            summary.total,
            human(summary.duration),
            human(summary.sequential_time),
            summary.speedup()
        ));
    }
    let notable: Vec<&SuiteResult> = results
        .iter()
        .filter(|r| r.status != Status::Passed)
        .collect();
    let mut table = String::new();
    if !notable.is_empty() {
        table.push_str("| suite | status | duration | details |\n|---|---|---|---|\n");
        for r in &notable {
            let details = match r.status {
                Status::Flaky => format!("failed before: {}", r.failed_attempts.join("; ")),
                _ => r
                    .error_message
                    .as_deref()
                    .or(r.skip_reason.as_deref())
                    .unwrap_or("")
                    .to_owned(),
            };
            table.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                cell(&plan.suite(r.id).name),
                r.status.label(),
                human(r.duration),
                cell(&details)
            ));
        }
        table.push('\n');
    }
    let mut ran: Vec<&SuiteResult> = results.iter().filter(|r| r.attempts > 0).collect();
    ran.sort_by(|a, b| b.duration.cmp(&a.duration).then(a.id.cmp(&b.id)));
    let mut slow = String::new();
    if ran.len() > 1 {
        slow.push_str("**Slowest**\n\n| suite | duration | attempts |\n|---|---|---|\n");
        for r in ran.iter().take(SLOWEST) {
            slow.push_str(&format!(
                "| {} | {} | {} |\n",
                cell(&plan.suite(r.id).name),
                human(r.duration),
                r.attempts
            ));
        }
        slow.push('\n');
    }
    // The counts always; the table and the slowest if they fit; then as many tails as fit.
    let limit = budget.saturating_sub(SUMMARY_RESERVE);
    for part in [table, slow] {
        if md.len() + part.len() <= limit {
            md.push_str(&part);
        }
    }
    let failures: Vec<&SuiteResult> = results.iter().filter(|r| r.status.is_failure()).collect();
    let mut left_out = 0;
    for r in &failures {
        let lines = tail(r).join("\n");
        let f = fence(&lines);
        let block = format!(
            "<details open><summary>{} {}: {}</summary>\n\n{f}text\n{lines}\n{f}\n\n</details>\n\n",
            cell(&plan.suite(r.id).name),
            r.status.label(),
            cell(r.error_message.as_deref().unwrap_or("failed")),
        );
        if md.len() + block.len() <= limit {
            md.push_str(&block);
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        md.push_str(&format!(
            "{left_out} more failures' output left out to stay under GitHub's 1 MiB: see their logs.\n"
        ));
    }
    md
}

impl Sink for GithubSink {
    fn event(&mut self, plan: &Plan, _run: &RunInfo, event: &Event<'_>) {
        let text = match event {
            Event::SuiteFinished { result } if result.status.is_failure() => {
                self.failed(plan, result)
            }
            Event::SuiteFinished { result } if result.status == Status::Flaky => {
                self.flaky(plan, result)
            }
            Event::RunFinished {
                results, summary, ..
            } => {
                if let Some(path) = &self.summary_file {
                    // Earlier writers in the same step share the limit.
                    let used = std::fs::metadata(path).map_or(0, |m| m.len());
                    let budget = SUMMARY_LIMIT.saturating_sub(used) as usize;
                    let md = summary_markdown(plan, results, summary, budget);
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
    fn a_fence_is_longer_than_any_backtick_run_inside() {
        assert_eq!(fence("plain"), "```");
        assert_eq!(fence("a ```` b"), "`````");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
    use crate::event::Summary;
    use crate::plan::tests::{Fixture, plan};
    use crate::report::tests::{result, with_log};
    use std::time::Duration;

    fn sink() -> GithubSink {
        GithubSink {
            summary_file: None,
            errors: 0,
            warnings: 0,
        }
    }

    #[test]
    fn markdown_cells_and_data_escape_what_would_break_them() {
        assert_eq!(cell("a\\b<script>\r"), "a\\\\b&lt;script> ");
        assert_eq!(data("a\r\nb%"), "a%0D%0Ab%25");
        assert_eq!(property("x%:y,z\n"), "x%25%3Ay%2Cz%0A");
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
            sink().failed(&p, &r),
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
        let one = sink().failed(&p, &result(&p, "tests/test_a.py", Status::Failed, 1.0));
        assert!(
            one.starts_with("::error file=tests/test_a.py,title=ptest%3A tests/test_a.py failed::"),
            "{one}"
        );
        // About two files: no file.
        let two = sink().failed(&p, &result(&p, "two", Status::TimedOut, 1.0));
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
        let out = sink().failed(&p, &r);
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
                .failed(&p, &result(&p, &name, Status::Failed, 1.0))
                .matches("::error ")
                .count();
            if i <= 11 {
                warnings += g
                    .flaky(&p, &result(&p, &name, Status::Flaky, 1.0))
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
            sink().flaky(&p, &r),
            format!(
                "::warning title=ptest%3A net flaky (passed on attempt 2/3)::failed before: exit code 1 (log: {log})\n"
            )
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
        let summary = Summary::from_results(&results, Duration::from_secs(3), false);
        let md = summary_markdown(&p, &results, &summary, 1 << 20);
        let want = "### ptest: 1 passed, 1 flaky, 1 failed, 0 timed out, 0 cancelled, 1 skipped\n\n\
            4 suites, wall time 3.0s, sequential 6.0s, speedup 2.0×\n\n\
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
        let summary = Summary::from_results(&results, Duration::from_secs(3), true);
        let md = summary_markdown(&p, &results, &summary, 1 << 20);
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
        let summary = Summary::from_results(&results, Duration::from_secs(1), false);
        // Room for the counts, the tables and two tails only.
        let budget = SUMMARY_RESERVE + 1000 + 2 * 2100;
        let md = summary_markdown(&p, &results, &summary, budget);
        assert_eq!(md.matches("<details open>").count(), 2, "{md}");
        assert!(
            md.ends_with(
                "2 more failures' output left out to stay under GitHub's 1 MiB: see their logs.\n"
            ),
            "{md}"
        );
        assert!(md.len() <= budget);
        // With no room at all, the counts still come.
        let md = summary_markdown(&p, &results, &summary, 10);
        assert!(
            md.starts_with("### ptest: 0 passed, 0 flaky, 4 failed"),
            "{md}"
        );
        assert!(!md.contains("| suite |"), "{md}");
    }
}
