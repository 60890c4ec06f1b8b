//! The one way ptest writes a whole file it may replace (reports, and whatever else is written
//! at a run's end): refuse up front a path that is a folder, a symbolic link or anything else than
//! a regular file; write a temp file beside it, created with `O_EXCL | O_NOFOLLOW` under an
//! unpredictable name; then put it in place. Nothing but a regular file is ever replaced or
//! removed, so a typo like `--report src` can never cost a folder. Must not know what it writes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which file: its device and inode, to be sure a removal later removes that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub(crate) fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Why a path cannot take a file ptest writes, in words (`is a folder`); `None` when it can: it
/// does not exist, or is a regular file. Symbolic links are not followed but named as such.
pub(crate) fn refusal(path: &Path) -> Option<String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        // The folder's own check (or the write) reports what is wrong there.
        Err(_) => return None,
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    Some(if kind.is_dir() {
        "is a folder: give the path of a file in it".to_owned()
    } else if kind.is_symlink() {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            "is a symbolic link to a folder: give the path of a file".to_owned()
        } else {
            "is a symbolic link: ptest replaces only regular files (remove the link or give another path)"
                .to_owned()
        }
    } else {
        "is not a regular file: ptest replaces only regular files".to_owned()
    })
}

/// Checks, before anything runs, that `path` can take a file ptest writes: not a folder nor a
/// link nor a special file, and its folder exists (or can be made) and takes files.
pub(crate) fn check(path: &Path) -> Result<(), String> {
    if let Some(why) = refusal(path) {
        return Err(format!("{} {why}", path.display()));
    }
    let dir = folder_of(path);
    if let Some(why) = refusal_of_folder(dir) {
        return Err(format!("cannot write {}: {why}", path.display()));
    }
    Ok(())
}

/// The folder a file goes in (`.` for a bare name).
pub(crate) fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn refusal_of_folder(dir: &Path) -> Option<String> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Some(format!(
            "cannot create folder {}: {}",
            dir.display(),
            crate::io_message(&e)
        ));
    }
    // access(2) answers for permissions and read-only file systems without writing anything.
    use rustix::fs::{Access, access};
    if let Err(e) = access(dir, Access::WRITE_OK | Access::EXEC_OK) {
        return Some(format!(
            "cannot write in folder {}: {}",
            dir.display(),
            crate::io_message(&io::Error::from(e))
        ));
    }
    None
}

/// An error in words that name the reason, for paths refused at write time.
fn refused(why: String) -> io::Error {
    io::Error::other(why)
}

/// A name nobody can guess ahead: 64 bits from the standard library's per-process random keys
/// (seeded by the OS), mixed with the time and a counter.
fn unpredictable() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// A new, empty temp file beside `path`, made by this call (`O_EXCL`, never through a link),
/// readable as a report is (the umask applies).
fn create_temp(path: &Path) -> io::Result<(File, PathBuf, FileId)> {
    let dir = folder_of(path);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", unpredictable()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .custom_flags(crate::os::fs::NO_FOLLOW)
            .open(&tmp)
        {
            Ok(file) => {
                let id = FileId::of(&file.metadata()?);
                return Ok((file, tmp, id));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
}

/// Removes `path` only if it is still the regular file `id` (never a folder, never a link's
/// target): the one removal this module does.
pub(crate) fn remove_if_same(path: &Path, id: FileId) {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_file() && FileId::of(&meta) == id {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Where the earlier file a write replaced goes: removed at once (the default), or handed to a
/// thread that can wait for the disk (the run's janitor, `sched::files`): freeing a replaced
/// file's blocks costs a quarter of a millisecond on ext4 at the end of every run. Whatever
/// removes it, it removes only that regular file ([`remove_if_same`]).
#[derive(Clone, Default)]
pub(crate) struct Discard(Option<Arc<dyn Fn(PathBuf, FileId) + Send + Sync>>);

impl Discard {
    /// Hands each replaced file to `later`.
    pub(crate) fn with(later: impl Fn(PathBuf, FileId) + Send + Sync + 'static) -> Discard {
        Discard(Some(Arc::new(later)))
    }

    fn discard(&self, path: PathBuf, id: FileId) {
        match &self.0 {
            Some(later) => later(path, id),
            None => remove_if_same(&path, id),
        }
    }
}

impl std::fmt::Debug for Discard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Discard(later)"
        } else {
            "Discard(now)"
        })
    }
}

/// Writes `bytes` to `path` atomically: readers see the earlier file or the new one, never half
/// of one. Refuses (and changes nothing) when `path` is anything but a regular file or missing.
/// The earlier file, when there was one, goes to `discard`.
pub(crate) fn write(path: &Path, bytes: &[u8], discard: &Discard) -> io::Result<()> {
    write_with(path, bytes, |path, id| discard.discard(path, id))
}

/// [`write`], with `discard` told what to remove afterwards (the earlier file under its temp
/// name, checked to be that regular file).
pub(crate) fn write_with(
    path: &Path,
    bytes: &[u8],
    discard: impl FnOnce(PathBuf, FileId),
) -> io::Result<()> {
    replace(path, |file| file.write_all(bytes), discard)
}

/// [`write`], what goes in written by `fill` into the new file: a large report is never held
/// whole in memory.
pub(crate) fn write_by(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
    discard: &Discard,
) -> io::Result<()> {
    replace(path, fill, |path, id| discard.discard(path, id))
}

fn replace(
    path: &Path,
    write_into: impl FnOnce(&mut File) -> io::Result<()>,
    discard: impl FnOnce(PathBuf, FileId),
) -> io::Result<()> {
    let earlier = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Some(FileId::of(&meta)),
        Ok(_) => return Err(refused(refusal(path).unwrap_or_default())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    std::fs::create_dir_all(folder_of(path))?;
    let (mut file, tmp, ours) = create_temp(path)?;
    let result = (|| {
        write_into(&mut file)?;
        // No fsync: the rename is what makes the write atomic for readers, and it is all a
        // report needs. Forcing it to disk waited for the device on every run.
        drop(file);
        if let Some(earlier) = earlier {
            if exchange(&tmp, path)? {
                // The temp name now holds what was at `path`: the file seen above, unless
                // something else was put there meanwhile, which is swapped back untouched.
                let swapped = std::fs::symlink_metadata(&tmp)
                    .ok()
                    .filter(|m| m.file_type().is_file())
                    .map(|m| FileId::of(&m));
                if swapped == Some(earlier) {
                    discard(tmp.clone(), earlier);
                    return Ok(());
                }
                exchange(&tmp, path)?;
                return Err(refused(
                    refusal(path).unwrap_or_else(|| "changed while being replaced".to_owned()),
                ));
            }
        }
        // rename(2) of a file never replaces a folder (EISDIR).
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        remove_if_same(&tmp, ours);
    }
    result
}

/// A new, empty file put in `path`'s place now, given back open: for a file written as the run
/// goes (`--events`). What was there is replaced, never written into — a hard link to it keeps
/// its bytes —, and never a folder or a link's target; `path` missing is fine.
pub(crate) fn start(path: &Path) -> io::Result<File> {
    if let Some(why) = refusal(path) {
        return Err(refused(why));
    }
    std::fs::create_dir_all(folder_of(path))?;
    let (file, tmp, ours) = create_temp(path)?;
    // rename(2) of a file never replaces a folder (EISDIR), and replaces a link, not its target.
    if let Err(e) = std::fs::rename(&tmp, path) {
        remove_if_same(&tmp, ours);
        return Err(e);
    }
    Ok(file)
}

/// Swaps `new` and an existing `path` in one step where the platform can (`RENAME_EXCHANGE`
/// on Linux): renaming over an existing file makes ext4 write the new one out first and free the
/// old one's blocks on the spot, a quarter of a millisecond at the end of every run; a swap does
/// neither. The swap also takes a folder, which is why the caller checks what it got back.
fn exchange(new: &Path, path: &Path) -> io::Result<bool> {
    crate::os::exchange(new, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn creates_then_replaces_and_leaves_nothing_beside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/report.json");
        write(&path, b"first", &Discard::default()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        write(&path, b"second, longer", &Discard::default()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        assert_eq!(names(&dir.path().join("sub")), ["report.json"]);
    }

    #[test]
    fn a_folder_or_a_link_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("d");
        std::fs::create_dir_all(folder.join("sub")).unwrap();
        std::fs::write(folder.join("sub/f"), "x").unwrap();
        assert!(write(&folder, b"{}", &Discard::default()).is_err());
        assert!(check(&folder).unwrap_err().contains("is a folder"));
        assert_eq!(std::fs::read(folder.join("sub/f")).unwrap(), b"x");

        let target = dir.path().join("important");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write(&link, b"{}", &Discard::default()).is_err());
        assert!(check(&link).unwrap_err().contains("symbolic link"));
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(names(dir.path()), ["d", "important", "link.json"]);
    }

    #[test]
    fn removal_takes_only_the_same_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "1").unwrap();
        let id = FileId::of(&std::fs::metadata(&a).unwrap());
        std::fs::remove_file(&a).unwrap();
        std::fs::create_dir(&a).unwrap();
        remove_if_same(&a, id);
        assert!(a.is_dir());
    }
}
