//! Services at run time (DESIGN §11): each instance's process, started through the executor
//! (its own process group and log, covered by the watchdog and the end-of-run sweep as a
//! suite's are), its ports and filled templates, its readiness check, its stop, the variables
//! it exports, and what the report says of it. When to start and stop is the scheduler core's
//! decision: this module carries it out and says what came of it.
//!
//! Must not touch: the scheduler's state (it is told, and answers), Lua, report formats.

pub(crate) mod exports;
pub(crate) mod ports;
pub(crate) mod ready;

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub(crate) use crate::event::{ServiceFailure, ServiceInstance, ServiceRecord};
use crate::exec::{self, AttemptEnd, AttemptOutcome, AttemptSpec, Executor, LineSink, LogStart};
use crate::plan::services::{http_target, secs_text, tcp_target};
use crate::plan::{Plan, ReadyCheck, Scope, Service};
use ready::{Look, Pace};

/// Process keys of services and their checks, far above any suite attempt's.
pub(crate) const KEY_BASE: u64 = 1 << 62;

/// How much of a service's log a failure it causes shows.
const TAIL_BYTES: u64 = 8 << 10;

/// What a readiness task tells the driver.
#[derive(Debug)]
pub(crate) enum Note {
    Ready(ServiceInstance),
    /// Not ready by its deadline; what the last look found.
    NotReady(ServiceInstance, String),
    /// A `cmd` check asks for one look: start the command, answer when it ends.
    Look(ServiceInstance, Duration, oneshot::Sender<Look>),
}

/// What the scheduler's core must hear of.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Happened {
    Ready(ServiceInstance),
    Failed(ServiceInstance, ServiceFailure),
}

/// One instance that was started.
struct Live {
    key: u64,
    /// The run's record of it, for the report.
    record: usize,
    /// The service's `env`, filled, with what it exported once ready: what a suite that needs
    /// it gets.
    suite_env: Vec<(String, OsString)>,
    /// Its process's own environment (filled), also a `cmd` check's.
    process_env: Vec<(String, OsString)>,
    /// The `cmd` check, filled.
    check_cmd: Option<crate::command::CommandLine>,
    /// Where its output begins in its log (after the header line).
    output_from: u64,
    env_file: PathBuf,
    checker: Option<JoinHandle<()>>,
    /// The core asked it to stop: its end is no failure.
    stopping: bool,
    /// It failed already (not ready in time, or exited): said once.
    failed: Option<ServiceFailure>,
    ready: bool,
}

/// What the run gives every instance besides its service's fields.
pub(crate) struct RunCtx {
    pub run_id: String,
    /// The run's folder of temporary files (checks' output goes there).
    pub run_root: PathBuf,
    /// With `-v`: a service's output is echoed too, prefixed `service NAME`.
    pub echo: Option<Arc<dyn LineSink>>,
    /// A name as a log file's (the suites' rule: `[A-Za-z0-9._-]` kept, the rest `_`).
    pub safe_name: fn(&str) -> String,
    /// `--keep-tmp`: instances' folders stay after the run.
    pub keep_tmp: bool,
}

impl RunCtx {
    /// For a `Services` that starts nothing (what is left once a run's is finished).
    pub(crate) fn none() -> RunCtx {
        RunCtx {
            run_id: String::new(),
            run_root: PathBuf::new(),
            echo: None,
            safe_name: |n| n.to_owned(),
            keep_tmp: true,
        }
    }
}

/// The run's service instances.
pub(crate) struct Services<'p> {
    plan: &'p Plan,
    ctx: RunCtx,
    ports: ports::Ports,
    live: HashMap<ServiceInstance, Live>,
    /// Process keys: an instance's own process, or one look of its `cmd` check.
    keys: HashMap<u64, (ServiceInstance, Option<oneshot::Sender<Look>>)>,
    next_key: u64,
    /// Log file names taken (lowercase): the suites' and the instances' so far.
    taken: HashSet<String>,
    notes_tx: mpsc::UnboundedSender<Note>,
    /// Where readiness tasks report; the driver waits on it beside the executor's outcomes.
    pub notes: mpsc::UnboundedReceiver<Note>,
    records: Vec<ServiceRecord>,
    /// Every instance's own temporary folder.
    tmpdirs: Vec<PathBuf>,
    /// Warnings for the driver to print (a bad exported line, a check's last finding).
    pub warnings: Vec<String>,
}

impl<'p> Services<'p> {
    /// `suite_logs`: the suites' log files, whose names an instance's log must not take.
    pub(crate) fn new(plan: &'p Plan, ctx: RunCtx, suite_logs: &[PathBuf]) -> Services<'p> {
        let (notes_tx, notes) = mpsc::unbounded_channel();
        Services {
            plan,
            ctx,
            ports: ports::Ports::default(),
            live: HashMap::new(),
            keys: HashMap::new(),
            next_key: KEY_BASE,
            taken: suite_logs
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().to_lowercase())
                .collect(),
            notes_tx,
            notes,
            records: Vec::new(),
            tmpdirs: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Whether `key` is one of this module's processes.
    pub(crate) fn owns(key: u64) -> bool {
        key >= KEY_BASE
    }

    fn key(&mut self) -> u64 {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    /// `LOG_DIR/<service>.log`, `<service>@<worker>.log` per worker; `-2`, `-3`... where that
    /// name is a suite's or another instance's.
    fn log_file(&mut self, inst: ServiceInstance) -> PathBuf {
        let v = self.plan.service(inst.service);
        let mut base = (self.ctx.safe_name)(&v.name);
        if let Some(w) = inst.worker {
            base = format!("{base}@{w}");
        }
        let mut candidate = format!("{base}.log");
        let mut n = 2;
        while !self.taken.insert(candidate.to_lowercase()) {
            candidate = format!("{base}-{n}.log");
            n += 1;
        }
        self.plan.log_dir.join(candidate)
    }

    /// Start an instance: ports chosen, templates filled, its process handed to the executor,
    /// its readiness check begun. What is known at once (ready with no check, or a failure
    /// before anything ran) comes back.
    pub(crate) fn start(&mut self, inst: ServiceInstance, exec: &mut Executor) -> Option<Happened> {
        let v: &'p Service = self.plan.service(inst.service);
        let log = self.log_file(inst);
        let stem = log
            .file_stem()
            .map_or_else(|| v.name.clone(), |s| s.to_string_lossy().into_owned());
        // `{tmpdir}`: a folder of its own in the run's, as an attempt's.
        // Suites' folders are named after their logs, which never hold an `@`.
        let tmpdir = self.ctx.run_root.join(format!("{stem}@service"));
        let _ = std::fs::create_dir_all(&tmpdir);
        self.tmpdirs.push(tmpdir.clone());
        let mut ports = Vec::with_capacity(v.ports.len());
        for name in &v.ports {
            match self.ports.pick() {
                Ok(p) => ports.push((name.clone(), p)),
                Err(e) => {
                    let failure = ServiceFailure {
                        message: format!(
                            "service \"{}\" could not start: no free port: {}",
                            v.name,
                            crate::io_message(&e)
                        ),
                        log: log.clone(),
                        tail: (0, 0),
                    };
                    self.records.push(ServiceRecord {
                        instance: inst,
                        log_file: log,
                        ports: Vec::new(),
                        started: SystemTime::now(),
                        ready: None,
                        stopped: None,
                        failure: Some(failure.message.clone()),
                    });
                    return Some(Happened::Failed(inst, failure));
                }
            }
        }
        let run_id = self.ctx.run_id.clone();
        let vars = Vars {
            name: &v.name,
            worker: inst.worker.map(|w| w.to_string()),
            tmpdir: tmpdir.as_os_str(),
            run_id: &run_id,
            ports: ports
                .iter()
                .map(|(n, p)| (n.clone(), p.to_string()))
                .collect(),
        };
        let fill = |t: &OsStr| vars.fill(t);
        let suite_env: Vec<(String, OsString)> = v
            .env
            .iter()
            .map(|(k, val)| (k.clone(), fill(val)))
            .collect();
        let env_file = self.ctx.run_root.join(format!("{stem}@service.env"));
        let mut process_env = suite_env.clone();
        process_env.extend(v.own_env.iter().map(|(k, val)| (k.clone(), fill(val))));
        process_env
            .retain(|(k, _)| !matches!(k.as_str(), "PTEST" | "PTEST_RUN_ID" | "PTEST_SOCKET"));
        let var = |k: &str, val: &str| (k.to_owned(), OsString::from(val));
        process_env.extend([
            var("PTEST_SERVICE", &v.name),
            var("PTEST_WORKERS", &self.plan.workers.to_string()),
            ("PTEST_TMPDIR".to_owned(), tmpdir.clone().into_os_string()),
            ("TMPDIR".to_owned(), tmpdir.clone().into_os_string()),
            ("PTEST_LOG".to_owned(), log.clone().into_os_string()),
            ("PTEST_ENV".to_owned(), env_file.clone().into_os_string()),
        ]);
        if let Some(w) = inst.worker {
            process_env.push(var("PTEST_WORKER", &w.to_string()));
        }
        if let Some(sh) = self.plan.settings.shard.value {
            process_env.push(var("PTEST_SHARD", &format!("{}/{}", sh.index, sh.total)));
        }
        let header = format!("=== ptest: service {} ===", instance_name(self.plan, inst));
        let output_from = header.len() as u64 + 1;
        let key = self.key();
        let record = self.records.len();
        self.records.push(ServiceRecord {
            instance: inst,
            log_file: log.clone(),
            ports: ports.clone(),
            started: SystemTime::now(),
            ready: None,
            stopped: None,
            failure: None,
        });
        let check_cmd = match v.ready.as_ref().map(|r| &r.check) {
            Some(ReadyCheck::Cmd(c)) => Some(c.map(fill)),
            _ => None,
        };
        let probe = v.ready.as_ref().map(|r| {
            let text = |t: &str| vars.fill(OsStr::new(t)).to_string_lossy().into_owned();
            let probe = match &r.check {
                ReadyCheck::Tcp(t) => tcp_target(&text(t)).map(|(h, p)| Probe::Tcp(h, p)),
                ReadyCheck::Http(u) => http_target(&text(u)).map(Probe::Http),
                ReadyCheck::Log(needle) => Ok(Probe::Log(ready::LogWatch::new(
                    log.clone(),
                    output_from,
                    needle,
                ))),
                ReadyCheck::Cmd(_) => Ok(Probe::Cmd),
            };
            (probe, r.interval, r.check.kind())
        });
        exec.start(AttemptSpec {
            key,
            command: v.cmd.map(fill),
            cwd: v.cwd.clone(),
            env: process_env.clone(),
            log_path: log.clone(),
            header,
            log_start: LogStart::Fresh(None),
            timeout: exec::FOREVER,
            grace: v.grace,
            echo: self
                .ctx
                .echo
                .clone()
                .map(|e| (format!("service {}", instance_name(self.plan, inst)), e)),
        });
        self.keys.insert(key, (inst, None));
        let mut live = Live {
            key,
            record,
            suite_env,
            process_env,
            check_cmd,
            output_from,
            env_file,
            checker: None,
            stopping: false,
            failed: None,
            ready: false,
        };
        let Some((probe, interval, kind)) = probe else {
            live.ready = true;
            self.records[record].ready = Some(SystemTime::now());
            self.take_exports(inst, &mut live);
            self.live.insert(inst, live);
            return Some(Happened::Ready(inst));
        };
        let probe = match probe {
            Ok(p) => p,
            Err(why) => {
                // The address did not parse once filled: the service cannot be checked.
                let failure = self.failure(
                    &live,
                    format!(
                        "service \"{}\" cannot be checked: ready.{kind}: {why}",
                        v.name
                    ),
                );
                live.failed = Some(failure.clone());
                self.records[record].failure = Some(failure.message.clone());
                live.stopping = true;
                exec.cancel(key);
                self.live.insert(inst, live);
                return Some(Happened::Failed(inst, failure));
            }
        };
        let pace = Pace {
            fixed: interval,
            cheap: !matches!(probe, Probe::Cmd),
        };
        let deadline = tokio::time::Instant::now()
            .checked_add(v.ready_timeout)
            .unwrap_or_else(|| tokio::time::Instant::now() + exec::FOREVER);
        let tx = self.notes_tx.clone();
        live.checker = Some(tokio::spawn(probe.run(inst, pace, deadline, tx)));
        self.live.insert(inst, live);
        None
    }

    /// A readiness task's word, turned into what the core must hear (or a `cmd` look started).
    pub(crate) fn on_note(&mut self, note: Note, exec: &mut Executor) -> Option<Happened> {
        match note {
            Note::Ready(inst) => {
                let mut live = self.live.remove(&inst)?;
                let news = (!live.stopping && live.failed.is_none()).then(|| {
                    live.ready = true;
                    self.records[live.record].ready = Some(SystemTime::now());
                    self.take_exports(inst, &mut live);
                    Happened::Ready(inst)
                });
                self.live.insert(inst, live);
                news
            }
            Note::NotReady(inst, why) => {
                let mut live = self.live.remove(&inst)?;
                if live.stopping || live.failed.is_some() {
                    self.live.insert(inst, live);
                    return None;
                }
                let v = self.plan.service(inst.service);
                let failure = self.failure(
                    &live,
                    format!(
                        "service \"{}\" not ready after {}",
                        v.name,
                        secs_text(v.ready_timeout)
                    ),
                );
                self.warnings.push(format!(
                    "service {}: not ready after {}; the last check found: {why}",
                    instance_name(self.plan, inst),
                    secs_text(v.ready_timeout)
                ));
                self.records[live.record].failure = Some(failure.message.clone());
                live.failed = Some(failure.clone());
                live.stopping = true;
                exec.cancel(live.key);
                self.live.insert(inst, live);
                Some(Happened::Failed(inst, failure))
            }
            Note::Look(inst, limit, reply) => {
                let Some(live) = self.live.get(&inst) else {
                    let _ = reply.send(Look::NotYet("stopped".into()));
                    return None;
                };
                let (Some(cmd), false) = (live.check_cmd.clone(), live.stopping) else {
                    let _ = reply.send(Look::NotYet("stopped".into()));
                    return None;
                };
                let v = self.plan.service(inst.service);
                let log = self.ctx.run_root.join(format!(
                    "{}@service.ready.log",
                    self.records[live.record]
                        .log_file
                        .file_stem()
                        .map_or_else(|| v.name.clone(), |s| s.to_string_lossy().into_owned())
                ));
                let spec = AttemptSpec {
                    key: 0,
                    command: cmd,
                    cwd: v.cwd.clone(),
                    env: live.process_env.clone(),
                    log_path: log,
                    header: format!("=== ptest: ready check of service {} ===", v.name),
                    log_start: LogStart::Fresh(None),
                    timeout: limit,
                    grace: Duration::from_secs(1).min(v.grace),
                    echo: None,
                };
                let key = self.key();
                self.keys.insert(key, (inst, Some(reply)));
                exec.start(AttemptSpec { key, ..spec });
                None
            }
        }
    }

    /// An outcome of one of this module's processes: a `cmd` look answered, or an instance
    /// that ended (stopped as asked, or on its own: a failure while it is needed).
    pub(crate) fn on_outcome(&mut self, o: &AttemptOutcome) -> Option<Happened> {
        let (inst, reply) = self.keys.remove(&o.key)?;
        if let Some(reply) = reply {
            let look = match &o.end {
                AttemptEnd::Exited(0) => Look::Ready,
                end => Look::NotYet(format!("cmd {}", ended_text(end))),
            };
            let _ = reply.send(look);
            return None;
        }
        let mut live = self.live.remove(&inst)?;
        if let Some(c) = live.checker.take() {
            c.abort();
        }
        let record = &mut self.records[live.record];
        record.stopped = Some(SystemTime::now());
        if live.stopping || live.failed.is_some() {
            Self::end(&live);
            return None;
        }
        let v = self.plan.service(inst.service);
        let message = match &o.end {
            AttemptEnd::SpawnFailed(m) => format!("service \"{}\" could not start: {m}", v.name),
            // Stopped by ptest outside the core's word (a second Ctrl-C kills everything).
            AttemptEnd::Cancelled | AttemptEnd::TimedOut => {
                Self::end(&live);
                return None;
            }
            end => format!("service \"{}\" {}", v.name, ended_text(end)),
        };
        let failure = self.failure(&live, message);
        self.records[live.record].failure = Some(failure.message.clone());
        live.failed = Some(failure.clone());
        Self::end(&live);
        Some(Happened::Failed(inst, failure))
    }

    /// The instance is gone: its exported-variables file is no longer needed.
    fn end(live: &Live) {
        exports::take(&live.env_file, false);
    }

    /// The core says no suite left needs it: SIGTERM to its group, SIGKILL after its grace.
    pub(crate) fn stop(&mut self, inst: ServiceInstance, exec: &mut Executor) {
        if let Some(live) = self.live.get_mut(&inst) {
            if let Some(c) = live.checker.take() {
                c.abort();
            }
            if !live.stopping {
                live.stopping = true;
                exec.cancel(live.key);
            }
        }
    }

    /// The end of the run: stop whatever still runs (the executor's shutdown waits for them).
    pub(crate) fn stop_all(&mut self, exec: &mut Executor) {
        let all: Vec<ServiceInstance> = self.live.keys().copied().collect();
        for inst in all {
            self.stop(inst, exec);
        }
    }

    /// The variables a suite that needs `inst` gets from it: its `env`, then what it exported.
    pub(crate) fn env_for(&self, inst: ServiceInstance) -> &[(String, OsString)] {
        self.live.get(&inst).map_or(&[], |l| l.suite_env.as_slice())
    }

    /// How the instance failed, with the end of its log.
    fn failure(&self, live: &Live, message: String) -> ServiceFailure {
        let log = self.records[live.record].log_file.clone();
        let end = std::fs::symlink_metadata(&log).map_or(live.output_from, |m| m.len());
        let from = live
            .output_from
            .min(end)
            .max(end.saturating_sub(TAIL_BYTES));
        ServiceFailure {
            message,
            log,
            tail: (from, end),
        }
    }

    /// What the instance wrote to its `PTEST_ENV` by the time it was ready.
    fn take_exports(&mut self, inst: ServiceInstance, live: &mut Live) {
        let read = exports::take(&live.env_file, true);
        for w in read.warnings {
            self.warnings
                .push(format!("service {}: {w}", instance_name(self.plan, inst)));
        }
        live.suite_env.extend(read.vars);
    }

    /// Every instance started in the run, in start order (stop times filled in by then), and
    /// the temporary folders to remove (none with `--keep-tmp`).
    pub(crate) fn finish(self) -> (Vec<ServiceRecord>, Vec<PathBuf>) {
        let dirs = if self.ctx.keep_tmp {
            Vec::new()
        } else {
            self.tmpdirs
        };
        (self.records, dirs)
    }

    /// Outcomes of instances that ended after the run's loop (during the final sweep).
    pub(crate) fn drain_outcomes(
        &mut self,
        outcomes: &mut mpsc::UnboundedReceiver<AttemptOutcome>,
    ) {
        while let Ok(o) = outcomes.try_recv() {
            if Self::owns(o.key) {
                let _ = self.on_outcome(&o);
            }
        }
    }
}

/// `db`, or `db@2` for the instance of worker 2.
pub(crate) fn instance_name(plan: &Plan, inst: ServiceInstance) -> String {
    let v = plan.service(inst.service);
    match (v.scope, inst.worker) {
        (Scope::Worker, Some(w)) => format!("{}@{w}", v.name),
        _ => v.name.clone(),
    }
}

/// `exited with 1`, `was killed by signal 9`.
fn ended_text(end: &AttemptEnd) -> String {
    match end {
        AttemptEnd::Exited(c) => format!("exited with {c}"),
        AttemptEnd::Signaled(s) => format!("was killed by signal {s}"),
        AttemptEnd::TimedOut => "did not answer in time".into(),
        AttemptEnd::Cancelled => "was stopped".into(),
        AttemptEnd::SpawnFailed(m) => format!("could not start: {m}"),
    }
}

/// What a readiness task looks at.
enum Probe {
    Tcp(String, u16),
    Http(crate::plan::services::HttpTarget),
    Log(ready::LogWatch),
    /// Asked of the driver, which starts the command.
    Cmd,
}

impl Probe {
    /// Look until ready or the deadline, then say which on `tx`.
    async fn run(
        mut self,
        inst: ServiceInstance,
        pace: Pace,
        deadline: tokio::time::Instant,
        tx: mpsc::UnboundedSender<Note>,
    ) {
        let asks = tx.clone();
        let result = ready::until_ready(
            |limit| {
                let step: std::pin::Pin<Box<dyn std::future::Future<Output = Look> + Send>> =
                    match &mut self {
                        Probe::Tcp(host, port) => {
                            let (host, port) = (host.clone(), *port);
                            Box::pin(async move { ready::tcp(&host, port).await })
                        }
                        Probe::Http(t) => {
                            let t = t.clone();
                            Box::pin(async move { ready::http(&t).await })
                        }
                        Probe::Log(w) => {
                            let look = w.look();
                            Box::pin(async move { look })
                        }
                        Probe::Cmd => {
                            let (reply, answer) = oneshot::channel();
                            let asked = asks.send(Note::Look(inst, limit, reply)).is_ok();
                            Box::pin(async move {
                                if !asked {
                                    return Look::NotYet("the run is ending".into());
                                }
                                answer
                                    .await
                                    .unwrap_or_else(|_| Look::NotYet("the run is ending".into()))
                            })
                        }
                    };
                step
            },
            pace,
            deadline,
        )
        .await;
        let _ = tx.send(match result {
            Ok(()) => Note::Ready(inst),
            Err(why) => Note::NotReady(inst, why),
        });
    }
}

/// The placeholders of one instance.
struct Vars<'a> {
    name: &'a str,
    worker: Option<String>,
    tmpdir: &'a OsStr,
    run_id: &'a str,
    /// `None` is `{port}`.
    ports: Vec<(Option<String>, String)>,
}

impl Vars<'_> {
    /// `t` with `{port}`, `{port:NAME}`, `{worker}`, `{suite}`, `{attempt}`, `{tmpdir}` and
    /// `{run_id}` replaced, on bytes.
    fn fill(&self, t: &OsStr) -> OsString {
        if !t.as_bytes().contains(&b'{') {
            return t.to_owned();
        }
        let mut out = t.to_owned();
        for (name, port) in &self.ports {
            let key = match name {
                None => "{port}".to_owned(),
                Some(n) => format!("{{port:{n}}}"),
            };
            out = crate::command::replace(&out, &key, port.as_bytes());
        }
        if let Some(w) = &self.worker {
            out = crate::command::replace(&out, "{worker}", w.as_bytes());
        }
        out = crate::command::replace(&out, "{suite}", self.name.as_bytes());
        out = crate::command::replace(&out, "{attempt}", b"1");
        out = crate::command::replace(&out, "{tmpdir}", self.tmpdir.as_bytes());
        crate::command::replace(&out, "{run_id}", self.run_id.as_bytes())
    }
}

/// The end of a failed instance's log, as a failure it causes shows it (bounded).
pub(crate) fn tail_text(f: &ServiceFailure) -> Vec<u8> {
    crate::tail::read_tail(&f.log, f.tail.0, f.tail.1)
}

#[cfg(test)]
mod tests;
