//! The portable path behind the platform seam, what macOS takes (and Linux with
//! `PTEST_PLATFORM=posix`): processes started by `fork` and `execve` without waiting for the
//! exec, `pipe` then `FD_CLOEXEC`, `readdir`, and the processes a run left
//! behind found by the run's id in their environment. Must not know about attempts, logs or the
//! plan.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use super::spawn::{BaseEnv, Dispositions, ExecStrings, Request, SpawnError, Step};

/// Starts the process with `fork` and `execve` and, as Linux's fast path does, without waiting
/// for the exec: `std::process` (and `posix_spawn`) wait until the child has exec'd, and on a
/// loaded machine that is the time for the child to be scheduled at all, several milliseconds
/// per start while ptest's thread does nothing. The child makes itself a session (and group)
/// leader, sets ptest's handlers back to the default, takes its descriptors, folder and
/// ptest's original open-file limit, unblocks every signal and execs; if a step fails it writes
/// the step and errno into its report in a page shared with ptest and exits 127, and whoever
/// reaps it asks [`take_failure`].
///
/// Between `fork` and `execve` the child only makes async-signal-safe calls on memory prepared
/// before the fork: it is a copy of a threaded process, whose other threads' locks stay held.
pub(super) fn spawn(
    base: &Arc<BaseEnv>,
    signals: &Dispositions,
    req: &Request<'_>,
) -> Result<libc::pid_t, SpawnError> {
    let cstring = |bytes: &[u8]| CString::new(bytes).map_err(|_| SpawnError::nul());
    // `_strings` is bound, not `_`: argv and envp point into it until the exec.
    let ExecStrings {
        strings: _strings,
        argv,
        envp,
    } = ExecStrings::new(base, req)?;
    let path = cstring(req.program.as_os_str().as_bytes())?;
    let cwd = if req.cwd.as_os_str().is_empty() {
        None
    } else {
        Some(cstring(req.cwd.as_os_str().as_bytes())?)
    };
    let stdin = req.stdin.as_raw_fd();
    let output = req.output.as_raw_fd();
    let nofile = req.nofile.map(|limit| libc::rlimit {
        rlim_cur: limit.soft,
        rlim_max: limit.hard,
    });
    let reset = signals.reset();

    let mut reports = reports();
    let Some(index) = reports.free.pop() else {
        // Every report is in use: as many children between fork and reaping as the page holds.
        return Err(SpawnError {
            step: Step::Clone,
            error: io::Error::from_raw_os_error(libc::EAGAIN),
        });
    };
    let report = reports.page.get(index);
    report.step.store(Step::None as u8, Ordering::Relaxed);

    // Every signal stays blocked across the fork: a handler of ptest's must not run in the child
    // before it has set them back to the default.
    // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask write only into our sets.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&raw mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut old);
    }
    // SAFETY: the child runs `child` only, which makes async-signal-safe calls on the values
    // prepared above and never returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: in the child; see `child`.
        unsafe {
            child(&Child {
                path: &path,
                argv: &argv,
                envp: &envp,
                cwd: cwd.as_deref(),
                stdin,
                output,
                reset,
                nofile: nofile.as_ref(),
                report,
            })
        }
    }
    let error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut()) };
    if pid < 0 {
        reports.free.push(index);
        return Err(SpawnError {
            step: Step::Clone,
            error,
        });
    }
    // A failure recorded for an earlier process with this number is not this one's.
    reports.failures.remove(&pid);
    reports.running.insert(pid, index);
    Ok(pid)
}

/// What the forked child reads.
struct Child<'a> {
    path: &'a CStr,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    cwd: Option<&'a CStr>,
    stdin: libc::c_int,
    output: libc::c_int,
    reset: &'a [libc::c_int],
    nofile: Option<&'a libc::rlimit>,
    report: &'a Report,
}

/// The forked child up to its exec: async-signal-safe calls only, no allocation, no lock.
unsafe fn child(c: &Child<'_>) -> ! {
    let fail = |step: Step| -> ! {
        // SAFETY: reads this (forked, single-threaded) process's errno; _exit ends it at once.
        unsafe {
            c.report.errno.store(*errno_location(), Ordering::Relaxed);
            c.report.step.store(step as u8, Ordering::Release);
            libc::_exit(127)
        }
    };
    // SAFETY: each call is async-signal-safe and reads only what the parent prepared.
    unsafe {
        for &sig in c.reset {
            libc::signal(sig, libc::SIG_DFL);
        }
        // Its own session, hence its own group, so that a timeout or cancel reaches it and
        // everything it starts, and no controlling terminal.
        if libc::setsid() < 0 {
            fail(Step::Setup);
        }
        for (from, to) in [(c.stdin, 0), (c.output, 1), (c.output, 2)] {
            // dup2 keeps a descriptor duplicated onto itself as it is: clear its close-on-exec.
            let rc = if from == to {
                libc::fcntl(from, libc::F_SETFD, 0)
            } else {
                libc::dup2(from, to)
            };
            if rc < 0 {
                fail(Step::Setup);
            }
        }
        if let Some(cwd) = c.cwd {
            if libc::chdir(cwd.as_ptr()) != 0 {
                fail(Step::Chdir);
            }
        }
        if let Some(limit) = c.nofile {
            libc::setrlimit(libc::RLIMIT_NOFILE, limit);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const none, std::ptr::null_mut());
        libc::execve(c.path.as_ptr(), c.argv.as_ptr(), c.envp.as_ptr());
        fail(Step::Exec)
    }
}

#[cfg(target_os = "linux")]
unsafe fn errno_location() -> *mut libc::c_int {
    // SAFETY: this thread's errno.
    unsafe { libc::__errno_location() }
}

#[cfg(not(target_os = "linux"))]
unsafe fn errno_location() -> *mut libc::c_int {
    // SAFETY: this thread's errno.
    unsafe { libc::__error() }
}

/// Where a forked child reports a failure before its exec: written by the child in a page
/// shared with ptest (the only memory it writes that ptest sees), read once it has ended.
#[repr(C)]
struct Report {
    step: AtomicU8,
    errno: AtomicI32,
}

/// The shared page of reports and who uses which.
struct Reports {
    page: Page,
    /// Reports no child holds.
    free: Vec<usize>,
    /// The report each child not yet reaped holds, by pid.
    running: BTreeMap<libc::pid_t, usize>,
    /// Failures of children already reaped, until `take_failure` asks.
    failures: BTreeMap<libc::pid_t, (Step, libc::c_int)>,
}

/// Reports for this many children between fork and reaping; a start beyond waits (EAGAIN).
const REPORTS: usize = 8192;

struct Page(*mut Report);

// SAFETY: the mapping is shared memory of atomics, only touched under the `Reports` lock (and by
// children, which own their one report until they end).
unsafe impl Send for Page {}

impl Page {
    fn get(&self, index: usize) -> &'static Report {
        assert!(index < REPORTS);
        // SAFETY: inside the mapping, which is never unmapped.
        unsafe { &*self.0.add(index) }
    }
}

fn reports() -> MutexGuard<'static, Reports> {
    static REPORTS_LOCK: OnceLock<Mutex<Reports>> = OnceLock::new();
    REPORTS_LOCK
        .get_or_init(|| {
            let len = REPORTS * std::mem::size_of::<Report>();
            // SAFETY: a new anonymous shared mapping; no existing memory is touched.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_ANON,
                    -1,
                    0,
                )
            };
            // Without the page every start is refused as if the process limit were reached, and
            // reported so after the retries: there is nothing else to fall back on.
            let (page, free) = if base == libc::MAP_FAILED {
                (Page(std::ptr::null_mut()), Vec::new())
            } else {
                (Page(base.cast()), (0..REPORTS).rev().collect())
            };
            Mutex::new(Reports {
                page,
                free,
                running: BTreeMap::new(),
                failures: BTreeMap::new(),
            })
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// A child this path started was reaped: its report is read (a failure is kept for
/// [`take_failure`]) and free again.
pub(super) fn reaped(pid: libc::pid_t) {
    let mut reports = reports();
    let Some(index) = reports.running.remove(&pid) else {
        return;
    };
    let report = reports.page.get(index);
    let step = match report.step.load(Ordering::Acquire) {
        s if s == Step::Setup as u8 => Some(Step::Setup),
        s if s == Step::Chdir as u8 => Some(Step::Chdir),
        s if s == Step::Exec as u8 => Some(Step::Exec),
        _ => None,
    };
    if let Some(step) = step {
        let errno = report.errno.load(Ordering::Relaxed);
        reports.failures.insert(pid, (step, errno));
    }
    reports.free.push(index);
}

/// The failure the child `pid` recorded before it could exec, once it has been reaped.
pub(super) fn take_failure(pid: libc::pid_t) -> Option<SpawnError> {
    let (step, errno) = reports().failures.remove(&pid)?;
    Some(SpawnError {
        step,
        error: io::Error::from_raw_os_error(errno),
    })
}

/// Whether `pid` is a child this path started that has not been reaped: until its `setsid` its
/// group does not exist yet, and a signal must go to the process itself.
pub(super) fn before_exec(pid: libc::pid_t) -> bool {
    reports().running.contains_key(&pid)
}

pub(super) fn unblock_child_signal() {
    // SAFETY: sigset_t is plain data; these calls write only into it and this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const set, std::ptr::null_mut());
    }
}

pub(super) fn pipe() -> io::Result<(File, File)> {
    let mut fds: [libc::c_int; 2] = [-1, -1];
    // SAFETY: pipe writes two new descriptors into the array we own.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe just created both descriptors; nothing else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Only ptest's scheduler thread starts processes, so none can inherit the ends in between.
    for fd in [&read, &write] {
        // SAFETY: sets a flag on a descriptor we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((File::from(read), File::from(write)))
}

pub(super) fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}
