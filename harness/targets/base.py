"""The one interface the runner calls: a Target executes a Case and returns a CaseResult.

Concrete targets (``model``, ``smoke``, ``windows``) register in ``harness.targets``; the
runner never imports a concrete target directly.

Lifecycle, as the pytest plugin drives it (with or without pytest-xdist):

1. ``cls.check(config, options)``: settings checked before anything costly;
   ``cls.build_shared(config, options)`` once per run, on the controller, before any worker
   starts: builds what every instance shares (the signed driver, a static executor) and
   returns ``name -> path`` strings. Workers never build, so two never race on one output.
2. ``cls(config, built=..., worker=..., options=...)`` once per worker process.
3. ``prepare()`` once (boot, copy tools in), ``execute(case, artefacts)`` per case,
   ``close()`` at the end, always, even after failures.
"""

from __future__ import annotations

import abc
import atexit
import os
import queue
import re
import shutil
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from harness.errors import InfraError
from harness.interrupts import shielded
from harness.protocol.results import CaseResult
from harness.scenario.model import Case



class _BackgroundWriter:
    """Writes artefact files on one thread, in the order given, so a case need not wait for
    the file system: a case folder and two files cost more than the model case itself on a
    busy disk (issue 12: ``clfs-harness run`` on the model at >= 500 cases/s). ``flush()``
    waits for everything given so far; it runs when a target closes and at interpreter exit.
    A write that fails is raised (as InfraError) by the next ``submit`` or ``flush``.
    """

    def __init__(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._error: str | None = None

    def submit(self, path: Path, data: bytes) -> None:
        self._raise_error()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="artefact-writer", daemon=True)
                self._thread.start()
        self._queue.put((path, data))

    def flush(self, timeout: float = 120.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            done = threading.Event()
            self._queue.put(done)
            if not done.wait(timeout):
                raise InfraError(f"artefact files not written after {timeout:g} s (file system stuck?)")
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise InfraError(f"writing an artefact failed: {error}")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            path, data = item
            try:
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
                except FileNotFoundError:   # the case's first file: its folder does not exist yet
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
            except OSError as exc:
                self._error = self._error or f"{path}: {exc.strerror or exc}"


_writer = _BackgroundWriter()


@atexit.register
def _flush_at_exit() -> None:
    try:
        _writer.flush(timeout=30.0)
    except InfraError as exc:
        print(f"clfs-harness: {exc}", file=sys.stderr)


def flush_artefacts() -> None:
    """Wait until every artefact given to ``write_bytes(..., wait=False)`` is on disk.

    Raises:
        InfraError: one could not be written.
    """
    _writer.flush()


class CaseArtefacts:
    """One case's artefact folder: request and response bytes, console slice, screenshot,
    dump, guest logs. Created on first use; ``files()`` lists what was written."""

    def __init__(self, directory: Path, *, hold: bool = False):
        """``hold``: files given with ``wait=False`` stay in memory until ``settle`` says whether
        they are kept (the runner keeps a passing model case's request and response only when
        asked: writing them cost more than the case)."""
        self._dir = Path(directory)
        self._held: dict[str, bytes] | None = {} if hold else None
        self._made = False   # mkdir once per case, not once per file (thousands of cases a second)
        self._queued: set[str] = set()   # given to the background writer
        # Whether anything but the background writer may have put files in the folder (a path
        # or the folder was handed out): only then does files() list the folder, a directory
        # read per case that, with the writer thread busy, cost more than a model case.
        self._shared = False

    @property
    def dir(self) -> Path:
        """The folder (handing it out means files() must look into it)."""
        self._shared = True
        return self._dir

    @classmethod
    def for_case(cls, root: Path, case_id: str, *, hold: bool = False) -> "CaseArtefacts":
        return cls(Path(root) / safe_name(case_id), hold=hold)

    def path(self, name: str) -> Path:
        """Where the artefact ``name`` goes (the folder is created; the file is not)."""
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"artefact name {name!r} must be a plain file name")
        if not self._made:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._made = True
        self._shared = True
        return self._dir / name

    def write_bytes(self, name: str, data: bytes, *, wait: bool = True) -> Path:
        """Write the artefact ``name``. ``wait=False``: hand it to the background writer and
        return at once (on disk by ``flush_artefacts()``, which every target's close runs)."""
        if wait:
            path = self.path(name)
            path.write_bytes(data)
            return path
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"artefact name {name!r} must be a plain file name")
        path = self._dir / name
        if self._held is not None:
            self._held[name] = bytes(data)
            return path
        _writer.submit(path, bytes(data))
        self._queued.add(name)
        return path

    def settle(self, keep: bool) -> None:
        """The held files (see ``hold``) go to the background writer when ``keep``, else are
        dropped; from now on files are written as they come."""
        held, self._held = self._held, None
        if keep and held:
            for name, data in held.items():
                _writer.submit(self._dir / name, data)
                self._queued.add(name)

    def write_text(self, name: str, text: str) -> Path:
        path = self.path(name)
        path.write_text(text, encoding="utf-8")
        return path

    def copy_in(self, source: Path, name: str | None = None) -> Path:
        path = self.path(name or Path(source).name)
        shutil.copyfile(source, path)
        return path

    def files(self) -> list[str]:
        """The artefacts written, and those the background writer has yet to write."""
        if not self._shared:
            return sorted(self._queued)
        try:  # scandir: the entry's type comes with the listing, no stat per file
            with os.scandir(self._dir) as entries:
                found = {entry.name for entry in entries if entry.is_file()}
        except (FileNotFoundError, NotADirectoryError):
            found = set()
        return sorted(found | self._queued)


def safe_name(case_id: str) -> str:
    """A case ID as one directory name: ``a/b.scenario.yaml::x[n=1]`` -> ``a__b.scenario.yaml__x[n=1]``."""
    name = re.sub(r"[^A-Za-z0-9._=,\[\]-]+", "_", case_id.replace("/", "__").replace("::", "__"))
    return name[:200] or "case"


class Target(abc.ABC):
    """A place where scenarios run."""

    name: str = "?"
    # True when instances are VMs: one per worker, placed on a libvirt host by capacity.
    uses_vm: bool = False
    # How this target can restart its guest between a scenario's phases (``restart: {how: ...}``).
    restarts: frozenset[str] = frozenset()
    # True when a case takes well under a millisecond and prints and logs nothing (the model):
    # the runner then leaves out pytest's per-phase plugins, which cost more than such a case.
    quick_cases: bool = False

    def __init__(self, config=None, *, built: dict | None = None, worker: str = "w0",
                 options: dict | None = None):
        self.config, self.built, self.worker = config, dict(built or {}), worker
        self.options = dict(options or {})

    @classmethod
    def check(cls, config, options: dict | None = None) -> None:
        """Cheap checks of the lab's settings for this target, before anything is built or
        booted (an image that is not there). Raises UsageError."""

    @classmethod
    def build_shared(cls, config, options: dict | None = None) -> dict[str, str]:
        """Build once per run, on the controller, what all workers share. Raises BuildError."""
        return {}

    def prepare(self) -> None:
        """Build or boot what the target needs. Raises InfraError or BuildError."""

    @abc.abstractmethod
    def execute(self, case: Case, artefacts: CaseArtefacts | None = None) -> CaseResult:
        """Run one case; write what it produced into ``artefacts`` when given.

        Raises InfraError when the lab broke, ProtocolError on bad bytes, BugcheckDetected
        and GuestTimeout when the guest crashed or hung (artefacts saved before raising).
        """

    def expect(self, cases: Iterable[Case]) -> None:
        """A hint from the runner: these cases come next, in this order (lazily produced; the
        first is the one about to run). A target may start them early; each result is still
        taken with ``execute``, which runs any case, announced or not, in any order."""

    def refuses(self, case: Case) -> str | None:
        """Why this target cannot run ``case`` (a restart it cannot do, a verdict it cannot give
        yet), or None. The runner reports a refusal as a skip with this reason."""
        from harness.targets.phases import refusal
        return refusal(case, self.name, self.restarts)

    def identity(self) -> dict:
        """What distinguishes this target's results (model version, Windows build, image hash)."""
        return {"target": self.name}

    def close(self) -> None:
        """Release everything prepare() and execute() started."""


class VmTarget(Target):
    """What the VM targets share: one guest and its libvirt session per worker, closed
    together, and each case's slice of the guest's serial console."""

    uses_vm = True
    _guest = None
    _session = None
    CONSOLE_LIMIT = 1 << 20   # a case's console slice kept in its folder, at most

    def console_mark(self) -> int:
        """Where the console ends now: ``save_console`` keeps what comes after."""
        try:
            return self._guest.console_log.stat().st_size
        except (AttributeError, OSError):
            return 0

    def save_console(self, artefacts: CaseArtefacts | None, since: int) -> None:
        """``console.log`` in the case's folder: the console written since ``since``."""
        if artefacts is None:
            return
        try:
            with open(self._guest.console_log, "rb") as fh:
                fh.seek(since)
                artefacts.write_bytes("console.log", fh.read(self.CONSOLE_LIMIT))
        except OSError as exc:
            artefacts.write_text("console.log", f"(console unavailable: {exc})\n")

    def execute_phases(self, case: Case, artefacts: CaseArtefacts | None, run_request) -> CaseResult:
        """Run a case in phases (``harness.targets.phases``): ``run_request(case, artefacts)``
        runs one phase's request; between phases the guest restarts on the same disk. After the
        case, the guest goes back to the ready snapshot, whatever happened."""
        from harness.errors import UsageError
        from harness.targets.phases import PhaseArtefacts, note_restart, phase_artefacts, run_phases

        refused = self.refuses(case)
        if refused:
            raise UsageError(refused)

        def run(phase_case: Case, number: int) -> CaseResult:
            return run_request(phase_case, phase_artefacts(artefacts, number))

        restarted = False
        restarts_done: list[str] = []

        def restart(how: str) -> None:
            nonlocal restarted
            number = len(restarts_done) + 2    # the phase this restart starts
            if how == "reopen":                # a new request on the same boot: nothing restarts
                restarts_done.append(how)
                return
            restarted = True
            console_from = self.console_mark()
            planned = crash = None
            if how == "bugcheck":
                planned, crash = self._plan_bugcheck(case, number, artefacts)
            try:
                took = self._guest.restart(how, crash=crash) if crash is not None else self._guest.restart(how)
            finally:
                # The crash, the shutdown and the next boot as the serial console saw them: the
                # evidence of a bugcheck restart (phaseN-restart-console.log, N the phase it starts).
                self.save_console(PhaseArtefacts(artefacts, number, "-restart")
                                  if artefacts is not None else None, console_from)
            restarts_done.append(how)
            verdict = self._check_bugcheck(planned, number, console_from, artefacts) if planned else ""
            note_restart(artefacts, f"{how}: ready again in {took:.2f} s on the same disk{verdict}")

        def cut(phase_case: Case, number: int):
            nonlocal restarted
            restarted = True
            restarts_done.append("power_cut")
            return self._cut_in_flight(phase_case, number, artefacts)

        try:
            return run_phases(case, run, restart, self.name, cut=cut)
        finally:
            # A failure inside a phase has already reverted the guest (VmGuest auto-recovery).
            instance = getattr(self._guest, "instance", None)
            if restarted and instance is not None and not instance.crashed():
                self._guest.recover()

    # ---- restart: {how: power_cut, during: ...} -----------------------------------------------

    def _serve_channel(self) -> tuple[str, str]:
        """(the guest server command a case's request goes to, the scratch directory the request
        names): what a cut in flight sends its request through (targets that serve say)."""
        from harness.errors import UsageError
        raise UsageError(f"target {self.name} cannot cut the power while a request runs")

    def _cut_in_flight(self, case: Case, number: int, case_artefacts: CaseArtefacts | None):
        """Phase ``number``'s request, the power cut while it is in flight (harness.targets.midcut)."""
        import time

        from harness.protocol import decode_response, encode_request, wire
        from harness.protocol.results import describe_cut
        from harness.targets import midcut
        from harness.targets.phases import PhaseArtefacts

        command, scratch = self._serve_channel()
        request = encode_request(case, scratch=scratch)
        artefacts = PhaseArtefacts(case_artefacts, number) if case_artefacts is not None else None
        if artefacts is not None:
            artefacts.write_bytes("request.bin", request)
        console_from = self.console_mark()

        def decode(response: bytes, elapsed: float) -> CaseResult:
            if artefacts is not None:
                artefacts.write_bytes("response.bin", response)
            r = decode_response(response, case, target=self.name)
            return CaseResult(target=r.target, steps=r.steps, cleanup=r.cleanup, identity=self.identity(),
                              request=request, response=response, elapsed_s=elapsed, bugcheck=r.bugcheck,
                              bugcheck_step=r.bugcheck_step, stopped=r.stopped, events=r.events)

        started = time.perf_counter()
        try:
            result, info = midcut.cut_in_flight(self._guest, case, number, command=command, request=request,
                                                max_frame=wire.response_cap(wire.MAX_STEPS), decode=decode)
        finally:
            self.save_console(PhaseArtefacts(case_artefacts, number + 1, "-restart") if case_artefacts is not None
                              else None, console_from)
        if case_artefacts is not None:
            with open(case_artefacts.path("restarts.txt"), "a", encoding="utf-8") as fh:
                fh.write(f"power_cut during {info['during']}: {describe_cut(info)}; ready again in "
                         f"{time.perf_counter() - started:.2f} s on the same disk\n")
        return result, info

    # ---- restart: {how: bugcheck} -------------------------------------------------------------

    def _plan_bugcheck(self, case: Case, phase: int, artefacts: CaseArtefacts | None):
        """The deliberate bugcheck before ``phase`` and what makes the guest raise it."""
        from harness.targets import bugcheck

        planned = bugcheck.plan(case, phase)
        request = bugcheck.request(case, planned, scratch="")   # one step, no strings
        evidence = None
        if artefacts is not None:
            artefacts.write_bytes(f"phase{phase}-bugcheck-request.bin", request)
            evidence = artefacts.dir / f"phase{phase}-bugcheck"
        return planned, self._deliberate_crash(request, evidence)

    def _deliberate_crash(self, request: bytes, evidence_dir: Path | None):
        """The ``DeliberateCrash`` (harness.guest.vmguest) that makes this target's executor run
        ``request``: where the file goes and which command stops the guest."""
        raise InfraError(f"target {self.name} cannot crash its guest on purpose")

    def _bugcheck_witness(self, console: str) -> tuple[int, tuple[int, ...], str] | None:
        """(code, parameters, witness) of the crash the guest just had, or None when nothing
        says; ``console``: the serial console from the crash request on."""
        return None

    def _check_bugcheck(self, planned, phase: int, console_from: int, artefacts: CaseArtefacts | None) -> str:
        """Whether the crash was the one asked for (``bugcheck.verify``), the witness being the dump
        header, crash registers or the executor's console line. Returns a note for restarts.txt.

        Raises:
            BugcheckDetected: the guest stopped with another code or other parameters: something
                else crashed it (the case ends as BUGCHECK, its evidence kept).
        """
        from harness.targets import bugcheck

        dump = getattr(getattr(self._guest, "last_crash", None), "dump", None)
        return bugcheck.verify(planned, self._bugcheck_witness(self.console_since(console_from)), phase,
                               artefacts, dump=dump, target=self.name)

    def console_since(self, mark: int) -> str:
        """The serial console written since ``mark`` (at most CONSOLE_LIMIT bytes)."""
        try:
            with open(self._guest.console_log, "rb") as fh:
                fh.seek(mark)
                return fh.read(self.CONSOLE_LIMIT).decode("utf-8", "replace")
        except (AttributeError, OSError):
            return ""

    def close(self) -> None:
        guest, self._guest = self._guest, None
        session, self._session = self._session, None
        with shielded():        # Ctrl-C or SIGTERM waits until the domain and overlay are gone
            try:
                if session is not None:
                    # Files before domains (QEMU keeps what it has open): a worker killed while
                    # its domain is still going leaves no staged image behind.
                    session.run.remove_staging()
                if guest is not None:
                    guest.close()
            finally:
                if session is not None:
                    session.close()
