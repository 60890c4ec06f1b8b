//! What a cloned child runs between `clone` and `execve` on Linux's fast path (`clone.rs`), and
//! the data it reads. The child shares ptest's memory and thread pointer until it execs, and
//! ptest does not wait for that, so everything in this file keeps these invariants:
//!
//! 1. No libc call: only raw system calls through `sys`. libc's wrappers write `errno`, a
//!    thread-local of ptest's thread that it may be reading at that very moment; other libc
//!    functions may take locks ptest holds. (A test fails if this file names a `libc::` item
//!    other than a constant.)
//! 2. No allocation, no lock, no panic path (no indexing, unwrap or arithmetic that can
//!    overflow), no unwinding out of `child_main`, nothing thread-local.
//! 3. The memory the child reads — its `Child` and everything that points into (`path`, `argv`,
//!    `envp`, `cwd`, the `Arc`'d base environment) — is owned by its slot until the kernel clears
//!    the slot's `busy` word at the child's exec or exit (`CLONE_CHILD_CLEARTID`); ptest neither
//!    frees nor changes it before.
//! 4. The only memory the child writes is `failed_step` and `errno`, both atomics, so no Rust
//!    reference ever aliases memory the child writes; the parent reads them once `busy` is clear.
//! 5. Every signal is blocked from before the clone until the child has set ptest's handlers
//!    back to the default: a handler of ptest's never runs in the child.
//!
//! Must not know about attempts, logs or anything beyond one process start.

use std::ffi::{CString, c_char, c_int, c_long, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use super::spawn::{BaseEnv, Step};

/// Everything the child reads, prepared by the parent before the clone, and where it reports a
/// failure. It lives in a slot until the child has exec'd or exited (invariant 3).
pub(super) struct Child {
    pub path: CString,
    /// Signals to set back to the default.
    pub reset: Vec<c_int>,
    /// Backs `argv` and the overriding part of `envp`.
    pub _strings: Vec<CString>,
    /// Backs the inherited part of `envp`.
    pub _base: Arc<BaseEnv>,
    pub argv: Vec<*const c_char>,
    pub envp: Vec<*const c_char>,
    pub cwd: Option<CString>,
    pub stdin: c_int,
    pub output: c_int,
    /// The soft and hard open-file limits to set (`struct rlimit64`), when ptest raised its own.
    pub nofile: Option<[u64; 2]>,
    /// Written by the child when it fails before `execve` succeeds: the step (`Step as u8`) and
    /// its errno.
    pub failed_step: AtomicU8,
    pub errno: AtomicI32,
}

impl Child {
    /// The step and errno the child left, taken (the child must have exec'd or exited).
    pub(super) fn take_failure(&self) -> Option<(Step, c_int)> {
        let step = match self.failed_step.swap(Step::None as u8, Ordering::Acquire) {
            s if s == Step::Setup as u8 => Step::Setup,
            s if s == Step::Chdir as u8 => Step::Chdir,
            s if s == Step::Exec as u8 => Step::Exec,
            _ => return None,
        };
        Some((step, self.errno.load(Ordering::Acquire)))
    }
}

/// A system call without libc: no `errno` is written. Returns the kernel's value: negative
/// errno on failure.
#[cfg(target_arch = "x86_64")]
unsafe fn sys(n: c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
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
unsafe fn sys(n: c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
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

/// The child, between clone and exec (see the invariants above). On failure it records the
/// step and errno and exits 127.
pub(super) extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Child` in this child's slot, read-only but for its atomics; ptest
    // leaves it alone until we exec or exit.
    let child = unsafe { &*arg.cast::<Child>() };
    // SAFETY: each call below is a plain system call on values the parent prepared.
    unsafe {
        let fail = |child: &Child, step: Step, rc: isize| -> c_int {
            child
                .errno
                .store(rc.wrapping_neg() as c_int, Ordering::Relaxed);
            child.failed_step.store(step as u8, Ordering::Release);
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
