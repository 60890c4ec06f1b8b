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

// ---------------------------------------------------------------------------------------------
// Real runs with real servers.

/// A `redis-server`: `PTEST_TEST_REDIS`, else one on PATH; under CI its absence is a failure
/// (`.ci/run` installs it), elsewhere the test says it skipped.
pub(crate) fn redis() -> Option<String> {
    let found = std::env::var("PTEST_TEST_REDIS").ok().or_else(|| {
        std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| "redis-server".to_owned())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no redis-server: set PTEST_TEST_REDIS or run .ci/run (it installs one)"
        );
        eprintln!("skipped: no redis-server (set PTEST_TEST_REDIS, or run .ci/run once)");
    }
    found
}

/// A suite's probe of the Redis in `REDIS_URL`, speaking RESP over a socket (no client library):
/// asks the server who it is (`INFO server`: its run id, pid and port) and counts itself in
/// (`INCR suites`), then appends `RUN_ID PID PORT WORKER COUNT` to the file it is given.
const REDIS_PROBE: &str = r#"import os, socket, sys
url = os.environ["REDIS_URL"]
host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
f = s.makefile("rb")
def call(*args):
    s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)).encode())
    line = f.readline()
    if line[:1] == b"$":
        data = f.read(int(line[1:]) + 2)[:-2]
        return data.decode()
    return line[1:].strip().decode()
info = dict(l.split(":", 1) for l in call("INFO", "server").splitlines() if ":" in l)
n = call("INCR", "suites")
with open(sys.argv[1], "a") as out:
    out.write("%s %s %s %s %s\n" % (info["run_id"], info["process_id"], info["tcp_port"], os.environ["PTEST_WORKER"], n))
"#;

/// The records the suites left: (run id, pid, port, worker, count).
fn redis_records(p: &Project) -> Vec<(String, i32, u16, u32, u32)> {
    let text = std::fs::read_to_string(p.join("records.txt")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            (
                w[0].to_owned(),
                w[1].parse().unwrap(),
                w[2].parse().unwrap(),
                w[3].parse().unwrap(),
                w[4].parse().unwrap(),
            )
        })
        .collect()
}

fn redis_config(server: &str, suites: usize) -> String {
    format!(
        r#"local redis = ptest.service {{
  name = "redis", scope = "worker",
  cmd = {{ "{server}", "--port", "{{port}}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" }},
  ready = {{ tcp = "127.0.0.1:{{port}}" }}, ready_timeout = "30s",
  env = {{ REDIS_URL = "redis://127.0.0.1:{{port}}/0" }},
}}
for i = 1, {suites} do
  ptest.suite {{ name = "t" .. i, cmd = {{ "python3", "probe.py", "records.txt" }}, needs = {{ redis }} }}
end
ptest.suite {{ name = "lint", cmd = "true" }}
"#
    )
}

/// A suite's probe in shell, when `redis-cli` is at hand (beside the server, or on PATH):
/// the same record as [`REDIS_PROBE`] in a fraction of Python's start-up.
const REDIS_PROBE_SH: &str = r#"port=${REDIS_URL##*:}; port=${port%%/*}
info=$("$REDIS_CLI" -p "$port" info server | tr -d '\r')
id=$(echo "$info" | sed -n 's/^run_id://p')
pid=$(echo "$info" | sed -n 's/^process_id://p')
n=$("$REDIS_CLI" -p "$port" incr suites)
echo "$id $pid $port $PTEST_WORKER $n" >> "$1"
"#;

/// `redis-cli` beside `server` or on PATH.
fn redis_cli(server: &str) -> Option<String> {
    let beside = std::path::Path::new(server).with_file_name("redis-cli");
    if beside.is_file() {
        return Some(beside.to_string_lossy().into_owned());
    }
    std::process::Command::new("redis-cli")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "redis-cli".to_owned())
}

/// The figure of issue 28 with real servers: 100 suites needing a Redis per worker at -j 4 make
/// four servers, counted by the servers themselves (each suite asks its server for its run id
/// and counts itself in): each started once, serving only its worker's suites, and every one
/// gone when ptest ends.
#[test]
fn redis_per_worker_one_server_per_worker_by_their_own_records() {
    let Some(server) = redis() else { return };
    let (suites, cmd, cli) = match redis_cli(&server) {
        Some(cli) => (100, r#"{ "sh", "probe.sh", "records.txt" }"#, cli),
        // Python starts slowly on a busy machine: fewer suites, the same checks.
        None => (
            12,
            r#"{ "python3", "probe.py", "records.txt" }"#,
            String::new(),
        ),
    };
    let p = Project::new(
        &redis_config(&server, suites).replace(r#"{ "python3", "probe.py", "records.txt" }"#, cmd),
    );
    p.file("probe.py", REDIS_PROBE);
    p.file("probe.sh", REDIS_PROBE_SH);
    let out = p.run_env(&["-j", "4"], &[("REDIS_CLI", &cli)]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let records = redis_records(&p);
    assert_eq!(records.len(), suites, "{records:?}");
    let mut servers: Vec<&str> = records.iter().map(|r| r.0.as_str()).collect();
    servers.sort_unstable();
    servers.dedup();
    assert_eq!(servers.len(), 4, "one server per worker: {records:?}");
    for r in &records {
        // A worker's suites all meet the same server, and no other worker's do.
        assert!(
            records.iter().all(|o| (o.3 == r.3) == (o.0 == r.0)),
            "{records:?}"
        );
    }
    // Each server counted the suites that met it, from 1: none started twice, none lost count.
    for s in &servers {
        let mut counts: Vec<u32> = records.iter().filter(|r| r.0 == *s).map(|r| r.4).collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=counts.len() as u32).collect::<Vec<_>>());
    }
    // Each started once, as its own log says, under the name of its worker.
    for w in 0..4 {
        let log = std::fs::read_to_string(p.join(&format!("test-logs/redis@{w}.log"))).unwrap();
        assert_eq!(
            log.matches("Ready to accept connections").count(),
            1,
            "{log}"
        );
        assert!(
            log.starts_with(&format!("=== ptest: service redis@{w} ===\n")),
            "{log}"
        );
    }
    // The report lists the four instances, each on its worker with its port, started, ready and
    // stopped in that order; its servers' ports are the ones the suites met.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(crate::harness::report_file(&p)).unwrap())
            .unwrap();
    let instances = report["services"]
        .as_array()
        .expect("services in the report");
    assert_eq!(instances.len(), 4, "{instances:?}");
    for v in instances {
        let w = v["worker"].as_u64().unwrap();
        assert_eq!(v["instance"], format!("redis@{w}"));
        assert_eq!(v["log_file"], format!("test-logs/redis@{w}.log"));
        let port = v["ports"]["port"].as_u64().unwrap();
        assert!(
            records
                .iter()
                .any(|r| u64::from(r.2) == port && u64::from(r.3) == w),
            "{v} {records:?}"
        );
        let (start, ready, stop) = (
            v["start_time"].as_f64().unwrap(),
            v["ready_time"].as_f64().unwrap(),
            v["stop_time"].as_f64().unwrap(),
        );
        assert!(start <= ready && ready <= stop, "{v}");
        assert!(v["error_message"].is_null(), "{v}");
    }
    assert!(
        out.stdout
            .contains("Services: redis (4 instances) ready in "),
        "{}",
        out.stdout
    );
    let mut pids: Vec<i32> = records.iter().map(|r| r.1).collect();
    pids.sort_unstable();
    pids.dedup();
    assert!(
        crate::probe::wait_until(std::time::Duration::from_secs(5), || pids
            .iter()
            .all(|&pid| !crate::probe::alive_with(pid, "PTEST_SERVICE=redis"))),
        "a redis-server outlived ptest"
    );
}

/// A server that is not ready in time fails the suites that need it, with its words and the
/// end of its log; a server that exits while needed does the same to the suite that runs on
/// it; neither is left running, and the rest of the run goes on.
#[test]
fn services_that_fail_fail_their_suites_with_their_log() {
    let p = Project::new(
        r#"ptest.service { name = "deaf", cmd = "echo $$ > deaf.pid; echo 'listening soon'; exec sleep 300",
  ready = { tcp = "127.0.0.1:{port}" }, ready_timeout = "1s" }
ptest.service { name = "dies", cmd = "echo $$ > dies.pid; echo 'out of memory'; sleep 1; exit 3" }
ptest.suite { name = "a", cmd = "true", needs = { "deaf" } }
ptest.suite { name = "b", cmd = "sleep 30", needs = { "dies" } }
ptest.suite { name = "free", cmd = "true" }
"#,
    );
    let out = p.run(&["-j", "3", "--junit", "junit.xml", "--html", "report.html"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(crate::harness::report_file(&p)).unwrap())
            .unwrap();
    let suite = |n: &str| crate::probe::suite(&report, n).clone();
    assert_eq!(suite("a")["status"], "failed");
    assert_eq!(
        suite("a")["error_message"],
        "service \"deaf\" not ready after 1s"
    );
    assert_eq!(suite("a")["attempts"], 0);
    assert_eq!(suite("b")["status"], "failed");
    assert_eq!(
        suite("b")["error_message"],
        "service \"dies\" exited with 3"
    );
    assert_eq!(suite("free")["status"], "passed");
    // Every report shows the service's words and the end of its log: "a" never started, so the
    // suite's own tail carries them; "b"'s attempt ends with them.
    let a_tail = suite("a")["tail"].as_str().unwrap_or_default().to_owned();
    assert!(
        a_tail.starts_with("=== ptest: service \"deaf\" not ready after 1s; the end of its log, test-logs/deaf.log: ===")
            && a_tail.ends_with("listening soon"),
        "{a_tail}"
    );
    let b_tail = suite("b")["attempts_detail"][0]["tail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(b_tail.ends_with("out of memory"), "{b_tail}");
    let junit = std::fs::read_to_string(p.join("junit.xml")).unwrap();
    let html = std::fs::read_to_string(p.join("report.html")).unwrap();
    for text in [&junit, &html] {
        assert!(
            text.contains("listening soon") && text.contains("out of memory"),
            "{text}"
        );
    }
    // The report's services: when each started, was ready and stopped, and why it failed.
    let services = report["services"]
        .as_array()
        .expect("services in the report");
    let instance = |n: &str| services.iter().find(|v| v["name"] == n).expect(n).clone();
    let deaf = instance("deaf");
    assert!(deaf["ready_time"].is_null(), "{deaf}");
    assert_eq!(deaf["error_message"], "service \"deaf\" not ready after 1s");
    assert!(
        deaf["stop_time"].as_f64() >= deaf["start_time"].as_f64(),
        "{deaf}"
    );
    assert!(deaf["ports"]["port"].as_u64().is_some(), "{deaf}");
    let dies = instance("dies");
    assert_eq!(dies["error_message"], "service \"dies\" exited with 3");
    assert!(
        dies["ready_time"].as_f64() <= dies["stop_time"].as_f64(),
        "{dies}"
    );
    assert!(
        html.contains("data-service=\"deaf\" data-part=\"starting\""),
        "{html}"
    );
    assert!(
        html.contains("data-service=\"dies\" data-part=\"ready\""),
        "{html}"
    );
    assert!(
        out.stdout.contains("Services: deaf failed; dies ready in "),
        "{}",
        out.stdout
    );
    // The failures show the services' own words, in the summary and in the suites' logs.
    assert!(out.stdout.contains("| listening soon"), "{}", out.stdout);
    assert!(out.stdout.contains("| out of memory"), "{}", out.stdout);
    let b = std::fs::read_to_string(p.join("test-logs/b.log")).unwrap();
    assert!(
        b.contains("=== ptest: service \"dies\" exited with 3; the end of its log, test-logs/dies.log: ===\nout of memory\n"),
        "{b}"
    );
    assert!(
        out.stderr
            .contains("service deaf: not ready after 1s; the last check found: tcp 127.0.0.1:")
            || out
                .stdout
                .contains("service deaf: not ready after 1s; the last check found: tcp 127.0.0.1:"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    for name in ["deaf", "dies"] {
        let pid = crate::probe::pid_in(&p, &format!("{name}.pid"));
        assert!(
            !crate::probe::alive_with(pid, &format!("PTEST_SERVICE={name}")),
            "{name} outlived the run"
        );
    }
}

/// Ctrl-C stops the services with the suites; a SIGKILLed ptest leaves its watchdog to stop
/// them. Nothing outlives ptest either way.
#[test]
fn services_do_not_outlive_a_stopped_or_killed_ptest() {
    for (sig, expected) in [(libc::SIGINT, Some(130)), (libc::SIGKILL, None)] {
        let p = Project::new(
            r#"ptest.service { name = "srv", cmd = "echo $$ > srv.pid; echo up; exec sleep 300",
  ready = { log = "up" } }
ptest.suite { name = "a", cmd = "echo started > a.started; sleep 300", needs = { "srv" } }
"#,
        );
        let mut child = crate::probe::spawn(&p, &[]);
        assert!(
            crate::probe::wait_until(std::time::Duration::from_secs(20), || p
                .join("a.started")
                .exists()),
            "the suite did not start"
        );
        let pid = crate::probe::pid_in(&p, "srv.pid");
        let alive = || crate::probe::alive_with(pid, "PTEST_SERVICE=srv");
        assert!(alive());
        crate::probe::signal(&child, sig);
        let code = crate::probe::wait_exit(&mut child, std::time::Duration::from_secs(30));
        if let Some(c) = expected {
            assert_eq!(code, c);
        }
        let gone = crate::probe::wait_until(std::time::Duration::from_secs(30), || !alive());
        if !gone {
            // SAFETY: the service this test's ptest started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert!(gone, "the service outlived ptest ({sig})");
    }
}

/// `PTEST_ENV`: what a suite appends reaches the suites that depend on it (through others too)
/// and no other; a service's reaches the suites that need it; bad lines are warnings naming
/// the file and line.
#[test]
fn exported_variables_reach_dependents_and_needers_only() {
    let p = Project::new(
        r#"ptest.service { name = "db", cmd = "echo DB_PASSWORD=s3cret >> $PTEST_ENV; echo up; exec sleep 300",
  ready = { log = "up" }, env = { DB_HOST = "127.0.0.1" } }
ptest.suite { name = "setup", cmd = "echo TOKEN=abc >> $PTEST_ENV; echo 'not a line' >> $PTEST_ENV" }
ptest.suite { name = "mid", cmd = "echo LEVEL=mid >> $PTEST_ENV", depends_on = { "setup" } }
ptest.suite { name = "deep", cmd = 'echo "$TOKEN $LEVEL ${DB_PASSWORD:-none}" > deep.txt', depends_on = { "mid" } }
ptest.suite { name = "db-user", cmd = 'echo "${TOKEN:-none} $DB_HOST $DB_PASSWORD" > db-user.txt', needs = { "db" } }
ptest.suite { name = "fails", cmd = "echo SHOULD=not >> $PTEST_ENV; exit 1" }
ptest.suite { name = "after-fail", cmd = 'echo "${SHOULD:-none}" > after-fail.txt', depends_on = { "fails" } }
ptest.suite { name = "other", cmd = 'echo "${TOKEN:-none}" > other.txt', depends_on = { "lint" } }
ptest.suite { name = "lint", cmd = "true" }
"#,
    );
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let read = |f: &str| {
        std::fs::read_to_string(p.join(f))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(read("deep.txt"), "abc mid none");
    assert_eq!(read("db-user.txt"), "none 127.0.0.1 s3cret");
    assert_eq!(read("other.txt"), "none");
    assert!(
        !p.join("after-fail.txt").exists(),
        "a failed dependency skips its dependents"
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("warning: suite \"setup\": ")
            && all.contains(
                "setup-1.env:2: expected KEY=VALUE (or KEY<<DELIMITER), got \"not a line\""
            ),
        "{all}"
    );
}

/// `ready = { cmd = ... }`, as a docker-compose healthcheck: the command runs again until it
/// exits 0, in the config's folder with the service's environment; the suite that needs the
/// service starts only then; the check's own output stays out of the service's log.
#[test]
fn a_cmd_check_runs_again_until_it_passes() {
    let p = Project::new(
        r#"ptest.service { name = "slow", cmd = "echo $$ > slow.pid; echo booting; sleep 0.3; touch up.flag; exec sleep 300",
  ready = { cmd = 'echo "$PTEST_SERVICE" >> checks.txt; echo said-by-the-check; test -f up.flag' },
  ready_timeout = "20s" }
ptest.suite { name = "a", cmd = "test -f up.flag && echo ok > a.txt", needs = { "slow" } }
"#,
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        std::fs::read_to_string(p.join("a.txt")).unwrap().trim(),
        "ok"
    );
    let checks = std::fs::read_to_string(p.join("checks.txt")).unwrap();
    let checks: Vec<&str> = checks.lines().collect();
    assert!(
        checks.len() >= 2 && checks.iter().all(|c| *c == "slow"),
        "{checks:?}"
    );
    let log = std::fs::read_to_string(p.join("test-logs/slow.log")).unwrap();
    assert!(
        log.contains("booting") && !log.contains("said-by-the-check"),
        "{log}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(crate::harness::report_file(&p)).unwrap())
            .unwrap();
    let slow = &report["services"][0];
    let (start, ready) = (
        slow["start_time"].as_f64().unwrap(),
        slow["ready_time"].as_f64().unwrap(),
    );
    assert!(ready - start >= 0.3, "ready before the flag: {slow}");
    let a = crate::probe::suite(&report, "a");
    assert!(a["start_time"].as_f64().unwrap() >= ready, "{a} {slow}");
    let pid = crate::probe::pid_in(&p, "slow.pid");
    assert!(
        crate::probe::wait_until(std::time::Duration::from_secs(5), || {
            !crate::probe::alive_with(pid, "PTEST_SERVICE=slow")
        }),
        "the service outlived ptest"
    );
}
