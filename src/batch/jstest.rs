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
    let (cmd, whole) = command(runner, &base, &items, std::path::Path::new("."));
    if whole {
        println!(
            "ptest: the files whose failed tests were named run whole (this part also runs \
             whole files, or the command has a name pattern of its own)"
        );
    }
    let err = std::process::Command::new(&cmd[0]).args(&cmd[1..]).exec();
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
