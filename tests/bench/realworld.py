#!/usr/bin/env python3
"""Real test suites: ptest's presets against what teams already use.

    python3 tests/bench/realworld.py networkx [-r 3] [-j 2]
    python3 tests/bench/realworld.py projects [-r 1] [--only attrs,click]
    python3 tests/bench/realworld.py cargo [-r 3] [--only 4,history]

networkx: a venv made here from PyPI with networkx, pytest and pytest-xdist; networkx's own
tests (shipped in its wheel) copied into a work folder. Per round, in an order that rotates:
pytest serial, pytest -n J (xdist, load), pytest -n J --dist worksteal (xdist's workers in
sessions of their own in every mode, as ptest's parts are: see XDIST_SESSIONS), ptest with the pytest
preset at -j J without history, and again with the history the first run wrote. Also
`ptest list` on that config (hyperfine when present).

projects: real Python projects' own test suites (their sdists from PyPI, unpacked and installed
into a venv made here; two run by path from a virtualenv and from build/lib), each with a
one-line ptest.lua (the pytest preset, nothing else), against plain pytest and pytest -n J: the
outcome of every test (JUnit) of ptest's first run and of the three after it (with history)
compared with plain pytest's, and the wall times.

cargo: ptest's own test binaries (built once with `cargo test --no-run`) through the cargo
preset against `cargo nextest run`, at -j 2 and -j 4.

suites: three suites from PyPI wheels, in one venv made here (numpy, sympy, networkx, pytest,
pytest-xdist, hypothesis): networkx (pure Python), numpy's linalg, fft, polynomial, matrixlib
and random (C extensions, heavy imports) and sympy's sets, logic, printing and combinatorics
(pure Python, heavy collection). Per round, in an order that rotates: pytest -n J (each worker
in a session of its own, as ptest's parts are: Linux shares the CPU between sessions first),
ptest's first run (no history), its second (with that history), and a second run with the warm
start off (PTEST_PYTEST_WARM=0; not with --no-off). numpy's runs, both tools', have OPENBLAS_NUM_THREADS=1.
Wall time and CPU time (user + sys of the whole tree, from wait4) beside each, the load average
at each round, the fixed cost per part ptest learned (`BATCH[]` in its history), and each ptest
run's outcomes compared with pytest -n J's test by test. Per ptest run also its parts, how far
apart the workers' last parts ended (the report's end times), and where each part's start went
(the `ptest: this part's start:` line its log ends with).

Medians (min-max) of the rounds and the median of the per-round ratios to xdist / nextest.
"""

import argparse
import json
import os
import re
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
    # A binary built elsewhere (another checkout's, while this one is busy).
    if os.environ.get("PTEST_BENCH_BIN"):
        return Path(os.environ["PTEST_BENCH_BIN"])
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
    xenv = xdist_sessions(env)
    # The outcome of every test, compared at the end: pytest serial's JUnit and ptest's own.
    plain_xml, ours_xml = WORK / "nx-pytest.xml", WORK / "nx-ptest.xml"
    serial = base + ["-o", "junit_family=xunit1", f"--junitxml={plain_xml}"]
    tools = {
        "pytest serial": lambda: timed(serial, proj, env),
        f"pytest -n {jobs} (xdist)": lambda: timed(
            base + ["-p", "xdist_sessions", "-n", str(jobs)], proj, xenv),
        f"pytest -n {jobs} --dist worksteal": lambda: timed(
            base + ["-p", "xdist_sessions", "-n", str(jobs), "--dist", "worksteal"], proj, xenv),
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
        b = timed(cmd + ["--junit", str(ours_xml)], proj, env)
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
    if plain_xml.exists() and ours_xml.exists():
        a, b = junit_outcomes(plain_xml), junit_outcomes(ours_xml)
        diff = compare(a, b)
        print(f"\noutcomes: pytest serial {counts(a)}; ptest {counts(b)}; "
              f"{len(diff)} tests differ")
        for line in diff[:20]:
            print(line)
    # ptest list on this config.
    if shutil.which("hyperfine"):
        out = WORK / "list.json"
        sh(["hyperfine", "-N", "-w", "3", "-r", "20", "--export-json", str(out),
            f"{ptest} list {proj / 'ptest.lua'}"], stdout=subprocess.DEVNULL,
           stderr=subprocess.DEVNULL)
        m = json.loads(out.read_text())["results"][0]
        print(f"\n`ptest list` on it: median {m['median'] * 1000:.0f} ms "
              f"(min {m['min'] * 1000:.0f} ms, 20 runs)")


def junit_outcomes(path):
    """{test id: outcome} from a JUnit file (pytest's, or ptest's own: the batch's testsuite); a
    test id the file holds more than once is there once more per copy, `NAME (copy 2)`."""
    import xml.etree.ElementTree as ET
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name, cls = case.get("name") or "", case.get("classname") or ""
        if case.get("file") is None or re.fullmatch(re.escape(cls) + r"\[\d+\]", name):
            continue  # ptest's testcase of a whole part, "pytest[2]" (pytest's all have `file`)
        # Not `file`: pytest's is where the test function is defined (a base class's file for
        # an inherited test), ptest's the file that collected it; classname and name are both
        # made from the test's node id.
        key = (case.get("classname") or "", case.get("name") or "")
        # A test reported twice is not the same as once: each copy after the first its own key.
        n = 1
        while key in out:
            n += 1
            key = (cls, f"{name} (copy {n})")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
        out[key] = outcome
    return out


def counts(outcomes):
    c = {}
    for o in outcomes.values():
        c[o] = c.get(o, 0) + 1
    return " ".join(f"{c.get(k, 0)} {k}" for k in ("passed", "failed", "error", "skipped"))


def compare(plain, ours):
    """Tests whose outcome differs, as lines."""
    lines = []
    for k in sorted(set(plain) | set(ours)):
        a, b = plain.get(k, "absent"), ours.get(k, "absent")
        if a != b:
            lines.append(f"  {'::'.join(x for x in k if x)}: pytest {a}, ptest {b}")
    return lines


# name, PyPI requirement, what its tests need besides pytest; and optionally `layout`:
# "sdist" (the default: the sdist unpacked, its own settings, tests from its root), "venv" (the
# package installed from its wheel into a virtualenv `.venv` in the work folder, its tests run
# by their path inside it) or "build" (the wheel installed into `build/lib`, as a build leaves
# it, its tests run by path); `venv`: a virtualenv of its own (plugins that would change the
# other projects' runs); `why`: what makes its collection awkward.
PROJECTS = [
    dict(name="attrs", req="attrs==26.1.0", deps=["hypothesis", "pympler", "cloudpickle"]),
    dict(name="boltons", req="boltons==26.2.0", deps=[]),
    dict(name="click", req="click==8.5.1", deps=[]),
    dict(name="jinja2", req="jinja2==3.1.6", deps=["trio"]),
    dict(name="more-itertools", req="more-itertools==11.2.1", deps=[]),
    dict(name="packaging", req="packaging==26.4", deps=["pretend", "tomli_w", "hypothesis"]),
    # pytest-cov registers the no_cover mark its conftest.py adds (with filterwarnings = error,
    # an unknown mark is pytest's INTERNALERROR, exit 3, in every run or part with an xfail).
    dict(name="python-dateutil", req="python-dateutil==4.0.0",
         deps=["freezegun", "hypothesis", "pytest-cov"]),
    dict(name="toolz", req="toolz==1.2.0", deps=[]),
    # Most of its tests are inherited from mixins in tests/__init__.py (pytest's `file` is that
    # file, not the test module's); and pytest 9's subtests.
    dict(name="cachetools", req="cachetools==8.0.2", deps=[]),
    # Its tests are in testing/, its settings in tox.ini.
    dict(name="pluggy", req="pluggy==1.7.0", deps=[]),
    dict(name="babel", req="babel==2.19.0", deps=["freezegun", "pytz", "jinja2", "setuptools"],
         why="its root conftest.py collects the doctests of every babel/*.py module through "
             "pytest_collect_file; collect_ignore of a file and a folder"),
    dict(name="pyparsing", req="pyparsing==3.3.3", deps=["railroad-diagrams", "jinja2"],
         why="order-dependent classes in one 11,690-line file (Test03 enables packrat parsing, "
             "later classes inherit 1,000 tests each and run with it on); module-level skips"),
    dict(name="structlog", req="structlog==26.1.0",
         deps=["pytest-asyncio", "simplejson", "time-machine", "freezegun", "pretend"],
         venv="structlog",
         why="xfail_strict, --import-mode=importlib, a module-level skip (twisted), async tests"),
    dict(name="toolz-venv", req="toolz==1.2.0", deps=[], layout="venv",
         why="the tests of a package installed in a virtualenv (.venv), run by their path "
             "through it"),
    dict(name="simplejson-build", req="simplejson==4.3.0", deps=[], layout="build",
         why="unittest-style tests in build/lib (a folder pytest leaves out unless given), "
             "run by path"),
]


def make_venv(venv, deps):
    py = venv / "bin" / "python"
    if not py.exists():
        sh([sys.executable, "-m", "venv", str(venv)])
        sh([str(py), "-m", "pip", "install", "-q", "pytest", "pytest-xdist", "hatchling",
            "hatch-vcs", "flit_core", "setuptools", "setuptools_scm", "wheel"])
    if deps:
        sh([str(py), "-m", "pip", "install", "-q"] + sorted(deps))
    return py


def site_packages(py):
    return subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()


def projects_setup(only):
    """Per project: (name, its folder, its Python, the paths given to pytest and ptest)."""
    chosen = [p for p in PROJECTS if not only or p["name"] in only]
    shared = [p for p in chosen if not p.get("venv")]
    py = make_venv(WORK / "proj-venv", {d for p in shared for d in p["deps"]})
    out = []
    for spec in chosen:
        name, req = spec["name"], spec["req"]
        proj = WORK / "projects" / name
        ppy = make_venv(WORK / (spec["venv"] + "-venv"), spec["deps"]) if spec.get("venv") else py
        layout = spec.get("layout", "sdist")
        if layout == "venv":
            # A virtualenv of its own inside the project folder: pytest and the package.
            proj.mkdir(parents=True, exist_ok=True)
            vpy = make_venv(proj / ".venv", [])
            sh([str(vpy), "-m", "pip", "install", "-q", "--only-binary", ":all:", req])
            rel = os.path.relpath(site_packages(vpy), proj)
            out.append((name, proj, vpy, [f"{rel}/{req.split('==')[0]}/tests"]))
            continue
        if layout == "build":
            lib = proj / "build" / "lib"
            if not (lib / req.split("==")[0]).exists():
                sh([str(py), "-m", "pip", "install", "-q", "--no-deps", "--target", str(lib), req])
            out.append((name, proj, py, [f"build/lib/{req.split('==')[0]}/tests"]))
            continue
        if not (proj / ".installed").exists():
            sd = WORK / "sdists"
            sd.mkdir(parents=True, exist_ok=True)
            base = req.replace("-", "_").replace("==", "-").lower() + ".tar.gz"

            def sdist():
                return next((f for f in sd.glob("*.tar.gz") if f.name.lower() == base), None)

            if sdist() is None:
                sh([str(ppy), "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
                    "-d", str(sd), req])
            tar = sdist()
            shutil.rmtree(proj, ignore_errors=True)
            proj.parent.mkdir(parents=True, exist_ok=True)
            tmp = WORK / "projects" / (name + ".unpack")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.unpack_archive(tar, tmp)
            (inner,) = tmp.iterdir()
            inner.rename(proj)
            tmp.rmdir()
            # Installed as a user would for its tests (src layouts import the installed copy).
            sh([str(ppy), "-m", "pip", "install", "-q", str(proj)])
            (proj / ".installed").write_text("")
        out.append((name, proj, ppy, []))
    return out


def bench_projects(rounds, jobs, only):
    projects = projects_setup(only)
    ptest = ptest_binary()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("CI", None)
    env.pop("PYTEST_ADDOPTS", None)
    load = [os.getloadavg()[0]]
    rows = []
    problems = []
    for name, proj, py, paths in projects:
        given = "".join(f', paths = {{ "{p}" }}' for p in paths)
        (proj / "ptest.lua").write_text(
            f'require("ptest.presets.pytest").batch {{ python = "{py}"{given} }}\n')
        junit = WORK / "projects" / f"{name}-pytest.xml"
        ours = WORK / "projects" / f"{name}-ptest.xml"
        plain = [str(py), "-m", "pytest", "-p", "no:cacheprovider"]
        xml = ["-o", "junit_family=xunit1"]
        run = [str(ptest), "-j", str(jobs), "-q", "--log-dir", str(WORK / f"{name}-logs")]
        hist = proj / ".ptest" / "history.json"
        times = {k: [] for k in ("serial", "xdist", "cold", "warm")}
        codes = {}
        # The comparison with plain pytest of ptest's first run (no history) and of the three
        # after it (with the history each leaves): "same" when every test id and outcome is.
        verdicts = []
        for r in range(rounds):
            for f in (junit, ours):
                if f.exists():
                    f.unlink()
            t, codes["serial"] = timed(plain + xml + [f"--junitxml={junit}"] + paths, proj, env)
            times["serial"].append(t)
            t, codes["xdist"] = timed(plain + ["-p", "xdist_sessions", "-n", str(jobs)] + paths,
                                      proj, xdist_sessions(env))
            times["xdist"].append(t)
            if not junit.exists():
                problems.append(f"{name}: plain pytest wrote no JUnit (exit {codes['serial']})")
                break
            a = junit_outcomes(junit)
            if hist.exists():
                hist.unlink()
            for k in range(4):
                if ours.exists():
                    ours.unlink()
                kind = "cold" if k == 0 else "warm"
                t, codes[kind] = timed(run + ["--junit", str(ours)], proj, env)
                if k <= 1:
                    times[kind].append(t)
                b = junit_outcomes(ours) if ours.exists() else {}
                diff = compare(a, b)
                verdicts.append(len(diff))
                if diff:
                    problems.append(f"{name}, round {r + 1}, ptest run {k + 1}: {len(diff)} tests "
                                    "differ\n" + "\n".join(diff[:20]))
            print(f"{name} round {r + 1}: " + ", ".join(
                f"{k} {v[-1]:.1f} s exit {codes[k]}" for k, v in times.items() if v)
                + f"; differ: {verdicts[-4:]}", file=sys.stderr, flush=True)
        load.append(os.getloadavg()[0])
        if not times["warm"]:
            continue
        listing = json.loads(subprocess.run(
            [str(ptest), "list", "--format", "json"], cwd=proj, env=env, check=True,
            capture_output=True, text=True).stdout)
        parts = listing["suites"]
        files = sum(len(s["batch"]["items"]) for s in parts)
        sliced = sum(1 for s in parts for i in s["batch"]["items"] if i.get("slice"))
        med = {k: statistics.median(v) for k, v in times.items()}
        same = "same ×4" if not any(verdicts) else "differ: " + ",".join(map(str, verdicts))
        rows.append(
            f"| {name} | {files} items, {len(parts)} parts{f', {sliced} slices' if sliced else ''} | "
            f"{counts(a)} | {same} | {med['serial']:.1f} s | "
            f"{med['xdist']:.1f} s | {med['cold']:.1f} s | {med['warm']:.1f} s | "
            f"{med['warm'] / med['xdist']:.2f}x | "
            + " ".join(f"{k} {c}" for k, c in codes.items()) + " |")
    print(f"\n### real projects, {rounds} round(s), -j {jobs}, load {min(load):.1f}-{max(load):.1f}\n")
    print("| project | items, parts (after the runs) | pytest's outcomes | ptest's, runs 1-4 | "
          f"pytest | pytest -n {jobs} | ptest first | ptest second | second / xdist | exit codes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    for p in problems:
        print("\n" + p)


# ptest's own tests that fail only when they run inside a ptest run (an outer ptest adopts
# orphans as subreaper, gives each suite a private TMPDIR and its PTEST_SOCKET): left out of
# both runners, so that both run the same tests.
CARGO_UNDER_PTEST_ONLY = [
    "platforms::the_linux_path_adopts_orphans_and_the_portable_one_does_not",
    "processes::a_start_refused_by_the_process_limit_waits_and_retries",
    "limits::acquire_outside_a_run_and_timeouts",
]

CARGO_CONFIG = """require("ptest.presets.cargo").batch {{
  name = "rust", dir = "{root}", doc = false, skip = {{ {skip} }},
}}
"""


def cargo_report(logs):
    """The summary of the ptest run whose logs are in `logs`."""
    try:
        r = json.loads((logs / "test-report.json").read_text())
        return r["summary"]
    except (OSError, ValueError, KeyError):
        return None


def bench_cargo(rounds, only):
    """ptest's own tests: `cargo nextest run -j J` against the cargo preset at -j J, without
    history (--no-history: the tests split evenly) and with the history of earlier runs (each
    test's duration), J = 2 and 4 (`--only 4,history`: only those), in rotating rounds after one
    untimed run of each."""
    ptest = ptest_binary()
    sh(["cargo", "test", "--no-run", "-q"], cwd=ROOT)
    sh(["cargo", "nextest", "list"], cwd=ROOT, stdout=subprocess.DEVNULL,
       stderr=subprocess.DEVNULL)
    cfg = WORK / "cargo-ptest.lua"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(CARGO_CONFIG.format(
        root=ROOT, skip=", ".join(json.dumps(t) for t in CARGO_UNDER_PTEST_ONLY)))
    nextest_filter = "not (" + " | ".join(f"test(={t})" for t in CARGO_UNDER_PTEST_ONLY) + ")"
    env = dict(os.environ)
    env.pop("CI", None)
    logs = WORK / "cargo-logs"
    runs = []
    jobs = [j for j in (2, 4) if not only or str(j) in only]
    kinds = [k for k in ("no history", "history") if not only or k in only] or ["no history", "history"]
    for j in jobs:
        runs.append((f"cargo nextest run -j {j}",
                     ["cargo", "nextest", "run", "-j", str(j), "--no-fail-fast",
                      "-E", nextest_filter], ROOT))
        base = [str(ptest), str(cfg), "-j", str(j), "-q", "--log-dir", str(logs)]
        if "no history" in kinds:
            runs.append((f"ptest cargo preset -j {j}, no history", base + ["--no-history"], WORK))
        if "history" in kinds:
            hist = WORK / f"cargo-history-j{j}.json"
            if hist.exists():
                hist.unlink()
            runs.append((f"ptest cargo preset -j {j}, history", base + ["--history", str(hist)],
                         WORK))
    times = {name: [] for name, _, _ in runs}
    outcome = {}

    def one(name, cmd, cwd):
        # Each run's output in WORK/cargo-NAME.out (nextest's has each test's time).
        out = WORK / ("cargo-" + "".join(ch if ch.isalnum() else "-" for ch in name) + ".out")
        with open(out, "w") as f:
            t0 = time.monotonic()
            c = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
            t = time.monotonic() - t0
        said = f"exit {c}"
        if name.startswith("ptest"):
            s = cargo_report(logs)
            if s:
                said += f", {s.get('passed')} suites passed, {s.get('failed')} failed"
        outcome[name] = said
        return t

    # Untimed: the page cache, and the history's first record.
    for name, cmd, cwd in runs:
        one(name, cmd, cwd)
        print(f"warm-up: {name}: {outcome[name]}", file=sys.stderr, flush=True)
    for r in range(rounds):
        order = runs[r % len(runs):] + runs[:r % len(runs)]
        for name, cmd, cwd in order:
            t = one(name, cmd, cwd)
            times[name].append(t)
            print(f"round {r + 1}: {name}: {t:.1f} s {outcome[name]}", file=sys.stderr,
                  flush=True)
    print(f"\n### ptest's own tests, {rounds} rounds\n")
    print("| run | wall: median (min-max) | / nextest, same rounds |\n|---|---|---|")
    for j in jobs:
        nx = times[f"cargo nextest run -j {j}"]
        print(summary(f"cargo nextest run -j {j}", nx) + f" {outcome[f'cargo nextest run -j {j}']}")
        for kind in kinds:
            name = f"ptest cargo preset -j {j}, {kind}"
            print(summary(name, times[name], nx) + f" {outcome[name]}")
    # The preset's cost while the config is read: cargo's up-to-date check and the listing.
    t = [timed([str(ptest), "list", str(cfg)], WORK, env)[0] for _ in range(5)]
    print(f"\n`ptest list` on it (cargo test --no-run up to date, {len(t)} runs): "
          f"median {statistics.median(t) * 1000:.0f} ms")


def timed_cpu(cmd, cwd, env=None):
    """Wall seconds, CPU seconds (user + sys of the tree: wait4 counts reaped descendants), exit."""
    t = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - t, ru.ru_utime + ru.ru_stime, p.returncode


SUITES = {
    "networkx": dict(pkg="networkx", paths=["networkx"]),
    # One BLAS thread per process for both tools: OpenBLAS otherwise starts a thread per core in
    # each of the J workers, and its tests that hand work between them (test_linalg.py,
    # test_regression.py's test_openblas_threading) then wait on the scheduler: on the loaded
    # 2-core machine that one test took 20-96 s in any tool, as a fork or fresh, and made up
    # most of a run's wall time.
    "numpy": dict(pkg="numpy", extra=["numpy.libs"], env={"OPENBLAS_NUM_THREADS": "1"},
                  paths=["numpy/linalg", "numpy/fft", "numpy/polynomial", "numpy/matrixlib",
                         "numpy/random"]),
    "sympy": dict(pkg="sympy", paths=["sympy/sets", "sympy/logic", "sympy/printing",
                                      "sympy/combinatorics"]),
}


# pytest -n J's workers each lead a session of their own, as ptest's parts do. Linux shares the
# CPU between sessions (autogroups) before it shares it between their processes: on a machine
# busy with other sessions, workers left in pytest's session split one share between them while
# each of ptest's parts had a share of its own, and the wall times compared the shares.
XDIST_SESSIONS = """import os
def pytest_configure(config):
    if hasattr(config, "workerinput"):
        try:
            os.setsid()
        except OSError:
            pass
"""


def xdist_sessions(env):
    """`env` with the xdist_sessions plugin (above) importable: pytest -n J then runs with
    `-p xdist_sessions`, in every mode that compares with xdist."""
    (WORK / "xdist_sessions").mkdir(parents=True, exist_ok=True)
    (WORK / "xdist_sessions" / "xdist_sessions.py").write_text(XDIST_SESSIONS)
    return dict(env, PYTHONPATH=str(WORK / "xdist_sessions"))


def suites_setup():
    venv = WORK / "num-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        sh([sys.executable, "-m", "venv", str(venv)])
        sh([str(py), "-m", "pip", "install", "-q", "numpy", "sympy", "networkx", "pytest",
            "pytest-xdist", "hypothesis"])
    site = Path(site_packages(py))
    for name, spec in SUITES.items():
        proj = WORK / f"{name}-suite"
        for d in [spec["pkg"]] + spec.get("extra", []):
            if not (proj / d).exists():
                proj.mkdir(parents=True, exist_ok=True)
                shutil.copytree(site / d, proj / d)
    return py


START = re.compile(r"^ptest: this part's start: (?:([0-9.]+) s waiting for its warm process, "
                   r"([0-9.]+) s from the fork to pytest's session|([0-9.]+) s to pytest's session)"
                   r"; ([0-9.]+) s collecting, first test ([0-9.]+) s after it started; "
                   r"([0-9.]+) s after pytest's session(?:; its interpreter took ([0-9.]+) s to start)?")


HANDED = re.compile(r"^ptest: handed on to another part: (.*)$")


def part_starts(logs):
    """From a run's report and part logs: the parts' count, each worker's last end (the gap
    between the last and the first to end, seconds), per part (waited for the warm process,
    to pytest's session after the fork or the start, collecting, after the session, the
    interpreter's start when the line gives it), and how many files parts handed on to others
    (docs/batches.md, "Items handed on")."""
    try:
        report = json.loads((logs / "test-report.json").read_text())
    except (OSError, ValueError):
        return 0, None, [], 0
    ends, starts, handed = {}, [], 0
    for suite in report.get("suites", []):
        if suite.get("worker") is not None and suite.get("end_time"):
            ends[suite["worker"]] = max(ends.get(suite["worker"], 0), suite["end_time"])
        try:
            text = Path(suite.get("log_file") or "").read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            h = HANDED.match(line)
            if h:
                handed += len(h.group(1).split(", "))
            m = START.match(line)
            if m:
                w, fork, fresh, coll, _, after, born = m.groups()
                starts.append((float(w or 0), float(fork or fresh), float(coll), float(after),
                               float(born) if born else None))
    gap = max(ends.values()) - min(ends.values()) if len(ends) > 1 else None
    return len(report.get("suites", [])), gap, starts, handed


def bench_suites(rounds, jobs, only, warmup=True, with_off=True):
    py = suites_setup()
    ptest = ptest_binary()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for k in ("CI", "PYTEST_ADDOPTS", "PTEST_PYTEST_WARM"):
        env.pop(k, None)
    base = env
    for name, spec in SUITES.items():
        if only and name not in only:
            continue
        env = dict(base, **spec.get("env", {}))
        off = dict(env, PTEST_PYTEST_WARM="0")
        xenv = xdist_sessions(env)
        proj = WORK / f"{name}-suite"
        paths = spec["paths"]
        (proj / "ptest.lua").write_text(
            'require("ptest.presets.pytest").batch { name = "py", python = "%s", paths = { %s },\n'
            '  args = { "-q", "-p", "no:cacheprovider" } }\n'
            % (py, ", ".join(f'"{p}"' for p in paths)))
        hist = proj / ".ptest" / "history.json"
        xml = lambda f: ["-o", "junit_family=xunit1", f"--junitxml={f}"]
        xdist_xml, ours_xml = WORK / f"{name}-xdist.xml", WORK / f"{name}-ptest.xml"
        xdist = [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "xdist_sessions",
                 "-n", str(jobs)] + paths
        run = [str(ptest), "-j", str(jobs), "-q", "--log-dir", str(WORK / f"{name}-logs"),
               "--junit", str(ours_xml)]
        kinds = ["xdist", "ptest first", "ptest second"] + (["ptest second, warm start off"] if with_off else [])
        wall = {k: [] for k in kinds}
        cpu = {k: [] for k in kinds}
        fixed = {k: [] for k in kinds}
        # Per ptest run: parts, the workers' end gap, and the parts' starts (part_starts).
        shape = {k: [] for k in kinds}
        loads, differ, codes = [], [], {}
        if warmup:
            # One untimed run of each: byte-compiled files and the page cache warm for all.
            timed_cpu(xdist, proj, xenv)
            timed_cpu(run, proj, env)
        for r in range(rounds):
            loads.append(os.getloadavg()[0])
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
            for k in order:
                if k == "xdist":
                    t, c, codes[k] = timed_cpu(xdist + xml(xdist_xml), proj, xenv)
                else:
                    if k == "ptest first" and hist.exists():
                        hist.unlink()
                    elif k != "ptest first" and not hist.exists():
                        timed_cpu(run, proj, env)  # a history for the second runs
                    if ours_xml.exists():
                        ours_xml.unlink()  # no earlier run's JUnit read as this one's
                    t, c, codes[k] = timed_cpu(run, proj, off if "off" in k else env)
                    cost = json.loads(hist.read_text()).get("suites", {}).get("py[]", {}) \
                        if hist.exists() else {}
                    if cost.get("runs"):
                        fixed[k].append(cost["runs"][-1][2])
                    shape[k].append(part_starts(WORK / f"{name}-logs"))
                    if xdist_xml.exists():
                        diff = compare(junit_outcomes(xdist_xml), junit_outcomes(ours_xml)
                                       if ours_xml.exists() else {})
                        differ.append(len(diff))
                wall[k].append(t)
                cpu[k].append(c)
                # Each run's comparison as it completes: a benchmark stopped midway keeps it.
                said_diff = ""
                if k != "xdist" and shape[k] and shape[k][-1][3]:
                    said_diff = f", {shape[k][-1][3]} files handed on between parts"
                if k != "xdist" and xdist_xml.exists():
                    said_diff += f", {len(diff)} tests differ from pytest -n {jobs}" + \
                        "".join("\n" + d for d in diff[:20])
                print(f"{name} round {r + 1} (load {loads[-1]:.1f}): {k}: {t:.1f} s wall, "
                      f"{c:.1f} s CPU, exit {codes[k]}{said_diff}", file=sys.stderr, flush=True)
        loads.append(os.getloadavg()[0])
        said = "".join(f", {k}={v}" for k, v in spec.get("env", {}).items())
        print(f"\n### {name}: {', '.join(paths)}; {rounds} rounds, -j {jobs}{said}, "
              f"load average {min(loads):.1f}-{max(loads):.1f} (uptime's 1-minute figure at each "
              f"round)\n")
        print("| run | wall: median (min-max) | wall / xdist | CPU: median | CPU / xdist | "
              "fixed cost per part | exit |\n|---|---|---|---|---|---|---|")
        for k in kinds:
            wr = [a / b for a, b in zip(wall[k], wall["xdist"])]
            cr = [a / b for a, b in zip(cpu[k], cpu["xdist"])]
            fc = f"{statistics.median(fixed[k]):.2f} s" if fixed[k] else "-"
            print(f"| {k} | {statistics.median(wall[k]):.1f} s ({min(wall[k]):.1f}-"
                  f"{max(wall[k]):.1f}) | {statistics.median(wr):.3f}x | "
                  f"{statistics.median(cpu[k]):.1f} s | {statistics.median(cr):.3f}x | {fc} | "
                  f"{codes[k]} |")
        print(f"\ntests whose outcome differs from pytest -n {jobs}'s, per ptest run: {differ}")
        print("\n| run | parts | workers' last ends apart | waited for the warm process | "
              "fork (or start) to pytest's session | collecting | after the session | "
              "interpreter's start |\n|---|---|---|---|---|---|---|---|")
        med = lambda xs: f"{statistics.median(xs):.2f} s ({min(xs):.2f}-{max(xs):.2f})" if xs else "-"
        for k in kinds[1:]:
            parts = [n for n, _, _, _ in shape[k]]
            handed = [h for _, _, _, h in shape[k]]
            if any(handed):
                parts = f"{parts}, files handed on {handed}"
            gaps = [g for _, g, _, _ in shape[k] if g is not None]
            st = [x for _, _, xs, _ in shape[k] for x in xs]
            waited = [x[0] for x in st if x[0] > 0]
            long = sum(1 for w in waited if w > 0.5)
            print(f"| {k} | {parts} | {med(gaps)} | {med(waited)}, over 0.5 s in {long} of "
                  f"{len(st)} parts "
                  f"| {med([x[1] for x in st])} | {med([x[2] for x in st])} | "
                  f"{med([x[3] for x in st])} | {med([x[4] for x in st if x[4] is not None])} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", choices=["networkx", "projects", "cargo", "suites"])
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true",
                    help="networkx: only xdist and ptest, no untimed first runs")
    ap.add_argument("--only", default="",
                    help="projects, suites: a comma-separated subset; cargo: of 2, 4, "
                         "'no history', 'history'")
    ap.add_argument("--no-warmup", action="store_true",
                    help="suites: no untimed first run of each (the files already byte-compiled)")
    ap.add_argument("--no-off", action="store_true",
                    help="suites: no run with the warm start off (a round of four runs, not five)")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if a.suite == "networkx":
        bench_networkx(a.rounds, a.jobs, a.quick)
    elif a.suite == "suites":
        bench_suites(a.rounds, a.jobs, [x for x in a.only.split(",") if x], not a.no_warmup,
                     not a.no_off)
    elif a.suite == "projects":
        bench_projects(a.rounds, a.jobs, [x for x in a.only.split(",") if x])
    else:
        bench_cargo(a.rounds, [x for x in a.only.split(",") if x])


if __name__ == "__main__":
    main()
