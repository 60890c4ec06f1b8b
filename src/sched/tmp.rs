//! The attempts' temporary folders (`PTEST_TMPDIR`, `TMPDIR`): a fresh empty folder per attempt,
//! taken from a small pool of folders passed attempts left empty. Must not decide which attempt
//! passed or what a folder is called after a failure: the scheduler says so.
//!
//! Reusing an empty folder saves a mkdir and an rmdir per suite (both journaled on ext4). Finding
//! out whether a folder is still empty cost five system calls per suite through `read_dir`
//! (open, stat, two directory reads, close); `is_empty` takes three. An inotify watch on each
//! pooled folder took one read per look, but closing the inotify descriptor at the end of a run
//! waits for an RCU grace period: 15 ms added to every run, more than it saved.

use std::path::{Path, PathBuf};

use super::files::{Ahead, Janitor};

pub(super) struct TmpDirs {
    root: PathBuf,
    /// Folders made so far (names them).
    made: u64,
    /// Empty, ready for the next attempt.
    spare: Vec<PathBuf>,
    /// Passed attempts' folders not yet looked into.
    unchecked: Vec<PathBuf>,
    /// Empty folders the janitor makes at the start of the run, taken before making one here.
    ahead: Ahead,
}

impl TmpDirs {
    #[cfg(test)]
    pub(super) fn new(root: PathBuf) -> TmpDirs {
        TmpDirs::with_ahead(root, Ahead::default())
    }

    /// With the folders `ahead` names (`tmp-1` to `tmp-N`, however many are made so far) taken
    /// first; folders made here are numbered after them.
    pub(super) fn with_ahead(root: PathBuf, ahead: Ahead) -> TmpDirs {
        TmpDirs {
            root,
            made: ahead.planned() as u64,
            spare: Vec::new(),
            unchecked: Vec::new(),
            ahead,
        }
    }

    /// The folders made ahead and not taken, for the janitor to remove after it has made them all.
    pub(super) fn ahead(&self) -> Ahead {
        self.ahead.clone()
    }

    /// An empty folder for an attempt: a spare one, one made ahead, or a new one.
    pub(super) fn take(&mut self) -> PathBuf {
        if let Some(dir) = self.spare.pop().or_else(|| self.ahead.take()) {
            return dir;
        }
        self.made += 1;
        let dir = self.root.join(format!("tmp-{}", self.made));
        // A folder that cannot be made shows in the suite's own output when it uses it.
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    /// A passed attempt's folder: looked into at the next `check`.
    pub(super) fn passed(&mut self, dir: PathBuf) {
        self.unchecked.push(dir);
    }

    /// Passed attempts' folders: an empty one becomes a spare (at most `keep` of them), anything
    /// else is removed by the janitor, and so are spares beyond `keep`.
    pub(super) fn check(&mut self, keep: usize, janitor: &Janitor) {
        for dir in self.spare.drain(keep.min(self.spare.len())..) {
            janitor.remove(dir);
        }
        // Taken and put back, so the list keeps its capacity from one suite to the next.
        let mut unchecked = std::mem::take(&mut self.unchecked);
        for dir in unchecked.drain(..) {
            if self.spare.len() < keep && is_empty(&dir) {
                self.spare.push(dir);
            } else {
                janitor.remove(dir);
            }
        }
        self.unchecked = unchecked;
    }

    /// Every folder still held, for the janitor at the end of the run.
    pub(super) fn drain(&mut self) -> Vec<PathBuf> {
        let mut all = std::mem::take(&mut self.spare);
        all.append(&mut self.unchecked);
        all
    }
}

/// Whether `dir` is an empty folder: three system calls on Linux (`getdents64`), `readdir`
/// elsewhere.
fn is_empty(dir: &Path) -> bool {
    crate::os::is_empty_dir(dir)
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
    fn folders_made_ahead_come_first_in_order_and_new_ones_are_numbered_after_them() {
        let root = tempfile::tempdir().unwrap();
        let mut janitor = Janitor::start();
        let ahead = Ahead::new(3);
        let mut tmp = TmpDirs::with_ahead(root.path().to_path_buf(), ahead.clone());
        // None made yet: a folder of its own, numbered after the three planned.
        assert_eq!(tmp.take(), root.path().join("tmp-4"));
        ahead.make_all(root.path());
        assert_eq!(tmp.take(), root.path().join("tmp-1"));
        assert_eq!(tmp.take(), root.path().join("tmp-2"));
        // What no attempt took is removed by the janitor; taken ones stay with their attempts.
        janitor.remove_untaken(tmp.ahead());
        janitor.finish();
        assert!(!root.path().join("tmp-3").exists());
        assert!(root.path().join("tmp-2").is_dir() && root.path().join("tmp-4").is_dir());
    }

    #[test]
    fn emptiness_is_read_to_the_end() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        assert!(is_empty(dir));
        std::fs::create_dir(dir.join("sub")).unwrap();
        assert!(!is_empty(dir));
        std::fs::remove_dir(dir.join("sub")).unwrap();
        assert!(is_empty(dir));
        // Many entries, more than one read holds, then all but the last removed.
        for i in 0..2000 {
            std::fs::write(dir.join(format!("a-rather-long-file-name-{i:05}")), b"").unwrap();
        }
        assert!(!is_empty(dir));
        for i in 0..1999 {
            std::fs::remove_file(dir.join(format!("a-rather-long-file-name-{i:05}"))).unwrap();
        }
        assert!(!is_empty(dir));
        std::fs::remove_file(dir.join("a-rather-long-file-name-01999")).unwrap();
        assert!(is_empty(dir));
        assert!(!is_empty(&dir.join("missing")));
    }

    #[test]
    fn at_most_keep_spares_are_kept_and_the_rest_removed() {
        let root = tempfile::tempdir().unwrap();
        let mut janitor = Janitor::start();
        let mut tmp = TmpDirs::new(root.path().to_path_buf());
        let dirs: Vec<PathBuf> = (0..4).map(|_| tmp.take()).collect();
        for d in &dirs {
            tmp.passed(d.clone());
        }
        tmp.check(2, &janitor);
        // A smaller pool later drops spares beyond it too.
        tmp.check(1, &janitor);
        janitor.finish();
        let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.is_dir()).collect();
        assert_eq!(left, [&dirs[0]]);
        assert_eq!(tmp.take(), dirs[0]);
        // Nothing spare: a new folder, numbered after the ones made.
        assert_eq!(tmp.take(), root.path().join("tmp-5"));
    }

    #[test]
    fn a_folder_removed_by_its_attempt_is_not_handed_out_again() {
        let root = tempfile::tempdir().unwrap();
        let janitor = Janitor::start();
        let mut tmp = TmpDirs::new(root.path().to_path_buf());
        let gone = tmp.take();
        std::fs::remove_dir(&gone).unwrap();
        tmp.passed(gone.clone());
        tmp.check(4, &janitor);
        let next = tmp.take();
        assert_ne!(next, gone);
        assert!(next.is_dir());
    }

    #[test]
    fn drain_hands_over_every_folder_still_held() {
        let root = tempfile::tempdir().unwrap();
        let janitor = Janitor::start();
        let mut tmp = TmpDirs::new(root.path().to_path_buf());
        let (a, b) = (tmp.take(), tmp.take());
        tmp.passed(a.clone());
        tmp.check(4, &janitor);
        tmp.passed(b.clone());
        let mut all = tmp.drain();
        all.sort();
        assert_eq!(all, [a, b]);
        assert!(tmp.drain().is_empty());
    }
}
