//! The history of a run known only by its record: what `ptest merge --queue URL --add-history
//! FILE` adds, the queue supervisor holding every unit's counted result but none of the
//! machines' plans. Each suite once, as a run's own sink records it (`sink.rs`), from what the
//! record keeps: a batch part's items and their failed tests from its testcases, the batch's
//! fixed cost from the parts that passed in one attempt. What only the plan knows is left out:
//! a part that reported no testcase adds nothing for its items, and a suite skipped before it
//! started (a failed dependency, no machine left) adds no run.

use super::{Update, fixed_cost_key, item_key, record};
use crate::record::{Batch, Record, Status, Suite, test_below, unix_secs};

/// The run `record` tells, as history records it.
pub(crate) fn of_record(r: &Record) -> Update {
    let started = unix_secs(r.started()) as u64;
    // Supervising one queue run again adds nothing: each row is the one added before.
    let mut update = Update {
        once: true,
        ..Update::default()
    };
    // Per batch: the seconds its parts spent outside their testcases.
    let mut fixed: Vec<(&str, Vec<f64>)> = Vec::new();
    for s in &r.suites {
        if s.attempts == 0 && s.status == Status::Skipped {
            continue;
        }
        let time = s.start_time.map_or(started, |t| t as u64);
        if let Some(b) = s.batch.as_ref().filter(|_| !s.cases().is_empty()) {
            items(&mut update, s, b, time);
            if s.attempts == 1 && s.status.is_pass() {
                let inside: f64 = s.cases().iter().filter_map(|c| c.duration).sum();
                match fixed.iter_mut().find(|(n, _)| *n == b.name) {
                    Some((_, costs)) => costs.push((s.duration - inside).max(0.0)),
                    None => fixed.push((&b.name, vec![(s.duration - inside).max(0.0)])),
                }
            }
        }
        update.suites.push((
            s.name.clone(),
            record(
                s.status,
                time,
                s.duration,
                s.attempts,
                s.peak_rss_kb,
                s.cpu_time,
            ),
        ));
    }
    for (batch, costs) in fixed {
        let mean = costs.iter().sum::<f64>() / costs.len() as f64;
        update.suites.push((
            fixed_cost_key(batch),
            record(Status::Passed, started, mean, 1, None, None),
        ));
    }
    update
}

/// A part's items: each its testcases' time, failed when one failed, flaky when one was; an
/// item none of whose testcases came back took no time when the part passed, and has the
/// part's status and no duration otherwise. A test below its item that failed or was flaky
/// gets a row of its own (`--rerun-failed` runs only it).
fn items(update: &mut Update, s: &Suite, b: &Batch, time: u64) {
    for item in &b.items {
        let mut sum = None::<(f64, Status)>;
        for c in s.cases().iter().filter(|c| c.item.as_ref() == Some(item)) {
            let status = if c.status.is_failure() {
                Status::Failed
            } else if c.is_flaky() {
                Status::Flaky
            } else {
                Status::Passed
            };
            let (d, worst) = sum.get_or_insert((0.0, Status::Passed));
            *d += c.duration.unwrap_or(0.0);
            if status == Status::Failed || *worst == Status::Passed {
                *worst = status;
            }
            let name = c.display();
            if let Some(test) = test_below(&name, item).filter(|_| status != Status::Passed) {
                update.items.push((
                    format!("{}::{test}", item_key(&b.name, item)),
                    record(
                        status,
                        time,
                        c.duration.unwrap_or(0.0),
                        c.attempts,
                        None,
                        None,
                    ),
                ));
            }
        }
        let run = match sum {
            Some((d, status)) => record(status, time, d, 1, None, None),
            None if s.status.is_pass() => record(s.status, time, 0.0, 1, None, None),
            None => {
                let mut run = record(s.status, time, 0.0, 1, None, None);
                run.duration = None;
                run
            }
        };
        update.items.push((item_key(&b.name, item), run));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, TestCase};

    fn case(name: &str, item: &str, status: Outcome, secs: f64) -> TestCase {
        TestCase {
            name: name.into(),
            classname: None,
            file: Some(item.into()),
            line: None,
            item: Some(item.into()),
            status,
            attempts: 1,
            flaky: false,
            failed_before: None,
            split_outcome: None,
            duration: Some(secs),
            message: None,
            kind: None,
            text: None,
            location: None,
        }
    }

    fn suite(name: &str, status: Status, attempts: u32, secs: f64) -> Suite {
        let mut s: Suite = serde_json::from_value(serde_json::json!({
            "name": name, "description": null, "group": null, "status": status,
            "start_time": 1000.5, "end_time": 1001.0, "duration": secs, "return_code": 0,
            "signal": null, "attempts": attempts, "error_message": null, "skip_reason": null,
            "log_file": null, "worker": 0, "peak_rss_kb": 2048, "cpu_time": 0.25,
        }))
        .unwrap();
        s.node = Some("m1".into());
        s
    }

    #[test]
    fn each_suite_once_items_from_testcases_and_the_fixed_cost_from_one_attempt_passes() {
        let mut part = suite("unit[1]", Status::Failed, 1, 3.0);
        part.batch = Some(Batch {
            name: "unit".into(),
            index: 1,
            count: 2,
            items: vec!["a.py".into(), "b.py".into(), "c.py".into()],
        });
        part.testcases = Some(vec![
            case("test_x", "a.py", Outcome::Passed, 0.5),
            case("test_y", "a.py", Outcome::Failed, 0.25),
            case("test_z", "b.py", Outcome::Passed, 1.0),
        ]);
        let mut passed = suite("unit[2]", Status::Passed, 1, 2.0);
        passed.batch = Some(Batch {
            name: "unit".into(),
            index: 2,
            count: 2,
            items: vec!["d.py".into()],
        });
        passed.testcases = Some(vec![case("t", "d.py", Outcome::Passed, 1.5)]);
        let never = suite("later", Status::Skipped, 0, 0.0);
        let lint = suite("lint", Status::Passed, 2, 4.0);
        let r = crate::queue::supervise::record_of("r1", vec![lint, part, passed, never]);
        let u = of_record(&r);
        let suites: Vec<(&str, Status, Option<f32>, Option<u32>)> = u
            .suites
            .iter()
            .map(|(n, run)| (n.as_str(), run.status, run.duration, run.attempts))
            .collect();
        assert_eq!(
            suites,
            [
                ("lint", Status::Passed, Some(4.0), Some(2)),
                ("unit[1]", Status::Failed, Some(3.0), Some(1)),
                ("unit[2]", Status::Passed, Some(2.0), Some(1)),
                // Only the part that passed at once says what a process costs: 2.0 - 1.5.
                ("unit[]", Status::Passed, Some(0.5), Some(1)),
            ]
        );
        assert_eq!(u.suites[0].1.time, 1000);
        assert_eq!(u.suites[0].1.peak_rss_kb, Some(2048));
        let items: Vec<(&str, Status, Option<f32>)> = u
            .items
            .iter()
            .map(|(n, run)| (n.as_str(), run.status, run.duration))
            .collect();
        assert_eq!(
            items,
            [
                ("unit/a.py::test_y", Status::Failed, Some(0.25)),
                ("unit/a.py", Status::Failed, Some(0.75)),
                ("unit/b.py", Status::Passed, Some(1.0)),
                // Nothing came back from it and its part failed: its status, no duration.
                ("unit/c.py", Status::Failed, None),
                ("unit/d.py", Status::Passed, Some(1.5)),
            ]
        );
    }
}
