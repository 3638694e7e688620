"""Catalogue cases per second on the model target, end to end from YAML, and where the time goes.

    .venv/bin/python benchmarks/model_bench.py [--rounds N] [--min-seconds S] [PATHS...]

Each round does what a run does for every case: load and check the scenario files (YAML,
schema, matrix expansion; measured twice, with the loader's per-process cache of checked files
and with that cache emptied before each round), encode the request, send it to the model server and read the
answer (C interpreter + model inside), decode and check the response, and judge it. Phases are
timed separately; the figure that matters is cases/s over the whole round. The model server is
started once (as the pytest plugin does per session); its start-up is reported apart.
"""

from __future__ import annotations

import argparse
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


def measure(target: ModelTarget, paths: list[str], rounds: int, min_seconds: float, *, cached: bool) -> dict:
    """Run the catalogue ``rounds`` times (at least ``min_seconds``); phases timed apart.

    ``cached``: the loader's per-process cache of checked files is used, as every tool in one
    process uses it; otherwise it is emptied before each round, so each round parses and checks
    every file again (the figure before the cache existed).
    """
    phases = {"load+check YAML": 0.0, "encode": 0.0, "model round trip": 0.0, "decode": 0.0, "judge": 0.0}
    cases_run = done = passed = 0
    wall0 = time.perf_counter()
    while done < rounds or time.perf_counter() - wall0 < min_seconds:
        if not cached:
            clear_cache()
        t = time.perf_counter()
        cases = load_paths(paths)
        phases["load+check YAML"] += time.perf_counter() - t
        for case in cases:
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
        cases_run += len(cases)
        done += 1
    wall = time.perf_counter() - wall0
    return {"phases": phases, "cases": cases_run, "rounds": done, "passed": passed, "wall": wall,
            "rate": cases_run / wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "scenarios")])
    parser.add_argument("--rounds", type=int, default=50, help="catalogue passes per measurement (default 50)")
    parser.add_argument("--min-seconds", type=float, default=0.0, help="keep going until this much time passed")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    target = ModelTarget()
    target.prepare()
    startup = time.perf_counter() - t0
    try:
        # Reloading first: its first round also warms the model server and the imports.
        runs = {"files parsed and checked every round (no cache)":
                measure(target, args.paths, args.rounds, args.min_seconds, cached=False),
                "checked files cached per process (as shipped)":
                measure(target, args.paths, args.rounds, args.min_seconds, cached=True)}
    finally:
        target.close()

    shipped = runs["checked files cached per process (as shipped)"]
    print(f"catalogue: {shipped['cases'] // shipped['rounds']} cases from {', '.join(args.paths)}; "
          f"{shipped['rounds']} rounds per measurement")
    for label, run in runs.items():
        print(f"end to end, {label:<50} {run['rate']:8,.0f} cases/s  "
              f"({run['cases']} cases in {run['wall']:.3f} s)")
    rate = shipped["rate"]
    print(f"goal {GOAL:,.0f} cases/s: {'met' if rate >= GOAL else 'NOT met'} ({rate:,.0f})")
    if judge is not None:
        print(f"verdicts: {sum(r['passed'] for r in runs.values())} of {sum(r['cases'] for r in runs.values())} PASS")
    print(f"model server start-up (once): {startup * 1000:.1f} ms")
    print(f"  {'per case':<30}{'no cache':>19}  {'cached':>19}")
    for name in [*shipped["phases"], "other (loop)"]:
        cells = []
        for run in runs.values():
            seconds = run["phases"].get(name, run["wall"] - sum(run["phases"].values()))
            cells.append(f"{seconds / run['cases'] * 1e6:8.1f} us {seconds / run['wall'] * 100:5.1f} %")
        print(f"  {name:<30}" + "  ".join(cells))
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
