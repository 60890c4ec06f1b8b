//! What people read. The run's record rendered when the run ends (JSON, JUnit, HTML, the GitHub
//! step summary, the terminal's summary: each a function of the record), the sinks that follow a
//! run as it goes (terminal lines, the live view, `--events`, GitHub annotations), and the views
//! of a plan (`listing` for `ptest list` and `ptest plan`, `graph` for `ptest graph`). None
//! changes run state, and none opens a file a record names.

pub(crate) mod events;
pub(crate) mod github;
pub(crate) mod graph;
pub(crate) mod html;
pub(crate) mod junit;
pub(crate) mod listing;
pub(crate) mod live;
pub(crate) mod shards;
pub(crate) mod style;
pub(crate) mod terminal;

use std::borrow::Cow;
use std::io::BufWriter;
use std::path::PathBuf;

use crate::duration::human;
use crate::event::{Event, RunInfo, Sink};
use crate::plan::Plan;
use crate::record::{Record, Status};
pub(crate) use crate::record::{display_path, unix_secs};

/// `4 suites: 1 passed, 1 flaky, 1 failed` with the counts above zero (and the passed always),
/// each given to `styled` with its status (the terminal colours them).
pub(crate) fn counts_sentence(record: &Record, styled: impl Fn(Status, &str) -> String) -> String {
    let s = &record.summary;
    let parts: Vec<String> = s
        .counts()
        .iter()
        .filter(|(n, st)| *n > 0 || *st == Status::Passed)
        .map(|(n, st)| styled(*st, &format!("{n} {}", st.label().replace('_', " "))))
        .collect();
    format!("{} suite{}: {}", s.total, plural(s.total), parts.join(", "))
}

/// What the run's wall time paid for, and what its parts cost on their own: `Wall 22.0s for
/// 8,294 tests; the parts' own time 39.4s`. No speedup: the baseline it would compare with (the
/// user's plain runner) was never measured.
pub(crate) fn wall_sentence(record: &Record) -> String {
    let tests = record.cases().count();
    let ran = || record.suites.iter().filter(|s| s.attempts > 0);
    let plain = ran().filter(|s| s.cases().is_empty()).count();
    let what = match (tests, plain) {
        (0, _) => counted(record.summary.total, "suite"),
        (t, 0) => counted(t, "test"),
        (t, p) => format!("{} and {p} other suite{}", counted(t, "test"), plural(p)),
    };
    let parts = ran().next().is_some() && ran().all(|s| s.batch.is_some());
    format!(
        "Wall {} for {what}; the {}' own time {}",
        secs(record.duration),
        if parts { "parts" } else { "suites" },
        secs(record.summary.sequential_time),
    )
}

/// How many tests batches reported, by outcome: `5 tests in batches' results: 3 passed, 1
/// failed, 1 skipped`; `None` without any.
pub(crate) fn tests_sentence(record: &Record) -> Option<String> {
    tests_counted(record.cases()).map(|(n, parts)| format!("{n} in batches' results: {parts}"))
}

/// `5 tests` and `3 passed (1 flaky), 1 failed, 1 skipped` for some testcases; `None` for
/// none. A flaky test (failed, then passed on a retry) counts among the passed, named as such.
pub(crate) fn tests_counted<'a>(
    cases: impl IntoIterator<Item = &'a crate::record::TestCase> + Clone,
) -> Option<(String, String)> {
    let flaky = crate::record::flaky_count(cases.clone());
    let counts = crate::record::outcome_counts(cases);
    let total: usize = counts.iter().map(|(n, _)| n).sum();
    let parts: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, o)| match o {
            crate::record::Outcome::Passed if flaky > 0 => {
                format!("{n} {} ({flaky} flaky)", o.label())
            }
            _ => format!("{n} {}", o.label()),
        })
        .collect();
    (total > 0).then(|| (counted(total, "test"), parts.join(", ")))
}

/// `8,294 tests`, `1 suite`.
pub(crate) fn counted(n: usize, what: &str) -> String {
    format!("{} {what}{}", thousands(n), plural(n))
}

/// Seconds as people read them: `2.5s`, `1m 3s`.
pub(crate) fn secs(s: f64) -> String {
    human(crate::duration::from_secs_lossy(s))
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `8,294`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let groups: Vec<_> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(String::from_utf8_lossy)
        .collect();
    groups.join(",")
}

/// Text from suites, tests and their output as a terminal or a CI log may show it: control
/// characters (line breaks included; tabs kept) and the characters that reorder text
/// (bidirectional overrides and isolates) written as escapes (`\n`, `\u{202e}`), so a test's
/// name cannot start a line of its own (`::error ...` read by a CI runner), move the cursor, or
/// make what follows read backwards.
pub(crate) fn shown(s: &str) -> Cow<'_, str> {
    escaped(s, false)
}

/// [`shown`], line breaks kept: for text whose lines are escaped again after (GitHub's
/// workflow-command data).
pub(crate) fn shown_lines(s: &str) -> Cow<'_, str> {
    escaped(s, true)
}

fn escaped(s: &str, keep_lines: bool) -> Cow<'_, str> {
    let bad = |c: char| {
        (c.is_control() && c != '\t' && !(keep_lines && c == '\n'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{200E}' | '\u{200F}')
    };
    if !s.contains(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if !keep_lines => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if bad(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The files a run's record is written to when the run ends (also after fail-fast and Ctrl-C):
/// `test-report.json` and `--report`, `--junit`, `--html`; and those of `ptest merge`. One that
/// cannot be written is named in `errors`, the others are still written.
#[derive(Default)]
pub(crate) struct Files {
    pub json: Vec<PathBuf>,
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub errors: Vec<String>,
}

impl Files {
    pub(crate) fn write(&mut self, record: &Record, discard: &crate::safe_write::Discard) {
        use crate::safe_write::write_by;
        // Each written as it is serialized (a merged report of many shards is never a second
        // copy in memory), a reader never seeing half of one.
        let mut written: Vec<(&str, &PathBuf, std::io::Result<()>)> = Vec::new();
        for p in &self.json {
            let w = write_by(p, |f| json_to(BufWriter::new(f), record), discard);
            written.push(("report", p, w));
        }
        if let Some(p) = &self.junit {
            let xml = junit::of_record(record);
            let w = write_by(p, |f| junit::write(&xml, BufWriter::new(f)), discard);
            written.push(("JUnit report", p, w));
        }
        if let Some(p) = &self.html {
            let page = html::build(record, p);
            let w = crate::safe_write::write(p, page.as_bytes(), discard);
            written.push(("HTML report", p, w));
        }
        for (what, p, w) in written {
            if let Err(e) = w {
                let e = crate::io_message(&e);
                self.errors
                    .push(format!("cannot write {what} {}: {e}", p.display()));
            }
        }
    }
}

/// `LOG_DIR/test-report.json` (DESIGN §6), `--report FILE` and `ptest merge -o`: the record as
/// JSON.
fn json_to(mut out: impl std::io::Write, record: &Record) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut out, record).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

impl Sink for Files {
    fn event(&mut self, _plan: &Plan, run: &RunInfo, event: &Event<'_>) {
        if let Event::RunFinished { record, .. } = event {
            self.write(record, &run.discard);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
