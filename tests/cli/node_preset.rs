//! The `node` preset on real tools: node's own test runner (its default file patterns, its junit
//! reporter), jest with jest-junit and vitest with its junit reporter. Each: the files as items,
//! a failing test named in the summary with its message, ptest's JUnit holding the tests under
//! their files, and a retry that reruns only the failed files. Node (20.10 or later) comes from
//! `PTEST_TEST_NODE`, else `node` on the PATH; jest, jest-junit and vitest from the node_modules
//! folder `PTEST_TEST_NODE_MODULES` names, else `target/node-tools/node_modules` (`.ci/run`
//! installs them there from npm). Without them the tests fail under CI and say "skipped"
//! elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Output, Project, batch_items, list_json, run};

fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}: run .ci/run (it installs them)"
    );
    eprintln!("skipped: {why} (run .ci/run once)");
}

/// Node 20.10 or later (its test runner's junit reporter), or `None` after saying why.
fn node() -> Option<PathBuf> {
    let node =
        std::env::var_os("PTEST_TEST_NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from);
    let version = Command::new(&node)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let new_enough = version.as_deref().is_some_and(|v| {
        let mut parts = v
            .trim_start_matches('v')
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        (major, minor) >= (20, 10)
    });
    if !new_enough {
        skip(&format!(
            "no node 20.10 or later (found {})",
            version.as_deref().unwrap_or("none")
        ));
        return None;
    }
    Some(node)
}

/// A node_modules folder with jest, jest-junit and vitest, or `None` after saying why.
fn node_modules() -> Option<PathBuf> {
    let dir = std::env::var_os("PTEST_TEST_NODE_MODULES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/node-tools/node_modules"),
        PathBuf::from,
    );
    let complete = [".bin/jest", ".bin/vitest", "jest-junit/package.json"]
        .iter()
        .all(|f| dir.join(f).exists());
    if !complete {
        skip(&format!(
            "no jest, jest-junit and vitest in {}",
            dir.display()
        ));
        return None;
    }
    Some(dir)
}

/// `ptest ARGS` with the node found first on the PATH.
fn ptest(p: &Project, node: &Path, args: &[&str]) -> Output {
    let mut c = p.cmd();
    c.args(args);
    if let Some(dir) = node.parent().filter(|d| !d.as_os_str().is_empty()) {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap());
    }
    run(&mut c)
}

/// A line of JavaScript that notes the attempt and the file in ran.txt (in the project's
/// folder, which is every runner's working directory).
fn record(file: &str, esm: bool) -> String {
    let fs = if esm {
        "import { appendFileSync } from 'node:fs';\n"
    } else {
        "const { appendFileSync } = require('node:fs');\n"
    };
    format!("{fs}appendFileSync('ran.txt', process.env.PTEST_ATTEMPT + ' {file}\\n');\n")
}

/// The items of the config's only batch, sorted.
fn items(p: &Project) -> Vec<String> {
    let mut all = batch_items(&list_json(p, &[]), 0);
    all.sort();
    all
}

/// Runs the project (one batch, one retry) and checks the summary, ptest's JUnit and which
/// files the retry ran: `math` fails, `flaky` passes the second time. `dir`: the batch's `cwd`
/// (with a trailing slash), where ran.txt is written. Each test is told to the run as it ends
/// (the runner's live reporter): `--events` has it, named as its testcase, before the part's
/// end, and the failure is printed by name before the part's own line.
fn check_run(p: &Project, node: &Path, dir: &str, math: &str, flaky: &str, name: &str) {
    let out = ptest(
        p,
        node,
        &["run", "--junit", "junit.xml", "--events", "events.ndjson"],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let events = std::fs::read_to_string(p.join("events.ndjson")).unwrap();
    let first: Vec<(String, String)> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .take_while(|e| e["event"] != "attempt_finished")
        .filter(|e| e["event"] == "test_finished")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_owned();
            (s("name"), s("status"))
        })
        .collect();
    assert!(
        first.contains(&(format!("{math}::{name}"), "failed".into())),
        "{first:?}\n{events}"
    );
    assert!(
        first.iter().filter(|(_, s)| s == "passed").count() >= 2,
        "{first:?}"
    );
    let told = out
        .stdout
        .find(&format!("FAIL    {math}::{name}  failed"))
        .unwrap_or_else(|| panic!("no FAIL line:\n{}", out.stdout));
    let part = out.stdout.find("RETRY").unwrap();
    assert!(told < part, "{}", out.stdout);
    let line = format!("{math}::{name} failed: ");
    let at = out
        .stdout
        .find(&line)
        .unwrap_or_else(|| panic!("no {line:?} in:\n{}", out.stdout));
    let rest = out.stdout[at + line.len()..].lines().next().unwrap();
    assert!(rest.contains("boom: 2 * 2 is 4"), "{}", out.stdout);
    assert!(!out.stdout.contains("second time failed"), "{}", out.stdout);
    let ran = std::fs::read_to_string(p.join(&format!("{dir}ran.txt"))).unwrap();
    let mut second: Vec<&str> = ran.lines().filter(|l| l.starts_with("2 ")).collect();
    second.sort_unstable();
    assert_eq!(second, ["2 flaky", "2 math"], "{ran}");
    assert_eq!(
        ran.lines().filter(|l| l.starts_with("1 ")).count(),
        3,
        "{ran}"
    );
    let xml = std::fs::read_to_string(p.join("junit.xml")).unwrap();
    assert!(xml.contains(&format!("\"{math}\"")), "{xml}");
    assert!(xml.contains(&format!("\"{flaky}\"")), "{xml}");
    assert!(xml.contains("boom: 2 * 2 is 4"), "{xml}");
}

#[test]
fn node_test_runner_files_results_and_retries() {
    let Some(node) = node() else { return };
    let p = Project::new(
        "require(\"ptest.presets.node\").batch { name = \"js\", runner = \"node\", cwd = \"web\", retry = 1,\n  batches = 1 }\n",
    );
    let math = format!(
        "{}const test = require('node:test');\ntest('adds', () => {{}});\ntest('boom', () => {{ throw new Error('boom: 2 * 2 is ' + 2 * 2); }});\n",
        record("math", false)
    );
    let flaky = format!(
        "{}const test = require('node:test');\ntest.describe('outer', () => {{\n  test.it('second time', () => {{ if (process.env.PTEST_ATTEMPT !== '2') throw new Error('first attempt'); }});\n}});\n",
        record("flaky", false)
    );
    p.file("web/test/math.js", &math)
        .file("web/src/flaky.test.js", &flaky)
        .file("other/x.test.js", "throw new Error('outside the cwd');\n")
        .file(
            "web/src/fine-test.cjs",
            &format!(
                "{}require('node:test')('ok', () => {{}});\n",
                record("fine", false)
            ),
        )
        .file("web/src/helper.js", "throw new Error('not a test');\n")
        .file(
            "web/node_modules/dep/x.test.js",
            "throw new Error('not ours');\n",
        );
    assert_eq!(
        items(&p),
        ["src/fine-test.cjs", "src/flaky.test.js", "test/math.js"],
        "node's default patterns under the batch's cwd, node_modules left out"
    );
    check_run(
        &p,
        &node,
        "web/",
        "test/math.js",
        "src/flaky.test.js",
        "boom",
    );
}

#[test]
fn jest_files_results_and_retries() {
    let (Some(node), Some(modules)) = (node(), node_modules()) else {
        return;
    };
    let p = Project::new(
        "require(\"ptest.presets.node\").batch { runner = \"jest\", retry = 1, batches = 1 }\n",
    );
    // Without jest-junit every part would fail the same way: a config error says so first.
    let out = ptest(&p, &node, &["list"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.starts_with("ptest.lua:1: node.batch: runner \"jest\" reads its results from jest-junit, which is not installed here"),
        "{}",
        out.stderr
    );
    std::os::unix::fs::symlink(&modules, p.join("node_modules")).unwrap();
    p.file("package.json", "{ \"name\": \"x\", \"private\": true }\n")
        .file(
            "src/math.test.js",
            &format!(
                "{}test('adds', () => {{ expect(1 + 1).toBe(2); }});\ntest('boom', () => {{ throw new Error('boom: 2 * 2 is ' + 2 * 2); }});\n",
                record("math", false)
            ),
        )
        .file(
            "src/__tests__/flaky.js",
            &format!(
                "{}describe('outer', () => {{\n  it('second time', () => {{ expect(process.env.PTEST_ATTEMPT).toBe('2'); }});\n}});\n",
                record("flaky", false)
            ),
        )
        .file(
            "lib/fine.spec.js",
            &format!("{}test('ok', () => {{}});\n", record("fine", false)),
        )
        .file("lib/helper.js", "throw new Error('not a test');\n");
    assert_eq!(
        items(&p),
        [
            "lib/fine.spec.js",
            "src/__tests__/flaky.js",
            "src/math.test.js"
        ],
        "jest --listTests"
    );
    check_run(
        &p,
        &node,
        "",
        "src/math.test.js",
        "src/__tests__/flaky.js",
        "boom",
    );
    // `bin` as a list: the listing's `--listTests` stays out of the parts' command (it was
    // appended to the config's own table, and every part listed the files instead of testing).
    p.file(
        "ptest.lua",
        "require(\"ptest.presets.node\").batch { runner = \"jest\", retry = 1, batches = 1, bin = { \"node_modules/.bin/jest\" } }\n",
    );
    let out = ptest(&p, &node, &["list", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let cmd = j["suites"][0]["cmd"].as_array().unwrap();
    // After the sh that writes the live reporter into the part's folder.
    assert_eq!(cmd[..2], ["sh", "-c"], "{cmd:?}");
    assert_eq!(cmd[9], "node_modules/.bin/jest", "{cmd:?}");
    assert!(!cmd.iter().any(|a| a == "--listTests"), "{cmd:?}");
    std::fs::remove_file(p.join("ran.txt")).unwrap();
    check_run(
        &p,
        &node,
        "",
        "src/math.test.js",
        "src/__tests__/flaky.js",
        "boom",
    );
}

#[test]
fn vitest_files_results_and_retries() {
    let (Some(node), Some(modules)) = (node(), node_modules()) else {
        return;
    };
    let p = Project::new(
        "require(\"ptest.presets.node\").batch { runner = \"vitest\", retry = 1, batches = 1 }\n",
    );
    std::os::unix::fs::symlink(&modules, p.join("node_modules")).unwrap();
    let import = "import { describe, test, expect } from 'vitest';\n";
    p.file(
        "package.json",
        "{ \"name\": \"x\", \"private\": true, \"type\": \"module\" }\n",
    )
    .file(
        "src/math.test.js",
        &format!(
            "{import}{}test('adds', () => {{ expect(1 + 1).toBe(2); }});\ntest('boom', () => {{ throw new Error('boom: 2 * 2 is ' + 2 * 2); }});\n",
            record("math", true)
        ),
    )
    .file(
        "test/flaky.spec.ts",
        &format!(
            "{import}{}describe('outer', () => {{\n  test('second time', () => {{ expect(process.env.PTEST_ATTEMPT).toBe('2'); }});\n}});\n",
            record("flaky", true)
        ),
    )
    .file(
        "lib/fine.test.js",
        &format!("{import}{}test('ok', () => {{}});\n", record("fine", true)),
    )
    .file("lib/helper.js", "throw new Error('not a test');\n");
    assert_eq!(
        items(&p),
        ["lib/fine.test.js", "src/math.test.js", "test/flaky.spec.ts"],
        "vitest list --filesOnly"
    );
    check_run(
        &p,
        &node,
        "",
        "src/math.test.js",
        "test/flaky.spec.ts",
        "boom",
    );
}

#[test]
fn the_node_examples_of_the_readme_and_docs_evaluate() {
    let (Some(node), Some(modules)) = (node(), node_modules()) else {
        return;
    };
    let blocks = crate::go_preset::tagged_blocks("needs-node");
    assert!(blocks.len() >= 2, "{blocks:?}");
    for (at, block) in blocks {
        let p = Project::new(&block);
        std::os::unix::fs::symlink(&modules, p.join("node_modules")).unwrap();
        p.file("package.json", "{ \"name\": \"x\", \"private\": true }\n")
            .file("src/sum.test.js", "test('adds', () => {});\n");
        let out = ptest(&p, &node, &["list"]);
        assert_eq!(out.code, 0, "{at}:\n{block}\n{}", out.stderr);
        assert!(
            out.stdout.contains("src/sum.test.js"),
            "{at}: {}",
            out.stdout
        );
    }
}

/// A listing that fails is a config error at the preset's line that names the command and its
/// exit code and shows the end of what it printed (its last 40 lines): no node needed.
#[test]
fn a_failing_listing_is_a_config_error_with_the_end_of_its_output() {
    let p = Project::new(
        "\nrequire(\"ptest.presets.node\").batch { runner = \"vitest\", bin = { \"sh\", \"-c\", \"seq 1 100; echo 'no config here' >&2; exit 3\", \"x\" } }\n",
    );
    let out = p.run(&["list"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines[0],
        "ptest.lua:2: node.batch: sh -c 'seq 1 100; echo '\\''no config here'\\'' >&2; exit 3' x list --filesOnly --passWithNoTests failed (exit code 3):",
        "{}",
        out.stderr
    );
    assert_eq!(
        lines[1], "(61 lines before these left out)",
        "{}",
        out.stderr
    );
    assert_eq!(lines[2], "62", "{}", out.stderr);
    assert!(lines.contains(&"no config here"), "{}", out.stderr);
    assert!(!lines.contains(&"61"), "{}", out.stderr);
}

/// `ptest -k` and `--test FILE::NAME` are node's `--test-name-pattern`, jest's and vitest's
/// `--testNamePattern`, and narrow the files; a pattern that matches nothing is nothing to run
/// (the runners report the tests they left out as skipped).
#[test]
fn node_runners_run_the_tests_k_and_test_select() {
    let Some(node) = node() else { return };
    let modules = node_modules();
    for runner in ["node", "jest", "vitest"] {
        if runner != "node" && modules.is_none() {
            continue;
        }
        let p = Project::new(&format!(
            "require(\"ptest.presets.node\").batch {{ name = \"js\", runner = \"{runner}\" }}\n"
        ));
        if let Some(m) = &modules {
            std::os::unix::fs::symlink(m, p.join("node_modules")).unwrap();
        }
        let (head, it) = if runner == "node" {
            (
                "const { test, describe, it } = require('node:test');\n",
                "it",
            )
        } else if runner == "vitest" {
            ("import { test, describe, it } from 'vitest';\n", "it")
        } else {
            ("", "it")
        };
        let body = |file: &str| {
            format!(
                "{head}const fs = require('node:fs');\nconst rec = (n) => fs.appendFileSync(process.env.RAN, '{file} ' + n + '\\n');\ntest('add', () => rec('add'));\ntest('add more', () => rec('add more'));\ndescribe('grp', () => {{ {it}('inner', () => rec('inner')); }});\n"
            )
        };
        let (a, b) = if runner == "node" {
            ("test/a.test.js", "test/b.test.js")
        } else {
            ("a.test.js", "b.test.js")
        };
        let body_a = body("a");
        let body_b = body("b");
        let (body_a, body_b) = if runner == "vitest" {
            (
                body_a.replace(
                    "const fs = require('node:fs');",
                    "import fs from 'node:fs';",
                ),
                body_b.replace(
                    "const fs = require('node:fs');",
                    "import fs from 'node:fs';",
                ),
            )
        } else {
            (body_a, body_b)
        };
        p.file(a, &body_a).file(b, &body_b);
        p.file(
            "package.json",
            if runner == "vitest" {
                "{ \"type\": \"module\" }\n"
            } else {
                "{ \"name\": \"x\", \"private\": true }\n"
            },
        );
        let go = |args: &[&str]| {
            let mut c = p.cmd();
            c.args(args)
                .arg("--no-history")
                .env("RAN", p.join("ran.txt"));
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![node.parent().unwrap().to_path_buf()];
            dirs.extend(std::env::split_paths(&path));
            c.env("PATH", std::env::join_paths(dirs).unwrap());
            let out = crate::harness::run(&mut c);
            let ran = crate::harness::sorted_lines(&p, "ran.txt");
            std::fs::remove_file(p.join("ran.txt")).ok();
            (out, ran)
        };
        let (out, ran) = go(&["-k", "add"]);
        assert_eq!(out.code, 0, "{runner}: {}{}", out.stdout, out.stderr);
        assert_eq!(
            ran,
            ["a add", "a add more", "b add", "b add more"],
            "{runner}"
        );
        // node names a test by its own name, jest and vitest by the describe blocks' too.
        let inner = if runner == "node" {
            "inner"
        } else if runner == "jest" {
            "grp inner"
        } else {
            "grp > inner"
        };
        let (out, ran) = go(&[
            "--test",
            &format!("{b}::{inner}"),
            "--test",
            &format!("{b}::add"),
        ]);
        assert_eq!(out.code, 0, "{runner}: {}{}", out.stdout, out.stderr);
        assert_eq!(ran, ["b add", "b inner"], "{runner}");
        // Each file (a part of its own) runs the tests named of it, not another file's of the
        // same name, through the per-test template as --rerun-failed does.
        let (out, ran) = go(&[
            "-j",
            "2",
            "--test",
            &format!("{a}::add"),
            "--test",
            &format!("{b}::{inner}"),
        ]);
        assert_eq!(out.code, 0, "{runner}: {}{}", out.stdout, out.stderr);
        assert_eq!(ran, ["a add", "b inner"], "{runner}");
        let (out, ran) = go(&["-k", "nothing at all"]);
        assert_eq!(out.code, 4, "{runner}: {}{}", out.stdout, out.stderr);
        assert!(ran.is_empty(), "{runner}: {ran:?}");
        // vitest lists its tests (as ptest names them, what --test takes); jest and node's runner
        // cannot without running them: their files stand for them.
        let (out, _) = go(&["list", "--tests", "-k", "inner"]);
        assert_eq!(out.code, 0, "{runner}: {}", out.stderr);
        if runner == "vitest" {
            // In the order vitest collected the files (in parallel).
            let mut listed: Vec<&str> = out.stdout.lines().collect();
            listed.sort_unstable();
            assert_eq!(listed, ["a.test.js::grp > inner", "b.test.js::grp > inner"]);
        } else {
            assert_eq!(out.stdout, format!("{a}\n{b}\n"), "{runner}");
            assert!(
                out.stderr.contains("cannot list its tests"),
                "{}",
                out.stderr
            );
        }
    }
}

/// `--rerun-failed` runs only the tests that failed last time, by their names (node's
/// `--test-name-pattern`, jest's and vitest's `--testNamePattern`, through `ptest jstest`),
/// in the files that hold them; then, fixed, "nothing failed last time".
#[test]
fn node_runners_rerun_only_the_failed_tests() {
    let Some(node) = node() else { return };
    let modules = node_modules();
    for runner in ["node", "jest", "vitest"] {
        if runner != "node" && modules.is_none() {
            continue;
        }
        let p = Project::new(&format!(
            "require(\"ptest.presets.node\").batch {{ name = \"js\", runner = \"{runner}\", batches = 1 }}\n"
        ));
        if let Some(m) = &modules {
            std::os::unix::fs::symlink(m, p.join("node_modules")).unwrap();
        }
        let (head, fs) = match runner {
            "node" => (
                "const { test, describe, it } = require('node:test');\n",
                "const fs = require('node:fs');\n",
            ),
            "vitest" => (
                "import { test, describe, it } from 'vitest';\n",
                "import fs from 'node:fs';\n",
            ),
            _ => ("", "const fs = require('node:fs');\n"),
        };
        // FAIL=1 makes `boom` and `grp inner (1+1)` fail; each test records its name.
        let body = |file: &str| {
            format!(
                "{head}{fs}const rec = (n) => fs.appendFileSync(process.env.RAN, '{file} ' + n + '\\n');\nconst bad = () => {{ if (process.env.FAIL) throw new Error('boom'); }};\ntest('adds', () => rec('adds'));\ntest('boom', () => {{ rec('boom'); bad(); }});\ndescribe('grp', () => {{ it('inner (1+1)', () => {{ rec('inner'); bad(); }}); it('fine', () => rec('fine')); }});\n"
            )
        };
        let (a, b) = if runner == "node" {
            ("test/a.test.js", "test/b.test.js")
        } else {
            ("a.test.js", "b.test.js")
        };
        p.file(a, &body("a"))
            .file(
                b,
                &format!(
                    "{head}{fs}test('ok', () => fs.appendFileSync(process.env.RAN, 'b ok\\n'));\n"
                ),
            )
            .file(
                "package.json",
                if runner == "vitest" {
                    "{ \"type\": \"module\" }\n"
                } else {
                    "{ \"name\": \"x\", \"private\": true }\n"
                },
            );
        let go = |args: &[&str], fail: bool| {
            let mut c = p.cmd();
            c.args(args).env("RAN", p.join("ran.txt"));
            if fail {
                c.env("FAIL", "1");
            } else {
                c.env_remove("FAIL");
            }
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![node.parent().unwrap().to_path_buf()];
            dirs.extend(std::env::split_paths(&path));
            c.env("PATH", std::env::join_paths(dirs).unwrap());
            let out = run(&mut c);
            let mut ran: Vec<String> = std::fs::read_to_string(p.join("ran.txt"))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect();
            ran.sort();
            std::fs::remove_file(p.join("ran.txt")).ok();
            (out, ran)
        };
        let (out, ran) = go(&[], true);
        assert_eq!(out.code, 1, "{runner}: {}{}", out.stdout, out.stderr);
        assert_eq!(
            ran,
            ["a adds", "a boom", "a fine", "a inner", "b ok"],
            "{runner}"
        );
        // Only the two that failed, still failing.
        let (out, ran) = go(&["--rerun-failed"], true);
        assert_eq!(out.code, 1, "{runner}: {}{}", out.stdout, out.stderr);
        assert_eq!(ran, ["a boom", "a inner"], "{runner}: {}", out.stdout);
        // Fixed: they pass, and then nothing failed.
        let (out, ran) = go(&["--rerun-failed"], false);
        assert_eq!(out.code, 0, "{runner}: {}{}", out.stdout, out.stderr);
        assert_eq!(ran, ["a boom", "a inner"], "{runner}");
        let (out, ran) = go(&["--rerun-failed"], false);
        assert_eq!(out.code, 0, "{runner}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("nothing failed last time"),
            "{}",
            out.stdout
        );
        assert!(ran.is_empty(), "{runner}: {ran:?}");
    }
}

/// A test that hangs: told as started while it runs, so the run names it `SLOW` past the batch's
/// `test_slow` and stops its part past `test_timeout`, the test failed as timed out by name; the
/// part's file that had not started runs in a new attempt, and with jest and vitest (their
/// `skip_test`) the rest of the hung test's file too, apart, without the hung test and those
/// that had ended: every test once, and another file's test of an ended test's name runs. With
/// node's runner the rest of the file does not run again, and a warning says so. Each runner:
/// node's own (its test:dequeue event), jest (onTestCaseStart) and vitest (onTestCaseReady).
#[test]
fn node_runners_tell_a_test_that_runs_long_and_a_hung_one_times_out_by_name() {
    let Some(node) = node() else { return };
    let modules = node_modules();
    for runner in ["node", "jest", "vitest"] {
        if runner != "node" && modules.is_none() {
            continue;
        }
        // jest's and vitest's own 5 s per test would end the hung test first on a busy machine.
        let args = if runner == "node" {
            ""
        } else {
            ", args = { \"--testTimeout=600000\" }"
        };
        let p = Project::new(&format!(
            "require(\"ptest.presets.node\").batch {{ name = \"js\", runner = \"{runner}\", batches = 1,\n  test_slow = \"1s\", test_timeout = \"3s\", timeout = \"60s\"{args} }}\n"
        ));
        if let Some(m) = &modules {
            std::os::unix::fs::symlink(m, p.join("node_modules")).unwrap();
        }
        let (head, fs) = match runner {
            "node" => (
                "const { test, describe, it } = require('node:test');\n",
                "const fs = require('node:fs');\n",
            ),
            "vitest" => (
                "import { test, describe, it } from 'vitest';\n",
                "import fs from 'node:fs';\n",
            ),
            _ => ("", "const fs = require('node:fs');\n"),
        };
        let (a, b, dir) = if runner == "node" {
            ("test/a.test.js", "test/b.test.js", "test/")
        } else {
            ("a.test.js", "b.test.js", "")
        };
        let rec = "const rec = (n) => fs.appendFileSync(process.env.RAN, n + '\\n');\n";
        p.file(
            a,
            &format!(
                "{head}{fs}{rec}test('one', () => rec('one'));\ndescribe('grp', () => {{ it('hangs', async () => {{ rec('hangs'); await new Promise((r) => setTimeout(r, 1000000)); }}); }});\ntest('after', () => rec('after'));\n"
            ),
        )
        .file(b, &format!("{head}{fs}{rec}test('one', () => rec('b one'));\n"))
        .file(
            "package.json",
            if runner == "vitest" {
                "{ \"type\": \"module\" }\n"
            } else {
                "{ \"name\": \"x\", \"private\": true }\n"
            },
        );
        let mut c = p.cmd();
        c.args(["--no-history", "--events", "events.jsonl"])
            .env("RAN", p.join("ran.txt"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![node.parent().unwrap().to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap());
        let out = run(&mut c);
        assert_eq!(out.code, 1, "{runner}: {}{}", out.stdout, out.stderr);
        // The second run's left-out tests (which vitest reports skipped) are not told again.
        let events = std::fs::read_to_string(p.join("events.jsonl")).unwrap_or_default();
        if vitest_held_its_updates(runner, &out, &events) {
            continue;
        }
        assert!(
            !events.contains("\"status\":\"skipped\""),
            "{runner}: {events}"
        );
        // Each once (jest orders the files its own way: b ran in the first attempt or the second).
        let ran = crate::harness::sorted_lines(&p, "ran.txt");
        if runner == "node" {
            assert_eq!(ran, ["b one", "hangs", "one"], "{runner}: {}", out.stdout);
            assert!(
                format!("{}{}", out.stdout, out.stderr).contains("do not run again"),
                "{runner}: {}{}",
                out.stdout,
                out.stderr
            );
        } else {
            // A test that ended is left out of the second run when the part told it before it
            // was stopped; on a loaded machine vitest may tell it late, and it runs again (more,
            // never fewer): each at least once, the hung one and `after` once.
            let mut once = ran.clone();
            once.dedup();
            assert_eq!(
                once,
                ["after", "b one", "hangs", "one"],
                "{runner}: ran {ran:?}\n{}{}\nevents:\n{events}\nlogs:\n{}",
                out.stdout,
                out.stderr,
                std::fs::read_dir(p.join("test-logs"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect::<String>()
            );
            assert_eq!(
                ran.iter()
                    .filter(|r| *r == "hangs" || *r == "after")
                    .count(),
                2,
                "{runner}: {ran:?}"
            );
            assert!(
                !format!("{}{}", out.stdout, out.stderr).contains("do not run again"),
                "{runner}: {}{}",
                out.stdout,
                out.stderr
            );
        }
        let hung = match runner {
            "node" => format!("{dir}a.test.js::hangs"),
            "jest" => "a.test.js::grp hangs".to_owned(),
            _ => "a.test.js::grp > hangs".to_owned(),
        };
        assert!(
            out.stdout.contains(&format!("SLOW    {hung}  running for")),
            "{runner}: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!(
                "TIMEOUT {hung}  timed out after 3.0s (test_timeout)"
            )),
            "{runner}: {}",
            out.stdout
        );
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(crate::harness::report_file(&p)).unwrap(),
        )
        .unwrap();
        assert_eq!(report["suites"][0]["status"], "timed_out", "{runner}");
        // Each test once in the record: those the second run left out are not also skipped.
        let mut cases: Vec<String> = report["suites"][0]["testcases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c["name"].as_str().unwrap_or("?"), c["status"]))
            .collect();
        cases.sort();
        let inner = hung.split("::").nth(1).unwrap();
        let mut want = vec![
            format!("{inner} \"failed\""),
            "one \"passed\"".to_owned(),
            "one \"passed\"".to_owned(),
        ];
        if runner != "node" {
            want.push("after \"passed\"".to_owned());
        }
        want.sort();
        assert_eq!(cases, want, "{runner}: {}", out.stdout);
    }
}

/// vitest's worker sends its tests' updates to the main process at most every 100 ms, and in
/// vitest 4.1 a batch held by its throttle can wait for the worker's next update for good (the
/// trailing timer, firing exactly 100 ms after the last send, sends nothing and is not set
/// again; docs/presets.md): a test that hangs right then is never seen to start, and only the
/// part's `timeout` ends it. That end is what is checked then, and the case is said: loud, as
/// the docs have it, and not the live channel's (which would say "live channel lost"). True
/// when it happened.
fn vitest_held_its_updates(runner: &str, out: &Output, events: &str) -> bool {
    let held = runner == "vitest"
        && !events.contains("\"event\":\"test_")
        && out.stdout.contains("TIMEOUT js[1]")
        && !out.stdout.contains("live channel lost");
    if held {
        assert_ne!(out.code, 0, "{}", out.stdout);
        eprintln!(
            "vitest held its workers' test updates (its throttle): the part ended by its own \
             timeout, reported as such; the per-test checks are left for this run"
        );
    }
    held
}

/// A project for `runner` whose runner starts with the run's socket moved away (`away.sh`):
/// for `back` seconds, or for good (`None`). Its test file is `a`'s text in `test/a.test.js`
/// (node's runner) or `a.test.js`; `tail`, the rest of the batch's fields.
fn socket_away(
    runner: &str,
    modules: Option<&Path>,
    back: Option<u32>,
    a: &str,
    tail: &str,
) -> Project {
    let bin = match runner {
        "node" => "node = \"./away-node\"".to_owned(),
        _ => format!("bin = {{ \"sh\", \"away.sh\", \"node_modules/.bin/{runner}\" }}"),
    };
    let file = if runner == "node" {
        "test/a.test.js"
    } else {
        "a.test.js"
    };
    let back = back.map_or_else(String::new, |s| s.to_string());
    let p = Project::new(&format!(
        "require(\"ptest.presets.node\").batch {{ name = \"js\", runner = \"{runner}\", batches = 1,\n  \
         files = {{ \"{file}\" }}, {bin}, env = {{ BACK = \"{back}\" }}, {tail} }}\n"
    ));
    if let Some(m) = modules {
        std::os::unix::fs::symlink(m, p.join("node_modules")).unwrap();
    }
    let head = match runner {
        "node" => "const { test, describe, it } = require('node:test');\n",
        "vitest" => "import { test, describe, it } from 'vitest';\n",
        _ => "",
    };
    p.file(file, &format!("{head}{a}"))
        .file(
            "package.json",
            if runner == "vitest" {
                "{ \"type\": \"module\" }\n"
            } else {
                "{ \"name\": \"x\", \"private\": true }\n"
            },
        )
        // The run's socket is away when the runner starts (so its first connect fails), and
        // back after BACK seconds unless BACK is empty.
        .file(
            "away.sh",
            "if [ -n \"$PTEST_SOCKET\" ]; then\n  mv \"$PTEST_SOCKET\" \"$PTEST_SOCKET.away\" || exit 9\n  \
             if [ -n \"$BACK\" ]; then (sleep \"$BACK\"; mv \"$PTEST_SOCKET.away\" \"$PTEST_SOCKET\") & fi\nfi\n\
             exec \"$@\"\n",
        )
        .file("away-node", "#!/bin/sh\nexec sh \"$(dirname \"$0\")/away.sh\" node \"$@\"\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p.join("away-node"), std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// The runners of the node preset there are here (jest and vitest need the node_modules).
fn runners(modules: Option<&Path>) -> Vec<&'static str> {
    ["node", "jest", "vitest"]
        .into_iter()
        .filter(|r| *r == "node" || modules.is_some())
        .collect()
}

/// Each runner's `ptest` run on its project, side by side (each waits mostly on its runner).
fn run_each(node: &Path, projects: &[(&str, Project)]) -> Vec<Output> {
    std::thread::scope(|s| {
        let runs: Vec<_> = projects
            .iter()
            .map(|(_, p)| {
                s.spawn(move || ptest(p, node, &["--no-history", "--events", "events.jsonl"]))
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

/// The reporters' live channel under load (issue 23): a first connect that fails (the run's
/// socket away for a second when the runner starts) is tried again, and what waited is told:
/// the hung test is still named and stopped by its test_timeout. Before, the reporter gave up
/// at the first error and said nothing: the part ran to its suite timeout.
#[test]
fn node_runners_tell_their_tests_when_the_first_connect_fails() {
    let Some(node) = node() else { return };
    let modules = node_modules();
    let file = "test('one', () => {});\ndescribe('grp', () => { it('hangs', async () => { await new Promise((r) => setTimeout(r, 1000000)); }); });\n";
    let projects: Vec<(&str, Project)> = runners(modules.as_deref())
        .into_iter()
        .map(|r| {
            let args = if r == "node" {
                ""
            } else {
                ", args = { \"--testTimeout=600000\" }"
            };
            let tail = format!("test_timeout = \"3s\", timeout = \"40s\"{args}");
            (r, socket_away(r, modules.as_deref(), Some(1), file, &tail))
        })
        .collect();
    for ((runner, p), out) in projects.iter().zip(run_each(&node, &projects)) {
        let hung = match *runner {
            "node" => "test/a.test.js::hangs",
            "jest" => "a.test.js::grp hangs",
            _ => "a.test.js::grp > hangs",
        };
        let events = std::fs::read_to_string(p.join("events.jsonl")).unwrap_or_default();
        if vitest_held_its_updates(runner, &out, &events) {
            continue;
        }
        assert!(
            out.stdout.contains(&format!(
                "TIMEOUT {hung}  timed out after 3.0s (test_timeout)"
            )),
            "{runner}: {}{}\nevents:\n{events}",
            out.stdout,
            out.stderr
        );
        assert!(
            events.contains("\"event\":\"test_finished\"")
                && !out.stdout.contains("live channel lost"),
            "{runner}: {}\nevents:\n{events}",
            out.stdout
        );
    }
}

/// A live channel that cannot be had is said, never silent: the part (which passes) ends with a
/// warning that its per-test SLOW and test_timeout did not hold, in the terminal and its log.
#[test]
fn node_runners_say_when_their_live_channel_is_lost() {
    let Some(node) = node() else { return };
    let modules = node_modules();
    let projects: Vec<(&str, Project)> = runners(modules.as_deref())
        .into_iter()
        .map(|r| {
            (
                r,
                socket_away(
                    r,
                    modules.as_deref(),
                    None,
                    "test('one', () => {});\n",
                    "timeout = \"40s\"",
                ),
            )
        })
        .collect();
    for ((runner, p), out) in projects.iter().zip(run_each(&node, &projects)) {
        assert_eq!(out.code, 0, "{runner}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains(
                "warning: suite \"js[1]\": live channel lost (ENOENT): its tests were not told as \
                 they ran; per-test SLOW and test_timeout were not enforced for this part"
            ),
            "{runner}: {}{}",
            out.stdout,
            out.stderr
        );
        let log = std::fs::read_to_string(p.join("test-logs/js_1_.log")).unwrap_or_default();
        assert!(
            log.contains("ptest: live channel lost (ENOENT)"),
            "{runner}: {log}"
        );
    }
}
