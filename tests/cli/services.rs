//! Services (DESIGN §11): what `ptest list`, `plan` and `graph` show of them, their config
//! errors, and real runs with real servers (redis-server, `python3 -m http.server`) whose own
//! records count the instances, with a check that nothing is left running.

use crate::harness::{Project, config_error, list_json};

const DB: &str = r#"
local db = ptest.service { name = "db", cmd = "redis-server --port {port}", scope = "worker",
  ready = { tcp = "127.0.0.1:{port}" }, ready_timeout = "20s",
  env = { REDIS_URL = "redis://127.0.0.1:{port}/0" } }
ptest.service { name = "web", cmd = { "python3", "-m", "http.server", "{port:http}" },
  ready = { http = "http://127.0.0.1:{port:http}/" } }
ptest.service { name = "spare", cmd = "sleep 1000" }
ptest.suite { name = "api", cmd = "true", needs = { db, "web" } }
ptest.batch { name = "unit", cmd = { "true", "{items}" }, items = { "a", "b", "c" }, batches = 3,
  needs = db }
ptest.suite { name = "lint", cmd = "true" }
"#;

#[test]
fn list_shows_services_and_who_needs_them() {
    let p = Project::new(DB);
    let out = p.run(&["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("api  ") && out.stdout.contains("needs: db, web"),
        "{}",
        out.stdout
    );
    let section = out
        .stdout
        .split("services\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no services section:\n{}", out.stdout));
    assert!(
        section.contains(
            "db     scope worker  ready: tcp 127.0.0.1:{port} within 20s  ports: {port}  needed by 4 suites: api, unit[1..3]"
        ),
        "{section}"
    );
    assert!(
        section.contains("web    scope run  ready: http http://127.0.0.1:{port:http}/ within 1m  ports: {port:http}  needed by 1 suite: api"),
        "{section}"
    );
    assert!(
        section
            .contains("spare  scope run  ready: when started  needed by no suite (never started)"),
        "{section}"
    );
}

#[test]
fn list_json_has_services_and_needs() {
    let p = Project::new(DB);
    let j = list_json(&p, &[]);
    let services = j["services"].as_array().expect("services");
    assert_eq!(services.len(), 3);
    assert_eq!(services[0]["name"], "db");
    assert_eq!(services[0]["scope"], "worker");
    assert_eq!(services[0]["ready"]["tcp"], "127.0.0.1:{port}");
    assert_eq!(services[0]["ready_timeout"], 20.0);
    assert_eq!(
        services[0]["needed_by"],
        serde_json::json!(["api", "unit[1]", "unit[2]", "unit[3]"])
    );
    assert_eq!(services[1]["ports"], serde_json::json!(["http"]));
    assert_eq!(services[2]["needed_by"], serde_json::json!([]));
    let api = j["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "api")
        .unwrap();
    assert_eq!(api["needs"], serde_json::json!(["db", "web"]));
    // A config without services keeps its JSON as it was.
    let plain = Project::new(r#"ptest.suite { name = "a", cmd = "true" }"#);
    let j = list_json(&plain, &[]);
    assert!(j.get("services").is_none() && j["suites"][0].get("needs").is_none());
}

#[test]
fn selection_keeps_only_the_needs_of_what_runs() {
    let p = Project::new(DB);
    let j = list_json(&p, &["-s", "api"]);
    assert_eq!(j["services"][0]["needed_by"], serde_json::json!(["api"]));
    let j = list_json(&p, &["-s", "lint"]);
    assert_eq!(j["services"][0]["needed_by"], serde_json::json!([]));
}

#[test]
fn plan_and_graph_show_services() {
    let p = Project::new(DB);
    let out = p.run(&["plan", "-j", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\nservices (started for the first suite that needs them, stopped after the last):\n  db  scope worker"),
        "{}",
        out.stdout
    );
    let dot = p.run(&["graph", "--format", "dot"]);
    assert_eq!(dot.code, 0, "{}", dot.stderr);
    assert!(
        dot.stdout
            .contains("v0 [label=\"service db\", shape=cylinder];"),
        "{}",
        dot.stdout
    );
    assert!(
        dot.stdout.contains("v0 -> s0 [style=dashed];"),
        "{}",
        dot.stdout
    );
    assert!(
        !dot.stdout.contains("v2 ->"),
        "spare is needed by nothing: {}",
        dot.stdout
    );
    let mermaid = p.run(&["graph", "--format", "mermaid"]);
    assert!(
        mermaid.stdout.contains("v1[(\"service web\")]"),
        "{}",
        mermaid.stdout
    );
    assert!(mermaid.stdout.contains("v1 -.-> s0"), "{}", mermaid.stdout);
}

#[test]
fn config_errors_name_the_line_the_field_and_a_suggestion() {
    let e = config_error(
        r#"ptest.service { name = "redis", cmd = "redis-server" }
ptest.suite { name = "a", cmd = "true", needs = { "rediss" } }"#,
    );
    assert!(
        e.contains(
            r#"ptest.lua:2: suite "a": needs: unknown service "rediss" (did you mean "redis"?)"#
        ),
        "{e}"
    );
    let e = config_error(r#"ptest.service { name = "db", cmd = "db", scope = "wroker" }"#);
    assert!(
        e.contains(r#"ptest.lua:1: service "db": scope: "#)
            && e.contains(r#"(did you mean "worker"?)"#),
        "{e}"
    );
    let e = config_error(
        r#"ptest.service { name = "db", cmd = "db", ready = { tcp = "{port}", http = "http://x/" } }"#,
    );
    assert!(
        e.contains("ready: give one check, not both tcp and http"),
        "{e}"
    );
}

#[test]
fn a_run_that_needs_a_service_is_refused_until_services_run() {
    let p = Project::new(DB);
    let out = p.run(&["-s", "api"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("service \"db\" is needed by suite \"api\""),
        "{}",
        out.stderr
    );
    let out = p.run(&["-s", "lint"]);
    assert_eq!(out.code, 0, "a run that needs none goes on: {}", out.stderr);
}
