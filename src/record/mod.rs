//! The record of a run: what every suite, attempt and batch testcase did, with each failed
//! attempt's output tail, typed and versioned. Built once as the run goes (`build.rs`: a suite's
//! entry when it ends, the whole record when the run ends); `test-report.json` is its
//! serialization; `ptest merge` joins records (`merge.rs`); JUnit, HTML, the GitHub summary, the
//! terminal summary and the Lua `run_finished` table are functions of it (`report`). Plain data
//! here: nothing in this file reads a file, and nothing anywhere opens a path a record names.
//!
//! A shard's identity is `shard` beside `run_id` (and, merged, in [`Suite`] after `worker`); a
//! machine's (`node`, the queue's) comes next to it; services as a list beside `limiters`
//! ([`Service`]).
//! A test's own attempts and flakiness are in [`TestCase`] after `status`.

pub(crate) mod merge;

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning or goes away; new fields may come at any time.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Lines of an attempt's output kept as its tail (the most any report shows).
pub(crate) const TAIL_LINES: usize = 100;
/// The most a testcase keeps of its failure's text and message: a little above what a batch's
/// results reader keeps of a text (64 KiB and the line saying where it cut it), so that what
/// the reader cut is not cut again; the record's own caps bound what a merge takes from another
/// machine's report.
pub(crate) const TEXT_CAP: usize = 65 * 1024;
/// The most a testcase keeps of each of its other strings (name, classname, file, item, type).
pub(crate) const MESSAGE_CAP: usize = 4 * 1024;
/// The most a record keeps of all its testcases' messages and texts together: past it, each
/// keeps [`CAP_PAST_BUDGET`] of them, so 200,000 failures cannot make a report of gigabytes.
pub(crate) const TEXT_BUDGET: usize = 32 * 1024 * 1024;
pub(crate) const CAP_PAST_BUDGET: usize = 256;

/// How a suite ended. Ordered roughly by severity for summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Passed,
    Flaky,
    Failed,
    TimedOut,
    Cancelled,
    Skipped,
}

impl Status {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Flaky => "flaky",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Cancelled => "cancelled",
            Status::Skipped => "skipped",
        }
    }

    /// Passed, or flaky (failed, then passed on a retry).
    pub(crate) fn is_pass(self) -> bool {
        matches!(self, Status::Passed | Status::Flaky)
    }

    /// A final failure: makes the run exit 1 and triggers fail-fast.
    pub(crate) fn is_failure(self) -> bool {
        matches!(self, Status::Failed | Status::TimedOut)
    }
}

/// How one test of a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Passed,
    Failed,
    /// An error outside the test's assertions (a fixture, a crash), as JUnit's `error`.
    Error,
    Skipped,
}

impl Outcome {
    pub(crate) fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Error)
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The whole run (or several shards' runs, merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(default)]
    pub format_version: u32,
    #[serde(default)]
    pub ptest_version: String,
    #[serde(default)]
    pub run_id: String,
    /// The static shard this run was (`--shard K/N`); absent when it was not one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardOf>,
    /// When the run started, RFC 3339.
    #[serde(default)]
    pub timestamp: String,
    /// Wall time, seconds.
    #[serde(default)]
    pub duration: f64,
    #[serde(default)]
    pub workers: u32,
    pub suites: Vec<Suite>,
    pub summary: Summary,
    #[serde(default)]
    pub limiters: Vec<Limiter>,
    /// Every service instance the run started (DESIGN §11), in the order they started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    /// Where the failed attempts' temporary folders stayed, when some did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_tmp: Option<KeptTmp>,
    /// A merged record: the reports it joined, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<String>,
}

/// Which shard of a static split a run was, and what `ptest merge` checks of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShardOf {
    /// 1-based; a queue machine's is its fallback static shard's, 0 when none is known.
    pub index: u32,
    pub total: u32,
    /// `static` (`--shard K/N`), or `queue` (a machine of a queue run: no shard is missing).
    #[serde(default)]
    pub mode: String,
    /// A digest of the whole split: the same on every shard of one run.
    #[serde(default)]
    pub split: String,
    /// Suites every shard runs (those of `always` phases).
    #[serde(default)]
    pub every_shard: Vec<String>,
    /// A queue machine that stopped taking units (its first units all failed): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_taking: Option<String>,
}

/// The folder that holds a run's failed attempts' temporary folders, kept with those of the
/// last `runs` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeptTmp {
    pub folder: String,
    pub runs: usize,
}

/// One suite (a batch's part is one too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Suite {
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub phase: String,
    pub group: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The one file the suite is about, relative to the config's folder (CI systems link a
    /// test case to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub status: Status,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    #[serde(default)]
    pub duration: f64,
    pub return_code: Option<i32>,
    pub signal: Option<i32>,
    /// Attempts that ran.
    #[serde(default)]
    pub attempts: u32,
    /// The most its retry policy allows (absent: 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub max_attempts: u32,
    pub error_message: Option<String>,
    pub skip_reason: Option<String>,
    pub log_file: Option<String>,
    /// The worker of its last attempt.
    pub worker: Option<u32>,
    /// In a merged record, the shard that ran it: its report's shard index, or the report's
    /// place among those merged (from 1) when that was not a shard's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// DESIGN §10, a queue run: the machine that ran it (the CI's job name, or the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub peak_rss_kb: Option<u64>,
    pub cpu_time: Option<f64>,
    #[serde(default)]
    pub attempts_detail: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Batch>,
    /// A batch part's testcases, the latest attempt's for each item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testcases: Option<Vec<TestCase>>,
    /// Why it failed when no attempt of its says it: a service it needs was not ready or
    /// exited before it (re)started. The service's words and the end of its log, as its own log
    /// holds them; shown in place of the last attempt's tail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<String>,
}

/// One instance of a service: the run's only one, or a worker's (`scope = "worker"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Service {
    /// The service's name.
    pub name: String,
    /// How logs and messages name the instance: `db`, or `redis@2` on worker 2.
    #[serde(default)]
    pub instance: String,
    /// Its worker slot, for `scope = "worker"`.
    #[serde(default)]
    pub worker: Option<u32>,
    #[serde(default)]
    pub log_file: Option<String>,
    /// The ports chosen for it, by placeholder: `port` for `{port}`, `port:http` for
    /// `{port:http}`.
    #[serde(default)]
    pub ports: std::collections::BTreeMap<String, u16>,
    /// When its process was started, seconds since the epoch.
    #[serde(default)]
    pub start_time: f64,
    /// When its readiness check passed (none: it never was ready).
    #[serde(default)]
    pub ready_time: Option<f64>,
    /// When its process ended.
    #[serde(default)]
    pub stop_time: Option<f64>,
    /// Why it failed (`service "db" not ready after 30s`), when it did.
    #[serde(default)]
    pub error_message: Option<String>,
}

fn one() -> u32 {
    1
}

#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde's signature")]
fn is_one(n: &u32) -> bool {
    *n == 1
}

/// One attempt of a suite, on its own worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Attempt {
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub worker: u32,
    #[serde(default)]
    pub start_time: f64,
    #[serde(default)]
    pub end_time: f64,
    #[serde(default)]
    pub duration: f64,
    pub status: Status,
    pub return_code: Option<i32>,
    pub signal: Option<i32>,
    pub error_message: Option<String>,
    /// An attempt that did not pass: the last [`TAIL_LINES`] lines of its output, colour codes
    /// removed (read from the log once, when its suite ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<String>,
}

/// Which batch a part belongs to, and its share of the items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Batch {
    pub name: String,
    /// 1-based, of `count`.
    pub index: u32,
    pub count: u32,
    pub items: Vec<String>,
}

/// One test a batch's command reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TestCase {
    pub name: String,
    pub classname: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// The batch item it was counted under.
    pub item: Option<String>,
    pub status: Outcome,
    /// How many attempts of its part ran it (absent: 1); it ended as the last of them did.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub attempts: u32,
    /// It failed in an earlier attempt of its part and passed in the last: a flaky test
    /// (`FLAKY 2/2 tests/test_x.py::test_y`), counted among the passed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
    /// What its earlier attempt's failure said (the first line of its message or text), when
    /// it is flaky.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_before: Option<String>,
    /// How it ended in the part ptest split the work into (a slice of its file, a part without
    /// the other parts' files, a fork of the warm process), when a second run as a plain run
    /// has it ended otherwise: its status is that run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_outcome: Option<Outcome>,
    /// Seconds.
    pub duration: Option<f64>,
    /// The failure's or skip's message (at most [`TEXT_CAP`]).
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The failure's text, such as a traceback (at most [`TEXT_CAP`]).
    pub text: Option<String>,
    /// A failed or flaky test's place in the sources, when it was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Place>,
}

/// Where a test is in the sources, found when the record was built: the file, relative to the
/// folder of `ptest.lua`, and the line its failure happened on, when its output says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Place {
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// Counts and times of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub flaky: usize,
    pub timed_out: usize,
    pub cancelled: usize,
    /// The suites' durations added up.
    pub sequential_time: f64,
    /// `sequential_time / duration`, kept for readers of the format; no report shows it.
    pub speedup: f64,
    pub interrupted: bool,
}

/// What one limiter did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Limiter {
    pub name: String,
    pub acquired: u64,
    /// Seconds suites and clients waited for it.
    pub waited: f64,
    pub throttled: u64,
    /// Tokens per `per` in force at the end.
    pub rate: f64,
    pub serialized: bool,
    /// As declared: its rate per `per` seconds, and `max_throttled`.
    pub declared_rate: f64,
    pub per: f64,
    pub max_throttled: Option<u32>,
}

impl Summary {
    /// Counts the suites' statuses and adds up their time.
    pub(crate) fn of(suites: &[Suite], wall: f64, interrupted: bool) -> Summary {
        let mut s = Summary {
            total: suites.len(),
            interrupted,
            ..Summary::default()
        };
        for suite in suites {
            *match suite.status {
                Status::Passed => &mut s.passed,
                Status::Flaky => &mut s.flaky,
                Status::Failed => &mut s.failed,
                Status::TimedOut => &mut s.timed_out,
                Status::Cancelled => &mut s.cancelled,
                Status::Skipped => &mut s.skipped,
            } += 1;
            s.sequential_time += suite.duration;
        }
        s.sequential_time = round3(s.sequential_time);
        s.speedup = if wall > 0.0 {
            round3(s.sequential_time / wall)
        } else {
            1.0
        };
        s
    }

    /// Each status with its count, in the order reports name them.
    pub(crate) fn counts(&self) -> [(usize, Status); 6] {
        [
            (self.passed, Status::Passed),
            (self.flaky, Status::Flaky),
            (self.failed, Status::Failed),
            (self.timed_out, Status::TimedOut),
            (self.cancelled, Status::Cancelled),
            (self.skipped, Status::Skipped),
        ]
    }

    /// DESIGN §4: 0 all passed (flaky included), 1 a suite failed or timed out, 130 interrupted.
    pub(crate) fn exit_code(&self) -> u8 {
        crate::exit::of_run(self.interrupted, self.failed + self.timed_out)
    }
}

impl Suite {
    /// Its last attempt, when one ran.
    pub(crate) fn last(&self) -> Option<&Attempt> {
        self.attempts_detail.last()
    }

    /// The attempts before the last that did not pass (a flaky suite's, or a failed one's
    /// retried failures).
    pub(crate) fn earlier_failures(&self) -> impl Iterator<Item = &Attempt> {
        let n = self.attempts_detail.len().saturating_sub(1);
        self.attempts_detail[..n]
            .iter()
            .filter(|a| a.status != Status::Passed)
    }

    /// Why each earlier attempt failed, `; `-joined (`exit code 1; timed out after 2m`).
    pub(crate) fn failed_before(&self) -> String {
        let reasons: Vec<&str> = self
            .earlier_failures()
            .map(|a| a.error_message.as_deref().unwrap_or("failed"))
            .collect();
        reasons.join("; ")
    }

    /// Its testcases cut to the record's caps ([`TestCase::capped`]).
    #[must_use]
    pub(crate) fn capped(mut self, budget: &mut usize) -> Suite {
        if let Some(cases) = self.testcases.take() {
            self.testcases = Some(cases.into_iter().map(|c| c.capped(budget)).collect());
        }
        self
    }

    /// Its error message, else "failed".
    pub(crate) fn error(&self) -> &str {
        self.error_message.as_deref().unwrap_or("failed")
    }

    /// Why it did not simply pass: its error message or skip reason (empty for a pass).
    pub(crate) fn why(&self) -> &str {
        self.error_message
            .as_deref()
            .or(self.skip_reason.as_deref())
            .unwrap_or_default()
    }

    /// The output tail that says why it ended: the service's words when a service it needs
    /// failed it, else its last attempt's.
    pub(crate) fn tail(&self) -> &str {
        self.tail
            .as_deref()
            .or_else(|| self.last().and_then(|a| a.tail.as_deref()))
            .unwrap_or_default()
    }

    /// Its testcases (none for a plain suite).
    pub(crate) fn cases(&self) -> &[TestCase] {
        self.testcases.as_deref().unwrap_or_default()
    }

    /// The most attempts it could have had: its policy's, or as many as ran (a report from
    /// before `max_attempts` was written).
    pub(crate) fn of_attempts(&self) -> u32 {
        self.max_attempts.max(self.attempts)
    }
}

impl Record {
    /// Every testcase of every batch part.
    pub(crate) fn cases(&self) -> impl Iterator<Item = &TestCase> + Clone {
        self.suites.iter().flat_map(Suite::cases)
    }

    /// Every testcase with the suite (a batch's part) that reported it.
    pub(crate) fn tests(&self) -> impl Iterator<Item = (&Suite, &TestCase)> {
        self.suites
            .iter()
            .flat_map(|s| s.cases().iter().map(move |c| (s, c)))
    }

    /// The suites that ran, longest first (in the record's order among equals).
    pub(crate) fn slowest(&self) -> Vec<&Suite> {
        let mut ran: Vec<&Suite> = self.suites.iter().filter(|s| s.attempts > 0).collect();
        ran.sort_by(|a, b| b.duration.total_cmp(&a.duration));
        ran
    }

    /// The suites that failed or timed out.
    pub(crate) fn failures(&self) -> impl Iterator<Item = &Suite> {
        self.suites.iter().filter(|s| s.status.is_failure())
    }

    /// When the run started, as the timestamp says (the epoch for one that does not parse).
    pub(crate) fn started(&self) -> std::time::SystemTime {
        humantime::parse_rfc3339_weak(&self.timestamp).unwrap_or(std::time::UNIX_EPOCH)
    }
}

/// How many of `cases` are flaky (counted among the passed by [`outcome_counts`]).
pub(crate) fn flaky_count<'a>(cases: impl IntoIterator<Item = &'a TestCase>) -> usize {
    cases.into_iter().filter(|c| c.is_flaky()).count()
}

/// How many of `cases` ended each way (passed, failed, error, skipped).
pub(crate) fn outcome_counts<'a>(
    cases: impl IntoIterator<Item = &'a TestCase>,
) -> [(usize, Outcome); 4] {
    let mut counts = [
        (0, Outcome::Passed),
        (0, Outcome::Failed),
        (0, Outcome::Error),
        (0, Outcome::Skipped),
    ];
    for c in cases {
        if let Some(n) = counts.iter_mut().find(|(_, o)| *o == c.status) {
            n.0 += 1;
        }
    }
    counts
}

impl TestCase {
    /// Failed in an earlier attempt of its part, passed in the last.
    pub(crate) fn is_flaky(&self) -> bool {
        self.flaky && self.status == Outcome::Passed
    }

    /// What failed in its earlier attempt, for a flaky test ("failed" when nothing says).
    pub(crate) fn before(&self) -> &str {
        self.failed_before.as_deref().unwrap_or("failed")
    }

    /// How people name it: `tests/test_x.py::test_y` when the file is known, else
    /// `classname::name`, else the name.
    pub(crate) fn display(&self) -> String {
        test_name(&self.name, self.classname.as_deref(), self.file.as_deref())
    }

    /// Cut to the record's caps, each cut said where it is. `budget`: what is left of the
    /// record's [`TEXT_BUDGET`] for messages and texts (lowered by what this one keeps).
    #[must_use]
    pub(crate) fn capped(mut self, budget: &mut usize) -> TestCase {
        let text = if *budget >= 2 * TEXT_CAP {
            TEXT_CAP
        } else {
            CAP_PAST_BUDGET
        };
        let cut = |s: &mut String, cap: usize, what: &str| {
            if let std::borrow::Cow::Owned(c) = capped(s, cap, what) {
                *s = c;
            }
        };
        cut(&mut self.name, MESSAGE_CAP, "a testcase's name");
        for (field, what, cap) in [
            (&mut self.classname, "a testcase's classname", MESSAGE_CAP),
            (&mut self.file, "a testcase's file", MESSAGE_CAP),
            (&mut self.item, "a testcase's item", MESSAGE_CAP),
            (&mut self.kind, "a testcase's type", MESSAGE_CAP),
            (
                &mut self.failed_before,
                "a testcase's earlier failure",
                MESSAGE_CAP,
            ),
            (&mut self.message, "a testcase's message", text),
            (&mut self.text, "a testcase's text", text),
        ] {
            if let Some(s) = field {
                cut(s, cap, what);
            }
        }
        if let Some(at) = &mut self.location {
            cut(&mut at.file, MESSAGE_CAP, "a testcase's location");
        }
        let kept = self.message.as_ref().map_or(0, String::len)
            + self.text.as_ref().map_or(0, String::len);
        *budget = budget.saturating_sub(kept);
        self
    }

    /// The first line of the message, or of the text when there is no message.
    pub(crate) fn summary(&self) -> Option<&str> {
        let from = self
            .message
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .or(self.text.as_deref())?;
        from.lines().map(str::trim).find(|l| !l.is_empty())
    }
}

/// How people name a test: `tests/test_x.py::test_y` when the file is known, else
/// `classname::name`, else the name.
pub(crate) fn test_name(name: &str, classname: Option<&str>, file: Option<&str>) -> String {
    match (file, classname) {
        // pytest's collection errors: the module is the test; jest's and vitest's files
        // that failed to load are named after the file.
        (Some(f), Some(c)) if c.is_empty() || name == f => f.to_owned(),
        // node names a file that failed to load by its absolute path.
        (None, Some(c))
            if name == c || (name.starts_with('/') && name.ends_with(&format!("/{c}"))) =>
        {
            c.to_owned()
        }
        (Some(f), Some(c)) => {
            // pytest's classname is the module path plus the class, if any.
            let module = f.trim_end_matches(".py").replace('/', ".");
            match c.strip_prefix(&module).and_then(|r| r.strip_prefix('.')) {
                Some(class) => format!("{f}::{class}::{name}"),
                None => format!("{f}::{name}"),
            }
        }
        (Some(f), None) => format!("{f}::{name}"),
        (None, Some(c)) if !c.is_empty() => format!("{c}::{name}"),
        _ => name.to_owned(),
    }
}

/// The id of a test below its batch item (`TestC::test_y[1]` of `tests/test_x.py`): what
/// history keeps of a failed one, and what `--rerun-failed` gives the batch's `test` template;
/// `None` when its name does not start with the item (it is the item, as a cargo test is).
pub(crate) fn test_below<'a>(name: &'a str, item: &str) -> Option<&'a str> {
    name.strip_prefix(item)?
        .strip_prefix("::")
        .filter(|t| !t.is_empty())
}

/// Seconds since the Unix epoch, as the record writes times.
pub(crate) fn unix_secs(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A path as a person would type it from the current folder: relative when it is below it.
pub(crate) fn display_path(p: &std::path::Path) -> std::path::PathBuf {
    use std::path::PathBuf;
    // ptest never changes its own folder (suites change theirs): asked once, not per suite.
    static CWD: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    match CWD.get_or_init(|| std::env::current_dir().ok()) {
        Some(cwd) => p
            .strip_prefix(cwd)
            .map_or_else(|_| p.to_path_buf(), std::path::Path::to_path_buf),
        None => p.to_path_buf(),
    }
}

/// Seconds to the millisecond, as the report writes them.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The last `n` lines of a text, without a trailing empty line or carriage returns.
pub(crate) fn last_lines(text: &str, n: usize) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
    let from = lines.len().saturating_sub(n);
    lines[from..]
        .iter()
        .map(|l| l.trim_end_matches('\r'))
        .collect()
}

/// `text` cut to about `cap` bytes (on character boundaries) with the cut said where it is,
/// naming `what` was cut: the first quarter and the rest from the end, since a traceback's end
/// says what failed.
pub(crate) fn capped<'a>(text: &'a str, cap: usize, what: &str) -> std::borrow::Cow<'a, str> {
    if text.len() <= cap {
        return text.into();
    }
    let head_end = floor_char(text, cap / 4);
    let tail_start = ceil_char(text, text.len() - (cap - cap / 4));
    format!(
        "{}\n[ptest: {} bytes cut here: a record keeps up to {cap} bytes of {what}]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
    .into()
}

/// The largest character boundary of `s` at or below `i`.
pub(crate) fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest character boundary of `s` at or above `i`.
pub(crate) fn ceil_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests;
