//! ptest's process-wide setup and signals: the child subreaper where there is one, the
//! open-file limit, signals that must not end ptest, signal masks of helper threads, counting
//! stop signals from their handler, and sending signals to process groups ptest holds (a leader
//! not yet reaped). Groups ptest no longer holds are signalled through `procs`, only once proven
//! ptest's. Must not wait for children (only the reaper does) nor know about attempts.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustix::process::Signal;

use super::Pid;

/// The open-file limit ptest started with, kept only when `setup` raised it. Children get it back:
/// programs that close every possible descriptor in a loop, or use `select()`, break or crawl
/// under a hard limit of a million.
static CHILD_NOFILE: OnceLock<libc::rlimit> = OnceLock::new();

/// Makes ptest the reaper of every orphaned descendant where the platform path has one (so
/// daemonized grandchildren can still be found and killed), lifts the soft open-file limit,
/// since hundreds of attempts run at once, and keeps harmless signals from ending ptest.
pub(crate) fn setup() -> io::Result<()> {
    super::become_subreaper()?;
    raise_nofile_limit();
    survive_harmless_signals();
    Ok(())
}

/// Makes ptest the reaper of its orphaned descendants (where the platform has it). Called
/// before the config is evaluated too, so that what `io.popen` and `os.execute` leave running
/// (`sleep 300 &`) stays ptest's to find and stop at the end of the run instead of passing to
/// init.
pub(crate) fn become_subreaper() -> io::Result<()> {
    super::become_subreaper().map(|_| ())
}

/// Signals whose default action would end ptest at once, leaving its suites running and no
/// report, though nobody means them as a stop: SIGUSR1/2 and SIGALRM (sent by mistake, or
/// meant for another process), the profiling timers, SIGIO and SIGPWR. A handler that does
/// nothing keeps ptest alive; unlike ignoring them it is reset at exec, so suites still get
/// the default (`Dispositions` resets every signal with a handler). Those ptest's parent
/// ignored stay ignored and are passed on so.
/// SIGPWR exists on Linux only.
#[cfg(target_os = "linux")]
const POWER_FAILURE: &[libc::c_int] = &[libc::SIGPWR];
#[cfg(not(target_os = "linux"))]
const POWER_FAILURE: &[libc::c_int] = &[];

fn survive_harmless_signals() {
    extern "C" fn nothing(_: libc::c_int) {}
    for sig in [
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
    ]
    .into_iter()
    .chain(POWER_FAILURE.iter().copied())
    {
        // SAFETY: sigaction reads and writes only the structs we own; the handler does nothing,
        // so it is async-signal-safe.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &raw mut old) != 0
                || old.sa_sigaction != libc::SIG_DFL
            {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = nothing as *const () as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&raw mut action.sa_mask);
            libc::sigaction(sig, &raw const action, std::ptr::null_mut());
        }
    }
}

fn raise_nofile_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0
        || limit.rlim_cur >= limit.rlim_max
    {
        return;
    }
    // macOS refuses more than OPEN_MAX per process, though its hard limit reads unlimited.
    let most = if cfg!(target_os = "macos") {
        limit.rlim_max.min(10_240)
    } else {
        limit.rlim_max
    };
    if limit.rlim_cur >= most {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: most,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) } == 0 {
        // A second executor finds the limit already raised and leaves the first value in place.
        let _ = CHILD_NOFILE.set(limit);
    }
}

/// The soft and hard open-file limits children get back, when `setup` raised ptest's own.
pub(crate) fn child_nofile() -> Option<Limit> {
    CHILD_NOFILE.get().map(|l| Limit {
        soft: l.rlim_cur,
        hard: l.rlim_max,
    })
}

/// A resource limit, soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    pub soft: u64,
    pub hard: u64,
}

/// ptest's own open-file limit now.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn nofile() -> Limit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    Limit {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    }
}

/// A pipe whose two ends are closed on exec, so no other child inherits them by accident.
pub(crate) fn pipe() -> io::Result<(File, File)> {
    super::pipe()
}

/// Sends `signal` (`None`: only asks whether it has members) to every member of a group ptest
/// holds: its leader is ptest's child and not reaped yet, so the number cannot have passed to
/// anyone else. False when the group has no member left. Any other group goes through
/// `procs`, proven first.
pub(crate) fn signal_group(pgid: Pid, signal: Option<Signal>) -> bool {
    // killpg(0) and killpg(1) would reach ptest's own group or init's; groups ptest made are
    // numbered after their leader's pid and can never be either.
    if pgid <= 1 || pgid == own_group() {
        return false;
    }
    // SAFETY: killpg sends a signal and touches no memory.
    let rc = unsafe { libc::killpg(pgid, signal.map_or(0, Signal::as_raw)) };
    // EPERM still means the group exists (a member changed its user id).
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// `signal_group` for the group an attempt's leader `pid` makes when it starts. Until the
/// leader has called `setsid` (just before its exec) that group does not exist yet and the
/// signal goes to the leader itself, which has started nothing else by then: a cancel right
/// after a start cannot miss it.
pub(crate) fn signal_attempt(pid: Pid, signal: Option<Signal>) -> bool {
    signal_group(pid, signal) || (super::before_exec(pid) && signal_child(pid, signal))
}

/// Like `signal_group` for one child of ptest's, not reaped yet.
pub(crate) fn signal_child(pid: Pid, signal: Option<Signal>) -> bool {
    if pid <= 1 {
        return false;
    }
    // SAFETY: kill sends a signal and touches no memory; pid > 1 names one process.
    let rc = unsafe { libc::kill(pid, signal.map_or(0, Signal::as_raw)) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// For ptest's helper threads (the janitor, the log thread, echo readers): signals sent to ptest
/// are handled by the scheduler's thread (SIGINT and SIGTERM through tokio, SIGCHLD through the
/// reaper's signalfd). A helper that left one unblocked would be woken for it instead, and
/// SIGCHLD would take the slower way through tokio's handler.
pub(crate) fn block_signals_in_this_thread() {
    // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask write only into our set and
    // this thread's mask.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&raw mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const all, std::ptr::null_mut());
    }
}

/// ptest never changes its own process group, so it is asked once.
pub(crate) fn own_group() -> Pid {
    static OWN: OnceLock<Pid> = OnceLock::new();
    *OWN.get_or_init(|| rustix::process::getpgrp().as_raw_nonzero().get())
}

/// The signals that stop a run: Ctrl-C, `kill`, the terminal closing, Ctrl-\.
pub(crate) const STOP_SIGNALS: [Signal; 4] = [Signal::INT, Signal::TERM, Signal::HUP, Signal::QUIT];

/// Stop signals received so far, counted by the signal handler itself: while a thread is busy
/// (a Lua callback that loops), a count it reads between instructions is the only news of a
/// stop that can reach it. A handle: clones count the same signals.
#[derive(Clone, Default)]
pub(crate) struct StopCount {
    count: Arc<AtomicU32>,
    /// Stop signals the run's scheduler has taken up (it acts on them itself).
    taken: Arc<AtomicU32>,
    /// How long the run may take to end by itself after the second stop signal before the
    /// backstop ends the process; `None`: no backstop (tests that raise signals in-process).
    backstop: Option<Duration>,
}

impl StopCount {
    /// A count whose second signal ends the process within `after` even when the scheduler's
    /// thread cannot act on it (a hook stuck in one long C call, such as a backtracking
    /// `string.find`): a second stop signal means "now", whatever any thread is doing. What
    /// was still running is then stopped by the watchdog, which sees ptest gone.
    pub(crate) fn with_backstop(after: Duration) -> StopCount {
        StopCount {
            count: Arc::default(),
            taken: Arc::default(),
            backstop: Some(after),
        }
    }

    /// Counts each stop signal as it arrives, beside whatever else handles it. Arm it once the
    /// run handles them, never earlier: before that, their default action must still end ptest
    /// (a config that loops while it is evaluated).
    pub(crate) fn arm(&self) {
        let wake = self
            .backstop
            .and_then(|after| backstop(after, Arc::clone(&self.taken)).ok());
        for sig in STOP_SIGNALS {
            let count = Arc::clone(&self.count);
            // SAFETY: the action increments an atomic and, at the second signal, writes one
            // byte to a pipe: both async-signal-safe.
            let _ = unsafe {
                signal_hook_registry::register(sig.as_raw(), move || {
                    let seen = count.fetch_add(1, Ordering::Relaxed) + 1;
                    if let (2, Some(fd)) = (seen, wake) {
                        libc::write(fd, b"!".as_ptr().cast(), 1);
                    }
                })
            };
        }
    }

    pub(crate) fn get(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// The run's scheduler took up a stop signal: once it has taken the second, it ends the
    /// run itself (kill at once, reports) and the backstop leaves it to do so.
    pub(crate) fn acknowledge(&self) {
        self.taken.fetch_add(1, Ordering::Relaxed);
    }
}

/// The thread that ends the process `after` the second stop signal, unless it ended by itself
/// first or its scheduler took that signal up (`taken`); the pipe's write end, for the signal
/// handler.
fn backstop(after: Duration, taken: Arc<AtomicU32>) -> io::Result<libc::c_int> {
    use std::io::{Read, Write};
    use std::os::fd::IntoRawFd;
    let (mut read, write) = pipe()?;
    std::thread::Builder::new()
        .name("ptest-backstop".into())
        .spawn(move || {
            block_signals_in_this_thread();
            let mut byte = [0u8; 1];
            if read.read_exact(&mut byte).is_err() {
                return;
            }
            std::thread::sleep(after);
            if taken.load(Ordering::Relaxed) >= 2 {
                return;
            }
            let _ = std::io::stderr().write_all(
                b"ptest: stopped at once (a second stop signal, and the run could not end by \
                  itself: a hook or check was stuck in one long call); no report was written, \
                  and what still ran is stopped by ptest's watchdog\n",
            );
            // SAFETY: ends this process at once, as SIGKILL would, without running anything
            // of the stuck threads.
            unsafe { libc::_exit(130) };
        })?;
    // Kept open for the process's life: the handler writes to it.
    Ok(write.into_raw_fd())
}

/// A handler that only notes that a stop signal came, for a helper process (`ptest libtest`)
/// that must outlive the signal to write what its child reported; unlike ignoring the signal,
/// the handler is reset to the default in its own children at exec.
pub(crate) fn note_stop_signals() -> Arc<AtomicBool> {
    let stopped = Arc::new(AtomicBool::new(false));
    for sig in STOP_SIGNALS {
        let flag = Arc::clone(&stopped);
        // SAFETY: the action only stores to an atomic, which is async-signal-safe.
        let _ = unsafe {
            signal_hook_registry::register(sig.as_raw(), move || flag.store(true, Ordering::SeqCst))
        };
    }
    stopped
}

/// Ends this process as if by `signal` (its default action), as a child that died of it did.
pub(crate) fn die_of(signal: i32) {
    // SAFETY: back to the default action, then the same signal to this process.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// The watchdog's start: a session of its own (no terminal's Ctrl-C reaches it) and every
/// signal that stops a run or a pipe ignored.
pub(crate) fn detach_as_watchdog() {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_count_counts_once_armed() {
        let count = StopCount::default();
        count.arm();
        let before = count.get();
        // SAFETY: raises SIGQUIT at this process, which the counter's handler takes (tokio's
        // and the counter's handlers replace the default; the test process goes on).
        rustix::process::kill_process(rustix::process::getpid(), Signal::QUIT).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while count.get() == before && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(count.get() > before);
    }
}
