#!/usr/bin/env python3
"""wine target benchmark (not a timed test): in one run, per catalogue case, the time a case takes
on ``model`` and on ``wine`` side by side (and on ``smoke`` with ``--smoke``), plus what each worker
pays once: the run's build and template prefix, and the Wine session's start-up.

Per case on wine: write the request into the prefix, ``wine clfsctl.exe run`` (a Wine process
start, DeviceIoControl into winedevice.exe, the driver, the stand-in), read the response and the
stand-in's events, decode. Repeats give the median.

    nice -n 10 .venv/bin/python benchmarks/wine_bench.py [--repeats 3] [--smoke]
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


def _time_case(target, case, repeats: int) -> float:
    from harness.errors import BugcheckDetected
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            target.execute(case)
        except BugcheckDetected:
            pass   # the stand-in's simulated stop: the next case restarts the session (counted there)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="also the smoke guest (boots a VM)")
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
        for case in _catalogue():
            row = {}
            for name in names:
                row[name] = _time_case(targets[name], case, args.repeats)
                totals[name] += row[name]
            print(f"{case.id[:78]:<78} " + " ".join(f"{row[n] * 1000:8.1f}" for n in names))
        print(f"{'total':<78} " + " ".join(f"{totals[n] * 1000:8.0f}" for n in names))
    finally:
        for target in targets.values():
            target.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
