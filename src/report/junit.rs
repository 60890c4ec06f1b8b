//! `--junit FILE`: JUnit XML for CI systems. A `testsuite` per phase, a `testcase` per suite
//! (classname = its category); failures carry the log's tail, flaky attempts are
//! `flakyFailure`s, cancelled suites are errors, skipped ones say why.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::terminal::last_lines;
use crate::event::{Event, RunInfo, Sink, Status, SuiteResult};
use crate::plan::Plan;

const TAIL_LINES: usize = 100;

fn tail(r: &SuiteResult) -> String {
    match (&r.log_file, r.last_output) {
        (Some(p), Some((a, b))) => {
            last_lines(&crate::sched::read_tail(p, a, b), TAIL_LINES).join("\n")
        }
        _ => String::new(),
    }
}

/// The whole document.
pub fn build(
    plan: &Plan,
    run: &RunInfo,
    results: &[SuiteResult],
    wall: std::time::Duration,
) -> Report {
    let mut report = Report::new("ptest");
    report.set_time(wall);
    for phase in &plan.phases {
        let mut suite = TestSuite::new(phase.name.as_str());
        for r in results
            .iter()
            .filter(|r| plan.suite(r.id).phase == phase.id)
        {
            let s = plan.suite(r.id);
            let status = match r.status {
                Status::Passed => TestCaseStatus::success(),
                Status::Flaky => {
                    let mut st = TestCaseStatus::success();
                    for (i, why) in r.failed_attempts.iter().enumerate() {
                        let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                        rerun.set_message(format!("attempt {}: {why}", i + 1));
                        st.add_rerun(rerun);
                    }
                    st
                }
                Status::Failed | Status::TimedOut => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(r.error_message.clone().unwrap_or_else(|| "failed".into()));
                    st.set_type(r.status.label());
                    st.set_description(tail(r));
                    st
                }
                Status::Cancelled => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                    st.set_message(format!(
                        "cancelled ({})",
                        r.error_message.as_deref().unwrap_or("stopped")
                    ));
                    st.set_type("cancelled");
                    st
                }
                Status::Skipped => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(r.skip_reason.clone().unwrap_or_default());
                    st
                }
            };
            let mut case = TestCase::new(s.name.as_str(), status);
            case.set_classname(s.category.as_str());
            case.set_time(r.duration);
            if let Some(log) = &r.log_file {
                case.add_property((
                    "log_file",
                    super::display_path(log).to_string_lossy().as_ref(),
                ));
            }
            case.add_property(("attempts", r.attempts.to_string().as_str()));
            suite.add_test_case(case);
        }
        if !suite.test_cases.is_empty() {
            suite.add_property(("run_id", run.run_id.as_str()));
            report.add_test_suite(suite);
        }
    }
    report
}

/// Writes the XML when the run ends.
pub struct JunitSink {
    pub path: std::path::PathBuf,
    pub errors: Vec<String>,
}

impl Sink for JunitSink {
    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &Event<'_>) {
        if let Event::RunFinished {
            results, summary, ..
        } = event
        {
            let xml = build(plan, run, results, summary.duration).to_string();
            let written = xml.map_err(|e| e.to_string()).and_then(|x| {
                super::write_file_atomic(&self.path, x.as_bytes())
                    .map_err(|e| crate::io_message(&e))
            });
            if let Err(e) = written {
                self.errors.push(format!(
                    "cannot write JUnit report {}: {e}",
                    self.path.display()
                ));
            }
        }
    }
}
