//! The `go` preset on the real go tool: packages from `go list`, `go test -json` read as
//! per-test results (the summary's failure list, ptest's JUnit, history), a retry that reruns
//! only the failed packages, and `go list`'s failure as a config error. Go comes from
//! `PTEST_TEST_GO`, else `go` on the PATH (`.ci/run` installs Debian's golang-go); without it the
//! tests fail under CI and say "skipped" elsewhere. Go runs offline (`GOPROXY=off`) with its
//! build cache in `target/go-cache`, so a second run builds nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Output, Project, junit_testsuite, run};

/// The go tool, or `None` (after saying why) when there is none and CI is not set.
pub(crate) fn go() -> Option<PathBuf> {
    let found = std::env::var_os("PTEST_TEST_GO")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("go")))
        .filter(|g| {
            Command::new(g)
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no go tool: set PTEST_TEST_GO or run .ci/run (it installs golang-go)"
        );
        eprintln!("skipped: no go tool (set PTEST_TEST_GO, or install golang-go)");
    }
    found
}

/// `ptest ARGS` in the project with go offline and its caches under target/.
fn ptest(p: &Project, go: &Path, args: &[&str]) -> Output {
    let mut c = p.cmd();
    c.args(args);
    run(go_env(&mut c, go))
}

/// Go offline, its caches under target/ (kept between runs), `go` first on the PATH.
pub(crate) fn go_env<'c>(c: &'c mut Command, go: &Path) -> &'c mut Command {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    c.env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOTELEMETRY", "off")
        .env("GOWORK", "off")
        .env("GOCACHE", target.join("go-cache"))
        .env("GOPATH", target.join("go-path"));
    if let Some(dir) = go.parent().filter(|d| !d.as_os_str().is_empty()) {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap());
    }
    c
}

/// A test that notes its package and attempt in ran.txt at the module's root.
fn record(pkg: &str) -> String {
    format!(
        "func record(t *testing.T) {{\n\tf, err := os.OpenFile(\"../ran.txt\", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)\n\tif err != nil {{\n\t\tt.Fatal(err)\n\t}}\n\tdefer f.Close()\n\tf.WriteString(os.Getenv(\"PTEST_ATTEMPT\") + \" {pkg}\\n\")\n}}\n"
    )
}

#[test]
fn go_packages_results_and_retries_of_failed_packages() {
    let Some(go) = go() else { return };
    let p = Project::new(
        "require(\"ptest.presets.go\").batch { name = \"go\", packages = \"./...\", retry = 1, batches = 1 }\n",
    );
    p.file("go.mod", "module example.com/m\n\ngo 1.19\n")
        .file(
            "calc/calc_test.go",
            &format!(
                "package calc\n\nimport (\n\t\"os\"\n\t\"testing\"\n)\n\n{}\nfunc TestAdds(t *testing.T) {{ record(t) }}\n\nfunc TestBoom(t *testing.T) {{\n\tt.Errorf(\"boom: got %d, want %d\", 2*2, 5)\n}}\n\nfunc TestTable(t *testing.T) {{\n\tt.Run(\"fine\", func(t *testing.T) {{}})\n}}\n\nfunc TestSays(t *testing.T) {{\n\tt.Log(\"bell\\x07 line\\u2028sep <&>\")\n}}\n",
                record("calc")
            ),
        )
        .file(
            "flaky/flaky_test.go",
            &format!(
                "package flaky\n\nimport (\n\t\"os\"\n\t\"testing\"\n)\n\n{}\nfunc TestSecondTime(t *testing.T) {{\n\trecord(t)\n\tif os.Getenv(\"PTEST_ATTEMPT\") != \"2\" {{\n\t\tt.Fatal(\"first attempt\")\n\t}}\n}}\n",
                record("flaky")
            ),
        )
        .file(
            "fine/fine_test.go",
            &format!(
                "package fine\n\nimport (\n\t\"os\"\n\t\"testing\"\n)\n\n{}\nfunc TestOK(t *testing.T) {{ record(t) }}\n",
                record("fine")
            ),
        )
        .file("notests/lib.go", "package notests\n\nfunc One() int { return 1 }\n");

    let out = ptest(&p, &go, &["list"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("example.com/m/calc"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("notests"),
        "a package without tests is no item: {}",
        out.stdout
    );

    let out = ptest(
        &p,
        &go,
        &["run", "--junit", "junit.xml", "--events", "events.ndjson"],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // Each test told as go's JSON stream said it ended, subtests too.
    let events = std::fs::read_to_string(p.join("events.ndjson")).unwrap();
    let told: Vec<String> = events
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
    for t in [
        "failed example.com/m/calc::TestBoom",
        "passed example.com/m/calc::TestTable/fine",
        "failed example.com/m/flaky::TestSecondTime",
        "passed example.com/m/flaky::TestSecondTime",
    ] {
        assert!(told.iter().any(|l| l == t), "{t}: {events}");
    }
    assert!(
        out.stdout
            .contains("example.com/m/calc::TestBoom failed: calc_test.go:20: boom: got 4, want 5"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("TestSecondTime failed"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("FLAKY   2/2 example.com/m/flaky::TestSecondTime  failed before: "),
        "{}",
        out.stdout
    );
    // The log holds go's own text, not its JSON.
    let log = std::fs::read_to_string(p.join("test-logs/go_1_.log")).unwrap();
    assert!(log.contains("--- FAIL: TestBoom"), "{log}");
    assert!(!log.contains("\"Action\""), "{log}");
    // Every escape of go's JSON decoded (an awk decoder once printed `?` for these).
    assert!(log.contains("bell\u{7} line\u{2028}sep <&>"), "{log}");
    // The retry ran only the packages that failed.
    let ran = std::fs::read_to_string(p.join("ran.txt")).unwrap();
    let mut lines: Vec<&str> = ran.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["1 calc", "1 fine", "1 flaky", "2 calc", "2 flaky"],
        "{ran}"
    );
    let xml = std::fs::read_to_string(p.join("junit.xml")).unwrap();
    let batch = junit_testsuite(&xml, "go");
    assert!(
        batch.contains("name=\"TestBoom\" classname=\"example.com/m/calc\"")
            || batch.contains("classname=\"example.com/m/calc\" name=\"TestBoom\""),
        "{batch}"
    );
    assert!(batch.contains("boom: got 4, want 5"), "{batch}");
    assert!(batch.contains("TestSecondTime"), "{batch}");
    // History per test: --rerun-failed runs only calc's TestBoom (`go test -run`), not the
    // package's other tests.
    std::fs::remove_file(p.join("ran.txt")).unwrap();
    let out = ptest(&p, &go, &["run", "--rerun-failed"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(!p.join("ran.txt").exists(), "{}", out.stdout);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["testcases"].as_array().unwrap())
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["TestBoom"], "{report}");
    let log = std::fs::read_to_string(p.join("test-logs/go_1_.log")).unwrap();
    assert!(log.contains("--- FAIL: TestBoom"), "{log}");
}

#[test]
fn go_build_failures_and_go_list_errors() {
    let Some(go) = go() else { return };
    // The module in a folder of its own: the batch's cwd is where go list runs.
    let p = Project::new(
        "local go = require(\"ptest.presets.go\")\ngo.batch { packages = { \"./ok\", \"./broken\" }, cwd = \"svc\", batches = 1 }\n",
    );
    p.file("svc/go.mod", "module example.com/b\n\ngo 1.19\n")
        .file(
            "svc/ok/ok_test.go",
            "package ok\n\nimport \"testing\"\n\nfunc TestOK(t *testing.T) {}\n",
        )
        .file(
            "svc/broken/broken_test.go",
            "package broken\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) { undefinedThing() }\n",
        );
    let out = ptest(&p, &go, &["run"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("example.com/b/broken error: build failed"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("warning"), "{}", out.stdout);
    // The compiler's message is in the log.
    let log = std::fs::read_to_string(p.join("test-logs/go_1_.log")).unwrap();
    assert!(log.contains("undefined: undefinedThing"), "{log}");

    // go list failing is a config error at the preset's line, with go's own words.
    p.file(
        "ptest.lua",
        "local go = require(\"ptest.presets.go\")\ngo.batch { packages = \"./missing\" }\n",
    );
    let out = ptest(&p, &go, &["list"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .starts_with("ptest.lua:2: go.batch: go list ./missing failed (exit code 1):"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("missing"), "{}", out.stderr);

    // A go that is not there: sh's words, and how to name the program.
    p.file(
        "ptest.lua",
        "local go = require(\"ptest.presets.go\")\n\ngo.batch { go = \"/no/such/go\" }\n",
    );
    let out = ptest(&p, &go, &["list"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .starts_with("ptest.lua:3: go.batch: /no/such/go list ./... failed (exit code 127):\n"),
        "{}",
        out.stderr
    );
    // dash: "sh: 1: /no/such/go: not found"; bash: "... No such file or directory".
    let said = out.stderr.lines().nth(1).unwrap_or_default();
    assert!(said.contains("/no/such/go: "), "{}", out.stderr);
    assert!(
        out.stderr.contains("`go = \"/path/to/go\"` in go.batch"),
        "{}",
        out.stderr
    );
}

/// The blocks of README.md and docs/presets.md fenced as `lua TAG` (examples that need a tool,
/// which tests/cli/docs.rs leaves to the tool's tests), with where each is.
pub(crate) fn tagged_blocks(tag: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fence = format!("```lua {tag}");
    let mut found = Vec::new();
    for doc in ["README.md", "docs/presets.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let mut current: Option<String> = None;
        for line in text.lines() {
            match &mut current {
                Some(block) if line.trim_start().starts_with("```") => {
                    found.push((
                        format!("{doc} block {}", found.len() + 1),
                        std::mem::take(block),
                    ));
                    current = None;
                }
                Some(block) => {
                    block.push_str(line);
                    block.push('\n');
                }
                None if line.trim() == fence => current = Some(String::new()),
                None => {}
            }
        }
    }
    found
}

#[test]
fn the_go_examples_of_the_readme_and_docs_evaluate() {
    let Some(go) = go() else { return };
    let blocks = tagged_blocks("needs-go");
    assert!(blocks.len() >= 2, "{blocks:?}");
    for (at, block) in blocks {
        let p = Project::new(&block);
        p.file("go.mod", "module example.com/d\n\ngo 1.19\n").file(
            "calc/calc_test.go",
            "package calc\n\nimport \"testing\"\n\nfunc TestOK(t *testing.T) {}\n",
        );
        let out = ptest(&p, &go, &["list"]);
        assert_eq!(out.code, 0, "{at}:\n{block}\n{}", out.stderr);
        assert!(
            out.stdout.contains("example.com/d/calc"),
            "{at}: {}",
            out.stdout
        );
    }
}

/// The build flags in `args` decide which packages have tests, as they do for `go test`: a
/// package whose test files all need `-tags integration` (or `-race`'s race tag) is an item,
/// so ptest runs the tests `go test -tags integration ./...` runs, in either spelling.
#[test]
fn go_build_tags_in_args_count_for_which_packages_have_tests() {
    let Some(go) = go() else { return };
    for tags in ["\"-tags=integration\"", "\"-tags\", \"integration\""] {
        let p = Project::new(&format!(
            "require(\"ptest.presets.go\").batch {{ name = \"go\", args = {{ {tags}, \"-count=1\" }} }}\n"
        ));
        p.file("go.mod", "module example.com/m\n\ngo 1.19\n")
            .file(
                "unit/unit_test.go",
                "package unit\n\nimport \"testing\"\n\nfunc TestUnit(t *testing.T) {}\n",
            )
            .file("integ/integ.go", "package integ\n\nfunc Two() int { return 2 }\n")
            .file(
                "integ/integ_test.go",
                "//go:build integration\n\npackage integ\n\nimport \"testing\"\n\nfunc TestTwo(t *testing.T) {\n\tif Two() != 3 {\n\t\tt.Fatal(\"two is not three\")\n\t}\n}\n",
            );
        let out = ptest(&p, &go, &["run", "--junit", "junit.xml"]);
        assert_eq!(out.code, 1, "{tags}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout
                .contains("example.com/m/integ::TestTwo failed: integ_test.go:9: two is not three"),
            "{tags}: {}",
            out.stdout
        );
        let xml = std::fs::read_to_string(p.join("junit.xml")).unwrap();
        let batch = junit_testsuite(&xml, "go");
        assert_eq!(batch.matches("<testcase ").count(), 2, "{tags}: {batch}");
    }
}
