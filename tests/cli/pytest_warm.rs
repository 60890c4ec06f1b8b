//! The pytest preset's warm start on real pytest: a zygote imports what the conftest files
//! import once and each part is a fork of it; a thread at import or a module that refuses turns
//! it off, said once; a zygote that dies is started once more, then the batch runs without it;
//! a test that fails in a fork is decided by a fresh process; a part stopped by its timeout
//! leaves no process behind.

use std::collections::BTreeSet;
use std::path::Path;

use crate::harness::Project;
use crate::pytest_preset::python;

/// Appends `NAME PID PPID WORKER` to `log.txt` when imported: which process imported it.
fn probe(name: &str) -> String {
    format!(
        "import os\nwith open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'log.txt'), 'a') as f:\n    f.write('{name} %d %d %s\\n' % (os.getpid(), os.getppid(), os.environ.get('PTEST_WORKER', '-')))\nPID = os.getpid()\n"
    )
}

/// A test file whose test records `test PID PPID WORKER` and checks `check` (Python).
fn test_file(check: &str) -> String {
    format!(
        "import os\ndef test_it():\n    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'log.txt'), 'a') as f:\n        f.write('test %d %d %s\\n' % (os.getpid(), os.getppid(), os.environ.get('PTEST_WORKER', '-')))\n    {check}\n"
    )
}

/// The lines of `log.txt` that start with `what`, as (pid, ppid).
fn records(p: &Project, what: &str) -> Vec<(u32, u32)> {
    std::fs::read_to_string(p.join("log.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split(' ');
            (w.next() == Some(what)).then(|| {
                (
                    w.next().unwrap().parse().unwrap(),
                    w.next().unwrap().parse().unwrap(),
                )
            })
        })
        .collect()
}

fn project(py: &Path, extra: &str, files: usize) -> Project {
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ name = \"unit\", python = \"{}\", paths = {{ \"tests\" }}, batches = {files}{extra} }}\n",
        py.display()
    ));
    for i in 1..=files {
        p.file(&format!("tests/test_{i}.py"), &test_file("pass"));
    }
    p
}

fn statuses(p: &Project) -> Vec<String> {
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let mut out: Vec<String> = r["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["testcases"].as_array().cloned().unwrap_or_default())
        .map(|c| format!("{} {}", c["file"], c["status"]))
        .collect();
    out.sort();
    out
}

#[cfg(target_os = "linux")]
fn alive(pid: u32) -> bool {
    // A zombie is gone for this purpose: it runs nothing.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn warm_parts_are_forks_of_one_process_that_imported_what_conftest_imports() {
    let Some(py) = python() else { return };
    let p = project(&py, "", 4);
    p.file(
        "slowmod.py",
        &format!("import time\ntime.sleep(0.5)\n{}", probe("slowmod")),
    )
    .file("tests/conftest.py", "import slowmod\n");
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let imports = records(&p, "slowmod");
    assert_eq!(
        imports.len(),
        1,
        "imported once, by the zygote: {imports:?}"
    );
    let zygote = imports[0].0;
    let tests = records(&p, "test");
    assert_eq!(tests.len(), 4, "{tests:?}");
    assert!(
        tests.iter().all(|&(_, ppid)| ppid == zygote),
        "every part is a fork of the zygote {zygote}: {tests:?}"
    );
    let parts: BTreeSet<u32> = tests.iter().map(|&(pid, _)| pid).collect();
    assert_eq!(parts.len(), 4, "a fork per part: {tests:?}");
    let log = std::fs::read_to_string(p.join("test-logs/unit_warm_.log")).unwrap();
    assert!(
        log.contains(
            "ptest: warm start: pytest, 0 plugins and 1 module that 1 conftest file import"
        ),
        "{log}"
    );
    let part = std::fs::read_to_string(p.join("test-logs/unit_1_.log")).unwrap();
    assert!(
        part.contains(&format!("this part is a fork of pid {zygote}")),
        "{part}"
    );
    assert!(!out.stdout.contains("warm start off"), "{}", out.stdout);
    #[cfg(target_os = "linux")]
    assert!(!alive(zygote), "the zygote is stopped with its batch");
    let warm = statuses(&p);
    assert_eq!(warm.len(), 4, "{warm:?}");

    // Off: each part imports for itself, with the same outcomes.
    for (args, env) in [
        (
            &["-j", "2", "--no-history"][..],
            &[("PTEST_PYTEST_WARM", "0")][..],
        ),
        (&["-j", "2", "--no-history", "--set", "x=1"][..], &[][..]),
    ] {
        std::fs::remove_file(p.join("log.txt")).unwrap();
        if env.is_empty() {
            std::fs::write(
                p.join("ptest.lua"),
                format!(
                    "require(\"ptest.presets.pytest\").batch {{ name = \"unit\", python = \"{}\", paths = {{ \"tests\" }}, batches = 4, warm = false }}\n",
                    py.display()
                ),
            )
            .unwrap();
        }
        let out = p.run_env(args, env);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        assert_eq!(records(&p, "slowmod").len(), 4, "{env:?}: once per part");
        assert_eq!(statuses(&p), warm);
    }
}

/// The imports a conftest's try block starts with are leading imports too (sympy's conftest
/// imports hypothesis in one, then sets its profile), and so are those after statements that
/// change nothing an import sees (networkx's conftest imports numpy in try blocks after its
/// hooks and fixtures): the zygote imports them. What a conftest imports after a statement that
/// may change what an import does (here it sets an environment variable) each part imports.
#[test]
fn a_conftests_imports_are_imported_once_up_to_a_statement_that_may_change_them() {
    let Some(py) = python() else { return };
    let p = project(&py, "", 4);
    p.file("slowmod.py", &probe("slowmod"))
        .file("later.py", &probe("later"))
        .file(
            "after.py",
            &format!(
                "import os\nassert os.environ.get('CONFIGURED') == '1'\n{}",
                probe("after")
            ),
        )
        .file(
            "tests/conftest.py",
            "import os\nimport pytest\ntry:\n    import slowmod\n    READY = slowmod.PID\nexcept ImportError:\n    READY = None\n\n\
             @pytest.fixture(autouse=True)\ndef ready():\n    return READY\n\n\
             class Helper:\n    NAME = 'h'\n    def name(self):\n        return self.NAME\n\n\
             try:\n    import later\n    HAS_LATER = True\nexcept ImportError:\n    HAS_LATER = False\n\
             collect_ignore = []\nif not HAS_LATER:\n    collect_ignore += ['test_1.py']\n\
             os.environ['CONFIGURED'] = '1'\nimport after\n",
        );
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let zygote = records(&p, "slowmod");
    assert_eq!(zygote.len(), 1, "imported once, by the zygote: {zygote:?}");
    let tests = records(&p, "test");
    assert!(
        tests.len() == 4 && tests.iter().all(|&(_, ppid)| ppid == zygote[0].0),
        "every part a fork of {zygote:?}: {tests:?}"
    );
    assert_eq!(
        records(&p, "later"),
        zygote,
        "after a fixture, a class and the try block: the zygote's"
    );
    // After the assignment to os.environ: each part's own.
    assert_eq!(records(&p, "after").len(), 4);
}

/// A warm batch's first parts wait for its zygote's imports, once per batch; the others are
/// forks of it. The fixed cost per part it learns is a fork's (the least of its parts'), not a
/// mean that spreads the zygote's imports over the parts; each part's log says where its start
/// went.
#[test]
fn a_warm_batch_learns_a_forks_start_as_its_fixed_cost_per_part() {
    let Some(py) = python() else { return };
    let p = project(&py, "", 4);
    p.file("slowmod.py", "import time\ntime.sleep(3)\n")
        .file("tests/conftest.py", "import slowmod\n");
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join(".ptest/history.json")).unwrap())
            .unwrap();
    let cost = history["suites"]["unit[]"]["runs"][0][2].as_f64().unwrap();
    // Two of the four parts waited 3 s for the zygote: a mean would be 1.5 s or more.
    assert!(
        cost < 1.2,
        "a fork's start, not the zygote's imports: {cost}"
    );
    let waited: Vec<String> = (1..=4)
        .map(|i| std::fs::read_to_string(p.join(&format!("test-logs/unit_{i}_.log"))).unwrap())
        .filter_map(|log| {
            log.lines()
                .find(|l| l.starts_with("ptest: this part's start: "))
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        waited.len(),
        4,
        "each part says where its start went: {waited:?}"
    );
    assert!(
        waited
            .iter()
            .all(|l| l.contains(" s waiting for its warm process, ")
                && l.contains(" s from the fork to pytest's session; ")
                && l.contains(" s collecting, first test ")),
        "{waited:?}"
    );
}

/// Linux shares the CPU between sessions (autogroups) before their processes: forks left in
/// the zygote's session split one share between all the parts running at once, and on a
/// machine busy with other sessions each part ran about twice as long as a fresh one.
#[test]
fn each_warm_part_runs_in_a_session_of_its_own_as_a_fresh_part_does() {
    let Some(py) = python() else { return };
    let p = project(&py, "", 3);
    p.file("slowmod.py", &probe("slowmod"))
        .file("tests/conftest.py", "import slowmod\n");
    for i in 1..=3 {
        p.file(
            &format!("tests/test_{i}.py"),
            &test_file(
                "open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'log.txt'), 'a').write('session %d %d\\n' % (os.getpid(), os.getsid(0)))",
            ),
        );
    }
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let zygote = records(&p, "slowmod")[0].0;
    let tests = records(&p, "test");
    assert!(
        tests.len() == 3 && tests.iter().all(|&(_, ppid)| ppid == zygote),
        "forks of the zygote {zygote}: {tests:?}"
    );
    let sessions = records(&p, "session");
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    assert!(
        sessions.iter().all(|&(pid, sid)| pid == sid),
        "each part leads its own session, not the zygote's ({zygote}): {sessions:?}"
    );
}

#[test]
fn a_constant_a_conftest_sets_on_sys_before_its_imports_is_set_in_the_zygote_too() {
    // As sympy's conftest: `sys._running_pytest = True`, then the package's imports. The
    // zygote sets it too and imports the package; a conftest below `paths` (not loaded by
    // every part) is left as before: what follows its assignment is imported by the parts.
    let Some(py) = python() else { return };
    let p = project(&py, "", 3);
    let needs_flag = |name: &str, flag: &str| {
        format!(
            "import sys
if not getattr(sys, '{flag}', False):
    raise ImportError('{name} imported before the flag')
{}",
            probe(name)
        )
    };
    p.file("pkgmod.py", &needs_flag("pkgmod", "_running_tests"))
        .file("submod.py", &needs_flag("submod", "_sub_flag"))
        .file(
            "tests/conftest.py",
            "import os
import sys

sys._running_tests = True  # type: ignore
import pkgmod
",
        )
        .file(
            "tests/sub/conftest.py",
            "import sys
sys._sub_flag = True
import submod
",
        )
        .file(
            "tests/sub/test_s.py",
            "def test_s():
    pass
",
        );
    for i in 1..=3 {
        p.file(
            &format!("tests/test_{i}.py"),
            &test_file(
                "import gc, sys, pkgmod; assert sys._running_tests; assert gc.get_freeze_count() > 0, 'the zygote froze its objects'",
            ),
        );
    }
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let imported = records(&p, "pkgmod");
    assert_eq!(
        imported.len(),
        1,
        "imported once, by the zygote: {imported:?}"
    );
    let zygote = imported[0].0;
    let tests = records(&p, "test");
    assert!(
        tests.len() == 3 && tests.iter().all(|&(_, ppid)| ppid == zygote),
        "forks of the zygote {zygote}: {tests:?}"
    );
    let sub = records(&p, "submod");
    assert!(
        !sub.is_empty() && sub.iter().all(|&(pid, _)| pid != zygote),
        "a conftest below `paths` is the parts' to run: {sub:?}"
    );
    let log = std::fs::read_to_string(p.join("test-logs/unit_warm_.log")).unwrap();
    assert!(
        log.contains("set first, as a conftest file does: sys._running_tests = True"),
        "{log}"
    );
    assert_eq!(statuses(&p).len(), 4);
}

#[test]
fn a_thread_started_at_import_turns_the_warm_start_off_once() {
    let Some(py) = python() else { return };
    let p = project(&py, "", 4);
    p.file(
        "threaded.py",
        &format!(
            "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,), name='poller', daemon=True).start()\n{}",
            probe("threaded")
        ),
    )
    .file("tests/conftest.py", "import threaded\n");
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches("warm start off").count(),
        1,
        "said once: {}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("warm start off (a thread runs after the imports (poller)"),
        "{}",
        out.stdout
    );
    let imports = records(&p, "threaded");
    assert_eq!(imports.len(), 5, "the zygote, then each part: {imports:?}");
    let zygote = imports[0].0;
    assert!(
        records(&p, "test").iter().all(|&(_, ppid)| ppid != zygote),
        "no part is a fork"
    );
}

#[test]
fn a_module_that_refuses_to_be_forked_is_never_forked() {
    let Some(py) = python() else { return };
    // Declared: the zygote refuses.
    let p = project(&py, "", 3);
    p.file(
        "guard.py",
        &format!("__ptest_fork_safe__ = False\n{}", probe("guard")),
    )
    .file("tests/conftest.py", "import guard\n");
    for i in 1..=3 {
        p.file(
            &format!("tests/test_{i}.py"),
            &test_file("import guard; assert guard.PID == os.getpid(), 'forked'"),
        );
    }
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("module guard says it must not be forked (__ptest_fork_safe__ = False)"),
        "{}",
        out.stdout
    );

    // Not declared: its tests fail in the forks, and a fresh process decides their outcome.
    let p = project(&py, "", 3);
    p.file("fragile.py", &probe("fragile"))
        .file("tests/conftest.py", "import fragile\n");
    for i in 1..=3 {
        p.file(
            &format!("tests/test_{i}.py"),
            &test_file("import fragile; assert fragile.PID == os.getpid(), 'forked'"),
        );
    }
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        statuses(&p).iter().all(|s| s.ends_with("\"passed\"")),
        "{:?}",
        statuses(&p)
    );
    let part = std::fs::read_to_string(p.join("test-logs/unit_1_.log")).unwrap();
    assert!(
        part.contains("running it again in a fresh process, whose outcome counts")
            && part.contains("1 test of them had another outcome in the fork"),
        "{part}"
    );
}

#[test]
fn a_zygote_that_dies_is_started_once_more_then_the_batch_runs_without_it() {
    let Some(py) = python() else { return };
    let p = project(&py, "", 4);
    // Dies in the zygote (no PTEST_WORKER), never in a part.
    p.file(
        "boom.py",
        &format!(
            "{}import os\nif 'PTEST_WORKER' not in os.environ:\n    os._exit(9)\n",
            probe("boom")
        ),
    )
    .file("tests/conftest.py", "import boom\n");
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let zygotes = records(&p, "boom")
        .into_iter()
        .filter(|&(pid, _)| records(&p, "test").iter().all(|&(t, _)| t != pid))
        .count();
    assert_eq!(zygotes, 2, "started twice: {:?}", records(&p, "boom"));
    assert!(
        out.stdout
            .contains("its warm process exited with 9; starting it once more"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "its warm process exited with 9 again: the batch's parts start fresh processes"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(statuses(&p).len(), 4);
}

#[test]
#[cfg(target_os = "linux")]
fn a_warm_part_stopped_by_its_timeout_leaves_no_process_behind() {
    let Some(py) = python() else { return };
    let p = project(&py, ", timeout = \"3s\"", 2);
    p.file("mod.py", &probe("mod"))
        .file("tests/conftest.py", "import mod\n")
        .file(
            "tests/test_1.py",
            &test_file("import time; time.sleep(120)"),
        );
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("TIMEOUT unit[1]") || out.stdout.contains("timed out"),
        "{}",
        out.stdout
    );
    let zygote = records(&p, "mod")[0].0;
    let tests = records(&p, "test");
    assert!(tests.iter().all(|&(_, ppid)| ppid == zygote), "{tests:?}");
    for (pid, _) in tests {
        assert!(!alive(pid), "the forked part {pid} outlived ptest");
    }
    assert!(!alive(zygote), "the zygote outlived ptest");
}

#[test]
fn a_batch_warm_command_is_checked_like_cmd() {
    let batch = |warm: &str| {
        format!(
            "ptest.batch {{ name = \"b\", items = {{ \"x\" }}, cmd = {{ \"run\", \"{{items}}\" }},\n  warm = {warm} }}\n"
        )
    };
    assert_eq!(
        crate::harness::config_error(&batch("5")),
        "ptest.lua:1: batch \"b\": warm: expected a string or an array like { \"pytest\", \"-x\" }, got 5\n"
    );
    assert_eq!(
        crate::harness::config_error(&batch("{ \"\" }")),
        "ptest.lua:1: batch \"b\": warm: empty command\n"
    );
    assert_eq!(
        crate::harness::config_error(&batch("{ x = 1 }")),
        "ptest.lua:1: batch \"b\": warm: expected a string or an array like { \"pytest\", \"-x\" }, got a table with named keys\n"
    );
}

/// A warm batch whose items' durations are known runs in parts that shrink toward the end
/// (issue 29 item 2): `ptest list` shows them once a run has recorded the durations, and the
/// run's report has each of them.
#[test]
fn a_warm_batch_with_history_runs_in_parts_that_shrink() {
    // Each item "takes" 5 s by its results file (the run itself is quick), the warm command is
    // a process that waits to be stopped.
    let items: Vec<String> = (1..=20).map(|i| format!("\"t{i:02}\"")).collect();
    let p = Project::new(&format!(
        r#"ptest.batch {{ name = "unit", items = {{ {} }}, results = "{{tmpdir}}/junit.xml",
  cmd = {{ "sh", "junit.sh", "{{tmpdir}}/junit.xml", "{{items}}" }}, warm = {{ "sleep", "600" }} }}
"#,
        items.join(", ")
    ));
    p.file(
        "junit.sh",
        "out=$1; shift\n{ echo '<testsuite name=\"s\">'; for i in \"$@\"; do echo \"<testcase classname=\\\"c\\\" name=\\\"t\\\" file=\\\"$i\\\" time=\\\"5\\\"/>\"; done; echo '</testsuite>'; } > \"$out\"\n",
    );
    let parts = |p: &Project| -> Vec<Vec<String>> {
        let j = crate::harness::list_json(p, &["-j", "2"]);
        (0..j["suites"].as_array().unwrap().len())
            .map(|i| crate::harness::batch_items(&j, i))
            .collect()
    };
    assert_eq!(parts(&p).len(), 4, "no history: two parts per worker");
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let after = parts(&p);
    assert!(after.len() > 4, "{after:?}");
    let sizes: Vec<usize> = after.iter().map(Vec::len).collect();
    assert!(
        sizes.windows(2).all(|w| w[0] >= w[1]) && sizes[0] > sizes[sizes.len() - 1],
        "large first, shrinking: {sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 20);
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        r["suites"].as_array().unwrap().len(),
        after.len(),
        "the report has the parts that ran"
    );
}

/// On a first run (no history) a warm batch is cut into parts that shrink toward the end, sized
/// from the files' sizes and a fork's usual start (0.3 s: none under 3 s of guessed work but the
/// last), where it was four coarse parts of even guessed length; with the warm start off it still
/// is. `ptest plan` shows the parts largest first, and the run's report has each of them.
#[test]
fn a_warm_batch_runs_its_first_run_in_parts_that_shrink() {
    let Some(py) = python() else { return };
    let p = Project::new(&format!(
        "require(\"ptest.presets.pytest\").batch {{ name = \"unit\", python = \"{}\", paths = {{ \"tests\" }} }}\n",
        py.display()
    ));
    // 16 files of 20 to 320 KB (a comment pads each): 68 s guessed at 40 KB a second.
    for i in 1..=16 {
        let pad = format!("# {}\n", "x".repeat(78)).repeat(i * 250);
        p.file(
            &format!("tests/test_{i:02}.py"),
            &format!("{pad}def test_it():\n    pass\n"),
        );
    }
    let parts = |env: &[(&str, &str)]| -> Vec<(f64, String)> {
        let mut c = p.cmd();
        c.args(["list", "--format", "json", "-j", "2"]);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = crate::harness::run(&mut c);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        j["suites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let b = &s["batch"];
                assert_eq!(b["source"], "file size", "{b}");
                let fork = if env.is_empty() { 0.3 } else { 0.0 };
                assert!((b["overhead"].as_f64().unwrap() - fork).abs() < 1e-9, "{b}");
                let work: f64 = b["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["expected"].as_f64().unwrap())
                    .sum();
                (work, s["name"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let mut warm = parts(&[]);
    assert!(warm.len() > 4, "more than two parts per worker: {warm:?}");
    // Largest first, as they start.
    warm.sort_by(|x, y| y.0.total_cmp(&x.0));
    let work: Vec<f64> = warm.iter().map(|(w, _)| *w).collect();
    assert!(
        work[0] > 4.0 * work[work.len() - 1] && work[0] < 68.0 / 4.0 + 2.5,
        "shrinking from about half of an even share: {work:?}"
    );
    assert!(
        work[..work.len() - 1].iter().all(|&w| w >= 3.0 - 1e-9),
        "none below ten fixed costs of 0.3 s: {work:?}"
    );
    // The warm start off: four parts of about even guessed length, as before.
    let cold = parts(&[("PTEST_PYTEST_WARM", "0")]);
    assert_eq!(cold.len(), 4, "{cold:?}");
    let work: Vec<f64> = cold.iter().map(|(w, _)| *w).collect();
    let (lo, hi) = (
        work.iter().copied().fold(f64::MAX, f64::min),
        work.iter().copied().fold(0.0, f64::max),
    );
    assert!(hi - lo < 1.0, "{work:?}");

    // `ptest plan`: every part, in the order they start (largest first).
    let out = p.run(&["plan", "-j", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let order_part = &out.stdout[out.stdout.find("start order").expect("a start order")..];
    let at = |name: &str| {
        order_part
            .find(&format!("{name} "))
            .unwrap_or_else(|| panic!("{name} not in the plan: {}", out.stdout))
    };
    let order: Vec<usize> = warm.iter().map(|(_, n)| at(n)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", out.stdout);

    // The run has those parts, each a fork, and every test passed.
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("warm start off"), "{}", out.stdout);
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let ran: Vec<&str> = r["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let mut planned: Vec<&str> = warm.iter().map(|(_, n)| n.as_str()).collect();
    planned.sort_unstable();
    let mut sorted = ran.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, planned, "the report has the parts planned");
    let st = statuses(&p);
    assert_eq!(st.len(), 16, "{st:?}");
    assert!(st.iter().all(|s| s.ends_with("\"passed\"")), "{st:?}");
    let part = std::fs::read_to_string(p.join("test-logs/unit_1_.log")).unwrap();
    assert!(part.contains("this part is a fork of pid"), "{part}");
}

/// Declares `module` as an installed pytest plugin (a pytest11 entry point) found on the
/// project's own folder, as pip would install it.
fn plugin(p: &Project, module: &str) {
    p.file(
        &format!("{module}-1.0.dist-info/METADATA"),
        &format!("Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n"),
    )
    .file(
        &format!("{module}-1.0.dist-info/entry_points.txt"),
        &format!("[pytest11]\n{module} = {module}\n"),
    )
    .file(
        &format!("{module}-1.0.dist-info/RECORD"),
        &format!("{module}.py,,\n{module}-1.0.dist-info/METADATA,,\n"),
    );
}

#[test]
fn plugins_are_imported_once_as_pytest_imports_them_and_one_with_a_thread_turns_it_off() {
    let Some(py) = python() else { return };
    let p = project(
        &py,
        ", args = { \"-W\", \"error::pytest.PytestAssertRewriteWarning\" }",
        3,
    );
    // Its assert is rewritten by pytest (the message shows the values) only when it is
    // imported through pytest's hook, and pytest warns (an error here) when it finds it
    // imported otherwise.
    p.file(
        "goodplug.py",
        &format!("{}def check(x):\n    assert x == 1\n", probe("goodplug")),
    );
    plugin(&p, "goodplug");
    for i in 1..=3 {
        p.file(
            &format!("tests/test_{i}.py"),
            &test_file(
                "import goodplug, pytest\n    with pytest.raises(AssertionError) as e:\n        goodplug.check(2)\n    assert 'assert 2 == 1' in str(e.value)",
            ),
        );
    }
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let imports = records(&p, "goodplug");
    assert_eq!(
        imports.len(),
        1,
        "imported once, by the zygote: {imports:?}"
    );
    assert!(
        records(&p, "test")
            .iter()
            .all(|&(_, ppid)| ppid == imports[0].0),
        "parts are forks"
    );
    let log = std::fs::read_to_string(p.join("test-logs/unit_warm_.log")).unwrap();
    assert!(
        log.contains("ptest: warm start: pytest, 1 plugin and"),
        "{log}"
    );

    // A plugin that starts a thread when imported: no fork, said once.
    p.file(
        "threadplug.py",
        &format!(
            "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,), name='plugthread', daemon=True).start()\n{}",
            probe("threadplug")
        ),
    );
    plugin(&p, "threadplug");
    std::fs::remove_file(p.join("log.txt")).unwrap();
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches("warm start off").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("warm start off (a thread runs after the imports (plugthread)"),
        "{}",
        out.stdout
    );
    assert_eq!(
        records(&p, "threadplug").len(),
        4,
        "the zygote, then each part"
    );
}

/// A test may rely on what another test file imports when pytest collects it (click's pager
/// tests use `click._termui_impl`, which only other test files import): a plain run collects
/// every file first, a part only its own. A test that fails in a fork is decided by a fresh
/// process that collects every file, as the plain run does, and runs only the part's tests.
#[test]
fn a_test_relying_on_another_files_import_is_decided_with_every_file_collected() {
    let Some(py) = python() else { return };
    let p = project(&py, "", 2);
    p.file("pkg/__init__.py", "")
        .file("pkg/sub.py", "X = 1\n")
        .file(
            "tests/test_1.py",
            "import pkg.sub\ndef test_imports():\n    pass\n",
        )
        .file(
            "tests/test_2.py",
            "import pkg\ndef test_uses_what_test_1_imported():\n    assert pkg.sub.X == 1\n",
        );
    let plain = std::process::Command::new(&py)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(p.join(""))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        plain.status.success(),
        "plain pytest passes: {}",
        String::from_utf8_lossy(&plain.stdout)
    );
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        statuses(&p),
        [
            "\"tests/test_1.py\" \"passed\"",
            "\"tests/test_2.py\" \"passed\""
        ]
    );
    // The part that held test_2.py (packing decides which).
    let part = ["unit_1_", "unit_2_"]
        .map(|n| std::fs::read_to_string(p.join(&format!("test-logs/{n}.log"))).unwrap())
        .into_iter()
        .find(|log| log.contains("tests/test_2.py"))
        .unwrap();
    assert!(
        part.contains("this part is a fork of pid")
            && part.contains("running it again in a fresh process, whose outcome counts")
            && part.contains("1 test of them had another outcome in the fork"),
        "{part}"
    );
}

/// The modules the test files import first, of packages the zygote imported already, are
/// imported once, by the zygote. One that warns at import (an error under the project's
/// `filterwarnings = error`) or starts a thread is left to each part, as a plain run imports
/// it: the zygote starts again without it (same process, same socket), and the batch's outcomes
/// are those of the warm start off.
#[test]
fn a_test_files_imports_are_imported_once_unless_they_warn_or_start_a_thread() {
    let Some(py) = python() else { return };
    let p = project(&py, "", 4);
    // The package's probes write to the project's log.txt.
    let probe = |name: &str| probe(name).replace("'log.txt'", "'..', 'log.txt'");
    p.file("pytest.ini", "[pytest]\nfilterwarnings =\n    error\n")
        .file("pkg/__init__.py", &probe("pkg"))
        .file("pkg/slow.py", &probe("slow"))
        .file(
            "pkg/warns.py",
            "import warnings\nwarnings.warn('pkg.warns is deprecated', DeprecationWarning)\n",
        )
        .file(
            "pkg/threads.py",
            &format!(
                "import threading, time\nT = threading.Thread(target=time.sleep, args=(600,), name='pkg-thread', daemon=True)\nT.start()\n{}",
                probe("threads")
            ),
        )
        .file("tests/conftest.py", "import pkg\n")
        .file(
            "tests/test_1.py",
            &format!("import pkg.slow\n{}", test_file("pass")),
        )
        .file(
            "tests/test_2.py",
            &format!("import pkg.warns\n{}", test_file("pass")),
        )
        .file(
            "tests/test_3.py",
            &format!(
                "import pkg.slow\nimport pkg.threads\n{}",
                test_file("assert pkg.threads.T.is_alive()")
            ),
        );
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let warm = statuses(&p);
    // The zygote imported pkg, then again in each of its two new starts (the same process).
    let zygote = records(&p, "pkg");
    assert!(
        zygote.len() == 3 && zygote.iter().all(|&(pid, _)| pid == zygote[0].0),
        "{zygote:?}"
    );
    let zygote = zygote[0].0;
    let slow = records(&p, "slow");
    assert!(
        !slow.is_empty() && slow.iter().all(|&(pid, _)| pid == zygote),
        "pkg.slow imported by the zygote ({zygote}) alone: {slow:?}"
    );
    let tests = records(&p, "test");
    assert!(
        tests.len() == 3 && tests.iter().all(|&(_, ppid)| ppid == zygote),
        "three tests ran, each in a fork of {zygote}: {tests:?}"
    );
    let log = std::fs::read_to_string(p.join("test-logs/unit_warm_.log")).unwrap();
    assert!(
        log.contains("importing pkg.warns warned (DeprecationWarning: pkg.warns is deprecated)")
            && log.contains("importing pkg.threads started a thread (pkg-thread)")
            && log.contains("left to each part: pkg.warns, pkg.threads"),
        "{log}"
    );
    for i in 1..=4 {
        let part = std::fs::read_to_string(p.join(&format!("test-logs/unit_{i}_.log"))).unwrap();
        assert!(
            part.contains("this part is a fork of pid") && !part.contains("failed in this fork"),
            "decided in the fork itself, not by a fresh run: {part}"
        );
    }
    // The warm start off: the same outcomes, test_2.py's collection error among them.
    let out = p.run_env(&["-j", "2", "--no-history"], &[("PTEST_PYTEST_WARM", "0")]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(statuses(&p), warm);
    assert!(
        warm.iter()
            .any(|s| s.contains("test_2.py") && s.contains("error")),
        "{warm:?}"
    );
}

/// What a plugin imports of its own distribution's packages in its hooks (hypothesis's plugin
/// imports hypothesis as each session ends) is imported once, by the zygote, through pytest's
/// rewriting hook as the plugin's package: pytest does not warn that it found it imported.
#[test]
fn what_a_plugins_hooks_import_of_its_own_package_is_imported_once() {
    let Some(py) = python() else { return };
    let p = project(
        &py,
        ", args = { \"-W\", \"error::pytest.PytestAssertRewriteWarning\" }",
        3,
    );
    p.file(
        "hookplug.py",
        "def pytest_terminal_summary(terminalreporter):\n    import hookplug_extra\n    hookplug_extra.check(1)\n",
    )
    .file(
        "hookplug_extra.py",
        &format!("{}def check(x):\n    assert x == 1\n", probe("extra")),
    )
    .file(
        "hookplug-1.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: hookplug\nVersion: 1.0\n",
    )
    .file(
        "hookplug-1.0.dist-info/entry_points.txt",
        "[pytest11]\nhookplug = hookplug\n",
    )
    .file(
        "hookplug-1.0.dist-info/RECORD",
        "hookplug.py,,\nhookplug_extra.py,,\nhookplug-1.0.dist-info/METADATA,,\n",
    );
    let out = p.run(&["-j", "2", "--no-history"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let extra = records(&p, "extra");
    assert_eq!(extra.len(), 1, "imported once, by the zygote: {extra:?}");
    let tests = records(&p, "test");
    assert!(
        tests.len() == 3 && tests.iter().all(|&(_, ppid)| ppid == extra[0].0),
        "every part a fork of {extra:?}: {tests:?}"
    );
    let log = std::fs::read_to_string(p.join("test-logs/unit_warm_.log")).unwrap();
    assert!(
        log.contains("in a plugin's hooks): hookplug_extra"),
        "{log}"
    );
}
