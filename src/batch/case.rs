//! One test as a batch's results file reported it (DESIGN §9 `results`): plain data, read by
//! `results` and `gojson`, kept by the run, shown by the reports.

pub(crate) use crate::record::Outcome;

/// One testcase as the command reported it (serialized only to carry a part's attempts to the
/// machine that runs its next one, DESIGN §10).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// How it ended in its part, when a second run of its file as a plain run has it (in a
    /// fresh process that collects every file) ended otherwise (`ptest-confirmed="failure"` on
    /// a pytest testcase): its outcome is that run's.
    pub confirmed: Option<Outcome>,
    /// How many attempts of its part ran it (1 until a retry runs it again).
    pub attempts: u32,
    /// Failed in an earlier attempt of its part (the first line of what it said): when it
    /// passed in a later one, it is flaky.
    pub failed_before: Option<String>,
}

impl TestCase {
    /// The first line of its message, or of its text when there is no message; else its
    /// outcome's word.
    pub(crate) fn first_line(&self) -> String {
        [self.message.as_deref(), self.text.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|t| t.lines().map(str::trim).find(|l| !l.is_empty()))
            .unwrap_or(self.outcome.label())
            .to_owned()
    }
}

/// The tests a part told the run as they ended (`test` lines on `PTEST_SOCKET`), as testcases:
/// what its reports keep when it wrote no results file (stopped by Ctrl-C or fail-fast, killed
/// at its timeout). Each is put under the item its name starts with (`tests/x.py::test_y` under
/// `tests/x.py`, a cargo test `it/one` under itself), the rest of its name its own.
pub(crate) fn told(tests: &[(String, Outcome)], items: &[(String, f64)]) -> Vec<TestCase> {
    let by_name: std::collections::HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    tests
        .iter()
        .map(|(name, outcome)| {
            let (item, own, file) = match by_name.get(name.as_str()) {
                Some(&i) => (Some(i), name.clone(), None),
                None => match name
                    .match_indices("::")
                    .find_map(|(at, _)| by_name.get(&name[..at]).map(|&i| (i, at)))
                {
                    Some((i, at)) => (Some(i), name[at + 2..].to_owned(), Some(items[i].0.clone())),
                    None => (None, name.clone(), None),
                },
            };
            TestCase {
                name: own,
                classname: None,
                file,
                line: None,
                time: None,
                outcome: *outcome,
                message: None,
                kind: None,
                text: None,
                suite: None,
                suite_file: None,
                item,
                share: 0.0,
                sliced: None,
                confirmed: None,
                attempts: 1,
                failed_before: None,
            }
        })
        .collect()
}

#[cfg(test)]
impl TestCase {
    /// How reports name it (the record's [`crate::record::TestCase::display`]).
    pub(crate) fn display(&self) -> String {
        crate::sched::record::test_case(self, &[]).display()
    }

    /// The first line of its message, or of its text, as reports show it.
    pub(crate) fn summary(&self) -> Option<String> {
        crate::sched::record::test_case(self, &[])
            .summary()
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn told_tests_go_under_the_item_their_name_starts_with() {
        let items: Vec<(String, f64)> = ["tests/x.py", "it/one", "example.com/m/calc"]
            .iter()
            .map(|i| ((*i).to_owned(), 1.0))
            .collect();
        let cases = told(
            &[
                ("tests/x.py::TestC::test_y[a::b]".into(), Outcome::Failed),
                ("it/one".into(), Outcome::Passed),
                ("example.com/m/calc::TestAdd/sub".into(), Outcome::Skipped),
                ("elsewhere.py::test_z".into(), Outcome::Error),
            ],
            &items,
        );
        let seen: Vec<(Option<usize>, String, Outcome)> = cases
            .iter()
            .map(|c| (c.item, c.display(), c.outcome))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    Some(0),
                    "tests/x.py::TestC::test_y[a::b]".into(),
                    Outcome::Failed
                ),
                (Some(1), "it/one".into(), Outcome::Passed),
                (
                    Some(2),
                    "example.com/m/calc::TestAdd/sub".into(),
                    Outcome::Skipped
                ),
                (None, "elsewhere.py::test_z".into(), Outcome::Error),
            ]
        );
    }
}
