//! One test as a batch's results file reported it (DESIGN §9 `results`): plain data, read by
//! `results` and `gojson`, kept by the run, shown by the reports.

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
    /// How it ended in a slice of its item, when the item then ran whole and it ended
    /// otherwise there (`ptest-sliced="failure"` on a pytest testcase): its outcome is the
    /// whole run's, and the item is not to be cut in slices again.
    pub sliced: Option<Outcome>,
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
