//! On GitHub Actions (`GITHUB_ACTIONS=true`): an `::error` annotation per failed suite on stdout,
//! and a Markdown summary appended to `$GITHUB_STEP_SUMMARY`.

use std::io::Write;
use std::path::PathBuf;

use super::display_path;
use crate::duration::human;
use crate::event::{Event, RunInfo, Sink, Status};
use crate::plan::Plan;

/// Workflow-command data escaping (`%`, CR, LF); properties also escape `:` and `,`.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub struct GithubSink {
    pub summary_file: Option<PathBuf>,
}

impl GithubSink {
    /// `Some` only on GitHub Actions.
    pub fn detect() -> Option<GithubSink> {
        (std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")).then(|| GithubSink {
            summary_file: std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        })
    }
}

impl Sink for GithubSink {
    fn event(&mut self, plan: &Plan, _run: &RunInfo, event: &Event<'_>) {
        match event {
            Event::SuiteFinished { result } if result.status.is_failure() => {
                let s = plan.suite(result.id);
                let log = result
                    .log_file
                    .as_deref()
                    .map(|p| display_path(p).display().to_string())
                    .unwrap_or_default();
                let line = format!(
                    "::error title={}::{}\n",
                    property(&format!("ptest: {} {}", s.name, result.status.label())),
                    data(&format!(
                        "{} (log: {log})",
                        result.error_message.as_deref().unwrap_or("failed")
                    ))
                );
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
            Event::RunFinished {
                results, summary, ..
            } => {
                let Some(path) = &self.summary_file else {
                    return;
                };
                let mut md = format!(
                    "### ptest: {} passed, {} flaky, {} failed, {} timed out, {} cancelled, {} skipped\n\n\
Wall time {}, sequential {}, speedup {:.1}×\n\n",
                    summary.passed,
                    summary.flaky,
                    summary.failed,
                    summary.timed_out,
                    summary.cancelled,
                    summary.skipped,
                    human(summary.duration),
                    human(summary.sequential_time),
                    summary.speedup()
                );
                let notable: Vec<_> = results
                    .iter()
                    .filter(|r| r.status != Status::Passed)
                    .collect();
                if !notable.is_empty() {
                    md.push_str("| suite | status | duration | details |\n|---|---|---|---|\n");
                    for r in notable {
                        let details = r
                            .error_message
                            .as_deref()
                            .or(r.skip_reason.as_deref())
                            .unwrap_or("");
                        md.push_str(&format!(
                            "| {} | {} | {} | {} |\n",
                            cell(&plan.suite(r.id).name),
                            r.status.label(),
                            human(r.duration),
                            cell(details)
                        ));
                    }
                }
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    let _ = f.write_all(md.as_bytes());
                }
            }
            _ => {}
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
}
