//! Report sinks fed the scheduler's events: the terminal, the JSON report. Each sink reads the
//! plan and the events; none changes run state.

pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod live;
pub mod merge;
pub mod style;
pub mod terminal;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as the report writes times.
pub fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A path as a person would type it from the current folder: relative when it is below it.
pub fn display_path(p: &Path) -> PathBuf {
    // ptest never changes its own folder (suites change theirs): asked once, not per suite.
    static CWD: OnceLock<Option<PathBuf>> = OnceLock::new();
    match CWD.get_or_init(|| std::env::current_dir().ok()) {
        Some(cwd) => p
            .strip_prefix(cwd)
            .map_or_else(|_| p.to_path_buf(), Path::to_path_buf),
        None => p.to_path_buf(),
    }
}

/// Write `bytes` to `path` atomically: a temp file beside it, then a rename.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        // No fsync: the rename is what makes the write atomic for readers (never a half-written
        // report), and it is all a run's report needs. Forcing it to disk waited for the device
        // on every run; ext4 flushes a file renamed over another before the rename commits anyway.
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
