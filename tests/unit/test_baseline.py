"""Baseline comparison and keys, directly: every observed field that changes is one line."""

from __future__ import annotations

from pathlib import Path

from harness.verdict import baseline


def step(index, status="STATUS_SUCCESS", outputs=None, disposition="ran", irql=0, op="align_reserved_log"):
    return {"index": index, "op": op, "disposition": disposition, "status": status, "irql": irql,
            "outputs": outputs or {}}


def test_identical_runs_compare_clean():
    assert baseline.compare([step(1, outputs={"aligned_size": 512})], [step(1, outputs={"aligned_size": 512})]) == []


def test_each_changed_field_is_a_line():
    before = [step(1, outputs={"aligned_size": 512}), step(2), step(3)]
    after = [step(1, outputs={"aligned_size": 1024, "extra": 1}), step(2, disposition="not_run", irql=1),
             step(4)]
    assert baseline.compare(before, after) == [
        "step 1 align_reserved_log: output aligned_size 512 -> 1024",
        "step 1 align_reserved_log: output extra None -> 1",
        "step 2 align_reserved_log: disposition ran -> not_run",
        "step 2 align_reserved_log: irql 0 -> 1",
        "step 3: step no longer present",
        "step 4: new step",
    ]


def test_a_changed_lsn_is_shown_decomposed():
    before = [step(1, op="reserve_and_append", outputs={"lsn": 0x200})]
    after = [step(1, op="reserve_and_append", outputs={"lsn": 0x100000000})]
    assert baseline.compare(before, after) == [
        "step 1 reserve_and_append: output lsn 0x0000000000000200 (container 0, block 0x200, record 0) -> "
        "0x0000000100000000 (container 1, block 0x0, record 0)"]


def test_keys_separate_windows_builds_and_ignore_the_model_binary_hash():
    assert baseline.baseline_key({"target": "windows", "windows_build": 22621, "windows_revision": 2861}) == \
        "windows-22621.2861"
    model = {"target": "model", "model": True, "protocol_version": 1}
    assert baseline.baseline_key({**model, "model_sha256": "aa"}) == baseline.baseline_key({**model, "model_sha256": "bb"})
    assert baseline.baseline_path(Path("/b"), model, "scenarios/x/create.scenario.yaml") == \
        Path("/b/model-proto1/scenarios/x/create.json")


def test_a_stop_is_kept_with_its_code_and_a_changed_code_is_a_line():
    record = {"steps": [{"index": 1, "op": "alloc_reserved_log", "disposition": "ran", "status_name": "STATUS_SUCCESS",
                         "irql": 2, "outputs": {}}], "bugcheck": {"code": 0xA, "step": 1}}
    kept = baseline.observed(record)
    assert kept == {"steps": [step(1, irql=2, op="alloc_reserved_log")], "bugcheck": "0xA"}
    assert baseline.compare(kept, {**kept, "bugcheck": "0xD1"}) == ["bugcheck 0xA -> 0xD1"]
    assert baseline.compare([step(1)], {"steps": [step(1)], "bugcheck": "0xA"}) == ["bugcheck none -> 0xA"]
    assert baseline.observed({**record, "bugcheck": None}) == kept["steps"]   # no stop: the plain list


def test_a_stop_without_steps_is_recorded(tmp_path):
    rec = {"id": "x.scenario.yaml::stops", "steps": [], "bugcheck": {"code": None, "step": None},
           "identity": {"target": "windows", "windows_build": 26100, "windows_revision": 1}}
    [path] = baseline.record([rec], tmp_path)
    assert baseline.load(path) == {"x.scenario.yaml::stops": {"steps": [], "bugcheck": "reported no code"}}
