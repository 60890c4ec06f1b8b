//! Where every setting comes from, in one place: the command line, then the environment, then
//! `ptest.lua`, then the defaults. Read in two steps, each once: [`Given::read`] takes what the
//! command line and the environment say, before `ptest.lua` runs (which config and history,
//! the profile and variables the config reads, the selection); [`resolve`] adds the config's
//! `ptest.config` and returns every run-wide setting with its source. Nothing after them reads
//! the arguments or these variables: `plan::build` applies the result, the run reads it from the
//! plan. Pure: the environment comes in as a lookup function, so tests can give any.
//!
//! Must not import `plan` (the plan carries the settings), `lua` or anything that does I/O.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;

/// Where the worker count came from (shown by `ptest plan` and the run header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerSource {
    /// `-j N`
    Jobs,
    /// `--sequential`
    Sequential,
    /// `PTEST_WORKERS`
    EnvWorkers,
    /// `PTEST_DISABLE_PARALLEL=true`
    EnvDisableParallel,
    /// `ptest.config { workers = ... }`
    Config,
    /// `"auto"` or nothing: the CPUs ptest may use (`ptest.sys.cpus`: the affinity mask, capped by a
    /// cgroup CPU quota).
    Auto,
}

impl WorkerSource {
    pub fn label(self) -> &'static str {
        match self {
            WorkerSource::Jobs => "--jobs",
            WorkerSource::Sequential => "--sequential",
            WorkerSource::EnvWorkers => "PTEST_WORKERS",
            WorkerSource::EnvDisableParallel => "PTEST_DISABLE_PARALLEL",
            WorkerSource::Config => "ptest.lua",
            WorkerSource::Auto => "auto: usable CPUs",
        }
    }

    /// Set outside `ptest.lua` (command line or environment): a ceiling for phase counts too.
    pub fn is_override(self) -> bool {
        !matches!(self, WorkerSource::Config | WorkerSource::Auto)
    }
}

/// The defaults of DESIGN §2 `ptest.config`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_LOG_DIR: &str = "test-logs";
/// DESIGN §8: beside the config.
pub(crate) const DEFAULT_HISTORY: &str = ".ptest/history.json";

/// The environment variables settings read (DESIGN §4, §8, §10), and no others.
const VARIABLES: &[&str] = &[
    "PTEST_WORKERS",
    "PTEST_DISABLE_PARALLEL",
    "NO_COLOR",
    "PTEST_HISTORY",
    "PTEST_SHARD",
    "CI_NODE_INDEX",
    "CI_NODE_TOTAL",
    "CIRCLE_NODE_INDEX",
    "CIRCLE_NODE_TOTAL",
    "BUILDKITE_PARALLEL_JOB",
    "BUILDKITE_PARALLEL_JOB_COUNT",
    "JOB_COMPLETION_INDEX",
    "PTEST_SHARD_TOTAL",
];

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, by its long name (`--timeout`).
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// `ptest.config { ... }` in `ptest.lua`.
    Config,
    Default,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Flag(f) | Source::Env(f) => f,
            Source::Config => "ptest.lua",
            Source::Default => "default",
        }
    }
}

/// A resolved value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T, S = Source> {
    pub value: T,
    pub source: S,
}

fn sourced<T>(value: T, source: Source) -> Sourced<T> {
    Sourced { value, source }
}

/// `--shard K/N`: the K-th (from 1) of N parts (DESIGN §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected K/N with 1 <= K <= N, got \"{s}\"");
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let total: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > total {
            return Err(bad());
        }
        Ok(Shard { index, total })
    }
}

/// `-j N` or `-j auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jobs {
    Count(u32),
    Auto,
}

/// The most workers a run may have: each is a slot ptest tracks, and no machine runs more
/// suites than this at once.
pub(crate) const MAX_WORKERS: u32 = 65_536;
/// What a larger count is told.
pub(crate) const TOO_MANY_WORKERS: &str = "is more workers than ptest runs at once (at most 65536)";

impl std::str::FromStr for Jobs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Jobs::Auto);
        }
        match s.trim().parse::<u64>() {
            Ok(n) if n > u64::from(MAX_WORKERS) => Err(format!("{n} {TOO_MANY_WORKERS}")),
            Ok(n) if n >= 1 => Ok(Jobs::Count(n as u32)),
            _ => Err(format!(
                "expected a positive integer or \"auto\", got \"{s}\""
            )),
        }
    }
}

/// `--color`: auto (only on a terminal, never with `NO_COLOR`), always or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// What `ptest.config { ... }` declared (DESIGN §2); `None` where it said nothing, and later
/// calls override earlier ones. The Lua layer fills it; [`resolve`] reads the run-wide settings
/// in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ConfigDecl {
    pub workers: Option<WorkersDecl>,
    pub log_dir: Option<PathBuf>,
    pub fail_fast: Option<bool>,
    pub timeout: Option<Duration>,
    pub grace: Option<Duration>,
    /// `memory = "6GB"`: the budget of running suites' memory, in bytes.
    pub memory: Option<u64>,
}

/// A worker count from `ptest.lua` (the config's or a phase's), already evaluated when it was
/// `"auto"` or a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WorkersDecl {
    pub count: u32,
    /// Written as a number: a `slots` above it is a mistake, not a smaller machine.
    pub literal: bool,
}

/// What the command line says, before precedence: `None` where no flag was given.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub jobs: Option<Jobs>,
    pub sequential: bool,
    pub fail_fast: Option<bool>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    /// Relative to the current directory.
    pub log_dir: Option<PathBuf>,
    pub color: ColorChoice,
    /// `--history FILE` (relative to the current directory).
    pub history: Option<PathBuf>,
    /// `--no-history`: neither read nor write it.
    pub no_history: bool,
    pub shard: Option<Shard>,
}

/// What the command line and the environment say, read once before `ptest.lua` runs.
#[derive(Debug, Clone)]
pub(crate) struct Given {
    /// The config file, as given or found.
    pub config: PathBuf,
    /// `--profile` and `--set`: `ptest.profile` and `ptest.vars` in the config.
    pub profile: Option<String>,
    pub vars: Vec<(String, String)>,
    /// Where history is read and written: needed before the config runs (history feeds the
    /// plan). `None`: `--no-history`.
    pub history: Sourced<Option<PathBuf>>,
    pub selection: Selection,
    pub overrides: Overrides,
    /// The values of [`VARIABLES`] that were set.
    env: BTreeMap<&'static str, String>,
}

impl Given {
    /// What the command line asked (`overrides`, `selection`) and the environment (`env`: only
    /// the variables settings read are kept), for the config at `config`.
    pub(crate) fn new(
        config: PathBuf,
        overrides: Overrides,
        selection: Selection,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Given {
        let env: BTreeMap<&'static str, String> = VARIABLES
            .iter()
            .filter_map(|&k| env(k).map(|v| (k, v)))
            .collect();
        let lookup = |k: &str| env.get(k).cloned();
        let history = history(
            overrides.no_history,
            overrides.history.as_deref(),
            &lookup,
            config_dir(&config),
        );
        Given {
            config,
            profile: None,
            vars: Vec::new(),
            history,
            selection,
            overrides,
            env,
        }
    }

    fn env(&self, key: &str) -> Option<String> {
        self.env.get(key).cloned()
    }
}

/// The folder a config path is in, as given (`.` for a bare `ptest.lua`).
fn config_dir(config: &Path) -> &Path {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Every run-wide setting, resolved, with its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub workers: Sourced<u32, WorkerSource>,
    pub fail_fast: Sourced<bool>,
    /// A suite's timeout when it names none; from the command line, every suite's.
    pub timeout: Sourced<Duration>,
    pub grace: Sourced<Duration>,
    /// `--retries N`: extra attempts for every suite.
    pub retries: Sourced<Option<u32>>,
    /// Absolute when given on the command line; else under the config's folder.
    pub log_dir: Sourced<PathBuf>,
    /// `Auto` still asks whether stdout is a terminal (a fact of the machine, not a setting).
    pub color: Sourced<ColorChoice>,
    /// Where the run reads and writes history; `None`: no history is read or written.
    pub history: Sourced<Option<PathBuf>>,
    pub shard: Sourced<Option<Shard>>,
    /// The suites to keep.
    pub selection: Selection,
}

/// Every setting from what the command line and environment gave and `ptest.lua`'s
/// `ptest.config`; `config_dir` is the config file's folder, `cpus` the machine's logical CPUs.
pub(crate) fn resolve(
    given: &Given,
    lua: &ConfigDecl,
    config_dir: &Path,
    cpus: u32,
) -> Result<Settings, Error> {
    let env = |k: &str| given.env(k);
    let mut settings = resolve_with(&given.overrides, &env, lua, config_dir, cpus)?;
    // Known before the config ran, and used then: the same place, not one worked out again.
    settings.history.clone_from(&given.history);
    settings.selection.clone_from(&given.selection);
    Ok(settings)
}

fn resolve_with(
    cli: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    lua: &ConfigDecl,
    config_dir: &Path,
    cpus: u32,
) -> Result<Settings, Error> {
    let (count, source) = resolve_workers(cli, env, lua.workers.map(|w| w.count), cpus)?;
    if cli.timeout.is_some_and(|t| t.is_zero()) {
        return Err(Error::Usage("--timeout: must be longer than 0s".into()));
    }
    let fail_fast = match (cli.fail_fast, lua.fail_fast) {
        (Some(true), _) => sourced(true, Source::Flag("--fail-fast")),
        (Some(false), _) => sourced(false, Source::Flag("--no-fail-fast")),
        (None, Some(v)) => sourced(v, Source::Config),
        (None, None) => sourced(false, Source::Default),
    };
    let timeout = match (cli.timeout, lua.timeout) {
        (Some(t), _) => sourced(t, Source::Flag("--timeout")),
        (None, Some(t)) => sourced(t, Source::Config),
        (None, None) => sourced(DEFAULT_TIMEOUT, Source::Default),
    };
    let grace = match lua.grace {
        Some(g) => sourced(g, Source::Config),
        None => sourced(DEFAULT_GRACE, Source::Default),
    };
    let retries = match cli.retries {
        Some(n) => sourced(Some(n), Source::Flag("--retries")),
        None => sourced(None, Source::Default),
    };
    let log_dir = match (&cli.log_dir, &lua.log_dir) {
        (Some(d), _) => sourced(d.clone(), Source::Flag("--log-dir")),
        (None, Some(d)) => sourced(config_dir.join(d), Source::Config),
        (None, None) => sourced(config_dir.join(DEFAULT_LOG_DIR), Source::Default),
    };
    let color = match cli.color {
        ColorChoice::Always | ColorChoice::Never => sourced(cli.color, Source::Flag("--color")),
        ColorChoice::Auto if env("NO_COLOR").is_some_and(|v| !v.is_empty()) => {
            sourced(ColorChoice::Never, Source::Env("NO_COLOR"))
        }
        ColorChoice::Auto => sourced(ColorChoice::Auto, Source::Default),
    };
    let history = history(cli.no_history, cli.history.as_deref(), env, config_dir);
    Ok(Settings {
        workers: Sourced {
            value: count,
            source,
        },
        fail_fast,
        timeout,
        grace,
        retries,
        log_dir,
        color,
        history,
        shard: resolve_shard(cli, env)?,
        selection: Selection::default(),
    })
}

/// DESIGN §8: `--no-history` > `--history FILE` > `PTEST_HISTORY` > `.ptest/history.json` in
/// the config's folder. Known before `ptest.lua` runs (history feeds the plan), so it needs only
/// the config's folder. Paths from the command line and environment are relative to the current
/// folder, as given.
pub(crate) fn history(
    no_history: bool,
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    config_dir: &Path,
) -> Sourced<Option<PathBuf>> {
    if no_history {
        sourced(None, Source::Flag("--no-history"))
    } else if let Some(h) = flag {
        sourced(Some(h.to_path_buf()), Source::Flag("--history"))
    } else if let Some(h) = env("PTEST_HISTORY").filter(|v| !v.is_empty()) {
        sourced(Some(PathBuf::from(h)), Source::Env("PTEST_HISTORY"))
    } else {
        sourced(Some(config_dir.join(DEFAULT_HISTORY)), Source::Default)
    }
}

/// DESIGN §10: `--shard`, `PTEST_SHARD`, then the CI systems' own parallel-job variables, the
/// first system whose pair of variables is set. A pair that makes no shard is an error naming
/// what was read: running the whole run on every machine would do each suite N times.
pub(crate) fn resolve_shard(
    cli: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Sourced<Option<Shard>>, Error> {
    if let Some(s) = cli.shard {
        return Ok(sourced(Some(s), Source::Flag("--shard")));
    }
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(v) = set("PTEST_SHARD") {
        let s: Shard = v
            .parse()
            .map_err(|e| Error::Usage(format!("PTEST_SHARD: {e}")))?;
        return Ok(sourced(Some(s), Source::Env("PTEST_SHARD")));
    }
    // (index variable, total variable, whether the index counts from 0)
    let systems = [
        ("CI_NODE_INDEX", "CI_NODE_TOTAL", false),
        ("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", true),
        (
            "BUILDKITE_PARALLEL_JOB",
            "BUILDKITE_PARALLEL_JOB_COUNT",
            true,
        ),
        ("JOB_COMPLETION_INDEX", "PTEST_SHARD_TOTAL", true),
    ];
    for (index, total, zero_based) in systems {
        let (i, n) = match (set(index), set(total)) {
            (Some(i), Some(n)) => (i, n),
            // A Kubernetes Job's index alone is not about shards; ptest's own total alone is
            // a mistake.
            (None, Some(n)) if total == "PTEST_SHARD_TOTAL" => {
                return Err(Error::Usage(format!(
                    "PTEST_SHARD_TOTAL=\"{n}\" is set but JOB_COMPLETION_INDEX is not (a \
                     Kubernetes indexed Job sets it; elsewhere give PTEST_SHARD=K/N)"
                )));
            }
            _ => continue,
        };
        let number = |v: &str| v.trim().parse::<u32>().ok();
        let shard = match (number(&i), number(&n)) {
            (Some(i), Some(n)) => Shard {
                index: if zero_based { i.saturating_add(1) } else { i },
                total: n,
            },
            _ => Shard { index: 0, total: 0 },
        };
        if shard.index == 0 || shard.index > shard.total {
            let range = if zero_based {
                format!("0 <= {index} < {total}")
            } else {
                format!("1 <= {index} <= {total}")
            };
            return Err(Error::Usage(format!(
                "{index}=\"{i}\" and {total}=\"{n}\" make no shard (expected whole numbers \
                 with {range})"
            )));
        }
        return Ok(sourced(Some(shard), Source::Env(index)));
    }
    Ok(sourced(None, Source::Default))
}

impl Settings {
    /// A phase's worker count: its own `workers` if it has one; a command-line or environment
    /// count is a ceiling it cannot exceed.
    pub fn phase_workers(&self, declared: Option<u32>) -> u32 {
        phase_workers((self.workers.value, self.workers.source), declared)
    }

    /// A suite's timeout: `--timeout` for every suite, else its own, else the config's default.
    pub fn suite_timeout(&self, declared: Option<Duration>) -> Duration {
        match (self.timeout.source, declared) {
            (Source::Flag(_), _) | (_, None) => self.timeout.value,
            (_, Some(own)) => own,
        }
    }

    /// What `--retries N` makes of a suite's own retry (DESIGN §4): nothing without the flag,
    /// no retry with 0, else N extra attempts.
    pub fn retry_override(&self) -> RetryOverride {
        match self.retries.value {
            None => RetryOverride::Declared,
            Some(0) => RetryOverride::Off,
            Some(n) => RetryOverride::Extra(n),
        }
    }
}

/// `--retries` on top of a suite's declared retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOverride {
    /// No flag: the suite's own retry.
    Declared,
    /// `--retries 0`: one attempt.
    Off,
    /// `--retries N`: a named policy keeps its filters and backoff with N extra attempts; any
    /// other suite gets N extra attempts on any failure.
    Extra(u32),
}

/// `-k EXPR`, `--test NAME` and `-- ARGS`: what the suites that take them (`select = true`,
/// the presets' batches) hand on to their tools. `ptest.lua` reads it as `ptest.select`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestSelection {
    /// `-k`: an expression in each tool's own terms.
    pub filter: Option<String>,
    /// `--test`: test ids as ptest reports them (or a file's, a package's, a binary's).
    pub names: Vec<String>,
    /// After `--`: arguments for the tools.
    pub args: Vec<String>,
}

impl TestSelection {
    /// `-k` or `--test`: only some tests run, and suites that cannot select tests are left
    /// out of the run (unless a selected suite depends on them).
    pub(crate) fn narrows(&self) -> bool {
        self.filter.is_some() || !self.names.is_empty()
    }

    /// Anything given: the suites that take it run otherwise than declared (so history learns
    /// no durations from them).
    pub(crate) fn any(&self) -> bool {
        self.narrows() || !self.args.is_empty()
    }

    /// How the command line said it, for messages: `-k 'a or b' --test x`.
    pub(crate) fn flags(&self) -> String {
        // As a shell would read it back (settings must not reach into `plan` for its quoting).
        let q = |s: &str| {
            let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:,+@%=[]".contains(c);
            if !s.is_empty() && s.chars().all(plain) {
                s.to_owned()
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        };
        let mut out = Vec::new();
        if let Some(f) = &self.filter {
            out.push(format!("-k {}", q(f)));
        }
        for n in &self.names {
            out.push(format!("--test {}", q(n)));
        }
        out.join(" ")
    }
}

/// Which suites to keep (`-s`, `-c`, `-t`, `--phase`, `--skip`, `--no-deps`,
/// `--rerun-failed`), and which of their tests (`-k`, `--test`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub suites: Vec<String>,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    pub phases: Vec<String>,
    pub skip: Vec<String>,
    pub no_deps: bool,
    /// `--rerun-failed`: only what failed in its latest run (history knows; names no longer
    /// declared are ignored), and what it depends on.
    pub rerun_failed: bool,
    /// `-k`, `--test`, `-- ARGS`.
    pub tests: TestSelection,
}

impl Selection {
    pub(crate) fn filters(&self) -> bool {
        !(self.suites.is_empty()
            && self.categories.is_empty()
            && self.tags.is_empty()
            && self.phases.is_empty()
            && !self.rerun_failed
            && !self.tests.narrows())
    }
}

/// The worker count and where it came from.
pub(crate) fn resolve_workers(
    o: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    lua: Option<u32>,
    cpus: u32,
) -> Result<(u32, WorkerSource), Error> {
    match o.jobs {
        Some(Jobs::Count(n)) => return Ok((n, WorkerSource::Jobs)),
        Some(Jobs::Auto) => return Ok((cpus, WorkerSource::Jobs)),
        None => {}
    }
    if o.sequential {
        return Ok((1, WorkerSource::Sequential));
    }
    if let Some(v) = env("PTEST_WORKERS").filter(|v| !v.trim().is_empty()) {
        let jobs: Jobs = v
            .parse()
            .map_err(|e| Error::Usage(format!("PTEST_WORKERS: {e}")))?;
        let n = match jobs {
            Jobs::Count(n) => n,
            Jobs::Auto => cpus,
        };
        return Ok((n, WorkerSource::EnvWorkers));
    }
    if env("PTEST_DISABLE_PARALLEL").is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1") {
        return Ok((1, WorkerSource::EnvDisableParallel));
    }
    Ok(match lua {
        Some(n) => (n, WorkerSource::Config),
        None => (cpus.max(1), WorkerSource::Auto),
    })
}

/// A phase's own count: its `workers` if it has one; a command-line or environment count is a
/// ceiling it cannot exceed.
pub(crate) fn phase_workers(global: (u32, WorkerSource), phase: Option<u32>) -> u32 {
    match (phase, global.1.is_override()) {
        (None, _) => global.0,
        (Some(p), true) => p.min(global.0),
        (Some(p), false) => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(kk, _)| *kk == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn precedence_table() {
        let none = Overrides::default();
        let j3 = Overrides {
            jobs: Some(Jobs::Count(3)),
            ..Overrides::default()
        };
        let seq = Overrides {
            sequential: true,
            ..Overrides::default()
        };
        let e = env(&[("PTEST_WORKERS", "5"), ("PTEST_DISABLE_PARALLEL", "true")]);
        let d = env(&[("PTEST_DISABLE_PARALLEL", "true")]);
        let nothing = env(&[]);
        assert_eq!(
            resolve_workers(&j3, &e, Some(7), 2).unwrap(),
            (3, WorkerSource::Jobs)
        );
        assert_eq!(
            resolve_workers(&seq, &e, Some(7), 2).unwrap(),
            (1, WorkerSource::Sequential)
        );
        assert_eq!(
            resolve_workers(&none, &e, Some(7), 2).unwrap(),
            (5, WorkerSource::EnvWorkers)
        );
        assert_eq!(
            resolve_workers(&none, &d, Some(7), 2).unwrap(),
            (1, WorkerSource::EnvDisableParallel)
        );
        assert_eq!(
            resolve_workers(&none, &nothing, Some(7), 2).unwrap(),
            (7, WorkerSource::Config)
        );
        assert_eq!(
            resolve_workers(&none, &nothing, None, 2).unwrap(),
            (2, WorkerSource::Auto)
        );
        let bad = env(&[("PTEST_WORKERS", "many")]);
        assert!(resolve_workers(&none, &bad, None, 2).is_err());
    }

    #[test]
    fn phase_counts() {
        assert_eq!(phase_workers((8, WorkerSource::Config), Some(2)), 2);
        assert_eq!(phase_workers((8, WorkerSource::Config), Some(16)), 16);
        assert_eq!(phase_workers((2, WorkerSource::Jobs), Some(16)), 2);
        assert_eq!(phase_workers((4, WorkerSource::Auto), None), 4);
    }

    #[test]
    fn jobs_parse() {
        assert_eq!("auto".parse::<Jobs>(), Ok(Jobs::Auto));
        assert_eq!("4".parse::<Jobs>(), Ok(Jobs::Count(4)));
        assert!("0".parse::<Jobs>().is_err());
        assert!("x".parse::<Jobs>().is_err());
    }

    fn lua() -> ConfigDecl {
        ConfigDecl {
            workers: Some(crate::plan::decl::WorkersDecl {
                count: 7,
                literal: true,
            }),
            log_dir: Some("lua-logs".into()),
            fail_fast: Some(true),
            timeout: Some(Duration::from_secs(60)),
            grace: Some(Duration::from_secs(2)),
            ..ConfigDecl::default()
        }
    }

    fn all_flags() -> Overrides {
        Overrides {
            jobs: Some(Jobs::Count(3)),
            fail_fast: Some(false),
            timeout: Some(Duration::from_secs(9)),
            retries: Some(2),
            log_dir: Some("/abs/cli-logs".into()),
            color: ColorChoice::Always,
            history: Some("/abs/h.json".into()),
            shard: Some(Shard { index: 2, total: 3 }),
            ..Overrides::default()
        }
    }

    const DIR: &str = "/project";

    #[test]
    fn the_command_line_wins_over_everything() {
        let e = env(&[
            ("PTEST_WORKERS", "5"),
            ("NO_COLOR", "1"),
            ("PTEST_HISTORY", "/env/h.json"),
            ("PTEST_SHARD", "1/2"),
        ]);
        let s = resolve_with(&all_flags(), &e, &lua(), Path::new(DIR), 2).unwrap();
        assert_eq!(s.workers.value, 3);
        assert_eq!(s.workers.source, WorkerSource::Jobs);
        assert_eq!(s.fail_fast, sourced(false, Source::Flag("--no-fail-fast")));
        assert_eq!(
            s.timeout,
            sourced(Duration::from_secs(9), Source::Flag("--timeout"))
        );
        assert_eq!(s.retries, sourced(Some(2), Source::Flag("--retries")));
        assert_eq!(
            s.log_dir,
            sourced(PathBuf::from("/abs/cli-logs"), Source::Flag("--log-dir"))
        );
        assert_eq!(
            s.color,
            sourced(ColorChoice::Always, Source::Flag("--color"))
        );
        assert_eq!(
            s.history,
            sourced(
                Some(PathBuf::from("/abs/h.json")),
                Source::Flag("--history")
            )
        );
        assert_eq!(
            s.shard,
            sourced(Some(Shard { index: 2, total: 3 }), Source::Flag("--shard"))
        );
        // A flag's timeout is every suite's; the config's only where a suite names none.
        assert_eq!(
            s.suite_timeout(Some(Duration::from_secs(1))),
            Duration::from_secs(9)
        );
    }

    #[test]
    fn the_environment_wins_over_ptest_lua() {
        let e = env(&[
            ("PTEST_WORKERS", "5"),
            ("NO_COLOR", "1"),
            ("PTEST_HISTORY", "/env/h.json"),
            ("PTEST_SHARD", "1/2"),
        ]);
        let s = resolve_with(&Overrides::default(), &e, &lua(), Path::new(DIR), 2).unwrap();
        assert_eq!(s.workers.source, WorkerSource::EnvWorkers);
        assert_eq!(
            s.color,
            sourced(ColorChoice::Never, Source::Env("NO_COLOR"))
        );
        assert_eq!(
            s.history,
            sourced(
                Some(PathBuf::from("/env/h.json")),
                Source::Env("PTEST_HISTORY")
            )
        );
        assert_eq!(
            s.shard,
            sourced(
                Some(Shard { index: 1, total: 2 }),
                Source::Env("PTEST_SHARD")
            )
        );
    }

    #[test]
    fn ptest_lua_wins_over_the_defaults() {
        let s = resolve_with(&Overrides::default(), &env(&[]), &lua(), Path::new(DIR), 2).unwrap();
        assert_eq!(s.workers.value, 7);
        assert_eq!(s.workers.source, WorkerSource::Config);
        assert_eq!(s.fail_fast, sourced(true, Source::Config));
        assert_eq!(s.timeout, sourced(Duration::from_secs(60), Source::Config));
        assert_eq!(s.grace, sourced(Duration::from_secs(2), Source::Config));
        assert_eq!(
            s.log_dir,
            sourced(PathBuf::from("/project/lua-logs"), Source::Config)
        );
        assert_eq!(
            s.suite_timeout(Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(s.suite_timeout(None), Duration::from_secs(60));
    }

    #[test]
    fn the_defaults() {
        let s = resolve_with(
            &Overrides::default(),
            &env(&[]),
            &ConfigDecl::default(),
            Path::new(DIR),
            2,
        )
        .unwrap();
        assert_eq!(s.workers.value, 2);
        assert_eq!(s.workers.source, WorkerSource::Auto);
        assert_eq!(s.fail_fast, sourced(false, Source::Default));
        assert_eq!(s.timeout, sourced(DEFAULT_TIMEOUT, Source::Default));
        assert_eq!(s.grace, sourced(DEFAULT_GRACE, Source::Default));
        assert_eq!(s.retries, sourced(None, Source::Default));
        assert_eq!(
            s.log_dir,
            sourced(PathBuf::from("/project/test-logs"), Source::Default)
        );
        assert_eq!(s.color, sourced(ColorChoice::Auto, Source::Default));
        assert_eq!(
            s.history,
            sourced(
                Some(PathBuf::from("/project/.ptest/history.json")),
                Source::Default
            )
        );
        assert_eq!(s.shard, sourced(None, Source::Default));
    }

    #[test]
    fn no_history_reads_and_writes_none() {
        let o = Overrides {
            no_history: true,
            history: Some("/x".into()),
            ..Overrides::default()
        };
        let s = resolve_with(
            &o,
            &env(&[("PTEST_HISTORY", "/e")]),
            &lua(),
            Path::new(DIR),
            2,
        )
        .unwrap();
        assert_eq!(s.history, sourced(None, Source::Flag("--no-history")));
    }

    #[test]
    fn shards_from_ci_systems_count_from_one() {
        type Vars = &'static [(&'static str, &'static str)];
        type Want = Option<(u32, u32, &'static str)>;
        let cases: [(Vars, Want); 6] = [
            (
                &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "4")],
                Some((2, 4, "CI_NODE_INDEX")),
            ),
            (
                &[("CIRCLE_NODE_INDEX", "0"), ("CIRCLE_NODE_TOTAL", "2")],
                Some((1, 2, "CIRCLE_NODE_INDEX")),
            ),
            (
                &[
                    ("BUILDKITE_PARALLEL_JOB", "2"),
                    ("BUILDKITE_PARALLEL_JOB_COUNT", "3"),
                ],
                Some((3, 3, "BUILDKITE_PARALLEL_JOB")),
            ),
            (
                &[("JOB_COMPLETION_INDEX", "1"), ("PTEST_SHARD_TOTAL", "5")],
                Some((2, 5, "JOB_COMPLETION_INDEX")),
            ),
            // Half a pair is not about shards.
            (&[("CI_NODE_INDEX", "3")], None),
            (&[("JOB_COMPLETION_INDEX", "1")], None),
        ];
        for (vars, want) in cases {
            let s =
                resolve_with(&Overrides::default(), &env(vars), &lua(), Path::new(DIR), 2).unwrap();
            let got = s
                .shard
                .value
                .map(|sh| (sh.index, sh.total, s.shard.source.label()));
            assert_eq!(got, want, "{vars:?}");
        }
    }

    #[test]
    fn bad_values_from_outside_are_usage_errors() {
        for (o, vars, want) in [
            (
                Overrides {
                    timeout: Some(Duration::ZERO),
                    ..Overrides::default()
                },
                &[][..],
                "--timeout: must be longer than 0s",
            ),
            (
                Overrides::default(),
                &[("PTEST_SHARD", "3/2")][..],
                "PTEST_SHARD: expected K/N with 1 <= K <= N, got \"3/2\"",
            ),
        ] {
            let vars: Vec<(&'static str, &'static str)> = vars.to_vec();
            let vars: &'static [(&'static str, &'static str)] = Box::leak(vars.into_boxed_slice());
            let e = resolve_with(&o, &env(vars), &lua(), Path::new(DIR), 2).unwrap_err();
            assert_eq!(e.to_string(), want);
        }
        assert!("0/3".parse::<Shard>().is_err());
        assert!("2".parse::<Shard>().is_err());
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, total: 3 }));
    }

    #[test]
    fn worker_variables_from_the_environment() {
        let none = Overrides::default();
        let auto = env(&[("PTEST_WORKERS", "auto")]);
        assert_eq!(
            resolve_workers(&none, &auto, Some(7), 6).unwrap(),
            (6, WorkerSource::EnvWorkers)
        );
        // Empty or blank means unset: the config decides.
        let blank = env(&[("PTEST_WORKERS", " ")]);
        assert_eq!(
            resolve_workers(&none, &blank, Some(7), 6).unwrap(),
            (7, WorkerSource::Config)
        );
        let one = env(&[("PTEST_DISABLE_PARALLEL", "1")]);
        assert_eq!(
            resolve_workers(&none, &one, Some(7), 6).unwrap(),
            (1, WorkerSource::EnvDisableParallel)
        );
        let upper = env(&[("PTEST_DISABLE_PARALLEL", "TRUE")]);
        assert_eq!(
            resolve_workers(&none, &upper, None, 6).unwrap().1,
            WorkerSource::EnvDisableParallel
        );
        for off in ["false", "0", "", "yes"] {
            let vars: &'static [(&'static str, &'static str)] =
                Box::leak(vec![("PTEST_DISABLE_PARALLEL", off)].into_boxed_slice());
            assert_eq!(
                resolve_workers(&none, &env(vars), Some(7), 6).unwrap(),
                (7, WorkerSource::Config),
                "PTEST_DISABLE_PARALLEL={off}"
            );
        }
        // -j auto is the command line's, not the machine default's.
        let j = Overrides {
            jobs: Some(Jobs::Auto),
            ..Overrides::default()
        };
        assert_eq!(
            resolve_workers(&j, &env(&[]), Some(7), 6).unwrap(),
            (6, WorkerSource::Jobs)
        );
        // No CPU count at all still makes one worker.
        assert_eq!(
            resolve_workers(&none, &env(&[]), None, 0).unwrap(),
            (1, WorkerSource::Auto)
        );
        let e = resolve_workers(&none, &env(&[("PTEST_WORKERS", "0")]), None, 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "PTEST_WORKERS: expected a positive integer or \"auto\", got \"0\""
        );
    }

    #[test]
    fn a_phase_count_is_capped_only_by_counts_from_outside_the_config() {
        for (source, capped) in [
            (WorkerSource::Jobs, true),
            (WorkerSource::Sequential, true),
            (WorkerSource::EnvWorkers, true),
            (WorkerSource::EnvDisableParallel, true),
            (WorkerSource::Config, false),
            (WorkerSource::Auto, false),
        ] {
            assert_eq!(source.is_override(), capped, "{source:?}");
            let want = if capped { 3 } else { 8 };
            assert_eq!(phase_workers((3, source), Some(8)), want, "{source:?}");
            assert_eq!(phase_workers((3, source), Some(2)), 2, "{source:?}");
        }
    }

    #[test]
    fn empty_environment_values_are_unset() {
        let e = env(&[
            ("NO_COLOR", ""),
            ("PTEST_HISTORY", ""),
            ("PTEST_SHARD", "  "),
        ]);
        let s = resolve_with(&Overrides::default(), &e, &lua(), Path::new(DIR), 2).unwrap();
        assert_eq!(s.color, sourced(ColorChoice::Auto, Source::Default));
        assert_eq!(s.history.source, Source::Default);
        assert_eq!(s.shard, sourced(None, Source::Default));
    }

    #[test]
    fn a_colour_flag_beats_no_color_and_never_is_a_flag_too() {
        let e = env(&[("NO_COLOR", "1")]);
        for choice in [ColorChoice::Always, ColorChoice::Never] {
            let o = Overrides {
                color: choice,
                ..Overrides::default()
            };
            let s = resolve_with(&o, &e, &lua(), Path::new(DIR), 2).unwrap();
            assert_eq!(s.color, sourced(choice, Source::Flag("--color")));
        }
    }

    #[test]
    fn a_shard_variable_beats_the_ci_systems_and_a_bad_one_is_an_error() {
        let e = env(&[
            ("PTEST_SHARD", "3/4"),
            ("CI_NODE_INDEX", "1"),
            ("CI_NODE_TOTAL", "2"),
        ]);
        let s = resolve_with(&Overrides::default(), &e, &lua(), Path::new(DIR), 2).unwrap();
        assert_eq!(
            s.shard,
            sourced(
                Some(Shard { index: 3, total: 4 }),
                Source::Env("PTEST_SHARD")
            )
        );
        // A CI system's pair that makes no shard is an error naming what was read: every
        // machine would otherwise run everything.
        for (vars, want) in [
            (
                &[("CI_NODE_INDEX", "x"), ("CI_NODE_TOTAL", "2")][..],
                "CI_NODE_INDEX=\"x\" and CI_NODE_TOTAL=\"2\" make no shard (expected whole \
                 numbers with 1 <= CI_NODE_INDEX <= CI_NODE_TOTAL)",
            ),
            // GitLab counts from 1.
            (
                &[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "2")][..],
                "CI_NODE_INDEX=\"0\" and CI_NODE_TOTAL=\"2\" make no shard (expected whole \
                 numbers with 1 <= CI_NODE_INDEX <= CI_NODE_TOTAL)",
            ),
            (
                &[("CI_NODE_INDEX", "5"), ("CI_NODE_TOTAL", "4")][..],
                "CI_NODE_INDEX=\"5\" and CI_NODE_TOTAL=\"4\" make no shard (expected whole \
                 numbers with 1 <= CI_NODE_INDEX <= CI_NODE_TOTAL)",
            ),
            // CircleCI counts from 0.
            (
                &[("CIRCLE_NODE_INDEX", "2"), ("CIRCLE_NODE_TOTAL", "2")][..],
                "CIRCLE_NODE_INDEX=\"2\" and CIRCLE_NODE_TOTAL=\"2\" make no shard (expected \
                 whole numbers with 0 <= CIRCLE_NODE_INDEX < CIRCLE_NODE_TOTAL)",
            ),
            (
                &[("PTEST_SHARD_TOTAL", "4")][..],
                "PTEST_SHARD_TOTAL=\"4\" is set but JOB_COMPLETION_INDEX is not (a Kubernetes \
                 indexed Job sets it; elsewhere give PTEST_SHARD=K/N)",
            ),
        ] {
            let vars: &'static [(&'static str, &'static str)] =
                Box::leak(vars.to_vec().into_boxed_slice());
            let e = resolve_with(&Overrides::default(), &env(vars), &lua(), Path::new(DIR), 2)
                .unwrap_err();
            assert_eq!(e.to_string(), want, "{vars:?}");
        }
        // The first system with a full pair wins, in the order of DESIGN §10.
        let e = env(&[
            ("CIRCLE_NODE_INDEX", "1"),
            ("CIRCLE_NODE_TOTAL", "3"),
            ("BUILDKITE_PARALLEL_JOB", "0"),
            ("BUILDKITE_PARALLEL_JOB_COUNT", "3"),
        ]);
        let s = resolve_with(&Overrides::default(), &e, &lua(), Path::new(DIR), 2).unwrap();
        assert_eq!(
            s.shard,
            sourced(
                Some(Shard { index: 2, total: 3 }),
                Source::Env("CIRCLE_NODE_INDEX")
            )
        );
    }

    #[test]
    fn shard_text_forms() {
        assert_eq!(" 1 / 1 ".parse::<Shard>(), Ok(Shard { index: 1, total: 1 }));
        for bad in ["", "1/", "/2", "a/b", "1/0", "-1/2", "1/2/3", "2/1"] {
            assert_eq!(
                bad.parse::<Shard>(),
                Err(format!("expected K/N with 1 <= K <= N, got \"{bad}\"")),
                "{bad}"
            );
        }
    }

    #[test]
    fn jobs_text_forms() {
        assert_eq!("Auto".parse::<Jobs>(), Ok(Jobs::Auto));
        assert_eq!(" 8 ".parse::<Jobs>(), Ok(Jobs::Count(8)));
        assert_eq!("65536".parse::<Jobs>(), Ok(Jobs::Count(65_536)));
        assert_eq!(
            "65537".parse::<Jobs>(),
            Err(format!("65537 {TOO_MANY_WORKERS}"))
        );
        assert_eq!(
            "-3".parse::<Jobs>(),
            Err("expected a positive integer or \"auto\", got \"-3\"".into())
        );
    }

    #[test]
    fn the_history_path_from_the_flag_the_environment_or_beside_the_config() {
        let dir = Path::new("/p");
        let e = env(&[("PTEST_HISTORY", "env.json")]);
        assert_eq!(
            history(false, Some(Path::new("flag.json")), &e, dir),
            sourced(Some("flag.json".into()), Source::Flag("--history"))
        );
        assert_eq!(
            history(false, None, &e, dir),
            sourced(Some("env.json".into()), Source::Env("PTEST_HISTORY"))
        );
        assert_eq!(
            history(true, None, &e, dir),
            sourced(None, Source::Flag("--no-history"))
        );
        assert_eq!(
            history(false, None, &env(&[]), dir),
            sourced(Some("/p/.ptest/history.json".into()), Source::Default)
        );
    }

    #[test]
    fn source_labels_name_the_flag_or_variable() {
        assert_eq!(Source::Flag("--timeout").label(), "--timeout");
        assert_eq!(Source::Env("PTEST_SHARD").label(), "PTEST_SHARD");
        assert_eq!(Source::Config.label(), "ptest.lua");
        assert_eq!(Source::Default.label(), "default");
    }

    #[test]
    fn a_selection_filters_when_it_names_what_to_keep() {
        assert!(!Selection::default().filters());
        // --skip and --no-deps keep everything else: no filter.
        let skip = Selection {
            skip: vec!["a".into()],
            no_deps: true,
            ..Selection::default()
        };
        assert!(!skip.filters());
        for s in [
            Selection {
                suites: vec!["a".into()],
                ..Selection::default()
            },
            Selection {
                categories: vec!["c".into()],
                ..Selection::default()
            },
            Selection {
                tags: vec!["t".into()],
                ..Selection::default()
            },
            Selection {
                phases: vec!["p".into()],
                ..Selection::default()
            },
            Selection {
                rerun_failed: true,
                ..Selection::default()
            },
            Selection {
                tests: TestSelection {
                    filter: Some("x".into()),
                    ..TestSelection::default()
                },
                ..Selection::default()
            },
            Selection {
                tests: TestSelection {
                    names: vec!["t.py::x".into()],
                    ..TestSelection::default()
                },
                ..Selection::default()
            },
        ] {
            assert!(s.filters(), "{s:?}");
        }
        // Arguments for the tools change how suites run, not which.
        let args = Selection {
            tests: TestSelection {
                args: vec!["-x".into()],
                ..TestSelection::default()
            },
            ..Selection::default()
        };
        assert!(!args.filters() && args.tests.any() && !args.tests.narrows());
    }

    #[test]
    fn the_test_selection_from_the_command_line_and_as_flags_again() {
        use clap::Parser;
        let parse = |a: &[&str]| {
            crate::cli::Cli::try_parse_from(std::iter::once("ptest").chain(a.iter().copied()))
                .map(|c| c.run.config.selection().tests)
        };
        let t = parse(&[
            "-k",
            "a or b",
            "--test",
            "t.py::x[1]",
            "--test",
            "u",
            "--",
            "-x",
            "-k",
            "y",
        ])
        .unwrap();
        assert_eq!(t.filter.as_deref(), Some("a or b"));
        assert_eq!(t.names, ["t.py::x[1]", "u"]);
        // After `--`, every word is the tools', flags of ptest's own names included.
        assert_eq!(t.args, ["-x", "-k", "y"]);
        assert_eq!(t.flags(), "-k 'a or b' --test t.py::x[1] --test u");
        assert_eq!(
            TestSelection {
                filter: Some("it's".into()),
                ..TestSelection::default()
            }
            .flags(),
            r"-k 'it'\''s'"
        );
        assert!(t.narrows() && t.any());
        assert!(!parse(&[]).unwrap().any());
        // An empty -k or --test is a mistake (an unset variable), not "every test".
        for bad in [&["-k", " "][..], &["--test", ""][..]] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("empty"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn retries_from_the_command_line_override_every_suite() {
        let with = |n| Settings {
            retries: sourced(n, Source::Flag("--retries")),
            ..resolve_with(&Overrides::default(), &env(&[]), &lua(), Path::new(DIR), 2).unwrap()
        };
        assert_eq!(with(None).retry_override(), RetryOverride::Declared);
        assert_eq!(with(Some(0)).retry_override(), RetryOverride::Off);
        assert_eq!(with(Some(4)).retry_override(), RetryOverride::Extra(4));
    }

    #[test]
    fn given_reads_the_command_line_and_the_environment_once() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "ptest",
            "-s",
            "a",
            "--skip",
            "b",
            "--rerun-failed",
            "-j",
            "3",
        ])
        .unwrap();
        let vars = env(&[
            ("PTEST_HISTORY", "/h/history.json"),
            ("PTEST_WORKERS", "5"),
            ("NO_COLOR", "1"),
            ("HOME", "/home/x"),
        ]);
        let args = &cli.run.config;
        let given = Given::new(
            "ci/ptest.lua".into(),
            args.overrides(),
            args.selection(),
            &vars,
        );
        assert_eq!(given.config, Path::new("ci/ptest.lua"));
        assert_eq!(
            given.history,
            sourced(Some("/h/history.json".into()), Source::Env("PTEST_HISTORY"))
        );
        assert_eq!(given.selection.suites, ["a"]);
        assert_eq!(given.selection.skip, ["b"]);
        assert!(given.selection.rerun_failed && !given.selection.no_deps);
        // Only the variables settings read are kept.
        assert_eq!(given.env("HOME"), None);
        assert_eq!(given.env("PTEST_WORKERS").as_deref(), Some("5"));
        // The flag beats the variable; the history and selection come through unchanged.
        let s = resolve(&given, &lua(), Path::new(DIR), 2).unwrap();
        assert_eq!((s.workers.value, s.workers.source), (3, WorkerSource::Jobs));
        assert_eq!(
            s.color,
            sourced(ColorChoice::Never, Source::Env("NO_COLOR"))
        );
        assert_eq!(s.history, given.history);
        assert_eq!(s.selection, given.selection);
        // Without a flag or variable the history is beside the config, as given.
        let none = |config: &str| {
            Given::new(
                config.into(),
                Overrides::default(),
                Selection::default(),
                &env(&[]),
            )
        };
        let plain = none("ptest.lua");
        assert_eq!(
            plain.history,
            sourced(Some("./.ptest/history.json".into()), Source::Default)
        );
        let nested = none("ci/ptest.lua");
        assert_eq!(nested.history.value, Some("ci/.ptest/history.json".into()));
    }
}
