//! The scheduler: one loop that owns all run state. It starts ready suites by priority (DESIGN §3),
//! hands attempts to the executor, and turns what comes back — exits, timers, signals — into
//! events for the report sinks. Only this loop changes run state.

pub mod files;
pub mod limits;
pub mod queue;
pub mod simulate;
pub mod socket;
mod tmp;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::signal::unix::{SignalKind, signal};

use crate::event::{AttemptView, Event, RetryJudge, RunInfo, Sink, Status, SuiteResult, Summary};
use crate::exec::{
    AttemptEnd, AttemptOutcome, AttemptSpec, CommandLine, Executor, LineSink, LogStart,
};
use crate::plan::{OnFailure, Plan, SuiteId};
use limits::{Limiters, Refusal};
use queue::{Admit, Queue, Slots};
use socket::Coordinator;
use tmp::TmpDirs;

/// How much of an attempt's output retry rules and hooks see.
pub const OUTPUT_TAIL: u64 = 64 * 1024;

/// What the run needs besides the plan.
pub struct Options {
    pub run_id: String,
    pub keep_tmp: bool,
    /// `-v`: every output line also goes here, prefixed by the suite's name.
    pub echo: Option<Arc<dyn LineSink>>,
}

/// Where a suite is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for its phase, its dependencies, or admission.
    Pending,
    Running,
    /// Between attempts.
    Backoff,
    Done,
}

struct Attempt {
    id: SuiteId,
    attempt: u32,
    slots: Vec<u32>,
    tmpdir: PathBuf,
}

/// Per-suite totals across attempts.
#[derive(Default)]
struct Progress {
    attempts: u32,
    first_start: Option<SystemTime>,
    duration: Duration,
    peak_rss_kb: Option<u64>,
    cpu_time: Option<Duration>,
    worker: Option<u32>,
    failed_attempts: Vec<String>,
}

/// How one attempt ended, before retry rules.
enum Verdict {
    Pass,
    Fail {
        code: Option<i32>,
        signal: Option<i32>,
        message: Option<String>,
    },
    Timeout,
    Cancel,
}

pub struct Scheduler<'a> {
    plan: &'a Plan,
    run: RunInfo,
    opts: Options,
    sinks: Vec<&'a mut dyn Sink>,
    judge: &'a mut dyn RetryJudge,
    /// Taken at the end by `shutdown`.
    exec: Option<Executor>,
    outcomes: tokio::sync::mpsc::UnboundedReceiver<AttemptOutcome>,
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
    attempts: HashMap<u64, Attempt>,
    next_key: u64,
    backoff: BinaryHeap<Reverse<(Instant, SuiteId)>>,
    /// Fail-fast or Ctrl-C: nothing new starts outside `always` phases.
    stopping: Option<&'static str>,
    /// A second Ctrl-C: everything is killed, `always` phases too.
    hard_stop: bool,
    interrupted: bool,
    /// Why later phases are skipped (`phase "core" failed`).
    later_skip: Option<String>,
    started: Instant,
    limiters: Limiters,
    /// When a limiter that refused a start will have a token again.
    limiter_wake: Option<Instant>,
    /// Since when each suite has been ready but refused by its limiter.
    limiter_wait_since: Vec<Option<Instant>>,
    coordinator: Option<Coordinator>,
    /// A folder holding only a `ptest` link to this binary, put first on suites' PATH.
    bin_dir: Option<PathBuf>,
    /// Removes passed attempts' temporary folders off the scheduler's thread.
    janitor: files::Janitor,
    /// Attempts' temporary folders, reused when a passed attempt left them empty.
    tmp: TmpDirs,
    /// Suites that may still start an attempt (pending or between attempts).
    may_start_later: usize,
    /// The folders made ahead that no attempt took have been handed to the janitor.
    untaken_removed: bool,
    /// What is known of earlier logs ahead of their suites' first attempts.
    logs: Option<files::LogPrep>,
}

impl<'a> Scheduler<'a> {
    pub fn new(
        plan: &'a Plan,
        opts: Options,
        sinks: Vec<&'a mut dyn Sink>,
        judge: &'a mut dyn RetryJudge,
        setup: files::Setup,
    ) -> std::io::Result<Scheduler<'a>> {
        let (exec, outcomes) = Executor::new()?;
        let limiters = Limiters::new(plan);
        let (janitor, folder) = setup.finish()?;
        let coordinator = Some(Coordinator::serve(
            folder.socket,
            folder.listener,
            limiters.clone(),
        )?);
        let names = files::log_names(plan.suites.iter().map(|s| s.name.as_str()));
        let log_files = names.iter().map(|n| plan.log_dir.join(n)).collect();
        let n = plan.suites.len();
        let mut phase_open = vec![0; plan.phases.len()];
        for s in &plan.suites {
            phase_open[s.phase.index()] += 1;
        }
        let mut exec = exec;
        let bin_dir = folder.bin;
        exec.set_run_env(&run_env(
            &opts.run_id,
            coordinator.as_ref(),
            bin_dir.as_deref(),
        ));
        Ok(Scheduler {
            plan,
            run: RunInfo {
                run_id: opts.run_id.clone(),
                started: SystemTime::now(),
                log_files,
            },
            opts,
            sinks,
            judge,
            exec: Some(exec),
            outcomes,
            state: vec![State::Pending; n],
            results: vec![None; n],
            progress: (0..n).map(|_| Progress::default()).collect(),
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
            attempts: HashMap::new(),
            next_key: 0,
            backoff: BinaryHeap::new(),
            stopping: None,
            hard_stop: false,
            interrupted: false,
            later_skip: None,
            started: Instant::now(),
            limiters,
            limiter_wake: None,
            limiter_wait_since: vec![None; n],
            coordinator,
            bin_dir,
            janitor,
            tmp: TmpDirs::with_ahead(folder.root, folder.ahead),
            may_start_later: n,
            untaken_removed: false,
            logs: None,
        })
    }

    fn exec(&mut self) -> &mut Executor {
        self.exec
            .as_mut()
            .expect("the executor lives until the run ends")
    }

    fn emit(&mut self, event: &Event<'_>) {
        for sink in &mut self.sinks {
            sink.event(self.plan, &self.run, event);
        }
    }

    /// Run the plan to the end. Returns every suite's result (in plan order) and the summary.
    pub async fn run(mut self) -> (Vec<SuiteResult>, Summary, RunInfo) {
        let mut sigint = signal(SignalKind::interrupt()).ok();
        let mut sigterm = signal(SignalKind::terminate()).ok();
        self.started = Instant::now();
        self.run.started = SystemTime::now();
        self.emit(&Event::RunStarted);

        for s in &self.plan.suites {
            if let Some(skip) = &s.skip {
                self.skip(s.id, skip.reason());
            }
        }
        self.prepare_logs();
        let mut entered = !self.plan.phases.is_empty() && self.enter_phase(0);
        while entered {
            self.start_ready();
            self.check_tmp();
            if self.phase_open[self.phase] == 0 && self.attempts.is_empty() {
                entered = self.advance_phase();
                continue;
            }
            let next_backoff = self.backoff.peek().map(|Reverse((t, _))| *t);
            let limiter_wake = self.limiter_wake;
            tokio::select! {
                Some(o) = self.outcomes.recv() => self.on_outcome(o),
                () = sleep_until(next_backoff), if next_backoff.is_some() => self.wake_backoffs(),
                () = precise_until(limiter_wake), if limiter_wake.is_some() => self.limiter_wake = None,
                Some(()) = recv(&mut sigint) => self.on_signal(),
                Some(()) = recv(&mut sigterm) => self.on_signal(),
            }
        }
        if let Some(exec) = self.exec.take() {
            // A Ctrl-C during the final sweep kills at once.
            let switch = exec.kill_switch();
            let watcher = sigint.take().map(|mut s| {
                tokio::spawn(async move {
                    if s.recv().await.is_some() {
                        switch.fire();
                    }
                })
            });
            exec.shutdown(self.plan.grace).await;
            if let Some(w) = watcher {
                w.abort();
            }
        }
        let socket = self.coordinator.take().map(Coordinator::stop);

        let results: Vec<SuiteResult> = self
            .results
            .iter_mut()
            .enumerate()
            .map(|(i, r)| {
                r.take().unwrap_or_else(|| {
                    SuiteResult::skipped(SuiteId(i as u32), "not reached".into())
                })
            })
            .collect();
        let summary = Summary::from_results(&results, self.started.elapsed(), self.interrupted);
        let limiters = self.limiters.stats();
        // The janitor removes this run's folders and socket on its thread while the reports are
        // written, the run's own folder last and only when empty: failed attempts keep theirs
        // for inspection.
        for dir in self.tmp.drain() {
            self.janitor.remove(dir);
        }
        self.janitor.remove_untaken(self.tmp.ahead());
        if !self.opts.keep_tmp {
            if let Some(bin) = self.bin_dir.take() {
                self.janitor.remove(bin.join("ptest"));
                self.janitor.remove(bin);
            }
        }
        if let Some(socket) = socket {
            self.janitor.remove(socket);
        }
        if !self.opts.keep_tmp {
            self.janitor
                .remove_if_empty(files::run_tmp_root(&self.opts.run_id));
        }
        self.emit(&Event::RunFinished {
            results: &results,
            summary: &summary,
            limiters: &limiters,
        });
        self.janitor.finish();
        (results, summary, self.run)
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
            Some("interrupted".to_owned())
        } else if phase.always {
            None
        } else {
            self.stopping
                .map(str::to_owned)
                .or_else(|| self.later_skip.clone())
        };
        if let Some(reason) = reason {
            for id in phase.suites.clone() {
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

    fn advance_phase(&mut self) -> bool {
        let cur = &self.plan.phases[self.phase];
        if self.phase_failed[self.phase]
            && cur.on_failure == OnFailure::Stop
            && self.later_skip.is_none()
        {
            self.later_skip = Some(format!("phase \"{}\" failed", cur.name));
        }
        self.enter_phase(self.phase + 1)
    }

    fn may_start(&self) -> bool {
        !self.hard_stop && (self.stopping.is_none() || self.plan.phases[self.phase].always)
    }

    fn start_ready(&mut self) {
        let now = Instant::now();
        while self.may_start() && self.slots.free() > 0 && !self.queue.is_empty() {
            let plan = self.plan;
            let free = self.slots.free();
            let total = self.slots.total();
            let state = &self.state;
            let limiters = &self.limiters;
            let wake = &mut self.limiter_wake;
            let wait_since = &mut self.limiter_wait_since;
            let picked = self.queue.pop(plan, |id| {
                if state[id.index()] != State::Pending {
                    return Admit::Discard;
                }
                let s = plan.suite(id);
                let need = if s.serial { total } else { s.slots.min(total) };
                if need > free {
                    return Admit::No;
                }
                // The token is taken last, only when everything else admits the suite.
                let Some(l) = s.limiter else {
                    return Admit::Yes;
                };
                match limiters.admit_suite(l, now) {
                    Ok(()) => {
                        if let Some(since) = wait_since[id.index()].take() {
                            limiters.add_wait(l, now.saturating_duration_since(since));
                        }
                        Admit::Yes
                    }
                    Err(refusal) => {
                        wait_since[id.index()].get_or_insert(now);
                        if let Refusal::Wait(d) = refusal {
                            let at = now + d;
                            *wake = Some(wake.map_or(at, |w| w.min(at)));
                        }
                        Admit::No
                    }
                }
            });
            let Some(id) = picked else { break };
            let s = plan.suite(id);
            let need = if s.serial { total } else { s.slots.min(total) };
            let slots = self
                .slots
                .take(need)
                .expect("admitted with enough free slots");
            self.start(id, slots);
        }
    }

    fn start(&mut self, id: SuiteId, slots: Vec<u32>) {
        let plan = self.plan;
        let s = plan.suite(id);
        let p = &mut self.progress[id.index()];
        p.attempts += 1;
        let attempt = p.attempts;
        let worker = slots[0];
        p.worker = Some(worker);
        if p.first_start.is_none() {
            p.first_start = Some(SystemTime::now());
        }
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
        let tmp_text = tmpdir.to_string_lossy().into_owned();
        let worker_text = worker.to_string();
        let attempt_text = attempt.to_string();
        let fill = |t: &str| {
            if !t.contains('{') {
                return t.to_owned();
            }
            t.replace("{worker}", &worker_text)
                .replace("{suite}", &s.name)
                .replace("{attempt}", &attempt_text)
                .replace("{tmpdir}", &tmp_text)
                .replace("{run_id}", &self.run.run_id)
        };
        let command = match &s.cmd {
            CommandLine::Shell(c) => CommandLine::Shell(fill(c)),
            CommandLine::Argv(v) => CommandLine::Argv(v.iter().map(|a| fill(a)).collect()),
        };
        let phase = plan.phase(s.phase);
        let mut env: Vec<(String, String)> =
            s.env.iter().map(|(k, v)| (k.clone(), fill(v))).collect();
        // ptest's own variables win over a suite's `env`, as the per-attempt ones below do.
        env.retain(|(k, _)| !matches!(k.as_str(), "PTEST" | "PTEST_RUN_ID" | "PTEST_SOCKET"));
        env.extend([
            ("PTEST_SUITE".to_owned(), s.name.clone()),
            ("PTEST_WORKER".to_owned(), worker_text.clone()),
            ("PTEST_WORKERS".to_owned(), phase.workers.to_string()),
            ("PTEST_ATTEMPT".to_owned(), attempt_text.clone()),
            ("PTEST_ATTEMPTS".to_owned(), s.retry.attempts.to_string()),
            ("PTEST_TMPDIR".to_owned(), tmp_text.clone()),
            ("TMPDIR".to_owned(), tmp_text.clone()),
            ("PTEST_LOG".to_owned(), log.to_string_lossy().into_owned()),
            ("PTEST_PHASE".to_owned(), phase.name.clone()),
            (
                "PTEST_GROUP".to_owned(),
                plan.group_name(s).unwrap_or("").to_owned(),
            ),
        ]);
        if let Some(bin) = &self.bin_dir {
            // A suite that sets its own PATH still finds this very binary first for
            // `ptest acquire`; for the others the run's environment has it already.
            if let Some(i) = env.iter().rposition(|(k, _)| k == "PATH") {
                let path = format!("{}:{}", bin.display(), env[i].1);
                env.push(("PATH".to_owned(), path));
            }
        }
        let key = self.next_key;
        self.next_key += 1;
        let spec = AttemptSpec {
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
        self.set_state(id, State::Running);
        self.attempts.insert(
            key,
            Attempt {
                id,
                attempt,
                slots,
                tmpdir,
            },
        );
        self.exec().start(spec);
        self.emit(&Event::SuiteStarted {
            id,
            attempt,
            worker,
        });
    }

    fn on_outcome(&mut self, o: AttemptOutcome) {
        let Some(a) = self.attempts.remove(&o.key) else {
            return;
        };
        let plan = self.plan;
        let id = a.id;
        let s = plan.suite(id);
        self.slots.release(&a.slots);
        self.queue.finished(plan, id);
        if let Some(l) = s.limiter {
            self.limiters.release_suite(l);
        }
        let p = &mut self.progress[id.index()];
        p.duration += o.duration;
        p.peak_rss_kb = p.peak_rss_kb.max(o.peak_rss_kb);
        p.cpu_time = match (p.cpu_time, o.cpu_time) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        let verdict = match &o.end {
            AttemptEnd::Exited(0) => Verdict::Pass,
            AttemptEnd::Exited(code) => Verdict::Fail {
                code: Some(*code),
                signal: None,
                message: (*code == 127 && matches!(s.cmd, CommandLine::Shell(_)))
                    .then(|| self.missing_command(id, &o))
                    .flatten()
                    .map(|name| format!("command not found: {name}")),
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
        let log = self.run.log_files[id.index()].clone();
        let range = (o.log_start, o.log_end);

        self.release_tmp(&a, matches!(verdict, Verdict::Pass));
        let retryable = matches!(verdict, Verdict::Fail { .. } | Verdict::Timeout)
            && a.attempt < s.retry.attempts
            && self.may_start()
            && self.retry_wanted(id, a.attempt, &verdict, &o, &log);
        if retryable {
            let delay = self.backoff_delay(id, a.attempt + 1);
            let reason = describe_failure(&verdict, s.timeout);
            self.progress[id.index()]
                .failed_attempts
                .push(reason.clone());
            self.set_state(id, State::Backoff);
            self.queue.add_work(plan, id);
            self.backoff.push(Reverse((Instant::now() + delay, id)));
            self.emit(&Event::SuiteRetrying {
                id,
                attempt: a.attempt,
                delay,
                reason: &reason,
            });
            return;
        }
        let p = &mut self.progress[id.index()];
        let (status, code, signal, message) = match verdict {
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
                Some(self.stopping.unwrap_or("cancelled").to_owned()),
            ),
        };
        let result = SuiteResult {
            id,
            status,
            start_time: p.first_start,
            end_time: Some(SystemTime::now()),
            duration: p.duration,
            return_code: code,
            signal,
            attempts: p.attempts,
            error_message: message,
            skip_reason: None,
            log_file: Some(log),
            worker: p.worker,
            peak_rss_kb: p.peak_rss_kb,
            cpu_time: p.cpu_time,
            failed_attempts: std::mem::take(&mut p.failed_attempts),
            last_output: Some(range),
        };
        self.finish(result);
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
        let keep = if self.may_start_later == 0 {
            0
        } else {
            self.slots.total() as usize + 1
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
            Some(files::OldLog::Unknown) | None => match std::fs::metadata(log) {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return LogStart::Fresh(Some(0));
                }
                // Opening the log meets the error again, and reports it.
                Err(_) => return LogStart::Fresh(None),
            },
        };
        if old > LARGE {
            let name = log
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let aside = log.with_file_name(format!(".{name}.{}.old", self.run.run_id));
            if std::fs::rename(log, &aside).is_ok() {
                self.janitor.remove(aside);
                return LogStart::Fresh(Some(0));
            }
        }
        LogStart::Fresh(Some(old))
    }

    /// `<log file stem>-<attempt>`: the log's name is unique where safe names collide.
    fn attempt_tmp_name(&self, id: SuiteId, attempt: u32) -> PathBuf {
        let unique = self.run.log_files[id.index()].file_stem().map_or_else(
            || files::safe_name(&self.plan.suite(id).name),
            |n| n.to_string_lossy().into_owned(),
        );
        files::run_tmp_root(&self.run.run_id).join(format!("{unique}-{attempt}"))
    }

    /// `sh` exits 127 both for a missing command and for a script's own `exit 127`: only the
    /// shell's complaint in the log tells them apart, and it names the command, which is not
    /// always the first word (`cd sub && pytestt`, `FOO=1 pytestt`).
    fn missing_command(&self, id: SuiteId, o: &AttemptOutcome) -> Option<String> {
        let tail = read_tail(&self.run.log_files[id.index()], o.log_start, o.log_end);
        missing_command_name(&String::from_utf8_lossy(&tail))
    }

    fn retry_wanted(
        &mut self,
        id: SuiteId,
        attempt: u32,
        v: &Verdict,
        o: &AttemptOutcome,
        log: &std::path::Path,
    ) -> bool {
        let s = self.plan.suite(id);
        let policy = &s.retry;
        if let Some(pred) = policy.when {
            let output = read_tail(log, o.log_start, o.log_end);
            let (status, code, signal) = match v {
                Verdict::Fail { code, signal, .. } => ("failed", *code, *signal),
                _ => ("timed_out", None, None),
            };
            let view = AttemptView {
                name: &s.name,
                status,
                exit_code: code,
                signal,
                attempt,
                duration: o.duration,
                log_file: Some(log),
                output: &output,
            };
            return match self.judge.should_retry(pred, &view) {
                Ok(b) => b,
                Err(e) => {
                    let msg = format!(
                        "retry predicate of suite \"{}\" raised an error: {e}",
                        s.name
                    );
                    self.emit(&Event::Warning { message: &msg });
                    false
                }
            };
        }
        match v {
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
                let output = read_tail(log, o.log_start, o.log_end);
                policy
                    .on_output
                    .iter()
                    .any(|needle| contains(&output, needle.as_bytes()))
            }
            _ => false,
        }
    }

    fn backoff_delay(&self, id: SuiteId, next: u32) -> Duration {
        let policy = &self.plan.suite(id).retry;
        let d = policy.backoff(next);
        if policy.jitter {
            d.mul_f64(fastrand::f64())
        } else {
            d
        }
    }

    fn wake_backoffs(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, id))) = self.backoff.peek().copied() {
            if t > now {
                break;
            }
            self.backoff.pop();
            if self.state[id.index()] == State::Backoff {
                self.set_state(id, State::Pending);
                self.queue.push(self.plan, id);
            }
        }
    }

    /// Every change of a suite's state goes through here, to keep `may_start_later` right.
    fn set_state(&mut self, id: SuiteId, new: State) {
        let waits = |s: State| matches!(s, State::Pending | State::Backoff);
        let old = std::mem::replace(&mut self.state[id.index()], new);
        match (waits(old), waits(new)) {
            (true, false) => self.may_start_later -= 1,
            (false, true) => self.may_start_later += 1,
            _ => {}
        }
    }

    /// Record a final result, then unblock or skip what depends on it.
    fn finish(&mut self, result: SuiteResult) {
        let id = result.id;
        let status = result.status;
        self.set_state(id, State::Done);
        let s = self.plan.suite(id);
        self.phase_open[s.phase.index()] -= 1;
        self.emit(&Event::SuiteFinished { result: &result });
        self.results[id.index()] = Some(result);
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
            let verb = match status {
                Status::Failed | Status::TimedOut => "failed",
                Status::Cancelled => "was cancelled",
                _ => "was skipped",
            };
            // A suite skipped for its own dependency passes that reason on unchanged, so every
            // level of dependents names the suite that failed (DESIGN §3 rule 3).
            let inherited = self.results[id.index()]
                .as_ref()
                .and_then(|r| r.skip_reason.as_deref())
                .filter(|r| status == Status::Skipped && r.starts_with("dependency \""))
                .map(str::to_owned);
            let reason = inherited.unwrap_or_else(|| format!("dependency \"{}\" {verb}", s.name));
            for &d in &s.dependents {
                if self.state[d.index()] != State::Done {
                    self.skip(d, reason.clone());
                }
            }
        }
        if status.is_failure() {
            self.phase_failed[s.phase.index()] = true;
            if self.plan.fail_fast && self.stopping.is_none() {
                self.begin_stop("fail-fast");
            }
        }
    }

    /// Skip a suite that has not ended (and, through `finish`, its dependents).
    fn skip(&mut self, id: SuiteId, reason: String) {
        if self.state[id.index()] == State::Done {
            return;
        }
        if self.state[id.index()] == State::Pending {
            self.queue.forget_work(self.plan, id);
        }
        let mut r = SuiteResult::skipped(id, reason);
        let p = &self.progress[id.index()];
        if p.attempts > 0 {
            // Skipped while waiting for a retry: it did run.
            r.attempts = p.attempts;
            r.duration = p.duration;
            r.start_time = p.first_start;
            r.log_file = Some(self.run.log_files[id.index()].clone());
        }
        self.finish(r);
    }

    /// Fail-fast or Ctrl-C: cancel running attempts (outside `always` phases unless hard), skip
    /// everything that has not started.
    fn begin_stop(&mut self, reason: &'static str) {
        self.stopping = Some(reason);
        self.emit(&Event::Stopping { reason });
        let in_always = self.plan.phases[self.phase].always;
        if !in_always || self.hard_stop {
            let keys: Vec<u64> = self.attempts.keys().copied().collect();
            for k in keys {
                self.exec().cancel(k);
            }
        }
        for i in 0..self.plan.suites.len() {
            let s = &self.plan.suites[i];
            let protected = self.plan.phase(s.phase).always && !self.hard_stop;
            if !protected && matches!(self.state[i], State::Pending | State::Backoff) {
                self.skip(s.id, reason.to_owned());
            }
        }
    }

    fn on_signal(&mut self) {
        self.interrupted = true;
        if self.stopping == Some("interrupted") || self.hard_stop {
            self.hard_stop = true;
            self.exec().kill_all();
            self.begin_stop("interrupted");
        } else {
            self.begin_stop("interrupted");
        }
    }
}

/// What every suite of the run sees the same: `PTEST`, `PTEST_RUN_ID`, `PTEST_SOCKET`, and `PATH`
/// with this binary's folder first (so `ptest acquire` finds it).
fn run_env(
    run_id: &str,
    coordinator: Option<&Coordinator>,
    bin_dir: Option<&std::path::Path>,
) -> Vec<(String, String)> {
    let mut vars = vec![
        ("PTEST".to_owned(), "1".to_owned()),
        ("PTEST_RUN_ID".to_owned(), run_id.to_owned()),
    ];
    if let Some(c) = coordinator {
        vars.push((
            "PTEST_SOCKET".to_owned(),
            c.path.to_string_lossy().into_owned(),
        ));
    }
    if let Some(bin) = bin_dir {
        let inherited = std::env::var("PATH").unwrap_or_default();
        vars.push(("PATH".to_owned(), format!("{}:{inherited}", bin.display())));
    }
    vars
}

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

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Limiter wake-ups: a token is due at an exact time, and a late start is rate lost for good.
async fn precise_until(t: Option<Instant>) {
    match t {
        Some(t) => socket::precise_sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// The last `OUTPUT_TAIL` bytes of `[start, end)` of a log file.
pub fn read_tail(path: &std::path::Path, start: u64, end: u64) -> Vec<u8> {
    let from = start.max(end.saturating_sub(OUTPUT_TAIL));
    let mut buf = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.take(end.saturating_sub(from)).read_to_end(&mut buf);
        }
    }
    buf
}

/// The command named by the last "not found" complaint of a shell in `text`: dash writes
/// `sh: 1: NAME: not found`, bash `sh: line 1: NAME: command not found` or
/// `sh: NAME: No such file or directory`.
fn missing_command_name(text: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let before = [
            "not found",
            "command not found",
            "No such file or directory",
        ]
        .iter()
        .find_map(|end| line.trim_end().strip_suffix(end)?.strip_suffix(": "))?;
        let name = before.rsplit_once(": ").map_or(before, |(_, name)| name);
        (!name.is_empty()).then(|| name.to_owned())
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
