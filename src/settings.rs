//! Precedence, as a pure function: command line > environment (`PTEST_WORKERS`,
//! `PTEST_DISABLE_PARALLEL`, `NO_COLOR`) > `ptest.lua` > defaults. No I/O: the environment is
//! passed in as a lookup function so tests can give any.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::plan::WorkerSource;

/// `-j N` or `-j auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jobs {
    Count(u32),
    Auto,
}

/// The most workers a run may have: each is a slot ptest tracks, and no machine runs more
/// suites than this at once.
pub const MAX_WORKERS: u32 = 65_536;
/// What a larger count is told.
pub const TOO_MANY_WORKERS: &str = "is more workers than ptest runs at once (at most 65536)";

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

/// What the command line (and environment) override in the config.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub jobs: Option<Jobs>,
    pub sequential: bool,
    pub fail_fast: Option<bool>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    /// Relative to the current directory.
    pub log_dir: Option<PathBuf>,
}

/// Which suites to keep (`-s`, `-c`, `-t`, `--phase`, `--skip`, `--no-deps`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub suites: Vec<String>,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    pub phases: Vec<String>,
    pub skip: Vec<String>,
    pub no_deps: bool,
    /// `--rerun-failed`: only these names (what failed last time; names no longer declared are
    /// ignored), and what they depend on.
    pub rerun: Option<Vec<String>>,
}

impl Selection {
    pub fn filters(&self) -> bool {
        !(self.suites.is_empty()
            && self.categories.is_empty()
            && self.tags.is_empty()
            && self.phases.is_empty()
            && self.rerun.is_none())
    }
}

/// The worker count and where it came from.
pub fn resolve_workers(
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
pub fn phase_workers(global: (u32, WorkerSource), phase: Option<u32>) -> u32 {
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
}
