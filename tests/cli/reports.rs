//! The JSON report's per-attempt detail, the HTML page in a real browser, and `--events`.

use crate::harness::Project;

#[test]
fn json_report_lists_each_attempt_with_its_worker_times_and_status() {
    let p = Project::new(
        r#"
ptest.suite { name = "flaky", retry = 2, cmd = "echo $PTEST_WORKER >> workers; test $PTEST_ATTEMPT = 3" }
ptest.suite { name = "once", cmd = "true" }
"#,
    );
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let s = &r["suites"][0];
    let detail = s["attempts_detail"].as_array().unwrap();
    let statuses: Vec<&str> = detail
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "failed", "passed"]);
    assert_eq!(detail[0]["error_message"], "exit code 1");
    assert_eq!(detail[2]["return_code"], 0);
    // Each attempt names the worker it really ran on (what the probe wrote).
    let workers: Vec<u64> = std::fs::read_to_string(p.join("workers"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let reported: Vec<u64> = detail
        .iter()
        .map(|d| d["worker"].as_u64().unwrap())
        .collect();
    assert_eq!(reported, workers);
    assert_eq!(
        s["worker"], detail[2]["worker"],
        "the suite's worker is its last attempt's"
    );
    // Attempts follow each other; the suite spans them.
    for w in detail.windows(2) {
        assert!(
            w[0]["end_time"].as_f64() <= w[1]["start_time"].as_f64(),
            "{w:?}"
        );
    }
    for d in detail {
        assert!(d["start_time"].as_f64() <= d["end_time"].as_f64());
    }
    assert_eq!(s["start_time"], detail[0]["start_time"]);
    assert_eq!(s["end_time"], detail[2]["end_time"]);
    assert_eq!(
        r["suites"][1]["attempts_detail"].as_array().unwrap().len(),
        1
    );
}

/// Run headless Chromium on `args`, with a fresh profile and nothing fetched from outside;
/// stdout, or a panic after two minutes.
fn chromium(bin: &std::path::Path, args: &[&str]) -> String {
    use std::process::{Command, Stdio};
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 2 minutes: {args:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The opening tags of the table's body rows, in page order.
fn rows(dom: &str) -> Vec<&str> {
    let body = &dom[dom.find("<tbody>").expect("table body")..];
    body.match_indices("<tr ")
        .map(|(i, _)| &body[i..=(i + body[i..].find('>').unwrap())])
        .collect()
}

#[test]
fn html_report_in_a_real_browser_one_bar_per_attempt_filter_sort_and_a_screenshot() {
    let Some(bin) = crate::tools::find(
        "PTEST_TEST_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
        "the HTML report's browser test",
    ) else {
        return;
    };
    let p = Project::new(
        r#"
ptest.suite { name = "compile", category = "build", cmd = "sleep 0.4" }
ptest.suite { name = "bad <&>", category = "unit",
  cmd = "printf '\\033[31mred\\033[0m <b>not bold</b>\\n'; sleep 0.2; exit 3" }
ptest.suite { name = "flaky", retry = 2, cmd = "sleep 0.2; echo try $PTEST_ATTEMPT; test $PTEST_ATTEMPT = 3" }
ptest.suite { name = "integration tests", cmd = "sleep 0.9" }
ptest.suite { name = "after", cmd = "true", depends_on = { "bad <&>" } }
"#,
    );
    let out = p.run(&["-j", "2", "--html", "out/report.html"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let page = p.join("out/report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains('\u{1b}') && !html.contains("[31m"),
        "no colour codes as text"
    );
    assert!(!html.contains("<b>not bold"), "log text is escaped");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();

    let url = format!("file://{}", page.display());
    // As loaded: every attempt is a bar on the worker the report says ran it, and no two bars
    // on a worker overlap (a retried suite's bar once spanned other suites' time).
    let dom = chromium(&bin, &["--dump-dom", &url]);
    assert!(
        dom.contains("id=\"suites\""),
        "the browser rendered the page: {dom}"
    );
    let mut bars: Vec<(u64, f64, f64, String)> = Vec::new();
    for (i, _) in dom.match_indices("<rect class=\"attempt\"") {
        let tag = &dom[i..i + dom[i..].find('>').unwrap()];
        let get = |a: &str| {
            let k = format!(" {a}=\"");
            let from = tag.find(&k).unwrap() + k.len();
            tag[from..from + tag[from..].find('"').unwrap()].to_owned()
        };
        bars.push((
            get("data-worker").parse().unwrap(),
            get("x").parse().unwrap(),
            get("width").parse().unwrap(),
            format!("{} {}", get("data-suite"), get("data-attempt")),
        ));
    }
    let mut expected: Vec<String> = Vec::new();
    for s in report["suites"].as_array().unwrap() {
        for d in s["attempts_detail"].as_array().unwrap() {
            let name = html_escape(s["name"].as_str().unwrap());
            let key = format!("{name} {}", d["attempt"]);
            let bar = bars
                .iter()
                .find(|b| b.3 == key)
                .unwrap_or_else(|| panic!("{key}"));
            assert_eq!(Some(bar.0), d["worker"].as_u64(), "{key}");
            expected.push(key);
        }
    }
    assert_eq!(bars.len(), expected.len(), "one bar per attempt: {bars:?}");
    assert_eq!(
        expected.iter().filter(|k| k.starts_with("flaky ")).count(),
        3
    );
    for a in &bars {
        for b in &bars {
            if a.3 != b.3 && a.0 == b.0 {
                assert!(
                    a.1 + a.2 <= b.1 + 0.01 || b.1 + b.2 <= a.1 + 0.01,
                    "bars overlap on worker {}: {a:?} {b:?}",
                    a.0
                );
            }
        }
    }
    // Failures first, and the failure's tail is above the timeline.
    let order = rows(&dom);
    assert!(order[0].contains("data-status=\"failed\""), "{order:?}");
    assert!(dom.find("class=\"failure\"").unwrap() < dom.find("<svg").unwrap());
    assert!(!order.iter().any(|r| r.contains("hidden")));

    // The filter and the sort, run by the page's own script.
    let dom = chromium(
        &bin,
        &[
            "--dump-dom",
            &format!("{url}#status=passed,flaky&sort=-duration"),
        ],
    );
    let order = rows(&dom);
    let visible: Vec<&&str> = order.iter().filter(|r| !r.contains("hidden")).collect();
    assert_eq!(visible.len(), 3, "{order:?}");
    assert!(
        visible
            .iter()
            .all(|r| r.contains("\"passed\"") || r.contains("\"flaky\""))
    );
    assert!(
        dom.contains("<span id=\"shown\">3</span>"),
        "the count follows the filter"
    );
    let names_in = |dom: &str| -> Vec<String> {
        dom.match_indices("<tr data-status=")
            .map(|(i, _)| {
                let cell = &dom[i..];
                let from = cell.find("<td data-v=\"").unwrap() + "<td data-v=\"".len();
                cell[from..from + cell[from..].find('"').unwrap()].to_owned()
            })
            .collect()
    };
    let names = names_in(&dom);
    let mut by_duration: Vec<(f64, String)> = report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["duration"].as_f64().unwrap(),
                html_escape(s["name"].as_str().unwrap()),
            )
        })
        .collect();
    by_duration.sort_by(|a, b| b.0.total_cmp(&a.0));
    let expected: Vec<&str> = by_duration.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, expected, "sorted by duration, longest first");
    // A value that is not valid percent-encoding is ignored: the rest of the address still
    // applies (it stopped the page's script).
    let dom = chromium(
        &bin,
        &[
            "--dump-dom",
            &format!("{url}#status=%E0%A4%A&sort=-duration"),
        ],
    );
    assert_eq!(names_in(&dom), expected, "sorted, the bad value ignored");
    assert!(!rows(&dom).iter().any(|r| r.contains("hidden")));

    // A picture a person can look at.
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &bin,
        &[
            "--window-size=1100,900",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1100);
    assert!(png.len() > 10_000, "not a blank page: {} bytes", png.len());
    println!("screenshot: {}", shot.display());
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ndjson(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn events_are_one_json_line_each_written_as_they_happen() {
    let p = Project::new(
        r#"
ptest.suite { name = "watcher", cmd = "grep -c '\"name\":\"watcher\"' events.ndjson > seen" }
ptest.suite { name = "flaky", retry = 1, cmd = "test $PTEST_ATTEMPT = 2" }
ptest.suite { name = "bad", cmd = "exit 3" }
ptest.suite { name = "after", cmd = "true", depends_on = { "bad" } }
"#,
    );
    let out = p.run(&["-j", "1", "--events", "events.ndjson"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // While it ran, the watcher's own suite_started line was already in the file.
    assert_eq!(std::fs::read_to_string(p.join("seen")).unwrap().trim(), "1");
    let lines = ndjson(&std::fs::read_to_string(p.join("events.ndjson")).unwrap());
    let events_of = |name: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l["name"] == name)
            .map(|l| l["event"].as_str().unwrap())
            .collect()
    };
    let one = ["suite_started", "attempt_finished", "suite_finished"];
    assert_eq!(events_of("watcher"), one);
    assert_eq!(events_of("bad"), one);
    assert_eq!(
        events_of("flaky"),
        [
            "suite_started",
            "attempt_finished",
            "suite_started",
            "attempt_finished",
            "suite_finished"
        ]
    );
    assert_eq!(
        events_of("after"),
        ["suite_finished"],
        "skipped: it never started"
    );
    assert_eq!(lines.len(), 14);
    assert_eq!(lines[0]["event"], "run_started");
    assert_eq!(lines[13]["event"], "run_finished");
    let flaky: Vec<&serde_json::Value> = lines.iter().filter(|l| l["name"] == "flaky").collect();
    let times: Vec<f64> = lines.iter().map(|l| l["time"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(lines[0]["run_id"], report["run_id"]);
    assert_eq!(lines[0]["total"], 4);
    assert_eq!(flaky[0]["attempt"], 1);
    assert_eq!(flaky[0]["attempts"], 2);
    assert_eq!(flaky[1]["status"], "failed");
    assert_eq!(flaky[1]["error_message"], "exit code 1");
    assert_eq!(flaky[2]["attempt"], 2);
    assert_eq!(flaky[3]["status"], "passed");
    // suite_finished carries exactly the report's entry for the suite; run_finished its summary.
    for l in lines.iter().filter(|l| l["event"] == "suite_finished") {
        let mut l = l.clone();
        let o = l.as_object_mut().unwrap();
        o.remove("event");
        o.remove("time");
        let entry = report["suites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == l["name"])
            .unwrap();
        assert_eq!(&l, entry);
    }
    assert_eq!(lines[13]["summary"], report["summary"]);

    // On stdout: only event lines there; the terminal view goes to stderr.
    let out = p.run(&["-j", "1", "--events", "-"]);
    assert_eq!(out.code, 1);
    assert_eq!(ndjson(&out.stdout).len(), 14);
    assert!(out.stderr.contains("Summary: 4 suites"), "{}", out.stderr);
}

#[test]
fn github_annotations_stay_within_limits_fold_tails_and_keep_the_summary_under_1_mib() {
    let p = Project::new(
        r#"
for i = 1, 20 do ptest.suite { name = "fail" .. i, category = "unit", cmd = "sh tests/test_fail.sh" } end
for i = 1, 12 do ptest.suite { name = "flaky" .. i, retry = 1, cmd = "test $PTEST_ATTEMPT = 2" } end
"#,
    );
    // A test that prints 60 KB on one line, then something like a workflow command.
    p.file(
        "tests/test_fail.sh",
        "head -c 60000 /dev/zero | tr '\\0' x\necho\necho '::error::injected'\nprintf '\\033[31mred\\033[0m\\n'\nexit 3\n",
    );
    let summary = p.join("summary.md");
    // Another tool wrote to the same step's summary first: the limit is shared.
    std::fs::write(&summary, "x".repeat(100 * 1024)).unwrap();
    let out = p.run_env(
        &["-q", "-j", "4"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 10, "GitHub's limit per step");
    for e in &errors {
        assert!(
            e.starts_with("::error file=tests/test_fail.sh,title=ptest%3A fail"),
            "{e}"
        );
        assert!(
            e.contains(" failed::exit code 3 (log: test-logs/fail"),
            "{e}"
        );
    }
    let warnings: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("::warning "))
        .collect();
    assert_eq!(warnings.len(), 10);
    assert!(
        warnings[0].contains(" flaky (passed on attempt 2/2)::failed before: exit code 1"),
        "{}",
        warnings[0]
    );
    let notes: Vec<&&str> = lines.iter().filter(|l| l.starts_with("::notice")).collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("10 more failed suites and 2 more flaky suites are not annotated")
            && notes[0].contains("job summary"),
        "{}",
        notes[0]
    );
    // Every failure's tail is folded, and what it prints is not obeyed.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("::group::")).count(),
        20
    );
    assert_eq!(lines.iter().filter(|l| **l == "::endgroup::").count(), 20);
    let mut stopped: Option<String> = None;
    let mut injected = 0;
    for l in &lines {
        if let Some(t) = l.strip_prefix("::stop-commands::") {
            stopped = Some(format!("::{t}::"));
        } else if stopped.as_deref() == Some(*l) {
            stopped = None;
        } else if *l == "::error::injected" {
            assert!(stopped.is_some(), "a test's line read as a command");
            injected += 1;
        }
        assert!(!l.contains('\u{1b}'), "no colour codes: {l}");
    }
    assert_eq!(injected, 20);

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.len() as u64 <= 1024 * 1024, "{} bytes", md.len());
    let ours = &md[100 * 1024..];
    assert!(
        ours.starts_with("### ptest: 32 suites: 0 passed, 12 flaky, 20 failed\n"),
        "{}",
        &ours[..200]
    );
    assert!(ours.contains("**Slowest**"));
    assert!(ours.contains("| flaky1 | flaky |"));
    let tails = ours.matches("```text\n").count();
    assert!(tails > 5 && tails < 20, "{tails} tails");
    assert!(ours.contains(&format!(
        "{} more failures' output left out to stay under GitHub's 1 MiB",
        20 - tails
    )));
}

#[test]
fn an_events_path_that_is_a_link_is_refused_before_anything_runs() {
    let p = Project::new(r#"ptest.suite { name = "ok", cmd = "touch ran" }"#);
    p.file("precious", "keep me");
    std::os::unix::fs::symlink(p.join("precious"), p.join("events.ndjson")).unwrap();
    let out = p.run(&["--events", "events.ndjson"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: --events: "),
        "{}",
        out.stderr
    );
    assert!(!p.join("ran").exists(), "nothing ran");
    assert_eq!(
        std::fs::read_to_string(p.join("precious")).unwrap(),
        "keep me"
    );
}

/// `ptest --events - | head -1`: the reader took what it wanted and went away. As nextest
/// cancels a run whose reporter cannot write, the run stops as a closed terminal stops it —
/// running suites cancelled, the rest skipped, the reports written — and says why.
#[test]
fn events_on_stdout_whose_reader_goes_away_stop_the_run_and_say_so() {
    use std::io::BufRead;
    let p = Project::new(
        r#"
ptest.suite { name = "quick", cmd = "while [ ! -e closed ]; do sleep 0.05; done" }
ptest.suite { name = "long", cmd = "sleep 60; touch long-ended" }
ptest.suite { name = "later", cmd = "sleep 5; touch later-ran", depends_on = { "quick" } }
"#,
    );
    let mut child = p
        .cmd()
        .args(["-j", "2", "--events", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone; now the next line has nowhere to go.
    assert!(first.contains("\"event\":\"run_started\""), "{first}");
    p.file("closed", "");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(
            "error: cannot write events to stdout: its reader went away (broken pipe), so the run stopped"
        ),
        "{stderr}"
    );
    let report = crate::probe::report_at(&p.join("test-logs/test-report.json"));
    let status = |name: &str| {
        report["suites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("long"), "cancelled");
    // The run learns that the reader went away when it writes quick's end; the same step may
    // already have started `later`, quick's dependent: it is then cancelled, not skipped
    // (which one depends on how the event write and the start interleave).
    let later = status("later");
    assert!(later == "skipped" || later == "cancelled", "{later}");
    assert!(!p.join("long-ended").exists() && !p.join("later-ran").exists());
}
