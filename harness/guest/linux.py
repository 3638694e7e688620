"""The Linux guest adapter: the smoke guest as one object that boots, runs, copies and recovers.

The lifecycle is ``harness.guest.vmguest.VmGuest``'s:

- ``boot()``: overlay, power on (KVM probed by booting, TCG otherwise), SSH-ready, snapshot.
- ``run()``: a command with a deadline. A guest crash surfaces as ``BugcheckDetected`` within
  a fraction of a second (libvirt's CRASHED event, polled every 50 ms while waiting); a
  deadline as ``GuestTimeout``; a lost connection as ``InfraError``. After each of those the
  display is saved as PNG, the console is kept, and the guest is reverted to the ready
  snapshot and reconnected, so the next command finds a clean guest.

What is Linux here: direct kernel boot of the image's kernel and initrd, the ``isa`` pvpanic
device, and the machine type the manifest names.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.guest.vmguest import VmGuest
from harness.vm.base import PortForward, VmSpec
from harness.vm.libvirt_backend import free_port
from harness.vm.stage import stage


# What the Linux kernel prints when its clocks or its watchdogs misbehave (soft lockup, RCU stall,
# hung task, clocksource trouble), all at the console's loglevel: a guest reverted in place must
# print none of it (tests/integration/test_vm_linux_smoke.py and benchmarks/vm_bench.py look).
KERNEL_TROUBLE = ("soft lockup", "rcu_sched self-detected stall", "rcu: INFO", "blocked for more than",
                  "clocksource watchdog", "Marking clocksource", "timekeeping watchdog")


class LinuxGuest(VmGuest):
    """One Linux guest on an overlay of ``manifest``'s golden disk (arguments: ``VmGuest``)."""

    # QEMU pauses a panicked guest, and the revert swaps in the worker's warm spare, a second
    # QEMU already paused at the ready snapshot (harness/vm/spare.py; 256 MiB more per worker).
    # "none" would keep the panicked QEMU running for a loadvm in place, but a guest so reverted
    # later hung at power-off with a soft lockup in virtio-net (harness/vm/spare.py says what was
    # seen); benchmarks/vm_bench.py --panic-in-place measures it.
    panic_action = "pause"
    warm_spare = True
    # Dropbear writes its banner as it accepts a connection, in milliseconds once it listens: a
    # boot's wait for SSH drops a silent connection after 2 s and makes a new one
    # (harness/guest/ssh.py says what a connection that stays silent cost).
    ssh_ready_banner_s = 2.0

    def _spec(self, accel: str) -> VmSpec:
        m = self.manifest
        overlay = self.dir / "overlay.qcow2"
        meta = {**self.run_dir.metadata(), "worker": self.worker, "overlay": str(overlay),
                "image": m.name}
        staged = self.run_dir.staging_dir(m.name)
        return VmSpec(
            name=f"clfs-{self.run_dir.run_id}-{self.worker}", accel=accel, overlay=overlay,
            golden=stage(m.disk, staged), console_log=self.console_log, machine=m.machine,
            memory_mib=m.memory_mib, vcpus=m.vcpus, kernel=m.kernel and stage(m.kernel, staged),
            initrd=m.initrd and stage(m.initrd, staged),
            cmdline=m.cmdline, panic_model=m.panic_model, panic_action=self.panic_action,
            # Under TCG the guest keeps time without the TSC, which QEMU cannot wind back when it
            # reverts in place (a hung guest): harness/vm/domain_xml.py.
            tsc=accel != "tcg", warm_spare=self.warm_spare,
            forwards=(PortForward(free_port(), m.ssh_port),), metadata=meta)

    # A clean stop syncs and unmounts the work disk (/srv, see vm_images/linux-smoke/init) before
    # busybox powers off. A bugcheck is not here: the smoke target's executor raises it
    # (--crash-trigger, sysrq c), through the same request path as the Windows driver's.
    _STOP_COMMANDS = {"clean": "sync; umount /srv || mount -o remount,ro /srv; poweroff -f"}

    def _begin_stop(self, how: str) -> None:
        command = self._STOP_COMMANDS.get(how)
        if command is None:
            super()._begin_stop(how)
        try:
            self.ssh.exec(command, 10.0)
        except HarnessError:   # the connection dies with the guest: expected
            pass

    def __enter__(self) -> "LinuxGuest":
        self.boot()
        return self
