//! A `redis-server` of a test's own on a free loopback port (`PTEST_TEST_REDIS`, else
//! `redis-server` on the PATH; `.ci/run` installs it), stopped when dropped. Without a server
//! the tests fail under CI and say "skipped" elsewhere. Shared by the CLI tests (`mod
//! redis_server` in main.rs) and the queue's unit tests (`src/queue/tests.rs` includes this
//! file by path): std and tempfile only.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Redis {
    pub child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Start one (extra server `args`), or `None` after saying why when there is none and CI
    /// is not set.
    pub(crate) fn start(args: &[&str]) -> Option<Redis> {
        let bin = std::env::var_os("PTEST_TEST_REDIS").unwrap_or_else(|| "redis-server".into());
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..20 {
            let port = free_port();
            let child = Command::new(&bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--dir"])
                .arg(dir.path())
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let Ok(mut child) = child else {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "no redis-server: set PTEST_TEST_REDIS or run .ci/run (it installs it)"
                );
                eprintln!("skipped: no redis-server (set PTEST_TEST_REDIS)");
                return None;
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken meanwhile: another one
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Redis {
                        child,
                        port,
                        _dir: dir,
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
