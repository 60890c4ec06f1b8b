//! `ptest gotest`: runs `go test -json ...` for the go preset's batch parts, saves go's event
//! stream to the results file as it comes, and prints each event's `Output` (the text `go test`
//! would have printed without `-json`) for the suite's log, decoded once by the same reader the
//! results file goes through ([`super::gojson::event`]); lines that are not events (go prints
//! `FAIL pkg [build failed]` plainly before 1.24) are printed as they are. Ends as `go` did.
//! Knows nothing of plans or runs.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// The first argument that makes ptest this helper.
pub(crate) const COMMAND: &str = "gotest";

const USAGE: &str = "usage: ptest gotest FILE -- GO test -json [ARG]...\n\
    Runs the command, writes its standard output (go's JSON events) to FILE as it comes, and\n\
    prints each event's Output, so that the log reads as `go test` without -json. Exits as the\n\
    command did. The go preset's batches run their packages this way.";

/// Events longer than this are passed to the file whole but printed as they are.
const LINE: usize = 16 * 1024 * 1024;

/// In the command, what comes after this argument are its packages (the go preset puts it
/// before `{items}`); it is not given to go.
const ITEMS: &str = "::ptest::";

/// The `go test` runs a command stands for: itself when its packages name no test; else one
/// run of the packages that run whole; one for each set of packages asked for the same tests
/// (`PKG::TestName`, from `--rerun-failed` or `--test`), with a `-run` of exactly those
/// ([`named`]: `^(TestA|TestB)$`, a subtest by its levels, `^TestC$/^sub$`; a failed subtest's
/// test failed too, and runs whole), so that a test of one package's name in another package
/// does not run there; and one for each package that runs without some of its tests
/// (`PKG::ptest-skip::TestName`, after a `test_timeout`), with a `-run` of every test but those
/// ([`without`]).
fn runs(cmd: &[OsString]) -> Vec<Vec<OsString>> {
    let Some(at) = cmd.iter().rposition(|a| a == ITEMS) else {
        return vec![cmd.to_vec()];
    };
    let (base, items) = (&cmd[..at], &cmd[at + 1..]);
    let mut whole = Vec::new();
    // Per package: the tests named of it (empty: all), and those it runs without.
    let mut packages: Vec<(OsString, Vec<String>, Vec<String>)> = Vec::new();
    let mut order: Vec<(usize, String)> = Vec::new();
    for item in items {
        let spelled = item.to_string_lossy();
        let Some((package, name)) = spelled
            .split_once("::")
            .filter(|(p, n)| !p.is_empty() && !n.is_empty())
        else {
            whole.push(item.clone());
            continue;
        };
        let package = OsString::from(package);
        let at = packages
            .iter()
            .position(|(p, ..)| *p == package)
            .unwrap_or_else(|| {
                packages.push((package, Vec::new(), Vec::new()));
                packages.len() - 1
            });
        match name.strip_prefix("ptest-skip::") {
            Some(skip) => packages[at].2.push(skip.to_owned()),
            None => {
                let top = name.split('/').next().unwrap_or(name).to_owned();
                order.push((at, name.to_owned()));
                packages[at].1.push(top);
            }
        }
    }
    // Per package that leaves none out, the tests named of it in the items' order.
    let mut named_of: Vec<Vec<String>> = vec![Vec::new(); packages.len()];
    for (at, t) in order {
        if packages[at].2.is_empty() && !named_of[at].contains(&t) {
            named_of[at].push(t);
        }
    }
    let (apart, some): (Vec<_>, Vec<_>) = packages
        .into_iter()
        .zip(named_of)
        .partition(|((_, _, skip), _)| !skip.is_empty());
    let apart: Vec<_> = apart.into_iter().map(|(package, _)| package).collect();
    whole.retain(|p| !apart.iter().any(|(q, ..)| q == p));
    // A package named whole runs whole, and only there.
    let some: Vec<(OsString, Vec<String>)> = some
        .into_iter()
        .filter(|((p, ..), _)| !whole.contains(p))
        .map(|((p, ..), tests)| (p, tests))
        .collect();
    let mut out = Vec::new();
    if !whole.is_empty() || (some.is_empty() && apart.is_empty()) {
        out.push(base.iter().chain(&whole).cloned().collect());
    }
    let with_run = |pattern: String, packages: &mut dyn Iterator<Item = OsString>| {
        let mut run: Vec<OsString> = base.to_vec();
        run.push("-run".into());
        run.push(pattern.into());
        run.extend(packages);
        run
    };
    // Packages asked for the same tests share a run; one asked for others runs apart, so that
    // a test of one package's name in another package is not run there.
    let mut sets: Vec<(Vec<String>, Vec<OsString>)> = Vec::new();
    for (package, tests) in some {
        let asks_alike =
            |t: &[String]| t.len() == tests.len() && t.iter().all(|name| tests.contains(name));
        match sets.iter_mut().find(|(t, _)| asks_alike(t)) {
            Some((_, packages)) => packages.push(package),
            None => sets.push((tests, vec![package])),
        }
    }
    for (tests, packages) in sets {
        out.push(with_run(named(&tests), &mut packages.into_iter()));
    }
    for (package, tests, skip) in apart {
        // Only named tests were asked of it (all: it is also a plain item of the part).
        let tests = (!tests.is_empty() && !items.contains(&package)).then_some(tests);
        if let Some(pattern) = without(tests.as_deref(), &skip) {
            out.push(with_run(pattern, &mut std::iter::once(package)));
        }
    }
    out
}

/// A `-run` pattern for exactly these tests: the top-level ones as `^(TestA|TestB)$` (with all
/// their subtests), each subtest by its levels (`^TestC$/^sub$`: TestC runs, and of its
/// subtests only `sub`), as alternatives go splits at a `|` outside brackets.
fn named(tests: &[String]) -> String {
    let (top, deep): (Vec<&String>, Vec<&String>) = tests.iter().partition(|t| !t.contains('/'));
    let mut alternatives = Vec::new();
    if !top.is_empty() {
        let names: Vec<String> = top.iter().map(|t| regex_quote(t)).collect();
        alternatives.push(format!("^({})$", names.join("|")));
    }
    for t in deep {
        let levels: Vec<String> = t
            .split('/')
            .map(|level| format!("^{}$", regex_quote(level)))
            .collect();
        alternatives.push(levels.join("/"));
    }
    alternatives.join("|")
}

/// A `-run` pattern for go's tests (of `only`, top-level names, when given) without `skip`
/// (tests and subtests, `TestA/sub`), or `None` when that leaves none. go's `-skip` (Go 1.20)
/// would say it shorter; this works with every Go: a top-level alternative for every test
/// but those left out, and one for each test of which only subtests are left out, that runs
/// it and every subtest but those (`^(?:...)$|^TestA$/^(?:...)$`), each "every name but"
/// spelled as a regular expression ([`none_of`]).
fn without(only: Option<&[String]>, skip: &[String]) -> Option<String> {
    #[derive(Default)]
    struct Level {
        whole: std::collections::BTreeSet<String>,
        below: std::collections::BTreeMap<String, Level>,
    }
    let mut top = Level::default();
    for s in skip {
        let mut level = &mut top;
        let parts: Vec<&str> = s.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                level.whole.insert((*part).to_owned());
            } else {
                level = level.below.entry((*part).to_owned()).or_default();
            }
        }
    }
    fn alternatives(
        level: &Level,
        path: &mut Vec<String>,
        only: Option<&[String]>,
        out: &mut Vec<String>,
    ) {
        let excluded: Vec<&str> = level
            .whole
            .iter()
            .chain(level.below.keys())
            .map(String::as_str)
            .collect();
        let rest = match only {
            None => Some(format!("^(?:{})$", none_of(&excluded))),
            Some(names) => {
                let left: Vec<String> = names
                    .iter()
                    .filter(|n| !excluded.contains(&n.as_str()))
                    .map(|n| regex_quote(n))
                    .collect();
                (!left.is_empty()).then(|| format!("^({})$", left.join("|")))
            }
        };
        if let Some(rest) = rest {
            out.push(
                path.iter()
                    .chain([&rest])
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
        for (name, below) in &level.below {
            if level.whole.contains(name) || only.is_some_and(|o| !o.contains(name)) {
                continue;
            }
            path.push(format!("^{}$", regex_quote(name)));
            alternatives(below, path, None, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    alternatives(&top, &mut Vec::new(), only, &mut out);
    (!out.is_empty()).then(|| out.join("|"))
}

/// A regular expression (unanchored: the caller anchors it) that matches every string but
/// `names`, without the look-ahead go's regular expressions lack: over the tree of their
/// characters, at each point the end (unless a name ends there), a character no name goes on
/// with and anything after it, or one that some do and what then matches none of them.
fn none_of(names: &[&str]) -> String {
    #[derive(Default)]
    struct Node {
        end: bool,
        next: std::collections::BTreeMap<char, Node>,
    }
    fn spelled(n: &Node) -> String {
        if n.next.is_empty() {
            return if n.end { ".+" } else { ".*" }.to_owned();
        }
        let mut alts: Vec<String> = Vec::new();
        if !n.end {
            alts.push(String::new());
        }
        let class: String = n.next.keys().map(|&c| escaped(c)).collect();
        alts.push(format!("[^{class}].*"));
        for (&c, child) in &n.next {
            alts.push(format!("{}(?:{})", escaped(c), spelled(child)));
        }
        alts.join("|")
    }
    fn escaped(c: char) -> String {
        if c.is_ascii_punctuation() {
            format!("\\{c}")
        } else {
            c.to_string()
        }
    }
    let mut root = Node::default();
    for name in names {
        let mut n = &mut root;
        for c in name.chars() {
            n = n.next.entry(c).or_default();
        }
        n.end = true;
    }
    spelled(&root)
}

/// `text` matched literally by go's regular expressions.
fn regex_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn parse(args: &[OsString]) -> Result<(std::path::PathBuf, Vec<OsString>), String> {
    match args {
        [] => Err("FILE is required".into()),
        [flag, ..] if flag == "-h" || flag == "--help" => Err(String::new()),
        [file, dashes, cmd @ ..] if dashes == "--" && !cmd.is_empty() => {
            Ok((file.into(), cmd.to_vec()))
        }
        _ => Err("expected FILE -- COMMAND...".into()),
    }
}

/// The results file, new: created here (`O_EXCL`, never through a link left in its place).
fn create(path: &Path) -> std::io::Result<std::fs::File> {
    match std::fs::symlink_metadata(path) {
        // A file of an earlier attempt in a reused folder: ours to replace. Anything else
        // (a link, a folder) is left alone and refused below.
        Ok(m) if m.file_type().is_file() => std::fs::remove_file(path)?,
        _ => {}
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Copy `from` (the command's stdout) to `file` byte for byte and each event's output to `out`;
/// each test's end is told to the run.
fn relay(
    from: impl std::io::Read,
    file: &mut impl Write,
    out: &mut impl Write,
    run: &mut super::live::Live,
) {
    let mut from = BufReader::with_capacity(64 * 1024, from);
    let mut line: Vec<u8> = Vec::new();
    let mut long = false;
    let mut file_ok = true;
    loop {
        let buf = match from.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if buf.is_empty() {
            break;
        }
        let (part, used, ends) = match memchr::memchr(b'\n', buf) {
            Some(at) => (&buf[..=at], at + 1, true),
            None => (buf, buf.len(), false),
        };
        if file_ok && file.write_all(part).is_err() {
            // The results are lost (a full disk); the log still gets everything.
            file_ok = false;
        }
        if long {
            // Past the cap: printed as it comes.
            let _ = out.write_all(part);
        } else if line.len() + part.len() > LINE {
            let _ = out.write_all(&line);
            let _ = out.write_all(part);
            line.clear();
            long = true;
        } else {
            line.extend_from_slice(part);
        }
        from.consume(used);
        if ends {
            if !long {
                show(&line, out, run);
            }
            line.clear();
            long = false;
            let _ = out.flush();
        }
    }
    if !line.is_empty() && !long {
        show(&line, out, run);
    }
    let _ = out.flush();
    let _ = file.flush();
}

/// What a line of `go test -json` output shows in the log; a test's end is told to the run
/// (`PACKAGE::Test`, as its testcase is named).
fn show(line: &[u8], out: &mut impl Write, run: &mut super::live::Live) {
    match super::gojson::event(line) {
        Some(e) => {
            if let Some(text) = e.output {
                let _ = out.write_all(text.as_bytes());
            }
            let outcome = match e.action.as_str() {
                "pass" => Some(crate::record::Outcome::Passed),
                "fail" => Some(crate::record::Outcome::Failed),
                "skip" => Some(crate::record::Outcome::Skipped),
                _ => None,
            };
            if let (Some(p), Some(t)) = (&e.package, &e.test) {
                match outcome {
                    Some(o) => run.ended(o, &format!("{p}::{t}")),
                    None if e.action == "run" => run.started(&format!("{p}::{t}")),
                    None => {}
                }
            }
        }
        // An event without Output prints nothing; anything else is go's own text.
        None if line.trim_ascii_start().first() == Some(&b'{') => {}
        None => {
            let _ = out.write_all(line);
            if !line.ends_with(b"\n") {
                let _ = out.write_all(b"\n");
            }
        }
    }
}

/// `ptest gotest ...`: the exit code to end with.
pub(crate) fn main(args: &[OsString]) -> u8 {
    let (path, cmd) = match parse(args) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            crate::print_stdout(&format!("{USAGE}\n"));
            return crate::exit::OK;
        }
        Err(e) => {
            eprintln!("error: ptest gotest: {e}\n{USAGE}");
            return crate::exit::USAGE;
        }
    };
    // A stop signal reaches go too (same process group): read on until it ends.
    let _stopped = crate::os::process::note_stop_signals();
    let mut file = match create(&path) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!(
                "error: ptest gotest: cannot write {}: {}",
                path.display(),
                crate::io_message(&e)
            );
            None
        }
    };
    let mut live = super::live::Live::connect();
    // Each run in turn, into the same file; it ends as the first that failed did.
    let mut failed: Option<std::process::ExitStatus> = None;
    let mut last = None;
    for cmd in runs(&cmd) {
        let spawned = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "error: ptest gotest: cannot start {}: {}",
                    Path::new(&cmd[0]).display(),
                    crate::io_message(&e)
                );
                return 127;
            }
        };
        let from = child.stdout.take().expect("piped stdout");
        let mut out = std::io::stdout().lock();
        match file.as_mut() {
            Some(f) => relay(from, f, &mut out, &mut live),
            None => relay(from, &mut std::io::sink(), &mut out, &mut live),
        }
        let status = loop {
            match child.wait() {
                Ok(s) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return 1,
            }
        };
        if !status.success() && failed.is_none() {
            failed = Some(status);
        }
        last = Some(status);
    }
    drop(file);
    // Before it may end by a signal (no destructor runs then).
    live.finish();
    match failed.or(last) {
        Some(status) => super::libtest::end_like(status),
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relayed(input: &str) -> (String, String) {
        let mut file = Vec::new();
        let mut out = Vec::new();
        relay(
            input.as_bytes(),
            &mut file,
            &mut out,
            &mut crate::batch::live::Live::off(),
        );
        (
            String::from_utf8(file).unwrap(),
            String::from_utf8(out).unwrap(),
        )
    }

    #[test]
    fn the_file_gets_every_byte_and_the_log_the_decoded_output() {
        let input = concat!(
            "{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"T\"}\n",
            "{\"Action\":\"output\",\"Package\":\"p\",\"Test\":\"T\",\"Output\":\"=== RUN   T\\n\"}\n",
            "{\"Action\":\"output\",\"Package\":\"p\",\"Test\":\"T\",\"Output\":\"\\u00e9 \\u2603 \\u001b[1m\\r\\n\"}\n",
            "FAIL\tp [build failed]\n",
            "{\"Action\":\"output\",\"Package\":\"p\",\"Output\":\"no newline\"}"
        );
        let (file, out) = relayed(input);
        assert_eq!(file, input);
        assert_eq!(
            out,
            "=== RUN   T\né ☃ \u{1b}[1m\r\nFAIL\tp [build failed]\nno newline"
        );
    }

    #[test]
    fn arguments() {
        let a = |v: &[&str]| parse(&v.iter().map(OsString::from).collect::<Vec<_>>());
        assert_eq!(
            a(&["f.json", "--", "go", "test"]).unwrap(),
            ("f.json".into(), vec!["go".into(), "test".into()])
        );
        assert!(a(&["f.json", "go"]).is_err());
        assert!(a(&["f.json", "--"]).is_err());
        assert_eq!(a(&["--help"]).unwrap_err(), "");
    }

    #[test]
    fn packages_of_which_only_some_tests_run_run_apart_with_their_names() {
        let v = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let base = ["go", "test", "-json", "-tags", "x"];
        // No marker, or no test named: one run, the marker left out.
        assert_eq!(runs(&v(&["go", "test", "a"])), [v(&["go", "test", "a"])]);
        assert_eq!(
            runs(&v(&[&base[..], &["::ptest::", "m/a", "m/b"]].concat())),
            [v(&[&base[..], &["m/a", "m/b"]].concat())]
        );
        // Whole packages in one run; the named tests (top-level, quoted) in others: one per
        // set of packages asked for the same tests, so m/c's TestY does not run in m/b.
        assert_eq!(
            runs(&v(&[
                &base[..],
                &[
                    "::ptest::",
                    "m/a",
                    "m/b::TestX/sub",
                    "m/c::TestY",
                    "m/b::TestZ.1",
                    "m/d::TestY",
                    "m/a::TestW",
                ]
            ]
            .concat())),
            [
                v(&[&base[..], &["m/a"]].concat()),
                v(&[&base[..], &["-run", "^(TestZ\\.1)$|^TestX$/^sub$", "m/b"]].concat()),
                v(&[&base[..], &["-run", "^(TestY)$", "m/c", "m/d"]].concat()),
            ]
        );
        // Only named tests: no run of whole packages (go would run the folder's).
        assert_eq!(
            runs(&v(&[&base[..], &["::ptest::", "m/b::TestX"]].concat())),
            [v(&[&base[..], &["-run", "^(TestX)$", "m/b"]].concat())]
        );
    }

    #[test]
    fn a_package_without_some_tests_runs_apart_with_a_run_of_the_others() {
        let v = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let base = ["go", "test", "-json"];
        let run = |items: &[&str]| runs(&v(&[&base[..], &["::ptest::"], items].concat()));
        // What a test_timeout leaves: the other packages whole, the hung one's without it and
        // the tests that had ended.
        assert_eq!(
            run(&["m/a", "m/b", "m/b::ptest-skip::TestA", "m/b::ptest-skip::TestB"]),
            [
                v(&[&base[..], &["m/a"]].concat()),
                v(&[
                    &base[..],
                    &[
                        "-run",
                        "^(?:|[^T].*|T(?:|[^e].*|e(?:|[^s].*|s(?:|[^t].*|t(?:|[^AB].*|A(?:.+)|B(?:.+))))))$",
                        "m/b"
                    ]
                ]
                .concat()),
            ]
        );
        // A hung subtest: its test runs, without it.
        assert_eq!(
            without(None, &["T/x".into(), "U".into()]).unwrap(),
            "^(?:|[^TU].*|T(?:.+)|U(?:.+))$|^T$/^(?:|[^x].*|x(?:.+))$"
        );
        // Names quoted; of the tests named (`--rerun-failed`), those left.
        assert_eq!(
            without(Some(&["TestA".into(), "T.b".into()]), &["TestA".into()]).unwrap(),
            "^(T\\.b)$"
        );
        assert_eq!(
            none_of(&["a.b"]),
            "|[^a].*|a(?:|[^\\.].*|\\.(?:|[^b].*|b(?:.+)))"
        );
        assert_eq!(without(Some(&["TestA".into()]), &["TestA".into()]), None);
        // A package of which only left-out tests were named does not run.
        assert_eq!(
            run(&["m/b::TestA", "m/b::ptest-skip::TestA"]),
            Vec::<Vec<OsString>>::new()
        );
    }

    #[test]
    fn the_results_file_is_never_written_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("go-test.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create(&link).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        // An earlier attempt's file is replaced.
        let earlier = dir.path().join("earlier.json");
        std::fs::write(&earlier, "old").unwrap();
        let mut f = create(&earlier).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&earlier).unwrap(), "new");
    }
}
