//! What people read: report sinks fed the scheduler's events (terminal, JSON, JUnit, HTML,
//! GitHub), and the views of a plan (`listing` for `ptest list` and `ptest plan`, `graph` for `ptest graph`). Each reads the
//! plan and the events; none changes run state.

pub(crate) mod events;
pub(crate) mod github;
pub(crate) mod graph;
pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod junit;
pub(crate) mod listing;
pub(crate) mod live;
pub(crate) mod merge;
pub(crate) mod shards;
pub(crate) mod style;
pub(crate) mod terminal;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// How many testcases batches reported, and `3 passed, 1 failed, 1 skipped` (outcomes with
/// none left out); `None` without any.
pub(crate) fn test_counts<'a>(
    cases: impl IntoIterator<Item = &'a crate::batch::results::TestCase>,
) -> Option<(usize, String)> {
    use crate::batch::results::Outcome;
    let order = [
        Outcome::Passed,
        Outcome::Failed,
        Outcome::Error,
        Outcome::Skipped,
    ];
    let mut counts = [0usize; 4];
    for c in cases {
        if let Some(i) = order.iter().position(|o| *o == c.outcome) {
            counts[i] += 1;
        }
    }
    let total: usize = counts.iter().sum();
    let parts: Vec<String> = order
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| format!("{n} {}", o.label()))
        .collect();
    (total > 0).then(|| (total, parts.join(", ")))
}

/// Seconds since the Unix epoch, as the report writes times.
pub(crate) fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A path as a person would type it from the current folder: relative when it is below it.
pub(crate) fn display_path(p: &Path) -> PathBuf {
    // ptest never changes its own folder (suites change theirs): asked once, not per suite.
    static CWD: OnceLock<Option<PathBuf>> = OnceLock::new();
    match CWD.get_or_init(|| std::env::current_dir().ok()) {
        Some(cwd) => p
            .strip_prefix(cwd)
            .map_or_else(|_| p.to_path_buf(), Path::to_path_buf),
        None => p.to_path_buf(),
    }
}

/// Output as text a report can show: lossily decoded, ANSI escape sequences (colours, cursor
/// moves) removed, tabs kept (the stripper drops every control byte but the newline, which
/// glued go's `FAIL\tpkg\t0.01s` into `FAILpkg0.01s`).
pub(crate) fn strip_ansi(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, piece) in bytes.split(|&b| b == b'\t').enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        out.extend_from_slice(&strip_ansi_escapes::strip(piece));
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The one file a suite is about, relative to the config's folder: of its name and its
/// command's arguments (program excluded; `path::test` selectors cut at `::`), those naming an
/// existing file, when there is exactly one. CI systems link a test case to it.
pub(crate) fn suite_file(plan: &crate::plan::Plan, s: &crate::plan::Suite) -> Option<String> {
    use crate::exec::CommandLine;
    let words: Vec<String> = match &s.cmd {
        CommandLine::Shell(line) => line
            .to_string_lossy()
            .split_whitespace()
            .skip(1)
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_owned())
            .collect(),
        CommandLine::Argv(v) => v
            .iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    };
    let mut found: Vec<PathBuf> = Vec::new();
    for w in std::iter::once(&s.name).chain(&words) {
        let w = w.split("::").next().unwrap_or(w);
        if w.is_empty() || w.starts_with('-') || w.contains('=') || w.contains('{') {
            continue;
        }
        let p = s.cwd.join(w);
        if !p.is_file() {
            continue;
        }
        let p = std::fs::canonicalize(&p).unwrap_or(p);
        if !found.contains(&p) {
            found.push(p);
        }
    }
    let [only] = found.as_slice() else {
        return None;
    };
    let base = std::fs::canonicalize(&plan.config_dir).unwrap_or_else(|_| plan.config_dir.clone());
    let rel = only.strip_prefix(&base).unwrap_or(only);
    Some(rel.to_string_lossy().into_owned())
}

/// Write `bytes` to `path` atomically, never replacing anything but a regular file
/// ([`crate::safe_write`]).
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::safe_write::write(path, bytes)
}

#[cfg(test)]
pub(crate) mod tests;
