//! Errors a person can act on: where (`ptest.lua:14`), what (`suite "deposits"`), why, and a
//! suggestion. The text lives in `Display`; exit codes are mapped once, in `lib.rs`.

use std::fmt;
use std::sync::Arc;

/// Where a declaration was made: the chunk name Lua reports (the config path as given, or a
/// module's path) and the line of the call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: u32,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One config error: `origin: context: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub origin: Option<Origin>,
    /// `suite "deposits"`, `limiter "api"`, `config`, ...
    pub context: Option<String>,
    /// Lowercase, no trailing period; already carries its `(did you mean ...)`.
    pub message: String,
}

impl ConfigError {
    pub fn new(
        origin: Option<Origin>,
        context: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            origin,
            context,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = &self.origin {
            write!(f, "{o}: ")?;
        }
        if let Some(c) = &self.context {
            write!(f, "{c}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Everything that stops ptest before (or instead of) a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more config errors, in file order.
    #[error("{}", list(.0))]
    Config(Vec<ConfigError>),
    /// A bad command line (unknown suite names, bad values).
    #[error("{0}")]
    Usage(String),
    /// The environment refused something before any suite started (unwritable log folder).
    #[error("{0}")]
    Setup(String),
}

fn list(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(vec![e])
    }
}

impl Error {
    /// What ptest exits with when this stops it: every such error is the user's to fix.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Usage(_) | Error::Setup(_) => exit::USAGE,
        }
    }
}

/// Exit codes of DESIGN §4, all in one place. A run's own code comes from its summary
/// (`Summary::exit_code`): OK, FAILED or INTERRUPTED.
pub mod exit {
    pub const OK: u8 = 0;
    /// A suite failed or timed out.
    pub const FAILED: u8 = 1;
    /// A config, usage or setup error (nothing ran); `ptest acquire` refused.
    pub const USAGE: u8 = 2;
    /// `ptest acquire` outside a run (no `PTEST_SOCKET`).
    pub const OUTSIDE_RUN: u8 = 3;
    /// `ptest acquire --timeout` passed without a grant.
    pub const NOT_GRANTED: u8 = 4;
    /// A run whose selection left no suite to run (without `--allow-empty`).
    pub const NOTHING_TO_RUN: u8 = 4;
    /// A signal stopped the run.
    pub const INTERRUPTED: u8 = 130;
}

/// The OS error text without Rust's `(os error N)` suffix.
pub fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests;
