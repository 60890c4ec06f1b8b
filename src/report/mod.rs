//! Report sinks fed the scheduler's events: the terminal, the JSON report. Each sink reads the
//! plan and the events; none changes run state.

pub mod json;
pub mod merge;
pub mod style;
pub mod terminal;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as the report writes times.
pub fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A path as a person would type it from the current folder: relative when it is below it.
pub fn display_path(p: &Path) -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => p
            .strip_prefix(&cwd)
            .map_or_else(|_| p.to_path_buf(), Path::to_path_buf),
        Err(_) => p.to_path_buf(),
    }
}
