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

use crate::exec::AttemptEnd;
use crate::os::procs::GroupHandle;
use crate::os::{self, Pid};

/// How a registered child ended, as `wait4` told it.
pub(crate) struct Exit {
    status: os::wait::Status,
    pub peak_rss_kb: u64,
    pub cpu_time: Duration,
    /// When it was reaped, so a busy scheduler thread does not lengthen the measured duration.
    pub at: Instant,
    /// The group it led, held by a pidfd opened just before it was reaped (while its number was
    /// still its own), where the system has them: what is left of the group can be signalled
    /// through it, and a later group with the same number never is.
    pub group: Option<GroupHandle>,
}

impl Exit {
    /// The end as the process itself chose it (ptest's own timeouts and cancels are decided elsewhere).
    pub(super) fn end(&self) -> AttemptEnd {
        match self.status {
            os::wait::Status::Signaled(signal) => AttemptEnd::Signaled(signal),
            os::wait::Status::Exited(code) => AttemptEnd::Exited(code),
        }
    }
}

type Table = BTreeMap<Pid, oneshot::Sender<Exit>>;

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
    pub(super) fn register(&mut self, pid: Pid) -> oneshot::Receiver<Exit> {
        let (tx, rx) = oneshot::channel();
        self.0.insert(pid, tx);
        rx
    }

    pub(crate) fn contains(&self, pid: Pid) -> bool {
        self.0.contains_key(&pid)
    }
}

/// Reaps every child that has ended, without blocking. Where groups can be held by a pidfd, a
/// registered child is looked at before it is reaped, and its group's handle opened then.
pub(crate) fn reap_pass() {
    let mut waiters = lock();
    let hold_groups = GroupHandle::available();
    loop {
        let (child, group) = if hold_groups {
            let Some(pid) = os::wait::peek() else {
                return;
            };
            let group = if waiters.0.contains_key(&pid) {
                GroupHandle::open(pid)
            } else {
                None
            };
            let reaped = os::wait::reap(pid);
            // Most groups end with their leader: their handle goes at once.
            let group = group.filter(|g| g.signal(None) != Some(false));
            (reaped, group)
        } else {
            (os::wait::reap_one(), None)
        };
        let Some(child) = child else {
            return;
        };
        os::reaped(child.pid);
        if let Some(tx) = waiters.0.remove(&child.pid) {
            // The receiver is gone only when its runtime has shut down; nobody is left to tell.
            let _ = tx.send(Exit {
                status: child.status,
                peak_rss_kb: child.peak_rss_kb,
                cpu_time: child.cpu_time,
                at: Instant::now(),
                group,
            });
        }
    }
}

/// Whether ptest has any child, running or ended and not yet reaped (which stays unreaped).
pub(crate) fn has_children() -> bool {
    os::wait::has_children()
}

/// Starts the reaping task. The pass before the first wait catches children that ended before
/// the SIGCHLD listener existed.
///
/// On Linux's fast path SIGCHLD is blocked in this thread and read from a signalfd
/// (`os::child_signals`). ptest's other threads inherit the mask or block every signal;
/// suites start with an empty mask (`spawn`), and what a Lua hook starts goes through `/bin/sh`,
/// which clears the mask it inherits (dash and bash both do). tokio's handler stays installed as
/// well: where SIGCHLD is not blocked (another thread, as in the unit tests, or the portable
/// path, which has no signalfd), it reaches the handler instead, which wakes this task too.
pub(crate) fn start() -> io::Result<JoinHandle<()>> {
    let mut sigchld = signal(SignalKind::child())?;
    let fd = os::child_signals();
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
