"""The ``model`` target: the driver's own interpreter with the documented-rules model, on the host.

One ``clfstest-model --serve`` process per target, spoken to with length-prefixed frames on its
stdin/stdout. Why a server and not ctypes: a crash in the C code (the thing under test) kills
that process, not the harness, and shows up as an error naming the case; why not a process per
case: start-up would cost more than the case itself (the goal is >= 2,000 cases/s end to end).
The server ends when its stdin closes, so it cannot outlive the harness; ``close()`` also
waits for it and kills it if it does not go.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import select
import struct
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.errors import BuildError, GuestTimeout, HarnessError, InfraError
from harness.protocol import decode_response, encode_request, wire
from harness.protocol.results import CaseResult
from harness.scenario.model import Case
from harness.targets.base import CaseArtefacts, Target, flush_artefacts

SOURCE_DIR = Path(__file__).resolve().parents[2] / "driver_src"
# The scratch directory the model pretends the guest has; only a string for the model.
MODEL_SCRATCH = "C:\\clfstest\\scratch"
_LEN = struct.Struct("<I")
_PIPE_BYTES = 16384    # the least a pipe holds where its size cannot be asked (Linux: 65536)


def _pipe_size(stream) -> int:
    try:
        return fcntl.fcntl(stream.fileno(), fcntl.F_GETPIPE_SZ)
    except (AttributeError, OSError):
        return _PIPE_BYTES


class _Frame:
    """One request on its way: its case's key (None for raw bytes), the bytes, the largest
    answer it can get, and its deadline in seconds."""

    __slots__ = ("key", "request", "answer_max", "timeout_s", "case", "sent_at")

    def __init__(self, key: str | None, request: bytes, answer_max: int, timeout_s: float, case: Case | None):
        self.key, self.request, self.answer_max, self.timeout_s, self.case = key, request, answer_max, timeout_s, case
        self.sent_at = 0.0


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
    quick_cases = True   # a case is ~0.3 ms and the C side's words go to a pipe (harness/quick_protocol.py)
    WINDOW_CASES = 32    # cases in flight at most (fewer when their bytes would not fit a pipe)

    def __init__(self, config=None, *, built: dict | None = None, worker: str = "w0",
                 options: dict | None = None, out_dir: Path | None = None, binary: Path | None = None):
        self._out_dir = out_dir
        self._binary = binary or (Path(built["model"]) if built and "model" in built else None)
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._identity: dict | None = None
        # The pipeline (see expect): cases encoded but not sent, sent but not answered, answered
        # but not yet taken by their execute(); bytes read past the last answer.
        self._upcoming: Iterator[Case] | None = None
        self._waiting: deque[_Frame] = deque()
        self._sent: deque[_Frame] = deque()
        self._pending: dict[str, _Frame] = {}
        self._answers: dict[str, tuple] = {}
        self._rbuf = bytearray()
        self._in_phases = False   # a case in phases owns the server (see _execute_phases)
        self._last_answer = 0.0
        self._pipe_bytes = _PIPE_BYTES

    # -- lifecycle ---------------------------------------------------------------------------

    def prepare(self) -> None:
        if self._binary is None:
            self._binary = build_model(self._out_dir)
        self._start()

    def _start(self) -> None:
        if self._binary is None or not self._binary.exists():
            self.prepare()
            return
        self._rbuf.clear()
        self._proc = subprocess.Popen(
            [str(self._binary), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, bufsize=0, close_fds=True)
        self._pipe_bytes = min(_pipe_size(self._proc.stdin), _pipe_size(self._proc.stdout))

    def close(self) -> None:
        try:
            flush_artefacts()
        finally:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        self._upcoming = None
        for kept in (self._waiting, self._sent, self._pending, self._answers, self._rbuf):
            kept.clear()
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
    restarts = frozenset({"power_cut", "bugcheck", "clean", "reopen"})

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

    def expect(self, cases: Iterable[Case]) -> None:
        """The runner's plan: these cases come next, in this order. They are encoded and sent
        ahead, a window at a time, so the server works on the next cases while this process
        judges the last one, and one write and one read carry several cases. Each answer is
        still read in order and belongs to its own case: a crash or hang of the server is the
        error of the case it was working on; the cases sent after it go to a new server."""
        with self._lock:
            self._upcoming = iter(cases)

    def execute(self, case: Case, artefacts: CaseArtefacts | None = None) -> CaseResult:
        if case.restarts:
            return self._execute_phases(case, artefacts)
        with self._lock:
            request, response, elapsed = self._answer_for(case)
        if artefacts is not None:   # in the background: see CaseArtefacts.write_bytes
            artefacts.write_bytes("request.bin", request, wait=False)
            artefacts.write_bytes("response.bin", response, wait=False)
        result = decode_response(response, case, target=self.name)
        identity = self.identity()
        return CaseResult(target=result.target, steps=result.steps, cleanup=result.cleanup,
                          identity=identity, request=request, response=response, elapsed_s=elapsed,
                          bugcheck=result.bugcheck, bugcheck_step=result.bugcheck_step,
                          stopped=result.stopped, events=result.events)

    def _execute_phases(self, case: Case, artefacts: CaseArtefacts | None) -> CaseResult:
        """A case in phases: one request each to the same server, which keeps the case's logs on its
        durable storage from the first phase's request (CT_REQ_DISK_NEW) to the last. The next
        request without CT_REQ_DISK (any other case) starts from an empty model again."""
        from harness.errors import UsageError
        from harness.targets.phases import phase_artefacts, run_phases

        refused = self.refuses(case)
        if refused:
            raise UsageError(refused)
        # The phases' requests go to the server one by one with nothing between them: a request of
        # another case (one sent ahead) would start from an empty model and wipe the phases' disk.
        with self._lock:
            self._drain()
            self._in_phases = True

        def run(phase_case: Case, number: int) -> CaseResult:
            return self.execute(phase_case, phase_artefacts(artefacts, number))

        def restart(how: str) -> None:
            """Nothing to do here: the phase's request ended with the simulated restart."""

        try:
            return run_phases(case, run, restart, self.name)
        finally:
            with self._lock:
                self._in_phases = False

    def run_bytes(self, request: bytes, timeout_s: float = 10.0) -> bytes:
        """Send raw request bytes and return the raw response (tests, fuzz seeds)."""
        with self._lock:
            self._drain()
            frame = _Frame(None, request, wire.response_cap(wire.MAX_STEPS), timeout_s, None)
            self._waiting.appendleft(frame)
            self._send()
            return self._read_answer(self._sent.popleft())[0]

    # -- the pipeline --------------------------------------------------------------------------

    def _answer_for(self, case: Case) -> tuple[bytes, bytes, float]:
        """(request, response, seconds the server took) of ``case``, sent ahead or now."""
        key = case.id
        while True:
            answer = self._answers.pop(key, None)
            if answer is not None:
                frame, response, elapsed = answer
                if isinstance(response, BaseException):
                    raise response
                return frame.request, response, elapsed
            if key not in self._pending:   # not hinted (or a retry): it goes next
                frame = _Frame(key, encode_request(case, scratch=MODEL_SCRATCH),
                               wire.response_cap(len(case.steps)), case.timeout_s, case)
                self._waiting.appendleft(frame)
                self._pending[key] = frame
            self._send()
            head = self._sent.popleft()
            try:
                response, elapsed = self._read_answer(head)
            except (InfraError, GuestTimeout) as exc:
                # The server is gone: what it did not answer goes again, to a new one.
                self._waiting.extendleft(reversed(self._sent))
                self._sent.clear()
                response, elapsed = exc, 0.0
            self._pending.pop(head.key, None)
            self._answers[head.key] = (head, response, elapsed)

    def _drain(self) -> None:
        """Read every answer on its way (kept for its case), so the pipe is empty."""
        while self._sent:
            head = self._sent.popleft()
            try:
                answer = (head, *self._read_answer(head))
            except (InfraError, GuestTimeout) as exc:
                self._waiting.extendleft(reversed(self._sent))
                self._sent.clear()
                answer = (head, exc, 0.0)
            self._pending.pop(head.key, None)
            self._answers[head.key] = answer

    def _send(self) -> None:
        """Send waiting and hinted cases while the window allows; at least one when none is out.

        The window keeps what is in flight, requests and the largest answers they can get,
        within one pipe's buffer: then neither side ever blocks writing while the other
        waits, and a hung server cannot block a write (its deadline is read's)."""
        if len(self._sent) > self.WINDOW_CASES // 2:
            return   # refilled by halves: one write (and one wake-up of the server) per many cases
        if not self._sent and (self._proc is None or self._proc.poll() is not None):
            self._start()
        frames, request_bytes, answer_bytes = [], self._request_bytes(), self._answer_bytes()
        while len(self._sent) + len(frames) < (1 if self._in_phases else self.WINDOW_CASES):
            frame = self._next_frame()
            if frame is None:
                break
            if (self._sent or frames) and (request_bytes + len(frame.request) + _LEN.size > self._pipe_bytes
                                           or answer_bytes + frame.answer_max + _LEN.size > self._pipe_bytes):
                self._waiting.appendleft(frame)
                break
            frames.append(frame)
            request_bytes += len(frame.request) + _LEN.size
            answer_bytes += frame.answer_max + _LEN.size
        if not frames:
            return
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        now = time.perf_counter()
        for frame in frames:
            frame.sent_at = now
        self._sent.extend(frames)
        data = memoryview(b"".join(_LEN.pack(len(f.request)) + f.request for f in frames))
        try:
            while data:
                data = data[proc.stdin.write(data):]
        except OSError:
            # The server is gone. What it answered before is still in its pipe; reading finds
            # that, then the end, which is the error of the first case it did not answer.
            pass

    def _next_frame(self) -> _Frame | None:
        if self._waiting:
            return self._waiting.popleft()
        while self._upcoming is not None and not self._in_phases:
            case = next(self._upcoming, None)
            if case is None:
                self._upcoming = None
                break
            if case.id in self._pending or case.id in self._answers:
                continue
            try:
                request = encode_request(case, scratch=MODEL_SCRATCH)
            except HarnessError:
                continue   # its own execute() raises it, at its turn
            frame = _Frame(case.id, request, wire.response_cap(len(case.steps)), case.timeout_s, case)
            self._pending[case.id] = frame
            return frame
        return None

    def _request_bytes(self) -> int:
        return sum(len(f.request) + _LEN.size for f in self._sent)

    def _answer_bytes(self) -> int:
        return sum(f.answer_max + _LEN.size for f in self._sent)

    def _read_answer(self, frame: _Frame) -> tuple[bytes, float]:
        """The answer to ``frame`` (the oldest in flight) and how long the server took for it."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        started = max(frame.sent_at, self._last_answer)
        response = self._read_frame(proc, time.monotonic() + frame.timeout_s, frame.case)
        self._last_answer = time.perf_counter()
        return response, self._last_answer - started

    def _read_frame(self, proc: subprocess.Popen, deadline: float, case: Case | None) -> bytes:
        """The next answer frame's payload. Answers to cases sent ahead arrive together: what
        one read brings beyond this frame stays in the buffer for the next."""
        fd = proc.stdout.fileno()
        buf, length = self._rbuf, None
        while True:
            if length is None and len(buf) >= 4:
                (length,) = _LEN.unpack_from(buf)
                if length > wire.response_cap(wire.MAX_STEPS):
                    self._kill()
                    raise InfraError(f"model server sent a {length}-byte frame; stopped it")
            if length is not None and len(buf) >= 4 + length:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self._kill()
                what = f"case {case.id}" if case else "request"
                raise GuestTimeout(f"model did not answer {what} in time; server stopped")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self._died("model server exited")
            buf += chunk
        need = 4 + length
        payload = bytes(buf[4:need])
        del buf[:need]
        if buf and not self._sent:   # one request, one answer: anything more is a broken server
            extra = len(buf)
            self._kill()
            raise InfraError(f"model server sent {extra} bytes after its answer; stopped it")
        return payload

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self._rbuf.clear()
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
        self._rbuf.clear()
        return InfraError(f"{message}{': ' + tail if tail else ''}")
