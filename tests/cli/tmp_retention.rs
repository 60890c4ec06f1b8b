//! Failed attempts' temporary folders stay for inspection, but only those of the last runs, and
//! the summary says where they are.

use crate::harness::Project;

fn run_folders(tmp: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ptest-"))
        .collect();
    v.sort();
    v
}

#[test]
fn only_the_last_runs_keep_their_failed_attempts_folders() {
    let p = Project::new(
        r#"ptest.suite { name = "bad", cmd = "echo left > $PTEST_TMPDIR/x; exit 1" }"#,
    );
    let tmp = p.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Not ptest's, though named like it: never touched.
    std::fs::create_dir(tmp.join("ptest-notes")).unwrap();
    std::os::unix::fs::symlink(p.path(), tmp.join("ptest-20000101T000000-abcdef")).unwrap();
    let tmp_s = tmp.to_str().unwrap().to_owned();
    let mut last = String::new();
    for _ in 0..7 {
        let out = p.run_env(&[], &[("TMPDIR", &tmp_s)]);
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
        last = out.stdout;
        // Every earlier run looks a minute old and ended: nothing answers on its socket.
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg("for d in \"$0\"/ptest-2*; do [ -L \"$d\" ] || touch -d '1 hour ago' \"$d\"; done")
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let folders = run_folders(&tmp);
    let runs: Vec<&String> = folders
        .iter()
        .filter(|n| n.len() == "ptest-".len() + 22 && !n.starts_with("ptest-2000"))
        .collect();
    assert_eq!(runs.len(), 5, "{folders:?}");
    assert!(folders.contains(&"ptest-notes".to_owned()), "{folders:?}");
    assert!(
        folders.contains(&"ptest-20000101T000000-abcdef".to_owned()),
        "{folders:?}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap(),
    )
    .unwrap();
    let newest = format!("ptest-{}", report["run_id"].as_str().unwrap());
    assert!(runs.contains(&&newest), "{folders:?}");
    assert!(
        last.contains(&format!(
            "Failed attempts' temporary folders: {tmp_s}/{newest} (those of the last 5 runs are kept)"
        )),
        "{last}"
    );
    assert!(tmp.join(&newest).join("bad-1/x").is_file());
}
