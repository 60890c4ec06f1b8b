//! The record as data: its JSON (old reports still read), its caps, and `ptest merge` joining
//! shards' records: the summary recomputed, what is refused, and that a merge reads nothing a
//! report names.
#![expect(
    clippy::float_cmp,
    reason = "the record rounds times to the millisecond: they compare exactly"
)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::merge::read;
use super::*;

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

fn record(v: Value) -> Record {
    serde_json::from_value(v).unwrap()
}

/// Merge the reports written at `paths`, as `ptest merge` does.
fn merge(paths: &[PathBuf]) -> Result<Record, String> {
    merged(paths).map(|m| m.record)
}

/// As [`merge`], with what the merge noticed.
fn merged(paths: &[PathBuf]) -> Result<merge::Merged, String> {
    let shards = paths
        .iter()
        .map(|p| Ok((p.display().to_string(), read(p)?)))
        .collect::<Result<Vec<_>, String>>()?;
    Record::merge(shards)
}

/// A shard's report: `index` of `total` of the split `split`, `stop` run on every shard.
fn shard(index: u32, total: u32, split: &str, suites: Vec<Value>) -> Value {
    let mut r = report(&format!("s{index}"), 1.0, suites);
    r["shard"] = json!({ "index": index, "total": total, "mode": "static", "split": split,
                         "every_shard": ["stop"] });
    r
}

#[test]
fn the_summary_is_recomputed_from_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = report(
        "s2",
        10.0,
        vec![suite("a1", "passed", 6.0), suite("a2", "failed", 3.0)],
    );
    a["limiters"] =
        json!([{ "name": "api", "acquired": 3, "waited": 1.5, "throttled": 1, "rate": 2.0 }]);
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
        { "name": "db", "acquired": 1, "waited": 0.0, "throttled": 4, "serialized": true },
        { "name": "api", "acquired": 2, "waited": 0.25, "throttled": 0, "rate": 1.5 }
    ]);
    b["summary"]["interrupted"] = json!(true);
    let pa = write(dir.path(), "a.json", &a);
    let pb = write(dir.path(), "b.json", &b);
    let m = merge(&[pa.clone(), pb.clone()]).unwrap();
    let names: Vec<&str> = m.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["a1", "a2", "b1", "b2", "b3", "b4"],
        "shard by shard, in order"
    );
    let s = &m.summary;
    assert_eq!(
        (
            s.total,
            s.passed,
            s.failed,
            s.flaky,
            s.skipped,
            s.timed_out,
            s.cancelled
        ),
        (6, 1, 1, 1, 1, 1, 1)
    );
    // Wall time: the slowest shard; the suites' own time: every suite.
    assert_eq!(m.duration, 12.5);
    assert_eq!(s.sequential_time, 22.0);
    assert_eq!(s.speedup, 1.76);
    assert!(s.interrupted);
    assert_eq!(m.summary.exit_code(), crate::exit::INTERRUPTED);
    assert_eq!(m.workers, 4);
    assert_eq!(m.run_id, "s2+s1");
    assert_eq!(
        m.timestamp, "2026-01-01T00:00:00.000Z",
        "the earliest start"
    );
    let limiters: Vec<(&str, u64, f64, u64, f64, bool)> = m
        .limiters
        .iter()
        .map(|l| {
            (
                l.name.as_str(),
                l.acquired,
                l.waited,
                l.throttled,
                l.rate,
                l.serialized,
            )
        })
        .collect();
    assert_eq!(
        limiters,
        [
            ("api", 5, 1.75, 1, 1.5, false),
            ("db", 1, 0.0, 4, 0.0, true)
        ],
        "by name: added up, the lowest rate, serialized anywhere"
    );
    assert_eq!(
        m.shards,
        [pa.display().to_string(), pb.display().to_string()]
    );
    assert_eq!(m.format_version, FORMAT_VERSION);
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(
        v["shards"],
        json!([pa.display().to_string(), pb.display().to_string()])
    );
    assert!(v.get("kept_tmp").is_none());
}

#[test]
fn a_zero_wall_time_has_a_speedup_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "a.json", &report("s1", 0.0, vec![]));
    let m = merge(&[p]).unwrap();
    assert_eq!(m.summary.speedup, 1.0);
    assert_eq!(m.summary.total, 0);
    assert!(m.limiters.is_empty());
}

#[test]
fn what_cannot_be_merged_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = |paths: &[PathBuf]| merge(paths).unwrap_err();
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
    let other = write(d, "other.json", &json!({ "summary": {} }));
    assert_eq!(
        err(std::slice::from_ref(&other)),
        format!(
            "{}: not a ptest report (no suites or summary)",
            other.display()
        )
    );
    let bad_status = write(
        d,
        "status.json",
        &report("s1", 1.0, vec![suite("x", "exploded", 1.0)]),
    );
    assert!(
        err(std::slice::from_ref(&bad_status)).contains("unknown variant `exploded`"),
        "{}",
        err(std::slice::from_ref(&bad_status))
    );
    let mut newer = report("s1", 1.0, vec![]);
    newer["format_version"] = json!(FORMAT_VERSION + 1);
    let newer = write(d, "newer.json", &newer);
    assert_eq!(
        err(std::slice::from_ref(&newer)),
        format!(
            "{}: a report of format 2, newer than this ptest reads (1): merge with a newer ptest",
            newer.display()
        )
    );
    // Shards of different splits.
    let a = write(d, "a.json", &shard(1, 2, "aaaa", vec![]));
    let b = write(d, "b.json", &shard(2, 2, "bbbb", vec![]));
    let c = write(d, "c.json", &report("s3", 1.0, vec![]));
    assert_eq!(
        err(&[a.clone(), c, b.clone()]),
        format!(
            "merge: {} and {} are shards of different splits (config, selection, history or shard count differ): merge the reports of one run",
            a.display(),
            b.display()
        )
    );
}

#[test]
fn shards_merge_into_each_suite_once_naming_duplicates_and_missing_shards() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let one = write(
        d,
        "1.json",
        &shard(
            1,
            4,
            "abc",
            vec![
                suite("a", "passed", 1.0),
                suite("x", "failed", 1.0),
                suite("stop", "failed", 1.0),
            ],
        ),
    );
    let two = write(
        d,
        "2.json",
        &shard(
            2,
            4,
            "abc",
            vec![
                suite("b", "passed", 1.0),
                suite("x", "passed", 2.0),
                suite("stop", "passed", 3.0),
            ],
        ),
    );
    let four = write(
        d,
        "4.json",
        &shard(
            4,
            4,
            "abc",
            vec![suite("x", "failed", 4.0), suite("stop", "passed", 4.0)],
        ),
    );
    let m = merged(&[one.clone(), two.clone(), four.clone()]).unwrap();
    let got: Vec<(&str, Status, f64, Option<u32>)> = m
        .record
        .suites
        .iter()
        .map(|s| (s.name.as_str(), s.status, s.duration, s.shard))
        .collect();
    assert_eq!(
        got,
        [
            ("a", Status::Passed, 1.0, Some(1)),
            ("x", Status::Passed, 2.0, Some(2)),
            ("stop", Status::Passed, 3.0, Some(2)),
            ("b", Status::Passed, 1.0, Some(2)),
        ],
        "each name once, at its first place, the first pass kept"
    );
    assert_eq!(m.record.summary.total, 4);
    assert_eq!(m.record.summary.failed, 0);
    assert_eq!(
        m.notes,
        [
            format!(
                "suite \"x\" is in {} and in {}: the first pass kept",
                one.display(),
                two.display()
            ),
            format!(
                "suite \"x\" is in {} and in {}: the first pass kept",
                one.display(),
                four.display()
            ),
        ],
        "the teardown every shard runs is no duplicate"
    );
    assert_eq!(m.missing, ["shard 3/4 missing"]);
    assert!(m.record.shard.is_none());

    // Reports that are not shards': each suite marked with its report's place.
    let a = write(
        d,
        "a.json",
        &report("s1", 1.0, vec![suite("x", "failed", 1.0)]),
    );
    let b = write(
        d,
        "b.json",
        &report("s2", 1.0, vec![suite("x", "failed", 2.0)]),
    );
    let m = merged(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(m.record.suites.len(), 1);
    assert_eq!(m.record.suites[0].duration, 1.0);
    assert_eq!(m.record.suites[0].shard, Some(1));
    assert_eq!(
        m.notes,
        [format!(
            "suite \"x\" is in {} and in {}: the first kept",
            a.display(),
            b.display()
        )]
    );
    assert!(m.missing.is_empty());
}

#[test]
fn a_report_that_is_no_regular_file_or_too_big_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A FIFO nobody writes to: opening it must not wait.
    let fifo = d.join("fifo.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(
        merge(std::slice::from_ref(&fifo)).unwrap_err(),
        format!(
            "{}: not a ptest report (not a regular file)",
            fifo.display()
        )
    );
    assert_eq!(
        merge(&[d.to_path_buf()]).unwrap_err(),
        format!("{}: not a ptest report (not a regular file)", d.display())
    );
    // Larger than a report is read: refused by its size (a sparse file, nothing read).
    let big = d.join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(merge::REPORT_CAP + 1)
        .unwrap();
    assert_eq!(
        merge(std::slice::from_ref(&big)).unwrap_err(),
        format!(
            "{}: not a ptest report (1073741825 bytes; a report is read up to 1.0 GB)",
            big.display()
        )
    );
}

#[test]
fn a_merge_shows_what_the_records_carry_and_opens_nothing_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("log.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let secret = d.join("secret");
    std::fs::write(&secret, "TOKEN=s3cr3t\n").unwrap();
    let mut bad = suite("bad", "failed", 1.0);
    bad["log_file"] = json!(secret.display().to_string());
    bad["attempts_detail"] = json!([{ "attempt": 1, "status": "failed",
                                      "error_message": "exit code 1", "tail": "its own tail" }]);
    let mut hang = suite("hang", "failed", 1.0);
    hang["log_file"] = json!(fifo.display().to_string());
    let mut env = suite("env", "timed_out", 1.0);
    env["log_file"] = json!("/proc/self/environ");
    let mut zero = suite("zero", "cancelled", 1.0);
    zero["log_file"] = json!("/dev/zero");
    let p = write(d, "a.json", &report("s1", 1.0, vec![bad, hang, env, zero]));
    let m = merge(&[p]).unwrap();
    let xml = crate::report::junit::to_xml(&crate::report::junit::of_record(&m));
    assert!(xml.contains(">its own tail</failure>"), "{xml}");
    assert!(!xml.contains("s3cr3t") && !xml.contains("PATH="), "{xml}");
    assert_eq!(xml.matches("<failure").count(), 3, "{xml}");
}

#[test]
fn what_another_machine_wrote_gets_the_caps_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut part = suite("py[1]", "failed", 1.0);
    let long_tail: Vec<String> = (0..300).map(|i| format!("line {i}")).collect();
    part["attempts_detail"] = json!([{ "status": "failed", "tail": long_tail.join("\n") }]);
    part["testcases"] = json!([{ "name": "t", "status": "failed",
                                 "classname": "c".repeat(MESSAGE_CAP * 2),
                                 "message": "m".repeat(TEXT_CAP * 2),
                                 "text": "x".repeat(TEXT_CAP * 3) }]);
    let p = write(dir.path(), "a.json", &report("s1", 1.0, vec![part]));
    let m = merge(&[p]).unwrap();
    let tail = m.suites[0].tail();
    assert_eq!(last_lines(tail, 1000).len(), TAIL_LINES);
    assert!(
        tail.starts_with("line 200\n") && tail.ends_with("line 299"),
        "{tail}"
    );
    let c = &m.suites[0].cases()[0];
    assert!(c.text.as_ref().unwrap().len() < TEXT_CAP + 200);
    assert!(c.message.as_ref().unwrap().len() < TEXT_CAP + 200);
    assert!(c.classname.as_ref().unwrap().len() < MESSAGE_CAP + 200);
    assert!(c.text.as_ref().unwrap().contains(&format!(
        "[ptest: {} bytes cut here: a record keeps up to {TEXT_CAP} bytes of a testcase's text]",
        TEXT_CAP * 3 - TEXT_CAP
    )));
}

#[test]
fn an_old_report_reads_with_the_defaults_of_the_fields_it_lacks() {
    // As format 1 wrote it before tails, files and max_attempts were recorded.
    let r = record(json!({
        "format_version": 1, "ptest_version": "0.1.0", "run_id": "r", "timestamp": "t",
        "duration": 1.0, "workers": 1,
        "suites": [{ "name": "a", "description": null, "category": "unit", "phase": "default",
                     "group": null, "tags": [], "status": "flaky", "start_time": 1.0,
                     "end_time": 2.0, "duration": 1.0, "return_code": 0, "signal": null,
                     "attempts": 2, "error_message": null, "skip_reason": null,
                     "log_file": "test-logs/a.log", "worker": 0, "peak_rss_kb": null,
                     "cpu_time": null,
                     "attempts_detail": [
                        { "attempt": 1, "worker": 0, "start_time": 1.0, "end_time": 1.5,
                          "duration": 0.5, "status": "failed", "return_code": 1, "signal": null,
                          "error_message": "exit code 1" },
                        { "attempt": 2, "worker": 0, "start_time": 1.5, "end_time": 2.0,
                          "duration": 0.5, "status": "passed", "return_code": 0, "signal": null,
                          "error_message": null } ] }],
        "summary": { "total": 1, "passed": 0, "failed": 0, "skipped": 0, "flaky": 1,
                     "timed_out": 0, "cancelled": 0, "sequential_time": 1.0, "speedup": 1.0,
                     "interrupted": false },
        "limiters": [{ "name": "api", "acquired": 1, "waited": 0.0, "throttled": 0, "rate": 1.0,
                       "serialized": false }]
    }));
    let s = &r.suites[0];
    assert_eq!((s.max_attempts, s.of_attempts()), (1, 2));
    assert_eq!(s.file, None);
    assert_eq!(s.tail(), "");
    assert_eq!(s.failed_before(), "exit code 1");
    assert_eq!(r.limiters[0].max_throttled, None);
    // Written back, the fields it lacked stay away where they say nothing new.
    let v = serde_json::to_value(&r).unwrap();
    assert!(v["suites"][0].get("max_attempts").is_none());
    assert!(v["suites"][0].get("file").is_none());
    assert!(v["suites"][0]["attempts_detail"][0].get("tail").is_none());
}

#[test]
fn a_text_is_cut_where_it_says_and_keeps_its_start_and_end() {
    assert_eq!(capped("short", 10, "x"), "short");
    // 150 bytes: a quarter of the cap from the start, the rest from the end.
    let text = "é".repeat(50) + &"z".repeat(50);
    let cut = capped(&text, 40, "a test's text");
    assert_eq!(
        cut,
        format!(
            "ééééé\n[ptest: 110 bytes cut here: a record keeps up to 40 bytes of a test's text]\n{}",
            "z".repeat(30)
        )
    );
    // Never inside a character.
    let e = "é".repeat(50);
    let odd = capped(&e, 41, "x");
    assert!(odd.starts_with("ééééé\n"), "{odd}");
}

#[test]
fn a_record_keeps_texts_within_its_budget() {
    let case = |n: usize| TestCase {
        name: format!("t{n}"),
        classname: None,
        file: None,
        line: None,
        item: None,
        status: Outcome::Failed,
        attempts: 1,
        flaky: false,
        failed_before: None,
        split_outcome: None,
        duration: None,
        message: Some("m".repeat(100)),
        kind: None,
        text: Some("x".repeat(TEXT_CAP * 2)),
        location: None,
    };
    let mut budget = TEXT_CAP * 4;
    let kept: Vec<TestCase> = (0..5).map(|n| case(n).capped(&mut budget)).collect();
    let sizes: Vec<usize> = kept
        .iter()
        .map(|c| c.text.as_ref().unwrap().len())
        .collect();
    // Two at the full cap, then the budget is spent: the rest keep a little each.
    assert!(sizes[0] > TEXT_CAP && sizes[1] > TEXT_CAP, "{sizes:?}");
    assert!(sizes[2..].iter().all(|s| *s < 400), "{sizes:?}");
    assert_eq!(kept[4].message.as_deref(), Some("m".repeat(100).as_str()));
}

#[test]
fn the_last_lines_of_a_text() {
    assert_eq!(last_lines("one\n\ntwo\n\n", 5), ["one", "", "two"]);
    assert_eq!(last_lines("x\r\n", 1), ["x"]);
    assert_eq!(last_lines("a\nb\nc", 2), ["b", "c"]);
    assert!(last_lines("", 3).is_empty());
}

#[test]
fn a_test_is_named_as_its_tool_would() {
    let case = |name: &str, classname: Option<&str>, file: Option<&str>| TestCase {
        name: name.into(),
        classname: classname.map(str::to_owned),
        file: file.map(str::to_owned),
        line: None,
        item: None,
        status: Outcome::Passed,
        attempts: 1,
        flaky: false,
        failed_before: None,
        split_outcome: None,
        duration: None,
        message: None,
        kind: None,
        text: None,
        location: None,
    };
    let shown = |n, c, f| case(n, c, f).display();
    assert_eq!(
        shown(
            "test_y",
            Some("tests.test_x.TestK"),
            Some("tests/test_x.py")
        ),
        "tests/test_x.py::TestK::test_y"
    );
    assert_eq!(
        shown("test_y", Some("tests.test_x"), Some("tests/test_x.py")),
        "tests/test_x.py::test_y"
    );
    assert_eq!(
        shown("tests/test_x.py", Some(""), Some("tests/test_x.py")),
        "tests/test_x.py"
    );
    assert_eq!(
        shown("TestBoom", Some("example.com/m/calc"), None),
        "example.com/m/calc::TestBoom"
    );
    assert_eq!(shown("alone", None, None), "alone");
    let mut c = case("t", None, None);
    c.message = Some("  \n".into());
    c.text = Some("\n  first line \nsecond".into());
    assert_eq!(c.summary(), Some("first line"));
}

/// Each shard's service instances are its own: a merge keeps them all, shard by shard, and a
/// suite's service tail gets this machine's caps as an attempt's does.
#[test]
fn a_merge_keeps_every_shards_service_instances() {
    let dir = tempfile::tempdir().unwrap();
    let instance = |name: &str, worker: u32| {
        json!({ "name": "redis", "instance": name, "worker": worker, "log_file": null,
                "ports": { "port": 40000 + worker }, "start_time": 1.0, "ready_time": 1.5,
                "stop_time": 9.0, "error_message": null })
    };
    let mut a = report("s1", 10.0, vec![suite("a1", "passed", 6.0)]);
    a["services"] = json!([instance("redis@0", 0), instance("redis@1", 1)]);
    let mut failed = suite("b1", "failed", 0.0);
    failed["tail"] = json!(
        (1..=300)
            .map(|i| format!("l{i}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut b = report("s2", 12.0, vec![failed]);
    b["services"] = json!([instance("redis@0", 0)]);
    let m = merge(&[
        write(dir.path(), "a.json", &a),
        write(dir.path(), "b.json", &b),
    ])
    .unwrap();
    let names: Vec<&str> = m.services.iter().map(|v| v.instance.as_str()).collect();
    assert_eq!(names, ["redis@0", "redis@1", "redis@0"]);
    assert_eq!(m.services[1].ports.get("port"), Some(&40001));
    let tail = m.suites[1].tail();
    assert_eq!(last_lines(tail, 1000).len(), TAIL_LINES);
    assert!(tail.ends_with("l300"));
    // A report without services writes none.
    let plain = merge(&[write(dir.path(), "c.json", &report("s3", 1.0, vec![]))]).unwrap();
    assert!(!serde_json::to_string(&plain).unwrap().contains("services"));
}
