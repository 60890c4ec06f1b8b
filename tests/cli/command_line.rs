//! The command line as a user meets it: where the config is searched for, colour, what `-q`
//! leaves out, and the exit codes of outcomes with rules of their own (DESIGN §4).

use crate::harness::{Project, run};

#[test]
fn the_config_is_found_in_the_nearest_parent_up_to_the_repository_root() {
    let p = Project::new(r#"ptest.suite { name = "top", cmd = "true" }"#);
    std::fs::create_dir(p.join(".git")).unwrap();
    std::fs::create_dir_all(p.join("src/deep")).unwrap();
    let mut c = p.cmd();
    c.current_dir(p.join("src/deep")).arg("list");
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("  top  [default]"), "{}", out.stdout);

    // A nearer ptest.lua wins over the root's.
    p.file(
        "src/ptest.lua",
        r#"ptest.suite { name = "near", cmd = "true" }"#,
    );
    let mut c = p.cmd();
    c.current_dir(p.join("src/deep")).arg("list");
    let out = run(&mut c);
    assert!(out.stdout.contains("  near  [default]"), "{}", out.stdout);
    assert!(!out.stdout.contains("top"), "{}", out.stdout);
}

#[test]
fn nothing_to_run_names_the_config_that_was_read() {
    // Found in a parent folder: the message named "ptest.lua", a file that is not here.
    let p = Project::new("-- nothing yet");
    std::fs::create_dir(p.join(".git")).unwrap();
    std::fs::create_dir_all(p.join("src")).unwrap();
    let mut c = p.cmd();
    c.current_dir(p.join("src"));
    let out = run(&mut c);
    assert_eq!(out.code, 4, "{}", out.stderr);
    let config = std::fs::canonicalize(p.join("ptest.lua")).unwrap();
    let said = out.stderr.trim();
    assert!(
        said.starts_with("error: nothing to run: ")
            && said.ends_with("ptest.lua declares no suite (--allow-empty accepts that)"),
        "{said}"
    );
    let named = said
        .trim_start_matches("error: nothing to run: ")
        .trim_end_matches(" declares no suite (--allow-empty accepts that)");
    assert_eq!(std::fs::canonicalize(named).ok(), Some(config), "{said}");
}

#[test]
fn the_search_stops_at_the_repository_root() {
    // ptest.lua above the repository is another project's.
    let p = Project::new(r#"ptest.suite { name = "outside", cmd = "true" }"#);
    std::fs::create_dir_all(p.join("repo/.git")).unwrap();
    std::fs::create_dir_all(p.join("repo/src")).unwrap();
    let mut c = p.cmd();
    c.current_dir(p.join("repo/src")).arg("list");
    let out = run(&mut c);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let here = std::fs::canonicalize(p.join("repo/src")).unwrap();
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: no ptest.lua in {} or its parent folders up to the repository root (write one with \"ptest init\", or give its path)",
            here.display()
        )
    );
    assert!(out.stdout.is_empty());
}

const FAILING: &str = r#"
ptest.suite { name = "good", cmd = "true" }
ptest.suite { name = "bad", cmd = "echo oops; exit 3" }
"#;

fn has_escape(s: &str) -> bool {
    s.contains('\x1b')
}

#[test]
fn colour_only_when_asked_for_off_a_terminal() {
    let p = Project::new(FAILING);
    let plain = p.run(&["-j", "2"]);
    assert_eq!(plain.code, 1);
    assert!(!has_escape(&plain.stdout), "{}", plain.stdout);
    let always = p.run(&["-j", "2", "--color", "always"]);
    assert!(has_escape(&always.stdout), "{}", always.stdout);
    assert!(
        always.stdout.contains("\x1b[31m"),
        "failures in red: {:?}",
        always.stdout
    );
    // NO_COLOR turns auto off, but a flag says what the user wants.
    let no = p.run_env(&["-j", "2"], &[("NO_COLOR", "1")]);
    assert!(!has_escape(&no.stdout));
    let flag = p.run_env(&["-j", "2", "--color", "always"], &[("NO_COLOR", "1")]);
    assert!(has_escape(&flag.stdout));
    let never = p.run(&["-j", "2", "--color", "never"]);
    assert!(!has_escape(&never.stdout));
}

#[test]
fn quiet_prints_the_summary_only() {
    let p = Project::new(FAILING);
    let out = p.run(&["-q", "-j", "2"]);
    assert_eq!(out.code, 1);
    for absent in ["ptest: 2 suites", "START", "PASS", "FAIL "] {
        assert!(!out.stdout.contains(absent), "{absent}: {}", out.stdout);
    }
    assert!(
        out.stdout.contains("Summary: 2 suites: 1 passed, 1 failed"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("✗ bad  exit code 3"), "{}", out.stdout);
    assert!(out.stdout.contains("    | oops"), "{}", out.stdout);
}

/// `run_output::exit_codes` has passes, failures and usage errors; these are the outcomes whose
/// code follows a rule of its own.
#[test]
fn flaky_is_a_pass_and_a_timeout_or_any_earlier_failure_is_not() {
    let cases: [(&str, &[&str], i32); 4] = [
        (
            r#"ptest.suite { name = "a", cmd = "test $PTEST_ATTEMPT = 2", retry = 1 }"#,
            &[],
            0,
        ),
        (
            r#"ptest.suite { name = "a", cmd = "sleep 5", timeout = "100ms" }"#,
            &[],
            1,
        ),
        (
            r#"ptest.suite { name = "a", cmd = "exit 1" } ptest.suite { name = "b", cmd = "true" }"#,
            &["-j", "1"],
            1,
        ),
        // Cancelled by fail-fast is not a failure of its own, but the run failed.
        (
            r#"ptest.suite { name = "a", cmd = "exit 1" } ptest.suite { name = "b", cmd = "sleep 5" }"#,
            &["-j", "2", "-x"],
            1,
        ),
    ];
    for (config, args, code) in cases {
        let p = Project::new(config);
        let out = p.run(args);
        assert_eq!(
            out.code, code,
            "{config} {args:?}\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
    }
}

#[test]
fn a_usage_error_prints_one_line_of_help_not_a_run() {
    let p = Project::new(r#"ptest.suite { name = "a", cmd = "touch ran" }"#);
    let out = p.run(&["--no-such-flag"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unexpected argument '--no-such-flag'"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    assert!(!p.join("ran").exists());
}
