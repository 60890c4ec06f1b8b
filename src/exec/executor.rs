//! The executor's public face — start, cancel, kill, shut down — and, per running attempt, the one
//! task that owns its life: the timeout, SIGTERM then SIGKILL after the grace period, the reaper's
//! word that the leader ended, the drain of echoed output, and exactly one outcome. Must not wait
//! for processes itself (only the reaper does) nor decide anything about retries or statuses.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time;

use rustix::process::Signal;

use crate::command::CommandLine;
use crate::exec::follow::{Followed, Follower};
use crate::exec::reaper::{self, Exit};
use crate::exec::watchdog::Watchdog;
use crate::exec::{AttemptEnd, AttemptOutcome, AttemptSpec, FOREVER, groups, log, process, sweep};
use crate::os::procs::GroupHandle;
use crate::os::spawn::{self, BaseEnv, Dispositions};
use crate::os::{self, Pid};

/// Once the leader has ended, how long echoed output may stay silent, while its group still has
/// members, before the attempt reports: a grandchild (a daemon) can keep writing for good.
const DRAIN_IDLE: Duration = Duration::from_millis(250);
/// How often the log is read again meanwhile.
const DRAIN_TICK: Duration = Duration::from_millis(25);
/// The most the drain waits, even while a lingering grandchild keeps talking.
const DRAIN_MAX: Duration = Duration::from_secs(5);
/// At shutdown, how long to wait for attempts to report once every process is gone; that takes
/// moments, the bound only guards against a wedged sink.
const SETTLE_MAX: Duration = Duration::from_secs(5);

/// Runs attempts as processes and reports each one's outcome on the channel `new` returns.
pub(crate) struct Executor {
    outcomes: mpsc::UnboundedSender<AttemptOutcome>,
    /// ptest's environment, prepared once for every child (which holds on to it until it execs).
    base_env: Arc<BaseEnv>,
    /// Every child's stdin.
    dev_null: OwnedFd,
    /// Taken at the first start, once ptest's signal handlers are all in place.
    signals: OnceCell<Dispositions>,
    /// The thread that follows logs for `-v`, made at the first attempt that needs it.
    follower: OnceCell<Follower>,
    shared: Arc<Shared>,
    reaper: JoinHandle<()>,
    pruner: JoinHandle<()>,
}

/// What the executor and its attempt tasks both see.
struct Shared {
    state: Mutex<State>,
    /// The number of running attempts, so `shutdown` can wait for the last report.
    running: watch::Sender<usize>,
    /// Set by the kill switch: the shutdown sweep skips what is left of its grace period.
    hurry: watch::Sender<bool>,
    /// Told every group, so that they are stopped even if ptest is killed.
    watchdog: Option<Watchdog>,
    /// The `PTEST_RUN_ID=...` entry every suite inherits: without a subreaper, what proves a
    /// process is this run's.
    marker: Mutex<Option<OsString>>,
}

/// The second Ctrl-C, usable from any task or thread while the executor is busy elsewhere, even
/// inside `shutdown`: SIGKILL to every running attempt's group, and a shutdown in progress (or to
/// come) kills at once instead of waiting out its grace period.
#[derive(Clone)]
pub(crate) struct KillSwitch {
    shared: Arc<Shared>,
}

impl KillSwitch {
    pub(crate) fn fire(&self) {
        self.shared.kill_all();
        self.shared.hurry.send_replace(true);
    }
}

#[derive(Default)]
struct State {
    attempts: HashMap<u64, Handle>,
    /// Groups of finished attempts that still had members: a suite may leave a daemon behind for a
    /// later suite, so they are only swept at shutdown.
    lingering_groups: BTreeMap<Pid, Option<Arc<GroupHandle>>>,
    /// Groups (running or lingering) that already got SIGTERM from a timeout or cancel: the
    /// shutdown sweep does not send them another (one SIGTERM per group per stop).
    terminated: BTreeSet<Pid>,
}

struct Handle {
    pgid: Pid,
    control: mpsc::UnboundedSender<Control>,
}

#[derive(Debug, Clone, Copy)]
enum Control {
    /// SIGTERM now, SIGKILL after the grace period.
    Cancel,
    /// SIGKILL has been sent; nothing more to send.
    Killed,
    /// The shutdown sweep does the signalling; the end is still `Cancelled`.
    Swept,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A running attempt (`pgid` 0 while its start waits for the process limit).
    fn register(&self, key: u64, pgid: Pid, control: mpsc::UnboundedSender<Control>) {
        if pgid > 0 {
            if let Some(w) = &self.watchdog {
                w.group(pgid);
            }
        }
        let mut state = self.lock();
        state.attempts.insert(key, Handle { pgid, control });
        // A group of that number that got SIGTERM once is gone: this is a new one.
        state.terminated.remove(&pgid);
        self.running.send_replace(state.attempts.len());
    }

    /// An attempt that reports without ever having started a process.
    fn forget(&self, key: u64) {
        let mut state = self.lock();
        state.attempts.remove(&key);
        self.running.send_replace(state.attempts.len());
    }

    fn kill_all(&self) {
        let marker = self.marker();
        for handle in self.lock().attempts.values() {
            if handle.pgid > 0 {
                groups::signal(handle.pgid, None, Some(Signal::KILL), marker.as_deref());
            }
            let _ = handle.control.send(Control::Killed);
        }
    }

    fn marker(&self) -> Option<OsString> {
        self.marker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the lingering groups that have no member left, telling the watchdog, before
    /// their numbers can pass to anyone else. Done after every reap (a group's last member may
    /// have been ptest's child) and whenever an attempt ends.
    fn prune_lingering(&self) {
        let mut state = self.lock();
        let watchdog = self.watchdog.as_ref();
        state.lingering_groups.retain(|&group, handle| {
            let alive = groups::alive(group, handle.as_deref());
            if !alive {
                if let Some(w) = watchdog {
                    w.ended(group);
                }
            }
            alive
        });
        let State {
            attempts,
            lingering_groups,
            terminated,
            ..
        } = &mut *state;
        terminated.retain(|group| {
            lingering_groups.contains_key(group) || attempts.values().any(|h| h.pgid == *group)
        });
    }
}

impl Executor {
    /// Must be called inside a tokio runtime (the caller uses a `current_thread` runtime and a
    /// `LocalSet`). Makes ptest a child subreaper, raises the soft open-file limit to the hard
    /// limit (children get the original back), and starts the SIGCHLD reaper. `watchdog`, started
    /// before the config was evaluated, is told every group from now on.
    pub(crate) fn new(
        watchdog: Option<Watchdog>,
    ) -> std::io::Result<(Executor, mpsc::UnboundedReceiver<AttemptOutcome>)> {
        os::process::setup()?;
        let reaper = reaper::start()?;
        let (outcomes, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            running: watch::Sender::new(0),
            hurry: watch::Sender::new(false),
            watchdog,
            marker: Mutex::new(None),
        });
        // Lingering groups are looked at again after every reap.
        let pruner = {
            let shared = Arc::downgrade(&shared);
            let mut passes = reaper::passes_after_signal();
            tokio::spawn(async move {
                while passes.changed().await.is_ok() {
                    match shared.upgrade() {
                        Some(shared) => shared.prune_lingering(),
                        None => return,
                    }
                }
            })
        };
        let executor = Executor {
            outcomes,
            base_env: Arc::new(BaseEnv::capture()),
            dev_null: spawn::dev_null()?,
            signals: OnceCell::new(),
            follower: OnceCell::new(),
            shared,
            reaper,
            pruner,
        };
        Ok((executor, receiver))
    }

    /// The run's folder: if ptest dies without ending the run, the watchdog removes it.
    pub(crate) fn watch_folder(&self, path: &Path) {
        if let Some(w) = &self.shared.watchdog {
            w.folder(path);
        }
    }

    /// Variables every attempt of this run gets, set once instead of per attempt (an attempt's
    /// own `env` still overrides them).
    pub(crate) fn set_run_env(&mut self, vars: &[(String, OsString)]) {
        self.base_env = Arc::new(BaseEnv::capture_with(vars));
        *self
            .shared
            .marker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            self.base_env.entry("PTEST_RUN_ID").map(OsStr::to_owned);
    }

    /// Non-blocking: writes the header line to the log, spawns the process and arms the timeout.
    /// Exactly one `AttemptOutcome` with this key arrives on the channel, `SpawnFailed` included.
    /// Keys must be unique among running attempts.
    pub(crate) fn start(&mut self, spec: AttemptSpec) {
        let AttemptSpec {
            key,
            command,
            cwd,
            env,
            log_path,
            header,
            log_start,
            timeout,
            grace,
            echo,
        } = spec;
        let (mut log, log_start) = match log::open(&log_path, &header, log_start) {
            Ok(opened) => opened,
            Err(message) => {
                self.report_spawn_failure(key, message, 0, 0);
                return;
            }
        };
        let fail = |log: &mut File, message: String| {
            // The log explains the failure too; if even that write fails, the outcome still does.
            let _ = writeln!(log, "ptest: {message}");
            let log_end = log.metadata().map_or(log_start, |meta| meta.len());
            (message, log_end)
        };
        // With echo, the process still writes only its log, as without `-v`: the follower
        // reads it back by path, so `-v` holds no descriptor per running suite.
        let echo = match echo.map(|(prefix, sink)| self.follower().map(|f| (f, prefix, sink))) {
            None => None,
            Some(Ok(echo)) => Some(echo),
            Some(Err(err)) => {
                let (message, log_end) = fail(&mut log, format!("cannot set up output: {err}"));
                self.report_spawn_failure(key, message, log_start, log_end);
                return;
            }
        };
        let resolved;
        let words: Vec<&OsStr>;
        let program: &Path = match &command {
            CommandLine::Shell(line) => {
                words = vec![OsStr::new("sh"), OsStr::new("-c"), line];
                Path::new("/bin/sh")
            }
            CommandLine::Argv(argv) => match argv.first() {
                Some(first) if !first.is_empty() => {
                    // The PATH the child gets: its attempt's own, else the run's (with this
                    // binary's folder first), else ptest's.
                    let path = env
                        .iter()
                        .rev()
                        .find(|(k, _)| k == "PATH")
                        .map(|(_, v)| v.as_os_str())
                        .or_else(|| self.base_env.var("PATH"));
                    resolved = process::resolve(first, path, &cwd);
                    words = argv.iter().map(OsString::as_os_str).collect();
                    &resolved
                }
                _ => {
                    let (message, log_end) = fail(&mut log, "empty command".to_owned());
                    self.report_spawn_failure(key, message, log_start, log_end);
                    return;
                }
            },
        };
        let request = spawn::Request {
            program,
            args: &words,
            env: &env,
            cwd: &cwd,
            output: log.as_fd(),
            stdin: self.dev_null.as_fd(),
            nofile: os::process::child_nofile(),
        };

        let signals = self.signals.get_or_init(Dispositions::current);
        let mut waiters = reaper::lock();
        let started = SystemTime::now();
        let spawned = Instant::now();
        let child =
            os::spawn(&self.base_env, signals, &request).map(|pid| (pid, waiters.register(pid)));
        drop(waiters);
        let (pid, exit) = match child {
            Ok(child) => child,
            Err(err) if err.is_transient() => {
                let _ = writeln!(
                    log,
                    "ptest: the process limit is reached (ulimit -u); this start waits for \
                     other processes to end"
                );
                let (control, control_rx) = mpsc::unbounded_channel();
                self.shared.register(key, 0, control);
                let Ok(dev_null) = self.dev_null.try_clone() else {
                    let message = process::spawn_error(&command, program, &cwd, &err);
                    let (message, log_end) = fail(&mut log, message);
                    self.shared.forget(key);
                    self.report_spawn_failure(key, message, log_start, log_end);
                    return;
                };
                tokio::spawn(retry_start(Deferred {
                    key,
                    program: program.to_owned(),
                    words: words.iter().map(|&w| w.to_owned()).collect(),
                    env,
                    log,
                    timeout,
                    grace,
                    log_path,
                    log_start,
                    command,
                    cwd,
                    echo,
                    base_env: Arc::clone(&self.base_env),
                    signals: signals.clone(),
                    dev_null,
                    control: control_rx,
                    outcomes: self.outcomes.clone(),
                    shared: Arc::clone(&self.shared),
                }));
                return;
            }
            Err(err) => {
                let message = process::spawn_error(&command, program, &cwd, &err);
                let (message, log_end) = fail(&mut log, message);
                self.report_spawn_failure(key, message, log_start, log_end);
                return;
            }
        };
        drop(log);
        let echo =
            echo.map(|(f, prefix, sink)| f.follow(key, log_path.clone(), log_start, prefix, sink));

        let (control, control_rx) = mpsc::unbounded_channel();
        self.shared.register(key, pid, control);
        let program = program.to_owned();
        tokio::spawn(supervise(Attempt {
            key,
            pgid: pid,
            group: None,
            program,
            started,
            spawned,
            timeout,
            grace,
            log_path,
            log_start,
            command,
            cwd,
            exit,
            control: control_rx,
            echo,
            outcomes: self.outcomes.clone(),
            shared: Arc::clone(&self.shared),
        }));
    }

    /// SIGTERM to the attempt's process group, SIGKILL after its grace period; its outcome is
    /// `Cancelled` (or `TimedOut`, if the timeout came first). Unknown or finished keys are ignored.
    pub(crate) fn cancel(&mut self, key: u64) {
        if let Some(handle) = self.shared.lock().attempts.get(&key) {
            let _ = handle.control.send(Control::Cancel);
        }
    }

    /// SIGKILL to every running attempt's group at once (a second Ctrl-C). Their outcomes still
    /// arrive, as `Cancelled` unless already timed out.
    pub(crate) fn kill_all(&mut self) {
        self.shared.kill_all();
    }

    /// A handle that does what `kill_all` does and also cuts a shutdown's grace period short.
    pub(crate) fn kill_switch(&self) -> KillSwitch {
        KillSwitch {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The number of attempts that have not reported yet.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.shared.lock().attempts.len()
    }

    /// At the end of a run: SIGTERM, then SIGKILL after `grace`, to every process group this
    /// executor created that still has members and to every process reparented to ptest
    /// (daemonized grandchildren), reaping them all until ptest has no stray child left. Returns
    /// at once when nothing is left. Attempts still running end `Cancelled`, and their outcomes
    /// are on the channel before this returns, as is every byte echo readers had to write.
    ///
    /// The reaper and the watchdog stay until the [`Closing`] it returns is closed or dropped:
    /// what the last Lua hooks start after this is still ptest's to stop.
    pub(crate) async fn shutdown(self, grace: Duration) -> Closing {
        let (groups, terminated) = {
            let state = self.shared.lock();
            for handle in state.attempts.values() {
                let _ = handle.control.send(Control::Swept);
            }
            let running = state
                .attempts
                .values()
                .filter(|handle| handle.pgid > 0)
                .map(|handle| (handle.pgid, None));
            let groups = state
                .lingering_groups
                .iter()
                .map(|(&pgid, group)| (pgid, group.clone()))
                .chain(running)
                .collect();
            (groups, state.terminated.clone())
        };
        // Without a subreaper, what left every group is found by the run's id it inherited.
        let marker = self.base_env.entry("PTEST_RUN_ID").map(OsStr::to_owned);
        let marker = marker.as_deref();
        self.pruner.abort();
        sweep::sweep(
            groups,
            terminated,
            marker,
            grace,
            self.shared.hurry.subscribe(),
        )
        .await;

        let settle_by = time::Instant::now() + SETTLE_MAX;
        let mut running = self.shared.running.subscribe();
        let _ = time::timeout_at(settle_by, running.wait_for(|&n| n == 0)).await;
        Closing {
            marker: marker.map(OsStr::to_owned),
            shared: self.shared,
            reaper: self.reaper,
        }
    }

    fn follower(&self) -> std::io::Result<Follower> {
        if let Some(f) = self.follower.get() {
            return Ok(f.clone());
        }
        let f = Follower::start()?;
        Ok(self.follower.get_or_init(|| f).clone())
    }

    fn report_spawn_failure(&self, key: u64, message: String, log_start: u64, log_end: u64) {
        report_unstarted(
            &self.outcomes,
            key,
            AttemptEnd::SpawnFailed(message),
            log_start,
            log_end,
        );
    }
}

/// An executor after its shutdown: every group it made is empty, but its reaper and the
/// watchdog's pipe are kept while the run's last Lua hooks (`run_finished`) run, so that what they
/// start (`os.execute("server &")`) is stopped as a suite's leftovers are (DESIGN §7).
pub(crate) struct Closing {
    marker: Option<OsString>,
    shared: Arc<Shared>,
    reaper: JoinHandle<()>,
}

impl Closing {
    pub(crate) fn kill_switch(&self) -> KillSwitch {
        KillSwitch {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops what was started since the shutdown and left running, as the shutdown's own sweep
    /// does (SIGTERM, SIGKILL after `grace`), then says goodbye to the watchdog.
    pub(crate) async fn close(self, grace: Duration) {
        sweep::sweep(
            sweep::Groups::new(),
            BTreeSet::new(),
            self.marker.as_deref(),
            grace,
            self.shared.hurry.subscribe(),
        )
        .await;
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        // Every group is empty now.
        if let Some(w) = &self.shared.watchdog {
            w.goodbye();
        }
        self.reaper.abort();
    }
}

/// The outcome of an attempt that never got a process.
fn report_unstarted(
    outcomes: &mpsc::UnboundedSender<AttemptOutcome>,
    key: u64,
    end: AttemptEnd,
    log_start: u64,
    log_end: u64,
) {
    let _ = outcomes.send(AttemptOutcome {
        key,
        end,
        started: SystemTime::now(),
        duration: Duration::ZERO,
        peak_rss_kb: None,
        cpu_time: None,
        log_start,
        log_end,
    });
}

/// The first wait before a start the process limit refused is tried again, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_millis(500);
/// How long a start may wait for the process limit before its suite fails, saying why.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// A start refused with EAGAIN (the process limit: `ulimit -u`, a cgroup's `pids.max`), with
/// everything needed to try it again: the slot stays taken, the timeout starts with the
/// process.
struct Deferred {
    key: u64,
    program: PathBuf,
    words: Vec<OsString>,
    env: Vec<(String, OsString)>,
    log: File,
    timeout: Duration,
    grace: Duration,
    log_path: PathBuf,
    log_start: u64,
    command: CommandLine,
    cwd: PathBuf,
    echo: Option<(Follower, String, Arc<dyn crate::exec::LineSink>)>,
    base_env: Arc<BaseEnv>,
    signals: Dispositions,
    dev_null: OwnedFd,
    control: mpsc::UnboundedReceiver<Control>,
    outcomes: mpsc::UnboundedSender<AttemptOutcome>,
    shared: Arc<Shared>,
}

/// Tries a deferred start again, backing off, until it succeeds (then supervises it as any
/// other), is cancelled (fail-fast, Ctrl-C, shutdown: it ends `Cancelled`), or `RETRY_FOR`
/// passes (it fails with a message naming the limit).
async fn retry_start(mut d: Deferred) {
    let since = Instant::now();
    let mut delay = RETRY_FIRST;
    loop {
        tokio::select! {
            biased;
            Some(_) = d.control.recv() => {
                d.shared.forget(d.key);
                let log_end = d.log.metadata().map_or(d.log_start, |meta| meta.len());
                report_unstarted(&d.outcomes, d.key, AttemptEnd::Cancelled, d.log_start, log_end);
                return;
            }
            () = time::sleep(delay) => {}
        }
        let words: Vec<&OsStr> = d.words.iter().map(OsString::as_os_str).collect();
        let request = spawn::Request {
            program: &d.program,
            args: &words,
            env: &d.env,
            cwd: &d.cwd,
            output: d.log.as_fd(),
            stdin: d.dev_null.as_fd(),
            nofile: os::process::child_nofile(),
        };
        let started = SystemTime::now();
        let spawned = Instant::now();
        let child = {
            let mut waiters = reaper::lock();
            os::spawn(&d.base_env, &d.signals, &request).map(|pid| (pid, waiters.register(pid)))
        };
        match child {
            Ok((pid, exit)) => {
                {
                    let mut state = d.shared.lock();
                    if let Some(handle) = state.attempts.get_mut(&d.key) {
                        handle.pgid = pid;
                    }
                    state.terminated.remove(&pid);
                }
                if let Some(w) = &d.shared.watchdog {
                    w.group(pid);
                }
                let Deferred {
                    key,
                    program,
                    log,
                    echo,
                    timeout,
                    grace,
                    log_path,
                    log_start,
                    command,
                    cwd,
                    control,
                    outcomes,
                    shared,
                    ..
                } = d;
                drop(log);
                let echo = echo.map(|(f, prefix, sink)| {
                    f.follow(key, log_path.clone(), log_start, prefix, sink)
                });
                supervise(Attempt {
                    key,
                    pgid: pid,
                    group: None,
                    program,
                    started,
                    spawned,
                    timeout,
                    grace,
                    log_path,
                    log_start,
                    command,
                    cwd,
                    exit,
                    control,
                    echo,
                    outcomes,
                    shared,
                })
                .await;
                return;
            }
            Err(err) if err.is_transient() && since.elapsed() < RETRY_FOR => {
                delay = (delay * 2).min(RETRY_MAX);
            }
            Err(err) => {
                let message = if err.is_transient() {
                    format!(
                        "cannot start {}: the process limit (ulimit -u) stayed reached for {} s",
                        d.command.program(),
                        RETRY_FOR.as_secs()
                    )
                } else {
                    process::spawn_error(&d.command, &d.program, &d.cwd, &err)
                };
                let _ = writeln!(d.log, "ptest: {message}");
                let log_end = d.log.metadata().map_or(d.log_start, |meta| meta.len());
                d.shared.forget(d.key);
                report_unstarted(
                    &d.outcomes,
                    d.key,
                    AttemptEnd::SpawnFailed(message),
                    d.log_start,
                    log_end,
                );
                return;
            }
        }
    }
}

/// Everything one attempt's task owns.
struct Attempt {
    key: u64,
    /// Also the leader's pid.
    pgid: Pid,
    /// The group itself once its leader is reaped (a pidfd on the leader, opened by the reaper
    /// just before), where the system can hold it.
    group: Option<Arc<GroupHandle>>,
    /// The file it exec'd (or tried to).
    program: PathBuf,
    started: SystemTime,
    spawned: Instant,
    timeout: Duration,
    grace: Duration,
    /// The log is not kept open while the attempt runs: with hundreds running, ptest's own
    /// descriptors would limit how many may, so its length is read by path at the end.
    log_path: PathBuf,
    log_start: u64,
    /// What was started, and where: to explain a start that failed before its exec.
    command: CommandLine,
    cwd: PathBuf,
    exit: oneshot::Receiver<Exit>,
    control: mpsc::UnboundedReceiver<Control>,
    /// With `-v`: the follower's handle on this attempt's log.
    echo: Option<Followed>,
    outcomes: mpsc::UnboundedSender<AttemptOutcome>,
    shared: Arc<Shared>,
}

async fn supervise(mut attempt: Attempt) {
    let deadline = time::Instant::from_std(attempt.spawned + attempt.timeout.min(FOREVER));
    let grace = attempt.grace.min(FOREVER);
    let pgid = attempt.pgid;
    let mut stopping: Option<AttemptEnd> = None;
    let mut kill_at: Option<time::Instant> = None;
    let exit = loop {
        tokio::select! {
            // Control first: a cancel that raced with the exit still reads as a cancel.
            biased;
            Some(control) = attempt.control.recv() => match control {
                Control::Cancel => {
                    if stopping.is_none() {
                        stopping = Some(AttemptEnd::Cancelled);
                        terminate(&attempt.shared, pgid, attempt.group.as_deref());
                        kill_at = Some(time::Instant::now() + grace);
                    }
                }
                Control::Killed => {
                    stopping.get_or_insert(AttemptEnd::Cancelled);
                    kill_at = None;
                }
                Control::Swept => {
                    stopping.get_or_insert(AttemptEnd::Cancelled);
                }
            },
            exit = &mut attempt.exit => {
                let mut exit = exit.ok();
                attempt.group = exit.as_mut().and_then(|e| e.group.take()).map(Arc::new);
                break exit;
            }
            () = time::sleep_until(deadline), if stopping.is_none() => {
                stopping = Some(AttemptEnd::TimedOut);
                terminate(&attempt.shared, pgid, attempt.group.as_deref());
                kill_at = Some(time::Instant::now() + grace);
            }
            () = at(kill_at) => {
                signal(&attempt.shared, pgid, attempt.group.as_deref(), Signal::KILL);
                kill_at = None;
            }
        }
    };

    if let Some(echo) = attempt.echo.take() {
        drain(echo, pgid, attempt.group.as_deref()).await;
    }
    // A child that could not exec ends with status 127 and left the reason behind.
    let failed = exit
        .as_ref()
        .filter(|exit| exit.end() == AttemptEnd::Exited(127))
        .and_then(|_| os::take_failure(pgid))
        .map(|err| {
            let message =
                process::spawn_error(&attempt.command, &attempt.program, &attempt.cwd, &err);
            explain_in_log(&attempt.log_path, &message);
            message
        });
    let end = match (stopping, &exit, failed) {
        (_, _, Some(message)) => AttemptEnd::SpawnFailed(message),
        (Some(end), _, None) => end,
        (None, Some(exit), None) => exit.end(),
        // Only if something else in ptest waited for our child: say so rather than hang.
        (None, None, None) => {
            AttemptEnd::SpawnFailed(format!("process {pgid} was reaped elsewhere"))
        }
    };
    let spawn_failed = matches!(end, AttemptEnd::SpawnFailed(_));
    let reaped_at = exit.as_ref().map_or_else(Instant::now, |exit| exit.at);
    let outcome = AttemptOutcome {
        key: attempt.key,
        end,
        started: attempt.started,
        duration: if spawn_failed {
            Duration::ZERO
        } else {
            reaped_at.saturating_duration_since(attempt.spawned)
        },
        peak_rss_kb: exit
            .as_ref()
            .filter(|_| !spawn_failed)
            .map(|exit| exit.peak_rss_kb),
        cpu_time: exit
            .as_ref()
            .filter(|_| !spawn_failed)
            .map(|exit| exit.cpu_time),
        log_start: attempt.log_start,
        log_end: std::fs::metadata(&attempt.log_path).map_or(attempt.log_start, |meta| meta.len()),
    };
    {
        let mut state = attempt.shared.lock();
        state.attempts.remove(&attempt.key);
        // A group whose members all ended can be forgotten now, before its number is reused.
        state.lingering_groups.insert(pgid, attempt.group.clone());
        drop(state);
        attempt.shared.prune_lingering();
        let state = attempt.shared.lock();
        attempt.shared.running.send_replace(state.attempts.len());
    }
    let _ = attempt.outcomes.send(outcome);

    // The leader is gone but the rest of its group got SIGTERM too and may ignore it: SIGKILL
    // if the group is still there and still ptest's (its number may be someone else's by now).
    if let Some(kill_at) = kill_at {
        time::sleep_until(kill_at).await;
        signal(
            &attempt.shared,
            pgid,
            attempt.group.as_deref(),
            Signal::KILL,
        );
    }
}

/// The one SIGTERM a stop sends to an attempt's group, remembered for the shutdown sweep.
fn terminate(shared: &Shared, pgid: Pid, group: Option<&GroupHandle>) {
    shared.lock().terminated.insert(pgid);
    signal(shared, pgid, group, Signal::TERM);
}

/// A signal to an attempt's group, while it is provably still ptest's (`groups`).
fn signal(shared: &Shared, pgid: Pid, group: Option<&GroupHandle>, signal: Signal) {
    let marker = shared.marker();
    groups::signal(pgid, group, Some(signal), marker.as_deref());
}

/// Appends `ptest: <message>` to a log, as a start that fails at once does; if even that write
/// fails, the outcome still says it.
fn explain_in_log(path: &Path, message: &str) {
    if let Ok(mut log) = log::open_fresh(path, true) {
        let _ = writeln!(log, "ptest: {message}");
    }
}

async fn at(deadline: Option<time::Instant>) {
    match deadline {
        Some(deadline) => time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Echoes the rest of an ended attempt's output. While its group still has members (a
/// grandchild that may still write to the log), the log is followed for as long as it keeps
/// growing, within bounds; then it is read to its end, the last unfinished line included.
async fn drain(echo: Followed, pgid: Pid, group: Option<&GroupHandle>) {
    let give_up = time::Instant::now() + DRAIN_MAX;
    let mut quiet_since = time::Instant::now();
    while groups::alive(pgid, group)
        && quiet_since.elapsed() < DRAIN_IDLE
        && time::Instant::now() < give_up
    {
        match time::timeout_at(give_up, echo.flush()).await {
            Ok(Some(true)) => quiet_since = time::Instant::now(),
            Ok(Some(false)) => {}
            Ok(None) | Err(_) => break,
        }
        time::sleep(DRAIN_TICK).await;
    }
    // Bounded only against a sink that blocks (a terminal that stopped reading).
    let _ = time::timeout(DRAIN_MAX, echo.finish()).await;
}
