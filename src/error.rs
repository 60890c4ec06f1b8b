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

    /// A run's code: interrupted wins, then any failed (or timed-out) suite.
    pub(crate) fn of_run(interrupted: bool, failures: usize) -> u8 {
        if interrupted {
            INTERRUPTED
        } else if failures > 0 {
            FAILED
        } else {
            OK
        }
    }
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
mod tests {
    //! How errors read: `origin: context: message`, one per line, and what they exit with.

    use std::sync::Arc;

    use super::*;

    #[expect(
        clippy::unnecessary_wraps,
        reason = "ConfigError takes an optional origin"
    )]
    fn at(line: u32) -> Option<Origin> {
        Some(Origin {
            file: Arc::from("ptest.lua"),
            line,
        })
    }

    #[test]
    fn a_config_error_names_where_what_and_why() {
        let e = ConfigError::new(at(14), Some("suite \"deposits\"".into()), "unknown field");
        assert_eq!(
            e.to_string(),
            "ptest.lua:14: suite \"deposits\": unknown field"
        );
        assert_eq!(
            ConfigError::new(None, Some("config".into()), "bad").to_string(),
            "config: bad"
        );
        assert_eq!(
            ConfigError::new(at(2), None, "dependency cycle: a -> a").to_string(),
            "ptest.lua:2: dependency cycle: a -> a"
        );
        assert_eq!(ConfigError::new(None, None, "plain").to_string(), "plain");
    }

    #[test]
    fn several_config_errors_read_one_a_line() {
        let e = Error::Config(vec![
            ConfigError::new(at(1), None, "first"),
            ConfigError::new(at(9), None, "second"),
        ]);
        assert_eq!(e.to_string(), "ptest.lua:1: first\nptest.lua:9: second");
        let one: Error = ConfigError::new(at(3), None, "only").into();
        assert_eq!(one.to_string(), "ptest.lua:3: only");
    }

    #[test]
    fn every_error_that_stops_ptest_before_a_run_exits_2() {
        for e in [
            Error::Config(vec![ConfigError::new(None, None, "x")]),
            Error::Usage("--suites: no suite named \"x\"".into()),
            Error::Setup("cannot create log folder".into()),
        ] {
            assert_eq!(e.exit_code(), exit::USAGE, "{e}");
        }
        assert_eq!(
            Error::Usage("as given".into()).to_string(),
            "as given",
            "usage and setup errors are their text"
        );
    }

    #[test]
    fn origins_order_by_file_then_line() {
        let a = Origin {
            file: Arc::from("a.lua"),
            line: 9,
        };
        let b = Origin {
            file: Arc::from("ptest.lua"),
            line: 2,
        };
        let c = Origin {
            file: Arc::from("ptest.lua"),
            line: 10,
        };
        let mut v = vec![c.clone(), b.clone(), a.clone()];
        v.sort();
        assert_eq!(v, [a, b, c]);
        // Errors without an origin come first when sorted (Option's order).
        assert!(None < at(1));
    }

    #[test]
    fn io_messages_drop_the_os_error_number() {
        let e = std::io::Error::from(rustix::io::Errno::NOENT);
        assert_eq!(io_message(&e), "No such file or directory");
        let e = std::io::Error::from(rustix::io::Errno::ACCESS);
        assert_eq!(io_message(&e), "Permission denied");
        let custom = std::io::Error::other("not a regular file");
        assert_eq!(io_message(&custom), "not a regular file");
    }

    #[test]
    fn exit_codes_are_those_of_the_design() {
        assert_eq!(
            [
                exit::OK,
                exit::FAILED,
                exit::USAGE,
                exit::NOTHING_TO_RUN,
                exit::INTERRUPTED
            ],
            [0, 1, 2, 4, 130]
        );
        assert_eq!((exit::OUTSIDE_RUN, exit::NOT_GRANTED), (3, 4));
    }
}
