//! `--html FILE`: one self-contained page (its style and script inline, nothing fetched): the
//! summary, the failures first with their logs' tails, a timeline with one bar per attempt on
//! the worker that ran it, and every suite in a table that can be filtered by status and sorted.
//! Log paths are links relative to the page. Every piece of text from suites and logs is
//! escaped; colour codes in logs are removed, never shown as codes.

use std::fmt::Write;
use std::path::{Component, Path, PathBuf};

use super::secs;
use crate::event::Status;
use crate::record::{Outcome, Record, Suite, TestCase, last_lines};

const TAIL_LINES: usize = 40;

/// Escape text for HTML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn color(status: Status) -> &'static str {
    match status {
        Status::Passed => "#2e7d32",
        Status::Flaky => "#f9a825",
        Status::Failed | Status::TimedOut => "#c62828",
        Status::Cancelled => "#757575",
        Status::Skipped => "#bdbdbd",
    }
}

/// Failures first: the order of the table and of the filter buttons.
fn severity(status: Status) -> u8 {
    match status {
        Status::Failed => 0,
        Status::TimedOut => 1,
        Status::Cancelled => 2,
        Status::Flaky => 3,
        Status::Skipped => 4,
        Status::Passed => 5,
    }
}

/// `target` relative to the folder `from`, both absolute (`..` where needed).
fn relative(target: &Path, from: &Path) -> PathBuf {
    let t: Vec<Component> = target.components().collect();
    let f: Vec<Component> = from.components().collect();
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let up = (common..f.len()).map(|_| Component::ParentDir);
    up.chain(t[common..].iter().copied()).collect()
}

/// A path as a URL path: each byte outside the unreserved set and `/` percent-encoded.
fn url_path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A link to a log as the record names it (from the folder ptest ran in), relative to the
/// page's own folder.
fn log_link(page_dir: &Path, log: &str) -> String {
    let abs = std::path::absolute(log).unwrap_or_else(|_| PathBuf::from(log));
    let href = escape(&url_path(&relative(&abs, page_dir)));
    format!("<a href=\"{href}\">{}</a>", escape(log))
}

/// The page's style, one line (`page.css`, no line end).
const STYLE: &str = include_str!("page.css");

/// Filter buttons and sortable headers; `#status=failed,flaky` and `#sort=duration` in the
/// address choose them at load, so a link can show a view (a value that is not valid
/// percent-encoding is ignored, never an error that stops the script).
const SCRIPT: &str = include_str!("page.js");

/// The page of a run's record. `page` is where it will be written (log links are relative to
/// its folder).
pub(crate) fn build(record: &Record, page: &Path) -> String {
    let page_dir = std::path::absolute(page)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let mut h = String::new();
    let title = escape(&format!("ptest run {}", record.run_id));
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n",
    );
    let interrupted = if record.summary.interrupted {
        " <b>Interrupted</b>: running suites were cancelled, the rest skipped."
    } else {
        ""
    };
    let _ = writeln!(
        h,
        "<p id=\"summary\">{}. {}; {} workers.{interrupted}</p>",
        escape(&super::counts_sentence(record, |_, t| t.to_owned())),
        escape(&super::wall_sentence(record)),
        record.workers,
    );
    if let Some(tests) = super::tests_sentence(record) {
        let _ = writeln!(h, "<p id=\"tests\">{}</p>", escape(&tests));
    }
    if record.failures().next().is_some() {
        h.push_str("<h2>Failures</h2>\n");
    }
    for s in record.failures() {
        let _ = writeln!(
            h,
            "<h3 class=\"failure\">{} — {}{}</h3>",
            escape(&s.name),
            escape(s.error()),
            s.log_file
                .as_deref()
                .map(|p| format!(" ({})", log_link(&page_dir, p)))
                .unwrap_or_default(),
        );
        // A batch's failed tests, each with its message and traceback.
        let failed: Vec<&TestCase> = s.cases().iter().filter(|c| c.status.is_failure()).collect();
        if !failed.is_empty() {
            h.push_str("<ul class=\"tests\">\n");
            for c in failed {
                let _ = writeln!(
                    h,
                    "<li><details><summary><code>{}</code> {}{}</summary><pre>{}</pre></details></li>",
                    escape(&c.display()),
                    c.status.label(),
                    escape(&c.summary().map(|m| format!(": {m}")).unwrap_or_default()),
                    escape(c.text.as_deref().unwrap_or(""))
                );
            }
            h.push_str("</ul>\n");
        }
        let _ = writeln!(
            h,
            "<pre>{}</pre>",
            escape(&last_lines(s.tail(), TAIL_LINES).join("\n"))
        );
    }
    timeline(&mut h, record);
    table(&mut h, record, &page_dir);
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

/// One row per worker, one bar per attempt on the worker that ran it, labelled where it fits;
/// under them one row per service instance: lighter from its start to ready, solid from ready
/// to its stop, red when it failed.
fn timeline(h: &mut String, record: &Record) {
    let t0 = crate::record::unix_secs(record.started());
    let attempts: Vec<(&Suite, &crate::record::Attempt)> = record
        .suites
        .iter()
        .flat_map(|s| s.attempts_detail.iter().map(move |a| (s, a)))
        .collect();
    let t1 = attempts
        .iter()
        .map(|(_, a)| a.end_time)
        .chain(record.services.iter().filter_map(service_end))
        .fold(t0 + 0.001, f64::max);
    let lanes = Lanes::of(&attempts, !record.shards.is_empty());
    let workers = lanes.rows.len();
    let rows = (workers + record.services.len()) as f64;
    let (width, row_h, left) = (1000.0, 22.0, 70.0);
    let scale = (width - left) / (t1 - t0);
    let _ = writeln!(
        h,
        "<h2>Timeline</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"timeline: one bar per attempt on its worker{}{}\">",
        rows * row_h + 20.0,
        match lanes.first.keys().next() {
            None => "",
            Some(Lane::Shard(_)) => ", a lane per shard",
            Some(Lane::Node(_)) => ", a lane per machine",
        },
        if record.services.is_empty() {
            ""
        } else {
            ", a row per service instance"
        }
    );
    // A lane per shard or machine: its workers' rows, a line above each lane but the first.
    for (i, (label, line)) in lanes.rows.iter().enumerate() {
        let y = i as f64 * row_h;
        if *line {
            let _ = writeln!(
                h,
                "<line class=\"lane\" x1=\"0\" x2=\"{width}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#999\"/>"
            );
        }
        let _ = writeln!(
            h,
            "<text x=\"0\" y=\"{}\">{}</text>",
            y + 15.0,
            escape(label)
        );
    }
    for (s, a) in &attempts {
        let x = left + (a.start_time - t0).max(0.0) * scale;
        // A pixel between bars that follow each other on a worker.
        let w = ((a.end_time - a.start_time) * scale - 1.0).max(1.0);
        let y = lanes.row(s, a.worker) as f64 * row_h + 2.0;
        let lane = Lane::of(s).filter(|_| !lanes.first.is_empty());
        let on = match lane {
            Some(k) => format!("on {}, worker {}", k.name(false), a.worker),
            None => format!("on worker {}", a.worker),
        };
        let why = a
            .error_message
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<rect class=\"attempt\" data-suite=\"{}\" data-attempt=\"{}\" data-worker=\"{}\"{} x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}</title></rect>",
            escape(&s.name),
            a.attempt,
            a.worker,
            match lane {
                Some(Lane::Shard(k)) => format!(" data-shard=\"{k}\""),
                Some(Lane::Node(n)) => format!(" data-node=\"{}\"", escape(n)),
                None => String::new(),
            },
            row_h - 4.0,
            color(a.status),
            escape(&format!(
                "{} attempt {}/{}: {}{why} in {} {on}",
                s.name,
                a.attempt,
                s.of_attempts(),
                a.status.label(),
                secs(a.duration),
            ))
        );
        // About 6.5 px a character at 11 px: a label only where it fits inside its bar.
        let label = if s.attempts > 1 {
            format!("{} #{}", s.name, a.attempt)
        } else {
            s.name.clone()
        };
        if w >= label.chars().count() as f64 * 6.5 + 6.0 {
            let _ = writeln!(
                h,
                "<text class=\"l\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x + 3.0,
                y + row_h - 9.0,
                escape(&label)
            );
        }
    }
    for (i, v) in record.services.iter().enumerate() {
        let y = (workers + i) as f64 * row_h;
        service_row(h, v, y, row_h, |t| left + (t - t0).max(0.0) * scale, t1);
    }
    let _ = writeln!(
        h,
        "<text x=\"{left}\" y=\"{0}\">0s</text><text x=\"{1}\" y=\"{0}\" text-anchor=\"end\">{2}</text></svg>",
        rows * row_h + 15.0,
        width - 2.0,
        escape(&secs(t1 - t0))
    );
}

/// The lane of a suite in a merged record: the machine that ran it in a queue run, else the
/// shard.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Lane<'a> {
    Shard(u32),
    Node(&'a str),
}

impl<'a> Lane<'a> {
    fn of(s: &'a Suite) -> Option<Lane<'a>> {
        s.node
            .as_deref()
            .map(Lane::Node)
            .or(s.shard.map(Lane::Shard))
    }

    /// How its rows and bars name it: `shard 2`, or the machine's name (its rows' labels cut
    /// to fit the label column).
    fn name(self, cut: bool) -> String {
        match self {
            Lane::Shard(k) => format!("shard {k}"),
            Lane::Node(n) if cut => cut_to(n, 6),
            Lane::Node(n) => n.to_owned(),
        }
    }
}

/// The timeline's worker rows: one per worker of a run; in a merged record whose suites know
/// their shard (or machine), a lane per shard (in shard order) or machine (by name) of as many
/// rows as its workers.
struct Lanes<'a> {
    /// Each lane's first row; empty for a record of one run.
    first: std::collections::BTreeMap<Lane<'a>, usize>,
    /// Each row's label, and whether a line goes above it (a lane's first, but the first).
    rows: Vec<(String, bool)>,
}

impl<'a> Lanes<'a> {
    /// `merged`: the record joins several runs (a run's own record has no lanes, though a
    /// queue machine's suites name it).
    fn of(attempts: &[(&'a Suite, &crate::record::Attempt)], merged: bool) -> Lanes<'a> {
        let mut workers = std::collections::BTreeMap::<Option<Lane>, u32>::new();
        for (s, a) in attempts {
            let n = workers.entry(Lane::of(s).filter(|_| merged)).or_default();
            *n = (*n).max(a.worker.saturating_add(1));
        }
        let (mut first, mut rows) = (std::collections::BTreeMap::new(), Vec::new());
        for (lane, n) in workers {
            if let Some(k) = lane {
                first.insert(k, rows.len());
            }
            for w in 0..n {
                let label = match lane {
                    Some(k) => format!("{} w{w}", k.name(true)),
                    None => format!("worker {w}"),
                };
                rows.push((label, w == 0 && !rows.is_empty()));
            }
        }
        Lanes { first, rows }
    }

    /// The row of an attempt of `s` on `worker`.
    fn row(&self, s: &Suite, worker: u32) -> usize {
        let first = Lane::of(s).and_then(|k| self.first.get(&k));
        first.copied().unwrap_or(0) + worker as usize
    }
}

/// `name` cut to `n` characters and an ellipsis, when longer.
fn cut_to(name: &str, n: usize) -> String {
    let mut label: String = name.chars().take(n).collect();
    if name.chars().count() > n {
        label.push('…');
    }
    label
}

/// When an instance's bar ends: its stop, or its readiness when it has no stop time.
fn service_end(v: &crate::record::Service) -> Option<f64> {
    v.stop_time.or(v.ready_time)
}

/// A service instance's row at `y`: its name (cut to fit the label column), then a light bar
/// while it started and a solid one while it was ready; one running at the end of the record
/// reaches `t1`.
fn service_row(
    h: &mut String,
    v: &crate::record::Service,
    y: f64,
    row_h: f64,
    x_of: impl Fn(f64) -> f64,
    t1: f64,
) {
    let fill = if v.error_message.is_some() {
        color(Status::Failed)
    } else {
        "#1565c0"
    };
    let _ = writeln!(
        h,
        "<text x=\"0\" y=\"{:.1}\">{}</text>",
        y + 15.0,
        escape(&cut_to(&v.instance, 10))
    );
    let end = v.stop_time.unwrap_or(t1);
    let ready = v.ready_time.unwrap_or(end).min(end);
    let why = v
        .error_message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let was = v.ready_time.map_or("never ready".into(), |r| {
        format!("ready in {}", secs(r - v.start_time))
    });
    let up = secs(end - v.start_time);
    let title = format!("service {}: {was}, up {up}{why}", v.instance);
    for (from, to, opacity, part) in [
        (v.start_time, ready, 0.35, "starting"),
        (ready, end, 1.0, "ready"),
    ] {
        if to <= from && part == "ready" {
            continue;
        }
        let x = x_of(from);
        let w = (x_of(to) - x).max(1.0);
        let _ = writeln!(
            h,
            "<rect class=\"service\" data-service=\"{}\" data-part=\"{part}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{fill}\" fill-opacity=\"{opacity}\"><title>{}</title></rect>",
            escape(&v.instance),
            y + 2.0,
            row_h - 4.0,
            escape(&title)
        );
    }
}

/// Every suite, failures first; filter buttons per status that occurs, sortable columns.
fn table(h: &mut String, record: &Record, page_dir: &Path) {
    let mut order: Vec<&Suite> = record.suites.iter().collect();
    order.sort_by_key(|s| severity(s.status));
    h.push_str("<h2>Suites</h2>\n<p class=\"filters\">Show: ");
    for same in order.chunk_by(|a, b| a.status == b.status) {
        let _ = write!(
            h,
            "<button type=\"button\" data-status=\"{0}\" aria-pressed=\"false\">{0} ({1})</button>",
            same[0].status.label(),
            same.len()
        );
    }
    let _ = writeln!(
        h,
        " <span><span id=\"shown\">{}</span> shown</span></p>",
        record.suites.len()
    );
    h.push_str("<table id=\"suites\"><thead><tr>");
    for key in [
        "suite", "status", "duration", "attempts", "worker", "category", "phase", "details", "log",
    ] {
        let _ = write!(h, "<th data-key=\"{key}\">{key}</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    for s in order {
        let details = match s.status {
            Status::Flaky => format!(
                "passed on attempt {}/{} (before: {})",
                s.attempts,
                s.of_attempts(),
                s.failed_before()
            ),
            _ => s.why().to_owned(),
        };
        // A batch's testcases: counts by outcome, and every one of them folded under that.
        let counted = super::tests_counted(s.cases()).map(|(n, parts)| format!("{n}: {parts}"));
        let (sort_key, tests) = match counted {
            Some(counts) => (
                format!("{details} {counts}").trim().to_owned(),
                test_list(s.cases(), &counts),
            ),
            None => (details.clone(), String::new()),
        };
        let workers = s.attempts_detail.iter().map(|a| a.worker.to_string());
        let workers = workers.collect::<Vec<_>>().join(", ");
        let log = s.log_file.as_deref();
        let _ = writeln!(
            h,
            "<tr data-status=\"{status}\"><td data-v=\"{name}\">{name}</td>\
<td data-v=\"{sev}\"><span class=\"b\" style=\"background:{color}\">{status}</span></td>\
<td data-v=\"{secs:.3}\">{dur}</td><td data-v=\"{attempts}\">{attempts}</td>\
<td data-v=\"{workers}\">{workers}</td><td data-v=\"{cat}\">{cat}</td><td data-v=\"{phase}\">{phase}</td>\
<td class=\"d\" data-v=\"{sort_key}\">{details}{tests}</td><td data-v=\"{logv}\">{logh}</td></tr>",
            status = s.status.label(),
            name = escape(&s.name),
            sev = severity(s.status),
            color = color(s.status),
            secs = s.duration,
            dur = escape(&secs(s.duration)),
            attempts = s.attempts,
            cat = escape(&s.category),
            phase = escape(&s.phase),
            details = escape(&details),
            sort_key = escape(&sort_key),
            logv = log.map(escape).unwrap_or_default(),
            logh = log.map(|p| log_link(page_dir, p)).unwrap_or_default(),
        );
    }
    h.push_str("</tbody></table>\n");
}

/// Every testcase of a batch's part, failures first, folded under `counts` (a part may hold
/// thousands).
fn test_list(cases: &[TestCase], counts: &str) -> String {
    // As a suite's status would be: failures first, then flaky, skipped, passed.
    let status = |c: &TestCase| match c.status {
        Outcome::Passed if c.is_flaky() => Status::Flaky,
        Outcome::Passed => Status::Passed,
        Outcome::Skipped => Status::Skipped,
        Outcome::Failed | Outcome::Error => Status::Failed,
    };
    let mut order: Vec<&TestCase> = cases.iter().collect();
    order.sort_by_key(|c| severity(status(c)));
    let mut h = format!(
        "<details class=\"tests\"><summary>{}</summary><table>",
        escape(counts)
    );
    for c in order {
        let why = c
            .is_flaky()
            .then(|| format!("passed on attempt {} (before: {})", c.attempts, c.before()))
            .or_else(|| c.summary().map(str::to_owned));
        let _ = write!(
            h,
            "<tr data-test-status=\"{label}\"><td><span class=\"b\" style=\"background:{color}\">{label}</span></td>\
<td>{time}</td><td><code>{name}</code>{why}</td></tr>",
            label = if c.is_flaky() {
                "flaky"
            } else {
                c.status.label()
            },
            color = color(status(c)),
            time = c.duration.map(|d| escape(&secs(d))).unwrap_or_default(),
            name = escape(&c.display()),
            why = why.map(|m| format!(" {}", escape(&m))).unwrap_or_default(),
        );
    }
    h.push_str("</table></details>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn log_links_are_relative_to_the_page_and_url_encoded() {
        assert_eq!(
            relative(Path::new("/p/test-logs/a.log"), Path::new("/p/out/html")),
            Path::new("../../test-logs/a.log")
        );
        assert_eq!(
            relative(Path::new("/p/test-logs/a.log"), Path::new("/p")),
            Path::new("test-logs/a.log")
        );
        assert_eq!(
            url_path(Path::new("a b/#?&\"x.log")),
            "a%20b/%23%3F%26%22x.log"
        );
    }

    use crate::event::{AttemptDetail, SuiteResult};
    use crate::plan::tests::plan;
    use crate::report::tests::{record_of, result, with_log};
    use std::time::Duration;

    fn page(plan: &Plan, results: &[SuiteResult], interrupted: bool) -> String {
        let record = record_of(plan, results, 10.0, interrupted, &[]);
        build(&record, &plan.log_dir.join("report.html"))
    }

    const MIXED: &str = r#"
        ptest.config { workers = 2 }
        ptest.suite { name = "ok", cmd = "true", category = "unit" }
        ptest.suite { name = "<img src=x onerror=alert(1)>", cmd = "true" }
        ptest.suite { name = "shaky", cmd = "true", retry = 1 }
        ptest.suite { name = "never", cmd = "true" }
    "#;

    #[test]
    fn the_page_sums_up_the_run_and_escapes_every_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(MIXED);
        let bad = "<img src=x onerror=alert(1)>";
        let results = vec![
            result(&p, "ok", Status::Passed, 2.0),
            with_log(
                result(&p, bad, Status::Failed, 1.0),
                dir.path(),
                "\x1b[31m<b>boom</b>\x1b[0m\n",
            ),
            result(&p, "shaky", Status::Flaky, 3.0),
            result(&p, "never", Status::Skipped, 0.0),
        ];
        let h = page(&p, &results, false);
        assert!(h.starts_with("<!doctype html>\n<html lang=\"en\">"), "{h}");
        assert!(h.contains("<title>ptest run run-1</title>"));
        assert!(
            h.contains(
                "<p id=\"summary\">4 suites: 1 passed, 1 flaky, 1 failed, 1 skipped. Wall 10.0s for 4 suites; the suites&#39; own time 6.0s; 2 workers.</p>"
            ),
            "{h}"
        );
        assert!(!h.contains("<img"), "a name is never markup");
        assert!(h.contains("&lt;img src=x onerror=alert(1)&gt;"));
        // The failure's tail: escaped, colour codes removed.
        assert!(h.contains("<pre>&lt;b&gt;boom&lt;/b&gt;</pre>"), "{h}");
        assert!(!h.contains('\x1b'));
        assert_eq!(h.matches("<h3 class=\"failure\">").count(), 1);
        assert!(h.ends_with("</script>\n</body></html>\n"));
    }

    #[test]
    fn an_interrupted_run_says_so_instead_of_a_speedup() {
        let p = plan(MIXED);
        let h = page(&p, &[result(&p, "ok", Status::Cancelled, 1.0)], true);
        assert!(
            h.contains(
                "2 workers. <b>Interrupted</b>: running suites were cancelled, the rest skipped.</p>"
            ),
            "{h}"
        );
        assert!(!h.contains("speedup"));
        assert!(
            !h.contains("<h2>Failures</h2>"),
            "a cancel is not a failure"
        );
    }

    #[test]
    fn the_table_puts_failures_first_with_a_filter_per_status_present() {
        let p = plan(MIXED);
        let results = vec![
            result(&p, "ok", Status::Passed, 2.0),
            result(&p, "shaky", Status::Flaky, 3.0),
            result(&p, "never", Status::Skipped, 0.0),
            result(&p, "<img src=x onerror=alert(1)>", Status::TimedOut, 1.0),
        ];
        let h = page(&p, &results, false);
        let rows: Vec<&str> = h
            .lines()
            .filter(|l| l.starts_with("<tr data-status="))
            .map(|l| l.split('"').nth(1).unwrap())
            .collect();
        assert_eq!(rows, ["timed_out", "flaky", "skipped", "passed"]);
        assert!(
            h.contains(
                "Show: <button type=\"button\" data-status=\"timed_out\" aria-pressed=\"false\">timed_out (1)</button><button type=\"button\" data-status=\"flaky\" aria-pressed=\"false\">flaky (1)</button><button type=\"button\" data-status=\"skipped\" aria-pressed=\"false\">skipped (1)</button><button type=\"button\" data-status=\"passed\" aria-pressed=\"false\">passed (1)</button> <span><span id=\"shown\">4</span> shown</span>"
            ),
            "{h}"
        );
        assert!(
            !h.contains("data-status=\"failed\""),
            "no button for a status no suite has"
        );
        // The flaky row says which attempt passed and what failed before.
        assert!(
            h.contains("passed on attempt 2/2 (before: exit code 1)"),
            "{h}"
        );
        // Sortable by a number: the seconds, not the human form.
        assert!(h.contains("<td data-v=\"3.000\">3.0s</td>"), "{h}");
    }

    #[test]
    fn the_timeline_has_a_bar_per_attempt_on_its_worker() {
        let p = plan(MIXED);
        let mut shaky = result(&p, "shaky", Status::Flaky, 4.0);
        let first = shaky.attempts_detail[0].clone();
        shaky.attempts_detail = vec![
            AttemptDetail {
                attempt: 1,
                worker: 1,
                duration: Duration::from_secs(1),
                end: first.start + Duration::from_secs(1),
                status: Status::Failed,
                message: Some("exit code 1".into()),
                ..first.clone()
            },
            AttemptDetail {
                attempt: 2,
                worker: 0,
                start: first.start + Duration::from_secs(2),
                end: first.start + Duration::from_secs(4),
                duration: Duration::from_secs(2),
                ..first
            },
        ];
        let results = vec![
            result(&p, "ok", Status::Passed, 4.0),
            shaky,
            result(&p, "never", Status::Skipped, 0.0),
            result(&p, "<img src=x onerror=alert(1)>", Status::Passed, 0.1),
        ];
        let h = page(&p, &results, false);
        let bars: Vec<&str> = h
            .lines()
            .filter(|l| l.starts_with("<rect class=\"attempt\""))
            .collect();
        assert_eq!(bars.len(), 4, "a skipped suite has no bar: {h}");
        assert!(h.contains("<text x=\"0\" y=\"15\">worker 0</text>"));
        assert!(h.contains("<text x=\"0\" y=\"37\">worker 1</text>"));
        assert!(!h.contains("worker 2</text>"));
        let failed = bars
            .iter()
            .find(|b| b.contains("data-attempt=\"1\"") && b.contains("data-suite=\"shaky\""))
            .unwrap();
        assert!(failed.contains("data-worker=\"1\""), "{failed}");
        assert!(failed.contains("fill=\"#c62828\""), "{failed}");
        assert!(
            failed.contains(
                "<title>shaky attempt 1/2: failed (exit code 1) in 1.0s on worker 1</title>"
            ),
            "{failed}"
        );
        // Labels name the attempt of a retried suite, where the bar is wide enough.
        assert!(h.contains(">shaky #2</text>"), "{h}");
        assert!(h.contains(">ok</text>"), "{h}");
        // A bar too narrow for its name has none (its title still names it).
        assert!(!h.contains("&gt;</text>"), "{h}");
        assert!(h.contains("<title>&lt;img src=x onerror=alert(1)&gt; attempt 1/1: passed in 100ms on worker 0</title>"), "{h}");
        assert!(h.contains("text-anchor=\"end\">4.0s</text></svg>"), "{h}");
    }

    #[test]
    fn a_batchs_failed_tests_are_listed_with_their_traceback() {
        let p = crate::plan::tests::plan(
            r#"ptest.batch { name = "py", items = { "tests/test_a.py" }, batches = 1,
                 cmd = { "true", "{items}" }, results = "r.xml" }"#,
        );
        let mut r = result(&p, "py[1]", Status::Failed, 1.0);
        r.testcases = vec![crate::batch::results::TestCase {
            message: Some("assert 1 == <2>".into()),
            text: Some("Traceback <here>".into()),
            ..crate::report::tests::test_case(
                "test_x",
                Some("tests/test_a.py"),
                crate::batch::results::Outcome::Failed,
            )
        }];
        let h = page(&p, &[r], false);
        assert!(
            h.contains(
                "<li><details><summary><code>tests/test_a.py::test_x</code> failed: assert 1 == &lt;2&gt;</summary><pre>Traceback &lt;here&gt;</pre></details></li>"
            ),
            "{h}"
        );
    }

    #[test]
    fn severities_order_failures_first() {
        let mut all = [
            Status::Passed,
            Status::Skipped,
            Status::Flaky,
            Status::Cancelled,
            Status::TimedOut,
            Status::Failed,
        ];
        all.sort_by_key(|s| severity(*s));
        assert_eq!(
            all,
            [
                Status::Failed,
                Status::TimedOut,
                Status::Cancelled,
                Status::Flaky,
                Status::Skipped,
                Status::Passed
            ]
        );
        assert_eq!(color(Status::Failed), color(Status::TimedOut));
    }
}
