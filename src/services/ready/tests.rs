//! The readiness checks against real sockets and files on this machine, and the looking loop
//! in virtual time.

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A port nothing listens on: bound once, then closed.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn tcp_is_ready_when_a_connection_is_accepted() {
    rt().block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(tcp("127.0.0.1", port).await, Look::Ready);
        drop(l);
        let port = closed_port();
        match tcp("127.0.0.1", port).await {
            Look::NotYet(why) => assert!(
                why.starts_with(&format!("tcp 127.0.0.1:{port}: ")) && why.contains("refused"),
                "{why}"
            ),
            Look::Ready => panic!("nothing listens on {port}"),
        }
    });
}

/// A one-connection-at-a-time server that answers each request with `answer`, and counts
/// the requests it read (their first line).
async fn serve(answer: &'static str) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        let Ok((mut s, _)) = l.accept().await else {
            return seen;
        };
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        seen.push(String::from_utf8_lossy(&got).into_owned());
        let _ = s.write_all(answer.as_bytes()).await;
        seen
    });
    (port, task)
}

fn target(port: u16, path: &str) -> HttpTarget {
    HttpTarget {
        host: "127.0.0.1".into(),
        port,
        path: path.into(),
    }
}

#[test]
fn http_is_ready_on_a_2xx_status_only() {
    rt().block_on(async {
        let (port, server) = serve("HTTP/1.0 204 No Content\r\n\r\n").await;
        assert_eq!(http(&target(port, "/health?x=1")).await, Look::Ready);
        let request = server.await.unwrap().remove(0);
        assert!(
            request.starts_with("GET /health?x=1 HTTP/1.1\r\n")
                && request.contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")),
            "{request}"
        );

        let (port, _server) = serve("HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        assert_eq!(
            http(&target(port, "/up")).await,
            Look::NotYet(format!("http 127.0.0.1:{port}/up: status 503"))
        );

        let (port, _server) = serve("SSH-2.0-OpenSSH\r\n").await;
        assert_eq!(
            http(&target(port, "/")).await,
            Look::NotYet(format!(
                "http 127.0.0.1:{port}: not an HTTP answer: SSH-2.0-OpenSSH"
            ))
        );

        let (port, _server) = serve("").await;
        assert_eq!(
            http(&target(port, "/")).await,
            Look::NotYet(format!("http 127.0.0.1:{port}: closed without an answer"))
        );

        let port = closed_port();
        assert!(matches!(http(&target(port, "/")).await, Look::NotYet(w) if w.contains("refused")));
    });
}

#[test]
fn status_lines() {
    assert_eq!(status_of("HTTP/1.1 200 OK"), Some(200));
    assert_eq!(status_of("HTTP/1.0 302"), Some(302));
    assert_eq!(status_of("HTTP/2 200"), Some(200));
    assert_eq!(status_of("HTTP/1.1 2000 OK"), None);
    assert_eq!(status_of("ICY 200 OK"), None);
    assert_eq!(status_of(""), None);
}

#[test]
fn log_finds_the_text_once_written_even_split_across_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.log");
    let header = "=== ptest: service db ===\n";
    std::fs::write(&path, header).unwrap();
    let mut w = LogWatch::new(path.clone(), header.len() as u64, "ready to accept");
    assert!(matches!(w.look(), Look::NotYet(_)));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"starting\nready to ").unwrap();
    assert!(matches!(w.look(), Look::NotYet(_)));
    f.write_all(b"accept connections\n").unwrap();
    assert_eq!(w.look(), Look::Ready);
}

#[test]
fn log_does_not_count_the_header_or_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.log");
    let mut w = LogWatch::new(path.clone(), 22, "ptest");
    assert_eq!(
        w.look(),
        Look::NotYet("log: \"ptest\" not in its output yet".into())
    );
    std::fs::write(&path, "=== ptest: service ===\n").unwrap();
    assert!(
        matches!(w.look(), Look::NotYet(_)),
        "the header is not output"
    );
}

#[tokio::test(start_paused = true)]
async fn until_ready_looks_at_once_then_at_its_pace() {
    let start = Instant::now();
    let mut looks: Vec<Duration> = Vec::new();
    let result = until_ready(
        |_| {
            looks.push(Instant::now() - start);
            let n = looks.len();
            async move {
                if n < 4 {
                    Look::NotYet(format!("look {n}"))
                } else {
                    Look::Ready
                }
            }
        },
        Pace {
            fixed: None,
            cheap: true,
        },
        start + Duration::from_secs(10),
    )
    .await;
    assert_eq!(result, Ok(()));
    let ms: Vec<u128> = looks.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn until_ready_gives_up_at_the_deadline_with_the_last_reason() {
    let start = Instant::now();
    let mut n = 0;
    let result = until_ready(
        |_| {
            n += 1;
            let n = n;
            async move { Look::NotYet(format!("refused {n}")) }
        },
        Pace {
            fixed: Some(Duration::from_millis(300)),
            cheap: true,
        },
        start + Duration::from_secs(1),
    )
    .await;
    assert_eq!(result, Err("refused 4".to_owned()));
    assert_eq!(Instant::now() - start, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_look_that_hangs_is_cut_at_the_deadline() {
    let start = Instant::now();
    let result = until_ready(
        |_| std::future::pending::<Look>(),
        Pace {
            fixed: None,
            cheap: false,
        },
        start + Duration::from_secs(2),
    )
    .await;
    assert_eq!(result, Err("no answer within 2.0s".to_owned()));
}

#[test]
fn the_pace_slows_down_and_a_fixed_interval_wins() {
    let cheap = Pace {
        fixed: None,
        cheap: true,
    };
    let s = Duration::from_secs;
    assert_eq!(cheap.after(s(0)), Duration::from_millis(1));
    assert_eq!(
        cheap.after(Duration::from_millis(500)),
        Duration::from_millis(2)
    );
    assert_eq!(cheap.after(s(2)), Duration::from_millis(10));
    assert_eq!(cheap.after(s(10)), Duration::from_millis(50));
    assert_eq!(cheap.after(s(60)), Duration::from_millis(100));
    let costly = Pace {
        fixed: None,
        cheap: false,
    };
    assert_eq!(costly.after(s(0)), Duration::from_millis(100));
    let fixed = Pace {
        fixed: Some(s(1)),
        cheap: true,
    };
    assert_eq!(fixed.after(s(0)), s(1));
}
