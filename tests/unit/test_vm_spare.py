"""The warm spare (harness/vm/spare.py) against a fake libvirt connection: what it starts, what
libvirt is told about its snapshot, and that close() leaves no file, even mid-way."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

libvirt_backend = pytest.importorskip("harness.vm.libvirt_backend")
if libvirt_backend.libvirt is None:
    pytest.skip("libvirt-python is not installed", allow_module_level=True)
libvirt = libvirt_backend.libvirt

from harness.vm.base import InstanceState, PortForward, VmSpec  # noqa: E402
from harness.vm.domain_xml import QEMU_NS  # noqa: E402
from harness.vm.spare import WarmSpare  # noqa: E402

SNAPSHOT_XML = ("<domainsnapshot><name>ready</name><domain type='qemu'><name>clfs-r-w0</name>"
                "<uuid>11111111-2222-3333-4444-555555555555</uuid></domain></domainsnapshot>")


class Dom:
    def __init__(self, xml="", uuid="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"):
        self.xml, self.uuid, self.calls, self.snapshots = xml, uuid, [], []

    def suspend(self):
        self.calls.append("suspend")

    def resume(self):
        self.calls.append("resume")

    def UUIDString(self):
        return self.uuid

    def snapshotCreateXML(self, xml, flags):
        self.snapshots.append((xml, flags))

    def isPersistent(self):
        return 0

    def isActive(self):
        return 1

    def destroy(self):
        self.calls.append("destroy")

    def name(self):
        return ET.fromstring(self.xml).findtext("name") if self.xml else "clfs-r-w0"


class Conn:
    def __init__(self, gate: threading.Event | None = None):
        self.started: list[tuple[Dom, int, bool]] = []
        self.gate, self.entered = gate, threading.Event()

    def createXML(self, xml, flags):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        dom = Dom(xml)
        link = Path(ET.fromstring(xml).find("devices/serial/source").get("path"))
        self.started.append((dom, flags, link.exists()))
        return dom


def make(tmp_path, conn):
    overlay = tmp_path / "overlay.qcow2"
    overlay.write_bytes(b"QFI\xfb at the ready snapshot")
    console = tmp_path / "console.log"
    console.write_bytes(b"boot\n")
    spec = VmSpec(name="clfs-r-w0", accel="tcg", overlay=overlay, golden=Path("/g.qcow2"),
                  console_log=console, forwards=(PortForward(40000, 22),), warm_spare=True,
                  metadata={"run-id": "r", "overlay": str(overlay)})
    inst = SimpleNamespace(spec=spec, name=spec.name, dom=Dom(), state=InstanceState(spec=spec),
                           backend=SimpleNamespace(conn=conn, autodestroy=True))
    inst.state.snapshot = "ready"
    ports = iter(range(41000, 41100))
    return inst, WarmSpare(inst, lambda: next(ports), 3.0)


def test_a_spare_starts_paused_at_the_snapshot_on_its_own_copy_port_and_console_name(tmp_path):
    conn = Conn()
    inst, spare = make(tmp_path, conn)
    spare.prepare(SNAPSHOT_XML)
    got = spare.take()
    assert inst.dom.calls == ["suspend", "resume"]   # the copy is made of a paused guest
    dom, flags, link_existed = conn.started[0]
    assert flags == libvirt.VIR_DOMAIN_START_PAUSED | libvirt.VIR_DOMAIN_START_AUTODESTROY
    xml = ET.fromstring(dom.xml)
    args = [a.get("value") for a in xml.iter(f"{{{QEMU_NS}}}arg")]
    assert args[args.index("-loadvm") + 1] == "ready"
    assert xml.find("devices/disk/source").get("file") == str(tmp_path / "spare1.qcow2")
    assert "hostfwd=tcp:127.0.0.1:41000-:22" in " ".join(args)
    assert link_existed and not (tmp_path / "console-s1.log").exists()   # gone once started
    assert (tmp_path / "spare1.qcow2").read_bytes() == inst.spec.overlay.read_bytes()
    assert got.spec.name == "clfs-r-w0-s1" and got.spec.console_log == inst.spec.console_log
    assert got.spec.loadvm is None and got.spec.metadata["overlay"] == str(tmp_path / "spare1.qcow2")
    # libvirt's metadata of the snapshot names the spare's own domain: its UUID and its disk.
    (snap_xml, snap_flags), = dom.snapshots
    assert snap_flags == libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
    snap_dom = ET.fromstring(snap_xml).find("domain")
    assert snap_dom.findtext("uuid") == dom.uuid and snap_dom.findtext("name") == "clfs-r-w0-s1"
    assert snap_dom.find("devices/disk/source").get("file") == str(tmp_path / "spare1.qcow2")
    assert not any(a.get("value") == "-loadvm" for a in snap_dom.iter(f"{{{QEMU_NS}}}arg"))
    spare.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["console.log", "overlay.qcow2"]


def test_retire_makes_the_next_spare_then_destroys_the_replaced_domain(tmp_path):
    conn = Conn()
    inst, spare = make(tmp_path, conn)
    spare.prepare(SNAPSHOT_XML)
    first = spare.take()
    old = Dom()
    old_overlay = tmp_path / "overlay.qcow2"
    spare.retire(old, old_overlay)
    second = spare.take()
    spare._thread.join(5)
    assert second.spec.name == "clfs-r-w0-s2" and first.dom is not second.dom
    assert old.calls == ["destroy"] and not old_overlay.exists()
    spare.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["console.log"]   # the swapped-in one too


def test_close_while_a_spare_is_starting_leaves_no_domain_and_no_file(tmp_path):
    gate = threading.Event()
    conn = Conn(gate)
    inst, spare = make(tmp_path, conn)
    spare.prepare(SNAPSHOT_XML)
    assert conn.entered.wait(5)   # the spare's start now waits in createXML
    spare._settle_s = 0.2
    spare.close()                 # returns before the start does
    gate.set()
    spare._thread.join(5)
    dom, _flags, _ = conn.started[0]
    assert dom.calls == ["destroy"] and spare.take(0) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["console.log", "overlay.qcow2"]
