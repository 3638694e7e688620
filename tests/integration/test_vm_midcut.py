"""A real power cut of the smoke guest while it is writing: restart: {how: power_cut, during: append_burst}.

The executor forces every record of the burst to its disk (fsync'd image writes, driver_src/model/
main.c --disk), so it is writing when the plug is pulled. For a few seeds the cut must land while
the request is in flight (no byte of the answer back), some of the burst must come back, each
record whole, and what was flushed before the burst must survive. The same case on the executor
built without fsync (make model-nofsync) loses what phase 1 flushed: a FAIL that names the LSN.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.load import load_file
from harness.verdict.judge import FAIL, PASS, judge

pytestmark = pytest.mark.vm

CATALOGUE = Path(__file__).resolve().parents[2] / "scenarios" / "durability" / "midcut.scenario.yaml"


def _cases():
    cases, problems = load_file(CATALOGUE, display="scenarios/durability/midcut.scenario.yaml")
    assert problems == []
    return [c for c in cases if c.scenario == "cut_mid_burst_force_flush_each_record"]


def test_cut_lands_mid_burst_and_what_comes_back_is_whole_then_fails_without_fsync(smoke_target,
                                                                                   nofsync_smoke_target):
    cases = _cases()
    assert len(cases) == 3
    for case in cases:
        result = smoke_target.execute(case)
        verdict = judge(case, result)
        assert verdict.outcome == PASS, verdict.diff()
        cut = result.phases[1]["cut"]
        assert cut["simulated"] is False and cut["request_ended"] is False, (case.id, cut)
        assert cut["planned_ms"] <= cut["cut_ms"] < cut["planned_ms"] + 1000, cut
        # The burst's answer went with the power; its steps have no result.
        assert {s.disposition for s in result.steps if s.phase == 2} == {"lost_in_cut"}
        burst = verdict.durable.phases[0].burst
        # The guest was writing: some forced records reached its disk, not the whole burst.
        assert 0 < burst["came_back"] < 1000 and burst["bad"] == 0 and burst["appended"] is None, burst
        assert any(n.startswith("cut: phase 2: cut at ") and "request in flight" in n for n in verdict.notes)

    result = nofsync_smoke_target.execute(cases[0])
    verdict = judge(cases[0], result)
    assert result.phases[1]["cut"]["request_ended"] is False
    assert verdict.outcome == FAIL, verdict.diff()
    gone = [n for n in verdict.notes if n.startswith("durable: phase 3: flushed data record at 0x")]
    assert gone and "is gone" in gone[0], verdict.diff()
    print("\n" + gone[0])
