//! The file calls std lacks, as flags and small functions: opening never through a symbolic
//! link and never waiting on a FIFO, and a descriptor made blocking again for the children that
//! inherit it. (Swapping two files and reading a folder quickly differ between systems: those
//! are in `os` itself.) Must not know what the files hold.

use std::fs::File;
use std::io;

/// For `OpenOptionsExt::custom_flags`: never through a symbolic link (ELOOP instead), and closed
/// on exec.
pub(crate) const NO_FOLLOW: i32 = libc::O_NOFOLLOW | libc::O_CLOEXEC;

/// [`NO_FOLLOW`], and a FIFO fails or returns at once instead of blocking the thread.
pub(crate) const NO_FOLLOW_NO_WAIT: i32 = NO_FOLLOW | libc::O_NONBLOCK;

/// Whether an open failed because the last part of the path is a symbolic link (`NO_FOLLOW`).
pub(crate) fn is_link_refused(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ELOOP)
}

/// Whether the process (EMFILE) or the system (ENFILE) has no descriptor left.
pub(crate) fn is_out_of_descriptors(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// `file` if it is a regular file, without the `O_NONBLOCK` it was opened with (children
/// inherit the flag with the descriptor).
pub(crate) fn regular_and_blocking(file: File) -> io::Result<File> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fstat writes one `stat` into memory we own; fcntl changes only our descriptor's
    // flags.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &raw mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(io::Error::other("not a regular file"));
        }
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::os::unix::fs::OpenOptionsExt;

    #[test]
    fn a_link_is_refused_and_a_fifo_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = OpenOptions::new()
            .read(true)
            .custom_flags(NO_FOLLOW)
            .open(&link)
            .unwrap_err();
        assert!(is_link_refused(&err), "{err}");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(NO_FOLLOW_NO_WAIT)
            .open(&fifo)
            .unwrap();
        assert!(regular_and_blocking(f).is_err());
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(NO_FOLLOW_NO_WAIT)
            .open(&target)
            .unwrap();
        let f = regular_and_blocking(f).unwrap();
        let flags = rustix::fs::fcntl_getfl(&f).unwrap();
        assert!(!flags.contains(rustix::fs::OFlags::NONBLOCK));
    }
}
