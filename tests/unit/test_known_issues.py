"""Known issues: from a scenario or the lab file; fails as described -> XFAIL, passes -> XPASS,
fails otherwise -> FAIL; which targets an issue applies to; bad entries are one-line errors."""

from __future__ import annotations

import json

import pytest

from harness.scenario.load import load_file
from harness.scenario.model import KnownDifference, KnownIssue
from harness.verdict.known import applies, judge_known
from report_run import make_run

LINK = "https://tracker.example/clfs/7"


def record(outcome="FAIL", mismatches=((2, "status", "STATUS_LOG_METADATA_CORRUPT (0xC01A000D)"),), identity=None):
    steps = [{"index": i, "mismatches": [{"what": w, "expected": "x", "observed": o}
                                         for s, w, o in mismatches if s == i]} for i in (1, 2, 3)]
    return {"outcome": outcome, "steps": steps, "identity": identity or {"target": "windows", "windows_build": 26100,
                                                                         "windows_revision": 4061}}


ISSUE = KnownIssue(LINK, (KnownDifference(2, "status", "STATUS_LOG_METADATA_CORRUPT"),), (26100,))


def test_a_failure_as_described_is_a_known_failure_with_the_link():
    assert judge_known((ISSUE,), record()) == ("XFAIL", f"known issue {LINK}")


def test_a_pass_is_reported_fixed():
    outcome, message = judge_known((ISSUE,), record("PASS", ()))
    assert outcome == "XPASS" and LINK in message


@pytest.mark.parametrize("mismatches", [
    ((2, "status", "STATUS_ACCESS_DENIED (0xC0000022)"),),                                   # another status
    ((2, "status", "STATUS_LOG_METADATA_CORRUPT (0xC01A000D)"), (3, "irql", "APC_LEVEL")),   # and more
    ((3, "status", "STATUS_LOG_METADATA_CORRUPT (0xC01A000D)"),),                            # another step
])
def test_a_different_failure_stays_a_fail(mismatches):
    outcome, message = judge_known((ISSUE,), record(mismatches=mismatches))
    assert outcome == "FAIL" and "fails otherwise than known issue" in message


def test_an_issue_applies_only_to_the_builds_and_identities_it_names():
    assert judge_known((ISSUE,), record(identity={"target": "windows", "windows_build": 19045})) is None
    by_key = KnownIssue(LINK, ISSUE.differs, ("windows-26100.*-clfsauth-enforcing",))
    assert applies(by_key, {"target": "windows", "windows_build": 26100, "windows_revision": 1,
                            "clfs_authentication": "enforcing"})
    assert not applies(by_key, {"target": "windows", "windows_build": 26100, "windows_revision": 1,
                                "clfs_authentication": "learning"})
    assert applies(KnownIssue(LINK, ISSUE.differs), {"target": "model", "model": True})
    # Never an excuse for a bugcheck, a hang or a lab error.
    assert judge_known((ISSUE,), dict(record(), outcome="BUGCHECK")) is None


def test_the_lab_file_names_known_issues_by_case_id(pytester, monkeypatch):
    pytester.makefile(".yaml", **{"clfs-lab": f"""\
known_issues:
  "cat.scenario.yaml::fails":
    - link: {LINK}
      differs: [{{step: 2, what: status, observed: STATUS_SUCCESS}}]
"""})
    result = make_run(pytester, monkeypatch)
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    case = {c["scenario"]: c for c in results["cases"]}["fails"]
    assert case["outcome"] == "XFAIL" and case["known_issue"] == f"known issue {LINK}"
    result.assert_outcomes(passed=2, failed=3, skipped=1, errors=1, xfailed=2, xpassed=1)


@pytest.mark.parametrize("entry, message", [
    ("[{link: x}]", "known_issues[0].differs: expected a list of {step, what, observed}, got nothing (null)"),
    ("[{link: x, differs: [{step: 9, what: status}]}]", "known_issues[0].differs[0].step: expected a step number 1 to 1, got 9"),
    ("[{link: x, differs: [{step: 1, what: colour}]}]", "known_issues[0].differs[0].what: expected status, irql, ran or 'output NAME', got 'colour'"),
    ("[{link: x, differs: [{step: 1, what: status}], applies: [1]}]", "known_issues[0]: unknown field 'applies' (known: link, applies_to, differs, note)"),
])
def test_bad_known_issues_are_reported_at_their_place(tmp_path, entry, message):
    path = tmp_path / "x.scenario.yaml"
    path.write_text(f"name: a\ndescription: d\nknown_issues: {entry}\nsteps:\n  - create_log: {{name: log}}\n")
    cases, problems = load_file(path, display="x.scenario.yaml")
    assert not cases
    assert len(problems) == 1 and problems[0].startswith("x.scenario.yaml:3:") and problems[0].endswith(message), problems
