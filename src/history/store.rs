//! Reading and writing the history file. Readers never lock: a write is a new file renamed into
//! place, so a reader sees the old history or the new one. Writers hold an advisory lock
//! (`flock` on `history.json.lock` beside it) while they read what is there, add their run and
//! rename: two runs ending at once both land. A file that cannot be read is moved aside to
//! `history.json.bad` (only by a run, which is about to write a new one) and never lost.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{FORMAT_VERSION, History, Update};

/// What was found at the history's place, and how to tell later whether it changed.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub history: History,
    /// A warning for the user (a file that could not be read and is ignored).
    pub warning: Option<String>,
    /// The file as read (device, inode, length, mtime), `None` when there was none.
    seen: Option<(u64, u64, u64, i64, i64)>,
    /// The file could not be read and should be moved aside before the next write.
    bad: bool,
}

fn stamp(m: &std::fs::Metadata) -> (u64, u64, u64, i64, i64) {
    (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec())
}

/// `history.json` → `history.json.bad` (and `.lock`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Why the file's text is not a history this build can use.
fn parse(bytes: &[u8]) -> Result<History, String> {
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: Option<u64>,
    }
    match serde_json::from_slice::<History>(bytes) {
        Ok(h) if h.format_version == FORMAT_VERSION => Ok(h),
        Ok(h) if h.format_version > FORMAT_VERSION => Err(format!(
            "it has format_version {}, newer than this ptest reads ({FORMAT_VERSION})",
            h.format_version
        )),
        Ok(h) => Err(format!("unknown format_version {}", h.format_version)),
        Err(e) => match serde_json::from_slice::<Version>(bytes) {
            Ok(Version {
                format_version: Some(v),
            }) if v > u64::from(FORMAT_VERSION) => Err(format!(
                "it has format_version {v}, newer than this ptest reads ({FORMAT_VERSION})"
            )),
            _ => Err(format!("not a ptest history ({e})")),
        },
    }
}

/// Read the history at `path`. A missing file is an empty history; one that cannot be read is
/// an empty history with a warning.
pub(crate) fn load(path: &Path) -> Loaded {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::default(),
        Err(e) => {
            return Loaded {
                warning: Some(format!(
                    "history {}: cannot read it ({}); this run goes on without history",
                    path.display(),
                    crate::io_message(&e)
                )),
                ..Loaded::default()
            };
        }
    };
    let meta = file.metadata().ok();
    if meta.as_ref().is_some_and(|m| !m.is_file()) {
        return Loaded {
            warning: Some(format!(
                "history {}: not a regular file; this run goes on without history",
                path.display()
            )),
            ..Loaded::default()
        };
    }
    let bytes = match read_all(file, meta.as_ref()) {
        Ok(b) => b,
        Err(e) => {
            return Loaded {
                warning: Some(format!(
                    "history {}: cannot read it ({}); this run goes on without history",
                    path.display(),
                    crate::io_message(&e)
                )),
                ..Loaded::default()
            };
        }
    };
    match parse(&bytes) {
        Ok(history) => Loaded {
            history,
            warning: None,
            seen: meta.as_ref().map(stamp),
            bad: false,
        },
        Err(why) => Loaded {
            history: History::default(),
            warning: Some(format!(
                "history {}: {why}; going on without history",
                path.display(),
            )),
            seen: meta.as_ref().map(stamp),
            bad: true,
        },
    }
}

fn read_all(mut f: File, meta: Option<&std::fs::Metadata>) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(meta.map_or(0, |m| m.len() as usize + 1));
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// An exclusive advisory lock, released when dropped (with the descriptor it is held on).
struct Lock {
    _file: File,
}

impl Lock {
    fn take(path: &Path) -> std::io::Result<Lock> {
        use std::os::fd::AsRawFd;
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(sibling(path, ".lock"))?;
        loop {
            // SAFETY: a valid descriptor we own; flock touches no memory of ours.
            let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(Lock { _file: f });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Add `update` to the history at `path`: under the lock, read what is there now (another run
/// may have written since `loaded` was read), add, write a new file and rename it into place.
/// Returns warnings (a file set aside) on success.
pub(crate) fn write(path: &Path, loaded: Loaded, update: &Update) -> Result<Vec<String>, String> {
    let fail = |what: &str, e: &std::io::Error| {
        format!(
            "cannot write history {}: {what}: {}",
            path.display(),
            crate::io_message(e)
        )
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot make its folder", &e))?;
    let _lock = Lock::take(path).map_err(|e| fail("cannot lock it", &e))?;
    let mut warnings = Vec::new();
    let now = std::fs::symlink_metadata(path).ok();
    let mut history = match &now {
        None => History::default(),
        Some(m) if !m.is_file() => {
            return Err(format!(
                "cannot write history {}: it is not a regular file",
                path.display()
            ));
        }
        // Unchanged since it was read at the start: no need to read it again.
        Some(m) if loaded.seen == Some(stamp(m)) && !loaded.bad => loaded.history,
        Some(_) => {
            let fresh = load(path);
            if fresh.bad || (loaded.bad && fresh.seen == loaded.seen) {
                set_aside(path).map_err(|e| fail("cannot move it aside", &e))?;
                if !loaded.bad {
                    warnings.extend(fresh.warning);
                }
                warnings.push(format!(
                    "history {}: the file that could not be read is kept as {}",
                    path.display(),
                    sibling(path, ".bad").display()
                ));
                History::default()
            } else {
                fresh.history
            }
        }
    };
    history.apply(update);
    write_atomic(path, &history).map_err(|e| {
        format!(
            "cannot write history {}: {}",
            path.display(),
            crate::io_message(&e)
        )
    })?;
    Ok(warnings)
}

/// `history.json` → `history.json.bad`, replacing an older `.bad`.
fn set_aside(path: &Path) -> std::io::Result<()> {
    std::fs::rename(path, sibling(path, ".bad"))
}

/// Serialize `history` into a fresh temp file beside `path` (`O_EXCL`), then rename it over.
pub(crate) fn write_atomic(path: &Path, history: &History) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().map_or_else(
        || "history.json".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut attempt = 0;
    let (tmp, mut f) = loop {
        let tmp = dir.join(format!(
            ".{name}.{}.{:08x}.tmp",
            std::process::id(),
            fastrand::u32(..)
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    // Streamed: a big history is never held twice (parsed and as text) at once.
    let result = {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, &mut f);
        write_json(&mut out, history).and_then(|()| out.flush())
    }
    .and_then(|()| {
        drop(f);
        std::fs::rename(&tmp, path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Compact JSON with one suite per line: small, quick, and still readable in a diff.
fn write_json(out: &mut impl Write, h: &History) -> std::io::Result<()> {
    write!(
        out,
        "{{\"format_version\":{},\"suites\":{{",
        h.format_version
    )?;
    for (section, map) in [("suites", &h.suites), ("items", &h.items)] {
        if section == "items" {
            out.write_all(b"},\n\"items\":{")?;
        }
        for (i, (name, entry)) in map.iter().enumerate() {
            out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut *out, name).map_err(std::io::Error::other)?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, entry).map_err(std::io::Error::other)?;
        }
    }
    out.write_all(b"}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Status;
    use crate::history::record;

    fn update(name: &str, status: Status, d: f64) -> Update {
        Update {
            suites: vec![(name.into(), record(status, 1, d, 1, Some(100), Some(0.5)))],
            items: vec![(
                "unit/tests/a.py".into(),
                record(status, 1, d, 1, None, None),
            )],
        }
    }

    #[test]
    fn written_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ptest/history.json");
        write(&path, load(&path), &update("a", Status::Passed, 1.5)).unwrap();
        write(&path, load(&path), &update("a", Status::Failed, 2.5)).unwrap();
        let h = load(&path);
        assert!(h.warning.is_none(), "{:?}", h.warning);
        assert_eq!(h.history.suites["a"].runs.len(), 2);
        assert_eq!(h.history.expected("a"), Some(1.5));
        assert_eq!(h.history.items["unit/tests/a.py"].runs.len(), 2);
        assert_eq!(h.history.failed_last(), ["a"]);
    }

    #[test]
    fn a_write_rereads_what_another_run_wrote_since() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let first = load(&path);
        let second = load(&path);
        write(&path, first, &update("a", Status::Passed, 1.0)).unwrap();
        write(&path, second, &update("b", Status::Passed, 1.0)).unwrap();
        let h = load(&path).history;
        assert!(h.suites.contains_key("a") && h.suites.contains_key("b"));
    }

    #[test]
    fn a_corrupt_or_newer_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        std::fs::write(&path, "{ not json").unwrap();
        let l = load(&path);
        assert!(
            l.warning
                .as_deref()
                .unwrap()
                .contains("not a ptest history")
        );
        write(&path, l, &update("a", Status::Passed, 1.0)).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("h.json.bad")).unwrap(),
            "{ not json"
        );
        assert!(load(&path).history.suites.contains_key("a"));

        std::fs::write(&path, r#"{"format_version": 7, "suites": 3}"#).unwrap();
        let l = load(&path);
        assert!(l.warning.as_deref().unwrap().contains("format_version 7"));
    }
}
