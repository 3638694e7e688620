"""A real stop of the target (a bugcheck the VM reported) and a condition on a saved value that
was never produced, as the verdict reports them. Found by tools/mutation.py on main's verdict.
"""

from __future__ import annotations

import pytest

from harness.protocol.results import RAN, CaseResult, CleanupSummary, StepResult
from harness.scenario.model import BugcheckExpectation, Condition, Expectation, SavedRef, SourceLoc, Step
from harness.verdict.judge import judge, stop_outcome
from harness.verdict.outcome import BUGCHECK, FAIL, PASS

pytestmark = pytest.mark.timeout(10)

LOC = SourceLoc("x.scenario.yaml", 7, 5)


class _Case:
    def __init__(self, expect_bugcheck=None, steps=()):
        self.expect_bugcheck = expect_bugcheck
        self.steps = steps


@pytest.mark.parametrize("expected, code, outcome", [
    (None, 0xA, BUGCHECK),
    (BugcheckExpectation((0xA,)), 0xA, PASS),
    (BugcheckExpectation((0xA,)), 0xC4, BUGCHECK),
    (BugcheckExpectation((0xA, 0xC4)), 0xC4, PASS),
    (BugcheckExpectation(()), 0xD1, PASS),
    (BugcheckExpectation((0xA,)), None, BUGCHECK),   # stopped, but no code came back to match
])
def test_a_real_stop_passes_only_when_the_scenario_expects_that_code(expected, code, outcome):
    assert stop_outcome(_Case(expected), code) == outcome


def test_a_condition_on_a_saved_value_never_produced_fails_and_names_it():
    save = Step(1, "align_reserved_log", {}, "passive", Expectation("any"), {"aligned": "aligned_size"}, False, LOC)
    want = Expectation("success", None, (("adjustment", (Condition("eq", SavedRef("aligned")),)),))
    alloc = Step(2, "alloc_reserved_log", {}, "passive", want, {}, True, LOC)
    results = (StepResult(1, "align_reserved_log", RAN, 0xC000000D, 0, "passive", {}, 1),
               StepResult(2, "alloc_reserved_log", RAN, 0, 0, "passive", {"adjustment": 512}, 1))
    v = judge(_Case(steps=(save, alloc)), CaseResult("model", results, CleanupSummary()))
    assert v.outcome == FAIL
    assert "expected == ${aligned}" in v.diff()
    assert "${aligned} has no value: step 1 (align_reserved_log) failed with STATUS_INVALID_PARAMETER" in v.diff()
