//! `LOG_DIR/test-report.json` (DESIGN §6), written atomically: a temp file beside it, then a
//! rename, so a reader never sees half a report. The serialized types are separate from the
//! in-memory ones and carry a format version.

use std::path::Path;

use serde::Serialize;

use super::{display_path, unix_secs};
use crate::event::{AttemptDetail, LimiterStats, RunInfo, SuiteResult, Summary};
use crate::plan::Plan;

pub(crate) const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
pub(crate) struct Report<'a> {
    pub format_version: u32,
    pub ptest_version: &'static str,
    pub run_id: &'a str,
    pub timestamp: String,
    pub duration: f64,
    pub workers: u32,
    pub suites: Vec<SuiteReport<'a>>,
    pub summary: SummaryReport,
    pub limiters: Vec<LimiterReport<'a>>,
}

#[derive(Serialize)]
pub(crate) struct SuiteReport<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub category: &'a str,
    pub phase: &'a str,
    pub group: Option<&'a str>,
    pub tags: &'a [String],
    pub status: &'static str,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub duration: f64,
    pub return_code: Option<i32>,
    pub signal: Option<i32>,
    pub attempts: u32,
    pub error_message: Option<&'a str>,
    pub skip_reason: Option<String>,
    pub log_file: Option<String>,
    pub worker: Option<u32>,
    pub peak_rss_kb: Option<u64>,
    pub cpu_time: Option<f64>,
    /// Each attempt on its own worker, with its own times (a retry may run elsewhere).
    pub attempts_detail: Vec<AttemptReport>,
    /// Only a batch's parts have the next two: plain suites' entries stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchReport<'a>>,
    /// Every testcase its results file held, the latest attempt's for each item (empty when
    /// the batch has no `results`, or none could be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub testcases: Option<Vec<TestCaseReport<'a>>>,
}

/// Which batch a part belongs to, and its items.
#[derive(Serialize)]
pub(crate) struct BatchReport<'a> {
    pub name: &'a str,
    /// 1-based, of `count`.
    pub index: u32,
    pub count: u32,
    pub items: Vec<&'a str>,
}

/// One testcase a batch's command reported.
#[derive(Serialize)]
pub(crate) struct TestCaseReport<'a> {
    pub name: &'a str,
    pub classname: Option<&'a str>,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
    /// The batch item it was counted under (its `file`, else its `classname`, ...).
    pub item: Option<&'a str>,
    /// `passed`, `failed`, `error` or `skipped`.
    pub status: &'static str,
    pub duration: Option<f64>,
    /// The failure's or skip's message.
    pub message: Option<&'a str>,
    /// The failure's type.
    #[serde(rename = "type")]
    pub kind: Option<&'a str>,
    /// The failure's text (a traceback), as the command wrote it.
    pub text: Option<&'a str>,
}

impl<'a> TestCaseReport<'a> {
    fn new(
        c: &'a crate::batch::results::TestCase,
        items: &'a [(String, f64)],
    ) -> TestCaseReport<'a> {
        TestCaseReport {
            name: &c.name,
            classname: c.classname.as_deref(),
            file: c.file.as_deref(),
            line: c.line,
            item: c
                .item
                .and_then(|i| items.get(i))
                .map(|(name, _)| name.as_str()),
            status: c.outcome.label(),
            duration: c.time.filter(|t| t.is_finite()).map(round3),
            message: c.message.as_deref(),
            kind: c.kind.as_deref(),
            text: c.text.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct AttemptReport {
    pub attempt: u32,
    pub worker: u32,
    pub start_time: f64,
    pub end_time: f64,
    pub duration: f64,
    pub status: &'static str,
    pub return_code: Option<i32>,
    pub signal: Option<i32>,
    pub error_message: Option<String>,
}

impl AttemptReport {
    pub(crate) fn new(d: &AttemptDetail) -> AttemptReport {
        AttemptReport {
            attempt: d.attempt,
            worker: d.worker,
            start_time: unix_secs(d.start),
            end_time: unix_secs(d.end),
            duration: round3(d.duration.as_secs_f64()),
            status: d.status.label(),
            return_code: d.exit_code,
            signal: d.signal,
            error_message: d.message.clone(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct SummaryReport {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub flaky: usize,
    pub timed_out: usize,
    pub cancelled: usize,
    pub sequential_time: f64,
    pub speedup: f64,
    pub interrupted: bool,
}

#[derive(Serialize)]
pub(crate) struct LimiterReport<'a> {
    pub name: &'a str,
    pub acquired: u64,
    pub waited: f64,
    pub throttled: u64,
    /// Tokens per `per` in force at the end.
    pub rate: f64,
    pub serialized: bool,
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One suite's entry in the report (also the body of `--events`' `suite_finished`).
pub(crate) fn suite_report<'a>(plan: &'a Plan, r: &'a SuiteResult) -> SuiteReport<'a> {
    let s = plan.suite(r.id);
    SuiteReport {
        name: &s.name,
        description: s.description.as_deref(),
        category: &s.category,
        phase: &plan.phase(s.phase).name,
        group: plan.group_name(s),
        tags: &s.tags,
        status: r.status.label(),
        start_time: r.start_time.map(unix_secs),
        end_time: r.end_time.map(unix_secs),
        duration: round3(r.duration.as_secs_f64()),
        return_code: r.return_code,
        signal: r.signal,
        attempts: r.attempts,
        error_message: r.error_message.as_deref(),
        skip_reason: r.skip_reason.as_ref().map(ToString::to_string),
        log_file: r
            .log_file
            .as_deref()
            .map(|p| display_path(p).to_string_lossy().into_owned()),
        worker: r.worker,
        peak_rss_kb: r.peak_rss_kb,
        cpu_time: r.cpu_time.map(|d| round3(d.as_secs_f64())),
        attempts_detail: r.attempts_detail.iter().map(AttemptReport::new).collect(),
        batch: s.part.as_deref().map(|p| BatchReport {
            name: &p.batch,
            index: p.index,
            count: p.count,
            items: p.items.iter().map(|(i, _)| i.as_str()).collect(),
        }),
        testcases: s.part.as_deref().map(|p| {
            r.testcases
                .iter()
                .map(|c| TestCaseReport::new(c, &p.items))
                .collect()
        }),
    }
}

/// The run's summary as the report writes it.
pub(crate) fn summary_report(summary: &Summary) -> SummaryReport {
    SummaryReport {
        total: summary.total,
        passed: summary.passed,
        failed: summary.failed,
        skipped: summary.skipped,
        flaky: summary.flaky,
        timed_out: summary.timed_out,
        cancelled: summary.cancelled,
        sequential_time: round3(summary.sequential_time.as_secs_f64()),
        speedup: round3(summary.speedup()),
        interrupted: summary.interrupted,
    }
}

/// Build the report document.
pub(crate) fn build<'a>(
    plan: &'a Plan,
    run: &'a RunInfo,
    results: &'a [SuiteResult],
    summary: &Summary,
    limiters: &[LimiterStats],
) -> Report<'a> {
    let suites = results.iter().map(|r| suite_report(plan, r)).collect();
    let limiters = plan
        .limiters
        .iter()
        .zip(limiters)
        .map(|(l, st)| LimiterReport {
            name: &l.name,
            acquired: st.acquired,
            waited: round3(st.waited.as_secs_f64()),
            throttled: st.throttled,
            rate: st.rate,
            serialized: st.serialized,
        })
        .collect();
    Report {
        format_version: FORMAT_VERSION,
        ptest_version: env!("CARGO_PKG_VERSION"),
        run_id: &run.run_id,
        timestamp: humantime::format_rfc3339_millis(run.started).to_string(),
        duration: round3(summary.duration.as_secs_f64()),
        workers: plan.workers,
        suites,
        summary: summary_report(summary),
        limiters,
    }
}

/// Write `value` as JSON to `path` atomically.
pub(crate) fn write_atomic(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    super::write_file_atomic(path, &bytes)
}

/// The sink that writes the report when the run ends (also after fail-fast and Ctrl-C).
pub(crate) struct JsonSink {
    pub paths: Vec<std::path::PathBuf>,
    /// Where writing failed, for the caller to report.
    pub errors: Vec<String>,
}

impl crate::event::Sink for JsonSink {
    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &crate::event::Event<'_>) {
        if let crate::event::Event::RunFinished {
            results,
            summary,
            limiters,
        } = event
        {
            let report = build(plan, run, results, summary, limiters);
            for p in &self.paths {
                if let Err(e) = write_atomic(p, &report) {
                    self.errors.push(format!(
                        "cannot write report {}: {}",
                        p.display(),
                        crate::io_message(&e)
                    ));
                }
            }
        }
    }
}
