//! Snapshots of `ptest list`, `ptest plan` and `ptest graph --format dot|mermaid` for one
//! representative config (absolute temp paths redacted). Review changes with
//! `INSTA_UPDATE=always cargo test` and `git diff tests/cli/snapshots`.

use crate::harness::Project;

const CONFIG: &str = r#"
ptest.config { workers = 4, timeout = "2m" }

local core = ptest.phase { name = "core" }
local main = ptest.phase { name = "main", workers = 3, on_failure = "continue" }
local teardown = ptest.phase { name = "teardown", always = true }

local api = ptest.limiter { name = "api", rate = 10, per = "1s", burst = 2, concurrency = 2 }
local backoff = ptest.retry { name = "backoff", attempts = 3, on = { exit_codes = { 75 } } }
local db = ptest.group { name = "db", max = 1, env = { DATABASE_URL = "sqlite:///test_{worker}.db" } }

local build = ptest.suite { name = "build", cmd = "cargo build", phase = core, category = "build",
                            estimate = "30s" }
ptest.suite { name = "lint", cmd = { "cargo", "clippy" }, phase = core, category = "lint",
              estimate = "10s", tags = { "fast" } }

ptest.phase(main, function()
  ptest.suite { name = "unit", cmd = "cargo test --lib", depends_on = { build },
                category = "unit", estimate = "20s", tags = { "fast" }, slots = 2 }
  ptest.group(db, function()
    for _, name in ipairs({ "deposits", "withdrawals", "reports" }) do
      ptest.suite { name = "db-" .. name, cmd = { "pytest", "tests/test_" .. name .. ".py" },
                    category = "integration", estimate = "15s", retry = backoff }
    end
  end)
  ptest.suite { name = "api-contract", cmd = "pytest tests/api", category = "integration",
                limiter = api, retry = 2, depends_on = { "db-deposits" }, estimate = "25s" }
  ptest.suite { name = "docs", cmd = "mdbook test", category = "lint", enabled = false }
end)

ptest.suite { name = "stop-db", cmd = "docker stop testdb", phase = teardown, serial = true }
ptest.on("suite_finished", function(r) end)
"#;

/// A regex matching `text` literally (paths hold dots).
fn literal(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() && c != '/' && c != '_' && c != '-' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn render(args: &[&str]) -> (String, String) {
    let p = Project::new(CONFIG);
    let out = p.run(args);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let root = std::fs::canonicalize(p.path()).unwrap();
    (out.stdout, literal(root.to_str().unwrap()))
}

macro_rules! snapshot {
    ($name:expr, $args:expr) => {{
        let (text, root) = render($args);
        insta::with_settings!({ filters => vec![(root.as_str(), "[CONFIG_DIR]")] }, {
            insta::assert_snapshot!($name, text);
        });
    }};
}

#[test]
fn list_text() {
    snapshot!("list", &["list"]);
}

#[test]
fn list_json() {
    snapshot!("list_json", &["list", "--format", "json"]);
}

#[test]
fn plan() {
    snapshot!("plan", &["plan"]);
}

#[test]
fn graph_dot() {
    snapshot!("graph_dot", &["graph", "--format", "dot"]);
}

#[test]
fn graph_mermaid() {
    snapshot!("graph_mermaid", &["graph", "--format", "mermaid"]);
}
