//! Reading and writing the history file. A run reads it once, line by line through a small
//! buffer, keeping a summary of the names it declares and where their lines are; at the end it
//! writes a new file made of the old one's bytes (copied by the kernel where it can) with only
//! its own names' lines replaced or added, and swaps it into place (`replace`: through the
//! spare). So neither the time nor the memory a run spends on history grows with the names it
//! does not have.
//!
//! Writers hold an advisory lock (`flock` on `history.json.lock` beside it) while they look at
//! what is there, add their run and swap: two runs ending at once both land. Readers hold a
//! share of it while they read, so that no writer overwrites in place the file they are reading
//! (which a write two writes later would, as the spare); a reader sees the old file or the new
//! one. Readers make no files: with no lock file there is nothing to share, and a reader that
//! cannot take it checks the file's stamp after reading and reads again. A file that cannot be read is moved aside to
//! `history.json.bad` (only by a run, which is about to write a new one) and never lost. A file
//! in another layout (format 1, or edited by hand) is read whole and rewritten in this one.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::FlockOperation;

use super::files::{self, Pending, Place, ReadError, sibling};
use super::format::{self, ITEMS_CLOSE, ITEMS_OPEN, SUITES_CLOSE, SUITES_OPEN};
use super::{Entry, History, Records, Run, Section, Update, Wanted};

/// Device, inode, length, mtime and ctime (with nanoseconds): a write in place changes the
/// mtime, and a swap the ctime, of the file it touches.
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

/// What was found at the history's place, and how to tell later whether it changed.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub history: History,
    /// A warning for the user (a file that could not be read and is ignored).
    pub warning: Option<String>,
    /// The file as read (device, inode, length, mtime), `None` when there was none.
    seen: Option<Stamp>,
    /// The file could not be read and should be moved aside before the next write.
    bad: bool,
    /// Where the lines of the names looked for are, when the file is in this build's layout.
    layout: Option<Layout>,
    wanted: Wanted,
}

/// What changes when a file's content does (a swap that only renames it changes its ctime).
fn content_stamp(m: &std::fs::Metadata) -> (u64, u64, u64, i64, i64) {
    (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec())
}

fn stamp(m: &std::fs::Metadata) -> Stamp {
    (
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// Where things are in a file in the format 2 layout (`format`), by byte offset.
#[derive(Debug, Default)]
struct Layout {
    /// Suites, then items.
    sections: [Body; 2],
}

/// A section's name lines: from `start` to `end` (the line that closes it), and the line of
/// each name looked for, newline included.
#[derive(Debug, Default)]
struct Body {
    start: u64,
    end: u64,
    lines: HashMap<String, (u64, u64)>,
}

enum Scanned {
    Layout(Layout),
    /// Not in this build's layout (an older format, or edited by hand): to be parsed whole.
    Other,
}

enum Failure {
    Io(std::io::Error),
    /// Why the file is not a history this build can use.
    Bad(String),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Io(e)
    }
}

/// The longest line the layout has room for. A name and its 30 runs take a few kilobytes; a
/// longer line means another layout (read whole, when small enough) or no history at all (an
/// 8 GB file without a newline must not be held in memory to find that out).
const MAX_LINE: usize = 1 << 20;

/// The lines of a file, each with its newline, read through one buffer and handed out in
/// place (a big history is neither held whole nor copied line by line).
struct Lines<'a> {
    file: &'a File,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The offset in the file of the next line.
    next_at: u64,
    /// A line longer than `MAX_LINE` was met: it ended the lines (the file is not the layout).
    too_long: bool,
}

impl<'a> Lines<'a> {
    fn new(file: &'a File) -> Lines<'a> {
        Lines {
            file,
            buf: vec![0; 128 * 1024],
            start: 0,
            end: 0,
            next_at: 0,
            too_long: false,
        }
    }

    /// The next line (the last one may lack its newline); empty at the end, and from a line
    /// longer than `MAX_LINE` on (`too_long`).
    fn next(&mut self) -> std::io::Result<&[u8]> {
        self.next_at_offset().map(|(_, line)| line)
    }

    /// The next line and its offset in the file.
    fn next_at_offset(&mut self) -> std::io::Result<(u64, &[u8])> {
        let mut searched = 0;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start + searched..self.end]) {
                let line = self.start..self.start + searched + i + 1;
                return Ok(self.hand_out(line));
            }
            searched = self.end - self.start;
            // Keep the part line at the front, with room for more (a long line grows it).
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = searched;
            if self.end == self.buf.len() {
                if self.buf.len() >= MAX_LINE {
                    self.too_long = true;
                    self.start = 0;
                    self.end = 0;
                    return Ok((self.next_at, &[]));
                }
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = loop {
                match (&mut &*self.file).read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                return Ok(self.hand_out(0..self.end));
            }
            self.end += n;
        }
    }

    fn hand_out(&mut self, line: std::ops::Range<usize>) -> (u64, &[u8]) {
        let at = self.next_at;
        self.next_at += line.len() as u64;
        self.start = line.end;
        (at, &self.buf[line])
    }
}

/// Read `file` line by line as the format 2 layout, handing `found` the value of each name
/// `wanted` holds. Every other line is only checked for its shape.
fn scan(
    file: &File,
    wanted: &Wanted,
    mut found: impl FnMut(Section, &str, &[u8]) -> Result<(), String>,
) -> Result<Scanned, Failure> {
    let mut lines = Lines::new(file);
    if lines.next()? != format::HEADER || lines.next()? != SUITES_OPEN {
        return Ok(Scanned::Other);
    }
    let mut layout = Layout::default();
    for (section, close) in [
        (Section::Suites, SUITES_CLOSE),
        (Section::Items, ITEMS_CLOSE),
    ] {
        let body = &mut layout.sections[section as usize];
        body.start = lines.next_at;
        // The line before ended with a comma: another name must follow.
        let mut open = false;
        loop {
            let (start, line) = lines.next_at_offset()?;
            let end = start + line.len() as u64;
            if line.is_empty() {
                return Ok(Scanned::Other);
            }
            if line == close {
                if open {
                    return Ok(Scanned::Other);
                }
                body.end = start;
                break;
            }
            let Some(l) = line.strip_suffix(b"\n").and_then(format::split_line) else {
                return Ok(Scanned::Other);
            };
            if start != body.start && !open {
                return Ok(Scanned::Other);
            }
            open = l.comma;
            if wanted.holds(section, &l.key) {
                if body.lines.contains_key(l.key.as_ref()) {
                    // Twice: as if edited by hand, read whole (the last one wins).
                    return Ok(Scanned::Other);
                }
                found(section, &l.key, l.value).map_err(Failure::Bad)?;
                body.lines.insert(l.key.into_owned(), (start, end));
            }
        }
        if section == Section::Suites && lines.next()? != ITEMS_OPEN {
            return Ok(Scanned::Other);
        }
    }
    if !lines.next()?.is_empty() || lines.too_long {
        return Ok(Scanned::Other);
    }
    Ok(Scanned::Layout(layout))
}

/// All of `f`, bounded (`files::MAX_WHOLE`): too big is a file that is no history.
fn read_whole(f: &File) -> Result<Vec<u8>, Failure> {
    let len = f.metadata()?.len();
    files::read_bounded(f, len).map_err(|e| match e {
        ReadError::Io(e) => Failure::Io(e),
        too_big @ ReadError::TooBig(_) => Failure::Bad(too_big.to_string()),
    })
}

/// Read what the run needs of the history at `path`: a summary of each name `wanted` holds. A
/// missing file is an empty history; one that cannot be read is an empty history with a
/// warning. A link at `path` is read where it leads (`files::resolve`), and records kept aside
/// by runs that could not take the lock are read with it.
pub(crate) fn load(path: &Path, wanted: Wanted) -> Loaded {
    let place = match files::resolve(path) {
        Ok(place) => place,
        Err(why) => {
            return Loaded {
                warning: Some(format!(
                    "history {}: {why}; this run goes on without history",
                    path.display()
                )),
                bad: true,
                seen: std::fs::symlink_metadata(path).ok().map(|m| stamp(&m)),
                ..Loaded::default()
            };
        }
    };
    // A file read while a writer filled it in place (the spare, see `replace`, which this
    // reader opened as the history before two later writes) is read again: the stamp tells.
    // Under a share of the lock that cannot happen; without one (a lock file this user cannot
    // open) it is the only defence.
    let mut tries = 0;
    loop {
        // Taken again at every try: the lock file may have been made since the last.
        let shared = Lock::share(&place.file);
        let (mut loaded, changed) = load_once(&place, &wanted);
        let pending =
            (!changed && loaded.warning.is_none()).then(|| files::read_pending(&place.file, false));
        drop(shared);
        tries += 1;
        if !changed || tries == 3 {
            if loaded.warning.is_none() {
                // What runs kept aside is newer than the file: it comes after.
                for (section, runs) in pending.iter().flat_map(|p| {
                    [
                        (Section::Suites, &p.update.suites),
                        (Section::Items, &p.update.items),
                    ]
                }) {
                    for (name, run) in runs.iter().filter(|(n, _)| wanted.holds(section, n)) {
                        loaded
                            .history
                            .section(section)
                            .entry(name.clone())
                            .or_default()
                            .push(run.clone());
                    }
                }
                loaded.wanted = wanted;
            }
            return loaded;
        }
    }
}

/// [`load`], once (without `wanted` in what it returns), and whether the file changed while
/// it was read.
fn load_once(place: &Place, wanted: &Wanted) -> (Loaded, bool) {
    let path = &place.file;
    let cannot_read = |e: &std::io::Error| Loaded {
        warning: Some(format!(
            "history {}: cannot read it ({}); this run goes on without history",
            place.shown(),
            crate::io_message(e)
        )),
        ..Loaded::default()
    };
    let file = match files::open_to_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (Loaded::default(), false);
        }
        Err(e) => return (cannot_read(&e), false),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return (cannot_read(&e), false),
    };
    if !meta.is_file() {
        // A FIFO, a device, a socket: never read (a FIFO would block every run), and set aside
        // by the next write like a damaged file.
        let loaded = Loaded {
            warning: Some(format!(
                "history {}: not a regular file; this run goes on without history",
                place.shown()
            )),
            seen: Some(stamp(&meta)),
            bad: true,
            ..Loaded::default()
        };
        return (loaded, false);
    }
    let mut history = History::default();
    let scanned = scan(&file, wanted, |section, key, value| {
        let mut summary = super::Summary::default();
        for r in format::parse_value(value)? {
            summary.push(r);
        }
        history.section(section).insert(key.to_owned(), summary);
        Ok(())
    });
    let read = match scanned {
        Ok(Scanned::Layout(layout)) => Ok((history, Some(layout))),
        Ok(Scanned::Other) => read_whole(&file).and_then(|bytes| {
            format::parse_whole(&bytes)
                .map(|records| (records.summaries(wanted), None))
                .map_err(Failure::Bad)
        }),
        Err(e) => Err(e),
    };
    let changed = file
        .metadata()
        .map_or(true, |m| content_stamp(&m) != content_stamp(&meta));
    let loaded = match read {
        Ok((history, layout)) => Loaded {
            history,
            warning: None,
            seen: Some(stamp(&meta)),
            bad: false,
            layout,
            wanted: Wanted::default(),
        },
        Err(Failure::Io(e)) => cannot_read(&e),
        Err(Failure::Bad(why)) => Loaded {
            warning: Some(format!(
                "history {}: {why}; going on without history",
                place.shown(),
            )),
            seen: Some(stamp(&meta)),
            bad: true,
            ..Loaded::default()
        },
    };
    (loaded, changed)
}

/// Every run of every name at `path` (`ptest stats`, `merge --history`), with the records runs
/// kept aside beside it; a missing file is an empty history. The error says why the file
/// cannot be used. A link is read where it leads.
pub(crate) fn load_records(path: &Path) -> Result<Records, String> {
    let place = files::resolve(path).map_err(|why| format!("history {}: {why}", path.display()))?;
    // As `load`: under a share of the lock, and a file that changed while read is read again.
    let once = || {
        // Taken at every try: the lock file may have been made since the last.
        let _shared = Lock::share(&place.file);
        let read = load_records_once(&place)?;
        Ok::<_, String>(read.map(|mut records| {
            let pending = files::read_pending(&place.file, false);
            if !pending.is_empty() {
                let mut aside = Records::default();
                aside.apply(&pending.update);
                records.join(aside);
            }
            records
        }))
    };
    for _ in 0..2 {
        if let Some(records) = once()? {
            return Ok(records);
        }
    }
    once()?.ok_or_else(|| {
        format!(
            "history {}: it kept changing while read; try again",
            place.shown()
        )
    })
}

/// [`load_records`], once: `None` when the file changed while it was read.
fn load_records_once(place: &Place) -> Result<Option<Records>, String> {
    let cannot = |e: &std::io::Error| {
        format!(
            "history {}: cannot read it ({})",
            place.shown(),
            crate::io_message(e)
        )
    };
    let file = match files::open_to_read(&place.file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Records::default())),
        Err(e) => return Err(cannot(&e)),
    };
    let before = file.metadata().map_err(|e| cannot(&e))?;
    if !before.is_file() {
        return Err(format!("history {}: not a regular file", place.shown()));
    }
    let bytes = match read_whole(&file) {
        Ok(b) => b,
        Err(Failure::Io(e)) => return Err(cannot(&e)),
        Err(Failure::Bad(why)) => return Err(format!("history {}: {why}", place.shown())),
    };
    let parsed = format::parse_whole(&bytes);
    if file
        .metadata()
        .map_or(true, |m| content_stamp(&m) != content_stamp(&before))
    {
        return Ok(None);
    }
    parsed
        .map(Some)
        .map_err(|why| format!("history {}: {why}", place.shown()))
}

/// How long a reader waits for a writer to finish before it reads without its share (a write
/// takes milliseconds; the unit tests wait less).
const READER_PATIENCE: std::time::Duration = if cfg!(test) {
    std::time::Duration::from_millis(200)
} else {
    std::time::Duration::from_secs(2)
};

/// How long a run's write waits for the writers' lock before it keeps its records aside
/// (`files::keep_pending`). Other writers hold it for milliseconds and readers for the time
/// of one read (`ptest stats` on a 14 MB history: under half a second); past this, the holder
/// is stopped (Ctrl-Z, a debugger) or hostile, and waiting longer would only hang the run.
pub(crate) const WRITER_PATIENCE: std::time::Duration = if cfg!(test) {
    std::time::Duration::from_millis(300)
} else {
    std::time::Duration::from_secs(5)
};

/// Why a writer did not get the lock.
enum NoLock {
    /// Another process held it past `WRITER_PATIENCE`.
    Busy,
    /// A stop signal arrived while waiting.
    Stopped,
    Io(std::io::Error),
}

/// An exclusive advisory lock, released when dropped (with the descriptor it is held on).
struct Lock {
    _file: File,
}

impl Lock {
    /// The writers' lock, made when missing; waited for at most `WRITER_PATIENCE`, and not
    /// at all once `stop` says a stop signal arrived (checked every few milliseconds: the
    /// wait never blocks in the kernel, so nothing makes the run deaf while it lasts).
    fn take(path: &Path, stop: &dyn Fn() -> bool) -> Result<Lock, NoLock> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            // Never through a link; a FIFO put there opens at once and is refused below.
            .custom_flags(crate::os::fs::NO_FOLLOW_NO_WAIT)
            .open(sibling(path, ".lock"))
            .map_err(NoLock::Io)?;
        if !f.metadata().map_err(NoLock::Io)?.is_file() {
            return Err(NoLock::Io(std::io::Error::other(format!(
                "{} is not a regular file",
                sibling(path, ".lock").display()
            ))));
        }
        let deadline = std::time::Instant::now() + WRITER_PATIENCE;
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            if Lock::hold_now(&f, FlockOperation::NonBlockingLockExclusive).map_err(NoLock::Io)? {
                return Ok(Lock { _file: f });
            }
            if stop() {
                return Err(NoLock::Stopped);
            }
            if std::time::Instant::now() >= deadline {
                return Err(NoLock::Busy);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        }
    }

    /// A reader's share of the lock, so that no writer overwrites the file it reads (the spare
    /// it may become, see `replace`) until it is done. `None` when there is no lock file (no
    /// writer has been here, so there is no spare either) or it cannot be opened: a reader
    /// never makes files, and reads without it, checking the file's stamp instead.
    fn share(path: &Path) -> Option<Lock> {
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(crate::os::fs::NO_FOLLOW_NO_WAIT)
            .open(sibling(path, ".lock"))
            .ok()?;
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            return None;
        }
        // A writer holds the lock for the milliseconds of its write; one that holds it for
        // longer (stopped with Ctrl-Z mid-write, say) must not hang every run's start: after
        // READER_PATIENCE the reader goes on without the share, and the stamp check covers it.
        let deadline = std::time::Instant::now() + READER_PATIENCE;
        loop {
            match Lock::hold_now(&f, FlockOperation::NonBlockingLockShared) {
                Ok(true) => return Some(Lock { _file: f }),
                Ok(false) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                _ => return None,
            }
        }
    }

    /// `flock(how)` with a non-blocking `how`: whether it was taken.
    fn hold_now(f: &File, how: FlockOperation) -> std::io::Result<bool> {
        loop {
            match rustix::fs::flock(f, how) {
                Ok(()) => return Ok(true),
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(false),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Add `update` to the history at `path`: under the lock, look at what is there now (another
/// run may have written since `loaded` was read), write a new file with `update`'s names'
/// lines replaced or added and the others copied, and swap it into place. Returns warnings
/// (a file set aside, records kept aside) on success.
///
/// A link at `path` is followed to the history it leads to, which is replaced beside it (the
/// link stays). A link that leads nowhere, or to a file that is no history, is set aside as
/// `path.bad` (the link itself: what it leads to is never written) and a fresh history made
/// at `path`. When the lock cannot be had in time, or `stop` says a stop signal arrived while
/// waiting for it, the records are kept in a side file for the next write to add.
pub(crate) fn write(
    path: &Path,
    loaded: Loaded,
    update: &Update,
    stop: &dyn Fn() -> bool,
) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    let mut loaded = loaded;
    // A link that turns out unusable is set aside and the write starts again at its place;
    // a place that changes under the write (a race with another program) is looked at again.
    for _ in 0..4 {
        let place = match files::resolve(path) {
            Ok(place) => place,
            Err(why) => {
                set_aside_link(path, &why, loaded.bad, &mut warnings)?;
                loaded = Loaded::default();
                continue;
            }
        };
        match write_at(&place, &loaded, update, stop, &mut warnings)? {
            Written::Done => return Ok(warnings),
            Written::NotAHistory(why) => {
                set_aside_link(path, &why, loaded.bad, &mut warnings)?;
                loaded = Loaded::default();
            }
            Written::Changed => loaded = Loaded::default(),
        }
    }
    Err(format!(
        "cannot write history {}: it kept being replaced while written",
        path.display()
    ))
}

/// How a write at one place ended.
enum Written {
    Done,
    /// The place is a link to a file that is no history (why): set the link aside.
    NotAHistory(String),
    /// What is at the place changed since it was resolved: look again.
    Changed,
}

/// The link at `path` (one ptest does not follow, `why`) → `path.bad`, with warnings: the file
/// it leads to is left as it is.
fn set_aside_link(
    path: &Path,
    why: &str,
    warned: bool,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        // Replaced since: the next look decides.
        return Ok(());
    }
    set_aside(path).map_err(|e| {
        format!(
            "cannot write history {}: {why}, and cannot move it aside: {}",
            path.display(),
            crate::io_message(&e)
        )
    })?;
    if !warned {
        warnings.push(format!(
            "history {}: {why}; going on without history",
            path.display()
        ));
    }
    warnings.push(format!(
        "history {}: the link is kept as {} (what it leads to is left as it is); a new history is made in its place",
        path.display(),
        sibling(path, ".bad").display()
    ));
    Ok(())
}

/// [`write`] at a resolved place: take the lock (or keep the records aside), clean up after
/// writers that died, add the side files' records and this run's.
fn write_at(
    place: &Place,
    loaded: &Loaded,
    update: &Update,
    stop: &dyn Fn() -> bool,
    warnings: &mut Vec<String>,
) -> Result<Written, String> {
    let path = &place.file;
    if place.link {
        // Nothing is made beside what a link leads to (not even the lock) before it is known
        // to be a history: a link to any other file is set aside instead.
        if let Err(why) = history_at(path) {
            return Ok(Written::NotAHistory(why));
        }
    } else {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "cannot write history {}: cannot make its folder: {}",
                place.shown(),
                crate::io_message(&e)
            )
        })?;
    }
    let lock = match Lock::take(path, stop) {
        Ok(lock) => lock,
        Err(no) => {
            let why = match no {
                NoLock::Busy => format!(
                    "another process has held its lock ({}) for {}",
                    sibling(path, ".lock").display(),
                    crate::duration::human(WRITER_PATIENCE)
                ),
                NoLock::Stopped => {
                    "ptest was asked to stop while it waited for the history's lock".into()
                }
                NoLock::Io(e) => format!("cannot lock it ({})", crate::io_message(&e)),
            };
            let kept = files::keep_pending(path, update).map_err(|e| {
                format!(
                    "cannot write history {}: {why}, and cannot keep this run's records beside it: {}",
                    place.shown(),
                    crate::io_message(&e)
                )
            })?;
            warnings.push(format!(
                "history {}: {why}; this run's records are kept in {}, and the next run that writes the history adds them",
                place.shown(),
                kept.display()
            ));
            return Ok(Written::Done);
        }
    };
    files::clean_stale_temps(path);
    let pending = files::read_pending(path, true);
    warnings.extend(pending.warnings.iter().cloned());
    let written = write_locked(place, loaded, &pending, update, &lock, warnings);
    if matches!(written, Ok(Written::Done)) {
        pending.remove();
    }
    written
}

/// Where `merge --history -o OUTPUT` writes: `output` itself when it is missing or a regular
/// file (replaced, never written in place), the history a link there leads to; `Err` says
/// why nothing may be written (a link to anything else than a history, a FIFO, a device).
pub(crate) fn merge_target(output: &Path) -> Result<std::path::PathBuf, String> {
    let place = files::resolve(output)?;
    if place.link {
        history_at(&place.file)?;
        return Ok(place.file);
    }
    match std::fs::symlink_metadata(output) {
        Ok(m) if !m.is_file() => Err("not a regular file".into()),
        _ => Ok(place.file),
    }
}

/// Whether `path` holds a ptest history (in this layout, by its first line; else read whole).
/// `Err` says what it is instead.
fn history_at(path: &Path) -> Result<(), String> {
    let unusable = |why: String| {
        format!(
            "it is a link to {}, which ptest cannot use: {why}",
            path.display()
        )
    };
    let file = files::open_to_read(path)
        .map_err(|e| unusable(format!("cannot read it ({})", crate::io_message(&e))))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(unusable("not a regular file".into()));
    }
    if Lines::new(&file).next().is_ok_and(|l| l == format::HEADER) {
        return Ok(());
    }
    match read_whole(&file) {
        Ok(bytes) => format::parse_whole(&bytes).map(drop),
        Err(Failure::Bad(why)) => Err(why),
        Err(Failure::Io(e)) => Err(format!("cannot read it ({})", crate::io_message(&e))),
    }
    .map_err(unusable)
}

/// [`write_at`] under the lock.
fn write_locked(
    place: &Place,
    loaded: &Loaded,
    pending: &Pending,
    update: &Update,
    lock: &Lock,
    warnings: &mut Vec<String>,
) -> Result<Written, String> {
    let path = &place.file;
    let fail = |what: &str, e: &std::io::Error| {
        format!(
            "cannot write history {}: {what}: {}",
            place.shown(),
            crate::io_message(e)
        )
    };
    let written = |r: std::io::Result<()>| r.map_err(|e| fail("cannot write it", &e));
    let fresh = || {
        let mut records = Records::default();
        records.apply_once(&pending.update);
        records.apply(update);
        written(write_records_locked(path, &records, lock)).map(|()| Written::Done)
    };
    let m = match std::fs::symlink_metadata(path) {
        Err(_) if place.link => return Ok(Written::Changed),
        Err(_) => return fresh(),
        Ok(m) => m,
    };
    if !m.is_file() {
        if place.link {
            return Ok(Written::Changed);
        }
        // A FIFO, a socket, a device where the history goes: never opened for reading (a FIFO
        // would block), set aside like a damaged file.
        set_aside(path).map_err(|e| fail("cannot move it aside", &e))?;
        if !loaded.bad {
            warnings.push(format!(
                "history {}: not a regular file; going on without history",
                place.shown()
            ));
        }
        warnings.push(format!(
            "history {}: what was there is kept as {}",
            place.shown(),
            sibling(path, ".bad").display()
        ));
        return fresh();
    }
    let now = Some(stamp(&m));
    let file = files::open_to_read(path).map_err(|e| fail("cannot read it", &e))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Ok(Written::Changed);
    }
    // Unchanged since it was read at the start: where its lines are is known.
    let known = (now == loaded.seen
        && !loaded.bad
        && loaded.wanted.covers(update)
        && loaded.wanted.covers(&pending.update))
    .then_some(loaded.layout.as_ref())
    .flatten();
    if let Some(layout) = known {
        return written(replace(path, Spare::Use, |out| {
            edit(&file, layout, &pending.update, update, out)
        }))
        .map(|()| Written::Done);
    }
    let scanned = if loaded.bad && now == loaded.seen {
        Err(Failure::Bad(String::new()))
    } else {
        scan(
            &file,
            &Wanted::of(&[update, &pending.update]),
            |_, _, value| format::parse_value(value).map(drop),
        )
    };
    let parsed = match scanned {
        Ok(Scanned::Layout(layout)) => {
            return written(replace(path, Spare::Use, |out| {
                edit(&file, &layout, &pending.update, update, out)
            }))
            .map(|()| Written::Done);
        }
        Ok(Scanned::Other) => {
            read_whole(&file).and_then(|b| format::parse_whole(&b).map_err(Failure::Bad))
        }
        Err(e) => Err(e),
    };
    match parsed {
        Ok(mut records) => {
            records.apply_once(&pending.update);
            records.apply(update);
            written(write_records_locked(path, &records, lock))?;
            Ok(Written::Done)
        }
        Err(Failure::Io(e)) => Err(fail("cannot read it", &e)),
        Err(Failure::Bad(why)) => {
            if place.link {
                // Never replaced: the link is set aside instead.
                let why = format!(
                    "it is a link to {}, which ptest cannot use: {}",
                    path.display(),
                    if why.is_empty() {
                        "not a ptest history"
                    } else {
                        &why
                    }
                );
                return Ok(Written::NotAHistory(why));
            }
            set_aside(path).map_err(|e| fail("cannot move it aside", &e))?;
            // A file that was already bad at the start was warned about then.
            if !loaded.bad {
                warnings.push(format!(
                    "history {}: {why}; going on without history",
                    place.shown()
                ));
            }
            warnings.push(format!(
                "history {}: the file that could not be read is kept as {}",
                place.shown(),
                sibling(path, ".bad").display()
            ));
            fresh()
        }
    }
}

/// The old file's bytes with the side files' runs (`pending`, each added once) and `update`'s
/// replacing or adding their names' lines, into `out`.
fn edit(
    src: &File,
    layout: &Layout,
    pending: &Update,
    update: &Update,
    out: &mut File,
) -> std::io::Result<()> {
    let mut w = Copier {
        src,
        out: BufWriter::with_capacity(64 * 1024, out),
    };
    w.bytes(format::HEADER)?;
    w.bytes(SUITES_OPEN)?;
    edit_section(
        &mut w,
        &layout.sections[0],
        &pending.suites,
        update,
        &update.suites,
    )?;
    w.bytes(SUITES_CLOSE)?;
    w.bytes(ITEMS_OPEN)?;
    edit_section(
        &mut w,
        &layout.sections[1],
        &pending.items,
        update,
        &update.items,
    )?;
    w.bytes(ITEMS_CLOSE)?;
    w.out.flush()
}

fn edit_section(
    w: &mut Copier<'_>,
    body: &Body,
    pending: &[(String, Run)],
    update: &Update,
    runs: &[(String, Run)],
) -> std::io::Result<()> {
    // Each name once, in the order the records have them.
    let mut names: Vec<&str> = Vec::new();
    let mut entries: HashMap<&str, Entry> = HashMap::new();
    let tagged = pending
        .iter()
        .map(|r| (r, true))
        .chain(runs.iter().map(|r| (r, update.once)));
    for ((name, run), once) in tagged {
        let entry = match entries.entry(name.as_str()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                names.push(name);
                let mut old = Entry::default();
                if let Some(&(start, end)) = body.lines.get(name.as_str()) {
                    old.runs = read_line(w.src, start, end)?;
                }
                v.insert(old)
            }
        };
        if once {
            entry.push_once(run);
        } else {
            entry.push(run.clone());
        }
    }
    let mut replaced: Vec<(u64, u64, Vec<u8>)> = Vec::new();
    let mut added: Vec<Vec<u8>> = Vec::new();
    for name in names {
        let mut text = Vec::with_capacity(2048);
        format::push_entry(&mut text, name, &entries[name].runs);
        match body.lines.get(name) {
            Some(&(start, end)) => replaced.push((start, end, text)),
            None => added.push(text),
        }
    }
    replaced.sort_unstable_by_key(|r| r.0);
    // New names go last; the line that was last then needs a comma.
    let appending = !added.is_empty();
    let mut at = body.start;
    for (start, end, text) in &replaced {
        w.copy(at, *start)?;
        w.bytes(text)?;
        w.bytes(if *end < body.end || appending {
            b",\n"
        } else {
            b"\n"
        })?;
        at = *end;
    }
    if at < body.end {
        if appending {
            // The last line has no comma: its last byte is its newline.
            w.copy(at, body.end - 1)?;
            w.bytes(b",\n")?;
        } else {
            w.copy(at, body.end)?;
        }
    }
    for (i, text) in added.iter().enumerate() {
        w.bytes(text)?;
        w.bytes(if i + 1 < added.len() { b",\n" } else { b"\n" })?;
    }
    Ok(())
}

/// The runs on the line at `start..end` of `src`.
fn read_line(src: &File, start: u64, end: u64) -> std::io::Result<Vec<Run>> {
    let mut bytes = vec![0; (end - start) as usize];
    src.read_exact_at(&mut bytes, start)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "it changed while read");
    let line = bytes
        .strip_suffix(b"\n")
        .and_then(format::split_line)
        .ok_or_else(bad)?;
    format::parse_value(line.value).map_err(|_| bad())
}

/// Writes new bytes through a buffer and copies ranges of the old file (in the kernel, with
/// `copy_file_range`, where the system has it: `std::io::copy` picks it).
struct Copier<'a> {
    src: &'a File,
    out: BufWriter<&'a mut File>,
}

impl Copier<'_> {
    fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.out.write_all(b)
    }

    fn copy(&mut self, from: u64, to: u64) -> std::io::Result<()> {
        if to <= from {
            return Ok(());
        }
        self.out.flush()?;
        let mut src = self.src;
        src.seek(SeekFrom::Start(from))?;
        let n = std::io::copy(&mut src.take(to - from), self.out.get_mut())?;
        if n != to - from {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "it was cut short while copied",
            ));
        }
        Ok(())
    }
}

/// `history.json` → `history.json.bad`, replacing an older `.bad`.
fn set_aside(path: &Path) -> std::io::Result<()> {
    std::fs::rename(path, sibling(path, ".bad"))
}

/// A whole history, written into a fresh file that replaces `path` (`merge --history -o`).
pub(crate) fn write_records(path: &Path, records: &Records) -> std::io::Result<()> {
    replace(path, Spare::No, |f| fill_records(f, records))
}

/// [`write_records`] by a run, which holds the lock (a file migrated from another layout, the
/// first run): through the spare.
fn write_records_locked(path: &Path, records: &Records, _lock: &Lock) -> std::io::Result<()> {
    replace(path, Spare::Use, |f| fill_records(f, records))
}

fn fill_records(f: &mut File, records: &Records) -> std::io::Result<()> {
    // Streamed: a big history is never held twice (parsed and as text) at once.
    let mut out = BufWriter::with_capacity(256 * 1024, f);
    format::write_whole(&mut out, records)?;
    out.flush()
}

/// Whether a write may go through the spare: only under the lock, which keeps writers of it
/// one at a time.
#[derive(Clone, Copy, PartialEq)]
enum Spare {
    Use,
    No,
}

/// The spare beside `path` (`history.json.spare`), open for writing, when it is a file this
/// user made and nothing else names; `Err(true)` when there is none, `Err(false)` when
/// something else is there (left alone).
fn open_spare(spare: &Path) -> Result<File, bool> {
    let f = OpenOptions::new()
        .write(true)
        // Never through a link, and a FIFO put there fails at once instead of waiting.
        .custom_flags(crate::os::fs::NO_FOLLOW_NO_WAIT)
        .open(spare)
        .map_err(|e| e.kind() == std::io::ErrorKind::NotFound)?;
    let m = f.metadata().map_err(|_| false)?;
    if m.is_file() && m.nlink() == 1 && m.uid() == files::euid() {
        Ok(f)
    } else {
        Err(false)
    }
}

/// Fill a file with `fill` and put it at `path` in one step, so that a reader sees the old
/// file or the new one.
///
/// A run's write goes through a spare (`Spare::Use`): the file the previous write replaced,
/// kept as `history.json.spare`, is overwritten in place and swapped with `path`
/// (`RENAME_EXCHANGE`), and the replaced file becomes the spare. Writing a fresh file and
/// renaming it over the old one made the file system allocate the new file's blocks and free
/// the old one's on every run: 20 ms of a run's end for a 13 MB history on ext4, most of it
/// waiting for the journal. Overwriting blocks that exist does neither. Where there is no
/// swap, or no spare yet, a fresh temp file beside `path` (`O_EXCL`) is renamed over it.
fn replace(
    path: &Path,
    spare: Spare,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let spare_path = sibling(path, ".spare");
    let spare_file = match spare {
        Spare::Use => open_spare(&spare_path),
        Spare::No => Err(false),
    };
    let spare_missing = spare == Spare::Use && matches!(spare_file, Err(true));
    if let Ok(mut f) = spare_file {
        fill(&mut f)?;
        let end = f.stream_position()?;
        f.set_len(end)?;
        drop(f);
        return swap_in(&spare_path, path);
    }
    let (tmp, mut f) = files::new_temp(path)?;
    let result = fill(&mut f).and_then(|()| {
        drop(f);
        if !spare_missing {
            return std::fs::rename(&tmp, path);
        }
        swap_in(&tmp, path)?;
        // The temp name holds the replaced file now (when there was one): it becomes the
        // spare, unless something took that name meanwhile (a link never replaces); if not,
        // its name is removed below and it is freed, as a rename over it would have.
        if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.is_file()) {
            let _ = std::fs::hard_link(&tmp, &spare_path);
        }
        Ok(())
    });
    if tmp.exists() || result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Put `new` at `path`: swap the two where the system can (`new` then names what was at
/// `path`, swapped back if that was not a regular file), else rename.
fn swap_in(new: &Path, path: &Path) -> std::io::Result<()> {
    if !crate::os::exchange(new, path)? {
        return std::fs::rename(new, path);
    }
    if std::fs::symlink_metadata(new).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    // A folder or a link was put at `path` since it was looked at: give it its place back.
    crate::os::exchange(new, path)?;
    Err(std::io::Error::other(
        "it was replaced by something else than a file while written",
    ))
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
            once: false,
        }
    }

    fn wanted(names: &[&str]) -> Wanted {
        Wanted::new(names.iter().map(|n| (*n, *n == "unit")))
    }

    /// A run's write that no stop signal interrupts.
    fn write(path: &Path, loaded: Loaded, update: &Update) -> Result<Vec<String>, String> {
        super::write(path, loaded, update, &|| false)
    }

    fn take(path: &Path) -> Lock {
        Lock::take(path, &|| false).ok().expect("the lock is free")
    }

    fn all(path: &Path) -> Records {
        load_records(path).unwrap()
    }

    #[test]
    fn lines_longer_than_the_buffer_come_whole_with_their_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines");
        let long = "x".repeat(300 * 1024);
        std::fs::write(&path, format!("a\n{long}\n\nb")).unwrap();
        let f = File::open(&path).unwrap();
        let mut lines = Lines::new(&f);
        let mut got = Vec::new();
        loop {
            let (at, line) = lines.next_at_offset().unwrap();
            if line.is_empty() {
                break;
            }
            got.push((at, line.len()));
        }
        let n = long.len() + 1;
        assert_eq!(got, [(0, 2), (2, n), (2 + n as u64, 1), (3 + n as u64, 1)]);
    }

    #[test]
    fn written_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ptest/history.json");
        let w = || wanted(&["a", "unit"]);
        write(&path, load(&path, w()), &update("a", Status::Passed, 1.5)).unwrap();
        write(&path, load(&path, w()), &update("a", Status::Failed, 2.5)).unwrap();
        let h = load(&path, w());
        assert!(h.warning.is_none(), "{:?}", h.warning);
        assert!(h.layout.is_some());
        assert_eq!(h.history.expected("a"), Some(1.5));
        assert_eq!(h.history.expected_item("unit", "tests/a.py"), Some(1.5));
        assert_eq!(h.history.failed_last(), ["a"]);
        assert_eq!(h.history.failed_items_last(), ["unit/tests/a.py"]);
        let r = all(&path);
        assert_eq!(r.suites["a"].runs.len(), 2);
        assert_eq!(r.items["unit/tests/a.py"].runs.len(), 2);
        // Names the run does not declare are not read.
        assert!(load(&path, wanted(&["b"])).history.suites.is_empty());
    }

    #[test]
    fn a_record_added_once_adds_nothing_the_second_time_whatever_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let w = || wanted(&["a", "b", "unit"]);
        let once = |name: &str, d: f64| Update {
            once: true,
            ..update(name, Status::Passed, d)
        };
        write(&path, load(&path, w()), &update("a", Status::Passed, 1.5)).unwrap();
        // Through the lines the load found, then read whole (a file in another layout).
        write(&path, load(&path, w()), &once("b", 2.0)).unwrap();
        write(&path, Loaded::default(), &once("b", 2.0)).unwrap();
        let r = all(&path);
        assert_eq!(r.suites["b"].runs.len(), 1);
        assert_eq!(r.items["unit/tests/a.py"].runs.len(), 2);
        let mut pretty = Vec::new();
        format::write_whole(&mut pretty, &r).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&pretty).unwrap();
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        write(&path, load(&path, w()), &once("b", 2.0)).unwrap();
        assert_eq!(all(&path), r);
        // Another figure is another run.
        write(&path, load(&path, w()), &once("b", 3.0)).unwrap();
        assert_eq!(all(&path).suites["b"].runs.len(), 2);
    }

    /// A file of many names, each with a run.
    fn many(path: &Path, n: usize) -> Records {
        let mut r = Records::default();
        for i in 0..n {
            r.suites.entry(format!("s{i:03}")).or_default().push(record(
                Status::Passed,
                i as u64,
                i as f64,
                1,
                Some(i as u64),
                None,
            ));
        }
        r.items.entry("unit/x".into()).or_default().push(record(
            Status::Failed,
            1,
            1.0,
            1,
            None,
            None,
        ));
        write_records(path, &r).unwrap();
        r
    }

    #[test]
    fn a_run_rewrites_its_own_lines_and_copies_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let mut expect = many(&path, 50);
        let before = std::fs::read(&path).unwrap();
        // The first, a middle and the last line replaced, one new name and a new item.
        let mut u = Update::default();
        for name in ["s049", "s000", "s020", "new", "s020"] {
            u.suites
                .push((name.into(), record(Status::Failed, 99, 2.0, 1, None, None)));
        }
        u.items.push((
            "unit/y".into(),
            record(Status::Passed, 99, 2.0, 1, None, None),
        ));
        let loaded = load(&path, wanted(&["s000", "s020", "s049", "new", "unit"]));
        assert_eq!(loaded.history.suites.len(), 3);
        assert_eq!(loaded.history.peak_rss_kb("s049"), Some(49));
        write(&path, loaded, &u).unwrap();
        let after = std::fs::read(&path).unwrap();
        expect.apply(&u);
        assert_eq!(all(&path), expect);
        assert_eq!(expect.suites["s020"].runs.len(), 3);
        // Untouched lines are the old bytes.
        let line = |b: &[u8], name: &str| {
            let text = String::from_utf8(b.to_vec()).unwrap();
            text.lines()
                .find(|l| l.starts_with(&format!("\"{name}\"")))
                .unwrap()
                .to_owned()
        };
        assert_eq!(line(&before, "s001"), line(&after, "s001"));
        assert_eq!(line(&before, "s048"), line(&after, "s048"));
        // Still the layout: the next run reads it line by line.
        assert!(load(&path, wanted(&["new"])).layout.is_some());
        assert_eq!(load(&path, wanted(&["new"])).history.failed_last(), ["new"]);
    }

    #[test]
    fn an_empty_file_grows_and_nothing_new_keeps_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        write_records(&path, &Records::default()).unwrap();
        assert!(load(&path, wanted(&[])).layout.is_some());
        write(
            &path,
            load(&path, wanted(&["a"])),
            &update("a", Status::Passed, 1.0),
        )
        .unwrap();
        write(
            &path,
            load(&path, wanted(&["b"])),
            &Update {
                suites: vec![("b".into(), record(Status::Passed, 1, 1.0, 1, None, None))],
                items: Vec::new(),
                once: false,
            },
        )
        .unwrap();
        let r = all(&path);
        assert_eq!(r.suites.len(), 2);
        assert_eq!(r.items.len(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "{text}"
        );
    }

    #[test]
    fn a_write_rereads_what_another_run_wrote_since() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        many(&path, 3);
        let first = load(&path, wanted(&["a"]));
        let second = load(&path, wanted(&["b", "s001"]));
        write(&path, first, &update("a", Status::Passed, 1.0)).unwrap();
        let mut u = update("b", Status::Passed, 1.0);
        u.suites
            .push(("s001".into(), record(Status::Failed, 5, 1.0, 1, None, None)));
        write(&path, second, &u).unwrap();
        let h = all(&path);
        assert!(h.suites.contains_key("a") && h.suites.contains_key("b"));
        assert_eq!(h.suites["s001"].runs.len(), 2);
        assert_eq!(h.items["unit/tests/a.py"].runs.len(), 2);
    }

    #[test]
    fn format_1_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        std::fs::write(
            &path,
            r#"{"format_version":1,"suites":{
"a":{"runs":[{"time":1,"status":"passed","duration":3.0,"attempts":1}]},
"other":{"runs":[{"time":1,"status":"failed","duration":1.0,"attempts":1}]}},
"items":{}}"#,
        )
        .unwrap();
        let l = load(&path, wanted(&["a"]));
        assert!(l.warning.is_none(), "{:?}", l.warning);
        assert_eq!(l.history.expected("a"), Some(3.0));
        write(&path, l, &update("a", Status::Passed, 1.0)).unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(format::HEADER));
        let r = all(&path);
        assert_eq!(r.suites["a"].runs.len(), 2);
        assert_eq!(r.suites["other"].runs.len(), 1);
        assert!(load(&path, wanted(&["a"])).layout.is_some());
    }

    #[test]
    fn a_corrupt_or_newer_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        std::fs::write(&path, "{ not json").unwrap();
        let l = load(&path, wanted(&["a"]));
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
        assert!(all(&path).suites.contains_key("a"));

        std::fs::write(&path, r#"{"format_version": 7, "suites": 3}"#).unwrap();
        let l = load(&path, wanted(&["a"]));
        assert!(l.warning.as_deref().unwrap().contains("format_version 7"));

        // A file in the layout whose own line is broken, or cut short.
        let text = {
            many(&path, 3);
            std::fs::read_to_string(&path).unwrap()
        };
        std::fs::write(&path, text.replace("[[1,\"passed\"", "[[1,\"pased\"")).unwrap();
        let l = load(&path, wanted(&["s001"]));
        assert!(
            l.warning
                .as_deref()
                .unwrap()
                .contains("not a ptest history")
        );
        std::fs::write(&path, &text[..text.len() - 10]).unwrap();
        let l = load(&path, wanted(&["s001"]));
        assert!(l.warning.is_some());
        write(&path, l, &update("a", Status::Passed, 1.0)).unwrap();
        assert_eq!(all(&path).suites.len(), 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("h.json.bad")).unwrap(),
            &text[..text.len() - 10]
        );
    }

    fn ino(path: &Path) -> u64 {
        std::fs::symlink_metadata(path).unwrap().ino()
    }

    #[test]
    fn runs_take_turns_with_the_spare_and_keep_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let spare = dir.path().join("h.json.spare");
        let w = || wanted(&["a", "unit"]);
        many(&path, 50);
        assert!(!spare.exists(), "a first write leaves no spare");
        let first = ino(&path);
        write(&path, load(&path, w()), &update("a", Status::Passed, 1.0)).unwrap();
        // The file the write replaced is the spare now.
        assert_eq!(ino(&spare), first);
        let second = ino(&path);
        assert_ne!(second, first);
        write(&path, load(&path, w()), &update("a", Status::Failed, 2.0)).unwrap();
        // Overwritten in place and swapped back: the same two files, no new one.
        assert_eq!((ino(&path), ino(&spare)), (first, second));
        let r = all(&path);
        assert_eq!(r.suites.len(), 51);
        assert_eq!(r.suites["a"].runs.len(), 2);
        assert_eq!(r.suites["s049"].runs[0].duration, Some(49.0));
        assert_eq!(r.items["unit/tests/a.py"].runs.len(), 2);
        // Nothing else left beside it.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["h.json", "h.json.lock", "h.json.spare"]);
    }

    #[test]
    fn a_spare_longer_than_the_history_is_cut_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let spare = dir.path().join("h.json.spare");
        many(&path, 3);
        std::fs::write(&spare, "x".repeat(100_000)).unwrap();
        write(
            &path,
            load(&path, wanted(&["a"])),
            &update("a", Status::Passed, 1.0),
        )
        .unwrap();
        let r = all(&path);
        assert_eq!(r.suites.len(), 4);
        assert!(std::fs::metadata(&path).unwrap().len() < 1000);
    }

    #[test]
    fn a_spare_that_is_a_link_or_has_other_names_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let spare = dir.path().join("h.json.spare");
        let target = dir.path().join("precious");
        std::fs::write(&target, "mine").unwrap();
        many(&path, 3);
        std::os::unix::fs::symlink(&target, &spare).unwrap();
        write(
            &path,
            load(&path, wanted(&["a"])),
            &update("a", Status::Passed, 1.0),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine");
        assert!(std::fs::symlink_metadata(&spare).unwrap().is_symlink());
        assert_eq!(all(&path).suites.len(), 4);

        std::fs::remove_file(&spare).unwrap();
        std::fs::hard_link(&target, &spare).unwrap();
        write(
            &path,
            load(&path, wanted(&["a"])),
            &update("a", Status::Passed, 2.0),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine");
        assert_eq!(ino(&spare), ino(&target));
        assert_eq!(all(&path).suites["a"].runs.len(), 2);
    }

    #[test]
    fn a_merge_output_gets_no_spare() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("merged.json");
        many(&path, 3);
        many(&path, 4);
        assert!(!dir.path().join("merged.json.spare").exists());
        assert_eq!(all(&path).suites.len(), 4);
    }

    #[test]
    fn a_readers_share_of_the_lock_keeps_writers_out_and_makes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        many(&path, 3);
        assert!(
            Lock::share(&path).is_none(),
            "no lock file: nothing to share"
        );
        assert!(
            !dir.path().join("h.json.lock").exists(),
            "a reader makes no file"
        );
        drop(take(&path));
        let shared = Lock::share(&path).expect("the lock file is there now");
        let other = File::open(dir.path().join("h.json.lock")).unwrap();
        let exclusive = FlockOperation::NonBlockingLockExclusive;
        assert!(
            rustix::fs::flock(&other, exclusive).is_err(),
            "a writer must wait while a reader reads"
        );
        drop(shared);
        assert!(rustix::fs::flock(&other, exclusive).is_ok());
    }

    #[test]
    fn a_writer_that_holds_the_lock_too_long_does_not_hang_readers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        many(&path, 3);
        let held = take(&path);
        let t = std::time::Instant::now();
        assert!(Lock::share(&path).is_none());
        let waited = t.elapsed();
        assert!(waited >= READER_PATIENCE, "{waited:?}");
        // And the history is read all the same.
        assert_eq!(load_records(&path).unwrap().suites.len(), 3);
        drop(held);
        assert!(Lock::share(&path).is_some());
    }

    #[test]
    fn whole_reads_while_runs_write_always_see_a_whole_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        many(&path, 2000);
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let l = load(&path, wanted(&["a", "unit"]));
                    write(&path, l, &update("a", Status::Passed, f64::from(i))).unwrap();
                }
            })
        };
        let mut reads = 0;
        while !writer.is_finished() || reads < 5 {
            let r = load_records(&path).expect("a whole history every time");
            assert_eq!(
                r.suites.len() - usize::from(r.suites.contains_key("a")),
                2000
            );
            reads += 1;
        }
        writer.join().unwrap();
        assert_eq!(all(&path).suites["a"].runs.len(), 20);
    }

    #[test]
    fn a_fifo_at_the_history_is_never_opened_for_reading_and_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let l = load(&path, wanted(&["a"]));
        assert!(l.warning.as_deref().unwrap().contains("not a regular file"));
        assert!(
            load_records(&path)
                .unwrap_err()
                .contains("not a regular file")
        );
        let warnings = write(&path, l, &update("a", Status::Passed, 1.0)).unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("h.json.bad")),
            "{warnings:?}"
        );
        let bad = std::fs::symlink_metadata(dir.path().join("h.json.bad")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&bad.file_type()));
        assert_eq!(all(&path).suites["a"].runs.len(), 1);
    }

    #[test]
    fn a_huge_file_without_newlines_is_read_bounded_and_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        // 8 GB that take no disk: zeros, no newline anywhere.
        File::create(&path).unwrap().set_len(8 << 30).unwrap();
        let l = load(&path, wanted(&["a"]));
        let warning = l.warning.clone().unwrap();
        assert!(
            warning.contains("too big to be a ptest history (8192 MB"),
            "{warning}"
        );
        assert!(load_records(&path).unwrap_err().contains("too big"));
        write(&path, l, &update("a", Status::Passed, 1.0)).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("h.json.bad"))
                .unwrap()
                .len(),
            8 << 30
        );
        assert_eq!(all(&path).suites["a"].runs.len(), 1);
    }

    #[test]
    fn a_line_longer_than_the_bound_is_not_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines");
        std::fs::write(&path, "x".repeat(MAX_LINE * 3)).unwrap();
        let f = File::open(&path).unwrap();
        let mut lines = Lines::new(&f);
        assert!(lines.next().unwrap().is_empty());
        assert!(lines.too_long);
        assert!(lines.buf.len() <= MAX_LINE, "{}", lines.buf.len());
    }

    #[test]
    fn a_link_to_a_history_is_read_and_the_history_replaced_where_it_leads() {
        let dir = tempfile::tempdir().unwrap();
        let common = dir.path().join("common");
        std::fs::create_dir(&common).unwrap();
        let target = common.join("h.json");
        many(&target, 3);
        let path = dir.path().join(".ptest/history.json");
        std::fs::create_dir(dir.path().join(".ptest")).unwrap();
        std::os::unix::fs::symlink("../common/h.json", &path).unwrap();
        let l = load(&path, wanted(&["s001", "a"]));
        assert!(l.warning.is_none(), "{:?}", l.warning);
        assert_eq!(l.history.peak_rss_kb("s001"), Some(1));
        for i in 0..3 {
            let w = write(
                &path,
                load(&path, wanted(&["a"])),
                &update("a", Status::Passed, f64::from(i)),
            )
            .unwrap();
            assert!(w.is_empty(), "{w:?}");
        }
        assert!(std::fs::symlink_metadata(&path).unwrap().is_symlink());
        let r = all(&target);
        assert_eq!(r.suites["a"].runs.len(), 3);
        assert_eq!(r.suites.len(), 4);
        // The lock and the spare are the target's: every link to it shares them.
        assert!(common.join("h.json.lock").exists());
        assert!(common.join("h.json.spare").exists());
        assert!(!dir.path().join(".ptest/history.json.lock").exists());
    }

    #[test]
    fn a_link_to_something_else_than_a_history_is_set_aside_and_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let precious = dir.path().join("precious");
        std::fs::write(&precious, "not a history").unwrap();
        std::os::unix::fs::symlink(&precious, &path).unwrap();
        let l = load(&path, wanted(&["a"]));
        assert!(
            l.warning
                .as_deref()
                .unwrap()
                .contains("not a ptest history")
        );
        let w = write(&path, l, &update("a", Status::Passed, 1.0)).unwrap();
        assert!(w.iter().any(|w| w.contains("the link is kept as")), "{w:?}");
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "not a history");
        assert!(
            std::fs::symlink_metadata(dir.path().join("h.json.bad"))
                .unwrap()
                .is_symlink()
        );
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(all(&path).suites["a"].runs.len(), 1);
        assert!(!dir.path().join("precious.lock").exists());

        // A link that leads nowhere: no file is made where it points.
        std::fs::remove_file(&path).unwrap();
        let nowhere = dir.path().join("nowhere.json");
        std::os::unix::fs::symlink(&nowhere, &path).unwrap();
        let l = load(&path, wanted(&["a"]));
        assert!(
            l.warning.as_deref().unwrap().contains("does not exist"),
            "{:?}",
            l.warning
        );
        assert!(load_records(&path).unwrap_err().contains("does not exist"));
        write(&path, l, &update("a", Status::Passed, 1.0)).unwrap();
        assert!(!nowhere.exists());
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
    }

    /// A pid that no process has: a child that has been waited for (the kernel hands its
    /// number out again only after the whole pid range, not within a test).
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    fn age(path: &Path, secs: u64) {
        let f = File::options().write(true).open(path).unwrap();
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn temps_of_writers_that_died_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        many(&path, 3);
        let dead = dead_pid();
        let mut alive = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let name = |pid: u32, tail: &str| dir.path().join(format!(".h.json.{pid}.{tail}"));
        let stale = name(dead, "0000abcd.tmp");
        let recent = name(dead, "0000abce.tmp");
        let live = name(alive.id(), "0000abcf.tmp");
        let not_ours = name(dead, "xyz.tmp");
        let other = dir.path().join(format!(".other.json.{dead}.0000abcd.tmp"));
        for f in [&stale, &recent, &live, &not_ours, &other] {
            std::fs::write(f, "half a history").unwrap();
        }
        for f in [&stale, &live, &not_ours, &other] {
            age(f, 120);
        }
        // A link in the pattern, and what it leads to, stay.
        let linked = name(dead, "0000abd0.tmp");
        std::os::unix::fs::symlink(&other, &linked).unwrap();
        write(
            &path,
            load(&path, wanted(&["a"])),
            &update("a", Status::Passed, 1.0),
        )
        .unwrap();
        assert!(!stale.exists(), "a dead writer's old temp is removed");
        for f in [&recent, &live, &not_ours, &other] {
            assert!(f.exists(), "{} kept", f.display());
        }
        assert!(std::fs::symlink_metadata(&linked).unwrap().is_symlink());
        alive.kill().unwrap();
        alive.wait().unwrap();
    }

    #[test]
    fn a_lock_held_too_long_keeps_the_records_aside_for_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        many(&path, 3);
        let held = take(&path);
        let t = std::time::Instant::now();
        let w = write(
            &path,
            load(&path, wanted(&["a", "unit"])),
            &update("a", Status::Failed, 1.0),
        )
        .unwrap();
        assert!(t.elapsed() >= WRITER_PATIENCE, "{:?}", t.elapsed());
        assert!(
            w.len() == 1
                && w[0].contains("another process has held its lock")
                && w[0].contains("h.json.pending."),
            "{w:?}"
        );
        assert!(!all(&path).suites.is_empty());
        // Readers already see them.
        assert_eq!(load(&path, wanted(&["a"])).history.failed_last(), ["a"]);
        assert_eq!(all(&path).suites["a"].runs.len(), 1);
        drop(held);
        write(
            &path,
            load(&path, wanted(&["a", "unit"])),
            &update("a", Status::Passed, 2.0),
        )
        .unwrap();
        let r = load_records_once(&files::resolve(&path).unwrap())
            .unwrap()
            .unwrap();
        let statuses: Vec<Status> = r.suites["a"].runs.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Status::Failed, Status::Passed]);
        assert_eq!(r.items["unit/tests/a.py"].runs.len(), 2);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("pending"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_stop_signal_ends_the_wait_for_the_lock_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let _held = take(&path);
        let asked = std::cell::Cell::new(0);
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 2
        };
        let t = std::time::Instant::now();
        let w = super::write(
            &path,
            Loaded::default(),
            &update("a", Status::Passed, 1.0),
            &stop,
        )
        .unwrap();
        assert!(t.elapsed() < WRITER_PATIENCE, "{:?}", t.elapsed());
        assert!(w[0].contains("asked to stop"), "{w:?}");
        assert_eq!(load_records(&path).unwrap().suites["a"].runs.len(), 1);
    }

    #[test]
    fn side_files_merged_twice_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        many(&path, 2);
        let u = update("a", Status::Failed, 3.0);
        files::keep_pending(&path, &u).unwrap();
        write(
            &path,
            load(&path, wanted(&["b"])),
            &update("b", Status::Passed, 1.0),
        )
        .unwrap();
        // As if the run that merged it was killed before it removed the side file.
        files::keep_pending(&path, &u).unwrap();
        write(
            &path,
            load(&path, wanted(&["b"])),
            &update("b", Status::Passed, 1.0),
        )
        .unwrap();
        let r = all(&path);
        assert_eq!(r.suites["a"].runs.len(), 1);
        assert_eq!(r.items["unit/tests/a.py"].runs.len(), 3);
        assert_eq!(r.suites["b"].runs.len(), 2);
    }

    #[test]
    fn a_side_file_that_cannot_be_read_is_set_aside_by_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let side = dir.path().join("h.json.pending.1.0000abcd");
        std::fs::write(&side, "{ torn").unwrap();
        let w = write(&path, Loaded::default(), &update("a", Status::Passed, 1.0)).unwrap();
        assert!(
            w.iter()
                .any(|w| w.contains("h.json.pending.1.0000abcd.bad")),
            "{w:?}"
        );
        assert!(!side.exists());
        assert_eq!(all(&path).suites["a"].runs.len(), 1);
    }
}
