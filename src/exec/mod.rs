//! Running one attempt of one suite as a process: its own process group, output straight into the
//! suite's log file, a timeout with SIGTERM then SIGKILL after the grace period, peak RSS and CPU
//! time from `wait4`, and a sweep at exit so that no process ptest started outlives it.
//!
//! This module knows nothing of the plan, Lua or the scheduler: it takes an `AttemptSpec` and
//! reports an `AttemptOutcome` on a channel.

mod executor;
mod follow;
mod log;
pub(crate) use log::{append_note, read_tail};
pub(crate) mod platform;
mod process;
pub(crate) use process::{become_subreaper, block_signals_in_this_thread};
mod reaper;
mod spawn;
mod sweep;
pub mod watchdog;

pub(crate) use executor::Executor;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Longer than any run; durations are capped at it so adding them to an instant cannot overflow.
pub(crate) const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// What to run. Bytes, as Lua holds strings: a command that is not UTF-8 reaches the process
/// unchanged, and only what ptest shows of it is made readable ([`CommandLine::shown`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// Run by `sh -c`.
    Shell(OsString),
    /// Exec'd directly; the first element is the program.
    Argv(Vec<OsString>),
}

impl CommandLine {
    /// The program a user would recognise: the first word of a shell line, or argv[0], with
    /// bytes that are not UTF-8 shown as U+FFFD.
    pub fn program(&self) -> String {
        match self {
            CommandLine::Shell(s) => s
                .to_string_lossy()
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned(),
            CommandLine::Argv(v) => v
                .first()
                .map_or_else(String::new, |a| a.to_string_lossy().into_owned()),
        }
    }

    /// The words it is made of: the shell line, or each argument.
    pub fn words(&self) -> impl Iterator<Item = &OsStr> {
        let (line, argv) = match self {
            CommandLine::Shell(s) => (Some(s.as_os_str()), &[][..]),
            CommandLine::Argv(v) => (None, v.as_slice()),
        };
        line.into_iter().chain(argv.iter().map(OsString::as_os_str))
    }

    /// Whether `placeholder` (`{items}`) appears anywhere in the command.
    pub fn contains(&self, placeholder: &str) -> bool {
        match self {
            CommandLine::Shell(s) => has(s, placeholder),
            CommandLine::Argv(v) => v.iter().any(|a| has(a, placeholder)),
        }
    }

    /// Every word with `fill` applied (the placeholders of DESIGN §5).
    pub fn map(&self, fill: impl Fn(&OsStr) -> OsString) -> CommandLine {
        match self {
            CommandLine::Shell(s) => CommandLine::Shell(fill(s)),
            CommandLine::Argv(v) => CommandLine::Argv(v.iter().map(|a| fill(a)).collect()),
        }
    }
}

/// Whether `placeholder` occurs in `text`.
pub(crate) fn has(text: &OsStr, placeholder: &str) -> bool {
    find(text.as_bytes(), placeholder.as_bytes(), 0).is_some()
}

/// `text` with every `placeholder` replaced by `value`, byte for byte: a template keeps
/// whatever bytes it holds around the placeholders it names.
pub(crate) fn replace(text: &OsStr, placeholder: &str, value: &[u8]) -> OsString {
    let (hay, pat) = (text.as_bytes(), placeholder.as_bytes());
    let mut out = Vec::with_capacity(hay.len());
    let mut at = 0;
    while let Some(found) = find(hay, pat, at) {
        out.extend_from_slice(&hay[at..found]);
        out.extend_from_slice(value);
        at = found + pat.len();
    }
    out.extend_from_slice(&hay[at..]);
    OsString::from_vec(out)
}

/// Where `pat` (not empty) first occurs in `hay` at or after `from`.
fn find(hay: &[u8], pat: &[u8], from: usize) -> Option<usize> {
    if pat.is_empty() || hay.len() < pat.len() {
        return None;
    }
    (from..=hay.len() - pat.len()).find(|&i| hay[i..].starts_with(pat))
}

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
