//! DESIGN §10, leases and the supervisor: a machine killed with SIGKILL loses its leases and
//! its units run on another machine; `ptest merge --queue URL --wait` waits for every unit and
//! writes the merged report and JUnit with every unit exactly once, and names the units left
//! without a result when no machine is left to run them.

use std::time::{Duration, Instant};

use crate::harness::Output;
use crate::queue::{Fleet, Redis, wait};

/// `ptest merge --queue URL --queue-run RUN ARGS` for the fleet's run, started now.
fn supervisor(f: &Fleet, url: &str, args: &[&str]) -> std::process::Child {
    let mut c = f.p.cmd();
    c.args(["merge", "--queue", url, "--queue-run", &f.run])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c.spawn().expect("start ptest merge")
}

pub(crate) fn merged(f: &Fleet, name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(f.p.join(name)).unwrap()).unwrap()
}

fn said(o: &Output) -> String {
    format!("exit {}\n{}\n{}", o.code, o.stdout, o.stderr)
}

#[test]
fn a_sigkilled_machines_units_run_elsewhere_and_the_merge_has_each_once() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let mut body = String::new();
    for i in 0..8 {
        body += &format!("ptest.suite {{ name = 'k{i}', cmd = probe('k{i}', 0.5) }}\n");
    }
    let f = Fleet::new(&body);
    let url = redis.url();
    let sup = supervisor(
        &f,
        &url,
        &[
            "--wait",
            "--timeout",
            "60s",
            "--queue-lease",
            "1s",
            "-o",
            "merged.json",
        ],
    );
    let lease = ["-j", "2", "--queue-lease", "1s"];
    let mut doomed = f.machine(&url, "m1", &lease).spawn().unwrap();
    // m1 runs alone until it has started two units; then it is killed holding them.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let started = f
            .spans()
            .values()
            .flatten()
            .filter(|s| s.machine == "m1")
            .count();
        if started >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "m1 never started two units");
        std::thread::sleep(Duration::from_millis(10));
    }
    doomed.kill().unwrap(); // SIGKILL
    let _ = doomed.wait();
    let survivor = wait(f.machine(&url, "m2", &lease).spawn().unwrap());
    assert_eq!(survivor.code, 0, "{}", said(&survivor));
    let sup = wait(sup);
    assert_eq!(sup.code, 0, "{}", said(&sup));
    let spans = f.spans();
    // Every unit ended exactly once; what m1 held when it died ran again on m2.
    for i in 0..8 {
        let name = format!("k{i}");
        let ended: Vec<_> = spans[&name].iter().filter(|s| s.end.is_some()).collect();
        assert_eq!(ended.len(), 1, "{name}: {:?}", spans[&name]);
    }
    let killed: Vec<&String> = spans
        .iter()
        .filter(|(_, s)| s.iter().any(|s| s.machine == "m1" && s.end.is_none()))
        .map(|(n, _)| n)
        .collect();
    assert!(
        !killed.is_empty(),
        "m1 was killed holding nothing: {spans:?}"
    );
    for n in &killed {
        assert!(
            spans[*n]
                .iter()
                .any(|s| s.machine == "m2" && s.end.is_some()),
            "{n} did not run again elsewhere: {spans:?}"
        );
    }
    // The merged report: every unit once, passed, named after the machine whose result counted.
    let m = merged(&f, "merged.json");
    let suites = m["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 8);
    for s in suites {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["status"], "passed", "{s}");
        let ended = spans[name].iter().find(|s| s.end.is_some()).unwrap();
        assert_eq!(s["node"].as_str(), Some(ended.machine.as_str()), "{name}");
    }
}

#[test]
fn the_supervisor_waits_then_writes_every_unit_once_with_its_machine() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = Fleet::new(
        "for i = 1, 6 do ptest.suite { name = 's' .. i, cmd = probe('s' .. i, 0.1) } end\n\
         ptest.suite { name = 'bad', cmd = probe('bad', 0, 1) }\n\
         ptest.suite { name = 'after', cmd = probe('after', 0), depends_on = { 'bad' } }\n",
    );
    let url = redis.url();
    // The supervisor starts before any machine: it waits for the plan, then for every unit.
    let sup = supervisor(
        &f,
        &url,
        &[
            "--wait",
            "--timeout",
            "60s",
            "-o",
            "merged.json",
            "--junit",
            "merged.xml",
        ],
    );
    let outs = f.run_machines(&url, 2, &["-j", "2"]);
    assert!(outs.iter().any(|o| o.code == 1), "one machine ran bad");
    let sup = wait(sup);
    assert_eq!(sup.code, 1, "a failed unit fails the merge: {}", said(&sup));
    let m = merged(&f, "merged.json");
    let suites = m["suites"].as_array().unwrap();
    let names: Vec<&str> = suites.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["s1", "s2", "s3", "s4", "s5", "s6", "bad", "after"]);
    let spans = f.spans();
    for s in suites {
        let name = s["name"].as_str().unwrap();
        match name {
            "bad" => assert_eq!(s["status"], "failed"),
            "after" => {
                assert_eq!(s["status"], "skipped");
                assert_eq!(s["skip_reason"], "dependency \"bad\" failed");
            }
            _ => assert_eq!(s["status"], "passed", "{s}"),
        }
        if name != "after" {
            assert_eq!(
                s["node"].as_str(),
                Some(spans[name][0].machine.as_str()),
                "{name}: the report names the machine that ran it"
            );
        }
    }
    assert_eq!(m["summary"]["total"], 8);
    assert_eq!(m["summary"]["failed"], 1);
    let xml = std::fs::read_to_string(f.p.join("merged.xml")).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 8, "{xml}");
}

#[test]
fn the_supervisor_names_units_that_never_ran_once_no_machine_is_left() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = Fleet::new(
        "ptest.suite { name = 'quick', cmd = probe('quick', 0) }\n\
         ptest.suite { name = 'stuck', cmd = probe('stuck', 30) }\n",
    );
    let url = redis.url();
    let lease = ["--queue-lease", "1s"];
    let mut doomed = f.machine(&url, "m1", &lease).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while f.spans().get("stuck").is_none_or(Vec::is_empty)
        || f.spans().get("quick").is_none_or(|s| s[0].end.is_none())
    {
        assert!(Instant::now() < deadline, "m1 never started both");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Give m1 time to write quick's result, then kill it holding stuck.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let o = f.p.run(&[
            "merge",
            "--queue",
            &url,
            "--queue-run",
            &f.run,
            "-o",
            "now.json",
        ]);
        if merged(&f, "now.json")["suites"][0]["status"] == "passed" {
            assert_eq!(o.code, 1, "stuck has no result yet: {}", said(&o));
            assert!(o.stderr.contains("has no result: stuck"), "{}", said(&o));
            break;
        }
        assert!(Instant::now() < until, "quick's result never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    doomed.kill().unwrap();
    let _ = doomed.wait();
    let sup = wait(supervisor(
        &f,
        &url,
        &[
            "--wait",
            "--timeout",
            "60s",
            "--queue-lease",
            "1s",
            "-o",
            "merged.json",
        ],
    ));
    assert_eq!(sup.code, 1, "{}", said(&sup));
    assert!(
        sup.stderr.contains("no machine of queue run")
            && sup.stderr.contains("1 unit of queue run")
            && sup.stderr.contains("has no result: stuck"),
        "{}",
        said(&sup)
    );
    let m = merged(&f, "merged.json");
    assert_eq!(m["suites"][1]["name"], "stuck");
    assert_eq!(
        m["suites"][1]["skip_reason"],
        "no result: no machine of the queue run ran it to its end"
    );
}
