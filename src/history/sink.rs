//! The report sink that adds a run to history when it ends — also after fail-fast and Ctrl-C,
//! and only when a suite started (a run stopped before that says nothing).

use std::path::PathBuf;

use super::store::{self, Loaded};
use super::{Update, record};
use crate::event::{Event, RunInfo, Sink};
use crate::plan::Plan;

pub(crate) struct HistorySink {
    path: PathBuf,
    /// What was read at the start, taken by the write.
    loaded: Option<Loaded>,
    /// For the caller to print: a file set aside.
    pub warnings: Vec<String>,
    /// A write that failed: like a report that was asked for and is missing, it fails the run.
    pub errors: Vec<String>,
}

impl HistorySink {
    pub(crate) fn new(path: PathBuf, loaded: Loaded) -> HistorySink {
        HistorySink {
            path,
            loaded: Some(loaded),
            warnings: Vec::new(),
            errors: Vec::new(),
        }
    }
}

fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A batch part's items (DESIGN §8 `BATCH/ITEM`): the duration and outcome of each item's
/// testcases from its results. An item that reported nothing is recorded as taking no time when
/// its part passed, and with the part's status and no duration otherwise, so that
/// `--rerun-failed` runs it again.
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
    let mut sums: Vec<Option<(f64, bool)>> = vec![None; part.items.len()];
    for c in &r.testcases {
        if let Some(i) = c.item {
            let (d, failed) = sums[i].get_or_insert((0.0, false));
            *d += c.time.unwrap_or(0.0);
            *failed |= c.outcome.is_failure();
        }
    }
    for ((item, _), sum) in part.items.iter().zip(sums) {
        let run = match sum {
            Some((d, failed)) => {
                let status = if failed {
                    Status::Failed
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
        update.items.push((super::item_key(&part.batch, item), run));
    }
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
        for r in *results {
            let suite = plan.suite(r.id);
            // Left out by `enabled = false` or `--skip`: not part of this run, it keeps its past.
            if suite.skip.is_some() {
                continue;
            }
            if let Some(part) = &suite.part {
                items(
                    &mut update,
                    part,
                    r,
                    unix(r.start_time.unwrap_or(run.started)),
                );
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
        let Some(loaded) = self.loaded.take() else {
            return;
        };
        match store::write(&self.path, loaded, &update) {
            Ok(w) => self.warnings.extend(w),
            Err(e) => self.errors.push(e),
        }
    }
}
