"""Catalogue cases per second on the model target, end to end from YAML, and where the time goes.

    .venv/bin/python benchmarks/model_bench.py [--rounds N] [--min-seconds S] [PATHS...]

Each round does what a run does for every case: load and check the scenario files (YAML,
schema, matrix expansion; measured with the loader's per-process cache of checked files and
with that cache emptied before each round), encode the request, send it to the model server and
read the answer (C interpreter + model inside), decode and check the response, and judge it.
Three ways, side by side in one run:

- one case at a time, files parsed and checked every round (the figure before any cache);
- one case at a time, checked files cached (phases timed apart: where the time goes);
- as a run does it (as shipped): the round's cases announced to the target (``Target.expect``),
  so the model server gets them a window ahead, then ``execute`` and judge case by case.

The figure that matters is cases/s over the whole round, as shipped. The model server is started
once (as the pytest plugin does per session); its start-up is reported apart. The load average
is printed with the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.protocol import decode_response, encode_request  # noqa: E402
from harness.scenario.load import clear_cache, load_paths  # noqa: E402
from harness.targets.model import MODEL_SCRATCH, ModelTarget  # noqa: E402

try:
    from harness.verdict.judge import judge  # noqa: E402
except ImportError:  # the verdict layer is optional for this measurement
    judge = None

GOAL = 2000.0
SHIPPED = "as a run does it: announced, cached (as shipped)"


def new_stats(phases: list[str]) -> dict:
    return {"phases": dict.fromkeys(phases, 0.0), "cases": 0, "rounds": 0, "passed": 0, "wall": 0.0, "cpu": 0.0}


def server_cpu(target: ModelTarget) -> float:
    """CPU seconds the model server used so far (Linux /proc; 0 where it cannot be read)."""
    proc = target._proc
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, ValueError, IndexError):
        return 0.0


def timed_round(target: ModelTarget, way, stats: dict) -> None:
    """One round of ``way``; adds the CPU time of this process and the model server (which,
    on a shared host, says more than the wall time: it does not count waiting for a core)."""
    cpu0, server0 = time.process_time(), server_cpu(target)
    way(stats)
    stats["cpu"] += time.process_time() - cpu0 + max(0.0, server_cpu(target) - server0)


def round_announced(target: ModelTarget, paths: list[str], stats: dict) -> None:
    """One round as a run does it: cached files, the cases announced, executed and judged."""
    phases, passed = stats["phases"], 0
    wall0 = t = time.perf_counter()
    cases = load_paths(paths)
    phases["load+check YAML"] += time.perf_counter() - t
    target.expect(iter(cases))
    for case in cases:
        t1 = time.perf_counter()
        result = target.execute(case)
        t2 = time.perf_counter()
        if judge is not None:
            passed += judge(case, result).outcome == "PASS"
        phases["execute (encode, model, decode)"] += t2 - t1
        phases["judge"] += time.perf_counter() - t2
    stats["wall"] += time.perf_counter() - wall0
    stats["cases"] += len(cases)
    stats["rounds"] += 1
    stats["passed"] += passed


def round_one_at_a_time(target: ModelTarget, paths: list[str], stats: dict, *, cached: bool) -> None:
    """One round, one case at a time, phases timed apart.

    ``cached``: the loader's per-process cache of checked files is used, as every tool in one
    process uses it; otherwise it is emptied first, so the round parses and checks every file
    again (the figure before the cache existed).
    """
    phases, passed = stats["phases"], 0
    if not cached:
        clear_cache()
    wall0 = t = time.perf_counter()
    cases = load_paths(paths)
    phases["load+check YAML"] += time.perf_counter() - t
    for case in cases:
        if case.restarts:   # a case in phases: one request per phase, which the target sends
            t1 = time.perf_counter()
            result = target.execute(case)
            t4 = time.perf_counter()
            if judge is not None:
                passed += judge(case, result).outcome == "PASS"
            phases["model round trip"] += t4 - t1
            phases["judge"] += time.perf_counter() - t4
            continue
        t1 = time.perf_counter()
        request = encode_request(case, scratch=MODEL_SCRATCH)
        t2 = time.perf_counter()
        response = target.run_bytes(request, timeout_s=case.timeout_s)
        t3 = time.perf_counter()
        result = decode_response(response, case, target="model")
        t4 = time.perf_counter()
        if judge is not None:
            passed += judge(case, result).outcome == "PASS"
        t5 = time.perf_counter()
        phases["encode"] += t2 - t1
        phases["model round trip"] += t3 - t2
        phases["decode"] += t4 - t3
        phases["judge"] += t5 - t4
    stats["wall"] += time.perf_counter() - wall0
    stats["cases"] += len(cases)
    stats["rounds"] += 1
    stats["passed"] += passed


ONE_AT_A_TIME = ["load+check YAML", "encode", "model round trip", "decode", "judge"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "scenarios")])
    parser.add_argument("--rounds", type=int, default=50, help="catalogue passes per measurement (default 50)")
    parser.add_argument("--min-seconds", type=float, default=0.0, help="keep going until this much time passed")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    target = ModelTarget()
    target.prepare()
    startup = time.perf_counter() - t0
    ways = {"one at a time, files parsed and checked every round":
            (lambda stats: round_one_at_a_time(target, args.paths, stats, cached=False), ONE_AT_A_TIME),
            "one at a time, checked files cached":
            (lambda stats: round_one_at_a_time(target, args.paths, stats, cached=True), ONE_AT_A_TIME),
            SHIPPED: (lambda stats: round_announced(target, args.paths, stats),
                      ["load+check YAML", "execute (encode, model, decode)", "judge"])}
    try:
        for way, phases in ways.values():   # a round each first: imports, caches, the server warm
            timed_round(target, way, new_stats(phases))
        runs = {label: new_stats(phases) for label, (_way, phases) in ways.items()}
        started = time.perf_counter()
        # Round by round in turn, so a busy moment of a shared host falls on every way alike.
        while (next(iter(runs.values()))["rounds"] < args.rounds
               or time.perf_counter() - started < args.min_seconds):
            for label, (way, _phases) in ways.items():
                timed_round(target, way, runs[label])
    finally:
        target.close()
    for run in runs.values():
        run["rate"] = run["cases"] / run["wall"]
    load_after = os.getloadavg()

    shipped = runs[SHIPPED]
    print(f"catalogue: {shipped['cases'] // shipped['rounds']} cases from {', '.join(args.paths)}; "
          f"{shipped['rounds']} rounds per way, in turn; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after (2 cores)")
    for label, run in runs.items():
        print(f"end to end, {label:<56} {run['rate']:8,.0f} cases/s  "
              f"({run['cases']} cases in {run['wall']:.3f} s; CPU {run['cpu'] / run['cases'] * 1e6:5.0f} us/case, "
              f"{run['cases'] / run['cpu'] if run['cpu'] else 0:6,.0f} cases per CPU second)")
    rate = shipped["rate"]
    print(f"goal {GOAL:,.0f} cases/s: {'met' if rate >= GOAL else 'NOT met'} ({rate:,.0f}, as shipped)")
    if judge is not None:
        print(f"verdicts: {sum(r['passed'] for r in runs.values())} of {sum(r['cases'] for r in runs.values())} PASS")
    print(f"model server start-up (once): {startup * 1000:.1f} ms")
    for title, chosen in (("one at a time", list(runs.values())[:2]), ("as shipped", [shipped])):
        heads = ["no cache", "cached"] if len(chosen) == 2 else ["announced, cached"]
        print(f"  {'per case, ' + title:<34}" + "  ".join(f"{h:>19}" for h in heads))
        for name in [*chosen[0]["phases"], "other (loop)"]:
            cells = []
            for run in chosen:
                seconds = run["phases"].get(name, run["wall"] - sum(run["phases"].values()))
                cells.append(f"{seconds / run['cases'] * 1e6:8.1f} us {seconds / run['wall'] * 100:5.1f} %")
            print(f"  {name:<34}" + "  ".join(cells))
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
