//! The ready queue of DESIGN §3 rules 1–2, pure: which ready suite starts next, given group caps,
//! free worker slots and whatever else the caller checks. No time, no processes, no I/O, so the
//! scheduler and `ptest plan` can share it and tests can drive it directly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::plan::priority::live;
use crate::plan::{Plan, SuiteId};

/// Heap key: higher path first, then declaration order.
type Key = (u64, Reverse<u32>);

fn key(path: f64, id: SuiteId) -> Key {
    // Non-negative floats order like their bit patterns.
    (path.max(0.0).to_bits(), Reverse(id.0))
}

#[derive(Debug, Clone)]
struct GroupQueue {
    heap: BinaryHeap<Key>,
    running: u32,
    max: u32,
    /// Expected seconds of members not started yet (ready or not).
    waiting_work: f64,
}

/// The caller's verdict on the best ready suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Start it now.
    Yes,
    /// Not now (no slots, limiter); keep it queued.
    No,
    /// It ended meanwhile; drop it.
    Discard,
}

/// Ready suites, by group.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    ungrouped: BinaryHeap<Key>,
    groups: Vec<GroupQueue>,
    len: usize,
}

impl Queue {
    pub(crate) fn new(plan: &Plan) -> Queue {
        Queue {
            ungrouped: BinaryHeap::new(),
            groups: plan
                .groups
                .iter()
                .map(|g| GroupQueue {
                    heap: BinaryHeap::new(),
                    running: 0,
                    max: g.max,
                    waiting_work: g.members.iter().map(|m| plan.suite(*m).expected).sum(),
                })
                .collect(),
            len: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The suite can start as soon as it is admitted.
    pub(crate) fn push(&mut self, plan: &Plan, id: SuiteId) {
        let s = plan.suite(id);
        let k = key(s.path, id);
        match s.group {
            Some(g) => self.groups[g.index()].heap.push(k),
            None => self.ungrouped.push(k),
        }
        self.len += 1;
    }

    /// A member will not start after all (skipped): its work no longer waits.
    pub(crate) fn forget_work(&mut self, plan: &Plan, id: SuiteId) {
        let s = plan.suite(id);
        if let Some(g) = s.group {
            self.groups[g.index()].waiting_work -= s.expected;
        }
    }

    /// A retried attempt waits again.
    pub(crate) fn add_work(&mut self, plan: &Plan, id: SuiteId) {
        let s = plan.suite(id);
        if let Some(g) = s.group {
            self.groups[g.index()].waiting_work += s.expected;
        }
    }

    /// An attempt of a grouped suite ended: the group has room again.
    pub(crate) fn finished(&mut self, plan: &Plan, id: SuiteId) {
        if let Some(g) = plan.suite(id).group {
            let q = &mut self.groups[g.index()];
            q.running = q.running.saturating_sub(1);
        }
    }

    fn live_priority(&self, plan: &Plan, id: SuiteId) -> f64 {
        let s = plan.suite(id);
        match s.group {
            Some(g) => {
                let q = &self.groups[g.index()];
                live(
                    s.path,
                    s.expected,
                    (q.waiting_work - s.expected).max(0.0),
                    q.max,
                )
            }
            None => s.path,
        }
    }

    /// Up to `n` queued suites that `keep` accepts, highest priority first (those of groups
    /// at their cap left out), without taking them from the queue.
    pub(crate) fn best(
        &self,
        plan: &Plan,
        n: usize,
        keep: impl Fn(SuiteId) -> bool,
    ) -> Vec<SuiteId> {
        let mut all: Vec<(f64, u32)> = Vec::new();
        let mut add = |heap: &BinaryHeap<Key>| {
            for &(_, Reverse(id)) in heap {
                if keep(SuiteId(id)) {
                    all.push((self.live_priority(plan, SuiteId(id)), id));
                }
            }
        };
        add(&self.ungrouped);
        for q in self.groups.iter().filter(|q| q.running < q.max) {
            add(&q.heap);
        }
        let order = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        // The best n in linear time (a large run asks this at every claim), then in order.
        if all.len() > n && n > 0 {
            all.select_nth_unstable_by(n - 1, order);
        }
        all.truncate(n);
        all.sort_by(order);
        all.into_iter().map(|(_, id)| SuiteId(id)).collect()
    }

    /// Take the highest-priority ready suite that `admit` accepts (free slots, limiter room...),
    /// skipping groups at their cap. Suites `admit` refuses stay queued; discarded ones (already
    /// ended, e.g. skipped by fail-fast) leave. `None` when nothing fits.
    pub(crate) fn pop(
        &mut self,
        plan: &Plan,
        mut admit: impl FnMut(SuiteId) -> Admit,
    ) -> Option<SuiteId> {
        let mut refused: Vec<(Option<usize>, Key)> = Vec::new();
        let found = loop {
            // The best head among the ungrouped heap and every group with room.
            let mut best: Option<(f64, u32, Option<usize>)> = None;
            let mut consider = |prio: f64, id: u32, from: Option<usize>| {
                let better = match best {
                    None => true,
                    Some((bp, bid, _)) => prio.total_cmp(&bp).then(bid.cmp(&id)).is_gt(),
                };
                if better {
                    best = Some((prio, id, from));
                }
            };
            if let Some(&(_, Reverse(id))) = self.ungrouped.peek() {
                consider(self.live_priority(plan, SuiteId(id)), id, None);
            }
            for (gi, q) in self.groups.iter().enumerate() {
                if q.running < q.max {
                    if let Some(&(_, Reverse(id))) = q.heap.peek() {
                        consider(self.live_priority(plan, SuiteId(id)), id, Some(gi));
                    }
                }
            }
            let Some((_, id, from)) = best else {
                break None;
            };
            let heap = match from {
                None => &mut self.ungrouped,
                Some(gi) => &mut self.groups[gi].heap,
            };
            let k = heap.pop().expect("peeked");
            match admit(SuiteId(id)) {
                Admit::Yes => break Some((SuiteId(id), from)),
                Admit::No => refused.push((from, k)),
                Admit::Discard => self.len -= 1,
            }
        };
        for (from, k) in refused {
            match from {
                None => self.ungrouped.push(k),
                Some(gi) => self.groups[gi].heap.push(k),
            }
        }
        let (id, from) = found?;
        self.len -= 1;
        if let Some(gi) = from {
            let q = &mut self.groups[gi];
            q.running += 1;
            q.waiting_work -= plan.suite(id).expected;
        }
        Some(id)
    }
}

/// Worker slots of the active phase: the lowest free indexes are taken first.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    used: Vec<bool>,
    free: u32,
}

impl Slots {
    pub(crate) fn new(workers: u32) -> Slots {
        Slots {
            used: vec![false; workers as usize],
            free: workers,
        }
    }

    pub(crate) fn total(&self) -> u32 {
        self.used.len() as u32
    }

    pub(crate) fn free(&self) -> u32 {
        self.free
    }

    /// Take `n` slots (lowest free indexes); `None` if fewer are free.
    pub(crate) fn take(&mut self, n: u32) -> Option<Vec<u32>> {
        if n > self.free {
            return None;
        }
        let mut got = Vec::with_capacity(n as usize);
        for (i, u) in self.used.iter_mut().enumerate() {
            if got.len() == n as usize {
                break;
            }
            if !*u {
                *u = true;
                got.push(i as u32);
            }
        }
        self.free -= n;
        Some(got)
    }

    /// The free slot indexes, lowest first.
    pub(crate) fn free_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.used
            .iter()
            .enumerate()
            .filter(|(_, used)| !**used)
            .map(|(i, _)| i as u32)
    }

    /// Take `n` slots with `first` (a free one) first, then the lowest free others; `None` if
    /// `first` is not free or fewer than `n` are.
    pub(crate) fn take_from(&mut self, first: u32, n: u32) -> Option<Vec<u32>> {
        if n == 0 || n > self.free || self.used.get(first as usize) != Some(&false) {
            return None;
        }
        self.used[first as usize] = true;
        self.free -= 1;
        let mut got = vec![first];
        got.extend(self.take(n - 1)?);
        Some(got)
    }

    pub(crate) fn release(&mut self, slots: &[u32]) {
        for &s in slots {
            if let Some(u) = self.used.get_mut(s as usize) {
                if *u {
                    *u = false;
                    self.free += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_take_lowest_free() {
        let mut s = Slots::new(4);
        assert_eq!(s.take(2), Some(vec![0, 1]));
        assert_eq!(s.take(1), Some(vec![2]));
        s.release(&[0]);
        assert_eq!(s.take(2), Some(vec![0, 3]));
        assert_eq!(s.take(1), None);
        assert_eq!(s.free(), 0);
    }

    #[test]
    fn slots_taken_from_a_chosen_first() {
        let mut s = Slots::new(4);
        assert_eq!(s.take_from(2, 2), Some(vec![2, 0]));
        assert_eq!(s.free_slots().collect::<Vec<_>>(), [1, 3]);
        assert_eq!(s.take_from(2, 1), None, "taken already");
        assert_eq!(s.take_from(9, 1), None, "no such slot");
        assert_eq!(s.take_from(3, 3), None, "not enough free");
        assert_eq!(s.take_from(3, 1), Some(vec![3]));
        assert_eq!(s.free(), 1);
    }

    #[test]
    fn the_best_queued_suites_in_order_without_taking_them() {
        let plan = crate::plan::tests::plan(
            r#"
            for i, secs in ipairs({ 3, 9, 1, 7, 5 }) do
              ptest.suite { name = "s" .. i, cmd = "true", estimate = secs }
            end
            "#,
        );
        let mut q = Queue::new(&plan);
        for s in &plan.suites {
            q.push(&plan, s.id);
        }
        let names = |ids: Vec<SuiteId>| -> Vec<String> {
            ids.into_iter()
                .map(|id| plan.suite(id).name.clone())
                .collect()
        };
        assert_eq!(names(q.best(&plan, 3, |_| true)), ["s2", "s4", "s5"]);
        assert_eq!(
            names(q.best(&plan, 9, |id| plan.suite(id).name != "s4")),
            ["s2", "s5", "s1", "s3"]
        );
        assert!(q.best(&plan, 0, |_| true).is_empty());
        // Nothing was taken.
        assert_eq!(q.pop(&plan, |_| Admit::Yes), Some(plan.suites[1].id));
    }
}
