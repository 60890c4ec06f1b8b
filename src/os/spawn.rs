//! What a process start needs, whichever platform path starts it (`platform`): ptest's
//! environment prepared once per run, the signals a child must set back to the default, the
//! request, and why a start failed. A suite's start is ptest's hottest path: the environment is
//! not rebuilt per start where the path allows it.
//!
//! The request types are the OS seam's own: `exec` fills them in, the platform paths read them.
//! Must not wait for the child (only the reaper does) nor know about logs or attempts.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// ptest's own environment, captured once, as `KEY=VALUE` C strings ready for `execve`.
pub(crate) struct BaseEnv {
    entries: Vec<CString>,
    /// Length of each entry's key, so overrides can be matched without parsing again.
    key_len: Vec<usize>,
}

impl BaseEnv {
    pub(crate) fn capture() -> BaseEnv {
        BaseEnv::from_vars(std::env::vars_os())
    }

    /// ptest's environment with `vars` set on top (replacing inherited values of the same keys).
    pub(crate) fn capture_with(vars: &[(String, OsString)]) -> BaseEnv {
        let overridden = |key: &OsStr| vars.iter().any(|(k, _)| OsStr::new(k) == key);
        let inherited = std::env::vars_os().filter(|(key, _)| !overridden(key));
        let set = vars.iter().map(|(k, v)| (OsString::from(k), v.clone()));
        BaseEnv::from_vars(inherited.chain(set))
    }

    /// The value of `key` children get from this environment.
    pub(crate) fn var(&self, key: &str) -> Option<&OsStr> {
        self.entries
            .iter()
            .zip(&self.key_len)
            .find(|(entry, len)| &entry.as_bytes()[..**len] == key.as_bytes())
            .map(|(entry, len)| OsStr::from_bytes(&entry.as_bytes()[len + 1..]))
    }

    /// The whole `KEY=VALUE` entry for `key`.
    pub(crate) fn entry(&self, key: &str) -> Option<&OsStr> {
        self.entries()
            .find(|(_, k)| *k == key.as_bytes())
            .map(|(entry, _)| OsStr::from_bytes(entry.to_bytes()))
    }

    /// Each `KEY=VALUE` entry with its key.
    pub(crate) fn entries(&self) -> impl ExactSizeIterator<Item = (&CStr, &[u8])> {
        self.entries
            .iter()
            .zip(&self.key_len)
            .map(|(entry, &len)| (entry.as_c_str(), &entry.as_bytes()[..len]))
    }

    pub(crate) fn from_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> BaseEnv {
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
    pub(crate) fn current() -> Dispositions {
        let mut reset = Vec::new();
        for sig in 1..=super::max_signal() {
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

    /// The signals to set back to the default.
    pub(crate) fn reset(&self) -> &[libc::c_int] {
        &self.reset
    }

    #[cfg(test)]
    pub(crate) fn resets(&self, sig: rustix::process::Signal) -> bool {
        self.reset.contains(&sig.as_raw())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Step {
    /// No failure (yet): what a child's report holds until it fails.
    None,
    /// The clone (or fork) itself: EAGAIN there is the process limit (`ulimit -u`, a cgroup's
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

/// What to start: a program (already resolved to a path), its argv, extra environment on top of
/// the base, the folder, and one descriptor for both stdout and stderr.
pub(crate) struct Request<'a> {
    pub program: &'a Path,
    pub args: &'a [&'a OsStr],
    pub env: &'a [(String, OsString)],
    pub cwd: &'a Path,
    pub output: BorrowedFd<'a>,
    pub stdin: BorrowedFd<'a>,
    /// Set when ptest raised its own limit: the child gets this one back.
    pub nofile: Option<super::process::Limit>,
}

impl SpawnError {
    /// The system refused a new process for now (the process limit): try again shortly.
    pub(crate) fn is_transient(&self) -> bool {
        self.step == Step::Clone && self.error.raw_os_error() == Some(libc::EAGAIN)
    }

    pub(crate) fn nul() -> SpawnError {
        SpawnError {
            step: Step::Setup,
            error: io::Error::new(
                io::ErrorKind::InvalidInput,
                "a NUL byte in the command or its environment",
            ),
        }
    }

    /// Only Linux's fast path fails before the clone for a reason of its own (its stack).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn setup(error: io::Error) -> SpawnError {
        SpawnError {
            step: Step::Setup,
            error,
        }
    }
}

/// The C strings a child execs with: `argv` and `envp` point into `strings` (and into the
/// [`BaseEnv`] they were made from), so both must outlive the exec. Moving this struct moves no
/// string: each `CString` owns its bytes on the heap.
pub(crate) struct ExecStrings {
    pub strings: Vec<CString>,
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
}

impl ExecStrings {
    /// `req`'s arguments, then the base environment with `req.env` on top: the later of two
    /// equal keys wins, as with `Command::env`, and base entries overridden are left out.
    pub(crate) fn new(base: &BaseEnv, req: &Request<'_>) -> Result<ExecStrings, SpawnError> {
        let cstring = |bytes: &[u8]| CString::new(bytes).map_err(|_| SpawnError::nul());
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
        let mut argv: Vec<*const libc::c_char> =
            strings[..n_args].iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        let overrides = req.env;
        let overridden = |key: &[u8]| overrides.iter().any(|(k, _)| k.as_bytes() == key);
        let mut envp = Vec::with_capacity(base.entries().len() + overrides.len() + 1);
        for (entry, key) in base.entries() {
            if !overridden(key) {
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
        Ok(ExecStrings {
            strings,
            argv,
            envp,
        })
    }
}

/// `/dev/null`, opened once, for every child's stdin.
pub(crate) fn dev_null() -> io::Result<OwnedFd> {
    Ok(std::fs::File::open("/dev/null")?.into())
}
