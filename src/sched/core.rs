//! The scheduler's core: the run's state and every rule of DESIGN §3 — readiness, admission,
//! priority, phases and `on_failure`, skip propagation, fail-fast and stopping, retry decisions
//! and backoff timing, `always` phases — as a synchronous state machine. This is the one file
//! that answers "when does a suite start".
//!
//! Inputs ([`Input`]: the run begins, an attempt ended, a timer fired, a signal came) go in with
//! the time they happen at; commands ([`Command`]: start this attempt on these slots, cancel that
//! one, this suite finished...) come out, in the order they must be carried out. What the rules
//! must ask outside goes through [`Host`] and is answered at once: a limiter's token, an
//! attempt's output, a Lua `when` predicate.
//!
//! Must not touch: tokio, processes, files, the clock, Lua. The run's driver (`sched/mod.rs`) and
//! `ptest plan`'s prediction (`sched/simulate.rs`) both drive this core, and its tests drive it
//! with a fake runner and virtual time.
//!
//! Where later rules go: an admission check that holds nothing (memory fitting a budget, DESIGN
//! §12; a service being ready, §11) is one more refusal in `admit`, before the limiter's token,
//! which is taken last; what it waits for comes back as a [`Timer`] or a new [`Input`], and
//! what it asks the driver to do is a new [`Command`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::limits::Refusal;
use super::queue::{Admit, Queue, Slots};
use crate::batch::results::TestCase;
use crate::event::{
    AttemptDetail, AttemptView, CancelReason, Carried, DependencyEnd, PartLeft, ServiceFailure,
    ServiceInstance, SkipReason, Status, SuiteResult,
};
use crate::plan::decl::{BatchPart, ItemSource};
use crate::plan::{LimiterId, OnFailure, Plan, Scope, ServiceId, SuiteId};

/// DESIGN §8: a suite is slow past twice its expected duration, and at least this many seconds
/// over it.
const SLOW_FACTOR: f64 = 2.0;
const SLOW_OVER: f64 = 10.0;

/// The run's answer to a socket request: the word sent back (`ok`, `no`), or why not
/// (`err ...`).
pub(crate) type Answer = Result<&'static str, String>;

/// DESIGN §9: a part hands its unclaimed items on once it has run this many times its
/// expected duration (from history; [`HAND_ON_MARGIN_GUESSED`] from guesses, which are
/// further off), times how much longer the batch's ended parts ran than expected...
const HAND_ON_MARGIN: f64 = 1.2;
const HAND_ON_MARGIN_GUESSED: f64 = 1.5;
/// ... and at least this many seconds past its expected duration.
const HAND_ON_OVER: f64 = 1.0;

/// Names one attempt between a [`Command::Start`] and the [`Ended`] that reports it.
pub(crate) type AttemptKey = u64;

/// Names one request of a test process on the coordinator socket (DESIGN §5) between its
/// input and the [`Command::Answer`] to it.
pub(crate) type RequestId = u64;

/// Something that happened, fed to [`Core::step`] with the time it happened at.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    /// The run begins: statically skipped suites end, the first phase opens.
    Begin,
    /// An attempt that a [`Command::Start`] started has ended.
    Ended(Ended),
    /// A timer the driver set from [`Core::next_backoff`] or [`Core::limiter_wake`] fired.
    Timer(Timer),
    /// SIGINT or SIGTERM to ptest: the first stops the run as fail-fast does, a second kills.
    Signal,
    /// A service instance that a [`Command::StartService`] started is ready (DESIGN §11).
    ServiceReady(ServiceInstance),
    /// A service instance failed: it was not ready in time, or it ended while suites need it.
    ServiceFailed(ServiceInstance, ServiceFailure),
    /// `acquire LIMITER PERMITS` on the socket: answered once the limiter grants (or never
    /// can), waiting without holding anything meanwhile.
    Acquire {
        request: RequestId,
        limiter: LimiterId,
        permits: u32,
    },
    /// `throttled LIMITER [RETRY_AFTER]` on the socket: a test saw an HTTP 429.
    Throttled {
        request: RequestId,
        limiter: LimiterId,
        retry_after: Option<Duration>,
    },
    /// The process behind a waiting `acquire` hung up: it takes no token.
    Gone(RequestId),
    /// A running batch part said one of its tests has been running for a while (`test started`
    /// on the socket): it may become slow ([`Command::TestSlow`]) or run past the batch's
    /// `test_timeout` ([`Command::TestTimedOut`]).
    TestStarted { suite: SuiteId, name: String },
    /// A test told as started ended.
    TestEnded { suite: SuiteId, name: String },
    /// `claim SUITE<TAB>ITEM` on the socket: a running batch part is about to run `item`.
    /// Answered `ok` (it is the part's: from now on it is never handed on) or `no` (it was
    /// handed on to another part: the part leaves it out), at once.
    ItemClaim {
        request: RequestId,
        suite: SuiteId,
        item: String,
    },
    /// DESIGN §10, a queue run: the store's answer to a [`Command::Claim`].
    Claimed(SuiteId, Claim),
    /// A queue run: the store gave this machine the unit in place of one it asked for
    /// (one of the claim's others); the claim's answer follows.
    Took(SuiteId),
    /// A queue run: the suite has its result from another machine (`status`, on `node`),
    /// with what it exported to `PTEST_ENV` (its dependents here get it).
    EndedElsewhere {
        suite: SuiteId,
        status: Status,
        node: String,
        exports: Vec<(String, std::ffi::OsString)>,
    },
    /// A queue run: the suite's lease ran out where it was held; it may be claimed again.
    Requeued(SuiteId),
    /// A queue run: the store stopped answering. What this machine holds runs on; then it
    /// runs every unit it has not seen end (work may run twice, never zero times).
    QueueLost,
    /// A queue run: the unit being claimed failed on other machines before; what they left
    /// comes before the claim's answer ([`Claim::Mine`]) and its next attempt goes on from it.
    Resume(SuiteId, Carried),
    /// A queue run: this machine takes units again after [`Command::StopTaking`] (no other
    /// machine is alive and taking them).
    TakeAgain,
}

/// DESIGN §10: a machine whose first this many units fail stops taking units.
pub(crate) const FIRST_UNITS_FAILING: usize = 3;

/// DESIGN §10: how many other ready units a claim names, to be given one of them when
/// another machine has the unit it asks for.
const CLAIM_OTHERS: usize = 16;

/// DESIGN §10: the store's answer to a claim of a unit of a queue run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// It is this machine's to run (under a lease the driver renews).
    Mine,
    /// It already has a result; the result's event follows.
    Done,
    /// Another machine holds it; its result or its requeue follows.
    Elsewhere,
    /// Its group is at `max` across the machines: ask again once a unit ends.
    Busy,
}

/// Where a unit of a queue run stands with the store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lease {
    /// Not asked for (or a run without a queue: every suite is this machine's).
    Unasked,
    /// Asked for, holding these slots until the answer.
    Asking(Vec<u32>),
    Mine,
    /// Another machine holds it or ended it.
    Away,
    /// Refused for its group's cap; asked again once a unit ends.
    Busy,
}

/// A queue run: how this machine's first units went (DESIGN §10).
#[derive(Debug, Clone, Default)]
struct FirstUnits {
    /// The first units that ended an attempt here, up to [`FIRST_UNITS_FAILING`].
    seen: Vec<SuiteId>,
    failed: usize,
    /// It stopped taking units.
    stopped: bool,
}

/// Which wake-up fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The earliest backoff ([`Core::next_backoff`]) is due.
    Backoff,
    /// A limiter that refused a start has a token again ([`Core::limiter_wake`]).
    Limiter,
    /// A running suite may have become slow ([`Core::next_slow`]).
    Slow,
}

/// How one attempt ended, before retry rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Fail {
        code: Option<i32>,
        signal: Option<i32>,
        message: Option<String>,
    },
    Timeout,
    Cancel,
}

/// One attempt's end, as the executor measured it.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    pub key: AttemptKey,
    pub verdict: Verdict,
    pub started: SystemTime,
    pub duration: Duration,
    pub peak_rss_kb: Option<u64>,
    pub cpu_time: Option<Duration>,
    /// Byte range of this attempt's output in the suite's log.
    pub output: (u64, u64),
    /// A batch's part: the testcases its results file held (`None`: none could be read).
    pub testcases: Option<Vec<TestCase>>,
    /// What it appended to `PTEST_ENV` (read only after a pass).
    pub exports: Vec<(String, std::ffi::OsString)>,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    /// Start attempt `attempt` (1-based) of `suite` on these worker slots; the first is its
    /// worker index. Its end comes back as [`Input::Ended`] with the same `key`.
    Start {
        key: AttemptKey,
        suite: SuiteId,
        attempt: u32,
        slots: Vec<u32>,
    },
    /// Stop this attempt's process group (SIGTERM, SIGKILL after the grace period); it ends
    /// [`Verdict::Cancel`].
    Cancel(AttemptKey),
    /// A second signal: kill every process group at once.
    KillAll,
    /// An attempt failed; another comes after `delay`.
    Retrying {
        suite: SuiteId,
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// An attempt of this suite ended: [`Core::last_attempt`] tells how. A `Retrying` or a
    /// `Finished` for it follows.
    AttemptEnded(SuiteId),
    /// The suite's final result is in: [`Core::result`].
    Finished(SuiteId),
    /// Fail-fast or a signal: nothing new starts (except in `always` phases).
    Stopping(CancelReason),
    /// Something the user should know that does not stop the run.
    Warning(String),
    /// DESIGN §8: the suite has run past twice its expected duration and at least 10 s over
    /// it (said once per suite).
    Slow {
        suite: SuiteId,
        elapsed: Duration,
        expected: Duration,
    },
    /// A test of a running batch part has run past the batch's `test_slow` (said once per
    /// test and attempt).
    TestSlow {
        suite: SuiteId,
        test: String,
        elapsed: Duration,
    },
    /// A test of a running batch part ran past the batch's `test_timeout`: its part is stopped
    /// (a [`Command::Cancel`] follows), the test ends timed out, and the part's items that had
    /// not finished run again.
    TestTimedOut {
        suite: SuiteId,
        test: String,
        after: Duration,
    },
    /// Start this service instance (DESIGN §11): a suite that needs it is about to start (on
    /// its worker, for `scope = "worker"`). [`Input::ServiceReady`] or [`Input::ServiceFailed`]
    /// follows. An instance is started once in a run.
    StartService(ServiceInstance),
    /// No suite left needs it (or it failed): stop its process group, SIGTERM then SIGKILL after
    /// its grace.
    StopService(ServiceInstance),
    /// The answer to a socket request: the word it gets (`ok`; `no` to a `claim` of an item
    /// handed on), or why never.
    Answer { request: RequestId, answer: Answer },
    /// A running part ran well past its expected time and items it had not started were
    /// handed on to a part about to start (DESIGN §9): `to` runs them instead of `from`.
    ItemsHandedOn {
        from: SuiteId,
        to: SuiteId,
        items: Vec<String>,
    },
    /// DESIGN §10, a queue run: ask the store for these units, in one round trip (each holds
    /// its slots meanwhile); each answer comes back as [`Input::Claimed`]. The others are
    /// ready units this machine could run instead, best first: when another machine has a
    /// unit asked for, the store gives this one the first of them no machine has taken
    /// ([`Input::Took`] comes before that unit's answer), so that machines asking for the same
    /// top units at once each get work in one round trip.
    Claim(Vec<SuiteId>, Vec<SuiteId>),
    /// A queue run: this machine holds the unit's lease but will not run it (the run stopped):
    /// give it back to the queue.
    Release(SuiteId),
    /// A queue run: the unit's attempt failed here and its retry policy wants another (its
    /// backoff is over): give it back to the queue with its attempts so far, for a machine it
    /// has not failed on. This machine claims it again at once; the store lets it only when no
    /// other machine is alive and taking units.
    HandBack(SuiteId, Carried),
    /// A queue run: this machine's first [`FIRST_UNITS_FAILING`] units failed: it takes no
    /// more units (the store may refuse, when no other machine takes them:
    /// [`Input::TakeAgain`] follows).
    StopTaking,
}

/// What the core asks outside, answered at once.
pub(crate) trait Host {
    /// Take a token of `limiter` for a suite that everything else admits (and a place under
    /// its concurrency cap), or say why not.
    fn limiter_admit(&mut self, limiter: LimiterId, now: Instant) -> Result<(), Refusal>;
    /// A suite that waited `waited` for `limiter` got its token.
    fn limiter_waited(&mut self, limiter: LimiterId, waited: Duration);
    /// A suite holding `limiter` ended an attempt.
    fn limiter_release(&mut self, limiter: LimiterId);
    /// Take `permits` tokens of `limiter` for a test process, or say why not.
    fn limiter_acquire(
        &mut self,
        limiter: LimiterId,
        permits: u32,
        now: Instant,
    ) -> Result<(), Refusal>;
    /// A test process saw a 429 on `limiter`'s behalf.
    fn limiter_throttled(
        &mut self,
        limiter: LimiterId,
        retry_after: Option<Duration>,
        now: Instant,
    );
    /// The last `OUTPUT_TAIL` bytes of `range` of the suite's log (for retry rules).
    fn output(&mut self, suite: SuiteId, range: (u64, u64)) -> Vec<u8>;
    /// Ask the `when` predicate `predicate` whether to retry this attempt.
    fn judge(&mut self, predicate: usize, view: &AttemptView<'_>) -> Result<bool, String>;
    /// Write a service's failure (its message and the end of its log) into the suite's log,
    /// after what an attempt wrote (`append`) or in place of an earlier run's log; the byte
    /// range written, which the suite's report shows.
    fn service_note(
        &mut self,
        suite: SuiteId,
        failure: &ServiceFailure,
        append: bool,
    ) -> Option<(u64, u64)>;
}

/// Where a service instance is in the run. One that is gone never starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Instance {
    Starting,
    Ready,
    Gone,
}

/// What the services a suite needs say to its start.
enum ServiceAdmit {
    /// Every one is ready; for `scope = "worker"`, on this worker slot.
    Yes(Option<u32>),
    No,
    /// One it needs has failed: the suite fails with it.
    Failed(ServiceId),
}

/// Where a suite is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for its phase, its dependencies, or admission.
    Pending,
    Running,
    /// Between attempts.
    Backoff,
    /// A queue run: waiting for the store's answer to a claim.
    Claiming,
    Done,
}

/// A running attempt.
#[derive(Debug, Clone)]
struct Running {
    id: SuiteId,
    attempt: u32,
    slots: Vec<u32>,
    /// A batch's part: the items this attempt runs (`None`: all).
    items: Option<Vec<usize>>,
    /// Bytes of the memory budget it holds (DESIGN §12).
    memory: u64,
    /// A batch part: tests of these items are left out (`skip_test`), by their ids below the
    /// item: what ran before a test timed out, and that test.
    skips: Vec<(usize, String)>,
    /// A batch part's tests that its process said are running.
    tests: Vec<RunningTest>,
    /// The test that ran past `test_timeout`, and the limit: the attempt was stopped for it.
    hung: Option<(String, Duration)>,
    /// When it started.
    since: Instant,
    /// A batch part's items its process claimed before running them (`claim` on the
    /// socket), by index into the part's items; `None` while it has claimed none. Only a part
    /// that claims has items handed on from it, and only items it has not claimed.
    claimed: Option<Vec<bool>>,
}

/// A test of a running part, as the part said (`test started`).
#[derive(Debug, Clone)]
struct RunningTest {
    name: String,
    since: Instant,
    slow_said: bool,
}

/// A socket `acquire` not granted yet.
#[derive(Debug, Clone)]
struct Waiting {
    request: RequestId,
    limiter: LimiterId,
    permits: u32,
    since: Instant,
}

/// Per-suite totals across attempts.
#[derive(Debug, Default, Clone)]
struct Progress {
    attempts: u32,
    first_start: Option<SystemTime>,
    duration: Duration,
    peak_rss_kb: Option<u64>,
    cpu_time: Option<Duration>,
    worker: Option<u32>,
    failed_attempts: Vec<String>,
    attempts_detail: Vec<AttemptDetail>,
    /// A batch's part: its testcases, the latest attempt's for each item.
    testcases: Vec<TestCase>,
    /// The items the next attempt runs (`None`: all).
    retry_items: Option<Vec<usize>>,
    /// The tests of items the next attempt leaves out (`skip_test`).
    retry_skips: Vec<(usize, String)>,
    /// Attempts that ran a part's unfinished items after a test timed out: they use none of
    /// the retry policy's attempts.
    continued: u32,
    /// Tests that timed out (`test_timeout`), and the testcases of a stopped attempt whose
    /// items ran again without them: kept apart from the later attempts' testcases.
    carried: Vec<TestCase>,
    /// The first test that timed out: the suite ends timed out, naming it.
    timed_out_test: Option<String>,
    /// Tests that timed out, left out of every later attempt that runs their items.
    hung_skips: Vec<(usize, String)>,
}

/// The run's state. Only [`Core::step`] changes it.
pub(crate) struct Core<'p> {
    plan: &'p Plan,
    log_files: Vec<PathBuf>,
    state: Vec<State>,
    results: Vec<Option<SuiteResult>>,
    progress: Vec<Progress>,
    /// Dependencies (inside the plan) not yet passed.
    waiting_deps: Vec<u32>,
    /// Suites of each phase that have not ended.
    phase_open: Vec<usize>,
    phase_failed: Vec<bool>,
    queue: Queue,
    slots: Slots,
    phase: usize,
    /// Past the last phase (or before the first) when false.
    entered: bool,
    attempts: BTreeMap<AttemptKey, Running>,
    next_key: AttemptKey,
    backoff: BinaryHeap<Reverse<(Instant, SuiteId)>>,
    /// Fail-fast or a signal: nothing new starts outside `always` phases.
    stopping: Option<CancelReason>,
    /// A second signal: everything is killed, `always` phases too.
    hard_stop: bool,
    interrupted: bool,
    /// Why later phases are skipped (`phase "core" failed`).
    later_skip: Option<SkipReason>,
    /// When a limiter that refused a start will have a token again.
    limiter_wake: Option<Instant>,
    /// Since when each suite has been ready but refused by its limiter.
    limiter_wait_since: Vec<Option<Instant>>,
    /// Socket `acquire`s waiting for their limiter, oldest first.
    acquires: VecDeque<Waiting>,
    /// Suites that may still start an attempt (pending or between attempts).
    may_start_later: usize,
    /// Backoff jitter: seeded, so the same inputs give the same commands.
    rng: fastrand::Rng,
    /// Memory the running attempts hold, in bytes (DESIGN §12).
    memory_in_use: u64,
    /// A suite larger than the whole memory budget is running: it runs alone.
    memory_alone: bool,
    /// When running attempts become slow: (at, attempt, started at), soonest first.
    slow_at: Vec<(Instant, AttemptKey, Instant)>,
    /// The suite's `SLOW` has been said.
    slow_said: Vec<bool>,
    /// Per service: the suites that need it and have not ended (DESIGN §11).
    needers_left: Vec<usize>,
    /// Every service instance started in the run.
    instances: BTreeMap<ServiceInstance, Instance>,
    /// Per service: its first failure, which every suite that needs it and has not started
    /// fails with.
    service_failed: Vec<Option<ServiceFailure>>,
    /// Attempts stopped because an instance they need failed: they end failed, with this.
    lost: BTreeMap<AttemptKey, ServiceFailure>,
    /// DESIGN §10: a queue run, where each suite is a unit that any machine may run.
    shared: bool,
    lease: Vec<Lease>,
    /// Put back in the queue (`Requeued`) while this machine's claim for it was on its way: an
    /// `Elsewhere` answer may predate that, so it is asked for again.
    requeued_while_asking: Vec<bool>,
    /// Units refused for their group's cap across machines, asked again when a unit ends.
    busy: Vec<SuiteId>,
    /// Units the store gave in place of others ([`Input::Took`]) that may not have started
    /// yet: while as many wait as slots are free, no further unit is claimed, so that a
    /// machine never holds more units than it can run.
    took: Vec<SuiteId>,
    first: FirstUnits,
    /// Batch parts whose items changed during the run (DESIGN §9, items handed on): their
    /// real items. `None`: the plan's part.
    parts: Vec<Option<Arc<BatchPart>>>,
    /// Per suite: the items it handed on (a `claim` of one is answered `no`).
    handed: Vec<Vec<String>>,
    out: Vec<Command>,
}

impl<'p> Core<'p> {
    /// A run of `plan` whose suites log to `log_files` (in plan order; results name them).
    /// `seed` draws the backoff jitter.
    pub(crate) fn new(plan: &'p Plan, log_files: Vec<PathBuf>, seed: u64) -> Core<'p> {
        let n = plan.suites.len();
        let mut phase_open = vec![0; plan.phases.len()];
        for s in &plan.suites {
            phase_open[s.phase.index()] += 1;
        }
        Core {
            plan,
            log_files,
            state: vec![State::Pending; n],
            results: vec![None; n],
            progress: vec![Progress::default(); n],
            waiting_deps: plan
                .suites
                .iter()
                .map(|s| s.depends_on.len() as u32)
                .collect(),
            phase_open,
            phase_failed: vec![false; plan.phases.len()],
            queue: Queue::new(plan),
            slots: Slots::new(plan.phases.first().map_or(1, |p| p.workers)),
            phase: 0,
            entered: false,
            attempts: BTreeMap::new(),
            next_key: 0,
            backoff: BinaryHeap::new(),
            stopping: None,
            hard_stop: false,
            interrupted: false,
            later_skip: None,
            limiter_wake: None,
            limiter_wait_since: vec![None; n],
            acquires: VecDeque::new(),
            may_start_later: n,
            rng: fastrand::Rng::with_seed(seed),
            memory_in_use: 0,
            memory_alone: false,
            slow_at: Vec::new(),
            slow_said: vec![false; n],
            needers_left: plan.services.iter().map(|v| v.needed_by.len()).collect(),
            instances: BTreeMap::new(),
            service_failed: vec![None; plan.services.len()],
            lost: BTreeMap::new(),
            shared: false,
            lease: vec![Lease::Unasked; n],
            requeued_while_asking: vec![false; n],
            busy: Vec::new(),
            took: Vec::new(),
            first: FirstUnits::default(),
            parts: vec![None; n],
            handed: vec![Vec::new(); n],
            out: Vec::new(),
        }
    }

    /// DESIGN §10: a queue run. Every suite is claimed from the store before it starts, and
    /// what other machines end comes in as [`Input::EndedElsewhere`].
    pub(crate) fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Feed one input; returns what to do about it, in order.
    pub(crate) fn step(&mut self, input: Input, now: Instant, host: &mut dyn Host) -> Vec<Command> {
        match input {
            Input::Begin => {
                for s in &self.plan.suites {
                    if let Some(skip) = &s.skip {
                        self.skip(s.id, SkipReason::Static(skip.clone()));
                    }
                }
                self.entered = !self.plan.phases.is_empty() && self.enter_phase(0);
            }
            Input::Ended(e) => self.on_ended(e, now, host),
            Input::Timer(Timer::Backoff) => self.wake_backoffs(now),
            Input::Timer(Timer::Limiter) => self.limiter_wake = None,
            Input::Timer(Timer::Slow) => self.say_slow(now),
            Input::Signal => self.on_signal(),
            Input::ServiceReady(inst) => {
                if let Some(state @ Instance::Starting) = self.instances.get_mut(&inst) {
                    *state = Instance::Ready;
                }
            }
            Input::ServiceFailed(inst, failure) => self.on_service_failed(inst, failure, host),
            Input::Acquire {
                request,
                limiter,
                permits,
            } => self.acquires.push_back(Waiting {
                request,
                limiter,
                permits,
                since: now,
            }),
            Input::Throttled {
                request,
                limiter,
                retry_after,
            } => {
                host.limiter_throttled(limiter, retry_after, now);
                self.out.push(Command::Answer {
                    request,
                    answer: Ok("ok"),
                });
            }
            Input::Gone(request) => self.acquires.retain(|w| w.request != request),
            Input::TestStarted { suite, name } => self.test_started(suite, name, now),
            Input::ItemClaim {
                request,
                suite,
                item,
            } => {
                let answer = self.item_claim(suite, &item);
                self.out.push(Command::Answer {
                    request,
                    answer: Ok(answer),
                });
            }
            Input::TestEnded { suite, name } => {
                if let Some(a) = self.attempt_of_mut(suite) {
                    a.tests.retain(|t| t.name != name);
                }
            }
            Input::Claimed(id, answer) => self.on_claimed(id, answer),
            Input::Took(id) => self.took(id),
            Input::EndedElsewhere {
                suite,
                status,
                node,
                exports,
            } => {
                self.ended_elsewhere(suite, status, node, exports);
            }
            Input::QueueLost => self.queue_lost(),
            Input::Resume(id, carried) => self.resume(id, carried),
            Input::TakeAgain => self.first.stopped = false,
            Input::Requeued(id) => {
                if self.state[id.index()] == State::Claiming {
                    self.requeued_while_asking[id.index()] = true;
                } else if self.state[id.index()] == State::Pending
                    && self.lease[id.index()] == Lease::Away
                {
                    self.lease[id.index()] = Lease::Unasked;
                    self.queue.add_work(self.plan, id);
                    self.requeue(id);
                }
            }
        }
        self.serve_acquires(now, host);
        self.settle(now, host);
        std::mem::take(&mut self.out)
    }

    /// Every phase has ended: nothing more will start or end.
    pub(crate) fn done(&self) -> bool {
        !self.entered
    }

    /// When the earliest suite waiting out a backoff may start again.
    pub(crate) fn next_backoff(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((t, _))| *t)
    }

    /// When a limiter that refused a start has a token again.
    pub(crate) fn limiter_wake(&self) -> Option<Instant> {
        self.limiter_wake
    }

    /// When the next running suite becomes slow, or a running test slow or past its
    /// `test_timeout` (feed [`Timer::Slow`] then).
    pub(crate) fn next_slow(&self) -> Option<Instant> {
        let tests = self
            .attempts
            .values()
            .filter(|a| a.hung.is_none())
            .flat_map(|a| {
                let part = self.plan.suite(a.id).part.as_deref();
                a.tests.iter().flat_map(move |t| {
                    let slow = part
                        .filter(|_| !t.slow_said)
                        .and_then(|p| t.since.checked_add(p.test_slow));
                    let timeout = part
                        .and_then(|p| p.test_timeout)
                        .and_then(|d| t.since.checked_add(d));
                    [slow, timeout]
                })
            });
        self.slow_at
            .first()
            .map(|(t, _, _)| *t)
            .into_iter()
            .chain(tests.flatten())
            .min()
    }

    /// Whether `suite`'s running attempt said test `name` is running (its end then goes to
    /// [`Input::TestEnded`]).
    pub(crate) fn test_running(&self, suite: SuiteId, name: &str) -> bool {
        self.attempts
            .values()
            .any(|a| a.id == suite && a.tests.iter().any(|t| t.name == name))
    }

    /// A batch part as it runs: the plan's, or its real items once items were handed on to
    /// or from it.
    pub(crate) fn part(&self, id: SuiteId) -> Option<&Arc<BatchPart>> {
        self.parts[id.index()]
            .as_ref()
            .or(self.plan.suite(id).part.as_ref())
    }

    /// `claim SUITE<TAB>ITEM`: `"ok"` when the item is the running part's (from now on it
    /// stays there), `"no"` when the part handed it on to another (an item of its plan, or one
    /// handed to it and on again). An item the part never held, or a suite not running, is not
    /// the run's to refuse: `"ok"`.
    fn item_claim(&mut self, suite: SuiteId, item: &str) -> &'static str {
        let Some(part) = self.part(suite).cloned() else {
            return "ok";
        };
        if let Some(i) = part.items.iter().position(|(n, _)| n == item) {
            if let Some(a) = self.attempt_of_mut(suite) {
                let claimed = a
                    .claimed
                    .get_or_insert_with(|| vec![false; part.items.len()]);
                claimed[i] = true;
            }
            return "ok";
        }
        if self.handed[suite.index()].iter().any(|n| n == item) {
            "no"
        } else {
            "ok"
        }
    }

    /// DESIGN §9: before a batch's part starts its first attempt, a running part of the same
    /// batch that has run well past its expected time hands it the later half (by expected
    /// duration) of the items it has not claimed yet. "Well past": its expected time times the
    /// margin (1.2 from history, 1.5 from guesses) times how much longer than expected the
    /// batch's ended parts ran (at least 1), and at least [`HAND_ON_OVER`] past it. Only a part
    /// that claims its items (and so leaves out what it no longer holds) is taken from; only
    /// from a first attempt running every item; never in a queue run (other machines run the
    /// other parts).
    fn hand_on(&mut self, to: SuiteId, now: Instant) {
        if self.shared {
            return;
        }
        let Some(batch) = self.part(to).map(|p| p.batch.clone()) else {
            return;
        };
        let rate = self.batch_rate(&batch);
        let mut moves: Vec<(SuiteId, Vec<usize>)> = Vec::new();
        for a in self.attempts.values() {
            let Some(claimed) = &a.claimed else { continue };
            if a.items.is_some() || !a.skips.is_empty() || a.hung.is_some() || a.attempt != 1 {
                continue;
            }
            let Some(p) = self.part(a.id).filter(|p| p.batch == batch) else {
                continue;
            };
            let expected = p.expected();
            let margin = if p.source == ItemSource::History {
                HAND_ON_MARGIN
            } else {
                HAND_ON_MARGIN_GUESSED
            };
            let over = (expected * margin * rate).max(expected + HAND_ON_OVER);
            if now.saturating_duration_since(a.since).as_secs_f64() < over {
                continue;
            }
            let items = crate::batch::parts::to_hand_on(p, claimed);
            if !items.is_empty() {
                moves.push((a.id, items));
            }
        }
        for (from, items) in moves {
            self.move_items(from, to, &items);
        }
    }

    /// How much longer than expected the batch's ended parts ran: the median of their
    /// durations over their expected times, at least 1.
    fn batch_rate(&self, batch: &str) -> f64 {
        let mut ratios: Vec<f64> = self
            .plan
            .suites
            .iter()
            .filter(|s| self.state[s.id.index()] == State::Done)
            .filter_map(|s| {
                let p = self.part(s.id).filter(|p| p.batch == batch)?;
                let took = self.progress[s.id.index()].duration.as_secs_f64();
                (p.expected() > 0.0 && took > 0.0).then(|| took / p.expected())
            })
            .collect();
        if ratios.is_empty() {
            return 1.0;
        }
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2].max(1.0)
    }

    /// Items `items` (indices into `from`'s items) of the running `from` go to `to`, which has
    /// not started: both parts' real items change, and the run is told.
    fn move_items(&mut self, from: SuiteId, to: SuiteId, items: &[usize]) {
        let (Some(src), Some(dst)) = (self.part(from).cloned(), self.part(to).cloned()) else {
            return;
        };
        let (kept, moved) = crate::batch::parts::split_off(&src, items);
        let names: Vec<String> = moved.items.iter().map(|(n, _)| n.clone()).collect();
        self.handed[from.index()].extend(names.iter().cloned());
        let joined = crate::batch::parts::joined(&dst, &moved);
        self.parts[from.index()] = Some(Arc::new(kept));
        self.parts[to.index()] = Some(Arc::new(joined));
        if let Some(a) = self.attempt_of_mut(from) {
            if let Some(claimed) = a.claimed.as_mut() {
                let mut i = 0;
                claimed.retain(|_| {
                    i += 1;
                    !items.contains(&(i - 1))
                });
            }
        }
        self.out.push(Command::ItemsHandedOn {
            from,
            to,
            items: names,
        });
    }

    fn attempt_of_mut(&mut self, suite: SuiteId) -> Option<&mut Running> {
        self.attempts.values_mut().find(|a| a.id == suite)
    }

    fn test_started(&mut self, suite: SuiteId, name: String, now: Instant) {
        let Some(a) = self.attempt_of_mut(suite) else {
            return;
        };
        if a.hung.is_none() && !a.tests.iter().any(|t| t.name == name) {
            a.tests.push(RunningTest {
                name,
                since: now,
                slow_said: false,
            });
        }
    }

    /// `Command::TestSlow` for every test running past its part's `test_slow`; a test past
    /// its `test_timeout` stops its part (the part's unfinished items run again when it ends).
    fn tests_due(&mut self, now: Instant) {
        let plan = self.plan;
        for (&key, a) in &mut self.attempts {
            let Some(part) = plan.suite(a.id).part.as_deref() else {
                continue;
            };
            if a.hung.is_some() {
                continue;
            }
            for t in &mut a.tests {
                let elapsed = now.saturating_duration_since(t.since);
                if !t.slow_said && elapsed >= part.test_slow {
                    t.slow_said = true;
                    self.out.push(Command::TestSlow {
                        suite: a.id,
                        test: t.name.clone(),
                        elapsed,
                    });
                }
            }
            let Some(limit) = part.test_timeout else {
                continue;
            };
            if let Some(i) = a
                .tests
                .iter()
                .position(|t| now.saturating_duration_since(t.since) >= limit)
            {
                let t = a.tests.remove(i);
                a.hung = Some((t.name.clone(), limit));
                self.out.push(Command::TestTimedOut {
                    suite: a.id,
                    test: t.name,
                    after: limit,
                });
                self.out.push(Command::Cancel(key));
            }
        }
    }

    /// `Command::Slow` for every attempt still running past its slow time; then its tests.
    fn say_slow(&mut self, now: Instant) {
        self.say_suites_slow(now);
        self.tests_due(now);
    }

    fn say_suites_slow(&mut self, now: Instant) {
        let due = self.slow_at.partition_point(|(t, _, _)| *t <= now);
        for (_, key, started) in self.slow_at.drain(..due).collect::<Vec<_>>() {
            let Some(a) = self.attempts.get(&key) else {
                continue;
            };
            let id = a.id;
            if std::mem::replace(&mut self.slow_said[id.index()], true) {
                continue;
            }
            self.out.push(Command::Slow {
                suite: id,
                elapsed: now.saturating_duration_since(started),
                expected: Duration::try_from_secs_f64(self.plan.suite(id).expected)
                    .unwrap_or(Duration::ZERO),
            });
        }
    }

    /// Suites that may still start an attempt.
    pub(crate) fn may_start_later(&self) -> usize {
        self.may_start_later
    }

    /// Worker slots of the active phase.
    pub(crate) fn workers(&self) -> u32 {
        self.slots.total()
    }

    /// A signal came during the run.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// Attempts started and not yet ended.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.attempts.len()
    }

    /// How the suite's latest attempt went, once [`Command::AttemptEnded`] said it ended.
    pub(crate) fn last_attempt(&self, id: SuiteId) -> Option<&AttemptDetail> {
        self.progress[id.index()].attempts_detail.last()
    }

    /// The suite's final result, once [`Command::Finished`] said it is in.
    /// The items a started batch attempt runs (`None`: all, or not a batch).
    pub(crate) fn items_of(&self, key: AttemptKey) -> Option<&[usize]> {
        self.attempts.get(&key).and_then(|r| r.items.as_deref())
    }

    /// The tests a started batch attempt leaves out (`skip_test`): (item, test below it).
    pub(crate) fn skips_of(&self, key: AttemptKey) -> &[(usize, String)] {
        self.attempts.get(&key).map_or(&[], |r| r.skips.as_slice())
    }

    /// The suite's final result, if it has ended.
    pub(crate) fn result_if_done(&self, id: SuiteId) -> Option<&SuiteResult> {
        self.results[id.index()].as_ref()
    }

    pub(crate) fn result(&self, id: SuiteId) -> &SuiteResult {
        self.results[id.index()]
            .as_ref()
            .expect("asked after Command::Finished")
    }

    /// Every suite's result in plan order; suites never reached are skipped, "not reached".
    pub(crate) fn into_results(self) -> Vec<SuiteResult> {
        self.results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| SuiteResult::skipped(SuiteId(i as u32), SkipReason::NotReached))
            })
            .collect()
    }

    /// Socket `acquire`s first, oldest first: their processes already run and wait for the
    /// token, while a suite not yet started holds nothing. One refused by its limiter holds
    /// back the later ones for the same limiter, so a large request is not passed over for
    /// ever by small ones.
    fn serve_acquires(&mut self, now: Instant, host: &mut dyn Host) {
        let mut blocked: Vec<LimiterId> = Vec::new();
        let mut waiting = std::mem::take(&mut self.acquires);
        waiting.retain(|w| {
            if blocked.contains(&w.limiter) {
                return true;
            }
            let answer = match host.limiter_acquire(w.limiter, w.permits, now) {
                Ok(()) => {
                    host.limiter_waited(w.limiter, now.saturating_duration_since(w.since));
                    Ok("ok")
                }
                Err(Refusal::Never(why)) => Err(why),
                Err(Refusal::Wait(d)) => {
                    let at = now.checked_add(d).unwrap_or(now);
                    self.limiter_wake = Some(self.limiter_wake.map_or(at, |t| t.min(at)));
                    blocked.push(w.limiter);
                    return true;
                }
                // `acquire` is not capped by the limiter's concurrency (that counts suites).
                Err(Refusal::Full) => {
                    blocked.push(w.limiter);
                    return true;
                }
            };
            self.out.push(Command::Answer {
                request: w.request,
                answer,
            });
            false
        });
        self.acquires = waiting;
    }

    /// Start what is ready; when the phase is over, open the next one, until something runs or
    /// every phase has ended.
    fn settle(&mut self, now: Instant, host: &mut dyn Host) {
        while self.entered {
            self.start_ready(now, host);
            if self.phase_open[self.phase] == 0 && self.attempts.is_empty() {
                self.entered = self.advance_phase();
                continue;
            }
            break;
        }
    }

    /// Make phase `k` current: skip it whole when an earlier failure or a stop says so, else
    /// queue its suites whose dependencies have passed. Returns false past the last phase.
    fn enter_phase(&mut self, k: usize) -> bool {
        if k >= self.plan.phases.len() {
            return false;
        }
        self.phase = k;
        let phase = &self.plan.phases[k];
        let reason = if self.hard_stop {
            Some(SkipReason::Stopped(CancelReason::Interrupted))
        } else if phase.always {
            None
        } else {
            self.stopping
                .map(SkipReason::Stopped)
                .or_else(|| self.later_skip.clone())
        };
        if let Some(reason) = reason {
            for &id in &phase.suites {
                if self.state[id.index()] != State::Done {
                    self.skip(id, reason.clone());
                }
            }
            return true;
        }
        self.slots = Slots::new(phase.workers);
        for &id in &phase.suites {
            if self.state[id.index()] == State::Pending && self.waiting_deps[id.index()] == 0 {
                self.queue.push(self.plan, id);
            }
        }
        true
    }

    /// DESIGN §3 rule 4: a phase that ended with a final failure and `on_failure = "stop"`
    /// skips the later phases (`always` ones excepted, in `enter_phase`).
    fn advance_phase(&mut self) -> bool {
        let cur = &self.plan.phases[self.phase];
        if self.phase_failed[self.phase]
            && cur.on_failure == OnFailure::Stop
            && self.later_skip.is_none()
        {
            self.later_skip = Some(SkipReason::PhaseFailed(cur.name.clone()));
        }
        self.enter_phase(self.phase + 1)
    }

    /// Nothing new starts after a stop, except in an `always` phase; after a second signal,
    /// nothing at all.
    fn may_start(&self) -> bool {
        !self.hard_stop && (self.stopping.is_none() || self.plan.phases[self.phase].always)
    }

    /// DESIGN §3 rules 1–2: start ready suites by priority while slots are free. A suite takes
    /// its slots only once everything admits it, so none is held while waiting.
    fn start_ready(&mut self, now: Instant, host: &mut dyn Host) {
        // A queue run's claims of this round: sent once the round's picks are out of the
        // queue, each with the best of what is left as its others.
        let mut asked: Vec<SuiteId> = Vec::new();
        self.start_ready_asking(now, host, &mut asked);
        if !asked.is_empty() {
            let others = self.others(&asked);
            self.out.push(Command::Claim(asked, others));
        }
    }

    fn start_ready_asking(&mut self, now: Instant, host: &mut dyn Host, asked: &mut Vec<SuiteId>) {
        while self.may_start() && self.slots.free() > 0 && !self.queue.is_empty() {
            let plan = self.plan;
            let free = self.slots.free();
            let (state, lease) = (&self.state, &self.lease);
            self.took.retain(|id| {
                state[id.index()] == State::Pending && lease[id.index()] == Lease::Mine
            });
            let claim_more = self.took.len() < free as usize;
            let total = self.slots.total();
            let state = &self.state;
            let wake = &mut self.limiter_wake;
            let wait_since = &mut self.limiter_wait_since;
            let memory = (self.memory_in_use, self.memory_alone, self.attempts.len());
            let slots = &self.slots;
            let instances = &mut self.instances;
            let failed = &self.service_failed;
            let out = &mut self.out;
            let mut first_slot = None;
            let mut to_fail: Vec<(SuiteId, ServiceId)> = Vec::new();
            let shared = self.shared;
            let stopped_taking = self.first.stopped;
            let lease = &self.lease;
            let picked = self.queue.pop(plan, |id| {
                if state[id.index()] != State::Pending {
                    return Admit::Discard;
                }
                if slots_needed(plan, id, total) > free {
                    return Admit::No;
                }
                if !memory_fits(plan, id, memory) {
                    return Admit::No;
                }
                // DESIGN §10: a unit of a queue run is claimed from the store first; its
                // services and the limiter's token come once it is this machine's.
                if shared && lease[id.index()] != Lease::Mine {
                    return if stopped_taking || !claim_more {
                        Admit::No
                    } else {
                        Admit::Yes
                    };
                }
                // DESIGN §11: the services it needs are ready (on its worker, for the ones of
                // scope "worker"); a refusal starts the missing ones and holds nothing.
                first_slot = match services_admit(plan, id, slots, instances, failed, out) {
                    ServiceAdmit::Yes(slot) => slot,
                    ServiceAdmit::No => return Admit::No,
                    ServiceAdmit::Failed(n) => {
                        to_fail.push((id, n));
                        return Admit::Discard;
                    }
                };
                // Further checks that hold nothing go here. The token is taken last, only when
                // everything else admits the suite.
                let Some(l) = plan.suite(id).limiter else {
                    return Admit::Yes;
                };
                match host.limiter_admit(l, now) {
                    Ok(()) => {
                        if let Some(since) = wait_since[id.index()].take() {
                            host.limiter_waited(l, now.saturating_duration_since(since));
                        }
                        Admit::Yes
                    }
                    Err(refusal) => {
                        wait_since[id.index()].get_or_insert(now);
                        if let Refusal::Wait(d) = refusal {
                            let at = now.checked_add(d).unwrap_or(now);
                            *wake = Some(wake.map_or(at, |w| w.min(at)));
                        }
                        Admit::No
                    }
                }
            });
            for (id, n) in to_fail {
                if let Some(f) = self.service_failed[n.index()].clone() {
                    self.fail_for_service(id, &f, host);
                }
            }
            let Some(id) = picked else { break };
            let need = slots_needed(plan, id, total);
            let slots = match first_slot {
                Some(w) => self.slots.take_from(w, need),
                None => self.slots.take(need),
            }
            .expect("admitted with enough free slots");
            if self.shared && self.lease[id.index()] != Lease::Mine {
                self.lease[id.index()] = Lease::Asking(slots);
                self.set_state(id, State::Claiming);
                asked.push(id);
                continue;
            }
            self.start(id, slots, now);
        }
    }

    fn start(&mut self, id: SuiteId, slots: Vec<u32>, now: Instant) {
        if self.progress[id.index()].attempts == 0 {
            self.hand_on(id, now);
        }
        let p = &mut self.progress[id.index()];
        p.attempts += 1;
        p.worker = Some(slots[0]);
        let attempt = p.attempts;
        // DESIGN §9: a batch's retry runs only the items that failed, when results said which.
        let items = p.retry_items.take();
        let mut skips = std::mem::take(&mut p.retry_skips);
        for hung in &p.hung_skips {
            let runs = items.as_ref().is_none_or(|ix| ix.contains(&hung.0));
            if runs && !skips.contains(hung) {
                skips.push(hung.clone());
            }
        }
        let memory = self.plan.suite(id).memory.unwrap_or(0);
        self.memory_in_use += memory;
        if memory > self.plan.memory_budget {
            self.memory_alone = true;
            if attempt == 1 {
                self.out.push(Command::Warning(format!(
                    "suite \"{}\" needs {} of memory, more than the budget of {}: it runs alone",
                    self.plan.suite(id).name,
                    crate::size::human(memory),
                    crate::size::human(self.plan.memory_budget)
                )));
            }
        }
        let key = self.next_key;
        self.next_key += 1;
        let s = self.plan.suite(id);
        if !self.slow_said[id.index()] && s.expected_source != crate::plan::ExpectedSource::None {
            let after = (s.expected * SLOW_FACTOR).max(s.expected + SLOW_OVER);
            if let Some(at) = Duration::try_from_secs_f64(after)
                .ok()
                .and_then(|d| now.checked_add(d))
            {
                let i = self.slow_at.partition_point(|(t, _, _)| *t <= at);
                self.slow_at.insert(i, (at, key, now));
            }
        }
        self.set_state(id, State::Running);
        self.attempts.insert(
            key,
            Running {
                id,
                attempt,
                slots: slots.clone(),
                items,
                memory,
                skips,
                tests: Vec::new(),
                hung: None,
                since: now,
                claimed: None,
            },
        );
        self.out.push(Command::Start {
            key,
            suite: id,
            attempt,
            slots,
        });
    }

    fn on_ended(&mut self, mut e: Ended, now: Instant, host: &mut dyn Host) {
        let Some(a) = self.attempts.remove(&e.key) else {
            return;
        };
        // DESIGN §11: stopped because a service it needs failed: it fails with the service's
        // words, and the end of the service's log follows its own output.
        let lost = self.lost.remove(&e.key);
        if let Some(f) = &lost {
            e.verdict = Verdict::Fail {
                code: None,
                signal: None,
                message: Some(f.message.clone()),
            };
            if let Some((_, end)) = host.service_note(a.id, f, true) {
                e.output.1 = end.max(e.output.1);
            }
        }
        // Stopped because a test ran past `test_timeout`: the attempt timed out, for that test.
        let hung = a.hung.as_ref().map(|(test, limit)| {
            format!(
                "test {test} timed out after {} (test_timeout)",
                crate::duration::human(*limit)
            )
        });
        if hung.is_some() && lost.is_none() {
            e.verdict = Verdict::Timeout;
        }
        let plan = self.plan;
        let id = a.id;
        let s = plan.suite(id);
        self.slots.release(&a.slots);
        self.memory_in_use = self.memory_in_use.saturating_sub(a.memory);
        if a.memory > plan.memory_budget {
            self.memory_alone = false;
        }
        self.queue.finished(plan, id);
        if let Some(l) = s.limiter {
            host.limiter_release(l);
        }
        let p = &mut self.progress[id.index()];
        p.duration += e.duration;
        p.peak_rss_kb = p.peak_rss_kb.max(e.peak_rss_kb);
        p.cpu_time = match (p.cpu_time, e.cpu_time) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        p.first_start.get_or_insert(e.started);
        let end = e.started.checked_add(e.duration).unwrap_or(e.started);
        p.attempts_detail.push(AttemptDetail {
            attempt: a.attempt,
            worker: a.slots[0],
            start: e.started,
            end,
            duration: e.duration,
            status: match e.verdict {
                Verdict::Pass => Status::Passed,
                Verdict::Fail { .. } => Status::Failed,
                Verdict::Timeout => Status::TimedOut,
                Verdict::Cancel => Status::Cancelled,
            },
            exit_code: match &e.verdict {
                Verdict::Pass => Some(0),
                Verdict::Fail { code, .. } => *code,
                _ => None,
            },
            signal: match &e.verdict {
                Verdict::Fail { signal, .. } => *signal,
                _ => None,
            },
            message: match &e.verdict {
                Verdict::Pass => None,
                Verdict::Cancel => Some(cancel_message(self.stopping)),
                Verdict::Timeout if hung.is_some() => hung.clone(),
                v => Some(describe_failure(v, s.timeout)),
            },
            output: Some(e.output),
        });
        self.out.push(Command::AttemptEnded(id));
        self.count_first_unit(id, &e.verdict);
        let part = self.part(id).cloned();
        if let (Some(message), Some((test, _)), Some(part), None) =
            (&hung, &a.hung, part.as_deref(), &lost)
        {
            let cases = e.testcases.take().unwrap_or_default();
            if self.after_test_timeout(id, &a, part, test, cases, message, now) {
                return;
            }
        }
        let p = &mut self.progress[id.index()];
        let again = match (&part, e.testcases.take()) {
            (Some(part), Some(cases)) => {
                let again = crate::batch::parts::retry_items(part, a.items.as_deref(), &cases);
                crate::batch::parts::merge(&mut p.testcases, a.items.as_deref(), cases);
                again
            }
            _ => None,
        };

        // DESIGN §2 retry policies; the slot is already free while the backoff runs.
        // A test that timed out is not run again; attempts that ran a part's unfinished items
        // after one use none of the policy's attempts.
        let continued = self.progress[id.index()].continued;
        let retryable = matches!(e.verdict, Verdict::Fail { .. } | Verdict::Timeout)
            && lost.is_none()
            && hung.is_none()
            && a.attempt.saturating_sub(continued) < s.retry.attempts
            && self.may_start()
            && self.retry_wanted(id, a.attempt, &e, host);
        if retryable {
            let delay = self.backoff_delay(id, a.attempt + 1);
            let reason = describe_failure(&e.verdict, s.timeout);
            let p = &mut self.progress[id.index()];
            p.failed_attempts.push(reason.clone());
            p.retry_items = again;
            self.set_state(id, State::Backoff);
            self.queue.add_work(plan, id);
            let at = now.checked_add(delay).unwrap_or_else(|| far_future(now));
            self.backoff.push(Reverse((at, id)));
            self.out.push(Command::Retrying {
                suite: id,
                attempt: a.attempt,
                delay,
                reason,
            });
            return;
        }
        let p = &mut self.progress[id.index()];
        // DESIGN §3 rule 7: failed, then passed on a retry, is flaky.
        let (status, code, signal, message) = match e.verdict {
            // A test timed out in an earlier attempt (or this one): the suite timed out.
            Verdict::Pass | Verdict::Timeout if p.timed_out_test.is_some() => {
                (Status::TimedOut, None, None, p.timed_out_test.clone())
            }
            Verdict::Pass if p.failed_attempts.is_empty() => (Status::Passed, Some(0), None, None),
            Verdict::Pass => (Status::Flaky, Some(0), None, None),
            Verdict::Fail {
                code,
                signal,
                message,
            } => (
                Status::Failed,
                code,
                signal,
                message.or_else(|| code.map(|c| format!("exit code {c}"))),
            ),
            Verdict::Timeout => (
                Status::TimedOut,
                None,
                None,
                Some(format!(
                    "timed out after {}",
                    crate::duration::human(s.timeout)
                )),
            ),
            Verdict::Cancel => (
                Status::Cancelled,
                None,
                None,
                Some(cancel_message(self.stopping)),
            ),
        };
        let end_time = e.started.checked_add(e.duration);
        let result = SuiteResult {
            id,
            status,
            start_time: p.first_start,
            end_time,
            duration: p.duration,
            return_code: code,
            signal,
            attempts: p.attempts,
            error_message: message,
            skip_reason: None,
            log_file: Some(self.log_files[id.index()].clone()),
            worker: p.worker,
            peak_rss_kb: p.peak_rss_kb,
            cpu_time: p.cpu_time,
            last_output: Some(e.output),
            attempts_detail: p.attempts_detail.clone(),
            testcases: {
                let mut cases = std::mem::take(&mut p.testcases);
                // A test that a `skip_test` left out of its item's next attempt ran before (or
                // hung): a runner that reports what its name pattern left out as skipped
                // (jest, vitest) does not make it skipped.
                if !p.carried.is_empty() {
                    let full = |c: &TestCase| {
                        crate::record::test_name(&c.name, c.classname.as_deref(), c.file.as_deref())
                    };
                    let before: std::collections::HashSet<String> =
                        p.carried.iter().map(full).collect();
                    cases.retain(|c| {
                        c.outcome != crate::record::Outcome::Skipped || !before.contains(&full(c))
                    });
                }
                cases.append(&mut p.carried);
                cases
            },
            exports: if status.is_pass() {
                std::mem::take(&mut e.exports)
            } else {
                Vec::new()
            },
            part: self.parts[id.index()].clone(),
        };
        self.finish(result);
    }

    /// A part stopped because `test` ran past `test_timeout` (`message` says so): that test's
    /// testcase says it timed out, and the part's items that had not finished run again at
    /// once, whatever the retry policy, without it (and without what ran of its item, by the
    /// batch's `skip_test`) — so no test is dropped, and none hangs twice. Returns whether
    /// they run again (unless nothing is left, the run is stopping, or it fails fast).
    #[expect(
        clippy::too_many_arguments,
        reason = "one attempt's end, taken apart by the caller"
    )]
    fn after_test_timeout(
        &mut self,
        id: SuiteId,
        a: &Running,
        part: &crate::plan::decl::BatchPart,
        test: &str,
        mut cases: Vec<TestCase>,
        message: &str,
        now: Instant,
    ) -> bool {
        let full = |c: &TestCase| {
            crate::record::test_name(&c.name, c.classname.as_deref(), c.file.as_deref())
        };
        // The part's own testcase of it (a results file written as it was stopped), else one
        // as the part told it.
        let mut hung = match cases.iter().position(|c| full(c) == test || c.name == test) {
            Some(i) => cases.remove(i),
            None => crate::batch::case::told(
                &[(test.to_owned(), crate::record::Outcome::Failed)],
                &part.items,
            )
            .remove(0),
        };
        hung.outcome = crate::record::Outcome::Failed;
        hung.message = Some(message.to_owned());
        hung.kind = Some("timeout".into());
        let mut touched = vec![false; part.items.len()];
        for c in &cases {
            if let Some(i) = c.item.filter(|&i| i < touched.len()) {
                touched[i] = true;
            }
        }
        let ran: Vec<usize> = a
            .items
            .clone()
            .unwrap_or_else(|| (0..part.items.len()).collect());
        let (mut again, mut skips, mut not_again) = (Vec::new(), Vec::new(), None);
        let mut hung_skip = None;
        for i in ran {
            let item = &part.items[i].0;
            let below = test
                .strip_prefix(item.as_str())
                .and_then(|r| r.strip_prefix("::"));
            if hung.item == Some(i) {
                // An item that is the test (cargo's) has ended with it.
                let Some(below) = below else { continue };
                if part.skip_test.is_none() {
                    not_again = Some(item.clone());
                    continue;
                }
                again.push(i);
                skips.extend(a.skips.iter().filter(|(j, _)| *j == i).cloned());
                for c in cases.iter().filter(|c| c.item == Some(i)) {
                    if let Some(b) = full(c)
                        .strip_prefix(item.as_str())
                        .and_then(|r| r.strip_prefix("::"))
                    {
                        skips.push((i, b.to_owned()));
                    }
                }
                skips.push((i, below.to_owned()));
                hung_skip = Some((i, below.to_owned()));
            } else if !touched[i] {
                again.push(i);
                skips.extend(a.skips.iter().filter(|(j, _)| *j == i).cloned());
            }
        }
        let s = self.plan.suite(id);
        if let Some(item) = not_again {
            self.out.push(Command::Warning(format!(
                "suite \"{}\": the tests of {item} after {test} do not run again: the batch has \
                 no skip_test to leave that test out",
                s.name
            )));
        }
        let p = &mut self.progress[id.index()];
        // What ran of the items that run again stays apart: their next attempt's testcases
        // replace theirs.
        let (carried, rest): (Vec<TestCase>, Vec<TestCase>) = cases
            .into_iter()
            .partition(|c| c.item.is_some_and(|i| again.contains(&i)));
        crate::batch::parts::merge(&mut p.testcases, a.items.as_deref(), rest);
        p.carried.extend(carried);
        p.carried.push(hung);
        p.timed_out_test.get_or_insert_with(|| message.to_owned());
        p.hung_skips.extend(hung_skip);
        if again.is_empty() || !self.may_start() || self.plan.fail_fast {
            return false;
        }
        let n = again.len();
        let p = &mut self.progress[id.index()];
        p.retry_items = Some(again);
        p.retry_skips = skips;
        p.continued += 1;
        self.set_state(id, State::Backoff);
        self.queue.add_work(self.plan, id);
        self.backoff.push(Reverse((now, id)));
        self.out.push(Command::Retrying {
            suite: id,
            attempt: a.attempt,
            delay: Duration::ZERO,
            reason: format!(
                "{message}; {n} item{} that had not finished run{} again",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" }
            ),
        });
        true
    }

    /// Whether the suite's retry policy wants another attempt after this failure.
    fn retry_wanted(&mut self, id: SuiteId, attempt: u32, e: &Ended, host: &mut dyn Host) -> bool {
        let s = self.plan.suite(id);
        let policy = &s.retry;
        if let Some(pred) = policy.when {
            let output = host.output(id, e.output);
            let (status, code, signal) = match &e.verdict {
                Verdict::Fail { code, signal, .. } => ("failed", *code, *signal),
                _ => ("timed_out", None, None),
            };
            let view = AttemptView {
                name: &s.name,
                status,
                exit_code: code,
                signal,
                attempt,
                duration: e.duration,
                log_file: Some(self.log_files[id.index()].as_path()),
                output: &output,
            };
            return match host.judge(pred, &view) {
                Ok(b) => b,
                Err(err) => {
                    self.out.push(Command::Warning(format!(
                        "retry predicate of suite \"{}\" raised an error: {err}",
                        s.name
                    )));
                    false
                }
            };
        }
        match &e.verdict {
            Verdict::Timeout => policy.on_timeout,
            Verdict::Fail { code, .. } => {
                if policy.on_exit_codes.is_empty() && policy.on_output.is_empty() {
                    return true;
                }
                if code.is_some_and(|c| policy.on_exit_codes.contains(&c)) {
                    return true;
                }
                if policy.on_output.is_empty() {
                    return false;
                }
                let output = host.output(id, e.output);
                policy
                    .on_output
                    .iter()
                    .any(|needle| contains(&output, needle.as_bytes()))
            }
            _ => false,
        }
    }

    /// `min(delay * factor^(n-2), max_delay)` before attempt `next`, with full jitter.
    fn backoff_delay(&mut self, id: SuiteId, next: u32) -> Duration {
        let policy = &self.plan.suite(id).retry;
        let d = policy.backoff(next);
        if policy.jitter {
            d.mul_f64(self.rng.f64())
        } else {
            d
        }
    }

    fn wake_backoffs(&mut self, now: Instant) {
        while let Some(Reverse((t, id))) = self.backoff.peek().copied() {
            if t > now {
                break;
            }
            self.backoff.pop();
            if self.state[id.index()] == State::Backoff {
                self.set_state(id, State::Pending);
                // DESIGN §10: the next attempt goes to another machine first; the store gives
                // it back to this one only when no other is alive and taking units.
                if self.shared && self.lease[id.index()] == Lease::Mine {
                    self.lease[id.index()] = Lease::Unasked;
                    let p = &self.progress[id.index()];
                    self.out.push(Command::HandBack(
                        id,
                        Carried {
                            attempts: p.attempts,
                            failed: p.failed_attempts.clone(),
                            details: p.attempts_detail.clone(),
                            part: PartLeft {
                                items: p.retry_items.clone(),
                                skips: p.retry_skips.clone(),
                                hung_skips: p.hung_skips.clone(),
                                continued: p.continued,
                                testcases: p.testcases.clone(),
                                kept: p.carried.clone(),
                                timed_out_test: p.timed_out_test.clone(),
                            },
                        },
                    ));
                }
                self.queue.push(self.plan, id);
            }
        }
    }

    /// Every change of a suite's state goes through here, to keep `may_start_later` right.
    fn set_state(&mut self, id: SuiteId, new: State) {
        let waits = |s: State| matches!(s, State::Pending | State::Backoff | State::Claiming);
        let old = std::mem::replace(&mut self.state[id.index()], new);
        match (waits(old), waits(new)) {
            (true, false) => self.may_start_later -= 1,
            (false, true) => self.may_start_later += 1,
            _ => {}
        }
    }

    /// Record a final result, then unblock or skip what depends on it (DESIGN §3 rule 3), and
    /// begin fail-fast at the first final failure (rule 5).
    fn finish(&mut self, result: SuiteResult) {
        let id = result.id;
        // A unit another machine ended counts as it ended there; this machine's record keeps
        // it as skipped, "ran on NODE".
        let (status, here) = match &result.skip_reason {
            Some(SkipReason::Elsewhere { status, .. }) => (*status, false),
            _ => (result.status, true),
        };
        if matches!(self.state[id.index()], State::Claiming) {
            if let Lease::Asking(slots) =
                std::mem::replace(&mut self.lease[id.index()], Lease::Away)
            {
                self.slots.release(&slots);
                self.queue.finished(self.plan, id);
            }
        }
        self.set_state(id, State::Done);
        let s = self.plan.suite(id);
        self.phase_open[s.phase.index()] -= 1;
        self.results[id.index()] = Some(result);
        if here {
            self.out.push(Command::Finished(id));
        }
        // DESIGN §11: a service no suite left needs is stopped.
        for &n in &s.needs {
            let left = &mut self.needers_left[n.index()];
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.stop_service(n);
            }
        }
        // A group's place may have come free on some machine.
        for b in std::mem::take(&mut self.busy) {
            self.requeue(b);
        }
        if status.is_pass() {
            for &d in &s.dependents {
                self.waiting_deps[d.index()] -= 1;
                if self.waiting_deps[d.index()] == 0
                    && self.state[d.index()] == State::Pending
                    && self.plan.suite(d).phase.index() == self.phase
                {
                    self.queue.push(self.plan, d);
                }
            }
        } else {
            // A suite skipped for its own dependency passes that reason on unchanged, so every
            // level of dependents names the suite that failed.
            let reason = match self.results[id.index()]
                .as_ref()
                .and_then(|r| r.skip_reason.as_ref())
            {
                Some(inherited @ SkipReason::Dependency { .. }) => inherited.clone(),
                _ => SkipReason::Dependency {
                    name: s.name.clone(),
                    ended: match status {
                        Status::Failed | Status::TimedOut => DependencyEnd::Failed,
                        Status::Cancelled => DependencyEnd::Cancelled,
                        _ => DependencyEnd::Skipped,
                    },
                },
            };
            for &d in &s.dependents {
                if self.state[d.index()] != State::Done {
                    self.skip(d, reason.clone());
                }
            }
        }
        if status.is_failure() {
            self.phase_failed[s.phase.index()] = true;
            if self.plan.fail_fast && self.stopping.is_none() {
                self.begin_stop(CancelReason::FailFast);
            }
        }
    }

    /// Skip a suite that has not ended (and, through `finish`, its dependents).
    fn skip(&mut self, id: SuiteId, reason: SkipReason) {
        if self.state[id.index()] == State::Done {
            return;
        }
        if self.state[id.index()] == State::Pending && self.lease[id.index()] != Lease::Away {
            self.queue.forget_work(self.plan, id);
        }
        if self.lease[id.index()] == Lease::Busy {
            self.busy.retain(|b| *b != id);
        }
        let mut r = SuiteResult::skipped(id, reason);
        let p = &self.progress[id.index()];
        if p.attempts > 0 {
            // Skipped while waiting for a retry: it did run.
            r.attempts = p.attempts;
            r.duration = p.duration;
            r.start_time = p.first_start;
            r.end_time = p.attempts_detail.last().map(|d| d.end);
            r.worker = p.worker;
            r.log_file = Some(self.log_files[id.index()].clone());
            r.attempts_detail.clone_from(&p.attempts_detail);
        }
        self.finish(r);
    }

    /// Fail-fast or a signal: cancel running attempts (outside `always` phases unless hard),
    /// skip everything that has not started.
    fn begin_stop(&mut self, reason: CancelReason) {
        self.stopping = Some(reason);
        self.out.push(Command::Stopping(reason));
        let in_always = self.plan.phases[self.phase].always;
        if !in_always || self.hard_stop {
            let keys: Vec<AttemptKey> = self.attempts.keys().copied().collect();
            self.out.extend(keys.into_iter().map(Command::Cancel));
        }
        for i in 0..self.plan.suites.len() {
            let s = &self.plan.suites[i];
            let protected = self.plan.phase(s.phase).always && !self.hard_stop;
            if !protected
                && matches!(
                    self.state[i],
                    State::Pending | State::Backoff | State::Claiming
                )
            {
                self.skip(s.id, SkipReason::Stopped(reason));
            }
        }
    }

    /// Stop every instance of a service that is starting or ready.
    fn stop_service(&mut self, n: ServiceId) {
        let from = ServiceInstance {
            service: n,
            worker: None,
        };
        for (inst, state) in self.instances.range_mut(from..) {
            if inst.service != n {
                break;
            }
            if *state != Instance::Gone {
                *state = Instance::Gone;
                self.out.push(Command::StopService(*inst));
            }
        }
    }

    /// DESIGN §11: an instance was not ready in time or ended while needed. Suites running on
    /// it are stopped and fail with its words; suites that need the service and have not
    /// started fail now (it is not started again). Running suites on its other instances go on.
    fn on_service_failed(
        &mut self,
        inst: ServiceInstance,
        failure: ServiceFailure,
        host: &mut dyn Host,
    ) {
        let n = inst.service;
        if let Some(state) = self.instances.get_mut(&inst) {
            if *state != Instance::Gone {
                *state = Instance::Gone;
                self.out.push(Command::StopService(inst));
            }
        }
        if self.needers_left[n.index()] == 0 {
            return;
        }
        if self.service_failed[n.index()].is_none() {
            self.service_failed[n.index()] = Some(failure.clone());
        }
        let on_it = |a: &Running| match inst.worker {
            None => true,
            Some(w) => a.slots[0] == w,
        };
        let lost: Vec<AttemptKey> = self
            .attempts
            .iter()
            .filter(|(k, a)| {
                !self.lost.contains_key(k) && self.plan.suite(a.id).needs.contains(&n) && on_it(a)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in lost {
            self.lost.insert(key, failure.clone());
            self.out.push(Command::Cancel(key));
        }
        let waiting: Vec<SuiteId> = self.plan.services[n.index()]
            .needed_by
            .iter()
            .copied()
            .filter(|id| matches!(self.state[id.index()], State::Pending | State::Backoff))
            .collect();
        for id in waiting {
            self.fail_for_service(id, &failure, host);
        }
    }

    /// A suite that has not started (or waits between attempts) fails because a service it
    /// needs failed; its log gets the service's words and the end of the service's log.
    fn fail_for_service(&mut self, id: SuiteId, failure: &ServiceFailure, host: &mut dyn Host) {
        match self.state[id.index()] {
            State::Pending if self.lease[id.index()] != Lease::Away => {
                self.queue.forget_work(self.plan, id);
            }
            State::Pending | State::Backoff | State::Claiming => {}
            State::Running | State::Done => return,
        }
        let p = &self.progress[id.index()];
        let note = host.service_note(id, failure, p.attempts > 0);
        let mut r = SuiteResult::skipped(id, SkipReason::NotReached);
        r.status = Status::Failed;
        r.skip_reason = None;
        r.error_message = Some(failure.message.clone());
        r.log_file = Some(self.log_files[id.index()].clone());
        r.last_output = note;
        r.attempts = p.attempts;
        r.duration = p.duration;
        r.start_time = p.first_start;
        r.end_time = p.attempts_detail.last().map(|d| d.end);
        r.worker = p.worker;
        r.attempts_detail.clone_from(&p.attempts_detail);
        self.finish(r);
    }

    /// DESIGN §10: what a claim of `asked` may get instead: the best ready units this machine
    /// has not asked for, that hold no slots and need no more than the smallest claim holds.
    fn others(&self, asked: &[SuiteId]) -> Vec<SuiteId> {
        if self.first.stopped {
            return Vec::new();
        }
        let total = self.slots.total();
        let most = asked
            .iter()
            .map(|id| slots_needed(self.plan, *id, total))
            .min()
            .unwrap_or(1);
        self.queue.best(self.plan, CLAIM_OTHERS, |x| {
            self.state[x.index()] == State::Pending
                && self.lease[x.index()] == Lease::Unasked
                && slots_needed(self.plan, x, total) <= most
        })
    }

    /// The store gave this machine `id` in place of a unit it asked for: it is this machine's
    /// to run when it waits in the queue; its own claim, when one is out, is answered as
    /// this machine's; anything else (it ended or was skipped meanwhile, the machine stopped
    /// taking units) gives it back.
    fn took(&mut self, id: SuiteId) {
        let i = id.index();
        if !self.shared {
            return;
        }
        match (self.state[i], &self.lease[i]) {
            (State::Claiming, _) => {}
            (State::Pending, Lease::Unasked) if !self.first.stopped => {
                self.lease[i] = Lease::Mine;
                self.took.push(id);
            }
            _ => self.out.push(Command::Release(id)),
        }
    }

    /// The store answered a claim: run the unit here, or leave it to the machine that has it,
    /// or ask again once a unit ends (its group is full across the machines).
    fn on_claimed(&mut self, id: SuiteId, answer: Claim) {
        let i = id.index();
        let requeued = std::mem::take(&mut self.requeued_while_asking[i]);
        if self.state[i] != State::Claiming {
            // Ended meanwhile (skipped, or another machine's result came first).
            if answer == Claim::Mine {
                self.out.push(Command::Release(id));
            }
            return;
        }
        if let Lease::Asking(slots) = std::mem::replace(&mut self.lease[i], Lease::Unasked) {
            self.slots.release(&slots);
        }
        self.queue.finished(self.plan, id);
        self.set_state(id, State::Pending);
        match answer {
            Claim::Mine if self.first.stopped => {
                self.out.push(Command::Release(id));
                self.lease[i] = Lease::Away;
            }
            Claim::Mine => {
                self.lease[i] = Lease::Mine;
                self.queue.add_work(self.plan, id);
                self.queue.push(self.plan, id);
            }
            // Held elsewhere when the store answered, but put back since: ask again (the
            // store says `Elsewhere` once more if another machine took it meanwhile).
            Claim::Elsewhere if requeued => {
                self.queue.add_work(self.plan, id);
                self.requeue(id);
            }
            Claim::Done | Claim::Elsewhere => self.lease[i] = Lease::Away,
            Claim::Busy => {
                self.lease[i] = Lease::Busy;
                self.queue.add_work(self.plan, id);
                self.busy.push(id);
            }
        }
    }

    /// A unit this machine is claiming failed elsewhere before: its next attempt goes on from
    /// the attempts made there (numbered after them, failed attempts counted for `flaky`). A
    /// batch's part goes on as it would have there: only the items that did not pass run, and
    /// the testcases found so far are kept.
    fn resume(&mut self, id: SuiteId, carried: Carried) {
        let p = &mut self.progress[id.index()];
        if self.state[id.index()] != State::Claiming || carried.attempts <= p.attempts {
            return;
        }
        p.attempts = carried.attempts;
        p.failed_attempts = carried.failed;
        p.first_start = carried.details.first().map(|d| d.start);
        p.duration = carried.details.iter().map(|d| d.duration).sum();
        p.attempts_detail = carried.details;
        let part = carried.part;
        p.retry_items = part.items;
        p.retry_skips = part.skips;
        p.hung_skips = part.hung_skips;
        p.continued = part.continued;
        p.testcases = part.testcases;
        p.carried = part.kept;
        p.timed_out_test = part.timed_out_test;
    }

    /// DESIGN §10: a queue run counts how its first units' first attempts here went; when the
    /// first [`FIRST_UNITS_FAILING`] all failed, the machine is suspect: it stops taking units
    /// and gives back those it holds and has not started (what runs finishes).
    fn count_first_unit(&mut self, id: SuiteId, verdict: &Verdict) {
        let f = &mut self.first;
        if !self.shared
            || f.seen.len() >= FIRST_UNITS_FAILING
            || f.seen.contains(&id)
            || *verdict == Verdict::Cancel
        {
            return;
        }
        f.seen.push(id);
        if matches!(verdict, Verdict::Fail { .. } | Verdict::Timeout) {
            f.failed += 1;
        }
        if f.failed < FIRST_UNITS_FAILING {
            return;
        }
        f.stopped = true;
        self.out.push(Command::StopTaking);
        for i in 0..self.plan.suites.len() {
            if self.state[i] == State::Pending && self.lease[i] == Lease::Mine {
                let id = SuiteId(i as u32);
                self.lease[i] = Lease::Away;
                self.queue.forget_work(self.plan, id);
                self.out.push(Command::Release(id));
            }
        }
    }

    /// The store is gone: nothing is claimed any more; every unit not seen to end is this
    /// machine's to run.
    fn queue_lost(&mut self) {
        if !self.shared {
            return;
        }
        self.shared = false;
        self.first.stopped = false;
        self.busy.clear();
        for i in 0..self.plan.suites.len() {
            let id = SuiteId(i as u32);
            match (self.state[i], self.lease[i].clone()) {
                (State::Claiming, Lease::Asking(slots)) => {
                    self.slots.release(&slots);
                    self.queue.finished(self.plan, id);
                    self.set_state(id, State::Pending);
                    self.queue.add_work(self.plan, id);
                    self.requeue(id);
                }
                (State::Pending, Lease::Away) => {
                    self.queue.add_work(self.plan, id);
                    self.requeue(id);
                }
                (State::Pending, Lease::Busy) => self.requeue(id),
                _ => {}
            }
        }
    }

    /// A unit this machine does not hold is queued again (a lost lease, a group's place free).
    fn requeue(&mut self, id: SuiteId) {
        let i = id.index();
        if self.state[i] != State::Pending {
            return;
        }
        self.lease[i] = Lease::Unasked;
        if self.waiting_deps[i] == 0 && self.plan.suite(id).phase.index() == self.phase {
            self.queue.push(self.plan, id);
        }
    }

    /// Another machine ended a unit (or the store says it has a result): it ends here too,
    /// and its dependents and phase go on from it.
    fn ended_elsewhere(
        &mut self,
        id: SuiteId,
        status: Status,
        node: String,
        exports: Vec<(String, std::ffi::OsString)>,
    ) {
        let i = id.index();
        match self.state[i] {
            State::Done | State::Running | State::Backoff => return,
            State::Pending | State::Claiming => {}
        }
        if self.state[i] == State::Pending && self.lease[i] != Lease::Away {
            self.queue.forget_work(self.plan, id);
        }
        self.busy.retain(|b| *b != id);
        let mut r = SuiteResult::skipped(id, SkipReason::Elsewhere { node, status });
        r.exports = exports;
        self.finish(r);
    }

    /// DESIGN §3 rule 8: the first signal stops as fail-fast does; a second kills everything,
    /// `always` phases too.
    fn on_signal(&mut self) {
        self.interrupted = true;
        if self.stopping == Some(CancelReason::Interrupted) || self.hard_stop {
            self.hard_stop = true;
            self.out.push(Command::KillAll);
        }
        self.begin_stop(CancelReason::Interrupted);
    }
}

/// DESIGN §11: whether the services a suite needs let it start now. One of scope "run" must be
/// ready; those of scope "worker" must be ready on one free worker slot, which the suite then
/// takes as its first. A refusal starts what is missing: the run's instance, or the instances
/// on the lowest free slot that has none yet (so that several start side by side, one per
/// slot, while suites wait); it never holds anything.
fn services_admit(
    plan: &Plan,
    id: SuiteId,
    slots: &Slots,
    instances: &mut BTreeMap<ServiceInstance, Instance>,
    failed: &[Option<ServiceFailure>],
    out: &mut Vec<Command>,
) -> ServiceAdmit {
    let s = plan.suite(id);
    if s.needs.is_empty() {
        return ServiceAdmit::Yes(None);
    }
    if let Some(&n) = s.needs.iter().find(|n| failed[n.index()].is_some()) {
        return ServiceAdmit::Failed(n);
    }
    let mut ready = true;
    let mut per_worker: Vec<ServiceId> = Vec::new();
    for &n in &s.needs {
        if plan.service(n).scope == Scope::Worker {
            per_worker.push(n);
            continue;
        }
        let inst = ServiceInstance {
            service: n,
            worker: None,
        };
        match instances.get(&inst) {
            Some(Instance::Ready) => {}
            Some(_) => ready = false,
            None => {
                instances.insert(inst, Instance::Starting);
                out.push(Command::StartService(inst));
                ready = false;
            }
        }
    }
    if per_worker.is_empty() {
        return if ready {
            ServiceAdmit::Yes(None)
        } else {
            ServiceAdmit::No
        };
    }
    let at = |w: u32, n: ServiceId| ServiceInstance {
        service: n,
        worker: Some(w),
    };
    let free: Vec<u32> = slots.free_slots().collect();
    if let Some(&w) = free.iter().find(|&&w| {
        per_worker
            .iter()
            .all(|&n| instances.get(&at(w, n)) == Some(&Instance::Ready))
    }) {
        return if ready {
            ServiceAdmit::Yes(Some(w))
        } else {
            ServiceAdmit::No
        };
    }
    if let Some(&w) = free.iter().find(|&&w| {
        per_worker
            .iter()
            .any(|&n| !instances.contains_key(&at(w, n)))
    }) {
        for &n in &per_worker {
            if let std::collections::btree_map::Entry::Vacant(slot) = instances.entry(at(w, n)) {
                slot.insert(Instance::Starting);
                out.push(Command::StartService(at(w, n)));
            }
        }
    }
    ServiceAdmit::No
}

/// DESIGN §12: a suite that declares memory starts only while the running suites' memory and
/// its own stay within the budget; one larger than the whole budget only when nothing else
/// runs, and nothing starts beside it. `running`: (bytes in use, an oversized suite runs,
/// attempts running).
fn memory_fits(plan: &Plan, id: SuiteId, running: (u64, bool, usize)) -> bool {
    let (in_use, alone, attempts) = running;
    if alone {
        return false;
    }
    match plan.suite(id).memory {
        None | Some(0) => true,
        Some(m) if m > plan.memory_budget => attempts == 0,
        Some(m) => in_use.saturating_add(m) <= plan.memory_budget,
    }
}

/// Slots a suite takes in a phase of `total`: all of them when serial, else its `slots`, capped.
pub(crate) fn slots_needed(plan: &Plan, id: SuiteId, total: u32) -> u32 {
    let s = plan.suite(id);
    if s.serial { total } else { s.slots.min(total) }
}

/// Far enough ahead to mean "not in this run" without overflowing `Instant`.
fn far_future(now: Instant) -> Instant {
    let mut d = Duration::from_secs(100 * 365 * 86_400);
    loop {
        if let Some(t) = now.checked_add(d) {
            return t;
        }
        d /= 2;
    }
}

/// A cancelled attempt's message: why the run stopped.
fn cancel_message(stopping: Option<CancelReason>) -> String {
    stopping.map_or("cancelled", CancelReason::label).to_owned()
}

/// How a failed attempt is named in `failed_attempts` and retry events.
fn describe_failure(v: &Verdict, timeout: Duration) -> String {
    match v {
        Verdict::Fail {
            message: Some(m), ..
        } => m.clone(),
        Verdict::Fail { code: Some(c), .. } => format!("exit code {c}"),
        Verdict::Fail {
            signal: Some(s), ..
        } => format!("signal {s}"),
        Verdict::Timeout => format!("timed out after {}", crate::duration::human(timeout)),
        _ => "failed".into(),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// The log file a result names, for tests and drivers that keep no logs.
pub(crate) fn no_logs(plan: &Plan) -> Vec<PathBuf> {
    vec![Path::new("").to_path_buf(); plan.suites.len()]
}

#[cfg(test)]
mod shared_tests;
#[cfg(test)]
mod tests;
