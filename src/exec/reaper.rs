//! The SIGCHLD reaper: `wait4(-1)` collects every child of ptest, hands the exit status and rusage
//! of a registered pid to whoever registered it, and simply reaps the rest (orphans reparented to
//! ptest where it is the child subreaper). Must not know about attempts, logs, timeouts or signals to send.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::exec::{AttemptEnd, platform};

/// How a registered child ended, as `wait4` told it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exit {
    status: libc::c_int,
    pub peak_rss_kb: u64,
    pub cpu_time: Duration,
    /// When it was reaped, so a busy scheduler thread does not lengthen the measured duration.
    pub at: Instant,
}

impl Exit {
    fn new(status: libc::c_int, usage: &libc::rusage) -> Exit {
        Exit {
            status,
            peak_rss_kb: platform::max_rss_kb(usage.ru_maxrss),
            cpu_time: timeval(usage.ru_utime) + timeval(usage.ru_stime),
            at: Instant::now(),
        }
    }

    /// The end as the process itself chose it (ptest's own timeouts and cancels are decided elsewhere).
    pub(super) fn end(&self) -> AttemptEnd {
        if libc::WIFSIGNALED(self.status) {
            AttemptEnd::Signaled(libc::WTERMSIG(self.status))
        } else {
            AttemptEnd::Exited(libc::WEXITSTATUS(self.status))
        }
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec.max(0) as u64) + Duration::from_micros(tv.tv_usec.max(0) as u64)
}

type Table = BTreeMap<libc::pid_t, oneshot::Sender<Exit>>;

/// `wait4(-1)` reaps for the whole process, so the table of who waits for which pid is
/// process-wide too: with several executors (as in tests), any reaper serves every one of them.
static WAITERS: Mutex<Table> = Mutex::new(BTreeMap::new());

/// The locked table of pids being waited for. Spawning while holding it closes the race in which a
/// child exits and is reaped before its pid is registered; it also keeps std's own `waitpid` after
/// a failed exec from losing its child to us.
pub(crate) struct Waiters(MutexGuard<'static, Table>);

pub(crate) fn lock() -> Waiters {
    Waiters(WAITERS.lock().unwrap_or_else(PoisonError::into_inner))
}

impl Waiters {
    pub(super) fn register(&mut self, pid: libc::pid_t) -> oneshot::Receiver<Exit> {
        let (tx, rx) = oneshot::channel();
        self.0.insert(pid, tx);
        rx
    }

    pub(super) fn contains(&self, pid: libc::pid_t) -> bool {
        self.0.contains_key(&pid)
    }
}

/// Reaps every child that has ended, without blocking.
pub(crate) fn reap_pass() {
    let mut waiters = lock();
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain integers and timevals; all zeroes is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 writes only into the two out-parameters we own; WNOHANG keeps it from
        // blocking the runtime thread.
        let pid = unsafe { libc::wait4(-1, &raw mut status, libc::WNOHANG, &raw mut usage) };
        if pid > 0 {
            platform::reaped(pid);
            if let Some(tx) = waiters.0.remove(&pid) {
                // The receiver is gone only when its runtime has shut down; nobody is left to tell.
                let _ = tx.send(Exit::new(status, &usage));
            }
            continue;
        }
        if pid < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // 0: children remain, none has ended; ECHILD: no children at all.
        return;
    }
}

/// Whether ptest has any child, running or ended and not yet reaped (which stays unreaped).
pub(crate) fn has_children() -> bool {
    // SAFETY: siginfo_t is plain data; waitid with WNOWAIT only reports, it reaps nothing.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &raw mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    !(rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

/// Starts the reaping task. The pass before the first wait catches children that ended before
/// the SIGCHLD listener existed.
///
/// On Linux's fast path SIGCHLD is blocked in this thread and read from a signalfd
/// (`platform::child_signals`). ptest's other threads inherit the mask or block every signal;
/// suites start with an empty mask (`spawn`), and what a Lua hook starts goes through `/bin/sh`,
/// which clears the mask it inherits (dash and bash both do). tokio's handler stays installed as
/// well: where SIGCHLD is not blocked (another thread, as in the unit tests, or the portable
/// path, which has no signalfd), it reaches the handler instead, which wakes this task too.
pub(crate) fn start() -> io::Result<JoinHandle<()>> {
    let mut sigchld = signal(SignalKind::child())?;
    let fd = platform::child_signals();
    Ok(tokio::spawn(async move {
        loop {
            reap_pass();
            passes().send_modify(|n| *n = n.wrapping_add(1));
            match &fd {
                Some(fd) => tokio::select! {
                    ready = fd.next() => if ready.is_err() {
                        return;
                    },
                    got = sigchld.recv() => if got.is_none() {
                        return;
                    },
                },
                None => {
                    if sigchld.recv().await.is_none() {
                        return;
                    }
                }
            }
        }
    }))
}

/// Counts the reapers' passes after a SIGCHLD, so that others (the shutdown sweep) learn that
/// children ended without listening for the signal themselves: the signalfd takes it.
fn passes() -> &'static watch::Sender<u64> {
    static PASSES: OnceLock<watch::Sender<u64>> = OnceLock::new();
    PASSES.get_or_init(|| watch::Sender::new(0))
}

/// Changes after every reaper's pass that follows a SIGCHLD.
pub(crate) fn passes_after_signal() -> watch::Receiver<u64> {
    passes().subscribe()
}
