//! `ptest init` (a commented ptest.lua for the tools found, accepted by `ptest list`, never
//! overwritten), the editor files it writes, shell completions and man pages.

use std::path::Path;
use std::process::Command;

use crate::harness::{Output, Project, run, suite_names};

/// A folder with these files and no ptest.lua.
fn folder(files: &[(&str, &str)]) -> Project {
    let p = Project::new("");
    std::fs::remove_file(p.join("ptest.lua")).unwrap();
    for (name, text) in files {
        p.file(name, text);
    }
    p
}

fn names(p: &Project) -> Vec<String> {
    let out = p.run(&["list", "--format", "json"]);
    assert_eq!(
        out.code, 0,
        "ptest list rejects what init wrote:\n{}",
        out.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    suite_names(&v).into_iter().map(str::to_owned).collect()
}

#[test]
fn init_in_a_python_and_rust_project_writes_both_presets() {
    // The text only: `ptest list` on it would build the crate (see the test after the next).
    let p = folder(&[
        (
            "pyproject.toml",
            "[project]\nname = \"demo\"\n\n[tool.pytest.ini_options]\ntestpaths = [\"checks\"]\n",
        ),
        (
            "Cargo.toml",
            "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n",
        ),
    ]);
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(
            "found pyproject.toml (Python: pytest), Cargo.toml (Rust: cargo test)\npython: "
        ) && out.stdout.contains("\nwrote ptest.lua\n"),
        "{}",
        out.stdout
    );
    let config = std::fs::read_to_string(p.join("ptest.lua")).unwrap();
    assert!(config.starts_with("-- ptest.lua: "), "commented:\n{config}");
    for line in [
        "require(\"ptest.presets.pytest\").batch {\n  name = \"python\", paths = { \"checks\" }, args = { \"-q\" },",
        "-- Rust (found Cargo.toml): cargo test.\n",
        "require(\"ptest.presets.cargo\").batch {\n  name = \"rust\", args = { \"--workspace\" },\n  timeout = \"30m\", -- per part: each part runs many tests\n}\n",
    ] {
        assert!(config.contains(line), "{line:?} in:\n{config}");
    }
    let python = config.find("presets.pytest").unwrap();
    assert!(python < config.find("presets.cargo").unwrap(), "{config}");
}

#[test]
fn init_in_a_python_project_writes_a_config_that_list_accepts() {
    let p = folder(&[
        (
            "pyproject.toml",
            "[project]\nname = \"demo\"\n\n[tool.pytest.ini_options]\ntestpaths = [\"checks\"]\n",
        ),
        ("checks/test_api.py", ""),
        ("checks/unit/test_models.py", ""),
        ("tests/test_not_in_testpaths.py", ""),
    ]);
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let config = std::fs::read_to_string(p.join("ptest.lua")).unwrap();
    assert!(
        config.contains("require(\"ptest.presets."),
        "uses presets:\n{config}"
    );
    let names = names(&p);
    assert!(
        names
            .iter()
            .any(|n| n.contains("test_api.py") || n.starts_with("python")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("test_not_in_testpaths")),
        "testpaths is followed: {names:?}"
    );
}

#[test]
fn init_in_a_rust_crate_writes_a_config_that_list_accepts() {
    // A real crate (no dependencies), built by the cargo preset when `ptest list` reads the
    // config, into the cargo preset tests' target folder.
    let p = folder(&[
        (
            "Cargo.toml",
            "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        ),
        (
            "src/lib.rs",
            "#[cfg(test)]\nmod tests {\n    #[test]\n    fn works() {}\n}\n",
        ),
    ]);
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("found Cargo.toml (Rust: cargo test)\nwrote ptest.lua\n"),
        "{}",
        out.stdout
    );
    let out = run(&mut crate::cargo_preset::cargo_cmd(
        &p,
        &["list", "--format", "json"],
    ));
    assert_eq!(
        out.code, 0,
        "ptest list rejects what init wrote:\n{}",
        out.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let suites = v["suites"].as_array().unwrap();
    let names: Vec<&str> = suites.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["rust[1]", "rust/doc"], "{v}");
    assert_eq!(
        suites[0]["batch"]["items"][0]["name"],
        "demo(lib)/tests::works"
    );
}

#[test]
fn init_refuses_to_overwrite_a_ptest_lua() {
    let p = Project::new("-- mine\n");
    p.file("Cargo.toml", "");
    let out = p.run(&["init"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("already exists; ptest init does not overwrite it"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(p.join("ptest.lua")).unwrap(),
        "-- mine\n"
    );
    assert!(!p.join(".ptest").exists(), "nothing else written either");
}

#[test]
fn init_for_go_node_and_an_empty_folder() {
    for (files, expect) in [
        (&[("go.mod", "module x\n")][..], "go"),
        (
            &[("package.json", r#"{"devDependencies": {"jest": "^29"}}"#)][..],
            "j",
        ),
        (
            &[("package.json", r#"{"name": "x"}"#), ("test/a.test.js", "")][..],
            "js",
        ),
        (&[][..], "example"),
    ] {
        let p = folder(files);
        let out = p.run(&["init"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let names = names(&p);
        assert!(
            names.iter().any(|n| n.starts_with(expect)),
            "{files:?}: {names:?}"
        );
    }
}

#[test]
fn init_writes_editor_files_and_init_editor_refreshes_only_them() {
    let p = folder(&[]);
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let meta = std::fs::read_to_string(p.join(".ptest/lua/ptest.lua")).unwrap();
    let shipped = include_str!("../../lua/meta/ptest.lua");
    assert_eq!(meta, shipped);
    assert!(meta.starts_with("---@meta ptest\n"));
    assert!(p.join(".ptest/lua/ptest/presets/ci.lua").is_file());
    let luarc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join(".luarc.json")).unwrap()).unwrap();
    assert_eq!(luarc["workspace.library"][0], ".ptest/lua");

    // --editor: the definitions again (after an upgrade), the config and a user's .luarc.json
    // left alone.
    std::fs::write(p.join("ptest.lua"), "-- edited\n").unwrap();
    std::fs::write(p.join(".ptest/lua/ptest.lua"), "old").unwrap();
    std::fs::write(p.join(".luarc.json"), "{}\n").unwrap();
    let out = p.run(&["init", "--editor"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(p.join("ptest.lua")).unwrap(),
        "-- edited\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.join(".ptest/lua/ptest.lua")).unwrap(),
        shipped
    );
    assert_eq!(
        std::fs::read_to_string(p.join(".luarc.json")).unwrap(),
        "{}\n"
    );
    assert!(out.stdout.contains("add \".ptest/lua\""), "{}", out.stdout);
}

#[test]
fn a_link_where_an_editor_file_goes_stops_init_before_it_writes_anything() {
    // Before, init wrote ptest.lua and then failed on the link: half done, and a second
    // `ptest init` refused because ptest.lua existed.
    let p = folder(&[("pyproject.toml", "[tool.pytest.ini_options]\n")]);
    p.file("mine.lua", "-- my own file\n");
    std::fs::create_dir_all(p.join(".ptest/lua")).unwrap();
    std::os::unix::fs::symlink("../../mine.lua", p.join(".ptest/lua/ptest.lua")).unwrap();
    let out = p.run(&["init"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains(".ptest/lua/ptest.lua is a symbolic link")
            && out.stderr.contains("ptest init wrote nothing"),
        "{}",
        out.stderr
    );
    assert!(!p.join("ptest.lua").exists(), "ptest.lua written anyway");
    assert!(!p.join(".luarc.json").exists());
    assert!(!p.join(".ptest/lua/ptest").exists());
    assert_eq!(
        std::fs::read_to_string(p.join("mine.lua")).unwrap(),
        "-- my own file\n"
    );

    // A folder of init's own that is a link: refused the same way, nothing made where it leads.
    std::fs::remove_file(p.join(".ptest/lua/ptest.lua")).unwrap();
    std::fs::create_dir(p.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("../../elsewhere", p.join(".ptest/lua/ptest")).unwrap();
    let out = p.run(&["init", "--editor"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains(".ptest/lua/ptest is a symbolic link"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_dir(p.join("elsewhere")).unwrap().count(), 0);
    assert!(!p.join(".ptest/lua/ptest.lua").exists());

    // Once the way is clear, init does it all.
    std::fs::remove_file(p.join(".ptest/lua/ptest")).unwrap();
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(p.join("ptest.lua").is_file() && p.join(".ptest/lua/ptest.lua").is_file());
}

#[test]
fn init_replaces_its_editor_files_and_never_writes_through_another_name() {
    let p = folder(&[]);
    assert_eq!(p.run(&["init"]).code, 0);
    // The definitions file given a second name, as a hard link: writing it in place would
    // change that other file too.
    let meta = p.join(".ptest/lua/ptest.lua");
    std::fs::write(&meta, "old definitions").unwrap();
    std::fs::hard_link(&meta, p.join("victim.lua")).unwrap();
    let out = p.run(&["init", "--editor"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(p.join("victim.lua")).unwrap(),
        "old definitions"
    );
    assert!(
        std::fs::read_to_string(&meta)
            .unwrap()
            .starts_with("---@meta ptest")
    );
    // A .luarc.json that is a FIFO is neither read (it would never end) nor replaced.
    std::fs::remove_file(p.join(".luarc.json")).unwrap();
    let c = std::ffi::CString::new(p.join(".luarc.json").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mkfifo touches no memory of ours.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let mut child = crate::probe::spawn(&p, &["init", "--editor"]);
    let code = crate::probe::wait_exit(&mut child, std::time::Duration::from_secs(60));
    assert_eq!(code, 0);
    let stdout = std::fs::read_to_string(p.join("stdout.txt")).unwrap();
    assert!(
        stdout.contains("left .luarc.json as it was (it is not a regular file)"),
        "{stdout}"
    );
}

#[test]
fn the_meta_file_declares_everything_the_ptest_table_holds() {
    // Whatever `ptest.X` exists at run time (ptest.batch when it lands, ...) is declared in the
    // definitions, and nothing else is.
    let p = Project::new(
        "local keys = {}\nfor k in pairs(ptest) do keys[#keys + 1] = k end\n\
         table.sort(keys)\nprint('keys: ' .. table.concat(keys, ' '))\n",
    );
    // With --profile, so that ptest.profile is not nil.
    let out = p.run(&["list", "--profile", "x"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("keys: "))
        .unwrap();
    let actual: std::collections::BTreeSet<&str> = line.split(' ').collect();
    let meta = include_str!("../../lua/meta/ptest.lua");
    let declared: std::collections::BTreeSet<&str> = meta
        .lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix("function ptest.")
                .or_else(|| l.strip_prefix("ptest."))?;
            rest.split(['(', ' ']).next()
        })
        .collect();
    assert_eq!(actual, declared, "lua/meta/ptest.lua against pairs(ptest)");
}

/// What bash completes for a command line ending in `words`, through the script that
/// `ptest completions bash` prints, called the way bash's `complete -F` calls it.
fn bash_complete(words: &[&str]) -> Vec<String> {
    let p = Project::new("");
    let script = p.join("ptest.bash");
    let out = p.run(&["completions", "bash"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::fs::write(&script, out.stdout).unwrap();
    let mut all = vec!["ptest"];
    all.extend_from_slice(words);
    let quoted: Vec<String> = all.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}' || exit 9\n\
         func=$(complete -p ptest | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')\n\
         [ -n \"$func\" ] || exit 8\n\
         COMP_WORDS=({})\n\
         COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}\n\
         \"$func\" ptest \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" ")
    );
    let out: Output = run(Command::new("bash")
        .arg("-c")
        .arg(program)
        .current_dir(p.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_subcommands_flags_and_values() {
    if Command::new("bash").arg("-c").arg("true").status().is_err() {
        assert!(std::env::var_os("CI").is_none(), "bash is missing on CI");
        eprintln!("skipped: no bash");
        return;
    }
    assert_eq!(bash_complete(&["li"]), ["list"]);
    let init = bash_complete(&["in"]);
    assert!(init.contains(&"init".to_owned()), "{init:?}");
    assert_eq!(bash_complete(&["list", "--for"]), ["--format"]);
    assert_eq!(
        bash_complete(&["graph", "--format", ""]),
        ["dot", "mermaid"]
    );
    let shells = bash_complete(&["completions", ""]);
    for s in ["bash", "elvish", "fish", "powershell", "zsh"] {
        assert!(shells.contains(&s.to_owned()), "{shells:?}");
    }
}

#[test]
fn completions_for_every_shell_and_man_pages() {
    let p = Project::new("");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = p.run(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(
            out.stdout.contains("merge"),
            "{shell} completes subcommands"
        );
    }
    let out = p.run(&["completions", "tcsh"]);
    assert_eq!(out.code, 2);

    let out = p.run(&["man"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(".TH ptest 1"), "{}", out.stdout);
    assert!(
        out.stdout.contains("\\-\\-fail\\-fast"),
        "flags are documented"
    );
    let out = p.run(&["man", "--dir", "man"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in [
        "ptest.1",
        "ptest-run.1",
        "ptest-list.1",
        "ptest-init.1",
        "ptest-completions.1",
    ] {
        let text = std::fs::read_to_string(p.join("man").join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        let name = page.trim_end_matches(".1");
        assert!(
            text.contains(&format!(".TH {name} 1")),
            "{page}: {}",
            &text[..200.min(text.len())]
        );
    }
    assert!(!Path::new(&p.join("man/ptest-help.1")).exists());
}

/// `ptest init` and the presets read pytest's settings with one reader (`ptest.presets.native`):
/// the testpaths init writes are those a config sees, from the file pytest itself reads.
#[test]
fn init_and_the_presets_read_pytests_settings_alike() {
    let p = folder(&[
        ("pytest.ini", "[pytest]\naddopts = -q\n"),
        ("setup.cfg", "[tool:pytest]\ntestpaths = not_these\n"),
        ("sub/tox.ini", "[pytest]\ntestpaths = a\n  b\n"),
    ]);
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let written = std::fs::read_to_string(p.join("ptest.lua")).unwrap();
    assert!(!written.contains("not_these"), "{written}");
    p.file(
        "ptest.lua",
        r#"local native = require("ptest.presets.native")
local here = native.pytest_settings(ptest.config_dir)
local below = native.find_pytest_settings(ptest.config_dir .. "/sub/../sub/x")
local none = native.pytest_settings(ptest.config_dir .. "/nowhere")
local name = table.concat({ here.from, tostring(here.testpaths), table.concat(here.addopts, ","),
  below.from, table.concat(below.testpaths, ","), tostring(none.from) }, " ")
ptest.suite { name = name, cmd = "true" }
"#,
    );
    assert_eq!(names(&p), ["pytest.ini nil -q tox.ini a,b nil"]);
}

/// A virtualenv at `dir` made by the tests' Python; with `pytest`, it imports the tests'
/// pytest (a `.pth` file adds that Python's packages, as an install would).
fn venv(dir: &Path, pytest: bool) {
    let py = crate::pytest_preset::python().expect("checked by the caller");
    let out = run(Command::new(&py)
        .args(["-m", "venv", "--without-pip"])
        .arg(dir));
    assert_eq!(out.code, 0, "{}", out.stderr);
    if pytest {
        let site = |python: &Path| {
            let out = run(Command::new(python).args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ]));
            std::path::PathBuf::from(out.stdout.trim())
        };
        let theirs = site(&py);
        let ours = site(&dir.join("bin/python"));
        std::fs::write(
            ours.join("tests-pytest.pth"),
            format!("{}\n", theirs.display()),
        )
        .unwrap();
    }
}

const PY_PROJECT: [(&str, &str); 2] = [
    ("pytest.ini", "[pytest]\ntestpaths = tests\n"),
    (
        "tests/test_one.py",
        "import pytest\n\ndef test_one():\n    assert pytest\n",
    ),
];

/// init picks the project's environment that imports pytest, says so, and the config it wrote
/// runs the tests on the first try, its parts with the timeout it wrote.
#[test]
fn init_runs_pytest_with_the_projects_environment() {
    if crate::pytest_preset::python().is_none() {
        return;
    }
    let p = folder(&PY_PROJECT);
    venv(&p.join(".venv"), false);
    venv(&p.join("venv"), true);
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "python: the project's virtualenv venv (venv/bin/python) (it imports pytest)\n"
        ),
        "{}",
        out.stdout
    );
    let config = std::fs::read_to_string(p.join("ptest.lua")).unwrap();
    assert!(
        config.contains("  python = \"venv/bin/python\",\n"),
        "{config}"
    );
    let list = crate::harness::list_json(&p, &[]);
    assert_eq!(list["suites"][0]["timeout"], 1800.0, "{list}");
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 passed"), "{}", out.stdout);

    // Nowhere with pytest: the first environment, and init says pytest is missing there.
    let p = folder(&PY_PROJECT);
    venv(&p.join(".venv"), false);
    // A python3 on the PATH that has no pytest either, whatever this machine has installed.
    let bin = tempfile::tempdir().unwrap();
    std::fs::write(
        bin.path().join("python3"),
        "#!/bin/sh
exit 1
",
    )
    .unwrap();
    std::fs::set_permissions(
        bin.path().join("python3"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let out = p.run_env(&["init"], &[("PATH", &path)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("python: the project's virtualenv .venv (.venv/bin/python) (pytest is not installed there yet"),
        "{}",
        out.stdout
    );
    let config = std::fs::read_to_string(p.join("ptest.lua")).unwrap();
    assert!(
        config.contains("-- pytest is not installed there yet"),
        "{config}"
    );
}

/// A poetry project: poetry keeps its environment elsewhere; init asks `poetry env info
/// --path`, checks that environment's Python, and writes `{ "poetry", "run", "python" }`. poetry
/// is not installed here: a script answers those two commands as poetry does.
#[test]
fn init_runs_pytest_with_poetrys_environment() {
    if crate::pytest_preset::python().is_none() {
        return;
    }
    let p = folder(&PY_PROJECT);
    p.file("poetry.lock", "# poetry\n");
    let env = tempfile::tempdir().unwrap();
    venv(&env.path().join("demo-py3"), true);
    let bin = tempfile::tempdir().unwrap();
    let poetry = bin.path().join("poetry");
    std::fs::write(
        &poetry,
        format!(
            "#!/bin/sh\nenv={}\ncase \"$1 $2 $3\" in\n  'env info --path') echo \"$env\" ;;\n  run\\ python*) shift 2; exec \"$env/bin/python\" \"$@\" ;;\n  *) exit 1 ;;\nesac\n",
            env.path().join("demo-py3").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&poetry, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let out = p.run_env(&["init"], &[("PATH", &path)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("python: poetry's environment (poetry run python: "),
        "{}",
        out.stdout
    );
    let config = std::fs::read_to_string(p.join("ptest.lua")).unwrap();
    assert!(
        config.contains("  python = { \"poetry\", \"run\", \"python\" },\n"),
        "{config}"
    );
    let out = p.run_env(&[], &[("PATH", &path)]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 passed"), "{}", out.stdout);
}

/// A `node --test` project gets the node preset (it was a plain `npm test` suite); a jest
/// project too once jest and jest-junit are installed, else a plain suite and what to install.
#[test]
fn init_writes_the_node_preset_for_node_test_and_jest() {
    let p = folder(&[
        (
            "package.json",
            r#"{"name": "x", "scripts": {"test": "node --test"}}"#,
        ),
        ("test/a.test.js", "require('node:test')('a', () => {});\n"),
    ]);
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let config = std::fs::read_to_string(p.join("ptest.lua")).unwrap();
    assert!(
        config.contains("require(\"ptest.presets.node\").batch {\n  name = \"js\", runner = \"node\",\n  timeout = \"30m\""),
        "{config}"
    );
    assert_eq!(names(&p), ["js[1]"]);

    let jest = [
        (
            "package.json",
            r#"{"name": "x", "devDependencies": {"jest": "29"}}"#,
        ),
        ("a.test.js", "test('a', () => {});\n"),
    ];
    let p = folder(&jest);
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("javascript: a plain suite for now; the node preset once jest is not installed here yet (npm install)"),
        "{}",
        out.stdout
    );
    assert_eq!(names(&p), ["jest-test"]);
    let Some(modules) = std::env::var_os("PTEST_TEST_NODE_MODULES")
        .map(std::path::PathBuf::from)
        .filter(|m| m.join("jest-junit/package.json").exists())
    else {
        return;
    };
    let p = folder(&jest);
    std::os::unix::fs::symlink(&modules, p.join("node_modules")).unwrap();
    let out = p.run(&["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(names(&p), ["js[1]"]);
}
