//! What `ptest.lua` declared, as plain data with the line of each declaration. The Lua layer
//! produces this; `plan::build` checks cross references and turns it into a `Plan`.
//! Names are resolved later, so a reference here is just the name it points at.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Origin;
// `ptest.config{}` and worker counts are settings: their precedence is `settings`' business.
use crate::command::CommandLine;
pub(crate) use crate::settings::{ConfigDecl, WorkersDecl};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SuiteDecl {
    pub origin: Origin,
    pub name: String,
    pub cmd: CommandLine,
    pub description: Option<String>,
    pub category: String,
    pub tags: Vec<String>,
    /// As written, relative to the config's folder.
    pub cwd: Option<PathBuf>,
    /// Values are bytes: Lua strings need not be UTF-8, and the process gets them unchanged.
    pub env: BTreeMap<String, OsString>,
    pub timeout: Option<Duration>,
    pub depends_on: Vec<String>,
    /// `needs = { db }`: the services (by name) that must be ready before it starts (DESIGN §11).
    pub needs: Vec<String>,
    pub group: Option<String>,
    pub phase: Option<String>,
    pub limiter: Option<String>,
    pub retry: Option<RetryRef>,
    pub slots: u32,
    pub serial: bool,
    pub estimate: Option<Duration>,
    /// `memory = "2GB" | "auto"` (DESIGN §12).
    pub memory: Option<MemoryDecl>,
    pub enabled: bool,
    /// `select = true`: its command hands `-k`, `--test` and `-- ARGS` (`ptest.select`) to its
    /// tool, so it runs the tests they select; a suite without it cannot select tests.
    pub select: bool,
    /// `ptest.batch`: this declaration stands for the batch's parts, made by `plan::batch`.
    pub batch: Option<Box<BatchDecl>>,
    /// One part of a batch (after expansion).
    pub part: Option<std::sync::Arc<BatchPart>>,
}

/// What `ptest.batch` adds to a suite's fields. Its `cmd` holds `{items}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BatchDecl {
    pub items: Vec<String>,
    /// `None`: `"auto"`.
    pub batches: Option<u32>,
    /// The JUnit file the command writes, templates not yet substituted.
    pub results: Option<String>,
    /// How the command runs one slice of an item: `{item}`, `{slice}` (1-based) and `{slices}`
    /// in it (the pytest preset's `{item}::ptest-slice-{slice}-of-{slices}`). `None`: items
    /// are never split.
    pub slice: Option<String>,
    /// How the command runs one test of an item: `{item}` and `{test}` in it (the pytest
    /// preset's `{item}::{test}`), `{test}` being the test's id below its item as the record
    /// names it. `None`: an item always runs whole.
    pub test: Option<String>,
    /// `--rerun-failed`: the tests to run of some items (the rest run whole); set by
    /// `batch::pack`, never by Lua.
    pub only_tests: std::collections::HashMap<String, Vec<String>>,
    /// `list`: a command that prints the ids of the tests of the items given at its `{items}`,
    /// one a line (`ptest list --tests`).
    pub list: Option<crate::command::CommandLine>,
    /// `warm`: a command ptest starts once while the batch's parts run, which they reach
    /// through `PTEST_WARM` (the pytest preset's zygote). `None`: every part starts cold.
    pub warm: Option<crate::command::CommandLine>,
    /// `test_timeout`: a test running longer stops its part; the part's unfinished items run
    /// again without it.
    pub test_timeout: Option<std::time::Duration>,
    /// `test_slow`: a test running longer is said `SLOW` (default [`TEST_SLOW`]).
    pub test_slow: Option<std::time::Duration>,
    /// How the command runs an item without one of its tests: `{item}` and `{test}` in it (the
    /// pytest preset's `{item}::ptest-skip::{test}`), after the item's own argument.
    pub skip_test: Option<String>,
}

/// A test of a batch running longer than this is said `SLOW`, unless the batch's `test_slow`
/// says otherwise (nextest's default slow period).
pub(crate) const TEST_SLOW: std::time::Duration = std::time::Duration::from_secs(60);

/// One of the `count` slices an item is split into (1-based `index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub index: u32,
    pub count: u32,
}

/// Where an expected duration came from (shown by `ptest plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemSource {
    History,
    /// The median of the items with history.
    Median,
    /// Proportional to the item's file size (no history at all).
    FileSize,
    /// Nothing known: every item weighs the same.
    Equal,
}

impl ItemSource {
    pub fn label(self) -> &'static str {
        match self {
            ItemSource::History => "history",
            ItemSource::Median => "median",
            ItemSource::FileSize => "file size",
            ItemSource::Equal => "equal",
        }
    }
}

/// One of a batch's suites (`unit[2]`): its share of the items and how to run any subset of
/// them (a retry runs only the items that failed).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPart {
    /// The batch's name (`unit`).
    pub batch: String,
    /// 1-based.
    pub index: u32,
    pub count: u32,
    /// The items, each with its expected duration in seconds.
    pub items: Vec<(String, f64)>,
    pub source: ItemSource,
    /// Expected fixed cost of the process (its duration minus its items').
    pub overhead: f64,
    /// The command with `{items}` still in it.
    pub template: crate::command::CommandLine,
    pub results: Option<String>,
    /// Per item, the slice of it this part runs (empty when no item is sliced).
    pub slices: Vec<Option<Slice>>,
    /// The batch's `slice` template.
    pub slice_template: Option<String>,
    /// Per item, the only tests of it this part runs (empty when it runs whole; empty for
    /// every item when none is narrowed).
    pub tests: Vec<Vec<String>>,
    /// The batch's `test` template.
    pub test_template: Option<String>,
    /// The batch's `list` command (`{items}` still in it).
    pub list: Option<crate::command::CommandLine>,
    /// The batch's `warm` command, templates not yet filled.
    pub warm: Option<crate::command::CommandLine>,
    /// The batch's `test_timeout`.
    pub test_timeout: Option<std::time::Duration>,
    /// The batch's `test_slow`, else [`TEST_SLOW`].
    pub test_slow: std::time::Duration,
    /// The batch's `skip_test` template.
    pub skip_test: Option<String>,
}

impl BatchPart {
    pub fn expected(&self) -> f64 {
        self.overhead + self.items.iter().map(|(_, d)| d).sum::<f64>()
    }

    /// The command for these items: an argument that is exactly `{items}` becomes one argument
    /// per item; elsewhere (and in a shell command) the items are shell-quoted and joined by
    /// spaces.
    pub fn command<'a>(
        &self,
        items: impl Iterator<Item = &'a str> + Clone,
    ) -> crate::command::CommandLine {
        use crate::command::{CommandLine, has, replace};
        let joined = || items.clone().map(shell_quote).collect::<Vec<_>>().join(" ");
        match &self.template {
            CommandLine::Shell(s) => CommandLine::Shell(replace(s, "{items}", joined().as_bytes())),
            CommandLine::Argv(v) => {
                let mut out = Vec::with_capacity(v.len() + self.items.len());
                for a in v {
                    if a == "{items}" {
                        out.extend(items.clone().map(OsString::from));
                    } else if has(a, "{items}") {
                        out.push(replace(a, "{items}", joined().as_bytes()));
                    } else {
                        out.push(a.clone());
                    }
                }
                CommandLine::Argv(out)
            }
        }
    }

    /// The command with all of this part's items.
    pub fn full_command(&self) -> crate::command::CommandLine {
        let args: Vec<String> = (0..self.items.len()).flat_map(|i| self.args(i)).collect();
        self.command(args.iter().map(String::as_str))
    }

    /// The only tests of item `i` this part runs, when it does not run it whole (by its
    /// batch's `test` template).
    pub fn tests_of(&self, i: usize) -> Option<(&str, &[String])> {
        let tests = self.tests.get(i).filter(|t| !t.is_empty())?;
        Some((self.test_template.as_deref()?, tests.as_slice()))
    }

    /// What stands for item `i` in the command: the item, its slice, or one argument per test
    /// of it that this part runs.
    pub fn args(&self, i: usize) -> Vec<String> {
        match self.tests_of(i) {
            Some((template, tests)) => tests
                .iter()
                .map(|t| test_arg(template, &self.items[i].0, t))
                .collect(),
            None => vec![self.arg(i)],
        }
    }

    /// The slice of item `i` this part runs, if it runs only a slice of it.
    pub fn slice(&self, i: usize) -> Option<Slice> {
        self.slices.get(i).copied().flatten()
    }

    /// What stands for item `i` in the command: the item, or its slice by the template.
    pub fn arg(&self, i: usize) -> String {
        let item = &self.items[i].0;
        match (self.slice(i), &self.slice_template) {
            (Some(sl), Some(t)) => slice_arg(t, item, sl.index, sl.count),
            _ => item.clone(),
        }
    }
}

/// Slice `index` of `count` of `item` as a batch's `slice` template names it (also its name in
/// history).
pub(crate) fn slice_arg(template: &str, item: &str, index: u32, count: u32) -> String {
    template
        .replace("{slices}", &count.to_string())
        .replace("{slice}", &index.to_string())
        .replace("{item}", item)
}

/// One test of `item` as a batch's `test` template names it; the item and the test are put in
/// as they are (a `{test}` in the item stays).
pub(crate) fn test_arg(template: &str, item: &str, test: &str) -> String {
    template
        .split("{test}")
        .map(|piece| piece.replace("{item}", item))
        .collect::<Vec<_>>()
        .join(test)
}

/// `word` as one shell word: unchanged when it is plain, else in single quotes.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A suite's memory as declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemoryDecl {
    Bytes(u64),
    /// Its peak RSS in history, plus a fifth.
    Auto,
}

/// `retry = backoff` (a policy by name or index) or `retry = 2` (two extra attempts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RetryRef {
    /// Index into `Declarations::retries`.
    Policy(usize),
    Named(String),
    Extra(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupDecl {
    pub origin: Origin,
    pub name: String,
    pub max: u32,
    pub env: BTreeMap<String, OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    Stop,
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PhaseDecl {
    pub origin: Origin,
    pub name: String,
    pub enabled: bool,
    pub workers: Option<WorkersDecl>,
    pub on_failure: OnFailure,
    pub always: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LimiterDecl {
    pub origin: Origin,
    pub name: String,
    /// Tokens per `per`.
    pub rate: f64,
    pub per: Duration,
    pub burst: u32,
    pub concurrency: Option<u32>,
    pub adaptive: bool,
    pub max_throttled: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RetryDecl {
    pub origin: Origin,
    pub name: Option<String>,
    pub policy: RetryPolicy,
}

/// When and how to try a suite again. Also the plan's form (no Lua value: `when` is an index
/// into the predicates the Lua layer keeps).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RetryPolicy {
    /// Total attempts, including the first (>= 1).
    pub attempts: u32,
    #[serde(serialize_with = "secs")]
    pub delay: Duration,
    pub factor: f64,
    #[serde(serialize_with = "secs")]
    pub max_delay: Duration,
    pub jitter: bool,
    pub on_exit_codes: Vec<i32>,
    pub on_output: Vec<String>,
    pub on_timeout: bool,
    /// Index of a `when` predicate held by the Lua layer.
    pub when: Option<usize>,
}

impl RetryPolicy {
    /// No retry: one attempt.
    pub fn once() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            delay: Duration::ZERO,
            factor: 1.0,
            max_delay: Duration::ZERO,
            jitter: false,
            on_exit_codes: Vec::new(),
            on_output: Vec::new(),
            on_timeout: false,
            when: None,
        }
    }

    /// `retry = n`: n extra attempts on any failure, at once.
    pub fn extra(n: u32) -> RetryPolicy {
        RetryPolicy {
            attempts: n.saturating_add(1),
            ..RetryPolicy::once()
        }
    }

    /// Backoff before attempt `next` (2-based): `min(delay * factor^(next-2), max_delay)`,
    /// before jitter.
    pub fn backoff(&self, next: u32) -> Duration {
        let n = next.saturating_sub(2) as i32;
        let raw = self.delay.as_secs_f64() * self.factor.powi(n);
        let capped = if self.max_delay.is_zero() {
            raw
        } else {
            raw.min(self.max_delay.as_secs_f64())
        };
        // Only past what a Duration holds (no cap, a huge factor): the longest ptest accepts.
        Duration::try_from_secs_f64(capped).unwrap_or(crate::duration::MAX)
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// `ptest.service{}` (DESIGN §11): a long-running process started for the suites that need it.
/// Templates (`{port}`, `{port:NAME}`, `{worker}`, `{tmpdir}`, ...) are filled per instance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceDecl {
    pub origin: Origin,
    pub name: String,
    pub cmd: CommandLine,
    pub description: Option<String>,
    /// As written, relative to the config's folder.
    pub cwd: Option<PathBuf>,
    /// Given to the suites that need it, and to the service's own process.
    pub env: BTreeMap<String, OsString>,
    /// Given to the service's process only.
    pub own_env: BTreeMap<String, OsString>,
    pub ready: Option<Ready>,
    pub ready_timeout: Option<Duration>,
    pub scope: Scope,
    /// SIGTERM to SIGKILL when it is stopped; `None`: the run's `grace`.
    pub grace: Option<Duration>,
}

/// How many instances of a service a run has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One for the whole run.
    Run,
    /// One per worker slot, started on that worker for the first suite that needs it there.
    Worker,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Run => "run",
            Scope::Worker => "worker",
        }
    }
}

/// When a service counts as ready, and how often to look.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub check: ReadyCheck,
    /// Between two looks; `None`: the check's own default.
    pub interval: Option<Duration>,
}

/// One readiness check, templates not yet filled.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadyCheck {
    /// `HOST:PORT` (or a bare port, on 127.0.0.1) accepts a TCP connection.
    Tcp(String),
    /// `http://HOST:PORT/PATH` answers a GET with a 2xx status.
    Http(String),
    /// A command exits 0 (tried again until it does).
    Cmd(CommandLine),
    /// This text appears in the service's output.
    Log(String),
}

impl ReadyCheck {
    /// `tcp`, `http`, `cmd` or `log`: the field it was written with.
    pub fn kind(&self) -> &'static str {
        match self {
            ReadyCheck::Tcp(_) => "tcp",
            ReadyCheck::Http(_) => "http",
            ReadyCheck::Cmd(_) => "cmd",
            ReadyCheck::Log(_) => "log",
        }
    }
}

/// Everything one evaluation of `ptest.lua` declared, in declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Declarations {
    /// The folder of the config file: relative paths in it are relative to this.
    pub config_dir: PathBuf,
    /// The config path as the user gave it (used in messages).
    pub config_path: PathBuf,
    pub config: ConfigDecl,
    pub suites: Vec<SuiteDecl>,
    pub groups: Vec<GroupDecl>,
    pub phases: Vec<PhaseDecl>,
    pub limiters: Vec<LimiterDecl>,
    pub retries: Vec<RetryDecl>,
    pub services: Vec<ServiceDecl>,
    /// Names of the hook events registered (for `plan` output).
    pub hooks: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            attempts: 5,
            delay: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(3),
            ..RetryPolicy::once()
        };
        assert_eq!(p.backoff(2), Duration::from_secs(1));
        assert_eq!(p.backoff(3), Duration::from_secs(2));
        assert_eq!(p.backoff(4), Duration::from_secs(3));
        assert_eq!(p.backoff(5), Duration::from_secs(3));
    }
}
