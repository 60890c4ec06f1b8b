//! `ptest merge`: shard reports joined into one, with the summary recomputed.

use crate::harness::Project;

#[test]
fn merges_shards_and_recomputes_the_summary() {
    let a = Project::new(
        r#"ptest.suite { name = "a1", cmd = "true" } ptest.suite { name = "a2", cmd = "exit 1" }"#,
    );
    let b = Project::new(r#"ptest.suite { name = "b1", cmd = "sleep 0.2" }"#);
    assert_eq!(a.run(&[]).code, 1);
    assert_eq!(b.run(&[]).code, 0);
    let out = a.join("merged.json");
    let ra = a.join("test-logs/test-report.json");
    let rb = b.join("test-logs/test-report.json");
    let m = a.run(&[
        "merge",
        ra.to_str().unwrap(),
        rb.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let names: Vec<&str> = v["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a1", "a2", "b1"]);
    assert_eq!(v["summary"]["total"], 3);
    assert_eq!(v["summary"]["passed"], 2);
    assert_eq!(v["summary"]["failed"], 1);
    assert!(
        v["duration"].as_f64().unwrap() >= 0.2,
        "the slowest shard's wall time"
    );

    let dup = a.run(&[
        "merge",
        ra.to_str().unwrap(),
        ra.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(dup.code, 2);
    assert!(dup.stderr.contains("suite \"a1\" is in"), "{}", dup.stderr);
    let missing = a.run(&["merge", "nope.json", "-o", out.to_str().unwrap()]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("cannot read nope.json"),
        "{}",
        missing.stderr
    );
}
