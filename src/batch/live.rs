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

/// One connection to the run, for one part.
pub(crate) struct Live {
    stream: Option<UnixStream>,
    suite: String,
}

impl Live {
    /// Connected to the run's socket when this process runs as a suite of it.
    pub(crate) fn connect() -> Live {
        let suite = std::env::var("PTEST_SUITE").unwrap_or_default();
        let stream = std::env::var_os("PTEST_SOCKET")
            .filter(|p| !p.is_empty() && !suite.is_empty())
            .and_then(|p| UnixStream::connect(p).ok())
            .filter(|s| s.set_nonblocking(false).is_ok());
        Live { stream, suite }
    }

    /// Saying nothing.
    #[cfg(test)]
    pub(crate) fn off() -> Live {
        Live {
            stream: None,
            suite: String::new(),
        }
    }

    /// A test ended: `test OUTCOME SUITE<TAB>NAME`. The run's `ok`s are read as they come
    /// (never waited for), so that they never fill the socket.
    pub(crate) fn ended(&mut self, outcome: Outcome, name: &str) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let line = format!(
            "test {} {}\t{}\n",
            outcome.label(),
            self.suite,
            name.replace(['\n', '\r'], " ")
        );
        if line.len() > MAX_LINE {
            return;
        }
        if s.write_all(line.as_bytes()).is_err() {
            self.stream = None;
            return;
        }
        drain(s);
    }
}

/// Read what the run answered so far, without waiting.
fn drain(s: &mut UnixStream) {
    let mut buf = [0u8; 4096];
    if s.set_nonblocking(true).is_err() {
        return;
    }
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    let _ = s.set_nonblocking(false);
}
