//! The worker count and where it came from, as `ptest plan` shows it: command line >
//! environment (`PTEST_WORKERS`, then `PTEST_DISABLE_PARALLEL=true`) > `ptest.lua` > auto; per-phase
//! counts; `slots` against them.

use crate::harness::{Project, list_json};

/// The logical CPUs ptest sees, from `ptest.sys.cpus`.
fn cpus() -> u32 {
    let p = Project::new("print(ptest.sys.cpus)");
    p.run(&["list"]).stderr.trim().parse().unwrap()
}

/// The `workers:` line of `ptest plan`.
fn workers_line(p: &Project, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut a = vec!["plan"];
    a.extend_from_slice(args);
    let out = p.run_env(&a, env);
    assert_eq!(out.code, 0, "{args:?} {env:?}: {}", out.stderr);
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("workers:   "))
        .unwrap_or_else(|| panic!("no workers line in {}", out.stdout))
        .to_owned()
}

/// Command-line arguments, environment, and the expected `workers:` line.
type Row<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], String);

const LUA_3: &str = "ptest.config { workers = 3 }\nptest.suite { name = \"a\", cmd = \"true\" }\n";

#[test]
fn precedence_table() {
    let n = cpus();
    let p = Project::new(LUA_3);
    let env_w = [("PTEST_WORKERS", "5")];
    let env_d = [("PTEST_DISABLE_PARALLEL", "true")];
    let both = [("PTEST_WORKERS", "5"), ("PTEST_DISABLE_PARALLEL", "true")];
    let rows: Vec<Row<'_>> = vec![
        // The command line beats everything.
        (&["-j", "7"], &both, "7 (--jobs)".into()),
        (&["--jobs", "auto"], &both, format!("{n} (--jobs)")),
        (&["--sequential"], &both, "1 (--sequential)".into()),
        (&["-j", "1"], &[], "1 (--jobs)".into()),
        // Then the environment: PTEST_WORKERS before PTEST_DISABLE_PARALLEL.
        (&[], &both, "5 (PTEST_WORKERS)".into()),
        (&[], &env_w, "5 (PTEST_WORKERS)".into()),
        (
            &[],
            &[("PTEST_WORKERS", "auto")],
            format!("{n} (PTEST_WORKERS)"),
        ),
        (&[], &env_d, "1 (PTEST_DISABLE_PARALLEL)".into()),
        (
            &[],
            &[("PTEST_DISABLE_PARALLEL", "1")],
            "1 (PTEST_DISABLE_PARALLEL)".into(),
        ),
        (
            &[],
            &[("PTEST_DISABLE_PARALLEL", "false")],
            "3 (ptest.lua)".into(),
        ),
        (&[], &[("PTEST_WORKERS", "")], "3 (ptest.lua)".into()),
        // Then ptest.lua.
        (&[], &[], "3 (ptest.lua)".into()),
    ];
    for (args, env, expected) in rows {
        assert_eq!(workers_line(&p, args, env), expected, "{args:?} {env:?}");
    }
    // Then auto: the CPUs ptest may use.
    let p = Project::new("ptest.suite { name = \"a\", cmd = \"true\" }\n");
    assert_eq!(
        workers_line(&p, &[], &[]),
        format!("{n} (auto: usable CPUs)")
    );
    let p = Project::new("ptest.config { workers = \"auto\" }\n");
    assert_eq!(workers_line(&p, &[], &[]), format!("{n} (ptest.lua)"));
    let p = Project::new("ptest.config { workers = function(sys) return sys.cpus + 1 end }\n");
    assert_eq!(workers_line(&p, &[], &[]), format!("{} (ptest.lua)", n + 1));
}

#[test]
fn bad_worker_counts_from_the_environment_and_command_line() {
    let p = Project::new(LUA_3);
    let out = p.run_env(&["plan"], &[("PTEST_WORKERS", "many")]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert_eq!(
        out.stderr.trim(),
        r#"error: PTEST_WORKERS: expected a positive integer or "auto", got "many""#
    );
    let out = p.run_env(&["plan"], &[("PTEST_WORKERS", "0")]);
    assert_eq!(out.code, 2);
    // Config errors come first: a bad PTEST_WORKERS must not hide them.
    let broken = Project::new("ptest.suite { name = \"a\", cmd = \"true\", depends_on = \"b\" }");
    let out = broken.run_env(&["plan"], &[("PTEST_WORKERS", "many")]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        r#"ptest.lua:1: suite "a": depends_on: unknown suite "b""#
    );
    // A command-line count wins, so a bad environment value does not matter then.
    assert_eq!(
        workers_line(&p, &["-j", "2"], &[("PTEST_WORKERS", "many")]),
        "2 (--jobs)"
    );
    let out = p.run(&["plan", "-j", "0"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr
            .contains("expected a positive integer or \"auto\", got \"0\""),
        "{}",
        out.stderr
    );
}

const PHASES: &str = r#"
ptest.config { workers = 3 }
ptest.phase { name = "wide", workers = 6 }
ptest.phase { name = "narrow", workers = 1 }
ptest.phase { name = "computed", workers = function(sys) return 4 end }
ptest.suite { name = "a", cmd = "true" }
ptest.suite { name = "b", cmd = "true", phase = "wide" }
ptest.suite { name = "c", cmd = "true", phase = "narrow" }
ptest.suite { name = "d", cmd = "true", phase = "computed" }
"#;

/// `(phase, workers)` from `list --format json`.
fn phase_workers(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Vec<(String, u64)> {
    let mut a = vec!["list", "--format", "json"];
    a.extend_from_slice(args);
    let out = p.run_env(&a, env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["workers"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn rows(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(n, w)| ((*n).to_owned(), *w)).collect()
}

#[test]
fn a_phase_count_replaces_a_count_from_ptest_lua() {
    let p = Project::new(PHASES);
    assert_eq!(
        phase_workers(&p, &[], &[]),
        rows(&[("default", 3), ("wide", 6), ("narrow", 1), ("computed", 4)])
    );
    let plan = p.run(&["plan"]).stdout;
    assert!(
        plan.contains("  2. wide  workers 6  1 suite  (on_failure stop)"),
        "{plan}"
    );
}

#[test]
fn a_count_from_outside_ptest_lua_is_a_ceiling_for_phases() {
    let p = Project::new(PHASES);
    let ceiling = rows(&[("default", 2), ("wide", 2), ("narrow", 1), ("computed", 2)]);
    assert_eq!(phase_workers(&p, &["-j", "2"], &[]), ceiling);
    assert_eq!(phase_workers(&p, &[], &[("PTEST_WORKERS", "2")]), ceiling);
    let one = rows(&[("default", 1), ("wide", 1), ("narrow", 1), ("computed", 1)]);
    assert_eq!(phase_workers(&p, &["--sequential"], &[]), one);
    assert_eq!(
        phase_workers(&p, &[], &[("PTEST_DISABLE_PARALLEL", "true")]),
        one
    );
    // A ceiling above the phase's own count leaves it alone.
    assert_eq!(
        phase_workers(&p, &["-j", "5"], &[]),
        rows(&[("default", 5), ("wide", 5), ("narrow", 1), ("computed", 4)])
    );
}

#[test]
fn slots_are_capped_by_counts_not_written_as_numbers() {
    let p = Project::new(
        r#"ptest.config { workers = function(sys) return 2 end }
ptest.phase { name = "p", workers = "auto" }
ptest.suite { name = "a", cmd = "true", slots = 64 }
ptest.suite { name = "b", cmd = "true", slots = 128, phase = "p" }
ptest.suite { name = "c", cmd = "true", slots = 2 }
"#,
    );
    let n = u64::from(cpus());
    let j = list_json(&p, &[]);
    assert_eq!(j["suites"][0]["slots"], 2);
    assert_eq!(j["suites"][1]["slots"], n.min(128));
    assert_eq!(j["suites"][2]["slots"], 2);
    let j = list_json(&p, &["-j", "1"]);
    assert_eq!(j["suites"][0]["slots"], 1);
    assert_eq!(j["suites"][2]["slots"], 1);
    // No workers anywhere in ptest.lua: the machine's count caps them.
    let p = Project::new("ptest.suite { name = \"a\", cmd = \"true\", slots = 100000 }");
    assert_eq!(list_json(&p, &[])["suites"][0]["slots"], n);
    // A literal count is checked even when -j would allow more: the config is wrong
    // wherever it runs.
    let p = Project::new(
        "ptest.config { workers = 2 }\nptest.suite { name = \"a\", cmd = \"true\", slots = 3 }",
    );
    let out = p.run(&["list", "-j", "8"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("slots: 3 is more than the 2 workers"),
        "{}",
        out.stderr
    );
}

/// The start order follows DESIGN §3 rule 2 before anything runs: a member of a serial group
/// counts the work still waiting in its group (db-b: 3 s + 3 s of db-a), so it ranks above a
/// longer ungrouped suite; the run cannot be shorter than a group's work over its cap either.
#[test]
fn plan_shows_the_resolved_schedule() {
    let p = Project::new(
        r#"ptest.config { workers = 2 }
ptest.phase { name = "setup" }
ptest.phase { name = "main", on_failure = "continue" }
ptest.phase { name = "teardown", always = true }
local db = ptest.group { name = "db", max = 1 }
ptest.limiter { name = "api", rate = 5, per = "1s", burst = 2, concurrency = 3 }
ptest.suite { name = "migrate", cmd = "true", phase = "setup", estimate = "2s" }
ptest.suite { name = "unit", cmd = "true", phase = "main", estimate = "4s" }
ptest.suite { name = "db-a", cmd = "true", phase = "main", group = db, estimate = "3s" }
ptest.suite { name = "db-b", cmd = "true", phase = "main", group = db, estimate = "3s",
              depends_on = { "db-a" }, limiter = "api" }
ptest.suite { name = "stop", cmd = "true", phase = "teardown" }
"#,
    );
    let out = p.run(&["plan"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = String::from(
        "\
config:    ptest.lua
workers:   2 (ptest.lua)
fail-fast: off
log dir:   test-logs
suites:    5 to run, 0 skipped, 5 declared

phases, in order:
  1. setup  workers 2  1 suite  (on_failure stop)
  2. main  workers 2  3 suites  (on_failure continue)
  3. teardown  workers 2  1 suite  (always, on_failure stop)

groups:
  db  max 1  2 suites  expected work 6.0s

limiters:
  api  5 per 1.0s, burst 2, concurrency 3  (1 suite)

start order, as a run takes it when every suite passes as expected
(longest expected remaining path first):
  phase setup
      1. migrate  at     0ms  worker 0  expected 2.0s (estimate)  path 2.0s
  phase main
      1. db-a  at    2.0s  worker 0  expected 3.0s (estimate)  path 6.0s  group db
      2. unit  at    2.0s  worker 1  expected 4.0s (estimate)  path 4.0s
      3. db-b  at    5.0s  worker 0  expected 3.0s (estimate)  path 6.0s  group db  after db-a
  phase teardown
      1. stop  at    8.0s  worker 0  expected ? (none)  path 3.0s

predicted wall time 11.0s (rate limits not simulated)

expected work 15.0s; longest chain 6.0s; with 2 workers a run takes at least 7.5s
(suites with no expected duration count as the mean of the others)
",
    );
    assert_eq!(out.stdout, expected);
}
