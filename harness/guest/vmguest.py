"""The OS-agnostic guest lifecycle: boot, run, copy, recover; the OS adapters subclass it.

It ties a VM instance (``harness.vm``) to an SSH transport (``harness.guest.ssh``):

- ``boot()``: overlay, power on (KVM probed by booting, TCG otherwise), SSH-ready, provision,
  snapshot.
- ``run()``: a command with a deadline. A guest crash surfaces as ``BugcheckDetected`` within
  a fraction of a second (libvirt's CRASHED event, polled every 50 ms while waiting); a
  deadline as ``GuestTimeout``; a lost connection as ``InfraError``. What happens after a crash
  or a hang is the subclass's (``_on_crash``, ``_on_hang``): the Linux adapter saves the display
  and reverts; the Windows adapter also gathers the bugcheck code and the dump first.

Subclasses provide ``_spec(accel)``: the domain they boot.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from harness import testpoints
from harness.errors import BugcheckDetected, BootError, GuestTimeout, HarnessError, InfraError
from harness.guest.ssh import ExecResult, HostKeyMismatch, SshTransport
from harness.vm import accel as accel_mod
from harness.vm.base import Backend, Instance, VmSpec
from harness.vm.image import ImageManifest
from harness.vm.rundir import RunDir

log = logging.getLogger("harness.guest")


@dataclass(frozen=True)
class DeliberateCrash:
    """What makes a guest crash on purpose: a request file and the executor command that runs it
    (the target builds both, harness.targets.bugcheck); ``evidence_dir`` takes what the crash leaves."""

    request: bytes
    remote_request: str          # where the request goes in the guest (SFTP path)
    command: str                 # the executor on that file: it never returns
    timeout_s: float = 60.0      # how long the command may take to stop the guest
    evidence_dir: Path | None = None


class VmGuest:
    """One guest on an overlay of ``manifest``'s golden disk.

    Args:
        backend: where instances are created (``LibvirtBackend``).
        manifest: the built image (``harness.vm.image.find_image``).
        run: this process's run directory; the worker's files go in ``run/<worker>/``.
        accel: ``auto``, ``kvm`` or ``tcg``.
        uri: the backend's URI (the key of the remembered KVM/TCG verdict).
        boot_timeout: seconds from power-on to SSH-ready.
        kvm_probe_timeout: seconds KVM gets before ``auto`` falls back to TCG.
        command_timeout: default deadline of ``run()``.
        auto_recover: revert after a crash, a timeout or a lost connection.
    """

    # How long one attempt of the wait for SSH waits for the server's banner (harness/guest/ssh.py,
    # READY_BANNER_FOR_S); None: the whole connect timeout. For OS adapters whose SSH server
    # sends its banner as it accepts.
    ssh_ready_banner_s: float | None = None

    def __init__(self, backend: Backend, manifest: ImageManifest, run: RunDir, *,
                 worker: str = "w0", accel: str = "auto", uri: str = "qemu:///system",
                 boot_timeout: float = 120.0, kvm_probe_timeout: float = 15.0,
                 command_timeout: float = 60.0, auto_recover: bool = True):
        self.backend, self.manifest, self.run_dir = backend, manifest, run
        self.worker, self.accel_requested, self.uri = worker, accel, uri
        self.boot_timeout, self.kvm_probe_timeout = boot_timeout, kvm_probe_timeout
        self.command_timeout, self.auto_recover = command_timeout, auto_recover
        self.dir = run.worker_dir(worker)
        self.instance: Instance | None = None
        self.ssh: SshTransport | None = None
        self.accel: str | None = None
        self.boot_seconds: float | None = None    # power-on to snapshot taken
        self.ready_seconds: float | None = None   # power-on to SSH-ready
        self._shots = 0
        self._provision = None
        self._servers: dict = {}   # command -> FrameServer kept running (see exchange())
        self.last_recover: dict[str, float] = {}
        self._ssh_guest_port: int | None = None   # the guest's sshd port, forwarded to the host

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    def _spec(self, accel: str) -> VmSpec:
        """The domain to boot under ``accel``; each OS adapter says what its guest needs."""
        raise NotImplementedError

    def boot(self, provision=None) -> float:
        """Power on, wait for SSH, provision, snapshot the ready guest. Returns seconds to ready.

        Args:
            provision: optional ``callable(guest)`` run before the snapshot (copy tools in),
                so every revert comes back to a provisioned guest. Kept for re-boots.

        Raises:
            BootError: the guest did not become ready (carries the console tail).
            InfraError: libvirt or the host failed.
        """
        if provision is not None:
            self._provision = provision
        key = self._accel_key() if self.accel_requested == "auto" else None
        tries = accel_mod.candidates(self.accel_requested, self.uri, key)
        failed = ""
        for i, accel in enumerate(tries):
            probing = i < len(tries) - 1
            deadline = self.kvm_probe_timeout if probing else self.boot_timeout
            try:
                took = self._boot_once(accel, deadline)
            except InfraError as exc:
                if not probing or isinstance(exc, HostKeyMismatch):
                    raise
                # A domain that stops (QEMU exits) ends the probe at once (_abort_if_crashed);
                # only a guest that stays silent costs the whole probe deadline.
                failed = str(exc).splitlines()[0][:200]
                log.warning("%s not ready under %s within %.0f s (%s); falling back to %s",
                            self.worker, accel.upper(), deadline, failed, tries[i + 1].upper())
                self._discard()
                continue
            if self.accel_requested == "auto" and len(tries) > 1:
                why = f"guest reached SSH-ready under {accel.upper()}"
                accel_mod.record(self.uri, accel, why + (f"; the KVM probe failed: {failed}" if i else ""), key)
            self.accel, self.boot_seconds = accel, took
            return took
        raise AssertionError("unreachable")

    def _accel_key(self) -> dict[str, str] | None:
        """What the remembered KVM/TCG verdict of this host depends on (None: not remembered)."""
        versions = getattr(self.backend, "versions", None)
        try:
            return accel_mod.host_key(self.uri, versions() if versions else {})
        except InfraError:
            return None

    def _boot_once(self, accel: str, deadline: float) -> float:
        start = time.monotonic()
        self.instance = self.backend.create(self._spec(accel))
        self.instance.start()
        self._started()
        m = self.manifest
        self._ssh_guest_port = m.ssh_port
        self.ssh = SshTransport("127.0.0.1", self.instance.forward(m.ssh_port), m.ssh_user,
                                m.client_key, m.host_key, ready_banner_s=self.ssh_ready_banner_s)
        testpoints.reached("ssh")
        try:
            self.ssh.wait_ready(deadline, abort=self._abort_if_crashed)
            self.ready_seconds = time.monotonic() - start
        except (InfraError, BugcheckDetected) as exc:  # a crash while booting is a boot failure
            if isinstance(exc, HostKeyMismatch):
                raise
            raise BootError(f"{self.instance.name} ({accel}): {exc}", self.instance.console_tail()) from None
        if self._provision is not None:
            self._provision(self)
        self.instance.snapshot("ready")
        return time.monotonic() - start

    def _started(self) -> None:
        """Called right after power-on and after every revert (a hook for subclasses)."""

    def _discard(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        if self.ssh is not None:
            self.ssh.close()
        if self.instance is not None:
            self.instance.close()
        self.ssh = self.instance = None

    def recover(self) -> float:
        """Return to the ready snapshot and reconnect (a cold boot if the domain is gone)."""
        start = time.monotonic()
        crash = self.instance.crashed() if self.instance else "stopped: no instance"
        if crash and crash.startswith("stopped"):
            # A transient domain that powered off is gone, snapshot included.
            log.warning("%s: %s; booting afresh", self.worker, crash)
            self._discard()
            self.accel_requested = self.accel or self.accel_requested
            self.boot()
        else:
            self.instance.revert()
            reverted = time.monotonic()
            self._started()
            if self._ssh_guest_port is not None:
                # A warm spare swapped in (harness/vm/spare.py) answers on its own forwarded port.
                self.ssh.port = self.instance.forward(self._ssh_guest_port)
            self.ssh.reconnect(self.boot_timeout, abort=self._abort_if_crashed)
            # Where a recovery's time goes (benchmarks/vm_bench.py prints it).
            self.last_recover = {"revert_s": reverted - start, "ssh_s": time.monotonic() - reverted}
        return time.monotonic() - start

    def restart(self, how: str, crash=None) -> float:
        """Restart the guest on the same disk, as a phased scenario's ``restart:`` step asks:
        ``power_cut`` (hard power-off), ``bugcheck`` (the guest's kernel crashes) or ``clean``
        (orderly shutdown); then SSH-ready and provisioned again (the tools are copied in
        afresh: a power cut may have lost what the page cache held). No revert: the disk is
        the evidence. Returns seconds to ready.

        Args:
            crash: for ``bugcheck``, a ``DeliberateCrash`` (the target's request that makes its
                executor stop the guest, harness.targets.bugcheck). Its evidence is gathered
                before the power comes back (``_after_crash``).
        Raises:
            InfraError: libvirt failed, the guest did not stop or did not come back.
        """
        start = time.monotonic()
        if how == "power_cut":
            self.instance.power_cut()
        elif how == "bugcheck":
            if crash is None:
                raise InfraError("a bugcheck restart needs the request that makes the guest crash")
            self.instance.restart_same_disk(lambda: self._send_crash(crash), self.boot_timeout,
                                            after_stop=lambda reason: self._after_crash(reason, crash))
        else:
            self.instance.restart_same_disk(lambda: self._begin_stop(how), self.boot_timeout)
        for server in self._servers.values():   # their processes died with the guest
            server.close()
        self._servers.clear()
        self._started()
        self.ssh.reconnect(self.boot_timeout, abort=self._abort_if_crashed)
        if self._provision is not None:
            self._provision(self)
        return time.monotonic() - start

    def cut_during(self, command: str, frame: bytes, delay_s: float, *, max_frame: int) -> dict:
        """Send ``frame`` to the guest server ``command`` and pull the plug ``delay_s`` seconds
        later, unless its answer came first (then the plug is pulled right after it): the
        power cut of ``restart: {how: power_cut, during: ...}``. Then the guest comes back on
        the same disk, as ``restart("power_cut")``.

        Returns:
            {"answer": the answer frame or None (lost with the power), "answer_bytes": how many
            bytes of it had arrived when the plug was pulled, "cut_ms": milliseconds from the
            request sent to the plug pulled, "restart_s": seconds to ready again}.
        Raises:
            as ``exchange()`` while the request runs (a crash, a lost connection); as
            ``restart()`` after the cut.
        """
        server = self.start_server(command, max_frame=max_frame)
        sent = time.monotonic()
        answer, got = self._guarded(command, lambda: server.answer_or_cut(frame, sent + delay_s,
                                                                         abort=self._abort_if_crashed))
        cut_ms = (time.monotonic() - sent) * 1000.0
        took = self.restart("power_cut")
        return {"answer": answer, "answer_bytes": got, "cut_ms": cut_ms, "restart_s": took}

    def _begin_stop(self, how: str) -> None:
        """Make the guest power itself off (``clean``); OS adapters say how."""
        raise InfraError(f"{type(self).__name__} cannot restart by {how}")

    def _send_crash(self, crash) -> None:
        """Copy the crash request in and start the executor on it, which stops the guest. Not
        through ``run()``: that would revert the guest after the crash, and the disk is the
        evidence. The connection dying with the guest is expected; the caller waits for
        libvirt's crash event, so nothing here decides whether the crash happened."""
        local = self.dir / "crash-request.bin"
        local.write_bytes(crash.request)
        self.ssh.put(local, crash.remote_request)   # a failure here is the lab's: raised
        try:
            done = self.ssh.exec(crash.command, crash.timeout_s, abort=self._abort_if_crashed)
        except HarnessError as exc:
            log.info("%s: the crash request ended the connection as expected (%s)", self.worker,
                     str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        # The executor returned: it did not stop the machine (driver not loaded, request refused).
        # Said now, with its output, rather than after the whole boot timeout of waiting.
        if self.instance.wait_crash(5.0) is None:
            output = (done.stderr or done.stdout or "").strip()[-500:]
            raise InfraError(f"the crash request returned (exit {done.exit_code}) and the guest did not stop: "
                             f"{output or 'no output'}")

    def _after_crash(self, reason: str, crash) -> bool:
        """After the deliberate crash, before the power comes back: gather what the crash left
        (OS adapters). Returns True when the guest came back by itself (no power-on needed)."""
        return False

    def close(self) -> None:
        """Power off and remove the overlay; the console and screenshots stay in ``self.dir``."""
        self._discard()

    def __enter__(self):
        self.boot()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- commands and files ----------------------------------------------------------------

    def run(self, command: str, timeout: float | None = None, *, check: bool = False,
            stdin: bytes | None = None) -> ExecResult:
        """Run a command in the guest (with the guest's default shell); ``stdin``: bytes fed to
        it, then end of file.

        Raises:
            BugcheckDetected: the guest crashed (guest reverted afterwards).
            GuestTimeout: the deadline passed (screenshot taken, guest reverted).
            GuestCommandError: ``check`` and a non-zero exit.
            InfraError: the connection broke or libvirt failed (guest reverted).
        """
        timeout = self.command_timeout if timeout is None else timeout
        return self._guarded(command, lambda: self.ssh.exec(command, timeout, abort=self._abort_if_crashed,
                                                            check=check, stdin=stdin))

    def exchange(self, command: str, frame: bytes, timeout: float | None = None, *, max_frame: int) -> bytes:
        """Send one frame to the guest server ``command`` and return its answer frame.

        The server (``harness.guest.serve``: length-prefixed frames on one SSH channel) is
        started on first use and again after it ended or the guest was reverted, so a warm
        guest answers with one round trip and no process start.

        Raises:
            the same as ``run()``, classified the same way (the guest reverted after a crash,
            a missed deadline or a lost connection); ``ServerExited`` (an InfraError, no revert:
            the guest is fine) when the server process ended; it is restarted on the next call.
        """
        from harness.guest.serve import ServerExited

        timeout = self.command_timeout if timeout is None else timeout
        server = self.start_server(command, max_frame=max_frame)
        try:
            return self._guarded(command, lambda: server.exchange(frame, timeout, abort=self._abort_if_crashed),
                                 passthrough=ServerExited)
        except BaseException:
            self._servers.pop(command, None)
            server.close()
            raise

    def start_server(self, command: str, *, max_frame: int):
        """The running guest server ``command`` (``exchange()``), started now if it is not running.

        Raises:
            as ``run()``.
        """
        from harness.guest.serve import FrameServer

        server = self._servers.get(command)
        if server is None or not server.alive:
            if server is not None:
                server.close()
            server = self._servers[command] = self._guarded(
                command, lambda: FrameServer(self.ssh, command, max_frame=max_frame))
        return server

    def _guarded(self, what: str, call, passthrough: type | tuple = ()):
        """``call()``, with a crash, a hang or a lost connection handled as ``run()`` documents;
        ``passthrough`` exceptions are raised as they are."""
        try:
            return call()
        except passthrough:
            raise
        except BugcheckDetected as exc:
            raise self._on_crash(what, exc)
        except GuestTimeout as exc:
            raise self._on_hang(what, exc)
        except InfraError as exc:
            # A connection lost because the guest crashed or powered off says so, not "lab
            # broke": libvirt's event follows within 2 s.
            if self.instance.wait_crash(2.5):
                raise self._on_crash(what, self._crash_error(what)) from exc
            self._after_failure("infra")
            raise

    def put(self, local: Path, remote: str) -> None:
        self.ssh.put(local, remote)

    def get(self, remote: str, local: Path) -> None:
        self.ssh.get(remote, local)

    # ---- failure handling ------------------------------------------------------------------

    def _on_crash(self, command: str, error: Exception) -> Exception:
        """After the guest crashed (or powered off) during ``command``: save what shows it,
        recover, and return the exception ``run()`` raises."""
        self._after_failure("crash")
        return error

    def _on_hang(self, command: str, error: GuestTimeout) -> Exception:
        """After ``command`` passed its deadline: the same, for a hang."""
        self._after_failure("hang")
        return error

    def _crash_error(self, doing: str) -> Exception:
        reason = self.instance.crashed() or "crashed"
        if reason.startswith("stopped"):
            return InfraError(f"guest {reason} while running {doing!r}; console: {self.console_log}")
        return BugcheckDetected(f"guest {reason} while running {doing!r}; console: {self.console_log}")

    def _abort_if_crashed(self) -> None:
        if self.instance is not None and self.instance.crashed():
            raise self._crash_error("a command")

    def _screenshot(self, kind: str) -> Path | None:
        self._shots += 1
        return self.instance.screenshot(self.dir / f"{kind}-{self._shots}.png")

    def _after_failure(self, kind: str) -> None:
        self._screenshot(kind)
        if self.auto_recover:
            took = self.recover()
            log.info("%s: reverted after %s in %.2f s", self.worker, kind, took)
