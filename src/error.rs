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
