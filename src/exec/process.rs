//! What to start for a command line (`sh -c` or a direct exec, the program found on the child's
//! `PATH`), spawn errors in words a user can act on, the signal helpers, and ptest's process-wide
//! setup (child subreaper where there is one, open-file limit). Must not wait for children — only
//! the reaper may — nor know about logs, timeouts or attempts.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use crate::exec::spawn::{SpawnError, Step};
use crate::exec::{CommandLine, platform};

/// The open-file limit ptest started with, kept only when `setup` raised it. Children get it back:
/// programs that close every possible descriptor in a loop, or use `select()`, break or crawl
/// under a hard limit of a million.
static CHILD_NOFILE: OnceLock<libc::rlimit> = OnceLock::new();

/// Makes ptest the reaper of every orphaned descendant where the platform path has one (so
/// daemonized grandchildren can still be found and killed) and lifts the soft open-file limit,
/// since hundreds of attempts run at once.
pub(crate) fn setup() -> io::Result<()> {
    platform::become_subreaper()?;
    raise_nofile_limit();
    survive_harmless_signals();
    Ok(())
}

/// Makes ptest the reaper of its orphaned descendants (where the platform has it). Called
/// before the config is evaluated too, so that what `io.popen` and `os.execute` leave running
/// (`sleep 300 &`) stays ptest's to find and stop at the end of the run (DESIGN §7) instead of
/// passing to init.
pub(crate) fn become_subreaper() -> io::Result<()> {
    platform::become_subreaper().map(|_| ())
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

/// A pipe whose two ends are closed on exec, so no other child inherits them by accident.
pub(crate) fn pipe() -> io::Result<(File, File)> {
    platform::pipe()
}

/// The soft open-file limit children get back, when `setup` raised ptest's own.
pub(crate) fn child_nofile() -> Option<libc::rlimit> {
    CHILD_NOFILE.get().copied()
}

/// The program's path as the child's `PATH` finds it: the child only calls `execve`, which does
/// not search. A name found nowhere is returned as is, so the spawn reports it missing.
pub(crate) fn resolve(
    program: &std::ffi::OsStr,
    path: Option<&std::ffi::OsStr>,
    cwd: &Path,
) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    if program.as_bytes().contains(&b'/') {
        return program.into();
    }
    let inherited;
    let path = match path {
        Some(path) => path.as_bytes(),
        None => {
            inherited = std::env::var_os("PATH").unwrap_or_default();
            inherited.as_bytes()
        }
    };
    for dir in path.split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            cwd
        } else {
            Path::new(std::ffi::OsStr::from_bytes(dir))
        };
        let candidate = dir.join(program);
        let executable = std::fs::metadata(&candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable {
            return candidate;
        }
    }
    program.into()
}

/// What the user reads when the process could not be started at all.
pub(crate) fn spawn_error(command: &CommandLine, cwd: &Path, err: &SpawnError) -> String {
    if err.step == Step::Chdir {
        return match err.error.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => {
                format!("working directory not found: {}", cwd.display())
            }
            _ => format!("cannot enter {}: {}", cwd.display(), err.error),
        };
    }
    let program = match command {
        CommandLine::Shell(_) => "sh".to_owned(),
        CommandLine::Argv(_) => command.program(),
    };
    match (err.step, err.error.raw_os_error()) {
        (Step::Exec, Some(libc::ENOENT)) => format!("command not found: {program}"),
        (Step::Exec, Some(libc::EACCES)) => format!("permission denied: {program}"),
        _ => format!("cannot start {program}: {}", err.error),
    }
}

/// Sends `signal` to every member of the group; false when the group has no member left.
/// Signal 0 only asks whether it has.
pub(crate) fn signal_group(pgid: libc::pid_t, signal: libc::c_int) -> bool {
    // killpg(0) and killpg(1) would reach ptest's own group or init's; groups ptest made are
    // numbered after their leader's pid and can never be either.
    if pgid <= 1 || pgid == own_group() {
        return false;
    }
    // SAFETY: killpg sends a signal and touches no memory.
    let rc = unsafe { libc::killpg(pgid, signal) };
    // EPERM still means the group exists (a member changed its user id).
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// `signal_group` for the group an attempt's leader `pid` makes when it starts. Until the
/// leader has called `setsid` (just before its exec) that group does not exist yet and the
/// signal goes to the leader itself, which has started nothing else by then: a cancel right
/// after a start cannot miss it.
pub(crate) fn signal_attempt(pid: libc::pid_t, signal: libc::c_int) -> bool {
    signal_group(pid, signal)
        || (crate::exec::spawn::before_exec(pid) && signal_process(pid, signal))
}

/// Like `signal_group` for a single process.
pub(crate) fn signal_process(pid: libc::pid_t, signal: libc::c_int) -> bool {
    if pid <= 1 {
        return false;
    }
    // SAFETY: kill sends a signal and touches no memory; pid > 1 names one process.
    let rc = unsafe { libc::kill(pid, signal) };
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
pub(crate) fn own_group() -> libc::pid_t {
    static OWN: OnceLock<libc::pid_t> = OnceLock::new();
    // SAFETY: getpgrp cannot fail and touches no memory.
    *OWN.get_or_init(|| unsafe { libc::getpgrp() })
}

/// The soft limit children get, when it differs from ptest's own.
#[cfg(test)]
pub(crate) fn child_nofile_limit() -> Option<libc::rlim_t> {
    CHILD_NOFILE.get().map(|limit| limit.rlim_cur)
}
