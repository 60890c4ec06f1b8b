//! Static shards from real configs (evaluated here, nothing run): the units a plan makes, and
//! the shards' own plans, which together must hold every suite and item exactly once.
#![expect(
    clippy::float_cmp,
    reason = "the durations here are sums of whole seconds: exact"
)]

use std::collections::BTreeMap;

use super::units::Member;
use super::*;
use crate::history::{History, Run, Update, fixed_cost_key, item_key};
use crate::settings::{Given, Overrides, Selection};

/// A shard's plan and where it stands.
struct Sharded {
    plan: crate::plan::Plan,
    placed: Placed,
}

/// A config in a temporary folder, evaluated, with a history.
struct Config {
    dir: tempfile::TempDir,
    history: History,
    selection: Selection,
}

fn passed(secs: f32) -> Run {
    Run {
        time: 1,
        status: crate::event::Status::Passed,
        duration: Some(secs),
        attempts: Some(1),
        peak_rss_kb: None,
        cpu_time: None,
    }
}

impl Config {
    fn new(lua: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ptest.lua"), lua).unwrap();
        Config {
            dir,
            history: History::default(),
            selection: Selection::default(),
        }
    }

    /// Items of `batch` with these passed durations, and its fixed cost per process.
    fn items(mut self, batch: &str, fixed: f32, items: &[(&str, f32)]) -> Config {
        self.history.apply(&Update {
            suites: vec![(fixed_cost_key(batch), passed(fixed))],
            items: items
                .iter()
                .map(|(i, d)| (item_key(batch, i), passed(*d)))
                .collect(),
            once: false,
        });
        self
    }

    fn decls(&self) -> Declarations {
        let ctx = crate::lua::EvalContext {
            sys: crate::sys::Sys {
                cpus: 2,
                cpu_quota: None,
                ci: None,
                os: "linux",
                arch: "x86_64",
            },
            profile: None,
            vars: Vec::new(),
            select: crate::settings::TestSelection::default(),
        };
        crate::lua::evaluate(&self.dir.path().join("ptest.lua"), &ctx)
            .unwrap_or_else(|e| panic!("{e}"))
            .decls
    }

    fn with<R>(
        &self,
        shard: Option<Shard>,
        f: impl FnOnce(Declarations, Result<Settings, Error>, &Facts<'_>) -> R,
    ) -> R {
        let overrides = Overrides {
            shard,
            ..Overrides::default()
        };
        let decls = self.decls();
        let given = Given::new(
            decls.config_path.clone(),
            overrides,
            self.selection.clone(),
            &|_| None,
        );
        let settings = crate::settings::resolve(&given, &decls.config, &decls.config_dir, 2);
        let facts = Facts {
            cpus: 2,
            history: &self.history,
            memory_available: &|| 8 << 30,
        };
        f(decls, settings, &facts)
    }

    fn whole(&self) -> Whole {
        self.with(None, |d, s, f| {
            whole(d, s, f).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    /// Shard `index` of `total`: its plan, and where it stands, as a run builds them.
    fn shard(&self, index: u32, total: u32) -> Sharded {
        let (plan, placed) = self.with(Some(Shard { index, total }), |d, s, f| {
            crate::plan::build::build_run(d, s, f, share_of).unwrap_or_else(|e| panic!("{e}"))
        });
        Sharded {
            plan,
            placed: placed.expect("a shard"),
        }
    }

    /// What shard `index` of `total` runs, by name.
    fn share(&self, index: u32, total: u32) -> crate::plan::Share {
        let w = self.whole();
        w.units.share(&w.plan, &w.units.split(total), index)
    }
}

/// Each unit's members by name (`batch/item` for items).
fn member_names(w: &Whole) -> Vec<Vec<String>> {
    w.units
        .members
        .iter()
        .map(|ms| {
            ms.iter()
                .map(|m| match m {
                    Member::Suite(id) => w.plan.suite(*id).name.clone(),
                    Member::Item { batch, item } => {
                        format!("{}/{item}", w.units.batches[*batch])
                    }
                })
                .collect()
        })
        .collect()
}

const UNITS: &str = r#"
ptest.config { workers = 2 }
ptest.phase { name = "main" }
ptest.phase { name = "teardown", always = true }
ptest.group { name = "db", max = 1 }
ptest.group { name = "pool", max = 2 }
ptest.suite { name = "a", cmd = "true", phase = "main", estimate = "4s" }
ptest.suite { name = "b", cmd = "true", phase = "main", estimate = "2s", depends_on = { "a" } }
ptest.suite { name = "c", cmd = "true", phase = "main", estimate = "3s", group = "db" }
ptest.suite { name = "d", cmd = "true", phase = "main", estimate = "3s", group = "db" }
ptest.suite { name = "e", cmd = "true", phase = "main", estimate = "1s", group = "pool" }
ptest.suite { name = "f", cmd = "true", phase = "main", estimate = "1s", group = "pool", slots = 2 }
ptest.suite { name = "off", cmd = "true", phase = "main", enabled = false }
ptest.suite { name = "stop", cmd = "true", phase = "teardown", estimate = "1s" }
"#;

#[test]
fn units_are_chains_serial_groups_and_single_suites() {
    let w = Config::new(UNITS).whole();
    assert_eq!(
        member_names(&w),
        [vec!["a", "b"], vec!["c", "d"], vec!["e"], vec!["f"]]
    );
    let loads: Vec<(f64, f64)> = w
        .units
        .model
        .units
        .iter()
        .map(|u| (u.loads[0].work, u.loads[0].span))
        .collect();
    // A chain's span is the chain; a serial group's is its members one after another; a
    // suite of two slots weighs twice its time in work.
    assert_eq!(loads, [(6.0, 6.0), (6.0, 6.0), (1.0, 1.0), (2.0, 1.0)]);
    let names = |ids: &[crate::plan::SuiteId]| -> Vec<String> {
        ids.iter().map(|i| w.plan.suite(*i).name.clone()).collect()
    };
    assert_eq!(names(&w.units.everywhere), ["stop"]);
    assert_eq!(names(&w.units.first), ["off"]);
    assert_eq!(w.units.model.workers, [2, 2]);
    assert_eq!(w.units.model.everywhere.len(), 1);
}

#[test]
fn each_suite_runs_on_one_shard_and_always_phases_on_every_shard() {
    let c = Config::new(UNITS);
    let mut seen: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for k in 1..=3 {
        let s = c.shard(k, 3);
        let share = c.share(k, 3);
        assert_eq!((share.index, share.total, s.placed.units), (k, 3, 4));
        assert_eq!(s.placed.expected.len(), 3);
        for suite in &s.plan.suites {
            seen.entry(suite.name.clone()).or_default().push(k);
        }
        // Chains stay whole: a suite's dependencies are on its shard.
        for suite in &s.plan.suites {
            for d in &suite.depends_on {
                assert!(s.plan.suites.iter().any(|x| x.id == *d));
            }
        }
    }
    assert_eq!(seen["stop"], [1, 2, 3]);
    assert_eq!(seen["off"], [1], "a skipped suite is listed once");
    for name in ["a", "b", "c", "d", "e", "f"] {
        assert_eq!(seen[name].len(), 1, "{name}: {seen:?}");
    }
    assert_eq!(seen["a"], seen["b"]);
    assert_eq!(seen["c"], seen["d"]);
    // The shard plans keep the config's phases and groups.
    let s = c.shard(1, 3);
    assert!(s.plan.phases.iter().any(|p| p.always));
}

#[test]
fn never_more_shards_than_units() {
    let c = Config::new(UNITS);
    // Four units: shards 5 and 6 of 6 run nothing, not even the teardown.
    for k in 5..=6 {
        let s = c.shard(k, 6);
        assert!(s.plan.suites.is_empty(), "{k}");
        assert_eq!(s.placed.expected[k as usize - 1], 0.0);
    }
    assert!(!c.shard(4, 6).plan.suites.is_empty());
    // A shard count far past anything still plans quickly (nothing is made per empty shard
    // beyond its figure).
    assert!(c.shard(7, 1_000_000).plan.suites.is_empty());
}

const BATCH: &str = r#"
ptest.config { workers = 2 }
ptest.batch { name = "unit", items = { "a", "b", "c", "d", "e", "f" }, cmd = { "t", "{items}" } }
ptest.suite { name = "lint", cmd = "true", estimate = "2s" }
"#;

fn batch_config() -> Config {
    Config::new(BATCH).items(
        "unit",
        0.5,
        &[
            ("a", 6.0),
            ("b", 5.0),
            ("c", 4.0),
            ("d", 3.0),
            ("e", 2.0),
            ("f", 1.0),
        ],
    )
}

#[test]
fn a_batch_nothing_links_is_spread_item_by_item() {
    let w = batch_config().whole();
    let mut names = member_names(&w);
    names.sort();
    assert_eq!(
        names,
        [
            ["lint"],
            ["unit/a"],
            ["unit/b"],
            ["unit/c"],
            ["unit/d"],
            ["unit/e"],
            ["unit/f"]
        ]
    );
    assert_eq!(w.units.batches, ["unit"]);
    assert_eq!(w.units.model.batches[0].fixed, 0.5);
    let item_a = w
        .units
        .members
        .iter()
        .position(|m| {
            m == &[Member::Item {
                batch: 0,
                item: "a".into(),
            }]
        })
        .unwrap();
    assert_eq!(w.units.model.units[item_a].loads[0].work, 6.0);
    assert_eq!(w.units.model.units[item_a].batch, Some(0));
}

#[test]
fn a_batch_something_depends_on_stays_whole() {
    let lua = format!(
        "{BATCH}\nptest.suite {{ name = \"after\", cmd = \"true\", depends_on = {{ \"unit\" }} }}\n"
    );
    let c = Config::new(&lua).items("unit", 0.5, &[("a", 6.0), ("b", 5.0)]);
    let w = c.whole();
    let names = member_names(&w);
    let whole: Vec<&Vec<String>> = names
        .iter()
        .filter(|m| m.contains(&"after".to_owned()))
        .collect();
    assert_eq!(whole.len(), 1);
    assert!(whole[0].iter().filter(|n| n.starts_with("unit[")).count() >= 1);
    assert!(w.units.batches.is_empty());
    // Its parts keep their names on the shard that runs them.
    let on: Vec<String> = (1..=2)
        .flat_map(|k| c.shard(k, 2).plan.suites)
        .map(|s| s.name)
        .filter(|n| n.starts_with("unit["))
        .collect();
    let mut expected: Vec<String> = w
        .plan
        .suites
        .iter()
        .map(|s| s.name.clone())
        .filter(|n| n.starts_with("unit["))
        .collect();
    expected.sort();
    let mut on = on;
    on.sort();
    assert_eq!(on, expected);
}

#[test]
fn each_shard_packs_its_own_items_into_parts_named_after_it() {
    let c = batch_config();
    let mut items: Vec<String> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for k in 1..=2 {
        let s = c.shard(k, 2);
        for suite in &s.plan.suites {
            if let Some(p) = &suite.part {
                assert!(
                    suite.name.starts_with(&format!("unit[{k}.")),
                    "{}",
                    suite.name
                );
                items.extend(p.items.iter().map(|(i, _)| i.clone()));
                parts.push(suite.name.clone());
            }
        }
        let share = c.share(k, 2);
        let mine = &share.items["unit"];
        let packed: std::collections::HashSet<String> = s
            .plan
            .suites
            .iter()
            .filter_map(|x| x.part.as_ref())
            .flat_map(|p| p.items.iter().map(|(i, _)| i.clone()))
            .collect();
        assert_eq!(&packed, mine);
    }
    items.sort();
    assert_eq!(items, ["a", "b", "c", "d", "e", "f"]);
    parts.sort();
    parts.dedup();
    assert!(parts.len() >= 2, "{parts:?}");
    // 21 s of items and 2 s of lint over 2 shards of 2 workers: within a few percent.
    let s = c.shard(1, 2);
    let (max, min) = (
        s.placed.expected.iter().copied().fold(0.0, f64::max),
        s.placed.expected.iter().copied().fold(f64::MAX, f64::min),
    );
    assert!(max / min < 1.1, "{:?}", s.placed.expected);
}

#[test]
fn the_same_config_and_history_give_the_same_shards() {
    let c = batch_config();
    let a = c.shard(2, 3);
    let b = c.shard(2, 3);
    assert_eq!(c.share(2, 3), c.share(2, 3));
    assert_eq!(a.placed, b.placed);
    let names =
        |s: &Sharded| -> Vec<String> { s.plan.suites.iter().map(|x| x.name.clone()).collect() };
    assert_eq!(names(&a), names(&b));
}

#[test]
fn the_selection_is_split_not_the_whole_config() {
    let mut c = Config::new(UNITS);
    c.selection.suites = vec!["b".into(), "e".into()];
    // a comes with b (its dependency): two units, one a shard.
    let one = c.shard(1, 2);
    let two = c.shard(2, 2);
    let mut all: Vec<String> = one
        .plan
        .suites
        .iter()
        .chain(&two.plan.suites)
        .map(|s| s.name.clone())
        .filter(|n| n != "stop")
        .collect();
    all.sort();
    assert_eq!(all, ["a", "b", "e"]);
    assert_eq!(one.placed.units, 2);
}

#[test]
fn every_shard_of_one_split_carries_its_digest_and_another_split_another() {
    let c = batch_config();
    let notes: Vec<crate::plan::ShardNote> = (1..=3)
        .map(|k| c.shard(k, 3).plan.shard_note.expect("a shard's note"))
        .collect();
    assert_eq!(notes[0].split.len(), 16);
    assert!(notes.iter().all(|n| *n == notes[0]), "{notes:?}");
    // Another count, another history, another config: another split.
    let other_n = c.shard(1, 2).plan.shard_note.unwrap();
    assert_ne!(other_n.split, notes[0].split);
    let other_history = Config::new(BATCH)
        .items("unit", 0.5, &[("a", 1.0), ("b", 9.0)])
        .shard(1, 3)
        .plan
        .shard_note
        .unwrap();
    assert_ne!(other_history.split, notes[0].split);
    let other_config = Config::new(&BATCH.replace("\"lint\"", "\"style\""))
        .shard(1, 3)
        .plan
        .shard_note
        .unwrap();
    assert_ne!(other_config.split, notes[0].split);
    // What every shard runs is named.
    let teardown = Config::new(UNITS).shard(2, 3).plan.shard_note.unwrap();
    assert_eq!(teardown.every_shard, ["stop"]);
    // A plan that is no shard has no note.
    assert!(c.whole().plan.shard_note.is_none());
}
