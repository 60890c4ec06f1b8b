//! The Plan: everything a run needs, validated and immutable, with no Lua value in it.
//! `ptest list`, `plan` and `graph` stop here; the scheduler only reads it.

pub(crate) mod build;
pub(crate) mod decl;
pub(crate) mod priority;
pub(crate) mod services;

use std::path::PathBuf;
use std::time::Duration;

use crate::command::CommandLine;
use crate::error::Origin;
pub(crate) use decl::{OnFailure, Ready, ReadyCheck, RetryPolicy, Scope};

macro_rules! id_type {
    ($name:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}
id_type!(SuiteId);
id_type!(GroupId);
id_type!(PhaseId);
id_type!(LimiterId);
id_type!(ServiceId);

// Where the worker count came from: settings decides it (the plan carries it).
pub(crate) use crate::settings::WorkerSource;

/// Where a suite's expected duration came from (DESIGN §8), as `ptest plan` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedSource {
    /// The median of its last passed durations.
    History,
    /// Its `estimate`.
    Estimate,
    /// Unknown: it counts as the mean of the known ones (as every other unknown suite).
    None,
}

impl ExpectedSource {
    pub fn label(self) -> &'static str {
        match self {
            ExpectedSource::History => "history",
            ExpectedSource::Estimate => "estimate",
            ExpectedSource::None => "none",
        }
    }
}

/// Why a suite is skipped before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticSkip {
    /// `enabled = false`
    Disabled,
    /// Its phase has `enabled = false`.
    PhaseDisabled(String),
    /// Named by `--skip`.
    SkipFlag,
}

impl StaticSkip {
    pub fn reason(&self) -> String {
        match self {
            StaticSkip::Disabled => "disabled".into(),
            StaticSkip::PhaseDisabled(p) => format!("phase \"{p}\" disabled"),
            StaticSkip::SkipFlag => "--skip".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Suite {
    pub id: SuiteId,
    pub name: String,
    pub origin: Origin,
    pub cmd: CommandLine,
    pub description: Option<String>,
    pub category: String,
    pub tags: Vec<String>,
    /// Absolute.
    pub cwd: PathBuf,
    /// The group's env with the suite's own on top, templates not yet substituted. Values are
    /// bytes, passed on unchanged.
    pub env: Vec<(String, std::ffi::OsString)>,
    pub timeout: Duration,
    /// Only dependencies inside the plan (with `--no-deps`, the others are dropped).
    pub depends_on: Vec<SuiteId>,
    pub dependents: Vec<SuiteId>,
    /// The services that must be ready before it starts (DESIGN §11).
    pub needs: Vec<ServiceId>,
    pub group: Option<GroupId>,
    pub phase: PhaseId,
    pub limiter: Option<LimiterId>,
    pub retry: RetryPolicy,
    /// The policy's name, or `"+N"` for the integer form.
    pub retry_label: Option<String>,
    /// Capped at the phase's worker count.
    pub slots: u32,
    pub serial: bool,
    pub estimate: Option<Duration>,
    /// One part of a batch: its items, and how to run a subset of them.
    pub part: Option<std::sync::Arc<decl::BatchPart>>,
    /// It hands the run's `-k`, `--test` or `-- ARGS` to its tool (`select = true`, and one
    /// of them given): it runs some of its tests, or runs them otherwise than declared, so its
    /// durations say nothing about a whole run.
    pub selected_tests: bool,
    /// Expected duration in seconds (history, else estimate, else the mean of the estimates).
    pub expected: f64,
    /// Where `expected` came from.
    pub expected_source: ExpectedSource,
    /// Bytes the suite needs while it runs (DESIGN §12); `None`: not counted.
    pub memory: Option<u64>,
    /// `memory = "auto"` (then `memory` is from history, `None` before any).
    pub memory_auto: bool,
    /// Own expected duration plus the longest chain of dependents after it in its phase.
    pub path: f64,
    pub skip: Option<StaticSkip>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub origin: Origin,
    pub max: u32,
    pub env: Vec<(String, std::ffi::OsString)>,
    pub members: Vec<SuiteId>,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub id: PhaseId,
    pub name: String,
    pub origin: Option<Origin>,
    pub enabled: bool,
    pub workers: u32,
    pub on_failure: OnFailure,
    pub always: bool,
    pub suites: Vec<SuiteId>,
}

#[derive(Debug, Clone)]
pub struct Limiter {
    pub id: LimiterId,
    pub name: String,
    pub origin: Origin,
    pub rate: f64,
    pub per: Duration,
    pub burst: u32,
    pub concurrency: Option<u32>,
    pub adaptive: bool,
    pub max_throttled: Option<u32>,
}

/// What one shard of a static split runs (DESIGN §10), by the names the whole run's plan
/// gives them: `shard::units` decides it, `build::build_run` keeps only that.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Share {
    /// 1-based.
    pub index: u32,
    pub total: u32,
    /// Suites this shard runs (a whole batch's parts among them).
    pub suites: std::collections::HashSet<String>,
    /// Each spread batch's items this shard runs (possibly none), by the batch's name.
    pub items: std::collections::HashMap<String, std::collections::HashSet<String>>,
    /// What the shard's report says of the split.
    pub note: ShardNote,
}

/// What a shard's report says of the split it ran a part of (DESIGN §10): what `ptest merge`
/// checks the shards of one run agree on, and the suites every shard runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShardNote {
    /// A digest of the whole split (every unit and its shard): the same on every shard that
    /// planned from the same config, selection, history and worker count.
    pub split: String,
    /// Suites of `always` phases, which every shard runs.
    pub every_shard: Vec<String>,
}

impl Share {
    /// Whether this shard runs the suite named `name`, a part of `batch` if it is one.
    pub(crate) fn runs(&self, name: &str, batch: Option<&str>) -> bool {
        match batch {
            Some(b) if self.items.contains_key(b) => true,
            _ => self.suites.contains(name),
        }
    }

    /// The items of a spread batch this shard runs; `None` when the batch is not spread (it
    /// runs whole, here or on another shard).
    pub(crate) fn items_of(&self, batch: &str) -> Option<&std::collections::HashSet<String>> {
        self.items.get(batch)
    }
}

/// A long-running process started for the suites that need it (DESIGN §11). Templates are
/// filled per instance when it starts.
#[derive(Debug, Clone)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    pub origin: Origin,
    pub description: Option<String>,
    pub cmd: CommandLine,
    /// Absolute.
    pub cwd: PathBuf,
    /// Given to the suites that need it, and to the service's own process.
    pub env: Vec<(String, std::ffi::OsString)>,
    /// Given to the service's process only.
    pub own_env: Vec<(String, std::ffi::OsString)>,
    pub ready: Option<Ready>,
    pub ready_timeout: Duration,
    pub scope: Scope,
    /// SIGTERM to SIGKILL when it is stopped.
    pub grace: Duration,
    /// The ports its templates name, sorted: `None` is `{port}`, `Some(name)` `{port:name}`.
    pub ports: Vec<Option<String>>,
    /// The suites of the plan that need it, in plan order (empty: it never starts).
    pub needed_by: Vec<SuiteId>,
}

/// The resolved, validated schedule.
#[derive(Debug, Clone)]
pub struct Plan {
    pub config_path: PathBuf,
    pub config_dir: PathBuf,
    pub workers: u32,
    pub worker_source: WorkerSource,
    pub log_dir: PathBuf,
    pub fail_fast: bool,
    pub grace: Duration,
    pub suites: Vec<Suite>,
    pub groups: Vec<Group>,
    /// In declaration order; the implicit `default` comes first unless declared explicitly.
    pub phases: Vec<Phase>,
    pub limiters: Vec<Limiter>,
    /// Every service declared, in declaration order (`ServiceId` is the position).
    pub services: Vec<Service>,
    pub hooks: Vec<String>,
    /// The suite timeout when a suite gives none (`ptest.config { timeout }`, default 300 s);
    /// `--timeout` has already replaced every suite's own.
    pub default_timeout: Duration,
    /// Every retry policy declared, used or not: `(name, policy)`.
    pub retry_policies: Vec<(Option<String>, RetryPolicy)>,
    /// The memory running suites may take together, in bytes (DESIGN §12).
    pub memory_budget: u64,
    /// `ptest.lua`, or the machine's available memory at the start.
    pub memory_budget_source: &'static str,
    /// How many suites the config declared before selection.
    pub declared: usize,
    /// Every run-wide setting with where it came from (`settings::resolve`); `workers`,
    /// `log_dir`, `fail_fast`, `grace` and `default_timeout` above are its values.
    pub settings: crate::settings::Settings,
    /// On a static shard (`settings.shard`), what its report says of the split.
    pub shard_note: Option<ShardNote>,
}

impl Plan {
    pub fn suite(&self, id: SuiteId) -> &Suite {
        &self.suites[id.index()]
    }

    pub fn phase(&self, id: PhaseId) -> &Phase {
        &self.phases[id.index()]
    }

    pub fn group(&self, id: GroupId) -> &Group {
        &self.groups[id.index()]
    }

    pub fn limiter(&self, id: LimiterId) -> &Limiter {
        &self.limiters[id.index()]
    }

    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id.index()]
    }

    pub fn group_name(&self, s: &Suite) -> Option<&str> {
        s.group.map(|g| self.group(g).name.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests;
