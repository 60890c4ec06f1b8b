#!/usr/bin/env python3
"""Benchmarks of the coordinator socket (issue 5): grants per second from 8 client processes on
an effectively unlimited limiter, the `ptest acquire` round trip, and pacing accuracy.

    python3 tests/bench/socket.py            # all three, release build
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PTEST = os.path.join(ROOT, "target", "release", "ptest")

CLIENT = r'''
import os, socket, sys, time
n = int(sys.argv[1]); limiter = sys.argv[2]
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["PTEST_SOCKET"])
f = s.makefile("rwb", buffering=0)
r = s.makefile("rb")
stamps = []
t0 = time.time()
for _ in range(n):
    s.sendall(b"acquire " + limiter.encode() + b"\n")
    line = r.readline()
    assert line == b"ok\n", line
    stamps.append(time.time())
with open(sys.argv[3], "a") as out:
    out.write(json.dumps({"start": t0, "end": stamps[-1], "stamps": stamps if len(stamps) <= 1000 else []}) + "\n")
'''.replace("import os,", "import json, os,")


def run(config, files=()):
    d = tempfile.mkdtemp(prefix="ptest-sockbench-")
    with open(os.path.join(d, "ptest.lua"), "w") as f:
        f.write(config)
    with open(os.path.join(d, "client.py"), "w") as f:
        f.write(CLIENT)
    r = subprocess.run([PTEST, "-q", "ptest.lua"], cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"ptest failed:\n{r.stdout}\n{r.stderr}")
    return d


def throughput(clients=8, per_client=20000):
    d = run(f'''
ptest.config {{ workers = {clients} }}
ptest.limiter {{ name = "free", rate = 1e9, per = "1s", burst = 1000000 }}
for i = 1, {clients} do
  ptest.suite {{ name = "c" .. i, cmd = {{ "python3", "client.py", "{per_client}", "free", "out.jsonl" }} }}
end
''')
    rows = [json.loads(l) for l in open(os.path.join(d, "out.jsonl"))]
    span = max(r["end"] for r in rows) - min(r["start"] for r in rows)
    return clients * per_client / span


def acquire_round_trip(n=300):
    d = run(f'''
ptest.limiter {{ name = "free", rate = 1e9, per = "1s", burst = 1000000 }}
ptest.suite {{ name = "rt", cmd = "for i in $(seq {n}); do a=$(date +%s%N); ptest acquire free; b=$(date +%s%N); echo $((b - a)) >> rt; done" }}
''')
    times = [int(x) / 1e6 for x in open(os.path.join(d, "rt"))]
    # The shell's own `date` forks are part of the loop, not of acquire: subtract an empty round.
    d2 = run(f'''
ptest.suite {{ name = "rt", cmd = "for i in $(seq {n}); do a=$(date +%s%N); true; b=$(date +%s%N); echo $((b - a)) >> rt; done" }}
''')
    base = [int(x) / 1e6 for x in open(os.path.join(d2, "rt"))]
    return statistics.median(times), statistics.median(base)


def pacing(total=300, rate=100, clients=4):
    each = total // clients
    d = run(f'''
ptest.config {{ workers = {clients} }}
ptest.limiter {{ name = "paced", rate = {rate}, per = "1s", burst = 1 }}
for i = 1, {clients} do
  ptest.suite {{ name = "c" .. i, cmd = {{ "python3", "client.py", "{each}", "paced", "out.jsonl" }} }}
end
''')
    rows = [json.loads(l) for l in open(os.path.join(d, "out.jsonl"))]
    stamps = sorted(t for r in rows for t in r["stamps"])
    span = stamps[-1] - stamps[0]
    busiest = max(sum(1 for u in stamps[i:] if u < t + 1.0) for i, t in enumerate(stamps))
    return span, busiest, len(stamps)


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    rates = [throughput() for _ in range(3)]
    print(f"grants/s, 8 clients, unlimited limiter: median {statistics.median(rates):,.0f} "
          f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}; target >= 20,000)")
    rt, base = acquire_round_trip()
    print(f"ptest acquire round trip: median {rt:.2f} ms measured, {rt - base:.2f} ms after subtracting "
          f"the loop's own {base:.2f} ms (target <= 3 ms)")
    for _ in range(3):
        span, busiest, n = pacing()
        expected = (n - 1) / 100
        print(f"pacing: {n} grants at 100/s, burst 1: first to last {span:.3f} s "
              f"({(span / expected - 1) * 100:+.1f} % of {expected:.2f} s; target within 3 %), "
              f"busiest 1 s window {busiest} (limit 101)")


if __name__ == "__main__":
    main()
