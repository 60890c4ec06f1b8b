//! The terminal: the live view under a real terminal (tmux, and `script` for the raw bytes)
//! with double-width names in 60 columns; plain lines whenever CI is set; the 30-s "still
//! running" line off a terminal; `plan` in units without durations; header and summary
//! counting alike; a summary that says what its wall time paid for, never a speedup.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::Project;

const WIDE: &str = r#"
for i = 1, 6 do
  ptest.suite { name = "データベース統合テスト長い名前" .. i, cmd = "sleep 1.2" }
end
ptest.suite { name = "short", cmd = "sleep 0.5" }
"#;

fn wait_for(path: &std::path::Path, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} did not appear",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Display columns, counting the CJK characters used here as two.
fn columns(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if ('\u{3000}'..='\u{9fff}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn live_view_in_60_columns_with_wide_names_leaves_no_stale_lines() {
    let Some(tmux) = crate::tools::find("PTEST_TEST_TMUX", &["tmux"], "the live view test") else {
        return;
    };
    let p = Project::new(WIDE);
    let socket = format!("ptest-test-{}", std::process::id());
    // Inside the pane, `script` gives ptest a terminal of the pane's size and keeps the bytes.
    let inner = format!(
        "cd '{}' && env -u CI -u GITHUB_ACTIONS -u NO_COLOR TERM=xterm script -qec '{} -j 3' raw.txt; touch done; sleep 60",
        p.path().display(),
        env!("CARGO_BIN_EXE_ptest")
    );
    let status = Command::new(&tmux)
        .args([
            "-L",
            &socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "60",
            "-y",
            "50",
        ])
        .arg(&inner)
        .status()
        .unwrap();
    assert!(status.success());
    let kill = || {
        let _ = Command::new(&tmux)
            .args(["-L", &socket, "kill-server"])
            .status();
    };
    if std::panic::catch_unwind(|| wait_for(&p.join("done"), 120)).is_err() {
        kill();
        panic!("the run in tmux did not end");
    }
    let screen = Command::new(&tmux)
        .args(["-L", &socket, "capture-pane", "-p", "-S", "-200"])
        .output()
        .unwrap();
    kill();
    let screen = String::from_utf8_lossy(&screen.stdout).into_owned();
    assert!(screen.contains("Summary: 7 suites: 7 passed"), "{screen}");
    // What stays on screen: the event lines and the summary, no leftover status line.
    for line in screen.lines() {
        assert!(
            !line.contains("[#") && !line.contains("[.") && !line.contains("running "),
            "a stale status line:\n{line}\nin:\n{screen}"
        );
    }
    // Every status line drawn fits in 59 columns (wide characters count two).
    let raw = String::from_utf8_lossy(&std::fs::read(p.join("raw.txt")).unwrap()).into_owned();
    let mut drawn = 0;
    for part in raw.split("\r\x1b[2K").skip(1) {
        // The status line is what follows the last event line of this write.
        let status = part.rsplit('\n').next().unwrap_or("");
        let status = status.split('\r').next().unwrap_or("");
        let plain: String = strip(status);
        if plain.starts_with('[') {
            drawn += 1;
            assert!(
                columns(&plain) <= 59,
                "{} columns: {plain}",
                columns(&plain)
            );
        }
    }
    assert!(drawn > 3, "the status line was drawn: {raw:?}");
}

/// Without colour codes (ESC [ ... letter).
fn strip(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn with_ci_set_a_terminal_gets_plain_lines() {
    let p = Project::new(WIDE);
    let out = crate::harness::run(
        Command::new("script")
            .current_dir(p.path())
            .env("CI", "true")
            .env("TERM", "xterm")
            .args([
                "-qec",
                &format!("{} -j 3", env!("CARGO_BIN_EXE_ptest")),
                "/dev/null",
            ]),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        strip(&out.stdout).contains("Summary: 7 suites"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("\x1b[2K"),
        "no status line: {:?}",
        out.stdout
    );
    assert!(!out.stdout.contains("[#"), "{:?}", out.stdout);
}

#[test]
fn off_a_terminal_a_line_names_what_still_runs() {
    let p = Project::new(
        r#"
ptest.suite { name = "long", cmd = "sleep 2" }
ptest.suite { name = "longer", cmd = "sleep 2.5" }
"#,
    );
    let out = p.run_env(&["-j", "2"], &[("PTEST_STILL_RUNNING_SECS", "0.5")]);
    assert_eq!(out.code, 0);
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("still running: "))
        .collect();
    assert!(lines.len() >= 2, "{}", out.stdout);
    assert!(
        lines[0].starts_with("still running: long (") && lines[0].contains(", longer ("),
        "{}",
        lines[0]
    );
    // Not with -q.
    let out = p.run_env(&["-q", "-j", "2"], &[("PTEST_STILL_RUNNING_SECS", "0.5")]);
    assert!(!out.stdout.contains("still running"), "{}", out.stdout);
}

#[test]
fn plan_without_durations_speaks_of_units() {
    let p = Project::new(
        r#"
ptest.suite { name = "a", cmd = "true" }
ptest.suite { name = "b", cmd = "true", depends_on = { "a" } }
"#,
    );
    let out = p.run(&["plan"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("  path 2 units\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains("  path 1 unit  after a\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("expected work 2 units; longest chain 2 units;"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("path 2.0s"), "{}", out.stdout);
}

#[test]
fn header_and_summary_count_the_same_suites() {
    let p = Project::new(
        r#"
ptest.suite { name = "a", cmd = "true" }
ptest.suite { name = "b", cmd = "true" }
ptest.suite { name = "off", cmd = "true", enabled = false }
"#,
    );
    let out = p.run(&["-j", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(
            "ptest: 3 suites, 2 to run (default 2), 1 skipped (disabled), 1 worker (--jobs)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Summary: 3 suites: 2 passed, 1 skipped"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_interrupted_run_says_so_and_claims_no_speedup() {
    let p = Project::new(
        r#"
ptest.suite { name = "a", cmd = "touch started; sleep 30" }
ptest.suite { name = "b", cmd = "sleep 30" }
"#,
    );
    let child = p
        .cmd()
        .args(["-j", "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&p.join("started"), 60);
    std::thread::sleep(Duration::from_millis(200));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("\nInterrupted: running suites were cancelled, the rest skipped.\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("speedup"), "{stdout}");
}
