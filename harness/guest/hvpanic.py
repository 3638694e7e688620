"""The bugcheck as the hypervisor saw it: Hyper-V crash registers, from QEMU's GUEST_PANICKED
event or libvirt's domain log.

First choice, for any runner user: QEMU's GUEST_PANICKED event, which the libvirt backend
receives as a QEMU monitor event (libvirt-qemu) on the harness's own connection. Its data is
``{"action": "pause", "info": {"type": "hyper-v", "arg1": 90, ..., "arg5": 4}}``
(qapi/run-state.json: GuestPanicInformationHyperV, arg1..arg5 uint64): no file to read. Second
choice, the domain log line below, which only root can usually read.

With ``<panic model='hyperv'/>`` a bugchecking Windows writes its stop code and four parameters
into the Hyper-V crash MSRs (HV_X64_MSR_CRASH_P0..P4) and sets the notify bit. QEMU reports
that as GUEST_PANICKED with ``{"type": "hyper-v", "arg1": ..., "arg5": ...}``; libvirt raises
the CRASHED lifecycle event and appends one line to the domain's log file::

    2024-09-30 16:30:49.506+0000: panic hyper-v: arg1='0x5a', arg2='0x1', arg3='0x2', arg4='0x3', arg5='0x4'

arg1 is the bugcheck code, arg2..arg5 its parameters (kubevirt reads the same line to show
Windows stop codes, pkg/virt-launcher/.../panic_info.go; qemu-devel threads quote such lines
for real Windows crashes, e.g. ``arg1='0x3e'`` MULTIPROCESSOR_CONFIGURATION_NOT_SUPPORTED).

The line is there the moment the guest panics, before any dump exists: it is the fastest and,
when the guest is paused at the panic, the only account of the code. The log lives on the
libvirt host and is readable by root only on most distributions; when it cannot be read we
say so and rely on the dump and the event log instead.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from harness.vm.accel import is_local

_LINE = re.compile(r"panic\s+hyper-v:\s*(.*)$")
_ARG = re.compile(r"arg([1-5])='?(0x[0-9A-Fa-f]+)'?")


@dataclass(frozen=True)
class HvPanic:
    """The Hyper-V crash registers of one panic."""

    code: int
    parameters: tuple[int, int, int, int]
    line: str


def parse_panic_lines(text: str) -> tuple[list[HvPanic], list[str]]:
    """Every ``panic hyper-v`` line in ``text``, in order, and the panic lines that did not parse.

    A line counts only with all five arguments: a partial line is a torn write, not a panic
    with parameters zero.
    """
    panics, problems = [], []
    for line in text.splitlines():
        m = _LINE.search(line)
        if not m:
            continue
        args = {int(n): int(v, 16) for n, v in _ARG.findall(m.group(1))}
        if sorted(args) != [1, 2, 3, 4, 5]:
            problems.append(f"domain log: panic line without arg1..arg5: {line.strip()[:200]}")
            continue
        panics.append(HvPanic(args[1], (args[2], args[3], args[4], args[5]), line.strip()))
    return panics, problems


def panic_from_details(details: list[dict]) -> tuple[HvPanic | None, list[str]]:
    """The last Hyper-V panic among GUEST_PANICKED event data, and what did not parse.

    An event without ``info`` (isa pvpanic carries no code) is no panic with code zero: it
    gives nothing here.
    """
    found, problems = None, []
    for data in details:
        info = data.get("info") if isinstance(data, dict) else None
        if not isinstance(info, dict) or info.get("type") != "hyper-v":
            continue
        args = [info.get(f"arg{n}") for n in range(1, 6)]
        if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 0 for a in args):
            problems.append(f"GUEST_PANICKED event without numbers arg1..arg5: {str(info)[:200]}")
            continue
        found = HvPanic(args[0], tuple(args[1:]), f"GUEST_PANICKED {info}")
    return found, problems


def domain_log_path(uri: str, domain: str, log_dir: Path | None = None) -> Path | None:
    """Where libvirt writes the QEMU log of ``domain``, or None when it is not on this host.

    Args:
        uri: the libvirt URI (``qemu:///system`` logs under /var/log/libvirt/qemu,
            ``qemu:///session`` under ~/.cache/libvirt/qemu/log).
        log_dir: an explicit directory, overriding the URI's default.
    """
    if log_dir is not None:
        return Path(log_dir) / f"{domain}.log"
    if not is_local(uri):
        return None
    if uri.rstrip("/").endswith("/session"):
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "libvirt" / "qemu" / "log" / f"{domain}.log"
    return Path("/var/log/libvirt/qemu") / f"{domain}.log"


class DomainLog:
    """Reads what libvirt appended to one domain's log since a mark."""

    def __init__(self, path: Path | None):
        self.path = path
        self._mark = 0

    def mark(self) -> None:
        """Remember the current end: later reads see only what comes after it."""
        self._mark = self._size()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size if self.path else 0
        except OSError:
            return 0

    def read_new(self) -> str:
        """Text appended since the mark. Raises OSError when the log cannot be read."""
        if self.path is None:
            raise OSError("the domain log is on the remote libvirt host")
        with open(self.path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            # A log shorter than the mark was rotated or truncated: all of it is new.
            fh.seek(self._mark if size >= self._mark else 0)
            return fh.read(1 << 20).decode("utf-8", "replace")

    def wait_panic(self, timeout: float = 3.0, poll: float = 0.1) -> tuple[HvPanic | None, list[str]]:
        """The last Hyper-V panic logged since the mark, waiting up to ``timeout`` seconds
        (libvirt writes the line on a worker thread, just after it emits the event).

        Returns:
            (panic or None, problems): problems say why there is none (unreadable log, torn line).
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                panics, problems = parse_panic_lines(self.read_new())
            except OSError as exc:
                return None, [f"domain log {self.path or '(remote)'} not readable ({exc.strerror or exc}); "
                              f"the bugcheck code comes from the dump or the event log instead "
                              f"(run as root, or set the domain_log_dir option)"]
            if panics or time.monotonic() >= deadline:
                if not panics:
                    problems.append(f"no 'panic hyper-v' line in {self.path} after the crash event")
                return (panics[-1] if panics else None), problems
            time.sleep(poll)
