//! The vocabulary shared by the scheduler and every report sink: statuses, per-suite results, the
//! run summary, and the events the scheduler emits. Plain data; nothing here does I/O.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::plan::{Plan, StaticSkip, SuiteId};

pub(crate) use crate::record::Status;

/// Why a run stops starting suites and cancels the running ones (DESIGN §3 rules 5 and 8),
/// ordered by severity: a signal outranks fail-fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum CancelReason {
    /// The first final failure, with fail-fast on.
    FailFast,
    /// SIGINT, SIGTERM, SIGHUP or SIGQUIT to ptest.
    Interrupted,
}

impl CancelReason {
    /// The report's word: a cancelled attempt's message, a skipped suite's reason.
    pub(crate) fn label(self) -> &'static str {
        match self {
            CancelReason::FailFast => "fail-fast",
            CancelReason::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// How a dependency ended without passing (DESIGN §3 rule 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DependencyEnd {
    /// Failed or timed out.
    Failed,
    Cancelled,
    Skipped,
}

/// Why a suite was skipped: the report words are its `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// Known before the run: `enabled = false`, a disabled phase, `--skip`.
    Static(StaticSkip),
    /// A dependency (the one named, the first that did not pass along the chain) ended without
    /// passing: `dependency "x" failed`.
    Dependency { name: String, ended: DependencyEnd },
    /// An earlier phase ended with a final failure and `on_failure = "stop"`:
    /// `phase "core" failed`.
    PhaseFailed(String),
    /// Fail-fast or a signal stopped the run before it started.
    Stopped(CancelReason),
    /// The run ended before it was reached.
    NotReached,
    /// DESIGN §10, a queue run: another machine ran it (or skipped it), with this outcome.
    Elsewhere { node: String, status: Status },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Static(s) => f.write_str(&s.reason()),
            SkipReason::Dependency { name, ended } => {
                let verb = match ended {
                    DependencyEnd::Failed => "failed",
                    DependencyEnd::Cancelled => "was cancelled",
                    DependencyEnd::Skipped => "was skipped",
                };
                write!(f, "dependency \"{name}\" {verb}")
            }
            SkipReason::PhaseFailed(p) => write!(f, "phase \"{p}\" failed"),
            SkipReason::Stopped(c) => f.write_str(c.label()),
            SkipReason::NotReached => f.write_str("not reached"),
            SkipReason::Elsewhere { node, status } => {
                write!(f, "ran on {node} ({})", status.label())
            }
        }
    }
}

/// One instance of a service (DESIGN §11): the run's only one, or the one of a worker slot for
/// `scope = "worker"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ServiceInstance {
    pub service: crate::plan::ServiceId,
    pub worker: Option<u32>,
}

/// Why a service instance failed, as the suites it fails say it, and where to read its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceFailure {
    /// `service "db" not ready after 30s`, `service "db" exited with 1`.
    pub message: String,
    /// The instance's log.
    pub log: PathBuf,
    /// The byte range of its log that the failures show (its end).
    pub tail: (u64, u64),
}

/// What a run did with one service instance, for the reports.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceRecord {
    pub instance: ServiceInstance,
    pub log_file: PathBuf,
    /// `(None, port)` for `{port}`, `(Some(name), port)` for `{port:name}`.
    pub ports: Vec<(Option<String>, u16)>,
    pub started: SystemTime,
    pub ready: Option<SystemTime>,
    /// When its process ended.
    pub stopped: Option<SystemTime>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// What happened to one suite, in the run and in the report.
#[derive(Debug, Clone)]
pub(crate) struct SuiteResult {
    pub id: SuiteId,
    pub status: Status,
    pub start_time: Option<SystemTime>,
    pub end_time: Option<SystemTime>,
    /// Wall time of all attempts, backoff waits excluded.
    pub duration: Duration,
    pub return_code: Option<i32>,
    pub signal: Option<i32>,
    pub attempts: u32,
    pub error_message: Option<String>,
    pub skip_reason: Option<SkipReason>,
    pub log_file: Option<PathBuf>,
    /// First worker slot of the last attempt (each attempt's own is in `attempts_detail`).
    pub worker: Option<u32>,
    pub peak_rss_kb: Option<u64>,
    pub cpu_time: Option<Duration>,
    /// Byte range of the last attempt's output in the log file.
    pub last_output: Option<(u64, u64)>,
    /// Every attempt that ran, in order: its own worker, times and outcome.
    pub attempts_detail: Vec<AttemptDetail>,
    /// What its passing attempt appended to `PTEST_ENV` (DESIGN §11): given to the suites that
    /// depend on it. Plain data, so that a result can carry it to another machine.
    pub exports: Vec<(String, std::ffi::OsString)>,
    /// A batch's part with `results`: every testcase, the latest attempt's for each item.
    pub testcases: Vec<crate::batch::results::TestCase>,
    /// A batch's part whose items changed during the run (items handed on to or from it,
    /// DESIGN §9): its real items, which `testcases` index. `None`: the plan's part.
    pub part: Option<std::sync::Arc<crate::plan::decl::BatchPart>>,
}

impl SuiteResult {
    /// The part this result's testcases index: its real items, else the plan's.
    pub(crate) fn part<'a>(
        &'a self,
        suite: &'a crate::plan::Suite,
    ) -> Option<&'a crate::plan::decl::BatchPart> {
        self.part.as_deref().or(suite.part.as_deref())
    }
}

/// One attempt of a suite: where and when it ran, and how it ended. A retried suite's
/// attempts may run on different workers, with backoff waits between them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttemptDetail {
    /// 1-based.
    pub attempt: u32,
    /// First worker slot it held.
    pub worker: u32,
    pub start: SystemTime,
    pub end: SystemTime,
    pub duration: Duration,
    /// `Passed`, `Failed`, `TimedOut` or `Cancelled`.
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Why it failed (`exit code 3`, `timed out after 2m`); `None` for a pass.
    pub message: Option<String>,
    /// Byte range of this attempt's output in the suite's log file.
    pub output: Option<(u64, u64)>,
}

/// DESIGN §10, a queue run: what a failed unit's attempts so far carry to the machine that runs its next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Carried {
    /// Attempts made so far, on every machine.
    pub attempts: u32,
    /// Why each failed.
    pub failed: Vec<String>,
    pub details: Vec<AttemptDetail>,
    /// A batch's part: where its attempts left it, so that its next attempt runs only the
    /// items that did not pass, as a retry on one machine does (DESIGN §9).
    pub part: PartLeft,
}

/// What a batch part's attempts leave to its next attempt (all empty for a suite, or a part
/// whose next attempt runs every item).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct PartLeft {
    /// The items the next attempt runs (`None`: all).
    pub items: Option<Vec<usize>>,
    /// Tests of those items the next attempt leaves out (`skip_test`).
    pub skips: Vec<(usize, String)>,
    /// Tests that timed out, left out of every later attempt that runs their items.
    pub hung_skips: Vec<(usize, String)>,
    /// Attempts that ran unfinished items after a test timed out (they use no retry).
    pub continued: u32,
    /// The latest testcases of each item so far.
    pub testcases: Vec<crate::batch::case::TestCase>,
    /// Testcases kept apart: tests that timed out, and what a stopped attempt's items ran.
    pub kept: Vec<crate::batch::case::TestCase>,
    /// The first test that timed out.
    pub timed_out_test: Option<String>,
}

impl AttemptDetail {
    /// Its entry in the run's record, without a tail (read when its suite ends).
    pub(crate) fn entry(&self) -> crate::record::Attempt {
        use crate::record::{round3, unix_secs};
        crate::record::Attempt {
            attempt: self.attempt,
            worker: self.worker,
            start_time: unix_secs(self.start),
            end_time: unix_secs(self.end),
            duration: round3(self.duration.as_secs_f64()),
            status: self.status,
            return_code: self.exit_code,
            signal: self.signal,
            error_message: self.message.clone(),
            tail: None,
        }
    }
}

impl SuiteResult {
    pub(crate) fn skipped(id: SuiteId, reason: SkipReason) -> SuiteResult {
        SuiteResult {
            id,
            status: Status::Skipped,
            start_time: None,
            end_time: None,
            duration: Duration::ZERO,
            return_code: None,
            signal: None,
            attempts: 0,
            error_message: None,
            skip_reason: Some(reason),
            log_file: None,
            worker: None,
            peak_rss_kb: None,
            cpu_time: None,
            last_output: None,
            attempts_detail: Vec::new(),
            exports: Vec::new(),
            testcases: Vec::new(),
            part: None,
        }
    }
}

/// Counts and times of a finished run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub flaky: usize,
    pub timed_out: usize,
    pub cancelled: usize,
    pub duration: Duration,
    pub sequential_time: Duration,
    pub interrupted: bool,
}

impl Summary {
    pub(crate) fn from_results(
        results: &[SuiteResult],
        duration: Duration,
        interrupted: bool,
    ) -> Summary {
        let mut s = Summary {
            total: results.len(),
            duration,
            interrupted,
            ..Summary::default()
        };
        for r in results {
            match r.status {
                Status::Passed => s.passed += 1,
                Status::Flaky => s.flaky += 1,
                Status::Failed => s.failed += 1,
                Status::TimedOut => s.timed_out += 1,
                Status::Cancelled => s.cancelled += 1,
                Status::Skipped => s.skipped += 1,
            }
            s.sequential_time += r.duration;
        }
        s
    }

    pub(crate) fn speedup(&self) -> f64 {
        let wall = self.duration.as_secs_f64();
        if wall > 0.0 {
            self.sequential_time.as_secs_f64() / wall
        } else {
            1.0
        }
    }

    /// DESIGN §4: 0 all passed (flaky included), 1 a suite failed or timed out, 130 interrupted.
    pub(crate) fn exit_code(&self) -> u8 {
        crate::exit::of_run(self.interrupted, self.failed + self.timed_out)
    }
}

/// What one limiter did during the run.
#[derive(Debug, Clone)]
pub(crate) struct LimiterStats {
    /// Tokens granted (suite starts and `acquire` permits).
    pub acquired: u64,
    /// Total time suites and clients spent waiting for it.
    pub waited: Duration,
    /// `throttled` reports (HTTP 429s seen by tests).
    pub throttled: u64,
    /// Tokens per `per` in force at the end (adaptive limiters lower it).
    pub rate: f64,
    /// `max_throttled` was passed: its suites ran one at a time.
    pub serialized: bool,
}

/// Facts about the run as a whole, fixed at its start.
#[derive(Debug, Clone)]
pub(crate) struct RunInfo {
    pub run_id: String,
    pub started: SystemTime,
    pub log_files: Vec<PathBuf>,
    /// Where the files the run's reports replace go to be removed (the run's janitor).
    pub discard: crate::safe_write::Discard,
    /// DESIGN §10: the queue run this machine takes part in (or meant to), for the header.
    pub queue: Option<QueueRun>,
}

/// DESIGN §10: a queue run as the header names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueRun {
    /// The store's URL, its password left out.
    pub url: String,
    /// The run key every machine shares, and where it came from (`--queue-run`, a variable).
    pub run: String,
    pub run_source: String,
    /// This machine's name in reports.
    pub node: String,
    /// The store could not be reached at the start: this machine runs its static shard (or
    /// every suite) in place of the queue.
    pub fallback: bool,
}

/// What the scheduler tells the sinks, in order.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    RunStarted,
    SuiteStarted {
        id: SuiteId,
        attempt: u32,
        worker: u32,
    },
    /// An attempt failed and another comes after `delay`.
    SuiteRetrying {
        id: SuiteId,
        attempt: u32,
        delay: Duration,
        reason: &'a str,
    },
    /// An attempt ended (before `SuiteRetrying` or `SuiteFinished` for it).
    AttemptFinished {
        id: SuiteId,
        detail: &'a AttemptDetail,
    },
    /// A suite ended; `entry` is what the run's record keeps of it.
    SuiteFinished {
        result: &'a SuiteResult,
        entry: &'a crate::record::Suite,
    },
    /// Fail-fast or Ctrl-C: nothing new starts (except `always` phases).
    Stopping {
        reason: CancelReason,
    },
    /// A running suite is past twice its expected duration and at least 10 s over it.
    SuiteSlow {
        id: SuiteId,
        elapsed: Duration,
        expected: Duration,
    },
    /// A test of a running batch part has run past its batch's `test_slow` (told once).
    TestSlow {
        id: SuiteId,
        name: &'a str,
        elapsed: Duration,
    },
    /// A test of a running batch part ran past its batch's `test_timeout`: the part is
    /// stopped, and its items that had not finished run again.
    TestTimedOut {
        id: SuiteId,
        name: &'a str,
        after: Duration,
    },
    /// A running batch part ran well past its expected time, and `items` it had not started
    /// were handed on to `to`, a part of the same batch about to start (DESIGN §9).
    ItemsHandedOn {
        from: SuiteId,
        to: SuiteId,
        items: &'a [String],
    },
    /// A test of a running batch part ended, as the part said while it ran (`test` on
    /// `PTEST_SOCKET`): the live view counts it, a failure is printed with its name at once.
    /// What the reports keep of it still comes from the part's results file.
    TestFinished {
        id: SuiteId,
        name: &'a str,
        outcome: crate::record::Outcome,
    },
    /// Something the user should know that does not stop the run (a hook raised an error).
    Warning {
        message: &'a str,
    },
    /// Time passed: a view of elapsed times redraws. Sent every [`Sink::tick_every`] (the
    /// shortest any sink asks for) from the run's start to its end, the final sweep included.
    Tick,
    /// The run's record is complete (reports are written from it).
    RunFinished {
        results: &'a [SuiteResult],
        record: &'a crate::record::Record,
    },
}

/// One attempt's outcome as retry predicates and hooks see it (DESIGN §2 result tables).
#[derive(Debug, Clone)]
pub(crate) struct AttemptView<'a> {
    pub name: &'a str,
    pub status: &'a str,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub attempt: u32,
    pub duration: Duration,
    pub log_file: Option<&'a std::path::Path>,
    /// The last 64 KiB of this attempt's output.
    pub output: &'a [u8],
}

/// Decides retries the policy leaves to a `when` predicate.
pub(crate) trait RetryJudge {
    fn should_retry(&mut self, predicate: usize, view: &AttemptView<'_>) -> Result<bool, String>;
}

/// A report sink: terminal, JSON, hooks. Called on the scheduler's thread, in event order.
pub(crate) trait Sink {
    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &Event<'_>);

    /// How often this sink wants [`Event::Tick`]; `None`: never.
    fn tick_every(&self) -> Option<Duration> {
        None
    }

    /// The sink can no longer do its job and the run should stop, as a closed terminal stops
    /// it (`--events -` whose reader went away).
    fn wants_stop(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    //! Statuses, summaries and their exit codes.

    use std::time::Duration;

    use super::*;

    fn ended(status: Status, secs: u64) -> SuiteResult {
        SuiteResult {
            status,
            duration: Duration::from_secs(secs),
            attempts: 1,
            skip_reason: None,
            ..SuiteResult::skipped(SuiteId(0), SkipReason::NotReached)
        }
    }

    #[test]
    fn which_statuses_pass_and_which_fail() {
        use Status::*;
        let all = [Passed, Flaky, Failed, TimedOut, Cancelled, Skipped];
        let pass: Vec<bool> = all.iter().map(|s| s.is_pass()).collect();
        let fail: Vec<bool> = all.iter().map(|s| s.is_failure()).collect();
        assert_eq!(pass, [true, true, false, false, false, false]);
        // A cancel or a skip is not a failure of the suite's own.
        assert_eq!(fail, [false, false, true, true, false, false]);
        let labels: Vec<&str> = all.iter().map(|s| s.label()).collect();
        assert_eq!(
            labels,
            [
                "passed",
                "flaky",
                "failed",
                "timed_out",
                "cancelled",
                "skipped"
            ]
        );
        // The labels are the report's words, serde's too.
        for s in all {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.label())
            );
            let back: Status = serde_json::from_value(s.label().into()).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn a_summary_counts_each_status_and_adds_up_the_time() {
        let results = [
            ended(Status::Passed, 3),
            ended(Status::Passed, 2),
            ended(Status::Flaky, 4),
            ended(Status::Failed, 1),
            ended(Status::TimedOut, 5),
            ended(Status::Cancelled, 1),
            SuiteResult::skipped(SuiteId(6), SkipReason::Static(StaticSkip::Disabled)),
        ];
        let s = Summary::from_results(&results, Duration::from_secs(8), false);
        assert_eq!(
            (
                s.total,
                s.passed,
                s.flaky,
                s.failed,
                s.timed_out,
                s.cancelled,
                s.skipped
            ),
            (7, 2, 1, 1, 1, 1, 1)
        );
        assert_eq!(s.sequential_time, Duration::from_secs(16));
        assert!((s.speedup() - 2.0).abs() < 1e-9);
        assert!(!s.interrupted);
    }

    #[test]
    fn no_wall_time_is_a_speedup_of_one() {
        let s = Summary::from_results(&[ended(Status::Passed, 3)], Duration::ZERO, false);
        assert!((s.speedup() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn exit_codes_of_a_run() {
        let code = |statuses: &[Status], interrupted: bool| {
            let results: Vec<SuiteResult> = statuses.iter().map(|s| ended(*s, 1)).collect();
            Summary::from_results(&results, Duration::from_secs(1), interrupted).exit_code()
        };
        assert_eq!(code(&[], false), crate::exit::OK);
        assert_eq!(code(&[Status::Passed, Status::Flaky], false), 0);
        assert_eq!(code(&[Status::Passed, Status::Skipped], false), 0);
        assert_eq!(code(&[Status::Passed, Status::Failed], false), 1);
        assert_eq!(code(&[Status::TimedOut], false), 1);
        // Cancelled suites come from a stop: fail-fast always has a failure beside them.
        assert_eq!(code(&[Status::Cancelled], false), 0);
        // An interrupt wins over failures.
        assert_eq!(code(&[Status::Failed], true), crate::exit::INTERRUPTED);
        assert_eq!(code(&[Status::Passed], true), 130);
    }

    #[test]
    fn a_skipped_result_never_ran() {
        let r = SuiteResult::skipped(SuiteId(3), SkipReason::PhaseFailed("core".into()));
        assert_eq!(r.id, SuiteId(3));
        assert_eq!(r.status, Status::Skipped);
        assert_eq!(r.attempts, 0);
        assert_eq!(
            r.skip_reason.map(|r| r.to_string()).as_deref(),
            Some("phase \"core\" failed")
        );
        assert!(r.start_time.is_none() && r.end_time.is_none() && r.log_file.is_none());
        assert_eq!(r.duration, Duration::ZERO);
        assert!(r.attempts_detail.is_empty() && r.testcases.is_empty());
    }

    #[test]
    fn skip_and_cancel_reasons_read_as_the_report_words() {
        let dep = |ended| SkipReason::Dependency {
            name: "x".into(),
            ended,
        };
        for (reason, words) in [
            (SkipReason::Static(StaticSkip::Disabled), "disabled"),
            (
                SkipReason::Static(StaticSkip::PhaseDisabled("stress".into())),
                "phase \"stress\" disabled",
            ),
            (SkipReason::Static(StaticSkip::SkipFlag), "--skip"),
            (dep(DependencyEnd::Failed), "dependency \"x\" failed"),
            (
                dep(DependencyEnd::Cancelled),
                "dependency \"x\" was cancelled",
            ),
            (dep(DependencyEnd::Skipped), "dependency \"x\" was skipped"),
            (
                SkipReason::PhaseFailed("core".into()),
                "phase \"core\" failed",
            ),
            (SkipReason::Stopped(CancelReason::FailFast), "fail-fast"),
            (
                SkipReason::Stopped(CancelReason::Interrupted),
                "interrupted",
            ),
            (SkipReason::NotReached, "not reached"),
        ] {
            assert_eq!(reason.to_string(), words);
        }
        // A signal is the more severe stop.
        assert!(CancelReason::Interrupted > CancelReason::FailFast);
    }
}
