"""restart: {how: bugcheck}: the internal op on every layer, the opt-in that keeps it from
crashing anything by accident, the smoke executor's crash path (tried on the host with a file
for a trigger), and the Windows guest's evidence of the crash (fakes answering with the
documented dump header layout; no Windows result is produced here)."""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.errors import BugcheckDetected, ProtocolError
from harness.protocol import decode_response, encode_request, wire
from harness.protocol.decode import RequestRejected
from harness.protocol.encode import payload_seed
from harness.scenario.load import load_file
from harness.targets import bugcheck
from harness.targets.base import CaseArtefacts
from harness.vm.base import Phase
from tests.unit.protocol_cases import step_record

ROOT = Path(__file__).resolve().parents[2]
REFS = Path(__file__).parent / "refs"

CASE = """\
name: bug
description: d
steps:
  - create_log: {name: log, path: "${scratch}/b"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [64]}
    save: {first: lsn}
  - flush_to_lsn: {area: ma, lsn: "${first}"}
  - restart: {how: bugcheck}
  - create_log: {name: log, path: "${scratch}/b"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - flush_to_lsn: {area: ma, lsn: "${first}"}
    expect: any
  - close_log: {log: log}
"""


def case_of(tmp_path, text=CASE):
    path = tmp_path / "b.scenario.yaml"
    path.write_text(text)
    (case,), problems = load_file(path, display="b.scenario.yaml")
    assert problems == []
    return case


def step_of(request: bytes) -> dict:
    """The first ct_step of a request: the fields the bugcheck op uses (by name, whatever the layout)."""
    rec = step_record(request, 0)
    return {"op": rec["op"], "slot": rec["slot"], "arg0": rec["arg"][0], "arg1": rec["arg"][1],
            "arg2": rec["arg"][2], "value": rec["value"]}


def planned(tmp_path, nonce=0x0123456789ABCDEF):
    case = case_of(tmp_path)
    return case, bugcheck.plan(case, 2, nonce=nonce)


# ---- the request ---------------------------------------------------------------------------------

def test_the_bugcheck_request_is_one_step_with_the_flag_and_our_parameters(tmp_path):
    case, plan = planned(tmp_path)
    data = bugcheck.request(case, plan, scratch="")
    flags, step_count = struct.unpack_from("<II", data, 12)
    step = step_of(data)
    assert flags == wire.REQ_DELIBERATE_BUGCHECK and step_count == 1 and step["slot"] == wire.NO_SLOT
    assert step["op"] == wire.OP_CODES["bugcheck"] == 47
    assert (step["arg0"], step["arg1"], step["value"]) == (payload_seed(case), 2, 0x0123456789ABCDEF)
    assert plan.parameters == (0x54464C43, payload_seed(case), 2, 0x0123456789ABCDEF)
    # Golden: the bytes clfstest.sys receives (CLFS_HARNESS_UPDATE_GOLDEN=1 rewrites the file).
    ref = REFS / "bugcheck.request.hex"
    if __import__("os").environ.get("CLFS_HARNESS_UPDATE_GOLDEN") == "1":
        ref.write_text(data.hex() + "\n")
    assert data.hex() == ref.read_text().strip()


def test_a_scenario_cannot_name_the_op(tmp_path):
    from tests.unit.test_saved_conditions import problems_of

    text = CASE.replace("  - restart: {how: bugcheck}\n", "  - bugcheck: {phase: 2, nonce: 1}\n")
    problems = problems_of(tmp_path, text)
    assert any("unknown step 'bugcheck'" in p for p in problems), problems


def test_the_encoder_sends_the_op_only_last_and_only_when_asked(tmp_path):
    case, plan = planned(tmp_path)
    one = bugcheck.request(case, plan, scratch="")   # builds fine with the flag
    assert one
    from harness.scenario.phases import split_phases
    import dataclasses
    phase1 = split_phases(case)[0].case
    step = dataclasses.replace(phase1.steps[0], op="bugcheck", args={"phase": 2, "nonce": 1}, index=6)
    with_op = dataclasses.replace(phase1, steps=phase1.steps + (step,))
    with pytest.raises(ProtocolError, match="an internal op of the harness"):
        encode_request(with_op, scratch="C:\\s")
    first = dataclasses.replace(phase1, steps=(dataclasses.replace(step, index=1),) + tuple(
        dataclasses.replace(s, index=s.index + 1) for s in phase1.steps))
    with pytest.raises(ProtocolError, match="must be the request's last step"):
        encode_request(first, scratch="C:\\s", deliberate_bugcheck=True)


# ---- the model and the executor ---------------------------------------------------------------------

from tests.unit.test_protocol import model  # noqa: E402,F401  the host model, one per module


def test_the_model_simulates_it_and_the_driver_side_refuses_it_without_the_flag(tmp_path, model):
    case, plan = planned(tmp_path)
    data = bugcheck.request(case, plan, scratch="")
    one = SimpleNamespace(steps=(SimpleNamespace(index=1, op="bugcheck", context="passive"),), objects={})
    result = decode_response(model.run_bytes(data), one, target="model")
    assert result.bugcheck == wire.HARNESS_BUGCHECK and result.bugcheck_step == 1
    # The same bytes without CT_REQ_DELIBERATE_BUGCHECK: refused before anything runs.
    stripped = bytearray(data)
    struct.pack_into("<I", stripped, 12, 0)
    with pytest.raises(RequestRejected, match="bugcheck op without the deliberate-bugcheck flag"):
        decode_response(model.run_bytes(bytes(stripped)), one, target="model")
    # expect_bugcheck (a scenario's) is no opt-in either.
    struct.pack_into("<I", stripped, 12, wire.REQ_EXPECT_BUGCHECK)
    with pytest.raises(RequestRejected, match="bugcheck op without"):
        decode_response(model.run_bytes(bytes(stripped)), one, target="model")


def _executor() -> Path:
    from harness.targets.vm_linux import build_static_model
    return build_static_model()


def test_the_executor_writes_the_crash_to_its_trigger_only_when_given_one(tmp_path):
    case, plan = planned(tmp_path)
    req = tmp_path / "req.bin"
    req.write_bytes(bugcheck.request(case, plan, scratch=""))
    exe = _executor()
    trigger = tmp_path / "sysrq-trigger"
    # The host's model target never passes --crash-trigger: the request is answered, nothing written.
    plain = subprocess.run([str(exe), str(req), str(tmp_path / "resp.bin")], capture_output=True, text=True)
    assert plain.returncode == 0 and not trigger.exists() and (tmp_path / "resp.bin").exists()
    crash = subprocess.run([str(exe), "--crash-trigger", str(trigger), str(req), str(tmp_path / "resp2.bin")],
                           capture_output=True, text=True)
    # On the smoke guest the kernel panics inside the write; here it returns and says so (exit 4).
    assert crash.returncode == 4, crash.stderr
    assert trigger.read_text() == "c"
    assert plan.console_line() in crash.stderr
    assert bugcheck.from_console(crash.stderr) == (plan.code, plan.parameters)
    assert not (tmp_path / "resp2.bin").exists()


def test_an_ordinary_request_never_touches_the_trigger(tmp_path):
    case = case_of(tmp_path)
    from harness.scenario.phases import split_phases
    req = tmp_path / "req.bin"
    req.write_bytes(encode_request(split_phases(case)[0].case, scratch="/tmp/x"))
    trigger = tmp_path / "sysrq-trigger"
    run = subprocess.run([str(_executor()), "--crash-trigger", str(trigger), str(req), str(tmp_path / "r.bin")],
                         capture_output=True, text=True)
    assert run.returncode == 0 and not trigger.exists()


# ---- telling our crash from another ------------------------------------------------------------------

def test_mismatch_names_what_differs(tmp_path):
    _, plan = planned(tmp_path)
    assert bugcheck.mismatch(plan, plan.code, plan.parameters) is None
    assert bugcheck.mismatch(plan, None, None) == "no bugcheck code could be read"
    assert "0x000000D1, not the harness's 0x2C1F5000" in bugcheck.mismatch(plan, 0xD1, plan.parameters)
    stale = bugcheck.mismatch(plan, plan.code, plan.parameters[:3] + (7,))
    assert "not 0x2C1F5000 (0x54464C43" in stale and "0x7)" in stale


CONSOLE = """[   12.3] random: crng init done
[   15.001] clfstest: deliberate bugcheck 0x2C1F5000 (0x54464C43, 0xAB, 0x2, 0x5)
[   15.002] sysrq: Trigger a crash
[   15.002] Kernel panic - not syncing: sysrq triggered crash
"""


def test_the_console_line_is_read_back(tmp_path):
    assert bugcheck.from_console(CONSOLE) == (0x2C1F5000, (0x54464C43, 0xAB, 0x2, 0x5))
    assert bugcheck.from_console("Kernel panic - not syncing: sysrq triggered crash") is None


def test_smoke_takes_the_line_only_when_a_panic_follows_it():
    from harness.targets.vm_linux import SmokeTarget
    target = SmokeTarget()
    code, params, witness = target._bugcheck_witness(CONSOLE)
    assert (code, params) == (0x2C1F5000, (0x54464C43, 0xAB, 0x2, 0x5)) and "serial console" in witness
    assert target._bugcheck_witness(CONSOLE.split("[   15.002] sysrq")[0]) is None


# ---- the Windows target and guest ------------------------------------------------------------------

class CrashingGuest:
    """A Windows guest fake at the target's edge: phase requests answered by the host model (model
    flag cleared, as clfstest.sys answers); a bugcheck restart leaves a CrashReport whose dump
    header is built to the documented DUMP_HEADER64 layout with the code and parameters given."""

    class Instance:
        def crashed(self):
            return None

    def __init__(self, tmp_path, model, code=None, params=None):
        self.console_log = tmp_path / "console.log"
        self.console_log.write_bytes(b"")
        self.model, self.events, self.instance = model, [], self.Instance()
        self.code, self.params, self.last_crash, self.crashes = code, params, None, []

    def serve_request(self, request, timeout, *, max_frame, evidence_dir=None):
        self.events.append("request")
        response = bytearray(self.model.run_bytes(request))
        response[36] &= ~1
        return bytes(response)

    def restart(self, how, crash=None):
        from harness.guest.windump import parse_dump_header
        from harness.guest.wincrash import CrashReport
        from windows_samples import dump_header64

        self.events.append(f"restart {how}")
        self.crashes.append(crash)
        report = CrashReport("bugcheck", "deliberate", "crashed: crashloaded")
        step = step_of(crash.request)
        ours = (wire.BUGCHECK_TAG, step["arg0"], step["arg1"], step["value"])
        report.header = parse_dump_header(dump_header64(code=self.code or wire.HARNESS_BUGCHECK,
                                                        params=self.params or ours))
        self.last_crash = report
        return 0.5

    def recover(self):
        self.events.append("back to ready")
        return 0.1


def _windows(tmp_path, model, **kw):
    from harness.targets.vm_windows import WindowsTarget
    target = WindowsTarget(options={"image": "unused"})
    target._guest = CrashingGuest(tmp_path, model, **kw)
    return target


def test_windows_sends_the_request_through_clfsctl_and_checks_the_dump(tmp_path, model):
    from harness.guest import wincmd
    from harness.verdict.judge import PASS, judge

    target = _windows(tmp_path, model)
    artefacts = CaseArtefacts(tmp_path / "case")
    case = case_of(tmp_path)
    result = target.execute(case, artefacts)
    assert target._guest.events == ["request", "restart bugcheck", "request", "back to ready"]
    assert judge(case, result).outcome == PASS, judge(case, result).diff()
    crash = target._guest.crashes[0]
    assert crash.command == wincmd.clfsctl_run_command()
    assert crash.remote_request == wincmd.sftp_path(wincmd.GUEST_REQUEST)
    assert crash.evidence_dir == artefacts.dir / "phase2-bugcheck"
    assert crash.request == (artefacts.dir / "phase2-bugcheck-request.bin").read_bytes()
    record = json.loads((artefacts.dir / "phase2-bugcheck.json").read_text())
    assert record["verified"] and record["witness"] == "dump header"
    assert record["observed"]["code"] == "0x2C1F5000" and record["observed"]["parameters"][2] == "0x2"
    assert "verified by the dump header" in (artefacts.dir / "restarts.txt").read_text()
    assert judge(case, result).outcome == PASS


@pytest.mark.parametrize("code, params, words", [
    (0xD1, None, "stopped with 0x000000D1, not the harness's 0x2C1F5000"),
    (None, (0x54464C43, 1, 2, 3), "the parameters are (0x54464C43, 0x1, 0x2, 0x3)"),
])
def test_windows_a_crash_that_is_not_ours_ends_the_case_as_a_bugcheck(tmp_path, model, code, params, words):
    target = _windows(tmp_path, model, code=code, params=params)
    artefacts = CaseArtefacts(tmp_path / "case")
    with pytest.raises(BugcheckDetected, match=re.escape(words)) as info:
        target.execute(case_of(tmp_path), artefacts)
    assert info.value.code == (code or wire.HARNESS_BUGCHECK)
    assert target._guest.events == ["request", "restart bugcheck", "back to ready"]
    assert json.loads((artefacts.dir / "phase2-bugcheck.json").read_text())["verified"] is False


# The guest itself: WindowsGuest._after_crash gathers evidence without reverting.

def _guest(tmp_path):
    from harness.guest.hvpanic import DomainLog
    from harness.guest.winparse import parse_facts
    from harness.guest.windows import WindowsGuest
    from harness.vm.rundir import RunDir
    from guest_fakes import FakeInstance, FakeSsh
    from windows_samples import FACTS

    calls: list = []
    run = RunDir.create(tmp_path / "runs", check_reachable=False)
    guest = WindowsGuest(None, SimpleNamespace(ssh_user="clfs", name="win11"), run, worker="w0")
    guest.instance, guest.ssh = FakeInstance(calls), FakeSsh(calls)
    guest.panic_log_wait, guest.calls = 0, calls
    log = tmp_path / "domain.log"
    log.write_text("2024-09-30 16:29:01.120+0000: starting up libvirt version: 9.0.0\n")
    guest.domain_log = DomainLog(log)
    guest.domain_log.mark()
    guest.facts = parse_facts(json.dumps(FACTS))

    def restart_same_disk(trigger, timeout, after_stop=None):   # Instance's sequence (test_vm_restart.py)
        trigger()
        reason = guest.instance.wait_crash(timeout)
        if after_stop is None or not after_stop(reason):
            calls.append(("same disk",))
        guest.instance.reason = None
        return reason
    guest.instance.restart_same_disk = restart_same_disk
    guest._started = lambda: None
    return guest, calls


def test_windows_guest_waits_for_its_own_dump_keeps_it_and_never_reverts(tmp_path):
    from harness.guest import wincmd
    from harness.guest.vmguest import DeliberateCrash
    from windows_samples import EVENT_1001, dump_header64, events_json

    guest, calls = _guest(tmp_path)
    guest.wait_for_dump = True
    params = (wire.BUGCHECK_TAG, 0xAB, 2, 5)

    def crash(_command):
        guest.instance.reason = "crashed: crashloaded"
        from harness.errors import InfraError
        return InfraError("ssh: connection lost")
    guest.ssh.script = [(r"clfsctl.exe' run", crash),
                        (r"Sort-Object LastWriteTimeUtc", (0, json.dumps(
                            [{"path": "C:\\Windows\\MEMORY.DMP", "size": 9000, "written": "x"}]), "")),
                        (r"Get-WinEvent -ErrorAction SilentlyContinue", (0, events_json((9, 1001, EVENT_1001)), ""))]
    guest.ssh.files["/C:/Windows/MEMORY.DMP"] = dump_header64(code=wire.HARNESS_BUGCHECK, params=params)
    evidence = tmp_path / "case" / "phase2-bugcheck"
    took = guest.restart("bugcheck", crash=DeliberateCrash(b"CLTQ-bugcheck", wincmd.sftp_path(wincmd.GUEST_REQUEST),
                                                           wincmd.clfsctl_run_command(), evidence_dir=evidence))
    assert took >= 0
    names = [c[0] if len(c) == 1 or c[0] != "exec" else "exec" for c in calls]
    assert "revert" not in names and ("same disk",) not in calls   # it rebooted by itself; the disk stays
    assert ("put", wincmd.sftp_path(wincmd.GUEST_REQUEST)) in calls
    assert guest.ssh.put_files[wincmd.sftp_path(wincmd.GUEST_REQUEST)] == b"CLTQ-bugcheck"
    assert guest.last_crash.bugcheck() == (wire.HARNESS_BUGCHECK, params, "dump header")
    assert (evidence / "MEMORY.DMP").exists() and (evidence / "crash.json").exists()
    assert json.loads((evidence / "crash.json").read_text())["code"] == wire.HARNESS_BUGCHECK


def test_windows_guest_paused_at_the_panic_is_dumped_from_the_host_then_powered_on_again(tmp_path):
    from harness.guest import wincmd
    from harness.guest.vmguest import DeliberateCrash
    from windows_samples import dump_header64

    guest, calls = _guest(tmp_path)
    params = (wire.BUGCHECK_TAG, 0xAB, 2, 5)

    def crash(_command):
        guest.instance.reason = "crashed: panicked"
        with open(tmp_path / "domain.log", "a") as fh:
            fh.write("2024-09-30 16:30:49.506+0000: panic hyper-v: arg1='0x2c1f5000', arg2='0x54464c43', "
                     "arg3='0xab', arg4='0x2', arg5='0x5'\n")
        from harness.errors import InfraError
        return InfraError("ssh: connection lost")
    guest.ssh.script = [(r"clfsctl.exe' run", crash)]

    def dump_windows_memory(path):
        calls.append(("host_dump", Path(path).name))
        Path(path).write_bytes(dump_header64(code=wire.HARNESS_BUGCHECK, params=params))
    guest.instance.dump_windows_memory = dump_windows_memory
    evidence = tmp_path / "case" / "phase2-bugcheck"
    guest.restart("bugcheck", crash=DeliberateCrash(b"x", wincmd.sftp_path(wincmd.GUEST_REQUEST),
                                                    wincmd.clfsctl_run_command(), evidence_dir=evidence))
    order = [c for c in calls if c[0] in ("screenshot", "host_dump", "same disk", "revert")]
    assert order == [("screenshot", "crash-1.png"), ("host_dump", "guest-memory.dmp"), ("same disk",)]
    assert guest.last_crash.bugcheck() == (wire.HARNESS_BUGCHECK, params, "dump header")
    assert guest.last_crash.panic.code == wire.HARNESS_BUGCHECK   # the registers agree


def test_instance_does_not_power_on_a_guest_that_came_back_by_itself():
    from tests.unit.test_vm_restart import ready
    import threading

    inst = ready()
    trigger = lambda: threading.Timer(0.05, inst._record_event, ("event", "crashed: crashloaded")).start()  # noqa: E731
    seen = []
    assert inst.restart_same_disk(trigger, 5, after_stop=lambda r: seen.append(r) or True) == "crashed: crashloaded"
    assert seen == ["crashed: crashloaded"] and inst.calls == []
    assert inst.state.phase is Phase.RUNNING and inst.crashed() is None


def test_a_crash_request_that_returns_is_a_lab_error_at_once(tmp_path):
    """clfsctl ran and returned (here: the driver is not loaded): the guest did not stop, and the
    harness says so with clfsctl's words instead of waiting out the boot timeout."""
    from harness.errors import InfraError
    from harness.guest import wincmd
    from harness.guest.vmguest import DeliberateCrash

    guest, calls = _guest(tmp_path)
    guest.ssh.script = [(r"clfsctl.exe' run", (3, "", "clfsctl: \\\\.\\ClfsTest: the driver is not loaded"))]
    with pytest.raises(InfraError, match=r"returned \(exit 3\) and the guest did not stop: .*not loaded"):
        guest.restart("bugcheck", crash=DeliberateCrash(b"x", wincmd.sftp_path(wincmd.GUEST_REQUEST),
                                                        wincmd.clfsctl_run_command()))
    assert ("same disk",) not in calls


def test_the_model_targets_half_a_simulated_bugcheck_of_our_code(tmp_path, model):
    case = case_of(tmp_path)
    assert bugcheck.simulate(case, 2, model.run_bytes, nonce=9) == bugcheck.plan(case, 2, nonce=9)

    def no_bugcheck(data):   # a model that ran the op but simulated nothing
        response = bytearray(model.run_bytes(data))
        struct.pack_into("<II", response, 40, 0, 0)   # ct_resp_header.bugcheck, bugcheck_step
        return bytes(response)
    with pytest.raises(ProtocolError, match="bugcheck none, not the harness's 0x2C1F5000"):
        bugcheck.simulate(case, 2, no_bugcheck)
