//! What every machine of a queue run must agree on (DESIGN §10): each unit's descriptor (its
//! name, command, phase, dependencies, group, slots, a batch part's items) and a digest of them
//! all. A machine whose config or history give another plan is refused with the first
//! difference named, before anything runs.

use serde_json::json;

use crate::command::CommandLine;
use crate::plan::Plan;

/// One descriptor per suite of the plan (a queue unit), in plan order, with its group.
pub(crate) fn descriptors(plan: &Plan) -> Vec<(String, Option<String>)> {
    plan.suites
        .iter()
        .map(|s| {
            let cmd = match &s.cmd {
                CommandLine::Shell(line) => json!({ "sh": line.to_string_lossy() }),
                CommandLine::Argv(argv) => json!({
                    "argv": argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>()
                }),
            };
            let phase = plan.phase(s.phase);
            let group = s.group.map(|g| plan.group(g));
            let desc = json!({
                "name": s.name,
                "cmd": cmd,
                "phase": phase.name,
                "depends_on": s.depends_on.iter().map(|d| &plan.suite(*d).name).collect::<Vec<_>>(),
                "group": group.map(|g| format!("{} (max {})", g.name, g.max)),
                "slots": s.slots,
                "serial": s.serial,
                "skip": s.skip.as_ref().map(crate::plan::StaticSkip::reason),
                "items": s.part.as_ref().map(|p| p.items.iter().map(|(i, _)| i).collect::<Vec<_>>()),
            });
            (desc.to_string(), group.map(|g| g.name.clone()))
        })
        .collect()
}

/// The digest of a plan's descriptors and phases' rules.
pub(crate) fn digest(plan: &Plan, descriptors: &[(String, Option<String>)]) -> String {
    let mut h = sha1_smol::Sha1::new();
    for p in &plan.phases {
        h.update(
            json!({ "phase": p.name, "on_failure": format!("{:?}", p.on_failure), "always": p.always })
                .to_string()
                .as_bytes(),
        );
        h.update(b"\n");
    }
    for (d, _) in descriptors {
        h.update(d.as_bytes());
        h.update(b"\n");
    }
    h.digest().to_string()
}

/// The first way `mine` differs from the stored plan `theirs`, in words.
pub(crate) fn difference(theirs: &[String], mine: &[(String, Option<String>)]) -> String {
    let parse = |d: &str| serde_json::from_str::<serde_json::Value>(d).unwrap_or_default();
    let name = |v: &serde_json::Value| v["name"].as_str().unwrap_or_default().to_owned();
    let theirs: Vec<_> = theirs.iter().map(|d| parse(d)).collect();
    let mine: Vec<_> = mine.iter().map(|(d, _)| parse(d)).collect();
    let their_names: std::collections::HashSet<String> = theirs.iter().map(name).collect();
    let my_names: std::collections::HashSet<String> = mine.iter().map(name).collect();
    if let Some(extra) = mine.iter().map(name).find(|n| !their_names.contains(n)) {
        return format!("suite \"{extra}\" is in this machine's plan but not in the queue's");
    }
    if let Some(missing) = theirs.iter().map(name).find(|n| !my_names.contains(n)) {
        return format!("suite \"{missing}\" is in the queue's plan but not in this machine's");
    }
    for (t, m) in theirs.iter().zip(&mine) {
        if name(t) != name(m) {
            return format!(
                "the suites come in another order (the queue's has \"{}\" where this machine's \
                 has \"{}\")",
                name(t),
                name(m)
            );
        }
        if let (Some(tf), Some(mf)) = (t.as_object(), m.as_object()) {
            for (field, tv) in tf {
                let mv = mf.get(field).cloned().unwrap_or_default();
                if *tv != mv {
                    return format!(
                        "suite \"{}\": {field} differs (the queue's: {tv}; this machine's: {mv})",
                        name(t)
                    );
                }
            }
        }
    }
    if theirs.len() != mine.len() {
        return format!(
            "the queue's plan has {} suites, this machine's {}",
            theirs.len(),
            mine.len()
        );
    }
    "the phases' rules differ (names, on_failure or always)".to_owned()
}
