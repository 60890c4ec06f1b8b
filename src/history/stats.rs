//! `ptest stats`: per suite (and item) figures from history — runs, pass and flaky rates, median
//! and p90 duration, peak RSS, trend, time spent — as text or JSON. Pure: history in, text out.

use std::fmt::Write;

use serde::Serialize;

use super::{Entry, Records, median};
use crate::duration::human;
use crate::event::Status;

/// The figures of one name.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub name: String,
    /// Recorded runs (skipped and cancelled ones included).
    pub runs: usize,
    /// Of the runs that ended passed, flaky, failed or timed out: the share that passed
    /// (flaky included). `None` when none did.
    pub pass_rate: Option<f64>,
    /// Of the same runs: the share that passed only after a retry.
    pub flaky_rate: Option<f64>,
    /// Seconds, over passed runs.
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub peak_rss_kb: Option<u64>,
    /// The median of the last 5 passes over the median of the 5 before, minus one (0.1 = 10%
    /// slower). `None` with fewer than 6 passes.
    pub trend: Option<f64>,
    /// Seconds of every measured run together.
    pub time_spent: f64,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The figures of one entry.
pub(crate) fn row(name: &str, e: &Entry) -> Row {
    let ended: Vec<Status> = e
        .runs
        .iter()
        .map(|r| r.status)
        .filter(|s| !matches!(s, Status::Skipped | Status::Cancelled))
        .collect();
    let rate = |f: &dyn Fn(Status) -> bool| {
        (!ended.is_empty())
            .then(|| round3(ended.iter().filter(|s| f(**s)).count() as f64 / ended.len() as f64))
    };
    let passes: Vec<f64> = e
        .runs
        .iter()
        .filter(|r| r.status == Status::Passed)
        .filter_map(|r| r.duration.map(f64::from))
        .collect();
    let mut sorted = passes.clone();
    let med = median(&mut sorted);
    // Nearest rank.
    let p90 = (!sorted.is_empty()).then(|| {
        let rank = (0.9 * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    });
    let trend = (passes.len() > 5).then(|| {
        let n = passes.len();
        let mut last = passes[n - 5..].to_vec();
        let mut before = passes[n.saturating_sub(10)..n - 5].to_vec();
        let (l, b) = (median(&mut last), median(&mut before));
        match (l, b) {
            (Some(l), Some(b)) if b > 0.0 => Some(round3(l / b - 1.0)),
            _ => None,
        }
    });
    Row {
        name: name.to_owned(),
        runs: e.runs.len(),
        pass_rate: rate(&|s| s.is_pass()),
        flaky_rate: rate(&|s| s == Status::Flaky),
        median: med.map(round3),
        p90: p90.map(round3),
        peak_rss_kb: e.peak_rss_kb(),
        trend: trend.flatten(),
        time_spent: round3(
            e.runs
                .iter()
                .filter_map(|r| r.duration.map(f64::from))
                .sum(),
        ),
    }
}

/// Rows of every suite (and, separately, every item), most time spent first, then by name.
/// A batch's fixed cost (`unit[]`) is not a suite: see [`fixed_costs`].
pub(crate) fn rows(h: &Records) -> (Vec<Row>, Vec<Row>) {
    let sorted = |map: &std::collections::BTreeMap<String, Entry>| {
        let mut v: Vec<Row> = map
            .iter()
            .filter(|(n, _)| !n.ends_with("[]"))
            .map(|(n, e)| row(n, e))
            .collect();
        v.sort_by(|a, b| b.time_spent.total_cmp(&a.time_spent));
        v
    };
    (sorted(&h.suites), sorted(&h.items))
}

/// Each batch's fixed cost per process (DESIGN §9), as recorded under `BATCH[]`: the batch's
/// name and the median of its last recorded costs.
pub(crate) fn fixed_costs(h: &Records) -> Vec<(String, f64)> {
    h.suites
        .iter()
        .filter_map(|(n, e)| Some((n.strip_suffix("[]")?.to_owned(), row(n, e).median?)))
        .collect()
}

fn secs(x: Option<f64>) -> String {
    x.map_or_else(
        || "-".into(),
        |s| human(crate::duration::from_secs_lossy(s)),
    )
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |r| format!("{:.0}%", r * 100.0))
}

fn mem(kb: Option<u64>) -> String {
    match kb {
        None => "-".into(),
        Some(k) if k >= 1024 * 1024 => format!("{:.1} GB", k as f64 / (1024.0 * 1024.0)),
        Some(k) if k >= 1024 => format!("{:.1} MB", k as f64 / 1024.0),
        Some(k) => format!("{k} KB"),
    }
}

fn trend(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |t| format!("{:+.0}%", t * 100.0))
}

fn table(out: &mut String, title: &str, rows: &[Row]) {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .chain([title.len()])
        .max()
        .unwrap_or(0)
        .min(48);
    let _ = writeln!(
        out,
        "{title:<width$}  {:>4}  {:>5}  {:>5}  {:>7}  {:>7}  {:>8}  {:>6}  {:>10}",
        "runs", "pass", "flaky", "median", "p90", "peak RSS", "trend", "time spent"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:>4}  {:>5}  {:>5}  {:>7}  {:>7}  {:>8}  {:>6}  {:>10}",
            r.name,
            r.runs,
            pct(r.pass_rate),
            pct(r.flaky_rate),
            secs(r.median),
            secs(r.p90),
            mem(r.peak_rss_kb),
            trend(r.trend),
            secs(Some(r.time_spent)),
        );
    }
}

/// The text table.
pub(crate) fn text(h: &Records, path: &std::path::Path) -> String {
    let (suites, items) = rows(h);
    let mut out = String::new();
    if suites.is_empty() && items.is_empty() {
        let _ = writeln!(out, "no history yet in {}", path.display());
        return out;
    }
    let _ = writeln!(
        out,
        "history {} (trend: median of the last 5 passes against the 5 before)\n",
        path.display()
    );
    if !suites.is_empty() {
        table(&mut out, "suite", &suites);
    }
    if !items.is_empty() {
        if !suites.is_empty() {
            out.push('\n');
        }
        table(&mut out, "item", &items);
    }
    let fixed = fixed_costs(h);
    if !fixed.is_empty() {
        let _ = writeln!(
            out,
            "\nfixed cost per process (a part's time outside its tests): {}",
            fixed
                .iter()
                .map(|(b, c)| format!("{b} {}", secs(Some(*c))))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

/// The JSON document.
pub(crate) fn json(h: &Records, path: &std::path::Path) -> String {
    let (suites, items) = rows(h);
    let doc = serde_json::json!({
        "history": path.display().to_string(),
        "suites": suites,
        "items": items,
        "fixed_costs": fixed_costs(h).into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::record;

    #[test]
    fn rates_percentiles_and_trend() {
        let mut e = Entry::default();
        for i in 0..5 {
            e.push(record(Status::Passed, i, 1.0, 1, Some(100), None));
        }
        for i in 5..10 {
            e.push(record(Status::Passed, i, 2.0, 1, Some(300), None));
        }
        e.push(record(Status::Flaky, 10, 3.0, 2, None, None));
        e.push(record(Status::Failed, 11, 3.0, 1, None, None));
        e.push(record(Status::Cancelled, 12, 3.0, 1, None, None));
        let r = row("x", &e);
        assert_eq!(r.runs, 13);
        assert_eq!(r.pass_rate, Some(round3(11.0 / 12.0)));
        assert_eq!(r.flaky_rate, Some(round3(1.0 / 12.0)));
        assert_eq!(r.median, Some(1.5));
        assert_eq!(r.p90, Some(2.0));
        assert_eq!(r.peak_rss_kb, Some(300));
        assert_eq!(r.trend, Some(1.0));
        assert!((r.time_spent - 21.0).abs() < 1e-9);
    }

    /// A batch's fixed cost (`unit[]`) is shown on a line of its own, not as a suite.
    #[test]
    fn a_batchs_fixed_cost_is_not_a_suite() {
        let mut h = Records::default();
        let mut part = Entry::default();
        part.push(record(Status::Passed, 1, 10.0, 1, None, None));
        let mut cost = Entry::default();
        cost.push(record(Status::Passed, 1, 0.5, 1, None, None));
        h.suites.insert("unit[1]".into(), part);
        h.suites.insert("unit[]".into(), cost);
        let (suites, _) = rows(&h);
        assert_eq!(
            suites.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["unit[1]"]
        );
        let text = text(&h, std::path::Path::new("h.json"));
        assert!(
            text.contains("fixed cost per process (a part's time outside its tests): unit 500ms"),
            "{text}"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&json(&h, std::path::Path::new("h.json"))).unwrap();
        assert_eq!(doc["fixed_costs"]["unit"], 0.5);
    }
}
