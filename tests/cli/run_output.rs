//! What a suite sees and what a run writes (DESIGN §5–§7): logs byte for byte (huge, not UTF-8,
//! with `-v`), attempt headers and retries, the environment and templates, `cwd`, hooks, the JSON
//! report's exact shape, missing commands, an unwritable log folder, and the exit codes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::harness::{self, Project};
use crate::probe::{Probed, report_at, skip_reason, status, suite};

fn log_of(p: &Project, name: &str) -> Vec<u8> {
    std::fs::read(p.join(&format!("test-logs/{name}.log"))).expect("read log")
}

/// The log after its first line (the attempt header).
fn after_header(log: &[u8]) -> &[u8] {
    let nl = log.iter().position(|&b| b == b'\n').expect("a header line");
    &log[nl + 1..]
}

#[test]
fn huge_output_goes_to_the_log_byte_for_byte() {
    const SIZE: u64 = 300_000_000;
    let p = Project::new(&format!(
        "ptest.suite {{ name = \"flood\", cmd = \"head -c {SIZE} /dev/zero; echo; echo done\" }}\n"
    ));
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let path = p.join("test-logs/flood.log");
    let header = b"=== ptest: flood attempt 1/1 ===\n";
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        header.len() as u64 + SIZE + 6
    );
    let mut f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).unwrap());
    let mut head = vec![0; header.len()];
    f.read_exact(&mut head).unwrap();
    assert_eq!(head, header);
    let mut buf = vec![0u8; 1 << 20];
    let mut zeros = 0u64;
    let mut rest = Vec::new();
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if b == 0 && rest.is_empty() {
                zeros += 1;
            } else {
                rest.push(b);
            }
        }
    }
    assert_eq!(zeros, SIZE);
    assert_eq!(rest, b"\ndone\n");
}

#[test]
fn bytes_that_are_not_utf8_are_kept_and_verbose_prefixes_lines() {
    let p = Project::new(
        r#"
ptest.suite { name = "binary", cmd = "cat bytes.bin; echo to-stderr >&2; cat bytes.bin" }
ptest.suite { name = "lines", cmd = "printf 'one\ntwo\n'; printf 'three\n' >&2; printf 'no newline'" }
"#,
    );
    let bytes: Vec<u8> = (0..=255u8).chain([0xff, 0xfe, 0xc3, b'\n', 0xc3]).collect();
    std::fs::write(p.join("bytes.bin"), &bytes).unwrap();
    for args in [&[][..], &["-v"][..]] {
        let out = p.run(args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let mut expected = bytes.clone();
        expected.extend_from_slice(b"to-stderr\n");
        expected.extend_from_slice(&bytes);
        let log = log_of(&p, "binary");
        assert!(log.starts_with(b"=== ptest: binary attempt 1/1 ===\n"));
        assert_eq!(after_header(&log), expected, "with {args:?}");
        assert_eq!(
            after_header(&log_of(&p, "lines")),
            b"one\ntwo\nthree\nno newline"
        );
        if args.is_empty() {
            assert!(!out.stdout.contains("lines | one"), "{}", out.stdout);
        } else {
            for line in [
                "lines | one",
                "lines | two",
                "lines | three",
                "lines | no newline",
            ] {
                assert!(
                    out.stdout.lines().any(|l| l == line),
                    "{line:?} not in\n{}",
                    out.stdout
                );
            }
            // bytes.bin ends without a newline, so stderr's line continues it.
            assert!(
                out.stdout
                    .lines()
                    .any(|l| l.starts_with("binary | ") && l.ends_with("to-stderr")),
                "{}",
                out.stdout
            );
        }
    }
}

#[test]
fn a_missing_command_fails_its_suite_and_the_run_goes_on() {
    let p = Probed::new(
        r#"
ptest.suite { name = "shell", cmd = "pytestt --quick" }
ptest.suite { name = "argv", cmd = { "pytestt-argv", "-x" } }
ptest.suite { name = "own-127", cmd = "echo fine; exit 127" }
ptest.suite { name = "after-cd", cmd = "cd sub && pytestt-deep -q" }
ptest.suite { name = "env-prefix", cmd = "FOO=1 pytestt-env" }
ptest.suite { name = "fine", cmd = probe("fine", 0) }
"#,
    );
    std::fs::create_dir(p.p.join("sub")).unwrap();
    let run = p.run(&["-j", "1"]);
    assert_eq!(run.out.code, 1);
    assert!(run.spans.ran("fine"), "the run went on");
    let r = p.report();
    assert_eq!(
        suite(&r, "argv")["error_message"],
        "command not found: pytestt-argv"
    );
    assert_eq!(suite(&r, "own-127")["error_message"], "exit code 127");
    // A shell's 127 in the shell's own words, naming the missing command (not the first word
    // of the line); "command not found" is for programs ptest itself could not find.
    for (name, missing) in [
        ("shell", "pytestt"),
        ("after-cd", "pytestt-deep"),
        ("env-prefix", "pytestt-env"),
    ] {
        let message = suite(&r, name)["error_message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.starts_with("exit code 127 (sh: ") && message.contains(missing),
            "{name}: {message}"
        );
    }
    for name in ["shell", "argv", "own-127", "after-cd", "env-prefix"] {
        assert_eq!(status(&r, name), "failed");
    }
    assert_eq!(status(&r, "fine"), "passed");
    assert!(run.out.stdout.contains("command not found: pytestt-argv"));
}

#[test]
fn an_unwritable_log_folder_stops_the_run_before_anything_starts() {
    let p = Probed::new(
        r#"
ptest.config { log_dir = "blocked/logs" }
ptest.suite { name = "a", cmd = probe("a", 0) }
"#,
    );
    // A file where a folder should be: unwritable even for root.
    p.p.file("blocked", "not a folder");
    let run = p.run(&[]);
    assert_eq!(run.out.code, 2, "{}", run.out.stdout);
    assert!(
        run.out.stderr.contains("cannot create log folder"),
        "{}",
        run.out.stderr
    );
    assert!(
        run.out.stderr.contains("blocked/logs"),
        "{}",
        run.out.stderr
    );
    assert!(run.spans.all.is_empty(), "nothing ran");

    let run = p.run(&["--log-dir", "blocked/other"]);
    assert_eq!(run.out.code, 2);
    assert!(run.spans.all.is_empty(), "nothing ran");
}

#[test]
fn exit_codes() {
    let p = Project::new(
        r#"
ptest.suite { name = "ok", cmd = "true" }
ptest.suite { name = "bad", cmd = "exit 4", enabled = ptest.vars.fail == "yes" }
"#,
    );
    assert_eq!(p.run(&[]).code, 0);
    assert_eq!(p.run(&["--set", "fail=yes"]).code, 1);
    assert_eq!(p.run(&["-s", "nope"]).code, 2, "an unknown suite name");
    assert_eq!(p.run(&["-j", "0"]).code, 2, "a bad option");
    let broken = Project::new("ptest.suite { name = \"x\" }\n");
    let out = broken.run(&[]);
    assert_eq!(out.code, 2);
    assert!(!broken.join("test-logs").exists(), "nothing ran");
    // 130 is checked by the interrupt tests in run_stop.
}

#[test]
fn the_environment_of_a_suite() {
    let p = Project::new(
        r#"
ptest.phase { name = "main", workers = 2 }
ptest.group { name = "db", max = 1, env = { FROM_GROUP = "g" } }
ptest.suite {
  name = "probe env", phase = "main", group = "db", retry = 1,
  env = { MINE = "w{worker}-s{suite}-a{attempt}", TMP_COPY = "{tmpdir}", RUN = "{run_id}" },
  cmd = "env > env.txt; test -d \"$PTEST_TMPDIR\" && echo yes > tmp-existed.txt; "
     .. "echo '{worker}|{suite}|{attempt}|{tmpdir}|{run_id}' > templates.txt",
}
"#,
    );
    let out = p.run(&["-j", "3"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let env: BTreeMap<String, String> = std::fs::read_to_string(p.join("env.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let r = crate::probe::report_at(&p.join("test-logs/test-report.json"));
    let run_id = r["run_id"].as_str().unwrap();
    let tmpdir = env["PTEST_TMPDIR"].clone();
    let log = p.join("test-logs/probe_env.log");
    let expected = [
        ("PTEST", "1"),
        ("PTEST_RUN_ID", run_id),
        ("PTEST_SUITE", "probe env"),
        ("PTEST_WORKER", "0"),
        ("PTEST_WORKERS", "2"),
        ("PTEST_ATTEMPT", "1"),
        ("PTEST_ATTEMPTS", "2"),
        ("TMPDIR", &tmpdir),
        ("PTEST_LOG", log.to_str().unwrap()),
        ("PTEST_PHASE", "main"),
        ("PTEST_GROUP", "db"),
        ("FROM_GROUP", "g"),
        ("MINE", "w0-sprobe env-a1"),
        ("TMP_COPY", &tmpdir),
        ("RUN", run_id),
    ];
    for (k, v) in expected {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert_eq!(
        std::fs::read_to_string(p.join("templates.txt")).unwrap(),
        format!("0|probe env|1|{tmpdir}|{run_id}\n")
    );
    assert_eq!(
        std::fs::read_to_string(p.join("tmp-existed.txt")).unwrap(),
        "yes\n"
    );
    assert!(
        !Path::new(&tmpdir).exists(),
        "PTEST_TMPDIR is removed after a pass"
    );
    // Each attempt gets its own folder, named after the attempt.
    assert!(tmpdir.contains(run_id), "{tmpdir}");
    let root = Path::new(&tmpdir).parent().unwrap();
    assert!(
        !root.exists(),
        "the run's folder (socket, bin link) is gone too: {}",
        root.display()
    );

    let out = p.run(&["--keep-tmp"]);
    assert_eq!(out.code, 0);
    let kept = std::fs::read_to_string(p.join("env.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("PTEST_TMPDIR=").map(str::to_owned))
        .unwrap();
    assert!(Path::new(&kept).is_dir(), "--keep-tmp keeps {kept}");
    std::fs::remove_dir_all(Path::new(&kept).parent().unwrap()).unwrap();
}

#[test]
fn cwd_is_relative_to_the_config_folder() {
    let p = Project::new(
        r#"
ptest.suite { name = "sub", cwd = "sub/dir", cmd = "pwd > here.txt" }
ptest.suite { name = "top", cmd = "pwd > here.txt" }
"#,
    );
    std::fs::create_dir_all(p.join("sub/dir")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = p.join("ptest.lua");
    let out = crate::harness::run(
        p.cmd()
            .current_dir(elsewhere.path())
            .arg(config.to_str().unwrap()),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let root = p.path().canonicalize().unwrap();
    let read = |rel: &str| std::fs::read_to_string(p.join(rel)).unwrap();
    assert_eq!(
        read("sub/dir/here.txt").trim(),
        root.join("sub/dir").to_str().unwrap()
    );
    assert_eq!(read("here.txt").trim(), root.to_str().unwrap());
    // The log folder of ptest.lua is beside it too, not in the current folder.
    assert!(p.join("test-logs/test-report.json").exists());
    assert!(!elsewhere.path().join("test-logs").exists());
}

#[test]
fn retries_make_a_suite_flaky_and_each_attempt_has_a_header() {
    let p = Project::new(
        r#"
ptest.suite {
  name = "wobbly", retry = 2,
  cmd = "echo \"try $PTEST_ATTEMPT of $PTEST_ATTEMPTS\"; test \"$PTEST_ATTEMPT\" -ge 3",
}
ptest.suite { name = "broken", retry = 1, cmd = "echo \"try $PTEST_ATTEMPT\"; exit 9" }
"#,
    );
    let out = p.run(&["-j", "2", "-s", "wobbly"]);
    assert_eq!(out.code, 0, "flaky counts as passing: {}", out.stdout);
    let r = report_at(&p.join("test-logs/test-report.json"));
    let w = suite(&r, "wobbly");
    assert_eq!(w["status"], "flaky");
    assert_eq!(w["attempts"], 3);
    assert_eq!(w["return_code"], 0);
    assert_eq!(r["summary"]["flaky"], 1);
    assert_eq!(
        String::from_utf8(log_of(&p, "wobbly")).unwrap(),
        "=== ptest: wobbly attempt 1/3 ===\ntry 1 of 3\n\
         === ptest: wobbly attempt 2/3 ===\ntry 2 of 3\n\
         === ptest: wobbly attempt 3/3 ===\ntry 3 of 3\n"
    );

    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 1);
    let r = report_at(&p.join("test-logs/test-report.json"));
    let b = suite(&r, "broken");
    assert_eq!(b["status"], "failed");
    assert_eq!(b["attempts"], 2);
    assert_eq!(b["return_code"], 9);
    assert_eq!(
        String::from_utf8(log_of(&p, "broken")).unwrap(),
        "=== ptest: broken attempt 1/2 ===\ntry 1\n=== ptest: broken attempt 2/2 ===\ntry 2\n"
    );
    // --retries 0 turns retries off.
    let out = p.run(&["-s", "wobbly", "--retries", "0"]);
    assert_eq!(out.code, 1);
}

#[test]
fn hooks_see_results_and_a_raising_hook_is_only_a_warning() {
    let p = Project::new(
        r#"
local function note(...)
  local f = assert(io.open("hooks.txt", "a"))
  f:write(table.concat({ ... }, "\t"), "\n")
  f:close()
end
ptest.on("run_started", function(plan) note("run_started", #plan.suites, plan.workers) end)
ptest.on("suite_started", function(s) note("suite_started", s.name, s.attempt, s.worker) end)
ptest.on("suite_finished", function(r)
  note("suite_finished", r.name, r.status, tostring(r.exit_code), r.log_file,
       (r.output:gsub("\n", "\\n")))
end)
ptest.on("suite_finished", function(r) error("hook exploded on " .. r.name) end)
ptest.on("run_finished", function(s) note("run_finished", s.passed, s.failed, s.total) end)
ptest.suite { name = "good", cmd = "echo hello" }
ptest.suite { name = "bad", cmd = "echo oops; exit 3", depends_on = { "good" } }
"#,
    );
    let out = p.run(&["-j", "1"]);
    assert_eq!(out.code, 1, "the hook error does not change the outcome");
    assert!(
        out.stderr.contains("hook exploded on good") && out.stderr.contains("warning"),
        "{}",
        out.stderr
    );
    let notes = std::fs::read_to_string(p.join("hooks.txt")).unwrap();
    let log = |n: &str| p.join(&format!("test-logs/{n}.log"));
    let expected = format!(
        "run_started\t2\t1\n\
         suite_started\tgood\t1\t0\n\
         suite_finished\tgood\tpassed\t0\t{}\thello\\n\n\
         suite_started\tbad\t1\t0\n\
         suite_finished\tbad\tfailed\t3\t{}\toops\\n\n\
         run_finished\t1\t1\t2\n",
        log("good").display(),
        log("bad").display()
    );
    assert_eq!(notes, expected);
    // Both suites ran: the raising hook stopped nothing.
    let r = report_at(&p.join("test-logs/test-report.json"));
    assert_eq!(status(&r, "bad"), "failed");
}

/// DESIGN §6, field by field: the names, and the JSON type of each.
#[test]
fn the_json_report_has_exactly_the_fields_of_the_design() {
    let p = Project::new(
        r#"
ptest.group { name = "g", max = 1 }
ptest.limiter { name = "api", rate = 100 }
ptest.suite {
  name = "proxy-unit", description = "Rust proxy unit tests", category = "unit",
  tags = { "fast" }, group = "g", limiter = "api", cmd = "echo hi",
}
ptest.suite { name = "broken", cmd = "exit 2" }
ptest.suite { name = "later", cmd = "true", depends_on = { "broken" } }
"#,
    );
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 1);
    let dir = p.join("test-logs");
    let r = report_at(&dir.join("test-report.json"));

    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().expect("an object").keys().cloned().collect()
    };
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    // `format_version` is ours (STYLE §1: report types carry a format version), as are
    // `summary.interrupted` and `kept_tmp` (where a failed attempt's temporary folder stayed);
    // everything else is DESIGN §6.
    assert!(
        r["kept_tmp"]["folder"]
            .as_str()
            .is_some_and(|t| t.contains("ptest-")),
        "{r}"
    );
    assert_eq!(r["kept_tmp"]["runs"], 5);
    assert_eq!(
        keys(&r),
        set(&[
            "kept_tmp",
            "format_version",
            "ptest_version",
            "run_id",
            "timestamp",
            "duration",
            "workers",
            "suites",
            "summary",
            "limiters",
        ])
    );
    assert_eq!(r["ptest_version"], env!("CARGO_PKG_VERSION"));
    assert!(r["run_id"].as_str().is_some_and(|s| !s.is_empty()));
    let ts = r["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), "2026-11-21T14:23:45.123Z".len(), "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.');
    assert!(r["duration"].is_f64());
    assert_eq!(r["workers"], 2);

    let suite_fields = set(&[
        "name",
        "description",
        "category",
        "phase",
        "group",
        "tags",
        "status",
        "start_time",
        "end_time",
        "duration",
        "return_code",
        "signal",
        "attempts",
        "error_message",
        "skip_reason",
        "log_file",
        "worker",
        "peak_rss_kb",
        "cpu_time",
        // Issue 17: each attempt's own worker, times and status.
        "attempts_detail",
    ]);
    for s in r["suites"].as_array().unwrap() {
        assert_eq!(keys(s), suite_fields, "{s}");
    }
    let pu = suite(&r, "proxy-unit");
    assert_eq!(pu["name"], "proxy-unit");
    assert_eq!(pu["description"], "Rust proxy unit tests");
    assert_eq!(pu["category"], "unit");
    assert_eq!(pu["phase"], "default");
    assert_eq!(pu["group"], "g");
    assert_eq!(pu["tags"], serde_json::json!(["fast"]));
    assert_eq!(pu["status"], "passed");
    let (start, end) = (
        pu["start_time"].as_f64().unwrap(),
        pu["end_time"].as_f64().unwrap(),
    );
    assert!(start > 1.6e9 && end >= start, "unix seconds: {start} {end}");
    assert!(pu["duration"].is_f64() && pu["duration"].as_f64().unwrap() >= 0.0);
    assert_eq!(pu["return_code"], 0);
    assert!(pu["signal"].is_null());
    assert_eq!(pu["attempts"], 1);
    assert!(pu["error_message"].is_null() && pu["skip_reason"].is_null());
    assert_eq!(pu["log_file"], "test-logs/proxy-unit.log");
    assert!(pu["worker"].is_u64());
    assert!(pu["peak_rss_kb"].as_u64().is_some_and(|kb| kb > 0));
    assert!(pu["cpu_time"].is_f64());

    let broken = suite(&r, "broken");
    assert_eq!(broken["status"], "failed");
    assert_eq!(broken["return_code"], 2);
    assert!(broken["error_message"].is_string());
    let later = suite(&r, "later");
    assert_eq!(later["status"], "skipped");
    assert_eq!(skip_reason(&r, "later"), "dependency \"broken\" failed");
    for k in [
        "start_time",
        "end_time",
        "return_code",
        "log_file",
        "worker",
        "peak_rss_kb",
    ] {
        assert!(later[k].is_null(), "{k} of a skipped suite");
    }
    assert_eq!(later["attempts"], 0);

    let summary = &r["summary"];
    assert_eq!(
        keys(summary),
        set(&[
            "total",
            "passed",
            "failed",
            "skipped",
            "flaky",
            "timed_out",
            "cancelled",
            "sequential_time",
            "speedup",
            "interrupted",
        ])
    );
    for (k, v) in [
        ("total", 3),
        ("passed", 1),
        ("failed", 1),
        ("skipped", 1),
        ("flaky", 0),
        ("timed_out", 0),
        ("cancelled", 0),
    ] {
        assert_eq!(summary[k], v, "summary.{k}");
    }
    assert!(summary["sequential_time"].is_f64() && summary["speedup"].is_f64());
    assert_eq!(summary["interrupted"], false);

    let limiters = r["limiters"].as_array().unwrap();
    assert_eq!(limiters.len(), 1);
    // The limiter entry may say more (its adaptive state); DESIGN's four fields must be there.
    let limiter_keys = keys(&limiters[0]);
    for k in ["name", "acquired", "waited", "throttled"] {
        assert!(
            limiter_keys.contains(k),
            "limiters[0].{k} in {limiter_keys:?}"
        );
    }
    assert_eq!(limiters[0]["name"], "api");
    assert!(limiters[0]["acquired"].is_u64() && limiters[0]["throttled"].is_u64());
    assert!(limiters[0]["waited"].is_f64());

    // Written atomically: no temp file is left beside it; `--report` writes a second copy.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp")), "{names:?}");
    let out = p.run(&["--report", "copy/r.json"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        report_at(&p.join("copy/r.json"))["suites"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The second run's report replaced the first one's in one step (a swap, the earlier file
    // then removed): the new one is there whole, and nothing else is left beside it.
    let second = report_at(&dir.join("test-report.json"));
    assert_ne!(second["run_id"], r["run_id"]);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp")), "{names:?}");
}

/// Log names keep `[A-Za-z0-9._-]` and turn the rest into `_`, so different suites can map to
/// one name; their logs and their `PTEST_TMPDIR`s must still be their own.
#[test]
fn suites_whose_names_collide_keep_their_own_logs_and_tmpdirs() {
    let p = Project::new(
        r#"
for i, name in ipairs({ "a/b", "a_b", "A b" }) do
  ptest.suite {
    name = name,
    cmd = "echo " .. i .. " > \"$PTEST_TMPDIR/mine\"; echo \"$PTEST_TMPDIR\" > tmp" .. i .. ".txt; "
       .. "echo \"$PTEST_LOG\" > log" .. i .. ".txt; echo out" .. i .. "; sleep 0.5; "
       .. "test \"$(ls \"$PTEST_TMPDIR\")\" = mine && test \"$(cat \"$PTEST_TMPDIR/mine\")\" = " .. i,
  }
end
"#,
    );
    let out = p.run(&["-j", "3"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let read = |f: &str| {
        std::fs::read_to_string(p.join(f))
            .unwrap()
            .trim()
            .to_owned()
    };
    let tmps: BTreeSet<String> = (1..=3).map(|i| read(&format!("tmp{i}.txt"))).collect();
    assert_eq!(tmps.len(), 3, "{tmps:?}");
    let logs: BTreeSet<String> = (1..=3).map(|i| read(&format!("log{i}.txt"))).collect();
    assert_eq!(logs.len(), 3, "{logs:?}");
    for i in 1..=3 {
        let log = std::fs::read_to_string(read(&format!("log{i}.txt"))).unwrap();
        assert!(log.ends_with(&format!("===\nout{i}\n")), "{log}");
    }
}

/// `--log-dir` is relative to the current folder, while suites run in the config's folder:
/// `PTEST_LOG` must still lead each suite to its own log.
#[test]
fn a_relative_log_dir_is_taken_from_the_current_folder() {
    let p = Project::new(
        "ptest.suite { name = \"a\", cmd = \"echo hello; test -f \\\"$PTEST_LOG\\\" && grep -q hello \\\"$PTEST_LOG\\\"\" }\n",
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let out = crate::harness::run(
        p.cmd()
            .current_dir(elsewhere.path())
            .arg(p.join("ptest.lua"))
            .args(["--log-dir", "logs"]),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    let r = report_at(&elsewhere.path().join("logs/test-report.json"));
    assert_eq!(suite(&r, "a")["log_file"], "logs/a.log");
    assert!(!p.join("logs").exists());
}

#[test]
fn every_attempt_gets_an_empty_tmpdir_and_failures_keep_theirs_by_name() {
    let p = Project::new(
        r#"
ptest.config { workers = 1 }
for i = 1, 4 do
  ptest.suite { name = "s" .. i, cmd = "ls -A \"$PTEST_TMPDIR\" | wc -l >> counts; echo x > \"$TMPDIR/left-$PTEST_SUITE\"; echo $PTEST_TMPDIR >> dirs" }
end
ptest.suite { name = "clean", cmd = "echo $PTEST_TMPDIR >> dirs; ls -A \"$PTEST_TMPDIR\" | wc -l >> counts" }
ptest.suite { name = "boom", cmd = "echo $PTEST_TMPDIR > boom-dir; touch \"$TMPDIR/evidence\"; exit 1" }
"#,
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let counts = std::fs::read_to_string(p.join("counts")).unwrap();
    assert!(
        counts.lines().all(|c| c.trim() == "0"),
        "each attempt starts empty: {counts}"
    );
    for dir in std::fs::read_to_string(p.join("dirs")).unwrap().lines() {
        assert!(
            !std::path::Path::new(dir).exists(),
            "{dir} removed after its pass"
        );
    }
    let boom = std::fs::read_to_string(p.join("boom-dir")).unwrap();
    let kept = std::path::Path::new(boom.trim())
        .parent()
        .unwrap()
        .join("boom-1");
    assert!(
        kept.join("evidence").exists(),
        "a failed attempt's folder is kept as {}",
        kept.display()
    );
    let _ = std::fs::remove_dir_all(kept.parent().unwrap());
}

#[test]
fn a_suite_starts_like_a_fresh_process() {
    // HOME is in ptest's environment and overridden by the suite: it must appear once.
    let p = Project::new(
        r#"
ptest.suite {
  name = "fresh", env = { HOME = "/elsewhere", PATH = "/usr/bin:/bin" },
  cmd = "env > env.txt; grep -E '^Sig(Ign|Blk)' /proc/self/status > signals.txt; "
     .. "ulimit -n > limit.txt",
}
"#,
    );
    // ptest raises its own soft open-file limit; the suite gets the one ptest started with.
    let out = harness::run(
        std::process::Command::new("sh")
            .current_dir(p.path())
            .args([
                "-c",
                "grep SigIgn /proc/self/status > outer.txt; ulimit -Sn 256 && exec \"$0\" -q ptest.lua",
            ])
            .arg(env!("CARGO_BIN_EXE_ptest"))
            .env("HOME", "/home/someone"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let env = std::fs::read_to_string(p.join("env.txt")).unwrap();
    let homes: Vec<&str> = env.lines().filter(|l| l.starts_with("HOME=")).collect();
    assert_eq!(homes, ["HOME=/elsewhere"]);
    let paths: Vec<&str> = env.lines().filter(|l| l.starts_with("PATH=")).collect();
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert!(paths[0].ends_with(":/usr/bin:/bin"), "{paths:?}");

    // Rust ignores SIGPIPE and ptest catches SIGINT, SIGTERM and SIGCHLD: none of that, and no
    // blocked signal, reaches a suite. What ptest's own parent ignored stays ignored, as a shell
    // passes it on.
    let mask = |file: &str, field: &str| {
        let text = std::fs::read_to_string(p.join(file)).unwrap();
        let line = text.lines().find(|l| l.starts_with(field)).unwrap();
        u64::from_str_radix(line[field.len()..].trim(), 16).unwrap()
    };
    let (ignored, inherited) = (mask("signals.txt", "SigIgn:"), mask("outer.txt", "SigIgn:"));
    assert_eq!(mask("signals.txt", "SigBlk:"), 0, "no signal blocked");
    assert_eq!(
        ignored & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE not ignored"
    );
    assert_eq!(ignored & !inherited, 0, "{ignored:#x} vs {inherited:#x}");
    assert_eq!(
        std::fs::read_to_string(p.join("limit.txt")).unwrap().trim(),
        "256"
    );
}

#[test]
fn a_rerun_rewrites_each_log_from_its_header() {
    let p = Project::new(r#"ptest.suite { name = "echo", cmd = "cat out.txt" }"#);
    p.file("out.txt", &"an earlier, much longer output\n".repeat(2000));
    assert_eq!(p.run(&["-q"]).code, 0);
    p.file("out.txt", "short\n");
    assert_eq!(p.run(&["-q"]).code, 0);
    assert_eq!(
        log_of(&p, "echo"),
        b"=== ptest: echo attempt 1/1 ===\nshort\n"
    );
}

#[test]
fn the_run_folder_is_made_ahead_and_nothing_of_it_stays_after_an_error_or_a_pass() {
    // The run's folder (socket, bin link, first empty folders) is made on another thread while
    // the config is evaluated; a config error must not leave it behind, and neither must a run.
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().to_str().unwrap();
    let leftovers = || std::fs::read_dir(tmp.path()).unwrap().count();

    let bad = Project::new("ptest.suite { name = \"a\", cmd = 1 }\n");
    let out = bad.run_env(&[], &[("TMPDIR", tmpdir)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(leftovers(), 0, "a config error leaves no run folder");

    let good = Project::new(
        r#"
for i = 1, 6 do
  ptest.suite { name = "s" .. i, cmd = "test -d \"$TMPDIR\" && test -z \"$(ls -A \"$TMPDIR\")\" && echo $TMPDIR >> dirs" }
end
"#,
    );
    let out = good.run_env(&["-j", "3"], &[("TMPDIR", tmpdir)]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let dirs = std::fs::read_to_string(good.join("dirs")).unwrap();
    assert_eq!(
        dirs.lines().count(),
        6,
        "every suite found an empty folder: {dirs}"
    );
    assert_eq!(leftovers(), 0, "a passing run leaves no run folder");
}
