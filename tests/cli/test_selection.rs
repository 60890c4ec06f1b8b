//! Test-level selection on real tools: `ptest -k EXPR`, `--test ID` and `ptest -- ARGS` reach
//! pytest and go in their own terms (pytest's `-k` and node ids, go's `-run`), plain suites are
//! left out of such a run, a filter that selects nothing is "nothing to run", a filtered run
//! records no durations in history, and `ptest list --tests` prints the ids the tool collects
//! (the ones `--test` takes). The cargo and node presets' share is in their own files.

use std::path::Path;

use crate::go_preset::go;
use crate::harness::{Output, Project, run, sorted_lines};
use crate::pytest_preset::python;

/// Every test appends `FLAVOUR NODEID` to ran.txt (`-- --flavour=X` sets FLAVOUR), except in
/// the run that confirms a part's failed files with every file collected (its JUnit file is
/// `*.fresh.xml`): each test once.
const CONFTEST: &str = r#"import os, sys, pytest
def pytest_addoption(parser):
    parser.addoption("--flavour", default="plain")
@pytest.fixture(autouse=True)
def record(request):
    if any(a.endswith(".fresh.xml") for a in sys.argv):
        return
    with open(os.path.join(str(request.config.rootpath), "ran.txt"), "a") as f:
        f.write(request.config.getoption("flavour") + " " + request.node.nodeid + "\n")
"#;

const TEST_A: &str = r#"import pytest
def test_one(): pass
def test_two(): pass
class TestC:
    def test_x(self): pass
    @pytest.mark.parametrize("v", [1, 2])
    def test_p(self, v): assert v
"#;

const TEST_B: &str = "def test_one(): pass\ndef test_bad(): assert False, 'bad'\n";

fn pytest_project(py: &Path) -> Project {
    let p = Project::new(&format!(
        r#"require("ptest.presets.pytest").batch {{ name = "py", python = "{}", batches = 2 }}
ptest.suite {{ name = "lint", cmd = "echo lint >> ran.txt" }}
"#,
        py.display()
    ));
    p.file("pytest.ini", "[pytest]\ntestpaths = tests\n")
        .file("tests/conftest.py", CONFTEST)
        .file("tests/test_a.py", TEST_A)
        .file("tests/test_b.py", TEST_B);
    p
}

/// What ran, sorted, and forgotten for the next run.
fn ran(p: &Project) -> Vec<String> {
    let lines = sorted_lines(p, "ran.txt");
    std::fs::remove_file(p.join("ran.txt")).ok();
    lines
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

#[test]
fn pytest_runs_the_tests_k_and_test_select_with_the_arguments_after_dashes() {
    let Some(py) = python() else { return };
    let p = pytest_project(&py);

    // -k: pytest's own expression; the plain suite cannot select tests and is left out.
    let out = p.run(&["-k", "one", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("-- -k"), "{}", out.stderr);
    assert_eq!(
        ran(&p),
        sorted(&[
            "plain tests/test_a.py::test_one",
            "plain tests/test_b.py::test_one"
        ])
    );

    // --test: node ids as ptest names tests (a class stands for its tests), and `-- ARGS` go to
    // pytest after the batch's own.
    let out = p.run(&[
        "--test",
        "tests/test_a.py::TestC::test_p",
        "--test",
        "tests/test_b.py::test_one",
        "--no-history",
        "--",
        "--flavour=mint",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&p),
        sorted(&[
            "mint tests/test_a.py::TestC::test_p[1]",
            "mint tests/test_a.py::TestC::test_p[2]",
            "mint tests/test_b.py::test_one",
        ])
    );

    // A class stands for its tests; a name pytest does not collect is pytest's "not found"
    // (never the whole file).
    let out = p.run(&["--test", "tests/test_a.py::TestC", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&p),
        sorted(&[
            "plain tests/test_a.py::TestC::test_p[1]",
            "plain tests/test_a.py::TestC::test_p[2]",
            "plain tests/test_a.py::TestC::test_x",
        ])
    );
    let out = p.run(&["--test", "tests/test_a.py::TestC::nope", "--no-history"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let log = std::fs::read_to_string(p.join("test-logs/py_1_.log")).unwrap_or_default();
    assert!(
        log.contains("not found: tests/test_a.py::TestC::nope"),
        "{}{log}",
        out.stdout
    );
    assert_eq!(ran(&p), Vec::<String>::new());

    // A whole file by its name; a failing test fails the run and is named.
    let out = p.run(&["--test", "tests/test_b.py", "--no-history"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("tests/test_b.py::test_bad"),
        "{}",
        out.stdout
    );
    assert_eq!(
        ran(&p),
        sorted(&[
            "plain tests/test_b.py::test_bad",
            "plain tests/test_b.py::test_one"
        ])
    );

    // `-- ARGS` alone runs everything, plain suites too.
    let out = p.run(&["--no-history", "--", "--flavour=salt", "-k", "TestC"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&p),
        sorted(&[
            "lint",
            "salt tests/test_a.py::TestC::test_p[1]",
            "salt tests/test_a.py::TestC::test_p[2]",
            "salt tests/test_a.py::TestC::test_x",
        ])
    );
}

#[test]
fn a_selection_that_matches_no_test_is_nothing_to_run() {
    let Some(py) = python() else { return };
    let p = pytest_project(&py);
    let out = p.run(&["-k", "no_such_test", "--no-history"]);
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("nothing to run: -k no_such_test matched no test in the suites that took it"),
        "{}",
        out.stderr
    );
    assert_eq!(ran(&p), Vec::<String>::new());
    let out = p.run(&["-k", "no_such_test", "--no-history", "--allow-empty"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // A name no batch holds: no suite is left.
    let out = p.run(&["--test", "nowhere.py::test_x", "--no-history"]);
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("--test nowhere.py::test_x matches no suite"),
        "{}",
        out.stderr
    );
    // An empty expression is a mistake, not "every test".
    let out = p.run(&["-k", ""]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("empty"), "{}", out.stderr);
}

#[test]
fn a_filtered_run_records_no_durations_and_its_failures_only_as_failures() {
    let Some(py) = python() else { return };
    let p = pytest_project(&py);
    let history = || std::fs::read_to_string(p.join(".ptest/history.json")).unwrap_or_default();
    let out = p.run(&["-k", "one or bad"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let h = history();
    // The file with the failed test is failed (so --rerun-failed runs it, whole); nothing has a
    // duration, and the file that passed is not recorded at all.
    assert!(
        h.contains("\"py/tests/test_b.py\":{\"runs\":[[") && h.contains(",\"failed\"]]"),
        "{h}"
    );
    assert!(!h.contains("py/tests/test_a.py"), "{h}");
    assert!(!h.contains("\"passed\""), "{h}");
    assert!(!h.contains("lint"), "{h}");
    ran(&p);
    // --rerun-failed then runs the failed file whole, as after `pytest --lf` with no filter.
    let out = p.run(&["--rerun-failed"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&p),
        sorted(&[
            "plain tests/test_b.py::test_bad",
            "plain tests/test_b.py::test_one"
        ])
    );
    // A whole run records durations.
    p.file("tests/test_b.py", "def test_one(): pass\n");
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let h = history();
    assert!(
        h.contains("\"py/tests/test_a.py\":{\"runs\":[[") && h.contains(",\"passed\","),
        "{h}"
    );
}

#[test]
fn pytest_list_tests_prints_the_ids_pytest_collects() {
    let Some(py) = python() else { return };
    let p = pytest_project(&py);
    let plain = run(std::process::Command::new(&py)
        .args([
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .current_dir(p.path()));
    let mut collected: Vec<&str> = plain.stdout.lines().filter(|l| l.contains("::")).collect();
    let out = p.run(&["list", "--tests"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut listed: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(listed.len(), 7, "{}", out.stdout);
    listed.sort_unstable();
    collected.sort_unstable();
    assert_eq!(listed, collected);
    // Filters apply as in a run; each id is one --test takes.
    let out = p.run(&["list", "--tests", "-k", "TestC and not x"]);
    assert_eq!(
        out.stdout, "tests/test_a.py::TestC::test_p[1]\ntests/test_a.py::TestC::test_p[2]\n",
        "{}",
        out.stderr
    );
    let out = p.run(&[
        "--test",
        "tests/test_a.py::TestC::test_p[2]",
        "--no-history",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ran(&p), ["plain tests/test_a.py::TestC::test_p[2]"]);
    // JSON: each batch with its tests.
    let out = p.run(&[
        "list",
        "--tests",
        "--format",
        "json",
        "--test",
        "tests/test_b.py",
    ]);
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(j["batches"][0]["name"], "py");
    assert_eq!(j["batches"][0]["collected"], true);
    assert_eq!(
        j["batches"][0]["tests"],
        serde_json::json!(["tests/test_b.py::test_one", "tests/test_b.py::test_bad"])
    );
    // Tests named of a file: only those, a class for its tests (what the run would run).
    let out = p.run(&[
        "list",
        "--tests",
        "--test",
        "tests/test_a.py::TestC",
        "--test",
        "tests/test_b.py::test_bad",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "tests/test_a.py::TestC::test_x\ntests/test_a.py::TestC::test_p[1]\ntests/test_a.py::TestC::test_p[2]\ntests/test_b.py::test_bad\n",
        "{}",
        out.stderr
    );
    // After a run with a failed test, --rerun-failed lists that one.
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    ran(&p);
    let out = p.run(&["list", "--tests", "--rerun-failed"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "tests/test_b.py::test_bad\n", "{}", out.stderr);
}

/// Each test appends `PACKAGE TEST` to ran.txt.
fn go_test(pkg: &str, names: &[&str]) -> String {
    let mut s = format!(
        "package {pkg}\n\nimport (\n\t\"os\"\n\t\"testing\"\n)\n\nfunc rec(t *testing.T) {{\n\tf, _ := os.OpenFile(os.Getenv(\"RAN\"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)\n\tf.WriteString(\"{pkg} \" + t.Name() + \"\\n\")\n\tf.Close()\n}}\n"
    );
    for n in names {
        s.push_str(&format!(
            "\nfunc {n}(t *testing.T) {{\n\trec(t)\n\tt.Run(\"sub\", func(t *testing.T) {{ rec(t) }})\n}}\n"
        ));
    }
    s
}

/// A go module of two packages, calc (TestAdd, TestSub) and str (TestAdd, TestLen), each test
/// with a subtest `sub`; `options` go into the batch's table after its name.
fn go_project(options: &str) -> Project {
    let p = Project::new(&format!(
        "require(\"ptest.presets.go\").batch {{ name = \"go\"{options} }}\n"
    ));
    p.file("go.mod", "module example.com/m\n\ngo 1.20\n")
        .file(
            "calc/calc_test.go",
            &go_test("calc", &["TestAdd", "TestSub"]),
        )
        .file("str/str_test.go", &go_test("str", &["TestAdd", "TestLen"]));
    p
}

fn go_ptest(p: &Project, go: &Path, args: &[&str]) -> Output {
    let mut c = p.cmd();
    c.args(args).env("RAN", p.join("ran.txt"));
    // go would answer a run it saw before from its cache, and run nothing.
    run(crate::go_preset::go_env(&mut c, go).env("GOFLAGS", "-mod=mod -count=1"))
}

#[test]
fn go_runs_the_tests_k_and_test_select() {
    let Some(go) = go() else { return };
    let p = go_project("");

    let out = go_ptest(&p, &go, &["list", "--tests"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "example.com/m/calc::TestAdd\nexample.com/m/calc::TestSub\nexample.com/m/str::TestAdd\nexample.com/m/str::TestLen\n"
    );

    // -k is go's -run.
    let out = go_ptest(&p, &go, &["-k", "Add", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&p),
        sorted(&[
            "calc TestAdd",
            "calc TestAdd/sub",
            "str TestAdd",
            "str TestAdd/sub"
        ])
    );

    // --test PACKAGE::TEST, down to a subtest; only that package runs.
    let out = go_ptest(
        &p,
        &go,
        &[
            "--test",
            "example.com/m/calc::TestSub/sub",
            "--no-history",
            "--",
            "-v",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ran(&p), sorted(&["calc TestSub", "calc TestSub/sub"]));

    // Each package runs the tests named of it, not another package's of the same name (both
    // packages have a TestAdd), through the per-test template as --rerun-failed does.
    let out = go_ptest(
        &p,
        &go,
        &[
            "--test",
            "example.com/m/calc::TestAdd",
            "--test",
            "example.com/m/str::TestLen/sub",
            "-j",
            "2",
            "--no-history",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&p),
        sorted(&[
            "calc TestAdd",
            "calc TestAdd/sub",
            "str TestLen",
            "str TestLen/sub"
        ])
    );

    // The same in one part: each package's own tests, still.
    let one = go_project(", batches = 1");
    let out = go_ptest(
        &one,
        &go,
        &[
            "--test",
            "example.com/m/calc::TestAdd",
            "--test",
            "example.com/m/str::TestLen",
            "--no-history",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&one),
        sorted(&[
            "calc TestAdd",
            "calc TestAdd/sub",
            "str TestLen",
            "str TestLen/sub"
        ])
    );

    // A whole package beside a test of another, in one part: all of the one, the test of the
    // other; the listing shows the two packages.
    let mixed = [
        "--test",
        "example.com/m/calc",
        "--test",
        "example.com/m/str::TestLen",
    ];
    let out = go_ptest(&one, &go, &[&mixed[..], &["--no-history"]].concat());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&one),
        sorted(&[
            "calc TestAdd",
            "calc TestAdd/sub",
            "calc TestSub",
            "calc TestSub/sub",
            "str TestLen",
            "str TestLen/sub"
        ])
    );
    let out = go_ptest(&one, &go, &[&["list", "--tests"][..], &mixed[..]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "example.com/m/calc::TestAdd\nexample.com/m/calc::TestSub\nexample.com/m/str::TestLen\n"
    );
    // A named subtest's test is listed (go lists top-level tests), not its namesakes elsewhere.
    let out = go_ptest(
        &one,
        &go,
        &[
            "list",
            "--tests",
            "--test",
            "example.com/m/calc::TestAdd/sub",
            "--test",
            "example.com/m/str::TestLen",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "example.com/m/calc::TestAdd\nexample.com/m/str::TestLen\n"
    );

    // A package by its name: all of its tests.
    let out = go_ptest(&p, &go, &["--test", "example.com/m/str", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        ran(&p),
        sorted(&[
            "str TestAdd",
            "str TestAdd/sub",
            "str TestLen",
            "str TestLen/sub"
        ])
    );

    // Nothing matched: go reports no test, and ptest says so.
    let out = go_ptest(&p, &go, &["-k", "Nope", "--no-history"]);
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("matched no test"), "{}", out.stderr);
}

/// A batch's `list` and a suite's `select` are checked like every field, and a list command
/// that fails is an error that shows what it printed (exit 1, the other batches still listed).
#[test]
fn list_and_select_fields_are_checked_and_a_failing_list_says_so() {
    let error = |fields: &str| {
        let p = Project::new(&format!(
            "ptest.batch {{ name = \"b\", items = {{ \"a\" }}, cmd = {{ \"echo\", \"{{items}}\" }}, {fields} }}\n"
        ));
        let out = p.run(&["list"]);
        assert_eq!(out.code, 2, "{fields}: {}", out.stderr);
        out.stderr.lines().next().unwrap_or_default().to_owned()
    };
    assert_eq!(
        error("list = { \"echo\" }"),
        "ptest.lua:1: batch \"b\": list: has no \"{items}\": it prints the ids of the tests of the items given where it stands, e.g. \"python3 -m pytest --collect-only -q {items} | grep ::\""
    );
    assert_eq!(
        error("list = 3"),
        "ptest.lua:1: batch \"b\": list: expected a string or an array like { \"pytest\", \"-x\" }, got 3"
    );
    assert_eq!(
        error("select = \"yes\""),
        "ptest.lua:1: batch \"b\": select: expected true or false, got \"yes\""
    );
    let p = Project::new(
        "ptest.batch { name = \"bad\", items = { \"x\" }, cmd = { \"true\", \"{items}\" }, list = \"echo printed {items}; exit 3\" }\n\
         ptest.batch { name = \"good\", items = { \"a\", \"b\" }, cmd = { \"true\", \"{items}\" }, list = { \"printf\", \"%s::t\\\\n\", \"{items}\" } }\n\
         ptest.batch { name = \"plain\", items = { \"c\" }, cmd = { \"true\", \"{items}\" } }\n",
    );
    let out = p.run(&["list", "--tests"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stdout, "a::t\nb::t\nc\n");
    assert!(out.stderr.contains("printed x\n"), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "error: batch \"bad\": its list command failed (exit code 3); what it printed is above"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("warning: batch \"plain\" cannot list its tests"),
        "{}",
        out.stderr
    );
}
