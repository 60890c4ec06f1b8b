//! The Lua side of DESIGN §2: handles and their fields, `print` on stderr, `ptest.sys`,
//! `ptest.vars`, `ptest.profile`, `require` (ptest, modules, presets), `ptest.glob`, durations,
//! and the `(name_or_table, body)` scoping forms of `phase` and `group`.

use serde_json::{Value, json};

use crate::harness::{Project, list_json};

/// Run `ptest list --format json` and return stdout parsed and stderr (where `print` goes).
fn list_with_prints(p: &Project, args: &[&str]) -> (Value, String) {
    let mut a = vec!["list", "--format", "json"];
    a.extend_from_slice(args);
    let out = p.run(&a);
    assert_eq!(out.code, 0, "list failed: {}", out.stderr);
    let json = serde_json::from_str(&out.stdout).expect("stdout is only the JSON");
    (json, out.stderr)
}

fn prints(config: &str, args: &[&str]) -> Vec<String> {
    let (_, stderr) = list_with_prints(&Project::new(config), args);
    stderr.lines().map(str::to_owned).collect()
}

#[test]
fn print_goes_to_stderr_never_stdout() {
    let p = Project::new(
        "print(\"hello\", 1, nil, true)\nptest.suite { name = \"a\", cmd = \"true\" }\n",
    );
    let (j, stderr) = list_with_prints(&p, &[]);
    assert_eq!(stderr, "hello\t1\tnil\ttrue\n");
    assert_eq!(j["suites"][0]["name"], "a");
    let out = p.run(&["plan"]);
    assert!(!out.stdout.contains("hello"));
    assert_eq!(out.stderr, "hello\t1\tnil\ttrue\n");
}

#[test]
fn handles_show_their_fields_with_defaults() {
    let lines = prints(
        r#"
local g = ptest.group { name = "db", env = { A = "1" } }
print(g.name, g.max, g.env.A, tostring(g))
local g2 = ptest.group { name = "api", max = 3 }
print(g2.max)
local ph = ptest.phase { name = "core", workers = function(sys) return 3 end }
print(ph.name, ph.workers, ph.enabled, ph.on_failure, ph.always, tostring(ph))
local ph2 = ptest.phase { name = "late", enabled = false, on_failure = "continue", always = true, workers = 2 }
print(ph2.workers, ph2.enabled, ph2.on_failure, ph2.always)
local l = ptest.limiter { name = "api", rate = 5, per = "500ms" }
print(l.name, l.rate, l.per, l.burst, l.concurrency, l.adaptive)
local r = ptest.retry { }
print(r.name, r.attempts, r.delay, r.factor, r.max_delay, r.jitter, tostring(r))
local r2 = ptest.retry { name = "b", attempts = 5, delay = "2s", factor = 3, max_delay = "1m", jitter = true }
print(r2.name, r2.attempts, r2.delay, r2.factor, r2.max_delay, r2.jitter)
local s = ptest.suite { name = "s", cmd = "true", phase = ph, group = "db" }
print(s.name, s.cmd, s.phase, s.group, s.category, s.slots, s.serial, s.enabled, #s.tags, #s.depends_on, s.timeout, tostring(s))
local t = ptest.suite { name = "t", cmd = { "a", "b" }, category = "unit", depends_on = { s }, tags = { "x" }, slots = 2, timeout = "2m", estimate = 3, phase = "core" }
print(t.cmd[2], t.category, t.depends_on[1] == s, t.tags[1], t.slots, t.timeout, t.estimate, t.phase, t.nonsense)
"#,
        &[],
    );
    assert_eq!(
        lines,
        [
            "db\t1\t1\tgroup \"db\"",
            "3",
            "core\t3\ttrue\tstop\tfalse\tphase \"core\"",
            "2\tfalse\tcontinue\ttrue",
            // Durations read back as seconds, whatever form they were written in.
            "api\t5\t0.5\t1\tnil\tfalse",
            "nil\t3\t1.0\t2.0\t60.0\tfalse\tretry #1",
            "b\t5\t2.0\t3.0\t60.0\ttrue",
            "s\ttrue\tcore\tdb\tdefault\t1\tfalse\ttrue\t0\t0\tnil\tsuite \"s\"",
            "b\tunit\ttrue\tx\t2\t120.0\t3.0\tcore\tnil",
        ]
    );
}

#[test]
fn sys_vars_and_profile_are_readable() {
    let lines = prints(
        "
local s = ptest.sys
print(math.type(s.cpus), s.cpus >= 1, s.physical_cores >= 1, s.physical_cores <= s.cpus)
print(s.mem_total_mb >= s.mem_available_mb, s.mem_total_mb > 0, type(s.load1))
print(s.ci, s.os, type(s.arch), type(s.container))
print(ptest.profile, ptest.vars.A, ptest.vars.B, ptest.vars.C, ptest.version)
",
        &["--profile", "ci", "--set", "A=1", "--set", "B=x=y"],
    );
    assert_eq!(lines[0], "integer\ttrue\ttrue\ttrue");
    assert_eq!(lines[1], "true\ttrue\tnumber");
    assert_eq!(
        lines[2],
        format!("nil\t{}\tstring\tboolean", std::env::consts::OS)
    );
    assert_eq!(
        lines[3],
        format!("ci\t1\tx=y\tnil\t{}", env!("CARGO_PKG_VERSION"))
    );
    let lines = prints("print(ptest.profile, next(ptest.vars))", &[]);
    assert_eq!(lines, ["nil\tnil"]);
}

#[test]
fn sys_fields_read_on_first_use_are_listed_by_pairs_and_stay_put() {
    // Memory, load, cores and the container check are read when first asked for; `pairs` and a
    // later read must see them like the fields set at start.
    let lines = prints(
        "
local keys = {}
for k, v in pairs(ptest.sys) do
  -- The cgroup's limits are nil (absent) on a machine without them.
  if k ~= 'cpu_quota' and k ~= 'mem_limit_mb' then keys[#keys + 1] = k .. '=' .. type(v) end
end
table.sort(keys)
print(table.concat(keys, ' '))
local s = ptest.sys
print(type(s.cpu_quota) == 'nil' or type(s.cpu_quota) == 'number', math.type(s.mem_limit_mb) ~= 'float')
local first = s.mem_total_mb
print(rawget(s, 'mem_total_mb') == first, s.mem_total_mb == first, s.nonsense)
",
        &[],
    );
    assert_eq!(
        lines[0],
        "arch=string container=boolean cpus=number load1=number mem_available_mb=number \
         mem_total_mb=number os=string physical_cores=number"
    );
    assert_eq!(lines[1], "true\ttrue");
    assert_eq!(lines[2], "true\ttrue\tnil");
}

#[test]
fn sys_ci_comes_from_the_environment() {
    let p = Project::new("print(ptest.sys.ci)");
    let ci = |env: &[(&str, &str)]| p.run_env(&["list"], env).stderr.trim().to_owned();
    assert_eq!(ci(&[("CI", "true")]), "generic");
    assert_eq!(ci(&[("CI", "true"), ("GITHUB_ACTIONS", "true")]), "github");
    assert_eq!(ci(&[("GITLAB_CI", "true")]), "gitlab");
    assert_eq!(ci(&[("BUILDKITE", "true")]), "buildkite");
    assert_eq!(ci(&[("CI", "false")]), "nil");
}

#[test]
fn workers_function_gets_sys_and_the_plan_uses_its_result() {
    let p = Project::new(
        r#"ptest.config { workers = function(sys) print(sys == ptest.sys, sys.cpus) return 3 end }
ptest.suite { name = "a", cmd = "true" }"#,
    );
    let (j, stderr) = list_with_prints(&p, &[]);
    assert!(stderr.starts_with("true\t"), "{stderr}");
    assert_eq!(j["workers"], 3);
    assert_eq!(j["workers_source"], "ptest.lua");
}

#[test]
fn require_ptest_modules_and_presets() {
    let p = Project::new(
        r#"
local p = require("ptest")
print(p == ptest, require("helper").x, require("util").y, require("lua_only").z)
local ci = require("ptest.presets.ci")
print(ci.workers { max = 1 }(ptest.sys), ci.workers { mem_per_worker_mb = 1 }(ptest.sys) >= 1)
local pytest = require("ptest.presets.pytest")
local hs = pytest.files { glob = "tests/test_*.py", category = "unit", args = { "-q" }, timeout = "1m" }
print(#hs, hs[1].name, hs[2].name)
"#,
    );
    p.file("helper.lua", "return { x = 42 }")
        .file("lua/util/init.lua", "return { y = 7 }")
        .file("lua/lua_only.lua", "return { z = 1 }")
        .file("tests/test_b.py", "")
        .file("tests/test_a.py", "")
        .file("tests/helper.py", "");
    let (j, stderr) = list_with_prints(&p, &[]);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "true\t42\t7\t1",
            "1\ttrue",
            "2\ttests/test_a.py\ttests/test_b.py"
        ]
    );
    let s = &j["suites"][0];
    assert_eq!(s["name"], "tests/test_a.py");
    assert_eq!(
        s["cmd"],
        json!(["python3", "-m", "pytest", "tests/test_a.py", "-q"])
    );
    assert_eq!(s["category"], "unit");
    assert_eq!(s["timeout"], 60.0);
}

#[test]
fn modules_are_found_when_ptest_runs_from_another_folder() {
    let p = Project::new("");
    p.file(
        "proj/ptest.lua",
        "ptest.suite { name = require(\"names\").first, cmd = \"true\" }",
    )
    .file("proj/lua/names.lua", "return { first = \"from-module\" }");
    let j = list_json(&p, &["proj/ptest.lua"]);
    assert_eq!(j["suites"][0]["name"], "from-module");
}

#[test]
fn glob_is_sorted_and_relative_to_the_config_folder() {
    let p = Project::new("");
    p.file(
        "proj/ptest.lua",
        r#"for _, f in ipairs(ptest.glob("tests/**/test_*.py")) do print(f) end
print(#ptest.glob("nothing/*.py"))
for _, f in ipairs(ptest.glob("*.lua")) do print(f) end"#,
    )
    .file("proj/tests/b/test_2.py", "")
    .file("proj/tests/a/test_1.py", "")
    .file("proj/tests/test_0.py", "")
    .file("proj/tests/a/other.py", "")
    .file("proj/tests/Z/test_9.py", "");
    // Run from the parent folder: the paths are still relative to the config's folder.
    let out = p.run(&["list", "proj/ptest.lua"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        [
            "tests/Z/test_9.py",
            "tests/a/test_1.py",
            "tests/b/test_2.py",
            "tests/test_0.py",
            "0",
            "ptest.lua",
        ]
    );
}

#[test]
fn durations_as_strings_and_numbers() {
    let p = Project::new(
        r#"
ptest.config { timeout = "1h30m", grace = "250ms" }
ptest.suite { name = "a", cmd = "true", estimate = "250ms" }
ptest.suite { name = "b", cmd = "true", timeout = 90, estimate = 1.5 }
ptest.suite { name = "c", cmd = "true", timeout = "5m", estimate = "2s" }
ptest.suite { name = "d", cmd = "true", timeout = "1m30s" }
ptest.limiter { name = "l", rate = 1, per = "1h" }
"#,
    );
    let j = list_json(&p, &[]);
    let s = j["suites"].as_array().unwrap();
    assert_eq!(s[0]["timeout"], 5400.0);
    assert_eq!(s[0]["estimate"], 0.25);
    assert_eq!(s[1]["timeout"], 90.0);
    assert_eq!(s[1]["estimate"], 1.5);
    assert_eq!(s[2]["timeout"], 300.0);
    assert_eq!(s[2]["estimate"], 2.0);
    assert_eq!(s[3]["timeout"], 90.0);
    assert_eq!(s[3]["estimate"], json!(null));
    assert_eq!(j["grace"], 0.25);
    assert_eq!(j["limiters"][0]["per"], 3600.0);
}

/// `(name, phase, group)` of every suite.
fn placement(j: &Value) -> Vec<(String, String, Option<String>)> {
    j["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["phase"].as_str().unwrap().to_owned(),
                s["group"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn row(name: &str, phase: &str, group: Option<&str>) -> (String, String, Option<String>) {
    (name.into(), phase.into(), group.map(Into::into))
}

#[test]
fn phase_and_group_bodies_scope_the_suites_declared_inside() {
    let p = Project::new(
        r#"
ptest.group { name = "other" }
ptest.phase { name = "late" }
local core = ptest.phase("core", function()
  ptest.suite { name = "a", cmd = "true" }
  ptest.group({ name = "db", max = 2 }, function()
    ptest.suite { name = "b", cmd = "true" }
    ptest.suite { name = "c", cmd = "true", group = "other", phase = "late" }
    ptest.phase("late", function()
      ptest.suite { name = "d", cmd = "true" }
    end)
    ptest.suite { name = "e", cmd = "true" }
  end)
  ptest.suite { name = "f", cmd = "true" }
end)
ptest.suite { name = "g", cmd = "true" }
-- A handle, and a name already declared, reopen the scope.
ptest.phase(core, function() ptest.suite { name = "h", cmd = "true" } end)
ptest.group("db", function() ptest.suite { name = "i", cmd = "true" } end)
print(core.name, core.workers)
"#,
    );
    let (j, stderr) = list_with_prints(&p, &[]);
    assert_eq!(stderr, "core\tnil\n");
    assert_eq!(
        placement(&j),
        [
            row("a", "core", None),
            row("b", "core", Some("db")),
            row("c", "late", Some("other")),
            row("d", "late", Some("db")),
            row("e", "core", Some("db")),
            row("f", "core", None),
            row("g", "default", None),
            row("h", "core", None),
            row("i", "default", Some("db")),
        ]
    );
    // Phase order: the implicit default first, then declaration order.
    let phases: Vec<&str> = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["default", "late", "core"]);
    assert_eq!(j["groups"][1]["name"], "db");
    assert_eq!(j["groups"][1]["max"], 2);
}

#[test]
fn a_scope_name_not_yet_declared_declares_it_with_defaults() {
    let p = Project::new(
        r#"ptest.phase("setup", function() ptest.suite { name = "a", cmd = "true" } end)
ptest.group("serial", function() ptest.suite { name = "b", cmd = "true" } end)"#,
    );
    let j = list_json(&p, &[]);
    assert_eq!(
        placement(&j),
        [row("a", "setup", None), row("b", "default", Some("serial"))]
    );
    assert_eq!(j["groups"][0]["max"], 1);
    assert_eq!(j["phases"][1]["name"], "setup");
    assert_eq!(j["phases"][1]["on_failure"], "stop");
}

#[test]
fn scope_ends_with_its_body_even_after_an_error_caught_by_pcall() {
    let p = Project::new(
        r#"print(pcall(ptest.phase, "p", function() error("inside", 0) end))
ptest.suite { name = "after", cmd = "true" }"#,
    );
    let (j, _) = list_with_prints(&p, &[]);
    assert_eq!(placement(&j), [row("after", "default", None)]);
}

#[test]
fn depends_on_accepts_a_single_name_or_handle() {
    let p = Project::new(
        r#"local a = ptest.suite { name = "a", cmd = "true" }
ptest.suite { name = "b", cmd = "true", depends_on = a }
ptest.suite { name = "c", cmd = "true", depends_on = "b" }
ptest.suite { name = "d", cmd = "true", depends_on = { a, "c", "a" } }"#,
    );
    let j = list_json(&p, &[]);
    let deps: Vec<&Value> = j["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["depends_on"])
        .collect();
    assert_eq!(
        deps,
        [&json!([]), &json!(["a"]), &json!(["b"]), &json!(["a", "c"])]
    );
}

#[test]
fn config_may_be_called_more_than_once_later_fields_win() {
    let p = Project::new(
        r#"ptest.config { workers = 2, timeout = "1m", fail_fast = true, log_dir = "a" }
ptest.config { workers = 5, grace = "1s" }
ptest.config { fail_fast = false }
ptest.suite { name = "s", cmd = "true" }"#,
    );
    let j = list_json(&p, &[]);
    assert_eq!(j["workers"], 5);
    assert_eq!(j["suites"][0]["timeout"], 60.0);
    assert_eq!(j["fail_fast"], false);
    assert!(j["log_dir"].as_str().unwrap().ends_with("/a"));
    assert_eq!(j["grace"], 1.0);
}

#[test]
fn hooks_are_registered_and_listed() {
    let p = Project::new(
        r#"ptest.on("run_started", function(plan) end)
ptest.on("suite_finished", function(r) end)
ptest.on("suite_finished", function(r) end)"#,
    );
    let j = list_json(&p, &[]);
    assert_eq!(
        j["hooks"],
        json!(["run_started", "suite_finished", "suite_finished"])
    );
}

#[test]
fn the_default_phase_takes_its_declared_place_when_declared() {
    let p = Project::new(
        r#"ptest.phase { name = "setup" }
ptest.phase { name = "default", workers = 1 }
ptest.phase { name = "teardown" }
ptest.suite { name = "t", cmd = "true", phase = "teardown" }
ptest.suite { name = "a", cmd = "true" }
ptest.suite { name = "s", cmd = "true", phase = "setup" }"#,
    );
    let j = list_json(&p, &[]);
    let phases: Vec<&str> = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["setup", "default", "teardown"]);
    assert_eq!(j["phases"][1]["workers"], 1);
    assert_eq!(j["suites"][1]["phase"], "default");
    // Without a declaration it comes first, and only when some suite uses it.
    let p = Project::new(
        "ptest.phase { name = \"setup\" }\nptest.suite { name = \"s\", cmd = \"true\", phase = \"setup\" }",
    );
    let j = list_json(&p, &[]);
    assert_eq!(j["phases"].as_array().unwrap().len(), 1);
    assert_eq!(j["phases"][0]["name"], "setup");
}

#[test]
fn a_folder_as_config_means_its_ptest_lua() {
    let p = Project::new("");
    p.file(
        "api/ptest.lua",
        "ptest.suite { name = \"a\", cmd = \"true\", bogus = 1 }",
    );
    let out = p.run(&["list", "api"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("api/ptest.lua:1: suite \"a\": unknown field \"bogus\""),
        "{}",
        out.stderr
    );
    p.file(
        "api/ptest.lua",
        "ptest.suite { name = \"a\", cmd = \"true\" }",
    );
    assert_eq!(list_json(&p, &["api"])["config"], "api/ptest.lua");
    let out = p.run(&["list", "nowhere/"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("error: cannot read nowhere/"),
        "{}",
        out.stderr
    );
}
