//! The coordinator socket (`PTEST_SOCKET`, DESIGN §5): test processes share the run's limiters
//! through it. One line each way: `acquire <limiter> [permits]` → `ok` once granted;
//! `throttled <limiter> [retry_after_seconds]` → `ok`; `test <outcome> <suite>\t<name>` (a
//! batch part's test ended: passed, failed, error or skipped; or `started`: it has been running
//! for a while) → `ok`, handed to the run as a [`TestLine`]; `claim <suite>\t<item>` (a batch
//! part is about to run one of its items) → `ok`, or `no` when the item was handed on to
//! another part (DESIGN §9); anything else → `err <reason>`, and the connection stays open. A connection's
//! task only reads and writes lines: each request goes to the run's core as a [`Request`] and
//! is answered by it, so no state of the run changes here. Also the client side, for
//! `ptest acquire`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::plan::LimiterId;
use crate::sched::core::{Answer, RequestId};

/// The longest request line: a client that sends more without a newline is told so and dropped,
/// so no client can make ptest hold an unbounded line.
pub(crate) const MAX_LINE: usize = 4096;

const USAGE: &str = "err expected \"acquire LIMITER [PERMITS]\", \"throttled LIMITER [RETRY_AFTER_SECONDS]\", \"test OUTCOME SUITE<TAB>NAME\" or \"claim SUITE<TAB>ITEM\"";

/// Test lines waiting for the run: past this many, a part's connection waits (and so does the
/// part, once its socket buffer is full) until the run has taken some.
pub(crate) const TEST_LINES: usize = 4096;

/// A batch part said one of its tests ended (`test OUTCOME SUITE<TAB>NAME`), or is running
/// (`test started SUITE<TAB>NAME`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TestLine {
    pub suite: String,
    pub name: String,
    /// `None`: started (told once it has run for a while, for per-test SLOW and timeouts).
    pub outcome: Option<crate::record::Outcome>,
}

/// `passed failed error skipped started` and the rest of a `test` line.
fn test_line(rest: &str) -> Result<TestLine, String> {
    let rest = rest.trim_end_matches(['\n', '\r']);
    let (outcome, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let outcome = match outcome {
        "passed" => Some(crate::record::Outcome::Passed),
        "failed" => Some(crate::record::Outcome::Failed),
        "error" => Some(crate::record::Outcome::Error),
        "skipped" => Some(crate::record::Outcome::Skipped),
        "started" => None,
        other => {
            return Err(format!(
                "err outcome must be passed, failed, error, skipped or started, got \"{other}\""
            ));
        }
    };
    match rest.split_once('\t') {
        Some((suite, name)) if !suite.is_empty() && !name.is_empty() => Ok(TestLine {
            suite: suite.to_owned(),
            name: name.to_owned(),
            outcome,
        }),
        _ => Err("err expected \"test OUTCOME SUITE<TAB>NAME\"".into()),
    }
}

const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(250);

/// What a test process asks of the run's limiters, for the core to answer.
#[derive(Debug)]
pub(crate) struct Request {
    pub id: RequestId,
    pub asked: Asked,
    /// Where the core's answer goes (none for [`Asked::Gone`]).
    pub reply: Option<oneshot::Sender<Answer>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Asked {
    Acquire {
        limiter: LimiterId,
        permits: u32,
    },
    Throttled {
        limiter: LimiterId,
        retry_after: Option<Duration>,
    },
    /// The process waiting for an `acquire` hung up.
    Gone,
    /// `claim SUITE<TAB>ITEM`: may this batch part run this item?
    Claim {
        suite: String,
        item: String,
    },
}

/// What every connection shares: the limiters' names, the way to the core, request numbers.
#[derive(Clone)]
struct Desk {
    names: Arc<Vec<String>>,
    core: mpsc::UnboundedSender<Request>,
    next: Arc<AtomicU64>,
    /// Batch parts' tests as they end, for the run (bounded: a part waits while the run is
    /// behind).
    tests: mpsc::Sender<TestLine>,
}

impl Desk {
    /// Hand a request to the core; its answer, or `None` when the run no longer answers.
    fn ask(&self, asked: Asked) -> (RequestId, Option<oneshot::Receiver<Answer>>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let sent = self.core.send(Request {
            id,
            asked,
            reply: Some(tx),
        });
        (id, sent.ok().map(|()| rx))
    }

    fn gone(&self, id: RequestId) {
        let _ = self.core.send(Request {
            id,
            asked: Asked::Gone,
            reply: None,
        });
    }
}

/// The running socket server. Dropping it stops accepting; `stop` also says which file to remove.
pub(crate) struct Coordinator {
    pub path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

/// The socket `dir/coord.sock`, listening, in a folder that exists and only this user opens.
fn bind_in(dir: &Path) -> std::io::Result<(PathBuf, std::os::unix::net::UnixListener)> {
    let path = dir.join("coord.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    listener.set_nonblocking(true)?;
    Ok((path, listener))
}

/// The longest socket path every platform takes (`sun_path` holds 104 bytes on macOS, 108 on
/// Linux, the final NUL included).
const SOCKET_PATH_MAX: usize = 103;

/// [`listen`] in `root`, or, when that path would be too long for a socket (a long `TMPDIR`),
/// in a folder of its own under `/tmp` named after the run's folder, made 0700 by this call.
pub(crate) fn listen_somewhere(
    root: &Path,
) -> std::io::Result<(PathBuf, std::os::unix::net::UnixListener)> {
    use std::os::unix::ffi::OsStrExt;
    if root.join("coord.sock").as_os_str().as_bytes().len() <= SOCKET_PATH_MAX {
        return bind_in(root);
    }
    let name = root.file_name().unwrap_or_default();
    let short = Path::new("/tmp").join(name);
    // Made here, never one found: nobody else may have a say in the socket's folder.
    std::fs::DirBuilder::new().mode(0o700).create(&short)?;
    bind_in(&short)
}

impl Coordinator {
    /// Serves the limiters named `names` on a socket [`listen`] made, inside the runtime:
    /// every request goes to `core`.
    pub(crate) fn serve(
        path: PathBuf,
        listener: std::os::unix::net::UnixListener,
        names: Vec<String>,
        core: mpsc::UnboundedSender<Request>,
        tests: mpsc::Sender<TestLine>,
    ) -> std::io::Result<Coordinator> {
        let listener = UnixListener::from_std(listener)?;
        let desk = Desk {
            names: Arc::new(names),
            core,
            next: Arc::new(AtomicU64::new(0)),
            tests,
        };
        let task = tokio::spawn(async move {
            let mut backoff = ACCEPT_BACKOFF_MIN;
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        backoff = ACCEPT_BACKOFF_MIN;
                        tokio::spawn(serve(stream, desk.clone()));
                    }
                    // Out of descriptors (EMFILE, ENFILE) or memory: the connection waits in
                    // the backlog, and retrying at once would only spin. Connections ending
                    // free descriptors; the wait doubles up to a quarter of a second.
                    Err(_) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    }
                }
            }
        });
        Ok(Coordinator { path, task })
    }

    /// Stops accepting and returns the socket's path, for the caller to remove (off its thread:
    /// removing a file costs a journal update).
    pub(crate) fn stop(self) -> PathBuf {
        self.task.abort();
        self.path
    }
}

async fn serve(stream: UnixStream, desk: Desk) {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        match (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut bytes)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // A request that is not UTF-8 gets an answer that says so, not a silent hang-up.
        let line = String::from_utf8_lossy(&bytes);
        if line.len() > MAX_LINE && !line.ends_with('\n') {
            let _ = write.write_all(b"err line too long\n").await;
            return;
        }
        // A test's end goes to the run (waiting while the run is behind); no limiter.
        let reply = if let Some(rest) = line.strip_prefix("test ") {
            match test_line(rest) {
                Ok(t) => {
                    if desk.tests.send(t).await.is_err() {
                        return;
                    }
                    "ok".to_owned()
                }
                Err(e) => e,
            }
        // `None`: the client left while waiting, and takes no token.
        } else if let Some(reply) = handle(&line, &desk, &mut reader).await {
            reply
        } else {
            return;
        };
        if write
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// One request. `None` when the client disconnected while waiting.
async fn handle(
    line: &str,
    desk: &Desk,
    reader: &mut tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>,
) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let find = |name: &str| super::limits::find(&desk.names, name);
    let asked = match words.as_slice() {
        ["acquire", name, rest @ ..] if rest.len() <= 1 => {
            let permits = match rest.first().map(|p| p.parse::<u32>()) {
                None => 1,
                Some(Ok(n)) if n >= 1 => n,
                Some(_) => {
                    return Some(format!(
                        "err permits must be a positive integer, got \"{}\"",
                        rest[0]
                    ));
                }
            };
            match find(name) {
                Ok(limiter) => Asked::Acquire { limiter, permits },
                Err(e) => return Some(format!("err {e}")),
            }
        }
        ["throttled", name, rest @ ..] if rest.len() <= 1 => {
            let retry_after = match rest.first().map(|s| s.parse::<f64>()) {
                None => None,
                // Beyond what a Duration holds is beyond the cap the limiter applies anyway.
                Some(Ok(s)) if s.is_finite() && s >= 0.0 => {
                    Some(Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
                }
                Some(_) => {
                    return Some(format!(
                        "err retry_after must be a number of seconds, got \"{}\"",
                        rest[0]
                    ));
                }
            };
            match find(name) {
                Ok(limiter) => Asked::Throttled {
                    limiter,
                    retry_after,
                },
                Err(e) => return Some(format!("err {e}")),
            }
        }
        ["claim", ..] => {
            let rest = line.trim_start().strip_prefix("claim").unwrap_or_default();
            let rest = rest.trim_start_matches(' ');
            let rest = rest.trim_end_matches(['\n', '\r']);
            match rest.split_once('\t') {
                Some((suite, item)) if !suite.is_empty() && !item.is_empty() => Asked::Claim {
                    suite: suite.to_owned(),
                    item: item.to_owned(),
                },
                _ => return Some("err expected \"claim SUITE<TAB>ITEM\"".into()),
            }
        }
        _ => return Some(USAGE.into()),
    };
    let (id, answer) = desk.ask(asked.clone());
    let Some(mut answer) = answer else {
        return Some("err the run is ending".into());
    };
    // An `acquire` may wait long: a client that hangs up meanwhile takes no token.
    let mut client_may_leave = matches!(asked, Asked::Acquire { .. });
    let answer = loop {
        if !client_may_leave {
            break (&mut answer).await;
        }
        tokio::select! {
            a = &mut answer => break a,
            buf = reader.fill_buf() => match buf {
                Ok([]) | Err(_) => {
                    desk.gone(id);
                    return None;
                }
                // A pipelined request: keep it for later, stop watching.
                Ok(_) => client_may_leave = false,
            },
        }
    };
    Some(match answer {
        Ok(Ok(word)) => word.into(),
        Ok(Err(why)) => format!("err {why}"),
        Err(_) => "err the run is ending".into(),
    })
}

/// Why `ptest acquire` did not get its permits; each maps to an exit code.
#[derive(Debug)]
pub(crate) enum ClientError {
    /// Not inside a ptest run (exit 3).
    NoSocket,
    /// The limiter said no, or the socket failed (exit 2).
    Refused(String),
    /// `--timeout` passed (exit 4).
    TimedOut,
}

/// Ask the run's coordinator for `permits` of `limiter`, blocking until granted.
pub(crate) fn acquire(
    limiter: &str,
    permits: u32,
    timeout: Option<Duration>,
) -> Result<(), ClientError> {
    let Some(path) = std::env::var_os("PTEST_SOCKET").filter(|p| !p.is_empty()) else {
        return Err(ClientError::NoSocket);
    };
    let io = |e: std::io::Error| {
        ClientError::Refused(format!("coordinator socket: {}", crate::io_message(&e)))
    };
    let mut stream = std::os::unix::net::UnixStream::connect(&path).map_err(io)?;
    stream.set_read_timeout(timeout).map_err(io)?;
    stream
        .write_all(format!("acquire {limiter} {permits}\n").as_bytes())
        .map_err(io)?;
    let mut reply = String::new();
    match BufReader::new(&stream).read_line(&mut reply) {
        Ok(0) => Err(ClientError::Refused(
            "the coordinator closed the connection".into(),
        )),
        Ok(_) if reply.trim() == "ok" => Ok(()),
        Ok(_) => Err(ClientError::Refused(
            reply.trim().trim_start_matches("err ").to_owned(),
        )),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(ClientError::TimedOut)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    #[test]
    fn a_test_line_names_its_outcome_part_and_test() {
        assert_eq!(
            test_line("failed py[2]\ttests/a b.py::test_y[x\ty]\n"),
            Ok(TestLine {
                suite: "py[2]".into(),
                name: "tests/a b.py::test_y[x\ty]".into(),
                outcome: Some(Outcome::Failed),
            })
        );
        assert_eq!(
            test_line("skipped s\tn").unwrap().outcome,
            Some(Outcome::Skipped)
        );
        assert_eq!(
            test_line("error s\tn").unwrap().outcome,
            Some(Outcome::Error)
        );
        assert_eq!(test_line("started s\tn").unwrap().outcome, None);
        assert_eq!(
            test_line("ok s\tn").unwrap_err(),
            "err outcome must be passed, failed, error, skipped or started, got \"ok\""
        );
        for bad in ["passed", "passed s", "passed \tn", "passed s\t"] {
            assert_eq!(
                test_line(bad).unwrap_err(),
                "err expected \"test OUTCOME SUITE<TAB>NAME\"",
                "{bad}"
            );
        }
    }
}
