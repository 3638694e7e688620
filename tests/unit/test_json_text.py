"""The results writer's JSON text is json.dumps(indent=2, sort_keys=True), character for character."""

from __future__ import annotations

import enum
import json
import math

import pytest

from harness.report.json_text import dumps_indent2_sorted


class Colour(enum.IntEnum):
    RED = 1


VALUES = [
    {},
    [],
    {"b": 1, "a": [1, 2.5, None, True, False, "x"], "c": {"z": {}, "y": []}},
    {"text": "ünïcode ☃ \"quoted\" \\ back\nslash\t\u0001", "emoji": "\U0001F600"},
    {"floats": [0.1, -0.0, 1e300, 1e-300, math.inf, -math.inf, 12345678901234567890.0]},
    {"nan": float("nan")},
    {"big": 1 << 70, "neg": -(1 << 63), "tuple": (1, (2, 3), {"k": ()})},
    [[[]], [{}], [[1]], {"a": [{"b": [{"c": None}]}]}],
    "just a string",
    17,
    None,
    # json.dumps's own handling: keys that are not strings, and subclasses of int.
    {1: "one", 2: "two"},
    {"enum": Colour.RED, "list": [Colour.RED]},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_text_is_what_json_dumps_writes(value):
    assert dumps_indent2_sorted(value) == json.dumps(value, indent=2, sort_keys=True)


def test_a_results_record_with_steps_is_written_the_same(repo):
    record = {"id": "a.scenario.yaml::x[n=1]", "params": {"n": 1, "size": "512KiB"}, "duration_s": 0.001273,
              "steps": [{"index": i, "outputs": {"lsn": 1 << 40, "names": ["a", "b"]}, "mismatches": [],
                         "status_name": "STATUS_SUCCESS", "ok": True, "irql": None} for i in range(3)],
              "cleanup": None, "artefacts": {"dir": "/tmp/x", "files": ["request.bin", "response.bin"]}}
    results = {"schema_version": 2, "cases": [record, dict(record, id="b")], "summary": {"PASS": 2}}
    assert dumps_indent2_sorted(results) == json.dumps(results, indent=2, sort_keys=True)


def test_what_json_dumps_refuses_is_refused_the_same():
    with pytest.raises(TypeError):
        dumps_indent2_sorted({"a": object()})
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular"):
        dumps_indent2_sorted({"a": cycle})
