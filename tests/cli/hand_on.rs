//! Items handed on (DESIGN §9): a batch part that runs well past its expected time hands the
//! items it has not claimed to a part of its batch about to start, so that a slow item the
//! guesses did not see coming leaves no worker idle. Here the part's process is a small
//! runner that claims each item on `PTEST_SOCKET` (`claim SUITE<TAB>ITEM`) before running it,
//! as the pytest preset's parts do; the run is checked from what the runner recorded (which
//! process ran which item, and when) and from the report.

use crate::harness::{Project, report_file};
use serde_json::Value;

/// Claims each item before running it (`ok`: runs it, `no`: leaves it out), sleeps its
/// seconds (`SLOW` for t1.py, 1 s for the rest), records `ANSWER SUITE PID ITEM START END` in
/// ran.txt, and writes a JUnit file with a test per item it ran.
const RUNNER: &str = r#"import os, socket, sys, time
suite, results, items = os.environ["PTEST_SUITE"], sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["PTEST_SOCKET"])
f = s.makefile("rwb")
ran = []
for item in items:
    f.write(("claim %s\t%s\n" % (suite, item)).encode())
    f.flush()
    answer = f.readline().decode().strip()
    start = time.time()
    if answer == "ok":
        time.sleep(float(os.environ["SLOW"]) if item == "t1.py" else 1.0)
        ran.append(item)
    with open("ran.txt", "a") as o:
        o.write("%s %s %d %s %.3f %.3f\n" % (answer, suite, os.getpid(), item, start, time.time()))
with open(results, "w") as o:
    o.write("<testsuites><testsuite name='r'>")
    for item in ran:
        o.write("<testcase classname='' name='test' file='%s'/>" % item)
    o.write("</testsuite></testsuites>")
"#;

/// Eight items of no known duration in four parts on two workers: t1.py and t5.py share the
/// first part (items are dealt round the parts), which starts first.
fn project() -> Project {
    let p = Project::new(
        r#"ptest.config { workers = 2 }
ptest.batch { name = "b", items = { "t1.py", "t2.py", "t3.py", "t4.py", "t5.py", "t6.py", "t7.py", "t8.py" },
  batches = 4, cmd = { "python3", "runner.py", "{tmpdir}/r.xml", "{items}" }, results = "{tmpdir}/r.xml" }
"#,
    );
    p.file("runner.py", RUNNER);
    p
}

struct Ran {
    answer: String,
    suite: String,
    pid: u32,
    item: String,
    start: f64,
    end: f64,
}

fn ran(p: &Project) -> Vec<Ran> {
    std::fs::read_to_string(p.join("ran.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            Ran {
                answer: w[0].to_owned(),
                suite: w[1].to_owned(),
                pid: w[2].parse().unwrap(),
                item: w[3].to_owned(),
                start: w[4].parse().unwrap(),
                end: w[5].parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn a_part_past_its_time_hands_its_items_not_started_to_the_last_part_to_start() {
    let p = project();
    let out = p.run_env(&["--events", "events.ndjson"], &[("SLOW", "8")]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let lines = ran(&p);
    // Every item ran once, in one process.
    let mut items: Vec<&str> = lines
        .iter()
        .filter(|r| r.answer == "ok")
        .map(|r| r.item.as_str())
        .collect();
    items.sort_unstable();
    assert_eq!(
        items,
        [
            "t1.py", "t2.py", "t3.py", "t4.py", "t5.py", "t6.py", "t7.py", "t8.py"
        ],
        "{}",
        std::fs::read_to_string(p.join("ran.txt")).unwrap()
    );
    // t5.py was b[1]'s after the slow t1.py (8 s): b[1] was refused it, and b[4] (the last
    // part to start, 4 s in, when b[1] had run past 1.5 times its expected 2 s) ran it while
    // t1.py still ran.
    let t5: Vec<&Ran> = lines.iter().filter(|r| r.item == "t5.py").collect();
    let refused = t5
        .iter()
        .find(|r| r.answer == "no")
        .expect("b[1] was refused t5.py");
    let took = t5.iter().find(|r| r.answer == "ok").unwrap();
    assert_eq!(refused.suite, "b[1]");
    assert_eq!(took.suite, "b[4]");
    assert_ne!(refused.pid, took.pid);
    let t1 = lines.iter().find(|r| r.item == "t1.py").unwrap();
    assert!(took.start < t1.end, "t5.py ran while t1.py did");
    let events = std::fs::read_to_string(p.join("events.ndjson")).unwrap();
    let handed: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "items_handed_on")
        .collect();
    assert_eq!(handed.len(), 1, "{events}");
    assert_eq!(handed[0]["from"], "b[1]");
    assert_eq!(handed[0]["to"], "b[4]");
    assert_eq!(handed[0]["items"], serde_json::json!(["t5.py"]));
    assert!(out.stdout.contains("HANDOFF b[1]"), "{}", out.stdout);
    // The report names each part's real items and its tests under them.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(report_file(&p)).unwrap()).unwrap();
    let part = |name: &str| {
        report["suites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(part("b[1]")["batch"]["items"], serde_json::json!(["t1.py"]));
    assert_eq!(
        part("b[4]")["batch"]["items"],
        serde_json::json!(["t4.py", "t8.py", "t5.py"])
    );
    let b4 = part("b[4]");
    let files: Vec<&str> = b4["testcases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["t4.py", "t8.py", "t5.py"]);
}

#[test]
fn parts_that_keep_to_their_time_hand_nothing_on() {
    let p = project();
    let out = p.run_env(&["--events", "events.ndjson"], &[("SLOW", "1")]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(ran(&p).iter().all(|r| r.answer == "ok"));
    let events = std::fs::read_to_string(p.join("events.ndjson")).unwrap();
    assert!(!events.contains("items_handed_on"), "{events}");
}
