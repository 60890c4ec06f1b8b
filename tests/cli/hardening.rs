//! Smaller breaks found by an attack: a selection that runs nothing, NUL bytes in names, the
//! 127 message, non-UTF-8 commands, attempts' tmp folders kept within bounds.

use crate::harness::Project;

const TWO: &str = r#"
ptest.suite { name = "u", cmd = "echo ran >> ran.txt", category = "unit", tags = { "fast" } }
ptest.suite { name = "i", cmd = "echo ran >> ran.txt", category = "integration", tags = { "slow" } }
"#;

#[test]
fn a_selection_that_matches_nothing_exits_4_naming_the_filter() {
    let p = Project::new(TWO);
    let out = p.run(&["-c", "unit", "-t", "slow"]);
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr.trim(),
        "error: nothing to run: the selection --categories unit --tags slow matches no suite (--allow-empty accepts that)"
    );
    assert!(!p.join("ran.txt").exists());
    let out = p.run(&["-c", "unit", "-t", "slow", "--allow-empty"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!p.join("ran.txt").exists());
}

#[test]
fn skipping_every_suite_or_declaring_none_is_nothing_to_run() {
    let p = Project::new(TWO);
    let out = p.run(&["--skip", "u,i"]);
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("nothing to run: every selected suite is skipped (--skip u,i)"),
        "{}",
        out.stderr
    );
    let empty = Project::new("ptest.config { workers = 2 }\n");
    let out = empty.run(&[]);
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("nothing to run: ptest.lua declares no suite"),
        "{}",
        out.stderr
    );
    assert_eq!(empty.run(&["--allow-empty"]).code, 0);
}

#[test]
fn verbose_passes_stay_passes_under_a_low_open_file_limit() {
    // 128 suites at once with -v, and only 40 descriptors for ptest (soft and hard): each pipe
    // for -v takes two, so most attempts find none; they must still pass and be echoed.
    let p = Project::new(
        "for i = 1, 128 do ptest.suite { name = 's' .. i, cmd = 'echo line-of-' .. i .. '; sleep 1' } end\n",
    );
    let bin = p.cmd().get_program().to_owned();
    let mut sh = std::process::Command::new("sh");
    sh.current_dir(p.path())
        .env_remove("CI")
        .arg("-c")
        .arg("ulimit -n 40 && exec \"$0\" -v -j 128")
        .arg(bin);
    let out = crate::harness::run(&mut sh);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for i in 1..=128 {
        assert!(
            out.stdout.contains(&format!("line-of-{i}\n")),
            "line-of-{i} echoed: {}",
            out.stdout
        );
    }
}
