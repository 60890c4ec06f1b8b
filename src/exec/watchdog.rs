//! The watchdog (DESIGN §3 rule 8): a small process started with each run, outside ptest's
//! process, that stops every process group ptest started and removes the run's folder when
//! ptest dies without saying goodbye — SIGKILL, a crash, an abort. ptest keeps the only write
//! end of a pipe to it and tells it, one short line each, every new group (`g PGID`), every
//! group that has emptied (`e PGID`, so a reused number is never hit), the run's folder
//! (`d PATH`) and, at a normal end, `bye`. End of file without `bye` means ptest is gone.
//!
//! It is ptest's own binary run again with one argument ([`ARG`]): a fresh process, so nothing
//! of ptest's threads or locks is inherited. It leads its own session, ignores the signals that
//! stop a run (a Ctrl-C to the terminal's group, a `kill` of ptest's group) and holds no other
//! descriptor of ptest's. The pid users and CI signal stays ptest's. Must not know about
//! attempts, logs or the plan.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The argument that makes the binary a watchdog instead of ptest.
pub const ARG: &str = "__ptest_watchdog";

/// After SIGTERM, how long the groups get before SIGKILL: ptest's own grace period is not
/// known here, and whoever killed ptest wanted it gone.
const GRACE: Duration = Duration::from_secs(2);

/// ptest's end of the pipe.
pub(crate) struct Watchdog {
    pipe: File,
}

impl Watchdog {
    /// Starts the watchdog; `None` when it cannot be (the run goes on without it).
    pub(crate) fn start() -> Option<Watchdog> {
        let (read, write) = crate::exec::process::pipe().ok()?;
        let exe = std::env::current_exe().ok()?;
        // Registered as a process the executor knows: the end-of-run sweep must not take it
        // for a stray (and wait out a grace period it ignores). The lock is held across the
        // start so that the reaper cannot reap it unregistered.
        let mut waiters = crate::exec::reaper::lock();
        // stdin is the read end (dup2 clears its close-on-exec flag); the write end stays
        // close-on-exec, so neither the watchdog nor any suite holds it open.
        let child = Command::new(exe)
            .arg(ARG)
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Reaped by ptest's reaper when it ends; nobody waits for the outcome.
        drop(waiters.register(child.id() as libc::pid_t));
        drop(waiters);
        drop(child);
        Some(Watchdog { pipe: write })
    }

    fn say(&self, line: &[u8]) {
        // A watchdog that died cannot be helped; the run goes on (SIGPIPE is ignored).
        let _ = (&self.pipe).write_all(line);
    }

    /// A new process group ptest started.
    pub(crate) fn group(&self, pgid: libc::pid_t) {
        self.say(format!("g {pgid}\n").as_bytes());
    }

    /// A group that has no member left: its number may be reused by someone else's.
    pub(crate) fn ended(&self, pgid: libc::pid_t) {
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

/// The watchdog's own life: read ptest's lines until `bye` (exit) or end of file (ptest died:
/// stop its groups, remove its folder).
pub fn main() -> ExitCode {
    // SAFETY: setsid and signal only change this process's session and dispositions.
    unsafe {
        libc::setsid();
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
    let mut groups = BTreeSet::new();
    let mut folders: Vec<PathBuf> = Vec::new();
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
            [b'g', b' ', pgid @ ..] => {
                if let Some(pgid) = number(pgid) {
                    groups.insert(pgid);
                }
            }
            [b'e', b' ', pgid @ ..] => {
                if let Some(pgid) = number(pgid) {
                    groups.remove(&pgid);
                }
            }
            [b'd', b' ', path @ ..] => {
                folders.push(PathBuf::from(std::ffi::OsStr::from_bytes(path)));
            }
            _ => {}
        }
    }
    stop(&groups);
    for folder in folders {
        let _ = std::fs::remove_dir_all(folder);
    }
    ExitCode::SUCCESS
}

fn number(text: &[u8]) -> Option<libc::pid_t> {
    std::str::from_utf8(text)
        .ok()?
        .parse()
        .ok()
        .filter(|&n| n > 1)
}

/// SIGTERM to every group, SIGKILL to those still there after [`GRACE`]. A suite that ptest
/// died starting, between its clone and its `setsid`, has no group of its own yet: its pid (the
/// number its group will have) is signalled itself, and a pending SIGTERM ends it as soon as it
/// unblocks signals, before it can exec.
fn stop(groups: &BTreeSet<libc::pid_t>) {
    let signal = |pgid: libc::pid_t, sig: libc::c_int| {
        // SAFETY: killpg and kill send a signal and touch no memory; pgid > 1.
        unsafe { libc::killpg(pgid, sig) == 0 || libc::kill(pgid, sig) == 0 }
    };
    let mut alive: Vec<libc::pid_t> = groups
        .iter()
        .copied()
        .filter(|&g| signal(g, libc::SIGTERM))
        .collect();
    let kill_at = Instant::now() + GRACE;
    while !alive.is_empty() && Instant::now() < kill_at {
        std::thread::sleep(Duration::from_millis(50));
        alive.retain(|&g| signal(g, 0));
    }
    for g in alive {
        signal(g, libc::SIGKILL);
    }
}
