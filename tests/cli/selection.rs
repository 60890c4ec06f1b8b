//! Selection, shared by every subcommand: `-s` (with what it depends on), `--no-deps`, `-c`,
//! `-t`, `--phase`, `--skip`; names that match nothing are errors with suggestions.

use serde_json::Value;

use crate::harness::{Project, list_json};

const CONFIG: &str = r#"
ptest.phase { name = "core" }
ptest.phase { name = "main" }
ptest.phase { name = "extra", enabled = false }
ptest.suite { name = "build", cmd = "true", phase = "core", category = "build" }
ptest.suite { name = "lint", cmd = "true", phase = "core", category = "lint", tags = { "fast" } }
ptest.suite { name = "unit", cmd = "true", phase = "main", category = "unit",
              depends_on = { "build" }, tags = { "fast" } }
ptest.suite { name = "integration", cmd = "true", phase = "main", category = "integration",
              depends_on = { "unit" }, tags = { "slow" } }
ptest.suite { name = "docs", cmd = "true", phase = "main", category = "lint", enabled = false }
ptest.suite { name = "soak", cmd = "true", phase = "extra", category = "integration" }
"#;

/// `(name, depends_on, skip_reason)` of every suite in the plan, in declaration order.
fn selected(args: &[&str]) -> Vec<(String, Vec<String>, Option<String>)> {
    let p = Project::new(CONFIG);
    let j = list_json(&p, args);
    j["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["depends_on"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_owned())
                    .collect(),
                s["skip_reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn names(args: &[&str]) -> Vec<String> {
    selected(args).into_iter().map(|(n, _, _)| n).collect()
}

#[test]
fn everything_by_default_with_static_skips() {
    let all = selected(&[]);
    assert_eq!(all.len(), 6);
    let reason = |n: &str| all.iter().find(|s| s.0 == n).unwrap().2.clone();
    assert_eq!(reason("build"), None);
    assert_eq!(reason("docs").as_deref(), Some("disabled"));
    assert_eq!(reason("soak").as_deref(), Some("phase \"extra\" disabled"));
}

#[test]
fn suites_pull_in_what_they_depend_on_transitively() {
    assert_eq!(
        names(&["-s", "integration"]),
        ["build", "unit", "integration"]
    );
    assert_eq!(names(&["--suites", "unit,lint"]), ["build", "lint", "unit"]);
}

#[test]
fn no_deps_leaves_dependencies_out_and_drops_the_edges() {
    let s = selected(&["-s", "integration", "--no-deps"]);
    assert_eq!(s, [("integration".to_owned(), vec![], None)]);
    // Edges between selected suites stay.
    let s = selected(&["-s", "unit,integration", "--no-deps"]);
    assert_eq!(s[0], ("unit".to_owned(), vec![], None));
    assert_eq!(
        s[1],
        ("integration".to_owned(), vec!["unit".to_owned()], None)
    );
}

#[test]
fn categories_tags_and_phases() {
    assert_eq!(names(&["-c", "unit"]), ["build", "unit"]);
    assert_eq!(names(&["-c", "unit", "--no-deps"]), ["unit"]);
    assert_eq!(
        names(&["--categories", "lint,build"]),
        ["build", "lint", "docs"]
    );
    assert_eq!(names(&["-t", "fast"]), ["build", "lint", "unit"]);
    assert_eq!(names(&["-t", "fast", "--no-deps"]), ["lint", "unit"]);
    assert_eq!(
        names(&["--phase", "main", "--no-deps"]),
        ["unit", "integration", "docs"]
    );
    assert_eq!(names(&["--phase", "core"]), ["build", "lint"]);
}

#[test]
fn filters_intersect_before_dependencies_are_added() {
    assert_eq!(names(&["-t", "fast", "-c", "lint"]), ["lint"]);
    assert_eq!(names(&["-t", "fast", "--phase", "main"]), ["build", "unit"]);
    assert_eq!(
        names(&["-c", "integration", "--phase", "core"]),
        Vec::<String>::new()
    );
}

#[test]
fn skip_keeps_the_suite_in_the_plan_marked_skipped() {
    let s = selected(&["--skip", "build"]);
    assert_eq!(s.len(), 6);
    assert_eq!(
        s[0],
        ("build".to_owned(), vec![], Some("--skip".to_owned()))
    );
    // Its dependents stay, still depending on it (the run skips them when it is skipped).
    assert_eq!(s[2].0, "unit");
    assert_eq!(s[2].1, ["build"]);
    assert_eq!(s[2].2, None);
    let p = Project::new(CONFIG);
    let plan = p.run(&["plan", "--skip", "build,lint"]).stdout;
    assert!(
        plan.contains("suites:    2 to run, 4 skipped, 6 declared"),
        "{plan}"
    );
    let list = p.run(&["list", "-s", "unit", "--skip", "build"]).stdout;
    assert!(list.contains("skipped: --skip"), "{list}");
    assert!(
        list.ends_with("2 suites (6 declared, 1 skipped)\n"),
        "{list}"
    );
}

#[test]
fn selection_applies_to_plan_and_graph_too() {
    let p = Project::new(CONFIG);
    let plan = p.run(&["plan", "-s", "unit"]).stdout;
    assert!(plan.contains("2 to run, 0 skipped, 6 declared"), "{plan}");
    assert!(!plan.contains("integration"), "{plan}");
    let dot = p.run(&["graph", "-s", "unit", "--format", "dot"]).stdout;
    assert!(dot.contains("label=\"build\""), "{dot}");
    assert!(!dot.contains("lint"), "{dot}");
    let mermaid = p
        .run(&["graph", "-c", "lint", "--no-deps", "--format", "mermaid"])
        .stdout;
    assert!(mermaid.contains("[\"lint\"]"), "{mermaid}");
    assert!(!mermaid.contains("build"), "{mermaid}");
}

fn usage_error(args: &[&str]) -> String {
    let p = Project::new(CONFIG);
    let mut a = vec!["list"];
    a.extend_from_slice(args);
    let out = p.run(&a);
    assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    out.stderr.trim_end().to_owned()
}

#[test]
fn names_that_match_nothing_are_errors_with_suggestions() {
    assert_eq!(
        usage_error(&["-s", "integraton"]),
        r#"error: --suites: no suite named "integraton" (did you mean "integration"?)"#
    );
    assert_eq!(
        usage_error(&["--skip", "biuld"]),
        r#"error: --skip: no suite named "biuld" (did you mean "build"?)"#
    );
    assert_eq!(
        usage_error(&["--phase", "mian"]),
        r#"error: --phase: no phase named "mian" (did you mean "main"?)"#
    );
    assert_eq!(
        usage_error(&["-c", "untt"]),
        r#"error: --categories: no category named "untt" (did you mean "unit"?)"#
    );
    assert_eq!(
        usage_error(&["-t", "fats"]),
        r#"error: --tags: no tag named "fats" (did you mean "fast"?)"#
    );
    assert_eq!(
        usage_error(&["-s", "zzz"]),
        r#"error: --suites: no suite named "zzz""#
    );
    // Every problem at once, one per line.
    assert_eq!(
        usage_error(&["-s", "unit,zzz", "--skip", "qqq", "--phase", "cor"]),
        "error: --suites: no suite named \"zzz\"\n\
         error: --skip: no suite named \"qqq\"\n\
         error: --phase: no phase named \"cor\" (did you mean \"core\"?)"
    );
}

#[test]
fn the_default_phase_can_be_selected_by_name() {
    let p = Project::new(
        "ptest.phase { name = \"late\" }\nptest.suite { name = \"a\", cmd = \"true\" }\nptest.suite { name = \"b\", cmd = \"true\", phase = \"late\" }\n",
    );
    let j: Value = list_json(&p, &["--phase", "default"]);
    assert_eq!(j["suites"].as_array().unwrap().len(), 1);
    assert_eq!(j["suites"][0]["name"], "a");
}
