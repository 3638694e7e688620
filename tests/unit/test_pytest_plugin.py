"""The pytest plugin: items per case, tags as markers, one collection error per bad file, targets named."""

from __future__ import annotations

import pytest

from harness import targets
from harness.protocol.results import RAN, CaseResult, CleanupSummary, StepResult
from harness.targets.base import Target

GOOD = """\
name: basic
description: d
tags: [marshalling, alloc]
matrix:
  buffer: [4096, 8192]
steps:
  - create_log: {name: log}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: "${buffer}"}
---
name: other
description: d
tags: [containers]
skip_targets: [fake]
steps:
  - create_log: {name: log}
"""

BAD = "name: a\ndescription: d\nsteps:\n  - create_log: {name: log}\n  - add_container: {log: lg, size: two}\n"


class FakeTarget(Target):
    """Answers every step with one status, to drive the plugin without a driver."""
    name = "fake"
    status = 0

    def execute(self, case, artefacts=None):
        steps = tuple(StepResult(s.index, s.op, RAN, self.status, {"passive": 0, "apc": 1}.get(s.context, 0),
                                 s.context, {}, 1) for s in case.steps)
        return CaseResult("fake", steps, CleanupSummary())


@pytest.fixture
def fake_target(monkeypatch):
    monkeypatch.setitem(targets._TARGETS, "fake", f"{__name__}:FakeTarget")
    monkeypatch.setitem(targets._TARGETS, "absent", "harness.targets.does_not_exist:Nothing")
    return FakeTarget


def test_cases_are_collected_with_readable_ids(pytester):
    pytester.makefile(".scenario.yaml", create=GOOD)
    result = pytester.runpytest("--collect-only", "-q", "--strict-markers")
    result.stdout.fnmatch_lines([
        "create.scenario.yaml::basic[[]buffer=4096[]]",
        "create.scenario.yaml::basic[[]buffer=8192[]]",
        "create.scenario.yaml::other",
        "3 tests collected*",
    ])


def test_tags_select_with_m_under_strict_markers(pytester):
    pytester.makefile(".scenario.yaml", create=GOOD)
    result = pytester.runpytest("--collect-only", "-q", "--strict-markers", "-m", "containers")
    result.stdout.fnmatch_lines(["create.scenario.yaml::other", "1/3 tests collected (2 deselected)*"])


def test_a_bad_file_is_one_collection_error_with_every_message(pytester):
    pytester.makefile(".scenario.yaml", bad=BAD)
    result = pytester.runpytest("-q")
    result.stdout.fnmatch_lines([
        "bad.scenario.yaml:5:26: scenario 'a', step 2 (add_container): log: undefined name 'lg'*",
        "bad.scenario.yaml:5:36: scenario 'a', step 2 (add_container): size: expected a size in bytes*got 'two'",
        "*1 error*",
    ])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_a_missing_target_is_an_explicit_skip_never_a_pass(pytester, fake_target):
    pytester.makefile(".scenario.yaml", create=GOOD)
    result = pytester.runpytest("-rs", "--target", "absent")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*target 'absent' is not available in this build (harness.targets.does_not_exist*"])


def test_items_run_on_the_target_and_fail_with_a_step_diff(pytester, fake_target, monkeypatch):
    pytester.makefile(".scenario.yaml", create=GOOD)
    monkeypatch.setattr(FakeTarget, "status", 0xC000000D)
    result = pytester.runpytest("--target", "fake", "-rs")
    result.assert_outcomes(failed=2, skipped=1)
    result.stdout.fnmatch_lines([
        "*CLFS did not behave as the scenario says",
        "target: fake",
        "FAIL step 1 create_log*",
        "*status*expected success (NT_SUCCESS)*!= observed STATUS_INVALID_PARAMETER (0xC000000D)",
        "*scenario 'other' lists target 'fake' in skip_targets*",
    ])


def test_items_pass_when_the_target_behaves(pytester, fake_target):
    pytester.makefile(".scenario.yaml", create=GOOD)
    result = pytester.runpytest("--target", "fake")
    result.assert_outcomes(passed=2, skipped=1)


def test_shards_split_the_cases_without_overlap_or_loss(pytester):
    pytester.makefile(".scenario.yaml", create=GOOD)
    seen = []
    for i in (1, 2):
        result = pytester.runpytest("--collect-only", "-q", "--shard", f"{i}/2")
        seen.append({line for line in result.outlines if "::" in line})
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == 3


PHASED = """\
name: phased
description: d
steps:
  - create_log: {name: log}
  - restart: {how: power_cut}
  - create_log: {name: log}
"""


def test_a_target_that_cannot_restart_skips_a_phased_case_with_the_reason(pytester, fake_target):
    pytester.makefile(".scenario.yaml", phased=PHASED, create=GOOD)
    result = pytester.runpytest("-rs", "--target", "fake", "--results-json", "r.json")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*target fake cannot run restart: {how: power_cut} (step 2, phased.scenario.yaml:5:5)"
                                 "; it restarts by: nothing*"])
STOPS = """\
name: stops
description: d
expect_bugcheck: [0xA, 0xD1, 0xC4]
steps:
  - create_log: {name: log}
    context: dispatch
"""


class StoppingTarget(Target):
    """The guest stops with ``code`` at the first step, as a Windows guest does at DISPATCH_LEVEL."""
    name = "stopping"
    code = 0xD1

    def execute(self, case, artefacts=None):
        from harness.errors import BugcheckDetected
        raise BugcheckDetected("the guest stopped", code=self.code)


@pytest.fixture
def stopping_target(monkeypatch):
    monkeypatch.setitem(targets._TARGETS, "stopping", f"{__name__}:StoppingTarget")
    return StoppingTarget


@pytest.mark.parametrize("code, outcome", [(0xD1, "passed"), (0xC4, "passed"), (0x3B, "failed")])
def test_a_real_stop_passes_when_its_code_is_in_the_expected_set(pytester, stopping_target, monkeypatch,
                                                                   code, outcome):
    pytester.makefile(".scenario.yaml", stops=STOPS)
    monkeypatch.setattr(StoppingTarget, "code", code)
    result = pytester.runpytest("--target", "stopping")
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":
        result.stdout.fnmatch_lines(["*expected one of 0xA, 0xD1, 0xC4, observed 0x3B"])


def test_the_baseline_keeps_the_observed_stop_code(pytester, stopping_target, monkeypatch):
    import json

    pytester.makefile(".scenario.yaml", stops=STOPS)
    pytester.runpytest("--target", "stopping", "--record-baseline").assert_outcomes(passed=1)
    recorded = json.loads((pytester.path / "baselines" / "stopping" / "stops.json").read_text())["cases"]
    assert recorded == {"stops.scenario.yaml::stops": {"steps": [], "bugcheck": "0xD1"}}
    monkeypatch.setattr(StoppingTarget, "code", 0xA)   # still expected, but not what this build did before
    changed = pytester.runpytest("--target", "stopping")
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(["*changed since the baseline baselines/stopping/stops.json:",
                                  "*bugcheck 0xD1 -> 0xA"])
