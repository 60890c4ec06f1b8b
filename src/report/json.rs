//! `LOG_DIR/test-report.json` (DESIGN §6) and `--report FILE`: the run's record as JSON, written
//! atomically (a temp file beside it, then a rename), so a reader never sees half a report.

use std::path::Path;

use crate::event::{Event, RunInfo, Sink};
use crate::plan::Plan;

/// Write `value` as JSON to `path` atomically.
pub(crate) fn write_atomic(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    super::write_file_atomic(path, &bytes)
}

/// The sink that writes the report when the run ends (also after fail-fast and Ctrl-C).
pub(crate) struct JsonSink {
    pub paths: Vec<std::path::PathBuf>,
    /// Where writing failed, for the caller to report.
    pub errors: Vec<String>,
}

impl Sink for JsonSink {
    fn event(&mut self, _plan: &Plan, _run: &RunInfo, event: &Event<'_>) {
        if let Event::RunFinished { record, .. } = event {
            for p in &self.paths {
                if let Err(e) = write_atomic(p, record) {
                    self.errors.push(format!(
                        "cannot write report {}: {}",
                        p.display(),
                        crate::io_message(&e)
                    ));
                }
            }
        }
    }
}
