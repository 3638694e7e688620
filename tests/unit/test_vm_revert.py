"""How LibvirtInstance reverts: in place (HMP loadvm in the running QEMU) whenever QEMU still runs
the guest, even when libvirt calls the domain crashed (a panic under ``-action panic=none``);
when QEMU has stopped it (runstate guest-panicked), by resuming the warm spare (harness/vm/spare.py)
if one is ready, else through libvirt's revert (a new QEMU)."""

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


class FakeBackend(SimpleNamespace):
    def rename(self, inst, old_name):
        self.renamed = (old_name, inst.name)


class SpareDomain:
    def __init__(self, resumes: bool = True):
        self.resumes, self.calls = resumes, []

    def resume(self):
        self.calls.append("resume")
        if not self.resumes:
            raise libvirt.libvirtError("domain is not running")

    def isPersistent(self):
        return 0

    def isActive(self):
        return 0

    def name(self):
        return "clfs-test-w0-s1"


class FakeSpare:
    """WarmSpare's interface as LibvirtInstance uses it: take() and retire()."""

    def __init__(self, spare):
        self.spare, self.retired = spare, []

    def take(self):
        spare, self.spare = self.spare, None
        return spare

    def retire(self, dom, overlay):
        self.retired.append((dom, overlay))


def spare_of(tmp_path, resumes=True):
    spec = VmSpec(name="clfs-test-w0-s1", accel="tcg", overlay=tmp_path / "spare1.qcow2",
                  golden=Path("/g.qcow2"), console_log=tmp_path / "console.log")
    return FakeSpare(libvirt_backend.Spare(SpareDomain(resumes), spec))


@pytest.fixture
def make(monkeypatch, tmp_path):
    monkeypatch.setattr(libvirt_backend.libvirt_qemu, "qemuMonitorCommand",
                        lambda dom, command, flags: dom.monitor(command, flags))

    def make(runstate: str, loadvm_answer: str = "", fast_revert: bool = True, spare=None,
             warm_spares: bool = True):
        spec = VmSpec(name="clfs-test-w0", accel="tcg", overlay=tmp_path / "o.qcow2",
                      golden=Path("/g.qcow2"), console_log=tmp_path / "console.log")
        backend = FakeBackend(fast_revert=fast_revert, warm_spares=warm_spares)
        inst = libvirt_backend.LibvirtInstance(backend, spec)
        inst.dom = FakeDomain(runstate, loadvm_answer)
        inst.state.snapshot = "ready"
        inst.spare = spare
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


def test_a_guest_qemu_stopped_at_its_panic_is_replaced_by_the_warm_spare(make, tmp_path):
    spare = spare_of(tmp_path)
    inst = make("guest-panicked", spare=spare)
    old, old_overlay = inst.dom, inst.spec.overlay
    inst.revert()
    assert old.calls == [] and inst.last_revert == "spare"   # no revert of the crashed one
    assert inst.dom.calls == ["resume"] and inst.name == "clfs-test-w0-s1"
    assert inst.backend.renamed == ("clfs-test-w0", "clfs-test-w0-s1")   # its events reach us
    assert spare.retired == [(old, old_overlay)]   # destroyed and removed on the helper thread


def test_no_ready_spare_or_spares_off_goes_through_libvirt(make, tmp_path):
    inst = make("guest-panicked", spare=FakeSpare(None))
    inst.revert()
    assert inst.dom.calls == ["libvirt revert ready"] and inst.last_revert == "libvirt"
    spare = spare_of(tmp_path)
    inst = make("guest-panicked", spare=spare, warm_spares=False)
    inst.revert()
    assert inst.dom.calls == ["libvirt revert ready"] and spare.spare is not None


def test_a_spare_that_does_not_resume_is_dropped_and_libvirt_reverts(make, tmp_path):
    spare = spare_of(tmp_path, resumes=False)
    taken = spare.spare
    inst = make("guest-panicked", spare=spare)
    inst.revert()
    assert inst.dom.calls == ["libvirt revert ready"] and inst.last_revert == "libvirt"
    assert spare.retired == [(None, taken.spec.overlay)]   # its overlay goes, a new one is made
