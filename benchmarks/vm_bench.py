#!/usr/bin/env python3
"""VM layer benchmark (not a timed test): prints medians, in one run, of

- cold boot: power-on to SSH-ready (a fresh overlay each time);
- revert: revert to the ready snapshot, then SSH-ready again: a running guest (a loadvm in place),
  and a panicked one two ways side by side: the harness's (the worker's warm spare, a second QEMU
  paused at the snapshot, resumed: harness/vm/spare.py) and the old one (libvirt's revert, a new
  QEMU); then what the kernel said (soft lockups, RCU stalls, clocksource trouble: none expected)
  and whether the guest's clock came back to the snapshot's. Between two panics the guest runs
  ``--panic-gap`` seconds (the cases a worker runs between two crashes; the helper thread makes
  the next spare meanwhile);
- ``--panic-in-place``: the guest's QEMU keeps running a panicked guest (``-action panic=none``)
  and the revert after a panic is a loadvm in place. Not the harness's way: such guests later hung
  at power-off, a soft lockup in virtio-net (harness/vm/spare.py);
- per-command cost: the harness's ``LinuxGuest.run("true")`` against a bare paramiko
  ``exec_command("true")`` on the same connection.

Goals: revert-to-ready (after a panic too) at least 3x faster than cold boot; harness exec at
most 1.2x bare. The host's load average is printed at the start and the end (a shared host).
Uses the lab configuration (CLFS_HARNESS_*), and the linux-smoke image (built if missing).

    .venv/bin/python benchmarks/vm_bench.py [--boots 3] [--reverts 7] [--crash-reverts 5]
        [--libvirt-crash-reverts 3] [--panic-gap 5] [--panic-in-place] [--commands 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from harness.commands.image import build_image
from harness.config import LabConfig
from harness.errors import BugcheckDetected
from harness.guest.linux import KERNEL_TROUBLE, LinuxGuest
from harness.vm.image import load_manifest
from harness.vm.session import open_session


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


def uptime(guest) -> float:
    return float(guest.run("cat /proc/uptime", check=True).stdout.split()[0])


def panic_and_revert(guest, gap: float) -> tuple[float, dict, str]:
    """After ``gap`` seconds of the guest running, panic its kernel (sysrq c), then the harness's
    recovery; its time, parts and path."""
    time.sleep(gap)
    guest.auto_recover = False
    try:
        guest.run("echo c > /proc/sysrq-trigger", timeout=30)
    except BugcheckDetected:
        pass
    guest.auto_recover = True
    took = guest.recover()
    return took, guest.last_recover, getattr(guest.instance, "last_revert", "?")


def bare_exec(client, command: str) -> int:
    _stdin, stdout, _stderr = client.exec_command(command)
    stdout.read()
    return stdout.channel.recv_exit_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--reverts", type=int, default=7)
    parser.add_argument("--crash-reverts", type=int, default=5)
    parser.add_argument("--panic-in-place", action="store_true",
                        help="QEMU keeps running a panicked guest, reverted in place (not the harness's way)")
    parser.add_argument("--libvirt-crash-reverts", type=int, default=3,
                        help="reverts after a panic through libvirt (a new QEMU), the old route")
    parser.add_argument("--panic-gap", type=float, default=5.0,
                        help="seconds the guest runs between two panics (cases between two crashes)")
    parser.add_argument("--commands", type=int, default=40)
    args = parser.parse_args()

    config = LabConfig.from_env()
    manifest = load_manifest(build_image("linux-smoke", config))
    session = open_session(config)
    accel = config.accel
    boots, reverts, crash_reverts, harness_cmd, bare_cmd = [], [], [], [], []
    crash_parts: list[dict] = []
    libvirt_crash: list[float] = []
    paths: set[str] = set()
    clock_off: list[float] = []
    trouble: list[str] = []
    print(f"start: {load()}", flush=True)
    try:
        for i in range(args.boots):
            guest = LinuxGuest(session.backend, manifest, session.run, worker=f"bench{i}",
                               accel=accel, uri=config.libvirt_uri, boot_timeout=config.boot_timeout_s)
            if args.panic_in_place:
                guest.panic_action = "none"
            try:
                guest.boot()
                accel = guest.accel  # decided by the first boot (auto: KVM probed, else TCG)
                boots.append(guest.ready_seconds)
                print(f"cold boot {i + 1}: {guest.ready_seconds:.2f} s to SSH-ready", flush=True)
                if i < args.boots - 1:
                    continue
                for j in range(args.reverts):
                    took = guest.recover()
                    reverts.append(took)
                    print(f"revert {j + 1}: {took:.2f} s to SSH-ready", flush=True)
                console_from = guest.console_log.stat().st_size
                guest.recover()
                base = uptime(guest)   # the snapshot's uptime (plus one reconnect)
                for j in range(args.crash_reverts):
                    took, parts, path = panic_and_revert(guest, args.panic_gap)
                    crash_reverts.append(took)
                    crash_parts.append(parts)
                    paths.add(path)
                    clock_off.append(uptime(guest) - base)
                    print(f"revert after panic {j + 1} ({path}): {took:.2f} s to SSH-ready (revert "
                          f"{parts.get('revert_s', 0):.2f} s, SSH {parts.get('ssh_s', 0):.2f} s); guest "
                          f"uptime {clock_off[-1]:+.2f} s from the snapshot's", flush=True)
                # The old route: libvirt's revert, a new QEMU (no in-place loadvm, no spare).
                session.backend.fast_revert = session.backend.warm_spares = False
                try:
                    for j in range(args.libvirt_crash_reverts):
                        took, parts, path = panic_and_revert(guest, args.panic_gap)
                        libvirt_crash.append(took)
                        print(f"revert after panic through libvirt {j + 1} ({path}): {took:.2f} s to "
                              f"SSH-ready (revert {parts.get('revert_s', 0):.2f} s)", flush=True)
                finally:
                    session.backend.fast_revert = session.backend.warm_spares = True
                # The kernel's watchdogs get three periods (4 s) after the last revert to speak.
                guest.run("sleep 12", check=True, timeout=60)
                dmesg = guest.run("dmesg", check=True).stdout
                console = guest.console_log.read_bytes()[console_from:].decode("utf-8", "replace")
                trouble = [t for t in KERNEL_TROUBLE if t in dmesg or t in console]
                client = guest.ssh._client  # the same connection the harness uses
                guest.run("true")
                bare_exec(client, "true")  # warm both paths
                for _ in range(args.commands):
                    t0 = time.perf_counter()
                    guest.run("true", check=True)
                    harness_cmd.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    assert bare_exec(client, "true") == 0
                    bare_cmd.append(time.perf_counter() - t0)
            finally:
                guest.close()
    finally:
        session.close()

    med = statistics.median
    cold, rev, h, b = med(boots), med(reverts), med(harness_cmd), med(bare_cmd)
    print()
    print(f"accelerator: {accel.upper()}")
    print(f"cold boot to SSH-ready:       median {cold:.2f} s  (n={len(boots)})")
    print(f"revert to SSH-ready:          median {rev:.2f} s  (n={len(reverts)})  "
          f"{cold / rev:.1f}x faster than cold boot (goal >= 3x)")
    if crash_reverts:
        crash = med(crash_reverts)
        print(f"revert after a panic:         median {crash:.2f} s  (n={len(crash_reverts)}, "
              f"{'/'.join(sorted(paths))})  {cold / crash:.1f}x faster than cold boot (goal >= 3x)")
        print(f"  of which the revert:        median {med(p['revert_s'] for p in crash_parts):.2f} s, "
              f"SSH-ready again: median {med(p['ssh_s'] for p in crash_parts):.2f} s")
        if libvirt_crash:
            print(f"  old route, libvirt revert:  median {med(libvirt_crash):.2f} s  (n={len(libvirt_crash)}, "
                  f"a new QEMU)  {cold / med(libvirt_crash):.1f}x faster than cold boot")
        print(f"  (the guest ran {args.panic_gap:g} s between two panics; the spare is made meanwhile)")
        print(f"  guest clock after revert:   {min(clock_off):+.2f} .. {max(clock_off):+.2f} s from the "
              f"snapshot's uptime (a TSC carried on would show the time since the snapshot)")
        print(f"  kernel trouble since:       {', '.join(trouble) if trouble else 'none'} "
              f"(soft lockup, RCU stall, hung task, clocksource; dmesg and console)")
    print(f"exec 'true', harness:         median {h * 1000:.1f} ms (n={len(harness_cmd)})")
    print(f"exec 'true', bare paramiko:   median {b * 1000:.1f} ms (n={len(bare_cmd)})")
    print(f"harness / bare:               {h / b:.2f}x (goal <= 1.2x)")
    print(f"end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
