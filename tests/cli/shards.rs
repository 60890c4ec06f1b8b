//! Static shards (DESIGN §10): N runs of the real binary, each in a folder of its own as a CI
//! machine would be, with the same config and history; their probes' own records say what ran
//! where. Every suite and item runs exactly once, chains and `max = 1` groups stay on one
//! shard, `always` phases run on every shard.

use std::collections::BTreeMap;
use std::path::Path;

use crate::harness::{Output, Project};

/// `sh rec.sh NAME...` appends `NAME SHARD start|end` to the shared record file, for each
/// NAME (a batch passes its items), with a short sleep between.
const REC_SH: &str = r#"out='@RECORD@'
for name in "$@"; do
  echo "$name ${PTEST_SHARD:-none} start" >> "$out"
  sleep 0.02
  echo "$name ${PTEST_SHARD:-none} end" >> "$out"
done
"#;

/// `sh item.sh RESULTS ITEM...`: as rec.sh, and writes a JUnit results file with a testcase
/// for each item (its `file`), so that history learns each item's duration and the batch's
/// fixed cost.
const ITEM_SH: &str = r#"results=$1
shift
sh '@REC_SH@' "$@"
{
  echo '<testsuite name="t">'
  for name in "$@"; do
    echo "<testcase classname=\"t\" name=\"$name\" file=\"$name\" time=\"0.02\"/>"
  done
  echo '</testsuite>'
} > "$results"
"#;

/// A project of chains, a serial group, single suites, a batch of items and a teardown phase.
const CONFIG: &str = r#"
ptest.config { workers = 2 }
ptest.phase { name = "main" }
ptest.phase { name = "teardown", always = true }
ptest.group { name = "db", max = 1 }
local rec = "sh @REC_SH@ "
for i = 1, 8 do
  ptest.suite { name = "s" .. i, cmd = rec .. "s" .. i, phase = "main", estimate = (i % 3 + 1) .. "s" }
end
ptest.suite { name = "c1", cmd = rec .. "c1", phase = "main", estimate = "2s" }
ptest.suite { name = "c2", cmd = rec .. "c2", phase = "main", depends_on = { "c1" }, estimate = "2s" }
ptest.suite { name = "c3", cmd = rec .. "c3", phase = "main", depends_on = { "c2" }, estimate = "1s" }
ptest.suite { name = "db1", cmd = rec .. "db1", phase = "main", group = "db", estimate = "2s" }
ptest.suite { name = "db2", cmd = rec .. "db2", phase = "main", group = "db", estimate = "2s" }
local items = {}
for i = 1, 10 do items[i] = "t" .. i end
ptest.batch { name = "unit", items = items, cmd = { "sh", "@ITEM_SH@", "{tmpdir}/junit.xml", "{items}" },
  results = "{tmpdir}/junit.xml", phase = "main" }
ptest.suite { name = "stop", cmd = rec .. "stop", phase = "teardown" }
"#;

/// `n` shard folders with the same config, and the file their probes record into.
struct Machines {
    shards: Vec<Project>,
    record: tempfile::TempDir,
}

impl Machines {
    fn new(config: &str, n: usize) -> Machines {
        let record = tempfile::tempdir().unwrap();
        let rec_sh = record.path().join("rec.sh");
        let out = record.path().join("record.txt");
        std::fs::write(&rec_sh, REC_SH.replace("@RECORD@", out.to_str().unwrap())).unwrap();
        let item_sh = record.path().join("item.sh");
        std::fs::write(
            &item_sh,
            ITEM_SH.replace("@REC_SH@", rec_sh.to_str().unwrap()),
        )
        .unwrap();
        let config = config
            .replace("@REC_SH@", rec_sh.to_str().unwrap())
            .replace("@ITEM_SH@", item_sh.to_str().unwrap());
        Machines {
            shards: (0..n).map(|_| Project::new(&config)).collect(),
            record,
        }
    }

    /// Give every shard the history in `from` (as CI restores one cache on each machine).
    fn share_history(&self, from: &Path) {
        for s in &self.shards {
            std::fs::create_dir_all(s.join(".ptest")).unwrap();
            std::fs::copy(from, s.join(".ptest/history.json")).unwrap();
        }
    }

    fn run_all(&self, args: &[&str]) -> Vec<Output> {
        let n = self.shards.len();
        self.shards
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let shard = format!("{}/{n}", k + 1);
                let mut a = vec!["--shard", shard.as_str()];
                a.extend_from_slice(args);
                p.run(&a)
            })
            .collect()
    }

    /// Each name's starts: the shard each ran on, in the order they were recorded.
    fn starts(&self) -> BTreeMap<String, Vec<String>> {
        let text = std::fs::read_to_string(self.record.path().join("record.txt")).unwrap();
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f[2] == "start" {
                out.entry(f[0].to_owned())
                    .or_default()
                    .push(f[1].to_owned());
            }
        }
        out
    }

    /// The record's lines, in order.
    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.record.path().join("record.txt"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn four_shards_run_every_suite_and_item_once_and_keep_chains_whole() {
    let m = Machines::new(CONFIG, 4);
    // A first run on one machine writes the history every shard then starts from.
    let first = m.shards[0].run(&["--no-fail-fast"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let history = m.shards[0].join(".ptest/history.json");
    let saved = tempfile::NamedTempFile::new().unwrap();
    std::fs::copy(&history, saved.path()).unwrap();
    std::fs::remove_file(m.record.path().join("record.txt")).unwrap();
    m.share_history(saved.path());
    // History keys a run by its start second and figures: the shards' runs must not start in
    // the second the first run started in, or one of theirs could read as that one's.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_nanos(
        1_000_000_000 - u64::from(now.subsec_nanos()),
    ));

    let outs = m.run_all(&[]);
    for (k, o) in outs.iter().enumerate() {
        assert_eq!(o.code, 0, "shard {}: {}\n{}", k + 1, o.stdout, o.stderr);
        assert!(
            o.stdout
                .contains(&format!("ptest: shard {}/4 (--shard), ", k + 1)),
            "{}",
            o.stdout
        );
    }
    let starts = m.starts();
    // The teardown ran on every shard, everything else exactly once.
    let mut stop = starts["stop"].clone();
    stop.sort();
    assert_eq!(stop, ["1/4", "2/4", "3/4", "4/4"]);
    let mut names: Vec<&String> = starts.keys().filter(|n| *n != "stop").collect();
    names.sort();
    let mut expected: Vec<String> = (1..=8).map(|i| format!("s{i}")).collect();
    expected.extend(["c1", "c2", "c3", "db1", "db2"].map(String::from));
    expected.extend((1..=10).map(|i| format!("t{i}")));
    expected.sort();
    assert_eq!(names, expected.iter().collect::<Vec<_>>());
    for (name, on) in &starts {
        if name != "stop" {
            assert_eq!(on.len(), 1, "{name} ran on {on:?}");
        }
    }
    // The chain on one shard, in order; the serial group on one shard.
    assert_eq!(starts["c1"], starts["c2"]);
    assert_eq!(starts["c2"], starts["c3"]);
    assert_eq!(starts["db1"], starts["db2"]);
    let lines = m.lines();
    let at = |l: &str| lines.iter().position(|x| x.starts_with(l)).unwrap();
    assert!(at("c1 ") < at("c2 ") && lines[at("c2 ")].ends_with("start"));
    assert!(
        lines
            .iter()
            .position(|x| x.starts_with("c1 ") && x.ends_with("end"))
            < Some(at("c2 "))
    );
    assert!(
        lines
            .iter()
            .position(|x| x.starts_with("c2 ") && x.ends_with("end"))
            < Some(at("c3 "))
    );
    // The batch's items were spread: more than one shard ran some.
    let item_shards: std::collections::BTreeSet<&String> =
        (1..=10).map(|i| &starts[&format!("t{i}")][0]).collect();
    assert!(item_shards.len() > 1, "{item_shards:?}");
    // The shards' histories joined: what each shard ran has one run more than the base; the
    // teardown, which every shard ran, and the batch's fixed cost, which each shard that ran
    // items measured, have one run more too, not four.
    let inputs: Vec<String> = m
        .shards
        .iter()
        .map(|p| p.join(".ptest/history.json").display().to_string())
        .collect();
    let mut args = vec!["merge", "--history"];
    args.extend(inputs.iter().map(String::as_str));
    args.extend(["-o", "all.json"]);
    let merged = m.shards[0].run(&args);
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    let h = crate::history::history_at(&m.shards[0].join("all.json"));
    let base = crate::history::history_at(saved.path());
    for name in ["stop", "unit[]", "s1", "c1", "c3", "db2"] {
        assert_eq!(
            crate::history::runs(&h, name).len(),
            crate::history::runs(&base, name).len() + 1,
            "{name}"
        );
    }
    let stop = crate::history::runs(&h, "stop");
    assert_eq!(stop.last().unwrap()["status"], "passed");
    for i in 1..=10 {
        let key = format!("unit/t{i}");
        let count = |v: &serde_json::Value| v["items"][&key]["runs"].as_array().unwrap().len();
        assert_eq!(count(&h), count(&base) + 1, "{key}");
    }
    // Each shard's report names its parts after it: no two shards share a suite name.
    let mut seen = BTreeMap::new();
    for (k, p) in m.shards.iter().enumerate() {
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(crate::harness::report_file(p)).unwrap())
                .unwrap();
        for name in crate::harness::suite_names(&r) {
            if name != "stop" {
                assert!(seen.insert(name.to_owned(), k).is_none(), "{name} twice");
            }
            if name.starts_with("unit[") {
                assert!(name.starts_with(&format!("unit[{}.", k + 1)), "{name}");
            }
        }
    }
    merge_the_shards_reports(&m);
}

/// The four shards' reports of [`four_shards_run_every_suite_and_item_once_and_keep_chains_whole`]
/// say which shard each was, and merge into each suite and testcase once; a missing shard is
/// named, reports of another split are refused.
fn merge_the_shards_reports(m: &Machines) {
    let reports: Vec<String> = m
        .shards
        .iter()
        .map(|p| crate::harness::report_file(p).display().to_string())
        .collect();
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let split = read(&reports[0])["shard"]["split"].clone();
    assert!(split.as_str().is_some_and(|s| !s.is_empty()), "{split}");
    for (k, r) in reports.iter().enumerate() {
        assert_eq!(
            read(r)["shard"],
            serde_json::json!({ "index": k + 1, "total": 4, "mode": "static", "split": split,
                                "every_shard": ["stop"] })
        );
    }
    let out = m.shards[0].join("merged.json");
    let merge = |inputs: &[&String]| {
        let mut args = vec!["merge"];
        args.extend(inputs.iter().map(|s| s.as_str()));
        args.extend(["-o", out.to_str().unwrap()]);
        m.shards[0].run(&args)
    };
    let page = m.shards[0].join("merged.html");
    let mut args = vec!["merge"];
    args.extend(reports.iter().map(String::as_str));
    args.extend([
        "-o",
        out.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    let all = m.shards[0].run(&args);
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(
        all.stderr, "",
        "the teardown every shard ran is no duplicate"
    );
    let v = read(out.to_str().unwrap());
    let names = crate::harness::suite_names(&v);
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "stop").count(), 1);
    assert!(v.get("shard").is_none());
    // Every item's testcase once, under the shard that ran it.
    let starts = m.starts();
    let mut cases: Vec<(String, String)> = Vec::new();
    for s in v["suites"].as_array().unwrap() {
        let shard = format!("{}/4", s["shard"]);
        if s["name"] == "stop" {
            assert_eq!(s["status"], "passed");
        } else if let Some(own) = starts.get(s["name"].as_str().unwrap()) {
            assert_eq!(own, std::slice::from_ref(&shard), "{}", s["name"]);
        }
        for c in s["testcases"].as_array().into_iter().flatten() {
            cases.push((c["name"].as_str().unwrap().to_owned(), shard.clone()));
        }
    }
    cases.sort();
    let expected: Vec<(String, String)> = {
        let mut e: Vec<(String, String)> = (1..=10)
            .map(|i| {
                let t = format!("t{i}");
                let on = starts[&t][0].clone();
                (t, on)
            })
            .collect();
        e.sort();
        e
    };
    assert_eq!(cases, expected);
    // The page of the whole run: one timeline, a lane per shard of its two workers' rows, each
    // attempt's bar in the lane of the shard that ran it.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("a lane per shard"), "{html}");
    for k in 1..=4 {
        assert!(html.contains(&format!(">shard {k} w0</text>")), "{html}");
    }
    // Each shard's lane has a row per worker it used (one under load may use only one).
    let mut used = std::collections::BTreeMap::<u64, u64>::new();
    for s in v["suites"].as_array().unwrap() {
        for a in s["attempts_detail"].as_array().into_iter().flatten() {
            let rows = used.entry(s["shard"].as_u64().unwrap()).or_default();
            *rows = (*rows).max(a["worker"].as_u64().unwrap() + 1);
        }
    }
    for s in v["suites"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if s["attempts_detail"].as_array().is_none_or(Vec::is_empty) {
            continue;
        }
        let bar = format!(
            "data-suite=\"{name}\" data-attempt=\"1\" data-worker=\"{}\" data-shard=\"{}\"",
            s["attempts_detail"][0]["worker"], s["shard"]
        );
        assert_eq!(html.matches(&bar).count(), 1, "{bar}\n{html}");
        // Its row: the lanes of the shards before its own, then its worker.
        let shard = s["shard"].as_u64().unwrap();
        let row = used.range(..shard).map(|(_, n)| n).sum::<u64>()
            + s["attempts_detail"][0]["worker"].as_u64().unwrap();
        let at = html.find(&bar).unwrap();
        let y = format!("y=\"{:.1}\"", row as f64 * 22.0 + 2.0);
        assert!(
            html[at..].split('>').next().unwrap().contains(&y),
            "{name}: {y}"
        );
    }

    // Shard 3 missing: named, exit 1, the merged report still written.
    std::fs::remove_file(&out).unwrap();
    let three = merge(&[&reports[0], &reports[1], &reports[3]]);
    assert_eq!(three.code, 1, "{}", three.stderr);
    assert!(
        three.stderr.contains("shard 3/4 missing"),
        "{}",
        three.stderr
    );
    assert!(out.is_file());

    // A report of another split is refused, naming both.
    let other = m.shards[0].join("other.json");
    let mut o = read(&reports[1]);
    o["shard"]["split"] = serde_json::json!("another");
    std::fs::write(&other, o.to_string()).unwrap();
    let other = other.display().to_string();
    let refused = merge(&[&reports[0], &other]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&reports[0]) && refused.stderr.contains(&other),
        "{}",
        refused.stderr
    );
}

#[test]
fn the_shard_comes_from_the_ci_systems_variables_and_the_header_says_which() {
    let m = Machines::new(CONFIG, 1);
    let p = &m.shards[0];
    for (env, header) in [
        (vec![("PTEST_SHARD", "2/4")], "shard 2/4 (PTEST_SHARD)"),
        (
            vec![("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "4")],
            "shard 2/4 (CI_NODE_INDEX)",
        ),
        (
            vec![("CIRCLE_NODE_INDEX", "1"), ("CIRCLE_NODE_TOTAL", "4")],
            "shard 2/4 (CIRCLE_NODE_INDEX)",
        ),
        (
            vec![
                ("BUILDKITE_PARALLEL_JOB", "1"),
                ("BUILDKITE_PARALLEL_JOB_COUNT", "4"),
            ],
            "shard 2/4 (BUILDKITE_PARALLEL_JOB)",
        ),
        (
            vec![("JOB_COMPLETION_INDEX", "1"), ("PTEST_SHARD_TOTAL", "4")],
            "shard 2/4 (JOB_COMPLETION_INDEX)",
        ),
    ] {
        let o = p.run_env(&[], &env);
        assert_eq!(o.code, 0, "{env:?}: {}", o.stderr);
        assert!(
            o.stdout.contains(&format!("ptest: {header}, ")),
            "{env:?}: {}",
            o.stdout
        );
    }
    // Every suite of that run saw PTEST_SHARD=2/4, whatever variable said so.
    let starts = m.starts();
    assert!(starts.values().flatten().all(|s| s == "2/4"), "{starts:?}");
    // The flag beats the environment.
    let o = p.run_env(&["--shard", "1/4"], &[("PTEST_SHARD", "2/4")]);
    assert!(
        o.stdout.contains("ptest: shard 1/4 (--shard), "),
        "{}",
        o.stdout
    );
}

#[test]
fn a_bad_shard_is_a_usage_error_naming_what_was_read() {
    let p = Project::new(r#"ptest.suite { name = "a", cmd = "true" }"#);
    for (args, env, want) in [
        (
            vec!["--shard", "5/4"],
            vec![],
            "invalid value '5/4' for '--shard <K/N>': expected K/N with 1 <= K <= N, got \"5/4\"",
        ),
        (
            vec!["--shard", "x"],
            vec![],
            "invalid value 'x' for '--shard <K/N>': expected K/N with 1 <= K <= N, got \"x\"",
        ),
        (
            vec![],
            vec![("PTEST_SHARD", "0/4")],
            "error: PTEST_SHARD: expected K/N with 1 <= K <= N, got \"0/4\"",
        ),
        (
            vec![],
            vec![("CI_NODE_INDEX", "5"), ("CI_NODE_TOTAL", "4")],
            "error: CI_NODE_INDEX=\"5\" and CI_NODE_TOTAL=\"4\" make no shard (expected whole numbers with 1 <= CI_NODE_INDEX <= CI_NODE_TOTAL)",
        ),
        (
            vec!["--shard", "all/4"],
            vec![],
            "error: --shard all/4: a run (or list, graph) is one shard, K/N; all/N is for ptest plan",
        ),
    ] {
        let o = p.run_env(&args, &env);
        assert_eq!(o.code, 2, "{args:?} {env:?}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{args:?} {env:?}: {}", o.stderr);
        // Nothing ran, nothing was written.
        assert!(!p.join("test-logs").exists(), "{args:?} {env:?}");
    }
}

#[test]
fn a_shard_with_nothing_to_run_exits_4_unless_empty_is_allowed() {
    let p = Project::new(
        r#"
ptest.suite { name = "a", cmd = "true" }
ptest.suite { name = "b", cmd = "true", depends_on = { "a" } }
"#,
    );
    // One unit (a chain), two shards: the second has nothing.
    let o = p.run(&["--shard", "2/2"]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "error: nothing to run: shard 2/2 has no suite: the run has 1 unit to share out"
        ),
        "{}",
        o.stderr
    );
    let o = p.run(&["--shard", "2/2", "--allow-empty"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = p.run(&["--shard", "1/2"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("2 suites"), "{}", o.stdout);
}

#[test]
fn list_shows_a_shards_suites() {
    let m = Machines::new(CONFIG, 1);
    let p = &m.shards[0];
    let mut all: Vec<String> = Vec::new();
    for k in 1..=3 {
        let j = crate::harness::list_json(p, &["--shard", &format!("{k}/3")]);
        all.extend(
            crate::harness::suite_names(&j)
                .into_iter()
                .filter(|n| *n != "stop")
                .map(String::from),
        );
    }
    let parts: Vec<&String> = all.iter().filter(|n| n.starts_with("unit[")).collect();
    assert!(!parts.is_empty());
    let mut plain: Vec<&String> = all.iter().filter(|n| !n.starts_with("unit[")).collect();
    plain.sort();
    let mut expected: Vec<String> = (1..=8).map(|i| format!("s{i}")).collect();
    expected.extend(["c1", "c2", "c3", "db1", "db2"].map(String::from));
    expected.sort();
    assert_eq!(plain, expected.iter().collect::<Vec<_>>());
}

/// Twelve single suites with known durations (estimates), two workers a shard.
const TWELVE: &str = r#"
ptest.config { workers = 2 }
for i = 1, 12 do
  ptest.suite { name = "s" .. i, cmd = "true", estimate = (i * 7 % 11 + 1) .. "s" }
end
"#;

#[test]
fn plan_shows_every_shard_the_same_way_each_time() {
    let m = Machines::new(CONFIG, 1);
    let p = &m.shards[0];
    let a = p.run(&["plan", "--shard", "all/3"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let b = p.run(&["plan", "--shard", "all/3"]);
    assert_eq!(a.stdout, b.stdout, "byte for byte the same");
    assert!(a.stdout.starts_with("3 shards of "), "{}", a.stdout);
    assert!(
        a.stdout.contains("every shard runs (always phases): stop"),
        "{}",
        a.stdout
    );
    assert!(a.stdout.contains("\nshard 3/3  expected "), "{}", a.stdout);
    assert!(
        a.stdout.contains("  c1, c2, c3  "),
        "a chain on one line: {}",
        a.stdout
    );
    assert!(a.stdout.contains("max/mean "), "{}", a.stdout);
    // JSON: each shard's suites and items; together every one once.
    let j: serde_json::Value = serde_json::from_str(
        &p.run(&["plan", "--shard", "all/3", "--format", "json"])
            .stdout,
    )
    .unwrap();
    let mut suites: Vec<&str> = Vec::new();
    let mut items: Vec<&str> = Vec::new();
    for s in j["shards"].as_array().unwrap() {
        suites.extend(
            s["suites"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap()),
        );
        if let Some(i) = s["items"]["unit"].as_array() {
            items.extend(i.iter().map(|x| x.as_str().unwrap()));
        }
    }
    suites.sort_unstable();
    items.sort_unstable();
    assert_eq!(suites.len(), 13, "{suites:?}");
    assert_eq!(items.len(), 10, "{items:?}");
    items.dedup();
    assert_eq!(items.len(), 10);
    assert_eq!(j["every_shard"], serde_json::json!(["stop"]));
    // The shard's own plan says where it stands, with the same figure.
    let one = p.run(&["plan", "--shard", "2/3"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let line = one.stdout.lines().nth(1).unwrap();
    let want = format!(
        "shard:     2/3 (--shard), expected {}; the 3 shards: max ",
        human(j["shards"][1]["expected"].as_f64().unwrap())
    );
    assert!(line.starts_with(&want), "{line}\n{want}");
}

/// `ptest`'s short form of seconds (`4.2s`, `3m05s`), as the plan prints them.
fn human(secs: f64) -> String {
    if secs < 1.0 {
        format!("{}ms", (secs * 1000.0) as u64)
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let s = secs as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[test]
fn auto_picks_the_count_that_trying_every_count_picks() {
    let p = Project::new(TWELVE);
    // What each count predicts, from the per-shard view.
    let slowest: Vec<f64> = (1..=12)
        .map(|n| {
            let o = p.run(&["plan", "--shard", &format!("all/{n}"), "--format", "json"]);
            let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
            j["expected"]["max"].as_f64().unwrap()
        })
        .collect();
    for (target, overhead) in [(40.0, 0.0), (20.0, 5.0), (15.0, 2.0), (1.0, 1.0)] {
        let o = p.run(&[
            "plan",
            "--shards",
            "auto",
            "--target",
            &format!("{target}s"),
            "--node-overhead",
            &format!("{overhead}s"),
            "--format",
            "json",
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        let walls: Vec<f64> = slowest.iter().map(|s| s + overhead).collect();
        // The first count that meets the target, else the first with the least wall time.
        let least = walls
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
            .unwrap()
            .0;
        let brute = walls.iter().position(|w| *w <= target).unwrap_or(least) + 1;
        assert_eq!(
            j["shards"], brute,
            "target {target} overhead {overhead}: {j}"
        );
        assert_eq!(j["met"], walls.iter().any(|w| *w <= target));
        assert_eq!(j["matrix"]["shard"].as_array().unwrap().len(), brute, "{j}");
    }
    // The matrix alone on stdout, the table of counts in the log.
    let o = p.run(&[
        "plan",
        "--shards",
        "auto",
        "--target",
        "20s",
        "--format",
        "github-matrix",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let n = j["shard"].as_array().unwrap().len();
    assert!(n >= 2, "{j}");
    assert_eq!(j["shard"][0], format!("1/{n}"));
    assert!(
        o.stderr.contains("shards  slowest shard  wall"),
        "{}",
        o.stderr
    );
    // A fixed count prints its matrix too.
    let o = p.run(&["plan", "--shards", "3", "--format", "github-matrix"]);
    assert_eq!(o.stdout, "{\"shard\":[\"1/3\",\"2/3\",\"3/3\"]}\n");
}

#[test]
fn plan_flags_that_do_not_go_together_are_usage_errors() {
    let p = Project::new(TWELVE);
    for (args, want) in [
        (
            &["plan", "--shards", "auto"][..],
            "error: --shards auto needs --target DUR, the wall time to meet (like \"10m\")",
        ),
        (
            &["plan", "--target", "5m"][..],
            "error: --target goes with --shards auto",
        ),
        (
            &["plan", "--shards", "4", "--node-overhead", "5s"][..],
            "error: --node-overhead goes with --shards auto",
        ),
        (
            &["plan", "--format", "json"][..],
            "error: --format json and github-matrix go with --shard all/N or --shards",
        ),
        (
            &["plan", "--shards", "many"][..],
            "invalid value 'many' for '--shards <auto|N>': expected \"auto\" or a number of shards, got \"many\"",
        ),
        (
            &["plan", "--shard", "all/0"][..],
            "invalid value 'all/0' for '--shard <K/N>': expected all/N with N >= 1, got \"all/0\"",
        ),
    ] {
        let o = p.run(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{args:?}: {}", o.stdout);
    }
}
