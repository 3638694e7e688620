"""The Windows guest adapter: clfstest.sys as a service in a Windows VM, driven over SSH.

On top of the shared lifecycle (``vmguest.VmGuest``: boot, snapshot, revert) it knows:

- the domain a Windows guest needs (q35, the Hyper-V panic device, disk bus, NIC and firmware
  from the image manifest);
- provisioning: test signing checked (the boot options in effect, ``SystemStartOptions``),
  driver and client copied in by SFTP and their hashes checked, the service created and started
  with ``sc.exe`` (decided by its exit code) and checked running through CIM, Driver Verifier on
  or off (with the reboot it needs; read back from the registry). No decision reads a word
  Windows prints in its display language (``winparse``);
- running one request through ``clfsctl.exe``, its exit codes mapped to clear errors: per case
  (``clfsctl run``, files over SFTP) or through ``clfsctl serve`` kept running (one round trip);
- what a bugcheck or a hang leaves behind (``_on_crash``, ``_on_hang``): see below.

Bugchecks and hangs. A bugcheck shows as libvirt's CRASHED event (the Hyper-V panic device) at
once; the code and parameters are read from libvirt's domain log (``hvpanic``). With the Hyper-V
crash enlightenment Windows notifies the hypervisor *before* writing its own dump (QEMU commit
c753e8e7: "-action panic=none" exists so "Windows guests using the hv-crash enlightenment" can
"proceed to capture a crash dump and automatically reboot"), and the domain's
``on_crash=preserve`` pauses the guest right there: Windows never writes that dump. Hence:

1. default: the guest stays paused; when the VM backend offers ``dump_windows_memory`` (QEMU's
   Windows-format dump, libvirt's win-dmp core dump format), a dump is taken from the host,
   whose header QEMU fills from the guest's bugcheck data; then the revert;
2. ``wait_for_dump``, for a domain that lets a panicked guest run on: wait for the reboot, copy
   the guest's own newest dump, read the System log's 1001/41 events, then revert;
3. neither: the code from the crash registers and the blue screen's screenshot, then the revert.

A hang (a deadline passed) is answered with an NMI: with NMICrashDump=1 Windows bugchecks with
0x80 NMI_HARDWARE_FAILURE, and the same collection follows before the revert.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from pathlib import Path

from harness.errors import BugcheckDetected, GuestTimeout, HarnessError, InfraError, ProtocolError
from harness.guest import wincmd
from harness.guest.hvpanic import DomainLog, domain_log_path
from harness.guest.vmguest import VmGuest
from harness.guest.wincollect import CrashCollector
from harness.guest.wincrash import CrashReport, GuestHang
from harness.guest.winparse import (VERIFIER_EXIT, GuestOutputError, ScOutcome, VerifierSettings,
                                    WindowsFacts, clean, parse_clfsctl_info, parse_facts, parse_record_id,
                                    parse_sc, parse_service_state, parse_sha256, parse_verifier_settings)
from harness.vm.base import PortForward, VmSpec
from harness.vm.libvirt_backend import free_port
from harness.vm.rundir import nvram_path
from harness.vm.stage import stage

log = logging.getLogger("harness.guest")

CLFSCTL_ERRORS = {
    1: "clfsctl could not talk to the driver (an I/O or DeviceIoControl failure)",
    2: "clfsctl was called wrongly (a harness bug)",
    3: "the driver is not loaded (\\\\.\\ClfsTest does not exist): clfstest stopped or never started",
    4: ("access denied opening \\\\.\\ClfsTest: the SSH user must be an administrator (OpenSSH "
        "gives administrators an elevated token; the device admits SYSTEM and Administrators only)"),
    5: ("clfsctl.exe and clfstest.sys speak different protocol versions: both come from one "
        "build-driver run, so the guest holds a stale copy"),
    6: "clfsctl rejected the request file as malformed: the Python encoder and the C interpreter disagree",
}


class TestSigningOff(InfraError):
    """The guest will not load a test-signed driver; the message says how to fix the image."""

    __test__ = False   # not a pytest test class, whatever its name says


class DriverLoadError(InfraError):
    """sc.exe could not create or start the clfstest service; the message says why."""


def clfsctl_error(code: int, output: str) -> HarnessError:
    """The error for a clfsctl.exe exit code other than 0."""
    said = clean(output).strip()[-800:] or "(nothing)"
    if code == 6:
        return ProtocolError(f"clfsctl exited 6: {CLFSCTL_ERRORS[6]}; clfsctl said: {said}")
    if code in CLFSCTL_ERRORS:
        return InfraError(f"clfsctl exited {code}: {CLFSCTL_ERRORS[code]}; clfsctl said: {said}")
    if code >= 0xC0000000:
        return InfraError(f"clfsctl.exe itself died with NTSTATUS 0x{code:08X}; output: {said}")
    return InfraError(f"clfsctl exited {code}, which is none of its exit codes; output: {said}")


def signing_advice(facts: WindowsFacts | None) -> str:
    secure = "" if facts is None or facts.secure_boot is None else (
        " Secure Boot is ON in this guest, which forbids test signing." if facts.secure_boot
        else " (Secure Boot is off.)")
    return ("Fix the image: in the guest, as an administrator, run `bcdedit /set testsigning on` and "
            "reboot (the Windows image builder does this), then rebuild the image. If bcdedit answers "
            "'The value is protected by Secure Boot policy', turn Secure Boot off: build the image "
            "with BIOS firmware or UEFI without Secure Boot." + secure)


class WindowsGuest(CrashCollector, VmGuest):
    """One Windows guest on an overlay of ``manifest``'s golden disk.

    Args (besides ``VmGuest``'s; KVM gets the whole ``boot_timeout`` before a TCG fallback):
        reboot_timeout: seconds a reboot may take, shutdown to SSH-ready.
        wait_for_dump: after a bugcheck, wait for the guest to write its dump and reboot
            (needs a domain that does not pause a panicked guest; see the module doc).
        dump_timeout: seconds from the bugcheck to SSH-ready again, when waiting for a dump.
        settle_timeout: seconds after that for the dump file and event 1001 to appear.
        nmi_timeout: seconds an NMI'd guest has to bugcheck.
        max_dump_bytes: larger dumps are not copied whole; their header is.
        domain_log_dir: where libvirt writes domain logs, when not the URI's default.
    """

    def __init__(self, backend, manifest, run, *, worker: str = "w0", accel: str = "auto",
                 uri: str = "qemu:///system", boot_timeout: float = 600.0,
                 command_timeout: float = 120.0, reboot_timeout: float = 600.0,
                 wait_for_dump: bool = False, dump_timeout: float = 900.0,
                 settle_timeout: float = 180.0, nmi_timeout: float = 60.0,
                 max_dump_bytes: int = 8 << 30, domain_log_dir: Path | None = None,
                 auto_recover: bool = True):
        super().__init__(backend, manifest, run, worker=worker, accel=accel, uri=uri,
                         boot_timeout=boot_timeout, kvm_probe_timeout=boot_timeout,
                         command_timeout=command_timeout, auto_recover=auto_recover)
        self.reboot_timeout, self.wait_for_dump = reboot_timeout, wait_for_dump
        self.dump_timeout, self.settle_timeout = dump_timeout, settle_timeout
        self.nmi_timeout, self.max_dump_bytes = nmi_timeout, max_dump_bytes
        self.domain_log_dir = domain_log_dir
        self.domain_log = DomainLog(None)
        self.panic_log_wait = 3.0     # seconds libvirt gets to log the panic after its event
        self.facts: WindowsFacts | None = None
        self.driver_info: dict | None = None
        self.verifier: VerifierSettings | None = None
        self.evidence_dir: Path | None = None     # where the running case's crash evidence goes
        self.last_crash: CrashReport | None = None
        self._event_mark = 0
        self._doing: str | None = None
        self._reports = 0

    # ---- the domain ------------------------------------------------------------------------

    def _spec(self, accel: str) -> VmSpec:
        m = self.manifest
        overlay = self.dir / "overlay.qcow2"
        meta = {**self.run_dir.metadata(), "worker": self.worker, "overlay": str(overlay), "image": m.name}
        return VmSpec(
            name=f"clfs-{self.run_dir.run_id}-{self.worker}", accel=accel, overlay=overlay,
            golden=stage(m.disk, self.run_dir.staging_dir(m.name)), console_log=self.console_log,
            machine="q35", memory_mib=m.memory_mib, vcpus=m.vcpus, panic_model=self.panic_model,
            nic_model=m.nic_model, disk_bus=m.disk_bus, firmware=m.firmware, vmcoreinfo=m.vmcoreinfo,
            nvram=nvram_path(self.dir, m.firmware),
            forwards=(PortForward(free_port(), m.ssh_port),), metadata=meta, windows=True,
            # No warm spare (harness/vm/spare.py), unlike the smoke guest: it would hold a second
            # copy of the guest's RAM (4 GiB and more, not 256 MiB) and of its RAM snapshot on
            # disk per worker, and a Windows crash is slow anyway (the bugcheck evidence and the
            # dump are gathered from the crashed domain before any revert), so libvirt's revert
            # (a new QEMU, about 2.5 s) is a small share of it.
            warm_spare=False)

    @property
    def panic_model(self) -> str:
        """``hyperv`` (the bugcheck code from the crash MSRs at once, the guest paused before it
        writes a dump), or, when waiting for the guest's own dump, ``isa`` pvpanic and no
        hv-crash: with hv-crash QEMU stops the guest at the bugcheck, which "effectively prevents
        Windows from creating dumps upon crashes" (QEMU docs/system/i386/hyperv.rst). virtio-win's
        pvpanic driver (installed by the image builder) then reports CRASHLOADED when Windows
        starts writing its dump (its KbCallbackDumpIo callback), and QEMU lets the guest run on
        to finish the dump and reboot."""
        return "isa" if self.wait_for_dump else "hyperv"

    def _started(self) -> None:
        # A revert restarts QEMU, which appends to the same domain log: read only what follows.
        self.domain_log = DomainLog(domain_log_path(self.uri, self.instance.name, self.domain_log_dir))
        self.domain_log.mark()

    # ---- facts and provisioning ------------------------------------------------------------

    def query_facts(self) -> WindowsFacts:
        """Build, revision, edition, boot options, Secure Boot, elevation, dump settings."""
        r = self.run(wincmd.facts_command())
        if r.exit_code != 0:
            raise GuestOutputError(f"querying the guest's facts exited {r.exit_code}", r.stdout + r.stderr)
        self.facts = parse_facts(r.stdout)
        return self.facts

    def check_test_signing(self) -> None:
        """Raise TestSigningOff (with what to do) unless test-signed drivers load in this boot.

        Decided by the boot options in effect (``HKLM\\...\\Control\\SystemStartOptions`` holds
        ``TESTSIGNING`` when the loader ran with test signing on), a language-neutral value;
        ``bcdedit /enum`` prints its words in the display language (``Bezeichner``, ``Ja``).
        """
        facts = self.facts or self.query_facts()
        if not facts.test_signing_in_effect:
            raise TestSigningOff(
                "test signing is not in effect in the guest (SystemStartOptions: "
                f"{facts.start_options.strip()!r}, no TESTSIGNING), so Windows refuses the test-signed "
                "clfstest.sys (sc start fails with error 577): `bcdedit /set testsigning on` was not run, "
                "the guest was not rebooted after it, or firmware policy overrides it. " + signing_advice(facts))

    def copy_tools(self, driver: Path, client: Path) -> None:
        """Copy the signed driver and client in, and check what arrived byte for byte."""
        self.run(wincmd.mkdir_command(wincmd.GUEST_DIR, wincmd.GUEST_SCRATCH), check=True)
        for local, remote in ((Path(driver), wincmd.GUEST_DRIVER), (Path(client), wincmd.GUEST_CLIENT)):
            self.put(local, wincmd.sftp_path(remote))
            got = parse_sha256(self.run(wincmd.file_hash_command(remote), check=True).stdout)
            want = hashlib.sha256(local.read_bytes()).hexdigest()
            if got != want:
                raise InfraError(f"{remote} in the guest has sha256 {got[:16]}…, {local} has {want[:16]}…: "
                                 f"the copy was damaged or the file is locked by a running driver")

    def _sc(self, action: str, command: str) -> ScOutcome:
        r = self.run(command)
        return parse_sc(action, r.exit_code, r.stdout + r.stderr)

    def install_driver(self) -> None:
        """(Re)create the clfstest kernel service and start it.

        Raises:
            DriverLoadError: sc.exe refused (the message names the Win32 error and its cause).
        """
        for action, command, fine in (("stop", wincmd.sc_stop_command(), (1060, 1062)),
                                      ("delete", wincmd.sc_delete_command(), (1060,)),
                                      ("create", wincmd.sc_create_command(), ()),
                                      ("start", wincmd.sc_start_command(), (1056,))):
            outcome = self._sc(action, command)
            if not outcome.ok and outcome.error not in fine:
                raise DriverLoadError(outcome.explain())
        service = self.service_state()
        if not service.started:
            said = f" (CIM State {service.state!r}, ExitCode {service.exit_code})" if service.exists else ""
            raise DriverLoadError(f"clfstest is {'not running' if service.exists else 'not installed'} "
                                  f"after sc start{said}")

    def service_state(self):
        """The clfstest service as CIM reports it (exists, started)."""
        r = self.run(wincmd.service_state_command())
        if r.exit_code != 0:
            raise GuestOutputError(f"querying the clfstest service exited {r.exit_code}", r.stdout + r.stderr)
        return parse_service_state(r.stdout)

    def uninstall_driver(self) -> None:
        for action, command, fine in (("stop", wincmd.sc_stop_command(), (1060, 1062)),
                                      ("delete", wincmd.sc_delete_command(), (1060,))):
            outcome = self._sc(action, command)
            if not outcome.ok and outcome.error not in fine:
                raise DriverLoadError(outcome.explain())

    def query_driver(self) -> dict:
        """``clfsctl info``: the loaded driver's protocol version and build."""
        r = self.run(wincmd.clfsctl_info_command())
        if r.exit_code != 0:
            raise clfsctl_error(r.exit_code, r.stderr or r.stdout)
        self.driver_info = parse_clfsctl_info(r.stdout)
        return self.driver_info

    # ---- Driver Verifier and reboots --------------------------------------------------------

    def verifier_settings(self) -> VerifierSettings:
        """Driver Verifier's settings for the next boot, from the registry (VerifyDrivers, VerifyDriverLevel)."""
        r = self.run(wincmd.verifier_settings_command())
        if r.exit_code != 0:
            raise GuestOutputError(f"reading Driver Verifier's registry settings exited {r.exit_code}",
                                   r.stdout + r.stderr)
        self.verifier = parse_verifier_settings(r.stdout)
        return self.verifier

    def _verifier(self, command: str, what: str) -> None:
        r = self.run(command)
        if r.exit_code not in (0, 2):
            raise InfraError(f"{what} exited {r.exit_code} ({VERIFIER_EXIT.get(r.exit_code, 'unknown')}): "
                             f"{clean(r.stdout + r.stderr).strip()[-500:]}")

    def enable_verifier(self, drivers: tuple[str, ...]) -> VerifierSettings:
        """Standard Driver Verifier checks on ``drivers``, from a reboot on; checked afterwards."""
        self._verifier(wincmd.verifier_standard_command(drivers), "verifier /standard")
        self.reboot()
        settings = self.verifier_settings()
        gaps = settings.missing(drivers)
        if gaps:
            raise InfraError("Driver Verifier is not on as asked after the reboot: " + "; ".join(gaps))
        return settings

    def reset_verifier(self) -> VerifierSettings:
        """Driver Verifier off, from a reboot on; checked afterwards."""
        self._verifier(wincmd.verifier_reset_command(), "verifier /reset")
        self.reboot()
        settings = self.verifier_settings()
        if settings.drivers:
            raise InfraError(f"verifier /reset did not take: VerifyDrivers still names {', '.join(settings.drivers)}")
        return settings

    def reboot(self) -> float:
        """Restart the guest and wait until SSH is back. Returns the seconds it took."""
        start = time.monotonic()
        self.run(wincmd.reboot_command(), check=True)
        try:
            self._wait_down(min(180.0, self.reboot_timeout))
            self.ssh.reconnect(self.reboot_timeout, abort=self._abort_if_crashed)
        except BugcheckDetected as exc:
            # A bugcheck while rebooting (Driver Verifier catching a boot-start driver): gather
            # the same evidence as during a command.
            raise self._on_crash("reboot", exc) from None
        took = time.monotonic() - start
        log.info("%s: rebooted in %.1f s", self.worker, took)
        return took

    def _begin_stop(self, how: str) -> None:
        """``clean``: an orderly power-off (the exit code decides whether Windows took it)."""
        if how != "clean":
            super()._begin_stop(how)
        self.run(wincmd.shutdown_command(), check=True)

    def _after_crash(self, reason: str, crash) -> bool:
        """The deliberate bugcheck (restart: {how: bugcheck}) has stopped the guest: gather its
        evidence the way any bugcheck's is gathered (wincollect: screenshot, crash registers,
        the guest's own dump once it has rebooted or a host-side one while it is paused), into
        ``crash.evidence_dir``, but never revert: the disk is what the next phase reads.

        Returns:
            True when Windows rebooted by itself after writing its dump (CrashControl
            AutoReboot=1, the isa pvpanic reporting CRASHLOADED, ``wait_for_dump``) and SSH
            answers again: no power-on needed. False when the guest is paused at the panic
            (Hyper-V crash registers, on_crash=preserve): it is powered on again on the same disk.
        """
        self.evidence_dir, self._doing = crash.evidence_dir, "the harness's deliberate bugcheck (restart: {how: bugcheck})"
        try:
            report = CrashReport("bugcheck", self._doing, reason)
            self._evidence_shot("crash", report)
            self._gather_guarded(report)
            report.cross_check()
            self._reports += 1
            report.write(self._evidence_path("crash.json") if self.evidence_dir
                         else self.dir / f"bugcheck-{self._reports}.json")
            self.last_crash = report
        finally:
            self.evidence_dir, self._doing = None, None
        return bool(self.wait_for_dump and reason != "crashed: panicked" and self.ssh.connected)

    def _wait_down(self, timeout: float) -> None:
        """Until sshd stops answering: the restart has begun."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.ssh.connected:
                return
            try:
                self.ssh.exec("exit 0", 10.0, abort=self._abort_if_crashed)
            except (InfraError, GuestTimeout):
                return
            time.sleep(1.0)
        raise InfraError(f"the guest was still answering {timeout:.0f} s after `shutdown /r`")

    def prepare_crash_collection(self) -> None:
        """Remove dumps the image holds and mark the System log, so what a crash leaves is its own."""
        self.run(wincmd.clear_dumps_command(), check=True)
        self._event_mark = parse_record_id(self.run(wincmd.system_log_mark_command(), check=True).stdout)

    def provision_clfstest(self, driver: Path, client: Path, verifier: tuple[str, ...] = ()) -> None:
        """Everything between SSH-ready and the ready snapshot, in the order it must happen."""
        facts = self.query_facts()
        if facts.admin is False:
            raise InfraError(f"the image's SSH user {self.manifest.ssh_user!r} is not an administrator: "
                             f"sc.exe, verifier and the device need one")
        for warning in self.dump_warnings():
            log.warning("%s: %s", self.worker, warning)
        self.check_test_signing()
        self.copy_tools(driver, client)
        if verifier:
            self.enable_verifier(verifier)
        elif self.verifier_settings().drivers:
            log.warning("%s: the image has Driver Verifier on for %s; turning it off (not asked for)",
                        self.worker, ", ".join(self.verifier.drivers))
            self.reset_verifier()
        self.install_driver()
        self.query_driver()
        self.prepare_crash_collection()

    def dump_warnings(self) -> list[str]:
        """What in the guest's crash settings will cost evidence later."""
        f, out = self.facts, []
        if f is None:
            return out
        if f.crash_dump_enabled == 0:
            out.append("crash dumps are off (CrashControl CrashDumpEnabled=0): a bugcheck leaves no dump")
        if f.nmi_crash_dump != 1:
            out.append("NMICrashDump is not 1 (CrashControl): a hung guest will not bugcheck on an NMI")
        if self.wait_for_dump and f.auto_reboot == 0:
            out.append("AutoReboot=0: after its dump the guest stays at the blue screen, so waiting "
                       "for it to come back will time out")
        return out

    # ---- running a request -----------------------------------------------------------------

    def run_request(self, request: bytes, timeout: float, evidence_dir: Path | None = None) -> bytes:
        """Send one request through clfsctl.exe and return the response bytes.

        Args:
            timeout: the command's deadline (the case's, plus PowerShell's start-up).
            evidence_dir: where a crash's or hang's screenshot, dump and crash.json go.
        Raises:
            BugcheckDetected: the guest bugchecked (code, parameters, dump path set when known).
            GuestHang: the deadline passed (a GuestTimeout: NMI sent, dump collected if it can be).
            ProtocolError: clfsctl rejected the request as malformed.
            InfraError: clfsctl failed otherwise, or SSH/SFTP broke.
        """
        self.evidence_dir = Path(evidence_dir) if evidence_dir is not None else None
        self._doing = "clfsctl run (the case's request)"
        try:
            with tempfile.TemporaryDirectory(prefix="req-", dir=self.dir) as tmp:
                local_req, local_resp = Path(tmp) / "request.bin", Path(tmp) / "response.bin"
                local_req.write_bytes(request)
                self.put(local_req, wincmd.sftp_path(wincmd.GUEST_REQUEST))
                r = self.run(wincmd.clfsctl_run_command(), timeout=timeout)
                if r.exit_code != 0:
                    raise clfsctl_error(r.exit_code, r.stderr or r.stdout)
                self.get(wincmd.sftp_path(wincmd.GUEST_RESPONSE), local_resp)
                return local_resp.read_bytes()
        finally:
            self.evidence_dir, self._doing = None, None

    def serve_request(self, request: bytes, timeout: float, *, max_frame: int,
                      evidence_dir: Path | None = None) -> bytes:
        """Send one request to ``clfsctl serve``, kept running in the guest on its own SSH
        channel (started on first use and after every revert), and return the response bytes:
        one round trip, no file copy, no process start.

        Args and Raises: as ``run_request``; ``max_frame``: the largest response accepted.
        clfsctl ends on a failure with the exit code ``run`` would have had, mapped the same way.
        """
        from harness.guest.serve import ServerExited

        self.evidence_dir = Path(evidence_dir) if evidence_dir is not None else None
        self._doing = "clfsctl serve (the case's request)"
        try:
            return self.exchange(wincmd.clfsctl_serve_command(), request, timeout, max_frame=max_frame)
        except ServerExited as exc:
            raise clfsctl_error(-1 if exc.status is None else exc.status, exc.output or str(exc)) from None
        finally:
            self.evidence_dir, self._doing = None, None

    # ---- bugchecks and hangs ---------------------------------------------------------------

    def _on_crash(self, command: str, error: Exception) -> Exception:
        if not isinstance(error, BugcheckDetected):   # the guest powered off: the base's handling
            return super()._on_crash(command, error)
        report = CrashReport("bugcheck", self._doing or repr(command[:120]), self.instance.crashed())
        self._evidence_shot("crash", report)
        self._gather_guarded(report)
        self._finish(report)
        chosen = report.bugcheck()
        return BugcheckDetected(report.message(), chosen[0] if chosen else None,
                                tuple(chosen[1]) if chosen else None,
                                str(report.dump) if report.dump else None)

    def _on_hang(self, command: str, error: GuestTimeout) -> Exception:
        report = CrashReport("hang", self._doing or repr(command[:120]))
        self._evidence_shot("hang", report)
        try:
            self.instance.inject_nmi()
            report.nmi_sent = True
        except InfraError as exc:
            report.problems.append(f"no NMI sent: {exc}")
        if report.nmi_sent:
            report.reason = self.instance.wait_crash(self.nmi_timeout)
            if report.reason is None:
                report.problems.append(
                    f"the guest did not bugcheck within {self.nmi_timeout:.0f} s of the NMI (NMICrashDump "
                    f"is {self.facts.nmi_crash_dump if self.facts else 'unknown'}; it must be 1)")
            elif report.reason.startswith("stopped"):
                report.problems.append(f"the guest {report.reason} after the NMI")
            else:
                self._evidence_shot("nmi", report)
                self._gather_guarded(report)
        self._finish(report)
        return GuestHang(f"{error}\n{report.message()}", report)
