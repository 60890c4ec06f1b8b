//! Breaks found by re-running issue 12's attacks (and a few like them) on the release binary,
//! each kept fixed by a test that failed before its fix.

use std::time::{Duration, Instant};

use crate::probe::{Probed, signal, wait_exit, wait_until};

/// A `suite_finished` hook in an endless loop ran for its whole budget (5 s) once per cancelled
/// suite after Ctrl-C, and a second Ctrl-C ("kill at once") waited for each of them too: three
/// running suites took 15 s to stop. A stop signal now abandons the callback it interrupts, and
/// after the second no callback runs.
#[test]
fn a_second_ctrl_c_is_not_held_up_by_endless_hooks() {
    let p = Probed::new(
        r#"
ptest.on("suite_finished", function(r) while true do end end)
for i = 1, 3 do ptest.suite { name = "s" .. i, cmd = probe("s" .. i, 30) } end
"#,
    );
    let mut child = p.spawn(&["-j", "3"]);
    assert!(wait_until(Duration::from_secs(20), || {
        let spans = p.spans();
        (1..=3).all(|i| spans.ran(&format!("s{i}")))
    }));
    let clock = Instant::now();
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGINT);
    let code = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(code, 130);
    assert!(
        clock.elapsed() < Duration::from_secs(4),
        "took {:?} to stop",
        clock.elapsed()
    );
    let stderr = std::fs::read_to_string(p.p.join("stderr.txt")).unwrap();
    assert!(
        stderr.contains("abandoned: ptest was asked to stop"),
        "{stderr}"
    );
    p.spans().assert_no_process_left();
}
