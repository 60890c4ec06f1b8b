//! History (DESIGN §8): what earlier runs measured, per suite and per batch item, kept in
//! `.ptest/history.json` beside the config. This module holds the format and the questions the
//! rest of ptest asks of it (expected durations, what failed last time, peak memory); reading,
//! locking and writing the file are `store`'s, the `ptest stats` figures `stats`'s. It knows
//! nothing of the scheduler: the run's results come in as plain records.

pub(crate) mod sink;
pub(crate) mod stats;
pub(crate) mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::Status;

/// The format this build reads and writes; a file with a higher one is set aside, not guessed at.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Runs kept per suite or item, newest last.
pub(crate) const KEEP: usize = 30;
/// Passed runs the expected duration is the median of.
pub(crate) const EXPECTED_OF: usize = 5;

/// One run of one suite (or item). Cancelled and skipped runs carry only their status and
/// time: they say nothing about a duration.
///
/// Figures are `f32`/`u32` in memory: a history of 10,000 suites × 30 runs must stay small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// When it started (else when the run started), seconds since the Unix epoch.
    pub time: u64,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_kb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time: Option<f32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Oldest first, at most `KEEP`.
    pub runs: Vec<Run>,
}

impl Entry {
    /// Append `run`, dropping the oldest beyond `KEEP`.
    pub fn push(&mut self, run: Run) {
        self.runs.push(run);
        if self.runs.len() > KEEP {
            let extra = self.runs.len() - KEEP;
            self.runs.drain(..extra);
        }
    }

    /// The median of the last `EXPECTED_OF` passed durations, in seconds.
    pub fn expected(&self) -> Option<f64> {
        let mut last: Vec<f64> = self
            .runs
            .iter()
            .rev()
            .filter(|r| r.status == Status::Passed)
            .filter_map(|r| r.duration)
            .take(EXPECTED_OF)
            .map(f64::from)
            .collect();
        median(&mut last)
    }

    /// The latest status that says how it ended (skipped runs say nothing either way).
    pub fn last_final(&self) -> Option<Status> {
        self.runs
            .iter()
            .rev()
            .map(|r| r.status)
            .find(|s| *s != Status::Skipped)
    }

    /// The highest peak RSS any recorded run reached, in KiB.
    pub fn peak_rss_kb(&self) -> Option<u64> {
        self.runs
            .iter()
            .filter_map(|r| r.peak_rss_kb)
            .max()
            .map(u64::from)
    }
}

/// The median of `xs` (sorted in place); `None` when empty.
pub(crate) fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        f64::midpoint(xs[n / 2 - 1], xs[n / 2])
    })
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub format_version: u32,
    #[serde(default)]
    pub suites: BTreeMap<String, Entry>,
    /// `BATCH/ITEM` (DESIGN §9).
    #[serde(default)]
    pub items: BTreeMap<String, Entry>,
}

impl Default for History {
    fn default() -> History {
        History {
            format_version: FORMAT_VERSION,
            suites: BTreeMap::new(),
            items: BTreeMap::new(),
        }
    }
}

impl History {
    /// A suite's expected duration from history, in seconds.
    pub fn expected(&self, suite: &str) -> Option<f64> {
        self.suites.get(suite).and_then(Entry::expected)
    }

    /// An item's expected duration from history, in seconds.
    pub fn expected_item(&self, batch: &str, item: &str) -> Option<f64> {
        self.items
            .get(&item_key(batch, item))
            .and_then(Entry::expected)
    }

    /// A suite's highest recorded peak RSS, in KiB.
    pub fn peak_rss_kb(&self, suite: &str) -> Option<u64> {
        self.suites.get(suite).and_then(Entry::peak_rss_kb)
    }

    /// Suites whose latest run ended failed, timed out or cancelled (`--rerun-failed`).
    pub fn failed_last(&self) -> Vec<String> {
        self.suites
            .iter()
            .filter(|(_, e)| {
                matches!(
                    e.last_final(),
                    Some(Status::Failed | Status::TimedOut | Status::Cancelled)
                )
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Items (`BATCH/ITEM`) whose latest run ended failed, timed out or cancelled.
    pub fn failed_items_last(&self) -> Vec<String> {
        self.items
            .iter()
            .filter(|(_, e)| {
                matches!(
                    e.last_final(),
                    Some(Status::Failed | Status::TimedOut | Status::Cancelled)
                )
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Add one run's records.
    pub fn apply(&mut self, update: &Update) {
        for (name, run) in &update.suites {
            self.suites
                .entry(name.clone())
                .or_default()
                .push(run.clone());
        }
        for (name, run) in &update.items {
            self.items
                .entry(name.clone())
                .or_default()
                .push(run.clone());
        }
    }

    /// Join another history (a shard's) into this one: each name's runs from both, by time,
    /// the newest `KEEP` kept. Runs present in both (the same file given twice) count once.
    pub fn join(&mut self, other: History) {
        fn join_maps(into: &mut BTreeMap<String, Entry>, from: BTreeMap<String, Entry>) {
            for (name, e) in from {
                let mine = into.entry(name).or_default();
                for r in e.runs {
                    if !mine.runs.contains(&r) {
                        mine.runs.push(r);
                    }
                }
                // Stable: runs of the same second keep the order they were recorded in.
                mine.runs.sort_by_key(|r| r.time);
                if mine.runs.len() > KEEP {
                    let extra = mine.runs.len() - KEEP;
                    mine.runs.drain(..extra);
                }
            }
        }
        join_maps(&mut self.suites, other.suites);
        join_maps(&mut self.items, other.items);
    }
}

/// `ptest merge --history A B ... -o OUT`: join the shards' histories into one file.
pub(crate) fn merge(inputs: &[PathBuf], output: &Path) -> Result<(), crate::error::Error> {
    use crate::error::Error;
    let mut joined = History::default();
    for p in inputs {
        if !p.is_file() {
            return Err(Error::Usage(format!(
                "merge --history: cannot read {}: no such file",
                p.display()
            )));
        }
        let loaded = store::load(p);
        if let Some(w) = loaded.warning {
            return Err(Error::Usage(format!("merge --history: {w}")));
        }
        joined.join(loaded.history);
    }
    if output.is_dir() {
        return Err(Error::Usage(format!(
            "merge: -o {} is a folder",
            output.display()
        )));
    }
    store::write_atomic(output, &joined).map_err(|e| {
        Error::Setup(format!(
            "cannot write {}: {}",
            output.display(),
            crate::io_message(&e)
        ))
    })
}

/// The history key of a batch's item.
pub(crate) fn item_key(batch: &str, item: &str) -> String {
    format!("{batch}/{item}")
}

/// What one run adds: a record per suite (and item) that took part.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub suites: Vec<(String, Run)>,
    pub items: Vec<(String, Run)>,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.suites.is_empty() && self.items.is_empty()
    }
}

/// The record of one suite's (or item's) final result.
pub(crate) fn record(
    status: Status,
    time: u64,
    duration: f64,
    attempts: u32,
    peak_rss_kb: Option<u64>,
    cpu_time: Option<f64>,
) -> Run {
    let measured = !matches!(status, Status::Cancelled | Status::Skipped);
    // Rounded to the millisecond: more says nothing and costs bytes in a big file.
    let ms = |x: f64| ((x * 1000.0).round() / 1000.0) as f32;
    Run {
        time,
        status,
        duration: measured.then(|| ms(duration)),
        attempts: measured.then_some(attempts),
        peak_rss_kb: peak_rss_kb
            .filter(|_| measured)
            .map(|k| u32::try_from(k).unwrap_or(u32::MAX)),
        cpu_time: cpu_time.filter(|_| measured).map(ms),
    }
}

/// Where history lives, or that it is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Off,
    File(PathBuf),
}

impl Location {
    /// Where `settings::history` says (the one place for its precedence), for the config at
    /// `config`.
    pub(crate) fn resolve(
        no_history: bool,
        flag: Option<&Path>,
        env: Option<String>,
        config: &Path,
    ) -> Location {
        let dir = config
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let lookup = |k: &str| (k == "PTEST_HISTORY").then(|| env.clone()).flatten();
        match crate::settings::history(no_history, flag, &lookup, dir).value {
            None => Location::Off,
            Some(p) => Location::File(p),
        }
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Location::Off => None,
            Location::File(p) => Some(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: Status, d: f32, time: u64) -> Run {
        Run {
            time,
            status,
            duration: Some(d),
            attempts: Some(1),
            peak_rss_kb: None,
            cpu_time: None,
        }
    }

    #[test]
    fn expected_is_the_median_of_the_last_five_passes() {
        let mut e = Entry::default();
        for (i, d) in [100.0, 1.0, 2.0, 3.0, 50.0, 4.0].into_iter().enumerate() {
            e.push(run(Status::Passed, d, i as u64));
        }
        e.push(run(Status::Failed, 999.0, 9));
        // The last five passes: 1, 2, 3, 50, 4 -> 3.
        assert_eq!(e.expected(), Some(3.0));
        assert_eq!(Entry::default().expected(), None);
    }

    #[test]
    fn thirty_runs_kept_newest_last() {
        let mut e = Entry::default();
        for i in 0..40 {
            e.push(run(Status::Passed, 1.0, i));
        }
        assert_eq!(e.runs.len(), KEEP);
        assert_eq!(e.runs[0].time, 10);
        assert_eq!(e.runs[KEEP - 1].time, 39);
    }

    #[test]
    fn the_latest_final_status_ignores_skips() {
        let mut e = Entry::default();
        e.push(run(Status::Failed, 1.0, 1));
        e.push(record(Status::Skipped, 2, 0.0, 0, None, None));
        assert_eq!(e.last_final(), Some(Status::Failed));
        e.push(run(Status::Passed, 1.0, 3));
        assert_eq!(e.last_final(), Some(Status::Passed));
    }

    #[test]
    fn cancelled_runs_are_only_a_status() {
        let r = record(Status::Cancelled, 5, 3.0, 1, Some(10), Some(1.0));
        assert_eq!(r.duration, None);
        assert_eq!(r.peak_rss_kb, None);
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"time":5,"status":"cancelled"}"#);
    }

    #[test]
    fn joining_keeps_both_sides_once() {
        let mut a = History::default();
        let mut b = History::default();
        a.suites
            .entry("x".into())
            .or_default()
            .push(run(Status::Passed, 1.0, 1));
        b.suites
            .entry("x".into())
            .or_default()
            .push(run(Status::Failed, 2.0, 2));
        b.suites
            .entry("y".into())
            .or_default()
            .push(run(Status::Passed, 2.0, 2));
        let b2 = b.clone();
        a.join(b);
        a.join(b2);
        assert_eq!(a.suites["x"].runs.len(), 2);
        assert_eq!(a.suites["x"].last_final(), Some(Status::Failed));
        assert_eq!(a.suites["y"].runs.len(), 1);
    }
}
