"""A power cut while the guest is writing: ``restart: {how: power_cut, during: append_burst}``.

The phase's request (its last step a long ``append_burst``) is sent, and the power is cut a
seed-chosen time later, while the request is still in flight. What the harness can know, and
promise, follows from what came back before the cut:

- the earlier phases' answers came back (a phase ended by ``restart: {how: reopen}`` is a request
  of its own on the same boot): what they flushed is promised, as for any power cut;
- the cut phase's answer is lost with the power, so it promises nothing; the burst's records may
  be lost, and any that come back must be byte-exact: record j of the burst carries the seeded
  payload of index CT_BURST_INDEX + j (clfstest_proto.h), known without the answer, and
  ``read_burst`` checks each in the guest (harness/verdict/durable.py reads its outputs);
- the harness knows whether the cut really came before the answer: ``request_ended`` says so.
  A cut that came after the answer is reported as such (the case's notes and the phase report),
  never passed off as a cut mid-burst.

The VM targets cut the real power (``VmGuest.cut_during``); the model cannot be cut, so its burst
stops after a seed-chosen number of records and the model fails the power there (ct_model.c,
op_append_burst, CT_REQ_CUT_IN_STEP): the same case, judged the same way, on every target.
"""

from __future__ import annotations

import zlib

from harness.protocol.results import LOST_IN_CUT, CaseResult, StepResult
from harness.scenario.model import Case

# The cut comes between these fractions of the burst's max_ms after the request was sent: late
# enough that the guest is writing, early enough that a burst bounded by its time is still running.
CUT_WINDOW = (0.15, 0.6)


def cut_delay_s(case: Case, number: int) -> float:
    """Seconds after the request is sent that the power of phase ``number``'s cut fails: chosen
    from the case's seed (its scenario and matrix values), within CUT_WINDOW of the burst's max_ms."""
    burst = case.steps[-1]
    mix = zlib.crc32(f"{case.scenario}[{sorted(case.params.items())}]#midcut{number}".encode("utf-8"))
    lo, hi = CUT_WINDOW
    frac = lo + (hi - lo) * (mix % 1000) / 1000.0
    return int(burst.args.get("max_ms", 5000)) * frac / 1000.0


def lost_results(case: Case, number: int) -> list[StepResult]:
    """The phase's steps when the power took its answer: no status, no outputs."""
    return [StepResult(index=s.index, op=s.op, disposition=LOST_IN_CUT, status=0, irql=0, context=s.context,
                       outputs={}, elapsed_us=0, phase=number) for s in case.steps]


def simulated_info(result: CaseResult) -> dict:
    """The model's cut (no real power): its burst ran to a seed-chosen record and the power failed."""
    burst = result.steps[-1] if result.steps else None
    appended = burst.outputs.get("records") if burst is not None else None
    return {"during": burst.op if burst else None, "simulated": True, "cut_ms": None,
            "request_ended": False, "appended_before_cut": appended}


def cut_in_flight(guest, case: Case, number: int, *, command: str, request: bytes, max_frame: int,
                  decode) -> tuple[CaseResult | None, dict]:
    """Send phase ``number``'s request to ``command`` in ``guest`` and cut the power while it is in
    flight (``VmGuest.cut_during``); the guest is back on the same disk when this returns.

    Args:
        decode: ``decode(response, elapsed_s)`` -> CaseResult, for an answer that beat the cut.
    Returns:
        (the phase's result: None when the answer was lost; the cut as the reports show it).
    """
    delay = cut_delay_s(case, number)
    seen = guest.cut_during(command, request, delay, max_frame=max_frame)
    ended = seen["answer"] is not None or seen["answer_bytes"] > 0
    info = {"during": case.steps[-1].op, "simulated": False, "cut_ms": round(seen["cut_ms"], 1),
            "planned_ms": round(delay * 1000.0, 1), "request_ended": ended,
            "restart_s": round(seen["restart_s"], 3), "appended_before_cut": None}
    if seen["answer"] is None:
        return None, info
    result = decode(seen["answer"], seen["cut_ms"] / 1000.0)
    burst = result.steps[-1] if result.steps else None
    info["appended_before_cut"] = burst.outputs.get("records") if burst is not None else None
    return result, info
