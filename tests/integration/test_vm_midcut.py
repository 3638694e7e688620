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


def test_a_power_cut_keeps_only_what_was_synced_however_long_ago_it_was_written(smoke_target):
    """The smoke guest's disk keeps what a program synced and nothing else (vm_images/linux-smoke/
    init: no periodic writeback, ext4 commit=600,noauto_da_alloc). A file replaced by rename, as the
    executor replaces its image, and left unsynced for 8 s (more than ext4's default 5 s commit)
    must come back as it was synced. With the kernel's and ext4's defaults the new bytes survived
    the cut, so whether the no-fsync executor above lost its flushed records depended on how long
    the test took (it passed under load)."""
    import time

    guest = smoke_target._guest
    try:
        guest.run("printf synced > /srv/cut-probe && sync && printf unsynced > /srv/cut-probe.tmp && "
                  "mv /srv/cut-probe.tmp /srv/cut-probe && cat /srv/cut-probe", check=True)
        time.sleep(8)
        guest.restart("power_cut")
        after = guest.run("cat /srv/cut-probe; echo; ls /srv/cut-probe.tmp 2>/dev/null || echo no-tmp",
                          check=True).stdout.split()
        assert after == ["synced", "no-tmp"], after
    finally:
        guest.recover()   # back at the ready snapshot for the next test on this guest
