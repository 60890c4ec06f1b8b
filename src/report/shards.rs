//! What `ptest plan` prints about static shards (DESIGN §10): one shard's place among the
//! others, every shard's suites and items (`--shard all/N`), and the choice of how many
//! (`--shards auto`) with the matrix a CI reads. Pure functions of the split: the same inputs
//! give the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Value, json};

use crate::duration::{from_secs_lossy, human};
use crate::shard::split::{Choice, Split, lower_bound, unit_time};
use crate::shard::units::{Member, Units};
use crate::shard::{Placed, Whole};

fn secs(s: f64) -> String {
    human(from_secs_lossy(s))
}

/// The slowest over the mean, or 1 when nothing is expected.
fn ratio(max: f64, mean: f64) -> f64 {
    if mean > 0.0 { max / mean } else { 1.0 }
}

/// The line `ptest plan --shard K/N` adds under the config's: this shard's expected time and
/// the spread of all of them.
pub(crate) fn shard_line(index: u32, total: u32, source: &str, placed: &Placed) -> String {
    let max = placed.expected.iter().copied().fold(0.0, f64::max);
    let mean = placed.expected.iter().sum::<f64>() / placed.expected.len().max(1) as f64;
    format!(
        "shard:     {index}/{total} ({source}), expected {}; the {total} shards: max {}, mean {} \
         (max/mean {:.3}), {} unit{} in all\n",
        secs(
            placed
                .expected
                .get(index as usize - 1)
                .copied()
                .unwrap_or(0.0)
        ),
        secs(max),
        secs(mean),
        ratio(max, mean),
        placed.units,
        if placed.units == 1 { "" } else { "s" }
    )
}

/// One shard's suites (a unit a line: a chain or group names all of its suites) and its
/// items by batch.
struct Listed {
    units: Vec<(Vec<String>, f64)>,
    items: BTreeMap<String, Vec<(String, f64)>>,
}

fn listed(w: &Whole, split: &Split, k: u32) -> Listed {
    let mut out = Listed {
        units: Vec::new(),
        items: BTreeMap::new(),
    };
    for u in split.units_on(k) {
        let t = unit_time(&w.units.model, &w.units.model.units[u]);
        let mut names = Vec::new();
        for m in &w.units.members[u] {
            match m {
                Member::Suite(id) => names.push(w.plan.suite(*id).name.clone()),
                Member::Item { batch, item } => out
                    .items
                    .entry(w.units.batches[*batch].clone())
                    .or_default()
                    .push((item.clone(), t)),
            }
        }
        if !names.is_empty() {
            out.units.push((names, t));
        }
    }
    out
}

fn names(w: &Whole, ids: &[crate::plan::SuiteId]) -> Vec<String> {
    ids.iter().map(|i| w.plan.suite(*i).name.clone()).collect()
}

/// `ptest plan --shard all/N`: every shard's suites and items with their expected times, then
/// the spread.
pub(crate) fn all_text(w: &Whole, split: &Split) -> String {
    let u: &Units = &w.units;
    let total = split.total();
    let used = (u.members.len() as u32).clamp(1, total);
    let mut out = String::new();
    let workers: Vec<String> = w
        .plan
        .phases
        .iter()
        .map(|p| format!("{} {}", p.name, p.workers))
        .collect();
    let _ = writeln!(
        out,
        "{total} shard{} of {} unit{} (chains of dependencies, max = 1 groups, suites, batch \
         items); workers a shard: {}",
        if total == 1 { "" } else { "s" },
        u.members.len(),
        if u.members.len() == 1 { "" } else { "s" },
        workers.join(", ")
    );
    if !u.everywhere.is_empty() {
        let _ = writeln!(
            out,
            "every shard runs (always phases): {}",
            names(w, &u.everywhere).join(", ")
        );
    }
    if !u.first.is_empty() {
        let _ = writeln!(
            out,
            "shard 1 also lists, skipped before the run: {}",
            names(w, &u.first).join(", ")
        );
    }
    for k in 0..used {
        let l = listed(w, split, k);
        let n_items: usize = l.items.values().map(Vec::len).sum();
        let n_suites: usize = l.units.iter().map(|(n, _)| n.len()).sum();
        let _ = writeln!(
            out,
            "\nshard {}/{total}  expected {}  ({n_suites} suite{}, {n_items} item{})",
            k + 1,
            secs(split.expected[k as usize]),
            if n_suites == 1 { "" } else { "s" },
            if n_items == 1 { "" } else { "s" },
        );
        for (names, t) in &l.units {
            let _ = writeln!(out, "  {}  {}", names.join(", "), secs(*t));
        }
        for (batch, items) in &l.items {
            let _ = writeln!(
                out,
                "  batch {batch}: {} item{}",
                items.len(),
                if items.len() == 1 { "" } else { "s" }
            );
            for (item, t) in items {
                let _ = writeln!(out, "    {item}  {}", secs(*t));
            }
        }
    }
    if used < total {
        let _ = writeln!(
            out,
            "\nshard{} {}{}/{total}: nothing to run (never more shards than units)",
            if used + 1 == total { "" } else { "s" },
            used + 1,
            if used + 1 == total {
                String::new()
            } else {
                format!("-{total}")
            },
        );
    }
    let (max, mean) = (split.slowest(), split.mean());
    let _ = writeln!(
        out,
        "\nexpected: slowest shard {}, mean {}, max/mean {:.3}; no split into {total} takes \
         less than {}",
        secs(max),
        secs(mean),
        ratio(max, mean),
        secs(lower_bound(&u.model, used))
    );
    out
}

/// `ptest plan --shard all/N --format json`.
pub(crate) fn all_json(w: &Whole, split: &Split) -> String {
    let u = &w.units;
    let total = split.total();
    let shards: Vec<Value> = (0..total)
        .map(|k| {
            let l = listed(w, split, k);
            let items: BTreeMap<&String, Vec<&String>> = l
                .items
                .iter()
                .map(|(b, is)| (b, is.iter().map(|(i, _)| i).collect()))
                .collect();
            json!({
                "index": k + 1,
                "shard": format!("{}/{total}", k + 1),
                "expected": split.expected[k as usize],
                "suites": l.units.iter().flat_map(|(n, _)| n).collect::<Vec<_>>(),
                "items": items,
            })
        })
        .collect();
    let used = (u.members.len() as u32).clamp(1, total);
    let (max, mean) = (split.slowest(), split.mean());
    let doc = json!({
        "total": total,
        "units": u.members.len(),
        "every_shard": names(w, &u.everywhere),
        "skipped_on_shard_1": names(w, &u.first),
        "expected": {
            "max": max,
            "mean": mean,
            "max_over_mean": ratio(max, mean),
            "lower_bound": lower_bound(&u.model, used),
        },
        "shards": shards,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The matrix a CI reads with `fromJSON`: `{"shard":["1/4","2/4","3/4","4/4"]}`.
pub(crate) fn matrix(total: u32) -> String {
    let shards: Vec<String> = (1..=total).map(|k| format!("{k}/{total}")).collect();
    let mut s = json!({ "shard": shards }).to_string();
    s.push('\n');
    s
}

/// `ptest plan --shards auto`: the counts tried, their predicted wall times, the choice.
pub(crate) fn auto_text(c: &Choice, target: f64, node_overhead: f64) -> String {
    let mut out = String::new();
    let chosen = c.candidates.iter().find(|x| x.shards == c.shards);
    let wall = chosen.map_or(0.0, |x| x.wall);
    if c.met {
        let _ = writeln!(
            out,
            "{} shard{}: the fewest whose predicted wall time ({}) meets the target {}",
            c.shards,
            if c.shards == 1 { "" } else { "s" },
            secs(wall),
            secs(target)
        );
    } else {
        let _ = writeln!(
            out,
            "{} shard{}: no count meets the target {}; the least predicted wall time is {}",
            c.shards,
            if c.shards == 1 { "" } else { "s" },
            secs(target),
            secs(wall)
        );
    }
    let _ = writeln!(
        out,
        "\nshards  slowest shard  wall (+{} a machine)",
        secs(node_overhead)
    );
    for x in &c.candidates {
        let _ = writeln!(
            out,
            "{:>6}  {:>13}  {:>10}{}",
            x.shards,
            secs(x.slowest),
            secs(x.wall),
            if x.shards == c.shards { "  <-" } else { "" }
        );
    }
    out
}

/// `ptest plan --shards auto --format json`.
pub(crate) fn auto_json(c: &Choice, target: f64, node_overhead: f64) -> String {
    let doc = json!({
        "shards": c.shards,
        "met": c.met,
        "target": target,
        "node_overhead": node_overhead,
        "matrix": { "shard": (1..=c.shards).map(|k| format!("{k}/{}", c.shards)).collect::<Vec<_>>() },
        "candidates": c.candidates.iter().map(|x| json!({
            "shards": x.shards, "slowest": x.slowest, "wall": x.wall,
        })).collect::<Vec<_>>(),
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
