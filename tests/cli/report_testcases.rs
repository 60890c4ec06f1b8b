//! A batch's per-test results in every report (DESIGN §9 `results`): the JSON report's
//! `testcases` under each part, `ptest merge` (the joined JSON and its `--junit`), the HTML page,
//! the terminal's failure list, GitHub's annotations (one per failed test, on its file and line)
//! and `--rerun-failed` at the item level. The batch's command is a shell script that writes a
//! JUnit file by hand, as pytest's xunit1 family shapes it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::harness::{
    Project, junit_testsuite, junit_xsd_with_file_line, merge_with_junit, report_file,
    sorted_lines, xsd_check,
};
use crate::probe::{report_at, suite};

/// One or two testcases per item, by its name: `ok_*` pass (one in a class), `bad_*` fail on
/// the first attempt only, `skip_*` are skipped, `err_*` error on every attempt. Each attempt's
/// items go to `ran.txt`; it exits 1 when something failed.
const RUNNER: &str = r#"out="$PTEST_TMPDIR/junit.xml"; code=0
echo "$PTEST_SUITE $PTEST_ATTEMPT $*" >> "$(dirname "$0")/ran.txt"
{
printf '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="pytest">\n'
for f in "$@"; do
  m="${f%.py}"
  case "$f" in
    ok_*)
      printf '<testcase classname="%s" name="test_ok" file="%s" line="3" time="0.1"/>\n' "$m" "$f"
      printf '<testcase classname="%s.TestK" name="test_two" file="%s" line="9" time="0.2"/>\n' "$m" "$f" ;;
    bad_*)
      if [ "$PTEST_ATTEMPT" = 1 ]; then
        code=1
        printf '<testcase classname="%s" name="test_bad" file="%s" line="5" time="0.3"><failure message="assert 1 == 2" type="AssertionError">def test_bad():\n&gt;       assert 1 == 2</failure></testcase>\n' "$m" "$f"
      else
        printf '<testcase classname="%s" name="test_bad" file="%s" line="5" time="0.3"/>\n' "$m" "$f"
      fi ;;
    skip_*)
      printf '<testcase classname="%s" name="test_skip" file="%s" line="7" time="0"><skipped message="needs network" type="pytest.skip">%s:7: needs network</skipped></testcase>\n' "$m" "$f" "$f" ;;
    err_*)
      code=1
      printf '<testcase classname="%s" name="test_err" file="%s" line="2" time="0.05"><error message="fixture &apos;db&apos; not found" type="pytest.error">E       fixture &apos;db&apos; not found</error></testcase>\n' "$m" "$f" ;;
  esac
done
printf '</testsuite></testsuites>\n'
} > "$out"
exit $code
"#;

const ITEMS: &str = r#"{ "ok_a.py", "bad_b.py", "skip_c.py", "err_d.py" }"#;

fn project(batch: &str, items: &str, fields: &str) -> Project {
    let p = Project::new(&format!(
        r#"ptest.batch {{ name = "{batch}", items = {items}, cmd = {{ "sh", "runner.sh", "{{items}}" }},
  results = "{{tmpdir}}/junit.xml"{fields} }}
ptest.suite {{ name = "plain-{batch}", cmd = "true" }}
"#
    ));
    p.file("runner.sh", RUNNER);
    p
}

/// Every testcase of the report's parts, by `item::name`, each with the part it is under.
fn testcases(report: &Value) -> BTreeMap<String, (String, Value)> {
    let mut out = BTreeMap::new();
    for s in report["suites"].as_array().unwrap() {
        for c in s["testcases"].as_array().into_iter().flatten() {
            let key = format!(
                "{}::{}",
                c["item"].as_str().unwrap_or("?"),
                c["name"].as_str().unwrap()
            );
            out.insert(key, (s["name"].as_str().unwrap().to_owned(), c.clone()));
        }
    }
    out
}

#[test]
fn the_json_report_holds_each_parts_testcases_and_the_html_and_terminal_show_them() {
    let p = project("py", ITEMS, ", batches = 2, retry = 1");
    let out = p.run(&["-j", "2", "--html", "report.html"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let r = report_at(&report_file(&p));

    // A plain suite's entry has neither key; each part has both.
    let plain = suite(&r, "plain-py");
    assert!(
        plain.get("batch").is_none() && plain.get("testcases").is_none(),
        "{plain}"
    );
    let mut all_items = BTreeSet::new();
    for name in ["py[1]", "py[2]"] {
        let s = suite(&r, name);
        let b = &s["batch"];
        assert_eq!(b["name"], "py", "{s}");
        assert_eq!(b["count"], 2, "{s}");
        assert_eq!(format!("py[{}]", b["index"]), name);
        let items: BTreeSet<&str> = b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap())
            .collect();
        // Each testcase is under the part that ran its item.
        for c in s["testcases"].as_array().unwrap() {
            assert!(items.contains(c["item"].as_str().unwrap()), "{c} in {s}");
        }
        all_items.extend(items);
    }
    assert_eq!(
        all_items,
        BTreeSet::from(["bad_b.py", "err_d.py", "ok_a.py", "skip_c.py"])
    );

    let cases = testcases(&r);
    // A test that ran once: the fields every testcase has.
    let fields: BTreeSet<&str> = cases["ok_a.py::test_two"]
        .1
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "name",
            "classname",
            "file",
            "line",
            "item",
            "status",
            "duration",
            "message",
            "type",
            "text"
        ])
    );
    assert_eq!(
        cases.keys().collect::<Vec<_>>(),
        [
            "bad_b.py::test_bad",
            "err_d.py::test_err",
            "ok_a.py::test_ok",
            "ok_a.py::test_two",
            "skip_c.py::test_skip"
        ]
    );
    let case = |k: &str| &cases[k].1;
    let ok = case("ok_a.py::test_two");
    assert_eq!(ok["classname"], "ok_a.TestK");
    assert_eq!(ok["file"], "ok_a.py");
    assert_eq!(ok["line"], 9);
    assert_eq!(ok["status"], "passed");
    assert_eq!(ok["duration"], 0.2);
    assert!(ok["message"].is_null() && ok["type"].is_null() && ok["text"].is_null());
    // bad_b failed on the first attempt and passed on the retry: the latest attempt's stands,
    // and it is flaky, with what it said before.
    let bad = case("bad_b.py::test_bad");
    assert_eq!(bad["status"], "passed");
    assert_eq!(
        (&bad["flaky"], &bad["attempts"], &bad["failed_before"]),
        (
            &Value::from(true),
            &Value::from(2),
            &Value::from("assert 1 == 2")
        )
    );
    let skip = case("skip_c.py::test_skip");
    assert_eq!(skip["status"], "skipped");
    assert_eq!(skip["message"], "needs network");
    assert_eq!(skip["duration"], 0.0);
    let err = case("err_d.py::test_err");
    assert_eq!(err["status"], "error");
    assert_eq!(err["message"], "fixture 'db' not found");
    assert_eq!(err["type"], "pytest.error");
    assert_eq!(err["text"], "E       fixture 'db' not found");
    assert_eq!(err["line"], 2);
    // The part holding err_d failed; the retry ran only its failed items.
    let failed_part = &cases["err_d.py::test_err"].0;
    assert_eq!(suite(&r, failed_part)["status"], "failed");
    for line in sorted_lines(&p, "ran.txt")
        .iter()
        .filter(|l| l.contains(" 2 "))
    {
        assert!(
            !line.contains("ok_a.py") && !line.contains("skip_c.py"),
            "a retry reruns only what failed: {line}"
        );
    }

    // The terminal counts the tests and names the failed one with its message.
    assert!(
        out.stdout
            .contains("\n5 tests in batches' results: 3 passed (1 flaky), 1 error, 1 skipped\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("✗ err_d.py::test_err error: fixture 'db' not found"),
        "{}",
        out.stdout
    );
    // The page: the counts, the failed test under its part's failure, every test in the table.
    let html = std::fs::read_to_string(p.join("report.html")).unwrap();
    assert!(
        html.contains("5 tests in batches&#39; results: 3 passed (1 flaky), 1 error, 1 skipped"),
        "{html}"
    );
    assert!(
        html.contains("<code>err_d.py::test_err</code> error: fixture &#39;db&#39; not found"),
        "{html}"
    );
    for name in [
        "ok_a.py::TestK::test_two",
        "ok_a.py::test_ok",
        "skip_c.py::test_skip",
    ] {
        assert!(
            html.contains(&format!("<code>{name}</code>")),
            "{name}: {html}"
        );
    }
}

#[test]
fn merge_keeps_the_testcases_and_its_junit_has_a_testsuite_per_batch() {
    let a = project("py", ITEMS, ", batches = 1, retry = 1");
    let b = project("js", r#"{ "ok_x.js", "skip_y.js" }"#, "");
    assert_eq!(a.run(&[]).code, 1);
    assert_eq!(b.run(&[]).code, 0);
    merge_with_junit(&a, &[&a, &b]);
    let merged = report_at(&a.join("merged.json"));
    // Each part's entry as its shard wrote it, batch and testcases included.
    // and the place of the report it came from (neither was a shard's).
    for (place, (shard, part)) in [(&a, "py[1]"), (&b, "js[1]")].into_iter().enumerate() {
        let own = report_at(&report_file(shard));
        let mut entry = suite(&merged, part).clone();
        assert_eq!(entry["shard"], place + 1);
        entry.as_object_mut().unwrap().remove("shard");
        assert_eq!(&entry, suite(&own, part));
    }
    assert_eq!(testcases(&merged).len(), 5 + 3);

    let xml = std::fs::read_to_string(a.join("merged.xml")).unwrap();
    let py = junit_testsuite(&xml, "py");
    for attr in [
        "tests=\"5\"",
        "failures=\"0\"",
        "errors=\"1\"",
        "skipped=\"1\"",
    ] {
        assert!(py.contains(attr), "{attr}: {py}");
    }
    assert!(
        py.contains(
            r#"<testcase name="test_err" classname="err_d" time="0.050" file="err_d.py" line="2">"#
        ),
        "{py}"
    );
    assert!(
        py.contains(r#"<error message="fixture &apos;db&apos; not found" type="pytest.error">"#)
            || py.contains(r#"<error message="fixture 'db' not found" type="pytest.error">"#),
        "{py}"
    );
    assert!(py.contains(r#"<skipped message="needs network"/>"#), "{py}");
    let js = junit_testsuite(&xml, "js");
    assert!(
        js.contains("tests=\"3\"") && js.contains("skipped=\"1\""),
        "{js}"
    );
    // The parts are still testcases of their phase, as in a run's own JUnit.
    assert!(xml.contains(r#"<testcase name="py[1]""#), "{xml}");

    // Valid against the common schema with the `file`/`line` extension declared, as a run's
    // own JUnit is (tests/cli/junit.rs).
    let Some(xmllint) = crate::tools::xmllint() else {
        return;
    };
    a.file("extended.xsd", &junit_xsd_with_file_line());
    if let Err(e) = xsd_check(&xmllint, a.path(), "extended.xsd", "merged.xml".as_ref()) {
        panic!("{e}\n{xml}");
    }
}

#[test]
fn rerun_failed_runs_the_failed_items_and_reports_only_their_testcases() {
    let p = project("py", ITEMS, ", batches = 2, retry = 1");
    assert_eq!(p.run(&["-j", "2"]).code, 1);
    std::fs::remove_file(p.join("ran.txt")).unwrap();
    // err_d failed; bad_b passed on its retry, so it is not rerun.
    let out = p.run(&["--rerun-failed"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        sorted_lines(&p, "ran.txt"),
        ["py[1] 1 err_d.py", "py[1] 2 err_d.py"]
    );
    let r = report_at(&report_file(&p));
    let part = suite(&r, "py[1]");
    assert_eq!(part["batch"]["items"], serde_json::json!(["err_d.py"]));
    assert_eq!(
        testcases(&r).keys().collect::<Vec<_>>(),
        ["err_d.py::test_err"]
    );
}

/// Results written by hand as pytest's xunit1 writes them, for a batch run in a subfolder:
/// one test passes, one fails (its traceback names its line), one errors (its text names no
/// line).
const GITHUB_RESULTS: &str = r#"cat > "$PTEST_TMPDIR/junit.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.test_x" name="test_ok" file="tests/test_x.py" line="1" time="0.1"/>
<testcase classname="tests.test_x" name="test_y[a,b]" file="tests/test_x.py" line="4" time="0.1"><failure message="assert 1 == 2: 50% off">def test_y(a, b):
&gt;       assert 1 == 2
E       assert 1 == 2

tests/test_x.py:6: AssertionError</failure></testcase>
<testcase classname="tests.test_z" name="test_err" file="tests/test_z.py" line="0" time="0.1"><error message="fixture 'db' not found">file /somewhere/tests/test_z.py, line 1
E       fixture 'db' not found</error></testcase>
</testsuite></testsuites>
XML
exit 1
"#;

#[test]
fn on_github_a_part_with_results_is_annotated_per_failed_test_on_its_file_and_line() {
    let p = Project::new(
        r#"ptest.batch { name = "py", items = { "tests/test_x.py", "tests/test_z.py" }, cwd = "app",
  batches = 1, cmd = { "sh", "../results.sh", "{items}" }, results = "{tmpdir}/junit.xml" }
ptest.suite { name = "plain", cmd = "exit 3" }
"#,
    );
    p.file("results.sh", GITHUB_RESULTS)
        .file("app/tests/test_x.py", "")
        .file("app/tests/test_z.py", "");
    let out = p.run_env(
        &["-q", "-j", "2"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_WORKSPACE", p.path().to_str().unwrap()),
        ],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // The two suites end in either order: their annotations are compared sorted.
    let mut annotations: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error") || l.starts_with("::notice"))
        .collect();
    annotations.sort_unstable();
    assert_eq!(
        annotations,
        [
            "::error file=app/tests/test_x.py,line=6,title=tests/test_x.py%3A%3Atest_y[a%2Cb] failed::assert 1 == 2: 50%25 off",
            "::error file=app/tests/test_z.py,title=tests/test_z.py%3A%3Atest_err error::fixture 'db' not found",
            "::error title=ptest%3A plain failed::exit code 3 (log: test-logs/plain.log)",
        ],
        "{}",
        out.stdout
    );
}

/// A test that fails with megabytes of text (issue 25 item 8: 500 MB of it made four reports
/// of 524 MB): every report keeps 64 KiB of it, saying where it cut.
#[test]
fn a_huge_failure_text_is_kept_to_its_cap_in_every_report() {
    let p = Project::new(
        r#"ptest.batch { name = "big", items = { "t.py" }, batches = 1,
  cmd = { "sh", "runner.sh", "{items}" }, results = "{tmpdir}/junit.xml" }"#,
    );
    p.file(
        "runner.sh",
        r#"out="$PTEST_TMPDIR/junit.xml"
{
printf '<testsuite name="pytest"><testcase classname="t" name="test_big" file="t.py" time="0.1">'
printf '<failure message="'; head -c 100000 /dev/zero | tr '\0' m; printf '" type="E">'
head -c 3000000 /dev/zero | tr '\0' x
printf 'the end</failure></testcase></testsuite>\n'
} > "$out"
exit 1
"#,
    );
    p.file("t.py", "");
    let out = p.run(&["--report", "r.json", "--junit", "j.xml", "--html", "h.html"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    for f in ["r.json", "test-logs/test-report.json", "j.xml", "h.html"] {
        let size = std::fs::metadata(p.join(f)).unwrap().len();
        assert!(size < 300_000, "{f}: {size} bytes");
    }
    let report = report_at(&p.join("r.json"));
    let case = &report["suites"][0]["testcases"][0];
    let text = case["text"].as_str().unwrap();
    assert!(text.len() < 66 * 1024, "{}", text.len());
    assert!(
        text.ends_with("the end"),
        "the end of a traceback says what failed"
    );
    assert!(
        text.contains(" bytes cut here: "),
        "{}",
        &text[16000..16500]
    );
    assert!(case["message"].as_str().unwrap().len() < 66 * 1024);
}
