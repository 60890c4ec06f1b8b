//! Exported environment (DESIGN §11): the file a suite or service finds in `PTEST_ENV`, and
//! what it appended there read back as variables. The format is the one GitHub Actions gives
//! `GITHUB_ENV`: `KEY=VALUE` lines, and `KEY<<DELIMITER` ... `DELIMITER` for a value of several
//! lines. Blank lines and lines starting with `#` are skipped; a later line for a key replaces
//! an earlier one; anything else is a warning naming the file and line, never an error.
//!
//! Plain data in, plain data out: the variables are bytes (a value need not be UTF-8), so that
//! a result carrying them can travel (the queue hands them to another machine).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

/// The most of a `PTEST_ENV` file read; past it, a warning.
const MAX_BYTES: usize = 1 << 20;

/// What a `PTEST_ENV` file held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Read {
    /// In the order first written, each key once (its last value).
    pub vars: Vec<(String, OsString)>,
    /// `PATH:LINE: why`, one per line that was not understood.
    pub warnings: Vec<String>,
}

/// The variables in the file at `path`, which is then removed (with `wanted` false it is only
/// removed: a failed attempt exports nothing). Nothing, and no warning, when there is no file:
/// the file exists only once a process has written to it, so a process that exports nothing
/// costs one look.
pub(crate) fn take(path: &Path, wanted: bool) -> Read {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Read::default();
    };
    let read = if wanted {
        read_file(path, &meta)
    } else {
        Read::default()
    };
    let _ = std::fs::remove_file(path);
    read
}

/// The variables in the file at `path` (a regular file, not followed through a link).
fn read_file(path: &Path, meta: &std::fs::Metadata) -> Read {
    let shown = path.display().to_string();
    if !meta.is_file() {
        return Read {
            vars: Vec::new(),
            warnings: vec![format!("{shown}: not a regular file; nothing exported")],
        };
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Read {
                vars: Vec::new(),
                warnings: vec![format!("{shown}: {}", crate::io_message(&e))],
            };
        }
    };
    parse(&bytes, &shown)
}

/// `bytes` read as `KEY=VALUE` lines; `shown` names the file in warnings.
pub(crate) fn parse(bytes: &[u8], shown: &str) -> Read {
    let mut out = Read::default();
    let bytes = if bytes.len() > MAX_BYTES {
        out.warnings.push(format!(
            "{shown}: longer than {} MiB; only its beginning was read",
            MAX_BYTES >> 20
        ));
        &bytes[..MAX_BYTES]
    } else {
        bytes
    };
    let mut lines = bytes.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let n = i + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) || line.first() == Some(&b'#') {
            continue;
        }
        let mut warn = |why: String| out.warnings.push(format!("{shown}:{n}: {why}"));
        let (key, value) = if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let (k, v) = (&line[..eq], &line[eq + 1..]);
            // `KEY<<EOF` has no `=`; one with both is read as KEY=VALUE with `<<` in the key,
            // which the name check refuses.
            (k, v.to_vec())
        } else if let Some(at) = find(line, b"<<") {
            let (k, delim) = (&line[..at], &line[at + 2..]);
            if delim.is_empty() {
                warn("KEY<<DELIMITER needs a delimiter after <<".into());
                continue;
            }
            let mut value: Vec<u8> = Vec::new();
            let mut closed = false;
            let mut first = true;
            for (_, body) in lines.by_ref() {
                let body = body.strip_suffix(b"\r").unwrap_or(body);
                if body == delim {
                    closed = true;
                    break;
                }
                if !first {
                    value.push(b'\n');
                }
                first = false;
                value.extend_from_slice(body);
            }
            if !closed {
                warn(format!(
                    "no line {} closes this value; {} not exported",
                    String::from_utf8_lossy(delim),
                    String::from_utf8_lossy(k)
                ));
                continue;
            }
            (k, value)
        } else {
            warn(format!(
                "expected KEY=VALUE (or KEY<<DELIMITER), got {:?}",
                short(line)
            ));
            continue;
        };
        let key = String::from_utf8_lossy(key).trim().to_owned();
        if !is_name(&key) {
            warn(format!(
                "{:?} is not a variable name (letters, digits and _, not starting with a digit)",
                short(key.as_bytes())
            ));
            continue;
        }
        if key == "PTEST" || key.starts_with("PTEST_") {
            warn(format!("{key} is ptest's own; not exported"));
            continue;
        }
        if value.contains(&0) {
            warn(format!(
                "{key}: the value holds a NUL byte, which no environment can carry"
            ));
            continue;
        }
        let value = OsString::from_vec(value);
        match out.vars.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.vars.push((key, value)),
        }
    }
    out
}

fn find(hay: &[u8], pat: &[u8]) -> Option<usize> {
    hay.windows(pat.len()).position(|w| w == pat)
}

fn short(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text.into_owned()
    }
}

/// A portable variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `later` laid over `earlier`: a key in both takes `later`'s value, in `earlier`'s place.
pub(crate) fn overlay(earlier: &mut Vec<(String, OsString)>, later: &[(String, OsString)]) {
    for (k, v) in later {
        match earlier.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1.clone_from(v),
            None => earlier.push((k.clone(), v.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(r: &Read) -> Vec<(&str, String)> {
        r.vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_string_lossy().into_owned()))
            .collect()
    }

    #[test]
    fn key_value_lines_and_the_last_value_wins() {
        let r = parse(
            b"A=1\n\n# a comment\nB=two words = three\r\nC=\nA=4\n",
            "env",
        );
        assert_eq!(
            vars(&r),
            [
                ("A", "4".into()),
                ("B", "two words = three".into()),
                ("C", String::new())
            ]
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn a_value_of_several_lines_between_delimiters() {
        let r = parse(b"CERT<<EOF\nline 1\nline 2\nEOF\nNEXT=x\n", "env");
        assert_eq!(
            vars(&r),
            [("CERT", "line 1\nline 2".into()), ("NEXT", "x".into())]
        );
        let r = parse(b"OPEN<<END\nnever closed\n", "env");
        assert!(r.vars.is_empty());
        assert_eq!(
            r.warnings,
            ["env:1: no line END closes this value; OPEN not exported"]
        );
    }

    #[test]
    fn bad_lines_are_warnings_naming_the_file_and_line() {
        let r = parse(
            b"GOOD=1\njust words\n1BAD=x\nPTEST_WORKER=3\nA B=c\nX<<\nNUL=a\0b\n",
            "/tmp/run/api-1.env",
        );
        assert_eq!(vars(&r), [("GOOD", "1".into())]);
        assert_eq!(
            r.warnings,
            [
                "/tmp/run/api-1.env:2: expected KEY=VALUE (or KEY<<DELIMITER), got \"just words\"",
                "/tmp/run/api-1.env:3: \"1BAD\" is not a variable name (letters, digits and _, not starting with a digit)",
                "/tmp/run/api-1.env:4: PTEST_WORKER is ptest's own; not exported",
                "/tmp/run/api-1.env:5: \"A B\" is not a variable name (letters, digits and _, not starting with a digit)",
                "/tmp/run/api-1.env:6: KEY<<DELIMITER needs a delimiter after <<",
                "/tmp/run/api-1.env:7: NUL: the value holds a NUL byte, which no environment can carry",
            ]
        );
    }

    #[test]
    fn values_keep_their_bytes() {
        let r = parse(b"RAW=\xff\xfe\n", "env");
        assert_eq!(r.vars[0].1, OsString::from_vec(vec![0xff, 0xfe]));
    }

    #[test]
    fn files_are_read_once_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(take(&dir.path().join("none"), true), Read::default());
        let f = dir.path().join("x.env");
        std::fs::write(&f, "K=v\n").unwrap();
        assert_eq!(vars(&take(&f, true)), [("K", "v".into())]);
        assert!(!f.exists(), "removed once read");
        std::fs::write(&f, "K=v\n").unwrap();
        assert_eq!(
            take(&f, false),
            Read::default(),
            "a failed attempt exports nothing"
        );
        assert!(!f.exists());
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let r = take(&sub, true);
        assert!(
            r.vars.is_empty() && r.warnings[0].ends_with("not a regular file; nothing exported")
        );
        // Through a link: the link is looked at, not followed, and removed.
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "K=v\n").unwrap();
        let link = dir.path().join("link.env");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(take(&link, true).vars.is_empty());
        assert!(target.exists() && !link.exists());
    }

    #[test]
    fn a_huge_file_is_read_up_to_its_bound() {
        let mut big = b"FIRST=1\n".to_vec();
        big.resize(MAX_BYTES + 10, b'#');
        let r = parse(&big, "env");
        assert_eq!(vars(&r), [("FIRST", "1".into())]);
        assert_eq!(
            r.warnings,
            ["env: longer than 1 MiB; only its beginning was read"]
        );
    }

    #[test]
    fn overlay_replaces_in_place_and_appends() {
        let mut a = vec![
            ("A".to_owned(), OsString::from("1")),
            ("B".into(), "2".into()),
        ];
        overlay(
            &mut a,
            &[("B".into(), "3".into()), ("C".into(), "4".into())],
        );
        assert_eq!(
            a,
            [
                ("A".to_owned(), OsString::from("1")),
                ("B".into(), "3".into()),
                ("C".into(), "4".into())
            ]
        );
    }
}
