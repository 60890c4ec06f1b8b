//! DESIGN §10, the queue: several `ptest --queue` processes on one project stand in for the
//! machines of a CI run, sharing a real `redis-server` started by the test on a free loopback
//! port (`PTEST_TEST_REDIS`, else `redis-server` on the PATH; `.ci/run` installs it; without it
//! the tests fail under CI and say "skipped" elsewhere). Suites run a probe that appends
//! `start NAME EPOCH_NS MACHINE` and `end ...` lines to one file, so the assertions are on what
//! really ran where: every unit exactly once, dependencies and phases held across processes,
//! a group's `max` across processes, skips everywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Output, Project};
pub(crate) use crate::redis_server::{Redis, free_port};

/// `sh qprobe.sh NAME SECONDS [EXIT]`: `start NAME NS MACHINE`, a sleep, `end NAME NS MACHINE`.
const PROBE: &str = r#"name=$1; secs=${2:-0}; code=${3:-0}
out='@FILE@'
echo "start $name $(date +%s%N) $MACHINE" >> "$out"
sleep "$secs"
echo "end $name $(date +%s%N) $MACHINE" >> "$out"
exit "$code"
"#;

/// A project whose `ptest.lua` can call `probe(name, seconds, exit)`.
pub(crate) struct Fleet {
    pub p: Project,
    pub run: String,
}

/// One span of a suite as a probe recorded it.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub start: u128,
    pub end: Option<u128>,
    pub machine: String,
}

impl Fleet {
    pub(crate) fn new(body: &str) -> Fleet {
        let p = Project::new("");
        let file = p.join("probe.log");
        p.file(
            "qprobe.sh",
            &PROBE.replace("@FILE@", file.to_str().unwrap()),
        );
        let prelude = format!(
            "local function probe(name, secs, code)\n  return string.format(\"sh '{}' %s %s %d\", name, tostring(secs or 0), code or 0)\nend\n",
            p.join("qprobe.sh").display()
        );
        p.file("ptest.lua", &(prelude + body));
        Fleet {
            p,
            run: format!(
                "t{:x}",
                u64::from(std::process::id()) * 1000 + u64::from(free_port())
            ),
        }
    }

    /// `ptest --queue URL --queue-run RUN` as machine `name`, with its own log folder.
    pub(crate) fn machine(&self, url: &str, name: &str, args: &[&str]) -> Command {
        let mut c = self.p.cmd();
        c.args(["--queue", url, "--queue-run", &self.run, "--no-history"])
            .args(["--log-dir", &format!("logs-{name}")])
            .args(args)
            .env("MACHINE", name)
            // The machine's name in reports (DESIGN §10: the CI's job name).
            .env("CI_JOB_NAME", name)
            .env_remove("GITHUB_JOB")
            .env_remove("CIRCLE_JOB")
            .env_remove("BUILDKITE_LABEL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Run machines `m1..=mN` at once; their outputs in order.
    pub(crate) fn run_machines(&self, url: &str, n: usize, args: &[&str]) -> Vec<Output> {
        let children: Vec<Child> = (1..=n)
            .map(|k| {
                self.machine(url, &format!("m{k}"), args)
                    .spawn()
                    .expect("start ptest")
            })
            .collect();
        children.into_iter().map(wait).collect()
    }

    /// Every suite's spans, by name.
    pub(crate) fn spans(&self) -> BTreeMap<String, Vec<Span>> {
        let text = std::fs::read_to_string(self.p.join("probe.log")).unwrap_or_default();
        let mut out: BTreeMap<String, Vec<Span>> = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [kind, name, ns, machine] = f[..] else {
                continue;
            };
            let ns: u128 = ns.parse().unwrap();
            let spans = out.entry(name.to_owned()).or_default();
            match kind {
                "start" => spans.push(Span {
                    start: ns,
                    end: None,
                    machine: machine.to_owned(),
                }),
                "end" => {
                    let open = spans
                        .iter_mut()
                        .rev()
                        .find(|s| s.end.is_none() && s.machine == machine)
                        .expect("an end after its start");
                    open.end = Some(ns);
                }
                _ => {}
            }
        }
        out
    }

    /// A machine's own report.
    pub(crate) fn report(&self, machine: &str) -> serde_json::Value {
        let path = self.p.join(&format!("logs-{machine}/test-report.json"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e}", path.display());
        }))
        .unwrap()
    }
}

/// The longest a machine of these tests may run: a queue that never drains fails its test with
/// what the machine printed, instead of holding up the whole `cargo test`.
const MACHINE_DEADLINE: Duration = Duration::from_secs(180);

pub(crate) fn wait(mut c: Child) -> Output {
    use std::io::Read;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(c.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(c.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let until = Instant::now() + MACHINE_DEADLINE;
    let mut stopped = false;
    let status = loop {
        if let Some(status) = c.try_wait().expect("wait for ptest") {
            break status;
        }
        if Instant::now() > until && !stopped {
            // Our own child, not yet reaped: SIGKILL reaches it and nothing else.
            let _ = c.kill();
            stopped = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = stderr.join().expect("stderr reader");
    if stopped {
        stderr += &format!(
            "\n[test harness: killed after {MACHINE_DEADLINE:?}: the queue never drained]\n"
        );
    }
    Output {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr,
    }
}

pub(crate) fn show(outs: &[Output]) -> String {
    let mut text = String::new();
    for (i, o) in outs.iter().enumerate() {
        text += &format!("--- m{} exit {}\n{}\n{}", i + 1, o.code, o.stdout, o.stderr);
    }
    text
}

/// Suite names in a machine's report, with their statuses.
fn statuses(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_unit_runs_exactly_once_across_machines_and_each_report_keeps_its_own() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let mut body = String::new();
    for i in 0..12 {
        body += &format!("ptest.suite {{ name = 's{i:02}', cmd = probe('s{i:02}', 0.2) }}\n");
    }
    let f = Fleet::new(&body);
    let outs = f.run_machines(&redis.url(), 3, &["-j", "2"]);
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    let spans = f.spans();
    assert_eq!(spans.len(), 12, "{spans:?}");
    for (name, s) in &spans {
        assert_eq!(s.len(), 1, "{name} ran {} times: {s:?}", s.len());
        assert!(s[0].end.is_some(), "{name}");
    }
    // Each machine's report holds what it ran, and together they hold every suite once.
    let mut seen = BTreeMap::new();
    for m in ["m1", "m2", "m3"] {
        for (name, status) in statuses(&f.report(m)) {
            assert_eq!(status, "passed", "{name} on {m}");
            assert_eq!(spans[&name][0].machine, m, "{name}");
            assert!(
                seen.insert(name.clone(), m).is_none(),
                "{name} in two reports"
            );
        }
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
}

#[test]
fn dependencies_and_phases_hold_across_machines() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = Fleet::new(
        "local one = ptest.phase { name = 'one' }\n\
         local two = ptest.phase { name = 'two' }\n\
         ptest.suite { name = 'a', cmd = probe('a', 0.3), phase = one }\n\
         ptest.suite { name = 'b', cmd = probe('b', 0.1), phase = one, depends_on = { 'a' } }\n\
         ptest.suite { name = 'c', cmd = probe('c', 0.1), phase = one, depends_on = { 'a' } }\n\
         ptest.suite { name = 'd', cmd = probe('d', 0.1), phase = one, depends_on = { 'b', 'c' } }\n\
         for i = 1, 4 do ptest.suite { name = 'w' .. i, cmd = probe('w' .. i, 0.2), phase = one } end\n\
         for i = 1, 4 do ptest.suite { name = 'x' .. i, cmd = probe('x' .. i, 0.1), phase = two } end\n",
    );
    let outs = f.run_machines(&redis.url(), 3, &["-j", "2"]);
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    let spans = f.spans();
    let one = |n: &str| {
        let s = &spans[n];
        assert_eq!(s.len(), 1, "{n}: {s:?}");
        s[0].clone()
    };
    for (dep, after) in [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")] {
        assert!(
            one(dep).end.unwrap() <= one(after).start,
            "{after} started before {dep} ended: {:?} {:?}",
            one(dep),
            one(after)
        );
    }
    let phase_one_end = ["a", "b", "c", "d", "w1", "w2", "w3", "w4"]
        .iter()
        .map(|n| one(n).end.unwrap())
        .max()
        .unwrap();
    for x in ["x1", "x2", "x3", "x4"] {
        assert!(
            one(x).start >= phase_one_end,
            "{x} started inside phase one"
        );
    }
}

#[test]
fn a_groups_max_holds_across_machines() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = Fleet::new(
        "local g = ptest.group { name = 'db', max = 1 }\n\
         for i = 1, 5 do ptest.suite { name = 'g' .. i, cmd = probe('g' .. i, 0.15), group = g } end\n\
         for i = 1, 4 do ptest.suite { name = 'f' .. i, cmd = probe('f' .. i, 0.1) } end\n",
    );
    let outs = f.run_machines(&redis.url(), 3, &["-j", "2"]);
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    let spans = f.spans();
    let mut group: Vec<Span> = (1..=5)
        .map(|i| spans[&format!("g{i}")][0].clone())
        .collect();
    assert!(
        (1..=5).all(|i| spans[&format!("g{i}")].len() == 1),
        "{spans:?}"
    );
    group.sort_by_key(|s| s.start);
    for w in group.windows(2) {
        assert!(
            w[0].end.unwrap() <= w[1].start,
            "two members of a max = 1 group overlapped: {w:?}"
        );
    }
}

#[test]
fn a_failure_skips_its_dependents_on_every_machine() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = Fleet::new(
        "ptest.suite { name = 'base', cmd = probe('base', 0.2, 3) }\n\
         ptest.suite { name = 'dep', cmd = probe('dep', 0), depends_on = { 'base' } }\n\
         ptest.suite { name = 'deeper', cmd = probe('deeper', 0), depends_on = { 'dep' } }\n\
         for i = 1, 3 do ptest.suite { name = 'o' .. i, cmd = probe('o' .. i, 0.2) } end\n",
    );
    let outs = f.run_machines(&redis.url(), 2, &["-j", "2"]);
    let spans = f.spans();
    assert!(
        !spans.contains_key("dep") && !spans.contains_key("deeper"),
        "{spans:?}"
    );
    assert_eq!(spans["base"].len(), 1);
    // The machine that ran `base` fails; the skips are in exactly one report.
    let ran_base = &spans["base"][0].machine;
    let mut skips = BTreeMap::new();
    for (i, o) in outs.iter().enumerate() {
        let m = format!("m{}", i + 1);
        assert_eq!(o.code, i32::from(&m == ran_base), "{}", show(&outs));
        for (name, status) in statuses(&f.report(&m)) {
            if status == "skipped" {
                assert!(skips.insert(name, m.clone()).is_none());
            }
        }
    }
    assert_eq!(
        skips.keys().collect::<Vec<_>>(),
        ["deeper", "dep"],
        "{}",
        show(&outs)
    );
}

#[test]
fn a_late_machine_on_a_drained_queue_runs_nothing_and_exits_0() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = Fleet::new(
        "ptest.suite { name = 'a', cmd = probe('a', 0) }\n\
         ptest.suite { name = 'b', cmd = probe('b', 0), depends_on = { 'a' } }\n",
    );
    let first = wait(f.machine(&redis.url(), "m1", &[]).spawn().unwrap());
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let late = wait(f.machine(&redis.url(), "m2", &[]).spawn().unwrap());
    assert_eq!(late.code, 0, "{}{}", late.stdout, late.stderr);
    assert!(
        late.stdout.contains("nothing left"),
        "{}{}",
        late.stdout,
        late.stderr
    );
    assert_eq!(f.spans().values().map(Vec::len).sum::<usize>(), 2);
    assert!(statuses(&f.report("m2")).is_empty());
}

#[test]
fn a_machine_whose_plan_differs_is_refused_before_anything_runs() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = Fleet::new(
        "ptest.suite { name = 'a', cmd = probe('a', 0) }\n\
         ptest.suite { name = 'b', cmd = probe('b', 0), enabled = os.getenv('EXTRA') == nil }\n",
    );
    let first = wait(f.machine(&redis.url(), "m1", &[]).spawn().unwrap());
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let other = wait(
        f.machine(&redis.url(), "m2", &[])
            .env("EXTRA", "1")
            .spawn()
            .unwrap(),
    );
    assert_eq!(other.code, 2, "{}{}", other.stdout, other.stderr);
    assert!(
        other.stderr.contains(
            "the queue's plan differs from this machine's: suite \"b\": skip differs (the queue's: null; this machine's: \"disabled\")"
        ),
        "{}",
        other.stderr
    );
    assert_eq!(f.spans().values().map(Vec::len).sum::<usize>(), 2);
}

#[test]
fn bad_urls_and_a_wrong_password_are_clear_errors() {
    let f = Fleet::new("ptest.suite { name = 'a', cmd = probe('a', 0) }\n");
    let out = f.p.run(&["--queue", "http://x:1", "--queue-run", "r"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "--queue: expected redis://HOST:PORT[/DB] or rediss://HOST:PORT[/DB], got a http:// URL"
        ),
        "{}",
        out.stderr
    );
    let out = f.p.run(&["--queue", "redis://127.0.0.1:6379"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--queue needs a run id that every machine of this run shares"),
        "{}",
        out.stderr
    );
    let Some(redis) = Redis::start(&["--requirepass", "right"]) else {
        return;
    };
    let url = format!("redis://:wrong@127.0.0.1:{}", redis.port);
    let out = f.p.run(&["--queue", &url, "--queue-run", "r"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the queue's store refused the credentials"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong"), "{}", out.stderr);
    assert!(f.spans().is_empty());
}

#[test]
fn a_queue_runs_header_names_the_run_the_store_and_this_machine_not_a_shard() {
    let Some(redis) = Redis::start(&["--requirepass", "s3cret"]) else {
        return;
    };
    let f = Fleet::new(
        "for i = 1, 3 do ptest.suite { name = 's' .. i, cmd = probe('s' .. i, 0) } end\n",
    );
    // The CI names two machines (the fallback shard, and what the plan's parts are cut for),
    // but the queue decides: this one machine runs all three suites.
    let url = format!("redis://:s3cret@127.0.0.1:{}", redis.port);
    let mut c = f.machine(&url, "m1", &["-j", "1"]);
    c.env("PTEST_SHARD", "1/2");
    let out = wait(c.spawn().unwrap());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let header = format!(
        "ptest: queue run {} (--queue-run) at redis://:***@127.0.0.1:{}, machine m1 of 2 \
         (PTEST_SHARD), 3 suites (default 3), 1 worker (--jobs), ",
        f.run, redis.port
    );
    assert!(
        out.stdout.starts_with(&header),
        "{header}\n{}{}",
        out.stdout,
        out.stderr
    );
    assert!(!out.stdout.contains("shard 1/2"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let spans = f.spans();
    assert_eq!(spans.len(), 3, "{spans:?}");
    assert!(spans.values().all(|s| s.len() == 1 && s[0].machine == "m1"));
}

#[test]
fn an_unreachable_store_at_the_start_runs_the_static_shard() {
    let f = Fleet::new(
        "for i = 1, 6 do ptest.suite { name = 's' .. i, cmd = probe('s' .. i, 0) } end\n",
    );
    let url = format!("redis://127.0.0.1:{}", free_port());
    let outs: Vec<Output> = (1..=2)
        .map(|k| {
            let mut c = f.machine(&url, &format!("m{k}"), &[]);
            c.env("CI_NODE_INDEX", k.to_string())
                .env("CI_NODE_TOTAL", "2");
            wait(c.spawn().unwrap())
        })
        .collect();
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    for (k, o) in outs.iter().enumerate() {
        assert!(
            o.stderr.contains("cannot reach the queue's store")
                && o.stderr.contains("running static shard"),
            "{}",
            show(&outs)
        );
        // The header says what decided what ran: the shard, in place of the queue.
        let header = format!(
            "ptest: shard {}/2 (CI_NODE_INDEX) in place of queue run {} at {url} (unreachable), 3 suites ",
            k + 1,
            f.run
        );
        assert!(o.stdout.starts_with(&header), "{header}\n{}", show(&outs));
    }
    let spans = f.spans();
    assert_eq!(spans.len(), 6, "{spans:?}");
    assert!(spans.values().all(|s| s.len() == 1), "{spans:?}");
    let machines: BTreeSet<&str> = spans.values().map(|s| s[0].machine.as_str()).collect();
    assert_eq!(machines.len(), 2, "{spans:?}");
}

#[test]
fn a_store_lost_mid_run_leaves_the_machine_running_everything_it_has_not_seen_end() {
    let Some(mut redis) = Redis::start(&[]) else {
        return;
    };
    let mut body = String::from("ptest.suite { name = 'first', cmd = probe('first', 0.5) }\n");
    for i in 1..=5 {
        body += &format!(
            "ptest.suite {{ name = 'r{i}', cmd = probe('r{i}', 0), depends_on = {{ 'first' }} }}\n"
        );
    }
    let f = Fleet::new(&body);
    let m = f.machine(&redis.url(), "m1", &["-j", "1"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while f.spans().get("first").is_none_or(Vec::is_empty) {
        assert!(Instant::now() < deadline, "first never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The store dies while `first` runs under its lease.
    redis.child.kill().unwrap();
    let _ = redis.child.wait();
    let out = wait(m);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("the queue's store is lost")
            || out.stderr.contains("the queue's store is lost"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let spans = f.spans();
    assert_eq!(spans.len(), 6, "{spans:?}");
    assert!(spans.values().all(|s| s.len() == 1 && s[0].end.is_some()));
}

#[test]
fn a_batch_is_cut_into_parts_for_every_machines_workers() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    // Eight items, no history: two parts per worker, one worker on each of two machines (the
    // shard total names the machines), so four parts, each run once, spread over both.
    let f = Fleet::new(
        "ptest.batch { name = 'b', items = { 'i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8' },\n\
           cmd = 'echo \"start $PTEST_SUITE 0 $MACHINE\" >> probe.log; sleep 0.3 # {items}' }\n",
    );
    let children: Vec<_> = (1..=2)
        .map(|k| {
            f.machine(&redis.url(), &format!("m{k}"), &["-j", "1"])
                .env("PTEST_SHARD", format!("{k}/2"))
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children.into_iter().map(wait).collect();
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    let spans = f.spans();
    let names: Vec<&str> = spans.keys().map(String::as_str).collect();
    assert_eq!(names, ["b[1]", "b[2]", "b[3]", "b[4]"], "{}", show(&outs));
    assert!(spans.values().all(|s| s.len() == 1), "{spans:?}");
    let machines: BTreeSet<&str> = spans.values().map(|s| s[0].machine.as_str()).collect();
    assert_eq!(machines.len(), 2, "{spans:?}");
}
