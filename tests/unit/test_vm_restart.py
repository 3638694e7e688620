"""Instance.power_cut and restart_same_disk: the sequence every backend's hooks run in, with a
fake backend (the libvirt half runs for real in tests/integration/test_vm_phases.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.errors import InfraError
from harness.vm.base import Instance, Phase, VmSpec


class FakeInstance(Instance):
    def __init__(self):
        super().__init__(VmSpec(name="fake", accel="tcg", overlay=Path("/x/overlay.qcow2"),
                                golden=Path("/x/golden.qcow2"), console_log=Path("/x/console.log")))
        self.calls = []

    def _start(self):
        self.calls.append("start (new overlay)")

    def _snapshot(self, name):
        self.calls.append(f"snapshot {name}")

    def _revert(self, name):
        self.calls.append(f"revert {name}")

    def _screenshot(self, path):
        pass

    def _close(self):
        pass

    def _snapshot_definition(self):
        return f"definition of {self.state.snapshot}"

    def _start_same_disk(self, snapshot_definition, destroy, since):
        self.calls.append(("same disk", snapshot_definition, destroy))


def ready() -> FakeInstance:
    inst = FakeInstance()
    inst.start()
    inst.snapshot("ready")
    inst.calls.clear()
    return inst


def test_power_cut_starts_the_same_disk_and_keeps_the_snapshot():
    inst = ready()
    inst.power_cut()
    assert inst.calls == [("same disk", "definition of ready", True)]
    assert inst.state.phase is Phase.RUNNING and inst.crashed() is None


@pytest.mark.parametrize("reason, destroy", [("crashed: panicked", True), ("stopped: shutdown", False)])
def test_restart_waits_for_the_guest_to_stop_then_boots_the_same_disk(reason, destroy):
    inst = ready()
    trigger = lambda: threading.Timer(0.05, inst._record_event, ("event", reason)).start()  # noqa: E731
    assert inst.restart_same_disk(trigger, timeout=5) == reason
    # A crashed guest is still there (on_crash=preserve): destroyed first; a powered-off one is gone.
    assert inst.calls == [("same disk", "definition of ready", destroy)]
    assert inst.crashed() is None and inst.state.phase is Phase.RUNNING


def test_a_guest_that_does_not_stop_is_an_infra_error():
    inst = ready()
    with pytest.raises(InfraError, match="did not stop within 0 s"):
        inst.restart_same_disk(lambda: None, timeout=0.1)
    assert inst.calls == []


def test_closing_a_vm_target_closes_its_guest_and_session():
    from harness.targets.vm_linux import SmokeTarget

    closed = []
    target = SmokeTarget()
    target._guest = type("G", (), {"close": lambda self: closed.append("guest")})()
    target._session = type("S", (), {"close": lambda self: closed.append("session"),
                                     "run": type("R", (), {"remove_staging": lambda self: None})()})()
    target.close()
    assert closed == ["guest", "session"] and target._guest is None
