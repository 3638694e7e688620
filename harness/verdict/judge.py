"""Comparing what a case expected with what the target observed, step by step.

The verdict is PASS only when every step's status, outputs and observed IRQL match. A FAIL
carries one line per check so the report reads as a diff: expected on the left, observed on
the right, a mark saying which one broke.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import NamedTuple

from harness.protocol import ntstatus
from harness.protocol.ntstatus import nt_success
from harness.protocol.results import LOST_IN_CUT, RAN, CaseResult, StepResult, describe_cut
from harness.scenario import lsn, ops
from harness.scenario.model import Case, Condition, Expectation, SavedRef, Step
from harness.verdict import payload
from harness.verdict.durable import DurableVerdict, judge_durable
from harness.verdict.outcome import BUGCHECK, CONTRACT, FAIL, PASS

# The IRQL a step must observe inside each context. Guarded and critical regions disable APCs
# (all, or normal kernel APCs) without raising the IRQL, so they stay at PASSIVE_LEVEL.
CONTEXT_IRQL = {"passive": 0, "apc": 1, "guarded": 0, "critical": 0, "dispatch": 2}
IRQL_NAMES = {0: "PASSIVE_LEVEL", 1: "APC_LEVEL", 2: "DISPATCH_LEVEL"}
_IRQL_WANTED = {context: f"{IRQL_NAMES[irql]} ({context})" for context, irql in CONTEXT_IRQL.items()}

_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
            "gt": operator.gt, "ge": operator.ge}
_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class Check(NamedTuple):
    """One comparison of a step. A named tuple, not a dataclass: a run makes two or three per step
    of every case, and a tuple is made in half the time (it is as immutable)."""
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
    # A case in phases: phase number -> its heading in the diff ("phase 2, after restart power_cut ...").
    phase_titles: dict = field(default_factory=dict)
    # ``expect: durable``: what each durable phase saw come back, and the promises broken.
    durable: DurableVerdict | None = None

    def diff(self) -> str:
        return render_diff(self)


def judge(case: Case, result: CaseResult) -> Verdict:
    """Compare every step of ``case`` with ``result``. A step with no result at all is a FAIL."""
    by_index = {r.index: r for r in result.steps}
    saved = _Saved()
    verdicts = []
    events = tuple(getattr(result, "events", ()))
    for step in case.steps:
        step_result = by_index.get(step.index)
        verdicts.append(_judge_step(step, step_result, saved, events))
        if step.save:
            saved.record(step, step_result)
    verdicts = tuple(verdicts)
    outcome = PASS if all(v.ok for v in verdicts) else FAIL
    notes = []
    expected = getattr(case, "expect_bugcheck", None)
    observed = result.bugcheck
    if expected is not None or observed is not None:
        shown = "none" if observed is None else f"0x{observed:X} at step {result.bugcheck_step}"
        if observed is None:
            outcome = FAIL
            notes.append(f"bugcheck: expected {expected}, observed none")
        elif expected is None or not expected.matches(observed):
            outcome = BUGCHECK
            notes.append(f"bugcheck: expected {expected or 'none'}, observed {shown}")
        else:
            # The expected stop happened: the steps after it never returned, which is the point.
            outcome = PASS
            notes.append(f"bugcheck: observed {shown}, as expected ({expected})")
    if result.contract:
        # The driver broke a kernel rule: whatever CLFS answered after that says nothing about CLFS.
        outcome = CONTRACT
        notes.extend(f"contract: {v.describe()}" for v in result.contract)
    for e in getattr(result, "events", ()):
        if e.late:   # caught, not lost: a callback whose request (or client's request) had ended
            notes.append(f"callback: {e.kind} arrived after its request ended (at IRQL {e.irql}, step {e.step})")
        elif e.kind == "dropped":
            notes.append(f"callback: {e.arg} more callbacks than the response holds were counted, not listed")
    if result.cleanup.failures:
        notes.append(f"cleanup: {result.cleanup.failures} release call(s) failed at the end of the request")
    # A power cut while a request ran: when it came, and whether the request had ended by then.
    notes.extend(f"cut: phase {p['phase']}: {describe_cut(p['cut'])}" for p in result.phases if p.get("cut"))
    titles = {r.phase: f"phase {r.phase}, after restart: {r.how}{' during ' + r.during if r.during else ''} "
                       f"({r.loc})" for r in getattr(case, "restarts", ())}
    if titles:
        titles[1] = "phase 1"
    durable = None
    if getattr(case, "durable", False) and result.bugcheck is None:
        durable = judge_durable(case, result)
        verdicts = _with_durable_checks(verdicts, durable)
        notes.extend(f"durable: {f.text}" for f in durable.findings if f.step is None)
        notes.extend(f"durable: phase {p.phase} after {p.restart}: {len(p.survived)} record(s) came back "
                     f"({len(p.promised)} promised stable), {len(p.lost)} unflushed lost{_burst_note(p.burst)}"
                     for p in durable.phases)
        if durable.findings and outcome == PASS:
            outcome = FAIL
    return Verdict(outcome, verdicts, result.target, tuple(notes), titles, durable)


def _burst_note(burst: dict | None) -> str:
    if burst is None:
        return ""
    appended = "its answer lost" if burst["appended"] is None else f"of {burst['appended']} appended"
    return f"; burst: {burst['came_back']} record(s) came back whole ({appended})"


def _with_durable_checks(verdicts: tuple, durable) -> tuple:
    """A broken durability promise found at a read is a failed check of that read step."""
    at: dict[int, list] = {}
    for f in durable.findings:
        if f.step is not None:
            at.setdefault(f.step, []).append(f)
    if not at:
        return verdicts
    return tuple(StepVerdict(v.step, v.result, v.checks + tuple(
        Check("durable", "what was appended before the cut, byte-exact", f.text, False)
        for f in at.get(v.step.index, ()))) for v in verdicts)


class _Saved:
    """The values saved so far, resolved from the response as the driver resolves ``${name}``.

    The driver keeps a saved value in a register that a step's output overwrites only when the
    step ran, succeeded and reported that output (driver_src/common/ct_interp.c); otherwise the
    register keeps what it had. The verdict does the same, and remembers why a value is missing.
    """

    def __init__(self):
        self.values: dict[str, tuple[int, int, str]] = {}  # name -> (value, step index, output)
        self.missing: dict[str, str] = {}                  # name -> why it has no value

    def record(self, step: Step, result: StepResult | None) -> None:
        for name, output in step.save.items():
            where = f"step {step.index} ({step.op})"
            if result is not None and result.disposition == RAN and output in result.outputs \
                    and nt_success(result.status):
                self.values[name] = (result.outputs[output], step.index, output)
                self.missing.pop(name, None)
            elif name not in self.values:
                if result is None:
                    why = f"{where} reported no result"
                elif result.disposition != RAN:
                    why = f"{where} did not run"
                elif not nt_success(result.status):
                    why = f"{where} failed with {ntstatus.status_name(result.status)} and reported no {output}"
                else:
                    why = f"{where} did not report {output}"
                self.missing[name] = why

    def resolve(self, ref: SavedRef) -> tuple[int | None, str]:
        """(value, how to show it) or (None, why it is missing)."""
        if ref.name in self.values:
            return self.values[ref.name][0], ""
        return None, self.missing.get(ref.name, "no earlier step saved it")


def stop_outcome(case: Case, code: int | None) -> str:
    """The outcome of a case whose target really stopped (a bugcheck): PASS only when the
    scenario expects a stop and the reported code is one it names (or it expects ``any``)."""
    expected = case.expect_bugcheck
    return PASS if expected is not None and expected.matches(code) else BUGCHECK


def _judge_step(step: Step, result: StepResult | None, saved: _Saved | None = None, events: tuple = ()) -> StepVerdict:
    expected_status = _describe_expectation(step.expect)
    if result is None:
        return StepVerdict(step, None, (Check("ran", "a result", "none reported", False),))
    if result.disposition == LOST_IN_CUT:
        # The power was cut while its request ran (restart: {how: power_cut, during: ...}): there
        # is no result to judge; what the burst left is the durable phase's to judge.
        return StepVerdict(step, result, (Check("status", expected_status, _describe_disposition(result), True),))
    if result.disposition != RAN:
        ok = step.expect.status == "any"
        return StepVerdict(step, result, (Check("status", expected_status, _describe_disposition(result), ok),))
    want_irql = CONTEXT_IRQL[step.context]
    checks = [Check("status", expected_status, _describe_status(result.status),
                    _status_matches(step.expect, result.status)),
              Check("irql", _IRQL_WANTED[step.context], IRQL_NAMES.get(result.irql, str(result.irql)),
                    result.irql == want_irql)]
    for output, conditions in step.expect.outputs:
        checks.append(_output_check(output, conditions, result.outputs.get(output), saved or _Saved()))
    for kind, conditions in step.expect.callbacks:
        came = sum(1 for e in events if e.kind == kind and e.step == step.index and not e.late)
        wanted = " and ".join(f"{_SYMBOL[c.comparator]} {c.value}" for c in conditions)
        checks.append(Check(f"callbacks {kind}", wanted, str(came),
                            all(_COMPARE[c.comparator](came, c.value) for c in conditions)))
    bad_bytes = payload.implicit_failure(step, result)
    if bad_bytes is not None:
        checks.append(Check("payload", "bytes as appended at this LSN", bad_bytes, False))
    return StepVerdict(step, result, tuple(checks))


def _output_check(output: str, conditions: tuple[Condition, ...], observed: int | None, saved: _Saved) -> Check:
    """One output against its conditions, saved values resolved; LSNs compared and shown as LSNs."""
    is_lsn = ops.output_kind(output) == ops.OUTPUT_LSN
    shown, values, missing = [], [], []
    for c in conditions:
        if isinstance(c.value, SavedRef):
            value, why = saved.resolve(c.value)
            if value is None:
                shown.append(f"{_SYMBOL[c.comparator]} ${{{c.value.name}}}")
                missing.append(f"${{{c.value.name}}} has no value: {why}")
            else:
                shown.append(f"{_SYMBOL[c.comparator]} ${{{c.value.name}}} (= {_show(value, is_lsn)})")
            values.append(value)
        else:
            shown.append(f"{_SYMBOL[c.comparator]} {_show(c.value, is_lsn)}")
            values.append(c.value)
    wanted = " and ".join(shown)
    if missing:
        return Check(f"output {output}", wanted, "cannot compare: " + "; ".join(missing), False)
    if observed is None:
        return Check(f"output {output}", wanted, "not reported", False)
    ok = all(_holds(c.comparator, observed, value, is_lsn) for c, value in zip(conditions, values))
    return Check(f"output {output}", wanted, _show(observed, is_lsn), ok)


def _holds(comparator: str, observed: int, value: int, is_lsn: bool) -> bool:
    if is_lsn:  # ClfsLsnLess / ClfsLsnEqual / ClfsLsnGreater semantics
        return _COMPARE[comparator](lsn.compare(observed, value), 0)
    return _COMPARE[comparator](observed, value)


def _show(value: int, is_lsn: bool) -> str:
    return lsn.describe(value) if is_lsn else str(value)


def _status_matches(expect: Expectation, status: int) -> bool:
    if expect.status == "any":
        return True
    if expect.status_code is not None:
        return status == expect.status_code
    return nt_success(status) == (expect.status == "success")


_EXPECTED_TEXT = {"success": "success (NT_SUCCESS)", "failure": "failure (not NT_SUCCESS)", "any": "any status"}


def _describe_expectation(expect: Expectation) -> str:
    if expect.status_code is not None:
        return _describe_status(expect.status_code)
    return _EXPECTED_TEXT[expect.status]


_STATUS_TEXT: dict[int, str] = {}


def _describe_status(status: int) -> str:
    text = _STATUS_TEXT.get(status)
    if text is None:
        text = f"{ntstatus.status_name(status)} (0x{status:08X})"
        if len(_STATUS_TEXT) < 4096:   # a few statuses recur in every case
            _STATUS_TEXT[status] = text
    return text


def _describe_disposition(result: StepResult) -> str:
    if result.disposition == "input_missing":
        return "not run: a saved value it needs was never produced"
    if result.disposition == LOST_IN_CUT:
        return "no result: the power was cut while its request ran"
    return "not run: an earlier step failed and stopped the request"


def render_diff(verdict: Verdict) -> str:
    """The step-by-step table a FAIL prints: every step, every check, mismatches marked."""
    lines = [f"target: {verdict.target}", *verdict.notes]
    phase = None
    for sv in verdict.steps:
        if verdict.phase_titles and sv.step.phase != phase:
            phase = sv.step.phase
            lines.append(f"--- {verdict.phase_titles.get(phase, f'phase {phase}')}")
        mark = "ok  " if sv.ok else "FAIL"
        lines.append(f"{mark} step {sv.step.index} {sv.step.op}  ({sv.step.loc})")
        for check in sv.checks:
            if check.ok and sv.ok:
                continue
            flag = "  " if check.ok else "!="
            lines.append(f"       {check.what:<22} expected {check.expected:<36} {flag} observed {check.observed}")
    return "\n".join(lines)
