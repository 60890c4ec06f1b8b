//! The end-of-run sweep: every process group this executor created that still has members and
//! is provably still ptest's (`groups`), and every process reparented to ptest (daemons that
//! left their group with setsid or a double fork; without a subreaper, those still carrying the
//! run's id), gets SIGTERM, then SIGKILL once the grace period is over, and is reaped, until
//! ptest has no stray child left. Must not touch another executor's running attempts nor report
//! outcomes (the attempts' own tasks do).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use rustix::process::Signal;
use tokio::sync::watch;
use tokio::time::{self, Instant};

use crate::exec::{FOREVER, groups, reaper};
use crate::os::procs::{GroupHandle, Proc, Table};
use crate::os::{self, Pid};

/// After SIGKILL, how long to look again between SIGCHLDs: a killed member reaped by another
/// member, not by ptest, leaves the group without telling us.
const RECHECK: Duration = Duration::from_millis(200);
/// Past the grace period, how long to keep killing before giving up on a process that cannot die
/// (stuck in uninterruptible sleep): ptest must end some time.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

/// A group ptest started, with the pidfd that holds it where there is one.
pub(crate) type Groups = BTreeMap<Pid, Option<Arc<GroupHandle>>>;

/// How a group is known to be ptest's this round.
#[derive(Clone)]
enum Ours {
    /// Its leader is ptest's child, not reaped: the number is held.
    Held,
    /// A pidfd on its leader names it.
    Handle(Arc<GroupHandle>),
    /// This member, proven ptest's in this round's table.
    Member(Proc),
    /// Only zombies are left in it (ended processes their new parent has not collected yet):
    /// nothing to signal, but it is not gone either, so the sweep waits for it.
    Zombies,
}

/// Something to stop, proven ptest's this round.
#[derive(Clone)]
enum Target {
    Group(Pid, Ours),
    /// One process that left every group ptest knows.
    Process(Proc),
}

impl Target {
    /// What it is, for remembering which already had their SIGTERM.
    fn key(&self) -> (bool, Pid) {
        match self {
            Target::Group(pgid, _) => (true, *pgid),
            Target::Process(p) => (false, p.pid),
        }
    }

    /// Sends the signal; false when nothing was sent.
    fn signal(&self, signal: Signal, marker: Option<&OsStr>) -> bool {
        match self {
            Target::Group(pgid, Ours::Held) => os::process::signal_attempt(*pgid, Some(signal)),
            Target::Group(_, Ours::Handle(h)) => h.signal(Some(signal)).unwrap_or(false),
            Target::Group(_, Ours::Zombies) => false,
            Target::Group(_, Ours::Member(member)) => {
                os::procs::signal_group_of(member, Some(signal), &why(member, marker))
            }
            Target::Process(p) => os::procs::signal_process(p, Some(signal), &why(p, marker)),
        }
    }
}

/// What proves `p` ptest's when it is signalled: as when it was found, or being the very
/// process found then (its start time), which still holds once it is a zombie.
fn why<'a>(p: &Proc, marker: Option<&'a OsStr>) -> os::procs::Why<'a> {
    os::procs::Why {
        start: Some(p.start),
        ..groups::why(marker)
    }
}

/// `hurry` turning true (the second Ctrl-C) ends the grace period at once. Groups in
/// `terminated` already had their SIGTERM for this stop (a timeout, a cancel): a second one
/// would read as "kill now" to a program that forwards it, such as a nested ptest. `marker` is
/// the `PTEST_RUN_ID=...` entry the run's suites inherit, if any.
pub(crate) async fn sweep(
    groups: Groups,
    terminated: BTreeSet<Pid>,
    marker: Option<&OsStr>,
    grace: Duration,
    mut hurry: watch::Receiver<bool>,
) {
    // Listen before the first look, so no death between looking and waiting goes unnoticed.
    let mut reaped = reaper::passes_after_signal();
    let kill_at = Instant::now() + grace.min(FOREVER);
    let give_up = kill_at + GIVE_UP_AFTER;
    let mut groups = groups;
    let mut terminated: BTreeSet<(bool, Pid)> = terminated.into_iter().map(|g| (true, g)).collect();
    // Processes proven ptest's in an earlier round (pid and start time): a zombie no longer
    // shows the environment that proved it, and is waited for until it is gone.
    let mut known: BTreeSet<(Pid, u64)> = BTreeSet::new();
    loop {
        reaped.borrow_and_update();
        reaper::reap_pass();
        // Where ptest is the child subreaper, every descendant of it is its child or a descendant
        // of one: no child at all means nothing is left, without scanning every process on the
        // machine.
        if os::surely_no_descendants(reaper::has_children()) {
            return;
        }
        let now = Instant::now();
        if now >= give_up {
            return;
        }
        let killing = now >= kill_at || *hurry.borrow_and_update();
        // The table, the proofs and the signals in one go, with no wait in between: nothing
        // is reaped meanwhile (the reaper runs on this thread).
        let targets = targets(&mut groups, marker, &mut known);
        if targets.is_empty() {
            return;
        }
        for target in &targets {
            if killing {
                target.signal(Signal::KILL, marker);
            } else if terminated.insert(target.key()) {
                target.signal(Signal::TERM, marker);
            }
        }
        // Without a subreaper the end of a daemon, reparented to init, tells ptest nothing.
        let wake = if killing {
            now + RECHECK
        } else if os::is_subreaper() {
            kill_at
        } else {
            kill_at.min(now + RECHECK)
        };
        wait_for_child(&mut reaped, &mut hurry, wake).await;
    }
}

/// What is still alive and provably ptest's: our groups that are held or have a proven member,
/// and processes no executor waits for that descend from ptest or carry the run's id. A stray
/// that leads its own group (setsid) is taken with its whole group. A group whose number now
/// belongs to someone else is forgotten.
fn targets(
    groups: &mut Groups,
    marker: Option<&OsStr>,
    known: &mut BTreeSet<(Pid, u64)>,
) -> Vec<Target> {
    let table = groups::scan(marker);
    let waiters = reaper::lock();
    let proven =
        |p: &Proc| known.contains(&(p.pid, p.start)) || table.descends_from_me(p.pid) || p.carries;
    let strays = strays(&table, marker, &*known)
        .filter(|p| !waiters.contains(p.pid))
        .collect::<Vec<Proc>>();
    let own = os::process::own_group();
    for stray in &strays {
        if stray.group == stray.pid && stray.group != own {
            groups.entry(stray.group).or_insert(None);
        }
    }
    let mut targets = Vec::new();
    groups.retain(|&pgid, handle| {
        if waiters.contains(pgid) {
            targets.push(Target::Group(pgid, Ours::Held));
            return true;
        }
        if let Some(h) = handle {
            match h.signal(None) {
                Some(true) => {
                    targets.push(Target::Group(pgid, Ours::Handle(Arc::clone(h))));
                    return true;
                }
                Some(false) => return false,
                None => {}
            }
        }
        let mut members = table.others().filter(|p| p.group == pgid).peekable();
        let only_zombies = members.peek().is_some() && members.all(|p| p.zombie);
        match table
            .others()
            .find(|p| p.group == pgid && !p.zombie && proven(p))
            .copied()
        {
            Some(member) => {
                targets.push(Target::Group(pgid, Ours::Member(member)));
                true
            }
            None if only_zombies => {
                targets.push(Target::Group(pgid, Ours::Zombies));
                true
            }
            None => false,
        }
    });
    targets.extend(
        strays
            .iter()
            .filter(|stray| !groups.contains_key(&stray.group))
            .map(|&stray| Target::Process(stray)),
    );
    drop(waiters);
    for target in &targets {
        match target {
            Target::Group(_, Ours::Member(p)) | Target::Process(p) => {
                known.insert((p.pid, p.start));
            }
            Target::Group(..) => {}
        }
    }
    targets
}

/// Processes ptest started (or their descendants) that left every group it knows: with the
/// subreaper, ptest's children (orphans are reparented to it); otherwise ptest's children and
/// every process whose environment holds `marker` (`PTEST_RUN_ID=...`, which every suite of the
/// run inherits), since a daemon reparented to init still carries the environment it started
/// with (Jenkins finds a build's leftovers the same way, by `BUILD_ID`).
fn strays<'a>(
    table: &'a Table,
    marker: Option<&OsStr>,
    known: &'a BTreeSet<(Pid, u64)>,
) -> impl Iterator<Item = Proc> + 'a {
    let carriers = !os::is_subreaper() && marker.is_some();
    table
        .others()
        .filter(move |p| {
            p.parent == std::process::id() as Pid
                || (carriers && p.carries)
                || known.contains(&(p.pid, p.start))
        })
        .copied()
}

/// Until a child ends (the reaper has been through its children again), the kill switch fires,
/// or `until`.
async fn wait_for_child(
    reaped: &mut watch::Receiver<u64>,
    hurry: &mut watch::Receiver<bool>,
    until: Instant,
) {
    let child_ended = async {
        if reaped.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let hurried = async {
        if hurry.changed().await.is_err() {
            // The executor is gone, so nobody can fire the switch any more.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = child_ended => {}
        () = hurried => {}
        () = time::sleep_until(until) => {}
    }
}
