//! The terminal sink without a live view: the header, one line per event, the summary.

use std::fmt::Write;
use std::time::Duration;

use super::{Capture, entry, record_of, result, run_info, with_log};
use crate::event::{Event, LimiterStats, Sink, Status, SuiteResult};
use crate::plan::Plan;
use crate::plan::tests::{by_name, plan};
use crate::report::style::Styles;
use crate::report::terminal::{Terminal, Verbosity};

const PLAIN: Styles = Styles { enabled: false };

fn terminal(verbosity: Verbosity, styles: Styles) -> (Terminal, Capture) {
    let out = Capture::default();
    (
        Terminal::with_writer(styles, verbosity, Box::new(out.clone())),
        out,
    )
}

/// What the terminal prints for these events, without colour.
fn printed(plan: &Plan, verbosity: Verbosity, events: &[Event<'_>]) -> String {
    let (mut t, out) = terminal(verbosity, PLAIN);
    let run = run_info(plan);
    for e in events {
        t.event(plan, &run, e);
    }
    out.text()
}

fn finished(plan: &Plan, results: &[SuiteResult], interrupted: bool) -> String {
    finished_with(plan, results, interrupted, &[])
}

fn finished_with(
    plan: &Plan,
    results: &[SuiteResult],
    interrupted: bool,
    limiters: &[LimiterStats],
) -> String {
    let record = record_of(plan, results, 10.0, interrupted, limiters);
    printed(
        plan,
        Verbosity::Normal,
        &[Event::RunFinished {
            results,
            record: &record,
        }],
    )
}

const THREE: &str = r#"
    ptest.config { workers = 3 }
    ptest.suite { name = "a", cmd = "true", category = "unit" }
    ptest.suite { name = "b", cmd = "true", category = "unit" }
    ptest.suite { name = "c", cmd = "true", category = "e2e" }
"#;

#[test]
fn the_header_counts_suites_by_category_and_names_the_settings() {
    let p = plan(THREE);
    let text = printed(&p, Verbosity::Normal, &[Event::RunStarted]);
    assert_eq!(
        text,
        format!(
            "ptest: 3 suites (e2e 1, unit 2), 3 workers (ptest.lua), fail-fast off, logs in {}/  run run-1\n",
            p.log_dir.display()
        )
    );
}

#[test]
fn the_header_says_apart_what_is_skipped_before_the_start_and_why() {
    let p = plan(
        r#"
        ptest.config { workers = 1, fail_fast = true }
        ptest.phase { name = "off", enabled = false }
        ptest.suite { name = "a", cmd = "true" }
        ptest.suite { name = "b", cmd = "true", enabled = false }
        ptest.suite { name = "c", cmd = "true", enabled = false }
        ptest.suite { name = "d", cmd = "true", phase = "off" }
        "#,
    );
    let text = printed(&p, Verbosity::Normal, &[Event::RunStarted]);
    assert!(
        text.starts_with(
            "ptest: 4 suites, 1 to run (default 1), 3 skipped (disabled, phase \"off\" disabled), 1 worker (ptest.lua), fail-fast on, logs in "
        ),
        "{text}"
    );
}

#[test]
fn one_line_per_start_retry_slow_and_finish() {
    let p = plan(
        r#"
        ptest.suite { name = "net", cmd = "true", retry = 2 }
        "#,
    );
    let id = by_name(&p, "net").id;
    let text = printed(
        &p,
        Verbosity::Normal,
        &[
            Event::SuiteStarted {
                id,
                attempt: 1,
                worker: 0,
            },
            Event::SuiteRetrying {
                id,
                attempt: 1,
                delay: Duration::from_millis(1500),
                reason: "exit code 75",
            },
            Event::SuiteStarted {
                id,
                attempt: 2,
                worker: 1,
            },
            Event::SuiteSlow {
                id,
                elapsed: Duration::from_secs(70),
                expected: Duration::from_secs(20),
            },
        ],
    );
    assert_eq!(
        text,
        "START   net  worker 0\n\
         RETRY   net  attempt 1/3 failed (exit code 75), retrying in 1.5s\n\
         START   net  worker 1  attempt 2/3\n\
         SLOW    net  running for 1m10s, expected 20.0s\n"
    );
}

#[test]
fn each_status_has_its_finish_line() {
    let p = plan(
        r#"
        ptest.suite { name = "ok", cmd = "true" }
        ptest.suite { name = "shaky", cmd = "true", retry = 2 }
        ptest.suite { name = "bad", cmd = "true" }
        ptest.suite { name = "slow", cmd = "true" }
        ptest.suite { name = "stopped", cmd = "true" }
        ptest.suite { name = "never", cmd = "true" }
        "#,
    );
    let line = |name: &str, status: Status| {
        let r = result(&p, name, status, 4.2);
        printed(
            &p,
            Verbosity::Normal,
            &[Event::SuiteFinished {
                result: &r,
                entry: &entry(&p, &r),
            }],
        )
    };
    let log = |name: &str| p.log_dir.join(format!("{name}.log")).display().to_string();
    assert_eq!(line("ok", Status::Passed), "PASS    ok  4.2s\n");
    assert_eq!(
        line("shaky", Status::Flaky),
        "FLAKY   shaky  4.2s  passed on attempt 2/3\n"
    );
    assert_eq!(
        line("bad", Status::Failed),
        format!("FAIL    bad  4.2s  exit code 3  {}\n", log("bad"))
    );
    assert_eq!(
        line("slow", Status::TimedOut),
        format!("TIMEOUT slow  4.2s  timed out after 2m  {}\n", log("slow"))
    );
    assert_eq!(
        line("stopped", Status::Cancelled),
        format!("CANCEL  stopped  4.2s  cancelled  {}\n", log("stopped"))
    );
    assert_eq!(
        line("never", Status::Skipped),
        "SKIP    never  dependency \"x\" failed\n"
    );
}

#[test]
fn quiet_prints_the_summary_warnings_and_stops_only() {
    let p = plan(THREE);
    let a = result(&p, "a", Status::Passed, 1.0);
    let id = a.id;
    let record = record_of(&p, std::slice::from_ref(&a), 1.0, false, &[]);
    let text = printed(
        &p,
        Verbosity::Quiet,
        &[
            Event::RunStarted,
            Event::SuiteStarted {
                id,
                attempt: 1,
                worker: 0,
            },
            Event::SuiteFinished {
                result: &a,
                entry: &record.suites[0],
            },
            Event::Warning {
                message: "hook \"suite_finished\" failed: boom",
            },
            Event::Stopping {
                reason: crate::event::CancelReason::FailFast,
            },
            Event::RunFinished {
                results: std::slice::from_ref(&a),
                record: &record,
            },
        ],
    );
    assert_eq!(
        text,
        "warning: hook \"suite_finished\" failed: boom\n\
         fail-fast: cancelling running suites, skipping the rest (always phases still run)\n\
         \n\
         Summary: 1 suite: 1 passed\n\
         Wall 1.0s for 1 suite; the suites' own time 1.0s\n"
    );
}

#[test]
fn an_interrupt_says_how_to_kill_at_once() {
    let p = plan(THREE);
    let text = printed(
        &p,
        Verbosity::Normal,
        &[Event::Stopping {
            reason: crate::event::CancelReason::Interrupted,
        }],
    );
    assert_eq!(
        text,
        "interrupted: cancelling running suites, skipping the rest (Ctrl-C again to kill at once; always phases still run)\n"
    );
}

#[test]
fn the_summary_counts_what_happened_and_says_what_the_wall_time_paid_for() {
    let p = plan(THREE);
    let results = [
        result(&p, "a", Status::Passed, 8.0),
        result(&p, "b", Status::Passed, 7.0),
        result(&p, "c", Status::Passed, 5.0),
    ];
    assert_eq!(
        finished(&p, &results, false),
        "\nSummary: 3 suites: 3 passed\n\
         Wall 10.0s for 3 suites; the suites' own time 20.0s\n\
         Slowest: a 8.0s, b 7.0s, c 5.0s\n"
    );
}

#[test]
fn the_summary_names_only_the_counts_above_zero_in_severity_order() {
    let p = plan(
        r#"
        for _, n in ipairs { "p", "f", "t", "c", "s", "k" } do
          ptest.suite { name = n, cmd = "true", retry = 1 }
        end
        "#,
    );
    let results = [
        result(&p, "p", Status::Passed, 1.0),
        result(&p, "f", Status::Failed, 1.0),
        result(&p, "t", Status::TimedOut, 1.0),
        result(&p, "c", Status::Cancelled, 1.0),
        result(&p, "s", Status::Skipped, 0.0),
        result(&p, "k", Status::Flaky, 1.0),
    ];
    let text = finished(&p, &results, false);
    assert!(
        text.starts_with(
            "\nSummary: 6 suites: 1 passed, 1 flaky, 1 failed, 1 timed out, 1 cancelled, 1 skipped\n"
        ),
        "{text}"
    );
    // The flaky one with what failed before, the failures with their message and log.
    assert!(
        text.contains(
            "\nFlaky suites (passed on a retry):\n  k  2 attempts (before: exit code 1)\n"
        ),
        "{text}"
    );
    let log = |n: &str| p.log_dir.join(format!("{n}.log")).display().to_string();
    assert!(
        text.ends_with(&format!(
            "\nFailures:\n✗ f  exit code 3  {}\n✗ t  timed out after 2m  {}\n",
            log("f"),
            log("t")
        )),
        "{text}"
    );
    assert!(!text.contains("✗ c "), "a cancelled suite is not a failure");
}

#[test]
fn slowest_lists_at_most_five_that_ran_longest_first() {
    let p = plan(
        r#"
        for i = 1, 7 do ptest.suite { name = "s" .. i, cmd = "true" } end
        "#,
    );
    let mut results: Vec<SuiteResult> = (1..=6)
        .map(|i| result(&p, &format!("s{i}"), Status::Passed, f64::from(i)))
        .collect();
    results.push(result(&p, "s7", Status::Skipped, 0.0));
    let text = finished(&p, &results, false);
    assert!(
        text.contains("\nSlowest: s6 6.0s, s5 5.0s, s4 4.0s, s3 3.0s, s2 2.0s\n"),
        "{text}"
    );
    // One suite that ran is no ranking.
    let one = [result(&p, "s1", Status::Passed, 1.0)];
    assert!(!finished(&p, &one, false).contains("Slowest"));
}

#[test]
fn an_interrupted_run_says_so() {
    let p = plan(THREE);
    let results = [
        result(&p, "a", Status::Cancelled, 3.0),
        result(&p, "b", Status::Skipped, 0.0),
    ];
    let text = finished(&p, &results, true);
    assert!(
        text.contains(
            "Wall 10.0s for 2 suites; the suites' own time 3.0s\nInterrupted: running suites were cancelled, the rest skipped.\n"
        ),
        "{text}"
    );
    assert!(!text.contains("speedup"), "{text}");
}

#[test]
fn limiters_report_what_they_granted_and_what_changed() {
    let p = plan(
        r#"
        ptest.limiter { name = "api", rate = 10, per = "1s" }
        ptest.limiter { name = "db", rate = 2, max_throttled = 3, adaptive = true }
        ptest.suite { name = "a", cmd = "true" }
        "#,
    );
    let stats = [
        LimiterStats {
            acquired: 12,
            waited: Duration::from_millis(2500),
            throttled: 0,
            rate: 10.0,
            serialized: false,
        },
        LimiterStats {
            acquired: 4,
            waited: Duration::ZERO,
            throttled: 5,
            rate: 0.5,
            serialized: true,
        },
    ];
    let results = [result(&p, "a", Status::Passed, 1.0)];
    let text = finished_with(&p, &results, false, &stats);
    assert!(
        text.contains("\nLimiter api: 12 acquired, waited 2.5s, 0 throttled\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "\nLimiter db: 4 acquired, waited 0ms, 5 throttled, rate lowered to 0.50 per 1.0s, more than 3 throttled: its suites ran one at a time\n"
        ),
        "{text}"
    );
}

#[test]
fn a_failure_shows_the_last_fifteen_lines_of_its_last_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(THREE);
    let log = (1..=20).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "line {i}");
        s
    });
    let r = with_log(result(&p, "a", Status::Failed, 1.0), dir.path(), &log);
    let text = finished(&p, &[r], false);
    let tail: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("    | "))
        .collect();
    let want: Vec<String> = (6..=20).map(|i| format!("line {i}")).collect();
    assert_eq!(tail, want);
    assert!(!text.contains("header"), "the attempt header is not output");
}

#[test]
fn failures_with_the_same_output_show_it_once() {
    // Three parts that failed on one conftest.py's import (ptest's own line differs), and one
    // that failed otherwise.
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        r#"
        for _, n in ipairs { "a", "b", "c", "d" } do ptest.suite { name = n, cmd = "true" } end
        "#,
    );
    let conftest = |start: &str| {
        format!(
            "ptest: warm start: this part is a fork of pid 7, {start} s after it asked\n\
             ImportError while loading conftest 'tests/conftest.py'.\n\
             E   ModuleNotFoundError: No module named 'nope'\n"
        )
    };
    let logs = [
        ("a", conftest("0.5")),
        ("b", "something else broke\n".to_owned()),
        ("c", conftest("0.02")),
        ("d", conftest("0.03")),
    ];
    let results: Vec<SuiteResult> = logs
        .iter()
        .map(|(n, log)| {
            let sub = dir.path().join(n);
            std::fs::create_dir_all(&sub).unwrap();
            with_log(result(&p, n, Status::Failed, 1.0), &sub, log)
        })
        .collect();
    let text = finished(&p, &results, false);
    let failures = &text[text.find("Failures:").expect("failures")..];
    assert_eq!(
        failures.matches("No module named 'nope'").count(),
        1,
        "{text}"
    );
    assert_eq!(
        failures.matches("something else broke").count(),
        1,
        "{text}"
    );
    for n in ["c", "d"] {
        let at = failures.find(&format!("\n✗ {n} ")).expect("listed");
        let next = failures[at + 1..].lines().nth(1).unwrap_or_default();
        assert_eq!(next, "    | (the same output as a)", "{text}");
    }
}

#[test]
fn colour_from_a_log_is_never_shown_as_codes() {
    // The record keeps tails without colour codes, for every report alike.
    let dir = tempfile::tempdir().unwrap();
    let p = plan(THREE);
    let r = with_log(
        result(&p, "a", Status::Failed, 1.0),
        dir.path(),
        "\x1b[31mred error\x1b[0m\x1b[2K\n",
    );
    let record = record_of(&p, std::slice::from_ref(&r), 1.0, false, &[]);
    let event = Event::RunFinished {
        results: std::slice::from_ref(&r),
        record: &record,
    };
    for enabled in [false, true] {
        let (mut t, out) = terminal(Verbosity::Normal, Styles { enabled });
        t.event(&p, &run_info(&p), &event);
        let text = out.text();
        assert!(text.contains(" red error\n"), "{text:?}");
        assert!(!text.contains("[31mred"), "{text:?}");
    }
}

#[test]
fn colour_is_applied_after_padding() {
    let p = plan(THREE);
    let r = result(&p, "a", Status::Passed, 1.0);
    let (mut t, out) = terminal(Verbosity::Normal, Styles { enabled: true });
    t.event(
        &p,
        &run_info(&p),
        &Event::SuiteFinished {
            result: &r,
            entry: &entry(&p, &r),
        },
    );
    let text = out.text();
    // The padded label inside the colour codes, so columns line up as without colour.
    assert!(text.contains("PASS   \x1b[39m a  1.0s"), "{text:?}");
    assert_eq!(
        String::from_utf8(strip_ansi_escapes::strip(text.as_bytes())).unwrap(),
        "PASS    a  1.0s\n"
    );
}

#[test]
fn failed_tests_of_a_batch_are_named_up_to_twenty() {
    let p = plan(
        r#"ptest.batch { name = "py", items = { "tests/test_x.py" }, batches = 1,
             cmd = { "true", "{items}" }, results = "r.xml" }"#,
    );
    let mut r = result(&p, "py[1]", Status::Failed, 1.0);
    r.testcases = (1..=22)
        .map(|i| crate::batch::results::TestCase {
            message: Some(format!("assert {i} == 0\nmore")),
            ..super::test_case(
                &format!("test_{i}"),
                Some("tests/test_x.py"),
                if i == 1 {
                    crate::batch::results::Outcome::Passed
                } else {
                    crate::batch::results::Outcome::Failed
                },
            )
        })
        .collect();
    let text = finished(&p, &[r], false);
    let named: Vec<&str> = text.lines().filter(|l| l.starts_with("    ✗ ")).collect();
    assert_eq!(named.len(), 20);
    assert_eq!(
        named[0],
        "    ✗ tests/test_x.py::test_2 failed: assert 2 == 0"
    );
    assert!(
        text.contains("    ... and 1 more failed tests (see the JUnit report or the log)\n"),
        "{text}"
    );
}

#[test]
fn verbose_echo_prefixes_each_line_with_the_suite() {
    let (t, out) = terminal(Verbosity::Verbose, PLAIN);
    let echo = t.echo();
    echo.line("unit", b"collected 3 items");
    echo.line("lint", b"\xff raw bytes");
    assert_eq!(
        out.0.lock().unwrap().as_slice(),
        b"unit | collected 3 items\nlint | \xff raw bytes\n"
    );
}
