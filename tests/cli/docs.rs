//! What the README, docs/ and the examples promise: every `lua` block of README.md and docs/
//! evaluates to a valid plan, every relative link leads to a file that exists, the README's
//! install and test commands are the ones that work (and the ones .ci/run runs), and every
//! `examples/*/ptest.lua` passes `ptest plan`.

use std::path::{Path, PathBuf};

use crate::harness::{Project, run};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every Markdown file under docs/, with their text.
fn documents() -> Vec<(PathBuf, String)> {
    let mut paths = vec![root().join("README.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The fenced blocks of a Markdown text whose info string starts with `lang`.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    let mut fenced = false;
    for line in markdown.lines() {
        let l = line.trim_start();
        match &mut current {
            Some(text) if l.starts_with("```") => {
                found.push(std::mem::take(text));
                current = None;
                fenced = false;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None if l.starts_with("```") => {
                if fenced {
                    fenced = false;
                } else if l[3..].trim() == lang {
                    current = Some(String::new());
                } else {
                    fenced = true;
                }
            }
            None => {}
        }
    }
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_lua_block_of_the_readme_and_docs_evaluates() {
    let mut count = 0;
    for (path, text) in documents() {
        for (i, block) in blocks(&text, "lua").into_iter().enumerate() {
            count += 1;
            let p = Project::new(&block);
            // Files the examples glob for.
            p.file("tests/test_api.py", "")
                .file("tests/test_models.py", "")
                .file("tests/unit/test_parser.py", "");
            let where_ = format!("{} lua block {}", relative(&path), i + 1);
            let out = p.run(&["plan"]);
            assert_eq!(out.code, 0, "{where_}:\n{block}\n{}", out.stderr);
            let out = p.run(&["graph"]);
            assert_eq!(out.code, 0, "{where_}:\n{block}\n{}", out.stderr);
        }
    }
    assert!(count >= 10, "only {count} lua blocks found");
}

#[test]
fn every_relative_link_of_the_readme_and_docs_leads_to_a_file() {
    let mut problems = Vec::new();
    for (path, text) in documents() {
        assert!(
            !text.contains("../shared"),
            "{}: users have only this repository",
            relative(&path)
        );
        let dir = path.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap();
            if !dir.join(file).exists() {
                problems.push(format!("{}: {target}", relative(&path)));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "links to nothing:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_readme_installs_first_and_its_test_command_is_what_ci_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    // The first screen: install, from git and from a clone.
    let first_screen: String = readme.lines().take(30).collect::<Vec<_>>().join("\n");
    let git = format!(
        "cargo install --locked --git {}",
        env!("CARGO_PKG_REPOSITORY")
    );
    for line in [git.as_str(), "cargo install --locked --path ."] {
        assert!(
            first_screen.contains(line),
            "the README's first screen has {line:?}"
        );
    }
    // The two commands for a fresh clone: an example, then the tests.
    let commands = blocks(&readme, "sh")
        .into_iter()
        .find(|b| b.contains("examples/quickstart/ptest.lua"))
        .expect("a block that runs an example");
    let lines: Vec<&str> = commands.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 2, "two commands: {lines:?}");
    assert!(
        lines[0].starts_with("cargo run --release -- examples/"),
        "{lines:?}"
    );
    let test_command = lines[1];
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == test_command),
        ".ci/run runs the README's test command {test_command:?}:\n{ci}"
    );
    // And the example that command runs is there and passes plan.
    let example = lines[0].rsplit(' ').next().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ptest"));
    cmd.arg("plan").arg(root().join(example));
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{example}: {}", out.stderr);
}

#[test]
fn every_example_passes_plan() {
    let mut found = 0;
    let go = crate::go_preset::go();
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let config = entry.unwrap().path().join("ptest.lua");
        if !config.exists() {
            continue;
        }
        found += 1;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ptest"));
        // examples/go runs `go list` while its config is read.
        if config.ends_with("go/ptest.lua") {
            let Some(go) = &go else { continue };
            crate::go_preset::go_env(&mut cmd, go);
        }
        // examples/cargo builds its crate: not into the repository.
        cmd.arg("plan")
            .arg(&config)
            .env("CARGO_TARGET_DIR", crate::cargo_preset::target_dir())
            .env("CARGO_NET_OFFLINE", "true");
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{}: {}", config.display(), out.stderr);
        assert!(out.stdout.contains("start order"), "{}", out.stdout);
    }
    assert!(found > 0, "no examples found");
}
