"""The libvirt domain definition, built in one place with ElementTree.

Golden-file tested (tests/unit/test_domain_xml.py; regenerate with
``CLFS_HARNESS_REGEN_GOLDEN=1``). Choices, and why:

- Networking is QEMU user-mode (slirp) with ``restrict=on``: the guest reaches nothing,
  and the host reaches the guest only through ``hostfwd`` on 127.0.0.1. libvirt 9.0's
  ``<interface type='user'>`` has no port forwards without passt, so the netdev goes
  through ``<qemu:commandline>`` (libvirt marks the domain "tainted: custom-argv"; expected).
- The serial console is a file opened at power-on, appended across reverts.
- A panic device (``isa`` pvpanic for Linux, ``hyperv`` for Windows) with
  ``on_crash=preserve`` keeps a crashed guest paused for a screenshot, then a revert.
- The golden disk is the overlay's explicit ``<backingStore>`` with ``relabel='no'``.
- A VGA display with no remote access (no VNC/SPICE listener): only for screenshots.
- Removable media (a Windows install: install ISO, virtio-win, answer file) are read-only
  SATA cdroms after the disk, left unlabelled like the golden disk (libvirt would chown the
  user's ISO otherwise). With media, boot order is per device: the disk first (blank until
  Windows Setup has written it, so the firmware falls through to the first cdrom; once
  Setup has written it, every reboot comes back to the disk and no "press any key" prompt
  is ever shown), then the first cdrom.
- Firmware: SeaBIOS by default; ``uefi`` asks libvirt's firmware autoselection for OVMF
  *without* Secure Boot, because test signing is refused under Secure Boot
  (``bcdedit /set testsigning on``: "The value is protected by Secure Boot policy").
  libvirt before 10.9/10.10 refuses internal snapshots of a domain with pflash firmware,
  which is why Windows images default to BIOS (see vm_images/windows/README.md).
- ``vmcoreinfo`` adds QEMU's vmcoreinfo device: with the virtio-win FwCfg driver in the
  guest, ``dump-guest-memory -w`` can write a Windows-format dump of a hung guest.
- Windows (``spec.windows``): one socket with N cores (without ``<topology>`` libvirt gives one
  socket per vCPU, and client Windows uses at most two sockets); under KVM the Hyper-V
  enlightenments QEMU's docs/system/i386/hyperv.rst recommends (relaxed, vapic, spinlocks with
  0xfff retries for a shared host, vpindex, runtime, synic, stimer, reset, frequencies, and the
  hv-time clock: "certain Windows versions revert to using HPET ... extensively when [stimer] is
  not provided", costing host CPU even when idle); HPET off, the RTC catching up and the PIT
  delayed, as libvirt's and virt-manager's Windows defaults do. hv-crash is not among them:
  ``<panic model='hyperv'/>`` adds it, and only when the harness wants the bugcheck from the
  crash MSRs, because a guest that writes them is stopped before Windows writes its dump
  (hyperv.rst: it "effectively prevents Windows from creating dumps upon crashes"). Under TCG
  only hv-relaxed: the other enlightenments are KVM's.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.vm.base import VmSpec

METADATA_NS = "urn:clfs-harness:run:1"
METADATA_PREFIX = "clfs"
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
NETDEV_ID = "clfsnet0"
# QEMU places command-line devices before libvirt's own, so the NIC gets a fixed PCI slot
# far above the ones libvirt assigns in order (1, 2, 3, ...).
NIC_SLOT = "0x1e"
FIRMWARES = ("bios", "uefi")

ET.register_namespace("qemu", QEMU_NS)
ET.register_namespace(METADATA_PREFIX, METADATA_NS)


def metadata_element(values: dict[str, str]) -> ET.Element:
    """The ``<clfs:run>`` element carried in the domain's metadata (run id, owner pid, …)."""
    run = ET.Element(f"{{{METADATA_NS}}}run")
    for key in sorted(values):
        run.set(key, str(values[key]))
    return run


def build_domain_xml(spec: VmSpec) -> str:
    """Return the domain XML for ``spec`` (a transient domain; libvirt never stores it)."""
    if spec.accel not in ("kvm", "tcg"):
        raise ValueError(f"accel {spec.accel!r}, want kvm or tcg")
    if spec.firmware not in FIRMWARES:
        raise ValueError(f"firmware {spec.firmware!r}, want bios or uefi")
    domain = ET.Element("domain", type="kvm" if spec.accel == "kvm" else "qemu")
    _sub(domain, "name", spec.name)
    metadata = _sub(domain, "metadata")
    metadata.append(metadata_element(spec.metadata))
    _sub(domain, "memory", str(spec.memory_mib), unit="MiB")
    _sub(domain, "vcpu", str(spec.vcpus))

    os_el = _sub(domain, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine=spec.machine)
    if spec.firmware == "uefi":
        # libvirt >= 8.6 picks an OVMF build matching these features; Secure Boot off.
        os_el.set("firmware", "efi")
        _sub(_sub(os_el, "firmware"), "feature", enabled="no", name="secure-boot")
    if spec.kernel is not None:
        _sub(os_el, "kernel", str(spec.kernel))
        if spec.initrd is not None:
            _sub(os_el, "initrd", str(spec.initrd))
        _sub(os_el, "cmdline", spec.cmdline)
    elif not spec.cdroms:
        _sub(os_el, "boot", dev="hd")   # with media, boot order is per device (below)

    features = _sub(domain, "features")
    _sub(features, "acpi")   # the isa pvpanic device is found through ACPI (QEMU0001)
    _sub(features, "apic")
    if spec.windows or spec.panic_model == "hyperv":
        _hyperv(features, spec.accel == "kvm" and spec.windows)
    if spec.vmcoreinfo:
        _sub(features, "vmcoreinfo", state="on")
    if spec.accel == "kvm" or spec.windows:
        cpu = _sub(domain, "cpu", mode="host-passthrough") if spec.accel == "kvm" else _sub(domain, "cpu")
        if spec.windows:
            _sub(cpu, "topology", sockets="1", dies="1", cores=str(spec.vcpus), threads="1")
    clock = _sub(domain, "clock", offset="utc")
    if spec.windows:
        _sub(clock, "timer", name="rtc", tickpolicy="catchup")
        _sub(clock, "timer", name="pit", tickpolicy="delay")
        _sub(clock, "timer", name="hpet", present="no")
        if spec.accel == "kvm":
            _sub(clock, "timer", name="hypervclock", present="yes")   # hv-time
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "preserve")

    devices = _sub(domain, "devices")
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type="qcow2", cache="unsafe", discard="unmap")
    _sub(disk, "source", file=str(spec.overlay))
    # The golden image, named rather than probed, and left alone: libvirt neither relabels nor
    # chowns it (QEMU reads it as the world-readable backing file it is).
    backing = _sub(disk, "backingStore", type="file")
    _sub(backing, "format", type="qcow2")
    _sub(_sub(backing, "source", file=str(spec.golden)), "seclabel", model="dac", relabel="no")
    _sub(backing, "backingStore")
    _sub(disk, "target", dev="vda" if spec.disk_bus == "virtio" else "sda", bus=spec.disk_bus)
    if spec.cdroms:
        _sub(disk, "boot", order="1")
    _add_cdroms(devices, spec)

    serial = _sub(devices, "serial", type="file")
    _sub(serial, "source", path=str(spec.console_log), append="on")
    _sub(serial, "target", port="0")

    video = _sub(devices, "video")
    _sub(video, "model", type="vga", vram="16384", heads="1")
    panic = _sub(devices, "panic", model=spec.panic_model)
    if spec.panic_model == "isa":
        _sub(panic, "address", type="isa", iobase="0x505")
    _sub(devices, "memballoon", model="none")

    if spec.forwards:
        cmdline = _sub(domain, f"{{{QEMU_NS}}}commandline")
        fwds = ",".join(f"hostfwd=tcp:127.0.0.1:{f.host_port}-:{f.guest_port}" for f in spec.forwards)
        for arg in ("-netdev", f"user,id={NETDEV_ID},restrict=on,{fwds}",
                    "-device", f"{spec.nic_model},netdev={NETDEV_ID},addr={NIC_SLOT}"):
            _sub(cmdline, f"{{{QEMU_NS}}}arg", value=arg)

    ET.indent(domain)
    return ET.tostring(domain, encoding="unicode") + "\n"


# Enlightenment -> extra attributes (libvirt formatdomain, "Hypervisor features").
HYPERV_KVM = (("vapic", {}), ("spinlocks", {"retries": "4095"}), ("vpindex", {}), ("runtime", {}),
              ("synic", {}), ("stimer", {}), ("reset", {}), ("frequencies", {}))


def _hyperv(features: ET.Element, full: bool) -> None:
    hyperv = _sub(features, "hyperv", mode="custom")
    _sub(hyperv, "relaxed", state="on")
    if full:
        for name, extra in HYPERV_KVM:
            _sub(hyperv, name, state="on", **extra)


def _add_cdroms(devices: ET.Element, spec: VmSpec) -> None:
    """Read-only SATA cdroms in ``spec.cdroms`` order; the first one is the boot medium."""
    # SATA names after the disk's own (sda when the disk is SATA too); AHCI has 6 ports.
    first = 1 if spec.disk_bus == "sata" else 0
    if first + len(spec.cdroms) > 6:
        raise ValueError(f"{len(spec.cdroms)} cdroms do not fit on the SATA controller")
    for i, iso in enumerate(spec.cdroms):
        cdrom = _sub(devices, "disk", type="file", device="cdrom")
        _sub(cdrom, "driver", name="qemu", type="raw")
        _sub(_sub(cdrom, "source", file=str(iso)), "seclabel", model="dac", relabel="no")
        _sub(cdrom, "target", dev="sd" + "abcdef"[first + i], bus="sata")
        _sub(cdrom, "readonly")
        if i == 0:
            _sub(cdrom, "boot", order="2")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child
