//! The text of a history file. Format 2, which this build writes, is JSON laid out one name to
//! a line, each run a row of figures in `RUN_FIELDS` order:
//!
//! ```text
//! {"format_version":2,"run_fields":["time","status","duration","attempts","peak_rss_kb","cpu_time"],
//! "suites":{
//! "unit":{"runs":[[1764637645,"passed",12.3,1,81234,11.9],[1764641245,"cancelled"]]},
//! "lint":{"runs":[[1764637645,"passed",2.1,1,30112,2]]}
//! },
//! "items":{
//! }}
//! ```
//!
//! so that a run reads the lines of the names it declares and copies every other line through
//! as bytes (`store`). Format 1 (one object per run, any layout) is still read, whole, and
//! rewritten as format 2 by the next run. Pure: bytes in, records out; files are `store`'s.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

use super::{Entry, FORMAT_VERSION, Records, Run};

/// The order of a run's figures in its row; trailing figures it does not have are left out.
pub(crate) const RUN_FIELDS: [&str; 6] = [
    "time",
    "status",
    "duration",
    "attempts",
    "peak_rss_kb",
    "cpu_time",
];

/// The layout's fixed lines, each with its newline.
pub(crate) const HEADER: &[u8] = b"{\"format_version\":2,\"run_fields\":[\"time\",\"status\",\"duration\",\"attempts\",\"peak_rss_kb\",\"cpu_time\"],\n";
pub(crate) const SUITES_OPEN: &[u8] = b"\"suites\":{\n";
pub(crate) const SUITES_CLOSE: &[u8] = b"},\n";
pub(crate) const ITEMS_OPEN: &[u8] = b"\"items\":{\n";
pub(crate) const ITEMS_CLOSE: &[u8] = b"}}\n";

/// Append `r` as a row: `[time,"status",duration,attempts,peak_rss_kb,cpu_time]`, `null` for a
/// figure it lacks before one it has.
pub(crate) fn push_run(out: &mut Vec<u8>, r: &Run) {
    use std::io::Write;
    enum Figure {
        Secs(f32),
        Count(u32),
    }
    let figures = [
        r.duration.map(Figure::Secs),
        r.attempts.map(Figure::Count),
        r.peak_rss_kb.map(Figure::Count),
        r.cpu_time.map(Figure::Secs),
    ];
    let _ = write!(out, "[{},\"{}\"", r.time, r.status.label());
    let n = figures
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |i| i + 1);
    for f in &figures[..n] {
        // Writing to a Vec cannot fail. Rust prints the shortest text that reads back as the
        // same f32, never with an exponent: valid JSON.
        let _ = match f {
            Some(Figure::Secs(x)) if x.is_finite() => write!(out, ",{x}"),
            Some(Figure::Count(x)) => write!(out, ",{x}"),
            _ => write!(out, ",null"),
        };
    }
    out.push(b']');
}

/// Append one name's line without its separator: `"NAME":{"runs":[ROW,...]}`.
pub(crate) fn push_entry(out: &mut Vec<u8>, name: &str, runs: &[Run]) {
    // A String always serializes.
    let _ = serde_json::to_writer(&mut *out, name);
    out.extend_from_slice(b":{\"runs\":[");
    for (i, r) in runs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_run(out, r);
    }
    out.extend_from_slice(b"]}");
}

/// A name's line, split: its decoded name, its value's bytes, and whether a comma follows.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    pub key: Cow<'a, str>,
    pub value: &'a [u8],
    pub comma: bool,
}

/// `line` (without its newline) as a name's line of the format 2 layout, or `None`. The value is
/// checked for its shape only: it is parsed when the run needs it.
pub(crate) fn split_line(line: &[u8]) -> Option<Line<'_>> {
    let (line, comma) = match line.strip_suffix(b",") {
        Some(l) => (l, true),
        None => (line, false),
    };
    if line.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1 + memchr::memchr2(b'"', b'\\', &line[1..])?;
    let escaped = line[i] == b'\\';
    while line[i] != b'"' {
        i += if line[i] == b'\\' { 2 } else { 1 };
        line.get(i)?;
    }
    if line[1..i].iter().any(|b| *b < 0x20) {
        return None;
    }
    let key = if escaped {
        Cow::Owned(serde_json::from_slice::<String>(&line[..=i]).ok()?)
    } else {
        Cow::Borrowed(std::str::from_utf8(&line[1..i]).ok()?)
    };
    let value = line[i + 1..].strip_prefix(b":")?;
    (value.starts_with(b"{\"runs\":[") && value.ends_with(b"]}")).then_some(Line {
        key,
        value,
        comma,
    })
}

/// A row, read back.
struct Row(Run);

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Row, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = Row;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a run as [time, status, duration, attempts, peak_rss_kb, cpu_time]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Row, A::Error> {
                let time = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let status = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let run = Run {
                    time,
                    status,
                    duration: seq.next_element::<Option<f32>>()?.flatten(),
                    attempts: seq.next_element::<Option<u32>>()?.flatten(),
                    peak_rss_kb: seq.next_element::<Option<u32>>()?.flatten(),
                    cpu_time: seq.next_element::<Option<f32>>()?.flatten(),
                };
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(7, &self));
                }
                Ok(Row(run))
            }
        }
        d.deserialize_seq(RowVisitor)
    }
}

#[derive(Deserialize)]
struct EntryV2 {
    runs: Vec<Row>,
}

impl From<EntryV2> for Entry {
    fn from(e: EntryV2) -> Entry {
        Entry {
            runs: e.runs.into_iter().map(|r| r.0).collect(),
        }
    }
}

/// A name's value in format 2 (`{"runs":[...]}`), its runs oldest first.
pub(crate) fn parse_value(value: &[u8]) -> Result<Vec<Run>, String> {
    serde_json::from_slice::<EntryV2>(value)
        .map(|e| Entry::from(e).runs)
        .map_err(|e| format!("not a ptest history ({e})"))
}

/// A whole file, in any layout: format 2, or format 1 (migrated). The error says why it is not
/// a history this build can use.
pub(crate) fn parse_whole(bytes: &[u8]) -> Result<Records, String> {
    #[derive(Deserialize)]
    struct Version {
        format_version: Option<u64>,
    }
    #[derive(Deserialize)]
    struct V1 {
        #[serde(default)]
        suites: BTreeMap<String, Entry>,
        #[serde(default)]
        items: BTreeMap<String, Entry>,
    }
    #[derive(Deserialize)]
    struct V2 {
        run_fields: Option<Vec<String>>,
        #[serde(default)]
        suites: BTreeMap<String, EntryV2>,
        #[serde(default)]
        items: BTreeMap<String, EntryV2>,
    }
    let not_ours = |e: serde_json::Error| format!("not a ptest history ({e})");
    let version = serde_json::from_slice::<Version>(bytes)
        .map_err(not_ours)?
        .format_version;
    match version {
        Some(1) => {
            let v1: V1 = serde_json::from_slice(bytes).map_err(not_ours)?;
            Ok(Records {
                suites: v1.suites,
                items: v1.items,
            })
        }
        Some(2) => {
            let v2: V2 = serde_json::from_slice(bytes).map_err(not_ours)?;
            if let Some(fields) = v2.run_fields.filter(|f| *f != RUN_FIELDS) {
                return Err(format!(
                    "not a ptest history (run_fields {fields:?}, expected {RUN_FIELDS:?})"
                ));
            }
            let entries = |m: BTreeMap<String, EntryV2>| {
                m.into_iter().map(|(n, e)| (n, Entry::from(e))).collect()
            };
            Ok(Records {
                suites: entries(v2.suites),
                items: entries(v2.items),
            })
        }
        Some(v) if v > u64::from(FORMAT_VERSION) => Err(format!(
            "it has format_version {v}, newer than this ptest reads ({FORMAT_VERSION})"
        )),
        Some(v) => Err(format!("unknown format_version {v}")),
        None => Err("not a ptest history (no format_version)".into()),
    }
}

/// `records` in the format 2 layout, names in order.
pub(crate) fn write_whole(out: &mut impl std::io::Write, records: &Records) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(4096);
    out.write_all(HEADER)?;
    for (open, map, close) in [
        (SUITES_OPEN, &records.suites, SUITES_CLOSE),
        (ITEMS_OPEN, &records.items, ITEMS_CLOSE),
    ] {
        out.write_all(open)?;
        for (i, (name, entry)) in map.iter().enumerate() {
            line.clear();
            push_entry(&mut line, name, &entry.runs);
            line.extend_from_slice(if i + 1 < map.len() { b",\n" } else { b"\n" });
            out.write_all(&line)?;
        }
        out.write_all(close)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Status;
    use crate::history::record;

    #[test]
    fn the_header_says_what_this_build_writes() {
        let mut doc = HEADER.to_vec();
        doc.extend_from_slice(b"\"suites\":{}}");
        let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["format_version"], FORMAT_VERSION);
        assert_eq!(v["run_fields"], serde_json::json!(RUN_FIELDS));
    }

    #[test]
    fn rows_leave_out_what_a_run_does_not_have() {
        let mut out = Vec::new();
        push_entry(
            &mut out,
            "a \"b\"",
            &[
                record(Status::Passed, 7, 1.5, 1, Some(300), Some(0.25)),
                record(Status::Failed, 8, 2.0, 2, None, None),
                record(Status::Cancelled, 9, 2.0, 2, Some(1), None),
                Run {
                    cpu_time: Some(1.0),
                    ..record(Status::Passed, 10, 1.0, 1, None, None)
                },
            ],
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#""a \"b\"":{"runs":[[7,"passed",1.5,1,300,0.25],[8,"failed",2,2],[9,"cancelled"],[10,"passed",1,1,null,1]]}"#
        );
        let line = split_line(&out).unwrap();
        assert_eq!(line.key, "a \"b\"");
        assert!(!line.comma);
        let runs = parse_value(line.value).unwrap();
        assert_eq!(
            runs[0],
            record(Status::Passed, 7, 1.5, 1, Some(300), Some(0.25))
        );
        assert_eq!(runs[2], record(Status::Cancelled, 9, 0.0, 0, None, None));
        assert_eq!(runs[3].peak_rss_kb, None);
        assert_eq!(runs[3].cpu_time, Some(1.0));
    }

    #[test]
    fn lines_of_another_shape_are_not_names() {
        for l in [
            &b"\"a\":{\"runs\":[]},"[..],
            b"\"a\":{\"runs\":[[1,\"passed\"]]}",
        ] {
            assert!(split_line(l).is_some(), "{}", String::from_utf8_lossy(l));
        }
        for l in [
            &b"\"a\": {\"runs\":[]}"[..],
            b"\"a\":{\"runs\":[]",
            b"\"a",
            b"},",
            b"\"a\tb\":{\"runs\":[]}",
        ] {
            assert!(split_line(l).is_none(), "{}", String::from_utf8_lossy(l));
        }
    }

    #[test]
    fn format_1_is_read_and_format_2_round_trips() {
        let v1 = br#"{"format_version": 1, "suites": {"a": {"runs": [
            {"time": 5, "status": "passed", "duration": 1.5, "attempts": 1, "peak_rss_kb": 10},
            {"time": 6, "status": "cancelled"}]}}, "items": {"b/x": {"runs": []}}}"#;
        let r = parse_whole(v1).unwrap();
        assert_eq!(r.suites["a"].runs.len(), 2);
        assert_eq!(r.suites["a"].expected(), Some(1.5));
        assert!(r.items.contains_key("b/x"));
        let mut text = Vec::new();
        write_whole(&mut text, &r).unwrap();
        assert!(text.starts_with(HEADER));
        assert_eq!(parse_whole(&text).unwrap(), r);
        // Another layout of format 2 (pretty-printed by a person) reads the same.
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        assert_eq!(parse_whole(&pretty).unwrap(), r);
    }

    #[test]
    fn newer_or_foreign_files_say_why() {
        let e = parse_whole(br#"{"format_version": 3, "suites": 1}"#).unwrap_err();
        assert!(e.contains("format_version 3, newer"), "{e}");
        let e = parse_whole(b"[1]").unwrap_err();
        assert!(e.starts_with("not a ptest history"), "{e}");
        let e =
            parse_whole(br#"{"format_version":2,"run_fields":["time"],"suites":{}}"#).unwrap_err();
        assert!(e.contains("run_fields"), "{e}");
    }
}
