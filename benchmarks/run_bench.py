#!/usr/bin/env python3
"""`clfs-harness run` on the model for a 5,000-case matrix, beside pytest's own per-item cost.

Prints, in one run, the wall time and cases per second of

- ``clfs-harness run <matrix> --target model`` (the whole thing: interpreter start, pytest,
  collection and matrix expansion, every case through the model server with its artefact
  folder, the results JSON and Markdown summary), and
- the baseline: plain ``pytest`` on a file of as many no-op parametrized test items, our
  plugin not loaded: what pytest itself costs per item, the floor no plugin can go under,

both in the quiet (``-q``) and the live-progress (``-v``, what ``run`` prints by default)
mode, and what the harness adds per case over that floor.

With ``--before REV`` the same ``clfs-harness run`` of git revision REV (exported to a
temporary folder, its model built there) is timed too, in turn with the others.

Goal (issue 12): >= 500 cases/s end to end for the 5,000-case matrix.

    .venv/bin/python benchmarks/run_bench.py [--cases 5000] [--repeats 3] [--before main]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 500.0
PER_SCENARIO = 1000   # a scenario expands to at most 1,024 cases; the matrix is split over documents

SCENARIO = """\
name: grid{n}
description: one part of the run benchmark's matrix
tags: [bench]
matrix:
  a: [{a}]
  count: [{counts}]
steps:
  - create_log: {{name: log}}
  - add_container_set: {{log: log, count: "${{count}}", size: 512KiB}}
  - query_log_info: {{log: log}}
    expect: {{status: success, total_containers: "${{count}}"}}
"""

NOOP = """\
import pytest


@pytest.mark.parametrize("i", range({cases}))
def test_noop(i):
    pass
"""


def write_matrix(folder: Path, cases: int) -> Path:
    """``cases`` cases (a multiple of 100) as scenarios of at most 1,000 cases each, in one file."""
    docs, left, n = [], cases, 0
    while left > 0:
        part = min(left, PER_SCENARIO)
        docs.append(SCENARIO.format(n=n, a=", ".join(str(i) for i in range(part // 100)),
                                    counts=", ".join(str(c) for c in range(2, 102))))
        left -= part
        n += 1
    path = folder / "matrix.scenario.yaml"
    path.write_text("---\n".join(docs))
    return path


def timed(cmd: list[str], cwd: Path, env: dict, expect: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command, CPU counting its children (the model server)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or expect not in proc.stdout:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def export_revision(rev: str, dest: Path) -> Path:
    """The tree of git revision ``rev`` in ``dest`` (``git archive``), its model built there."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    subprocess.run(["make", "-s", "-C", str(dest / "driver_src"), "host-model"], check=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000, help="matrix size, a multiple of 100 (default 5000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command; the median counts (default 3)")
    parser.add_argument("--before", metavar="REV",
                        help="also time `clfs-harness run` as git revision REV has it (e.g. main), side by side")
    args = parser.parse_args(argv)
    if args.cases < 100 or args.cases % 100:
        parser.error("--cases: expected a multiple of 100")

    subprocess.run(["make", "-s", "-C", str(ROOT / "driver_src"), "host-model"], check=True)
    with tempfile.TemporaryDirectory(prefix="clfs-run-bench-") as tmp:
        tmp = Path(tmp)
        matrix = write_matrix(tmp, args.cases)
        (tmp / "test_noop.py").write_text(NOOP.format(cases=args.cases))
        env = dict(os.environ, CLFS_HARNESS_RUN_DIR=str(tmp / "runs"))
        for name in ("CLFS_HARNESS_TARGET", "CLFS_HARNESS_LAB"):   # the model, with every default
            env.pop(name, None)
        trees = {"clfs-harness run (model)": (ROOT, env)}
        if args.before:
            before = export_revision(args.before, Path(tempfile.mkdtemp(prefix="before-", dir=tmp)))
            trees[f"{args.before}: clfs-harness run"] = (before, dict(env, PYTHONPATH=str(before)))
        passed = f"{args.cases} passed"
        rows = []
        for mode in ("-q", "-v"):
            commands = {}
            for label, (tree, tree_env) in trees.items():
                commands[label] = ([sys.executable, "-m", "harness.cli", "run", str(matrix), "--target", "model",
                                    f"--results-json={tmp / 'results.json'}", f"--summary-md={tmp / 'summary.md'}",
                                    *(["-q"] if mode == "-q" else [])], tree_env)
            commands["pytest, no-op items"] = ([sys.executable, "-m", "pytest", "test_noop.py", mode,
                                                "-p", "no:cacheprovider", "-p", "no:clfs_harness"], env)
            times: dict[str, list] = {label: [] for label in commands}
            load = [os.getloadavg()[0]]
            for _ in range(args.repeats):   # interleaved, so a busy moment of the host hits all
                for label, (cmd, cmd_env) in commands.items():
                    times[label].append(timed(cmd, tmp, cmd_env, passed))
                load.append(os.getloadavg()[0])
            rows.append((mode, {label: [statistics.median(x) for x in zip(*t)] for label, t in times.items()},
                         load))

    n = args.cases
    print(f"{n} cases; median of {args.repeats} interleaved run(s) each; the whole command, "
          f"wall time and CPU time (children included); load average (1 min) over the runs of each mode")
    labels = list(rows[0][1])
    print(f"{'mode':<5}{'':<6}" + "".join(f"{label:>30}" for label in labels) + f"{'harness adds':>16}")
    for mode, medians, load in rows:
        floor = medians["pytest, no-op items"]
        ours = medians[labels[0]]
        for i, clock in enumerate(("wall", "CPU")):
            cells = "".join(f"{m[i]:>10.2f} s {n / m[i]:>7,.0f} /s{'':>6}" for m in medians.values())
            print(f"{mode if i == 0 else '':<5}{clock:<6}{cells}{(ours[i] - floor[i]) / n * 1e6:>9.0f} us/case")
        print(f"{'':<11}load average {min(load):.2f} to {max(load):.2f}")
    rate = n / rows[0][1][labels[0]][0]
    print(f"goal >= {GOAL:,.0f} cases/s (-q, wall): {'met' if rate >= GOAL else 'NOT met'} ({rate:,.0f}); "
          f"by CPU time {n / rows[0][1][labels[0]][1]:,.0f}; -v wall {n / rows[1][1][labels[0]][0]:,.0f}; "
          f"pytest's no-op items: {n / rows[0][1]['pytest, no-op items'][0]:,.0f} items/s (-q, wall)")
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
