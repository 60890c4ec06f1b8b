//! The attempts' temporary folders (`PTEST_TMPDIR`, `TMPDIR`): a fresh empty folder per attempt,
//! taken from a small pool of folders passed attempts left empty. Must not decide which attempt
//! passed or what a folder is called after a failure: the scheduler says so.
//!
//! Reusing an empty folder saves a mkdir and an rmdir per suite (both journaled on ext4). Finding
//! out whether a folder is still empty used to cost five system calls per suite (open, stat, two
//! directory reads, close); an inotify watch on every pooled folder now says which folders
//! something was created in, all of them in one read, and only those are looked into.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::files::Janitor;

pub struct TmpDirs {
    root: PathBuf,
    /// Folders made so far (names them).
    made: u64,
    /// Empty, ready for the next attempt.
    spare: Vec<PathBuf>,
    /// Passed attempts' folders not yet looked into.
    unchecked: Vec<PathBuf>,
    /// None where inotify is unavailable: every folder is then read.
    watch: Option<Watch>,
}

/// Which watched folders something was created in, or moved into, since they were last found
/// empty.
struct Watch {
    fd: OwnedFd,
    by_wd: HashMap<libc::c_int, PathBuf>,
    wd_of: HashMap<PathBuf, libc::c_int>,
    /// Folders with an event since their last look.
    dirty: HashSet<PathBuf>,
}

impl TmpDirs {
    pub fn new(root: PathBuf) -> TmpDirs {
        TmpDirs {
            root,
            made: 0,
            spare: Vec::new(),
            unchecked: Vec::new(),
            watch: Watch::new().ok(),
        }
    }

    /// An empty folder for an attempt: a spare one, or a new one.
    pub fn take(&mut self) -> PathBuf {
        if let Some(dir) = self.spare.pop() {
            return dir;
        }
        self.made += 1;
        let dir = self.root.join(format!("tmp-{}", self.made));
        // A folder that cannot be made shows in the suite's own output when it uses it.
        if std::fs::create_dir_all(&dir).is_ok() {
            if let Some(watch) = &mut self.watch {
                watch.add(&dir);
            }
        }
        dir
    }

    /// A passed attempt's folder: looked into at the next `check`.
    pub fn passed(&mut self, dir: PathBuf) {
        self.unchecked.push(dir);
    }

    /// A failed attempt's folder stays for inspection: no longer ours to watch.
    pub fn kept(&mut self, dir: &Path) {
        if let Some(watch) = &mut self.watch {
            watch.remove(dir);
        }
    }

    /// Passed attempts' folders: an empty one becomes a spare (at most `keep` of them), anything
    /// else is removed by the janitor; so is a spare something was created in since (a process
    /// a suite left behind can write into its old folder).
    pub fn check(&mut self, keep: usize, janitor: &Janitor) {
        if self.unchecked.is_empty() {
            return;
        }
        let dirty_spare = match &mut self.watch {
            Some(watch) => {
                watch.read_events();
                !watch.dirty.is_empty()
            }
            None => false,
        };
        let mut look = std::mem::take(&mut self.unchecked);
        if let (true, Some(watch)) = (dirty_spare, &self.watch) {
            let (dirty, clean): (Vec<PathBuf>, Vec<PathBuf>) = std::mem::take(&mut self.spare)
                .into_iter()
                .partition(|dir| watch.dirty.contains(dir));
            self.spare = clean;
            look.extend(dirty);
        }
        for dir in look {
            let empty = match &mut self.watch {
                Some(watch) => {
                    let dirty = watch.dirty.remove(&dir);
                    if !dirty && watch.wd_of.contains_key(&dir) {
                        true
                    } else {
                        let empty = is_empty(&dir);
                        if empty {
                            // The watch may have gone with a folder the suite removed and made
                            // again.
                            watch.add(&dir);
                        }
                        empty
                    }
                }
                None => is_empty(&dir),
            };
            if empty && self.spare.len() < keep {
                self.spare.push(dir);
            } else {
                if let Some(watch) = &mut self.watch {
                    watch.remove(&dir);
                }
                janitor.remove(dir);
            }
        }
    }

    /// Every folder still held, for the janitor at the end of the run.
    pub fn drain(&mut self) -> Vec<PathBuf> {
        self.watch = None;
        let mut all = std::mem::take(&mut self.spare);
        all.append(&mut self.unchecked);
        all
    }
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

impl Watch {
    fn new() -> io::Result<Watch> {
        // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Watch {
            // SAFETY: a descriptor just returned to us, owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            by_wd: HashMap::new(),
            wd_of: HashMap::new(),
            dirty: HashSet::new(),
        })
    }

    /// Watches `dir`. If that fails, the folder has no watch and is read when looked into.
    fn add(&mut self, dir: &Path) {
        let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
            return;
        };
        let mask = libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_ONLYDIR;
        // SAFETY: a valid descriptor and a NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), path.as_ptr(), mask) };
        if let Some(old) = self.wd_of.remove(dir) {
            self.by_wd.remove(&old);
        }
        if wd >= 0 {
            self.by_wd.insert(wd, dir.to_path_buf());
            self.wd_of.insert(dir.to_path_buf(), wd);
        }
    }

    fn remove(&mut self, dir: &Path) {
        self.dirty.remove(dir);
        if let Some(wd) = self.wd_of.remove(dir) {
            self.by_wd.remove(&wd);
            // SAFETY: a watch of ours; an error means it is gone already.
            unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
        }
    }

    /// Marks every folder with a pending event dirty. On a queue overflow every folder is.
    fn read_events(&mut self) {
        // inotify_event's alignment, and room for many events (names are short: our folders' own).
        let mut buf = [0u64; 512];
        loop {
            // SAFETY: reads into our own buffer, at most its size.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    std::mem::size_of_val(&buf),
                )
            };
            let Ok(n) = usize::try_from(n) else {
                // EAGAIN: nothing more; any other error leaves the folders as they are known.
                return;
            };
            if n == 0 {
                return;
            }
            let bytes = buf.as_ptr().cast::<u8>();
            let mut at = 0;
            let header = std::mem::size_of::<libc::inotify_event>();
            while at + header <= n {
                // SAFETY: the kernel wrote whole events, each starting at an aligned offset
                // inside the `n` bytes read.
                let event = unsafe { bytes.add(at).cast::<libc::inotify_event>().read_unaligned() };
                if event.mask & libc::IN_Q_OVERFLOW != 0 {
                    self.dirty.extend(self.wd_of.keys().cloned());
                } else if let Some(dir) = self.by_wd.get(&event.wd) {
                    // A created entry, or the watch gone (the folder removed or moved away).
                    self.dirty.insert(dir.clone());
                }
                at += header + event.len as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_empty_folders_and_drops_used_ones() {
        let root = tempfile::tempdir().unwrap();
        let janitor = Janitor::start();
        let mut tmp = TmpDirs::new(root.path().to_path_buf());
        let a = tmp.take();
        let b = tmp.take();
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        std::fs::write(b.join("left-behind"), b"x").unwrap();
        tmp.passed(a.clone());
        tmp.passed(b.clone());
        tmp.check(4, &janitor);
        // The untouched one comes back; the used one is not handed out again.
        assert_eq!(tmp.take(), a);
        let c = tmp.take();
        assert_ne!(c, b);
        assert!(c.read_dir().unwrap().next().is_none());
    }

    #[test]
    fn a_spare_written_into_later_is_dropped() {
        let root = tempfile::tempdir().unwrap();
        let janitor = Janitor::start();
        let mut tmp = TmpDirs::new(root.path().to_path_buf());
        let a = tmp.take();
        let b = tmp.take();
        tmp.passed(a.clone());
        tmp.check(4, &janitor);
        // A process the suite left behind writes into its old folder after the suite passed;
        // the next look (when another attempt passes) drops it.
        std::fs::create_dir(a.join("late")).unwrap();
        tmp.passed(b.clone());
        tmp.check(4, &janitor);
        assert_eq!(tmp.take(), b);
        let next = tmp.take();
        assert_ne!(next, a);
        assert!(next.read_dir().unwrap().next().is_none());
    }

    #[test]
    fn a_folder_removed_and_made_again_is_watched_again() {
        let root = tempfile::tempdir().unwrap();
        let janitor = Janitor::start();
        let mut tmp = TmpDirs::new(root.path().to_path_buf());
        let a = tmp.take();
        std::fs::remove_dir(&a).unwrap();
        std::fs::create_dir(&a).unwrap();
        tmp.passed(a.clone());
        tmp.check(4, &janitor);
        assert_eq!(tmp.take(), a);
        std::fs::write(a.join("f"), b"x").unwrap();
        tmp.passed(a.clone());
        tmp.check(4, &janitor);
        assert_ne!(tmp.take(), a);
    }
}
