"""A warm spare: a second QEMU per worker, paused at the ready snapshot, swapped in after a panic.

Why (measured on this host, TCG, the smoke guest): a panicked guest cannot be reverted in its
own QEMU safely, and a new QEMU costs what a revert after a panic can least afford.

- In place is unsafe. With ``-action panic=none`` and a loadvm in the same QEMU, the guest later
  hung at power-off: "watchdog: BUG: soft lockup - CPU#0 stuck for 27s! [ksoftirqd/0:14]", the
  stack ``virtqueue_enable_cb_delayed`` <- ``virtnet_poll`` <- ``net_rx_action``: the guest's
  virtio-net rings, restored by the loadvm, no longer matched state QEMU keeps outside the
  snapshot (its network backend and queues). Measured without the TSC (so not the clock), in
  the smoke module's full order, 2 runs of 2 here after 4 of 4 before; a single panic + revert +
  power-off passed, which is why short checks missed it.
- A new QEMU is slow. libvirt 9.0 reverts a crashed domain by killing QEMU and starting another
  (about 2.4 s); destroying the domain alone took 1.2-1.8 s, and starting one with ``-loadvm``
  0.8-1.3 s more.

So each worker keeps one more domain, started paused from a copy of its overlay taken at the
ready snapshot, QEMU loading that snapshot as it starts (``-loadvm``, before the guest runs a
single instruction). After a panic the spare is resumed (milliseconds) and becomes the worker's
domain; the crashed one is destroyed, and the next spare made, on a helper thread while the
cases go on. A fresh QEMU per revert, as libvirt's own revert gives, at a fraction of the wait.

Cost: one more guest's memory per worker (the spare's RAM is the snapshot's, loaded at start),
and a copy of the overlay on disk. Optional (``VmSpec.warm_spare``): the Linux smoke guest has
one (256 MiB); Windows guests do not (harness/guest/windows.py says why).

Everything a spare is, libvirt knows: a transient domain with autodestroy and the run's
metadata (``reap()`` finds it by run id and owner pid), its overlay in the worker's folder
(``reap_run_files`` removes a dead run's). ``close()`` removes both; a spare still starting
when the owner goes is removed by the helper thread when its start returns, or by libvirtd's
autodestroy when the connection closes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError
from harness.vm.base import PortForward, VmSpec

log = logging.getLogger("harness.vm")


@dataclass
class Spare:
    """A started, paused domain at the ready snapshot, and the spec it was made from."""

    dom: object
    spec: VmSpec


class WarmSpare:
    """The spare of one ``LibvirtInstance`` (``inst``): made, handed over, retired.

    The helper thread only makes and removes domains and files; the swap itself (``take()``)
    happens on the caller's thread, in the revert.
    """

    def __init__(self, inst, free_port, settle_s: float):
        self.inst, self._free_port, self._settle_s = inst, free_port, settle_s
        self.template = inst.spec.overlay.with_name("ready-template.qcow2")
        self._root, self._console = inst.spec.name, inst.spec.console_log
        self._lock = threading.Lock()
        self._closed = False
        self._ready: Spare | None = None
        self._thread: threading.Thread | None = None
        self._filled = threading.Event()   # set when the latest attempt at a spare has ended
        self._filled.set()                 # (none yet: take() does not wait)
        self._paths: set[Path] = set()   # every file made here, removed by close()
        self._count = 0
        self.failed: str | None = None   # why the last spare could not be made (logged once)

    # ---- on the owner's thread -------------------------------------------------------------

    def prepare(self, snapshot_xml: str) -> None:
        """Copy the overlay as it is at the ready snapshot (the guest paused for the copy, so
        QEMU has written out its cached qcow2 metadata), then make the first spare."""
        from harness.vm.libvirt_backend import lv
        self._snapshot_xml = snapshot_xml
        dom = self.inst.dom
        lv(f"suspend {self.inst.name} for the spare's copy", dom.suspend)
        try:
            if not self._copy(self.inst.spec.overlay, self.template):
                return
        finally:
            lv(f"resume {self.inst.name}", dom.resume)
        self._refill()

    def take(self, wait_s: float = 15.0) -> Spare | None:
        """The ready spare, now the caller's to resume; one still being made is waited for (up to
        ``wait_s``: a libvirt revert now would cost as much and compete with it for the CPU).
        None: no spare (it failed, or is not done in time)."""
        self._filled.wait(wait_s)
        with self._lock:
            spare, self._ready = self._ready, None
        return spare

    def retire(self, dom, overlay: Path) -> None:
        """Make the next spare, then destroy the replaced domain and remove its overlay (helper thread)."""
        self._refill(retire=(dom, overlay))

    def close(self) -> None:
        """Remove the spare, its files and the template; wait a little for the helper thread."""
        from harness.vm.libvirt_backend import remove_domain
        with self._lock:
            self._closed = True
            spare, self._ready = self._ready, None
            paths = list(self._paths)
        for path in paths:
            path.unlink(missing_ok=True)
        if self._thread is not None:
            self._thread.join(self._settle_s)
            if self._thread.is_alive():
                log.warning("%s: the spare is still being made; it is removed when its start returns "
                            "(or by libvirtd's autodestroy)", self.inst.name)
        if spare is not None:
            _quiet_remove(remove_domain, spare.dom)

    def _copy(self, source: Path, dest: Path) -> bool:
        """Copy ``source`` to ``dest``, a file close() removes; False: closed meanwhile. The file is
        made under the lock, so close() never misses one made after it looked."""
        with self._lock:
            if self._closed:
                return False
            self._paths.add(dest)
            out = open(dest, "wb")
        with out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        return not self._closed

    # ---- on the helper thread --------------------------------------------------------------

    def _refill(self, retire=None) -> None:
        previous = self._thread
        self._filled = filled = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(previous, retire, filled),
                                        name=f"spare-{self.inst.name}", daemon=True)
        self._thread.start()

    def _work(self, previous: threading.Thread | None, retire, filled: threading.Event) -> None:
        """Make the next spare, then remove the replaced domain: in that order, so a second panic
        soon after the first finds a spare sooner (the destroy alone took 1.2-1.8 s here, most of
        it libvirt waiting for PID 1 to reap QEMU: 0.2-0.3 s under tini, harness/vm/hostcheck.py)."""
        from harness.vm.libvirt_backend import remove_domain
        if previous is not None:
            previous.join()
        try:
            self._fill()
        finally:
            filled.set()
            if retire is not None:
                dom, overlay = retire
                if dom is not None:
                    _quiet_remove(remove_domain, dom)
                overlay.unlink(missing_ok=True)
                with self._lock:
                    self._paths.discard(overlay)

    def _fill(self) -> None:
        from harness.vm.libvirt_backend import remove_domain
        try:
            spare = self._make()
        except Exception as exc:  # a helper thread must not die silently: the revert falls back
            if self._closed:
                return   # close() removed the files under it: nothing went wrong
            if self.failed is None:
                log.warning("%s: no warm spare (%s); reverts after a panic go through libvirt",
                            self.inst.name, exc)
            self.failed = str(exc)
            return
        if spare is None:
            return
        with self._lock:
            if self._closed:
                spare_gone = True
            else:
                self._ready, spare_gone = spare, False
        if spare_gone:
            _quiet_remove(remove_domain, spare.dom)
            spare.spec.overlay.unlink(missing_ok=True)

    def _make(self) -> Spare | None:
        from harness.vm.libvirt_backend import libvirt, lv
        from harness.vm.domain_xml import build_domain_xml
        start = time.monotonic()
        base = self.inst.spec
        with self._lock:
            self._count += 1
            overlay = base.overlay.with_name(f"spare{self._count}.qcow2")
            # The console: the worker's one file, under a second name. virtlogd refuses a path
            # another domain's console has open ("Device or resource busy"); a hard link is
            # another path to the same file, so the swapped-in spare appends where the readers
            # of console.log look. The name goes once the domain has the file open.
            link = self._console.with_name(f"console-s{self._count}.log")
        if not self._copy(self.template, overlay):
            return None
        with self._lock:
            if self._closed:
                return None
            self._paths.add(link)
            link.unlink(missing_ok=True)
            os.link(self._console, link)
        spec = dataclasses.replace(
            base, name=f"{self._root}-s{self._count}", overlay=overlay, loadvm=self.inst.state.snapshot,
            console_log=link,
            forwards=tuple(PortForward(self._free_port(), f.guest_port) for f in base.forwards),
            metadata={**base.metadata, "overlay": str(overlay)})
        with self._lock:
            if self._closed:
                return None
        flags = libvirt.VIR_DOMAIN_START_PAUSED
        if self.inst.backend.autodestroy:
            flags |= libvirt.VIR_DOMAIN_START_AUTODESTROY
        try:
            dom = lv(f"start spare {spec.name}", self.inst.backend.conn.createXML, build_domain_xml(spec), flags)
        finally:
            link.unlink(missing_ok=True)
        final = dataclasses.replace(spec, loadvm=None, console_log=self._console)
        try:
            # libvirt's snapshot metadata, so a later libvirt revert of this domain finds "ready".
            lv(f"redefine snapshot of {spec.name}", dom.snapshotCreateXML,
               _for_domain(self._snapshot_xml, build_domain_xml(final), lv("UUID", dom.UUIDString)),
               libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        except InfraError:
            _quiet_remove(lambda d: d.destroy(), dom)
            raise
        log.info("%s: warm spare %s ready in %.2f s", base.name, spec.name, time.monotonic() - start)
        return Spare(dom, final)


def _for_domain(snapshot_xml: str, domain_xml: str, uuid: str) -> str:
    """The snapshot's XML with its ``<domain>`` replaced by the spare's: libvirt checks the UUID,
    and a libvirt revert starts the domain the snapshot names (the spare's disk, not the first)."""
    root = ET.fromstring(snapshot_xml)
    old = root.find("domain")
    if old is not None:
        root.remove(old)
    dom = ET.fromstring(domain_xml)
    ET.SubElement(dom, "uuid").text = uuid
    root.append(dom)
    return ET.tostring(root, encoding="unicode")


def _quiet_remove(remove, dom) -> None:
    try:
        remove(dom)
    except Exception as exc:  # best effort: reap() is the second line of defence
        log.debug("spare clean-up: %s (ignored)", exc)
