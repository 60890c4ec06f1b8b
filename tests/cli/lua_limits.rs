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

#[test]
fn a_fifo_where_a_preset_reads_settings_does_not_hang_it() {
    let p = Project::new(r#"require("ptest.presets.pytest").batch { name = "py" }"#);
    p.file("tests/test_a.py", "def test_a():\n    pass\n");
    p.file("setup.cfg", "[tool:pytest]\ntestpaths = tests\n");
    for name in ["pytest.ini", "conftest.py", "tox.ini"] {
        let c = std::ffi::CString::new(p.join(name).to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo touches no memory of ours.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }
    // Lua's io.open waited forever for a writer to open the FIFO.
    let mut child = crate::probe::spawn(&p, &["list"]);
    let code = crate::probe::wait_exit(&mut child, std::time::Duration::from_secs(60));
    let stderr = std::fs::read_to_string(p.join("stderr.txt")).unwrap();
    assert_eq!(code, 0, "{stderr}");
    let stdout = std::fs::read_to_string(p.join("stdout.txt")).unwrap();
    assert!(stdout.contains("tests/test_a.py"), "{stdout}");
}
