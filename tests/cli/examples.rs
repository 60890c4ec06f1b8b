//! Every `examples/*/ptest.lua` passes `ptest plan` and runs; each example shows what its
//! comment promises, checked on the report it writes (run from the repository, as a new user
//! would, with only the log folder moved to a temp dir).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{Output, Project};
use crate::probe::{report_at, skip_reason, status, suite};

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("examples/")
        .map(|e| e.unwrap().path().join("ptest.lua"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

fn config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}/ptest.lua"))
}

/// `ptest CONFIG --log-dir <scratch>/logs ARGS` from a scratch folder, the environment cleaned.
fn command(scratch: &Project, config: &Path, args: &[&str]) -> Command {
    let mut c = scratch.cmd();
    c.arg(config)
        .arg("--log-dir")
        .arg(scratch.join("logs"))
        .args(args)
        .env_remove("TEST_WORKERS")
        .env_remove("RUN_STRESS_TESTS");
    cargo_env(&mut c);
    // examples/go runs the real go tool, offline, its caches under target/.
    if config.ends_with("go/ptest.lua")
        && let Some(go) = crate::go_preset::go()
    {
        crate::go_preset::go_env(&mut c, &go);
    }
    // examples/redis-per-worker runs real Redis servers.
    if let Some(redis) = crate::services::redis() {
        c.env("REDIS_SERVER", redis);
    }
    // examples/pytest runs real pytest, leaving nothing behind in the repository.
    if let Some(py) = crate::pytest_preset::python() {
        c.env("PYTHON", py)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTEST_ADDOPTS", "-p no:cacheprovider");
    }
    c
}

/// examples/cargo builds with real cargo, into the cargo preset tests' target folder (kept
/// between runs, so only the first builds), not into the repository.
fn cargo_env(c: &mut Command) -> &mut Command {
    c.env("CARGO_TARGET_DIR", crate::cargo_preset::target_dir())
        .env("CARGO_NET_OFFLINE", "true")
}

/// Run an example; the scratch folder (logs, report) lives as long as the returned `Project`.
fn run_example(name: &str, args: &[&str], env: &[(&str, &str)]) -> (Output, Value, Project) {
    let scratch = Project::new("");
    let mut c = command(&scratch, &config(name), args);
    c.envs(env.iter().copied());
    let out = crate::harness::run(&mut c);
    let report = report_at(&scratch.join("logs/test-report.json"));
    (out, report, scratch)
}

fn suites(report: &Value) -> &Vec<Value> {
    report["suites"].as_array().unwrap()
}

fn time(s: &Value, key: &str) -> f64 {
    s[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{} has no {key}", s["name"]))
}

/// Suites that ran, as (name, start, end).
fn spans(report: &Value, filter: impl Fn(&Value) -> bool) -> Vec<(&str, f64, f64)> {
    suites(report)
        .iter()
        .filter(|s| s["attempts"].as_u64() > Some(0) && filter(s))
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                time(s, "start_time"),
                time(s, "end_time"),
            )
        })
        .collect()
}

fn overlap(a: (&str, f64, f64), b: (&str, f64, f64)) -> bool {
    a.1 < b.2 && b.1 < a.2
}

#[test]
fn every_example_plans_and_runs() {
    let found = examples();
    assert!(found.len() >= 5, "{found:?}");
    // examples/go needs the go tool (its config runs `go list`).
    let go = crate::go_preset::go();
    let found: Vec<PathBuf> = found
        .into_iter()
        .filter(|c| go.is_some() || !c.ends_with("go/ptest.lua"))
        .collect();
    for config in &found {
        let scratch = Project::new("");
        let mut c = scratch.cmd();
        if let Some(go) = &go {
            crate::go_preset::go_env(&mut c, go);
        }
        let out = crate::harness::run(cargo_env(&mut c).arg("plan").arg(config));
        assert_eq!(out.code, 0, "plan {}: {}", config.display(), out.stderr);
        assert!(out.stdout.contains("start order"), "{}", out.stdout);
    }
    // Every example is quick: run them all at once.
    let have_pytest = crate::pytest_preset::python().is_some();
    let have_redis = crate::services::redis().is_some();
    let runs: Vec<(PathBuf, Project, std::process::Child)> = found
        .iter()
        .filter(|c| have_pytest || !c.ends_with("pytest/ptest.lua"))
        .filter(|c| (have_pytest && have_redis) || !c.ends_with("redis-per-worker/ptest.lua"))
        .map(|config| {
            let scratch = Project::new("");
            let child = command(&scratch, config, &["-q"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (config.clone(), scratch, child)
        })
        .collect();
    for (config, scratch, child) in runs {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}:\n{}\n{}",
            config.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let r = report_at(&scratch.join("logs/test-report.json"));
        for s in suites(&r) {
            assert!(
                s["status"] == "passed"
                    || s["skip_reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("disabled")),
                "{}: {s}",
                config.display()
            );
        }
    }
}

#[test]
fn phases_example_keeps_its_barriers_and_groups() {
    let (out, r, _scratch) = run_example("phases", &[], &[("TEST_WORKERS", "3")]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(r["workers"], 3, "TEST_WORKERS sets the worker count");
    for name in ["load", "soak"] {
        assert_eq!(skip_reason(&r, name), "phase \"stress\" disabled");
    }
    let order = ["core", "main", "complex"];
    for pair in order.windows(2) {
        let before = spans(&r, |s| s["phase"] == pair[0]);
        let after = spans(&r, |s| s["phase"] == pair[1]);
        let last_end = before.iter().map(|s| s.2).fold(0.0, f64::max);
        let first_start = after.iter().map(|s| s.1).fold(f64::MAX, f64::min);
        assert!(last_end <= first_start, "{} overlaps {}", pair[0], pair[1]);
    }
    let main = spans(&r, |s| s["phase"] == "main");
    assert_eq!(main.len(), 12);
    let mut side_by_side = false;
    for (i, a) in main.iter().enumerate() {
        for b in &main[i + 1..] {
            let group = |n: &str| n.split('-').next().unwrap().to_owned();
            if overlap(*a, *b) {
                assert_ne!(
                    group(a.0),
                    group(b.0),
                    "{} and {} share a serial group",
                    a.0,
                    b.0
                );
                side_by_side = true;
            }
        }
    }
    assert!(side_by_side, "the four groups run in parallel");

    let (out, r, _scratch) = run_example(
        "phases",
        &[],
        &[("TEST_WORKERS", "2"), ("RUN_STRESS_TESTS", "true")],
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(r["workers"], 2);
    assert_eq!(status(&r, "load"), "passed");
    assert_eq!(status(&r, "soak"), "passed");
}

#[test]
fn fork_join_example_skips_and_fails_fast() {
    let (out, r, _scratch) = run_example("fork-join", &[], &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    for s in suites(&r) {
        let name = s["name"].as_str().unwrap();
        let start = time(s, "start_time");
        let deps: Vec<&str> = match name {
            "build-lib" | "build-cli" => vec!["fetch"],
            "unit-lib" | "db-migrations" | "db-queries" => vec!["build-lib"],
            "unit-cli" => vec!["build-cli"],
            "package" => vec!["unit-lib", "unit-cli", "db-migrations", "db-queries"],
            "e2e" => vec!["package"],
            _ => vec![],
        };
        for d in deps {
            assert!(
                time(suite(&r, d), "end_time") <= start,
                "{name} started before {d} ended"
            );
        }
    }
    let db = spans(&r, |s| s["group"] == "database");
    assert_eq!(db.len(), 2);
    assert!(
        !overlap(db[0], db[1]),
        "the database group runs one at a time"
    );

    let (out, r, _scratch) = run_example("fork-join", &["--set", "fail=unit-lib"], &[]);
    assert_eq!(out.code, 1);
    assert_eq!(status(&r, "unit-lib"), "failed");
    for name in ["package", "e2e"] {
        assert_eq!(skip_reason(&r, name), "dependency \"unit-lib\" failed");
    }
    for name in ["unit-cli", "db-migrations", "db-queries"] {
        assert_eq!(
            status(&r, name),
            "passed",
            "{name} does not depend on unit-lib"
        );
    }

    let (out, r, _scratch) = run_example("fork-join", &["--set", "fail=build-cli", "-x"], &[]);
    assert_eq!(out.code, 1);
    assert_eq!(status(&r, "build-cli"), "failed");
    assert_eq!(
        status(&r, "build-lib"),
        "cancelled",
        "still building when build-cli failed"
    );
    assert_eq!(
        skip_reason(&r, "unit-cli"),
        "dependency \"build-cli\" failed"
    );
    for name in ["unit-lib", "db-migrations", "db-queries"] {
        assert_eq!(skip_reason(&r, name), "fail-fast");
    }

    let scratch = Project::new("");
    let out = crate::harness::run(&mut command(
        &scratch,
        &config("fork-join"),
        &["--set", "fail=nope"],
    ));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--set fail=nope: there is no suite of that name")
    );
}

/// examples/services: a serial group and a server (`ptest.service`) per service folder.
#[test]
fn services_example_runs_one_group_per_service_folder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/services/services");
    let mut files = 0;
    for service in std::fs::read_dir(&root).unwrap() {
        files += std::fs::read_dir(service.unwrap().path()).unwrap().count();
    }
    let (out, r, scratch) = run_example("services", &[], &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(suites(&r).len(), files, "one suite per test file");
    // Each folder's server started once, and its tests reached it.
    for service in ["auth", "billing", "search"] {
        let log =
            std::fs::read_to_string(scratch.join(&format!("logs/{service}-server.log"))).unwrap();
        assert_eq!(log.matches("Serving HTTP on").count(), 1, "{log}");
        let tests = suites(&r).iter().filter(|s| s["group"] == service).count();
        // Its readiness check's GET, then one per test.
        assert_eq!(
            log.matches("\"GET / HTTP/1.1\" 200").count(),
            tests + 1,
            "{log}"
        );
    }
    let ran = spans(&r, |_| true);
    let mut across = false;
    for (i, a) in ran.iter().enumerate() {
        for b in &ran[i + 1..] {
            let ga = suite(&r, a.0)["group"].clone();
            let gb = suite(&r, b.0)["group"].clone();
            if overlap(*a, *b) {
                assert_ne!(ga, gb, "{} and {} ran at once", a.0, b.0);
                across = true;
            }
        }
    }
    assert!(across, "services run in parallel");
    for s in suites(&r) {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["group"].as_str(), name.split('/').next(), "{name}");
    }
}

#[test]
fn isolation_example_gives_each_worker_its_database() {
    let (out, r, scratch) = run_example("isolation", &["-j", "3"], &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let all = spans(&r, |_| true);
    let migrate = all.iter().find(|s| s.0 == "migrate").copied().unwrap();
    for s in &all {
        assert!(
            s.0 == "migrate" || !overlap(migrate, *s),
            "{} ran beside migrate",
            s.0
        );
    }
    let tests: Vec<&Value> = suites(&r)
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("test-"))
        .collect();
    assert_eq!(tests.len(), 6);
    for s in tests {
        // Relative to the folder ptest ran in.
        let log = std::fs::read_to_string(scratch.join(s["log_file"].as_str().unwrap())).unwrap();
        let worker = s["worker"].as_u64().unwrap();
        assert!(
            log.contains(&format!("using app_test_{worker} on worker {worker}")),
            "{log}"
        );
    }
    // Without -j the formula over ptest.sys decides: between 2 and 4 workers.
    let (out, r, _scratch) = run_example("isolation", &[], &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let w = r["workers"].as_u64().unwrap();
    assert!((2..=4).contains(&w), "{w}");
}

#[test]
fn rate_limited_api_example_sees_no_429_with_its_limiter() {
    let (out, report, _scratch) = run_example("rate-limited-api", &[], &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let limiter = &report["limiters"][0];
    assert_eq!(limiter["name"], "api");
    assert_eq!(limiter["throttled"], 0, "no client saw a 429: {limiter}");
    assert_eq!(
        limiter["acquired"], 30,
        "6 clients x 5 requests went through the limiter"
    );
    for s in suites(&report) {
        assert_eq!(s["status"], "passed", "{s}");
        assert_eq!(s["attempts"], 1, "{s}");
    }
}

#[test]
fn cargo_example_runs_each_test_with_a_result() {
    let (out, r, scratch) = run_example("cargo", &["-j", "2", "--junit", "junit.xml"], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let mut names: Vec<&str> = suites(&r)
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    // One batch of both binaries' tests (in parts), the doc tests.
    assert!(names.contains(&"rust/doc"), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("rust[")), "{names:?}");
    let xml = std::fs::read_to_string(scratch.join("junit.xml")).unwrap();
    for test in [
        "name=\"roman(lib)/tests::small_numbers\"",
        "name=\"round_trip/every_number_round_trips\"",
    ] {
        assert!(xml.contains(test), "{test} in {xml}");
    }
}

/// examples/redis-per-worker: a real Redis per worker for pytest tests (which check among
/// themselves that no other worker's keys are there); each server started once, as its own log
/// says, and gone when ptest ends.
#[test]
fn redis_per_worker_example_gives_each_worker_its_server() {
    if crate::services::redis().is_none() || crate::pytest_preset::python().is_none() {
        return;
    }
    let (out, report, scratch) = run_example("redis-per-worker", &["-j", "2"], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(suites(&report).iter().all(|s| s["status"] == "passed"));
    let mut pids = Vec::new();
    for w in 0..2 {
        let log = std::fs::read_to_string(scratch.join(&format!("logs/redis@{w}.log"))).unwrap();
        assert_eq!(
            log.matches("Ready to accept connections").count(),
            1,
            "{log}"
        );
        // redis-server starts its log lines with its pid: `12345:M ...`.
        let pid: i32 = log
            .lines()
            .find_map(|l| l.split_once(':').and_then(|(p, _)| p.parse().ok()))
            .expect("a pid in redis's log");
        pids.push(pid);
    }
    assert!(
        !scratch.join("logs/redis@2.log").exists(),
        "two workers, two servers"
    );
    assert!(
        pids.iter()
            .all(|&pid| !crate::probe::alive_with(pid, "PTEST_SERVICE=redis")),
        "{pids:?}"
    );
}

/// examples/http-service: one Python HTTP server, ready when GET /health.txt answers 200; the
/// suite that does not need it starts without waiting for it.
#[test]
fn http_service_example_serves_its_suites_once() {
    let (out, report, scratch) = run_example("http-service", &["-j", "2"], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(scratch.join("logs/web.log")).unwrap();
    assert_eq!(
        log.matches("Serving HTTP on").count(),
        1,
        "one server: {log}"
    );
    assert!(log.contains("\"GET /health.txt HTTP/1.1\" 200"), "{log}");
    let needing = spans(&report, |s| s["name"] != "lint");
    let lint = spans(&report, |s| s["name"] == "lint")[0];
    assert!(
        needing.iter().all(|n| lint.1 <= n.1),
        "lint waited for the server: {lint:?} {needing:?}"
    );
    // The report's one instance: ready before the first suite that needs it started, stopped
    // after the last ended; its port is closed once ptest is gone.
    let services = report["services"]
        .as_array()
        .expect("services in the report");
    assert_eq!(services.len(), 1, "{services:?}");
    let web = &services[0];
    assert_eq!(
        (web["name"].as_str(), web["worker"].as_u64()),
        (Some("web"), None)
    );
    let (start, ready, stop) = (
        time(web, "start_time"),
        time(web, "ready_time"),
        time(web, "stop_time"),
    );
    assert!(start <= ready, "{web}");
    assert!(
        needing.iter().all(|n| ready <= n.1 && n.2 <= stop),
        "{web} {needing:?}"
    );
    let port = u16::try_from(web["ports"]["port"].as_u64().unwrap()).unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server on port {port} outlived ptest"
    );
}
