//! `plan::build` on configs written in Lua and evaluated in this process (no binary, no run):
//! what the plan makes of phases, groups, selection, the command line and history. Also the
//! fixture other unit tests use to get a real `Plan` from a few lines of `ptest.lua`.
#![expect(
    clippy::float_cmp,
    reason = "expected durations here are sums of whole seconds: exact"
)]

use std::path::PathBuf;
use std::time::Duration;

use super::decl::Declarations;
use super::{OnFailure, Plan, StaticSkip, Suite, WorkerSource};
use crate::error::Error;
use crate::history::{History, Run, Update};
use crate::settings::{Given, Jobs, Overrides, Selection};

/// What a test gives `build` besides the declarations, as `lib::load` would find them.
pub(crate) struct Inputs<'a> {
    pub overrides: &'a Overrides,
    pub selection: &'a Selection,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub cpus: u32,
    pub history: &'a History,
    pub memory_available: &'a dyn Fn() -> u64,
}

/// `plan::build` as `lib::load` calls it: the settings resolved from the inputs first.
pub(crate) fn build(d: Declarations, inputs: &Inputs<'_>) -> Result<Plan, Error> {
    let given = Given::new(
        d.config_path.clone(),
        inputs.overrides.clone(),
        inputs.selection.clone(),
        inputs.env,
    );
    let settings = crate::settings::resolve(&given, &d.config, &d.config_dir, inputs.cpus);
    let facts = super::build::Facts {
        cpus: inputs.cpus,
        history: inputs.history,
        memory_available: inputs.memory_available,
    };
    super::build::build(d, settings, &facts)
}

/// A config in a temporary folder, built into a plan with chosen inputs.
pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub overrides: Overrides,
    pub selection: Selection,
    pub env: Vec<(String, String)>,
    pub history: History,
    pub cpus: u32,
}

impl Fixture {
    pub(crate) fn new(lua: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ptest.lua"), lua).expect("write ptest.lua");
        Fixture {
            dir,
            overrides: Overrides::default(),
            selection: Selection::default(),
            env: Vec::new(),
            history: History::default(),
            cpus: 4,
        }
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Fixture {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The config's folder, as the plan records it (symbolic links resolved).
    pub(crate) fn root(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).expect("canonical temp dir")
    }

    /// Evaluate and build; an error as its text, with the temporary folder taken out of it.
    pub(crate) fn build(&self) -> Result<Plan, String> {
        self.evaluate().map(|(plan, _)| plan)
    }

    /// The config's declarations, not built into a plan; an error as its text, with the
    /// temporary folder taken out of it.
    pub(crate) fn declarations(&self) -> Result<crate::plan::decl::Declarations, String> {
        self.declarations_within(crate::lua::LUA_MEMORY_LIMIT)
    }

    /// [`Fixture::declarations`], with Lua's memory limited to `memory` bytes.
    pub(crate) fn declarations_within(
        &self,
        memory: usize,
    ) -> Result<crate::plan::decl::Declarations, String> {
        let path = self.dir.path().join("ptest.lua");
        crate::lua::evaluate_within(&path, &self.context(), memory)
            .map(|e| e.decls)
            .map_err(|e| {
                e.to_string()
                    .replace(&format!("{}/", self.dir.path().display()), "")
            })
    }

    fn context(&self) -> crate::lua::EvalContext {
        crate::lua::EvalContext {
            sys: crate::sys::Sys {
                cpus: self.cpus,
                cpu_quota: None,
                ci: None,
                os: "linux",
                arch: "x86_64",
            },
            profile: None,
            vars: Vec::new(),
            select: self.selection.tests.clone(),
        }
    }

    /// [`Fixture::build`], keeping the Lua state for hooks and predicates.
    pub(crate) fn evaluate(&self) -> Result<(Plan, crate::lua::Runtime), String> {
        let path = self.dir.path().join("ptest.lua");
        let ctx = crate::lua::EvalContext {
            sys: crate::sys::Sys {
                cpus: self.cpus,
                cpu_quota: None,
                ci: None,
                os: "linux",
                arch: "x86_64",
            },
            profile: None,
            vars: Vec::new(),
            select: self.selection.tests.clone(),
        };
        let strip = |e: crate::error::Error| {
            e.to_string()
                .replace(&format!("{}/", self.dir.path().display()), "")
        };
        let evaluated = crate::lua::evaluate(&path, &ctx).map_err(strip)?;
        let env = |k: &str| {
            self.env
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let inputs = Inputs {
            overrides: &self.overrides,
            selection: &self.selection,
            env: &env,
            cpus: self.cpus,
            history: &self.history,
            memory_available: &|| 8 << 30,
        };
        let plan = build(evaluated.decls, &inputs).map_err(strip)?;
        Ok((plan, evaluated.runtime))
    }

    pub(crate) fn plan(&self) -> Plan {
        self.build().unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The plan of a config, with default inputs.
pub(crate) fn plan(lua: &str) -> Plan {
    Fixture::new(lua).plan()
}

/// The error text of a config that must not build.
pub(crate) fn error(lua: &str) -> String {
    match Fixture::new(lua).build() {
        Ok(_) => panic!("expected an error from:\n{lua}"),
        Err(e) => e,
    }
}

pub(crate) fn by_name<'p>(plan: &'p Plan, name: &str) -> &'p Suite {
    plan.suites
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no suite {name} in the plan"))
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.suites.iter().map(|s| s.name.as_str()).collect()
}

fn passed_run(secs: f32, peak_rss_kb: Option<u32>) -> Run {
    Run {
        time: 1,
        status: crate::event::Status::Passed,
        duration: Some(secs),
        attempts: Some(1),
        peak_rss_kb,
        cpu_time: None,
    }
}

fn history_of(runs: &[(&str, Run)]) -> History {
    let mut h = History::default();
    h.apply(&Update {
        suites: runs
            .iter()
            .map(|(n, r)| ((*n).to_owned(), r.clone()))
            .collect(),
        items: Vec::new(),
        once: false,
    });
    h
}

// ---------------------------------------------------------------------------------------------
// Phases.

#[test]
fn the_implicit_default_phase_comes_first_unless_declared() {
    let p = plan(
        r#"
        local late = ptest.phase { name = "late" }
        ptest.suite { name = "a", cmd = "true", phase = late }
        ptest.suite { name = "b", cmd = "true" }
        "#,
    );
    let phases: Vec<&str> = p.phases.iter().map(|ph| ph.name.as_str()).collect();
    assert_eq!(phases, ["default", "late"]);
    assert_eq!(p.phase(by_name(&p, "b").phase).name, "default");
    assert!(
        p.phases[0].origin.is_none(),
        "the implicit phase has no line"
    );

    // Declared explicitly, `default` sits where it was declared.
    let p = plan(
        r#"
        ptest.phase { name = "first" }
        ptest.phase { name = "default" }
        ptest.suite { name = "a", cmd = "true", phase = "first" }
        ptest.suite { name = "b", cmd = "true" }
        "#,
    );
    let phases: Vec<&str> = p.phases.iter().map(|ph| ph.name.as_str()).collect();
    assert_eq!(phases, ["first", "default"]);
    assert_eq!(p.phases[1].origin.as_ref().map(|o| o.line), Some(3));
}

#[test]
fn no_implicit_phase_when_every_suite_names_one() {
    let p = plan(
        r#"
        local core = ptest.phase { name = "core" }
        ptest.suite { name = "a", cmd = "true", phase = core }
        "#,
    );
    assert_eq!(p.phases.len(), 1);
    assert_eq!(p.phases[0].name, "core");
    assert_eq!(p.phases[0].suites, vec![by_name(&p, "a").id]);
}

#[test]
fn phase_fields_reach_the_plan() {
    let p = plan(
        r#"
        ptest.config { workers = 6 }
        ptest.phase { name = "one", on_failure = "continue", workers = 2 }
        ptest.phase { name = "two", always = true }
        ptest.phase { name = "off", enabled = false }
        ptest.suite { name = "a", cmd = "true", phase = "one" }
        ptest.suite { name = "b", cmd = "true", phase = "two" }
        ptest.suite { name = "c", cmd = "true", phase = "off" }
        "#,
    );
    let [one, two, off] = &p.phases[..] else {
        panic!("three phases: {:?}", p.phases);
    };
    assert_eq!(
        (one.on_failure, one.always, one.workers),
        (OnFailure::Continue, false, 2)
    );
    assert_eq!(
        (two.on_failure, two.always, two.workers),
        (OnFailure::Stop, true, 6)
    );
    assert!(!off.enabled);
    // A disabled phase's suites are in the plan, skipped with the phase's name.
    assert_eq!(
        by_name(&p, "c").skip,
        Some(StaticSkip::PhaseDisabled("off".into()))
    );
    assert_eq!(
        by_name(&p, "c").skip.as_ref().map(StaticSkip::reason),
        Some("phase \"off\" disabled".into())
    );
    assert_eq!(by_name(&p, "a").skip, None);
}

#[test]
fn a_phase_count_is_capped_by_the_command_line_but_not_by_the_config() {
    let lua = r#"
        ptest.config { workers = 2 }
        ptest.phase { name = "wide", workers = 8 }
        ptest.suite { name = "a", cmd = "true", phase = "wide" }
    "#;
    assert_eq!(plan(lua).phases[0].workers, 8);
    let mut f = Fixture::new(lua);
    f.overrides.jobs = Some(Jobs::Count(3));
    let p = f.plan();
    assert_eq!(p.phases[0].workers, 3);
    assert_eq!((p.workers, p.worker_source), (3, WorkerSource::Jobs));
    let p = Fixture::new(lua).env("PTEST_WORKERS", "1").plan();
    assert_eq!(p.phases[0].workers, 1);
}

#[test]
fn slots_are_clamped_to_the_phase_workers_when_the_count_is_computed() {
    // A count from a function is the machine's: slots above it shrink instead of failing.
    let p = plan(
        r#"
        ptest.config { workers = function(sys) return 2 end }
        ptest.suite { name = "wide", cmd = "true", slots = 5 }
        ptest.suite { name = "zero", cmd = "true" }
        "#,
    );
    assert_eq!(by_name(&p, "wide").slots, 2);
    assert_eq!(by_name(&p, "zero").slots, 1);
    // Written as a number, the same is a mistake.
    let e = error(
        r#"
        ptest.config { workers = 2 }
        ptest.suite { name = "wide", cmd = "true", slots = 5 }
        "#,
    );
    assert_eq!(
        e,
        "ptest.lua:3: suite \"wide\": slots: 5 is more than the 2 workers of phase \"default\" (lower slots, or raise workers)"
    );
}

// ---------------------------------------------------------------------------------------------
// Suites' own fields after the plan.

#[test]
fn group_env_is_merged_under_each_members_own() {
    let p = plan(
        r#"
        local g = ptest.group { name = "db", max = 2, env = { A = "group", B = "group" } }
        ptest.suite { name = "m", cmd = "true", group = g, env = { B = "suite", C = "suite" } }
        ptest.suite { name = "loose", cmd = "true", env = { C = "x" } }
        "#,
    );
    let m = by_name(&p, "m");
    let env: Vec<(&str, &str)> = m
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(env, [("A", "group"), ("B", "suite"), ("C", "suite")]);
    assert_eq!(by_name(&p, "loose").env, vec![("C".into(), "x".into())]);
    assert_eq!(p.group_name(m), Some("db"));
    assert_eq!(p.groups[0].max, 2);
    assert_eq!(p.groups[0].members, vec![m.id]);
}

#[test]
fn cwd_is_relative_to_the_config_folder_and_defaults_to_it() {
    let f = Fixture::new(
        r#"
        ptest.suite { name = "here", cmd = "true" }
        ptest.suite { name = "sub", cmd = "true", cwd = "pkg/a" }
        "#,
    );
    let p = f.plan();
    assert_eq!(by_name(&p, "here").cwd, f.root());
    assert_eq!(by_name(&p, "sub").cwd, f.root().join("pkg/a"));
    assert_eq!(p.log_dir, f.root().join("test-logs"));
    assert_eq!(p.config_dir, f.root());
}

#[test]
fn dependencies_are_resolved_once_each_and_dependents_filled_in() {
    let p = plan(
        r#"
        local a = ptest.suite { name = "a", cmd = "true" }
        ptest.suite { name = "b", cmd = "true", depends_on = { a, "a" } }
        ptest.suite { name = "c", cmd = "true", depends_on = { "a", "b" } }
        "#,
    );
    let (a, b, c) = (by_name(&p, "a"), by_name(&p, "b"), by_name(&p, "c"));
    assert_eq!(
        b.depends_on,
        vec![a.id],
        "a handle and its name are one dependency"
    );
    assert_eq!(c.depends_on, vec![a.id, b.id]);
    assert_eq!(a.dependents, vec![b.id, c.id]);
    assert_eq!(b.dependents, vec![c.id]);
    assert!(c.dependents.is_empty());
}

#[test]
fn retry_labels_name_the_policy_or_count_the_extra_attempts() {
    let p = plan(
        r#"
        local named = ptest.retry { name = "net", attempts = 3 }
        local anon = ptest.retry { attempts = 2 }
        ptest.suite { name = "by_handle", cmd = "true", retry = named }
        ptest.suite { name = "by_name", cmd = "true", retry = "net" }
        ptest.suite { name = "anonymous", cmd = "true", retry = anon }
        ptest.suite { name = "integer", cmd = "true", retry = 2 }
        ptest.suite { name = "zero", cmd = "true", retry = 0 }
        ptest.suite { name = "none", cmd = "true" }
        "#,
    );
    let label = |n: &str| {
        let s = by_name(&p, n);
        (s.retry.attempts, s.retry_label.clone())
    };
    assert_eq!(label("by_handle"), (3, Some("net".into())));
    assert_eq!(label("by_name"), (3, Some("net".into())));
    assert_eq!(label("anonymous"), (2, Some("retry #2".into())));
    assert_eq!(label("integer"), (3, Some("+2".into())));
    assert_eq!(label("zero"), (1, None));
    assert_eq!(label("none"), (1, None));
    assert_eq!(p.retry_policies.len(), 2);
}

#[test]
fn retries_from_the_command_line_replace_each_suites() {
    let mut f = Fixture::new(
        r#"
        local net = ptest.retry { name = "net", attempts = 3, on = { exit_codes = { 75 } } }
        ptest.suite { name = "policy", cmd = "true", retry = net }
        ptest.suite { name = "plain", cmd = "true" }
        "#,
    );
    f.overrides.retries = Some(0);
    let p = f.plan();
    assert_eq!(by_name(&p, "policy").retry.attempts, 1);
    assert_eq!(by_name(&p, "policy").retry_label, None);
    f.overrides.retries = Some(2);
    let p = f.plan();
    let policy = by_name(&p, "policy");
    assert_eq!(policy.retry.attempts, 3);
    assert_eq!(
        policy.retry.on_exit_codes,
        vec![75],
        "the policy keeps its filter"
    );
    assert_eq!(by_name(&p, "plain").retry.attempts, 3);
    assert_eq!(by_name(&p, "plain").retry_label, Some("+2".into()));
}

#[test]
fn timeouts_from_the_suite_the_config_or_the_command_line() {
    let lua = r#"
        ptest.config { timeout = "2m" }
        ptest.suite { name = "own", cmd = "true", timeout = "10s" }
        ptest.suite { name = "default", cmd = "true" }
    "#;
    let p = plan(lua);
    assert_eq!(by_name(&p, "own").timeout, Duration::from_secs(10));
    assert_eq!(by_name(&p, "default").timeout, Duration::from_secs(120));
    assert_eq!(p.default_timeout, Duration::from_secs(120));
    let mut f = Fixture::new(lua);
    f.overrides.timeout = Some(Duration::from_secs(7));
    let p = f.plan();
    assert_eq!(by_name(&p, "own").timeout, Duration::from_secs(7));
    assert_eq!(by_name(&p, "default").timeout, Duration::from_secs(7));
    let p = plan(r#"ptest.suite { name = "a", cmd = "true" }"#);
    assert_eq!(by_name(&p, "a").timeout, Duration::from_secs(300));
    assert_eq!(p.grace, Duration::from_secs(5));
}

#[test]
fn a_disabled_suite_stays_in_the_plan_as_skipped() {
    let p = plan(
        r#"
        ptest.suite { name = "off", cmd = "true", enabled = false }
        ptest.suite { name = "on", cmd = "true" }
        "#,
    );
    assert_eq!(names(&p), ["off", "on"]);
    assert_eq!(by_name(&p, "off").skip, Some(StaticSkip::Disabled));
    assert_eq!(p.declared, 2);
}

// ---------------------------------------------------------------------------------------------
// Selection.

const CHAIN: &str = r#"
    ptest.suite { name = "build", cmd = "true", category = "setup" }
    ptest.suite { name = "unit", cmd = "true", depends_on = { "build" }, tags = { "fast" } }
    ptest.suite { name = "e2e", cmd = "true", depends_on = { "unit" }, category = "slow" }
    ptest.suite { name = "lint", cmd = "true", tags = { "fast", "style" } }
"#;

fn selected(f: impl FnOnce(&mut Selection)) -> Result<Vec<String>, String> {
    let mut fx = Fixture::new(CHAIN);
    f(&mut fx.selection);
    fx.build()
        .map(|p| p.suites.iter().map(|s| s.name.clone()).collect())
}

#[test]
fn selected_suites_bring_what_they_depend_on_transitively() {
    assert_eq!(
        selected(|s| s.suites = vec!["e2e".into()]).unwrap(),
        ["build", "unit", "e2e"]
    );
    assert_eq!(
        selected(|s| {
            s.suites = vec!["e2e".into()];
            s.no_deps = true;
        })
        .unwrap(),
        ["e2e"]
    );
    assert_eq!(selected(|_| {}).unwrap(), ["build", "unit", "e2e", "lint"]);
}

#[test]
fn categories_and_tags_select_and_combine() {
    assert_eq!(
        selected(|s| s.categories = vec!["slow".into()]).unwrap(),
        ["build", "unit", "e2e"]
    );
    assert_eq!(
        selected(|s| s.tags = vec!["style".into()]).unwrap(),
        ["lint"]
    );
    // Any of the tags; every other filter too.
    assert_eq!(
        selected(|s| {
            s.tags = vec!["fast".into()];
            s.no_deps = true;
        })
        .unwrap(),
        ["unit", "lint"]
    );
    assert_eq!(
        selected(|s| {
            s.tags = vec!["fast".into()];
            s.categories = vec!["default".into()];
            s.suites = vec!["lint".into()];
        })
        .unwrap(),
        ["lint"]
    );
}

#[test]
fn skip_keeps_the_suite_in_the_plan_as_skipped() {
    let mut f = Fixture::new(CHAIN);
    f.selection.skip = vec!["unit".into()];
    let p = f.plan();
    assert_eq!(p.suites.len(), 4);
    assert_eq!(by_name(&p, "unit").skip, Some(StaticSkip::SkipFlag));
    assert_eq!(
        by_name(&p, "unit").skip.as_ref().map(StaticSkip::reason),
        Some("--skip".into())
    );
    assert_eq!(by_name(&p, "e2e").skip, None);
}

#[test]
fn names_that_match_nothing_are_usage_errors_with_suggestions() {
    assert_eq!(
        selected(|s| s.suites = vec!["unti".into()]).unwrap_err(),
        "--suites: no suite named \"unti\" (did you mean \"unit\"?)"
    );
    assert_eq!(
        selected(|s| s.skip = vec!["lnt".into()]).unwrap_err(),
        "--skip: no suite named \"lnt\" (did you mean \"lint\"?)"
    );
    assert_eq!(
        selected(|s| s.phases = vec!["defualt".into()]).unwrap_err(),
        "--phase: no phase named \"defualt\" (did you mean \"default\"?)"
    );
    assert_eq!(
        selected(|s| s.categories = vec!["slwo".into()]).unwrap_err(),
        "--categories: no category named \"slwo\" (did you mean \"slow\"?)"
    );
    assert_eq!(
        selected(|s| s.tags = vec!["qqq".into()]).unwrap_err(),
        "--tags: no tag named \"qqq\""
    );
    // Every problem at once, each on its own line.
    assert_eq!(
        selected(|s| {
            s.suites = vec!["nope".into()];
            s.tags = vec!["zzz".into()];
        })
        .unwrap_err(),
        "--suites: no suite named \"nope\"\nerror: --tags: no tag named \"zzz\""
    );
}

#[test]
fn a_phase_selects_its_suites() {
    let mut f = Fixture::new(
        r#"
        ptest.phase { name = "one" }
        ptest.phase { name = "two" }
        ptest.suite { name = "a", cmd = "true", phase = "one" }
        ptest.suite { name = "b", cmd = "true", phase = "two" }
        ptest.suite { name = "c", cmd = "true", phase = "two", depends_on = { "a" } }
        "#,
    );
    f.selection.phases = vec!["two".into()];
    let p = f.plan();
    assert_eq!(names(&p), ["a", "b", "c"], "c needs a from phase one");
    f.selection.no_deps = true;
    let p = f.plan();
    assert_eq!(names(&p), ["b", "c"]);
    assert!(
        p.suite(super::SuiteId(1)).depends_on.is_empty(),
        "a dependency left out is treated as satisfied"
    );
    // The phases stay, even the one left empty.
    assert_eq!(p.phases.len(), 2);
    assert!(p.phases[0].suites.is_empty());
}

#[test]
fn rerun_failed_keeps_the_named_suites_and_their_dependencies() {
    let failed = |secs| Run {
        status: crate::event::Status::Failed,
        ..passed_run(secs, None)
    };
    let mut f = Fixture::new(CHAIN);
    f.selection.rerun_failed = true;
    f.history = history_of(&[
        ("unit", failed(1.0)),
        ("gone", failed(1.0)),
        ("lint", passed_run(1.0, None)),
    ]);
    let p = f.plan();
    // A name that is no longer declared is ignored.
    assert_eq!(names(&p), ["build", "unit"]);
    f.history = history_of(&[("lint", passed_run(1.0, None))]);
    assert!(f.plan().suites.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Errors: every cross-reference error at once, in file order.

#[test]
fn cross_reference_errors_come_together_in_file_order() {
    let e = error(
        r#"
        ptest.group { name = "g" }
        ptest.suite { name = "x", cmd = "true", depends_on = { "y" } }
        ptest.suite { name = "a", cmd = "true", group = "gg" }
        ptest.suite { name = "x", cmd = "true" }
        ptest.suite { name = "b", cmd = "true", limiter = "api" }
        "#,
    );
    assert_eq!(
        e,
        [
            "ptest.lua:3: suite \"x\": depends_on: unknown suite \"y\"",
            "ptest.lua:4: suite \"a\": group: unknown group \"gg\" (did you mean \"g\"?)",
            "ptest.lua:5: suite \"x\": duplicate name (first declared at ptest.lua:3)",
            "ptest.lua:6: suite \"b\": limiter: unknown limiter \"api\" (declare it with ptest.limiter { name = \"api\", ... })",
        ]
        .join("\n")
    );
}

#[test]
fn duplicate_groups_limiters_retries_and_phases() {
    let e = error(
        r#"
        ptest.group { name = "g" }
        ptest.group { name = "g" }
        ptest.limiter { name = "l", rate = 1 }
        ptest.limiter { name = "l", rate = 2 }
        ptest.retry { name = "r" }
        ptest.retry { name = "r" }
        ptest.phase { name = "p" }
        ptest.phase { name = "p" }
        ptest.suite { name = "s", cmd = "true", phase = "p" }
        "#,
    );
    assert_eq!(
        e,
        [
            "ptest.lua:3: group \"g\": duplicate name (first declared at ptest.lua:2)",
            "ptest.lua:5: limiter \"l\": duplicate name (first declared at ptest.lua:4)",
            "ptest.lua:7: retry \"r\": duplicate name (first declared at ptest.lua:6)",
            "ptest.lua:9: phase \"p\": duplicate name (first declared at ptest.lua:8)",
        ]
        .join("\n")
    );
}

#[test]
fn unnamed_retry_policies_never_clash() {
    let p = plan(
        r#"
        local a = ptest.retry { attempts = 2 }
        local b = ptest.retry { attempts = 3 }
        ptest.suite { name = "s", cmd = "true", retry = b }
        "#,
    );
    assert_eq!(by_name(&p, "s").retry.attempts, 3);
}

#[test]
fn an_unknown_retry_name_suggests_the_declared_one() {
    assert_eq!(
        error(
            r#"
            ptest.retry { name = "network" }
            ptest.suite { name = "s", cmd = "true", retry = "netwrk" }
            "#
        ),
        "ptest.lua:3: suite \"s\": retry: unknown retry \"netwrk\" (did you mean \"network\"?)"
    );
}

#[test]
fn cycles_are_printed_once_from_the_first_declared_suite() {
    let e = error(
        r#"
        ptest.suite { name = "a", cmd = "true", depends_on = { "c" } }
        ptest.suite { name = "b", cmd = "true", depends_on = { "a" } }
        ptest.suite { name = "c", cmd = "true", depends_on = { "b" } }
        ptest.suite { name = "self", cmd = "true", depends_on = { "self" } }
        ptest.suite { name = "ok", cmd = "true", depends_on = { "a" } }
        "#,
    );
    assert_eq!(
        e,
        "ptest.lua:2: dependency cycle: a -> c -> b -> a\nptest.lua:5: dependency cycle: self -> self"
    );
}

#[test]
fn a_duplicate_name_takes_no_part_in_cycle_checks() {
    // The second "a" would close a cycle with b; only the first declaration counts.
    let e = error(
        r#"
        ptest.suite { name = "a", cmd = "true" }
        ptest.suite { name = "b", cmd = "true", depends_on = { "a" } }
        ptest.suite { name = "a", cmd = "true", depends_on = { "b" } }
        "#,
    );
    assert_eq!(
        e,
        "ptest.lua:4: suite \"a\": duplicate name (first declared at ptest.lua:2)"
    );
}

#[test]
fn a_dependency_on_a_later_phase_names_both_phases() {
    let e = error(
        r#"
        ptest.phase { name = "early" }
        ptest.phase { name = "late" }
        ptest.suite { name = "x", cmd = "true", phase = "late" }
        ptest.suite { name = "y", cmd = "true", phase = "early", depends_on = { "x" } }
        "#,
    );
    assert_eq!(
        e,
        "ptest.lua:5: suite \"y\": depends_on: \"x\" is in the later phase \"late\" (phase \"early\" ends before it starts)"
    );
    // An earlier phase is fine.
    let p = plan(
        r#"
        ptest.phase { name = "early" }
        ptest.phase { name = "late" }
        ptest.suite { name = "x", cmd = "true", phase = "early" }
        ptest.suite { name = "y", cmd = "true", phase = "late", depends_on = { "x" } }
        "#,
    );
    assert_eq!(by_name(&p, "y").depends_on, vec![by_name(&p, "x").id]);
}

#[test]
fn a_bad_worker_variable_is_reported_after_the_configs_own_errors() {
    let f = Fixture::new(r#"ptest.suite { name = "a", cmd = "true", group = "nope" }"#)
        .env("PTEST_WORKERS", "lots");
    assert_eq!(
        f.build().unwrap_err(),
        "ptest.lua:1: suite \"a\": group: unknown group \"nope\" (declare it with ptest.group { name = \"nope\", ... })"
    );
    let f =
        Fixture::new(r#"ptest.suite { name = "a", cmd = "true" }"#).env("PTEST_WORKERS", "lots");
    assert_eq!(
        f.build().unwrap_err(),
        "PTEST_WORKERS: expected a positive integer or \"auto\", got \"lots\""
    );
}

// ---------------------------------------------------------------------------------------------
// History and memory.

#[test]
fn expected_durations_from_history_then_estimate() {
    let mut f = Fixture::new(
        r#"
        ptest.suite { name = "known", cmd = "true", estimate = "50s" }
        ptest.suite { name = "estimated", cmd = "true", estimate = "20s" }
        ptest.suite { name = "unknown", cmd = "true" }
        "#,
    );
    f.history = history_of(&[("known", passed_run(4.0, None))]);
    let p = f.plan();
    let e = |n: &str| {
        let s = by_name(&p, n);
        (s.expected, s.expected_source.label())
    };
    assert_eq!(e("known"), (4.0, "history"));
    assert_eq!(e("estimated"), (20.0, "estimate"));
    assert_eq!(e("unknown").1, "none");
}

#[test]
fn memory_auto_is_the_peak_in_history_plus_a_fifth_and_the_budget_defaults_to_available() {
    let mut f = Fixture::new(
        r#"
        ptest.suite { name = "auto", cmd = "true", memory = "auto" }
        ptest.suite { name = "fixed", cmd = "true", memory = "1GB" }
        ptest.suite { name = "new", cmd = "true", memory = "auto" }
        "#,
    );
    f.history = history_of(&[("auto", passed_run(1.0, Some(1000)))]);
    let p = f.plan();
    assert_eq!(by_name(&p, "auto").memory, Some(1000 * 1024 * 6 / 5));
    assert!(by_name(&p, "auto").memory_auto);
    assert_eq!(by_name(&p, "fixed").memory, Some(1 << 30));
    assert!(!by_name(&p, "fixed").memory_auto);
    assert_eq!(
        by_name(&p, "new").memory,
        None,
        "nothing known yet: not counted"
    );
    assert_eq!(p.memory_budget, 8 << 30);
    assert_eq!(p.memory_budget_source, "available at start");

    let p = plan(
        r#"
        ptest.config { memory = "2GB" }
        ptest.suite { name = "a", cmd = "true", memory = "1GB" }
        "#,
    );
    assert_eq!(
        (p.memory_budget, p.memory_budget_source),
        (2 << 30, "ptest.lua")
    );
    // No suite declares memory: no budget is asked for.
    assert_eq!(
        plan(r#"ptest.suite { name = "a", cmd = "true" }"#).memory_budget,
        0
    );
}

#[test]
fn ids_are_renumbered_after_selection_and_phases_list_their_suites() {
    let mut f = Fixture::new(
        r#"
        ptest.phase { name = "one" }
        ptest.phase { name = "two" }
        ptest.suite { name = "dropped", cmd = "true", phase = "one" }
        ptest.suite { name = "a", cmd = "true", phase = "one" }
        ptest.suite { name = "b", cmd = "true", phase = "two", depends_on = { "a" } }
        "#,
    );
    f.selection.suites = vec!["b".into()];
    let p = f.plan();
    assert_eq!(names(&p), ["a", "b"]);
    for (i, s) in p.suites.iter().enumerate() {
        assert_eq!(s.id.index(), i);
    }
    assert_eq!(p.phases[0].suites, vec![by_name(&p, "a").id]);
    assert_eq!(p.phases[1].suites, vec![by_name(&p, "b").id]);
    assert_eq!(by_name(&p, "b").depends_on, vec![by_name(&p, "a").id]);
    assert_eq!(p.declared, 3);
}

// ---------------------------------------------------------------------------------------------
// Priorities (DESIGN §3 rule 2).

fn path_of(p: &Plan, name: &str) -> f64 {
    by_name(p, name).path
}

#[test]
fn a_path_is_its_own_time_plus_its_longest_chain_of_dependents() {
    let p = plan(
        r#"
        ptest.suite { name = "build", cmd = "true", estimate = 5 }
        ptest.suite { name = "unit", cmd = "true", estimate = 10, depends_on = { "build" } }
        ptest.suite { name = "lint", cmd = "true", estimate = 2, depends_on = { "build" } }
        ptest.suite { name = "e2e", cmd = "true", estimate = 30, depends_on = { "unit" } }
        "#,
    );
    assert_eq!(path_of(&p, "e2e"), 30.0);
    assert_eq!(path_of(&p, "unit"), 40.0);
    assert_eq!(path_of(&p, "lint"), 2.0);
    assert_eq!(path_of(&p, "build"), 45.0, "through unit and e2e, not lint");
}

#[test]
fn dependents_in_a_later_phase_do_not_lengthen_a_path() {
    let p = plan(
        r#"
        ptest.phase { name = "one" }
        ptest.phase { name = "two" }
        ptest.suite { name = "a", cmd = "true", estimate = 1, phase = "one" }
        ptest.suite { name = "b", cmd = "true", estimate = 100, phase = "two", depends_on = { "a" } }
        "#,
    );
    // The barrier waits for all of phase one anyway.
    assert_eq!(path_of(&p, "a"), 1.0);
    assert_eq!(path_of(&p, "b"), 100.0);
}

#[test]
fn unknown_durations_count_as_the_mean_of_known_ones_or_as_one() {
    let p = plan(
        r#"
        ptest.suite { name = "a", cmd = "true", estimate = 10 }
        ptest.suite { name = "b", cmd = "true", estimate = 30 }
        ptest.suite { name = "c", cmd = "true" }
        "#,
    );
    assert_eq!(by_name(&p, "c").expected, 20.0);
    assert_eq!(by_name(&p, "c").expected_source.label(), "none");
    // Nothing known: every suite weighs 1, so the order follows depth.
    let p = plan(
        r#"
        ptest.suite { name = "a", cmd = "true" }
        ptest.suite { name = "b", cmd = "true", depends_on = { "a" } }
        ptest.suite { name = "c", cmd = "true", depends_on = { "b" } }
        "#,
    );
    let paths: Vec<f64> = ["a", "b", "c"].iter().map(|n| path_of(&p, n)).collect();
    assert_eq!(paths, [3.0, 2.0, 1.0]);
}

#[test]
fn the_first_priority_of_a_grouped_suite_counts_the_work_waiting_in_its_group() {
    let p = plan(
        r#"
        local g = ptest.group { name = "db", max = 2 }
        ptest.suite { name = "g1", cmd = "true", estimate = 4, group = g }
        ptest.suite { name = "g2", cmd = "true", estimate = 6, group = g }
        ptest.suite { name = "g3", cmd = "true", estimate = 10, group = g }
        ptest.suite { name = "off", cmd = "true", estimate = 100, group = g, enabled = false }
        ptest.suite { name = "chain", cmd = "true", estimate = 9 }
        "#,
    );
    let prio = super::priority::initial(&p);
    let of = |n: &str| prio[by_name(&p, n).id.index()];
    // Own time plus the others' work (a disabled member never waits) over the cap of 2:
    // 4 + (6 + 10) / 2 and 10 + (4 + 6) / 2.
    assert_eq!(of("g1"), 12.0);
    assert_eq!(of("g3"), 15.0);
    assert_eq!(of("chain"), 9.0);
    assert_eq!(
        of("off"),
        path_of(&p, "off"),
        "a skipped member keeps its path"
    );
}

/// DESIGN §10: a queue run's batches are cut for every machine's workers (the shard total the
/// CI names), not for one machine's; without a total, for one machine's.
#[test]
fn a_queue_plan_cuts_its_batches_for_every_machines_workers() {
    let items: Vec<String> = (0..40).map(|i| format!("\"t{i}\"")).collect();
    let lua = format!(
        "ptest.config {{ workers = 2 }}\nptest.batch {{ name = \"b\", items = {{ {} }}, cmd = {{ \"true\", \"{{items}}\" }} }}\n",
        items.join(", ")
    );
    let parts = |shard: Option<&str>, queue: bool| {
        let mut f = Fixture::new(&lua);
        if let Some(s) = shard {
            f = f.env("PTEST_SHARD", s);
        }
        let env = |k: &str| {
            f.env
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let d = f.declarations().unwrap();
        let given = Given::new(
            d.config_path.clone(),
            Overrides::default(),
            Selection::default(),
            &env,
        );
        let settings = crate::settings::resolve(&given, &d.config, &d.config_dir, 4);
        let facts = super::build::Facts {
            cpus: 4,
            history: &f.history,
            memory_available: &|| 8 << 30,
        };
        let plan = if queue {
            super::build::build_queue(d, settings, &facts).unwrap()
        } else {
            super::build::build(d, settings, &facts).unwrap()
        };
        plan.suites.len()
    };
    // No history: two parts per worker, of 2 workers on each of 3 machines.
    assert_eq!(parts(Some("2/3"), true), 12);
    assert_eq!(
        parts(Some("2/3"), false),
        4,
        "one machine's plan is unchanged"
    );
    assert_eq!(
        parts(None, true),
        4,
        "no total named: one machine's workers"
    );
}
