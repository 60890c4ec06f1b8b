//! `go test -json` (cmd/test2json's event stream) read once, as a stream: each line decoded into
//! a [`GoEvent`], for the log by `ptest gotest` (each event's `Output`) and into per-test
//! results by [`cases`]. Linear in the bytes read whatever the tests' names and nesting: tests
//! are found through a tree of their names' `/` parts, and a piece of output is shared (not
//! copied) by the test that printed it and the tests above it.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::rc::Rc;

use super::bounded::{Budget, Clipped, Limits, read_line};
use super::case::{Outcome, TestCase};

/// One line of `go test -json` (cmd/test2json's `TestEvent`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GoEvent {
    pub action: String,
    pub package: Option<String>,
    pub test: Option<String>,
    pub elapsed: Option<f64>,
    pub output: Option<String>,
    /// Go 1.24+: `build-output` and `build-fail` name the package being built (`p [p.test]`).
    pub import_path: Option<String>,
    pub failed_build: Option<String>,
}

/// A line as an event, when it is one.
pub(crate) fn event(line: &[u8]) -> Option<GoEvent> {
    let line = line.trim_ascii();
    if line.first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(line).ok()
}

/// What a test printed, and its subtests: the first pieces up to the head's size and the last
/// ones up to the tail's, shared with the tests above it.
#[derive(Default)]
struct Rope {
    head: Vec<Rc<str>>,
    head_len: usize,
    tail: VecDeque<Rc<str>>,
    tail_len: usize,
    /// Bytes between the head and the tail that are no longer held.
    cut: u64,
}

impl Rope {
    fn push(&mut self, piece: &Rc<str>, limits: &Limits) {
        let n = piece.len();
        if self.head_len < limits.head && self.tail.is_empty() && self.cut == 0 {
            self.head.push(Rc::clone(piece));
            self.head_len += n;
            return;
        }
        self.tail.push_back(Rc::clone(piece));
        self.tail_len += n;
        while let Some(front) = self.tail.front()
            && self.tail_len - front.len() >= limits.tail
        {
            self.tail_len -= front.len();
            self.cut += front.len() as u64;
            self.tail.pop_front();
        }
    }

    /// A piece that could not be held (the file's cap on what it holds at once was reached).
    fn lose(&mut self, n: usize) {
        // The tail must end where the text does: what it holds goes too.
        self.cut += (self.tail_len + n) as u64;
        self.tail.clear();
        self.tail_len = 0;
    }

    fn held(&self) -> usize {
        self.head_len + self.tail_len
    }

    fn text(&self, limits: Limits) -> String {
        let mut c = Clipped::new(limits);
        for p in &self.head {
            c.push(p);
        }
        c.skip(self.cut);
        for p in &self.tail {
            c.push(p);
        }
        c.finish()
    }
}

/// A test, or a name part above a test (`A` of `A/b`), in a package's tree.
struct Node {
    parent: Option<usize>,
    /// Its own part of the name (`b` of `A/b`).
    part: Box<str>,
    /// The length of its whole name.
    name_len: usize,
    children: HashMap<Box<str>, usize>,
    /// Listed as a test (it ran, ended or printed), and where in the package's list.
    listed: bool,
    outcome: Option<Outcome>,
    elapsed: Option<f64>,
    /// What it and its subtests printed, until it ends (then `text` holds it).
    output: Option<Rope>,
    text: Option<String>,
}

#[derive(Default)]
struct Package {
    name: String,
    nodes: Vec<Node>,
    roots: HashMap<Box<str>, usize>,
    /// Tests in the order they were first named.
    listed: Vec<usize>,
    outcome: Option<Outcome>,
    /// What it printed outside any test, and its build's output.
    output: Option<Clipped>,
    /// Why it failed when no test could run ("build failed").
    message: Option<String>,
}

impl Package {
    /// The node of `name`, made (with the parts above it) when new and `room` allows.
    fn node(&mut self, name: &str, room: &mut usize) -> Option<usize> {
        let mut at: Option<usize> = None;
        for part in name.split('/') {
            let known = match at {
                None => self.roots.get(part),
                Some(p) => self.nodes[p].children.get(part),
            };
            at = Some(match known {
                Some(&i) => i,
                None => {
                    *room = room.checked_sub(1)?;
                    let i = self.nodes.len();
                    let name_len = at.map_or(0, |p| self.nodes[p].name_len + 1) + part.len();
                    self.nodes.push(Node {
                        parent: at,
                        part: part.into(),
                        name_len,
                        children: HashMap::new(),
                        listed: false,
                        outcome: None,
                        elapsed: None,
                        output: Some(Rope::default()),
                        text: None,
                    });
                    match at {
                        None => self.roots.insert(part.into(), i),
                        Some(p) => self.nodes[p].children.insert(part.into(), i),
                    };
                    i
                }
            });
        }
        at
    }

    fn list(&mut self, i: usize) {
        if !self.nodes[i].listed {
            self.nodes[i].listed = true;
            self.listed.push(i);
        }
    }

    fn name(&self, i: usize) -> String {
        let mut parts = Vec::new();
        let mut at = Some(i);
        while let Some(n) = at {
            parts.push(&*self.nodes[n].part);
            at = self.nodes[n].parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// A test ended: what it printed becomes its text, within the file's budget (a passed
    /// subtest keeps none: it is not reported).
    fn close(&mut self, i: usize, budget: &mut Budget, held: &mut usize) {
        let node = &mut self.nodes[i];
        let Some(rope) = node.output.take() else {
            return;
        };
        *held -= rope.held();
        let passed = node.outcome.is_some_and(|o| !o.is_failure());
        if node.parent.is_some() && passed {
            return;
        }
        let text = go_output(&rope.text(*budget.limits()));
        if text.is_empty() {
            return;
        }
        let text = budget.text(text);
        node.text = Some(match node.text.take() {
            // Run again (`-count`): both runs' output.
            Some(before) if !before.is_empty() => before + "\n" + &text,
            _ => text,
        });
    }

    /// A test runs (again: `-count=2`): what it prints from now on is kept.
    fn open(&mut self, i: usize) {
        self.list(i);
        self.nodes[i].output.get_or_insert_with(Rope::default);
    }
}

/// Every test in a `go test -json` stream: a testcase per test (classname and testsuite: the
/// package's import path), with its output (and its subtests') as the text. A subtest is a
/// testcase of its own only when it failed (its time is in its parent's); a test that started
/// and never ended (a panic elsewhere, `-timeout`) failed; a package that failed outside its
/// tests (build, `TestMain`, `init`) is an error named after the package. Lines that are not
/// JSON (go before 1.24 prints `FAIL pkg [build failed]` plainly) are read for that, else
/// skipped. Output after a test's own end is not in its text.
pub(crate) fn cases(mut input: impl BufRead, budget: &mut Budget) -> Result<Vec<TestCase>, String> {
    let limits = *budget.limits();
    let mut packages: Vec<Package> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut package = |packages: &mut Vec<Package>, name: &str| -> Option<usize> {
        if let Some(&i) = index.get(name) {
            return Some(i);
        }
        if packages.len() >= limits.cases {
            return None;
        }
        packages.push(Package {
            name: name.to_owned(),
            ..Package::default()
        });
        index.insert(name.to_owned(), packages.len() - 1);
        Some(packages.len() - 1)
    };
    let mut events = 0usize;
    let mut known = false;
    // Tests and name parts the file may still name (each costs memory until the end).
    let mut room = limits.cases.saturating_mul(4);
    // Bytes the open tests' ropes hold (a piece counts once per rope), against `file_text`.
    let mut held = 0usize;
    let mut line = Vec::new();
    while read_line(&mut input, &mut line, limits.line).map_err(|e| crate::io_message(&e))? {
        let e = if let Some(e) = event(&line) {
            events += 1;
            e
        } else {
            let text = String::from_utf8_lossy(&line);
            // `FAIL\tpkg [build failed]` / `[setup failed]`
            let Some(rest) = text.trim().strip_prefix("FAIL") else {
                continue;
            };
            let Some((pkg, why)) = rest.trim().split_once(" [") else {
                continue;
            };
            let Some(why) = why.strip_suffix(']') else {
                continue;
            };
            if pkg.contains(char::is_whitespace) {
                continue;
            }
            known = true;
            let Some(i) = package(&mut packages, pkg) else {
                continue;
            };
            packages[i].outcome = Some(Outcome::Failed);
            packages[i].message = Some(why.to_owned());
            continue;
        };
        let owner = e.package.as_deref().or_else(|| {
            e.import_path
                .as_deref()
                .map(|p| p.split(" [").next().unwrap_or(p))
        });
        let Some(owner) = owner else { continue };
        known = true;
        let Some(p) = package(&mut packages, owner) else {
            continue;
        };
        let p = &mut packages[p];
        let end = match e.action.as_str() {
            "pass" => Some(Outcome::Passed),
            "fail" => Some(Outcome::Failed),
            "skip" => Some(Outcome::Skipped),
            _ => None,
        };
        match (e.action.as_str(), e.test.as_deref()) {
            ("output", Some(t)) => {
                let out = e.output.unwrap_or_default();
                let piece: Rc<str> = if out.len() > limits.text() {
                    let mut c = Clipped::new(limits);
                    c.push(&out);
                    c.finish().into()
                } else {
                    out.into()
                };
                // The test and each test above it (`A/b/c` is under `A/b` and `A`), listed
                // from the test up as they are first named.
                let mut at = p.node(t, &mut room);
                while let Some(i) = at {
                    p.list(i);
                    if let Some(rope) = p.nodes[i].output.as_mut() {
                        let before = rope.held();
                        if held + piece.len() <= limits.file_text {
                            rope.push(&piece, &limits);
                        } else {
                            rope.lose(piece.len());
                        }
                        held = held - before + rope.held();
                    }
                    at = p.nodes[i].parent;
                }
            }
            ("output" | "build-output", None) => {
                let out = e.output.unwrap_or_default();
                let c = p.output.get_or_insert_with(|| Clipped::new(limits));
                let before = c.held();
                if held + out.len() <= limits.file_text {
                    c.push(&out);
                } else {
                    c.skip(out.len() as u64);
                }
                held = held - before + c.held();
            }
            ("run", Some(t)) => match p.node(t, &mut room) {
                Some(i) => p.open(i),
                None => budget.left_out(),
            },
            (_, Some(t)) if end.is_some() => {
                let Some(i) = p.node(t, &mut room) else {
                    continue;
                };
                p.list(i);
                p.nodes[i].outcome = end;
                p.nodes[i].elapsed = e.elapsed;
                p.close(i, budget, &mut held);
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
    if events == 0 && !known {
        return Err("neither JUnit XML nor go test -json output".into());
    }
    let mut out = Vec::new();
    for mut p in packages {
        let package_failed = p.outcome == Some(Outcome::Failed) || p.message.is_some();
        let mut any_failed = false;
        for at in std::mem::take(&mut p.listed) {
            // A test that never ended: what it printed so far.
            p.close(at, budget, &mut held);
            let t = &mut p.nodes[at];
            let outcome = t.outcome.unwrap_or(Outcome::Failed);
            let sub = t.parent.is_some();
            if sub && !outcome.is_failure() {
                continue;
            }
            any_failed |= outcome.is_failure();
            let text = t.text.take().unwrap_or_default();
            let message = match (outcome, t.outcome) {
                (Outcome::Skipped, _) => text.lines().next().map(|l| l.trim().to_owned()),
                (_, None) => Some(
                    "did not finish (the test binary stopped: a panic, -timeout or os.Exit)".into(),
                ),
                _ => None,
            };
            let time = if sub {
                None
            } else {
                t.elapsed.filter(|e| e.is_finite() && *e >= 0.0)
            };
            let case = TestCase {
                name: p.name(at),
                classname: Some(p.name.clone()),
                file: None,
                line: None,
                time,
                outcome,
                message,
                kind: None,
                text: (!text.is_empty()).then_some(text),
                suite: Some(p.name.clone()),
                suite_file: None,
                item: None,
                share: 0.0,
                sliced: None,
                confirmed: None,
                attempts: 1,
                failed_before: None,
            };
            if budget.take_case(&case) {
                out.push(case);
            }
        }
        if package_failed && !any_failed {
            let text = go_output(&p.output.take().map(Clipped::finish).unwrap_or_default());
            let case = TestCase {
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
                text: (!text.is_empty()).then(|| budget.text(text)),
                suite: Some(p.name.clone()),
                suite_file: None,
                item: None,
                share: 0.0,
                sliced: None,
                confirmed: None,
                attempts: 1,
                failed_before: None,
            };
            if budget.take_case(&case) {
                out.push(case);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::bounded::LIMITS;

    fn read(json: &str, limits: Limits) -> Vec<TestCase> {
        cases(json.as_bytes(), &mut Budget::new(limits)).unwrap()
    }

    fn ev(action: &str, test: &str, output: &str) -> String {
        let mut e = serde_json::json!({ "Action": action, "Package": "p" });
        if !test.is_empty() {
            e["Test"] = test.into();
        }
        if !output.is_empty() {
            e["Output"] = output.into();
        }
        format!("{e}\n")
    }

    #[test]
    fn every_escape_json_allows_is_decoded() {
        let json = r#"{"Action":"run","Package":"p","Test":"T"}
{"Action":"output","Package":"p","Test":"T","Output":"\u00e9\u2603 \ud83d\ude00 \u001b[31m\t\"\\\n"}
{"Action":"fail","Package":"p","Test":"T"}
"#;
        let cases = read(json, LIMITS);
        assert_eq!(cases[0].text.as_deref(), Some("é☃ 😀 \u{1b}[31m\t\"\\"));
    }

    #[test]
    fn a_test_run_twice_keeps_both_runs_output_and_the_last_outcome() {
        let json = [
            ev("run", "T", ""),
            ev("output", "T", "first\n"),
            ev("pass", "T", ""),
            ev("run", "T", ""),
            ev("output", "T", "second\n"),
            ev("fail", "T", ""),
            // After its end: not its.
            ev("output", "T", "late\n"),
        ]
        .concat();
        let cases = read(&json, LIMITS);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].outcome, Outcome::Failed);
        assert_eq!(cases[0].text.as_deref(), Some("first\nsecond"));
    }

    #[test]
    fn a_subtest_that_never_ended_failed_with_what_it_printed() {
        let json = [
            ev("run", "T", ""),
            ev("run", "T/a", ""),
            ev("output", "T/a", "stuck here\n"),
        ]
        .concat();
        let cases = read(&json, LIMITS);
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["T", "T/a"]);
        assert_eq!(cases[1].text.as_deref(), Some("stuck here"));
        assert!(
            cases[1]
                .message
                .as_deref()
                .unwrap()
                .starts_with("did not finish")
        );
    }

    #[test]
    fn output_is_shared_not_copied_down_a_deep_chain() {
        let limits = Limits {
            head: 16,
            tail: 16,
            file_text: 1 << 20,
            ..LIMITS
        };
        let mut json = String::new();
        let mut name = String::from("T");
        let mut names = Vec::new();
        for i in 0..300 {
            if i > 0 {
                name.push_str("/x");
            }
            json.push_str(&ev("run", &name, ""));
            names.push(name.clone());
        }
        for i in 0..50 {
            json.push_str(&ev("output", &name, &format!("line {i:02}\n")));
        }
        for n in names.iter().rev() {
            json.push_str(&ev("fail", n, ""));
        }
        let cases = read(&json, limits);
        assert_eq!(cases.len(), 300);
        for c in &cases {
            let t = c.text.as_deref().unwrap();
            assert!(t.starts_with("line 00\nline 01\n"), "{t}");
            assert!(t.contains(" bytes cut here"), "{t}");
            assert!(t.ends_with("line 48\nline 49"), "{t}");
        }
    }

    #[test]
    fn what_open_tests_hold_at_once_is_capped() {
        let limits = Limits {
            head: 16,
            tail: 16,
            file_text: 100,
            ..LIMITS
        };
        let mut json = String::new();
        for t in 0..10 {
            json.push_str(&ev("run", &format!("T{t}"), ""));
        }
        for t in 0..10 {
            json.push_str(&ev("output", &format!("T{t}"), "0123456789abcdefghij\n"));
        }
        for t in 0..10 {
            json.push_str(&ev("fail", &format!("T{t}"), ""));
        }
        let cases = read(&json, limits);
        // The first four fit in the 100 bytes held at once; the others lost their output.
        let kept: Vec<bool> = cases
            .iter()
            .map(|c| c.text.as_deref().unwrap_or("").contains("0123"))
            .collect();
        assert_eq!(
            kept,
            [
                true, true, true, true, false, false, false, false, false, false
            ]
        );
        assert!(
            cases[9].text.as_deref().unwrap().starts_with("[ptest: "),
            "{:?}",
            cases[9].text
        );
    }

    #[test]
    fn long_lines_and_many_tests_stay_within_the_caps() {
        let limits = Limits {
            line: 200,
            cases: 5,
            ..LIMITS
        };
        // A line past the cap is cut, so it no longer reads as an event.
        let long = ev("output", "T", &"y".repeat(500));
        let json = [ev("run", "T", ""), long, ev("pass", "T", "")].concat();
        let cases = read(&json, limits);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].text, None);
        // Tests past four times the testcase cap are not followed.
        let many: String = (0..30).map(|i| ev("run", &format!("T{i}"), "")).collect();
        let mut budget = Budget::new(limits);
        let got = super::cases(many.as_bytes(), &mut budget).unwrap();
        assert_eq!(got.len(), 5);
        assert!(budget.warning().is_some());
    }
}
