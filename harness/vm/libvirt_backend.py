"""The libvirt implementation of the VM interface (libvirt-python).

Every libvirt call goes through ``lv()``, which turns ``libvirtError`` into ``InfraError``.
Domains are transient (``createXML``): libvirt keeps nothing once they stop, and with
``autodestroy`` they stop when this process's connection closes, even on SIGKILL. Domains
left by a run whose owner died anyway (autodestroy off, or a remote libvirtd that kept
them) are found by the run id and owner pid in their metadata and removed by ``reap()``.

The calls that can take long (start, snapshot, revert) run through
``harness.interrupts.call_interruptibly``: Ctrl-C or SIGTERM is handled at once, and ``close()``
waits a little for a call still running in libvirtd (a domain that comes up after the
interrupt is destroyed here; one that takes longer is destroyed by libvirtd's autodestroy
when this process's connection closes: measured, a start held 18 s came up and was destroyed
by libvirtd about 12 s later, ``reason=destroyed`` in its QEMU log).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from harness import testpoints
from harness.errors import BootError, InfraError
from harness.interrupts import Pending, call_interruptibly
from harness.vm.base import Backend, Instance, PortForward, VmSpec
from harness.vm.domain_xml import METADATA_NS, METADATA_PREFIX, build_domain_xml
from harness.vm.rundir import NVRAM_FILE, metadata_alive, reap_run_files
from harness.vm.screenshot import to_png
from harness.vm.spare import Spare, WarmSpare

log = logging.getLogger("harness.vm")

try:
    import libvirt
    import libvirt_qemu
except ImportError:  # reported by doctor and by the tests' skip reason
    libvirt = libvirt_qemu = None


def lv(what: str, fn, *args):
    """Call one libvirt function; ``libvirtError`` becomes ``InfraError`` naming ``what``."""
    try:
        return fn(*args)
    except libvirt.libvirtError as exc:
        raise InfraError(f"libvirt: {what}: {exc.get_error_message() or exc}") from exc


def quietly(what: str, fn, *args) -> None:
    """``lv()`` for best-effort clean-up: a failure is logged, not raised."""
    try:
        lv(what, fn, *args)
    except InfraError as exc:
        log.debug("%s (ignored)", exc)


def error_code(exc: BaseException) -> int | None:
    """The libvirt error code behind an InfraError raised by ``lv()``, if any."""
    cause = exc.__cause__
    return cause.get_error_code() if isinstance(cause, libvirt.libvirtError) else None


def remove_domain(dom) -> bool:
    """Power off a domain and undefine it if it is persistent; False if it was already gone."""
    name = dom.name()
    try:
        persistent = lv(f"persistence of {name}", dom.isPersistent)  # ask first: transient
        if lv(f"state of {name}", dom.isActive):                      # ones vanish on destroy
            lv(f"destroy {name}", dom.destroy)
        if persistent:
            lv(f"undefine {name}", dom.undefineFlags, libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    except InfraError as exc:
        if error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise
    return True


_loop_lock = threading.Lock()
_loop_started = False


def _ensure_event_loop() -> None:
    """Start libvirt's default event loop in a daemon thread, once per process.

    It must be registered before the first connection is opened, which is why every
    connection in the harness is opened through ``LibvirtBackend``.
    """
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        lv("register event loop", libvirt.virEventRegisterDefaultImpl)
        # libvirt prints every error to stderr unless a handler is set; ours become InfraError.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except libvirt.libvirtError as exc:  # keep the loop alive; log and go on
                    log.warning("libvirt event loop: %s", exc)
                    time.sleep(0.1)

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (QEMU binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_overlay(golden: Path, overlay: Path) -> None:
    """A qcow2 overlay whose backing file is the (never written) golden image."""
    overlay.parent.mkdir(parents=True, exist_ok=True)
    if overlay.exists():
        overlay.unlink()
    proc = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                           "-b", str(Path(golden).resolve()), str(overlay)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise InfraError(f"qemu-img create overlay {overlay}: {proc.stderr.strip()}")


# How long ``close()`` waits for libvirt calls an interrupt left running (a start, a revert).
# Short: a pytest-xdist worker has about 15 s to stop before it is killed (and its overlay
# left behind), and a domain that comes up later still goes, by libvirtd's autodestroy.
SETTLE_S = 3.0

_STOP_DETAILS = {0: "shutdown", 1: "destroyed", 2: "crashed", 3: "migrated", 4: "saved",
                 5: "failed", 6: "from snapshot"}
_CRASH_DETAILS = {0: "panicked", 1: "crashloaded"}


class LibvirtInstance(Instance):
    """A transient libvirt domain on an overlay of the golden disk."""

    def __init__(self, backend: "LibvirtBackend", spec: VmSpec):
        super().__init__(spec)
        self.backend = backend
        self.dom = None
        self._quiet = False  # set while we revert or close: our own stops are no crash
        self._pending: list[Pending] = []   # libvirt calls an interrupt left running
        self.last_revert: str | None = None  # how the last revert went: "in place", "spare", "libvirt"
        self.spare: WarmSpare | None = None  # spec.warm_spare: the domain swapped in after a panic
        # QEMU's GUEST_PANICKED event data, oldest first: {"action": ..., "info": {"type": "hyper-v",
        # "arg1": code, "arg2".."arg5": parameters}} (qapi/run-state.json). Read by any user who
        # can open the connection: no root-only domain log needed for the bugcheck code.
        self._panic_details: list[dict] = []

    def _slow(self, what: str, fn, *args):
        """A libvirt call that may take long, made so that an interrupt is handled at once."""
        return call_interruptibly(what, fn, *args, on_pending=self._pending.append)

    def _create(self, xml: str, flags: int):
        testpoints.reached("start")
        return lv(f"start {self.name}", self.backend.conn.createXML, xml, flags)

    def _start(self) -> None:
        create_overlay(self.spec.golden, self.spec.overlay)
        if self.spec.nvram is not None:
            # A fresh start, like its fresh overlay, begins from OVMF's template: libvirt copies it
            # only where no file is (a power cut, _start_same_disk, keeps the store).
            self.spec.nvram.unlink(missing_ok=True)
        flags = libvirt.VIR_DOMAIN_START_AUTODESTROY if self.backend.autodestroy else 0
        for attempt in range(3):
            xml = build_domain_xml(self.spec)
            try:
                self.dom = self._slow(f"start {self.name}", self._create, xml, flags)
                return
            except InfraError as exc:
                # A port grabbed by someone else between free_port() and QEMU's bind: new ports.
                if "host forwarding" not in str(exc) or attempt == 2:
                    raise BootError(str(exc), self.console_tail()) from exc
                fwds = tuple(PortForward(free_port(), f.guest_port) for f in self.spec.forwards)
                self.state.spec = _replace(self.spec, forwards=fwds)

    def _snapshot(self, name: str) -> None:
        xml = f"<domainsnapshot><name>{name}</name><description>ready guest</description></domainsnapshot>"
        self._slow(f"snapshot {self.name}", lv, f"snapshot {self.name}", self.dom.snapshotCreateXML, xml, 0)
        if self.spec.warm_spare and self.spare is None:
            self.state.snapshot = name   # the spare loads it
            self.spare = WarmSpare(self, free_port, SETTLE_S)
            try:
                self._slow(f"copy {self.name}'s overlay for a warm spare", self.spare.prepare,
                           self._snapshot_definition())
            except (InfraError, OSError) as exc:   # no spare is no failure: libvirt reverts
                log.warning("%s: no warm spare (%s); reverts after a panic go through libvirt", self.name, exc)
                self.spare.close()
                self.spare = None

    def _revert(self, name: str) -> None:
        self._quiet = True
        try:
            self._slow(f"revert {self.name}", self._revert_now, name)
        finally:
            self._quiet = False

    def _snapshot_definition(self) -> str | None:
        """The ready snapshot's XML: a transient domain's snapshot metadata dies with the domain,
        while the snapshot itself lives on in the overlay (qcow2 internal snapshot), so the
        metadata is redefined on the new domain and revert() keeps working after a restart."""
        if self.state.snapshot is None or self.dom is None:
            return None
        snap = lv(f"find snapshot {self.state.snapshot}", self.dom.snapshotLookupByName, self.state.snapshot, 0)
        return lv("snapshot XML", snap.getXMLDesc, 0)

    def _start_same_disk(self, snapshot_xml: str | None, destroy: bool, since: int) -> None:
        self._quiet = True
        try:
            uuid = lv("domain UUID", self.dom.UUIDString) if self.dom is not None else None
            if self.dom is not None and destroy:
                # virDomainDestroy: the power cut itself. QEMU is gone milliseconds after libvirt's
                # SIGTERM; the call returns once libvirt sees the process reaped (0.2-0.3 s, or
                # 1.4-2.0 s under a PID 1 that reaps late: harness/vm/hostcheck.py).
                remove_domain(self.dom)
            # The domain's STOPPED event must land while we are quiet, or it would mark the new
            # boot as stopped; it comes from libvirt's event thread shortly after the destroy.
            self._wait_event("stopped/", since, 10.0)
            flags = libvirt.VIR_DOMAIN_START_AUTODESTROY if self.backend.autodestroy else 0
            # Not _start(): that makes a new overlay; this boots the one the last phase wrote.
            # The same UUID too: the snapshot's metadata names the domain by it.
            xml = ET.fromstring(build_domain_xml(self.spec))
            if uuid is not None and xml.find("uuid") is None:
                ET.SubElement(xml, "uuid").text = uuid
            self.dom = self._create_when_gone(ET.tostring(xml, encoding="unicode"), flags)
            if snapshot_xml is not None:
                lv(f"redefine snapshot of {self.name}", self.dom.snapshotCreateXML, snapshot_xml,
                   libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        finally:
            self._quiet = False

    def _create_when_gone(self, xml: str, flags: int, timeout: float = 15.0):
        """createXML under the old domain's name: libvirt may still be removing a transient domain
        that powered itself off after its STOPPED event (seen: "is already being removed")."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return lv(f"start {self.name} on the same disk", self.backend.conn.createXML, xml, flags)
            except InfraError as exc:
                text = str(exc)
                if ("being removed" not in text and "already exists" not in text) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _wait_event(self, prefix: str, since: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.state.changed:
            while not any(text.startswith(prefix) for _, text in self.state.events[since:]):
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("%s: no %r event within %.0f s", self.name, prefix, timeout)
                    return
                self.state.changed.wait(left)
    def _revert_now(self, name: str) -> None:
        testpoints.reached("revert")
        if self.backend.fast_revert and self._qemu_running():
            try:
                self._loadvm(name)
                self.last_revert = "in place"
                return
            except InfraError as exc:
                log.warning("%s: in-place loadvm failed (%s); reverting through libvirt", self.name, exc)
        elif self.backend.warm_spares and self._swap_in_spare():
            self.last_revert = "spare"
            return
        snap = lv(f"find snapshot {name}", self.dom.snapshotLookupByName, name, 0)
        lv(f"revert {self.name} to {name}", self.dom.revertToSnapshot, snap,
           libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING | libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE)
        self.last_revert = "libvirt"

    def _swap_in_spare(self) -> bool:
        """Resume the warm spare (paused at the ready snapshot) as this instance's domain; the
        stopped one is destroyed on the spare's helper thread. False: no spare was ready."""
        spare = self.spare.take() if self.spare is not None else None
        if spare is None:
            return False
        from harness.vm.spare import _quiet_remove
        try:
            lv(f"resume spare {spare.spec.name}", spare.dom.resume)
        except InfraError as exc:
            log.warning("%s: the warm spare did not resume (%s); reverting through libvirt", self.name, exc)
            _quiet_remove(remove_domain, spare.dom)
            self.spare.retire(None, spare.spec.overlay)
            return False
        old_dom, old_overlay, old_name = self.dom, self.spec.overlay, self.name
        self.dom = spare.dom
        self.state.spec = spare.spec
        self.backend.rename(self, old_name)   # the old domain's late events go nowhere
        self.spare.retire(old_dom, old_overlay)
        return True

    def _running(self) -> bool:
        state, _reason = lv(f"state of {self.name}", self.dom.state, 0)
        return state == libvirt.VIR_DOMAIN_RUNNING

    def _qemu_running(self) -> bool:
        """Whether QEMU's own runstate is "running" (QMP ``query-status``).

        Not libvirt's state: a guest that panicked under ``-action panic=none`` (VmSpec.panic_action)
        is "crashed" to libvirt, whose GUEST_PANICKED handling sets that state whatever QEMU did,
        while QEMU still runs it; that guest is reverted in place like a hung one. A guest QEMU
        stopped (runstate guest-panicked, shutdown, or gone) goes through libvirt's revert.
        """
        if not lv(f"state of {self.name}", self.dom.isActive):
            return False
        out = lv(f"query-status of {self.name}", libvirt_qemu.qemuMonitorCommand, self.dom,
                 '{"execute": "query-status"}', 0)
        try:
            return json.loads(out)["return"]["status"] == "running"
        except (ValueError, KeyError, TypeError):
            raise InfraError(f"{self.name}: query-status answered {out[:200]!r}") from None

    def _loadvm(self, name: str) -> None:
        """Load the internal snapshot into the running QEMU (HMP ``loadvm``).

        libvirt 9.0 reverts a running domain by killing QEMU and starting a new one (about
        2.5 s here); loading in place takes a tenth of that. Only while QEMU runs the guest
        (a hung guest, or one that panicked under ``-action panic=none``); one QEMU stopped in
        runstate guest-panicked is replaced by the warm spare (harness/vm/spare.py), or goes
        through libvirt's revert. Panicked guests are not reverted in place by default: tried
        twice, ``system_reset`` + ``loadvm`` + ``cont`` and ``-action panic=none`` + ``loadvm``,
        both about 0.4 s, and both left guests that later hung at power-off with a soft lockup,
        in virtio-net's receive path (harness/vm/spare.py). A TCG guest's TSC
        never goes back in the same QEMU, so the Linux guest runs without one under TCG.
        libvirt marks the domain "tainted: custom-monitor"; its own snapshot metadata is unchanged.
        """
        out = lv(f"loadvm {name} in {self.name}", libvirt_qemu.qemuMonitorCommand, self.dom,
                 f"loadvm {name}", libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
        if out.strip():
            raise InfraError(f"loadvm {name}: {out.strip()}")
        if not self._qemu_running():
            raise InfraError("guest not running after loadvm")

    def _screenshot(self, path: Path) -> None:
        stream = lv("new stream", self.backend.conn.newStream, 0)
        chunks: list[bytes] = []
        try:
            mime = lv(f"screenshot {self.name}", self.dom.screenshot, stream, 0, 0)
            lv("read screenshot", stream.recvAll, lambda _s, data, buf: buf.append(data) or len(data), chunks)
            lv("finish screenshot", stream.finish)
        except InfraError:
            quietly("abort screenshot stream", stream.abort)
            raise
        data = b"".join(chunks)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if data.startswith(b"\x89PNG") else to_png(data))
        log.info("%s: screenshot (%s) saved to %s", self.name, mime, path)

    def _inject_nmi(self) -> None:
        lv(f"inject NMI into {self.name}", self.dom.injectNMI, 0)

    def _dump_windows_memory(self, path: Path) -> None:
        # libvirtd (not this process) writes the file, so its folder must exist and be ours.
        path.parent.mkdir(parents=True, exist_ok=True)
        lv(f"win-dmp memory dump of {self.name}", self.dom.coreDumpWithFormat, str(path),
           libvirt.VIR_DOMAIN_CORE_DUMP_FORMAT_WIN_DMP, libvirt.VIR_DUMP_MEMORY_ONLY)

    def _settle_pending(self) -> None:
        """Wait (up to SETTLE_S in all) for libvirt calls an interrupt left running; a domain
        that came up meanwhile becomes ours to remove."""
        deadline = time.monotonic() + SETTLE_S
        for pending in self._pending:
            if not pending.settle(deadline - time.monotonic()):
                log.warning("%s: %s still running in libvirt after %.0f s; libvirtd destroys the domain "
                            "when this process's connection closes (autodestroy)", self.name, pending.what,
                            SETTLE_S)
            elif libvirt is not None and isinstance(pending.value, libvirt.virDomain):
                self.dom = pending.value
        self._pending.clear()

    def _close(self) -> None:
        self._quiet = True
        # The overlay and a UEFI guest's variable store go first (QEMU keeps its open files until
        # it exits): a worker killed while the domain is still being destroyed then leaves no
        # file, and the domain goes by autodestroy when the killed process's connection closes.
        try:
            for path, what in ((self.spec.overlay, "overlay"), (self.spec.nvram, "UEFI variable store")):
                try:
                    if path is not None:
                        path.unlink(missing_ok=True)
                except OSError as exc:
                    log.warning("%s: cannot remove %s %s: %s", self.name, what, path, exc)
            self._settle_pending()
            if self.spare is not None:
                self.spare.close()
            if self.dom is not None:
                remove_domain(self.dom)
        finally:
            self.backend.forget(self)

    def on_guest_panicked(self, details: str | None) -> None:
        """Called on libvirt's event thread with the GUEST_PANICKED event's data (JSON text)."""
        try:
            data = json.loads(details or "{}")
        except ValueError:
            data = {"unparsed": str(details)[:500]}
        self._panic_details.append(data if isinstance(data, dict) else {"unparsed": str(data)[:500]})
        self._record_event(f"GUEST_PANICKED {json.dumps(data, sort_keys=True)[:300]}")

    def take_panic_details(self) -> list[dict]:
        """The GUEST_PANICKED data received since the last call, oldest first."""
        taken, self._panic_details = self._panic_details, []
        return taken

    def on_lifecycle(self, event: int, detail: int) -> None:
        """Called on libvirt's event thread."""
        if event == libvirt.VIR_DOMAIN_EVENT_CRASHED:
            self._record_event(f"crashed/{detail}", crash=f"crashed: {_CRASH_DETAILS.get(detail, detail)}")
        elif event == libvirt.VIR_DOMAIN_EVENT_SHUTDOWN:
            # QEMU reports the guest's power-off at once; libvirt's STOPPED follows only after
            # it has torn the process down (about 1.5 s here), so this is the one to act on.
            self._record_event(f"shutdown/{detail}", crash=None if self._quiet else "stopped: shutdown")
        elif event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
            reason = _STOP_DETAILS.get(detail, str(detail))
            ignore = self._quiet or reason in ("from snapshot", "saved", "migrated")
            self._record_event(f"stopped/{reason}", crash=None if ignore else f"stopped: {reason}")
        else:
            self._record_event(f"event {event}/{detail}")


def _replace(spec: VmSpec, **changes) -> VmSpec:
    import dataclasses
    return dataclasses.replace(spec, **changes)


class LibvirtBackend(Backend):
    """Instances on one libvirt connection (``qemu:///system``, ``qemu+ssh://host/system``)."""

    name = "libvirt"

    def __init__(self, uri: str = "qemu:///system", *, autodestroy: bool = True,
                 fast_revert: bool = True, warm_spares: bool = True):
        if libvirt is None:
            raise InfraError("libvirt-python is not installed (pip install libvirt-python)")
        _ensure_event_loop()
        self.uri = uri
        self.autodestroy = autodestroy
        self.fast_revert = fast_revert
        self.warm_spares = warm_spares   # False: reverts after a panic go through libvirt
        self.conn = lv(f"connect to {uri}", libvirt.open, uri)
        self._instances: dict[str, LibvirtInstance] = {}
        self._lock = threading.Lock()
        quietly("keepalive", self.conn.setKeepAlive, 5, 3)  # local connections have none
        self._callback = lv("register lifecycle events", self.conn.domainEventRegisterAny, None,
                            libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None)
        # QEMU's GUEST_PANICKED carries the Hyper-V crash registers (the bugcheck code and its
        # four parameters); libvirt's CRASHED event does not.
        try:
            self._panic_callback = lv("register GUEST_PANICKED events", libvirt_qemu.qemuMonitorEventRegister,
                                      self.conn, None, "GUEST_PANICKED", self._on_monitor_event, None, 0)
        except InfraError as exc:
            self._panic_callback = None
            log.warning("no QEMU panic details on %s (bugcheck codes come from the domain log or a dump): %s",
                        uri, exc)

    def _on_lifecycle(self, _conn, dom, event, detail, _opaque) -> None:
        with self._lock:
            inst = self._instances.get(dom.name())
        if inst is not None:
            inst.on_lifecycle(event, detail)

    def _on_monitor_event(self, _conn, dom, _event, _seconds, _micros, details, _opaque) -> None:
        with self._lock:
            inst = self._instances.get(dom.name())
        if inst is not None:
            inst.on_guest_panicked(details)

    def create(self, spec: VmSpec) -> LibvirtInstance:
        inst = LibvirtInstance(self, spec)
        with self._lock:
            self._instances[spec.name] = inst
        return inst

    def rename(self, inst: LibvirtInstance, old_name: str) -> None:
        """``inst`` now runs as another domain (a warm spare swapped in): route its events."""
        with self._lock:
            self._instances.pop(old_name, None)
            self._instances[inst.name] = inst

    def forget(self, inst: LibvirtInstance) -> None:
        with self._lock:
            self._instances.pop(inst.name, None)

    def versions(self) -> dict[str, str]:
        def fmt(v: int) -> str:
            return f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"
        return {"libvirt": fmt(lv("libvirt version", self.conn.getLibVersion)),
                "qemu": fmt(lv("hypervisor version", self.conn.getVersion))}

    def owned_domains(self) -> list[tuple[object, dict[str, str]]]:
        """Every domain on this connection that carries harness metadata, with that metadata."""
        found = []
        for dom in lv("list domains", self.conn.listAllDomains, 0):
            try:
                raw = lv("read metadata", dom.metadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS, 0)
            except InfraError:
                continue  # no harness metadata (not ours), or the domain just went away
            try:
                found.append((dom, dict(ET.fromstring(raw).attrib)))
            except ET.ParseError:
                continue
        return found

    def reap(self, run_dir: Path) -> list[str]:
        """Destroy domains of dead runs and remove their overlays; return what was removed."""
        removed: list[str] = []
        for dom, meta in self.owned_domains():
            if metadata_alive(meta):
                continue
            name = dom.name()
            try:
                remove_domain(dom)
                removed.append(f"domain {name} (run {meta.get('run-id')}, pid {meta.get('pid')} gone)")
            except InfraError as exc:
                log.warning("reap: cannot remove domain %s: %s", name, exc)
                continue
            overlay = meta.get("overlay")
            if overlay and os.path.exists(overlay):
                os.unlink(overlay)
                removed.append(f"overlay {overlay}")
        removed += [f"{'UEFI variable store' if p.endswith(NVRAM_FILE) else 'overlay'} {p}"
                    for p in reap_run_files(run_dir)]
        for line in removed:
            log.info("reap: removed %s", line)
        return removed

    def close(self) -> None:
        for inst in list(self._instances.values()):
            try:
                inst.close()
            except InfraError as exc:
                log.warning("close %s: %s", inst.name, exc)
        quietly("deregister events", self.conn.domainEventDeregisterAny, self._callback)
        if self._panic_callback is not None:
            quietly("deregister GUEST_PANICKED events", libvirt_qemu.qemuMonitorEventDeregister,
                    self.conn, self._panic_callback)
        quietly("close connection", self.conn.close)


__all__ = ["LibvirtBackend", "LibvirtInstance", "Spare", "lv", "free_port", "create_overlay",
           "METADATA_NS", "METADATA_PREFIX"]
