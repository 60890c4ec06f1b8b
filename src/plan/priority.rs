//! DESIGN §3 rule 2: among ready suites, the longest expected remaining path starts first.
//! The static part (own duration + longest chain of dependents in the same phase) is computed
//! here; the group term depends on what is still waiting, so the scheduler adds it live.

use super::{ExpectedSource, Suite};
use crate::history::History;

/// Fill `expected`, its source and `path` for every suite: the median of its last passes in
/// history, else its `estimate`, else unknown.
pub(crate) fn compute(suites: &mut [Suite], history: &History) {
    let mut known = Vec::new();
    for s in suites.iter_mut() {
        // A batch's part is made of this run's items: its own past (another split) is no guide.
        if let Some(part) = &s.part {
            s.expected = part.expected().max(0.0);
            s.expected_source = if part.source == super::decl::ItemSource::History {
                ExpectedSource::History
            } else {
                ExpectedSource::Estimate
            };
            known.push(s.expected);
            continue;
        }
        let (e, source) = match history.expected(&s.name) {
            Some(h) => (h, ExpectedSource::History),
            None => match s.estimate {
                Some(e) => (e.as_secs_f64(), ExpectedSource::Estimate),
                None => (0.0, ExpectedSource::None),
            },
        };
        s.expected = e.max(0.0);
        s.expected_source = source;
        if source != ExpectedSource::None {
            known.push(s.expected);
        }
    }
    // Unknown suites are assumed average; with nothing known every suite weighs the same,
    // which makes the rule fall back to depth, as ninja's.
    let fallback = if known.is_empty() {
        1.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    for s in suites.iter_mut() {
        if s.expected_source == ExpectedSource::None {
            s.expected = fallback;
        }
    }
    // Kahn's order over "dependents"; walking it backwards sees every dependent first.
    let n = suites.len();
    let mut indegree: Vec<usize> = suites.iter().map(|s| s.depends_on.len()).collect();
    let mut order: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut head = 0;
    while head < order.len() {
        let i = order[head];
        head += 1;
        for d in &suites[i].dependents {
            indegree[d.index()] -= 1;
            if indegree[d.index()] == 0 {
                order.push(d.index());
            }
        }
    }
    for &i in order.iter().rev() {
        let phase = suites[i].phase;
        let longest = suites[i]
            .dependents
            .iter()
            .map(|d| &suites[d.index()])
            .filter(|d| d.phase == phase)
            .map(|d| d.path)
            .fold(0.0, f64::max);
        suites[i].path = suites[i].expected + longest;
    }
}

/// Every suite's priority before anything has run: the live priority with all of its group's
/// other members still waiting (statically skipped ones never wait). This is the order
/// `ptest plan` shows and the scheduler starts from.
pub(crate) fn initial(plan: &super::Plan) -> Vec<f64> {
    let group_work: Vec<f64> = plan
        .groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .map(|m| plan.suite(*m))
                .filter(|s| s.skip.is_none())
                .map(|s| s.expected)
                .sum()
        })
        .collect();
    plan.suites
        .iter()
        .map(|s| match s.group {
            Some(g) if s.skip.is_none() => live(
                s.path,
                s.expected,
                (group_work[g.index()] - s.expected).max(0.0),
                plan.group(g).max,
            ),
            _ => s.path,
        })
        .collect()
}

/// The live priority: `path`, or own duration plus the group's waiting work spread over its cap,
/// whichever is larger.
pub(crate) fn live(path: f64, expected: f64, group_waiting_others: f64, group_max: u32) -> f64 {
    path.max(expected + group_waiting_others / f64::from(group_max.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_work_can_outweigh_a_chain() {
        assert!((live(3.0, 1.0, 10.0, 1) - 11.0).abs() < 1e-9);
        assert!((live(3.0, 1.0, 10.0, 5) - 3.0).abs() < 1e-9);
    }
}
