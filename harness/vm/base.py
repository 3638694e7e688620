"""The VM layer's small interface: a Backend creates Instances; an Instance boots, snapshots,
reverts, reports crashes and shuts down.

Shape after syzkaller's ``vmimpl`` (``Pool{Create}``, ``Instance{Run, Diagnose, Close}``) and
LISA's lifecycle: each public method logs, times and checks state, then calls a protected
``_hook`` that a concrete backend implements. Per-VM state lives in one dataclass,
``InstanceState``. Nothing here knows about SSH, guests' operating systems or CLFS.
"""

from __future__ import annotations

import abc
import enum
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfraError

log = logging.getLogger("harness.vm")


@dataclass(frozen=True)
class PortForward:
    """A guest TCP port reachable on the host at 127.0.0.1:host_port (never another address)."""

    host_port: int
    guest_port: int


@dataclass(frozen=True)
class VmSpec:
    """Everything the domain definition is made from. Paths are absolute."""

    name: str
    accel: str                      # "kvm" or "tcg"
    overlay: Path                   # this worker's qcow2 overlay of the golden disk
    golden: Path                    # the read-only golden disk the overlay is backed by
    console_log: Path               # serial console, written from power-on
    machine: str = "pc"
    memory_mib: int = 256
    vcpus: int = 1
    kernel: Path | None = None      # direct kernel boot (Linux smoke guest)
    initrd: Path | None = None
    cmdline: str = ""
    panic_model: str = "isa"        # "isa" pvpanic (Linux) or "hyperv" (Windows)
    # What QEMU does when the guest reports a panic (QEMU's ``-action panic=``): "pause" stops the
    # guest where it fell (QEMU runstate guest-panicked; a revert then needs a new QEMU), "none"
    # leaves it running in its own panic loop, so the revert is a loadvm in place.
    panic_action: str = "pause"
    # False hides the TSC from a TCG guest, whose clocks then come from devices a loadvm in place
    # puts back (harness/vm/domain_xml.py says why each guest gets which of these two).
    tsc: bool = True
    # The snapshot QEMU loads as it starts (``-loadvm``): a warm spare's (harness/vm/spare.py).
    loadvm: str | None = None
    # Keep a second domain paused at the ready snapshot, swapped in after a panic
    # (harness/vm/spare.py: why, and what it costs).
    warm_spare: bool = False
    nic_model: str = "virtio-net-pci"
    disk_bus: str = "virtio"        # "sata" for a Windows guest without virtio drivers
    forwards: tuple[PortForward, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)   # run id, owner pid, run dir
    # Windows: removable media in order (install ISO, virtio-win, answer file), firmware
    # ("bios" or "uefi"; UEFI is always without Secure Boot, which test signing needs), and the
    # vmcoreinfo device that lets QEMU write a Windows-format dump of the guest.
    cdroms: tuple[Path, ...] = ()
    firmware: str = "bios"
    # UEFI only, and then required: the guest's variable store (libvirt copies OVMF's template
    # there at the first start), a file of this run that goes with the overlay; see domain_xml.
    nvram: Path | None = None
    vmcoreinfo: bool = False
    # Windows: the Hyper-V enlightenments, timers and one-socket topology a Windows guest needs
    # (harness/vm/domain_xml.py says which and why).
    windows: bool = False


class Phase(enum.Enum):
    DEFINED = "defined"
    RUNNING = "running"
    CRASHED = "crashed"
    STOPPED = "stopped"
    CLOSED = "closed"


@dataclass
class InstanceState:
    """Everything that changes during an instance's life, in one place."""

    spec: VmSpec
    phase: Phase = Phase.DEFINED
    started_at: float | None = None
    snapshot: str | None = None            # name of the ready snapshot, once taken
    crash_reason: str | None = None        # set by the event thread: "crashed: panicked" ...
    events: list[tuple[float, str]] = field(default_factory=list)
    artefacts: list[Path] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)


class Instance(abc.ABC):
    """One running guest. Public methods wrap ``_hooks``; backends implement the hooks."""

    def __init__(self, spec: VmSpec):
        self.state = InstanceState(spec=spec)

    @property
    def spec(self) -> VmSpec:
        return self.state.spec

    @property
    def name(self) -> str:
        return self.state.spec.name

    def forward(self, guest_port: int) -> int:
        """The host port (on 127.0.0.1) that reaches ``guest_port`` in the guest."""
        for fwd in self.spec.forwards:
            if fwd.guest_port == guest_port:
                return fwd.host_port
        raise InfraError(f"{self.name}: guest port {guest_port} is not forwarded")

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Power on. Raises InfraError (BootError when the guest cannot start)."""
        with self._timed("start"):
            self._start()
            self._set(Phase.RUNNING, crash=None)
            self.state.started_at = time.monotonic()

    def snapshot(self, name: str = "ready") -> None:
        """Snapshot memory and disk of the running guest; ``revert()`` returns to it."""
        self._require(Phase.RUNNING)
        with self._timed(f"snapshot {name}"):
            self._snapshot(name)
            self.state.snapshot = name

    def revert(self) -> None:
        """Return to the ready snapshot, whatever state the guest is in (crashed, hung, off)."""
        if self.state.snapshot is None:
            raise InfraError(f"{self.name}: no snapshot to revert to")
        with self._timed(f"revert to {self.state.snapshot}"):
            self._revert(self.state.snapshot)
            self._set(Phase.RUNNING, crash=None)

    def screenshot(self, path: Path) -> Path | None:
        """Save the guest display as PNG; returns the path, or None when it could not be taken."""
        try:
            with self._timed("screenshot"):
                self._screenshot(Path(path))
        except InfraError as exc:
            log.warning("%s: no screenshot: %s", self.name, exc)
            return None
        self.state.artefacts.append(Path(path))
        return Path(path)

    def inject_nmi(self) -> None:
        """Send a non-maskable interrupt: a hung Windows guest set up with NMICrashDump
        bugchecks (0x80) and writes a dump. Raises InfraError when the backend cannot."""
        self._require(Phase.RUNNING)
        with self._timed("inject NMI"):
            self._inject_nmi()

    def dump_windows_memory(self, path: Path) -> Path:
        """Write the guest's memory as a Windows crash dump (QEMU's win-dmp format) to ``path``.

        Needs the vmcoreinfo device and virtio-win's FwCfg driver in a Windows guest; QEMU fills
        the header from the guest's own bugcheck data. Raises InfraError when it cannot.
        """
        with self._timed(f"Windows-format memory dump to {path}"):
            self._dump_windows_memory(Path(path))
        self.state.artefacts.append(Path(path))
        return Path(path)

    def power_cut(self) -> None:
        """Pull the plug, then power on again on the SAME overlay: no revert, no new overlay
        (a durability phase reads what the disk kept). The ready snapshot stays usable."""
        keep = self._snapshot_definition()
        with self._timed("power cut, start on the same disk"):
            self._start_same_disk(keep, destroy=True, since=len(self.state.events))
            self._set(Phase.RUNNING, crash=None)
            self.state.started_at = time.monotonic()

    def restart_same_disk(self, trigger, timeout: float, after_stop=None) -> str:
        """Let the guest stop itself (``trigger()``: a crash or an orderly power-off that the
        guest adapter starts), wait until it has stopped, then power on again on the same overlay.

        Args:
            after_stop: ``after_stop(reason)`` runs once the guest has stopped, before the power
                comes back (the guest adapter gathers a crash's evidence there); when it returns
                True the guest came back by itself in the same domain (Windows writes its dump
                and reboots, CrashControl AutoReboot=1), and is not powered on again.
        Returns:
            how the guest stopped ("crashed: panicked", "stopped: shutdown").
        Raises:
            InfraError: the guest did not stop within ``timeout`` seconds.
        """
        keep = self._snapshot_definition()
        with self._timed("restart on the same disk"):
            since = len(self.state.events)
            trigger()
            reason = self.wait_crash(timeout)
            if reason is None:
                raise InfraError(f"{self.name}: did not stop within {timeout:.0f} s of being told to")
            if after_stop is None or not after_stop(reason):
                self._start_same_disk(keep, destroy=reason.startswith("crashed"), since=since)
            self._set(Phase.RUNNING, crash=None)
            self.state.started_at = time.monotonic()
        return reason

    def close(self) -> None:
        """Power off and remove everything this instance created except its artefacts."""
        if self.state.phase is Phase.CLOSED:
            return
        with self._timed("close"):
            try:
                self._close()
            finally:
                self._set(Phase.CLOSED)

    # ---- crash and power events ------------------------------------------------------------

    def crashed(self) -> str | None:
        """The reason the guest stopped on its own ("crashed: panicked", "stopped: shutdown"), or None."""
        return self.state.crash_reason

    def wait_crash(self, timeout: float) -> str | None:
        """Block until the guest crashes or powers off, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.state.changed:
            while self.state.crash_reason is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.state.changed.wait(left)
            return self.state.crash_reason

    def console_tail(self, limit: int = 4000) -> str:
        """The last ``limit`` characters of the serial console."""
        try:
            data = self.spec.console_log.read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def _record_event(self, text: str, crash: str | None = None) -> None:
        """Called by the backend's event thread."""
        with self.state.changed:
            self.state.events.append((time.time(), text))
            if crash is not None and self.state.crash_reason is None:
                self.state.crash_reason = crash
                self.state.phase = Phase.CRASHED if crash.startswith("crashed") else Phase.STOPPED
                log.warning("%s: %s", self.name, crash)
            self.state.changed.notify_all()

    # ---- helpers ---------------------------------------------------------------------------

    def _set(self, phase: Phase, crash: str | None = "keep") -> None:
        with self.state.changed:
            self.state.phase = phase
            if crash != "keep":
                self.state.crash_reason = crash
            self.state.changed.notify_all()

    def _require(self, phase: Phase) -> None:
        if self.state.phase is not phase:
            raise InfraError(f"{self.name}: is {self.state.phase.value}, needs to be {phase.value}")

    def _timed(self, what: str):
        return _Timed(self.name, what)

    # ---- hooks -----------------------------------------------------------------------------

    @abc.abstractmethod
    def _start(self) -> None: ...

    @abc.abstractmethod
    def _snapshot(self, name: str) -> None: ...

    @abc.abstractmethod
    def _revert(self, name: str) -> None: ...

    @abc.abstractmethod
    def _screenshot(self, path: Path) -> None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    def _snapshot_definition(self):
        """What ``_start_same_disk`` needs to keep the ready snapshot usable (backend's own form)."""
        return None

    def _start_same_disk(self, snapshot_definition, destroy: bool, since: int) -> None:
        """Power on the same overlay again (after destroying the domain when ``destroy``);
        ``since``: the index in ``state.events`` after which the domain's stop event comes."""
        raise InfraError(f"{self.name}: this backend cannot restart a guest on the same disk")

    def _inject_nmi(self) -> None:
        raise InfraError(f"{self.name}: this backend cannot inject an NMI")

    def _dump_windows_memory(self, path: Path) -> None:
        raise InfraError(f"{self.name}: this backend cannot write a Windows-format memory dump")


class _Timed:
    def __init__(self, name: str, what: str):
        self.name, self.what = name, what

    def __enter__(self):
        self.t0 = time.monotonic()
        log.debug("%s: %s …", self.name, self.what)

    def __exit__(self, exc_type, exc, tb):
        took = time.monotonic() - self.t0
        if exc is None:
            log.info("%s: %s in %.2f s", self.name, self.what, took)
        else:
            log.warning("%s: %s failed after %.2f s: %s", self.name, self.what, took, exc)
        return False


class Backend(abc.ABC):
    """Creates instances. One per process and connection URI."""

    name: str = "?"

    @abc.abstractmethod
    def create(self, spec: VmSpec) -> Instance:
        """Define (not start) an instance for ``spec``."""

    @abc.abstractmethod
    def reap(self, run_dir: Path) -> list[str]:
        """Remove domains and overlays of runs whose owner process is dead; returns what went."""

    def close(self) -> None:
        """Release the connection."""
