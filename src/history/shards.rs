//! `ptest merge --history` of static shards (DESIGN §10): each shard restored the same history
//! and added one run to each name it ran, so a name that several shards ran in one CI run (a
//! suite of an `always` phase, a batch's fixed cost `unit[]`, an item whose parts ran on
//! several machines) has one new run in each of their files. Those are one run of the whole:
//! joined into one here, so that a run weighs one in the median of the last five and pushes
//! one older run out, not N. Pure; linear in the runs (one hash map per name, no pairs).

use std::collections::{BTreeMap, HashMap};

use super::{Entry, Records, Run, RunKey};
use crate::event::Status;

/// The inputs' records joined: every run once (the base the shards share is in every input),
/// and for each name the newest run of each input that not every input holds, when two or more
/// inputs have one, joined into one run ([`one_run`]).
pub(crate) fn join(inputs: Vec<Records>) -> Records {
    let n = inputs.len();
    let mut suites: BTreeMap<String, Vec<Vec<Run>>> = BTreeMap::new();
    let mut items: BTreeMap<String, Vec<Vec<Run>>> = BTreeMap::new();
    for (i, r) in inputs.into_iter().enumerate() {
        for (into, from) in [(&mut suites, r.suites), (&mut items, r.items)] {
            for (name, e) in from {
                let per = into.entry(name).or_insert_with(|| vec![Vec::new(); n]);
                per[i] = e.runs;
            }
        }
    }
    let mut out = Records::default();
    let joined = Records {
        suites: suites
            .into_iter()
            .map(|(name, per)| (name, joined_runs(per, false)))
            .collect(),
        items: items
            .into_iter()
            .map(|(name, per)| (name, joined_runs(per, true)))
            .collect(),
    };
    // Every run once, by time, at most KEEP: the join of one history into an empty one.
    out.join(joined);
    out
}

/// One name's runs from each input, joined.
fn joined_runs(per: Vec<Vec<Run>>, item: bool) -> Entry {
    let n = per.len();
    // How many inputs hold each run (an input holding it twice counts once).
    let mut holders: HashMap<RunKey, (usize, usize)> = HashMap::new();
    for (i, runs) in per.iter().enumerate() {
        for r in runs {
            let h = holders.entry(RunKey::of(r)).or_insert((0, usize::MAX));
            if h.1 != i {
                *h = (h.0 + 1, i);
            }
        }
    }
    // Each input's newest run that some input lacks: what that shard added.
    let added: Vec<Option<usize>> = per
        .iter()
        .map(|runs| {
            (0..runs.len())
                .filter(|&k| holders[&RunKey::of(&runs[k])].0 < n)
                .max_by_key(|&k| (runs[k].time, k))
        })
        .collect();
    let mut runs = Vec::new();
    if added.iter().flatten().count() >= 2 {
        let parts: Vec<Run> = per
            .iter()
            .zip(&added)
            .filter_map(|(runs, k)| k.map(|k| runs[k].clone()))
            .collect();
        runs.push(one_run(&parts, item));
        for (i, mut mine) in per.into_iter().enumerate() {
            if let Some(k) = added[i] {
                mine.remove(k);
            }
            runs.extend(mine);
        }
    } else {
        runs.extend(per.into_iter().flatten());
    }
    Entry { runs }
}

/// How bad an outcome is, for the worst of several.
fn severity(s: Status) -> u8 {
    match s {
        Status::Passed => 0,
        Status::Flaky => 1,
        Status::Skipped => 2,
        Status::Cancelled => 3,
        Status::TimedOut => 4,
        Status::Failed => 5,
    }
}

/// The runs that several shards made of one name in one CI run, as one: the earliest start,
/// the worst outcome, the most attempts and memory; an item's durations and CPU time added (its
/// parts ran on several machines), a suite's the longest (it ran on each, side by side). A
/// cancelled or skipped outcome says nothing of a duration, as in a run's own record.
pub(crate) fn one_run(parts: &[Run], item: bool) -> Run {
    let status = parts
        .iter()
        .map(|r| r.status)
        .max_by_key(|s| severity(*s))
        .unwrap_or(Status::Passed);
    let figure = |f: fn(&Run) -> Option<f32>| -> Option<f32> {
        let xs = parts.iter().filter_map(f);
        if item {
            xs.reduce(|a, b| a + b)
        } else {
            xs.reduce(f32::max)
        }
    };
    let timed = !matches!(status, Status::Cancelled | Status::Skipped);
    Run {
        time: parts.iter().map(|r| r.time).min().unwrap_or(0),
        status,
        duration: figure(|r| r.duration).filter(|_| timed),
        attempts: parts.iter().filter_map(|r| r.attempts).max(),
        peak_rss_kb: parts.iter().filter_map(|r| r.peak_rss_kb).max(),
        cpu_time: figure(|r| r.cpu_time).filter(|_| timed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(time: u64, status: Status, secs: f32) -> Run {
        Run {
            time,
            status,
            duration: Some(secs),
            attempts: Some(1),
            peak_rss_kb: None,
            cpu_time: None,
        }
    }

    fn records(suites: &[(&str, Vec<Run>)], items: &[(&str, Vec<Run>)]) -> Records {
        let map = |xs: &[(&str, Vec<Run>)]| {
            xs.iter()
                .map(|(n, runs)| ((*n).to_owned(), Entry { runs: runs.clone() }))
                .collect()
        };
        Records {
            suites: map(suites),
            items: map(items),
        }
    }

    fn runs_of<'a>(r: &'a Records, name: &str) -> &'a [Run] {
        &r.suites[name].runs
    }

    #[test]
    fn what_several_shards_added_to_one_name_is_one_run() {
        let base = run(100, Status::Passed, 5.0);
        let shard = |t: u64, secs: f32, status: Status| {
            records(
                &[
                    ("stop", vec![base.clone(), run(t, status, secs)]),
                    (&format!("only{t}"), vec![run(t, Status::Passed, 1.0)]),
                ],
                &[],
            )
        };
        let joined = join(vec![
            shard(200, 1.0, Status::Passed),
            shard(201, 3.0, Status::Failed),
            shard(202, 2.0, Status::Passed),
        ]);
        // The base once, then one run for the three shards: earliest, worst, longest.
        assert_eq!(
            runs_of(&joined, "stop"),
            [base.clone(), run(200, Status::Failed, 3.0)]
        );
        // What one shard ran is as it was.
        assert_eq!(runs_of(&joined, "only201"), [run(201, Status::Passed, 1.0)]);
    }

    #[test]
    fn an_items_parts_from_several_shards_add_up() {
        let a = records(&[], &[("unit/t.py", vec![run(10, Status::Passed, 4.0)])]);
        let b = records(&[], &[("unit/t.py", vec![run(12, Status::Passed, 6.0)])]);
        let joined = join(vec![a, b]);
        assert_eq!(
            joined.items["unit/t.py"].runs,
            [run(10, Status::Passed, 10.0)]
        );
    }

    #[test]
    fn a_lone_history_or_older_runs_one_input_lacks_stay_as_they_are() {
        let a = records(&[("x", vec![run(1, Status::Passed, 1.0)])], &[]);
        let joined = join(vec![a.clone()]);
        assert_eq!(joined, {
            let mut r = Records::default();
            r.join(a);
            r
        });
        // Input b lacks a's older run 1: only each input's newest addition joins.
        let a = records(
            &[(
                "x",
                vec![run(1, Status::Passed, 1.0), run(5, Status::Passed, 2.0)],
            )],
            &[],
        );
        let b = records(&[("x", vec![run(6, Status::Passed, 3.0)])], &[]);
        let joined = join(vec![a, b]);
        assert_eq!(
            runs_of(&joined, "x"),
            [run(1, Status::Passed, 1.0), run(5, Status::Passed, 3.0)]
        );
    }

    #[test]
    fn cancelled_or_skipped_says_nothing_of_a_duration() {
        let parts = [run(3, Status::Passed, 2.0), run(4, Status::Cancelled, 0.5)];
        let one = one_run(&parts, false);
        assert_eq!(
            (one.status, one.duration, one.time),
            (Status::Cancelled, None, 3)
        );
    }

    #[test]
    fn a_name_with_many_runs_joins_in_linear_time() {
        // 200,000 runs of one name in each of two inputs, all shared: nothing to join, and
        // quick (a pairwise comparison would take minutes).
        let many: Vec<Run> = (0..200_000).map(|t| run(t, Status::Passed, 1.0)).collect();
        let a = records(&[("x", many.clone())], &[]);
        let b = records(&[("x", many)], &[]);
        let t = std::time::Instant::now();
        let joined = join(vec![a, b]);
        assert_eq!(runs_of(&joined, "x").len(), crate::history::KEEP);
        assert!(t.elapsed() < std::time::Duration::from_secs(20));
    }
}
