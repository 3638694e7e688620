"""Results JSON, Markdown summary and outcome classes, produced through the plugin by fake targets."""

from __future__ import annotations

import json

import jsonschema
import pytest

from harness import targets
from harness.errors import BugcheckDetected, GuestTimeout, InfraError
from harness.protocol.results import RAN, CaseResult, CleanupSummary, StepResult
from harness.report.results import SCHEMA_PATH
from harness.targets.base import Target

SCENARIOS = """\
name: passes
description: d
tags: [alloc]
steps:
  - create_log: {name: log}
---
name: fails
description: d
steps:
  - create_log: {name: log}
    expect: STATUS_INVALID_PARAMETER
---
name: skipped
description: d
skip_targets: [scripted]
steps:
  - create_log: {name: log}
---
name: {special}
description: d
steps:
  - create_log: {name: log}
"""

CALLS: list[str] = []


class ScriptedTarget(Target):
    """Succeeds every step, except for the scenario named 'special', which raises ``ScriptedTarget.special``."""
    name = "scripted"
    special: BaseException | None = None

    def execute(self, case, artefacts=None):
        CALLS.append(case.scenario)
        if case.scenario == "special" and self.special is not None:
            raise self.special
        steps = tuple(StepResult(s.index, s.op, RAN, 0, 0, s.context, {}, 5) for s in case.steps)
        return CaseResult("scripted", steps, CleanupSummary(), identity={"target": "scripted", "protocol_version": 1})


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(targets._TARGETS, "scripted", f"{__name__}:ScriptedTarget")
    CALLS.clear()
    return ScriptedTarget


def run(pytester, scripted, monkeypatch, special, *args):
    monkeypatch.setattr(scripted, "special", special)
    pytester.makefile(".scenario.yaml", cat=SCENARIOS.replace("{special}", "special"))
    # no_reraise_ctrlc: an interrupt inside the inner session must not stop this (outer) one.
    return pytester.runpytest("--target", "scripted", "--results-json", "out/results.json",
                              "--summary-md", "out/summary.md", *args, no_reraise_ctrlc=True)


def load_results(pytester) -> dict:
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    jsonschema.validate(results, json.loads(SCHEMA_PATH.read_text()))
    return results


def test_results_json_is_valid_and_counts_every_outcome(pytester, scripted, monkeypatch):
    result = run(pytester, scripted, monkeypatch, None)
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    results = load_results(pytester)
    assert results["complete"] is True
    assert results["target"] == {"name": "scripted", "kind": "scripted", "model": False, "identity": {"target": "scripted", "protocol_version": 1}}
    assert {k: results["summary"][k] for k in ("PASS", "FAIL", "SKIP", "total")} == \
        {"PASS": 2, "FAIL": 1, "SKIP": 1, "total": 4}
    by_name = {c["scenario"]: c for c in results["cases"]}
    fails = by_name["fails"]
    assert fails["steps"][0]["mismatches"] == [{"what": "status", "expected": "STATUS_INVALID_PARAMETER (0xC000000D)",
                                                "observed": "STATUS_SUCCESS (0x00000000)"}]
    assert by_name["skipped"]["message"] == "scenario 'skipped' lists target 'scripted' in skip_targets"
    assert by_name["passes"]["tags"] == ["alloc"]


def test_markdown_summary_lists_what_did_not_pass(pytester, scripted, monkeypatch):
    run(pytester, scripted, monkeypatch, None)
    markdown = (pytester.path / "out" / "summary.md").read_text()
    assert "## clfs-harness: 4 cases on target `scripted`" in markdown
    # PASS FAIL BUGCHECK HANG CONTRACT INFRA SKIP XFAIL XPASS
    assert "| 2 | 1 | 0 | 0 | 0 | 0 | 1 | 0 | 0 |" in markdown
    assert "| `cat.scenario.yaml::fails` | FAIL | step 1 create_log: status expected STATUS_INVALID_PARAMETER" in markdown


def test_summary_is_appended_to_github_step_summary(pytester, scripted, monkeypatch, tmp_path):
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run(pytester, scripted, monkeypatch, None)
    text = summary.read_text()
    assert text.startswith("earlier\n## clfs-harness: 4 cases")


def test_a_lab_error_is_retried_then_reported_as_an_error_not_a_failure(pytester, scripted, monkeypatch):
    result = run(pytester, scripted, monkeypatch, InfraError("ssh connection reset"), "--infra-retries", "2")
    result.assert_outcomes(passed=1, failed=1, skipped=1, errors=1)
    assert CALLS.count("special") == 3
    result.stdout.fnmatch_lines(["*INFRA (the lab, not CLFS): InfraError: ssh connection reset*"])
    case = {c["scenario"]: c for c in load_results(pytester)["cases"]}["special"]
    assert case["outcome"] == "INFRA"
    assert case["message"] == "lab error after 3 attempt(s): InfraError: ssh connection reset"


@pytest.mark.parametrize("exc, outcome", [
    (BugcheckDetected("guest stopped", code=0xA), "BUGCHECK"),
    (GuestTimeout("step 1 did not return within 120 s"), "HANG"),
])
def test_bugchecks_and_hangs_are_failures_with_their_class(pytester, scripted, monkeypatch, exc, outcome):
    result = run(pytester, scripted, monkeypatch, exc)
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    assert CALLS.count("special") == 1, "a bugcheck or hang is not retried"
    results = load_results(pytester)
    assert results["summary"][outcome] == 1
    assert {c["scenario"]: c for c in results["cases"]}["special"]["outcome"] == outcome


def test_an_interrupted_run_still_writes_a_partial_report(pytester, scripted, monkeypatch):
    result = run(pytester, scripted, monkeypatch, KeyboardInterrupt())
    assert result.ret == pytest.ExitCode.INTERRUPTED
    results = load_results(pytester)
    assert results["complete"] is False
    assert results["summary"]["total"] < 4


def test_a_recorded_baseline_turns_a_behaviour_change_into_a_diff(pytester, scripted, monkeypatch):
    pytester.makefile(".scenario.yaml", base="name: tolerant\ndescription: d\nsteps:\n"
                                             "  - create_log: {name: log}\n    expect: any\n")
    monkeypatch.setattr(scripted, "special", None)
    recorded = pytester.runpytest("--target", "scripted", "--record-baseline")
    recorded.assert_outcomes(passed=1)
    baseline_file = pytester.path / "baselines" / "scripted" / "base.json"
    recorded.stdout.fnmatch_lines([f"clfs-harness: wrote baseline: {baseline_file}"])
    cases = json.loads(baseline_file.read_text())["cases"]
    assert cases == {"base.scenario.yaml::tolerant": [
        {"index": 1, "op": "create_log", "disposition": "ran", "status": "STATUS_SUCCESS", "irql": 0, "outputs": {}}]}

    pytester.runpytest("--target", "scripted").assert_outcomes(passed=1)  # unchanged: still passes

    def failing(self, case, artefacts=None):  # the same case, now failing: 'any' accepts it, the baseline does not
        steps = tuple(StepResult(s.index, s.op, RAN, 0xC000000D, 0, s.context, {}, 5) for s in case.steps)
        return CaseResult("scripted", steps, CleanupSummary(), identity={"target": "scripted"})

    monkeypatch.setattr(scripted, "execute", failing)
    changed = pytester.runpytest("--target", "scripted")
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(["changed since the baseline baselines/scripted/base.json:",
                                  "  step 1 create_log: status STATUS_SUCCESS -> STATUS_INVALID_PARAMETER"])
