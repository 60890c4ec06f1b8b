//! The pytest preset's side of a part handing the files it has not started to a part about to
//! start (issue 29): on real pytest, a first run whose size guess is badly wrong.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::harness::{Project, batch_items, list_json, report_file};
use crate::pytest_preset::python;

/// `text` padded with a comment line to exactly `size` bytes: on a first run a part is planned
/// from its files' sizes, and these sizes make the plan below.
fn sized(text: &str, size: usize) -> String {
    assert!(text.len() < size, "{} bytes already", text.len());
    format!("{text}{}\n", "#".repeat(size - text.len() - 1))
}

/// A test file of `n` tests that each sleep `secs` (times $NAP: 0 for the plain run).
fn sleeper(n: usize, secs: f64, size: usize) -> String {
    let mut s = String::from("import os, time\nNAP = float(os.environ.get('NAP', '1'))\n");
    for i in 0..n {
        s.push_str(&format!(
            "\ndef test_{i}():\n    time.sleep({secs} * NAP)\n"
        ));
    }
    sized(&s, size)
}

/// One small file (guessed among the smallest) whose test sleeps 3 s shares its part with six
/// more small files of 1 s each: planned at 0.38 s (3,200 bytes and a fork's start), the part
/// runs 9.5 s. The other worker runs two files of quick tests, one after the other: x, planned
/// at 0.9 s, runs about 2 s, then y. When y is about to start, the slow part has run past its
/// plan times 1.5 (a guess) times x's overrun, and a second past it (docs/batches.md): the
/// files it has not started yet (it asked for the first one only, before its first test) go to
/// y, which runs them while the slow part still runs. Every test runs once, with plain pytest's
/// outcomes, the slow part runs only the files it kept, and the run ends before its tests one
/// after the other would have.
#[test]
fn pytest_a_part_far_past_its_plan_hands_its_files_not_started_to_the_next_part() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ name = \"unit\", python = \"{}\", batches = 3 }}\n",
        py.display()
    ));
    // Each test's node id, process and times (not in the plain run).
    p.file(
        "tests/conftest.py",
        "import os, time, pytest\n@pytest.fixture(autouse=True)\ndef probe(request):\n    t0 = time.time()\n    yield\n    if os.environ.get('NAP') != '0':\n        with open(os.path.join(os.path.dirname(__file__), '..', 'probe.txt'), 'a') as f:\n            f.write('%s %d %.3f %.3f\\n' % (request.node.nodeid, os.getpid(), t0, time.time()))\n",
    );
    // Packed longest first into the part that ends soonest (all 400 bytes, and "(other files)"
    // counts as the median, 400): x, y, then the eight small ones into the third part, whose
    // 3,200 bytes pass y's 3,000 with the last, so that it starts first, beside x. x is planned
    // at more than 1.5 times the slow part (24,000 bytes), so that its own overrun, which the
    // slow part's is measured against, is smaller than the slow part's when y starts.
    p.file("tests/test_a_x.py", &sleeper(40, 0.04, 24000))
        .file("tests/test_a_y.py", &sleeper(30, 0.03, 3000))
        .file("tests/test_b0_slow.py", &sleeper(1, 3.0, 400));
    let more: Vec<String> = (1..=6)
        .map(|k| format!("tests/test_b{k}_more.py"))
        .collect();
    for f in &more {
        p.file(f, &sleeper(2, 0.5, 400));
    }
    // One skipped test, in the file most sure to be handed on.
    p.file(
        "tests/test_b6_more.py",
        &sized(
            "import os, time, pytest\nNAP = float(os.environ.get('NAP', '1'))\n\ndef test_0():\n    time.sleep(0.5 * NAP)\n\n@pytest.mark.skip(reason='never')\ndef test_1():\n    pass\n\ndef test_2():\n    time.sleep(0.5 * NAP)\n",
            400,
        ),
    );
    let j = list_json(&p, &["-j", "2"]);
    let parts: Vec<Vec<String>> = (0..3).map(|k| batch_items(&j, k)).collect();
    let slow_part = parts
        .iter()
        .position(|items| items.iter().any(|i| i == "tests/test_b0_slow.py"))
        .unwrap();
    let mut planned = vec!["tests/test_b0_slow.py".to_owned()];
    planned.extend(more.iter().cloned());
    planned.push("(other files)".to_owned());
    assert_eq!(parts[slow_part], planned, "{parts:?}");
    // It starts first, and a part starts after it.
    let plan = p.run(&["plan", "-j", "2"]);
    let slow_name = format!("unit[{}]", slow_part + 1);
    let starts: Vec<&str> = plan
        .stdout
        .lines()
        .filter(|l| l.contains("unit[") && l.contains(" at "))
        .collect();
    assert_eq!(starts.len(), 3, "{}", plan.stdout);
    assert!(
        starts[..2].iter().any(|l| l.contains(&slow_name)) && !starts[2].contains(" at     0ms"),
        "{}",
        plan.stdout
    );

    let t0 = Instant::now();
    let out = p.run(&["-j", "2"]);
    let wall = t0.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // node id -> (pid, start, end), each test once.
    let probe = std::fs::read_to_string(p.join("probe.txt")).unwrap();
    let mut ran: BTreeMap<String, (u32, f64, f64)> = BTreeMap::new();
    for l in probe.lines() {
        let w: Vec<&str> = l.split(' ').collect();
        let again = ran.insert(
            w[0].to_owned(),
            (
                w[1].parse().unwrap(),
                w[2].parse().unwrap(),
                w[3].parse().unwrap(),
            ),
        );
        assert!(again.is_none(), "{} ran twice:\n{probe}", w[0]);
    }
    let slow_pid = ran["tests/test_b0_slow.py::test_0"].0;
    let file_of = |id: &str| id.split("::").next().unwrap().to_owned();
    let elsewhere: Vec<String> = more
        .iter()
        .filter(|f| {
            ran.iter()
                .filter(|(id, _)| file_of(id) == **f)
                .all(|(_, r)| r.0 != slow_pid)
        })
        .cloned()
        .collect();
    // The later files went to another part; the first stayed (the part had asked for it
    // before it ran its first test).
    assert!(
        elsewhere.contains(&more[5]) && !elsewhere.contains(&more[0]),
        "{elsewhere:?}\n{probe}"
    );
    // That part ran them while the slow part still ran.
    let slow_part_end = ran
        .values()
        .filter(|r| r.0 == slow_pid)
        .map(|r| r.2)
        .fold(0.0, f64::max);
    assert!(
        ran.iter()
            .any(|(id, r)| elsewhere.contains(&file_of(id)) && r.1 < slow_part_end),
        "{probe}"
    );
    let log =
        std::fs::read_to_string(p.join(&format!("test-logs/unit_{}_.log", slow_part + 1))).unwrap();
    assert!(
        log.contains(&format!(
            "ptest: handed on to another part: {}\n",
            elsewhere.join(", ")
        )),
        "{log}"
    );

    // Plain pytest, its tests not sleeping: the same node ids, the same outcomes.
    p.file(
        "plain.py",
        "import sys, pytest\nout = open('plain.txt', 'w')\nclass Seen:\n    def pytest_runtest_logreport(self, report):\n        if report.when == 'call' or report.skipped:\n            out.write('%s %s\\n' % (report.nodeid, report.outcome))\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests'], plugins=[Seen()]))\n",
    );
    let pytest_run = std::process::Command::new(&py)
        .current_dir(p.path())
        .env("NAP", "0")
        .arg("plain.py")
        .output()
        .unwrap();
    assert!(pytest_run.status.success(), "{pytest_run:?}");
    let plain_out = std::fs::read_to_string(p.join("plain.txt")).unwrap();
    let mut expected: Vec<String> = plain_out.lines().map(str::to_owned).collect();
    expected.sort();
    assert_eq!(expected.len(), 40 + 30 + 1 + 13, "{plain_out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_file(&p)).unwrap()).unwrap();
    let mut got: Vec<String> = report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["testcases"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            format!(
                "{}::{} {}",
                c["file"].as_str().unwrap(),
                c["name"].as_str().unwrap(),
                c["status"].as_str().unwrap()
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, expected);
    // The report has the files handed on in the part that ran them, as its items, and each
    // testcase in the part of its file.
    let mut holders: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in report["suites"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let items: Vec<&str> = s["batch"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap())
            .collect();
        for i in &items {
            holders.entry(i).or_default().push(name);
        }
        for c in s["testcases"].as_array().unwrap() {
            assert!(items.contains(&c["file"].as_str().unwrap()), "{name}: {c}");
        }
    }
    for f in &elsewhere {
        let by = &holders[f.as_str()];
        assert!(by.len() == 1 && by[0] != slow_name, "{f}: {holders:?}");
    }
    // Each test that ran did so once (the skipped one runs no fixture).
    let mut passed: Vec<&str> = expected
        .iter()
        .filter_map(|e| e.strip_suffix(" passed"))
        .collect();
    passed.sort_unstable();
    assert_eq!(
        ran.keys().map(String::as_str).collect::<Vec<_>>(),
        passed,
        "{probe}"
    );

    // Without the handoff the slow part alone would have run the slow test and every one of its
    // files' tests, one after the other: it ran them less the files handed on (their tests'
    // own time, at least the last file's 1 s). Measured by the tests' own times, which a busy
    // machine does not stretch much (they sleep), not by the run's start. And the run ended
    // before all of its tests one after the other would have.
    let planned_work: f64 = ran
        .iter()
        .filter(|(id, _)| planned.contains(&file_of(id)))
        .map(|(_, r)| r.2 - r.1)
        .sum();
    let slow_part_start = ran
        .values()
        .filter(|r| r.0 == slow_pid)
        .map(|r| r.1)
        .fold(f64::INFINITY, f64::min);
    assert!(
        slow_part_end - slow_part_start < planned_work - 0.9,
        "{slow_part_start} {slow_part_end} {planned_work}\n{probe}"
    );
    let serial: f64 = ran.values().map(|r| r.2 - r.1).sum();
    assert!(wall < serial, "{wall} {serial}\n{}", out.stdout);
}
