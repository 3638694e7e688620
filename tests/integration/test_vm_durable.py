"""Durability on the smoke guest, with a real power cut: the executor keeps a phased case's logs on the
guest's disk and fsyncs them where CLFS promises stability (driver_src/model/main.c --disk).

The same case on an executor built without those fsyncs (make model-nofsync: the deliberate fault)
loses what phase 1 flushed, because the cut comes well before the guest writes its dirty pages back;
the durability verdict must then FAIL naming the lost LSN.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.load import load_file
from harness.verdict.judge import FAIL, PASS, judge

pytestmark = pytest.mark.vm

CATALOGUE = Path(__file__).resolve().parents[2] / "scenarios" / "durability" / "flush.scenario.yaml"


def _case():
    cases, problems = load_file(CATALOGUE, display="scenarios/durability/flush.scenario.yaml")
    assert problems == []
    return next(c for c in cases if c.scenario == "flush_to_lsn_then_cut")


def test_flushed_records_survive_a_real_power_cut_and_fail_without_fsync(smoke_target, nofsync_smoke_target):
    case = _case()
    result = smoke_target.execute(case)
    verdict = judge(case, result)
    assert verdict.outcome == PASS, verdict.diff()
    assert [p["restart"] for p in result.phases] == [None, "power_cut"]

    verdict = judge(case, nofsync_smoke_target.execute(case))
    assert verdict.outcome == FAIL, verdict.diff()
    gone = [n for n in verdict.notes if n.startswith("durable: phase 2: flushed data record at 0x")]
    assert gone and "is gone" in gone[0], verdict.diff()
