//! The terminal: a header, one line per start, retry and finish, then a summary a person can act
//! on (counts, wall time, speedup, the slowest suites, each failure with its log's last lines).
//! Writes through one locked writer shared with `-v` streaming, so lines never tear.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::display_path;
use super::live::{LiveState, terminal_width};
use super::style::Styles;
use crate::duration::human;
use crate::event::{Event, LimiterStats, RunInfo, Sink, Status, SuiteResult, Summary};
use crate::exec::{LineSink, SharedWriter};
use crate::plan::Plan;

/// How much the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verbosity {
    /// `-q`: the summary only.
    Quiet,
    Normal,
    /// `-v`: also every output line, prefixed by the suite's name.
    Verbose,
}

const FAILURE_TAIL_LINES: usize = 15;
/// Failed tests of a batch named in the summary, before "... and N more".
const FAILED_TESTS_SHOWN: usize = 20;
const SLOWEST: usize = 5;

pub(crate) struct Terminal {
    out: SharedWriter,
    styles: Styles,
    verbosity: Verbosity,
    /// What runs: drawn as the status line on a terminal without `-v`, `-q` or `CI`; else
    /// named every 30 s in a "still running" line (not with `-q`).
    live: Option<Arc<Mutex<LiveState>>>,
    /// The status line is drawn (a terminal); otherwise plain lines only.
    live_view: bool,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

/// How often plain output names what still runs.
fn still_running_every() -> std::time::Duration {
    // A shorter period only for ptest's own tests, which cannot wait 30 s.
    let secs = std::env::var("PTEST_STILL_RUNNING_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.1)
        .unwrap_or(30.0);
    std::time::Duration::from_secs_f64(secs)
}

/// The status line's room: one column less than the terminal, so the cursor never sits past
/// the last column (where a terminal wraps, and the next redraw leaves a stale line).
fn status_width() -> usize {
    terminal_width().saturating_sub(1).max(1)
}

/// `-v` output lines go through the same writer as the reporter.
pub(crate) struct Echo {
    out: SharedWriter,
    styles: Styles,
}

impl LineSink for Echo {
    fn line(&self, prefix: &str, line: &[u8]) {
        self.lines(prefix, &[line]);
    }

    /// One write for all of them: a chatty suite costs a write per batch, not per line.
    fn lines(&self, prefix: &str, lines: &[&[u8]]) {
        let head = self.styles.dim(&format!("{prefix} |"));
        let size = lines.iter().map(|l| head.len() + l.len() + 2).sum();
        let mut buf = Vec::with_capacity(size);
        for line in lines {
            buf.extend_from_slice(head.as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(line);
            buf.push(b'\n');
        }
        if let Ok(mut w) = self.out.lock() {
            let _ = w.write_all(&buf);
            let _ = w.flush();
        }
    }
}

impl Terminal {
    /// Writing to `out` (stderr when stdout carries `--events -`).
    pub(crate) fn with_writer(
        styles: Styles,
        verbosity: Verbosity,
        out: Box<dyn Write + Send>,
    ) -> Terminal {
        let out: SharedWriter = Arc::new(Mutex::new(out));
        Terminal {
            out,
            styles,
            verbosity,
            live: None,
            live_view: false,
            ticker: None,
        }
    }

    /// Show a live status line below the event lines (call when stdout is a terminal and `CI`
    /// is not set); otherwise, unless quiet, a "still running" line every 30 s.
    #[must_use]
    pub(crate) fn with_live_view(mut self, enabled: bool) -> Terminal {
        self.live_view = enabled && self.verbosity == Verbosity::Normal;
        self.live = (self.live_view || self.verbosity != Verbosity::Quiet)
            .then(|| Arc::new(Mutex::new(LiveState::empty())));
        self
    }

    pub(crate) fn echo(&self) -> Arc<dyn LineSink> {
        Arc::new(Echo {
            out: self.out.clone(),
            styles: self.styles,
        })
    }

    fn write(&self, text: &str) {
        if let Ok(mut w) = self.out.lock() {
            match self.live.as_ref().filter(|_| self.live_view) {
                // Clear the status line, print above it, draw it again.
                Some(live) => {
                    let status = live
                        .lock()
                        .map(|l| l.render(std::time::Instant::now(), status_width()))
                        .unwrap_or_default();
                    let _ = write!(w, "\r\x1b[2K{text}{status}");
                }
                None => {
                    let _ = w.write_all(text.as_bytes());
                }
            }
            let _ = w.flush();
        }
    }

    fn live(&self, f: impl FnOnce(&mut LiveState)) {
        if let Some(l) = &self.live {
            if let Ok(mut l) = l.lock() {
                f(&mut l);
            }
        }
    }

    /// Redraw the status line twice a second, between events; off a terminal, name what still
    /// runs every 30 s.
    fn start_ticker(&mut self) {
        let (Some(live), Ok(handle)) = (self.live.clone(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let out = self.out.clone();
        let live_view = self.live_view;
        self.ticker = Some(handle.spawn(async move {
            let every = if live_view {
                std::time::Duration::from_millis(500)
            } else {
                still_running_every()
            };
            let mut tick = tokio::time::interval(every);
            // The first tick of an interval is at once.
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = std::time::Instant::now();
                let text = live
                    .lock()
                    .map(|l| {
                        if live_view {
                            format!("\r\x1b[2K{}", l.render(now, status_width()))
                        } else {
                            l.still_running(now)
                                .map(|t| format!("{t}\n"))
                                .unwrap_or_default()
                        }
                    })
                    .unwrap_or_default();
                if text.is_empty() {
                    continue;
                }
                if let Ok(mut w) = out.lock() {
                    let _ = w.write_all(text.as_bytes());
                    let _ = w.flush();
                }
            }
        }));
    }

    fn stop_live(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if self.live.take().is_some() && self.live_view {
            if let Ok(mut w) = self.out.lock() {
                let _ = write!(w, "\r\x1b[2K");
                let _ = w.flush();
            }
        }
    }

    fn header(&self, plan: &Plan, run: &RunInfo) -> String {
        let to_run = plan.suites.iter().filter(|s| s.skip.is_none()).count();
        let mut categories: BTreeMap<&str, usize> = BTreeMap::new();
        for s in plan.suites.iter().filter(|s| s.skip.is_none()) {
            *categories.entry(s.category.as_str()).or_default() += 1;
        }
        let cats = categories
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let cats = if cats.is_empty() {
            String::new()
        } else {
            format!(" ({cats})")
        };
        // The same total as the summary's; suites skipped before the start said apart.
        let total = plan.suites.len();
        let mut reasons: Vec<String> = plan
            .suites
            .iter()
            .filter_map(|s| s.skip.as_ref().map(crate::plan::StaticSkip::reason))
            .collect();
        reasons.sort();
        reasons.dedup();
        let count = if total == to_run {
            format!("{total} suite{}{cats}", if total == 1 { "" } else { "s" })
        } else {
            format!(
                "{total} suite{}, {to_run} to run{cats}, {} skipped ({})",
                if total == 1 { "" } else { "s" },
                total - to_run,
                reasons.join(", ")
            )
        };
        // On a shard, which one and which setting said so (DESIGN §10).
        let shard = plan.settings.shard.value.map_or_else(String::new, |sh| {
            format!(
                "shard {}/{} ({}), ",
                sh.index,
                sh.total,
                plan.settings.shard.source.label()
            )
        });
        format!(
            "{} {shard}{count}, {} worker{} ({}), fail-fast {}, logs in {}/  run {}\n",
            self.styles.bold("ptest:"),
            plan.workers,
            if plan.workers == 1 { "" } else { "s" },
            plan.worker_source.label(),
            if plan.fail_fast { "on" } else { "off" },
            display_path(&plan.log_dir).display(),
            run.run_id,
        )
    }

    fn finished_line(&self, plan: &Plan, r: &SuiteResult) -> String {
        let s = plan.suite(r.id);
        let label = match r.status {
            Status::Passed => "PASS",
            Status::Flaky => "FLAKY",
            Status::Failed => "FAIL",
            Status::TimedOut => "TIMEOUT",
            Status::Cancelled => "CANCEL",
            Status::Skipped => "SKIP",
        };
        let tag = self.styles.status(r.status, &format!("{label:<7}"));
        match r.status {
            Status::Skipped => format!(
                "{tag} {}  {}\n",
                s.name,
                self.styles.dim(
                    &r.skip_reason
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                )
            ),
            Status::Passed => format!("{tag} {}  {}\n", s.name, human(r.duration)),
            Status::Flaky => format!(
                "{tag} {}  {}  passed on attempt {}/{}\n",
                s.name,
                human(r.duration),
                r.attempts,
                s.retry.attempts
            ),
            _ => format!(
                "{tag} {}  {}  {}  {}\n",
                s.name,
                human(r.duration),
                r.error_message.as_deref().unwrap_or(""),
                r.log_file
                    .as_deref()
                    .map(|p| display_path(p).display().to_string())
                    .unwrap_or_default()
            ),
        }
    }

    fn summary(
        &self,
        plan: &Plan,
        results: &[SuiteResult],
        summary: &Summary,
        limiters: &[LimiterStats],
    ) -> String {
        let st = self.styles;
        let mut out = String::from("\n");
        let mut parts = vec![st.status(Status::Passed, &format!("{} passed", summary.passed))];
        for (n, status, word) in [
            (summary.flaky, Status::Flaky, "flaky"),
            (summary.failed, Status::Failed, "failed"),
            (summary.timed_out, Status::TimedOut, "timed out"),
            (summary.cancelled, Status::Cancelled, "cancelled"),
            (summary.skipped, Status::Skipped, "skipped"),
        ] {
            if n > 0 {
                parts.push(st.status(status, &format!("{n} {word}")));
            }
        }
        out.push_str(&format!(
            "{} {} suite{}: {}\n",
            st.bold("Summary:"),
            summary.total,
            if summary.total == 1 { "" } else { "s" },
            parts.join(", ")
        ));
        if let Some((n, parts)) = super::test_counts(results.iter().flat_map(|r| &r.testcases)) {
            out.push_str(&format!("Tests: {n} in batches' results: {parts}\n"));
        }
        let saved = summary.sequential_time.saturating_sub(summary.duration);
        if summary.interrupted {
            // Cut short: the time of suites that never ran is unknown, so no speedup.
            out.push_str(&format!(
                "Wall time {}, sequential {} (interrupted: no speedup)\n",
                human(summary.duration),
                human(summary.sequential_time),
            ));
        } else {
            out.push_str(&format!(
                "Wall time {}, sequential {}, speedup {:.1}x, saved {}\n",
                human(summary.duration),
                human(summary.sequential_time),
                summary.speedup(),
                human(saved)
            ));
        }
        if summary.interrupted {
            out.push_str(
                &st.warn("Interrupted: running suites were cancelled, the rest skipped.\n"),
            );
        }
        let mut ran: Vec<&SuiteResult> = results.iter().filter(|r| r.attempts > 0).collect();
        ran.sort_by(|a, b| b.duration.cmp(&a.duration).then(a.id.cmp(&b.id)));
        if ran.len() > 1 {
            let slow: Vec<String> = ran
                .iter()
                .take(SLOWEST)
                .map(|r| format!("{} {}", plan.suite(r.id).name, human(r.duration)))
                .collect();
            out.push_str(&format!("Slowest: {}\n", slow.join(", ")));
        }
        for (l, st) in plan.limiters.iter().zip(limiters) {
            out.push_str(&format!(
                "Limiter {}: {} acquired, waited {}, {} throttled",
                l.name,
                st.acquired,
                human(st.waited),
                st.throttled
            ));
            if (st.rate - l.rate).abs() > 1e-9 {
                out.push_str(&format!(
                    ", rate lowered to {:.2} per {}",
                    st.rate,
                    human(l.per)
                ));
            }
            if st.serialized {
                out.push_str(&self.styles.warn(&format!(
                    ", more than {} throttled: its suites ran one at a time",
                    l.max_throttled.unwrap_or(0)
                )));
            }
            out.push('\n');
        }
        let flaky: Vec<&SuiteResult> = results
            .iter()
            .filter(|r| r.status == Status::Flaky)
            .collect();
        if !flaky.is_empty() {
            out.push_str(&format!(
                "\n{}\n",
                st.status(Status::Flaky, "Flaky suites (passed on a retry):")
            ));
            for r in flaky {
                out.push_str(&format!(
                    "  {}  {} attempts (before: {})\n",
                    plan.suite(r.id).name,
                    r.attempts,
                    r.failed_attempts.join("; ")
                ));
            }
        }
        let failures: Vec<&SuiteResult> =
            results.iter().filter(|r| r.status.is_failure()).collect();
        if !failures.is_empty() {
            out.push_str(&format!("\n{}\n", st.status(Status::Failed, "Failures:")));
            for r in failures {
                let s = plan.suite(r.id);
                let log = r
                    .log_file
                    .as_deref()
                    .map(|p| display_path(p).display().to_string())
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{} {}  {}  {}\n",
                    st.status(r.status, "✗"),
                    st.bold(&s.name),
                    r.error_message.as_deref().unwrap_or(""),
                    log
                ));
                // A batch's failed tests by name, with the assertion's message.
                let failed: Vec<&crate::batch::results::TestCase> = r
                    .testcases
                    .iter()
                    .filter(|c| c.outcome.is_failure())
                    .collect();
                for c in failed.iter().take(FAILED_TESTS_SHOWN) {
                    out.push_str(&format!(
                        "    {} {} {}{}\n",
                        st.status(Status::Failed, "✗"),
                        c.display(),
                        c.outcome.label(),
                        c.summary().map(|m| format!(": {m}")).unwrap_or_default()
                    ));
                }
                if failed.len() > FAILED_TESTS_SHOWN {
                    out.push_str(&format!(
                        "    ... and {} more failed tests (see the JUnit report or the log)\n",
                        failed.len() - FAILED_TESTS_SHOWN
                    ));
                }
                if let (Some(path), Some((start, end))) = (r.log_file.as_deref(), r.last_output) {
                    let mut tail = crate::exec::read_tail(path, start, end);
                    // Without colour (off a terminal, NO_COLOR, --color never) none from logs.
                    if !st.enabled {
                        tail = super::strip_ansi(&tail).into_bytes();
                    }
                    for line in last_lines(&tail, FAILURE_TAIL_LINES) {
                        out.push_str(&format!("    {} {line}\n", st.dim("|")));
                    }
                }
            }
        }
        out
    }
}

/// Where the failed attempts' temporary folders stayed, when some did.
fn kept_folders(run: &RunInfo, results: &[SuiteResult]) -> String {
    let failed_attempts = results
        .iter()
        .any(|r| r.status.is_failure() || r.status == Status::Flaky);
    let root = crate::sched::files::run_tmp_root(&run.run_id);
    if failed_attempts && root.is_dir() {
        format!(
            "\nFailed attempts' temporary folders: {} (those of the last {} runs are kept)\n",
            root.display(),
            crate::sched::files::KEPT_RUNS
        )
    } else {
        String::new()
    }
}

/// The last `n` lines of some output, lossily decoded, without a trailing empty line.
pub(crate) fn last_lines(bytes: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
    let from = lines.len().saturating_sub(n);
    if text.is_empty() {
        return Vec::new();
    }
    lines[from..]
        .iter()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect()
}

impl Sink for Terminal {
    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &Event<'_>) {
        let quiet = self.verbosity == Verbosity::Quiet;
        match event {
            Event::RunStarted if self.live.is_some() => {
                self.live(|l| *l = LiveState::new(plan));
                self.start_ticker();
            }
            Event::SuiteStarted { id, attempt, .. } => {
                self.live(|l| l.started(plan, *id, *attempt));
            }
            Event::SuiteRetrying { id, .. } => self.live(|l| l.ended(*id, false, 0.0)),
            Event::SuiteSlow { id, .. } => self.live(|l| l.slow(*id)),
            Event::SuiteFinished { result } if result.attempts == 0 => {
                self.live(|l| l.skipped(plan, result.id));
            }
            Event::SuiteFinished { result } => {
                self.live(|l| l.ended(result.id, true, result.duration.as_secs_f64()));
            }
            Event::RunFinished { .. } => self.stop_live(),
            _ => {}
        }
        match event {
            Event::RunStarted if !quiet => self.write(&self.header(plan, run)),
            Event::SuiteStarted {
                id,
                attempt,
                worker,
            } if !quiet => {
                let s = plan.suite(*id);
                let again = if *attempt > 1 {
                    format!("  attempt {attempt}/{}", s.retry.attempts)
                } else {
                    String::new()
                };
                self.write(&format!(
                    "{} {}  {}{again}\n",
                    self.styles.dim("START  "),
                    s.name,
                    self.styles.dim(&format!("worker {worker}"))
                ));
            }
            Event::SuiteRetrying {
                id,
                attempt,
                delay,
                reason,
            } if !quiet => {
                let s = plan.suite(*id);
                self.write(&format!(
                    "{} {}  attempt {attempt}/{} failed ({reason}), retrying in {}\n",
                    self.styles.warn("RETRY  "),
                    s.name,
                    s.retry.attempts,
                    human(*delay)
                ));
            }
            Event::SuiteFinished { result } if !quiet => {
                self.write(&self.finished_line(plan, result));
            }
            Event::SuiteSlow {
                id,
                elapsed,
                expected,
            } if !quiet => {
                self.write(&format!(
                    "{} {}  running for {}, expected {}\n",
                    self.styles.warn("SLOW   "),
                    plan.suite(*id).name,
                    human(*elapsed),
                    human(*expected)
                ));
            }
            Event::Stopping { reason } => {
                let what = if *reason == crate::event::CancelReason::Interrupted {
                    "interrupted: cancelling running suites, skipping the rest (Ctrl-C again to kill at once; always phases still run)"
                } else {
                    "fail-fast: cancelling running suites, skipping the rest (always phases still run)"
                };
                self.write(&format!("{}\n", self.styles.warn(what)));
            }
            Event::Warning { message } => {
                self.write(&format!("{} {message}\n", self.styles.warn("warning:")));
            }
            Event::RunFinished {
                results,
                summary,
                limiters,
            } => {
                let mut text = self.summary(plan, results, summary, limiters);
                text.push_str(&kept_folders(run, results));
                self.write(&text);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn last_lines_of_output() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), vec!["b", "c"]);
        assert_eq!(last_lines(b"a\r\nb", 5), vec!["a", "b"]);
        assert!(last_lines(b"", 3).is_empty());
    }
}
