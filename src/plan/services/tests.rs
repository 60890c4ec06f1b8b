//! Services in the plan: the Lua fields as `plan::build` sees them (errors with the line, the
//! field and a suggestion), who needs what, and the readiness address parsers.

use std::time::Duration;

use super::super::tests::{error, plan};
use super::*;
use crate::plan::ReadyCheck;

#[test]
fn a_service_and_the_suites_that_need_it() {
    let p = plan(
        r#"local db = ptest.service { name = "db", cmd = "db -p {port} --admin {port:admin}",
             ready = { tcp = "127.0.0.1:{port}" }, scope = "worker",
             env = { DB = "127.0.0.1:{port}" }, own_env = { DATA = "{tmpdir}/{worker}" } }
           ptest.service { name = "idle", cmd = "sleep 100" }
           ptest.suite { name = "a", cmd = "true", needs = { db } }
           ptest.suite { name = "b", cmd = "true", needs = "db" }
           ptest.batch { name = "c", cmd = { "t", "{items}" }, items = { "x", "y" }, batches = 2,
                         needs = { db, "idle" } }
           ptest.suite { name = "free", cmd = "true" }"#,
    );
    assert_eq!(p.services.len(), 2);
    let db = &p.services[0];
    assert_eq!(db.scope, Scope::Worker);
    assert_eq!(db.ports, [None, Some("admin".to_owned())]);
    assert_eq!(db.ready_timeout, DEFAULT_READY_TIMEOUT);
    assert_eq!(db.grace, p.grace);
    assert!(matches!(&db.ready, Some(r) if r.check == ReadyCheck::Tcp("127.0.0.1:{port}".into())));
    let needers: Vec<&str> = db
        .needed_by
        .iter()
        .map(|&id| p.suite(id).name.as_str())
        .collect();
    assert_eq!(needers, ["a", "b", "c[1]", "c[2]"]);
    let idle: Vec<&str> = p.services[1]
        .needed_by
        .iter()
        .map(|&id| p.suite(id).name.as_str())
        .collect();
    assert_eq!(idle, ["c[1]", "c[2]"]);
    let free = super::super::tests::by_name(&p, "free");
    assert!(free.needs.is_empty());
}

#[test]
fn a_service_no_suite_needs_is_fine() {
    let p = plan(
        r#"ptest.service { name = "db", cmd = "db", ready = { log = "ready" } }
           ptest.suite { name = "a", cmd = "true" }"#,
    );
    assert!(p.services[0].needed_by.is_empty());
}

#[test]
fn unknown_services_are_named_with_a_suggestion() {
    let e = error(
        r#"ptest.service { name = "postgres", cmd = "pg" }
           ptest.suite { name = "a", cmd = "true", needs = { "postgress" } }"#,
    );
    assert_eq!(
        e,
        r#"ptest.lua:2: suite "a": needs: unknown service "postgress" (did you mean "postgres"?)"#
    );
    let e = error(r#"ptest.suite { name = "a", cmd = "true", needs = { "db" } }"#);
    assert_eq!(
        e,
        r#"ptest.lua:1: suite "a": needs: unknown service "db" (declare it with ptest.service { name = "db", cmd = ... })"#
    );
}

#[test]
fn field_errors_name_the_line_the_field_and_what_was_expected() {
    let cases = [
        (
            r#"ptest.service { name = "db", cmd = "db", scope = "workers" }"#,
            r#"ptest.lua:1: service "db": scope: expected "run" (one instance for the run) or "worker" (one per worker), got "workers" (did you mean "worker"?)"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", redy = { tcp = "1" } }"#,
            r#"ptest.lua:1: service "db": unknown field "redy" (did you mean "ready"?)"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready = { tpc = "1" } }"#,
            r#"ptest.lua:1: service "db": ready: unknown field "tpc" (known fields: tcp, http, cmd, log, interval)"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready = { intervall = 1 } }"#,
            r#"ptest.lua:1: service "db": ready: unknown field "intervall" (did you mean "interval"?)"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready = { } }"#,
            r#"ptest.lua:1: service "db": ready: give one check: tcp, http, cmd or log, like ready = { tcp = "127.0.0.1:{port}" }"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready = { tcp = "{port}", log = "up" } }"#,
            r#"ptest.lua:1: service "db": ready: give one check, not both tcp and log (a service is ready when its one check passes)"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready = "127.0.0.1:80" }"#,
            r#"ptest.lua:1: service "db": ready: expected a table like { tcp = "127.0.0.1:{port}" }, got "127.0.0.1:80""#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready = { http = "https://x/" } }"#,
            r#"ptest.lua:1: service "db": ready: http: "https://x/": https is not checked (no certificates for a local service); use http://, or tcp = "HOST:PORT""#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready = { tcp = "localhost" } }"#,
            r#"ptest.lua:1: service "db": ready.tcp: "localhost": the port must be a number from 1 to 65535"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready = { cmd = "" } }"#,
            r#"ptest.lua:1: service "db": ready: cmd: empty command"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready = { log = "up", interval = 0 } }"#,
            r#"ptest.lua:1: service "db": ready: interval: must be longer than 0s (leave it out for the default)"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db --data {worker}" }"#,
            r#"ptest.lua:1: service "db": cmd: {worker} in a service of scope "run", which serves every worker (use scope = "worker" for one instance per worker)"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db -p {port:a b}" }"#,
            r#"ptest.lua:1: service "db": cmd: {port:a b}: a port's name is letters, digits, '_' and '-', like {port:http}"#,
        ),
        (
            r#"ptest.service { name = "db", cmd = "db", ready_timeout = "soon" }"#,
            r#"ptest.lua:1: service "db": ready_timeout: expected a duration like "30s" or a number of seconds, got "soon""#,
        ),
        (
            r#"ptest.service { name = "db" }"#,
            r#"ptest.lua:1: service "db": cmd: missing (it is required): a string run by sh -c, or an array like { "pytest", "-x" }"#,
        ),
        (
            r#"ptest.suite { name = "a", cmd = "true", needs = { x = 1 } }"#,
            r#"ptest.lua:1: suite "a": needs: expected an array like { db }, got a table with named keys"#,
        ),
        (
            r#"local g = ptest.group { name = "g" }
               ptest.suite { name = "a", cmd = "true", needs = { g } }"#,
            r#"ptest.lua:2: suite "a": needs[1]: expected a service handle or name, got group "g""#,
        ),
    ];
    for (lua, expected) in cases {
        assert_eq!(error(lua), expected, "{lua}");
    }
}

#[test]
fn duplicate_service_names_are_errors() {
    let e = error(
        r#"ptest.service { name = "db", cmd = "a" }
           ptest.service { name = "db", cmd = "b" }"#,
    );
    assert_eq!(
        e,
        r#"ptest.lua:2: service "db": duplicate name (first declared at ptest.lua:1)"#
    );
}

#[test]
fn worker_is_fine_in_a_worker_service_and_ready_templates_count_ports() {
    let p = plan(
        r#"ptest.service { name = "w", cmd = { "srv", "--id", "{worker}" }, scope = "worker",
             ready = { http = "http://127.0.0.1:{port:web}/up" } }"#,
    );
    assert_eq!(p.services[0].ports, [Some("web".to_owned())]);
}

#[test]
fn a_service_handle_shows_its_fields() {
    let p = plan(
        r#"local db = ptest.service { name = "db", cmd = "db", ready_timeout = "5s" }
           assert(db.name == "db" and db.scope == "run" and db.ready_timeout == 5)
           assert(tostring(db) == 'service "db"')
           local s = ptest.suite { name = "a", cmd = "true", needs = { db } }
           assert(s.needs[1] == db)
           local t = ptest.suite { name = "b", cmd = "true" }
           assert(#t.needs == 0)"#,
    );
    assert_eq!(p.services[0].ready_timeout, Duration::from_secs(5));
}

#[test]
fn tcp_targets() {
    assert_eq!(tcp_target("127.0.0.1:80"), Ok(("127.0.0.1".into(), 80)));
    assert_eq!(tcp_target("localhost:6379"), Ok(("localhost".into(), 6379)));
    assert_eq!(tcp_target("6379"), Ok(("127.0.0.1".into(), 6379)));
    assert_eq!(tcp_target("[::1]:5432"), Ok(("::1".into(), 5432)));
    assert!(tcp_target("::1:5432").is_err());
    assert!(tcp_target("host:0").is_err());
    assert!(tcp_target("host:70000").is_err());
    assert!(tcp_target(":80").is_err());
}

#[test]
fn http_targets() {
    let t = http_target("http://127.0.0.1:8000/health?x=1").unwrap();
    assert_eq!(
        t,
        HttpTarget {
            host: "127.0.0.1".into(),
            port: 8000,
            path: "/health?x=1".into()
        }
    );
    let t = http_target("http://example.test").unwrap();
    assert_eq!((t.port, t.path.as_str()), (80, "/"));
    let t = http_target("http://h:1?q").unwrap();
    assert_eq!(t.path, "/?q");
    assert!(http_target("http://u:p@h:1/").is_err());
    assert!(http_target("http://:1/").is_err());
    assert!(http_target("ftp://h/").is_err());
    assert!(http_target("http://h/a b").is_err());
}

#[test]
fn placeholders_and_ports() {
    let found: Vec<&[u8]> = placeholders(b"a {port} b {port:x} {worker}{").collect();
    assert_eq!(found, [&b"port"[..], b"port:x", b"worker"]);
    assert_eq!(port_of(b"port"), Ok(Some(None)));
    assert_eq!(port_of(b"port:db-1_a"), Ok(Some(Some("db-1_a".into()))));
    assert_eq!(port_of(b"worker"), Ok(None));
    assert!(port_of(b"port:").is_err());
    assert_eq!(fill_sample("h:{port}/{worker}"), "h:1/1");
    assert_eq!(fill_sample("{open"), "{open");
}

#[test]
fn timeouts_as_messages_write_them() {
    assert_eq!(secs_text(Duration::from_secs(30)), "30s");
    assert_eq!(secs_text(Duration::from_secs(90)), "1m30s");
    assert_eq!(secs_text(Duration::from_secs(120)), "2m");
    assert_eq!(secs_text(Duration::from_secs(3600)), "1h");
    assert_eq!(secs_text(Duration::from_millis(2500)), "2.5s");
}
