"""Ctrl-C and SIGTERM at each point of a two-worker run on the smoke guest leave nothing behind.

Each case runs ``clfs-harness run --target smoke --workers 2`` on a tiny scenario file and
interrupts it at one point of the lifecycle, found (and, where the point would pass too quickly,
held) through ``harness/testpoints.py``: during the shared build, during a domain start that
libvirt holds (the hold sits inside the libvirt call, off the main thread, like the 36-57 s
capability probe of a host whose /dev/kvm QEMU cannot open), during SSH readiness, in the middle
of a case (the guest command is still running), during a revert after a guest panic, and while
the controller writes its reports. SIGINT goes to the whole process group (a terminal's Ctrl-C);
SIGTERM to the controller alone (``timeout``, a CI runner's cancel).

After the run has exited: no domain of the run, no overlay or staged image, no lock or temporary
file, no process of the run; the results JSON is written (``complete: false`` unless every case
had finished). The next run's reap is not involved: nothing here runs one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_run_pipeline import CLI, lab_ready, leftovers, run_dir  # noqa: F401

pytestmark = pytest.mark.vm

SCENARIO = """\
name: quick
description: A log and a container; the point is where the run is interrupted, not CLFS.
tags: [interrupt]
matrix:
  n: [1, 2]
timeout: 60s
steps:
  - create_log: {name: log}
  - add_container: {log: log, size: 512KiB}
"""

LAB = """\
default_target: smoke-int
infra_retries: 0
timeouts: {boot: 2m, command: 60s}
hosts:
  - {uri: "qemu:///system", capacity: 1}
  - {uri: "qemu+unix:///system", capacity: 1}
targets:
  smoke-int:
    kind: smoke
    faults: {FAULTS}
"""

# point -> (signal and to whom, markers to wait for, hold seconds, lab faults)
POINTS = {
    "build": ("SIGTERM", 1, 30, {}),
    "start": ("SIGINT", 2, 3, {}),                     # shorter than the close's 6 s settle wait
    "ssh": ("SIGTERM", 2, 30, {}),
    "case": ("SIGINT", 2, 0, {"*": "hang"}),           # every case's guest command never returns
    "revert": ("SIGTERM", 1, 30, {"*": "panic"}),      # every case panics the guest; revert held
    "report": ("SIGINT", 1, 4, {}),
}
TABLE: list[str] = []


def _run_processes(pgid: int) -> list[str]:
    """Processes still in the run's process group (``ps``), as "pid command" lines."""
    out = subprocess.run(["ps", "-o", "pid=,pgid=,args=", "-e"], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.split()[1:2] == [str(pgid)]]


def _domains_gone(run_dir: Path, wait_s: float) -> tuple[list[str], float]:
    """What the run left; a domain libvirtd is still destroying gets ``wait_s`` (the wait is
    reported in the table)."""
    start = time.monotonic()
    left = leftovers(run_dir)
    while left and time.monotonic() - start < wait_s:
        time.sleep(0.25)
        left = leftovers(run_dir)
    return left, (time.monotonic() - start if left or time.monotonic() - start > 2.5 else 0.0)


@pytest.mark.parametrize("point", list(POINTS))
def test_an_interrupt_at_each_point_leaves_nothing(lab_ready, run_dir, tmp_path, point):  # noqa: F811
    sig_name, markers_wanted, hold_s, faults = POINTS[point]
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "quick.scenario.yaml").write_text(SCENARIO)
    (tmp_path / "lab.yaml").write_text(LAB.replace("{FAULTS}", json.dumps(faults)))
    marks = tmp_path / "marks"
    marks.mkdir()
    report = tmp_path / "out" / "results.json"
    env = dict(os.environ, CLFS_HARNESS_RUN_DIR=str(run_dir), TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1",
               CLFS_HARNESS_TESTPOINT_DIR=str(marks), CLFS_HARNESS_TESTPOINT_HOLD=point if hold_s else "",
               CLFS_HARNESS_TESTPOINT_HOLD_S=str(hold_s))
    proc = subprocess.Popen(CLI + ["run", "cases", "--lab", "lab.yaml", "--workers", "2",
                                   "--results-json", str(report)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while len(list(marks.glob(f"{point}.*"))) < markers_wanted:
            assert proc.poll() is None, f"the run ended before reaching {point}:\n{proc.stdout.read()[-3000:]}"
            assert time.monotonic() < deadline, f"{point} not reached in 240 s"
            time.sleep(0.1)
        if point == "case":
            time.sleep(1.0)          # the guest commands are running (and never return)
        sent = time.monotonic()
        if sig_name == "SIGINT":
            os.killpg(proc.pid, signal.SIGINT)           # a terminal's Ctrl-C: the whole group
        else:
            os.kill(proc.pid, signal.SIGTERM)            # timeout(1), a CI cancel: the controller only
        output, _ = proc.communicate(timeout=120)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stray = _run_processes(proc.pid)
    if stray:
        os.killpg(proc.pid, signal.SIGKILL)
    left, waited = _domains_gone(run_dir, 5.0)
    left += [str(p) for p in run_dir.rglob("*.lock")] + [str(p) for p in run_dir.rglob(".*.tmp")]
    left += [str(p) for p in tmp_path.rglob(".*.tmp")] + [str(p) for p in tmp_path.glob("tmp*")]
    left += [str(p) for p in run_dir.rglob("*/shared/.*lock")]
    TABLE.append(f"{point:7} {sig_name:8} exit {proc.returncode} after {took:4.1f} s; "
                 f"left: {', '.join(left + stray) or 'nothing'}"
                 + (f" (domains gone {waited:.1f} s after exit)" if waited > 0.3 else ""))
    print(f"\ninterrupt test: {TABLE[-1]}", file=sys.stderr)

    assert proc.returncode == 2, output[-3000:]      # interrupted: neither a pass nor a CLFS failure
    assert stray == [], stray
    assert left == [], output[-3000:]
    results = json.loads(report.read_text())
    assert results["complete"] is (point == "report"), results["summary"]
    if point == "report":
        assert results["summary"]["PASS"] == 2, results["summary"]
