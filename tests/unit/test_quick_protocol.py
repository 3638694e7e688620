"""The quick protocol (harness/quick_protocol.py) reports exactly what pytest's full protocol does.

A run with every outcome class is made twice through the plugin, once with the scripted target
marked quick and once not; JUnit XML, results JSON and the terminal's per-case lines must be the
same but for times and run folders.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from harness import quick_protocol
from report_run import EveryOutcomeTarget, make_run


def _used(monkeypatch) -> list[str]:
    """Node IDs of the items that went through the quick protocol."""
    seen: list[str] = []
    real = quick_protocol.run
    monkeypatch.setattr(quick_protocol, "run", lambda item, nextitem: seen.append(item.nodeid) or real(item, nextitem))
    return seen


def _junit(path) -> list:
    root = ET.parse(path).getroot()
    for el in root.iter():
        for attr in ("time", "timestamp", "hostname"):
            el.attrib.pop(attr, None)
    return [(el.tag, sorted(el.attrib.items()), (el.text or "").strip()) for el in root.iter()]


def _results(path) -> dict:
    text = (path).read_text()
    text = re.sub(r'"(duration_s|started|stamp|dir)": [^,\n]+', r'"\1": 0', text)
    return json.loads(text)


def _terminal(result) -> list[str]:
    """What the terminal showed, times and run folders aside."""
    return [re.sub(r"run-\d{8}-\d{6}-\d+", "run-X", re.sub(r"\d+\.\d+s", "T", line))
            for line in result.stdout.lines]


def _run(pytester, monkeypatch, quick: bool, *extra):
    monkeypatch.setattr(EveryOutcomeTarget, "quick_cases", quick, raising=False)
    seen = _used(monkeypatch)
    result = make_run(pytester, monkeypatch, "-v", "-p", "no:cacheprovider", *extra)
    result.assert_outcomes(passed=2, failed=4, skipped=1, errors=1, xfailed=1, xpassed=1)
    out = pytester.path / "out"
    return list(seen), _junit(out / "junit.xml"), _results(out / "results.json"), _terminal(result)


def test_quick_and_full_protocol_write_the_same_reports(pytester, monkeypatch):
    seen_full, *full = _run(pytester, monkeypatch, False)
    seen_quick, *quick = _run(pytester, monkeypatch, True)
    assert seen_full == [] and len(seen_quick) == 10
    junit, results, lines = quick
    assert junit == full[0]
    assert results == full[1]
    assert lines == full[2]
    assert sum("cat.scenario.yaml::" in line for line in lines) >= 10


def test_per_phase_hooks_option_turns_the_quick_protocol_off(pytester, monkeypatch):
    seen, *_ = _run(pytester, monkeypatch, True, "--per-phase-hooks")
    assert seen == []


def test_a_plugin_that_hooks_a_phase_still_sees_every_case(pytester, monkeypatch):
    pytester.makeconftest("""
        import os
        def pytest_runtest_setup(item):
            with open("phases.txt", "a") as fh:
                fh.write(item.name + "\\n")
    """)
    seen, *_ = _run(pytester, monkeypatch, True)
    assert seen == []
    assert len((pytester.path / "phases.txt").read_text().split()) == 10


def test_a_plugin_that_runs_items_itself_still_gets_them(pytester, monkeypatch):
    """A plugin with its own protocol (re-runs, say) is not pre-empted by the quick one."""
    pytester.makeconftest("""
        from _pytest.runner import runtestprotocol
        def pytest_runtest_protocol(item, nextitem):
            with open("mine.txt", "a") as fh:
                fh.write(item.name + "\\n")
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            runtestprotocol(item, nextitem=nextitem)
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
            return True
    """)
    seen, *_ = _run(pytester, monkeypatch, True)
    assert seen == []
    assert len((pytester.path / "mine.txt").read_text().split()) == 10


def test_a_pytest_skip_marker_on_a_case_is_evaluated_as_under_the_full_protocol(pytester, monkeypatch):
    """A scenario tagged ``skip`` becomes pytest's skip marker: that item takes the full protocol."""
    monkeypatch.setattr(EveryOutcomeTarget, "quick_cases", True, raising=False)
    from harness import targets

    monkeypatch.setitem(targets._TARGETS, "scripted", "report_run:EveryOutcomeTarget")
    seen = _used(monkeypatch)
    pytester.makefile(".scenario.yaml", two="""\
name: tagged
description: d
tags: [skip]
steps:
  - create_log: {name: log}
---
name: plain
description: d
steps:
  - create_log: {name: log}
""")
    pytester.runpytest("--target", "scripted", "-p", "no:cacheprovider").assert_outcomes(passed=1, skipped=1)
    assert [nodeid.rsplit("::", 1)[1] for nodeid in seen] == ["plain"]


def test_options_that_act_inside_the_phases_take_the_full_protocol(pytester, monkeypatch):
    seen, *_ = _run(pytester, monkeypatch, True, "--setup-show")
    assert seen == []


@pytest.mark.parametrize("options, usable", [((), True), (("--pdb",), False), (("--trace",), False),
                                             (("--runxfail",), False), (("--setup-plan",), False)])
def test_the_session_allows_the_quick_protocol_unless_an_option_works_per_phase(pytester, options, usable):
    assert quick_protocol.usable(pytester.parseconfigure(*options)) is usable
