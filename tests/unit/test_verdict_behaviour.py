"""The verdict as a user reads it: bugchecks expected or not, the IRQL of every context, every
comparison an expectation can make, cleanup failures, and what the diff of a FAIL shows.

A harness that misjudges is worse than none: each test here is a wrong verdict that would
otherwise reach a report unnoticed (found by tools/mutation.py).
"""

from __future__ import annotations

import pytest

from harness.protocol.results import NOT_RUN, RAN, CaseResult, CleanupSummary, StepResult
from harness.scenario.model import BugcheckExpectation, Condition, Expectation, SourceLoc, Step
from harness.verdict.judge import judge
from harness.verdict.outcome import BUGCHECK, FAIL, PASS

pytestmark = pytest.mark.timeout(10)

LOC = SourceLoc("x.scenario.yaml", 7, 5)


def step(index, expect=Expectation(), context="passive", op="alloc_reserved_log"):
    return Step(index, op, {}, context, expect, {}, True, LOC)


def result(index, status=0, irql=0, outputs=None, disposition=RAN, op="alloc_reserved_log"):
    return StepResult(index, op, disposition, status, irql, "passive", outputs or {}, 10)


class _Case:
    def __init__(self, *steps, expect_bugcheck=None):
        self.steps = steps
        self.expect_bugcheck = None if expect_bugcheck is None else BugcheckExpectation((expect_bugcheck,))


def verdict(steps, results, *, expect_bugcheck=None, bugcheck=None, bugcheck_step=None, failures=0):
    return judge(_Case(*steps, expect_bugcheck=expect_bugcheck),
                 CaseResult("model", tuple(results), CleanupSummary(failures=failures),
                            bugcheck=bugcheck, bugcheck_step=bugcheck_step))


# ---- bugchecks -------------------------------------------------------------------------------

def test_an_unexpected_bugcheck_is_judged_bugcheck_even_when_every_step_matched():
    v = verdict([step(1)], [result(1)], bugcheck=0xA, bugcheck_step=1)
    assert v.outcome == BUGCHECK
    assert v.notes == ("bugcheck: expected none, observed 0xA at step 1",)
    assert v.diff().splitlines()[1] == "bugcheck: expected none, observed 0xA at step 1"


def test_an_expected_bugcheck_that_never_came_is_a_fail():
    v = verdict([step(1, context="dispatch")], [result(1, irql=2)], expect_bugcheck=0xA)
    assert v.outcome == FAIL
    assert v.notes == ("bugcheck: expected 0xA, observed none",)


def test_the_expected_bugcheck_passes_although_the_steps_after_it_never_returned():
    v = verdict([step(1, context="dispatch"), step(2)], [result(1, irql=2), result(2, disposition=NOT_RUN)],
                expect_bugcheck=0xA, bugcheck=0xA, bugcheck_step=1)
    assert v.outcome == PASS
    assert v.notes == ("bugcheck: observed 0xA at step 1, as expected (0xA)",)


def test_a_bugcheck_with_another_code_than_expected_is_judged_bugcheck_with_both_codes():
    v = verdict([step(1, context="dispatch")], [result(1, irql=2)], expect_bugcheck=0xA, bugcheck=0xC4,
                bugcheck_step=1)
    assert v.outcome == BUGCHECK
    assert v.notes == ("bugcheck: expected 0xA, observed 0xC4 at step 1",)


def test_a_case_without_bugchecks_has_no_bugcheck_note():
    v = verdict([step(1)], [result(1)])
    assert v.outcome == PASS and v.notes == ()
    assert v.diff() == "target: model\nok   step 1 alloc_reserved_log  (x.scenario.yaml:7:5)"


def test_failed_release_calls_at_the_end_of_the_request_are_noted():
    v = verdict([step(1)], [result(1)], failures=2)
    assert v.notes == ("cleanup: 2 release call(s) failed at the end of the request",)
    assert "cleanup: 2 release call(s) failed" in v.diff()


# ---- IRQL per context ------------------------------------------------------------------------

@pytest.mark.parametrize("context, irql, name", [
    ("passive", 0, "PASSIVE_LEVEL"), ("apc", 1, "APC_LEVEL"), ("guarded", 0, "PASSIVE_LEVEL"),
    ("critical", 0, "PASSIVE_LEVEL"), ("dispatch", 2, "DISPATCH_LEVEL"),
])
def test_each_context_passes_only_at_its_own_irql(context, irql, name):
    assert verdict([step(1, context=context)], [result(1, irql=irql)]).outcome == PASS
    for wrong in {0, 1, 2} - {irql}:
        v = verdict([step(1, context=context)], [result(1, irql=wrong)])
        assert v.outcome == FAIL, (context, wrong)
        assert f"expected {name} ({context})" in v.diff()


def test_an_irql_with_no_name_is_shown_as_its_number():
    v = verdict([step(1)], [result(1, irql=15)])
    assert v.outcome == FAIL and "observed 15" in v.diff()


# ---- output conditions -----------------------------------------------------------------------

@pytest.mark.parametrize("comparator, limit, passing, failing", [
    ("eq", 512, [512], [511, 513]),
    ("ne", 512, [511, 513], [512]),
    ("lt", 512, [511, -1], [512, 513]),
    ("le", 512, [511, 512], [513]),
    ("gt", 512, [513], [511, 512]),
    ("ge", 512, [512, 513], [511]),
])
def test_every_comparison_of_an_output_judges_its_boundary(comparator, limit, passing, failing):
    want = Expectation("success", None, (("adjustment", (Condition(comparator, limit),)),))
    for value in passing:
        assert verdict([step(1, want)], [result(1, outputs={"adjustment": value})]).outcome == PASS, value
    for value in failing:
        v = verdict([step(1, want)], [result(1, outputs={"adjustment": value})])
        assert v.outcome == FAIL, value
    symbol = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[comparator]
    shown = verdict([step(1, want)], [result(1, outputs={"adjustment": failing[0]})]).diff()
    assert f"expected {symbol} {limit}" in shown


def test_a_step_with_outputs_but_a_wrong_status_shows_all_its_checks():
    want = Expectation("success", None, (("adjustment", (Condition("ge", 1),)),))
    diff = verdict([step(1, want)], [result(1, 0xC000000D)]).diff().splitlines()
    assert diff[1].startswith("FAIL step 1")
    # The failing status, and the IRQL that matched (shown unmarked, so the reader sees the whole step).
    assert "status" in diff[2] and "!= observed STATUS_INVALID_PARAMETER (0xC000000D)" in diff[2]
    assert diff[3].split()[0] == "irql" and " !=" not in diff[3] and "observed PASSIVE_LEVEL" in diff[3]
    assert "output adjustment" in diff[4] and "not reported" in diff[4]


# ---- status ----------------------------------------------------------------------------------

def test_an_exact_status_matches_only_that_code_not_its_class():
    exact = Expectation("STATUS_NO_MEMORY", 0xC0000017)
    assert verdict([step(1, exact)], [result(1, 0xC0000017)]).outcome == PASS
    assert verdict([step(1, exact)], [result(1, 0xC000000D)]).outcome == FAIL
    assert "expected STATUS_NO_MEMORY (0xC0000017)" in verdict([step(1, exact)], [result(1, 0)]).diff()


def test_a_step_that_did_not_run_passes_only_under_any_and_says_why():
    assert verdict([step(1, Expectation("any"))], [result(1, disposition=NOT_RUN)]).outcome == PASS
    v = verdict([step(1, Expectation("failure"))], [result(1, disposition=NOT_RUN)])
    assert v.outcome == FAIL
    assert "expected failure (not NT_SUCCESS)" in v.diff()
    assert "observed not run: an earlier step failed" in v.diff()


def test_a_missing_saved_input_is_named_as_the_reason_a_step_did_not_run():
    v = verdict([step(1)], [result(1, disposition="input_missing")])
    assert v.outcome == FAIL
    assert "not run: a saved value it needs was never produced" in v.diff()


def test_a_step_without_any_result_is_a_fail_that_says_so():
    v = verdict([step(1), step(2)], [result(1)])
    assert v.outcome == FAIL and not v.steps[1].ok
    assert "ran" in v.diff() and "observed none reported" in v.diff()


def test_results_are_matched_to_steps_by_index_not_by_position():
    v = verdict([step(1), step(2, Expectation("failure"))], [result(2, 0xC000000D), result(1, 0)])
    assert v.outcome == PASS
