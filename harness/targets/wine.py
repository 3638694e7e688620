"""The ``wine`` target: the real signed clfstest.sys and clfsctl.exe under Wine, against the CLFS.SYS
stand-in (driver_src/standin/), which runs the documented-rules model behind the kernel ABI and
checks the kernel contract at every call.

encode -> C:\\clfstest\\request.bin in the worker's prefix -> ``wine clfsctl.exe run`` ->
IOCTL_CLFSTEST_RUN in winedevice.exe -> response.bin -> decode; then the stand-in's events for
the request (C:\\clfs-standin\\events.jsonl): a kernel rule the driver broke becomes a
ContractViolation (outcome CONTRACT), a simulated bugcheck a BugcheckDetected.

These are stand-in results, never Windows': the identity says ``standin`` and what Wine cannot
check (guarded and critical regions are no-ops there, the device DACL is not enforced, nothing
pages). What it does prove: the driver's kernel glue (DriverEntry, the device, IOCTL dispatch,
the real argument passing into CLFS.SYS) works and keeps the kernel's rules.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import struct
import tempfile
import time
from pathlib import Path

from harness.errors import BugcheckDetected, BuildError, GuestTimeout, InfraError
from harness import testpoints
from harness.interrupts import shielded
from harness.protocol import decode_response, encode_request, wire
from harness.protocol.encode import CUT_RESTARTS, phase_header
from harness.protocol.ntstatus import STANDIN_CONTRACT_STATUS
from harness.protocol.results import RAN, CaseResult, ContractViolation
from harness.scenario.model import Case
from harness.scenario.ops import OPS
from harness.targets.base import CaseArtefacts, Target
from harness.targets.model import MODEL_SCRATCH
from harness.targets.winesession import (CLIENT_DIR, EVENTS_DIR, WineSession, copy_prefix, kill_wineserver,
                                         make_template, power_off_prefix, wine_binary, wine_version)

log = logging.getLogger("harness.targets")

NOT_CHECKED = ("Not checked under Wine: guarded and critical regions (no-ops there), the device DACL "
               "(not enforced), paging (none).")
# clfsctl.exe exit codes after which the session is gone (driver not loaded, or the IOCTL failed
# because winedevice.exe ended): restart before the next case.
# (wire.CLFSCTL_EXIT: 1 DeviceIoControl failed, 3 driver not loaded, 4 access denied: what Wine answers
# once winedevice.exe has gone.)
_SESSION_LOST = (1, 3, 4)
_TEMPLATE_MAX_AGE_S = 12 * 3600
# The stand-in's phase side channel and durable storage, in C:\clfs-standin (standin.h).
PHASE_FILE = "phase"
DISK_FILE = "model.disk"
_PHASE = struct.Struct("<IIII")   # flags, cut_seed, the cut burst's step (1-based) and max_records
_WITNESS_WAIT_S = 5.0


class WineTarget(Target):
    """Runs each case through the real driver and client under Wine; one session per worker."""

    name = "wine"

    def __init__(self, config=None, *, built: dict | None = None, worker: str = "w0",
                 options: dict | None = None):
        from harness.config import LabConfig

        super().__init__(config or LabConfig.from_env(), built=built, worker=worker, options=options)
        self._prefix: Path | None = None
        self._session: WineSession | None = None
        self._events_offset = 0
        self._identity: dict | None = None

    # -- run-wide ------------------------------------------------------------------------------

    # Phases (restart: {how: ...}): each phase's request runs as any request; between phases the
    # Wine session restarts for real. power_cut: every process of the prefix gets SIGKILL (no unload,
    # nothing more written); bugcheck: the driver calls KeBugCheckEx with the harness's code, Wine
    # ends winedevice.exe (its ERR line is the witness), then the rest of the session goes as in a
    # power cut; clean: sc stop (DriverUnload), then an orderly end. What survives a cut is the
    # stand-in's model's decision, from the phase's cut seed, exactly as on the model target: the
    # stand-in learns the phase's flags and seed through a file only Wine has, and keeps its
    # durable storage in another (driver_src/standin/adapter.c, "the phases of one case"). reopen: a new
    # request in the same session, nothing restarted. A cut during a burst (power_cut, during:
    # append_burst): the stand-in's model fails the power before the burst record its seed chooses
    # (the model target's choice, ct_model_burst_cut_at), writes its disk and never returns; the target
    # kills the session on the stand-in's event, so the answer is lost as with a real power (_cut).
    restarts = frozenset({"power_cut", "bugcheck", "clean", "reopen"})

    @classmethod
    def check(cls, config, options: dict | None = None) -> None:
        from harness.errors import UsageError

        if wine_binary() is None:
            raise UsageError("the wine target needs Wine: apt-get install wine wine64 (bash .ci/setup)")

    @classmethod
    def build_shared(cls, config, options: dict | None = None) -> dict[str, str]:
        """The signed driver and client, the stand-in, and the run's template prefix."""
        from harness.driver.build import build_driver

        art = build_driver(config)
        standin = art.standin
        root = Path(config.run_dir).resolve() / "wine"
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_templates(root)
        template = Path(tempfile.mkdtemp(prefix="template-", dir=root)) / "prefix"
        try:
            make_template(template, driver=art.sys, standin=standin, client=art.client)
        except InfraError as exc:
            raise BuildError(f"making the Wine prefix failed: {exc}") from None
        return {"driver": str(art.sys), "client": str(art.client), "standin": str(standin),
                "template": str(template)}

    # -- per worker ----------------------------------------------------------------------------

    def prepare(self) -> None:
        if not self.built:
            self.built = self.build_shared(self.config, self.options)
        template = Path(self.built["template"])
        self._prefix = Path(tempfile.mkdtemp(prefix=f"{self.worker}-", dir=template.parent.parent)) / "prefix"
        copy_prefix(template, self._prefix)
        # The stand-in this worker was given (a test's deliberate-fault build differs from the template's).
        shutil.copyfile(self.built["standin"], self._prefix / "drive_c" / "windows" / "system32" / "drivers" / "clfs.sys")
        self._session = WineSession(self._prefix, self._prefix.parent / "wine-session.log")
        self._start()
        driver = Path(self.built["driver"]).read_bytes()
        standin = Path(self.built["standin"]).read_bytes()
        self._identity = {
            "target": self.name, "model": True, "standin": True, "wine_version": wine_version(),
            "driver_sha256": hashlib.sha256(driver).hexdigest(),
            "standin_sha256": hashlib.sha256(standin).hexdigest(),
            "protocol_version": wire.PROTO_VERSION, "not_checked": NOT_CHECKED,
            "wine_start_s": round(self._session.started_s or 0.0, 3),
        }

    def _start(self) -> None:
        self._session.start()
        self._events_offset = self._events_path().stat().st_size if self._events_path().exists() else 0

    def identity(self) -> dict:
        if self._identity is None:
            return {"target": self.name, "standin": True}
        ident = dict(self._identity)
        # wine-<wine version>-standin-<sha> names what ran. Baselines are the model's ("model": True,
        # like smoke): the same rules, and the differential test holds the two equal step by step.
        ident["name"] = f"wine-{ident['wine_version']}-standin-{ident['standin_sha256'][:12]}"
        return ident

    def close(self) -> None:
        """The session (restarted or not) and the prefix go; Ctrl-C or SIGTERM waits until they have."""
        with shielded():
            session, self._session = self._session, None
            if session is not None:
                session.stop()
            if self._prefix is not None:
                kill_wineserver(self._prefix)
                power_off_prefix(self._prefix)   # whatever an interrupted restart left of the prefix's processes
                shutil.rmtree(self._prefix.parent, ignore_errors=True)
                self._prefix = None

    # -- a case ----------------------------------------------------------------------------------

    def _events_path(self) -> Path:
        return self._prefix / "drive_c" / EVENTS_DIR / "events.jsonl"

    def _io(self, name: str) -> Path:
        return self._prefix / "drive_c" / CLIENT_DIR / name

    def _stand_in_file(self, name: str) -> Path:
        return self._prefix / "drive_c" / EVENTS_DIR / name

    def _write_phase(self, flags: int, cut_seed: int, cut_step: int = 0, cut_max: int = 0) -> None:
        """The side channel (standin.h CT_STANDIN_PHASE_W): the phase flags and cut seed of the
        request about to go, which the driver passes nowhere (Windows has a real disk), and for a cut
        during a burst the burst's step in the request and its max_records."""
        self._stand_in_file(PHASE_FILE).write_bytes(_PHASE.pack(flags, cut_seed, cut_step, cut_max))

    def _forget_phases(self) -> None:
        """After a phased case: no phase file (the next request is an ordinary one) and no disk."""
        if self._prefix is not None:
            for name in (PHASE_FILE, DISK_FILE, DISK_FILE + ".tmp"):
                self._stand_in_file(name).unlink(missing_ok=True)

    def execute(self, case: Case, artefacts: CaseArtefacts | None = None) -> CaseResult:
        if self._session is None:
            self.prepare()
        if case.restarts:
            return self._execute_phases(case, artefacts)
        return self._execute_request(case, artefacts)

    def _execute_phases(self, case: Case, artefacts: CaseArtefacts | None) -> CaseResult:
        """A case in phases (``harness.targets.phases``), the session restarted between them."""
        from harness.errors import UsageError
        from harness.targets.phases import note_restart, phase_artefacts, run_phases

        refused = self.refuses(case)
        if refused:
            raise UsageError(refused)
        restarts_done: list[str] = []

        def run(phase_case: Case, number: int) -> CaseResult:
            return self._execute_request(phase_case, phase_artefacts(artefacts, number))

        def restart(how: str) -> None:
            number = len(restarts_done) + 2    # the phase this restart starts
            if how == "reopen":                # a new request in the same session: nothing restarts
                restarts_done.append(how)
                note_restart(artefacts, "reopen: a new request in the same Wine session, nothing restarted")
                return
            took, note = self._restart(case, how, number, artefacts)
            restarts_done.append(how)
            kept = ("what survived: the stand-in's model's simulated cut, from the phase's cut seed"
                    if how in CUT_RESTARTS else "the stand-in's disk kept whole")
            note_restart(artefacts, f"{how}: Wine session ready again in {took:.2f} s; {kept}{note}")

        def cut(phase_case: Case, number: int):
            restarts_done.append("power_cut")
            return self._cut_in_flight(phase_case, number, artefacts)

        try:
            return run_phases(case, run, restart, self.name, cut=cut)
        finally:
            self._forget_phases()

    def _cut_in_flight(self, case: Case, number: int, case_artefacts: CaseArtefacts | None) -> tuple[None, dict]:
        """restart: {how: power_cut, during: append_burst} after phase ``number``: its request goes with
        the cut armed in the stand-in, which fails the power before the burst record the model's seed
        chooses and stops answering; on its ``power-cut`` event every process of the prefix is killed
        and a new session starts on the same files. The answer is lost (as with a real power cut:
        ``request_ended`` False); the cut point is the model's, so ``simulated`` (no time was chosen).

        Raises:
            InfraError: the request ended without the stand-in's cut (it ignored the phase file), or
                the session did not come back.
        """
        from harness.protocol.results import describe_cut
        from harness.targets.phases import PhaseArtefacts, note_restart

        if not self._session.running:
            self._start()
        burst = case.steps[-1]
        flags, seed = phase_header(case)
        self._write_phase(flags, seed, len(case.steps), _arg(burst, "max_records"))
        request = encode_request(case, scratch=MODEL_SCRATCH)
        artefacts = PhaseArtefacts(case_artefacts, number) if case_artefacts is not None else None
        if artefacts is not None:
            artefacts.write_bytes("request.bin", request)
        self._io("request.bin").write_bytes(request)
        self._io("response.bin").unlink(missing_ok=True)
        events: list[dict] = []

        def power_cut() -> bool:
            events.extend(self._read_events())
            return any(e.get("event") == "power-cut" for e in events)

        log_from = self._session.log_size()
        started = time.perf_counter()
        ran = self._session.client_until_cut(["run", f"C:\\{CLIENT_DIR}\\request.bin",
                                              f"C:\\{CLIENT_DIR}\\response.bin"],
                                             timeout=max(case.timeout_s, 1.0) + 10.0, cut=power_cut)
        events.extend(self._read_events())
        if artefacts is not None and events:
            artefacts.write_text("standin-events.jsonl", "".join(json.dumps(e) + "\n" for e in events))
        if ran is not None:
            self._keep_session_log(artefacts, log_from, ran)
            self._session.stop(power_off=True)
            raise InfraError(f"{case.id}: phase {number}'s power was to fail inside {burst.op}, but clfsctl "
                             f"ended (exit {ran.returncode}) without the stand-in's power-cut event: the "
                             "stand-in did not arm the cut (phase file ignored?)")
        cut_event = next(e for e in events if e.get("event") == "power-cut")
        restarted = time.perf_counter()
        self._start_again(case, number + 1, f"the power cut during {burst.op}")
        # simulated: the cut point is the model's record, not a time; cut_ms is when the session was
        # really killed (the stand-in's event seen), for the phase's elapsed time.
        info = {"during": burst.op, "simulated": True, "simulated_by": "the stand-in's model on wine",
                "cut_ms": round((restarted - started) * 1000.0, 1),
                "request_ended": False,
                "restart_s": round(time.perf_counter() - restarted, 3),
                "appended_before_cut": int(cut_event.get("appended", 0))}
        if case_artefacts is not None:
            note_restart(case_artefacts, f"power_cut during {burst.op}: {describe_cut(info)} (the stand-in's "
                                         f"model, seed-chosen record; the Wine session killed "
                                         f"{info['cut_ms']:.0f} ms after the request was sent, "
                                         f"its answer lost); Wine session ready again in {info['restart_s']:.2f} s")
        return None, info

    def _restart(self, case: Case, how: str, number: int, artefacts: CaseArtefacts | None) -> tuple[float, str]:
        """Restart the session before phase ``number``; returns (seconds, note for restarts.txt).

        Raises:
            InfraError: the session did not come back (names the case and the phase).
            BugcheckDetected: a bugcheck restart stopped with another code or other parameters.
        """
        started = time.perf_counter()
        note = ""
        if how == "bugcheck":
            note = self._deliberate_bugcheck(case, number, artefacts)
            self._session.stop(power_off=True)        # winedevice.exe is gone; the rest goes as in a cut
        elif how == "power_cut":
            self._session.stop(power_off=True)
        else:
            if not self._session.stop_driver():
                note = "; sc stop failed, the session was ended without DriverUnload"
            self._session.stop()
        self._start_again(case, number, f"restart: {{how: {how}}}")
        return time.perf_counter() - started, note

    def _start_again(self, case: Case, number: int, after: str) -> None:
        """A new session for phase ``number`` after the old one ended (``after`` says how).

        Raises:
            InfraError: the session did not come back (names the case and the phase).
        """
        try:
            self._start()
        except (InfraError, GuestTimeout) as first:
            # Once more from nothing: every process of the prefix killed, the server gone. A
            # session that still does not come back is the error (it names the case and phase).
            log.warning("%s: the Wine session did not come back for phase %d after %s (%s); "
                        "killing the prefix's processes and starting once more", case.id, number, after, first)
            self._session.stop(power_off=True)
            try:
                self._start()
            except (InfraError, GuestTimeout) as exc:
                raise InfraError(f"{case.id}: the Wine session did not come back for phase {number} after "
                                 f"{after}, twice: {exc}") from None
        testpoints.reached("restart")

    def _deliberate_bugcheck(self, case: Case, number: int, artefacts: CaseArtefacts | None) -> str:
        """restart: {how: bugcheck}: the harness's bugcheck request (harness.targets.bugcheck) through
        the real driver, which calls KeBugCheckEx. Wine 8's KeBugCheckEx (dlls/ntoskrnl.exe) logs
        ``err:ntoskrnl:KeBugCheckEx`` with the code and the four parameters and winedevice.exe ends
        (observed: bugcheck.from_wine_log): that line, in the session log, is the witness that the
        stop was ours."""
        from harness.targets import bugcheck

        planned = bugcheck.plan(case, number)
        request = bugcheck.request(case, planned, scratch="")
        if artefacts is not None:
            artefacts.write_bytes(f"phase{number}-bugcheck-request.bin", request)
        self._write_phase(0, 0)   # not a phase's request: the stand-in leaves its disk alone
        self._io("request.bin").write_bytes(request)
        log_from = self._session.log_size()
        ran = self._session.client(["run", f"C:\\{CLIENT_DIR}\\request.bin", f"C:\\{CLIENT_DIR}\\response.bin"],
                                   timeout=max(case.timeout_s, 1.0) + 10.0)
        if ran.returncode == 0:
            raise InfraError(f"{case.id}: restart: {{how: bugcheck}} before phase {number}: the driver answered "
                             "the bugcheck request instead of stopping")
        # clfsctl can see its IOCTL fail before winedevice.exe's last words reach the log.
        deadline = time.monotonic() + _WITNESS_WAIT_S
        while (seen := bugcheck.from_wine_log(self._session.log_since(log_from))) is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return bugcheck.verify(planned, seen, number, artefacts, target=self.name)

    def _execute_request(self, case: Case, artefacts: CaseArtefacts | None = None) -> CaseResult:
        if not self._session.running:
            self._start()
        if case.role is not None:
            self._write_phase(*phase_header(case))
        request = encode_request(case, scratch=MODEL_SCRATCH)
        if artefacts is not None:
            artefacts.write_bytes("request.bin", request)
        req, resp = self._io("request.bin"), self._io("response.bin")
        req.write_bytes(request)
        resp.unlink(missing_ok=True)
        log_from = self._session.log_size()
        start = time.perf_counter()
        ran = self._session.client(["run", f"C:\\{CLIENT_DIR}\\request.bin", f"C:\\{CLIENT_DIR}\\response.bin"],
                                   timeout=max(case.timeout_s, 1.0) + 10.0)
        elapsed = time.perf_counter() - start
        events = self._read_events()
        if artefacts is not None and events:
            artefacts.write_text("standin-events.jsonl", "".join(json.dumps(e) + "\n" for e in events))
        bugcheck = next((e for e in events if e.get("event") == "bugcheck"), None)
        if ran.returncode != 0:
            self._keep_session_log(artefacts, log_from, ran)
            self._session.stop()   # the driver is gone (bugcheck, crash) or unreachable: restart next time
            if bugcheck is not None:
                step = _bugcheck_step(case, bugcheck)
                raise BugcheckDetected(f"the stand-in stopped the system in {bugcheck.get('routine')} at IRQL "
                                       f"{bugcheck.get('irql')} (step {step}): bugcheck 0x{bugcheck['code']:X} "
                                       "(simulated under Wine)", code=int(bugcheck["code"]))
            if ran.returncode in _SESSION_LOST:
                raise BugcheckDetected(f"winedevice.exe ended while running {case.id} (clfsctl exit "
                                       f"{ran.returncode}: {ran.stderr.strip()[-300:]}); Wine's backtrace, if "
                                       "any, is in wine-session.log", code=None)
            raise InfraError(f"clfsctl.exe exited {ran.returncode} under Wine for {case.id}: "
                             f"{ran.stderr.strip()[-500:]}")
        try:
            response = resp.read_bytes()
        except OSError as exc:
            raise InfraError(f"clfsctl.exe wrote no response under Wine: {exc}") from None
        if artefacts is not None:
            artefacts.write_bytes("response.bin", response)
        result = decode_response(response, case, target=self.name)
        return CaseResult(target=result.target, steps=result.steps, cleanup=result.cleanup,
                          identity=self.identity(), request=request, response=response, elapsed_s=elapsed,
                          bugcheck=result.bugcheck, bugcheck_step=result.bugcheck_step, stopped=result.stopped,
                          contract=_violations(events, result.steps), events=result.events)

    def _read_events(self) -> list[dict]:
        path = self._events_path()
        try:
            with open(path, "rb") as fh:
                fh.seek(self._events_offset)
                data = fh.read()
        except OSError:
            return []
        self._events_offset += len(data)
        events = []
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                events.append({"event": "unreadable", "line": line[:500]})
        return events

    def _keep_session_log(self, artefacts: CaseArtefacts | None, since: int, ran) -> None:
        if artefacts is None:
            return
        text = self._session.log_since(since)
        artefacts.write_text("wine-session.log", f"clfsctl exit {ran.returncode}\n--- clfsctl stderr\n{ran.stderr}"
                                                 f"\n--- Wine session log (backtraces land here)\n{text}")


def _violations(events: list[dict], steps) -> tuple[ContractViolation, ...]:
    """The request's contract events as violations, each tied to its step: the k-th violation
    raised by a call matches the k-th step whose status is the stand-in's contract status (the
    driver records it like any status); the rest happened in the driver's end-of-request cleanup."""
    flagged = [s.index for s in steps if s.disposition == RAN and s.status == STANDIN_CONTRACT_STATUS]
    out = []
    for event in events:
        if event.get("event") != "contract":
            continue
        step = flagged.pop(0) if event.get("call") and flagged else None
        out.append(ContractViolation(rule=str(event.get("rule", "?")), routine=str(event.get("routine", "?")),
                                     argument=str(event.get("argument", "?")), value=str(event.get("value", "")),
                                     step=step, requires=str(event.get("requires", "")),
                                     source=str(event.get("source", ""))))
    for index in flagged:   # a contract status with no event: never silently a CLFS status
        out.append(ContractViolation("unreported", "?", "?", "", index,
                                     "the stand-in returned its contract status without an event"))
    return tuple(out)


def _arg(step, name: str) -> int:
    """A step's argument as the request carries it (its default when the scenario left it out)."""
    if name in step.args:
        return int(step.args[name])
    return int(next(p.default for p in OPS[step.op].params if p.name == name))


def _bugcheck_step(case: Case, event: dict) -> int | None:
    """The step whose call stopped the system: the first step calling the event's routine in a
    context above APC_LEVEL (the only way the driver raises the IRQL that far)."""
    routine = event.get("routine")
    for step in case.steps:
        if step.context == "dispatch" and routine in OPS[step.op].routines:
            return step.index
    return None


def _remove_stale_templates(root: Path) -> None:
    """Prefixes of earlier runs (a template is about 700 MB) older than half a day."""
    now = time.time()
    for old in root.iterdir():   # template-* and worker copies a killed run left behind
        try:
            if now - old.stat().st_mtime > _TEMPLATE_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
