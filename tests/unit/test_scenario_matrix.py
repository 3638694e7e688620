"""Matrix expansion: one case per combination, readable IDs, typed substitution everywhere it is allowed."""

from __future__ import annotations

from harness.scenario.load import load_file
from harness.scenario.model import SavedRef

SCENARIO = """\
name: grid
description: d
tags: [marshalling]
context: "${ctx}"
matrix:
  buffer: [4096, 8KiB]
  ctx: [passive, apc]
  pool: [paged]
steps:
  - create_log: {name: log, path: "${scratch}/grid-${buffer}"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: "${buffer}", pool: "${pool}"}
  - align_reserved_log: {area: ma, record_sizes: ["${buffer}", 100]}
    save: {aligned: aligned_size}
  - alloc_reserved_log: {area: ma, records: 2, adjustment: "${aligned}"}
    context: passive
    expect: {status: success, adjustment: {ge: "${buffer}"}}
"""


def load(tmp_path, text=SCENARIO):
    path = tmp_path / "grid.scenario.yaml"
    path.write_text(text)
    cases, problems = load_file(path, file_id="marshalling/grid.scenario.yaml")
    assert problems == []
    return cases


def test_one_case_per_combination_in_declaration_order(tmp_path):
    ids = [c.id for c in load(tmp_path)]
    assert ids == [
        "marshalling/grid.scenario.yaml::grid[buffer=4096,ctx=passive,pool=paged]",
        "marshalling/grid.scenario.yaml::grid[buffer=4096,ctx=apc,pool=paged]",
        "marshalling/grid.scenario.yaml::grid[buffer=8KiB,ctx=passive,pool=paged]",
        "marshalling/grid.scenario.yaml::grid[buffer=8KiB,ctx=apc,pool=paged]",
    ]


def test_values_are_substituted_with_their_types(tmp_path):
    case = load(tmp_path)[3]
    create, align, alloc = case.steps[2], case.steps[3], case.steps[4]
    assert create.args["buffer_size"] == 8192 and create.args["pool"] == "paged"
    assert align.args["record_sizes"] == (8192, 100)
    assert alloc.args["adjustment"] == SavedRef("aligned")
    assert alloc.expect.outputs[0][1][0].value == 8192
    assert case.steps[0].args["path"] == "${scratch}/grid-8KiB"  # scratch is left to the target


def test_context_comes_from_the_matrix_unless_the_step_names_one(tmp_path):
    case = load(tmp_path)[1]
    assert [s.context for s in case.steps] == ["apc", "apc", "apc", "apc", "passive"]


def test_defaults_are_filled_in(tmp_path):
    case = load(tmp_path)[0]
    create = case.steps[2]
    assert create.args["max_write_buffers"] == 0xFFFFFFFF
    assert create.args["alloc_callback"] is False and create.args["free_callback"] is False
    assert case.steps[0].args["disposition"] == "open_always"
    assert case.objects == {"log": "log", "ma": "area"}


def test_a_scenario_without_matrix_is_one_case_with_a_plain_id(tmp_path):
    text = "name: plain\ndescription: d\nsteps:\n  - create_log: {name: log}\n"
    cases = load(tmp_path, text)
    assert [c.id for c in cases] == ["marshalling/grid.scenario.yaml::plain"]
    assert cases[0].steps[0].args["path"] == "${scratch}/log"


def test_stop_on_failure_defaults_follow_the_expectation(tmp_path):
    text = ("name: s\ndescription: d\nsteps:\n  - create_log: {name: log}\n"
            "  - add_container: {log: log, size: 1}\n    expect: failure\n"
            "  - add_container: {log: log, size: 1}\n    expect: failure\n    on_failure: stop\n")
    steps = load(tmp_path, text)[0].steps
    assert [s.stop_on_failure for s in steps] == [True, False, True]


def test_a_matrix_value_that_breaks_a_range_is_reported_for_that_value(tmp_path):
    path = tmp_path / "bad.scenario.yaml"
    path.write_text("name: s\ndescription: d\nmatrix:\n  size: [4KiB, -1]\nsteps:\n"
                    "  - create_log: {name: log}\n"
                    "  - add_container_set: {log: log, count: 2, size: 512KiB}\n"
                    "  - create_marshalling_area: {name: ma, log: log, buffer_size: '${size}'}\n")
    cases, problems = load_file(path, display="bad.scenario.yaml")
    assert cases == []
    assert problems == ["bad.scenario.yaml:8:64: scenario 's', step 3 (create_marshalling_area): buffer_size: -1 is "
                        "out of range: ULONG takes 0 to 4294967295"]
