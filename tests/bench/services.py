#!/usr/bin/env python3
"""Services (issue 28): what starting a service costs ptest beyond the service's own start-up,
and how many instances a run makes.

  python3 tests/bench/services.py              # both, 15 rounds
  python3 tests/bench/services.py -r 25 --ptest target/release/ptest

1. Overhead. Three things, taken in turn each round (so a drifting machine hits all alike):
   A: ptest runs one suite that needs a redis-server of scope "worker" (ready = tcp); the time
      from launching ptest to the suite's start (the suite writes the clock first thing);
   B: the same with a suite that needs nothing;
   H: by hand: start the same redis-server and connect every millisecond until it accepts
      (its own start-up, checked as tightly as a program can).
   ptest's own time to start a service is A - B - H (medians). Target: <= 5 ms. The end of a
   run also waits for its services to stop (SIGTERM, and redis's own shutdown): reported as
   the wall time of A's whole run minus B's, for what it is.
2. Instances: 100 suites needing a per-worker redis-server at -j 4 make exactly 4 servers, each
   started once (counted from the servers' own logs and the run ids they report to the suites,
   and the instances test-report.json lists).

Reports the machine's load (uptime) before and after: the figures mean little on a busy one.
"""
import os
import sys

# tests/bench/socket.py would stand in for the standard library's socket module.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REDIS = os.environ.get("PTEST_TEST_REDIS") or shutil.which("redis-server") or "redis-server"
REDIS_ARGS = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0:3]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def by_hand():
    """Seconds from starting redis-server to its first accepted connection (then it stops)."""
    port = free_port()
    t0 = time.perf_counter()
    p = subprocess.Popen([REDIS, "--port", str(port)] + REDIS_ARGS,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.001)
    up = time.perf_counter() - t0
    p.terminate()
    p.wait()
    return up


def config(needs, n=1):
    return f"""
local redis = ptest.service {{
  name = "redis", scope = "worker",
  cmd = {{ "{REDIS}", "--port", "{{port}}", {", ".join(repr(a).replace("'", '"') for a in REDIS_ARGS)} }},
  ready = {{ tcp = "127.0.0.1:{{port}}" }},
  env = {{ REDIS_URL = "redis://127.0.0.1:{{port}}/0" }},
}}
for i = 1, {n} do
  ptest.suite {{ name = "t" .. i, cmd = {{ "sh", "-c", "date +%s%N > started" }}{", needs = { redis }" if needs else ""} }}
end
"""


def timed_run(ptest, folder, args):
    """(seconds to the suite's start, seconds to ptest's end)."""
    start = time.time_ns()
    t0 = time.perf_counter()
    out = subprocess.run([ptest, "-q", "--no-history"] + args, cwd=folder,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    took = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"ptest failed in {folder}:\n{out.stdout.decode()}")
    try:
        started = (int(open(os.path.join(folder, "started")).read()) - start) / 1e9
    except (OSError, ValueError):
        started = float("nan")
    return started, took


def overhead(ptest, rounds):
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        open(os.path.join(a, "ptest.lua"), "w").write(config(True))
        open(os.path.join(b, "ptest.lua"), "w").write(config(False))
        for _ in range(2):  # untimed: first runs make their files
            timed_run(ptest, a, ["-j", "1"])
            timed_run(ptest, b, ["-j", "1"])
            by_hand()
        runs = {"A": [], "B": [], "H": []}
        walls = {"A": [], "B": []}
        order = ["A", "B", "H"]
        for r in range(rounds):
            for k in order[r % 3:] + order[:r % 3]:
                if k == "H":
                    runs[k].append(by_hand())
                    continue
                started, took = timed_run(ptest, a if k == "A" else b, ["-j", "1"])
                runs[k].append(started)
                walls[k].append(took)
        med = {k: statistics.median(v) * 1000 for k, v in runs.items()}
        print(f"  A the suite needing redis starts after   median {med['A']:7.2f} ms  "
              f"(min {min(runs['A']) * 1000:.2f})")
        print(f"  B the suite needing nothing starts after median {med['B']:7.2f} ms  "
              f"(min {min(runs['B']) * 1000:.2f})")
        print(f"  H redis by hand, up and answering        median {med['H']:7.2f} ms  "
              f"(min {min(runs['H']) * 1000:.2f})")
        own = med["A"] - med["B"] - med["H"]
        print(f"  ptest's own time to start the service: A - B - H = {own:.2f} ms  (target <= 5 ms)")
        stop = (statistics.median(walls["A"]) - statistics.median(walls["B"])) * 1000 - med["A"] + med["B"]
        print(f"  (the run's end waiting for the service to stop: {stop:.1f} ms more)")
        return own


def instances(ptest):
    with tempfile.TemporaryDirectory() as d:
        probe = os.path.join(d, "probe.sh")
        open(probe, "w").write(
            'port=${REDIS_URL##*:}; port=${port%%/*}\n'
            'redis-cli -p "$port" info server | grep "^run_id:" | tr -d "\\r" >> ids.txt\n')
        cfg = config(True, 100).replace('cmd = { "sh", "-c", "date +%s%N > started" }',
                                        'cmd = { "sh", "probe.sh" }')
        open(os.path.join(d, "ptest.lua"), "w").write(cfg)
        _, took = timed_run(ptest, d, ["-j", "4"])
        ids = open(os.path.join(d, "ids.txt")).read().split()
        logs = sorted(f for f in os.listdir(os.path.join(d, "test-logs")) if f.startswith("redis"))
        ready = [open(os.path.join(d, "test-logs", f)).read().count("Ready to accept connections")
                 for f in logs]
        report = json.load(open(os.path.join(d, "test-logs", "test-report.json")))
        listed = sorted(v["instance"] for v in report.get("services", []))
        waits = [(v["ready_time"] - v["start_time"]) * 1000 for v in report.get("services", [])
                 if v.get("ready_time")]
        print(f"  100 suites at -j 4 in {took * 1000:.0f} ms: {len(set(ids))} servers by their run "
              f"ids, logs {logs}, each ready {ready} time(s); the report lists {listed}, "
              f"ready {min(waits, default=0):.1f}-{max(waits, default=0):.1f} ms after their start")
        return len(set(ids)) == 4 and ready == [1, 1, 1, 1] and len(listed) == 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", "--rounds", type=int, default=15)
    ap.add_argument("--ptest", default=None)
    args = ap.parse_args()
    ptest = args.ptest
    if not ptest:
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
        ptest = os.path.join(ROOT, "target/release/ptest")
    print(f"load before: {' '.join(load())}  ({os.cpu_count()} CPUs)")
    print("1. ptest's own time to start, check and stop a service of scope \"worker\"")
    own = overhead(ptest, args.rounds)
    print("2. instances")
    ok = instances(ptest)
    print(f"load after: {' '.join(load())}")
    sys.exit(0 if own <= 5 and ok else 1)


if __name__ == "__main__":
    main()
