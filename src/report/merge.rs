//! `ptest merge`: join the JSON reports of shards run on different machines into one report,
//! with the summary recomputed (wall time = the slowest shard, sequential time = the sum), and
//! the JUnit XML of the joined report (`--junit`). Suites pass through whole, so a batch's parts
//! keep their `batch` and `testcases`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::Error;

fn read(path: &Path) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read {}: {}",
            path.display(),
            crate::io_message(&e)
        ))
    })?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: not a ptest report: {e}", path.display())))?;
    if !v["suites"].is_array() || !v["summary"].is_object() {
        return Err(Error::Usage(format!(
            "{}: not a ptest report (no suites or summary)",
            path.display()
        )));
    }
    Ok(v)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Merge the reports; suites keep their order, shard by shard.
pub(crate) fn merge(inputs: &[PathBuf]) -> Result<Value, Error> {
    if inputs.is_empty() {
        return Err(Error::Usage("merge: give at least one REPORT.json".into()));
    }
    let reports = inputs
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut suites = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (shard, (r, path)) in reports.iter().zip(inputs).enumerate() {
        for s in r["suites"].as_array().into_iter().flatten() {
            let name = s["name"].as_str().unwrap_or_default().to_owned();
            if let Some(i) = seen.get(&name) {
                return Err(Error::Usage(format!(
                    "merge: suite \"{name}\" is in {} and in {} (each suite belongs to one shard)",
                    inputs[*i].display(),
                    path.display()
                )));
            }
            seen.insert(name, shard);
            suites.push(s.clone());
        }
    }
    let count = |status: &str| suites.iter().filter(|s| s["status"] == status).count();
    let duration = reports
        .iter()
        .map(|r| f(&r["duration"]))
        .fold(0.0, f64::max);
    let sequential: f64 = suites.iter().map(|s| f(&s["duration"])).sum();
    let mut limiters: BTreeMap<String, (u64, f64, u64)> = BTreeMap::new();
    for l in reports
        .iter()
        .flat_map(|r| r["limiters"].as_array().cloned().unwrap_or_default())
    {
        let e = limiters
            .entry(l["name"].as_str().unwrap_or_default().to_owned())
            .or_default();
        e.0 += l["acquired"].as_u64().unwrap_or(0);
        e.1 += f(&l["waited"]);
        e.2 += l["throttled"].as_u64().unwrap_or(0);
    }
    let timestamp = reports
        .iter()
        .filter_map(|r| r["timestamp"].as_str())
        .min()
        .unwrap_or_default();
    let run_ids: Vec<&str> = reports
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    Ok(json!({
        "format_version": crate::report::json::FORMAT_VERSION,
        "ptest_version": env!("CARGO_PKG_VERSION"),
        "run_id": run_ids.join("+"),
        "timestamp": timestamp,
        "duration": duration,
        "workers": reports.iter().map(|r| r["workers"].as_u64().unwrap_or(0)).sum::<u64>(),
        "suites": suites,
        "summary": {
            "total": suites.len(),
            "passed": count("passed"),
            "failed": count("failed"),
            "skipped": count("skipped"),
            "flaky": count("flaky"),
            "timed_out": count("timed_out"),
            "cancelled": count("cancelled"),
            "sequential_time": (sequential * 1000.0).round() / 1000.0,
            "speedup": if duration > 0.0 { ((sequential / duration) * 1000.0).round() / 1000.0 } else { 1.0 },
            "interrupted": reports.iter().any(|r| r["summary"]["interrupted"] == true),
        },
        "limiters": limiters.into_iter().map(|(name, (acquired, waited, throttled))| json!({
            "name": name, "acquired": acquired, "waited": waited, "throttled": throttled,
        })).collect::<Vec<_>>(),
        "shards": inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    }))
}

/// Lines of a log's tail in a merged JUnit failure, as in a run's own JUnit.
const TAIL_LINES: usize = 100;
/// How much of the end of a log is read for that tail.
const TAIL_BYTES: u64 = 64 * 1024;

/// The last attempt's output in a suite's log, when the log is here (CI keeps the shards' log
/// folders as artifacts): the text after the log's last `=== ptest:` header, ANSI codes removed.
fn log_tail(path: &str) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .is_err()
        || f.read_to_end(&mut bytes).is_err()
    {
        return String::new();
    }
    let text = super::strip_ansi(&bytes);
    let last = text.rfind("=== ptest: ").map_or(text.as_str(), |i| {
        text[i..].split_once('\n').map_or("", |(_, rest)| rest)
    });
    super::terminal::last_lines(last.as_bytes(), TAIL_LINES).join("\n")
}

fn seconds(v: &Value) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(f(v)).unwrap_or_default()
}

/// The JUnit document of a (merged) JSON report: a testsuite per phase, in the order phases
/// first appear, a testcase per suite, and a testsuite per batch with the testcases its parts
/// reported, as a run's own `--junit` writes them. A suite's `file` is not in the JSON report,
/// so suites' testcases have none here (batches' testcases keep theirs).
pub(crate) fn junit(report: &Value) -> super::junit::Document {
    use super::junit::{Document, Outcome, Problem, Rerun, TestCase, TestSuite};
    let mut doc = Document {
        name: "ptest".to_owned(),
        time: seconds(&report["duration"]),
        suites: Vec::new(),
    };
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for s in report["suites"].as_array().into_iter().flatten() {
        let str_of = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
        let phase = str_of("phase");
        let at = match doc.suites.iter().position(|t| t.name == phase) {
            Some(i) => i,
            None => {
                doc.suites.push(TestSuite {
                    name: phase,
                    time: std::time::Duration::ZERO,
                    timestamp: None,
                    cases: Vec::new(),
                });
                spans.push((f64::INFINITY, 0.0));
                doc.suites.len() - 1
            }
        };
        if let (Some(a), Some(b)) = (s["start_time"].as_f64(), s["end_time"].as_f64()) {
            spans[at] = (spans[at].0.min(a), spans[at].1.max(b));
        }
        let log = s["log_file"].as_str();
        let tail = || log.map(log_tail).unwrap_or_default();
        let message = s["error_message"]
            .as_str()
            .map_or_else(|| "failed".to_owned(), str::to_owned);
        let status = str_of("status");
        let outcome = match status.as_str() {
            "failed" | "timed_out" => Outcome::Failure(Problem {
                message,
                kind: status.clone(),
                text: tail(),
            }),
            "cancelled" => Outcome::Error(Problem {
                message: format!("cancelled ({message})"),
                kind: "cancelled".to_owned(),
                text: tail(),
            }),
            "skipped" => Outcome::Skipped {
                message: str_of("skip_reason"),
            },
            _ => Outcome::Passed,
        };
        let attempts: Vec<&Value> = s["attempts_detail"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let of = s["attempts"].as_u64().unwrap_or(attempts.len() as u64);
        let earlier = match attempts.split_last() {
            Some((_, before)) if status != "skipped" => before,
            _ => &attempts[..],
        };
        let reruns = earlier
            .iter()
            .filter(|d| d["status"] != "passed")
            .map(|d| Rerun {
                problem: Problem {
                    message: format!(
                        "attempt {}/{of}: {}",
                        d["attempt"].as_u64().unwrap_or(0),
                        d["error_message"].as_str().unwrap_or("failed")
                    ),
                    kind: d["status"].as_str().unwrap_or("failed").to_owned(),
                    text: String::new(),
                },
            })
            .collect();
        doc.suites[at].cases.push(TestCase {
            name: str_of("name"),
            classname: str_of("category"),
            time: seconds(&s["duration"]),
            file: None,
            line: None,
            outcome,
            reruns,
            system_out: log
                .filter(|_| s["attempts"].as_u64().unwrap_or(0) > 0)
                .map(|p| format!("[[ATTACHMENT|{p}]]")),
            system_err: None,
        });
    }
    for (suite, (first, last)) in doc.suites.iter_mut().zip(spans) {
        if first.is_finite() {
            suite.time = std::time::Duration::try_from_secs_f64(last - first).unwrap_or_default();
            suite.timestamp = std::time::UNIX_EPOCH
                .checked_add(std::time::Duration::try_from_secs_f64(first).unwrap_or_default());
        }
    }
    doc.suites.extend(batch_suites(report));
    doc
}

/// A testsuite per batch, named after it, with every testcase of its parts (shard by shard),
/// its time the parts' durations added up, as the run's own JUnit has them.
fn batch_suites(report: &Value) -> Vec<super::junit::TestSuite> {
    use super::junit::TestSuite;
    let mut suites: Vec<TestSuite> = Vec::new();
    let mut starts: Vec<f64> = Vec::new();
    for s in report["suites"].as_array().into_iter().flatten() {
        let (Some(batch), Some(cases)) = (s["batch"]["name"].as_str(), s["testcases"].as_array())
        else {
            continue;
        };
        if cases.is_empty() {
            continue;
        }
        let at = match suites.iter().position(|t| t.name == batch) {
            Some(i) => i,
            None => {
                suites.push(TestSuite {
                    name: batch.to_owned(),
                    time: std::time::Duration::ZERO,
                    timestamp: None,
                    cases: Vec::new(),
                });
                starts.push(f64::INFINITY);
                suites.len() - 1
            }
        };
        suites[at].time += seconds(&s["duration"]);
        if let Some(t) = s["start_time"].as_f64() {
            starts[at] = starts[at].min(t);
        }
        suites[at].cases.extend(
            cases
                .iter()
                .map(|c| super::junit::batch_case(&test_case(c))),
        );
    }
    for (suite, first) in suites.iter_mut().zip(starts) {
        if first.is_finite() {
            suite.timestamp = std::time::UNIX_EPOCH
                .checked_add(std::time::Duration::try_from_secs_f64(first).unwrap_or_default());
        }
    }
    suites
}

/// A testcase of the JSON report's `testcases`, as the run had it.
fn test_case(v: &Value) -> crate::batch::results::TestCase {
    use crate::batch::results::Outcome;
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    crate::batch::results::TestCase {
        name: text("name").unwrap_or_default(),
        classname: text("classname"),
        file: text("file"),
        line: v["line"].as_u64().and_then(|l| u32::try_from(l).ok()),
        time: v["duration"].as_f64(),
        outcome: match v["status"].as_str() {
            Some("passed") => Outcome::Passed,
            Some("skipped") => Outcome::Skipped,
            Some("error") => Outcome::Error,
            // Whatever else a report says is not a pass.
            _ => Outcome::Failed,
        },
        message: text("message"),
        kind: text("type"),
        text: text("text"),
        suite: None,
        suite_file: None,
        item: None,
        share: 0.0,
        sliced: None,
    }
}
