//! `ptest merge`: the records of shards run on different machines joined into one, the summary
//! recomputed (wall time the slowest shard's, the suites' own time added up). A shard's report
//! is a CI artifact built by a job that ran a pull request's code: it is read bounded, only when
//! it is a regular file, every testcase cut to the record's caps again, and nothing it names
//! (logs, files) is ever opened: what the merged reports show is what the records carry.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use super::{
    FORMAT_VERSION, Limiter, Record, ShardOf, Suite, Summary, TAIL_LINES, TEXT_BUDGET, last_lines,
    round3,
};

/// The largest report read; a larger one is refused, not read in part.
pub(crate) const REPORT_CAP: u64 = 1024 * 1024 * 1024;

/// A shard's report, read from `path`: a regular file of at most [`REPORT_CAP`] bytes, in a
/// format this ptest knows.
pub(crate) fn read(path: &Path) -> Result<Record, String> {
    let cannot =
        |e: &std::io::Error| format!("cannot read {}: {}", path.display(), crate::io_message(e));
    let not_report = |why: &str| format!("{}: not a ptest report ({why})", path.display());
    // What it is before opening it: a FIFO is never opened (an open would wait for a writer).
    let meta = std::fs::metadata(path).map_err(|e| cannot(&e))?;
    if !meta.is_file() {
        return Err(not_report("not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    let meta = file.metadata().map_err(|e| cannot(&e))?;
    if !meta.is_file() {
        return Err(not_report("not a regular file"));
    }
    if meta.len() > REPORT_CAP {
        let cap = crate::size::human(REPORT_CAP);
        return Err(not_report(&format!(
            "{} bytes; a report is read up to {cap}",
            meta.len()
        )));
    }
    let reader = std::io::BufReader::new(file.take(REPORT_CAP));
    let record: Record = serde_json::from_reader(reader).map_err(|e| {
        let text = e.to_string();
        if e.is_data() && (text.contains("`suites`") || text.contains("`summary`")) {
            not_report("no suites or summary")
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

/// A merge's outcome: the joined record, what it noticed (duplicates, named on stderr) and the
/// shards of the split that no report given was (`shard 3/4 missing`: the merge exits 1).
#[derive(Debug)]
pub(crate) struct Merged {
    pub record: Record,
    pub notes: Vec<String>,
    pub missing: Vec<String>,
}

impl Record {
    /// The shards' records joined, suites shard by shard, each marked with the shard that ran
    /// it. A suite every shard runs (an `always` phase's) is one entry, the first that passed
    /// (else the first); any other name found twice is named in `notes` and its first pass
    /// kept. Shards of different splits are refused.
    pub(crate) fn merge(shards: Vec<(String, Record)>) -> Result<Merged, String> {
        if shards.is_empty() {
            return Err("merge: give at least one REPORT.json".into());
        }
        // Reports of shards of one run share a split; any two that differ are refused.
        let mut first_split: Option<(&str, &ShardOf)> = None;
        for (name, r) in &shards {
            let Some(sh) = &r.shard else { continue };
            match first_split {
                None => first_split = Some((name, sh)),
                Some((first, f)) if f.split != sh.split || f.total != sh.total => {
                    return Err(format!(
                        "merge: {first} and {name} are shards of different splits (config, selection, history or shard count differ): merge the reports of one run"
                    ));
                }
                Some(_) => {}
            }
        }
        // A queue's machines are as many as came: none is missing (their units ran elsewhere).
        let came: BTreeSet<u32> = shards
            .iter()
            .filter_map(|(_, r)| r.shard.as_ref().map(|s| s.index))
            .collect();
        let missing = match first_split.filter(|(_, f)| f.mode != "queue") {
            Some((_, f)) => (1..=f.total)
                .filter(|k| !came.contains(k))
                .map(|k| format!("shard {k}/{} missing", f.total))
                .collect(),
            None => Vec::new(),
        };
        // Where each name was kept: its place in `suites` and the report it came from.
        let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut notes = Vec::new();
        let mut budget = TEXT_BUDGET;
        let mut suites: Vec<Suite> = Vec::new();
        let mut limiters: Vec<Limiter> = Vec::new();
        let mut services = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let (mut wall, mut workers, mut interrupted) = (0.0_f64, 0_u32, false);
        let (mut run_ids, mut timestamps) = (Vec::new(), Vec::new());
        for (place, (name, r)) in shards.into_iter().enumerate() {
            let shard_index = r
                .shard
                .as_ref()
                .filter(|s| s.mode != "queue")
                .map_or(u32::try_from(place + 1).unwrap_or(u32::MAX), |s| s.index);
            let expected = r.shard.as_ref().map(|s| &s.every_shard);
            for mut s in r.suites {
                s.shard = Some(shard_index);
                // What another machine wrote gets this machine's caps.
                let tails = s
                    .attempts_detail
                    .iter_mut()
                    .map(|a| (&mut a.tail, "an attempt's"));
                for (tail, whose) in tails.chain([(&mut s.tail, "a suite's")]) {
                    if let Some(t) = tail.as_mut() {
                        let kept = last_lines(t, TAIL_LINES).join("\n");
                        let what = format!("{whose} output tail");
                        *t = super::capped(&kept, super::TEXT_CAP, &what).into_owned();
                    }
                }
                if let Some(&(at, from)) = seen.get(&s.name) {
                    let replace = !suites[at].status.is_pass() && s.status.is_pass();
                    if !expected.is_some_and(|e| e.contains(&s.name)) {
                        let kept = if suites[at].status.is_pass() || replace {
                            "the first pass kept"
                        } else {
                            "the first kept"
                        };
                        notes.push(format!(
                            "suite \"{}\" is in {} and in {name}: {kept}",
                            s.name,
                            names.get(from).unwrap_or(&name)
                        ));
                    }
                    if replace {
                        suites[at] = s.capped(&mut budget);
                    }
                    continue;
                }
                let s = s.capped(&mut budget);
                seen.insert(s.name.clone(), (suites.len(), place));
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
        let record = Record {
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
            shard: None,
        };
        Ok(Merged {
            record,
            notes,
            missing,
        })
    }
}
