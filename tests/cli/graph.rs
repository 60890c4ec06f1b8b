//! `ptest graph`: phases as clusters in order, groups inside each phase they have members in,
//! dependency edges, names escaped, skipped suites marked.

use crate::harness::Project;

fn graph(config: &str, args: &[&str]) -> String {
    let p = Project::new(config);
    let mut a = vec!["graph"];
    a.extend_from_slice(args);
    let out = p.run(&a);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    out.stdout
}

#[test]
fn dot_is_the_default_format() {
    let config = "ptest.suite { name = \"a\", cmd = \"true\" }";
    assert_eq!(graph(config, &[]), graph(config, &["--format", "dot"]));
    assert!(graph(config, &[]).starts_with("digraph ptest {\n"));
}

#[test]
fn names_are_escaped() {
    let config = r#"
ptest.group { name = "g \"quoted\"" }
ptest.suite { name = "a \"b\" \\ c", cmd = "true", group = "g \"quoted\"" }
ptest.suite { name = "line <br> break", cmd = "true", depends_on = { "a \"b\" \\ c" } }
"#;
    let dot = graph(config, &["--format", "dot"]);
    assert!(
        dot.contains(r#"label="group g \"quoted\" (max 1)";"#),
        "{dot}"
    );
    assert!(dot.contains(r#"s0 [label="a \"b\" \\ c"];"#), "{dot}");
    assert!(dot.contains(r#"s1 [label="line <br> break"];"#), "{dot}");
    assert!(dot.contains("  s0 -> s1;\n"), "{dot}");
    let mermaid = graph(config, &["--format", "mermaid"]);
    assert!(
        mermaid.contains(r#"["group g #quot;quoted#quot; (max 1)"]"#),
        "{mermaid}"
    );
    assert!(
        mermaid.contains(r#"s0["a #quot;b#quot; \ c"]"#),
        "{mermaid}"
    );
    assert!(
        mermaid.contains(r#"s1["line #lt;br#gt; break"]"#),
        "{mermaid}"
    );
    assert!(mermaid.contains("  s0 --> s1\n"), "{mermaid}");
}

#[test]
fn a_group_spanning_phases_appears_in_each() {
    let config = r#"
ptest.phase { name = "one" }
ptest.phase { name = "two" }
ptest.group { name = "db", max = 2 }
ptest.suite { name = "a", cmd = "true", phase = "one", group = "db" }
ptest.suite { name = "b", cmd = "true", phase = "two", group = "db", depends_on = { "a" } }
ptest.suite { name = "c", cmd = "true", phase = "two" }
"#;
    let dot = graph(config, &["--format", "dot"]);
    let expected = "\
digraph ptest {
  rankdir=LR;
  node [shape=box];
  subgraph cluster_phase_0 {
    label=\"phase one\";
    subgraph cluster_phase_0_group_0 {
      label=\"group db (max 2)\";
      style=dashed;
      s0 [label=\"a\"];
    }
  }
  subgraph cluster_phase_1 {
    label=\"phase two\";
    subgraph cluster_phase_1_group_0 {
      label=\"group db (max 2)\";
      style=dashed;
      s1 [label=\"b\"];
    }
    s2 [label=\"c\"];
  }
  s0 -> s1;
}
";
    assert_eq!(dot, expected);
    let mermaid = graph(config, &["--format", "mermaid"]);
    let expected = "\
flowchart LR
  subgraph p0[\"phase one\"]
    subgraph p0g0[\"group db (max 2)\"]
      s0[\"a\"]
    end
  end
  subgraph p1[\"phase two\"]
    subgraph p1g0[\"group db (max 2)\"]
      s1[\"b\"]
    end
    s2[\"c\"]
  end
  p0 ==> p1
  s0 --> s1
";
    assert_eq!(mermaid, expected);
}

#[test]
fn skipped_suites_are_marked_and_empty_phases_left_out() {
    let config = r#"
ptest.phase { name = "empty" }
ptest.suite { name = "a", cmd = "true" }
ptest.suite { name = "b", cmd = "true", enabled = false }
"#;
    let dot = graph(config, &["--format", "dot", "--skip", "a"]);
    assert!(!dot.contains("phase empty"), "{dot}");
    assert!(
        dot.contains("s0 [label=\"a\", style=dotted, fontcolor=gray40];"),
        "{dot}"
    );
    assert!(
        dot.contains("s1 [label=\"b\", style=dotted, fontcolor=gray40];"),
        "{dot}"
    );
    let mermaid = graph(config, &["--format", "mermaid"]);
    assert!(!mermaid.contains("phase empty"), "{mermaid}");
    assert!(mermaid.ends_with("  class s1 skipped\n"), "{mermaid}");
}

#[test]
fn a_config_without_suites_is_an_empty_graph() {
    assert_eq!(
        graph("", &["--format", "dot"]),
        "digraph ptest {\n  rankdir=LR;\n  node [shape=box];\n}\n"
    );
    assert_eq!(graph("", &["--format", "mermaid"]), "flowchart LR\n");
}
