//! The files a run lays out: one log per suite with a safe, unique name inside the log folder
//! (and a thread that looks at the earlier ones), the run's temporary root, and the janitor
//! that removes folders off the scheduler's thread. The attempts' own folders: `tmp`.

use std::collections::HashSet;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// `[A-Za-z0-9._-]` kept, everything else `_`; never empty, never a path of its own.
pub(crate) fn safe_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        s = s.replace('.', "_");
        s.insert(0, '_');
    }
    s
}

/// A log file name for every suite, in order: `<safe>.log`, and `<safe>-2.log`... on collision.
pub(crate) fn log_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for name in names {
        let base = safe_name(name);
        let mut candidate = format!("{base}.log");
        let mut n = 2;
        while !taken.insert(candidate.to_lowercase()) {
            candidate = format!("{base}-{n}.log");
            n += 1;
        }
        out.push(candidate);
    }
    out
}

/// Make sure the log folder exists and takes files, before any suite starts.
pub(crate) fn prepare_log_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create log folder {}: {}",
            dir.display(),
            crate::io_message(&e)
        )
    })?;
    // access(2) answers for permissions and read-only file systems without writing anything:
    // a probe file cost a journaled create and unlink on every run.
    let cannot = |e: &std::io::Error| {
        format!(
            "cannot write in log folder {}: {}",
            dir.display(),
            crate::io_message(e)
        )
    };
    use rustix::fs::{Access, access};
    access(dir, Access::WRITE_OK | Access::EXEC_OK).map_err(|e| cannot(&std::io::Error::from(e)))
}

/// A report path that is a regular file or nothing yet, in a folder that exists (or can be
/// made) and takes files, checked before the run.
pub(crate) fn check_writable(path: &Path) -> Result<(), String> {
    crate::safe_write::check(path)
}

/// Removes folders and old logs on a thread of its own: on a journaling file system that costs
/// tens of microseconds to tens of milliseconds, which the scheduler's thread should spend
/// starting the next suite.
pub(crate) struct Janitor {
    /// Shared with the [`Discard`](crate::safe_write::Discard) handles it gives out, and emptied
    /// when it finishes: a handle kept longer removes at once instead.
    tx: Arc<Mutex<Option<std::sync::mpsc::Sender<Removal>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One job of the janitor's, done in the order given.
enum Removal {
    /// A regular file ptest wrote, only if it is still that file.
    File(PathBuf, crate::safe_write::FileId),
    /// A file, or a folder with whatever it holds.
    Any(PathBuf),
    /// A folder, only when it is empty.
    IfEmpty(PathBuf),
    /// The folders made ahead that no attempt took.
    Untaken(Ahead),
}

impl Removal {
    fn run(&self) {
        match self {
            // Usually an empty folder: one rmdir, not a directory walk.
            Removal::Any(path) => {
                if std::fs::remove_dir(path).is_err() && std::fs::remove_file(path).is_err() {
                    let _ = std::fs::remove_dir_all(path);
                }
            }
            Removal::File(path, id) => crate::safe_write::remove_if_same(path, *id),
            Removal::IfEmpty(path) => {
                let _ = std::fs::remove_dir(path);
            }
            Removal::Untaken(ahead) => {
                while let Some(dir) = ahead.take() {
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
    }
}

impl Janitor {
    #[cfg(test)]
    pub(crate) fn start() -> Janitor {
        Janitor::start_with(|| {})
    }

    /// Starts the janitor with `first` to do before any removal.
    fn start_with(first: impl FnOnce() + Send + 'static) -> Janitor {
        let (tx, rx) = std::sync::mpsc::channel::<Removal>();
        let thread = std::thread::Builder::new()
            .name("ptest-janitor".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                crate::os::process::block_signals_in_this_thread();
                first();
                for job in rx {
                    job.run();
                }
            })
            .ok();
        Janitor {
            tx: Arc::new(Mutex::new(Some(tx))),
            thread,
        }
    }

    /// A handle that hands the files reports replace to this janitor while it runs (at once
    /// afterwards); anything else found there by then is left alone.
    pub(crate) fn discard(&self) -> crate::safe_write::Discard {
        let tx = Arc::clone(&self.tx);
        crate::safe_write::Discard::with(move |path, id| {
            send(&tx, Removal::File(path, id));
        })
    }

    /// Remove a file, or a folder and what it holds.
    pub(crate) fn remove(&self, path: PathBuf) {
        self.send(Removal::Any(path));
    }

    /// Remove a regular file (an earlier log moved aside); nothing else found there.
    pub(crate) fn remove_file(&self, path: PathBuf) {
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            if meta.is_file() {
                let id = crate::safe_write::FileId::of(&meta);
                self.send(Removal::File(path, id));
            }
        }
    }

    /// Remove a folder if it is empty by then.
    pub(crate) fn remove_if_empty(&self, path: PathBuf) {
        self.send(Removal::IfEmpty(path));
    }

    /// Remove the folders made ahead that no attempt took, once they are all made.
    pub(crate) fn remove_untaken(&self, ahead: Ahead) {
        self.send(Removal::Untaken(ahead));
    }

    fn send(&self, job: Removal) {
        send(&self.tx, job);
    }

    /// Wait until every folder handed over is gone.
    pub(crate) fn finish(&mut self) {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Without a thread (it could not start, or it ended), the job is done here.
fn send(tx: &Mutex<Option<std::sync::mpsc::Sender<Removal>>>, job: Removal) {
    let unsent = match &*tx.lock().unwrap_or_else(PoisonError::into_inner) {
        Some(tx) => tx.send(job).err().map(|e| e.0),
        None => Some(job),
    };
    if let Some(job) = unsent {
        job.run();
    }
}

/// What is known of an earlier run's log before its suite's first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OldLog {
    /// Not looked at yet: the scheduler asks itself.
    Unknown,
    /// There was no such file.
    Absent,
    /// It had this length.
    Len(u64),
}

/// Looks at the earlier logs of the suites about to run, on a thread of its own at idle
/// priority, in the order they are expected to start: their lengths, and their first block read
/// back into memory.
///
/// A suite's first attempt writes its header over the start of the earlier log and cuts it after
/// the header (`exec::log`), or moves a large one aside: that took two `stat`s per suite on the
/// scheduler's thread, between one suite's end and the next start. And a write into part of a
/// block that is not in memory must read it from disk first: memory reclaim (here a VM that
/// hands cold pages back to its host) evicts logs between runs, and those reads cost about
/// 80 µs per suite. The thread opens each log read-only and closes it again: a descriptor held
/// for later would be copied into, and closed in, every child started meanwhile.
pub(crate) struct LogPrep {
    /// Per suite: `UNKNOWN`, `ABSENT` or the length.
    lens: Arc<Vec<AtomicU64>>,
}

const UNKNOWN: u64 = u64::MAX;
const ABSENT: u64 = u64::MAX - 1;

impl LogPrep {
    /// `order`: (suite index, log path), in expected start order; `suites`: how many there are.
    pub(crate) fn start(order: Vec<(usize, PathBuf)>, suites: usize) -> LogPrep {
        let lens: Arc<Vec<AtomicU64>> =
            Arc::new((0..suites).map(|_| AtomicU64::new(UNKNOWN)).collect());
        let found = Arc::clone(&lens);
        let _ = std::thread::Builder::new()
            .name("ptest-logs".into())
            .stack_size(64 * 1024)
            .spawn(move || look(&found, order));
        LogPrep { lens }
    }

    /// What the thread found of suite `index`'s earlier log, if it got there first. Asked once,
    /// before the suite's first attempt writes to it: a length found later is never read.
    pub(crate) fn old_log(&self, index: usize) -> OldLog {
        match self.lens[index].load(Ordering::Acquire) {
            UNKNOWN => OldLog::Unknown,
            ABSENT => OldLog::Absent,
            len => OldLog::Len(len),
        }
    }
}

fn look(lens: &[AtomicU64], order: Vec<(usize, PathBuf)>) {
    crate::os::process::block_signals_in_this_thread();
    // Only on a CPU nothing else wants: when the logs are already in memory and the scheduler
    // gets there first, this was wasted work, and it must not slow the suites.
    crate::os::run_this_thread_when_idle();
    for (index, path) in order {
        // Never through a link, never waiting on a FIFO: opening the log for writing meets either,
        // and deals with it.
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(crate::os::fs::NO_FOLLOW_NO_WAIT)
            .open(&path);
        let found = match opened {
            Ok(file) => match file.metadata() {
                Ok(meta) if meta.is_file() => {
                    crate::os::read_ahead(&file);
                    meta.len().min(ABSENT - 1)
                }
                Ok(_) | Err(_) => continue,
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => ABSENT,
            // The scheduler meets the error itself, and reports it.
            Err(_) => continue,
        };
        lens[index].store(found, Ordering::Release);
    }
}

/// What a run needs on disk before its first suite starts.
pub(crate) struct RunFolder {
    /// `$TMPDIR/ptest-<run id>`, mode 0700.
    pub root: PathBuf,
    /// The coordinator's socket in it, listening.
    /// `None` when no socket could be made: the run goes on, suites' own `limiter` fields still
    /// work, only `ptest acquire` has nothing to ask.
    pub socket: Option<(PathBuf, std::os::unix::net::UnixListener)>,
    /// `root/bin`, holding the `ptest` link, when it could be made.
    pub bin: Option<PathBuf>,
    /// Empty folders for the first attempts, made after the rest, one by one.
    pub ahead: Ahead,
}

impl RunFolder {
    fn make(root: PathBuf, ahead: Ahead) -> std::io::Result<RunFolder> {
        // The run's folder must exist for the attempts; the socket may live elsewhere, or not.
        make_private_dir(&root)?;
        let socket = super::socket::listen_somewhere(&root).ok();
        let bin = link_self(&root);
        Ok(RunFolder {
            root,
            socket,
            bin,
            ahead,
        })
    }
}

/// `dir`, made (or narrowed to) mode 0700.
pub(crate) fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        }
        Err(e) => Err(e),
    }
}

/// Empty folders `tmp-1` to `tmp-N` for a run's first attempts, made by the janitor one by one
/// while the first suites start, and taken as they come (`tmp-1` first).
#[derive(Clone, Default)]
pub(crate) struct Ahead(Arc<AheadState>);

#[derive(Default)]
struct AheadState {
    /// How many will be made, so folders made elsewhere are numbered after them.
    planned: usize,
    /// Made and not taken yet, the next to take last.
    ready: Mutex<Vec<PathBuf>>,
}

impl Ahead {
    pub(crate) fn new(planned: usize) -> Ahead {
        Ahead(Arc::new(AheadState {
            planned,
            ready: Mutex::new(Vec::new()),
        }))
    }

    pub(crate) fn planned(&self) -> usize {
        self.0.planned
    }

    /// A folder made ahead, if one is ready.
    pub(crate) fn take(&self) -> Option<PathBuf> {
        let mut ready = self.0.ready.lock().unwrap_or_else(PoisonError::into_inner);
        if ready.is_empty() {
            None
        } else {
            Some(ready.remove(0))
        }
    }

    pub(crate) fn make_all(&self, root: &Path) {
        for n in 1..=self.0.planned {
            let dir = root.join(format!("tmp-{n}"));
            if std::fs::create_dir(&dir).is_ok() {
                self.0
                    .ready
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(dir);
            }
        }
    }
}

/// The run's folder being made on the janitor's thread, while the scheduler's thread evaluates
/// the config: five to ten journaled file system changes, a few hundred microseconds to
/// milliseconds before the first suite could start.
pub(crate) struct Setup {
    janitor: Option<Janitor>,
    root: PathBuf,
    made: Option<std::sync::mpsc::Receiver<std::io::Result<RunFolder>>>,
}

impl Setup {
    /// Starts the janitor on making the run's folder, with up to `spares` empty folders for the
    /// first attempts (`None`: as many as this process may use CPUs, the default worker count).
    pub(crate) fn start(run_id: &str, spares: Option<usize>) -> Setup {
        let root = run_tmp_root(run_id);
        let (tx, made) = std::sync::mpsc::sync_channel(1);
        let for_thread = root.clone();
        let janitor = Janitor::start_with(move || {
            let spares = spares
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
                .min(MAX_SPARES);
            let ahead = Ahead::new(spares);
            let made = RunFolder::make(for_thread.clone(), ahead.clone());
            let ok = made.is_ok();
            let _ = tx.send(made);
            if ok {
                ahead.make_all(&for_thread);
                prune_earlier_runs(&for_thread, KEPT_RUNS);
            }
        });
        Setup {
            janitor: Some(janitor),
            root,
            made: Some(made),
        }
    }

    /// Waits for the folder; the janitor is free for removals afterwards.
    pub(crate) fn finish(mut self) -> std::io::Result<(Janitor, RunFolder)> {
        let made = self.wait();
        let janitor = self.janitor.take().expect("a setup is finished once");
        made.map(|folder| (janitor, folder))
    }

    fn wait(&mut self) -> std::io::Result<RunFolder> {
        let made = self.made.take().map(|rx| rx.recv());
        match made {
            Some(Ok(made)) => made,
            // The thread could not start: make it here.
            Some(Err(_)) | None => RunFolder::make(self.root.clone(), Ahead::default()),
        }
    }
}

impl Drop for Setup {
    /// Not used (the config had an error): nothing of the run stays behind.
    fn drop(&mut self) {
        if let Some(mut janitor) = self.janitor.take() {
            if let Some(Ok(Ok(_))) = self.made.take().map(|rx| rx.recv()) {
                janitor.remove(self.root.clone());
            }
            janitor.finish();
        }
    }
}

/// How many runs' folders stay in the temporary folder (this one included): failed attempts keep
/// theirs for inspection, but not without bound.
pub(crate) const KEPT_RUNS: usize = 5;

/// Removes the folders of earlier runs (`ptest-<run id>` beside `current`) but the `keep - 1`
/// latest. Only folders of this user, named as ptest names them, that are not links, whose run
/// has ended (no coordinator answers on their socket) and that nothing changed for a minute.
pub(crate) fn prune_earlier_runs(current: &Path, keep: usize) {
    use std::os::unix::fs::MetadataExt;
    let Some(parent) = current.parent() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let me = rustix::process::geteuid().as_raw();
    let quiet_since = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let mut ended: Vec<((std::time::SystemTime, String), PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_prefix("ptest-")?;
            if !is_run_id(id) || e.path() == current {
                return None;
            }
            let meta = std::fs::symlink_metadata(e.path()).ok()?;
            let quiet = meta.modified().is_ok_and(|t| t < quiet_since);
            let changed = meta.modified().ok()?;
            (meta.file_type().is_dir() && meta.uid() == me && quiet)
                .then(|| ((changed, name), e.path()))
        })
        .filter(|(_, dir)| !still_running(dir))
        .collect();
    // The latest last: by the time they last changed, then by run id (which begins with the
    // time the run started).
    ended.sort();
    let remove = ended.len().saturating_sub(keep.saturating_sub(1));
    for (_, dir) in ended.into_iter().take(remove) {
        // remove_dir_all does not follow links inside.
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `20261202T012905-7f4372`: what `new_run_id` makes.
fn is_run_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 22
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..].iter().all(u8::is_ascii_hexdigit)
}

/// A run is going on while its coordinator accepts connections on its socket: in its folder, or
/// in the folder of the same name under /tmp that a long `TMPDIR` puts it in.
fn still_running(dir: &Path) -> bool {
    let short = dir.file_name().map(|name| Path::new("/tmp").join(name));
    std::iter::once(dir.to_path_buf())
        .chain(short)
        .map(|d| d.join("coord.sock"))
        .any(|socket| {
            std::fs::symlink_metadata(&socket).is_ok()
                && match std::os::unix::net::UnixStream::connect(&socket) {
                    Ok(_) => true,
                    Err(e) => !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                    ),
                }
        })
}

/// The most empty folders made ahead for the first attempts.
const MAX_SPARES: usize = 16;

/// The folder holding this run's per-attempt temporary folders.
pub(crate) fn run_tmp_root(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ptest-{run_id}"))
}

/// `root/bin/ptest` → the running binary, so suites can call `ptest acquire` without
/// installing it. `None` when the link cannot be made (the run goes on without it).
pub(crate) fn link_self(root: &Path) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).ok()?;
    std::os::unix::fs::symlink(exe, bin.join("ptest")).ok()?;
    Some(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_thread_finds_lengths_and_missing_logs() {
        let dir = tempfile::tempdir().unwrap();
        let (long, missing) = (dir.path().join("long.log"), dir.path().join("missing.log"));
        std::fs::write(&long, b"0123456789").unwrap();
        let prep = LogPrep::start(vec![(1, long), (0, missing)], 3);
        // The thread runs at idle priority: give it time, but never take a timing for an answer.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while prep.old_log(0) == OldLog::Unknown && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(prep.old_log(1), OldLog::Len(10));
        assert_eq!(prep.old_log(0), OldLog::Absent);
        // Not in the order given: never looked at.
        assert_eq!(prep.old_log(2), OldLog::Unknown);
    }

    #[test]
    fn names_are_safe_and_distinct() {
        let names = [
            "a/b",
            "a_b",
            "..",
            "../../etc/passwd",
            "ünï cødé",
            "A_B",
            "x y",
        ];
        let got = log_names(names);
        assert_eq!(got[0], "a_b.log");
        assert_eq!(got[1], "a_b-2.log");
        assert_eq!(got[2], "___.log");
        assert_eq!(got[3], ".._.._etc_passwd.log");
        assert_eq!(got[4], "_n__c_d_.log");
        for g in &got {
            assert!(!g.contains('/'), "{g}");
        }
        let set: HashSet<_> = got.iter().map(|g| g.to_lowercase()).collect();
        assert_eq!(set.len(), got.len());
        assert_eq!(got[5], "A_B-3.log");
    }

    #[test]
    fn safe_names_are_never_empty_dots_or_overlong() {
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("."), "__");
        assert_eq!(safe_name("..."), "____");
        assert_eq!(safe_name("ok-1.2_x"), "ok-1.2_x");
        assert_eq!(safe_name("tests/a b::c"), "tests_a_b__c");
        assert_eq!(safe_name(&"x".repeat(500)).len(), 200);
        // Collisions are told apart whatever the case of the file system.
        assert_eq!(
            log_names(["Unit", "unit", "UNIT"]),
            ["Unit.log", "unit-2.log", "UNIT-3.log"]
        );
        // A suffixed name that another suite has already gets the next number.
        assert_eq!(
            log_names(["a-2", "a", "a"]),
            ["a-2.log", "a.log", "a-3.log"]
        );
    }

    #[test]
    fn run_ids_are_recognised_exactly() {
        assert!(is_run_id("20261202T012905-7f4372"));
        for bad in [
            "20261202T012905-7f437",
            "20261202T012905-7f43722",
            "20261202X012905-7f4372",
            "2026120aT012905-7f4372",
            "20261202T012905_7f4372",
            "20261202T012905-7f437g",
            "",
        ] {
            assert!(!is_run_id(bad), "{bad}");
        }
    }

    fn age(dir: &Path, secs_ago: u64) {
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago);
        std::fs::File::open(dir).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn pruning_keeps_the_latest_runs_and_touches_nothing_else() {
        let parent = tempfile::tempdir().unwrap();
        let p = parent.path();
        let run = |n: u32| p.join(format!("ptest-20260101T0000{n:02}-abcdef"));
        for n in 1..=5 {
            std::fs::create_dir(run(n)).unwrap();
            std::fs::write(run(n).join("kept-file"), b"x").unwrap();
            age(&run(n), 1000 - u64::from(n));
        }
        // Recently changed: maybe still in use.
        let fresh = p.join("ptest-20260101T000099-abcdef");
        std::fs::create_dir(&fresh).unwrap();
        // Not named as ptest names runs, or not a folder.
        let other = p.join("ptest-something-else");
        std::fs::create_dir(&other).unwrap();
        age(&other, 5000);
        let file = p.join("ptest-20260101T000050-abcdef");
        std::fs::write(&file, b"a file").unwrap();
        let link = p.join("ptest-20260101T000051-abcdef");
        std::os::unix::fs::symlink(run(1), &link).unwrap();
        let current = p.join("ptest-20260101T000100-abcdef");
        std::fs::create_dir(&current).unwrap();
        age(&current, 9000);

        prune_earlier_runs(&current, 3);
        // Keep 3 with the current one: the two latest earlier runs.
        let left: Vec<bool> = (1..=5).map(|n| run(n).exists()).collect();
        assert_eq!(left, [false, false, false, true, true]);
        for kept in [&fresh, &other, &file, &current] {
            assert!(kept.exists(), "{}", kept.display());
        }
        assert!(
            std::fs::symlink_metadata(&link).is_ok(),
            "a link is not removed"
        );
    }

    #[test]
    fn a_run_whose_coordinator_answers_is_not_pruned() {
        let parent = tempfile::tempdir().unwrap();
        let busy = parent.path().join("ptest-20260101T000001-abcdef");
        std::fs::create_dir(&busy).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(busy.join("coord.sock")).unwrap();
        age(&busy, 1000);
        let ended = parent.path().join("ptest-20260101T000002-abcdef");
        std::fs::create_dir(&ended).unwrap();
        // A socket left behind by a run that ended: nobody answers.
        drop(std::os::unix::net::UnixListener::bind(ended.join("coord.sock")).unwrap());
        age(&ended, 1000);
        let current = parent.path().join("ptest-20260101T000003-abcdef");
        std::fs::create_dir(&current).unwrap();
        prune_earlier_runs(&current, 1);
        assert!(busy.exists());
        assert!(!ended.exists());
    }

    #[test]
    fn private_folders_are_made_or_narrowed_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let new = root.path().join("a/b/c");
        make_private_dir(&new).unwrap();
        assert_eq!(mode(&new), 0o700);
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        make_private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        let file = root.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(make_private_dir(&file.join("under")).is_err());
    }

    #[test]
    fn the_log_folder_is_made_and_a_file_in_its_place_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("deep/test-logs");
        prepare_log_dir(&logs).unwrap();
        assert!(logs.is_dir());
        let file = root.path().join("taken");
        std::fs::write(&file, b"").unwrap();
        let e = prepare_log_dir(&file.join("logs")).unwrap_err();
        assert_eq!(
            e,
            format!(
                "cannot create log folder {}: Not a directory",
                file.join("logs").display()
            )
        );
    }

    #[test]
    fn the_janitor_removes_each_kind_as_asked() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let full = r.join("full");
        std::fs::create_dir_all(full.join("sub")).unwrap();
        std::fs::write(full.join("sub/f"), b"x").unwrap();
        let kept_full = r.join("kept-full");
        std::fs::create_dir(&kept_full).unwrap();
        std::fs::write(kept_full.join("f"), b"x").unwrap();
        let empty = r.join("empty");
        std::fs::create_dir(&empty).unwrap();
        let log = r.join("old.log");
        std::fs::write(&log, b"old").unwrap();
        let replaced = r.join("replaced.log");
        std::fs::write(&replaced, b"first").unwrap();
        let dir_not_file = r.join("dir-not-file");
        std::fs::create_dir(&dir_not_file).unwrap();

        let mut j = Janitor::start();
        j.remove(full.clone());
        j.remove_if_empty(kept_full.clone());
        j.remove_if_empty(empty.clone());
        j.remove_file(log.clone());
        j.remove_file(dir_not_file.clone());
        // Asked for the file as it was; by the time the janitor looks, another is there.
        let id = crate::safe_write::FileId::of(&std::fs::symlink_metadata(&replaced).unwrap());
        // Made before the first is gone, so it cannot reuse its inode number.
        std::fs::write(r.join("new"), b"second, a new file").unwrap();
        std::fs::rename(r.join("new"), &replaced).unwrap();
        j.send(Removal::File(replaced.clone(), id));
        j.finish();

        assert!(!full.exists());
        assert!(kept_full.join("f").exists(), "not empty: kept");
        assert!(!empty.exists());
        assert!(!log.exists());
        assert!(dir_not_file.is_dir(), "remove_file never removes a folder");
        assert_eq!(std::fs::read(&replaced).unwrap(), b"second, a new file");
    }

    #[test]
    fn folders_made_ahead_are_taken_in_order_once() {
        let root = tempfile::tempdir().unwrap();
        let ahead = Ahead::new(3);
        assert_eq!(ahead.take(), None, "none made yet");
        // One is in the way: the others are still made.
        std::fs::write(root.path().join("tmp-2"), b"").unwrap();
        ahead.make_all(root.path());
        let other = ahead.clone();
        assert_eq!(ahead.take(), Some(root.path().join("tmp-1")));
        assert_eq!(other.take(), Some(root.path().join("tmp-3")));
        assert_eq!(ahead.take(), None);
        assert_eq!(other.planned(), 3);
    }

    #[test]
    fn setup_makes_a_private_run_folder_and_drop_removes_it_unused() {
        let id = format!("test-{}", fastrand::u64(..));
        let setup = Setup::start(&id, Some(2));
        let (mut janitor, folder) = setup.finish().unwrap();
        assert_eq!(folder.root, run_tmp_root(&id));
        assert!(folder.root.is_dir());
        assert!(
            folder
                .bin
                .as_ref()
                .is_some_and(|b| b.join("ptest").exists())
        );
        assert_eq!(folder.ahead.planned(), 2);
        janitor.remove(folder.root.clone());
        janitor.finish();
        assert!(!folder.root.exists());

        let id = format!("test-{}", fastrand::u64(..));
        let setup = Setup::start(&id, Some(1));
        drop(setup);
        assert!(
            !run_tmp_root(&id).exists(),
            "a config error leaves nothing behind"
        );
    }
}
