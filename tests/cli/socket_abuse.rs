//! The coordinator socket against hostile or careless clients: absurd Retry-After values, a line
//! without end, a flood of connections while ptest is out of descriptors, a long TMPDIR.

use crate::harness::Project;

const SOCK_PY: &str = r#"
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["PTEST_SOCKET"])
f = s.makefile("rw")
for line in sys.argv[1:]:
    f.write(line + "\n"); f.flush()
    reply = f.readline().strip()
    print("%.6f %s" % (time.time(), reply), flush=True)
"#;

fn replies(p: &Project, suite: &str) -> Vec<(f64, String)> {
    let log = std::fs::read_to_string(p.join(&format!("test-logs/{suite}.log"))).unwrap();
    log.lines()
        .skip(1)
        .filter_map(|l| {
            let (t, r) = l.split_once(' ')?;
            Some((t.parse().ok()?, r.to_owned()))
        })
        .collect()
}

#[test]
fn retry_after_is_validated_and_capped_by_the_suites_timeout() {
    // `other` uses the limiter with a 2 s timeout: no Retry-After may pause it longer.
    let p = Project::new(
        r#"
ptest.limiter { name = "api", rate = 1000, burst = 5 }
ptest.suite { name = "other", cmd = "true", limiter = "api", timeout = "2s" }
ptest.suite { name = "t", depends_on = { "other" }, timeout = "60s",
  cmd = { "python3", "sock.py", "throttled api 1e300", "throttled api -1", "throttled api nan",
          "throttled api inf", "acquire api" } }
"#,
    );
    p.file("sock.py", SOCK_PY);
    let out = p.run(&["-j", "1"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let r = replies(&p, "t");
    let words: Vec<&str> = r.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(words.len(), 5, "{r:?}");
    assert_eq!(words[0], "ok");
    for w in &words[1..4] {
        assert!(
            w.starts_with("err retry_after must be a number of seconds"),
            "{w}"
        );
    }
    assert_eq!(words[4], "ok");
    let paused = r[4].0 - r[0].0;
    assert!(
        (1.5..30.0).contains(&paused),
        "paused for the 2 s cap, not 1e300 s: {paused:.3}"
    );
}

#[test]
fn a_line_without_end_is_cut_at_4_kib_and_dropped() {
    let p = Project::new(
        r#"
ptest.limiter { name = "api", rate = 1000, burst = 5 }
ptest.suite { name = "long", cmd = { "python3", "long.py" }, timeout = "60s" }
"#,
    );
    p.file(
        "long.py",
        r#"
import os, socket
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["PTEST_SOCKET"])
sent = 0
try:
    while sent < 64 * 1024 * 1024:
        s.sendall(b"x" * 65536)
        sent += 65536
except OSError:
    pass
try:
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass
data = b""
while True:
    try:
        b = s.recv(4096)
    except OSError:
        break
    if not b:
        break
    data += b
print("reply", data.decode().strip(), "after", sent)
"#,
    );
    let out = p.run(&[]);
    let log = std::fs::read_to_string(p.join("test-logs/long.log")).unwrap();
    assert_eq!(out.code, 0, "{}{}{log}", out.stdout, out.stderr);
    assert!(log.contains("reply err line too long after"), "{log}");
    // Dropped long before 64 MiB went through (the socket buffers hold a few hundred KiB).
    let sent: u64 = log
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(sent < 16 * 1024 * 1024, "{sent}");
}

#[test]
fn out_of_descriptors_accept_backs_off_instead_of_spinning() {
    // ptest's hard limit is low: the suite's connections exhaust ptest's descriptors, and it
    // measures ptest's CPU time while they wait in the backlog.
    let p = Project::new(
        r#"
ptest.limiter { name = "api", rate = 1000, burst = 5 }
ptest.suite { name = "flood", cmd = { "python3", "flood.py" }, timeout = "60s" }
"#,
    );
    p.file(
        "flood.py",
        r#"
import os, socket, time
def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
socks = []
for i in range(40):
    s = socket.socket(socket.AF_UNIX)
    s.setblocking(False)
    try:
        s.connect(os.environ["PTEST_SOCKET"])
    except OSError:
        pass
    socks.append(s)
time.sleep(0.3)
before = cpu(os.getppid())
time.sleep(1.5)
print("ticks", cpu(os.getppid()) - before, "per", os.sysconf("SC_CLK_TCK"))
"#,
    );
    let bin = p.cmd().get_program().to_owned();
    let mut sh = std::process::Command::new("sh");
    sh.current_dir(p.path())
        .env_remove("CI")
        .arg("-c")
        .arg("ulimit -n 48 && exec \"$0\"")
        .arg(bin);
    let out = crate::harness::run(&mut sh);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(p.join("test-logs/flood.log")).unwrap();
    let ticks: u64 = log
        .split_whitespace()
        .skip_while(|w| *w != "ticks")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{log}"));
    // 1.5 s of spinning is ~150 ticks (of 100 per second); backing off costs next to none.
    assert!(ticks < 10, "ptest used {ticks} ticks in 1.5 s: {log}");
}

#[test]
fn a_long_tmpdir_breaks_no_run_and_the_socket_still_serves() {
    let p = Project::new(
        r#"
ptest.limiter { name = "api", rate = 1000, burst = 5 }
ptest.suite { name = "acq", cmd = "ptest acquire api && echo granted" }
"#,
    );
    let tmpdir = p.join(&"d".repeat(60)).join("e".repeat(60));
    std::fs::create_dir_all(&tmpdir).unwrap();
    let out = p.run_env(&[], &[("TMPDIR", tmpdir.to_str().unwrap())]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(p.join("test-logs/acq.log")).unwrap();
    assert!(log.contains("granted"), "{log}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let run_id = report["run_id"].as_str().unwrap();
    // The socket's own folder under /tmp is gone with the run.
    assert!(
        !std::path::Path::new(&format!("/tmp/ptest-{run_id}")).exists(),
        "{run_id}"
    );
}

#[test]
fn claims_from_careless_clients_get_an_answer_and_move_nothing() {
    // A claim without its tab, with an empty item, of a suite not in the run, of a plain suite,
    // and of an item the part never held: each is answered, none refused, nothing handed on.
    let p = Project::new(
        r#"
ptest.suite { name = "t", cmd = { "python3", "sock.py", "claim", "claim t", "claim t\t",
  "claim nosuch\tx.py", "claim t\tx.py", "claim b[1]\tnever.py", "  claim t\ty z.py" } }
ptest.batch { name = "b", items = { "a.py" }, cmd = { "true", "{items}" } }
"#,
    );
    p.file("sock.py", SOCK_PY);
    let out = p.run(&["-j", "1", "--events", "events.ndjson"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let words: Vec<String> = replies(&p, "t").into_iter().map(|(_, w)| w).collect();
    let usage = "err expected \"claim SUITE<TAB>ITEM\"";
    assert_eq!(
        words,
        [usage, usage, usage, "ok", "ok", "ok", "ok"],
        "{words:?}"
    );
    let events = std::fs::read_to_string(p.join("events.ndjson")).unwrap();
    assert!(!events.contains("items_handed_on"), "{events}");
}
