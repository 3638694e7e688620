#!/usr/bin/env python3
"""wine target benchmark (not a timed test): in one run, per catalogue case, the time a case takes
on ``model`` and on ``wine`` side by side (and on ``smoke`` with ``--smoke``), plus what each worker
pays once: the run's build and template prefix, and the Wine session's start-up.

Per case on wine: write the request into the prefix, ``wine clfsctl.exe run`` (a Wine process
start, DeviceIoControl into winedevice.exe, the driver, the stand-in), read the response and the
stand-in's events, decode. Repeats give the median.

A phased case (scenarios/durability) costs its requests and a real restart of the Wine session per
restart; the last lines put the median phased case beside the median plain one, and the restarts.

    nice -n 10 .venv/bin/python benchmarks/wine_bench.py [--repeats 3] [--smoke] [--only durability/]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _catalogue():
    from harness.scenario.load import discover, load_file
    cases = []
    for file in discover([str(ROOT / "scenarios")]):
        cases.extend(load_file(file.path, file.file_id)[0])
    return cases


def _time_case(target, case, repeats: int) -> tuple[float, list[float]]:
    """(median seconds, the restarts' seconds of every repeat: a phased case's restarts)."""
    from harness.errors import BugcheckDetected
    times, restarts = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            result = target.execute(case)
            restarts += [p["restart_s"] for p in result.phases if p.get("restart_s") is not None]
        except BugcheckDetected:
            pass   # the stand-in's simulated stop: the next case restarts the session (counted there)
        times.append(time.perf_counter() - started)
    return statistics.median(times), restarts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="also the smoke guest (boots a VM)")
    parser.add_argument("--only", default="", help="only the cases whose ID contains this (e.g. durability/)")
    args = parser.parse_args()

    from harness.config import LabConfig
    from harness.targets.model import ModelTarget
    from harness.targets.wine import WineTarget

    base = LabConfig.from_env()
    Path(base.run_dir).mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="wine-bench-", dir=base.run_dir)).resolve()
    run_dir.chmod(0o755)   # QEMU (smoke) runs as another user and must reach its overlays here
    config = dataclasses.replace(base, run_dir=run_dir)
    targets = {}
    try:
        started = time.perf_counter()
        built = WineTarget.build_shared(config)
        print(f"wine build_shared (driver, stand-in, template prefix; once per run): "
              f"{time.perf_counter() - started:.1f} s")
        wine = WineTarget(config, built=built, worker="bench")
        started = time.perf_counter()
        wine.prepare()
        print(f"wine worker prepare (prefix copy + session start): {time.perf_counter() - started:.2f} s, "
              f"of which Wine session start-up {wine.identity()['wine_start_s']:.2f} s")
        targets["wine"] = wine
        model = ModelTarget()
        model.prepare()
        targets["model"] = model
        if args.smoke:
            from harness.targets.vm_linux import SmokeTarget
            started = time.perf_counter()
            smoke = SmokeTarget(config)
            smoke.prepare()
            print(f"smoke worker prepare (boot): {time.perf_counter() - started:.1f} s")
            targets["smoke"] = smoke
        names = [n for n in ("model", "wine", "smoke") if n in targets]
        print(f"\nper case, median of {args.repeats} (ms):")
        print(f"{'case':<78} " + " ".join(f"{n:>8}" for n in names))
        totals = dict.fromkeys(names, 0.0)
        kinds = {"plain": {n: [] for n in names}, "phased": {n: [] for n in names}}
        restarts = {n: [] for n in names}
        for case in _catalogue():
            if args.only and args.only not in case.id:
                continue
            row = {}
            for name in names:
                row[name], took = _time_case(targets[name], case, args.repeats)
                totals[name] += row[name]
                kinds["phased" if case.restarts else "plain"][name].append(row[name])
                restarts[name] += took
            print(f"{case.id[:78]:<78} " + " ".join(f"{row[n] * 1000:8.1f}" for n in names))
        print(f"{'total':<78} " + " ".join(f"{totals[n] * 1000:8.0f}" for n in names))
        # What a case in phases costs beside one request: on wine each restart is a real restart of
        # the Wine session (kill, start, driver loaded), on model a simulation inside the request.
        for kind, rows in kinds.items():
            if rows[names[0]]:
                print(f"{kind} case, median (ms), {len(rows[names[0]])} cases: " +
                      ", ".join(f"{n} {statistics.median(rows[n]) * 1000:.1f}" for n in names))
        for name in names:
            if restarts[name]:
                print(f"{name} restart between phases, median of {len(restarts[name])}: "
                      f"{statistics.median(restarts[name]):.2f} s")
    finally:
        for target in targets.values():
            target.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
