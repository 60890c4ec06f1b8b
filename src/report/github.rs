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
}
