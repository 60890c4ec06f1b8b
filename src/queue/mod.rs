//! DESIGN §10, the queue: every machine of a CI run runs the same command and they share one
//! dynamic queue of the plan's suites (its units) held in a Redis or Valkey server. Here: where
//! the store is and which run (`target.rs`), what the machines must agree on (`digest.rs`), the
//! store's keys and atomic steps (`store.rs`, `scripts.rs`), and the link between a run's driver
//! and the store ([`Link`]: claims, results, lease renewals and what other machines did).
//!
//! Must not reach into: the scheduler's rules (`sched::core` decides when a suite is ready and
//! asks the link for it; the link only carries questions and answers), reports, Lua.

pub(crate) mod carry;
pub(crate) mod digest;
pub(crate) mod limits;
pub(crate) mod scripts;
pub(crate) mod store;
pub(crate) mod supervise;
pub(crate) mod target;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use tokio::sync::mpsc;

use crate::event::{Carried, SkipReason, Status, SuiteResult};
use crate::plan::{Plan, SuiteId};
pub(crate) use store::{Claim, Happened, Published, Store, StoreError};
pub(crate) use target::Target;

/// DESIGN §10: a lease not renewed for this long is lost.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// DESIGN §10: the run's keys expire this long after their last write.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// DESIGN §10: a lease is renewed every 5 s (sooner when the lease itself is short).
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// A queue run, as the command line and environment name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    pub target: Target,
    /// The run key every machine of the run shares.
    pub run: String,
    /// Where the run key came from (`--queue-run`, `PTEST_QUEUE_RUN`, a CI variable).
    pub run_source: String,
    pub lease: Duration,
    pub ttl: Duration,
    /// This machine's name in reports.
    pub node: String,
}

impl Spec {
    /// DESIGN §10: `--queue` (else `PTEST_QUEUE`), `--queue-run` (else `PTEST_QUEUE_RUN`, else
    /// the CI's run identity), `--queue-lease`, `--queue-ttl`. `None`: not a queue run. Errors
    /// name the flag or variable.
    pub(crate) fn resolve(
        url: Option<&str>,
        run: Option<&str>,
        lease: Option<Duration>,
        ttl: Option<Duration>,
        var: &dyn Fn(&str) -> Option<String>,
        host: Option<String>,
    ) -> Result<Option<Spec>, String> {
        let from_env = var("PTEST_QUEUE").filter(|v| !v.trim().is_empty());
        let (url, url_source) = match (url, from_env.as_deref()) {
            (Some(u), _) => (u, "--queue"),
            (None, Some(u)) => (u, "PTEST_QUEUE"),
            (None, None) => return Ok(None),
        };
        let target = Target::parse(url).map_err(|e| format!("{url_source}: {e}"))?;
        let run_env = var("PTEST_QUEUE_RUN");
        let given = match (run, run_env.as_deref()) {
            (Some(r), _) => Some((r, "--queue-run")),
            (None, Some(r)) => Some((r, "PTEST_QUEUE_RUN")),
            (None, None) => None,
        };
        let (run, run_source) = target::run_key(given, var)?;
        Ok(Some(Spec {
            target,
            run,
            run_source,
            lease: target::check_lease(lease.unwrap_or(DEFAULT_LEASE))?,
            ttl: target::check_ttl(ttl.unwrap_or(DEFAULT_TTL))?,
            node: target::node_name(var, host),
        }))
    }
}

/// Why a machine cannot join a queue run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinError {
    Store(StoreError),
    /// The queue's plan is not this machine's: the first difference.
    Differs(String),
}

impl From<StoreError> for JoinError {
    fn from(e: StoreError) -> Self {
        JoinError::Store(e)
    }
}

/// A machine that joined a queue run.
pub(crate) struct Joined {
    pub store: Store,
    /// This process's lease identity: the node, the process and a random part.
    pub holder: String,
    pub node: String,
    /// This machine wrote the plan.
    pub created: bool,
}

/// Connect to the run's store.
pub(crate) async fn connect(spec: &Spec) -> Result<Store, StoreError> {
    Store::connect(&spec.target, &spec.run, spec.lease, spec.ttl).await
}

/// Connect, then write the plan if no machine has, or check that ours is the one there.
#[cfg(test)]
pub(crate) async fn join(spec: &Spec, plan: &Plan) -> Result<Joined, JoinError> {
    let store = connect(spec).await?;
    join_with(store, spec, plan).await
}

/// Write the plan to `store` if no machine has, or check that ours is the one there.
pub(crate) async fn join_with(
    mut store: Store,
    spec: &Spec,
    plan: &Plan,
) -> Result<Joined, JoinError> {
    let units = digest::descriptors(plan);
    let mine = digest::digest(plan, &units);
    let created = match store.publish(&mine, &units).await? {
        Published::Created => true,
        Published::Exists(theirs) if theirs == mine => false,
        Published::Exists(_) => {
            let theirs = store.descriptors().await?;
            return Err(JoinError::Differs(digest::difference(&theirs, &units)));
        }
    };
    Ok(Joined {
        store,
        holder: format!(
            "{}/{}/{:08x}",
            spec.node,
            std::process::id(),
            fastrand::u32(..)
        ),
        node: spec.node.clone(),
        created,
    })
}

/// Each unit with its group and that group's `max`, as a claim names them.
fn with_groups<'g>(
    groups: &'g [Option<(String, u32)>],
    units: &[SuiteId],
) -> Vec<(u32, Option<(&'g str, u32)>)> {
    units
        .iter()
        .map(|s| {
            let group = groups
                .get(s.index())
                .and_then(Option::as_ref)
                .map(|(g, m)| (g.as_str(), *m));
            (s.0, group)
        })
        .collect()
}

/// A claim's answers (one per unit of `suites`) into this machine's units and the news.
fn claimed(
    units: usize,
    mine: &mut Mine,
    suites: Vec<SuiteId>,
    answers: Vec<(Claim, Option<String>, Option<u32>)>,
    news: &mpsc::UnboundedSender<News>,
) {
    for (suite, (answer, carried, took)) in suites.into_iter().zip(answers) {
        if let Some(other) = took.filter(|u| (*u as usize) < units) {
            mine.held.insert(other);
            let _ = news.send(News::Took(SuiteId(other)));
        }
        if answer == Claim::Mine {
            mine.held.insert(suite.0);
            if let Some(text) = carried {
                if let Some(c) = carry::from_json(&text) {
                    let _ = news.send(News::Resume(suite, c));
                }
                mine.carried.insert(suite.0, text);
            }
        }
        let answer = if answer == Claim::Avoid {
            mine.avoided.insert(suite.0);
            Claim::Elsewhere
        } else {
            answer
        };
        let _ = news.send(News::Claimed(suite, answer));
    }
}

/// A [`Request::Finish`] and the [`Request::Claim`] right behind it, in one round trip: the
/// store runs the end first, then the claim (both sent at once on the one connection), so a
/// unit of the ended one's group finds its place free. Only once this machine has sent a result
/// the usual way: a script the server does not know yet is sent again after it has learnt it,
/// which would put the claim first.
async fn finish_and_claim(
    joined: &mut Joined,
    groups: &[Option<(String, u32)>],
    mine: &mut Mine,
    outcome: Outcome,
    (suites, others): (Vec<SuiteId>, Vec<SuiteId>),
    news: &mpsc::UnboundedSender<News>,
) -> Result<(), StoreError> {
    mine.held.remove(&outcome.suite.0);
    mine.carried.remove(&outcome.suite.0);
    let (asks, others) = (with_groups(groups, &suites), with_groups(groups, &others));
    let mut second = joined.store.clone();
    let (sent, answers) = tokio::join!(
        send_result(
            &mut joined.store,
            &joined.holder,
            &joined.node,
            &outcome,
            news
        ),
        second.claim_all(&joined.holder, &asks, &others),
    );
    sent?;
    claimed(groups.len(), mine, suites, answers?, news);
    Ok(())
}

/// A unit's result from this machine, for the store.
#[derive(Debug)]
struct Outcome {
    suite: SuiteId,
    status: &'static str,
    /// What the unit's record keeps.
    json: String,
    /// What it exported to `PTEST_ENV` ([`exports_json`]).
    exports: String,
}

/// Send this machine's result for a unit it held; one that did not count (the lease had been
/// lost) is news for the driver.
async fn send_result(
    store: &mut Store,
    holder: &str,
    node: &str,
    outcome: &Outcome,
    news: &mpsc::UnboundedSender<News>,
) -> Result<(), StoreError> {
    let Outcome {
        suite,
        status,
        json,
        exports,
    } = outcome;
    if !store
        .finish_exporting(suite.0, holder, status, json, node, exports)
        .await?
    {
        let _ = news.send(News::Duplicate(*suite));
    }
    Ok(())
}

/// What the driver asks of the store.
#[derive(Debug)]
enum Request {
    Claim(Vec<SuiteId>, Vec<SuiteId>),
    Finish(Outcome),
    Skip { suite: SuiteId, json: String },
    Release(SuiteId),
    HandBack(SuiteId, Carried),
    StopTaking,
}

/// What the store says back, and what other machines did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum News {
    /// The answer to a claim ([`Claim::Avoid`] never comes: it is `Elsewhere` here, and the
    /// link asks again on its timer while the unit waits for another machine).
    Claimed(SuiteId, Claim),
    /// A claimed unit's earlier attempts on other machines; its `Claimed` follows.
    Resume(SuiteId, Carried),
    /// The store gave this machine this unit, one of a claim's others, in place of the one
    /// asked for; that claim's `Claimed` follows.
    Took(SuiteId),
    /// The answer to [`Link::stop_taking`]: true when this machine stopped taking units, false
    /// when no other machine is alive and taking them.
    StoppedTaking(bool),
    /// This machine had stopped taking units, and no other machine is alive and taking them
    /// any more: it takes them again.
    TakeAgain,
    /// A unit has its result, from some machine (this one's too), with what it exported to
    /// `PTEST_ENV` (DESIGN §11: its dependents get it wherever they run).
    Ended {
        suite: SuiteId,
        status: Status,
        node: String,
        exports: Vec<(String, OsString)>,
    },
    /// This machine wrote the unit's skip first: its record keeps it.
    SkipWritten(SuiteId),
    /// A unit's lease ran out: it may be claimed again.
    Requeued(SuiteId),
    /// This machine's result for a unit did not count: its lease had been lost.
    Duplicate(SuiteId),
    /// The store stopped answering: the reason.
    Lost(String),
}

/// The driver's end of the link to the store: requests go to a task that owns the store's
/// connections, renews this machine's leases and reads the run's events; news comes back on
/// [`Link::news`].
pub(crate) struct Link {
    requests: mpsc::UnboundedSender<Request>,
    pub news: mpsc::UnboundedReceiver<News>,
    task: tokio::task::JoinHandle<()>,
    reader: tokio::task::JoinHandle<()>,
    node: String,
}

impl Link {
    /// Start the link's tasks on the current runtime.
    pub(crate) async fn start(
        joined: Joined,
        plan: &Plan,
        lease: Duration,
    ) -> Result<Link, StoreError> {
        let (requests, rx) = mpsc::unbounded_channel();
        let (news_tx, news) = mpsc::unbounded_channel();
        let groups: Vec<Option<(String, u32)>> = plan
            .suites
            .iter()
            .map(|s| {
                s.group
                    .map(|g| (plan.group(g).name.clone(), plan.group(g).max))
            })
            .collect();
        let units = plan.suites.len() as u32;
        let mut reader = joined.store.reader().await?;
        let events = news_tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                match reader.next(Duration::from_secs(1)).await {
                    Ok(happened) => {
                        for h in happened {
                            let n = match h {
                                Happened::Ended {
                                    unit,
                                    status,
                                    node,
                                    exports,
                                } if unit < units => {
                                    let Some(status) = status_of(&status) else {
                                        continue;
                                    };
                                    News::Ended {
                                        suite: SuiteId(unit),
                                        status,
                                        node,
                                        exports: exports_of(&exports),
                                    }
                                }
                                Happened::Requeued { unit, .. } if unit < units => {
                                    News::Requeued(SuiteId(unit))
                                }
                                _ => continue,
                            };
                            if events.send(n).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = events.send(News::Lost(e.to_string()));
                        return;
                    }
                }
            }
        });
        let renew_every = RENEW_EVERY.min(lease / 3);
        let node = joined.node.clone();
        let task = tokio::spawn(serve(joined, groups, rx, news_tx, renew_every));
        Ok(Link {
            requests,
            news,
            task,
            reader,
            node,
        })
    }

    /// This machine's name in reports.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Ask for `suites` in one round trip, each or else the first of `others` no machine has
    /// taken; each answer comes back as [`News::Claimed`], after [`News::Took`] for another
    /// unit given in its place.
    pub(crate) fn claim(&self, suites: Vec<SuiteId>, others: Vec<SuiteId>) {
        let _ = self.requests.send(Request::Claim(suites, others));
    }

    /// A suite ended on this machine (`entry` is what its record keeps): a result it ran
    /// goes to the store; a skip too, unless this machine's own stop caused it (the unit is
    /// then another machine's to run); a cancelled unit goes back to the queue.
    pub(crate) fn ended(&self, result: &SuiteResult, entry: &crate::record::Suite) {
        let stopped = matches!(
            result.skip_reason,
            Some(SkipReason::Stopped(_) | SkipReason::NotReached | SkipReason::Elsewhere { .. })
        );
        let json = || serde_json::to_string(entry).unwrap_or_default();
        let request = if result.status == Status::Cancelled || stopped {
            if result.attempts == 0 {
                return;
            }
            Request::Release(result.id)
        } else if result.attempts > 0 {
            Request::Finish(Outcome {
                suite: result.id,
                status: result.status.label(),
                json: json(),
                exports: exports_json(&result.exports),
            })
        } else {
            Request::Skip {
                suite: result.id,
                json: json(),
            }
        };
        let _ = self.requests.send(request);
    }

    /// Give back a unit this machine claimed and will not run.
    pub(crate) fn release(&self, suite: SuiteId) {
        let _ = self.requests.send(Request::Release(suite));
    }

    /// A unit's attempt failed here and another is wanted: back to the queue with `carried`,
    /// for a machine it has not failed on.
    pub(crate) fn hand_back(&self, suite: SuiteId, carried: Carried) {
        let _ = self.requests.send(Request::HandBack(suite, carried));
    }

    /// This machine's first units failed: it takes no more (the answer comes back as
    /// [`News::StoppedTaking`]).
    pub(crate) fn stop_taking(&self) {
        let _ = self.requests.send(Request::StopTaking);
    }

    /// Every request sent so far carried out, then the tasks stopped; the news not yet read.
    pub(crate) async fn close(self) -> Vec<News> {
        let Link {
            requests,
            mut news,
            task,
            reader,
            node: _,
        } = self;
        drop(requests);
        reader.abort();
        let _ = reader.await;
        let _ = task.await;
        let mut left = Vec::new();
        while let Ok(n) = news.try_recv() {
            left.push(n);
        }
        left
    }
}

/// The task that owns the store: carries out requests in order, renews leases and puts lost
/// ones back in the queue on a timer.
async fn serve(
    mut joined: Joined,
    groups: Vec<Option<(String, u32)>>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    news: mpsc::UnboundedSender<News>,
    renew_every: Duration,
) {
    let mut mine = Mine::default();
    let mut tick = tokio::time::interval(renew_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lost = false;
    // A request read after a suite's end that was not the claim for its slot: next in line.
    let mut next: Option<Request> = None;
    loop {
        if let Some(r) = next.take() {
            let step = handle(&mut joined, &groups, &mut mine, r, &news, lost).await;
            if let Err(e) = step {
                if !lost {
                    lost = true;
                    let _ = news.send(News::Lost(e.to_string()));
                }
            }
            continue;
        }
        let step = tokio::select! {
            r = rx.recv() => match r {
                // A suite's end, and the driver's claim for the slot it freed right behind
                // it: both in one round trip, as the claim holds up the slot.
                Some(Request::Finish(outcome)) if !lost && mine.ended => match rx.try_recv() {
                    Ok(Request::Claim(suites, others)) => {
                        finish_and_claim(&mut joined, &groups, &mut mine, outcome, (suites, others), &news).await
                    }
                    Ok(other) => {
                        next = Some(other);
                        handle(&mut joined, &groups, &mut mine, Request::Finish(outcome), &news, lost).await
                    }
                    Err(_) => handle(&mut joined, &groups, &mut mine, Request::Finish(outcome), &news, lost).await,
                },
                Some(r) => handle(&mut joined, &groups, &mut mine, r, &news, lost).await,
                None => {
                    // Gone from the machines that take units (a retry waits for no one).
                    if !lost {
                        let _ = joined.store.leave(&joined.holder).await;
                    }
                    return;
                }
            },
            _ = tick.tick(), if !lost => on_tick(&mut joined, &mut mine, &news).await,
        };
        if let Err(e) = step {
            if !lost {
                lost = true;
                let _ = news.send(News::Lost(e.to_string()));
            }
        }
    }
}

/// What the link keeps of this machine's units.
#[derive(Default)]
struct Mine {
    /// Units it holds a lease on.
    held: BTreeSet<u32>,
    /// What each held unit carried from other machines when claimed.
    carried: HashMap<u32, String>,
    /// Units it failed that wait for another machine: asked for again on each tick.
    avoided: BTreeSet<u32>,
    /// It stopped taking units.
    stopped: bool,
    /// It has sent a result: the server knows the end's script (see [`finish_and_claim`]).
    ended: bool,
}

/// Renew the leases, put lost ones of any machine back, ask again for units avoided here, and
/// take units again when this machine stopped and no other takes them any more.
async fn on_tick(
    joined: &mut Joined,
    mine: &mut Mine,
    news: &mpsc::UnboundedSender<News>,
) -> Result<(), StoreError> {
    let units: Vec<u32> = mine.held.iter().copied().collect();
    joined.store.renew(&joined.holder, &units).await?;
    joined.store.reap().await?;
    for unit in std::mem::take(&mut mine.avoided) {
        let _ = news.send(News::Requeued(SuiteId(unit)));
    }
    if mine.stopped && joined.store.takers(&joined.holder).await? == 0 {
        joined.store.take_again(&joined.holder).await?;
        mine.stopped = false;
        let _ = news.send(News::TakeAgain);
    }
    Ok(())
}

async fn handle(
    joined: &mut Joined,
    groups: &[Option<(String, u32)>],
    mine: &mut Mine,
    r: Request,
    news: &mpsc::UnboundedSender<News>,
    lost: bool,
) -> Result<(), StoreError> {
    let held = &mut mine.held;
    match r {
        Request::Claim(suites, others) => {
            if lost {
                return Ok(());
            }
            let (asks, others) = (with_groups(groups, &suites), with_groups(groups, &others));
            let answers = joined
                .store
                .claim_all(&joined.holder, &asks, &others)
                .await?;
            claimed(groups.len(), mine, suites, answers, news);
        }
        Request::HandBack(suite, carried) => {
            held.remove(&suite.0);
            let earlier = mine.carried.remove(&suite.0);
            if lost {
                return Ok(());
            }
            let text = carry::to_json(&carried, &joined.node, earlier.as_deref());
            joined
                .store
                .hand_back(suite.0, &joined.holder, &text)
                .await?;
        }
        Request::StopTaking => {
            if lost {
                return Ok(());
            }
            let stopped = joined.store.stop_taking(&joined.holder, "stopped").await?;
            mine.stopped = stopped;
            let _ = news.send(News::StoppedTaking(stopped));
        }
        Request::Finish(outcome) => {
            held.remove(&outcome.suite.0);
            mine.carried.remove(&outcome.suite.0);
            if lost {
                return Ok(());
            }
            send_result(
                &mut joined.store,
                &joined.holder,
                &joined.node,
                &outcome,
                news,
            )
            .await?;
            mine.ended = true;
        }
        Request::Skip { suite, json } => {
            if lost {
                return Ok(());
            }
            if joined.store.skip(suite.0, &json, &joined.node).await? {
                let _ = news.send(News::SkipWritten(suite));
            }
        }
        Request::Release(suite) => {
            held.remove(&suite.0);
            mine.carried.remove(&suite.0);
            if lost {
                return Ok(());
            }
            joined.store.release(suite.0, &joined.holder).await?;
        }
    }
    Ok(())
}

/// What a suite exported, as its `end` event carries it ("" for nothing): names and bytes.
fn exports_json(exports: &[(String, OsString)]) -> String {
    if exports.is_empty() {
        return String::new();
    }
    let pairs: Vec<(&str, &[u8])> = exports
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

/// [`exports_json`]'s text back (nothing when it is not that).
fn exports_of(text: &str) -> Vec<(String, OsString)> {
    if text.is_empty() {
        return Vec::new();
    }
    serde_json::from_str::<Vec<(String, Vec<u8>)>>(text)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, OsString::from_vec(v)))
        .collect()
}

/// A status as the record names it.
pub(crate) fn status_of(label: &str) -> Option<Status> {
    [
        Status::Passed,
        Status::Flaky,
        Status::Failed,
        Status::TimedOut,
        Status::Cancelled,
        Status::Skipped,
    ]
    .into_iter()
    .find(|s| s.label() == label)
}

#[cfg(test)]
mod tests;
