//! What no config can do to ptest while it is evaluated: hold more references than mlua has
//! room for, take all the machine's memory, or recurse without end. Each ends in a config
//! error naming `ptest.lua:LINE`, never an abort or a wrong message.

use crate::plan::tests::Fixture;

#[test]
fn a_batch_of_more_than_a_million_items_is_read_whole() {
    // Each item held as a Lua value at once took a slot of mlua's reference stack, which ends
    // near 1,000,000: the overflow was swallowed into "got a table with named keys".
    let f = Fixture::new(
        r#"
local items = {}
for i = 1, 1100000 do items[i] = "t" .. i end
ptest.batch { name = "b", items = items, cmd = { "true", "{items}" } }
"#,
    );
    let decls = f.declarations().expect("evaluates");
    let batch = decls.suites[0].batch.as_ref().expect("a batch");
    assert_eq!(batch.items.len(), 1_100_000);
    assert_eq!(batch.items[1_099_999], "t1100000");
}

/// The config's error with Lua's memory limited to 32 MB.
fn within_32_mb(config: &str) -> String {
    Fixture::new(config)
        .declarations_within(32 << 20)
        .expect_err("runs out of memory")
}

#[test]
fn running_out_of_memory_is_a_config_error_at_the_line() {
    let err = within_32_mb(
        r#"ptest.suite { name = "a", cmd = "true" }
local t = {}
for i = 1, 1e9 do
  t[i] = ("x"):rep(1000) .. i
end
"#,
    );
    assert_eq!(
        err,
        "ptest.lua:4: out of memory: the config's Lua may hold at most 32 MB (does a loop never end?)"
    );
}

#[test]
fn out_of_memory_inside_ptest_s_own_functions_and_modules_names_the_line_too() {
    let f = Fixture::new(
        r#"local grow = require("grow")
grow()
"#,
    );
    std::fs::write(
        f.root().join("grow.lua"),
        "return function()\n  local names = {}\n  while true do\n    names[#names + 1] = ptest.glob(\"*\")\n    names[#names + 1] = (\"y\"):rep(4096)\n  end\nend\n",
    )
    .unwrap();
    let err = f.declarations_within(32 << 20).expect_err("runs out");
    assert!(
        err.starts_with("grow.lua:") && err.contains(": out of memory: "),
        "{err}"
    );
}

#[test]
fn a_memory_error_caught_by_pcall_and_raised_again_is_still_out_of_memory() {
    let err = within_32_mb(
        r#"local ok, why = pcall(function()
  local t = {}
  while true do t[#t + 1] = ("z"):rep(512) .. #t end
end)
error(why)
"#,
    );
    assert!(err.contains(": out of memory: "), "{err}");
}

#[test]
fn recursion_without_end_is_a_config_error_at_the_line() {
    for (config, text) in [
        (
            "local function f(n) return f(n + 1) + 1 end\nf(1)\n",
            "ptest.lua:1: stack overflow",
        ),
        (
            "local t = setmetatable({}, { __index = function(t, k) return t[k .. \"x\"] end })\nlocal _ = t.a\n",
            "ptest.lua:1: C stack overflow",
        ),
        (
            "local function f() return ptest.glob(f()) end\nf()\n",
            "ptest.lua:1: stack overflow",
        ),
    ] {
        let err = Fixture::new(config).declarations().expect_err("overflows");
        assert!(err.starts_with(text), "{err}");
    }
}

#[test]
fn a_config_deep_in_long_folders_is_named_whole_in_its_errors() {
    // Lua names a file of more than 60 bytes "...TAIL" in its messages; the error names the
    // file as given, whatever the depth of the folder it is in.
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("a-folder-name-long-enough".repeat(4));
    std::fs::create_dir(&dir).expect("mkdir");
    let path = dir.join("ptest.lua");
    let ctx = crate::lua::EvalContext {
        sys: crate::sys::Sys {
            cpus: 2,
            cpu_quota: None,
            ci: None,
            os: "linux",
            arch: "x86_64",
        },
        profile: None,
        vars: Vec::new(),
        select: crate::settings::TestSelection::default(),
    };
    for (config, memory, text) in [
        (
            "local function f(n) return f(n + 1) + 1 end\nf(1)\n",
            crate::lua::LUA_MEMORY_LIMIT,
            ":1: stack overflow",
        ),
        ("error('no')\n", crate::lua::LUA_MEMORY_LIMIT, ":1: no"),
        (
            "local t = {}\nfor i = 1, 1e9 do\n  t[i] = (\"x\"):rep(1000) .. i\nend\n",
            32 << 20,
            ":3: out of memory",
        ),
    ] {
        std::fs::write(&path, config).expect("write ptest.lua");
        let err = match crate::lua::evaluate_within(&path, &ctx, memory) {
            Ok(_) => panic!("{config} evaluates"),
            Err(e) => e.to_string(),
        };
        let whole = format!("{}{text}", path.display());
        assert!(err.starts_with(&whole), "{err}\nshould start with {whole}");
    }
}
