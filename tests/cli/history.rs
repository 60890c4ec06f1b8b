//! History (DESIGN §8): what one run writes in `.ptest/history.json` and what the next run does
//! with it — start order from recorded durations, `--rerun-failed`, `ptest stats`, the file set
//! aside when it cannot be read, concurrent runs that both land, `merge --history`.

use std::time::Duration;

use serde_json::Value;

use crate::probe::{Probed, signal, status, wait_exit, wait_until};

fn history(p: &Probed) -> Value {
    history_at(&p.p.join(".ptest/history.json"))
}

pub(crate) fn history_at(path: &std::path::Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("history is JSON")
}

/// The runs of suite `name`, oldest first, each as an object.
pub(crate) fn runs(h: &Value, name: &str) -> Vec<Value> {
    h["suites"][name]["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs of {name} in {h}"))
        .iter()
        .map(|r| run_object(h, r))
        .collect()
}

/// A run as an object: the file writes each run as a row, in the order its `run_fields` says.
pub(crate) fn run_object(h: &Value, row: &Value) -> Value {
    let fields = h["run_fields"].as_array().expect("run_fields");
    let row = row
        .as_array()
        .unwrap_or_else(|| panic!("a run is a row: {row}"));
    assert!(row.len() >= 2 && row.len() <= fields.len(), "{row:?}");
    Value::Object(
        fields
            .iter()
            .zip(row)
            .filter(|(_, v)| !v.is_null())
            .map(|(f, v)| (f.as_str().unwrap().to_owned(), v.clone()))
            .collect(),
    )
}

fn clear_probes(p: &Probed) {
    let _ = std::fs::remove_file(p.p.join("probe.log"));
}

/// Start order of the probes, by name.
fn order(p: &Probed) -> Vec<String> {
    p.spans().all.iter().map(|s| s.name.clone()).collect()
}

#[test]
fn the_second_run_starts_the_suite_that_took_longest_first() {
    // No estimates: the first run goes by declaration; the second knows "slow" takes longest.
    let p = Probed::new(
        r#"
ptest.suite { name = "a", cmd = probe("a", 0.05) }
ptest.suite { name = "b", cmd = probe("b", 0.05) }
ptest.suite { name = "slow", cmd = probe("slow", 0.6) }
"#,
    );
    let first = p.run(&["-q", "-j", "1"]);
    assert_eq!(first.out.code, 0, "{}", first.out.stderr);
    assert_eq!(order(&p), ["a", "b", "slow"]);
    let h = history(&p);
    assert_eq!(h["format_version"], 2);
    let slow = &runs(&h, "slow")[0];
    assert_eq!(slow["status"], "passed");
    assert_eq!(slow["attempts"], 1);
    assert!(slow["duration"].as_f64().unwrap() >= 0.5, "{slow}");
    assert!(slow["time"].as_u64().unwrap() > 1_700_000_000);
    assert!(h["items"].is_object());

    let plan = p.p.run(&["plan", "-j", "1"]).stdout;
    assert!(plan.contains("(history)"), "{plan}");
    assert!(plan.contains("a run takes at least"), "{plan}");
    clear_probes(&p);
    let second = p.run(&["-q", "-j", "1"]);
    assert_eq!(second.out.code, 0);
    assert_eq!(order(&p)[0], "slow", "{:?}", order(&p));
    assert_eq!(runs(&history(&p), "a").len(), 2);

    // --no-history: neither read (declaration order again) nor written.
    clear_probes(&p);
    let blind = p.run(&["-q", "-j", "1", "--no-history"]);
    assert_eq!(blind.out.code, 0);
    assert_eq!(order(&p), ["a", "b", "slow"]);
    assert_eq!(runs(&history(&p), "a").len(), 2);
}

#[test]
fn history_goes_where_the_flag_or_the_environment_says() {
    let p = Probed::new(r#"ptest.suite { name = "a", cmd = probe("a", 0) }"#);
    assert_eq!(p.run(&["-q", "--history", "elsewhere/h.json"]).out.code, 0);
    assert_eq!(
        runs(&history_at(&p.p.join("elsewhere/h.json")), "a").len(),
        1
    );
    let env = p.run_env(&["-q"], &[("PTEST_HISTORY", "from-env.json")]);
    assert_eq!(env.out.code, 0);
    assert_eq!(runs(&history_at(&p.p.join("from-env.json")), "a").len(), 1);
    assert!(!p.p.join(".ptest").exists());
    std::fs::create_dir(p.p.join("folder")).unwrap();
    let out = p.run(&["-q", "--history", "folder"]);
    assert_eq!(out.out.code, 2);
    assert!(out.out.stderr.contains("is a folder"), "{}", out.out.stderr);
}

#[test]
fn a_history_that_cannot_be_written_fails_the_run_naming_the_path() {
    // Its folder would have to be made inside a regular file: the suites pass, the history
    // cannot land, and CI must not go green on that (as with a report that cannot be written).
    let p = Probed::new(r#"ptest.suite { name = "a", cmd = probe("a", 0) }"#);
    std::fs::write(p.p.join("plain-file"), "keep me\n").unwrap();
    let out = p.run(&["-q", "--history", "plain-file/h.json"]);
    assert_eq!(out.out.code, 1, "{}", out.out.stderr);
    assert!(
        out.out
            .stderr
            .contains("cannot write history plain-file/h.json"),
        "{}",
        out.out.stderr
    );
    assert_eq!(p.spans().all.len(), 1, "the suite itself ran");
    assert_eq!(
        std::fs::read_to_string(p.p.join("plain-file")).unwrap(),
        "keep me\n"
    );
}

#[test]
fn fail_fast_records_the_failure_and_the_cancelled_suite_only_as_a_status() {
    let p = Probed::new(
        r#"
ptest.suite { name = "bad", cmd = probe("bad", 0.2, 3) }
ptest.suite { name = "long", cmd = probe("long", 30) }
ptest.suite { name = "later", cmd = probe("later", 0), depends_on = { "long" } }
"#,
    );
    let out = p.run(&["-q", "-j", "2", "-x"]);
    assert_eq!(out.out.code, 1);
    let h = history(&p);
    assert_eq!(runs(&h, "bad")[0]["status"], "failed");
    assert!(runs(&h, "bad")[0]["duration"].is_number());
    let long = &runs(&h, "long")[0];
    assert_eq!(long["status"], "cancelled");
    assert!(long.get("duration").is_none(), "{long}");
    assert_eq!(runs(&h, "later")[0]["status"], "skipped");
}

#[test]
fn ctrl_c_still_writes_history() {
    let p = Probed::new(r#"ptest.suite { name = "long", cmd = probe("long", 30) }"#);
    let mut child = p.spawn(&["-q"]);
    assert!(wait_until(Duration::from_secs(20), || p
        .spans()
        .ran("long")));
    signal(&child, libc::SIGINT);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), 130);
    assert_eq!(runs(&history(&p), "long")[0]["status"], "cancelled");
}

#[test]
fn rerun_failed_runs_what_failed_and_what_it_depends_on() {
    let p = Probed::new(
        r#"
ptest.suite { name = "build", cmd = probe("build", 0) }
ptest.suite { name = "flaky-test", cmd = "test -e fixed", depends_on = { "build" } }
ptest.suite { name = "fine", cmd = probe("fine", 0) }
ptest.suite { name = "slow-fail", cmd = "sleep 0.5", timeout = "100ms" }
"#,
    );
    assert_eq!(p.run(&["-q"]).out.code, 1);
    clear_probes(&p);
    let again = p.run(&["-q", "--rerun-failed"]);
    assert_eq!(again.out.code, 1);
    let r = p.report();
    assert_eq!(
        crate::harness::suite_names(&r),
        ["build", "flaky-test", "slow-fail"]
    );
    assert!(p.spans().ran("build") && !p.spans().ran("fine"));
    // `fine` was not selected: it keeps its one run.
    assert_eq!(runs(&history(&p), "fine").len(), 1);
    assert_eq!(runs(&history(&p), "flaky-test").len(), 2);

    p.p.file("fixed", "");
    let fixed = p.run(&["-q", "--rerun-failed", "--timeout", "10s"]);
    assert_eq!(fixed.out.code, 0, "{}", fixed.out.stderr);
    assert_eq!(status(&p.report(), "flaky-test"), "passed");
    let none = p.p.run(&["--rerun-failed"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(
        none.stdout.contains("nothing failed last time"),
        "{}",
        none.stdout
    );
}

#[test]
fn an_unreadable_or_newer_history_is_a_warning_and_is_set_aside() {
    let p = Probed::new(r#"ptest.suite { name = "a", cmd = probe("a", 0) }"#);
    std::fs::create_dir(p.p.join(".ptest")).unwrap();
    std::fs::write(p.p.join(".ptest/history.json"), "{ torn").unwrap();
    let out = p.run(&["-q"]);
    assert_eq!(out.out.code, 0);
    assert!(
        out.out.stderr.contains("warning: history") && out.out.stderr.contains("history.json.bad"),
        "{}",
        out.out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(p.p.join(".ptest/history.json.bad")).unwrap(),
        "{ torn"
    );
    assert_eq!(runs(&history(&p), "a").len(), 1);

    let newer = r#"{"format_version": 3, "suites": {}}"#;
    std::fs::write(p.p.join(".ptest/history.json"), newer).unwrap();
    let out = p.run(&["-q"]);
    assert!(
        out.out.stderr.contains("format_version 3"),
        "{}",
        out.out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(p.p.join(".ptest/history.json.bad")).unwrap(),
        newer
    );
    assert_eq!(runs(&history(&p), "a").len(), 1);
}

#[test]
fn a_history_an_older_ptest_wrote_is_read_and_migrated() {
    // Format 1: one object per run. "slow" took longest; "gone" is no longer declared.
    let p = Probed::new(
        r#"
ptest.suite { name = "a", cmd = probe("a", 0) }
ptest.suite { name = "slow", cmd = probe("slow", 0.2) }
"#,
    );
    std::fs::create_dir(p.p.join(".ptest")).unwrap();
    let run = |d: f64| {
        format!(r#"{{"time": 1764000000, "status": "passed", "duration": {d}, "attempts": 1}}"#)
    };
    std::fs::write(
        p.p.join(".ptest/history.json"),
        format!(
            r#"{{"format_version": 1, "suites": {{
  "a": {{"runs": [{}]}},
  "slow": {{"runs": [{}, {}]}},
  "gone": {{"runs": [{}, {{"time": 1764000001, "status": "failed", "duration": 1.0, "attempts": 1}}]}}
}}, "items": {{}}}}"#,
            run(0.1),
            run(5.0),
            run(5.0),
            run(3.0)
        ),
    )
    .unwrap();
    let first = p.run(&["-q", "-j", "1"]);
    assert_eq!(first.out.code, 0, "{}", first.out.stderr);
    assert!(first.out.stderr.is_empty(), "{}", first.out.stderr);
    assert_eq!(order(&p), ["slow", "a"]);
    let h = history(&p);
    assert_eq!(h["format_version"], 2);
    assert_eq!(runs(&h, "slow").len(), 3);
    assert_eq!(runs(&h, "slow")[0]["duration"], 5.0);
    assert_eq!(runs(&h, "gone").len(), 2);
    assert_eq!(runs(&h, "gone")[1]["status"], "failed");
    let text = std::fs::read_to_string(p.p.join(".ptest/history.json")).unwrap();
    let gone = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("\"gone\""))
            .map(str::to_owned)
    };
    assert!(gone(&text).is_some(), "one name a line:\n{text}");

    // The next run reads format 2 and copies the names it does not declare as they were.
    clear_probes(&p);
    assert_eq!(p.run(&["-q", "-j", "1"]).out.code, 0);
    assert_eq!(order(&p), ["slow", "a"]);
    let again = std::fs::read_to_string(p.p.join(".ptest/history.json")).unwrap();
    assert_eq!(gone(&again), gone(&text));
    assert_eq!(runs(&history(&p), "a").len(), 3);
}

#[test]
fn two_runs_ending_at_once_both_land() {
    let p = Probed::new(
        r#"for i = 1, 6 do ptest.suite { name = "s" .. i, cmd = probe("s" .. i, 0.3) } end"#,
    );
    let mut a = p.spawn(&["-q", "-j", "3", "-s", "s1,s2,s3"]);
    let mut b = crate::probe::spawn(&p.p, &["-q", "-j", "3", "-s", "s4,s5,s6"]);
    assert_eq!(wait_exit(&mut a, Duration::from_secs(30)), 0);
    assert_eq!(wait_exit(&mut b, Duration::from_secs(30)), 0);
    let h = history(&p);
    for i in 1..=6 {
        assert_eq!(runs(&h, &format!("s{i}")).len(), 1, "s{i} in {h}");
    }
}

#[test]
fn later_runs_write_the_spare_in_place_and_swap_it_in() {
    use std::os::unix::fs::MetadataExt;
    let p = Probed::new(r#"ptest.suite { name = "a", cmd = "true" }"#);
    let file = p.p.join(".ptest/history.json");
    let spare = p.p.join(".ptest/history.json.spare");
    let ino = |f: &std::path::Path| std::fs::symlink_metadata(f).unwrap().ino();
    assert_eq!(p.run(&["-q"]).out.code, 0);
    assert!(!spare.exists(), "nothing to keep after the first run");
    let first = ino(&file);
    assert_eq!(p.run(&["-q"]).out.code, 0);
    if std::env::var("PTEST_PLATFORM").as_deref() == Ok("posix") {
        // The portable path has no swap: a fresh file is renamed over the old one, every time.
        assert!(!spare.exists());
        assert_ne!(ino(&file), first);
        assert_eq!(runs(&history(&p), "a").len(), 2);
        return;
    }
    assert_eq!(ino(&spare), first, "the replaced file is kept as the spare");
    let second = ino(&file);
    // Many runs later, the same two files take turns, and every run is recorded.
    for _ in 0..3 {
        assert_eq!(p.run(&["-q"]).out.code, 0);
    }
    assert_eq!((ino(&file), ino(&spare)), (first, second));
    assert_eq!(runs(&history(&p), "a").len(), 5);
}

#[test]
fn stats_sums_up_the_history() {
    let p = Probed::new(
        r#"
ptest.suite { name = "ok", cmd = probe("ok", 0.1) }
ptest.suite { name = "sometimes", cmd = "test -e pass", retry = 1 }
"#,
    );
    assert_eq!(p.run(&["-q"]).out.code, 1);
    p.p.file("pass", "");
    assert_eq!(p.run(&["-q"]).out.code, 0);
    let text = p.p.run(&["stats"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("suite") && l.contains("p90"))
    );
    // Most time spent first.
    let ok = lines.iter().position(|l| l.starts_with("ok ")).unwrap();
    let some = lines
        .iter()
        .position(|l| l.starts_with("sometimes"))
        .unwrap();
    assert!(ok < some, "{}", text.stdout);
    let json = p.p.run(&["stats", "--format", "json"]);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    let row = |n: &str| {
        v["suites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(row("ok")["runs"], 2);
    assert_eq!(row("ok")["pass_rate"], 1.0);
    assert_eq!(row("sometimes")["pass_rate"], 0.5);
    assert_eq!(row("sometimes")["flaky_rate"], 0.0);
    assert!(row("ok")["median"].as_f64().unwrap() >= 0.1);
}

#[test]
fn merge_joins_the_histories_of_shards() {
    let p = Probed::new(
        r#"for i = 1, 2 do ptest.suite { name = "s" .. i, cmd = probe("s" .. i, 0) } end"#,
    );
    assert_eq!(
        p.run(&["-q", "-s", "s1", "--history", "one.json"]).out.code,
        0
    );
    assert_eq!(
        p.run(&["-q", "-s", "s2", "--history", "two.json"]).out.code,
        0
    );
    assert_eq!(
        p.run(&["-q", "-s", "s2", "--history", "two.json"]).out.code,
        0
    );
    let out = p.p.run(&[
        "merge",
        "--history",
        "one.json",
        "two.json",
        "-o",
        "all.json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let h = history_at(&p.p.join("all.json"));
    assert_eq!(runs(&h, "s1").len(), 1);
    assert_eq!(runs(&h, "s2").len(), 2);
    let bad = p.p.run(&[
        "merge",
        "--history",
        "one.json",
        "missing.json",
        "-o",
        "x.json",
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("missing.json"), "{}", bad.stderr);
    // A report handed to --history (reading it as "also write the history") says what to do.
    let report = p.p.join("test-logs/test-report.json");
    let mixed = p.p.run(&[
        "merge",
        report.to_str().unwrap(),
        "-o",
        "x.json",
        "--history",
        "h-out.json",
    ]);
    assert_eq!(mixed.code, 2);
    assert!(
        mixed.stderr.contains("is a JSON report, not a history")
            && mixed.stderr.contains("without --history"),
        "{}",
        mixed.stderr
    );
    assert!(!p.p.join("x.json").exists() && !p.p.join("h-out.json").exists());
}

#[test]
fn memory_admission_keeps_running_suites_within_the_budget() {
    let p = Probed::new(
        r#"
ptest.config { memory = "2GB" }
for i = 1, 4 do
  ptest.suite { name = "m" .. i, cmd = probe("m" .. i, 0.5), memory = "1GB" }
end
ptest.suite { name = "huge", cmd = probe("huge", 0), memory = "3GB" }
"#,
    );
    let plan = p.p.run(&["plan", "-j", "4"]).stdout;
    assert!(
        plan.contains("memory:    budget 2.0 GB (ptest.lua), 5 suites counted"),
        "{plan}"
    );
    let out = p.run(&["-j", "4"]);
    assert_eq!(out.out.code, 0, "{}", out.out.stderr);
    let all = format!("{}{}", out.out.stdout, out.out.stderr);
    assert!(
        all.contains(
            "\"huge\" needs 3.0 GB of memory, more than the budget of 2.0 GB: it runs alone"
        ),
        "{all}"
    );
    let spans = p.spans();
    let m = ["m1", "m2", "m3", "m4"];
    assert_eq!(spans.max_overlap(&m), 2, "{:?}", spans.all);
    assert_eq!(spans.max_overlap(&["m1", "m2", "m3", "m4", "huge"]), 2);
    let huge = spans.get("huge");
    assert!(
        spans
            .all
            .iter()
            .filter(|s| s.name != "huge")
            .all(|s| !s.overlaps(huge)),
        "huge ran beside another suite"
    );
}

#[test]
fn memory_auto_learns_the_peak_from_the_first_run() {
    let p = Probed::new(
        r#"
ptest.config { memory = "1GB" }
ptest.suite { name = "big", cmd = "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo ${#x}", memory = "auto" }
"#,
    );
    let before = p.p.run(&["plan"]).stdout;
    assert!(before.contains("memory auto (no history yet)"), "{before}");
    assert_eq!(p.run(&["-q"]).out.code, 0);
    let peak = runs(&history(&p), "big")[0]["peak_rss_kb"]
        .as_u64()
        .unwrap();
    assert!(peak > 39_000, "peak {peak} KB");
    let after = p.p.run(&["plan"]).stdout;
    let want = format!("memory {:.1} MB (auto)", (peak * 6 / 5) as f64 / 1024.0);
    assert!(after.contains(&want), "{want} not in\n{after}");
}

#[test]
fn bad_memory_values_name_the_line_and_field() {
    let p = crate::harness::Project::new(
        "ptest.suite { name = \"a\", cmd = \"true\" }\nptest.suite { name = \"b\", cmd = \"true\", memory = \"2XB\" }\n",
    );
    let out = p.run(&["plan"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("ptest.lua:2: suite \"b\": memory: expected a size like \"2GB\" or \"auto\": unknown unit \"xb\""),
        "{}",
        out.stderr
    );
    let p = crate::harness::Project::new("ptest.config { memory = \"auto\" }\n");
    let out = p.run(&["plan"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("ptest.lua:1: config: memory: expected a size like \"6GB\""),
        "{}",
        out.stderr
    );
    let p = crate::harness::Project::new(
        "ptest.suite { name = \"a\", cmd = \"true\", memory = 2048 }\n",
    );
    let out = p.run(&["plan"]);
    assert!(
        out.stderr
            .contains("memory: expected a size like \"2GB\" or \"auto\", got"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_suite_far_past_its_recorded_duration_gets_one_slow_line() {
    // First run: 0.1 s, recorded. Second: 10.6 s, past twice 0.1 s and 10 s over it.
    let p = Probed::new(
        r#"
ptest.suite { name = "drifts", cmd = "if [ -e slow ]; then sleep 10.6; else sleep 0.1; fi" }
ptest.suite { name = "steady", cmd = probe("steady", 0.1) }
"#,
    );
    let first = p.run(&[]);
    assert_eq!(first.out.code, 0);
    assert!(!first.out.stdout.contains("SLOW"), "{}", first.out.stdout);
    p.p.file("slow", "");
    let second = p.run(&[]);
    assert_eq!(second.out.code, 0);
    let slow: Vec<&str> = second
        .out
        .stdout
        .lines()
        .filter(|l| l.starts_with("SLOW"))
        .collect();
    assert_eq!(slow.len(), 1, "{}", second.out.stdout);
    assert!(
        slow[0].contains("drifts  running for 10.") && slow[0].contains("expected 1"),
        "{}",
        slow[0]
    );
}
