//! Every class of bad input (DESIGN §7) with its exact message and exit code 2.

use crate::harness::config_error;

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
