#!/usr/bin/env python3
"""The queue (DESIGN §10) against static shards. N machines are simulated as N ptest processes
started on one host, each in a folder of its own holding the same config and history (as a CI
restores one cache on every machine), sharing one real redis-server on loopback. The suites
sleep, so the two cores are not the limit.

    python3 tests/bench/queue.py noise [-r 5]     # 200 W2-like suites, noise, skew, a slow
                                                  # machine: queue and static shards at N = 4, 8
                                                  # (PTEST_BENCH_N=8: one N; PTEST_BIN_BEFORE=
                                                  # BIN: that binary's queue in the same rounds),
                                                  # and where each round's time went
    python3 tests/bench/queue.py kill [-r 3]      # N = 4, one machine SIGKILLed mid-run
    python3 tests/bench/queue.py cost [-r 3]      # 1,000 zero-length suites over 4 machines;
                                                  # Redis memory for a 10,000-unit run
    python3 tests/bench/queue.py dag [-r 3]       # a 50-suite chain/fan-in over 4 machines
                                                  # (PTEST_BIN_BEFORE=BIN: that binary too,
                                                  # in the same rounds)

Targets (issue 27):
- noise: each suite's time x lognormal(sigma 0.3) around its history, machine k starts up to
  20 % of its share late, one machine 30 % slower: the queue's makespan <= 1.05x the fluid lower
  bound at N = 4 and 8, and below static shards' in the same rounds (median of >= 5 rounds).
- kill: every unit ends exactly once in the merged report, and the makespan grows by no more
  than the lost machine's leased work plus one lease timeout.
- cost: per-unit coordination cost on loopback <= 2 ms against the same run as static shards;
  Redis memory for a 10,000-unit run <= 20 MB.
- dag: finishes within 1.05x its critical path plus per-unit cost, no dependent starting before
  its dependency ended anywhere.
"""

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys

# Python puts this script's folder first on the path, and it holds a socket.py of its own (the
# socket bench): the standard module is imported without it.
_HERE = os.path.dirname(os.path.abspath(__file__))
_PATH = sys.path[:]
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
import socket  # noqa: E402
sys.path[:] = _PATH
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_config  # noqa: E402

ROOT = HERE.parents[1]
WORK = ROOT / "target" / "bench-queue"
WORKERS = 2
# The machine counts `noise` runs (PTEST_BENCH_N=8: that one alone).
NOISE_N = [int(x) for x in os.environ.get("PTEST_BENCH_N", "4,8").split(",")]


def ptest_binary():
    """The release build of this checkout (or PTEST_BIN, a binary to measure instead)."""
    if os.environ.get("PTEST_BIN"):
        return os.environ["PTEST_BIN"]
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    return str(ROOT / "target" / "release" / "ptest")


def clean_env(**extra):
    env = dict(os.environ)
    for k in ["CI", "GITHUB_ACTIONS", "PTEST_SHARD", "PTEST_SHARD_TOTAL", "PTEST_WORKERS",
              "CI_NODE_INDEX", "CI_NODE_TOTAL", "PTEST_HISTORY", "PTEST_QUEUE", "PTEST_QUEUE_RUN",
              "GITHUB_JOB", "CIRCLE_JOB", "BUILDKITE_LABEL"]:
        env.pop(k, None)
    env.update(extra)
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self):
        self.port = free_port()
        binary = os.environ.get("PTEST_TEST_REDIS", "redis-server")
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                return
            except OSError:
                time.sleep(0.01)
        raise SystemExit("redis-server did not start")

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def used_memory(self):
        """INFO memory's used_memory, in bytes (RESP by hand: no client library needed)."""
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(b"INFO memory\r\n")
            data = b""
            while b"used_memory:" not in data or not data.endswith(b"\r\n"):
                data += s.recv(65536)
        for line in data.decode().splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":")[1])
        raise SystemExit("no used_memory")

    def command(self, *words):
        """One command's reply, as text (RESP by hand)."""
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(b" ".join(w.encode() for w in words) + b"\r\n")
            data = s.recv(65536)
            if data.startswith(b"$"):
                size = int(data[1:data.index(b"\r\n")])
                while len(data) < data.index(b"\r\n") + 2 + size + 2:
                    data += s.recv(65536)
            return data.decode()

    def script_calls(self):
        """INFO commandstats' script calls (EVALSHA and EVAL) since the last reset: how many,
        and their mean time in the server (us)."""
        calls, usec = 0, 0.0
        for line in self.command("INFO", "commandstats").splitlines():
            if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")):
                f = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
                calls += int(f["calls"])
                usec += float(f["usec"])
        return calls, (usec / calls if calls else 0.0)

    def reads(self):
        """INFO commandstats' XREAD calls since the last reset: each blocking read the store
        woke with an event (or that timed out), and each read sent beside a round trip."""
        for line in self.command("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_xread:"):
                f = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
                return int(f["calls"])
        return 0

    def stop(self):
        self.proc.kill()
        self.proc.wait()


SLEEP_SH = 'exec sleep "$(awk "BEGIN { print $1 * ${SLOW:-1} }")"\n'


def workload(folder, secs, noise, names=None):
    """A config of sleeps (`secs` with `noise` applied) and a history of `secs` in `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    gen_config.w2_like(str(folder), len(secs), 0, WORKERS)  # the history's shape
    script = WORK / "sleep.sh"
    script.write_text(SLEEP_SH)
    lines = [f"ptest.config {{ workers = {WORKERS} }}"]
    for i, (s, n) in enumerate(zip(secs, noise)):
        lines.append(f'ptest.suite {{ name = "s{i:03d}", cmd = {{ "sh", "{script}", "{s * n:.3f}" }} }}')
    (folder / "ptest.lua").write_text("\n".join(lines) + "\n")
    rows = []
    for i, s in enumerate(secs):
        runs = ",".join(f'[{1764600000 + k},"passed",{s},1]' for k in range(5))
        rows.append(f'"s{i:03d}":{{"runs":[{runs}]}}')
    hist = folder / ".ptest" / "history.json"
    text = hist.read_text()
    head = text.split('"suites"')[0]
    hist.write_text(head + '"suites":{\n' + ",\n".join(rows) + "\n}}\n")


def start_machine(ptest, folder, k, n, mode, url=None, run=None, slow=1.0, extra=()):
    args = [ptest, "-q", "--log-dir", "logs"]
    if mode == "queue":
        args += ["--queue", url, "--queue-run", run]
    else:
        args += ["--shard", f"{k}/{n}"]
    env = clean_env(SLOW=str(slow), CI_JOB_NAME=f"m{k}")
    return subprocess.Popen(args + list(extra), cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def ends(folder):
    r = json.loads((folder / "logs" / "test-report.json").read_text())
    return r["suites"]


def fluid_bound(work, longest, n, skews, speeds):
    """The least T with sum_k W * speed_k * (T - skew_k)+ >= work; at least the longest suite."""
    lo, hi = 0.0, work + max(skews) + 100
    for _ in range(100):
        mid = (lo + hi) / 2
        cap = sum(WORKERS * sp * max(0.0, mid - sk) for sk, sp in zip(skews, speeds))
        if cap >= work:
            hi = mid
        else:
            lo = mid
    return max(hi, longest / max(speeds) + min(skews))


def one_round(ptest, mode, n, seed, redis):
    rnd = random.Random(seed)
    secs = gen_config.w2_durations(200, 7)
    noise = [rnd.lognormvariate(0, 0.3) for _ in secs]
    share = sum(secs) / n / WORKERS
    skews = [rnd.uniform(0, 0.2 * share) for _ in range(n)]
    slow_one = rnd.randrange(n)
    speeds = [1 / 1.3 if k == slow_one else 1.0 for k in range(n)]
    run = f"noise-{n}-{seed}-{time.time_ns()}"
    folders = []
    for k in range(n):
        f = WORK / f"m{k + 1}"
        workload(f, secs, noise)
        folders.append(f)
    procs = [None] * n
    if mode == "queue":
        redis.command("CONFIG", "RESETSTAT")
    t0 = time.time()
    order = sorted(range(n), key=lambda k: skews[k])
    for k in order:
        delay = t0 + skews[k] - time.time()
        if delay > 0:
            time.sleep(delay)
        procs[k] = start_machine(ptest, folders[k], k + 1, n, mode, redis.url, run,
                                 slow=1.3 if k == slow_one else 1.0)
    for p in procs:
        p.wait()
    last = 0.0
    count = 0
    runs = []
    for k, f in enumerate(folders):
        for s in ends(f):
            if s.get("end_time"):
                last = max(last, s["end_time"])
                count += 1
                i = int(s["name"][1:])
                asked = secs[i] * noise[i] * (1.3 if k == slow_one else 1.0)
                runs.append((k, s.get("worker"), s["start_time"] - t0, s["end_time"] - t0, asked))
    work = sum(s * x for s, x in zip(secs, noise))
    bound = fluid_bound(work, max(s * x for s, x in zip(secs, noise)), n, skews, speeds)
    # The same bound on what the suites took as measured (a process's start and exit
    # included), each brought back to a machine of speed 1: what is left beyond it is the
    # runner's (its start, between suites, an uneven end).
    took = [(b - a) * speeds[k] for k, _, a, b, _ in runs]
    measured = fluid_bound(sum(took), max(took), n, skews, speeds)
    went = where_it_went(runs, skews, last - t0, n)
    went["measured"] = measured
    went["load"] = os.getloadavg()[0]
    went["reads"] = redis.reads() if mode == "queue" else 0
    went["scripts"] = redis.script_calls()[0] if mode == "queue" else 0
    return last - t0, bound, count, went


def where_it_went(runs, skews, makespan, n):
    """Where a round's time beyond the sleeps went, in seconds of a worker (means over the
    workers): `start`, from the machine's (late) start to its worker's first suite (ptest's
    own start: config, history, plan, store); `between`, from a suite's end to the worker's
    next start, summed per worker (a claim, starting the process); `over`, each suite's
    measured time beyond the sleep it was asked for, summed per worker (starting `sh` and
    `awk`, the exit seen); `tail`, from the worker's last end to the makespan (nothing left for
    it); with the units per worker. The fluid bound counts none of these but the tail's share
    of an uneven end."""
    by = {}
    for k, w, a, b, asked in runs:
        by.setdefault((k, w), []).append((a, b, asked))
    start, between, over, tail, units = [], [], [], [], []
    for (k, _), spans in by.items():
        spans.sort()
        start.append(spans[0][0] - skews[k])
        between.append(sum(b2[0] - b1[1] for b1, b2 in zip(spans, spans[1:])))
        over.append(sum((b - a) - asked for a, b, asked in spans))
        tail.append(makespan - spans[-1][1])
        units.append(len(spans))
    m = statistics.mean
    return {"start": m(start), "between": m(between), "over": m(over), "tail": m(tail),
            "units": m(units), "slots": len(by), "tail_max": max(tail)}


def noise_mode(ptest, rounds):
    """With PTEST_BIN_BEFORE set, each round runs the queue with that binary too, in turns with
    this one's, so the two are compared in the same rounds."""
    redis = Redis()
    before = os.environ.get("PTEST_BIN_BEFORE")
    modes = ["static", "queue"] + (["before"] if before else [])
    print(f"### noise: 200 W2-like suites, sigma 0.3 noise, skew <= 20 % of a share, one machine "
          f"30 % slower; {WORKERS} workers a machine; load {os.getloadavg()[0]:.1f}\n")
    print("| N | mode | makespan (median) | / fluid bound (median, worst) | / bound on the "
          "suites' measured times (median) | rounds |")
    print("|---|---|---|---|---|---|")
    details = {}
    for n in NOISE_N:
        rows = {m: [] for m in modes}
        for r in range(rounds):
            for mode in modes[r % len(modes):] + modes[:r % len(modes)]:
                binary = before if mode == "before" else ptest
                wall, bound, count, went = one_round(binary, "static" if mode == "static"
                                                     else "queue", n, 100 + r, redis)
                assert count == 200, f"{mode} ran {count} suites"
                rows[mode].append((wall, wall / bound, bound, went))
        for mode in modes:
            ratios = [x[1] for x in rows[mode]]
            measured = statistics.median(x[0] / x[3]["measured"] for x in rows[mode])
            print(f"| {n} | {mode} | {statistics.median(x[0] for x in rows[mode]):.2f} s | "
                  f"{statistics.median(ratios):.3f} ({max(ratios):.3f}) | {measured:.3f} | "
                  f"{rounds} |")
        wins = sum(q[0] < s[0] for q, s in zip(rows["queue"], rows["static"]))
        print(f"| {n} | queue below static | {wins} of {rounds} rounds | | | |")
        if before:
            ratios = [q[0] / b[0] for q, b in zip(rows["queue"], rows["before"])]
            print(f"| {n} | queue / before, same round | {statistics.median(ratios):.3f} "
                  f"({min(ratios):.3f} to {max(ratios):.3f}) | | | |")
        details[n] = rows
    print("\nWhere the queue's time went beyond the fluid bound, per round: seconds of a worker "
          "(means over the workers), each also as a share of the bound; units a worker ran.\n")
    print("| N | mode | round | load | makespan / bound | bound | / bound on measured | start | "
          "between suites | over the sleeps | tail (worst) | units a worker | XREAD calls | "
          "script calls |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, by_mode in details.items():
        for mode in modes:
            for r, (wall, ratio, bound, w) in enumerate(by_mode[mode]):
                share = lambda x: f"{x:.3f} s ({x / bound * 100:.1f} %)"  # noqa: E731
                print(f"| {n} | {mode} | {r + 1} | {w['load']:.1f} | {ratio:.3f} | {bound:.2f} s | "
                      f"{wall / w['measured']:.3f} | {share(w['start'])} | "
                      f"{share(w['between'])} | {share(w['over'])} | {w['tail']:.3f} s "
                      f"({w['tail_max']:.3f} s) | {w['units']:.1f} | {w['reads']} | "
                      f"{w['scripts']} |")
    redis.stop()


def kill_mode(ptest, rounds):
    redis = Redis()
    n = 4
    lease = 2.0
    print(f"### kill: N = {n}, one machine SIGKILLed at 40 % of the run, lease {lease:.0f} s; "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| round | makespan | without the kill | growth | bound (leased work + lease) | "
          "every unit once |")
    print("|---|---|---|---|---|---|")
    secs = gen_config.w2_durations(200, 7)
    for r in range(rounds):
        results = {}
        for killed in (False, True):
            run = f"kill-{r}-{killed}-{time.time_ns()}"
            folders = []
            for k in range(n):
                f = WORK / f"m{k + 1}"
                workload(f, secs, [1.0] * len(secs))
                folders.append(f)
            sup = subprocess.Popen([ptest, "merge", "--queue", redis.url, "--queue-run", run,
                                    "--wait", "--queue-lease", f"{lease}s", "-o",
                                    str(WORK / "merged.json")], env=clean_env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            t0 = time.time()
            procs = [start_machine(ptest, f, k + 1, n, "queue", redis.url, run,
                                   extra=("--queue-lease", f"{lease}s"))
                     for k, f in enumerate(folders)]
            leased = 0.0
            if killed:
                time.sleep(0.4 * sum(secs) / n / WORKERS)
                # What the victim holds: its probes' sleeps still running (from its log dir's
                # attempts is not known outside; count the suites it started and did not end).
                procs[1].send_signal(signal.SIGKILL)
                procs[1].wait()
            for p in procs:
                p.wait()
            sup.wait()
            merged = json.loads((WORK / "merged.json").read_text())
            names = [s["name"] for s in merged["suites"]]
            once = len(names) == len(set(names)) == 200 and all(
                s["status"] == "passed" for s in merged["suites"])
            last = max(s["end_time"] for s in merged["suites"])
            if killed:
                # The victim's leased work: the longest units it could hold (W at once).
                leased = sum(sorted(secs)[-WORKERS:])
            results[killed] = (last - t0, once, leased)
        growth = results[True][0] - results[False][0]
        bound = results[True][2] + lease
        print(f"| {r + 1} | {results[True][0]:.2f} s | {results[False][0]:.2f} s | "
              f"{growth:+.2f} s | {bound:.2f} s | {results[True][1] and results[False][1]} |")
    redis.stop()


def zero_config(folder, count):
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    lines = [f"ptest.config {{ workers = {WORKERS} }}"]
    lines.append(f'for i = 1, {count} do ptest.suite {{ name = string.format("z%05d", i), '
                 f'cmd = {{ "true" }} }} end')
    (folder / "ptest.lua").write_text("\n".join(lines) + "\n")


def cost_mode(ptest, rounds):
    redis = Redis()
    n = 4
    print(f"### cost: 1,000 zero-length suites over {n} machines of {WORKERS} workers; "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| round | static wall | queue wall | extra per unit (wall x slots / units) |")
    print("|---|---|---|---|")
    per = []
    for r in range(rounds):
        walls = {}
        for mode in (("static", "queue") if r % 2 == 0 else ("queue", "static")):
            run = f"cost-{r}-{time.time_ns()}"
            folders = []
            for k in range(n):
                f = WORK / f"m{k + 1}"
                zero_config(f, 1000)
                folders.append(f)
            t0 = time.time()
            procs = [start_machine(ptest, f, k + 1, n, mode, redis.url, run, extra=("--no-history",))
                     for k, f in enumerate(folders)]
            for p in procs:
                p.wait()
            walls[mode] = time.time() - t0
        extra = (walls["queue"] - walls["static"]) * n * WORKERS / 1000
        per.append(extra)
        print(f"| {r + 1} | {walls['static']:.2f} s | {walls['queue']:.2f} s | "
              f"{extra * 1000:.2f} ms |")
    print(f"\nmedian extra per unit: {statistics.median(per) * 1000:.2f} ms\n")
    base = redis.used_memory()
    run = f"mem-{time.time_ns()}"
    folders = []
    for k in range(n):
        f = WORK / f"m{k + 1}"
        zero_config(f, 10000)
        folders.append(f)
    procs = [start_machine(ptest, f, k + 1, n, "queue", redis.url, run, extra=("--no-history",))
             for k, f in enumerate(folders)]
    for p in procs:
        p.wait()
    used = redis.used_memory() - base
    print(f"Redis memory for a 10,000-unit run (plan, results, events): {used / 1e6:.1f} MB")
    redis.stop()


def layer_gaps(spans, layers, width):
    """Per layer after the first: from the last end of the layer before to the first and to the
    last start of this one (ms), medians over the layers; and what the run took beyond its
    suites' own critical path (each layer's longest suite as measured), per layer (ms)."""
    first, last = [], []
    for layer in range(1, layers):
        ready = max(spans[f"l{layer - 1}-{j}"][1] for j in range(width))
        starts = [spans[f"l{layer}-{i}"][0] for i in range(width)]
        first.append((min(starts) - ready) * 1000)
        last.append((max(starts) - ready) * 1000)
    own = sum(max(spans[f"l{layer}-{i}"][1] - spans[f"l{layer}-{i}"][0] for i in range(width))
              for layer in range(layers))
    wall = max(s[1] for s in spans.values()) - min(s[0] for s in spans.values())
    return statistics.median(first), statistics.median(last), (wall - own) * 1000 / layers


def dag_mode(ptest, rounds):
    """With PTEST_BIN_BEFORE set, each round runs the queue with that binary too, right before
    this one's, so the two are compared in the same rounds."""
    redis = Redis()
    n = 4
    layers, width, secs = 10, 5, 0.2
    bins = [("this", ptest)]
    if os.environ.get("PTEST_BIN_BEFORE"):
        bins.insert(0, ("before", os.environ["PTEST_BIN_BEFORE"]))
    print(f"### dag: {layers} layers of {width} suites of {secs} s, each depending on every suite "
          f"of the layer before, over {n} machines; load {os.getloadavg()[0]:.1f}\n")
    print("Layer gaps: from the last end of a layer to the first and the last start of the next "
          "(ms, median over the layers); beyond: the makespan less the suites' own critical path "
          "(each layer's longest suite as measured), per layer (ms); scripts: the store's script "
          "calls in the round, and their mean time in the server.\n")
    print("| round | binary | load | makespan | ratio to the critical path | layer gap first/last "
          "start | beyond | scripts (us each) | order held | one machine of "
          f"{n * WORKERS} workers, no queue: ratio | its layer gap first/last | beyond |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in range(rounds):
        for label, binary in bins:
            run = f"dag-{r}-{label}-{time.time_ns()}"
            folders = []
            for k in range(n):
                f = WORK / f"m{k + 1}"
                shutil.rmtree(f, ignore_errors=True)
                f.mkdir(parents=True)
                lines = [f"ptest.config {{ workers = {WORKERS} }}"]
                for layer in range(layers):
                    for i in range(width):
                        deps = ", ".join(f'"l{layer - 1}-{j}"' for j in range(width)) if layer else ""
                        lines.append(f'ptest.suite {{ name = "l{layer}-{i}", cmd = "sleep {secs}", '
                                     f'depends_on = {{ {deps} }} }}')
                (f / "ptest.lua").write_text("\n".join(lines) + "\n")
                folders.append(f)
            load = os.getloadavg()[0]
            redis.command("CONFIG", "RESETSTAT")
            procs = [start_machine(binary, f, k + 1, n, "queue", redis.url, run,
                                   extra=("--no-history",))
                     for k, f in enumerate(folders)]
            for p in procs:
                p.wait()
            calls, each = redis.script_calls()
            spans = {}
            for f in folders:
                for s in ends(f):
                    if s.get("start_time"):
                        spans[s["name"]] = (s["start_time"], s["end_time"])
            held = len(spans) == layers * width and all(
                spans[f"l{layer - 1}-{j}"][1] <= spans[f"l{layer}-{i}"][0]
                for layer in range(1, layers) for i in range(width) for j in range(width))
            first = min(s[0] for s in spans.values())
            last = max(s[1] for s in spans.values())
            cp = layers * secs
            gap = layer_gaps(spans, layers, width) if held else (float("nan"),) * 3
            # The same DAG on one machine with as many workers, no queue: what starting the
            # processes costs per layer at this load, without the store.
            alone = folders[0]
            (alone / "ptest.lua").write_text((alone / "ptest.lua").read_text().replace(
                f"workers = {WORKERS} }}", f"workers = {n * WORKERS} }}"))
            shutil.rmtree(alone / "logs", ignore_errors=True)
            subprocess.run([binary, "-q", "--log-dir", "logs", "--no-history"], cwd=alone,
                           env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = ends(alone)
            b0 = min(s["start_time"] for s in base)
            b1 = max(s["end_time"] for s in base)
            bspans = {s["name"]: (s["start_time"], s["end_time"]) for s in base}
            bgap = layer_gaps(bspans, layers, width)
            print(f"| {r + 1} | {label} | {load:.1f} | {last - first:.2f} s | {(last - first) / cp:.3f} "
                  f"| {gap[0]:.1f} / {gap[1]:.1f} | {gap[2]:.1f} | {calls} ({each:.0f}) | {held} "
                  f"| {(b1 - b0) / cp:.3f} | {bgap[0]:.1f} / {bgap[1]:.1f} | {bgap[2]:.1f} |",
                  flush=True)
    redis.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["noise", "kill", "cost", "dag"])
    ap.add_argument("-r", "--rounds", type=int, default=5)
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    ptest = ptest_binary()
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}\n")
    {"noise": noise_mode, "kill": kill_mode, "cost": cost_mode, "dag": dag_mode}[a.mode](ptest, a.rounds)


if __name__ == "__main__":
    main()
