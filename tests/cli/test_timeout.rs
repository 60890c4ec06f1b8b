//! Per-test `SLOW` and `test_timeout` on real tools: a part tells the run each test that has run
//! for a while (`test started`), the run names a slow test while it runs, and a test past the
//! batch's `test_timeout` stops its part, ends timed out by name, and the part's tests that had
//! not run yet run in a new attempt without it — none dropped, none run twice, none hanging
//! twice. pytest (a hung test in the middle of a file), cargo (a hung test binary) and go (a
//! hung test in the middle of a package).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::cargo_preset::{cargo_cmd, write_crate};
use crate::harness::{Project, report_file, run, sorted_lines};
use crate::pytest_preset::python;

/// Each testcase of the run's JSON report as `NAME STATUS [MESSAGE]`, sorted.
fn cases(p: &Project) -> Vec<String> {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_file(p)).unwrap()).unwrap();
    let mut out: Vec<String> = r["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["testcases"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            // As reports name it: FILE::CLASS::NAME (pytest's classname is the module and its
            // class), or the name.
            let test = c["name"].as_str().unwrap();
            let name = match (c["file"].as_str(), c["classname"].as_str()) {
                (Some(f), Some(cls)) => {
                    let module = f.trim_end_matches(".py").replace('/', ".");
                    match cls.strip_prefix(&module).and_then(|r| r.strip_prefix('.')) {
                        Some(class) => format!("{f}::{class}::{test}"),
                        None => format!("{f}::{test}"),
                    }
                }
                (Some(f), None) => format!("{f}::{test}"),
                _ => test.to_owned(),
            };
            let status = c["status"].as_str().unwrap();
            match c["message"].as_str() {
                Some(m) if status != "passed" => format!("{name} {status} {m}"),
                _ => format!("{name} {status}"),
            }
        })
        .collect();
    out.sort();
    out
}

/// `ran(NAME)` in a test appends `ATTEMPT NAME` to ran.txt.
const PY_RAN: &str = "import os, time\n\ndef ran(name):\n    with open(os.path.join(os.path.dirname(__file__), '..', 'ran.txt'), 'a') as f:\n        f.write(os.environ.get('PTEST_ATTEMPT', '?') + ' ' + name + '\\n')\n\n";

#[test]
fn pytest_a_hung_test_is_slow_then_timed_out_by_name_and_the_rest_of_its_part_runs() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        r#"require("ptest.presets.pytest").batch {{ name = "unit", python = "{}", batches = 1,
  test_timeout = "3s", test_slow = "1s" }}
"#,
        py.display()
    ));
    p.file("pytest.ini", "[pytest]\ntestpaths = tests\n")
        .file(
            "tests/test_a.py",
            &format!(
                "{PY_RAN}def test_one():\n    ran('test_one')\n\nclass TestHang:\n    def test_hang(self):\n        ran('test_hang')\n        time.sleep(1000)\n\n    def test_after(self):\n        ran('test_after')\n"
            ),
        )
        .file(
            "tests/test_b.py",
            &format!("{PY_RAN}def test_b():\n    ran('test_b')\n"),
        );
    let out = p.run(&["--no-history", "--events", "events.ndjson"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // Every test once, the hung one in the first attempt only; the rest of its file and the
    // file that had not started in the second.
    assert_eq!(
        sorted_lines(&p, "ran.txt"),
        ["1 test_hang", "1 test_one", "2 test_after", "2 test_b"],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("SLOW    tests/test_a.py::TestHang::test_hang  running for"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "TIMEOUT tests/test_a.py::TestHang::test_hang  timed out after 3.0s (test_timeout)"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(
        cases(&p),
        [
            "tests/test_a.py::TestHang::test_after passed",
            "tests/test_a.py::TestHang::test_hang failed test tests/test_a.py::TestHang::test_hang timed out after 3.0s (test_timeout)",
            "tests/test_a.py::test_one passed",
            "tests/test_b.py::test_b passed",
        ]
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_file(&p)).unwrap()).unwrap();
    let part = &report["suites"][0];
    assert_eq!(part["status"], "timed_out", "{part}");
    assert_eq!(part["attempts"], 2, "{part}");
    let events = std::fs::read_to_string(p.join("events.ndjson")).unwrap();
    for kind in ["test_slow", "test_timed_out"] {
        assert!(
            events
                .lines()
                .any(|l| l.contains(&format!("\"event\":\"{kind}\""))
                    && l.contains("tests/test_a.py::TestHang::test_hang")),
            "{kind}: {events}"
        );
    }
}

/// A crate whose second test hangs; `ran(NAME)` appends `ATTEMPT NAME` to `$HANG_RAN`.
const HANG_IT: &str = r#"fn ran(name: &str) {
    use std::io::Write;
    let path = std::env::var("HANG_RAN").unwrap();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    writeln!(f, "{} {name}", std::env::var("PTEST_ATTEMPT").unwrap_or_default()).unwrap();
}

#[test]
fn a_first() {
    ran("a_first");
}

#[test]
fn b_hangs() {
    ran("b_hangs");
    std::thread::sleep(std::time::Duration::from_secs(1000));
}

#[test]
fn c_after() {
    ran("c_after");
}
"#;

fn hang_crate() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cargo-preset/hang");
        write_crate(
            &dir,
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"hang\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
                ),
                ("src/lib.rs", ""),
                ("tests/it.rs", HANG_IT),
            ],
        );
        dir
    })
}

#[test]
fn cargo_a_hung_test_is_timed_out_by_name_and_the_tests_after_it_run() {
    let p = Project::new("");
    p.file(
        "ptest.lua",
        &format!(
            "require(\"ptest.presets.cargo\").batch {{\n  name = \"rust\", dir = {:?}, batches = 1, doc = false,\n  env = {{ HANG_RAN = {:?} }}, test_timeout = \"3s\", test_slow = \"1s\",\n}}\n",
            hang_crate().display().to_string(),
            p.join("ran.txt").display().to_string()
        ),
    );
    let out = run(&mut cargo_cmd(&p, &["--no-history"]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        sorted_lines(&p, "ran.txt"),
        ["1 a_first", "1 b_hangs", "2 c_after"],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("SLOW    it/b_hangs  running for"),
        "{}",
        out.stdout
    );
    assert_eq!(
        cases(&p),
        [
            "it/a_first passed",
            "it/b_hangs failed test it/b_hangs timed out after 3.0s (test_timeout)",
            "it/c_after passed",
        ]
    );
}

/// A package whose second test hangs; `ran(NAME)` appends `ATTEMPT NAME` to `$HANG_RAN`.
const GO_HANG: &str = "package a\n\nimport (\n\t\"os\"\n\t\"testing\"\n\t\"time\"\n)\n\n\
func ran(name string) {\n\tf, _ := os.OpenFile(os.Getenv(\"HANG_RAN\"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)\n\tdefer f.Close()\n\tf.WriteString(os.Getenv(\"PTEST_ATTEMPT\") + \" \" + name + \"\\n\")\n}\n\n\
func TestA(t *testing.T) { ran(\"TestA\") }\n\n\
func TestHang(t *testing.T) {\n\tran(\"TestHang\")\n\ttime.Sleep(1000 * time.Second)\n}\n\n\
func TestAB(t *testing.T) { ran(\"TestAB\") }\n\n\
func TestZ(t *testing.T) {\n\tt.Run(\"sub\", func(t *testing.T) { ran(\"TestZ/sub\") })\n}\n";

#[test]
fn go_a_hung_test_is_timed_out_by_name_and_its_packages_other_tests_run() {
    let Some(go) = crate::go_preset::go() else {
        return;
    };
    let p = Project::new("");
    p.file(
        "ptest.lua",
        &format!(
            "require(\"ptest.presets.go\").batch {{ name = \"go\", batches = 1, args = {{ \"-count=1\" }},\n  env = {{ HANG_RAN = {:?} }}, test_timeout = \"3s\", test_slow = \"1s\" }}\n",
            p.join("ran.txt").display().to_string()
        ),
    )
    .file("go.mod", "module example.com/m\n\ngo 1.19\n")
    .file("a/a_test.go", GO_HANG)
    .file(
        "b/b_test.go",
        &(GO_HANG[..GO_HANG.find("func TestA(").unwrap()].replace("package a", "package b")
            + "func TestB(t *testing.T) { ran(\"TestB\") }\n\nvar _ = time.Second\n"),
    );
    let mut c = p.cmd();
    c.arg("--no-history");
    let out = run(crate::go_preset::go_env(&mut c, &go));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // Every test once, the hung one in the first attempt only; the rest of its package (TestAB,
    // named like the test that had ended) and the package that had not started in the second.
    assert_eq!(
        sorted_lines(&p, "ran.txt"),
        [
            "1 TestA",
            "1 TestHang",
            "2 TestAB",
            "2 TestB",
            "2 TestZ/sub"
        ],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("SLOW    example.com/m/a::TestHang  running for"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("do not run again"), "{}", out.stdout);
    assert_eq!(
        cases(&p),
        [
            "TestA passed",
            "TestAB passed",
            "TestB passed",
            "TestHang failed test example.com/m/a::TestHang timed out after 3.0s (test_timeout)",
            "TestZ passed",
        ]
    );
}

#[test]
fn bad_test_timeout_test_slow_and_skip_test_are_config_errors_naming_the_line() {
    let batch = |fields: &str| {
        format!(
            "\nptest.batch {{ name = \"u\", items = {{ \"a\" }}, cmd = {{ \"t\", \"{{items}}\" }}, {fields} }}\n"
        )
    };
    let e = crate::harness::config_error(&batch("skip_test = \"{item}!\""));
    assert!(
        e.contains("ptest.lua:2")
            && e.contains(
                "skip_test: has no {test}: it says how the command leaves one test of an item out, e.g. \"{item}::ptest-skip::{test}\""
            ),
        "{e}"
    );
    let e = crate::harness::config_error(&batch("test_timeout = 0"));
    assert!(
        e.contains("ptest.lua:2") && e.contains("test_timeout: must be longer than 0s"),
        "{e}"
    );
    let e = crate::harness::config_error(&batch("test_slow = true"));
    assert!(
        e.contains(
            "test_slow: expected a duration like \"30s\" or a number of seconds, got boolean"
        ),
        "{e}"
    );
    // A suite is one command: it has no tests to watch.
    let e = crate::harness::config_error(
        "ptest.suite { name = \"s\", cmd = \"true\", test_timeout = \"1s\" }\n",
    );
    assert!(e.contains("unknown field \"test_timeout\""), "{e}");
}

/// A pytest project whose Python starts with the run's socket moved away: for `back` seconds, or
/// for good (`None`); `tests/test_a.py` holds `test_a`.
fn py_socket_away(py: &Path, back: Option<u32>, test_a: &str) -> Project {
    let back = back.map_or_else(String::new, |s| s.to_string());
    let p = Project::new(
        "require(\"ptest.presets.pytest\").batch { name = \"unit\", python = \"./away-python\", \
         batches = 1, warm = false,\n  test_timeout = \"3s\", timeout = \"40s\" }\n",
    );
    p.file("pytest.ini", "[pytest]\ntestpaths = tests\n")
        .file("tests/test_a.py", test_a)
        .file(
            "away-python",
            &format!(
                "#!/bin/sh\nif [ -n \"$PTEST_SOCKET\" ]; then\n  mv \"$PTEST_SOCKET\" \"$PTEST_SOCKET.away\" || exit 9\n  \
                 if [ -n \"{back}\" ]; then (sleep {back}; mv \"$PTEST_SOCKET.away\" \"$PTEST_SOCKET\") & fi\nfi\n\
                 exec {} \"$@\"\n",
                py.display()
            ),
        );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        p.join("away-python"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    p
}

/// The pytest plugin's live channel (issue 23): a first connect that fails (the run's socket away
/// for a second when Python starts) is tried again, so the hung test is still stopped by name;
/// one that cannot be had is a warning, never silent. Before, the plugin gave up at once.
#[test]
fn pytest_tells_its_tests_when_the_first_connect_fails_and_says_when_it_cannot() {
    let Some(py) = python() else { return };
    let hang =
        "import time\n\ndef test_one():\n    pass\n\ndef test_hang():\n    time.sleep(1000)\n";
    let (late, never) = (
        py_socket_away(&py, Some(1), hang),
        py_socket_away(&py, None, "def test_one():\n    pass\n"),
    );
    let (late_out, never_out) = std::thread::scope(|s| {
        let a = s.spawn(|| late.run(&["--no-history"]));
        let b = s.spawn(|| never.run(&["--no-history"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        late_out
            .stdout
            .contains("TIMEOUT tests/test_a.py::test_hang  timed out after 3.0s (test_timeout)")
            && !late_out.stdout.contains("live channel lost"),
        "{}{}",
        late_out.stdout,
        late_out.stderr
    );
    assert_eq!(
        never_out.code, 0,
        "{}{}",
        never_out.stdout, never_out.stderr
    );
    assert!(
        never_out.stdout.contains(
            "warning: suite \"unit[1]\": live channel lost (ENOENT): its tests were not told as \
             they ran; per-test SLOW and test_timeout were not enforced for this part"
        ),
        "{}{}",
        never_out.stdout,
        never_out.stderr
    );
    // Nor can it ask which of its files are still its own (issue 29): it tried once more, said
    // so, and ran them all.
    let log = std::fs::read_to_string(never.join("test-logs/unit_1_.log")).unwrap();
    assert!(
        log.contains(
            "ptest: cannot ask the run which files are this part's (ENOENT): running all of them\n"
        ) && log.contains("1 passed"),
        "{log}"
    );
}
