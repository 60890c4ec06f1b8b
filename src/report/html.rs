//! `--html FILE`: one self-contained page (no scripts, no external files): the summary, a
//! timeline of every suite on its worker, a table of all suites, and the failing logs' tails.
//! Every piece of text from suites and logs is escaped.

use std::fmt::Write;

use super::terminal::last_lines;
use super::{display_path, unix_secs};
use crate::duration::human;
use crate::event::{Event, RunInfo, Sink, Status, SuiteResult, Summary};
use crate::plan::Plan;

const TAIL_LINES: usize = 40;

/// Escape text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn color(status: Status) -> &'static str {
    match status {
        Status::Passed => "#2e7d32",
        Status::Flaky => "#f9a825",
        Status::Failed | Status::TimedOut => "#c62828",
        Status::Cancelled => "#757575",
        Status::Skipped => "#bdbdbd",
    }
}

/// The page.
pub fn build(plan: &Plan, run: &RunInfo, results: &[SuiteResult], summary: &Summary) -> String {
    let mut h = String::new();
    let title = format!("ptest run {}", run.run_id);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}\
table{{border-collapse:collapse}}td,th{{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}}\
pre{{background:#f6f6f6;padding:8px;overflow:auto;max-height:30em}}\
.b{{display:inline-block;padding:1px 8px;border-radius:3px;color:#fff}}\
</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        h,
        "<p>{} suites: {} passed, {} flaky, {} failed, {} timed out, {} cancelled, {} skipped. \
Wall time {}, sequential {}, speedup {:.1}×, {} workers.{}</p>",
        summary.total,
        summary.passed,
        summary.flaky,
        summary.failed,
        summary.timed_out,
        summary.cancelled,
        summary.skipped,
        escape(&human(summary.duration)),
        escape(&human(summary.sequential_time)),
        summary.speedup(),
        plan.workers,
        if summary.interrupted {
            " <b>Interrupted.</b>"
        } else {
            ""
        }
    );

    // Timeline: one row per worker, one bar per suite that ran.
    let t0 = unix_secs(run.started);
    let ran: Vec<&SuiteResult> = results
        .iter()
        .filter(|r| r.start_time.is_some() && r.end_time.is_some())
        .collect();
    let t1 = ran
        .iter()
        .filter_map(|r| r.end_time.map(unix_secs))
        .fold(t0 + 0.001, f64::max);
    let rows = ran
        .iter()
        .filter_map(|r| r.worker)
        .max()
        .map_or(0, |w| w + 1);
    let (width, row_h, left) = (1000.0, 22.0, 70.0);
    let scale = (width - left) / (t1 - t0);
    let _ = writeln!(
        h,
        "<h2>Timeline</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"timeline\">",
        f64::from(rows) * row_h + 20.0
    );
    for w in 0..rows {
        let _ = writeln!(
            h,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">worker {w}</text>",
            f64::from(w) * row_h + 15.0
        );
    }
    for r in &ran {
        let s = plan.suite(r.id);
        let x = left + (r.start_time.map_or(t0, unix_secs) - t0) * scale;
        let w = ((r.end_time.map_or(t0, unix_secs) - r.start_time.map_or(t0, unix_secs)) * scale)
            .max(1.0);
        let y = f64::from(r.worker.unwrap_or(0)) * row_h + 2.0;
        let _ = writeln!(
            h,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}</title></rect>",
            row_h - 4.0,
            color(r.status),
            escape(&format!(
                "{}: {} in {} ({} attempts)",
                s.name,
                r.status.label(),
                human(r.duration),
                r.attempts
            ))
        );
    }
    let _ = writeln!(
        h,
        "<text x=\"{left}\" y=\"{}\" font-size=\"11\">0s</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text></svg>",
        f64::from(rows) * row_h + 15.0,
        width - 2.0,
        f64::from(rows) * row_h + 15.0,
        escape(&human(std::time::Duration::from_secs_f64(t1 - t0)))
    );

    h.push_str("<h2>Suites</h2>\n<table><tr><th>suite</th><th>status</th><th>duration</th><th>attempts</th><th>worker</th><th>category</th><th>phase</th><th>details</th><th>log</th></tr>\n");
    for r in results {
        let s = plan.suite(r.id);
        let details = r
            .error_message
            .as_deref()
            .or(r.skip_reason.as_deref())
            .unwrap_or("");
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><span class=\"b\" style=\"background:{}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.name),
            color(r.status),
            r.status.label(),
            escape(&human(r.duration)),
            r.attempts,
            r.worker.map(|w| w.to_string()).unwrap_or_default(),
            escape(&s.category),
            escape(&plan.phase(s.phase).name),
            escape(details),
            r.log_file
                .as_deref()
                .map(|p| escape(&display_path(p).to_string_lossy()))
                .unwrap_or_default()
        );
    }
    h.push_str("</table>\n");

    let failures: Vec<&SuiteResult> = results.iter().filter(|r| r.status.is_failure()).collect();
    if !failures.is_empty() {
        h.push_str("<h2>Failures</h2>\n");
        for r in failures {
            let s = plan.suite(r.id);
            let tail = match (&r.log_file, r.last_output) {
                (Some(p), Some((a, b))) => {
                    last_lines(&crate::sched::read_tail(p, a, b), TAIL_LINES).join("\n")
                }
                _ => String::new(),
            };
            let _ = writeln!(
                h,
                "<h3>{} — {}</h3>\n<pre>{}</pre>",
                escape(&s.name),
                escape(r.error_message.as_deref().unwrap_or("failed")),
                escape(&tail)
            );
        }
    }
    h.push_str("</body></html>\n");
    h
}

/// Writes the page when the run ends.
pub struct HtmlSink {
    pub path: std::path::PathBuf,
    pub errors: Vec<String>,
}

impl Sink for HtmlSink {
    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &Event<'_>) {
        if let Event::RunFinished {
            results, summary, ..
        } = event
        {
            let page = build(plan, run, results, summary);
            if let Err(e) = super::write_file_atomic(&self.path, page.as_bytes()) {
                self.errors.push(format!(
                    "cannot write HTML report {}: {}",
                    self.path.display(),
                    crate::io_message(&e)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
