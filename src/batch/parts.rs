//! What the scheduler does for a batch's part (DESIGN §9): the command for the items an attempt
//! runs, the JUnit results file it wrote, the testcases kept across attempts, and which items a
//! retry runs (the failed ones, when the results say which).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::results::{self, TestCase};
use crate::exec::CommandLine;
use crate::plan::decl::BatchPart;

/// The command for `items` (indices into the part's items; `None`: all of them).
pub(crate) fn command(part: &BatchPart, items: Option<&[usize]>) -> CommandLine {
    match items {
        None => part.full_command(),
        Some(ix) => {
            let args: Vec<String> = ix.iter().map(|&i| part.arg(i)).collect();
            part.command(args.iter().map(String::as_str))
        }
    }
}

/// Read the results file an attempt that started at `started` wrote, with each testcase
/// attributed to the part's items. An error says why not, for a warning.
pub(crate) fn read(
    path: &Path,
    started: SystemTime,
    part: &BatchPart,
) -> Result<Vec<TestCase>, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "the command did not write it".to_owned(),
        _ => crate::io_message(&e),
    })?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    // A file left by an earlier run says nothing about this attempt. Allow for coarse clocks.
    if meta
        .modified()
        .is_ok_and(|m| m + std::time::Duration::from_secs(2) < started)
    {
        return Err("it is older than this attempt (the command did not write it)".into());
    }
    let bytes = std::fs::read(path).map_err(|e| crate::io_message(&e))?;
    let mut cases = results::parse(&bytes)?;
    let names: Vec<&str> = part.items.iter().map(|(i, _)| i.as_str()).collect();
    results::attribute(&mut cases, &names);
    Ok(cases)
}

/// The results path of an attempt: templates filled, relative to the suite's folder.
pub(crate) fn path(
    template: &str,
    fill: impl Fn(&std::ffi::OsStr) -> std::ffi::OsString,
    cwd: &Path,
) -> PathBuf {
    cwd.join(fill(template.as_ref()))
}

/// Keep what earlier attempts found for items this attempt did not run; this attempt's cases
/// replace the rest.
pub(crate) fn merge(kept: &mut Vec<TestCase>, ran: Option<&[usize]>, new: Vec<TestCase>) {
    match ran {
        None => kept.clear(),
        Some(ix) => kept.retain(|c| c.item.is_some_and(|i| !ix.contains(&i))),
    }
    kept.extend(new);
}

/// The items a retry runs: those with a failed testcase, and those of this attempt that
/// reported nothing (they may not have run); `None` (all) when that is every item or nothing.
pub(crate) fn retry_items(
    part: &BatchPart,
    ran: Option<&[usize]>,
    cases: &[TestCase],
) -> Option<Vec<usize>> {
    let ran: Vec<usize> = ran.map_or_else(|| (0..part.items.len()).collect(), <[usize]>::to_vec);
    let mut failed = vec![false; part.items.len()];
    let mut seen = vec![false; part.items.len()];
    for c in cases {
        if let Some(i) = c.item {
            seen[i] = true;
            failed[i] |= c.outcome.is_failure();
        }
    }
    // Testcases no item claims failed: which items they belong to is unknown.
    if cases
        .iter()
        .any(|c| c.item.is_none() && c.outcome.is_failure())
    {
        return None;
    }
    let again: Vec<usize> = ran.into_iter().filter(|&i| failed[i] || !seen[i]).collect();
    (!again.is_empty() && again.len() < part.items.len()).then_some(again)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::results::Outcome;
    use crate::plan::decl::ItemSource;

    fn part(n: usize) -> BatchPart {
        BatchPart {
            batch: "b".into(),
            index: 1,
            count: 1,
            items: (0..n).map(|i| (format!("t{i}"), 1.0)).collect(),
            source: ItemSource::Equal,
            overhead: 0.0,
            template: CommandLine::Argv(vec!["x".into(), "{items}".into()]),
            results: None,
            slices: Vec::new(),
            slice_template: None,
        }
    }

    fn case(item: Option<usize>, outcome: Outcome) -> TestCase {
        TestCase {
            item,
            ..crate::report::tests::test_case("n", None, outcome)
        }
    }

    #[test]
    fn a_retry_runs_the_failed_and_the_unreported_items() {
        let p = part(4);
        let cases = [
            case(Some(0), Outcome::Passed),
            case(Some(1), Outcome::Failed),
            case(Some(2), Outcome::Skipped),
        ];
        assert_eq!(retry_items(&p, None, &cases), Some(vec![1, 3]));
        assert_eq!(
            command(&p, Some(&[1, 3])),
            CommandLine::Argv(vec!["x".into(), "t1".into(), "t3".into()])
        );
        // Nothing known, or a failure no item claims: everything again.
        assert_eq!(retry_items(&p, None, &[]), None);
        let unclaimed = [case(Some(0), Outcome::Passed), case(None, Outcome::Error)];
        assert_eq!(retry_items(&p, None, &unclaimed), None);
        // A second retry narrows within what the first ran.
        let second = [
            case(Some(1), Outcome::Passed),
            case(Some(3), Outcome::Failed),
        ];
        assert_eq!(retry_items(&p, Some(&[1, 3]), &second), Some(vec![3]));
    }

    #[test]
    fn merging_keeps_earlier_results_of_items_not_rerun() {
        let mut kept = vec![
            case(Some(0), Outcome::Passed),
            case(Some(1), Outcome::Failed),
        ];
        merge(&mut kept, Some(&[1]), vec![case(Some(1), Outcome::Passed)]);
        assert_eq!(
            kept.iter().map(|c| (c.item, c.outcome)).collect::<Vec<_>>(),
            [(Some(0), Outcome::Passed), (Some(1), Outcome::Passed)]
        );
        merge(&mut kept, None, vec![case(Some(2), Outcome::Passed)]);
        assert_eq!(kept.len(), 1);
    }
}
