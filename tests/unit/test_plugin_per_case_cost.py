"""What the plugin does once per run instead of once per case (issue 12: >= 500 cases/s on the model)."""

from __future__ import annotations

import os

import pytest

from harness import targets
from harness.protocol.results import RAN, CaseResult, CleanupSummary, StepResult
from harness.targets.base import CaseArtefacts, Target
from harness.verdict import baseline

MATRIX = """\
name: grid
description: d
matrix:
  n: [1, 2, 3]
steps:
  - create_log: {name: log}
    expect: any
"""


class Constant(Target):
    """Every step returns ``STATUS``."""
    name = "constant"
    STATUS = 0

    def execute(self, case, artefacts=None):
        steps = tuple(StepResult(s.index, s.op, RAN, self.STATUS, 0, s.context, {}, 5) for s in case.steps)
        return CaseResult("constant", steps, CleanupSummary(), identity={"target": "constant"})


def test_a_baseline_file_is_read_once_per_run_and_still_compared_for_every_case(pytester, monkeypatch):
    monkeypatch.setitem(targets._TARGETS, "constant", f"{__name__}:Constant")
    monkeypatch.setattr(Constant, "STATUS", 0)
    pytester.makefile(".scenario.yaml", grid=MATRIX)
    pytester.runpytest("--target", "constant", "--record-baseline").assert_outcomes(passed=3)

    reads = []
    real = baseline.load
    monkeypatch.setattr(baseline, "load", lambda path: reads.append(path) or real(path))
    monkeypatch.setattr(Constant, "STATUS", 0xC000000D)
    changed = pytester.runpytest("--target", "constant")
    changed.assert_outcomes(failed=3)
    assert len(reads) == 1
    changed.stdout.fnmatch_lines(["*step 1 create_log: status STATUS_SUCCESS -> STATUS_INVALID_PARAMETER"] * 3)


def test_case_artefacts_make_their_folder_on_first_use_only(tmp_path, monkeypatch):
    artefacts = CaseArtefacts(tmp_path / "case")
    assert artefacts.files() == [] and not artefacts.dir.exists()
    artefacts.write_bytes("request.bin", b"q")
    made = []
    monkeypatch.setattr(type(artefacts.dir), "mkdir", lambda self, *a, **k: made.append(self))
    artefacts.write_bytes("response.bin", b"r")
    assert made == []
    os.mkdir(artefacts.dir / "sub")   # a folder inside is not an artefact file
    assert artefacts.files() == ["request.bin", "response.bin"]


@pytest.fixture(autouse=True)
def _run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CLFS_HARNESS_RUN_DIR", str(tmp_path / "runs"))


def test_background_writes_are_listed_at_once_and_on_disk_after_a_flush(tmp_path):
    from harness.targets.base import flush_artefacts

    cases = [CaseArtefacts(tmp_path / "cases" / f"c{n}") for n in range(50)]
    for n, artefacts in enumerate(cases):
        artefacts.write_bytes("request.bin", b"q%d" % n, wait=False)
        artefacts.write_bytes("response.bin", b"r%d" % n, wait=False)
        assert artefacts.files() == ["request.bin", "response.bin"]
    flush_artefacts()
    for n, artefacts in enumerate(cases):
        assert (artefacts.dir / "request.bin").read_bytes() == b"q%d" % n
        assert (artefacts.dir / "response.bin").read_bytes() == b"r%d" % n


def test_a_background_write_that_fails_is_an_infra_error(tmp_path):
    from harness.errors import InfraError
    from harness.targets.base import flush_artefacts

    (tmp_path / "cases").write_text("a file where the folder should be")
    CaseArtefacts(tmp_path / "cases" / "c1").write_bytes("request.bin", b"q", wait=False)
    with pytest.raises(InfraError, match="writing an artefact failed: .*cases/c1/request.bin"):
        flush_artefacts()
    flush_artefacts()   # reported once


@pytest.mark.parametrize("answer, words", [
    ("struct.pack('<I', 3) + b'abc' + b'extra'", "5 bytes after its answer"),
    ("struct.pack('<I', 1 << 30)", "1073741824-byte frame"),
])
def test_the_model_answer_is_read_whole_and_a_broken_frame_stops_the_server(tmp_path, answer, words):
    import sys

    from harness.errors import InfraError
    from harness.targets.model import ModelTarget

    fake = tmp_path / "fake-model"
    fake.write_text(f"#!{sys.executable}\nimport struct, sys\nsys.stdin.buffer.read(4 + 3)\n"
                    f"sys.stdout.buffer.write({answer}); sys.stdout.flush()\nsys.stdin.buffer.read()\n")
    fake.chmod(0o755)
    target = ModelTarget(binary=fake)
    target.prepare()
    try:
        with pytest.raises(InfraError, match=words):
            target.run_bytes(b"req", timeout_s=10)
        assert target._proc is None   # stopped; the next case starts a new one
    finally:
        target.close()


def test_the_folder_is_read_for_the_list_only_when_something_else_may_have_written_there(tmp_path, monkeypatch):
    from harness.targets.base import flush_artefacts

    reads = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: reads.append(path) or real(path))
    quiet = CaseArtefacts(tmp_path / "quiet")
    quiet.write_bytes("request.bin", b"q", wait=False)
    assert quiet.files() == ["request.bin"] and reads == []
    flush_artefacts()
    shared = CaseArtefacts(tmp_path / "shared")
    shared.write_bytes("request.bin", b"q", wait=False)
    flush_artefacts()
    (shared.dir / "dump.dmp").write_bytes(b"d")   # a collector given the folder writes in it
    assert shared.files() == ["dump.dmp", "request.bin"] and len(reads) == 1
    phase = CaseArtefacts(tmp_path / "phased")
    from harness.targets.phases import PhaseArtefacts

    PhaseArtefacts(phase, 2).write_bytes("request.bin", b"q")
    assert phase.files() == ["phase2-request.bin"]


class QuickConstant(Constant):
    """A target as quick as the model: its request and response wait for the verdict."""
    name = "quick"
    quick_cases = True

    def execute(self, case, artefacts=None):
        if artefacts is not None:
            artefacts.write_bytes("request.bin", case.id.encode(), wait=False)
            artefacts.write_bytes("response.bin", b"r", wait=False)
        return super().execute(case, artefacts)


def _artefacts_by_case(pytester, *options):
    import json

    result = pytester.runpytest("--target", "quick", "--results-json", "results.json", "-p", "no:cacheprovider",
                                *options)
    cases = json.loads((pytester.path / "results.json").read_text())["cases"]
    return result, {c["id"].split("::")[1]: c for c in cases}


def test_a_passing_quick_case_keeps_no_files_and_a_failing_one_keeps_them(pytester, monkeypatch):
    monkeypatch.setitem(targets._TARGETS, "quick", f"{__name__}:QuickConstant")
    pytester.makefile(".scenario.yaml", two="""\
name: passes
description: d
steps:
  - create_log: {name: log}
---
name: fails
description: d
steps:
  - create_log: {name: log}
    expect: STATUS_INVALID_PARAMETER
""")
    result, cases = _artefacts_by_case(pytester)
    result.assert_outcomes(passed=1, failed=1)
    assert cases["passes"]["artefacts"]["files"] == []
    assert not os.path.exists(cases["passes"]["artefacts"]["dir"])
    assert cases["fails"]["artefacts"]["files"] == ["request.bin", "response.bin"]
    with open(os.path.join(cases["fails"]["artefacts"]["dir"], "request.bin"), "rb") as fh:
        assert fh.read() == cases["fails"]["id"].encode()
    _result, cases = _artefacts_by_case(pytester, "--all-artefacts")
    assert cases["passes"]["artefacts"]["files"] == ["request.bin", "response.bin"]
    assert os.path.isfile(os.path.join(cases["passes"]["artefacts"]["dir"], "response.bin"))


def test_a_quick_case_that_fails_only_against_its_baseline_keeps_its_files(pytester, monkeypatch):
    """The files wait for the final outcome, which the baseline comparison may still change."""
    monkeypatch.setitem(targets._TARGETS, "quick", f"{__name__}:QuickConstant")
    monkeypatch.setattr(Constant, "STATUS", 0)
    pytester.makefile(".scenario.yaml", grid=MATRIX)
    _artefacts_by_case(pytester, "--record-baseline")[0].assert_outcomes(passed=3)
    monkeypatch.setattr(Constant, "STATUS", 0xC000000D)
    result, cases = _artefacts_by_case(pytester)
    result.assert_outcomes(failed=3)
    for case in cases.values():
        assert case["outcome"] == "FAIL" and case["artefacts"]["files"] == ["request.bin", "response.bin"]
        assert os.path.isfile(os.path.join(case["artefacts"]["dir"], "request.bin"))
