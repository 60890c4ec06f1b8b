//! Retry policies, limiters and the coordinator socket (issue 5), checked from what the suites
//! themselves recorded: timestamps appended to files, replies read from the socket.

use crate::harness::{Output, Project};

/// A Python helper the suites call: `sock.py LINE...` sends each line on one connection and
/// prints `<unix time> <reply>` per line.
pub(crate) const SOCK_PY: &str = r#"
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["PTEST_SOCKET"])
f = s.makefile("rw")
for line in sys.argv[1:]:
    f.write(line + "\n"); f.flush()
    reply = f.readline().strip()
    print("%.6f %s" % (time.time(), reply), flush=True)
"#;

fn report(p: &Project) -> serde_json::Value {
    let text =
        std::fs::read_to_string(p.join("test-logs/test-report.json")).expect("report written");
    serde_json::from_str(&text).expect("report parses")
}

fn suite<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no suite {name}"))
}

/// Floats, one per line, from a probe file.
fn times(p: &Project, file: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(p.join(file)).unwrap_or_default();
    let mut v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The most events inside any window of `width` seconds.
fn busiest_window(times: &[f64], width: f64) -> usize {
    let mut best = 0;
    for (i, t) in times.iter().enumerate() {
        best = best.max(times[i..].iter().take_while(|u| **u < t + width).count());
    }
    best
}

fn run(p: &Project, args: &[&str]) -> Output {
    let out = p.run(args);
    assert!(
        out.code == 0 || out.code == 1,
        "ptest failed to run: {}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

#[test]
fn backoff_follows_delay_and_factor() {
    let p = Project::new(
        r#"
local r = ptest.retry { attempts = 3, delay = "300ms", factor = 2, jitter = false }
ptest.suite { name = "s", retry = r,
  cmd = "date +%s.%N >> starts; test $PTEST_ATTEMPT -ge 3 || exit 1" }
"#,
    );
    let out = run(&p, &[]);
    assert_eq!(out.code, 0, "flaky counts as passing: {}", out.stdout);
    let r = report(&p);
    assert_eq!(suite(&r, "s")["status"], "flaky");
    assert_eq!(suite(&r, "s")["attempts"], 3);
    let t = times(&p, "starts");
    assert_eq!(t.len(), 3);
    assert!(t[1] - t[0] >= 0.3, "first backoff {:.3}", t[1] - t[0]);
    assert!(
        t[2] - t[1] >= 0.6,
        "second backoff doubles: {:.3}",
        t[2] - t[1]
    );
    assert!(t[2] - t[0] < 5.0, "no runaway wait: {:.3}", t[2] - t[0]);
    let log = std::fs::read_to_string(p.join("test-logs/s.log")).unwrap();
    for a in 1..=3 {
        assert!(
            log.contains(&format!("=== ptest: s attempt {a}/3 ===")),
            "{log}"
        );
    }
    assert!(out.stdout.contains("Flaky suites"), "{}", out.stdout);
}

#[test]
fn only_matching_failures_are_retried() {
    let p = Project::new(
        r#"
local r = ptest.retry { attempts = 3, delay = 0, on = { exit_codes = { 75 }, output = { "429" } } }
ptest.suite { name = "other-code", retry = r, cmd = "exit 3" }
ptest.suite { name = "code", retry = r, cmd = "test $PTEST_ATTEMPT -ge 2 || exit 75" }
ptest.suite { name = "output", retry = r, cmd = "test $PTEST_ATTEMPT -ge 2 || { echo 'HTTP 429'; exit 1; }" }
ptest.suite { name = "old-output", retry = r,
  cmd = "if [ $PTEST_ATTEMPT = 1 ]; then echo 429; exit 75; elif [ $PTEST_ATTEMPT = 2 ]; then exit 1; fi" }
"#,
    );
    let out = run(&p, &[]);
    assert_eq!(out.code, 1);
    let r = report(&p);
    assert_eq!(suite(&r, "other-code")["attempts"], 1);
    assert_eq!(suite(&r, "other-code")["status"], "failed");
    assert_eq!(suite(&r, "code")["status"], "flaky");
    assert_eq!(suite(&r, "output")["status"], "flaky");
    // Attempt 2 failed without 75 and without "429" in its own output: not retried again.
    assert_eq!(suite(&r, "old-output")["attempts"], 2);
    assert_eq!(suite(&r, "old-output")["status"], "failed");
}

#[test]
fn when_predicate_decides_and_sees_the_result() {
    let p = Project::new(
        r#"
local r = ptest.retry { attempts = 5, delay = 0, when = function(res)
  io.stderr:write("seen " .. res.name .. " " .. res.status .. " " .. tostring(res.exit_code)
    .. " " .. res.attempt .. " [" .. res.output:gsub("\n", "") .. "]\n")
  return res.exit_code == 9 and res.attempt < 3
end }
ptest.suite { name = "s", retry = r, cmd = "echo out$PTEST_ATTEMPT; exit 9" }
"#,
    );
    let out = run(&p, &[]);
    assert_eq!(suite(&report(&p), "s")["attempts"], 3);
    assert!(
        out.stderr.contains("seen s failed 9 1 [out1]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("seen s failed 9 3 [out3]"),
        "{}",
        out.stderr
    );
}

#[test]
fn timeouts_are_retried_only_when_asked() {
    let p = Project::new(
        r#"
ptest.suite { name = "plain", retry = ptest.retry { attempts = 2, delay = 0 }, timeout = "300ms", cmd = "sleep 5" }
ptest.suite { name = "asked", retry = ptest.retry { attempts = 2, delay = 0, on = { timeout = true } },
  timeout = "300ms", cmd = "sleep 5" }
"#,
    );
    run(&p, &["--timeout", "300ms"]);
    let r = report(&p);
    assert_eq!(suite(&r, "plain")["attempts"], 1);
    assert_eq!(suite(&r, "plain")["status"], "timed_out");
    assert_eq!(suite(&r, "asked")["attempts"], 2);
}

#[test]
fn retries_flag_adds_and_removes_attempts() {
    let p =
        Project::new(r#"ptest.suite { name = "s", retry = 3, cmd = "echo x >> tries; exit 1" }"#);
    run(&p, &["--retries", "0"]);
    assert_eq!(suite(&report(&p), "s")["attempts"], 1);
    run(&p, &["--retries", "1"]);
    assert_eq!(suite(&report(&p), "s")["attempts"], 2);
    run(&p, &[]);
    assert_eq!(suite(&report(&p), "s")["attempts"], 4);
}

#[test]
fn suite_starts_are_paced_across_workers() {
    let p = Project::new(
        r#"
local api = ptest.limiter { name = "api", rate = 10, per = "1s", burst = 2 }
for i = 1, 14 do
  ptest.suite { name = "s" .. i, limiter = api, cmd = "date +%s.%N >> starts" }
end
ptest.suite { name = "free", cmd = "date +%s.%N >> free" }
"#,
    );
    run(&p, &["-j", "4"]);
    let t = times(&p, "starts");
    assert_eq!(t.len(), 14);
    assert!(
        busiest_window(&t, 1.0) <= 12,
        "at most rate + burst per second: {t:?}"
    );
    assert!(
        t[13] - t[0] >= 1.0,
        "14 starts at 10/s with burst 2 take over a second"
    );
    // The suite without a limiter did not wait behind the paced ones.
    assert!(
        times(&p, "free")[0] < t[13],
        "a ready suite starts while others wait for tokens"
    );
    let r = report(&p);
    assert_eq!(r["limiters"][0]["name"], "api");
    assert_eq!(r["limiters"][0]["acquired"], 14);
    assert!(r["limiters"][0]["waited"].as_f64().unwrap() > 0.5);
}

#[test]
fn concurrency_cap_holds_for_whole_attempts() {
    let p = Project::new(
        r#"
local db = ptest.limiter { name = "db", rate = 1000, burst = 10, concurrency = 2 }
for i = 1, 6 do
  ptest.suite { name = "s" .. i, limiter = db,
    cmd = "echo $(date +%s.%N) 1 >> events; sleep 0.3; echo $(date +%s.%N) -1 >> events" }
end
"#,
    );
    run(&p, &["-j", "6"]);
    let text = std::fs::read_to_string(p.join("events")).unwrap();
    let mut ev: Vec<(f64, i32)> = text
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            (
                w.next().unwrap().parse().unwrap(),
                w.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    ev.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0, 0);
    for (_, d) in ev {
        now += d;
        peak = peak.max(now);
    }
    assert_eq!(peak, 2, "never more than the cap, and the cap is used");
}

#[test]
fn socket_grants_never_exceed_rate_plus_burst() {
    let p = Project::new(
        r#"
ptest.limiter { name = "api", rate = 20, per = "1s", burst = 2 }
for i = 1, 3 do
  ptest.suite { name = "c" .. i, cmd = "for i in $(seq 10); do ptest acquire api && date +%s.%N >> grants; done" }
end
"#,
    );
    let out = run(&p, &["-j", "3"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let t = times(&p, "grants");
    assert_eq!(t.len(), 30);
    assert!(busiest_window(&t, 1.0) <= 22, "{t:?}");
    assert!(
        t[29] - t[0] >= 1.2,
        "30 grants at 20/s with burst 2 take ~1.4 s: {:.3}",
        t[29] - t[0]
    );
    assert_eq!(report(&p)["limiters"][0]["acquired"], 30);
}

#[test]
fn socket_protocol_errors_and_retry_after() {
    let p = Project::new(
        r#"
ptest.limiter { name = "api", rate = 1000, burst = 5 }
ptest.suite { name = "proto", cmd = { "python3", "sock.py", "hello", "acquire apj", "acquire api 9",
  "acquire api x", "acquire api", "throttled api 1", "acquire api" } }
"#,
    );
    p.file("sock.py", SOCK_PY);
    run(&p, &[]);
    let log = std::fs::read_to_string(p.join("test-logs/proto.log")).unwrap();
    let replies: Vec<(f64, String)> = log
        .lines()
        .skip(1)
        .map(|l| {
            let (t, r) = l.split_once(' ').unwrap();
            (t.parse().unwrap(), r.to_owned())
        })
        .collect();
    assert_eq!(replies.len(), 7, "{log}");
    assert!(
        replies[0]
            .1
            .starts_with("err expected \"acquire LIMITER [PERMITS]\""),
        "{}",
        replies[0].1
    );
    assert_eq!(
        replies[1].1,
        "err unknown limiter \"apj\" (did you mean \"api\"?)"
    );
    assert_eq!(
        replies[2].1,
        "err 9 permits exceed the burst 5 of limiter \"api\""
    );
    assert!(
        replies[3]
            .1
            .starts_with("err permits must be a positive integer"),
        "{}",
        replies[3].1
    );
    assert_eq!(replies[4].1, "ok", "the connection survives bad lines");
    assert_eq!(replies[5].1, "ok");
    assert_eq!(replies[6].1, "ok");
    assert!(
        replies[6].0 - replies[5].0 >= 0.9,
        "Retry-After 1 s paused the limiter: {:.3}",
        replies[6].0 - replies[5].0
    );
    assert_eq!(report(&p)["limiters"][0]["throttled"], 1);
}

#[test]
fn a_client_that_leaves_while_waiting_takes_no_token() {
    let p = Project::new(
        r#"
ptest.limiter { name = "slow", rate = 1, per = "1500ms", burst = 1 }
ptest.suite { name = "s", cmd = "python3 leave.py" }
"#,
    );
    p.file(
        "leave.py",
        r#"
import os, socket, time
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(os.environ["PTEST_SOCKET"]); return s
a = conn(); a.sendall(b"acquire slow\n"); assert a.makefile().readline().strip() == "ok"
b = conn(); b.sendall(b"acquire slow\n"); time.sleep(0.2); b.close()
t = time.time()
c = conn(); c.sendall(b"acquire slow\n"); assert c.makefile().readline().strip() == "ok"
print("waited %.3f" % (time.time() - t))
"#,
    );
    let out = run(&p, &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let log = std::fs::read_to_string(p.join("test-logs/s.log")).unwrap();
    let waited: f64 = log
        .lines()
        .last()
        .unwrap()
        .trim_start_matches("waited ")
        .parse()
        .unwrap();
    assert!(
        waited < 2.5,
        "the leaver's token went to the next client: waited {waited}"
    );
    assert_eq!(report(&p)["limiters"][0]["acquired"], 2);
}

#[test]
fn acquire_outside_a_run_and_timeouts() {
    let p = Project::new(
        r#"
ptest.limiter { name = "once", rate = 1, per = "1m", burst = 1 }
ptest.suite { name = "s", cmd = "ptest acquire once; ptest acquire once --timeout 300ms; echo rc=$?" }
"#,
    );
    let outside = p.run(&["acquire", "once"]);
    assert_eq!(outside.code, 3, "{}", outside.stderr);
    assert!(
        outside.stderr.contains("PTEST_SOCKET"),
        "{}",
        outside.stderr
    );
    run(&p, &[]);
    let log = std::fs::read_to_string(p.join("test-logs/s.log")).unwrap();
    assert!(log.contains("rc=4"), "{log}");
    let bad = p.run(&["acquire"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn adaptive_rate_and_max_throttled() {
    let p = Project::new(
        r#"
ptest.limiter { name = "api", rate = 8, burst = 4, adaptive = true, max_throttled = 1 }
ptest.suite { name = "s", cmd = { "python3", "sock.py", "throttled api", "throttled api" } }
"#,
    );
    p.file("sock.py", SOCK_PY);
    let out = run(&p, &[]);
    let l = &report(&p)["limiters"][0];
    assert_eq!(l["throttled"], 2);
    assert!(
        (l["rate"].as_f64().unwrap() - 2.0).abs() < 1e-9,
        "halved twice: {l}"
    );
    assert_eq!(l["serialized"], true);
    assert!(
        out.stdout.contains("its suites ran one at a time"),
        "{}",
        out.stdout
    );
}

#[test]
fn suites_find_this_ptest_first_on_path_argv_and_shell_alike() {
    let p = Project::new(
        r#"
ptest.limiter { name = "api", rate = 100 }
ptest.suite { name = "argv", cmd = { "ptest", "acquire", "api" } }
ptest.suite { name = "shell", cmd = "ptest acquire api" }
ptest.suite { name = "own path", env = { PATH = "/usr/bin:/bin" }, cmd = { "ptest", "acquire", "api" } }
"#,
    );
    // ptest itself is not on the PATH it was started with.
    let out = p.run_env(&["-q"], &[("PATH", "/usr/bin:/bin")]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(report(&p)["limiters"][0]["acquired"], 3);
}
