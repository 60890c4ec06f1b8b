//! Messages that must say what really happened: a NUL byte or another control character in a
//! suite's name is a config error,
//! and exit status 127 says "command not found" only when ptest itself found no program.

use crate::harness::{Project, config_error};

#[test]
fn a_nul_byte_in_a_suite_name_is_a_config_error() {
    let err = config_error("ptest.suite { name = \"a\\0b\", cmd = \"true\" }\n");
    assert_eq!(
        err.trim(),
        r#"ptest.lua:1: suite: name: "a\0b" contains a NUL byte, which no file name, variable or terminal can carry"#
    );
}

/// A name is printed with every line about its suite (the `-v` prefix, the summary, GitHub
/// annotations): an escape sequence or a newline in it would be written to the terminal as is.
#[test]
fn control_characters_in_a_name_are_a_config_error() {
    let err = config_error("ptest.suite { name = \"red\\27[31m\", cmd = \"true\" }\n");
    assert_eq!(
        err.trim(),
        r#"ptest.lua:1: suite: name: "red\u{1b}[31m" contains the control character U+001B, which would reach terminals and file names as it is (use letters, digits, spaces and punctuation)"#
    );
    for name in ["a\\nb", "a\\rb", "a\\127b", "a\\u{85}b"] {
        let err = config_error(&format!("ptest.group {{ name = \"{name}\" }}\n"));
        assert!(
            err.contains("contains the control character"),
            "{name}: {err}"
        );
    }
}

fn report(p: &Project) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p.join("test-logs/test-report.json")).unwrap())
        .unwrap()
}

fn message(r: &serde_json::Value, name: &str) -> String {
    r["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()["error_message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_127_says_command_not_found_only_when_ptest_found_no_program() {
    let p = Project::new(
        r#"
ptest.suite { name = "cat", cmd = "cat nofile.txt; exit 127" }
ptest.suite { name = "shebang", cmd = "./t.sh && true" }
ptest.suite { name = "missing", cmd = "cd . && pytestt-deep -q" }
ptest.suite { name = "argv", cmd = { "pytestt-argv" } }
"#,
    );
    p.file("t.sh", "#!/no/such/interpreter\necho hi\n");
    let script = p.join("t.sh");
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let r = report(&p);
    // A program's own complaint is not the shell's: no command was missing.
    assert_eq!(message(&r, "cat"), "exit code 127");
    // The script exists; its interpreter does not. The shell's words, not ptest's guess.
    let shebang = message(&r, "shebang");
    assert!(
        shebang.starts_with("exit code 127 (sh: ") && shebang.contains("t.sh"),
        "{shebang}"
    );
    assert!(!shebang.contains("command not found: ./t.sh"), "{shebang}");
    let missing = message(&r, "missing");
    assert!(
        missing.starts_with("exit code 127 (sh: ") && missing.contains("pytestt-deep"),
        "{missing}"
    );
    // ptest's own start found no program: that, and only that, is "command not found".
    assert_eq!(message(&r, "argv"), "command not found: pytestt-argv");
}

/// An array `cmd` is exec'd by ptest itself: when the file is there but the interpreter its
/// `#!` line names is not, the message names the interpreter, not the script (issue 25.9).
#[test]
fn a_missing_interpreter_is_named_for_an_array_cmd() {
    let p = Project::new(
        r#"
ptest.suite { name = "script", cmd = { "./t.sh", "-x" } }
ptest.suite { name = "absent", cmd = { "./nothere.sh" } }
"#,
    );
    p.file("t.sh", "#!/no/such/python9 -u\necho hi\n");
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(p.join("t.sh"))
        .status()
        .unwrap();
    let out = p.run(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let r = report(&p);
    assert_eq!(
        message(&r, "script"),
        "cannot start ./t.sh: its interpreter /no/such/python9 (from its #! line) was not found"
    );
    assert_eq!(message(&r, "absent"), "command not found: ./nothere.sh");
    // The log says it too.
    let log = std::fs::read_to_string(p.join("test-logs/script.log")).unwrap();
    assert!(log.contains("its interpreter /no/such/python9"), "{log}");
}
