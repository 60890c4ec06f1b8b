//! What `ptest plan` predicts: the run's core (`core.rs`) driven with expected durations and
//! virtual time, every attempt passing, so the order shown is the order a run takes when every
//! suite passes and lasts as expected. Rate limits are not simulated: every token is granted.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant, SystemTime};

use super::core::{AttemptKey, Command, Core, Ended, Host, Input, Verdict, no_logs};
use super::limits::Refusal;
use crate::event::AttemptView;
use crate::plan::{LimiterId, Plan, SuiteId};

/// One suite's predicted place in the run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Predicted {
    pub id: SuiteId,
    /// Seconds from the start of the run.
    pub start: f64,
    pub end: f64,
    /// First worker slot.
    pub worker: u32,
}

/// Every limiter grants at once; nothing fails, so nothing asks about output.
struct Expected;

impl Host for Expected {
    fn limiter_admit(&mut self, _: LimiterId, _: Instant) -> Result<(), Refusal> {
        Ok(())
    }
    fn limiter_waited(&mut self, _: LimiterId, _: Duration) {}
    fn limiter_release(&mut self, _: LimiterId) {}
    fn limiter_acquire(&mut self, _: LimiterId, _: u32, _: Instant) -> Result<(), Refusal> {
        Ok(())
    }
    fn limiter_throttled(&mut self, _: LimiterId, _: Option<Duration>, _: Instant) {}
    fn output(&mut self, _: SuiteId, _: (u64, u64)) -> Vec<u8> {
        Vec::new()
    }
    fn judge(&mut self, _: usize, _: &AttemptView<'_>) -> Result<bool, String> {
        Ok(false)
    }
    fn service_note(
        &mut self,
        _: SuiteId,
        _: &crate::event::ServiceFailure,
        _: bool,
    ) -> Option<(u64, u64)> {
        None
    }
}

/// Every suite that would run, in start order, and the predicted wall time.
pub(crate) fn simulate(plan: &Plan) -> (Vec<Predicted>, f64) {
    let mut core = Core::new(plan, no_logs(plan), 0);
    let base = Instant::now();
    let at = |secs: f64| {
        Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| base.checked_add(d))
            .unwrap_or(base)
    };
    let mut order = Vec::new();
    // Attempts by end time, then suite (declaration order breaks ties).
    let mut running: BinaryHeap<Reverse<(u64, u32, AttemptKey)>> = BinaryHeap::new();
    let mut now = 0.0_f64;
    let mut commands = core.step(Input::Begin, base, &mut Expected);
    loop {
        // Every service is ready the moment it is started.
        let mut ready = Vec::new();
        for c in commands {
            if let Command::StartService(inst) = c {
                ready.push(inst);
            } else if let Command::Start {
                key, suite, slots, ..
            } = c
            {
                let end = now + plan.suite(suite).expected;
                order.push(Predicted {
                    id: suite,
                    start: now,
                    end,
                    worker: slots[0],
                });
                running.push(Reverse((end.to_bits(), suite.0, key)));
            }
        }
        if !ready.is_empty() {
            commands = ready
                .into_iter()
                .flat_map(|inst| core.step(Input::ServiceReady(inst), at(now), &mut Expected))
                .collect();
            continue;
        }
        let Some(Reverse((end_bits, id, key))) = running.pop() else {
            break;
        };
        now = f64::from_bits(end_bits);
        let ended = Ended {
            key,
            verdict: Verdict::Pass,
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::try_from_secs_f64(plan.suite(SuiteId(id)).expected)
                .unwrap_or(Duration::ZERO),
            peak_rss_kb: None,
            cpu_time: None,
            output: (0, 0),
            testcases: None,
            exports: Vec::new(),
        };
        commands = core.step(Input::Ended(ended), at(now), &mut Expected);
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
            select: crate::settings::TestSelection::default(),
        };
        let decls = crate::lua::evaluate(&path, &ctx)
            .map_err(|e| e.to_string())
            .unwrap()
            .decls;
        let none = |_: &str| None;
        let history = crate::history::History::default();
        let inputs = crate::plan::tests::Inputs {
            overrides: &crate::settings::Overrides::default(),
            selection: &crate::settings::Selection::default(),
            env: &none,
            cpus: 2,
            history: &history,
            memory_available: &|| 16 << 30,
        };
        crate::plan::tests::build(decls, &inputs)
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
