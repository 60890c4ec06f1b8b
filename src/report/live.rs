//! The live status line on a terminal: a bar, counts, the running suites with their elapsed time,
//! and an ETA from expected durations (estimates, else the mean of what has finished). Redrawn
//! on every event and twice a second; event lines scroll above it.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::duration::human;
use crate::plan::{ExpectedSource, Plan, SuiteId};

const BAR: usize = 20;

/// What the status line shows.
#[derive(Debug, Clone)]
pub(crate) struct LiveState {
    pub total: usize,
    pub done: usize,
    pub workers: u32,
    pub started: Instant,
    /// Running suites: name, start, expected seconds (None when unknown).
    pub running: BTreeMap<SuiteId, (String, Instant, Option<f64>)>,
    /// Expected seconds of suites not started yet (None entries counted separately).
    pub pending_known: f64,
    pub pending_unknown: usize,
    pub finished_secs: Vec<f64>,
    /// Running suites past twice their expected duration: marked `SLOW`.
    pub slow: std::collections::BTreeSet<SuiteId>,
    /// Tests the running parts said had ended, and how many of them failed.
    pub tests: usize,
    pub tests_failed: usize,
}

impl LiveState {
    /// Nothing to show yet (before the run starts).
    pub(crate) fn empty() -> LiveState {
        LiveState {
            total: 0,
            done: 0,
            workers: 1,
            started: Instant::now(),
            running: BTreeMap::new(),
            pending_known: 0.0,
            pending_unknown: 0,
            finished_secs: Vec::new(),
            slow: std::collections::BTreeSet::new(),
            tests: 0,
            tests_failed: 0,
        }
    }

    pub(crate) fn new(plan: &Plan) -> LiveState {
        let to_run: Vec<_> = plan.suites.iter().filter(|s| s.skip.is_none()).collect();
        let known = |s: &crate::plan::Suite| s.expected_source != ExpectedSource::None;
        LiveState {
            total: to_run.len(),
            done: 0,
            workers: plan.workers,
            started: Instant::now(),
            running: BTreeMap::new(),
            pending_known: to_run.iter().filter(|s| known(s)).map(|s| s.expected).sum(),
            pending_unknown: to_run.iter().filter(|s| !known(s)).count(),
            finished_secs: Vec::new(),
            slow: std::collections::BTreeSet::new(),
            tests: 0,
            tests_failed: 0,
        }
    }

    /// From history or an estimate; `None` when unknown.
    fn expected(plan: &Plan, id: SuiteId) -> Option<f64> {
        let s = plan.suite(id);
        (s.expected_source != ExpectedSource::None).then_some(s.expected)
    }

    pub(crate) fn started(&mut self, plan: &Plan, id: SuiteId, attempt: u32) {
        let e = Self::expected(plan, id);
        if attempt == 1 {
            match e {
                Some(x) => self.pending_known = (self.pending_known - x).max(0.0),
                None => self.pending_unknown = self.pending_unknown.saturating_sub(1),
            }
        }
        self.running
            .insert(id, (plan.suite(id).name.clone(), Instant::now(), e));
    }

    /// A running part said one of its tests ended.
    pub(crate) fn test_ended(&mut self, failed: bool) {
        self.tests += 1;
        self.tests_failed += usize::from(failed);
    }

    /// The suite is running past twice its expected duration.
    pub(crate) fn slow(&mut self, id: SuiteId) {
        self.slow.insert(id);
    }

    /// An attempt ended; `last` when the suite has its final status.
    pub(crate) fn ended(&mut self, id: SuiteId, last: bool, secs: f64) {
        self.running.remove(&id);
        if last {
            self.done += 1;
            self.finished_secs.push(secs);
        }
    }

    /// A suite ended without running (skipped).
    pub(crate) fn skipped(&mut self, plan: &Plan, id: SuiteId) {
        if plan.suite(id).skip.is_none() {
            self.done += 1;
            match Self::expected(plan, id) {
                Some(x) => self.pending_known = (self.pending_known - x).max(0.0),
                None => self.pending_unknown = self.pending_unknown.saturating_sub(1),
            }
        }
    }

    /// Seconds of work left, spread over the workers; `None` before anything is known.
    pub(crate) fn eta(&self, now: Instant) -> Option<f64> {
        let mean = (!self.finished_secs.is_empty())
            .then(|| self.finished_secs.iter().sum::<f64>() / self.finished_secs.len() as f64);
        let unknown = if self.pending_unknown > 0 {
            mean? * self.pending_unknown as f64
        } else {
            0.0
        };
        let mut running = 0.0;
        for (_, start, e) in self.running.values() {
            let expected = e.or(mean)?;
            running += (expected - now.duration_since(*start).as_secs_f64()).max(0.0);
        }
        Some((self.pending_known + unknown + running) / f64::from(self.workers.max(1)))
    }

    /// "still running: a (4m), b (2m)", longest-running first; `None` when nothing runs.
    pub(crate) fn still_running(&self, now: Instant) -> Option<String> {
        if self.running.is_empty() {
            return None;
        }
        let mut by_age: Vec<_> = self.running.values().collect();
        by_age.sort_by_key(|(_, start, _)| *start);
        let names: Vec<String> = by_age
            .iter()
            .map(|(name, start, _)| format!("{name} ({})", human(now.duration_since(*start))))
            .collect();
        Some(format!("still running: {}", names.join(", ")))
    }

    /// The status line, at most `width` display columns.
    pub(crate) fn render(&self, now: Instant, width: usize) -> String {
        let filled = (self.done * BAR).checked_div(self.total).unwrap_or(BAR);
        let mut line = format!(
            "[{}{}] {}/{}  {}",
            "#".repeat(filled),
            ".".repeat(BAR - filled),
            self.done,
            self.total,
            human(now.duration_since(self.started))
        );
        if self.tests > 0 {
            line.push_str(&format!(
                "  {} test{}",
                super::thousands(self.tests),
                if self.tests == 1 { "" } else { "s" }
            ));
            if self.tests_failed > 0 {
                line.push_str(&format!(
                    " ({} failed)",
                    super::thousands(self.tests_failed)
                ));
            }
        }
        if let Some(eta) = self.eta(now) {
            line.push_str(&format!(
                "  ETA ~{}",
                human(crate::duration::from_secs_lossy(eta))
            ));
        }
        if !self.running.is_empty() {
            let mut by_age: Vec<_> = self.running.iter().collect();
            by_age.sort_by_key(|(_, (_, start, _))| *start);
            let names: Vec<String> = by_age
                .iter()
                .map(|(id, (name, start, _))| {
                    let mark = if self.slow.contains(id) { " SLOW" } else { "" };
                    format!("{name} {}{mark}", human(now.duration_since(*start)))
                })
                .collect();
            line.push_str(&format!(
                "  running {}: {}",
                self.running.len(),
                names.join(", ")
            ));
        }
        truncate(&line, width)
    }
}

/// At most `width` display columns (wide characters count two, combining marks none), with
/// an ellipsis where it was cut; control characters (a name with a tab or a line break)
/// shown as `?`, so the line stays one line.
pub(crate) fn truncate(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if unicode_width::UnicodeWidthStr::width(clean.as_str()) <= width {
        return clean;
    }
    let room = width.saturating_sub(1);
    let mut used = 0;
    let mut t = String::new();
    for c in clean.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        t.push(c);
    }
    if width > 0 {
        t.push('…');
    }
    t
}

/// The terminal's width, or 80.
pub(crate) fn terminal_width() -> usize {
    // stdout, else stderr (where the view goes with `--events -`).
    let width = |fd| rustix::termios::tcgetwinsize(fd).map_or(0, |ws| ws.ws_col);
    [
        width(rustix::stdio::stdout()),
        width(rustix::stdio::stderr()),
    ]
    .into_iter()
    .find(|&w| w > 0)
    .map_or(80, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> LiveState {
        LiveState {
            total: 4,
            done: 1,
            workers: 2,
            pending_unknown: 2,
            finished_secs: vec![2.0],
            ..LiveState::empty()
        }
    }

    #[test]
    fn eta_uses_the_mean_of_finished_suites_when_nothing_is_estimated() {
        let mut s = state();
        let now = s.started;
        s.running.insert(SuiteId(1), ("a".into(), now, None));
        // Two pending at 2 s plus one running with 2 s left, over 2 workers.
        assert!((s.eta(now).unwrap() - 3.0).abs() < 1e-9);
        s.finished_secs.clear();
        assert_eq!(s.eta(now), None);
    }

    #[test]
    fn render_shows_bar_counts_and_running() {
        let mut s = state();
        let now = s.started;
        s.running.insert(SuiteId(1), ("build".into(), now, None));
        let line = s.render(now, 200);
        assert!(
            line.starts_with("[#####...............] 1/4  0ms  ETA ~3.0s  running 1: build 0ms"),
            "{line}"
        );
        assert_eq!(s.render(now, 10).chars().count(), 10);
        // The tests the running parts said had ended, and the failed among them.
        for failed in [false, false, true] {
            s.test_ended(failed);
        }
        assert!(
            s.render(now, 200)
                .starts_with("[#####...............] 1/4  0ms  3 tests (1 failed)  ETA"),
            "{}",
            s.render(now, 200)
        );
        s.tests = 1204;
        s.tests_failed = 0;
        assert!(s.render(now, 200).contains(" 1,204 tests  ETA"));
    }

    #[test]
    fn truncation_counts_display_columns() {
        use unicode_width::UnicodeWidthStr;
        // Each of these takes two columns.
        let wide = "テストスイート";
        assert_eq!(truncate(wide, 20), wide);
        let cut = truncate(wide, 7);
        assert!(cut.width() <= 7, "{cut}");
        assert_eq!(cut, "テスト…");
        assert_eq!(truncate("tab\there\n", 20), "tab?here?");
        for w in 0..30 {
            assert!(truncate(&format!("[###] 1/4 {wide} 3s, é́ x"), w).width() <= w.max(1));
        }
    }

    fn planned() -> Plan {
        crate::plan::tests::plan(
            r#"
            ptest.config { workers = 2 }
            ptest.suite { name = "a", cmd = "true", estimate = "10s" }
            ptest.suite { name = "b", cmd = "true", estimate = "20s" }
            ptest.suite { name = "c", cmd = "true" }
            ptest.suite { name = "off", cmd = "true", enabled = false, estimate = "99s" }
            "#,
        )
    }

    fn id(plan: &Plan, name: &str) -> SuiteId {
        crate::plan::tests::by_name(plan, name).id
    }

    #[test]
    fn a_new_state_counts_what_will_run_and_what_is_expected_of_it() {
        let p = planned();
        let s = LiveState::new(&p);
        assert_eq!(
            s.total, 3,
            "a suite skipped before the start is not counted"
        );
        assert_eq!(s.workers, 2);
        assert!((s.pending_known - 30.0).abs() < 1e-9);
        assert_eq!(s.pending_unknown, 1);
        // Nothing finished: the unknown suite makes the ETA unknown.
        assert_eq!(s.eta(s.started), None);
    }

    #[test]
    fn a_retry_does_not_take_its_expected_time_off_twice() {
        let p = planned();
        let mut s = LiveState::new(&p);
        s.started(&p, id(&p, "a"), 1);
        assert!((s.pending_known - 20.0).abs() < 1e-9);
        s.ended(id(&p, "a"), false, 1.0);
        assert_eq!(s.done, 0, "an attempt that will be retried is not done");
        s.started(&p, id(&p, "a"), 2);
        assert!((s.pending_known - 20.0).abs() < 1e-9);
        s.started(&p, id(&p, "c"), 1);
        assert_eq!(s.pending_unknown, 0);
        s.ended(id(&p, "a"), true, 3.0);
        assert_eq!((s.done, s.finished_secs.clone()), (1, vec![3.0]));
    }

    #[test]
    fn skips_count_as_done_only_for_suites_that_were_to_run() {
        let p = planned();
        let mut s = LiveState::new(&p);
        s.skipped(&p, id(&p, "off"));
        assert_eq!(s.done, 0);
        s.skipped(&p, id(&p, "b"));
        s.skipped(&p, id(&p, "c"));
        assert_eq!(s.done, 2);
        assert!((s.pending_known - 10.0).abs() < 1e-9);
        assert_eq!(s.pending_unknown, 0);
        // Only a's 10 s are left, over two workers.
        assert!((s.eta(s.started).unwrap() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn eta_counts_what_running_suites_have_left_never_below_zero() {
        let mut s = LiveState {
            workers: 1,
            ..LiveState::empty()
        };
        let t0 = s.started;
        s.running.insert(SuiteId(0), ("a".into(), t0, Some(10.0)));
        s.running.insert(SuiteId(1), ("b".into(), t0, Some(2.0)));
        let later = t0 + std::time::Duration::from_secs(4);
        // a has 6 s left; b is past its estimate and counts as 0.
        assert!((s.eta(later).unwrap() - 6.0).abs() < 1e-9);
    }

    #[test]
    fn still_running_names_the_longest_running_first() {
        let mut s = LiveState::empty();
        let t0 = s.started;
        assert_eq!(s.still_running(t0), None);
        s.running.insert(
            SuiteId(0),
            (
                "young".into(),
                t0 + std::time::Duration::from_secs(50),
                None,
            ),
        );
        s.running.insert(SuiteId(1), ("old".into(), t0, None));
        let now = t0 + std::time::Duration::from_secs(240);
        assert_eq!(
            s.still_running(now).as_deref(),
            Some("still running: old (4m00s), young (3m10s)")
        );
    }

    #[test]
    fn a_slow_suite_is_marked_and_an_empty_plan_shows_a_full_bar() {
        let mut s = LiveState::empty();
        let t0 = s.started;
        assert!(
            s.render(t0, 200)
                .starts_with("[####################] 0/0  0ms")
        );
        s.total = 2;
        s.running.insert(SuiteId(3), ("long".into(), t0, Some(1.0)));
        s.slow(SuiteId(3));
        let line = s.render(t0 + std::time::Duration::from_secs(30), 200);
        assert!(line.ends_with("  running 1: long 30.0s SLOW"), "{line}");
        assert!(line.starts_with("[.........."), "{line}");
    }

    #[test]
    fn truncation_at_the_smallest_widths() {
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate("abc", 1), "…");
        assert_eq!(truncate("abc", 2), "a…");
        assert_eq!(truncate("abc", 3), "abc");
        // A wide character that does not fit whole is left out, not split.
        assert_eq!(truncate("aテ", 2), "a…");
        // Combining marks take no column.
        assert_eq!(truncate("e\u{301}e\u{301}", 2), "e\u{301}e\u{301}");
    }
}
