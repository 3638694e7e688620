"""Parsers of Windows output: sc.exe (recorded transcripts, tests/unit/data/windows), our JSON
queries (service state, Driver Verifier's registry values, facts, with and without a BOM) and
libvirt's panic lines, and the garbage each one must refuse."""

from __future__ import annotations

import json

import pytest

from harness.errors import InfraError
from harness.guest.hvpanic import DomainLog, domain_log_path, parse_panic_lines
from harness.guest.winparse import (GuestOutputError, parse_clfsctl_info, parse_crash_events, parse_dump_list,
                                    parse_facts, parse_record_id, parse_sc, parse_service_state, parse_sha256,
                                    parse_verifier_settings)

from windows_samples import EVENT_1001, EVENT_41, FACTS, LOG, SC_577, SC_START_OK, VERIFIER, VERIFIER_NONE

# ---- sc.exe -------------------------------------------------------------------------------------

def test_sc_start_running():
    out = parse_sc("start", 0, SC_START_OK)
    assert out.ok and out.explain() == ""


def test_sc_create_and_delete_success():
    assert parse_sc("create", 0, "[SC] CreateService SUCCESS\r\n").ok
    assert parse_sc("delete", 0, "[SC] DeleteService SUCCESS\r\n").ok


@pytest.mark.parametrize("action, code, text, meaning", [
    ("start", 577, SC_577, "test signing is off"),
    ("start", 1275, "[SC] StartService FAILED 1275:\r\n\r\nThis driver has been blocked from loading\r\n",
     "memory integrity"),
    ("stop", 1062, "[SC] ControlService FAILED 1062:\r\n\r\nThe service has not been started.\r\n", "not running"),
    ("start", 1058, "[SC] StartService FAILED 1058:\r\n\r\nThe service cannot be started, either because "
     "it is disabled or because it has no enabled devices associated with it.\r\n", "disabled"),
    ("create", 1073, "[SC] CreateService FAILED 1073:\r\n\r\nThe specified service already exists.\r\n",
     "already exists"),
    ("start", 4242, "[SC] StartService FAILED 4242:\r\n\r\nSomething new.\r\n", "Something new"),
])
def test_sc_failures(action, code, text, meaning):
    out = parse_sc(action, code, text)
    assert (out.ok, out.error) == (False, code)
    assert meaning in out.explain() and f"error {code}" in out.explain()
    assert out.message  # Windows' own sentence is kept


def test_sc_decides_by_exit_code_whatever_it_prints():
    # Access denied before sc.exe printed its [SC] line; no output at all; a success with text.
    assert parse_sc("start", 5, "Access is denied.\r\n").error == 5
    assert parse_sc("stop", 1062, "").error == 1062 and "not running" in parse_sc("stop", 1062, "").explain()
    assert parse_sc("start", 0, "garbage\r\n").ok
    with pytest.raises(GuestOutputError, match="no Win32 error"):
        parse_sc("start", -1, "")


# ---- service state (CIM) -------------------------------------------------------------------------

def test_service_state():
    running = parse_service_state(json.dumps({"exists": True, "started": True, "state": "Running", "exit_code": 0}))
    assert running.exists and running.started
    stopped = parse_service_state(json.dumps({"exists": True, "started": False, "state": "Stopped",
                                              "exit_code": 577}))
    assert not stopped.started and stopped.exit_code == 577
    absent = parse_service_state(json.dumps({"exists": False, "started": None, "state": None, "exit_code": None}))
    assert (absent.exists, absent.started) == (False, False)


@pytest.mark.parametrize("text, words", [
    ("Get-CimInstance : Access denied", "not JSON"),
    (json.dumps({"exists": "yes"}), "boolean 'exists'"),
    (json.dumps({"exists": True, "started": "Running"}), "Started is 'Running'"),
    (json.dumps({"exists": True, "started": True, "exit_code": "0"}), "ExitCode"),
])
def test_service_state_refusals(text, words):
    with pytest.raises(GuestOutputError, match=words):
        parse_service_state(text)


# ---- verifier (registry) --------------------------------------------------------------------------

def test_verifier_settings():
    s = parse_verifier_settings(VERIFIER)
    assert s.drivers == ("clfstest.sys", "clfs.sys") and s.verifies("CLFS.SYS") and s.level == 0x209BB
    assert s.missing(("clfstest.sys", "clfs.sys")) == []
    # Later Windows add bits to /standard's (WDF verification): a superset is standard too.
    assert parse_verifier_settings(json.dumps({"drivers": "clfstest.sys", "level": 0x2209BB})).missing(
        ("clfstest.sys",)) == []


def test_verifier_none_and_gaps():
    s = parse_verifier_settings(VERIFIER_NONE)
    assert s.drivers == () and s.level is None
    assert s.missing(("clfstest.sys",)) == ["clfstest.sys is not among the verified drivers (VerifyDrivers)",
                                            "VerifyDriverLevel is not set"]
    partial = parse_verifier_settings(json.dumps({"drivers": "clfstest.sys", "level": 0x9BB}))
    assert partial.missing(("clfstest.sys",)) == ["VerifyDriverLevel 0x9BB lacks standard flags 0x20000 "
                                                  "(verifier /standard sets 0x209BB)"]
    # REG_DWORD arrives as a signed Int32 from PowerShell.
    assert parse_verifier_settings(json.dumps({"drivers": "a.sys", "level": -1})).level == 0xFFFFFFFF


@pytest.mark.parametrize("text, words", [
    ("'verifier.exe' is not recognized as an internal or external command", "not JSON"),
    ("[]", "not a JSON object"),
    (json.dumps({"drivers": ["a.sys"], "level": 1}), "VerifyDrivers"),
    (json.dumps({"drivers": "a.sys", "level": "0x209BB"}), "VerifyDriverLevel"),
])
def test_verifier_refusals(text, words):
    with pytest.raises(GuestOutputError, match=words):
        parse_verifier_settings(text)


# ---- facts, hashes, record ids ---------------------------------------------------------------

def test_facts():
    f = parse_facts(json.dumps(FACTS))
    assert (f.build, f.revision, f.version) == (22631, 2861, "22631.2861")
    assert f.test_signing_in_effect and f.secure_boot is False and f.admin
    assert (f.crash_dump_enabled, f.nmi_crash_dump) == (7, 1)


def test_facts_with_a_byte_order_mark():
    # [Console]::OutputEncoding=[Text.Encoding]::UTF8 starts the output with U+FEFF.
    assert parse_facts("\ufeff" + json.dumps(FACTS)).build == 22631


def test_facts_nulls_and_no_testsigning():
    f = parse_facts(json.dumps({**FACTS, "secure_boot": None, "nmi_crash_dump": None,
                                "start_options": " NOEXECUTE=OPTIN  NOTESTSIGNING"}))
    assert f.secure_boot is None and f.nmi_crash_dump is None and not f.test_signing_in_effect


@pytest.mark.parametrize("text, words", [
    ("Get-ItemProperty : Cannot find path", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({**FACTS, "build": "22631a"}), "CurrentBuildNumber"),
    (json.dumps({**FACTS, "ubr": None}), "UBR"),
    (json.dumps({**FACTS, "admin": "yes"}), "admin"),
    (json.dumps({**FACTS, "nmi_crash_dump": "1"}), "nmi_crash_dump"),
])
def test_facts_refusals(text, words):
    with pytest.raises(GuestOutputError, match=words):
        parse_facts(text)


def test_hash_and_record_id():
    assert parse_sha256("ABCDEF" + "0" * 58 + "\r\n") == "abcdef" + "0" * 58
    assert parse_record_id("48213\r\n") == 48213
    for bad, fn in (("", parse_sha256), ("xyz", parse_record_id), ("-3", parse_record_id)):
        with pytest.raises(GuestOutputError):
            fn(bad)
    assert issubclass(GuestOutputError, InfraError)


# ---- dumps and events ---------------------------------------------------------------------------

def test_dump_list():
    text = json.dumps([{"path": "C:\\Windows\\Minidump\\011524-5234-01.dmp", "size": 1234567,
                        "written": "2024-01-15T10:00:00.0000000Z"},
                       {"path": "C:\\Windows\\MEMORY.DMP", "size": 800 << 20, "written": "..."}])
    dumps = parse_dump_list(text)
    assert [d.is_minidump for d in dumps] == [True, False] and dumps[1].size == 800 << 20
    assert parse_dump_list("[]") == []


@pytest.mark.parametrize("item", [
    {"path": "C:\\Windows\\notepad.exe", "size": 1}, {"path": "MEMORY.DMP", "size": 1},
    {"path": "C:\\Windows\\MEMORY.DMP", "size": -1}, {"path": "C:\\Windows\\MEMORY.DMP", "size": True},
    "C:\\Windows\\MEMORY.DMP",
])
def test_dump_list_refusals(item):
    with pytest.raises(GuestOutputError, match="not a dump file"):
        parse_dump_list(json.dumps([item]))


def _event(record_id, event_id, provider, xml):
    return {"record_id": record_id, "id": event_id, "provider": provider, "time": "2024-01-15T10:00:05Z",
            "xml": xml}


def test_crash_events():
    text = json.dumps([_event(101, 41, "Microsoft-Windows-Kernel-Power", EVENT_41),
                       _event(105, 1001, "Microsoft-Windows-WER-SystemErrorReporting", EVENT_1001)])
    events, problems = parse_crash_events(text)
    assert problems == []
    assert [e.event_id for e in events] == [1001, 41]          # newest first
    bugcheck, power = events
    assert bugcheck.code == power.code == 0xD1
    assert bugcheck.parameters == power.parameters == (0xFFFFD28F1A2B3C40, 2, 0, 0xFFFFF8053C7A1234)
    assert bugcheck.dump_path == "C:\\Windows\\MEMORY.DMP"


def test_crash_events_keep_what_parses():
    power_loss = EVENT_41.replace(">209<", ">0<")
    text = json.dumps([_event(7, 41, "Microsoft-Windows-Kernel-Power", power_loss),
                       _event(8, 1001, "Microsoft-Windows-WER-SystemErrorReporting",
                              EVENT_1001.replace("0x000000d1 (", "garbled (")),
                       _event(9, 41, "Microsoft-Windows-Kernel-Power", "<Event"),
                       "junk"])
    events, problems = parse_crash_events(text)
    assert [(e.record_id, e.code) for e in events] == [(7, None)]   # a power loss: no bugcheck
    assert len(problems) == 3
    assert "record 8: param1" in problems[0] and "XML does not parse" in problems[1]
    with pytest.raises(GuestOutputError):
        parse_crash_events("{}")


def test_clfsctl_info():
    info = parse_clfsctl_info("clfstest protocol 1, build 0.3.0-abc123, max steps 256, max request 1048576 bytes\r\n")
    assert info == {"protocol": 1, "build": "0.3.0-abc123", "max_steps": 256, "max_request": 1048576}
    with pytest.raises(GuestOutputError, match="clfsctl info"):
        parse_clfsctl_info("clfsctl: driver not loaded")


# ---- libvirt's domain log -----------------------------------------------------------------------


def test_panic_line():
    panics, problems = parse_panic_lines(LOG)
    assert problems == [] and len(panics) == 1
    assert panics[0].code == 0xD1 and panics[0].parameters == (0xFFFFD28F1A2B3C40, 2, 0, 0xFFFFF8053C7A1234)


def test_torn_panic_line_is_not_a_panic():
    panics, problems = parse_panic_lines("2024: panic hyper-v: arg1='0x80', arg2='0x4f4454'\n")
    assert panics == [] and "without arg1..arg5" in problems[0]


def test_domain_log_reads_only_after_mark(tmp_path):
    path = tmp_path / "clfs-x-w0.log"
    path.write_text(LOG)
    log = DomainLog(path)
    log.mark()
    assert log.wait_panic(timeout=0) == (None, [f"no 'panic hyper-v' line in {path} after the crash event"])
    with open(path, "a") as fh:
        fh.write(LOG.splitlines()[-1].replace("0xd1", "0x80") + "\n")
    panic, problems = log.wait_panic(timeout=0)
    assert panic.code == 0x80 and problems == []


def test_domain_log_rotated_after_the_mark(tmp_path):
    path = tmp_path / "clfs-x-w0.log"
    path.write_text("x" * 4096)
    log = DomainLog(path)
    log.mark()
    path.write_text(LOG)          # logrotate's copytruncate, or a new file
    panic, _ = log.wait_panic(timeout=0)
    assert panic.code == 0xD1


def test_domain_log_unreadable_is_a_note(tmp_path):
    panic, problems = DomainLog(tmp_path / "absent.log").wait_panic(timeout=0)
    assert panic is None and "not readable" in problems[0]
    panic, problems = DomainLog(None).wait_panic(timeout=0)
    assert "remote libvirt host" in problems[0]


def test_domain_log_path():
    assert str(domain_log_path("qemu:///system", "d")) == "/var/log/libvirt/qemu/d.log"
    assert str(domain_log_path("qemu:///session", "d")).endswith("/libvirt/qemu/log/d.log")
    assert domain_log_path("qemu+ssh://runner2/system", "d") is None
    assert str(domain_log_path("qemu+ssh://runner2/system", "d", tmp := "/mnt/logs")) == f"{tmp}/d.log"


# ---- QEMU's GUEST_PANICKED event ------------------------------------------------------------------

def test_panic_from_the_guest_panicked_event():
    from harness.guest.hvpanic import panic_from_details
    hyperv = {"action": "pause", "info": {"type": "hyper-v", "arg1": 0x3B, "arg2": 0xC0000005,
                                          "arg3": 0xFFFFF80312345678, "arg4": 0xFFFF8B0F12345678, "arg5": 0}}
    panic, problems = panic_from_details([{"action": "pause"}, hyperv])
    assert (panic.code, panic.parameters, problems) == (0x3B, (0xC0000005, 0xFFFFF80312345678,
                                                              0xFFFF8B0F12345678, 0), [])
    # isa pvpanic carries no registers: no panic, and not a panic with code 0.
    assert panic_from_details([{"action": "pause"}]) == (None, [])
    torn = {"action": "pause", "info": {"type": "hyper-v", "arg1": 0x3B, "arg2": "x"}}
    panic, problems = panic_from_details([torn])
    assert panic is None and "without numbers arg1..arg5" in problems[0]


def test_facts_carry_the_clfs_authentication_mode_as_a_number():
    from harness.guest.winparse import parse_facts
    base = '{"build":"26100","ubr":4061,"edition":"Professional","start_options":" TESTSIGNING"'
    assert parse_facts(base + ',"clfs_auth_mode":1}').clfs_auth_mode == 1
    assert parse_facts(base + ',"clfs_auth_mode":null}').clfs_auth_mode is None
    assert parse_facts(base + '}').clfs_auth_mode is None
