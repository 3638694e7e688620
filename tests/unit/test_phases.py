"""Scenarios in phases: the checker's rules for ``restart:``, the split into one request per phase,
values saved before a restart carried into the next phase as literals, and the joined result."""

from __future__ import annotations

import dataclasses

import jsonschema
import pytest

from harness.errors import ProtocolError
from harness.protocol import encode_request
from harness.protocol.results import INPUT_MISSING, NOT_RUN, RAN, CaseResult, CleanupSummary, StepResult
from harness.scenario import schema
from harness.scenario.model import SavedRef
from harness.scenario.phases import bind, split_phases
from harness.scenario.yamlsrc import load_documents
from harness.targets.model import ModelTarget
from harness.targets.phases import run_phases
from harness.verdict.judge import PASS, judge
from tests.unit.test_saved_conditions import load, problems_of

TWO_PHASES = """\
name: cut
description: d
steps:
  - create_log: {name: log, path: "${scratch}/d"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [64]}
    save: {first: lsn}
  - flush_to_lsn: {area: ma, lsn: "${first}"}
  - restart: {how: power_cut}
  - create_log: {name: log, path: "${scratch}/d"}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - flush_to_lsn: {area: ma, lsn: "${first}"}
    expect: {status: success, last_flushed_lsn: {ge: "${first}"}}
  - close_log: {log: log}
"""


def test_two_phases_check_and_carry_phase_numbers(tmp_path):
    (case,), problems = load(tmp_path, TWO_PHASES)
    assert problems == []
    assert [(r.index, r.how, r.phase, r.loc.line) for r in case.restarts] == [(6, "power_cut", 2, 10)]
    assert [s.phase for s in case.steps] == [1, 1, 1, 1, 1, 2, 2, 2, 2]
    assert 6 not in [s.index for s in case.steps]


def test_an_object_of_an_earlier_phase_is_gone_with_the_line_of_the_restart(tmp_path):
    content = TWO_PHASES.replace('  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}\n  - flush_to_lsn',
                                 '  - flush_to_lsn')
    assert problems_of(tmp_path, content) == [
        "x.scenario.yaml:12:26: scenario 'cut', step 8 (flush_to_lsn): area: 'ma' is gone after the restart at "
        "line 10: the marshalling area created at step 3 does not survive a restart; create it again after the "
        "restart (create_log on the same path opens the log on disk)"]


def test_a_name_may_be_created_again_after_a_restart_but_not_twice_in_one_phase(tmp_path):
    content = TWO_PHASES.replace("  - close_log: {log: log}\n", "  - create_log: {name: log}\n")
    assert any("duplicate name 'log': step 7 already created a log" in p for p in problems_of(tmp_path, content))


@pytest.mark.parametrize("restart, message", [
    ("  - restart: {how: cut}\n", "10:20: scenario 'cut', step 6 (restart): how: expected one of power_cut, "
                                  "bugcheck, clean, reopen, got 'cut'"),
    ("  - restart: power_cut\n", "10:14: scenario 'cut', step 6 (restart): restart: expected a mapping such as "
                                 "{how: power_cut}, got 'power_cut'"),
    ("  - restart: {}\n", "10:14: scenario 'cut', step 6 (restart): restart: missing required parameter 'how'"),
    ("  - restart: {how: clean}\n    save: {x: lsn}\n", "11:5: scenario 'cut', step 6 (restart): unknown key "
                                                       "'save'; a restart step takes restart, expect, note"),
    ("  - restart: {how: clean}\n    expect: success\n", "11:13: scenario 'cut', step 6 (restart): expect: a "
                                                        "restart step takes only 'durable'"),
    ("  - restart: {how: clean}\n    create_log: {name: x}\n",
     "11:5: scenario 'cut', step 6 (restart): a step has exactly one op, found restart and create_log"),
    ("  - restart: {how: clean, after: 5}\n",
     "10:27: scenario 'cut', step 6 (restart): restart: unknown parameter 'after'; restart takes how"),
    ("  - restart: {how: clean}\n    note: 5\n", "11:11: scenario 'cut', step 6 (restart): note: expected text, got 5"),
    ("  - restart: {how: clean}\n  - restart: {how: power_cut}\n",
     "11:5: scenario 'cut', step 7 (restart): restart: step 6 is a restart too: the phase between them has no steps"),
])
def test_bad_restart_steps_name_file_line_and_field(tmp_path, restart, message):
    content = TWO_PHASES.replace("  - restart: {how: power_cut}\n", restart)
    problems = problems_of(tmp_path, content)
    assert any(p.startswith("x.scenario.yaml:" + message) for p in problems), problems


def test_a_restart_cannot_open_or_close_the_steps(tmp_path):
    first = "name: s\ndescription: d\nsteps:\n  - restart: {how: clean}\n  - create_log: {name: log}\n"
    assert "restart: the first step cannot be a restart" in problems_of(tmp_path, first)[0]
    last = "name: s\ndescription: d\nsteps:\n  - create_log: {name: log}\n  - restart: {how: clean}\n"
    assert "must be followed by the steps of the phase it starts" in problems_of(tmp_path, last)[0]


def test_expect_durable_is_accepted_and_marks_the_case(tmp_path):
    content = TWO_PHASES.replace("  - restart: {how: power_cut}\n", "  - restart: {how: bugcheck}\n    expect: durable\n")
    (case,), _ = load(tmp_path, content)
    assert case.durable and case.restarts[0].how == "bugcheck"
    assert ModelTarget().refuses(case) is None      # the model simulates every restart (issue 14)
    from harness.targets.wine import WineTarget
    assert WineTarget().refuses(case) is None       # so does the stand-in's, with real Wine restarts


def test_the_schema_accepts_restart_steps_and_refuses_bad_ones():
    validator = jsonschema.Draft202012Validator(schema.build_schema())
    doc = load_documents(TWO_PHASES)[0].data
    assert list(validator.iter_errors(doc)) == []
    doc["steps"][5] = {"restart": {"how": "unplug"}}
    assert list(validator.iter_errors(doc))
    doc["steps"][5] = {"restart": {"how": "clean"}, "expect": "durable"}
    assert list(validator.iter_errors(doc)) == []
    assert schema.shipped_schema_text() == schema.schema_text()


def test_split_gives_each_phase_its_steps_objects_and_carried_names(tmp_path):
    (case,), _ = load(tmp_path, TWO_PHASES)
    one, two = split_phases(case)
    assert [s.index for s in one.case.steps] == [1, 2, 3, 4, 5] and one.restart is None
    assert [s.index for s in two.case.steps] == [7, 8, 9, 10] and two.restart.how == "power_cut"
    assert list(two.case.objects) == ["log", "ma"] and two.carried == {"first"}
    bound, missing = bind(two, {"first": 0x1234})
    assert bound.steps[2].args["lsn"] == 0x1234 and missing == []
    assert [s.index for s in bound.steps] == [1, 2, 3, 4]   # the driver takes steps in sequence
    encode_request(bound, scratch="/s")           # a phase encodes on its own
    _, missing = bind(two, {})
    assert missing == [9]
    with pytest.raises(ProtocolError, match="one request per phase"):
        encode_request(case, scratch="/s")


def test_renumbering_keeps_every_other_field_of_a_step_and_a_result(tmp_path):
    """Step.renumbered and StepResult.renumbered call the constructor field by field (for speed):
    a field added to either class and not passed on would be lost in every phased case."""
    (case,), _ = load(tmp_path, TWO_PHASES)
    step = dataclasses.replace(case.steps[-1], note="a note")
    moved = step.renumbered(2, {"x": 1})
    assert moved == dataclasses.replace(step, index=2, args={"x": 1})
    assert step.renumbered(3) == dataclasses.replace(step, index=3)
    result = StepResult(index=4, op="append", disposition=RAN, status=5, irql=1, context="apc",
                        outputs={"lsn": 7}, elapsed_us=9, phase=2)
    assert result.renumbered(8) == dataclasses.replace(result, index=8)
    assert result.renumbered(8, 3) == dataclasses.replace(result, index=8, phase=3)
    for cls in (type(step), StepResult):   # every field differs from its default in the samples above
        sample = step if cls is type(step) else result
        assert all(getattr(sample, f.name) != f.default for f in dataclasses.fields(cls)), cls


def _result(case, lsn_value=0x1234, stopped=False) -> CaseResult:
    steps = []
    for s in case.steps:
        outputs = {"lsn": lsn_value} if s.op == "reserve_and_append" else {}
        if s.op == "flush_to_lsn":
            outputs = {"last_flushed_lsn": s.args["lsn"] if isinstance(s.args["lsn"], int) else lsn_value}
        steps.append(StepResult(s.index, s.op, RAN, 0, 0, s.context, outputs, 5))
    return CaseResult(target="fake", steps=tuple(steps), cleanup=CleanupSummary(logs_closed=1), identity={"target": "fake"},
                      request=b"r", response=b"s", elapsed_s=0.5, stopped=stopped)


def test_run_phases_restarts_between_requests_and_joins_results(tmp_path):
    (case,), _ = load(tmp_path, TWO_PHASES)
    calls = []

    def run(phase_case, number):
        calls.append(("run", number, [s.args.get("lsn") for s in phase_case.steps if s.op == "flush_to_lsn"]))
        return _result(phase_case)

    result = run_phases(case, run, lambda how: calls.append(("restart", how)), "fake")
    assert calls[0][:2] == ("run", 1) and calls[1] == ("restart", "power_cut")
    assert calls[2] == ("run", 2, [0x1234])                 # saved in phase 1, a literal in phase 2
    assert [(r.index, r.phase) for r in result.steps] == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1),
                                                          (7, 2), (8, 2), (9, 2), (10, 2)]
    assert [p["restart"] for p in result.phases] == [None, "power_cut"] and result.cleanup.logs_closed == 2
    assert judge(case, result).outcome == PASS             # a condition in phase 2 on a phase-1 value


def test_a_phase_after_a_stop_does_not_run(tmp_path):
    (case,), _ = load(tmp_path, TWO_PHASES)
    calls = []
    result = run_phases(case, lambda c, n: calls.append(n) or _result(c, stopped=True),
                        lambda how: calls.append(how), "fake")
    assert calls == [1]
    assert {r.disposition for r in result.steps if r.phase == 2} == {NOT_RUN}
    assert judge(case, result).outcome != PASS


def test_a_carried_value_never_produced_is_input_missing(tmp_path):
    (case,), _ = load(tmp_path, TWO_PHASES)

    def run(c, n):
        r = _result(c)
        return CaseResult(target="fake", steps=tuple(s if s.op != "reserve_and_append" else
                                                     StepResult(s.index, s.op, RAN, 0xC000000D, 0, s.context, {}, 1)
                                                     for s in r.steps), cleanup=r.cleanup)

    result = run_phases(case, run, lambda how: None, "fake")
    assert [r.disposition for r in result.steps if r.phase == 2] == [NOT_RUN, NOT_RUN, INPUT_MISSING, NOT_RUN]
    assert result.phases[1]["ran"] is False


def test_reports_show_each_phase(tmp_path):
    import json

    from harness.report.record import case_record
    from harness.report.results import SCHEMA_PATH
    from harness.report.summary import _first_mismatch

    (case,), _ = load(tmp_path, TWO_PHASES)

    def run(c, n):   # phase 2's flush reports an LSN below the one phase 1 saved: a FAIL
        r = _result(c)
        return r if n == 1 else CaseResult(target="fake", steps=tuple(
            StepResult(s.index, s.op, RAN, 0, 0, s.context, {"last_flushed_lsn": 1} if s.op == "flush_to_lsn"
                       else {}, 5) for s in r.steps), cleanup=r.cleanup, identity=r.identity)

    result = run_phases(case, run, lambda how: None, "fake")
    verdict = judge(case, result)
    diff = verdict.diff()
    assert "--- phase 1\n" in diff and "--- phase 2, after restart: power_cut (x.scenario.yaml:10:5)" in diff
    assert diff.index("--- phase 2") < diff.index("FAIL step 9 flush_to_lsn")
    record = case_record(case, "fake", verdict.outcome, result=result, verdict=verdict)
    assert [s["phase"] for s in record["steps"]] == [1] * 5 + [2] * 4
    assert [p["restart"] for p in record["phases"]] == [None, "power_cut"]
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(record, {"$defs": schema["$defs"], "$ref": "#/$defs/case"})
    assert "step 9 flush_to_lsn" in _first_mismatch(record)


def test_a_name_saved_again_in_a_later_phase_takes_the_new_value_from_there_on(tmp_path):
    """Before the phase saves ${first} again, the value phase 1 saved is bound in as a literal; after
    it, the request refers to the driver's register, which holds the new record's LSN."""
    content = TWO_PHASES.replace("  - close_log: {log: log}\n",
                                 "  - reserve_and_append: {area: ma, records: [64]}\n    save: {first: lsn}\n"
                                 "  - flush_to_lsn: {area: ma, lsn: \"${first}\"}\n")
    (case,), problems = load(tmp_path, content)
    assert problems == []
    sent = []

    def run(phase_case, number):
        sent.append([s.args["lsn"] for s in phase_case.steps if s.op == "flush_to_lsn"])
        return _result(phase_case)

    run_phases(case, run, lambda how: None, "fake")
    assert sent[1] == [0x1234, SavedRef("first")]


def test_a_log_of_the_same_name_on_another_path_after_a_restart_is_another_stream(tmp_path):
    content = TWO_PHASES.replace("  - close_log: {log: log}\n",
                                 "  - create_log: {name: other, path: \"${scratch}/e\"}\n").replace(
        "  - restart: {how: power_cut}\n  - create_log: {name: log, path: \"${scratch}/d\"}\n",
        "  - restart: {how: power_cut}\n  - create_log: {name: log, path: \"${scratch}/e\"}\n")
    problems = problems_of(tmp_path, content)
    assert any("'${first}' is an LSN of another stream (step 4)" in p for p in problems), problems
    (case,), problems = load(tmp_path, TWO_PHASES)      # the same path: the same stream
    assert problems == []


def test_each_phase_may_append_up_to_the_request_limit(tmp_path):
    """One request per phase: the 16 MiB a request may carry counts from the restart afresh."""
    mib = "  - reserve_and_append: {area: ma, records: [1048576]}\n"
    content = TWO_PHASES.replace("  - close_log: {log: log}\n", mib * 16)
    (case,), problems = load(tmp_path, content)
    assert problems == []
    assert any("more than the 16777216 (16 MiB) one case may append" in p
               for p in problems_of(tmp_path, content.replace("  - restart: {how: power_cut}\n", "")
                                    .replace("  - create_log: {name: log, path: \"${scratch}/d\"}\n"
                                             "  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}\n"
                                             "  - flush_to_lsn", "  - flush_to_lsn")))
