//! Probes for run tests: a shell script suites run that appends `start NAME EPOCH_NS WORKER`,
//! `pid NAME PID` and `end NAME EPOCH_NS WORKER` lines to a file, and helpers that read those
//! lines back as spans, so tests assert on what really happened (overlaps, orders, worker
//! sharing, processes left alive) rather than only on what the report claims.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Output, Project};

/// `sh probe.sh NAME SECONDS [EXIT [TAG:COUNT]]`: records its start, sleeps (as a child it waits
/// for, so a signal to the group reaches both), records its end and exits with EXIT.
///
/// With `TAG:COUNT` it first waits, at most 30 s, until COUNT probes of that tag have started:
/// suites a test expects side by side then overlap however slowly a loaded machine starts them,
/// and a scheduler that ran them one after another shows as a 30 s wait and a failed overlap.
const PROBE_SH: &str = r#"name=$1; secs=${2:-0}; code=${3:-0}; meet=${4:-}
out='@PROBE_FILE@'
echo "start $name $(date +%s%N) ${PTEST_WORKER:-none}" >> "$out"
echo "pid $name $$" >> "$out"
if [ -n "$meet" ]; then
  dir="$out.meet.${meet%%:*}"; mkdir -p "$dir"; : > "$dir/$name"; n=0
  while [ "$(ls "$dir" | wc -l)" -lt "${meet##*:}" ] && [ "$n" -lt 3000 ]; do sleep 0.01; n=$((n+1)); done
fi
sleep "$secs" &
echo "pid $name $!" >> "$out"
wait $!
echo "end $name $(date +%s%N) ${PTEST_WORKER:-none}" >> "$out"
exit "$code"
"#;

/// Lua put before every probed config: `probe(name, seconds, exit_code, meet)` returns the
/// command; `meet` ("TAG:COUNT") makes COUNT probes of a tag wait for each other (see PROBE_SH).
const PRELUDE: &str = r#"local function probe(name, secs, code, meet)
  return string.format("sh '@PROBE_SH@' %s %s %d %s", name, tostring(secs or 0), code or 0, meet or "")
end
"#;

/// A project whose `ptest.lua` can call `probe(...)`.
pub(crate) struct Probed {
    pub p: Project,
}

/// What one probed run left behind.
pub(crate) struct Run {
    pub out: Output,
    pub spans: Spans,
}

impl Probed {
    pub(crate) fn new(body: &str) -> Probed {
        Probed::with(Project::new(""), body)
    }

    /// A probed project in `parent` rather than in the temp folder ([`Project::new_in`]).
    pub(crate) fn new_in(parent: &std::path::Path, body: &str) -> Probed {
        Probed::with(Project::new_in(parent, ""), body)
    }

    fn with(p: Project, body: &str) -> Probed {
        let script = p.join("probe.sh");
        let probe_file = p.join("probe.log");
        p.file(
            "probe.sh",
            &PROBE_SH.replace("@PROBE_FILE@", probe_file.to_str().unwrap()),
        );
        let config = PRELUDE.replace("@PROBE_SH@", script.to_str().unwrap()) + body;
        p.file("ptest.lua", &config);
        Probed { p }
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub(crate) fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self.p.run_env(args, env);
        Run {
            out,
            spans: self.spans(),
        }
    }

    pub(crate) fn spans(&self) -> Spans {
        Spans::read(&self.p.join("probe.log"))
    }

    /// The JSON report the last run wrote in the default log folder.
    pub(crate) fn report(&self) -> Value {
        report_at(&self.p.join("test-logs/test-report.json"))
    }

    /// Start `ptest ARGS` in the background, stdout and stderr to files in the project.
    pub(crate) fn spawn(&self, args: &[&str]) -> Child {
        spawn(&self.p, args)
    }
}

pub(crate) fn report_at(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read report {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the report is JSON")
}

/// The report entry of the suite called `name`.
pub(crate) fn suite<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["suites"]
        .as_array()
        .expect("suites is an array")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no suite {name} in the report"))
}

pub(crate) fn status<'a>(report: &'a Value, name: &str) -> &'a str {
    suite(report, name)["status"].as_str().expect("status")
}

pub(crate) fn skip_reason<'a>(report: &'a Value, name: &str) -> &'a str {
    suite(report, name)["skip_reason"]
        .as_str()
        .unwrap_or_else(|| panic!("suite {name} has no skip reason"))
}

/// One run of a probe: from its start record to its end record (none when it was killed).
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub name: String,
    pub start: u128,
    pub end: Option<u128>,
    pub worker: String,
    pub pids: Vec<i32>,
}

impl Span {
    pub(crate) fn end(&self) -> u128 {
        self.end
            .unwrap_or_else(|| panic!("{} has no end record", self.name))
    }

    /// Whether the two were running at the same instant (a span without an end never ended).
    pub(crate) fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end.unwrap_or(u128::MAX) && other.start < self.end.unwrap_or(u128::MAX)
    }

    pub(crate) fn worker(&self) -> u32 {
        self.worker
            .parse()
            .unwrap_or_else(|_| panic!("{}: PTEST_WORKER {:?}", self.name, self.worker))
    }
}

/// Every probe run of a test, in the order they started.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spans {
    pub all: Vec<Span>,
}

impl Spans {
    pub(crate) fn read(path: &Path) -> Spans {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut all: Vec<Span> = Vec::new();
        // The latest span of each name that has not ended: a retried probe starts again.
        let mut open: HashMap<String, usize> = HashMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["start", name, t, w] => {
                    open.insert((*name).to_owned(), all.len());
                    all.push(Span {
                        name: (*name).to_owned(),
                        start: t.parse().expect("start time"),
                        end: None,
                        worker: (*w).to_owned(),
                        pids: Vec::new(),
                    });
                }
                ["pid", name, pid] => {
                    let i = open[*name];
                    all[i].pids.push(pid.parse().expect("pid"));
                }
                ["end", name, t, _] => {
                    let i = open.remove(*name).expect("an end after a start");
                    all[i].end = Some(t.parse().expect("end time"));
                }
                _ => panic!("bad probe line {line:?}"),
            }
        }
        all.sort_by_key(|s| s.start);
        Spans { all }
    }

    /// The one span of `name`.
    pub(crate) fn get(&self, name: &str) -> &Span {
        let mut it = self.all.iter().filter(|s| s.name == name);
        let s = it
            .next()
            .unwrap_or_else(|| panic!("{name} never started; spans: {:?}", self.names()));
        assert!(it.next().is_none(), "{name} ran more than once");
        s
    }

    pub(crate) fn ran(&self, name: &str) -> bool {
        self.all.iter().any(|s| s.name == name)
    }

    pub(crate) fn names(&self) -> Vec<&str> {
        self.all.iter().map(|s| s.name.as_str()).collect()
    }

    pub(crate) fn of<'a>(&'a self, names: &'a [&str]) -> impl Iterator<Item = &'a Span> + 'a {
        self.all.iter().filter(|s| names.contains(&s.name.as_str()))
    }

    /// The most spans among `names` running at one instant.
    pub(crate) fn max_overlap(&self, names: &[&str]) -> usize {
        let chosen: Vec<&Span> = self.of(names).collect();
        chosen
            .iter()
            .map(|s| {
                chosen
                    .iter()
                    .filter(|o| o.start <= s.start && o.end.unwrap_or(u128::MAX) > s.start)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// No two spans running at once share a `PTEST_WORKER`, and every index is below `workers`.
    pub(crate) fn assert_workers_exclusive(&self, workers: u32) {
        for (i, a) in self.all.iter().enumerate() {
            assert!(a.worker() < workers, "{} on worker {}", a.name, a.worker);
            for b in &self.all[i + 1..] {
                assert!(
                    !(a.overlaps(b) && a.worker == b.worker),
                    "{} and {} ran at once on worker {}",
                    a.name,
                    b.name,
                    a.worker
                );
            }
        }
    }

    /// [`Spans::assert_no_process_left`], after giving whoever stops them (the watchdog, once
    /// ptest is gone: SIGTERM, then SIGKILL after its grace) up to `limit`.
    pub(crate) fn assert_no_process_left_within(&self, limit: Duration) {
        wait_until(limit, || {
            self.all.iter().all(|s| {
                s.pids
                    .iter()
                    .all(|&pid| !alive_with(pid, &format!("PTEST_SUITE={}", s.name)))
            })
        });
        self.assert_no_process_left();
    }

    /// Every process a probe started is gone. A pid that is alive again belongs to the probe
    /// only if the process is its suite's (`PTEST_SUITE` in its environment): with pid_max at
    /// 32768 and a busy machine, a pid comes back to another program within a second.
    pub(crate) fn assert_no_process_left(&self) {
        for s in &self.all {
            for &pid in &s.pids {
                assert!(
                    !alive_with(pid, &format!("PTEST_SUITE={}", s.name)),
                    "process {pid} of {} outlived ptest",
                    s.name
                );
            }
        }
    }
}

/// `kill -0`: the process exists (a zombie counts: ptest, the reaper, must have reaped it).
pub(crate) fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// The process runs and has `var` (`NAME=value`) in its environment: it is the one the test
/// knew, not a later holder of its pid. A zombie runs nothing, and whose it was cannot be told
/// once its environment is gone (here the machine's init reaps the orphans of every test
/// slowly), so it does not count. Where there is no /proc to ask, [`alive`] is all there is.
pub(crate) fn alive_with(pid: i32, var: &str) -> bool {
    if !alive(pid) || !cfg!(target_os = "linux") {
        return alive(pid);
    }
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == var.as_bytes()))
}

/// A pid a suite wrote into a file of the project.
pub(crate) fn pid_in(p: &Project, file: &str) -> i32 {
    let text = std::fs::read_to_string(p.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"));
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{file} holds {text:?}"))
}

/// Start `ptest ARGS` in the project, stdout and stderr to `stdout.txt` and `stderr.txt`.
pub(crate) fn spawn(p: &Project, args: &[&str]) -> Child {
    let stdout = std::fs::File::create(p.join("stdout.txt")).unwrap();
    let stderr = std::fs::File::create(p.join("stderr.txt")).unwrap();
    let mut c: Command = p.cmd();
    c.args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // The stop signals at their defaults, as a shell starts ptest: a test runner started under
    // `nohup` (or in a background job) passes SIGHUP (or SIGINT) on ignored, and a ptest that
    // is sent one before it handles them would then never see it.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        c.pre_exec(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    c.spawn().expect("start ptest")
}

/// Wait until `cond` holds, at most `limit`.
pub(crate) fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Wait for the child to end, at most `limit`; kills it and panics past that.
pub(crate) fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for ptest") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ptest did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill sends a signal to the one process we started; it touches no memory.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "signal ptest");
}

/// Run ptest and measure how long it took.
pub(crate) fn timed(p: &Probed, args: &[&str]) -> (Run, Duration) {
    let t = Instant::now();
    let run = p.run(args);
    (run, t.elapsed())
}
