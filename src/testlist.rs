//! `ptest list --tests`: the tests of each batch as its tool collects them. A batch's `list`
//! command runs once on all of the batch's items (in the batch's folder, with its environment)
//! and prints one test id a line, as ptest names tests and as `--test` takes them; a batch with
//! no `list` command stands for its tests by its items. Runs nothing of the plan itself.
//!
//! Must not reach into the scheduler: this is a listing, like `list` and `plan`.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::process::{Command, Stdio};

use crate::command::CommandLine;
use crate::plan::Plan;
use crate::plan::decl::BatchPart;

/// One batch's tests, or why they are not known.
#[derive(Debug, PartialEq)]
pub(crate) struct Listed {
    pub batch: String,
    /// The ids, in the tool's order.
    pub tests: Vec<String>,
    /// Whether its tool listed them (else they are its items).
    pub collected: bool,
    /// What went wrong, for stderr.
    pub problem: Option<String>,
}

/// Each batch of the plan, in the order its first part stands in the plan, with its tests.
pub(crate) fn list(plan: &Plan) -> Vec<Listed> {
    let mut order: Vec<&str> = Vec::new();
    let mut parts: Vec<Vec<(&BatchPart, &crate::plan::Suite)>> = Vec::new();
    for s in &plan.suites {
        let Some(part) = s.part.as_deref() else {
            continue;
        };
        if s.skip.is_some() {
            continue;
        }
        match order.iter().position(|b| *b == part.batch) {
            Some(i) => parts[i].push((part, s)),
            None => {
                order.push(&part.batch);
                parts.push(vec![(part, s)]);
            }
        }
    }
    order
        .iter()
        .zip(&parts)
        .map(|(batch, parts)| one(batch, parts))
        .collect()
}

fn one(batch: &str, parts: &[(&BatchPart, &crate::plan::Suite)]) -> Listed {
    // Every item once (a sliced item stands in several parts), in the parts' order.
    let mut seen = BTreeSet::new();
    let items: Vec<String> = parts
        .iter()
        .flat_map(|(p, _)| p.items.iter().map(|(i, _)| i.clone()))
        .filter(|i| seen.insert(i.clone()))
        .collect();
    let (first, suite) = parts[0];
    let named = Named::of(parts);
    let Some(list) = &first.list else {
        return Listed {
            batch: batch.to_owned(),
            tests: items,
            collected: false,
            problem: None,
        };
    };
    let whole = BatchPart {
        items: items.iter().map(|i| (i.clone(), 0.0)).collect(),
        template: list.clone(),
        slices: Vec::new(),
        // Whole items: a batch's list command takes items, and its own arguments say what
        // `-k` and `--test` select (the parts' per-test arguments are for running).
        tests: Vec::new(),
        ..first.clone()
    };
    let command = crate::batch::parts::command(&whole, None, &[], &std::ffi::OsStr::to_os_string);
    let mut cmd = match &command {
        CommandLine::Shell(s) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(s);
            c
        }
        CommandLine::Argv(v) => {
            let mut c = Command::new(&v[0]);
            c.args(&v[1..]);
            c
        }
    };
    cmd.current_dir(&suite.cwd)
        .envs(suite.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let failed = |problem: String| Listed {
        batch: batch.to_owned(),
        tests: Vec::new(),
        collected: true,
        problem: Some(problem),
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return failed(format!(
                "batch \"{batch}\": its list command could not start ({}): {e}",
                command.program()
            ));
        }
    };
    let mut out = Vec::new();
    let read = child
        .stdout
        .take()
        .map_or(Ok(0), |mut o| o.read_to_end(&mut out));
    let status = child.wait();
    match (read, status) {
        (Ok(_), Ok(st)) if st.success() => Listed {
            batch: batch.to_owned(),
            tests: String::from_utf8_lossy(&out)
                .lines()
                .map(str::trim_end)
                .filter(|l| !l.is_empty() && named.keeps(l))
                .map(str::to_owned)
                .collect(),
            collected: true,
            problem: None,
        },
        (_, Ok(st)) => {
            // What it printed on stdout was to be ids: shown with its errors instead.
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), &out);
            let how = match (
                st.code(),
                std::os::unix::process::ExitStatusExt::signal(&st),
            ) {
                (Some(c), _) => format!("exit code {c}"),
                (None, Some(s)) => format!("signal {s}"),
                (None, None) => st.to_string(),
            };
            failed(format!(
                "batch \"{batch}\": its list command failed ({how}); what it printed is above"
            ))
        }
        (_, Err(e)) => failed(format!("batch \"{batch}\": its list command: {e}")),
    }
}

/// The tests a run narrowed its items to (`--test`, `--rerun-failed`): of an item that runs
/// only some of its tests, the listing keeps those (and what they stand for: a class's
/// methods, a function's parameters; a named subtest's test, which runs for it).
struct Named {
    /// The `test` template's text before and after `{test}`.
    head: String,
    tail: String,
    /// Each item with the only tests of it that run (none: it runs whole); no item at all when
    /// none is narrowed.
    items: Vec<(String, Vec<String>)>,
}

impl Named {
    fn of(parts: &[(&BatchPart, &crate::plan::Suite)]) -> Named {
        let template = parts[0].0.test_template.clone().unwrap_or_default();
        let (head, tail) = template.split_once("{test}").unwrap_or((&template, ""));
        let mut items: Vec<(String, Vec<String>)> = Vec::new();
        for (part, _) in parts {
            for (k, (item, _)) in part.items.iter().enumerate() {
                let tests = part.tests.get(k).cloned().unwrap_or_default();
                match items.iter_mut().find(|(i, _)| i == item) {
                    Some((_, known)) if known.is_empty() => *known = tests,
                    Some(_) => {}
                    None => items.push((item.clone(), tests)),
                }
            }
        }
        if items.iter().all(|(_, tests)| tests.is_empty()) {
            items.clear();
        }
        Named {
            head: head.to_owned(),
            tail: tail.to_owned(),
            items,
        }
    }

    /// Whether the listed `id` runs: its item (the longest whose template it fits) runs whole,
    /// or the id is one of that item's tests or below one.
    fn keeps(&self, id: &str) -> bool {
        let mut best: Option<(&str, &[String])> = None;
        for (item, tests) in &self.items {
            let prefix = self.head.replace("{item}", item);
            let test = id
                .strip_prefix(prefix.as_str())
                .and_then(|t| t.strip_suffix(self.tail.as_str()))
                .filter(|t| !t.is_empty());
            if let Some(test) = test
                && best.is_none_or(|(b, _)| test.len() < b.len())
            {
                best = Some((test, tests));
            }
        }
        let Some((test, tests)) = best.filter(|(_, tests)| !tests.is_empty()) else {
            return true;
        };
        let dotted = |t: &str| t.replace("::", ".");
        tests.iter().any(|named| {
            crate::batch::pack::below(&dotted(test), &dotted(named))
                || named
                    .strip_prefix(test)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

/// One id a line.
pub(crate) fn text(listed: &[Listed]) -> String {
    let mut out = String::new();
    for l in listed {
        for t in &l.tests {
            out.push_str(t);
            out.push('\n');
        }
    }
    out
}

/// `{"batches": [{"name", "collected", "tests"}]}`.
pub(crate) fn json(listed: &[Listed]) -> String {
    let batches: Vec<serde_json::Value> = listed
        .iter()
        .map(|l| {
            serde_json::json!({
                "name": l.batch,
                "collected": l.collected,
                "tests": l.tests,
                "error": l.problem,
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&serde_json::json!({ "batches": batches }))
        .unwrap_or_default();
    s.push('\n');
    s
}
