//! `--events FILE|-`: one JSON object a line (NDJSON) per event, written as it happens, for
//! tools that follow a run live. Each line has `event` and `time` (seconds since the Unix
//! epoch) and the fields the JSON report uses for the same things; the schema is in
//! docs/reports.md. A line is written whole with one `write`, so a reader never sees half of
//! one (on stdout, between the terminal's own lines).

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;

use crate::event::{Event, RunInfo, Sink};
use crate::plan::Plan;
use crate::record::{Attempt, Limiter, display_path, unix_secs};

/// Bumped when a field changes meaning or goes away (new fields may come at any time).
pub(crate) const EVENTS_VERSION: u32 = 1;

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    event: &'a str,
    time: f64,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct RunStarted<'a> {
    format_version: u32,
    ptest_version: &'static str,
    run_id: &'a str,
    timestamp: String,
    workers: u32,
    /// Suites in the plan (statically skipped ones included, as the report counts them).
    total: usize,
    log_dir: String,
}

#[derive(Serialize)]
struct SuiteStarted<'a> {
    name: &'a str,
    category: &'a str,
    phase: &'a str,
    attempt: u32,
    /// Attempts its retry policy allows.
    attempts: u32,
    worker: u32,
    log_file: String,
}

#[derive(Serialize)]
struct AttemptFinished<'a> {
    name: &'a str,
    #[serde(flatten)]
    attempt: Attempt,
}

#[derive(Serialize)]
struct TestFinished<'a> {
    /// The part it ran in.
    suite: &'a str,
    name: &'a str,
    status: crate::record::Outcome,
}

/// A test still running past its batch's `test_slow`, or stopped at its `test_timeout`.
/// Items a part ran well past its expected time had not started, handed on to another part.
#[derive(Serialize)]
struct HandedOn<'a> {
    /// The part that had them.
    from: &'a str,
    /// The part that runs them, about to start.
    to: &'a str,
    items: &'a [String],
}

#[derive(Serialize)]
struct TestRunning<'a> {
    /// The part it runs in.
    suite: &'a str,
    name: &'a str,
    /// Seconds it had run.
    elapsed: f64,
}

#[derive(Serialize)]
struct RunFinished<'a> {
    run_id: &'a str,
    duration: f64,
    summary: &'a crate::record::Summary,
    limiters: &'a [Limiter],
    /// The run's service instances, as in the JSON report (left out when none started).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    services: &'a [crate::record::Service],
}

pub(crate) struct EventsSink {
    /// Where the lines go: stdout, or an unbuffered file (a line is in it when `write_all`
    /// returns).
    out: Box<dyn Write + Send>,
    pub path: PathBuf,
    /// The first write that failed; later lines are not tried.
    pub errors: Vec<String>,
}

/// Why stdout takes no more lines: its reader went away.
const READER_GONE: &str =
    "cannot write events to stdout: its reader went away (broken pipe), so the run stopped";

impl EventsSink {
    /// `-` is stdout; anything else a new file, put in place of what was there now (a file
    /// hard-linked to the old one keeps its bytes).
    pub(crate) fn open(path: PathBuf) -> std::io::Result<EventsSink> {
        let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(crate::safe_write::start(&path)?)
        };
        Ok(EventsSink {
            out,
            path,
            errors: Vec::new(),
        })
    }

    fn line(&mut self, event: &str, body: impl Serialize) {
        if !self.errors.is_empty() {
            return;
        }
        let line = Line {
            event,
            time: unix_secs(SystemTime::now()),
            body,
        };
        let Ok(mut bytes) = serde_json::to_vec(&line) else {
            return;
        };
        bytes.push(b'\n');
        // Stdout's `write_all` holds its lock for the whole line.
        if let Err(e) = self.out.write_all(&bytes).and_then(|()| self.out.flush()) {
            let path = self.path.display();
            self.errors.push(match e.kind() {
                std::io::ErrorKind::BrokenPipe => READER_GONE.to_owned(),
                _ => format!("cannot write events to {path}: {}", crate::io_message(&e)),
            });
        }
    }
}

impl Sink for EventsSink {
    /// A reader that stopped reading (`ptest --events - | head -1`) wants no more of the run:
    /// it stops, as nextest cancels a run whose reporter cannot write, and exits non-zero.
    fn wants_stop(&self) -> bool {
        self.errors.iter().any(|e| e == READER_GONE)
    }

    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &Event<'_>) {
        match event {
            Event::RunStarted => self.line(
                "run_started",
                RunStarted {
                    format_version: EVENTS_VERSION,
                    ptest_version: env!("CARGO_PKG_VERSION"),
                    run_id: &run.run_id,
                    timestamp: humantime::format_rfc3339_millis(run.started).to_string(),
                    workers: plan.workers,
                    total: plan.suites.len(),
                    log_dir: display_path(&plan.log_dir).to_string_lossy().into_owned(),
                },
            ),
            Event::SuiteStarted {
                id,
                attempt,
                worker,
            } => {
                let s = plan.suite(*id);
                self.line(
                    "suite_started",
                    SuiteStarted {
                        name: &s.name,
                        category: &s.category,
                        phase: &plan.phase(s.phase).name,
                        attempt: *attempt,
                        attempts: s.retry.attempts,
                        worker: *worker,
                        log_file: run
                            .log_files
                            .get(id.index())
                            .map(|p| display_path(p).to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    },
                );
            }
            Event::AttemptFinished { id, detail } => self.line(
                "attempt_finished",
                AttemptFinished {
                    name: &plan.suite(*id).name,
                    attempt: detail.entry(),
                },
            ),
            Event::SuiteFinished { entry, .. } => self.line("suite_finished", entry),
            Event::TestFinished { id, name, outcome } => self.line(
                "test_finished",
                TestFinished {
                    suite: &plan.suite(*id).name,
                    name,
                    status: *outcome,
                },
            ),
            Event::TestSlow { id, name, elapsed } => self.line(
                "test_slow",
                TestRunning {
                    suite: &plan.suite(*id).name,
                    name,
                    elapsed: elapsed.as_secs_f64(),
                },
            ),
            Event::TestTimedOut { id, name, after } => self.line(
                "test_timed_out",
                TestRunning {
                    suite: &plan.suite(*id).name,
                    name,
                    elapsed: after.as_secs_f64(),
                },
            ),
            Event::ItemsHandedOn { from, to, items } => self.line(
                "items_handed_on",
                HandedOn {
                    from: &plan.suite(*from).name,
                    to: &plan.suite(*to).name,
                    items,
                },
            ),
            Event::RunFinished { record, .. } => self.line(
                "run_finished",
                RunFinished {
                    run_id: &record.run_id,
                    duration: record.duration,
                    summary: &record.summary,
                    limiters: &record.limiters,
                    services: &record.services,
                },
            ),
            _ => {}
        }
    }
}
