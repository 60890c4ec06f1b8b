//! The files around a history besides the history itself: where a link at its place leads
//! (`Place`), the side files in which a run that could not take the writers' lock keeps its
//! records (`keep_pending`, `read_pending`), and the temp files of writers that died mid-write
//! (`clean_stale_temps`). `store` decides when each is used; this module finds, reads and
//! writes them. It never writes through a link, and removes only files named in ptest's own
//! patterns, owned by this user, that are regular files.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Records, Update, format};

/// The largest history ptest reads whole (`ptest stats`, `merge --history`, a file in another
/// layout, a side file). 10,000 suites with 30 runs each take 14 MB; a file past this bound is
/// not one ptest wrote for any project it runs, and reading it would only cost the memory.
pub(crate) const MAX_WHOLE: u64 = 256 << 20;

/// How long a temp file of a writer that is gone must have been left untouched before it is
/// removed: a writer in another PID namespace (a container sharing the folder) looks dead
/// from here, and no write takes a minute.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Where a history's bytes are: the path ptest was given (`--history`, `.ptest/history.json`),
/// or, when that is a symbolic link, the file it leads to.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// The path as given.
    pub given: PathBuf,
    /// The file that is read and replaced: `given`, or the history a link at `given` leads to.
    pub file: PathBuf,
    pub link: bool,
}

impl Place {
    fn plain(given: &Path) -> Place {
        Place {
            given: given.to_path_buf(),
            file: given.to_path_buf(),
            link: false,
        }
    }

    /// The history's name in messages: the path given, and where its link leads.
    pub(crate) fn shown(&self) -> String {
        if self.link {
            format!(
                "{} (a link to {})",
                self.given.display(),
                self.file.display()
            )
        } else {
            self.given.display().to_string()
        }
    }
}

/// Where the history at `given` is. A symbolic link (a shared place, a CI cache) is followed to
/// the regular file it leads to, through any chain of links; whether that file is a history is
/// for the reader to find out (a link to anything else is set aside like a damaged file, and
/// the file it leads to is never written). `Err` says why a link cannot be followed: it leads
/// nowhere, or to something else than a regular file.
pub(crate) fn resolve(given: &Path) -> Result<Place, String> {
    match std::fs::symlink_metadata(given) {
        Ok(m) if m.file_type().is_symlink() => {}
        _ => return Ok(Place::plain(given)),
    }
    let to = std::fs::read_link(given).map_or_else(|_| "?".into(), |t| t.display().to_string());
    let file = std::fs::canonicalize(given)
        .map_err(|e| format!("it is a link to {to}, which {}", missing(&e)))?;
    match std::fs::metadata(&file) {
        Ok(m) if m.is_file() => Ok(Place {
            given: given.to_path_buf(),
            file,
            link: true,
        }),
        Ok(_) => Err(format!("it is a link to {to}, which is not a regular file")),
        Err(e) => Err(format!("it is a link to {to}, which {}", missing(&e))),
    }
}

fn missing(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "does not exist (ptest makes no file through a link: give a new place with --history)"
            .into()
    } else {
        format!("cannot be reached ({})", crate::io_message(e))
    }
}

/// `history.json` → `history.json.bad` (and `.lock`, `.spare`).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn name_of(path: &Path) -> String {
    path.file_name().map_or_else(
        || "history.json".into(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Open a file ptest means to read, never waiting: not through a link at its last component,
/// and a FIFO put there opens at once (and is then refused for not being a regular file).
pub(crate) fn open_to_read(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(crate::os::fs::NO_FOLLOW_NO_WAIT)
        .open(path)
}

/// A fresh temp file beside `path` (`.NAME.PID.RANDOM.tmp`, `O_EXCL`, never through a link).
pub(crate) fn new_temp(path: &Path) -> std::io::Result<(PathBuf, File)> {
    let dir = dir_of(path);
    let name = name_of(path);
    let mut attempt = 0;
    loop {
        let tmp = dir.join(format!(
            ".{name}.{}.{:08x}.tmp",
            std::process::id(),
            fastrand::u32(..)
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(crate::os::fs::NO_FOLLOW)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `PID.RANDOM` as ptest writes it in its file names: a pid, then eight hex digits.
fn writer_of(tail: &str) -> Option<u32> {
    let (pid, random) = tail.split_once('.')?;
    let ours = !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && random.len() == 8
        && random.bytes().all(|b| b.is_ascii_hexdigit());
    ours.then(|| pid.parse().ok()).flatten()
}

/// The writer's pid, when `entry` is the name of a temp file made beside `path` by
/// [`new_temp`].
fn temp_writer(path: &Path, entry: &str) -> Option<u32> {
    let tail = entry
        .strip_prefix('.')?
        .strip_prefix(name_of(path).as_str())?
        .strip_prefix('.')?
        .strip_suffix(".tmp")?;
    writer_of(tail)
}

/// Remove the temp files that writers of the history at `path` left when they were killed
/// mid-write (SIGKILL, a crash, the machine stopped): each up to the history's size, and no
/// later write would ever reuse one. Only names in [`new_temp`]'s pattern, only regular files
/// owned by this user (only the name is removed), only when their writer is no longer alive and
/// they have not been touched for a minute. Called under the writers' lock, so that no run is
/// writing one. Returns how many were removed.
pub(crate) fn clean_stale_temps(path: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir_of(path)) else {
        return 0;
    };
    let now = SystemTime::now();
    let me = euid();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| temp_writer(path, n)) else {
            continue;
        };
        let Ok(m) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let old = m
            .modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if m.is_file()
            && m.uid() == me
            && old
            && pid != std::process::id()
            && !process_alive(pid)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// `history.json.pending.PID.RANDOM`: where a run that could not take the writers' lock keeps
/// its records.
fn pending_name(path: &Path) -> String {
    format!(
        "{}.pending.{}.{:08x}",
        name_of(path),
        std::process::id(),
        fastrand::u32(..)
    )
}

fn is_pending(path: &Path, entry: &str) -> bool {
    entry
        .strip_prefix(name_of(path).as_str())
        .and_then(|t| t.strip_prefix(".pending."))
        .and_then(writer_of)
        .is_some()
}

/// Keep `update` beside the history at `path`, in a side file of its own (a whole history in
/// the file format, made under a temp name and renamed into place, so that a reader sees all
/// of it or none), for the next run that writes the history to add. Returns its path.
pub(crate) fn keep_pending(path: &Path, update: &Update) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let mut records = Records::default();
    records.apply(update);
    let (tmp, f) = new_temp(path)?;
    let target = dir_of(path).join(pending_name(path));
    let written = (|| {
        let mut out = std::io::BufWriter::new(f);
        format::write_whole(&mut out, &records)?;
        out.flush()?;
        drop(out);
        // The name holds this process's pid and a random part: nothing else is there.
        std::fs::rename(&tmp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| target)
}

/// The side files beside the history at `path`, read: what they hold, oldest run first.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub files: Vec<PathBuf>,
    pub update: Update,
    /// Side files that could not be read, each set aside as `NAME.bad`.
    pub warnings: Vec<String>,
}

impl Pending {
    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Remove the side files once what they held is in the history (under the writers' lock).
    pub(crate) fn remove(&self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Read the side files kept beside the history at `path` (see [`keep_pending`]): only names
/// in that pattern, regular files of this user with no other name, each at most
/// [`MAX_WHOLE`]. One that cannot be read is renamed `NAME.bad` (out of the pattern), with a
/// warning, when `set_aside` (a writer, under the lock); readers leave it.
pub(crate) fn read_pending(path: &Path, set_aside: bool) -> Pending {
    let mut pending = Pending::default();
    let Ok(entries) = std::fs::read_dir(dir_of(path)) else {
        return pending;
    };
    let mut records = Records::default();
    let me = euid();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| is_pending(path, n)) {
            continue;
        }
        let file = entry.path();
        let read = (|| {
            let f = open_to_read(&file).map_err(|e| crate::io_message(&e))?;
            let m = f.metadata().map_err(|e| crate::io_message(&e))?;
            if !m.is_file() || m.uid() != me || m.nlink() != 1 {
                return Err(String::new());
            }
            let bytes = read_bounded(&f, m.len()).map_err(|e| e.to_string())?;
            format::parse_whole(&bytes)
        })();
        match read {
            Ok(r) => {
                records.join(r);
                pending.files.push(file);
            }
            // Not ptest's own side file (someone else's, a link, a folder): not touched.
            Err(why) if why.is_empty() => {}
            Err(why) if set_aside => {
                let bad = sibling(&file, ".bad");
                if std::fs::rename(&file, &bad).is_ok() {
                    pending.warnings.push(format!(
                        "history {}: {why}; kept as {}",
                        file.display(),
                        bad.display()
                    ));
                }
            }
            Err(_) => {}
        }
    }
    let mut update = records.into_update();
    update.suites.sort_by_key(|(_, r)| r.time);
    update.items.sort_by_key(|(_, r)| r.time);
    pending.update = update;
    pending
}

/// Why a whole read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    /// Larger than [`MAX_WHOLE`]: the file's size in bytes.
    TooBig(u64),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read it ({})", crate::io_message(e)),
            ReadError::TooBig(n) => write!(
                f,
                "too big to be a ptest history ({} MB; ptest reads at most {} MB)",
                n >> 20,
                MAX_WHOLE >> 20
            ),
        }
    }
}

/// All of `f` (of `len` bytes when looked at), at most [`MAX_WHOLE`]: a longer file is not
/// read at all, and one that grows past the bound while read is cut off with an error.
pub(crate) fn read_bounded(mut f: &File, len: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::{Seek, SeekFrom};
    if len > MAX_WHOLE {
        return Err(ReadError::TooBig(len));
    }
    f.seek(SeekFrom::Start(0)).map_err(ReadError::Io)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(1));
    f.take(MAX_WHOLE + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_WHOLE {
        return Err(ReadError::TooBig(bytes.len() as u64));
    }
    Ok(bytes)
}

// The OS calls of this module, each behind one small function.

/// This process's effective user id.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether a process `pid` exists (in this PID namespace): a signal 0 reaches it, or it
/// belongs to someone else (EPERM). Only ESRCH says it is gone.
fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return pid == 0;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}
