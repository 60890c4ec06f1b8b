#!/usr/bin/env python3
"""Reliability under load (issue 4, item 4), at full size: each case runs the release binary on a
generated ptest.lua and checks what really happened, not only what ptest reports.

    python3 tests/bench/reliability.py            # every case
    python3 tests/bench/reliability.py --only timeouts,sigterm

Cases:
  j256       256 suites of `sleep 1` at -j256: all pass, ptest's own open descriptors sampled
             during the run.
  timeouts   1,000 suites (each `sleep` plus a background `sleep`) killed by a 0.1 s timeout at
             -j64: all timed_out, no process left afterwards.
  names      500 suite names with /, .., spaces, tabs and non-ASCII: distinct safe log files, all
             inside the log folder, nothing written outside it.
  closed     200 suites that close stdout and stderr early and go on, with -v: all pass, each ran
             to its end.
  sigterm    SIGTERM to ptest while 50 suites (and 50 setsid daemons they started) run: exit 130,
             a complete report, no process left.
  verbose64  1,000 suites of `echo; sleep 0.5; printf` at -j256 under `ulimit -n 64` (soft and hard),
             with -q and then -v: how many pass, whether every line (the last without a newline)
             reached the -v output, ptest's peak descriptors in both.
  conns      10,000 connections to the coordinator socket (500 held open at once), each asking
             `acquire api`: all granted, the time, ptest's peak memory.
  longline   a 256 MB request line without a newline: ptest drops the client after 4 KiB
             (`err line too long`); ptest's peak memory before and after.

  sigkill    SIGKILL to ptest itself while 50 suites (150 processes: each `sh` and its two
             sleeps) run: the watchdog stops them all, none left.
  sighup     SIGHUP (the terminal closed) with 50 suites running: exit 130, all cancelled in the
             report, none left.
  nproc      200 suites at -j200 under a process limit of 24 (as an unused user id; needs root):
             starts wait for the limit and retry, all pass.

  Hostile results files (a batch's `results`, written by the suite: untrusted). Each prints
  ptest's peak memory (its own and its children's, from wait4) and, where it matters, the time
  at two sizes (a linear pass takes about 4x for 4x the input):
  rtext      one testcase whose failure text is 500 MB: peak memory, the reports' sizes.
  rnested    100,000 nested <testsuite> (9.5 MB) beside a suite with a 3 s timeout: how late
             the timeout fired, the time at 25,000 and 100,000.
  rgosub     40,000 go subtests in `go test -json`: time at 10,000 and 40,000.
  rgodeep    go -json, one failing subtest nested 600 deep (1.5 MB): peak memory, report size.
  rnomatch   200,000 testcases whose files match none of 2,000 items: time at 50,000 and 200,000.
  rfifo      the results file swapped between a FIFO and a regular file while ptest reads it,
             50 runs: how many hung (30 s), how many read it, how many refused the FIFO.

Attacks of issue 25 (root, Linux):
  reuse      100 forced reuses of a lingering group's number for each of: the Linux sweep, the
             portable sweep (PTEST_PLATFORM=posix), the watchdog on each path. Ten suites per run
             each leave a background child that keeps their group a moment; once it emptied, the
             group's number is forced onto an unrelated `setsid sleep` (ns_last_pid), then the run
             ends (or ptest is SIGKILLed). Counts the unrelated processes that were signalled.
  sigkill200 200 SIGKILLs of ptest at random moments of a busy run (suites starting children and
             setsid daemons, and a config that starts a process while it is evaluated), on each
             platform path: counts the processes left once the watchdog is done.
  evalstop   SIGTERM, SIGINT and SIGHUP (10 each) to ptest while the config waits on an
             `io.popen` listing: counts the listings left running.

Leftover processes are found by a marker only these suites carry on their command line.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PTEST = os.path.join(ROOT, "target", "release", "ptest")


def leftovers(marker):
    """Processes whose command line contains `marker` (the suites' sleeps carry it)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def write(d, lua):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "ptest.lua"), "w", encoding="utf-8") as f:
        f.write(lua)


def report(d, log_dir="test-logs"):
    with open(os.path.join(d, log_dir, "test-report.json")) as f:
        return json.load(f)


def run(d, args, **kw):
    t = time.monotonic()
    r = subprocess.run([PTEST, *args, "ptest.lua"], cwd=d, capture_output=True, **kw)
    return r, time.monotonic() - t


def case_j256(d):
    write(d, "for i = 1, 256 do ptest.suite { name = 's' .. i, cmd = 'sleep 1' } end\n")
    t = time.monotonic()
    p = subprocess.Popen([PTEST, "-q", "-j", "256", "ptest.lua"], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_fds = 0
    while p.poll() is None:
        try:
            peak_fds = max(peak_fds, len(os.listdir(f"/proc/{p.pid}/fd")))
        except OSError:
            pass
        time.sleep(0.01)
    wall = time.monotonic() - t
    s = report(d)["summary"]
    ok = p.returncode == 0 and s["passed"] == 256
    return ok, f"exit {p.returncode}, {s['passed']}/256 passed in {wall:.2f} s; ptest's open descriptors peaked at {peak_fds}"


def case_timeouts(d):
    marker = "31.4159"
    write(d, "ptest.config { timeout = '0.1s', grace = '1s' }\n"
             f"for i = 1, 1000 do ptest.suite {{ name = 't' .. i, cmd = 'sleep {marker} & sleep {marker}; wait' }} end\n")
    r, wall = run(d, ["-q", "-j", "64"])
    s = report(d)["summary"]
    left = leftovers(marker)
    ok = r.returncode == 1 and s["timed_out"] == 1000 and not left
    return ok, f"exit {r.returncode}, {s['timed_out']}/1000 timed out in {wall:.2f} s; processes left: {len(left)}"


def case_names(d):
    import random
    rnd = random.Random(3)
    parts = ["a", "b", "/", "..", ".", " ", "\t", "ü", "ß", "日本", "-", "_", "x?y", "*"]
    names = set()
    while len(names) < 500:
        # Blank names are a config error, so each has one letter at least.
        names.add(rnd.choice("xyz") + "".join(rnd.choice(parts) for _ in range(rnd.randint(1, 6))))
    names = sorted(names)
    lua = "for _, n in ipairs({" + ", ".join(json.dumps(n, ensure_ascii=False) for n in names) + "}) do\n" \
          "  ptest.suite { name = n, cmd = 'printf %s \"$PTEST_SUITE\"' }\nend\n"
    write(d, lua)
    outside = os.path.join(d, "outside")
    os.makedirs(outside)
    logs = os.path.join(outside, "logs")
    r, wall = run(d, ["-q", "--log-dir", logs])
    rep = report(d, logs)
    files = set()
    bad = []
    for s in rep["suites"]:
        # Paths in the report are relative to the folder ptest ran in.
        path = os.path.normpath(os.path.join(d, s["log_file"]))
        if os.path.dirname(path) != logs:
            bad.append(path)
        with open(path, encoding="utf-8") as f:
            if not f.read().endswith("===\n" + s["name"]):
                bad.append(path)
        files.add(os.path.basename(path))
    stray = [n for n in os.listdir(outside) if n != "logs"]
    ok = r.returncode == 0 and len(files) == 500 and not bad and not stray
    return ok, f"exit {r.returncode}, {len(files)} distinct log files for 500 names in {wall:.2f} s; misplaced or wrong: {len(bad)}; written outside: {len(stray)}"


def case_closed(d):
    write(d, "for i = 1, 200 do ptest.suite { name = 'c' .. i, "
             "cmd = 'echo before; exec >&- 2>&-; sleep 0.2; touch done.' .. i } end\n")
    r, wall = run(d, ["-v", "-j", "16"])
    done = sum(1 for n in os.listdir(d) if n.startswith("done."))
    s = report(d)["summary"]
    ok = r.returncode == 0 and s["passed"] == 200 and done == 200
    return ok, f"exit {r.returncode}, {s['passed']}/200 passed, {done}/200 ran to their end, in {wall:.2f} s"


def case_sigterm(d):
    marker = "27.1828"
    write(d, "ptest.config { grace = '2s' }\n"
             f"for i = 1, 100 do ptest.suite {{ name = 's' .. i, cmd = \"setsid sleep {marker} > /dev/null 2>&1 & sleep {marker}\" }} end\n")
    p = subprocess.Popen([PTEST, "-q", "-j", "50", "ptest.lua"], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while len(leftovers(marker)) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    running = len(leftovers(marker))
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    code = p.wait(timeout=30)
    stop = time.monotonic() - t
    rep = report(d)
    statuses = {}
    for s in rep["suites"]:
        statuses[s["status"]] = statuses.get(s["status"], 0) + 1
    left = leftovers(marker)
    ok = (code == 130 and len(rep["suites"]) == 100 and statuses.get("cancelled") == 50
          and statuses.get("skipped") == 50 and rep["summary"]["interrupted"] and not left)
    return ok, (f"{running} processes running when sent; exit {code} after {stop:.2f} s; report: "
                + ", ".join(f"{v} {k}" for k, v in sorted(statuses.items()))
                + f"; processes left: {len(left)}")


def case_sigkill(d):
    """SIGKILL of ptest itself with 50 suites running: the watchdog stops every group."""
    marker = "16.1803"
    write(d, f"for i = 1, 50 do ptest.suite {{ name = 'k' .. i, cmd = 'sleep {marker} & sleep {marker}; wait' }} end\n")
    p = subprocess.Popen([PTEST, "-q", "-j", "50", "ptest.lua"], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(leftovers(marker)) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    running = len(leftovers(marker))
    t = time.monotonic()
    p.kill()
    p.wait()
    while leftovers(marker) and time.monotonic() - t < 30:
        time.sleep(0.05)
    gone = time.monotonic() - t
    left = leftovers(marker)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    ok = running == 150 and not left
    return ok, f"{running} processes running when ptest was SIGKILLed; all gone after {gone:.2f} s; processes left: {len(left)}"


def case_sighup(d):
    """SIGHUP (the terminal closed) with 50 suites running: a stop like SIGTERM."""
    marker = "14.1421"
    write(d, "ptest.config { grace = '2s' }\n"
             f"for i = 1, 50 do ptest.suite {{ name = 'h' .. i, cmd = 'sleep {marker}' }} end\n")
    p = subprocess.Popen([PTEST, "-q", "-j", "50", "ptest.lua"], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(leftovers(marker)) < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    t = time.monotonic()
    p.send_signal(signal.SIGHUP)
    code = p.wait(timeout=60)
    stop = time.monotonic() - t
    rep = report(d)
    left = leftovers(marker)
    cancelled = sum(1 for s in rep["suites"] if s["status"] == "cancelled")
    ok = code == 130 and cancelled == 50 and not left
    return ok, f"exit {code} after {stop:.2f} s; {cancelled}/50 cancelled in the report; processes left: {len(left)}"


def case_nproc(d):
    """200 suites at -j200 under a process limit of 24 (ptest runs as an unused user id, as
    root is not bound by RLIMIT_NPROC): starts wait and retry, all pass."""
    if os.geteuid() != 0:
        return True, "skipped: needs root"
    write(d, "for i = 1, 200 do ptest.suite { name = 'n' .. i, cmd = { 'sleep', '0.2' } } end\n")
    os.chmod(d, 0o777)
    # The other user must reach the folder: TemporaryDirectory makes its base 0700.
    os.chmod(os.path.dirname(d), 0o755)

    def limit():
        import resource
        os.setgroups([])
        os.setgid(54321)
        resource.setrlimit(resource.RLIMIT_NPROC, (24, 24))
        os.setuid(54321)

    t = time.monotonic()
    r = subprocess.run([PTEST, "-q", "-j", "200", "ptest.lua"], cwd=d, capture_output=True,
                       preexec_fn=limit)
    wall = time.monotonic() - t
    try:
        s = report(d)["summary"]
    except OSError:
        return False, f"exit {r.returncode}, no report: {r.stderr.decode(errors='replace')[-300:]}"
    delayed = sum(1 for n in os.listdir(os.path.join(d, "test-logs"))
                  if n.endswith(".log") and b"process limit is reached" in
                  open(os.path.join(d, "test-logs", n), "rb").read())
    ok = r.returncode == 0 and s["passed"] == 200 and delayed > 0
    return ok, f"exit {r.returncode}, {s['passed']}/200 passed in {wall:.2f} s; {delayed} starts waited for the limit"


def case_verbose64(d):
    write(d, "for i = 1, 1000 do ptest.suite { name = 'v' .. i, cmd = 'echo line-' .. i .. '; sleep 0.5; printf last-' .. i } end\n")
    peaks = {}
    for flag in ("-q", "-v"):
        t = time.monotonic()
        with open(os.path.join(d, "stdout" + flag), "wb") as out:
            p = subprocess.Popen(["sh", "-c", f'ulimit -n 64 && exec "$0" {flag} -j 256 ptest.lua', PTEST], cwd=d,
                                 stdout=out, stderr=subprocess.PIPE)
            peak_fds = 0
            while p.poll() is None:
                try:
                    peak_fds = max(peak_fds, len(os.listdir(f"/proc/{p.pid}/fd")))
                except OSError:
                    pass
                time.sleep(0.005)
        peaks[flag] = peak_fds
        wall = time.monotonic() - t
    try:
        s = report(d)["summary"]
    except OSError:
        s = {"passed": 0}
    with open(os.path.join(d, "stdout-v"), "rb") as f:
        lines = set(f.read().decode("utf-8", "replace").splitlines())
    missing = sum(1 for i in range(1, 1001)
                  if f"v{i} | line-{i}" not in lines or f"v{i} | last-{i}" not in lines)
    ok = p.returncode == 0 and s["passed"] == 1000 and missing == 0
    return ok, (f"exit {p.returncode}, {s['passed']}/1000 passed in {wall:.2f} s, {missing} suites' lines missing from -v; "
                f"ptest's open descriptors peaked at {peaks['-v']} with -v, {peaks['-q']} with -q (limit 64)")


CLIENT_CONNS = r'''
import os, socket, time
def hwm(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmHWM:"):
            return int(l.split()[1])
path = os.environ["PTEST_SOCKET"]
t = time.monotonic()
granted = 0
for batch in range(20):
    socks = []
    for i in range(500):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(b"acquire api\n")
        socks.append(s)
    for s in socks:
        if s.makefile().readline().strip() == "ok":
            granted += 1
        s.close()
print("granted", granted, "seconds %.2f" % (time.monotonic() - t), "hwm_kb", hwm(os.getppid()))
'''


def case_conns(d):
    write(d, "ptest.limiter { name = 'api', rate = 1000000, burst = 1000 }\n"
             "ptest.suite { name = 'c', cmd = { 'python3', 'client.py' }, timeout = '5m' }\n")
    with open(os.path.join(d, "client.py"), "w") as f:
        f.write(CLIENT_CONNS)
    r, wall = run(d, ["-q"])
    with open(os.path.join(d, "test-logs", "c.log")) as f:
        words = f.read().split()
    got = dict(zip(words[::1], words[1::1]))
    ok = r.returncode == 0 and got.get("granted") == "10000"
    return ok, (f"exit {r.returncode}, {got.get('granted')}/10000 granted in {got.get('seconds')} s "
                f"(run {wall:.2f} s); ptest's peak RSS {got.get('hwm_kb')} KiB")


CLIENT_LONG = r'''
import os, socket
def hwm(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmHWM:"):
            return int(l.split()[1])
before = hwm(os.getppid())
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["PTEST_SOCKET"])
chunk = b"x" * (1 << 20)
sent = 0
try:
    while sent < 256 << 20:
        s.sendall(chunk)
        sent += len(chunk)
except OSError:
    pass
reply = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        reply += b
except OSError:
    pass
print("reply", repr(reply.decode().strip()), "sent_mb", sent >> 20, "hwm_before_kb", before, "hwm_after_kb", hwm(os.getppid()))
'''


def results_batch(d, cmd, item="t.py", items=None, extra=""):
    """A batch of one part whose command runs `cmd` and whose results file is r.xml."""
    items = items or [item]
    lua_items = ", ".join(json.dumps(i) for i in items)
    write(d, f"ptest.batch {{ name = 'b', items = {{ {lua_items} }}, batches = 1, "
             f"cmd = {{ 'sh', '-c', {json.dumps(cmd)}, 'sh', '{{items}}' }}, results = 'r.xml' }}\n" + extra)


def measured(d, args=("-q",), timeout=None):
    """ptest on d's ptest.lua: (exit code, or None when it ran past `timeout` and was killed;
    wall seconds; ptest's peak RSS in MB). GNU time reports the peak: a child forked from this
    Python process would count Python's own memory in it."""
    rss_file = os.path.join(d, ".rss")
    t = time.monotonic()
    p = subprocess.Popen(["/usr/bin/time", "-o", rss_file, "-f", "%M", PTEST, *args, "ptest.lua"],
                         cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        p.wait(timeout=timeout)
        code = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        code = None
    wall = time.monotonic() - t
    try:
        with open(rss_file) as f:
            rss = int(f.read().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        rss = float("nan")
    return code, wall, rss


def case_rtext(d):
    os.makedirs(d)
    results_batch(d, "touch r.xml; exit 1")
    with open(os.path.join(d, "r.xml"), "w") as f:
        f.write('<testsuites><testsuite name="s"><testcase classname="t" name="test_a" file="t.py"><failure message="m">FIRST\n')
        chunk = "x = 1 &amp; y\n" * (1 << 16)
        for _ in range((500 << 20) // len(chunk)):
            f.write(chunk)
        f.write("LAST</failure></testcase></testsuite></testsuites>")
    code, wall, rss = measured(d)
    rep = os.path.getsize(os.path.join(d, "test-logs", "test-report.json"))
    text = report(d)["suites"][0]["testcases"][0]["text"]
    ok = code == 1 and rss < 200 and len(text) < 70 << 10 and text.endswith("LAST")
    return ok, f"exit {code} in {wall:.2f} s, peak {rss:.0f} MB; JSON report {rep >> 10} KiB, text kept {len(text) >> 10} KiB"


def nested_xml(path, n):
    with open(path, "w") as f:
        f.write("<testsuites>")
        for _ in range(n):
            f.write('<testsuite name="s" time="1"><testcase name="c" time="0.1"/>')
        f.write("</testsuite>" * n)
        f.write("</testsuites>")


def case_rnested(d):
    out = []
    ok = True
    times = {}
    for n in (25_000, 100_000):
        sub = os.path.join(d, str(n))
        os.makedirs(sub)
        results_batch(sub, "touch r.xml; exit 0", extra="ptest.suite { name = 'slow', cmd = 'sleep 1; sleep 30', timeout = '3s' }\n")
        nested_xml(os.path.join(sub, "r.xml"), n)
        code, wall, rss = measured(sub)
        slow = [s for s in report(sub)["suites"] if s["name"] == "slow"][0]
        times[n] = wall
        ok &= code == 1 and slow["status"] == "timed_out" and slow["duration"] < 4.5 and rss < 200
        out.append(f"{n}: {wall:.2f} s, peak {rss:.0f} MB, the 3 s timeout fired at {slow['duration']:.2f} s")
    size = os.path.getsize(os.path.join(d, "100000", "r.xml")) / 1e6
    return ok, f"{size:.1f} MB at 100,000; " + "; ".join(out)


def go_subtests(path, n):
    with open(path, "w") as f:
        ev = lambda **k: f.write(json.dumps({"Package": "p", **k}) + "\n")
        ev(Action="run", Test="TestMany")
        for i in range(n):
            t = f"TestMany/case_{i}"
            ev(Action="run", Test=t)
            ev(Action="output", Test=t, Output=f"=== RUN   {t}\n")
            ev(Action="output", Test=t, Output=f"    --- PASS: {t} (0.00s)\n")
            ev(Action="pass", Test=t, Elapsed=0)
        ev(Action="pass", Test="TestMany", Elapsed=1.5)
        ev(Action="pass", Elapsed=1.6)


def case_rgosub(d):
    out = []
    ok = True
    for n in (10_000, 40_000):
        sub = os.path.join(d, str(n))
        os.makedirs(sub)
        results_batch(sub, "touch r.xml; exit 0", item="p")
        go_subtests(os.path.join(sub, "r.xml"), n)
        code, wall, rss = measured(sub)
        ok &= code == 0 and rss < 200
        out.append(f"{n}: {wall:.2f} s, peak {rss:.0f} MB")
    return ok, "; ".join(out)


def case_rgodeep(d):
    os.makedirs(d)
    results_batch(d, "touch r.xml; exit 1", item="p")
    with open(os.path.join(d, "r.xml"), "w") as f:
        ev = lambda **k: f.write(json.dumps({"Package": "p", **k}) + "\n")
        names = []
        name = "TestDeep"
        for level in range(600):
            if level:
                name += "/s"
            names.append(name)
            ev(Action="run", Test=name)
        for n in names:
            ev(Action="output", Test=n, Output="    deep_test.go:9: " + "w" * 900 + "\n")
        for n in reversed(names):
            ev(Action="fail", Test=n, Elapsed=0)
        ev(Action="fail", Elapsed=0)
    size = os.path.getsize(os.path.join(d, "r.xml")) / 1e6
    code, wall, rss = measured(d)
    rep = os.path.getsize(os.path.join(d, "test-logs", "test-report.json")) / 1e6
    ok = code == 1 and rss < 200 and rep < 20
    return ok, f"{size:.1f} MB in: exit {code} in {wall:.2f} s, peak {rss:.0f} MB, JSON report {rep:.1f} MB"


def case_rnomatch(d):
    out = []
    ok = True
    items = [f"tests/test_{i}.py" for i in range(2000)]
    for n in (50_000, 200_000):
        sub = os.path.join(d, str(n))
        os.makedirs(sub)
        results_batch(sub, "touch r.xml; exit 0", items=items)
        with open(os.path.join(sub, "r.xml"), "w") as f:
            f.write('<testsuites><testsuite name="s">')
            for i in range(n):
                f.write(f'<testcase classname="other.x_{i}" name="t" file="other/dir/x_{i}.py" time="0.001"/>')
            f.write("</testsuite></testsuites>")
        code, wall, rss = measured(sub)
        ok &= code == 0 and rss < 200
        out.append(f"{n}: {wall:.2f} s, peak {rss:.0f} MB")
    return ok, "; ".join(out)


SWAPPER = r"""
import os, sys, time
reg = b'<testsuites><testsuite name="s"><testcase classname="t" name="a" file="t.py"/></testsuite></testsuites>'
if os.fork() == 0:
    # Out of the suite's process group (ptest stops the group when the suite ends): swap r.xml
    # between a FIFO and a regular file as fast as renames go, for 4 s.
    os.setsid()
    end = time.monotonic() + 4
    while time.monotonic() < end:
        try:
            os.unlink("f.tmp")
        except FileNotFoundError:
            pass
        os.mkfifo("f.tmp")
        os.rename("f.tmp", "r.xml")
        with open("r.tmp", "wb") as f:
            f.write(reg)
        os.rename("r.tmp", "r.xml")
    os._exit(0)
time.sleep(0.3)
"""


RUNS_FIFO = 50


def case_rfifo(d):
    hung = read = refused = 0
    for i in range(RUNS_FIFO):
        sub = os.path.join(d, str(i))
        os.makedirs(sub)
        with open(os.path.join(sub + ".py"), "w") as f:
            f.write(SWAPPER)
        results_batch(sub, f"python3 {sub}.py")
        code, wall, _ = measured(sub, timeout=30)
        if code is None:
            hung += 1
            continue
        rep = report(sub)["suites"][0]
        if rep.get("testcases"):
            read += 1
        else:
            refused += 1
    return hung == 0, f"{RUNS_FIFO} runs: {hung} hung, {read} read the file, {refused} refused a FIFO (or found none)"


def case_longline(d):
    write(d, "ptest.limiter { name = 'api', rate = 10 }\n"
             "ptest.suite { name = 'l', cmd = { 'python3', 'client.py' }, timeout = '5m' }\n")
    with open(os.path.join(d, "client.py"), "w") as f:
        f.write(CLIENT_LONG)
    r, wall = run(d, ["-q"])
    with open(os.path.join(d, "test-logs", "l.log")) as f:
        text = f.read().strip().splitlines()[-1]
    ok = r.returncode == 0 and "line too long" in text
    return ok, f"exit {r.returncode} in {wall:.2f} s; client: {text}"


REUSE_SUITES = 10

REUSE_CONFIG = """
for i = 1, %d do
  ptest.suite { name = 'lingers' .. i, cmd = 'echo $$ > lingers' .. i .. '.pid; (sleep 0.3; echo > lingered' .. i .. ') & exit 0' }
end
ptest.suite { name = 'holds', cmd = 'echo $$ > holds.pid; while [ ! -e reused ]; do sleep 0.02; done' }
""" % REUSE_SUITES


def force_pid(want, cwd, limit=10.0):
    """An unrelated `setsid sleep` (not ptest's) with pid `want`, or None."""
    until = time.monotonic() + limit
    while time.monotonic() < until:
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(want - 1))
        env = {k: v for k, v in os.environ.items() if k != "PTEST_RUN_ID"}
        p = subprocess.Popen(["setsid", "sleep", "120"], cwd=cwd, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if p.pid == want:
            return p
        p.kill()
        p.wait()
        time.sleep(0.005)
    return None


def wait_for(cond, limit):
    until = time.monotonic() + limit
    while time.monotonic() < until:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def reuse_round(d, env, kill):
    """One run: returns (forced reuses, unrelated processes signalled)."""
    write(d, REUSE_CONFIG)
    for n in os.listdir(d):
        if n != "ptest.lua" and os.path.isfile(os.path.join(d, n)):
            os.remove(os.path.join(d, n))
    p = subprocess.Popen([PTEST, "-q", "-j", str(REUSE_SUITES + 1), "ptest.lua"], cwd=d, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = wait_for(lambda: all(os.path.exists(os.path.join(d, f"lingered{i}")) for i in range(1, REUSE_SUITES + 1))
                     and os.path.exists(os.path.join(d, "holds.pid")), 60)
    unrelated = []
    if ready:
        for i in range(1, REUSE_SUITES + 1):
            with open(os.path.join(d, f"lingers{i}.pid")) as f:
                group = int(f.read())
            u = force_pid(group, d)
            if u:
                unrelated.append(u)
    if kill:
        p.kill()
        p.wait()
        with open(os.path.join(d, "holds.pid")) as f:
            holds = int(f.read())
        wait_for(lambda: not alive(holds), 20)
        time.sleep(2.5)
    else:
        open(os.path.join(d, "reused"), "w").close()
        p.wait(timeout=120)
    hit = sum(1 for u in unrelated if u.poll() is not None)
    for u in unrelated:
        u.kill()
        u.wait()
    return len(unrelated), hit


def case_reuse(d):
    if os.geteuid() != 0:
        return False, "needs root (ns_last_pid)"
    base = dict(os.environ)
    base.pop("PTEST_RUN_ID", None)
    posix = dict(base, PTEST_PLATFORM="posix")
    parts, ok = [], True
    for label, env, kill in (("linux sweep", base, False), ("posix sweep", posix, False),
                             ("linux watchdog", base, True), ("posix watchdog", posix, True)):
        forced = hit = 0
        while forced < 100:
            f, h = reuse_round(d, env, kill)
            if f == 0:
                break
            forced += f
            hit += h
        ok = ok and forced >= 100 and hit == 0
        parts.append(f"{label}: {hit} unrelated signalled in {forced} forced reuses")
    return ok, "; ".join(parts)


KILL_MARKER = "2718.28"

KILL_CONFIG = """
local f = io.popen("sleep %(m)s & echo $!")
f:read("l")
f:close()
for i = 1, 60 do
  local cmd = 'sleep %(m)s & sleep 0.0' .. (i %% 10) .. '; '
  if i %% 3 == 0 then cmd = cmd .. 'setsid sleep %(m)s & ' end
  if i %% 7 == 0 then cmd = cmd .. '(sleep %(m)s &) ; ' end
  ptest.suite { name = 'k' .. i, cmd = cmd .. 'exit 0' }
end
""" % {"m": KILL_MARKER}


def case_sigkill200(d):
    import random
    rnd = random.Random(25)
    write(d, KILL_CONFIG)
    parts, ok = [], True
    for label, extra in (("linux", {}), ("posix", {"PTEST_PLATFORM": "posix"})):
        env = dict(os.environ, **extra)
        env.pop("PTEST_RUN_ID", None)
        orphans = runs = 0
        for _ in range(200):
            p = subprocess.Popen([PTEST, "-q", "-j", "16", "ptest.lua"], cwd=d, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.0, 0.6))
            p.kill()
            p.wait()
            runs += 1
            # The watchdog's grace is 2 s; what is left after it is an orphan.
            wait_for(lambda: not [q for q in leftovers(KILL_MARKER) if alive(q)], 6)
            left = [q for q in leftovers(KILL_MARKER) if alive(q)]
            orphans += len(left)
            for q in left:
                try:
                    os.kill(q, signal.SIGKILL)
                except OSError:
                    pass
        ok = ok and orphans == 0
        parts.append(f"{label}: {orphans} orphans after {runs} SIGKILLs")
    return ok, "; ".join(parts)


EVAL_CONFIG = """
local f = io.popen("sh -c 'echo $$ > lister.pid; exec sleep %s'")
f:read("a")
ptest.suite { name = 'a', cmd = 'true' }
""" % KILL_MARKER


def case_evalstop(d):
    write(d, EVAL_CONFIG)
    parts, ok = [], True
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        left_total = 0
        for _ in range(10):
            pidfile = os.path.join(d, "lister.pid")
            if os.path.exists(pidfile):
                os.remove(pidfile)
            p = subprocess.Popen([PTEST, "-q", "ptest.lua"], cwd=d,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().endswith("\n"), 20)
            p.send_signal(sig)
            p.wait()
            wait_for(lambda: not [q for q in leftovers(KILL_MARKER) if alive(q)], 6)
            left = [q for q in leftovers(KILL_MARKER) if alive(q)]
            left_total += len(left)
            for q in left:
                os.kill(q, signal.SIGKILL)
        ok = ok and left_total == 0
        parts.append(f"{signal.Signals(sig).name}: {left_total} left in 10")
    return ok, "; ".join(parts)


def case_stuckhook(d):
    """Two SIGINTs while a suite_finished hook is stuck in one long C call (a backtracking
    string.find) and 20 suites run: ptest ends within a second of the second, every suite gone."""
    marker = "31.4159"
    rounds, worst, left_total = 10, 0.0, 0
    for r in range(rounds):
        dr = os.path.join(d, str(r))
        write(dr, "ptest.on('suite_finished', function(r)\n"
                  "  if r.name == 'quick' then\n"
                  "    local f = io.open('hook.started', 'w'); f:write('x'); f:close()\n"
                  "    local text = ('a'):rep(20000)\n"
                  "    text:find('.-.-.-.-b')\n"
                  "  end\n"
                  "end)\n"
                  "ptest.suite { name = 'quick', cmd = 'true' }\n"
                  f"for i = 1, 20 do ptest.suite {{ name = 's' .. i, cmd = 'sleep {marker}' }} end\n")
        p = subprocess.Popen([PTEST, "-q", "-j", "21", "ptest.lua"], cwd=dr,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while ((len(leftovers(marker)) < 20 or not os.path.exists(os.path.join(dr, "hook.started")))
               and time.monotonic() < deadline):
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        time.sleep(0.2)
        t = time.monotonic()
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        worst = max(worst, time.monotonic() - t)
        deadline = time.monotonic() + 10
        while leftovers(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = leftovers(marker)
        left_total += len(left)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    ok = worst < 1.5 and left_total == 0
    return ok, (f"{rounds} rounds: exit at most {worst:.2f} s after the second SIGINT; "
                f"suites left: {left_total}")


CASES = {"j256": case_j256, "timeouts": case_timeouts, "names": case_names,
         "closed": case_closed, "sigterm": case_sigterm, "sigkill": case_sigkill,
         "sighup": case_sighup, "nproc": case_nproc, "verbose64": case_verbose64,
         "conns": case_conns, "longline": case_longline,
         "rtext": case_rtext, "rnested": case_rnested, "rgosub": case_rgosub,
         "rgodeep": case_rgodeep, "rnomatch": case_rnomatch, "rfifo": case_rfifo,
         "reuse": case_reuse, "sigkill200": case_sigkill200, "evalstop": case_evalstop,
         "stuckhook": case_stuckhook}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated: " + ",".join(CASES))
    ap.add_argument("--binary", help="measure this ptest instead of building target/release/ptest")
    args = ap.parse_args()
    global PTEST
    if args.binary:
        PTEST = os.path.abspath(args.binary)
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    only = [c for c in args.only.split(",") if c] or list(CASES)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="ptest-reliability-") as base:
        for name in only:
            ok, text = CASES[name](os.path.join(base, name))
            failed += not ok
            print(f"| {name} | {'ok' if ok else 'FAILED'} | {text} |", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
