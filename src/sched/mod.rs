//! The scheduler's driver: one loop that feeds the run's core (`core.rs`, where every rule of
//! DESIGN §3 lives) what happens — attempts ending, timers, signals — with the time, and carries
//! out the commands it returns: attempts handed to the executor with their environment, log and
//! temporary folder, events for the report sinks. Decides nothing about the schedule itself.

pub(crate) mod core;
pub(crate) mod files;
pub(crate) mod limits;
pub(crate) mod queue;
pub(crate) mod record;
pub(crate) mod simulate;
pub(crate) mod socket;
mod tmp;
mod warm;

use std::collections::{HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::command::{self, CommandLine};
use crate::event::{AttemptView, Event, RetryJudge, RunInfo, Sink, SuiteResult, Summary};
use crate::exec::watchdog::Watchdog;
use crate::exec::{AttemptEnd, AttemptOutcome, AttemptSpec, Executor, LineSink, LogStart};
use crate::os::process::StopCount;
use crate::plan::{LimiterId, Plan, Scope, SuiteId};
use crate::services::{Happened, Note, ServiceFailure, ServiceInstance, Services};
use crate::tail::read_tail;
use core::{Command, Core, Ended, Host, Input, RequestId, Timer, Verdict};
use limits::{Limiters, Refusal};
use socket::{Asked, Coordinator, Request};
use tmp::TmpDirs;

/// What the run needs besides the plan.
pub(crate) struct Options {
    pub run_id: String,
    pub keep_tmp: bool,
    /// `-v`: every output line also goes here, prefixed by the suite's name.
    pub echo: Option<Arc<dyn LineSink>>,
    /// Started before the config was evaluated; the executor tells it every group.
    pub watchdog: Option<Watchdog>,
    /// Counts stop signals for whatever cannot wait for the scheduler's thread (Lua
    /// callbacks); armed when the run starts handling them.
    pub stops: StopCount,
    /// DESIGN §10: the queue run, for the header (its link comes with [`Scheduler::with_queue`]).
    pub queue: Option<crate::event::QueueRun>,
}

/// What the driver keeps of a running attempt (the core keeps the rest).
struct Attempt {
    id: SuiteId,
    attempt: u32,
    tmpdir: PathBuf,
    /// A batch's part: the results file it writes, and when it started (an older file is
    /// not its).
    results: Option<PathBuf>,
    started: std::time::SystemTime,
    /// Its `PTEST_ENV`: what it appends there goes to the suites that depend on it.
    env_file: PathBuf,
}

pub(crate) struct Scheduler<'a> {
    plan: &'a Plan,
    run: RunInfo,
    opts: Options,
    sinks: Vec<&'a mut dyn Sink>,
    judge: &'a mut dyn RetryJudge,
    core: Core<'a>,
    /// Taken at the end by `shutdown`.
    exec: Option<Executor>,
    outcomes: tokio::sync::mpsc::UnboundedReceiver<AttemptOutcome>,
    /// Batch parts' results files, read off this thread (`on_results`).
    results: crate::batch::parts::Reader<(
        Ended,
        SuiteId,
        PathBuf,
        Vec<crate::batch::results::TestCase>,
    )>,
    attempts: HashMap<u64, Attempt>,
    started: Instant,
    limiters: Limiters,
    coordinator: Option<Coordinator>,
    /// Batch parts' tests as they end, from the coordinator socket; their suites by name.
    tests: tokio::sync::mpsc::Receiver<socket::TestLine>,
    by_name: HashMap<&'a str, SuiteId>,
    /// What each running part's current attempt told of its tests so far.
    told: HashMap<SuiteId, Vec<(String, crate::record::Outcome)>>,
    /// Test processes' requests on the socket, for the core.
    requests: tokio::sync::mpsc::UnboundedReceiver<Request>,
    /// Where each request the core has not answered yet wants its answer.
    answers: HashMap<RequestId, tokio::sync::oneshot::Sender<core::Answer>>,
    /// A folder holding only a `ptest` link to this binary, put first on suites' PATH.
    bin_dir: Option<PathBuf>,
    /// Removes passed attempts' temporary folders off the scheduler's thread.
    janitor: files::Janitor,
    /// Attempts' temporary folders, reused when a passed attempt left them empty.
    tmp: TmpDirs,
    /// The folders made ahead that no attempt took have been handed to the janitor.
    untaken_removed: bool,
    /// What is known of earlier logs ahead of their suites' first attempts.
    logs: Option<files::LogPrep>,
    /// DESIGN §10, a queue run: the link to the store, and the skips this machine wrote first
    /// (its record keeps those and what it ran).
    link: Option<crate::queue::Link>,
    skips_written: Vec<bool>,
    /// The run's record, each suite's entry made as it ends.
    recorder: Option<record::Recorder>,
    /// The run's service instances (DESIGN §11).
    services: Services<'a>,
    /// Inputs that carrying out a command produced (a service ready at once), fed after it.
    inbox: VecDeque<Input>,
    /// Some suite exported variables: dependents look for them.
    any_exports: bool,
    /// Warm batches' zygotes (`warm.rs`).
    warm: warm::Zygotes,
}

/// The core's questions, answered by the run's limiters, logs and Lua predicates.
struct RunHost<'x> {
    limiters: &'x mut Limiters,
    judge: &'x mut dyn RetryJudge,
    log_files: &'x [PathBuf],
}

impl Host for RunHost<'_> {
    fn limiter_admit(&mut self, limiter: LimiterId, now: Instant) -> Result<(), Refusal> {
        self.limiters.admit_suite(limiter, now)
    }

    fn limiter_waited(&mut self, limiter: LimiterId, waited: Duration) {
        self.limiters.add_wait(limiter, waited);
    }

    fn limiter_release(&mut self, limiter: LimiterId) {
        self.limiters.release_suite(limiter);
    }

    fn limiter_acquire(
        &mut self,
        limiter: LimiterId,
        permits: u32,
        now: Instant,
    ) -> Result<(), Refusal> {
        self.limiters.acquire(limiter, permits, now)
    }

    fn limiter_throttled(
        &mut self,
        limiter: LimiterId,
        retry_after: Option<Duration>,
        now: Instant,
    ) {
        self.limiters.throttled(limiter, retry_after, now);
    }

    fn output(&mut self, suite: SuiteId, range: (u64, u64)) -> Vec<u8> {
        read_tail(&self.log_files[suite.index()], range.0, range.1)
    }

    fn judge(&mut self, predicate: usize, view: &AttemptView<'_>) -> Result<bool, String> {
        self.judge.should_retry(predicate, view)
    }

    fn service_note(
        &mut self,
        suite: SuiteId,
        failure: &ServiceFailure,
        append: bool,
    ) -> Option<(u64, u64)> {
        let title = format!(
            "=== ptest: {}; the end of its log, {}: ===",
            failure.message,
            crate::report::display_path(&failure.log).display()
        );
        let tail = crate::services::tail_text(failure);
        crate::exec::append_note(&self.log_files[suite.index()], &title, &tail, !append).ok()
    }
}

/// DESIGN §10: a queue run's limiters, answered by the store.
impl limits::Shared for crate::queue::limits::SharedLimits {
    fn admit(&mut self, limiter: &str, declared: limits::Declared) -> limits::Answered {
        crate::queue::limits::SharedLimits::admit(self, limiter, declared)
            .map(|(a, across)| (refusal(a), across))
            .map_err(|e| e.to_string())
    }

    fn take(
        &mut self,
        limiter: &str,
        permits: u32,
        declared: limits::Declared,
    ) -> limits::Answered {
        crate::queue::limits::SharedLimits::take(self, limiter, permits, declared)
            .map(|(a, across)| (refusal(a), across))
            .map_err(|e| e.to_string())
    }

    fn release(&mut self, limiter: &str, declared: limits::Declared) -> Result<(), String> {
        crate::queue::limits::SharedLimits::release(self, limiter, declared)
            .map_err(|e| e.to_string())
    }

    fn throttled(
        &mut self,
        limiter: &str,
        declared: limits::Declared,
        pause: Option<Duration>,
    ) -> Result<limits::Across, String> {
        crate::queue::limits::SharedLimits::throttled(self, limiter, declared, pause)
            .map_err(|e| e.to_string())
    }
}

fn refusal(a: crate::queue::limits::Answer) -> Result<(), Refusal> {
    match a {
        crate::queue::limits::Answer::Granted => Ok(()),
        crate::queue::limits::Answer::Wait(d) => Err(Refusal::Wait(d)),
        crate::queue::limits::Answer::Full => Err(Refusal::Full),
    }
}

/// A batch part's end, held back while its results file is read off the scheduler's thread.
type ResultsRead = (
    (
        Ended,
        SuiteId,
        PathBuf,
        Vec<crate::batch::results::TestCase>,
    ),
    Result<crate::batch::results::Parsed, String>,
);

/// What woke the loop.
enum Woke {
    News(crate::queue::News),
    Results(ResultsRead),
    Outcome(AttemptOutcome),
    Timer(Timer),
    Signal,
    Service(Note),
    Test(socket::TestLine),
    Request(Request),
    Tick,
}

fn emit(sinks: &mut [&mut dyn Sink], plan: &Plan, run: &RunInfo, event: &Event<'_>) {
    for sink in sinks {
        sink.event(plan, run, event);
    }
}

impl<'a> Scheduler<'a> {
    pub(crate) fn new(
        plan: &'a Plan,
        opts: Options,
        sinks: Vec<&'a mut dyn Sink>,
        judge: &'a mut dyn RetryJudge,
        setup: files::Setup,
    ) -> std::io::Result<Scheduler<'a>> {
        let mut opts = opts;
        let (exec, outcomes) = Executor::new(opts.watchdog.take())?;
        exec.watch_folder(&files::run_tmp_root(&opts.run_id));
        let limiters = Limiters::new(plan, Instant::now());
        let (janitor, folder) = setup.finish()?;
        let run_root = folder.root.clone();
        let (to_core, requests) = tokio::sync::mpsc::unbounded_channel();
        // Without a socket the run still goes on: only `ptest acquire` needs it.
        let (tests_tx, tests) = tokio::sync::mpsc::channel(socket::TEST_LINES);
        let coordinator = match folder.socket {
            Some((path, listener)) => {
                Coordinator::serve(path, listener, limiters.names(), to_core, tests_tx).ok()
            }
            None => None,
        };
        // The zygotes of warm batches sit in the run's private socket folder, beside the
        // coordinator's socket.
        let warm = warm::Zygotes::new(
            plan,
            coordinator
                .as_ref()
                .and_then(|c| c.path.parent().map(std::path::Path::to_path_buf)),
        );
        let names = files::log_names(plan.suites.iter().map(|s| s.name.as_str()));
        let log_files: Vec<PathBuf> = names.iter().map(|n| plan.log_dir.join(n)).collect();
        let services = Services::new(
            plan,
            crate::services::RunCtx {
                run_id: opts.run_id.clone(),
                run_root,
                echo: opts.echo.clone(),
                safe_name: files::safe_name,
                keep_tmp: opts.keep_tmp,
            },
            &log_files,
        );
        let mut exec = exec;
        let bin_dir = folder.bin;
        exec.set_run_env(&run_env(
            &opts.run_id,
            coordinator.as_ref(),
            bin_dir.as_deref(),
        ));
        Ok(Scheduler {
            plan,
            core: Core::new(plan, log_files.clone(), fastrand::u64(..)),
            run: RunInfo {
                run_id: opts.run_id.clone(),
                started: SystemTime::now(),
                log_files,
                discard: janitor.discard(),
                queue: opts.queue.clone(),
            },
            opts,
            sinks,
            judge,
            exec: Some(exec),
            outcomes,
            results: crate::batch::parts::Reader::new(),
            attempts: HashMap::new(),
            started: Instant::now(),
            limiters,
            coordinator,
            tests,
            by_name: plan
                .suites
                .iter()
                .map(|s| (s.name.as_str(), s.id))
                .collect(),
            told: HashMap::new(),
            requests,
            answers: HashMap::new(),
            bin_dir,
            janitor,
            tmp: TmpDirs::with_ahead(folder.root, folder.ahead),
            untaken_removed: false,
            logs: None,
            recorder: Some(record::Recorder::new(plan)),
            services,
            inbox: VecDeque::new(),
            any_exports: false,
            link: None,
            skips_written: vec![false; plan.suites.len()],
            warm,
        })
    }

    /// A running part said one of its tests ended: the sinks hear of it at once (the live view
    /// counts it, a failure is printed). A line naming no suite of the plan is dropped. A test
    /// that has run for a while (`started`), and its end, go to the core (per-test `SLOW` and
    /// `test_timeout`).
    fn test_ended(&mut self, t: &socket::TestLine) {
        let Some(&id) = self.by_name.get(t.suite.as_str()) else {
            return;
        };
        let part = self.plan.suite(id).part.is_some();
        let Some(outcome) = t.outcome else {
            if part {
                self.feed(Input::TestStarted {
                    suite: id,
                    name: t.name.clone(),
                });
            }
            return;
        };
        if part && self.core.test_running(id, &t.name) {
            self.feed(Input::TestEnded {
                suite: id,
                name: t.name.clone(),
            });
        }
        if part {
            self.told
                .entry(id)
                .or_default()
                .push((t.name.clone(), outcome));
        }
        emit(
            &mut self.sinks,
            self.plan,
            &self.run,
            &Event::TestFinished {
                id,
                name: &t.name,
                outcome,
            },
        );
    }

    /// DESIGN §10: run as one machine of a queue run, through `link`; `limits`: the run's
    /// limiters held across the machines (none: this machine's own).
    pub(crate) fn with_queue(
        mut self,
        link: crate::queue::Link,
        limits: Option<crate::queue::limits::SharedLimits>,
    ) -> Scheduler<'a> {
        if let Some(l) = limits {
            self.limiters.share(Box::new(l));
        }
        let core = std::mem::replace(&mut self.core, Core::new(self.plan, Vec::new(), 0));
        self.core = core.shared();
        self.recorder = self
            .recorder
            .take()
            .map(|r| r.on_node(link.node().to_owned()));
        self.link = Some(link);
        self
    }

    fn exec(&mut self) -> &mut Executor {
        self.exec
            .as_mut()
            .expect("the executor lives until the run ends")
    }

    /// Run the plan to the end. Returns every suite's result (in plan order) and the summary.
    pub(crate) async fn run(mut self) -> (Vec<SuiteResult>, Summary, RunInfo) {
        let mut stops = StopSignals::new(&self.opts.stops);
        self.started = Instant::now();
        self.run.started = SystemTime::now();
        // The sinks' clock (the live view's redraws): the driver's, not a task of their own.
        let mut ticks = self
            .sinks
            .iter()
            .filter_map(|s| s.tick_every())
            .min()
            .map(|every| {
                let mut i = tokio::time::interval_at((self.started + every).into(), every);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            });
        emit(&mut self.sinks, self.plan, &self.run, &Event::RunStarted);
        self.prepare_logs();
        self.feed(Input::Begin);
        let mut stop_asked = false;
        while !self.core.done() {
            // A sink whose reader went away (`--events - | head -1`) stops the run as a closed
            // terminal's SIGHUP does: running suites cancelled, the rest skipped, reports written.
            if !stop_asked && self.sinks.iter().any(|s| s.wants_stop()) {
                stop_asked = true;
                self.feed(Input::Signal);
                continue;
            }
            let next_backoff = self.core.next_backoff();
            let limiter_wake = self.core.limiter_wake();
            let next_slow = self.core.next_slow();
            let woke = tokio::select! {
                Some(o) = self.outcomes.recv() => Woke::Outcome(o),
                Some(r) = self.results.next() => Woke::Results(r),
                () = sleep_until(next_backoff), if next_backoff.is_some() => Woke::Timer(Timer::Backoff),
                () = precise_until(limiter_wake), if limiter_wake.is_some() => Woke::Timer(Timer::Limiter),
                () = sleep_until(next_slow), if next_slow.is_some() => Woke::Timer(Timer::Slow),
                () = stops.recv() => Woke::Signal,
                Some(note) = self.services.notes.recv() => Woke::Service(note),
                Some(t) = self.tests.recv() => Woke::Test(t),
                Some(r) = self.requests.recv() => Woke::Request(r),
                () = tick(ticks.as_mut()) => Woke::Tick,
                Some(n) = next_news(self.link.as_mut()) => Woke::News(n),
            };
            match woke {
                Woke::News(n) => self.on_news(n),
                Woke::Outcome(o) => {
                    // A part waits for the run to take its last tests before it ends: they
                    // are in the channel now, and come before its end.
                    while let Ok(t) = self.tests.try_recv() {
                        self.test_ended(&t);
                    }
                    self.on_outcome(o);
                }
                Woke::Results(r) => self.on_results(r),
                Woke::Timer(t) => self.feed(Input::Timer(t)),
                Woke::Signal => self.feed(Input::Signal),
                Woke::Test(t) => self.test_ended(&t),
                Woke::Service(note) => {
                    let exec = self
                        .exec
                        .as_mut()
                        .expect("the executor lives until the run ends");
                    let happened = self.services.on_note(note, exec);
                    self.services_said(happened);
                }
                Woke::Request(r) => self.on_request(r),
                Woke::Tick => emit(&mut self.sinks, self.plan, &self.run, &Event::Tick),
            }
        }
        // Every suite has ended, so the core has stopped every service; what still runs (a
        // second signal's kill in flight) is stopped here, and the sweep below waits for it.
        if let Some(exec) = self.exec.as_mut() {
            self.services.stop_all(exec);
        }
        let mut signalled_in_sweep = false;
        let mut closing = None;
        if let Some(exec) = self.exec.take() {
            // A stop signal during the final sweep kills at once: the sweep is already the
            // stop a first signal asks for, so this one is the second.
            let switch = exec.kill_switch();
            let shutdown = exec.shutdown(self.plan.grace);
            tokio::pin!(shutdown);
            loop {
                // Processes still stopping may still ask the limiters.
                let limiter_wake = self.core.limiter_wake();
                tokio::select! {
                    c = &mut shutdown => {
                        closing = Some(c);
                        break;
                    }
                    () = stops.recv(), if !signalled_in_sweep => {
                        signalled_in_sweep = true;
                        switch.fire();
                    }
                    Some(r) = self.requests.recv() => self.on_request(r),
                    () = precise_until(limiter_wake), if limiter_wake.is_some() => {
                        self.feed(Input::Timer(Timer::Limiter));
                    }
                    () = tick(ticks.as_mut()) => {
                        emit(&mut self.sinks, self.plan, &self.run, &Event::Tick);
                    }
                }
            }
        }
        let socket = self.coordinator.take().map(Coordinator::stop);
        // The services' ends, which the sweep waited for: their stop times.
        self.services.drain_outcomes(&mut self.outcomes);
        let services = std::mem::replace(
            &mut self.services,
            Services::new(self.plan, crate::services::RunCtx::none(), &[]),
        );
        let (service_records, service_dirs) = services.finish();
        for dir in service_dirs {
            self.janitor.remove(dir);
        }
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.services(self.plan, &service_records);
        }

        let interrupted = self.core.interrupted() || signalled_in_sweep;
        let core = std::mem::replace(&mut self.core, Core::new(self.plan, Vec::new(), 0));
        let mut results = core.into_results();
        if let Some(link) = self.link.take() {
            // Every result and skip written before the record is made; this machine's record
            // keeps what it ran and the skips it wrote first (other machines' are theirs).
            for n in link.close().await {
                if let crate::queue::News::SkipWritten(id) = n {
                    self.skips_written[id.index()] = true;
                }
            }
            results.retain(|r| {
                !matches!(
                    r.skip_reason,
                    Some(crate::event::SkipReason::Elsewhere { .. })
                ) && (r.attempts > 0 || self.skips_written[r.id.index()])
            });
        }
        let summary = Summary::from_results(&results, self.started.elapsed(), interrupted);
        let limiters = self.limiters.stats();
        // The janitor removes this run's folders and socket on its thread while the reports are
        // written, the run's own folder last and only when empty: failed attempts keep theirs
        // for inspection.
        for dir in self.tmp.drain() {
            self.janitor.remove(dir);
        }
        for path in self.warm.leftovers() {
            self.janitor.remove(path);
        }
        self.janitor.remove_untaken(self.tmp.ahead());
        if !self.opts.keep_tmp {
            if let Some(bin) = self.bin_dir.take() {
                self.janitor.remove(bin.join("ptest"));
                self.janitor.remove(bin);
            }
        }
        if let Some(socket) = socket {
            let own = socket
                .parent()
                .filter(|dir| *dir != files::run_tmp_root(&self.opts.run_id))
                .map(std::path::Path::to_path_buf);
            self.janitor.remove(socket);
            // A socket that lived in a folder of its own under /tmp (a long TMPDIR).
            if let Some(dir) = own {
                self.janitor.remove_if_empty(dir);
            }
        }
        if !self.opts.keep_tmp {
            self.janitor
                .remove_if_empty(files::run_tmp_root(&self.opts.run_id));
        }
        let record = self.recorder.take().map(|r| {
            r.finish(
                self.plan,
                &self.run,
                &results,
                &summary,
                &limiters,
                &files::run_tmp_root(&self.opts.run_id),
            )
        });
        if let Some(record) = &record {
            emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::RunFinished {
                    results: &results,
                    record,
                },
            );
        }
        // What a run_finished hook started and left running is ptest's to stop too (DESIGN §7).
        if let Some(closing) =
            closing.filter(|_| self.plan.hooks.iter().any(|h| h == "run_finished"))
        {
            let switch = closing.kill_switch();
            let close = closing.close(self.plan.grace);
            tokio::pin!(close);
            let mut signalled = signalled_in_sweep;
            loop {
                tokio::select! {
                    () = &mut close => break,
                    () = stops.recv(), if !signalled => {
                        signalled = true;
                        switch.fire();
                    }
                }
            }
        }
        self.janitor.finish();
        (results, summary, self.run)
    }

    /// A test process's request on the socket, as the core's input; its answer comes back as
    /// a [`Command::Answer`].
    fn on_request(&mut self, r: Request) {
        let input = match r.asked {
            Asked::Acquire { limiter, permits } => Input::Acquire {
                request: r.id,
                limiter,
                permits,
            },
            Asked::Throttled {
                limiter,
                retry_after,
            } => Input::Throttled {
                request: r.id,
                limiter,
                retry_after,
            },
            Asked::Gone => {
                self.answers.remove(&r.id);
                Input::Gone(r.id)
            }
            Asked::Claim { suite, item } => match self.by_name.get(suite.as_str()) {
                Some(&id) => Input::ItemClaim {
                    request: r.id,
                    suite: id,
                    item,
                },
                // Not a suite of this run: nothing here to refuse it.
                None => {
                    if let Some(reply) = r.reply {
                        let _ = reply.send(Ok("ok"));
                    }
                    return;
                }
            },
        };
        if let Some(reply) = r.reply {
            self.answers.insert(r.id, reply);
        }
        self.feed(input);
    }

    /// One input through the core, then its commands carried out; then what those produced.
    fn feed(&mut self, input: Input) {
        self.inbox.push_back(input);
        while let Some(input) = self.inbox.pop_front() {
            let mut host = RunHost {
                limiters: &mut self.limiters,
                judge: &mut *self.judge,
                log_files: &self.run.log_files,
            };
            let commands = self.core.step(input, Instant::now(), &mut host);
            for message in std::mem::take(&mut self.limiters.warnings) {
                emit(
                    &mut self.sinks,
                    self.plan,
                    &self.run,
                    &Event::Warning { message: &message },
                );
            }
            for c in commands {
                self.apply(c);
            }
        }
        self.check_tmp();
    }

    /// What the services module found (ready, failed) goes to the core; its warnings to the
    /// sinks.
    fn services_said(&mut self, happened: Option<Happened>) {
        for message in std::mem::take(&mut self.services.warnings) {
            emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::Warning { message: &message },
            );
        }
        match happened {
            Some(Happened::Ready(inst)) => self.feed(Input::ServiceReady(inst)),
            Some(Happened::Failed(inst, f)) => self.feed(Input::ServiceFailed(inst, f)),
            None => {}
        }
    }

    /// What the queue's store said: answers to claims, other machines' ends, lost leases.
    fn on_news(&mut self, n: crate::queue::News) {
        use crate::queue::News;
        let input = match n {
            News::Claimed(id, claim) => Input::Claimed(
                id,
                match claim {
                    crate::queue::Claim::Mine => core::Claim::Mine,
                    crate::queue::Claim::Done => core::Claim::Done,
                    crate::queue::Claim::Busy => core::Claim::Busy,
                    // The link turns an avoid into "elsewhere" and asks again later.
                    crate::queue::Claim::Elsewhere | crate::queue::Claim::Avoid => {
                        core::Claim::Elsewhere
                    }
                },
            ),
            News::Resume(id, carried) => Input::Resume(id, carried),
            News::Took(id) => Input::Took(id),
            News::StoppedTaking(stopped) => {
                let message = if stopped {
                    format!(
                        "this machine's first {} units failed: it takes no more units and \
                         leaves them to the other machines",
                        core::FIRST_UNITS_FAILING
                    )
                } else {
                    format!(
                        "this machine's first {} units failed, but no other machine is alive \
                         and taking units: it goes on taking them",
                        core::FIRST_UNITS_FAILING
                    )
                };
                if let Some(r) = self.recorder.as_mut() {
                    r.stopped_taking = stopped.then(|| message.clone());
                }
                emit(
                    &mut self.sinks,
                    self.plan,
                    &self.run,
                    &Event::Warning { message: &message },
                );
                if stopped {
                    return;
                }
                Input::TakeAgain
            }
            News::TakeAgain => {
                let message = "no other machine is alive and taking units any more: this \
                               machine takes them again";
                if let Some(r) = self.recorder.as_mut() {
                    r.stopped_taking = None;
                }
                emit(
                    &mut self.sinks,
                    self.plan,
                    &self.run,
                    &Event::Warning { message },
                );
                Input::TakeAgain
            }
            News::Ended {
                suite,
                status,
                node,
                exports,
            } => {
                self.any_exports |= !exports.is_empty();
                Input::EndedElsewhere {
                    suite,
                    status,
                    node,
                    exports,
                }
            }
            News::Requeued(id) => Input::Requeued(id),
            News::SkipWritten(id) => {
                self.skips_written[id.index()] = true;
                return;
            }
            News::Duplicate(id) => {
                let message = format!(
                    "suite \"{}\": this machine's lease on it was lost while it ran; another \
                     machine's result counts, this one is kept as a duplicate",
                    self.plan.suite(id).name
                );
                emit(
                    &mut self.sinks,
                    self.plan,
                    &self.run,
                    &Event::Warning { message: &message },
                );
                return;
            }
            News::Lost(reason) => {
                let message = format!("the queue's store is lost: {reason}");
                emit(
                    &mut self.sinks,
                    self.plan,
                    &self.run,
                    &Event::Warning { message: &message },
                );
                Input::QueueLost
            }
        };
        self.feed(input);
    }

    fn apply(&mut self, c: Command) {
        match c {
            Command::Start {
                key,
                suite,
                attempt,
                slots,
            } => self.start(key, suite, attempt, slots[0]),
            Command::Cancel(key) => self.exec().cancel(key),
            Command::KillAll => self.exec().kill_all(),
            Command::Retrying {
                suite,
                attempt,
                delay,
                reason,
            } => emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::SuiteRetrying {
                    id: suite,
                    attempt,
                    delay,
                    reason: &reason,
                },
            ),
            Command::AttemptEnded(id) => {
                if let Some(detail) = self.core.last_attempt(id) {
                    emit(
                        &mut self.sinks,
                        self.plan,
                        &self.run,
                        &Event::AttemptFinished { id, detail },
                    );
                }
            }
            Command::Finished(id) => {
                if let Some(part) = &self.plan.suite(id).part {
                    if let Some(key) = self.warm.part_finished(&part.batch) {
                        self.exec().cancel(key);
                    }
                }
                let result = self.core.result(id);
                if let Some(recorder) = self.recorder.as_mut() {
                    let entry = recorder.ended(self.plan, result);
                    if let Some(link) = &self.link {
                        link.ended(result, entry);
                    }
                    emit(
                        &mut self.sinks,
                        self.plan,
                        &self.run,
                        &Event::SuiteFinished { result, entry },
                    );
                }
            }
            Command::Claim(ids, others) => {
                if let Some(link) = &self.link {
                    link.claim(ids, others);
                }
            }
            Command::Release(id) => {
                if let Some(link) = &self.link {
                    link.release(id);
                }
            }
            Command::HandBack(id, carried) => {
                if let Some(link) = &self.link {
                    link.hand_back(id, carried);
                }
            }
            Command::StopTaking => {
                if let Some(link) = &self.link {
                    link.stop_taking();
                }
            }
            Command::Stopping(reason) => emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::Stopping { reason },
            ),
            Command::Warning(message) => emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::Warning { message: &message },
            ),
            Command::StartService(inst) => {
                let exec = self
                    .exec
                    .as_mut()
                    .expect("the executor lives until the run ends");
                match self.services.start(inst, exec) {
                    Some(Happened::Ready(i)) => self.inbox.push_back(Input::ServiceReady(i)),
                    Some(Happened::Failed(i, f)) => {
                        self.inbox.push_back(Input::ServiceFailed(i, f));
                    }
                    None => {}
                }
                for message in std::mem::take(&mut self.services.warnings) {
                    emit(
                        &mut self.sinks,
                        self.plan,
                        &self.run,
                        &Event::Warning { message: &message },
                    );
                }
            }
            Command::StopService(inst) => {
                let exec = self
                    .exec
                    .as_mut()
                    .expect("the executor lives until the run ends");
                self.services.stop(inst, exec);
            }
            Command::Answer { request, answer } => {
                if let Some(reply) = self.answers.remove(&request) {
                    let _ = reply.send(answer);
                }
            }
            Command::TestSlow {
                suite,
                test,
                elapsed,
            } => emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::TestSlow {
                    id: suite,
                    name: &test,
                    elapsed,
                },
            ),
            Command::ItemsHandedOn { from, to, items } => emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::ItemsHandedOn {
                    from,
                    to,
                    items: &items,
                },
            ),
            Command::TestTimedOut { suite, test, after } => emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::TestTimedOut {
                    id: suite,
                    name: &test,
                    after,
                },
            ),
            Command::Slow {
                suite,
                elapsed,
                expected,
            } => emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::SuiteSlow {
                    id: suite,
                    elapsed,
                    expected,
                },
            ),
        }
    }

    /// Hand one attempt to the executor: its command line and environment with templates
    /// filled, its log, its temporary folder.
    fn start(&mut self, key: u64, id: SuiteId, attempt: u32, worker: u32) {
        // What an earlier attempt told (late lines) is not this one's.
        self.told.remove(&id);
        let plan = self.plan;
        let s = plan.suite(id);
        let log = self.run.log_files[id.index()].clone();
        let log_start = if attempt == 1 {
            self.fresh_log(id, &log)
        } else {
            LogStart::Append
        };
        // An empty folder a passed attempt left is as fresh as a new one. With --keep-tmp every
        // attempt keeps its own, named after it.
        let tmpdir = if self.opts.keep_tmp {
            let dir = self.attempt_tmp_name(id, attempt);
            let _ = std::fs::create_dir_all(&dir);
            dir
        } else {
            self.tmp.take()
        };
        let tmp_text = tmpdir.as_os_str();
        let worker_text = worker.to_string();
        let attempt_text = attempt.to_string();
        // On bytes: a command or `env` value need not be UTF-8, nor the temporary folder's path.
        let fill = |t: &OsStr| -> OsString {
            if !t.as_bytes().contains(&b'{') {
                return t.to_owned();
            }
            let t = command::replace(t, "{worker}", worker_text.as_bytes());
            let t = command::replace(&t, "{suite}", s.name.as_bytes());
            let t = command::replace(&t, "{attempt}", attempt_text.as_bytes());
            let t = command::replace(&t, "{tmpdir}", tmp_text.as_bytes());
            command::replace(&t, "{run_id}", self.run.run_id.as_bytes())
        };
        // A batch's retry runs only the items the core chose; its items are never filled. Its
        // items are the core's: items may have been handed on to it (DESIGN §9).
        let part = self.core.part(id).cloned();
        let command = match &part {
            Some(part) => crate::batch::parts::command(
                part,
                self.core.items_of(key),
                self.core.skips_of(key),
                &fill,
            ),
            None => s.cmd.map(fill),
        };
        let results = s
            .part
            .as_ref()
            .and_then(|p| p.results.as_deref())
            .map(|r| crate::batch::parts::path(r, fill, &s.cwd));
        let phase = plan.phase(s.phase);
        // What the services it needs give (their `env`, then what they exported), under the
        // suite's own `env`.
        let mut env: Vec<(String, OsString)> = Vec::new();
        for &n in &s.needs {
            let inst = ServiceInstance {
                service: n,
                worker: (plan.service(n).scope == Scope::Worker).then_some(worker),
            };
            crate::services::exports::overlay(&mut env, self.services.env_for(inst));
        }
        // Then what the suites it depends on exported, directly or through others: the nearer
        // over the farther.
        if self.any_exports {
            for dep in exporting_ancestors(plan, id) {
                if let Some(r) = self.core.result_if_done(dep) {
                    crate::services::exports::overlay(&mut env, &r.exports);
                }
            }
        }
        let own: Vec<(String, OsString)> =
            s.env.iter().map(|(k, v)| (k.clone(), fill(v))).collect();
        crate::services::exports::overlay(&mut env, &own);
        // ptest's own variables win over a suite's `env`, as the per-attempt ones below do.
        env.retain(|(k, _)| !matches!(k.as_str(), "PTEST" | "PTEST_RUN_ID" | "PTEST_SOCKET"));
        let var = |k: &str, v: &str| (k.to_owned(), OsString::from(v));
        env.extend([
            var("PTEST_SUITE", &s.name),
            var("PTEST_WORKER", &worker_text),
            var("PTEST_WORKERS", &phase.workers.to_string()),
            var("PTEST_ATTEMPT", &attempt_text),
            var("PTEST_ATTEMPTS", &s.retry.attempts.to_string()),
            ("PTEST_TMPDIR".to_owned(), tmp_text.to_owned()),
            ("TMPDIR".to_owned(), tmp_text.to_owned()),
            ("PTEST_LOG".to_owned(), log.clone().into_os_string()),
            var("PTEST_PHASE", &phase.name),
            var("PTEST_GROUP", plan.group_name(s).unwrap_or("")),
        ]);
        if let Some(sh) = plan.settings.shard.value {
            env.push(var("PTEST_SHARD", &format!("{}/{}", sh.index, sh.total)));
        }
        let env_file = self.env_file_name(id, attempt);
        env.push(("PTEST_ENV".to_owned(), env_file.clone().into_os_string()));
        if let Some(bin) = &self.bin_dir {
            // A suite that sets its own PATH still finds this very binary first for
            // `ptest acquire`; for the others the run's environment has it already.
            if let Some(i) = env.iter().rposition(|(k, _)| k == "PATH") {
                let mut path = bin.as_os_str().to_owned();
                path.push(":");
                path.push(&env[i].1);
                env.push(("PATH".to_owned(), path));
            }
        }
        let mut spec = AttemptSpec {
            key,
            command,
            cwd: s.cwd.clone(),
            env,
            log_path: log,
            header: format!(
                "=== ptest: {} attempt {attempt}/{} ===",
                s.name, s.retry.attempts
            ),
            log_start,
            timeout: s.timeout,
            grace: plan.grace,
            echo: self.opts.echo.clone().map(|e| (s.name.clone(), e)),
        };
        // A warm batch's part: its zygote first, when it is not running.
        if let Some(part) = s.part.as_ref().filter(|p| p.warm.is_some()) {
            let base = warm::base_env(&s.env, fill);
            let tmp = &mut self.tmp;
            let before = self
                .warm
                .before_part(plan, &part.batch, &s.cwd, base, || tmp.take());
            if let Some(zygote) = before.start {
                self.exec
                    .as_mut()
                    .expect("the executor lives until the run ends")
                    .start(zygote);
            }
            spec.env.extend(before.env);
        }
        self.attempts.insert(
            key,
            Attempt {
                id,
                attempt,
                tmpdir,
                results,
                started: std::time::SystemTime::now(),
                env_file,
            },
        );
        // Told before the process starts, so that whatever follows the run (the events file,
        // hooks) has the start before anything the suite itself does.
        emit(
            &mut self.sinks,
            self.plan,
            &self.run,
            &Event::SuiteStarted {
                id,
                attempt,
                worker,
            },
        );
        self.exec().start(spec);
    }

    /// What the executor measured, turned into the core's input: the log is read here for the
    /// shell's "not found" complaint, and the attempt's folder released.
    fn on_outcome(&mut self, o: AttemptOutcome) {
        if let Some((warning, tmpdir)) = self.warm.ended(&o) {
            if let Some(dir) = tmpdir {
                self.tmp.passed(dir);
            }
            if let Some(message) = warning {
                emit(
                    &mut self.sinks,
                    self.plan,
                    &self.run,
                    &Event::Warning { message: &message },
                );
            }
            return;
        }
        if Services::owns(o.key) {
            let happened = self.services.on_outcome(&o);
            self.services_said(happened);
            return;
        }
        let Some(a) = self.attempts.remove(&o.key) else {
            return;
        };
        let s = self.plan.suite(a.id);
        let verdict = match &o.end {
            AttemptEnd::Exited(0) => Verdict::Pass,
            AttemptEnd::Exited(code) => Verdict::Fail {
                code: Some(*code),
                signal: None,
                // ptest says "command not found" only when its own start found no program
                // (`SpawnFailed`); a shell's 127 is quoted in the shell's own words.
                message: (*code == 127 && matches!(s.cmd, CommandLine::Shell(_)))
                    .then(|| self.shell_complaint(a.id, &o))
                    .flatten()
                    .map(|said| format!("exit code 127 ({said})")),
            },
            AttemptEnd::Signaled(sig) => Verdict::Fail {
                code: None,
                signal: Some(*sig),
                message: Some(format!("killed by signal {sig}")),
            },
            AttemptEnd::TimedOut => Verdict::Timeout,
            AttemptEnd::Cancelled => Verdict::Cancel,
            AttemptEnd::SpawnFailed(m) => Verdict::Fail {
                code: None,
                signal: None,
                message: Some(m.clone()),
            },
        };
        // A batch part's results file is opened now, before its folder is recycled, and read
        // off this thread: a large or hostile file must not hold up timeouts and signals. The
        // core hears of the end once it is read.
        let file = self.open_results(&a, &verdict);
        // DESIGN §11: a pass's `PTEST_ENV` lines go to its dependents; bad lines are warnings.
        let read = crate::services::exports::take(&a.env_file, verdict == Verdict::Pass);
        for w in &read.warnings {
            let message = format!("suite \"{}\": {w}", s.name);
            emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::Warning { message: &message },
            );
        }
        self.any_exports |= !read.vars.is_empty();
        // A part whose live channel was lost says so in its temporary folder: never silently
        // without its per-test SLOW and test_timeout.
        if let Some(why) = crate::batch::live::lost_in(&a.tmpdir) {
            let message = format!(
                "suite \"{}\": live channel lost ({why}): its tests were not told as they ran; \
                 per-test SLOW and test_timeout were not enforced for this part",
                s.name
            );
            emit(
                &mut self.sinks,
                self.plan,
                &self.run,
                &Event::Warning { message: &message },
            );
        }
        self.release_tmp(&a, verdict == Verdict::Pass);
        let ended = Ended {
            key: o.key,
            verdict,
            started: o.started,
            duration: o.duration,
            peak_rss_kb: o.peak_rss_kb,
            cpu_time: o.cpu_time,
            output: (o.log_start, o.log_end),
            testcases: None,
            exports: read.vars,
        };
        // What the part told of its tests as they ended stands in for a results file it did not
        // write (stopped, killed at its timeout).
        let part = self.core.part(a.id).cloned();
        let told = match (self.told.remove(&a.id), &part) {
            (Some(t), Some(part)) => crate::batch::case::told(&t, &part.items),
            _ => Vec::new(),
        };
        match (file, &part) {
            (Some((file, path)), Some(part)) => {
                let items = part.items.iter().map(|(i, _)| i.clone()).collect();
                self.results.start((ended, a.id, path, told), file, items);
            }
            _ => {
                let mut ended = ended;
                if !told.is_empty() {
                    ended.testcases = Some(told);
                }
                self.feed(Input::Ended(ended));
            }
        }
    }

    /// A batch part's results file, opened (never waited on: a FIFO is refused) for reading
    /// off this thread. A missing or unreadable one is a warning (the exit status still
    /// decides, and a retry runs every item).
    fn open_results(&mut self, a: &Attempt, verdict: &Verdict) -> Option<(std::fs::File, PathBuf)> {
        let s = self.plan.suite(a.id);
        let (Some(_), Some(path)) = (&s.part, &a.results) else {
            return None;
        };
        match crate::batch::parts::open(path, a.started) {
            Ok(file) => Some((file, path.clone())),
            Err(why) => {
                // A stopped attempt writes nothing; that needs no warning.
                if *verdict != Verdict::Cancel {
                    self.results_warning(a.id, path, &format!("{why}; its exit status decides"));
                }
                None
            }
        }
    }

    fn results_warning(&mut self, id: SuiteId, path: &std::path::Path, what: &str) {
        let msg = format!(
            "suite \"{}\": results {}: {what}",
            self.plan.suite(id).name,
            crate::record::display_path(path).display()
        );
        emit(
            &mut self.sinks,
            self.plan,
            &self.run,
            &Event::Warning { message: &msg },
        );
    }

    /// A results file was read: the attempt's end goes to the core with its testcases.
    fn on_results(&mut self, ((mut ended, suite, path, told), parsed): ResultsRead) {
        match parsed {
            Ok(parsed) => {
                if let Some(left_out) = &parsed.left_out {
                    self.results_warning(suite, &path, left_out);
                }
                // A results file with no testcase, of a part that told some: a file cut short
                // when the part was stopped (node's junit reporter writes its head first, its
                // testcases at the end); what the part told stands in for it.
                ended.testcases = Some(if parsed.cases.is_empty() && !told.is_empty() {
                    told
                } else {
                    parsed.cases
                });
            }
            Err(why) => {
                if ended.verdict != Verdict::Cancel {
                    self.results_warning(suite, &path, &format!("{why}; its exit status decides"));
                }
                if !told.is_empty() {
                    ended.testcases = Some(told);
                }
            }
        }
        self.feed(Input::Ended(ended));
    }

    /// After a pass the folder waits to be looked into (`check_tmp`); after a failure it stays,
    /// named after the suite and attempt.
    fn release_tmp(&mut self, a: &Attempt, passed: bool) {
        if self.opts.keep_tmp {
            return;
        }
        if passed {
            self.tmp.passed(a.tmpdir.clone());
        } else {
            let _ = std::fs::rename(&a.tmpdir, self.attempt_tmp_name(a.id, a.attempt));
        }
    }

    /// Passed attempts' folders: an empty one is kept for a later attempt, anything else is
    /// removed off-thread. Called once the suites that could start have started.
    fn check_tmp(&mut self) {
        // More spares than workers would only wait for the end of the run; once nothing is left
        // to start, none is needed, and removing them now leaves less for the end.
        let keep = if self.core.may_start_later() == 0 {
            0
        } else {
            self.core.workers() as usize + 1
        };
        self.tmp.check(keep, &self.janitor);
        if keep == 0 && !self.untaken_removed {
            self.untaken_removed = true;
            self.janitor.remove_untaken(self.tmp.ahead());
        }
    }

    /// Starts the thread that looks at the earlier logs of the suites that will run, roughly in
    /// the order they will start: by phase, then longest remaining path first (DESIGN §3 rule 2),
    /// then declaration.
    fn prepare_logs(&mut self) {
        let mut order: Vec<&crate::plan::Suite> = self
            .plan
            .suites
            .iter()
            .filter(|s| s.skip.is_none())
            .collect();
        order.sort_by(|a, b| {
            (a.phase.index(), b.path, a.id.index())
                .partial_cmp(&(b.phase.index(), a.path, b.id.index()))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let logs = order
            .iter()
            .map(|s| (s.id.index(), self.run.log_files[s.id.index()].clone()))
            .collect();
        self.logs = Some(files::LogPrep::start(logs, self.plan.suites.len()));
    }

    /// How the first attempt's log begins: with the earlier log's length when the log thread
    /// found it. Truncating a large log frees its blocks right there, on the scheduler's thread
    /// (tens of milliseconds for 100 MB on ext4): it is moved aside and deleted off-thread.
    fn fresh_log(&self, id: SuiteId, log: &std::path::Path) -> LogStart {
        const LARGE: u64 = 1 << 20;
        let old = match self.logs.as_ref().map(|l| l.old_log(id.index())) {
            Some(files::OldLog::Absent) => return LogStart::Fresh(Some(0)),
            Some(files::OldLog::Len(len)) => len,
            // Not through a link: a planted one is replaced by a fresh file, never measured.
            Some(files::OldLog::Unknown) | None => match std::fs::symlink_metadata(log) {
                Ok(meta) if meta.is_file() => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return LogStart::Fresh(Some(0));
                }
                // Opening the log meets the link, or the error, again and deals with it.
                Ok(_) | Err(_) => return LogStart::Fresh(None),
            },
        };
        if old > LARGE {
            let name = log
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let aside = log.with_file_name(format!(".{name}.{}.old", self.run.run_id));
            if std::fs::rename(log, &aside).is_ok() {
                self.janitor.remove_file(aside);
                return LogStart::Fresh(Some(0));
            }
        }
        LogStart::Fresh(Some(old))
    }

    /// `PTEST_ENV` of an attempt: `<log file stem>-<attempt>.env` in the run's folder. It exists
    /// only once the suite writes to it.
    fn env_file_name(&self, id: SuiteId, attempt: u32) -> PathBuf {
        let mut name = self.attempt_tmp_name(id, attempt).into_os_string();
        name.push(".env");
        PathBuf::from(name)
    }

    /// `<log file stem>-<attempt>`: the log's name is unique where safe names collide.
    fn attempt_tmp_name(&self, id: SuiteId, attempt: u32) -> PathBuf {
        let unique = self.run.log_files[id.index()].file_stem().map_or_else(
            || files::safe_name(&self.plan.suite(id).name),
            |n| n.to_string_lossy().into_owned(),
        );
        files::run_tmp_root(&self.run.run_id).join(format!("{unique}-{attempt}"))
    }

    /// `sh` exits 127 both for a missing command and for a script's own `exit 127`, and a
    /// program's own complaint (`cat: x: No such file or directory`) looks like a shell's: only
    /// the shell's own last line (`sh: 1: pytestt: not found`, `sh: 1: ./t.sh: not found` for a
    /// bad `#!` interpreter) is quoted, as it wrote it.
    fn shell_complaint(&self, id: SuiteId, o: &AttemptOutcome) -> Option<String> {
        let tail = read_tail(&self.run.log_files[id.index()], o.log_start, o.log_end);
        shell_complaint(&String::from_utf8_lossy(&tail))
    }
}

/// Every suite `id` depends on, directly or through others, farthest first (then in plan
/// order): laid over each other in this order, a nearer dependency's exports win.
fn exporting_ancestors(plan: &Plan, id: SuiteId) -> Vec<SuiteId> {
    let mut depth: HashMap<SuiteId, u32> = HashMap::new();
    let mut level: Vec<SuiteId> = plan.suite(id).depends_on.clone();
    let mut d = 1;
    while !level.is_empty() {
        let mut next = Vec::new();
        for dep in level {
            if depth.contains_key(&dep) {
                continue;
            }
            depth.insert(dep, d);
            next.extend(plan.suite(dep).depends_on.iter().copied());
        }
        level = next;
        d += 1;
    }
    let mut all: Vec<(SuiteId, u32)> = depth.into_iter().collect();
    all.sort_by_key(|&(s, d)| (std::cmp::Reverse(d), s));
    all.into_iter().map(|(s, _)| s).collect()
}

/// What every suite of the run sees the same: `PTEST`, `PTEST_RUN_ID`, `PTEST_SOCKET`, and `PATH`
/// with this binary's folder first (so `ptest acquire` finds it).
fn run_env(
    run_id: &str,
    coordinator: Option<&Coordinator>,
    bin_dir: Option<&std::path::Path>,
) -> Vec<(String, OsString)> {
    let mut vars = vec![
        ("PTEST".to_owned(), OsString::from("1")),
        ("PTEST_RUN_ID".to_owned(), OsString::from(run_id)),
    ];
    if let Some(c) = coordinator {
        vars.push(("PTEST_SOCKET".to_owned(), c.path.clone().into_os_string()));
    }
    if let Some(bin) = bin_dir {
        let mut path = bin.as_os_str().to_owned();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        vars.push(("PATH".to_owned(), path));
    }
    vars
}

/// The next tick of the sinks' clock; never without one.
async fn tick(ticks: Option<&mut tokio::time::Interval>) {
    match ticks {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The next news from the queue's store; never, in a run without a queue.
async fn next_news(link: Option<&mut crate::queue::Link>) -> Option<crate::queue::News> {
    match link {
        Some(l) => l.news.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Limiter wake-ups: a token is due at an exact time, and a late start is rate lost for good.
async fn precise_until(t: Option<Instant>) {
    match t {
        Some(t) => precise_sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Sleep to `deadline` within tens of microseconds. tokio's timer wakes up to a millisecond
/// late, and a limiter with burst 1 loses every late wake for good: at 100/s that is 10 % of
/// the rate. The last stretch is slept on a blocking thread, whose `nanosleep` is precise.
async fn precise_sleep_until(deadline: Instant) {
    let d = deadline.saturating_duration_since(Instant::now());
    const COARSE_MARGIN: Duration = Duration::from_millis(3);
    if d > COARSE_MARGIN {
        tokio::time::sleep(d.saturating_sub(COARSE_MARGIN)).await;
    }
    let _ = tokio::task::spawn_blocking(move || {
        // A pool thread must not take SIGCHLD away from the scheduler's thread.
        crate::os::process::block_signals_in_this_thread();
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    })
    .await;
}

/// The signals that stop a run (DESIGN §3 rule 8): SIGINT, SIGTERM, SIGHUP (the terminal
/// closed) and SIGQUIT; each would otherwise end ptest at once and leave its suites running.
struct StopSignals(Vec<Signal>, StopCount);

impl StopSignals {
    fn new(count: &StopCount) -> StopSignals {
        let kinds = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::quit(),
        ];
        let signals = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
        // From now on a Lua callback that loops cannot hold them up (`lua::hooks`).
        count.arm();
        StopSignals(signals, count.clone())
    }

    /// The next of them to arrive.
    async fn recv(&mut self) {
        std::future::poll_fn(|cx| {
            for s in &mut self.0 {
                if s.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready(());
                }
            }
            std::task::Poll::Pending
        })
        .await;
        // The run acts on it: the backstop leaves a second stop to the run.
        self.1.acknowledge();
    }
}

/// The last line the shell itself wrote in `text` (dash `sh: 1: ...`, bash `sh: line 1: ...`),
/// cut to a length a summary can show.
fn shell_complaint(text: &str) -> Option<String> {
    const LONGEST: usize = 200;
    let line = text
        .lines()
        .rev()
        .map(str::trim_end)
        .find(|line| line.starts_with("sh: ") && line.len() > 4)?;
    let mut said: String = line.chars().take(LONGEST).collect();
    if said.len() < line.len() {
        said.push_str("...");
    }
    Some(said)
}
