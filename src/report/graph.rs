//! What `ptest graph` prints: the plan as Graphviz dot or Mermaid. Both walk the plan the same
//! way ([`boxes`]: each phase a box, each group a box inside it, then the dependency edges) and
//! differ only in syntax. Pure functions of the plan; must not reach into the run.

use std::fmt::Write;

use crate::plan::{Group, Phase, Plan, SuiteId};

/// One phase's box: its groups (each with its members) and its ungrouped suites.
struct PhaseBox<'p> {
    index: usize,
    phase: &'p Phase,
    groups: Vec<(&'p Group, Vec<SuiteId>)>,
    loose: Vec<SuiteId>,
}

/// The phases that have suites, in order, each with its groups (in declaration order) and
/// members (in plan order).
fn boxes(plan: &Plan) -> Vec<PhaseBox<'_>> {
    plan.phases
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.suites.is_empty())
        .map(|(index, phase)| PhaseBox {
            index,
            phase,
            groups: plan
                .groups
                .iter()
                .map(|g| {
                    let members = phase
                        .suites
                        .iter()
                        .copied()
                        .filter(|id| plan.suite(*id).group == Some(g.id))
                        .collect::<Vec<_>>();
                    (g, members)
                })
                .filter(|(_, m)| !m.is_empty())
                .collect(),
            loose: phase
                .suites
                .iter()
                .copied()
                .filter(|id| plan.suite(*id).group.is_none())
                .collect(),
        })
        .collect()
}

/// Every dependency edge, `(dependency, dependent)`, in plan order.
fn edges(plan: &Plan) -> impl Iterator<Item = (SuiteId, SuiteId)> + '_ {
    plan.suites
        .iter()
        .flat_map(|s| s.depends_on.iter().map(move |d| (*d, s.id)))
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A suite's node; one skipped before the run (disabled, `--skip`) is drawn dotted and grey.
fn dot_node(out: &mut String, indent: &str, plan: &Plan, id: SuiteId) {
    let s = plan.suite(id);
    let style = if s.skip.is_some() {
        ", style=dotted, fontcolor=gray40"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{indent}s{} [label=\"{}\"{style}];",
        id.0,
        dot_escape(&s.name)
    );
}

/// `ptest graph --format dot`.
pub(crate) fn dot(plan: &Plan) -> String {
    let mut out = String::from("digraph ptest {\n  rankdir=LR;\n  node [shape=box];\n");
    for b in boxes(plan) {
        let pi = b.index;
        let _ = writeln!(
            out,
            "  subgraph cluster_phase_{pi} {{\n    label=\"phase {}\";",
            dot_escape(&b.phase.name)
        );
        for (g, members) in &b.groups {
            let _ = writeln!(
                out,
                "    subgraph cluster_phase_{pi}_group_{} {{\n      label=\"group {} (max {})\";\n      style=dashed;",
                g.id.0,
                dot_escape(&g.name),
                g.max
            );
            for id in members {
                dot_node(&mut out, "      ", plan, *id);
            }
            out.push_str("    }\n");
        }
        for id in &b.loose {
            dot_node(&mut out, "    ", plan, *id);
        }
        out.push_str("  }\n");
    }
    for (d, s) in edges(plan) {
        let _ = writeln!(out, "  s{} -> s{};", d.0, s.0);
    }
    // Services sit outside the phases (they live as long as a suite needs them); a dashed edge
    // leads to each suite that needs one.
    for v in &plan.services {
        let _ = writeln!(
            out,
            "  v{} [label=\"service {}\", shape=cylinder];",
            v.id.0,
            dot_escape(&v.name)
        );
        for s in &v.needed_by {
            let _ = writeln!(out, "  v{} -> s{} [style=dashed];", v.id.0, s.0);
        }
    }
    out.push_str("}\n");
    out
}

/// A label mermaid shows as the text it is: it reads HTML in labels (`<br>` breaks the line, a
/// tag is markup), so `<`, `>` and `"` are written as entity codes.
fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace('\n', " ")
}

fn mermaid_node(out: &mut String, indent: &str, plan: &Plan, id: SuiteId) {
    let _ = writeln!(
        out,
        "{indent}s{}[\"{}\"]",
        id.0,
        mermaid_escape(&plan.suite(id).name)
    );
}

/// `ptest graph --format mermaid`.
pub(crate) fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart LR\n");
    let boxes = boxes(plan);
    for b in &boxes {
        let pi = b.index;
        let _ = writeln!(
            out,
            "  subgraph p{pi}[\"phase {}\"]",
            mermaid_escape(&b.phase.name)
        );
        for (g, members) in &b.groups {
            let _ = writeln!(
                out,
                "    subgraph p{pi}g{}[\"group {} (max {})\"]",
                g.id.0,
                mermaid_escape(&g.name),
                g.max
            );
            for id in members {
                mermaid_node(&mut out, "      ", plan, *id);
            }
            out.push_str("    end\n");
        }
        for id in &b.loose {
            mermaid_node(&mut out, "    ", plan, *id);
        }
        out.push_str("  end\n");
    }
    for pair in boxes.windows(2) {
        let _ = writeln!(out, "  p{} ==> p{}", pair[0].index, pair[1].index);
    }
    for (d, s) in edges(plan) {
        let _ = writeln!(out, "  s{} --> s{}", d.0, s.0);
    }
    for v in &plan.services {
        let _ = writeln!(
            out,
            "  v{}[(\"service {}\")]",
            v.id.0,
            mermaid_escape(&v.name)
        );
        for s in &v.needed_by {
            let _ = writeln!(out, "  v{} -.-> s{}", v.id.0, s.0);
        }
    }
    // Suites skipped before the run (disabled, `--skip`) are drawn dashed and grey.
    let skipped: Vec<String> = plan
        .suites
        .iter()
        .filter(|s| s.skip.is_some())
        .map(|s| format!("s{}", s.id.0))
        .collect();
    if !skipped.is_empty() {
        out.push_str("  classDef skipped stroke-dasharray: 4 4,color:#888\n");
        let _ = writeln!(out, "  class {} skipped", skipped.join(","));
    }
    out
}
