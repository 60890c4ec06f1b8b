//! What `ptest list` and `ptest plan` print (`ptest graph`: `graph.rs`). Pure functions of the plan: a view,
//! kept on the reporting side so the plan stays data.

use std::borrow::Cow;
use std::fmt::Write;

use serde_json::{Value, json};

use super::shown;
use crate::command::CommandLine;
use crate::duration::human;
use crate::plan::{Plan, Suite, SuiteId};

fn names(plan: &Plan, ids: &[SuiteId]) -> String {
    ids.iter()
        .map(|d| shown(&plan.suite(*d).name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fields that shape a run, after a suite's name in `ptest list`. Written straight into
/// `out`: a list of thousands of suites should not allocate per field.
fn suite_details(out: &mut String, plan: &Plan, s: &Suite) {
    let _ = write!(out, "[{}]", shown(&s.category));
    if !s.tags.is_empty() {
        out.push_str("  tags: ");
        push_joined(out, s.tags.iter().map(|t| shown(t)), ",");
    }
    if !s.depends_on.is_empty() {
        out.push_str("  depends_on: ");
        out.push_str(&names(plan, &s.depends_on));
    }
    if !s.needs.is_empty() {
        out.push_str("  needs: ");
        push_joined(
            out,
            s.needs.iter().map(|n| shown(&plan.service(*n).name)),
            ", ",
        );
    }
    if let Some(l) = s.limiter {
        let _ = write!(out, "  limiter: {}", shown(&plan.limiter(l).name));
    }
    if let Some(r) = s.retry_label.as_deref().map(shown) {
        let n = s.retry.attempts;
        let _ = write!(
            out,
            "  retry: {r} ({n} attempt{})",
            if n == 1 { "" } else { "s" }
        );
    }
    let _ = write!(out, "  timeout: {}", human(s.timeout));
    if s.slots > 1 {
        let _ = write!(out, "  slots: {}", s.slots);
    }
    if s.serial {
        out.push_str("  serial");
    }
    if let Some(skip) = &s.skip {
        let _ = write!(out, "  skipped: {}", shown(&skip.reason()));
    }
}

/// A batch part's items under its line in `ptest list`, each with its expected duration.
fn part_items(out: &mut String, indent: &str, part: &crate::plan::decl::BatchPart) {
    let _ = writeln!(
        out,
        "{indent}  {} item{}, expected {} ({}{})",
        part.items.len(),
        if part.items.len() == 1 { "" } else { "s" },
        fmt_secs(part.expected()),
        part.source.label(),
        if part.overhead > 0.0 {
            format!(", {} of it the process's own", fmt_secs(part.overhead))
        } else {
            String::new()
        }
    );
    let names: Vec<String> = (0..part.items.len())
        .map(|i| match part.slice(i) {
            Some(sl) => format!(
                "{} (slice {} of {})",
                shown(&part.items[i].0),
                sl.index,
                sl.count
            ),
            None => shown(&part.items[i].0).into_owned(),
        })
        .collect();
    let width = names
        .iter()
        .map(|i| i.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for (item, (_, d)) in names.iter().zip(&part.items) {
        let _ = writeln!(out, "{indent}    {item:<width$}  {}", fmt_secs(*d));
    }
}

fn push_joined<'a>(out: &mut String, items: impl Iterator<Item = Cow<'a, str>>, sep: &str) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&item);
    }
}

/// How a service is checked, as `ptest list` and `ptest plan` show it: `tcp 127.0.0.1:{port}`.
pub(crate) fn ready_text(v: &crate::plan::Service) -> String {
    use crate::plan::ReadyCheck;
    match v.ready.as_ref().map(|r| &r.check) {
        None => "when started".to_owned(),
        Some(ReadyCheck::Tcp(t)) => format!("tcp {}", shown(t)),
        Some(ReadyCheck::Http(u)) => format!("http {}", shown(u)),
        Some(ReadyCheck::Cmd(c)) => format!("cmd {}", shown(&command_text(c))),
        Some(ReadyCheck::Log(l)) => format!("log {l:?}"),
    }
}

fn command_text(c: &CommandLine) -> String {
    match c {
        CommandLine::Shell(s) => s.to_string_lossy().into_owned(),
        CommandLine::Argv(v) => v
            .iter()
            .map(|a| crate::plan::decl::shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A service's scope, check and the suites that need it, on one line.
fn service_line(plan: &Plan, v: &crate::plan::Service) -> String {
    let mut line = format!("scope {}  ready: {}", v.scope.label(), ready_text(v));
    if v.ready.is_some() {
        let _ = write!(
            line,
            " within {}",
            crate::plan::services::secs_text(v.ready_timeout)
        );
    }
    if !v.ports.is_empty() {
        line.push_str("  ports: ");
        let ports: Vec<String> = v
            .ports
            .iter()
            .map(|p| match p {
                None => "{port}".to_owned(),
                Some(n) => format!("{{port:{n}}}"),
            })
            .collect();
        line.push_str(&ports.join(" "));
    }
    let n = v.needed_by.len();
    if n == 0 {
        line.push_str("  needed by no suite (never started)");
    } else {
        let _ = write!(
            line,
            "  needed by {n} suite{}: {}",
            if n == 1 { "" } else { "s" },
            needers(plan, v)
        );
    }
    line
}

/// The suites that need a service, a batch's parts as the batch (`unit[1..4]`).
fn needers(plan: &Plan, v: &crate::plan::Service) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut last_batch: Option<(&str, u32, u32)> = None;
    let flush = |out: &mut Vec<String>, b: Option<(&str, u32, u32)>| {
        if let Some((name, first, last)) = b {
            if first == last {
                out.push(format!("{}[{first}]", shown(name)));
            } else {
                out.push(format!("{}[{first}..{last}]", shown(name)));
            }
        }
    };
    for id in &v.needed_by {
        let s = plan.suite(*id);
        match (&s.part, &mut last_batch) {
            (Some(p), Some((name, _, last))) if *name == p.batch && *last + 1 == p.index => {
                *last = p.index;
            }
            (Some(p), _) => {
                flush(&mut out, last_batch.take());
                last_batch = Some((p.batch.as_str(), p.index, p.index));
            }
            (None, _) => {
                flush(&mut out, last_batch.take());
                out.push(shown(&s.name).into_owned());
            }
        }
    }
    flush(&mut out, last_batch);
    out.join(", ")
}

/// `ptest list`: suites by phase, then group, with category and the fields that shape a run.
pub(crate) fn list_text(plan: &Plan) -> String {
    let mut out = String::with_capacity(128 * (plan.suites.len() + plan.phases.len() + 1));
    // The column where details start, counting the deeper indent of grouped suites, so that
    // details line up across groups.
    let column = plan
        .suites
        .iter()
        .map(|s| s.name.chars().count().min(48) + if s.group.is_some() { 4 } else { 2 })
        .max()
        .unwrap_or(0);
    for phase in &plan.phases {
        if phase.suites.is_empty() {
            continue;
        }
        let n = phase.suites.len();
        let _ = write!(
            out,
            "phase {} ({n} suite{})",
            shown(&phase.name),
            if n == 1 { "" } else { "s" }
        );
        if !phase.enabled {
            out.push_str(" [disabled]");
        }
        if phase.always {
            out.push_str(" [always]");
        }
        out.push('\n');
        // Ungrouped first, then each group in declaration order.
        let mut sections: Vec<(Option<crate::plan::GroupId>, Vec<SuiteId>)> =
            vec![(None, Vec::new())];
        for g in &plan.groups {
            sections.push((Some(g.id), Vec::new()));
        }
        for id in &phase.suites {
            let s = plan.suite(*id);
            let slot = s.group.map_or(0, |g| g.index() + 1);
            sections[slot].1.push(*id);
        }
        for (group, ids) in sections {
            if ids.is_empty() {
                continue;
            }
            let indent = if let Some(g) = group {
                let g = plan.group(g);
                let _ = writeln!(out, "  group {} (max {})", shown(&g.name), g.max);
                "    "
            } else {
                "  "
            };
            for id in ids {
                let s = plan.suite(id);
                let pad = column.saturating_sub(indent.len());
                let _ = write!(out, "{indent}{:<pad$}  ", shown(&s.name));
                suite_details(&mut out, plan, s);
                out.push('\n');
                if let Some(part) = &s.part {
                    part_items(&mut out, indent, part);
                }
            }
        }
    }
    if !plan.services.is_empty() {
        out.push_str("services\n");
        let width = plan
            .services
            .iter()
            .map(|v| v.name.chars().count())
            .max()
            .unwrap_or(0)
            .min(40);
        for v in &plan.services {
            let _ = writeln!(
                out,
                "  {:<width$}  {}",
                shown(&v.name),
                service_line(plan, v)
            );
        }
    }
    let skipped = plan.suites.iter().filter(|s| s.skip.is_some()).count();
    let _ = writeln!(
        out,
        "{} suite{} ({} declared{})",
        plan.suites.len(),
        if plan.suites.len() == 1 { "" } else { "s" },
        plan.declared,
        if skipped > 0 {
            format!(", {skipped} skipped")
        } else {
            String::new()
        }
    );
    out
}

fn secs(d: std::time::Duration) -> Value {
    json!(d.as_secs_f64())
}

/// A retry policy for tools: `when` says whether a predicate decides (its index into the Lua
/// layer's list means nothing outside).
fn policy_json(p: &crate::plan::RetryPolicy) -> Value {
    json!({
        "attempts": p.attempts,
        "delay": secs(p.delay),
        "factor": p.factor,
        "max_delay": secs(p.max_delay),
        "jitter": p.jitter,
        "on_exit_codes": p.on_exit_codes,
        "on_output": p.on_output,
        "on_timeout": p.on_timeout,
        "when": p.when.is_some(),
    })
}

/// `ptest list --format json`: every declared field, for tools.
pub(crate) fn list_json(plan: &Plan) -> String {
    let priority = crate::plan::priority::initial(plan);
    // Bytes that are not UTF-8 are shown as U+FFFD; the process gets them unchanged.
    let env_map = |env: &[(String, std::ffi::OsString)]| -> serde_json::Map<String, Value> {
        env.iter()
            .map(|(k, v)| (k.clone(), json!(v.to_string_lossy())))
            .collect()
    };
    let suites: Vec<Value> = plan
        .suites
        .iter()
        .map(|s| {
            let cmd = match &s.cmd {
                CommandLine::Shell(c) => json!(c.to_string_lossy()),
                CommandLine::Argv(v) => {
                    json!(v.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>())
                }
            };
            let mut v = json!({
                "name": s.name,
                "description": s.description,
                "cmd": cmd,
                "category": s.category,
                "tags": s.tags,
                "cwd": s.cwd,
                "env": env_map(&s.env),
                "timeout": secs(s.timeout),
                "depends_on": s.depends_on.iter().map(|d| &plan.suite(*d).name).collect::<Vec<_>>(),
                "group": plan.group_name(s),
                "phase": plan.phase(s.phase).name,
                "limiter": s.limiter.map(|l| &plan.limiter(l).name),
                "retry": s.retry_label.as_ref().map(|label| json!({ "name": label, "policy": policy_json(&s.retry) })),
                "slots": s.slots,
                "serial": s.serial,
                "estimate": s.estimate.map(secs),
                "enabled": s.skip != Some(crate::plan::StaticSkip::Disabled),
                "skip_reason": s.skip.as_ref().map(crate::plan::StaticSkip::reason),
                "expected": s.expected,
                "path": s.path,
                "priority": priority[s.id.index()],
                "origin": s.origin.to_string(),
            });
            if !s.needs.is_empty() {
                v["needs"] = json!(s.needs.iter().map(|n| &plan.service(*n).name).collect::<Vec<_>>());
            }
            // Only a batch's parts have the key: plain suites' JSON stays as it was.
            if let Some(p) = &s.part {
                v["batch"] = json!({
                    "name": p.batch,
                    "index": p.index,
                    "count": p.count,
                    "source": p.source.label(),
                    "overhead": p.overhead,
                    "results": p.results,
                    "items": p.items.iter().enumerate().map(|(k, (i, d))| {
                        let mut item = json!({ "name": i, "expected": d });
                        if let Some(sl) = p.slice(k) {
                            item["slice"] = json!({ "index": sl.index, "count": sl.count });
                        }
                        item
                    }).collect::<Vec<_>>(),
                });
            }
            v
        })
        .collect();
    let doc = json!({
        "config": plan.config_path,
        "workers": plan.workers,
        "workers_source": plan.worker_source.label(),
        "log_dir": plan.log_dir,
        "fail_fast": plan.fail_fast,
        "grace": secs(plan.grace),
        "phases": plan.phases.iter().map(|p| json!({
            "name": p.name, "enabled": p.enabled, "workers": p.workers,
            "on_failure": p.on_failure, "always": p.always,
            "suites": p.suites.iter().map(|id| &plan.suite(*id).name).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "groups": plan.groups.iter().map(|g| json!({
            "name": g.name, "max": g.max, "env": env_map(&g.env),
            "suites": g.members.iter().map(|id| &plan.suite(*id).name).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "limiters": plan.limiters.iter().map(|l| json!({
            "name": l.name, "rate": l.rate, "per": secs(l.per), "burst": l.burst,
            "concurrency": l.concurrency, "adaptive": l.adaptive, "max_throttled": l.max_throttled,
        })).collect::<Vec<_>>(),
        "timeout": secs(plan.default_timeout),
        "retries": plan.retry_policies.iter().map(|(name, p)| json!({
            "name": name, "policy": policy_json(p),
        })).collect::<Vec<_>>(),
        "hooks": plan.hooks,
        "suites": suites,
    });
    let mut doc = doc;
    // Only a config that declares services has the key.
    if !plan.services.is_empty() {
        doc["services"] = plan
            .services
            .iter()
            .map(|v| service_json(plan, v, &env_map))
            .collect();
    }
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// An environment as a JSON object (bytes that are not UTF-8 shown as U+FFFD).
type EnvMap<'a> = dyn Fn(&[(String, std::ffi::OsString)]) -> serde_json::Map<String, Value> + 'a;

fn command_json(c: &CommandLine) -> Value {
    match c {
        CommandLine::Shell(c) => json!(c.to_string_lossy()),
        CommandLine::Argv(v) => json!(v.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>()),
    }
}

fn service_json(plan: &Plan, v: &crate::plan::Service, env_map: &EnvMap<'_>) -> Value {
    use crate::plan::ReadyCheck;
    let ready = v.ready.as_ref().map(|r| {
        let (kind, what) = match &r.check {
            ReadyCheck::Tcp(t) => ("tcp", json!(t)),
            ReadyCheck::Http(u) => ("http", json!(u)),
            ReadyCheck::Cmd(c) => ("cmd", command_json(c)),
            ReadyCheck::Log(l) => ("log", json!(l)),
        };
        json!({ kind: what, "interval": r.interval.map(secs) })
    });
    json!({
        "name": v.name,
        "description": v.description,
        "cmd": command_json(&v.cmd),
        "cwd": v.cwd,
        "env": env_map(&v.env),
        "own_env": env_map(&v.own_env),
        "scope": v.scope,
        "ready": ready,
        "ready_timeout": secs(v.ready_timeout),
        "grace": secs(v.grace),
        "ports": v.ports.iter().map(|p| p.as_deref().unwrap_or("")).collect::<Vec<_>>(),
        "needed_by": v.needed_by.iter().map(|id| &plan.suite(*id).name).collect::<Vec<_>>(),
        "origin": v.origin.to_string(),
    })
}

/// `ptest plan`: the parallelization report a team reads before trusting a config.
pub(crate) fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "config:    {}", plan.config_path.display());
    let _ = writeln!(
        out,
        "workers:   {} ({})",
        plan.workers,
        plan.worker_source.label()
    );
    let _ = writeln!(
        out,
        "fail-fast: {}",
        if plan.fail_fast { "on" } else { "off" }
    );
    let _ = writeln!(
        out,
        "log dir:   {}",
        crate::report::display_path(&plan.log_dir).display()
    );
    let skipped = plan.suites.iter().filter(|s| s.skip.is_some()).count();
    let _ = writeln!(
        out,
        "suites:    {} to run, {skipped} skipped, {} declared",
        plan.suites.len() - skipped,
        plan.declared
    );
    let counted = plan
        .suites
        .iter()
        .filter(|s| s.memory.is_some() || s.memory_auto)
        .count();
    if counted > 0 {
        let _ = writeln!(
            out,
            "memory:    budget {} ({}), {counted} suite{} counted",
            crate::size::human(plan.memory_budget),
            plan.memory_budget_source,
            if counted == 1 { "" } else { "s" }
        );
    }
    out.push_str("\nphases, in order:\n");
    for (i, p) in plan.phases.iter().enumerate() {
        let mut flags = Vec::new();
        if !p.enabled {
            flags.push("disabled".to_owned());
        }
        if p.always {
            flags.push("always".to_owned());
        }
        flags.push(format!(
            "on_failure {}",
            if p.on_failure == crate::plan::OnFailure::Stop {
                "stop"
            } else {
                "continue"
            }
        ));
        let _ = writeln!(
            out,
            "  {}. {}  workers {}  {} suite{}  ({})",
            i + 1,
            shown(&p.name),
            p.workers,
            p.suites.len(),
            if p.suites.len() == 1 { "" } else { "s" },
            flags.join(", ")
        );
    }
    if !plan.groups.is_empty() {
        out.push_str("\ngroups:\n");
        for g in &plan.groups {
            let work: f64 = g.members.iter().map(|m| plan.suite(*m).expected).sum();
            let _ = writeln!(
                out,
                "  {}  max {}  {} suite{}  expected work {}",
                shown(&g.name),
                g.max,
                g.members.len(),
                if g.members.len() == 1 { "" } else { "s" },
                fmt_secs(work)
            );
        }
    }
    if !plan.limiters.is_empty() {
        out.push_str("\nlimiters:\n");
        for l in &plan.limiters {
            let users = plan
                .suites
                .iter()
                .filter(|s| s.limiter == Some(l.id))
                .count();
            let _ = write!(
                out,
                "  {}  {} per {}, burst {}",
                shown(&l.name),
                l.rate,
                human(l.per),
                l.burst
            );
            if let Some(c) = l.concurrency {
                let _ = write!(out, ", concurrency {c}");
            }
            if l.adaptive {
                out.push_str(", adaptive");
            }
            let _ = writeln!(
                out,
                "  ({users} suite{})",
                if users == 1 { "" } else { "s" }
            );
        }
    }
    if !plan.services.is_empty() {
        out.push_str(
            "\nservices (started for the first suite that needs them, stopped after the last):\n",
        );
        for v in &plan.services {
            let _ = writeln!(out, "  {}  {}", shown(&v.name), service_line(plan, v));
        }
    }
    let priority = crate::plan::priority::initial(plan);
    let (predicted, wall) = crate::sched::simulate::simulate(plan);
    let timed = plan
        .suites
        .iter()
        .any(|s| s.expected_source != crate::plan::ExpectedSource::None);
    out.push_str("\nstart order, as a run takes it when every suite passes as expected\n");
    out.push_str("(longest expected remaining path first):\n");
    for p in &plan.phases {
        let in_phase: Vec<&crate::sched::simulate::Predicted> = predicted
            .iter()
            .filter(|x| plan.suite(x.id).phase == p.id)
            .collect();
        if in_phase.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  phase {}", shown(&p.name));
        let width = in_phase
            .iter()
            .map(|x| plan.suite(x.id).name.chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        for (i, x) in in_phase.iter().enumerate() {
            let s = plan.suite(x.id);
            let _ = write!(out, "    {:>3}. {:<width$}", i + 1, shown(&s.name));
            if timed {
                let _ = write!(out, "  at {:>7}", fmt_secs(x.start));
            }
            let _ = write!(out, "  worker {}", x.worker);
            if let Some(part) = &s.part {
                let _ = write!(
                    out,
                    "  {} item{}, expected {} ({})",
                    part.items.len(),
                    if part.items.len() == 1 { "" } else { "s" },
                    fmt_secs(part.expected()),
                    part.source.label()
                );
            } else if s.expected_source == crate::plan::ExpectedSource::None {
                out.push_str("  expected ? (none)");
            } else {
                let _ = write!(
                    out,
                    "  expected {} ({})",
                    fmt_secs(s.expected),
                    s.expected_source.label()
                );
            }
            let _ = write!(out, "  path {}", amount(timed, priority[x.id.index()]));
            match (s.memory, s.memory_auto) {
                (Some(m), auto) => {
                    let _ = write!(
                        out,
                        "  memory {}{}",
                        crate::size::human(m),
                        if auto { " (auto)" } else { "" }
                    );
                }
                (None, true) => out.push_str("  memory auto (no history yet)"),
                (None, false) => {}
            }
            if let Some(g) = s.group {
                let _ = write!(out, "  group {}", shown(&plan.group(g).name));
            }
            if !s.depends_on.is_empty() {
                let _ = write!(out, "  after {}", names(plan, &s.depends_on));
            }
            out.push('\n');
        }
    }
    if timed {
        let _ = writeln!(
            out,
            "\npredicted wall time {} (rate limits not simulated)",
            fmt_secs(wall)
        );
    }
    let work: f64 = plan
        .suites
        .iter()
        .filter(|s| s.skip.is_none())
        .map(|s| s.expected)
        .sum();
    let critical = plan
        .suites
        .iter()
        .filter(|s| s.skip.is_none())
        .map(|s| s.path)
        .fold(0.0, f64::max);
    // A group runs at most `max` members at once, so its work bounds the run too.
    let group_bound = plan
        .groups
        .iter()
        .map(|g| {
            let work: f64 = g
                .members
                .iter()
                .map(|m| plan.suite(*m))
                .filter(|s| s.skip.is_none())
                .map(|s| s.expected)
                .sum();
            work / f64::from(g.max.max(1))
        })
        .fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "\nexpected work {}; longest chain {}; with {} workers a run takes at least {}",
        amount(timed, work),
        amount(timed, critical),
        plan.workers,
        amount(
            timed,
            critical
                .max(group_bound)
                .max(work / f64::from(plan.workers.max(1)))
        )
    );
    if !timed {
        out.push_str(
            "(no history or estimates: every suite counts as 1 unit, so the order follows dependency depth)\n",
        );
    } else if plan
        .suites
        .iter()
        .any(|s| s.expected_source == crate::plan::ExpectedSource::None)
    {
        out.push_str("(suites with no expected duration count as the mean of the others)\n");
    }
    out
}

/// A duration when anything has an expected duration; else units (every suite counts as 1):
/// "path 2.0s" would claim a time nobody measured.
fn amount(timed: bool, x: f64) -> String {
    if timed {
        return fmt_secs(x);
    }
    let n = if x.fract().abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    };
    format!("{n} unit{}", if (x - 1.0).abs() < 1e-9 { "" } else { "s" })
}

fn fmt_secs(s: f64) -> String {
    human(crate::duration::from_secs_lossy(s))
}
