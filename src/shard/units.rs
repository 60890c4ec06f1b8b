//! The units of a static split (DESIGN §10), made from the plan of the whole run: suites
//! linked by `depends_on`, a `max = 1` group's members and the parts of one batch stay
//! together; a batch that nothing links is spread item by item (each shard packs its items
//! into parts of its own). Suites of `always` phases run on every shard. Pure: it reads the
//! plan, nothing else, so every machine that builds the same plan finds the same units.

use std::collections::{HashMap, HashSet};

use super::split::{self, BatchCost, Load, Model, Split, Unit};
use crate::plan::{Plan, Share, SuiteId};

/// What a unit holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Member {
    Suite(SuiteId),
    /// One item of a spread batch (index into [`Units::batches`]).
    Item {
        batch: usize,
        item: String,
    },
}

/// The units of a run and what each holds.
#[derive(Debug, Clone)]
pub(crate) struct Units {
    pub model: Model,
    /// Each unit's members, in the plan's order.
    pub members: Vec<Vec<Member>>,
    /// The batches spread over the shards, by name (as `model.batches`).
    pub batches: Vec<String>,
    /// Suites of `always` phases: every shard runs them.
    pub everywhere: Vec<SuiteId>,
    /// Suites skipped before the run (disabled, `--skip`) with nothing to run linked to them:
    /// the first shard lists them, so that a merged report has each once.
    pub first: Vec<SuiteId>,
}

/// Union-find over suite indexes.
struct Links(Vec<usize>);

impl Links {
    fn root(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    /// Join two sets; the lower index becomes the root, so roots are each set's first suite.
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            let (lo, hi) = (a.min(b), a.max(b));
            self.0[hi] = lo;
        }
    }
}

/// The worker-seconds a suite takes: its expected duration times the slots it holds (a
/// `serial` suite holds the whole shard).
fn work(plan: &Plan, id: SuiteId) -> f64 {
    let s = plan.suite(id);
    let slots = if s.serial {
        plan.phase(s.phase).workers
    } else {
        s.slots
    };
    s.expected * f64::from(slots.max(1))
}

/// The units of `plan`.
pub(crate) fn units(plan: &Plan) -> Units {
    let n = plan.suites.len();
    let always = |id: SuiteId| plan.phase(plan.suite(id).phase).always;
    let mut links = Links((0..n).collect());
    let mut part_of: HashMap<&str, usize> = HashMap::new();
    for s in &plan.suites {
        if always(s.id) {
            continue;
        }
        for &d in &s.depends_on {
            if !always(d) {
                links.join(s.id.index(), d.index());
            }
        }
        if let Some(part) = &s.part {
            let first = *part_of.entry(part.batch.as_str()).or_insert(s.id.index());
            links.join(first, s.id.index());
        }
    }
    for g in plan.groups.iter().filter(|g| g.max == 1) {
        let mut members = g.members.iter().filter(|&&m| !always(m));
        if let Some(first) = members.next() {
            for m in members {
                links.join(first.index(), m.index());
            }
        }
    }
    // Each set's suites, in the plan's order, keyed by its first suite.
    let mut sets: Vec<Vec<SuiteId>> = vec![Vec::new(); n];
    let mut everywhere = Vec::new();
    for s in &plan.suites {
        if always(s.id) {
            everywhere.push(s.id);
        } else {
            let r = links.root(s.id.index());
            sets[r].push(s.id);
        }
    }
    let mut out = Units {
        model: Model {
            workers: plan.phases.iter().map(|p| p.workers.max(1)).collect(),
            units: Vec::new(),
            batches: Vec::new(),
            everywhere: loads(plan, &everywhere),
        },
        members: Vec::new(),
        batches: Vec::new(),
        everywhere,
        first: Vec::new(),
    };
    for set in sets.into_iter().filter(|s| !s.is_empty()) {
        if set.iter().all(|&id| plan.suite(id).skip.is_some()) {
            out.first.extend(set);
        } else if spreads(plan, &set) {
            spread(plan, &set, &mut out);
        } else {
            out.model.units.push(Unit {
                loads: loads(plan, &set),
                batch: None,
            });
            out.members
                .push(set.into_iter().map(Member::Suite).collect());
        }
    }
    out
}

/// Whether a set is one batch's parts and nothing else, none of them kept one at a time by a
/// `max = 1` group: then its items go to the shards one by one.
fn spreads(plan: &Plan, set: &[SuiteId]) -> bool {
    let Some(first) = plan.suite(set[0]).part.as_ref() else {
        return false;
    };
    set.iter().all(|&id| {
        let s = plan.suite(id);
        s.part.as_ref().is_some_and(|p| p.batch == first.batch)
            && s.group.is_none_or(|g| plan.group(g).max > 1)
            && s.skip.is_none()
    })
}

/// Each item of a spread batch as a unit of its own, with its whole expected duration (the
/// slices of an item that one machine would cut count as the item again).
fn spread(plan: &Plan, set: &[SuiteId], out: &mut Units) {
    let first = plan.suite(set[0]);
    let Some(part) = &first.part else {
        return;
    };
    let b = out.batches.len();
    out.batches.push(part.batch.clone());
    out.model.batches.push(BatchCost {
        phase: first.phase.index(),
        fixed: part.overhead,
    });
    let slots = f64::from(first.slots.max(1));
    let mut order: Vec<&str> = Vec::new();
    let mut secs: HashMap<&str, f64> = HashMap::new();
    for &id in set {
        let Some(p) = &plan.suite(id).part else {
            continue;
        };
        for (i, (item, d)) in p.items.iter().enumerate() {
            let whole = match p.slice(i) {
                Some(sl) => {
                    let n = f64::from(sl.count.max(1));
                    d * n / (1.0 + (n - 1.0) * crate::batch::pack::SLICE_REPEAT)
                }
                None => *d,
            };
            match secs.get_mut(item.as_str()) {
                // Every slice of an item says the same of the whole.
                Some(_) => {}
                None => {
                    order.push(item);
                    secs.insert(item, whole);
                }
            }
        }
    }
    // By name: the order a glob gives, whatever packing put where.
    order.sort_unstable();
    for item in order {
        let d = secs[item];
        out.model.units.push(Unit {
            loads: vec![Load {
                phase: first.phase.index(),
                work: d * slots,
                span: d,
            }],
            batch: Some(b),
        });
        out.members.push(vec![Member::Item {
            batch: b,
            item: item.to_owned(),
        }]);
    }
}

/// A set of suites' loads per phase: their work, and their longest chain in the phase or a
/// `max = 1` group's members one after another, whichever is longer. Skipped suites cost
/// nothing.
fn loads(plan: &Plan, set: &[SuiteId]) -> Vec<Load> {
    let mut by_phase: Vec<Load> = Vec::new();
    let mut serial_groups: HashMap<(usize, usize), f64> = HashMap::new();
    for &id in set {
        let s = plan.suite(id);
        if s.skip.is_some() {
            continue;
        }
        let p = s.phase.index();
        let at = match by_phase.iter().position(|l| l.phase == p) {
            Some(i) => i,
            None => {
                by_phase.push(Load {
                    phase: p,
                    work: 0.0,
                    span: 0.0,
                });
                by_phase.len() - 1
            }
        };
        by_phase[at].work += work(plan, id);
        by_phase[at].span = by_phase[at].span.max(s.path);
        if let Some(g) = s.group.filter(|g| plan.group(*g).max == 1) {
            let total = serial_groups.entry((p, g.index())).or_insert(0.0);
            *total += s.expected;
            by_phase[at].span = by_phase[at].span.max(*total);
        }
    }
    by_phase.sort_by_key(|l| l.phase);
    by_phase
}

impl Units {
    /// The split of these units into `total` shards: never more shards than units, so past
    /// the units' count a shard gets nothing (and its figure is 0).
    pub(crate) fn split(&self, total: u32) -> Split {
        let used = total.min(self.members.len() as u32).max(1);
        let mut split = split::split(&self.model, used);
        split.expected.resize(total.max(used) as usize, 0.0);
        split
    }

    /// What shard `index` (1-based) of `split` runs. A shard past the first with no unit runs
    /// nothing, not even what every shard runs (the first has the largest unit, if any).
    pub(crate) fn share(&self, plan: &Plan, split: &Split, index: u32) -> Share {
        let mut share = Share {
            index,
            total: split.total(),
            suites: HashSet::new(),
            items: self
                .batches
                .iter()
                .map(|b| (b.clone(), HashSet::new()))
                .collect(),
            note: crate::plan::ShardNote::default(),
        };
        share.note = crate::plan::ShardNote {
            split: self.digest(plan, split),
            every_shard: self
                .everywhere
                .iter()
                .map(|id| plan.suite(*id).name.clone())
                .collect(),
        };
        let mine: Vec<usize> = split.units_on(index - 1).collect();
        if mine.is_empty() && index > 1 {
            return share;
        }
        let name = |id: &SuiteId| plan.suite(*id).name.clone();
        share.suites.extend(self.everywhere.iter().map(name));
        if index == 1 {
            share.suites.extend(self.first.iter().map(name));
        }
        for u in mine {
            for m in &self.members[u] {
                match m {
                    Member::Suite(id) => {
                        share.suites.insert(name(id));
                    }
                    Member::Item { batch, item } => {
                        if let Some(items) = share.items.get_mut(&self.batches[*batch]) {
                            items.insert(item.clone());
                        }
                    }
                }
            }
        }
        share
    }

    /// A digest of `split`: every unit's members with the shard it went to, what every shard
    /// runs, and how many shards. Machines that planned alike have the same; shards planned
    /// from another config, selection, history or worker count (almost surely) have another.
    /// FNV-1a, 64 bits: stable across builds and machines, which std's hasher is not.
    pub(crate) fn digest(&self, plan: &Plan, split: &Split) -> String {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.bytes(&split.total().to_le_bytes());
        let name = |id: &SuiteId| plan.suite(*id).name.as_str();
        for (u, members) in self.members.iter().enumerate() {
            h.bytes(&split.shard_of[u].to_le_bytes());
            for m in members {
                match m {
                    Member::Suite(id) => h.text(name(id)),
                    Member::Item { batch, item } => {
                        h.text(&self.batches[*batch]);
                        h.text(item);
                    }
                }
            }
            h.bytes(&[0xff]);
        }
        for id in self.everywhere.iter().chain(&self.first) {
            h.text(name(id));
        }
        format!("{:016x}", h.0)
    }
}

/// FNV-1a over bytes.
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// A string and its length, so that no two lists of strings hash the same bytes.
    fn text(&mut self, s: &str) {
        self.bytes(&(s.len() as u64).to_le_bytes());
        self.bytes(s.as_bytes());
    }
}
