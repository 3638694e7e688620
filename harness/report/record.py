"""One case's result as plain JSON-able data: what the results file, the summary and baselines read.

Built on the worker that ran the case and carried to the controller on the pytest report, so it
survives pytest-xdist (reports are serialised; item objects are not).
"""

from __future__ import annotations

from harness.protocol import ntstatus
from harness.protocol.results import LOST_IN_CUT, CaseResult
from harness.scenario.model import Case
from harness.verdict.judge import Verdict


def case_record(case: Case, target: str, outcome: str, *, result: CaseResult | None = None,
                verdict: Verdict | None = None, message: str = "", duration_s: float = 0.0) -> dict:
    """The record of one case (see harness/report/results.schema.json, ``case``)."""
    record = {
        "id": case.id,
        "scenario": case.scenario,
        "file": case.file,
        "line": case.loc.line,
        "params": {k: v for k, v in case.params.items()},
        "tags": list(case.tags),
        "target": target,
        "outcome": outcome,
        "message": message,
        "duration_s": round(duration_s, 6),
        "steps": [],
        "cleanup": None,
    }
    if result is not None and verdict is not None:
        record["steps"] = [_step_record(sv) for sv in verdict.steps]
        record["cleanup"] = {name: getattr(result.cleanup, name) for name in result.cleanup.__slots__}
        record["identity"] = dict(result.identity)
        if result.events:
            record["callbacks"] = [e.as_dict() for e in result.events]
        record["notes"] = list(verdict.notes)
        if result.phases:
            record["phases"] = [dict(p) for p in result.phases]
            if verdict.durable is not None:   # what came back after each durable restart
                survived = verdict.durable.survived_summary()
                for entry in record["phases"]:
                    entry.update({k: v for k, v in survived.get(str(entry["phase"]), {}).items() if k != "restart"})
    return record


def _step_record(sv) -> dict:
    step, result = sv.step, sv.result
    # A step whose answer a power cut took has no status, IRQL or time: none is made up.
    known = result is not None and result.disposition != LOST_IN_CUT
    entry = {
        "index": step.index,
        "phase": step.phase,
        "op": step.op,
        "line": step.loc.line,
        "context": step.context,
        "expected": step.expect.status,
        "ok": sv.ok,
        "disposition": result.disposition if result else "missing",
        "status": result.status if known else None,
        "status_name": ntstatus.status_name(result.status) if known else None,
        "irql": result.irql if known else None,
        "outputs": dict(result.outputs) if known else {},
        "elapsed_us": result.elapsed_us if known else None,
        "mismatches": [{"what": c.what, "expected": c.expected, "observed": c.observed}
                       for c in sv.checks if not c.ok],
    }
    return entry


def first_difference(record: dict) -> str:
    """One line saying what went wrong first: the first mismatch of a step, else the message's
    first line that says something (what JUnit, the summary, the page and annotations show)."""
    for step in record.get("steps", []):
        for m in step.get("mismatches", []):
            return (f"step {step['index']} {step['op']}: {m['what']} expected {m['expected']}, "
                    f"observed {m['observed']}")
    lines = [line.strip() for line in record.get("message", "").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("target:")]
    return lines[0][:400] if lines else "no detail"
