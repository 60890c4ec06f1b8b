//! Running the plan (DESIGN §3): phase barriers, group caps, dependency order and skips, `serial`,
//! `slots`, worker indexes, no slot held while waiting, `on_failure` and `always` phases, checked
//! against what the probes recorded.

use crate::probe::{Probed, skip_reason, status, suite};

#[test]
fn phases_are_barriers() {
    let p = Probed::new(
        r#"
local phases = { ptest.phase { name = "p1" }, ptest.phase { name = "p2" }, ptest.phase { name = "p3" } }
local secs = { 0.1, 0.4, 0.2 }
for k, ph in ipairs(phases) do
  for i = 1, 3 do
    local name = "p" .. k .. "s" .. i
    -- Phase p2's three meet, so the overlap below does not depend on how fast the machine is.
    ptest.suite { name = name, phase = ph, cmd = probe(name, secs[i], 0, k == 2 and "p2:3" or nil) }
  end
end
ptest.phase { name = "off", enabled = false }
ptest.suite { name = "disabled-phase", phase = "off", cmd = probe("never", 0) }
ptest.suite { name = "disabled-suite", enabled = false, phase = "p1", cmd = probe("never", 0) }
"#,
    );
    let run = p.run(&["-j", "4"]);
    assert_eq!(run.out.code, 0, "{}", run.out.stderr);
    let s = &run.spans;
    assert_eq!(s.all.len(), 9);
    for k in 1..3 {
        for i in 1..=3 {
            for j in 1..=3 {
                let before = s.get(&format!("p{k}s{i}"));
                let after = s.get(&format!("p{}s{j}", k + 1));
                assert!(
                    before.end() < after.start,
                    "{} ended after {} started",
                    before.name,
                    after.name
                );
            }
        }
    }
    // Inside a phase the suites did run side by side.
    assert_eq!(s.max_overlap(&["p2s1", "p2s2", "p2s3"]), 3);
    s.assert_workers_exclusive(4);
    let r = p.report();
    assert_eq!(status(&r, "disabled-phase"), "skipped");
    assert_eq!(skip_reason(&r, "disabled-phase"), "phase \"off\" disabled");
    assert_eq!(skip_reason(&r, "disabled-suite"), "disabled");
    assert!(!s.ran("never"));
}

#[test]
fn group_cap_is_never_exceeded() {
    let p = Probed::new(
        r#"
local g = ptest.group { name = "db", max = 2 }
for i = 1, 6 do
  ptest.suite { name = "g" .. i, group = g, cmd = probe("g" .. i, 0.3, 0, "g:2") }
end
for i = 1, 2 do
  ptest.suite { name = "free" .. i, cmd = probe("free" .. i, 0.3) }
end
"#,
    );
    let run = p.run(&["-j", "4"]);
    assert_eq!(run.out.code, 0, "{}", run.out.stderr);
    let group = ["g1", "g2", "g3", "g4", "g5", "g6"];
    assert_eq!(run.spans.of(&group).count(), 6);
    assert_eq!(run.spans.max_overlap(&group), 2, "{:#?}", run.spans);
    run.spans.assert_workers_exclusive(4);
    // The cap holds the group back, not the suites outside it.
    for f in ["free1", "free2"] {
        assert!(run.spans.get(f).start < run.spans.get("g3").start);
    }
}

#[test]
fn dependencies_run_in_order_and_failures_skip_dependents_transitively() {
    let p = Probed::new(
        r#"
ptest.suite { name = "a", cmd = probe("a", 0.3) }
ptest.suite { name = "b", cmd = probe("b", 0.1), depends_on = { "a" } }
ptest.suite { name = "c", cmd = probe("c", 0.2), depends_on = { "a" } }
ptest.suite { name = "d", cmd = probe("d", 0.1), depends_on = { "b", "c" } }
ptest.suite { name = "bad", cmd = probe("bad", 0.1, 3) }
ptest.suite { name = "after-bad", cmd = probe("after-bad", 0), depends_on = { "bad" } }
ptest.suite { name = "after-after", cmd = probe("after-after", 0), depends_on = { "after-bad" } }
ptest.suite { name = "also-d", cmd = probe("also-d", 0), depends_on = { "d", "after-after" } }
ptest.suite { name = "slow", cmd = "sleep 30", timeout = "1s" }
ptest.suite { name = "after-slow", cmd = probe("after-slow", 0), depends_on = { "slow" } }
ptest.suite { name = "off", enabled = false, cmd = probe("off", 0) }
ptest.suite { name = "needs-off", cmd = probe("needs-off", 0), depends_on = { "off" } }
ptest.suite { name = "needs-needs-off", cmd = probe("nno", 0), depends_on = { "needs-off" } }
"#,
    );
    let run = p.run(&["-j", "3"]);
    assert_eq!(run.out.code, 1, "{}", run.out.stdout);
    let s = &run.spans;
    let (a, b, c, d) = (s.get("a"), s.get("b"), s.get("c"), s.get("d"));
    assert!(a.end() < b.start && a.end() < c.start);
    assert!(b.end() < d.start && c.end() < d.start);
    for never in [
        "after-bad",
        "after-after",
        "also-d",
        "after-slow",
        "off",
        "needs-off",
        "nno",
    ] {
        assert!(!s.ran(never), "{never} ran");
    }
    s.assert_workers_exclusive(3);

    let r = p.report();
    assert_eq!(status(&r, "d"), "passed");
    assert_eq!(status(&r, "bad"), "failed");
    assert_eq!(suite(&r, "bad")["return_code"], 3);
    assert_eq!(status(&r, "slow"), "timed_out");
    for (name, reason) in [
        ("after-bad", "dependency \"bad\" failed"),
        ("after-after", "dependency \"bad\" failed"),
        ("also-d", "dependency \"bad\" failed"),
        ("after-slow", "dependency \"slow\" failed"),
        ("needs-off", "dependency \"off\" was skipped"),
        ("needs-needs-off", "dependency \"off\" was skipped"),
    ] {
        assert_eq!(status(&r, name), "skipped");
        assert_eq!(skip_reason(&r, name), reason, "{name}");
    }
}

#[test]
fn serial_suite_runs_alone() {
    let p = Probed::new(
        r#"
for i = 1, 3 do ptest.suite { name = "before" .. i, cmd = probe("before" .. i, 0.3, 0, "before:3") } end
ptest.suite { name = "alone", serial = true, cmd = probe("alone", 0.3) }
for i = 1, 3 do ptest.suite { name = "after" .. i, cmd = probe("after" .. i, 0.3) } end
"#,
    );
    let run = p.run(&["-j", "3"]);
    assert_eq!(run.out.code, 0, "{}", run.out.stderr);
    let s = &run.spans;
    assert_eq!(s.all.len(), 7);
    let alone = s.get("alone");
    for other in s.all.iter().filter(|o| o.name != "alone") {
        assert!(
            !alone.overlaps(other),
            "{} ran with the serial suite",
            other.name
        );
    }
    assert_eq!(alone.worker(), 0);
    // Everything else did use the three workers.
    assert_eq!(s.max_overlap(&["before1", "before2", "before3"]), 3);
    s.assert_workers_exclusive(3);
}

#[test]
fn slots_count_against_the_worker_pool() {
    let p = Probed::new(
        r#"
ptest.suite { name = "big", slots = 2, cmd = probe("big", 0.6) }
ptest.suite { name = "huge", slots = 99, cmd = probe("huge", 0.2) }
for i = 1, 4 do ptest.suite { name = "small" .. i, cmd = probe("small" .. i, 0.3) } end
"#,
    );
    let run = p.run(&["-j", "3"]);
    assert_eq!(run.out.code, 0, "{}", run.out.stderr);
    let s = &run.spans;
    let weight = |name: &str| match name {
        "big" => 2,
        "huge" => 3, // capped at the worker count
        _ => 1,
    };
    for at in &s.all {
        let load: u32 = s
            .all
            .iter()
            .filter(|o| o.start <= at.start && o.end() > at.start)
            .map(|o| weight(&o.name))
            .sum();
        assert!(load <= 3, "{load} slots in use when {} started", at.name);
    }
    let big = s.get("big");
    assert!(
        s.all
            .iter()
            .any(|o| o.name.starts_with("small") && o.overlaps(big)),
        "one slot was left for a small suite beside big"
    );
    s.assert_workers_exclusive(3);
}

/// DESIGN §3 rule 1: 2 workers, a group of 3 suites that must run one at a time, and 3
/// independent suites. A scheduler that let waiting group members hold a slot would run the
/// independents only after the group; ptest runs them alongside.
#[test]
fn no_slot_is_held_while_waiting_for_a_group() {
    let p = Probed::new(
        r#"
local g = ptest.group { name = "one-at-a-time", max = 1 }
for i = 1, 3 do ptest.suite { name = "g" .. i, group = g, cmd = probe("g" .. i, 0.5) } end
for i = 1, 3 do ptest.suite { name = "i" .. i, cmd = probe("i" .. i, 0.5) } end
"#,
    );
    let run = p.run(&["-j", "2"]);
    assert_eq!(run.out.code, 0, "{}", run.out.stderr);
    let s = &run.spans;
    let group = ["g1", "g2", "g3"];
    assert_eq!(s.max_overlap(&group), 1);
    let last_group_end = s.of(&group).map(crate::probe::Span::end).max().unwrap();
    for i in ["i1", "i2", "i3"] {
        assert!(
            s.get(i).start < last_group_end,
            "{i} waited for the whole group: {s:#?}"
        );
    }
    s.assert_workers_exclusive(2);
}

#[test]
fn worker_indexes_are_never_shared() {
    let p = Probed::new(
        r#"
local g = ptest.group { name = "pair", max = 2 }
for i = 1, 12 do
  ptest.suite {
    name = "s" .. i, group = (i % 3 == 0) and g or nil,
    slots = (i % 5 == 0) and 2 or 1,
    cmd = probe("s" .. i, (i % 4) * 0.1),
  }
end
"#,
    );
    let run = p.run(&["-j", "3"]);
    assert_eq!(run.out.code, 0, "{}", run.out.stderr);
    assert_eq!(run.spans.all.len(), 12);
    run.spans.assert_workers_exclusive(3);
    let r = p.report();
    for span in &run.spans.all {
        assert_eq!(
            suite(&r, &span.name)["worker"].as_u64(),
            Some(u64::from(span.worker())),
            "the report's worker is the one the suite saw"
        );
    }
}

#[test]
fn a_failed_phase_stops_later_phases_but_not_always_phases() {
    let p = Probed::new(
        r#"
ptest.phase { name = "core" }
ptest.phase { name = "main" }
ptest.phase { name = "teardown", always = true }
ptest.suite { name = "core-ok", phase = "core", cmd = probe("core-ok", 0.2) }
ptest.suite { name = "core-bad", phase = "core", cmd = probe("core-bad", 0, 1) }
ptest.suite { name = "main1", phase = "main", cmd = probe("main1", 0) }
ptest.suite { name = "stop-db", phase = "teardown", cmd = probe("stop-db", 0) }
"#,
    );
    let run = p.run(&["-j", "2"]);
    assert_eq!(run.out.code, 1);
    let s = &run.spans;
    assert!(!s.ran("main1"));
    // The failing phase finished its other suites before the teardown.
    assert!(s.get("core-ok").end() < s.get("stop-db").start);
    let r = p.report();
    assert_eq!(status(&r, "core-ok"), "passed");
    assert_eq!(skip_reason(&r, "main1"), "phase \"core\" failed");
    assert_eq!(status(&r, "stop-db"), "passed");
}

#[test]
fn on_failure_continue_runs_later_phases() {
    let p = Probed::new(
        r#"
ptest.phase { name = "lint", on_failure = "continue" }
ptest.phase { name = "unit" }
ptest.suite { name = "style", phase = "lint", cmd = probe("style", 0.1, 1) }
ptest.suite { name = "u1", phase = "unit", cmd = probe("u1", 0) }
ptest.suite { name = "u2", phase = "unit", cmd = probe("u2", 0) }
"#,
    );
    let run = p.run(&["-j", "2"]);
    assert_eq!(run.out.code, 1, "a failure still fails the run");
    let s = &run.spans;
    assert!(s.get("style").end() < s.get("u1").start);
    let r = p.report();
    assert_eq!(status(&r, "style"), "failed");
    assert_eq!(status(&r, "u1"), "passed");
    assert_eq!(status(&r, "u2"), "passed");
}

#[test]
fn fail_fast_cancels_running_suites_and_skips_the_rest() {
    let p = Probed::new(
        r#"
ptest.config { grace = "2s" }
ptest.phase { name = "main" }
ptest.phase { name = "later" }
ptest.phase { name = "teardown", always = true }
ptest.suite { name = "bad", phase = "main", cmd = probe("bad", 0.3, 1) }
ptest.suite { name = "long", phase = "main", cmd = probe("long", 30) }
ptest.suite { name = "queued1", phase = "main", cmd = probe("queued1", 0) }
ptest.suite { name = "queued2", phase = "main", cmd = probe("queued2", 0) }
ptest.suite { name = "next", phase = "later", cmd = probe("next", 0) }
ptest.suite { name = "stop-db", phase = "teardown", cmd = probe("stop-db", 0) }
"#,
    );
    let (run, took) = crate::probe::timed(&p, &["-j", "2", "-x"]);
    assert_eq!(run.out.code, 1, "{}", run.out.stdout);
    assert!(took.as_secs() < 10, "fail-fast took {took:?}");
    let s = &run.spans;
    assert!(
        s.get("long").end.is_none(),
        "long was stopped, not finished"
    );
    for never in ["queued1", "queued2", "next"] {
        assert!(!s.ran(never), "{never} started after the failure");
    }
    assert!(s.get("stop-db").end.is_some(), "the always phase still ran");
    s.assert_no_process_left();

    let r = p.report();
    assert_eq!(status(&r, "bad"), "failed");
    assert_eq!(status(&r, "long"), "cancelled");
    for name in ["queued1", "queued2", "next"] {
        assert_eq!(status(&r, name), "skipped");
        assert_eq!(skip_reason(&r, name), "fail-fast");
    }
    assert_eq!(status(&r, "stop-db"), "passed");
    assert_eq!(r["summary"]["cancelled"], 1);
    assert_eq!(r["summary"]["skipped"], 3);
    assert!(run.out.stdout.contains("fail-fast"));
}

#[test]
fn fail_fast_from_the_config_and_its_override() {
    let body = r#"
ptest.config { fail_fast = true }
ptest.suite { name = "bad", cmd = probe("bad", 0, 1) }
ptest.suite { name = "after", cmd = probe("after", 0), depends_on = {} }
"#;
    let p = Probed::new(body);
    let run = p.run(&["-j", "1"]);
    assert_eq!(run.out.code, 1);
    assert!(!run.spans.ran("after"));
    assert_eq!(skip_reason(&p.report(), "after"), "fail-fast");

    let p = Probed::new(body);
    let run = p.run(&["-j", "1", "--no-fail-fast"]);
    assert_eq!(run.out.code, 1);
    assert!(run.spans.ran("after"));
    assert_eq!(status(&p.report(), "after"), "passed");
}

/// DESIGN §2: the worker slot is released while a retry waits for its backoff.
#[test]
fn a_retry_waiting_for_its_backoff_holds_no_slot() {
    let p = Probed::new(
        r#"
local later = ptest.retry { attempts = 2, delay = "1s" }
ptest.suite {
  name = "flaky", retry = later,
  cmd = probe("flaky", 0) .. " && test \"$PTEST_ATTEMPT\" = 2",
}
ptest.suite { name = "other", cmd = probe("other", 0.2) }
"#,
    );
    let run = p.run(&["-j", "1"]);
    assert_eq!(run.out.code, 0, "{}", run.out.stdout);
    let flaky: Vec<_> = run.spans.all.iter().filter(|s| s.name == "flaky").collect();
    assert_eq!(flaky.len(), 2);
    let other = run.spans.get("other");
    assert!(
        flaky[0].end() < other.start && other.end() < flaky[1].start,
        "other ran during the backoff: {:#?}",
        run.spans
    );
    assert_eq!(status(&p.report(), "flaky"), "flaky");
}
