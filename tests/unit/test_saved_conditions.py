"""Conditions on values saved at run time (``lsn: {gt: "${first}"}``) and LSN semantics.

The checker accepts a saved value in a condition only after the step that saves it, of the same
kind (LSN or number) and, for LSNs, of the same stream; the verdict resolves it from the response
the way the driver resolves ``${name}``, compares LSNs as ClfsLsnLess/Greater/Equal do and shows
them decomposed; a value that was never produced is a FAIL line, not a crash.
"""

from __future__ import annotations

import jsonschema
import pytest

from harness.protocol.results import NOT_RUN, RAN, CaseResult, CleanupSummary, StepResult
from harness.scenario import lsn, schema
from harness.scenario.load import load_file
from harness.scenario.model import Condition, Expectation, SavedRef, SourceLoc, Step
from harness.verdict.judge import FAIL, PASS, judge

HEADER = "name: basic\ndescription: d\nsteps:\n"
LOG = "  - create_log: {name: log}\n"
CONTAINERS = "  - add_container_set: {log: log, count: 2, size: 512KiB}\n"
AREA = "  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}\n"
SETUP = HEADER + LOG + CONTAINERS + AREA
APPEND_FIRST = "  - reserve_and_append: {area: ma, records: [64]}\n    save: {first: lsn}\n"


def load(tmp_path, content: str):
    path = tmp_path / "x.scenario.yaml"
    path.write_text(content)
    return load_file(path, display="x.scenario.yaml")


def problems_of(tmp_path, content: str) -> list[str]:
    cases, problems = load(tmp_path, content)
    assert not cases
    return problems


# -- LSN semantics ---------------------------------------------------------------------------------

def test_an_lsn_decomposes_as_the_clfs_lsn_routines_define_it():
    value = lsn.create(3, 0x7FE00, 17)
    assert value == 0x0000_0003_0007_FE11
    assert (lsn.container(value), lsn.block_offset(value), lsn.record_sequence(value)) == (3, 0x7FE00, 17)
    assert lsn.describe(value) == "0x000000030007FE11 (container 3, block 0x7FE00, record 17)"
    assert lsn.describe(0) == "0x0000000000000000 (CLFS_LSN_NULL)"
    assert lsn.describe(0xFFFFFFFF00000000) == "0xFFFFFFFF00000000 (CLFS_LSN_INVALID)"
    with pytest.raises(ValueError):
        lsn.create(0, 100, 0)  # offBlock must be a multiple of 512
    with pytest.raises(ValueError):
        lsn.create(0, 512, 512)  # cRecord 0-511


def test_lsns_order_by_container_then_block_then_record_unsigned():
    ordered = [lsn.CLFS_LSN_NULL, lsn.create(0, 0, 1), lsn.create(0, 0x200, 0), lsn.create(1, 0, 0),
               lsn.create(2, 0, 0),  # a recycled container gets a *larger* logical id
               lsn.create(0x7FFFFFFF, 0xFFFFFE00, 511), lsn.create(0x80000000, 0, 0),  # no sign bit
               lsn.create(0xFFFFFFFE, 0xFFFFFE00, 511), lsn.CLFS_LSN_INVALID]
    for i, a in enumerate(ordered):
        for j, b in enumerate(ordered):
            assert lsn.compare(a, b) == (i > j) - (i < j), (hex(a), hex(b))


def test_invalid_is_above_every_valid_lsn_and_null_below():
    # "CLFS_LSN_NULL (the smallest LSN) and CLFS_LSN_INVALID (larger than any valid LSN)" (ClfsLsnLess.md)
    assert lsn.CLFS_LSN_INVALID == 0xFFFFFFFF00000000
    assert lsn.compare(lsn.CLFS_LSN_INVALID, lsn.create(5, 0x400, 3)) == 1
    assert lsn.compare(lsn.CLFS_LSN_NULL, lsn.create(0, 0, 1)) == -1


# -- the checker -------------------------------------------------------------------------------------

def test_a_saved_value_in_a_condition_becomes_a_reference(tmp_path):
    cases, problems = load(tmp_path, SETUP + APPEND_FIRST
                           + "  - reserve_and_append: {area: ma, records: [64]}\n"
                           + "    expect: {status: success, lsn: {gt: '${first}', lt: CLFS_LSN_INVALID}}\n")
    assert problems == []
    conditions = dict(cases[0].steps[4].expect.outputs)["lsn"]
    assert conditions == (Condition("gt", SavedRef("first")), Condition("lt", 0xFFFFFFFF00000000))


def test_a_saved_value_used_before_the_step_that_saves_it_is_refused_at_its_place(tmp_path):
    content = (SETUP + "  - reserve_and_append: {area: ma, records: [64]}\n"
               + "    expect: {status: success, lsn: {gt: '${first}'}}\n" + APPEND_FIRST)
    assert problems_of(tmp_path, content) == [
        "x.scenario.yaml:8:36: scenario 'basic', step 4 (reserve_and_append): expect.lsn: '${first}' is saved by "
        "step 5, after this one: a saved value can be used only by the steps after the one that saves it"]
    same_step = SETUP + "  - reserve_and_append: {area: ma, records: [64]}\n    save: {first: lsn}\n" \
        + "    expect: {status: success, lsn: {ne: '${first}'}}\n"
    assert "'${first}' is saved by this step" in problems_of(tmp_path, same_step)[0]


def test_an_undefined_name_in_a_condition_is_refused(tmp_path):
    content = SETUP + APPEND_FIRST + "  - reserve_and_append: {area: ma, records: [64]}\n" \
        + "    expect: {status: success, lsn: {gt: '${frist}'}}\n"
    assert problems_of(tmp_path, content) == [
        "x.scenario.yaml:10:36: scenario 'basic', step 5 (reserve_and_append): expect.lsn: undefined name "
        "'${frist}': not a matrix value, a value saved by an earlier step, or ${scratch} (did you mean first?)"]


def test_an_lsn_does_not_compare_with_a_byte_count(tmp_path):
    content = SETUP + "  - align_reserved_log: {area: ma, record_sizes: [100]}\n    save: {aligned: aligned_size}\n" \
        + "  - reserve_and_append: {area: ma, records: [64]}\n    expect: {status: success, lsn: '${aligned}'}\n"
    assert problems_of(tmp_path, content) == [
        "x.scenario.yaml:10:36: scenario 'basic', step 5 (reserve_and_append): expect.lsn: '${aligned}' is a "
        "number (align_reserved_log's aligned_size, step 4) and lsn is an LSN: they do not compare"]


def test_lsns_of_different_streams_are_not_compared_but_a_reopened_log_is_the_same_stream(tmp_path):
    other = ("  - create_log: {name: other}\n  - add_container_set: {log: other, count: 2, size: 512KiB}\n"
             "  - create_marshalling_area: {name: mb, log: other, buffer_size: 4KiB}\n")
    content = SETUP + APPEND_FIRST + other + "  - reserve_and_append: {area: mb, records: [64]}\n" \
        + "    expect: {status: success, lsn: {gt: '${first}'}}\n"
    problems = problems_of(tmp_path, content)
    assert len(problems) == 1 and problems[0].startswith("x.scenario.yaml:13:36: ")
    assert "'${first}' is an LSN of another stream (step 4); \"LSNs from different streams are not comparable\"" \
        in problems[0]
    reopened = SETUP + APPEND_FIRST + "  - delete_marshalling_area: {area: ma}\n  - close_log: {log: log}\n" \
        + "  - create_log: {name: again, path: '${scratch}/LOG', disposition: open_existing}\n" \
        + "  - query_log_info: {log: again}\n    expect: {status: success, last_lsn: {ge: '${first}'}}\n"
    cases, problems = load(tmp_path, reopened)
    assert problems == [] and len(cases) == 1


def test_literals_on_lsn_outputs_are_ulonglong_and_take_the_named_lsns(tmp_path):
    content = SETUP + "  - reserve_and_append: {area: ma, records: [64]}\n" \
        + "    expect: {status: success, lsn: {lt: 0xFFFFFFFF00000000, ne: CLFS_LSN_NULL}}\n"
    content = content.replace("0xFFFFFFFF00000000", str(0xFFFFFFFF00000000))
    assert load(tmp_path, content)[1] == []
    bad = SETUP + "  - align_reserved_log: {area: ma, record_sizes: [100]}\n" \
        + "    expect: {status: success, aligned_size: CLFS_LSN_INVALID}\n"
    assert "expect.aligned_size: expected a size in bytes" in problems_of(tmp_path, bad)[0]


def test_the_schema_accepts_saved_values_and_named_lsns_in_conditions():
    validator = jsonschema.Draft202012Validator(schema.build_schema())
    doc = {"name": "a", "description": "d", "steps": [
        {"reserve_and_append": {"area": "a"}, "expect": {"status": "success",
                                                         "lsn": {"gt": "${first}", "lt": "CLFS_LSN_INVALID"}}},
        {"alloc_reserved_log": {"area": "a", "records": 1, "adjustment": 1},
         "expect": {"adjustment": {"eq": "${aligned}"}}}]}
    assert list(validator.iter_errors(doc)) == []
    doc["steps"][1]["expect"] = {"adjustment": "CLFS_LSN_INVALID"}
    assert list(validator.iter_errors(doc)), "named LSNs are for LSN outputs only"


# -- the verdict -------------------------------------------------------------------------------------

LOC = SourceLoc("x.scenario.yaml", 3, 5)
FIRST = lsn.create(0, 0x200, 0)


def step(index, op="reserve_and_append", save=None, outputs=()):
    return Step(index, op, {}, "passive", Expectation("success", None, tuple(outputs)), save or {}, True, LOC)


def result(index, outputs=None, status=0, disposition=RAN, op="reserve_and_append"):
    return StepResult(index, op, disposition, status, 0, "passive", outputs or {}, 1)


class _Case:
    def __init__(self, *steps):
        self.steps = steps


def verdict(steps, results):
    return judge(_Case(*steps), CaseResult("model", tuple(results), CleanupSummary()))


def greater_than_first(comparator="gt"):
    return step(2, outputs=[("lsn", (Condition(comparator, SavedRef("first")),))])


def test_a_condition_on_a_saved_lsn_is_resolved_from_the_response():
    steps = [step(1, save={"first": "lsn"}), greater_than_first()]
    assert verdict(steps, [result(1, {"lsn": FIRST}), result(2, {"lsn": FIRST + 1})]).outcome == PASS
    failed = verdict(steps, [result(1, {"lsn": FIRST}), result(2, {"lsn": FIRST})])
    assert failed.outcome == FAIL
    line = [x for x in failed.diff().splitlines() if "output lsn" in x][0]
    assert "expected > ${first} (= 0x0000000000000200 (container 0, block 0x200, record 0))" in line
    assert line.endswith("!= observed 0x0000000000000200 (container 0, block 0x200, record 0)")


def test_lsn_conditions_compare_unsigned_across_the_sign_bit():
    steps = [step(1, save={"first": "lsn"}), greater_than_first()]
    low, high = lsn.create(0x7FFFFFFF, 0, 0), lsn.create(0x80000000, 0, 0)
    assert verdict(steps, [result(1, {"lsn": low}), result(2, {"lsn": high})]).outcome == PASS


def test_a_saved_number_is_compared_as_a_number():
    steps = [step(1, op="align_reserved_log", save={"aligned": "aligned_size"}),
             step(2, op="alloc_reserved_log", outputs=[("adjustment", (Condition("eq", SavedRef("aligned")),))])]
    ok = verdict(steps, [result(1, {"aligned_size": 512}, op="align_reserved_log"),
                         result(2, {"adjustment": 512}, op="alloc_reserved_log")])
    assert ok.outcome == PASS
    bad = verdict(steps, [result(1, {"aligned_size": 512}, op="align_reserved_log"),
                          result(2, {"adjustment": -512}, op="alloc_reserved_log")])
    assert bad.outcome == FAIL and "expected == ${aligned} (= 512)" in bad.diff() and "observed -512" in bad.diff()


@pytest.mark.parametrize("first, why", [
    (result(1, status=0xC000000D), "step 1 (reserve_and_append) failed with STATUS_INVALID_PARAMETER and "
                                   "reported no lsn"),
    (result(1, disposition=NOT_RUN), "step 1 (reserve_and_append) did not run"),
    (result(1, {}), "step 1 (reserve_and_append) did not report lsn"),
    (None, "step 1 (reserve_and_append) reported no result"),
])
def test_a_saved_value_that_was_never_produced_is_a_fail_line_not_a_crash(first, why):
    results = [r for r in (first, result(2, {"lsn": FIRST})) if r is not None]
    failed = verdict([step(1, save={"first": "lsn"}), greater_than_first()], results)
    assert failed.outcome == FAIL
    assert f"cannot compare: ${{first}} has no value: {why}" in failed.diff()


def test_a_later_failed_save_keeps_the_earlier_value_as_the_driver_does():
    steps = [step(1, save={"first": "lsn"}), step(2, save={"first": "lsn"}), greater_than_first("ge")]
    steps[2] = Step(3, "reserve_and_append", {}, "passive", steps[2].expect, {}, True, LOC)
    results = [result(1, {"lsn": FIRST}), result(2, status=0xC000000D), result(3, {"lsn": FIRST})]
    assert verdict(steps, results).steps[2].ok


def test_on_the_model_a_second_lsn_is_greater_than_the_first_and_a_wrong_order_fails(tmp_path):
    from harness.targets.model import ModelTarget

    base = SETUP + APPEND_FIRST + "  - reserve_and_append: {area: ma, records: [64]}\n" \
        + "    expect: {status: success, lsn: {%s: '${first}'}}\n"
    target = ModelTarget()
    target.prepare()
    try:
        outcomes = {}
        for comparator in ("gt", "le"):
            (case,), problems = load(tmp_path, base % comparator)
            assert problems == []
            outcomes[comparator] = judge(case, target.execute(case))
    finally:
        target.close()
    assert outcomes["gt"].outcome == PASS
    assert outcomes["le"].outcome == FAIL
    assert "expected <= ${first} (= 0x0000000000000000 (CLFS_LSN_NULL))" in outcomes["le"].diff()
    assert "observed 0x0000000000000001 (container 0, block 0x0, record 1)" in outcomes["le"].diff()


def test_a_parameter_that_takes_a_value_saved_later_says_which_step_saves_it(tmp_path):
    content = SETUP + "  - flush_to_lsn: {area: ma, lsn: '${first}'}\n" + APPEND_FIRST
    assert problems_of(tmp_path, content) == [
        "x.scenario.yaml:7:35: scenario 'basic', step 4 (flush_to_lsn): lsn: '${first}' is saved by step 5, after "
        "this one: a saved value can be used only by the steps after the one that saves it"]
