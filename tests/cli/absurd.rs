//! Absurd values (DESIGN §7): a delay of 2^63 seconds, an estimate of 1e19, a limiter refilling
//! once an aeon, a billion workers are config errors naming `ptest.lua:LINE`, never a panic, an
//! overflow or a run that waits forever.

use crate::harness::{Project, config_error};

/// `ptest run` on the config: exit 2, the message on stderr, nothing ran.
fn run_error(config: &str, args: &[&str]) -> String {
    let p = Project::new(config);
    let mut all = vec!["-q"];
    all.extend_from_slice(args);
    let out = p.run(&all);
    assert_eq!(
        out.code, 2,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        !p.join("ran.txt").exists(),
        "nothing runs on a config error"
    );
    out.stderr
}

#[test]
fn a_retry_delay_of_2_to_the_63_seconds_is_a_config_error() {
    let err = run_error(
        "local r = ptest.retry { delay = math.maxinteger, factor = 2, max_delay = math.maxinteger }\n\
         ptest.suite { name = \"f\", cmd = \"touch ran.txt; false\", retry = r }\n",
        &[],
    );
    assert!(err.starts_with("ptest.lua:1: retry: delay: "), "{err}");
    assert!(err.contains("at most 365 days"), "{err}");
}

#[test]
fn a_limiter_that_refills_once_an_aeon_is_a_config_error() {
    let err = run_error(
        "local l = ptest.limiter { name = \"api\", rate = 1, per = math.maxinteger }\n\
         ptest.suite { name = \"f\", cmd = \"touch ran.txt\", limiter = l }\n",
        &[],
    );
    assert!(
        err.starts_with("ptest.lua:1: limiter \"api\": per: "),
        "{err}"
    );
    let err = config_error("ptest.limiter { name = \"slow\", rate = 1e-300 }\n");
    assert!(
        err.starts_with("ptest.lua:1: limiter \"slow\": rate: "),
        "{err}"
    );
    assert!(err.contains("at most 365 days"), "{err}");
}

#[test]
fn an_estimate_of_1e19_seconds_is_a_config_error() {
    let p = Project::new("ptest.suite { name = \"f\", cmd = \"true\", estimate = 1e19 }\n");
    let out = p.run(&["plan"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .starts_with("ptest.lua:1: suite \"f\": estimate: "),
        "{}",
        out.stderr
    );
}

#[test]
fn huge_timeouts_and_grace_periods_are_config_errors() {
    let err = run_error(
        "ptest.suite { name = \"f\", cmd = \"touch ran.txt\", timeout = \"99999999999h\" }\n",
        &[],
    );
    assert!(
        err.starts_with("ptest.lua:1: suite \"f\": timeout: "),
        "{err}"
    );
    let err = run_error(
        "ptest.config { grace = math.maxinteger }\n\
         ptest.suite { name = \"f\", cmd = \"touch ran.txt\" }\n",
        &[],
    );
    assert!(err.starts_with("ptest.lua:1: config: grace: "), "{err}");
    let err = run_error(
        "ptest.suite { name = \"f\", cmd = \"touch ran.txt\" }\n",
        &["--timeout", "99999999999h"],
    );
    assert!(err.contains("--timeout"), "{err}");
}

#[test]
fn a_billion_workers_is_an_error() {
    let err = run_error(
        "ptest.config { workers = 2^31 }\nptest.suite { name = \"f\", cmd = \"touch ran.txt\" }\n",
        &[],
    );
    assert!(err.starts_with("ptest.lua:1: config: workers: "), "{err}");
    let err = run_error(
        "ptest.suite { name = \"f\", cmd = \"touch ran.txt\" }\n",
        &["-j", "1000000000"],
    );
    assert!(err.contains("at most 65536"), "{err}");
}
