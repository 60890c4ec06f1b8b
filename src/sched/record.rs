//! The run's record, built by the driver as the run goes: a suite's entry when the suite ends
//! (its failed attempts' output tails read from its log then: the one read of a log for the
//! reports), the whole record when the run ends. Reads only this run's logs, through
//! `tail::read_tail` (never through a link, never waiting on a FIFO, bounded).

mod place;

use std::path::{Path, PathBuf};

use crate::command::CommandLine;
use crate::event::{LimiterStats, RunInfo, ServiceRecord, Status, SuiteResult, Summary};
use crate::plan::Plan;
use crate::record::{
    self, Attempt, Batch, FORMAT_VERSION, Limiter, Record, Service, Suite, TAIL_LINES, TEXT_BUDGET,
    TestCase, display_path, last_lines, round3, unix_secs,
};

/// The record of a run being built: the entries of the suites that ended so far.
pub(crate) struct Recorder {
    suites: Vec<Option<Suite>>,
    /// What is left of the record's budget for testcases' messages and texts.
    budget: usize,
    /// The run's service instances, once they all ended.
    services: Vec<Service>,
    /// DESIGN §10, a queue run: the machine every entry names.
    node: Option<String>,
    /// A queue run: this machine stopped taking units, and why.
    pub(crate) stopped_taking: Option<String>,
}

impl Recorder {
    pub(crate) fn new(plan: &Plan) -> Recorder {
        Recorder {
            suites: vec![None; plan.suites.len()],
            budget: TEXT_BUDGET,
            services: Vec::new(),
            node: None,
            stopped_taking: None,
        }
    }

    /// The services' instances ended (the run's last processes but the hooks'): their entries.
    pub(crate) fn services(&mut self, plan: &Plan, records: &[ServiceRecord]) {
        self.services = records.iter().map(|v| service(plan, v)).collect();
    }

    /// A queue run's record: every entry names this machine.
    pub(crate) fn on_node(mut self, node: String) -> Recorder {
        self.node = Some(node);
        self
    }

    /// A suite ended: its entry, kept for the record.
    pub(crate) fn ended(&mut self, plan: &Plan, r: &SuiteResult) -> &Suite {
        let entry = suite(plan, r, &mut self.budget, self.node.as_deref());
        self.suites[r.id.index()].insert(entry)
    }

    /// The run ended: every suite's entry (in `results`' order), the summary, the limiters, and
    /// the failed attempts' temporary folders under `tmp_root` when they stayed.
    pub(crate) fn finish(
        mut self,
        plan: &Plan,
        run: &RunInfo,
        results: &[SuiteResult],
        summary: &Summary,
        limiters: &[LimiterStats],
        tmp_root: &Path,
    ) -> Record {
        let suites = results
            .iter()
            .map(|r| match self.suites[r.id.index()].take() {
                Some(s) => s,
                None => suite(plan, r, &mut self.budget, self.node.as_deref()),
            })
            .collect();
        let failed_attempts = results
            .iter()
            .any(|r| r.status.is_failure() || r.status == Status::Flaky);
        Record {
            format_version: FORMAT_VERSION,
            ptest_version: env!("CARGO_PKG_VERSION").to_owned(),
            run_id: run.run_id.clone(),
            timestamp: humantime::format_rfc3339_millis(run.started).to_string(),
            duration: round3(summary.duration.as_secs_f64()),
            workers: plan.workers,
            suites,
            summary: record::Summary {
                total: summary.total,
                passed: summary.passed,
                failed: summary.failed,
                skipped: summary.skipped,
                flaky: summary.flaky,
                timed_out: summary.timed_out,
                cancelled: summary.cancelled,
                sequential_time: round3(summary.sequential_time.as_secs_f64()),
                speedup: round3(summary.speedup()),
                interrupted: summary.interrupted,
            },
            limiters: plan
                .limiters
                .iter()
                .zip(limiters)
                .map(|(l, st)| Limiter {
                    name: l.name.clone(),
                    acquired: st.acquired,
                    waited: round3(st.waited.as_secs_f64()),
                    throttled: st.throttled,
                    rate: st.rate,
                    serialized: st.serialized,
                    declared_rate: l.rate,
                    per: l.per.as_secs_f64(),
                    max_throttled: l.max_throttled,
                })
                .collect(),
            services: self.services,
            kept_tmp: (failed_attempts && tmp_root.is_dir()).then(|| record::KeptTmp {
                folder: tmp_root.to_string_lossy().into_owned(),
                runs: super::files::KEPT_RUNS,
            }),
            shards: Vec::new(),
            // DESIGN §10: a queue machine's report says so, with its static shard (the
            // fallback) when one is known.
            shard: if self.node.is_some() {
                let sh = plan.settings.shard.value;
                Some(record::ShardOf {
                    index: sh.map_or(0, |sh| sh.index),
                    total: sh.map_or(0, |sh| sh.total),
                    mode: "queue".to_owned(),
                    split: String::new(),
                    every_shard: Vec::new(),
                    stopped_taking: self.stopped_taking.clone(),
                })
            } else {
                plan.settings.shard.value.map(|sh| record::ShardOf {
                    index: sh.index,
                    total: sh.total,
                    mode: "static".to_owned(),
                    split: plan
                        .shard_note
                        .as_ref()
                        .map(|n| n.split.clone())
                        .unwrap_or_default(),
                    every_shard: plan
                        .shard_note
                        .as_ref()
                        .map(|n| n.every_shard.clone())
                        .unwrap_or_default(),
                    stopped_taking: None,
                })
            },
        }
    }
}

/// One suite's entry, with its failed attempts' tails.
fn suite(plan: &Plan, r: &SuiteResult, budget: &mut usize, node: Option<&str>) -> Suite {
    let s = plan.suite(r.id);
    let attempts_detail = r
        .attempts_detail
        .iter()
        .map(|d| Attempt {
            tail: (d.status != Status::Passed)
                .then(|| tail(r.log_file.as_deref()?, d.output?))
                .flatten(),
            ..d.entry()
        })
        .collect();
    Suite {
        name: s.name.clone(),
        description: s.description.clone(),
        category: s.category.clone(),
        phase: plan.phase(s.phase).name.clone(),
        group: plan.group_name(s).map(str::to_owned),
        tags: s.tags.clone(),
        file: suite_file(plan, s),
        status: r.status,
        start_time: r.start_time.map(unix_secs),
        end_time: r.end_time.map(unix_secs),
        duration: round3(r.duration.as_secs_f64()),
        return_code: r.return_code,
        signal: r.signal,
        attempts: r.attempts,
        max_attempts: s.retry.attempts,
        error_message: r.error_message.clone(),
        skip_reason: r.skip_reason.as_ref().map(ToString::to_string),
        log_file: r
            .log_file
            .as_deref()
            .map(|p| display_path(p).to_string_lossy().into_owned()),
        worker: r.worker,
        shard: None,
        node: node.map(str::to_owned),
        peak_rss_kb: r.peak_rss_kb,
        cpu_time: r.cpu_time.map(|d| round3(d.as_secs_f64())),
        attempts_detail,
        batch: r.part(s).map(|p| Batch {
            name: p.batch.clone(),
            index: p.index,
            count: p.count,
            items: p.items.iter().map(|(i, _)| i.clone()).collect(),
        }),
        testcases: r.part(s).map(|p| {
            r.testcases
                .iter()
                .map(|c| {
                    let mut c = test_case(c, &p.items).capped(budget);
                    if c.status.is_failure() || c.is_flaky() {
                        c.location = place::of(plan, s, &c);
                    }
                    c
                })
                .collect()
        }),
        // A suite that a failed service failed before it (re)started: its log's last words
        // are ptest's note with the service's, after the last attempt's output, if any.
        tail: r
            .last_output
            .filter(|o| r.attempts_detail.last().and_then(|d| d.output) != Some(*o))
            .and_then(|o| tail(r.log_file.as_deref()?, o)),
    }
}

/// A service instance as the record keeps it.
fn service(plan: &Plan, v: &ServiceRecord) -> Service {
    Service {
        name: plan.service(v.instance.service).name.clone(),
        instance: crate::services::instance_name(plan, v.instance),
        worker: v.instance.worker,
        log_file: Some(display_path(&v.log_file).to_string_lossy().into_owned()),
        ports: v
            .ports
            .iter()
            .map(|(n, p)| {
                let key = n
                    .as_ref()
                    .map_or_else(|| "port".to_owned(), |n| format!("port:{n}"));
                (key, *p)
            })
            .collect(),
        start_time: unix_secs(v.started),
        ready_time: v.ready.map(unix_secs),
        stop_time: v.stopped.map(unix_secs),
        error_message: v.failure.clone(),
    }
}

/// A testcase as the record keeps it: its item named, its time only when it is a number.
pub(crate) fn test_case(c: &crate::batch::results::TestCase, items: &[(String, f64)]) -> TestCase {
    let flaky = c.failed_before.is_some() && c.outcome == crate::record::Outcome::Passed;
    TestCase {
        name: c.name.clone(),
        classname: c.classname.clone(),
        file: c.file.clone(),
        line: c.line,
        item: c.item.and_then(|i| items.get(i)).map(|(n, _)| n.clone()),
        status: c.outcome,
        attempts: c.attempts,
        flaky,
        failed_before: c.failed_before.clone().filter(|_| flaky),
        split_outcome: c.sliced.or(c.confirmed).filter(|o| *o != c.outcome),
        duration: c.time.filter(|t| t.is_finite()).map(round3),
        message: c.message.clone(),
        kind: c.kind.clone(),
        text: c.text.clone(),
        location: None,
    }
}

/// The last [`TAIL_LINES`] lines of one attempt's output (`range` in the log), colour codes
/// removed; `None` when it printed nothing.
fn tail(log: &Path, range: (u64, u64)) -> Option<String> {
    let text = strip_ansi(&crate::tail::read_tail(log, range.0, range.1));
    let lines = last_lines(&text, TAIL_LINES);
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Output as text a report can show: lossily decoded, ANSI escape sequences (colours, cursor
/// moves) and control characters removed, tabs and line breaks kept (the stripper drops every
/// control byte but the newline, which glued go's `FAIL\tpkg\t0.01s` into `FAILpkg0.01s`).
fn strip_ansi(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, piece) in bytes.split(|&b| b == b'\t').enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        out.extend_from_slice(&strip_ansi_escapes::strip(piece));
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The one file a suite is about, relative to the config's folder: of its name and its
/// command's arguments (program excluded; `path::test` selectors cut at `::`), those naming an
/// existing file, when there is exactly one. CI systems link a test case to it.
fn suite_file(plan: &Plan, s: &crate::plan::Suite) -> Option<String> {
    let words: Vec<String> = match &s.cmd {
        CommandLine::Shell(line) => line
            .to_string_lossy()
            .split_whitespace()
            .skip(1)
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_owned())
            .collect(),
        CommandLine::Argv(v) => v
            .iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    };
    let mut found: Vec<PathBuf> = Vec::new();
    for w in std::iter::once(&s.name).chain(&words) {
        let w = w.split("::").next().unwrap_or(w);
        if w.is_empty() || w.starts_with('-') || w.contains('=') || w.contains('{') {
            continue;
        }
        let p = s.cwd.join(w);
        if !p.is_file() {
            continue;
        }
        let p = std::fs::canonicalize(&p).unwrap_or(p);
        if !found.contains(&p) {
            found.push(p);
        }
    }
    let [only] = found.as_slice() else {
        return None;
    };
    Some(from_config(plan, only))
}

/// `path` relative to the folder of `ptest.lua`, links resolved (as it is when outside it).
fn from_config(plan: &Plan, path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let base = std::fs::canonicalize(&plan.config_dir).unwrap_or_else(|_| plan.config_dir.clone());
    let rel = path.strip_prefix(&base).unwrap_or(&path);
    rel.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests;
