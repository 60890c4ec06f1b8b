//! Where a failed or flaky test of a batch's part is in the sources, found once when its
//! suite's entry is built (the files looked for are the run's own, under the suite's folder),
//! so the reports read it from the record (GitHub's annotations go on that file and line).

use std::path::PathBuf;

use crate::command::CommandLine;
use crate::plan::{Plan, Suite};
use crate::record::{Place, TestCase};

/// A test's file, relative to the folder of `ptest.lua`, and the line its failure's text gives
/// in that file: where a Rust test panicked; else its `file` (from the suite's folder), else
/// its item when that is a file, else (go) a `NAME_test.go:LINE` its output names, in its
/// package's folder. The `line` attribute is not used: pytest's is the definition's, counted
/// from 0.
pub(super) fn of(plan: &Plan, s: &Suite, c: &TestCase) -> Option<Place> {
    if let Some((path, line)) = rust_panic(s, c) {
        return Some(Place {
            file: super::from_config(plan, &path),
            line: Some(line),
        });
    }
    let existing = |f: &str| {
        let p = s.cwd.join(f);
        p.is_file()
            .then(|| (f.trim_start_matches("./").to_owned(), p))
    };
    let (named, path) = c
        .file
        .as_deref()
        .and_then(existing)
        .or_else(|| c.item.as_deref().and_then(existing))
        .or_else(|| go_test_file(s, c))?;
    let line = [c.text.as_deref(), c.message.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|t| line_in(t, &named));
    Some(Place {
        file: super::from_config(plan, &path),
        line,
    })
}

/// The first line a text names `named` (a path, or its end after a `/`) in, as `named:LINE`, as
/// pytest's tracebacks (`tests/test_x.py:7: AssertionError`) and go's failures
/// (`calc_test.go:20: boom`) do.
fn line_in(text: &str, named: &str) -> Option<u32> {
    if named.is_empty() {
        return None;
    }
    for (at, _) in text.match_indices(named) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|b| !(b.is_whitespace() || "/\"'(".contains(b))) {
            continue;
        }
        let Some(rest) = text[at + named.len()..].strip_prefix(':') else {
            continue;
        };
        let digits: &str = &rest[..rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len())];
        if let Ok(line) = digits.parse::<u32>()
            && line > 0
        {
            return Some(line);
        }
    }
    None
}

/// A Rust test's panic names where it happened (`panicked at tests/tests.rs:33:5:`), from the
/// folder rustc was given the file in: the suite's, or a package's that the cargo preset's
/// `ptest libtest` runs a binary in (`--bin NAME EXE DIR PACKAGE`). The first that holds it.
fn rust_panic(s: &Suite, c: &TestCase) -> Option<(PathBuf, u32)> {
    let text = c.text.as_deref()?;
    let (file, line) = panic_location(text)?;
    let mut dirs = vec![s.cwd.clone()];
    if let CommandLine::Argv(argv) = &s.cmd {
        for (i, a) in argv.iter().enumerate() {
            if a == "--bin"
                && let Some(dir) = argv.get(i + 3)
            {
                dirs.push(s.cwd.join(dir));
            }
        }
    }
    dirs.iter()
        .map(|d| d.join(file))
        .find(|p| p.is_file())
        .map(|p| (p, line))
}

/// `FILE` and `LINE` of the first `panicked at FILE:LINE:COL` in a text.
fn panic_location(text: &str) -> Option<(&str, u32)> {
    text.match_indices("panicked at ").find_map(|(at, m)| {
        let rest = &text[at + m.len()..];
        let place = rest.split(|c: char| c.is_whitespace()).next()?;
        let place = place.strip_suffix(':').unwrap_or(place);
        let mut parts = place.rsplitn(3, ':');
        let _column: u32 = parts.next()?.parse().ok()?;
        let line: u32 = parts.next()?.parse().ok()?;
        let file = parts.next().filter(|f| !f.is_empty())?;
        (line > 0).then_some((file, line))
    })
}

/// Go's results name no file: a `NAME_test.go:LINE` in a failed test's output, found in its
/// package's folder (the folder under the suite's whose path ends as the package's import
/// path does, the longest such; the module's path is not known here).
fn go_test_file(s: &Suite, c: &TestCase) -> Option<(String, PathBuf)> {
    let package = c.classname.as_deref()?;
    let text = c.text.as_deref()?;
    let name = text.split_whitespace().find_map(|w| {
        let (file, rest) = w.split_once(".go:")?;
        let file = format!("{file}.go");
        (file.ends_with("_test.go")
            && !file.contains('/')
            && rest.starts_with(|c: char| c.is_ascii_digit()))
        .then_some(file)
    })?;
    let parts: Vec<&str> = package.split('/').collect();
    (0..=parts.len()).find_map(|from| {
        let p = s.cwd.join(parts[from..].join("/")).join(&name);
        p.is_file().then(|| (name.clone(), p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_read_only_where_the_text_names_that_file() {
        assert_eq!(
            line_in("tests/test_x.py:7: AssertionError", "tests/test_x.py"),
            Some(7)
        );
        assert_eq!(
            line_in("  /abs/tests/test_x.py:12: in f", "tests/test_x.py"),
            Some(12)
        );
        assert_eq!(line_in("\tcalc_test.go:20: boom", "calc_test.go"), Some(20));
        // Another file whose name ends the same; no line; line 0; too large a number.
        assert_eq!(line_in("mytests/test_x.py:7: x", "tests/test_x.py"), None);
        assert_eq!(
            line_in("tests/test_x.py: x\ntests/test_x.py:0:", "tests/test_x.py"),
            None
        );
        assert_eq!(
            line_in("tests/test_x.py:99999999999", "tests/test_x.py"),
            None
        );
        assert_eq!(line_in("a:1", ""), None);
    }

    #[test]
    fn a_panic_names_its_file_and_line() {
        assert_eq!(
            panic_location("panicked at tests/it.rs:33:5:\nx"),
            Some(("tests/it.rs", 33))
        );
        assert_eq!(
            panic_location("panicked at C:\\x\\it.rs:7:1"),
            Some(("C:\\x\\it.rs", 7))
        );
        assert_eq!(
            panic_location("panicked at 'old style', src/a.rs:3:4"),
            None
        );
        assert_eq!(panic_location("panicked at src/a.rs:0:4"), None);
        assert_eq!(panic_location("nothing here"), None);
    }
}
