//! What a newcomer meets first: `--version` with the commit, subcommands that are never read as
//! config paths, and `ptest.lua` found from a subfolder of the project.

use std::path::Path;
use std::process::Command;

use crate::harness::{Project, run};

fn ptest_in(dir: &Path, args: &[&str]) -> crate::harness::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ptest"));
    c.current_dir(dir).args(args).env_remove("CI");
    run(&mut c)
}

/// The commit this checkout is at, when the crate's folder is the top of a git checkout.
fn head_commit() -> Option<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let same = Path::new(&top).canonicalize().ok()? == Path::new(root).canonicalize().ok()?;
    if same {
        git(&["rev-parse", "--short=12", "HEAD"])
    } else {
        None
    }
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let p = Project::new("");
    let flag = p.run(&["--version"]);
    let word = p.run(&["version"]);
    assert_eq!(flag.code, 0, "{}", flag.stderr);
    assert_eq!(word.code, 0, "{}", word.stderr);
    assert_eq!(flag.stdout, word.stdout);
    let line = flag.stdout.trim_end();
    let version = env!("CARGO_PKG_VERSION");
    match head_commit() {
        Some(commit) => {
            assert!(
                line.starts_with(&format!("ptest {version} ({commit} ")) && line.ends_with(')'),
                "expected the commit {commit} in {line:?}"
            );
        }
        // Built from a tarball: the version alone.
        None => assert_eq!(line, format!("ptest {version}")),
    }
}

#[test]
fn help_and_version_are_subcommands_not_config_paths() {
    let p = Project::new("");
    let out = p.run(&["help"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("Usage: ptest [OPTIONS] [CONFIG]"),
        "{}",
        out.stdout
    );
    for name in [
        "run", "list", "plan", "graph", "acquire", "merge", "version",
    ] {
        assert!(
            out.stdout.contains(&format!("\n  {name} ")),
            "help lists {name}:\n{}",
            out.stdout
        );
    }
    let out = p.run(&["help", "list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Usage: ptest list"), "{}", out.stdout);
}

#[test]
fn a_mistyped_subcommand_is_named_as_one() {
    let p = Project::new(r#"ptest.suite { name = "a", cmd = "touch ran" }"#);
    let out = p.run(&["lsit"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim_end(),
        r#"error: no subcommand or file named "lsit" (did you mean "ptest list"?)"#
    );
    assert!(!p.join("ran").exists(), "nothing runs on a usage error");
    // A config named like a command is read through `run`, or as a path.
    p.file(
        "init",
        r#"ptest.suite { name = "from-the-file", cmd = "true" }"#,
    );
    for args in [&["run", "-q", "init"][..], &["-q", "./init"][..]] {
        let out = p.run(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(p.join("test-logs/from-the-file.log").exists(), "{args:?}");
        std::fs::remove_file(p.join("test-logs/from-the-file.log")).unwrap();
    }
    // A file of that name is a config, as before.
    p.file("lsit", r#"ptest.suite { name = "b", cmd = "true" }"#);
    let out = p.run(&["list", "lsit"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains('b'), "{}", out.stdout);
}

#[test]
fn ptest_lua_is_found_in_a_parent_folder_up_to_the_repository_root() {
    let p = Project::new(r#"ptest.suite { name = "where", cmd = "pwd > where.txt" }"#);
    p.file(".git/HEAD", "ref: refs/heads/main\n")
        .file("src/deep/keep", "");
    let deep = p.join("src/deep");
    let out = ptest_in(&deep, &["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("where"), "{}", out.stdout);
    // `ptest` and `ptest run` alike; the suite runs in the config's folder, not in src/deep.
    for args in [&[][..], &["run"][..]] {
        let _ = std::fs::remove_file(p.join("where.txt"));
        let out = ptest_in(&deep, args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        let pwd = std::fs::read_to_string(p.join("where.txt")).unwrap();
        assert_eq!(
            Path::new(pwd.trim()).canonicalize().unwrap(),
            p.path().canonicalize().unwrap()
        );
        assert!(
            p.join("test-logs/where.log").exists(),
            "logs beside the config"
        );
    }
}

#[test]
fn the_search_stops_at_the_repository_root() {
    // outer/ptest.lua belongs to another project: a repository inside outer/ does not use it.
    let p = Project::new(r#"ptest.suite { name = "outer", cmd = "true" }"#);
    p.file("repo/.git/HEAD", "ref: refs/heads/main\n")
        .file("repo/sub/keep", "");
    let out = ptest_in(&p.join("repo/sub"), &["list"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("no ptest.lua in ")
            && out.stderr.contains("up to the repository root")
            && out.stderr.contains("ptest init"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}
