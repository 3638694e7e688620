"""Recording and reading baselines as a user of --record-baseline sees them: what is kept, what a
recording of a subset leaves alone, which cases are not recorded at all, and where files go.
Found by tools/mutation.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.verdict import baseline

pytestmark = pytest.mark.timeout(10)

MODEL = {"target": "model", "model": True, "protocol_version": 1}


def rec(case_id, status="STATUS_SUCCESS", identity=MODEL, outputs=None, steps=True):
    step = {"index": 1, "op": "align_reserved_log", "disposition": "ran", "status_name": status,
            "status": 0, "irql": 0, "outputs": outputs or {"aligned_size": 512}, "elapsed_us": 12}
    out = {"id": case_id, "steps": [step] if steps else []}
    if identity is not None:
        out["identity"] = identity
    return out


def test_a_recorded_case_keeps_what_was_observed_and_not_the_timing(tmp_path):
    written = baseline.record([rec("area/a.scenario.yaml::x", outputs={"b": 2, "a": 1})], tmp_path)
    assert written == [tmp_path / "model-proto1" / "area" / "a.json"]
    cases = baseline.load(written[0])
    assert cases == {"area/a.scenario.yaml::x": [{"index": 1, "op": "align_reserved_log", "disposition": "ran",
                                                  "status": "STATUS_SUCCESS", "irql": 0,
                                                  "outputs": {"a": 1, "b": 2}}]}
    assert list(cases["area/a.scenario.yaml::x"][0]["outputs"]) == ["a", "b"]


def test_cases_without_a_result_are_not_recorded(tmp_path):
    skipped = rec("area/a.scenario.yaml::skipped", steps=False)
    broken = rec("area/a.scenario.yaml::broken", identity=None)
    assert baseline.record([skipped, broken], tmp_path) == []
    assert not any(tmp_path.iterdir())
    baseline.record([skipped, broken, rec("area/a.scenario.yaml::ran")], tmp_path)
    assert list(baseline.load(tmp_path / "model-proto1" / "area" / "a.json")) == ["area/a.scenario.yaml::ran"]


def test_recording_a_subset_keeps_the_other_cases_and_updates_its_own(tmp_path):
    baseline.record([rec("a.scenario.yaml::one"), rec("a.scenario.yaml::two")], tmp_path)
    baseline.record([rec("a.scenario.yaml::two", status="STATUS_NO_MEMORY")], tmp_path)
    cases = baseline.load(tmp_path / "model-proto1" / "a.json")
    assert sorted(cases) == ["a.scenario.yaml::one", "a.scenario.yaml::two"]
    assert cases["a.scenario.yaml::one"][0]["status"] == "STATUS_SUCCESS"
    assert cases["a.scenario.yaml::two"][0]["status"] == "STATUS_NO_MEMORY"


def test_each_identity_and_file_gets_its_own_baseline(tmp_path):
    win = {"target": "windows", "windows_build": 22631, "windows_revision": 2861}
    written = baseline.record([rec("a.scenario.yaml::x"), rec("a.scenario.yaml::x", identity=win),
                               rec("b.scenario.yaml::y")], tmp_path)
    assert written == [tmp_path / "model-proto1" / "a.json", tmp_path / "model-proto1" / "b.json",
                       tmp_path / "windows-22631.2861" / "a.json"]
    text = written[0].read_text()
    assert text.endswith("\n") and json.loads(text)["cases"] == baseline.load(written[0])


def test_no_baseline_file_means_no_recorded_cases(tmp_path):
    assert baseline.load(tmp_path / "none.json") == {}


@pytest.mark.parametrize("identity, key", [
    ({"target": "windows", "windows_build": 22621}, "windows-22621.0"),
    ({"target": "win11", "windows_build": 26100, "windows_revision": 1}, "win11-26100.1"),
    ({"target": "model", "model": True}, "model-proto0"),
    ({"target": "smoke", "model": False}, "smoke"),
    ({}, "unknown"),
])
def test_baseline_keys(identity, key):
    assert baseline.baseline_key(identity) == key


def test_a_relative_baseline_folder_is_relative_to_the_rootdir():
    assert baseline.baseline_root("baselines", Path("/repo")) == Path("/repo/baselines")
    assert baseline.baseline_root("/srv/b", Path("/repo")) == Path("/srv/b")


def test_a_file_id_without_the_scenario_suffix_is_kept_whole():
    assert baseline.baseline_path(Path("/b"), {"target": "t"}, "x/odd.yaml") == Path("/b/t/x/odd.yaml.json")


def test_a_changed_op_or_status_is_a_line_of_its_own():
    def step(op="align_reserved_log", status="STATUS_SUCCESS"):
        return {"index": 1, "op": op, "disposition": "ran", "status": status, "irql": 0, "outputs": {}}
    assert baseline.compare([step()], [step(status="STATUS_NO_MEMORY")]) == [
        "step 1 align_reserved_log: status STATUS_SUCCESS -> STATUS_NO_MEMORY"]
    assert baseline.compare([step()], [step(op="flush_buffers")]) == [
        "step 1 flush_buffers: op align_reserved_log -> flush_buffers"]


def test_a_baseline_file_is_stable_reviewable_text(tmp_path):
    # Sorted keys and one-space indents: recording the same results twice gives the same bytes,
    # and a change of behaviour shows in review as the lines that changed.
    [path] = baseline.record([rec("a.scenario.yaml::x", outputs={"aligned_size": 512})], tmp_path)
    assert path.read_text() == (
        '{\n "cases": {\n  "a.scenario.yaml::x": [\n   {\n    "disposition": "ran",\n    "index": 1,\n'
        '    "irql": 0,\n    "op": "align_reserved_log",\n    "outputs": {\n     "aligned_size": 512\n    },\n'
        '    "status": "STATUS_SUCCESS"\n   }\n  ]\n },\n "identity": {\n  "model": true,\n'
        '  "protocol_version": 1,\n  "target": "model"\n }\n}\n')


@pytest.mark.parametrize("mode, name", [(0, "enforcing"), (1, "learning"), (2, "disabled"), (7, "mode-7"),
                                        (None, "absent")])
def test_each_clfs_authentication_mode_is_named_as_the_registry_documents(mode, name):
    from harness.guest.winparse import clfs_authentication_name
    assert clfs_authentication_name(mode) == name
