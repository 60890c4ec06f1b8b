#!/usr/bin/env python3
"""Static shards (DESIGN §10): how evenly ptest plans them, and how evenly they really end.
N machines are simulated as N ptest processes started at once, each in a folder of its own
holding the same config and the same history (as a CI restores one cache on every machine).

    python3 tests/bench/shards.py planned           # W2-like 200 suites: max/mean at 4 and 8
                                                    # shards; --shards auto against trying all
    python3 tests/bench/shards.py sleep [-r 3]      # realized: 4 and 8 shards of those sleeps
    python3 tests/bench/shards.py networkx [-r 1]   # networkx: planned at 2 and 4 shards; 2
                                                    # shards of -j 1 run for real, merged JUnit

Targets (issue 26):
- planned: max/mean of the shards' expected times <= 1.02 at N = 4 and 8 on the W2-like spread
  (two workers a machine) and on networkx's items at N = 2 and 4; the same inputs give
  byte-identical `ptest plan --shard all/N`; `--shards auto --target (serial / 4)` picks what
  trying every N with `plan --shard all/N` picks.
- sleep: the slowest shard's wall time <= 1.05x the lower bound: the work over N machines of W
  workers, or the longest suite when larger, plus one shard's fixed cost (measured: the same
  shards run at once with every sleep made `sleep 0`).
- networkx, 2 shards of -j 1, real pytest: slowest shard <= 1.10x the mean of the two, and the
  JUnit merged from the two has every testcase of a single-machine run exactly once.

The workload comes from gen_config.py --w2; networkx's venv and copy from realworld.py.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_config  # noqa: E402
import realworld  # noqa: E402

ROOT = HERE.parents[1]
WORK = ROOT / "target" / "bench-shards"


def ptest_binary():
    """The release build of this checkout (or PTEST_BIN, a binary to measure instead)."""
    if os.environ.get("PTEST_BIN"):
        return os.environ["PTEST_BIN"]
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    return str(ROOT / "target" / "release" / "ptest")


def clean_env():
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for k in ["CI", "GITHUB_ACTIONS", "PTEST_SHARD", "PTEST_SHARD_TOTAL", "PTEST_WORKERS",
              "CI_NODE_INDEX", "CI_NODE_TOTAL", "PTEST_HISTORY"]:
        env.pop(k, None)
    return env


def plan_json(ptest, folder, args):
    out = subprocess.run([ptest, "plan", *args, "--format", "json"], cwd=folder, check=True,
                         capture_output=True, text=True, env=clean_env()).stdout
    return json.loads(out)


def load():
    return os.getloadavg()[0]


def planned(ptest):
    folder = WORK / "w2"
    shutil.rmtree(folder, ignore_errors=True)
    gen_config.w2_like(str(folder), 200, 7, 2)
    secs = gen_config.w2_durations(200, 7)
    print("### planned: W2-like 200 suites (sum %.1f s, longest %.2f s), 2 workers a machine\n"
          % (sum(secs), max(secs)))
    print("| shards | slowest | mean | max/mean | lower bound | byte-identical |\n|---|---|---|---|---|---|")
    ok = True
    for n in (4, 8):
        texts = [subprocess.run([ptest, "plan", "--shard", f"all/{n}"], cwd=folder, check=True,
                                capture_output=True, env=clean_env()).stdout for _ in range(2)]
        j = plan_json(ptest, folder, ["--shard", f"all/{n}"])
        e = j["expected"]
        same = texts[0] == texts[1]
        ok &= e["max_over_mean"] <= 1.02 and same
        print(f"| {n} | {e['max']:.3f} s | {e['mean']:.3f} s | {e['max_over_mean']:.4f} | "
              f"{e['lower_bound']:.3f} s | {same} |")
    serial = sum(secs)
    target = serial / 4
    auto = plan_json(ptest, folder, ["--shards", "auto", "--target", f"{target:.3f}s"])
    slowest = {}
    for n in range(1, 201):
        slowest[n] = plan_json(ptest, folder, ["--shard", f"all/{n}"])["expected"]["max"]
    meeting = [n for n in slowest if slowest[n] <= target]
    brute = meeting[0] if meeting else min(slowest, key=lambda n: (slowest[n], n))
    ok &= auto["shards"] == brute
    print(f"\n--shards auto --target {target:.3f}s (serial / 4): {auto['shards']} shards; trying "
          f"every N from 1 to 200 with plan --shard all/N: {brute}"
          f" ({'same' if auto['shards'] == brute else 'DIFFERENT'})")
    return ok


def run_shards(ptest, folders, n, extra=()):
    """Start shard k/n in folders[k-1] for every k at once; each one's wall time and exit."""
    import threading
    walls, codes = [0.0] * len(folders), [None] * len(folders)

    def one(i, folder):
        t = time.monotonic()
        r = subprocess.run([ptest, "--shard", f"{i + 1}/{n}", "-q", *extra], cwd=folder,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
        walls[i], codes[i] = time.monotonic() - t, r.returncode

    threads = [threading.Thread(target=one, args=(i, f)) for i, f in enumerate(folders)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return walls, codes


def shard_fixed_cost(ptest, n, workers, rounds):
    """What a shard costs beyond its work: every shard of the same config and history run at
    once with each sleep made `sleep 0` (ptest's start, reading the config and history, starting
    and reaping its suites, writing its report and history). The median over rounds of the
    slowest shard's wall time."""
    base = WORK / f"fixed-{n}"
    walls = []
    for _ in range(rounds):
        folders = []
        for k in range(1, n + 1):
            f = base / f"machine-{k}"
            shutil.rmtree(f, ignore_errors=True)
            cfg = Path(gen_config.w2_like(str(f), 200, 7, workers))
            text = cfg.read_text()
            cfg.write_text("\n".join(
                line.split('cmd = "sleep ')[0] + 'cmd = "sleep 0" }' if 'cmd = "sleep ' in line
                else line for line in text.splitlines()) + "\n")
            folders.append(f)
        w, codes = run_shards(ptest, folders, n)
        if any(codes):
            print(f"fixed-cost shard exits {codes}", file=sys.stderr)
        walls.append(max(w))
    return statistics.median(walls)


def sleep(ptest, rounds):
    secs = gen_config.w2_durations(200, 7)
    workers = 2
    print(f"### realized: W2-like 200 sleeps ({sum(secs):.1f} s), {workers} workers a machine, "
          f"{rounds} rounds\n")
    print("| shards | lower bound: work + a shard's fixed cost | slowest shard: median (min-max) "
          "| / bound | load |\n|---|---|---|---|---|")
    ok = True
    for n in (4, 8):
        work_bound = max(sum(secs) / (n * workers), max(secs))
        fixed = shard_fixed_cost(ptest, n, workers, rounds)
        bound = work_bound + fixed
        base = WORK / f"sleep-{n}"
        shutil.rmtree(base, ignore_errors=True)
        ratios, slowest_all, loads = [], [], []
        for r in range(rounds):
            folders = []
            for k in range(1, n + 1):
                f = base / f"machine-{k}"
                shutil.rmtree(f, ignore_errors=True)
                gen_config.w2_like(str(f), 200, 7, workers)
                folders.append(f)
            loads.append(load())
            walls, codes = run_shards(ptest, folders, n)
            if any(codes):
                print(f"shard exits {codes}", file=sys.stderr)
                ok = False
            slowest_all.append(max(walls))
            ratios.append(max(walls) / bound)
            # Every suite once across the shards' reports.
            names = []
            for f in folders:
                names += [s["name"] for s in json.loads(
                    (f / "test-logs" / "test-report.json").read_text())["suites"]]
            if sorted(names) != sorted(f"s{i:03d}" for i in range(200)):
                print(f"round {r + 1}: suites not each once ({len(names)})", file=sys.stderr)
                ok = False
            print(f"round {r + 1}: {n} shards, slowest {max(walls):.2f} s", file=sys.stderr)
        med = statistics.median(ratios)
        ok &= med <= 1.05
        print(f"| {n} | {work_bound:.2f} + {fixed:.2f} s | {statistics.median(slowest_all):.2f} s "
              f"({min(slowest_all):.2f}-{max(slowest_all):.2f}) | {med:.3f}x | "
              f"{min(loads):.1f}-{max(loads):.1f} |")
    return ok


def testcases(path):
    """Every testcase of a JUnit file as (classname, name), with how often it appears; a
    testcase of a whole part ("nx[1.2]", no file) is ptest's own and left out."""
    counts = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.get("file") is None:
            continue
        key = (case.get("classname") or "", case.get("name") or "")
        counts[key] = counts.get(key, 0) + 1
    return counts


def networkx(ptest, rounds):
    py, proj = realworld.networkx_setup()
    (proj / "ptest.lua").write_text(realworld.NX_CONFIG.format(py=py))
    env = clean_env()
    single_xml = WORK / "nx-single.xml"
    WORK.mkdir(parents=True, exist_ok=True)
    # The single-machine run: the reference JUnit and the history every shard starts from.
    hist = proj / ".ptest" / "history.json"
    if hist.exists():
        hist.unlink()
    t = time.monotonic()
    subprocess.run([ptest, "-j", "2", "-q", "--junit", str(single_xml)], cwd=proj, env=env,
                   stdout=subprocess.DEVNULL, check=False)
    print(f"single machine, -j 2 (writes the history): {time.monotonic() - t:.1f} s",
          file=sys.stderr)
    ok = True
    print("### networkx: planned\n\n| -j | shards | slowest | mean | max/mean |\n|---|---|---|---|---|")
    for jobs in (1, 2):
        for n in (2, 4):
            e = plan_json(ptest, proj, ["-j", str(jobs), "--shard", f"all/{n}"])["expected"]
            ok &= e["max_over_mean"] <= 1.02
            print(f"| {jobs} | {n} | {e['max']:.1f} s | {e['mean']:.1f} s | {e['max_over_mean']:.4f} |")
    print("\n### networkx: 2 shards of -j 1, real pytest\n")
    print("| round | shard 1 | shard 2 | slowest / mean | load | merged JUnit |\n|---|---|---|---|---|---|")
    single = testcases(single_xml)
    for r in range(rounds):
        folders = []
        for k in (1, 2):
            f = WORK / f"nx-machine-{k}"
            shutil.rmtree(f, ignore_errors=True)
            shutil.copytree(proj, f, ignore=shutil.ignore_patterns("test-logs", "__pycache__"))
            folders.append(f)
        before = load()
        walls, codes = run_shards(ptest, folders, 2, ["-j", "1", "--junit", "shard.xml"])
        merged_json, merged_xml = WORK / "nx-merged.json", WORK / "nx-merged.xml"
        m = subprocess.run([ptest, "merge", *(str(f / "test-logs" / "test-report.json")
                                              for f in folders),
                            "-o", str(merged_json), "--junit", str(merged_xml)],
                           capture_output=True, text=True, env=env)
        if m.returncode != 0:
            print(m.stderr, file=sys.stderr)
            ok = False
            continue
        merged = testcases(merged_xml)
        missing = [k for k in single if k not in merged]
        twice = [k for k, c in merged.items() if c > 1]
        extra = [k for k in merged if k not in single]
        ratio = max(walls) / statistics.mean(walls)
        ok &= ratio <= 1.10 and not missing and not twice
        verdict = (f"{len(single)} of the single run's {len(single)} testcases"
                   if not missing else f"{len(missing)} MISSING") + \
                  f", {len(twice)} twice, {len(extra)} not in the single run"
        print(f"| {r + 1} | {walls[0]:.1f} s (exit {codes[0]}) | {walls[1]:.1f} s (exit {codes[1]}) "
              f"| {ratio:.3f} | {before:.1f} | {verdict} |")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["planned", "sleep", "networkx", "all"])
    ap.add_argument("-r", "--rounds", type=int, default=None)
    args = ap.parse_args()
    ptest = ptest_binary()
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"load at start: {os.getloadavg()}\n")
    ok = True
    if args.what in ("planned", "all"):
        ok &= planned(ptest)
        print()
    if args.what in ("sleep", "all"):
        ok &= sleep(ptest, args.rounds or 3)
        print()
    if args.what in ("networkx", "all"):
        ok &= networkx(ptest, args.rounds or 1)
    print(f"\nload at end: {os.getloadavg()}; targets {'met' if ok else 'NOT met'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
