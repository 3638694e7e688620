"""Judging observed results against expectations: status classes, exact codes, IRQL, outputs, not-run steps."""

from __future__ import annotations

from harness.protocol.results import INPUT_MISSING, NOT_RUN, RAN, CaseResult, CleanupSummary, StepResult
from harness.scenario.model import Condition, Expectation, SourceLoc, Step
from harness.verdict.judge import FAIL, PASS, judge, nt_success

LOC = SourceLoc("x.scenario.yaml", 3, 5)


def step(index, expect=Expectation(), context="passive", op="align_reserved_log"):
    return Step(index, op, {}, context, expect, {}, True, LOC)


def result(index, status=0, irql=0, outputs=None, disposition=RAN, op="align_reserved_log"):
    return StepResult(index, op, disposition, status, irql, "passive", outputs or {}, 10)


class _Case:
    def __init__(self, *steps):
        self.steps = steps


def verdict(steps, results):
    return judge(_Case(*steps), CaseResult("model", tuple(results), CleanupSummary()))


def test_nt_success_follows_the_severity_bits():
    assert nt_success(0) and nt_success(0x40000000) and nt_success(0x00000103)
    assert not nt_success(0x80000005) and not nt_success(0xC000000D)


def test_status_classes_and_exact_codes():
    assert verdict([step(1)], [result(1, 0)]).outcome == PASS
    assert verdict([step(1)], [result(1, 0xC000000D)]).outcome == FAIL
    assert verdict([step(1, Expectation("failure"))], [result(1, 0xC000000D)]).outcome == PASS
    assert verdict([step(1, Expectation("failure"))], [result(1, 0)]).outcome == FAIL
    exact = Expectation("STATUS_INVALID_PARAMETER", 0xC000000D)
    assert verdict([step(1, exact)], [result(1, 0xC000000D)]).outcome == PASS
    assert verdict([step(1, exact)], [result(1, 0xC0000001)]).outcome == FAIL
    assert verdict([step(1, Expectation("any"))], [result(1, 0xC0000001)]).outcome == PASS


def test_the_observed_irql_must_match_the_context():
    assert verdict([step(1, context="apc")], [result(1, irql=1)]).outcome == PASS
    failed = verdict([step(1, context="apc")], [result(1, irql=0)])
    assert failed.outcome == FAIL
    assert "irql" in failed.diff() and "APC_LEVEL (apc)" in failed.diff() and "observed PASSIVE_LEVEL" in failed.diff()
    assert verdict([step(1, context="guarded")], [result(1, irql=0)]).outcome == PASS


def test_output_conditions():
    want = Expectation("success", None, (("aligned_size", (Condition("ge", 512), Condition("lt", 4096))),))
    assert verdict([step(1, want)], [result(1, outputs={"aligned_size": 512})]).outcome == PASS
    assert verdict([step(1, want)], [result(1, outputs={"aligned_size": 4096})]).outcome == FAIL
    missing = verdict([step(1, want)], [result(1)])
    assert missing.outcome == FAIL and "not reported" in missing.diff()


def test_steps_that_did_not_run_fail_unless_any_status_is_expected():
    stopped = verdict([step(1), step(2)], [result(1, 0xC000000D), result(2, disposition=NOT_RUN)])
    assert stopped.outcome == FAIL
    assert "not run: an earlier step failed and stopped the request" in stopped.diff()
    assert verdict([step(1, Expectation("any"))], [result(1, disposition=INPUT_MISSING)]).outcome == PASS
    assert verdict([step(1)], []).outcome == FAIL


def test_the_diff_names_every_failing_check_and_the_place():
    diff = verdict([step(1), step(2, Expectation("failure"))], [result(1), result(2, 0)]).diff()
    lines = diff.splitlines()
    assert lines[0] == "target: model"
    assert lines[1] == "ok   step 1 align_reserved_log  (x.scenario.yaml:3:5)"
    assert lines[2] == "FAIL step 2 align_reserved_log  (x.scenario.yaml:3:5)"
    assert "expected failure (not NT_SUCCESS)" in lines[3] and "!= observed STATUS_SUCCESS (0x00000000)" in lines[3]


def _stopped_case(expectation):
    from harness.scenario.model import BugcheckExpectation

    class Stops(_Case):
        expect_bugcheck = None if expectation is None else BugcheckExpectation(expectation)
    return Stops(step(1, context="dispatch"))


def _stopped_at(code):
    return CaseResult("model", (result(1, irql=2),), CleanupSummary(), bugcheck=code, bugcheck_step=1)


def test_expect_bugcheck_any_or_a_set_of_codes():
    from harness.verdict.judge import BUGCHECK

    for expectation, code, outcome in [((), 0xA, PASS), ((), 0x3B, PASS), ((0xA, 0xD1, 0xC4), 0xD1, PASS),
                                       ((0xA, 0xD1, 0xC4), 0x3B, BUGCHECK), ((0xA,), 0xD1, BUGCHECK),
                                       (None, 0xA, BUGCHECK), ((), None, FAIL)]:
        v = judge(_stopped_case(expectation), _stopped_at(code))
        assert v.outcome == outcome, (expectation, code, v.notes)
    notes = judge(_stopped_case((0xA, 0xD1, 0xC4)), _stopped_at(0x3B)).notes
    assert notes == ("bugcheck: expected one of 0xA, 0xD1, 0xC4, observed 0x3B at step 1",)
    assert judge(_stopped_case(()), _stopped_at(None)).notes == ("bugcheck: expected any bugcheck, observed none",)
