//! Every renderer of a run's record, from one literal record (no plan, no log files): the
//! terminal summary, the HTML page, the JUnit XML, the GitHub step summary and the JSON report,
//! each as an insta snapshot; and names that try to break out of what prints them.

use serde_json::json;

use crate::record::Record;
use crate::report::style::Styles;

const T0: f64 = 1_700_000_000.0;

/// A run of seven suites, one of each status and a batch's part with testcases; a lowered,
/// serialized limiter; a service on two workers and one that was never ready; failed
/// attempts' folders kept.
pub(crate) fn mixed() -> Record {
    let attempt = |n: u32, worker: u32, start: f64, secs: f64, status: &str, why: Option<&str>| {
        json!({ "attempt": n, "worker": worker, "start_time": T0 + start,
                "end_time": T0 + start + secs, "duration": secs, "status": status,
                "return_code": if status == "passed" { Some(0) } else { None },
                "signal": null, "error_message": why })
    };
    let suite = |name: &str, status: &str, secs: f64, details: serde_json::Value| {
        let ran = details.as_array().is_some_and(|d| !d.is_empty());
        json!({ "name": name, "description": null, "category": "unit", "phase": "default",
                "group": null, "tags": [], "status": status,
                "start_time": ran.then_some(T0), "end_time": ran.then_some(T0 + secs),
                "duration": secs, "return_code": null, "signal": null,
                "attempts": details.as_array().map_or(0, Vec::len),
                "error_message": null, "skip_reason": null,
                "log_file": ran.then(|| format!("/p/test-logs/{name}.log")),
                "worker": ran.then_some(0), "peak_rss_kb": null, "cpu_time": null,
                "attempts_detail": details })
    };
    let mut unit = suite(
        "unit",
        "passed",
        3.0,
        json!([attempt(1, 0, 0.0, 3.0, "passed", None)]),
    );
    unit["file"] = json!("tests/test_unit.py");
    let mut net = suite(
        "net",
        "flaky",
        3.0,
        json!([
            attempt(1, 1, 0.0, 1.0, "failed", Some("exit code 1")),
            attempt(2, 1, 2.0, 2.0, "passed", None)
        ]),
    );
    net["max_attempts"] = json!(3);
    net["attempts_detail"][0]["tail"] = json!("connection refused\nretrying later");
    let mut api = suite(
        "api",
        "failed",
        2.5,
        json!([attempt(1, 0, 3.0, 2.5, "failed", Some("exit code 3"))]),
    );
    api["error_message"] = json!("exit code 3");
    api["return_code"] = json!(3);
    api["attempts_detail"][0]["tail"] = json!("GET /v1 -> 500\n<b>boom</b>\nexpected 200");
    let mut e2e = suite(
        "e2e",
        "timed_out",
        4.0,
        json!([attempt(
            1,
            1,
            4.0,
            4.0,
            "timed_out",
            Some("timed out after 4.0s")
        )]),
    );
    e2e["error_message"] = json!("timed out after 4.0s");
    e2e["attempts_detail"][0]["tail"] = json!("waiting for the page");
    let mut docs = suite(
        "docs",
        "cancelled",
        0.5,
        json!([attempt(1, 0, 5.5, 0.5, "cancelled", Some("fail-fast"))]),
    );
    docs["error_message"] = json!("fail-fast");
    let mut deploy = suite("deploy", "skipped", 0.0, json!([]));
    deploy["skip_reason"] = json!("dependency \"api\" failed");
    let mut py = suite(
        "py[1]",
        "failed",
        2.5,
        json!([
            attempt(1, 0, 6.0, 1.5, "failed", Some("exit code 1")),
            attempt(2, 0, 7.5, 1.0, "failed", Some("exit code 1"))
        ]),
    );
    py["max_attempts"] = json!(2);
    py["error_message"] = json!("exit code 1");
    py["attempts_detail"][0]["tail"] = json!("FAILED tests/test_a.py::test_sum");
    py["attempts_detail"][1]["tail"] = json!("FAILED tests/test_a.py::test_sum");
    py["batch"] = json!({ "name": "py", "index": 1, "count": 1,
                          "items": ["tests/test_a.py", "tests/test_b.py"] });
    let case = |name: &str, status: &str, item: &str| {
        json!({ "name": name, "classname": format!("tests.{}", &item[6..item.len() - 3]),
                "file": item, "line": null, "item": item, "status": status,
                "duration": 0.013, "message": null, "type": null, "text": null })
    };
    let mut sum = case("test_sum", "failed", "tests/test_a.py");
    sum["message"] = json!("assert 3 == 4");
    sum["type"] = json!("AssertionError");
    sum["text"] = json!(
        "def test_sum():\n>       assert 1 + 2 == 4\nE       assert 3 == 4\n\ntests/test_a.py:7: AssertionError"
    );
    let mut db = case("test_db", "error", "tests/test_b.py");
    db["message"] = json!("fixture 'db' not found");
    let mut later = case("test_later", "skipped", "tests/test_b.py");
    later["message"] = json!("not today");
    // Failed in the part's first attempt, passed in its retry: a flaky test.
    let mut shaky = case("test_shaky", "passed", "tests/test_a.py");
    shaky["attempts"] = json!(2);
    shaky["flaky"] = json!(true);
    shaky["failed_before"] = json!("ConnectionError: refused");
    py["testcases"] = json!([
        case("test_ok", "passed", "tests/test_a.py"),
        sum,
        db,
        later,
        shaky
    ]);
    serde_json::from_value(json!({
        "format_version": 1, "ptest_version": "0.1.0", "run_id": "run-1",
        "timestamp": "2023-11-14T22:13:20.000Z", "duration": 10.0, "workers": 2,
        "suites": [unit, net, api, e2e, docs, deploy, py],
        "summary": { "total": 7, "passed": 1, "failed": 2, "skipped": 1, "flaky": 1,
                     "timed_out": 1, "cancelled": 1, "sequential_time": 15.5, "speedup": 1.55,
                     "interrupted": false },
        "limiters": [{ "name": "api", "acquired": 12, "waited": 2.5, "throttled": 5, "rate": 0.5,
                       "serialized": true, "declared_rate": 2.0, "per": 1.0, "max_throttled": 3 }],
        "services": [
            { "name": "redis", "instance": "redis@0", "worker": 0,
              "log_file": "/p/test-logs/redis@0.log", "ports": { "port": 40001 },
              "start_time": T0 + 0.5, "ready_time": T0 + 0.75, "stop_time": T0 + 9.0,
              "error_message": null },
            { "name": "redis", "instance": "redis@1", "worker": 1,
              "log_file": "/p/test-logs/redis@1.log", "ports": { "port": 40002 },
              "start_time": T0 + 0.5, "ready_time": T0 + 1.0, "stop_time": T0 + 9.0,
              "error_message": null },
            { "name": "db", "instance": "db", "worker": null,
              "log_file": "/p/test-logs/db.log", "ports": { "port": 40003, "port:admin": 40004 },
              "start_time": T0 + 3.0, "ready_time": null, "stop_time": T0 + 5.0,
              "error_message": "service \"db\" not ready after 2s" }
        ],
        "kept_tmp": { "folder": "/tmp/ptest-run-1", "runs": 5 }
    }))
    .expect("a literal record")
}

#[test]
fn terminal_summary() {
    let text = crate::report::terminal::summary(&mixed(), Styles { enabled: false });
    insta::assert_snapshot!(text);
}

#[test]
fn html_page() {
    let page = crate::report::html::build(&mixed(), std::path::Path::new("/p/out/report.html"));
    insta::assert_snapshot!(page);
}

#[test]
fn junit_xml() {
    let xml = crate::report::junit::to_xml(&crate::report::junit::of_record(&mixed()));
    insta::assert_snapshot!(xml);
}

#[test]
fn github_step_summary() {
    let md = crate::report::github::summary_markdown(&mixed(), 1 << 20);
    insta::assert_snapshot!(md);
}

#[test]
fn json_report() {
    let json = serde_json::to_string_pretty(&mixed()).unwrap();
    insta::assert_snapshot!(json);
}

/// A record whose names and messages try to leave the line they are printed on.
fn hostile() -> Record {
    let mut r = mixed();
    let evil = "x\n::error file=README.md,line=1::injected\r::add-mask::\u{202e}gnp.exe";
    r.suites[2].name = evil.to_owned();
    r.suites[2].error_message = Some(evil.to_owned());
    r.suites[2].attempts_detail[0].tail = Some(format!("ok\n{evil}"));
    let cases = r.suites[6].testcases.as_mut().unwrap();
    cases[1].name = evil.to_owned();
    cases[1].message = Some(evil.to_owned());
    r.services[2].name = evil.to_owned();
    r.services[2].instance = evil.to_owned();
    r
}

/// Lines a CI runner could take for a workflow command: starting with `::` once leading
/// blanks are trimmed (GitHub's runner trims them), or holding a carriage return.
fn commands(text: &str) -> Vec<&str> {
    text.split('\n')
        .filter(|l| l.trim_start().starts_with("::") || l.contains('\r'))
        .collect()
}

#[test]
fn no_name_or_message_starts_a_line_of_its_own_in_what_prints_them() {
    let r = hostile();
    let text = crate::report::terminal::summary(&r, Styles { enabled: false });
    assert_eq!(commands(&text), Vec::<&str>::new(), "{text}");
    assert!(
        text.contains("x\\n::error file=README.md,line=1::injected\\r::add-mask::\\u{202e}gnp.exe"),
        "{text}"
    );
    assert!(!text.contains('\u{202e}'), "{text}");
    // The step summary is a file GitHub renders, not read for commands: still one row a suite.
    let md = crate::report::github::summary_markdown(&r, 1 << 20);
    assert!(
        md.contains(
            "| x ::error file=README.md,line=1::injected ::add-mask::\\\\u{202e}gnp.exe | failed |"
        ),
        "{md}"
    );
    assert!(!md.contains('\u{202e}') && !md.contains('\r'), "{md}");
}
