"""Collecting what a Windows bugcheck leaves behind: a mixin of ``WindowsGuest``.

The order matters and is the point of this module: the screenshot while the blue screen still
shows, the Hyper-V crash registers (QEMU's GUEST_PANICKED event, else libvirt's domain log), then
(``wait_for_dump``) the guest's own dump and System events once it has rebooted, and only then
the revert, which discards the guest's disk and with it everything not yet copied out. Each
step that fails becomes a note in the ``CrashReport``; none of them hides the bugcheck itself,
and none may stop the revert: a runner that is not root cannot read libvirt's domain log or the
dump libvirtd wrote (root, mode 0600), so every read of evidence is guarded.

The mixin uses the guest's ``instance``, ``ssh``, ``domain_log``, ``dir``, ``evidence_dir`` and
timeouts (see ``WindowsGuest``).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from harness.errors import HarnessError, InfraError
from harness.guest import wincmd
from harness.guest.hvpanic import panic_from_details
from harness.guest.wincrash import NO_DUMP_WAIT, CrashReport
from harness.guest.windump import HEADER_SIZE_64, DumpFormatError, read_dump_header
from harness.guest.winparse import GuestOutputError, parse_crash_events, parse_dump_list

log = logging.getLogger("harness.guest")

# What QEMU writes as the bugcheck code when the guest has none (a live dump).
LIVE_SYSTEM_DUMP = 0x161
NOT_ROOT = ("libvirtd writes it as root with mode 0600; run the harness as root, or see "
            "`clfs-harness doctor` for what a non-root runner gets")


class CrashCollector:
    """Evidence gathering after a bugcheck (mixed into ``WindowsGuest``)."""

    def _gather(self, report: CrashReport) -> None:
        """The crash registers now; then a dump: the guest's own once it has rebooted (when
        waiting for it), else one taken from the host while the guest is paused (when the
        backend can)."""
        if self.wait_for_dump:
            # isa pvpanic, no hv-crash: no crash registers. CRASHLOADED says Windows is writing
            # its dump and will reboot; PANICKED says it is not (crash dumps off), and the guest
            # stays paused, so waiting would only burn dump_timeout.
            if report.reason == "crashed: panicked":
                report.problems.append("pvpanic reported PANICKED, not CRASHLOADED: Windows is not writing a "
                                       "dump (are crash dumps on?), so none is waited for")
                if not self._dump_from_host(report):
                    report.problems.append(NO_DUMP_WAIT)
                return
            self._collect_from_guest(report)
            return
        report.panic, problems = self._crash_registers()
        report.problems += problems
        if not self._dump_from_host(report):
            report.problems.append(NO_DUMP_WAIT)

    def _crash_registers(self):
        """The Hyper-V crash registers: from QEMU's GUEST_PANICKED event (any runner user), else
        from libvirt's domain log (root). Waits up to ``panic_log_wait`` for the event."""
        take = getattr(self.instance, "take_panic_details", None)
        problems: list[str] = []
        if callable(take):
            deadline = time.monotonic() + self.panic_log_wait
            details: list[dict] = []
            while True:
                details += take()
                panic, problems = panic_from_details(details)
                if panic is not None:
                    return panic, problems
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        panic, from_log = self.domain_log.wait_panic(0.0 if callable(take) else self.panic_log_wait)
        return panic, problems + from_log

    def _gather_guarded(self, report: CrashReport) -> None:
        """``_gather``, with anything it raises kept as a note: the revert must still happen."""
        try:
            self._gather(report)
        except (HarnessError, OSError) as exc:
            report.problems.append(f"evidence gathering stopped early: {type(exc).__name__}: {exc}")

    def _dump_from_host(self, report: CrashReport) -> bool:
        """A Windows-format dump of the paused guest, written by QEMU (``dump-guest-memory -w``,
        libvirt's win-dmp core dump format). QEMU copies the guest's KiBugcheckData into the
        header, so it names the bugcheck like a dump Windows wrote; it needs the vmcoreinfo
        device and the FwCfg driver in the guest (the image builder installs both).

        Returns:
            False when the backend has no such dump (``Instance.dump_windows_memory``).
        """
        dump = getattr(self.instance, "dump_windows_memory", None)
        if not callable(dump):
            return False
        local = self._evidence_path("guest-memory.dmp")
        try:
            dump(local)
        except InfraError as exc:
            report.problems.append(f"the host-side dump failed: {exc} (vmcoreinfo on, FwCfg driver in the guest?)")
            return True
        try:
            size = local.stat().st_size
            if size > self.max_dump_bytes:
                head = local.with_name(local.name + ".header")
                with open(local, "rb") as fh:
                    head.write_bytes(fh.read(HEADER_SIZE_64))
                report.problems.append(f"the host-side dump ({size >> 20} MiB) is larger than "
                                       f"max_dump_bytes: only its header was kept")
                local.unlink()
                local = head
                report.dump_partial = True
            report.dump, report.guest_dump = local, None
            report.header = read_dump_header(local)
        except DumpFormatError as exc:
            report.problems.append(f"the host-side dump's header does not parse: {exc}")
        except OSError as exc:
            report.dump = report.dump or local
            report.problems.append(f"the host-side dump {local} cannot be read ({exc.strerror or exc}): {NOT_ROOT}")
        else:
            if report.header.code == LIVE_SYSTEM_DUMP:
                report.problems.append("QEMU found no bugcheck data in the guest (the header says 0x161 "
                                       "LIVE_SYSTEM_DUMP): the code comes from the other witnesses")
                report.header = None
        return True

    def _collect_from_guest(self, report: CrashReport) -> None:
        try:
            self.ssh.reconnect(self.dump_timeout, abort=self._abort_if_stopped)
        except InfraError as exc:
            report.problems.append(f"the guest did not come back within {self.dump_timeout:.0f} s of the "
                                   f"bugcheck, so no dump was collected ({exc}); a domain that pauses "
                                   f"panicked guests never lets it: turn wait_for_dump off")
            return
        deadline = time.monotonic() + self.settle_timeout
        while True:
            dumps = self._quiet(wincmd.list_dumps_command(), parse_dump_list, report) or []
            found = self._quiet(wincmd.crash_events_command(self._event_mark), parse_crash_events, report)
            if found is not None:
                report.events, event_problems = found
            # Windows writes the minidump and event 1001 some time after boot: wait for both.
            if (dumps and any(e.event_id == 1001 for e in report.events)) or time.monotonic() >= deadline:
                break
            time.sleep(5.0)
        if found is not None:
            report.problems += event_problems
        self._copy_dump(report, dumps)

    def _quiet(self, command: str, parse, report: CrashReport):
        """Run an evidence query; a failure becomes a note in the report, not an exception."""
        try:
            r = self.ssh.exec(command, 120.0, abort=self._abort_if_stopped)
            if r.exit_code != 0:
                raise GuestOutputError(f"exited {r.exit_code}", r.stdout + r.stderr)
            return parse(r.stdout)
        except HarnessError as exc:
            note = f"evidence query failed: {str(exc).splitlines()[0]}"
            if note not in report.problems:
                report.problems.append(note)
            return None

    def _copy_dump(self, report: CrashReport, dumps) -> None:
        if not dumps:
            report.problems.append("the guest came back but holds no dump (C:\\Windows\\MEMORY.DMP, "
                                   "C:\\Windows\\Minidump): are crash dumps enabled in the image?")
            return
        full = next((d for d in dumps if not d.is_minidump), None)
        mini = next((d for d in dumps if d.is_minidump), None)
        if full is not None and full.size <= self.max_dump_bytes:
            chosen, whole = full, True
        elif mini is not None:
            chosen, whole = mini, True
        else:
            chosen, whole = full, False
        name = chosen.path.replace("\\", "/").rsplit("/", 1)[-1]
        local = self._evidence_path(name if whole else name + ".header")
        try:
            if whole:
                self.ssh.get(wincmd.sftp_path(chosen.path), local)
            else:
                local.write_bytes(self.ssh.read_head(wincmd.sftp_path(chosen.path), HEADER_SIZE_64))
        except InfraError as exc:
            report.problems.append(f"copying the dump {chosen.path} failed: {exc}")
            return
        report.dump, report.dump_partial, report.guest_dump = local, not whole, chosen.path
        if full is not None and chosen is not full:
            report.problems.append(f"{full.path} ({full.size >> 20} MiB) is larger than max_dump_bytes and "
                                   f"was not copied; the minidump was")
        try:
            report.header = read_dump_header(local)
        except DumpFormatError as exc:
            report.problems.append(f"the dump header does not parse: {exc}")
        except OSError as exc:
            report.problems.append(f"the copied dump {local} cannot be read ({exc.strerror or exc})")

    def _finish(self, report: CrashReport) -> None:
        """Cross-check, write crash.json, then revert (when there is a snapshot to revert to)."""
        report.cross_check()
        self._reports += 1
        report.write(self._evidence_path("crash.json") if self.evidence_dir
                     else self.dir / f"{report.kind}-{self._reports}.json")
        self.last_crash = report
        if self.auto_recover and getattr(self.instance.state, "snapshot", None):
            took = self.recover()
            log.info("%s: reverted after %s in %.2f s", self.worker, report.kind, took)

    def _abort_if_stopped(self) -> None:
        reason = self.instance.crashed() if self.instance is not None else None
        if reason and reason.startswith("stopped"):
            raise InfraError(f"guest {reason} after the bugcheck")

    def _evidence_path(self, name: str) -> Path:
        directory = self.evidence_dir or self.dir
        directory.mkdir(parents=True, exist_ok=True)
        return directory / name

    def _evidence_shot(self, kind: str, report: CrashReport) -> None:
        """The display now (the blue screen, while it shows), kept in the worker's folder and,
        during a case, in the case's."""
        shot = self._screenshot(kind)
        if shot is None:
            report.problems.append(f"no {kind} screenshot could be taken")
            return
        if self.evidence_dir is not None:
            target = self._evidence_path(f"screenshot-{kind}.png")
            shutil.copyfile(shot, target)
            shot = target
        report.screenshots.append(shot)
