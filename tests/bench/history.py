#!/usr/bin/env python3
"""What a big history costs a run (issue 14): a history of 10,000 suites × 30 runs each,
read at the start and merged and written at the end of a run.

    python3 tests/bench/history.py            # 30 rounds of the cases after 3 untimed

Cases, each on the same small config (20 suites of `true`, -j 2):
  --no-history       no history read or written: the baseline
  small history      the suites' own history only (20 names)
  10,000 × 30        the same run with a history that also holds 9,980 other suites × 30 runs
                     (the target: at most +20 ms and +10 MB against --no-history)
  ... format 1       the same history as an older ptest wrote it: the one run that migrates it

The histories are made as format 1 (one object per run, what ptest wrote before format 2), and
one untimed run of ptest turns each into the current format, as it does for a user. Each round
runs every case once, in an order that rotates; wall time and CPU time (user + sys of ptest and
its 20 children) are medians, "added" the median of the per-round differences to --no-history,
peak RSS /usr/bin/time's, the largest of all rounds. Before each run the history is put back
(each run adds one run to 20 of its names and rewrites it); each case has its own file.
"""

import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PTEST = os.path.join(ROOT, "target", "release", "ptest")
SUITES, RUNS, OWN = 10_000, 30, 20
ROUNDS, WARMUP = 30, 3


def big_history(path):
    rng = random.Random(14)
    suites = {}
    t0 = 1_764_000_000
    for i in range(SUITES):
        runs = []
        for k in range(RUNS):
            status = "passed" if rng.random() < 0.95 else "failed"
            d = round(rng.uniform(0.05, 30.0), 3)
            runs.append({"time": t0 + k * 3600, "status": status, "duration": d, "attempts": 1,
                         "peak_rss_kb": rng.randint(2000, 900_000), "cpu_time": round(d * 0.9, 3)})
        suites[f"s{i}" if i < OWN else f"tests/pkg{i // 100}/test_module_{i}.py"] = {"runs": runs}
    json.dump({"format_version": 1, "suites": suites, "items": {}}, open(path, "w"),
              separators=(",", ":"))


def main():
    if not os.path.exists(PTEST):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    d = tempfile.mkdtemp(prefix="ptest-history-bench-")
    with open(os.path.join(d, "ptest.lua"), "w") as f:
        f.write(f'for i = 0, {OWN - 1} do ptest.suite {{ name = "s" .. i, cmd = "true" }} end\n')
    big = os.path.join(d, "big.json")
    big_history(big)
    small = os.path.join(d, "small.json")
    h = json.load(open(big))
    json.dump({"format_version": 1, "items": {},
               "suites": {k: v for k, v in h["suites"].items() if k.startswith("s") and k[1:].isdigit()}},
              open(small, "w"))
    def migrated(source):
        out = source.replace(".json", ".v2.json")
        shutil.copy(source, os.path.join(d, "h.json"))
        subprocess.run([PTEST, "-q", "-j", "2", "--history", "h.json", "ptest.lua"], cwd=d, check=True,
                       stdout=subprocess.DEVNULL)
        shutil.copy(os.path.join(d, "h.json"), out)
        return out
    big2, small2 = migrated(big), migrated(small)
    print(f"# history: {SUITES:,} suites × {RUNS} runs: {os.path.getsize(big2) / 1e6:.1f} MB "
          f"({os.path.getsize(big) / 1e6:.1f} MB as format 1); "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}\n")
    # Each case its own history file, as a user has one that stays about the same size from run
    # to run (ptest rewrites the spare beside it in place: see docs/history.md).
    cases = [("--no-history", ["--no-history"], None),
             (f"small history ({OWN} suites)", ["--history", "small-h.json"], small2),
             (f"{SUITES:,} × {RUNS} history", ["--history", "big-h.json"], big2),
             (f"{SUITES:,} × {RUNS}, format 1 (migrated)", ["--history", "f1-h.json"], big)]
    # Rounds: each case once per round, in an order that rotates, so that a machine whose load
    # drifts hits every case alike; "added" is the median of the per-round differences.
    walls = {c[0]: [] for c in cases}
    cpus = {c[0]: [] for c in cases}
    rss = {c[0]: [] for c in cases}
    for r in range(-WARMUP, ROUNDS):
        k = r % len(cases)
        for title, flags, source in cases[k:] + cases[:k]:
            if source:
                shutil.copy(source, os.path.join(d, flags[1]))
            cmd = ["/usr/bin/time", "-f", "%M", "-o", os.path.join(d, ".rss"),
                   PTEST, "-q", "-j", "2", *flags, "ptest.lua"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, cwd=d, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r >= 0:
                walls[title].append(wall)
                cpus[title].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                rss[title].append(int(open(os.path.join(d, ".rss")).read().split()[-1]) / 1024)
    print(f"| case | wall: median (min–max) | added | CPU (user+sys) | added | peak RSS | added |")
    print("|---|---|---|---|---|---|---|")
    base = cases[0][0]
    ms = lambda x: f"{x * 1000:.1f} ms"
    for title, _, _ in cases:
        w, c, m = walls[title], cpus[title], rss[title]
        if title == base:
            added = ("", "", "")
        else:
            dw = statistics.median(a - b for a, b in zip(w, walls[base]))
            dc = statistics.median(a - b for a, b in zip(c, cpus[base]))
            added = (f"{dw * 1000:+.1f} ms", f"{dc * 1000:+.1f} ms", f"{max(m) - max(rss[base]):+.1f} MB")
        print(f"| {title} | {ms(statistics.median(w))} ({ms(min(w))}–{ms(max(w))}) | {added[0]} "
              f"| {ms(statistics.median(c))} | {added[1]} | {max(m):.1f} MB | {added[2]} |", flush=True)
    print(f"\n{ROUNDS} rounds after {WARMUP} untimed; load {os.getloadavg()[0]:.2f} at the end")
    after = json.load(open(os.path.join(d, "big-h.json")))
    assert len(after["suites"]) == SUITES, "the big history kept every suite"
    assert len(after["suites"]["s0"]["runs"]) == RUNS, "30 runs kept per name"
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
