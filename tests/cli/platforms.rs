//! The platform switch (DESIGN §13): `PTEST_PLATFORM=posix` really selects the portable path on
//! Linux, the one macOS takes, and both stop a daemon that left its suite's group.

use crate::harness::Project;

/// A suite starts a daemon that leaves its group and session, and records, once orphaned, who its
/// parent became; ptest must still stop it at the end of the run. Returns the daemon's parent's
/// pid, ptest's pid (the parent of a suite's shell), and whether the daemon is still alive.
///
/// Pids, not names: under an outer ptest (ptest running its own tests) the portable path's
/// orphan goes to the outer ptest, the nearest child subreaper, which is also named `ptest`.
fn orphan_parent(platform: &str) -> (String, String, bool) {
    let p = Project::new(
        r#"
ptest.suite {
  name = "orphan",
  cmd = "setsid sh -c 'echo $$ > daemon.pid; sleep 0.4; "
     .. "cut -d\" \" -f4 /proc/$$/stat > parent.txt; exec sleep 300' "
     .. "> /dev/null 2>&1 &",
}
ptest.suite { name = "keeps-the-run-going", cmd = "echo $PPID > ptest.pid; sleep 1.5" }
"#,
    );
    let out = p.run_env(
        &["-q", "-j", "2", "ptest.lua"],
        &[("PTEST_PLATFORM", platform)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let read = |file: &str| {
        std::fs::read_to_string(p.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .trim()
            .to_owned()
    };
    let daemon = read("daemon.pid");
    let alive = std::fs::read_to_string(format!("/proc/{daemon}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "));
    (read("parent.txt"), read("ptest.pid"), alive)
}

#[test]
fn the_linux_path_adopts_orphans_and_the_portable_one_does_not() {
    // Linux's path: ptest is the child subreaper, so the orphan is reparented to it.
    let (parent, ptest, alive) = orphan_parent("linux");
    assert_eq!(parent, ptest, "reparented to ptest on the Linux path");
    assert!(!alive, "the daemon was stopped at the end of the run");
    // The portable path has no subreaper, as on macOS: the orphan goes elsewhere, and ptest
    // still finds it by the run's id in its environment.
    let (parent, ptest, alive) = orphan_parent("posix");
    assert_ne!(
        parent, ptest,
        "not reparented to ptest on the portable path"
    );
    assert!(!alive, "the daemon was stopped at the end of the run");
}
