//! What `ptest plan` predicts: the run played out with expected durations through the same
//! ready queue and worker slots the scheduler uses, so the order shown is the order a run takes
//! when every suite passes and lasts as expected. Rate limits are not simulated.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::queue::{Admit, Queue, Slots};
use crate::plan::{Plan, SuiteId};

/// One suite's predicted place in the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicted {
    pub id: SuiteId,
    /// Seconds from the start of the run.
    pub start: f64,
    pub end: f64,
    /// First worker slot.
    pub worker: u32,
}

/// Every suite that would run, in start order, and the predicted wall time.
pub fn simulate(plan: &Plan) -> (Vec<Predicted>, f64) {
    // Suites that will not run: statically skipped, and (transitively) what depends on them.
    let mut out_of_run: Vec<bool> = plan.suites.iter().map(|s| s.skip.is_some()).collect();
    // Dependencies may be declared after their dependents: spread to a fixed point.
    loop {
        let mut changed = false;
        for s in &plan.suites {
            if !out_of_run[s.id.index()] && s.depends_on.iter().any(|d| out_of_run[d.index()]) {
                out_of_run[s.id.index()] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut waiting: Vec<usize> = plan.suites.iter().map(|s| s.depends_on.len()).collect();
    let mut order = Vec::new();
    let mut now = 0.0_f64;
    for phase in &plan.phases {
        let mut queue = Queue::new(plan);
        let mut slots = Slots::new(phase.workers);
        for &id in &phase.suites {
            if out_of_run[id.index()] {
                queue.forget_work(plan, id);
            } else if waiting[id.index()] == 0 {
                queue.push(plan, id);
            }
        }
        let mut running: BinaryHeap<Reverse<(u64, u32, Vec<u32>)>> = BinaryHeap::new();
        loop {
            let total = slots.total();
            loop {
                let free = slots.free();
                let Some(id) = queue.pop(plan, |id| {
                    let s = plan.suite(id);
                    let need = if s.serial { total } else { s.slots.min(total) };
                    if need <= free { Admit::Yes } else { Admit::No }
                }) else {
                    break;
                };
                let s = plan.suite(id);
                let need = if s.serial { total } else { s.slots.min(total) };
                let taken = slots.take(need).expect("admitted with enough free slots");
                let end = now + s.expected;
                order.push(Predicted {
                    id,
                    start: now,
                    end,
                    worker: taken[0],
                });
                running.push(Reverse((end.to_bits(), id.0, taken)));
            }
            let Some(Reverse((end_bits, id, taken))) = running.pop() else {
                break;
            };
            now = f64::from_bits(end_bits);
            let id = SuiteId(id);
            slots.release(&taken);
            queue.finished(plan, id);
            for &d in &plan.suite(id).dependents {
                waiting[d.index()] -= 1;
                if waiting[d.index()] == 0
                    && !out_of_run[d.index()]
                    && plan.suite(d).phase == phase.id
                {
                    queue.push(plan, d);
                }
            }
        }
    }
    (order, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(config: &str) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ptest.lua");
        std::fs::write(&path, config).unwrap();
        let ctx = crate::lua::EvalContext {
            sys: crate::sys::Sys::detect(),
            profile: None,
            vars: Vec::new(),
        };
        let decls = crate::lua::evaluate(&path, &ctx)
            .map_err(|e| e.to_string())
            .unwrap()
            .decls;
        let none = |_: &str| None;
        let history = std::collections::HashMap::new();
        let inputs = crate::plan::build::Inputs {
            overrides: &crate::settings::Overrides::default(),
            selection: &crate::settings::Selection::default(),
            env: &none,
            cpus: 2,
            history: &history,
        };
        crate::plan::build::build(decls, &inputs)
            .map_err(|e| e.to_string())
            .unwrap()
    }

    fn names(plan: &Plan, order: &[Predicted]) -> Vec<String> {
        order
            .iter()
            .map(|p| plan.suite(p.id).name.clone())
            .collect()
    }

    #[test]
    fn long_suites_declared_last_start_first() {
        let plan = plan_of(
            r#"ptest.config { workers = 2 }
            for i = 1, 4 do ptest.suite { name = "short" .. i, cmd = "true", estimate = 1 } end
            ptest.suite { name = "long", cmd = "true", estimate = 4 }"#,
        );
        let (order, wall) = simulate(&plan);
        assert_eq!(names(&plan, &order)[0], "long");
        assert!((wall - 4.0).abs() < 1e-9, "{wall}");
    }

    #[test]
    fn a_serial_group_counts_as_a_chain() {
        // Group of 3 x 1 s (max 1) against a chain of 2 x 1 s: the group has 3 s of work left.
        let plan = plan_of(
            r#"ptest.config { workers = 1 }
            ptest.suite { name = "a", cmd = "true", estimate = 1 }
            ptest.suite { name = "b", cmd = "true", estimate = 1, depends_on = { "a" } }
            ptest.group("g", function()
              for i = 1, 3 do ptest.suite { name = "g" .. i, cmd = "true", estimate = 1 } end
            end)"#,
        );
        let (order, wall) = simulate(&plan);
        assert_eq!(names(&plan, &order)[0], "g1");
        assert!((wall - 5.0).abs() < 1e-9);
    }

    #[test]
    fn phases_are_barriers_and_skips_spread() {
        let plan = plan_of(
            r#"ptest.config { workers = 4 }
            local p1 = ptest.phase { name = "one" }
            local p2 = ptest.phase { name = "two" }
            ptest.suite { name = "x", cmd = "true", estimate = 2, phase = p1 }
            ptest.suite { name = "off", cmd = "true", estimate = 1, phase = p1, enabled = false }
            ptest.suite { name = "needs-off", cmd = "true", depends_on = { "off" }, phase = p2 }
            ptest.suite { name = "y", cmd = "true", estimate = 1, phase = p2 }"#,
        );
        let (order, wall) = simulate(&plan);
        assert_eq!(names(&plan, &order), ["x", "y"]);
        assert!((order[1].start - 2.0).abs() < 1e-9);
        assert!((wall - 3.0).abs() < 1e-9);
    }
}
