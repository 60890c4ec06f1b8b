//! The portable path behind the platform seam, what macOS takes (and Linux with
//! `PTEST_PLATFORM=posix`): processes started by `std::process` (which waits for the exec, so a
//! failure is known at once), `pipe` then `FD_CLOEXEC`, `readdir`, and the processes a run left
//! behind found by the run's id in their environment. Must not know about attempts, logs or the
//! plan.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::Stray;
use crate::exec::spawn::{BaseEnv, Dispositions, Request, SpawnError, Step};

/// Starts the process by `std::process::Command`: its own session and process group, the environment built
/// from `base` and the request's overrides, ptest's original open-file limit when it raised its
/// own. std sets the signal mask empty and SIGPIPE back to the default in the child; the
/// handlers ptest installed are set back to the default right after, before the exec (which
/// would reset them anyway), so that a signal in between does not run one of ptest's handlers
/// in the child. This step makes std fork rather than `posix_spawn`.
pub(super) fn spawn(
    base: &Arc<BaseEnv>,
    signals: &Dispositions,
    req: &Request<'_>,
) -> Result<libc::pid_t, SpawnError> {
    if req.args.iter().any(|arg| arg.as_bytes().contains(&0))
        || req
            .env
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(SpawnError::nul());
    }
    let mut cmd = Command::new(req.program);
    if let Some((first, rest)) = req.args.split_first() {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    let overridden = |key: &[u8]| req.env.iter().any(|(k, _)| k.as_bytes() == key);
    for (entry, key) in base.entries() {
        if !overridden(key) {
            let value = &entry.to_bytes()[key.len() + 1..];
            cmd.env(OsStr::from_bytes(key), OsStr::from_bytes(value));
        }
    }
    for (key, value) in req.env {
        cmd.env(key, value);
    }
    let cwd = (!req.cwd.as_os_str().is_empty()).then_some(req.cwd);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let fd = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map(Stdio::from);
    let opened = (|| Ok::<_, io::Error>((fd(req.stdin)?, fd(req.output)?, fd(req.output)?)))();
    let (input, out, err) = opened.map_err(SpawnError::setup)?;
    cmd.stdin(input).stdout(out).stderr(err);
    let reset = signals.reset().to_vec();
    let nofile = req.nofile;
    // SAFETY: only async-signal-safe calls (setsid, signal, setrlimit) on data the closure owns; it
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // Its own session, hence its own group, and no controlling terminal (as on the
            // fast path).
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            for &sig in &reset {
                libc::signal(sig, libc::SIG_DFL);
            }
            if let Some(limit) = &nofile {
                if libc::setrlimit(libc::RLIMIT_NOFILE, limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    match cmd.spawn() {
        // Dropping std's handle neither waits nor kills: the reaper collects the child.
        Ok(child) => Ok(child.id() as libc::pid_t),
        Err(error) => {
            // std does not say which step failed; a folder that cannot be entered is the
            // likely one when there is a folder to enter.
            // EAGAIN is the fork's (the process limit): the caller tries again later.
            let step = match cwd {
                _ if error.raw_os_error() == Some(libc::EAGAIN) => Step::Clone,
                Some(cwd) if !enterable(cwd) => Step::Chdir,
                _ => Step::Exec,
            };
            Err(SpawnError { step, error })
        }
    }
}

fn enterable(dir: &Path) -> bool {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path; access reads nothing else.
    dir.is_dir() && unsafe { libc::access(path.as_ptr(), libc::X_OK) } == 0
}

/// Every process but ptest whose environment holds `marker` exactly (`KEY=VALUE`). Without a
/// subreaper, a daemon that left its group (`setsid`, a double fork) is reparented to init and
/// no longer ptest's to find by parentage, but it still carries the environment its suite
/// started with: Jenkins finds a build's leftovers the same way (`BUILD_ID`). A process that
/// clears its environment escapes this; the watchdog's process groups still catch the rest.
pub(super) fn carrying(marker: &OsStr) -> Vec<Stray> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    let Ok(mut system) = System::new() else {
        return Vec::new();
    };
    system.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_environ(UpdateKind::Always),
    );
    let me = std::process::id();
    system
        .processes()
        .iter()
        .filter(|(pid, process)| {
            pid.as_u32() != me
                && process.thread_kind().is_none()
                && process.environ().iter().any(|entry| entry == marker)
        })
        .map(|(pid, _)| {
            let pid = pid.as_u32() as libc::pid_t;
            // SAFETY: getpgid only reads the process table.
            let group = unsafe { libc::getpgid(pid) };
            Stray { pid, pgid: group }
        })
        .collect()
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
        use std::os::fd::AsRawFd;
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
