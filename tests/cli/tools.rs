//! Tools some tests need beyond ptest itself (an XSD validator, a headless browser). `.ci/run`
//! installs them and may name them in an environment variable; otherwise they are looked for on
//! PATH. Missing one fails the test under CI and skips it elsewhere, saying why.

use std::path::PathBuf;

/// The tool's path, from `var` or the first of `names` on PATH; `None` (after printing
/// "skipped: ...") when it is missing outside CI.
pub(crate) fn find(var: &str, names: &[&str], why: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        !ci,
        "{} is needed for {why} ({var} unset, not on PATH); .ci/run installs it",
        names[0]
    );
    println!("skipped: {} not found ({why})", names[0]);
    None
}

/// xmllint, which validates JUnit against junit-10.xsd.
pub(crate) fn xmllint() -> Option<PathBuf> {
    find(
        "PTEST_TEST_XMLLINT",
        &["xmllint"],
        "validating JUnit against junit-10.xsd",
    )
}

/// A linter `.ci/run` installed under `target/ci-lint/` (`rel` below it), else `var` or PATH.
fn ci_lint(var: &str, rel: &str, names: &[&str], why: &str) -> Option<PathBuf> {
    let installed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/ci-lint")
        .join(rel);
    if std::env::var_os(var).is_none_or(|p| p.is_empty()) && installed.is_file() {
        return Some(installed);
    }
    find(var, names, why)
}

/// actionlint, for the GitHub workflow of examples/ci/.
pub(crate) fn actionlint() -> Option<PathBuf> {
    ci_lint(
        "PTEST_TEST_ACTIONLINT",
        "bin/actionlint",
        &["actionlint"],
        "linting examples/ci's GitHub workflow",
    )
}

/// check-jsonschema, with the GitHub workflow and GitLab CI schemas it carries.
pub(crate) fn check_jsonschema() -> Option<PathBuf> {
    ci_lint(
        "PTEST_TEST_CHECK_JSONSCHEMA",
        "venv/bin/check-jsonschema",
        &["check-jsonschema"],
        "checking examples/ci's workflows against GitHub's and GitLab's schemas",
    )
}
