//! Per-test results a batch's command wrote as JUnit XML (DESIGN §9 `results`): pytest's
//! `--junitxml` (xunit1 with `file`, or xunit2), jest-junit, go-junit-report, nextest and
//! cargo2junit all write `testsuite`/`testcase` elements with `failure`, `error` and `skipped`
//! children. Each testcase is attributed to one of the batch's items (its `file`, else its
//! `classname`, ...). Plain data and a parser; reading the file is the caller's.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// How one testcase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Passed,
    Failed,
    /// An error outside the test's assertions (a fixture, a crash), as JUnit's `error`.
    Error,
    Skipped,
}

impl Outcome {
    pub(crate) fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Error)
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One testcase as the command reported it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TestCase {
    pub name: String,
    pub classname: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Seconds.
    pub time: Option<f64>,
    pub outcome: Outcome,
    /// The failure's (or skip's) `message`.
    pub message: Option<String>,
    /// The failure's `type`.
    pub kind: Option<String>,
    /// The failure's text (a traceback), as written.
    pub text: Option<String>,
    /// The enclosing testsuite's name (go-junit-report puts the package there, nextest the
    /// binary).
    pub suite: Option<String>,
    /// The enclosing testsuite's `file`, when it has one.
    pub suite_file: Option<String>,
    /// The batch item it belongs to (an index into the part's items), once attributed.
    pub item: Option<usize>,
}

impl TestCase {
    /// How people name it: `tests/test_x.py::test_y` when the file is known, else
    /// `classname::name`, else the name.
    pub(crate) fn display(&self) -> String {
        match (&self.file, &self.classname) {
            // pytest's collection errors: the module is the test.
            (Some(f), Some(c)) if c.is_empty() => f.clone(),
            (Some(f), Some(c)) => {
                // pytest's classname is the module path plus the class, if any.
                let module = f.trim_end_matches(".py").replace('/', ".");
                match c.strip_prefix(&module).and_then(|r| r.strip_prefix('.')) {
                    Some(class) => format!("{f}::{class}::{}", self.name),
                    None => format!("{f}::{}", self.name),
                }
            }
            (Some(f), None) => format!("{f}::{}", self.name),
            (None, Some(c)) if !c.is_empty() => format!("{c}::{}", self.name),
            _ => self.name.clone(),
        }
    }

    /// The first line of the message, or of the text when there is no message.
    pub(crate) fn summary(&self) -> Option<String> {
        let from = self
            .message
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .or(self.text.as_deref())?;
        from.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
    }
}

/// Every testcase in a JUnit XML document, in document order.
pub(crate) fn parse(xml: &[u8]) -> Result<Vec<TestCase>, String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    // Names and files of the enclosing testsuites (they nest in some writers).
    let mut suites: Vec<(Option<String>, Option<String>)> = Vec::new();
    let mut case: Option<TestCase> = None;
    // Inside a failure/error/skipped element: its text goes to the testcase.
    let mut in_detail = false;
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not valid XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(e) => {
                seen_root = true;
                match e.local_name().as_ref() {
                    b"testsuite" => suites.push((attr(&e, b"name"), attr(&e, b"file"))),
                    b"testcase" => case = Some(new_case(&e, &suites)),
                    b"failure" | b"error" | b"skipped" => {
                        if let Some(c) = case.as_mut() {
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
                    b"testcase" => out.push(new_case(&e, &suites)),
                    b"failure" | b"error" | b"skipped" => {
                        if let Some(c) = case.as_mut() {
                            detail(c, &e);
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if in_detail => {
                if let Some(c) = case.as_mut() {
                    let text = t
                        .xml10_content()
                        .map_err(|e| format!("bad text in a testcase: {e}"))?;
                    c.text.get_or_insert_with(String::new).push_str(&text);
                }
            }
            Event::CData(t) if in_detail => {
                if let Some(c) = case.as_mut() {
                    let text = String::from_utf8_lossy(&t);
                    c.text.get_or_insert_with(String::new).push_str(&text);
                }
            }
            Event::GeneralRef(r) if in_detail => {
                if let Some(c) = case.as_mut() {
                    let text = c.text.get_or_insert_with(String::new);
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => text.push(ch),
                        _ => {
                            let name = String::from_utf8_lossy(&r);
                            text.push_str(match name.as_ref() {
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
                    suites.pop();
                }
                b"testcase" => out.extend(case.take()),
                b"failure" | b"error" | b"skipped" => in_detail = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err("no XML elements in it".into());
    }
    Ok(out)
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
        name: attr(e, b"name").unwrap_or_default(),
        classname: attr(e, b"classname"),
        file: attr(e, b"file").filter(|f| !f.is_empty()),
        line: attr(e, b"line").and_then(|l| l.trim().parse().ok()),
        time: attr(e, b"time")
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t >= 0.0),
        outcome: Outcome::Passed,
        message: None,
        kind: None,
        text: None,
        suite,
        suite_file,
        item: None,
    }
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
/// (no `file`), an item `a/b/test_x.py` owns classnames `a.b.test_x` and `a.b.test_x.Class`.
pub(crate) fn attribute(cases: &mut [TestCase], items: &[&str]) {
    let clean = |s: &str| s.trim_start_matches("./").to_owned();
    let exact: std::collections::HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(i, s)| (clean(s), i))
        .collect();
    let modules: Vec<(String, usize)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let s = clean(s);
            s.strip_suffix(".py").map(|m| (m.replace('/', "."), i))
        })
        .collect();
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
            .find_map(|k| exact.get(&clean(k)).copied())
            .or_else(|| {
                let class = c.classname.as_deref()?;
                modules
                    .iter()
                    .filter(|(m, _)| {
                        class == m
                            || class
                                .strip_prefix(m.as_str())
                                .is_some_and(|r| r.starts_with('.'))
                    })
                    .max_by_key(|(m, _)| m.len())
                    .map(|(_, i)| *i)
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
