//! `ptest init`: looks at a folder for the test tools it uses and writes a commented
//! `ptest.lua` for them, with the editor files (LuaLS definitions and `.luarc.json`). It never
//! overwrites a `ptest.lua`. Knows nothing of plans or runs: the file it writes is checked by
//! `ptest list` like any other.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::lua::presets::PRESETS;

/// A test tool found in the folder, and what told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tool {
    /// pytest; `paths` from `testpaths` in the file pytest reads (`batch::pytest`).
    Pytest {
        found: &'static str,
        paths: Vec<String>,
    },
    Cargo,
    Go,
    Node {
        runner: NodeRunner,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeRunner {
    /// `node --test`
    Node,
    Jest,
    Vitest,
    /// The package's own `npm test` script.
    NpmTest,
}

impl Tool {
    fn found(&self) -> String {
        match self {
            Tool::Pytest { found, .. } => format!("{found} (Python: pytest)"),
            Tool::Cargo => "Cargo.toml (Rust: cargo test)".to_owned(),
            Tool::Go => "go.mod (Go: go test)".to_owned(),
            Tool::Node { runner } => format!(
                "package.json (JavaScript: {})",
                match runner {
                    NodeRunner::Node => "node --test",
                    NodeRunner::Jest => "jest",
                    NodeRunner::Vitest => "vitest",
                    NodeRunner::NpmTest => "npm test",
                }
            ),
        }
    }
}

/// The tools a folder's files name, in a fixed order (Python, Rust, Go, JavaScript).
pub(crate) fn detect(dir: &Path) -> Vec<Tool> {
    // Regular files only: a FIFO named like one is never waited on.
    let read = |name: &str| crate::batch::pytest::read_regular(&dir.join(name));
    let mut tools = Vec::new();
    let python = [
        ("pytest.ini", "[pytest]"),
        ("pyproject.toml", "[tool.pytest.ini_options]"),
        ("setup.cfg", "[tool:pytest]"),
        ("tox.ini", "[pytest]"),
    ];
    // Named by the first of these files, with the `testpaths` of the file pytest itself reads.
    let found = python.into_iter().find_map(|(file, section)| {
        let text = read(file)?;
        (file != "tox.ini" || text.contains(section)).then_some(file)
    });
    if let Some(found) = found {
        let paths = crate::batch::pytest::settings(dir)
            .and_then(|s| s.testpaths)
            .unwrap_or_default();
        tools.push(Tool::Pytest { found, paths });
    }
    if dir.join("Cargo.toml").is_file() {
        tools.push(Tool::Cargo);
    }
    if dir.join("go.mod").is_file() {
        tools.push(Tool::Go);
    }
    if let Some(text) = read("package.json") {
        tools.push(Tool::Node {
            runner: node_runner(&text),
        });
    }
    tools
}

fn node_runner(package_json: &str) -> NodeRunner {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(package_json) else {
        return NodeRunner::Node;
    };
    let has = |dep: &str| {
        ["dependencies", "devDependencies"]
            .iter()
            .any(|k| v[k].get(dep).is_some())
    };
    let script = v["scripts"]["test"].as_str().unwrap_or("");
    if has("vitest") || script.contains("vitest") {
        NodeRunner::Vitest
    } else if has("jest") || script.contains("jest") {
        NodeRunner::Jest
    } else if script.contains("node --test") || script.contains("node:test") {
        NodeRunner::Node
    } else if !script.is_empty() && !script.contains("no test specified") {
        NodeRunner::NpmTest
    } else {
        NodeRunner::Node
    }
}

/// What `init` learned beyond the files' names by running things: the Python to run pytest
/// with, and whether the node preset would load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Found {
    pub python: Option<PythonChoice>,
    /// Why the node preset would not load yet (what to install), `None` when it would.
    pub node_missing: Option<String>,
}

/// The Python a project's tests run with, as `ptest.lua` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PythonChoice {
    /// The `python` field's value, in Lua (`".venv/bin/python"`, `{ "poetry", "run", "python" }`).
    pub lua: String,
    /// What it is, for init's report: "the project's .venv (.venv/bin/python)".
    pub what: String,
    /// Whether `import pytest` works with it.
    pub pytest: bool,
}

/// The interpreters a project's Python environments offer, in the order `init` prefers them:
/// `.venv` and `venv` in the folder (uv's project environment is `.venv` too), then poetry's
/// and hatch's environments when the project uses them and the tool is installed, then
/// `python3` on the PATH. Each is `(python to check, how ptest.lua names it, what it is)`.
fn python_candidates(dir: &Path) -> Vec<(std::path::PathBuf, String, String)> {
    let mut out = Vec::new();
    for venv in [".venv", "venv"] {
        let python = dir.join(venv).join("bin/python");
        if python.is_file() {
            let kind = if venv == ".venv" && dir.join("uv.lock").is_file() {
                "uv's environment"
            } else {
                "the project's virtualenv"
            };
            out.push((
                python,
                format!("\"{venv}/bin/python\""),
                format!("{kind} {venv} ({venv}/bin/python)"),
            ));
        }
    }
    let pyproject =
        crate::batch::pytest::read_regular(&dir.join("pyproject.toml")).unwrap_or_default();
    // Poetry and hatch keep their environments elsewhere, per machine: ptest.lua asks the tool
    // to run Python (`poetry run python`), which finds the same environment on every machine.
    let tools: [(&str, bool, &[&str]); 2] = [
        (
            "poetry",
            dir.join("poetry.lock").is_file() || pyproject.contains("[tool.poetry"),
            &["env", "info", "--path"],
        ),
        (
            "hatch",
            dir.join("hatch.toml").is_file() || pyproject.contains("[tool.hatch"),
            &["env", "find"],
        ),
    ];
    for (tool, used, ask) in tools {
        if !used {
            continue;
        }
        let Some(env) = std::process::Command::new(tool)
            .args(ask)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
                text.lines().next().map(str::to_owned)
            })
        else {
            continue;
        };
        let python = Path::new(&env).join("bin/python");
        if python.is_file() {
            out.push((
                python,
                format!("{{ \"{tool}\", \"run\", \"python\" }}"),
                format!("{tool}'s environment ({tool} run python: {env})"),
            ));
        }
    }
    out.push((
        "python3".into(),
        "\"python3\"".to_owned(),
        "python3 on the PATH".to_owned(),
    ));
    out
}

/// Whether `python` can `import pytest` (run in `dir`).
fn imports_pytest(python: &Path, dir: &Path) -> bool {
    std::process::Command::new(python)
        .args(["-c", "import pytest"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The first of the project's Pythons that imports pytest; when none does, the first found
/// (init then says pytest is missing there).
pub(crate) fn choose_python(dir: &Path) -> PythonChoice {
    let candidates = python_candidates(dir);
    let checked = |(python, lua, what): &(std::path::PathBuf, String, String)| PythonChoice {
        lua: lua.clone(),
        what: what.clone(),
        pytest: imports_pytest(python, dir),
    };
    let mut first = None;
    for c in &candidates {
        let choice = checked(c);
        if choice.pytest {
            return choice;
        }
        first.get_or_insert(choice);
    }
    first.unwrap_or_else(|| PythonChoice {
        lua: "\"python3\"".into(),
        what: "python3 on the PATH".into(),
        pytest: false,
    })
}

/// Why the node preset cannot run this project's tests yet (what to install), or `None`.
/// node's own runner needs nothing; jest needs jest and jest-junit, vitest itself, in a
/// `node_modules` of the folder or one above (as node resolves them).
pub(crate) fn node_missing(dir: &Path, runner: NodeRunner) -> Option<String> {
    let installed = |rel: &str| {
        dir.ancestors()
            .any(|d| d.join("node_modules").join(rel).exists())
    };
    match runner {
        NodeRunner::Jest if !installed(".bin/jest") => {
            Some("jest is not installed here yet (npm install)".into())
        }
        NodeRunner::Jest if !installed("jest-junit/package.json") => Some(
            "the preset reads jest's results through jest-junit (npm install --save-dev jest-junit)"
                .into(),
        ),
        NodeRunner::Vitest if !installed(".bin/vitest") => {
            Some("vitest is not installed here yet (npm install)".into())
        }
        NodeRunner::Node | NodeRunner::NpmTest | NodeRunner::Jest | NodeRunner::Vitest => None,
    }
}

/// Whether the preset shipped in this binary offers `NAME.batch { ... }` (DESIGN's batch
/// presets). Until it does, `init` writes plain suites for that tool.
fn batch_preset(name: &str) -> bool {
    PRESETS.iter().any(|(n, src)| {
        *n == name && (src.contains("function M.batch") || src.contains("M.batch ="))
    })
}

fn lua_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("{{ {} }}", quoted.join(", "))
}

/// A batch's `timeout`: each of its parts runs many tests (the config's `timeout` is for the
/// plain suites; a batch's own wins over it).
const PART_TIMEOUT: &str = "timeout = \"30m\", -- per part: each part runs many tests";

/// The declarations for one tool, with a comment line saying what it does.
fn snippet(tool: &Tool, env: &Found) -> String {
    let mut s = String::new();
    match tool {
        Tool::Pytest { found, paths } => {
            let _ = writeln!(s, "-- Python (found {found}): pytest.");
            let python = match &env.python {
                Some(p) => {
                    let _ = writeln!(s, "-- Run with {}.", p.what);
                    if !p.pytest {
                        let _ = writeln!(
                            s,
                            "-- pytest is not installed there yet: install it (pip install pytest) or name
                             -- another Python below."
                        );
                    }
                    format!("  python = {},\n", p.lua)
                }
                None => "  -- python = \".venv/bin/python\",\n".to_owned(),
            };
            if batch_preset("pytest") {
                let _ = writeln!(
                    s,
                    "-- Its test files are split into a few pytest processes, balanced by the\n\
                     -- durations of earlier runs."
                );
                let paths = if paths.is_empty() {
                    String::new()
                } else {
                    format!("paths = {}, ", lua_list(paths))
                };
                let _ = writeln!(
                    s,
                    "require(\"ptest.presets.pytest\").batch {{\n  name = \"python\", {paths}args = {{ \"-q\" }},\n{python}  {PART_TIMEOUT}\n}}"
                );
            } else {
                let _ = writeln!(
                    s,
                    "-- One suite per test file, named after it (`ptest -s FILE` runs one)."
                );
                let dirs = if paths.is_empty() {
                    vec!["tests".to_owned()]
                } else {
                    paths.clone()
                };
                for dir in dirs {
                    let dir = dir.trim_end_matches('/');
                    let _ = writeln!(
                        s,
                        "require(\"ptest.presets.pytest\").files {{\n  glob = \"{dir}/**/test_*.py\", category = \"python\", args = {{ \"-q\" }},\n{python}}}"
                    );
                }
            }
        }
        Tool::Cargo => {
            let _ = writeln!(s, "-- Rust (found Cargo.toml): cargo test.");
            if batch_preset("cargo") {
                let _ = writeln!(
                    s,
                    "-- ptest builds the test binaries when it reads this file (cargo test --no-run) and\n\
                     -- runs each binary's tests in a few processes, balanced by the durations of earlier\n\
                     -- runs, with a result per test.\n\
                     require(\"ptest.presets.cargo\").batch {{\n  name = \"rust\", args = {{ \"--workspace\" }},\n  {PART_TIMEOUT}\n}}"
                );
            } else {
                let _ = writeln!(
                    s,
                    "ptest.suite {{\n  name = \"cargo-test\", category = \"rust\",\n  cmd = {{ \"cargo\", \"test\", \"--workspace\" }},\n}}"
                );
            }
        }
        Tool::Go => {
            // The go preset lists packages with `go list` while the config is read, so a
            // config written before go is installed, or before the first package, fails or
            // declares nothing: init keeps the plain suite until onboarding settles that.
            let _ = writeln!(s, "-- Go (found go.mod): go test.");
            let _ = writeln!(
                s,
                "-- Per-test results, retries of only the failed packages:\n\
                 -- require(\"ptest.presets.go\").batch {{ name = \"go\", packages = \"./...\" }}"
            );
            let _ = writeln!(
                s,
                "ptest.suite {{ name = \"go-test\", category = \"go\", cmd = \"go test ./...\" }}"
            );
        }
        Tool::Node { runner } => {
            let _ = writeln!(s, "-- JavaScript (found package.json).");
            let name = match runner {
                NodeRunner::Node | NodeRunner::NpmTest => "node",
                NodeRunner::Jest => "jest",
                NodeRunner::Vitest => "vitest",
            };
            // jest and vitest list their files while the config is read, and jest's results
            // come through jest-junit: until they are installed, a plain suite runs the tests.
            if *runner != NodeRunner::NpmTest {
                match &env.node_missing {
                    None => {
                        let _ = writeln!(
                            s,
                            "-- Per-test results, retries of only the failed files.\n\
                             require(\"ptest.presets.node\").batch {{\n  name = \"js\", runner = \"{name}\",\n  {PART_TIMEOUT}\n}}"
                        );
                        return s;
                    }
                    Some(why) => {
                        let _ = writeln!(
                            s,
                            "-- Per-test results, retries of only the failed files, once {why}:\n\
                             -- require(\"ptest.presets.node\").batch {{ name = \"js\", runner = \"{name}\" }}"
                        );
                    }
                }
            }
            let cmd = match runner {
                NodeRunner::Node => "node --test",
                NodeRunner::Jest => "npx jest",
                NodeRunner::Vitest => "npx vitest run",
                NodeRunner::NpmTest => "npm test",
            };
            let _ = writeln!(
                s,
                "ptest.suite {{ name = \"{name}-test\", category = \"js\", cmd = \"{cmd}\" }}"
            );
        }
    }
    s
}

/// The whole `ptest.lua` for these tools.
pub(crate) fn render(tools: &[Tool], env: &Found) -> String {
    let mut s = String::new();
    s.push_str(
        "-- ptest.lua: this project's test suites, run in parallel by ptest (written by `ptest init`).\n\
         --\n\
         --   ptest list      what would run, by phase and category\n\
         --   ptest plan      the schedule, without running anything\n\
         --   ptest           run it: logs and test-report.json go to test-logs/\n\
         --\n\
         -- A suite is one command run as one process. Fields of every constructor:\n",
    );
    let _ = writeln!(
        s,
        "-- {}/blob/main/docs/lua-api.md",
        env!("CARGO_PKG_REPOSITORY")
    );
    s.push_str(
        "-- (your editor shows them too, with the files in .ptest/lua/ and .luarc.json).\n\n\
         local ptest = require(\"ptest\")\n\n\
         ptest.config {\n  \
           -- One worker per CPU, fewer when memory is short (1 GB each).\n  \
           workers = require(\"ptest.presets.ci\").workers { mem_per_worker_mb = 1024 },\n  \
           timeout = \"10m\", -- per attempt of a plain suite (a batch below sets its own)\n  \
           -- fail_fast = true, -- stop at the first failure\n\
         }\n",
    );
    if tools.is_empty() {
        s.push_str(
            "\n-- No test tool was found here (pyproject.toml, pytest.ini, setup.cfg, Cargo.toml,\n\
             -- go.mod, package.json). Declare your suites, for example:\n\
             ptest.suite { name = \"example\", cmd = \"echo replace this with a test command\" }\n\
             -- ptest.suite { name = \"lint\", cmd = { \"make\", \"lint\" }, category = \"lint\" }\n",
        );
    }
    for tool in tools {
        s.push('\n');
        s.push_str(&snippet(tool, env));
    }
    s
}

/// What `.luarc.json` says so that LuaLS reads the definitions.
pub(crate) const LUARC: &str = r#"{
  "runtime.version": "Lua 5.4",
  "workspace.library": [".ptest/lua"],
  "diagnostics.globals": ["ptest"]
}
"#;

fn cannot(what: &Path, e: &std::io::Error) -> String {
    format!("cannot write {}: {}", what.display(), crate::io_message(e))
}

/// The folders ptest init makes for the editor files, from the outermost. `.ptest` itself may
/// be a link to a folder (a shared history lives there); the ones below are init's own.
const EDITOR_FOLDERS: [&str; 3] = [".ptest/lua", ".ptest/lua/ptest", ".ptest/lua/ptest/presets"];

/// What `ptest init` writes besides `ptest.lua`, each place checked before anything is
/// written: the editor files are replaced (never written in place, never through a link),
/// `.luarc.json` is made only when missing.
struct EditorFiles {
    /// Each file init owns, with its text.
    owned: Vec<(std::path::PathBuf, &'static str)>,
    luarc: Luarc,
}

enum Luarc {
    /// Missing: written.
    Write(std::path::PathBuf),
    /// Already points at `.ptest/lua`.
    Fine,
    /// Something else, left as it was: why.
    LeftAlone(&'static str),
}

/// Check every place the editor files go (`.ptest/lua/...`, `.luarc.json`): a folder init
/// makes must be missing or a folder (not a link), a file it writes missing or a regular file.
/// `Err` says what is in the way; nothing has been written then.
fn check_editor_files(dir: &Path) -> Result<EditorFiles, String> {
    for rel in EDITOR_FOLDERS {
        let path = dir.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symbolic link: ptest init writes no file through a link (remove it and run ptest init again)",
                    path.display()
                ));
            }
            Ok(m) if !m.is_dir() => {
                return Err(format!(
                    "{} is in the way: it is not a folder",
                    path.display()
                ));
            }
            _ => {}
        }
    }
    let lib = dir.join(".ptest/lua");
    let mut owned = vec![(lib.join("ptest.lua"), crate::lua::meta::META)];
    for (name, source) in PRESETS {
        owned.push((lib.join(format!("ptest/presets/{name}.lua")), *source));
    }
    for (path, _) in &owned {
        if let Some(why) = crate::safe_write::refusal(path) {
            return Err(format!(
                "{} {why}; ptest init wrote nothing",
                path.display()
            ));
        }
    }
    let path = dir.join(".luarc.json");
    let luarc = if std::fs::symlink_metadata(&path).is_err() {
        Luarc::Write(path)
    } else {
        // Read only when it is a regular file (a link to one is fine to read), never waited on.
        match crate::batch::pytest::read_regular(&path) {
            Some(text) if text.contains(".ptest/lua") => Luarc::Fine,
            Some(_) => Luarc::LeftAlone(
                "left .luarc.json as it was: add \".ptest/lua\" to its \"workspace.library\"",
            ),
            None => Luarc::LeftAlone(
                "left .luarc.json as it was (it is not a regular file): point the Lua language server at .ptest/lua/ yourself",
            ),
        }
    };
    Ok(EditorFiles { owned, luarc })
}

/// Write the LuaLS definitions (and the presets, so `require` completes them) into
/// `.ptest/lua/`, and a `.luarc.json` unless the folder has one, as `check_editor_files`
/// found them. Each file is written under a temp name and renamed into place: a file with
/// other names (a hard link) is replaced, not written through. Returns what it did.
fn write_editor_files(dir: &Path, files: EditorFiles) -> Result<Vec<String>, String> {
    let presets = dir.join(EDITOR_FOLDERS[2]);
    std::fs::create_dir_all(&presets).map_err(|e| cannot(&presets, &e))?;
    for (path, text) in &files.owned {
        crate::safe_write::write_with(path, text.as_bytes(), |old, id| {
            crate::safe_write::remove_if_same(&old, id);
        })
        .map_err(|e| cannot(path, &e))?;
    }
    let mut done = vec![
        "wrote .ptest/lua/ (definitions of the ptest API for the Lua language server)".to_owned(),
    ];
    match files.luarc {
        Luarc::Fine => {}
        Luarc::LeftAlone(why) => done.push(why.to_owned()),
        Luarc::Write(luarc) => {
            // create_new: never through a link, and a file made meanwhile is not replaced.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&luarc)
                .map_err(|e| cannot(&luarc, &e))?;
            f.write_all(LUARC.as_bytes())
                .map_err(|e| cannot(&luarc, &e))?;
            done.push(
                "wrote .luarc.json (points the Lua language server at .ptest/lua/)".to_owned(),
            );
        }
    }
    Ok(done)
}

/// What init learns by running things, for the tools found.
fn look_around(dir: &Path, tools: &[Tool]) -> Found {
    Found {
        python: tools
            .iter()
            .any(|t| matches!(t, Tool::Pytest { .. }))
            .then(|| choose_python(dir)),
        node_missing: tools.iter().find_map(|t| match t {
            Tool::Node { runner } => node_missing(dir, *runner),
            _ => None,
        }),
    }
}

/// `ptest init [DIR] [--editor]`. Everything it would write is checked first: when one place
/// is in the way, it writes nothing (not even `ptest.lua`) and says which.
pub(crate) fn init(dir: &Path, editor_only: bool) -> Result<String, crate::error::Error> {
    use crate::error::Error;
    if !dir.is_dir() {
        return Err(Error::Usage(format!("{} is not a folder", dir.display())));
    }
    let config = dir.join("ptest.lua");
    if !editor_only && config.symlink_metadata().is_ok() {
        return Err(Error::Usage(format!(
            "{} already exists; ptest init does not overwrite it (remove it first, or run \"ptest init --editor\" to write only the editor files)",
            config.display()
        )));
    }
    let editor = check_editor_files(dir).map_err(Error::Usage)?;
    let mut report = String::new();
    if !editor_only {
        let tools = detect(dir);
        let env = look_around(dir, &tools);
        let text = render(&tools, &env);
        // create_new: a file made meanwhile is not replaced either, nor a link followed.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&config)
            .map_err(|e| Error::Setup(cannot(&config, &e)))?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::Setup(cannot(&config, &e)))?;
        if tools.is_empty() {
            report.push_str("found no test tool (pyproject.toml, pytest.ini, setup.cfg, Cargo.toml, go.mod, package.json)\n");
        } else {
            let found: Vec<String> = tools.iter().map(Tool::found).collect();
            let _ = writeln!(report, "found {}", found.join(", "));
        }
        if let Some(p) = &env.python {
            let verdict = if p.pytest {
                "it imports pytest"
            } else {
                "pytest is not installed there yet: install it, or set python in ptest.lua"
            };
            let _ = writeln!(report, "python: {} ({verdict})", p.what);
        }
        if let Some(why) = &env.node_missing {
            let _ = writeln!(
                report,
                "javascript: a plain suite for now; the node preset once {why}"
            );
        }
        let shown = if dir == Path::new(".") {
            Path::new("ptest.lua")
        } else {
            &config
        };
        let _ = writeln!(report, "wrote {}", shown.display());
    }
    for line in write_editor_files(dir, editor).map_err(Error::Setup)? {
        report.push_str(&line);
        report.push('\n');
    }
    if !editor_only {
        report.push_str(
            "next:\n  ptest list    what would run\n  ptest         run it (add test-logs/ and .ptest/ to .gitignore)\n",
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testpaths_come_from_the_file_pytest_reads() {
        // pytest.ini configures pytest even without testpaths: setup.cfg's are not pytest's.
        let d = folder(&[
            ("pytest.ini", "[pytest]\naddopts = -q\n"),
            ("setup.cfg", "[tool:pytest]\ntestpaths = elsewhere\n"),
        ]);
        assert_eq!(
            detect(d.path()),
            [Tool::Pytest {
                found: "pytest.ini",
                paths: Vec::new()
            }]
        );
        // A list over several lines, and words as pytest splits them (a comma is no separator).
        let d = folder(&[(
            "pyproject.toml",
            "[tool.pytest.ini_options]\ntestpaths = [\n  \"tests\",\n  'more',\n]\n",
        )]);
        let paths = |d: &tempfile::TempDir| match detect(d.path()).first() {
            Some(Tool::Pytest { paths, .. }) => paths.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(paths(&d), ["tests", "more"]);
        let d = folder(&[("pytest.ini", "[pytest]\n  testpaths=a,b  c\n")]);
        assert_eq!(paths(&d), ["a,b", "c"]);
    }

    #[test]
    fn node_runner_from_package_json() {
        assert_eq!(
            node_runner(r#"{"devDependencies":{"jest":"29"}}"#),
            NodeRunner::Jest
        );
        assert_eq!(
            node_runner(r#"{"devDependencies":{"vitest":"1"}}"#),
            NodeRunner::Vitest
        );
        assert_eq!(
            node_runner(r#"{"scripts":{"test":"mocha"}}"#),
            NodeRunner::NpmTest
        );
        assert_eq!(
            node_runner(r#"{"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}"#),
            NodeRunner::Node
        );
        assert_eq!(node_runner("not json"), NodeRunner::Node);
    }

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn tools_are_found_in_a_fixed_order_whatever_the_files() {
        let d = folder(&[
            ("package.json", "{}"),
            ("go.mod", "module x"),
            ("Cargo.toml", "[package]"),
            ("pytest.ini", "[pytest]\n"),
        ]);
        assert_eq!(
            detect(d.path()),
            [
                Tool::Pytest {
                    found: "pytest.ini",
                    paths: Vec::new()
                },
                Tool::Cargo,
                Tool::Go,
                Tool::Node {
                    runner: NodeRunner::Node
                }
            ]
        );
        assert!(detect(folder(&[]).path()).is_empty());
    }

    #[test]
    fn pytest_is_named_by_the_first_of_its_files() {
        let d = folder(&[
            ("pyproject.toml", "[project]\nname = \"x\"\n"),
            ("setup.cfg", "[tool:pytest]\ntestpaths = tests\n"),
        ]);
        assert_eq!(
            detect(d.path()),
            [Tool::Pytest {
                found: "pyproject.toml",
                paths: vec!["tests".into()]
            }]
        );
        // tox.ini counts only with a [pytest] section.
        assert!(detect(folder(&[("tox.ini", "[tox]\nenvlist = py3\n")]).path()).is_empty());
        assert_eq!(
            detect(folder(&[("tox.ini", "[tox]\n[pytest]\ntestpaths = t\n")]).path()),
            [Tool::Pytest {
                found: "tox.ini",
                paths: vec!["t".into()]
            }]
        );
    }

    #[test]
    fn folders_named_like_manifests_are_not_manifests() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("Cargo.toml")).unwrap();
        std::fs::create_dir(d.path().join("go.mod")).unwrap();
        assert!(detect(d.path()).is_empty());
    }

    #[test]
    fn a_package_json_that_is_not_json_runs_node_test() {
        assert_eq!(node_runner("{ not json"), NodeRunner::Node);
        assert_eq!(
            node_runner(r#"{"scripts":{"test":"vitest run"}}"#),
            NodeRunner::Vitest
        );
        assert_eq!(
            node_runner(r#"{"dependencies":{"jest":"29"},"scripts":{"test":"vitest"}}"#),
            NodeRunner::Vitest,
            "vitest wins when both are named"
        );
    }

    #[test]
    fn what_was_found_is_said_in_words() {
        let said: Vec<String> = [
            Tool::Pytest {
                found: "setup.cfg",
                paths: Vec::new(),
            },
            Tool::Cargo,
            Tool::Go,
            Tool::Node {
                runner: NodeRunner::NpmTest,
            },
        ]
        .iter()
        .map(Tool::found)
        .collect();
        assert_eq!(
            said,
            [
                "setup.cfg (Python: pytest)",
                "Cargo.toml (Rust: cargo test)",
                "go.mod (Go: go test)",
                "package.json (JavaScript: npm test)"
            ]
        );
        assert_eq!(
            lua_list(&["a".into(), "b\"c".into()]),
            "{ \"a\", \"b\\\"c\" }"
        );
    }
}
