//! `ptest graph`: both formats walk phases, groups and edges the same way.

use crate::plan::tests::plan;
use crate::report::graph::{dot, mermaid};

const GROUPED: &str = r#"
    local g = ptest.group { name = "db", max = 2 }
    ptest.phase { name = "core" }
    ptest.phase { name = "main" }
    ptest.suite { name = "build", cmd = "true", phase = "core" }
    ptest.suite { name = "m1", cmd = "true", phase = "main", group = g, depends_on = { "build" } }
    ptest.suite { name = "m2", cmd = "true", phase = "main", group = g }
    ptest.suite { name = "loose", cmd = "true", phase = "main", enabled = false }
"#;

#[test]
fn dot_draws_phases_groups_skipped_suites_and_edges() {
    assert_eq!(
        dot(&plan(GROUPED)),
        r#"digraph ptest {
  rankdir=LR;
  node [shape=box];
  subgraph cluster_phase_0 {
    label="phase core";
    s0 [label="build"];
  }
  subgraph cluster_phase_1 {
    label="phase main";
    subgraph cluster_phase_1_group_0 {
      label="group db (max 2)";
      style=dashed;
      s1 [label="m1"];
      s2 [label="m2"];
    }
    s3 [label="loose", style=dotted, fontcolor=gray40];
  }
  s0 -> s1;
}
"#
    );
}

#[test]
fn mermaid_draws_the_same_walk_with_phase_order_and_a_skipped_class() {
    assert_eq!(
        mermaid(&plan(GROUPED)),
        r#"flowchart LR
  subgraph p0["phase core"]
    s0["build"]
  end
  subgraph p1["phase main"]
    subgraph p1g0["group db (max 2)"]
      s1["m1"]
      s2["m2"]
    end
    s3["loose"]
  end
  p0 ==> p1
  s0 --> s1
  classDef skipped stroke-dasharray: 4 4,color:#888
  class s3 skipped
"#
    );
}

#[test]
fn names_cannot_break_out_of_their_labels() {
    let p = plan(
        r#"
        ptest.phase { name = "p\"1" }
        ptest.suite { name = "a\"b\\c d", cmd = "true", phase = "p\"1" }
        "#,
    );
    let d = dot(&p);
    assert!(d.contains("label=\"phase p\\\"1\";"), "{d}");
    assert!(d.contains("s0 [label=\"a\\\"b\\\\c d\"];"), "{d}");
    let m = mermaid(&p);
    assert!(m.contains("subgraph p0[\"phase p#quot;1\"]"), "{m}");
    assert!(m.contains("s0[\"a#quot;b\\c d\"]"), "{m}");
    assert!(!m.contains("classDef"), "nothing skipped: {m}");
}

#[test]
fn empty_phases_are_left_out_and_a_group_appears_in_each_phase_it_spans() {
    let p = plan(
        r#"
        local g = ptest.group { name = "g" }
        ptest.phase { name = "one" }
        ptest.phase { name = "empty" }
        ptest.phase { name = "two" }
        ptest.suite { name = "x", cmd = "true", phase = "one", group = g }
        ptest.suite { name = "y", cmd = "true", phase = "two", group = g }
        "#,
    );
    let d = dot(&p);
    assert!(!d.contains("phase empty"), "{d}");
    assert!(d.contains("subgraph cluster_phase_0_group_0 {"), "{d}");
    assert!(d.contains("subgraph cluster_phase_2_group_0 {"), "{d}");
    let m = mermaid(&p);
    // The barrier arrow skips the empty phase.
    assert!(m.contains("  p0 ==> p2\n"), "{m}");
    assert!(m.contains("subgraph p0g0[\"group g (max 1)\"]"), "{m}");
    assert!(m.contains("subgraph p2g0[\"group g (max 1)\"]"), "{m}");
}

#[test]
fn no_suites_is_an_empty_graph() {
    let p = plan("");
    assert_eq!(
        dot(&p),
        "digraph ptest {\n  rankdir=LR;\n  node [shape=box];\n}\n"
    );
    assert_eq!(mermaid(&p), "flowchart LR\n");
}
