//! Linux's fast start: the way glibc's `posix_spawn` does it — a clone that shares ptest's
//! memory until it execs, so nothing is copied — but without waiting for the exec, with the
//! environment prepared once per run, and ptest's original open-file limit restored in the child
//! (which `posix_spawn` cannot do). What the child runs is in `child.rs`, under its invariants;
//! this file owns the slots that keep the child's memory alive until the kernel says it exec'd.
//!
//! Must not wait for the child (only the reaper does) nor know about logs or attempts.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::child::{Child, child_main};
use super::spawn::{BaseEnv, Dispositions, ExecStrings, Request, SpawnError, Step};

/// The child's stack. It runs only until `execve`, through a few system calls.
const STACK_SIZE: usize = 64 * 1024;

/// The most children that may be between clone and exec at once before a start waits for one.
const MAX_SLOTS: usize = 64;

fn cstring(bytes: &[u8]) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError::nul())
}

/// Returns as soon as the child exists, before it has exec'd: waiting for the exec (what
/// `posix_spawn`'s `CLONE_VFORK` does) held ptest's thread for a fifth of a millisecond to well
/// over a millisecond per start on a virtual machine, where the child usually lands on an idle
/// vCPU that must be woken first; with several suites to start at once (the beginning of a run,
/// two serial groups handing over at the same moment) the last one waited for all the others.
/// A failure between clone and exec is therefore not known here: the child records it in its
/// slot and exits with status 127, and whoever reaps it asks [`take_failure`].
pub(super) fn spawn(
    base: &Arc<BaseEnv>,
    signals: &Dispositions,
    req: &Request<'_>,
) -> Result<libc::pid_t, SpawnError> {
    let ExecStrings {
        strings,
        argv,
        envp,
    } = ExecStrings::new(base, req)?;

    let cwd = if req.cwd.as_os_str().is_empty() {
        None
    } else {
        Some(cstring(req.cwd.as_os_str().as_bytes())?)
    };
    let child = Child {
        path: cstring(req.program.as_os_str().as_bytes())?,
        reset: signals.reset().to_vec(),
        _strings: strings,
        _base: Arc::clone(base),
        argv,
        envp,
        cwd,
        stdin: req.stdin.as_raw_fd(),
        output: req.output.as_raw_fd(),
        nofile: req.nofile.map(|limit| [limit.soft, limit.hard]),
        failed_step: AtomicU8::new(Step::None as u8),
        errno: AtomicI32::new(0),
    };
    let mut pool = pool();
    let slot = pool.free_slot().map_err(SpawnError::setup)?;
    let pid = slot.start(child).map_err(|error| SpawnError {
        step: Step::Clone,
        error,
    })?;
    // A failure recorded for an earlier process with this number is not this one's.
    pool.failures.remove(&pid);
    // The child makes itself a session (and group) leader before it execs. The parent cannot
    // help as a shell does with `setpgid`: a group leader may not call `setsid`. A signal sent
    // before the child's `setsid` reaches it through `process::signal_attempt`.
    Ok(pid)
}

/// The failure the child `pid` recorded before it could exec, once it has ended (its status is
/// then 127). `None` when it exec'd, or when it is not a child [`spawn`] started. Asked once:
/// the record is gone afterwards.
pub(super) fn take_failure(pid: libc::pid_t) -> Option<SpawnError> {
    pool().harvest(pid)
}

/// Whether `pid`, a child [`spawn`] started, has not exec'd (nor exited) yet.
pub(super) fn before_exec(pid: libc::pid_t) -> bool {
    pool()
        .slots
        .iter()
        .any(|slot| slot.pid == pid && !slot.is_free())
}

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
        let failure = self.child.as_ref()?.take_failure()?;
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
fn clone_child(stack: &mut Stack, child: &Child, busy: &AtomicI32) -> libc::pid_t {
    // Every signal stays blocked across the clone: a handler of ptest's must never run in the
    // child, which shares ptest's memory until it execs. The child unblocks after resetting them.
    // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask write only into our sets.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&raw mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut old);
    }
    let flags = libc::CLONE_VM | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD;
    // SAFETY: the child runs `child_main` on its own stack and only makes system calls, reading
    // `child` and writing its atomics; both stay in their slot, untouched by ptest, until the
    // kernel clears `busy` at the child's exec or exit.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            flags,
            std::ptr::from_ref(child).cast_mut().cast(),
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
