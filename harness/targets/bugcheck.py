"""``restart: {how: bugcheck}``: the request that stops the guest on purpose, and the proof that
the crash which followed was that one.

Every target that crashes its guest does it the same way: after the phase's own request has
finished (its step results, saved values included, are already on the host), it sends one more
request whose only step is the internal ``bugcheck`` op (``harness.scenario.ops.INTERNAL_OPS``),
through the same executor as every request. On Windows, clfstest.sys calls KeBugCheckEx with the
harness's own code; on the smoke guest, the model executor (started with ``--crash-trigger``)
panics the kernel with sysrq ``c``. No scenario can send the op: the checker does not know it,
the encoder refuses it unless asked here, and the driver refuses it without the request flag.

The crash carries the case's payload seed, the phase the restart starts and a nonce drawn for
this restart, so evidence left by another crash (an old MEMORY.DMP, a panic of some other
cause) is told apart: the dump header (Windows) or the executor's line on the serial console
(smoke) must name exactly these four parameters.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from harness.protocol import wire
from harness.protocol.encode import encode_request, payload_seed
from harness.scenario.model import Case, Expectation, SourceLoc, Step


@dataclass(frozen=True)
class DeliberateBugcheck:
    """One restart by bugcheck: what the driver is asked to raise."""

    seed: int          # the case's payload seed (BugCheckParameter2)
    phase: int         # the phase the restart starts (BugCheckParameter3)
    nonce: int         # drawn for this restart (BugCheckParameter4)

    code = wire.HARNESS_BUGCHECK

    @property
    def parameters(self) -> tuple[int, int, int, int]:
        return (wire.BUGCHECK_TAG, self.seed, self.phase, self.nonce)

    def console_line(self) -> str:
        """The line the smoke executor writes to the kernel log before it panics the guest
        (driver_src/model/main.c, deliberate_crash)."""
        shown = ", ".join(f"0x{p:X}" for p in self.parameters)
        return f"clfstest: deliberate bugcheck 0x{self.code:08X} ({shown})"

    def describe(self) -> str:
        return f"0x{self.code:08X} ({', '.join(f'0x{p:X}' for p in self.parameters)})"

    def to_json(self) -> dict:
        return {"code": f"0x{self.code:08X}", "parameters": [f"0x{p:X}" for p in self.parameters]}


def plan(case: Case, phase: int, nonce: int | None = None) -> DeliberateBugcheck:
    """The bugcheck that ends the phase before ``phase`` of ``case`` (the whole case, whose
    payload seed the records of every phase carry)."""
    return DeliberateBugcheck(seed=payload_seed(case), phase=phase,
                              nonce=secrets.randbits(63) if nonce is None else nonce)


def _one_step(case: Case, bugcheck: DeliberateBugcheck) -> Case:
    """The bugcheck request as a case of one step, with ``case``'s id: its name and matrix values
    give the payload seed, which the encoder puts in the seed arg (so it equals ``bugcheck.seed``)."""
    loc = SourceLoc(case.loc.file, case.loc.line, case.loc.col)
    step = Step(index=1, op="bugcheck", args={"phase": bugcheck.phase, "nonce": bugcheck.nonce},
                context="passive", expect=Expectation(status="any"), save={}, stop_on_failure=True, loc=loc)
    return Case(id=case.id, file=case.file, scenario=case.scenario, params=case.params,
                description="deliberate bugcheck", tags=(), steps=(step,), expect_bugcheck=None,
                timeout_s=case.timeout_s, requires=case.requires, skip_targets=frozenset(), loc=loc)


def request(case: Case, bugcheck: DeliberateBugcheck, *, scratch: str) -> bytes:
    """The one-step request that raises ``bugcheck``."""
    return encode_request(_one_step(case, bugcheck), scratch=scratch, deliberate_bugcheck=True)


def simulate(case: Case, phase: int, run_bytes, nonce: int | None = None) -> DeliberateBugcheck:
    """The model target's bugcheck restart, first half: the same request through the model, which
    answers with a simulated bugcheck of the harness's code (nothing stops). The model target then
    treats the restart as a power cut (issue 14: flushed records kept, the rest dropped, from the
    case's seed); that half belongs to the model's durable storage.

    Args:
        run_bytes: request bytes -> response bytes (``ModelTarget.run_bytes``).
    Raises:
        ProtocolError: the model refused the request or answered without our bugcheck.
    """
    from harness.errors import ProtocolError
    from harness.protocol import decode_response

    planned = plan(case, phase, nonce)
    one = _one_step(case, planned)
    result = decode_response(run_bytes(encode_request(one, scratch="", deliberate_bugcheck=True)), one,
                             target="model")
    if result.bugcheck != planned.code:
        shown = "none" if result.bugcheck is None else f"0x{result.bugcheck:08X}"
        raise ProtocolError(f"the model answered the bugcheck request with bugcheck {shown}, "
                            f"not the harness's 0x{planned.code:08X}")
    return planned


def mismatch(bugcheck: DeliberateBugcheck, code: int | None, parameters) -> str | None:
    """Why the crash a witness reports is not ``bugcheck`` (None when it is)."""
    if code is None:
        return "no bugcheck code could be read"
    if code != bugcheck.code:
        return f"the guest stopped with 0x{code:08X}, not the harness's 0x{bugcheck.code:08X}"
    got = tuple(int(p) for p in (parameters or ()))
    if got != bugcheck.parameters:
        shown = ", ".join(f"0x{p:X}" for p in got) or "none"
        return f"the parameters are ({shown}), not {bugcheck.describe()} of this restart"
    return None


_CONSOLE = re.compile(r"clfstest: deliberate bugcheck 0x([0-9A-F]{8}) \(([^)]*)\)")


def from_console(text: str) -> tuple[int, tuple[int, ...]] | None:
    """(code, parameters) of the last deliberate-bugcheck line on a serial console, or None."""
    found = _CONSOLE.findall(text)
    if not found:
        return None
    code, params = found[-1]
    return int(code, 16), tuple(int(p.strip(), 16) for p in params.split(",") if p.strip())


def from_wine_log(text: str) -> tuple[int, tuple[int, ...], str] | None:
    """(code, parameters, witness) of the last KeBugCheckEx Wine logged (WINEDEBUG err+ntoskrnl), or None."""
    found = _WINE.findall(text)
    if not found:
        return None
    return int(found[-1][0], 16), tuple(int(p, 16) for p in found[-1][1:]), "Wine KeBugCheckEx log line"


# Wine's KeBugCheckEx (dlls/ntoskrnl.exe) as observed with Debian's Wine 8.0 (8.0~repack-4) in
# tests/integration/test_wine.py: one line "NNNN:err:ntoskrnl:KeBugCheckEx <code> <p1> <p2> <p3> <p4>"
# (hex; WINEDEBUG err+ntoskrnl), then winedevice.exe ends and the pending IOCTL fails.
_WINE = re.compile(r"err:ntoskrnl:KeBugCheckEx ([0-9a-fA-F]+) ([0-9a-fA-F]+) ([0-9a-fA-F]+) ([0-9a-fA-F]+) "
                   r"([0-9a-fA-F]+)")


def verify(planned: DeliberateBugcheck, seen, phase: int, artefacts=None, *, dump=None, target: str = "") -> str:
    """Whether the crash before ``phase`` was the one asked for: the code and the four parameters
    the witness gives must be ours. Writes ``phaseN-bugcheck.json`` into ``artefacts``; returns a
    note for restarts.txt.

    Args:
        seen: (code, parameters, witness name) from the target's witness, or None when none spoke.
    Raises:
        BugcheckDetected: the stop had another code or other parameters: something else caused it
            (the case ends as BUGCHECK, its evidence kept).
    """
    import json
    import logging

    from harness.errors import BugcheckDetected

    problem = mismatch(planned, *(seen[:2] if seen else (None, None)))
    record = {"phase": phase, "expected": planned.to_json(), "verified": problem is None,
              "witness": seen[2] if seen else None, "problem": problem,
              "observed": None if seen is None else
              {"code": f"0x{seen[0]:08X}", "parameters": [f"0x{p:X}" for p in seen[1]]}}
    if artefacts is not None:
        artefacts.write_text(f"phase{phase}-bugcheck.json", json.dumps(record, indent=2) + "\n")
    if seen is not None and problem is not None:
        raise BugcheckDetected(f"restart: {{how: bugcheck}} before phase {phase}: {problem}",
                               seen[0], tuple(seen[1]), str(dump) if dump else None)
    if problem is not None:
        logging.getLogger("harness.targets").warning("%s: the deliberate bugcheck before phase %d is unverified: %s",
                                                     target, phase, problem)
        return f"; bugcheck unverified: {problem}"
    return f"; bugcheck {planned.describe()} verified by the {seen[2]}"
