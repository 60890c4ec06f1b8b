//! The record as the driver builds it from a run: tails read once from the run's logs, the
//! suite's file, the kept folders, and the caps on what batches reported.

use std::time::Duration;

use super::*;
use crate::batch::results::Outcome;
use crate::event::AttemptDetail;
use crate::plan::tests::{Fixture, plan};
use crate::report::tests::{result, run_info, test_case};

/// A log holding `attempts` outputs one after another, and their byte ranges.
fn log(dir: &Path, attempts: &[&str]) -> (PathBuf, Vec<(u64, u64)>) {
    let path = dir.join("a.log");
    let mut text = String::new();
    let mut ranges = Vec::new();
    for (i, out) in attempts.iter().enumerate() {
        text.push_str(&format!("=== ptest: a attempt {} ===\n", i + 1));
        let start = text.len() as u64;
        text.push_str(out);
        ranges.push((start, text.len() as u64));
    }
    std::fs::write(&path, text).unwrap();
    (path, ranges)
}

#[test]
fn a_failed_attempt_keeps_its_tail_read_once_when_its_suite_ends() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(r#"ptest.suite { name = "a", cmd = "true", retry = 2 }"#);
    let many: String = (1..=150)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let (path, ranges) = log(
        dir.path(),
        &[
            "\x1b[31mfirst\x1b[0m try\tgone\n",
            &many,
            "passed at last\n",
        ],
    );
    let mut r = result(&p, "a", Status::Flaky, 1.0);
    let first = r.attempts_detail[0].clone();
    r.attempts_detail = vec![
        AttemptDetail {
            output: Some(ranges[0]),
            ..first.clone()
        },
        AttemptDetail {
            attempt: 2,
            status: Status::TimedOut,
            output: Some(ranges[1]),
            ..first.clone()
        },
        AttemptDetail {
            attempt: 3,
            status: Status::Passed,
            output: Some(ranges[2]),
            ..first
        },
    ];
    r.log_file = Some(path.clone());
    let mut recorder = Recorder::new(&p);
    let entry = recorder.ended(&p, &r).clone();
    let tails: Vec<Option<&str>> = entry
        .attempts_detail
        .iter()
        .map(|a| a.tail.as_deref())
        .collect();
    assert_eq!(
        tails[0],
        Some("first try\tgone"),
        "colour codes removed, tabs kept"
    );
    let second = tails[1].unwrap();
    assert_eq!(last_lines(second, 1000).len(), TAIL_LINES);
    assert!(second.starts_with("line 51\n") && second.ends_with("line 150"));
    assert_eq!(tails[2], None, "a pass keeps no tail");
    assert_eq!((entry.attempts, entry.max_attempts), (2, 3));
    // The record at the end is made of the entries: the log is not read again.
    std::fs::remove_file(&path).unwrap();
    let summary = Summary::from_results(std::slice::from_ref(&r), Duration::from_secs(1), false);
    let record = recorder.finish(
        &p,
        &run_info(&p),
        std::slice::from_ref(&r),
        &summary,
        &[],
        Path::new("/nonexistent"),
    );
    assert_eq!(record.suites[0], entry);
    // As `--events` gives an attempt the moment it ends: no tail yet.
    assert_eq!(r.attempts_detail[0].entry().tail, None);
}

#[test]
fn a_suite_about_one_file_names_it_from_the_configs_folder() {
    let f = Fixture::new(
        r#"
        ptest.suite { name = "tests/test_a.py", cmd = "pytest tests/test_a.py" }
        ptest.suite { name = "sel", cmd = { "pytest", "tests/test_a.py::test_x" } }
        ptest.suite { name = "two", cmd = "pytest tests/test_a.py tests/test_b.py" }
        ptest.suite { name = "none", cmd = "pytest -k tests/test_a.py" }
        "#,
    );
    std::fs::create_dir(f.dir.path().join("tests")).unwrap();
    std::fs::write(f.dir.path().join("tests/test_a.py"), "").unwrap();
    std::fs::write(f.dir.path().join("tests/test_b.py"), "").unwrap();
    let p = f.plan();
    let file = |name: &str| {
        Recorder::new(&p)
            .ended(&p, &result(&p, name, Status::Passed, 1.0))
            .file
            .clone()
    };
    assert_eq!(file("tests/test_a.py").as_deref(), Some("tests/test_a.py"));
    assert_eq!(file("sel").as_deref(), Some("tests/test_a.py"));
    assert_eq!(file("two"), None, "about two files");
    assert_eq!(file("none").as_deref(), Some("tests/test_a.py"));
}

#[test]
fn failed_attempts_folders_are_named_only_when_they_stayed() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(r#"ptest.suite { name = "a", cmd = "true", retry = 1 }"#);
    let kept = |status: Status, root: &Path| {
        let r = result(&p, "a", status, 1.0);
        let summary =
            Summary::from_results(std::slice::from_ref(&r), Duration::from_secs(1), false);
        Recorder::new(&p)
            .finish(
                &p,
                &run_info(&p),
                std::slice::from_ref(&r),
                &summary,
                &[],
                root,
            )
            .kept_tmp
            .map(|k| (k.folder, k.runs))
    };
    let root = (dir.path().to_string_lossy().into_owned(), 5);
    assert_eq!(kept(Status::Failed, dir.path()), Some(root.clone()));
    assert_eq!(kept(Status::Flaky, dir.path()), Some(root));
    assert_eq!(kept(Status::Passed, dir.path()), None);
    assert_eq!(kept(Status::Failed, &dir.path().join("gone")), None);
}

#[test]
fn a_batchs_testcases_are_kept_within_the_records_caps() {
    let p = plan(
        r#"ptest.batch { name = "py", items = { "tests/test_a.py", "tests/test_b.py" },
             batches = 1, cmd = { "true", "{items}" }, results = "r.xml" }"#,
    );
    let mut r = result(&p, "py[1]", Status::Failed, 1.0);
    let huge = "x".repeat(TEXT_BUDGET / 2);
    r.testcases = (0..4)
        .map(|i| crate::batch::results::TestCase {
            text: Some(huge.clone()),
            item: Some(i % 2),
            time: Some(if i == 0 { f64::NAN } else { 0.012_345_6 }),
            ..test_case(&format!("t{i}"), None, Outcome::Failed)
        })
        .collect();
    let mut recorder = Recorder::new(&p);
    let entry = recorder.ended(&p, &r);
    let cases = entry.cases();
    assert_eq!(cases.len(), 4);
    assert_eq!(
        cases[1].item.as_deref(),
        Some("tests/test_b.py"),
        "its item by name"
    );
    assert_eq!((cases[0].duration, cases[1].duration), (None, Some(0.012)));
    for c in cases {
        let text = c.text.as_ref().unwrap();
        assert!(text.len() < crate::record::TEXT_CAP + 200, "{}", text.len());
        assert!(text.contains(" bytes cut here: "), "{}", &text[..200]);
    }
}

/// A failed or flaky test's place in the sources is found once, when its part's entry is
/// built, and carried by the record (relative to the config's folder); a passed test's is not
/// looked for.
#[test]
fn a_failed_or_flaky_tests_place_is_found_once_and_kept_in_the_record() {
    let f = Fixture::new(
        r#"ptest.batch { name = "py", items = { "tests/test_x.py" }, cwd = "sub",
             batches = 1, cmd = { "true", "{items}" }, results = "r.xml" }"#,
    );
    std::fs::create_dir_all(f.dir.path().join("sub/tests")).unwrap();
    std::fs::write(f.dir.path().join("sub/tests/test_x.py"), "").unwrap();
    let p = f.plan();
    let mut r = result(&p, "py[1]", Status::Failed, 1.0);
    let case = |name: &str, outcome| crate::batch::results::TestCase {
        text: Some("tests/test_x.py:7: AssertionError".into()),
        ..test_case(name, Some("tests/test_x.py"), outcome)
    };
    r.testcases = vec![
        case("test_bad", Outcome::Failed),
        crate::batch::results::TestCase {
            failed_before: Some("boom".into()),
            text: None,
            ..case("test_shaky", Outcome::Passed)
        },
        case("test_ok", Outcome::Passed),
    ];
    let entry = Recorder::new(&p).ended(&p, &r).clone();
    let json = serde_json::to_value(entry.cases()).unwrap();
    assert_eq!(
        json[0]["location"],
        serde_json::json!({ "file": "sub/tests/test_x.py", "line": 7 })
    );
    assert_eq!(
        json[1]["location"],
        serde_json::json!({ "file": "sub/tests/test_x.py" })
    );
    assert!(json[2].get("location").is_none(), "{}", json[2]);
}

/// DESIGN §11: a suite that a failed service failed before it (re)started has the service's
/// words as its tail, after its last attempt's; a suite that ran on the instance keeps them in
/// its attempt's tail, not twice.
#[test]
fn a_service_failure_is_the_tail_of_the_suites_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        r#"local db = ptest.service { name = "db", cmd = "db" }
        ptest.suite { name = "a", cmd = "true", needs = { db }, retry = 1 }"#,
    );
    let note =
        "=== ptest: service \"db\" exited with 1; the end of its log, db.log: ===\nno room\n";
    let (path, ranges) = log(dir.path(), &["flaked once\n", note]);
    // Failed once, then the service failed it while it waited to try again.
    let mut r = result(&p, "a", Status::Failed, 1.0);
    r.attempts_detail[0].output = Some(ranges[0]);
    r.log_file = Some(path.clone());
    r.last_output = Some(ranges[1]);
    let entry = Recorder::new(&p).ended(&p, &r).clone();
    assert_eq!(
        entry.attempts_detail[0].tail.as_deref(),
        Some("flaked once")
    );
    assert!(
        entry
            .tail()
            .ends_with("exited with 1; the end of its log, db.log: ===\nno room")
    );
    // Never started: the note is all there is.
    let mut r = result(&p, "a", Status::Failed, 0.0);
    r.attempts_detail.clear();
    r.log_file = Some(path.clone());
    r.last_output = Some(ranges[1]);
    let entry = Recorder::new(&p).ended(&p, &r).clone();
    assert!(entry.tail().contains("no room"), "{entry:?}");
    // Stopped while running on it: the note extends its attempt's output, kept once.
    let mut r = result(&p, "a", Status::Failed, 1.0);
    r.attempts_detail[0].output = Some((ranges[0].0, ranges[1].1));
    r.log_file = Some(path);
    r.last_output = Some((ranges[0].0, ranges[1].1));
    let entry = Recorder::new(&p).ended(&p, &r).clone();
    assert_eq!(entry.tail, None);
    assert!(entry.tail().starts_with("flaked once\n") && entry.tail().ends_with("no room"));
}

/// Each instance the run started is in the record, named as its log is, with its ports by
/// placeholder and its times.
#[test]
fn the_record_lists_every_service_instance_with_its_times() {
    use crate::event::{ServiceInstance, ServiceRecord};
    use std::time::UNIX_EPOCH;
    let p = plan(
        r#"local r = ptest.service { name = "redis", cmd = "redis-server --port {port}", scope = "worker" }
        local d = ptest.service { name = "db", cmd = "db -p {port} -a {port:admin}" }
        ptest.suite { name = "a", cmd = "true", needs = { r, d } }"#,
    );
    let at = |s: u64| UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s);
    let records = [
        ServiceRecord {
            instance: ServiceInstance {
                service: p.services[0].id,
                worker: Some(1),
            },
            log_file: PathBuf::from("/nonexistent/test-logs/redis@1.log"),
            ports: vec![(None, 40001)],
            started: at(1),
            ready: Some(at(2)),
            stopped: Some(at(5)),
            failure: None,
        },
        ServiceRecord {
            instance: ServiceInstance {
                service: p.services[1].id,
                worker: None,
            },
            log_file: PathBuf::from("/nonexistent/test-logs/db.log"),
            ports: vec![(None, 40002), (Some("admin".into()), 40003)],
            started: at(1),
            ready: None,
            stopped: Some(at(3)),
            failure: Some("service \"db\" not ready after 2s".into()),
        },
    ];
    let r = result(&p, "a", Status::Passed, 1.0);
    let summary = Summary::from_results(std::slice::from_ref(&r), Duration::from_secs(1), false);
    let mut recorder = Recorder::new(&p);
    recorder.services(&p, &records);
    let record = recorder.finish(
        &p,
        &run_info(&p),
        std::slice::from_ref(&r),
        &summary,
        &[],
        Path::new("/nonexistent"),
    );
    let v = &record.services;
    assert_eq!(v.len(), 2);
    assert_eq!(
        (v[0].name.as_str(), v[0].instance.as_str()),
        ("redis", "redis@1")
    );
    assert_eq!(v[0].worker, Some(1));
    assert_eq!(v[0].ports.get("port"), Some(&40001));
    assert_eq!(
        (v[0].start_time, v[0].ready_time, v[0].stop_time),
        (
            1_700_000_001.0,
            Some(1_700_000_002.0),
            Some(1_700_000_005.0)
        )
    );
    assert_eq!(v[1].instance, "db");
    assert_eq!(v[1].ports.get("port:admin"), Some(&40003));
    assert_eq!(v[1].ready_time, None);
    assert_eq!(
        v[1].error_message.as_deref(),
        Some("service \"db\" not ready after 2s")
    );
    assert!(
        v[1].log_file
            .as_deref()
            .unwrap()
            .ends_with("test-logs/db.log")
    );
}
