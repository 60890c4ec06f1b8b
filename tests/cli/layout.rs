//! The house rules of ARCHITECTURE.md, read from its folder table and checked against the
//! sources: every folder of `src/` (sub-folders included) and every file at its top has a row;
//! no module imports what its row (or a row of a folder holding it) says it must not; no
//! import circle at any level of `src/`; `libc` only in `src/os/`; `unsafe` outside `src/os/`
//! only where ARCHITECTURE.md names it. These read the sources, not the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Rules the code still breaks while a renovation is under way, each with the issue item and
/// the engineer who removes it. The test fails on a break that is not listed here, and on a
/// listed one that no longer happens, so this list only shrinks.
const KNOWN: &[(&str, &str)] = &[];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn src() -> PathBuf {
    root().join("src")
}

/// A module's path inside the crate: `["exec", "platform"]`; the crate root is empty.
type Module = Vec<String>;

fn shown(m: &[String]) -> String {
    if m.is_empty() {
        "crate".to_owned()
    } else {
        m.join("::")
    }
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

/// The module a file of `src/` is (`None` for `main.rs`, the binary, which only calls `run`).
fn module_of(file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    match last.as_str() {
        "main.rs" if parts.is_empty() => None,
        "lib.rs" if parts.is_empty() => Some(parts),
        "mod.rs" => Some(parts),
        _ => {
            parts.push(last.trim_end_matches(".rs").to_owned());
            Some(parts)
        }
    }
}

/// Test modules (`tests.rs`, a `tests/` folder) are not part of the house's structure.
fn is_test_module(m: &[String]) -> bool {
    m.iter().any(|p| p == "tests")
}

/// The source with comments, string and character literals blanked out (same length, lines
/// kept), so that braces and paths can be read from what is left.
fn strip(source: &str) -> String {
    let b = source.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
            && (i == 0 || !is_ident(b[i - 1]))
            && raw_string_end(b, i).is_some()
        {
            let end = raw_string_end(b, i).unwrap();
            blank(&mut out, i, end);
            i = end;
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, (j + 1).min(b.len()));
            i = j + 1;
        } else if rest[0] == b'\'' {
            // A character literal ('x', '\n', '\u{7f}'), or else a lifetime ('a).
            let end = if rest.get(1) == Some(&b'\\') {
                rest[2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|n| i + n + 3)
            } else if rest.len() > 2
                && std::str::from_utf8(&rest[1..]).is_ok_and(|s| {
                    let mut cs = s.chars();
                    cs.next().is_some() && cs.next() == Some('\'')
                })
            {
                let ch = std::str::from_utf8(&rest[1..])
                    .unwrap()
                    .chars()
                    .next()
                    .unwrap();
                Some(i + 2 + ch.len_utf8())
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Where a raw string (`r"…"`, `r#"…"#`, `br"…"`) starting at `i` ends, if one starts there.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + if b[i] == b'b' { 2 } else { 1 };
    if b.get(j - 1) != Some(&b'r') {
        return None;
    }
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let at = b[j + 1..].windows(close.len()).position(|w| w == close)?;
    Some(j + 1 + at + close.len())
}

/// The code that is part of the program: test items (`#[cfg(test)]` and what follows it, a
/// declaration or a whole block) are left out.
fn program_code(source: &str) -> String {
    let code = strip(source);
    let b = code.as_bytes();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while let Some(at) = code[i..].find("#[cfg(test)]") {
        let at = i + at;
        out.push_str(&code[i..at]);
        // The item after the attribute ends at its `;` or at the brace closing its block.
        let mut j = at + "#[cfg(test)]".len();
        let mut depth = 0usize;
        while j < b.len() {
            match b[j] {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        j += 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    j += 1;
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        i = j.min(b.len());
    }
    out.push_str(&code[i..]);
    out
}

/// The paths a `use` tree (or a plain path) names, starting at `text`: `a::{b, c::d}` gives
/// `a::b` and `a::c::d`. `self` in a list names the list's own prefix; `*` and aliases are
/// dropped.
fn path_tree(text: &str) -> Vec<Vec<String>> {
    fn skip_ws(t: &[u8], i: &mut usize) {
        while *i < t.len() && t[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    fn ident(t: &[u8], i: &mut usize) -> Option<String> {
        let start = *i;
        while *i < t.len() && is_ident(t[*i]) {
            *i += 1;
        }
        (*i > start).then(|| String::from_utf8_lossy(&t[start..*i]).into_owned())
    }
    fn tree(t: &[u8], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        loop {
            skip_ws(t, i);
            if t.get(*i) == Some(&b'{') {
                *i += 1;
                loop {
                    skip_ws(t, i);
                    match t.get(*i) {
                        Some(b'}') => {
                            *i += 1;
                            return;
                        }
                        Some(b',') => *i += 1,
                        None => return,
                        _ => {
                            let before = *i;
                            tree(t, i, &path, out);
                            if *i == before {
                                *i += 1;
                            }
                        }
                    }
                }
            }
            if t.get(*i) == Some(&b'*') {
                *i += 1;
                out.push(path);
                return;
            }
            match ident(t, i) {
                Some(name)
                    if name == "self" && path.len() == prefix.len() && !prefix.is_empty() => {}
                Some(name) => path.push(name),
                None => {
                    out.push(path);
                    return;
                }
            }
            skip_ws(t, i);
            if t[*i..].starts_with(b"::") {
                *i += 2;
                continue;
            }
            if t[*i..].starts_with(b"as") && t.get(*i + 2).is_some_and(u8::is_ascii_whitespace) {
                *i += 2;
                skip_ws(t, i);
                ident(t, i);
            }
            out.push(path);
            return;
        }
    }
    let mut out = Vec::new();
    tree(text.as_bytes(), &mut 0, &[], &mut out);
    out.retain(|p| !p.is_empty());
    out
}

/// The crate's modules, each with its file.
struct Crate {
    files: BTreeMap<Module, PathBuf>,
    /// Names a module re-exports (`pub(crate) use log::read_tail;` in `exec`): `(exec,
    /// read_tail)` → the module the name really comes from.
    reexports: BTreeMap<(Module, String), Module>,
}

impl Crate {
    fn read() -> Crate {
        let files: BTreeMap<Module, PathBuf> = rust_files(&src())
            .into_iter()
            .filter_map(|f| Some((module_of(&f)?, f)))
            .collect();
        let mut krate = Crate {
            files,
            reexports: BTreeMap::new(),
        };
        // Twice, so that a name re-exported from a re-export lands where it is defined.
        for _ in 0..2 {
            krate.reexports = krate.reexports_now();
        }
        krate
    }

    /// The re-exports as the current map resolves them.
    fn reexports_now(&self) -> BTreeMap<(Module, String), Module> {
        let krate = self;
        let mut reexports = BTreeMap::new();
        for (m, file) in &krate.files {
            let code = program_code(&std::fs::read_to_string(file).unwrap());
            for line in code.split(';') {
                let line = line.trim();
                let Some(rest) = line.strip_prefix("pub") else {
                    continue;
                };
                let rest = rest.trim_start();
                let rest = if rest.starts_with('(') {
                    &rest[rest.find(')').map_or(rest.len(), |n| n + 1)..]
                } else {
                    rest
                };
                let Some(tree) = rest.trim_start().strip_prefix("use ") else {
                    continue;
                };
                for path in path_tree(tree) {
                    let Some(target) = krate.absolute(m, &path) else {
                        continue;
                    };
                    let to = krate.module_named(&target);
                    reexports.insert((m.clone(), path.last().unwrap().clone()), to);
                }
            }
        }
        reexports
    }

    /// `path` as written in module `m`, made absolute: `crate::`, `super::` and `self::` are
    /// resolved, and a bare first name is a child of `m` (in `mod.rs` and `lib.rs`). `None`
    /// for an outside crate.
    fn absolute(&self, m: &[String], path: &[String]) -> Option<Module> {
        let mut base: Module = m.to_vec();
        let mut rest = path;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                rest = &rest[1..];
            }
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            Some(first) => {
                let mut child = m.to_vec();
                child.push(first.to_owned());
                if !self.files.contains_key(&child) {
                    return None;
                }
            }
            None => return None,
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The module an absolute path lands in: its longest prefix that is a module, or the
    /// module a name re-exported there comes from.
    fn module_named(&self, path: &[String]) -> Module {
        let mut n = path.len();
        while n > 0 && !self.files.contains_key(&path[..n]) {
            n -= 1;
        }
        let module = path[..n].to_vec();
        if let Some(name) = path.get(n) {
            if let Some(to) = self.reexports.get(&(module.clone(), name.clone())) {
                return to.clone();
            }
        }
        module
    }

    /// The modules (and outside names) each module's program code imports.
    fn imports(&self) -> BTreeMap<Module, Imports> {
        let mut all = BTreeMap::new();
        for (m, file) in &self.files {
            if is_test_module(m) {
                continue;
            }
            let code = program_code(&std::fs::read_to_string(file).unwrap());
            let b = code.as_bytes();
            let mut found = Imports::default();
            // Each path is read from its first name: a name not itself after `::` and
            // followed by `::`.
            for (i, _) in code.match_indices("::") {
                let mut s = i;
                while s > 0 && is_ident(b[s - 1]) {
                    s -= 1;
                }
                if s == i || (s > 0 && b[s - 1] == b':') {
                    continue;
                }
                for path in path_tree(&code[s..]) {
                    match self.absolute(m, &path) {
                        Some(abs) => {
                            let to = self.module_named(&abs);
                            if &to != m {
                                found.modules.insert(to);
                            }
                        }
                        None => {
                            found.outside.insert(path[0].clone());
                        }
                    }
                }
            }
            all.insert(m.clone(), found);
        }
        all
    }
}

#[derive(Default)]
struct Imports {
    /// Modules of the crate.
    modules: BTreeSet<Module>,
    /// The first names of paths that leave the crate (`tokio`, `libc`, `std`).
    outside: BTreeSet<String>,
}

/// One row of ARCHITECTURE.md's folder table.
struct Row {
    /// As written: `src/exec/` or `src/cli.rs`.
    place: String,
    module: Option<Module>,
    folder: bool,
    /// The names in backquotes in its "must not import" cell...
    forbidden: Vec<String>,
    /// ...but for those after "except" (`sched` except `sched::simulate`).
    allowed: Vec<String>,
}

/// ARCHITECTURE.md's table of folders and files: the rows whose first cell is a place in
/// `src/`.
fn table() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut rows = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[0].is_empty() {
            continue;
        }
        let Some(place) = cells[1]
            .strip_prefix('`')
            .and_then(|c| c.strip_suffix('`'))
            .filter(|p| p.starts_with("src/"))
        else {
            continue;
        };
        // Backquoted names are forbidden, but for those after "except".
        let parts: Vec<&str> = cells[3].split('`').collect();
        let mut forbidden = Vec::new();
        let mut allowed = Vec::new();
        for (i, name) in parts.iter().enumerate().skip(1).step_by(2) {
            if parts[i - 1].trim_end().ends_with("except") {
                allowed.push((*name).to_owned());
            } else {
                forbidden.push((*name).to_owned());
            }
        }
        let folder = place.ends_with('/');
        let module = if folder {
            let m: Module = place
                .trim_start_matches("src/")
                .trim_end_matches('/')
                .split('/')
                .map(str::to_owned)
                .collect();
            Some(m)
        } else {
            module_of(&root().join(place))
        };
        rows.push(Row {
            place: place.to_owned(),
            module,
            folder,
            forbidden,
            allowed,
        });
    }
    rows
}

/// The dependencies Cargo.toml names, as code spells them.
fn dependencies() -> BTreeSet<String> {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in toml.lines() {
        if line.starts_with('[') {
            inside = line.trim() == "[dependencies]";
            continue;
        }
        if inside {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                if !name.is_empty() && !name.starts_with('#') {
                    names.insert(name.replace('-', "_"));
                }
            }
        }
    }
    names
}

/// Strongly connected groups of more than one node (each an import circle), sorted.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two nodes share a circle when each reaches the other.
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(n) = stack.pop() {
            for d in graph.get(&n).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|n| (n, reach(n))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut placed = BTreeSet::new();
    for n in graph.keys() {
        if placed.contains(n) || !reaches[n].contains(n) {
            continue;
        }
        let group: Vec<String> = graph
            .keys()
            .filter(|o| reaches[n].contains(*o) && reaches[*o].contains(n))
            .cloned()
            .collect();
        placed.extend(group.iter().cloned());
        if group.len() > 1 {
            out.push(group);
        }
    }
    out
}

/// Which module imports which, file by file. A folder's `mod.rs` declaring and re-exporting its
/// own files is not an import, nor is naming the crate root (`crate::io_message`).
fn file_graph(imports: &BTreeMap<Module, Imports>) -> BTreeMap<String, BTreeSet<String>> {
    imports
        .iter()
        .map(|(m, found)| {
            let to = found
                .modules
                .iter()
                .filter(|t| !t.is_empty() && !t.starts_with(m))
                .map(|t| shown(t))
                .collect();
            (shown(m), to)
        })
        .collect()
}

/// Everything the sources do against the house rules, one line each.
fn breaks() -> Vec<String> {
    let krate = Crate::read();
    let imports = krate.imports();
    let rows = table();
    let deps = dependencies();
    let mut out = Vec::new();

    // Every row names a place that exists, and every folder with code (and every file at the
    // top of src/) has a row.
    for row in &rows {
        if !root().join(&row.place).exists() {
            out.push(format!(
                "ARCHITECTURE.md names {}, which does not exist",
                row.place
            ));
        }
        for name in row.forbidden.iter().chain(&row.allowed) {
            let first = name.split("::").next().unwrap();
            let module: Module = name.split("::").map(str::to_owned).collect();
            if !krate.files.contains_key(&module) && !deps.contains(first) {
                out.push(format!(
                    "ARCHITECTURE.md: {} must not import `{name}`, which is neither a module nor a dependency",
                    row.place
                ));
            }
        }
    }
    for (m, file) in &krate.files {
        if is_test_module(m) || m.is_empty() {
            continue;
        }
        let folder = file.ends_with("mod.rs");
        let place = if folder {
            format!("src/{}/", m.join("/"))
        } else if m.len() == 1 {
            format!("src/{}.rs", m[0])
        } else {
            continue;
        };
        if !rows.iter().any(|r| r.place == place) {
            out.push(format!("ARCHITECTURE.md's table has no row for {place}"));
        }
    }

    // What each module must not import: its own row's names and those of every folder row
    // holding it.
    for (m, found) in &imports {
        let file = krate.files[m]
            .strip_prefix(root())
            .unwrap()
            .display()
            .to_string();
        for row in &rows {
            let Some(rm) = &row.module else { continue };
            let covers = if row.folder {
                m.starts_with(rm)
            } else {
                m == rm
            };
            if !covers {
                continue;
            }
            for name in &row.forbidden {
                let path: Module = name.split("::").map(str::to_owned).collect();
                if krate.files.contains_key(&path) {
                    let allowed = |to: &Module| {
                        row.allowed.iter().any(|a| {
                            let a: Module = a.split("::").map(str::to_owned).collect();
                            to.starts_with(&a)
                        })
                    };
                    for to in found
                        .modules
                        .iter()
                        .filter(|to| to.starts_with(&path) && !allowed(to))
                    {
                        // A folder's own files may use each other.
                        if m.starts_with(&path) {
                            continue;
                        }
                        out.push(format!(
                            "{file} imports {} ({} must not import `{name}`)",
                            shown(to),
                            row.place
                        ));
                    }
                } else if found.outside.contains(name) {
                    out.push(format!("{file} uses `{name}` ({} must not)", row.place));
                }
            }
        }
    }

    // No circle anywhere.
    for circle in circles(&file_graph(&imports)) {
        out.push(format!("import circle: {}", circle.join(" ⇄ ")));
    }

    // The OS behind one seam: libc only in src/os/, unsafe outside it only where ARCHITECTURE.md
    // names the file, with why, in its section on unsafe code.
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let unsafe_section: String = text
        .split("\n## ")
        .filter(|section| section.starts_with("Unsafe code"))
        .collect();
    for file in rust_files(&src()) {
        let m = module_of(&file).unwrap_or_else(|| vec!["main".to_owned()]);
        if is_test_module(&m) {
            continue;
        }
        let rel = file.strip_prefix(root()).unwrap().display().to_string();
        let code = program_code(&std::fs::read_to_string(&file).unwrap());
        let b = code.as_bytes();
        let names = |word: &str| {
            code.match_indices(word).any(|(i, _)| {
                (i == 0 || !is_ident(b[i - 1]))
                    && !b.get(i + word.len()).copied().is_some_and(is_ident)
            })
        };
        if m.first().is_some_and(|f| f != "lua") && names("mlua") {
            out.push(format!("{rel} uses mlua (only src/lua/ may)"));
        }
        if m.first().is_some_and(|f| f == "os") {
            continue;
        }
        if names("libc") {
            out.push(format!("{rel} uses libc (only src/os/ may)"));
        }
        if names("unsafe") && !unsafe_section.contains(&format!("`{rel}`")) {
            out.push(format!(
                "{rel} has unsafe code outside src/os/ that ARCHITECTURE.md does not name"
            ));
        }
    }
    out
}

#[test]
fn the_house_keeps_the_rules_architecture_md_states() {
    let found = breaks();
    let known: BTreeSet<&str> = KNOWN.iter().map(|(b, _)| *b).collect();
    let new: Vec<&String> = found
        .iter()
        .filter(|b| !known.contains(b.as_str()))
        .collect();
    let gone: Vec<&&str> = known
        .iter()
        .filter(|k| !found.iter().any(|b| b == **k))
        .collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "house rules broken:\n  {}\nlisted as known but no longer broken (remove them from KNOWN):\n  {}",
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        gone.iter().map(|s| **s).collect::<Vec<_>>().join("\n  ")
    );
}

/// The reader itself: what it finds in the real sources and in small samples.
#[test]
fn the_reader_sees_imports_circles_and_test_code() {
    let krate = Crate::read();
    let imports = krate.imports();
    let m = |s: &str| -> Module { s.split("::").map(str::to_owned).collect() };
    assert!(imports[&m("lua")].outside.contains("mlua"));
    assert!(imports[&m("sched::core")].modules.contains(&m("plan")));
    // A `use` list, `super::` and a re-export all count.
    assert_eq!(
        path_tree("crate::{a::{b, c::d}, e as f, self}; x"),
        [
            m("crate::a::b"),
            m("crate::a::c::d"),
            m("crate::e"),
            m("crate")
        ]
    );
    assert_eq!(path_tree("super::super::x(1)"), [m("super::super::x")]);
    // Comments, strings and test items are not code.
    let code = program_code(
        "use a::b; // crate::c\nlet s = \"crate::d\";\nlet c = '{';\n#[cfg(test)]\nmod tests { use crate::e; { } }\nuse f::g;",
    );
    assert!(
        code.contains("use a::b;") && code.contains("use f::g;"),
        "{code}"
    );
    assert!(!code.contains("crate::"), "{code}");
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
        circles(&g(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        [vec!["a".to_owned(), "b".into(), "c".into()]]
    );
    assert!(circles(&g(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
    // The two questions ARCHITECTURE.md answers with one file each point at real files.
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for one_file in ["src/sched/core.rs", "src/settings.rs"] {
        assert!(root().join(one_file).exists(), "{one_file}");
        assert!(
            text.contains(one_file),
            "ARCHITECTURE.md points at {one_file}"
        );
    }
}
