//! The report sink that adds a run to history when it ends — also after fail-fast and Ctrl-C,
//! and only when a suite started (a run stopped before that says nothing).

use std::path::PathBuf;

use super::store::{self, Loaded};
use super::{Update, record};
use crate::event::{Event, RunInfo, Sink};
use crate::os::process::StopCount;
use crate::plan::Plan;

pub(crate) struct HistorySink {
    path: PathBuf,
    /// What was read at the start, taken by the write.
    loaded: Option<Loaded>,
    /// For the caller to print: a file set aside.
    pub warnings: Vec<String>,
    /// A write that failed: like a report that was asked for and is missing, it fails the run.
    pub errors: Vec<String>,
    /// How many stop signals have arrived so far (the process's count): a new one ends the
    /// write's wait for the lock.
    stop_signals: StopCount,
}

impl HistorySink {
    pub(crate) fn new(path: PathBuf, loaded: Loaded, stop_signals: StopCount) -> HistorySink {
        HistorySink {
            path,
            loaded: Some(loaded),
            warnings: Vec::new(),
            errors: Vec::new(),
            stop_signals,
        }
    }
}

fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A batch part's items (DESIGN §8 `BATCH/ITEM`): the duration and outcome of each item's
/// testcases from its results, each testcase counting its time and its share of the
/// testsuite's time outside any testcase (pytest's collection and per-test work). An item
/// that reported nothing is recorded as taking no time when
/// its part passed, and with the part's status and no duration otherwise, so that
/// `--rerun-failed` runs it again. A slice of an item is recorded under its own name
/// (`BATCH/tests/x.py::ptest-slice-1-of-2`, as the part's command names it) with its duration,
/// passed when slicing kept its tests' outcomes and failed when one of them ended otherwise
/// once the item ran whole; the item itself gets only its status from a slice (its duration
/// stays that of whole runs, which is what packing cuts). A test below its item
/// (`BATCH/tests/x.py::TestC::test_y`) that failed or was flaky gets a row of its own, so that
/// `--rerun-failed` runs only the failed tests of a file.
fn items(
    update: &mut Update,
    part: &crate::plan::decl::BatchPart,
    r: &crate::event::SuiteResult,
    time: u64,
) {
    use crate::event::Status;
    if part.results.is_none() || r.attempts == 0 {
        return;
    }
    // Per item: its testcases' time, whether one failed, whether slicing changed one, and
    // whether one was flaky (failed, then passed on a retry of the part).
    let mut sums: Vec<Option<(f64, bool, bool)>> = vec![None; part.items.len()];
    let mut flaky = vec![false; part.items.len()];
    for c in &r.testcases {
        if let Some(i) = c.item {
            let (d, failed, changed) = sums[i].get_or_insert((0.0, false, false));
            *d += c.time.unwrap_or(0.0) + c.share;
            *failed |= c.outcome.is_failure();
            *changed |= c
                .sliced
                .is_some_and(crate::batch::results::Outcome::is_failure)
                && !c.outcome.is_failure();
            flaky[i] |= c.failed_before.is_some() && !c.outcome.is_failure();
            // A test below its item that did not simply pass: its own row, so that
            // `--rerun-failed` runs only it and history counts it as flaky.
            let status = if c.outcome.is_failure() {
                Status::Failed
            } else if c.failed_before.is_some() {
                Status::Flaky
            } else {
                continue;
            };
            let name = crate::record::test_name(&c.name, c.classname.as_deref(), c.file.as_deref());
            if let Some(test) = crate::record::test_below(&name, &part.items[i].0) {
                update.items.push((
                    format!("{}::{test}", super::item_key(&part.batch, &part.items[i].0)),
                    record(status, time, c.time.unwrap_or(0.0), c.attempts, None, None),
                ));
            }
        }
    }
    for (i, ((item, _), sum)) in part.items.iter().zip(sums).enumerate() {
        let mut run = match sum {
            Some((d, failed, _)) => {
                let status = if failed {
                    Status::Failed
                } else if flaky[i] {
                    Status::Flaky
                } else {
                    Status::Passed
                };
                record(status, time, d, 1, None, None)
            }
            // Nothing collected from it (a module without doctests, a file pytest leaves
            // out): it costs next to nothing, and counting it as the median would not.
            None if r.status.is_pass() => record(r.status, time, 0.0, 1, None, None),
            None => {
                let mut run = record(r.status, time, 0.0, 1, None, None);
                run.duration = None;
                run
            }
        };
        // Some of its tests (`--rerun-failed`): their time is not the item's.
        if part.tests_of(i).is_some() {
            run.duration = None;
        }
        if part.slice(i).is_some() {
            let mut slice = run.clone();
            slice.status = if sum.is_some_and(|(_, _, changed)| changed) {
                Status::Failed
            } else if run.duration.is_some() {
                Status::Passed
            } else {
                run.status
            };
            update
                .items
                .push((super::item_key(&part.batch, &part.arg(i)), slice));
            run.duration = None;
        }
        update.items.push((super::item_key(&part.batch, item), run));
    }
}

/// What a part's one attempt spent outside its items' testcases (starting the interpreter, its
/// imports): its duration less its testcases' times and shares. `None` when that is not known:
/// no results, a retry (its attempts ran other items), or a part that did not pass.
fn fixed_cost(part: &crate::plan::decl::BatchPart, r: &crate::event::SuiteResult) -> Option<f64> {
    if part.results.is_none() || r.attempts != 1 || !r.status.is_pass() || r.testcases.is_empty() {
        return None;
    }
    let inside: f64 = r
        .testcases
        .iter()
        .filter(|c| c.item.is_some())
        .map(|c| c.time.unwrap_or(0.0) + c.share)
        .sum();
    let cost = r.duration.as_secs_f64() - inside;
    cost.is_finite().then(|| cost.max(0.0))
}

/// An item run in slices, each in its own part, is recorded once: failed if one slice failed
/// (each slice's duration has its own name, see [`items`]).
fn merge_slices(items: &mut Vec<(String, super::Run)>) {
    use crate::event::Status;
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out: Vec<(String, super::Run)> = Vec::with_capacity(items.len());
    for (key, run) in items.drain(..) {
        match at.get(&key) {
            Some(&i) => {
                let kept = &mut out[i].1;
                kept.duration = kept.duration.zip(run.duration).map(|(a, b)| a + b);
                let rank = |s: Status| match s {
                    Status::Passed | Status::Flaky => 0,
                    Status::Skipped => 1,
                    Status::Cancelled => 2,
                    _ => 3,
                };
                if rank(run.status) > rank(kept.status) {
                    kept.status = run.status;
                }
            }
            None => {
                at.insert(key.clone(), out.len());
                out.push((key, run));
            }
        }
    }
    *items = out;
}

/// A suite that ran with the run's `-k`, `--test` or `-- ARGS` ran some of its tests (or ran
/// them otherwise than declared): its durations, and a pass, say nothing about a whole run.
/// What it does say is that something failed: a failed or timed-out suite, and each item with a
/// failed test, are recorded as that, with no duration (so `--rerun-failed` runs them again,
/// whole, as after `pytest --lf`); a pass leaves the last whole run's record as it was.
fn selected_tests(
    update: &mut Update,
    suite: &crate::plan::Suite,
    r: &crate::event::SuiteResult,
    time: u64,
) {
    use crate::event::Status;
    let failed = |s: Status| matches!(s, Status::Failed | Status::TimedOut);
    let status_only = |status: Status| {
        let mut run = super::record(status, time, 0.0, r.attempts, None, None);
        run.duration = None;
        run.attempts = None;
        run
    };
    if r.attempts == 0 || !failed(r.status) {
        return;
    }
    if let Some(part) = r.part(suite).filter(|p| p.results.is_some()) {
        let mut bad = vec![false; part.items.len()];
        let mut reported = vec![false; part.items.len()];
        for c in &r.testcases {
            if let Some(i) = c.item {
                reported[i] = true;
                bad[i] |= c.outcome.is_failure();
            }
        }
        // Without any results, every item may have failed (the part crashed): all of them.
        let none = !reported.iter().any(|&x| x);
        for (i, (item, _)) in part.items.iter().enumerate() {
            if bad[i] || none {
                update.items.push((
                    super::item_key(&part.batch, item),
                    status_only(Status::Failed),
                ));
            }
        }
    }
    update
        .suites
        .push((suite.name.clone(), status_only(r.status)));
}

impl Sink for HistorySink {
    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &Event<'_>) {
        let Event::RunFinished { results, .. } = event else {
            return;
        };
        if !results.iter().any(|r| r.attempts > 0) {
            return;
        }
        let mut update = Update::default();
        // Per batch: the seconds each of its parts spent outside its items' testcases, and
        // whether its parts start warm.
        let mut fixed: Vec<(String, bool, Vec<f64>)> = Vec::new();
        for r in *results {
            let suite = plan.suite(r.id);
            // Left out by `enabled = false` or `--skip`: not part of this run, it keeps its past.
            if suite.skip.is_some() {
                continue;
            }
            if suite.selected_tests {
                selected_tests(
                    &mut update,
                    suite,
                    r,
                    unix(r.start_time.unwrap_or(run.started)),
                );
                continue;
            }
            if let Some(part) = r.part(suite) {
                items(
                    &mut update,
                    part,
                    r,
                    unix(r.start_time.unwrap_or(run.started)),
                );
                if let Some(cost) = fixed_cost(part, r) {
                    match fixed.iter_mut().find(|(b, _, _)| *b == part.batch) {
                        Some((_, _, costs)) => costs.push(cost),
                        None => fixed.push((part.batch.clone(), part.warm.is_some(), vec![cost])),
                    }
                }
            }
            update.suites.push((
                suite.name.clone(),
                record(
                    r.status,
                    unix(r.start_time.unwrap_or(run.started)),
                    r.duration.as_secs_f64(),
                    r.attempts,
                    r.peak_rss_kb,
                    r.cpu_time.map(|d| d.as_secs_f64()),
                ),
            ));
        }
        for (batch, warm, costs) in fixed {
            // A warm batch's first parts wait for its warm process's imports, a start the batch
            // pays once however many parts it has; the others are forks of it. What one more
            // part costs is a fork's start: the least of them.
            let cost = if warm {
                costs.iter().copied().fold(f64::INFINITY, f64::min)
            } else {
                costs.iter().sum::<f64>() / costs.len() as f64
            };
            let time = unix(run.started);
            update.suites.push((
                super::fixed_cost_key(&batch),
                record(crate::event::Status::Passed, time, cost, 1, None, None),
            ));
        }
        merge_slices(&mut update.items);
        let Some(loaded) = self.loaded.take() else {
            return;
        };
        // A stop signal that arrives while the write waits for the lock ends the wait: the
        // records are kept aside for the next run (`store::write`).
        let stops = self.stop_signals.get();
        let stop = || self.stop_signals.get() > stops;
        match store::write(&self.path, loaded, &update, &stop) {
            Ok(w) => self.warnings.extend(w),
            Err(e) => self.errors.push(e),
        }
    }
}
