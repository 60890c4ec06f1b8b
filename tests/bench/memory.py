#!/usr/bin/env python3
"""Memory admission (issue 14, DESIGN §12): 8 suites that each allocate 1.5 GB and hold it
for 2 s, at -j 8, with memory = "auto" and a 6 GB budget.

    python3 tests/bench/memory.py

The first run (at -j 2, so that learning does not itself take 12 GB) records each suite's
peak RSS in history; the second, at -j 8, admits by it: 1.5 GB plus a fifth is 1.8 GB, so at
most 3 fit in 6 GB at once (4 would need 7.2 GB). Probes record each suite's start and end;
the script prints the most that ran at once, the run's wall time, and whether the kernel
killed anything (exit status, dmesg is not needed: an OOM kill ends the suite by SIGKILL).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PTEST = os.path.join(ROOT, "target", "release", "ptest")

CONFIG = r'''
ptest.config { memory = "6GB" }
for i = 1, 8 do
  ptest.suite {
    name = "alloc" .. i,
    cmd = { "python3", "-c", [[
import os, sys, time
name, probe = sys.argv[1], sys.argv[2]
with open(probe, "a") as f: f.write(f"start {name} {time.time()}\n")
block = b"\x01" * (1536 * 1024 * 1024)   # 1.5 GB, every page touched
time.sleep(2)
with open(probe, "a") as f: f.write(f"end {name} {time.time()}\n")
]], "alloc" .. i, "PROBE" },
    memory = "auto",
  }
end
'''


def overlap(path):
    spans = {}
    for line in open(path):
        kind, name, t = line.split()
        spans.setdefault(name, [None, None])[0 if kind == "start" else 1] = float(t)
    most = 0
    for s, _ in spans.values():
        most = max(most, sum(1 for a, b in spans.values() if a <= s < (b or 1e18)))
    return most, len(spans)


def main():
    if not os.path.exists(PTEST):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    d = tempfile.mkdtemp(prefix="ptest-memory-bench-")
    probe = os.path.join(d, "probe.log")
    open(os.path.join(d, "ptest.lua"), "w").write(CONFIG.replace("PROBE", probe))
    for label, jobs in [("first run (learns), -j 2", "2"), ("second run, -j 8", "8")]:
        if os.path.exists(probe):
            os.remove(probe)
        t = time.monotonic()
        r = subprocess.run([PTEST, "-q", "-j", jobs, "ptest.lua"], cwd=d, capture_output=True, text=True)
        wall = time.monotonic() - t
        report = json.load(open(os.path.join(d, "test-logs", "test-report.json")))
        statuses = sorted({s["status"] for s in report["suites"]})
        killed = [s["name"] for s in report["suites"] if s["signal"] == 9]
        peak = max(s["peak_rss_kb"] or 0 for s in report["suites"]) / 1024 / 1024
        most, n = overlap(probe)
        print(f"{label}: exit {r.returncode}, {n} suites {statuses}, at most {most} at once, "
              f"wall {wall:.1f} s, largest peak RSS {peak:.2f} GB, killed: {killed or 'none'}")
        plan = subprocess.run([PTEST, "plan", "-j", "8", "ptest.lua"], cwd=d, capture_output=True, text=True).stdout
        if jobs == "2":
            print("  plan after it: " + next(l for l in plan.splitlines() if l.startswith("memory:")))
            print("  " + next(l.strip() for l in plan.splitlines() if "alloc1 " in l))
        if r.returncode != 0:
            print(r.stdout, r.stderr, file=sys.stderr)
    subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
