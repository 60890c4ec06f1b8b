//! How errors read: `origin: context: message`, one per line, and what they exit with.

use std::sync::Arc;

use super::*;

#[expect(
    clippy::unnecessary_wraps,
    reason = "ConfigError takes an optional origin"
)]
fn at(line: u32) -> Option<Origin> {
    Some(Origin {
        file: Arc::from("ptest.lua"),
        line,
    })
}

#[test]
fn a_config_error_names_where_what_and_why() {
    let e = ConfigError::new(at(14), Some("suite \"deposits\"".into()), "unknown field");
    assert_eq!(
        e.to_string(),
        "ptest.lua:14: suite \"deposits\": unknown field"
    );
    assert_eq!(
        ConfigError::new(None, Some("config".into()), "bad").to_string(),
        "config: bad"
    );
    assert_eq!(
        ConfigError::new(at(2), None, "dependency cycle: a -> a").to_string(),
        "ptest.lua:2: dependency cycle: a -> a"
    );
    assert_eq!(ConfigError::new(None, None, "plain").to_string(), "plain");
}

#[test]
fn several_config_errors_read_one_a_line() {
    let e = Error::Config(vec![
        ConfigError::new(at(1), None, "first"),
        ConfigError::new(at(9), None, "second"),
    ]);
    assert_eq!(e.to_string(), "ptest.lua:1: first\nptest.lua:9: second");
    let one: Error = ConfigError::new(at(3), None, "only").into();
    assert_eq!(one.to_string(), "ptest.lua:3: only");
}

#[test]
fn every_error_that_stops_ptest_before_a_run_exits_2() {
    for e in [
        Error::Config(vec![ConfigError::new(None, None, "x")]),
        Error::Usage("--suites: no suite named \"x\"".into()),
        Error::Setup("cannot create log folder".into()),
    ] {
        assert_eq!(e.exit_code(), exit::USAGE, "{e}");
    }
    assert_eq!(
        Error::Usage("as given".into()).to_string(),
        "as given",
        "usage and setup errors are their text"
    );
}

#[test]
fn origins_order_by_file_then_line() {
    let a = Origin {
        file: Arc::from("a.lua"),
        line: 9,
    };
    let b = Origin {
        file: Arc::from("ptest.lua"),
        line: 2,
    };
    let c = Origin {
        file: Arc::from("ptest.lua"),
        line: 10,
    };
    let mut v = vec![c.clone(), b.clone(), a.clone()];
    v.sort();
    assert_eq!(v, [a, b, c]);
    // Errors without an origin come first when sorted (Option's order).
    assert!(None < at(1));
}

#[test]
fn io_messages_drop_the_os_error_number() {
    let e = std::io::Error::from_raw_os_error(libc::ENOENT);
    assert_eq!(io_message(&e), "No such file or directory");
    let e = std::io::Error::from_raw_os_error(libc::EACCES);
    assert_eq!(io_message(&e), "Permission denied");
    let custom = std::io::Error::other("not a regular file");
    assert_eq!(io_message(&custom), "not a regular file");
}

#[test]
fn exit_codes_are_those_of_the_design() {
    assert_eq!(
        [
            exit::OK,
            exit::FAILED,
            exit::USAGE,
            exit::NOTHING_TO_RUN,
            exit::INTERRUPTED
        ],
        [0, 1, 2, 4, 130]
    );
    assert_eq!((exit::OUTSIDE_RUN, exit::NOT_GRANTED), (3, 4));
}
