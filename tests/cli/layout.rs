//! The shape of the source tree that ARCHITECTURE.md promises: only `src/lua/` touches mlua, no
//! two files of a folder import each other (directly or around a loop), and ARCHITECTURE.md
//! names every folder of `src/`. These read the sources, not the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without its line comments (a comment may name mlua).
fn code_of(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn only_src_lua_uses_mlua() {
    let lua = src().join("lua");
    let outside: Vec<String> = rust_files(&src())
        .into_iter()
        .filter(|p| !p.starts_with(&lua))
        .filter(|p| code_of(p).contains("mlua"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(outside.is_empty(), "mlua outside src/lua/: {outside:?}");
    // The check itself sees mlua where it is.
    assert!(code_of(&lua.join("mod.rs")).contains("mlua"));
}

/// Which sibling modules each file of `folder` names (`super::x`, `crate::folder::x`, or `x` in a
/// `use super::{...}` / `use crate::folder::{...}` list). Test code (from the first
/// `#[cfg(test)]`) does not count.
fn sibling_imports(folder: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    let mods: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|m| m != "mod" && m != "tests")
        .collect();
    let mut graph = BTreeMap::new();
    for m in &mods {
        let mut code = code_of(&folder.join(format!("{m}.rs")));
        if let Some(i) = code.find("#[cfg(test)]") {
            code.truncate(i);
        }
        let words = |text: &str| -> BTreeSet<String> {
            text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map(str::to_owned)
                .collect()
        };
        let mut named = BTreeSet::new();
        for prefix in ["super::", &format!("crate::{name}::")] {
            for (i, _) in code.match_indices(prefix) {
                let rest = &code[i + prefix.len()..];
                let list = if rest.starts_with('{') {
                    &rest[..rest.find('}').unwrap_or(rest.len())]
                } else {
                    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("")
                };
                named.extend(words(list));
            }
        }
        let deps = mods
            .iter()
            .filter(|o| *o != m && named.contains(*o))
            .cloned()
            .collect();
        graph.insert(m.clone(), deps);
    }
    graph
}

/// A loop in `graph`, as the names along it, if there is one.
fn find_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for d in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_folder_has_an_import_loop() {
    for entry in std::fs::read_dir(src()).unwrap() {
        let folder = entry.unwrap().path();
        if folder.is_dir() {
            let graph = sibling_imports(&folder);
            if let Some(cycle) = find_loop(&graph) {
                panic!(
                    "import loop in {}: {}",
                    folder.display(),
                    cycle.join(" -> ")
                );
            }
        }
    }
}

#[test]
fn the_loop_finder_finds_loops() {
    let g = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry((*a).to_owned())
                .or_default()
                .insert((*b).to_owned());
            g.entry((*b).to_owned()).or_default();
        }
        g
    };
    assert_eq!(
        find_loop(&g(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(find_loop(&g(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
}

#[test]
fn architecture_names_every_folder() {
    let text = std::fs::read_to_string(src().parent().unwrap().join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let shown = format!("`src/{}/`", path.file_name().unwrap().to_string_lossy());
        if path.is_dir() && !text.contains(&shown) {
            missing.push(shown);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name {missing:?}"
    );
    for one_file in ["src/sched/core.rs", "src/settings.rs"] {
        assert!(
            src().parent().unwrap().join(one_file).exists(),
            "{one_file}"
        );
        assert!(
            text.contains(one_file),
            "ARCHITECTURE.md points at {one_file}"
        );
    }
}
