"""The step checker as an author meets it: lists at their length limits, flags and sizes in each
accepted spelling, every form of ``expect``, ``save`` and ``on_failure``, and the problem each
wrong step earns.

Each test is a step an author writes and a result they would notice if the checker got it
wrong (a 65-record append let through, a code expectation turned into a class); found by
tools/mutation.py.
"""

from __future__ import annotations

import pytest

from harness.scenario.load import load_file
from harness.scenario.model import Condition, Expectation, SavedRef
from harness.scenario.ops import OPS, SAVED_KINDS

pytestmark = pytest.mark.timeout(20)

HEAD = ("name: basic\ndescription: d\nsteps:\n  - create_log: {name: log}\n"
        "  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}\n")


def load(tmp_path, text: str):
    path = tmp_path / "x.scenario.yaml"
    path.write_text(text)
    return load_file(path, display="x.scenario.yaml")


def steps_of(tmp_path, body: str, head: str = HEAD):
    cases, problems = load(tmp_path, head + body)
    assert problems == []
    return cases[0].steps


def last_step(tmp_path, body: str, head: str = HEAD):
    return steps_of(tmp_path, body, head)[-1]


def problems(tmp_path, body: str, head: str = HEAD) -> list[str]:
    cases, found = load(tmp_path, head + body)
    assert cases == []
    return found


def one_problem(tmp_path, body: str, head: str = HEAD) -> str:
    found = problems(tmp_path, body, head)
    assert len(found) == 1, found
    return found[0]


# ---- lists -----------------------------------------------------------------------------------

def test_an_append_takes_64_records_and_not_65(tmp_path):
    records = ", ".join(["8"] * 64)
    assert last_step(tmp_path, f"  - reserve_and_append: {{area: ma, records: [{records}]}}\n").args["records"] \
        == (8,) * 64
    found = one_problem(tmp_path, f"  - reserve_and_append: {{area: ma, records: [{records}, 8]}}\n")
    assert found.endswith("step 3 (reserve_and_append): records: 65 items; expected 0 to 64")


def test_an_align_needs_at_least_one_record_size(tmp_path):
    found = one_problem(tmp_path, "  - align_reserved_log: {area: ma, record_sizes: []}\n")
    assert found.endswith("step 3 (align_reserved_log): record_sizes: 0 items; expected 1 to 64")


def test_a_single_size_is_a_list_of_one_and_sizes_take_units(tmp_path):
    step = last_step(tmp_path, "  - align_reserved_log: {area: ma, record_sizes: 1KiB}\n")
    assert step.args["record_sizes"] == (1024,)
    step = last_step(tmp_path, "  - align_reserved_log: {area: ma, record_sizes: [100, 2KiB, -5]}\n")
    assert step.args["record_sizes"] == (100, 2048, -5)


def test_a_bad_list_item_is_reported_at_the_item(tmp_path):
    found = one_problem(tmp_path, "  - align_reserved_log: {area: ma, record_sizes: [100, lots]}\n")
    assert found.startswith("x.scenario.yaml:6:56: scenario 'basic', step 3 (align_reserved_log): "
                            "record_sizes[1]: ")
    found = one_problem(tmp_path, "  - reserve_and_append: {area: ma, records: [8, -1]}\n")
    assert "records[1]: -1 is out of range: ULONG takes 0 to 4294967295" in found


@pytest.mark.parametrize("value", ["true", "{a: 1}"])
def test_a_list_param_refuses_what_is_no_size(tmp_path, value):
    found = one_problem(tmp_path, f"  - align_reserved_log: {{area: ma, record_sizes: {value}}}\n")
    assert "record_sizes: expected a list of sizes, got" in found


# ---- flags, enums, booleans, text ------------------------------------------------------------

def test_flags_take_one_name_or_a_list(tmp_path):
    step = last_step(tmp_path, "  - reserve_and_append: {area: ma, records: [8], flags: force_flush}\n")
    assert step.args["flags"] == ("force_flush",)
    step = last_step(tmp_path, "  - reserve_and_append: {area: ma, records: [8], flags: [force_flush, "
                               "use_reservation]}\n")
    assert step.args["flags"] == ("force_flush", "use_reservation")
    assert last_step(tmp_path, "  - reserve_and_append: {area: ma, records: [8]}\n").args["flags"] == ()


@pytest.mark.parametrize("flags, message", [
    ("[force_flsh]", "flags: unknown flag 'force_flsh' (did you mean force_flush?); flags are force_append, "
                     "force_flush, use_reservation"),
    ("[force_flush, force_flush]", "flags: a flag is listed twice"),
    ("3", "flags: expected a list of flags (force_append, force_flush, use_reservation), got 3"),
])
def test_bad_flags_are_refused(tmp_path, flags, message):
    found = one_problem(tmp_path, f"  - reserve_and_append: {{area: ma, records: [8], flags: {flags}}}\n")
    assert found.endswith(f"step 3 (reserve_and_append): {message}")


def test_enum_bool_and_text_parameters_refuse_other_types(tmp_path):
    found = one_problem(tmp_path, "  - query_log_info: {log: log, info_class: basik}\n")
    assert "info_class: expected one of basic" in found and "got 'basik'" in found
    found = one_problem(tmp_path, "  - create_marshalling_area: {name: mb, log: log, buffer_size: 4KiB, "
                                  "alloc_callback: 1}\n")
    assert found.endswith("alloc_callback: expected true or false, got 1")
    found = one_problem(tmp_path, "  - create_log: {name: other, path: ''}\n")
    assert found.endswith("path: expected text, got ''")


def test_a_path_takes_200_characters_and_not_201(tmp_path):
    ok = "p" * 200
    assert last_step(tmp_path, f"  - create_log: {{name: other, path: {ok}}}\n").args["path"] == ok
    found = one_problem(tmp_path, f"  - create_log: {{name: other, path: {ok}p}}\n")
    assert found.endswith("path: 201 characters; at most 200")


def test_defaults_are_filled_in_with_the_objects_name(tmp_path):
    steps = steps_of(tmp_path, "")
    assert steps[0].args == {"name": "log", "path": "${scratch}/log", "disposition": "open_always"}
    assert steps[1].args["max_write_buffers"] == 0xFFFFFFFF and steps[1].args["max_read_buffers"] == 4
    assert steps[1].args["alloc_callback"] is False


def test_a_log_is_no_marshalling_area(tmp_path):
    found = one_problem(tmp_path, "  - flush_buffers: {area: log}\n")
    assert found.endswith("area: 'log' is a log (created at step 1), not a marshalling area")
    found = one_problem(tmp_path, "  - flush_buffers: {area: 5}\n")
    assert found.endswith("area: expected the name of a marshalling area, got 5")


def test_a_name_must_be_an_identifier(tmp_path):
    found = one_problem(tmp_path, "  - create_log: {name: 'my log'}\n")
    assert found.endswith("name: expected a name of letters, digits and '_', got 'my log'")


# ---- placeholders ----------------------------------------------------------------------------

def test_a_saved_value_goes_only_where_the_driver_resolves_it(tmp_path):
    body = ("  - align_reserved_log: {area: ma, record_sizes: [100]}\n    save: {aligned: aligned_size}\n"
            "  - alloc_reserved_log: {area: ma, records: 1, adjustment: '${aligned}'}\n")
    assert last_step(tmp_path, body).args["adjustment"] == SavedRef("aligned")
    found = one_problem(tmp_path, body + "  - create_marshalling_area: {name: mb, log: log, "
                                         "buffer_size: '${aligned}'}\n")
    # Every parameter of a kind the driver resolves at run time is named, and no other.
    resolved = sorted(f"{op.name}.{p.name}" for op in OPS.values() for p in op.params if p.kind in SAVED_KINDS)
    assert "alloc_reserved_log.adjustment" in resolved and "create_marshalling_area.buffer_size" not in resolved
    assert found.endswith(f"buffer_size: cannot take the saved value '${{aligned}}': only {', '.join(resolved)} "
                          "take values saved at run time")


def test_scratch_is_only_for_text(tmp_path):
    step = last_step(tmp_path, "  - create_log: {name: other, path: '${scratch}/x'}\n")
    assert step.args["path"] == "${scratch}/x"
    found = one_problem(tmp_path, "  - create_marshalling_area: {name: mb, log: log, buffer_size: '${scratch}'}\n")
    assert "buffer_size: undefined name '${scratch}'" in found
    found = one_problem(tmp_path, "  - create_log: {name: other, path: '${scratch}/${nope}'}\n")
    assert "path: undefined name '${nope}'" in found


def test_matrix_values_fill_placeholders_inside_text(tmp_path):
    head = HEAD.replace("steps:\n", "matrix: {n: [1, 22]}\nsteps:\n")
    cases, found = load(tmp_path, head + "  - create_log: {name: other, path: '${scratch}/log-${n}'}\n")
    assert found == [] and [c.steps[-1].args["path"] for c in cases] == ["${scratch}/log-1", "${scratch}/log-22"]


# ---- expect ----------------------------------------------------------------------------------

@pytest.mark.parametrize("expect, wanted", [
    ("success", Expectation("success")),
    ("failure", Expectation("failure")),
    ("any", Expectation("any")),
    ("0xC000000D", Expectation("STATUS_INVALID_PARAMETER", 0xC000000D)),
    ("0", Expectation("STATUS_SUCCESS", 0)),
    ("0xFFFFFFFF", Expectation("0xFFFFFFFF", 0xFFFFFFFF)),
    ("STATUS_NO_MEMORY", Expectation("STATUS_NO_MEMORY", 0xC0000017)),
    ("{status: failure}", Expectation("failure")),
    ("{container_size: 512}", Expectation("success", None, (("container_size", (Condition("eq", 512),)),))),
    ("{status: any, container_size: {ge: 1KiB, lt: 1MiB}}",
     Expectation("any", None, (("container_size", (Condition("ge", 1024), Condition("lt", 1048576))),))),
])
def test_every_form_of_expect(tmp_path, expect, wanted):
    step = last_step(tmp_path, f"  - add_container: {{log: log, size: 512KiB}}\n    expect: {expect}\n")
    assert step.expect == wanted


@pytest.mark.parametrize("expect, message", [
    ("0x100000000", "expect: expected success, failure, any, a STATUS_ name or an NTSTATUS code, got 4294967296"),
    ("-1", "expect: expected success, failure, any, a STATUS_ name or an NTSTATUS code, got -1"),
    ("true", "expect: expected success, failure, any, a STATUS_ name or an NTSTATUS code, got True"),
    ("passed", "expect: expected success, failure, any, a STATUS_ name or an NTSTATUS code, got 'passed'"),
    ("STATUS_NO_MEMROY", "expect: unknown status 'STATUS_NO_MEMROY' (did you mean STATUS_NO_MEMORY?)"),
    ("{status: failure, size: 1}", "expect: 'size' is not an output of add_container (outputs: container_size)"),
    ("{container_size: {about: 1}}", "expect.container_size: unknown comparison 'about'; use eq, ne, lt, le, gt, ge"),
    ("{container_size: {}}", "expect.container_size: expected a number or comparisons such as {ge: 512}"),
    ("{container_size: big}", "expect.container_size: expected"),
])
def test_bad_expectations_are_refused(tmp_path, expect, message):
    found = one_problem(tmp_path, f"  - add_container: {{log: log, size: 512KiB}}\n    expect: {expect}\n")
    assert message in found, found


def test_a_condition_compares_with_a_matrix_value_or_a_saved_one(tmp_path):
    head = HEAD.replace("steps:\n", "matrix: {want: [512, 1KiB]}\nsteps:\n")
    cases, found = load(tmp_path, head + "  - add_container: {log: log, size: 512KiB}\n"
                                         "    expect: {container_size: {ge: '${want}'}}\n")
    assert found == []
    assert [c.steps[-1].expect.outputs for c in cases] == [
        (("container_size", (Condition("ge", 512),)),), (("container_size", (Condition("ge", 1024),)),)]
    body = ("  - add_container: {log: log, size: 512KiB}\n    save: {got: container_size}\n"
            "  - add_container: {log: log, size: 512KiB}\n    expect: {container_size: '${got}'}\n")
    assert last_step(tmp_path, body).expect.outputs == (("container_size", (Condition("eq", SavedRef("got")),)),)
    found = one_problem(tmp_path, "  - add_container: {log: log, size: 512KiB}\n"
                                  "    expect: {container_size: '${nothing}'}\n")
    assert "expect.container_size: undefined name '${nothing}'" in found


# ---- on_failure, save, note, context ---------------------------------------------------------

@pytest.mark.parametrize("expect, on_failure, stops", [
    ("success", "", True), ("failure", "", False), ("any", "", False), ("STATUS_NO_MEMORY", "", False),
    ("failure", "stop", True), ("success", "continue", False),
])
def test_what_stops_the_request_when_a_step_fails(tmp_path, expect, on_failure, stops):
    extra = f"    on_failure: {on_failure}\n" if on_failure else ""
    step = last_step(tmp_path, f"  - flush_buffers: {{area: ma}}\n    expect: {expect}\n" + extra)
    assert step.stop_on_failure is stops


def test_a_bad_on_failure_is_reported(tmp_path):
    found = one_problem(tmp_path, "  - flush_buffers: {area: ma}\n    on_failure: halt\n")
    assert found.endswith("step 3 (flush_buffers): on_failure: expected stop or continue, got 'halt'")


def test_save_keeps_outputs_under_new_names(tmp_path):
    step = last_step(tmp_path, "  - add_container: {log: log, size: 512KiB}\n    save: {cs: container_size}\n")
    assert step.save == {"cs": "container_size"}


@pytest.mark.parametrize("save, message", [
    ("[container_size]", "save: expected a mapping of new names to outputs, such as {aligned: aligned_size}, "
                         "got a list"),
    ("{}", "save: expected a mapping of new names to outputs"),
    ("{scratch: container_size}", "save: 'scratch' cannot name a saved value"),
    ("{'a b': container_size}", "save: 'a b' cannot name a saved value"),
    ("{cs: size}", "save: 'size' is not an output of add_container (outputs: container_size)"),
])
def test_bad_saves_are_refused(tmp_path, save, message):
    found = one_problem(tmp_path, f"  - add_container: {{log: log, size: 512KiB}}\n    save: {save}\n")
    assert message in found, found


def test_a_saved_name_cannot_shadow_a_matrix_value(tmp_path):
    head = HEAD.replace("steps:\n", "matrix: {cs: [1]}\nsteps:\n")
    found = one_problem(tmp_path, "  - add_container: {log: log, size: 512KiB}\n    save: {cs: container_size}\n",
                        head)
    assert "save: 'cs' cannot name a saved value" in found


def test_a_note_is_kept_and_must_be_text(tmp_path):
    assert last_step(tmp_path, "  - flush_buffers: {area: ma}\n    note: why\n").note == "why"
    assert one_problem(tmp_path, "  - flush_buffers: {area: ma}\n    note: [why]\n").endswith(
        "step 3 (flush_buffers): note: expected text, got a list")


def test_a_step_context_overrides_the_scenario_context(tmp_path):
    steps = steps_of(tmp_path, "  - flush_buffers: {area: ma}\n    context: guarded\n",
                     HEAD.replace("steps:\n", "context: apc\nsteps:\n"))
    assert [s.context for s in steps] == ["apc", "apc", "guarded"]
    found = one_problem(tmp_path, "  - flush_buffers: {area: ma}\n    context: dispatch\n")
    assert found.startswith("x.scenario.yaml:7:14: scenario 'basic', step 3 (flush_buffers): context: dispatch is "
                            "above APC_LEVEL")
    found = one_problem(tmp_path, "  - flush_buffers: {area: ma}\n    context: high\n")
    assert "step 3 (flush_buffers): context: expected one of passive, apc, guarded, critical, dispatch, got 'high'" \
        in found


def test_a_dispatch_default_context_is_reported_once_for_the_scenario(tmp_path):
    found = problems(tmp_path, "  - flush_buffers: {area: ma}\n", HEAD.replace("steps:\n", "context: dispatch\n"
                                                                                            "steps:\n"))
    assert len(found) == 1
    assert found[0].startswith("x.scenario.yaml:3:10: scenario 'basic': context: dispatch is above APC_LEVEL")


# ---- the shape of a step ---------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ("  - flush_buffers\n", "step 3: expected a mapping with one op such as create_log: {...}, got 'flush_buffers'"),
    ("  - {flush_buffers: {area: ma}, close_log: {log: log}}\n",
     "step 3: a step has exactly one op, found flush_buffers and close_log"),
    ("  - {note: n}\n", "step 3: a step needs an op: one of create_log"),
    ("  - {flush_buffers: {area: ma}, expct: any}\n", "step 3: unknown key 'expct' (did you mean expect?); besides "
                                                      "its op a step takes context, expect, save, on_failure, note"),
    ("  - flush_buffers: [ma]\n", "step 3 (flush_buffers): expected a mapping of parameters (area), got a list"),
])
def test_malformed_steps_are_refused(tmp_path, body, message):
    assert message in one_problem(tmp_path, body)


def test_an_alloc_may_differ_from_its_align_when_the_step_expects_the_failure(tmp_path):
    body = ("  - align_reserved_log: {area: ma, record_sizes: [100, 200]}\n    save: {aligned: aligned_size}\n"
            "  - alloc_reserved_log: {area: ma, records: 3, adjustment: '${aligned}'}\n    expect: failure\n")
    assert last_step(tmp_path, body).args["records"] == 3
    same = body.replace("records: 3", "records: 2").replace("    expect: failure\n", "")
    assert last_step(tmp_path, same).args["records"] == 2


def test_a_problem_in_a_step_is_reported_once_not_again_at_each_use(tmp_path):
    found = problems(tmp_path, "  - create_log: {name: other, disposition: sometimes}\n"
                               "  - close_log: {log: other}\n  - delete_log: {log: other}\n")
    assert len(found) == 1 and "disposition: expected one of" in found[0]


# ---- a wrong step is one problem, never a crash or a second problem ---------------------------

ALIGNED = "  - align_reserved_log: {area: ma, record_sizes: [100]}\n    save: {aligned: aligned_size}\n"


@pytest.mark.parametrize("body, message", [
    # the rule "alloc records = align records" must not run on parameters that failed their own checks
    (ALIGNED + "  - alloc_reserved_log: {area: ma, adjustment: '${aligned}'}\n",
     "step 4 (alloc_reserved_log): missing required parameter 'records'"),
    (ALIGNED + "  - alloc_reserved_log: {area: ma, records: two, adjustment: '${aligned}'}\n",
     "step 4 (alloc_reserved_log): records: expected an integer >= 1, got 'two'"),
    ("  - alloc_reserved_log: {records: 1, adjustment: 5}\n",
     "step 3 (alloc_reserved_log): missing required parameter 'area'"),
    ("  - align_reserved_log: {area: ma}\n    save: {aligned: aligned_size}\n",
     "step 3 (align_reserved_log): missing required parameter 'record_sizes'"),
    (ALIGNED + "  - alloc_reserved_log: {area: ma, records: 3, adjustment: '${aligned}', extra: 1}\n",
     "step 4 (alloc_reserved_log): unknown parameter 'extra'; alloc_reserved_log takes area, records, adjustment"),
    ("  - create_log: {name: 5}\n", "step 3 (create_log): name: expected a name of letters, digits and '_', got 5"),
    ("  - create_log: {name: other, path: 5}\n", "step 3 (create_log): path: expected text, got 5"),
    ("  - create_log: {name: other, path: '${nope}'}\n", "step 3 (create_log): path: undefined name '${nope}'"),
    # a malformed placeholder is named as written, not as the part a regular expression sees
    ("  - create_log: {name: other, path: '${a}b}'}\n", "step 3 (create_log): path: undefined name '${a}b}'"),
    ("  - flush_buffers: {area: ma}\n    expect: {status: passed}\n",
     "step 3 (flush_buffers): expect: expected success, failure, any, a STATUS_ name or an NTSTATUS code, "
     "got 'passed'"),
    ("  - flush_buffers: {area: ma}\n    expect: [success]\n",
     "step 3 (flush_buffers): expect: expected success, failure, any, a STATUS_ name or an NTSTATUS code, got a list"),
    ("  - flush_buffers: {area: ma}\n    expect: 1.5\n",
     "step 3 (flush_buffers): expect: expected success, failure, any, a STATUS_ name or an NTSTATUS code, got 1.5"),
])
def test_a_wrong_step_is_one_problem_not_a_crash(tmp_path, body, message):
    assert message in one_problem(tmp_path, body)


def test_what_a_step_names_and_switches_on_is_kept(tmp_path):
    steps = steps_of(tmp_path, "  - create_marshalling_area: {name: mb, log: log, buffer_size: 1, "
                               "alloc_callback: true, free_callback: false}\n  - flush_buffers: {area: mb}\n"
                               "  - create_log: {name: other, path: '${scratch}'}\n")
    assert steps[2].args["alloc_callback"] is True and steps[2].args["free_callback"] is False
    assert steps[2].args["log"] == "log" and steps[3].args["area"] == "mb"
    assert steps[4].args["path"] == "${scratch}"


@pytest.mark.parametrize("body, place", [
    ("  - {flush_buffers: {area: ma}, expct: any}\n", "6:33"),
    ("  - add_container: {log: log, size: 512KiB}\n    expect: {status: failure, size: 1}\n", "7:31"),
    ("  - add_container: {log: log, size: 512KiB}\n    expect: {container_size: {about: 1}}\n", "7:31"),
    ("  - add_container: {log: log, size: 512KiB}\n    save: {'a b': container_size}\n", "7:12"),
])
def test_a_wrong_key_is_reported_where_the_key_is_written(tmp_path, body, place):
    assert one_problem(tmp_path, body).startswith(f"x.scenario.yaml:{place}: ")
