//! The core driven by a fake runner in virtual time: table tests named after the rules of
//! DESIGN §3, and property tests over random plans and outcomes that check the invariants after
//! every step. No process, no sleep, no clock: an attempt "runs" for as long as the script says.
#![expect(
    clippy::float_cmp,
    reason = "virtual times are whole nanoseconds read back as seconds: exact"
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::error::Origin;
use crate::plan::decl::{
    Declarations, GroupDecl, LimiterDecl, PhaseDecl, RetryDecl, RetryRef, ServiceDecl, SuiteDecl,
    WorkersDecl,
};
use crate::plan::tests::{Inputs, build};
use crate::settings::{Overrides, Selection};

// ---------------------------------------------------------------------------------------------
// Plans from declarations, without Lua.

fn origin(line: u32) -> Origin {
    Origin {
        file: Arc::from("ptest.lua"),
        line,
    }
}

fn suite(name: &str) -> SuiteDecl {
    SuiteDecl {
        origin: origin(1),
        name: name.to_owned(),
        cmd: crate::command::CommandLine::Shell("true".into()),
        description: None,
        category: "default".into(),
        tags: Vec::new(),
        cwd: None,
        env: BTreeMap::new(),
        timeout: None,
        depends_on: Vec::new(),
        needs: Vec::new(),
        group: None,
        phase: None,
        limiter: None,
        retry: None,
        slots: 1,
        serial: false,
        estimate: None,
        memory: None,
        enabled: true,
        select: false,
        batch: None,
        part: None,
    }
}

fn service(name: &str) -> ServiceDecl {
    ServiceDecl {
        origin: origin(1),
        name: name.to_owned(),
        cmd: crate::command::CommandLine::Shell("server".into()),
        description: None,
        cwd: None,
        env: BTreeMap::new(),
        own_env: BTreeMap::new(),
        ready: None,
        ready_timeout: None,
        scope: Scope::Run,
        grace: None,
    }
}

fn phase(name: &str) -> PhaseDecl {
    PhaseDecl {
        origin: origin(1),
        name: name.to_owned(),
        enabled: true,
        workers: None,
        on_failure: OnFailure::Stop,
        always: false,
    }
}

fn group(name: &str, max: u32) -> GroupDecl {
    GroupDecl {
        origin: origin(1),
        name: name.to_owned(),
        max,
        env: BTreeMap::new(),
    }
}

fn limiter(name: &str, per_token: Duration, burst: u32, concurrency: Option<u32>) -> LimiterDecl {
    LimiterDecl {
        origin: origin(1),
        name: name.to_owned(),
        rate: 1.0,
        per: per_token,
        burst,
        concurrency,
        adaptive: false,
        max_throttled: None,
    }
}

fn workers(count: u32) -> WorkersDecl {
    WorkersDecl {
        count,
        literal: false,
    }
}

fn decls(workers_: u32) -> Declarations {
    let mut d = Declarations {
        config_dir: std::env::temp_dir(),
        config_path: "ptest.lua".into(),
        ..Declarations::default()
    };
    d.config.workers = Some(workers(workers_));
    d
}

fn plan_of(d: Declarations) -> Plan {
    let none = |_: &str| None;
    let history = crate::history::History::default();
    let inputs = Inputs {
        overrides: &Overrides::default(),
        selection: &Selection::default(),
        env: &none,
        cpus: 4,
        history: &history,
        memory_available: &|| 16 << 30,
    };
    build(d, &inputs).unwrap_or_else(|e| panic!("{e}"))
}

fn id(plan: &Plan, name: &str) -> SuiteId {
    plan.suites
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no suite {name}"))
        .id
}

// ---------------------------------------------------------------------------------------------
// The fake runner.

/// What one attempt does when it runs.
#[derive(Debug, Clone)]
struct Outcome {
    verdict: Verdict,
    secs: f64,
}

fn pass(secs: f64) -> Outcome {
    Outcome {
        verdict: Verdict::Pass,
        secs,
    }
}

fn fail(code: i32, secs: f64) -> Outcome {
    Outcome {
        verdict: Verdict::Fail {
            code: Some(code),
            signal: None,
            message: None,
        },
        secs,
    }
}

fn timeout(secs: f64) -> Outcome {
    Outcome {
        verdict: Verdict::Timeout,
        secs,
    }
}

/// The host of a run in virtual time: the run's real limiters (their clock is the core's
/// `now`), a fixed answer for `when` predicates and a fixed output.
struct FakeHost {
    limiters: crate::sched::limits::Limiters,
    /// Tokens each limiter gave (suite starts and acquires), with when: for the rate checks.
    granted: Vec<Vec<(Instant, u32)>>,
    /// The answer of every `when` predicate.
    judge: Result<bool, String>,
    judged: usize,
    output: Vec<u8>,
    /// Every service failure written into a suite's log: (suite, message, appended).
    notes: Vec<(SuiteId, String, bool)>,
}

impl FakeHost {
    fn new(plan: &Plan, start: Instant) -> FakeHost {
        FakeHost {
            limiters: crate::sched::limits::Limiters::new(plan, start),
            granted: vec![Vec::new(); plan.limiters.len()],
            judge: Ok(true),
            judged: 0,
            output: Vec::new(),
            notes: Vec::new(),
        }
    }
}

impl Host for FakeHost {
    fn limiter_admit(&mut self, limiter: LimiterId, now: Instant) -> Result<(), Refusal> {
        self.limiters.admit_suite(limiter, now)?;
        self.granted[limiter.index()].push((now, 1));
        Ok(())
    }

    fn limiter_waited(&mut self, limiter: LimiterId, waited: Duration) {
        self.limiters.add_wait(limiter, waited);
    }

    fn limiter_release(&mut self, limiter: LimiterId) {
        assert!(
            self.limiters.holders(limiter) > 0,
            "released more than taken"
        );
        self.limiters.release_suite(limiter);
    }

    fn limiter_acquire(
        &mut self,
        limiter: LimiterId,
        permits: u32,
        now: Instant,
    ) -> Result<(), Refusal> {
        self.limiters.acquire(limiter, permits, now)?;
        self.granted[limiter.index()].push((now, permits));
        Ok(())
    }

    fn limiter_throttled(
        &mut self,
        limiter: LimiterId,
        retry_after: Option<Duration>,
        now: Instant,
    ) {
        self.limiters.throttled(limiter, retry_after, now);
    }

    fn output(&mut self, _: SuiteId, _: (u64, u64)) -> Vec<u8> {
        self.output.clone()
    }

    fn judge(&mut self, _: usize, _: &AttemptView<'_>) -> Result<bool, String> {
        self.judged += 1;
        self.judge.clone()
    }

    fn service_note(
        &mut self,
        suite: SuiteId,
        failure: &ServiceFailure,
        append: bool,
    ) -> Option<(u64, u64)> {
        self.notes.push((suite, failure.message.clone(), append));
        Some((100, 200))
    }
}

/// What a fake service instance does once started.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SvcScript {
    /// Ready this many seconds after its start.
    Ready(f64),
    /// Not ready: fails this many seconds after its start.
    Fails(f64),
    /// Ready after the first number of seconds, then exits on its own after the second.
    Exits(f64, f64),
}

/// A fake service instance in the run.
#[derive(Debug, Clone)]
struct SvcLive {
    started: f64,
    /// The next thing it does, at a virtual time: become ready, or fail.
    next: Option<(Instant, bool)>,
    ready: bool,
    stopped: bool,
    failed: bool,
    then_exits: Option<f64>,
}

/// A test process's request on the socket, at a virtual time.
#[derive(Debug, Clone, PartialEq)]
enum Socket {
    Acquire(LimiterId, u32),
    Throttled(LimiterId, Option<Duration>),
    /// The process behind the request at this index of the list hung up.
    Gone(usize),
}

#[derive(Debug, Clone)]
struct Live {
    suite: SuiteId,
    slots: Vec<u32>,
    end: Instant,
    verdict: Verdict,
    started_at: Instant,
}

/// What a run did, for the assertions.
#[derive(Debug, Clone, PartialEq)]
struct Trace {
    /// Every command with the virtual time (seconds) it came at.
    commands: Vec<(f64, Command)>,
    /// Final statuses and skip reasons, in plan order.
    statuses: Vec<(Status, Option<String>, u32)>,
    /// Start times of each suite's attempts, in seconds.
    starts: Vec<Vec<f64>>,
    /// Each socket request's answer and its time, by its index in the list.
    answers: BTreeMap<usize, (f64, crate::sched::core::Answer)>,
    end: f64,
    /// Each suite's final error message, in plan order.
    messages: Vec<Option<String>>,
    /// Service failures written into suites' logs: (suite, message, appended).
    notes: Vec<(SuiteId, String, bool)>,
}

impl Trace {
    fn started(&self) -> Vec<SuiteId> {
        self.commands
            .iter()
            .filter_map(|(_, c)| match c {
                Command::Start { suite, .. } => Some(*suite),
                _ => None,
            })
            .collect()
    }
}

/// Plays a run: each attempt does what `script` says for its (suite, attempt), else passes in
/// one second; `signals` arrive at those virtual seconds. Checks every invariant of the core
/// after every step; panics with the broken one.
struct Sim<'p> {
    plan: &'p Plan,
    core: Core<'p>,
    host: FakeHost,
    base: Instant,
    now: Instant,
    live: BTreeMap<AttemptKey, Live>,
    script: HashMap<(SuiteId, u32), Outcome>,
    signals: Vec<f64>,
    finished: Vec<Option<Status>>,
    in_backoff: Vec<Option<Instant>>,
    stopped: Option<CancelReason>,
    hard: bool,
    /// Socket requests not sent yet, soonest first, with their index in the list.
    socket: Vec<(f64, usize, Socket)>,
    /// Every socket request, by index (= its `RequestId`).
    requests: Vec<(f64, Socket)>,
    /// Requests whose process hung up, and when.
    gone: HashMap<usize, f64>,
    trace: Trace,
    svc_script: HashMap<ServiceId, SvcScript>,
    svcs: BTreeMap<ServiceInstance, SvcLive>,
}

impl<'p> Sim<'p> {
    fn new(plan: &'p Plan, script: HashMap<(SuiteId, u32), Outcome>, signals: Vec<f64>) -> Self {
        let base = Instant::now();
        Sim {
            plan,
            core: Core::new(plan, no_logs(plan), 7),
            host: FakeHost::new(plan, base),
            base,
            now: base,
            live: BTreeMap::new(),
            script,
            signals,
            finished: vec![None; plan.suites.len()],
            in_backoff: vec![None; plan.suites.len()],
            stopped: None,
            hard: false,
            socket: Vec::new(),
            requests: Vec::new(),
            gone: HashMap::new(),
            trace: Trace {
                commands: Vec::new(),
                statuses: Vec::new(),
                starts: vec![Vec::new(); plan.suites.len()],
                answers: BTreeMap::new(),
                end: 0.0,
                messages: Vec::new(),
                notes: Vec::new(),
            },
            svc_script: HashMap::new(),
            svcs: BTreeMap::new(),
        }
    }

    /// Test processes send these requests at these virtual seconds.
    fn with_socket(mut self, requests: Vec<(f64, Socket)>) -> Self {
        let mut socket: Vec<(f64, usize, Socket)> = requests
            .iter()
            .enumerate()
            .map(|(i, (t, r))| (*t, i, r.clone()))
            .collect();
        socket.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.socket = socket;
        self.requests = requests;
        self
    }

    /// Acquires sent and neither answered nor given up.
    fn unanswered(&self) -> usize {
        self.requests
            .iter()
            .enumerate()
            .filter(|(i, (t, r))| {
                matches!(r, Socket::Acquire(..))
                    && self.at(*t) <= self.now
                    && !self.socket.iter().any(|(_, j, _)| j == i)
                    && !self.trace.answers.contains_key(i)
                    && !self.gone.contains_key(i)
            })
            .count()
    }

    fn secs(&self, t: Instant) -> f64 {
        (t - self.base).as_secs_f64()
    }

    fn at(&self, secs: f64) -> Instant {
        self.base + Duration::from_secs_f64(secs)
    }

    fn step(&mut self, input: Input) {
        let commands = self.core.step(input, self.now, &mut self.host);
        for c in commands {
            self.apply(&c);
            let t = self.secs(self.now);
            self.trace.commands.push((t, c));
        }
        self.check_idle();
    }

    fn run(mut self) -> Trace {
        self.step(Input::Begin);
        let mut guard = 0;
        while !self.core.done() || !self.socket.is_empty() || self.unanswered() > 0 {
            guard += 1;
            assert!(guard < 100_000, "the run never ends");
            // The earliest of: an attempt ending, a backoff, a limiter, a signal, a request.
            // Ends first.
            let end = self.live.iter().map(|(k, l)| (l.end, l.suite, *k)).min();
            let backoff = self.core.next_backoff();
            let wake = self.core.limiter_wake();
            let slow = self.core.next_slow();
            let signal = self.signals.first().map(|&s| self.at(s));
            let svc = self
                .svcs
                .iter()
                .filter_map(|(i, l)| l.next.map(|(t, ok)| (t, *i, ok)))
                .min();
            let request = self.socket.first().map(|(t, _, _)| self.at(*t));
            let next = [
                end.map(|e| e.0),
                backoff,
                wake,
                slow,
                signal,
                svc.map(|s| s.0),
                request,
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("the core waits for nothing while not done");
            self.now = self.now.max(next);
            if let Some((_, inst, ok)) = svc.filter(|s| s.0 <= self.now) {
                let l = self.svcs.get_mut(&inst).expect("started");
                l.next = None;
                if ok {
                    l.ready = true;
                    if let Some(after) = l.then_exits {
                        l.next = Some((self.now + Duration::from_secs_f64(after), false));
                    }
                    self.step(Input::ServiceReady(inst));
                } else {
                    l.failed = true;
                    let name = &self.plan.service(inst.service).name;
                    let message = if l.ready {
                        format!("service \"{name}\" exited with 1")
                    } else {
                        format!("service \"{name}\" not ready after 5s")
                    };
                    let f = ServiceFailure {
                        message,
                        log: "svc.log".into(),
                        tail: (0, 10),
                    };
                    self.step(Input::ServiceFailed(inst, f));
                }
            } else if let Some((_, _, key)) = end.filter(|e| e.0 <= self.now) {
                let l = self.live.remove(&key).expect("live");
                let ended = Ended {
                    key,
                    verdict: l.verdict.clone(),
                    started: std::time::SystemTime::UNIX_EPOCH,
                    duration: l.end - l.started_at,
                    peak_rss_kb: None,
                    cpu_time: None,
                    output: (0, 0),
                    testcases: None,
                    exports: Vec::new(),
                };
                self.step(Input::Ended(ended));
            } else if backoff.is_some_and(|b| b <= self.now) {
                for b in &mut self.in_backoff {
                    if b.is_some_and(|b| b <= self.now) {
                        *b = None;
                    }
                }
                self.step(Input::Timer(Timer::Backoff));
            } else if wake.is_some_and(|w| w <= self.now) {
                self.step(Input::Timer(Timer::Limiter));
            } else if slow.is_some_and(|s| s <= self.now) {
                self.step(Input::Timer(Timer::Slow));
            } else if signal.is_some_and(|s| s <= self.now) {
                self.signals.remove(0);
                self.step(Input::Signal);
            } else {
                let (t, i, asked) = self.socket.remove(0);
                let request = i as RequestId;
                let input = match asked {
                    Socket::Acquire(limiter, permits) => Input::Acquire {
                        request,
                        limiter,
                        permits,
                    },
                    Socket::Throttled(limiter, retry_after) => Input::Throttled {
                        request,
                        limiter,
                        retry_after,
                    },
                    Socket::Gone(j) => {
                        self.gone.insert(j, t);
                        Input::Gone(j as RequestId)
                    }
                };
                self.step(input);
            }
        }
        self.check_socket();
        assert!(self.live.is_empty(), "done with attempts running");
        for (inst, l) in &self.svcs {
            assert!(
                l.stopped,
                "service {inst:?} still runs at the end (started at {})",
                l.started
            );
        }
        self.trace.end = self.secs(self.now);
        let plan = self.plan;
        let results = self.core.into_results();
        for (i, r) in results.iter().enumerate() {
            assert_eq!(
                Some(r.status),
                self.finished[i],
                "suite {} has one final status, announced",
                plan.suites[i].name
            );
        }
        self.trace.messages = results.iter().map(|r| r.error_message.clone()).collect();
        self.trace.notes = std::mem::take(&mut self.host.notes);
        self.trace.statuses = results
            .into_iter()
            .map(|r| {
                let reason = r.skip_reason.as_ref().map(ToString::to_string);
                (r.status, reason, r.attempts)
            })
            .collect();
        self.trace
    }

    fn apply(&mut self, c: &Command) {
        let plan = self.plan;
        match c {
            Command::Start {
                key,
                suite,
                attempt,
                slots,
            } => {
                let s = plan.suite(*suite);
                assert!(!self.hard, "{} started after a second signal", s.name);
                assert!(
                    self.stopped.is_none() || plan.phase(s.phase).always,
                    "{} started after a stop, outside an always phase",
                    s.name
                );
                assert!(
                    self.finished[suite.index()].is_none(),
                    "{} started after its end",
                    s.name
                );
                assert!(
                    !self.live.values().any(|l| l.suite == *suite),
                    "{} started twice at once",
                    s.name
                );
                assert!(
                    self.in_backoff[suite.index()].is_none(),
                    "{} started during its backoff",
                    s.name
                );
                let workers = plan.phase(s.phase).workers;
                let need = if s.serial {
                    workers
                } else {
                    s.slots.min(workers)
                };
                assert_eq!(slots.len() as u32, need, "{} slot count", s.name);
                for slot in slots {
                    assert!(*slot < workers, "slot {slot} beyond {workers} workers");
                    assert!(
                        !self.live.values().any(|l| l.slots.contains(slot)),
                        "slot {slot} shared ({} starting)",
                        s.name
                    );
                }
                // Barriers: nothing of another phase runs, every earlier phase has ended.
                for l in self.live.values() {
                    assert_eq!(plan.suite(l.suite).phase, s.phase, "phases overlap");
                }
                for other in &plan.suites {
                    if other.phase.index() < s.phase.index() {
                        assert!(
                            self.finished[other.id.index()].is_some(),
                            "{} started before {} of an earlier phase ended",
                            s.name,
                            other.name
                        );
                    }
                }
                for d in &s.depends_on {
                    assert!(
                        self.finished[d.index()].is_some_and(Status::is_pass),
                        "{} started before its dependency passed",
                        s.name
                    );
                }
                if let Some(g) = s.group {
                    let running = self
                        .live
                        .values()
                        .filter(|l| plan.suite(l.suite).group == Some(g))
                        .count() as u32;
                    assert!(running < plan.groups[g.index()].max, "group cap exceeded");
                }
                if let Some(l) = s.limiter {
                    if let Some(cap) = plan.limiters[l.index()].concurrency {
                        let holding = self
                            .live
                            .values()
                            .filter(|a| plan.suite(a.suite).limiter == Some(l))
                            .count() as u32;
                        assert!(holding < cap, "limiter concurrency exceeded");
                    }
                }
                if s.serial {
                    assert!(self.live.is_empty(), "serial {} not alone", s.name);
                }
                // DESIGN §12: within the memory budget, or alone when larger than all of it.
                let budget = plan.memory_budget;
                let held: u64 = self
                    .live
                    .values()
                    .filter_map(|l| plan.suite(l.suite).memory)
                    .sum();
                let mine = s.memory.unwrap_or(0);
                if mine > budget {
                    assert!(self.live.is_empty(), "oversized {} not alone", s.name);
                } else {
                    assert!(
                        held + mine <= budget,
                        "memory budget exceeded by {}",
                        s.name
                    );
                    assert!(
                        !self
                            .live
                            .values()
                            .any(|l| plan.suite(l.suite).memory.unwrap_or(0) > budget),
                        "{} started beside an oversized suite",
                        s.name
                    );
                }
                assert!(
                    !self.live.values().any(|l| plan.suite(l.suite).serial),
                    "{} started beside a serial suite",
                    s.name
                );
                assert!(
                    *attempt <= s.retry.attempts,
                    "more attempts than the policy"
                );
                // DESIGN §11: every service it needs is ready (on its first slot, for a
                // service of scope "worker").
                for n in &s.needs {
                    let inst = ServiceInstance {
                        service: *n,
                        worker: (plan.service(*n).scope == Scope::Worker).then_some(slots[0]),
                    };
                    let l = self.svcs.get(&inst).unwrap_or_else(|| {
                        panic!("{} started before {inst:?} was started", s.name)
                    });
                    assert!(
                        l.ready && !l.stopped && !l.failed,
                        "{} started while {inst:?} is not ready",
                        s.name
                    );
                }
                let out = self
                    .script
                    .get(&(*suite, *attempt))
                    .cloned()
                    .unwrap_or_else(|| pass(1.0));
                let end = self.now + Duration::from_secs_f64(out.secs);
                let t = self.secs(self.now);
                self.trace.starts[suite.index()].push(t);
                self.live.insert(
                    *key,
                    Live {
                        suite: *suite,
                        slots: slots.clone(),
                        end,
                        verdict: out.verdict,
                        started_at: self.now,
                    },
                );
            }
            Command::Cancel(key) => {
                // SIGTERM takes a moment to end a process group.
                let soon = self.now + Duration::from_millis(100);
                let l = self.live.get_mut(key).expect("cancel of a running attempt");
                l.end = l.end.min(soon);
                l.verdict = Verdict::Cancel;
            }
            Command::KillAll => {
                self.hard = true;
                for l in self.live.values_mut() {
                    l.end = self.now;
                    l.verdict = Verdict::Cancel;
                }
            }
            Command::Retrying {
                suite,
                attempt,
                delay,
                ..
            } => {
                let s = plan.suite(*suite);
                assert!(
                    *attempt < s.retry.attempts,
                    "retry past the policy's attempts"
                );
                let full = s.retry.backoff(attempt + 1);
                if s.retry.jitter {
                    assert!(*delay <= full, "jitter above the backoff");
                } else {
                    assert_eq!(*delay, full, "backoff of {}", s.name);
                }
                self.in_backoff[suite.index()] = Some(self.now + *delay);
            }
            Command::Finished(id) => {
                let s = plan.suite(*id);
                assert!(
                    self.finished[id.index()].is_none(),
                    "{} finished twice",
                    s.name
                );
                assert!(
                    !self.live.values().any(|l| l.suite == *id),
                    "{} finished while running",
                    s.name
                );
                let r = self.core.result(*id);
                self.finished[id.index()] = Some(r.status);
                self.in_backoff[id.index()] = None;
                self.check_result(*id);
            }
            Command::Stopping(reason) => {
                if self.stopped == Some(CancelReason::Interrupted) || self.hard {
                    assert_eq!(*reason, CancelReason::Interrupted);
                }
                self.stopped = Some(*reason);
            }
            Command::Warning(_) | Command::AttemptEnded(_) | Command::ItemsHandedOn { .. } => {}
            Command::StartService(inst) => {
                let v = plan.service(inst.service);
                assert!(
                    !self.svcs.contains_key(inst),
                    "{inst:?} started twice in a run"
                );
                assert_eq!(
                    inst.worker.is_some(),
                    v.scope == Scope::Worker,
                    "{inst:?}: a worker only for scope worker"
                );
                assert!(
                    v.needed_by
                        .iter()
                        .any(|id| self.finished[id.index()].is_none()),
                    "{inst:?} started though no suite left needs it"
                );
                if let Some(w) = inst.worker {
                    let workers = self
                        .plan
                        .phases
                        .iter()
                        .map(|p| p.workers)
                        .max()
                        .unwrap_or(1);
                    assert!(w < workers, "{inst:?} beyond the workers");
                }
                let script = self
                    .svc_script
                    .get(&inst.service)
                    .copied()
                    .unwrap_or(SvcScript::Ready(0.5));
                let after = |secs: f64| self.now + Duration::from_secs_f64(secs);
                let (next, then_exits) = match script {
                    SvcScript::Ready(t) => ((after(t), true), None),
                    SvcScript::Fails(t) => ((after(t), false), None),
                    SvcScript::Exits(t, e) => ((after(t), true), Some(e)),
                };
                let started = self.secs(self.now);
                self.svcs.insert(
                    *inst,
                    SvcLive {
                        started,
                        next: Some(next),
                        ready: false,
                        stopped: false,
                        failed: false,
                        then_exits,
                    },
                );
            }
            Command::StopService(inst) => {
                let failed_service = self
                    .svcs
                    .iter()
                    .any(|(i, l)| i.service == inst.service && l.failed);
                let l = self
                    .svcs
                    .get_mut(inst)
                    .unwrap_or_else(|| panic!("{inst:?} stopped, never started"));
                assert!(!l.stopped, "{inst:?} stopped twice");
                l.stopped = true;
                l.next = None;
                let v = plan.service(inst.service);
                let unfinished = v
                    .needed_by
                    .iter()
                    .filter(|id| self.finished[id.index()].is_none())
                    .count();
                assert!(
                    unfinished == 0 || failed_service,
                    "{inst:?} stopped while {unfinished} suites that need it have not ended"
                );
            }
            Command::Answer { request, answer } => {
                let i = *request as usize;
                assert!(i < self.requests.len(), "an answer to no request");
                assert!(
                    !self.gone.contains_key(&i),
                    "request {i} answered after its process hung up"
                );
                let t = self.secs(self.now);
                let first = self.trace.answers.insert(i, (t, answer.clone()));
                assert!(first.is_none(), "request {i} answered twice");
            }
            Command::Claim(ids, _) => {
                panic!("{ids:?}: a run without a queue claims nothing")
            }
            Command::Release(id) | Command::HandBack(id, _) => {
                panic!(
                    "{}: a run without a queue claims nothing",
                    plan.suite(*id).name
                )
            }
            Command::StopTaking => panic!("a run without a queue takes no units"),
            Command::TestSlow { suite, .. } | Command::TestTimedOut { suite, .. } => {
                panic!(
                    "{}: no part tells its tests in a simulation",
                    plan.suite(*suite).name
                )
            }
            Command::Slow { suite, elapsed, .. } => {
                let s = plan.suite(*suite);
                assert!(
                    self.live.values().any(|l| l.suite == *suite),
                    "{} slow while not running",
                    s.name
                );
                assert!(
                    elapsed.as_secs_f64() + 1e-6 >= (s.expected * 2.0).max(s.expected + 10.0),
                    "{} slow too early",
                    s.name
                );
                assert!(
                    !self
                        .trace
                        .commands
                        .iter()
                        .any(|(_, c)| matches!(c, Command::Slow { suite: x, .. } if x == suite)),
                    "{} slow twice",
                    s.name
                );
            }
        }
    }

    /// A final result agrees with the rules that produced it.
    fn check_result(&self, id: SuiteId) {
        let plan = self.plan;
        let s = plan.suite(id);
        let r = self.core.result(id);
        if r.status == Status::Skipped {
            let reason = r.skip_reason.as_ref().expect("a skip has a reason");
            if let SkipReason::Dependency { name, ended } = reason {
                // Names a (transitive) dependency that really ended that way.
                let d = plan
                    .suites
                    .iter()
                    .find(|x| x.name == *name)
                    .expect("a suite");
                assert!(
                    depends_on(plan, id, d.id),
                    "{} skipped for a non-dependency",
                    s.name
                );
                let st = self.core.result(d.id).status;
                let ok = match ended {
                    DependencyEnd::Failed => st.is_failure(),
                    DependencyEnd::Cancelled => st == Status::Cancelled,
                    DependencyEnd::Skipped => st == Status::Skipped,
                };
                assert!(ok, "{} skipped: {reason}, but {name} is {st:?}", s.name);
            }
        } else if r.attempts == 0 {
            // Only a service it needs can fail a suite that never started.
            let message = r.error_message.clone().unwrap_or_default();
            assert!(
                r.status == Status::Failed
                    && s.needs
                        .iter()
                        .any(|n| message
                            .starts_with(&format!("service \"{}\"", plan.service(*n).name))),
                "{} ended {:?} without an attempt: {message}",
                s.name,
                r.status
            );
        }
        // A dependency that did not pass leaves its dependents nothing but a skip.
        for d in &s.depends_on {
            if let Some(st) = self.finished[d.index()] {
                if !st.is_pass() {
                    assert_eq!(
                        r.status,
                        Status::Skipped,
                        "{} ran though a dependency did not pass",
                        s.name
                    );
                    assert_eq!(r.attempts, 0);
                }
            }
        }
        if r.status == Status::Flaky {
            assert!(r.attempts >= 2);
        }
    }

    /// Every request got its answer (unless its process hung up first), never before it was
    /// asked; an `acquire` is refused only for more permits than the burst; and no limiter gave
    /// more tokens than its bucket holds: in any span of `t`, at most `burst + t / per_token`.
    fn check_socket(&self) {
        let plan = self.plan;
        for (i, (asked, what)) in self.requests.iter().enumerate() {
            let answer = self.trace.answers.get(&i);
            match what {
                Socket::Gone(_) => assert!(answer.is_none(), "hanging up is not answered"),
                Socket::Throttled(..) => {
                    assert_eq!(answer.map(|a| (a.0, &a.1)), Some((*asked, &Ok("ok"))));
                }
                Socket::Acquire(l, permits) => {
                    let Some((t, answer)) = answer else {
                        assert!(self.gone.contains_key(&i), "acquire {i} never answered");
                        continue;
                    };
                    assert!(t >= asked, "acquire {i} answered before it was asked");
                    let burst = plan.limiters[l.index()].burst;
                    assert_eq!(answer.is_ok(), *permits <= burst, "acquire {i}: {answer:?}");
                }
            }
        }
        for (l, grants) in self.host.granted.iter().enumerate() {
            let limiter = &plan.limiters[l];
            let per_token = limiter.per.as_secs_f64() / limiter.rate;
            for a in 0..grants.len() {
                let mut tokens = 0u32;
                for b in grants.iter().skip(a) {
                    tokens += b.1;
                    let span = b.0.saturating_duration_since(grants[a].0).as_secs_f64();
                    let most = f64::from(limiter.burst) + (span / per_token + 1e-6).floor();
                    assert!(
                        f64::from(tokens) <= most,
                        "limiter {} gave {tokens} tokens in {span} s (burst {}, one per {per_token} s)",
                        limiter.name,
                        limiter.burst
                    );
                }
            }
        }
    }

    /// While nothing stops the run, no slot stays free while a suite that needs nothing else
    /// could take it (no group at its cap, no limiter, no backoff, dependencies passed).
    fn check_idle(&self) {
        if self.stopped.is_some() || self.core.done() {
            return;
        }
        let plan = self.plan;
        let Some(phase) = plan
            .suites
            .iter()
            .filter(|s| self.finished[s.id.index()].is_none())
            .map(|s| s.phase.index())
            .min()
        else {
            return;
        };
        let workers = plan.phases[phase].workers;
        let used: u32 = self.live.values().map(|l| l.slots.len() as u32).sum();
        let free = workers - used;
        for s in &plan.suites {
            let i = s.id.index();
            if s.phase.index() != phase
                || self.finished[i].is_some()
                || self.in_backoff[i].is_some()
                || s.limiter.is_some()
                || self.live.values().any(|l| l.suite == s.id)
                || !s
                    .depends_on
                    .iter()
                    .all(|d| self.finished[d.index()].is_some_and(Status::is_pass))
                || !self.services_let_start(s, workers)
            {
                continue;
            }
            let need = if s.serial {
                workers
            } else {
                s.slots.min(workers)
            };
            let group_full = s.group.is_some_and(|g| {
                self.live
                    .values()
                    .filter(|l| plan.suite(l.suite).group == Some(g))
                    .count() as u32
                    >= plan.groups[g.index()].max
            });
            let budget = plan.memory_budget;
            let held: u64 = self
                .live
                .values()
                .filter_map(|l| plan.suite(l.suite).memory)
                .sum();
            let mine = s.memory.unwrap_or(0);
            let oversized_runs = self
                .live
                .values()
                .any(|l| plan.suite(l.suite).memory.unwrap_or(0) > budget);
            let memory_full = oversized_runs
                || (mine > budget && !self.live.is_empty())
                || (mine <= budget && held + mine > budget);
            assert!(
                group_full || need > free || memory_full,
                "{} waits with {free} free slots and nothing else to wait for",
                s.name
            );
        }
    }
}

impl Sim<'_> {
    /// Whether the services `s` needs would let it start now on some free slot.
    fn services_let_start(&self, s: &crate::plan::Suite, workers: u32) -> bool {
        let ready =
            |inst: ServiceInstance| self.svcs.get(&inst).is_some_and(|l| l.ready && !l.stopped);
        let busy: Vec<u32> = self.live.values().flat_map(|l| l.slots.clone()).collect();
        let run_ready = s.needs.iter().all(|n| {
            self.plan.service(*n).scope == Scope::Worker
                || ready(ServiceInstance {
                    service: *n,
                    worker: None,
                })
        });
        run_ready
            && (0..workers).filter(|w| !busy.contains(w)).any(|w| {
                s.needs.iter().all(|n| {
                    self.plan.service(*n).scope == Scope::Run
                        || ready(ServiceInstance {
                            service: *n,
                            worker: Some(w),
                        })
                })
            })
    }
}

fn depends_on(plan: &Plan, s: SuiteId, d: SuiteId) -> bool {
    let mut stack = plan.suite(s).depends_on.clone();
    let mut seen = vec![false; plan.suites.len()];
    while let Some(x) = stack.pop() {
        if x == d {
            return true;
        }
        if !std::mem::replace(&mut seen[x.index()], true) {
            stack.extend(plan.suite(x).depends_on.iter().copied());
        }
    }
    false
}

fn run(plan: &Plan, script: &[(&str, u32, Outcome)], signals: &[f64]) -> Trace {
    let script = script
        .iter()
        .map(|(n, a, o)| ((id(plan, n), *a), o.clone()))
        .collect();
    Sim::new(plan, script, signals.to_vec()).run()
}

/// [`run`] with fake services doing what `services` says (by name; else ready in 0.5 s).
fn run_with_services(
    plan: &Plan,
    script: &[(&str, u32, Outcome)],
    services: &[(&str, SvcScript)],
    signals: &[f64],
) -> Trace {
    let script = script
        .iter()
        .map(|(n, a, o)| ((id(plan, n), *a), o.clone()))
        .collect();
    let mut sim = Sim::new(plan, script, signals.to_vec());
    for (name, what) in services {
        let v = plan
            .services
            .iter()
            .find(|v| v.name == *name)
            .unwrap_or_else(|| panic!("no service {name}"));
        sim.svc_script.insert(v.id, *what);
    }
    sim.run()
}

fn status(plan: &Plan, t: &Trace, name: &str) -> (Status, Option<String>) {
    let (st, reason, _) = &t.statuses[id(plan, name).index()];
    (*st, reason.clone())
}

fn names(plan: &Plan, ids: &[SuiteId]) -> Vec<String> {
    ids.iter().map(|i| plan.suite(*i).name.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// DESIGN §3, rule by rule.

#[test]
fn rule1_a_suite_waits_for_its_dependencies() {
    let mut d = decls(4);
    d.suites.push(SuiteDecl {
        depends_on: vec!["a".into()],
        ..suite("b")
    });
    d.suites.push(suite("a"));
    let plan = plan_of(d);
    let t = run(&plan, &[("a", 1, pass(2.0))], &[]);
    assert_eq!(t.starts[id(&plan, "b").index()], [2.0]);
    assert_eq!(t.end, 3.0);
}

#[test]
fn rule1_a_group_at_its_cap_lets_others_start() {
    let mut d = decls(3);
    d.groups.push(group("g", 1));
    for n in ["g1", "g2"] {
        d.suites.push(SuiteDecl {
            group: Some("g".into()),
            ..suite(n)
        });
    }
    d.suites.push(suite("free"));
    let plan = plan_of(d);
    let t = run(&plan, &[], &[]);
    assert_eq!(t.starts[id(&plan, "free").index()], [0.0]);
    let g: Vec<f64> = ["g1", "g2"]
        .iter()
        .map(|n| t.starts[id(&plan, n).index()][0])
        .collect();
    assert!(g.contains(&0.0) && g.contains(&1.0), "{g:?}");
}

#[test]
fn rule1_a_serial_suite_runs_alone() {
    let mut d = decls(4);
    let short = Some(Duration::from_secs(1));
    d.suites.push(SuiteDecl {
        estimate: short,
        ..suite("a")
    });
    d.suites.push(SuiteDecl {
        serial: true,
        estimate: Some(Duration::from_secs(10)),
        ..suite("alone")
    });
    d.suites.push(SuiteDecl {
        estimate: short,
        ..suite("b")
    });
    let plan = plan_of(d);
    let t = run(&plan, &[], &[]);
    // The longest starts first, on every slot; the others after it.
    assert_eq!(t.starts[id(&plan, "alone").index()], [0.0]);
    assert_eq!(t.starts[id(&plan, "a").index()], [1.0]);
    let Command::Start { slots, .. } = &t.commands[0].1 else {
        panic!("{:?}", t.commands[0])
    };
    assert_eq!(slots, &[0, 1, 2, 3]);
}

fn memory(gb: f64) -> crate::plan::decl::MemoryDecl {
    crate::plan::decl::MemoryDecl::Bytes((gb * f64::from(1u32 << 30)) as u64)
}

#[test]
fn slow_once_past_twice_the_expected_duration_and_ten_seconds_over() {
    let mut d = decls(4);
    for (n, e) in [("short", 1), ("long", 30), ("fine", 30)] {
        d.suites.push(SuiteDecl {
            estimate: Some(Duration::from_secs(e)),
            retry: Some(RetryRef::Extra(1)),
            ..suite(n)
        });
    }
    d.suites.push(suite("unknown"));
    let plan = plan_of(d);
    let t = run(
        &plan,
        &[
            ("short", 1, fail(1, 20.0)),
            ("short", 2, pass(20.0)),
            ("long", 1, pass(70.0)),
            ("fine", 1, pass(59.0)),
            ("unknown", 1, pass(100.0)),
        ],
        &[],
    );
    let slow: Vec<(f64, String)> = t
        .commands
        .iter()
        .filter_map(|(at, c)| match c {
            Command::Slow { suite, .. } => Some((*at, plan.suite(*suite).name.clone())),
            _ => None,
        })
        .collect();
    // short: 1 s expected, slow at 11 s (not at 2 s), once although both attempts are slow;
    // long: 30 s expected, slow at 60 s; fine never passes 60 s; unknown has no expectation.
    assert_eq!(
        slow,
        [(11.0, "short".to_owned()), (60.0, "long".to_owned())]
    );
}

#[test]
fn memory_suites_that_do_not_fit_wait_without_holding_a_slot() {
    // 6 GB budget, 8 workers: four suites of 1.5 GB at once; the unlimited one starts anyway.
    let mut d = decls(8);
    d.config.memory = Some(6 << 30);
    for i in 0..8 {
        d.suites.push(SuiteDecl {
            memory: Some(memory(1.5)),
            estimate: Some(Duration::from_secs(2)),
            ..suite(&format!("m{i}"))
        });
    }
    d.suites.push(suite("free"));
    let plan = plan_of(d);
    let t = run(&plan, &[], &[]);
    let at: Vec<f64> = (0..8)
        .map(|i| t.starts[id(&plan, &format!("m{i}")).index()][0])
        .collect();
    assert_eq!(at.iter().filter(|s| **s == 0.0).count(), 4, "{at:?}");
    assert_eq!(at.iter().filter(|s| **s == 1.0).count(), 4, "{at:?}");
    assert_eq!(t.starts[id(&plan, "free").index()], [0.0]);
}

#[test]
fn memory_a_suite_larger_than_the_budget_runs_alone_with_a_warning() {
    let mut d = decls(4);
    d.config.memory = Some(2 << 30);
    d.suites.push(SuiteDecl {
        memory: Some(memory(3.0)),
        estimate: Some(Duration::from_secs(5)),
        ..suite("huge")
    });
    d.suites.push(suite("a"));
    d.suites.push(SuiteDecl {
        memory: Some(memory(1.0)),
        ..suite("b")
    });
    let plan = plan_of(d);
    let t = run(&plan, &[("huge", 1, pass(1.0))], &[]);
    // The longest starts first, alone; the others only after it.
    assert_eq!(t.starts[id(&plan, "huge").index()], [0.0]);
    assert_eq!(t.starts[id(&plan, "a").index()], [1.0]);
    assert_eq!(t.starts[id(&plan, "b").index()], [1.0]);
    let warned = t.commands.iter().any(|(_, c)| {
        matches!(c, Command::Warning(w) if w.contains("\"huge\" needs 3.0 GB") && w.contains("runs alone"))
    });
    assert!(warned, "{:?}", t.commands);
}

#[test]
fn memory_auto_is_the_peak_in_history_plus_a_fifth() {
    let mut d = decls(2);
    d.suites.push(SuiteDecl {
        memory: Some(crate::plan::decl::MemoryDecl::Auto),
        ..suite("learned")
    });
    d.suites.push(SuiteDecl {
        memory: Some(crate::plan::decl::MemoryDecl::Auto),
        ..suite("new")
    });
    let mut history = crate::history::History::default();
    history
        .suites
        .entry("learned".into())
        .or_default()
        .push(crate::history::record(
            Status::Passed,
            1,
            1.0,
            1,
            Some(1000),
            None,
        ));
    let none = |_: &str| None;
    let inputs = Inputs {
        overrides: &Overrides::default(),
        selection: &Selection::default(),
        env: &none,
        cpus: 4,
        history: &history,
        memory_available: &|| 5 << 30,
    };
    let plan = build(d, &inputs).unwrap();
    assert_eq!(plan.suite(id(&plan, "learned")).memory, Some(1200 * 1024));
    assert_eq!(plan.suite(id(&plan, "new")).memory, None);
    // No budget in the config: the machine's available memory.
    assert_eq!(plan.memory_budget, 5 << 30);
}

#[test]
fn rule1_a_suite_refused_by_its_limiter_holds_no_slot() {
    let mut d = decls(2);
    d.limiters
        .push(limiter("api", Duration::from_secs(5), 1, None));
    for n in ["l1", "l2"] {
        d.suites.push(SuiteDecl {
            limiter: Some("api".into()),
            estimate: Some(Duration::from_secs(3)),
            ..suite(n)
        });
    }
    d.suites.push(suite("other"));
    let plan = plan_of(d);
    let t = run(&plan, &[("l1", 1, pass(1.0)), ("l2", 1, pass(1.0))], &[]);
    // l2 waits 5 s for a token; meanwhile "other" takes the second slot at once.
    assert_eq!(t.starts[id(&plan, "l1").index()], [0.0]);
    assert_eq!(t.starts[id(&plan, "other").index()], [0.0]);
    assert_eq!(t.starts[id(&plan, "l2").index()], [5.0]);
}

#[test]
fn rule1_a_limiter_at_its_concurrency_waits_for_a_holder_to_end() {
    let mut d = decls(4);
    d.limiters
        .push(limiter("db", Duration::from_millis(1), 10, Some(1)));
    for n in ["a", "b"] {
        d.suites.push(SuiteDecl {
            limiter: Some("db".into()),
            ..suite(n)
        });
    }
    let plan = plan_of(d);
    let t = run(&plan, &[("a", 1, pass(2.0))], &[]);
    assert_eq!(t.starts[id(&plan, "b").index()], [2.0]);
}

/// A plan with one limiter, "api": one token every 5 s, a burst of `burst`, and suites that use
/// it.
fn api_plan(burst: u32, suites: &[&str]) -> Plan {
    let mut d = decls(4);
    d.limiters
        .push(limiter("api", Duration::from_secs(5), burst, None));
    for n in suites {
        d.suites.push(SuiteDecl {
            limiter: Some("api".into()),
            ..suite(n)
        });
    }
    plan_of(d)
}

fn answer_at(t: &Trace, request: usize) -> Option<(f64, crate::sched::core::Answer)> {
    t.answers.get(&request).cloned()
}

#[test]
fn socket_an_acquire_waits_for_its_token_in_the_cores_time() {
    let plan = api_plan(1, &[]);
    let api = LimiterId(0);
    let t = Sim::new(&plan, HashMap::new(), Vec::new())
        .with_socket(vec![
            (0.0, Socket::Acquire(api, 1)),
            (1.0, Socket::Acquire(api, 1)),
            (1.5, Socket::Acquire(api, 1)),
        ])
        .run();
    // One token every 5 s, served in the order asked.
    assert_eq!(answer_at(&t, 0), Some((0.0, Ok("ok"))));
    assert_eq!(answer_at(&t, 1), Some((5.0, Ok("ok"))));
    assert_eq!(answer_at(&t, 2), Some((10.0, Ok("ok"))));
}

#[test]
fn socket_a_waiting_acquire_goes_before_a_suite_that_has_not_started() {
    let plan = api_plan(1, &["a", "b"]);
    let t = Sim::new(&plan, HashMap::new(), Vec::new())
        .with_socket(vec![(0.5, Socket::Acquire(LimiterId(0), 1))])
        .run();
    // "a" takes the first token; the process asked before the next one, and gets it at 5 s;
    // "b" waits for the one after.
    assert_eq!(t.starts[id(&plan, "a").index()], [0.0]);
    assert_eq!(answer_at(&t, 0), Some((5.0, Ok("ok"))));
    assert_eq!(t.starts[id(&plan, "b").index()], [10.0]);
}

#[test]
fn socket_a_process_that_hangs_up_takes_no_token() {
    let plan = api_plan(1, &[]);
    let api = LimiterId(0);
    let t = Sim::new(&plan, HashMap::new(), Vec::new())
        .with_socket(vec![
            (0.0, Socket::Acquire(api, 1)),
            (1.0, Socket::Acquire(api, 1)),
            (2.0, Socket::Gone(1)),
            (3.0, Socket::Acquire(api, 1)),
        ])
        .run();
    assert_eq!(answer_at(&t, 1), None);
    // The token due at 5 s goes to the next one asking.
    assert_eq!(answer_at(&t, 3), Some((5.0, Ok("ok"))));
}

#[test]
fn socket_more_permits_than_the_burst_are_refused_at_once_and_hold_no_one_back() {
    let plan = api_plan(2, &[]);
    let api = LimiterId(0);
    let t = Sim::new(&plan, HashMap::new(), Vec::new())
        .with_socket(vec![
            (0.0, Socket::Acquire(api, 3)),
            (0.0, Socket::Acquire(api, 2)),
        ])
        .run();
    assert_eq!(
        answer_at(&t, 0),
        Some((
            0.0,
            Err("3 permits exceed the burst 2 of limiter \"api\"".into())
        ))
    );
    assert_eq!(answer_at(&t, 1), Some((0.0, Ok("ok"))));
}

#[test]
fn socket_a_retry_after_pauses_suites_and_processes_alike() {
    let plan = api_plan(4, &["late"]);
    let api = LimiterId(0);
    // The suite takes a token at 0 s; at 0.5 s a test reports a 429 with Retry-After 20.
    let mut script = HashMap::new();
    script.insert((id(&plan, "late"), 1), pass(0.25));
    let t = Sim::new(&plan, script, Vec::new())
        .with_socket(vec![
            (0.5, Socket::Throttled(api, Some(Duration::from_secs(20)))),
            (1.0, Socket::Acquire(api, 1)),
        ])
        .run();
    assert_eq!(answer_at(&t, 0), Some((0.5, Ok("ok"))));
    assert_eq!(answer_at(&t, 1), Some((20.5, Ok("ok"))));
}

#[test]
fn rule2_the_longest_remaining_path_starts_first_ties_by_declaration() {
    let mut d = decls(1);
    d.suites.push(suite("first"));
    d.suites.push(suite("second"));
    d.suites.push(SuiteDecl {
        estimate: Some(Duration::from_secs(1)),
        ..suite("head")
    });
    d.suites.push(SuiteDecl {
        depends_on: vec!["head".into()],
        estimate: Some(Duration::from_secs(1)),
        ..suite("tail")
    });
    d.suites[0].estimate = Some(Duration::from_secs(1));
    d.suites[1].estimate = Some(Duration::from_secs(1));
    let plan = plan_of(d);
    let t = run(&plan, &[], &[]);
    assert_eq!(
        names(&plan, &t.started()),
        ["head", "first", "second", "tail"]
    );
}

#[test]
fn rule2_a_group_with_much_waiting_work_counts_as_a_chain() {
    let mut d = decls(1);
    d.suites.push(SuiteDecl {
        estimate: Some(Duration::from_secs(2)),
        ..suite("alone")
    });
    d.groups.push(group("g", 1));
    for n in ["g1", "g2", "g3"] {
        d.suites.push(SuiteDecl {
            group: Some("g".into()),
            estimate: Some(Duration::from_secs(1)),
            ..suite(n)
        });
    }
    let plan = plan_of(d);
    let t = run(&plan, &[], &[]);
    assert_eq!(names(&plan, &t.started())[0], "g1");
}

#[test]
fn rule3_dependents_of_a_failure_are_skipped_transitively_naming_it() {
    let mut d = decls(2);
    d.suites.push(suite("base"));
    d.suites.push(SuiteDecl {
        depends_on: vec!["base".into()],
        ..suite("mid")
    });
    d.suites.push(SuiteDecl {
        depends_on: vec!["mid".into()],
        ..suite("top")
    });
    d.suites.push(suite("unrelated"));
    let plan = plan_of(d);
    let t = run(&plan, &[("base", 1, fail(1, 1.0))], &[]);
    let why = Some("dependency \"base\" failed".to_owned());
    assert_eq!(status(&plan, &t, "mid"), (Status::Skipped, why.clone()));
    assert_eq!(status(&plan, &t, "top"), (Status::Skipped, why));
    assert_eq!(status(&plan, &t, "unrelated").0, Status::Passed);
}

#[test]
fn rule3_a_timed_out_or_skipped_dependency_skips_too() {
    let mut d = decls(2);
    d.suites.push(suite("slow"));
    d.suites.push(SuiteDecl {
        depends_on: vec!["slow".into()],
        ..suite("after-slow")
    });
    d.suites.push(SuiteDecl {
        enabled: false,
        ..suite("off")
    });
    d.suites.push(SuiteDecl {
        depends_on: vec!["off".into()],
        ..suite("after-off")
    });
    let plan = plan_of(d);
    let t = run(&plan, &[("slow", 1, timeout(1.0))], &[]);
    assert_eq!(
        status(&plan, &t, "after-slow"),
        (Status::Skipped, Some("dependency \"slow\" failed".into()))
    );
    assert_eq!(
        status(&plan, &t, "after-off"),
        (
            Status::Skipped,
            Some("dependency \"off\" was skipped".into())
        )
    );
}

fn two_phases(on_failure: OnFailure, third_always: bool) -> Plan {
    let mut d = decls(2);
    d.phases.push(PhaseDecl {
        on_failure,
        ..phase("core")
    });
    d.phases.push(phase("main"));
    d.phases.push(PhaseDecl {
        always: third_always,
        ..phase("teardown")
    });
    for (n, p) in [("c", "core"), ("m", "main"), ("t", "teardown")] {
        d.suites.push(SuiteDecl {
            phase: Some(p.into()),
            ..suite(n)
        });
    }
    plan_of(d)
}

#[test]
fn rule4_a_failed_phase_skips_later_phases_except_always_ones() {
    let plan = two_phases(OnFailure::Stop, true);
    let t = run(&plan, &[("c", 1, fail(1, 1.0))], &[]);
    assert_eq!(
        status(&plan, &t, "m"),
        (Status::Skipped, Some("phase \"core\" failed".into()))
    );
    assert_eq!(status(&plan, &t, "t").0, Status::Passed);
    assert_eq!(t.starts[id(&plan, "t").index()], [1.0]);
}

#[test]
fn rule4_on_failure_continue_runs_later_phases() {
    let plan = two_phases(OnFailure::Continue, false);
    let t = run(&plan, &[("c", 1, fail(1, 1.0))], &[]);
    assert_eq!(status(&plan, &t, "m").0, Status::Passed);
    assert_eq!(status(&plan, &t, "t").0, Status::Passed);
}

#[test]
fn rule4_phases_are_barriers() {
    let plan = two_phases(OnFailure::Stop, false);
    let t = run(&plan, &[("c", 1, pass(3.0))], &[]);
    assert_eq!(t.starts[id(&plan, "m").index()], [3.0]);
    assert_eq!(t.starts[id(&plan, "t").index()], [4.0]);
}

fn fail_fast_plan() -> Plan {
    let mut d = decls(2);
    d.config.fail_fast = Some(true);
    d.phases.push(phase("main"));
    d.phases.push(PhaseDecl {
        always: true,
        ..phase("teardown")
    });
    for n in ["bad", "long", "later"] {
        d.suites.push(SuiteDecl {
            phase: Some("main".into()),
            ..suite(n)
        });
    }
    d.suites.push(SuiteDecl {
        phase: Some("teardown".into()),
        ..suite("down")
    });
    plan_of(d)
}

#[test]
fn rule5_fail_fast_cancels_what_runs_and_skips_the_rest_but_not_always_phases() {
    let plan = fail_fast_plan();
    let t = run(
        &plan,
        &[("bad", 1, fail(1, 1.0)), ("long", 1, pass(9.0))],
        &[],
    );
    assert_eq!(status(&plan, &t, "bad").0, Status::Failed);
    assert_eq!(status(&plan, &t, "long").0, Status::Cancelled);
    assert_eq!(
        status(&plan, &t, "later"),
        (Status::Skipped, Some("fail-fast".into()))
    );
    assert_eq!(status(&plan, &t, "down").0, Status::Passed);
    assert!(
        t.commands
            .iter()
            .any(|(_, c)| *c == Command::Stopping(CancelReason::FailFast))
    );
    assert!(
        t.commands
            .iter()
            .any(|(_, c)| matches!(c, Command::Cancel(_)))
    );
}

#[test]
fn rule6_a_timeout_ends_timed_out_and_counts_as_a_failure() {
    let mut d = decls(1);
    d.config.fail_fast = Some(true);
    d.suites.push(suite("t"));
    d.suites.push(suite("u"));
    let plan = plan_of(d);
    let t = run(&plan, &[("t", 1, timeout(1.0))], &[]);
    assert_eq!(status(&plan, &t, "t").0, Status::TimedOut);
    assert_eq!(status(&plan, &t, "u").0, Status::Skipped);
}

fn retried(attempts: u32, delay: f64, factor: f64) -> Declarations {
    let mut d = decls(2);
    d.retries.push(RetryDecl {
        origin: origin(1),
        name: Some("again".into()),
        policy: crate::plan::RetryPolicy {
            attempts,
            delay: Duration::from_secs_f64(delay),
            factor,
            ..crate::plan::RetryPolicy::once()
        },
    });
    d.suites.push(SuiteDecl {
        retry: Some(RetryRef::Named("again".into())),
        ..suite("r")
    });
    d
}

#[test]
fn rule7_failed_then_passed_is_flaky() {
    let plan = plan_of(retried(3, 0.0, 1.0));
    let t = run(&plan, &[("r", 1, fail(1, 1.0))], &[]);
    assert_eq!(status(&plan, &t, "r").0, Status::Flaky);
    assert_eq!(t.statuses[0].2, 2);
}

#[test]
fn retry_backoff_grows_and_frees_the_slot_while_waiting() {
    let mut d = retried(3, 2.0, 2.0);
    d.config.workers = Some(workers(1));
    d.suites.push(SuiteDecl {
        estimate: Some(Duration::from_millis(100)),
        ..suite("other")
    });
    let plan = plan_of(d);
    let t = run(
        &plan,
        &[
            ("r", 1, fail(1, 1.0)),
            ("r", 2, fail(1, 1.0)),
            ("other", 1, pass(1.0)),
        ],
        &[],
    );
    // r fails at 1, waits 2 s (other runs on the slot meanwhile), fails at 4, waits 4 s.
    assert_eq!(t.starts[id(&plan, "r").index()], [0.0, 3.0, 8.0]);
    assert_eq!(t.starts[id(&plan, "other").index()], [1.0]);
    assert_eq!(status(&plan, &t, "r").0, Status::Flaky);
}

#[test]
fn retry_stops_at_the_policy_attempts() {
    let plan = plan_of(retried(2, 0.0, 1.0));
    let t = run(
        &plan,
        &[("r", 1, fail(1, 1.0)), ("r", 2, fail(2, 1.0))],
        &[],
    );
    assert_eq!(status(&plan, &t, "r").0, Status::Failed);
    assert_eq!(t.statuses[0].2, 2);
}

#[test]
fn retry_only_what_the_policy_names() {
    let mut d = retried(3, 0.0, 1.0);
    d.retries[0].policy.on_exit_codes = vec![75];
    let plan = plan_of(d);
    let t = run(
        &plan,
        &[("r", 1, fail(75, 1.0)), ("r", 2, fail(1, 1.0))],
        &[],
    );
    assert_eq!(status(&plan, &t, "r").0, Status::Failed);
    assert_eq!(t.statuses[0].2, 2, "75 retried, 1 not");
    let plan = plan_of(retried(3, 0.0, 1.0));
    let t = run(&plan, &[("r", 1, timeout(1.0))], &[]);
    assert_eq!(
        status(&plan, &t, "r").0,
        Status::TimedOut,
        "no timeout retry by default"
    );
}

#[test]
fn retry_on_output_asks_the_host_for_the_output() {
    let mut d = retried(2, 0.0, 1.0);
    d.retries[0].policy.on_output = vec!["429".into()];
    let plan = plan_of(d);
    let script = HashMap::from([((id(&plan, "r"), 1), fail(1, 1.0))]);
    let mut sim = Sim::new(&plan, script.clone(), Vec::new());
    sim.host.output = b"HTTP 429 Too Many".to_vec();
    assert_eq!(sim.run().statuses[0].0, Status::Flaky);
    let sim = Sim::new(&plan, script, Vec::new());
    assert_eq!(sim.run().statuses[0].0, Status::Failed);
}

#[test]
fn retry_when_predicate_decides_and_its_error_is_a_warning() {
    let mut d = retried(2, 0.0, 1.0);
    d.retries[0].policy.when = Some(0);
    let plan = plan_of(d);
    let script = HashMap::from([((id(&plan, "r"), 1), fail(1, 1.0))]);
    let mut sim = Sim::new(&plan, script, Vec::new());
    sim.host.judge = Err("boom".into());
    let t = sim.run();
    assert_eq!(t.statuses[0].0, Status::Failed);
    assert!(t.commands.iter().any(|(_, c)| matches!(c,
        Command::Warning(m) if m == "retry predicate of suite \"r\" raised an error: boom")));
}

#[test]
fn retry_is_not_attempted_after_a_stop() {
    let mut d = retried(3, 5.0, 1.0);
    d.config.fail_fast = Some(true);
    d.suites.push(SuiteDecl {
        estimate: Some(Duration::from_secs(9)),
        ..suite("bad")
    });
    let plan = plan_of(d);
    let t = run(
        &plan,
        &[("bad", 1, fail(1, 0.5)), ("r", 1, fail(1, 1.0))],
        &[],
    );
    // r was cancelled at 0.5 by fail-fast; a cancel is not retried.
    assert_eq!(status(&plan, &t, "r").0, Status::Cancelled);
    assert_eq!(t.statuses[id(&plan, "r").index()].2, 1);
}

#[test]
fn a_suite_skipped_during_its_backoff_keeps_its_attempts() {
    let mut d = retried(3, 5.0, 1.0);
    d.config.fail_fast = Some(true);
    d.suites.push(suite("bad"));
    let plan = plan_of(d);
    let t = run(
        &plan,
        &[("r", 1, fail(1, 0.5)), ("bad", 1, fail(1, 2.0))],
        &[],
    );
    assert_eq!(
        t.statuses[id(&plan, "r").index()],
        (Status::Skipped, Some("fail-fast".into()), 1)
    );
}

#[test]
fn rule8_a_signal_stops_like_fail_fast_and_always_phases_still_run() {
    let plan = fail_fast_plan();
    let t = run(
        &plan,
        &[("bad", 1, pass(5.0)), ("long", 1, pass(5.0))],
        &[1.0],
    );
    assert_eq!(status(&plan, &t, "bad").0, Status::Cancelled);
    assert_eq!(
        status(&plan, &t, "later"),
        (Status::Skipped, Some("interrupted".into()))
    );
    assert_eq!(status(&plan, &t, "down").0, Status::Passed);
    assert!(!t.commands.iter().any(|(_, c)| *c == Command::KillAll));
}

#[test]
fn rule8_a_second_signal_kills_everything_and_skips_always_phases() {
    let plan = fail_fast_plan();
    let t = run(&plan, &[("down", 1, pass(5.0))], &[0.5, 0.55]);
    assert!(t.commands.iter().any(|(_, c)| *c == Command::KillAll));
    assert_eq!(
        status(&plan, &t, "down"),
        (Status::Skipped, Some("interrupted".into()))
    );
}

#[test]
fn rule8_a_second_signal_during_an_always_phase_kills_it() {
    let plan = fail_fast_plan();
    let t = run(&plan, &[("down", 1, pass(5.0))], &[1.5, 2.0]);
    assert_eq!(status(&plan, &t, "down").0, Status::Cancelled);
}

#[test]
fn rule1_a_flaky_dependency_counts_as_passed() {
    let mut d = retried(2, 0.0, 1.0);
    d.suites.push(SuiteDecl {
        depends_on: vec!["r".into()],
        ..suite("after")
    });
    let plan = plan_of(d);
    let t = run(&plan, &[("r", 1, fail(1, 1.0))], &[]);
    assert_eq!(status(&plan, &t, "r").0, Status::Flaky);
    assert_eq!(status(&plan, &t, "after").0, Status::Passed);
    // After the second attempt, which passed at 2 s.
    assert_eq!(t.starts[id(&plan, "after").index()], [2.0]);
}

#[test]
fn rule1_a_suite_waiting_for_slots_lets_narrower_ready_suites_start() {
    let mut d = decls(2);
    d.suites.push(SuiteDecl {
        estimate: Some(Duration::from_secs(20)),
        ..suite("long")
    });
    d.suites.push(SuiteDecl {
        slots: 2,
        estimate: Some(Duration::from_secs(10)),
        ..suite("wide")
    });
    d.suites.push(SuiteDecl {
        estimate: Some(Duration::from_secs(1)),
        ..suite("small")
    });
    let plan = plan_of(d);
    let t = run(
        &plan,
        &[
            ("long", 1, pass(4.0)),
            ("wide", 1, pass(1.0)),
            ("small", 1, pass(1.0)),
        ],
        &[],
    );
    // wide ranks above small but needs both slots: small takes the free one meanwhile.
    assert_eq!(t.starts[id(&plan, "long").index()], [0.0]);
    assert_eq!(t.starts[id(&plan, "small").index()], [0.0]);
    assert_eq!(t.starts[id(&plan, "wide").index()], [4.0]);
    assert_eq!(t.end, 5.0);
}

#[test]
fn rule1_a_phase_with_its_own_worker_count_runs_no_more_at_once() {
    let mut d = decls(4);
    d.phases.push(PhaseDecl {
        workers: Some(workers(1)),
        ..phase("narrow")
    });
    d.phases.push(phase("wide"));
    for (n, p) in [
        ("n1", "narrow"),
        ("n2", "narrow"),
        ("w1", "wide"),
        ("w2", "wide"),
    ] {
        d.suites.push(SuiteDecl {
            phase: Some(p.into()),
            ..suite(n)
        });
    }
    let plan = plan_of(d);
    let t = run(&plan, &[], &[]);
    assert_eq!(t.starts[id(&plan, "n1").index()], [0.0]);
    assert_eq!(t.starts[id(&plan, "n2").index()], [1.0]);
    assert_eq!(t.starts[id(&plan, "w1").index()], [2.0]);
    assert_eq!(t.starts[id(&plan, "w2").index()], [2.0]);
}

#[test]
fn rule1_a_group_with_a_higher_cap_runs_that_many_at_once() {
    let mut d = decls(4);
    d.groups.push(group("pair", 2));
    for n in ["p1", "p2", "p3"] {
        d.suites.push(SuiteDecl {
            group: Some("pair".into()),
            ..suite(n)
        });
    }
    let plan = plan_of(d);
    let t = run(&plan, &[], &[]);
    let firsts: Vec<f64> = ["p1", "p2", "p3"]
        .iter()
        .map(|n| t.starts[id(&plan, n).index()][0])
        .collect();
    assert_eq!(firsts, [0.0, 0.0, 1.0]);
}

#[test]
fn rule3_a_dependency_skipped_by_the_command_line_skips_its_dependents() {
    let mut d = decls(2);
    d.suites.push(suite("build"));
    d.suites.push(SuiteDecl {
        depends_on: vec!["build".into()],
        ..suite("test")
    });
    let none = |_: &str| None;
    let history = crate::history::History::default();
    let selection = Selection {
        skip: vec!["build".into()],
        ..Selection::default()
    };
    let inputs = Inputs {
        overrides: &Overrides::default(),
        selection: &selection,
        env: &none,
        cpus: 4,
        history: &history,
        memory_available: &|| 16 << 30,
    };
    let plan = build(d, &inputs).unwrap();
    let t = run(&plan, &[], &[]);
    assert_eq!(
        status(&plan, &t, "build"),
        (Status::Skipped, Some("--skip".into()))
    );
    assert_eq!(
        status(&plan, &t, "test"),
        (
            Status::Skipped,
            Some("dependency \"build\" was skipped".into())
        )
    );
    assert!(t.started().is_empty());
}

#[test]
fn rule4_a_flaky_phase_is_not_a_failed_one() {
    let mut d = retried(2, 0.0, 1.0);
    d.phases.push(phase("core"));
    d.phases.push(phase("main"));
    d.suites[0].phase = Some("core".into());
    d.suites.push(SuiteDecl {
        phase: Some("main".into()),
        ..suite("m")
    });
    let plan = plan_of(d);
    let t = run(&plan, &[("r", 1, fail(1, 1.0))], &[]);
    assert_eq!(status(&plan, &t, "r").0, Status::Flaky);
    assert_eq!(status(&plan, &t, "m").0, Status::Passed);
}

#[test]
fn rule4_a_stop_skips_every_later_phase_naming_the_one_that_failed() {
    let mut d = decls(2);
    for p in ["one", "two", "three"] {
        d.phases.push(phase(p));
    }
    for (n, p) in [("a", "one"), ("b", "two"), ("c", "three")] {
        d.suites.push(SuiteDecl {
            phase: Some(p.into()),
            ..suite(n)
        });
    }
    let plan = plan_of(d);
    let t = run(&plan, &[("a", 1, timeout(1.0))], &[]);
    let why = Some("phase \"one\" failed".to_owned());
    assert_eq!(status(&plan, &t, "b"), (Status::Skipped, why.clone()));
    assert_eq!(status(&plan, &t, "c"), (Status::Skipped, why));
    assert_eq!(t.end, 1.0);
}

#[test]
fn rule4_a_failure_in_a_continue_phase_does_not_stop_a_later_phase_that_passes() {
    let mut d = decls(2);
    d.phases.push(PhaseDecl {
        on_failure: OnFailure::Continue,
        ..phase("lenient")
    });
    d.phases.push(phase("strict"));
    d.phases.push(phase("last"));
    for (n, p) in [("l", "lenient"), ("s", "strict"), ("z", "last")] {
        d.suites.push(SuiteDecl {
            phase: Some(p.into()),
            ..suite(n)
        });
    }
    let plan = plan_of(d);
    let t = run(&plan, &[("l", 1, fail(1, 1.0))], &[]);
    assert_eq!(status(&plan, &t, "l").0, Status::Failed);
    assert_eq!(status(&plan, &t, "s").0, Status::Passed);
    assert_eq!(status(&plan, &t, "z").0, Status::Passed);
}

#[test]
fn rule4_a_disabled_phase_is_skipped_and_stops_nothing() {
    let mut d = decls(2);
    d.phases.push(PhaseDecl {
        enabled: false,
        ..phase("stress")
    });
    d.phases.push(phase("after"));
    d.suites.push(SuiteDecl {
        phase: Some("stress".into()),
        ..suite("s")
    });
    d.suites.push(SuiteDecl {
        phase: Some("after".into()),
        ..suite("a")
    });
    let plan = plan_of(d);
    let t = run(&plan, &[], &[]);
    assert_eq!(
        status(&plan, &t, "s"),
        (Status::Skipped, Some("phase \"stress\" disabled".into()))
    );
    assert_eq!(status(&plan, &t, "a").0, Status::Passed);
    assert_eq!(t.starts[id(&plan, "a").index()], [0.0]);
}

#[test]
fn rule5_without_fail_fast_a_failure_stops_nothing_else() {
    let mut d = decls(1);
    for n in ["bad", "next", "last"] {
        d.suites.push(suite(n));
    }
    let plan = plan_of(d);
    let t = run(&plan, &[("bad", 1, fail(2, 1.0))], &[]);
    assert_eq!(status(&plan, &t, "bad").0, Status::Failed);
    assert_eq!(status(&plan, &t, "next").0, Status::Passed);
    assert_eq!(status(&plan, &t, "last").0, Status::Passed);
    assert!(
        !t.commands
            .iter()
            .any(|(_, c)| matches!(c, Command::Stopping(_)))
    );
}

#[test]
fn rule5_fail_fast_stops_only_once() {
    let plan = fail_fast_plan();
    let t = run(
        &plan,
        &[("bad", 1, fail(1, 1.0)), ("long", 1, fail(1, 1.0))],
        &[],
    );
    let stops = t
        .commands
        .iter()
        .filter(|(_, c)| matches!(c, Command::Stopping(_)))
        .count();
    assert_eq!(stops, 1);
    // Cancelled by the first failure; its own failure on the way out changes nothing.
    assert_eq!(status(&plan, &t, "long").0, Status::Cancelled);
    assert_eq!(
        status(&plan, &t, "later"),
        (Status::Skipped, Some("fail-fast".into()))
    );
}

#[test]
fn rule6_a_timeout_is_retried_when_the_policy_says_so() {
    let mut d = retried(2, 0.0, 1.0);
    d.retries[0].policy.on_timeout = true;
    let plan = plan_of(d);
    let t = run(&plan, &[("r", 1, timeout(1.0))], &[]);
    assert_eq!(status(&plan, &t, "r").0, Status::Flaky);
    let t = run(
        &plan,
        &[("r", 1, timeout(1.0)), ("r", 2, timeout(1.0))],
        &[],
    );
    assert_eq!(t.statuses[0], (Status::TimedOut, None, 2));
}

#[test]
fn rule7_backoff_is_capped_by_max_delay() {
    let mut d = retried(4, 2.0, 10.0);
    d.retries[0].policy.max_delay = Duration::from_secs(5);
    let plan = plan_of(d);
    let t = run(
        &plan,
        &[
            ("r", 1, fail(1, 1.0)),
            ("r", 2, fail(1, 1.0)),
            ("r", 3, fail(1, 1.0)),
        ],
        &[],
    );
    // Waits 2 s, then min(20, 5) s, then min(200, 5) s.
    assert_eq!(t.starts[0], [0.0, 3.0, 9.0, 15.0]);
    assert_eq!(t.statuses[0], (Status::Flaky, None, 4));
}

#[test]
fn rule8_a_signal_before_anything_ends_skips_the_rest_as_interrupted() {
    let mut d = decls(1);
    for n in ["a", "b", "c"] {
        d.suites.push(suite(n));
    }
    let plan = plan_of(d);
    let t = run(&plan, &[("a", 1, pass(10.0))], &[0.5]);
    assert_eq!(status(&plan, &t, "a").0, Status::Cancelled);
    for n in ["b", "c"] {
        assert_eq!(
            status(&plan, &t, n),
            (Status::Skipped, Some("interrupted".into()))
        );
    }
    assert!(
        t.commands
            .iter()
            .any(|(_, c)| *c == Command::Stopping(CancelReason::Interrupted))
    );
    assert!(t.end < 1.0, "cancelled soon after the signal: {}", t.end);
}

#[test]
fn slots_and_worker_indexes_lowest_free_first() {
    let mut d = decls(3);
    d.suites.push(SuiteDecl {
        slots: 2,
        estimate: Some(Duration::from_secs(5)),
        ..suite("wide")
    });
    d.suites.push(suite("narrow"));
    let plan = plan_of(d);
    let t = run(&plan, &[], &[]);
    let slots: Vec<Vec<u32>> = t
        .commands
        .iter()
        .filter_map(|(_, c)| match c {
            Command::Start { slots, .. } => Some(slots.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(slots, [vec![0, 1], vec![2]]);
}

#[test]
fn an_empty_plan_is_done_at_once() {
    let plan = plan_of(decls(2));
    let mut core = Core::new(&plan, no_logs(&plan), 0);
    let mut host = FakeHost::new(&plan, Instant::now());
    let c = core.step(Input::Begin, Instant::now(), &mut host);
    assert!(c.is_empty());
    assert!(core.done());
}

#[test]
fn an_unknown_attempt_key_changes_nothing() {
    let mut d = decls(1);
    d.suites.push(suite("a"));
    let plan = plan_of(d);
    let mut core = Core::new(&plan, no_logs(&plan), 0);
    let mut host = FakeHost::new(&plan, Instant::now());
    let now = Instant::now();
    let first = core.step(Input::Begin, now, &mut host);
    assert_eq!(first.len(), 1);
    let ended = Ended {
        key: 99,
        verdict: Verdict::Pass,
        started: std::time::SystemTime::UNIX_EPOCH,
        duration: Duration::ZERO,
        peak_rss_kb: None,
        cpu_time: None,
        output: (0, 0),
        testcases: None,
        exports: Vec::new(),
    };
    assert!(core.step(Input::Ended(ended), now, &mut host).is_empty());
    assert_eq!(core.running(), 1);
}

// ---------------------------------------------------------------------------------------------
// Random plans and outcomes.

#[derive(Debug, Clone)]
struct Gen {
    workers: u32,
    fail_fast: bool,
    /// (workers, on_failure continue, always)
    phases: Vec<(Option<u32>, bool, bool)>,
    groups: Vec<u32>,
    /// (seconds per token, burst, concurrency)
    limiters: Vec<(u32, u32, Option<u32>)>,
    suites: Vec<GenSuite>,
    signals: Vec<u8>,
    /// (scope worker, what it does: 0 ready / 1 fails / 2 ready then exits, tenths, tenths)
    services: Vec<(bool, u8, u8, u8)>,
    /// Socket requests: (tenths of a second, kind, limiter, permits or Retry-After seconds)
    socket: Vec<(u8, u8, u8, u8)>,
}

#[derive(Debug, Clone)]
struct GenSuite {
    phase: usize,
    /// Indexes of earlier suites (kept only when in the same or an earlier phase).
    deps: Vec<usize>,
    group: Option<usize>,
    limiter: Option<usize>,
    slots: u32,
    serial: bool,
    enabled: bool,
    estimate: Option<u8>,
    /// Memory in GB (the generated plans' budget is 6 GB).
    memory: Option<u8>,
    /// (attempts, delay tenths, factor, jitter, on timeout, only exit code 75)
    retry: Option<(u32, u8, u8, bool, bool, bool)>,
    /// Per attempt: (kind 0 pass / 1 fail 1 / 2 fail 75 / 3 timeout / 4 signal, tenths).
    outcomes: Vec<(u8, u8)>,
    /// Indexes of the services it needs (kept only when that many are declared).
    needs: Vec<usize>,
}

fn gen_suite(phases: usize, groups: usize, limiters: usize) -> impl Strategy<Value = GenSuite> {
    (
        0..phases,
        proptest::collection::vec(0usize..12, 0..3),
        proptest::option::weighted(0.4, 0..groups.max(1)),
        proptest::option::weighted(0.25, 0..limiters.max(1)),
        prop_oneof![4 => Just(1u32), 1 => 2u32..4],
        proptest::bool::weighted(0.08),
        proptest::bool::weighted(0.95),
        proptest::option::of(1u8..6),
        proptest::option::weighted(
            0.3,
            (
                2u32..4,
                0u8..20,
                1u8..3,
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            ),
        ),
        proptest::collection::vec((0u8..5, 0u8..30), 3),
        proptest::option::weighted(0.3, 1u8..8),
        proptest::collection::vec(0usize..2, 0..2),
    )
        .prop_map(
            move |(
                phase,
                deps,
                group,
                limiter,
                slots,
                serial,
                enabled,
                estimate,
                retry,
                outcomes,
                memory,
                needs,
            )| {
                GenSuite {
                    phase,
                    deps,
                    group: group.filter(|_| groups > 0),
                    limiter: limiter.filter(|_| limiters > 0),
                    slots,
                    serial,
                    enabled,
                    estimate,
                    retry,
                    outcomes,
                    memory,
                    needs,
                }
            },
        )
}

fn gen_plan() -> impl Strategy<Value = Gen> {
    (1usize..4, 0usize..3, 0usize..3, 1usize..12).prop_flat_map(|(np, ng, nl, ns)| {
        (
            1u32..5,
            proptest::bool::weighted(0.3),
            proptest::collection::vec(
                (
                    proptest::option::of(1u32..4),
                    any::<bool>(),
                    proptest::bool::weighted(0.3),
                ),
                np,
            ),
            proptest::collection::vec(1u32..3, ng),
            proptest::collection::vec((1u32..4, 1u32..3, proptest::option::of(1u32..3)), nl),
            proptest::collection::vec(gen_suite(np, ng, nl), ns),
            proptest::collection::vec(0u8..60, 0..3),
            proptest::collection::vec(
                (
                    any::<bool>(),
                    prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
                    0u8..20,
                    0u8..40,
                ),
                0..3,
            ),
            proptest::collection::vec((0u8..80, 0u8..10, 0u8..3, 0u8..4), 0..6),
        )
            .prop_map(
                |(
                    workers,
                    fail_fast,
                    phases,
                    groups,
                    limiters,
                    suites,
                    signals,
                    services,
                    socket,
                )| Gen {
                    workers,
                    fail_fast,
                    phases,
                    groups,
                    limiters,
                    suites,
                    signals,
                    services,
                    socket,
                },
            )
    })
}

impl Gen {
    fn plan(&self) -> Plan {
        let mut d = decls(self.workers);
        d.config.fail_fast = Some(self.fail_fast);
        d.config.memory = Some(6 << 30);
        for (i, (w, cont, always)) in self.phases.iter().enumerate() {
            d.phases.push(PhaseDecl {
                workers: w.map(workers),
                on_failure: if *cont {
                    OnFailure::Continue
                } else {
                    OnFailure::Stop
                },
                always: *always,
                ..phase(&format!("p{i}"))
            });
        }
        for (i, max) in self.groups.iter().enumerate() {
            d.groups.push(group(&format!("g{i}"), *max));
        }
        for (i, (secs, burst, conc)) in self.limiters.iter().enumerate() {
            d.limiters.push(limiter(
                &format!("l{i}"),
                Duration::from_secs(u64::from(*secs)),
                *burst,
                *conc,
            ));
        }
        for (i, (worker, ..)) in self.services.iter().enumerate() {
            d.services.push(ServiceDecl {
                scope: if *worker { Scope::Worker } else { Scope::Run },
                ..service(&format!("v{i}"))
            });
        }
        for (i, s) in self.suites.iter().enumerate() {
            let retry = s
                .retry
                .map(|(attempts, delay, factor, jitter, on_timeout, only75)| {
                    d.retries.push(RetryDecl {
                        origin: origin(1),
                        name: None,
                        policy: crate::plan::RetryPolicy {
                            attempts,
                            delay: Duration::from_millis(u64::from(delay) * 100),
                            factor: f64::from(factor),
                            max_delay: Duration::from_secs(3),
                            jitter,
                            on_timeout,
                            on_exit_codes: if only75 { vec![75] } else { Vec::new() },
                            ..crate::plan::RetryPolicy::once()
                        },
                    });
                    RetryRef::Policy(d.retries.len() - 1)
                });
            let mut deps: Vec<String> = s
                .deps
                .iter()
                .filter(|&&j| j < i && self.suites[j].phase <= s.phase)
                .map(|j| format!("s{j}"))
                .collect();
            deps.dedup();
            deps.sort();
            deps.dedup();
            d.suites.push(SuiteDecl {
                phase: Some(format!("p{}", s.phase)),
                depends_on: deps,
                group: s.group.map(|g| format!("g{g}")),
                limiter: s.limiter.map(|l| format!("l{l}")),
                slots: s.slots,
                serial: s.serial,
                enabled: s.enabled,
                estimate: s.estimate.map(|e| Duration::from_secs(u64::from(e))),
                memory: s
                    .memory
                    .map(|g| crate::plan::decl::MemoryDecl::Bytes(u64::from(g) << 30)),
                retry,
                needs: {
                    let mut n: Vec<String> = s
                        .needs
                        .iter()
                        .filter(|&&v| v < self.services.len())
                        .map(|v| format!("v{v}"))
                        .collect();
                    n.dedup();
                    n
                },
                ..suite(&format!("s{i}"))
            });
        }
        plan_of(d)
    }

    fn svc_script(&self) -> HashMap<ServiceId, SvcScript> {
        self.services
            .iter()
            .enumerate()
            .map(|(i, (_, kind, a, b))| {
                let (a, b) = (f64::from(*a) / 10.0, f64::from(*b) / 10.0);
                let script = match kind {
                    0 => SvcScript::Ready(a),
                    1 => SvcScript::Fails(a),
                    _ => SvcScript::Exits(a, b),
                };
                (ServiceId(i as u32), script)
            })
            .collect()
    }

    fn sim<'p>(&self, plan: &'p Plan) -> Sim<'p> {
        let mut sim = Sim::new(plan, self.script(), self.signals());
        sim.svc_script = self.svc_script();
        sim
    }

    fn script(&self) -> HashMap<(SuiteId, u32), Outcome> {
        let mut script = HashMap::new();
        for (i, s) in self.suites.iter().enumerate() {
            for (a, (kind, tenths)) in s.outcomes.iter().enumerate() {
                let secs = f64::from(*tenths) / 10.0;
                let verdict = match kind {
                    0 => Verdict::Pass,
                    1 | 2 => Verdict::Fail {
                        code: Some(if *kind == 1 { 1 } else { 75 }),
                        signal: None,
                        message: None,
                    },
                    3 => Verdict::Timeout,
                    _ => Verdict::Fail {
                        code: None,
                        signal: Some(9),
                        message: Some("killed by signal 9".into()),
                    },
                };
                script.insert((SuiteId(i as u32), a as u32 + 1), Outcome { verdict, secs });
            }
        }
        script
    }

    /// Mostly acquires of 0 to 3 permits, some 429 reports, some processes hanging up on an
    /// earlier request; none without a limiter.
    fn socket(&self) -> Vec<(f64, Socket)> {
        if self.limiters.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<(f64, Socket)> = Vec::new();
        for &(tenths, kind, limiter, n) in &self.socket {
            let at = f64::from(tenths) / 10.0;
            let l = LimiterId(u32::from(limiter) % self.limiters.len() as u32);
            let what = match kind {
                0..=5 => Socket::Acquire(l, u32::from(n).max(1)),
                6 | 7 => Socket::Throttled(l, (n > 0).then(|| Duration::from_secs(u64::from(n)))),
                // Hanging up comes after what it hangs up on.
                _ => match out
                    .iter()
                    .position(|(_, w)| matches!(w, Socket::Acquire(..)))
                {
                    Some(i) => {
                        let at = at.max(out[i].0);
                        out.push((at, Socket::Gone(i)));
                        continue;
                    }
                    None => Socket::Acquire(l, 1),
                },
            };
            out.push((at, what));
        }
        out
    }

    fn signals(&self) -> Vec<f64> {
        let mut s: Vec<f64> = self.signals.iter().map(|t| f64::from(*t) / 10.0).collect();
        s.sort_by(f64::total_cmp);
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every invariant of the core (checked inside `Sim` after every step) holds for random
    /// plans and outcomes, and the same inputs give the same commands.
    #[test]
    fn random_runs_keep_every_invariant(g in gen_plan()) {
        let plan = g.plan();
        let first = g.sim(&plan).with_socket(g.socket()).run();
        let again = g.sim(&plan).with_socket(g.socket()).run();
        prop_assert_eq!(&first, &again);
        // Without a stop or a signal everything ends: passed, flaky, failed or skipped.
        if g.signals.is_empty() && !g.fail_fast {
            prop_assert!(first.statuses.iter().all(|s| s.0 != Status::Cancelled));
        }
        // `ptest plan`'s prediction is the core too: with every attempt passing in its
        // expected time, the run starts suites in the predicted order. Whole seconds, so that
        // the prediction's float sums and the fake runner's nanoseconds tie where the other
        // ties (a mean of estimates such as 7/3 s need not).
        let mut whole = g.clone();
        for s in &mut whole.suites {
            s.estimate.get_or_insert(1);
            // The prediction's services are ready at once; the fake ones take their time.
            s.needs.clear();
        }
        let plan = whole.plan();
        let (predicted, _) = super::super::simulate::simulate(&plan);
        let all_pass: HashMap<(SuiteId, u32), Outcome> = plan
            .suites
            .iter()
            .map(|s| ((s.id, 1), pass(s.expected)))
            .collect();
        if plan.limiters.is_empty() {
            let real = Sim::new(&plan, all_pass, Vec::new()).run();
            let order: Vec<SuiteId> = predicted.iter().map(|p| p.id).collect();
            prop_assert_eq!(real.started(), order);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ready queue and worker slots the core admits through (`queue.rs`), directly.

fn queue_plan(workers_: u32) -> Plan {
    let mut d = decls(workers_);
    d.groups.push(group("g", 1));
    for (n, est, g) in [
        ("short", 1, None),
        ("long", 5, None),
        ("g-a", 2, Some("g")),
        ("g-b", 2, Some("g")),
        ("g-c", 2, Some("g")),
        ("tie-1", 3, None),
        ("tie-2", 3, None),
    ] {
        d.suites.push(SuiteDecl {
            estimate: Some(Duration::from_secs(est)),
            group: g.map(str::to_owned),
            ..suite(n)
        });
    }
    plan_of(d)
}

fn pop_all(plan: &Plan, q: &mut Queue) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(id) = q.pop(plan, |_| Admit::Yes) {
        out.push(plan.suite(id).name.clone());
        q.finished(plan, id);
    }
    out
}

#[test]
fn queue_pops_the_longest_path_first_and_ties_by_declaration() {
    let plan = queue_plan(4);
    let mut q = Queue::new(&plan);
    for n in ["short", "tie-2", "long", "tie-1"] {
        q.push(&plan, id(&plan, n));
    }
    assert_eq!(pop_all(&plan, &mut q), ["long", "tie-1", "tie-2", "short"]);
    assert!(q.is_empty());
}

#[test]
fn queue_skips_a_group_at_its_cap_until_a_member_ends() {
    let plan = queue_plan(4);
    let mut q = Queue::new(&plan);
    for n in ["g-a", "g-b", "short"] {
        q.push(&plan, id(&plan, n));
    }
    // The group (6 s of waiting work, max 1) outweighs "short"; then its cap holds.
    let first = q.pop(&plan, |_| Admit::Yes).unwrap();
    assert_eq!(plan.suite(first).name, "g-a");
    let second = q.pop(&plan, |_| Admit::Yes).unwrap();
    assert_eq!(plan.suite(second).name, "short");
    assert_eq!(q.pop(&plan, |_| Admit::Yes), None, "g-b waits for g-a");
    q.finished(&plan, first);
    let third = q.pop(&plan, |_| Admit::Yes).unwrap();
    assert_eq!(plan.suite(third).name, "g-b");
}

#[test]
fn queue_keeps_what_admit_refuses_and_drops_what_it_discards() {
    let plan = queue_plan(4);
    let mut q = Queue::new(&plan);
    let (long, short) = (id(&plan, "long"), id(&plan, "short"));
    q.push(&plan, long);
    q.push(&plan, short);
    // "long" refused: the next best is offered in the same call.
    let got = q.pop(&plan, |s| if s == long { Admit::No } else { Admit::Yes });
    assert_eq!(got, Some(short));
    assert!(!q.is_empty(), "the refused suite stays queued");
    // Discarded: it leaves without being returned.
    assert_eq!(q.pop(&plan, |_| Admit::Discard), None);
    assert!(q.is_empty());
}

#[test]
fn queue_group_priority_follows_the_work_still_waiting() {
    let plan = queue_plan(4);
    let (ga, long) = (id(&plan, "g-a"), id(&plan, "long"));
    // All three members waiting: 2 + (6 - 2) / 1 = 6 s beats "long" (5 s).
    let mut q = Queue::new(&plan);
    q.push(&plan, ga);
    q.push(&plan, long);
    assert_eq!(q.pop(&plan, |_| Admit::Yes), Some(ga));
    // Two members skipped: their work no longer waits, so the group weighs 2 s.
    let mut q = Queue::new(&plan);
    q.forget_work(&plan, id(&plan, "g-b"));
    q.forget_work(&plan, id(&plan, "g-c"));
    q.push(&plan, ga);
    q.push(&plan, long);
    assert_eq!(q.pop(&plan, |_| Admit::Yes), Some(long));
    // A retried member waits again and weighs again.
    q.add_work(&plan, id(&plan, "g-b"));
    q.add_work(&plan, id(&plan, "g-c"));
    q.push(&plan, long);
    assert_eq!(q.pop(&plan, |_| Admit::Yes), Some(ga));
}

#[test]
fn slots_ignore_releases_of_free_or_unknown_indexes() {
    let mut s = Slots::new(2);
    assert_eq!(s.take(0), Some(vec![]));
    assert_eq!(s.take(3), None, "more than there are");
    let got = s.take(1).unwrap();
    s.release(&[1, 7]);
    assert_eq!(s.free(), 1, "slot 1 was free, 7 does not exist");
    s.release(&got);
    s.release(&got);
    assert_eq!(s.free(), 2, "a double release frees once");
    assert_eq!(s.total(), 2);
}

#[test]
fn the_same_inputs_give_the_same_commands() {
    let mut d = decls(2);
    d.groups.push(group("g", 1));
    d.limiters
        .push(limiter("api", Duration::from_millis(700), 2, Some(1)));
    d.config.fail_fast = Some(false);
    for i in 0..8 {
        d.suites.push(SuiteDecl {
            group: (i % 3 == 0).then(|| "g".to_owned()),
            limiter: (i % 4 == 1).then(|| "api".to_owned()),
            depends_on: if i > 2 {
                vec![format!("s{}", i - 3)]
            } else {
                Vec::new()
            },
            ..suite(&format!("s{i}"))
        });
    }
    let plan = plan_of(d);
    let script = [
        ("s1", 1, fail(1, 0.3)),
        ("s4", 1, pass(2.5)),
        ("s2", 1, timeout(1.0)),
    ];
    let a = run(&plan, &script, &[]);
    let b = run(&plan, &script, &[]);
    assert_eq!(a, b);
    assert_eq!(
        status(&plan, &a, "s5").0,
        Status::Skipped,
        "s5 depends on s2, which timed out"
    );
}

// ---------------------------------------------------------------------------------------------
// DESIGN §11: services, started for the suites that need them, stopped when none is left.

fn needing(name: &str, services: &[&str]) -> SuiteDecl {
    SuiteDecl {
        needs: services.iter().map(|s| (*s).to_owned()).collect(),
        ..suite(name)
    }
}

/// Service commands of a trace: (time, start?, instance).
fn service_commands(t: &Trace) -> Vec<(f64, bool, ServiceInstance)> {
    t.commands
        .iter()
        .filter_map(|(at, c)| match c {
            Command::StartService(i) => Some((*at, true, *i)),
            Command::StopService(i) => Some((*at, false, *i)),
            _ => None,
        })
        .collect()
}

fn message(plan: &Plan, t: &Trace, name: &str) -> Option<String> {
    t.messages[id(plan, name).index()].clone()
}

/// The figure of issue 28: 100 suites needing a per-worker service at -j 4 make exactly four
/// instances, one per worker, each started once and stopped after the last of them.
#[test]
fn services_a_worker_service_starts_once_per_worker_and_stops_after_its_last_suite() {
    let mut d = decls(4);
    d.services.push(ServiceDecl {
        scope: Scope::Worker,
        ..service("db")
    });
    for i in 0..100 {
        d.suites.push(needing(&format!("t{i}"), &["db"]));
    }
    d.suites.push(SuiteDecl {
        estimate: Some(Duration::from_secs(1)),
        ..suite("free")
    });
    let plan = plan_of(d);
    let t = run_with_services(&plan, &[("free", 1, pass(0.2))], &[], &[]);
    let cmds = service_commands(&t);
    let starts: Vec<Option<u32>> = cmds.iter().filter(|c| c.1).map(|c| c.2.worker).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(sorted, [Some(0), Some(1), Some(2), Some(3)], "{cmds:?}");
    // All four start side by side, at once: one per free slot, while the suites wait.
    assert!(cmds.iter().filter(|c| c.1).all(|c| c.0 == 0.0), "{cmds:?}");
    let last_end = t.end;
    let stops: Vec<f64> = cmds.iter().filter(|c| !c.1).map(|c| c.0).collect();
    assert_eq!(stops.len(), 4);
    assert!(
        stops.iter().all(|&s| s == last_end),
        "{stops:?} vs {last_end}"
    );
    // Holds no slot: the suite that needs nothing ran while the services started.
    assert_eq!(t.starts[id(&plan, "free").index()], [0.0]);
    assert!(t.statuses.iter().all(|s| s.0 == Status::Passed));
}

/// A service of scope "run" starts when the first suite that needs it is about to start (not
/// with the run), and stops when the last one ends, while others still run.
#[test]
fn services_start_lazily_and_stop_when_no_suite_left_needs_them() {
    let mut d = decls(2);
    d.services.push(service("db"));
    d.suites.push(suite("build"));
    d.suites.push(SuiteDecl {
        depends_on: vec!["build".into()],
        ..needing("api", &["db"])
    });
    d.suites.push(suite("long"));
    let plan = plan_of(d);
    let t = run_with_services(
        &plan,
        &[
            ("build", 1, pass(2.0)),
            ("api", 1, pass(1.0)),
            ("long", 1, pass(9.0)),
        ],
        &[("db", SvcScript::Ready(0.5))],
        &[],
    );
    let db = ServiceInstance {
        service: ServiceId(0),
        worker: None,
    };
    assert_eq!(service_commands(&t), [(2.0, true, db), (3.5, false, db)]);
    assert_eq!(t.starts[id(&plan, "api").index()], [2.5]);
    assert_eq!(t.end, 9.0);
}

/// Not ready in time: every suite that needs it and has not started fails with the service's
/// words (and the end of its log in its own), is not retried, and its dependents are skipped;
/// the rest of the run goes on.
#[test]
fn services_not_ready_fail_the_suites_that_need_them() {
    let mut d = decls(2);
    d.services.push(service("db"));
    d.suites.push(SuiteDecl {
        retry: Some(RetryRef::Extra(2)),
        ..needing("a", &["db"])
    });
    d.suites.push(needing("b", &["db"]));
    d.suites.push(SuiteDecl {
        depends_on: vec!["a".into()],
        ..suite("after-a")
    });
    d.suites.push(suite("free"));
    let plan = plan_of(d);
    let t = run_with_services(&plan, &[], &[("db", SvcScript::Fails(5.0))], &[]);
    for n in ["a", "b"] {
        assert_eq!(status(&plan, &t, n).0, Status::Failed, "{n}");
        assert_eq!(
            message(&plan, &t, n).as_deref(),
            Some("service \"db\" not ready after 5s")
        );
        assert_eq!(t.statuses[id(&plan, n).index()].2, 0, "{n} never started");
    }
    assert_eq!(
        status(&plan, &t, "after-a"),
        (Status::Skipped, Some("dependency \"a\" failed".into()))
    );
    assert_eq!(status(&plan, &t, "free").0, Status::Passed);
    let mut noted: Vec<(String, bool)> = t
        .notes
        .iter()
        .map(|(s, _, append)| (plan.suite(*s).name.clone(), *append))
        .collect();
    noted.sort();
    assert_eq!(noted, [("a".into(), false), ("b".into(), false)]);
}

/// An instance that exits while suites run on it: they are stopped and fail with its words
/// (the end of its log after their own output); suites on another worker's instance go on.
#[test]
fn services_exiting_while_needed_fail_the_suites_on_them() {
    let mut d = decls(2);
    d.services.push(ServiceDecl {
        scope: Scope::Worker,
        ..service("db")
    });
    d.suites.push(needing("on0", &["db"]));
    d.suites.push(needing("on1", &["db"]));
    d.suites.push(needing("later", &["db"]));
    let plan = plan_of(d);
    // Both instances are ready at 0.5 s and exit 1 s later; the suites would run 3 s.
    let t = run_with_services(
        &plan,
        &[("on0", 1, pass(3.0)), ("on1", 1, pass(3.0))],
        &[("db", SvcScript::Exits(0.5, 1.0))],
        &[],
    );
    for n in ["on0", "on1"] {
        assert_eq!(status(&plan, &t, n).0, Status::Failed, "{n}");
        assert_eq!(
            message(&plan, &t, n).as_deref(),
            Some("service \"db\" exited with 1")
        );
    }
    assert_eq!(status(&plan, &t, "later").0, Status::Failed);
    assert_eq!(t.statuses[id(&plan, "later").index()].2, 0);
    // The stopped attempts got the service's log after theirs; `later` in a fresh log.
    let appended = t.notes.iter().filter(|n| n.2).count();
    assert_eq!(appended, 2, "{:?}", t.notes);
    assert!(t.end < 3.0, "stopped, not run out: {}", t.end);
}

/// Fail-fast and signals stop services too, once the suites that need them have ended.
#[test]
fn services_stop_after_a_fail_fast_once_their_suites_end() {
    let mut d = decls(2);
    d.config.fail_fast = Some(true);
    d.services.push(service("db"));
    d.suites.push(suite("bad"));
    d.suites.push(needing("uses", &["db"]));
    d.suites.push(needing("waits", &["db"]));
    let plan = plan_of(d);
    let t = run_with_services(
        &plan,
        &[("bad", 1, fail(1, 1.0)), ("uses", 1, pass(9.0))],
        &[("db", SvcScript::Ready(0.1))],
        &[],
    );
    assert_eq!(status(&plan, &t, "uses").0, Status::Cancelled);
    assert_eq!(
        status(&plan, &t, "waits"),
        (Status::Skipped, Some("fail-fast".into()))
    );
    let cmds = service_commands(&t);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(cmds[1].0 >= 1.1 - 1e-9 && !cmds[1].1, "{cmds:?}");
}

/// A service needed only by suites that do not run is never started.
#[test]
fn services_needed_by_nothing_that_runs_never_start() {
    let mut d = decls(2);
    d.services.push(service("db"));
    d.suites.push(SuiteDecl {
        enabled: false,
        ..needing("off", &["db"])
    });
    d.suites.push(suite("on"));
    let plan = plan_of(d);
    let t = run_with_services(&plan, &[], &[], &[]);
    assert!(service_commands(&t).is_empty());
}

/// Two services of scope "worker" meet on one slot; one of scope "run" is shared.
#[test]
fn services_of_both_scopes_meet_on_one_worker() {
    let mut d = decls(3);
    d.services.push(ServiceDecl {
        scope: Scope::Worker,
        ..service("db")
    });
    d.services.push(ServiceDecl {
        scope: Scope::Worker,
        ..service("cache")
    });
    d.services.push(service("web"));
    for i in 0..6 {
        d.suites
            .push(needing(&format!("t{i}"), &["db", "cache", "web"]));
    }
    let plan = plan_of(d);
    let t = run_with_services(&plan, &[], &[("cache", SvcScript::Ready(1.0))], &[]);
    let starts: Vec<ServiceInstance> = service_commands(&t)
        .into_iter()
        .filter(|c| c.1)
        .map(|c| c.2)
        .collect();
    assert_eq!(starts.len(), 3 + 3 + 1, "{starts:?}");
    assert!(t.statuses.iter().all(|s| s.0 == Status::Passed));
    // Nothing starts before its slowest service (the cache, 1 s).
    assert!(t.starts.iter().flatten().all(|&s| s >= 1.0));
}

// ---------------------------------------------------------------------------------------------
// Per-test SLOW and `test_timeout` (a batch part's tests, as the part tells them).

/// One batch `b` of these items in one part, tests slow past 5 s, `test_timeout` and
/// `skip_test` as given.
fn test_timeout_plan(items: &[&str], timeout: Option<u64>, skip: bool, fail_fast: bool) -> Plan {
    let mut d = decls(1);
    d.config.fail_fast = Some(fail_fast);
    let mut s = suite("b");
    s.cmd = crate::command::CommandLine::Argv(vec!["run".into(), "{items}".into()]);
    s.batch = Some(Box::new(crate::plan::decl::BatchDecl {
        items: items.iter().map(|i| (*i).to_owned()).collect(),
        batches: Some(1),
        results: Some("{tmpdir}/r.xml".into()),
        slice: None,
        test: Some("{item}::{test}".into()),
        only_tests: HashMap::new(),
        list: None,
        test_timeout: timeout.map(Duration::from_secs),
        test_slow: Some(Duration::from_secs(5)),
        skip_test: skip.then(|| "{item}::ptest-skip::{test}".into()),
        warm: None,
    }));
    d.suites.push(s);
    plan_of(d)
}

/// Drives the core by hand in virtual time (seconds from `base`).
struct ByHand<'p> {
    plan: &'p Plan,
    core: Core<'p>,
    host: FakeHost,
    base: Instant,
}

impl<'p> ByHand<'p> {
    fn new(plan: &'p Plan) -> Self {
        let base = Instant::now();
        ByHand {
            plan,
            core: Core::new(plan, no_logs(plan), 7),
            host: FakeHost::new(plan, base),
            base,
        }
    }

    fn at(&self, secs: f64) -> Instant {
        self.base + Duration::from_secs_f64(secs)
    }

    fn step(&mut self, input: Input, secs: f64) -> Vec<Command> {
        let now = self.at(secs);
        self.core.step(input, now, &mut self.host)
    }

    fn started(&mut self, name: &str, secs: f64) -> Vec<Command> {
        let suite = self.plan.suites[0].id;
        let name = name.to_owned();
        self.step(Input::TestStarted { suite, name }, secs)
    }

    /// The attempt ends at `secs` with these tests told (name, passed).
    fn ended(
        &mut self,
        key: AttemptKey,
        verdict: Verdict,
        told: &[&str],
        secs: f64,
    ) -> Vec<Command> {
        let part = self.plan.suites[0].part.as_deref().unwrap();
        let tests: Vec<(String, crate::record::Outcome)> = told
            .iter()
            .map(|t| ((*t).to_owned(), crate::record::Outcome::Passed))
            .collect();
        let ended = Ended {
            key,
            verdict,
            started: std::time::SystemTime::UNIX_EPOCH,
            duration: Duration::from_secs_f64(secs),
            peak_rss_kb: None,
            cpu_time: None,
            output: (0, 0),
            testcases: Some(crate::batch::case::told(&tests, &part.items)),
            exports: Vec::new(),
        };
        self.step(Input::Ended(ended), secs)
    }
}

fn start_key(commands: &[Command]) -> AttemptKey {
    commands
        .iter()
        .find_map(|c| match c {
            Command::Start { key, .. } => Some(*key),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no start in {commands:?}"))
}

#[test]
fn a_test_past_test_slow_is_said_slow_once_by_name_and_one_that_ended_never() {
    let plan = test_timeout_plan(&["a.py", "b.py"], None, false, false);
    let id = plan.suites[0].id;
    let mut r = ByHand::new(&plan);
    let key = start_key(&r.step(Input::Begin, 0.0));
    // The part's own SLOW (twice its expected duration) comes later than its tests'.
    let part_slow = r.core.next_slow();
    assert!(part_slow.is_some_and(|t| t >= r.at(10.0)), "{part_slow:?}");
    // Told as started a fifth of a second in; it ends before its 5 s.
    assert!(r.started("a.py::test_quick", 0.2).is_empty());
    assert_eq!(r.core.next_slow(), Some(r.at(5.2)));
    assert!(r.core.test_running(id, "a.py::test_quick"));
    r.step(
        Input::TestEnded {
            suite: id,
            name: "a.py::test_quick".into(),
        },
        1.0,
    );
    assert_eq!(r.core.next_slow(), part_slow);
    r.started("b.py::TestX::test_long", 1.5);
    assert_eq!(r.core.next_slow(), Some(r.at(6.5)));
    assert!(r.step(Input::Timer(Timer::Slow), 6.4).is_empty());
    assert_eq!(
        r.step(Input::Timer(Timer::Slow), 6.5),
        [Command::TestSlow {
            suite: id,
            test: "b.py::TestX::test_long".into(),
            elapsed: Duration::from_secs(5),
        }]
    );
    // Once; no timeout without `test_timeout`.
    assert_eq!(r.core.next_slow(), part_slow);
    let later = r.step(Input::Timer(Timer::Slow), 60.0);
    assert!(
        later.iter().all(|c| matches!(c, Command::Slow { .. })),
        "{later:?}"
    );
    let done = r.ended(key, Verdict::Pass, &["a.py::test_quick"], 61.0);
    assert!(done.contains(&Command::Finished(id)), "{done:?}");
    assert_eq!(r.core.result(id).status, Status::Passed);
}

#[test]
fn a_test_past_test_timeout_stops_its_part_which_runs_its_unfinished_items_without_it() {
    let plan = test_timeout_plan(&["a.py", "b.py", "c.py"], Some(10), true, false);
    let id = plan.suites[0].id;
    let mut r = ByHand::new(&plan);
    let key = start_key(&r.step(Input::Begin, 0.0));
    r.started("b.py::TestX::test_hang", 1.0);
    assert_eq!(r.core.next_slow(), Some(r.at(6.0)));
    let slow = r.step(Input::Timer(Timer::Slow), 6.0);
    assert!(matches!(slow[..], [Command::TestSlow { .. }]), "{slow:?}");
    assert_eq!(r.core.next_slow(), Some(r.at(11.0)));
    assert_eq!(
        r.step(Input::Timer(Timer::Slow), 11.0),
        [
            Command::TestTimedOut {
                suite: id,
                test: "b.py::TestX::test_hang".into(),
                after: Duration::from_secs(10),
            },
            Command::Cancel(key),
        ]
    );
    // Stopping: nothing more is due for its tests.
    assert!(r.core.next_slow().is_none_or(|t| t != r.at(11.0)));
    // a.py ended whole; of b.py one test ran before the one that hung; c.py never started.
    let after = r.ended(
        key,
        Verdict::Cancel,
        &["a.py::test_a", "b.py::TestX::test_ok"],
        11.5,
    );
    assert_eq!(after[0], Command::AttemptEnded(id));
    let Command::Retrying {
        attempt: 1,
        delay: Duration::ZERO,
        reason,
        ..
    } = &after[1]
    else {
        panic!("{after:?}")
    };
    assert_eq!(
        reason,
        "test b.py::TestX::test_hang timed out after 10.0s (test_timeout); 2 items that had not \
         finished run again"
    );
    let detail = r.core.last_attempt(id).unwrap();
    assert_eq!(detail.status, Status::TimedOut);
    assert_eq!(r.core.next_backoff(), Some(r.at(11.5)));
    let again = start_key(&r.step(Input::Timer(Timer::Backoff), 11.5));
    // b.py without what ran of it and the test that hung; c.py whole.
    assert_eq!(r.core.items_of(again), Some(&[1, 2][..]));
    assert_eq!(
        r.core.skips_of(again),
        [
            (1, "TestX::test_ok".to_owned()),
            (1, "TestX::test_hang".to_owned())
        ]
    );
    let done = r.ended(
        again,
        Verdict::Pass,
        &["b.py::TestX::test_after", "c.py::test_c"],
        13.0,
    );
    assert!(done.contains(&Command::Finished(id)), "{done:?}");
    let result = r.core.result(id);
    assert_eq!(result.status, Status::TimedOut);
    assert_eq!(result.attempts, 2);
    assert_eq!(
        result.error_message.as_deref(),
        Some("test b.py::TestX::test_hang timed out after 10.0s (test_timeout)")
    );
    // Every test once: what ran before, the one that hung (failed, "timeout"), what ran after.
    let mut cases: Vec<(String, &str, Option<&str>)> = result
        .testcases
        .iter()
        .map(|c| (c.display(), c.outcome.label(), c.kind.as_deref()))
        .collect();
    cases.sort();
    assert_eq!(
        cases,
        [
            ("a.py::test_a".into(), "passed", None),
            ("b.py::TestX::test_after".into(), "passed", None),
            ("b.py::TestX::test_hang".into(), "failed", Some("timeout")),
            ("b.py::TestX::test_ok".into(), "passed", None),
            ("c.py::test_c".into(), "passed", None),
        ]
    );
}

#[test]
fn a_test_timeout_uses_none_of_the_retry_attempts_and_its_test_is_not_retried() {
    let mut d = decls(1);
    d.retries.push(RetryDecl {
        origin: origin(1),
        name: Some("again".into()),
        policy: crate::plan::RetryPolicy {
            attempts: 2,
            delay: Duration::from_secs(1),
            factor: 1.0,
            ..crate::plan::RetryPolicy::once()
        },
    });
    let mut s = suite("b");
    s.retry = Some(RetryRef::Named("again".into()));
    s.cmd = crate::command::CommandLine::Argv(vec!["run".into(), "{items}".into()]);
    s.batch = Some(Box::new(crate::plan::decl::BatchDecl {
        items: vec!["a.py".into(), "b.py".into()],
        batches: Some(1),
        results: Some("{tmpdir}/r.xml".into()),
        slice: None,
        test: None,
        only_tests: HashMap::new(),
        list: None,
        test_timeout: Some(Duration::from_secs(10)),
        test_slow: None,
        skip_test: Some("{item}::ptest-skip::{test}".into()),
        warm: None,
    }));
    d.suites.push(s);
    let plan = plan_of(d);
    let id = plan.suites[0].id;
    let mut r = ByHand::new(&plan);
    let key = start_key(&r.step(Input::Begin, 0.0));
    r.started("a.py::test_hang", 1.0);
    r.step(Input::Timer(Timer::Slow), 11.0);
    r.ended(key, Verdict::Cancel, &[], 11.0);
    let again = start_key(&r.step(Input::Timer(Timer::Backoff), 11.0));
    assert_eq!(r.core.items_of(again), Some(&[0, 1][..]));
    assert_eq!(r.core.skips_of(again), [(0, "test_hang".to_owned())]);
    // The second attempt fails: the policy's one retry is still there, and it does not run
    // the test that hung.
    let failed = r.ended(
        again,
        Verdict::Fail {
            code: Some(1),
            signal: None,
            message: None,
        },
        &[],
        12.0,
    );
    assert!(
        failed
            .iter()
            .any(|c| matches!(c, Command::Retrying { attempt: 2, .. })),
        "{failed:?}"
    );
    let third = start_key(&r.step(Input::Timer(Timer::Backoff), 100.0));
    assert_eq!(r.core.items_of(third), None);
    assert_eq!(r.core.skips_of(third), [(0, "test_hang".to_owned())]);
    let done = r.ended(
        third,
        Verdict::Pass,
        &["a.py::test_x", "b.py::test_y"],
        101.0,
    );
    assert!(done.contains(&Command::Finished(id)), "{done:?}");
    assert_eq!(r.core.result(id).status, Status::TimedOut);
    assert_eq!(r.core.result(id).attempts, 3);
}

#[test]
fn a_test_that_is_its_item_ends_with_it_and_without_skip_test_its_item_does_not_run_again() {
    // cargo's items are its tests: the item ended with its test.
    let plan = test_timeout_plan(&["it/one", "it/two", "it/three"], Some(10), false, false);
    let id = plan.suites[0].id;
    let mut r = ByHand::new(&plan);
    let key = start_key(&r.step(Input::Begin, 0.0));
    r.started("it/two", 1.0);
    r.step(Input::Timer(Timer::Slow), 6.0);
    r.step(Input::Timer(Timer::Slow), 11.0);
    let after = r.ended(key, Verdict::Cancel, &["it/one"], 11.0);
    assert!(
        after.iter().all(|c| !matches!(c, Command::Warning(_))),
        "{after:?}"
    );
    let again = start_key(&r.step(Input::Timer(Timer::Backoff), 11.0));
    assert_eq!(r.core.items_of(again), Some(&[2][..]));
    assert!(r.core.skips_of(again).is_empty());
    r.ended(again, Verdict::Pass, &["it/three"], 12.0);
    assert_eq!(r.core.result(id).status, Status::TimedOut);
    assert_eq!(r.core.result(id).testcases.len(), 3);

    // A file's test, and no `skip_test`: the rest of its file cannot run without it.
    let plan = test_timeout_plan(&["a.py", "b.py"], Some(10), false, false);
    let mut r = ByHand::new(&plan);
    let key = start_key(&r.step(Input::Begin, 0.0));
    r.started("a.py::test_hang", 1.0);
    r.step(Input::Timer(Timer::Slow), 11.0);
    let after = r.ended(key, Verdict::Cancel, &[], 11.0);
    assert!(
        after.contains(&Command::Warning(
            "suite \"b[1]\": the tests of a.py after a.py::test_hang do not run again: the batch \
             has no skip_test to leave that test out"
                .into()
        )),
        "{after:?}"
    );
    let again = start_key(&r.step(Input::Timer(Timer::Backoff), 11.0));
    assert_eq!(r.core.items_of(again), Some(&[1][..]));
}

#[test]
fn with_fail_fast_a_test_timeout_ends_the_suite_at_once() {
    let plan = test_timeout_plan(&["a.py", "b.py"], Some(10), true, true);
    let id = plan.suites[0].id;
    let mut r = ByHand::new(&plan);
    let key = start_key(&r.step(Input::Begin, 0.0));
    r.started("a.py::test_hang", 1.0);
    r.step(Input::Timer(Timer::Slow), 11.0);
    let after = r.ended(key, Verdict::Cancel, &[], 11.0);
    assert!(after.contains(&Command::Finished(id)), "{after:?}");
    assert_eq!(r.core.result(id).status, Status::TimedOut);
    assert!(r.core.done());
}

// ---------------------------------------------------------------------------------------------
// Items handed on (DESIGN §9): a part that runs well past its expected time hands the items it
// has not claimed to a part of its batch about to start.

/// Batch `b`: eight items in four parts, on two workers.
fn hand_on_plan() -> Plan {
    hand_on_plan_of(8, 4)
}

/// Batch `b`: `items` items (t1.py, ...) in `parts` parts, on two workers.
fn hand_on_plan_of(items: usize, parts: u32) -> Plan {
    let mut d = decls(2);
    let mut s = suite("b");
    s.cmd = crate::command::CommandLine::Argv(vec!["run".into(), "{items}".into()]);
    s.batch = Some(Box::new(crate::plan::decl::BatchDecl {
        items: (1..=items).map(|i| format!("t{i}.py")).collect(),
        batches: Some(parts),
        results: Some("{tmpdir}/r.xml".into()),
        slice: None,
        test: None,
        only_tests: HashMap::new(),
        list: None,
        test_timeout: None,
        test_slow: None,
        skip_test: None,
        warm: None,
    }));
    d.suites.push(s);
    plan_of(d)
}

impl ByHand<'_> {
    fn claim(&mut self, suite: SuiteId, item: &str, request: RequestId, secs: f64) -> &'static str {
        let out = self.step(
            Input::ItemClaim {
                request,
                suite,
                item: item.to_owned(),
            },
            secs,
        );
        match &out[..] {
            [
                Command::Answer {
                    request: r,
                    answer: Ok(word),
                },
            ] if *r == request => word,
            other => panic!("{other:?}"),
        }
    }

    /// Attempt `key` of `suite`, started at `from`, passes at `secs`, each of these items with
    /// a passed test.
    fn passed(
        &mut self,
        key: AttemptKey,
        suite: SuiteId,
        items: &[String],
        (from, secs): (f64, f64),
    ) -> Vec<Command> {
        let part = self.core.part(suite).unwrap().clone();
        let tests: Vec<(String, crate::record::Outcome)> = items
            .iter()
            .map(|i| (format!("{i}::test"), crate::record::Outcome::Passed))
            .collect();
        let ended = Ended {
            key,
            verdict: Verdict::Pass,
            started: std::time::SystemTime::UNIX_EPOCH,
            duration: Duration::from_secs_f64(secs - from),
            peak_rss_kb: None,
            cpu_time: None,
            output: (0, 0),
            testcases: Some(crate::batch::case::told(&tests, &part.items)),
            exports: Vec::new(),
        };
        self.step(Input::Ended(ended), secs)
    }
}

fn starts(commands: &[Command]) -> Vec<(AttemptKey, SuiteId)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Start { key, suite, .. } => Some((*key, *suite)),
            _ => None,
        })
        .collect()
}

/// Whether these commands hand items on.
fn handed_on(commands: &[Command]) -> bool {
    commands
        .iter()
        .any(|c| matches!(c, Command::ItemsHandedOn { .. }))
}

fn items_of(core: &Core<'_>, id: SuiteId) -> Vec<String> {
    core.part(id)
        .unwrap()
        .items
        .iter()
        .map(|(n, _)| n.clone())
        .collect()
}

#[test]
fn a_part_well_past_its_expected_time_hands_its_unclaimed_items_to_the_next_part() {
    let plan = hand_on_plan();
    let [p1, p2, p3, p4] = [0, 1, 2, 3].map(|i| plan.suites[i].id);
    let expected = plan.suites[0].part.as_ref().unwrap().expected();
    let mine = items_of(&Core::new(&plan, no_logs(&plan), 7), p1);
    assert_eq!(mine.len(), 2, "{mine:?}");
    let mut r = ByHand::new(&plan);
    let first = starts(&r.step(Input::Begin, 0.0));
    assert_eq!(first.iter().map(|s| s.1).collect::<Vec<_>>(), [p1, p2]);
    let (k1, k2) = (first[0].0, first[1].0);
    // p1 claims its first item and runs it long; p2 never claims.
    assert_eq!(r.claim(p1, &mine[0], 1, 0.1), "ok");
    // p2 ends on time: p3 starts, and p1 is not past its time yet: nothing handed on.
    let p2_items = items_of(&r.core, p2);
    let out = r.passed(k2, p2, &p2_items, (0.0, expected));
    let (k3, s3) = starts(&out)[0];
    assert_eq!(s3, p3);
    assert!(!handed_on(&out), "{out:?}");
    // p3 ends on time too, at twice p1's expected time: p4 starts with p1's unclaimed item.
    let p3_items = items_of(&r.core, p3);
    let out = r.passed(k3, p3, &p3_items, (expected, 2.0 * expected));
    assert!(
        out.contains(&Command::ItemsHandedOn {
            from: p1,
            to: p4,
            items: vec![mine[1].clone()],
        }),
        "{out:?}"
    );
    let handed = out
        .iter()
        .position(|c| matches!(c, Command::ItemsHandedOn { .. }));
    let started = out
        .iter()
        .position(|c| matches!(c, Command::Start { suite, .. } if *suite == p4));
    assert!(handed < started, "handed on before p4 starts: {out:?}");
    let k4 = starts(&out)[0].0;
    assert_eq!(items_of(&r.core, p1), [mine[0].clone()]);
    assert_eq!(items_of(&r.core, p4).last(), Some(&mine[1]));
    // p1 asks for the item it no longer holds: refused; its own stays its own.
    assert_eq!(r.claim(p1, &mine[1], 2, 2.1), "no");
    assert_eq!(r.claim(p1, &mine[0], 3, 2.2), "ok");
    // Both end; each reports the items it really ran, and every test passed once.
    r.passed(k1, p1, &[mine[0].clone()], (0.0, 3.0 * expected));
    let p4_items = items_of(&r.core, p4);
    r.passed(k4, p4, &p4_items, (2.0 * expected, 3.0 * expected));
    for id in [p1, p2, p3, p4] {
        assert_eq!(r.core.result(id).status, Status::Passed, "{id:?}");
    }
    let ran: Vec<&str> = [p1, p2, p3, p4]
        .iter()
        .flat_map(|&id| {
            let res = r.core.result(id);
            let part = res.part(plan.suite(id)).unwrap();
            res.testcases
                .iter()
                .map(|c| part.items[c.item.unwrap()].0.as_str())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut sorted = ran.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 8, "each item once: {ran:?}");
    assert_eq!(ran.len(), 8, "{ran:?}");
    assert_eq!(r.core.result(p1).part.as_ref().unwrap().items.len(), 1);
}

#[test]
fn a_part_that_never_claims_or_has_claimed_everything_hands_nothing_on() {
    let plan = hand_on_plan();
    let [p1, p2, p3, p4] = [0, 1, 2, 3].map(|i| plan.suites[i].id);
    let expected = plan.suites[0].part.as_ref().unwrap().expected();
    let mut r = ByHand::new(&plan);
    let first = starts(&r.step(Input::Begin, 0.0));
    let (k1, k2) = (first[0].0, first[1].0);
    // p2 claims both its items, p1 none; both run long.
    for (n, item) in items_of(&r.core, p2).iter().enumerate() {
        assert_eq!(r.claim(p2, item, n as u64, 0.1), "ok");
    }
    let p1_items = items_of(&r.core, p1);
    let out = r.passed(k1, p1, &p1_items, (0.0, 3.0 * expected));
    let (k3, s3) = starts(&out)[0];
    assert_eq!(s3, p3);
    assert!(!handed_on(&out), "{out:?}");
    let p3_items = items_of(&r.core, p3);
    let out = r.passed(k3, p3, &p3_items, (3.0 * expected, 4.0 * expected));
    assert_eq!(starts(&out)[0].1, p4);
    assert!(!handed_on(&out), "{out:?}");
    assert!(r.core.part(p4).unwrap().items.len() == 2);
    // An item no part of the run holds is not the run's to refuse.
    assert_eq!(r.claim(p2, "elsewhere.py", 9, 4.1), "ok");
    let _ = k2;
}

#[test]
fn an_item_handed_on_twice_is_refused_to_each_part_that_had_it() {
    // Twelve items in six parts of two: p1 runs long and hands its second item x to p4;
    // p4 runs long too and hands x on to p5. Both are refused x; p5 runs it.
    let plan = hand_on_plan_of(12, 6);
    let ids: Vec<SuiteId> = (0..6).map(|i| plan.suites[i].id).collect();
    let [p1, p2, p3, p4, p5, _] = ids[..] else {
        unreachable!()
    };
    let e = plan.suites[0].part.as_ref().unwrap().expected();
    let mut r = ByHand::new(&plan);
    let first = starts(&r.step(Input::Begin, 0.0));
    let (k1, k2) = (first[0].0, first[1].0);
    let mine = items_of(&r.core, p1);
    assert_eq!(r.claim(p1, &mine[0], 1, 0.1), "ok");
    let p2_items = items_of(&r.core, p2);
    let (k3, _) = starts(&r.passed(k2, p2, &p2_items, (0.0, e)))[0];
    let p3_items = items_of(&r.core, p3);
    let out = r.passed(k3, p3, &p3_items, (e, 2.0 * e));
    let (k4, s4) = starts(&out)[0];
    assert_eq!(s4, p4);
    let x = mine[1].clone();
    assert_eq!(items_of(&r.core, p4).last(), Some(&x));
    // p4 claims its first item only, and runs long; p1 ends, p5 starts and takes x from p4.
    let p4_own = items_of(&r.core, p4)[0].clone();
    assert_eq!(r.claim(p4, &p4_own, 2, 2.0 * e + 0.1), "ok");
    let out = r.passed(k1, p1, &[mine[0].clone()], (0.0, 6.0 * e));
    assert!(
        out.contains(&Command::ItemsHandedOn {
            from: p4,
            to: p5,
            items: vec![x.clone()],
        }),
        "{out:?}"
    );
    assert_eq!(items_of(&r.core, p5).last(), Some(&x));
    assert_eq!(r.claim(p4, &x, 3, 6.0 * e + 0.1), "no");
    assert_eq!(r.claim(p1, &x, 4, 6.0 * e + 0.2), "no");
    assert_eq!(r.claim(p5, &x, 5, 6.0 * e + 0.3), "ok");
    let _ = k4;
}
