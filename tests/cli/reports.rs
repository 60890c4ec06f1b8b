//! The JSON report's per-attempt detail, the HTML page in a real browser, and `--events`.

use crate::harness::Project;

#[test]
fn json_report_lists_each_attempt_with_its_worker_times_and_status() {
    let p = Project::new(
        r#"
ptest.suite { name = "flaky", retry = 2, cmd = "echo $PTEST_WORKER >> workers; test $PTEST_ATTEMPT = 3" }
ptest.suite { name = "once", cmd = "true" }
"#,
    );
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let s = &r["suites"][0];
    let detail = s["attempts_detail"].as_array().unwrap();
    let statuses: Vec<&str> = detail
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "failed", "passed"]);
    assert_eq!(detail[0]["error_message"], "exit code 1");
    assert_eq!(detail[2]["return_code"], 0);
    // Each attempt names the worker it really ran on (what the probe wrote).
    let workers: Vec<u64> = std::fs::read_to_string(p.join("workers"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let reported: Vec<u64> = detail
        .iter()
        .map(|d| d["worker"].as_u64().unwrap())
        .collect();
    assert_eq!(reported, workers);
    assert_eq!(
        s["worker"], detail[2]["worker"],
        "the suite's worker is its last attempt's"
    );
    // Attempts follow each other; the suite spans them.
    for w in detail.windows(2) {
        assert!(
            w[0]["end_time"].as_f64() <= w[1]["start_time"].as_f64(),
            "{w:?}"
        );
    }
    for d in detail {
        assert!(d["start_time"].as_f64() <= d["end_time"].as_f64());
    }
    assert_eq!(s["start_time"], detail[0]["start_time"]);
    assert_eq!(s["end_time"], detail[2]["end_time"]);
    assert_eq!(
        r["suites"][1]["attempts_detail"].as_array().unwrap().len(),
        1
    );
}
