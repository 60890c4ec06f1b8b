//! The `cargo` preset on real cargo: a tiny crate's test binaries' tests become one batch of
//! `BINARY/TEST` items (run with `--exact` through `ptest libtest`), each test's outcome and
//! panic message reach the summary, ptest's JUnit and history, a retry runs only the failed
//! tests, doc tests are one suite, and a build failure is a config error with cargo's message.
//!
//! The crate has no dependencies (nothing to download) and is built once, into a target folder
//! under cargo's `CARGO_TARGET_TMPDIR`, for every test here (and kept for the next `cargo test`);
//! each test's config points at it with `dir`, from a folder of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::{
    Output, Project, batch_items, junit_testsuite, listed_cmd, run, sorted_lines, suite_names,
};

const CARGO_TOML: &str =
    "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";

/// `ran(NAME)` appends `ATTEMPT NAME` to the file `$TINY_RAN` names: what ran, in which attempt.
pub(crate) const LIB: &str = r#"/// Adds.
///
/// ```
/// assert_eq!(tiny::add(1, 2), 3);
/// ```
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

pub fn ran(name: &str) {
    use std::io::Write;
    if let Ok(path) = std::env::var("TINY_RAN") {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        let attempt = std::env::var("PTEST_ATTEMPT").unwrap_or_default();
        writeln!(f, "{attempt} {name}").unwrap();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds() {
        super::ran("adds");
        assert_eq!(super::add(2, 2), 4);
    }

    #[test]
    fn fails() {
        super::ran("fails");
        assert_eq!(super::add(2, 2), 5, "two and two");
    }

    #[test]
    #[ignore = "not today"]
    fn ignored() {}
}
"#;

const IT: &str = r#"#[test]
fn one() {
    tiny::ran("one");
    let abort = std::env::var("TINY_ABORT").unwrap_or_default();
    if abort == "always" || abort == std::env::var("PTEST_ATTEMPT").unwrap_or_default() {
        std::process::abort();
    }
}

#[test]
fn runs_where_cargo_test_would() {
    tiny::ran("runs_where_cargo_test_would");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    assert_eq!(std::path::Path::new(&dir), std::env::current_dir().unwrap());
    assert_eq!(std::env::var("CARGO_PKG_NAME").unwrap(), "tiny");
}

#[test]
fn flaky() {
    tiny::ran("flaky");
    assert_eq!(std::env::var("PTEST_ATTEMPT").unwrap(), "2", "first attempt");
}
"#;

/// Write `files` into `dir`, leaving a file with the same text untouched (cargo would rebuild).
pub(crate) fn write_crate(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let path = dir.join(rel);
        if std::fs::read_to_string(&path).is_ok_and(|t| t == *text) {
            continue;
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The tiny crate's files (for `ptest init`'s test too).
pub(crate) fn tiny_files() -> [(&'static str, &'static str); 3] {
    [
        ("Cargo.toml", CARGO_TOML),
        ("src/lib.rs", LIB),
        ("tests/it.rs", IT),
    ]
}

/// Where the tests' cargo builds: kept between runs, so only the first `cargo test` builds.
pub(crate) fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("cargo-preset/target")
}

/// The shared crate, written once per test binary.
fn tiny() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cargo-preset/tiny");
        write_crate(&dir, &tiny_files());
        dir
    })
}

/// `ptest ARGS` in `p` with cargo pointed at the tests' target folder, offline.
pub(crate) fn cargo_cmd(p: &Project, args: &[&str]) -> Command {
    let mut c = p.cmd();
    c.args(args)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_NET_OFFLINE", "true")
        .env("RUST_BACKTRACE", "0")
        .env_remove("TINY_ABORT");
    c
}

fn ptest(p: &Project, args: &[&str]) -> Output {
    run(&mut cargo_cmd(p, args))
}

/// A folder whose ptest.lua runs the tiny crate through the preset with these extra fields.
fn project(fields: &str) -> Project {
    let p = Project::new("");
    let config = format!(
        "require(\"ptest.presets.cargo\").batch {{\n  name = \"rust\", dir = {:?},\n  env = {{ TINY_RAN = {:?} }},\n  {fields}\n}}\n",
        tiny().display().to_string(),
        p.join("ran.txt").display().to_string()
    );
    p.file("ptest.lua", &config);
    p
}

fn ran(p: &Project) -> Vec<String> {
    let lines = sorted_lines(p, "ran.txt");
    std::fs::remove_file(p.join("ran.txt")).ok();
    lines
}

#[test]
fn every_binarys_tests_are_one_batch_with_a_result_per_test() {
    let p = project("batches = 1, retry = 1,");
    let mut list = cargo_cmd(&p, &["list", "--format", "json"]);
    let out = run(&mut list);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(suite_names(&j), ["rust[1]", "rust/doc"], "{j}");
    assert_eq!(
        batch_items(&j, 0),
        [
            "tiny(lib)/tests::adds",
            "tiny(lib)/tests::fails",
            "tiny(lib)/tests::ignored",
            "it/flaky",
            "it/one",
            "it/runs_where_cargo_test_would"
        ]
    );
    let cmd = listed_cmd(&j, 0);
    assert_eq!(cmd[..2], ["ptest", "libtest"], "{cmd:?}");
    let args = cmd.iter().position(|a| *a == "--arg").expect("--arg");
    assert_eq!(
        cmd[args..args + 5],
        ["--arg", "--exact", "--arg", "--test-threads=1", "--"],
        "{cmd:?}"
    );

    let out = ptest(
        &p,
        &[
            "-j",
            "2",
            "--junit",
            "junit.xml",
            "--events",
            "events.ndjson",
        ],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // Each test as it ended, told by `ptest libtest` while the part ran: in --events before
    // the part's end, and a failure printed by name before the part's own line.
    let events = std::fs::read_to_string(p.join("events.ndjson")).unwrap();
    let tests: Vec<(String, String)> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .take_while(|e| e["event"] != "suite_finished" || e["name"] != "rust[1]")
        .filter(|e| e["event"] == "test_finished")
        .map(|e| {
            assert_eq!(e["suite"], "rust[1]", "{e}");
            (
                e["name"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let told = |name: &str| {
        tests
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        told("tiny(lib)/tests::fails"),
        ["failed", "failed"],
        "{events}"
    );
    assert_eq!(told("it/flaky"), ["failed", "passed"], "{events}");
    assert_eq!(told("tiny(lib)/tests::ignored"), ["skipped"], "{events}");
    assert_eq!(tests.len(), 8, "{events}");
    let early = out
        .stdout
        .find("FAIL    tiny(lib)/tests::fails  failed  rust[1]")
        .expect("the failure as it happened");
    assert!(
        early < out.stdout.find("FAIL    rust[1]").unwrap(),
        "{}",
        out.stdout
    );
    // The failed test by name, with its panic message; the flaky one passed on its retry.
    assert!(
        out.stdout.contains(
            "✗ tiny(lib)/tests::fails failed: assertion `left == right` failed: two and two"
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("flaky failed"), "{}", out.stdout);
    // The flaky test by name, as it passed on the part's retry, and counted as such.
    assert!(
        out.stdout.contains(
            "FLAKY   2/2 it/flaky  failed before: assertion `left == right` failed: first attempt"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("6 tests in batches' results: 4 passed (1 flaky), 1 failed, 1 skipped"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Flaky tests (failed, then passed on a retry):\n  2/2 it/flaky"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("PASS    rust/doc"), "{}", out.stdout);
    assert!(out.stdout.contains("FAIL    rust[1]"), "{}", out.stdout);
    // Every test once, then the retry ran only the failed tests.
    assert_eq!(
        ran(&p),
        [
            "1 adds",
            "1 fails",
            "1 flaky",
            "1 one",
            "1 runs_where_cargo_test_would",
            "2 fails",
            "2 flaky"
        ]
    );
    let xml = std::fs::read_to_string(p.join("junit.xml")).unwrap();
    let batch = junit_testsuite(&xml, "rust");
    assert!(batch.contains("name=\"tiny(lib)/tests::fails\""), "{batch}");
    assert!(
        batch.contains("message=\"assertion `left == right` failed: two and two"),
        "{batch}"
    );
    assert!(batch.contains("<skipped message=\"not today\""), "{batch}");
    let flaky = batch
        .split("<testcase ")
        .find(|c| c.starts_with("name=\"it/flaky\""))
        .expect("it/flaky");
    assert!(
        flaky.contains("<flakyFailure message=\"failed before it passed on attempt 2: assertion"),
        "{flaky}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let case = report["suites"][0]["testcases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "it/flaky")
        .unwrap();
    assert_eq!(
        (case["flaky"].as_bool(), case["attempts"].as_u64()),
        (Some(true), Some(2))
    );
    // History counts it as flaky: not failed (so --rerun-failed leaves it), not plainly passed.
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join(".ptest/history.json")).unwrap())
            .unwrap();
    assert_eq!(
        history["items"]["rust/it/flaky"]["runs"][0][1], "flaky",
        "{history}"
    );
    assert_eq!(
        history["items"]["rust/it/one"]["runs"][0][1], "passed",
        "{history}"
    );

    // History per test: --rerun-failed runs only the failed one.
    let out = ptest(&p, &["--rerun-failed"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(ran(&p), ["1 fails", "2 fails"]);
}

#[test]
fn on_github_a_failed_test_is_annotated_where_it_panicked_and_the_summary_names_the_tests() {
    let p = project("batches = 1, retry = 1, doc = false,");
    let summary = p.join("summary.md");
    let out = run(cargo_cmd(&p, &["-q"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", tiny())
        .env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // The line of the assertion that failed, in the file the panic names.
    let line = LIB
        .lines()
        .position(|l| l.contains("\"two and two\""))
        .unwrap()
        + 1;
    assert!(
        out.stdout.contains(&format!(
            "::error file=src/lib.rs,line={line},title=tiny(lib)/tests%3A%3Afails failed::assertion `left == right` failed: two and two"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("::warning title=it/flaky flaky (passed on attempt 2/2)::failed before: "),
        "{}",
        out.stdout
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("| tiny(lib)/tests::fails | failed | rust[1] | assertion `left == right` failed: two and two"),
        "{md}"
    );
    assert!(
        md.contains("| it/flaky | 2/2 | rust[1] | assertion `left == right` failed: first attempt"),
        "{md}"
    );
}

#[test]
fn a_test_that_kills_its_binary_is_named_and_the_rest_runs_again() {
    let p = project("batches = 1, doc = false,");
    let out = run(cargo_cmd(&p, &[]).env("TINY_ABORT", "always"));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "it/one error: the test binary ended (killed by signal 6) while this test ran"
        ),
        "{}",
        out.stdout
    );
    // The library's tests ran before, in their own process.
    assert_eq!(ran(&p), ["1 adds", "1 fails", "1 flaky", "1 one"]);
    // With a retry: the second attempt runs the failed test, the one that was running and the
    // one that never started.
    let out = run(cargo_cmd(&p, &["--retries", "1"]).env("TINY_ABORT", "1"));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&p),
        [
            "1 adds",
            "1 fails",
            "1 flaky",
            "1 one",
            "2 fails",
            "2 flaky",
            "2 one",
            "2 runs_where_cargo_test_would"
        ]
    );
}

#[test]
fn a_build_failure_is_a_config_error_with_cargos_message() {
    let broken = Project::new("\nrequire(\"ptest.presets.cargo\").batch { name = \"rust\" }\n");
    broken
        .file("Cargo.toml", &CARGO_TOML.replace("tiny", "broken"))
        .file("src/lib.rs", "pub fn broken( {\n");
    let out = ptest(&broken, &["list"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .starts_with("ptest.lua:2: cargo preset: `cargo test --no-run` in "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("unclosed delimiter"), "{}", out.stderr);
    assert!(out.stderr.contains("src/lib.rs:1:"), "{}", out.stderr);
    assert!(!out.stderr.contains("Compiling"), "{}", out.stderr);
}

#[test]
fn the_presets_own_fields_and_a_misspelt_one() {
    let p = project("items = { \"x\" },");
    let out = ptest(&p, &["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("ptest.lua:1: cargo preset: items is the preset's own"),
        "{}",
        out.stderr
    );
    // ptest.batch's own checks name the config's line, not the preset's.
    let p = project("depnds_on = \"x\",");
    let out = ptest(&p, &["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with(
            "ptest.lua:1: batch \"rust\": unknown field \"depnds_on\" (did you mean \"depends_on\"?)"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn the_cargo_examples_of_the_readme_and_docs_evaluate() {
    let blocks = crate::go_preset::tagged_blocks("needs-cargo");
    assert!(blocks.len() >= 2, "{blocks:?}");
    for (i, (at, block)) in blocks.iter().enumerate() {
        // Each block as a config in the tiny crate's folder (the preset's default `dir`).
        let config = tiny().join(format!("docs-block-{i}.lua"));
        std::fs::write(&config, block).unwrap();
        let p = Project::new("");
        let out = ptest(&p, &["list", config.to_str().unwrap(), "--no-history"]);
        assert_eq!(out.code, 0, "{at}:\n{block}\n{}", out.stderr);
        assert!(out.stdout.contains("tests::fails"), "{at}: {}", out.stdout);
    }
}

/// `ptest -k EXPR` runs the tests whose name contains it (as `cargo test EXPR`), the doc tests
/// with it too when one of theirs matches (none at all: exit 4, as pytest's); `--test` takes a test as ptest names it (BINARY/TEST), by its libtest name in
/// any binary, or a binary for all of its tests (the doc tests are then left out); `-- ARGS`
/// go to every test binary; `ptest list --tests` prints the items, which are the tests.
#[test]
fn cargo_runs_the_tests_k_and_test_select() {
    let p = project("batches = 1,");
    let out = ptest(&p, &["list", "--tests"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "tiny(lib)/tests::adds\ntiny(lib)/tests::fails\ntiny(lib)/tests::ignored\nit/flaky\nit/one\nit/runs_where_cargo_test_would\n"
    );

    let out = ptest(&p, &["-k", "one", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ran(&p), ["1 one"]);
    // The doc test's name (`src/lib.rs - add (line 3)`) holds no "one": no doc-test suite.
    assert!(!out.stdout.contains("rust/doc"), "{}", out.stdout);

    // "add" is in a test's name and in the doc test's: both run.
    let out = ptest(&p, &["-k", "add", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ran(&p), ["1 adds"]);
    assert!(out.stdout.contains("PASS    rust/doc"), "{}", out.stdout);

    // A filter no test matches, doc tests included, runs nothing and says so, as with pytest.
    let out = ptest(&p, &["-k", "no_such_test", "--no-history"]);
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("error: nothing to run: -k no_such_test matched no test"),
        "{}",
        out.stderr
    );
    assert!(ran(&p).is_empty());
    let out = ptest(&p, &["-k", "no_such_test", "--no-history", "--allow-empty"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    let out = ptest(
        &p,
        &[
            "--test",
            "tiny(lib)/tests::adds",
            "--test",
            "runs_where_cargo_test_would",
            "--no-history",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ran(&p), ["1 adds", "1 runs_where_cargo_test_would"]);
    assert!(!out.stdout.contains("rust/doc"), "{}", out.stdout);

    // A binary by its name; `-- --include-ignored` reaches it.
    let out = ptest(
        &p,
        &[
            "--test",
            "tiny(lib)",
            "--no-history",
            "--",
            "--include-ignored",
        ],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("2 passed, 1 failed"), "{}", out.stdout);
    assert_eq!(ran(&p), ["1 adds", "1 fails"]);
}
