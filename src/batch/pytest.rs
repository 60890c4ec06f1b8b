//! pytest's own settings as pytest finds them, for `ptest init` and the pytest preset (through
//! `src/lua/`): `testpaths`, `python_files`, `norecursedirs` and `addopts` from the first file
//! that configures pytest in a folder, in pytest's order: `pytest.toml`, `.pytest.toml`,
//! `pytest.ini` and `.pytest.ini` (even when they say nothing), then `pyproject.toml` with a
//! `[tool.pytest.ini_options]` (or `[tool.pytest]`) table, `tox.ini` with `[pytest]`, `setup.cfg`
//! with `[tool:pytest]`; and the nearest folder, from one up, that has such a file. Only regular
//! files are read (never a FIFO: reading one would wait forever), at most 4 MiB of each. Not a
//! TOML or INI parser: the few shapes pytest's settings take.

use std::path::{Component, Path, PathBuf};

/// The settings a folder's pytest reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Settings {
    /// The file they come from (`pytest.ini`).
    pub from: &'static str,
    /// The folder it is in.
    pub dir: PathBuf,
    pub testpaths: Option<Vec<String>>,
    pub python_files: Option<Vec<String>>,
    pub norecursedirs: Option<Vec<String>>,
    pub addopts: Option<Vec<String>>,
}

/// Bytes read of a settings file at most.
const MAX: u64 = 4 * 1024 * 1024;

/// A regular file's text (at most 4 MiB of it), or `None` (missing, a folder, a FIFO, a device,
/// unreadable).
pub(crate) fn read_regular(path: &Path) -> Option<String> {
    use rustix::fs::{Mode, OFlags};
    use std::io::Read;
    // O_NONBLOCK: a FIFO opens at once (and is then refused) instead of waiting for a writer.
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let file = std::fs::File::from(fd);
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

const KEYS: [&str; 4] = ["testpaths", "python_files", "norecursedirs", "addopts"];

fn from_values(
    from: &'static str,
    dir: &Path,
    mut value: impl FnMut(&str) -> Option<Vec<String>>,
) -> Settings {
    let [testpaths, python_files, norecursedirs, addopts] = KEYS.map(&mut value);
    Settings {
        from,
        dir: dir.to_path_buf(),
        testpaths,
        python_files,
        norecursedirs,
        addopts,
    }
}

/// The settings of the file in `dir` that configures pytest, if one does.
pub(crate) fn settings(dir: &Path) -> Option<Settings> {
    for f in ["pytest.toml", ".pytest.toml"] {
        if let Some(text) = read_regular(&dir.join(f)) {
            let table = toml_table(&text, "pytest").unwrap_or_else(|| text.clone());
            return Some(from_values(f, dir, |k| toml_list(&table, k)));
        }
    }
    for f in ["pytest.ini", ".pytest.ini"] {
        if let Some(text) = read_regular(&dir.join(f)) {
            return Some(from_values(f, dir, |k| {
                ini_value(&text, "pytest", k).map(|v| words(&v))
            }));
        }
    }
    if let Some(text) = read_regular(&dir.join("pyproject.toml"))
        && let Some(table) = toml_table(&text, "tool.pytest.ini_options")
            .or_else(|| toml_table(&text, "tool.pytest"))
    {
        return Some(from_values("pyproject.toml", dir, |k| toml_list(&table, k)));
    }
    for (f, section) in [("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")] {
        if let Some(text) = read_regular(&dir.join(f))
            && text.contains(&format!("[{section}]"))
        {
            return Some(from_values(f, dir, |k| {
                ini_value(&text, section, k).map(|v| words(&v))
            }));
        }
    }
    None
}

/// The settings a plain `pytest` run in `dir` reads: those of the first folder from `dir` up
/// that has a file configuring pytest (`dir`'s `.` and `..` resolved without looking at the
/// disk; a relative `dir` is searched up to its first part).
pub(crate) fn find(dir: &Path) -> Option<Settings> {
    let mut at = Some(normal(dir));
    while let Some(d) = at {
        if let Some(s) = settings(&d) {
            return Some(s);
        }
        at = d
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf);
    }
    None
}

/// `path` with its `.` and `..` parts resolved lexically.
pub(crate) fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_up = matches!(out.components().next_back(), Some(Component::ParentDir));
                if last_is_up || (!out.pop() && !out.has_root()) {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn words(v: &str) -> Vec<String> {
    v.split_whitespace().map(str::to_owned).collect()
}

/// The `key = value` (or `key: value`, with indented continuation lines) of one `[section]` of
/// an INI file.
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut inside = false;
    let mut value: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line
            .trim_end()
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
        {
            if value.is_some() {
                return value;
            }
            inside = name == section;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(v) = value.as_mut() {
            let continued = line.starts_with(char::is_whitespace)
                && !line.trim().is_empty()
                && !line.trim_start().starts_with(['#', ';']);
            if !continued {
                return value;
            }
            v.push(' ');
            v.push_str(line);
            continue;
        }
        let trimmed = line.trim_start();
        let name_len = trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(trimmed.len());
        if name_len == 0 || trimmed[..name_len] != *key {
            continue;
        }
        let rest = trimmed[name_len..].trim_start();
        if let Some(v) = rest.strip_prefix(['=', ':']) {
            value = Some(v.trim().to_owned());
        }
    }
    value
}

/// A TOML value as a list of strings: `"a b"` (split into words) or `["a", "b"]` (possibly
/// over several lines, with comments).
fn toml_list(table: &str, key: &str) -> Option<Vec<String>> {
    let at = assignment(table, key)?;
    let value = table[at..].trim_start();
    if value.starts_with('[') {
        let array = balanced(value)?;
        let mut out = Vec::new();
        for line in array.lines() {
            // Strings up to a comment: a `#` outside quotes.
            let mut quote = None;
            let mut end = line.len();
            for (i, ch) in line.char_indices() {
                match quote {
                    Some(q) if ch == q => quote = None,
                    None if ch == '"' || ch == '\'' => quote = Some(ch),
                    None if ch == '#' => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            out.extend(quoted(&line[..end]));
        }
        return Some(out);
    }
    value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &value[1..];
    let end = body.find(['"', '\''])?;
    Some(words(&body[..end]))
}

/// Where the value of `key = ...` starts in a TOML table: the first line whose first word is
/// the key.
fn assignment(table: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in table.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && let Some(value) = rest.trim_start().strip_prefix('=')
        {
            return Some(offset + (line.len() - value.len()));
        }
        offset += line.len();
    }
    None
}

/// `text` from its opening `[` through the matching `]`.
fn balanced(text: &str) -> Option<&str> {
    let mut depth = 0usize;
    for (i, ch) in text.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[..=i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The quoted strings in a piece of a TOML array (`"a", 'b'`).
fn quoted(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['"', '\'']) {
        let body = &rest[open + 1..];
        let Some(close) = body.find(['"', '\'']) else {
            break;
        };
        out.push(body[..close].to_owned());
        rest = &body[close + 1..];
    }
    out
}

/// The text of one `[table]` of a TOML file, up to the next table header.
fn toml_table(text: &str, name: &str) -> Option<String> {
    let header = format!("[{name}]");
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        if start.is_none() {
            if line.trim_end() == header {
                start = Some(offset + line.len());
            }
        } else if line.starts_with('[') && !line.starts_with("[[") {
            return Some(text[start?..offset].to_owned());
        }
        offset += line.len();
    }
    start.map(|s| text[s..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        d
    }

    #[expect(
        clippy::unnecessary_wraps,
        reason = "compared with the settings' Option fields"
    )]
    fn list(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn ini_files_with_continuation_lines_and_colons() {
        let d = folder(&[(
            "pytest.ini",
            "[pytest]\r\naddopts = -q\n  --strict-markers\n  # a comment ends it\ntestpaths: tests  integration\n[other]\npython_files = x.py\n",
        )]);
        let s = settings(d.path()).unwrap();
        assert_eq!(s.from, "pytest.ini");
        assert_eq!(s.dir, d.path());
        assert_eq!(s.addopts, list(&["-q", "--strict-markers"]));
        assert_eq!(s.testpaths, list(&["tests", "integration"]));
        assert_eq!(s.python_files, None);
        assert_eq!(s.norecursedirs, None);
    }

    #[test]
    fn toml_arrays_strings_and_comments() {
        let d = folder(&[(
            "pyproject.toml",
            "[project]\nname = \"x\"\ntestpaths = [\"not this\"]\n[tool.pytest.ini_options]\ntestpaths = [\n  \"tests\", # the unit tests\n  'more',  # \"quoted\" in a comment\n]\naddopts = \"-ra --tb=short\"\npython_files=['check_*.py']\n[tool.other]\nnorecursedirs = [\"x\"]\n",
        )]);
        let s = settings(d.path()).unwrap();
        assert_eq!(s.from, "pyproject.toml");
        assert_eq!(s.testpaths, list(&["tests", "more"]));
        assert_eq!(s.addopts, list(&["-ra", "--tb=short"]));
        assert_eq!(s.python_files, list(&["check_*.py"]));
        assert_eq!(s.norecursedirs, None);
        // pytest 9's own files: a [pytest] table, or the file itself.
        let d = folder(&[("pytest.toml", "[pytest]\ntestpaths = [\"t\"]\n")]);
        assert_eq!(settings(d.path()).unwrap().testpaths, list(&["t"]));
        let d = folder(&[(".pytest.toml", "testpaths = [\"u\"]\n")]);
        let s = settings(d.path()).unwrap();
        assert_eq!((s.from, s.testpaths), (".pytest.toml", list(&["u"])));
    }

    #[test]
    fn the_first_file_that_configures_pytest_wins_as_in_pytest() {
        // pytest.ini counts even when empty; setup.cfg's testpaths are then not read.
        let d = folder(&[
            ("pytest.ini", ""),
            ("setup.cfg", "[tool:pytest]\ntestpaths = elsewhere\n"),
        ]);
        let s = settings(d.path()).unwrap();
        assert_eq!((s.from, s.testpaths), ("pytest.ini", None));
        // pyproject.toml without a pytest table, tox.ini without [pytest]: not pytest's.
        let d = folder(&[
            ("pyproject.toml", "[project]\nname = \"x\"\n"),
            ("tox.ini", "[tox]\nenvlist = py3\n"),
            ("setup.cfg", "[tool:pytest]\ntestpaths = tests\n"),
        ]);
        let s = settings(d.path()).unwrap();
        assert_eq!((s.from, s.testpaths), ("setup.cfg", list(&["tests"])));
        let d = folder(&[("tox.ini", "[tox]\n[pytest]\ntestpaths = t\n")]);
        assert_eq!(settings(d.path()).unwrap().from, "tox.ini");
        assert_eq!(settings(folder(&[("x.cfg", "")]).path()), None);
    }

    #[test]
    fn the_nearest_folder_up_with_settings() {
        let d = folder(&[
            ("pytest.ini", "[pytest]\ntestpaths = t\n"),
            ("app/sub/x.py", ""),
        ]);
        let found = find(&d.path().join("app/sub/../sub/.")).unwrap();
        assert_eq!(found.dir, d.path());
        assert_eq!(found.testpaths, list(&["t"]));
        let d = folder(&[("app/setup.cfg", "[tool:pytest]\n")]);
        assert_eq!(
            find(&d.path().join("app")).unwrap().dir,
            d.path().join("app")
        );
        assert_eq!(normal(Path::new("a/../../b/./c/..")), Path::new("../b"));
        assert_eq!(normal(Path::new("../../x")), Path::new("../../x"));
        assert_eq!(normal(Path::new("/../x/.")), Path::new("/x"));
        assert_eq!(normal(Path::new(".")), Path::new("."));
    }

    #[test]
    fn a_fifo_or_a_folder_is_no_settings_file_and_never_waited_on() {
        let d = folder(&[("setup.cfg", "[tool:pytest]\ntestpaths = t\n")]);
        assert!(
            std::process::Command::new("mkfifo")
                .arg(d.path().join("pytest.ini"))
                .status()
                .unwrap()
                .success()
        );
        std::fs::create_dir(d.path().join("pyproject.toml")).unwrap();
        let s = settings(d.path()).unwrap();
        assert_eq!((s.from, s.testpaths), ("setup.cfg", list(&["t"])));
    }
}
