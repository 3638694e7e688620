#!/usr/bin/env python3
"""Run-pipeline benchmark (not a timed test): prints, in one run,

- catalogue wall time on the smoke guest with one worker and with two (``clfs-harness run
  scenarios --target smoke --workers N``, end to end: pytest start, VM boot, every case, power
  off), the speed-up, and where the time goes (boot vs cases);
- the per-case cost on a warm smoke instance (encode, one frame to the executor kept running in
  the guest, decode) beside one SSH command on the same connection (goal: at most 1.2x), the
  executor started per case as before, one SFTP copy, and the same cases on the host model.

- the same with the catalogue copied ``--copies`` times, so that case work, not the boot every
  worker pays once, dominates the wall time (what a Windows run, whose cases are slower, looks like).

Goal: two workers at least 1.6x faster than one on a 2-core machine.

    .venv/bin/python benchmarks/pipeline_bench.py [--repeats 2] [--cases 40] [--copies 10] [--warm-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def catalogue_run(workers: int, out: Path, scenarios: Path) -> dict:
    """One end-to-end catalogue run; returns wall time and the per-case times it reported."""
    results = out / f"results-{workers}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(scenarios), "--target", "smoke", "--workers", str(workers),
           "-q", f"--results-json={results}"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"catalogue run with {workers} worker(s) failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}")
    data = json.loads(results.read_text())
    case_time = sum(c["duration_s"] for c in data["cases"])
    return {"wall": wall, "cases": len(data["cases"]), "case_time": case_time}


def warm_instance_costs(count: int) -> dict:
    """Per-case seconds on a warm smoke instance and on the host model, same cases; one SSH
    command, one SFTP put and the executor started per case (the path before issue 12), all on
    the same connection, interleaved so a busy moment of the host hits each alike."""
    from harness.protocol import encode_request
    from harness.scenario.load import discover, load_file
    from harness.targets.model import MODEL_SCRATCH, ModelTarget
    from harness.targets.vm_linux import GUEST_MODEL, SmokeTarget

    cases = []
    for file in discover([ROOT / "scenarios"]):
        # One request per case: no deliberate bugcheck, no phases (a phased case is a request per
        # phase with a restart between, timed by phases_bench.py).
        cases.extend(c for c in load_file(file.path, file.file_id)[0] if not c.expect_bugcheck and not c.restarts)
    cases = (cases * (count // len(cases) + 1))[:count]
    smoke, model = SmokeTarget(worker="bench"), ModelTarget()
    try:
        boot_started = time.perf_counter()
        smoke.prepare()
        boot = time.perf_counter() - boot_started
        model.prepare()
        smoke.execute(cases[0])   # warm: the executor started, page cache
        guest = smoke._guest
        guest.run("true")
        timings = {"smoke": [], "model": [], "ssh_true": [], "sftp_put": [], "exec_per_case": []}
        with tempfile.NamedTemporaryFile() as blob:
            blob.write(b"\0" * 512)
            blob.flush()
            for case in cases:
                for name, target in (("smoke", smoke), ("model", model)):
                    t0 = time.perf_counter()
                    target.execute(case)
                    timings[name].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                guest.run("true")
                timings["ssh_true"].append(time.perf_counter() - t0)
                request = encode_request(case, scratch=MODEL_SCRATCH)
                t0 = time.perf_counter()
                guest.run(f"{GUEST_MODEL} /proc/self/fd/0 /proc/self/fd/1", stdin=request, check=True)
                timings["exec_per_case"].append(time.perf_counter() - t0)
            for _ in range(min(count, 30)):
                t0 = time.perf_counter()
                guest.put(Path(blob.name), "/tmp/bench.bin")
                timings["sftp_put"].append(time.perf_counter() - t0)
        return {"boot": boot, "accel": smoke.identity().get("accel"), "cases": len(cases),
                **{k: statistics.median(v) for k, v in timings.items()}}
    finally:
        smoke.close()
        model.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="catalogue runs per worker count (median)")
    parser.add_argument("--cases", type=int, default=40, help="cases timed on the warm instance")
    parser.add_argument("--copies", type=int, default=10, help="catalogue copies in the case-dominated workload")
    parser.add_argument("--warm-only", action="store_true",
                        help="only the per-case costs on a warm instance (no catalogue runs)")
    args = parser.parse_args()
    os.environ.setdefault("CLFS_HARNESS_RUN_DIR", "/var/tmp/clfs-harness/runs")
    cpus = os.cpu_count()

    runs: dict[tuple[str, int], list[dict]] = {}
    workloads: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="clfs-bench-") as tmp:
        if not args.warm_only:
            copies = Path(tmp) / "copies"
            for k in range(args.copies):
                shutil.copytree(ROOT / "scenarios", copies / f"copy{k:02d}")
            workloads = {"catalogue": ROOT / "scenarios", f"catalogue x{args.copies}": copies}
            for name, path in workloads.items():
                for _ in range(args.repeats):
                    for workers in (1, 2):   # interleaved, so drift in the machine's speed hits both
                        runs.setdefault((name, workers), []).append(catalogue_run(workers, Path(tmp), path))
    warm = warm_instance_costs(args.cases)

    def med(name: str, workers: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[(name, workers)])

    print(f"machine: {cpus} CPU(s); accelerator {warm['accel']}; median of {args.repeats} run(s) each")
    for name in workloads:
        cases = runs[(name, 1)][0]["cases"]
        print()
        print(f"{f'{name} ({cases} cases) on the smoke guest':44} {'wall s':>8} {'cases s':>8} {'other s':>8}")
        for workers in (1, 2):
            wall, case_time = med(name, workers, "wall"), med(name, workers, "case_time")
            # Case seconds summed over workers, per worker; "other" is start-up, boot, power-off.
            per_worker = case_time / workers
            print(f"{f'  {workers} worker(s)':44} {wall:8.2f} {per_worker:8.2f} {wall - per_worker:8.2f}")
        one, two = med(name, 1, "wall"), med(name, 2, "wall")
        fixed = one - med(name, 1, "case_time")
        bound = one / (fixed + med(name, 1, "case_time") / 2)
        verdict = "met" if one / two >= 1.6 else "NOT met"
        print(f"{'  speed-up, 2 workers vs 1 (goal >= 1.6x)':44} {one / two:7.2f}x  -> {verdict}"
              f"  (bound with this fixed cost: {bound:.2f}x)")
    print()
    ratio = warm["smoke"] / warm["ssh_true"]
    print(f"{'per case on a warm instance (median of ' + str(warm['cases']) + ')':52} {'ms':>8} {'x SSH':>7}")
    rows = (("smoke guest, end to end (executor kept running)", warm["smoke"]),
            ("one SSH command (true), same connection", warm["ssh_true"]),
            ("before: executor started per case (exec + stdin)", warm["exec_per_case"]),
            ("one SFTP put (512 B)", warm["sftp_put"]),
            ("baseline: host model (same cases)", warm["model"]))
    for label, seconds in rows:
        print(f"{label:52} {seconds * 1000:8.2f} {seconds / warm['ssh_true']:6.2f}x")
    print(f"{'goal: a case <= 1.2x one SSH command':52} {'met' if ratio <= 1.2 else 'NOT met'} ({ratio:.2f}x)")
    print(f"{'cold boot to ready (one instance)':52} {warm['boot'] * 1000:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
