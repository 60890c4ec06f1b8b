//! `ptest jstest`: runs a part of the node preset's batch (node's runner, jest or vitest) on its
//! items, where an item may name tests of a file (`FILE::NAME`, from `--rerun-failed`): those
//! files run with the runner's name pattern `^(NAME|...)$`, so only the tests that failed run
//! again, as `pytest --lf` does. The runners take one name pattern for every file, so a test of
//! that name in another of those files runs too (more than asked, never fewer); and when some
//! files run whole in the same part, or the command already has a name pattern (`-k`), every
//! file runs whole. Then it becomes the runner (`exec`): its exit, its signals, its output.
//! Knows nothing of plans or runs.

use std::ffi::OsString;

/// The first argument that makes ptest this helper.
pub(crate) const COMMAND: &str = "jstest";

const USAGE: &str = "usage: ptest jstest node|jest|vitest -- COMMAND... ::ptest:: ITEM...\n\
    Runs COMMAND on the ITEMs: a file, or FILE::NAME for that test of the file (a test's name as\n\
    ptest reports it), given to the runner as its name pattern. The node preset's batches run\n\
    their parts this way.";

/// What separates the command from its items.
const ITEMS: &str = "::ptest::";

/// The runner, for its name-pattern option and how it spells a test's full name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    Node,
    Jest,
    Vitest,
}

impl Runner {
    fn flag(self) -> &'static str {
        match self {
            Runner::Node => "--test-name-pattern=",
            Runner::Jest | Runner::Vitest => "--testNamePattern=",
        }
    }

    /// The name the runner's pattern is matched against, from the one reports show: vitest
    /// reports `describe > test` and matches `describe test`.
    fn pattern_name(self, name: &str) -> String {
        match self {
            Runner::Vitest => name.replace(" > ", " "),
            Runner::Node | Runner::Jest => name.to_owned(),
        }
    }
}

/// The command to run in `here`: `base` with the items as files, and the name pattern when only
/// named tests run (before jest's `--`, which ends its options); and whether named tests' files
/// run whole.
fn command(
    runner: Runner,
    base: &[OsString],
    items: &[OsString],
    here: &std::path::Path,
) -> (Vec<OsString>, bool) {
    let mut files: Vec<OsString> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut whole = false;
    for item in items {
        let spelled = item.to_string_lossy();
        let of_a_file = spelled
            .split_once("::")
            .filter(|(file, name)| {
                !file.is_empty() && !name.is_empty() && here.join(file).is_file()
            })
            .filter(|_| !here.join(item).exists());
        let file = match of_a_file {
            Some((file, name)) => {
                let n = regex_quote(&runner.pattern_name(name));
                if !names.contains(&n) {
                    names.push(n);
                }
                OsString::from(file)
            }
            None => {
                whole = true;
                item.clone()
            }
        };
        if !files.contains(&file) {
            files.push(file);
        }
    }
    let has_pattern = base
        .iter()
        .any(|a| a.to_string_lossy().starts_with(runner.flag()));
    let mut out = base.to_vec();
    let narrowed = !names.is_empty() && !whole && !has_pattern;
    if narrowed {
        let pattern = OsString::from(format!("{}^({})$", runner.flag(), names.join("|")));
        match out.iter().rposition(|a| a == "--") {
            Some(at) if at + 1 == out.len() => out.insert(at, pattern),
            _ => out.push(pattern),
        }
    }
    out.extend(files);
    (out, !names.is_empty() && !narrowed)
}

/// What an item says after its file's `::` to leave one test of the file out (the node preset's
/// `skip_test`, after a `test_timeout`: the hung test and those that had ended).
const SKIP: &str = "ptest-skip::";

/// The runner invocations for `items`: one for each file that runs without some of its tests
/// (`FILE::ptest-skip::NAME`), with a name pattern that matches every full name but those
/// (`^(?!(?:NAME|...)$)`, and only the file's named tests when some are), apart, since the
/// runners take one pattern for every file: another file's test of a left-out name must run.
/// Then one for the other items, by [`command`]. Each with whether named tests' files ran whole.
fn invocations(
    runner: Runner,
    base: &[OsString],
    items: &[OsString],
    here: &std::path::Path,
) -> Vec<(Vec<OsString>, bool)> {
    // Per file: the names left out, and the names of it that were asked for.
    let mut apart: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for item in items {
        let spelled = item.to_string_lossy();
        let Some((file, skip)) = spelled
            .split_once("::")
            .and_then(|(f, rest)| Some((f, rest.strip_prefix(SKIP)?)))
            .filter(|(f, t)| !f.is_empty() && !t.is_empty() && here.join(f).is_file())
            .filter(|_| !here.join(item).exists())
        else {
            continue;
        };
        let n = regex_quote(&runner.pattern_name(skip));
        match apart.iter_mut().find(|(f, ..)| f == file) {
            Some((_, left, _)) => left.push(n),
            None => apart.push((file.to_owned(), vec![n], Vec::new())),
        }
    }
    let mut rest = Vec::new();
    for item in items {
        let spelled = item.to_string_lossy();
        let file = spelled.split_once("::").map_or(&*spelled, |(f, _)| f);
        match apart.iter_mut().find(|(f, ..)| f == file) {
            Some((_, _, named)) => {
                if let Some((_, name)) = spelled.split_once("::")
                    && !name.starts_with(SKIP)
                    && !here.join(item).exists()
                {
                    named.push(regex_quote(&runner.pattern_name(name)));
                }
            }
            None => rest.push(item.clone()),
        }
    }
    // The command's own pattern (`-k`) still applies: after the look-ahead, anywhere.
    let own = base
        .iter()
        .position(|a| a.to_string_lossy().starts_with(runner.flag()));
    let mut out = Vec::new();
    for (file, left, named) in apart {
        let mut pattern = format!("{}^(?!(?:{})$)", runner.flag(), left.join("|"));
        if !named.is_empty() {
            pattern.push_str(&format!("(?:{})$", named.join("|")));
        }
        let mut cmd = base.to_vec();
        if let Some(at) = own {
            let k = cmd.remove(at);
            pattern.push_str(&format!(
                "[\\s\\S]*?(?:{})",
                &k.to_string_lossy()[runner.flag().len()..]
            ));
        }
        let pattern = OsString::from(pattern);
        match cmd.iter().rposition(|a| a == "--") {
            Some(at) if at + 1 == cmd.len() => cmd.insert(at, pattern),
            _ => cmd.push(pattern),
        }
        cmd.push(file.into());
        out.push((cmd, false));
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(command(runner, base, &rest, here));
    }
    out
}

/// Set for a run of a file without some of its tests: its live reporter does not tell the tests
/// it reports skipped (vitest reports those the name pattern left out as skipped; they ran, or
/// hung, before).
const QUIET: &str = "PTEST_LIVE_QUIET_SKIPPED";

/// Whether `cmd` runs a file without some of its tests ([`invocations`]' look-ahead pattern).
fn apart(runner: Runner, cmd: &[OsString]) -> bool {
    let head = format!("{}^(?!(?:", runner.flag());
    cmd.iter().any(|a| a.to_string_lossy().starts_with(&head))
}

/// Where the command has its runner write its JUnit file: jest-junit's `JEST_JUNIT_OUTPUT_FILE`
/// (from the environment), vitest's `--outputFile.junit=`, node's last
/// `--test-reporter-destination=`.
fn results_file(runner: Runner, cmd: &[OsString]) -> Option<(Option<usize>, std::path::PathBuf)> {
    let prefix = match runner {
        Runner::Jest => {
            return std::env::var_os("JEST_JUNIT_OUTPUT_FILE").map(|p| (None, p.into()));
        }
        Runner::Vitest => "--outputFile.junit=",
        Runner::Node => "--test-reporter-destination=",
    };
    let at = cmd
        .iter()
        .rposition(|a| a.to_string_lossy().starts_with(prefix))?;
    let path = cmd[at].to_string_lossy()[prefix.len()..].to_owned();
    Some((Some(at), path.into()))
}

/// The testsuites of several JUnit files (each one's root's content) under one root.
fn merge_junit(files: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n".to_vec();
    for f in files {
        let body = match memchr::memmem::find(f, b"<testsuites") {
            Some(open) => {
                let start = memchr::memchr(b'>', &f[open..]).map_or(f.len(), |e| open + e + 1);
                if f[..start].ends_with(b"/>") {
                    &f[start..start]
                } else {
                    let end = memchr::memmem::rfind(f, b"</testsuites>").unwrap_or(f.len());
                    &f[start..end.max(start)]
                }
            }
            // A testsuite for a root: all of it but the declaration.
            None => match memchr::memmem::find(f, b"?>") {
                Some(d) if f.starts_with(b"<?xml") => &f[d + 2..],
                _ => &f[..],
            },
        };
        out.extend_from_slice(body);
        out.push(b'\n');
    }
    out.extend_from_slice(b"</testsuites>\n");
    out
}

/// Runs the invocations one after the other, each writing its JUnit file apart, then puts
/// their testsuites into the command's one; ends as the first that failed.
fn run_all(runner: Runner, runs: &[(Vec<OsString>, bool)]) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    let found = results_file(runner, &runs[0].0);
    let mut written = Vec::new();
    let mut code = 0u8;
    for (k, (cmd, _)) in runs.iter().enumerate() {
        let mut c = std::process::Command::new(&cmd[0]);
        let mut args = cmd[1..].to_vec();
        let own = found.as_ref().map(|(at, path)| {
            let mut own = path.clone().into_os_string();
            own.push(format!(".ptest-{k}"));
            let own = std::path::PathBuf::from(own);
            match at {
                Some(_) => {
                    if let Some(i) = results_file(runner, cmd).and_then(|(i, _)| i) {
                        let flag = cmd[i].to_string_lossy();
                        let flag = &flag[..flag.len() - path.as_os_str().len()];
                        let mut a = OsString::from(flag);
                        a.push(&own);
                        args[i - 1] = a;
                    }
                }
                None => {
                    c.env("JEST_JUNIT_OUTPUT_FILE", &own);
                }
            }
            own
        });
        c.args(&args);
        if apart(runner, cmd) {
            c.env(QUIET, "1");
        }
        let status = match c.status() {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "error: ptest jstest: cannot start {}: {}",
                    cmd[0].to_string_lossy(),
                    crate::io_message(&e)
                );
                return 127;
            }
        };
        let this = match (status.code(), status.signal()) {
            (Some(c), _) => u8::try_from(c).unwrap_or(1),
            (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(1),
            _ => 1,
        };
        if code == 0 {
            code = this;
        }
        if let Some(own) = own {
            if let Ok(text) = std::fs::read(&own) {
                written.push(text);
            }
            std::fs::remove_file(&own).ok();
        }
    }
    match found {
        Some((_, path)) => {
            if let Err(e) = std::fs::write(&path, merge_junit(&written)) {
                eprintln!(
                    "error: ptest jstest: cannot write {}: {}",
                    path.display(),
                    crate::io_message(&e)
                );
                return code.max(1);
            }
        }
        None => eprintln!(
            "ptest jstest: no JUnit file found in the command: the results are the last run's"
        ),
    }
    code
}

/// `text` matched literally by JavaScript's regular expressions.
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

fn parse(args: &[OsString]) -> Result<(Runner, Vec<OsString>, Vec<OsString>), String> {
    let runner = match args.first().map(|a| a.to_string_lossy()) {
        None => return Err("node, jest or vitest is required".into()),
        Some(a) if a == "-h" || a == "--help" => return Err(String::new()),
        Some(a) if a == "node" => Runner::Node,
        Some(a) if a == "jest" => Runner::Jest,
        Some(a) if a == "vitest" => Runner::Vitest,
        Some(a) => return Err(format!("expected node, jest or vitest, got \"{a}\"")),
    };
    if args.get(1).is_none_or(|a| a != "--") {
        return Err("expected -- COMMAND... ::ptest:: ITEM...".into());
    }
    let cmd = &args[2..];
    let Some(at) = cmd.iter().rposition(|a| a == ITEMS).filter(|&at| at > 0) else {
        return Err("expected COMMAND... ::ptest:: ITEM...".into());
    };
    Ok((runner, cmd[..at].to_vec(), cmd[at + 1..].to_vec()))
}

/// `ptest jstest ...`: becomes the runner; the exit code when it could not.
pub(crate) fn main(args: &[OsString]) -> u8 {
    use std::os::unix::process::CommandExt;
    let (runner, base, items) = match parse(args) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            crate::print_stdout(&format!("{USAGE}\n"));
            return crate::exit::OK;
        }
        Err(e) => {
            eprintln!("error: ptest jstest: {e}\n{USAGE}");
            return crate::exit::USAGE;
        }
    };
    let mut runs = invocations(runner, &base, &items, std::path::Path::new("."));
    if runs.iter().any(|(_, whole)| *whole) {
        println!(
            "ptest: the files whose failed tests were named run whole (this part also runs \
             whole files, or the command has a name pattern of its own)"
        );
    }
    if runs.len() > 1 {
        println!(
            "ptest: the files that run without the tests named after a test_timeout run apart, \
             each with a name pattern that leaves those out; then the other files"
        );
        return run_all(runner, &runs);
    }
    let (cmd, _) = runs.remove(0);
    let mut c = std::process::Command::new(&cmd[0]);
    if apart(runner, &cmd) {
        c.env(QUIET, "1");
    }
    let err = c.args(&cmd[1..]).exec();
    eprintln!(
        "error: ptest jstest: cannot start {}: {}",
        cmd[0].to_string_lossy(),
        crate::io_message(&err)
    );
    127
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn named_tests_become_the_runners_pattern_and_their_files_run() {
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path();
        std::fs::create_dir_all(here.join("src")).unwrap();
        std::fs::write(here.join("src/a.test.js"), "").unwrap();
        std::fs::write(here.join("src/b.test.js"), "").unwrap();
        let jest = os(&["jest", "--reporters=default", "--"]);
        // Files only: the command as it was.
        assert_eq!(
            command(Runner::Jest, &jest, &os(&["src/a.test.js"]), here),
            (
                os(&["jest", "--reporters=default", "--", "src/a.test.js"]),
                false
            )
        );
        // Tests of files: the pattern before jest's `--`, each file once, quoted.
        assert_eq!(
            command(
                Runner::Jest,
                &jest,
                &os(&[
                    "src/a.test.js::outer adds (1+1)",
                    "src/a.test.js::boom",
                    "src/b.test.js::x.y"
                ]),
                here
            ),
            (
                os(&[
                    "jest",
                    "--reporters=default",
                    "--testNamePattern=^(outer adds \\(1\\+1\\)|boom|x\\.y)$",
                    "--",
                    "src/a.test.js",
                    "src/b.test.js"
                ]),
                false
            )
        );
        // vitest reports `describe > test` and matches `describe test`; node's option.
        assert_eq!(
            command(
                Runner::Vitest,
                &os(&["vitest", "run"]),
                &os(&["src/a.test.js::d > t"]),
                here
            )
            .0,
            os(&[
                "vitest",
                "run",
                "--testNamePattern=^(d t)$",
                "src/a.test.js"
            ])
        );
        assert_eq!(
            command(
                Runner::Node,
                &os(&["node", "--test"]),
                &os(&["src/a.test.js::t"]),
                here
            )
            .0,
            os(&[
                "node",
                "--test",
                "--test-name-pattern=^(t)$",
                "src/a.test.js"
            ])
        );
        // A whole file in the same part, or a pattern of the command's own: all run whole.
        assert_eq!(
            command(
                Runner::Node,
                &os(&["node"]),
                &os(&["src/a.test.js::t", "src/b.test.js"]),
                here
            ),
            (os(&["node", "src/a.test.js", "src/b.test.js"]), true)
        );
        assert_eq!(
            command(
                Runner::Node,
                &os(&["node", "--test-name-pattern=x"]),
                &os(&["src/a.test.js::t"]),
                here
            ),
            (
                os(&["node", "--test-name-pattern=x", "src/a.test.js"]),
                true
            )
        );
        // A name whose file is not there is a file of its own (the runner says so).
        assert_eq!(
            command(Runner::Node, &os(&["node"]), &os(&["gone.js::t"]), here),
            (os(&["node", "gone.js::t"]), false)
        );
    }

    /// After a test_timeout: the file that runs without some of its tests runs apart, with a
    /// pattern of every full name but those (and `-k`'s after it, and only the file's named
    /// tests when some are); the other files in one more run.
    #[test]
    fn a_file_without_some_tests_runs_apart_with_a_pattern_that_leaves_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path();
        std::fs::write(here.join("a.test.js"), "").unwrap();
        std::fs::write(here.join("b.test.js"), "").unwrap();
        let jest = os(&["jest", "--reporters=default", "--"]);
        assert_eq!(
            invocations(
                Runner::Jest,
                &jest,
                &os(&[
                    "a.test.js",
                    "a.test.js::ptest-skip::grp hangs (1)",
                    "a.test.js::ptest-skip::one",
                    "b.test.js"
                ]),
                here
            ),
            [
                (
                    os(&[
                        "jest",
                        "--reporters=default",
                        "--testNamePattern=^(?!(?:grp hangs \\(1\\)|one)$)",
                        "--",
                        "a.test.js"
                    ]),
                    false
                ),
                (
                    os(&["jest", "--reporters=default", "--", "b.test.js"]),
                    false
                ),
            ]
        );
        let runs = invocations(
            Runner::Jest,
            &jest,
            &os(&["a.test.js::ptest-skip::x", "b.test.js"]),
            here,
        );
        assert!(apart(Runner::Jest, &runs[0].0) && !apart(Runner::Jest, &runs[1].0));
        // Alone: one run. vitest's `describe > test` as it matches it; `-k` after the look-ahead;
        // named tests of the file only those.
        assert_eq!(
            invocations(
                Runner::Vitest,
                &os(&["vitest", "run", "--testNamePattern=ad+"]),
                &os(&["a.test.js::d > x", "a.test.js::ptest-skip::d > t"]),
                here
            ),
            [(
                os(&[
                    "vitest",
                    "run",
                    "--testNamePattern=^(?!(?:d t)$)(?:d x)$[\\s\\S]*?(?:ad+)",
                    "a.test.js"
                ]),
                false
            )]
        );
        // No skips: as before.
        assert_eq!(
            invocations(Runner::Jest, &jest, &os(&["a.test.js"]), here),
            [(
                os(&["jest", "--reporters=default", "--", "a.test.js"]),
                false
            )]
        );
    }

    #[test]
    fn junit_files_merge_under_one_root() {
        let a = b"<?xml version=\"1.0\"?>\n<testsuites name=\"jest tests\" tests=\"1\"><testsuite name=\"a\"><testcase name=\"x\"/></testsuite></testsuites>\n".to_vec();
        let b = b"<testsuites/>".to_vec();
        let c = b"<?xml version=\"1.0\"?><testsuite name=\"c\"><testcase name=\"y\"/></testsuite>"
            .to_vec();
        assert_eq!(
            String::from_utf8(merge_junit(&[a, b, c])).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"a\"><testcase name=\"x\"/></testsuite>\n\n<testsuite name=\"c\"><testcase name=\"y\"/></testsuite>\n</testsuites>\n"
        );
    }

    #[test]
    fn its_arguments() {
        assert_eq!(
            parse(&os(&["jest", "--", "jest", "::ptest::", "a.js"])),
            Ok((Runner::Jest, os(&["jest"]), os(&["a.js"])))
        );
        assert_eq!(parse(&os(&["--help"])).unwrap_err(), "");
        assert_eq!(
            parse(&os(&["mocha", "--", "x", "::ptest::"])).unwrap_err(),
            "expected node, jest or vitest, got \"mocha\""
        );
        assert_eq!(
            parse(&os(&["node", "--", "::ptest::", "a.js"])).unwrap_err(),
            "expected COMMAND... ::ptest:: ITEM..."
        );
    }
}
