"""Comparing what a case expected with what the target observed, step by step.

The verdict is PASS only when every step's status, outputs and observed IRQL match. A FAIL
carries one line per check so the report reads as a diff: expected on the left, observed on
the right, a mark saying which one broke.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

from harness.protocol import ntstatus
from harness.protocol.ntstatus import nt_success
from harness.protocol.results import RAN, CaseResult, StepResult
from harness.scenario.model import Case, Condition, Expectation, Step
from harness.verdict.outcome import BUGCHECK, CONTRACT, FAIL, PASS

# The IRQL a step must observe inside each context. Guarded and critical regions disable APCs
# (all, or normal kernel APCs) without raising the IRQL, so they stay at PASSIVE_LEVEL.
CONTEXT_IRQL = {"passive": 0, "apc": 1, "guarded": 0, "critical": 0, "dispatch": 2}
IRQL_NAMES = {0: "PASSIVE_LEVEL", 1: "APC_LEVEL", 2: "DISPATCH_LEVEL"}

_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
            "gt": operator.gt, "ge": operator.ge}
_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass(frozen=True)
class Check:
    what: str          # "status", "irql", "output adjustment", "ran"
    expected: str
    observed: str
    ok: bool


@dataclass(frozen=True)
class StepVerdict:
    step: Step
    result: StepResult | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass(frozen=True)
class Verdict:
    outcome: str                      # PASS | FAIL | BUGCHECK | CONTRACT
    steps: tuple[StepVerdict, ...]
    target: str
    notes: tuple[str, ...] = field(default=())  # case-level findings (bugchecks, cleanup)

    def diff(self) -> str:
        return render_diff(self)


def judge(case: Case, result: CaseResult) -> Verdict:
    """Compare every step of ``case`` with ``result``. A step with no result at all is a FAIL."""
    by_index = {r.index: r for r in result.steps}
    verdicts = tuple(_judge_step(step, by_index.get(step.index)) for step in case.steps)
    outcome = PASS if all(v.ok for v in verdicts) else FAIL
    notes = []
    expected = getattr(case, "expect_bugcheck", None)
    observed = result.bugcheck
    if expected is not None or observed is not None:
        shown = "none" if observed is None else f"0x{observed:X} at step {result.bugcheck_step}"
        if observed is None:
            outcome = FAIL
            notes.append(f"bugcheck: expected 0x{expected:X}, observed none")
        elif observed != expected:
            outcome = BUGCHECK
            want = "none" if expected is None else f"0x{expected:X}"
            notes.append(f"bugcheck: expected {want}, observed {shown}")
        else:
            # The expected stop happened: the steps after it never returned, which is the point.
            outcome = PASS
            notes.append(f"bugcheck: observed {shown}, as expected")
    if result.contract:
        # The driver broke a kernel rule: whatever CLFS answered after that says nothing about CLFS.
        outcome = CONTRACT
        notes.extend(f"contract: {v.describe()}" for v in result.contract)
    if result.cleanup.failures:
        notes.append(f"cleanup: {result.cleanup.failures} release call(s) failed at the end of the request")
    return Verdict(outcome, verdicts, result.target, tuple(notes))


def _judge_step(step: Step, result: StepResult | None) -> StepVerdict:
    expected_status = _describe_expectation(step.expect)
    if result is None:
        return StepVerdict(step, None, (Check("ran", "a result", "none reported", False),))
    if result.disposition != RAN:
        ok = step.expect.status == "any"
        return StepVerdict(step, result, (Check("status", expected_status, _describe_disposition(result), ok),))
    checks = [Check("status", expected_status, _describe_status(result.status),
                    _status_matches(step.expect, result.status))]
    want_irql = CONTEXT_IRQL[step.context]
    checks.append(Check("irql", f"{IRQL_NAMES.get(want_irql)} ({step.context})",
                        IRQL_NAMES.get(result.irql, str(result.irql)), result.irql == want_irql))
    for output, conditions in step.expect.outputs:
        observed = result.outputs.get(output)
        wanted = " and ".join(f"{_SYMBOL[c.comparator]} {c.value}" for c in conditions)
        if observed is None:
            checks.append(Check(f"output {output}", wanted, "not reported", False))
        else:
            checks.append(Check(f"output {output}", wanted, str(observed), _conditions_hold(conditions, observed)))
    return StepVerdict(step, result, tuple(checks))


def _status_matches(expect: Expectation, status: int) -> bool:
    if expect.status == "any":
        return True
    if expect.status_code is not None:
        return status == expect.status_code
    return nt_success(status) == (expect.status == "success")


def _conditions_hold(conditions: tuple[Condition, ...], value: int) -> bool:
    return all(_COMPARE[c.comparator](value, c.value) for c in conditions)


def _describe_expectation(expect: Expectation) -> str:
    if expect.status_code is not None:
        return f"{ntstatus.status_name(expect.status_code)} (0x{expect.status_code:08X})"
    return {"success": "success (NT_SUCCESS)", "failure": "failure (not NT_SUCCESS)", "any": "any status"}[expect.status]


def _describe_status(status: int) -> str:
    return f"{ntstatus.status_name(status)} (0x{status:08X})"


def _describe_disposition(result: StepResult) -> str:
    if result.disposition == "input_missing":
        return "not run: a saved value it needs was never produced"
    return "not run: an earlier step failed and stopped the request"


def render_diff(verdict: Verdict) -> str:
    """The step-by-step table a FAIL prints: every step, every check, mismatches marked."""
    lines = [f"target: {verdict.target}", *verdict.notes]
    for sv in verdict.steps:
        mark = "ok  " if sv.ok else "FAIL"
        lines.append(f"{mark} step {sv.step.index} {sv.step.op}  ({sv.step.loc})")
        for check in sv.checks:
            if check.ok and sv.ok:
                continue
            flag = "  " if check.ok else "!="
            lines.append(f"       {check.what:<22} expected {check.expected:<36} {flag} observed {check.observed}")
    return "\n".join(lines)
