//! Starting a process the way glibc's `posix_spawn` does — a `vfork`-style clone that shares
//! ptest's memory until it execs — but with the environment prepared once per run, ptest's
//! original open-file limit restored in the child (which `posix_spawn` cannot do), and nothing
//! the child does not need. A suite's start is ptest's hottest path: `std::process::Command`
//! rebuilds the whole environment map per spawn, opens `/dev/null`, duplicates descriptors and
//! maps a fresh stack each time, and falls back to a full `fork` when a pre-exec step is needed.
//!
//! Must not wait for the child (only the reaper does) nor know about logs or attempts.

use std::cell::RefCell;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// The child's stack. It runs only until `execve`, through a few system calls.
const STACK_SIZE: usize = 64 * 1024;

/// ptest's own environment, captured once, as `KEY=VALUE` C strings ready for `execve`.
pub(crate) struct BaseEnv {
    entries: Vec<CString>,
    /// Length of each entry's key, so overrides can be matched without parsing again.
    key_len: Vec<usize>,
}

impl BaseEnv {
    pub fn capture() -> BaseEnv {
        BaseEnv::from_vars(std::env::vars_os())
    }

    /// ptest's environment with `vars` set on top (replacing inherited values of the same keys).
    pub fn capture_with(vars: &[(String, String)]) -> BaseEnv {
        let overridden = |key: &OsStr| vars.iter().any(|(k, _)| OsStr::new(k) == key);
        let inherited = std::env::vars_os().filter(|(key, _)| !overridden(key));
        let set = vars
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        BaseEnv::from_vars(inherited.chain(set))
    }

    /// The value of `key` children get from this environment.
    pub fn var(&self, key: &str) -> Option<&OsStr> {
        self.entries
            .iter()
            .zip(&self.key_len)
            .find(|(entry, len)| &entry.as_bytes()[..**len] == key.as_bytes())
            .map(|(entry, len)| OsStr::from_bytes(&entry.as_bytes()[len + 1..]))
    }

    pub fn from_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> BaseEnv {
        let mut entries = Vec::new();
        let mut key_len = Vec::new();
        for (key, value) in vars {
            let mut entry = key.into_vec();
            let len = entry.len();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            // A variable with a NUL byte cannot be passed on; std drops it the same way.
            if let Ok(entry) = CString::new(entry) {
                entries.push(entry);
                key_len.push(len);
            }
        }
        BaseEnv { entries, key_len }
    }
}

/// The signals a child must set back to the default before it may receive any: those ptest has
/// a handler for, and SIGPIPE when ignored (Rust ignores it; a fresh process expects the
/// default). Signals ptest's own parent ignored stay ignored, as a shell passes them on.
///
/// Asked once, at the first start, rather than in every child: 64 `sigaction` queries cost
/// about 10 µs per suite, during which ptest's thread waits for the child to exec. ptest
/// installs all its handlers (SIGCHLD, SIGINT, SIGTERM, and Rust's SIGSEGV and SIGBUS) before it
/// starts the first suite; one installed later would only matter for a signal arriving between
/// the child's unblocking and its `execve`, which resets every handler anyway.
pub(crate) struct Dispositions {
    reset: Vec<libc::c_int>,
}

impl Dispositions {
    pub fn current() -> Dispositions {
        let mut reset = Vec::new();
        for sig in 1..=libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            // SAFETY: sigaction with a null new action only reads the disposition into ours.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            if unsafe { libc::sigaction(sig, std::ptr::null(), &raw mut action) } != 0 {
                // glibc's own internal signals (32, 33) are refused; the kernel resets them at exec.
                continue;
            }
            let handler = action.sa_sigaction;
            if handler != libc::SIG_DFL && (handler != libc::SIG_IGN || sig == libc::SIGPIPE) {
                reset.push(sig);
            }
        }
        Dispositions { reset }
    }

    #[cfg(test)]
    pub fn resets(&self, sig: libc::c_int) -> bool {
        self.reset.contains(&sig)
    }
}

/// Everything the child reads, prepared by the parent before the clone: the child must not
/// allocate, take a lock or touch anything another thread might change.
struct Child<'a> {
    path: CString,
    reset: &'a [libc::c_int],
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    cwd: Option<CString>,
    stdin: libc::c_int,
    output: libc::c_int,
    nofile: Option<libc::rlimit>,
    /// Written by the child when it fails before `execve` returns: the step and its errno.
    failed_step: Step,
    errno: libc::c_int,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    None,
    Setup,
    Chdir,
    Exec,
}

/// Why a process could not be started.
#[derive(Debug)]
pub(crate) struct SpawnError {
    pub step: Step,
    pub error: io::Error,
}

/// What to start: a program (already resolved to a path), its argv, extra environment on top of
/// the base, the folder, and one descriptor for both stdout and stderr.
pub(crate) struct Request<'a> {
    pub program: &'a Path,
    pub args: &'a [&'a OsStr],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    pub output: BorrowedFd<'a>,
    pub stdin: BorrowedFd<'a>,
    /// Set when ptest raised its own limit: the child gets this one back.
    pub nofile: Option<libc::rlimit>,
}

fn cstring(bytes: &[u8]) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError {
        step: Step::Setup,
        error: io::Error::new(
            io::ErrorKind::InvalidInput,
            "a NUL byte in the command or its environment",
        ),
    })
}

/// Starts the process in its own process group, with stdin from `stdin`, stdout and stderr on
/// `output`, signal dispositions and mask as a fresh process expects, and returns its pid.
pub(crate) fn spawn(
    base: &BaseEnv,
    signals: &Dispositions,
    req: &Request<'_>,
) -> Result<libc::pid_t, SpawnError> {
    let mut strings = Vec::with_capacity(req.args.len() + req.env.len());
    for arg in req.args {
        strings.push(cstring(arg.as_bytes())?);
    }
    let n_args = strings.len();
    for (key, value) in req.env {
        let mut entry = Vec::with_capacity(key.len() + value.len() + 1);
        entry.extend_from_slice(key.as_bytes());
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        strings.push(cstring(&entry)?);
    }
    let mut argv: Vec<*const libc::c_char> = strings[..n_args].iter().map(|s| s.as_ptr()).collect();
    argv.push(std::ptr::null());

    // The later of two equal keys wins, as with `Command::env`; base entries overridden are left out.
    let overrides = &req.env;
    let overridden = |key: &[u8]| overrides.iter().any(|(k, _)| k.as_bytes() == key);
    let mut envp = Vec::with_capacity(base.entries.len() + overrides.len() + 1);
    for (entry, &len) in base.entries.iter().zip(&base.key_len) {
        if !overridden(&entry.as_bytes()[..len]) {
            envp.push(entry.as_ptr());
        }
    }
    for (i, (key, _)) in overrides.iter().enumerate() {
        let later = overrides[i + 1..].iter().any(|(k, _)| k == key);
        if !later {
            envp.push(strings[n_args + i].as_ptr());
        }
    }
    envp.push(std::ptr::null());

    let cwd = if req.cwd.as_os_str().is_empty() {
        None
    } else {
        Some(cstring(req.cwd.as_os_str().as_bytes())?)
    };
    let mut child = Child {
        reset: &signals.reset,
        path: cstring(req.program.as_os_str().as_bytes())?,
        argv,
        envp,
        cwd,
        stdin: req.stdin.as_raw_fd(),
        output: req.output.as_raw_fd(),
        nofile: req.nofile,
        failed_step: Step::None,
        errno: 0,
    };
    let pid = STACK.with(|stack| {
        let mut stack = stack.borrow_mut();
        let stack = match stack.as_mut() {
            Some(stack) => stack,
            None => stack.insert(Stack::new().map_err(|error| SpawnError {
                step: Step::Setup,
                error,
            })?),
        };
        clone_vfork(stack, &mut child)
    })?;
    // `strings` backs argv and envp: it must live until the child has exec'd, which CLONE_VFORK
    // guarantees by the time `clone` returns.
    drop(strings);
    if child.failed_step != Step::None {
        // The child has exited already; reap it here, while the caller holds the reaper's table,
        // so the reaper never sees a pid nobody registered.
        let mut status = 0;
        // SAFETY: waits for our own child, writing one int we own.
        unsafe { libc::waitpid(pid, &raw mut status, 0) };
        return Err(SpawnError {
            step: child.failed_step,
            error: io::Error::from_raw_os_error(child.errno),
        });
    }
    Ok(pid)
}

/// A stack for the child, mapped once per thread and reused: with CLONE_VFORK the parent thread
/// is suspended until the child execs or exits, so no two children ever share it.
struct Stack {
    base: *mut libc::c_void,
    len: usize,
}

thread_local! {
    static STACK: RefCell<Option<Stack>> = const { RefCell::new(None) };
}

impl Stack {
    fn new() -> io::Result<Stack> {
        let page = 4096;
        let len = STACK_SIZE + page;
        // SAFETY: an anonymous private mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // The lowest page guards against an overflow running into other memory.
        // SAFETY: the range lies inside the mapping just made.
        unsafe { libc::mprotect(base, page, libc::PROT_NONE) };
        Ok(Stack { base, len })
    }

    fn top(&mut self) -> *mut libc::c_void {
        // SAFETY: one past the end of our own mapping; stacks grow down from there.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; no child can be running on it.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

fn clone_vfork(stack: &mut Stack, child: &mut Child<'_>) -> Result<libc::pid_t, SpawnError> {
    // Every signal stays blocked across the clone: a handler of ptest's must never run in the
    // child, which shares ptest's memory until it execs. The child unblocks after resetting them.
    // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask write only into our sets.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&raw mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut old);
    }
    // SAFETY: CLONE_VM | CLONE_VFORK suspends this thread until the child execs or exits, so
    // `child` (on our stack) and the buffers it points to stay valid and unchanged for it; the
    // child runs `child_main` on its own stack and only makes system calls.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_mut(child).cast(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(SpawnError {
            step: Step::Setup,
            error: clone_error,
        });
    }
    Ok(pid)
}

/// The child, between clone and exec: async-signal-safe system calls only, no allocation, no
/// lock, no unwinding. On failure it records the step and errno for the parent and exits 127.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Child` the suspended parent passed; only this child touches it now.
    let child = unsafe { &mut *arg.cast::<Child<'_>>() };
    // SAFETY: each call below is a plain system call on values the parent prepared.
    unsafe {
        let fail = |child: &mut Child<'_>, step: Step| -> libc::c_int {
            child.errno = *libc::__errno_location();
            child.failed_step = step;
            libc::_exit(127)
        };
        // Handlers ptest installed go back to the default before the mask is lifted, so that a
        // signal arriving before exec cannot run ptest's handler here (exec then resets them
        // anyway); SIGPIPE, which Rust ignores, too.
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        for &sig in child.reset {
            libc::sigaction(sig, &raw const default, std::ptr::null_mut());
        }
        // Its own group, so that a timeout or cancel reaches it and everything it starts.
        if libc::setpgid(0, 0) != 0 {
            return fail(child, Step::Setup);
        }
        if libc::dup2(child.stdin, 0) < 0
            || libc::dup2(child.output, 1) < 0
            || libc::dup2(child.output, 2) < 0
        {
            return fail(child, Step::Setup);
        }
        if let Some(cwd) = &child.cwd {
            if libc::chdir(cwd.as_ptr()) != 0 {
                return fail(child, Step::Chdir);
            }
        }
        if let Some(limit) = &child.nofile {
            libc::setrlimit(libc::RLIMIT_NOFILE, limit);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &raw const empty, std::ptr::null_mut());
        libc::execve(
            child.path.as_ptr(),
            child.argv.as_ptr(),
            child.envp.as_ptr(),
        );
        fail(child, Step::Exec)
    }
}

/// `/dev/null`, opened once, for every child's stdin.
pub(crate) fn dev_null() -> io::Result<OwnedFd> {
    Ok(std::fs::File::open("/dev/null")?.into())
}
