//! Reliability under load (issue 4), the parts quick enough for every `cargo test`: hundreds of
//! suites at once under a small open-file limit, suite names that are not file names, and a
//! suite that closes its output early. The full-size cases (1,000 timeouts, -j256 without a
//! lowered limit) are in `tests/bench/reliability.py`.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use crate::harness::Project;
use crate::probe::{Probed, status};

#[test]
fn hundreds_of_suites_at_once_under_a_small_open_file_limit() {
    const N: usize = 256;
    // Each suite waits at a barrier until all have started (so all N are known to run at once,
    // where a sleep only made it likely: on a loaded machine the first could end before the
    // last started), then runs the probe.
    let p = Probed::new(&format!(
        "for i = 1, {N} do ptest.suite {{ name = 's' .. i, cmd = \"sh barrier.sh s\" .. i .. \" && \" .. probe('s' .. i, 0.2) }} end\n"
    ));
    p.p.file("barrier.sh", ": > \"started/$1\"; read -r _ < go\n");
    crate::verbose_fds::make_fifo(p.p.path());
    // A hard limit of 64 descriptors: ptest may hold none per running suite.
    let mut child = Command::new("sh")
        .current_dir(p.p.path())
        .env_remove("CI")
        .env_remove("PTEST_WORKERS")
        .args(["-c", "ulimit -n 64 && exec \"$0\" -q -j 256 ptest.lua"])
        .arg(
            std::env::var_os("PTEST_TEST_BIN")
                .unwrap_or_else(|| env!("CARGO_BIN_EXE_ptest").into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    crate::verbose_fds::release_together(
        p.p.path(),
        N,
        || {},
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.unwrap().code(), Some(0), "{stderr}");
    let spans = p.spans();
    let names: Vec<String> = (1..=N).map(|i| format!("s{i}")).collect();
    assert!(names.iter().all(|n| spans.ran(n)), "every suite ran");
    spans.assert_workers_exclusive(256);
    spans.assert_no_process_left();
    let r = p.report();
    assert_eq!(r["summary"]["passed"], N);
}

#[test]
fn names_that_are_not_file_names_get_distinct_safe_logs_inside_the_log_folder() {
    let names = [
        "a/b",
        "a_b",
        "..",
        "../../escape",
        "/abs/path",
        "with space",
        "ünïcödé",
        "ünïcödé?",
        "tab\there",
    ];
    let lua_names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let p = Project::new(&format!(
        "for _, n in ipairs({{ {} }}) do ptest.suite {{ name = n, cmd = 'echo \"$PTEST_SUITE\"' }} end\n",
        lua_names.join(", ")
    ));
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("deep/logs");
    let out = p.run(&["-q", "--log-dir", logs.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let r = crate::probe::report_at(&logs.join("test-report.json"));
    let mut files = BTreeSet::new();
    for name in names {
        assert_eq!(status(&r, name), "passed", "{name}");
        let suite = crate::probe::suite(&r, name);
        let log = std::path::PathBuf::from(suite["log_file"].as_str().unwrap());
        assert_eq!(
            log.parent(),
            Some(logs.as_path()),
            "{name}: {}",
            log.display()
        );
        let file = log.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            file.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{file}"
        );
        assert!(file != "." && file != "..", "{file}");
        // Each log holds its own suite's output.
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.ends_with(&format!("===\n{name}\n")), "{name}: {text}");
        files.insert(file);
    }
    assert_eq!(files.len(), names.len(), "{files:?}");
    // Nothing was written beside or above the log folder.
    let around: Vec<_> = std::fs::read_dir(root.path().join("deep"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(around, ["logs"]);
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
}

#[test]
fn a_suite_that_closes_its_output_early_runs_to_its_end() {
    for verbose in [false, true] {
        let p = Project::new(
            r#"
ptest.suite {
  name = "closer",
  cmd = "echo before; exec >&- 2>&-; sleep 0.3; echo finished > after.txt",
}
ptest.suite { name = "other", cmd = "echo fine" }
"#,
        );
        let args: &[&str] = if verbose { &["-v"] } else { &[] };
        let out = p.run(args);
        assert_eq!(out.code, 0, "-v {verbose}: {}\n{}", out.stdout, out.stderr);
        // ptest waited for the process itself, not for its output to close.
        assert_eq!(
            std::fs::read_to_string(p.join("after.txt")).unwrap(),
            "finished\n"
        );
        let r = crate::probe::report_at(&p.join("test-logs/test-report.json"));
        assert_eq!(status(&r, "closer"), "passed");
        assert_eq!(
            std::fs::read_to_string(p.join("test-logs/closer.log")).unwrap(),
            "=== ptest: closer attempt 1/1 ===\nbefore\n"
        );
        if verbose {
            assert!(out.stdout.contains("closer"), "{}", out.stdout);
        }
    }
}
