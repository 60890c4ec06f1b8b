//! Per-test results a batch's command wrote (DESIGN §9 `results`): JUnit XML, as pytest's
//! `--junitxml` (xunit1 with `file`, or xunit2), jest-junit, vitest, node's junit reporter,
//! go-junit-report, nextest and cargo2junit write it (`testsuite`/`testcase` elements with
//! `failure`, `error` and `skipped` children), or the event stream of `go test -json`, told apart
//! by content. Each testcase is attributed to one of the batch's items (its `file`, else its
//! `classname`, ...). Reads a stream within the caps of `bounded`; opening the file is the
//! caller's ([`super::parts::open`]).

use std::io::{BufRead, BufReader, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::bounded::{Budget, Capped, Clip, Clipped, Limits};

pub(crate) use super::case::{Outcome, TestCase};

/// What a results file held, as far as the caps let it be kept.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub cases: Vec<TestCase>,
    /// What was left out of the file as a whole (testcases past the cap, bytes past the cap),
    /// for a warning.
    pub left_out: Option<String>,
}

/// Every testcase in a results file, in the order it reports them: JUnit XML when it starts
/// with `<`, else `go test -json` output (which starts with a JSON object, or, when go 1.19 to
/// 1.23 could not build the first package, with a plain `FAIL pkg [build failed]`). Read as a
/// stream, in one pass, within `limits` ([`super::bounded`]).
pub(crate) fn read(from: impl Read, limits: Limits) -> Result<Parsed, String> {
    let capped = Capped::new(from, limits.file_bytes);
    let truncated = capped.truncated.clone();
    let mut input = BufReader::with_capacity(64 * 1024, capped);
    let mut budget = Budget::new(limits);
    let first = skip_space(&mut input).map_err(|e| crate::io_message(&e))?;
    let cases = match first {
        Some(b'<') | None => junit(input, &mut budget, &truncated)?,
        Some(_) => super::gojson::cases(input, &mut budget)?,
    };
    budget.truncated = truncated.get();
    Ok(Parsed {
        cases,
        left_out: budget.warning(),
    })
}

/// Past a byte order mark and white space; the first byte after them.
fn skip_space(input: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    if input.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let spaces = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if let Some(&first) = buf.get(spaces) {
            input.consume(spaces);
            return Ok(Some(first));
        }
        input.consume(spaces);
    }
}

/// An enclosing testsuite while its testcases are read.
struct Span {
    time: Option<f64>,
    /// Its first testcase's index.
    first: usize,
    /// Seconds its testcases hold (their times, and the shares nested testsuites gave them).
    spent: f64,
}

/// Every testcase in a JUnit XML document, in document order.
fn junit(
    input: impl BufRead,
    budget: &mut Budget,
    truncated: &std::cell::Cell<bool>,
) -> Result<Vec<TestCase>, String> {
    let limits = *budget.limits();
    let mut reader = Reader::from_reader(BufReader::with_capacity(
        64 * 1024,
        Clip::new(input, limits),
    ));
    let mut buf = Vec::new();
    let mut out = Vec::new();
    // Names and files of the enclosing testsuites (they nest in some writers).
    let mut suites: Vec<(Option<String>, Option<String>)> = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    // What testsuites' times leave to their testcases, as (first, end, each): applied at the
    // end, in one pass (nested testsuites would make it quadratic).
    let mut shares: Vec<(usize, usize, f64)> = Vec::new();
    let mut case: Option<(TestCase, Clipped)> = None;
    // Inside a failure/error/skipped element: its text goes to the testcase.
    let mut in_detail = false;
    let mut seen_root = false;
    let finish = |(mut c, text): (TestCase, Clipped),
                  out: &mut Vec<TestCase>,
                  spans: &mut Vec<Span>,
                  budget: &mut Budget| {
        if let Some(s) = spans.last_mut() {
            s.spent += c.time.unwrap_or(0.0);
        }
        if !text.is_empty() {
            c.text = Some(budget.text(text.finish()));
        }
        if let Some(m) = c.message.take() {
            c.message = Some(budget.text(m));
        }
        if budget.take_case(&c) {
            out.push(c);
        }
    };
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not valid XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(e) => {
                seen_root = true;
                match e.local_name().as_ref() {
                    b"testsuite" => {
                        suites.push((attr(&e, b"name"), attr(&e, b"file")));
                        spans.push(Span {
                            time: seconds(&e),
                            first: out.len(),
                            spent: 0.0,
                        });
                    }
                    b"testcase" => {
                        if let Some(c) = case.take() {
                            finish(c, &mut out, &mut spans, budget);
                        }
                        case = Some((new_case(&e, &suites), Clipped::new(limits)));
                    }
                    b"failure" | b"error" | b"skipped" => {
                        if let Some((c, _)) = case.as_mut() {
                            detail(c, &e);
                            in_detail = true;
                        }
                    }
                    _ => {}
                }
            }
            Event::Empty(e) => {
                seen_root = true;
                match e.local_name().as_ref() {
                    b"testcase" => finish(
                        (new_case(&e, &suites), Clipped::new(limits)),
                        &mut out,
                        &mut spans,
                        budget,
                    ),
                    b"failure" | b"error" | b"skipped" => {
                        if let Some((c, _)) = case.as_mut() {
                            detail(c, &e);
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if in_detail => {
                if let Some((_, text)) = case.as_mut() {
                    let t = t
                        .xml10_content()
                        .map_err(|e| format!("bad text in a testcase: {e}"))?;
                    text.push(&t);
                }
            }
            Event::CData(t) if in_detail => {
                if let Some((_, text)) = case.as_mut() {
                    text.push(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) if in_detail => {
                if let Some((_, text)) = case.as_mut() {
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => text.push(ch.encode_utf8(&mut [0; 4])),
                        _ => {
                            let name = String::from_utf8_lossy(&r);
                            text.push(match name.as_ref() {
                                "lt" => "<",
                                "gt" => ">",
                                "amp" => "&",
                                "quot" => "\"",
                                "apos" => "'",
                                _ => "",
                            });
                        }
                    }
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"testsuite" => {
                    if let Some(c) = case.take() {
                        finish(c, &mut out, &mut spans, budget);
                    }
                    suites.pop();
                    if let Some(span) = spans.pop() {
                        let mut spent = span.spent;
                        let cases = out.len() - span.first;
                        if let Some(time) = span.time {
                            let rest = time - spent;
                            if cases > 0 && rest.is_finite() && rest > 0.0 {
                                shares.push((span.first, out.len(), rest / cases as f64));
                                spent = time;
                            }
                        }
                        if let Some(parent) = spans.last_mut() {
                            parent.spent += spent;
                        }
                    }
                }
                b"testcase" => {
                    if let Some(c) = case.take() {
                        finish(c, &mut out, &mut spans, budget);
                    }
                }
                b"failure" | b"error" | b"skipped" => in_detail = false,
                _ => {}
            },
            Event::Eof => {
                // Cut short by the cap on what is read: the testcase it was in counts, with
                // what was read of it (a file that simply ends early loses it, as it may be
                // half written).
                if truncated.get()
                    && let Some(c) = case.take()
                {
                    finish(c, &mut out, &mut spans, budget);
                }
                break;
            }
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err("no XML elements in it".into());
    }
    spread(&mut out, &shares);
    Ok(out)
}

/// Give each testcase the shares of its enclosing testsuites' times (`(first, end, each)`,
/// nested ranges, an inner one closed, and so listed, before the one around it): one pass with
/// a stack of the ranges open at each testcase, summed from the outermost in.
fn spread(cases: &mut [TestCase], shares: &[(usize, usize, f64)]) {
    // Outermost first: by start, then the longer range first.
    let mut order: Vec<&(usize, usize, f64)> = shares.iter().collect();
    order.sort_by_key(|(first, end, _)| (*first, std::cmp::Reverse(*end)));
    let mut next = order.into_iter().peekable();
    // (end, share of the ranges open down to this one)
    let mut open: Vec<(usize, f64)> = Vec::new();
    for (i, c) in cases.iter_mut().enumerate() {
        while open.last().is_some_and(|(end, _)| *end <= i) {
            open.pop();
        }
        while let Some(&&(first, end, each)) = next.peek() {
            if first > i {
                break;
            }
            next.next();
            if end > i {
                let below = open.last().map_or(0.0, |(_, s)| *s);
                open.push((end, below + each));
            }
        }
        c.share += open.last().map_or(0.0, |(_, s)| *s);
    }
}

fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(std::borrow::Cow::into_owned)
                .or_else(|| Some(String::from_utf8_lossy(&a.value).into_owned()))
        })
}

fn new_case(e: &BytesStart<'_>, suites: &[(Option<String>, Option<String>)]) -> TestCase {
    let (suite, suite_file) = suites.last().cloned().unwrap_or_default();
    TestCase {
        // jest-junit names a test outside any `describe` " title".
        name: attr(e, b"name").unwrap_or_default().trim().to_owned(),
        classname: attr(e, b"classname"),
        file: attr(e, b"file").filter(|f| !f.is_empty()),
        line: attr(e, b"line").and_then(|l| l.trim().parse().ok()),
        time: seconds(e),
        outcome: Outcome::Passed,
        message: None,
        kind: None,
        text: None,
        suite,
        suite_file,
        item: None,
        share: 0.0,
        sliced: earlier(e, b"ptest-sliced"),
        confirmed: earlier(e, b"ptest-confirmed"),
        attempts: 1,
        failed_before: None,
    }
}

/// An earlier outcome a pytest testcase carries (`ptest-sliced="failure"`), when it has one.
fn earlier(e: &BytesStart<'_>, name: &[u8]) -> Option<Outcome> {
    match attr(e, name)?.as_str() {
        "passed" => Some(Outcome::Passed),
        "failure" => Some(Outcome::Failed),
        "error" => Some(Outcome::Error),
        "skipped" => Some(Outcome::Skipped),
        _ => None,
    }
}

/// A `time` attribute in seconds, when it is one.
fn seconds(e: &BytesStart<'_>) -> Option<f64> {
    attr(e, b"time")
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t >= 0.0)
}

/// A `failure`, `error` or `skipped` child: the worst one decides the outcome.
fn detail(c: &mut TestCase, e: &BytesStart<'_>) {
    let outcome = match e.local_name().as_ref() {
        b"failure" => Outcome::Failed,
        b"error" => Outcome::Error,
        _ => Outcome::Skipped,
    };
    let rank = |o: Outcome| match o {
        Outcome::Passed => 0,
        Outcome::Skipped => 1,
        Outcome::Failed => 2,
        Outcome::Error => 3,
    };
    if rank(outcome) >= rank(c.outcome) {
        c.outcome = outcome;
        c.message = attr(e, b"message").or(c.message.take());
        c.kind = attr(e, b"type").or(c.kind.take());
    }
}

/// Attribute each testcase to one of `items`: its `file`, `classname`, the testsuite's file or
/// name, or its own name equal to an item (after `./` is dropped); else, for pytest's xunit2
/// (no `file`), an item `a/b/test_x.py` owns classnames `a.b.test_x` and `a.b.test_x.Class`;
/// else a `file` written relative to another folder than the items' (pytest's rootdir, when a
/// batch of your own runs pytest): the item it ends with (`app/tests/t.py` is `tests/t.py`;
/// the longest such item), or the one item that ends with it (`t.py` is `tests/unit/t.py`).
pub(crate) fn attribute(cases: &mut [TestCase], items: &[&str]) {
    use std::collections::HashMap;
    fn clean(s: &str) -> &str {
        s.trim_start_matches("./")
    }
    // Each lookup below is a few hash probes, so that a file of many testcases that match no
    // item costs no more per testcase than one that matches (no scan of the items per case).
    // Where two items clean to the same name, the later one wins.
    let exact: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, s)| (clean(s), i))
        .collect();
    let modules: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            clean(s)
                .strip_suffix(".py")
                .map(|m| (m.replace('/', "."), i))
        })
        .collect();
    let longest_module = modules.keys().map(String::len).max().unwrap_or(0);
    let longest_item = exact.keys().map(|k| k.len()).max().unwrap_or(0);
    // Built when first needed: each item's ends after a `/`, and the item when only one has it.
    let mut ends: Option<HashMap<&str, Option<usize>>> = None;
    for c in cases.iter_mut() {
        let candidates = [
            c.file.as_deref(),
            c.classname.as_deref(),
            c.suite_file.as_deref(),
            c.suite.as_deref(),
            Some(c.name.as_str()),
        ];
        c.item = candidates
            .iter()
            .flatten()
            .find_map(|k| exact.get(clean(k)).copied())
            .or_else(|| {
                // The longest module the classname is, or is inside of (`a.b.test_x.Class`).
                let class = c.classname.as_deref()?;
                let mut prefix = class;
                loop {
                    if prefix.len() <= longest_module
                        && let Some(&i) = modules.get(prefix)
                    {
                        return Some(i);
                    }
                    prefix = &prefix[..prefix.rfind('.')?];
                }
            })
            .or_else(|| {
                let file = clean(c.file.as_deref()?);
                below(file, &exact, longest_item).or_else(|| {
                    let ends = ends.get_or_insert_with(|| item_ends(&exact));
                    ends.get(file).copied().flatten()
                })
            });
    }
}

/// The items' folder is below the one `file` is relative to: the longest item `file` ends with
/// after a `/` (see [`attribute`]).
fn below(
    file: &str,
    items: &std::collections::HashMap<&str, usize>,
    longest: usize,
) -> Option<usize> {
    file.match_indices('/')
        .map(|(at, _)| &file[at + 1..])
        .filter(|end| end.len() <= longest)
        .find_map(|end| items.get(end).copied())
}

/// The items' folder is above: for every end of an item after a `/`, the item, or `None` when
/// more than one item ends so.
fn item_ends<'a>(
    items: &std::collections::HashMap<&'a str, usize>,
) -> std::collections::HashMap<&'a str, Option<usize>> {
    let mut ends = std::collections::HashMap::new();
    for (item, &i) in items {
        for (at, _) in item.match_indices('/') {
            ends.entry(&item[at + 1..])
                .and_modify(|found| *found = None)
                .or_insert(Some(i));
        }
    }
    ends
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// [`read`] of bytes in memory, with the usual caps.
    pub(crate) fn parse(data: &[u8]) -> Result<Vec<TestCase>, String> {
        read(data, super::super::bounded::LIMITS).map(|p| p.cases)
    }

    const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3" time="0.05"><testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="0" time="0.001" /><testcase classname="tests.test_a.TestK" name="test_bad" file="tests/test_a.py" line="5" time="0.002"><failure message="assert 1 == 2">def test_bad():
&gt;       assert 1 == 2
E       assert 1 == 2</failure></testcase><testcase classname="tests.test_b" name="test_skip" file="tests/test_b.py" line="1" time="0.000"><skipped type="pytest.skip" message="not today">tests/test_b.py:2: not today</skipped></testcase></testsuite></testsuites>"#;

    #[test]
    fn pytest_xunit1() {
        let mut cases = parse(PYTEST.as_bytes()).unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].outcome, Outcome::Passed);
        assert_eq!(cases[1].outcome, Outcome::Failed);
        assert_eq!(cases[1].message.as_deref(), Some("assert 1 == 2"));
        assert!(
            cases[1]
                .text
                .as_deref()
                .unwrap()
                .contains(">       assert 1 == 2")
        );
        assert_eq!(cases[1].display(), "tests/test_a.py::TestK::test_bad");
        assert_eq!(cases[0].display(), "tests/test_a.py::test_ok");
        assert_eq!(cases[2].outcome, Outcome::Skipped);
        assert_eq!(cases[1].time, Some(0.002));
        attribute(&mut cases, &["tests/test_b.py", "tests/test_a.py"]);
        assert_eq!(
            cases.iter().map(|c| c.item).collect::<Vec<_>>(),
            [Some(1), Some(1), Some(0)]
        );
    }

    /// What a testsuite's `time` holds beyond its testcases' (pytest's collection and its work
    /// between tests) is shared out evenly among them, a nested testsuite's first; a testsuite
    /// without a time, or whose testcases hold all of it, adds nothing; `testsuites` is not one.
    #[test]
    fn a_testsuites_time_outside_its_testcases_is_shared_among_them() {
        let xml = r#"<testsuites time="100"><testsuite name="pytest" time="10"><testcase name="a" time="1"/><testcase name="b" time="3"><failure/></testcase><testcase name="c"/></testsuite><testsuite name="outer" time="9"><testsuite name="inner" time="4"><testcase name="d" time="2"/><testcase name="e" time="0"/></testsuite><testcase name="f" time="1"/></testsuite><testsuite name="none"><testcase name="g" time="5"/></testsuite><testsuite name="short" time="1"><testcase name="h" time="2"/></testsuite><testsuite name="bad" time="NaN"><testcase name="i" time="1"/></testsuite></testsuites>"#;
        let cases = parse(xml.as_bytes()).unwrap();
        let share: Vec<(&str, f64)> = cases.iter().map(|c| (c.name.as_str(), c.share)).collect();
        let third = 4.0 / 3.0;
        let want = [
            ("a", 2.0),
            ("b", 2.0),
            ("c", 2.0),
            ("d", 1.0 + third),
            ("e", 1.0 + third),
            ("f", third),
            ("g", 0.0),
            ("h", 0.0),
            ("i", 0.0),
        ];
        assert_eq!(share.len(), want.len());
        for ((name, got), (wname, w)) in share.iter().zip(want) {
            assert_eq!(*name, wname);
            assert!((got - w).abs() < 1e-9, "{name}: {got} != {w}");
        }
        // The testcases' own times are as written.
        assert_eq!(cases[1].time, Some(3.0));
        assert_eq!(cases[2].time, None);
    }

    #[test]
    fn pytest_xunit2_by_module_path() {
        let xml = r#"<testsuites><testsuite name="pytest"><testcase classname="pkg.tests.test_a.TestX" name="t" time="1"/><testcase classname="pkg.tests.test_ab" name="u" time="1"><error message="fixture"/></testcase></testsuite></testsuites>"#;
        let mut cases = parse(xml.as_bytes()).unwrap();
        attribute(
            &mut cases,
            &["pkg/tests/test_a.py", "./pkg/tests/test_ab.py"],
        );
        assert_eq!(cases[0].item, Some(0));
        assert_eq!(cases[1].item, Some(1));
        assert_eq!(cases[1].outcome, Outcome::Error);
    }

    /// pytest's `file` relative to its rootdir, a folder above or below the items' folder.
    #[test]
    fn a_file_relative_to_another_folder() {
        let xml = r#"<testsuites><testsuite name="pytest"><testcase classname="app.tests.test_a" name="t" file="app/tests/test_a.py"/><testcase classname="test_b" name="u" file="test_b.py"/><testcase classname="test_c" name="v" file="test_c.py"/><testcase classname="x" name="w" file="../elsewhere/test_d.py"/></testsuite></testsuites>"#;
        let mut cases = parse(xml.as_bytes()).unwrap();
        attribute(
            &mut cases,
            &[
                "test_a.py",
                "tests/test_a.py",
                "tests/unit/test_b.py",
                "one/test_c.py",
                "two/test_c.py",
            ],
        );
        // The longest item a path ends with; the one item ending with it; none when two do.
        assert_eq!(
            cases.iter().map(|c| c.item).collect::<Vec<_>>(),
            [Some(1), Some(2), None, None]
        );
    }

    #[test]
    fn go_junit_report_and_nextest() {
        let go = r#"<testsuites><testsuite name="example.com/m/pkg" tests="2"><testcase name="TestA" classname="example.com/m/pkg" time="0.01"></testcase><testcase name="TestB" classname="example.com/m/pkg" time="0.02"><failure message="Failed" type=""><![CDATA[x_test.go:9: boom]]></failure></testcase></testsuite></testsuites>"#;
        let mut cases = parse(go.as_bytes()).unwrap();
        attribute(&mut cases, &["example.com/m/pkg"]);
        assert_eq!(cases[1].item, Some(0));
        assert_eq!(cases[1].text.as_deref(), Some("x_test.go:9: boom"));
        assert_eq!(cases[1].summary().as_deref(), Some("Failed"));
        let nextest = r#"<?xml version="1.0"?><testsuites name="nextest-run" tests="1"><testsuite name="ptest::cli" tests="1"><testcase name="a::b" classname="ptest::cli" timestamp="2024" time="0.5"><failure type="test failure">thread panicked</failure><system-out>out</system-out></testcase></testsuite></testsuites>"#;
        let mut cases = parse(nextest.as_bytes()).unwrap();
        attribute(&mut cases, &["a::b"]);
        assert_eq!(cases[0].item, Some(0));
        assert_eq!(cases[0].summary().as_deref(), Some("thread panicked"));
        assert_eq!(cases[0].display(), "ptest::cli::a::b");
    }

    /// `go test -json ./...` as go 1.19 writes it (times left out), then a `-timeout` and a
    /// build failure as go 1.24 reports it.
    const GO_JSON: &str = r##"{"Action":"run","Package":"example.com/m/a","Test":"TestOK"}
{"Action":"output","Package":"example.com/m/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"example.com/m/a","Test":"TestOK","Elapsed":0}
{"Action":"run","Package":"example.com/m/a","Test":"TestBad"}
{"Action":"output","Package":"example.com/m/a","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestBad","Output":"    a_test.go:4: about to fail\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestBad","Output":"    a_test.go:4: got 1, want 2 \u003c\u0026\u003e\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"example.com/m/a","Test":"TestBad","Elapsed":0}
{"Action":"run","Package":"example.com/m/a","Test":"TestSub"}
{"Action":"output","Package":"example.com/m/a","Test":"TestSub","Output":"=== RUN   TestSub\n"}
{"Action":"run","Package":"example.com/m/a","Test":"TestSub/one"}
{"Action":"output","Package":"example.com/m/a","Test":"TestSub/one","Output":"=== RUN   TestSub/one\n"}
{"Action":"run","Package":"example.com/m/a","Test":"TestSub/two"}
{"Action":"output","Package":"example.com/m/a","Test":"TestSub/two","Output":"=== RUN   TestSub/two\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestSub/two","Output":"    a_test.go:7: sub broke\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestSub","Output":"--- FAIL: TestSub (0.00s)\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestSub/one","Output":"    --- PASS: TestSub/one (0.00s)\n"}
{"Action":"pass","Package":"example.com/m/a","Test":"TestSub/one","Elapsed":0}
{"Action":"output","Package":"example.com/m/a","Test":"TestSub/two","Output":"    --- FAIL: TestSub/two (0.00s)\n"}
{"Action":"fail","Package":"example.com/m/a","Test":"TestSub/two","Elapsed":0}
{"Action":"fail","Package":"example.com/m/a","Test":"TestSub","Elapsed":0}
{"Action":"run","Package":"example.com/m/a","Test":"TestSkip"}
{"Action":"output","Package":"example.com/m/a","Test":"TestSkip","Output":"=== RUN   TestSkip\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestSkip","Output":"    a_test.go:9: not here\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestSkip","Output":"--- SKIP: TestSkip (0.00s)\n"}
{"Action":"skip","Package":"example.com/m/a","Test":"TestSkip","Elapsed":0}
{"Action":"output","Package":"example.com/m/a","Output":"FAIL\n"}
{"Action":"output","Package":"example.com/m/a","Output":"FAIL\texample.com/m/a\t0.014s\n"}
{"Action":"fail","Package":"example.com/m/a","Elapsed":0.014}
{"Action":"run","Package":"example.com/m/b","Test":"TestB"}
{"Action":"output","Package":"example.com/m/b","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"example.com/m/b","Test":"TestB","Output":"--- PASS: TestB (0.00s)\n"}
{"Action":"pass","Package":"example.com/m/b","Test":"TestB","Elapsed":0}
{"Action":"pass","Package":"example.com/m/b","Elapsed":0.015}
{"Action":"output","Package":"example.com/m/c","Output":"?   \texample.com/m/c\t[no test files]\n"}
{"Action":"skip","Package":"example.com/m/c","Elapsed":0}
FAIL	example.com/m/d [build failed]
{"Action":"run","Package":"example.com/m/f","Test":"TestHang"}
{"Action":"output","Package":"example.com/m/f","Test":"TestHang","Output":"=== RUN   TestHang\n"}
{"Action":"output","Package":"example.com/m/f","Test":"TestHang","Output":"panic: test timed out after 1s\n"}
{"Action":"output","Package":"example.com/m/f","Output":"FAIL\texample.com/m/f\t1.005s\n"}
{"Action":"fail","Package":"example.com/m/f","Elapsed":1.005}
{"ImportPath":"example.com/m/g [example.com/m/g.test]","Action":"build-output","Output":"# example.com/m/g\n"}
{"ImportPath":"example.com/m/g [example.com/m/g.test]","Action":"build-output","Output":"g/g_test.go:3:28: declared and not used: x\n"}
{"ImportPath":"example.com/m/g [example.com/m/g.test]","Action":"build-fail"}
{"Action":"start","Package":"example.com/m/g"}
{"Action":"output","Package":"example.com/m/g","Output":"FAIL\texample.com/m/g [build failed]\n"}
{"Action":"fail","Package":"example.com/m/g","Elapsed":0,"FailedBuild":"example.com/m/g [example.com/m/g.test]"}
"##;

    #[test]
    fn go_test_json() {
        let mut cases = parse(GO_JSON.as_bytes()).unwrap();
        let seen: Vec<(String, Outcome)> = cases.iter().map(|c| (c.display(), c.outcome)).collect();
        let want = [
            ("example.com/m/a::TestOK", Outcome::Passed),
            ("example.com/m/a::TestBad", Outcome::Failed),
            ("example.com/m/a::TestSub", Outcome::Failed),
            ("example.com/m/a::TestSub/two", Outcome::Failed),
            ("example.com/m/a::TestSkip", Outcome::Skipped),
            ("example.com/m/b::TestB", Outcome::Passed),
            ("example.com/m/d", Outcome::Error),
            ("example.com/m/f::TestHang", Outcome::Failed),
            ("example.com/m/g", Outcome::Error),
        ];
        assert_eq!(seen, want.map(|(n, o)| (n.to_owned(), o)));
        let bad = &cases[1];
        assert_eq!(
            bad.text.as_deref(),
            Some("    a_test.go:4: about to fail\n    a_test.go:4: got 1, want 2 <&>")
        );
        assert_eq!(bad.summary().as_deref(), Some("a_test.go:4: about to fail"));
        // A parent's text holds its subtests' output; the subtest's time is in its parent's.
        assert_eq!(
            cases[2].summary().as_deref(),
            Some("a_test.go:7: sub broke")
        );
        assert_eq!(cases[3].time, None);
        assert_eq!(cases[2].time, Some(0.0));
        assert_eq!(cases[4].message.as_deref(), Some("a_test.go:9: not here"));
        assert_eq!(cases[6].summary().as_deref(), Some("build failed"));
        assert_eq!(
            cases[7].summary().as_deref(),
            Some("did not finish (the test binary stopped: a panic, -timeout or os.Exit)")
        );
        assert!(
            cases[7]
                .text
                .as_deref()
                .unwrap()
                .contains("panic: test timed out after 1s")
        );
        assert_eq!(cases[8].summary().as_deref(), Some("build failed"));
        assert!(
            cases[8]
                .text
                .as_deref()
                .unwrap()
                .contains("declared and not used: x")
        );
        let items = [
            "example.com/m/a",
            "example.com/m/b",
            "example.com/m/c",
            "example.com/m/d",
            "example.com/m/f",
            "example.com/m/g",
        ];
        attribute(&mut cases, &items);
        assert_eq!(
            cases.iter().map(|c| c.item).collect::<Vec<_>>(),
            [0, 0, 0, 0, 0, 1, 3, 4, 5].map(Some)
        );
        // A stream cut short keeps what was complete; something else entirely is an error.
        let half = &GO_JSON[..GO_JSON.find("TestSkip").unwrap()];
        assert!(parse(half.as_bytes()).is_ok_and(|c| c.len() == 4));
        assert!(parse(b"{ not json").is_err());
        let alone = parse(b"FAIL\texample.com/m/d [build failed]\n").unwrap();
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].display(), "example.com/m/d");
        assert_eq!(alone[0].summary().as_deref(), Some("build failed"));
    }

    #[test]
    fn node_jest_and_vitest_junit() {
        // node's junit reporter (the preset puts the file in `classname`): testcases straight
        // under testsuites, a describe as a nested testsuite.
        let node = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites>
	<testcase name="adds" time="0.006344" classname="test/a.js"/>
	<testcase name="bad sum" time="0.010328" classname="test/a.js" failure="one plus one">
		<failure type="testCodeFailure" message="one plus one">[Error [ERR_TEST_FAILURE]: one plus one]</failure>
	</testcase>
	<testsuite name="group" time="0.001230" tests="2" failures="0" skipped="1">
		<testcase name="nested skip" time="0.000179" classname="src/b.test.mjs">
			<skipped type="skipped" message="later"/>
		</testcase>
	</testsuite>
	<!-- tests 3 -->
</testsuites>"#;
        let mut cases = parse(node.as_bytes()).unwrap();
        attribute(&mut cases, &["src/b.test.mjs", "test/a.js"]);
        let seen: Vec<_> = cases
            .iter()
            .map(|c| (c.display(), c.outcome, c.item))
            .collect();
        assert_eq!(
            seen,
            [
                ("test/a.js::adds".to_owned(), Outcome::Passed, Some(1)),
                ("test/a.js::bad sum".to_owned(), Outcome::Failed, Some(1)),
                (
                    "src/b.test.mjs::nested skip".to_owned(),
                    Outcome::Skipped,
                    Some(0)
                ),
            ]
        );
        assert_eq!(cases[1].summary().as_deref(), Some("one plus one"));
        // A file that failed to load: node names it by its absolute path.
        let load = r#"<testsuites><testcase name="/home/u/p/test/b.mjs" time="0.1" classname="test/b.mjs"><failure type="testCodeFailure" message="test failed"/></testcase></testsuites>"#;
        assert_eq!(parse(load.as_bytes()).unwrap()[0].display(), "test/b.mjs");
        // jest-junit with JEST_JUNIT_ADD_FILE_ATTRIBUTE: `file` on each testcase, " title" for a
        // test outside any describe, a file that failed to load as a testcase named after it.
        let jest = r#"<testsuites name="jest tests"><testsuite name="sum" tests="2"><testcase classname="sum breaks" name="sum breaks" time="0.003" file="src/sum.test.js"><failure>Error: expect(received).toBe(expected)

Expected: 4</failure></testcase></testsuite><testsuite name="undefined"><testcase classname=" top" name=" top" time="0.006" file="src/__tests__/top.js"></testcase></testsuite><testsuite name="lib/broken.spec.js" errors="1"><testcase classname="Test suite failed to run" name="lib/broken.spec.js" time="0" file="lib/broken.spec.js"><error>  ● Test suite failed to run</error></testcase></testsuite></testsuites>"#;
        let mut cases = parse(jest.as_bytes()).unwrap();
        attribute(
            &mut cases,
            &[
                "lib/broken.spec.js",
                "src/__tests__/top.js",
                "src/sum.test.js",
            ],
        );
        let seen: Vec<_> = cases.iter().map(|c| (c.display(), c.item)).collect();
        assert_eq!(
            seen,
            [
                ("src/sum.test.js::sum breaks".to_owned(), Some(2)),
                ("src/__tests__/top.js::top".to_owned(), Some(1)),
                ("lib/broken.spec.js".to_owned(), Some(0)),
            ]
        );
        assert_eq!(
            cases[0].summary().as_deref(),
            Some("Error: expect(received).toBe(expected)")
        );
        assert_eq!(
            cases[2].summary().as_deref(),
            Some("● Test suite failed to run")
        );
        // vitest: the file is the classname and the testsuite's name.
        let vitest = r#"<testsuites name="vitest tests"><testsuite name="src/sum.test.js" tests="1"><testcase classname="src/sum.test.js" name="sum &gt; breaks" time="0.0067"><failure message="one and two: expected 3 to be 4" type="AssertionError">AssertionError: one and two</failure></testcase></testsuite><testsuite name="test/broken.test.js"><testcase classname="test/broken.test.js" name="test/broken.test.js" time="0"><failure message="Failed to parse source" type="Error"/></testcase></testsuite></testsuites>"#;
        let mut cases = parse(vitest.as_bytes()).unwrap();
        attribute(&mut cases, &["src/sum.test.js", "test/broken.test.js"]);
        assert_eq!(cases[0].display(), "src/sum.test.js::sum > breaks");
        assert_eq!(cases[1].display(), "test/broken.test.js");
        assert_eq!(
            cases.iter().map(|c| c.item).collect::<Vec<_>>(),
            [Some(0), Some(1)]
        );
        assert_eq!(
            cases[0].summary().as_deref(),
            Some("one and two: expected 3 to be 4")
        );
    }

    #[test]
    fn a_file_past_the_cap_on_bytes_keeps_what_was_read() {
        let limits = Limits {
            file_bytes: 120,
            ..super::super::bounded::LIMITS
        };
        let xml = format!(
            "<testsuites><testsuite><testcase name='a'/><testcase name='b'><failure>{}</failure></testcase></testsuite></testsuites>",
            "x".repeat(200)
        );
        let parsed = read(xml.as_bytes(), limits).unwrap();
        assert_eq!(parsed.cases.len(), 2);
        assert_eq!(parsed.cases[1].outcome, Outcome::Failed);
        assert!(parsed.cases[1].text.as_deref().unwrap().starts_with("xxx"));
        assert_eq!(
            parsed.left_out.as_deref(),
            Some("read only its first 120 bytes (the cap per results file)")
        );
        // Exactly at the cap: nothing was left.
        let whole = read(&xml.as_bytes()[..120], limits).unwrap();
        assert_eq!(whole.left_out, None);
        assert_eq!(whole.cases.len(), 1);
    }

    /// Nested testsuites are read in one pass, their times shared as when they are few.
    #[test]
    fn deeply_nested_testsuites() {
        let n = 20_000;
        let mut xml = String::from("<testsuites>");
        // The testsuite at depth k lasts n - k seconds: its own testcase's 0.5 s and the
        // testsuite inside it leave 0.5 s to share among the n - k testcases it holds.
        for k in 0..n {
            xml.push_str(&format!(
                "<testsuite name='s' time='{}'><testcase name='c' time='0.5'/>",
                n - k
            ));
        }
        xml.push_str(&"</testsuite>".repeat(n));
        xml.push_str("</testsuites>");
        let cases = parse(xml.as_bytes()).unwrap();
        assert_eq!(cases.len(), n);
        let mut want = 0.0;
        for (k, c) in cases.iter().enumerate() {
            want += 0.5 / (n - k) as f64;
            assert!((c.share - want).abs() < 1e-9, "{k}: {} != {want}", c.share);
        }
    }

    #[test]
    fn broken_input_is_an_error_not_a_panic() {
        assert!(parse(b"").is_err());
        assert!(parse(b"<testsuite><testcase name='a'></testsuite>").is_err());
        assert!(parse(b"not xml at all").is_err());
        // A truncated file: what was complete is kept.
        let part = parse(b"<testsuites><testsuite><testcase name='a'/><testcase name='b'>");
        assert!(part.is_ok_and(|c| c.len() == 1));
    }
}
