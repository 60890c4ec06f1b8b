//! The pytest preset runs the tests a plain `pytest` run collects, each once, with pytest's
//! outcome: whatever collects them (a conftest.py hook, `--doctest-*`), wherever the paths are
//! (under `build/`, a folder named `venv`, a virtualenv, a hidden folder), however ptest splits
//! the files; a part that pytest's walk never reached is a failure that says so. Each test runs
//! plain `pytest` on the same project and compares every test id and outcome with ptest's.

use std::path::Path;

use crate::harness::{Project, batch_items, list_json};
use crate::pytest_preset::python;

/// Every testcase of a JUnit file as `classname::name outcome`, sorted, each as often as the
/// file has it (pytest's own, or the `testsuite` of ptest's report named `batch`): a test
/// reported twice is not the same as a test reported once.
fn junit_outcomes(xml: &str, batch: Option<&str>) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut suite = String::new();
    let mut case: Option<(String, String)> = None;
    let mut outcome = "passed";
    loop {
        let ev = reader.read_event().expect("JUnit XML");
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let attr = |k: &str| {
                e.try_get_attribute(k)
                    .ok()
                    .flatten()
                    .map(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .unwrap()
                            .into_owned()
                    })
                    .unwrap_or_default()
            };
            match e.name().as_ref() {
                b"testsuite" => suite = attr("name"),
                b"testcase" => {
                    case = Some((attr("classname"), attr("name")));
                    outcome = "passed";
                }
                b"failure" => outcome = "failed",
                b"error" => outcome = "error",
                b"skipped" => outcome = "skipped",
                _ => {}
            }
            if !(empty && e.name().as_ref() == b"testcase") {
                continue;
            }
        }
        let ended = match &ev {
            Event::End(e) => e.name().as_ref() == b"testcase",
            Event::Empty(e) => e.name().as_ref() == b"testcase",
            Event::Eof => break,
            _ => false,
        };
        if ended
            && let Some((cls, name)) = case.take()
            && batch.is_none_or(|b| b == suite)
        {
            out.push(format!("{cls}::{name} {outcome}"));
        }
    }
    out.sort();
    out
}

/// What a plain `python -m pytest ARGS` run in `dir` collects and how each test ends.
fn plain_pytest(py: &Path, dir: &Path, args: &[&str]) -> Vec<String> {
    let xml = dir.join("plain-junit.xml");
    let out = std::process::Command::new(py)
        .current_dir(dir)
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-o",
            "junit_family=xunit1",
        ])
        .arg(format!("--junitxml={}", xml.display()))
        .args(args)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&xml).unwrap_or_else(|_| {
        panic!(
            "plain pytest wrote no JUnit: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    std::fs::remove_file(&xml).unwrap();
    junit_outcomes(&text, None)
}

/// Runs ptest with `args` and returns its tests of batch `batch` as plain_pytest has them.
fn ptest_outcomes(p: &Project, batch: &str, args: &[&str]) -> (Vec<String>, String) {
    let mut all = vec!["--junit", "ptest-junit.xml"];
    all.extend_from_slice(args);
    let out = p.run(&all);
    let said = format!("exit {}\n{}{}", out.code, out.stdout, out.stderr);
    let xml = std::fs::read_to_string(p.join("ptest-junit.xml")).unwrap_or_default();
    (junit_outcomes(&xml, Some(batch)), said)
}

/// A conftest.py that collects `.txt` doctests under docs/ and module doctests of pkg/ through
/// `pytest_collect_file`; xfail(strict), a collection skip, a module-scoped fixture with state:
/// ptest runs each test plain pytest runs, with its outcome, on the first run and with history.
#[test]
fn pytest_parts_run_what_conftest_hooks_collect() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", args = {{ \"-p\", \"no:cacheprovider\" }} }}\n",
        py.display()
    ));
    p.file(
        "conftest.py",
        "from _pytest.doctest import DoctestModule, DoctestTextfile\n\
         def pytest_collect_file(file_path, parent):\n\
         \x20   if file_path.suffix == '.txt' and file_path.parent.name == 'docs':\n\
         \x20       return DoctestTextfile.from_parent(parent, path=file_path)\n\
         \x20   if file_path.suffix == '.py' and file_path.parent.name == 'pkg':\n\
         \x20       return DoctestModule.from_parent(parent, path=file_path)\n",
    )
    .file("pkg/__init__.py", "")
    .file(
        "pkg/mod.py",
        "def double(x):\n    \"\"\"\n    >>> double(2)\n    4\n    \"\"\"\n    return 2 * x\n\n\
         def triple(x):\n    \"\"\"\n    >>> triple(2)\n    7\n    \"\"\"\n    return 3 * x\n",
    )
    .file("docs/guide.txt", ">>> 1 + 1\n2\n")
    .file("docs/wrong.txt", ">>> 2 + 2\n5\n")
    .file(
        "tests/test_xfail.py",
        "import pytest\n\n@pytest.mark.xfail(strict=True)\ndef test_strict_passes():\n    pass\n\n\
         @pytest.mark.xfail(strict=True)\ndef test_strict_fails():\n    assert False\n\n\
         @pytest.mark.xfail\ndef test_loose_passes():\n    pass\n",
    )
    .file(
        "tests/test_skipped_module.py",
        "import pytest\npytest.skip('not on this machine', allow_module_level=True)\n\ndef test_never():\n    assert False\n",
    )
    .file(
        "tests/test_module_state.py",
        "import pytest\n\n@pytest.fixture(scope='module')\ndef seen():\n    return []\n\n\
         def test_first(seen):\n    seen.append(1)\n    assert seen == [1]\n\n\
         def test_second(seen):\n    seen.append(2)\n    assert seen == [1, 2]\n",
    )
    .file("tests/test_plain.py", "def test_a():\n    pass\n\ndef test_b():\n    pass\n");
    let plain = plain_pytest(&py, p.path(), &[]);
    assert!(
        plain
            .iter()
            .any(|t| t == "docs.guide.txt::guide.txt passed"),
        "{plain:?}"
    );
    assert!(
        plain.iter().any(|t| t == "pkg.mod::pkg.mod.triple failed"),
        "{plain:?}"
    );
    assert_eq!(plain.len(), 12, "{plain:?}");
    for round in ["first run", "with history", "again", "again"] {
        let (ours, said) = ptest_outcomes(&p, "pytest", &["-j", "2"]);
        assert_eq!(ours, plain, "{round}: {said}");
    }
}

/// Folders whose conftest.py skips them at collection (`pytest.skip(...,
/// allow_module_level=True)`, as babel's tests/benchmarks does without pytest-benchmark): plain
/// pytest reports each once, skipped, and runs nothing below it. Every part walks those folders,
/// yet each skip is reported once (by the part that collects what no part holds), and a test
/// file ptest found below one is left out by the project's rule, not a file the walk never
/// reached: the run passes, with plain pytest's tests and outcomes, each once.
#[test]
fn pytest_a_folder_skipped_by_its_conftest_is_reported_once() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", args = {{ \"-p\", \"no:cacheprovider\" }} }}\n",
        py.display()
    ));
    let skip = "import pytest\npytest.skip('needs a plugin', allow_module_level=True)\n";
    p.file("tests/bench/conftest.py", skip)
        .file("tests/bench/bench_x.py", "def bench_x():\n    pass\n")
        .file("tests/slow/conftest.py", skip)
        .file(
            "tests/slow/test_slow.py",
            "def test_s():\n    assert False\n",
        );
    for k in 1..=4 {
        p.file(&format!("tests/test_{k}.py"), "def test_a():\n    pass\n");
    }
    let plain = plain_pytest(&py, p.path(), &[]);
    assert_eq!(
        plain,
        [
            "::tests.bench skipped",
            "::tests.slow skipped",
            "tests.test_1::test_a passed",
            "tests.test_2::test_a passed",
            "tests.test_3::test_a passed",
            "tests.test_4::test_a passed",
        ]
    );
    for round in ["first run", "with history"] {
        let (ours, said) = ptest_outcomes(&p, "pytest", &["-j", "2"]);
        assert_eq!(ours, plain, "{round}: {said}");
        assert!(said.starts_with("exit 0"), "{round}: {said}");
        assert!(
            said.contains("6 tests in batches' results: 4 passed, 2 skipped"),
            "{round}: {said}"
        );
    }
}

/// `paths` under `build/`, through a folder named `venv`, and an absolute path through a hidden
/// folder: pytest applies `norecursedirs` and hidden folders only below the paths it is given,
/// and so does ptest.
#[test]
fn pytest_paths_under_build_venv_and_hidden_folders() {
    let Some(py) = python() else { return };
    let p = Project::new("");
    let hidden = p.join(".local/share/suite/tests");
    p.file(
        "ptest.lua",
        &format!(
            "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", args = {{ \"-p\", \"no:cacheprovider\" }},\n  paths = {{ \"build/tests\", \"work/venv/suite/tests\", \"{}\" }} }}\n",
            py.display(),
            hidden.display()
        ),
    )
    .file("build/tests/test_built.py", "def test_built():\n    pass\n")
    .file(
        "build/tests/node_modules/test_left_out.py",
        "def test_no():\n    assert False\n",
    )
    .file(
        "work/venv/suite/tests/test_in_venv.py",
        "def test_venv():\n    pass\n\ndef test_venv_fails():\n    assert False\n",
    )
    .file(
        ".local/share/suite/tests/test_hidden.py",
        "def test_hidden():\n    pass\n",
    )
    .file(
        ".local/share/suite/tests/.cache/test_left_out.py",
        "def test_no():\n    assert False\n",
    );
    let plain = plain_pytest(
        &py,
        p.path(),
        &[
            "build/tests",
            "work/venv/suite/tests",
            hidden.to_str().unwrap(),
        ],
    );
    assert_eq!(plain.len(), 4, "{plain:?}");
    for round in ["first run", "with history"] {
        let (ours, said) = ptest_outcomes(&p, "pytest", &["-j", "2"]);
        assert_eq!(ours, plain, "{round}: {said}");
        assert!(said.starts_with("exit 1"), "{round}: {said}");
    }
    let j = list_json(&p, &[]);
    let mut items: Vec<String> = (0..j["suites"].as_array().unwrap().len())
        .flat_map(|i| batch_items(&j, i))
        .collect();
    items.sort();
    assert_eq!(
        items,
        [
            "(other files)",
            ".local/share/suite/tests/test_hidden.py",
            "build/tests/test_built.py",
            "work/venv/suite/tests/test_in_venv.py",
        ]
    );
}

/// A package's tests installed in a virtualenv, run by path: pytest walks the given path
/// whatever lies above it (a folder with `pyvenv.cfg`, named `.venv` or anything else), so each
/// test runs, as under `pytest PATH`.
#[test]
fn pytest_a_suite_installed_in_a_virtualenv_run_by_path() {
    let Some(py) = python() else { return };
    for env in [".venv", "envs/py311"] {
        let p = Project::new("");
        let site = format!("{env}/lib/python3/site-packages");
        p.file(&format!("{env}/pyvenv.cfg"), "home = /usr/bin\n")
            .file(&format!("{site}/mypkg/__init__.py"), "")
            .file(
                &format!("{site}/mypkg/core.py"),
                "def add(a, b):\n    return a + b\n",
            )
            .file(&format!("{site}/mypkg/tests/__init__.py"), "")
            .file(
                &format!("{site}/mypkg/tests/test_core.py"),
                "from mypkg.core import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\
                 def test_add_wrong():\n    assert add(1, 2) == 4\n",
            )
            .file(
                &format!("{site}/mypkg/tests/test_more.py"),
                "from mypkg import core\n\ndef test_more():\n    assert core.add(2, 2) == 4\n",
            );
        let tests = p.join(&format!("{site}/mypkg/tests"));
        p.file(
            "ptest.lua",
            &format!(
                "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", args = {{ \"-p\", \"no:cacheprovider\" }},\n  paths = {{ \"{}\" }} }}\n",
                py.display(),
                tests.display()
            ),
        );
        let plain = plain_pytest(&py, p.path(), &[tests.to_str().unwrap()]);
        assert_eq!(plain.len(), 3, "{env}: {plain:?}");
        let (ours, said) = ptest_outcomes(&p, "pytest", &["-j", "2"]);
        assert_eq!(ours, plain, "{env}: {said}");
        assert!(said.starts_with("exit 1"), "{env}: {said}");
    }
}

/// A part whose files pytest's walk never reaches (here `args` names a path of its own, so
/// pytest walks only `tests/a`, while ptest found files in `tests/b` too) ran no test from them:
/// that is a failure that says so, never a pass.
#[test]
fn pytest_a_part_that_collects_nothing_from_its_files_fails() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", batches = 1,\n  args = {{ \"-p\", \"no:cacheprovider\", \"tests/a\" }} }}\n",
        py.display()
    ));
    p.file("tests/a/test_a.py", "def test_a():\n    pass\n")
        .file("tests/b/test_b.py", "def test_b():\n    pass\n")
        .file("tests/b/test_c.py", "def test_c():\n    pass\n");
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("tests/b/test_b.py error: pytest's walk never reached this file"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("ptest: pytest collected nothing from 2 of the 3 files ptest gave this part"),
        "{}",
        out.stdout
    );
}

/// History that says `tests/test_big.py` takes 30 s and every other item 1 s (batch "pytest").
fn long_file_history(p: &Project, others: &[&str]) {
    let mut items = String::new();
    for o in others {
        items.push_str(&format!(
            "\"pytest/{o}\":{{\"runs\":[[1,\"passed\",1,1]]}},\n"
        ));
    }
    p.file(
        ".ptest/history.json",
        &format!(
            "{{\"format_version\":2,\"run_fields\":[\"time\",\"status\",\"duration\",\"attempts\",\"peak_rss_kb\",\"cpu_time\"],\n\
             \"suites\":{{\n\"pytest[]\":{{\"runs\":[[1,\"passed\",0.5,1]]}}\n}},\n\
             \"items\":{{\n{items}\"pytest/tests/test_big.py\":{{\"runs\":[[1,\"passed\",30,1]]}}\n}}}}\n"
        ),
    );
}

/// Order-dependent classes in one big file that history says to slice: the first class turns a
/// setting on that later classes assert; a class keeps state across its tests; module-level
/// tests share a module-scoped fixture. Slices are contiguous runs of whole classes and
/// functions (those sharing the fixture together), and the slice whose tests fail without the
/// earlier class runs the file whole: every test ends as under plain pytest, and the run passes.
#[test]
fn pytest_order_dependent_classes_in_a_sliced_file_end_as_under_pytest() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ python = \"{}\", args = {{ \"-p\", \"no:cacheprovider\" }} }}\n",
        py.display()
    ));
    let mut big = String::from(
        "import pytest\nSETTINGS = {'strict': False}\n\n\
         class TestEnable:\n    def test_enable(self):\n        SETTINGS['strict'] = True\n\n\
         class TestCounter:\n    seen = []\n    def test_one(self):\n        self.seen.append(1)\n\
         \x20   def test_two(self):\n        assert self.seen == [1]\n\n\
         @pytest.fixture(scope='module')\ndef shared():\n    return []\n\n\
         def test_m1(shared):\n    shared.append(1)\n\n\
         def test_m2(shared):\n    assert shared == [1]\n\n",
    );
    for k in 0..6 {
        big.push_str(&format!(
            "class TestUses{k}:\n    def test_on(self):\n        assert SETTINGS['strict'], 'needs TestEnable first'\n\n\
             \x20   @pytest.mark.parametrize('x', [1, 2])\n    def test_param(self, x):\n        assert SETTINGS['strict']\n\n"
        ));
    }
    // Tests inherited from a class above: they are defined there, the class is here.
    big.push_str("class TestInherits(TestUses0):\n    pass\n");
    p.file("tests/test_big.py", &big)
        .file("tests/test_a.py", "def test_a():\n    pass\n")
        .file("tests/test_b.py", "def test_b():\n    pass\n");
    long_file_history(&p, &["tests/test_a.py", "tests/test_b.py", "(other files)"]);
    let plain = plain_pytest(&py, p.path(), &[]);
    assert_eq!(plain.len(), 5 + 21 + 2, "{plain:?}");
    assert!(plain.iter().all(|t| t.ends_with(" passed")), "{plain:?}");
    let j = list_json(&p, &["-j", "2"]);
    let sliced: usize = j["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["batch"]["items"].as_array().unwrap().iter())
        .filter(|i| i["name"] == "tests/test_big.py" && i["slice"].is_object())
        .count();
    assert_eq!(sliced, 2, "{j}");
    let (ours, said) = ptest_outcomes(&p, "pytest", &["-j", "2"]);
    assert_eq!(ours, plain, "{said}");
    assert!(said.starts_with("exit 0"), "{said}");
    let logs: String = (1..=4)
        .filter_map(|k| std::fs::read_to_string(p.join(&format!("test-logs/pytest_{k}_.log"))).ok())
        .collect();
    assert!(
        logs.contains("of tests/test_big.py failed in slice 2 of 2; running the file whole"),
        "{logs}"
    );
    assert!(
        logs.contains("they pass when tests/test_big.py runs whole"),
        "{logs}"
    );
    // History remembers: the slice whose tests passed only whole is recorded failed, the file
    // passed, and the file is not cut again.
    let history = std::fs::read_to_string(p.join(".ptest/history.json")).unwrap();
    let line = |key: &str| {
        history
            .lines()
            .find(|l| l.starts_with(&format!("\"pytest/{key}\"")))
            .unwrap_or_else(|| panic!("{key}: {history}"))
            .to_owned()
    };
    assert!(
        line("tests/test_big.py::ptest-slice-2-of-2").contains("\"failed\""),
        "{history}"
    );
    assert!(
        line("tests/test_big.py::ptest-slice-1-of-2").contains("\"passed\""),
        "{history}"
    );
    // The file's own line: passed, with no duration (a sliced run says nothing of a whole one).
    assert!(
        line("tests/test_big.py").contains("\"passed\",null,1]]"),
        "{history}"
    );
    for round in ["second", "third"] {
        let j = list_json(&p, &["-j", "2"]);
        assert!(!j.to_string().contains("\"slice\":{"), "{round}: {j}");
        let (ours, said) = ptest_outcomes(&p, "pytest", &["-j", "2"]);
        assert_eq!(ours, plain, "{round}: {said}");
        assert!(said.starts_with("exit 0"), "{round}: {said}");
    }
}
