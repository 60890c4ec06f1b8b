//! `ptest list`, `plan` and `graph` on real configs.

use crate::harness::{Project, list_json};

#[test]
fn every_suite_field_is_visible_in_list_json() {
    let p = Project::new(
        r#"
local g = ptest.group { name = "db", max = 2, env = { DB = "x" } }
local ph = ptest.phase { name = "main", workers = 3, on_failure = "continue" }
local api = ptest.limiter { name = "api", rate = 10, per = "1s", burst = 2, concurrency = 4 }
local r = ptest.retry { name = "backoff", attempts = 3, delay = "1s", on = { exit_codes = { 75 } } }
ptest.suite { name = "build", cmd = "true", phase = ph }
ptest.suite {
  name = "s", cmd = { "sh", "-c", "exit 0" }, description = "d", category = "unit",
  tags = { "fast", "db" }, cwd = "sub", env = { A = "1" }, timeout = "2m",
  depends_on = { "build" }, group = g, phase = "main", limiter = api, retry = r,
  slots = 2, serial = false, estimate = "3s", enabled = true,
}
"#,
    );
    let j = list_json(&p, &[]);
    let s = &j["suites"][1];
    assert_eq!(s["name"], "s");
    assert_eq!(s["cmd"], serde_json::json!(["sh", "-c", "exit 0"]));
    assert_eq!(s["description"], "d");
    assert_eq!(s["category"], "unit");
    assert_eq!(s["tags"], serde_json::json!(["fast", "db"]));
    assert!(s["cwd"].as_str().unwrap().ends_with("/sub"));
    assert_eq!(s["env"], serde_json::json!({ "A": "1", "DB": "x" }));
    assert_eq!(s["timeout"], 120.0);
    assert_eq!(s["depends_on"], serde_json::json!(["build"]));
    assert_eq!(s["group"], "db");
    assert_eq!(s["phase"], "main");
    assert_eq!(s["limiter"], "api");
    assert_eq!(s["retry"]["name"], "backoff");
    assert_eq!(s["retry"]["policy"]["attempts"], 3);
    assert_eq!(s["slots"], 2);
    assert_eq!(s["estimate"], 3.0);
    assert_eq!(j["phases"][0]["workers"], 3);
    assert_eq!(j["phases"][0]["on_failure"], "continue");
    assert_eq!(j["limiters"][0]["burst"], 2);
    assert_eq!(j["limiters"][0]["concurrency"], 4);
    assert_eq!(j["groups"][0]["max"], 2);
}

#[test]
fn worker_precedence_is_shown_by_plan() {
    let p = Project::new(
        "ptest.config { workers = 3 }\nptest.suite { name = \"a\", cmd = \"true\" }\n",
    );
    assert!(p.run(&["plan"]).stdout.contains("workers:   3 (ptest.lua)"));
    assert!(
        p.run_env(&["plan"], &[("PTEST_WORKERS", "2")])
            .stdout
            .contains("workers:   2 (PTEST_WORKERS)")
    );
    assert!(
        p.run_env(&["plan", "-j", "5"], &[("PTEST_WORKERS", "2")])
            .stdout
            .contains("workers:   5 (--jobs)")
    );
    assert!(
        p.run_env(&["plan"], &[("PTEST_DISABLE_PARALLEL", "true")])
            .stdout
            .contains("workers:   1 (PTEST_DISABLE_PARALLEL)")
    );
}
