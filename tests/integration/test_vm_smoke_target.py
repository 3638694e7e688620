"""The ``smoke`` target: catalogue cases through the whole VM path give the model's answers.

encode → SFTP in → clfstest-model-static in the Linux smoke guest → SFTP out → decode,
compared with the same executor on the host (``model``), step timings aside.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytestmark = pytest.mark.vm
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def targets(smoke_target):
    """The session's smoke target (tests/integration/conftest.py) and a host model."""
    from harness.targets.model import ModelTarget
    model = ModelTarget()
    model.prepare()
    yield smoke_target, model
    model.close()


def _cases(limit: int):
    from harness.scenario.load import discover, load_file
    cases = []
    for file in discover([str(ROOT / "scenarios")]):
        cases.extend(load_file(file.path, file.file_id)[0])
    # Phased cases keep what they keep: on the model the cut comes before the request's cleanup, on
    # the smoke guest after it (README, "Where the disk is"); tests/integration/test_vm_durable.py.
    return [c for c in cases if not c.restarts][:limit]


def test_catalogue_cases_through_the_vm_match_the_host_model(targets):
    smoke, model = targets
    cases = _cases(12)
    assert cases, "no catalogue cases found"
    for case in cases:
        got, want = smoke.execute(case), model.execute(case)
        strip = lambda r: [dataclasses.replace(s, elapsed_us=0) for s in r.steps]  # noqa: E731
        assert (strip(got), got.cleanup, got.bugcheck) == (strip(want), want.cleanup, want.bugcheck), case.id
        assert got.target == "smoke" and got.identity["accel"] in ("kvm", "tcg")
        assert got.identity["image"] == "linux-smoke"
