//! Lua callbacks at run time get a time budget (DESIGN §3 rule 8): a hook or `when` predicate in
//! an endless loop is abandoned with a warning, counts as having returned nothing, and cannot
//! make ptest deaf to a signal.

use std::time::Duration;

use crate::probe::{Probed, status, wait_exit, wait_until};

#[test]
fn an_endless_hook_and_predicate_are_abandoned_after_their_budget() {
    let p = Probed::new(
        r#"
ptest.config { hook_timeout = "1s" }
ptest.on("suite_finished", function(r) while true do end end)
local forever = ptest.retry { attempts = 2, delay = 0, when = function(r) while true do end end }
ptest.suite { name = "fails", cmd = probe("fails", 0, 3), retry = forever }
ptest.suite { name = "passes", cmd = probe("passes", 0) }
"#,
    );
    let mut child = p.spawn(&["-j", "1"]);
    let code = wait_exit(&mut child, Duration::from_secs(60));
    let stderr = std::fs::read_to_string(p.p.join("stderr.txt")).unwrap();
    let stdout = std::fs::read_to_string(p.p.join("stdout.txt")).unwrap();
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let r = p.report();
    assert_eq!(
        status(&r, "fails"),
        "failed",
        "the predicate counts as nil: no retry"
    );
    assert_eq!(status(&r, "passes"), "passed");
    assert!(stderr.contains("abandoned after 1.0s"), "{stderr}");
}

#[test]
fn sigterm_gets_through_an_endless_hook() {
    let p = Probed::new(
        r#"
ptest.on("suite_started", function(s) while true do end end)
ptest.suite { name = "a", cmd = probe("a", 30) }
"#,
    );
    let mut child = p.spawn(&[]);
    assert!(wait_until(Duration::from_secs(20), || p.spans().ran("a")));
    crate::probe::signal(&child, libc::SIGTERM);
    let code = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(code, 130);
    p.spans().assert_no_process_left();
}
