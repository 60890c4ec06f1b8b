//! The `pytest` preset on real pytest: discovery from pytest's own settings, per-test results in
//! the summary and ptest's JUnit, a retry that reruns only the failed files, `serial_marker`,
//! and `examples/pytest`. Python with pytest comes from `PTEST_TEST_PYTHON`, else the venv that
//! `.ci/run` makes at `target/pytest-venv`; without one the tests fail under CI and say
//! "skipped" elsewhere.

use std::path::{Path, PathBuf};

use crate::harness::{
    Project, batch_items as items, item_expected, junit_testsuite, list_json, listed_cmd,
};

/// A Python that has pytest, or `None` (after saying why) when none is here and CI is not set.
pub(crate) fn python() -> Option<PathBuf> {
    let found = std::env::var_os("PTEST_TEST_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytest-venv/bin/python");
            venv.exists().then_some(venv)
        })
        .filter(|p| {
            std::process::Command::new(p)
                .args(["-c", "import pytest"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Python with pytest: set PTEST_TEST_PYTHON or run .ci/run (it makes target/pytest-venv)"
        );
        eprintln!("skipped: no Python with pytest (set PTEST_TEST_PYTHON, or run .ci/run once)");
    }
    found
}

/// Records which test files ran in which attempt (module-level code runs once per import). The
/// run that confirms a part's failed files (its JUnit file is `*.fresh.xml`) imports every file
/// and records nothing: `pytest_a_fresh_parts_failed_files_are_decided_with_every_file_collected`.
const RECORD: &str = "import os, sys\nif not any(a.endswith('.fresh.xml') for a in sys.argv):\n    with open(os.path.join(os.path.dirname(__file__), '..', 'ran.txt'), 'a') as f:\n        f.write(os.environ.get('PTEST_ATTEMPT', '?') + ' ' + __name__ + '\\n')\n";

/// (`warm = false`: this test counts imports, and a warm part's failed files run again in a
/// fresh process, tests/cli/pytest_warm.rs.)
#[test]
fn pytest_files_results_and_retries_of_failed_files() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        r#"local pytest = require("ptest.presets.pytest")
pytest.batch {{ name = "unit", python = "{}", args = {{ "-q" }}, retry = 1, batches = 2,
  serial_marker = "serial", warm = false }}
"#,
        py.display()
    ));
    p.file("pytest.ini", "[pytest]\ntestpaths = tests\nmarkers =\n    serial: alone\n")
        .file(
            "tests/test_math.py",
            &format!("{RECORD}def test_adds():\n    assert 1 + 1 == 2\n\ndef test_boom():\n    assert 2 * 2 == 5, 'boom'\n"),
        )
        .file(
            "tests/test_flaky.py",
            &format!("{RECORD}import os\ndef test_second_time():\n    assert os.environ['PTEST_ATTEMPT'] == '2', 'first attempt'\n"),
        )
        .file("tests/test_fine.py", &format!("{RECORD}def test_ok():\n    pass\n"))
        .file("tests/sub/test_deep.py", &format!("{RECORD}def test_ok():\n    pass\n"))
        .file(
            "tests/test_alone.py",
            &format!("{RECORD}import pytest\n@pytest.mark.serial\ndef test_alone():\n    pass\n"),
        )
        .file("other/test_outside.py", "def test_never():\n    assert False\n");
    let j = list_json(&p, &[]);
    let mut all: Vec<String> = (0..2).flat_map(|i| items(&j, i)).collect();
    all.sort();
    assert_eq!(
        all,
        [
            "(other files)",
            "tests/sub/test_deep.py",
            "tests/test_fine.py",
            "tests/test_flaky.py",
            "tests/test_math.py"
        ],
        "testpaths from pytest.ini; the marker's file is in its own batch; what pytest collects beyond the files ptest found, in one part"
    );
    assert_eq!(j["suites"][2]["name"], "unit-serial[1]");
    assert_eq!(items(&j, 2), ["tests/test_alone.py"]);
    assert_eq!(j["suites"][2]["group"], "unit-serial");

    let out = p.run(&["-j", "2", "--junit", "junit.xml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("tests/test_math.py::test_boom failed: AssertionError: boom"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("test_second_time failed"),
        "{}",
        out.stdout
    );
    // The retry imported only the files that failed.
    let ran = std::fs::read_to_string(p.join("ran.txt")).unwrap();
    let mut second: Vec<&str> = ran.lines().filter(|l| l.starts_with("2 ")).collect();
    second.sort_unstable();
    assert_eq!(second, ["2 test_flaky", "2 test_math"], "{ran}");
    let xml = std::fs::read_to_string(p.join("junit.xml")).unwrap();
    let unit = junit_testsuite(&xml, "unit");
    assert!(unit.contains("file=\"tests/test_math.py\""), "{unit}");
    assert!(unit.contains("name=\"test_boom\""), "{unit}");
    assert!(unit.contains("message=\"AssertionError: boom"), "{unit}");
    assert!(xml.contains("<testsuite name=\"unit-serial\""), "{xml}");
    // History per file: --rerun-failed runs only test_math.py.
    std::fs::remove_file(p.join("ran.txt")).unwrap();
    let out = p.run(&["--rerun-failed"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let ran = std::fs::read_to_string(p.join("ran.txt")).unwrap();
    assert_eq!(
        ran.lines().collect::<Vec<_>>(),
        ["1 test_math", "2 test_math"],
        "{ran}"
    );
}

#[test]
fn pytest_settings_from_pyproject_and_defaults() {
    let Some(py) = python() else { return };
    let config = format!(
        "require(\"ptest.presets.pytest\").batch {{ python = \"{}\" }}\n",
        py.display()
    );
    let p = Project::new(&config);
    p.file(
        "pyproject.toml",
        "[project]\nname = \"x\"\n\n[tool.pytest.ini_options]\ntestpaths = [\n  \"checks\",\n]\npython_files = [\"check_*.py\"]\n",
    )
    .file("checks/check_one.py", "def test_one():\n    pass\n")
    .file("checks/test_not_matched.py", "def test_no():\n    assert False\n")
    .file("tests/check_elsewhere.py", "def test_no():\n    assert False\n");
    let j = list_json(&p, &[]);
    assert_eq!(items(&j, 0), ["checks/check_one.py"]);
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // No settings: pytest's defaults, hidden folders and virtualenvs left out.
    let p = Project::new(&config);
    p.file("test_top.py", "def test_a():\n    pass\n")
        .file("pkg/tests/foo_test.py", "def test_b():\n    pass\n")
        .file("pkg/helpers.py", "")
        .file(".venv/pyvenv.cfg", "")
        .file(".venv/lib/test_site.py", "")
        .file("env/pyvenv.cfg", "")
        .file("env/lib/test_site.py", "")
        .file("node_modules/x/test_js.py", "");
    let j = list_json(&p, &[]);
    let mut all: Vec<String> = j["suites"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .flat_map(|(i, _)| items(&j, i))
        .collect();
    all.sort();
    assert_eq!(
        all,
        ["(other files)", "pkg/tests/foo_test.py", "test_top.py"]
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // A project in a subfolder (`cwd`): its settings, its files relative to it.
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", cwd = \"py\" }}\n",
        py.display()
    ));
    p.file(
        "py/pyproject.toml",
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]  # it's here\naddopts = [\n  \"-p\", \"no:cacheprovider\",  # don't write\n]\n",
    )
    .file("py/tests/test_sub.py", "def test_s():\n    pass\n")
    .file("py/other/test_no.py", "def test_no():\n    assert False\n")
    .file("test_outside.py", "def test_no():\n    assert False\n");
    let j = list_json(&p, &[]);
    assert_eq!(items(&j, 0), ["tests/test_sub.py"]);
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!p.join("py/.pytest_cache").exists());
}

#[test]
fn the_pytest_example_runs_on_real_pytest() {
    let Some(py) = python() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pytest");
    let p = Project::new("");
    for f in [
        "ptest.lua",
        "pytest.ini",
        "tests/test_strings.py",
        "tests/test_numbers.py",
        "tests/test_db.py",
    ] {
        p.file(f, &std::fs::read_to_string(root.join(f)).unwrap());
    }
    let out = p.run_env(&["-j", "2"], &[("PYTHON", py.to_str().unwrap())]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASS"), "{}", out.stdout);
}

/// What a plain `pytest` run leaves out, the parts leave out too, though they name their files:
/// `--ignore` in addopts, conftest.py's `collect_ignore`, `norecursedirs`; with
/// `--doctest-modules` every module is an item and its doctests are tests.
#[test]
fn pytest_parts_collect_what_plain_pytest_collects() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", batches = 1 }}\n",
        py.display()
    ));
    p.file(
        "pyproject.toml",
        "[tool.pytest.ini_options]\naddopts = [\n  \"--doctest-modules\",  # with a comment\n  \"--ignore=tests/skipme\",\n  \"-p\", \"no:cacheprovider\",\n]\nnorecursedirs = [\"data\", \".*\"]\ntestpaths = [\"pkg\", \"tests\"]\n",
    )
    .file("pkg/__init__.py", "")
    .file(
        "pkg/mod.py",
        "def double(x):\n    \"\"\"\n    >>> double(2)\n    4\n    >>> double(3)\n    7\n    \"\"\"\n    return 2 * x\n",
    )
    .file("pkg/plain.py", "X = 1\n")
    .file("tests/conftest.py", "collect_ignore = [\"test_ign.py\"]\n")
    .file("tests/test_ok.py", "def test_ok():\n    pass\n")
    .file("tests/test_ign.py", "def test_ign():\n    assert False\n")
    .file("tests/skipme/test_s.py", "def test_s():\n    assert False\n")
    .file("tests/data/test_d.py", "def test_d():\n    assert False\n");
    let j = list_json(&p, &[]);
    assert_eq!(
        items(&j, 0),
        [
            "pkg/__init__.py",
            "pkg/mod.py",
            "pkg/plain.py",
            "tests/conftest.py",
            "tests/skipme/test_s.py",
            "tests/test_ign.py",
            "tests/test_ok.py",
            "(other files)"
        ]
    );
    let out = p.run(&["--junit", "junit.xml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("pkg/mod.py::pkg.mod.double failed"),
        "{}",
        out.stdout
    );
    let xml = std::fs::read_to_string(p.join("junit.xml")).unwrap();
    assert!(xml.contains("name=\"test_ok\""), "{xml}");
    for left_out in ["test_ign", "test_s", "test_d"] {
        assert!(!xml.contains(&format!("name=\"{left_out}\"")), "{xml}");
    }
    // Items that held no test took no time in a part that passed: the next plan counts them so
    // (in a part that failed they may not have run, and count as the median).
    p.file(
        "pkg/mod.py",
        "def double(x):\n    \"\"\"\n    >>> double(3)\n    6\n    \"\"\"\n    return 2 * x\n",
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let j = list_json(&p, &[]);
    let plain = item_expected(&j, 0, "pkg/plain.py");
    assert!(plain < 0.01, "{plain}");
}

#[test]
fn pytest_xdist_in_addopts_is_turned_off_in_the_parts() {
    // No pytest runs: the config only.
    let p = Project::new("require(\"ptest.presets.pytest\").batch {}\n");
    p.file(
        "pytest.ini",
        "[pytest]\naddopts = -n auto --dist loadfile\n",
    )
    .file("test_a.py", "");
    let j = list_json(&p, &[]);
    let cmd = listed_cmd(&j, 0);
    assert!(cmd.windows(2).any(|w| w == ["-n", "0"]), "{cmd:?}");
}

/// Each testcase of the JSON report as `FILE::CLASS::NAME STATUS ITEM` (ITEM "-" when no item
/// claimed it), sorted.
fn testcases(report: &Path) -> Vec<String> {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let mut out: Vec<String> = r["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["testcases"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("-").to_owned();
            format!(
                "{}::{}::{} {} {}",
                s("file"),
                s("classname"),
                s("name"),
                s("status"),
                s("item")
            )
        })
        .collect();
    out.sort();
    out
}

/// Runs ptest in `dir` (a folder of `p` holding a ptest.lua).
fn ptest_in(p: &Project, dir: &str, args: &[&str]) -> crate::harness::Output {
    let mut c = p.cmd();
    c.current_dir(p.join(dir)).args(args);
    crate::harness::run(&mut c)
}

/// pytest names a test's file relative to its rootdir: the folder of its settings file, which
/// may be above ptest.lua's folder. The testcases are still matched to the items (which are
/// relative to ptest.lua's folder), so the failure list, a retry, history and --rerun-failed
/// work per file; an inherited test counts for the file it was collected from, not the one
/// defining its base class. The settings above apply (`python_files`), and `testpaths` does
/// not, as in a plain `pytest` run in that folder.
#[test]
fn pytest_settings_in_a_folder_above_the_config() {
    let Some(py) = python() else { return };
    let p = Project::new("");
    p.file(
        "app/ptest.lua",
        &format!(
            "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", batches = 1, retry = 1 }}\n",
            py.display()
        ),
    )
    .file(
        "pytest.ini",
        "[pytest]\ntestpaths = other\npython_files = check_*.py\naddopts = -p no:cacheprovider\n",
    )
    .file(
        "app/tests/check_math.py",
        &format!("{RECORD}def test_adds():\n    assert 1 + 1 == 2\n\nclass TestK:\n    def test_boom(self):\n        assert 2 * 2 == 5, 'boom'\n"),
    )
    .file(
        "app/tests/check_base.py",
        "class TestShared:\n    value = 1\n    def test_value(self):\n        assert self.value == 1, 'value %d' % self.value\n",
    )
    .file(
        "app/tests/check_child.py",
        &format!("{RECORD}import check_base\n\nclass TestChild(check_base.TestShared):\n    value = 2\n"),
    )
    .file("app/tests/test_not_matched.py", "def test_no():\n    assert False\n")
    .file("other/check_elsewhere.py", "def test_no():\n    assert False\n");
    let out = ptest_in(&p, "app", &["list", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        items(&j, 0),
        [
            "tests/check_base.py",
            "tests/check_child.py",
            "tests/check_math.py",
            "(other files)"
        ]
    );
    let out = ptest_in(&p, "app", &["--junit", "junit.xml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("tests/check_math.py::TestK::test_boom failed: AssertionError: boom"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "tests/check_child.py::TestChild::test_value failed: AssertionError: value 2"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(
        testcases(&p.join("app/test-logs/test-report.json")),
        [
            "tests/check_base.py::tests.check_base.TestShared::test_value passed tests/check_base.py",
            "tests/check_child.py::tests.check_child.TestChild::test_value failed tests/check_child.py",
            "tests/check_math.py::tests.check_math.TestK::test_boom failed tests/check_math.py",
            "tests/check_math.py::tests.check_math::test_adds passed tests/check_math.py",
        ]
    );
    // The retry ran only the two files that failed (check_base is not one: its test passed).
    let ran = std::fs::read_to_string(p.join("app/ran.txt")).unwrap();
    let mut second: Vec<&str> = ran.lines().filter(|l| l.starts_with("2 ")).collect();
    second.sort_unstable();
    assert_eq!(second, ["2 check_child", "2 check_math"], "{ran}");
    // History per file: --rerun-failed runs the failed files only.
    std::fs::remove_file(p.join("app/ran.txt")).unwrap();
    let out = ptest_in(&p, "app", &["--rerun-failed"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let ran = std::fs::read_to_string(p.join("app/ran.txt")).unwrap();
    let mut first: Vec<&str> = ran.lines().filter(|l| l.starts_with("1 ")).collect();
    first.sort_unstable();
    assert_eq!(first, ["1 check_child", "1 check_math"], "{ran}");
    assert!(
        testcases(&p.join("app/test-logs/test-report.json"))
            .iter()
            .all(|c| !c.ends_with(" -")),
        "every testcase has its item"
    );
}

/// Without a settings file, pytest's rootdir is the folder that holds all of a part's files
/// (`tests/unit` here, where a plain run has the config's folder); `--rootdir` puts it anywhere
/// (`tests`, with `test_top.py` outside it). Either way each testcase counts for its item and
/// is named relative to the config's folder.
#[test]
fn pytest_rootdir_elsewhere_than_the_config() {
    let Some(py) = python() else { return };
    for args in ["", "\"--rootdir=tests\""] {
        let p = Project::new(&format!(
            "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", batches = 1, args = {{ \"-p\", \"no:cacheprovider\", {args} }} }}\n",
            py.display()
        ));
        p.file(
            "tests/unit/test_a.py",
            &format!("{RECORD}def test_fails():\n    assert 1 == 2, 'one is not two'\n"),
        )
        .file(
            "tests/unit/test_b.py",
            &format!("{RECORD}class TestB:\n    def test_ok(self):\n        pass\n"),
        );
        if !args.is_empty() {
            p.file("test_top.py", "def test_top():\n    pass\n");
        }
        let out = p.run(&[]);
        assert_eq!(out.code, 1, "{args}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains(
                "tests/unit/test_a.py::test_fails failed: AssertionError: one is not two"
            ),
            "{args}: {}",
            out.stdout
        );
        let mut want = vec![
            "tests/unit/test_a.py::tests.unit.test_a::test_fails failed tests/unit/test_a.py",
            "tests/unit/test_b.py::tests.unit.test_b.TestB::test_ok passed tests/unit/test_b.py",
        ];
        if !args.is_empty() {
            want.push("test_top.py::test_top::test_top passed test_top.py");
        }
        want.sort_unstable();
        assert_eq!(
            testcases(&p.join("test-logs/test-report.json")),
            want,
            "{args}"
        );
        std::fs::remove_file(p.join("tests/ran.txt")).unwrap();
        let out = p.run(&["--rerun-failed"]);
        assert_eq!(out.code, 1, "{args}: {}{}", out.stdout, out.stderr);
        let ran = std::fs::read_to_string(p.join("tests/ran.txt")).unwrap();
        assert_eq!(
            ran.lines().collect::<Vec<_>>(),
            ["1 test_a"],
            "{args}: {ran}"
        );
    }
}

/// A part reads the settings file a plain `pytest` in the config's folder reads, not one in a
/// subfolder that holds all of the part's files (pytest looks from the files' folder up when
/// given files): here sub/tox.ini would deselect everything and the failing test would pass
/// unseen.
#[test]
fn pytest_parts_read_the_settings_file_a_plain_run_reads() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", paths = {{ \"sub\" }}, batches = 1 }}\n",
        py.display()
    ));
    p.file("pytest.ini", "[pytest]\naddopts = -p no:cacheprovider\n")
        .file("sub/tox.ini", "[pytest]\naddopts = -k nothing\n")
        .file(
            "sub/test_a.py",
            "def test_a():\n    assert 1 == 2, 'sub ran'\n",
        );
    let j = list_json(&p, &[]);
    let cmd = listed_cmd(&j, 0);
    assert!(cmd.windows(2).any(|w| w == ["-c", "pytest.ini"]), "{cmd:?}");
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("sub/test_a.py::test_a failed: AssertionError: sub ran"),
        "{}",
        out.stdout
    );
}

/// An item's duration in history holds its share of pytest's session beyond its tests' own
/// times (here: a module that takes 0.4 s to import, whose test takes no time; the share is by
/// testcase, not by file), and the batch's fixed cost per process is recorded as `NAME[]`,
/// apart from its parts.
#[test]
fn pytest_session_time_beyond_the_tests_counts_for_the_items() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ name = \"unit\", python = \"{}\", batches = 1 }}\n",
        py.display()
    ));
    p.file(
        "tests/test_slow_import.py",
        "import time\ntime.sleep(0.4)\n\ndef test_quick():\n    pass\n",
    )
    .file("tests/test_plain.py", "def test_quick():\n    pass\n");
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let j = list_json(&p, &[]);
    let expected = |name: &str| item_expected(&j, 0, name);
    let (slow, plain) = (
        expected("tests/test_slow_import.py"),
        expected("tests/test_plain.py"),
    );
    // The import is collection, outside any testcase's time; split evenly between the two
    // testcases, each gets half of it.
    assert!(slow >= 0.2 && plain >= 0.2, "{slow} {plain}");
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join(".ptest/history.json")).unwrap())
            .unwrap();
    let fixed = &history["suites"]["unit[]"]["runs"][0];
    let part = history["suites"]["unit[1]"]["runs"][0][2].as_f64().unwrap();
    let cost = fixed[2].as_f64().unwrap();
    assert!(cost >= 0.0 && cost < part - 0.4, "{fixed} {part}");
}

/// A file that takes longer than a worker's share (by history) runs in two slices, each in a
/// part of its own: contiguous runs of its tests in the file's order; a slice whose tests fail
/// runs the file whole for their outcome; the file is recorded once in history; a retry runs
/// only the slice that failed.
#[test]
fn pytest_a_long_file_runs_in_slices() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ name = \"unit\", python = \"{}\", retry = 1 }}\n",
        py.display()
    ));
    let record = "import os\ndef record(name):\n    with open(os.path.join(os.path.dirname(__file__), '..', 'ran.txt'), 'a') as f:\n        f.write('%s %s %d\\n' % (os.environ['PTEST_ATTEMPT'], name, os.getpid()))\n";
    let mut big = record.to_owned();
    for i in 0..10 {
        big.push_str(&format!("\ndef test_{i}():\n    record('big{i}')\n"));
    }
    // Fails at its first attempt only.
    big.push_str(
        "\ndef test_flaky():\n    record('flaky')\n    assert os.environ['PTEST_ATTEMPT'] == '2'\n",
    );
    p.file("tests/test_big.py", &big)
        .file(
            "tests/test_a.py",
            &format!("{record}\ndef test_a():\n    record('a')\n"),
        )
        .file(
            "tests/test_b.py",
            &format!("{record}\ndef test_b():\n    record('b')\n"),
        );
    // What earlier runs measured: 30 s for the big file, 1 s for each other.
    p.file(
        ".ptest/history.json",
        concat!(
            "{\"format_version\":2,\"run_fields\":[\"time\",\"status\",\"duration\",\"attempts\",\"peak_rss_kb\",\"cpu_time\"],\n",
            "\"suites\":{\n\"unit[]\":{\"runs\":[[1,\"passed\",0.5,1]]}\n},\n",
            "\"items\":{\n",
            "\"unit/(other files)\":{\"runs\":[[1,\"passed\",0,1]]},\n",
            "\"unit/tests/test_a.py\":{\"runs\":[[1,\"passed\",1,1]]},\n",
            "\"unit/tests/test_b.py\":{\"runs\":[[1,\"passed\",1,1]]},\n",
            "\"unit/tests/test_big.py\":{\"runs\":[[1,\"passed\",30,1]]}\n",
            "}}\n"
        ),
    );
    let j = list_json(&p, &["-j", "2"]);
    let parts = j["suites"].as_array().unwrap();
    let batches: Vec<&serde_json::Value> = parts.iter().map(|s| &s["batch"]).collect();
    // In two parts, one slice each (the third part has the two short files).
    let slices: Vec<(usize, &serde_json::Value)> = batches
        .iter()
        .enumerate()
        .flat_map(|(k, b)| {
            b["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["name"] == "tests/test_big.py")
                .map(move |i| (k, &i["slice"]))
        })
        .collect();
    assert_eq!(slices.len(), 2, "{batches:?}");
    assert_ne!(slices[0].0, slices[1].0, "{batches:?}");
    assert_eq!(*slices[0].1, serde_json::json!({ "index": 1, "count": 2 }));
    assert_eq!(*slices[1].1, serde_json::json!({ "index": 2, "count": 2 }));
    let out = p.run(&["-j", "2", "--junit", "junit.xml"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let ran = std::fs::read_to_string(p.join("ran.txt")).unwrap();
    let lines: Vec<(&str, &str, &str)> = ran
        .lines()
        .map(|l| {
            let mut w = l.split(' ');
            (w.next().unwrap(), w.next().unwrap(), w.next().unwrap())
        })
        .collect();
    // The tests each process ran at an attempt, in their order.
    let by_pid = |attempt: &str| {
        let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
        for l in lines
            .iter()
            .filter(|l| l.0 == attempt && l.1 != "a" && l.1 != "b")
        {
            match out.iter_mut().find(|(pid, _)| *pid == l.2) {
                Some((_, names)) => names.push(l.1),
                None => out.push((l.2, vec![l.1])),
            }
        }
        out.sort_by_key(|(_, names)| names.len());
        out.into_iter().map(|(_, names)| names).collect::<Vec<_>>()
    };
    let big: Vec<String> = (0..10).map(|i| format!("big{i}")).collect();
    let mut whole: Vec<&str> = big.iter().map(String::as_str).collect();
    whole.push("flaky");
    // At the first attempt: the big file in two contiguous slices, in the file's order; the
    // second failed (test_flaky), so the file then ran whole in a process of its own.
    assert_eq!(by_pid("1"), [&whole[..5], &whole[5..], &whole[..]], "{ran}");
    assert!(
        out.stdout.contains("FLAKY") || out.stdout.contains("flaky"),
        "{}",
        out.stdout
    );
    // The retry ran the slice that held test_flaky, and nothing else.
    assert_eq!(by_pid("2"), [&whole[5..]], "{ran}");
    let xml = std::fs::read_to_string(p.join("junit.xml")).unwrap();
    let unit = junit_testsuite(&xml, "unit");
    assert_eq!(unit.matches("<testcase ").count(), 13, "{unit}");
    // History: the big file once more, with both slices' time.
    let history = std::fs::read_to_string(p.join(".ptest/history.json")).unwrap();
    let line = history
        .lines()
        .find(|l| l.starts_with("\"unit/tests/test_big.py\""))
        .unwrap();
    assert_eq!(line.matches("\"passed\"").count(), 1 + 1, "{history}");
}

#[test]
fn pytest_rerun_failed_runs_only_the_failed_tests() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        r#"require("ptest.presets.pytest").batch {{ name = "unit", python = "{}", batches = 1 }}
"#,
        py.display()
    ));
    // Every test that runs says so: `ATTEMPT NODEID`.
    p.file(
        "conftest.py",
        "import os, pytest\n@pytest.fixture(autouse=True)\ndef _ran(request):\n    with open(os.path.join(os.path.dirname(__file__), 'ran.txt'), 'a') as f:\n        f.write(os.environ.get('PTEST_ATTEMPT', '?') + ' ' + request.node.nodeid + '\\n')\n",
    )
    .file(
        "tests/test_a.py",
        "import os, pytest\nFAIL = os.path.exists(os.path.join(os.path.dirname(__file__), '..', 'fail'))\n\
def test_ok():\n    pass\n\
@pytest.mark.parametrize('n', [1, 2, 3])\ndef test_param(n):\n    assert not (FAIL and n == 2)\n\
class TestC:\n    def test_in_class(self):\n        assert not FAIL\n    def test_fine(self):\n        pass\n\
class TestOuter:\n    class TestInner:\n        def test_nested(self):\n            assert not FAIL\n",
    )
    .file("tests/test_b.py", "def test_b():\n    pass\n")
    .file("fail", "");
    let ran = || {
        let mut lines = crate::harness::sorted_lines(&p, "ran.txt");
        std::fs::remove_file(p.join("ran.txt")).unwrap();
        lines.dedup();
        lines
    };
    let out = p.run(&["--events", "events.ndjson"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(ran().len(), 8);
    // Each test told as it ended by the preset's plugin, named as the reports name it.
    let events = std::fs::read_to_string(p.join("events.ndjson")).unwrap();
    let mut told: Vec<String> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "test_finished")
        .map(|e| {
            format!(
                "{} {}",
                e["status"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect();
    told.sort();
    assert_eq!(
        told,
        [
            "failed tests/test_a.py::TestC::test_in_class",
            "failed tests/test_a.py::TestOuter::TestInner::test_nested",
            "failed tests/test_a.py::test_param[2]",
            "passed tests/test_a.py::TestC::test_fine",
            "passed tests/test_a.py::test_ok",
            "passed tests/test_a.py::test_param[1]",
            "passed tests/test_a.py::test_param[3]",
            "passed tests/test_b.py::test_b",
        ],
        "{events}"
    );
    assert!(
        out.stdout
            .contains("FAIL    tests/test_a.py::test_param[2]  failed  unit[1]"),
        "{}",
        out.stdout
    );
    // Only the three tests that failed, not their file.
    let failed = [
        "1 tests/test_a.py::TestC::test_in_class",
        "1 tests/test_a.py::TestOuter::TestInner::test_nested",
        "1 tests/test_a.py::test_param[2]",
    ];
    let out = p.run(&["--rerun-failed"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(ran(), failed, "{}", out.stdout);
    assert!(
        out.stdout.contains("3 tests in batches' results: 3 failed"),
        "{}",
        out.stdout
    );
    // Fixed: the same three run and pass; then nothing failed last time.
    std::fs::remove_file(p.join("fail")).unwrap();
    let out = p.run(&["--rerun-failed"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ran(), failed, "{}", out.stdout);
    let out = p.run(&["--rerun-failed"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("nothing failed last time"),
        "{}",
        out.stdout
    );
    // The file's duration in history is still a whole run's, not the three tests'.
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join(".ptest/history.json")).unwrap())
            .unwrap();
    let runs = history["items"]["unit/tests/test_a.py"]["runs"]
        .as_array()
        .unwrap();
    assert!(runs[0][2].is_f64(), "{history}");
    assert!(
        runs[1].get(2).is_none_or(serde_json::Value::is_null),
        "{history}"
    );
}

/// Ctrl-C while a part runs: the tests it told the run as they ended are in the report,
/// although pytest never wrote its results file.
#[test]
fn pytest_an_interrupted_part_keeps_the_tests_that_ended_in_its_report() {
    use crate::probe::{signal, spawn, wait_exit, wait_until};
    use std::time::Duration;
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        r#"ptest.config {{ grace = "2s" }}
require("ptest.presets.pytest").batch {{ name = "unit", python = "{}", batches = 1 }}
"#,
        py.display()
    ));
    p.file(
        "tests/test_a.py",
        "import os, time\n\
def test_1():\n    pass\n\
def test_2():\n    assert False, 'no'\n\
def test_3():\n    open(os.path.join(os.path.dirname(__file__), '..', 'hang.started'), 'w').close()\n    time.sleep(60)\n",
    );
    let mut child = spawn(&p, &["--events", "events.ndjson"]);
    let told = || {
        std::fs::read_to_string(p.join("events.ndjson"))
            .unwrap_or_default()
            .matches("\"event\":\"test_finished\"")
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(30), || told() == 2
            && p.join("hang.started").exists()),
        "the part did not get to its third test: {}",
        std::fs::read_to_string(p.join("events.ndjson")).unwrap_or_default()
    );
    signal(&child, libc::SIGINT);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), 130);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let part = &report["suites"][0];
    assert_eq!(part["status"], "cancelled", "{report}");
    let cases: Vec<String> = part["testcases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["item"].as_str().unwrap_or("?"),
                c["name"].as_str().unwrap(),
                c["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        cases,
        [
            "tests/test_a.py test_1 passed",
            "tests/test_a.py test_2 failed"
        ],
        "{report}"
    );
    let stdout = std::fs::read_to_string(p.join("stdout.txt")).unwrap();
    assert!(
        stdout.contains("2 tests in batches' results: 1 passed, 1 failed"),
        "{stdout}"
    );
}

/// A test may rely on what another test file imports when pytest collects it (click's pager
/// tests use `click._termui_impl`, which only other test files import): a plain run collects
/// every file first, a part only its own. A part that starts fresh (warm start off) runs its
/// failed files again in a fresh process that collects every file, as the plain run does, and
/// that run's outcome counts; the part's log and the summary say so.
#[test]
fn pytest_a_fresh_parts_failed_files_are_decided_with_every_file_collected() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ name = \"unit\", python = \"{}\", paths = {{ \"tests\" }}, batches = 2, warm = false }}\n",
        py.display()
    ));
    p.file("pkg/__init__.py", "")
        .file("pkg/sub.py", "X = 1\n")
        .file(
            "tests/test_1.py",
            "import pkg.sub\ndef test_imports():\n    pass\n",
        )
        .file(
            "tests/test_2.py",
            "import pkg\ndef test_uses_what_test_1_imported():\n    assert pkg.sub.X == 1\n\ndef test_fails():\n    assert False, 'really'\n",
        );
    let plain = std::process::Command::new(&py)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(p.join(""))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&plain.stdout);
    assert!(said.contains("1 failed, 2 passed"), "plain pytest: {said}");
    // Packed apart.
    let j = list_json(&p, &[]);
    let part = |file: &str| (0..2).find(|&i| items(&j, i).iter().any(|f| f == file));
    assert_ne!(part("tests/test_1.py"), part("tests/test_2.py"), "{j}");
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let mut cases: Vec<String> = r["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["testcases"].as_array().cloned().unwrap_or_default())
        .map(|c| format!("{} {} {}", c["name"], c["status"], c["split_outcome"]))
        .collect();
    cases.sort();
    assert_eq!(
        cases,
        [
            "\"test_fails\" \"failed\" null",
            "\"test_imports\" \"passed\" null",
            "\"test_uses_what_test_1_imported\" \"passed\" \"failed\"",
        ],
        "pytest's outcomes; the one the confirming run changed says how it ended in its part"
    );
    let n = part("tests/test_2.py").unwrap() + 1;
    let log = std::fs::read_to_string(p.join(&format!("test-logs/unit_{n}_.log"))).unwrap();
    assert!(
        log.contains("tests of 1 file failed in this part, which collected only its own files")
            && log.contains("1 test of them had another outcome with every file collected")
            && log.contains("test_uses_what_test_1_imported (failure, now passed)"),
        "{log}"
    );
    assert!(
        out.stdout.contains("Decided by a second run")
            && out.stdout.contains(
                "tests/test_2.py::test_uses_what_test_1_imported  passed (in its part: failed)"
            ),
        "{}",
        out.stdout
    );
}

/// The same for a batch given its `files` (a plain `pytest FILES` collects every one of them
/// first) and for a `--test` run (a plain `pytest NODEIDS` collects the files of every test
/// named): each part collects only its own files, and runs its failed files again in a fresh
/// process that collects all of them. The log names a test by its node id, its class too.
#[test]
fn pytest_files_and_test_runs_decide_failed_files_with_every_file_collected() {
    let Some(py) = python() else { return };
    let cases: [(&str, &[&str], i32, &str); 2] = [
        (
            "files = { \"tests/test_1.py\", \"tests/test_2.py\" }",
            &[],
            1,
            "\"test_fails\" \"failed\" null",
        ),
        (
            "paths = { \"tests\" }",
            &[
                "--test",
                "tests/test_1.py::test_imports",
                "--test",
                "tests/test_2.py::TestUse",
            ],
            0,
            "",
        ),
    ];
    for (field, args, code, fails) in cases {
        let p = Project::new(&format!(
            "require(\"ptest.presets.pytest\").batch {{ name = \"unit\", python = \"{}\", {field}, batches = 2, warm = false }}\n",
            py.display()
        ));
        p.file("pkg/__init__.py", "")
            .file("pkg/sub.py", "X = 1\n")
            .file(
                "tests/test_1.py",
                "import pkg.sub\ndef test_imports():\n    pass\n",
            )
            .file(
                "tests/test_2.py",
                "import pkg\nclass TestUse:\n    def test_uses_what_test_1_imported(self):\n        assert pkg.sub.X == 1\n\ndef test_fails():\n    assert False, 'really'\n",
            );
        // Packed apart.
        let j = list_json(&p, args);
        let part = |file: &str| (0..2).find(|&i| items(&j, i).iter().any(|f| f == file));
        assert_ne!(
            part("tests/test_1.py"),
            part("tests/test_2.py"),
            "{field}: {j}"
        );
        let mut all = vec!["-j", "2", "--no-history"];
        all.extend_from_slice(args);
        let out = p.run(&all);
        assert_eq!(out.code, code, "{field}: {}{}", out.stdout, out.stderr);
        let r: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
        )
        .unwrap();
        let mut cases: Vec<String> = r["suites"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["testcases"].as_array().cloned().unwrap_or_default())
            .map(|c| format!("{} {} {}", c["name"], c["status"], c["split_outcome"]))
            .collect();
        cases.sort();
        let mut want = vec![
            "\"test_imports\" \"passed\" null",
            "\"test_uses_what_test_1_imported\" \"passed\" \"failed\"",
        ];
        if !fails.is_empty() {
            want.insert(0, fails);
        }
        assert_eq!(cases, want, "{field}: pytest's outcomes");
        let n = part("tests/test_2.py").unwrap() + 1;
        let log = std::fs::read_to_string(p.join(&format!("test-logs/unit_{n}_.log"))).unwrap();
        assert!(
            log.contains("tests of 1 file failed in this part, which collected only its own files")
                && log.contains(
                    "tests/test_2.py::TestUse::test_uses_what_test_1_imported (failure, now passed)"
                ),
            "{field}: {log}"
        );
    }
}
