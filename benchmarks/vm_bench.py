#!/usr/bin/env python3
"""VM layer benchmark (not a timed test): prints medians, in one run, of

- cold boot: power-on to SSH-ready (a fresh overlay each time);
- revert: revert to the ready snapshot, then SSH-ready again (running guest, and crashed guest);
- per-command cost: the harness's ``LinuxGuest.run("true")`` against a bare paramiko
  ``exec_command("true")`` on the same connection.

Goals: revert-to-ready at least 3x faster than cold boot; harness exec at most 1.2x bare.
Uses the lab configuration (CLFS_HARNESS_*), and the linux-smoke image (built if missing).

    .venv/bin/python benchmarks/vm_bench.py [--boots 3] [--reverts 7] [--commands 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from harness.commands.image import build_image
from harness.config import LabConfig
from harness.errors import BugcheckDetected
from harness.guest.linux import LinuxGuest
from harness.vm.image import load_manifest
from harness.vm.session import open_session


def bare_exec(client, command: str) -> int:
    _stdin, stdout, _stderr = client.exec_command(command)
    stdout.read()
    return stdout.channel.recv_exit_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--reverts", type=int, default=7)
    parser.add_argument("--crash-reverts", type=int, default=3)
    parser.add_argument("--commands", type=int, default=40)
    args = parser.parse_args()

    config = LabConfig.from_env()
    manifest = load_manifest(build_image("linux-smoke", config))
    session = open_session(config)
    accel = config.accel
    boots, reverts, crash_reverts, harness_cmd, bare_cmd = [], [], [], [], []
    crash_parts: list[dict] = []
    try:
        for i in range(args.boots):
            guest = LinuxGuest(session.backend, manifest, session.run, worker=f"bench{i}",
                               accel=accel, uri=config.libvirt_uri, boot_timeout=config.boot_timeout_s)
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
                for j in range(args.crash_reverts):
                    guest.auto_recover = False
                    try:
                        guest.run("echo c > /proc/sysrq-trigger", timeout=30)
                    except BugcheckDetected:
                        pass
                    guest.auto_recover = True
                    took = guest.recover()
                    crash_reverts.append(took)
                    parts = guest.last_recover
                    crash_parts.append(parts)
                    print(f"revert after panic {j + 1}: {took:.2f} s to SSH-ready (libvirt revert "
                          f"{parts.get('revert_s', 0):.2f} s, SSH {parts.get('ssh_s', 0):.2f} s)", flush=True)
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
        print(f"revert after a panic:         median {med(crash_reverts):.2f} s  (n={len(crash_reverts)})  "
              f"{cold / med(crash_reverts):.1f}x faster than cold boot (goal >= 3x)")
        print(f"  of which libvirt's revert:  median {med(p['revert_s'] for p in crash_parts):.2f} s, "
              f"SSH-ready again: median {med(p['ssh_s'] for p in crash_parts):.2f} s")
    print(f"exec 'true', harness:         median {h * 1000:.1f} ms (n={len(harness_cmd)})")
    print(f"exec 'true', bare paramiko:   median {b * 1000:.1f} ms (n={len(bare_cmd)})")
    print(f"harness / bare:               {h / b:.2f}x (goal <= 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
