//! Starting a process the way glibc's `posix_spawn` does — a clone that shares ptest's memory
//! until it execs, so nothing is copied — but without waiting for the exec, with the environment
//! prepared once per run, ptest's original open-file limit restored in the child (which
//! `posix_spawn` cannot do), and nothing the child does not need. A suite's start is ptest's
//! hottest path: `std::process::Command` rebuilds the whole environment map per spawn, opens
//! `/dev/null`, duplicates descriptors and maps a fresh stack each time, falls back to a full
//! `fork` when a pre-exec step is needed, and waits for the exec.
//!
//! Must not wait for the child (only the reaper does) nor know about logs or attempts.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
/// about 10 µs per suite. ptest installs all its handlers (SIGCHLD, SIGINT, SIGTERM, and Rust's
/// SIGSEGV and SIGBUS) before it starts the first suite; one installed later would only matter for a signal arriving between
/// the child's unblocking and its `execve`, which resets every handler anyway.
#[derive(Clone)]
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

/// Everything the child reads, prepared by the parent before the clone, and where it reports a
/// failure. It lives in a [`Slot`] until the child has exec'd or exited: ptest does not wait
/// for that (see [`spawn`]), so nothing here may point at memory the parent could free sooner.
struct Child {
    path: CString,
    /// Signals to set back to the default, copied from [`Dispositions`].
    reset: Vec<libc::c_int>,
    /// Backs `argv` and the overriding part of `envp`.
    _strings: Vec<CString>,
    /// Backs the inherited part of `envp`.
    _base: Arc<BaseEnv>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    cwd: Option<CString>,
    stdin: libc::c_int,
    output: libc::c_int,
    nofile: Option<libc::rlimit>,
    /// Written by the child when it fails before `execve` succeeds: the step and its errno.
    failed_step: Step,
    errno: libc::c_int,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    None,
    /// The clone itself: EAGAIN there is the process limit (`ulimit -u`, a cgroup's
    /// `pids.max`), which passes as other processes end.
    Clone,
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

impl SpawnError {
    /// The system refused a new process for now (the process limit): try again shortly.
    pub fn is_transient(&self) -> bool {
        self.step == Step::Clone && self.error.raw_os_error() == Some(libc::EAGAIN)
    }
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

/// Starts the process in its own session and process group, with stdin from `stdin`, stdout and stderr on
/// `output`, signal dispositions and mask as a fresh process expects, and returns its pid.
///
/// Returns as soon as the child exists, before it has exec'd: waiting for the exec (what
/// `posix_spawn`'s `CLONE_VFORK` does) held ptest's thread for a fifth of a millisecond to well
/// over a millisecond per start on a virtual machine, where the child usually lands on an idle
/// vCPU that must be woken first; with several suites to start at once (the beginning of a run,
/// two serial groups handing over at the same moment) the last one waited for all the others.
/// A failure between clone and exec is therefore not known here: the child records it in its
/// slot and exits with status 127, and whoever reaps it asks [`take_failure`].
pub(crate) fn spawn(
    base: &Arc<BaseEnv>,
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
    let child = Child {
        path: cstring(req.program.as_os_str().as_bytes())?,
        reset: signals.reset.clone(),
        _strings: strings,
        _base: Arc::clone(base),
        argv,
        envp,
        cwd,
        stdin: req.stdin.as_raw_fd(),
        output: req.output.as_raw_fd(),
        nofile: req.nofile,
        failed_step: Step::None,
        errno: 0,
    };
    let mut pool = pool();
    let slot = pool.free_slot().map_err(|error| SpawnError {
        step: Step::Setup,
        error,
    })?;
    let pid = slot.start(child).map_err(|error| SpawnError {
        step: Step::Clone,
        error,
    })?;
    // A failure recorded for an earlier process with this number is not this one's.
    pool.failures.remove(&pid);
    // The child makes itself a session (and group) leader before it execs. The parent cannot
    // help as a shell does with `setpgid`: a group leader may not call `setsid`. A signal sent
    // before the child's `setsid` reaches it through `process::signal_attempt`.
    if WAIT_FOR_EXEC {
        if let Some(err) = pool.harvest(pid) {
            return Err(err);
        }
    }
    Ok(pid)
}

/// The failure the child `pid` recorded before it could exec, once it has ended (its status is
/// then 127). `None` when it exec'd, or when it is not a child [`spawn`] started. Asked once:
/// the record is gone afterwards.
pub(crate) fn take_failure(pid: libc::pid_t) -> Option<SpawnError> {
    pool().harvest(pid)
}

/// Whether `pid`, a child [`spawn`] started, has not exec'd (nor exited) yet: it may then still
/// be in ptest's own session and group, and a signal must go to the process itself.
pub(crate) fn before_exec(pid: libc::pid_t) -> bool {
    pool()
        .slots
        .iter()
        .any(|slot| slot.pid == pid && !slot.is_free())
}

/// Without the system calls below the child would go through libc, whose wrappers set `errno`,
/// a thread-local of ptest's (the child shares its memory and thread pointer) that ptest's
/// thread may be reading at that moment; on other architectures the parent waits for the exec.
const WAIT_FOR_EXEC: bool = !cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// The most children that may be between clone and exec at once before a start waits for one.
const MAX_SLOTS: usize = 64;

/// Slots for children that have not exec'd yet, and failures read back from them.
struct Pool {
    /// Boxed: a running child holds the address of its slot's `busy` word and `Child`, which
    /// must not move when the vector grows.
    #[allow(clippy::vec_box)]
    slots: Vec<Box<Slot>>,
    /// Failures of children whose slot has been reused since, by pid.
    failures: BTreeMap<libc::pid_t, (Step, libc::c_int)>,
}

fn pool() -> MutexGuard<'static, Pool> {
    static POOL: Mutex<Pool> = Mutex::new(Pool {
        slots: Vec::new(),
        failures: BTreeMap::new(),
    });
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// A slot whose child has exec'd or exited, reading back what it left; a new one while there
    /// are fewer than `MAX_SLOTS`; else it waits for the oldest to free up.
    fn free_slot(&mut self) -> io::Result<&mut Slot> {
        let found = self.slots.iter().position(|slot| slot.is_free());
        let index = match found {
            Some(i) => i,
            None if self.slots.len() < MAX_SLOTS => {
                self.slots.push(Box::new(Slot::new()?));
                self.slots.len() - 1
            }
            None => {
                self.slots[0].wait_free();
                0
            }
        };
        if let Some((pid, failure)) = self.slots[index].take_report() {
            self.failures.insert(pid, failure);
        }
        Ok(&mut self.slots[index])
    }

    fn harvest(&mut self, pid: libc::pid_t) -> Option<SpawnError> {
        let failure = self.failures.remove(&pid).or_else(|| {
            let slot = self
                .slots
                .iter_mut()
                .find(|slot| slot.pid == pid && slot.is_free())?;
            slot.take_report().map(|(_, failure)| failure)
        })?;
        Some(SpawnError {
            step: failure.0,
            error: io::Error::from_raw_os_error(failure.1),
        })
    }
}

/// One child's stack and data from clone until it execs or exits. `busy` is set before the
/// clone and cleared by the kernel when the child execs or exits (`CLONE_CHILD_CLEARTID`), which
/// also wakes a futex waiter on it.
struct Slot {
    busy: AtomicI32,
    stack: Stack,
    pid: libc::pid_t,
    child: Option<Child>,
}

// SAFETY: the raw pointers in `Child` point into the strings it owns (and its `Arc`), which move
// with it; a slot is only touched under the pool's lock, and never while its child runs.
unsafe impl Send for Slot {}

impl Slot {
    fn new() -> io::Result<Slot> {
        Ok(Slot {
            busy: AtomicI32::new(0),
            stack: Stack::new()?,
            pid: 0,
            child: None,
        })
    }

    fn is_free(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    fn wait_free(&self) {
        while !self.is_free() {
            // SAFETY: waits on our own word while it still holds 1; the kernel's clear of it
            // (CLONE_CHILD_CLEARTID) wakes us. Spurious returns loop.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.busy.as_ptr(),
                    libc::FUTEX_WAIT,
                    1,
                    std::ptr::null::<libc::timespec>(),
                );
            }
        }
    }

    /// The pid and failure its last child recorded, if any (the slot must be free).
    fn take_report(&mut self) -> Option<(libc::pid_t, (Step, libc::c_int))> {
        let child = self.child.as_mut()?;
        if child.failed_step == Step::None {
            return None;
        }
        let failure = (child.failed_step, child.errno);
        child.failed_step = Step::None;
        Some((self.pid, failure))
    }

    fn start(&mut self, child: Child) -> io::Result<libc::pid_t> {
        // The previous child's data goes now: it has exec'd or exited.
        let child = self.child.insert(child);
        self.busy.store(1, Ordering::Release);
        let pid = clone_child(&mut self.stack, child, &self.busy);
        if pid < 0 {
            let err = io::Error::last_os_error();
            self.busy.store(0, Ordering::Release);
            return Err(err);
        }
        self.pid = pid;
        Ok(pid)
    }
}

/// A child's stack: it runs only until `execve`, through a few system calls.
struct Stack {
    base: *mut libc::c_void,
    len: usize,
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

/// Clones a child that shares ptest's memory until it execs, running `child_main` on `stack`;
/// returns its pid, or -1 with errno set.
fn clone_child(stack: &mut Stack, child: &mut Child, busy: &AtomicI32) -> libc::pid_t {
    // Every signal stays blocked across the clone: a handler of ptest's must never run in the
    // child, which shares ptest's memory until it execs. The child unblocks after resetting them.
    // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask write only into our sets.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&raw mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut old);
    }
    let mut flags = libc::CLONE_VM | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD;
    if WAIT_FOR_EXEC {
        flags |= libc::CLONE_VFORK;
    }
    // SAFETY: the child runs `child_main` on its own stack and only makes system calls, reading
    // `child` and writing its failure fields; both stay in their slot, untouched by ptest, until
    // the kernel clears `busy` at the child's exec or exit.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            flags,
            std::ptr::from_mut(child).cast(),
            std::ptr::null_mut::<libc::pid_t>(),
            std::ptr::null_mut::<libc::c_void>(),
            busy.as_ptr(),
        )
    };
    let errno = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut()) };
    if pid < 0 {
        // Put back the clone's errno for the caller, over whatever the mask change left.
        // SAFETY: writes this thread's errno.
        unsafe { *libc::__errno_location() = errno.raw_os_error().unwrap_or(libc::EAGAIN) };
    }
    pid
}

/// A system call without libc: no `errno` is written (see [`WAIT_FOR_EXEC`]). Returns the
/// kernel's value: negative errno on failure.
#[cfg(target_arch = "x86_64")]
unsafe fn sys(n: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes a valid system call and arguments; `syscall` clobbers only rcx
    // and r11 besides rax.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(target_arch = "aarch64")]
unsafe fn sys(n: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes a valid system call and arguments.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a as isize => ret,
            in("x1") b,
            in("x2") c,
            in("x3") d,
            options(nostack),
        );
    }
    ret
}

/// Elsewhere the parent waits for the exec (`WAIT_FOR_EXEC`), so libc's `errno` is safe to use.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
unsafe fn sys(n: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    // SAFETY: the caller passes a valid system call and arguments.
    let rc = unsafe { libc::syscall(n, a, b, c, d) };
    if rc < 0 {
        // SAFETY: reads this thread's errno.
        -(unsafe { *libc::__errno_location() } as isize)
    } else {
        rc as isize
    }
}

/// The child, between clone and exec: raw system calls only, no allocation, no lock, no
/// unwinding, nothing thread-local. On failure it records the step and errno and exits 127.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Child` in this child's slot; ptest leaves it alone until we exec or exit.
    let child = unsafe { &mut *arg.cast::<Child>() };
    // SAFETY: each call below is a plain system call on values the parent prepared.
    unsafe {
        let fail = |child: &mut Child, step: Step, rc: isize| -> libc::c_int {
            child.errno = (-rc) as libc::c_int;
            child.failed_step = step;
            sys(libc::SYS_exit, 127, 0, 0, 0);
            127
        };
        // Handlers ptest installed go back to the default before the mask is lifted, so that a
        // signal arriving before exec cannot run ptest's handler here (exec then resets them
        // anyway); SIGPIPE, which Rust ignores, too. The kernel's sigaction: handler, flags,
        // restorer, mask — all zero is SIG_DFL.
        let default = [0u64; 4];
        for &sig in &child.reset {
            sys(
                libc::SYS_rt_sigaction,
                sig as usize,
                default.as_ptr() as usize,
                0,
                8,
            );
        }
        // Its own session, hence its own group, so that a timeout or cancel reaches it and
        // everything it starts, and no controlling terminal: a test that opens `/dev/tty`
        // fails at once instead of being stopped by SIGTTIN in a background group.
        let rc = sys(libc::SYS_setsid, 0, 0, 0, 0);
        if rc < 0 {
            return fail(child, Step::Setup, rc);
        }
        for (from, to) in [(child.stdin, 0), (child.output, 1), (child.output, 2)] {
            // dup3 refuses equal descriptors; then it is enough to keep the one open at exec.
            let rc = if from == to {
                sys(libc::SYS_fcntl, from as usize, libc::F_SETFD as usize, 0, 0)
            } else {
                sys(libc::SYS_dup3, from as usize, to as usize, 0, 0)
            };
            if rc < 0 {
                return fail(child, Step::Setup, rc);
            }
        }
        if let Some(cwd) = &child.cwd {
            let rc = sys(libc::SYS_chdir, cwd.as_ptr() as usize, 0, 0, 0);
            if rc < 0 {
                return fail(child, Step::Chdir, rc);
            }
        }
        if let Some(limit) = &child.nofile {
            sys(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_NOFILE as usize,
                std::ptr::from_ref(limit) as usize,
                0,
            );
        }
        let empty = 0u64;
        sys(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            std::ptr::from_ref(&empty) as usize,
            0,
            8,
        );
        let rc = sys(
            libc::SYS_execve,
            child.path.as_ptr() as usize,
            child.argv.as_ptr() as usize,
            child.envp.as_ptr() as usize,
            0,
        );
        fail(child, Step::Exec, rc)
    }
}

/// `/dev/null`, opened once, for every child's stdin.
pub(crate) fn dev_null() -> io::Result<OwnedFd> {
    Ok(std::fs::File::open("/dev/null")?.into())
}
