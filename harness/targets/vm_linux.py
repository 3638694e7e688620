"""The ``smoke`` target: scenarios through the whole VM path, on the Linux smoke guest.

encode → one frame to ``clfstest-model-static --serve``, kept running in the guest on its own
SSH channel for the whole run → the answer frame → decode. A case starts no process and no
shell in the guest: it costs about one round trip (``benchmarks/pipeline_bench.py`` prints it
beside one SSH command). The executor is started again after it ended and after every revert
(``VmGuest.exchange``). The executor is the host-built documented-rules model (static, as the
smoke guest has no libc of its own), so results are model results; what this target proves
is the VM path itself: boot, snapshot, copy, execute, crash and hang handling, revert.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import time
from pathlib import Path

from harness.config import LabConfig
from harness.errors import BuildError, HarnessError
from harness.interrupts import run_tool
from harness.lab import fault_for
from harness.protocol import decode_response, encode_request, wire
from harness.protocol.results import CaseResult
from harness.scenario.model import Case
from harness.targets.base import CaseArtefacts, VmTarget
from harness.targets.model import MODEL_SCRATCH, SOURCE_DIR

log = logging.getLogger("harness.targets")

IMAGE = "linux-smoke"
GUEST_DIR = "/srv/clfstest"
GUEST_MODEL = f"{GUEST_DIR}/clfstest-model-static"
# Where the executor keeps the logs of a phased case on the guest's disk (the overlay): written and
# fsync'd where CLFS promises stability, read back when the executor starts after a restart
# (driver_src/model/main.c --disk). The revert after the case takes it away again.
GUEST_DISK = f"{GUEST_DIR}/disk"
# ``exec``: the shell dropbear starts becomes the executor, so nothing else stays in between.
SERVE = f"exec {GUEST_MODEL} --serve --disk {GUEST_DISK}"
# restart: {how: bugcheck}: the executor on the bugcheck request, allowed to panic the guest.
# Writing to /proc/sysrq-trigger works whatever kernel.sysrq says (the kernel's admin-guide
# sysrq.rst: that setting governs the keyboard only); the image's init sets it to 1 anyway.
SYSRQ_TRIGGER = "/proc/sysrq-trigger"
BUGCHECK_REQUEST = f"{GUEST_DIR}/bugcheck-request.bin"
CRASH = f"{GUEST_MODEL} --crash-trigger {SYSRQ_TRIGGER} {BUGCHECK_REQUEST} {GUEST_DIR}/bugcheck-response.bin"
# Stops the executor (found by its command line in /proc: the guest's busybox has no pgrep) and
# fails when there was none to stop, so a fault that did not take is an error, not a pass.
_STOP_EXECUTOR = ("n=0; for p in /proc/[0-9]*; do case $(tr '\\0' ' ' < $p/cmdline 2>/dev/null) in "
                  f"'{GUEST_MODEL} --serve '*) kill -STOP ${{p#/proc/}} && n=$((n+1));; esac; done; "
                  "test $n -gt 0")


def _later(command: str) -> str:
    """``command`` 0.2 s from now, detached from the SSH session that starts it."""
    return f"{{ setsid sh -c 'sleep 0.2; {command}' </dev/null >/dev/null 2>&1 & }}"


# Lab faults, run in the guest just before the case's request is sent. Each first stops the
# executor, so the case is in flight (its answer awaited) when the fault strikes: the kernel
# panics (sysrq c: pvpanic, libvirt CRASHED), the answer never comes, or the SSH server dies
# under the session. The executor is restarted after the revert that follows each.
FAULTS = {
    "panic": f"{_STOP_EXECUTOR} && {_later('echo c > /proc/sysrq-trigger')}",
    "hang": _STOP_EXECUTOR,
    "kill-sshd": f"{_STOP_EXECUTOR} && {_later('killall dropbear')}",
}


def build_static_model(out_dir: Path | None = None) -> Path:
    """``make -C driver_src <out>/host/clfstest-model-static``; returns the executable.

    Raises:
        BuildError: make failed (carries its output).
    """
    out = (out_dir or SOURCE_DIR / "out").resolve()
    target = out / "host" / "clfstest-model-static"
    cmd = ["make", "-s", "-C", str(SOURCE_DIR), f"OUT={out}", str(target)]
    try:
        proc = run_tool(cmd, timeout=300)
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"building the static model failed: {exc}") from None
    if proc.returncode != 0:
        raise BuildError(f"building the static model failed: {' '.join(cmd)}", proc.stdout + proc.stderr)
    return target


class SmokeTarget(VmTarget):
    """Runs each case with the model executor inside the Linux smoke guest."""

    name = "smoke"
    # Through harness/vm: a power cut is virDomainDestroy; clean is sync, unmount, poweroff;
    # bugcheck is the harness's bugcheck request, which the executor answers with sysrq c (the
    # kernel panics; pvpanic: libvirt CRASHED), as clfstest.sys answers it with KeBugCheckEx
    # (harness/targets/bugcheck.py). Each boots the same overlay again (VmGuest.restart).
    restarts = frozenset({"power_cut", "bugcheck", "clean", "reopen"})

    def __init__(self, config: LabConfig | None = None, *, built: dict | None = None,
                 worker: str = "smoke", options: dict | None = None, binary: Path | None = None):
        self.config = config or LabConfig.from_env()
        self._binary = binary or (Path(built["executor"]) if built and "executor" in built else None)
        self.worker = worker
        self.options = dict(options or {})
        self._faulted: set[str] = set()
        self._session = None
        self._guest = None
        self._identity: dict | None = None
        self._binary_sha256: str | None = None

    def prepare(self) -> None:
        from harness.commands.image import build_image
        from harness.guest.linux import LinuxGuest
        from harness.vm.image import load_manifest
        from harness.vm.session import open_session

        if self._binary is None:
            self._binary = build_static_model()
        manifest = load_manifest(build_image(IMAGE, self.config))
        self._session = open_session(self.config)
        self._guest = LinuxGuest(self._session.backend, manifest, self._session.run, worker=self.worker,
                                 accel=self.config.accel, uri=self.config.libvirt_uri,
                                 boot_timeout=self.config.boot_timeout_s,
                                 command_timeout=self.config.command_timeout_s)
        try:
            self._guest.boot(provision=self._provision)
        except BaseException:
            self.close()
            raise
        self._identity = {
            "target": self.name, "model": True, "image": manifest.name,
            "image_sha256": manifest.disk_sha256, "accel": self._guest.accel,
            "model_sha256": self._executor_sha256(),
            # The same executor as the model target: the same rules, so the same baselines.
            "protocol_version": wire.PROTO_VERSION,
        }

    def _provision(self, guest) -> None:
        """Put the executor in the guest: at the first boot, and again after every restart on the
        same disk (VmGuest.restart), where a power cut may have lost what the page cache held.
        There it is usually whole: one command checks it byte for byte (its SHA-256 in the
        guest's busybox) and that it runs, and only a copy the cut lost or cut short is copied
        again. Measured: the copy and its two commands took 0.5-0.7 s of each restart, the check
        0.12 s."""
        # Without arguments the executor prints its usage and exits 2: proof that it runs here.
        runs = f"{{ {GUEST_MODEL} >/dev/null 2>&1; test $? -eq 2; }}"
        whole = f"echo '{self._executor_sha256()}  {GUEST_MODEL}' | sha256sum -c -s - 2>/dev/null"
        if guest.run(f"mkdir -p {GUEST_DIR} {GUEST_DISK} && {whole} && {runs}").exit_code == 0:
            return
        guest.put(self._binary, GUEST_MODEL)
        # sync: on the disk, not only in the page cache, when the ready snapshot is taken; every
        # case starts from that snapshot's disk, so a cut would otherwise lose it every time.
        guest.run(f"chmod 755 {GUEST_MODEL} && sync && {whole} && {runs}", check=True)

    def _executor_sha256(self) -> str:
        if self._binary_sha256 is None:
            self._binary_sha256 = hashlib.sha256(self._binary.read_bytes()).hexdigest()
        return self._binary_sha256

    def identity(self) -> dict:
        return dict(self._identity or {"target": self.name})

    @classmethod
    def build_shared(cls, config, options: dict | None = None) -> dict[str, str]:
        return {"executor": str(build_static_model(getattr(config, "driver_out_dir", None)))}

    def execute(self, case: Case, artefacts: CaseArtefacts | None = None) -> CaseResult:
        if self._guest is None:
            self.prepare()
        if case.restarts:
            return self.execute_phases(case, artefacts, self._execute_request)
        return self._execute_request(case, artefacts)

    def _execute_request(self, case: Case, artefacts: CaseArtefacts | None) -> CaseResult:
        request = encode_request(case, scratch=MODEL_SCRATCH)
        if artefacts is not None:
            artefacts.write_bytes("request.bin", request)
        console_from = self.console_mark()
        shots_before = len(self._guest.instance.state.artefacts)
        try:
            return self._execute(case, request, artefacts)
        except HarnessError:
            self._keep_failure_files(artefacts, shots_before)
            raise
        finally:
            self.save_console(artefacts, console_from)

    def _execute(self, case: Case, request: bytes, artefacts: CaseArtefacts | None) -> CaseResult:
        max_frame = wire.response_cap(wire.MAX_STEPS)
        fault = self._fault(case)
        if fault is not None:
            self._guest.start_server(SERVE, max_frame=max_frame)
            self._guest.run(FAULTS[fault], check=True)
        start = time.perf_counter()
        response = self._guest.exchange(SERVE, request, timeout=max(case.timeout_s, 1.0) + 5.0,
                                        max_frame=max_frame)
        elapsed = time.perf_counter() - start
        if artefacts is not None:
            artefacts.write_bytes("response.bin", response)
        result = decode_response(response, case, target=self.name)
        return CaseResult(target=result.target, steps=result.steps, cleanup=result.cleanup,
                          identity=self.identity(), request=request, response=response,
                          elapsed_s=elapsed, bugcheck=result.bugcheck,
                          bugcheck_step=result.bugcheck_step, stopped=result.stopped, events=result.events)

    def _serve_channel(self) -> tuple[str, str]:
        return SERVE, MODEL_SCRATCH

    def _deliberate_crash(self, request: bytes, evidence_dir: Path | None):
        from harness.guest.vmguest import DeliberateCrash

        return DeliberateCrash(request=request, remote_request=BUGCHECK_REQUEST, command=CRASH,
                               timeout_s=30.0, evidence_dir=evidence_dir)

    def _bugcheck_witness(self, console: str):
        """The executor's line on the serial console (written to /dev/kmsg just before sysrq c),
        when the kernel's panic follows it."""
        from harness.targets import bugcheck

        seen = bugcheck.from_console(console)
        if seen is None or "Kernel panic" not in console[console.rfind("clfstest: deliberate bugcheck"):]:
            return None
        return seen[0], seen[1], "serial console (executor's line, then the kernel panic)"

    def _fault(self, case: Case) -> str | None:
        """The lab fault the lab file asks for on ``case`` (``FAULTS``), or None.

        Faults make the lab misbehave for real, to test the pipeline's outcome classes.
        ``kill-sshd-once`` does so on a case's first attempt only, so its retry on the
        reverted guest passes.
        """
        fault = fault_for(self.options.get("faults", {}), case.id)
        if fault == "kill-sshd-once":
            fault = "kill-sshd" if case.id not in self._faulted else None
            self._faulted.add(case.id)
        if fault is not None:
            log.warning("%s: lab fault %r for %s", self.worker, fault, case.id)
        return fault

    def _keep_failure_files(self, artefacts: CaseArtefacts | None, shots_before: int) -> None:
        """Screenshots the guest took while failing go into the case's folder."""
        if artefacts is None or self._guest is None or self._guest.instance is None:
            return
        for shot in self._guest.instance.state.artefacts[shots_before:]:
            if Path(shot).is_file():
                artefacts.copy_in(Path(shot), f"screenshot-{Path(shot).name}")
