//! What a batch's results file may put into a run is bounded (a suite's command writes it: it is
//! untrusted), and a batch's items are data, never templates.

use crate::harness::{Project, report_file};
use serde_json::Value;

/// A batch of one part whose command copies `name` (written by the test) to its results file.
fn copying(name: &str, content: &[u8]) -> Project {
    let p = Project::new(&format!(
        r#"ptest.batch {{ name = "b", items = {{ "t.py" }}, batches = 1,
  cmd = {{ "sh", "-c", "cp {name} \"$PTEST_TMPDIR/r\"; exit 1", "sh", "{{items}}" }},
  results = "{{tmpdir}}/r" }}
"#
    ));
    std::fs::write(p.join(name), content).unwrap();
    p
}

fn testcases(p: &Project) -> Vec<Value> {
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(report_file(p)).unwrap()).unwrap();
    report["suites"][0]["testcases"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_long_failure_text_is_kept_as_its_head_and_tail_with_the_cap_named() {
    // 4 MB of traceback between a first and a last line.
    let body = format!(
        "FIRST LINE\n{}\nE   assert LAST LINE",
        "x = 1 &amp; y\n".repeat(4 * 1024 * 1024 / 14)
    );
    let xml = format!(
        r#"<testsuites><testsuite name="pytest"><testcase classname="t" name="test_a" file="t.py"><failure message="{m}">{body}</failure></testcase></testsuite></testsuites>"#,
        m = "m".repeat(200_000)
    );
    let p = copying("big.xml", xml.as_bytes());
    let out = p.run(&["--junit", "junit.xml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let cases = testcases(&p);
    assert_eq!(cases.len(), 1, "{cases:?}");
    let text = cases[0]["text"].as_str().unwrap();
    assert!(text.len() < 70 * 1024, "{}", text.len());
    assert!(
        text.starts_with("FIRST LINE\nx = 1 & y\n"),
        "{}",
        &text[..100]
    );
    assert!(
        text.ends_with("E   assert LAST LINE"),
        "{}",
        &text[text.len() - 100..]
    );
    assert!(
        text.contains(
            " bytes cut here: a text is kept up to 64 KiB, its first 16 KiB and last 48 KiB]"
        ),
        "{text}"
    );
    let message = cases[0]["message"].as_str().unwrap();
    assert!(message.len() < 70 * 1024, "{}", message.len());
    assert!(message.contains("bytes cut here"));
    // The JUnit report carries the same cut text, not 4 MB.
    let junit = std::fs::metadata(p.join("junit.xml")).unwrap().len();
    assert!(junit < 300 * 1024, "{junit}");
}

#[test]
fn many_texts_stop_at_the_files_cap_and_many_testcases_at_theirs() {
    // 200 failures of 60 KiB each: 12 MB of text, over the 8 MiB a file keeps.
    let mut xml = String::from("<testsuites><testsuite name=\"s\">");
    for i in 0..200 {
        xml.push_str(&format!(
            "<testcase classname=\"t\" name=\"test_{i}\" file=\"t.py\"><failure>{}</failure></testcase>",
            "y".repeat(60 * 1024)
        ));
    }
    xml.push_str("</testsuite></testsuites>");
    let p = copying("many.xml", xml.as_bytes());
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let cases = testcases(&p);
    assert_eq!(cases.len(), 200);
    let kept: usize = cases
        .iter()
        .map(|c| c["text"].as_str().unwrap().len())
        .sum();
    assert!(kept <= 8 * 1024 * 1024, "{kept}");
    let last = cases[199]["text"].as_str().unwrap();
    assert!(
        last.starts_with(
            "[ptest: 61440 bytes not kept: a results file keeps up to 8 MiB of texts]"
        ),
        "{last}"
    );
}

#[test]
fn testcases_past_the_cap_are_left_out_with_a_warning() {
    let mut xml = String::from("<testsuites><testsuite name=\"s\">");
    for i in 0..100_010 {
        xml.push_str(&format!("<testcase classname=\"t\" name=\"{i}\"/>"));
    }
    xml.push_str("</testsuite></testsuites>");
    let p = copying("cases.xml", xml.as_bytes());
    let out = p.run(&[]);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("left out its last 10 testcases (a results file keeps up to 100000 testcases and 64 MiB of names)"),
        "{all}"
    );
    assert_eq!(testcases(&p).len(), 100_000);
}

/// go's JSON with one failing subtest nested 100 deep under tests that all fail: each level's
/// text holds the output below it, which was 100 copies of the deepest test's 1 MB.
#[test]
fn a_deeply_nested_failing_go_subtest_is_bounded() {
    let mut json = String::new();
    let mut name = String::from("TestDeep");
    let mut names = Vec::new();
    for level in 0..100 {
        if level > 0 {
            name.push_str("/s");
        }
        json.push_str(&format!(
            "{{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"{name}\"}}\n"
        ));
        names.push(name.clone());
    }
    let line = format!("{}\\n", "z".repeat(64 * 1024 - 2));
    for _ in 0..16 {
        json.push_str(&format!(
            "{{\"Action\":\"output\",\"Package\":\"p\",\"Test\":\"{name}\",\"Output\":\"{line}\"}}\n"
        ));
    }
    for n in names.iter().rev() {
        json.push_str(&format!(
            "{{\"Action\":\"fail\",\"Package\":\"p\",\"Test\":\"{n}\",\"Elapsed\":0}}\n"
        ));
    }
    json.push_str("{\"Action\":\"fail\",\"Package\":\"p\",\"Elapsed\":0}\n");
    let p = Project::new(
        r#"ptest.batch { name = "b", items = { "p" }, batches = 1,
  cmd = { "sh", "-c", "cp go.json \"$PTEST_TMPDIR/r\"; exit 1", "sh", "{items}" },
  results = "{tmpdir}/r" }
"#,
    );
    std::fs::write(p.join("go.json"), &json).unwrap();
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let report = std::fs::metadata(report_file(&p)).unwrap().len();
    assert!(report < 10 * 1024 * 1024, "{report}");
    let cases = testcases(&p);
    assert_eq!(cases.len(), 100);
    assert_eq!(cases[99]["name"].as_str(), Some(names[99].as_str()));
    let deepest = cases[99]["text"].as_str().unwrap();
    assert!(deepest.contains("bytes cut here"), "{}", deepest.len());
}

#[test]
fn items_are_data_never_templates() {
    let p = Project::new(
        r#"ptest.batch { name = "b", items = { "a{worker}", "{tmpdir}", "x'{suite}" }, batches = 1,
  cmd = { "sh", "-c", "printf '%s\n' \"$@\" > argv.txt; echo \"$0\" > shell.txt", "{worker}", "{items}" } }
ptest.batch { name = "s", items = { "{attempt}" }, batches = 1,
  cmd = "printf '%s\\n' {items} {attempt} > s.txt" }
"#,
    );
    let out = p.run(&["-j", "1"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let argv = std::fs::read_to_string(p.join("argv.txt")).unwrap();
    assert_eq!(argv, "a{worker}\n{tmpdir}\nx'{suite}\n");
    // The template around them is filled.
    assert_eq!(std::fs::read_to_string(p.join("shell.txt")).unwrap(), "0\n");
    assert_eq!(
        std::fs::read_to_string(p.join("s.txt")).unwrap(),
        "{attempt}\n1\n"
    );
}
