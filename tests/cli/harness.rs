//! A small builder: a temp dir with a `ptest.lua` and helper files, and a way to run `ptest`
//! in it and read what happened (status, output, the JSON report, probe records).

use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code, reason = "helpers used by some test modules only")]
pub(crate) struct Project {
    pub dir: tempfile::TempDir,
}

pub(crate) struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

#[allow(dead_code, reason = "helpers used by some test modules only")]
impl Project {
    pub(crate) fn new(config: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ptest.lua"), config).expect("write ptest.lua");
        Project { dir }
    }

    /// A project in `parent` rather than in the temp folder (`TMPDIR`): for a test that runs
    /// ptest as another user. Under ptest, `TMPDIR` is the attempt's own folder, which only the
    /// user running ptest can open.
    pub(crate) fn new_in(parent: &Path, config: &str) -> Project {
        let dir = tempfile::tempdir_in(parent).expect("temp dir");
        std::fs::write(dir.path().join("ptest.lua"), config).expect("write ptest.lua");
        Project { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn file(&self, rel: &str, text: &str) -> &Project {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(
            std::env::var_os("PTEST_TEST_BIN")
                .unwrap_or_else(|| env!("CARGO_BIN_EXE_ptest").into()),
        );
        c.current_dir(self.dir.path());
        clean_env(&mut c);
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        run(self.cmd().args(args))
    }

    pub(crate) fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        run(&mut c)
    }

    #[allow(dead_code)]
    pub(crate) fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// Take out of `c`'s environment what would make the ptest it starts something else than a
/// plain run here: settings from the environment, CI markers, shard variables, and what an
/// outer ptest gives its suites.
pub(crate) fn clean_env(c: &mut Command) -> &mut Command {
    for k in [
        "PTEST_WORKERS",
        "PTEST_DISABLE_PARALLEL",
        "CI",
        "GITHUB_ACTIONS",
        "NO_COLOR",
        "PTEST_HISTORY",
        "PTEST_SHARD",
        "PTEST_SHARD_TOTAL",
        // The CI systems' parallel-job variables: a test that runs under one is no shard.
        "CI_NODE_INDEX",
        "CI_NODE_TOTAL",
        "CIRCLE_NODE_INDEX",
        "CIRCLE_NODE_TOTAL",
        "BUILDKITE_PARALLEL_JOB",
        "BUILDKITE_PARALLEL_JOB_COUNT",
        "JOB_COMPLETION_INDEX",
        // What a run gives its suites: these tests may themselves run under ptest (the
        // cargo preset's benchmark runs them so), and the ptest they start is not a suite.
        "PTEST_SOCKET",
        "PTEST_RUN_ID",
        "PTEST_WORKER",
        "PTEST_SUITE",
        "PTEST_LOG",
        "PTEST_ATTEMPT",
        "PTEST_ATTEMPTS",
        "PTEST_PHASE",
        "PTEST_GROUP",
        "PTEST_TMPDIR",
        "PTEST_ENV",
        "PTEST_SERVICE",
        // A queue run's store and run key (DESIGN §10): a test names its own.
        "PTEST_QUEUE",
        "PTEST_QUEUE_RUN",
        // A warm part's zygote, and the switch that turns warm starts off.
        "PTEST_WARM",
        "PTEST_PYTEST_WARM",
    ] {
        c.env_remove(k);
    }
    c
}

pub(crate) fn run(c: &mut Command) -> Output {
    let out = c.output().expect("run ptest");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run `ptest list` on a config and return its stderr, asserting exit code 2.
pub(crate) fn config_error(config: &str) -> String {
    let p = Project::new(config);
    let out = p.run(&["list"]);
    assert_eq!(
        out.code, 2,
        "expected a config error, got stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout on error: {}",
        out.stdout
    );
    out.stderr
}

/// The parsed `list --format json` of a config.
pub(crate) fn list_json(p: &Project, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["list", "--format", "json"];
    a.extend_from_slice(args);
    let out = p.run(&a);
    assert_eq!(out.code, 0, "list failed: {}", out.stderr);
    serde_json::from_str(&out.stdout).expect("list json parses")
}

/// The JSON report a run wrote in the project's default log folder.
pub(crate) fn report_file(p: &Project) -> PathBuf {
    p.join("test-logs/test-report.json")
}

/// The names of the suites of a report or of `list --format json`, in order.
pub(crate) fn suite_names(j: &serde_json::Value) -> Vec<&str> {
    j["suites"]
        .as_array()
        .expect("suites is an array")
        .iter()
        .map(|s| s["name"].as_str().expect("a suite's name"))
        .collect()
}

/// The items of the listed suite at `index` (a batch's part), in order.
pub(crate) fn batch_items(j: &serde_json::Value, index: usize) -> Vec<String> {
    j["suites"][index]["batch"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("suite {index} is no batch's part: {j}"))
        .iter()
        .map(|i| i["name"].as_str().expect("an item's name").to_owned())
        .collect()
}

/// The expected seconds `list --format json` gives item `name` of the listed part at `index`.
pub(crate) fn item_expected(j: &serde_json::Value, index: usize, name: &str) -> f64 {
    j["suites"][index]["batch"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("suite {index} is no batch's part: {j}"))
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no item {name} in suite {index}: {j}"))["expected"]
        .as_f64()
        .expect("an item's expected seconds")
}

/// The command of the listed suite at `index`, as its arguments (a command given as a list).
pub(crate) fn listed_cmd(j: &serde_json::Value, index: usize) -> Vec<&str> {
    j["suites"][index]["cmd"]
        .as_array()
        .unwrap_or_else(|| panic!("suite {index}'s cmd is no list: {j}"))
        .iter()
        .map(|a| a.as_str().expect("an argument"))
        .collect()
}

/// The lines of a file in the project, sorted (none when there is no such file): what a fake
/// runner recorded, in an order that does not depend on which process wrote first.
pub(crate) fn sorted_lines(p: &Project, rel: &str) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(p.join(rel))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// `ptest merge` in `into` of the shards' JSON reports (their default places), to
/// `merged.json` and `merged.xml` (JUnit), asserting that it succeeded.
pub(crate) fn merge_with_junit(into: &Project, shards: &[&Project]) {
    let reports: Vec<String> = shards
        .iter()
        .map(|s| report_file(s).to_str().expect("a UTF-8 path").to_owned())
        .collect();
    let mut args = vec!["merge"];
    args.extend(reports.iter().map(String::as_str));
    args.extend(["-o", "merged.json", "--junit", "merged.xml"]);
    let m = into.run(&args);
    assert_eq!(m.code, 0, "{}", m.stderr);
}

/// The `<testsuite name="NAME" ...>` element of a JUnit document, through its `</testsuite>`.
pub(crate) fn junit_testsuite<'a>(xml: &'a str, name: &str) -> &'a str {
    let at = xml
        .find(&format!("<testsuite name=\"{name}\""))
        .unwrap_or_else(|| panic!("no testsuite {name}: {xml}"));
    let rest = &xml[at..];
    let end = rest
        .find("</testsuite>")
        .unwrap_or_else(|| panic!("testsuite {name} does not end: {xml}"));
    &rest[..end + "</testsuite>".len()]
}

/// junit-10.xsd, as pytest's sources ship it (kept in tests/).
pub(crate) const JUNIT_XSD: &str = include_str!("../junit-10.xsd");

/// junit-10.xsd with the one extension ptest's JUnit has declared: `file` and `line` on
/// `testcase`, which GitLab, CircleCI and GitHub's JUnit actions read.
pub(crate) fn junit_xsd_with_file_line() -> String {
    let extended = JUNIT_XSD.replace(
        r#"<xs:attribute name="group" type="xs:string"/>
        </xs:complexType>
    </xs:element>

    <xs:element name="testsuite">"#,
        r#"<xs:attribute name="group" type="xs:string"/>
            <xs:attribute name="file" type="xs:string"/>
            <xs:attribute name="line" type="xs:string"/>
        </xs:complexType>
    </xs:element>

    <xs:element name="testsuite">"#,
    );
    assert_ne!(
        extended, JUNIT_XSD,
        "the testcase element is where the test expects it"
    );
    extended
}

/// xmllint's verdict on `doc` against `schema` (both relative to `dir`): what it said when the
/// document is not valid.
pub(crate) fn xsd_check(
    xmllint: &Path,
    dir: &Path,
    schema: &str,
    doc: &Path,
) -> Result<(), String> {
    let v = Command::new(xmllint)
        .args(["--noout", "--schema", schema])
        .arg(doc)
        .current_dir(dir)
        .output()
        .expect("run xmllint");
    if v.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&v.stderr).into_owned())
    }
}
