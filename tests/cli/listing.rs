//! `ptest list --format json` shows every field of every constructor, with defaults filled in.

use serde_json::json;

use crate::harness::{Project, list_json};

const EVERYTHING: &str = r#"
ptest.config { workers = 3, log_dir = "logs", fail_fast = true, timeout = "10m", grace = "2s" }
local g = ptest.group { name = "db", max = 2, env = { DB = "x", SHARED = "group" } }
local ph = ptest.phase { name = "main", enabled = true, workers = 2, on_failure = "continue", always = true }
local off = ptest.phase { name = "later", enabled = false }
local api = ptest.limiter { name = "api", rate = 10, per = "2s", burst = 2, concurrency = 4,
                            adaptive = true, max_throttled = 5 }
local r = ptest.retry { name = "backoff", attempts = 4, delay = "500ms", factor = 3,
                        max_delay = "1m", jitter = true,
                        on = { exit_codes = { 75, 3 }, output = { "429" }, timeout = true } }
local w = ptest.retry { name = "judged", when = function(res) return res.exit_code == 75 end }
ptest.retry { name = "unused" }
ptest.on("suite_finished", function(res) end)
ptest.suite { name = "build", cmd = "make", phase = ph }
ptest.suite {
  name = "s", cmd = { "sh", "-c", "exit 0" }, description = "d", category = "unit",
  tags = { "fast", "db" }, cwd = "sub", env = { A = "1", SHARED = "suite" }, timeout = "2m",
  depends_on = { "build" }, group = g, phase = "main", limiter = api, retry = r,
  slots = 2, serial = true, estimate = "3s", enabled = true,
}
ptest.suite { name = "w", cmd = "true", retry = w, phase = ph }
ptest.suite { name = "off", cmd = "true", enabled = false, phase = ph }
ptest.suite { name = "late", cmd = "true", phase = off }
"#;

#[test]
fn every_suite_field_is_visible_in_list_json() {
    let p = Project::new(EVERYTHING);
    let j = list_json(&p, &[]);
    let root = std::fs::canonicalize(p.path()).unwrap();
    let s = &j["suites"][1];
    assert_eq!(s["name"], "s");
    assert_eq!(s["cmd"], json!(["sh", "-c", "exit 0"]));
    assert_eq!(s["description"], "d");
    assert_eq!(s["category"], "unit");
    assert_eq!(s["tags"], json!(["fast", "db"]));
    assert_eq!(s["cwd"], root.join("sub").to_str().unwrap());
    // The group's env under the suite's own.
    assert_eq!(s["env"], json!({ "A": "1", "DB": "x", "SHARED": "suite" }));
    assert_eq!(s["timeout"], 120.0);
    assert_eq!(s["depends_on"], json!(["build"]));
    assert_eq!(s["group"], "db");
    assert_eq!(s["phase"], "main");
    assert_eq!(s["limiter"], "api");
    assert_eq!(s["retry"]["name"], "backoff");
    assert_eq!(
        s["retry"]["policy"],
        json!({ "attempts": 4, "delay": 0.5, "factor": 3.0, "max_delay": 60.0, "jitter": true,
                "on_exit_codes": [75, 3], "on_output": ["429"], "on_timeout": true,
                "when": false })
    );
    assert_eq!(s["slots"], 2);
    assert_eq!(s["serial"], true);
    assert_eq!(s["estimate"], 3.0);
    assert_eq!(s["enabled"], true);
    assert_eq!(s["skip_reason"], json!(null));
    // The line where the call starts.
    assert_eq!(s["origin"], "ptest.lua:15");
    assert_eq!(j["suites"][2]["retry"]["name"], "judged");
    assert_eq!(j["suites"][2]["retry"]["policy"]["when"], true);
    assert_eq!(j["suites"][3]["enabled"], false);
    assert_eq!(j["suites"][3]["skip_reason"], "disabled");
    assert_eq!(j["suites"][4]["skip_reason"], "phase \"later\" disabled");
}

#[test]
fn suite_defaults() {
    let p = Project::new("ptest.suite { name = \"a\", cmd = \"true\" }");
    let j = list_json(&p, &[]);
    let root = std::fs::canonicalize(p.path()).unwrap();
    assert_eq!(
        j["suites"][0],
        json!({
            "name": "a", "cmd": "true", "description": null, "category": "default", "tags": [],
            "cwd": root.to_str().unwrap(), "env": {}, "timeout": 300.0, "depends_on": [],
            "group": null, "phase": "default", "limiter": null, "retry": null, "slots": 1,
            "serial": false, "estimate": null, "enabled": true, "skip_reason": null,
            "expected": 1.0, "path": 1.0, "priority": 1.0, "origin": "ptest.lua:1",
        })
    );
    assert_eq!(j["workers_source"], "auto: usable CPUs");
    assert_eq!(j["fail_fast"], false);
    assert_eq!(j["grace"], 5.0);
    assert_eq!(j["timeout"], 300.0);
    assert_eq!(j["retries"], json!([]));
    assert_eq!(j["hooks"], json!([]));
}

#[test]
fn config_group_phase_limiter_retry_and_hooks_are_visible() {
    let p = Project::new(EVERYTHING);
    let j = list_json(&p, &[]);
    let root = std::fs::canonicalize(p.path()).unwrap();
    assert_eq!(j["config"], "ptest.lua");
    assert_eq!(j["workers"], 3);
    assert_eq!(j["workers_source"], "ptest.lua");
    assert_eq!(j["log_dir"], root.join("logs").to_str().unwrap());
    assert_eq!(j["fail_fast"], true);
    assert_eq!(j["timeout"], 600.0);
    assert_eq!(j["grace"], 2.0);
    assert_eq!(
        j["groups"],
        json!([{ "name": "db", "max": 2, "env": { "DB": "x", "SHARED": "group" }, "suites": ["s"] }])
    );
    assert_eq!(
        j["phases"],
        json!([
            { "name": "main", "enabled": true, "workers": 2, "on_failure": "continue",
              "always": true, "suites": ["build", "s", "w", "off"] },
            { "name": "later", "enabled": false, "workers": 3, "on_failure": "stop",
              "always": false, "suites": ["late"] },
        ])
    );
    assert_eq!(
        j["limiters"],
        json!([{ "name": "api", "rate": 10.0, "per": 2.0, "burst": 2, "concurrency": 4,
                 "adaptive": true, "max_throttled": 5 }])
    );
    let retries: Vec<&str> = j["retries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(retries, ["backoff", "judged", "unused"]);
    assert_eq!(
        j["retries"][2]["policy"],
        json!({ "attempts": 3, "delay": 1.0, "factor": 2.0, "max_delay": 60.0, "jitter": false,
                "on_exit_codes": [], "on_output": [], "on_timeout": false, "when": false })
    );
    assert_eq!(j["hooks"], json!(["suite_finished"]));
    // Limiter defaults.
    let p = Project::new("ptest.limiter { name = \"l\", rate = 2.5 }");
    assert_eq!(
        list_json(&p, &[])["limiters"][0],
        json!({ "name": "l", "rate": 2.5, "per": 1.0, "burst": 1, "concurrency": null,
                "adaptive": false, "max_throttled": null })
    );
}

#[test]
fn list_text_shows_phases_groups_and_details() {
    let p = Project::new(EVERYTHING);
    let out = p.run(&["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let expected = "\
phase main (4 suites) [always]
  build  [default]  timeout: 10m00s
  w      [default]  retry: judged (3 attempts)  timeout: 10m00s
  off    [default]  timeout: 10m00s  skipped: disabled
  group db (max 2)
    s    [unit]  tags: fast,db  depends_on: build  limiter: api  retry: backoff (4 attempts)  timeout: 2m00s  slots: 2  serial
phase later (1 suite) [disabled]
  late   [default]  timeout: 10m00s  skipped: phase \"later\" disabled
5 suites (5 declared, 2 skipped)
";
    assert_eq!(out.stdout, expected);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // `ptest list | head -1`: ptest must end quietly when the reader goes away.
    let p =
        Project::new("for i = 1, 3000 do ptest.suite { name = \"s\" .. i, cmd = \"true\" } end");
    let mut child = p
        .cmd()
        .args(["list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code() == Some(0),
        "status {:?}, stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
