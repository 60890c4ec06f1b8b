//! The watchdog (DESIGN §3 rule 8): a small process started with each run, outside ptest's
//! process, that stops every process group ptest started and removes the run's folder when
//! ptest dies without saying goodbye — SIGKILL, a crash, an abort. ptest keeps the only write
//! end of a pipe to it and tells it, one short line each, every new group (`g PGID`), every
//! group that has emptied (`e PGID`, so a reused number is never hit), the run's folder
//! (`d PATH`) and, at a normal end, `bye`. End of file without `bye` means ptest is gone.
//!
//! It is started before the config is evaluated, so that what `io.popen` and `os.execute` start
//! is covered too. It proves before it signals: a group only while a member carries the run's
//! id (`PTEST_RUN_ID=...`, sent as `m ...`) or its leader is still the process ptest started,
//! and every other process carrying the run's id by itself (a `setsid` daemon) — never a group
//! number that has passed to someone else.
//!
//! It is ptest's own binary run again with one argument ([`ARG`]): a fresh process, so nothing
//! of ptest's threads or locks is inherited. It leads its own session, ignores the signals that
//! stop a run (a Ctrl-C to the terminal's group, a `kill` of ptest's group) and holds no other
//! descriptor of ptest's. The pid users and CI signal stays ptest's. Must not know about
//! attempts, logs or the plan.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::os::procs::{self, Proc, Table, Why};
use crate::os::{self, Pid};

/// The argument that makes the binary a watchdog instead of ptest.
pub const ARG: &str = "__ptest_watchdog";

/// After SIGTERM, how long the groups get before SIGKILL: ptest's own grace period is not
/// known here, and whoever killed ptest wanted it gone.
const GRACE: Duration = Duration::from_secs(2);
/// How often the process table is read again while waiting for what was stopped to end.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// ptest's end of the pipe.
pub(crate) struct Watchdog {
    pipe: File,
}

impl Watchdog {
    /// Starts the watchdog; `None` when it cannot be (the run goes on without it). `marker` is
    /// the `PTEST_RUN_ID=...` entry in ptest's environment, which everything ptest starts
    /// inherits: if ptest dies, every process still carrying it is stopped.
    pub(crate) fn start(marker: &OsStr) -> Option<Watchdog> {
        let (read, write) = os::process::pipe().ok()?;
        let exe = std::env::current_exe().ok()?;
        // Registered as a process the executor knows: the end-of-run sweep must not take it
        // for a stray (and wait out a grace period it ignores). The lock is held across the
        // start so that the reaper cannot reap it unregistered.
        let mut waiters = crate::exec::reaper::lock();
        // stdin is the read end (dup2 clears its close-on-exec flag); the write end stays
        // close-on-exec, so neither the watchdog nor any suite holds it open once it has
        // exec'd — but a child between its fork (or clone) and its exec does, so the watchdog
        // reads the end of the pipe only after every start ptest began has exec'd or failed.
        let child = Command::new(exe)
            .arg(ARG)
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Reaped by ptest's reaper when it ends; nobody waits for the outcome.
        drop(waiters.register(child.id() as Pid));
        drop(waiters);
        drop(child);
        let watchdog = Watchdog { pipe: write };
        let mut line = b"m ".to_vec();
        line.extend_from_slice(marker.as_bytes());
        line.push(b'\n');
        watchdog.say(&line);
        Some(watchdog)
    }

    fn say(&self, line: &[u8]) {
        // A watchdog that died cannot be helped; the run goes on (SIGPIPE is ignored).
        let _ = (&self.pipe).write_all(line);
    }

    /// A new process group ptest started (its leader, ptest's child, has the same number).
    pub(crate) fn group(&self, pgid: Pid) {
        self.say(format!("g {pgid}\n").as_bytes());
    }

    /// A group that has no member left: its number may be reused by someone else's.
    pub(crate) fn ended(&self, pgid: Pid) {
        self.say(format!("e {pgid}\n").as_bytes());
    }

    /// The run's folder, removed if ptest dies.
    pub(crate) fn folder(&self, path: &Path) {
        let mut line = b"d ".to_vec();
        line.extend_from_slice(path.as_os_str().as_bytes());
        line.push(b'\n');
        self.say(&line);
    }

    /// A normal end: the watchdog leaves without touching anything.
    pub(crate) fn goodbye(&self) {
        self.say(b"bye\n");
    }
}

/// What the watchdog learned from ptest.
#[derive(Default)]
struct Run {
    marker: Option<OsString>,
    /// Each group ptest started and has not said ended, with its leader's start time when the
    /// leader was found to be ptest's child at the time (0: not known).
    groups: BTreeMap<Pid, u64>,
    folders: Vec<PathBuf>,
}

/// The watchdog's own life: read ptest's lines until `bye` (exit) or end of file (ptest died:
/// stop what is provably its run's, remove its folder).
pub fn main() -> ExitCode {
    os::process::detach_as_watchdog();
    let ptest = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    let mut run = Run::default();
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        match text {
            b"bye" => return ExitCode::SUCCESS,
            [b'm', b' ', marker @ ..] => run.marker = Some(OsStr::from_bytes(marker).to_owned()),
            [b'g', b' ', pgid @ ..] => {
                if let Some(pgid) = number(pgid) {
                    // Its start time, while ptest is alive to tell its own child from another.
                    let start = procs::one(pgid)
                        .filter(|p| p.parent == ptest)
                        .map_or(0, |p| p.start);
                    run.groups.insert(pgid, start);
                }
            }
            [b'e', b' ', pgid @ ..] => {
                if let Some(pgid) = number(pgid) {
                    run.groups.remove(&pgid);
                }
            }
            [b'd', b' ', path @ ..] => {
                run.folders.push(PathBuf::from(OsStr::from_bytes(path)));
            }
            _ => {}
        }
    }
    stop(&run);
    for folder in &run.folders {
        let _ = std::fs::remove_dir_all(folder);
    }
    ExitCode::SUCCESS
}

fn number(text: &[u8]) -> Option<Pid> {
    std::str::from_utf8(text)
        .ok()?
        .parse()
        .ok()
        .filter(|&n| n > 1)
}

/// What is provably the dead ptest's, in a fresh table: each group it announced that still has
/// a member carrying the run's id, or its leader still the process ptest started; and each
/// process carrying the run's id outside those groups (a daemon that left with `setsid`, what
/// the config started while it was evaluated). A number reused by someone else's process is
/// never among them.
fn targets(run: &Run, table: &Table) -> Vec<(Proc, bool)> {
    let mut out: Vec<(Proc, bool)> = Vec::new();
    for (&pgid, &start) in &run.groups {
        // A group of zombies only (ended, not collected yet) has nothing left to stop.
        let live = table.others().any(|p| p.group == pgid && !p.zombie);
        if let Some(member) = table.proof(pgid, Some((pgid, start))).filter(|_| live) {
            out.push((member, true));
        }
    }
    let me = std::process::id() as Pid;
    // A carrier that leads its own group (a `setsid` daemon) is taken with its group; any
    // other, by itself, unless a group already taken holds it.
    let mut carriers: Vec<&Proc> = table.carriers().filter(|p| p.pid != me).collect();
    carriers.sort_by_key(|p| p.pid != p.group);
    for p in carriers {
        let in_group = out.iter().any(|(m, group)| *group && m.group == p.group);
        if !in_group {
            out.push((*p, p.pid == p.group));
        }
    }
    out
}

/// SIGTERM to everything provably the run's, SIGKILL to what is still there after [`GRACE`],
/// each time proven again in a fresh table. A suite that ptest died starting is included: the
/// end of the pipe comes only once it has exec'd, carrying the run's id.
fn stop(run: &Run) {
    let marker = run.marker.as_deref();
    let why_for = |start: u64| Why {
        mine: false,
        marker,
        start: Some(start),
    };
    let send = |targets: &[(Proc, bool)], signal: Signal| {
        for (p, group) in targets {
            let start = run.groups.get(&p.group).copied().unwrap_or(0);
            let why = why_for(if *group && p.pid == p.group { start } else { 0 });
            if *group {
                procs::signal_group_of(p, Some(signal), &why);
            } else {
                procs::signal_process(p, Some(signal), &why);
            }
        }
    };
    // SIGTERM to each as it is found (a process can start another until it is stopped), then
    // SIGKILL to whatever is still there after the grace period, until nothing is left or the
    // kill has been tried for as long again.
    let mut warned: BTreeSet<(Pid, u64)> = BTreeSet::new();
    let kill_at = Instant::now() + GRACE;
    let give_up = kill_at + GRACE;
    loop {
        let now = targets(run, &Table::scan(marker));
        if now.is_empty() || Instant::now() >= give_up {
            return;
        }
        if Instant::now() >= kill_at {
            send(&now, Signal::KILL);
        } else {
            let new: Vec<(Proc, bool)> = now
                .into_iter()
                .filter(|(p, _)| warned.insert((p.pid, p.start)))
                .collect();
            send(&new, Signal::TERM);
        }
        std::thread::sleep(LOOK_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: Pid, group: Pid, start: u64, carries: bool) -> Proc {
        Proc {
            pid,
            parent: 1,
            group,
            start,
            carries,
            zombie: false,
        }
    }

    fn found(run: &Run, procs: Vec<Proc>) -> Vec<(Pid, bool)> {
        let mut t: Vec<(Pid, bool)> = targets(run, &Table::from(procs, 99_999))
            .iter()
            .map(|(m, g)| (m.pid, *g))
            .collect();
        t.sort_unstable();
        t
    }

    #[test]
    fn what_the_watchdog_stops_is_proven_the_runs() {
        let run = Run {
            marker: Some("PTEST_RUN_ID=x".into()),
            groups: [(100, 7), (200, 9), (300, 0)].into_iter().collect(),
            folders: Vec::new(),
        };
        assert_eq!(
            found(
                &run,
                vec![
                    // An announced group whose leader is still the process ptest started.
                    p(100, 100, 7, false),
                    p(101, 100, 8, false),
                    // An announced number now someone else's: another start time, no id.
                    p(200, 200, 12, false),
                    // An announced group whose leader is gone: proven by a member's id.
                    p(301, 300, 3, true),
                    // A daemon that left with setsid, and its child: taken as a group.
                    p(400, 400, 4, true),
                    p(401, 400, 5, true),
                    // A group's leader that ptest never announced has gone; both members carry
                    // the id: each is stopped by itself.
                    p(501, 500, 5, true),
                    p(502, 500, 6, true),
                    // Unrelated.
                    p(600, 600, 1, false),
                ]
            ),
            [
                (100, true),
                (301, true),
                (400, true),
                (501, false),
                (502, false)
            ]
        );
    }
}
