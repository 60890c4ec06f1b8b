//! The queue's pure parts (URLs, run keys, node names, plan differences, the event stream's
//! shape) and its store's atomic steps against a real `redis-server` of the test's own
//! (`tests/cli/redis_server.rs`, which the CLI tests share).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::Value;

use super::store::{Claim, Happened, Published, Store, StoreError, parse_xread};
use super::target::{Target, check_lease, check_ttl, node_name, redact, run_key};
use super::{JoinError, Spec, digest, join};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| m.get(k).cloned()
}

#[test]
fn urls_are_checked_and_passwords_never_shown() {
    assert_eq!(
        Target::parse("redis://127.0.0.1:6379/2").unwrap(),
        Target {
            url: "redis://127.0.0.1:6379/2".into(),
            tls: false
        }
    );
    assert!(Target::parse("rediss://cache.example:6380").unwrap().tls);
    assert!(Target::parse("redis://[::1]:6379").is_ok());
    assert!(Target::parse("redis://localhost").is_ok());
    for (bad, says) in [
        (
            "localhost:6379",
            "expected redis://HOST:PORT[/DB] or rediss://HOST:PORT[/DB], got \"localhost:6379\"",
        ),
        ("http://h:1", "got a http:// URL (\"http://h:1\")"),
        ("redis://", "\"redis://\" names no host"),
        ("redis://h:99999", "has no valid port (\"99999\")"),
        ("redis://h:0", "has no valid port (\"0\")"),
        (
            "redis://h:6379/x",
            "the database \"x\" in \"redis://h:6379/x\" is not a number",
        ),
        (
            "redis://:hunter2@h:x",
            "\"redis://:***@h:x\" has no valid port (\"x\")",
        ),
    ] {
        let e = Target::parse(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
    assert_eq!(redact("redis://:s3cret@h:1/0"), "redis://:***@h:1/0");
    assert_eq!(redact("redis://user:s3cret@h:1"), "redis://user:***@h:1");
    assert_eq!(redact("rediss://tok@h"), "rediss://***@h");
    assert_eq!(redact("redis://h:1"), "redis://h:1");
    assert_eq!(
        Target::parse("redis://u:pw@h:1").unwrap().shown(),
        "redis://u:***@h:1"
    );
}

#[test]
fn the_run_key_comes_from_the_flag_then_the_ci_run() {
    let none = env(&[]);
    assert_eq!(
        run_key(Some(("abc", "--queue-run")), &none).unwrap(),
        ("abc".into(), "--queue-run".into())
    );
    assert_eq!(
        run_key(Some((" ", "PTEST_QUEUE_RUN")), &none).unwrap_err(),
        "PTEST_QUEUE_RUN: the queue's run id is empty"
    );
    let gh = env(&[
        ("GITHUB_RUN_ID", "77"),
        ("GITHUB_RUN_ATTEMPT", "2"),
        ("CI_PIPELINE_ID", "9"),
    ]);
    assert_eq!(
        run_key(None, &gh).unwrap(),
        ("77-2".into(), "GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT".into())
    );
    assert_eq!(
        run_key(None, &env(&[("GITHUB_RUN_ID", "77")])).unwrap().0,
        "77-1"
    );
    assert_eq!(
        run_key(None, &env(&[("CI_PIPELINE_ID", "9")])).unwrap(),
        ("9".into(), "CI_PIPELINE_ID".into())
    );
    assert_eq!(
        run_key(None, &env(&[("CIRCLE_WORKFLOW_ID", "w")]))
            .unwrap()
            .1,
        "CIRCLE_WORKFLOW_ID"
    );
    assert_eq!(
        run_key(None, &env(&[("BUILDKITE_BUILD_ID", "b")]))
            .unwrap()
            .1,
        "BUILDKITE_BUILD_ID"
    );
    let e = run_key(None, &none).unwrap_err();
    assert!(e.contains("give --queue-run ID or PTEST_QUEUE_RUN"), "{e}");
    assert!(e.contains("GITHUB_RUN_ID, CI_PIPELINE_ID"), "{e}");
}

#[test]
fn a_machine_is_named_by_its_job_else_its_host() {
    assert_eq!(node_name(&env(&[]), Some("box".into())), "box");
    assert_eq!(node_name(&env(&[]), None), "localhost");
    assert_eq!(
        node_name(&env(&[("GITHUB_JOB", "test")]), Some("box".into())),
        "test"
    );
    assert_eq!(
        node_name(
            &env(&[("CI_JOB_NAME", "rspec"), ("CI_NODE_INDEX", "3")]),
            None
        ),
        "rspec#3"
    );
    assert_eq!(
        node_name(
            &env(&[("GITHUB_JOB", "test"), ("RUNNER_NAME", "GitHub Actions 7")]),
            None
        ),
        "test@GitHub Actions 7"
    );
}

#[test]
fn leases_and_lifetimes_have_bounds() {
    assert!(check_lease(Duration::from_secs(30)).is_ok());
    assert!(
        check_lease(Duration::from_millis(100))
            .unwrap_err()
            .contains("too short")
    );
    assert!(
        check_ttl(Duration::from_secs(5))
            .unwrap_err()
            .contains("too short")
    );
    assert!(check_ttl(Duration::from_secs(3600)).is_ok());
}

fn desc(name: &str, cmd: &str) -> (String, Option<String>) {
    (
        serde_json::json!({ "name": name, "cmd": { "sh": cmd }, "phase": "default" }).to_string(),
        None,
    )
}

#[test]
fn the_first_difference_between_plans_is_named() {
    let theirs: Vec<String> = [desc("a", "true"), desc("b", "true")]
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(
        digest::difference(
            &theirs,
            &[desc("a", "true"), desc("b", "true"), desc("c", "x")]
        ),
        "suite \"c\" is in this machine's plan but not in the queue's"
    );
    assert_eq!(
        digest::difference(&theirs, &[desc("a", "true")]),
        "suite \"b\" is in the queue's plan but not in this machine's"
    );
    assert_eq!(
        digest::difference(&theirs, &[desc("a", "true"), desc("b", "false")]),
        "suite \"b\": cmd differs (the queue's: {\"sh\":\"true\"}; this machine's: {\"sh\":\"false\"})"
    );
    assert!(
        digest::difference(&theirs, &[desc("b", "true"), desc("a", "true")])
            .starts_with("the suites come in another order")
    );
}

#[test]
fn the_event_stream_reads_as_ends_and_requeues() {
    let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    let entry = |id: &str, fields: &[&str]| {
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    };
    let reply = Value::Array(vec![Value::Array(vec![
        bulk("ptest:{r}:events"),
        Value::Array(vec![
            entry("1-0", &["k", "end", "u", "3", "s", "passed", "n", "m1"]),
            entry("2-0", &["k", "requeue", "u", "4", "n", "m2/1/x"]),
        ]),
    ])]);
    let (last, happened) = parse_xread(reply).unwrap();
    assert_eq!(last.as_deref(), Some("2-0"));
    assert_eq!(
        happened,
        vec![
            Happened::Ended {
                unit: 3,
                status: "passed".into(),
                node: "m1".into(),
                exports: String::new(),
            },
            Happened::Requeued {
                unit: 4,
                holder: "m2/1/x".into()
            }
        ]
    );
    assert_eq!(parse_xread(Value::Nil).unwrap(), (None, Vec::new()));
    let odd = parse_xread(Value::Int(3)).unwrap_err();
    assert!(matches!(odd, StoreError::Garbage(_)), "{odd:?}");
    let no_unit = Value::Array(vec![Value::Array(vec![
        bulk("k"),
        Value::Array(vec![entry("1-0", &["k", "end"])]),
    ])]);
    assert!(parse_xread(no_unit).is_err());
}

#[path = "../../tests/cli/redis_server.rs"]
mod redis_server;
use redis_server::Redis;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn store(url: &str, run: &str, lease: Duration) -> Store {
    Store::connect(
        &Target::parse(url).unwrap(),
        run,
        lease,
        Duration::from_secs(3600),
    )
    .await
    .unwrap()
}

#[test]
fn units_are_taken_once_groups_hold_across_machines_and_only_the_holder_counts() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    rt().block_on(async {
        let lease = Duration::from_secs(60);
        let mut a = store(&redis.url(), "r1", lease).await;
        let mut b = store(&redis.url(), "r1", lease).await;
        let units = vec![
            desc("u0", "x"),
            ("{}".to_owned(), Some("g".to_owned())),
            ("{}".to_owned(), Some("g".to_owned())),
        ];
        assert_eq!(a.publish("d1", &units).await.unwrap(), Published::Created);
        assert_eq!(
            b.publish("d2", &units).await.unwrap(),
            Published::Exists("d1".into())
        );
        assert_eq!(b.descriptors().await.unwrap().len(), 3);
        // One machine gets a unit; the other is told it is elsewhere.
        assert_eq!(a.claim(0, "A", None).await.unwrap(), Claim::Mine);
        assert_eq!(b.claim(0, "B", None).await.unwrap(), Claim::Elsewhere);
        // A group of max 1 across machines.
        assert_eq!(a.claim(1, "A", Some(("g", 1))).await.unwrap(), Claim::Mine);
        assert_eq!(b.claim(2, "B", Some(("g", 1))).await.unwrap(), Claim::Busy);
        // Only the holder's result counts; another's is a duplicate.
        assert!(
            !b.finish(1, "B", "passed", "{\"by\":\"B\"}", "mB")
                .await
                .unwrap()
        );
        assert!(
            a.finish(1, "A", "passed", "{\"by\":\"A\"}", "mA")
                .await
                .unwrap()
        );
        assert_eq!(b.claim(2, "B", Some(("g", 1))).await.unwrap(), Claim::Mine);
        assert_eq!(b.claim(1, "B", Some(("g", 1))).await.unwrap(), Claim::Done);
        // A skip is written once, and never over a taken unit.
        assert!(!a.skip(2, "{}", "mA").await.unwrap());
        assert!(
            b.finish(2, "B", "failed", "{\"by\":\"B\"}", "mB")
                .await
                .unwrap()
        );
        assert!(
            a.finish(0, "A", "passed", "{\"by\":\"A\"}", "mA")
                .await
                .unwrap()
        );
        let results = a.results().await.unwrap();
        assert_eq!(
            results
                .iter()
                .map(|(u, j)| (*u, j.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (0, "{\"by\":\"A\"}"),
                (1, "{\"by\":\"A\"}"),
                (2, "{\"by\":\"B\"}")
            ]
        );
        assert_eq!(a.duplicates().await.unwrap(), vec!["{\"by\":\"B\"}"]);
        let p = a.progress().await.unwrap();
        assert_eq!((p.units, p.done, p.leased), (3, 3, 0));
        // Every event, in order, for a reader that starts at the beginning.
        let mut r = a.reader().await.unwrap();
        let seen = r.next(Duration::from_millis(100)).await.unwrap();
        assert_eq!(
            seen.iter()
                .map(|h| match h {
                    Happened::Ended { unit, status, .. } => format!("{unit}:{status}"),
                    Happened::Requeued { unit, .. } => format!("{unit}:requeue"),
                })
                .collect::<Vec<_>>(),
            ["1:passed", "2:failed", "0:passed"]
        );
        assert!(r.next(Duration::from_millis(50)).await.unwrap().is_empty());
    });
}

#[test]
fn a_claim_of_a_taken_unit_gets_the_first_of_the_others_no_machine_has() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    rt().block_on(async {
        let lease = Duration::from_secs(60);
        let mut a = store(&redis.url(), "r4", lease).await;
        let mut b = store(&redis.url(), "r4", lease).await;
        let units: Vec<_> = (0..5).map(|i| desc(&format!("u{i}"), "x")).collect();
        assert_eq!(a.publish("d", &units).await.unwrap(), Published::Created);
        // A has u0 and u1; u3 failed on A and waits for another attempt; u2's group is full.
        assert_eq!(a.claim(0, "A", None).await.unwrap(), Claim::Mine);
        assert_eq!(a.claim(1, "A", None).await.unwrap(), Claim::Mine);
        assert_eq!(a.claim(3, "A", None).await.unwrap(), Claim::Mine);
        assert!(a.hand_back(3, "A", "{}").await.unwrap());
        assert_eq!(a.claim(2, "A", Some(("g", 1))).await.unwrap(), Claim::Mine);
        // B asks for u0, naming u1 (taken), u2 (in the full group), u3 (failed: its next
        // attempt is not given unasked) and u4: it gets u4.
        let others = [(1, None), (2, Some(("g", 1))), (3, None), (4, None)];
        assert_eq!(
            b.claim_or_other(0, "B", None, &others).await.unwrap(),
            (Claim::Elsewhere, None, Some(4))
        );
        // u4 is B's: asked for by B it is B's, by A elsewhere; nothing is left for A.
        assert_eq!(b.claim(4, "B", None).await.unwrap(), Claim::Mine);
        assert_eq!(
            a.claim_or_other(4, "A", None, &[(1, None), (4, None)])
                .await
                .unwrap(),
            (Claim::Elsewhere, None, None)
        );
        // A unit with a result is done; a unit the caller gets is never also given instead.
        assert!(a.finish(0, "A", "passed", "{}", "mA").await.unwrap());
        assert_eq!(
            b.claim_or_other(0, "B", None, &[(3, None)]).await.unwrap(),
            (Claim::Done, None, None)
        );
        assert_eq!(
            b.claim_or_other(3, "B", None, &[(4, None)]).await.unwrap(),
            (Claim::Mine, Some("{}".to_owned()), None)
        );
        assert_eq!(a.progress().await.unwrap().leased, 4);
    });
}

#[test]
fn a_lease_not_renewed_goes_back_to_the_queue_and_a_late_result_is_a_duplicate() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    rt().block_on(async {
        let lease = Duration::from_millis(300);
        let mut a = store(&redis.url(), "r2", lease).await;
        let mut b = store(&redis.url(), "r2", lease).await;
        let units = vec![("{}".to_owned(), Some("g".to_owned())), desc("u1", "x")];
        a.publish("d", &units).await.unwrap();
        assert_eq!(a.claim(0, "A", Some(("g", 1))).await.unwrap(), Claim::Mine);
        assert_eq!(a.claim(1, "A", None).await.unwrap(), Claim::Mine);
        // A renews unit 1 only; unit 0's lease runs out.
        let mut r = b.reader().await.unwrap();
        let until = Instant::now() + Duration::from_millis(600);
        while Instant::now() < until {
            assert_eq!(a.renew("A", &[1]).await.unwrap(), 0);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(b.reap().await.unwrap(), 1);
        let seen = r.next(Duration::from_millis(100)).await.unwrap();
        assert_eq!(
            seen,
            vec![Happened::Requeued {
                unit: 0,
                holder: "A".into()
            }]
        );
        // The group's place came back with it.
        assert_eq!(b.claim(0, "B", Some(("g", 1))).await.unwrap(), Claim::Mine);
        assert_eq!(a.renew("A", &[0, 1]).await.unwrap(), 1);
        assert!(!a.finish(0, "A", "passed", "late", "mA").await.unwrap());
        assert!(b.finish(0, "B", "passed", "holder", "mB").await.unwrap());
        assert_eq!(b.results().await.unwrap(), vec![(0, "holder".to_owned())]);
        assert_eq!(b.duplicates().await.unwrap(), vec!["late"]);
        // Unit 1 was renewed all along: still A's.
        assert_eq!(b.claim(1, "B", None).await.unwrap(), Claim::Elsewhere);
    });
}

#[test]
fn a_wrong_password_an_unreachable_store_and_a_stranger_are_told_apart() {
    let Some(redis) = Redis::start(&["--requirepass", "s3cret"]) else {
        return;
    };
    rt().block_on(async {
        let lease = Duration::from_secs(30);
        let ttl = Duration::from_secs(3600);
        let wrong = Target::parse(&format!("redis://:nope@127.0.0.1:{}", redis.port)).unwrap();
        let e = Store::connect(&wrong, "r", lease, ttl).await.err().unwrap();
        assert!(matches!(e, StoreError::Auth(_)), "{e:?}");
        assert!(!e.to_string().contains("nope"), "{e}");
        let none = Target::parse(&redis.url()).unwrap();
        let e = Store::connect(&none, "r", lease, ttl).await.err().unwrap();
        assert!(matches!(e, StoreError::Auth(_)), "{e:?}");
        let right = Target::parse(&format!("redis://:s3cret@127.0.0.1:{}", redis.port)).unwrap();
        assert!(Store::connect(&right, "r", lease, ttl).await.is_ok());

        // Nothing listens: refused at once.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let gone = Target::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
        let e = Store::connect(&gone, "r", lease, ttl).await.err().unwrap();
        assert!(matches!(e, StoreError::Unreachable(_)), "{e:?}");

        // Something that is not Redis answers.
        let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = stranger.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for mut c in stranger.incoming().flatten().take(1) {
                let mut buf = [0u8; 256];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            }
        });
        let odd = Target::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
        let e = Store::connect(&odd, "r", lease, ttl).await.err().unwrap();
        assert!(
            matches!(e, StoreError::Garbage(_) | StoreError::Unreachable(_)),
            "{e:?}"
        );
    });
}

#[test]
fn a_machine_with_another_plan_is_refused_naming_the_difference() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let spec = Spec {
        target: Target::parse(&redis.url()).unwrap(),
        run: "r3".into(),
        run_source: "--queue-run".into(),
        lease: Duration::from_secs(30),
        ttl: Duration::from_secs(3600),
        node: "m".into(),
    };
    let one = crate::plan::tests::plan(
        "ptest.suite { name = 'a', cmd = 'true' }\nptest.suite { name = 'b', cmd = 'true', depends_on = { 'a' } }",
    );
    let other = crate::plan::tests::plan(
        "ptest.suite { name = 'a', cmd = 'true' }\nptest.suite { name = 'b', cmd = 'false', depends_on = { 'a' } }",
    );
    rt().block_on(async {
        assert!(join(&spec, &one).await.unwrap().created);
        assert!(!join(&spec, &one).await.unwrap().created);
        match join(&spec, &other).await.err().unwrap() {
            JoinError::Differs(d) => assert_eq!(
                d,
                "suite \"b\": cmd differs (the queue's: {\"sh\":\"true\"}; this machine's: {\"sh\":\"false\"})"
            ),
            e @ JoinError::Store(_) => panic!("{e:?}"),
        }
    });
}

#[test]
fn a_failed_unit_goes_to_a_machine_it_has_not_failed_on_while_one_takes_units() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    rt().block_on(async {
        let lease = Duration::from_secs(60);
        let mut a = store(&redis.url(), "r3", lease).await;
        let mut b = store(&redis.url(), "r3", lease).await;
        let units = vec![desc("u0", "x"), desc("u1", "y")];
        assert_eq!(a.publish("d", &units).await.unwrap(), Published::Created);
        // B is alive (seen by a renewal); A takes u0 and its attempt fails.
        b.renew("B", &[]).await.unwrap();
        assert_eq!(
            a.claim_or_other(0, "A", None, &[]).await.unwrap(),
            (Claim::Mine, None, None)
        );
        assert!(!b.hand_back(0, "B", "{\"attempts\":1}").await.unwrap());
        assert!(a.hand_back(0, "A", "{\"attempts\":1}").await.unwrap());
        // A may not take it again while B takes units; B gets it with what A carried.
        assert_eq!(a.claim(0, "A", None).await.unwrap(), Claim::Avoid);
        assert_eq!(
            b.claim_or_other(0, "B", None, &[]).await.unwrap(),
            (Claim::Mine, Some("{\"attempts\":1}".to_owned()), None)
        );
        // It fails on B too: failed everywhere, so either may take it.
        assert!(b.hand_back(0, "B", "{\"attempts\":2}").await.unwrap());
        assert_eq!(
            a.claim_or_other(0, "A", None, &[]).await.unwrap(),
            (Claim::Mine, Some("{\"attempts\":2}".to_owned()), None)
        );
        assert!(a.finish(0, "A", "flaky", "{}", "mA").await.unwrap());
        // A stops taking units while B takes them; B, then alone, may not stop.
        assert!(a.stop_taking("A", "stopped").await.unwrap());
        assert_eq!(b.takers("B").await.unwrap(), 0);
        assert_eq!(a.takers("A").await.unwrap(), 1);
        assert!(!b.stop_taking("B", "stopped").await.unwrap());
        // B fails u1: A does not take units, so B takes it again.
        assert_eq!(b.claim(1, "B", None).await.unwrap(), Claim::Mine);
        assert!(b.hand_back(1, "B", "{}").await.unwrap());
        assert_eq!(b.claim(1, "B", None).await.unwrap(), Claim::Mine);
        // A takes units again; a machine that left does not count.
        a.take_again("A").await.unwrap();
        assert_eq!(b.takers("B").await.unwrap(), 1);
        a.leave("A").await.unwrap();
        assert_eq!(b.takers("B").await.unwrap(), 0);
    });
}

#[test]
fn limiters_in_the_store_hold_a_rate_a_cap_and_a_pause_for_every_machine() {
    use super::limits::{Answer, Declared, SharedLimits};
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let target = Target::parse(&redis.url()).unwrap();
    let lease = Duration::from_secs(60);
    let ttl = Duration::from_secs(600);
    let mut a = SharedLimits::connect(&target, "r4", "A", lease, ttl).unwrap();
    let mut b = SharedLimits::connect(&target, "r4", "B", lease, ttl).unwrap();
    // One token a minute, burst 2: two grants between the machines, then a wait of about a
    // minute for either.
    let minute = Declared {
        per_token: Duration::from_secs(60),
        burst: 2,
        ..Declared::default()
    };
    assert_eq!(a.take("api", 1, minute).unwrap().0, Answer::Granted);
    assert_eq!(b.take("api", 1, minute).unwrap().0, Answer::Granted);
    for m in [&mut a, &mut b] {
        match m.take("api", 1, minute).unwrap().0 {
            Answer::Wait(d) => assert!(
                d > Duration::from_secs(55) && d <= Duration::from_secs(60),
                "{d:?}"
            ),
            other => panic!("{other:?}"),
        }
    }
    // A Retry-After pauses the limiter for both; a plain limiter keeps its rate and counts
    // the 429.
    let fast = Declared {
        per_token: Duration::from_millis(1),
        burst: 5,
        ..Declared::default()
    };
    assert_eq!(a.take("web", 1, fast).unwrap().0, Answer::Granted);
    let across = b
        .throttled("web", fast, Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!((across.rate.round(), across.throttled), (1000.0, 1));
    match a.take("web", 1, fast).unwrap().0 {
        Answer::Wait(d) => assert!(d > Duration::from_secs(25), "{d:?}"),
        other => panic!("{other:?}"),
    }
    // A cap of 2 suites across machines; a release makes room. Only live machines' holds
    // count: A and B are seen (a renewal writes `nodes`), C never was, so its hold is a dead
    // machine's for the others.
    rt().block_on(async {
        let mut s = store(&redis.url(), "r4", lease).await;
        s.renew("A", &[]).await.unwrap();
        s.renew("B", &[]).await.unwrap();
    });
    let mut c = SharedLimits::connect(&target, "r4", "C", lease, ttl).unwrap();
    let db = Declared {
        per_token: Duration::from_millis(1),
        burst: 10,
        cap: 2,
        ..Declared::default()
    };
    let admit = |m: &mut SharedLimits| m.admit("db", db).unwrap().0;
    assert_eq!(admit(&mut a), Answer::Granted);
    assert_eq!(admit(&mut b), Answer::Granted);
    assert_eq!(admit(&mut a), Answer::Full);
    b.release("db", db).unwrap();
    assert_eq!(admit(&mut c), Answer::Granted);
    assert_eq!(admit(&mut b), Answer::Granted);
    assert_eq!(admit(&mut a), Answer::Full);
    a.release("db", db).unwrap();
    assert_eq!(admit(&mut a), Answer::Granted);
}

/// DESIGN §10: the 429s of every machine lower an adaptive limiter's rate for all of them, and
/// count together against `max_throttled`.
#[test]
fn an_adaptive_limiters_429s_lower_the_rate_and_serialize_for_every_machine() {
    use super::limits::{Answer, Declared, SharedLimits};
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let target = Target::parse(&redis.url()).unwrap();
    let lease = Duration::from_secs(60);
    let ttl = Duration::from_secs(600);
    rt().block_on(async {
        let mut s = store(&redis.url(), "r5", lease).await;
        s.renew("A", &[]).await.unwrap();
        s.renew("B", &[]).await.unwrap();
    });
    let mut a = SharedLimits::connect(&target, "r5", "A", lease, ttl).unwrap();
    let mut b = SharedLimits::connect(&target, "r5", "B", lease, ttl).unwrap();
    // 16 a second, burst 1; more than 2 429s serialize its suites.
    let api = Declared {
        per_token: Duration::from_micros(62_500),
        burst: 1,
        cap: 0,
        adaptive: true,
        max_throttled: Some(2),
    };
    let (answer, across) = b.take("api", 1, api).unwrap();
    assert_eq!(answer, Answer::Granted);
    assert_eq!((across.rate, across.throttled), (16.0, 0));
    // A's tests see 429s: halved each time, down to 1/16 of the rate and no lower.
    let mut rates = Vec::new();
    for _ in 0..5 {
        rates.push(a.throttled("api", api, None).unwrap().rate);
    }
    assert_eq!(rates, [8.0, 4.0, 2.0, 1.0, 1.0]);
    // B, which saw none, takes tokens at A's lowered rate, and from the bucket A's last 429
    // emptied: its next token a whole lowered period (1 s) after that 429, no burst.
    let (first, _) = b.take("api", 1, api).unwrap();
    let Answer::Wait(d) = first else {
        panic!("a token right after a 429: {first:?}");
    };
    assert!(
        d > Duration::from_millis(900) && d <= Duration::from_secs(1),
        "{d:?}"
    );
    std::thread::sleep(d);
    let next = b.take("api", 1, api).unwrap();
    assert_eq!(next.0, Answer::Granted);
    assert_eq!((next.1.rate, next.1.throttled), (1.0, 5));
    match b.take("api", 1, api).unwrap().0 {
        Answer::Wait(d) => {
            assert!(
                d > Duration::from_millis(900) && d <= Duration::from_secs(1),
                "{d:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Five 429s in the run, more than 2: one suite at a time across the machines, though the
    // limiter declares no cap.
    let fast = Declared {
        per_token: Duration::from_micros(10),
        burst: 10,
        ..api
    };
    assert_eq!(b.admit("db", fast).unwrap().0, Answer::Granted);
    assert_eq!(
        a.admit("db", fast).unwrap().0,
        Answer::Granted,
        "no 429 yet: no cap"
    );
    a.release("db", fast).unwrap();
    for _ in 0..3 {
        a.throttled("db", fast, None).unwrap();
    }
    assert_eq!(a.admit("db", fast).unwrap().0, Answer::Full);
    b.release("db", fast).unwrap();
    assert_eq!(a.admit("db", fast).unwrap().0, Answer::Granted);
    assert_eq!(b.admit("db", fast).unwrap().0, Answer::Full);
}

/// What two clones of a store send at once reaches the server in that order: an end and the
/// claim behind it (the link sends them so, in one round trip) find the ended unit's group
/// place free.
#[test]
fn an_end_and_a_claim_sent_at_once_run_in_that_order() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    rt().block_on(async {
        let lease = Duration::from_secs(60);
        let mut a = store(&redis.url(), "r6", lease).await;
        let g = Some("g".to_owned());
        let units: Vec<_> = (0..6).map(|_| ("{}".to_owned(), g.clone())).collect();
        assert_eq!(a.publish("d", &units).await.unwrap(), Published::Created);
        // The scripts' first use, one at a time (the server learns them; the link does the
        // same), then in pairs: each unit of the max = 1 group ends as the next is claimed.
        assert_eq!(a.claim(0, "A", Some(("g", 1))).await.unwrap(), Claim::Mine);
        assert!(a.finish(0, "A", "passed", "{}", "mA").await.unwrap());
        assert_eq!(a.claim(1, "A", Some(("g", 1))).await.unwrap(), Claim::Mine);
        for u in 1..5 {
            let mut second = a.clone();
            let (counted, claimed) = tokio::join!(
                a.finish(u, "A", "passed", "{}", "mA"),
                second.claim(u + 1, "A", Some(("g", 1))),
            );
            assert!(counted.unwrap(), "unit {u}");
            assert_eq!(claimed.unwrap(), Claim::Mine, "unit {}", u + 1);
        }
    });
}
