"""Catalogue cases per second on the model target, end to end from YAML, and where the time goes.

    .venv/bin/python benchmarks/model_bench.py [--rounds N] [--min-seconds S] [PATHS...]

Each round does what a run does for every case: load and check the scenario files (YAML,
schema, matrix expansion), encode the request, send it to the model server and read the
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
from harness.scenario.load import load_paths  # noqa: E402
from harness.targets.model import MODEL_SCRATCH, ModelTarget  # noqa: E402

try:
    from harness.verdict.judge import judge  # noqa: E402
except ImportError:  # the verdict layer is optional for this measurement
    judge = None

GOAL = 2000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "scenarios")])
    parser.add_argument("--rounds", type=int, default=50, help="catalogue passes (default 50)")
    parser.add_argument("--min-seconds", type=float, default=0.0, help="keep going until this much time passed")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    target = ModelTarget()
    target.prepare()
    startup = time.perf_counter() - t0

    phases = {"load+check YAML": 0.0, "encode": 0.0, "model round trip": 0.0, "decode": 0.0, "judge": 0.0}
    cases_run = rounds = passed = 0
    wall0 = time.perf_counter()
    try:
        while rounds < args.rounds or time.perf_counter() - wall0 < args.min_seconds:
            t = time.perf_counter()
            cases = load_paths(args.paths)
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
            rounds += 1
    finally:
        target.close()
    wall = time.perf_counter() - wall0

    rate = cases_run / wall
    print(f"catalogue: {cases_run // rounds} cases from {', '.join(args.paths)}; {rounds} rounds, "
          f"{cases_run} cases in {wall:.3f} s")
    print(f"end to end: {rate:,.0f} cases/s  (goal {GOAL:,.0f}: {'met' if rate >= GOAL else 'NOT met'})")
    if judge is not None:
        print(f"verdicts: {passed} of {cases_run} PASS")
    print(f"model server start-up (once): {startup * 1000:.1f} ms")
    print("where the time goes (per case):")
    accounted = sum(phases.values())
    for name, seconds in phases.items():
        print(f"  {name:<18} {seconds / cases_run * 1e6:8.1f} us  {seconds / wall * 100:5.1f} %")
    print(f"  {'other (loop)':<18} {(wall - accounted) / cases_run * 1e6:8.1f} us  "
          f"{(wall - accounted) / wall * 100:5.1f} %")
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
