//! What is at the history's place, and around it, when it is not what ptest wrote (issue 25,
//! items 3, 7, 8): a FIFO, an 8 GB file without a newline, a link to a shared history or to
//! something else, temp files of a writer killed mid-write, a writers' lock held by another
//! process, and `merge --history -o` at a link. Each case stopped or failed every run before.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Output, Project};
use crate::probe::{signal, spawn, wait_exit, wait_until};

const ONE: &str = r#"ptest.suite { name = "a", cmd = "touch ran" }"#;

fn history_at(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("history is JSON")
}

fn runs_of(path: &Path, name: &str) -> usize {
    history_at(path)["suites"][name]["runs"]
        .as_array()
        .map_or(0, Vec::len)
}

/// `ptest ARGS` in the project, ended by force (and failed) past 60 s: a hang fails the test
/// instead of the whole test binary.
fn bounded(p: &Project, args: &[&str]) -> Output {
    let mut child = spawn(p, args);
    let code = wait_exit(&mut child, Duration::from_secs(60));
    Output {
        code,
        stdout: std::fs::read_to_string(p.join("stdout.txt")).unwrap(),
        stderr: std::fs::read_to_string(p.join("stderr.txt")).unwrap(),
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mkfifo touches no memory of ours.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn a_fifo_at_the_history_blocks_no_command_and_is_set_aside() {
    let p = Project::new(ONE);
    std::fs::create_dir(p.join(".ptest")).unwrap();
    let history = p.join(".ptest/history.json");
    mkfifo(&history);
    let plan = bounded(&p, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains("not a regular file"),
        "{}",
        plan.stderr
    );
    let stats = bounded(&p, &["stats"]);
    assert_eq!(stats.code, 2, "{}", stats.stderr);
    assert!(
        stats.stderr.contains("not a regular file"),
        "{}",
        stats.stderr
    );
    let run = bounded(&p, &["-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("history.json.bad"), "{}", run.stderr);
    let bad = std::fs::symlink_metadata(p.join(".ptest/history.json.bad")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&bad.file_type()));
    assert_eq!(runs_of(&history, "a"), 1);
}

#[test]
fn an_8_gb_history_without_a_newline_is_set_aside_and_the_run_goes_on() {
    let p = Project::new(ONE);
    std::fs::create_dir(p.join(".ptest")).unwrap();
    let history = p.join(".ptest/history.json");
    // Sparse: 8 GB of zeros that take no disk.
    std::fs::File::create(&history)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let plan = bounded(&p, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains("too big to be a ptest history"),
        "{}",
        plan.stderr
    );
    let run = bounded(&p, &["-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("history.json.bad"), "{}", run.stderr);
    assert_eq!(
        std::fs::metadata(p.join(".ptest/history.json.bad"))
            .unwrap()
            .len(),
        8 << 30
    );
    assert_eq!(runs_of(&history, "a"), 1);
    // The next run has nothing to say about it.
    let again = bounded(&p, &["-q"]);
    assert_eq!(again.code, 0);
    assert!(!again.stderr.contains("warning"), "{}", again.stderr);
    assert_eq!(runs_of(&history, "a"), 2);
}

#[test]
fn a_link_to_a_shared_history_is_read_and_updated_where_it_leads() {
    let p = Project::new(ONE);
    assert_eq!(p.run(&["-q"]).code, 0);
    std::fs::create_dir(p.join("common")).unwrap();
    let shared = p.join("common/h.json");
    std::fs::rename(p.join(".ptest/history.json"), &shared).unwrap();
    let link = p.join(".ptest/history.json");
    std::os::unix::fs::symlink("../common/h.json", &link).unwrap();
    for _ in 0..2 {
        let out = p.run(&["-q"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(!out.stderr.contains("history"), "{}", out.stderr);
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(runs_of(&shared, "a"), 3);
    let plan = p.run(&["plan"]);
    assert!(plan.stdout.contains("(history)"), "{}", plan.stdout);
    let stats = p.run(&["stats", "--format", "json"]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(stats.stdout.contains("\"runs\": 3"), "{}", stats.stdout);
}

#[test]
fn a_link_to_anything_else_is_set_aside_and_what_it_leads_to_is_never_written() {
    let p = Project::new(ONE);
    p.file("notes.txt", "my notes\n");
    std::fs::create_dir(p.join(".ptest")).unwrap();
    let link = p.join(".ptest/history.json");
    std::os::unix::fs::symlink("../notes.txt", &link).unwrap();
    let out = p.run(&["-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("the link is kept as") && out.stderr.contains("not a ptest history"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(p.join("notes.txt")).unwrap(),
        "my notes\n"
    );
    assert!(!p.join("notes.txt.lock").exists());
    assert!(
        std::fs::symlink_metadata(p.join(".ptest/history.json.bad"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(runs_of(&link, "a"), 1);

    // A link that leads nowhere: ptest makes no file where it points.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../nowhere.json", &link).unwrap();
    let out = p.run(&["-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    assert!(!p.join("nowhere.json").exists());
    assert_eq!(runs_of(&link, "a"), 1);
}

/// A pid no process has: a child that has been waited for.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn the_temp_file_of_a_writer_killed_mid_write_is_removed_by_the_next_run() {
    let p = Project::new(ONE);
    assert_eq!(p.run(&["-q"]).code, 0);
    let dead = dead_pid();
    let stale = p.join(&format!(".ptest/.history.json.{dead}.0badc0de.tmp"));
    let recent = p.join(&format!(".ptest/.history.json.{dead}.0badc0df.tmp"));
    for f in [&stale, &recent] {
        std::fs::write(f, "{\"format_version\":2,\"run_fields\":[").unwrap();
    }
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(300))
        .unwrap();
    let out = p.run(&["-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!stale.exists(), "left by a dead writer five minutes ago");
    assert!(
        recent.exists(),
        "touched a moment ago: a writer may be at it"
    );
    assert_eq!(runs_of(&p.join(".ptest/history.json"), "a"), 2);
}

/// Hold the writers' lock of the project's history, as a stopped writer would.
fn hold_lock(p: &Project) -> std::fs::File {
    std::fs::create_dir_all(p.join(".ptest")).unwrap();
    let f = std::fs::File::create(p.join(".ptest/history.json.lock")).unwrap();
    // SAFETY: a valid descriptor; flock touches no memory of ours.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    f
}

fn pending_files(p: &Project) -> Vec<String> {
    std::fs::read_dir(p.join(".ptest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("history.json.pending."))
        .collect()
}

#[test]
fn a_lock_held_by_another_process_delays_a_run_boundedly_and_loses_no_record() {
    let p = Project::new(ONE);
    assert_eq!(p.run(&["-q"]).code, 0);
    let held = hold_lock(&p);
    let t = Instant::now();
    let out = bounded(&p, &["-q"]);
    let took = t.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Two seconds for the reader at the start, five for the writer at the end.
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(
        out.stderr.contains("another process has held its lock")
            && out
                .stderr
                .contains("the next run that writes the history adds them"),
        "{}",
        out.stderr
    );
    assert_eq!(pending_files(&p).len(), 1);
    let history = p.join(".ptest/history.json");
    assert_eq!(runs_of(&history, "a"), 1);
    drop(held);
    let out = p.run(&["-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(runs_of(&history, "a"), 3, "the kept run and this one");
    assert!(pending_files(&p).is_empty());
}

/// Whether process `pid` has the file `path` open.
fn has_open(pid: u32, path: &Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == path))
    })
}

#[test]
fn a_stop_signal_while_the_run_waits_for_the_history_lock_ends_it_at_once() {
    let p = Project::new(ONE);
    let _held = hold_lock(&p);
    let lock = std::fs::canonicalize(p.join(".ptest/history.json.lock")).unwrap();
    let mut child = spawn(&p, &["-q"]);
    let pid = child.id();
    // The suite ran: the lock ptest opens now is the writers'.
    assert!(wait_until(Duration::from_secs(30), || p
        .join("ran")
        .exists()
        && has_open(pid, &lock)));
    let t = Instant::now();
    signal(&child, libc::SIGTERM);
    wait_exit(&mut child, Duration::from_secs(10));
    let took = t.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?}");
    let stderr = std::fs::read_to_string(p.join("stderr.txt")).unwrap();
    assert!(stderr.contains("asked to stop"), "{stderr}");
    assert_eq!(pending_files(&p).len(), 1, "{stderr}");
}

#[test]
fn merge_history_into_a_link_follows_it_only_to_a_history() {
    let p = Project::new(ONE);
    assert_eq!(p.run(&["-q", "--history", "one.json"]).code, 0);
    std::fs::create_dir(p.join("shared")).unwrap();
    std::fs::copy(p.join("one.json"), p.join("shared/all.json")).unwrap();
    std::os::unix::fs::symlink("shared/all.json", p.join("all.json")).unwrap();
    let merge = |out: &str| p.run(&["merge", "--history", "one.json", "one.json", "-o", out]);
    let ok = merge("all.json");
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        std::fs::symlink_metadata(p.join("all.json"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(runs_of(&p.join("shared/all.json"), "a"), 1);

    p.file("notes.txt", "my notes\n");
    std::os::unix::fs::symlink("notes.txt", p.join("notes.json")).unwrap();
    let refused = merge("notes.json");
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("notes.json") && refused.stderr.contains("cannot use"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read_to_string(p.join("notes.txt")).unwrap(),
        "my notes\n"
    );
    assert!(
        std::fs::symlink_metadata(p.join("notes.json"))
            .unwrap()
            .is_symlink()
    );

    mkfifo(&p.join("fifo.json"));
    let fifo = bounded(&p, &["merge", "--history", "one.json", "-o", "fifo.json"]);
    assert_eq!(fifo.code, 2, "{}", fifo.stderr);
    assert!(
        fifo.stderr.contains("not a regular file"),
        "{}",
        fifo.stderr
    );
    let m = std::fs::symlink_metadata(p.join("fifo.json")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
}
