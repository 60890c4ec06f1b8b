//! Signals to the process groups this executor started, sent only while each is provably still
//! ptest's (DESIGN §7: ptest never signals a process it did not start). While a group's leader is
//! ptest's child and not reaped, the group's number cannot pass to anyone else, and `killpg` is
//! safe. Once the leader is reaped (a lingering group: a background child kept it alive), the
//! number is only ptest's while a member lives, so the group is signalled through a member proven
//! ptest's (`os::procs`): a descendant of ptest, or, without a subreaper, one carrying the run's
//! id. Must not decide when to signal (the executor and the sweep do).

use std::ffi::OsStr;

use rustix::process::Signal;

use crate::exec::reaper;
use crate::os::procs::{GroupHandle, Proc, Table, Why};
use crate::os::{self, Pid};

/// The process table as the proof needs it: environments are read only where there is no
/// subreaper (with one, every process ptest started descends from it while it lives).
pub(crate) fn scan(marker: Option<&OsStr>) -> Table {
    Table::scan(if os::is_subreaper() { None } else { marker })
}

/// Why a member found in the table counts as ptest's, to be checked again when signalled.
pub(crate) fn why(marker: Option<&OsStr>) -> Why<'_> {
    Why {
        mine: true,
        marker: if os::is_subreaper() { None } else { marker },
        start: None,
    }
}

/// Sends `signal` (`None`: only asks) to the group `pgid` if it is still ptest's: held (its
/// leader unreaped), through `handle` (the group itself), or through a member proven ptest's in
/// a table read now. False when nothing was sent: the group is empty, or its number belongs to
/// someone else now.
pub(crate) fn signal(
    pgid: Pid,
    handle: Option<&GroupHandle>,
    signal: Option<Signal>,
    marker: Option<&OsStr>,
) -> bool {
    {
        // Under the reaper's lock: the leader cannot be reaped between the look and the signal.
        let waiters = reaper::lock();
        if waiters.contains(pgid) {
            return os::process::signal_attempt(pgid, signal);
        }
    }
    if let Some(sent) = handle.and_then(|h| h.signal(signal)) {
        return sent;
    }
    match proof(&scan(marker), pgid) {
        Some(member) => os::procs::signal_group_of(&member, signal, &why(marker)),
        None => false,
    }
}

/// Whether the group still has members, as cheaply as can be told: through its handle, else by
/// its number (which a reused number fools into "yes"; signals are only sent once proven).
pub(crate) fn alive(pgid: Pid, handle: Option<&GroupHandle>) -> bool {
    handle
        .and_then(|h| h.signal(None))
        .unwrap_or_else(|| os::process::signal_group(pgid, None))
}

/// A member of `pgid` proven ptest's in `table`.
pub(crate) fn proof(table: &Table, pgid: Pid) -> Option<Proc> {
    table.proof(pgid, None)
}
