//! Running one attempt of one suite as a process: its own process group, output straight into the
//! suite's log file, a timeout with SIGTERM then SIGKILL after the grace period, peak RSS and CPU
//! time from `wait4`, and a sweep at exit so that no process ptest started outlives it.
//!
//! This module knows nothing of the plan, Lua or the scheduler: it takes an `AttemptSpec` and
//! reports an `AttemptOutcome` on a channel. What it asks of the operating system goes through
//! `crate::os`.

mod executor;
mod follow;
mod groups;
mod log;
mod process;
mod reaper;
mod sweep;
pub mod watchdog;

pub(crate) use executor::Executor;
pub(crate) use log::append_note;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::command::CommandLine;

/// Longer than any run; durations are capped at it so adding them to an instant cannot overflow.
pub(crate) const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Where `-v` sends each complete output line (already split; without the trailing newline).
pub(crate) trait LineSink: Send + Sync {
    fn line(&self, prefix: &str, line: &[u8]);

    /// Several lines of one suite at once, in order (one terminal write where the sink can).
    fn lines(&self, prefix: &str, lines: &[&[u8]]) {
        for line in lines {
            self.line(prefix, line);
        }
    }
}

/// A terminal writer shared by the live output and the reporter, so lines never tear.
pub(crate) type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// One attempt of one suite, fully resolved (templates already substituted).
pub(crate) struct AttemptSpec {
    /// Opaque key chosen by the caller, echoed back in the outcome.
    pub key: u64,
    pub command: CommandLine,
    pub cwd: PathBuf,
    /// Added to (and overriding) ptest's own environment and the run's (`Executor::set_run_env`).
    /// Values are bytes (a suite's `env` need not be UTF-8).
    pub env: Vec<(String, OsString)>,
    /// Opened in append mode, created if missing. The header line is written first.
    pub log_path: PathBuf,
    /// Written as its own line before the process starts, e.g. `=== ptest: x attempt 1/1 ===`.
    pub header: String,
    /// Overwrite the log (the suite's first attempt in this run) or append to it.
    pub log_start: LogStart,
    pub timeout: Duration,
    pub grace: Duration,
    /// With `-v`: output also goes, line by line, to this sink with this prefix.
    pub echo: Option<(String, Arc<dyn LineSink>)>,
}

/// How an attempt's log begins.
pub(crate) enum LogStart {
    /// A later attempt: header and output go after the earlier attempts'.
    Append,
    /// The suite's first attempt in this run: the earlier run's log is overwritten from the start
    /// and cut after the header. With its length already known (0: there is none), starting the
    /// attempt does not ask for it.
    Fresh(Option<u64>),
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttemptEnd {
    /// The process exited with this code.
    Exited(i32),
    /// The process was killed by this signal (not by ptest).
    Signaled(i32),
    /// The timeout fired; the group got SIGTERM, then SIGKILL after the grace period.
    TimedOut,
    /// `Executor::cancel` stopped it (fail-fast, Ctrl-C).
    Cancelled,
    /// The process could not be started: `command not found: NAME` or the OS error.
    SpawnFailed(String),
}

/// What happened to one attempt.
#[derive(Debug, Clone)]
pub(crate) struct AttemptOutcome {
    pub key: u64,
    pub end: AttemptEnd,
    pub started: SystemTime,
    pub duration: Duration,
    pub peak_rss_kb: Option<u64>,
    pub cpu_time: Option<Duration>,
    /// Byte range of this attempt's output in the log file (after its header).
    pub log_start: u64,
    pub log_end: u64,
}

#[cfg(test)]
mod tests;
