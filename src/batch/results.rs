//! Per-test results a batch's command wrote (DESIGN §9 `results`): JUnit XML, as pytest's
//! `--junitxml` (xunit1 with `file`, or xunit2), jest-junit, vitest, node's junit reporter,
//! go-junit-report, nextest and cargo2junit write it (`testsuite`/`testcase` elements with
//! `failure`, `error` and `skipped` children), or the event stream of `go test -json`, told apart
//! by content. Each testcase is attributed to one of the batch's items (its `file`, else its
//! `classname`, ...). Plain data and parsers; reading the file is the caller's.

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
    /// Seconds of its testsuite's `time` that no testcase's `time` holds, split evenly among
    /// the testsuite's testcases: collecting them, and the framework's work between them
    /// (pytest's hooks and reports). Part of what the testcase costs its item in history.
    pub share: f64,
}

impl TestCase {
    /// How people name it: `tests/test_x.py::test_y` when the file is known, else
    /// `classname::name`, else the name.
    pub(crate) fn display(&self) -> String {
        match (&self.file, &self.classname) {
            // pytest's collection errors: the module is the test; jest's and vitest's files
            // that failed to load are named after the file.
            (Some(f), Some(c)) if c.is_empty() || self.name == *f => f.clone(),
            // node names a file that failed to load by its absolute path.
            (None, Some(c))
                if self.name == *c
                    || (self.name.starts_with('/') && self.name.ends_with(&format!("/{c}"))) =>
            {
                c.clone()
            }
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

/// Every testcase in a results file, in the order it reports them: JUnit XML when it starts
/// with `<`, else `go test -json` output (which starts with a JSON object, or, when go 1.19 to
/// 1.23 could not build the first package, with a plain `FAIL pkg [build failed]`).
pub(crate) fn parse(data: &[u8]) -> Result<Vec<TestCase>, String> {
    let start = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    match start.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') | None => junit(data),
        Some(_) => go_json(start),
    }
}

/// Every testcase in a JUnit XML document, in document order.
fn junit(xml: &[u8]) -> Result<Vec<TestCase>, String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    // Names and files of the enclosing testsuites (they nest in some writers).
    let mut suites: Vec<(Option<String>, Option<String>)> = Vec::new();
    // Per enclosing testsuite: its `time`, and the index of its first testcase in `out`.
    let mut spans: Vec<(Option<f64>, usize)> = Vec::new();
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
                    b"testsuite" => {
                        suites.push((attr(&e, b"name"), attr(&e, b"file")));
                        spans.push((seconds(&e), out.len()));
                    }
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
                    if let Some((Some(time), first)) = spans.pop() {
                        spread(&mut out[first..], time);
                    }
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

/// Give `cases` (a testsuite's, nested ones included) the part of the testsuite's `time` that
/// their own times (and shares from nested testsuites) leave out, in equal shares.
fn spread(cases: &mut [TestCase], time: f64) {
    let spent: f64 = cases.iter().map(|c| c.time.unwrap_or(0.0) + c.share).sum();
    let rest = time - spent;
    if cases.is_empty() || !rest.is_finite() || rest <= 0.0 {
        return;
    }
    let each = rest / cases.len() as f64;
    for c in cases {
        c.share += each;
    }
}

/// One line of `go test -json` (cmd/test2json's `TestEvent`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GoEvent {
    action: String,
    package: Option<String>,
    test: Option<String>,
    elapsed: Option<f64>,
    output: Option<String>,
    /// Go 1.24+: `build-output` and `build-fail` name the package being built (`p [p.test]`).
    import_path: Option<String>,
    failed_build: Option<String>,
}

#[derive(Default)]
struct GoTest {
    name: String,
    outcome: Option<Outcome>,
    elapsed: Option<f64>,
    /// Its output and its subtests', in order.
    output: String,
}

#[derive(Default)]
struct GoPackage {
    name: String,
    tests: Vec<GoTest>,
    outcome: Option<Outcome>,
    /// What it printed outside any test, and its build's output.
    output: String,
    /// Why it failed when no test could run ("build failed").
    message: Option<String>,
}

impl GoPackage {
    fn test(&mut self, name: &str) -> usize {
        if let Some(i) = self.tests.iter().rposition(|t| t.name == name) {
            return i;
        }
        self.tests.push(GoTest {
            name: name.to_owned(),
            ..GoTest::default()
        });
        self.tests.len() - 1
    }
}

/// The event stream of `go test -json`: a testcase per test (classname and testsuite: the
/// package's import path), with its output (and its subtests') as the text. A subtest is a
/// testcase of its own only when it failed (its time is in its parent's); a test that started
/// and never ended (a panic elsewhere, `-timeout`) failed; a package that failed outside its
/// tests (build, `TestMain`, `init`) is an error named after the package. Lines that are not
/// JSON (go before 1.24 prints `FAIL pkg [build failed]` plainly) are read for that, else skipped.
fn go_json(data: &[u8]) -> Result<Vec<TestCase>, String> {
    let text = String::from_utf8_lossy(data);
    let mut packages: Vec<GoPackage> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut package = |packages: &mut Vec<GoPackage>, name: &str| -> usize {
        *index.entry(name.to_owned()).or_insert_with(|| {
            packages.push(GoPackage {
                name: name.to_owned(),
                ..GoPackage::default()
            });
            packages.len() - 1
        })
    };
    let mut events = 0usize;
    // (package index, event) in order; packages are created as they appear.
    let mut parsed: Vec<(usize, GoEvent)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('{') {
            let Ok(e) = serde_json::from_str::<GoEvent>(line) else {
                continue;
            };
            events += 1;
            let owner = e.package.as_deref().or_else(|| {
                e.import_path
                    .as_deref()
                    .map(|p| p.split(" [").next().unwrap_or(p))
            });
            if let Some(p) = owner {
                let i = package(&mut packages, p);
                parsed.push((i, e));
            }
        } else if let Some(rest) = line.strip_prefix("FAIL") {
            // `FAIL\tpkg [build failed]` / `[setup failed]`
            let rest = rest.trim();
            if let Some((pkg, why)) = rest.split_once(" [")
                && let Some(why) = why.strip_suffix(']')
                && !pkg.contains(char::is_whitespace)
            {
                let i = package(&mut packages, pkg);
                parsed.push((
                    i,
                    GoEvent {
                        action: "fail".into(),
                        package: Some(pkg.to_owned()),
                        test: None,
                        elapsed: None,
                        output: None,
                        import_path: None,
                        failed_build: None,
                    },
                ));
                packages[i].message = Some(why.to_owned());
            }
        }
    }
    if events == 0 && parsed.is_empty() {
        return Err("neither JUnit XML nor go test -json output".into());
    }
    for (i, e) in parsed {
        let p = &mut packages[i];
        let end = match e.action.as_str() {
            "pass" => Some(Outcome::Passed),
            "fail" => Some(Outcome::Failed),
            "skip" => Some(Outcome::Skipped),
            _ => None,
        };
        match (e.action.as_str(), e.test.as_deref()) {
            ("output", Some(t)) => {
                let out = e.output.unwrap_or_default();
                // The test and each test above it (`A/b/c` is under `A/b` and `A`).
                let mut name = t;
                loop {
                    let at = p.test(name);
                    p.tests[at].output.push_str(&out);
                    match name.rsplit_once('/') {
                        Some((parent, _)) => name = parent,
                        None => break,
                    }
                }
            }
            ("output" | "build-output", None) => p.output.push_str(&e.output.unwrap_or_default()),
            ("run", Some(t)) => {
                p.test(t);
            }
            (_, Some(t)) if end.is_some() => {
                let at = p.test(t);
                p.tests[at].outcome = end;
                p.tests[at].elapsed = e.elapsed;
            }
            ("build-fail", None) => {
                p.message.get_or_insert_with(|| "build failed".into());
            }
            (_, None) if end.is_some() => {
                p.outcome = end;
                if e.failed_build.is_some() {
                    p.message.get_or_insert_with(|| "build failed".into());
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for p in packages {
        let package_failed = p.outcome == Some(Outcome::Failed) || p.message.is_some();
        let mut any_failed = false;
        for t in &p.tests {
            let outcome = t.outcome.unwrap_or(Outcome::Failed);
            let sub = t.name.contains('/');
            if sub && !outcome.is_failure() {
                continue;
            }
            any_failed |= outcome.is_failure();
            let text = go_output(&t.output);
            let message = match (outcome, t.outcome) {
                (Outcome::Skipped, _) => text.lines().next().map(|l| l.trim().to_owned()),
                (_, None) => Some(
                    "did not finish (the test binary stopped: a panic, -timeout or os.Exit)".into(),
                ),
                _ => None,
            };
            out.push(TestCase {
                name: t.name.clone(),
                classname: Some(p.name.clone()),
                file: None,
                line: None,
                time: if sub {
                    None
                } else {
                    t.elapsed.filter(|e| e.is_finite() && *e >= 0.0)
                },
                outcome,
                message,
                kind: None,
                text: (!text.is_empty()).then_some(text),
                suite: Some(p.name.clone()),
                suite_file: None,
                item: None,
                share: 0.0,
            });
        }
        if package_failed && !any_failed {
            let text = go_output(&p.output);
            out.push(TestCase {
                name: p.name.clone(),
                classname: None,
                file: None,
                line: None,
                time: None,
                outcome: Outcome::Error,
                message: p
                    .message
                    .clone()
                    .or_else(|| text.is_empty().then(|| "failed outside any test".into())),
                kind: None,
                text: (!text.is_empty()).then_some(text),
                suite: Some(p.name.clone()),
                suite_file: None,
                item: None,
                share: 0.0,
            });
        }
    }
    Ok(out)
}

/// A test's output without go's framing lines (`=== RUN`, `--- FAIL: ...`, the package's
/// `FAIL`/`ok` summary), trailing blank lines dropped.
fn go_output(raw: &str) -> String {
    let kept: Vec<&str> = raw
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            let framing = [
                "=== RUN",
                "=== PAUSE",
                "=== CONT",
                "=== NAME",
                "--- PASS:",
                "--- FAIL:",
                "--- SKIP:",
            ];
            !framing.iter().any(|f| t.starts_with(f))
                && !matches!(t, "PASS" | "FAIL")
                && !t.starts_with("ok  \t")
                && !t.starts_with("FAIL\t")
                && !t.starts_with("?   \t")
        })
        .collect();
    kept.join("\n").trim_end().to_owned()
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
            })
            .or_else(|| elsewhere(c.file.as_deref()?, &exact));
    }
}

/// The item a path relative to another folder names (see [`attribute`]), when only one fits.
fn elsewhere(file: &str, items: &std::collections::HashMap<String, usize>) -> Option<usize> {
    let file = file.trim_start_matches("./");
    let under = |long: &str, short: &str| {
        long.len() > short.len()
            && long.ends_with(short)
            && long.as_bytes()[long.len() - short.len() - 1] == b'/'
    };
    // The items' folder is below the one `file` is relative to: the longest item it ends with.
    let mut best: Option<(&str, usize)> = None;
    for (item, &i) in items {
        if under(file, item) && best.is_none_or(|(b, _)| item.len() > b.len()) {
            best = Some((item, i));
        }
    }
    if let Some((_, i)) = best {
        return Some(i);
    }
    // Above: the one item that ends with it.
    let mut found = items.iter().filter(|(item, _)| under(item, file));
    match (found.next(), found.next()) {
        (Some((_, &i)), None) => Some(i),
        _ => None,
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
    fn broken_input_is_an_error_not_a_panic() {
        assert!(parse(b"").is_err());
        assert!(parse(b"<testsuite><testcase name='a'></testsuite>").is_err());
        assert!(parse(b"not xml at all").is_err());
        // A truncated file: what was complete is kept.
        let part = parse(b"<testsuites><testsuite><testcase name='a'/><testcase name='b'>");
        assert!(part.is_ok_and(|c| c.len() == 1));
    }
}
