//! The process table as ptest reads it — who is whose child, in which process group, started
//! when, carrying which run's id — and signals sent only to what is proven ptest's.
//!
//! A process-group number is ptest's only while a member lives: once the group empties the
//! kernel may hand the number to anyone, and `killpg` on a remembered number would reach an
//! unrelated process. Two ways keep that from happening:
//!
//! - [`GroupHandle`] (Linux 6.9 and later): a pidfd on the group's leader, opened while the
//!   leader is ptest's unreaped child. It names that group itself, not its number: a signal
//!   through it (`PIDFD_SIGNAL_PROCESS_GROUP`) reaches the group's members for as long as there
//!   are any, and nobody once it has emptied, whoever has the number since.
//! - A member proven ptest's in a fresh [`Table`]: one that descends from ptest (under the child
//!   subreaper every process ptest started does, for as long as it lives), or whose environment
//!   carries the run's id (`PTEST_RUN_ID=...`, which every suite and everything the config starts
//!   inherits), or the leader ptest recorded, still the same process. The member is held by a
//!   pidfd (Linux) while the proof is checked again; the leader's group is then signalled
//!   through it, any other member's group by number right after the member was found alive in
//!   it (a window of one system call, where no pidfd names a group).
//!
//! Must not know about attempts, logs or the plan.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Pid;
use rustix::process::Signal;

/// One process as the table saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Proc {
    pub pid: Pid,
    pub parent: Pid,
    pub group: Pid,
    /// When it started, in the system's own unit (Linux: clock ticks since boot; 0 where it is
    /// not read): with the pid, which process this is.
    pub start: u64,
    /// Whether its environment holds the marker the table was read with.
    pub carries: bool,
    /// It has ended and waits for its parent to collect it: it takes no signal, shows no
    /// environment, but still holds its number (and its group's).
    pub zombie: bool,
}

/// A snapshot of every process (or every one this user may see).
pub(crate) struct Table {
    procs: Vec<Proc>,
    me: Pid,
}

impl Table {
    /// Reads the table; with `marker` (`PTEST_RUN_ID=...`), also which processes carry it in
    /// their environment exactly.
    pub(crate) fn scan(marker: Option<&OsStr>) -> Table {
        let me = std::process::id() as Pid;
        #[cfg(target_os = "linux")]
        let procs = linux::scan(marker);
        #[cfg(not(target_os = "linux"))]
        let procs = portable::scan(marker);
        Table { procs, me }
    }

    #[cfg(test)]
    pub(crate) fn from(procs: Vec<Proc>, me: Pid) -> Table {
        Table { procs, me }
    }

    pub(crate) fn get(&self, pid: Pid) -> Option<&Proc> {
        self.procs.iter().find(|p| p.pid == pid)
    }

    /// Every process but ptest itself.
    pub(crate) fn others(&self) -> impl Iterator<Item = &Proc> {
        let me = self.me;
        self.procs.iter().filter(move |p| p.pid != me)
    }

    /// Whether `pid` is ptest's child or a descendant of one, as the table shows it.
    pub(crate) fn descends_from_me(&self, pid: Pid) -> bool {
        let mut at = pid;
        // A chain longer than the table has a loop (a table read while processes came and went).
        for _ in 0..=self.procs.len() {
            let Some(p) = self.get(at) else {
                return false;
            };
            if p.parent == self.me {
                return true;
            }
            if p.parent <= 1 || p.parent == at {
                return false;
            }
            at = p.parent;
        }
        false
    }

    /// Those carrying the marker (ptest itself left out).
    pub(crate) fn carriers(&self) -> impl Iterator<Item = &Proc> {
        self.others().filter(|p| p.carries)
    }

    /// A member of `group` proven ptest's: a descendant of ptest, or one carrying the marker,
    /// or `leader` (the process ptest started as the group's leader, with its start time) still
    /// the same process. `None`: the group is empty, or is someone else's now.
    pub(crate) fn proof(&self, group: Pid, leader: Option<(Pid, u64)>) -> Option<Proc> {
        let members = || self.others().filter(move |p| p.group == group);
        members()
            .find(|p| self.descends_from_me(p.pid) || p.carries)
            .or_else(|| {
                let (pid, start) = leader?;
                members().find(|p| p.pid == pid && start != 0 && p.start == start)
            })
            .copied()
    }
}

/// A process group held by a pidfd on its leader (see the module's opening): the group that
/// leader made, never a later group that got the same number. Each holds a descriptor, so at
/// most a quarter of the open-file limit are held at once (the rest are proven by a member
/// instead): logs and `-v` need them more.
pub(crate) struct GroupHandle(#[cfg_attr(not(target_os = "linux"), allow(dead_code))] OwnedFd);

/// How many [`GroupHandle`]s exist now.
static HELD: AtomicUsize = AtomicUsize::new(0);

impl Drop for GroupHandle {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::Relaxed);
    }
}

impl GroupHandle {
    /// Whether groups can be held so on this path (Linux's; the portable path stands for
    /// macOS, which has no pidfds).
    pub(crate) fn available() -> bool {
        cfg!(target_os = "linux") && super::current() == super::Platform::Linux
    }

    /// The group `leader` leads (or will, once it calls `setsid`). `leader` must be ptest's
    /// child, not yet reaped: its number is then its own. `None` where there are no pidfds
    /// (and on the portable path, which stands for macOS).
    pub(crate) fn open(leader: Pid) -> Option<GroupHandle> {
        #[cfg(target_os = "linux")]
        if GroupHandle::available() {
            static BUDGET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
            let budget = *BUDGET.get_or_init(|| {
                usize::try_from(super::process::nofile().soft / 4).unwrap_or(usize::MAX)
            });
            if HELD.fetch_add(1, Ordering::Relaxed) >= budget {
                HELD.fetch_sub(1, Ordering::Relaxed);
                return None;
            }
            let handle = linux::pidfd(leader).map(GroupHandle);
            if handle.is_none() {
                HELD.fetch_sub(1, Ordering::Relaxed);
            }
            return handle;
        }
        let _ = leader;
        None
    }

    /// Sends `signal` (`None`: only asks) to every member the group has. `Some(false)`: it has
    /// none left. `None`: the kernel cannot say (older than Linux 6.9): prove a member instead.
    #[cfg_attr(not(target_os = "linux"), allow(clippy::unused_self))]
    pub(crate) fn signal(&self, signal: Option<Signal>) -> Option<bool> {
        #[cfg(target_os = "linux")]
        {
            linux::signal_group_by_pidfd(&self.0, signal)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = signal;
            None
        }
    }
}

/// One process as the table would show it (without reading its environment).
pub(crate) fn one(pid: Pid) -> Option<Proc> {
    #[cfg(target_os = "linux")]
    {
        linux::read(pid, None)
    }
    #[cfg(not(target_os = "linux"))]
    {
        scan_sysinfo_of(Some(pid), None).into_iter().next()
    }
}

/// Sends `signal` to the group of `member`, a proof from [`Table::proof`], if that member is
/// still the process the proof named (checked again now, and on Linux held by a pidfd until the
/// signal is sent). `why` says again what made it ptest's: `mine` a descendant of ptest,
/// `marker` the environment entry it carries, `start` the start time recorded for it. False
/// when nothing was sent.
pub(crate) fn signal_group_of(member: &Proc, signal: Option<Signal>, why: &Why<'_>) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::signal_checked(member, signal, why, true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        portable::signal_checked(member, signal, why, true)
    }
}

/// Like [`signal_group_of`], for the process alone.
pub(crate) fn signal_process(member: &Proc, signal: Option<Signal>, why: &Why<'_>) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::signal_checked(member, signal, why, false)
    }
    #[cfg(not(target_os = "linux"))]
    {
        portable::signal_checked(member, signal, why, false)
    }
}

/// What makes a process ptest's, checked again right before a signal.
pub(crate) struct Why<'a> {
    /// It descends from ptest (the caller is ptest, not the watchdog).
    pub mine: bool,
    /// It carries this environment entry.
    pub marker: Option<&'a OsStr>,
    /// It is the process with this start time.
    pub start: Option<u64>,
}

impl Why<'_> {
    /// Whether `fresh` (the process read again) is still proven by one of the reasons.
    fn holds(&self, member: &Proc, fresh: &Proc, descends: bool, carries: bool) -> bool {
        fresh.pid == member.pid
            && ((self.mine && descends)
                || (self.marker.is_some() && carries)
                || self.start.is_some_and(|s| s != 0 && s == fresh.start))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::OsStr;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    use rustix::process::Signal;

    use super::{Pid, Proc, Why};

    /// Every process in /proc.
    pub(super) fn scan(marker: Option<&OsStr>) -> Vec<Proc> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| {
                let pid: Pid = entry.ok()?.file_name().to_str()?.parse().ok()?;
                read(pid, marker)
            })
            .collect()
    }

    /// One process from /proc/PID/stat (and environ, with a marker).
    pub(super) fn read(pid: Pid, marker: Option<&OsStr>) -> Option<Proc> {
        let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
        // The command name in parentheses may itself hold spaces and parentheses.
        let close = stat.iter().rposition(|&b| b == b')')?;
        let after = std::str::from_utf8(&stat[close + 1..]).ok()?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
        // cutime cstime priority nice num_threads itrealvalue starttime
        let zombie = fields.first() == Some(&"Z");
        let parent = fields.get(1)?.parse().ok()?;
        let group = fields.get(2)?.parse().ok()?;
        let started = fields.get(19)?.parse().ok()?;
        let carries = marker.is_some_and(|m| carries(pid, m));
        Some(Proc {
            pid,
            parent,
            group,
            start: started,
            carries,
            zombie,
        })
    }

    /// Whether /proc/PID/environ holds `marker` as one whole entry.
    fn carries(pid: Pid, marker: &OsStr) -> bool {
        std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
            env.split(|&b| b == 0)
                .any(|entry| entry == marker.as_bytes())
        })
    }

    /// `PIDFD_SIGNAL_PROCESS_GROUP` (linux/pidfd.h, Linux 6.9): the signal goes to the
    /// process group whose number is the pidfd's pid, as that struct pid — the group the
    /// process leads — not to whatever group has the number now.
    const TO_GROUP: libc::c_uint = 1 << 2;

    /// A pidfd on `pid`, `None` when it is gone (or pidfds do not exist here).
    pub(super) fn pidfd(pid: Pid) -> Option<OwnedFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = libc::c_int::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        // SAFETY: a descriptor just returned to us, owned by nobody else.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn send(fd: &OwnedFd, signal: Option<Signal>, flags: libc::c_uint) -> Result<(), i32> {
        let number = signal.map_or(0, Signal::as_raw);
        // SAFETY: pidfd_send_signal with a null siginfo only sends a signal.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                number,
                std::ptr::null::<libc::siginfo_t>(),
                flags,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINVAL))
        }
    }

    /// The group the pidfd's process leads: `Some(false)` once it has no member, `None` where
    /// the kernel has no such signal.
    pub(super) fn signal_group_by_pidfd(fd: &OwnedFd, signal: Option<Signal>) -> Option<bool> {
        match send(fd, signal, TO_GROUP) {
            // EPERM: a member that changed its user id still counts as there.
            Ok(()) | Err(libc::EPERM) => Some(true),
            Err(libc::EINVAL) => None,
            Err(_) => Some(false),
        }
    }

    pub(super) fn signal_checked(
        member: &Proc,
        signal: Option<Signal>,
        why: &Why<'_>,
        group: bool,
    ) -> bool {
        let Some(fd) = pidfd(member.pid) else {
            return false;
        };
        // Read again: the process the pidfd holds is the one in /proc as long as it is alive,
        // which the signal below (or the probe) confirms afterwards.
        let Some(fresh) = read(member.pid, why.marker) else {
            return false;
        };
        let descends = why.mine && descends_now(member.pid);
        if !why.holds(member, &fresh, descends, fresh.carries) {
            return false;
        }
        if !group {
            return send(&fd, signal, 0).is_ok();
        }
        // The leader itself: its pidfd names its group.
        if fresh.pid == fresh.group {
            if let Some(sent) = signal_group_by_pidfd(&fd, signal) {
                return sent;
            }
        }
        // Another member (or an older kernel): the group by number, right after the member
        // was found alive in it.
        if send(&fd, None, 0).is_err() || fresh.group <= 1 {
            return false;
        }
        let number = signal.map_or(0, Signal::as_raw);
        // SAFETY: killpg sends a signal and touches no memory; the group is > 1.
        unsafe { libc::killpg(fresh.group, number) == 0 }
    }

    /// Whether `pid` descends from ptest, read from /proc now, hop by hop.
    fn descends_now(pid: Pid) -> bool {
        let me = std::process::id() as Pid;
        let mut at = pid;
        for _ in 0..4096 {
            let Some(p) = read(at, None) else {
                return false;
            };
            if p.parent == me {
                return true;
            }
            if p.parent <= 1 || p.parent == at {
                return false;
            }
            at = p.parent;
        }
        false
    }
}

#[cfg(not(target_os = "linux"))]
mod portable {
    use std::ffi::OsStr;

    use rustix::process::Signal;

    use super::{Proc, Why};

    pub(super) fn scan(marker: Option<&OsStr>) -> Vec<Proc> {
        super::scan_sysinfo(marker)
    }

    pub(super) fn signal_checked(
        member: &Proc,
        signal: Option<Signal>,
        why: &Why<'_>,
        group: bool,
    ) -> bool {
        super::signal_after_rescan(member, signal, why, group)
    }
}

/// The table from sysinfo (macOS; on Linux only under test): parents, start times in seconds,
/// environments, and each process's group asked one by one.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(crate) fn scan_sysinfo(marker: Option<&OsStr>) -> Vec<Proc> {
    scan_sysinfo_of(None, marker)
}

/// The table from sysinfo, of every process or of `only` one.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn scan_sysinfo_of(only: Option<Pid>, marker: Option<&OsStr>) -> Vec<Proc> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    let Ok(mut system) = System::new() else {
        return Vec::new();
    };
    let kind = if marker.is_some() {
        ProcessRefreshKind::nothing().with_environ(UpdateKind::Always)
    } else {
        ProcessRefreshKind::nothing()
    };
    let one = only.map(|pid| [sysinfo::Pid::from_u32(pid as u32)]);
    let which = match &one {
        Some(pid) => ProcessesToUpdate::Some(pid),
        None => ProcessesToUpdate::All,
    };
    system.refresh_processes_specifics(which, true, kind);
    system
        .processes()
        .iter()
        .filter(|(_, process)| process.thread_kind().is_none())
        .filter_map(|(pid, process)| {
            let pid = pid.as_u32() as Pid;
            // SAFETY: getpgid only reads the process table.
            let group = unsafe { libc::getpgid(pid) };
            (group > 0).then(|| Proc {
                pid,
                parent: process.parent().map_or(0, |p| p.as_u32() as Pid),
                group,
                start: process.start_time(),
                carries: marker.is_some_and(|m| process.environ().iter().any(|e| e == m)),
                zombie: process.status() == sysinfo::ProcessStatus::Zombie,
            })
        })
        .collect()
}

/// Without pidfds: the process read again and, still proven, signalled at once.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn signal_after_rescan(member: &Proc, signal: Option<Signal>, why: &Why<'_>, group: bool) -> bool {
    let table = Table {
        procs: scan_sysinfo(why.marker),
        me: std::process::id() as Pid,
    };
    let Some(fresh) = table.get(member.pid).copied() else {
        return false;
    };
    let descends = why.mine && table.descends_from_me(member.pid);
    if !why.holds(member, &fresh, descends, fresh.carries) {
        return false;
    }
    let number = signal.map_or(0, Signal::as_raw);
    // SAFETY: kill and killpg send a signal and touch no memory; both numbers are > 1.
    let rc = unsafe {
        if group {
            if fresh.group <= 1 {
                return false;
            }
            libc::killpg(fresh.group, number)
        } else {
            libc::kill(fresh.pid, number)
        }
    };
    rc == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: Pid, parent: Pid, group: Pid, start: u64, carries: bool) -> Proc {
        Proc {
            pid,
            parent,
            group,
            start,
            carries,
            zombie: false,
        }
    }

    #[test]
    fn a_group_is_proven_by_a_descendant_a_carrier_or_its_recorded_leader() {
        let me = 100;
        let table = Table::from(
            vec![
                p(me, 1, me, 1, false),
                // A suite's group whose leader ended: its child reparented to ptest.
                p(201, me, 200, 5, false),
                // A grandchild in the same group.
                p(202, 201, 200, 6, false),
                // Someone else's process that got a number ptest once used as a group.
                p(300, 1, 300, 9, false),
                // A daemon that left (setsid), carrying the run's id.
                p(400, 1, 400, 7, true),
                // A leader recorded with its start time, environment cleared.
                p(500, 1, 500, 11, false),
            ],
            me,
        );
        assert_eq!(table.proof(200, None).map(|m| m.pid), Some(201));
        assert!(table.descends_from_me(202));
        assert_eq!(table.proof(300, None), None);
        assert_eq!(
            table.proof(300, Some((300, 8))),
            None,
            "a reused number starts later"
        );
        assert_eq!(table.proof(400, None).map(|m| m.pid), Some(400));
        assert_eq!(table.proof(500, Some((500, 11))).map(|m| m.pid), Some(500));
        assert_eq!(table.proof(999, None), None);
        assert_eq!(table.carriers().map(|p| p.pid).collect::<Vec<_>>(), [400]);
    }

    #[test]
    fn a_loop_in_a_stale_table_ends() {
        let table = Table::from(vec![p(5, 6, 5, 1, false), p(6, 5, 5, 1, false)], 100);
        assert!(!table.descends_from_me(5));
    }

    #[test]
    fn this_process_reads_as_itself() {
        let table = Table::scan(None);
        let me = std::process::id() as Pid;
        let own = table.get(me).expect("ptest in its own table");
        assert!(own.start > 0 || !cfg!(target_os = "linux"));
        assert_eq!(own.group, rustix::process::getpgrp().as_raw_nonzero().get());
    }
}
