//! The suite's log file — opened for append, the attempt's header line, its length — and the line
//! splitter `-v` uses (`follow` reads the logs back; `tail` reads an attempt's output back for
//! retry rules, hooks and reports). Must not spawn, signal or wait for processes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::exec::LogStart;

/// A line longer than this reaches the sink in pieces, so memory stays bounded whatever the process
/// writes (a 300 MB line without a newline included).
const MAX_LINE: usize = 64 * 1024;

/// Opens the log and writes `header` as its own line; returns the file, positioned after the
/// header, and the header's end (where this attempt's output starts). A later attempt appends.
///
/// The first attempt overwrites an earlier run's log in place and then cuts it after the header,
/// rather than opening it with `O_TRUNC`: truncating to nothing frees the file's blocks and, on
/// ext4, waits for their writeback to finish, which made the log the costliest part of starting
/// a short suite. The child's output continues from the shared offset, as `>` in a shell would.
pub(crate) fn open(path: &Path, header: &str, start: LogStart) -> Result<(File, u64), String> {
    let cannot = |err: io::Error| format!("cannot write log file {}: {err}", path.display());
    let open = |append: bool| {
        open_fresh(path, append)
            .map_err(|err| format!("cannot open log file {}: {err}", path.display()))
    };
    let mut line = Vec::with_capacity(header.len() + 1);
    line.extend_from_slice(header.as_bytes());
    line.push(b'\n');
    let (mut file, old_len) = match start {
        LogStart::Append => {
            let mut file = open(true)?;
            file.write_all(&line).map_err(cannot)?;
            let len = file.metadata().map_err(cannot)?.len();
            return Ok((file, len));
        }
        LogStart::Fresh(old_len) => (open(false)?, old_len),
    };
    file.write_all(&line).map_err(cannot)?;
    let old_len = match old_len {
        Some(len) => len,
        None => file.metadata().map_err(cannot)?.len(),
    };
    let start = line.len() as u64;
    if old_len > start {
        file.set_len(start).map_err(cannot)?;
    }
    Ok((file, start))
}

/// ptest's own note after the output in a log (why a suite failed without its own doing: a
/// service it needs ended): `title` as a line, then `body`, appended to the log or, with
/// `fresh`, in place of an earlier run's. Returns the byte range of the title and body.
pub(crate) fn append_note(
    path: &Path,
    title: &str,
    body: &[u8],
    fresh: bool,
) -> Result<(u64, u64), String> {
    let start = if fresh {
        LogStart::Fresh(None)
    } else {
        LogStart::Append
    };
    let (mut file, after_title) = open(path, title, start)?;
    let cannot = |err: io::Error| format!("cannot write log file {}: {err}", path.display());
    file.write_all(body).map_err(cannot)?;
    if !body.is_empty() && !body.ends_with(b"\n") {
        file.write_all(b"\n").map_err(cannot)?;
    }
    let end = file.metadata().map_err(cannot)?.len();
    Ok((after_title.saturating_sub(title.len() as u64 + 1), end))
}

/// Opens a log for writing, never through a symbolic link: a link planted where the log goes is
/// removed (the link, not what it points to) and a fresh file made in its place. A log folder
/// removed during the run is made again. Anything else that is not a regular file (a folder, a
/// FIFO) is an error, never waited on.
pub(crate) fn open_fresh(path: &Path, append: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut last = None;
    for _ in 0..4 {
        // O_NONBLOCK: a FIFO without a reader fails at once instead of blocking the scheduler.
        let opened = OpenOptions::new()
            .write(true)
            .append(append)
            .create(true)
            .custom_flags(crate::os::fs::NO_FOLLOW_NO_WAIT)
            .open(path);
        match opened {
            Ok(file) => return crate::os::fs::regular_and_blocking(file),
            Err(err) if crate::os::fs::is_link_refused(&err) => {
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                    std::fs::remove_file(path)?;
                }
                last = Some(err);
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let dir = path.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(dir)?;
                last = Some(err);
            }
            Err(err) => return Err(err),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound)))
}

/// Cuts a byte stream into lines without the newline; the bytes themselves are never changed.
#[derive(Default)]
pub(crate) struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub(super) fn feed(&mut self, mut chunk: &[u8], emit: &mut impl FnMut(&[u8])) {
        while let Some(newline) = chunk.iter().position(|&b| b == b'\n') {
            let line = &chunk[..newline];
            if self.partial.is_empty() {
                emit(line);
            } else {
                self.partial.extend_from_slice(line);
                emit(&self.partial);
                self.partial.clear();
            }
            chunk = &chunk[newline + 1..];
        }
        self.partial.extend_from_slice(chunk);
        if self.partial.len() >= MAX_LINE {
            emit(&self.partial);
            self.partial.clear();
        }
    }

    /// The last line, when the output did not end with a newline.
    pub(super) fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial);
            self.partial.clear();
        }
    }
}
