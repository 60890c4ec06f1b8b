#!/usr/bin/env python3
"""How well first guesses predict a test file's duration, without history (issue 29 item 3).

    python3 tests/bench/guesses.py [--only networkx,numpy,sympy] [--parts 4] [--workers 2]

On the suites of `realworld.py suites` (set up by it, in target/bench-realworld): one serial
pytest run each with a JUnit file (kept, reused: `--fresh` runs it again), each test's time
counted for the file that collected it (its classname's module, not `file`, which names the
file that defines an inherited test). Then for each guess: the rank correlation (Spearman) of
the guess with the measured per-file times, and what packing by the guess gives when the real
times are what happens: the files longest-guess-first into PARTS parts (LPT, as ptest packs
without history), the parts onto WORKERS workers longest first, with FIXED seconds per part;
the makespan against the ideal (total / workers).

Guesses: the file's size (what ptest uses); `def test` lines; those plus each parametrize
list's entries (as text: the decorator's lines; and as Python's ast counts them); all equal;
and the real times (the best LPT can do).
"""

import argparse
import ast
import os
import re
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realworld  # noqa: E402

DEF = re.compile(rb"^\s*(?:async\s+)?def\s+test", re.M)


def per_file(junit, root):
    t = defaultdict(float)
    for c in ET.parse(junit).getroot().iter("testcase"):
        parts = (c.get("classname") or "").split(".")
        f = None
        for k in range(len(parts), 0, -1):
            cand = "/".join(parts[:k]) + ".py"
            if os.path.exists(os.path.join(root, cand)):
                f = cand
                break
        f = f or c.get("file")
        if f:
            t[f] += float(c.get("time") or 0)
    return t


def def_tests(src):
    return len(DEF.findall(src))


def params_text(src):
    lines, n, i = src.split(b"\n"), 0, 0
    while i < len(lines):
        if DEF.match(lines[i]):
            n += 1
        if b"parametrize(" in lines[i]:
            depth, j = 0, i
            depth += lines[i].count(b"(") + lines[i].count(b"[") - lines[i].count(b")") - lines[i].count(b"]")
            while depth > 0 and j + 1 < len(lines):
                j += 1
                depth += lines[j].count(b"(") + lines[j].count(b"[") - lines[j].count(b")") - lines[j].count(b"]")
            n += max(0, j - i - 1)
            i = j
        i += 1
    return n


def params_ast(src):
    n = def_tests(src)
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return n
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize"
                and len(node.args) >= 2 and isinstance(node.args[1], (ast.List, ast.Tuple))):
            n += max(0, len(node.args[1].elts) - 1)
    return n


def lpt(weights, parts):
    loads, members = [0.0] * parts, [[] for _ in range(parts)]
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        k = min(range(parts), key=lambda k: loads[k])
        loads[k] += weights[i]
        members[k].append(i)
    return members


def makespan(part_times, workers):
    ends = [0.0] * workers
    for t in sorted(part_times, reverse=True):
        k = min(range(workers), key=lambda k: ends[k])
        ends[k] += t
    return max(ends)


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    out = [0] * len(xs)
    for k, i in enumerate(order):
        out[i] = k
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="")
    ap.add_argument("--parts", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--fixed", type=float, default=2.0)
    ap.add_argument("--fresh", action="store_true")
    a = ap.parse_args()
    py = realworld.suites_setup()
    for name, spec in realworld.SUITES.items():
        if a.only and name not in a.only.split(","):
            continue
        root = realworld.WORK / f"{name}-suite"
        junit = realworld.WORK / f"{name}-serial.xml"
        if a.fresh or not junit.exists():
            subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
                            "junit_family=xunit1", f"--junitxml={junit}"] + spec["paths"],
                           cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        real = per_file(junit, root)
        files = sorted(f for f in real if f.endswith(".py") and (root / f).exists())
        srcs = [(root / f).read_bytes() for f in files]
        r = [real[f] for f in files]
        guesses = {
            "file size (ptest's)": [len(s) for s in srcs],
            "def test lines": [max(1, def_tests(s)) for s in srcs],
            "tests + parametrize (text)": [max(1, params_text(s)) for s in srcs],
            "tests + parametrize (ast)": [max(1, params_ast(s)) for s in srcs],
            "all equal": [1] * len(files),
            "the real times": r,
        }
        ideal = (sum(r) + a.fixed * a.parts) / a.workers
        print(f"\n### {name}: {len(files)} files, {sum(r):.1f} s of tests (serial, load "
              f"{os.getloadavg()[0]:.1f}); {a.parts} parts, {a.workers} workers, {a.fixed} s per part\n")
        print("| guess | Spearman with the real times | makespan / ideal |\n|---|---|---|")
        for g, w in guesses.items():
            parts = [a.fixed + sum(r[i] for i in m) for m in lpt(w, a.parts)]
            rho = statistics.correlation(ranks(w), ranks(r)) if len(set(w)) > 1 else 0.0
            print(f"| {g} | {rho:.2f} | {makespan(parts, a.workers) / ideal:.3f} |")


if __name__ == "__main__":
    main()
