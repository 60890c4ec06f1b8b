#!/usr/bin/env python3
"""Real test suites: ptest's presets against what teams already use.

    python3 tests/bench/realworld.py networkx [-r 3] [-j 2]
    python3 tests/bench/realworld.py cargo [-r 3]

networkx: a venv made here from PyPI with networkx, pytest and pytest-xdist; networkx's own
tests (shipped in its wheel) copied into a work folder. Per round, in an order that rotates:
pytest serial, pytest -n J (xdist, load), pytest -n J --dist worksteal, ptest with the pytest
preset at -j J without history, and again with the history the first run wrote. Also
`ptest list` on that config (hyperfine when present).

cargo: ptest's own test binaries (built once with `cargo test --no-run`) through the cargo
preset against `cargo nextest run`, at -j 2 and -j 4.

Medians (min-max) of the rounds and the median of the per-round ratios to xdist / nextest.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "target" / "bench-realworld"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def ptest_binary():
    sh(["cargo", "build", "--release", "-q"], cwd=ROOT)
    return ROOT / "target" / "release" / "ptest"


def timed(cmd, cwd, env=None):
    t = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t, r.returncode


def networkx_setup():
    venv = WORK / "nx-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        sh([sys.executable, "-m", "venv", str(venv)])
        sh([str(py), "-m", "pip", "install", "-q", "networkx", "pytest", "pytest-xdist"])
    proj = WORK / "nx-project"
    if not (proj / "networkx").exists():
        src = subprocess.run(
            [str(py), "-c", "import networkx, os; print(os.path.dirname(networkx.__file__))"],
            check=True, capture_output=True, text=True).stdout.strip()
        proj.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, proj / "networkx")
    return py, proj


NX_CONFIG = """local pytest = require("ptest.presets.pytest")
pytest.batch {{ name = "nx", python = "{py}", paths = {{ "networkx" }},
  args = {{ "-q", "-p", "no:cacheprovider" }} }}
"""


def summary(name, xs, base=None):
    med = statistics.median(xs)
    line = f"| {name} | {med:.1f} s ({min(xs):.1f}-{max(xs):.1f}) |"
    if base:
        ratios = [x / b for x, b in zip(xs, base)]
        line += f" {statistics.median(ratios):.3f}x |"
    else:
        line += " |"
    return line


def bench_networkx(rounds, jobs, quick=False):
    py, proj = networkx_setup()
    ptest = ptest_binary()
    (proj / "ptest.lua").write_text(NX_CONFIG.format(py=py))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("CI", None)
    hist = proj / ".ptest" / "history.json"
    base = [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "networkx"]
    tools = {
        "pytest serial": lambda: timed(base, proj, env),
        f"pytest -n {jobs} (xdist)": lambda: timed(base + ["-n", str(jobs)], proj, env),
        f"pytest -n {jobs} --dist worksteal": lambda: timed(
            base + ["-n", str(jobs), "--dist", "worksteal"], proj, env),
        f"ptest -j {jobs}, first run": None,  # with the second, below
    }
    names = list(tools)
    times = {n: [] for n in names}
    second = f"ptest -j {jobs}, second run (history)"
    times[second] = []
    codes = {}

    def ptest_pair():
        if hist.exists():
            hist.unlink()
        cmd = [str(ptest), "-j", str(jobs), "-q", "--log-dir", str(WORK / "nx-logs")]
        a = timed(cmd, proj, env)
        b = timed(cmd, proj, env)
        return a, b

    if quick:
        # xdist and ptest only: serial and worksteal take as long again.
        names = [names[1], names[3]]
    else:
        # One untimed run of each (the first imports compile and warm the page cache).
        for n in names[:3]:
            tools[n]()
        ptest_pair()
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            if tools[n] is None:
                (a, ca), (b, cb) = ptest_pair()
                times[n].append(a)
                times[second].append(b)
                codes[n], codes[second] = ca, cb
            else:
                t, c = tools[n]()
                times[n].append(t)
                codes[n] = c
            print(f"round {r + 1}: {n}: {times[n][-1]:.1f} s", file=sys.stderr, flush=True)
    xdist_name = f"pytest -n {jobs} (xdist)"
    xdist = times[xdist_name]
    print(f"\n### networkx, {rounds} rounds, -j {jobs}\n")
    print("| run | wall: median (min-max) | / xdist |\n|---|---|---|")
    for n in names + [second]:
        print(summary(n, times[n], None if n == xdist_name else xdist) + f" exit {codes[n]}")
    # ptest list on this config.
    if shutil.which("hyperfine"):
        out = WORK / "list.json"
        sh(["hyperfine", "-N", "-w", "3", "-r", "20", "--export-json", str(out),
            f"{ptest} list {proj / 'ptest.lua'}"], stdout=subprocess.DEVNULL,
           stderr=subprocess.DEVNULL)
        m = json.loads(out.read_text())["results"][0]
        print(f"\n`ptest list` on it: median {m['median'] * 1000:.0f} ms "
              f"(min {m['min'] * 1000:.0f} ms, 20 runs)")


def bench_cargo(rounds):
    ptest = ptest_binary()
    sh(["cargo", "test", "--no-run", "-q"], cwd=ROOT)
    cfg = WORK / "cargo-ptest.lua"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('require("ptest.presets.cargo").batch { name = "rust", dir = "%s" }\n' % ROOT)
    env = dict(os.environ)
    env.pop("CI", None)
    times = {}
    runs = []
    for j in (2, 4):
        runs.append((f"cargo nextest run -j {j}",
                     ["cargo", "nextest", "run", "-j", str(j), "--no-fail-fast"], ROOT))
        runs.append((f"ptest cargo preset -j {j}",
                     [str(ptest), str(cfg), "-j", str(j), "-q", "--no-history",
                      "--log-dir", str(WORK / "cargo-logs")], WORK))
    for name, cmd, cwd in runs:
        timed(cmd, cwd, env)
        times[name] = []
    for r in range(rounds):
        order = runs[r % len(runs):] + runs[:r % len(runs)]
        for name, cmd, cwd in order:
            t, c = timed(cmd, cwd, env)
            times[name].append(t)
            print(f"round {r + 1}: {name}: {t:.1f} s exit {c}", file=sys.stderr, flush=True)
    print(f"\n### ptest's own tests, {rounds} rounds\n")
    print("| run | wall: median (min-max) | / nextest |\n|---|---|---|")
    for j in (2, 4):
        nx = times[f"cargo nextest run -j {j}"]
        print(summary(f"cargo nextest run -j {j}", nx))
        print(summary(f"ptest cargo preset -j {j}", times[f"ptest cargo preset -j {j}"], nx))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", choices=["networkx", "cargo"])
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true",
                    help="networkx: only xdist and ptest, no untimed first runs")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if a.suite == "networkx":
        bench_networkx(a.rounds, a.jobs, a.quick)
    else:
        bench_cargo(a.rounds)


if __name__ == "__main__":
    main()
