//! Statuses, summaries and their exit codes.

use std::time::Duration;

use super::*;

fn ended(status: Status, secs: u64) -> SuiteResult {
    SuiteResult {
        status,
        duration: Duration::from_secs(secs),
        attempts: 1,
        skip_reason: None,
        ..SuiteResult::skipped(SuiteId(0), String::new())
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
        SuiteResult::skipped(SuiteId(6), "disabled".into()),
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
    let r = SuiteResult::skipped(SuiteId(3), "phase \"core\" failed".into());
    assert_eq!(r.id, SuiteId(3));
    assert_eq!(r.status, Status::Skipped);
    assert_eq!(r.attempts, 0);
    assert_eq!(r.skip_reason.as_deref(), Some("phase \"core\" failed"));
    assert!(r.start_time.is_none() && r.end_time.is_none() && r.log_file.is_none());
    assert_eq!(r.duration, Duration::ZERO);
    assert!(r.attempts_detail.is_empty() && r.testcases.is_empty());
}
