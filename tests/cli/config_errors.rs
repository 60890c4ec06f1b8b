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
