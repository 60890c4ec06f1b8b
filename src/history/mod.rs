//! History (DESIGN §8): what earlier runs measured, per suite and per batch item, kept in
//! `.ptest/history.json` beside the config. This module holds the records and the questions the
//! rest of ptest asks of them (expected durations, what failed last time, peak memory); the
//! file's text is `format`'s, reading, locking and writing it `store`'s, the `ptest stats`
//! figures `stats`'s. It knows nothing of the scheduler: the run's results come in as plain
//! records.
//!
//! A run does not hold the whole history: it reads a `Summary` of each name it declares
//! (`Wanted`) and, at the end, rewrites only those names' lines, copying the others through.
//! `Records` (every run of every name) is for `ptest stats`, `merge --history` and files that
//! must be migrated.

pub(crate) mod files;
pub(crate) mod format;
pub(crate) mod merged;
pub(crate) mod shards;
pub(crate) mod sink;
pub(crate) mod stats;
pub(crate) mod store;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::Status;

/// The format this build writes; it reads this one and the ones before. A file with a higher
/// one is set aside, not guessed at.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// Runs kept per suite or item, newest last.
pub(crate) const KEEP: usize = 30;
/// Passed runs the expected duration is the median of.
pub(crate) const EXPECTED_OF: usize = 5;

/// One run of one suite (or item). Cancelled and skipped runs carry only their status and
/// time: they say nothing about a duration.
///
/// Figures are `f32`/`u32` in memory: `merge --history` and `ptest stats` hold a whole history.
/// Format 1 wrote a run as an object with these field names; format 2 writes a row (`format`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Run {
    /// When it started (else when the run started), seconds since the Unix epoch.
    pub(crate) time: u64,
    pub(crate) status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) duration: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) peak_rss_kb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cpu_time: Option<f32>,
}

/// Every recorded run of one name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Oldest first, at most `KEEP`.
    pub(crate) runs: Vec<Run>,
}

impl Entry {
    /// Append `run`, dropping the oldest beyond `KEEP`.
    pub(crate) fn push(&mut self, run: Run) {
        self.runs.push(run);
        if self.runs.len() > KEEP {
            let extra = self.runs.len() - KEEP;
            self.runs.drain(..extra);
        }
    }

    /// Append `run` unless this entry holds it already.
    pub(crate) fn push_once(&mut self, run: &Run) {
        if !self.runs.contains(run) {
            self.push(run.clone());
        }
    }

    pub(crate) fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.runs {
            s.add(r);
        }
        s
    }

    /// The median of the last `EXPECTED_OF` passed durations, in seconds.
    #[cfg(test)]
    pub(crate) fn expected(&self) -> Option<f64> {
        self.summary().expected()
    }

    /// The highest peak RSS any recorded run reached, in KiB.
    pub(crate) fn peak_rss_kb(&self) -> Option<u64> {
        self.summary().peak_rss_kb()
    }
}

/// What a run needs of one name's past, folded from its runs oldest first: the last passed
/// durations, the highest peak RSS and the latest status that says how it ended.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Summary {
    /// The last `EXPECTED_OF` passed durations, as a ring (their order does not matter to a
    /// median).
    passes: [f32; EXPECTED_OF],
    passed: usize,
    peak_rss_kb: Option<u32>,
    last_final: Option<Status>,
    /// When the run of `last_final` started (seconds since the Unix epoch).
    last_time: u64,
}

impl Summary {
    /// Fold in the next run.
    pub(crate) fn push(&mut self, run: Run) {
        self.add(&run);
    }

    fn add(&mut self, run: &Run) {
        if let (Status::Passed, Some(d)) = (run.status, run.duration) {
            self.passes[self.passed % EXPECTED_OF] = d;
            self.passed += 1;
        }
        if let Some(kb) = run.peak_rss_kb {
            self.peak_rss_kb = Some(self.peak_rss_kb.map_or(kb, |p| p.max(kb)));
        }
        // Skipped runs say nothing either way.
        if run.status != Status::Skipped {
            self.last_final = Some(run.status);
            self.last_time = run.time;
        }
    }

    /// The median of the last `EXPECTED_OF` passed durations, in seconds.
    pub(crate) fn expected(&self) -> Option<f64> {
        let mut last: Vec<f64> = self.passes[..self.passed.min(EXPECTED_OF)]
            .iter()
            .map(|d| f64::from(*d))
            .collect();
        median(&mut last)
    }

    /// The latest status that says how it ended (skipped runs say nothing either way).
    #[cfg(test)]
    pub(crate) fn last_final(&self) -> Option<Status> {
        self.last_final
    }

    /// The highest peak RSS any recorded run reached, in KiB.
    pub(crate) fn peak_rss_kb(&self) -> Option<u64> {
        self.peak_rss_kb.map(u64::from)
    }

    fn failed_last(&self) -> bool {
        matches!(
            self.last_final,
            Some(Status::Failed | Status::TimedOut | Status::Cancelled)
        )
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

/// The two halves of a history file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Suites,
    /// `BATCH/ITEM` (DESIGN §9).
    Items,
}

/// What a run knows of the past: a summary of each name it asked for (`Wanted`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct History {
    pub(crate) suites: BTreeMap<String, Summary>,
    /// `BATCH/ITEM` (DESIGN §9).
    pub(crate) items: BTreeMap<String, Summary>,
}

impl History {
    /// A suite's expected duration from history, in seconds.
    pub(crate) fn expected(&self, suite: &str) -> Option<f64> {
        self.suites.get(suite).and_then(Summary::expected)
    }

    /// An item's expected duration from history, in seconds.
    pub(crate) fn expected_item(&self, batch: &str, item: &str) -> Option<f64> {
        self.items
            .get(&item_key(batch, item))
            .and_then(Summary::expected)
    }

    /// Whether an item ended failed, timed out or cancelled in its latest run.
    pub(crate) fn item_failed_last(&self, batch: &str, item: &str) -> bool {
        self.items
            .get(&item_key(batch, item))
            .is_some_and(Summary::failed_last)
    }

    /// A suite's highest recorded peak RSS, in KiB.
    pub(crate) fn peak_rss_kb(&self, suite: &str) -> Option<u64> {
        self.suites.get(suite).and_then(Summary::peak_rss_kb)
    }

    /// Suites whose latest run ended failed, timed out or cancelled (`--rerun-failed`).
    pub(crate) fn failed_last(&self) -> Vec<String> {
        failed(&self.suites)
    }

    /// Items (`BATCH/ITEM`) whose latest run ended failed, timed out or cancelled.
    pub(crate) fn failed_items_last(&self) -> Vec<String> {
        failed(&self.items)
    }

    /// The tests of an item that failed in the item's latest run (`TestC::test_y` for
    /// `BATCH/tests/test_x.py::TestC::test_y`), for `--rerun-failed` to run only those; empty
    /// when none is known (the item then runs whole). `not_a_test`: a key below the item that
    /// names something else (a slice of it).
    pub(crate) fn failed_tests(
        &self,
        batch: &str,
        item: &str,
        not_a_test: &dyn Fn(&str) -> bool,
    ) -> Vec<String> {
        let key = item_key(batch, item);
        let Some(whole) = self.items.get(&key).filter(|s| s.failed_last()) else {
            return Vec::new();
        };
        let prefix = format!("{key}::");
        self.items
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, s)| s.failed_last() && s.last_time >= whole.last_time)
            .map(|(k, _)| k[prefix.len()..].to_owned())
            .filter(|t| !t.is_empty() && !not_a_test(t))
            .collect()
    }

    /// Fold one run's records in (as a run would find them next time).
    #[cfg(test)]
    pub(crate) fn apply(&mut self, update: &Update) {
        for (name, run) in &update.suites {
            self.suites.entry(name.clone()).or_default().add(run);
        }
        for (name, run) in &update.items {
            self.items.entry(name.clone()).or_default().add(run);
        }
    }

    pub(crate) fn section(&mut self, section: Section) -> &mut BTreeMap<String, Summary> {
        match section {
            Section::Suites => &mut self.suites,
            Section::Items => &mut self.items,
        }
    }
}

fn failed(map: &BTreeMap<String, Summary>) -> Vec<String> {
    map.iter()
        .filter(|(_, s)| s.failed_last())
        .map(|(n, _)| n.clone())
        .collect()
}

/// The names a run asks history about: the suites it declares and, for each batch, its parts
/// (`unit[2]`) and its items (`unit/tests/a.py`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Wanted {
    names: HashSet<String>,
    batches: HashSet<String>,
}

impl Wanted {
    /// `declared`: each suite's name, and whether it is a batch.
    pub(crate) fn new<'a>(declared: impl IntoIterator<Item = (&'a str, bool)>) -> Wanted {
        let mut w = Wanted::default();
        for (name, batch) in declared {
            w.names.insert(name.to_owned());
            if batch {
                w.batches.insert(name.to_owned());
            }
        }
        w
    }

    /// Exactly the names `updates` record.
    pub(crate) fn of(updates: &[&Update]) -> Wanted {
        let mut w = Wanted::default();
        for update in updates {
            for (name, _) in update.suites.iter().chain(&update.items) {
                w.names.insert(name.clone());
            }
        }
        w
    }

    pub(crate) fn holds(&self, section: Section, key: &str) -> bool {
        if self.names.contains(key) {
            return true;
        }
        let cut = match section {
            Section::Suites => b'[',
            Section::Items => b'/',
        };
        !self.batches.is_empty()
            && key
                .bytes()
                .enumerate()
                .any(|(i, b)| b == cut && self.batches.contains(&key[..i]))
    }

    /// Every name `update` records is one of these.
    pub(crate) fn covers(&self, update: &Update) -> bool {
        update
            .suites
            .iter()
            .all(|(n, _)| self.holds(Section::Suites, n))
            && update
                .items
                .iter()
                .all(|(n, _)| self.holds(Section::Items, n))
    }
}

/// A whole history: every run of every name.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Records {
    pub(crate) suites: BTreeMap<String, Entry>,
    /// `BATCH/ITEM` (DESIGN §9).
    pub(crate) items: BTreeMap<String, Entry>,
}

impl Records {
    /// Add one run's records (each once when `update.once`).
    pub(crate) fn apply(&mut self, update: &Update) {
        self.add(update, update.once);
    }

    fn add(&mut self, update: &Update, once: bool) {
        for (map, runs) in [
            (&mut self.suites, &update.suites),
            (&mut self.items, &update.items),
        ] {
            for (name, run) in runs {
                let entry = map.entry(name.clone()).or_default();
                if once {
                    entry.push_once(run);
                } else {
                    entry.push(run.clone());
                }
            }
        }
    }

    /// The summaries of the names `wanted` holds.
    pub(crate) fn summaries(&self, wanted: &Wanted) -> History {
        let pick = |map: &BTreeMap<String, Entry>, section| {
            map.iter()
                .filter(|(n, _)| wanted.holds(section, n))
                .map(|(n, e)| (n.clone(), e.summary()))
                .collect()
        };
        History {
            suites: pick(&self.suites, Section::Suites),
            items: pick(&self.items, Section::Items),
        }
    }

    /// Add the runs of `pending` (a run's records kept aside when it could not take the lock,
    /// see `store`) that are not there yet: a side file merged twice counts once.
    pub(crate) fn apply_once(&mut self, pending: &Update) {
        self.add(pending, true);
    }

    /// Join another history (a shard's) into this one: each name's runs from both, by time,
    /// the newest `KEEP` kept. Runs present in both (the same file given twice) count once.
    /// Linear in the runs of both (a hash of each run, one sort per name), whatever a hostile
    /// file holds under one name.
    pub(crate) fn join(&mut self, other: Records) {
        fn join_maps(into: &mut BTreeMap<String, Entry>, from: BTreeMap<String, Entry>) {
            for (name, e) in from {
                let mine = into.entry(name).or_default();
                mine.runs.extend(e.runs);
                let mut seen = HashSet::with_capacity(mine.runs.len());
                mine.runs.retain(|r| seen.insert(RunKey::of(r)));
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

    /// Every run, as one run's records (a side file's content, see `store`).
    pub(crate) fn into_update(self) -> Update {
        let flatten = |map: BTreeMap<String, Entry>| {
            map.into_iter()
                .flat_map(|(n, e)| e.runs.into_iter().map(move |r| (n.clone(), r)))
                .collect()
        };
        Update {
            suites: flatten(self.suites),
            items: flatten(self.items),
            once: true,
        }
    }
}

/// A run's figures as a hashable value: two runs with the same key are the same record.
#[derive(PartialEq, Eq, Hash)]
struct RunKey(
    u64,
    Status,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
);

impl RunKey {
    fn of(r: &Run) -> RunKey {
        RunKey(
            r.time,
            r.status,
            r.duration.map(f32::to_bits),
            r.attempts,
            r.peak_rss_kb,
            r.cpu_time.map(f32::to_bits),
        )
    }
}

/// `ptest merge --history A B ... -o OUT`: join the shards' histories into one file; the runs
/// several shards added to one name in their run become one (`shards`).
pub(crate) fn merge(inputs: &[PathBuf], output: &Path) -> Result<(), crate::error::Error> {
    use crate::error::Error;
    let mut all = Vec::with_capacity(inputs.len());
    for p in inputs {
        if !p.is_file() {
            return Err(Error::Usage(format!(
                "merge --history: cannot read {}: no such file",
                p.display()
            )));
        }
        let records = store::load_records(p).map_err(|w| {
            let hint = if looks_like_a_report(p) {
                format!(
                    "\n  {} is a JSON report, not a history: `ptest merge --history` joins the \
                     shards' `.ptest/history.json` files; reports are joined by `ptest merge \
                     REPORT.json... -o OUT.json`, without --history",
                    p.display()
                )
            } else {
                String::new()
            };
            Error::Usage(format!("merge --history: {w}{hint}"))
        })?;
        all.push(records);
    }
    // The shards of one run: what several of them added to one name is one run.
    let joined = shards::join(all);
    if output.is_dir() {
        return Err(Error::Usage(format!(
            "merge: -o {} is a folder",
            output.display()
        )));
    }
    // The same rule as a run's: a link is followed to the history it leads to, which is
    // replaced beside it; a link to anything else, or something else than a file, is refused.
    let target = store::merge_target(output)
        .map_err(|why| Error::Usage(format!("merge: -o {}: {why}", output.display())))?;
    store::write_records(&target, &joined).map_err(|e| {
        Error::Setup(format!(
            "cannot write {}: {}",
            output.display(),
            crate::io_message(&e)
        ))
    })
}

/// Whether `path` holds a ptest JSON report (what a user may hand `merge --history` by mistake,
/// reading `ptest merge REPORT... --history OUT` as "also write the history").
fn looks_like_a_report(path: &Path) -> bool {
    #[derive(serde::Deserialize)]
    struct Head {
        ptest_version: Option<serde::de::IgnoredAny>,
        summary: Option<serde::de::IgnoredAny>,
        run_id: Option<serde::de::IgnoredAny>,
    }
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Head>(&b).ok())
        .is_some_and(|h| h.ptest_version.is_some() && h.summary.is_some() && h.run_id.is_some())
}

/// The history key under which a run records a batch's fixed cost per process (DESIGN §9: a
/// part's duration less its items'): `unit[]`, among the suites, beside the parts `unit[1]`...
/// Measured this way it does not depend on how many parts an earlier run had.
pub(crate) fn fixed_cost_key(batch: &str) -> String {
    format!("{batch}[]")
}

/// The history key of a batch's item.
pub(crate) fn item_key(batch: &str, item: &str) -> String {
    format!("{batch}/{item}")
}

/// What one run adds: a record per suite (and item) that took part.
#[derive(Debug, Clone, Default)]
pub(crate) struct Update {
    pub(crate) suites: Vec<(String, Run)>,
    pub(crate) items: Vec<(String, Run)>,
    /// A record that may have been added before (a side file's, the queue supervisor's): a
    /// run that its name already holds, the same figures at the same second, is not added
    /// again.
    pub(crate) once: bool,
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
        assert_eq!(e.summary().last_final(), Some(Status::Failed));
        e.push(run(Status::Passed, 1.0, 3));
        assert_eq!(e.summary().last_final(), Some(Status::Passed));
    }

    #[test]
    fn cancelled_runs_are_only_a_status() {
        let r = record(Status::Cancelled, 5, 3.0, 1, Some(10), Some(1.0));
        assert_eq!(r.duration, None);
        assert_eq!(r.peak_rss_kb, None);
        let mut text = Vec::new();
        format::push_run(&mut text, &r);
        assert_eq!(text, br#"[5,"cancelled"]"#);
    }

    #[test]
    fn a_run_wants_its_suites_and_its_batches_parts_and_items() {
        let w = Wanted::new([("a", false), ("unit", true)]);
        for (section, key, holds) in [
            (Section::Suites, "a", true),
            (Section::Suites, "unit[2]", true),
            (Section::Items, "unit/tests/x.py", true),
            (Section::Suites, "b", false),
            (Section::Suites, "a[1]", false),
            (Section::Items, "a/x", false),
            (Section::Items, "unit[1]", false),
            (Section::Suites, "units[1]", false),
        ] {
            assert_eq!(w.holds(section, key), holds, "{key}");
        }
    }

    #[test]
    fn joining_keeps_both_sides_once() {
        let mut a = Records::default();
        let mut b = Records::default();
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
        assert_eq!(a.suites["x"].summary().last_final(), Some(Status::Failed));
        assert_eq!(a.suites["y"].runs.len(), 1);
    }

    #[test]
    fn joining_is_linear_in_the_runs_of_one_name() {
        // 200,000 runs under one name, joined with itself: each run compared with each
        // other would take minutes.
        let mut big = Records::default();
        big.suites.insert(
            "x".into(),
            Entry {
                runs: (0..200_000).map(|i| run(Status::Passed, 1.0, i)).collect(),
            },
        );
        let mut joined = big.clone();
        let t = std::time::Instant::now();
        joined.join(big);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
        let times: Vec<u64> = joined.suites["x"].runs.iter().map(|r| r.time).collect();
        assert_eq!(times, (200_000 - KEEP as u64..200_000).collect::<Vec<_>>());
    }

    #[test]
    fn the_failed_tests_of_an_item_are_those_of_its_latest_run() {
        fn add(h: &mut History, key: &str, status: Status, time: u64) {
            h.items
                .entry(key.into())
                .or_default()
                .push(record(status, time, 1.0, 1, None, None));
        }
        let mut h = History::default();
        add(&mut h, "u/t.py", Status::Failed, 1);
        add(&mut h, "u/t.py::old", Status::Failed, 1);
        add(&mut h, "u/t.py", Status::Failed, 2);
        add(&mut h, "u/t.py::a", Status::Failed, 2);
        add(&mut h, "u/t.py::TestC::b[1]", Status::Failed, 2);
        add(&mut h, "u/t.py::shaky", Status::Flaky, 2);
        add(&mut h, "u/t.py::ptest-slice-1-of-2", Status::Failed, 2);
        add(&mut h, "u/t.pyx::c", Status::Failed, 2);
        let slice = |t: &str| t.starts_with("ptest-slice-");
        // Of its latest run, failed, not a slice, not another item's.
        assert_eq!(h.failed_tests("u", "t.py", &slice), ["TestC::b[1]", "a"]);
        assert!(h.failed_tests("u", "t.pyx", &slice).is_empty());
        // Passed since (its tests then had no row): nothing to rerun.
        add(&mut h, "u/t.py", Status::Passed, 3);
        assert!(h.failed_tests("u", "t.py", &slice).is_empty());
        // Failed again with nothing known of its tests: it runs whole.
        add(&mut h, "u/t.py", Status::Failed, 4);
        assert!(h.failed_tests("u", "t.py", &slice).is_empty());
    }
}
