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
