//! Command-line options that override what `ptest.lua` says: `--retries`, `--timeout`,
//! `--log-dir`, `-x`/`--no-fail-fast`, as `list --format json` and `plan` show them.

use serde_json::json;

use crate::harness::{Project, list_json};

const RETRIES: &str = r#"
local r = ptest.retry { name = "r", attempts = 1, delay = "2s", on = { exit_codes = { 75 } } }
ptest.suite { name = "extra", cmd = "true", retry = 1 }
ptest.suite { name = "zero", cmd = "true", retry = 0 }
ptest.suite { name = "none", cmd = "true" }
ptest.suite { name = "policy", cmd = "true", retry = r }
"#;

fn retry_of(j: &serde_json::Value, suite: &str) -> serde_json::Value {
    let s = j["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == suite)
        .unwrap_or_else(|| panic!("no suite {suite}"));
    s["retry"].clone()
}

#[test]
fn retry_integer_form_and_zero() {
    let p = Project::new(RETRIES);
    let j = list_json(&p, &[]);
    let extra = retry_of(&j, "extra");
    assert_eq!(extra["name"], "+1");
    assert_eq!(extra["policy"]["attempts"], 2);
    // `retry = N` retries any failure, but not timeouts, at once.
    assert_eq!(extra["policy"]["on_timeout"], false);
    assert_eq!(extra["policy"]["on_exit_codes"], json!([]));
    assert_eq!(extra["policy"]["delay"], 0.0);
    assert_eq!(retry_of(&j, "zero"), json!(null));
    assert_eq!(retry_of(&j, "none"), json!(null));
    let text = p.run(&["list"]).stdout;
    assert!(text.contains("retry: +1 (2 attempts)"), "{text}");
    assert!(text.contains("retry: r (1 attempt)"), "{text}");
    assert!(!text.contains("+0"), "{text}");
}

#[test]
fn retries_flag_sets_extra_attempts_and_keeps_policy_filters() {
    let p = Project::new(RETRIES);
    let j = list_json(&p, &["--retries", "3"]);
    for name in ["extra", "zero", "none"] {
        let r = retry_of(&j, name);
        assert_eq!(r["name"], "+3", "{name}");
        assert_eq!(r["policy"]["attempts"], 4, "{name}");
    }
    // A policy keeps its name, filters and backoff, even one declared with a single attempt.
    let r = retry_of(&j, "policy");
    assert_eq!(r["name"], "r");
    assert_eq!(r["policy"]["attempts"], 4);
    assert_eq!(r["policy"]["on_exit_codes"], json!([75]));
    assert_eq!(r["policy"]["delay"], 2.0);
    assert!(
        p.run(&["list", "--retries", "3"])
            .stdout
            .contains("extra   [default]  retry: +3 (4 attempts)")
    );
}

#[test]
fn retries_zero_turns_every_retry_off() {
    let p = Project::new(RETRIES);
    let j = list_json(&p, &["--retries", "0"]);
    for name in ["extra", "zero", "none", "policy"] {
        assert_eq!(retry_of(&j, name), json!(null), "{name}");
    }
}

#[test]
fn timeout_flag_overrides_every_suite() {
    let p = Project::new(
        r#"ptest.config { timeout = "10m" }
ptest.suite { name = "a", cmd = "true", timeout = "2m" }
ptest.suite { name = "b", cmd = "true" }
"#,
    );
    let j = list_json(&p, &[]);
    assert_eq!(j["suites"][0]["timeout"], 120.0);
    assert_eq!(j["suites"][1]["timeout"], 600.0);
    let j = list_json(&p, &["--timeout", "45s"]);
    assert_eq!(j["suites"][0]["timeout"], 45.0);
    assert_eq!(j["suites"][1]["timeout"], 45.0);
}

#[test]
fn zero_timeouts_are_errors() {
    let p = Project::new("ptest.suite { name = \"a\", cmd = \"true\" }\n");
    let out = p.run(&["list", "--timeout", "0s"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert_eq!(
        out.stderr.trim(),
        "error: --timeout: must be longer than 0s"
    );
    assert_eq!(
        crate::harness::config_error("ptest.suite { name = \"a\", cmd = \"true\", timeout = 0 }")
            .trim(),
        r#"ptest.lua:1: suite "a": timeout: must be longer than 0s (leave it out for the default)"#
    );
    assert_eq!(
        crate::harness::config_error("ptest.config { timeout = \"0ms\" }").trim(),
        "ptest.lua:1: config: timeout: must be longer than 0s (leave it out for the default)"
    );
}

#[test]
fn log_dir_is_relative_to_the_config_and_the_flag_to_the_current_directory() {
    let p = Project::new("ptest.config { log_dir = \"out/logs\" }\n");
    p.file("sub/ptest.lua", "ptest.config { log_dir = \"logs\" }\n");
    let j = list_json(&p, &[]);
    let root = std::fs::canonicalize(p.path()).unwrap();
    assert_eq!(j["log_dir"], root.join("out/logs").to_str().unwrap());
    let j = list_json(&p, &["sub/ptest.lua"]);
    assert_eq!(j["log_dir"], root.join("sub/logs").to_str().unwrap());
    let j = list_json(&p, &["sub/ptest.lua", "--log-dir", "elsewhere"]);
    // Made absolute from the current directory, so PTEST_LOG works from any suite's cwd.
    assert_eq!(j["log_dir"], root.join("elsewhere").to_str().unwrap());
    // The default.
    let p = Project::new("");
    let root = std::fs::canonicalize(p.path()).unwrap();
    assert_eq!(
        list_json(&p, &[])["log_dir"],
        root.join("test-logs").to_str().unwrap()
    );
}

#[test]
fn fail_fast_from_config_and_flags() {
    let on = Project::new("ptest.config { fail_fast = true }\n");
    let off = Project::new("");
    assert_eq!(list_json(&on, &[])["fail_fast"], true);
    assert_eq!(list_json(&off, &[])["fail_fast"], false);
    assert_eq!(list_json(&on, &["--no-fail-fast"])["fail_fast"], false);
    assert_eq!(list_json(&off, &["-x"])["fail_fast"], true);
    assert!(off.run(&["plan", "-x"]).stdout.contains("fail-fast: on"));
    assert!(
        on.run(&["plan", "--no-fail-fast"])
            .stdout
            .contains("fail-fast: off")
    );
}
