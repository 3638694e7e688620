"""Domain XML against golden files. Regenerate: CLFS_HARNESS_REGEN_GOLDEN=1 pytest tests/unit/test_vm_domain_xml.py"""

from __future__ import annotations

import os
from dataclasses import replace
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
        cmdline="console=ttyS0 panic=0", forwards=(PortForward(40022, 22),), metadata=META,
        tsc=False),   # as LinuxGuest makes it under TCG
    "domain_windows_kvm.xml": VmSpec(
        name="clfs-20260101-000000-42-w1", accel="kvm", machine="q35", memory_mib=4096, vcpus=2,
        overlay=Path("/runs/20260101-000000-42/w1/overlay.qcow2"),
        golden=Path("/cache/images/windows/disk.qcow2"),
        console_log=Path("/runs/20260101-000000-42/w1/console.log"), panic_model="hyperv",
        nic_model="e1000e", disk_bus="sata", forwards=(PortForward(40023, 22), PortForward(40024, 5985)),
        metadata=META, firmware="bios", vmcoreinfo=True, windows=True),
    # wait_for_dump: the guest writes its own dump, so isa pvpanic and no hv-crash.
    "domain_windows_wait_for_dump_kvm.xml": VmSpec(
        name="clfs-20260101-000000-42-w1", accel="kvm", machine="q35", memory_mib=4096, vcpus=4,
        overlay=Path("/runs/20260101-000000-42/w1/overlay.qcow2"),
        golden=Path("/cache/images/windows/disk.qcow2"),
        console_log=Path("/runs/20260101-000000-42/w1/console.log"), panic_model="isa",
        forwards=(PortForward(40023, 22),), metadata=META, vmcoreinfo=True, windows=True),
    # The Windows image build: blank disk, install ISO first (the boot medium), then virtio-win
    # and the answer ISO; a NIC (isolated, one forward) so NetKVM binds during the install.
    "domain_windows_install_bios.xml": VmSpec(
        name="clfs-20260101-000000-42-image-build", accel="kvm", machine="q35", memory_mib=4096, vcpus=2,
        overlay=Path("/runs/20260101-000000-42/image-build/overlay.qcow2"),
        golden=Path("/runs/20260101-000000-42/images/windows-build/blank.qcow2"),
        console_log=Path("/runs/20260101-000000-42/image-build/console.log"), panic_model="hyperv",
        disk_bus="virtio", forwards=(PortForward(40025, 22),), metadata=META, vmcoreinfo=True, windows=True,
        cdroms=(Path("/isos/Win11_24H2_English_x64.iso"), Path("/isos/virtio-win-0.1.266.iso"),
                Path("/runs/20260101-000000-42/images/windows-build/answer.iso"))),
    "domain_windows_install_uefi.xml": VmSpec(
        name="clfs-20260101-000000-42-image-build", accel="kvm", machine="q35", memory_mib=4096, vcpus=2,
        overlay=Path("/runs/20260101-000000-42/image-build/overlay.qcow2"),
        golden=Path("/runs/20260101-000000-42/images/windows-build/blank.qcow2"),
        console_log=Path("/runs/20260101-000000-42/image-build/console.log"), panic_model="hyperv",
        disk_bus="sata", nic_model="e1000e", forwards=(PortForward(40025, 22),), metadata=META,
        vmcoreinfo=True, firmware="uefi", nvram=Path("/runs/20260101-000000-42/image-build/uefi-vars.fd"),
        windows=True, cdroms=(Path("/isos/SERVER_2022_EVAL_x64FRE_en-us.iso"), Path("/isos/virtio-win.iso"),
                Path("/runs/20260101-000000-42/images/windows-build/answer.iso"))),
}


@pytest.mark.parametrize("golden", sorted(SPECS))
def test_domain_xml_matches_golden(golden):
    text = build_domain_xml(SPECS[golden])
    path = GOLDEN / golden
    if os.environ.get("CLFS_HARNESS_REGEN_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), "regenerate with CLFS_HARNESS_REGEN_GOLDEN=1 if intended"


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


def _root(golden: str) -> ET.Element:
    return ET.fromstring(build_domain_xml(SPECS[golden]))


def test_windows_run_domain_has_vmcoreinfo_and_hyperv_panic_on_bios():
    root = _root("domain_windows_kvm.xml")
    assert root.find("features/vmcoreinfo").get("state") == "on"
    assert root.find("devices/panic").get("model") == "hyperv"
    assert root.find("os").get("firmware") is None and root.find("os/loader") is None   # SeaBIOS
    assert root.find("os/boot").get("dev") == "hd"
    assert not [d for d in root.iter("disk") if d.get("device") == "cdrom"]


def test_windows_domain_enlightenments_timers_and_one_socket():
    root = _root("domain_windows_kvm.xml")
    hyperv = {el.tag: el.attrib for el in root.find("features/hyperv")}
    assert set(hyperv) == {"relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset",
                           "frequencies"}
    assert all(a["state"] == "on" for a in hyperv.values()) and hyperv["spinlocks"]["retries"] == "4095"
    assert "crash" not in hyperv   # hv-crash comes only with <panic model='hyperv'/>
    timers = {t.get("name"): t.attrib for t in root.findall("clock/timer")}
    assert timers["hpet"]["present"] == "no" and timers["rtc"]["tickpolicy"] == "catchup"
    assert timers["hypervclock"]["present"] == "yes"
    assert root.find("cpu/topology").attrib == {"sockets": "1", "dies": "1", "cores": "2", "threads": "1"}
    four = _root("domain_windows_wait_for_dump_kvm.xml")
    assert four.find("cpu/topology").get("cores") == "4" and four.find("vcpu").text == "4"


def test_wait_for_dump_domain_has_isa_pvpanic_and_no_hv_crash():
    root = _root("domain_windows_wait_for_dump_kvm.xml")
    panic = root.find("devices/panic")
    assert panic.get("model") == "isa" and panic.find("address").get("iobase") == "0x505"
    assert root.find("features/hyperv/stimer") is not None    # the enlightenments stay


def test_tcg_windows_domain_keeps_only_what_tcg_has():
    import dataclasses
    root = ET.fromstring(build_domain_xml(dataclasses.replace(SPECS["domain_windows_kvm.xml"], accel="tcg")))
    assert [el.tag for el in root.find("features/hyperv")] == ["relaxed"]
    assert root.find("cpu").get("mode") is None and root.find("cpu/topology").get("sockets") == "1"
    assert "hypervclock" not in {t.get("name") for t in root.findall("clock/timer")}


def test_linux_domain_has_no_vmcoreinfo():
    assert _root("domain_linux_smoke_tcg.xml").find("features/vmcoreinfo") is None


def test_install_domain_cdroms_in_order_read_only_unlabelled_and_boot_order():
    spec = SPECS["domain_windows_install_bios.xml"]
    root = _root("domain_windows_install_bios.xml")
    cdroms = [d for d in root.iter("disk") if d.get("device") == "cdrom"]
    assert [c.find("source").get("file") for c in cdroms] == [str(p) for p in spec.cdroms]
    assert [c.find("target").get("dev") for c in cdroms] == ["sda", "sdb", "sdc"]   # disk is vda
    assert all(c.find("target").get("bus") == "sata" and c.find("readonly") is not None for c in cdroms)
    assert all(c.find("source/seclabel").get("relabel") == "no" for c in cdroms)
    # Per-device boot order replaces <os><boot>: the disk, then the install ISO only.
    assert root.find("os/boot") is None
    disk = next(d for d in root.iter("disk") if d.get("device") == "disk")
    assert disk.find("boot").get("order") == "1"
    assert [c.find("boot").get("order") if c.find("boot") is not None else None for c in cdroms] == ["2", None, None]
    assert root.find("devices/panic").get("model") == "hyperv"


def test_cdroms_follow_a_sata_disk():
    cdroms = [d for d in _root("domain_windows_install_uefi.xml").iter("disk") if d.get("device") == "cdrom"]
    assert [c.find("target").get("dev") for c in cdroms] == ["sdb", "sdc", "sdd"]


def test_uefi_is_efi_autoselection_with_secure_boot_off():
    os_el = _root("domain_windows_install_uefi.xml").find("os")
    assert os_el.get("firmware") == "efi"
    features = {f.get("name"): f.get("enabled") for f in os_el.iter("feature")}
    assert features == {"secure-boot": "no"}


def test_uefi_names_its_variable_store_and_needs_one():
    """libvirt's own default (/var/lib/libvirt/qemu/nvram/<name>_VARS.fd) outlives a transient
    domain; the spec's file is the run's (tests/integration/test_vm_windows_firmware.py)."""
    import dataclasses
    spec = SPECS["domain_windows_install_uefi.xml"]
    assert [n.text for n in _root("domain_windows_install_uefi.xml").iter("nvram")] == [str(spec.nvram)]
    assert not list(_root("domain_windows_install_bios.xml").iter("nvram"))
    with pytest.raises(ValueError, match="firmware uefi needs spec.nvram"):
        build_domain_xml(dataclasses.replace(spec, nvram=None))


def test_bad_firmware_and_too_many_cdroms_rejected():
    import dataclasses
    with pytest.raises(ValueError, match="want bios or uefi"):
        build_domain_xml(dataclasses.replace(SPECS["domain_windows_kvm.xml"], firmware="coreboot"))
    with pytest.raises(ValueError, match="do not fit"):
        build_domain_xml(dataclasses.replace(SPECS["domain_windows_kvm.xml"], cdroms=(Path("/x.iso"),) * 6))


def test_panic_action_none_only_where_asked():
    """``-action panic=none`` (QEMU keeps running a panicked guest) only when the spec asks;
    every domain the harness makes today keeps QEMU's pause."""
    def args(root):
        return [a.get("value") for a in root.iter(f"{{{QEMU_NS}}}arg")]
    for name in SPECS:
        assert "-action" not in args(_root(name)), name
    spec = SPECS["domain_linux_smoke_tcg.xml"]
    assert args(ET.fromstring(build_domain_xml(replace(spec, panic_action="none"))))[-2:] == ["-action", "panic=none"]
    bare = replace(spec, forwards=(), panic_action="none")
    assert args(ET.fromstring(build_domain_xml(bare))) == ["-action", "panic=none"]
    assert ET.fromstring(build_domain_xml(replace(bare, panic_action="pause"))).find(
        f"{{{QEMU_NS}}}commandline") is None


def test_tsc_hidden_only_from_a_tcg_guest_that_asks():
    linux = _root("domain_linux_smoke_tcg.xml").find("cpu")
    assert linux.get("mode") == "custom" and linux.find("model").text == "qemu64"
    assert [(f.get("name"), f.get("policy")) for f in linux.iter("feature")] == [("tsc", "disable")]
    spec = SPECS["domain_linux_smoke_tcg.xml"]
    assert ET.fromstring(build_domain_xml(replace(spec, tsc=True))).find("cpu") is None
    kvm = ET.fromstring(build_domain_xml(replace(spec, accel="kvm"))).find("cpu")
    assert kvm.get("mode") == "host-passthrough" and kvm.find("feature") is None
    for name in SPECS:
        if "windows" in name:
            assert _root(name).find("cpu/feature") is None, name


def test_unknown_panic_action_rejected():
    with pytest.raises(ValueError, match="panic_action 'reset'"):
        build_domain_xml(replace(SPECS["domain_linux_smoke_tcg.xml"], panic_action="reset"))
