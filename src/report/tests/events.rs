//! `--events FILE`: one JSON object a line, for the events tools follow.

use std::time::Duration;

use serde_json::Value;

use super::{record_of, result, run_info};
use crate::event::{Event, LimiterStats, Sink, Status};
use crate::plan::tests::{by_name, plan};
use crate::report::events::{EVENTS_VERSION, EventsSink};

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn each_event_is_one_line_with_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/events.ndjson");
    let p = plan(
        r#"
        ptest.limiter { name = "api", rate = 5 }
        ptest.phase { name = "core" }
        ptest.suite { name = "a", cmd = "true", category = "unit", phase = "core", retry = 1 }
        ptest.suite { name = "b", cmd = "true", phase = "core" }
        "#,
    );
    let run = run_info(&p);
    let mut sink = EventsSink::open(path.clone()).expect("open creates the folder");
    let a = result(&p, "a", Status::Failed, 2.0);
    let b = result(&p, "b", Status::Skipped, 0.0);
    let results = [a.clone(), b.clone()];
    let stats = [LimiterStats {
        acquired: 3,
        waited: Duration::from_millis(1234),
        throttled: 1,
        rate: 5.0,
        serialized: false,
    }];
    let mut record = record_of(&p, &results, 2.0, false, &stats);
    record.services = crate::report::tests::renderers::mixed().services;
    let id = by_name(&p, "a").id;
    for e in [
        Event::RunStarted,
        Event::SuiteStarted {
            id,
            attempt: 2,
            worker: 1,
        },
        Event::TestFinished {
            id,
            name: "tests/test_x.py::test_y[1]",
            outcome: crate::record::Outcome::Failed,
        },
        Event::AttemptFinished {
            id,
            detail: &a.attempts_detail[0],
        },
        // Not part of the stream.
        Event::Warning { message: "w" },
        Event::Stopping {
            reason: crate::event::CancelReason::FailFast,
        },
        Event::SuiteFinished {
            result: &a,
            entry: &record.suites[0],
        },
        Event::SuiteFinished {
            result: &b,
            entry: &record.suites[1],
        },
        Event::RunFinished {
            results: &results,
            record: &record,
        },
    ] {
        sink.event(&p, &run, &e);
    }
    assert!(sink.errors.is_empty(), "{:?}", sink.errors);
    let l = lines(&path);
    let kinds: Vec<&str> = l.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "run_started",
            "suite_started",
            "test_finished",
            "attempt_finished",
            "suite_finished",
            "suite_finished",
            "run_finished"
        ]
    );
    for v in &l {
        assert!(v["time"].as_f64().unwrap() > 1e9, "{v}");
    }
    assert_eq!(l[0]["format_version"], EVENTS_VERSION);
    assert_eq!(l[0]["run_id"], "run-1");
    assert_eq!(l[0]["total"], 2);
    assert_eq!(l[0]["timestamp"], "2023-11-14T22:13:20.000Z");
    assert_eq!(l[1]["name"], "a");
    assert_eq!(l[1]["category"], "unit");
    assert_eq!(l[1]["phase"], "core");
    assert_eq!(
        (&l[1]["attempt"], &l[1]["attempts"]),
        (&2.into(), &2.into())
    );
    assert_eq!(l[1]["worker"], 1);
    assert!(l[1]["log_file"].as_str().unwrap().ends_with("a.log"));
    // A part's test as it ended: its part, its name, its outcome.
    assert_eq!(
        (&l[2]["suite"], &l[2]["name"], &l[2]["status"]),
        (
            &"a".into(),
            &"tests/test_x.py::test_y[1]".into(),
            &"failed".into()
        )
    );
    let l = &l[1..];
    assert_eq!(l[2]["name"], "a");
    assert_eq!(l[2]["status"], "failed");
    assert_eq!(l[3]["name"], "a");
    assert_eq!(l[3]["status"], "failed");
    assert_eq!(l[3]["return_code"], 3);
    assert_eq!(l[4]["status"], "skipped");
    assert_eq!(l[4]["skip_reason"], "dependency \"x\" failed");
    assert_eq!(l[5]["summary"]["failed"], 1);
    assert_eq!(l[5]["summary"]["skipped"], 1);
    assert_eq!(l[5]["duration"], 2.0);
    assert_eq!(l[5]["limiters"][0]["name"], "api");
    assert_eq!(l[5]["limiters"][0]["acquired"], 3);
    assert_eq!(l[5]["limiters"][0]["waited"], 1.234);
    assert_eq!(l[5]["limiters"][0]["throttled"], 1);
    assert_eq!(l[5]["services"][1]["instance"], "redis@1");
    assert_eq!(
        l[5]["services"][2]["error_message"],
        "service \"db\" not ready after 2s"
    );
    // A run without services says nothing of them.
    record.services.clear();
    let mut sink = EventsSink::open(path.clone()).unwrap();
    sink.event(
        &p,
        &run,
        &Event::RunFinished {
            results: &results,
            record: &record,
        },
    );
    assert_eq!(lines(&path)[0].get("services"), None);
}

#[test]
fn opening_replaces_an_old_file_and_never_writes_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    std::fs::write(&path, "old line\n").unwrap();
    // A file hard-linked to the old one (an attacker's victim, or a user's copy).
    let victim = dir.path().join("victim");
    std::fs::hard_link(&path, &victim).unwrap();
    let p = plan(r#"ptest.suite { name = "a", cmd = "true" }"#);
    let mut sink = EventsSink::open(path.clone()).unwrap();
    sink.event(&p, &run_info(&p), &Event::RunStarted);
    let l = lines(&path);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["event"], "run_started");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "old line\n");
    // Nothing left beside it.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["events.ndjson", "victim"]);
}

#[test]
fn a_planted_link_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "keep").unwrap();
    let link = dir.path().join("events.ndjson");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(EventsSink::open(link).is_err());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
}
