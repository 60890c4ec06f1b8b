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
}

impl Store {
    fn claim(
        &mut self,
        plan: &Plan,
        id: SuiteId,
        machine: usize,
        now: Instant,
        lease: Duration,
    ) -> Claim {
        let group = plan.suite(id).group;
        match self.units[id.index()] {
            Unit::Done => return Claim::Done,
            Unit::Leased { deadline, .. } if deadline > now => return Claim::Elsewhere,
            Unit::Leased { .. } => {}
            Unit::Pending => {
                if let Some(g) = group {
                    if self.groups[g.index()] >= plan.group(g).max {
                        return Claim::Busy;
                    }
                    self.groups[g.index()] += 1;
                }
            }
        }
        // A live holder renews its lease: it runs out `lease` after the holder dies.
        let _ = lease;
        self.units[id.index()] = Unit::Leased {
            machine,
            deadline: now + Duration::from_secs(1_000_000),
        };
        Claim::Mine
    }

    /// The holder's result counts; another's does not.
    fn finish(&mut self, plan: &Plan, id: SuiteId, machine: usize) -> bool {
        match self.units[id.index()] {
            Unit::Leased { machine: m, .. } if m == machine => {
                self.units[id.index()] = Unit::Done;
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
    /// Attempts running here: key → (suite, end).
    running: BTreeMap<AttemptKey, (SuiteId, Instant)>,
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

/// What happened, for the invariants.
#[derive(Default)]
struct Seen {
    /// Per suite: (machine, start, end, killed at its end).
    runs: Vec<Vec<Run>>,
    /// Per unit: the store has its result.
    stored: Vec<bool>,
}

struct Fleet<'p> {
    plan: &'p Plan,
    store: Store,
    machines: Vec<Machine<'p>>,
    latency: Duration,
    lease: Duration,
    now: Instant,
    fails: Vec<bool>,
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
            Command::Start { key, suite, .. } => {
                let expected = plan.suite(suite).expected;
                let secs = expected * self.machines[k].speed;
                let end = self.now + Duration::from_secs_f64(secs);
                self.machines[k].running.insert(key, (suite, end));
                self.seen.runs[suite.index()].push((k, self.now, None, false));
            }
            Command::Claim(id) => {
                let answer = self.store.claim(plan, id, k, self.now, self.lease);
                self.deliver(k, Input::Claimed(id, answer));
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
                if let Some((_, end)) = m.running.values().min_by_key(|(_, e)| *e) {
                    consider(*end, 1);
                }
                if let Some((at, _)) = m.inbox.front() {
                    consider(*at, 2);
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
                    for (suite, _) in std::mem::take(&mut m.running).into_values() {
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
                0 => {
                    self.machines[k].begun = true;
                    self.step(k, Input::Begin);
                }
                1 => {
                    let (&key, &(suite, end)) = self.machines[k]
                        .running
                        .iter()
                        .min_by_key(|(_, (_, e))| *e)
                        .unwrap();
                    self.machines[k].running.remove(&key);
                    let run = self.seen.runs[suite.index()]
                        .iter_mut()
                        .find(|r| r.0 == k && r.2.is_none())
                        .unwrap();
                    run.2 = Some(end);
                    let verdict = if self.fails[suite.index()] {
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
        },
        machines: (0..machines)
            .map(|k| Machine {
                core: Core::new(plan, no_logs(plan), k as u64).shared(),
                running: BTreeMap::new(),
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
        seen: Seen {
            runs: vec![Vec::new(); n],
            stored: Vec::new(),
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
