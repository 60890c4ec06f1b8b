//! DESIGN §10, what the queue's supervisor writes (`ptest merge --queue URL --wait`): the
//! whole run's HTML page with a lane per machine, and the run added to a history once (also
//! when supervised twice), each unit with the result that counted; the machines' own reports say they were a queue's, and
//! `ptest merge` of them draws a lane per machine too.

use std::collections::BTreeMap;

use crate::queue::{Fleet, Redis, wait};
use crate::queue_leases::merged;

/// The merged report's suites: name → the machine that ran it.
fn nodes(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["node"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

/// Each attempt's bar in an HTML page: (suite, the `data-node` it names).
fn bars(html: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| -> String {
        let key = format!(" {name}=\"");
        tag.split_once(&key)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(v, _)| v.to_owned())
            .unwrap_or_default()
    };
    html.split("<rect class=\"attempt\"")
        .skip(1)
        .map(|t| {
            let tag = t.split_once('>').unwrap().0;
            (attr(tag, "data-suite"), attr(tag, "data-node"))
        })
        .collect()
}

#[test]
fn the_supervisor_draws_a_lane_per_machine_and_adds_the_run_to_history_once() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let mut body = String::new();
    for i in 0..9 {
        body += &format!("ptest.suite {{ name = 'q{i}', cmd = probe('q{i}', 0.2) }}\n");
    }
    let f = Fleet::new(&body);
    // A history from an earlier run: the supervisor adds this run beside it.
    f.p.file(
        "hist.json",
        "{\"format_version\":2,\"run_fields\":[\"time\",\"status\",\"duration\",\"attempts\",\"peak_rss_kb\",\"cpu_time\"],\n\
         \"suites\":{\n\"q0\":{\"runs\":[[1000,\"passed\",9.5,1]]}\n},\n\"items\":{\n}}\n",
    );
    let url = redis.url();
    let outs = f.run_machines(&url, 3, &["-j", "2"]);
    for o in &outs {
        assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    }
    let supervise = || {
        let mut sup = f.p.cmd();
        sup.args(["merge", "--queue", &url, "--queue-run", &f.run, "--wait"])
            .args([
                "--timeout",
                "60s",
                "-o",
                "merged.json",
                "--junit",
                "merged.xml",
            ])
            .args(["--html", "merged.html", "--add-history", "hist.json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let sup = wait(sup.spawn().unwrap());
        assert_eq!(sup.code, 0, "{}\n{}", sup.stdout, sup.stderr);
        assert!(!sup.stderr.contains("warning"), "{}", sup.stderr);
    };
    supervise();
    let ran = nodes(&merged(&f, "merged.json"));
    assert_eq!(ran.len(), 9, "{ran:?}");
    let spans = f.spans();
    for (name, node) in &ran {
        assert_eq!(spans[name].len(), 1, "{name}: {:?}", spans[name]);
        assert_eq!(&spans[name][0].machine, node, "{name}");
    }
    let machines: std::collections::BTreeSet<&String> = ran.values().collect();
    assert!(machines.len() >= 2, "one machine ran everything: {ran:?}");

    // The page: each suite's one attempt once, on its machine's lane; a lane per machine that
    // ran something, each with its workers' rows.
    let html = std::fs::read_to_string(f.p.join("merged.html")).unwrap();
    assert!(html.contains("a lane per machine"), "{html}");
    let mut drawn = bars(&html);
    drawn.sort();
    let expected: Vec<(String, String)> = ran.clone().into_iter().collect();
    assert_eq!(drawn, expected);
    for m in ["m1", "m2", "m3"] {
        let runs = machines.contains(&m.to_owned());
        assert_eq!(html.contains(&format!(">{m} w0</text>")), runs, "{m}");
        assert!(!html.contains(&format!(">{m} w2</text>")), "{m}: -j 2");
    }
    assert!(html.contains(", worker 0</title>"), "{html}");

    // The history: the earlier run kept, this run once per suite with its duration.
    let hist = merged(&f, "hist.json");
    let suites = hist["suites"].as_object().unwrap();
    assert_eq!(suites.len(), 9, "{hist}");
    for (name, runs) in suites {
        let runs = runs["runs"].as_array().unwrap_or_else(|| panic!("{hist}"));
        let new = runs.last().unwrap();
        assert_eq!(
            runs.len(),
            if name == "q0" { 2 } else { 1 },
            "{name}: {runs:?}"
        );
        assert_eq!(new[1], "passed", "{name}");
        let secs = new[2]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: {runs:?}"));
        assert!((0.15..30.0).contains(&secs), "{name}: {secs}");
    }
    assert_eq!(suites["q0"]["runs"][0][2], 9.5);
    // The supervisor run again for the same queue run (a CI job retried) adds nothing.
    supervise();
    assert_eq!(merged(&f, "hist.json"), hist);

    // Each machine's report says it was a queue's; joined with `ptest merge`, they are one run
    // with no shard missing and a lane per machine.
    let mut reports = Vec::new();
    for m in &machines {
        let r = f.report(m);
        assert_eq!(r["shard"]["mode"], "queue", "{m}: {}", r["shard"]);
        reports.push(format!("logs-{m}/test-report.json"));
    }
    let mut args = vec!["merge", "-o", "joined.json", "--html", "joined.html"];
    args.extend(reports.iter().map(String::as_str));
    let out = f.p.run(&args);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(nodes(&merged(&f, "joined.json")), ran);
    let mut joined = bars(&std::fs::read_to_string(f.p.join("joined.html")).unwrap());
    joined.sort();
    assert_eq!(joined, expected);
}
