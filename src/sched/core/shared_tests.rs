//! DESIGN §10, the queue's rules in the core: several cores on one plan stand in for the
//! machines of a queue run, sharing an in-memory store that answers claims as the Redis
//! scripts do (a unit once, a group's `max` across machines, lost leases back in the queue),
//! in virtual time with a message latency between a machine and the store. Random plans,
//! machines, speeds, start skews and latencies; after every run the invariants are checked:
//! every unit ran exactly once, no dependent started before its dependency ended anywhere, no
//! group passed its `max` across machines, phases were barriers across machines, dependents of
//! a failure were skipped and run nowhere, every core ended.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::plan::decl::{Declarations, GroupDecl, PhaseDecl, SuiteDecl, WorkersDecl};
use crate::plan::tests::{Inputs, build};
use crate::settings::{Overrides, Selection};

fn plan_from(d: Declarations) -> Plan {
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

fn origin() -> crate::error::Origin {
    crate::error::Origin {
        file: std::sync::Arc::from("ptest.lua"),
        line: 1,
    }
}

/// A random plan: `n` suites over two phases, some in groups, dependencies on earlier suites
/// of the same phase, estimates as expected durations.
fn random_plan(rng: &mut fastrand::Rng, n: usize, workers: u32) -> Plan {
    let mut d = Declarations {
        config_dir: std::env::temp_dir(),
        config_path: "ptest.lua".into(),
        ..Declarations::default()
    };
    d.config.workers = Some(WorkersDecl {
        count: workers,
        literal: false,
    });
    for p in ["one", "two"] {
        d.phases.push(PhaseDecl {
            origin: origin(),
            name: p.into(),
            enabled: true,
            workers: None,
            on_failure: OnFailure::Continue,
            always: false,
        });
    }
    for (g, max) in [("g1", 1), ("g2", 2)] {
        d.groups.push(GroupDecl {
            origin: origin(),
            name: g.into(),
            max,
            env: BTreeMap::new(),
        });
    }
    let mut phase_of = Vec::new();
    for i in 0..n {
        let phase = usize::from(rng.u8(..4) == 0);
        let mut deps = Vec::new();
        for (j, p) in phase_of.iter().enumerate() {
            if *p == phase && rng.u8(..6) == 0 {
                deps.push(format!("s{j}"));
            }
        }
        phase_of.push(phase);
        d.suites.push(SuiteDecl {
            origin: origin(),
            name: format!("s{i}"),
            cmd: crate::command::CommandLine::Shell("true".into()),
            description: None,
            category: "default".into(),
            tags: Vec::new(),
            cwd: None,
            env: BTreeMap::new(),
            timeout: None,
            depends_on: deps,
            group: match rng.u8(..5) {
                0 => Some("g1".into()),
                1 => Some("g2".into()),
                _ => None,
            },
            phase: Some(if phase == 0 { "one" } else { "two" }.into()),
            limiter: None,
            retry: None,
            slots: 1,
            serial: false,
            estimate: Some(Duration::from_millis(10 + u64::from(rng.u16(..2000)))),
            memory: None,
            enabled: true,
            batch: None,
            part: None,
            needs: Vec::new(),
            select: false,
        });
    }
    plan_from(d)
}

/// The store, as the scripts keep it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Pending,
    Leased { machine: usize, deadline: Instant },
    Done,
}

struct Store {
    units: Vec<Unit>,
    groups: Vec<u32>,
    /// Per unit: the machines its attempts failed on (a handed-back unit).
    failed: Vec<Vec<usize>>,
    /// What a handed-back unit carries.
    carried: Vec<Option<Carried>>,
}

impl Store {
    /// `None`: avoided (it failed on `machine`, and one of `takers` has not failed it).
    fn claim(
        &mut self,
        plan: &Plan,
        id: SuiteId,
        machine: usize,
        now: Instant,
        takers: &[usize],
    ) -> Option<Claim> {
        let group = plan.suite(id).group;
        match self.units[id.index()] {
            Unit::Done => return Some(Claim::Done),
            // It was given to this machine in place of another it asked for.
            Unit::Leased { machine: m, .. } if m == machine => return Some(Claim::Mine),
            Unit::Leased { deadline, .. } if deadline > now => return Some(Claim::Elsewhere),
            Unit::Leased { .. } => {}
            Unit::Pending => {
                let failed = &self.failed[id.index()];
                if failed.contains(&machine) && takers.iter().any(|t| !failed.contains(t)) {
                    return None;
                }
                if let Some(g) = group {
                    if self.groups[g.index()] >= plan.group(g).max {
                        return Some(Claim::Busy);
                    }
                    self.groups[g.index()] += 1;
                }
            }
        }
        // A live holder renews its lease: it runs out `lease` after the holder dies.
        self.units[id.index()] = Unit::Leased {
            machine,
            deadline: now + Duration::from_secs(1_000_000),
        };
        Some(Claim::Mine)
    }

    /// The holder's result counts; another's does not.
    fn finish(&mut self, plan: &Plan, id: SuiteId, machine: usize) -> bool {
        match self.units[id.index()] {
            Unit::Leased { machine: m, .. } if m == machine => {
                self.units[id.index()] = Unit::Done;
                self.carried[id.index()] = None;
                if let Some(g) = plan.suite(id).group {
                    self.groups[g.index()] -= 1;
                }
                true
            }
            _ => false,
        }
    }

    fn skip(&mut self, id: SuiteId) -> bool {
        if self.units[id.index()] == Unit::Pending {
            self.units[id.index()] = Unit::Done;
            return true;
        }
        false
    }
}

struct NoHost;

impl Host for NoHost {
    fn limiter_admit(&mut self, _: LimiterId, _: Instant) -> Result<(), super::Refusal> {
        Ok(())
    }
    fn limiter_waited(&mut self, _: LimiterId, _: Duration) {}
    fn limiter_release(&mut self, _: LimiterId) {}
    fn limiter_acquire(&mut self, _: LimiterId, _: u32, _: Instant) -> Result<(), super::Refusal> {
        Ok(())
    }
    fn limiter_throttled(&mut self, _: LimiterId, _: Option<Duration>, _: Instant) {}
    fn output(&mut self, _: SuiteId, _: (u64, u64)) -> Vec<u8> {
        Vec::new()
    }
    fn judge(&mut self, _: usize, _: &AttemptView<'_>) -> Result<bool, String> {
        Ok(false)
    }
    fn service_note(&mut self, _: SuiteId, _: &ServiceFailure, _: bool) -> Option<(u64, u64)> {
        None
    }
}

struct Machine<'p> {
    core: Core<'p>,
    /// Attempts running here: key → (suite, end, attempt).
    running: BTreeMap<AttemptKey, (SuiteId, Instant, u32)>,
    /// It stopped taking units (its first units failed).
    stopped: bool,
    /// Inputs on their way from the store.
    inbox: VecDeque<(Instant, Input)>,
    speed: f64,
    starts_at: Instant,
    begun: bool,
    /// The machine is killed then (SIGKILL: nothing more from it, its leases run out).
    dies_at: Option<Instant>,
    dead: bool,
}

/// One attempt: (machine, start, end, killed at its end).
type Run = (usize, Instant, Option<Instant>, bool);

/// A unit's failed attempt handed back: (machine, the machines then alive and taking units).
type HandedBack = (usize, Vec<usize>);

/// What happened, for the invariants.
#[derive(Default)]
struct Seen {
    /// Per suite: (machine, start, end, killed at its end).
    runs: Vec<Vec<Run>>,
    /// Per unit: the store has its result.
    stored: Vec<bool>,
    /// Per unit: its hand-backs, in order.
    handed_back: Vec<Vec<HandedBack>>,
    /// Per attempt started: (suite, attempt, machine).
    attempts: Vec<(SuiteId, u32, usize)>,
    /// Some machine stopped taking units.
    stopped: bool,
    /// Units the store gave in place of the ones asked for.
    took: usize,
}

struct Fleet<'p> {
    plan: &'p Plan,
    store: Store,
    machines: Vec<Machine<'p>>,
    latency: Duration,
    lease: Duration,
    now: Instant,
    fails: Vec<bool>,
    /// Per suite: its first attempts up to this many fail.
    flaky: Vec<u32>,
    /// Every attempt on this machine fails.
    broken: Option<usize>,
    seen: Seen,
}

impl Fleet<'_> {
    fn deliver(&mut self, to: usize, input: Input) {
        if self.machines[to].dead {
            return;
        }
        let at = self.now + self.latency;
        self.machines[to].inbox.push_back((at, input));
    }

    fn broadcast(&mut self, from: usize, input: &Input) {
        for k in 0..self.machines.len() {
            if k != from {
                self.deliver(k, input.clone());
            }
        }
    }

    /// Machines alive and taking units, but `k`.
    fn takers(&self, k: usize) -> Vec<usize> {
        (0..self.machines.len())
            .filter(|&j| {
                let m = &self.machines[j];
                j != k && !m.dead && m.begun && !m.stopped && !m.core.done()
            })
            .collect()
    }

    fn step(&mut self, k: usize, input: Input) {
        let now = self.now;
        let commands = self.machines[k].core.step(input, now, &mut NoHost);
        for c in commands {
            self.apply(k, c);
        }
    }

    fn apply(&mut self, k: usize, c: Command) {
        let plan = self.plan;
        match c {
            Command::Start {
                key,
                suite,
                attempt,
                ..
            } => {
                let expected = plan.suite(suite).expected;
                let secs = expected * self.machines[k].speed;
                let end = self.now + Duration::from_secs_f64(secs);
                self.machines[k].running.insert(key, (suite, end, attempt));
                self.seen.runs[suite.index()].push((k, self.now, None, false));
                self.seen.attempts.push((suite, attempt, k));
            }
            Command::Claim(ids, others) => {
                for id in ids {
                    let takers = self.takers(k);
                    let answer = self.store.claim(plan, id, k, self.now, &takers);
                    if answer != Some(Claim::Mine) {
                        // The first other unit no machine has taken or failed, with room.
                        if let Some(x) = others.iter().copied().find(|x| {
                            self.store.units[x.index()] == Unit::Pending
                                && self.store.failed[x.index()].is_empty()
                        }) {
                            if self.store.claim(plan, x, k, self.now, &takers) == Some(Claim::Mine)
                            {
                                self.seen.took += 1;
                                self.deliver(k, Input::Took(x));
                            }
                        }
                    }
                    match answer {
                        Some(answer) => {
                            if answer == Claim::Mine {
                                if let Some(c) = self.store.carried[id.index()].clone() {
                                    self.deliver(k, Input::Resume(id, c));
                                }
                            }
                            self.deliver(k, Input::Claimed(id, answer));
                        }
                        // The link says "elsewhere" and asks again on its timer.
                        None => {
                            self.deliver(k, Input::Claimed(id, Claim::Elsewhere));
                            let at = self.now + Duration::from_millis(200);
                            self.machines[k].inbox.push_back((at, Input::Requeued(id)));
                        }
                    }
                }
            }
            Command::HandBack(id, carried) => {
                if let Unit::Leased { machine, .. } = self.store.units[id.index()] {
                    if machine == k {
                        self.store.units[id.index()] = Unit::Pending;
                        if let Some(g) = plan.suite(id).group {
                            self.store.groups[g.index()] -= 1;
                        }
                        self.store.failed[id.index()].push(k);
                        self.store.carried[id.index()] = Some(carried);
                        let takers = self.takers(k);
                        self.seen.handed_back[id.index()].push((k, takers));
                        self.broadcast(usize::MAX, &Input::Requeued(id));
                    }
                }
            }
            Command::StopTaking => {
                if self.takers(k).is_empty() {
                    self.deliver(k, Input::TakeAgain);
                } else {
                    self.machines[k].stopped = true;
                    self.seen.stopped = true;
                }
            }
            Command::Release(id) => {
                if let Unit::Leased { machine, .. } = self.store.units[id.index()] {
                    if machine == k {
                        self.store.units[id.index()] = Unit::Pending;
                        if let Some(g) = plan.suite(id).group {
                            self.store.groups[g.index()] -= 1;
                        }
                        self.broadcast(usize::MAX, &Input::Requeued(id));
                    }
                }
            }
            Command::Finished(id) => {
                let r = self.machines[k].core.result(id).clone();
                let counted = if r.attempts > 0 {
                    self.store.finish(plan, id, k)
                } else {
                    self.store.skip(id)
                };
                if counted {
                    self.broadcast(
                        k,
                        &Input::EndedElsewhere {
                            suite: id,
                            status: r.status,
                            node: format!("m{k}"),
                            exports: r.exports.clone(),
                        },
                    );
                }
            }
            _ => {}
        }
    }

    fn run(mut self) -> (Seen, Vec<Vec<SuiteResult>>) {
        let mut guard = 0;
        loop {
            guard += 1;
            assert!(guard < 200_000, "the queue run never ends");
            if self
                .machines
                .iter()
                .all(|m| m.dead || (m.begun && m.core.done()))
            {
                break;
            }
            // A machine that stopped taking units takes them again when no other does (the
            // link's timer).
            for k in 0..self.machines.len() {
                if self.machines[k].stopped && !self.machines[k].dead && self.takers(k).is_empty() {
                    self.machines[k].stopped = false;
                    self.deliver(k, Input::TakeAgain);
                }
            }
            // The earliest of: a machine starting, an attempt ending, a message arriving.
            let mut next: Option<(Instant, usize, u8)> = None;
            // A lost lease runs out at the store (any machine's reaping).
            let reap = self
                .store
                .units
                .iter()
                .enumerate()
                .filter_map(|(i, u)| match u {
                    Unit::Leased { deadline, machine } if self.machines[*machine].dead => {
                        Some((*deadline, i))
                    }
                    _ => None,
                })
                .min();
            if let Some((t, _)) = reap {
                next = Some((t, usize::MAX, 4));
            }
            for (k, m) in self.machines.iter().enumerate() {
                if m.dead {
                    continue;
                }
                let mut consider = |t: Instant, what: u8| {
                    if next.is_none_or(|(n, _, _)| t < n) {
                        next = Some((t, k, what));
                    }
                };
                if let Some(d) = m.dies_at {
                    consider(d, 3);
                }
                if !m.begun {
                    consider(m.starts_at, 0);
                    continue;
                }
                if let Some((_, end, _)) = m.running.values().min_by_key(|(_, e, _)| *e) {
                    consider(*end, 1);
                }
                if let Some((at, _)) = m.inbox.front() {
                    consider(*at, 2);
                }
                if let Some(at) = m.core.next_backoff() {
                    consider(at, 5);
                }
            }
            let (t, k, what) = next.expect("something to wait for while a machine is not done");
            self.now = self.now.max(t);
            match what {
                4 => {
                    let (_, i) = reap.unwrap();
                    let id = SuiteId(i as u32);
                    self.store.units[i] = Unit::Pending;
                    if let Some(g) = self.plan.suite(id).group {
                        self.store.groups[g.index()] -= 1;
                    }
                    self.broadcast(usize::MAX, &Input::Requeued(id));
                }
                3 => {
                    let m = &mut self.machines[k];
                    m.dead = true;
                    m.inbox.clear();
                    for (suite, _, _) in std::mem::take(&mut m.running).into_values() {
                        let run = self.seen.runs[suite.index()]
                            .iter_mut()
                            .find(|r| r.0 == k && r.2.is_none())
                            .unwrap();
                        run.2 = Some(self.now);
                        run.3 = true;
                    }
                    for u in &mut self.store.units {
                        if let Unit::Leased { machine, deadline } = u {
                            if *machine == k {
                                *deadline = self.now + self.lease;
                            }
                        }
                    }
                }
                5 => self.step(k, Input::Timer(Timer::Backoff)),
                0 => {
                    self.machines[k].begun = true;
                    self.step(k, Input::Begin);
                }
                1 => {
                    let (&key, &(suite, end, attempt)) = self.machines[k]
                        .running
                        .iter()
                        .min_by_key(|(_, (_, e, _))| *e)
                        .unwrap();
                    self.machines[k].running.remove(&key);
                    let run = self.seen.runs[suite.index()]
                        .iter_mut()
                        .find(|r| r.0 == k && r.2.is_none())
                        .unwrap();
                    run.2 = Some(end);
                    let verdict = if self.fails[suite.index()]
                        || attempt <= self.flaky[suite.index()]
                        || self.broken == Some(k)
                    {
                        Verdict::Fail {
                            code: Some(1),
                            signal: None,
                            message: None,
                        }
                    } else {
                        Verdict::Pass
                    };
                    self.step(
                        k,
                        Input::Ended(Ended {
                            key,
                            verdict,
                            started: SystemTime::UNIX_EPOCH,
                            duration: Duration::from_millis(1),
                            peak_rss_kb: None,
                            cpu_time: None,
                            output: (0, 0),
                            testcases: None,
                            exports: Vec::new(),
                        }),
                    );
                }
                _ => {
                    let (_, input) = self.machines[k].inbox.pop_front().unwrap();
                    self.step(k, input);
                }
            }
        }
        self.seen.stored = self.store.units.iter().map(|u| *u == Unit::Done).collect();
        let results = self
            .machines
            .into_iter()
            .filter(|m| !m.dead)
            .map(|m| m.core.into_results())
            .collect();
        (self.seen, results)
    }
}

fn fleet<'p>(
    plan: &'p Plan,
    rng: &mut fastrand::Rng,
    machines: usize,
    fails: Vec<bool>,
) -> Fleet<'p> {
    let base = Instant::now();
    let n = plan.suites.len();
    Fleet {
        plan,
        store: Store {
            units: vec![Unit::Pending; n],
            groups: vec![0; plan.groups.len()],
            failed: vec![Vec::new(); n],
            carried: vec![None; n],
        },
        machines: (0..machines)
            .map(|k| Machine {
                core: Core::new(plan, no_logs(plan), k as u64).shared(),
                running: BTreeMap::new(),
                stopped: false,
                inbox: VecDeque::new(),
                speed: 0.7 + rng.f64() * 0.6,
                starts_at: base + Duration::from_millis(rng.u64(..300)),
                begun: false,
                dies_at: None,
                dead: false,
            })
            .collect(),
        latency: Duration::from_micros(rng.u64(..5000)),
        lease: Duration::from_secs(30),
        now: base,
        fails,
        flaky: vec![0; n],
        broken: None,
        seen: Seen {
            runs: vec![Vec::new(); n],
            stored: Vec::new(),
            handed_back: vec![Vec::new(); n],
            attempts: Vec::new(),
            stopped: false,
            took: 0,
        },
    }
}

/// Every invariant of a queue run whose units all end (no machine lost).
fn check(plan: &Plan, seen: &Seen, results: &[Vec<SuiteResult>], fails: &[bool]) {
    let end_of = |i: usize| seen.runs[i].iter().find(|r| !r.3).and_then(|r| r.2);
    let doomed = |i: usize| -> bool {
        // A unit whose dependency failed or was itself doomed never runs.
        fn walk(plan: &Plan, fails: &[bool], i: usize) -> bool {
            plan.suites[i]
                .depends_on
                .iter()
                .any(|d| fails[d.index()] || walk(plan, fails, d.index()))
        }
        walk(plan, fails, i)
    };
    for (i, s) in plan.suites.iter().enumerate() {
        let runs = &seen.runs[i];
        if doomed(i) {
            assert!(
                runs.is_empty(),
                "{} ran although a dependency failed",
                s.name
            );
            // Skipped on every machine.
            for (k, r) in results.iter().enumerate() {
                assert_eq!(r[i].status, Status::Skipped, "{} on m{k}", s.name);
            }
            continue;
        }
        // Ended exactly once; a killed machine's attempt may have started it before.
        let ended: Vec<_> = runs.iter().filter(|r| !r.3).collect();
        assert_eq!(
            ended.len(),
            1,
            "{} ended {} times: {runs:?}",
            s.name,
            ended.len()
        );
        let (_, start, end, _) = *ended[0];
        assert!(end.is_some(), "{} never ended", s.name);
        for d in &s.depends_on {
            let dep_end = end_of(d.index()).expect("a dependency that ran ended");
            assert!(
                dep_end <= start,
                "{} started before its dependency {} ended",
                s.name,
                plan.suite(*d).name
            );
        }
        for other in &plan.suites {
            if other.phase.index() < s.phase.index() {
                if let Some(e) = end_of(other.id.index()) {
                    assert!(e <= start, "{} started inside an earlier phase", s.name);
                }
            }
        }
    }
    // A group's max across machines, at every start.
    for g in &plan.groups {
        let spans: Vec<(Instant, Instant)> = g
            .members
            .iter()
            .flat_map(|m| seen.runs[m.index()].iter().map(|r| (r.1, r.2.unwrap())))
            .collect();
        for (s, _) in &spans {
            let at_once = spans.iter().filter(|(a, b)| a <= s && s < b).count();
            assert!(
                at_once as u32 <= g.max,
                "group {} had {at_once} members running at once (max {})",
                g.name,
                g.max
            );
        }
    }
    // Every unit has its result in the store, and every machine left saw it end.
    for (i, done) in seen.stored.iter().enumerate() {
        assert!(done, "{} has no result in the store", plan.suites[i].name);
        for r in results {
            assert_ne!(r[i].skip_reason, Some(SkipReason::NotReached));
        }
    }
}

#[test]
fn random_queue_runs_hold_every_rule_across_machines() {
    for seed in 0..150 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let n = 5 + rng.usize(..20);
        let workers = 1 + rng.u32(..3);
        let plan = random_plan(&mut rng, n, workers);
        let machines = 1 + rng.usize(..4);
        let fails: Vec<bool> = (0..n).map(|_| rng.u8(..12) == 0).collect();
        let f = fleet(&plan, &mut rng, machines, fails.clone());
        let (seen, results) = f.run();
        check(&plan, &seen, &results, &fails);
    }
}

#[test]
fn the_machines_share_the_work_and_end_together() {
    // 40 equal units over 4 machines of 2 workers: each machine runs about a quarter, and the
    // last end comes about when a quarter of the work would end.
    let mut rng = fastrand::Rng::with_seed(1);
    let mut d = Declarations {
        config_dir: std::env::temp_dir(),
        config_path: "ptest.lua".into(),
        ..Declarations::default()
    };
    d.config.workers = Some(WorkersDecl {
        count: 2,
        literal: false,
    });
    for i in 0..40 {
        d.suites.push(SuiteDecl {
            origin: origin(),
            name: format!("u{i}"),
            cmd: crate::command::CommandLine::Shell("true".into()),
            description: None,
            category: "default".into(),
            tags: Vec::new(),
            cwd: None,
            env: BTreeMap::new(),
            timeout: None,
            depends_on: Vec::new(),
            group: None,
            phase: None,
            limiter: None,
            retry: None,
            slots: 1,
            serial: false,
            estimate: Some(Duration::from_secs(1)),
            memory: None,
            enabled: true,
            batch: None,
            part: None,
            needs: Vec::new(),
            select: false,
        });
    }
    let plan = plan_from(d);
    let mut f = fleet(&plan, &mut rng, 4, vec![false; 40]);
    for m in &mut f.machines {
        m.speed = 1.0;
        m.starts_at = f.now;
    }
    f.latency = Duration::from_millis(1);
    let t0 = f.now;
    let (seen, results) = f.run();
    check(&plan, &seen, &results, &[false; 40]);
    let mut per_machine = [0; 4];
    let mut last = t0;
    for runs in &seen.runs {
        per_machine[runs[0].0] += 1;
        last = last.max(runs[0].2.unwrap());
    }
    assert_eq!(per_machine, [10, 10, 10, 10], "{per_machine:?}");
    let wall = (last - t0).as_secs_f64();
    assert!((5.0..5.1).contains(&wall), "{wall}");
}

/// Declarations with `workers` workers and no suite yet.
fn declarations(workers: u32) -> Declarations {
    let mut d = Declarations {
        config_dir: std::env::temp_dir(),
        config_path: "ptest.lua".into(),
        ..Declarations::default()
    };
    d.config.workers = Some(WorkersDecl {
        count: workers,
        literal: false,
    });
    d
}

/// A suite of `true`, expected to take 200 ms, after `depends_on`.
fn suite(name: &str, depends_on: Vec<String>) -> SuiteDecl {
    SuiteDecl {
        origin: origin(),
        name: name.into(),
        cmd: crate::command::CommandLine::Shell("true".into()),
        description: None,
        category: "default".into(),
        tags: Vec::new(),
        cwd: None,
        env: BTreeMap::new(),
        timeout: None,
        depends_on,
        group: None,
        phase: None,
        limiter: None,
        retry: None,
        slots: 1,
        serial: false,
        estimate: Some(Duration::from_millis(200)),
        memory: None,
        enabled: true,
        batch: None,
        part: None,
        needs: Vec::new(),
        select: false,
    }
}

#[test]
fn machines_asking_for_the_same_ready_units_each_get_one_in_a_single_round_trip() {
    // 10 layers of 5 equal units, each depending on every unit of the layer before, over 4
    // machines of 2 workers: when a layer ends, every machine asks for the same best units at
    // once. Each gets one of the others it named, so every unit of a layer starts within a
    // round trip of the news that its layer is ready (the news, then one claim: 3 latencies).
    let mut rng = fastrand::Rng::with_seed(3);
    let mut d = declarations(2);
    let (layers, width) = (10, 5);
    for layer in 0..layers {
        for i in 0..width {
            let deps = if layer == 0 {
                Vec::new()
            } else {
                (0..width).map(|j| format!("l{}-{j}", layer - 1)).collect()
            };
            d.suites.push(suite(&format!("l{layer}-{i}"), deps));
        }
    }
    let plan = plan_from(d);
    let n = plan.suites.len();
    let mut f = fleet(&plan, &mut rng, 4, vec![false; n]);
    for m in &mut f.machines {
        m.speed = 1.0;
        m.starts_at = f.now;
    }
    let latency = Duration::from_millis(2);
    f.latency = latency;
    let (seen, results) = f.run();
    check(&plan, &seen, &results, &vec![false; n]);
    assert!(seen.took > 0, "no claim got another unit");
    let start = |i: usize| seen.runs[i][0].1;
    let end = |i: usize| seen.runs[i][0].2.unwrap();
    for layer in 1..layers {
        let ready = (0..width)
            .map(|j| end((layer - 1) * width + j))
            .max()
            .unwrap();
        for i in 0..width {
            let late = start(layer * width + i) - ready;
            assert!(
                late <= latency * 3,
                "l{layer}-{i} started {late:?} after its layer was ready"
            );
        }
    }
}

#[test]
fn a_killed_machines_units_run_elsewhere_once_their_leases_run_out() {
    let mut killed_holding = 0;
    for seed in 0..100 {
        let mut rng = fastrand::Rng::with_seed(1000 + seed);
        let n = 5 + rng.usize(..20);
        let workers = 1 + rng.u32(..3);
        let plan = random_plan(&mut rng, n, workers);
        let machines = 2 + rng.usize(..3);
        let fails: Vec<bool> = (0..n).map(|_| rng.u8(..15) == 0).collect();
        let mut f = fleet(&plan, &mut rng, machines, fails.clone());
        let victim = rng.usize(..machines);
        f.machines[victim].dies_at = Some(f.now + Duration::from_millis(rng.u64(..3000)));
        let (seen, results) = f.run();
        check(&plan, &seen, &results, &fails);
        killed_holding += usize::from(seen.runs.iter().flatten().any(|r| r.3));
    }
    // The seeds do kill machines while they hold units.
    assert!(killed_holding > 50, "{killed_holding}");
}

/// Random plans whose suites retry, some failing their first attempts: every unit ends once in
/// the store, flaky on the machine that ran its last attempt, and each failed attempt's next
/// one runs on a machine it had not failed on whenever one was alive and taking units.
#[test]
fn a_failed_unit_is_retried_on_another_machine_first() {
    let mut checked = 0;
    for seed in 0..120 {
        let mut rng = fastrand::Rng::with_seed(5000 + seed);
        let n = 5 + rng.usize(..15);
        let workers = 1 + rng.u32(..2);
        let mut plan = random_plan(&mut rng, n, workers);
        for s in &mut plan.suites {
            s.retry.attempts = 4;
        }
        let machines = 1 + rng.usize(..4);
        let flaky: Vec<u32> = (0..n)
            .map(|_| {
                if rng.u8(..4) == 0 {
                    1 + rng.u32(..2)
                } else {
                    0
                }
            })
            .collect();
        let mut f = fleet(&plan, &mut rng, machines, vec![false; n]);
        for m in &mut f.machines {
            m.starts_at = f.now;
        }
        f.flaky.clone_from(&flaky);
        let (seen, results) = f.run();
        for (i, s) in plan.suites.iter().enumerate() {
            assert!(seen.stored[i], "{} has no result in the store", s.name);
            let mut mine: Vec<(u32, usize)> = seen
                .attempts
                .iter()
                .filter(|a| a.0.index() == i)
                .map(|a| (a.1, a.2))
                .collect();
            mine.sort_unstable();
            let numbers: Vec<u32> = mine.iter().map(|a| a.0).collect();
            assert_eq!(
                numbers,
                (1..=flaky[i] + 1).collect::<Vec<_>>(),
                "{}",
                s.name
            );
            let last = mine.last().unwrap().1;
            let r = &results[last][i];
            let want = if flaky[i] > 0 {
                Status::Flaky
            } else {
                Status::Passed
            };
            assert_eq!((r.status, r.attempts), (want, flaky[i] + 1), "{}", s.name);
            if seen.stopped {
                continue;
            }
            for (j, (_, takers)) in seen.handed_back[i].iter().enumerate() {
                let failed: Vec<usize> = seen.handed_back[i][..=j].iter().map(|h| h.0).collect();
                let next = mine[j + 1].1;
                if takers.iter().any(|t| !failed.contains(t)) {
                    assert!(
                        !failed.contains(&next),
                        "{}: attempt {} ran on m{next}, which failed it, with {takers:?} taking units",
                        s.name,
                        j + 2
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 30, "{checked}");
}

/// A machine whose every attempt fails stops after its first 3 units (and what it had started
/// by then); the other machines run everything, each failed unit flaky there.
#[test]
fn a_machine_whose_first_units_fail_stops_taking_units() {
    for seed in 0..40 {
        let mut rng = fastrand::Rng::with_seed(9000 + seed);
        let n = 8 + rng.usize(..12);
        let workers = 1 + rng.u32(..2);
        let mut plan = random_plan(&mut rng, n, workers);
        for s in &mut plan.suites {
            s.retry.attempts = 2;
        }
        let machines = 2 + rng.usize(..3);
        let mut f = fleet(&plan, &mut rng, machines, vec![false; n]);
        for m in &mut f.machines {
            m.starts_at = f.now;
        }
        f.broken = Some(0);
        let (seen, results) = f.run();
        let on_broken = seen.attempts.iter().filter(|a| a.2 == 0).count();
        assert!(
            on_broken < FIRST_UNITS_FAILING + workers as usize,
            "seed {seed}: the broken machine ran {on_broken} attempts"
        );
        for (i, s) in plan.suites.iter().enumerate() {
            assert!(seen.stored[i], "{} has no result in the store", s.name);
            let by: Vec<usize> = seen
                .attempts
                .iter()
                .filter(|a| a.0.index() == i)
                .map(|a| a.2)
                .collect();
            let last = *by.last().unwrap();
            assert_ne!(last, 0, "{} ended on the broken machine", s.name);
            let want = if by.contains(&0) {
                Status::Flaky
            } else {
                Status::Passed
            };
            assert_eq!(results[last][i].status, want, "{}", s.name);
        }
    }
}

/// A unit put back in the queue while this machine's claim for it was on its way, answered
/// `Elsewhere` as of before (the store's answer and the other machine's hand-back cross): the
/// machine asks for it again, where it used to wait for it for good (seen as a hang of three
/// ptest processes on redis: a unit failed on two machines, the third never asked again).
#[test]
fn a_unit_requeued_while_its_claim_was_answered_elsewhere_is_asked_for_again() {
    let mut d = declarations(1);
    d.suites.push(suite("f", Vec::new()));
    let plan = plan_from(d);
    let id = SuiteId(0);
    let claims = |commands: &[Command]| {
        commands
            .iter()
            .filter(|c| matches!(c, Command::Claim(ids, _) if ids.contains(&id)))
            .count()
    };
    let now = Instant::now();
    let mut core = Core::new(&plan, no_logs(&plan), 0).shared();
    assert_eq!(claims(&core.step(Input::Begin, now, &mut NoHost)), 1);
    assert!(core.step(Input::Requeued(id), now, &mut NoHost).is_empty());
    let again = core.step(Input::Claimed(id, Claim::Elsewhere), now, &mut NoHost);
    assert_eq!(claims(&again), 1, "{again:?}");
    // Taken by another machine meanwhile: this time `Elsewhere` stands.
    let then = core.step(Input::Claimed(id, Claim::Elsewhere), now, &mut NoHost);
    assert_eq!(claims(&then), 0, "{then:?}");
    assert!(!core.done());
}
