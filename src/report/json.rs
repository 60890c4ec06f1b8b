//! `LOG_DIR/test-report.json` (DESIGN §6) and `--report FILE`: the run's record as JSON, written
//! atomically (a temp file beside it, then a rename), so a reader never sees half a report.

use std::io::Write;
use std::path::Path;

/// Write `value` as JSON to `path` atomically, as it is serialized (a merged report of many
/// shards is never a second copy in memory); the file replaced goes to `discard`.
pub(crate) fn write_atomic(
    path: &Path,
    value: &impl serde::Serialize,
    discard: &crate::safe_write::Discard,
) -> std::io::Result<()> {
    crate::safe_write::write_by(
        path,
        |file| {
            let mut out = std::io::BufWriter::new(file);
            serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
            out.flush()
        },
        discard,
    )
}
