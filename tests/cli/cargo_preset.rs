//! The `cargo` preset on real cargo: a tiny crate's test binaries become batches of their tests
//! (run with `--exact`), doc tests one suite, and a build failure a config error with cargo's
//! own message.

use crate::harness::{Project, list_json};

const LIB: &str = "/// Adds.\n///\n/// ```\n/// assert_eq!(tiny::add(1, 2), 3);\n/// ```\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::add(2, 2), 4);\n    }\n    #[test]\n    fn fails() {\n        assert_eq!(super::add(2, 2), 5, \"two and two\");\n    }\n}\n";

fn tiny() -> Project {
    let p =
        Project::new("require(\"ptest.presets.cargo\").batch { name = \"rust\", batches = 1 }\n");
    p.file(
        "Cargo.toml",
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .file("src/lib.rs", LIB)
    .file(
        "tests/it.rs",
        "#[test]\nfn one() {}\n#[test]\nfn manifest_dir() {\n    assert!(std::env::var(\"CARGO_MANIFEST_DIR\").is_ok());\n}\n",
    );
    p
}

#[test]
fn test_binaries_become_batches_of_their_tests() {
    let p = tiny();
    let j = list_json(&p, &[]);
    let names: Vec<&str> = j["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["rust/tiny(lib)[1]", "rust/it[1]", "rust/doc"],
        "{j}"
    );
    let items: Vec<&str> = j["suites"][0]["batch"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["tests::adds", "tests::fails"]);
    assert!(
        j["suites"][0]["cmd"][1] == "--exact",
        "{}",
        j["suites"][0]["cmd"]
    );
    let out = p.run(&["-j", "2"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASS    rust/it[1]"), "{}", out.stdout);
    assert!(out.stdout.contains("PASS    rust/doc"), "{}", out.stdout);
    assert!(
        out.stdout.contains("FAIL    rust/tiny(lib)[1]"),
        "{}",
        out.stdout
    );
    let log = std::fs::read_to_string(p.join("test-logs/rust_tiny_lib__1_.log")).unwrap();
    assert!(log.contains("two and two"), "{log}");
}

#[test]
fn a_build_failure_is_a_config_error_with_cargos_message() {
    let p = tiny();
    p.file("src/lib.rs", "pub fn broken( {\n");
    let out = p.run(&["list"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("ptest.lua:1: cargo preset: `cargo test --no-run"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("error"), "{}", out.stderr);
    assert!(out.stderr.contains("src/lib.rs"), "{}", out.stderr);
}
