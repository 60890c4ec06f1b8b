//! Reading back what an attempt wrote: the last bytes of a byte range of its log file, for retry
//! rules, hooks and reports. Never through a link planted since, never waiting on a FIFO, never
//! more than the bound asked for. Knows nothing of attempts or formats.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// How much of an attempt's output retry rules and hooks see.
pub(crate) const OUTPUT_TAIL: u64 = 64 * 1024;

/// The last `OUTPUT_TAIL` bytes of `[start, end)` of a log file.
pub(crate) fn read_tail(path: &Path, start: u64, end: u64) -> Vec<u8> {
    read_last(path, start, end, OUTPUT_TAIL)
}

/// The last `max` bytes of `[start, end)` of a log file; empty when it cannot be read as a
/// regular file.
pub(crate) fn read_last(path: &Path, start: u64, end: u64, max: u64) -> Vec<u8> {
    let from = start.max(end.saturating_sub(max));
    let mut buf = Vec::new();
    // Never through a link planted since, never waiting on a FIFO.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(crate::os::fs::NO_FOLLOW_NO_WAIT)
        .open(path);
    let regular = opened.and_then(|f| {
        if f.metadata()?.is_file() {
            Ok(f)
        } else {
            Err(io::Error::other("not a regular file"))
        }
    });
    if let Ok(mut f) = regular {
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.take(end.saturating_sub(from)).read_to_end(&mut buf);
        }
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_tail_keeps_the_last_bytes_of_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut bytes = b"header\n".to_vec();
        bytes.extend((0..OUTPUT_TAIL + 10).map(|i| b'a' + (i % 26) as u8));
        bytes.extend(b"next attempt");
        std::fs::write(&path, &bytes).unwrap();
        let end = bytes.len() as u64 - 12;
        let tail = read_tail(&path, 7, end);
        assert_eq!(tail.len() as u64, OUTPUT_TAIL);
        assert_eq!(
            &tail[..],
            &bytes[(end - OUTPUT_TAIL) as usize..end as usize]
        );
        assert_eq!(read_tail(&path, 0, 6), b"header");
        assert!(read_tail(&dir.path().join("missing"), 0, 10).is_empty());
    }
}
