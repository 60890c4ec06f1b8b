//! What a suite runs: a shell line or an argv, held as bytes (a command that is not UTF-8 reaches
//! the process unchanged), and the placeholders of its template (`{worker}`, `{items}`, ...)
//! found and replaced byte for byte. Lua builds it, the plan holds it, the scheduler fills it
//! in, `exec` runs it, the reports show it. A leaf: imports nothing of the crate.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

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
