//! Non-UTF-8 bytes in `cmd` and `env` values reach the process unchanged (DESIGN §7), on the
//! Linux path and the portable one (`PTEST_PLATFORM=posix` runs this file again in CI), with
//! `{worker}`, `{suite}` and `{items}` filled in around them; names must be UTF-8.

use crate::harness::{Project, config_error};

/// Each probe writes exactly the bytes it got, with nothing added, into its own file.
const CONFIG: &str = r#"
local g = ptest.group { name = "g", max = 4, env = { G = "grp\xfd" } }
ptest.suite {
  name = "shell", group = g,
  cmd = "printf '%s' \"$V\" > v.bin; printf '%s' \"$G\" > g.bin; printf 'caf\xe9 {worker}' > s.bin",
  env = { V = "a\xff{worker}b\xc3" },
}
ptest.suite {
  name = "argv",
  cmd = { "sh", "-c", "printf '%s|%s' \"$1\" \"$2\" > a.bin", "sh", "x\xfe\x80{suite}y", "\xe2\x82" },
}
ptest.batch {
  name = "items", items = { "one", "two" }, batches = 1,
  cmd = { "sh", "-c", "printf '%s ' \"$@\" > i.bin", "sh", "\xf0{items}\xf0", "{items}" },
}
"#;

fn bytes(p: &Project, file: &str) -> Vec<u8> {
    std::fs::read(p.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn bytes_that_are_not_utf8_reach_argv_and_the_environment_unchanged() {
    let p = Project::new(CONFIG);
    let out = p.run(&["-j", "1"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        bytes(&p, "v.bin"),
        b"a\xff0b\xc3",
        "env value, {{worker}} filled"
    );
    assert_eq!(bytes(&p, "g.bin"), b"grp\xfd", "a group's env value");
    assert_eq!(bytes(&p, "s.bin"), b"caf\xe9 0", "a shell command");
    assert_eq!(
        bytes(&p, "a.bin"),
        b"x\xfe\x80argvy|\xe2\x82",
        "argv words, {{suite}} filled"
    );
    assert_eq!(
        bytes(&p, "i.bin"),
        b"\xf0one two\xf0 one two ",
        "{{items}} inside bytes and as words of its own"
    );
}

#[test]
fn listing_shows_such_bytes_as_replacement_characters() {
    let p = Project::new(CONFIG);
    let json = crate::harness::list_json(&p, &[]);
    let suites = json["suites"].as_array().unwrap();
    let shell = suites.iter().find(|s| s["name"] == "shell").unwrap();
    assert_eq!(shell["env"]["V"], "a\u{fffd}{worker}b\u{fffd}");
    assert_eq!(
        shell["cmd"],
        "printf '%s' \"$V\" > v.bin; printf '%s' \"$G\" > g.bin; printf 'caf\u{fffd} {worker}' > s.bin"
    );
    let argv = suites.iter().find(|s| s["name"] == "argv").unwrap();
    assert_eq!(argv["cmd"][4], "x\u{fffd}\u{fffd}{suite}y");
}

#[test]
fn a_name_or_variable_name_that_is_not_utf8_is_a_config_error() {
    let err = config_error("\nptest.suite { name = \"caf\\xe9\", cmd = \"true\" }\n");
    assert_eq!(
        err.lines().next().unwrap(),
        r#"ptest.lua:2: suite: name: "caf\xe9" is not valid UTF-8 (only cmd and env values may hold other bytes)"#,
        "{err}"
    );
    let err = config_error(
        "ptest.suite { name = \"s\", cmd = \"true\", env = { [\"K\\xff\"] = \"v\" } }\n",
    );
    assert!(
        err.starts_with(
            r#"ptest.lua:1: suite "s": env: the variable name "K\xff": "K\xff" is not valid UTF-8"#
        ),
        "{err}"
    );
}
