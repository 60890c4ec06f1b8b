//! `--junit`: the XML passes junit-10.xsd (kept in tests/, as pytest's sources ship it) with a
//! real validator, and reads as GitLab and mikepenz/action-junit-report read it: file,
//! classname, name, time, failure message and type, the log's tail, system-out.

use std::path::Path;
use std::process::Command;

use crate::harness::{JUNIT_XSD, Project, junit_xsd_with_file_line, xsd_check};

const RUN: &str = r#"
ptest.phase { name = "default", on_failure = "continue" }
local later = ptest.phase { name = "later" }
ptest.suite { name = "ok", category = "unit", cmd = "sh tests/test_ok.sh" }
ptest.suite { name = "bad <&>", category = "unit",
  cmd = "printf '\\033[31mred\\033[0m line\\n'; echo 'second \"line\"'; exit 3" }
ptest.suite { name = "slow", timeout = "1s", cmd = "echo waiting; sleep 30" }
ptest.suite { name = "flaky", retry = 1, cmd = "echo try $PTEST_ATTEMPT; test $PTEST_ATTEMPT = 2" }
ptest.suite { name = "after", cmd = "true", depends_on = { "bad <&>" } }
ptest.suite { name = "tests/test_named.py", category = "py", phase = later, cmd = "true" }
"#;

fn xpath(xmllint: &std::path::Path, file: &std::path::Path, expr: &str) -> String {
    let out = Command::new(xmllint)
        .args(["--xpath", expr])
        .arg(file)
        .output()
        .expect("run xmllint");
    // xmllint ends every answer with a line break of its own.
    let text = String::from_utf8_lossy(&out.stdout);
    text.strip_suffix('\n').unwrap_or(&text).to_owned()
}

#[test]
fn junit_passes_the_xsd_and_reads_as_gitlab_and_junit_actions_read_it() {
    let Some(xmllint) = crate::tools::xmllint() else {
        return;
    };
    let p = Project::new(RUN);
    p.file("tests/test_ok.sh", "echo fine\n");
    p.file("tests/test_named.py", "");
    let out = p.run(&["-j", "2", "--junit", "out/junit.xml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let xml_path = p.join("out/junit.xml");
    let xml = std::fs::read_to_string(&xml_path).unwrap();

    // The schema as shipped, on the document without the one extension it does not know
    // (`file`/`line` on testcase) ...
    let plain = xml
        .split(" file=\"")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                &part[part.find('"').unwrap() + 1..]
            }
        })
        .collect::<String>();
    assert_ne!(plain, xml, "some testcase has a file");
    p.file("schema.xsd", JUNIT_XSD);
    p.file("plain.xml", &plain);
    // ... and the schema with that extension declared, on the document as written.
    let extended = junit_xsd_with_file_line();
    p.file("extended.xsd", &extended);
    for (schema, doc) in [
        ("schema.xsd", p.join("plain.xml")),
        ("extended.xsd", xml_path.clone()),
    ] {
        if let Err(e) = xsd_check(&xmllint, p.path(), schema, &doc) {
            panic!("{schema}: {e}\n{xml}");
        }
    }
    // The schema really checks: the old writer's `skipped` on testsuites is refused.
    p.file(
        "bad.xml",
        &plain.replacen("<testsuites ", "<testsuites skipped=\"1\" ", 1),
    );
    assert!(
        xsd_check(&xmllint, p.path(), "schema.xsd", Path::new("bad.xml")).is_err(),
        "the validator refuses an invalid file"
    );

    let q = |e: &str| xpath(&xmllint, &xml_path, e);
    // A testsuite per phase, with its time.
    assert_eq!(q("count(/testsuites/testsuite)"), "2");
    assert_eq!(q("string(/testsuites/testsuite[1]/@name)"), "default");
    assert_eq!(q("string(/testsuites/testsuite[2]/@name)"), "later");
    assert!(
        q("string(/testsuites/testsuite[1]/@time)")
            .parse::<f64>()
            .unwrap()
            >= 1.0,
        "the phase ran at least as long as its timeout"
    );
    assert_eq!(q("string(/testsuites/testsuite[1]/@tests)"), "5");
    assert_eq!(q("string(/testsuites/testsuite[1]/@failures)"), "2");
    assert_eq!(q("string(/testsuites/testsuite[1]/@skipped)"), "1");
    assert_eq!(q("count(//testcase/properties)"), "0");

    // file, classname, name, time: where GitLab and the JUnit actions link a case.
    let ok = "//testcase[@name='ok']";
    assert_eq!(q(&format!("string({ok}/@file)")), "tests/test_ok.sh");
    assert_eq!(q(&format!("string({ok}/@classname)")), "unit");
    assert!(q(&format!("string({ok}/@time)")).parse::<f64>().is_ok());
    assert_eq!(
        q("string(//testcase[@name='tests/test_named.py']/@file)"),
        "tests/test_named.py",
        "a suite named after a file is about it"
    );
    assert_eq!(
        q("count(//testcase[@name='flaky']/@file)"),
        "0",
        "no file when the suite is not about one"
    );

    // The failure says why, has a type, and the log's tail without colour codes.
    let bad = "//testcase[@name='bad <&>']";
    assert_eq!(q(&format!("string({bad}/failure/@message)")), "exit code 3");
    assert_eq!(q(&format!("string({bad}/failure/@type)")), "failed");
    let tail = q(&format!("string({bad}/failure)"));
    assert_eq!(tail, "red line\nsecond \"line\"", "{xml}");
    assert!(!xml.contains('\u{1b}') && !xml.contains("[31m"), "{xml}");
    assert_eq!(
        q(&format!("string({bad}/system-out)")),
        "[[ATTACHMENT|test-logs/bad____.log]]"
    );
    let slow = "//testcase[@name='slow']";
    assert_eq!(
        q(&format!("string({slow}/failure/@message)")),
        "timed out after 1.0s"
    );
    assert_eq!(q(&format!("string({slow}/failure/@type)")), "timed_out");
    assert!(q(&format!("string({slow}/failure)")).contains("waiting"));

    // A flaky suite passed: its failed attempt is a flakyFailure with message, type and tail.
    let flaky = "//testcase[@name='flaky']";
    assert_eq!(q(&format!("count({flaky}/failure)")), "0");
    assert_eq!(
        q(&format!("string({flaky}/flakyFailure/@message)")),
        "attempt 1/2: exit code 1"
    );
    assert_eq!(q(&format!("string({flaky}/flakyFailure/@type)")), "failed");
    assert_eq!(
        q(&format!("string({flaky}/flakyFailure/stackTrace)")),
        "try 1"
    );

    assert_eq!(
        q("string(//testcase[@name='after']/skipped/@message)"),
        "dependency \"bad <&>\" failed"
    );
}
