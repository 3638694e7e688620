#!/usr/bin/env python3
"""Cost of a power-cut case on the smoke guest, beside a cold boot measured in the same run
(issue 14, Deliver 6: goal, a power-cut case costs at most 2x a cold boot). Prints:

- cold boot: power-on to SSH-ready of a fresh overlay (and to ready-snapshot taken, with the
  executor copied in), from the smoke target's own boot;
- the same scenario in one phase (no restart): what a case costs without the cut;
- the power-cut case: both phases, the cut (virDomainDestroy, boot of the same overlay,
  SSH-ready, executor copied in again), and the return to the ready snapshot afterwards;
  with the restart alone as the phase record gives it.

Not a timed test. Uses the lab configuration (CLFS_HARNESS_*) and the linux-smoke image.

    .venv/bin/python benchmarks/phases_bench.py [--runs 1] [--how power_cut]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.scenario.load import load_file
from harness.targets import target_class

PHASE_1 = """\
  - create_log: {name: log, path: "${scratch}/bench"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [64, 128]}
    save: {lsn: lsn}
  - flush_to_lsn: {area: ma, lsn: "${lsn}"}
"""
PHASE_2 = """\
  - create_log: {name: log2, path: "${scratch}/bench2"}
  - add_container_set: {log: log2, count: 2, size: 512KiB}
  - close_log: {log: log2}
"""


def _case(directory: Path, name: str, restart: str | None):
    text = f"name: {name}\ndescription: bench\nsteps:\n" + PHASE_1
    if restart:
        text += f"  - restart: {{how: {restart}}}\n"
    text += PHASE_2
    path = directory / f"{name}.scenario.yaml"
    path.write_text(text)
    (case,), problems = load_file(path, display=path.name)
    if problems:
        raise SystemExit("\n".join(problems))
    return case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--how", default="power_cut", choices=("power_cut", "bugcheck", "clean"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain = _case(Path(tmp), "one_phase", None)
        cut = _case(Path(tmp), "with_restart", args.how)
        smoke = target_class("smoke")()
        try:
            smoke.prepare()
            guest = smoke._guest
            print(f"accelerator: {guest.accel}", flush=True)
            cold_ready, cold_snapshot = guest.ready_seconds, guest.boot_seconds
            plain_s, cut_s, restart_s = [], [], []
            for i in range(args.runs):
                start = time.perf_counter()
                smoke.execute(plain)
                plain_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                result = smoke.execute(cut)
                cut_s.append(time.perf_counter() - start)
                restart_s.append(result.phases[1]["restart_s"])
                bad = [r.index for r in result.steps if r.disposition != "ran" or r.status & 0x8000_0000]
                print(f"run {i + 1}: one phase {plain_s[-1]:.2f} s, {args.how} case {cut_s[-1]:.2f} s "
                      f"(restart {restart_s[-1]:.2f} s){'; steps not ok: ' + str(bad) if bad else ''}", flush=True)
        finally:
            smoke.close()
    med = statistics.median
    print()
    print(f"{'what':<52} {'seconds':>8}")
    print(f"{'cold boot: power-on to SSH-ready':<52} {cold_ready:>8.2f}")
    print(f"{'cold boot: to ready snapshot (executor copied in)':<52} {cold_snapshot:>8.2f}")
    print(f"{'case in one phase':<52} {med(plain_s):>8.2f}")
    print(f"{args.how + ': restart to ready again (same disk)':<52} {med(restart_s):>8.2f}")
    print(f"{args.how + ' case: both phases + back to ready':<52} {med(cut_s):>8.2f}")
    ratio = med(cut_s) / cold_ready
    print(f"\n{args.how} case / cold boot to SSH-ready: {ratio:.2f}x (goal: at most 2x) "
          f"{'OK' if ratio <= 2.0 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
