//! The terminal: a header, one line per start, retry and finish, then the run's record summed up
//! so a person can act on it (counts, what the wall time paid for, the slowest suites, each
//! failure with its output's last lines). Writes through one locked writer shared with `-v`
//! streaming, so lines never tear. Names and messages are printed escaped (`report::shown`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::live::{LiveState, terminal_width};
use super::style::Styles;
use super::{display_path, plural, secs, shown};
use crate::duration::human;
use crate::event::{Event, RunInfo, Sink, Status};
use crate::exec::{LineSink, SharedWriter};
use crate::plan::Plan;
use crate::record::{Record, Suite, last_lines};

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
        Terminal {
            out: Arc::new(Mutex::new(out)),
            styles,
            verbosity,
            live: None,
            live_view: false,
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

    /// `text` as it is, in one write.
    fn put(&self, text: &str) {
        if let Ok(mut w) = self.out.lock() {
            let _ = w.write_all(text.as_bytes());
            let _ = w.flush();
        }
    }

    /// The status line as it is now, when one is drawn.
    fn status(&self) -> Option<String> {
        let live = self.live.as_ref().filter(|_| self.live_view)?;
        let now = std::time::Instant::now();
        Some(
            live.lock()
                .map(|l| l.render(now, status_width()))
                .unwrap_or_default(),
        )
    }

    /// Lines of text: on a live view, the status line cleared, the text printed above it and
    /// the status line drawn again.
    fn write(&self, text: &str) {
        match self.status() {
            Some(status) => self.put(&format!("\r\x1b[2K{text}{status}")),
            None => self.put(text),
        }
    }

    fn live(&self, f: impl FnOnce(&mut LiveState)) {
        if let Some(l) = &self.live {
            if let Ok(mut l) = l.lock() {
                f(&mut l);
            }
        }
    }

    /// On each [`Event::Tick`]: redraw the status line (twice a second, between events); off
    /// a terminal, name what still runs (every 30 s).
    fn tick(&self) {
        let text = match (self.status(), &self.live) {
            (Some(status), _) => format!("\r\x1b[2K{status}"),
            (None, Some(live)) => live
                .lock()
                .ok()
                .and_then(|l| l.still_running(std::time::Instant::now()))
                .map(|t| format!("{t}\n"))
                .unwrap_or_default(),
            (None, None) => return,
        };
        if !text.is_empty() {
            self.put(&text);
        }
    }

    fn stop_live(&mut self) {
        if self.live.take().is_some() && self.live_view {
            self.put("\r\x1b[2K");
        }
    }

    fn header(&self, plan: &Plan, run: &RunInfo) -> String {
        let mut categories: BTreeMap<&str, usize> = BTreeMap::new();
        for s in plan.suites.iter().filter(|s| s.skip.is_none()) {
            *categories.entry(s.category.as_str()).or_default() += 1;
        }
        let (to_run, total) = (categories.values().sum::<usize>(), plan.suites.len());
        let cats: Vec<String> = categories.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let cats = if cats.is_empty() {
            String::new()
        } else {
            format!(" ({})", cats.join(", "))
        };
        // The same total as the summary's; suites skipped before the start said apart, each
        // reason once.
        let reasons: BTreeSet<String> = plan
            .suites
            .iter()
            .filter_map(|s| s.skip.as_ref().map(crate::plan::StaticSkip::reason))
            .collect();
        let count = match total - to_run {
            0 => format!("{total} suite{}{cats}", plural(total)),
            skipped => format!(
                "{total} suite{}, {to_run} to run{cats}, {skipped} skipped ({})",
                plural(total),
                Vec::from_iter(reasons).join(", ")
            ),
        };
        // What decides what runs here (DESIGN §10): a static shard, which one and which
        // setting said so; the queue, which run, where, and this machine's name (with the
        // machines the CI names, which the plan's parts are cut for); or the static shard in
        // place of a queue whose store was unreachable.
        let source = plan.settings.shard.source.label();
        let shard = plan.settings.shard.value;
        let shard = match (&run.queue, shard) {
            (None, None) => String::new(),
            (None, Some(sh)) => format!("shard {}/{} ({source}), ", sh.index, sh.total),
            (Some(q), _) if !q.fallback => format!(
                "queue run {} ({}) at {}, machine {}{}, ",
                q.run,
                q.run_source,
                q.url,
                q.node,
                shard.map_or_else(String::new, |sh| format!(" of {} ({source})", sh.total))
            ),
            (Some(q), sh) => format!(
                "{} in place of queue run {} at {} (unreachable), ",
                sh.map_or_else(
                    || "every suite".to_owned(),
                    |sh| format!("shard {}/{} ({source})", sh.index, sh.total)
                ),
                q.run,
                q.url
            ),
        };
        format!(
            "{} {shard}{count}, {} worker{} ({}), fail-fast {}, logs in {}/  run {}\n",
            self.styles.bold("ptest:"),
            plan.workers,
            plural(plan.workers as usize),
            plan.worker_source.label(),
            if plan.fail_fast { "on" } else { "off" },
            display_path(&plan.log_dir).display(),
            run.run_id,
        )
    }

    /// A part's flaky tests, one line each (`FLAKY   2/2 tests/test_x.py::test_y`), after its
    /// own line.
    fn flaky_tests(&self, s: &Suite) -> String {
        let mut out = String::new();
        for c in s.cases().iter().filter(|c| c.is_flaky()) {
            out.push_str(&format!(
                "{} {}/{} {}{}\n",
                self.tag(Status::Flaky),
                c.attempts,
                s.of_attempts(),
                shown(&c.display()),
                c.failed_before
                    .as_deref()
                    .map(|b| self.styles.dim(&format!("  failed before: {}", shown(b))))
                    .unwrap_or_default()
            ));
        }
        out
    }

    /// A test's line: `TAG NAME  WHAT  PART`, the part it runs in dim.
    fn test_line(&self, tag: String, name: &str, what: &str, part: &crate::plan::Suite) -> String {
        let part = self.styles.dim(&shown(&part.name));
        format!("{tag} {}  {what}  {part}\n", shown(name))
    }

    /// A line's first word for a status (`FAIL`), padded, in its colour.
    fn tag(&self, status: Status) -> String {
        let word = match status {
            Status::Passed => "PASS",
            Status::Flaky => "FLAKY",
            Status::Failed => "FAIL",
            Status::TimedOut => "TIMEOUT",
            Status::Cancelled => "CANCEL",
            Status::Skipped => "SKIP",
        };
        self.styles.status(status, &format!("{word:<7}"))
    }

    fn finished_line(&self, s: &Suite) -> String {
        let took = secs(s.duration);
        let what = match s.status {
            Status::Skipped => self
                .styles
                .dim(&shown(s.skip_reason.as_deref().unwrap_or(""))),
            Status::Passed => took,
            Status::Flaky => format!(
                "{took}  passed on attempt {}/{}",
                s.attempts,
                s.of_attempts()
            ),
            _ => format!("{took}  {}", error_and_log(s)),
        };
        format!("{} {}  {what}\n", self.tag(s.status), shown(&s.name))
    }
}

/// A failed suite's error and log: `exit code 1  test-logs/api.log`.
fn error_and_log(s: &Suite) -> String {
    let (error, log) = (s.error_message.as_deref(), s.log_file.as_deref());
    format!(
        "{}  {}",
        shown(error.unwrap_or("")),
        shown(log.unwrap_or(""))
    )
}

/// One line for the run's services, each named once: how many instances it had, the longest
/// any took to be ready, and whether one failed. `None` when no service started.
fn services_line(record: &Record) -> Option<String> {
    let mut names: Vec<&str> = Vec::new();
    for v in &record.services {
        if !names.contains(&v.name.as_str()) {
            names.push(&v.name);
        }
    }
    let parts: Vec<String> = names
        .iter()
        .map(|name| {
            let of: Vec<_> = record.services.iter().filter(|v| v.name == *name).collect();
            let many = of.len() > 1;
            let mut part = shown(name).into_owned();
            if many {
                part += &format!(" ({} instances)", of.len());
            }
            let ready = of
                .iter()
                .filter_map(|v| v.ready_time.map(|r| r - v.start_time));
            if let Some(d) = ready.max_by(f64::total_cmp) {
                let most = if many { " at most" } else { "" };
                part += &format!(" ready in {}{most}", secs(d.max(0.0)));
            }
            match of.iter().filter(|v| v.error_message.is_some()).count() {
                0 => {}
                _ if !many => part += " failed",
                failed => part += &format!(", {failed} failed"),
            }
            part
        })
        .collect();
    (!parts.is_empty()).then(|| format!("Services: {}\n", parts.join("; ")))
}

/// The summary at the end of a run, from its record: counts, the wall time, the slowest suites,
/// limiters, flaky suites, and each failure with its failed tests and its output's last lines.
pub(crate) fn summary(record: &Record, st: Styles) -> String {
    let counts = super::counts_sentence(record, |status, text| st.status(status, text));
    let mut out = format!("\n{} {counts}\n", st.bold("Summary:"));
    if let Some(tests) = super::tests_sentence(record) {
        let _ = writeln!(out, "{tests}");
    }
    let _ = writeln!(out, "{}", super::wall_sentence(record));
    if record.summary.interrupted {
        out += &st.warn("Interrupted: running suites were cancelled, the rest skipped.\n");
    }
    let ran = record.slowest();
    if ran.len() > 1 {
        let slow: Vec<String> = ran
            .iter()
            .take(SLOWEST)
            .map(|s| format!("{} {}", shown(&s.name), secs(s.duration)))
            .collect();
        let _ = writeln!(out, "Slowest: {}", slow.join(", "));
    }
    for l in &record.limiters {
        let (name, acquired, waited) = (shown(&l.name), l.acquired, secs(l.waited));
        let _ = write!(
            out,
            "Limiter {name}: {acquired} acquired, waited {waited}, {} throttled",
            l.throttled
        );
        if (l.rate - l.declared_rate).abs() > 1e-9 {
            let _ = write!(out, ", rate lowered to {:.2} per {}", l.rate, secs(l.per));
        }
        if l.serialized {
            let most = l.max_throttled.unwrap_or(0);
            out += &st.warn(&format!(
                ", more than {most} throttled: its suites ran one at a time"
            ));
        }
        out.push('\n');
    }
    out += &services_line(record).unwrap_or_default();
    let flaky: Vec<&Suite> = record
        .suites
        .iter()
        .filter(|s| s.status == Status::Flaky)
        .collect();
    if !flaky.is_empty() {
        out += &heading(st, Status::Flaky, "Flaky suites (passed on a retry):");
        for s in flaky {
            let (name, before) = (shown(&s.name), s.failed_before());
            let _ = writeln!(
                out,
                "  {name}  {} attempts (before: {})",
                s.attempts,
                shown(&before)
            );
        }
    }
    let flaky_tests: Vec<(&Suite, &crate::record::TestCase)> =
        record.tests().filter(|(_, c)| c.is_flaky()).collect();
    if !flaky_tests.is_empty() {
        out += &heading(
            st,
            Status::Flaky,
            "Flaky tests (failed, then passed on a retry):",
        );
        out += &some(
            &flaky_tests,
            |(s, c)| {
                let (name, before) = (shown(&c.display()).into_owned(), shown(c.before()));
                format!(
                    "  {}/{} {name}  (before: {before})",
                    c.attempts,
                    s.of_attempts()
                )
            },
            "  ... and {} more flaky tests (see the JUnit report)",
        );
    }
    // Tests whose part, as ptest split the work, ended otherwise than a run as a plain run has
    // it (a pytest slice's file run whole, a part's file run with every file collected).
    let decided: Vec<&crate::record::TestCase> = record
        .tests()
        .filter_map(|(_, c)| c.split_outcome.is_some().then_some(c))
        .collect();
    if !decided.is_empty() {
        out.push_str(
            "\nDecided by a second run, as a plain run has them (their part ended otherwise):\n",
        );
        out += &some(
            &decided,
            |c| {
                let first = c.split_outcome.map_or("", crate::record::Outcome::label);
                let name = c.display();
                let name = shown(&name);
                format!("  {name}  {} (in its part: {first})", c.status.label())
            },
            "  ... and {} more (see split_outcome in the JSON report)",
        );
    }
    if record.failures().next().is_some() {
        out += &heading(st, Status::Failed, "Failures:");
    }
    // Each failure's output as last shown, less ptest's own lines (a part's start): a part
    // that failed the same way (a conftest.py that cannot be imported fails every part) points
    // to the first instead of showing it again.
    let mut shown_tails: Vec<(Vec<&str>, &str)> = Vec::new();
    for s in record.failures() {
        let (x, name) = (st.status(s.status, "✗"), st.bold(&shown(&s.name)));
        let _ = writeln!(out, "{x} {name}  {}", error_and_log(s));
        // A batch's failed tests by name, with the assertion's message.
        let failed: Vec<&crate::record::TestCase> =
            s.cases().iter().filter(|c| c.status.is_failure()).collect();
        out += &some(
            &failed,
            |c| {
                let why = c.summary().map(|m| format!(": {}", shown(m)));
                let (x, name) = (
                    st.status(Status::Failed, "✗"),
                    shown(&c.display()).into_owned(),
                );
                format!(
                    "    {x} {name} {}{}",
                    c.status.label(),
                    why.unwrap_or_default()
                )
            },
            "    ... and {} more failed tests (see the JUnit report or the log)",
        );
        let lines = last_lines(s.tail(), FAILURE_TAIL_LINES);
        let own: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.starts_with("ptest: "))
            .collect();
        let same = (failed.is_empty() && !own.is_empty())
            .then(|| shown_tails.iter().find(|(t, _)| *t == own))
            .flatten();
        if let Some((_, first)) = same {
            let _ = writeln!(
                out,
                "    {} {}",
                st.dim("|"),
                st.dim(&format!("(the same output as {})", shown(first)))
            );
            continue;
        }
        for line in lines {
            let _ = writeln!(out, "    {} {}", st.dim("|"), shown(line));
        }
        if failed.is_empty() && !own.is_empty() {
            shown_tails.push((own, &s.name));
        }
    }
    if let Some(kept) = &record.kept_tmp {
        let (folder, runs) = (shown(&kept.folder), kept.runs);
        let _ = writeln!(
            out,
            "\nFailed attempts' temporary folders: {folder} (those of the last {runs} runs are kept)"
        );
    }
    out
}

/// A heading of the summary in its status's colour, after a blank line.
fn heading(st: Styles, status: Status, text: &str) -> String {
    format!("\n{}\n", st.status(status, text))
}

/// A line each for the first [`FAILED_TESTS_SHOWN`] items, then `more` with how many more
/// there were.
fn some<T>(items: &[T], line: impl Fn(&T) -> String, more: &str) -> String {
    let mut out = String::new();
    for item in items.iter().take(FAILED_TESTS_SHOWN) {
        out += &line(item);
        out.push('\n');
    }
    if items.len() > FAILED_TESTS_SHOWN {
        out += &more.replace("{}", &(items.len() - FAILED_TESTS_SHOWN).to_string());
        out.push('\n');
    }
    out
}

impl Sink for Terminal {
    /// The status line twice a second on a terminal; off it, "still running" every 30 s;
    /// nothing with `-q`.
    fn tick_every(&self) -> Option<std::time::Duration> {
        self.live.as_ref()?;
        Some(if self.live_view {
            std::time::Duration::from_millis(500)
        } else {
            still_running_every()
        })
    }

    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &Event<'_>) {
        let quiet = self.verbosity == Verbosity::Quiet;
        match event {
            Event::RunStarted if self.live.is_some() => {
                self.live(|l| *l = LiveState::new(plan));
            }
            Event::Tick => self.tick(),
            Event::SuiteStarted { id, attempt, .. } => {
                self.live(|l| l.started(plan, *id, *attempt));
            }
            Event::SuiteRetrying { id, .. } => self.live(|l| l.ended(*id, false, 0.0)),
            Event::SuiteSlow { id, .. } | Event::TestSlow { id, .. } => {
                self.live(|l| l.slow(*id));
            }
            Event::TestFinished { outcome, .. } => {
                self.live(|l| l.test_ended(outcome.is_failure()));
            }
            Event::SuiteFinished { result, .. } if result.attempts == 0 => {
                self.live(|l| l.skipped(plan, result.id));
            }
            Event::SuiteFinished { result, .. } => {
                self.live(|l| l.ended(result.id, true, result.duration.as_secs_f64()));
            }
            Event::RunFinished { .. } => self.stop_live(),
            _ => {}
        }
        let text = match event {
            Event::RunStarted if !quiet => self.header(plan, run),
            Event::SuiteStarted {
                id,
                attempt,
                worker,
            } if !quiet => {
                let s = plan.suite(*id);
                // An attempt that runs a part's unfinished items after a test timed out uses
                // none of the policy's: it may be past their number.
                let again = match *attempt {
                    1 => String::new(),
                    a if a <= s.retry.attempts => format!("  attempt {a}/{}", s.retry.attempts),
                    a => format!("  attempt {a}"),
                };
                let on = self.styles.dim(&format!("worker {worker}"));
                format!("{} {}  {on}{again}\n", self.styles.dim("START  "), shown(&s.name))
            }
            Event::SuiteRetrying {
                id,
                attempt,
                delay,
                reason,
            } if !quiet => {
                let s = plan.suite(*id);
                let of = if *attempt < s.retry.attempts {
                    format!("/{}", s.retry.attempts)
                } else {
                    String::new()
                };
                format!(
                    "{} {}  attempt {attempt}{of} failed ({}), retrying in {}\n",
                    self.styles.warn("RETRY  "),
                    shown(&s.name),
                    shown(reason),
                    human(*delay)
                )
            }
            Event::SuiteFinished { entry, .. } if !quiet => {
                self.finished_line(entry) + &self.flaky_tests(entry)
            }
            Event::SuiteSlow {
                id,
                elapsed,
                expected,
            } if !quiet => format!(
                "{} {}  running for {}, expected {}\n",
                self.styles.warn("SLOW   "),
                shown(&plan.suite(*id).name),
                human(*elapsed),
                human(*expected)
            ),
            Event::TestSlow { id, name, elapsed } if !quiet => self.test_line(
                self.styles.warn("SLOW   "),
                name,
                &format!("running for {}", human(*elapsed)),
                plan.suite(*id),
            ),
            Event::TestTimedOut { id, name, after } => self.test_line(
                self.tag(Status::TimedOut),
                name,
                &format!(
                    "timed out after {} (test_timeout): its part stops, its unfinished items run again",
                    human(*after)
                ),
                plan.suite(*id),
            ),
            Event::ItemsHandedOn { from, to, items } if !quiet => format!(
                "{} {}  ran past its expected time: {} not started yet handed on to {}\n",
                self.styles.dim("HANDOFF"),
                shown(&plan.suite(*from).name),
                match items.len() {
                    1 => "1 item".to_owned(),
                    n => format!("{n} items"),
                },
                shown(&plan.suite(*to).name)
            ),
            Event::Stopping { reason } => {
                let what = if *reason == crate::event::CancelReason::Interrupted {
                    "interrupted: cancelling running suites, skipping the rest (Ctrl-C again to kill at once; always phases still run)"
                } else {
                    "fail-fast: cancelling running suites, skipping the rest (always phases still run)"
                };
                format!("{}\n", self.styles.warn(what))
            }
            // A failed test as it happens, named; the part's own line comes when it ends.
            Event::TestFinished { id, name, outcome } if !quiet && outcome.is_failure() => {
                let tag = self.tag(Status::Failed);
                self.test_line(tag, name, outcome.label(), plan.suite(*id))
            }
            Event::Warning { message } => {
                format!("{} {}\n", self.styles.warn("warning:"), shown(message))
            }
            Event::RunFinished { record, .. } => summary(record, self.styles),
            _ => return,
        };
        self.write(&text);
    }
}
