"""GitHub Actions annotations point at the failing step's line of the scenario file."""

from __future__ import annotations

import re

from harness.report.annotations import annotation
from report_run import make_run

ERROR = re.compile(r"^::(error|warning) file=([^,]+),line=(\d+),title=([^:]+)::(.*)$")


def test_in_github_actions_each_failing_case_is_an_error_at_its_step(pytester, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(pytester.path))
    result = make_run(pytester, monkeypatch)
    found = {}
    for line in result.outlines:
        m = ERROR.match(line)
        if m:
            found[m.group(4)] = (m.group(1), m.group(2), int(m.group(3)), m.group(5))
    assert set(found) == {"FAIL fails", "FAIL known_differs", "BUGCHECK panics", "HANG hangs", "INFRA lab_breaks"}
    level, file, line, message = found["FAIL fails"]
    source = (pytester.path / file).read_text().splitlines()
    assert level == "error" and file == "cat.scenario.yaml"
    assert source[line - 1].strip().startswith("- add_container:"), source[line - 1]   # the step that failed
    assert message.startswith("FAIL: step 2 add_container: status expected STATUS_INVALID_PARAMETER")
    assert "%0A" in message and "\n" not in message
    assert found["INFRA lab_breaks"][0] == "warning"
    assert source[found["BUGCHECK panics"][2] - 1] == "name: panics"   # no step failed: the scenario's line


def test_outside_github_actions_nothing_is_printed(pytester, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    result = make_run(pytester, monkeypatch)
    assert not [line for line in result.outlines if line.startswith("::")]


def test_properties_and_message_are_escaped():
    case = {"outcome": "FAIL", "id": "a,b.scenario.yaml::x[n=1,m=2]", "file": "/w/a,b.scenario.yaml", "line": 3,
            "steps": [], "message": "100% wrong:\nsecond line"}
    line = annotation(case, workspace=None)
    assert line.startswith("::error file=/w/a%2Cb.scenario.yaml,line=3,title=FAIL x[n=1%2Cm=2]::")
    assert line.endswith("FAIL: 100% wrong:%0A100%25 wrong:%0Asecond line".replace("FAIL: 100% wrong", "FAIL: 100%25 wrong"))
