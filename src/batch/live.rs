//! What a part tells the run while it runs: each test as it ends, as a `test` line on
//! `PTEST_SOCKET` (DESIGN §5), for the live view, `--events` and a failure printed as it
//! happens. Used by `ptest libtest` and `ptest gotest`; the pytest preset's RUN speaks the same
//! line. Best effort: outside a run (no socket) or when the run stops answering, nothing is
//! said and the part goes on; the reports come from the results file either way.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use crate::record::Outcome;

/// The socket's longest line (a longer name is not said: the run would drop the connection).
const MAX_LINE: usize = 4096;

/// Lines are gathered for at most this long (a failure is sent at once, with what waits): a
/// line per test would cost a wake-up of ptest per test.
const GATHER: std::time::Duration = std::time::Duration::from_millis(200);

/// One connection to the run, for one part.
pub(crate) struct Live {
    stream: Option<UnixStream>,
    suite: String,
    /// Lines said that the run has not answered yet.
    unanswered: usize,
    /// Lines not sent yet, and since when.
    pending: Vec<u8>,
    since: Option<std::time::Instant>,
}

impl Live {
    /// Connected to the run's socket when this process runs as a suite of it.
    pub(crate) fn connect() -> Live {
        let suite = std::env::var("PTEST_SUITE").unwrap_or_default();
        let stream = std::env::var_os("PTEST_SOCKET")
            .filter(|p| !p.is_empty() && !suite.is_empty())
            .and_then(|p| UnixStream::connect(p).ok())
            .filter(|s| s.set_nonblocking(false).is_ok());
        Live {
            stream,
            suite,
            unanswered: 0,
            pending: Vec::new(),
            since: None,
        }
    }

    /// Saying nothing.
    #[cfg(test)]
    pub(crate) fn off() -> Live {
        Live {
            stream: None,
            suite: String::new(),
            unanswered: 0,
            pending: Vec::new(),
            since: None,
        }
    }

    /// A test ended: `test OUTCOME SUITE<TAB>NAME`, sent at once for a failure, else with the
    /// next failure or once [`GATHER`] has passed since the first line waiting.
    pub(crate) fn ended(&mut self, outcome: Outcome, name: &str) {
        if self.stream.is_none() {
            return;
        }
        let line = format!(
            "test {} {}\t{}\n",
            outcome.label(),
            self.suite,
            name.replace(['\n', '\r'], " ")
        );
        if line.len() > MAX_LINE {
            return;
        }
        let now = std::time::Instant::now();
        let since = *self.since.get_or_insert(now);
        self.pending.extend_from_slice(line.as_bytes());
        if outcome.is_failure()
            || now.duration_since(since) >= GATHER
            || self.pending.len() > 64 * 1024
        {
            self.flush();
        }
    }

    /// Send what waits. The run's `ok`s are read as they come (never waited for), so that they
    /// never fill the socket.
    pub(crate) fn flush(&mut self) {
        self.since = None;
        let data = std::mem::take(&mut self.pending);
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        if data.is_empty() {
            return;
        }
        if s.write_all(&data).is_err() {
            self.stream = None;
            return;
        }
        self.unanswered += newlines(&data);
        self.unanswered = self.unanswered.saturating_sub(drain(s));
    }

    /// The part is about to end: send what waits, and wait for the run's last answers (see
    /// `Drop`). Called before a part may end by a signal, when no destructor runs.
    pub(crate) fn finish(&mut self) {
        self.flush();
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let deadline = std::time::Instant::now() + LAST_ANSWERS;
        let mut buf = [0u8; 4096];
        while self.unanswered > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let lines = newlines(&buf[..n]);
                    self.unanswered = self.unanswered.saturating_sub(lines);
                }
            }
        }
    }
}

/// How long a part waits, when it ends, for the run to take the tests it said last.
const LAST_ANSWERS: std::time::Duration = std::time::Duration::from_secs(2);

impl Drop for Live {
    /// The run answers a line once it holds it: waiting for the last answers before the part
    /// ends means no test it said is lost when the part's end reaches the run first (the last
    /// tests of a binary went missing from --events under load). Bounded: a run that stopped
    /// answering costs at most [`LAST_ANSWERS`].
    fn drop(&mut self) {
        self.finish();
    }
}

/// How many answers (lines) `bytes` ends.
fn newlines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').count() - 1
}

/// Read what the run answered so far, without waiting; how many answers (lines) that was.
fn drain(s: &mut UnixStream) -> usize {
    let mut buf = [0u8; 4096];
    if s.set_nonblocking(true).is_err() {
        return 0;
    }
    let mut lines = 0;
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        lines += newlines(&buf[..n]);
    }
    let _ = s.set_nonblocking(false);
    lines
}
