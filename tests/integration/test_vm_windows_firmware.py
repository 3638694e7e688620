"""The Windows guest's UEFI domain, started for real on libvirt with OVMF (marker ``vm``).

No Windows image exists here, so the image is a manifest like the one the Windows image builder
writes (``--firmware uefi``, the builder's smallest ``--memory``, each disk bus) over a blank
qcow2 disk, loaded by the Windows target's own loader; the domain is the Windows guest adapter's
``_spec`` under TCG, started as a transient domain through the harness's libvirt layer. What is
checked comes from libvirt and the firmware themselves:

- the firmware libvirt's autoselection chose (the live XML): OVMF from /usr/share/OVMF, read-only
  pflash, the firmware descriptor it matched has no Secure Boot (test signing needs it off), and
  the NVRAM libvirt made from that descriptor's template lies where the harness said;
- OVMF runs: its boot manager tries the harness's disk (at the PCI address libvirt gave it), finds
  nothing to boot on the blank disk and moves on; read from the serial console the harness keeps;
- libvirt 9.0 refuses the internal snapshot of such a domain (why Windows images default to BIOS);
- after close: no domain, no overlay, no NVRAM file, in the run nor in libvirt's own folder.

Skips, saying why, without libvirt, QEMU or OVMF (.ci/setup installs the ``ovmf`` package).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vm_host import vm_host_missing

from harness.config import LabConfig
from harness.errors import InfraError

pytestmark = pytest.mark.vm

# Where libvirt (privileged) reads firmware descriptors; a file in /etc overrides the same name
# in /usr/share (QEMU's docs/interop/firmware.json, "Firmware descriptor search").
DESCRIPTOR_DIRS = (Path("/etc/qemu/firmware"), Path("/usr/share/qemu/firmware"))
# libvirt's own NVRAM folder (qemu.conf nvram_dir): where a domain's variable store goes when the
# domain does not name one.
LIBVIRT_NVRAM_DIR = Path("/var/lib/libvirt/qemu/nvram")
OVMF_DIR = Path("/usr/share/OVMF")
FIRMWARE_WAIT_S = 60.0   # OVMF reached its boot manager in 8-9 s under TCG here

# What OVMF (Debian's ovmf 2022.11, edk2's BdsDxe) printed on the serial console with the blank
# disk, SATA (the disk at 00:1f.2, port 0) and virtio (behind the root port at 00:02.1):
#   BdsDxe: failed to load Boot0001 "UEFI QEMU HARDDISK QM00001 " from PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0): Not Found
#   BdsDxe: failed to load Boot0001 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x2,0x1)/Pci(0x0,0x0): Not Found
#   BdsDxe: loading Boot0002 "EFI Internal Shell" from Fv(7CB8BDC9-...)/FvFile(7C04A583-...)
#   BdsDxe: starting Boot0002 "EFI Internal Shell" from Fv(7CB8BDC9-...)/FvFile(7C04A583-...)
# Debian's build carries the UEFI shell, which is where it goes next; a build without one says
# "No bootable option or device was found." instead. Firmware text, never Windows text.
FAILED_BOOT = re.compile(rb'BdsDxe: failed to load (Boot[0-9A-F]{4}) "[^"]*" from (\S+): Not Found')
ANSI = re.compile(r"\x1b\[[0-9;=?]*[A-Za-z]")   # OVMF's terminal escapes, dropped from what is printed
MOVED_ON = re.compile(rb"BdsDxe: (?:loading|starting) Boot[0-9A-F]{4}|No bootable option or device was found")


def _skip(reason: str):
    print(f"\nSKIP Windows UEFI domain test: {reason}", file=sys.stderr)
    pytest.skip(reason)


def _descriptors() -> dict[str, dict]:
    """Firmware descriptors libvirt reads, by file name (the /etc one where both exist)."""
    found: dict[str, dict] = {}
    for folder in DESCRIPTOR_DIRS:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            found.setdefault(path.name, {**json.loads(path.read_text()), "path": str(path)})
    return found


@pytest.fixture(scope="module")
def lab():
    missing = vm_host_missing(("libvirt",))
    if missing:
        _skip(missing)
    if not any("uefi" in d.get("interface-types", ()) for d in _descriptors().values()):
        _skip(f"no UEFI firmware descriptor in {' or '.join(map(str, DESCRIPTOR_DIRS))}: "
              f"apt-get install ovmf (.ci/setup does)")
    config = LabConfig.from_env()
    from harness.vm.session import open_session
    try:
        session = open_session(config)
    except InfraError as exc:
        _skip(f"libvirt not reachable at {config.libvirt_uri}: {exc} (start virtlogd -d; libvirtd -d)")
    yield config, session
    session.close()


def _blank_windows_image(folder: Path, disk_bus: str):
    """A Windows image manifest as the image builder writes it for ``--firmware uefi``, over a
    blank disk (no Windows on it), loaded as the Windows target loads its image."""
    from harness.targets.vm_windows import load_windows_image

    folder.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(folder / "disk.qcow2"), "64G"], check=True)
    (folder / "id_ed25519").write_text("never read: no SSH in this test\n")
    manifest = {
        "format": 1, "name": "win-uefi-blank", "os": "windows", "disk": "disk.qcow2",
        "disk_sha256": hashlib.sha256((folder / "disk.qcow2").read_bytes()).hexdigest(),
        # memory_mib: the image builder's smallest --memory (2048); its default is 4096.
        "machine": "q35", "memory_mib": 2048, "vcpus": 2, "panic_model": "hyperv", "firmware": "uefi",
        "disk_bus": disk_bus, "nic_model": "virtio-net-pci", "vmcoreinfo": True,
        "ssh": {"user": "clfs", "port": 22, "host_key": "ssh-ed25519 AAAA", "client_key": "id_ed25519"},
        "windows": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return load_windows_image(folder)


def _disk_device_path(live: ET.Element) -> str:
    """The UEFI device path of the domain's disk, from the addresses libvirt gave it (edk2 prints
    hex digits in upper case)."""
    disk = next(d for d in live.iter("disk") if d.get("device") == "disk")
    addr = disk.find("address")
    controllers = {(c.get("type"), c.get("index")): c.find("address") for c in live.iter("controller")}

    def pci(a: ET.Element) -> str:
        return f"Pci(0x{int(a.get('slot'), 16):X},0x{int(a.get('function'), 16):X})"

    if addr.get("type") == "drive":   # SATA: the AHCI controller, then the port (unit)
        ahci = controllers[("sata", addr.get("controller"))]
        return f"PciRoot(0x0)/{pci(ahci)}/Sata(0x{int(addr.get('unit')):X},0xFFFF,0x0)"
    port = controllers[("pci", str(int(addr.get("bus"), 16)))]   # virtio: behind a PCIe root port
    return f"PciRoot(0x0)/{pci(port)}/{pci(addr)}"


def _validate(xml: str, path: Path) -> None:
    validate = shutil.which("virt-xml-validate")
    if validate is None or shutil.which("xmllint") is None:
        print("virt-xml-validate or xmllint missing: schema not checked (.ci/setup installs them)",
              file=sys.stderr)
        return
    path.write_text(xml)
    proc = subprocess.run([validate, str(path), "domain"], capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stderr or proc.stdout)[-800:]


@pytest.mark.parametrize("disk_bus", ["virtio", "sata"])
def test_windows_uefi_domain_runs_ovmf_without_secure_boot_and_leaves_nothing(lab, tmp_path, disk_bus):
    config, session = lab
    from harness.guest.windows import WindowsGuest
    from harness.vm.domain_xml import build_domain_xml

    t0 = time.monotonic()
    manifest = _blank_windows_image(tmp_path / "image", disk_bus)
    guest = WindowsGuest(session.backend, manifest, session.run, worker=f"uefi-{disk_bus}", accel="tcg",
                         uri=config.libvirt_uri)
    spec = guest._spec("tcg")
    assert (spec.firmware, spec.machine, spec.windows) == ("uefi", "q35", True)
    _validate(build_domain_xml(spec), tmp_path / "domain.xml")
    instance = session.backend.create(spec)
    conn = session.backend.conn
    try:
        instance.start()
        live_xml = instance.dom.XMLDesc(0)
        _validate(live_xml, tmp_path / "live.xml")
        live = ET.fromstring(live_xml)

        # The firmware libvirt chose: OVMF's code, read-only pflash, from a descriptor without
        # Secure Boot; the NVRAM a copy of that descriptor's template, where the harness said.
        loader, nvram_el = live.find("os/loader"), live.find("os/nvram")
        assert loader is not None and nvram_el is not None, live_xml
        code = Path(loader.text)
        assert (loader.get("type"), loader.get("readonly")) == ("pflash", "yes")
        assert code.parent == OVMF_DIR and code.is_file(), code
        assert not re.search(r"\.(ms|secboot|snakeoil)\.fd$", code.name), f"a Secure Boot build: {code}"
        matched = [d for d in _descriptors().values()
                   if d["mapping"].get("device") == "flash" and d["mapping"]["executable"]["filename"] == str(code)]
        assert matched, f"no firmware descriptor names {code}"
        descriptor = matched[0]
        assert "uefi" in descriptor["interface-types"]
        assert not {"secure-boot", "enrolled-keys"} & set(descriptor["features"]), descriptor["path"]
        assert live.find("features/smm") is None   # SMM comes only with Secure Boot builds
        assert nvram_el.get("template") == descriptor["mapping"]["nvram-template"]["filename"]
        nvram = Path(nvram_el.text)
        assert nvram == spec.nvram, (f"libvirt put the NVRAM at {nvram}, not where the harness said "
                                     f"({spec.nvram}): nothing would remove it")
        assert nvram.is_relative_to(session.run.path) and nvram.is_file()
        assert nvram.stat().st_size == Path(nvram_el.get("template")).stat().st_size
        print(f"\n{disk_bus}: libvirt chose {code} ({Path(descriptor['path']).name}), NVRAM {nvram}",
              file=sys.stderr)

        # The serial console the harness keeps is the domain's serial port.
        serial = live.find("devices/serial/source")
        assert serial is not None and Path(serial.get("path")) == spec.console_log

        # OVMF runs: its boot manager tries the harness's disk, finds nothing, and moves on.
        want = _disk_device_path(live).encode()
        deadline = time.monotonic() + FIRMWARE_WAIT_S
        console = b""
        while time.monotonic() < deadline:
            console = spec.console_log.read_bytes() if spec.console_log.exists() else b""
            failed = FAILED_BOOT.search(console)
            if failed and MOVED_ON.search(console, failed.end()):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"OVMF's boot manager said nothing within {FIRMWARE_WAIT_S:.0f} s; console ends: "
                        f"{console[-600:]!r}")
        text = ANSI.sub("", console.decode("ascii", "replace"))
        lines = [line for line in text.splitlines() if "BdsDxe" in line]
        print(f"{disk_bus}: OVMF after {time.monotonic() - t0:.1f} s: " + " | ".join(lines), file=sys.stderr)
        assert failed.group(2) == want, f"OVMF tried {failed.group(2)!r}, the disk is at {want!r}"

        # libvirt before 10.9 cannot snapshot a domain with pflash firmware (the reason Windows
        # images default to BIOS: vm_images/windows/README.md, "Firmware: why BIOS").
        if tuple(int(p) for p in session.backend.versions()["libvirt"].split(".")) < (10, 9):
            with pytest.raises(InfraError, match="pflash"):
                instance.snapshot("ready")
    finally:
        instance.close()

    assert spec.name not in [d.name() for d in conn.listAllDomains(0)]
    assert not spec.overlay.exists()
    assert not nvram.exists(), f"{nvram} left behind"
    assert not (LIBVIRT_NVRAM_DIR / f"{spec.name}_VARS.fd").exists()
    print(f"{disk_bus}: started, checked and gone in {time.monotonic() - t0:.1f} s", file=sys.stderr)
