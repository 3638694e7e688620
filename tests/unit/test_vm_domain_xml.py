"""Domain XML against golden files. Regenerate: CLFS_HARNESS_REGEN_GOLDEN=1 pytest tests/unit/test_vm_domain_xml.py"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.vm.base import PortForward, VmSpec
from harness.vm.domain_xml import METADATA_NS, QEMU_NS, build_domain_xml

GOLDEN = Path(__file__).parent / "golden"
META = {"run-id": "20260101-000000-42", "pid": "42", "pid-start": "1234", "host": "lab1",
        "run-dir": "/runs/20260101-000000-42", "worker": "w0",
        "overlay": "/runs/20260101-000000-42/w0/overlay.qcow2"}

SPECS = {
    "domain_linux_smoke_tcg.xml": VmSpec(
        name="clfs-20260101-000000-42-w0", accel="tcg",
        overlay=Path("/runs/20260101-000000-42/w0/overlay.qcow2"),
        golden=Path("/cache/images/linux-smoke/disk.qcow2"),
        console_log=Path("/runs/20260101-000000-42/w0/console.log"),
        kernel=Path("/cache/images/linux-smoke/vmlinuz"), initrd=Path("/cache/images/linux-smoke/initrd.img"),
        cmdline="console=ttyS0 panic=0", forwards=(PortForward(40022, 22),), metadata=META),
    "domain_windows_kvm.xml": VmSpec(
        name="clfs-20260101-000000-42-w1", accel="kvm", machine="q35", memory_mib=4096, vcpus=2,
        overlay=Path("/runs/20260101-000000-42/w1/overlay.qcow2"),
        golden=Path("/cache/images/windows/disk.qcow2"),
        console_log=Path("/runs/20260101-000000-42/w1/console.log"), panic_model="hyperv",
        nic_model="e1000e", disk_bus="sata", forwards=(PortForward(40023, 22), PortForward(40024, 5985)), metadata=META),
}


@pytest.mark.parametrize("golden", sorted(SPECS))
def test_domain_xml_matches_golden(golden):
    text = build_domain_xml(SPECS[golden])
    path = GOLDEN / golden
    if os.environ.get("CLFS_HARNESS_REGEN_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"regenerate with CLFS_HARNESS_REGEN_GOLDEN=1 if intended"


def test_forwards_bind_loopback_only_and_guest_isolated():
    root = ET.fromstring(build_domain_xml(SPECS["domain_windows_kvm.xml"]))
    args = [a.get("value") for a in root.iter(f"{{{QEMU_NS}}}arg")]
    netdev = args[args.index("-netdev") + 1]
    assert "restrict=on" in netdev
    for part in netdev.split(","):
        if part.startswith("hostfwd="):
            assert part.startswith("hostfwd=tcp:127.0.0.1:")
    assert root.find("devices/interface") is None  # no libvirt network, bridge or NAT


def test_panic_device_and_crash_policy():
    linux = ET.fromstring(build_domain_xml(SPECS["domain_linux_smoke_tcg.xml"]))
    assert linux.get("type") == "qemu" and linux.find("devices/panic").get("model") == "isa"
    assert linux.find("on_crash").text == "preserve"
    windows = ET.fromstring(build_domain_xml(SPECS["domain_windows_kvm.xml"]))
    assert windows.get("type") == "kvm" and windows.find("devices/panic").get("model") == "hyperv"


def test_metadata_carries_run_and_owner():
    root = ET.fromstring(build_domain_xml(SPECS["domain_linux_smoke_tcg.xml"]))
    run = root.find(f"metadata/{{{METADATA_NS}}}run")
    assert run.get("run-id") == META["run-id"] and run.get("pid") == "42"


def test_unknown_accel_rejected():
    import dataclasses
    with pytest.raises(ValueError, match="want kvm or tcg"):
        build_domain_xml(dataclasses.replace(SPECS["domain_linux_smoke_tcg.xml"], accel="hvf"))
