//! What the README and the examples promise: every `lua` block of the README evaluates to a
//! valid plan, and every `examples/*/ptest.lua` passes `ptest plan`.

use std::path::Path;

use crate::harness::{Project, run};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The fenced ```lua blocks of a Markdown text.
fn lua_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```lua") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_lua_block_of_the_readme_evaluates() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks = lua_blocks(&readme);
    assert!(!blocks.is_empty(), "the README has a ptest.lua example");
    for block in blocks {
        let p = Project::new(&block);
        // Files the examples glob for.
        p.file("tests/test_api.py", "")
            .file("tests/test_models.py", "");
        let out = p.run(&["plan"]);
        assert_eq!(out.code, 0, "{block}\n{}", out.stderr);
        let out = p.run(&["graph"]);
        assert_eq!(out.code, 0, "{block}\n{}", out.stderr);
    }
}

#[test]
fn every_example_passes_plan() {
    let mut found = 0;
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let config = entry.unwrap().path().join("ptest.lua");
        if !config.exists() {
            continue;
        }
        found += 1;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ptest"));
        cmd.arg("plan").arg(&config);
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{}: {}", config.display(), out.stderr);
        assert!(out.stdout.contains("start order"), "{}", out.stdout);
    }
    assert!(found > 0, "no examples found");
}
