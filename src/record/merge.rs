//! `ptest merge`: the records of shards run on different machines joined into one, the summary
//! recomputed (wall time the slowest shard's, the suites' own time added up). A shard's report
//! is a CI artifact built by a job that ran a pull request's code: it is read bounded, only when
//! it is a regular file, every testcase cut to the record's caps again, and nothing it names
//! (logs, files) is ever opened: what the merged reports show is what the records carry.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::{
    FORMAT_VERSION, Limiter, Record, Summary, TAIL_LINES, TEXT_BUDGET, last_lines, round3,
};

/// The largest report read; a larger one is refused, not read in part.
pub(crate) const REPORT_CAP: u64 = 1024 * 1024 * 1024;

/// A shard's report, read from `path`: a regular file of at most [`REPORT_CAP`] bytes, in a
/// format this ptest knows.
pub(crate) fn read(path: &Path) -> Result<Record, String> {
    let cannot =
        |e: &std::io::Error| format!("cannot read {}: {}", path.display(), crate::io_message(e));
    // What it is before opening it: a FIFO is never opened (an open would wait for a writer).
    let meta = std::fs::metadata(path).map_err(|e| cannot(&e))?;
    if !meta.is_file() {
        return Err(format!(
            "{}: not a ptest report (not a regular file)",
            path.display()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    let meta = file.metadata().map_err(|e| cannot(&e))?;
    if !meta.is_file() {
        return Err(format!(
            "{}: not a ptest report (not a regular file)",
            path.display()
        ));
    }
    if meta.len() > REPORT_CAP {
        return Err(format!(
            "{}: not a ptest report ({} bytes; a report is read up to {})",
            path.display(),
            meta.len(),
            crate::size::human(REPORT_CAP)
        ));
    }
    let reader = std::io::BufReader::new(file.take(REPORT_CAP));
    let record: Record = serde_json::from_reader(reader).map_err(|e| {
        if e.is_data()
            && (e.to_string().contains("`suites`") || e.to_string().contains("`summary`"))
        {
            format!(
                "{}: not a ptest report (no suites or summary)",
                path.display()
            )
        } else if e.is_io() {
            format!("cannot read {}: {e}", path.display())
        } else {
            format!("{}: not a ptest report: {e}", path.display())
        }
    })?;
    if record.format_version > FORMAT_VERSION {
        return Err(format!(
            "{}: a report of format {}, newer than this ptest reads ({FORMAT_VERSION}): merge with a newer ptest",
            path.display(),
            record.format_version
        ));
    }
    Ok(record)
}

impl Record {
    /// The shards' records joined, suites shard by shard, each named by where it came from.
    /// Each suite belongs to one shard: a name in two is refused.
    pub(crate) fn merge(shards: Vec<(String, Record)>) -> Result<Record, String> {
        if shards.is_empty() {
            return Err("merge: give at least one REPORT.json".into());
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut budget = TEXT_BUDGET;
        let mut suites = Vec::new();
        let mut limiters: Vec<Limiter> = Vec::new();
        let mut services = Vec::new();
        let mut names = Vec::new();
        let (mut wall, mut workers, mut interrupted) = (0.0_f64, 0_u32, false);
        let (mut run_ids, mut timestamps) = (Vec::new(), Vec::new());
        for (shard, (name, r)) in shards.into_iter().enumerate() {
            for mut s in r.suites {
                if let Some(i) = seen.insert(s.name.clone(), shard) {
                    return Err(format!(
                        "merge: suite \"{}\" is in {} and in {name} (each suite belongs to one shard)",
                        s.name, names[i]
                    ));
                }
                // What another machine wrote gets this machine's caps.
                for a in &mut s.attempts_detail {
                    if let Some(t) = a.tail.as_mut() {
                        let kept = last_lines(t, TAIL_LINES).join("\n");
                        *t = super::capped(&kept, super::TEXT_CAP, "an attempt's output tail")
                            .into_owned();
                    }
                }
                if let Some(t) = s.tail.as_mut() {
                    let kept = last_lines(t, TAIL_LINES).join("\n");
                    *t =
                        super::capped(&kept, super::TEXT_CAP, "a suite's output tail").into_owned();
                }
                if let Some(cases) = s.testcases.take() {
                    s.testcases = Some(cases.into_iter().map(|c| c.capped(&mut budget)).collect());
                }
                suites.push(s);
            }
            for l in r.limiters {
                match limiters.iter_mut().find(|m| m.name == l.name) {
                    Some(m) => {
                        m.acquired += l.acquired;
                        m.waited = round3(m.waited + l.waited);
                        m.throttled += l.throttled;
                        m.rate = m.rate.min(l.rate);
                        m.serialized |= l.serialized;
                    }
                    None => limiters.push(l),
                }
            }
            // Each machine's instances are its own.
            services.extend(r.services);
            wall = wall.max(r.duration);
            workers = workers.saturating_add(r.workers);
            interrupted |= r.summary.interrupted;
            run_ids.push(r.run_id);
            timestamps.push(r.timestamp);
            names.push(name);
        }
        limiters.sort_by(|a, b| a.name.cmp(&b.name));
        let summary = Summary::of(&suites, wall, interrupted);
        Ok(Record {
            format_version: FORMAT_VERSION,
            ptest_version: env!("CARGO_PKG_VERSION").to_owned(),
            run_id: run_ids.join("+"),
            timestamp: timestamps
                .into_iter()
                .filter(|t| !t.is_empty())
                .min()
                .unwrap_or_default(),
            duration: wall,
            workers,
            suites,
            summary,
            limiters,
            services,
            kept_tmp: None,
            shards: names,
        })
    }
}
