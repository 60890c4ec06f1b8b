//! Collecting ended children: `wait4` without blocking (status, peak RSS, CPU time) and whether
//! any child is left. Who waits for which child is the caller's business (`exec::reaper`).
//! Must not know about attempts or logs.

use std::io;
use std::time::Duration;

use super::Pid;

/// How a child ended, as `wait4` told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
}

/// One child collected.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reaped {
    pub pid: Pid,
    pub status: Status,
    pub peak_rss_kb: u64,
    pub cpu_time: Duration,
}

/// The next child that has ended, collected; `None` when none has (or there is no child).
pub(crate) fn reap_one() -> Option<Reaped> {
    reap(-1)
}

/// Which child has ended, without collecting it: it stays a zombie, its number (and its
/// group's) still held, until [`reap`] takes it. `None` when none has.
pub(crate) fn peek() -> Option<Pid> {
    loop {
        // SAFETY: siginfo_t is plain data; waitid with WNOWAIT only reports, it reaps nothing.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &raw mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // SAFETY: waitid filled in si_pid (0 when no child has ended).
        #[cfg(target_os = "linux")]
        let pid = unsafe { info.si_pid() };
        #[cfg(not(target_os = "linux"))]
        let pid = info.si_pid;
        return (rc == 0 && pid > 0).then_some(pid);
    }
}

/// Collects `pid` (`-1`: any child) if it has ended.
pub(crate) fn reap(pid: Pid) -> Option<Reaped> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain integers and timevals; all zeroes is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 writes only into the two out-parameters we own; WNOHANG keeps it from
        // blocking the runtime thread.
        let pid = unsafe { libc::wait4(pid, &raw mut status, libc::WNOHANG, &raw mut usage) };
        if pid > 0 {
            let status = if libc::WIFSIGNALED(status) {
                Status::Signaled(libc::WTERMSIG(status))
            } else {
                Status::Exited(libc::WEXITSTATUS(status))
            };
            return Some(Reaped {
                pid,
                status,
                peak_rss_kb: max_rss_kb(usage.ru_maxrss),
                cpu_time: timeval(usage.ru_utime) + timeval(usage.ru_stime),
            });
        }
        if pid < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // 0: children remain, none has ended; ECHILD: no children at all.
        return None;
    }
}

/// Whether ptest has any child, running or ended and not yet reaped (which stays unreaped).
pub(crate) fn has_children() -> bool {
    // SAFETY: siginfo_t is plain data; waitid with WNOWAIT only reports, it reaps nothing.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &raw mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    !(rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec.max(0) as u64) + Duration::from_micros(tv.tv_usec.max(0) as u64)
}

/// Peak resident size from `wait4`'s rusage in kilobytes: Linux counts `ru_maxrss` in
/// kilobytes, macOS in bytes.
fn max_rss_kb(ru_maxrss: libc::c_long) -> u64 {
    let raw = ru_maxrss.max(0) as u64;
    if cfg!(target_os = "macos") {
        raw / 1024
    } else {
        raw
    }
}
