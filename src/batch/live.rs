//! What a part tells the run while it runs: each test as it ends, as a `test` line on
//! `PTEST_SOCKET` (DESIGN §5), for the live view, `--events` and a failure printed as it
//! happens; and a test that has run for a while as it runs (`test started`), for a per-test
//! `SLOW` and `test_timeout`. Used by `ptest libtest` and `ptest gotest`; the pytest preset's
//! RUN and the node preset's reporters speak the same lines. Outside a run (no socket) nothing
//! is said. A connection that cannot be made, or breaks, is made again (a few times over
//! [`RECONNECT`]'s waits) and what the run had not answered is sent again; when the channel
//! cannot be had the part says so, on stderr and in [`LOST`] in its `PTEST_TMPDIR`, which the
//! run turns into a warning (its per-test SLOW and test_timeout do not hold). The part goes on
//! either way; the reports come from the results file.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::record::Outcome;

/// The socket's longest line (a longer name is not said: the run would drop the connection).
const MAX_LINE: usize = 4096;

/// Lines are gathered for at most this long (a failure is sent at once, with what waits): a
/// line per test would cost a wake-up of ptest per test. A test still running this long after
/// it started is told as started (most tests end sooner, and cost no line for their start).
const GATHER: Duration = Duration::from_millis(200);

/// How long a part waits, when it ends, for the run to take the tests it said last.
const LAST_ANSWERS: Duration = Duration::from_secs(2);

/// The waits between the tries to connect, when a connect fails or the connection breaks
/// (6.55 s in all, as the node preset's reporters wait): a run under load, or a socket briefly
/// away, costs no line.
const RECONNECT: [u64; 10] = [50, 100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000];

/// The file in a part's `PTEST_TMPDIR` in which its live channel says why it was lost (a
/// reason a line), for the run to warn of it.
pub(crate) const LOST: &str = "ptest-live-lost";

/// Why the part whose temporary folder is `tmpdir` lost its live channel (its reasons, in
/// order, once each), if it did.
pub(crate) fn lost_in(tmpdir: &Path) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(crate::os::fs::NO_FOLLOW_NO_WAIT)
        .open(tmpdir.join(LOST))
        .ok()?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return None;
    }
    let mut text = String::new();
    let _ = file.take(4096).read_to_string(&mut text);
    let mut reasons: Vec<&str> = Vec::new();
    for r in text.lines().map(str::trim).filter(|r| !r.is_empty()) {
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    Some(if reasons.is_empty() {
        "no reason given".to_owned()
    } else {
        reasons.join("; ")
    })
}

/// Say that the live channel is lost, and why: on stderr (the part's log) and in [`LOST`].
fn say_lost(why: &str) {
    eprintln!(
        "ptest: live channel lost ({why}): its tests are not told as they run; per-test SLOW \
         and test_timeout are not enforced for this part"
    );
    if let Some(dir) = std::env::var_os("PTEST_TMPDIR").filter(|d| !d.is_empty()) {
        let line = format!("{}\n", why.replace(['\n', '\r'], " "));
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Path::new(&dir).join(LOST))
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}

/// A connection to the run's socket at `path`, tried again after each of [`RECONNECT`]'s
/// waits; why not, when none could be made.
fn connect_to(path: &std::ffi::OsStr) -> Result<UnixStream, String> {
    let mut waits = RECONNECT.iter();
    loop {
        let err = match UnixStream::connect(path) {
            Ok(s) => match s.set_nonblocking(false) {
                Ok(()) => return Ok(s),
                Err(e) => e,
            },
            Err(e) => e,
        };
        match waits.next() {
            Some(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            None => return Err(crate::io_message(&err)),
        }
    }
}

/// One connection to the run, for one part. A thread of its own sends what waits once it is
/// due, so a line never waits for the next test (a test that hangs included).
pub(crate) struct Live {
    shared: Option<Arc<Shared>>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    stream: Option<UnixStream>,
    /// The socket's path, to connect again when the connection breaks (none: a test's pair).
    path: Option<std::ffi::OsString>,
    /// Lines sent that the run has not answered yet, to send again on a new connection.
    sent: Vec<u8>,
    suite: String,
    /// Lines said that the run has not answered yet.
    unanswered: usize,
    /// Lines not sent yet, and since when.
    pending: Vec<u8>,
    since: Option<Instant>,
    /// Tests started and not ended: name, since when, whether their start was told.
    running: Vec<(String, Instant, bool)>,
    closed: bool,
    /// When the part's thread wakes next (`None`: when told): it is told only of what falls
    /// due sooner, so a quick test costs it no wake-up.
    wake_at: Option<Instant>,
}

impl Live {
    /// Connected to the run's socket when this process runs as a suite of it.
    pub(crate) fn connect() -> Live {
        let suite = std::env::var("PTEST_SUITE").unwrap_or_default();
        let Some(path) = std::env::var_os("PTEST_SOCKET").filter(|p| !p.is_empty()) else {
            return Live::off();
        };
        if suite.is_empty() {
            return Live::off();
        }
        match connect_to(&path) {
            Ok(stream) => {
                let live = Live::on(stream, suite);
                if let Some(mut st) = live.state() {
                    st.path = Some(path);
                }
                live
            }
            Err(why) => {
                say_lost(&why);
                Live::off()
            }
        }
    }

    /// Telling the run at the other end of `stream` about part `suite`.
    fn on(stream: UnixStream, suite: String) -> Live {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                stream: Some(stream),
                path: None,
                sent: Vec::new(),
                suite,
                unanswered: 0,
                pending: Vec::new(),
                since: None,
                running: Vec::new(),
                closed: false,
                wake_at: None,
            }),
            wake: Condvar::new(),
        });
        let theirs = Arc::clone(&shared);
        let ticker = std::thread::Builder::new()
            .name("ptest-live".into())
            .spawn(move || tick(&theirs))
            .ok();
        Live {
            shared: Some(shared),
            ticker,
        }
    }

    /// Saying nothing.
    pub(crate) fn off() -> Live {
        Live {
            shared: None,
            ticker: None,
        }
    }

    fn state(&self) -> Option<MutexGuard<'_, State>> {
        let s = self.shared.as_ref()?;
        Some(
            s.state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Wake the part's thread when `due` comes before it would wake.
    fn nudge(&self, st: &State, due: Option<Instant>) {
        let sooner = match (due, st.wake_at) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(d), Some(w)) => d < w,
        };
        if let (true, Some(s)) = (sooner, &self.shared) {
            s.wake.notify_one();
        }
    }

    /// A test started: told as `test started SUITE<TAB>NAME` once it has run for [`GATHER`]
    /// (with what waits), never when it ends sooner.
    pub(crate) fn started(&mut self, name: &str) {
        let Some(mut st) = self.state() else {
            return;
        };
        if st.stream.is_none() {
            return;
        }
        let now = Instant::now();
        st.running.push((name.to_owned(), now, false));
        self.nudge(&st, Some(now + GATHER));
    }

    /// A test ended: `test OUTCOME SUITE<TAB>NAME`, sent at once for a failure, else with the
    /// next failure or once [`GATHER`] has passed since the first line waiting.
    pub(crate) fn ended(&mut self, outcome: Outcome, name: &str) {
        let Some(mut st) = self.state() else {
            return;
        };
        if let Some(i) = st.running.iter().position(|(n, _, _)| n == name) {
            st.running.remove(i);
        }
        let now = Instant::now();
        st.say(outcome.label(), name, now);
        let since = st.since.unwrap_or(now);
        if outcome.is_failure()
            || now.duration_since(since) >= GATHER
            || st.pending.len() > 64 * 1024
        {
            st.flush();
        }
        let due = st.since.map(|s| s + GATHER);
        self.nudge(&st, due);
    }

    /// The part is about to end: send what waits, and wait for the run's last answers (see
    /// `Drop`). Called before a part may end by a signal, when no destructor runs.
    pub(crate) fn finish(&mut self) {
        let Some(mut st) = self.state() else {
            return;
        };
        st.closed = true;
        // The part's thread ends (once this lets go of the state), whatever follows.
        if let Some(s) = &self.shared {
            s.wake.notify_one();
        }
        st.flush();
        let unanswered = st.unanswered;
        let Some(s) = st.stream.as_mut() else {
            return;
        };
        let deadline = Instant::now() + LAST_ANSWERS;
        let mut buf = [0u8; 4096];
        let mut left_to_read = unanswered;
        while left_to_read > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => left_to_read = left_to_read.saturating_sub(newlines(&buf[..n])),
            }
        }
        st.answered(unanswered - left_to_read);
    }
}

impl State {
    fn say(&mut self, what: &str, name: &str, now: Instant) {
        if self.stream.is_none() {
            return;
        }
        let line = format!(
            "test {what} {}\t{}\n",
            self.suite,
            name.replace(['\n', '\r'], " ")
        );
        if line.len() > MAX_LINE {
            return;
        }
        self.since.get_or_insert(now);
        self.pending.extend_from_slice(line.as_bytes());
    }

    /// Send what waits. The run's `ok`s are read as they come (never waited for), so that they
    /// never fill the socket.
    fn flush(&mut self) {
        self.since = None;
        let data = std::mem::take(&mut self.pending);
        if data.is_empty() || self.stream.is_none() {
            return;
        }
        self.sent.extend_from_slice(&data);
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let mut written = s.write_all(&data);
        let mut resent = false;
        // A broken connection: a new one, and what the run had not answered sent again.
        while let Err(e) = written {
            let Some(path) = self.path.clone() else {
                self.lost(&crate::io_message(&e));
                return;
            };
            match connect_to(&path) {
                Ok(mut s) => {
                    written = s.write_all(&self.sent);
                    self.stream = Some(s);
                    resent = true;
                }
                Err(why) => {
                    self.lost(&why);
                    return;
                }
            }
        }
        if resent {
            self.unanswered = newlines(&self.sent);
        } else {
            self.unanswered += newlines(&data);
        }
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let answered = drain(s);
        self.answered(answered);
    }

    /// The run answered `n` more lines: they need not be sent again.
    fn answered(&mut self, n: usize) {
        self.unanswered = self.unanswered.saturating_sub(n);
        let mut cut = 0;
        for _ in 0..n {
            match self.sent[cut..].iter().position(|&b| b == b'\n') {
                Some(i) => cut += i + 1,
                None => {
                    cut = self.sent.len();
                    break;
                }
            }
        }
        self.sent.drain(..cut);
    }

    /// The channel cannot be had: said, and nothing more is sent.
    fn lost(&mut self, why: &str) {
        self.stream = None;
        self.sent.clear();
        say_lost(why);
    }

    /// Send what is due at `now`; when the next thing falls due.
    fn due(&mut self, now: Instant) -> Option<Instant> {
        let mut start_told = false;
        for i in 0..self.running.len() {
            let (name, since, told) = self.running[i].clone();
            if !told && now.duration_since(since) >= GATHER {
                self.running[i].2 = true;
                self.say("started", &name, now);
                start_told = true;
            }
        }
        if start_told || self.since.is_some_and(|s| now.duration_since(s) >= GATHER) {
            self.flush();
        }
        let next_start = self
            .running
            .iter()
            .filter(|(_, _, told)| !told)
            .map(|(_, since, _)| *since + GATHER)
            .min();
        [next_start, self.since.map(|s| s + GATHER)]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The part's clock: sends a waiting line or a long test's start once due, sleeping until then
/// (or until the part says more); ends with the part.
fn tick(shared: &Shared) {
    let mut st = shared
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        if st.closed || st.stream.is_none() {
            return;
        }
        let now = Instant::now();
        let next = st.due(now);
        st.wake_at = next;
        st = match next {
            Some(at) => {
                shared
                    .wake
                    .wait_timeout(st, at.saturating_duration_since(now))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
            }
            None => shared
                .wake
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        };
    }
}

impl Drop for Live {
    /// The run answers a line once it holds it: waiting for the last answers before the part
    /// ends means no test it said is lost when the part's end reaches the run first (the last
    /// tests of a binary went missing from --events under load). Bounded: a run that stopped
    /// answering costs at most [`LAST_ANSWERS`].
    fn drop(&mut self) {
        self.finish();
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The run's side: answers each line with `ok`, and hands on what it read as it comes.
    fn run_side(mut s: UnixStream) -> std::sync::mpsc::Receiver<String> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                if s.write_all(&b"ok\n".repeat(newlines(&buf[..n]))).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// What the run has read once it holds `until` (or after ten seconds).
    fn read_until(rx: &std::sync::mpsc::Receiver<String>, got: &mut String, until: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !got.contains(until) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(text) => got.push_str(&text),
                Err(_) => break,
            }
        }
    }

    #[test]
    fn a_long_test_is_told_as_started_and_a_short_one_only_as_ended() {
        let (mine, theirs) = UnixStream::pair().unwrap();
        let rx = run_side(theirs);
        let mut live = Live::on(mine, "py[1]".into());
        live.started("t.py::test_quick");
        live.ended(Outcome::Passed, "t.py::test_quick");
        live.started("t.py::test_long");
        // The part says nothing more while the test runs: its own thread tells the start, with
        // the line that waited.
        let mut got = String::new();
        read_until(&rx, &mut got, "started");
        assert_eq!(
            got,
            "test passed py[1]\tt.py::test_quick\ntest started py[1]\tt.py::test_long\n"
        );
        live.ended(Outcome::Failed, "t.py::test_long");
        read_until(&rx, &mut got, "failed");
        assert!(
            got.ends_with("test failed py[1]\tt.py::test_long\n"),
            "{got}"
        );
        drop(live);
    }

    #[test]
    fn a_broken_connection_is_made_again_and_what_was_said_is_sent_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let first = UnixStream::connect(&path).unwrap();
        // The run's end of the first connection goes away before the part says anything.
        drop(listener.accept().unwrap());
        let mut live = Live::on(first, "rust[1]".into());
        live.state().unwrap().path = Some(path.into_os_string());
        live.ended(Outcome::Failed, "it/one");
        let (theirs, _) = listener.accept().unwrap();
        let rx = run_side(theirs);
        let mut got = String::new();
        read_until(&rx, &mut got, "\n");
        assert_eq!(got, "test failed rust[1]\tit/one\n");
        drop(live);
    }

    #[test]
    fn a_lost_channel_s_reasons_are_read_once_each() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lost_in(dir.path()), None);
        std::fs::write(
            dir.path().join(LOST),
            "ENOENT\n\nENOENT\nthe run did not answer\n",
        )
        .unwrap();
        assert_eq!(
            lost_in(dir.path()).as_deref(),
            Some("ENOENT; the run did not answer")
        );
    }

    #[test]
    fn a_passed_test_is_sent_within_the_gathering_time_without_a_next_one() {
        let (mine, theirs) = UnixStream::pair().unwrap();
        let rx = run_side(theirs);
        let mut live = Live::on(mine, "rust[1]".into());
        live.ended(Outcome::Passed, "it/one");
        let mut got = String::new();
        read_until(&rx, &mut got, "\n");
        assert_eq!(got, "test passed rust[1]\tit/one\n");
        drop(live);
    }
}
