//! The command line as a user meets it: where the config is searched for, colour, profiles and
//! variables, what `-q` leaves out, and the exit code of each kind of outcome (DESIGN §4).

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
fn profile_and_variables_reach_the_config() {
    let p = Project::new(
        r#"
        ptest.suite { name = "profile-" .. (ptest.profile or "none"), cmd = "true" }
        for k, v in pairs(ptest.vars) do
          ptest.suite { name = k .. "=" .. v, cmd = "true" }
        end
        "#,
    );
    let out = p.run(&[
        "list",
        "--profile",
        "ci",
        "--set",
        "who=me",
        "--set",
        "n=1=2",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for name in ["profile-ci", "who=me", "n=1=2"] {
        assert!(
            out.stdout.contains(&format!("  {name}  ")),
            "{name}: {}",
            out.stdout
        );
    }
    let out = p.run(&["list"]);
    assert!(out.stdout.contains("  profile-none  "), "{}", out.stdout);
    assert!(
        out.stdout.contains("1 suite (1 declared)"),
        "{}",
        out.stdout
    );
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

#[test]
fn exit_codes_of_the_design() {
    let cases: [(&str, &[&str], i32); 9] = [
        // Everything passed.
        (r#"ptest.suite { name = "a", cmd = "true" }"#, &[], 0),
        // Flaky counts as passing.
        (
            r#"ptest.suite { name = "a", cmd = "test $PTEST_ATTEMPT = 2", retry = 1 }"#,
            &[],
            0,
        ),
        // A failure, or a timeout.
        (r#"ptest.suite { name = "a", cmd = "exit 7" }"#, &[], 1),
        (
            r#"ptest.suite { name = "a", cmd = "sleep 5", timeout = "100ms" }"#,
            &[],
            1,
        ),
        // A failure and a later pass: still 1.
        (
            r#"ptest.suite { name = "a", cmd = "exit 1" } ptest.suite { name = "b", cmd = "true" }"#,
            &["-j", "1"],
            1,
        ),
        // Usage and config errors: nothing ran.
        (
            r#"ptest.suite { name = "a", cmd = "true" }"#,
            &["--jobs", "0"],
            2,
        ),
        (
            r#"ptest.suite { name = "a", cmd = "true" }"#,
            &["-s", "b"],
            2,
        ),
        (
            r#"ptest.suite { name = "a", cmd = "true", zzz = 1 }"#,
            &[],
            2,
        ),
        // Nothing to run.
        (
            r#"ptest.suite { name = "a", cmd = "true", enabled = false }"#,
            &[],
            4,
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
        if code == 2 {
            assert!(
                !p.join("test-logs").exists(),
                "nothing ran for {config} {args:?}"
            );
        }
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
