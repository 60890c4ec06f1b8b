//! `ptest merge`: shard reports joined into one, with the summary recomputed.

use crate::harness::{
    Project, junit_xsd_with_file_line, merge_with_junit, report_file, suite_names, xsd_check,
};
use crate::probe::report_at;

#[test]
fn merges_shards_and_recomputes_the_summary() {
    let a = Project::new(
        r#"ptest.suite { name = "a1", cmd = "true" } ptest.suite { name = "a2", cmd = "exit 1" }"#,
    );
    let b = Project::new(r#"ptest.suite { name = "b1", cmd = "sleep 0.2" }"#);
    assert_eq!(a.run(&[]).code, 1);
    assert_eq!(b.run(&[]).code, 0);
    let out = a.join("merged.json");
    let ra = report_file(&a);
    let rb = report_file(&b);
    let m = a.run(&[
        "merge",
        ra.to_str().unwrap(),
        rb.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    let v = report_at(&out);
    assert_eq!(suite_names(&v), ["a1", "a2", "b1"]);
    assert_eq!(v["summary"]["total"], 3);
    assert_eq!(v["summary"]["passed"], 2);
    assert_eq!(v["summary"]["failed"], 1);
    assert!(
        v["duration"].as_f64().unwrap() >= 0.2,
        "the slowest shard's wall time"
    );

    let dup = a.run(&[
        "merge",
        ra.to_str().unwrap(),
        ra.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    // A report given twice: each suite once, the duplicates named, the first kept.
    assert_eq!(dup.code, 0, "{}", dup.stderr);
    assert!(
        dup.stderr.contains(&format!(
            "warning: merge: suite \"a1\" is in {0} and in {0}: the first pass kept",
            ra.display()
        )),
        "{}",
        dup.stderr
    );
    assert_eq!(suite_names(&report_at(&out)), ["a1", "a2"]);
    let missing = a.run(&["merge", "nope.json", "-o", out.to_str().unwrap()]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("cannot read nope.json"),
        "{}",
        missing.stderr
    );
}

#[test]
fn merge_junit_writes_the_joined_report_as_junit() {
    let a = Project::new(
        r#"ptest.suite { name = "a1", cmd = "true", category = "unit" }
           ptest.suite { name = "a2", cmd = "echo the reason it broke; exit 3", category = "unit" }
           ptest.phase { name = "late" }
           ptest.suite { name = "a3", phase = "late", cmd = "true", enabled = false }"#,
    );
    let b = Project::new(
        r#"ptest.suite { name = "b1", category = "api", retry = 1,
             cmd = "if [ -e once ]; then exit 0; fi; touch once; exit 1" }"#,
    );
    assert_eq!(a.run(&[]).code, 1);
    assert_eq!(b.run(&[]).code, 0);
    merge_with_junit(&a, &[&a, &b]);
    let xml = std::fs::read_to_string(a.join("merged.xml")).unwrap();
    assert!(
        xml.contains(r#"<testsuites name="ptest" tests="4" failures="1" errors="0""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testsuite name="default" tests="3" skipped="0" errors="0" failures="1""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testsuite name="late" tests="1" skipped="1" errors="0" failures="0""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<failure message="exit code 3" type="failed">"#)
            && xml.contains("the reason it broke"),
        "a failure says why, with the log's tail:\n{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="b1" classname="api""#),
        "{xml}"
    );
    assert!(
        xml.contains("<flakyFailure message=\"attempt 1/2: exit code 1\""),
        "{xml}"
    );
    assert!(xml.contains("[[ATTACHMENT|test-logs/a2.log]]"), "{xml}");
    assert!(xml.contains(r#"<skipped message="disabled"/>"#), "{xml}");

    // Valid against the common schema with its one extension (`file` on testcase: a suite's
    // file is in the record now), as a run's own JUnit is.
    let Some(xmllint) = crate::tools::xmllint() else {
        return;
    };
    a.file("schema.xsd", &junit_xsd_with_file_line());
    if let Err(e) = xsd_check(&xmllint, a.path(), "schema.xsd", "merged.xml".as_ref()) {
        panic!("{e}\n{xml}");
    }

    // --html of reports that were not shards': one lane per report.
    let page = a.join("merged.html");
    let m = a.run(&[
        "merge",
        report_file(&a).to_str().unwrap(),
        report_file(&b).to_str().unwrap(),
        "-o",
        a.join("m.json").to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(">shard 1 w0</text>") && html.contains(">shard 2 w0</text>"),
        "{html}"
    );
    assert!(html.contains("b1 attempt 2/2: passed in"), "{html}");
    assert!(html.contains("on shard 2, worker 0</title>"), "{html}");

    // --junit or --html with --history makes no sense: a usage error.
    let m = a.run(&[
        "merge",
        "--history",
        "x.json",
        "-o",
        "y.json",
        "--html",
        "z.html",
    ]);
    assert_eq!(m.code, 2);
    let m = a.run(&[
        "merge",
        "--history",
        "x.json",
        "-o",
        "y.json",
        "--junit",
        "z.xml",
    ]);
    assert_eq!(m.code, 2);
}
