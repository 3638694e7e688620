"""Why domain starts are slow on a host, found by starting one: the facts, then the verdict.

Measured on this project's CI machines: with no udev running, ``/dev/kvm`` keeps the kernel's
``crw------- root root``. QEMU runs as libvirt's QEMU user (``libvirt-qemu`` on Debian) and
cannot open it; libvirt's QEMU capability cache then never validates (libvirt finds KVM "present"
in the cached capabilities but unusable by that user, and probes QEMU again), so every domain
start re-runs the probes: 36 s for a 64 MiB domain with no disk, against 0.6-0.8 s once
``/dev/kvm`` is ``root:kvm 0660`` (Debian's udev rule) and the QEMU user is in group ``kvm``.

Stops too (measured here): libvirt's virDomainDestroy sends QEMU SIGTERM, then polls
``kill(pid, 0)`` every 200 ms until the process is gone, zombie included. libvirtd double-forks
QEMU, so an exited QEMU is reaped by the nearest child subreaper above it, else by PID 1. Where
PID 1 reaps late (this project's sandbox: its ``process_api`` reaps orphans about every 2 s), each
destroy waits for it: QEMU gone 12 ms after the SIGTERM (strace), the destroy done 1.4-2.0 s
later; 0.2-0.3 s with libvirtd under ``tini -s``, which ``.ci/setup`` starts it under.

``gather()`` collects what can be seen from here (a start and a stop timed, the QEMU user from
qemu.conf, /dev/kvm's owner and mode, whether a capability cache file was rewritten by the start,
libvirtd's parent); ``diagnose_start()`` and ``diagnose_stop()`` are the decisions, pure
functions, unit tested.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

OK, WARN, FIX = "ok  ", "warn", "FIX "
SLOW_START_S = 5.0            # a domain with no disk starts in under 1 s on a healthy host
SLOW_STOP_S = 1.0             # and is destroyed in 0.2-0.3 s (libvirt's first poll, 200 ms)
LIBVIRTD_PID_FILE = Path("/run/libvirtd.pid")
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
CAPS_CACHE = Path("/var/cache/libvirt/qemu/capabilities")
# Debian builds libvirt --with-qemu-user=libvirt-qemu --with-qemu-group=libvirt-qemu.
DEFAULT_QEMU_USER = DEFAULT_QEMU_GROUP = "libvirt-qemu"
KVM_FIX = "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm && usermod -aG kvm {user}"


@dataclass(frozen=True)
class KvmNode:
    mode: int        # permission bits
    uid: int
    gid: int

    def describe(self) -> str:
        return f"{stat.filemode(stat.S_IFCHR | self.mode)} {_user_name(self.uid)}:{_group_name(self.gid)}"


@dataclass(frozen=True)
class StartFacts:
    """What ``gather()`` saw. None means "could not tell" (a remote host, no permission)."""

    start_s: float | None             # one tiny domain's start; None: it failed
    start_error: str = ""
    local: bool = True
    kvm: KvmNode | None = None        # None: no /dev/kvm
    qemu_user: str = DEFAULT_QEMU_USER
    qemu_can_open_kvm: bool | None = None
    caps_rewritten: list[str] | None = None   # capability cache files the start rewrote
    stop_s: float | None = None       # its destroy; None: not timed (the start failed)
    libvirtd_parent: tuple[int, str] | None = None   # (pid, name) of libvirtd's parent process


def diagnose_start(f: StartFacts) -> list[tuple[str, str, str]]:
    """Doctor lines (status, what, text) for the timed start and the causes it can see."""
    lines: list[tuple[str, str, str]] = []
    cannot_open = f.local and f.kvm is not None and f.qemu_can_open_kvm is False
    fix = KVM_FIX.format(user=f.qemu_user)
    if f.start_s is None:
        lines.append((FIX, "start", f"a tiny domain (no disk, TCG) did not start: {f.start_error}"))
    elif f.start_s <= SLOW_START_S:
        lines.append((OK, "start", f"a tiny domain (no disk, TCG) started in {f.start_s:.1f} s"))
    else:
        causes = []
        if cannot_open:
            causes.append(f"QEMU's user {f.qemu_user} cannot open /dev/kvm ({f.kvm.describe()}), so libvirt's "
                          f"QEMU capability cache never validates and every domain start probes QEMU again")
        if f.caps_rewritten:
            causes.append(f"this start rewrote libvirt's capability cache ({', '.join(f.caps_rewritten)}): "
                          f"libvirt probed QEMU again instead of using it")
        if cannot_open:
            remedy = f"fix: {fix} (what Debian's udev rule does; bash .ci/setup does it where no udev runs)"
        elif f.caps_rewritten:
            remedy = ("fix: find why libvirt finds its cache stale (libvirtd's log; a QEMU or libvirt binary "
                      "that changes, /dev/kvm permissions); starts stay slow until it holds")
        else:
            remedy = ("no cause visible from here" + ("" if f.local else " (remote host: check it there)")
                      + "; a loaded host or slow storage can do this")
        # Slow with no cause in sight (a loaded machine) is worth a warning, not a fix.
        lines.append((FIX if causes else WARN, "start",
                      f"a tiny domain (no disk, TCG) took {f.start_s:.1f} s to start (more than "
                      f"{SLOW_START_S:.0f} s): " + "; ".join(causes + [remedy])))
    if cannot_open and (f.start_s is None or f.start_s <= SLOW_START_S):
        lines.append((WARN, "kvm", f"QEMU's user {f.qemu_user} cannot open /dev/kvm ({f.kvm.describe()}): "
                                   f"guests run under TCG, and libvirt may re-probe QEMU at starts; fix: {fix}"))
    return lines


def diagnose_stop(f: StartFacts) -> list[tuple[str, str, str]]:
    """The doctor line for the timed destroy (none when the start failed), and its cause when slow."""
    if f.stop_s is None:
        return []
    if f.stop_s <= SLOW_STOP_S:
        return [(OK, "stop", f"the tiny domain was destroyed in {f.stop_s:.1f} s")]
    took = f"the tiny domain took {f.stop_s:.1f} s to destroy (more than {SLOW_STOP_S:.0f} s): "
    parent = f.libvirtd_parent
    if f.local and parent is not None and parent[0] == 1 and parent[1] != "systemd":
        return [(FIX, "stop", took + f"libvirtd's parent is PID 1 ({parent[1]}), which reaps exited processes "
                 "late, and libvirt waits until the killed QEMU's zombie is gone; fix: run libvirtd under a "
                 "subreaper that reaps at once (bash .ci/setup starts it under tini -s when none runs: "
                 "stop libvirtd while no VM runs, then run it)")]
    return [(WARN, "stop", took + "no cause visible from here"
             + ("" if f.local else " (remote host: check it there)") + "; every power cut and close pays it")]


# ---- facts ------------------------------------------------------------------------------------

def libvirtd_parent(pid_file: Path = LIBVIRTD_PID_FILE, proc: Path = Path("/proc")) -> tuple[int, str] | None:
    """(pid, name) of the local libvirtd's parent process; None when it cannot be seen."""
    try:
        pid = int(pid_file.read_text().split()[0])
        # /proc/<pid>/stat: "pid (comm) state ppid ...", comm may hold spaces and parentheses.
        ppid = int((proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        return ppid, (proc / str(ppid) / "comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return None


def qemu_identity(conf: Path = QEMU_CONF) -> tuple[str, str]:
    """The user and group libvirt runs QEMU as: qemu.conf's ``user =`` / ``group =``, else Debian's."""
    values = {"user": DEFAULT_QEMU_USER, "group": DEFAULT_QEMU_GROUP}
    try:
        text = conf.read_text()
    except OSError:
        return values["user"], values["group"]
    for key in values:
        match = re.search(rf'^\s*{key}\s*=\s*"([^"]+)"', text, re.MULTILINE)
        if match:
            values[key] = match.group(1)
    return values["user"], values["group"]


def kvm_node(path: str = "/dev/kvm") -> KvmNode | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return KvmNode(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def can_open(node: KvmNode, user: str, group: str) -> bool | None:
    """Whether ``user`` (running with ``group`` and its supplementary groups) may read and write
    a node with ``node``'s owner and mode. None: the user is unknown here."""
    uid = _lookup_uid(user)
    if uid is None:
        return None
    if uid == 0:
        return True
    gids = {g for g in (_lookup_gid(group), _primary_gid(uid)) if g is not None}
    gids |= {g.gr_gid for g in grp.getgrall() if _user_name(uid) in g.gr_mem}
    if node.uid == uid:
        return node.mode & 0o600 == 0o600
    if node.gid in gids:
        return node.mode & 0o060 == 0o060
    return node.mode & 0o006 == 0o006


def caps_snapshot(cache: Path = CAPS_CACHE) -> dict[str, int]:
    """Capability cache file -> mtime (ns); empty when unreadable."""
    try:
        return {p.name: p.stat().st_mtime_ns for p in cache.glob("*.xml")}
    except OSError:
        return {}


def tiny_domain_xml(name: str, metadata: ET.Element | None = None) -> str:
    """A domain that only measures libvirt's start: no disk, no network, 32 MiB, TCG.

    Not a guest definition (those are built in harness/vm/domain_xml.py): nothing boots here.
    """
    domain = ET.Element("domain", type="qemu")
    ET.SubElement(domain, "name").text = name
    if metadata is not None:
        ET.SubElement(domain, "metadata").append(metadata)
    ET.SubElement(domain, "memory", unit="MiB").text = "32"
    ET.SubElement(domain, "vcpu").text = "1"
    os_el = ET.SubElement(domain, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    devices = ET.SubElement(domain, "devices")
    ET.SubElement(devices, "memballoon", model="none")
    return ET.tostring(domain, encoding="unicode")


def gather(backend, local: bool) -> StartFacts:
    """Time one start and one destroy of ``tiny_domain_xml`` on ``backend`` and collect the facts."""
    from harness.errors import InfraError
    from harness.vm.domain_xml import metadata_element
    from harness.vm.libvirt_backend import libvirt, lv, remove_domain
    from harness.vm.rundir import process_start_time

    user, group = qemu_identity() if local else (DEFAULT_QEMU_USER, DEFAULT_QEMU_GROUP)
    node = kvm_node() if local else None
    meta = metadata_element({"run-id": "doctor", "pid": str(os.getpid()),
                             "pid-start": process_start_time(os.getpid()) or "", "host": os.uname().nodename})
    before = caps_snapshot() if local else {}
    started = time.monotonic()
    error, took, stop_s = "", None, None
    try:
        dom = lv("start a tiny domain", backend.conn.createXML,
                 tiny_domain_xml(f"clfs-doctor-{os.getpid()}", meta), libvirt.VIR_DOMAIN_START_AUTODESTROY)
        took = time.monotonic() - started
        stopping = time.monotonic()
        remove_domain(dom)
        stop_s = time.monotonic() - stopping
    except InfraError as exc:
        error = str(exc)
    after = caps_snapshot() if local else {}
    rewritten = sorted(name for name, mtime in after.items() if before.get(name) != mtime) if local else None
    return StartFacts(start_s=took, start_error=error, local=local, kvm=node, qemu_user=user,
                      qemu_can_open_kvm=can_open(node, user, group) if node else None,
                      caps_rewritten=rewritten, stop_s=stop_s,
                      libvirtd_parent=libvirtd_parent() if local else None)


def _lookup_uid(user: str) -> int | None:
    if user.startswith("+") and user[1:].isdigit():
        return int(user[1:])
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _lookup_gid(group: str) -> int | None:
    if group.startswith("+") and group[1:].isdigit():
        return int(group[1:])
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def _primary_gid(uid: int) -> int | None:
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
