//! Every class of bad input (DESIGN §7) with its exact message and exit code 2.

use crate::harness::{Project, config_error};

#[test]
fn unknown_field_with_suggestion() {
    let e = config_error("ptest.suite { name = \"deposits\", cmd = \"true\",\n depnds_on = {} }\n");
    assert_eq!(
        e.trim(),
        "ptest.lua:1: suite \"deposits\": unknown field \"depnds_on\" (did you mean \"depends_on\"?)"
    );
}

#[test]
fn wrong_type_says_what_was_expected() {
    let e = config_error("\n\nptest.suite { name = \"a\", cmd = \"true\", timeout = true }");
    assert_eq!(
        e.trim(),
        "ptest.lua:3: suite \"a\": timeout: expected a duration like \"30s\" or a number of seconds, got boolean"
    );
}

#[test]
fn cross_reference_errors_all_at_once_in_file_order() {
    let e = config_error(
        r#"local core = ptest.phase { name = "core" }
local main = ptest.phase { name = "main" }
ptest.suite { name = "a", cmd = "true", depends_on = {"b"}, phase = core }
ptest.suite { name = "b", cmd = "true", depends_on = {"c"}, phase = main }
ptest.suite { name = "c", cmd = "true", depends_on = {"b"}, phase = "main" }
ptest.suite { name = "d", cmd = "true", depends_on = {"deposit"}, group = "fin" }
ptest.suite { name = "a", cmd = "true" }
ptest.suite { name = "deposits", cmd = "true", phase = "mian" }
"#,
    );
    let expected = [
        r#"ptest.lua:3: suite "a": depends_on: "b" is in the later phase "main" (phase "core" ends before it starts)"#,
        "ptest.lua:4: dependency cycle: b -> c -> b",
        r#"ptest.lua:6: suite "d": group: unknown group "fin" (declare it with ptest.group { name = "fin", ... })"#,
        r#"ptest.lua:6: suite "d": depends_on: unknown suite "deposit" (did you mean "deposits"?)"#,
        r#"ptest.lua:7: suite "a": duplicate name (first declared at ptest.lua:3)"#,
        r#"ptest.lua:8: suite "deposits": phase: unknown phase "mian" (did you mean "main"?)"#,
    ];
    assert_eq!(e.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn lua_syntax_and_runtime_errors_name_the_line() {
    assert_eq!(
        config_error("local x = \nfoo(").trim(),
        "ptest.lua:2: unexpected symbol near <eof>"
    );
    assert_eq!(
        config_error("local x = nil\nx.y = 1").trim(),
        "ptest.lua:2: attempt to index a nil value (local 'x')"
    );
}

#[test]
fn unknown_phase_without_declared_phases_is_an_error_not_a_panic() {
    // With no phase declared and no suite in `default`, there was no phase at all to fall
    // back on, and the slots check indexed an empty list.
    assert_eq!(
        config_error("ptest.suite { name = \"a\", cmd = \"true\", phase = \"nope\" }\n").trim(),
        r#"ptest.lua:1: suite "a": phase: unknown phase "nope" (declare it with ptest.phase { name = "nope", ... })"#
    );
    // An unknown phase must not count as the first phase in the later-phase check either.
    let e = config_error(
        r#"ptest.phase { name = "core" }
ptest.phase { name = "main" }
ptest.suite { name = "b", cmd = "true", phase = "main" }
ptest.suite { name = "a", cmd = "true", phase = "mian", depends_on = { "b" } }
"#,
    );
    assert_eq!(
        e.trim(),
        r#"ptest.lua:4: suite "a": phase: unknown phase "mian" (did you mean "main"?)"#
    );
}

#[test]
fn lua_errors_without_a_position_get_the_line_that_raised_them() {
    assert_eq!(
        config_error("local x = 1\nerror(\"boom\", 0)\n").trim(),
        "ptest.lua:2: boom"
    );
    assert_eq!(
        config_error("local function f()\n  error(\"deep\", 0)\nend\nf()\n").trim(),
        "ptest.lua:2: deep"
    );
    assert_eq!(
        config_error("\nerror({ code = 1 })\n").trim(),
        "ptest.lua:2: (error object is a table value)"
    );
    assert_eq!(
        config_error("error()\n").trim(),
        "ptest.lua:1: (error object is a nil value)"
    );
}

#[test]
fn a_phase_or_group_body_that_errors_names_it() {
    assert_eq!(
        config_error("ptest.phase(\"core\", function()\n  error(\"boom\")\nend)\n").trim(),
        r#"ptest.lua:2: phase "core": boom"#
    );
    assert_eq!(
        config_error(
            "ptest.group({ name = \"db\" }, function()\n  local t = nil\n  return t.x\nend)\n"
        )
        .trim(),
        r#"ptest.lua:3: group "db": attempt to index a nil value (local 't')"#
    );
    // Without a position from Lua, the innermost scope and the line that raised it.
    assert_eq!(
        config_error(
            "ptest.phase(\"core\", function()\n  ptest.group(\"db\", function()\n    error(\"boom\", 0)\n  end)\nend)\n"
        )
        .trim(),
        r#"ptest.lua:3: group "db": boom"#
    );
    // A constructor error inside a body keeps its own context.
    assert_eq!(
        config_error("ptest.phase(\"core\", function()\n  ptest.suite { name = \"x\", cmd = \"true\", cwdd = \".\" }\nend)\n")
            .trim(),
        r#"ptest.lua:2: suite "x": unknown field "cwdd" (did you mean "cwd"?)"#
    );
}

#[test]
fn errors_in_required_modules_name_the_module_relative_to_the_config() {
    let p = Project::new("local m = require(\"mods\")\nptest.phase { name = \"core\" }\nm.add()\n");
    p.file(
        "lua/mods.lua",
        "local M = {}\nfunction M.add()\n  ptest.suite { name = \"m\", cmd = \"true\", phase = \"cores\" }\nend\nreturn M\n",
    );
    let out = p.run(&["list"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert_eq!(
        out.stderr.trim(),
        r#"lua/mods.lua:3: suite "m": phase: unknown phase "cores" (did you mean "core"?)"#
    );

    let p = Project::new("\nrequire(\"broken\")\n");
    p.file("broken.lua", "local x =\n");
    let out = p.run(&["list"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "ptest.lua:2: error loading module 'broken' from file 'broken.lua':\n\tbroken.lua:2: unexpected symbol near <eof>"
    );
}

/// The first line of the error a config produces.
fn first(config: &str) -> String {
    config_error(config)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn unknown_fields_of_every_constructor() {
    let cases = [
        (
            "ptest.config { worker = 2 }",
            r#"ptest.lua:1: config: unknown field "worker" (did you mean "workers"?)"#,
        ),
        (
            "ptest.group { name = \"g\", mx = 2 }",
            // Too short to guess: the known fields instead.
            r#"ptest.lua:1: group "g": unknown field "mx" (known fields: name, max, env)"#,
        ),
        (
            "ptest.phase { name = \"p\", on_fail = \"stop\" }",
            r#"ptest.lua:1: phase "p": unknown field "on_fail" (did you mean "on_failure"?)"#,
        ),
        (
            "ptest.limiter { name = \"l\", rate = 1, brust = 2 }",
            r#"ptest.lua:1: limiter "l": unknown field "brust" (did you mean "burst"?)"#,
        ),
        (
            "ptest.retry { name = \"r\", attempt = 2 }",
            r#"ptest.lua:1: retry "r": unknown field "attempt" (did you mean "attempts"?)"#,
        ),
        (
            "ptest.retry { on = { exit_code = { 1 } } }",
            r#"ptest.lua:1: retry: on: unknown field "exit_code" (did you mean "exit_codes"?)"#,
        ),
        (
            "ptest.suite { name = \"s\", cmd = \"true\", zzz = 1 }",
            r#"ptest.lua:1: suite "s": unknown field "zzz" (known fields: name, cmd, description, category, tags, cwd, env, timeout, depends_on, needs, group, phase, limiter, retry, slots, serial, estimate, memory, enabled, select)"#,
        ),
        (
            "ptest.suite { \"s\", name = \"s\", cmd = \"true\" }",
            r#"ptest.lua:1: suite "s": fields are written name = value; found the key 1 (known fields: name, cmd, description, category, tags, cwd, env, timeout, depends_on, needs, group, phase, limiter, retry, slots, serial, estimate, memory, enabled, select)"#,
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(first(config), expected, "{config}");
    }
}

#[test]
fn wrong_types_say_what_was_expected_and_what_came() {
    let s = |fields: &str| format!("\nptest.suite {{ name = \"s\", cmd = \"true\", {fields} }}");
    let cases = [
        (
            s("description = 5"),
            "description: expected a string, got 5",
        ),
        (s("category = {}"), "category: expected a string, got table"),
        (
            s("tags = \"fast\""),
            "tags: expected an array of strings, got \"fast\"",
        ),
        (
            s("tags = { x = 1 }"),
            "tags: expected an array like { \"a\", \"b\" }, got a table with named keys",
        ),
        (s("tags = { {} }"), "tags[1]: expected a string, got table"),
        (s("cwd = true"), "cwd: expected a string, got boolean"),
        (
            s("env = \"A=1\""),
            "env: expected a table like { NAME = \"value\" }, got \"A=1\"",
        ),
        (s("env = { A = {} }"), "env.A: expected a string, got table"),
        (
            s("env = { \"x\" }"),
            "env: expected a table like { NAME = \"value\" }, found the key 1",
        ),
        (
            s("estimate = \"soon\""),
            "estimate: expected a duration like \"30s\" or a number of seconds, got \"soon\"",
        ),
        (
            s("timeout = -1"),
            "timeout: expected a duration like \"30s\" or a number of seconds, got -1",
        ),
        (
            s("depends_on = 5"),
            "depends_on: expected an array of suite handles or names, got 5",
        ),
        (
            s("depends_on = { x = \"a\" }"),
            "depends_on: expected an array like { \"build\", unit }, got a table with named keys",
        ),
        (
            s("depends_on = { true }"),
            "depends_on[1]: expected a suite handle or name, got boolean",
        ),
        (
            s("group = 1"),
            "group: expected a group handle or name, got 1",
        ),
        (
            s("phase = {}"),
            "phase: expected a phase handle or name, got table",
        ),
        (
            s("limiter = false"),
            "limiter: expected a limiter handle or name, got boolean",
        ),
        (
            s("retry = true"),
            "retry: expected a retry handle, name or number of extra attempts, got boolean",
        ),
        (
            s("retry = -1"),
            "retry: expected a retry policy or a number of extra attempts (0..1000), got -1",
        ),
        (
            s("retry = 1.5"),
            "retry: expected a retry policy or a number of extra attempts (0..1000), got 1.5",
        ),
        (s("slots = 0"), "slots: expected an integer >= 1, got 0"),
        (s("slots = 1.5"), "slots: expected an integer >= 1, got 1.5"),
        (
            s("slots = \"2\""),
            "slots: expected an integer >= 1, got \"2\"",
        ),
        (s("serial = 1"), "serial: expected true or false, got 1"),
        (
            s("enabled = \"no\""),
            "enabled: expected true or false, got \"no\"",
        ),
    ];
    for (config, expected) in &cases {
        assert_eq!(
            first(config),
            format!("ptest.lua:2: suite \"s\": {expected}"),
            "{config}"
        );
    }
    let cases = [
        (
            "ptest.suite { name = 5, cmd = \"true\" }",
            "ptest.lua:1: suite: name: expected a string, got 5",
        ),
        (
            "ptest.suite { cmd = \"true\" }",
            "ptest.lua:1: suite: name: missing (it is required)",
        ),
        (
            "ptest.suite { name = \" \", cmd = \"true\" }",
            "ptest.lua:1: suite: name: must not be empty",
        ),
        (
            "ptest.group { name = \"g\", max = 0 }",
            r#"ptest.lua:1: group "g": max: expected an integer >= 1, got 0"#,
        ),
        (
            "ptest.group { name = \"g\", env = 1 }",
            r#"ptest.lua:1: group "g": env: expected a table like { NAME = "value" }, got 1"#,
        ),
        (
            "ptest.phase { name = \"p\", enabled = \"yes\" }",
            r#"ptest.lua:1: phase "p": enabled: expected true or false, got "yes""#,
        ),
        (
            "ptest.phase { name = \"p\", on_failure = \"contine\" }",
            r#"ptest.lua:1: phase "p": on_failure: expected "stop" or "continue", got "contine" (did you mean "continue"?)"#,
        ),
        (
            "ptest.phase { name = \"p\", always = 1 }",
            r#"ptest.lua:1: phase "p": always: expected true or false, got 1"#,
        ),
        (
            "ptest.limiter { name = \"l\" }",
            r#"ptest.lua:1: limiter "l": rate: missing (it is required): tokens per `per`, e.g. rate = 10"#,
        ),
        (
            "ptest.limiter { name = \"l\", rate = 0 }",
            r#"ptest.lua:1: limiter "l": rate: expected a number above 0, got 0"#,
        ),
        (
            "ptest.limiter { name = \"l\", rate = 1, per = 0 }",
            r#"ptest.lua:1: limiter "l": per: must be longer than 0s"#,
        ),
        (
            "ptest.limiter { name = \"l\", rate = 1, burst = 0 }",
            r#"ptest.lua:1: limiter "l": burst: expected an integer >= 1, got 0"#,
        ),
        (
            "ptest.limiter { name = \"l\", rate = 1, concurrency = \"4\" }",
            r#"ptest.lua:1: limiter "l": concurrency: expected an integer >= 1, got "4""#,
        ),
        (
            "ptest.retry { attempts = 0 }",
            "ptest.lua:1: retry: attempts: expected an integer >= 1, got 0",
        ),
        (
            "ptest.retry { factor = 0.5 }",
            "ptest.lua:1: retry: factor: expected a number >= 1, got 0.5",
        ),
        (
            "ptest.retry { delay = \"later\" }",
            "ptest.lua:1: retry: delay: expected a duration like \"30s\" or a number of seconds, got \"later\"",
        ),
        (
            "ptest.retry { jitter = \"yes\" }",
            "ptest.lua:1: retry: jitter: expected true or false, got \"yes\"",
        ),
        (
            "ptest.retry { on = 75 }",
            "ptest.lua:1: retry: on: expected a table like { exit_codes = { 75 } }, got 75",
        ),
        (
            "ptest.retry { on = { exit_codes = { \"x\" } } }",
            "ptest.lua:1: retry: on.exit_codes: expected integers, got \"x\"",
        ),
        (
            "ptest.retry { when = true }",
            "ptest.lua:1: retry: when: expected function(result) returning true to retry, got boolean",
        ),
        (
            "ptest.config { fail_fast = \"yes\" }",
            "ptest.lua:1: config: fail_fast: expected true or false, got \"yes\"",
        ),
        (
            "ptest.config { log_dir = \"\" }",
            "ptest.lua:1: config: log_dir: must not be empty",
        ),
        (
            "ptest.config { grace = {} }",
            "ptest.lua:1: config: grace: expected a duration like \"30s\" or a number of seconds, got table",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(first(config), expected, "{config}");
    }
}

#[test]
fn retry_on_and_when_together_is_an_error() {
    assert_eq!(
        first(
            "ptest.retry { name = \"r\", on = { exit_codes = { 1 } }, when = function() return true end }"
        ),
        r#"ptest.lua:1: retry "r": when: give either `on` or `when`, not both (a `when` function can test anything `on` can)"#
    );
}

#[test]
fn duplicate_names_of_every_kind() {
    let e = config_error(
        r#"ptest.group { name = "g" }
ptest.group { name = "g" }
ptest.limiter { name = "l", rate = 1 }
ptest.limiter { name = "l", rate = 1 }
ptest.retry { name = "r" }
ptest.retry { name = "r" }
ptest.phase { name = "p" }
ptest.phase { name = "p" }
ptest.suite { name = "s", cmd = "true" }
ptest.suite { name = "s", cmd = "true" }
ptest.retry { }
ptest.retry { }
"#,
    );
    assert_eq!(
        e.lines().collect::<Vec<_>>(),
        [
            r#"ptest.lua:2: group "g": duplicate name (first declared at ptest.lua:1)"#,
            r#"ptest.lua:4: limiter "l": duplicate name (first declared at ptest.lua:3)"#,
            r#"ptest.lua:6: retry "r": duplicate name (first declared at ptest.lua:5)"#,
            r#"ptest.lua:8: phase "p": duplicate name (first declared at ptest.lua:7)"#,
            r#"ptest.lua:10: suite "s": duplicate name (first declared at ptest.lua:9)"#,
        ]
    );
}

#[test]
fn unknown_references_of_every_kind_with_suggestions() {
    let e = config_error(
        r#"ptest.limiter { name = "api", rate = 1 }
ptest.retry { name = "backoff" }
ptest.group { name = "db" }
ptest.phase { name = "core" }
ptest.suite { name = "build", cmd = "true", phase = "core" }
ptest.suite { name = "s", cmd = "true", limiter = "apii", retry = "bakoff", group = "dbb",
              phase = "cor", depends_on = { "biuld" } }
"#,
    );
    assert_eq!(
        e.lines().collect::<Vec<_>>(),
        [
            r#"ptest.lua:6: suite "s": phase: unknown phase "cor" (did you mean "core"?)"#,
            r#"ptest.lua:6: suite "s": group: unknown group "dbb" (did you mean "db"?)"#,
            r#"ptest.lua:6: suite "s": limiter: unknown limiter "apii" (did you mean "api"?)"#,
            r#"ptest.lua:6: suite "s": retry: unknown retry "bakoff" (did you mean "backoff"?)"#,
            r#"ptest.lua:6: suite "s": depends_on: unknown suite "biuld" (did you mean "build"?)"#,
        ]
    );
    // Nothing declared of that kind: say how to declare it.
    assert_eq!(
        config_error(
            "ptest.suite { name = \"s\", cmd = \"true\", limiter = \"api\", retry = \"r\" }"
        )
        .lines()
        .collect::<Vec<_>>(),
        [
            r#"ptest.lua:1: suite "s": limiter: unknown limiter "api" (declare it with ptest.limiter { name = "api", ... })"#,
            r#"ptest.lua:1: suite "s": retry: unknown retry "r" (declare it with ptest.retry { name = "r", ... })"#,
        ]
    );
}

#[test]
fn cycles_print_as_a_path() {
    assert_eq!(
        config_error(
            r#"ptest.suite { name = "a", cmd = "true", depends_on = { "b" } }
ptest.suite { name = "b", cmd = "true", depends_on = { "c" } }
ptest.suite { name = "c", cmd = "true", depends_on = { "a" } }
ptest.suite { name = "d", cmd = "true", depends_on = "d" }
ptest.suite { name = "e", cmd = "true", depends_on = { "a" } }
"#
        )
        .lines()
        .collect::<Vec<_>>(),
        [
            "ptest.lua:1: dependency cycle: a -> b -> c -> a",
            "ptest.lua:4: dependency cycle: d -> d",
        ]
    );
    // Through handles too; the path starts at the suite declared first.
    assert_eq!(
        config_error(
            r#"local x = ptest.suite { name = "x", cmd = "true" }
local y = ptest.suite { name = "y", cmd = "true", depends_on = { x } }
ptest.suite { name = "z", cmd = "true", depends_on = { y, "w" } }
ptest.suite { name = "w", cmd = "true", depends_on = { "z" } }
"#
        )
        .trim(),
        "ptest.lua:3: dependency cycle: z -> w -> z"
    );
}

#[test]
fn dependency_on_a_later_phase() {
    assert_eq!(
        config_error(
            r#"local core = ptest.phase { name = "core" }
local main = ptest.phase { name = "main" }
local late = ptest.suite { name = "late", cmd = "true", phase = main }
ptest.suite { name = "early", cmd = "true", phase = core, depends_on = { late } }
"#
        )
        .trim(),
        r#"ptest.lua:4: suite "early": depends_on: "late" is in the later phase "main" (phase "core" ends before it starts)"#
    );
    // The implicit default phase runs first, so it cannot wait for a declared phase.
    assert_eq!(
        config_error(
            "ptest.phase { name = \"core\" }\nptest.suite { name = \"c\", cmd = \"true\", phase = \"core\" }\nptest.suite { name = \"d\", cmd = \"true\", depends_on = { \"c\" } }\n"
        )
        .trim(),
        r#"ptest.lua:3: suite "d": depends_on: "c" is in the later phase "core" (phase "default" ends before it starts)"#
    );
}

#[test]
fn empty_and_missing_commands() {
    let cases = [
        ("cmd = \"\"", "cmd: empty command"),
        ("cmd = \"   \"", "cmd: empty command"),
        ("cmd = {}", "cmd: empty command"),
        ("cmd = { \"\" }", "cmd: empty command"),
        (
            "cmd = { \"a\", {} }",
            "cmd[2]: expected a string, got table",
        ),
        (
            "cmd = { a = \"b\" }",
            "cmd: expected a string or an array like { \"pytest\", \"-x\" }, got a table with named keys",
        ),
        (
            "cmd = 5",
            "cmd: expected a string or an array like { \"pytest\", \"-x\" }, got 5",
        ),
        (
            "cwd = \".\"",
            "cmd: missing (it is required): a string run by sh -c, or an array like { \"pytest\", \"-x\" }",
        ),
    ];
    for (fields, expected) in cases {
        assert_eq!(
            first(&format!("ptest.suite {{ name = \"s\", {fields} }}")),
            format!("ptest.lua:1: suite \"s\": {expected}"),
            "{fields}"
        );
    }
}

#[test]
fn worker_counts_that_are_not_positive_integers() {
    let cases = [
        (
            "ptest.config { workers = 0 }",
            "config: workers: expected a positive integer, \"auto\" or function(sys) returning one, got 0",
        ),
        (
            "ptest.config { workers = 2.5 }",
            "config: workers: expected a positive integer, \"auto\" or function(sys) returning one, got 2.5",
        ),
        (
            "ptest.config { workers = \"many\" }",
            "config: workers: expected a positive integer, \"auto\" or function(sys) returning one, got \"many\"",
        ),
        (
            "ptest.phase { name = \"p\", workers = -1 }",
            "phase \"p\": workers: expected a positive integer, \"auto\" or function(sys) returning one, got -1",
        ),
        (
            "ptest.config { workers = function(sys) return 0 end }",
            "config: workers: the function returned 0, expected a positive integer (wrap it in math.max(1, ...))",
        ),
        (
            "ptest.config { workers = function(sys) return sys.cpus / 3 + 0.5 end }",
            "", // checked below: the value depends on the machine
        ),
        (
            "ptest.phase { name = \"p\", workers = function(sys) return \"4\" end }",
            "phase \"p\": workers: the function returned \"4\", expected a positive integer",
        ),
        (
            "ptest.config { workers = function(sys) end }",
            "config: workers: the function returned nil, expected a positive integer",
        ),
        (
            "ptest.config { workers = function(sys) error(\"no machine\") end }",
            "config: workers: the function raised an error: ptest.lua:1: no machine",
        ),
        (
            "ptest.config { workers = function(sys) return sys.gpu.count end }",
            "config: workers: the function raised an error: ptest.lua:1: attempt to index a nil value (field 'gpu')",
        ),
    ];
    for (config, expected) in cases {
        let got = first(config);
        if expected.is_empty() {
            assert!(
                got.starts_with("ptest.lua:1: config: workers: the function returned ")
                    && got.ends_with(", expected a positive integer (round it with math.floor)"),
                "{got}"
            );
        } else {
            assert_eq!(got, format!("ptest.lua:1: {expected}"), "{config}");
        }
    }
}

#[test]
fn handles_of_the_wrong_kind() {
    let pre = "local g = ptest.group { name = \"g\" }\nlocal l = ptest.limiter { name = \"l\", rate = 1 }\nlocal r = ptest.retry { name = \"r\" }\nlocal p = ptest.phase { name = \"p\" }\n";
    let cases = [
        (
            "phase = g",
            "phase: expected a phase handle or name, got group \"g\"",
        ),
        (
            "group = l",
            "group: expected a group handle or name, got limiter \"l\"",
        ),
        (
            "limiter = r",
            "limiter: expected a limiter handle or name, got retry \"r\"",
        ),
        (
            "retry = p",
            "retry: expected a retry handle or name, got phase \"p\"",
        ),
        (
            "depends_on = g",
            "depends_on: expected suite handles or names, got group \"g\"",
        ),
        (
            "depends_on = { \"x\", p }",
            "depends_on[2]: expected a suite handle or name, got phase \"p\"",
        ),
        (
            "group = ptest.retry { }",
            "group: expected a group handle or name, got retry #2",
        ),
    ];
    for (field, expected) in cases {
        assert_eq!(
            first(&format!(
                "{pre}ptest.suite {{ name = \"s\", cmd = \"true\", {field} }}"
            )),
            format!("ptest.lua:5: suite \"s\": {expected}"),
            "{field}"
        );
    }
    assert_eq!(
        first(&format!("{pre}ptest.phase(g, function() end)")),
        r#"ptest.lua:5: phase: expected ptest.phase { name = "..." } or ptest.phase(name, function() ... end), got group "g""#
    );
    assert_eq!(
        first(&format!("{pre}ptest.group(l, function() end)")),
        r#"ptest.lua:5: group: expected ptest.group { name = "..." } or ptest.group(name, function() ... end), got limiter "l""#
    );
}

#[test]
fn slots_above_a_literal_worker_count() {
    assert_eq!(
        first(
            "ptest.config { workers = 2 }\nptest.suite { name = \"s\", cmd = \"true\", slots = 3 }"
        ),
        r#"ptest.lua:2: suite "s": slots: 3 is more than the 2 workers of phase "default" (lower slots, or raise workers)"#
    );
    // The phase's count is the one that matters, and ptest.config may come later.
    assert_eq!(
        first(
            "ptest.phase { name = \"p\", workers = 4 }\nptest.suite { name = \"s\", cmd = \"true\", slots = 5, phase = \"p\" }\nptest.config { workers = 8 }"
        ),
        r#"ptest.lua:2: suite "s": slots: 5 is more than the 4 workers of phase "p" (lower slots, or raise workers)"#
    );
}

#[test]
fn non_table_arguments_to_constructors() {
    let cases = [
        (
            "ptest.suite \"x\"",
            r#"suite: expected one table like ptest.suite { name = "..." }, got "x""#,
        ),
        (
            "ptest.suite()",
            r#"suite: expected one table like ptest.suite { name = "..." }, got nothing"#,
        ),
        (
            "ptest.suite({ name = \"a\", cmd = \"b\" }, 2)",
            r#"suite: expected one table like ptest.suite { name = "..." }, got more than one argument"#,
        ),
        (
            "ptest.limiter(5)",
            r#"limiter: expected one table like ptest.limiter { name = "..." }, got 5"#,
        ),
        (
            "ptest.retry(true)",
            r#"retry: expected one table like ptest.retry { name = "..." }, got boolean"#,
        ),
        (
            "ptest.config \"fast\"",
            r#"config: expected one table like ptest.config { workers = 4 }, got "fast""#,
        ),
        (
            "ptest.group(5)",
            r#"group: expected ptest.group { name = "..." } or ptest.group(name, function() ... end), got 5"#,
        ),
        (
            "ptest.phase(\"p\")",
            r#"phase: expected ptest.phase { name = "..." } or ptest.phase(name, function() ... end), got "p""#,
        ),
        (
            "ptest.phase(\"p\", 5)",
            "phase: the second argument must be a function that declares suites, got 5",
        ),
        (
            "ptest.group(\"g\", function() end, 1)",
            "group: expected ptest.group { ... } or ptest.group(name, function() ... end), got more arguments",
        ),
        (
            "ptest.glob(5)",
            r#"glob: expected a pattern like "tests/test_*.py", got 5"#,
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(
            first(config),
            format!("ptest.lua:1: {expected}"),
            "{config}"
        );
    }
}

#[test]
fn hooks_with_unknown_events_or_no_function() {
    assert_eq!(
        first("ptest.on(\"suite_finish\", function() end)"),
        r#"ptest.lua:1: on: unknown event "suite_finish" (did you mean "suite_finished"?)"#
    );
    assert_eq!(
        first("ptest.on(\"bogus\", function() end)"),
        r#"ptest.lua:1: on: unknown event "bogus" (events: run_started, suite_started, suite_finished, run_finished)"#
    );
    assert_eq!(
        first("ptest.on(\"run_started\", 5)"),
        "ptest.lua:1: on: run_started: expected a function, got 5"
    );
    assert_eq!(
        first("ptest.on(nil, print)"),
        "ptest.lua:1: on: expected an event name (run_started, suite_started, suite_finished, run_finished), got nil"
    );
}

#[test]
fn os_exit_is_an_error() {
    assert_eq!(
        first("ptest.suite { name = \"a\", cmd = \"true\" }\nos.exit(3)"),
        r#"ptest.lua:2: os.exit(3) called; ptest.lua cannot end ptest (raise an error with error("...") instead)"#
    );
    assert_eq!(
        first("if true then\n  os.exit()\nend"),
        r#"ptest.lua:2: os.exit(0) called; ptest.lua cannot end ptest (raise an error with error("...") instead)"#
    );
}

#[test]
fn handles_are_read_only() {
    assert_eq!(
        first("local g = ptest.group { name = \"g\" }\ng.max = 3"),
        r#"ptest.lua:2: group "g" is read-only (tried to set max)"#
    );
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    let p = Project::new("");
    let out = p.run(&["list", "nope.lua"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert_eq!(
        out.stderr.trim(),
        "error: cannot read nope.lua: No such file or directory (give the path of a ptest.lua, or run ptest in its folder)"
    );
}

#[test]
fn nul_bytes_and_bad_variable_names_are_config_errors() {
    let cases = [
        (
            r#"ptest.suite { name = "s", cmd = "echo a\0b" }"#,
            r#"ptest.lua:1: suite "s": cmd: contains a NUL byte, which no command line can carry"#,
        ),
        (
            r#"ptest.suite { name = "s", cmd = { "echo", "a\0" } }"#,
            r#"ptest.lua:1: suite "s": cmd: contains a NUL byte, which no command line can carry"#,
        ),
        (
            r#"ptest.suite { name = "s", cmd = "true", env = { X = "a\0" } }"#,
            r#"ptest.lua:1: suite "s": env.X: contains a NUL byte, which no environment can carry"#,
        ),
        (
            r#"ptest.group { name = "g", env = { ["A=B"] = "x" } }"#,
            r#"ptest.lua:1: group "g": env: "A=B" cannot be a variable name (empty, or with '=' or a NUL byte)"#,
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(config_error(config).trim_end(), expected, "{config}");
    }
}
