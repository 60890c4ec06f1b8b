//! DESIGN §10, failures in a queue run: a failed unit's next attempt goes to another machine
//! first, and a machine whose first 3 units fail stops taking units. Several `ptest --queue`
//! processes share a real `redis-server`; a probe records which machine ran which attempt.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::queue::{Fleet, show, wait};
use crate::redis_server::Redis;

/// `sh aprobe.sh NAME SECONDS FAIL_ATTEMPTS`: `NAME MACHINE ATTEMPT` in `attempts.log`, then a
/// sleep; it fails while its attempt is at most FAIL_ATTEMPTS, and always on a machine whose
/// `BROKEN` is set. With `GATE=N` it first waits until N machines have written a line (so every
/// machine is alive and taking units before anything fails).
const PROBE: &str = r#"name=$1; secs=${2:-0}; fails=${3:-0}
out='@FILE@'
echo "$name $MACHINE $PTEST_ATTEMPT" >> "$out"
if [ -n "$GATE" ]; then
  i=0
  while [ "$(cut -d' ' -f2 "$out" | sort -u | wc -l)" -lt "$GATE" ] && [ $i -lt 2000 ]; do
    sleep 0.01; i=$((i+1))
  done
fi
sleep "$secs"
[ -n "$BROKEN" ] && exit 1
[ "$PTEST_ATTEMPT" -le "$fails" ] && exit 1
exit 0
"#;

fn fleet(body: &str) -> Fleet {
    let f = Fleet::new("");
    let file = f.p.join("attempts.log");
    f.p.file(
        "aprobe.sh",
        &PROBE.replace("@FILE@", file.to_str().unwrap()),
    );
    let prelude = format!(
        "local function aprobe(name, secs, fails)\n  return string.format(\"sh '{}' %s %s %d\", name, tostring(secs or 0), fails or 0)\nend\n",
        f.p.join("aprobe.sh").display()
    );
    f.p.file("ptest.lua", &(prelude + body));
    f
}

/// Per suite, the machine of each attempt, in attempt order.
fn attempts(f: &Fleet) -> BTreeMap<String, Vec<(u32, String)>> {
    let text = std::fs::read_to_string(f.p.join("attempts.log")).unwrap_or_default();
    let mut out: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for line in text.lines() {
        let [name, machine, attempt] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            continue;
        };
        out.entry(name.to_owned())
            .or_default()
            .push((attempt.parse().unwrap(), machine.to_owned()));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Each suite's status in a machine's report.
fn statuses(f: &Fleet, m: &str) -> BTreeMap<String, (String, u64)> {
    f.report(m)["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                (
                    s["status"].as_str().unwrap().to_owned(),
                    s["attempts"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_failed_unit_is_retried_on_another_machine_first() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    // Three gates hold the machines until each has started one; then each of the four flaky
    // units fails its first attempt (two of them their second too) wherever it runs.
    let f = fleet(
        "for i = 1, 3 do ptest.suite { name = 'gate' .. i, cmd = aprobe('gate' .. i, 0), env = { GATE = '3' } } end\n\
         for i = 1, 4 do\n\
           ptest.suite { name = 'f' .. i, cmd = aprobe('f' .. i, 0.1, i <= 2 and 2 or 1),\n\
             retry = 3, depends_on = { 'gate1', 'gate2', 'gate3' } }\n\
         end\n",
    );
    let outs = f.run_machines(&redis.url(), 3, &["-j", "1"]);
    assert!(outs.iter().all(|o| o.code == 0), "{}", show(&outs));
    let seen = attempts(&f);
    let gates: std::collections::BTreeSet<&String> =
        (1..=3).map(|i| &seen[&format!("gate{i}")][0].1).collect();
    assert_eq!(gates.len(), 3, "{seen:?}");
    for i in 1..=4 {
        let name = format!("f{i}");
        let a = &seen[&name];
        let fails = if i <= 2 { 2 } else { 1 };
        let numbers: Vec<u32> = a.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            numbers,
            (1..=fails + 1).collect::<Vec<_>>(),
            "{name}: {seen:?}"
        );
        // Each failed attempt's next one ran on a machine it had not failed on.
        for (k, (_, m)) in a.iter().enumerate() {
            assert!(
                a[..k].iter().all(|(_, before)| before != m),
                "{name} retried where it failed: {seen:?}"
            );
        }
        // The machine that ran the last attempt reports it: flaky, every attempt counted.
        let last = &a.last().unwrap().1;
        assert_eq!(
            statuses(&f, last)[&name],
            ("flaky".to_owned(), u64::from(fails + 1)),
            "{}",
            show(&outs)
        );
        for other in ["m1", "m2", "m3"].into_iter().filter(|m| m != last) {
            assert!(!statuses(&f, other).contains_key(&name), "{}", show(&outs));
        }
    }
}

#[test]
fn a_failed_unit_is_retried_where_it_failed_when_no_other_machine_takes_units() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let f = fleet("ptest.suite { name = 'f', cmd = aprobe('f', 0, 1), retry = 1 }\n");
    let out = wait(f.machine(&redis.url(), "m1", &[]).spawn().unwrap());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        attempts(&f)["f"],
        [(1, "m1".to_owned()), (2, "m1".to_owned())]
    );
    assert_eq!(statuses(&f, "m1")["f"], ("flaky".to_owned(), 2));
}

#[test]
fn a_machine_whose_first_three_units_fail_stops_taking_units() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    let mut body = String::new();
    for i in 1..=8 {
        body += &format!("ptest.suite {{ name = 'u{i}', cmd = aprobe('u{i}', 0.3), retry = 1 }}\n");
    }
    let f = fleet(&body);
    // The healthy machine first; the broken one once the healthy one runs something.
    let good = f.machine(&redis.url(), "m1", &["-j", "2"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while attempts(&f).is_empty() {
        assert!(Instant::now() < deadline, "m1 never started a unit");
        std::thread::sleep(Duration::from_millis(5));
    }
    let broken = f
        .machine(&redis.url(), "m2", &["-j", "1"])
        .env("BROKEN", "1")
        .spawn()
        .unwrap();
    let outs = [wait(good), wait(broken)];
    let seen = attempts(&f);
    // m2 ran exactly three attempts (all failed), then took nothing more.
    let on_m2: Vec<(&String, u32)> = seen
        .iter()
        .flat_map(|(n, a)| {
            a.iter()
                .filter(|(_, m)| m == "m2")
                .map(move |(k, _)| (n, *k))
        })
        .collect();
    assert_eq!(on_m2.len(), 3, "{on_m2:?} {}", show(&outs));
    assert!(
        outs[1]
            .stderr
            .contains("this machine's first 3 units failed: it takes no more units")
            || outs[1]
                .stdout
                .contains("this machine's first 3 units failed: it takes no more units"),
        "{}",
        show(&outs)
    );
    // Every unit passed in the end, on m1: the three m2 failed are flaky there.
    let m1 = statuses(&f, "m1");
    assert_eq!(m1.len(), 8, "{m1:?} {}", show(&outs));
    for (name, (status, attempts)) in &m1 {
        let failed_on_m2 = on_m2.iter().any(|(n, _)| *n == name);
        let want = if failed_on_m2 {
            ("flaky", 2)
        } else {
            ("passed", 1)
        };
        assert_eq!((status.as_str(), *attempts), want, "{name}");
    }
    assert_eq!(outs[0].code, 0, "{}", show(&outs));
    assert_eq!(
        f.report("m2")["shard"]["stopped_taking"].as_str(),
        Some(
            "this machine's first 3 units failed: it takes no more units and leaves them to the other machines"
        ),
        "{}",
        show(&outs)
    );
}

/// A fake test runner for a batch: one testcase per item in `$PTEST_TMPDIR/junit.xml`;
/// `bad*` items fail their first attempt, `worse*` every one. Each attempt appends
/// `SUITE MACHINE ATTEMPT ITEMS...` to `ran.txt`.
const RUNNER: &str = r#"out="$PTEST_TMPDIR/junit.xml"; code=0
echo "$PTEST_SUITE $MACHINE $PTEST_ATTEMPT $*" >> "$(dirname "$0")/ran.txt"
printf '<?xml version="1.0"?><testsuites><testsuite name="pytest">' > "$out"
for item in "$@"; do
  case "$item" in
    bad*) if [ "$PTEST_ATTEMPT" = 1 ]; then fail=1; else fail=0; fi ;;
    worse*) fail=1 ;;
    *) fail=0 ;;
  esac
  if [ $fail = 1 ]; then
    code=1
    printf '<testcase classname="%s" name="test_it" file="%s" time="0.1"><failure message="no">trace</failure></testcase>' "${item%.py}" "$item" >> "$out"
  else
    printf '<testcase classname="%s" name="test_it" file="%s" time="0.1"/>' "${item%.py}" "$item" >> "$out"
  fi
done
printf '</testsuite></testsuites>' >> "$out"
exit $code
"#;

#[test]
fn a_part_retried_on_another_machine_runs_only_the_items_that_did_not_pass() {
    let Some(redis) = Redis::start(&[]) else {
        return;
    };
    // Two gates hold the machines until both have started one, so that the part's first
    // failure finds another machine alive and taking units.
    let f = fleet(
        "for i = 1, 2 do ptest.suite { name = 'gate' .. i, cmd = aprobe('gate' .. i, 0), env = { GATE = '2' } } end\n\
         ptest.batch { name = 'py', items = { 'a.py', 'bad.py', 'c.py', 'worse.py', 'e.py' }, batches = 1,\n\
           cmd = { 'sh', 'runner.sh', '{items}' }, results = '{tmpdir}/junit.xml', retry = 2,\n\
           depends_on = { 'gate1', 'gate2' } }\n",
    );
    f.p.file("runner.sh", RUNNER);
    let outs = f.run_machines(&redis.url(), 2, &["-j", "1"]);
    let mut ran: Vec<(u32, String, String)> = std::fs::read_to_string(f.p.join("ran.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.splitn(4, ' ').collect();
            assert_eq!(w[0], "py[1]", "{l}");
            (w[2].parse().unwrap(), w[1].to_owned(), w[3].to_owned())
        })
        .collect();
    ran.sort();
    let items: Vec<(u32, &str)> = ran.iter().map(|(a, _, i)| (*a, i.as_str())).collect();
    // Each attempt ran only what had not passed, wherever it ran.
    assert_eq!(
        items,
        [
            (1, "a.py bad.py c.py worse.py e.py"),
            (2, "bad.py worse.py"),
            (3, "worse.py")
        ],
        "{}",
        show(&outs)
    );
    assert_ne!(
        ran[0].1, ran[1].1,
        "the second attempt ran elsewhere: {ran:?}"
    );
    // The last attempt's machine has the part's result: failed.
    let last = &outs[usize::from(ran[2].1 != "m1")];
    assert_eq!(last.code, 1, "{}", show(&outs));
    // The last attempt's machine reports the part with every item's testcase: the ones that
    // passed on the first machine, bad.py flaky across machines, worse.py failed three times.
    let part = f.report(&ran[2].1)["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "py[1]")
        .cloned()
        .unwrap_or_else(|| panic!("{}", show(&outs)));
    assert_eq!(part["status"], "failed", "{part}");
    assert_eq!(part["attempts"], 3, "{part}");
    let mut cases: Vec<(String, String, u64, bool)> = part["testcases"]
        .as_array()
        .unwrap_or_else(|| panic!("{part}"))
        .iter()
        .map(|c| {
            (
                c["file"].as_str().unwrap_or("").to_owned(),
                c["status"].as_str().unwrap().to_owned(),
                c["attempts"].as_u64().unwrap_or(1),
                c["flaky"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    cases.sort();
    let want = [
        ("a.py", "passed", 1, false),
        ("bad.py", "passed", 2, true),
        ("c.py", "passed", 1, false),
        ("e.py", "passed", 1, false),
        ("worse.py", "failed", 3, false),
    ]
    .map(|(f, s, a, k)| (f.to_owned(), s.to_owned(), a, k));
    assert_eq!(cases, want, "{part}");
}
