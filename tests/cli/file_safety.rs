//! Files ptest writes never cost the user's own: report paths naming folders or links are refused
//! before anything runs, logs and temp files never go through a planted link, a report that
//! cannot be written at the end fails the run, and a log folder removed mid-run is made again.

use crate::harness::Project;

const ONE: &str = r#"ptest.suite { name = "a", cmd = "echo ran > ran.txt" }"#;

fn folder_with_a_file(p: &Project, rel: &str) {
    std::fs::create_dir_all(p.join(rel).join("sub")).unwrap();
    std::fs::write(p.join(rel).join("sub/f"), "x").unwrap();
}

#[test]
fn a_report_path_naming_a_folder_is_refused_before_anything_runs() {
    for flag in ["--report", "--junit", "--html"] {
        let p = Project::new(ONE);
        folder_with_a_file(&p, "d");
        let out = p.run(&[flag, "d"]);
        assert_eq!(out.code, 2, "{flag}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(&format!("{flag}: d is a folder")),
            "{flag}: {}",
            out.stderr
        );
        assert!(!p.join("ran.txt").exists(), "{flag}: nothing runs");
        assert_eq!(std::fs::read(p.join("d/sub/f")).unwrap(), b"x", "{flag}");
    }
}

#[test]
fn a_report_path_naming_a_link_to_a_folder_is_refused() {
    let p = Project::new(ONE);
    folder_with_a_file(&p, "d");
    std::os::unix::fs::symlink(p.join("d"), p.join("r.json")).unwrap();
    let out = p.run(&["--report", "r.json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--report: r.json is a symbolic link to a folder"),
        "{}",
        out.stderr
    );
    assert!(!p.join("ran.txt").exists());
    assert_eq!(std::fs::read(p.join("d/sub/f")).unwrap(), b"x");
}

#[test]
fn the_run_s_own_report_is_never_swapped_with_a_folder() {
    let p = Project::new(ONE);
    folder_with_a_file(&p, "test-logs/test-report.json");
    let out = p.run(&[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is a folder"), "{}", out.stderr);
    assert_eq!(
        std::fs::read(p.join("test-logs/test-report.json/sub/f")).unwrap(),
        b"x"
    );
}

#[test]
fn merge_refuses_an_output_naming_a_folder() {
    let p = Project::new(ONE);
    assert_eq!(p.run(&["--report", "one.json"]).code, 0);
    folder_with_a_file(&p, "d");
    let out = p.run(&["merge", "one.json", "-o", "d"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("d is a folder"), "{}", out.stderr);
    assert_eq!(std::fs::read(p.join("d/sub/f")).unwrap(), b"x");
}

#[test]
fn a_report_that_turned_into_a_folder_fails_the_run_and_the_folder_stays() {
    // The suite makes the report's path a folder while the run goes on: the check before the
    // run passed, the write at the end must fail, say where, and leave the folder alone.
    let p = Project::new(
        r#"ptest.suite { name = "a", cmd = "mkdir -p out.json/sub j.xml && echo x > out.json/sub/f" }"#,
    );
    let out = p.run(&["--report", "out.json", "--junit", "j.xml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("cannot write report out.json: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("cannot write JUnit report j.xml: "),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(p.join("out.json/sub/f")).unwrap(), b"x\n");
    assert!(p.join("j.xml").is_dir());
    // The report that could be written still was.
    assert!(p.join("test-logs/test-report.json").is_file());
}

#[test]
fn a_planted_log_link_is_replaced_by_a_fresh_file_never_written_through() {
    let p = Project::new(r#"ptest.suite { name = "a", cmd = "echo output-of-a" }"#);
    let important = p.join("important");
    std::fs::write(&important, "precious\n").unwrap();
    std::fs::create_dir_all(p.join("test-logs")).unwrap();
    std::os::unix::fs::symlink(&important, p.join("test-logs/a.log")).unwrap();
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(std::fs::read_to_string(&important).unwrap(), "precious\n");
    let meta = std::fs::symlink_metadata(p.join("test-logs/a.log")).unwrap();
    assert!(meta.is_file(), "a fresh log, not the link");
    let log = std::fs::read_to_string(p.join("test-logs/a.log")).unwrap();
    assert!(log.contains("output-of-a"), "{log}");
}

#[test]
fn a_temp_file_link_planted_beside_the_report_receives_nothing() {
    // The suite's parent is ptest: it plants links at the temp names an earlier ptest used
    // (`.test-report.json.<pid>.tmp`) and at the report itself, pointing at a precious file.
    let p = Project::new(
        r#"ptest.suite { name = "a", cmd = "ln -s \"$PWD/precious\" \"test-logs/.test-report.json.$PPID.tmp\"; ln -s \"$PWD/precious\" \"out/.r.json.$PPID.tmp\"" }"#,
    );
    std::fs::write(p.join("precious"), "keep\n").unwrap();
    std::fs::create_dir_all(p.join("out")).unwrap();
    let out = p.run(&["--report", "out/r.json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        std::fs::read_to_string(p.join("precious")).unwrap(),
        "keep\n"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("out/r.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["passed"], 1);
    assert!(
        std::fs::symlink_metadata(p.join("out/r.json"))
            .unwrap()
            .is_file()
    );
}

#[test]
fn a_log_folder_removed_mid_run_is_made_again() {
    let p = Project::new(
        r#"
ptest.suite { name = "remover", cmd = "rm -rf test-logs" }
ptest.suite { name = "later", cmd = "echo later-output", depends_on = { "remover" } }
"#,
    );
    let out = p.run(&["-j", "1"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(p.join("test-logs/later.log")).unwrap();
    assert!(log.contains("later-output"), "{log}");
    assert!(p.join("test-logs/test-report.json").is_file());
}

#[test]
fn a_fifo_where_a_log_goes_fails_that_suite_without_hanging() {
    let p = Project::new(r#"ptest.suite { name = "a", cmd = "echo hi", timeout = "20s" }"#);
    std::fs::create_dir_all(p.join("test-logs")).unwrap();
    let fifo = std::ffi::CString::new(p.join("test-logs/a.log").to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("cannot open log file"),
        "{}",
        out.stdout
    );
}
