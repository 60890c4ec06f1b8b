//! The end-of-run sweep: every process group this executor created that still has members, and
//! every process reparented to ptest (daemons that left their group with setsid or a double fork;
//! without a subreaper, those still carrying the run's id),
//! gets SIGTERM, then SIGKILL once the grace period is over, and is reaped, until ptest has no
//! stray child left. Must not touch another executor's running attempts nor report outcomes (the
//! attempts' own tasks do).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{self, Instant};

use crate::exec::platform::{self, Stray};
use crate::exec::{FOREVER, process, reaper};

/// After SIGKILL, how long to look again between SIGCHLDs: a killed member reaped by another
/// member, not by ptest, leaves the group without telling us.
const RECHECK: Duration = Duration::from_millis(200);
/// Past the grace period, how long to keep killing before giving up on a process that cannot die
/// (stuck in uninterruptible sleep): ptest must end some time.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Group(libc::pid_t),
    Process(libc::pid_t),
}

impl Target {
    /// Sends the signal; false when there is nobody left to receive it.
    fn signal(self, signal: libc::c_int) -> bool {
        match self {
            Target::Group(pgid) => process::signal_attempt(pgid, signal),
            Target::Process(pid) => process::signal_process(pid, signal),
        }
    }
}

/// `hurry` turning true (the second Ctrl-C) ends the grace period at once. Groups in
/// `terminated` already had their SIGTERM for this stop (a timeout, a cancel): a second one
/// would read as "kill now" to a program that forwards it, such as a nested ptest. `marker` is
/// the `PTEST_RUN_ID=...` entry the run's suites inherit, if any.
pub(crate) async fn sweep(
    groups: BTreeSet<libc::pid_t>,
    terminated: BTreeSet<libc::pid_t>,
    marker: Option<&OsStr>,
    grace: Duration,
    mut hurry: watch::Receiver<bool>,
) {
    // Listen before the first look, so no death between looking and waiting goes unnoticed.
    let mut reaped = reaper::passes_after_signal();
    let kill_at = Instant::now() + grace.min(FOREVER);
    let give_up = kill_at + GIVE_UP_AFTER;
    let mut groups = groups;
    let mut terminated: BTreeSet<Target> = terminated.into_iter().map(Target::Group).collect();
    loop {
        reaped.borrow_and_update();
        reaper::reap_pass();
        // Where ptest is the child subreaper, every descendant of it is its child or a descendant
        // of one: no child at all means nothing is left, without scanning every process on the
        // machine.
        if platform::surely_no_descendants(reaper::has_children()) {
            return;
        }
        let targets = targets(&mut groups, marker);
        if targets.is_empty() {
            return;
        }
        let now = Instant::now();
        if now >= give_up {
            return;
        }
        let killing = now >= kill_at || *hurry.borrow_and_update();
        for &target in &targets {
            if killing {
                target.signal(libc::SIGKILL);
            } else if terminated.insert(target) {
                target.signal(libc::SIGTERM);
            }
        }
        // Without a subreaper the end of a daemon, reparented to init, tells ptest nothing.
        let wake = if killing {
            now + RECHECK
        } else if platform::is_subreaper() {
            kill_at
        } else {
            kill_at.min(now + RECHECK)
        };
        wait_for_child(&mut reaped, &mut hurry, wake).await;
    }
}

/// What is still alive: our groups with members, and children of ptest that no executor is
/// waiting for. A stray that leads its own group (setsid) is taken with its whole group.
fn targets(groups: &mut BTreeSet<libc::pid_t>, marker: Option<&OsStr>) -> Vec<Target> {
    let strays = stray_children(marker);
    let own = process::own_group();
    for stray in &strays {
        if stray.pgid == stray.pid && stray.pgid != own {
            groups.insert(stray.pgid);
        }
    }
    groups.retain(|&pgid| process::signal_attempt(pgid, 0));
    let mut targets: Vec<Target> = groups.iter().map(|&pgid| Target::Group(pgid)).collect();
    targets.extend(
        strays
            .iter()
            .filter(|stray| !groups.contains(&stray.pgid))
            .map(|stray| Target::Process(stray.pid)),
    );
    targets
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

/// Processes no executor waits for that must go too: orphans reparented to ptest (the
/// subreaper), or where there is none, those carrying the run's id (`platform::strays`).
fn stray_children(marker: Option<&OsStr>) -> Vec<Stray> {
    let strays = platform::strays(marker);
    // Looked up after the scan: a child spawned meanwhile was registered under this same lock.
    let waiters = reaper::lock();
    strays
        .into_iter()
        .filter(|stray| !waiters.contains(stray.pid))
        .collect()
}
