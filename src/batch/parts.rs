//! What the scheduler does for a batch's part (DESIGN §9): the command for the items an attempt
//! runs, the JUnit results file it wrote, the testcases kept across attempts, and which items a
//! retry runs (the failed ones, when the results say which).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::results::{self, Parsed, TestCase};
use crate::command::CommandLine;
use crate::plan::decl::BatchPart;

/// The command for `items` (indices into the part's items; `None`: all of them), with `fill`
/// applied to the template (the placeholders of DESIGN §5) and never to the items: an item is
/// data, so an item `{worker}` reaches the command as `{worker}`.
/// `skips`: tests left out of their items (`(item, test)`), each by the batch's `skip_test`
/// template after its item's own arguments.
pub(crate) fn command(
    part: &BatchPart,
    items: Option<&[usize]>,
    skips: &[(usize, String)],
    fill: &dyn Fn(&OsStr) -> OsString,
) -> CommandLine {
    let with_skips = |i: usize| {
        let mut args = args_of(part, i, fill);
        if let Some(template) = &part.skip_test {
            for (_, t) in skips.iter().filter(|(j, _)| *j == i) {
                args.push(test_arg(template, &part.items[i].0, t, fill));
            }
        }
        args
    };
    let args: Vec<OsString> = match items {
        None => (0..part.items.len()).flat_map(with_skips).collect(),
        Some(ix) => ix.iter().flat_map(|&i| with_skips(i)).collect(),
    };
    let joined = || {
        let quoted: Vec<Vec<u8>> = args.iter().map(|a| shell_quote(a.as_bytes())).collect();
        quoted.join(&b' ')
    };
    match &part.template {
        CommandLine::Shell(s) => CommandLine::Shell(fill_around(s, "{items}", &joined(), fill)),
        CommandLine::Argv(v) => {
            let mut out = Vec::with_capacity(v.len() + args.len());
            for a in v {
                if a == "{items}" {
                    out.extend(args.iter().cloned());
                } else if crate::command::has(a, "{items}") {
                    out.push(fill_around(a, "{items}", &joined(), fill));
                } else {
                    out.push(fill(a));
                }
            }
            CommandLine::Argv(out)
        }
    }
}

/// What stands for item `i` in the command: one argument per test of it the part runs, by the
/// batch's `test` template (the template filled, the item and the tests not), else [`arg`].
fn args_of(part: &BatchPart, i: usize, fill: &dyn Fn(&OsStr) -> OsString) -> Vec<OsString> {
    let Some((template, tests)) = part.tests_of(i) else {
        return vec![arg(part, i, fill)];
    };
    let item = &part.items[i].0;
    tests
        .iter()
        .map(|t| test_arg(template, item, t, fill))
        .collect()
}

/// `template` (`{item}` and `{test}` in it) for test `test` of `item`: the template filled, the
/// item and the test not.
fn test_arg(template: &str, item: &str, test: &str, fill: &dyn Fn(&OsStr) -> OsString) -> OsString {
    let mut out = Vec::new();
    for (k, piece) in template.split("{test}").enumerate() {
        if k > 0 {
            out.extend_from_slice(test.as_bytes());
        }
        out.extend(fill_around(OsStr::new(piece), "{item}", item.as_bytes(), fill).into_vec());
    }
    OsString::from_vec(out)
}

/// What stands for item `i` in the command: the item, or its slice by the batch's `slice`
/// template (the template filled, the item not).
fn arg(part: &BatchPart, i: usize, fill: &dyn Fn(&OsStr) -> OsString) -> OsString {
    let item = &part.items[i].0;
    match (part.slice(i), &part.slice_template) {
        (Some(sl), Some(t)) => {
            let t = t
                .replace("{slices}", &sl.count.to_string())
                .replace("{slice}", &sl.index.to_string());
            fill_around(OsStr::new(&t), "{item}", item.as_bytes(), fill)
        }
        _ => OsString::from(item),
    }
}

/// `template` with `fill` applied to the text around each `placeholder`, and `value` put in
/// its place as it is.
fn fill_around(
    template: &OsStr,
    placeholder: &str,
    value: &[u8],
    fill: &dyn Fn(&OsStr) -> OsString,
) -> OsString {
    let text = template.as_bytes();
    let mut out = Vec::with_capacity(text.len() + value.len());
    let mut at = 0;
    for found in memchr::memmem::find_iter(text, placeholder.as_bytes()) {
        out.extend(fill(OsStr::from_bytes(&text[at..found])).into_vec());
        out.extend_from_slice(value);
        at = found + placeholder.len();
    }
    out.extend(fill(OsStr::from_bytes(&text[at..])).into_vec());
    OsString::from_vec(out)
}

/// `word` as one shell word: unchanged when it is plain, else in single quotes (as
/// `plan::decl::shell_quote`, on bytes: a filled template need not be UTF-8).
fn shell_quote(word: &[u8]) -> Vec<u8> {
    let plain = !word.is_empty()
        && word
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(b));
    if plain {
        return word.to_vec();
    }
    let mut out = vec![b'\''];
    for &b in word {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// Open the results file an attempt that started at `started` wrote: only a regular file,
/// opened without following a link and without waiting (a FIFO put in its place is refused,
/// never read from), so that this is safe on the scheduler's thread. An error says why not,
/// for a warning.
pub(crate) fn open(path: &Path, started: SystemTime) -> Result<std::fs::File, String> {
    let refuse = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => "the command did not write it".to_owned(),
        _ if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            "not a regular file".to_owned()
        }
        _ => crate::io_message(&e),
    };
    // Said before opening: a link, a folder or a FIFO is named as such (and a FIFO is not
    // opened at all).
    let meta = std::fs::symlink_metadata(path).map_err(refuse)?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let file = open_regular(path).map_err(|e| match e {
        Refused::Io(e) => refuse(e),
        Refused::NotRegular => "not a regular file".to_owned(),
    })?;
    let meta = file.metadata().map_err(|e| crate::io_message(&e))?;
    // A file left by an earlier run says nothing about this attempt. Allow for coarse clocks.
    if meta
        .modified()
        .is_ok_and(|m| m + std::time::Duration::from_secs(2) < started)
    {
        return Err("it is older than this attempt (the command did not write it)".into());
    }
    Ok(file)
}

enum Refused {
    Io(std::io::Error),
    NotRegular,
}

/// `path` opened for reading only if it is a regular file: never through a link (`O_NOFOLLOW`),
/// and without waiting (`O_NONBLOCK`: a FIFO swapped in after a check opens at once and is
/// then refused, where a plain open would wait for a writer forever). What was opened is what
/// counts.
fn open_regular(path: &Path) -> Result<std::fs::File, Refused> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = std::fs::File::from(
        rustix::fs::open(path, flags, Mode::empty()).map_err(|e| Refused::Io(e.into()))?,
    );
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(file),
        Ok(_) => Err(Refused::NotRegular),
        Err(e) => Err(Refused::Io(e)),
    }
}

/// Read an opened results file within the caps ([`super::bounded::LIMITS`]), each testcase
/// attributed to one of `items`. Linear in the file's size; meant to run off the scheduler's
/// thread.
pub(crate) fn read(file: impl std::io::Read, items: &[String]) -> Result<Parsed, String> {
    let mut parsed = results::read(file, super::bounded::LIMITS)?;
    let names: Vec<&str> = items.iter().map(String::as_str).collect();
    results::attribute(&mut parsed.cases, &names);
    Ok(parsed)
}

/// Reads results files off the caller's thread, one thread per file (a part's end is rare;
/// the caller's loop goes on meanwhile). Each read comes back with the caller's `token`.
pub(crate) struct Reader<T> {
    tx: tokio::sync::mpsc::UnboundedSender<(T, Result<Parsed, String>)>,
    rx: tokio::sync::mpsc::UnboundedReceiver<(T, Result<Parsed, String>)>,
}

impl<T: Send + 'static> Reader<T> {
    pub(crate) fn new() -> Reader<T> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Reader { tx, rx }
    }

    /// Read `file` (see [`read`]); the result comes out of [`Reader::next`].
    pub(crate) fn start(&self, token: T, file: std::fs::File, items: Vec<String>) {
        // The thread takes the work; when no thread can start, it is done here, bounded all
        // the same.
        let work = std::sync::Arc::new(std::sync::Mutex::new(Some((token, file, items))));
        let theirs = std::sync::Arc::clone(&work);
        let tx = self.tx.clone();
        let run = move |work: &std::sync::Mutex<Option<(T, std::fs::File, Vec<String>)>>| {
            let job = work.lock().ok().and_then(|mut w| w.take());
            if let Some((token, file, items)) = job {
                let _ = tx.send((token, read(file, &items)));
            }
        };
        let fallback = run.clone();
        let spawned = std::thread::Builder::new()
            .name("ptest-results".into())
            .spawn(move || run(&theirs));
        if spawned.is_err() {
            fallback(&work);
        }
    }

    /// The next file read.
    pub(crate) async fn next(&mut self) -> Option<(T, Result<Parsed, String>)> {
        self.rx.recv().await
    }
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
/// replace the rest. A test this attempt ran again counts its attempts, and one that failed
/// before keeps what that failure said: passed now, it is flaky.
pub(crate) fn merge(kept: &mut Vec<TestCase>, ran: Option<&[usize]>, new: Vec<TestCase>) {
    let replaced: Vec<TestCase> = match ran {
        None => std::mem::take(kept),
        Some(ix) => {
            let ran: std::collections::HashSet<usize> = ix.iter().copied().collect();
            let (stay, go): (Vec<TestCase>, Vec<TestCase>) = std::mem::take(kept)
                .into_iter()
                .partition(|c| c.item.is_some_and(|i| !ran.contains(&i)));
            *kept = stay;
            go
        }
    };
    // By name: a retry of many tests finds each earlier one at once.
    let mut earlier: std::collections::HashMap<(&str, Option<&str>), &TestCase> =
        std::collections::HashMap::with_capacity(replaced.len());
    for c in &replaced {
        earlier.insert((c.name.as_str(), c.classname.as_deref()), c);
    }
    kept.extend(new.into_iter().map(|mut c| {
        if let Some(old) = earlier.get(&(c.name.as_str(), c.classname.as_deref())) {
            c.attempts = old.attempts.saturating_add(1);
            c.failed_before = old
                .failed_before
                .clone()
                .or_else(|| old.outcome.is_failure().then(|| old.first_line()));
        }
        c
    }));
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

/// Which of a running part's items it hands on (DESIGN §9): of those it has not claimed
/// (`claimed`, by index), whole (no slice, no tests named of them), the last ones in its order
/// whose expected durations add up to at most half of all of them, and at least the last one.
/// Ascending.
pub(crate) fn to_hand_on(part: &BatchPart, claimed: &[bool]) -> Vec<usize> {
    let free: Vec<usize> = (0..part.items.len())
        .filter(|&i| !claimed.get(i).copied().unwrap_or(false))
        .filter(|&i| part.slices.get(i).is_none_or(Option::is_none))
        .filter(|&i| part.tests.get(i).is_none_or(Vec::is_empty))
        .collect();
    let total: f64 = free.iter().map(|&i| part.items[i].1).sum();
    let mut taken = Vec::new();
    let mut sum = 0.0;
    for &i in free.iter().rev() {
        let d = part.items[i].1;
        if !taken.is_empty() && sum + d > total / 2.0 {
            break;
        }
        sum += d;
        taken.push(i);
    }
    taken.reverse();
    taken
}

/// `part` without items `gone` (indices), and a part of just those items, both keeping each
/// item's slice and named tests.
pub(crate) fn split_off(part: &BatchPart, gone: &[usize]) -> (BatchPart, BatchPart) {
    // The entries of a per-item list that go with the items kept (or those gone).
    fn pick<T: Clone>(list: &[T], gone: &[usize], keep: bool) -> Vec<T> {
        list.iter()
            .enumerate()
            .filter(|(i, _)| gone.contains(i) != keep)
            .map(|(_, x)| x.clone())
            .collect()
    }
    let side = |keep: bool| BatchPart {
        items: pick(&part.items, gone, keep),
        // Empty when no item is sliced or narrowed, and so for each side.
        slices: pick(&part.slices, gone, keep),
        tests: pick(&part.tests, gone, keep),
        ..part.clone()
    };
    (side(true), side(false))
}

/// `part` with `more`'s items after its own (a part about to start, given items handed on).
pub(crate) fn joined(part: &BatchPart, more: &BatchPart) -> BatchPart {
    let mut p = part.clone();
    let (had, adds) = (part.items.len(), more.items.len());
    p.items.extend(more.items.iter().cloned());
    if !part.slices.is_empty() || !more.slices.is_empty() {
        p.slices.resize(had, None);
        p.slices
            .extend((0..adds).map(|i| more.slices.get(i).copied().flatten()));
    }
    if !part.tests.is_empty() || !more.tests.is_empty() {
        p.tests.resize(had, Vec::new());
        p.tests
            .extend((0..adds).map(|i| more.tests.get(i).cloned().unwrap_or_default()));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::results::Outcome;
    use crate::plan::decl::{ItemSource, Slice};

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
            tests: Vec::new(),
            test_template: None,
            list: None,
            warm: None,
            test_timeout: None,
            test_slow: crate::plan::decl::TEST_SLOW,
            skip_test: None,
        }
    }

    #[test]
    fn a_part_hands_on_the_later_half_of_its_unclaimed_whole_items() {
        let mut p = part(6);
        for (i, d) in [4.0, 1.0, 2.0, 3.0, 1.0, 1.0].into_iter().enumerate() {
            p.items[i].1 = d;
        }
        // Items 0 and 1 claimed; of 2..5 (7 s), the last ones up to half: 5, 4 (2 s), not 3.
        let claimed = [true, true, false, false, false, false];
        assert_eq!(to_hand_on(&p, &claimed), [4, 5]);
        // A slice, or an item of which only some tests run, stays.
        p.slices = vec![
            None,
            None,
            None,
            None,
            None,
            Some(Slice { index: 1, count: 2 }),
        ];
        assert_eq!(to_hand_on(&p, &claimed), [4]);
        // One item left unclaimed, however long: it goes.
        assert_eq!(to_hand_on(&part(3), &[true, true, false]), [2]);
        assert!(to_hand_on(&part(2), &[true, true]).is_empty());
        // Split off and joined again, each item keeps its slice and named tests.
        p.tests = vec![vec![], vec!["t".into()], vec![], vec![], vec![], vec![]];
        let (kept, moved) = split_off(&p, &[1, 5]);
        assert_eq!(
            kept.items.iter().map(|i| &i.0).collect::<Vec<_>>(),
            ["t0", "t2", "t3", "t4"]
        );
        assert_eq!(moved.slices, [None, Some(Slice { index: 1, count: 2 })]);
        assert_eq!(moved.tests, [vec!["t".to_owned()], vec![]]);
        let joined = joined(&part(1), &moved);
        assert_eq!(
            joined.items.iter().map(|i| &i.0).collect::<Vec<_>>(),
            ["t0", "t1", "t5"]
        );
        assert_eq!(
            joined.slices,
            [None, None, Some(Slice { index: 1, count: 2 })]
        );
        assert_eq!(joined.tests, [vec![], vec!["t".to_owned()], vec![]]);
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
            command(&p, Some(&[1, 3]), &[], &|t| t.to_owned()),
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

    /// A fill that replaces `{worker}` by 7, as the driver's does.
    fn seven(t: &OsStr) -> OsString {
        crate::command::replace(t, "{worker}", b"7")
    }

    #[test]
    fn the_template_is_filled_and_the_items_never_are() {
        let mut p = part(0);
        p.items = vec![("a{worker}b".into(), 1.0), ("it's".into(), 1.0)];
        p.template = CommandLine::Argv(vec![
            "run-{worker}".into(),
            "{items}".into(),
            "--all={worker}:{items}".into(),
        ]);
        assert_eq!(
            command(&p, None, &[], &seven),
            CommandLine::Argv(vec![
                "run-7".into(),
                "a{worker}b".into(),
                "it's".into(),
                "--all=7:'a{worker}b' 'it'\\''s'".into(),
            ])
        );
        p.template = CommandLine::Shell("w={worker} t {items} {worker}".into());
        assert_eq!(
            command(&p, Some(&[0]), &[], &seven),
            CommandLine::Shell("w=7 t 'a{worker}b' 7".into())
        );
        // A slice: its template is filled, the item in it is not.
        p.slice_template = Some("{item}::{worker}-{slice}/{slices}".into());
        p.slices = vec![Some(crate::plan::decl::Slice { index: 2, count: 3 }), None];
        p.template = CommandLine::Argv(vec!["{items}".into()]);
        assert_eq!(
            command(&p, None, &[], &seven),
            CommandLine::Argv(vec!["a{worker}b::7-2/3".into(), "it's".into()])
        );
    }

    #[test]
    fn only_some_tests_of_an_item_run_by_the_test_template() {
        let mut p = part(0);
        p.items = vec![("t{worker}.py".into(), 1.0), ("u.py".into(), 1.0)];
        p.template = CommandLine::Argv(vec!["run".into(), "{items}".into()]);
        p.test_template = Some("{item}::{test}@{worker}".into());
        p.tests = vec![vec!["TestC::a[{item}]".into(), "b".into()], Vec::new()];
        // One argument per test; the template filled, the item and the tests not.
        assert_eq!(
            command(&p, None, &[], &seven),
            CommandLine::Argv(vec![
                "run".into(),
                "t{worker}.py::TestC::a[{item}]@7".into(),
                "t{worker}.py::b@7".into(),
                "u.py".into(),
            ])
        );
        // A retry of the item runs the same tests of it.
        assert_eq!(
            command(&p, Some(&[0]), &[], &seven),
            CommandLine::Argv(vec![
                "run".into(),
                "t{worker}.py::TestC::a[{item}]@7".into(),
                "t{worker}.py::b@7".into(),
            ])
        );
        // What `ptest list` shows: the same, unfilled.
        assert_eq!(
            p.full_command(),
            CommandLine::Argv(vec![
                "run".into(),
                "t{worker}.py::TestC::a[{item}]@{worker}".into(),
                "t{worker}.py::b@{worker}".into(),
                "u.py".into(),
            ])
        );
        // Without a template, an item runs whole.
        p.test_template = None;
        assert_eq!(
            command(&p, Some(&[0]), &[], &seven),
            CommandLine::Argv(vec!["run".into(), "t{worker}.py".into()])
        );
    }

    #[test]
    fn tests_left_out_of_an_item_follow_it_by_the_skip_test_template() {
        let mut p = part(0);
        p.items = vec![("t{worker}.py".into(), 1.0), ("u.py".into(), 1.0)];
        p.template = CommandLine::Argv(vec!["run".into(), "{items}".into()]);
        let seven = |a: &OsStr| OsString::from(a.to_string_lossy().replace("{worker}", "7"));
        let skips = [(0, "TestC::a[{item}]".to_owned()), (0, "b".to_owned())];
        // No template: the item runs whole.
        assert_eq!(
            command(&p, Some(&[0, 1]), &skips, &seven),
            CommandLine::Argv(vec!["run".into(), "t{worker}.py".into(), "u.py".into()])
        );
        p.skip_test = Some("{item}::ptest-skip::{test}@{worker}".into());
        assert_eq!(
            command(&p, Some(&[0, 1]), &skips, &seven),
            CommandLine::Argv(vec![
                "run".into(),
                "t{worker}.py".into(),
                "t{worker}.py::ptest-skip::TestC::a[{item}]@7".into(),
                "t{worker}.py::ptest-skip::b@7".into(),
                "u.py".into(),
            ])
        );
        p.template = CommandLine::Shell("run {items}".into());
        assert_eq!(
            command(&p, None, &skips[1..], &seven),
            CommandLine::Shell("run 't{worker}.py' 't{worker}.py::ptest-skip::b@7' u.py".into())
        );
    }

    #[test]
    fn a_results_file_is_opened_only_when_it_is_a_regular_file_of_this_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let missing = open(&dir.path().join("none.xml"), now).unwrap_err();
        assert_eq!(missing, "the command did not write it");
        let fifo = dir.path().join("fifo.xml");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        // Never waits for a writer.
        assert_eq!(open(&fifo, now).unwrap_err(), "not a regular file");
        let file = dir.path().join("r.xml");
        std::fs::write(&file, "<testsuites/>").unwrap();
        let link = dir.path().join("link.xml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(open(&link, now).unwrap_err(), "not a regular file");
        std::fs::create_dir(dir.path().join("d.xml")).unwrap();
        assert_eq!(
            open(&dir.path().join("d.xml"), now).unwrap_err(),
            "not a regular file"
        );
        assert!(open(&file, now).is_ok());
        // Past the first check (a FIFO swapped in after it): opened at once, then refused.
        assert!(matches!(open_regular(&fifo), Err(Refused::NotRegular)));
        assert!(matches!(open_regular(&link), Err(Refused::Io(_))));
        assert!(open_regular(&file).is_ok());
        let later = now + std::time::Duration::from_secs(60);
        assert!(
            open(&file, later)
                .unwrap_err()
                .contains("older than this attempt")
        );
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

    fn named(name: &str, outcome: Outcome, message: Option<&str>) -> TestCase {
        TestCase {
            item: Some(0),
            message: message.map(str::to_owned),
            ..crate::report::tests::test_case(name, None, outcome)
        }
    }

    #[test]
    fn a_test_that_failed_then_passed_on_a_retry_is_flaky_with_what_it_said_first() {
        let mut kept = vec![
            named("shaky", Outcome::Failed, Some("\n  refused\nmore")),
            named("broken", Outcome::Failed, None),
            named("fine", Outcome::Passed, None),
        ];
        // The retry runs the failed ones: `shaky` passes, `broken` fails again.
        merge(
            &mut kept,
            Some(&[0]),
            vec![
                named("shaky", Outcome::Passed, None),
                named("broken", Outcome::Failed, None),
            ],
        );
        let by = |n: &str| kept.iter().find(|c| c.name == n).unwrap();
        assert_eq!(by("shaky").attempts, 2);
        assert_eq!(by("shaky").failed_before.as_deref(), Some("refused"));
        assert_eq!(by("broken").attempts, 2);
        // The record counts only a test that passed at last as flaky.
        let record = crate::sched::record::test_case(by("shaky"), &[]);
        assert!(record.is_flaky() && record.flaky);
        let record = crate::sched::record::test_case(by("broken"), &[]);
        assert!(!record.is_flaky() && record.failed_before.is_none());
        assert_eq!(record.attempts, 2);
        // A third attempt: the first failure is still what it said before.
        merge(
            &mut kept,
            Some(&[0]),
            vec![named("broken", Outcome::Passed, None)],
        );
        let broken = kept.iter().find(|c| c.name == "broken").unwrap();
        assert_eq!(
            (broken.attempts, broken.failed_before.as_deref()),
            (3, Some("failed"))
        );
    }
}
