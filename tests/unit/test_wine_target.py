"""The wine target's bookkeeping without Wine: stand-in events become contract violations tied to
their steps, a violation makes the case CONTRACT, and the status has a name of its own."""

from __future__ import annotations

from harness.protocol.ntstatus import STANDIN_CONTRACT_STATUS, status_name
from harness.protocol.results import NOT_RUN, RAN, CaseResult, CleanupSummary, ContractViolation, StepResult
from harness.targets import known_targets, target_class
from harness.targets.wine import _violations
from harness.verdict.outcome import CONTRACT, OUTCOMES


def _step(index: int, status: int, disposition: str = RAN) -> StepResult:
    return StepResult(index, "create_log", disposition, status, 0, "passive", {}, 0)


def _event(rule: str, call: int, argument: str = "puszLogFileName") -> dict:
    return {"event": "contract", "rule": rule, "routine": "ClfsCreateLogFile", "argument": argument,
            "value": "LOG:C:\\x", "call": call, "requires": "r", "source": "s"}


def test_the_wine_target_is_registered():
    assert "wine" in known_targets()
    assert target_class("wine").name == "wine"


def test_violations_are_tied_to_the_steps_that_got_the_contract_status():
    steps = (_step(1, 0), _step(2, STANDIN_CONTRACT_STATUS), _step(3, 0xC0000034),
             _step(4, STANDIN_CONTRACT_STATUS), _step(5, 0, NOT_RUN))
    events = [{"event": "standin_loaded"}, _event("log-name-nt-path", 2), _event("create-disposition", 4),
              _event("released-at-end", 0, "log file object"), {"event": "request_end"}]
    found = _violations(events, steps)
    assert [(v.rule, v.step) for v in found] == [("log-name-nt-path", 2), ("create-disposition", 4),
                                                 ("released-at-end", None)]
    assert "end of request" in found[2].describe() and "step 2" in found[0].describe()


def test_a_contract_status_without_an_event_is_still_a_violation():
    found = _violations([], (_step(1, STANDIN_CONTRACT_STATUS),))
    assert len(found) == 1 and found[0].step == 1 and found[0].rule == "unreported"


def test_no_events_no_violations():
    assert _violations([{"event": "request_end"}], (_step(1, 0),)) == ()


def test_a_violation_makes_the_case_contract_whatever_the_statuses(tmp_path):
    from harness.scenario.load import load_file
    from harness.verdict.judge import judge

    path = tmp_path / "c.scenario.yaml"
    path.write_text("name: c\ndescription: d\nsteps:\n  - create_log: {name: log}\n    expect: {status: any}\n")
    (case,), problems = load_file(path, "c.scenario.yaml")
    assert not problems
    clean = CaseResult("wine", (_step(1, STANDIN_CONTRACT_STATUS),), CleanupSummary())
    assert judge(case, clean).outcome == "PASS"   # 'status: any' would accept it...
    broken = CaseResult("wine", clean.steps, CleanupSummary(),
                        contract=(ContractViolation("log-name-nt-path", "ClfsCreateLogFile", "puszLogFileName",
                                                    "LOG:C:\\x", 1, "LOG: + NT path", "evidence"),))
    verdict = judge(case, broken)
    assert verdict.outcome == CONTRACT                  # ... but a broken kernel rule is never a pass
    assert "log-name-nt-path" in verdict.diff() and "puszLogFileName" in verdict.diff()


def test_contract_is_an_outcome_of_every_report_and_the_status_has_a_name():
    import json
    from importlib import resources

    assert CONTRACT in OUTCOMES
    schema = json.loads(resources.files("harness.report").joinpath("results.schema.json").read_text())
    assert "CONTRACT" in json.dumps(schema)
    assert status_name(STANDIN_CONTRACT_STATUS) == "STANDIN_CONTRACT_VIOLATION"


def test_a_client_that_never_returns_is_a_hang_and_stops_the_session(tmp_path, monkeypatch):
    """A stuck driver or Wine: clfsctl.exe is killed with its process group, the session is stopped
    (wineserver -k) and the case is HANG; nothing is left running."""
    import os
    import time

    import pytest

    from harness.errors import GuestTimeout
    from harness.targets.winesession import WineSession
    from harness.verdict.outcome import HANG, classify_exception

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "wine").write_text(f"#!/bin/sh\nprintf 'wine %s\\n' \"$*\" >> {calls}\nexec sleep 60\n")
    (bin_dir / "wineserver").write_text(f"#!/bin/sh\nprintf 'wineserver %s\\n' \"$*\" >> {calls}\n")
    for tool in ("wine", "wineserver"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    session = WineSession(tmp_path / "prefix", tmp_path / "session.log")
    started = time.monotonic()
    with pytest.raises(GuestTimeout) as info:
        session.client(["run", "a", "b"], timeout=0.5)
    assert time.monotonic() - started < 10
    assert classify_exception(info.value) == HANG
    log = calls.read_text()
    assert "wine C:\\clfstest\\clfsctl.exe run a b" in log and "wineserver -k" in log
    assert "sleep 60" not in os.popen("ps -eo args").read()
