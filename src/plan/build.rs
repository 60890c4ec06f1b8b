//! Declarations → Plan: resolve names, check cross references (unknown names, duplicates,
//! cycles, dependencies on later phases, slots), apply the selection and the command line, and
//! compute priorities. All cross-reference errors are collected and reported in file order.

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
    build_with(d, settings, facts, None)
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
        Err(e) => return Ok((build_with(d, Err(e), facts, None)?, None)),
    };
    let Some(shard) = shard else {
        return Ok((build_with(d, Ok(settings), facts, None)?, None));
    };
    let whole = build_with(d.clone(), Ok(settings.clone()), facts, None)?;
    let (mine, more) = split(&whole, shard);
    drop(whole);
    Ok((build_with(d, Ok(settings), facts, Some(&mine))?, Some(more)))
}

fn build_with(
    mut d: Declarations,
    settings: Result<Settings, Error>,
    inputs: &Facts<'_>,
    share: Option<&super::Share>,
) -> Result<Plan, Error> {
    let mut errors = Vec::new();
    if let Some(share) = share {
        for s in &mut d.suites {
            if let (Some(b), Some(mine)) = (s.batch.as_mut(), share.items_of(&s.name)) {
                b.items.retain(|i| mine.contains(i));
            }
        }
    }

    // Batches become ordinary suites first; their sizes need the phases' worker counts.
    let early = settings
        .as_ref()
        .map_or((inputs.cpus.max(1), WorkerSource::Auto), |s| {
            (s.workers.value, s.workers.source)
        });
    let mut selection: Selection = settings
        .as_ref()
        .map_or_else(|_| Selection::default(), |s| s.selection.clone());
    // --rerun-failed: what failed in its latest run.
    let mut rerun: Option<Vec<String>> =
        selection.rerun_failed.then(|| inputs.history.failed_last());
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
        phase_workers(early, own)
    };
    let history = inputs.history;
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
    let batch_parts = crate::batch::pack::expand(
        &mut d,
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
        },
    );
    let mut batch_parts = batch_parts;
    if let Some(share) = share {
        name_shard_parts(&mut d, &mut batch_parts, share);
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

    let suite_ix = index_names(
        "suite",
        d.suites.iter().map(|s| (s.name.as_str(), &s.origin)),
        &mut errors,
    );
    let group_ix = index_names(
        "group",
        d.groups.iter().map(|g| (g.name.as_str(), &g.origin)),
        &mut errors,
    );
    let limiter_ix = index_names(
        "limiter",
        d.limiters.iter().map(|l| (l.name.as_str(), &l.origin)),
        &mut errors,
    );
    let retry_ix = index_names(
        "retry",
        d.retries
            .iter()
            .filter_map(|r| r.name.as_deref().map(|n| (n, &r.origin))),
        &mut errors,
    );
    // Retry names index into a filtered iterator; map back to positions in `d.retries`.
    let named_retries: Vec<usize> = d
        .retries
        .iter()
        .enumerate()
        .filter(|(_, r)| r.name.is_some())
        .map(|(i, _)| i)
        .collect();
    let retry_ix: NameIndex<'_> = retry_ix
        .into_iter()
        .map(|(k, v)| (k, named_retries[v]))
        .collect();

    // Phases: the implicit `default` comes first unless declared explicitly.
    let mut phase_decls: Vec<(String, Option<&super::decl::PhaseDecl>)> = Vec::new();
    let uses_default = d.suites.iter().any(|s| s.phase.is_none());
    let declares_default = d.phases.iter().any(|p| p.name == DEFAULT_PHASE);
    if uses_default && !declares_default {
        phase_decls.push((DEFAULT_PHASE.to_owned(), None));
    }
    for p in &d.phases {
        phase_decls.push((p.name.clone(), Some(p)));
    }
    let mut phase_ix = NameIndex::default();
    for (i, (name, decl)) in phase_decls.iter().enumerate() {
        if let Some(prev) = phase_ix.get(name.as_str()) {
            let prev_origin = phase_decls[*prev]
                .1
                .map(|p| p.origin.to_string())
                .unwrap_or_default();
            errors.push(ConfigError::new(
                decl.map(|p| p.origin.clone()),
                ctx("phase", name),
                format!("duplicate name (first declared at {prev_origin})"),
            ));
        } else {
            phase_ix.insert(name.as_str(), i);
        }
    }

    // Per-suite references.
    struct Resolved {
        /// `None` when the phase is unknown (already reported); later checks skip the suite.
        phase: Option<usize>,
        group: Option<usize>,
        limiter: Option<usize>,
        retry: (RetryPolicy, Option<String>),
        deps: Vec<usize>,
    }
    let mut resolved: Vec<Resolved> = Vec::with_capacity(d.suites.len());
    for s in &d.suites {
        let phase_name = s.phase.as_deref().unwrap_or(DEFAULT_PHASE);
        let phase = phase_ix.get(phase_name).copied();
        if phase.is_none() {
            unknown(&mut errors, s, "phase", "phase", phase_name, &phase_ix);
        }
        let group = s.group.as_deref().and_then(|g| {
            let found = group_ix.get(g).copied();
            if found.is_none() {
                unknown(&mut errors, s, "group", "group", g, &group_ix);
            }
            found
        });
        let limiter = s.limiter.as_deref().and_then(|l| {
            let found = limiter_ix.get(l).copied();
            if found.is_none() {
                unknown(&mut errors, s, "limiter", "limiter", l, &limiter_ix);
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
            Some(RetryRef::Named(n)) => match retry_ix.get(n.as_str()) {
                Some(i) => (d.retries[*i].policy.clone(), Some(n.clone())),
                None => {
                    unknown(&mut errors, s, "retry", "retry", n, &retry_ix);
                    (RetryPolicy::once(), None)
                }
            },
        };
        let mut deps = Vec::new();
        for dep in &s.depends_on {
            match suite_ix.get(dep.as_str()) {
                Some(&i) => {
                    if !deps.contains(&i) {
                        deps.push(i);
                    }
                }
                None => {
                    let hint = suggest::hint(dep, sorted_names(&suite_ix));
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

    // Only the first declaration of a duplicated suite name takes part in graph checks.
    let canonical = |i: usize| suite_ix.get(d.suites[i].name.as_str()) == Some(&i);

    // Dependencies on a later phase.
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
                        d.suites[dep].name, phase_decls[theirs].0, phase_decls[own].0
                    ),
                ));
            }
        }
    }

    // Cycles.
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

    // Services (DESIGN §11): their own fields, and what each suite needs.
    let service_ports = super::services::check(&d.services, &mut errors);
    let needs_of = super::services::resolve_needs(&d.suites, &d.services, &mut errors);

    // Slots above a worker count written as a number in ptest.lua.
    for (i, s) in d.suites.iter().enumerate() {
        let Some(phase) = resolved[i].phase else {
            continue;
        };
        let p = phase_decls[phase].1;
        let declared = p.and_then(|p| p.workers).or(d.config.workers);
        if let Some(w) = declared.filter(|w| w.literal && s.slots > w.count) {
            errors.push(ConfigError::new(
                Some(s.origin.clone()),
                ctx("suite", &s.name),
                format!(
                    "slots: {} is more than the {} workers of phase \"{}\" (lower slots, or raise workers)",
                    s.slots,
                    w.count,
                    phase_decls[phase].0
                ),
            ));
        }
    }

    if !errors.is_empty() {
        errors.sort_by(|a, b| a.origin.cmp(&b.origin));
        return Err(Error::Config(errors));
    }
    // No errors: every suite's phase is known from here on.
    let phase_of: Vec<usize> = resolved.iter().map(|r| r.phase.unwrap_or(0)).collect();

    // After the config errors, so a bad PTEST_WORKERS does not hide them.
    let settings = settings?;
    let phase_counts: Vec<u32> = phase_decls
        .iter()
        .map(|(_, p)| settings.phase_workers(p.and_then(|p| p.workers.map(|w| w.count))))
        .collect();

    let mut keep = select(
        &d,
        &resolved.iter().map(|r| r.deps.clone()).collect::<Vec<_>>(),
        &phase_decls,
        &phase_of,
        &selection,
        rerun.as_deref(),
        &batch_parts,
    )?;

    if let Some(share) = share {
        for (k, s) in keep.iter_mut().zip(&d.suites) {
            if !share.runs(&s.name, s.part.as_ref().map(|p| p.batch.as_str())) {
                *k = None;
            }
        }
    }

    // Re-index the kept suites.
    let mut new_id: Vec<Option<SuiteId>> = vec![None; d.suites.len()];
    let mut n = 0u32;
    for (i, k) in keep.iter().enumerate() {
        if k.is_some() {
            new_id[i] = Some(SuiteId(n));
            n += 1;
        }
    }

    let mut phases: Vec<Phase> = phase_decls
        .iter()
        .enumerate()
        .map(|(i, (name, p))| Phase {
            id: PhaseId(i as u32),
            name: name.clone(),
            origin: p.map(|p| p.origin.clone()),
            enabled: p.is_none_or(|p| p.enabled),
            workers: phase_counts[i].max(1),
            on_failure: p.map_or(super::OnFailure::Stop, |p| p.on_failure),
            always: p.is_some_and(|p| p.always),
            suites: Vec::new(),
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

    // The declarations are moved into the plan, not copied: with thousands of suites the
    // copies and the frees of the originals cost more than everything else here.
    let mut suites: Vec<Suite> = Vec::with_capacity(n as usize);
    let declared_count = d.suites.len();
    let declared = std::mem::take(&mut d.suites);
    for (i, s) in declared.into_iter().enumerate() {
        let (Some(id), Some(skip)) = (new_id[i], keep[i].take()) else {
            continue;
        };
        let r = &resolved[i];
        let phase = &phases[phase_of[i]];
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
            Some(super::decl::MemoryDecl::Auto) => inputs
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
            needs: needs_of[i]
                .iter()
                .map(|&n| super::ServiceId(n as u32))
                .collect(),
            group: r.group.map(|g| GroupId(g as u32)),
            phase: PhaseId(phase_of[i] as u32),
            limiter: r.limiter.map(|l| LimiterId(l as u32)),
            retry,
            retry_label,
            slots: s.slots.clamp(1, phase.workers),
            serial: s.serial,
            estimate: s.estimate,
            part: s.part,
            expected: 0.0,
            expected_source: super::ExpectedSource::None,
            memory,
            memory_auto: s.memory == Some(super::decl::MemoryDecl::Auto),
            path: 0.0,
            skip,
        });
    }
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
    super::priority::compute(&mut suites, inputs.history);
    let services = super::services::build(
        std::mem::take(&mut d.services),
        service_ports,
        &d.config_dir,
        settings.grace.value,
        &suites,
    );
    let memory_budget = match d.config.memory {
        Some(b) => b,
        None if suites.iter().any(|s| s.memory.is_some()) => (inputs.memory_available)(),
        None => 0,
    };

    Ok(Plan {
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
        shard_note: share.map(|s| s.note.clone()),
    })
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
    deps: &[Vec<usize>],
    phases: &[(String, Option<&super::decl::PhaseDecl>)],
    phase_of: &[usize],
    sel: &Selection,
    rerun: Option<&[String]>,
    batches: &crate::batch::pack::Parts,
) -> Result<Vec<Option<Option<StaticSkip>>>, Error> {
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
    let phase_names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
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
    let rerun: Option<std::collections::HashSet<&str>> =
        rerun.map(|r| r.iter().map(String::as_str).collect());
    let mut chosen: Vec<bool> = (0..n)
        .map(|i| {
            let s = &d.suites[i];
            rerun.as_ref().is_none_or(|r| r.contains(s.name.as_str()))
                && (sel.suites.is_empty() || sel.suites.contains(&s.name))
                && (sel.categories.is_empty() || sel.categories.contains(&s.category))
                && (sel.tags.is_empty() || s.tags.iter().any(|t| sel.tags.contains(t)))
                && (sel.phases.is_empty() || sel.phases.contains(&phases[phase_of[i]].0))
        })
        .collect();
    if sel.filters() && !sel.no_deps {
        let mut stack: Vec<usize> = (0..n).filter(|&i| chosen[i]).collect();
        while let Some(i) = stack.pop() {
            for &dep in &deps[i] {
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
