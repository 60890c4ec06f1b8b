//! Declarations → Plan, in passes: batches expanded into suites (`expand_batches`); names
//! indexed and references resolved, then the graph checked (unknown names, duplicates, cycles,
//! dependencies on later phases, slots), every error collected and reported in file order
//! (`check`); the selection applied (`select`); the plan assembled with the settings applied
//! and priorities computed (`assemble`). The settings come resolved (`settings::resolve`): no
//! precedence here.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

use super::decl::{Declarations, RetryRef, SuiteDecl};
use super::{
    Group, GroupId, Limiter, LimiterId, Phase, PhaseId, Plan, RetryPolicy, StaticSkip, Suite,
    SuiteId,
};
use crate::error::{ConfigError, Error, Origin};
use crate::settings::{RetryOverride, Selection, Settings, WorkerSource, phase_workers};
use crate::suggest;

pub(crate) const DEFAULT_PHASE: &str = "default";

/// What the plan needs besides the declarations and the settings: facts of the machine and of
/// earlier runs.
pub(crate) struct Facts<'a> {
    /// The machine's logical CPUs: batches are sized for them only when the settings could not
    /// be resolved, to go on to the config's own errors.
    pub cpus: u32,
    /// What earlier runs measured (expected durations, peak memory, what failed last).
    pub history: &'a crate::history::History,
    /// The machine's available memory in bytes: the default memory budget, asked only when a
    /// suite declares memory.
    pub memory_available: &'a dyn Fn() -> u64,
}

#[expect(
    clippy::unnecessary_wraps,
    reason = "every ConfigError context is optional"
)]
fn ctx(kind: &str, name: &str) -> Option<String> {
    Some(format!("{kind} \"{name}\""))
}

/// Names to positions. Hashing the names (not a B-tree of strings with long common prefixes,
/// as generated configs have) keeps a 10,000-suite plan quick; FNV-1a because SipHash's
/// protection against crafted keys is not needed for names from our own config.
type NameIndex<'a> = HashMap<&'a str, usize, BuildHasherDefault<Fnv>>;

/// FNV-1a, 64 bits.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Index names of one kind, reporting duplicates.
fn index_names<'a>(
    kind: &str,
    items: impl Iterator<Item = (&'a str, &'a Origin)>,
    errors: &mut Vec<ConfigError>,
) -> NameIndex<'a> {
    let mut map = NameIndex::default();
    let mut origins: Vec<&Origin> = Vec::new();
    for (i, (name, origin)) in items.enumerate() {
        origins.push(origin);
        match map.entry(name) {
            Entry::Occupied(first) => errors.push(ConfigError::new(
                Some(origin.clone()),
                ctx(kind, name),
                format!(
                    "duplicate name (first declared at {})",
                    origins[*first.get()]
                ),
            )),
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
    map
}

/// The known names in a stable order, for suggestions.
fn sorted_names<'a>(known: &NameIndex<'a>) -> Vec<&'a str> {
    let mut names: Vec<&str> = known.keys().copied().collect();
    names.sort_unstable();
    names
}

fn unknown(
    errors: &mut Vec<ConfigError>,
    s: &SuiteDecl,
    field: &str,
    kind: &str,
    name: &str,
    known: &NameIndex<'_>,
) {
    let hint = suggest::hint(name, sorted_names(known));
    let hint = if hint.is_empty() && known.is_empty() {
        format!(" (declare it with ptest.{kind} {{ name = \"{name}\", ... }})")
    } else {
        hint
    };
    errors.push(ConfigError::new(
        Some(s.origin.clone()),
        ctx("suite", &s.name),
        format!("{field}: unknown {kind} \"{name}\"{hint}"),
    ));
}

/// Build the plan from the declarations and the settings `settings::resolve` made of them, or
/// every error found. Settings that could not be resolved (a bad `PTEST_WORKERS`) are reported
/// after the config's own errors.
pub(crate) fn build(
    d: Declarations,
    settings: Result<Settings, Error>,
    facts: &Facts<'_>,
) -> Result<Plan, Error> {
    build_with(d, settings, facts, None, 1)
}

/// DESIGN §10, a queue run's plan: the whole run (whatever shard is named: that is only the
/// fallback), its batches cut for the workers of every machine of the run, this machine's
/// worker count times the shard total the CI names (`--shard`, `PTEST_SHARD`, its
/// parallel-job variables; one machine when none is named), so that there are parts enough to
/// keep them all busy, and the shrinking parts shrink toward the end of the whole run.
pub(crate) fn build_queue(
    d: Declarations,
    settings: Result<Settings, Error>,
    facts: &Facts<'_>,
) -> Result<Plan, Error> {
    let machines = settings
        .as_ref()
        .ok()
        .and_then(|s| s.shard.value)
        .map_or(1, |s| s.total.max(1));
    build_with(d, settings, facts, None, machines)
}

/// The plan of what this machine runs. On a static shard (`settings.shard`, DESIGN §10) the
/// whole run is planned first, `split` says what the shard runs (and anything else the caller
/// wants to know of the split, `X`), and the shard's plan is built from that: only what the
/// share names, a spread batch packing only the shard's items, into parts named after the
/// shard (`unit[2.1]`, so that no two shards' parts share a name). Otherwise it is [`build`].
/// The split is the caller's: `plan` knows nothing of how shards are made.
pub(crate) fn build_run<X>(
    d: Declarations,
    settings: Result<Settings, Error>,
    facts: &Facts<'_>,
    split: impl FnOnce(&Plan, crate::settings::Shard) -> (super::Share, X),
) -> Result<(Plan, Option<X>), Error> {
    // A bad setting is reported by `build_with`, after the config's own errors.
    let (settings, shard) = match settings {
        Ok(s) => {
            let shard = s.shard.value;
            (s, shard)
        }
        Err(e) => return Ok((build_with(d, Err(e), facts, None, 1)?, None)),
    };
    let Some(shard) = shard else {
        return Ok((build_with(d, Ok(settings), facts, None, 1)?, None));
    };
    let whole = build_with(d.clone(), Ok(settings.clone()), facts, None, 1)?;
    let (mine, more) = split(&whole, shard);
    drop(whole);
    Ok((
        build_with(d, Ok(settings), facts, Some(&mine), 1)?,
        Some(more),
    ))
}

/// The passes, in order: a shard keeps its share of the batches' items; batches become
/// suites ([`expand_batches`]); names, references and the graph are checked, every error
/// collected ([`check`]); then, with settings that resolved, the selection ([`select`]) and
/// the plan itself ([`assemble`]). Batches are packed for `machines` machines' workers.
fn build_with(
    mut d: Declarations,
    settings: Result<Settings, Error>,
    facts: &Facts<'_>,
    share: Option<&super::Share>,
    machines: u32,
) -> Result<Plan, Error> {
    if let Some(share) = share {
        for s in &mut d.suites {
            if let (Some(b), Some(mine)) = (s.batch.as_mut(), share.items_of(&s.name)) {
                b.items.retain(|i| mine.contains(i));
            }
        }
    }
    let asked = expand_batches(&mut d, settings.as_ref().ok(), facts, share, machines);
    let checked = check(&d)?;
    // After the config errors, so a bad PTEST_WORKERS does not hide them.
    let settings = settings?;
    let mut keep = select(&d, &checked, &asked)?;
    if let Some(share) = share {
        for (k, s) in keep.iter_mut().zip(&d.suites) {
            if !share.runs(&s.name, s.part.as_ref().map(|p| p.batch.as_str())) {
                *k = None;
            }
        }
    }
    Ok(assemble(
        d,
        settings,
        checked,
        keep,
        facts,
        share.map(|s| s.note.clone()),
    ))
}

/// What the command line selects, in the names of the suites after batches were expanded.
struct Asked {
    selection: Selection,
    /// `--rerun-failed`: the names to run again (a batch's parts that hold what failed).
    rerun: Option<Vec<String>>,
    /// Each batch's name and the names of its parts.
    batch_parts: crate::batch::pack::Parts,
}

/// Batches become ordinary suites, packed for their phases' worker counts (on `machines`
/// machines) and history; the selection follows them (a batch's name stands for its parts).
/// Without settings (they did not resolve: the error comes after the config's own) the
/// machine's CPUs stand in for the worker count, only so that the config's errors can be found.
fn expand_batches(
    d: &mut Declarations,
    settings: Option<&Settings>,
    facts: &Facts<'_>,
    share: Option<&super::Share>,
    machines: u32,
) -> Asked {
    let early = settings.map_or((facts.cpus.max(1), WorkerSource::Auto), |s| {
        (s.workers.value, s.workers.source)
    });
    let mut selection: Selection =
        settings.map_or_else(Selection::default, |s| s.selection.clone());
    // --rerun-failed: what failed in its latest run.
    let mut rerun: Option<Vec<String>> =
        selection.rerun_failed.then(|| facts.history.failed_last());
    let phase_counts_early: Vec<(String, Option<u32>)> = d
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.workers.map(|w| w.count)))
        .collect();
    let workers_of = |phase: Option<&str>| {
        let name = phase.unwrap_or(DEFAULT_PHASE);
        let own = phase_counts_early
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, w)| *w);
        phase_workers(early, own).saturating_mul(machines)
    };
    let history = facts.history;
    let expected = |n: &str| history.expected(n);
    let item_expected = |b: &str, i: &str| history.expected_item(b, i);
    let item_failed = |b: &str, i: &str| history.item_failed_last(b, i);
    // --rerun-failed reruns a batch's failed items, not its old parts.
    let failed_items: Option<std::collections::HashSet<String>> = rerun
        .as_ref()
        .map(|_| history.failed_items_last().into_iter().collect());
    let failed_suites: Option<std::collections::HashSet<&str>> = rerun
        .as_ref()
        .map(|r| r.iter().map(String::as_str).collect());
    let rerun_item = |b: &str, i: &str| -> bool {
        let Some(items) = &failed_items else {
            return true;
        };
        items.contains(&crate::history::item_key(b, i))
    };
    let rerun_batch = |b: &str| -> bool {
        // A batch whose part failed with nothing known of its items runs all of them again.
        failed_suites.as_ref().is_some_and(|f| {
            f.iter()
                .any(|n| n.strip_prefix(b).is_some_and(|r| r.starts_with('[')))
        })
    };
    let rerun_tests = |b: &str, i: &str, not_a_test: &dyn Fn(&str) -> bool| {
        history.failed_tests(b, i, not_a_test)
    };
    let named_tests = selection.tests.names.clone();
    let mut batch_parts = crate::batch::pack::expand(
        d,
        &crate::batch::pack::Facts {
            workers: &workers_of,
            expected: &expected,
            item_expected: &item_expected,
            item_failed: &item_failed,
            rerun: failed_items.as_ref().map(|_| crate::batch::pack::Rerun {
                item: &rerun_item,
                whole: &rerun_batch,
                tests: &rerun_tests,
            }),
            tests: &named_tests,
        },
    );
    if let Some(share) = share {
        name_shard_parts(d, &mut batch_parts, share);
    }
    if !batch_parts.is_empty() {
        // A batch's name stands for its parts.
        selection.suites = crate::batch::pack::expand_names(&selection.suites, &batch_parts);
        selection.skip = crate::batch::pack::expand_names(&selection.skip, &batch_parts);
        // The parts that --rerun-failed kept hold only failed items: all of them run.
        if let Some(r) = &mut rerun {
            r.extend(batch_parts.values().flatten().cloned());
        }
    }
    Asked {
        selection,
        rerun,
        batch_parts,
    }
}

/// One phase of the run, in run order: its name and its declaration (by position in
/// `Declarations::phases`; `None` for the implicit `default`).
struct PhaseRow {
    name: String,
    decl: Option<usize>,
}

/// A suite's references, resolved to positions in the declarations.
struct Resolved {
    /// `None` when the phase is unknown (already reported); later checks skip the suite. Known
    /// for every suite once [`check`] passed.
    phase: Option<usize>,
    group: Option<usize>,
    limiter: Option<usize>,
    /// The suite's retry policy and its label (a policy's name; none for the integer form).
    retry: (RetryPolicy, Option<String>),
    deps: Vec<usize>,
}

/// What [`check`] found: the phases in run order and every suite's references.
struct Checked {
    phases: Vec<PhaseRow>,
    resolved: Vec<Resolved>,
    /// Each service's ports (DESIGN §11), as [`super::services::check`] found them.
    service_ports: Vec<Vec<Option<String>>>,
    /// For each suite, the services it needs (positions in `Declarations::services`).
    needs_of: Vec<Vec<usize>>,
}

impl Checked {
    fn phase_of(&self, suite: usize) -> usize {
        self.resolved[suite].phase.unwrap_or(0)
    }
}

/// The names declarations go by, each kind indexed, duplicates reported.
struct Names<'d> {
    suites: NameIndex<'d>,
    groups: NameIndex<'d>,
    limiters: NameIndex<'d>,
    /// To positions in `Declarations::retries` (unnamed policies have no entry).
    retries: NameIndex<'d>,
    phases: NameIndex<'d>,
}

/// Every cross-reference check of the declarations, every error collected and reported in file
/// order: duplicate names, unknown phases, groups, limiters, retry policies and dependencies,
/// dependencies on a later phase, cycles, slots above a literal worker count.
fn check(d: &Declarations) -> Result<Checked, Error> {
    let mut errors = Vec::new();
    let phases = phase_rows(d);
    let names = index_all(d, &phases, &mut errors);
    let resolved = resolve_references(d, &names, &mut errors);
    check_later_phases(d, &phases, &resolved, &mut errors);
    check_cycles(d, &names, &resolved, &mut errors);
    check_slots(d, &phases, &resolved, &mut errors);
    // Services (DESIGN §11): their own fields, and what each suite needs.
    let service_ports = super::services::check(&d.services, &mut errors);
    let needs_of = super::services::resolve_needs(&d.suites, &d.services, &mut errors);
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.origin.cmp(&b.origin));
        return Err(Error::Config(errors));
    }
    Ok(Checked {
        phases,
        resolved,
        service_ports,
        needs_of,
    })
}

/// The phases in run order: the implicit `default` comes first unless declared explicitly.
fn phase_rows(d: &Declarations) -> Vec<PhaseRow> {
    let mut rows = Vec::with_capacity(d.phases.len() + 1);
    let uses_default = d.suites.iter().any(|s| s.phase.is_none());
    let declares_default = d.phases.iter().any(|p| p.name == DEFAULT_PHASE);
    if uses_default && !declares_default {
        rows.push(PhaseRow {
            name: DEFAULT_PHASE.to_owned(),
            decl: None,
        });
    }
    rows.extend(d.phases.iter().enumerate().map(|(i, p)| PhaseRow {
        name: p.name.clone(),
        decl: Some(i),
    }));
    rows
}

fn index_all<'d>(
    d: &'d Declarations,
    phases: &'d [PhaseRow],
    errors: &mut Vec<ConfigError>,
) -> Names<'d> {
    let suites = index_names(
        "suite",
        d.suites.iter().map(|s| (s.name.as_str(), &s.origin)),
        errors,
    );
    let groups = index_names(
        "group",
        d.groups.iter().map(|g| (g.name.as_str(), &g.origin)),
        errors,
    );
    let limiters = index_names(
        "limiter",
        d.limiters.iter().map(|l| (l.name.as_str(), &l.origin)),
        errors,
    );
    let retries = index_names(
        "retry",
        d.retries
            .iter()
            .filter_map(|r| r.name.as_deref().map(|n| (n, &r.origin))),
        errors,
    );
    // Retry names index into a filtered iterator; map back to positions in `d.retries`.
    let named_retries: Vec<usize> = d
        .retries
        .iter()
        .enumerate()
        .filter(|(_, r)| r.name.is_some())
        .map(|(i, _)| i)
        .collect();
    let retries: NameIndex<'_> = retries
        .into_iter()
        .map(|(k, v)| (k, named_retries[v]))
        .collect();
    let mut phase_ix = NameIndex::default();
    for (i, row) in phases.iter().enumerate() {
        let decl = row.decl.map(|p| &d.phases[p]);
        if let Some(prev) = phase_ix.get(row.name.as_str()) {
            let prev_origin = phases[*prev]
                .decl
                .map(|p| d.phases[p].origin.to_string())
                .unwrap_or_default();
            errors.push(ConfigError::new(
                decl.map(|p| p.origin.clone()),
                ctx("phase", &row.name),
                format!("duplicate name (first declared at {prev_origin})"),
            ));
        } else {
            phase_ix.insert(row.name.as_str(), i);
        }
    }
    Names {
        suites,
        groups,
        limiters,
        retries,
        phases: phase_ix,
    }
}

/// Each suite's phase, group, limiter, retry policy and dependencies, by name; an unknown name
/// is an error with a suggestion.
fn resolve_references(
    d: &Declarations,
    names: &Names<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Resolved> {
    let mut resolved: Vec<Resolved> = Vec::with_capacity(d.suites.len());
    for s in &d.suites {
        let phase_name = s.phase.as_deref().unwrap_or(DEFAULT_PHASE);
        let phase = names.phases.get(phase_name).copied();
        if phase.is_none() {
            unknown(errors, s, "phase", "phase", phase_name, &names.phases);
        }
        let group = s.group.as_deref().and_then(|g| {
            let found = names.groups.get(g).copied();
            if found.is_none() {
                unknown(errors, s, "group", "group", g, &names.groups);
            }
            found
        });
        let limiter = s.limiter.as_deref().and_then(|l| {
            let found = names.limiters.get(l).copied();
            if found.is_none() {
                unknown(errors, s, "limiter", "limiter", l, &names.limiters);
            }
            found
        });
        // The label names a policy; the integer form and no retry have none.
        let retry: (RetryPolicy, Option<String>) = match &s.retry {
            None | Some(RetryRef::Extra(0)) => (RetryPolicy::once(), None),
            Some(RetryRef::Extra(n)) => (RetryPolicy::extra(*n), None),
            Some(RetryRef::Policy(i)) => {
                let r = &d.retries[*i];
                (
                    r.policy.clone(),
                    Some(
                        r.name
                            .clone()
                            .unwrap_or_else(|| format!("retry #{}", i + 1)),
                    ),
                )
            }
            Some(RetryRef::Named(n)) => match names.retries.get(n.as_str()) {
                Some(i) => (d.retries[*i].policy.clone(), Some(n.clone())),
                None => {
                    unknown(errors, s, "retry", "retry", n, &names.retries);
                    (RetryPolicy::once(), None)
                }
            },
        };
        let mut deps = Vec::new();
        for dep in &s.depends_on {
            match names.suites.get(dep.as_str()) {
                Some(&i) => {
                    if !deps.contains(&i) {
                        deps.push(i);
                    }
                }
                None => {
                    let hint = suggest::hint(dep, sorted_names(&names.suites));
                    errors.push(ConfigError::new(
                        Some(s.origin.clone()),
                        ctx("suite", &s.name),
                        format!("depends_on: unknown suite \"{dep}\"{hint}"),
                    ));
                }
            }
        }
        resolved.push(Resolved {
            phase,
            group,
            limiter,
            retry,
            deps,
        });
    }
    resolved
}

/// DESIGN §3 rule 3: a dependency in a later phase is a config error.
fn check_later_phases(
    d: &Declarations,
    phases: &[PhaseRow],
    resolved: &[Resolved],
    errors: &mut Vec<ConfigError>,
) {
    for (i, s) in d.suites.iter().enumerate() {
        let Some(own) = resolved[i].phase else {
            continue;
        };
        for &dep in &resolved[i].deps {
            let Some(theirs) = resolved[dep].phase else {
                continue;
            };
            if theirs > own {
                errors.push(ConfigError::new(
                    Some(s.origin.clone()),
                    ctx("suite", &s.name),
                    format!(
                        "depends_on: \"{}\" is in the later phase \"{}\" (phase \"{}\" ends before it starts)",
                        d.suites[dep].name, phases[theirs].name, phases[own].name
                    ),
                ));
            }
        }
    }
}

/// Dependency cycles, each printed as `a -> b -> c -> a`. Only the first declaration of a
/// duplicated suite name takes part.
fn check_cycles(
    d: &Declarations,
    names: &Names<'_>,
    resolved: &[Resolved],
    errors: &mut Vec<ConfigError>,
) {
    let canonical = |i: usize| names.suites.get(d.suites[i].name.as_str()) == Some(&i);
    let deps_of: Vec<Vec<usize>> = resolved
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if canonical(i) {
                r.deps.clone()
            } else {
                Vec::new()
            }
        })
        .collect();
    for cycle in find_cycles(&deps_of) {
        let first = cycle[0];
        let mut names: Vec<&str> = cycle.iter().map(|&i| d.suites[i].name.as_str()).collect();
        names.push(&d.suites[first].name);
        errors.push(ConfigError::new(
            Some(d.suites[first].origin.clone()),
            None,
            format!("dependency cycle: {}", names.join(" -> ")),
        ));
    }
}

/// Slots above a worker count written as a number in ptest.lua.
fn check_slots(
    d: &Declarations,
    phases: &[PhaseRow],
    resolved: &[Resolved],
    errors: &mut Vec<ConfigError>,
) {
    for (i, s) in d.suites.iter().enumerate() {
        let Some(phase) = resolved[i].phase else {
            continue;
        };
        let p = phases[phase].decl.map(|p| &d.phases[p]);
        let declared = p.and_then(|p| p.workers).or(d.config.workers);
        if let Some(w) = declared.filter(|w| w.literal && s.slots > w.count) {
            errors.push(ConfigError::new(
                Some(s.origin.clone()),
                ctx("suite", &s.name),
                format!(
                    "slots: {} is more than the {} workers of phase \"{}\" (lower slots, or raise workers)",
                    s.slots, w.count, phases[phase].name
                ),
            ));
        }
    }
}

/// The plan from checked declarations, the settings and the selection: phases with their worker
/// counts, groups, limiters, and the kept suites renumbered in declaration order, with the
/// settings applied (timeouts, `--retries`), their dependents and members linked, priorities
/// computed, and the memory budget.
#[expect(
    clippy::option_option,
    reason = "dropped, or kept with an optional skip"
)]
fn assemble(
    mut d: Declarations,
    settings: Settings,
    mut checked: Checked,
    keep: Vec<Option<Option<StaticSkip>>>,
    facts: &Facts<'_>,
    shard_note: Option<super::ShardNote>,
) -> Plan {
    let mut phases: Vec<Phase> = checked
        .phases
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let p = row.decl.map(|p| &d.phases[p]);
            Phase {
                id: PhaseId(i as u32),
                name: row.name.clone(),
                origin: p.map(|p| p.origin.clone()),
                enabled: p.is_none_or(|p| p.enabled),
                workers: settings
                    .phase_workers(p.and_then(|p| p.workers.map(|w| w.count)))
                    .max(1),
                on_failure: p.map_or(super::OnFailure::Stop, |p| p.on_failure),
                always: p.is_some_and(|p| p.always),
                suites: Vec::new(),
            }
        })
        .collect();
    let mut groups: Vec<Group> = d
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| Group {
            id: GroupId(i as u32),
            name: g.name.clone(),
            origin: g.origin.clone(),
            max: g.max.max(1),
            env: g.env.clone().into_iter().collect(),
            members: Vec::new(),
        })
        .collect();
    let limiters: Vec<Limiter> = d
        .limiters
        .iter()
        .enumerate()
        .map(|(i, l)| Limiter {
            id: LimiterId(i as u32),
            name: l.name.clone(),
            origin: l.origin.clone(),
            rate: l.rate,
            per: l.per,
            burst: l.burst,
            concurrency: l.concurrency,
            adaptive: l.adaptive,
            max_throttled: l.max_throttled,
        })
        .collect();

    let declared_count = d.suites.len();
    let mut suites = plan_suites(&mut d, &settings, &checked, keep, &phases, facts);
    link(&mut suites, &mut phases, &mut groups);
    super::priority::compute(&mut suites, facts.history);
    let services = super::services::build(
        std::mem::take(&mut d.services),
        std::mem::take(&mut checked.service_ports),
        &d.config_dir,
        settings.grace.value,
        &suites,
    );
    let memory_budget = match d.config.memory {
        Some(b) => b,
        None if suites.iter().any(|s| s.memory.is_some()) => (facts.memory_available)(),
        None => 0,
    };

    Plan {
        config_path: d.config_path,
        config_dir: d.config_dir,
        workers: settings.workers.value,
        worker_source: settings.workers.source,
        log_dir: settings.log_dir.value.clone(),
        fail_fast: settings.fail_fast.value,
        grace: settings.grace.value,
        suites,
        groups,
        phases,
        limiters,
        services,
        hooks: d.hooks,
        default_timeout: settings.timeout.value,
        retry_policies: d.retries.into_iter().map(|r| (r.name, r.policy)).collect(),
        memory_budget,
        memory_budget_source: if d.config.memory.is_some() {
            "ptest.lua"
        } else {
            "available at start"
        },
        declared: declared_count,
        settings,
        shard_note,
    }
}

/// The kept suites, renumbered in declaration order, with the settings applied (timeouts,
/// `--retries`), the group's environment under their own, memory from history for `"auto"`.
#[expect(
    clippy::option_option,
    reason = "dropped, or kept with an optional skip"
)]
fn plan_suites(
    d: &mut Declarations,
    settings: &Settings,
    checked: &Checked,
    mut keep: Vec<Option<Option<StaticSkip>>>,
    phases: &[Phase],
    facts: &Facts<'_>,
) -> Vec<Suite> {
    let mut new_id: Vec<Option<SuiteId>> = vec![None; d.suites.len()];
    let mut n = 0u32;
    for (i, k) in keep.iter().enumerate() {
        if k.is_some() {
            new_id[i] = Some(SuiteId(n));
            n += 1;
        }
    }
    // The declarations are moved into the plan, not copied: with thousands of suites the
    // copies and the frees of the originals cost more than everything else here.
    let mut suites: Vec<Suite> = Vec::with_capacity(n as usize);
    let declared = std::mem::take(&mut d.suites);
    for (i, s) in declared.into_iter().enumerate() {
        let (Some(id), Some(skip)) = (new_id[i], keep[i].take()) else {
            continue;
        };
        let r = &checked.resolved[i];
        let phase_of = checked.phase_of(i);
        let phase = &phases[phase_of];
        let env: Vec<(String, std::ffi::OsString)> = match r.group.map(|g| &d.groups[g].env) {
            Some(group_env) if !group_env.is_empty() => {
                let mut env = group_env.clone();
                env.extend(s.env);
                env.into_iter().collect()
            }
            _ => s.env.into_iter().collect(),
        };
        let (retry, retry_label) = with_retries(settings.retry_override(), &r.retry);
        let memory = match s.memory {
            None => None,
            Some(super::decl::MemoryDecl::Bytes(b)) => Some(b),
            // Its peak in history plus a fifth; nothing known yet: not counted.
            Some(super::decl::MemoryDecl::Auto) => facts
                .history
                .peak_rss_kb(&s.name)
                .map(|kb| kb.saturating_mul(1024).saturating_mul(6) / 5),
        };
        let skip = skip
            .or_else(|| (!phase.enabled).then(|| StaticSkip::PhaseDisabled(phase.name.clone())));
        suites.push(Suite {
            id,
            name: s.name,
            origin: s.origin,
            cmd: s.cmd,
            description: s.description,
            category: s.category,
            tags: s.tags,
            cwd: s
                .cwd
                .as_ref()
                .map_or_else(|| d.config_dir.clone(), |c| d.config_dir.join(c)),
            env,
            timeout: settings.suite_timeout(s.timeout),
            depends_on: r.deps.iter().filter_map(|&dep| new_id[dep]).collect(),
            dependents: Vec::new(),
            needs: checked.needs_of[i]
                .iter()
                .map(|&n| super::ServiceId(n as u32))
                .collect(),
            group: r.group.map(|g| GroupId(g as u32)),
            phase: PhaseId(phase_of as u32),
            limiter: r.limiter.map(|l| LimiterId(l as u32)),
            retry,
            retry_label,
            slots: s.slots.clamp(1, phase.workers),
            serial: s.serial,
            estimate: s.estimate,
            part: s.part,
            selected_tests: s.select && settings.selection.tests.any(),
            expected: 0.0,
            expected_source: super::ExpectedSource::None,
            memory,
            memory_auto: s.memory == Some(super::decl::MemoryDecl::Auto),
            path: 0.0,
            skip,
        });
    }
    suites
}

/// Each suite's dependents, each phase's suites and each group's members.
fn link(suites: &mut [Suite], phases: &mut [Phase], groups: &mut [Group]) {
    for i in 0..suites.len() {
        let id = suites[i].id;
        for k in 0..suites[i].depends_on.len() {
            let dep = suites[i].depends_on[k];
            suites[dep.index()].dependents.push(id);
        }
        phases[suites[i].phase.index()].suites.push(id);
        if let Some(g) = suites[i].group {
            groups[g.index()].members.push(id);
        }
    }
}

/// The parts of the batches spread over shards, named after the shard (`unit[2.1]` for the
/// first part of shard 2). Nothing depends on a spread batch, so only the names change.
fn name_shard_parts(
    d: &mut Declarations,
    parts: &mut crate::batch::pack::Parts,
    share: &super::Share,
) {
    let mut renamed: HashMap<String, String> = HashMap::new();
    for s in &mut d.suites {
        let Some(part) = s
            .part
            .as_ref()
            .filter(|p| share.items_of(&p.batch).is_some())
        else {
            continue;
        };
        let name = format!("{}[{}.{}]", part.batch, share.index, part.index);
        renamed.insert(std::mem::replace(&mut s.name, name.clone()), name);
    }
    for names in parts.values_mut() {
        for n in names.iter_mut() {
            if let Some(new) = renamed.get(n.as_str()) {
                n.clone_from(new);
            }
        }
    }
}

/// A suite's retry with `--retries` applied, and its label: `"+N"` for the integer form, the
/// policy's name otherwise.
fn with_retries(
    flag: RetryOverride,
    declared: &(RetryPolicy, Option<String>),
) -> (RetryPolicy, Option<String>) {
    let (policy, name) = declared;
    let policy = match flag {
        RetryOverride::Declared => policy.clone(),
        RetryOverride::Off => return (RetryPolicy::once(), None),
        RetryOverride::Extra(n) if name.is_some() => RetryPolicy {
            attempts: n.saturating_add(1),
            ..policy.clone()
        },
        RetryOverride::Extra(n) => RetryPolicy::extra(n),
    };
    let label = match name {
        Some(n) => Some(n.clone()),
        None if policy.attempts > 1 => Some(format!("+{}", policy.attempts - 1)),
        None => None,
    };
    (policy, label)
}

/// Which declared suites the selection keeps: `None` dropped, `Some(skip)` kept.
#[expect(
    clippy::option_option,
    reason = "dropped, or kept with an optional skip"
)]
fn select(
    d: &Declarations,
    checked: &Checked,
    asked: &Asked,
) -> Result<Vec<Option<Option<StaticSkip>>>, Error> {
    let sel = &asked.selection;
    let batches = &asked.batch_parts;
    // Batch names were replaced by their parts already; they are known names for suggestions.
    let mut names: Vec<&str> = d.suites.iter().map(|s| s.name.as_str()).collect();
    let mut batch_names: Vec<&str> = batches.keys().map(String::as_str).collect();
    batch_names.sort_unstable();
    names.extend(batch_names);
    let mut problems = Vec::new();
    let check =
        |flag: &str, wanted: &[String], known: &[&str], kind: &str, problems: &mut Vec<String>| {
            for w in wanted {
                if !known.contains(&w.as_str()) {
                    let hint = suggest::hint(w, known.iter().copied());
                    problems.push(format!("{flag}: no {kind} named \"{w}\"{hint}"));
                }
            }
        };
    check("--suites", &sel.suites, &names, "suite", &mut problems);
    check("--skip", &sel.skip, &names, "suite", &mut problems);
    let phase_names: Vec<&str> = checked.phases.iter().map(|p| p.name.as_str()).collect();
    check("--phase", &sel.phases, &phase_names, "phase", &mut problems);
    // A category or tag no suite has is as likely a typo as a suite name: running nothing and
    // reporting success would hide it.
    let mut categories: Vec<&str> = d.suites.iter().map(|s| s.category.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    check(
        "--categories",
        &sel.categories,
        &categories,
        "category",
        &mut problems,
    );
    let mut tags: Vec<&str> = d
        .suites
        .iter()
        .flat_map(|s| s.tags.iter().map(String::as_str))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    check("--tags", &sel.tags, &tags, "tag", &mut problems);
    if !problems.is_empty() {
        // The first line gets its `error: ` where errors become exit codes.
        return Err(Error::Usage(problems.join("\nerror: ")));
    }

    let n = d.suites.len();
    let rerun: Option<std::collections::HashSet<&str>> = asked
        .rerun
        .as_ref()
        .map(|r| r.iter().map(String::as_str).collect());
    let mut chosen: Vec<bool> = (0..n)
        .map(|i| {
            let s = &d.suites[i];
            rerun.as_ref().is_none_or(|r| r.contains(s.name.as_str()))
                // -k and --test select tests inside the suites that can: a plain command
                // runs whole or not at all, so it only runs when a selected suite needs it.
                && (!sel.tests.narrows() || s.select)
                && (sel.suites.is_empty() || sel.suites.contains(&s.name))
                && (sel.categories.is_empty() || sel.categories.contains(&s.category))
                && (sel.tags.is_empty() || s.tags.iter().any(|t| sel.tags.contains(t)))
                && (sel.phases.is_empty()
                    || sel
                        .phases
                        .contains(&checked.phases[checked.phase_of(i)].name))
        })
        .collect();
    if sel.filters() && !sel.no_deps {
        let mut stack: Vec<usize> = (0..n).filter(|&i| chosen[i]).collect();
        while let Some(i) = stack.pop() {
            for &dep in &checked.resolved[i].deps {
                if !chosen[dep] {
                    chosen[dep] = true;
                    stack.push(dep);
                }
            }
        }
    }
    Ok((0..n)
        .map(|i| {
            chosen[i].then(|| {
                if !d.suites[i].enabled {
                    Some(StaticSkip::Disabled)
                } else if sel.skip.contains(&d.suites[i].name) {
                    Some(StaticSkip::SkipFlag)
                } else {
                    None
                }
            })
        })
        .collect())
}

/// Every elementary cycle found by a depth-first search, each once, as the suites along it
/// (starting from the one declared first).
fn find_cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut mark = vec![Mark::New; deps.len()];
    let mut cycles = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for root in 0..deps.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next edge index).
        let mut frames: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Active;
        stack.push(root);
        while let Some(&mut (node, ref mut edge)) = frames.last_mut() {
            if let Some(&next) = deps[node].get(*edge) {
                *edge += 1;
                match mark[next] {
                    Mark::New => {
                        mark[next] = Mark::Active;
                        stack.push(next);
                        frames.push((next, 0));
                    }
                    Mark::Active => {
                        let pos = stack.iter().position(|&x| x == next).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[pos..].to_vec();
                        // Dependencies point backwards; print in "runs before" order reversed:
                        // a depends on b depends on c depends on a reads a -> b -> c -> a.
                        let min_pos = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, v)| **v)
                            .map_or(0, |(p, _)| p);
                        cycle.rotate_left(min_pos);
                        cycles.push(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
                frames.pop();
            }
        }
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::{RetryOverride, RetryPolicy, find_cycles, with_retries};

    #[test]
    fn cycles_found_once_from_the_first_declared() {
        // 0 -> 1 -> 2 -> 0, and 3 -> 3
        let deps = vec![vec![1], vec![2], vec![0], vec![3], vec![]];
        assert_eq!(find_cycles(&deps), vec![vec![0, 1, 2], vec![3]]);
        assert!(find_cycles(&[vec![1], vec![], vec![0, 1]]).is_empty());
    }

    #[test]
    fn retries_from_the_command_line_apply_to_every_suite() {
        let named = (
            RetryPolicy {
                attempts: 3,
                on_exit_codes: vec![75],
                ..RetryPolicy::once()
            },
            Some("net".to_owned()),
        );
        let plain = (RetryPolicy::once(), None);
        let (p, l) = with_retries(RetryOverride::Extra(4), &named);
        assert_eq!(
            (p.attempts, p.on_exit_codes, l),
            (5, vec![75], Some("net".into()))
        );
        let (p, l) = with_retries(RetryOverride::Extra(1), &plain);
        assert_eq!((p.attempts, l), (2, Some("+1".into())));
        let (p, l) = with_retries(RetryOverride::Off, &named);
        assert_eq!((p.attempts, l), (1, None));
        let (p, l) = with_retries(RetryOverride::Declared, &named);
        assert_eq!((p.attempts, l), (3, Some("net".into())));
    }

    #[test]
    fn the_retry_label_of_an_integer_retry_follows_the_command_line() {
        let plain = (RetryPolicy::extra(2), None);
        let (p, l) = with_retries(RetryOverride::Declared, &plain);
        assert_eq!((p.attempts, l), (3, Some("+2".into())));
        let (p, l) = with_retries(RetryOverride::Extra(5), &plain);
        assert_eq!((p.attempts, l), (6, Some("+5".into())));
        let (p, l) = with_retries(RetryOverride::Off, &plain);
        assert_eq!((p.attempts, l), (1, None));
        // Huge counts saturate instead of overflowing.
        let (p, _) = with_retries(RetryOverride::Extra(u32::MAX), &plain);
        assert_eq!(p.attempts, u32::MAX);
    }
}
