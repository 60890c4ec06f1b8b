//! The pieces of a service instance that need no process: its placeholders, its name, how its
//! end reads.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::*;

fn vars<'a>(worker: Option<&str>, tmp: &'a OsStr) -> Vars<'a> {
    Vars {
        name: "db",
        worker: worker.map(str::to_owned),
        tmpdir: tmp,
        run_id: "r1",
        ports: vec![(None, "5001".into()), (Some("admin".into()), "5002".into())],
    }
}

#[test]
fn every_placeholder_of_an_instance_is_filled() {
    let tmp = OsStr::new("/tmp/x");
    let v = vars(Some("3"), tmp);
    let out = v.fill(OsStr::new(
        "db -p {port} -a {port:admin} -w {worker} -d {tmpdir}/d -n {suite}/{attempt}/{run_id} {other}",
    ));
    assert_eq!(
        out, "db -p 5001 -a 5002 -w 3 -d /tmp/x/d -n db/1/r1 {other}",
        "an unknown placeholder stays"
    );
    // A run-scoped instance has no worker: `{worker}` never reaches it (the plan refuses it).
    let v = vars(None, tmp);
    assert_eq!(v.fill(OsStr::new("{port}")), "5001");
    assert_eq!(v.fill(OsStr::new("plain")), "plain");
}

#[test]
fn placeholders_are_filled_on_bytes() {
    let tmp = OsString::from_vec(b"/tmp/\xff".to_vec());
    let v = vars(Some("0"), &tmp);
    let out = v.fill(OsStr::from_bytes(b"\xfe{tmpdir}:{port}"));
    assert_eq!(out.as_bytes(), b"\xfe/tmp/\xff:5001");
}

#[test]
fn ends_read_as_messages_say_them() {
    assert_eq!(ended_text(&AttemptEnd::Exited(1)), "exited with 1");
    assert_eq!(
        ended_text(&AttemptEnd::Signaled(9)),
        "was killed by signal 9"
    );
    assert_eq!(
        ended_text(&AttemptEnd::SpawnFailed("command not found: x".into())),
        "could not start: command not found: x"
    );
}

#[test]
fn instances_are_named_by_service_and_worker() {
    let p = crate::plan::tests::plan(
        r#"ptest.service { name = "db", cmd = "db", scope = "worker" }
           ptest.service { name = "web", cmd = "web" }"#,
    );
    let db = ServiceInstance {
        service: crate::plan::ServiceId(0),
        worker: Some(2),
    };
    let web = ServiceInstance {
        service: crate::plan::ServiceId(1),
        worker: None,
    };
    assert_eq!(instance_name(&p, db), "db@2");
    assert_eq!(instance_name(&p, web), "web");
}

#[test]
fn instance_logs_keep_clear_of_suites_and_of_each_other() {
    let p = crate::plan::tests::plan(
        r#"ptest.service { name = "db", cmd = "db", scope = "worker" }
           ptest.service { name = "d b", cmd = "db" }
           ptest.suite { name = "db@0", cmd = "true" }"#,
    );
    let mut s = Services::new(
        &p,
        RunCtx {
            safe_name: crate::sched::files::safe_name,
            ..RunCtx::none()
        },
        &[p.log_dir.join("DB@0.log"), p.log_dir.join("d_b.log")],
    );
    let inst = |n: u32, w: Option<u32>| ServiceInstance {
        service: crate::plan::ServiceId(n),
        worker: w,
    };
    let name = |s: &mut Services<'_>, i| {
        s.log_file(i)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(name(&mut s, inst(0, Some(0))), "db@0-2.log");
    assert_eq!(name(&mut s, inst(0, Some(1))), "db@1.log");
    assert_eq!(name(&mut s, inst(1, None)), "d_b-2.log");
}
