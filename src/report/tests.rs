//! The report sinks and plan views fed hand-made plans, results and records, in this process:
//! what the terminal, GitHub, `--events`, `ptest list`/`plan` and `ptest graph` print for each
//! case, and each renderer of a record (snapshots, `renderers.rs`) from one literal record. The
//! helpers here make results and records and capture what a sink writes.

mod events;
mod graph;
mod listing;
pub(crate) mod renderers;
mod terminal;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::event::{AttemptDetail, LimiterStats, RunInfo, Status, SuiteResult, Summary};
use crate::plan::Plan;
use crate::plan::tests::by_name;
use crate::record::Record;
use crate::sched::record::Recorder;

/// What the run's record keeps of `r` when it ends (its tails read from its log).
pub(crate) fn entry(plan: &Plan, r: &SuiteResult) -> crate::record::Suite {
    Recorder::new(plan).ended(plan, r).clone()
}

/// The record of a run of `results` that took `wall` seconds.
pub(crate) fn record_of(
    plan: &Plan,
    results: &[SuiteResult],
    wall: f64,
    interrupted: bool,
    limiters: &[LimiterStats],
) -> Record {
    let summary = Summary::from_results(results, Duration::from_secs_f64(wall), interrupted);
    Recorder::new(plan).finish(
        plan,
        &run_info(plan),
        results,
        &summary,
        limiters,
        Path::new("/nonexistent/ptest-run"),
    )
}

/// A writer whose bytes a test reads back.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("UTF-8 output")
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn run_info(plan: &Plan) -> RunInfo {
    RunInfo {
        run_id: "run-1".into(),
        started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        log_files: plan
            .suites
            .iter()
            .map(|s| plan.log_dir.join(format!("{}.log", s.name)))
            .collect(),
        discard: crate::safe_write::Discard::default(),
        queue: None,
    }
}

/// A suite that ran once for `secs` and ended `status` (skipped: never ran).
pub(crate) fn result(plan: &Plan, name: &str, status: Status, secs: f64) -> SuiteResult {
    let s = by_name(plan, name);
    if status == Status::Skipped {
        return SuiteResult::skipped(
            s.id,
            crate::event::SkipReason::Dependency {
                name: "x".into(),
                ended: crate::event::DependencyEnd::Failed,
            },
        );
    }
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let duration = Duration::from_secs_f64(secs);
    let (code, message) = match status {
        Status::Failed => (Some(3), Some("exit code 3".to_owned())),
        Status::TimedOut => (None, Some("timed out after 2m".to_owned())),
        Status::Cancelled => (None, Some("cancelled".to_owned())),
        _ => (Some(0), None),
    };
    SuiteResult {
        id: s.id,
        status,
        start_time: Some(start),
        end_time: Some(start + duration),
        duration,
        return_code: code,
        signal: None,
        attempts: if status == Status::Flaky { 2 } else { 1 },
        error_message: message.clone(),
        skip_reason: None,
        log_file: Some(plan.log_dir.join(format!("{name}.log"))),
        worker: Some(0),
        peak_rss_kb: None,
        cpu_time: None,
        last_output: None,
        attempts_detail: if status == Status::Flaky {
            // Failed at once, then passed.
            vec![
                AttemptDetail {
                    attempt: 1,
                    worker: 0,
                    start,
                    end: start,
                    duration: Duration::ZERO,
                    status: Status::Failed,
                    exit_code: Some(1),
                    signal: None,
                    message: Some("exit code 1".into()),
                    output: None,
                },
                AttemptDetail {
                    attempt: 2,
                    worker: 0,
                    start,
                    end: start + duration,
                    duration,
                    status: Status::Passed,
                    exit_code: code,
                    signal: None,
                    message,
                    output: None,
                },
            ]
        } else {
            vec![AttemptDetail {
                attempt: 1,
                worker: 0,
                start,
                end: start + duration,
                duration,
                status,
                exit_code: code,
                signal: None,
                message,
                output: None,
            }]
        },
        exports: Vec::new(),
        testcases: Vec::new(),
        part: None,
    }
}

/// A testcase of a batch's results, named `name`, in `file`, that ended `outcome`; nothing else
/// known.
pub(crate) fn test_case(
    name: &str,
    file: Option<&str>,
    outcome: crate::batch::results::Outcome,
) -> crate::batch::results::TestCase {
    crate::batch::results::TestCase {
        name: name.into(),
        classname: None,
        file: file.map(str::to_owned),
        line: None,
        time: None,
        outcome,
        message: None,
        kind: None,
        text: None,
        suite: None,
        suite_file: None,
        item: None,
        share: 0.0,
        sliced: None,
        confirmed: None,
        attempts: 1,
        failed_before: None,
    }
}

/// Give `r` a log file holding `text` as its last attempt's output.
pub(crate) fn with_log(mut r: SuiteResult, dir: &Path, text: &str) -> SuiteResult {
    let path: PathBuf = dir.join(format!("suite-{}.log", r.id.0));
    let header = "=== ptest: header ===\n";
    std::fs::write(&path, format!("{header}{text}")).expect("write log");
    let range = (header.len() as u64, (header.len() + text.len()) as u64);
    r.last_output = Some(range);
    if let Some(last) = r.attempts_detail.last_mut() {
        last.output = Some(range);
    }
    r.log_file = Some(path);
    r
}

#[test]
fn counts_are_written_with_thousands_separators_and_plurals() {
    let cases = [(0, "0"), (999, "999"), (1000, "1,000"), (8294, "8,294")];
    for (n, text) in cases.into_iter().chain([(1_234_567, "1,234,567")]) {
        assert_eq!(super::thousands(n), text);
    }
    assert_eq!(super::counted(1, "suite"), "1 suite");
    assert_eq!(super::counted(12_345, "test"), "12,345 tests");
}
