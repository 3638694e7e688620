"""The ``model`` target: the driver's own interpreter with the documented-rules model, on the host.

One ``clfstest-model --serve`` process per target, spoken to with length-prefixed frames on its
stdin/stdout. Why a server and not ctypes: a crash in the C code (the thing under test) kills
that process, not the harness, and shows up as an error naming the case; why not a process per
case: start-up would cost more than the case itself (the goal is >= 2,000 cases/s end to end).
The server ends when its stdin closes, so it cannot outlive the harness; ``close()`` also
waits for it and kills it if it does not go.
"""

from __future__ import annotations

import hashlib
import os
import select
import struct
import subprocess
import threading
import time
from pathlib import Path

from harness.errors import BuildError, GuestTimeout, InfraError
from harness.protocol import decode_response, encode_request, wire
from harness.protocol.results import CaseResult
from harness.scenario.model import Case
from harness.targets.base import CaseArtefacts, Target, flush_artefacts

SOURCE_DIR = Path(__file__).resolve().parents[2] / "driver_src"
# The scratch directory the model pretends the guest has; only a string for the model.
MODEL_SCRATCH = "C:\\clfstest\\scratch"
_LEN = struct.Struct("<I")


def model_binary(out_dir: Path | None = None) -> Path:
    return (out_dir or SOURCE_DIR / "out") / "host" / "clfstest-model"


def build_model(out_dir: Path | None = None) -> Path:
    """Build (or bring up to date) the host model with make; returns the executable.

    Raises:
        BuildError: make failed (carries its output).
    """
    out = out_dir or SOURCE_DIR / "out"
    cmd = ["make", "-s", "-C", str(SOURCE_DIR), f"OUT={out}", "host-model"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise BuildError("make is not installed (apt-get install make gcc)") from None
    except subprocess.TimeoutExpired:
        raise BuildError("building the model took more than 300 s") from None
    if proc.returncode != 0:
        raise BuildError(f"building the model failed: {' '.join(cmd)}", proc.stdout + proc.stderr)
    return model_binary(out)


class ModelTarget(Target):
    """Runs cases on the documented-rules model; every result says ``target: model``."""

    name = "model"

    def __init__(self, config=None, *, built: dict | None = None, worker: str = "w0",
                 options: dict | None = None, out_dir: Path | None = None, binary: Path | None = None):
        self._out_dir = out_dir
        self._binary = binary or (Path(built["model"]) if built and "model" in built else None)
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._identity: dict | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def prepare(self) -> None:
        if self._binary is None:
            self._binary = build_model(self._out_dir)
        self._start()

    def _start(self) -> None:
        if self._binary is None or not self._binary.exists():
            self.prepare()
            return
        self._proc = subprocess.Popen(
            [str(self._binary), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, bufsize=0, close_fds=True)

    def close(self) -> None:
        try:
            flush_artefacts()
        finally:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.write(_LEN.pack(0))
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()

    def __del__(self) -> None:  # a forgotten close() must not leave the server behind
        try:
            self._stop()
        except Exception:
            pass

    # The model simulates every restart inside the phase's own request (clfstest_proto.h,
    # CT_REQ_DISK / CT_REQ_POWER_CUT): its logs stay on the model's durable storage between the
    # phases of a case; a power cut or bugcheck drops what was not stable, deterministically from the
    # case's seed; a clean restart keeps everything (the request's cleanup flushed it).
    restarts = frozenset({"power_cut", "bugcheck", "clean"})

    def identity(self) -> dict:
        if self._identity is None:
            digest = ""
            if self._binary and self._binary.exists():
                digest = hashlib.sha256(self._binary.read_bytes()).hexdigest()
            self._identity = {"target": self.name, "model": True, "model_sha256": digest,
                              "protocol_version": wire.PROTO_VERSION}
        return dict(self._identity)

    # -- execution ---------------------------------------------------------------------------

    @classmethod
    def build_shared(cls, config, options: dict | None = None) -> dict[str, str]:
        return {"model": str(build_model())}

    def execute(self, case: Case, artefacts: CaseArtefacts | None = None) -> CaseResult:
        if case.restarts:
            return self._execute_phases(case, artefacts)
        request = encode_request(case, scratch=MODEL_SCRATCH)
        if artefacts is not None:   # in the background: see CaseArtefacts.write_bytes
            artefacts.write_bytes("request.bin", request, wait=False)
        start = time.perf_counter()
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            response = self._exchange(request, case)
        elapsed = time.perf_counter() - start
        if artefacts is not None:
            artefacts.write_bytes("response.bin", response, wait=False)
        result = decode_response(response, case, target=self.name)
        identity = self.identity()
        return CaseResult(target=result.target, steps=result.steps, cleanup=result.cleanup,
                          identity=identity, request=request, response=response, elapsed_s=elapsed,
                          bugcheck=result.bugcheck, bugcheck_step=result.bugcheck_step,
                          stopped=result.stopped)

    def _execute_phases(self, case: Case, artefacts: CaseArtefacts | None) -> CaseResult:
        """A case in phases: one request each to the same server, which keeps the case's logs on its
        durable storage from the first phase's request (CT_REQ_DISK_NEW) to the last. The next
        request without CT_REQ_DISK (any other case) starts from an empty model again."""
        from harness.errors import UsageError
        from harness.targets.phases import PhaseArtefacts, run_phases

        refused = self.refuses(case)
        if refused:
            raise UsageError(refused)

        def run(phase_case: Case, number: int) -> CaseResult:
            return self.execute(phase_case, PhaseArtefacts(artefacts, number) if artefacts is not None else None)

        def restart(how: str) -> None:
            """Nothing to do here: the phase's request ended with the simulated restart."""

        return run_phases(case, run, restart, self.name)

    def run_bytes(self, request: bytes, timeout_s: float = 10.0) -> bytes:
        """Send raw request bytes and return the raw response (tests, fuzz seeds)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            return self._exchange(request, None, timeout_s)

    def _exchange(self, request: bytes, case: Case | None, timeout_s: float | None = None) -> bytes:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + (timeout_s or (case.timeout_s if case else 10.0))
        try:
            proc.stdin.write(_LEN.pack(len(request)) + request)
        except OSError as exc:
            raise self._died(f"writing the request failed: {exc}")
        return self._read_frame(proc, deadline, case)

    def _read_frame(self, proc: subprocess.Popen, deadline: float, case: Case | None) -> bytes:
        """The answer frame's payload. The server writes length and payload with one flush, so
        one read usually brings both: read what is there, not the header and then the rest."""
        fd = proc.stdout.fileno()
        buf, need = bytearray(), 4
        while len(buf) < need:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self._kill()
                what = f"case {case.id}" if case else "request"
                raise GuestTimeout(f"model did not answer {what} in time; server stopped")
            chunk = os.read(fd, max(need - len(buf), 65536))
            if not chunk:
                raise self._died("model server exited")
            buf += chunk
            if need == 4 and len(buf) >= 4:
                (length,) = _LEN.unpack_from(buf)
                if length > wire.response_size(wire.MAX_STEPS):
                    self._kill()
                    raise InfraError(f"model server sent a {length}-byte frame; stopped it")
                need = 4 + length
        if len(buf) > need:   # one request, one answer: anything more is a broken server
            self._kill()
            raise InfraError(f"model server sent {len(buf) - need} bytes after its answer; stopped it")
        return bytes(buf[4:])

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()

    def _died(self, message: str) -> InfraError:
        proc = self._proc
        tail = ""
        if proc is not None:
            proc.kill()
            code = proc.wait()
            try:
                tail = proc.stderr.read(4000).decode("utf-8", "replace").strip() if proc.stderr else ""
            except OSError:
                pass
            message += f" (exit status {code})"
            self._proc = None
        return InfraError(f"{message}{': ' + tail if tail else ''}")
