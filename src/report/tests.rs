//! The report sinks and plan views fed hand-made plans and results, in this process: what the
//! terminal, GitHub, `--events`, `ptest list`/`plan` and `ptest graph` print for each case. The
//! helpers here make results and capture what a sink writes.

mod events;
mod graph;
mod listing;
mod merge;
mod terminal;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::event::{AttemptDetail, RunInfo, Status, SuiteResult};
use crate::plan::Plan;
use crate::plan::tests::by_name;

#[test]
fn output_shown_in_reports_keeps_tabs_and_newlines_and_loses_colours() {
    let raw = b"\x1b[31mFAIL\x1b[0m\texample.com/m/a\t0.007s\n\tcalc_test.go:20: boom\n";
    assert_eq!(
        super::strip_ansi(raw),
        "FAIL\texample.com/m/a\t0.007s\n\tcalc_test.go:20: boom\n"
    );
    // A cursor move and a bell go; a lone invalid byte is shown as U+FFFD.
    assert_eq!(super::strip_ansi(b"a\x1b[2Kb\x07c\xff"), "abc\u{fffd}");
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
        failed_attempts: if status == Status::Flaky {
            vec!["exit code 1".into()]
        } else {
            Vec::new()
        },
        last_output: None,
        attempts_detail: vec![AttemptDetail {
            attempt: 1,
            worker: 0,
            start,
            end: start + duration,
            duration,
            status: if status == Status::Flaky {
                Status::Passed
            } else {
                status
            },
            exit_code: code,
            signal: None,
            message,
            output: None,
        }],
        testcases: Vec::new(),
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
    }
}

/// Give `r` a log file holding `text` as its last attempt's output.
pub(crate) fn with_log(mut r: SuiteResult, dir: &Path, text: &str) -> SuiteResult {
    let path: PathBuf = dir.join(format!("suite-{}.log", r.id.0));
    let header = "=== ptest: header ===\n";
    std::fs::write(&path, format!("{header}{text}")).expect("write log");
    r.last_output = Some((header.len() as u64, (header.len() + text.len()) as u64));
    r.log_file = Some(path);
    r
}
