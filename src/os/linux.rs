//! Linux's fast paths behind the platform seam, other than starting processes (`clone`,
//! `child`): the child subreaper, SIGCHLD from a signalfd,
//! `pipe2`, `getdents64`, `renameat2(RENAME_EXCHANGE)`, `SCHED_IDLE` and `posix_fadvise`.
//! Must not know about attempts, logs or the plan.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

pub(super) fn become_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(super) fn pipe() -> io::Result<(File, File)> {
    let mut fds: [libc::c_int; 2] = [-1, -1];
    // SAFETY: pipe2 writes two new descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just created both descriptors; nothing else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(read), File::from(write)))
}

/// SIGCHLD, blocked in the reaper's thread and read from a signalfd: the end of a child then
/// costs one read, where a signal handler costs the signal's delivery and return, a write to
/// tokio's pipe and two reads from it (together about 5 % of ptest's own time with 2,000 short
/// suites).
pub(crate) struct ChildSignals(AsyncFd<OwnedFd>);

impl ChildSignals {
    /// Blocks SIGCHLD in this thread and opens a signalfd for it; on failure leaves it unblocked.
    pub(super) fn open() -> io::Result<ChildSignals> {
        let set = child_signal();
        // SAFETY: changes only this thread's mask; signalfd reads our set and returns a new
        // descriptor or -1.
        let fd = unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
            libc::signalfd(-1, &raw const set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC)
        };
        let unblock = || {
            // SAFETY: changes only this thread's mask.
            unsafe {
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const set, std::ptr::null_mut())
            };
        };
        if fd < 0 {
            let err = io::Error::last_os_error();
            unblock();
            return Err(err);
        }
        // SAFETY: a descriptor just returned to us, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an OwnedFd keeps its one descriptor open, unchanged, until it is dropped with
        // the AsyncFd.
        match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
            Ok(fd) => Ok(ChildSignals(fd)),
            Err(err) => {
                unblock();
                Err(io::Error::from(err))
            }
        }
    }

    /// Until a SIGCHLD is pending; then takes every pending one.
    pub(crate) async fn next(&self) -> io::Result<()> {
        let mut guard = self.0.readable().await?;
        drain(guard.get_inner());
        guard.clear_ready();
        Ok(())
    }
}

/// The set holding SIGCHLD alone.
fn child_signal() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; these calls write only into it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGCHLD);
        set
    }
}

/// Takes every pending SIGCHLD off the signalfd. At most two can be pending (one for this
/// thread, one for the process), so one read usually empties it.
fn drain(fd: &OwnedFd) {
    // SAFETY: signalfd_siginfo is plain data.
    let mut infos: [libc::signalfd_siginfo; 4] = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of_val(&infos);
    loop {
        // SAFETY: reads into our own buffer, at most its size.
        let n = unsafe { libc::read(fd.as_raw_fd(), infos.as_mut_ptr().cast(), size) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // Short, empty (EAGAIN) or failed: nothing more to take now.
        if usize::try_from(n).map_or(true, |n| n < size) {
            return;
        }
    }
}

/// One directory read answers when it returns only `.` and `..` with most of the buffer to
/// spare: every Linux file system fills the buffer as far as the folder goes (ext4, xfs, btrfs,
/// tmpfs, NFS); otherwise it reads on to the end. Three system calls, where `read_dir` takes
/// five (open, stat, two directory reads, close).
pub(super) fn is_empty_dir(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path; returns a new descriptor or -1.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    // SAFETY: a descriptor just returned to us, owned by nobody else; closed when dropped.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut buf = [0u64; 512];
    let size = std::mem::size_of_val(&buf);
    loop {
        // SAFETY: reads directory entries into our own buffer, at most its size.
        let n =
            unsafe { libc::syscall(libc::SYS_getdents64, fd.as_raw_fd(), buf.as_mut_ptr(), size) };
        let Ok(n) = usize::try_from(n) else {
            return false;
        };
        if n == 0 {
            return true;
        }
        // SAFETY: the kernel wrote `n` bytes of whole entries at the start of `buf`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        if !only_dots(bytes) {
            return false;
        }
        if n < size / 2 {
            return true;
        }
    }
}

/// Whether the `linux_dirent64` records in `bytes` are all `.` or `..`.
fn only_dots(bytes: &[u8]) -> bool {
    // d_ino (8), d_off (8), d_reclen (2), d_type (1), then the NUL-terminated name.
    const NAME: usize = 19;
    let mut at = 0;
    while at + NAME <= bytes.len() {
        let reclen = usize::from(u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]));
        if reclen == 0 || at + reclen > bytes.len() {
            return false;
        }
        let name = &bytes[at + NAME..at + reclen];
        let name = name.split(|&b| b == 0).next().unwrap_or(name);
        if name != b"." && name != b".." {
            return false;
        }
        at += reclen;
    }
    true
}

/// `renameat2` with `RENAME_EXCHANGE`. Renaming over an existing file makes ext4 write the new
/// one out first and frees the old one's blocks on the spot, a quarter of a millisecond at the
/// end of every run; a swap does neither. (A crash right after a run can then leave the new
/// report empty, where ext4 would usually have kept its data: a report is read right after its
/// run.)
pub(super) fn exchange(new: &Path, path: &Path) -> io::Result<bool> {
    let (Ok(new), Ok(old)) = (
        CString::new(new.as_os_str().as_bytes()),
        CString::new(path.as_os_str().as_bytes()),
    ) else {
        return Ok(false);
    };
    // SAFETY: two NUL-terminated paths that live across the call; renameat2 touches no memory
    // of ours otherwise.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            new.as_ptr(),
            libc::AT_FDCWD,
            old.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // No earlier file, or no swap here (an older kernel, a file system without it).
        Some(libc::ENOENT | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(err),
    }
}

pub(super) fn run_this_thread_when_idle() {
    // SAFETY: sched_param is plain data; this changes only this thread's policy.
    unsafe {
        let param: libc::sched_param = std::mem::zeroed();
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param);
    }
}

pub(super) fn read_ahead(file: &File) {
    // SAFETY: advice on a descriptor the caller owns; it reads nothing into our memory.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 4096, libc::POSIX_FADV_WILLNEED);
    }
}
