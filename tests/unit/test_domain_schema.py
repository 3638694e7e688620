"""libvirt's own schema (``virt-xml-validate FILE domain``) on every domain XML the harness makes.

The XML comes from the code paths that make it, not from hand-written specs: the smoke guest's
and the Windows guest's ``_spec`` (KVM and TCG: the KVM probe boots the same domain), with and
without ``wait_for_dump``, each firmware and disk bus, and the Windows image builder's install
and verification domains. virt-xml-validate (libvirt-clients, with xmllint from libxml2-utils)
is installed by .ci/setup.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.commands.image import load_builder
from harness.guest.linux import LinuxGuest
from harness.guest.windows import WindowsGuest
from harness.images.windows_options import WindowsBuildOptions
from harness.vm.domain_xml import build_domain_xml
from harness.vm.rundir import RunDir

VALIDATE = shutil.which("virt-xml-validate")
pytestmark = pytest.mark.skipif(
    VALIDATE is None or shutil.which("xmllint") is None,
    reason="virt-xml-validate or xmllint missing: run .ci/setup (libvirt-clients, libxml2-utils)")
ACCELS, FIRMWARES, BUSES = ("kvm", "tcg"), ("bios", "uefi"), ("virtio", "sata")


def every_domain(tmp: Path) -> dict[str, str]:
    """name -> domain XML, for every combination the harness can produce."""
    run = RunDir.create(tmp / "runs", check_reachable=False)
    files = {}
    for name in ("disk.qcow2", "vmlinuz", "initrd.img", "win.iso", "virtio.iso", "answer.iso"):
        files[name] = tmp / name
        files[name].write_bytes(b"x")
    out: dict[str, str] = {}
    smoke = SimpleNamespace(name="linux-smoke", disk=files["disk.qcow2"], kernel=files["vmlinuz"],
                            initrd=files["initrd.img"], machine="pc", memory_mib=256, vcpus=1,
                            cmdline="console=ttyS0 panic=0", panic_model="isa", ssh_port=22)
    for accel in ACCELS:
        out[f"smoke-{accel}"] = build_domain_xml(LinuxGuest(None, smoke, run, worker="w0")._spec(accel))
    for accel, firmware, bus, wait in itertools.product(ACCELS, FIRMWARES, BUSES, (False, True)):
        image = SimpleNamespace(name="win11", disk=files["disk.qcow2"], memory_mib=4096, vcpus=2,
                                nic_model="virtio-net-pci", disk_bus=bus, firmware=firmware, vmcoreinfo=True,
                                ssh_port=22)
        guest = WindowsGuest(None, image, run, worker="w1", wait_for_dump=wait)
        out[f"windows-{accel}-{firmware}-{bus}{'-wait-for-dump' if wait else ''}"] = \
            build_domain_xml(guest._spec(accel))
    builder = load_builder("windows")
    for accel, firmware, bus in itertools.product(ACCELS, FIRMWARES, BUSES):
        options = WindowsBuildOptions(iso=files["win.iso"], virtio_win=files["virtio.iso"], firmware=firmware,
                                      disk_bus=bus)
        cdroms = (files["win.iso"], files["virtio.iso"], files["answer.iso"])
        out[f"install-{accel}-{firmware}-{bus}"] = build_domain_xml(
            builder._install_spec(run, options, accel, files["disk.qcow2"], cdroms))
        work = tmp / f"work-{accel}-{firmware}-{bus}"
        work.mkdir()
        (work / builder.DISK).write_bytes(b"x")
        out[f"verify-{accel}-{firmware}-{bus}"] = build_domain_xml(builder._verify_spec(run, options, accel, work))
    return out


def test_every_domain_xml_the_harness_makes_is_valid_libvirt(tmp_path):
    domains = every_domain(tmp_path)
    invalid = []
    for name, xml in sorted(domains.items()):
        path = tmp_path / f"{name}.xml"
        path.write_text(xml)
        proc = subprocess.run([VALIDATE, str(path), "domain"], capture_output=True, text=True)
        if proc.returncode != 0:
            invalid.append(f"{name}: {(proc.stderr or proc.stdout).strip()[-400:]}")
    print(f"virt-xml-validate: {len(domains)} domain XMLs, {len(domains) - len(invalid)} valid")
    assert not invalid, "\n".join(invalid)
    # The combinations that matter are all there.
    assert {"smoke-kvm", "smoke-tcg", "windows-kvm-bios-virtio-wait-for-dump", "install-kvm-uefi-sata",
            "verify-tcg-bios-virtio"} <= set(domains)
    assert len(domains) == 2 + 16 + 8 + 8


def test_the_validator_rejects_what_libvirt_rejects(tmp_path):
    """So the test above can fail: a domain with an unknown panic model does not validate."""
    domains = every_domain(tmp_path)
    bad = domains["windows-kvm-bios-virtio"].replace("<panic model=\"hyperv\"", "<panic model=\"bluescreen\"")
    assert bad != domains["windows-kvm-bios-virtio"]
    path = tmp_path / "bad.xml"
    path.write_text(bad)
    assert subprocess.run([VALIDATE, str(path), "domain"], capture_output=True).returncode != 0
