//! `--junit`, `--html` and the GitHub Actions sink, on a run with every kind of outcome.

use crate::harness::Project;

const MIXED: &str = r#"
ptest.suite { name = "ok", cmd = "echo fine" }
ptest.suite { name = "bad <&>", cmd = "echo '<script>alert(1)</script>'; exit 3" }
ptest.suite { name = "after", cmd = "true", depends_on = { "bad <&>" } }
ptest.suite { name = "flaky", retry = 1, cmd = "test $PTEST_ATTEMPT = 2" }
"#;

#[test]
fn junit_has_a_testcase_per_suite() {
    let p = Project::new(MIXED);
    let out = p.run(&["--junit", "out/junit.xml"]);
    assert_eq!(out.code, 1);
    let xml = std::fs::read_to_string(p.join("out/junit.xml")).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert!(
        xml.contains(r#"<testcase name="bad &lt;&amp;&gt;""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<failure message="exit code 3" type="failed">&lt;script&gt;"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<skipped message="dependency &quot;bad &lt;&amp;&gt;&quot; failed"/>"#),
        "{xml}"
    );
    assert!(
        xml.contains("<flakyFailure message=\"attempt 1/2: exit code 1\""),
        "{xml}"
    );
}

#[test]
fn html_is_one_escaped_page_with_a_timeline() {
    let p = Project::new(MIXED);
    p.run(&["--html", "report.html"]);
    let html = std::fs::read_to_string(p.join("report.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(
        !html.contains("<script>alert"),
        "suite output must be escaped"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the failing log's tail is shown"
    );
    assert!(html.contains("bad &lt;&amp;&gt;"));
    assert_eq!(
        html.matches("<rect ").count(),
        4,
        "a bar per attempt: ok, bad, and flaky's two"
    );
    assert!(
        !html.contains("src=") && !html.contains("<link") && !html.contains("href=\"http"),
        "self-contained"
    );
    assert!(html.contains("<a href=\"test-logs/bad____.log\">test-logs/bad____.log</a>"));
}

#[test]
fn github_annotations_and_step_summary() {
    let p = Project::new(MIXED);
    let summary = p.join("summary.md");
    let out = p.run_env(
        &["-q"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert!(
        out.stdout.contains(
            "::error title=ptest%3A bad <&> failed::exit code 3 (log: test-logs/bad____.log)"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.matches("::error").count(), 1);
    let md = std::fs::read_to_string(summary).unwrap();
    assert!(
        md.starts_with("### ptest: 4 suites: 1 passed, 1 flaky, 1 failed, 1 skipped\n\nWall "),
        "{md}"
    );
    assert!(md.contains("| after | skipped |"), "{md}");
}

#[test]
fn an_unwritable_report_path_stops_before_anything_runs() {
    let p = Project::new(r#"ptest.suite { name = "ok", cmd = "touch ran" }"#);
    p.file("blocker", "a file, not a folder");
    let out = p.run(&["--junit", "blocker/junit.xml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with(
            "error: --junit: cannot write blocker/junit.xml: cannot create folder blocker"
        ),
        "{}",
        out.stderr
    );
    assert!(!p.join("ran").exists(), "nothing ran");
}

#[test]
fn terminal_summary_names_counts_flaky_suites_and_failures_with_their_tails() {
    let p = Project::new(MIXED);
    let out = p.run(&["-j", "1"]);
    assert_eq!(out.code, 1);
    let s = &out.stdout;
    assert!(
        s.starts_with(
            "ptest: 4 suites (default 4), 1 worker (--jobs), fail-fast off, logs in test-logs/"
        ),
        "{s}"
    );
    assert!(
        s.contains("SKIP    after  dependency \"bad <&>\" failed\n"),
        "{s}"
    );
    assert!(
        s.contains("\nSummary: 4 suites: 1 passed, 1 flaky, 1 failed, 1 skipped\n"),
        "{s}"
    );
    assert!(
        s.contains(
            "\nFlaky suites (passed on a retry):\n  flaky  2 attempts (before: exit code 1)\n"
        ),
        "{s}"
    );
    assert!(
        s.contains("\nFailures:\n✗ bad <&>  exit code 3  test-logs/bad____.log\n    | <script>alert(1)</script>\n"),
        "{s}"
    );
    assert!(
        !s.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
}
