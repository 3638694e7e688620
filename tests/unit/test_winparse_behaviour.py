"""Behaviour of the Windows output parsers that a user would notice going wrong: an sc.exe error
explained as the wrong thing, Windows' own words lost from a message, a dump or a crash event
from the wrong source taken as evidence (tools/mutation.py found these unpinned)."""

from __future__ import annotations

import json

import pytest

from harness.guest.winparse import (BUGCHECK_PROVIDER, KERNEL_POWER_PROVIDER, GuestOutputError, ScOutcome,
                                    parse_crash_events, parse_dump_list, parse_facts, parse_sc)
from windows_samples import EVENT_1001, EVENT_41


@pytest.mark.parametrize("code, name", [
    (2, "ERROR_FILE_NOT_FOUND"), (5, "ERROR_ACCESS_DENIED"), (31, "ERROR_GEN_FAILURE"),
    (193, "ERROR_BAD_EXE_FORMAT"), (577, "ERROR_INVALID_IMAGE_HASH"), (1052, "ERROR_INVALID_SERVICE_CONTROL"),
    (1056, "ERROR_SERVICE_ALREADY_RUNNING"), (1058, "ERROR_SERVICE_DISABLED"),
    (1060, "ERROR_SERVICE_DOES_NOT_EXIST"), (1062, "ERROR_SERVICE_NOT_ACTIVE"),
    (1072, "ERROR_SERVICE_MARKED_FOR_DELETE"), (1073, "ERROR_SERVICE_EXISTS"), (1275, "ERROR_DRIVER_BLOCKED"),
])
def test_each_sc_error_is_explained_by_its_own_win32_name(code, name):
    # The Win32 error numbers are winerror.h's; a wrong key would tell a user the wrong fix.
    assert name in ScOutcome("start", code).explain()


def test_an_unknown_sc_error_is_reported_with_its_number_only():
    assert ScOutcome("start", 4242).explain() == "sc.exe start failed with error 4242"


def test_sc_success_is_decided_by_exit_code_zero():
    assert parse_sc("create", 0, "").ok and parse_sc("create", 0, "anything at all").explain() == ""


def test_sc_keeps_windows_words_after_its_own_line_for_the_message():
    said = parse_sc("start", 1060, "[SC] StartService FEHLER 1060:\n\nDer angegebene Dienst ist nicht vorhanden.\n")
    assert said.message == "Der angegebene Dienst ist nicht vorhanden."
    # With nothing after the [SC] line, that line itself is the message (never an empty one).
    alone = parse_sc("start", 1060, "[SC] OpenService FAILED 1060:\n")
    assert alone.message == "[SC] OpenService FAILED 1060:"
    # A message is at most 500 characters.
    assert len(parse_sc("start", 1060, "[SC] X 1060:\n" + "y" * 900).message) == 500


def test_a_guest_output_error_keeps_the_output_and_shows_its_tail():
    output = "x" * 1000 + "END"
    error = GuestOutputError("dump list: not JSON", output)
    assert error.output == output
    text = str(error)
    assert text.startswith("dump list: not JSON; output was:\n") and text.endswith("END")
    assert len(text.split("output was:\n", 1)[1]) == 600
    assert str(GuestOutputError("facts: empty", "")) == "facts: empty; there was no output"


def test_facts_accept_the_first_cumulative_update_level():
    facts = parse_facts('{"build":"26100","ubr":0,"edition":"Professional"}')
    assert facts.revision == 0
    with pytest.raises(GuestOutputError):
        parse_facts('{"build":"26100","ubr":-1,"edition":"Professional"}')


def test_an_empty_dump_file_is_listed_and_a_negative_size_refused():
    dumps = parse_dump_list(json.dumps([{"path": "C:\\Windows\\MEMORY.DMP", "size": 0, "written": "t"}]))
    assert [(d.path, d.size) for d in dumps] == [("C:\\Windows\\MEMORY.DMP", 0)]
    with pytest.raises(GuestOutputError, match="not a dump file"):
        parse_dump_list(json.dumps([{"path": "C:\\Windows\\MEMORY.DMP", "size": -1}]))
    with pytest.raises(GuestOutputError, match="not a JSON list"):
        parse_dump_list('{"path": "C:\\\\MEMORY.DMP"}')


def _event(rid, eid, provider, xml):
    return {"record_id": rid, "id": eid, "provider": provider, "xml": xml, "time": "t"}


def test_crash_events_come_only_from_their_own_providers():
    # A 1001 from another provider (an application's WER report) or a 41 not from Kernel-Power is
    # not a bugcheck: taking it would blame CLFS for someone else's crash.
    other = "Microsoft-Windows-Something-Else"
    events, problems = parse_crash_events(json.dumps([
        _event(9, 1001, other, EVENT_1001), _event(8, 41, other, EVENT_41),
        _event(7, 1001, BUGCHECK_PROVIDER, EVENT_1001), _event(6, 41, KERNEL_POWER_PROVIDER, EVENT_41)]))
    assert [(e.record_id, e.code) for e in events] == [(7, 0xD1), (6, 0xD1)]
    assert problems == [f"System log record 9: unexpected event 1001 from {other}",
                        f"System log record 8: unexpected event 41 from {other}"]


def test_a_crash_event_with_a_field_missing_is_a_problem_not_an_event():
    events, problems = parse_crash_events(json.dumps([
        {"record_id": 3, "id": 41, "provider": KERNEL_POWER_PROVIDER},               # no xml
        {"record_id": "4", "id": 41, "provider": KERNEL_POWER_PROVIDER, "xml": EVENT_41},
        _event(5, 41, KERNEL_POWER_PROVIDER, EVENT_41.replace("<Data Name='BugcheckParameter3'>0x0</Data>", "")),
    ]))
    assert events == []
    assert problems == ["System log record 3: record_id, id, provider or xml missing",
                        "System log record 4: record_id, id, provider or xml missing",
                        "System log record 5: BugcheckCode or BugcheckParameter1-4 missing or not numbers"]
