//! What a config cannot do to ptest while it is evaluated (issue 25 item 9): running Lua out of
//! memory is a config error naming the line, not an abort.

use crate::harness::{Project, run};

#[test]
fn a_config_that_allocates_without_end_gets_a_config_error_at_its_line() {
    let p = Project::new(
        r#"ptest.suite { name = "a", cmd = "true" }
local kept = {}
for i = 1, 1e9 do
  kept[i] = ("x"):rep(1e7) .. i
end
"#,
    );
    // Under an address-space limit of 3 GB (Lua's own limit is 1 GB): before, the allocation
    // that failed aborted ptest (exit 134, "memory allocation of N bytes failed"); without
    // the ulimit it took all the machine's memory first.
    let bin =
        std::env::var_os("PTEST_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_ptest").into());
    let mut sh = std::process::Command::new("sh");
    sh.current_dir(p.path())
        .env("PTEST_BIN", bin)
        .args(["-c", "ulimit -v 3000000 && exec \"$PTEST_BIN\" list"]);
    let out = run(&mut sh);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        "ptest.lua:4: out of memory: the config's Lua may hold at most 1024 MB (does a loop never end?)"
    );
}
