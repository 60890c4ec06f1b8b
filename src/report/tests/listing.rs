//! `ptest list` and `ptest plan` as text and JSON.

use serde_json::Value;

use crate::plan::tests::{Fixture, plan};
use crate::report::listing::{list_json, list_text, plan_text};

#[test]
fn list_shows_each_field_that_shapes_a_run_aligned_across_groups() {
    let p = plan(
        r#"
        ptest.config { workers = 4 }
        local api = ptest.limiter { name = "api", rate = 1 }
        local net = ptest.retry { name = "net", attempts = 3 }
        local db = ptest.group { name = "db", max = 1 }
        ptest.suite { name = "build", cmd = "true", category = "setup", timeout = "30s" }
        ptest.suite { name = "unit", cmd = "true", tags = { "fast", "py" }, depends_on = { "build" } }
        ptest.suite { name = "calls", cmd = "true", limiter = api, retry = net, slots = 2 }
        ptest.suite { name = "once", cmd = "true", retry = 1, serial = true }
        ptest.suite { name = "deposits", cmd = "true", group = db }
        ptest.suite { name = "off", cmd = "true", enabled = false }
        "#,
    );
    assert_eq!(
        list_text(&p),
        "phase default (6 suites)\n\
         \x20 build       [setup]  timeout: 30.0s\n\
         \x20 unit        [default]  tags: fast,py  depends_on: build  timeout: 5m00s\n\
         \x20 calls       [default]  limiter: api  retry: net (3 attempts)  timeout: 5m00s  slots: 2\n\
         \x20 once        [default]  retry: +1 (2 attempts)  timeout: 5m00s  serial\n\
         \x20 off         [default]  timeout: 5m00s  skipped: disabled\n\
         \x20 group db (max 1)\n\
         \x20   deposits  [default]  timeout: 5m00s\n\
         6 suites (6 declared, 1 skipped)\n"
    );
}

#[test]
fn list_marks_disabled_and_always_phases_and_leaves_out_empty_ones() {
    let mut f = Fixture::new(
        r#"
        ptest.phase { name = "off", enabled = false }
        ptest.phase { name = "empty" }
        ptest.phase { name = "teardown", always = true }
        ptest.suite { name = "a", cmd = "true", phase = "off" }
        ptest.suite { name = "b", cmd = "true", phase = "teardown" }
        ptest.suite { name = "c", cmd = "true", phase = "empty" }
        "#,
    );
    f.selection.suites = vec!["a".into(), "b".into()];
    let text = list_text(&f.plan());
    assert_eq!(
        text,
        "phase off (1 suite) [disabled]\n\
         \x20 a  [default]  timeout: 5m00s  skipped: phase \"off\" disabled\n\
         phase teardown (1 suite) [always]\n\
         \x20 b  [default]  timeout: 5m00s\n\
         2 suites (3 declared, 1 skipped)\n"
    );
}

#[test]
fn list_json_carries_every_field_for_tools() {
    let p = plan(
        r#"
        ptest.config { workers = 2, fail_fast = true, grace = "3s" }
        local net = ptest.retry { name = "net", attempts = 2, delay = "1s", on = { exit_codes = { 75 } } }
        ptest.group { name = "g", max = 2, env = { G = "1" } }
        ptest.limiter { name = "api", rate = 4, per = "2s", burst = 2, concurrency = 3 }
        ptest.suite { name = "a", cmd = { "echo", "hi" }, description = "says hi", group = "g",
                      limiter = "api", retry = net, estimate = "4s", env = { E = "x" } }
        ptest.suite { name = "b", cmd = "true", enabled = false, depends_on = { "a" } }
        ptest.on("run_finished", function() end)
        "#,
    );
    let v: Value = serde_json::from_str(&list_json(&p)).unwrap();
    assert_eq!(v["workers"], 2);
    assert_eq!(v["workers_source"], "ptest.lua");
    assert_eq!(v["fail_fast"], true);
    assert_eq!(v["grace"], 3.0);
    assert_eq!(v["timeout"], 300.0);
    assert_eq!(v["hooks"], serde_json::json!(["run_finished"]));
    assert_eq!(v["phases"][0]["suites"], serde_json::json!(["a", "b"]));
    assert_eq!(v["phases"][0]["on_failure"], "stop");
    assert_eq!(v["groups"][0]["env"]["G"], "1");
    assert_eq!(v["groups"][0]["suites"], serde_json::json!(["a"]));
    let l = &v["limiters"][0];
    assert_eq!(
        (&l["rate"], &l["per"], &l["burst"], &l["concurrency"]),
        (&4.0.into(), &2.0.into(), &2.into(), &3.into())
    );
    assert_eq!(v["retries"][0]["name"], "net");
    assert_eq!(
        v["retries"][0]["policy"]["on_exit_codes"],
        serde_json::json!([75])
    );
    assert_eq!(v["retries"][0]["policy"]["when"], false);
    let a = &v["suites"][0];
    assert_eq!(a["cmd"], serde_json::json!(["echo", "hi"]));
    assert_eq!(a["description"], "says hi");
    assert_eq!(a["env"]["G"], "1", "group env merged in");
    assert_eq!(a["env"]["E"], "x");
    assert_eq!(a["group"], "g");
    assert_eq!(a["limiter"], "api");
    assert_eq!(a["retry"]["name"], "net");
    assert_eq!(a["retry"]["policy"]["delay"], 1.0);
    assert_eq!(a["estimate"], 4.0);
    assert_eq!(a["expected"], 4.0);
    assert_eq!(a["enabled"], true);
    assert!(
        a["origin"].as_str().unwrap().ends_with("/ptest.lua:6"),
        "{a}"
    );
    assert!(a.get("batch").is_none(), "only batch parts have the key");
    let b = &v["suites"][1];
    assert_eq!(b["cmd"], "true");
    assert_eq!(b["enabled"], false);
    assert_eq!(b["skip_reason"], "disabled");
    assert_eq!(b["depends_on"], serde_json::json!(["a"]));
    assert_eq!(b["retry"], Value::Null);
    assert_eq!(b["estimate"], Value::Null);
}

#[test]
fn plan_without_expected_durations_counts_units_and_says_so() {
    let p = plan(
        r#"
        ptest.config { workers = 2 }
        ptest.suite { name = "a", cmd = "true" }
        ptest.suite { name = "b", cmd = "true", depends_on = { "a" } }
        ptest.suite { name = "c", cmd = "true" }
        "#,
    );
    let text = plan_text(&p);
    assert!(
        text.contains("suites:    3 to run, 0 skipped, 3 declared\n"),
        "{text}"
    );
    assert!(
        text.contains("  1. default  workers 2  3 suites  (on_failure stop)\n"),
        "{text}"
    );
    // The chain a -> b comes first; no "at" column without times.
    assert!(
        text.contains(
            "  phase default\n      1. a  worker 0  expected ? (none)  path 2 units\n      2. c  worker 1  expected ? (none)  path 1 unit\n      3. b  worker 0  expected ? (none)  path 1 unit  after a\n"
        ),
        "{text}"
    );
    assert!(!text.contains("predicted wall time"), "{text}");
    assert!(
        text.ends_with(
            "\nexpected work 3 units; longest chain 2 units; with 2 workers a run takes at least 2 units\n\
             (no history or estimates: every suite counts as 1 unit, so the order follows dependency depth)\n"
        ),
        "{text}"
    );
}

#[test]
fn plan_with_estimates_predicts_start_times_and_a_lower_bound() {
    let p = plan(
        r#"
        ptest.config { workers = 2 }
        local g = ptest.group { name = "serial", max = 1 }
        ptest.suite { name = "g1", cmd = "true", group = g, estimate = 30 }
        ptest.suite { name = "g2", cmd = "true", group = g, estimate = 30 }
        ptest.suite { name = "x", cmd = "true", estimate = 10 }
        "#,
    );
    let text = plan_text(&p);
    assert!(
        text.contains("groups:\n  serial  max 1  2 suites  expected work 1m00s\n"),
        "{text}"
    );
    assert!(
        text.contains("predicted wall time 1m00s (rate limits not simulated)\n"),
        "{text}"
    );
    // The group's work, not the longest chain (30 s) nor work per worker (35 s), bounds it.
    assert!(
        text.contains(
            "expected work 1m10s; longest chain 30.0s; with 2 workers a run takes at least 1m00s\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  at     0ms  worker 0  expected 30.0s (estimate)"),
        "{text}"
    );
    assert!(
        !text.contains("count as the mean"),
        "every suite has an estimate: {text}"
    );
}

#[test]
fn plan_names_the_memory_budget_and_each_suites_memory() {
    let p = plan(
        r#"
        ptest.config { memory = "4GB" }
        ptest.suite { name = "big", cmd = "true", memory = "3GB" }
        ptest.suite { name = "auto", cmd = "true", memory = "auto" }
        ptest.suite { name = "plain", cmd = "true" }
        "#,
    );
    let text = plan_text(&p);
    assert!(
        text.contains("memory:    budget 4.0 GB (ptest.lua), 2 suites counted\n"),
        "{text}"
    );
    assert!(text.contains("  memory 3.0 GB\n"), "{text}");
    assert!(text.contains("  memory auto (no history yet)\n"), "{text}");
    assert!(!plan_text(&plan(r#"ptest.suite { name = "a", cmd = "true" }"#)).contains("memory"));
}

#[test]
fn plan_lists_limiters_with_their_users() {
    let p = plan(
        r#"
        ptest.limiter { name = "api", rate = 10, per = "1m", burst = 3, concurrency = 2 }
        ptest.limiter { name = "idle", rate = 1 }
        ptest.suite { name = "a", cmd = "true", limiter = "api" }
        ptest.suite { name = "b", cmd = "true", limiter = "api" }
        "#,
    );
    let text = plan_text(&p);
    assert!(
        text.contains(
            "limiters:\n  api  10 per 1m00s, burst 3, concurrency 2  (2 suites)\n  idle  1 per 1.0s, burst 1  (0 suites)\n"
        ),
        "{text}"
    );
}

#[test]
fn plan_header_names_where_the_worker_count_came_from() {
    let mut f = Fixture::new(r#"ptest.suite { name = "a", cmd = "true", enabled = false }"#);
    f.overrides.sequential = true;
    let text = plan_text(&f.plan());
    assert!(text.contains("workers:   1 (--sequential)\n"), "{text}");
    assert!(
        text.contains("suites:    0 to run, 1 skipped, 1 declared\n"),
        "{text}"
    );
    let text = plan_text(
        &Fixture::new(r#"ptest.suite { name = "a", cmd = "true" }"#)
            .env("PTEST_DISABLE_PARALLEL", "true")
            .plan(),
    );
    assert!(
        text.contains("workers:   1 (PTEST_DISABLE_PARALLEL)\n"),
        "{text}"
    );
    assert!(text.contains("fail-fast: off\n"), "{text}");
}

#[test]
fn names_that_would_start_a_line_or_reorder_text_are_listed_escaped() {
    // Suite names with control characters are refused when the config loads; what a config
    // may still hold (bidirectional overrides, a batch's items found on disk) is escaped.
    let p = plan(
        r#"ptest.suite { name = "x\u{202e}gpj.exe", cmd = "true", tags = { "\u{2066}t" } }
           ptest.batch { name = "b", items = { "one\n::error file=README.md,line=1::injected" },
             batches = 1, cmd = { "true", "{items}" } }"#,
    );
    for text in [list_text(&p), plan_text(&p)] {
        for line in text.lines() {
            assert!(!line.trim_start().starts_with("::"), "{text}");
        }
        assert!(!text.contains(['\u{202e}', '\u{2066}']), "{text}");
        assert!(text.contains("x\\u{202e}gpj.exe"), "{text}");
    }
    let list = list_text(&p);
    assert!(list.contains("tags: \\u{2066}t"), "{list}");
    assert!(
        list.contains("one\\n::error file=README.md,line=1::injected"),
        "{list}"
    );
}
