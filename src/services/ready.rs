//! Readiness checks (DESIGN §11): `tcp` (a connection is accepted), `http` (a GET answers
//! 2xx), `log` (a text appears in the service's output), each one look at a time, and the loop
//! that looks until one passes or the deadline comes. A `cmd` check is a process, which only
//! the executor starts: its looks are asked of the driver through the same loop.
//!
//! Must not touch: the plan's rules, the scheduler's state, processes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::plan::services::HttpTarget;

/// What one look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Look {
    Ready,
    /// Not yet, and why (`connection refused`, `HTTP 503`), for the message at the deadline.
    NotYet(String),
}

/// The most one look may take (a server that accepts and never answers).
const LOOK_MAX: Duration = Duration::from_secs(5);

/// How often to look: a fixed `interval`, or often at first (a local server is up within
/// milliseconds, and each millisecond of lag is the suites' wait) and less often later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub fixed: Option<Duration>,
    /// The default for a check that costs little (a connection, a read); a `cmd` starts a
    /// process each time, so its default is coarser.
    pub cheap: bool,
}

impl Pace {
    /// The wait before the next look, `elapsed` after the first.
    pub(crate) fn after(self, elapsed: Duration) -> Duration {
        if let Some(d) = self.fixed {
            return d;
        }
        if !self.cheap {
            return Duration::from_millis(100);
        }
        let ms = match elapsed.as_millis() {
            0..100 => 1,
            100..1_000 => 2,
            1_000..5_000 => 10,
            5_000..30_000 => 50,
            _ => 100,
        };
        Duration::from_millis(ms)
    }
}

/// Look until a look says ready (`Ok`) or `deadline` passes (`Err` with what the last look
/// found). The first look is at once.
pub(crate) async fn until_ready<F, Fut>(
    mut look: F,
    pace: Pace,
    deadline: Instant,
) -> Result<(), String>
where
    F: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = Look>,
{
    let first = Instant::now();
    let mut last = "never checked".to_owned();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(last);
        }
        let limit = (deadline - now).min(LOOK_MAX);
        match tokio::time::timeout(limit, look(limit)).await {
            Ok(Look::Ready) => return Ok(()),
            Ok(Look::NotYet(why)) => last = why,
            Err(_) => last = format!("no answer within {}", crate::duration::human(limit)),
        }
        let next = Instant::now() + pace.after(Instant::now() - first);
        tokio::time::sleep_until(next.min(deadline)).await;
    }
}

/// One `tcp` look: does `host:port` accept a connection?
pub(crate) async fn tcp(host: &str, port: u16) -> Look {
    match TcpStream::connect((host, port)).await {
        Ok(_) => Look::Ready,
        Err(e) => Look::NotYet(format!(
            "tcp {}: {}",
            show(host, port),
            crate::io_message(&e)
        )),
    }
}

fn show(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One `http` look: does a GET of the target answer with a 2xx status?
pub(crate) async fn http(t: &HttpTarget) -> Look {
    let at = show(&t.host, t.port);
    let mut stream = match TcpStream::connect((t.host.as_str(), t.port)).await {
        Ok(s) => s,
        Err(e) => return Look::NotYet(format!("http {at}: {}", crate::io_message(&e))),
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {at}\r\nUser-Agent: ptest\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        t.path
    );
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return Look::NotYet(format!("http {at}: {}", crate::io_message(&e)));
    }
    // Only the status line matters: read until its end (or 1 KiB, or the end of the answer).
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Look::NotYet(format!("http {at}: {}", crate::io_message(&e))),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("").trim();
    match status_of(line) {
        Some(code) if (200..300).contains(&code) => Look::Ready,
        Some(code) => Look::NotYet(format!("http {at}{}: status {code}", t.path)),
        None if line.is_empty() => Look::NotYet(format!("http {at}: closed without an answer")),
        None => Look::NotYet(format!("http {at}: not an HTTP answer: {line:.60}")),
    }
}

/// The status code of an HTTP status line (`HTTP/1.1 200 OK`).
fn status_of(line: &str) -> Option<u16> {
    let mut words = line.split_ascii_whitespace();
    let version = words.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = words.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// A `log` check: the text in the service's log, from where its output begins. Each look reads
/// only what was added since the last one.
pub(crate) struct LogWatch {
    path: PathBuf,
    file: Option<File>,
    /// Where the next read starts.
    offset: u64,
    needle: Vec<u8>,
    /// The end of what was read, as long as the needle less one byte: a needle split across
    /// two reads is still found.
    carry: Vec<u8>,
}

impl LogWatch {
    pub(crate) fn new(path: PathBuf, from: u64, needle: &str) -> LogWatch {
        LogWatch {
            path,
            file: None,
            offset: from,
            needle: needle.as_bytes().to_vec(),
            carry: Vec::new(),
        }
    }

    pub(crate) fn look(&mut self) -> Look {
        let not_yet = || {
            Look::NotYet(format!(
                "log: {:?} not in its output yet",
                String::from_utf8_lossy(&self.needle)
            ))
        };
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(f) => self.file = Some(f),
                Err(_) => return not_yet(),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return not_yet();
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return not_yet();
        }
        let mut chunk = Vec::new();
        // Bounded per look: a service that writes fast is read over several looks.
        if file.take(1 << 20).read_to_end(&mut chunk).is_err() {
            return not_yet();
        }
        self.offset += chunk.len() as u64;
        let mut hay = std::mem::take(&mut self.carry);
        hay.extend_from_slice(&chunk);
        if memchr::memmem::find(&hay, &self.needle).is_some() {
            return Look::Ready;
        }
        let keep = self.needle.len().saturating_sub(1).min(hay.len());
        self.carry = hay[hay.len() - keep..].to_vec();
        not_yet()
    }
}

#[cfg(test)]
mod tests;
