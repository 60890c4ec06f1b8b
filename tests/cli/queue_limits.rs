//! DESIGN §10: a queue run's limiters hold across the machines. Several `ptest --queue`
//! processes share a real `redis-server`; their suites take tokens with `ptest acquire` or
//! hold a limiter while they run, and probes record when, on which machine.

use std::collections::BTreeSet;

use crate::limits::SOCK_PY;
use crate::queue::{Fleet, Redis, show};

/// `sh takes.sh N`: N times `ptest acquire api`, each grant's time (ns) and machine on a line.
const TAKES: &str = r#"n=$1
i=0
while [ $i -lt "$n" ]; do
  ptest acquire api || exit 1
  echo "$(date +%s%N) $MACHINE" >> '@FILE@'
  i=$((i+1))
done
"#;

#[test]
fn a_rate_limit_holds_across_machines() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    // 20 tokens a second, burst 1, 30 tokens taken by six suites over three machines: at least
    // 1.45 s of grants together, where each machine alone would take its ten in 0.45 s.
    let f = Fleet::new(
        "ptest.limiter { name = 'api', rate = 20, per = '1s', burst = 1 }\n\
         for i = 1, 6 do ptest.suite { name = 't' .. i, cmd = 'sh takes.sh 5' } end\n",
    );
    let file = f.p.join("grants.log");
    f.p.file("takes.sh", &TAKES.replace("@FILE@", file.to_str().unwrap()));
    let outs = f.run_machines(&redis.url(), 3, &["-j", "2"]);
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut grants: Vec<(u128, &str)> = text
        .lines()
        .map(|l| {
            let (ns, m) = l.split_once(' ').unwrap();
            (ns.parse().unwrap(), m)
        })
        .collect();
    grants.sort_unstable();
    assert_eq!(grants.len(), 30, "{text}");
    let machines: BTreeSet<&str> = grants.iter().map(|g| g.1).collect();
    assert!(machines.len() >= 2, "one machine took every token: {text}");
    // Each grant is written a little after it was given (never before): a window of 1 s holds
    // the grants of 1 s and that delay, 21 at 20/s with its burst of one, plus slack for load.
    let span = grants[29].0 - grants[0].0;
    assert!(span >= 1_200_000_000, "30 grants in {span} ns: {text}");
    for (i, g) in grants.iter().enumerate() {
        let within = grants[i..]
            .iter()
            .take_while(|h| h.0 - g.0 < 1_000_000_000)
            .count();
        assert!(within <= 25, "{within} grants within 1 s: {text}");
    }
}

/// `sh paced.sh N`: once two machines have begun one (each writes `begin MACHINE`), N times
/// `ptest acquire api`, each grant's time (ns) and machine on a line.
const PACED: &str = r#"n=$1
out='@FILE@'
echo "begin 0 $MACHINE" >> "$out"
i=0
while [ "$(grep '^begin' "$out" | cut -d' ' -f3 | sort -u | wc -l)" -lt 2 ] && [ $i -lt 2000 ]; do
  sleep 0.01; i=$((i+1))
done
i=0
while [ $i -lt "$n" ]; do
  ptest acquire api || exit 1
  echo "grant $(date +%s%N) $MACHINE" >> "$out"
  i=$((i+1))
done
"#;

#[test]
fn an_adaptive_limiters_429s_lower_its_rate_and_count_on_every_machine() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    // 40 tokens a second, burst 1. The first suite reports four 429s on whichever machine runs
    // it: the rate halves four times, to its floor of 2.5 a second, and the count passes
    // max_throttled. Then a suite on each of two machines takes three tokens: 0.4 s apart
    // wherever they run (a machine keeping its own rate would take its three 25 ms apart).
    let f = Fleet::new(
        "ptest.limiter { name = 'api', rate = 40, per = '1s', burst = 1, adaptive = true, max_throttled = 3 }\n\
         ptest.suite { name = 'hit', cmd = { 'python3', 'sock.py', 'throttled api', 'throttled api', 'throttled api', 'throttled api' } }\n\
         for i = 1, 2 do ptest.suite { name = 'paced' .. i, cmd = 'sh paced.sh 3', depends_on = { 'hit' } } end\n",
    );
    let file = f.p.join("grants.log");
    f.p.file("sock.py", SOCK_PY);
    f.p.file("paced.sh", &PACED.replace("@FILE@", file.to_str().unwrap()));
    let outs = f.run_machines(&redis.url(), 2, &["-j", "1"]);
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut grants: Vec<(u128, &str)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("grant "))
        .map(|l| {
            let (ns, m) = l.split_once(' ').unwrap();
            (ns.parse().unwrap(), m)
        })
        .collect();
    grants.sort_unstable();
    assert_eq!(grants.len(), 6, "{text}");
    let machines: BTreeSet<&str> = grants.iter().map(|g| g.1).collect();
    assert_eq!(machines.len(), 2, "{text}");
    // Each grant is written a little after it was given: 0.4 s apart, less that delay's
    // jitter. Every machine's, and all of them together (one bucket).
    for m in &machines {
        let mine: Vec<u128> = grants.iter().filter(|g| g.1 == *m).map(|g| g.0).collect();
        for w in mine.windows(2) {
            assert!(
                w[1] - w[0] >= 250_000_000,
                "{m}: {} ns apart: {text}",
                w[1] - w[0]
            );
        }
    }
    for w in grants.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= 250_000_000,
            "{} ns apart: {text}",
            w[1].0 - w[0].0
        );
    }
    // Each machine's report: the run's rate and its serialization; its own 429s.
    let mut throttled = 0;
    for m in ["m1", "m2"] {
        let l = &f.report(m)["limiters"][0];
        assert_eq!(l["rate"].as_f64(), Some(2.5), "{m}: {l}");
        assert_eq!(l["serialized"], true, "{m}: {l}");
        throttled += l["throttled"].as_u64().unwrap();
    }
    assert_eq!(throttled, 4);
}

#[test]
fn a_concurrency_cap_holds_across_machines() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = Fleet::new(
        "ptest.limiter { name = 'db', rate = 1000, burst = 10, concurrency = 2 }\n\
         for i = 1, 8 do ptest.suite { name = 'd' .. i, cmd = probe('d' .. i, 0.3), limiter = 'db' } end\n",
    );
    let outs = f.run_machines(&redis.url(), 3, &["-j", "2"]);
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    let spans = f.spans();
    assert_eq!(spans.len(), 8, "{spans:?}");
    let all: Vec<(u128, u128, String)> = spans
        .values()
        .map(|s| {
            assert_eq!(s.len(), 1, "{spans:?}");
            (s[0].start, s[0].end.unwrap(), s[0].machine.clone())
        })
        .collect();
    let machines: BTreeSet<&String> = all.iter().map(|s| &s.2).collect();
    assert!(machines.len() >= 2, "{spans:?}");
    for (start, _, _) in &all {
        let at_once = all
            .iter()
            .filter(|(a, b, _)| a <= start && start < b)
            .count();
        assert!(
            at_once <= 2,
            "{at_once} holders at once across machines: {spans:?}"
        );
    }
}

/// `sh exp.sh NAME`: `NAME MACHINE TOKEN` on a line. `gate*` waits until two machines wrote
/// one; `make` exports `TOKEN=from-MACHINE`; the others sleep a little.
const EXP: &str = r#"name=$1
out='@FILE@'
echo "$name $MACHINE ${TOKEN:-none}" >> "$out"
case "$name" in
  gate*)
    i=0
    while [ "$(cut -d' ' -f2 "$out" | sort -u | wc -l)" -lt 2 ] && [ $i -lt 2000 ]; do
      sleep 0.01; i=$((i+1))
    done ;;
  make) echo "TOKEN=from-$MACHINE" >> "$PTEST_ENV" ;;
  *) sleep 0.3 ;;
esac
"#;

#[test]
fn exports_reach_dependents_on_other_machines() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = Fleet::new(
        "for i = 1, 2 do ptest.suite { name = 'gate' .. i, cmd = 'sh exp.sh gate' .. i } end\n\
         ptest.suite { name = 'make', cmd = 'sh exp.sh make', depends_on = { 'gate1', 'gate2' } }\n\
         for i = 1, 4 do ptest.suite { name = 'u' .. i, cmd = 'sh exp.sh u' .. i, depends_on = { 'make' } } end\n",
    );
    let file = f.p.join("env.log");
    f.p.file("exp.sh", &EXP.replace("@FILE@", file.to_str().unwrap()));
    let outs = f.run_machines(&redis.url(), 2, &["-j", "1"]);
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    let maker = lines.iter().find(|l| l[0] == "make").unwrap()[1];
    let users: Vec<&Vec<&str>> = lines.iter().filter(|l| l[0].starts_with('u')).collect();
    assert_eq!(users.len(), 4, "{text}");
    for u in &users {
        assert_eq!(u[2], format!("from-{maker}"), "{text}");
    }
    assert!(
        users.iter().any(|u| u[1] != maker),
        "no dependent ran elsewhere: {text}"
    );
}
