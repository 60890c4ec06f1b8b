//! The operating system behind one seam: every `libc` call and every `unsafe` block for the OS
//! in ptest lives under this folder, behind safe functions that own their request types
//! (`spawn::Request`, `wait::Exit`, `procs::Table`). The rest of ptest calls these, or rustix and
//! std for what is trivial, and never names `libc` itself. Must not know about attempts, logs,
//! the plan or the run.
//!
//! Two implementations sit behind the calls that differ between systems:
//! - `linux` (with `clone` and `child`): a clone sharing ptest's memory that does not wait for
//!   the exec, SIGCHLD from a signalfd, ptest as the child subreaper (daemons reparent to it),
//!   `renameat2(RENAME_EXCHANGE)`, `getdents64`, `SCHED_IDLE` and `posix_fadvise`.
//! - `posix`: what macOS (and any POSIX system) has: `fork` and `execve`, not waiting for the
//!   exec either, SIGCHLD through tokio's handler, `rename`, `readdir`, and at the end of a run
//!   the processes still carrying the run's id in their environment, since there is no
//!   subreaper to bring daemonized grandchildren back to ptest.
//!
//! Linux uses the first unless `PTEST_PLATFORM=posix` is set, so that CI runs the whole
//! integration suite on the path macOS takes; elsewhere only the second is built. The rest:
//! `spawn` (what a start needs), `process` (process-wide setup, signals and process groups),
//! `wait` (reaping), `procs` (the process table, and proving a group is ptest's), `fs` (the few
//! file calls std lacks).

// The fast start makes its own system calls (`child.rs`), written for these two.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod child;
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod clone;
#[cfg(target_os = "linux")]
mod linux;
mod posix;

pub(crate) mod fs;
pub(crate) mod process;
pub(crate) mod procs;
pub(crate) mod spawn;
pub(crate) mod wait;

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use spawn::{BaseEnv, Dispositions, Request, SpawnError};

/// A process id, and the number of the group a process leads.
pub(crate) type Pid = libc::pid_t;

/// Which implementation this process uses, chosen once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    /// Linux's fast paths.
    Linux,
    /// The portable path: macOS, and Linux with `PTEST_PLATFORM=posix`.
    Posix,
}

/// The variable that selects the portable path on Linux.
pub(crate) const VAR: &str = "PTEST_PLATFORM";

/// The implementation in use, read from `PTEST_PLATFORM` at the first call.
pub(crate) fn current() -> Platform {
    static CURRENT: OnceLock<Platform> = OnceLock::new();
    *CURRENT.get_or_init(|| choose(std::env::var_os(VAR).as_deref()))
}

/// `posix` selects the portable path; anything else (or nothing) the native one.
fn choose(var: Option<&OsStr>) -> Platform {
    if cfg!(target_os = "linux") && var != Some(OsStr::new("posix")) {
        Platform::Linux
    } else {
        Platform::Posix
    }
}

fn linux() -> bool {
    cfg!(target_os = "linux") && current() == Platform::Linux
}

/// Makes ptest the reaper of every orphaned descendant, where the system has such a thing and
/// the native path is in use. False elsewhere: daemons then reparent to init, and the end of
/// the run finds them by their environment instead (`strays`).
#[cfg_attr(not(target_os = "linux"), allow(clippy::unnecessary_wraps))]
pub(crate) fn become_subreaper() -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    if linux() {
        return linux::become_subreaper().map(|()| true);
    }
    Ok(false)
}

/// Starts a process (see `spawn::spawn`) and returns its pid. The child may not have exec'd
/// yet: a failure before its exec is read back with [`take_failure`] once it ended (127).
pub(crate) fn spawn(
    base: &Arc<BaseEnv>,
    signals: &Dispositions,
    req: &Request<'_>,
) -> Result<libc::pid_t, SpawnError> {
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    if linux() {
        return clone::spawn(base, signals, req);
    }
    posix::spawn(base, signals, req)
}

/// The failure the child `pid` recorded before it could exec, once it ended with status 127.
pub(crate) fn take_failure(pid: libc::pid_t) -> Option<SpawnError> {
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    if linux() {
        return clone::take_failure(pid);
    }
    posix::take_failure(pid)
}

/// The reaper collected `pid`: the portable path frees what its start held.
pub(crate) fn reaped(pid: libc::pid_t) {
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    if linux() {
        return;
    }
    posix::reaped(pid);
}

/// Whether the child `pid` may not have exec'd yet (on the portable path: not reaped yet).
pub(crate) fn before_exec(pid: libc::pid_t) -> bool {
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    if linux() {
        return clone::before_exec(pid);
    }
    posix::before_exec(pid)
}

/// Where SIGCHLD is read from: a signalfd on the native path, else `None`: tokio's handler,
/// which only sees it unblocked, so it is unblocked in this thread (ptest's own parent may have
/// blocked it).
pub(crate) fn child_signals() -> Option<ChildSignals> {
    #[cfg(target_os = "linux")]
    if linux() {
        return linux::ChildSignals::open().ok();
    }
    posix::unblock_child_signal();
    None
}

/// SIGCHLD as a readable descriptor (Linux's signalfd); there is none elsewhere.
#[cfg(target_os = "linux")]
pub(crate) use linux::ChildSignals;
#[cfg(not(target_os = "linux"))]
pub(crate) enum ChildSignals {}

#[cfg(not(target_os = "linux"))]
impl ChildSignals {
    pub(crate) fn next(&self) -> std::future::Ready<io::Result<()>> {
        match *self {}
    }
}

/// Whether ptest is the child subreaper: orphaned descendants are then its children, and their
/// end a SIGCHLD to it.
pub(crate) fn is_subreaper() -> bool {
    linux()
}

/// Whether no descendant of ptest can be left: with the subreaper every one is a child of ptest
/// or a descendant of one, so no child at all means none. Without it nothing can be told.
pub(crate) fn surely_no_descendants(has_children: bool) -> bool {
    linux() && !has_children
}

/// A pipe whose two ends are closed on exec, so no other child inherits them by accident.
pub(crate) fn pipe() -> io::Result<(File, File)> {
    #[cfg(target_os = "linux")]
    if linux() {
        return linux::pipe();
    }
    posix::pipe()
}

/// Whether `dir` is an empty folder (false when it cannot be read).
pub(crate) fn is_empty_dir(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    if linux() {
        return linux::is_empty_dir(dir);
    }
    posix::is_empty_dir(dir)
}

/// Swaps `new` and an existing `path` in one step, so readers of `path` see the old file or the
/// new one, never none. False when `path` does not exist or there is no swap here: the caller
/// renames instead (which is atomic too, only slower on ext4).
#[cfg_attr(not(target_os = "linux"), allow(clippy::unnecessary_wraps))]
pub(crate) fn exchange(new: &Path, path: &Path) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    if linux() {
        return linux::exchange(new, path);
    }
    let _ = (new, path);
    Ok(false)
}

/// Lets this thread run only on a CPU nothing else wants (a thread of work that may be wasted).
pub(crate) fn run_this_thread_when_idle() {
    #[cfg(target_os = "linux")]
    if linux() {
        linux::run_this_thread_when_idle();
    }
}

/// Asks the system to read the start of `file` into memory soon.
pub(crate) fn read_ahead(file: &File) {
    #[cfg(target_os = "linux")]
    if linux() {
        linux::read_ahead(file);
    }
    let _ = file;
}

/// The highest signal number, for walking every disposition.
pub(crate) fn max_signal() -> libc::c_int {
    #[cfg(target_os = "linux")]
    return libc::SIGRTMAX();
    // macOS and the BSDs number theirs 1 to 31 (NSIG is 32 there).
    #[cfg(not(target_os = "linux"))]
    return 31;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_is_chosen_by_name_only() {
        let native = if cfg!(target_os = "linux") {
            Platform::Linux
        } else {
            Platform::Posix
        };
        assert_eq!(choose(None), native);
        assert_eq!(choose(Some(OsStr::new("linux"))), native);
        assert_eq!(choose(Some(OsStr::new("Posix "))), native);
        assert_eq!(choose(Some(OsStr::new("posix"))), Platform::Posix);
    }

    /// `libc::` names in `source` that are not constants (functions, types, macros).
    fn libc_non_constants(source: &str) -> Vec<String> {
        let mut named = Vec::new();
        for (at, _) in source.match_indices("libc::") {
            let rest = &source[at + "libc::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let after = rest[name.len()..].trim_start();
            // libc's constants start with a capital (`SIGCHLD`, `SYS_execve`); its functions and
            // types do not, and `SIGRTMAX()` is a function. An empty name is prose about `libc::`.
            let constant =
                name.starts_with(|c: char| c.is_ascii_uppercase()) && !after.starts_with('(');
            if !name.is_empty() && !constant {
                named.push(name);
            }
        }
        named
    }

    /// What runs in a cloned child between clone and exec may make raw system calls only
    /// (`child.rs`'s opening comment): no function of libc, whose wrappers write `errno`, a
    /// thread-local the child shares with ptest's thread. Constants are fine.
    #[test]
    fn the_child_between_clone_and_exec_names_no_libc_function() {
        let named = libc_non_constants(include_str!("child.rs"));
        assert!(named.is_empty(), "child.rs names libc::{named:?}");
        // The check itself can fail.
        assert_eq!(
            libc_non_constants("libc::SYS_exit; libc::write(1); libc::c_int; libc::SIGRTMAX()"),
            ["write", "c_int", "SIGRTMAX"]
        );
    }
}
