#!/usr/bin/env python3
"""Cost of a power-cut case and of a bugcheck case on the smoke guest, beside a cold boot measured
in the same run (issue 14, Deliver 6: goal, a power-cut case costs at most 2x a cold boot). Prints:

- cold boot: power-on to SSH-ready of a fresh overlay (and to ready-snapshot taken, with the
  executor copied in), from the smoke target's own boot;
- the same scenario in one phase (no restart): what a case costs without the cut;
- the power-cut case: both phases, the cut (virDomainDestroy, boot of the same overlay,
  SSH-ready, executor copied in again), and the return to the ready snapshot afterwards;
  with the restart alone as the phase record gives it;
- the bugcheck case: the same with the harness's bugcheck request instead of the cut (the
  executor writes its line and panics the kernel with sysrq c; pvpanic; boot of the same overlay),
  and whether the crash was verified as ours (phase2-bugcheck.json);
- the mid-burst case (``--how midcut``): phase 1, a reopen, a burst of forced appends cut while its
  request is in flight (restart: {how: power_cut, during: append_burst}), the read back; with when
  the cut came and whether the request was still running.

Not a timed test. Uses the lab configuration (CLFS_HARNESS_*) and the linux-smoke image.

    .venv/bin/python benchmarks/phases_bench.py [--runs 1] [--how power_cut,bugcheck,midcut]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.scenario.load import load_file
from harness.targets import target_class
from harness.targets.base import CaseArtefacts

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


MIDCUT = """\
  - restart: {how: reopen}
  - create_log: {name: log, path: "${scratch}/bench", disposition: open_existing}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - append_burst: {area: ma, record_size: 256, max_records: 1000, max_ms: 3000, flush_every: 4}
  - restart: {how: power_cut, during: append_burst}
    expect: durable
  - create_log: {name: log, path: "${scratch}/bench", disposition: open_existing}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - read_log_record: {name: rd, area: ma, lsn: "${lsn}"}
  - read_burst: {read: rd, record_size: 256, max_records: 1000}
    expect: {status: success, bad: 0}
"""


def _case(directory: Path, name: str, restart: str | None):
    text = f"name: {name}\ndescription: bench\nsteps:\n" + PHASE_1
    if restart == "midcut":
        text += MIDCUT
    else:
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
    parser.add_argument("--how", default="power_cut,bugcheck",
                        help="comma-separated restarts to measure: power_cut, bugcheck, clean")
    args = parser.parse_args()
    hows = [h.strip() for h in args.how.split(",") if h.strip()]
    unknown = sorted(set(hows) - {"power_cut", "bugcheck", "clean", "midcut"})
    if unknown or not hows:
        parser.error(f"--how: unknown restart {', '.join(unknown) or '(none)'}; want power_cut, bugcheck, clean, "
                     f"midcut")
    with tempfile.TemporaryDirectory() as tmp:
        plain = _case(Path(tmp), "one_phase", None)
        cuts = {how: _case(Path(tmp), f"with_{how}", how) for how in hows}
        smoke = target_class("smoke")()
        try:
            smoke.prepare()
            guest = smoke._guest
            print(f"accelerator: {guest.accel}", flush=True)
            cold_ready, cold_snapshot = guest.ready_seconds, guest.boot_seconds
            plain_s: list[float] = []
            cut_s: dict[str, list[float]] = {how: [] for how in hows}
            restart_s: dict[str, list[float]] = {how: [] for how in hows}
            for i in range(args.runs):
                start = time.perf_counter()
                smoke.execute(plain)
                plain_s.append(time.perf_counter() - start)
                line = f"run {i + 1}: one phase {plain_s[-1]:.2f} s"
                for how, cut in cuts.items():
                    artefacts = CaseArtefacts(Path(tmp) / f"run{i}-{how}")
                    start = time.perf_counter()
                    result = smoke.execute(cut, artefacts)
                    cut_s[how].append(time.perf_counter() - start)
                    restart_s[how].append(result.phases[-1]["restart_s"])
                    bad = [r.index for r in result.steps
                           if r.disposition not in ("ran", "lost_in_cut") or r.status & 0x8000_0000]
                    line += (f"; {how} case {cut_s[how][-1]:.2f} s (restart {restart_s[how][-1]:.2f} s)"
                             f"{' steps not ok: ' + str(bad) if bad else ''}")
                    if how == "midcut":
                        cut = result.phases[1]["cut"]
                        back = [r.outputs.get("records") for r in result.steps if r.op == "read_burst"]
                        line += (f" [cut at {cut['cut_ms']:.0f} ms, request "
                                 f"{'ENDED before it' if cut['request_ended'] else 'in flight'}, "
                                 f"{back[0] if back else '?'} burst records came back]")
                    if how == "bugcheck":
                        record = json.loads((artefacts.dir / "phase2-bugcheck.json").read_text())
                        line += f" [crash {'verified ours' if record['verified'] else 'NOT verified'}]"
                print(line, flush=True)
        finally:
            smoke.close()
    med = statistics.median
    print()
    print(f"{'what':<52} {'seconds':>8}")
    print(f"{'cold boot: power-on to SSH-ready':<52} {cold_ready:>8.2f}")
    print(f"{'cold boot: to ready snapshot (executor copied in)':<52} {cold_snapshot:>8.2f}")
    print(f"{'case in one phase':<52} {med(plain_s):>8.2f}")
    for how in hows:
        print(f"{how + ': cut to ready again (same disk)':<52} {med(restart_s[how]):>8.2f}")
        print(f"{how + ' case: both phases + back to ready':<52} {med(cut_s[how]):>8.2f}")
    print()
    for how in hows:
        ratio = med(cut_s[how]) / cold_ready
        if how == "midcut":   # three requests and a burst of writes besides the cut: shown, no goal
            print(f"{how} case / cold boot to SSH-ready: {ratio:.2f}x")
            continue
        print(f"{how} case / cold boot to SSH-ready: {ratio:.2f}x (goal: at most 2x) "
              f"{'OK' if ratio <= 2.0 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
