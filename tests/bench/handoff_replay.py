#!/usr/bin/env python3
"""Replays a batch's first run on J workers from its planned parts and measured item times, with
and without items handed on (docs/batches.md, "Items handed on"), to tell what the rule buys
without the noise of a real run.

    ptest list --no-history --format json -j 2 > parts.json      # in the suite's folder
    python3 tests/bench/handoff_replay.py parts.json .ptest/history.json [-j 2]

    python3 tests/bench/handoff_replay.py --synthetic [--trials 300]

parts.json: the parts as planned without history (their items' guessed durations); the history:
each item's latest measured duration (`BATCH/ITEM`), as a run with history has it. The replay
starts the parts largest guess first on whichever worker is free; each part costs `--start`
seconds plus its items' measured times, in order. A part claims an item when it starts it (and,
with `--ahead 1`, the next one too, as pytest's parts do near the end of a file). Before a part
starts, a running part past its expected time (x 1.5 for guesses, x the ended parts' median
overrun, and 1 s past it) hands on unclaimed items, in one of these ways:

- the later half of them by guessed duration, run after the starting part's own (ptest's rule);
- all of them, run before the starting part's own;
- either, and also a new part made for them when a worker has no part left to start (ptest
  cannot make parts during a run: its plan is fixed; this says what that would buy).

`--synthetic`: many made-up batches instead (60 files, guesses log-normal, each file's real
time its guess times 8 times a log-normal error of spread SIGMA = 0.5, 1.0, 1.5), cut into
shrinking parts as a first run's warm batch is (none under 3 s guessed), on 2 workers: the mean
and 90th percentile of the last worker's end over the bound (half the work, or the longest
file).
"""
import argparse
import copy
import heapq
import json
import random
import statistics

WAYS = (
    ("not handed on", dict(handoff=False)),
    ("later half, after (ptest)", dict(handoff=True, share="half", first=False)),
    ("all, first", dict(handoff=True, share="all", first=True)),
    ("later half, after, + new parts", dict(handoff=True, share="half", first=False, spare=True)),
    ("all, first, + new parts", dict(handoff=True, share="all", first=True, spare=True)),
)


def load(parts_path, history_path):
    suites = json.load(open(parts_path))["suites"]
    items = json.load(open(history_path))["items"]
    parts = []
    for s in suites:
        b = s.get("batch")
        if not b:
            continue
        real = lambda n: (items.get("%s/%s" % (b["name"], n), {"runs": [[0, 0, 0]]})["runs"][-1][2] or 0.0)
        parts.append({"name": s["name"], "items": [(i["name"], i["expected"], real(i["name"])) for i in b["items"]]})
    return parts


def replay(parts, jobs, start, handoff, share="half", ahead=0, margin=1.5, first=False, spare=False):
    ps = copy.deepcopy(parts)
    expected = lambda p: start + sum(e for _, e, _ in p["items"])
    pending = sorted(range(len(ps)), key=lambda i: -expected(ps[i]))
    workers = [(0.0, w) for w in range(jobs)]
    heapq.heapify(workers)
    began, ends, planned, moves, began_on = {}, {}, {}, [], {}
    while pending or (spare and handoff):
        now, w = heapq.heappop(workers)
        if pending:
            q = pending.pop(0)
        else:
            # A worker with no part left to start: a new part for what a part past its time
            # has not started, if any; else look again in a second while parts still run.
            if not any(ends[i] > now for i in ends):
                break
            ps.append({"name": "new%d" % len(ps), "items": []})
            q = len(ps) - 1
        if handoff:
            ratios = sorted((ends[i] - began[i]) / planned[i] for i in ends if ends[i] <= now)
            rate = max(1.0, ratios[len(ratios) // 2]) if ratios else 1.0
            for i in list(began):
                if ends[i] <= now or now - began[i] < max(planned[i] * margin * rate, planned[i] + 1):
                    continue
                t, started = began[i] + start, []
                for k, (_, _, r) in enumerate(ps[i]["items"]):
                    if t <= now:
                        started.append(k)
                    t += r
                claimed = set(started) | ({max(started) + ahead} if started else set())
                free = [k for k in range(len(ps[i]["items"])) if k not in claimed]
                if share == "half":
                    total, take, s = sum(ps[i]["items"][k][1] for k in free), [], 0.0
                    for k in reversed(free):
                        if take and s + ps[i]["items"][k][1] > total / 2:
                            break
                        s += ps[i]["items"][k][1]
                        take.append(k)
                else:
                    take = free
                if not take:
                    continue
                moved = [ps[i]["items"][k] for k in sorted(take)]
                ps[i]["items"] = [x for k, x in enumerate(ps[i]["items"]) if k not in take]
                ps[q]["items"] = moved + ps[q]["items"] if first else ps[q]["items"] + moved
                moves.append((round(now, 1), ps[i]["name"], ps[q]["name"], len(moved)))
                ends[i] = began[i] + start + sum(r for _, _, r in ps[i]["items"])
                workers = [(ends[i] if x == began_on[i] else t, x) for t, x in workers]
                heapq.heapify(workers)
        if not ps[q]["items"]:
            heapq.heappush(workers, (now + 1.0, w))
            continue
        began[q], planned[q] = now, expected(ps[q])
        began_on[q] = w
        ends[q] = now + start + sum(r for _, _, r in ps[q]["items"])
        heapq.heappush(workers, (ends[q], w))
    return max(ends.values()), moves


def shrinking(items, jobs, start):
    """A first run's warm parts: each half an even share of the guessed work left, none under
    ten starts, filled longest guess first into the part with the most room."""
    items = sorted(items, key=lambda x: -x[1])
    rest, sizes = sum(e for _, e, _ in items), []
    while rest > 1e-9 and len(sizes) < 64:
        size = min(max(rest / (2 * jobs), 10 * start), rest)
        sizes.append(size)
        rest -= size
    parts = [{"name": "p%d" % (k + 1), "items": [], "room": size} for k, size in enumerate(sizes)]
    for it in items:
        p = max(parts, key=lambda p: p["room"])
        p["items"].append(it)
        p["room"] -= it[1]
    return [p for p in parts if p["items"]]


def synthetic(trials, jobs, start, ahead):
    rng = random.Random(1)
    for sigma in (0.5, 1.0, 1.5):
        ratios = {label: [] for label, _ in WAYS}
        for _ in range(trials):
            items = []
            for k in range(60):
                guess = rng.lognormvariate(0, 1) * 0.5
                items.append(("f%d" % k, guess, guess * 8 * rng.lognormvariate(0, sigma)))
            parts = shrinking(items, jobs, start)
            work = sum(r for _, _, r in items) + start * len(parts)
            bound = max(work / jobs, max(r for _, _, r in items))
            for label, way in WAYS:
                ratios[label].append(replay(parts, jobs, start, ahead=ahead, **way)[0] / bound)
        print("SIGMA %.1f, %d batches: last end / bound, mean (90th percentile)" % (sigma, trials))
        for label, r in ratios.items():
            print("  %-34s %.3f (%.3f)" % (label, statistics.mean(r), sorted(r)[int(len(r) * 0.9)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="?")
    ap.add_argument("history", nargs="?")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--start", type=float, default=0.3, help="seconds a part costs before its items")
    ap.add_argument("--ahead", type=int, default=0)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--trials", type=int, default=300)
    a = ap.parse_args()
    if a.synthetic:
        synthetic(a.trials, a.jobs, a.start, a.ahead)
        return
    if not a.history:
        ap.error("give parts.json and the history, or --synthetic")
    parts = load(a.parts, a.history)
    work = sum(r for p in parts for _, _, r in p["items"]) + a.start * len(parts)
    longest = max((r for p in parts for _, _, r in p["items"]), default=0.0)
    print("%d parts, work %.1f s, half of it per worker %.1f s, longest item %.1f s"
          % (len(parts), work, work / a.jobs, longest))
    for label, way in WAYS:
        end, moves = replay(parts, a.jobs, a.start, ahead=a.ahead, **way)
        print("%-34s last worker ends at %.1f s; moves (at, from, to, items): %s" % (label, end, moves))


if __name__ == "__main__":
    main()
