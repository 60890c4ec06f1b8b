//! The report sink that adds a run to history when it ends — also after fail-fast and Ctrl-C,
//! and only when a suite started (a run stopped before that says nothing).

use std::path::PathBuf;

use super::store::{self, Loaded};
use super::{Update, record};
use crate::event::{Event, RunInfo, Sink};
use crate::plan::Plan;

pub struct HistorySink {
    path: PathBuf,
    /// What was read at the start, taken by the write.
    loaded: Option<Loaded>,
    /// For the caller to print: a write that failed, a file set aside.
    pub warnings: Vec<String>,
}

impl HistorySink {
    pub fn new(path: PathBuf, loaded: Loaded) -> HistorySink {
        HistorySink {
            path,
            loaded: Some(loaded),
            warnings: Vec::new(),
        }
    }
}

fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
            Err(e) => self.warnings.push(e),
        }
    }
}
