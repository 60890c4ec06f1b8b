//! `-v` without a descriptor per running suite: a process writes only its log file, as without
//! `-v`, and one thread follows every running attempt's log by offset (a `stat` per poll, and an
//! open, read and close only when the file grew), handing each complete line to the sink in the
//! order it was written. At an attempt's end its log is read to the end, the last line without a
//! newline included, before the attempt reports, so nothing it wrote is missing from `-v`.
//!
//! Must not spawn, signal or wait for processes, nor write logs.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::exec::LineSink;
use crate::exec::log::LineSplitter;

/// How often logs are looked at while some grew at the last look, and at most how long a quiet
/// one waits (the interval doubles while nothing grows). Lines reach the terminal within this.
const TICK_MIN: Duration = Duration::from_millis(20);
const TICK_MAX: Duration = Duration::from_millis(200);
/// The most read from one log per look, so that one chatty suite cannot hold up the others.
const SHARE: u64 = 1 << 20;
const CHUNK: usize = 64 * 1024;
/// At an attempt's end, how long a log that cannot be opened (no descriptor free) is tried again.
const FINISH_TRIES: u32 = 100;
const FINISH_PAUSE: Duration = Duration::from_millis(10);
/// The follower thread holds its buffers on the heap.
const STACK: usize = 256 * 1024;

/// The thread that follows logs; made at the first attempt `-v` follows. A clone is another
/// handle on the same thread.
#[derive(Clone)]
pub(crate) struct Follower {
    tx: mpsc::Sender<Msg>,
}

/// One attempt's side: what it asks of the follower at its end.
pub(crate) struct Followed {
    key: u64,
    tx: mpsc::Sender<Msg>,
}

enum Msg {
    Follow {
        key: u64,
        log: Log,
    },
    /// Read what the log holds now; answer whether there was anything new.
    Flush {
        key: u64,
        done: oneshot::Sender<bool>,
    },
    /// Read the rest, the last unfinished line included, and stop following.
    Finish {
        key: u64,
        done: oneshot::Sender<()>,
    },
}

/// One followed log.
struct Log {
    path: PathBuf,
    /// The file the process writes: a file put in its place later is not followed.
    id: Option<(u64, u64)>,
    offset: u64,
    prefix: String,
    sink: Arc<dyn LineSink>,
    lines: LineSplitter,
}

impl Follower {
    pub(crate) fn start() -> io::Result<Follower> {
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("ptest-follow".to_owned())
            .stack_size(STACK)
            .spawn(move || {
                crate::os::process::block_signals_in_this_thread();
                run(&rx);
            })?;
        Ok(Follower { tx })
    }

    /// Follow `path` from `from` (the attempt's first byte of output), each line to `sink`.
    pub(crate) fn follow(
        &self,
        key: u64,
        path: PathBuf,
        from: u64,
        prefix: String,
        sink: Arc<dyn LineSink>,
    ) -> Followed {
        let id = std::fs::symlink_metadata(&path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        let log = Log {
            path,
            id,
            offset: from,
            prefix,
            sink,
            lines: LineSplitter::default(),
        };
        let _ = self.tx.send(Msg::Follow { key, log });
        Followed {
            key,
            tx: self.tx.clone(),
        }
    }
}

impl Followed {
    /// Everything the log holds now has gone to the sink; true when some of it was new. `None`
    /// when the follower is gone.
    pub(crate) async fn flush(&self) -> Option<bool> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush {
                key: self.key,
                done,
            })
            .ok()?;
        rx.await.ok()
    }

    /// Reads the rest of the log to the sink and stops following it; resolves once that is done.
    pub(crate) fn finish(self) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Finish {
            key: self.key,
            done,
        });
        rx
    }
}

fn run(rx: &mpsc::Receiver<Msg>) {
    let mut logs: HashMap<u64, Log> = HashMap::new();
    let mut tick = TICK_MIN;
    let mut next = Instant::now() + tick;
    let mut buf = vec![0; CHUNK];
    let mut out = Batch::default();
    loop {
        let msg = if logs.is_empty() {
            match rx.recv() {
                Ok(msg) => Some(msg),
                Err(_) => return,
            }
        } else {
            match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        match msg {
            Some(Msg::Follow { key, log }) => {
                if logs.is_empty() {
                    tick = TICK_MIN;
                    next = Instant::now() + tick;
                }
                logs.insert(key, log);
            }
            Some(Msg::Flush { key, done }) => {
                let grew = logs
                    .get_mut(&key)
                    .is_some_and(|log| log.read(u64::MAX, 1, &mut buf, &mut out) > 0);
                let _ = done.send(grew);
            }
            Some(Msg::Finish { key, done }) => {
                if let Some(mut log) = logs.remove(&key) {
                    log.read(u64::MAX, FINISH_TRIES, &mut buf, &mut out);
                    log.lines.finish(&mut |line| out.push(line));
                    out.send(&log);
                }
                let _ = done.send(());
            }
            None => {}
        }
        if Instant::now() >= next {
            let grew = logs
                .values_mut()
                .fold(0, |n, log| n + log.read(SHARE, 1, &mut buf, &mut out));
            tick = if grew > 0 {
                TICK_MIN
            } else {
                (tick * 2).min(TICK_MAX)
            };
            next = Instant::now() + tick;
        }
    }
}

impl Log {
    /// Reads up to `most` new bytes to the sink (complete lines only); returns how many. A log
    /// that cannot be opened is tried `tries` times.
    fn read(&mut self, most: u64, tries: u32, buf: &mut [u8], out: &mut Batch) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(&self.path) else {
            return 0;
        };
        if !meta.is_file()
            || self.id.is_some_and(|id| id != (meta.dev(), meta.ino()))
            || meta.len() <= self.offset
        {
            return 0;
        }
        let Some(file) = open(&self.path, tries) else {
            return 0;
        };
        let mut total = 0;
        while total < most {
            let want = buf.len().min((most - total) as usize);
            match file.read_at(&mut buf[..want], self.offset) {
                Ok(0) => break,
                Ok(n) => {
                    self.offset += n as u64;
                    total += n as u64;
                    self.lines.feed(&buf[..n], &mut |line| out.push(line));
                    // Bounded memory whatever the process writes.
                    if out.text.len() >= CHUNK {
                        out.send(self);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        out.send(self);
        total
    }
}

/// Never through a link planted since, never waiting on a FIFO; out of descriptors, tried again.
fn open(path: &std::path::Path, tries: u32) -> Option<File> {
    for attempt in 0..tries {
        match OpenOptions::new()
            .read(true)
            .custom_flags(crate::os::fs::NO_FOLLOW_NO_WAIT)
            .open(path)
        {
            Ok(file) => return Some(file),
            Err(err) if crate::os::fs::is_out_of_descriptors(&err) && attempt + 1 < tries => {
                thread::sleep(FINISH_PAUSE);
            }
            Err(_) => return None,
        }
    }
    None
}

/// Complete lines gathered for one sink call.
#[derive(Default)]
struct Batch {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    fn push(&mut self, line: &[u8]) {
        self.text.extend_from_slice(line);
        self.ends.push(self.text.len());
    }

    fn send(&mut self, log: &Log) {
        if self.ends.is_empty() {
            return;
        }
        let mut lines = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            lines.push(&self.text[start..end]);
            start = end;
        }
        log.sink.lines(&log.prefix, &lines);
        self.text.clear();
        self.ends.clear();
    }
}
