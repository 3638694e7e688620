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
- What a panic does to QEMU (``spec.panic_action``). libvirt 9.0 starts QEMU with
  ``-no-shutdown`` and no ``-action`` (seen in this host's domain logs), so QEMU's default panic
  action (shutdown, turned into pause by -no-shutdown) stops the guest in runstate
  guest-panicked. QEMU leaves that runstate only through a reset (monitor/qmp-cmds.c,
  ``qmp_cont``: "Resetting the Virtual Machine is required" while ``runstate_needs_reset()``),
  so the harness reverts such a guest through libvirt, which starts a new QEMU (2.8 s here).
  ``"none"`` adds ``-action panic=none``: QEMU still sends GUEST_PANICKED (action "run";
  QEMU's tests/qtest/pvpanic-test.c, test_panic_nopause) and libvirt still reports the domain
  CRASHED/panicked (measured: libvirt's state crashed while QEMU's query-status says running;
  with ``on_crash=preserve`` libvirt does nothing to QEMU), but the guest keeps running its
  panic loop (the smoke kernel has ``panic=0``), so the harness can revert it with a loadvm in
  place like a hung guest: 0.2-0.8 s instead of 2.8 s. Not the default anywhere: measured on
  the smoke guest (tests/integration/test_vm_linux_smoke.py, the whole module), after one
  panicked guest was reverted so and the module's later tests ran (hang and sshd reverts, an
  NMI, a refused dump), ``sysrq o`` no longer powered the guest off: "watchdog: BUG: soft
  lockup - CPU#0 stuck for 26s!" 25 s after "sysrq: Power Off", four runs out of four, with
  and without the TSC; with "pause" the same module passes. The earlier reset + loadvm
  attempt ended the same way. Re-tested without the TSC: 2 runs of 2, the stuck task
  ksoftirqd in ``virtqueue_enable_cb_delayed`` <- ``virtnet_poll`` (virtio-net out of step with
  QEMU's state outside the snapshot); a panicked guest is now replaced by a warm spare, a second
  QEMU paused at the snapshot (harness/vm/spare.py). Windows keeps "pause" for its own reason too: its crash path
  takes a dump of the guest stopped where it bugchecked (harness/guest/windows.py).
- The TSC of a TCG guest reverted in place (``spec.tsc`` False). Under TCG the guest's TSC is
  QEMU's ``cpu_get_ticks()``, which never goes backwards (softmmu/cpu-timers.c: it clamps to
  ``cpu_ticks_prev``, which is not part of a snapshot). After a loadvm in the same QEMU the
  TSC therefore carries on from before the revert while everything else is back at the
  snapshot: measured, the guest's uptime after such a revert was the time since the snapshot
  (32 s, then 68 s) instead of the snapshot's 6 s. A hung guest, reverted in place since
  before, meets the same clamp. Without a TSC the kernel keeps time with the HPET, whose counter QEMU
  derives from the virtual clock a snapshot restores: measured, uptime after each in-place
  revert was back at the snapshot's, and advances at the host's rate. Under KVM the TSC is
  the host's, set from the snapshot on load; nothing is hidden there.
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
  which is why Windows images default to BIOS (see vm_images/windows/README.md; on libvirt 9.0:
  "internal snapshots of a VM with pflash based firmware are not supported",
  tests/integration/test_vm_windows_firmware.py).
- The UEFI variable store is named (``spec.nvram``, a file in the run's worker folder). Left
  unnamed, libvirt makes it as ``/var/lib/libvirt/qemu/nvram/<name>_VARS.fd`` (qemu_firmware.c,
  ``qemuFirmwareEnableFeatures``: the path is generated only ``if (!def->os.loader->nvram)``) and
  removes that file only when a persistent domain is undefined with ``VIR_DOMAIN_UNDEFINE_NVRAM``
  (qemu_driver.c, ``qemuDomainUndefineFlags``). A transient domain is never undefined: measured on
  libvirt 9.0, each start left a 540 KiB file there after the domain was destroyed, one more per
  run (every run's domain has a new name). Named, it goes with the overlay at close and at the
  reap of a dead run, and a power cut (the same domain started again) keeps it, as a real
  machine keeps its flash.
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
PANIC_ACTIONS = ("pause", "none")

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
    if spec.panic_action not in PANIC_ACTIONS:
        raise ValueError(f"panic_action {spec.panic_action!r}, want pause or none")
    domain = ET.Element("domain", type="kvm" if spec.accel == "kvm" else "qemu")
    _sub(domain, "name", spec.name)
    metadata = _sub(domain, "metadata")
    metadata.append(metadata_element(spec.metadata))
    _sub(domain, "memory", str(spec.memory_mib), unit="MiB")
    _sub(domain, "vcpu", str(spec.vcpus))

    os_el = _sub(domain, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine=spec.machine)
    if spec.firmware == "uefi":
        if spec.nvram is None:
            raise ValueError("firmware uefi needs spec.nvram: where this run keeps the guest's variable store")
        # libvirt >= 8.6 picks an OVMF build matching these features; Secure Boot off. It copies
        # that build's variable store template to the file named here at the first start.
        os_el.set("firmware", "efi")
        _sub(_sub(os_el, "firmware"), "feature", enabled="no", name="secure-boot")
        _sub(os_el, "nvram", str(spec.nvram))
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
    elif not spec.tsc:
        # TCG's default model (libvirt passes -cpu qemu64) without its TSC: see the module docstring.
        cpu = _sub(domain, "cpu", mode="custom", match="exact", check="none")
        _sub(cpu, "model", "qemu64", fallback="forbid")
        _sub(cpu, "feature", policy="disable", name="tsc")
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

    args: list[str] = []
    if spec.forwards:
        fwds = ",".join(f"hostfwd=tcp:127.0.0.1:{f.host_port}-:{f.guest_port}" for f in spec.forwards)
        args += ["-netdev", f"user,id={NETDEV_ID},restrict=on,{fwds}",
                 "-device", f"{spec.nic_model},netdev={NETDEV_ID},addr={NIC_SLOT}"]
    if spec.panic_action == "none":
        # libvirt 9.0 passes no -action of its own (only -no-shutdown), so this one holds.
        args += ["-action", "panic=none"]
    if spec.loadvm is not None:
        # A warm spare starts at the ready snapshot (harness/vm/spare.py); with libvirt's -S it
        # stays paused there until resumed.
        args += ["-loadvm", spec.loadvm]
    if args:
        cmdline = _sub(domain, f"{{{QEMU_NS}}}commandline")
        for arg in args:
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
