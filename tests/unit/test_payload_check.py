"""Payloads that can be checked: a read returns the bytes appended at its LSN, or the verdict says
which byte differs (issue 13, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocol import encode
from harness.scenario import lsn
from harness.scenario.load import load_file, load_paths
from harness.targets.model import ModelTarget
from harness.verdict.judge import judge
from harness.verdict.outcome import FAIL, PASS

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="module")
def model():
    target = ModelTarget()
    target.prepare()
    yield target
    target.close()


def _case(path: Path, name: str):
    if path.parent.name == "data":    # not a *.scenario.yaml: pytest must not collect it as a case
        cases, problems = load_file(path)
        assert not problems, problems
    else:
        cases = load_paths([path])
    return next(c for c in cases if c.scenario == name)


def test_a_changed_byte_is_reported_with_offset_expected_and_observed(model):
    case = _case(HERE / "data" / "corruption.yaml", "read_catches_corruption")
    result = model.execute(case)
    verdict = judge(case, result)
    assert verdict.outcome == FAIL
    read = next(s for s in result.steps if s.op == "read_log_record")
    assert read.outputs["payload_check"] == 1
    assert (read.outputs["payload_diff_offset"], read.outputs["payload_expected"],
            read.outputs["payload_observed"]) == (7, 0x77, 0x88)
    assert "byte 7 differs: expected 0x77, observed 0x88" in verdict.diff()


def test_the_same_case_without_the_corruption_passes(model):
    from dataclasses import replace
    case = _case(HERE / "data" / "corruption.yaml", "read_catches_corruption")
    steps = tuple(s for s in case.steps if s.op != "corrupt_record")
    steps = tuple(replace(s, index=i + 1) for i, s in enumerate(steps))
    clean = replace(case, steps=steps)
    result = model.execute(clean)
    assert judge(clean, result).outcome == PASS
    assert next(s for s in result.steps if s.op == "read_log_record").outputs["payload_check"] == 0


def test_appends_report_the_case_seed_and_their_index(model):
    case = _case(ROOT / "scenarios" / "reading" / "forward.scenario.yaml", "read_previous_chain")
    result = model.execute(case)
    appends = [s for s in result.steps if s.op == "reserve_and_append"]
    assert {s.outputs["payload_seed"] for s in appends} == {encode.payload_seed(case)}
    assert [s.outputs["record_index"] for s in appends] == [0, 1, 2, 3]


def test_seeds_differ_between_cases_and_are_stable():
    cases = load_paths([ROOT / "scenarios" / "reading"])
    seeds = [encode.payload_seed(c) for c in cases]
    assert len(set(seeds)) == len(seeds)
    assert seeds == [encode.payload_seed(c) for c in load_paths([ROOT / "scenarios" / "reading"])]


def test_lsn_outputs_are_decomposed(model):
    case = _case(ROOT / "scenarios" / "reading" / "forward.scenario.yaml", "read_previous_chain")
    result = model.execute(case)
    for s in result.steps:
        for name in ("lsn", "previous_lsn"):
            if name in s.outputs:
                v = s.outputs[name]
                assert s.outputs[f"{name}_container"] == v >> 32
                assert s.outputs[f"{name}_block_offset"] == v & 0xFFFFFE00
                assert s.outputs[f"{name}_record_sequence"] == v & 0x1FF


def test_lsn_order_is_by_container_then_offset_then_sequence():
    a = (1 << 32) | 0x200 | 3
    b = (2 << 32) | 0x000 | 0
    assert lsn.compare(a, b) < 0 and lsn.compare(lsn.CLFS_LSN_NULL, a) < 0 < lsn.compare(lsn.CLFS_LSN_INVALID, b)
    assert (lsn.container(a), lsn.block_offset(a), lsn.record_sequence(a)) == (1, 0x200, 3)


def test_explicit_payload_hex_and_text():
    class S:  # a minimal step stand-in for error messages
        index, op = 1, "reserve_and_append"
    assert encode.payload_bytes(S, "hex:00ff10") == b"\x00\xff\x10"
    assert encode.payload_bytes(S, "abc") == b"abc"
    with pytest.raises(Exception, match="pairs of hex digits"):
        encode.payload_bytes(S, "hex:0g")
