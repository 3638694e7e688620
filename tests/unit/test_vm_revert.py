"""How LibvirtInstance reverts: in place (HMP loadvm in the running QEMU) whenever QEMU still runs
the guest, even when libvirt calls the domain crashed (a panic under ``-action panic=none``);
through libvirt's revert (a new QEMU) when QEMU has stopped it (runstate guest-panicked)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

libvirt_backend = pytest.importorskip("harness.vm.libvirt_backend")
if libvirt_backend.libvirt is None:
    pytest.skip("libvirt-python is not installed", allow_module_level=True)
libvirt = libvirt_backend.libvirt

from harness.vm.base import VmSpec  # noqa: E402


class FakeDomain:
    """A libvirt domain whose QEMU runstate and monitor answers the test sets."""

    def __init__(self, runstate: str, loadvm_answer: str = ""):
        self.runstate, self.loadvm_answer = runstate, loadvm_answer
        self.calls: list[str] = []

    def isActive(self):
        return 1

    def state(self, _flags):   # what libvirt says after a panic, whatever QEMU did
        return [libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_CRASHED_PANICKED]

    def snapshotLookupByName(self, name, _flags):
        return name

    def revertToSnapshot(self, snap, flags):
        self.calls.append(f"libvirt revert {snap}")
        self.runstate = "running"

    def monitor(self, command: str, flags: int) -> str:
        if command.startswith("loadvm"):
            self.calls.append(command)
            if not self.loadvm_answer:
                self.runstate = "running"
            return self.loadvm_answer
        assert json.loads(command) == {"execute": "query-status"} and flags == 0
        return json.dumps({"return": {"status": self.runstate, "running": self.runstate == "running"}})


@pytest.fixture
def make(monkeypatch, tmp_path):
    monkeypatch.setattr(libvirt_backend.libvirt_qemu, "qemuMonitorCommand",
                        lambda dom, command, flags: dom.monitor(command, flags))

    def make(runstate: str, loadvm_answer: str = "", fast_revert: bool = True):
        spec = VmSpec(name="clfs-test-w0", accel="tcg", overlay=tmp_path / "o.qcow2",
                      golden=Path("/g.qcow2"), console_log=tmp_path / "console.log")
        inst = libvirt_backend.LibvirtInstance(SimpleNamespace(fast_revert=fast_revert), spec)
        inst.dom = FakeDomain(runstate, loadvm_answer)
        inst.state.snapshot = "ready"
        return inst
    return make


def test_a_panicked_guest_qemu_still_runs_is_reverted_in_place(make):
    inst = make("running")   # libvirt: crashed/panicked; QEMU: running (panic=none)
    inst.revert()
    assert inst.dom.calls == ["loadvm ready"] and inst.last_revert == "in place"


def test_a_guest_qemu_stopped_at_its_panic_goes_through_libvirt(make):
    inst = make("guest-panicked")
    inst.revert()
    assert inst.dom.calls == ["libvirt revert ready"] and inst.last_revert == "libvirt"


def test_a_failed_loadvm_falls_back_to_libvirt(make):
    inst = make("running", loadvm_answer="Error: Device 'vda' does not have the requested snapshot")
    inst.revert()
    assert inst.dom.calls == ["loadvm ready", "libvirt revert ready"] and inst.last_revert == "libvirt"


def test_fast_revert_off_always_goes_through_libvirt(make):
    inst = make("running", fast_revert=False)
    inst.revert()
    assert inst.dom.calls == ["libvirt revert ready"]
