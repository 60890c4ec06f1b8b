//! Warm starts (a batch's `warm` command, docs/batches.md): the process a batch's parts start
//! from — the pytest preset's zygote, which imports what every part needs once and forks a
//! child per part. It is started by the executor like any suite's process (its own process
//! group, its log, the watchdog, the end-of-run sweep), when the batch's first part is about to
//! start, and stopped once the batch's last part has finished. Its parts reach it through
//! `PTEST_WARM`, the path of a Unix socket in the run's private socket folder.
//!
//! A zygote that ends while parts still need it is started once more; after a second end, or
//! when it refuses (exit code [`REFUSED`], its reason in `SOCKET.off`), the batch's parts start
//! fresh and the run says so once. Decides nothing about the schedule: the driver asks it
//! before a part starts and tells it what ended.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::exec::{AttemptEnd, AttemptOutcome, AttemptSpec, FOREVER, LogStart};
use crate::plan::Plan;

/// The exit code of a zygote that will not fork (threads at import, a module that refuses):
/// its parts start fresh, and it is not started again.
pub(crate) const REFUSED: i32 = 3;

/// The most a zygote is started for one batch in one run.
const STARTS: u32 = 2;

/// Where a refusal's reason is read, at most this much of it.
const REASON_MAX: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not running; starts before the batch's next part (`starts` < [`STARTS`]).
    Idle,
    Running,
    /// Stopped by ptest: the batch's parts have all finished, or the run stops.
    Stopped,
    /// Parts start fresh from now on.
    Off,
}

struct Zygote {
    key: u64,
    name: String,
    socket: PathBuf,
    log: PathBuf,
    starts: u32,
    state: State,
    /// Parts of the batch that have not finished.
    parts_left: usize,
    tmpdir: Option<PathBuf>,
}

/// What the driver must do before a part of a warm batch starts.
pub(crate) struct BeforePart {
    /// Start this process first (the batch's zygote), with this temporary folder.
    pub start: Option<AttemptSpec>,
    /// `PTEST_WARM` for the part: the zygote's socket, when there is one to reach.
    pub env: Option<(String, OsString)>,
}

/// The zygotes of a run's warm batches, by batch name.
pub(crate) struct Zygotes {
    by_batch: HashMap<String, Zygote>,
    /// The folder their sockets go in (the run's private socket folder); `None`: no warm start.
    dir: Option<PathBuf>,
}

/// The keys of zygotes' attempts: from the top of the range, never the core's (counted from 0)
/// nor a service's (counted up from 2^62); the driver asks about them before services.
const KEY_TOP: u64 = u64::MAX;

impl Zygotes {
    /// One zygote per batch with a `warm` command. `log_names` holds a log file name for
    /// every suite followed by one for each of these batches' zygotes (`BATCH[warm]`), as
    /// [`Zygotes::names`] lists them.
    pub(crate) fn new(plan: &Plan, dir: Option<PathBuf>) -> Zygotes {
        let mut by_batch: HashMap<String, Zygote> = HashMap::new();
        let suite_names = super::files::log_names(
            plan.suites
                .iter()
                .map(|s| s.name.as_str())
                .chain(Zygotes::names(plan).iter().map(String::as_str)),
        );
        let logs = &suite_names[plan.suites.len()..];
        for (i, batch) in Zygotes::batches(plan).into_iter().enumerate() {
            let parts = plan
                .suites
                .iter()
                .filter(|s| s.part.as_ref().is_some_and(|p| p.batch == batch))
                .count();
            let socket = dir
                .as_deref()
                .map(|d| d.join(format!("w{}.sock", i + 1)))
                .unwrap_or_default();
            by_batch.insert(
                batch.clone(),
                Zygote {
                    key: KEY_TOP - i as u64,
                    name: format!("{batch}[warm]"),
                    socket,
                    log: plan.log_dir.join(&logs[i]),
                    starts: 0,
                    // One part has nothing to share its start with.
                    state: if dir.is_some() && parts > 1 {
                        State::Idle
                    } else {
                        State::Off
                    },
                    parts_left: parts,
                    tmpdir: None,
                },
            );
        }
        Zygotes { by_batch, dir }
    }

    /// The warm batches, in plan order.
    fn batches(plan: &Plan) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &plan.suites {
            if let Some(p) = &s.part {
                if p.warm.is_some() && !out.contains(&p.batch) {
                    out.push(p.batch.clone());
                }
            }
        }
        out
    }

    /// The zygotes' names (`BATCH[warm]`), in plan order: their log files are named after them.
    pub(crate) fn names(plan: &Plan) -> Vec<String> {
        Zygotes::batches(plan)
            .into_iter()
            .map(|b| format!("{b}[warm]"))
            .collect()
    }

    /// Before a part of `batch` starts: the zygote to start first, if it is not running, and
    /// the variable that leads the part to it. `tmpdir` gives the zygote a temporary folder
    /// when it starts; `base` is the part's own environment (its `env`, templates filled
    /// without the attempt's values), `cwd` its folder.
    pub(crate) fn before_part(
        &mut self,
        plan: &Plan,
        batch: &str,
        cwd: &Path,
        base: Vec<(String, OsString)>,
        tmpdir: impl FnOnce() -> PathBuf,
    ) -> BeforePart {
        let Some(z) = self.by_batch.get_mut(batch) else {
            return BeforePart {
                start: None,
                env: None,
            };
        };
        let warm = plan
            .suites
            .iter()
            .filter_map(|s| s.part.as_ref())
            .find(|p| p.batch == batch)
            .and_then(|p| p.warm.clone());
        let mut start = None;
        if let (State::Idle, Some(cmd)) = (z.state, warm) {
            let dir = z.tmpdir.get_or_insert_with(tmpdir).clone();
            // A socket an earlier zygote of this batch left: the new one binds the same path.
            if z.starts > 0 {
                let _ = std::fs::remove_file(&z.socket);
                let mut new = z.socket.clone().into_os_string();
                new.push(".new");
                let _ = std::fs::remove_file(new);
            }
            z.starts += 1;
            z.state = State::Running;
            let mut env = base;
            env.extend([
                ("PTEST_WARM".to_owned(), z.socket.clone().into_os_string()),
                ("PTEST_SUITE".to_owned(), OsString::from(&z.name)),
                ("PTEST_TMPDIR".to_owned(), dir.clone().into_os_string()),
                ("TMPDIR".to_owned(), dir.into_os_string()),
                ("PTEST_LOG".to_owned(), z.log.clone().into_os_string()),
            ]);
            start = Some(AttemptSpec {
                key: z.key,
                command: cmd,
                cwd: cwd.to_path_buf(),
                env,
                log_path: z.log.clone(),
                header: format!("=== ptest: {} start {}/{STARTS} ===", z.name, z.starts),
                log_start: if z.starts == 1 {
                    LogStart::Fresh(None)
                } else {
                    LogStart::Append
                },
                timeout: FOREVER,
                grace: plan.grace,
                echo: None,
            });
        }
        let env = (z.state == State::Running)
            .then(|| ("PTEST_WARM".to_owned(), z.socket.clone().into_os_string()));
        BeforePart { start, env }
    }

    /// A part of `batch` has finished (for good: no attempt of it follows). The key of the
    /// zygote to stop, when it was the batch's last part.
    pub(crate) fn part_finished(&mut self, batch: &str) -> Option<u64> {
        let z = self.by_batch.get_mut(batch)?;
        z.parts_left = z.parts_left.saturating_sub(1);
        if z.parts_left > 0 {
            return None;
        }
        let running = z.state == State::Running;
        if matches!(z.state, State::Running | State::Idle) {
            z.state = State::Stopped;
        }
        running.then_some(z.key)
    }

    /// An attempt ended: `None` when it was no zygote's; else what the run should be told
    /// (a warning, when the zygote's batch lost its warm start or is starting it again), and
    /// the zygote's temporary folder once it is done with it.
    pub(crate) fn ended(
        &mut self,
        o: &AttemptOutcome,
    ) -> Option<(Option<String>, Option<PathBuf>)> {
        let z = self.by_batch.values_mut().find(|z| z.key == o.key)?;
        let batch = z.name.trim_end_matches("[warm]").to_owned();
        let was = z.state;
        let done = |z: &mut Zygote| {
            if z.state == State::Running {
                z.state = State::Off;
            }
            z.tmpdir.take()
        };
        if was != State::Running || matches!(o.end, AttemptEnd::Cancelled) {
            if z.state == State::Running {
                z.state = State::Stopped;
            }
            return Some((None, z.tmpdir.take()));
        }
        if o.end == AttemptEnd::Exited(REFUSED) {
            let why = reason(&z.socket);
            let tmp = done(z);
            return Some((
                Some(format!(
                    "batch \"{batch}\": warm start off ({why}): its parts start fresh processes; log: {}",
                    z.log.display()
                )),
                tmp,
            ));
        }
        let how = match &o.end {
            AttemptEnd::Exited(code) => format!("exited with {code}"),
            AttemptEnd::Signaled(sig) => format!("was killed by signal {sig}"),
            AttemptEnd::TimedOut => "timed out".to_owned(),
            AttemptEnd::SpawnFailed(m) => format!("could not start: {m}"),
            AttemptEnd::Cancelled => unreachable!("handled above"),
        };
        if z.starts < STARTS && z.parts_left > 0 {
            z.state = State::Idle;
            return Some((
                Some(format!(
                    "batch \"{batch}\": its warm process {how}; starting it once more (log: {})",
                    z.log.display()
                )),
                None,
            ));
        }
        let tmp = done(z);
        Some((
            (z.parts_left > 0).then(|| {
                format!(
                    "batch \"{batch}\": its warm process {how} again: the batch's parts start fresh processes; log: {}",
                    z.log.display()
                )
            }),
            tmp,
        ))
    }

    /// What zygotes may have left, for removal at the end of the run: their sockets, and
    /// the temporary folders of those whose end was not heard of before the run's end.
    pub(crate) fn leftovers(&mut self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self
            .by_batch
            .values_mut()
            .filter_map(|z| z.tmpdir.take())
            .collect();
        if self.dir.is_none() {
            return out;
        }
        for z in self.by_batch.values().filter(|z| z.starts > 0) {
            out.push(z.socket.clone());
            for suffix in [".off", ".new", ".off.tmp"] {
                let mut path = z.socket.clone().into_os_string();
                path.push(suffix);
                out.push(PathBuf::from(path));
            }
        }
        out
    }
}

/// Why a zygote refused, as it wrote it beside its socket (`SOCKET.off`), on one line.
fn reason(socket: &Path) -> String {
    let mut path = socket.as_os_str().to_owned();
    path.push(".off");
    let mut text = String::new();
    let read = std::fs::File::open(OsStr::new(&path))
        .and_then(|f| f.take(REASON_MAX).read_to_string(&mut text));
    let line: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if read.is_err() || line.trim().is_empty() {
        "it refused to fork".to_owned()
    } else {
        line.trim().to_owned()
    }
}

/// The part's environment as the zygote gets it: the values that name one attempt (its
/// worker, attempt, temporary folder) are left out, since the zygote serves them all.
pub(crate) fn base_env(
    env: &[(String, OsString)],
    fill: impl Fn(&OsStr) -> OsString,
) -> Vec<(String, OsString)> {
    let per_attempt = |v: &OsStr| {
        ["{worker}", "{attempt}", "{tmpdir}"]
            .iter()
            .any(|p| crate::command::has(v, p))
    };
    env.iter()
        .filter(|(_, v)| !per_attempt(v))
        .map(|(k, v)| (k.clone(), fill(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandLine;
    use std::time::{Duration, SystemTime};

    const CONFIG: &str = r#"
ptest.batch { name = "unit", items = { "a", "b", "c" }, cmd = { "run", "{items}" }, batches = 3,
  warm = { "zygote", "x" }, env = { KEEP = "k", W = "w{worker}", T = "{tmpdir}/x", S = "{suite}" } }
ptest.batch { name = "cold", items = { "a", "b" }, cmd = { "run", "{items}" }, batches = 2 }
ptest.batch { name = "one", items = { "a" }, cmd = { "run", "{items}" }, warm = "zygote" }
"#;

    fn zygotes() -> (Plan, Zygotes) {
        let plan = crate::plan::tests::plan(CONFIG);
        let z = Zygotes::new(&plan, Some(PathBuf::from("/run/sock")));
        (plan, z)
    }

    fn ended(key: u64, end: AttemptEnd) -> AttemptOutcome {
        AttemptOutcome {
            key,
            end,
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            peak_rss_kb: None,
            cpu_time: None,
            log_start: 0,
            log_end: 0,
        }
    }

    fn before(plan: &Plan, z: &mut Zygotes, batch: &str) -> BeforePart {
        z.before_part(
            plan,
            batch,
            Path::new("/w"),
            vec![("KEEP".into(), "k".into())],
            || PathBuf::from("/tmp/z"),
        )
    }

    #[test]
    fn the_first_part_starts_the_zygote_and_every_part_is_led_to_it() {
        let (plan, mut z) = zygotes();
        let first = before(&plan, &mut z, "unit");
        let spec = first
            .start
            .expect("the zygote starts before the first part");
        assert_eq!(spec.key, u64::MAX);
        assert_eq!(
            spec.command,
            CommandLine::Argv(vec!["zygote".into(), "x".into()])
        );
        assert_eq!(spec.cwd, Path::new("/w"));
        assert_eq!(spec.timeout, FOREVER);
        assert!(
            spec.log_path.ends_with("unit_warm_.log"),
            "{:?}",
            spec.log_path
        );
        let var = |k: &str| {
            spec.env
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(var("PTEST_WARM").as_deref(), Some("/run/sock/w1.sock"));
        assert_eq!(var("PTEST_SUITE").as_deref(), Some("unit[warm]"));
        assert_eq!(var("TMPDIR").as_deref(), Some("/tmp/z"));
        assert_eq!(var("KEEP").as_deref(), Some("k"));
        assert_eq!(
            first.env,
            Some(("PTEST_WARM".to_owned(), "/run/sock/w1.sock".into()))
        );
        let second = before(&plan, &mut z, "unit");
        assert!(second.start.is_none(), "one zygote for the batch");
        assert_eq!(second.env, first.env);
    }

    #[test]
    fn batches_without_warm_or_with_one_part_have_none() {
        let (plan, mut z) = zygotes();
        for batch in ["cold", "one"] {
            let b = before(&plan, &mut z, batch);
            assert!(b.start.is_none() && b.env.is_none(), "{batch}");
        }
        assert_eq!(Zygotes::names(&plan), ["unit[warm]", "one[warm]"]);
        // Without a socket folder, nothing is warm.
        let mut none = Zygotes::new(&plan, None);
        let b = before(&plan, &mut none, "unit");
        assert!(b.start.is_none() && b.env.is_none());
        assert!(none.leftovers().is_empty());
    }

    #[test]
    fn the_zygote_stops_when_the_last_part_finishes() {
        let (plan, mut z) = zygotes();
        before(&plan, &mut z, "unit");
        assert_eq!(z.part_finished("unit"), None);
        assert_eq!(z.part_finished("unit"), None);
        assert_eq!(z.part_finished("unit"), Some(u64::MAX));
        assert_eq!(z.part_finished("unit"), None, "once");
        // Stopped by ptest: nothing to say, and its folder goes back.
        let (warning, tmp) = z.ended(&ended(u64::MAX, AttemptEnd::Cancelled)).unwrap();
        assert_eq!((warning, tmp), (None, Some(PathBuf::from("/tmp/z"))));
        assert!(
            z.ended(&ended(7, AttemptEnd::Exited(0))).is_none(),
            "not a zygote's key"
        );
        assert_eq!(
            z.leftovers(),
            [
                PathBuf::from("/run/sock/w1.sock"),
                PathBuf::from("/run/sock/w1.sock.off"),
                PathBuf::from("/run/sock/w1.sock.new"),
                PathBuf::from("/run/sock/w1.sock.off.tmp")
            ]
        );
    }

    #[test]
    fn a_zygote_that_dies_starts_once_more_then_the_parts_go_cold() {
        let (plan, mut z) = zygotes();
        before(&plan, &mut z, "unit");
        let (warning, tmp) = z.ended(&ended(u64::MAX, AttemptEnd::Exited(9))).unwrap();
        assert!(
            warning.as_deref().unwrap().starts_with(
                "batch \"unit\": its warm process exited with 9; starting it once more"
            ),
            "{warning:?}"
        );
        assert_eq!(tmp, None, "kept for the next start");
        let again = before(&plan, &mut z, "unit");
        let spec = again.start.expect("started once more");
        assert!(matches!(spec.log_start, LogStart::Append));
        assert!(spec.header.contains("start 2/2"), "{}", spec.header);
        let (warning, tmp) = z.ended(&ended(u64::MAX, AttemptEnd::Signaled(9))).unwrap();
        assert!(
            warning
                .as_deref()
                .unwrap()
                .contains("was killed by signal 9 again: the batch's parts start fresh processes"),
            "{warning:?}"
        );
        assert_eq!(tmp, Some(PathBuf::from("/tmp/z")));
        let later = before(&plan, &mut z, "unit");
        assert!(later.start.is_none() && later.env.is_none(), "off for good");
    }

    #[test]
    fn a_refusal_is_said_once_with_its_reason_and_never_retried() {
        let dir = tempfile::tempdir().unwrap();
        let plan = crate::plan::tests::plan(CONFIG);
        let mut z = Zygotes::new(&plan, Some(dir.path().to_path_buf()));
        before(&plan, &mut z, "unit");
        std::fs::write(
            dir.path().join("w1.sock.off"),
            "a thread runs after the imports (poller)\x1b[31m\nmore\n",
        )
        .unwrap();
        let (warning, _) = z
            .ended(&ended(u64::MAX, AttemptEnd::Exited(REFUSED)))
            .unwrap();
        let warning = warning.unwrap();
        assert!(
            warning.starts_with(
                "batch \"unit\": warm start off (a thread runs after the imports (poller)[31m): its parts start fresh processes"
            ),
            "{warning}"
        );
        let later = before(&plan, &mut z, "unit");
        assert!(later.start.is_none() && later.env.is_none());
        // No reason written: a plain one.
        assert_eq!(reason(&dir.path().join("none.sock")), "it refused to fork");
    }

    #[test]
    fn the_zygote_gets_the_batch_env_but_not_one_attempts_values() {
        let plan = crate::plan::tests::plan(CONFIG);
        let unit = plan.suites.iter().find(|s| s.name == "unit[1]").unwrap();
        let env: Vec<(String, OsString)> = unit
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let base = base_env(&env, |v| crate::command::replace(v, "{suite}", b"unit[1]"));
        let mut keys: Vec<&str> = base.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["KEEP", "S"]);
        assert!(base.contains(&("S".to_owned(), OsString::from("unit[1]"))));
    }
}
