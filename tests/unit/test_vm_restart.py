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


class ProvisionedGuest:
    """A guest's side of SmokeTarget._provision: a file system of one executor, kept as bytes.
    ``sha256sum -c`` and the run check pass only on the executor as the host built it."""

    def __init__(self, on_disk: bytes | None):
        self.on_disk, self.puts, self.commands = on_disk, [], []

    def run(self, command, timeout=None, *, check=False, stdin=None):
        import hashlib
        import re

        from harness.errors import GuestCommandError
        self.commands.append(command)
        want = re.search(r"echo '([0-9a-f]{64})  ", command)   # a command that checks no sum passes
        whole = want is None or (self.on_disk is not None
                                 and hashlib.sha256(self.on_disk).hexdigest() == want.group(1))
        if check and not whole:
            raise GuestCommandError(command, 1, "", "")
        return type("R", (), {"exit_code": 0 if whole else 1, "stdout": "", "stderr": ""})()

    def put(self, local, remote):
        self.puts.append(remote)
        self.on_disk = Path(local).read_bytes()


@pytest.mark.parametrize("on_disk, copied", [
    (b"the executor", False),        # the cut kept it: checked in the guest, not copied again
    (b"the exec", True),             # cut short by the power: copied
    (None, True),                    # lost, or the first boot: copied
])
def test_a_restart_copies_the_executor_only_when_the_guest_has_lost_it(tmp_path, on_disk, copied):
    from harness.targets.vm_linux import GUEST_MODEL, SmokeTarget

    binary = tmp_path / "clfstest-model-static"
    binary.write_bytes(b"the executor")
    guest = ProvisionedGuest(on_disk)
    SmokeTarget(binary=binary)._provision(guest)
    assert guest.puts == ([GUEST_MODEL] if copied else [])
    assert guest.on_disk == b"the executor"
    # A copy is made stable before the ready snapshot: every case starts from that disk.
    assert ("sync" in guest.commands[-1].split(" && ")) == copied
