"""A UEFI guest's variable store (VmSpec.nvram) through LibvirtInstance's lifecycle: a fresh start
begins without one (libvirt then copies OVMF's template), a power cut keeps the one the guest wrote,
close removes it. Left to libvirt the file would outlive the transient domain
(harness/vm/domain_xml.py; on real libvirt: tests/integration/test_vm_windows_firmware.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

libvirt_backend = pytest.importorskip("harness.vm.libvirt_backend")
if libvirt_backend.libvirt is None:
    pytest.skip("libvirt-python is not installed", allow_module_level=True)

from harness.vm.base import VmSpec  # noqa: E402
from harness.vm.rundir import NVRAM_FILE  # noqa: E402


class FakeDomain:
    def __init__(self, inst_of, xml: str):
        self.inst_of, self.xml, self.active = inst_of, xml, True

    def name(self):
        return "clfs-test-w0"

    def UUIDString(self):
        return "7b3a4d76-50d9-48d3-839a-7ff80aec88ee"

    def isPersistent(self):
        return 0

    def isActive(self):
        return int(self.active)

    def destroy(self):
        self.active = False
        self.inst_of().on_lifecycle(libvirt_backend.libvirt.VIR_DOMAIN_EVENT_STOPPED, 1)


class FakeConn:
    """createXML as libvirt does it for ``<nvram>``: the template is copied only where no file is."""

    def __init__(self, inst_of):
        self.inst_of, self.started = inst_of, []

    def createXML(self, xml, flags):
        nvram = self.inst_of().spec.nvram
        if not nvram.exists():
            nvram.write_bytes(b"template")
        self.started.append(xml)
        return FakeDomain(self.inst_of, xml)


@pytest.fixture
def inst(tmp_path, monkeypatch):
    monkeypatch.setattr(libvirt_backend, "create_overlay", lambda golden, overlay: overlay.write_bytes(b"o"))
    holder = {}
    backend = SimpleNamespace(conn=FakeConn(lambda: holder["inst"]), autodestroy=False, forget=lambda i: None)
    spec = VmSpec(name="clfs-test-w0", accel="tcg", overlay=tmp_path / "overlay.qcow2", golden=Path("/g.qcow2"),
                  console_log=tmp_path / "console.log", machine="q35", windows=True, panic_model="hyperv",
                  firmware="uefi", nvram=tmp_path / NVRAM_FILE)
    holder["inst"] = libvirt_backend.LibvirtInstance(backend, spec)
    return holder["inst"]


def test_a_fresh_start_begins_from_the_template_a_power_cut_keeps_the_store_close_removes_it(inst):
    nvram = inst.spec.nvram
    nvram.write_bytes(b"left by an earlier boot of this worker")
    inst.start()
    assert nvram.read_bytes() == b"template"
    assert f"<nvram>{nvram}</nvram>" in inst.backend.conn.started[-1]
    nvram.write_bytes(b"boot entries the guest wrote")
    inst.power_cut()
    assert len(inst.backend.conn.started) == 2 and nvram.read_bytes() == b"boot entries the guest wrote"
    inst.close()
    assert not nvram.exists() and not inst.spec.overlay.exists()
