"""Phases on the smoke guest: a real power cut (virDomainDestroy), the harness's bugcheck (the
executor's sysrq crash on the bugcheck request) and a clean power-off between two phases, each
followed by a boot of the SAME overlay.

What shows it is the same disk: a file written and fsync'd (``sync``) in the guest's work disk
before the restart is there after it, in a guest whose kernel boot id changed (it really booted
again). After the case the guest is back at the ready snapshot: the file is gone again.
"""

from __future__ import annotations

import json
import sys

import pytest

from harness.protocol.results import RAN
from harness.scenario.load import load_file
from harness.verdict.judge import PASS, judge

pytestmark = pytest.mark.vm

CASE = """\
name: across_a_restart
description: two phases on the same disk
steps:
  - create_log: {name: log, path: "${scratch}/before"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [64]}
    save: {first: lsn}
  - flush_to_lsn: {area: ma, lsn: "${first}"}
  - delete_marshalling_area: {area: ma}
  - close_log: {log: log}
  - restart: {how: HOW}
  - create_log: {name: log, path: "${scratch}/after"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [64]}
    expect: {status: success, lsn: {ge: CLFS_LSN_NULL}}
  - delete_marshalling_area: {area: ma}
  - close_log: {log: log}
"""
MARKER = "/srv/scratch/phase1-marker"


@pytest.fixture(scope="module")
def smoke(smoke_target):
    """The session's smoke target (tests/integration/conftest.py): each case ends with the guest
    back at its ready snapshot, so the restarts here start from the same guest as on a fresh one."""
    return smoke_target


@pytest.mark.parametrize("how", ["power_cut", "bugcheck", "clean"])
def test_second_phase_runs_on_the_same_disk_after_a_real_restart(smoke, how, tmp_path, monkeypatch):
    path = tmp_path / "x.scenario.yaml"
    path.write_text(CASE.replace("HOW", how))
    (case,), problems = load_file(path, display="x.scenario.yaml")
    assert problems == []
    guest = smoke._guest
    overlay = guest.instance.spec.overlay
    seen: dict = {}
    real_restart = guest.restart

    def restart(kind: str, **how_exactly) -> float:
        # Test-only probe, around the harness's own restart: a file made stable in phase 1.
        seen["boot_before"] = guest.run("cat /proc/sys/kernel/random/boot_id", check=True).stdout.strip()
        guest.run(f"echo {how} > {MARKER} && sync", check=True)
        seen["inode_before"] = overlay.stat().st_ino
        real_put = guest.put
        monkeypatch.setattr(guest, "put", lambda *a: (seen.setdefault("puts", []).append(a[1]), real_put(*a)))
        took = real_restart(kind, **how_exactly)
        monkeypatch.setattr(guest, "put", real_put)
        seen["boot_after"] = guest.run("cat /proc/sys/kernel/random/boot_id", check=True).stdout.strip()
        seen["marker_after"] = guest.run(f"cat {MARKER}").stdout.strip()
        seen["inode_after"] = overlay.stat().st_ino
        return took

    monkeypatch.setattr(guest, "restart", restart)
    result = smoke.execute(case)

    assert seen["boot_after"] != seen["boot_before"], "the guest did not boot again"
    assert seen["marker_after"] == how, "a file synced before the restart is gone: not the same disk"
    assert seen["inode_after"] == seen["inode_before"], "the overlay was replaced"
    # The executor is on the ready snapshot's disk (synced when it was copied in): the restart
    # checks it in the guest and does not copy it again.
    assert seen.get("puts") is None, f"copied in again after the restart: {seen['puts']}"
    assert [p["restart"] for p in result.phases] == [None, how]
    assert all(p["ran"] for p in result.phases)
    assert [r.phase for r in result.steps] == [1] * 7 + [2] * 6
    assert all(r.disposition == RAN for r in result.steps)
    assert judge(case, result).outcome == PASS, judge(case, result).diff()
    events = [text for _, text in guest.instance.state.events]
    if how == "power_cut":
        assert "stopped/destroyed" in events
    elif how == "bugcheck":
        assert any(text.startswith("crashed/") for text in events)
    # Back at the ready snapshot: the file of phase 1 is gone, the guest still runs cases.
    assert guest.run(f"test -e {MARKER}").exit_code != 0
    assert guest.instance.crashed() is None


def test_a_bugcheck_restart_is_the_executors_own_crash_proved_on_the_console(smoke, tmp_path):
    """restart: {how: bugcheck} on the real guest: the harness's bugcheck request goes to the model
    executor (the path clfsctl.exe takes on Windows), which writes its line and panics the kernel
    with sysrq c; libvirt reports the panic (pvpanic), the same overlay boots, phase 2 runs. The
    console slice kept in the case folder names our code and this restart's parameters."""
    from harness.targets import bugcheck
    from harness.targets.base import CaseArtefacts

    path = tmp_path / "x.scenario.yaml"
    path.write_text(CASE.replace("HOW", "bugcheck"))
    (case,), problems = load_file(path, display="x.scenario.yaml")
    assert problems == []
    artefacts = CaseArtefacts(tmp_path / "case")
    since = len(smoke._guest.instance.state.events)
    result = smoke.execute(case, artefacts)

    assert judge(case, result).outcome == PASS, judge(case, result).diff()
    assert [p["restart"] for p in result.phases] == [None, "bugcheck"] and all(p["ran"] for p in result.phases)
    events = [text for _, text in smoke._guest.instance.state.events[since:]]
    assert "crashed/0" in events, events        # VIR_DOMAIN_EVENT_CRASHED_PANICKED
    record = json.loads((artefacts.dir / "phase2-bugcheck.json").read_text())
    assert record["verified"] is True and record["witness"].startswith("serial console"), record
    assert record["observed"] == {"code": "0x2C1F5000", "parameters": record["expected"]["parameters"]}
    console = (artefacts.dir / "phase2-restart-console.log").read_text(errors="replace")
    code, params = bugcheck.from_console(console)
    assert code == 0x2C1F5000 and params[2] == 2          # the phase the restart starts
    assert "sysrq triggered crash" in console[console.index("clfstest: deliberate bugcheck"):]
    assert "verified by the serial console" in (artefacts.dir / "restarts.txt").read_text()
    print("\n" + (artefacts.dir / "restarts.txt").read_text().strip(), file=sys.stderr)
    print(json.dumps(record), file=sys.stderr)
    assert smoke._guest.instance.crashed() is None
