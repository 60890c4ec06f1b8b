//! `ptest merge` on reports written by hand: the joined summary, the errors that refuse a
//! merge, and the JUnit document of a merged report.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::report::junit::Outcome;
use crate::report::merge::{junit, merge};

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string(v).unwrap()).unwrap();
    p
}

fn suite(name: &str, status: &str, duration: f64) -> Value {
    json!({ "name": name, "status": status, "duration": duration, "phase": "default",
            "category": "unit", "attempts": 1 })
}

fn report(run_id: &str, duration: f64, suites: Vec<Value>) -> Value {
    json!({ "run_id": run_id, "timestamp": format!("2026-01-0{}T00:00:00.000Z", &run_id[1..]),
            "duration": duration, "workers": 2, "suites": suites,
            "summary": { "interrupted": false } })
}

fn err(inputs: &[PathBuf]) -> String {
    merge(inputs).unwrap_err().to_string()
}

#[test]
fn the_summary_is_recomputed_from_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = report(
        "s2",
        10.0,
        vec![suite("a1", "passed", 6.0), suite("a2", "failed", 3.0)],
    );
    a["limiters"] = json!([{ "name": "api", "acquired": 3, "waited": 1.5, "throttled": 1 }]);
    let mut b = report(
        "s1",
        12.5,
        vec![
            suite("b1", "flaky", 10.0),
            suite("b2", "skipped", 0.0),
            suite("b3", "timed_out", 2.0),
            suite("b4", "cancelled", 1.0),
        ],
    );
    b["limiters"] = json!([
        { "name": "api", "acquired": 2, "waited": 0.25, "throttled": 0 },
        { "name": "db", "acquired": 1, "waited": 0.0, "throttled": 4 }
    ]);
    b["summary"]["interrupted"] = json!(true);
    let pa = write(dir.path(), "a.json", &a);
    let pb = write(dir.path(), "b.json", &b);
    let m = merge(&[pa.clone(), pb.clone()]).unwrap();
    let names: Vec<&str> = m["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["a1", "a2", "b1", "b2", "b3", "b4"],
        "shard by shard, in order"
    );
    let s = &m["summary"];
    assert_eq!(s["total"], 6);
    for (k, n) in [
        ("passed", 1),
        ("failed", 1),
        ("flaky", 1),
        ("skipped", 1),
        ("timed_out", 1),
        ("cancelled", 1),
    ] {
        assert_eq!(s[k], n, "{k}");
    }
    // Wall time: the slowest shard; sequential: every suite.
    assert_eq!(m["duration"], 12.5);
    assert_eq!(s["sequential_time"], 22.0);
    assert_eq!(s["speedup"], 1.76);
    assert_eq!(s["interrupted"], true);
    assert_eq!(m["workers"], 4);
    assert_eq!(m["run_id"], "s2+s1");
    assert_eq!(
        m["timestamp"], "2026-01-01T00:00:00.000Z",
        "the earliest start"
    );
    assert_eq!(
        m["limiters"],
        json!([
            { "name": "api", "acquired": 5, "waited": 1.75, "throttled": 1 },
            { "name": "db", "acquired": 1, "waited": 0.0, "throttled": 4 }
        ])
    );
    assert_eq!(
        m["shards"],
        json!([pa.display().to_string(), pb.display().to_string()])
    );
    assert_eq!(m["format_version"], crate::report::json::FORMAT_VERSION);
}

#[test]
fn a_zero_wall_time_has_a_speedup_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "a.json", &report("s1", 0.0, vec![]));
    let m = merge(&[p]).unwrap();
    assert_eq!(m["summary"]["speedup"], 1.0);
    assert_eq!(m["summary"]["total"], 0);
    assert_eq!(m["limiters"], json!([]));
}

#[test]
fn what_cannot_be_merged_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(err(&[]), "merge: give at least one REPORT.json");
    let missing = d.join("missing.json");
    assert_eq!(
        err(std::slice::from_ref(&missing)),
        format!(
            "cannot read {}: No such file or directory",
            missing.display()
        )
    );
    let garbage = d.join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    assert!(
        err(std::slice::from_ref(&garbage))
            .starts_with(&format!("{}: not a ptest report: ", garbage.display()))
    );
    let other = write(d, "other.json", &json!({ "suites": 3, "summary": {} }));
    assert_eq!(
        err(std::slice::from_ref(&other)),
        format!(
            "{}: not a ptest report (no suites or summary)",
            other.display()
        )
    );
    let a = write(
        d,
        "a.json",
        &report("s1", 1.0, vec![suite("x", "passed", 1.0)]),
    );
    let b = write(
        d,
        "b.json",
        &report("s2", 1.0, vec![suite("x", "passed", 1.0)]),
    );
    assert_eq!(
        err(&[a.clone(), b.clone()]),
        format!(
            "merge: suite \"x\" is in {} and in {} (each suite belongs to one shard)",
            a.display(),
            b.display()
        )
    );
}

#[test]
fn junit_of_a_merged_report_has_a_testsuite_per_phase_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bad.log");
    std::fs::write(
        &log,
        "=== ptest: bad attempt 1/2 ===\nfirst try\n=== ptest: bad attempt 2/2 ===\n\x1b[31mlast\x1b[0m try\n",
    )
    .unwrap();
    let r = json!({
        "duration": 9.0,
        "suites": [
            { "name": "m1", "phase": "main", "category": "unit", "status": "passed", "duration": 1.0,
              "start_time": 100.0, "end_time": 101.0, "attempts": 1, "log_file": "m1.log" },
            { "name": "c1", "phase": "core", "category": "lint", "status": "skipped", "duration": 0.0,
              "skip_reason": "disabled", "attempts": 0, "log_file": "c1.log" },
            { "name": "bad", "phase": "main", "category": "unit", "status": "failed", "duration": 2.0,
              "start_time": 102.0, "end_time": 105.5, "attempts": 2, "error_message": "exit code 3",
              "log_file": log.display().to_string(),
              "attempts_detail": [
                  { "attempt": 1, "status": "failed", "error_message": "exit code 1" },
                  { "attempt": 2, "status": "failed", "error_message": "exit code 3" } ] },
            { "name": "stop", "phase": "main", "category": "unit", "status": "cancelled",
              "duration": 0.5, "attempts": 1, "error_message": "fail-fast" }
        ]
    });
    let doc = junit(&r);
    assert_eq!(doc.time, std::time::Duration::from_secs(9));
    let phases: Vec<&str> = doc.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(phases, ["main", "core"], "in the order phases first appear");
    let main = &doc.suites[0];
    assert_eq!(
        main.time,
        std::time::Duration::from_millis(5500),
        "first start to last end"
    );
    assert_eq!(
        main.timestamp,
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(100))
    );
    assert_eq!(doc.suites[1].timestamp, None, "nothing of it ran");
    let cases: Vec<(&str, &str)> = main
        .cases
        .iter()
        .map(|c| (c.name.as_str(), c.classname.as_str()))
        .collect();
    assert_eq!(cases, [("m1", "unit"), ("bad", "unit"), ("stop", "unit")]);
    assert!(matches!(main.cases[0].outcome, Outcome::Passed));
    assert_eq!(
        main.cases[0].system_out.as_deref(),
        Some("[[ATTACHMENT|m1.log]]")
    );
    let Outcome::Failure(p) = &main.cases[1].outcome else {
        panic!("{:?}", main.cases[1].outcome);
    };
    assert_eq!(p.message, "exit code 3");
    assert_eq!(p.kind, "failed");
    assert_eq!(
        p.text, "last try",
        "the last attempt's output, without colour"
    );
    // The earlier failed attempt is a rerun; the last one is the failure itself.
    assert_eq!(main.cases[1].reruns.len(), 1);
    assert_eq!(
        main.cases[1].reruns[0].problem.message,
        "attempt 1/2: exit code 1"
    );
    let Outcome::Error(p) = &main.cases[2].outcome else {
        panic!("{:?}", main.cases[2].outcome);
    };
    assert_eq!(p.message, "cancelled (fail-fast)");
    assert_eq!(p.text, "", "no log here: no tail");
    let skipped = &doc.suites[1].cases[0];
    assert!(matches!(&skipped.outcome, Outcome::Skipped { message } if message == "disabled"));
    assert_eq!(skipped.system_out, None, "never ran: no log to attach");
}

#[test]
fn a_flaky_suite_keeps_its_failed_attempts_as_reruns() {
    let r = json!({ "duration": 1.0, "suites": [
        { "name": "f", "phase": "default", "category": "unit", "status": "flaky", "duration": 1.0,
          "attempts": 3, "attempts_detail": [
            { "attempt": 1, "status": "timed_out", "error_message": "timed out after 1s" },
            { "attempt": 2, "status": "failed" },
            { "attempt": 3, "status": "passed" } ] } ] });
    let doc = junit(&r);
    let c = &doc.suites[0].cases[0];
    assert!(matches!(c.outcome, Outcome::Passed));
    let msgs: Vec<(&str, &str)> = c
        .reruns
        .iter()
        .map(|r| (r.problem.message.as_str(), r.problem.kind.as_str()))
        .collect();
    assert_eq!(
        msgs,
        [
            ("attempt 1/3: timed out after 1s", "timed_out"),
            ("attempt 2/3: failed", "failed")
        ]
    );
}
