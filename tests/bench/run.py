#!/usr/bin/env python3
"""Side-by-side benchmarks of ptest against ninja, make, xargs -P and GNU parallel (issue 4).

Each workload is generated as a ptest.lua and as the input of each peer; every tool runs every
command through /bin/sh -c, so all do the same work. Within each round the tools take turns, so
a drifting machine hits all alike; the table shows medians with min-max, the median of the
per-round ratios to ninja, and the lower bound where one exists. Where there are no
dependencies (W1, W4), "floor" is floor.c: posix_spawn and waitpid and nothing else, the least
any runner can take on this machine.

    python3 tests/bench/run.py                    # every workload, 5 rounds
    python3 tests/bench/run.py --only W1,W3 -r 7  # some workloads, more rounds
    python3 tests/bench/run.py --only W4 --baseline /tmp/old/ptest  # and an earlier build, same rounds
    python3 tests/bench/run.py --only W1,W4 --posix --no-peers      # Linux's fast path and the portable one
    python3 tests/bench/run.py --only W1,W4 --posix --no-peers --fresh  # each run without its log folder
"""

import argparse
import json
import math
import os
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PTEST = os.path.join(ROOT, "target", "release", "ptest")
FLOOR = os.path.join(ROOT, "target", "release", "bench-floor")
BASELINE = None  # --baseline: another ptest binary, run as the tool "ptest (baseline)"
POSIX = False  # --posix: the same ptest on its portable path too, as the tool "ptest (posix)"
FRESH = False  # --fresh: every ptest run starts without its log folder
COLD = False  # --cold: also ptest without history, as the tool "ptest (cold)"


def ensure_tools():
    """Build ptest (release) and floor.c, and install the peers and hyperfine from Debian packages
    when missing."""
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    # The C compiler Rust links with builds the floor; without one, the floor rows are left out.
    src = os.path.join(ROOT, "tests", "bench", "floor.c")
    if shutil.which("cc"):
        subprocess.run(["cc", "-O2", "-o", FLOOR, src], check=True)
    missing = [pkg for tool, pkg in [("ninja", "ninja-build"), ("make", "make"), ("parallel", "parallel"),
                                     ("hyperfine", "hyperfine"), ("flock", "util-linux")]
               if shutil.which(tool) is None]
    if missing:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True)


# ---------------------------------------------------------------- workload generation

class Workload:
    """Commands (name -> shell line), dependencies, serial groups, and the jobs count."""

    def __init__(self, key, title, jobs, estimates=False):
        self.key, self.title, self.jobs, self.estimates = key, title, jobs, estimates
        self.cmds = {}        # name -> shell command
        self.secs = {}        # name -> expected seconds (for estimates and bounds)
        self.deps = {}        # name -> [names]
        self.group = {}       # name -> group name (serial)
        self.order = []       # declaration order
        self.lower_bound = None
        self.peers = ["ninja", "make", "xargs", "parallel"]

    def add(self, name, cmd, secs=0.0, deps=(), group=None):
        self.cmds[name] = cmd
        self.secs[name] = secs
        self.deps[name] = list(deps)
        if group:
            self.group[name] = group
        self.order.append(name)

    def write(self, d):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "ptest.lua"), "w") as f:
            f.write("ptest.config { log_dir = 'logs', timeout = '10m' }\n")
            for g in sorted(set(self.group.values())):
                f.write(f"ptest.group {{ name = {json.dumps(g)}, max = 1 }}\n")
            for n in self.order:
                fields = [f"name = {json.dumps(n)}", f"cmd = {json.dumps(self.cmds[n])}"]
                if self.deps[n]:
                    fields.append("depends_on = { " + ", ".join(json.dumps(x) for x in self.deps[n]) + " }")
                if n in self.group:
                    fields.append(f"group = {json.dumps(self.group[n])}")
                if self.estimates:
                    fields.append(f"estimate = {self.secs[n]:.4f}")
                f.write("ptest.suite { " + ", ".join(fields) + " }\n")
        with open(os.path.join(d, "build.ninja"), "w") as f:
            for g in sorted(set(self.group.values())):
                f.write(f"pool {g}\n  depth = 1\n")
            f.write("rule run\n  command = $cmd\n")
            for n in self.order:
                deps = " ".join(f"t_{x}" for x in self.deps[n])
                f.write(f"build t_{n}: run" + (f" || {deps}" if deps else "") + "\n")
                f.write(f"  cmd = {self.cmds[n].replace('$', '$$')}\n")
                if n in self.group:
                    f.write(f"  pool = {self.group[n]}\n")
            f.write("build all: phony " + " ".join(f"t_{n}" for n in self.order) + "\ndefault all\n")
        with open(os.path.join(d, "Makefile"), "w") as f:
            f.write("SHELL := /bin/sh\n.PHONY: all " + " ".join(f"t_{n}" for n in self.order) + "\n")
            f.write("all: " + " ".join(f"t_{n}" for n in self.order) + "\n")
            for n in self.order:
                cmd = self.cmds[n].replace("$", "$$")
                if n in self.group:  # serial groups in make: a lock around the command (waits hold a slot)
                    cmd = f"flock lock.{self.group[n]} /bin/sh -c '{cmd}'"
                f.write(f"t_{n}: " + " ".join(f"t_{x}" for x in self.deps[n]) + f"\n\t@{cmd}\n")
        with open(os.path.join(d, "commands.txt"), "w") as f:
            for n in self.order:
                f.write(self.cmds[n] + "\n")
        with open(os.path.join(d, "commands.tsv"), "w") as f:  # for floor.c: group, command
            for n in self.order:
                f.write(self.group.get(n, "-") + "\t" + self.cmds[n] + "\n")
        with open(os.path.join(d, "longest-first.tsv"), "w") as f:  # the same, longest first
            for n in sorted(self.order, key=lambda n: -self.secs[n]):
                f.write(self.group.get(n, "-") + "\t" + self.cmds[n] + "\n")


def w1(jobs):
    w = Workload(f"W1 -j{jobs}", f"2,000 × true, -j{jobs}", jobs)
    for i in range(2000):
        w.add(f"t{i}", "true")
    w.peers.append("floor")
    return w


def w2(estimates, seed=7):
    rnd = random.Random(seed)
    w = Workload("W2" + (" est" if estimates else ""), "200 sleeps, random DAG, -j8" + (", estimates" if estimates else ""), 8, estimates)
    raw = [rnd.lognormvariate(0, 0.9) for _ in range(200)]
    scale = 60.0 / sum(raw)
    secs = [min(2.0, max(0.05, r * scale)) for r in raw]
    names = [f"s{i}" for i in range(200)]
    deps = {n: [] for n in names}
    # A long chain through every 8th node, plus random back edges.
    chain = names[::8]
    for a, b in zip(chain, chain[1:]):
        deps[b].append(a)
    for i in range(1, 200):
        for _ in range(rnd.randint(0, 2)):
            j = rnd.randrange(0, i)
            if names[j] not in deps[names[i]]:
                deps[names[i]].append(names[j])
    order = names[:]
    rnd.shuffle(order)
    for n in order:
        i = int(n[1:])
        w.add(n, f"sleep {secs[i]:.3f}", secs[i], deps[n])
    # critical path
    longest = {}
    for n in names:  # names are in topological order (deps point to lower indexes)
        longest[n] = w.secs[n] + max((longest[d] for d in deps[n]), default=0.0)
    w.lower_bound = max(max(longest.values()), sum(secs) / 8)
    w.peers = ["ninja", "make"]
    return w


def w3(estimates):
    w = Workload("W3" + (" est" if estimates else ""), "47 × 0.2 s + 3 × 4 s last, -j4" + (", estimates" if estimates else ""), 4, estimates)
    for i in range(47):
        w.add(f"short{i}", "sleep 0.2", 0.2)
    for i in range(3):
        w.add(f"long{i}", "sleep 4", 4.0)
    w.lower_bound = max(4.0, (47 * 0.2 + 12) / 4)
    # The best order, spawned by floor.c: what any runner that knows the durations could do here
    # (no schedule beats 5.4 s, 1.009x the bound: 27 shorts are left when the longs end at 4 s).
    w.peers.append("floor (longest first)")
    return w


def w4(seed=11):
    rnd = random.Random(seed)
    w = Workload("W4", "40 sleeps in 5 serial groups of 8, -j8", 8)
    totals = {}
    for g in range(5):
        for i in range(8):
            s = rnd.uniform(0.1, 0.6)
            w.add(f"g{g}_{i}", f"sleep {s:.3f}", s, group=f"grp{g}")
            totals[g] = totals.get(g, 0) + s
    w.lower_bound = max(totals.values())
    w.peers = ["ninja", "make", "floor"]
    return w


def w5():
    w = Workload("W5", "10,000 × true, -j8", 8)
    for i in range(10000):
        w.add(f"t{i}", "true")
    w.peers = ["ninja"]
    return w


def w6():
    w = Workload("W6", "8 × 100 MB of output, -j8", 8)
    for i in range(8):
        w.add(f"out{i}", "head -c 100000000 /dev/zero")
    w.peers = []
    return w


# ---------------------------------------------------------------- running

def env_of(tool):
    """The environment a tool runs in: ptest (posix) is ptest with PTEST_PLATFORM=posix."""
    if tool == "ptest (posix)":
        return dict(os.environ, PTEST_PLATFORM="posix")
    return None


def timed(cmd, cwd, env=None):
    """Wall seconds, and (user+sys CPU, peak RSS KB) of the process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", os.path.join(cwd, ".time"), *cmd],
                       cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t
    rss, user, sys_ = open(os.path.join(cwd, ".time")).read().split()[-3:]
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} failed with {r.returncode} in {cwd}")
    return wall, float(user) + float(sys_), int(rss)


def command(tool, w):
    j = str(w.jobs)
    return {
        "ptest": [PTEST, "-j", j, "-q", "ptest.lua"],
        "ptest (baseline)": [BASELINE, "-j", j, "-q", "ptest.lua"],
        "ptest (posix)": [PTEST, "-j", j, "-q", "ptest.lua"],
        "ptest (cold)": [PTEST, "-j", j, "-q", "ptest.lua"],
        "ninja": ["ninja", "-j", j, "--quiet"],
        "make": ["make", "-s", "-j", j],
        "xargs": ["sh", "-c", f"xargs -P {j} -I CMD /bin/sh -c CMD < commands.txt"],
        "parallel": ["sh", "-c", f"SHELL=/bin/sh parallel -j {j} < commands.txt"],
        "floor": [FLOOR, j, "commands.tsv"],
        "floor (longest first)": [FLOOR, j, "longest-first.tsv"],
    }[tool]


def clean(tool, d, w):
    for f in [".ninja_log", ".ninja_deps"]:
        p = os.path.join(d, f)
        if os.path.exists(p):
            os.remove(p)
    if tool == "ptest (cold)":
        # Blind, as ninja is here: its .ninja_log is deleted above, ptest's history here.
        shutil.rmtree(os.path.join(d, ".ptest"), ignore_errors=True)
    if FRESH and tool.startswith("ptest"):
        shutil.rmtree(os.path.join(d, "logs"), ignore_errors=True)
    elif w.key == "W6":
        # Each round starts without the previous round's 800 MB of logs: deleting those is
        # real work (ptest does it on a thread of its own), but not the cost measured here.
        shutil.rmtree(os.path.join(d, "logs"), ignore_errors=True)


def run_workload(w, rounds, base, warmup=1):
    d = os.path.join(base, w.key.replace(" ", "_"))
    w.write(d)
    tools = ["ptest"] + (["ptest (cold)"] if COLD else []) + (["ptest (baseline)"] if BASELINE else []) + (["ptest (posix)"] if POSIX else []) + [
        p for p in w.peers if shutil.which(p) or p == "xargs" or (p.startswith("floor") and os.path.exists(FLOOR))]
    results = {t: [] for t in tools}
    # Untimed first runs: the first one of each tool creates its files (ptest's logs, ninja's
    # log) and brings its binary into memory, which later runs do not repeat.
    for _ in range(warmup):
        for t in tools:
            clean(t, d, w)
            timed(command(t, w), d, env_of(t))
    for r in range(rounds):
        # The tools take turns, and who goes first rotates: no tool always follows the same one
        # (GNU parallel leaves the machine busier than the others do).
        for t in tools[r % len(tools):] + tools[:r % len(tools)]:
            clean(t, d, w)
            results[t].append(timed(command(t, w), d, env_of(t)))
    extra = {}
    if w.key == "W5":
        extra["ptest list"] = list_time(d, rounds)
    if w.key == "W6":
        report = json.load(open(os.path.join(d, "logs", "test-report.json")))
        writers = sum(s["cpu_time"] or 0 for s in report["suites"])
        if shutil.which("perf"):
            # ptest's own threads only: /usr/bin/time's 10 ms resolution cannot see it.
            own = []
            for _ in range(rounds):
                clean("ptest", d, w)
                r = subprocess.run(["perf", "stat", "-x,", "--no-inherit", "-e", "task-clock", *command("ptest", w)],
                                   cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                line = next(l for l in r.stderr.splitlines() if "task-clock" in l)
                own.append(float(line.split(",")[0]) / 1000)
            extra["ptest own CPU (perf)"] = statistics.median(own)
        else:
            own = [max(0.0, cpu - writers) for _, cpu, _ in results["ptest"]]
            extra["ptest own CPU"] = statistics.median(own)
        extra["writers' CPU"] = writers
    return tools, results, extra


def list_time(d, rounds):
    """Median wall time of `ptest list` on the workload: hyperfine's, 30 runs after 3 untimed
    (a 40 ms command is at the mercy of one scheduler hiccup), else `rounds` runs of our own."""
    if shutil.which("hyperfine"):
        out = os.path.join(d, ".list.json")
        subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", "30", "--export-json", out,
                        f"{shlex.quote(PTEST)} list ptest.lua"], cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return json.load(open(out))["results"][0]["median"]
    return statistics.median(timed([PTEST, "list", "ptest.lua"], d)[0] for _ in range(rounds))


def fmt_row(w, tools, results, extra):
    lines = []
    ninja = [r[0] for r in results.get("ninja", [])]
    for t in tools:
        walls = [r[0] for r in results[t]]
        med = statistics.median(walls)
        ratio = ""
        if ninja and t != "ninja":
            ratio = f"{statistics.median([a / b for a, b in zip(walls, ninja)]):.3f}×"
        bound = f"{med / w.lower_bound:.3f}×" if w.lower_bound else ""
        rss = max(r[2] for r in results[t])
        lines.append(f"| {w.title} | {t} | {med:.3f} s ({min(walls):.3f}–{max(walls):.3f}) | {ratio} | {bound} | {rss / 1024:.1f} MB |")
    if "ptest (posix)" in results:
        fast = [r[0] for r in results["ptest"]]
        posix = [r[0] for r in results["ptest (posix)"]]
        ratio = statistics.median([a / b for a, b in zip(fast, posix)])
        lines.append(f"| {w.title} | ptest ÷ ptest (posix), median of rounds | {ratio:.3f}× | | | |")
    for k, v in extra.items():
        lines.append(f"| {w.title} | {k} | {v:.3f} s | | | |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-r", "--rounds", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated keys: W1,W2,W3,W4,W5,W6")
    ap.add_argument("--keep", action="store_true", help="keep the generated folders")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each tool first")
    ap.add_argument("--baseline", metavar="BIN", help="another ptest binary to run in the same rounds")
    ap.add_argument("--posix", action="store_true", help="also ptest on its portable path (PTEST_PLATFORM=posix)")
    ap.add_argument("--fresh", action="store_true", help="remove ptest's log folder before each of its runs")
    ap.add_argument("--no-peers", action="store_true", help="ptest only: no ninja, make, xargs, parallel, floor")
    ap.add_argument("--cold", action="store_true",
                    help="also ptest without history (.ptest/ deleted before each of its runs); "
                         "plain \"ptest\" is warm: its history is what its earlier runs recorded")
    args = ap.parse_args()
    global BASELINE, POSIX, FRESH, COLD
    POSIX, FRESH, COLD = args.posix, args.fresh, args.cold
    BASELINE = os.path.abspath(args.baseline) if args.baseline else None
    if BASELINE and not (os.path.isfile(BASELINE) and os.access(BASELINE, os.X_OK)):
        ap.error(f"--baseline {args.baseline}: not an executable file")
    ensure_tools()
    all_w = [w1(2), w1(8), w2(True), w2(False), w3(True), w3(False), w4(), w5(), w6()]
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    chosen = [w for w in all_w if not only or w.key.split()[0] in only]
    if args.no_peers:
        for w in chosen:
            w.peers = []
    base = tempfile.mkdtemp(prefix="ptest-bench-")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, {args.rounds} rounds after {args.warmup} untimed"
          f"{', fresh log folders' if FRESH else ''}\n")
    print("| workload | tool | wall: median (min–max) | ÷ ninja | ÷ lower bound | peak RSS |")
    print("|---|---|---|---|---|---|")
    for w in chosen:
        tools, results, extra = run_workload(w, args.rounds, base, args.warmup)
        for line in fmt_row(w, tools, results, extra):
            print(line, flush=True)
    for w in chosen:
        if w.lower_bound:
            print(f"\nlower bound {w.key}: {w.lower_bound:.3f} s", end="")
    print()
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
