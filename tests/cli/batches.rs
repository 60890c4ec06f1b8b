//! `ptest.batch` (DESIGN §9): items packed into suites `NAME[k]`, `{items}` in commands, the
//! batch's name in `depends_on`, `-s` and `--skip`, what `list` and `plan` show, and its errors.

use serde_json::Value;

use crate::harness::{Project, config_error, junit_testsuite, list_json, sorted_lines};

/// A batch whose command records the items it was given, one line per process.
fn recording(batch_fields: &str, files: &[(&str, usize)]) -> Project {
    let p = Project::new("");
    for (f, size) in files {
        p.file(f, &"#".repeat(*size));
    }
    p.file(
        "rec.sh",
        "printf '%s\\n' \"$PTEST_SUITE $*\" >> \"$(dirname \"$0\")/ran.txt\"\n",
    );
    p.file(
        "ptest.lua",
        &format!(
            r#"unit = ptest.batch {{ name = "unit", items = ptest.glob("tests/*.py"),
  cmd = {{ "sh", "rec.sh", "{{items}}" }}{batch_fields} }}
"#
        ),
    );
    p
}

fn ran(p: &Project) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(p.join("ran.txt")).unwrap_or_default();
    let mut out: Vec<(String, Vec<String>)> = text
        .lines()
        .map(|l| {
            let mut w = l.split(' ');
            let suite = w.next().unwrap().to_owned();
            (suite, w.map(str::to_owned).collect())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn items_are_split_into_parts_each_run_once() {
    let files: Vec<(String, usize)> = (1..=9)
        .map(|i| (format!("tests/t{i}.py"), i * 1000))
        .collect();
    let refs: Vec<(&str, usize)> = files.iter().map(|(f, s)| (f.as_str(), *s)).collect();
    let p = recording("", &refs);
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let runs = ran(&p);
    // No history: twice the workers, so the guesses (here file sizes) can even out.
    let names: Vec<&str> = runs.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["unit[1]", "unit[2]", "unit[3]", "unit[4]"]);
    let mut all: Vec<&str> = runs
        .iter()
        .flat_map(|(_, i)| i.iter().map(String::as_str))
        .collect();
    all.sort_unstable();
    let mut want: Vec<&str> = refs.iter().map(|(f, _)| *f).collect();
    want.sort_unstable();
    assert_eq!(all, want, "every item exactly once");
    // Packed by size (LPT): the largest file alone first; parts' byte totals close.
    let size = |f: &str| refs.iter().find(|(n, _)| *n == f).unwrap().1;
    let totals: Vec<usize> = runs
        .iter()
        .map(|(_, i)| i.iter().map(|f| size(f)).sum())
        .collect();
    let (lo, hi) = (totals.iter().min().unwrap(), totals.iter().max().unwrap());
    assert!(hi - lo <= 3000, "balanced by size: {totals:?}");
    // 9 8 7 6 into four parts, then 5 4 3 2 onto the least loaded, and 1 onto the first of equals.
    assert_eq!(runs[0].1, ["tests/t1.py", "tests/t2.py", "tests/t9.py"]);
}

#[test]
fn a_number_of_batches_and_shell_quoting() {
    let p = Project::new(
        r#"ptest.batch { name = "b", items = { "x y", "it's", "z" }, batches = 1,
  cmd = "printf '%s|' {items} > out.txt" }
"#,
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        std::fs::read_to_string(p.join("out.txt")).unwrap(),
        "x y|it's|z|"
    );
    let j = list_json(&p, &[]);
    assert_eq!(j["suites"].as_array().unwrap().len(), 1);
    assert_eq!(j["suites"][0]["name"], "b[1]");
    assert_eq!(
        j["suites"][0]["cmd"],
        "printf '%s|' 'x y' 'it'\\''s' z > out.txt"
    );
}

#[test]
fn batch_name_in_depends_on_suites_and_skip() {
    let config = r#"
local u = ptest.batch { name = "unit", items = { "a", "b", "c", "d" }, batches = 2,
  cmd = { "true", "{items}" }, category = "unit", tags = { "fast" } }
ptest.suite { name = "report", cmd = "true", depends_on = { u } }
ptest.suite { name = "other", cmd = "true", depends_on = "unit" }
ptest.suite { name = "lint", cmd = "true" }
"#;
    let p = Project::new(config);
    let names = |j: &Value| -> Vec<String> {
        j["suites"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["skip_reason"].is_null())
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let j = list_json(&p, &[]);
    let report = &j["suites"][2];
    assert_eq!(report["name"], "report");
    assert_eq!(
        report["depends_on"],
        serde_json::json!(["unit[1]", "unit[2]"])
    );
    assert_eq!(
        j["suites"][3]["depends_on"],
        serde_json::json!(["unit[1]", "unit[2]"])
    );
    assert_eq!(j["suites"][0]["category"], "unit");
    assert_eq!(j["suites"][1]["tags"], serde_json::json!(["fast"]));
    assert_eq!(
        names(&list_json(&p, &["-s", "unit"])),
        ["unit[1]", "unit[2]"]
    );
    assert_eq!(
        names(&list_json(&p, &["-s", "report"])),
        ["unit[1]", "unit[2]", "report"]
    );
    assert_eq!(
        names(&list_json(&p, &["--skip", "unit"])),
        ["report", "other", "lint"]
    );
    assert_eq!(names(&list_json(&p, &["-s", "unit[2]"])), ["unit[2]"]);
    let out = p.run(&["list", "-s", "uint"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean \"unit\""),
        "{}",
        out.stderr
    );
    // A run: dependents wait for every part.
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn list_and_plan_show_items_and_expected_durations() {
    let p = recording(
        ", batches = 2",
        &[
            ("tests/a.py", 4000),
            ("tests/b.py", 2000),
            ("tests/c.py", 2000),
        ],
    );
    let out = p.run(&["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("unit[1]"), "{}", out.stdout);
    assert!(
        out.stdout.contains("1 item, expected 100ms (file size)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("2 items, expected 100ms (file size)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("tests/b.py  50ms"), "{}", out.stdout);
    let out = p.run(&["plan", "-j", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("2 items, expected 100ms (file size)"),
        "{}",
        out.stdout
    );
    let j = list_json(&p, &[]);
    let b = &j["suites"][1]["batch"];
    assert_eq!(b["name"], "unit");
    assert_eq!(b["index"], 2);
    assert_eq!(b["count"], 2);
    assert_eq!(b["items"][0]["name"], "tests/b.py");
}

#[test]
fn an_empty_batch_has_no_suites_and_its_name_still_works() {
    let p = Project::new(
        r#"ptest.batch { name = "none", items = {}, cmd = { "true", "{items}" } }
ptest.suite { name = "after", cmd = "true", depends_on = { "none" } }
"#,
    );
    let j = list_json(&p, &[]);
    assert_eq!(j["suites"].as_array().unwrap().len(), 1);
    assert_eq!(j["suites"][0]["depends_on"], serde_json::json!([]));
}

#[test]
fn batch_errors_name_the_line_and_field() {
    let e = config_error(
        "\nptest.batch { name = \"u\", itmes = { \"a\" }, cmd = { \"t\", \"{items}\" } }\n",
    );
    assert!(
        e.contains("ptest.lua:2: batch \"u\": unknown field \"itmes\" (did you mean \"items\"?)"),
        "{e}"
    );
    let e = config_error("ptest.batch { name = \"u\", items = { \"a\" }, cmd = { \"t\" } }\n");
    assert!(
        e.contains("ptest.lua:1: batch \"u\": cmd: has no \"{items}\""),
        "{e}"
    );
    let e = config_error("ptest.batch { name = \"u\", cmd = { \"t\", \"{items}\" } }\n");
    assert!(
        e.contains("batch \"u\": items: missing (it is required)"),
        "{e}"
    );
    let e = config_error(
        "ptest.batch { name = \"u\", items = { \"a\" }, batches = 0, cmd = { \"t\", \"{items}\" } }\n",
    );
    assert!(
        e.contains("batches: expected \"auto\" or a number of suites >= 1, got 0"),
        "{e}"
    );
    let e = config_error(
        "ptest.batch { name = \"u\", items = { \"a\", \"a\" }, cmd = { \"t\", \"{items}\" } }\n",
    );
    assert!(e.contains("items: \"a\" is listed twice"), "{e}");
    let e = config_error(
        "ptest.batch { name = \"u\", items = { \"a\" }, slice = \"{item}:{slice}\", cmd = { \"t\", \"{items}\" } }\n",
    );
    assert!(
        e.contains("ptest.lua:1") && e.contains("slice: has no {slices}: it says how the command runs one slice of an item, e.g. \"{item}::ptest-slice-{slice}-of-{slices}\""),
        "{e}"
    );
    let e = config_error(
        "ptest.batch { name = \"u\", items = { \"a\" }, test = \"{item}#\", cmd = { \"t\", \"{items}\" } }\n",
    );
    assert!(
        e.contains("ptest.lua:1") && e.contains("test: has no {test}: it says how the command runs one test of an item, e.g. \"{item}::{test}\""),
        "{e}"
    );
    let e = config_error(
        "ptest.batch { name = \"u\", items = { x = 1 }, cmd = { \"t\", \"{items}\" } }\n",
    );
    assert!(e.contains("items: expected an array"), "{e}");
    let e = config_error(
        "ptest.batch { name = \"u\", items = { \"a\" }, cmd = { \"t\", \"{items}\" }, depends_on = { \"nope\" } }\n",
    );
    assert!(
        e.contains("suite \"u[1]\": depends_on: unknown suite \"nope\""),
        "{e}"
    );
}

/// A fake test runner: one testcase per item, written as JUnit into `$PTEST_TMPDIR/junit.xml`
/// (pytest's xunit1 shape). Items named `bad*` fail on the first attempt, `worse*` on every
/// one; it records the items of each attempt in `ran.txt` and exits 1 when any failed.
const FAKE_RUNNER: &str = r#"out="$PTEST_TMPDIR/junit.xml"; code=0
echo "$PTEST_SUITE $PTEST_ATTEMPT $*" >> "$(dirname "$0")/ran.txt"
printf '<?xml version="1.0"?><testsuites><testsuite name="pytest">' > "$out"
for item in "$@"; do
  case "$item" in
    bad*) if [ "$PTEST_ATTEMPT" = 1 ]; then fail=1; else fail=0; fi ;;
    worse*) fail=1 ;;
    *) fail=0 ;;
  esac
  if [ $fail = 1 ]; then
    code=1
    printf '<testcase classname="%s" name="test_it" file="%s" time="0.25"><failure message="assert 1 == 2 in %s">trace &amp; more</failure></testcase>' "${item%.py}" "$item" "$item" >> "$out"
  else
    printf '<testcase classname="%s" name="test_it" file="%s" time="0.5"/>' "${item%.py}" "$item" >> "$out"
  fi
done
printf '</testsuite></testsuites>' >> "$out"
exit $code
"#;

fn fake(batch_fields: &str) -> Project {
    let p = Project::new(&format!(
        r#"ptest.batch {{ name = "py", items = {{ "a.py", "bad.py", "c.py", "worse.py", "e.py" }},
  cmd = {{ "sh", "runner.sh", "{{items}}" }}, results = "{{tmpdir}}/junit.xml"{batch_fields} }}
"#
    ));
    p.file("runner.sh", FAKE_RUNNER);
    p
}

#[test]
fn a_retry_runs_only_the_failed_items() {
    let p = fake(", batches = 1, retry = 2");
    let out = p.run(&["--junit", "junit.xml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        sorted_lines(&p, "ran.txt"),
        [
            "py[1] 1 a.py bad.py c.py worse.py e.py",
            "py[1] 2 bad.py worse.py",
            "py[1] 3 worse.py"
        ]
    );
    // The summary names the failed test and its message; bad.py passed on its retry.
    assert!(
        out.stdout
            .contains("worse.py::test_it failed: assert 1 == 2 in worse.py"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("bad.py::test_it failed"),
        "{}",
        out.stdout
    );
    // ptest's JUnit: a testsuite named after the batch with every testcase, latest attempt's.
    let xml = std::fs::read_to_string(p.join("junit.xml")).unwrap();
    let batch = junit_testsuite(&xml, "py");
    assert!(batch.contains("tests=\"5\""), "{batch}");
    assert!(batch.contains("failures=\"1\""), "{batch}");
    assert!(batch.contains("file=\"worse.py\""), "{batch}");
    assert!(
        batch.contains("message=\"assert 1 == 2 in worse.py\""),
        "{batch}"
    );
    assert!(batch.contains("trace &amp; more"), "{batch}");
}

#[test]
fn without_results_a_retry_runs_every_item() {
    let p = fake(", batches = 1, retry = 1");
    // Results the command never writes: a warning, and the exit status decides.
    p.file(
        "ptest.lua",
        &std::fs::read_to_string(p.join("ptest.lua"))
            .unwrap()
            .replace("{tmpdir}/junit.xml\"", "{tmpdir}/elsewhere.xml\""),
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let all = "a.py bad.py c.py worse.py e.py";
    assert_eq!(
        sorted_lines(&p, "ran.txt"),
        [format!("py[1] 1 {all}"), format!("py[1] 2 {all}")]
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("elsewhere.xml: the command did not write it; its exit status decides"),
        "{text}"
    );
}

#[test]
fn passing_results_with_a_failing_exit_status_still_fail() {
    let p = Project::new(
        r#"ptest.batch { name = "b", items = { "x" }, results = "r.xml",
  cmd = "printf '<testsuites><testsuite><testcase name=\"t\" classname=\"x\"/></testsuite></testsuites>' > r.xml; echo {items}; exit 3" }
"#,
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("exit code 3"), "{}", out.stdout);
}

#[test]
fn history_per_item_feeds_packing_and_rerun_failed() {
    let p = fake(", batches = 1");
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let h: Value =
        serde_json::from_str(&std::fs::read_to_string(p.join(".ptest/history.json")).unwrap())
            .unwrap();
    let item = |k: &str| crate::history::run_object(&h, &h["items"][k]["runs"][0]);
    assert_eq!(item("py/a.py")["status"], "passed");
    assert_eq!(item("py/a.py")["duration"], 0.5);
    assert_eq!(item("py/bad.py")["status"], "failed");
    assert_eq!(item("py/worse.py")["status"], "failed");
    // The next plan knows each item's duration from history (the failed ones, with no passed
    // duration, count as the median).
    let j = list_json(&p, &[]);
    assert_eq!(j["suites"][0]["batch"]["source"], "median");
    assert_eq!(j["suites"][0]["batch"]["items"][0]["expected"], 0.5);
    // --rerun-failed runs only the failed items, in a part of their own.
    std::fs::remove_file(p.join("ran.txt")).unwrap();
    let out = p.run(&["--rerun-failed"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(sorted_lines(&p, "ran.txt"), ["py[1] 1 bad.py worse.py"]);
}
