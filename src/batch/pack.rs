//! DESIGN §9: a batch's items packed into a few suites (`unit[1]`, `unit[2]`, ...). Longest
//! expected item first into the part that ends earliest (LPT), each part starting at the
//! batch's learned fixed overhead. Pure: the same items and history give the same parts.
//! Runs before names are checked, so that everything after sees only ordinary suites; a
//! batch's name, wherever a suite name is accepted, stands for all of its parts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;
use std::sync::Arc;

use crate::plan::decl::{BatchDecl, BatchPart, Declarations, ItemSource, Slice, SuiteDecl};

/// What expansion needs to know about the run.
pub(crate) struct Facts<'a> {
    /// The worker count of a phase (by name; `None`: the default phase).
    pub workers: &'a dyn Fn(Option<&str>) -> u32,
    /// A suite's expected duration from history.
    pub expected: &'a dyn Fn(&str) -> Option<f64>,
    /// An item's expected duration from history: `(batch, item)`.
    pub item_expected: &'a dyn Fn(&str, &str) -> Option<f64>,
    /// Whether `(batch, item)` ended failed in its latest run (for a slice of an item: slicing
    /// changed a test's outcome).
    pub item_failed: &'a dyn Fn(&str, &str) -> bool,
    /// `--rerun-failed`: which items to keep.
    pub rerun: Option<Rerun<'a>>,
    /// `--test`: the names given (test ids as ptest reports them, or an item's own name). A
    /// batch that takes them (`select = true`) and has a `test` template runs the named tests
    /// of its items by that template, as `--rerun-failed` runs the failed ones.
    pub tests: &'a [String],
}

/// `--rerun-failed` at the item level.
pub(crate) struct Rerun<'a> {
    /// `(batch, item)` failed last time.
    pub item: &'a dyn Fn(&str, &str) -> bool,
    /// One of the batch's parts failed with nothing known of its items: keep every item.
    pub whole: &'a dyn Fn(&str) -> bool,
    /// `(batch, item, not_a_test)`: the tests of the item that failed in its latest run (empty:
    /// none known, the item runs whole); `not_a_test` tells a key below the item that names a
    /// slice of it.
    pub tests: &'a FailedTests<'a>,
}

/// `(batch, item, not_a_test)` → the item's failed tests (see [`Rerun::tests`]).
pub(crate) type FailedTests<'a> = dyn Fn(&str, &str, &dyn Fn(&str) -> bool) -> Vec<String> + 'a;

/// Seconds of a test file's run per byte of it, when nothing else is known. Only the ratios
/// between files matter for packing; the scale (about 40 KB of test code a second, as
/// networkx's suite runs) makes `ptest plan`'s figures plausible.
const SECS_PER_BYTE: f64 = 1.0 / 40_000.0;

/// The least an item counts for in packing, in seconds.
const MIN_ITEM_SECS: f64 = 0.001;

/// Batch names to the names of their parts.
pub(crate) type Parts = HashMap<String, Vec<String>>;

/// Replace every batch declaration by its parts, in place, and point references to a batch
/// at all of its parts. Returns the batches' parts by name.
pub(crate) fn expand(d: &mut Declarations, facts: &Facts<'_>) -> Parts {
    let mut parts = Parts::new();
    if d.suites.iter().all(|s| s.batch.is_none()) {
        return parts;
    }
    let declared = std::mem::take(&mut d.suites);
    let mut out = Vec::with_capacity(declared.len());
    for mut s in declared {
        let Some(mut batch) = s.batch.take() else {
            out.push(s);
            continue;
        };
        if let Some(r) = &facts.rerun {
            let kept: Vec<String> = batch
                .items
                .iter()
                .filter(|i| (r.item)(&s.name, i))
                .cloned()
                .collect();
            if !kept.is_empty() {
                batch.items = kept;
            } else if !(r.whole)(&s.name) {
                batch.items.clear();
            }
            // With a way to run one test of an item, only the tests that failed.
            if batch.test.is_some() {
                let slice = batch.slice.clone();
                let is_slice = |item: &str, test: &str| {
                    slice.as_deref().is_some_and(|t| {
                        let prefix = t
                            .split("{slice}")
                            .next()
                            .unwrap_or(t)
                            .replace("{item}", item);
                        format!("{item}::{test}").starts_with(&prefix)
                    })
                };
                for item in &batch.items {
                    let tests = (r.tests)(&s.name, item, &|t| is_slice(item, t));
                    if !tests.is_empty() {
                        batch.only_tests.insert(item.clone(), tests);
                    }
                }
            }
        }
        if s.select && !facts.tests.is_empty() {
            narrow_to_named(&mut batch, facts.tests);
        }
        let names = split(&s, &batch, &d.config_dir, facts)
            .into_iter()
            .map(|part| {
                let name = format!("{}[{}]", s.name, part.index);
                out.push(SuiteDecl {
                    name: name.clone(),
                    cmd: part.full_command(),
                    estimate: None,
                    part: Some(Arc::new(part)),
                    ..s.clone()
                });
                name
            })
            .collect();
        parts.entry(s.name.clone()).or_insert(names);
    }
    d.suites = out;
    for s in &mut d.suites {
        if s.depends_on.iter().any(|n| parts.contains_key(n)) {
            s.depends_on = s
                .depends_on
                .iter()
                .flat_map(|n| match parts.get(n) {
                    Some(p) => p.clone(),
                    None => vec![n.clone()],
                })
                .collect();
        }
    }
    parts
}

/// `--test`: the tests named of each item, by the batch's `test` template (`{item}::{test}`:
/// `ITEM::TEST`, the longest item that fits; a leading `./` is dropped), into `only_tests`. An
/// item named whole, or named by no test (a folder's files, which the preset kept), runs whole.
/// Tests `--rerun-failed` kept of an item stay when they are among the named ones (a named test
/// stands for the tests below it: a class for its methods, a function for its parameters).
fn narrow_to_named(batch: &mut BatchDecl, names: &[String]) {
    let Some(template) = batch.test.clone() else {
        return;
    };
    let (head, tail) = template.split_once("{test}").unwrap_or((&template, ""));
    let mut per_item: HashMap<&str, Vec<String>> = HashMap::new();
    let mut whole: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for name in names {
        let name = name.strip_prefix("./").unwrap_or(name);
        let mut best: Option<(&str, &str)> = None;
        for item in &batch.items {
            if name == item {
                whole.insert(item);
                best = None;
                break;
            }
            let prefix = head.replace("{item}", item);
            let test = name
                .strip_prefix(prefix.as_str())
                .and_then(|t| t.strip_suffix(tail))
                .filter(|t| !t.is_empty());
            if let Some(test) = test
                && best.is_none_or(|(b, _)| item.len() > b.len())
            {
                best = Some((item, test));
            }
        }
        if let Some((item, test)) = best {
            let tests = per_item.entry(item).or_default();
            if !tests.iter().any(|t| t == test) {
                tests.push(test.to_owned());
            }
        }
    }
    for item in &batch.items {
        let Some(tests) = per_item.remove(item.as_str()) else {
            continue;
        };
        if whole.contains(item.as_str()) {
            continue;
        }
        let failed = batch.only_tests.remove(item).unwrap_or_default();
        let kept: Vec<String> = failed
            .into_iter()
            .filter(|f| {
                let f = f.replace("::", ".");
                tests.iter().any(|t| below(&f, &t.replace("::", ".")))
            })
            .collect();
        batch
            .only_tests
            .insert(item.clone(), if kept.is_empty() { tests } else { kept });
    }
}

/// Whether test `test` is `named` or below it: `named` then `::`, `.`, `/` or `[` (a class's
/// method, a nested class, a subtest, a parameter); a name with a parameter is only itself.
pub(crate) fn below(test: &str, named: &str) -> bool {
    test.strip_prefix(named).is_some_and(|rest| {
        rest.is_empty() || (!named.contains('[') && rest.starts_with(['[', '.', '/', ':']))
    })
}

/// Names given on the command line, with each batch name replaced by its parts.
pub(crate) fn expand_names(names: &[String], parts: &Parts) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| match parts.get(n) {
            Some(p) => p.clone(),
            None => vec![n.clone()],
        })
        .collect()
}

/// The parts of one batch.
fn split(s: &SuiteDecl, b: &BatchDecl, config_dir: &Path, facts: &Facts<'_>) -> Vec<BatchPart> {
    if b.items.is_empty() {
        return Vec::new();
    }
    let (durations, source) = item_durations(s, b, config_dir, facts);
    let workers = (facts.workers)(s.phase.as_deref()).max(1) as usize;
    // Nothing learned yet: a warm batch's parts are forks, whose start is about the same on
    // every suite measured; a cold batch's is not known (an interpreter and its imports).
    let overhead = learned_overhead(&s.name, &durations, facts).unwrap_or(if b.warm.is_some() {
        WARM_PART_SECS
    } else {
        0.0
    });
    let wanted = match b.batches {
        Some(n) => n as usize,
        // Well known durations pack tightly into one process per worker, unless the items are
        // files (modules an interpreter loads) and each part would run far longer than its
        // fixed cost: then two per worker. Measured on networkx's tests (pytest, 265 files,
        // 2 workers, quiet machine, the same history): 2 parts 37.6 s, 4 parts 33.2 s, 6 parts
        // 34.2 s; a pytest session of half the tests runs them faster than one of all of them,
        // and the last part to end has less left. Guesses leave room to even out on the fly:
        // more, smaller parts, the longest first.
        None if source == ItemSource::History => {
            let per_part = durations.iter().sum::<f64>() / workers as f64;
            let files = items_are_files(s, b, config_dir);
            if files && per_part >= LONG_PART_TIMES_OVERHEAD * overhead.max(MIN_OVERHEAD_SECS) {
                workers * 2
            } else {
                workers
            }
        }
        None => workers * 2,
    };
    let count = wanted.clamp(1, b.items.len());
    // Items too long for one part run in slices, each in a part of its own, when the command
    // can (`slice`) and their durations are measured.
    // A rerun of some tests of an item runs them in one part.
    let known = match &b.slice {
        Some(template)
            if source == ItemSource::History && workers > 1 && b.only_tests.is_empty() =>
        {
            sliced_before(
                &s.name, &b.items, template, &durations, count, workers, facts,
            )
        }
        _ => Vec::new(),
    };
    let cuts = if known.is_empty() {
        vec![1; durations.len()]
    } else {
        slice_counts(&durations, &known, count, workers, overhead)
    };
    let pieces = pieces(&durations, &cuts, &known);
    // A warm batch (its parts start as forks, for a fixed cost near nothing): parts that shrink
    // toward the end, which the scheduler hands to whichever worker is free, longest first, so
    // that a part longer than expected leaves the other workers the small ones rather than an
    // idle wait. On a first run too, sized from the guesses (file sizes) and a fork's usual
    // start: a guess is further off than a history, and the small last parts absorb that.
    // Only when that pays: with a fixed cost of seconds (a conftest the zygote could not import
    // ahead), the floor of ten fixed costs leaves a few parts of about equal size, whose number
    // need not suit the workers (three parts of 40 s on two), and the even parts run sooner.
    let (even, even_loads) = pack(&pieces, count, overhead);
    let shrunk = (b.batches.is_none() && b.warm.is_some() && in_seconds(source, s))
        .then(|| shrinking_sizes(pieces.iter().map(|p| p.secs).sum(), workers, overhead))
        .filter(|sizes| sizes.len() > count)
        .map(|sizes| pack_sized(&pieces, &sizes))
        .filter(|m| {
            let loads: Vec<f64> = m
                .iter()
                .filter(|m| !m.is_empty())
                .map(|m| overhead + m.iter().map(|&p| pieces[p].secs).sum::<f64>())
                .collect();
            let even: Vec<f64> = even
                .iter()
                .zip(&even_loads)
                .filter(|(m, _)| !m.is_empty())
                .map(|(_, l)| *l)
                .collect();
            let noise = if source == ItemSource::History {
                PART_NOISE
            } else {
                GUESS_NOISE
            };
            shrinking_pays(&loads, &even, workers, noise)
        });
    let mut members = shrunk.unwrap_or(even);
    members.retain(|m| !m.is_empty());
    let count = members.len();
    let sliced = cuts.iter().any(|&n| n > 1);
    members
        .into_iter()
        .enumerate()
        .map(|(k, mut m)| {
            // Items run in the order they were given.
            m.sort_unstable_by_key(|&p| (pieces[p].item, pieces[p].slice));
            BatchPart {
                batch: s.name.clone(),
                index: k as u32 + 1,
                count: count as u32,
                items: m
                    .iter()
                    .map(|&p| (b.items[pieces[p].item].clone(), pieces[p].secs))
                    .collect(),
                slices: if sliced {
                    m.iter()
                        .map(|&p| {
                            let n = cuts[pieces[p].item];
                            (n > 1).then_some(Slice {
                                index: pieces[p].slice,
                                count: n,
                            })
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                source,
                overhead,
                template: s.cmd.clone(),
                results: b.results.clone(),
                slice_template: b.slice.clone(),
                tests: if b.only_tests.is_empty() {
                    Vec::new()
                } else {
                    m.iter()
                        .map(|&p| {
                            let item = &b.items[pieces[p].item];
                            b.only_tests.get(item).cloned().unwrap_or_default()
                        })
                        .collect()
                },
                test_template: b.test.clone(),
                list: b.list.clone(),
                warm: b.warm.clone(),
                test_timeout: b.test_timeout,
                test_slow: b.test_slow.unwrap_or(crate::plan::decl::TEST_SLOW),
                skip_test: b.skip_test.clone(),
            }
        })
        .collect()
}

/// One item, or one slice of it, to be packed.
#[derive(Debug, Clone, Copy)]
struct Piece {
    item: usize,
    /// 1-based; 1 for an item that is not sliced.
    slice: u32,
    secs: f64,
}

/// Each further slice of an item is assumed to cost this share of the item again until history
/// measured it: each slice is a process that collects the whole file before it leaves out the
/// other slices' tests (3 s of the 30 s of `packaging`'s `test_version.py`, which holds 51,524
/// tests).
pub(crate) const SLICE_REPEAT: f64 = 0.1;

/// What history says about cutting one item in slices.
#[derive(Debug, Clone, Default, PartialEq)]
struct SlicedBefore {
    /// Cutting it changed a test's outcome once (a test failed in a slice and passed when the
    /// item ran whole): it stays whole.
    whole: bool,
    /// For each number of slices it ran in, each slice's measured duration.
    measured: Vec<(u32, Vec<f64>)>,
    /// What each further slice repeats, as a share of the item: measured, else `SLICE_REPEAT`.
    repeat: f64,
}

impl SlicedBefore {
    /// Each of `n` slices' expected seconds, for an item of `d` seconds whole.
    fn costs(&self, d: f64, n: u32) -> Vec<f64> {
        if let Some((_, m)) = self.measured.iter().find(|(k, _)| *k == n) {
            return m.clone();
        }
        let each = d * (1.0 + f64::from(n - 1) * self.repeat) / f64::from(n);
        vec![each; n as usize]
    }
}

/// The slices' history of each item that may be cut (those longer than an even part's share);
/// empty when none may be. A slice's name is the batch's `slice` template filled in
/// (`tests/x.py::ptest-slice-1-of-2`), as history records it.
fn sliced_before(
    batch: &str,
    items: &[String],
    template: &str,
    durations: &[f64],
    count: usize,
    workers: usize,
    facts: &Facts<'_>,
) -> Vec<SlicedBefore> {
    let share = durations.iter().sum::<f64>() / count as f64;
    let most = count.min(2 * workers).min(MAX_SLICES) as u32;
    let mut out = vec![
        SlicedBefore {
            repeat: SLICE_REPEAT,
            ..SlicedBefore::default()
        };
        durations.len()
    ];
    for (i, (item, &d)) in items.iter().zip(durations).enumerate() {
        if d <= share {
            continue;
        }
        let h = &mut out[i];
        let mut repeats = Vec::new();
        for n in 2..=MAX_SLICES as u32 {
            let names: Vec<String> = (1..=n)
                .map(|k| crate::plan::decl::slice_arg(template, item, k, n))
                .collect();
            h.whole |= names.iter().any(|k| (facts.item_failed)(batch, k));
            let m: Vec<f64> = names
                .iter()
                .filter_map(|k| (facts.item_expected)(batch, k))
                .filter(|x| x.is_finite() && *x >= 0.0)
                .collect();
            if m.len() == n as usize {
                let sum: f64 = m.iter().sum();
                repeats.push(((sum / d - 1.0) / f64::from(n - 1)).max(0.0));
                if n <= most {
                    h.measured.push((n, m));
                }
            }
        }
        if !repeats.is_empty() {
            h.repeat = repeats.iter().sum::<f64>() / repeats.len() as f64;
        }
    }
    out
}

/// The items as pieces: an item cut in `n` counts each slice's measured duration, else
/// `(1 + (n - 1) * repeat) / n` of its duration for each.
fn pieces(durations: &[f64], cuts: &[u32], known: &[SlicedBefore]) -> Vec<Piece> {
    let mut out = Vec::with_capacity(durations.len());
    for (item, (&d, &n)) in durations.iter().zip(cuts).enumerate() {
        if n == 1 {
            out.push(Piece {
                item,
                slice: 1,
                secs: d,
            });
            continue;
        }
        for (k, secs) in known[item].costs(d, n).into_iter().enumerate() {
            out.push(Piece {
                item,
                slice: k as u32 + 1,
                secs: secs.max(MIN_ITEM_SECS),
            });
        }
    }
    out
}

/// LPT: the longest piece first (declaration order breaks ties), each into the part that ends
/// earliest (the lowest index breaks ties) and holds no other slice of its item. Each part
/// starts at `overhead`. The pieces of each part, and each part's expected duration.
fn pack(pieces: &[Piece], count: usize, overhead: f64) -> (Vec<Vec<usize>>, Vec<f64>) {
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by(|&x, &y| {
        pieces[y]
            .secs
            .total_cmp(&pieces[x].secs)
            .then(pieces[x].item.cmp(&pieces[y].item))
            .then(pieces[x].slice.cmp(&pieces[y].slice))
    });
    let mut load = vec![overhead; count];
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
    // The parts by how soon they end (the lowest index breaks ties), soonest on top.
    let mut soonest: BinaryHeap<Reverse<Ends>> =
        (0..count).map(|k| Reverse(Ends(overhead, k))).collect();
    // The parts that hold a slice of each sliced item.
    let mut holding: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut skipped = Vec::new();
    for p in order {
        let piece = pieces[p];
        let sliced = piece.slice > 1 || pieces.get(p + 1).is_some_and(|n| n.item == piece.item);
        let taken = holding.get(&piece.item);
        // Parts that hold a slice of this item already wait aside; there are never more slices
        // of an item than parts, but should there be, the soonest of those.
        let best = loop {
            match soonest.pop() {
                Some(Reverse(Ends(_, k))) if taken.is_some_and(|t| t.contains(&k)) => {
                    skipped.push(k);
                }
                Some(Reverse(Ends(_, k))) => break k,
                None => break skipped.remove(0),
            }
        };
        for k in skipped.drain(..) {
            soonest.push(Reverse(Ends(load[k], k)));
        }
        load[best] += piece.secs;
        members[best].push(p);
        soonest.push(Reverse(Ends(load[best], best)));
        if sliced {
            holding.entry(piece.item).or_default().push(best);
        }
    }
    (members, load)
}

/// No part of a shrinking batch is smaller than this many times its fixed cost: below that, a
/// part's start would weigh more than what it balances.
pub(crate) const MIN_PART_TIMES_OVERHEAD: f64 = 10.0;

/// The least fixed cost a part is assumed to have when sizing shrinking parts (a fork, a pytest
/// session, its results file): a learned cost below it is noise.
const MIN_PART_OVERHEAD_SECS: f64 = 0.1;

/// The fixed cost per part of a warm batch before history has learned one: a fork's start, as
/// measured on first runs (tests/bench/README.md, issue 29: 0.24 s on networkx, 0.29 s on
/// numpy, 0.36 s on sympy, at load 5-10 on 2 cores). With [`MIN_PART_TIMES_OVERHEAD`], no
/// first-run part is guessed at under 3 s of work.
pub(crate) const WARM_PART_SECS: f64 = 0.3;

/// Whether items' expected durations from `source` are seconds, on the scale of a part's fixed
/// cost: history, its median, a file's size (at [`SECS_PER_BYTE`]) or an `estimate` spread over
/// the items; not the "one each" of items nothing is known of.
fn in_seconds(source: ItemSource, s: &SuiteDecl) -> bool {
    source != ItemSource::Equal || s.estimate.is_some()
}

/// The most parts a shrinking batch is cut into.
const MAX_SHRINKING_PARTS: usize = 64;

/// The expected sizes (work, without the fixed cost) of a batch's parts when they shrink
/// toward the end, largest first (guided self-scheduling): each takes half of an even share of
/// what remains, `remaining / (2 × workers)`, and none less than
/// [`MIN_PART_TIMES_OVERHEAD`] times the fixed cost (the last takes what is left).
pub(crate) fn shrinking_sizes(total: f64, workers: usize, overhead: f64) -> Vec<f64> {
    let floor = MIN_PART_TIMES_OVERHEAD * overhead.max(MIN_PART_OVERHEAD_SECS);
    let mut left = total;
    let mut sizes = Vec::new();
    while left > 0.0 && sizes.len() < MAX_SHRINKING_PARTS {
        let size = (left / (2.0 * workers.max(1) as f64)).max(floor);
        if size >= left || sizes.len() + 1 == MAX_SHRINKING_PARTS || left - size < floor / 2.0 {
            sizes.push(left);
            break;
        }
        sizes.push(size);
        left -= size;
    }
    sizes
}

/// How much longer than history says a part may run: per-file durations of the same suite
/// vary by 15-20 % from run to run (networkx, numpy and sympy, six runs each).
const PART_NOISE: f64 = 0.2;

/// How much longer than guessed a part may run when its items' durations are guesses (file
/// sizes, medians): on first runs in four parts of even guessed length at `-j 2`, one worker
/// ended 21-23 s after the other on networkx's tests (74 s) and 57 s after on sympy's (139 s):
/// parts 30-45 % off their share.
const GUESS_NOISE: f64 = 0.5;

/// Whether parts of `shrunk` loads (fixed cost included) end sooner on `workers` than the even
/// parts of `even` loads, once each may run `noise` ([`PART_NOISE`], [`GUESS_NOISE`]) longer
/// than expected. Each worker
/// takes the largest part left when it frees (as the scheduler does); a part that runs long
/// delays its worker's end by what it overran, and only the last part of each worker has
/// nothing after it to absorb that: so a plan ends at its latest worker's end plus the
/// overrun of that worker's last part. Small last parts are what shrinking buys; more
/// starts are what it costs.
pub(crate) fn shrinking_pays(shrunk: &[f64], even: &[f64], workers: usize, noise: f64) -> bool {
    noisy_makespan(shrunk, workers, noise) < noisy_makespan(even, workers, noise)
}

/// The end of parts of these loads on `workers` (longest first, each on the worker free first),
/// each worker's end counting `noise` of its last part.
fn noisy_makespan(loads: &[f64], workers: usize, noise: f64) -> f64 {
    let mut sorted: Vec<f64> = loads.iter().copied().filter(|&l| l > 0.0).collect();
    sorted.sort_by(|x, y| y.total_cmp(x));
    // Each worker's end and its last part's load.
    let mut free = vec![(0.0_f64, 0.0_f64); workers.max(1)];
    for l in sorted {
        let w = (0..free.len())
            .min_by(|&x, &y| free[x].0.total_cmp(&free[y].0))
            .unwrap_or(0);
        free[w] = (free[w].0 + l, l);
    }
    free.into_iter()
        .map(|(end, last)| end + noise * last)
        .fold(0.0, f64::max)
}

/// Pieces into parts of the given sizes: longest piece first into the part with the most room
/// left (the lowest index breaks ties) that holds no other slice of its item. The parts' pieces.
fn pack_sized(pieces: &[Piece], sizes: &[f64]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by(|&x, &y| {
        pieces[y]
            .secs
            .total_cmp(&pieces[x].secs)
            .then(pieces[x].item.cmp(&pieces[y].item))
            .then(pieces[x].slice.cmp(&pieces[y].slice))
    });
    let mut room: Vec<f64> = sizes.to_vec();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); sizes.len()];
    let mut holding: HashMap<usize, Vec<usize>> = HashMap::new();
    for p in order {
        let piece = pieces[p];
        let taken = holding.get(&piece.item);
        let best = (0..room.len())
            .filter(|k| !taken.is_some_and(|t| t.contains(k)))
            .max_by(|&x, &y| room[x].total_cmp(&room[y]).then(y.cmp(&x)))
            .unwrap_or(0);
        room[best] -= piece.secs;
        members[best].push(p);
        let sliced = piece.slice > 1 || pieces.get(p + 1).is_some_and(|n| n.item == piece.item);
        if sliced {
            holding.entry(piece.item).or_default().push(best);
        }
    }
    members
}

/// A part's expected end and its index, ordered by end, then index.
#[derive(Debug, Clone, Copy)]
struct Ends(f64, usize);

impl PartialEq for Ends {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Ends {}

impl PartialOrd for Ends {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ends {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// How long parts of these loads take on `workers`, started longest first, each on the worker
/// that is free first: what the scheduler does with them when nothing else runs.
fn makespan(loads: &[f64], workers: usize) -> f64 {
    let mut sorted: Vec<f64> = loads.iter().copied().filter(|&l| l > 0.0).collect();
    sorted.sort_by(|x, y| y.total_cmp(x));
    let mut free = vec![0.0_f64; workers.max(1)];
    for l in sorted {
        let w = (0..free.len())
            .min_by(|&x, &y| free[x].total_cmp(&free[y]))
            .unwrap_or(0);
        free[w] += l;
    }
    free.into_iter().fold(0.0, f64::max)
}

/// At most this many items are considered for slicing (the longest), ...
const MAX_CUT_ITEMS: usize = 8;
/// ... each in at most this many slices (and two per worker, and one per part).
const MAX_SLICES: usize = 32;

/// In how many slices each item runs: items longer than an even part's share of the work
/// (the longest [`MAX_CUT_ITEMS`]), longest first, each cut in the number of slices (at most
/// one per part: never more parts than `count`) that makes the batch's expected time on
/// `workers` the shortest, counting what each further slice repeats (as history measured it,
/// else [`SLICE_REPEAT`]); never an item whose slicing once changed a test's outcome.
fn slice_counts(
    durations: &[f64],
    known: &[SlicedBefore],
    count: usize,
    workers: usize,
    overhead: f64,
) -> Vec<u32> {
    let mut cuts = vec![1_u32; durations.len()];
    let share = durations.iter().sum::<f64>() / count as f64;
    let mut long: Vec<usize> = (0..durations.len())
        .filter(|&i| durations[i] > share && !known[i].whole)
        .collect();
    long.sort_by(|&x, &y| durations[y].total_cmp(&durations[x]).then(x.cmp(&y)));
    // The search packs the batch once per try: a few of the longest items, a few slices each.
    long.truncate(MAX_CUT_ITEMS);
    let most = count.min(2 * workers).min(MAX_SLICES) as u32;
    let time = |cuts: &[u32]| {
        let (members, loads) = pack(&pieces(durations, cuts, known), count, overhead);
        let used: Vec<f64> = members
            .iter()
            .zip(&loads)
            .filter(|(m, _)| !m.is_empty())
            .map(|(_, l)| *l)
            .collect();
        makespan(&used, workers)
    };
    for &i in &long {
        let mut best = (time(&cuts), 1);
        for n in 2..=most {
            cuts[i] = n;
            let t = time(&cuts);
            // A slice more must save more than rounding does.
            if t < best.0 * 0.99 {
                best = (t, n);
            }
        }
        cuts[i] = best.1;
    }
    // Cutting one of several equally long items may shorten nothing while cutting them all
    // does (twelve files of 1000 s on eight workers): the same number of slices for each.
    let mut best = (time(&cuts), cuts.clone());
    for n in 2..=most {
        let mut all = cuts.clone();
        for &i in &long {
            all[i] = all[i].max(n);
        }
        let t = time(&all);
        if t < best.0 * 0.99 {
            best = (t, all);
        }
    }
    best.1
}

/// A part this many times longer than its process's fixed cost is worth splitting in two.
const LONG_PART_TIMES_OVERHEAD: f64 = 20.0;
/// The fixed cost assumed of a process not measured yet (an interpreter and its imports).
const MIN_OVERHEAD_SECS: f64 = 0.5;

/// Whether the batch's items name files (its first one does, in the batch's folder).
fn items_are_files(s: &SuiteDecl, b: &BatchDecl, config_dir: &Path) -> bool {
    let dir = s
        .cwd
        .as_ref()
        .map_or_else(|| config_dir.to_path_buf(), |c| config_dir.join(c));
    b.items.first().is_some_and(|i| dir.join(i).is_file())
}

/// Each item's expected seconds, and where the figures came from: history; for items without
/// it the median of those with it; with no history at all, the file's size when items are
/// files (else all equal). An `estimate` on the batch is spread over its items.
fn item_durations(
    s: &SuiteDecl,
    b: &BatchDecl,
    config_dir: &Path,
    facts: &Facts<'_>,
) -> (Vec<f64>, ItemSource) {
    let known: Vec<Option<f64>> = b
        .items
        .iter()
        .map(|i| (facts.item_expected)(&s.name, i).filter(|d| d.is_finite() && *d >= 0.0))
        .collect();
    let mut have: Vec<f64> = known.iter().flatten().copied().collect();
    if !have.is_empty() {
        let source = if have.len() == known.len() {
            ItemSource::History
        } else {
            ItemSource::Median
        };
        let median = median(&mut have);
        // Items that take no time still cost their import: a floor spreads them over the parts
        // instead of piling them onto the first.
        return (
            known
                .iter()
                .map(|k| k.unwrap_or(median).max(MIN_ITEM_SECS))
                .collect(),
            source,
        );
    }
    if let Some(e) = s.estimate {
        let each = e.as_secs_f64() / b.items.len() as f64;
        return (vec![each; b.items.len()], ItemSource::Equal);
    }
    let dir = s
        .cwd
        .as_ref()
        .map_or_else(|| config_dir.to_path_buf(), |c| config_dir.join(c));
    let sizes: Vec<Option<u64>> = b
        .items
        .iter()
        .map(|i| {
            std::fs::metadata(dir.join(i))
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len())
        })
        .collect();
    let mut known_sizes: Vec<f64> = sizes.iter().flatten().map(|&n| n as f64).collect();
    if known_sizes.is_empty() {
        return (vec![1.0; b.items.len()], ItemSource::Equal);
    }
    let median_size = median(&mut known_sizes);
    (
        sizes
            .iter()
            .map(|n| (n.map_or(median_size, |n| n as f64) * SECS_PER_BYTE).max(MIN_ITEM_SECS))
            .collect(),
        ItemSource::FileSize,
    )
}

/// The fixed cost of one of this batch's processes: as the latest runs measured it (`unit[]`),
/// else the mean duration of its parts in history less their items' share. `None` when the
/// parts have no history.
fn learned_overhead(batch: &str, durations: &[f64], facts: &Facts<'_>) -> Option<f64> {
    if let Some(cost) = (facts.expected)(&crate::history::fixed_cost_key(batch)) {
        return Some(cost.max(0.0));
    }
    // A history from before runs recorded it: from the parts' durations.
    let past: Vec<f64> = (1..)
        .map_while(|k| (facts.expected)(&format!("{batch}[{k}]")))
        .collect();
    if past.is_empty() {
        return None;
    }
    let mean = past.iter().sum::<f64>() / past.len() as f64;
    let items: f64 = durations.iter().sum();
    Some((mean - items / past.len() as f64).max(0.0))
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        f64::midpoint(xs[n / 2 - 1], xs[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandLine;
    use crate::error::Origin;

    fn decl(items: &[&str], batches: Option<u32>) -> SuiteDecl {
        SuiteDecl {
            origin: Origin {
                file: "ptest.lua".into(),
                line: 1,
            },
            name: "unit".into(),
            cmd: CommandLine::Argv(vec!["t".into(), "{items}".into()]),
            description: None,
            category: "default".into(),
            tags: Vec::new(),
            cwd: None,
            env: std::collections::BTreeMap::new(),
            timeout: None,
            depends_on: Vec::new(),
            needs: Vec::new(),
            group: None,
            phase: None,
            limiter: None,
            retry: None,
            slots: 1,
            serial: false,
            estimate: None,
            memory: None,
            enabled: true,
            select: false,
            batch: Some(Box::new(BatchDecl {
                items: items.iter().map(|s| (*s).to_owned()).collect(),
                batches,
                results: None,
                slice: None,
                test: None,
                only_tests: std::collections::HashMap::new(),
                list: None,
                warm: None,
                test_timeout: None,
                test_slow: None,
                skip_test: None,
            })),
            part: None,
        }
    }

    fn parts_of(
        items: &[&str],
        batches: Option<u32>,
        known: &[(&str, f64)],
        workers: u32,
    ) -> Vec<Vec<String>> {
        parts_in(items, batches, known, workers, Path::new("/nonexistent"))
    }

    /// [`parts_of`], with the items looked for as files in `dir`.
    fn parts_in(
        items: &[&str],
        batches: Option<u32>,
        known: &[(&str, f64)],
        workers: u32,
        dir: &Path,
    ) -> Vec<Vec<String>> {
        split_known(&decl(items, batches), known, workers, dir)
            .into_iter()
            .map(|p| p.items.into_iter().map(|(i, _)| i).collect())
            .collect()
    }

    /// The parts of `s`'s batch with these items' durations known (no part history), on
    /// `workers`, the items looked for as files in `dir`.
    fn split_known(
        s: &SuiteDecl,
        known: &[(&str, f64)],
        workers: u32,
        dir: &Path,
    ) -> Vec<BatchPart> {
        split_failed(s, known, &[], workers, dir)
    }

    /// The same, with these items (or slices) failed in their latest run.
    fn split_failed(
        s: &SuiteDecl,
        known: &[(&str, f64)],
        failed: &[&str],
        workers: u32,
        dir: &Path,
    ) -> Vec<BatchPart> {
        let w = move |_: Option<&str>| workers;
        let none = |_: &str| None;
        let item = |_: &str, i: &str| known.iter().find(|(k, _)| *k == i).map(|(_, d)| *d);
        let failed = |_: &str, i: &str| failed.contains(&i);
        let facts = Facts {
            workers: &w,
            expected: &none,
            item_expected: &item,
            item_failed: &failed,
            rerun: None,
            tests: &[],
        };
        split(s, s.batch.as_ref().unwrap(), dir, &facts)
    }

    /// A batch of `items` whose command can run a slice of an item (`ITEM@K/N`).
    fn sliceable(items: &[&str], batches: Option<u32>) -> SuiteDecl {
        let mut s = decl(items, batches);
        s.batch.as_mut().unwrap().slice = Some("{item}@{slice}/{slices}".into());
        s
    }

    /// Each part's items as its command names them, for a batch whose command can run a slice
    /// of an item, the items' durations known.
    fn sliced(items: &[&str], known: &[(&str, f64)], workers: u32) -> Vec<Vec<String>> {
        sliced_failed(items, known, &[], workers)
    }

    /// The same, with these items (or slices) failed in their latest run.
    fn sliced_failed(
        items: &[&str],
        known: &[(&str, f64)],
        failed: &[&str],
        workers: u32,
    ) -> Vec<Vec<String>> {
        split_failed(
            &sliceable(items, None),
            known,
            failed,
            workers,
            Path::new("/nonexistent"),
        )
        .into_iter()
        .map(|p| (0..p.items.len()).map(|i| p.arg(i)).collect())
        .collect()
    }

    /// An item whose slicing once changed a test's outcome (a slice of it ended failed in
    /// history: its tests failed there and passed when it ran whole) is never cut again.
    #[test]
    fn an_item_whose_slices_changed_an_outcome_stays_whole() {
        let items = ["a", "b", "c", "d", "e"];
        let known = [("a", 30.0), ("b", 1.0), ("c", 1.0), ("d", 1.0), ("e", 1.0)];
        assert_eq!(sliced(&items, &known, 2)[0][0], "a@1/2");
        let p = sliced_failed(&items, &known, &["a@2/2"], 2);
        assert!(p.iter().flatten().all(|i| !i.contains('@')), "{p:?}");
        // Another item's failed slice, or a failed run of the item itself, changes nothing.
        assert_eq!(
            sliced_failed(&items, &known, &["b@2/2", "a"], 2)[0][0],
            "a@1/2"
        );
    }

    /// Once an item ran in slices, their measured durations decide: here each slice took
    /// nearly the whole file's time (its collection is most of it), so cutting does not pay and
    /// it stays whole; slices that took half each are cut again, and what a further slice
    /// repeats (measured at two) predicts three.
    #[test]
    fn measured_slices_decide_whether_cutting_pays() {
        let items = ["a", "b", "c", "d", "e"];
        let mut known = vec![("a", 30.0), ("b", 1.0), ("c", 1.0), ("d", 1.0), ("e", 1.0)];
        known.extend([("a@1/2", 28.0), ("a@2/2", 28.0)]);
        let p = sliced(&items, &known, 2);
        assert!(p.iter().flatten().all(|i| !i.contains('@')), "{p:?}");
        known.truncate(5);
        known.extend([("a@1/2", 15.0), ("a@2/2", 15.5)]);
        // The longer measured slice first.
        assert_eq!(
            sliced(&items, &known, 2),
            [["a@2/2", "c", "e"], ["a@1/2", "b", "d"]]
        );
        // At four workers, three slices of about 10.2 s each (a further slice repeats a sixtieth)
        // against two of 15 s and 15.5 s.
        let p = sliced(&items, &known, 4);
        let cut: Vec<&String> = p.iter().flatten().filter(|i| i.contains('@')).collect();
        assert!(cut.len() >= 3, "{p:?}");
    }

    #[test]
    fn an_item_longer_than_a_workers_share_runs_in_slices() {
        let known = [("a", 30.0), ("b", 1.0), ("c", 1.0), ("d", 1.0), ("e", 1.0)];
        let items = ["a", "b", "c", "d", "e"];
        // 34 s for 2 workers: a (30 s) alone would take 30 s; two slices of 16.5 s (each
        // repeats a tenth of it) and the rest make 18.5 s a part.
        assert_eq!(
            sliced(&items, &known, 2),
            [["a@1/2", "b", "d"], ["a@2/2", "c", "e"]]
        );
        // One slice per part at most: three workers, three slices.
        let p = sliced(&items, &known, 3);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            p.iter()
                .all(|part| part.iter().filter(|i| i.starts_with("a@")).count() == 1)
        );
        // A command that cannot run a slice, or one worker: the item stays whole.
        assert_eq!(
            parts_of(&items, None, &known, 2),
            [vec!["a"], vec!["b", "c", "d", "e"]]
        );
        assert_eq!(sliced(&items, &known, 1), [["a", "b", "c", "d", "e"]]);
        // Guesses are not cut: with no history every item is whole.
        assert!(
            sliced(&items, &[], 2)
                .iter()
                .flatten()
                .all(|i| !i.contains('@'))
        );
    }

    /// The search stays small whatever the batch: at most the eight longest items are cut, in
    /// at most two slices per worker (16 here), and no part gets two slices of one item.
    #[test]
    fn slicing_considers_a_bounded_number_of_items_and_slices() {
        let names: Vec<String> = (0..300).map(|i| format!("t{i}")).collect();
        let known: Vec<(&str, f64)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), if i < 12 { 1000.0 } else { 0.1 }))
            .collect();
        let s = sliceable(
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
            Some(200),
        );
        // Twelve items of 1000 s on 8 workers: whole, they take 2000 s; some must be cut.
        let parts = split_known(&s, &known, 8, Path::new("/nonexistent"));
        let mut cut = std::collections::BTreeSet::new();
        for p in &parts {
            let mine: Vec<&str> = (0..p.items.len())
                .filter(|&i| p.slice(i).is_some())
                .map(|i| p.items[i].0.as_str())
                .collect();
            let distinct: std::collections::BTreeSet<&str> = mine.iter().copied().collect();
            assert_eq!(distinct.len(), mine.len(), "{mine:?}");
            for i in 0..p.items.len() {
                if let Some(sl) = p.slice(i) {
                    assert!(sl.count <= 16, "{sl:?}");
                    cut.insert(p.items[i].0.clone());
                }
            }
        }
        assert!(!cut.is_empty() && cut.len() <= MAX_CUT_ITEMS, "{cut:?}");
        assert!(parts.len() <= 200);
    }

    /// Slicing that would not shorten the batch is not done: two slices of a and b whole make
    /// three pieces of about 6 s for two workers, longer than a whole.
    #[test]
    fn an_item_is_not_sliced_when_that_does_not_pay() {
        let known = [("a", 11.3), ("b", 5.6)];
        assert_eq!(sliced(&["a", "b"], &known, 2), [["a"], ["b"]]);
        // Items shorter than an even share are never cut.
        let even = [("a", 10.0), ("b", 10.0), ("c", 10.0)];
        assert!(
            sliced(&["a", "b", "c"], &even, 2)
                .iter()
                .flatten()
                .all(|i| !i.contains('@'))
        );
    }

    #[test]
    fn long_parts_of_known_files_are_split_in_two_per_worker() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.py", "b.py", "c.py", "d.py", "e.py"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let count = |items: &[&str], known: &[(&str, f64)], in_dir: &Path| {
            parts_in(items, None, known, 2, in_dir).len()
        };
        let files = ["a.py", "b.py", "c.py", "d.py", "e.py"];
        let long = [
            ("a.py", 9.0),
            ("b.py", 8.0),
            ("c.py", 7.0),
            ("d.py", 6.0),
            ("e.py", 5.0),
        ];
        // 35 s of known work for 2 workers: 17.5 s a part, 35 times the assumed 0.5 s cost.
        assert_eq!(count(&files, &long, dir.path()), 4);
        // Short work, or items that are not files: one part per worker.
        let short = long.map(|(f, d)| (f, d / 10.0));
        assert_eq!(count(&files, &short, dir.path()), 2);
        assert_eq!(count(&files, &long, Path::new("/nonexistent")), 2);
    }

    /// A batch's fixed cost per process is what the latest runs recorded (`unit[]`); parts of
    /// an earlier, wider split (`unit[3]`, never run since) say nothing about it.
    #[test]
    fn the_fixed_cost_is_the_recorded_one() {
        let past = |n: &str| match n {
            "unit[]" => Some(0.5),
            "unit[1]" => Some(4.0),
            "unit[2]" | "unit[3]" => Some(30.0),
            _ => None,
        };
        let older = |n: &str| past(n).filter(|_| n != "unit[]");
        let w = |_: Option<&str>| 2;
        let item = |_: &str, _: &str| None;
        let cost = |expected: &dyn Fn(&str) -> Option<f64>| {
            let failed = |_: &str, _: &str| false;
            let facts = Facts {
                workers: &w,
                expected,
                item_expected: &item,
                item_failed: &failed,
                rerun: None,
                tests: &[],
            };
            learned_overhead("unit", &[3.0, 3.0], &facts).unwrap_or(-1.0)
        };
        assert!((cost(&past) - 0.5).abs() < 1e-9);
        // A history from before it was recorded: the parts' mean less the items' share.
        let from_parts = cost(&older);
        assert!(
            (from_parts - (64.0 / 3.0 - 2.0)).abs() < 1e-9,
            "{from_parts}"
        );
        // Nothing recorded: nothing learned.
        assert!((cost(&|_: &str| None) + 1.0).abs() < 1e-9);
    }

    #[test]
    fn longest_first_into_the_earliest_ending_part() {
        let known = [("a", 5.0), ("b", 4.0), ("c", 3.0), ("d", 3.0), ("e", 1.0)];
        let p = parts_of(&["a", "b", "c", "d", "e"], None, &known, 2);
        // a(5) -> 1; b(4) -> 2; c(3) -> 2 (7); d(3) -> 1 (8); e(1) -> 2 (8).
        assert_eq!(p, vec![vec!["a", "d"], vec!["b", "c", "e"]]);
    }

    #[test]
    fn unknown_items_count_as_the_median() {
        let known = [("a", 10.0), ("b", 1.0), ("c", 2.0)];
        // d has no history: it counts as 2 (the median of 10, 1 and 2).
        let p = parts_of(&["a", "b", "c", "d"], Some(2), &known, 2);
        assert_eq!(p, vec![vec!["a"], vec!["b", "c", "d"]]);
    }

    #[test]
    fn items_that_took_no_time_are_spread_over_the_parts() {
        let known = [
            ("a", 4.0),
            ("b", 4.0),
            ("c", 0.0),
            ("d", 0.0),
            ("e", 0.0),
            ("f", 0.0),
        ];
        let p = parts_of(&["a", "b", "c", "d", "e", "f"], None, &known, 2);
        assert_eq!(p, vec![vec!["a", "c", "e"], vec!["b", "d", "f"]]);
    }

    #[test]
    fn counts_capped_by_items_and_deterministic() {
        assert_eq!(parts_of(&["a", "b"], Some(5), &[], 2).len(), 2);
        assert_eq!(
            parts_of(&["a", "b", "c", "d", "e"], Some(3), &[], 8).len(),
            3
        );
        assert!(parts_of(&[], None, &[], 2).is_empty());
        let items: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        assert_eq!(parts_of(&refs, None, &[], 3), parts_of(&refs, None, &[], 3));
        // No history: twice the workers, so that guesses can even out.
        assert_eq!(parts_of(&refs, None, &[], 3).len(), 6);
    }

    #[test]
    fn items_in_commands() {
        let part = BatchPart {
            batch: "u".into(),
            index: 1,
            count: 1,
            items: vec![("a b.py".into(), 1.0), ("c.py".into(), 1.0)],
            source: ItemSource::Equal,
            overhead: 0.0,
            template: CommandLine::Argv(vec![
                "pytest".into(),
                "{items}".into(),
                "--x={items}".into(),
            ]),
            results: None,
            slices: Vec::new(),
            slice_template: None,
            tests: Vec::new(),
            test_template: None,
            list: None,
            warm: None,
            test_timeout: None,
            test_slow: crate::plan::decl::TEST_SLOW,
            skip_test: None,
        };
        assert_eq!(
            part.full_command(),
            CommandLine::Argv(vec![
                "pytest".into(),
                "a b.py".into(),
                "c.py".into(),
                "--x='a b.py' c.py".into()
            ])
        );
        let shell = BatchPart {
            template: CommandLine::Shell("pytest {items} -q".into()),
            ..part
        };
        assert_eq!(
            shell.command(
                ["it's".to_owned(), "x".to_owned()]
                    .iter()
                    .map(String::as_str)
            ),
            CommandLine::Shell("pytest 'it'\\''s' x -q".into())
        );
    }

    #[test]
    fn shrinking_sizes_halve_an_even_share_of_what_remains_down_to_ten_fixed_costs() {
        let sizes = shrinking_sizes(100.0, 2, 0.5);
        assert!((sizes[0] - 25.0).abs() < 1e-9, "{sizes:?}");
        assert!((sizes[1] - 18.75).abs() < 1e-9, "{sizes:?}");
        assert!(
            sizes.windows(2).all(|w| w[0] >= w[1]),
            "largest first: {sizes:?}"
        );
        assert!(
            (sizes.iter().sum::<f64>() - 100.0).abs() < 1e-9,
            "{sizes:?}"
        );
        assert!(
            sizes[..sizes.len() - 1].iter().all(|&s| s >= 5.0),
            "none below ten fixed costs: {sizes:?}"
        );
        // A large fixed cost leaves few parts; a tiny one is taken as a tenth of a second.
        assert_eq!(
            shrinking_sizes(100.0, 2, 8.0),
            [100.0],
            "a rest under half a floor joins"
        );
        assert_eq!(shrinking_sizes(100.0, 2, 4.0), [40.0, 40.0, 20.0]);
        assert_eq!(shrinking_sizes(10.0, 2, 0.0).len(), 7);
        assert!(shrinking_sizes(1e9, 2, 0.001).len() <= MAX_SHRINKING_PARTS);
        assert_eq!(
            shrinking_sizes(3.0, 4, 1.0),
            [3.0],
            "less than a part's floor: one part"
        );
    }

    #[test]
    fn shrinking_pays_only_when_its_small_last_parts_save_more_than_its_starts_cost() {
        // Three parts of about 40 s (ten fixed costs of 4 s each) on two workers: one worker
        // runs two of them while the other idles; two even parts end sooner.
        assert!(!shrinking_pays(
            &[44.3, 44.3, 58.4],
            &[71.0, 71.0],
            2,
            PART_NOISE
        ));
        // Many parts with a start of a fifth of a second: the last ones are small, and a part
        // 20 % over its history leaves less of a tail than a quarter of the work does.
        let shrunk = [
            25.2, 19.0, 14.3, 10.7, 8.1, 6.1, 4.6, 3.5, 2.6, 2.2, 2.2, 2.2, 2.2,
        ];
        assert!(shrinking_pays(&shrunk, &[25.2; 4], 2, PART_NOISE));
        // sympy's first run (file sizes, a fork's start of 0.3 s): with history's noise the
        // extra starts would cost more than the small last parts save; parts of guessed items
        // are further off, and there they save more.
        let shrunk = [8.41, 6.36, 4.85, 3.71, 3.30, 3.29, 4.55];
        let even = [8.41, 8.39, 8.39, 8.39];
        assert!(!shrinking_pays(&shrunk, &even, 2, PART_NOISE));
        assert!(shrinking_pays(&shrunk, &even, 2, GUESS_NOISE));
        // Equal plans: no reason to start more processes.
        assert!(!shrinking_pays(&[30.0, 30.0], &[30.0, 30.0], 2, PART_NOISE));
        // 10 on one worker, 6 then 5 on the other: 10 + 2 against 11 + 1.
        assert!((noisy_makespan(&[10.0, 6.0, 5.0], 2, PART_NOISE) - 12.0).abs() < 1e-9);
        // 8 then 5 end at 13, and the 5 s part may overrun by 1.
        assert!((noisy_makespan(&[10.0, 8.0, 5.0], 2, PART_NOISE) - 14.0).abs() < 1e-9);
        assert!((noisy_makespan(&[], 2, PART_NOISE)).abs() < 1e-9);
    }

    #[test]
    fn a_warm_batch_whose_parts_cost_seconds_to_start_runs_in_even_parts() {
        // As sympy's tests with history: a 43 s file among 130 s of work on two workers, and a
        // fixed cost of 4 s per part (its conftest sets a flag before its imports, so the
        // zygote imports none of the package): shrinking would cut three parts of at least
        // 40 s, and one worker would run two of them.
        let mut durations = vec![42.7, 20.4, 8.6, 6.3, 5.4, 3.7, 2.1];
        durations.extend(std::iter::repeat_n(1.0, 40));
        let total: f64 = durations.iter().sum();
        assert_eq!(shrinking_sizes(total, 2, 4.03).len(), 3);
        let parts = warm_parts(&durations, 2, 4.03);
        assert_eq!(parts.len(), 2, "two even parts, not three shrinking ones");
        let work: Vec<f64> = parts
            .iter()
            .map(|p| p.items.iter().map(|(_, d)| d).sum())
            .collect();
        assert!((work[0] - work[1]).abs() < 1.5, "{work:?}");
        // The same work with a fork's fixed cost still shrinks.
        assert!(warm_parts(&durations, 2, 0.1).len() > 4);
    }

    fn warm_parts(durations: &[f64], workers: u32, fixed: f64) -> Vec<BatchPart> {
        let names: Vec<String> = (0..durations.len()).map(|i| format!("t{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut s = decl(&refs, None);
        s.batch.as_mut().unwrap().warm = Some(CommandLine::Argv(vec!["z".into()]));
        let w = move |_: Option<&str>| workers;
        let expected = move |k: &str| (k == "unit[]").then_some(fixed);
        let item = |_: &str, i: &str| names.iter().position(|n| n == i).map(|k| durations[k]);
        let failed = |_: &str, _: &str| false;
        let facts = Facts {
            workers: &w,
            expected: &expected,
            item_expected: &item,
            item_failed: &failed,
            rerun: None,
            tests: &[],
        };
        split(
            &s,
            s.batch.as_ref().unwrap(),
            Path::new("/nonexistent"),
            &facts,
        )
    }

    #[test]
    fn a_warm_batch_with_history_runs_in_parts_that_shrink_toward_the_end() {
        // 40 items of 1 to 4 s (100 s), 2 workers, a fork's fixed cost of 0.2 s.
        let durations: Vec<f64> = (0..40).map(|i| f64::from(1 + i % 4)).collect();
        let parts = warm_parts(&durations, 2, 0.2);
        assert!(
            parts.len() > 4,
            "more parts than two per worker: {}",
            parts.len()
        );
        let work: Vec<f64> = parts
            .iter()
            .map(|p| p.items.iter().map(|(_, d)| d).sum())
            .collect();
        assert!(work[0] >= 24.0 && work[0] <= 26.0, "{work:?}");
        assert!(
            work.windows(2).all(|w| w[0] + 1.0 >= w[1]),
            "largest first, shrinking: {work:?}"
        );
        assert!(
            work[..work.len() - 1].iter().all(|&w| w >= 2.0 - 1e-9),
            "none below ten fixed costs: {work:?}"
        );
        let mut all: Vec<String> = parts
            .iter()
            .flat_map(|p| p.items.iter().map(|(i, _)| i.clone()))
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 40, "every item once");
        assert_eq!(parts[0].count as usize, parts.len());
        // The same without `warm`: as before.
        let names: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let known: Vec<(&str, f64)> = refs
            .iter()
            .copied()
            .zip(durations.iter().copied())
            .collect();
        let before = parts_of(&refs, None, &known, 2).len();
        assert!(before < parts.len(), "{before}");
        // A large fixed cost (a cold start): no more parts than before.
        assert_eq!(warm_parts(&durations, 2, 8.0).len(), before);
    }

    /// A first run (no history at all): a warm batch shrinks its parts from the files' sizes
    /// and a fork's usual start ([`WARM_PART_SECS`]); without `warm`, or with items that are
    /// not files (nothing to size them by), two even parts per worker as before.
    #[test]
    fn a_warm_batch_shrinks_its_parts_on_a_first_run_from_the_files_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (1..=16).map(|i| format!("t{i:02}.py")).collect();
        for (i, n) in names.iter().enumerate() {
            // 40 KB to 640 KB: 1 to 16 s each at SECS_PER_BYTE, 136 s in all.
            std::fs::write(dir.path().join(n), vec![b'#'; (i + 1) * 40_000]).unwrap();
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut s = decl(&refs, None);
        let cold = split_known(&s, &[], 2, dir.path());
        assert_eq!(cold.len(), 4);
        assert!(cold.iter().all(|p| p.overhead == 0.0));
        s.batch.as_mut().unwrap().warm = Some(CommandLine::Argv(vec!["z".into()]));
        let warm = split_known(&s, &[], 2, dir.path());
        assert!(warm.len() > 4, "{}", warm.len());
        assert!(warm.iter().all(|p| p.source == ItemSource::FileSize));
        assert!(warm.iter().all(|p| p.overhead == WARM_PART_SECS));
        let mut work: Vec<f64> = warm
            .iter()
            .map(|p| p.items.iter().map(|(_, d)| d).sum())
            .collect();
        work.sort_by(|x, y| y.total_cmp(x));
        assert!(work[0] >= 30.0 && work[0] <= 40.0, "{work:?}");
        assert!(work[work.len() - 1] < 5.0, "small last parts: {work:?}");
        // Sized by `shrinking_sizes` (none below ten fixed costs of a fork but the last); the
        // files fill them as they fit.
        let sizes = shrinking_sizes(136.0, 2, WARM_PART_SECS);
        assert!((sizes[0] - 34.0).abs() < 1e-9, "{sizes:?}");
        assert_eq!(warm.len(), sizes.len());
        // Not files: every item "one second", no scale to size parts by.
        let equal = split_known(&s, &[], 2, Path::new("/nonexistent"));
        assert_eq!(equal.len(), 4);
    }

    /// `--test`: each item's named tests by the batch's `test` template (the longest item that
    /// fits, `./` dropped); an item named whole, or named by no test, runs whole; tests
    /// `--rerun-failed` kept stay when they are among the named ones.
    #[test]
    fn named_tests_become_each_items_only_tests() {
        let mut s = decl(&["a.py", "a.py::x", "b.py", "c.py", "d.py"], None);
        let b = s.batch.as_mut().unwrap();
        b.test = Some("{item}::{test}".into());
        b.only_tests.insert(
            "d.py".into(),
            vec!["TestC.test_p[1]".into(), "other".into()],
        );
        let names: Vec<String> = [
            "./a.py::t1",
            "a.py::x::deep",
            "b.py::TestC::test_y[2]",
            "b.py",
            "c.py::k",
            "c.py::k",
            "d.py::TestC::test_p",
            "e.py::nowhere",
        ]
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
        narrow_to_named(b, &names);
        let mut got: Vec<(String, Vec<String>)> = b.only_tests.clone().into_iter().collect();
        got.sort();
        let want =
            |i: &str, t: &[&str]| (i.to_owned(), t.iter().map(|t| (*t).to_owned()).collect());
        assert_eq!(
            got,
            vec![
                want("a.py", &["t1"]),
                want("a.py::x", &["deep"]),
                want("c.py", &["k"]),
                want("d.py", &["TestC.test_p[1]"]),
            ]
        );
        // Without a `test` template nothing changes.
        let mut plain = decl(&["a.py"], None);
        let b = plain.batch.as_mut().unwrap();
        narrow_to_named(b, &names);
        assert!(b.only_tests.is_empty());
        assert!(below("TestC.test_p[1]", "TestC.test_p"));
        assert!(below("TestC.test_x", "TestC"));
        assert!(below("TestA/sub", "TestA"));
        assert!(!below("TestAB", "TestA"));
        assert!(!below("test_p2", "test_p"));
        assert!(!below("test_p[1.5]", "test_p[1"));
    }
}
