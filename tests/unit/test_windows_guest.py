"""The Windows adapter's orchestration: provisioning order, error mapping, and what happens
after a bugcheck or a hang (which evidence, in which order, before the revert).

Fakes stand in for libvirt and SSH and answer with literal samples of Windows output; they
never produce a Windows result: only the harness's own sequencing and error texts are checked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.errors import BugcheckDetected, GuestTimeout, InfraError, ProtocolError
from harness.guest import wincmd
from harness.guest.hvpanic import DomainLog
from harness.guest.wincrash import GuestHang
from harness.guest.windows import DriverLoadError, TestSigningOff, WindowsGuest
from harness.guest.winparse import parse_facts
from harness.vm.rundir import NVRAM_FILE, RunDir

from guest_fakes import FakeInstance, FakeSsh, timeout_error
from windows_samples import (EVENT_1001, FACTS, SC_577, SC_START_OK, SERVICE_RUNNING, VERIFIER, VERIFIER_NONE,
                             dump_header64, events_json, sc_failed)

PANIC_D1 = ("2024-09-30 16:30:49.506+0000: panic hyper-v: arg1='0xd1', arg2='0xffffd28f1a2b3c40', "
            "arg3='0x2', arg4='0x0', arg5='0xfffff8053c7a1234'\n")
PANIC_80 = ("2024-09-30 16:31:00.001+0000: panic hyper-v: arg1='0x80', arg2='0x4f4454', arg3='0x0', "
            "arg4='0x0', arg5='0x0'\n")
MEMORY_DMP = "/C:/Windows/MEMORY.DMP"


@pytest.fixture
def g(tmp_path):
    calls: list = []
    run = RunDir.create(tmp_path / "runs", check_reachable=False)
    guest = WindowsGuest(None, SimpleNamespace(ssh_user="clfs", name="win11"), run, worker="w0")
    guest.instance, guest.ssh = FakeInstance(calls), FakeSsh(calls)
    guest.calls, guest.panic_log_wait = calls, 0
    log = tmp_path / "domain.log"
    log.write_text("2024-09-30 16:29:01.120+0000: starting up libvirt version: 9.0.0\n")
    guest.domain_log = DomainLog(log)
    guest.domain_log.mark()
    guest.log_path = log
    guest.facts = parse_facts(json.dumps(FACTS))
    return guest


def kinds(calls) -> list:
    """Calls with exec'd commands named by the wincmd builder that made them."""
    names = {cmd: name for name, cmd in wincmd.all_commands().items()}
    names[wincmd.file_hash_command(wincmd.GUEST_CLIENT)] = "file_hash_client"
    names[wincmd.crash_events_command(0)] = "crash_events"
    names["exit 0"] = "probe"
    return [names.get(c[1], c[1]) if c[0] == "exec" else c[0] if len(c) == 1 else (c[0], c[1])
            for c in calls]


# ---- provisioning -------------------------------------------------------------------------------

def provisioning_script(g, **override):
    def hash_of(remote):
        return lambda _cmd: (0, hashlib.sha256(g.ssh.put_files[remote]).hexdigest().upper() + "\r\n", "")
    script = {
        "facts": (r"CurrentBuildNumber", (0, json.dumps(FACTS), "")),
        "mkdir": (r"^New-Item", (0, "", "")),
        "hash_sys": (r"Get-FileHash .*clfstest\.sys", hash_of("/C:/clfstest/clfstest.sys")),
        "hash_exe": (r"Get-FileHash .*clfsctl\.exe", hash_of("/C:/clfstest/clfsctl.exe")),
        "vquery": (r"VerifyDriverLevel", (0, VERIFIER_NONE, "")),
        "stop": (r"sc.exe' stop", (1060, sc_failed("OpenService", 1060, "The specified service does not "
                                                    "exist as an installed service."), "")),
        "delete": (r"sc.exe' delete", (1060, sc_failed("OpenService", 1060, "The specified service does "
                                                        "not exist as an installed service."), "")),
        "create": (r"sc.exe' create", (0, "[SC] CreateService SUCCESS\r\n", "")),
        "start": (r"sc.exe' start", (0, SC_START_OK, "")),
        "query": (r"Win32_SystemDriver", (0, SERVICE_RUNNING, "")),
        "info": (r"clfsctl.exe' info", (0, "clfstest protocol 1, build 0.3.0, max steps 256, "
                                           "max request 1048576 bytes\r\n", "")),
        "clear": (r"^Remove-Item .*MEMORY\.DMP", (0, "", "")),
        "mark": (r"RecordId$", (0, "48213\r\n", "")),
    }
    script.update(override)
    g.ssh.script = list(script.values())


@pytest.fixture
def tools(tmp_path):
    driver, client = tmp_path / "clfstest.sys", tmp_path / "clfsctl.exe"
    driver.write_bytes(b"MZ driver")
    client.write_bytes(b"MZ client")
    return driver, client


def test_provisioning_order(g, tools):
    provisioning_script(g)
    g.provision_clfstest(*tools)
    assert kinds(g.calls) == [
        "facts", "mkdir", ("put", "/C:/clfstest/clfstest.sys"), "file_hash",
        ("put", "/C:/clfstest/clfsctl.exe"), "file_hash_client", "verifier_settings",
        "sc_stop", "sc_delete", "sc_create", "sc_start", "service_state", "clfsctl_info",
        "clear_dumps", "system_log_mark"]
    assert g.ssh.put_files["/C:/clfstest/clfstest.sys"] == b"MZ driver"
    assert g._event_mark == 48213 and g.driver_info["protocol"] == 1


def test_test_signing_off_says_what_to_do(g, tools):
    provisioning_script(g, facts=(r"CurrentBuildNumber", (0, json.dumps(
        {**FACTS, "secure_boot": True, "start_options": " NOEXECUTE=OPTIN"}), "")))
    with pytest.raises(TestSigningOff) as info:
        g.provision_clfstest(*tools)
    text = str(info.value)
    assert "not in effect" in text and "'NOEXECUTE=OPTIN'" in text and "not rebooted" in text
    assert "bcdedit /set testsigning on" in text
    assert "error 577" in text and "Secure Boot is ON" in text
    assert isinstance(info.value, InfraError)
    # Decided by the boot options in effect alone: bcdedit (localized) is never run.
    assert not any("bcdedit" in c[1] for c in g.calls if c[0] == "exec")


def test_not_an_administrator(g, tools):
    provisioning_script(g, facts=(r"CurrentBuildNumber", (0, json.dumps({**FACTS, "admin": False}), "")))
    with pytest.raises(InfraError, match="'clfs' is not an administrator"):
        g.provision_clfstest(*tools)


def test_signature_refused_at_start(g, tools):
    provisioning_script(g, start=(r"sc.exe' start", (577, SC_577, "")))
    with pytest.raises(DriverLoadError, match="sc.exe start failed with error 577: .*signature.*testsigning Yes"):
        g.provision_clfstest(*tools)


def test_service_not_running_after_start(g, tools):
    stopped = json.dumps({"exists": True, "started": False, "state": "Gestoppt", "exit_code": 577})
    provisioning_script(g, query=(r"Win32_SystemDriver", (0, stopped, "")))
    with pytest.raises(DriverLoadError, match="clfstest is not running after sc start .*'Gestoppt', ExitCode 577"):
        g.provision_clfstest(*tools)


def test_damaged_copy(g, tools):
    provisioning_script(g, hash_sys=(r"Get-FileHash .*clfstest\.sys", (0, "AB" * 32, "")))
    with pytest.raises(InfraError, match="has sha256 abababab.*damaged"):
        g.provision_clfstest(*tools)


def test_image_with_verifier_on_is_reset(g, tools):
    answers = iter([VERIFIER, VERIFIER_NONE])
    provisioning_script(g, vquery=(r"VerifyDriverLevel", lambda _c: (0, next(answers), "")),
                        reset=(r"verifier.exe' /reset", (2, "", "")),
                        reboot=(r"shutdown.exe", (0, "", "")),
                        probe=(r"^exit 0$", InfraError("ssh: cannot open a session")))
    g.provision_clfstest(*tools)
    seq = kinds(g.calls)
    i = seq.index("verifier_reset")
    assert seq[i - 1:i + 5] == ["verifier_settings", "verifier_reset", "reboot", "probe", ("reconnect", 600.0),
                                "verifier_settings"]


# ---- Driver Verifier and reboots --------------------------------------------------------------

def test_enable_verifier_reboots_and_checks(g):
    g.ssh.script = [(r"/standard", (2, "", "")), (r"shutdown.exe", (0, "", "")),
                    (r"^exit 0$", (0, "", "")),
                    (r"VerifyDriverLevel", (0, VERIFIER, ""))]
    probes = iter([(0, "", ""), InfraError("ssh connection to the guest lost")])
    g.ssh.script[2] = (r"^exit 0$", lambda _c: next(probes))
    g.enable_verifier(("clfstest.sys", "clfs.sys"))
    assert kinds(g.calls) == ["verifier_standard_with_clfs", "reboot", "probe", "probe",
                              ("reconnect", 600.0), "verifier_settings"]


def test_bugcheck_during_a_reboot_gathers_evidence(g):
    g.ssh.script = [(r"shutdown.exe", (0, "", "")), (r"^exit 0$", InfraError("down"))]
    with open(g.log_path, "a") as fh:
        fh.write(PANIC_D1.replace("0xd1", "0xc4"))
    g.instance.reason = "crashed: panicked"
    g.ssh.reconnect_error = BugcheckDetected("guest crashed: panicked while running 'a command'")
    with pytest.raises(BugcheckDetected) as info:
        g.reboot()
    assert info.value.code == 0xC4 and "DRIVER_VERIFIER_DETECTED_VIOLATION" in str(info.value)
    assert kinds(g.calls)[-4:] == [("reconnect", 600.0), ("screenshot", "crash-1.png"), "revert",
                                   ("reconnect", 600.0)]


def test_verifier_that_did_not_take(g):
    g.ssh.script = [(r"/standard", (2, "", "")), (r"shutdown.exe", (0, "", "")),
                    (r"^exit 0$", InfraError("down")), (r"VerifyDriverLevel", (0, VERIFIER_NONE, ""))]
    with pytest.raises(InfraError, match="not on as asked.*clfstest.sys is not among the verified drivers"):
        g.enable_verifier(("clfstest.sys",))


def test_verifier_error_exit(g):
    g.ssh.script = [(r"/standard", (1, "Error 0x80070005: Access is denied.\r\n", ""))]
    with pytest.raises(InfraError, match=r"exited 1 \(error\): Error 0x80070005"):
        g.enable_verifier(("clfstest.sys",))


# ---- requests ---------------------------------------------------------------------------------

def test_request_round_trip(g):
    g.ssh.script = [(r"clfsctl.exe' run", (0, "", ""))]
    g.ssh.files["/C:/clfstest/response.bin"] = b"CLTR response"
    assert g.run_request(b"CLTQ request", timeout=30) == b"CLTR response"
    assert g.ssh.put_files["/C:/clfstest/request.bin"] == b"CLTQ request"
    assert kinds(g.calls) == [("put", "/C:/clfstest/request.bin"), "clfsctl_run",
                              ("get", "/C:/clfstest/response.bin")]


@pytest.mark.parametrize("code, error, words", [
    (3, InfraError, "exited 3: the driver is not loaded.*clfsctl said: clfsctl: driver not loaded"),
    (4, InfraError, "must be an administrator"),
    (5, InfraError, "different protocol versions"),
    (6, ProtocolError, "malformed"),
    (0xC0000005, InfraError, "NTSTATUS 0xC0000005"),
    (77, InfraError, "none of its exit codes"),
])
def test_clfsctl_exit_codes(g, code, error, words):
    g.ssh.script = [(r"clfsctl.exe' run", (code, "", "clfsctl: driver not loaded\r\n"))]
    with pytest.raises(error, match=words):
        g.run_request(b"CLTQ", timeout=30)
    assert g.instance.calls[-1] == ("exec", wincmd.clfsctl_run_command())   # no revert for these


# ---- bugchecks --------------------------------------------------------------------------------

def crash_during_run(g, line=PANIC_D1):
    """A bugcheck as the domain reports it: with hv-crash (the default) libvirt logs the crash
    registers and the guest is paused (PANICKED); with wait_for_dump (isa pvpanic, no hv-crash)
    there are no registers, and pvpanic says CRASHLOADED while Windows writes its dump."""
    def crash(_command):
        if g.wait_for_dump:
            g.instance.reason = "crashed: crashloaded"
            return BugcheckDetected("guest crashed: crashloaded while running 'a command'")
        with open(g.log_path, "a") as fh:
            fh.write(line)
        g.instance.reason = "crashed: panicked"
        return BugcheckDetected("guest crashed: panicked while running 'a command'")
    return crash


def test_bugcheck_without_waiting_for_a_dump(g, tmp_path):
    evidence = tmp_path / "case"
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=evidence)
    exc = info.value
    assert exc.code == 0xD1 and exc.parameters == (0xFFFFD28F1A2B3C40, 2, 0, 0xFFFFF8053C7A1234)
    assert exc.dump_path is None
    assert "DRIVER_IRQL_NOT_LESS_OR_EQUAL" in str(exc) and "[from the Hyper-V crash registers]" in str(exc)
    assert "wait_for_dump is off" in str(exc)
    assert kinds(g.calls)[1:] == ["clfsctl_run", ("screenshot", "crash-1.png"), "revert", ("reconnect", 600.0)]
    report = json.loads((evidence / "crash.json").read_text())
    assert report["code"] == 0xD1 and report["witness"] == "Hyper-V crash registers"
    assert (evidence / "screenshot-crash.png").exists()


def host_dumps(g, data=None, error=None):
    """Give the fake instance the proposed backend hook: QEMU's win-dmp dump of the paused guest."""
    def dump_windows_memory(path):
        g.calls.append(("host_dump", Path(path).name))
        if error:
            raise error
        Path(path).write_bytes(data)
    g.instance.dump_windows_memory = dump_windows_memory


def test_bugcheck_dumped_from_the_host_while_paused(g, tmp_path):
    evidence = tmp_path / "case"
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    host_dumps(g, dump_header64(dump_type=1) + b"\0" * 4096)
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=evidence)
    assert info.value.code == 0xD1 and info.value.dump_path == str(evidence / "guest-memory.dmp")
    assert "[from the dump header]" in str(info.value) and "notes" not in str(info.value)
    assert kinds(g.calls)[1:] == ["clfsctl_run", ("screenshot", "crash-1.png"), ("host_dump", "guest-memory.dmp"),
                                  "revert", ("reconnect", 600.0)]


def test_host_dump_too_large_keeps_the_header(g, tmp_path):
    g.max_dump_bytes = 0x3000
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    host_dumps(g, dump_header64() + b"\0" * 0x2000)
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert info.value.dump_path == str(tmp_path / "case" / "guest-memory.dmp.header")
    assert not (tmp_path / "case" / "guest-memory.dmp").exists()
    assert (tmp_path / "case" / "guest-memory.dmp.header").stat().st_size == 0x2000


def test_host_dump_without_bugcheck_data_or_failing(g, tmp_path):
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    host_dumps(g, dump_header64(code=0x161, params=(0, 0, 0, 0)))
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "a")
    assert info.value.code == 0xD1 and "0x161 LIVE_SYSTEM_DUMP" in str(info.value)
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    host_dumps(g, error=InfraError("libvirt: dump: win-dump: invalid vmcoreinfo note size"))
    with pytest.raises(BugcheckDetected, match="host-side dump failed: .*invalid vmcoreinfo note size"):
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "b")


def dump_answers(g, dumps, events=((9, 1001, EVENT_1001),)):
    g.ssh.script += [(r"Sort-Object LastWriteTimeUtc", (0, json.dumps(dumps), "")),
                     (r"Get-WinEvent -ErrorAction SilentlyContinue", (0, events_json(*events), ""))]


def test_bugcheck_waits_for_the_dump_then_reverts(g, tmp_path):
    g.wait_for_dump = True
    evidence = tmp_path / "case"
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    dump_answers(g, [{"path": "C:\\Windows\\MEMORY.DMP", "size": 9000, "written": "x"},
                     {"path": "C:\\Windows\\Minidump\\011524-01.dmp", "size": 9000, "written": "x"}])
    g.ssh.files[MEMORY_DMP] = dump_header64()
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=evidence)
    exc = info.value
    assert exc.code == 0xD1 and exc.dump_path == str(evidence / "MEMORY.DMP")
    assert "[from the dump header]" in str(exc) and "notes" not in str(exc)
    assert kinds(g.calls)[1:] == ["clfsctl_run", ("screenshot", "crash-1.png"), ("reconnect", 900.0),
                                  "list_dumps", "crash_events", ("get", MEMORY_DMP), "revert",
                                  ("reconnect", 600.0)]
    report = json.loads((evidence / "crash.json").read_text())
    assert report["dump_header"]["dump_type"] == "kernel" and report["events"][0]["code"] == 0xD1


def test_large_dump_minidump_copied_instead(g, tmp_path):
    g.wait_for_dump, g.max_dump_bytes = True, 1 << 20
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    dump_answers(g, [{"path": "C:\\Windows\\MEMORY.DMP", "size": 800 << 20, "written": "x"},
                     {"path": "C:\\Windows\\Minidump\\011524-01.dmp", "size": 9000, "written": "x"}])
    g.ssh.files["/C:/Windows/Minidump/011524-01.dmp"] = dump_header64(dump_type=4)
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert info.value.dump_path.endswith("011524-01.dmp")
    assert "MEMORY.DMP (800 MiB) is larger than max_dump_bytes" in str(info.value)


def test_large_dump_without_minidump_header_only(g, tmp_path):
    g.wait_for_dump, g.max_dump_bytes = True, 1 << 20
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    dump_answers(g, [{"path": "C:\\Windows\\MEMORY.DMP", "size": 800 << 20, "written": "x"}])
    g.ssh.files[MEMORY_DMP] = dump_header64() + b"\0" * 100
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert info.value.dump_path == str(tmp_path / "case" / "MEMORY.DMP.header")
    assert ("read_head", MEMORY_DMP, 0x2000) in g.calls
    assert "header only" in str(info.value)


def test_witnesses_that_disagree_are_reported(g, tmp_path):
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    host_dumps(g, dump_header64(code=0xC4, params=(0x62, 1, 2, 3)))
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert info.value.code == 0xC4
    assert "Hyper-V crash registers say 0x000000D1" in str(info.value)


def test_guest_that_never_comes_back(g, tmp_path):
    g.wait_for_dump = True
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    g.ssh.reconnect_error = InfraError("ssh 127.0.0.1:40022 not ready after 900 s")
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    # No crash registers in this mode (no hv-crash): without the dump, no code.
    assert info.value.code is None and "did not come back within 900 s" in str(info.value)
    assert kinds(g.calls)[-2:] == ["revert", ("reconnect", 600.0)]


def test_wait_for_dump_uses_isa_pvpanic_and_no_hv_crash(g):
    assert g.panic_model == "hyperv"
    g.wait_for_dump = True
    assert g.panic_model == "isa"


def test_wait_for_dump_does_not_wait_when_pvpanic_says_panicked(g, tmp_path):
    """PANICKED (not CRASHLOADED): Windows writes no dump and the guest stays paused; waiting
    would cost dump_timeout for nothing."""
    g.wait_for_dump = True

    def crash(_command):
        g.instance.reason = "crashed: panicked"
        return BugcheckDetected("guest crashed: panicked while running 'a command'")
    g.ssh.script = [(r"clfsctl.exe' run", crash)]
    with pytest.raises(BugcheckDetected, match="PANICKED, not CRASHLOADED"):
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert ("reconnect", 900.0) not in g.calls and kinds(g.calls)[-2:] == ["revert", ("reconnect", 600.0)]


def test_crash_while_provisioning_is_not_reverted(g):
    g.instance.state.snapshot = None
    g.ssh.script = [(r"sc.exe' start", crash_during_run(g))]
    with pytest.raises(BugcheckDetected, match="0x000000D1"):
        g._sc("start", wincmd.sc_start_command())     # DriverEntry bugchecks: no snapshot yet
    assert "revert" not in kinds(g.calls)


# ---- hangs ------------------------------------------------------------------------------------

def hang(g):
    g.ssh.script = [(r"clfsctl.exe' run", timeout_error())]
    g.instance.nmi_crash = "crashed: crashloaded" if g.wait_for_dump else "crashed: panicked"

    def nmi_bugchecks():
        if not g.wait_for_dump:
            with open(g.log_path, "a") as fh:
                fh.write(PANIC_80)
    g.instance.on_nmi = nmi_bugchecks


def test_hang_nmi_dump_revert_in_that_order(g, tmp_path):
    g.wait_for_dump = True
    evidence = tmp_path / "case"
    hang(g)
    dump_answers(g, [{"path": "C:\\Windows\\MEMORY.DMP", "size": 9000, "written": "x"}],
                 events=((9, 1001, EVENT_1001.replace("0x000000d1 (0xffffd28f1a2b3c40, 0x0000000000000002",
                                                      "0x00000080 (0x00000000004f4454, 0x0000000000000000")
                          .replace("0xfffff8053c7a1234", "0x0000000000000000")),))
    g.ssh.files[MEMORY_DMP] = dump_header64(code=0x80, params=(0x4F4454, 0, 0, 0))
    with pytest.raises(GuestHang) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=evidence)
    exc = info.value
    assert isinstance(exc, GuestTimeout)
    assert exc.code == 0x80 and exc.dump_path == str(evidence / "MEMORY.DMP")
    assert "an NMI was sent" in str(exc) and "NMI_HARDWARE_FAILURE" in str(exc)
    assert kinds(g.calls)[1:] == ["clfsctl_run", ("screenshot", "hang-1.png"), "nmi", ("wait_crash", 60.0),
                                  ("screenshot", "nmi-2.png"), ("reconnect", 900.0), "list_dumps",
                                  "crash_events", ("get", MEMORY_DMP), "revert", ("reconnect", 600.0)]
    assert {p.name for p in evidence.iterdir()} == {"screenshot-hang.png", "screenshot-nmi.png", "MEMORY.DMP",
                                                  "crash.json"}


def test_hang_nmi_host_dump_revert(g, tmp_path):
    hang(g)
    host_dumps(g, dump_header64(code=0x80, params=(0x4F4454, 0, 0, 0)))
    with pytest.raises(GuestHang) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert info.value.code == 0x80 and info.value.dump_path == str(tmp_path / "case" / "guest-memory.dmp")
    assert kinds(g.calls)[1:] == ["clfsctl_run", ("screenshot", "hang-1.png"), "nmi", ("wait_crash", 60.0),
                                  ("screenshot", "nmi-2.png"), ("host_dump", "guest-memory.dmp"), "revert",
                                  ("reconnect", 600.0)]


def test_hang_without_dump_wait_takes_code_from_registers(g, tmp_path):
    hang(g)
    with pytest.raises(GuestHang) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert info.value.code == 0x80 and info.value.dump_path is None
    assert kinds(g.calls)[1:] == ["clfsctl_run", ("screenshot", "hang-1.png"), "nmi", ("wait_crash", 60.0),
                                  ("screenshot", "nmi-2.png"), "revert", ("reconnect", 600.0)]


def test_hang_where_the_nmi_does_nothing(g, tmp_path):
    hang(g)
    g.instance.nmi_crash, g.instance.on_nmi = None, None
    with pytest.raises(GuestHang) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert info.value.code is None
    assert "did not bugcheck within 60 s of the NMI (NMICrashDump is 1" in str(info.value)
    assert kinds(g.calls)[-3:] == [("wait_crash", 60.0), "revert", ("reconnect", 600.0)]


def test_hang_when_no_nmi_can_be_sent(g, tmp_path):
    hang(g)

    def refuse():
        raise InfraError("libvirt: inject NMI: operation not supported")
    g.instance.on_nmi = refuse
    with pytest.raises(GuestHang, match="no NMI sent: libvirt: inject NMI"):
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert "wait_crash" not in [c[0] for c in g.calls]


# ---- the domain --------------------------------------------------------------------------------

def test_domain_spec(tmp_path):
    disk = tmp_path / "img" / "disk.qcow2"
    disk.parent.mkdir()
    disk.write_bytes(b"qcow2")
    m = SimpleNamespace(name="win11", disk=disk, memory_mib=4096, vcpus=2, nic_model="e1000e",
                        disk_bus="sata", firmware="uefi", vmcoreinfo=True, ssh_port=22, ssh_user="clfs")
    guest = WindowsGuest(None, m, RunDir.create(tmp_path / "runs", check_reachable=False), worker="w1")
    spec = guest._spec("kvm")
    assert (spec.machine, spec.panic_model, spec.disk_bus, spec.nic_model, spec.firmware, spec.vmcoreinfo) == (
        "q35", "hyperv", "sata", "e1000e", "uefi", True)
    assert spec.kernel is None and spec.forwards[0].guest_port == 22 and spec.memory_mib == 4096
    assert guest.kvm_probe_timeout == guest.boot_timeout == 600.0
    # UEFI's variable store is the worker's, removed with its overlay; BIOS has none.
    assert spec.nvram == guest.dir / NVRAM_FILE
    bios = WindowsGuest(None, SimpleNamespace(**{**vars(m), "firmware": "bios"}), guest.run_dir, worker="w2")
    assert bios._spec("kvm").nvram is None


# ---- a runner that is not root ------------------------------------------------------------------

class RootOnlyLog(DomainLog):
    """libvirt's domain log as a non-root user meets it: root-only."""

    def read_new(self) -> str:
        raise PermissionError(13, "Permission denied", str(self.path))


def test_non_root_runner_takes_the_code_from_the_panic_event_and_goes_on(g, tmp_path, monkeypatch):
    """Not root: the domain log and the dump libvirtd wrote (root, 0600) cannot be read. The code
    comes from QEMU's GUEST_PANICKED event, each failed read is a note, the guest is reverted,
    and the next request runs."""
    from harness.guest import wincollect
    g.domain_log = RootOnlyLog(Path("/var/log/libvirt/qemu/clfs-test-w0.log"))
    event = {"action": "pause", "info": {"type": "hyper-v", "arg1": 0xD1, "arg2": 0xFFFFD28F1A2B3C40,
                                         "arg3": 2, "arg4": 0, "arg5": 0xFFFFF8053C7A1234}}
    pending = [event]
    g.instance.take_panic_details = lambda: [pending.pop()] if pending else []
    host_dumps(g, dump_header64())

    def root_only(path):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(wincollect, "read_dump_header", root_only)

    def crash(_command):
        g.instance.reason = "crashed: panicked"     # no domain log line reaches this user
        return BugcheckDetected("guest crashed: panicked while running 'a command'")
    g.ssh.script = [(r"clfsctl.exe' run", crash)]
    with pytest.raises(BugcheckDetected) as info:
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    exc = info.value
    assert exc.code == 0xD1 and exc.parameters == (0xFFFFD28F1A2B3C40, 2, 0, 0xFFFFF8053C7A1234)
    assert "[from the Hyper-V crash registers]" in str(exc)
    assert "guest-memory.dmp cannot be read (Permission denied)" in str(exc) and "0600" in str(exc)
    assert kinds(g.calls)[-3:] == [("host_dump", "guest-memory.dmp"), "revert", ("reconnect", 600.0)]
    report = json.loads((tmp_path / "case" / "crash.json").read_text())
    assert report["code"] == 0xD1
    # ...and it goes on.
    g.ssh.script = [(r"clfsctl.exe' run", (0, "", ""))]
    g.ssh.files["/C:/clfstest/response.bin"] = b"CLTR next"
    assert g.run_request(b"CLTQ next", timeout=30) == b"CLTR next"


def test_a_crash_handler_that_raises_still_reverts(g, tmp_path, monkeypatch):
    """Whatever the evidence gathering raises (an OSError from a read nobody guarded), the
    revert happens and the bugcheck is reported."""
    monkeypatch.setattr(WindowsGuest, "_gather", lambda self, report: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied", "/var/log/libvirt/qemu/x.log")))
    g.ssh.script = [(r"clfsctl.exe' run", crash_during_run(g))]
    with pytest.raises(BugcheckDetected, match="evidence gathering stopped early: PermissionError"):
        g.run_request(b"CLTQ", timeout=30, evidence_dir=tmp_path / "case")
    assert kinds(g.calls)[-2:] == ["revert", ("reconnect", 600.0)]
