//! DESIGN §10, static shards: which of N shards runs each unit of work, and how many shards a
//! run needs. Pure and deterministic: a model of costs in, an assignment out; no plan, history
//! or I/O here (`units.rs` makes the model from a plan). The same model and N give the same
//! split on every machine, bit for bit: every sum is taken in one fixed order.
//!
//! The model of one shard's time: its phases run one after another (each is a barrier on the
//! shard), and a phase takes the longer of its work spread over the shard's workers and its
//! longest unit's own span. What every shard runs (`always` phases) and the fixed cost of each
//! process a shard starts for a batch's items count on every shard that pays them.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The most shards ptest plans: a GitHub Actions matrix runs at most 256 jobs.
pub(crate) const MAX_SHARDS: u32 = 256;

/// What a unit costs in one phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Load {
    /// Index into [`Model::workers`].
    pub phase: usize,
    /// Worker-seconds: expected durations times the worker slots held.
    pub work: f64,
    /// The least time it takes however many workers there are: its longest chain of
    /// dependencies, or a `max = 1` group's members one after another.
    pub span: f64,
}

/// A set of work that runs whole on one shard.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Unit {
    /// Usually one; a chain of dependencies may cross phases.
    pub loads: Vec<Load>,
    /// One item of this batch (index into [`Model::batches`]): the shard that runs it starts
    /// a process for it, which costs the batch's fixed cost.
    pub batch: Option<usize>,
}

/// A batch whose items are spread over the shards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BatchCost {
    pub phase: usize,
    /// Seconds one of its processes costs besides its items (`BATCH[]` in history).
    pub fixed: f64,
}

/// Everything the split knows.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Model {
    /// Each phase's worker count on one shard.
    pub workers: Vec<u32>,
    pub units: Vec<Unit>,
    pub batches: Vec<BatchCost>,
    /// What every shard runs (suites of `always` phases).
    pub everywhere: Vec<Load>,
}

/// Which shard runs each unit, and each shard's expected time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Split {
    /// For each unit of the model, its shard (0-based).
    pub shard_of: Vec<u32>,
    /// Each shard's expected time in seconds.
    pub expected: Vec<f64>,
}

impl Split {
    pub(crate) fn total(&self) -> u32 {
        self.expected.len() as u32
    }

    /// The units of shard `k` (0-based), in the model's order.
    pub(crate) fn units_on(&self, k: u32) -> impl Iterator<Item = usize> + '_ {
        (0..self.shard_of.len()).filter(move |&u| self.shard_of[u] == k)
    }

    /// The slowest shard's expected time.
    pub(crate) fn slowest(&self) -> f64 {
        self.expected.iter().copied().fold(0.0, f64::max)
    }

    pub(crate) fn mean(&self) -> f64 {
        if self.expected.is_empty() {
            return 0.0;
        }
        self.expected.iter().sum::<f64>() / self.expected.len() as f64
    }
}

/// One shard's running totals per phase.
#[derive(Debug, Clone)]
struct Tally {
    work: Vec<f64>,
    span: Vec<f64>,
    /// How many items of each batch it holds.
    items: Vec<u32>,
}

impl Tally {
    /// A shard with nothing but what every shard runs.
    fn base(m: &Model) -> Tally {
        let mut t = Tally {
            work: vec![0.0; m.workers.len()],
            span: vec![0.0; m.workers.len()],
            items: vec![0; m.batches.len()],
        };
        for l in &m.everywhere {
            t.work[l.phase] += l.work;
            t.span[l.phase] = t.span[l.phase].max(l.span);
        }
        t
    }

    /// What `u` adds to phase `p`'s work and span here: a batch's item pays the process's
    /// fixed cost in its span, and in the work while the shard has fewer of the batch's items
    /// than workers (each of those starts a process of its own).
    fn delta(&self, m: &Model, u: &Unit, p: usize) -> (f64, f64) {
        let mut work = 0.0;
        let mut span = 0.0_f64;
        let fixed = u.batch.map_or(0.0, |b| m.batches[b].fixed);
        for l in u.loads.iter().filter(|l| l.phase == p) {
            work += l.work;
            span = span.max(l.span + fixed);
        }
        if let Some(b) = u.batch {
            let cost = m.batches[b];
            if cost.phase == p && self.items[b] < m.workers[p].max(1) {
                work += cost.fixed;
            }
        }
        (work, span)
    }

    /// The shard's expected time with `u` added (`None`: as it is), and the part of it that
    /// is work spread over workers alone (what breaks ties: the shard with more room left).
    fn time_with(&self, m: &Model, u: Option<&Unit>) -> (f64, f64) {
        let mut total = 0.0;
        let mut spread = 0.0;
        for p in 0..self.work.len() {
            let (dw, ds) = u.map_or((0.0, 0.0), |u| self.delta(m, u, p));
            let work = (self.work[p] + dw) / f64::from(m.workers[p].max(1));
            total += work.max(self.span[p].max(ds));
            spread += work;
        }
        (total, spread)
    }

    fn add(&mut self, m: &Model, u: &Unit) {
        for p in 0..self.work.len() {
            let (dw, ds) = self.delta(m, u, p);
            self.work[p] += dw;
            self.span[p] = self.span[p].max(ds);
        }
        if let Some(b) = u.batch {
            self.items[b] += 1;
        }
    }
}

/// A shard's expected time and its index, ordered by time, then index.
#[derive(Debug, Clone, Copy)]
struct Ends(f64, usize);

impl PartialEq for Ends {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ends {}

impl PartialOrd for Ends {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ends {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// What a unit alone takes on one shard with nothing else: the order of the split.
pub(crate) fn unit_time(m: &Model, u: &Unit) -> f64 {
    let empty = Tally {
        work: vec![0.0; m.workers.len()],
        span: vec![0.0; m.workers.len()],
        items: vec![0; m.batches.len()],
    };
    empty.time_with(m, Some(u)).0
}

/// Where a unit would end: the shard's time with it, its spread work, the shard's index. The
/// least wins.
fn better(a: (f64, f64, usize), b: (f64, f64, usize)) -> bool {
    a.0.total_cmp(&b.0)
        .then(a.1.total_cmp(&b.1))
        .then(a.2.cmp(&b.2))
        .is_lt()
}

/// LPT over the units: the largest first (the model's order breaks ties), each onto the shard
/// whose expected time ends lowest with it; on a tie, the one whose work leaves more room
/// (a unit's span may hide it), then the lowest index. `n` is at least 1.
pub(crate) fn split(m: &Model, n: u32) -> Split {
    let n = n.max(1) as usize;
    let base = Tally::base(m);
    let base_time = base.time_with(m, None).0;
    let mut tallies = vec![base; n];
    let mut times = vec![base_time; n];
    let sizes: Vec<f64> = m.units.iter().map(|u| unit_time(m, u)).collect();
    let mut order: Vec<usize> = (0..m.units.len()).collect();
    order.sort_by(|&x, &y| sizes[y].total_cmp(&sizes[x]).then(x.cmp(&y)));
    let mut shard_of = vec![0_u32; m.units.len()];
    // Shards by expected time, lowest on top. Adding never shortens a shard, so once a shard's
    // time is past the best end found, none after it can do better.
    let mut soonest: BinaryHeap<Reverse<Ends>> =
        (0..n).map(|k| Reverse(Ends(base_time, k))).collect();
    let mut looked = Vec::new();
    for u in order {
        let unit = &m.units[u];
        let mut best: Option<(f64, f64, usize)> = None;
        while let Some(Reverse(Ends(t, k))) = soonest.pop() {
            if best.is_some_and(|b| t > b.0) {
                soonest.push(Reverse(Ends(t, k)));
                break;
            }
            looked.push(k);
            let (after, spread) = tallies[k].time_with(m, Some(unit));
            if best.is_none_or(|b| better((after, spread, k), b)) {
                best = Some((after, spread, k));
            }
        }
        let Some((after, _, k)) = best else {
            continue;
        };
        tallies[k].add(m, unit);
        times[k] = after;
        shard_of[u] = k as u32;
        for j in looked.drain(..) {
            soonest.push(Reverse(Ends(times[j], j)));
        }
    }
    Split {
        shard_of,
        expected: times,
    }
}

/// No split into `n` shards has its slowest shard below this: the larger of the units' work
/// spread evenly (with what every shard runs) and the unit that takes longest on its own
/// shard.
pub(crate) fn lower_bound(m: &Model, n: u32) -> f64 {
    let mut even = Tally::base(m);
    for l in m.units.iter().flat_map(|u| &u.loads) {
        even.work[l.phase] += l.work / f64::from(n.max(1));
    }
    even.time_with(m, None).0.max(floor(m))
}

/// The least any shard can take however many there are: the unit that takes longest with
/// what every shard runs.
fn floor(m: &Model) -> f64 {
    let base = Tally::base(m);
    m.units
        .iter()
        .map(|u| base.time_with(m, Some(u)).0)
        .fold(base.time_with(m, None).0, f64::max)
}

/// One shard count considered by [`choose`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub shards: u32,
    /// The slowest shard's expected time.
    pub slowest: f64,
    /// `slowest` plus what starting a machine costs.
    pub wall: f64,
}

/// `--shards auto`'s answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Choice {
    pub shards: u32,
    /// Whether its wall time meets the target.
    pub met: bool,
    /// Every count considered, from 1 up.
    pub candidates: Vec<Candidate>,
}

/// The most shards worth considering: one per unit, at most [`MAX_SHARDS`], at least 1.
pub(crate) fn most_shards(m: &Model) -> u32 {
    (m.units.len() as u32).clamp(1, MAX_SHARDS)
}

/// The fewest shards whose predicted wall time (the slowest shard plus `node_overhead`) meets
/// `target`; when none does, the count with the least predicted wall time (the fewer shards
/// on a tie). Counts go up from 1 and stop at the first that meets the target, or once the
/// slowest shard is as short as any split can make it (more shards cannot do better).
pub(crate) fn choose(m: &Model, target: f64, node_overhead: f64) -> Choice {
    let least = floor(m);
    let mut candidates = Vec::new();
    for n in 1..=most_shards(m) {
        let slowest = split(m, n).slowest();
        let c = Candidate {
            shards: n,
            slowest,
            wall: slowest + node_overhead,
        };
        candidates.push(c);
        if c.wall <= target {
            return Choice {
                shards: n,
                met: true,
                candidates,
            };
        }
        if slowest <= least {
            break;
        }
    }
    let best = candidates
        .iter()
        .min_by(|a, b| a.wall.total_cmp(&b.wall).then(a.shards.cmp(&b.shards)))
        .map_or(1, |c| c.shards);
    Choice {
        shards: best,
        met: false,
        candidates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One phase of `workers`, a unit per duration (work and span both the duration).
    fn flat(workers: u32, secs: &[f64]) -> Model {
        Model {
            workers: vec![workers],
            units: secs
                .iter()
                .map(|&s| Unit {
                    loads: vec![Load {
                        phase: 0,
                        work: s,
                        span: s,
                    }],
                    batch: None,
                })
                .collect(),
            batches: Vec::new(),
            everywhere: Vec::new(),
        }
    }

    fn shards(s: &Split) -> Vec<Vec<usize>> {
        (0..s.total()).map(|k| s.units_on(k).collect()).collect()
    }

    #[test]
    fn longest_first_onto_the_shard_that_ends_first() {
        // 5 -> 1; 4 -> 2; 3 -> 2 (7); 3 -> 1 (8); 1 -> 2 (8).
        let s = split(&flat(1, &[5.0, 4.0, 3.0, 3.0, 1.0]), 2);
        assert_eq!(shards(&s), [vec![0, 3], vec![1, 2, 4]]);
        assert_eq!(s.expected, [8.0, 8.0]);
        // Declaration order breaks ties between equal units, the lower shard between shards.
        let s = split(&flat(1, &[2.0, 2.0, 2.0]), 2);
        assert_eq!(shards(&s), [vec![0, 2], vec![1]]);
    }

    #[test]
    fn a_shard_spreads_its_work_over_its_workers_but_not_a_units_span() {
        // Four workers a shard: 8 s of work takes 2 s, unless one unit alone takes longer.
        let s = split(&flat(4, &[2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]), 2);
        assert_eq!(s.expected, [2.0, 2.0]);
        let mut m = flat(4, &[1.0, 1.0, 1.0, 1.0]);
        m.units[0].loads[0].span = 6.0;
        let s = split(&m, 2);
        // The chain of 6 s takes 6 s wherever it goes; the rest goes to the other shard.
        assert_eq!(shards(&s), [vec![0], vec![1, 2, 3]]);
        assert_eq!(s.expected, [6.0, 1.0]);
    }

    #[test]
    fn phases_add_up_on_each_shard_and_always_phases_count_everywhere() {
        let unit = |phase, secs| Unit {
            loads: vec![Load {
                phase,
                work: secs,
                span: secs,
            }],
            batch: None,
        };
        let m = Model {
            workers: vec![1, 1, 1],
            units: vec![unit(0, 4.0), unit(1, 4.0), unit(0, 1.0), unit(1, 1.0)],
            batches: Vec::new(),
            everywhere: vec![Load {
                phase: 2,
                work: 0.5,
                span: 0.5,
            }],
        };
        let s = split(&m, 2);
        // Each shard runs its part of phase 0, then of phase 1, then the teardown.
        assert_eq!(shards(&s), [vec![0, 2], vec![1, 3]]);
        assert_eq!(s.expected, [5.5, 5.5]);
        assert!((lower_bound(&m, 2) - 5.5).abs() < 1e-12);
    }

    #[test]
    fn a_batchs_items_pay_its_fixed_cost_on_each_shard_that_runs_them() {
        let item = |secs| Unit {
            loads: vec![Load {
                phase: 0,
                work: secs,
                span: secs,
            }],
            batch: Some(0),
        };
        let m = Model {
            workers: vec![2],
            units: vec![item(3.0), item(3.0), item(1.0), item(1.0), item(1.0)],
            batches: vec![BatchCost {
                phase: 0,
                fixed: 1.0,
            }],
            everywhere: Vec::new(),
        };
        let s = split(&m, 2);
        // An item's span is its own time plus its process's cost: 4 s for the long ones,
        // which go one to a shard. A shard's first two items (one per worker) each start a
        // process; the last short one goes where the work leaves more room (a tie here).
        assert_eq!(shards(&s), [vec![0, 2, 4], vec![1, 3]]);
        assert_eq!(s.expected, [4.0, 4.0]);
        // Alone, the 3 s item takes 4 s with its process's cost: no split does better.
        assert!((floor(&m) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn more_shards_than_units_leaves_shards_empty_and_auto_never_picks_them() {
        let m = flat(1, &[3.0, 2.0]);
        let s = split(&m, 4);
        assert_eq!(shards(&s), [vec![0], vec![1], vec![], vec![]]);
        assert_eq!(most_shards(&m), 2);
        let c = choose(&m, 0.1, 0.0);
        assert_eq!((c.shards, c.met), (2, false));
        assert_eq!(most_shards(&flat(1, &[])), 1);
        assert_eq!(split(&flat(1, &[]), 3).expected, [0.0, 0.0, 0.0]);
    }

    #[test]
    fn auto_takes_the_fewest_shards_that_meet_the_target() {
        let m = flat(1, &[10.0; 12]);
        // 120 s of work: 4 shards take 30 s, 5 take 30 s too (12 over 5 is 3 units for some).
        let c = choose(&m, 31.0, 0.0);
        assert_eq!((c.shards, c.met), (4, true));
        let walls: Vec<f64> = c.candidates.iter().map(|c| c.wall).collect();
        assert_eq!(walls, [120.0, 60.0, 40.0, 30.0]);
        // A machine's start counts: 30 s more, 6 shards (20 + 30).
        let c = choose(&m, 51.0, 30.0);
        assert_eq!((c.shards, c.met), (6, true));
        // Unreachable: the least wall, found once no split can be shorter (12 shards).
        let c = choose(&m, 5.0, 1.0);
        assert_eq!((c.shards, c.met), (12, false));
        assert_eq!(c.candidates.len(), 12);
    }

    /// 200 durations spread as the W2 benchmark's (lognormal, σ 0.9, 60 s in all, each
    /// between 0.05 s and 2 s), from a fixed seed.
    fn w2_like() -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(7);
        let raw: Vec<f64> = (0..200)
            .map(|_| {
                // Box-Muller.
                let (u, v) = (1.0 - rng.f64(), rng.f64());
                let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                (0.9 * z).exp()
            })
            .collect();
        let scale = 60.0 / raw.iter().sum::<f64>();
        raw.iter().map(|r| (r * scale).clamp(0.05, 2.0)).collect()
    }

    #[test]
    fn a_w2_like_spread_plans_within_two_percent_of_even() {
        let secs = w2_like();
        for workers in [1, 2, 4] {
            for n in [4, 8] {
                let s = split(&flat(workers, &secs), n);
                let ratio = s.slowest() / s.mean();
                assert!(ratio <= 1.02, "-j{workers} {n} shards: {ratio}");
            }
        }
    }

    fn model() -> impl Strategy<Value = Model> {
        (1u32..5, 1usize..4, 0usize..3).prop_flat_map(|(workers, phases, batches)| {
            let load =
                (0..phases, 0.0f64..20.0, 0.0f64..1.5).prop_map(|(phase, work, extra)| Load {
                    phase,
                    work,
                    span: work * extra,
                });
            let unit = (
                proptest::collection::vec(load, 1..3),
                proptest::option::weighted(0.4, 0..batches.max(1)),
            );
            let batch =
                (0..phases, 0.0f64..2.0).prop_map(|(phase, fixed)| BatchCost { phase, fixed });
            (
                proptest::collection::vec(unit, 0..40),
                proptest::collection::vec(batch, batches..=batches),
                proptest::collection::vec(1u32..=workers, phases..=phases),
            )
                .prop_map(move |(units, batches_, ws)| Model {
                    units: units
                        .into_iter()
                        .map(|(mut loads, b)| {
                            let batch = b.filter(|_| !batches_.is_empty());
                            if let Some(b) = batch {
                                // A batch's item runs in the batch's phase.
                                loads.truncate(1);
                                loads[0].phase = batches_[b].phase;
                            }
                            Unit { loads, batch }
                        })
                        .collect(),
                    batches: batches_.clone(),
                    everywhere: (0..ws.len())
                        .step_by(2)
                        .map(|p| Load {
                            phase: p,
                            work: 1.5,
                            span: 1.0 + p as f64,
                        })
                        .collect(),
                    workers: ws,
                })
        })
    }

    proptest! {
        #[test]
        fn every_unit_once_with_each_shards_time_its_own(m in model(), n in 1u32..7) {
            let s = split(&m, n);
            prop_assert_eq!(s.shard_of.len(), m.units.len());
            prop_assert!(s.shard_of.iter().all(|&k| k < n));
            // Each shard's figure is what its units cost, added in any order.
            for k in 0..n {
                let mut t = Tally::base(&m);
                for u in s.units_on(k).collect::<Vec<_>>().into_iter().rev() {
                    t.add(&m, &m.units[u]);
                }
                let again = t.time_with(&m, None).0;
                prop_assert!((again - s.expected[k as usize]).abs() <= 1e-9 * again.max(1.0));
            }
            // Never under the bound.
            let lb = lower_bound(&m, n);
            prop_assert!(s.slowest() >= lb - 1e-9 * lb.max(1.0));
            prop_assert_eq!(split(&m, n), s);
        }

        #[test]
        fn one_phase_lpt_stays_within_a_unit_of_an_even_spread(
            secs in proptest::collection::vec(0.0f64..30.0, 0..60),
            workers in 1u32..4,
            n in 1u32..9,
        ) {
            let m = flat(workers, &secs);
            let s = split(&m, n);
            let even = secs.iter().sum::<f64>() / f64::from(n * workers);
            let largest = secs.iter().copied().fold(0.0, f64::max);
            prop_assert!(s.slowest() <= even + largest + 1e-9);
            prop_assert!(s.slowest() + 1e-9 >= even.max(largest));
        }

        #[test]
        fn auto_is_what_trying_every_count_picks(
            m in model(), target in 0.0f64..80.0, overhead in 0.0f64..5.0,
        ) {
            let c = choose(&m, target, overhead);
            let all: Vec<(u32, f64)> = (1..=most_shards(&m))
                .map(|n| (n, split(&m, n).slowest() + overhead))
                .collect();
            let brute = all
                .iter()
                .find(|(_, w)| *w <= target)
                .map_or_else(
                    || all.iter().min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0))).unwrap().0,
                    |(n, _)| *n,
                );
            prop_assert_eq!(c.shards, brute);
            prop_assert_eq!(c.met, all.iter().any(|(_, w)| *w <= target));
        }
    }
}
