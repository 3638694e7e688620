"""A power cut while the request runs (restart: {how: power_cut, during: append_burst}): the checker's
rules, the model's deterministic simulation, the VM path's edges on fakes (the answer beats the cut,
or it does not, or a part of it came), the phases joined, and the durable verdict on read_burst."""

from __future__ import annotations

import dataclasses
import struct
import sys
import time

import pytest

from harness.errors import UsageError
from harness.guest.serve import FrameServer
from harness.protocol import encode_request, wire
from harness.protocol.encode import phase_header
from harness.protocol.results import LOST_IN_CUT, RAN, CaseResult, CleanupSummary, StepResult
from harness.scenario.phases import split_phases
from harness.targets import midcut
from harness.targets.model import MODEL_SCRATCH
from harness.targets.phases import run_phases
from harness.verdict.judge import FAIL, PASS, judge
from tests.unit.channel_fakes import ProcessSsh
from tests.unit.test_protocol import model  # noqa: F401  the host model, one per module
from tests.unit.test_saved_conditions import load, problems_of

MIDCUT = """\
name: mid
description: d
steps:
  - create_log: {name: log, path: "${scratch}/mid"}
  - add_container_set: {log: log, count: 2, size: 1MiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [100]}
    save: {first: lsn}
  - flush_to_lsn: {area: ma, lsn: "${first}"}
  - restart: {how: reopen}
  - create_log: {name: log, path: "${scratch}/mid", disposition: open_existing}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - append_burst: {area: ma, record_size: 64, max_records: 200, max_ms: 3000, flush_every: 4}
  - restart: {how: power_cut, during: append_burst}
    expect: durable
  - create_log: {name: log, path: "${scratch}/mid", disposition: open_existing}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - read_log_record: {name: rd, area: ma, lsn: "${first}"}
    expect: {status: success, size: 100}
  - read_burst: {read: rd, record_size: 64, max_records: 200}
"""
BURST_STEP, READ_BURST_STEP = 9, 14


def _case(tmp_path, text=MIDCUT):
    (case,), problems = load(tmp_path, text)
    assert problems == []
    return case


# ---- the checker ------------------------------------------------------------------------------

def test_a_cut_during_the_burst_checks_and_splits_into_three_requests(tmp_path):
    case = _case(tmp_path)
    assert [(r.how, r.during) for r in case.restarts] == [("reopen", None), ("power_cut", "append_burst")]
    roles = [p.case.role for p in split_phases(case)]
    assert [(r.ends_with, r.cut_during) for r in roles] == [("reopen", False), ("power_cut", True), (None, False)]
    flags = [phase_header(p.case)[0] for p in split_phases(case)]
    assert flags[0] & wire.REQ_KEEP_LOGS and not flags[0] & wire.REQ_POWER_CUT
    assert flags[1] & wire.REQ_POWER_CUT and flags[1] & wire.REQ_CUT_IN_STEP
    assert not flags[2] & wire.REQ_CUT_IN_STEP


@pytest.mark.parametrize("old, new, message", [
    ("{how: power_cut, during: append_burst}", "{how: clean, during: append_burst}",
     "x.scenario.yaml:14:35: scenario 'mid', step 10 (restart): during: only a power cut comes while a step "
     "runs (how: power_cut), not how: 'clean'"),
    ("{how: power_cut, during: append_burst}", "{how: power_cut, during: fill_log}",
     "x.scenario.yaml:14:39: scenario 'mid', step 10 (restart): during: expected one of append_burst, got "
     "'fill_log'"),
    ("  - append_burst: {area: ma, record_size: 64, max_records: 200, max_ms: 3000, flush_every: 4}\n",
     "  - append_burst: {area: ma, record_size: 64, max_records: 200, max_ms: 3000, flush_every: 4}\n"
     "  - flush_buffers: {area: ma}\n",
     "x.scenario.yaml:15:39: scenario 'mid', step 11 (restart): during: append_burst: the step before the "
     "restart (step 10) must be the append_burst the power fails in; it is flush_buffers"),
    ("  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}\n  - append_burst",
     "  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}\n    save: {x: lsn}\n  - append_burst",
     "x.scenario.yaml:13:11: scenario 'mid', step 10 (restart): save: step 8 is in a phase whose power fails "
     "while it runs (restart: {how: power_cut, during: append_burst} at step 10): its answer is lost with "
     "the power; save in an earlier phase, ended by restart: {how: reopen}"),
])
def test_a_bad_cut_during_a_step_is_reported_at_its_place(tmp_path, old, new, message):
    assert old in MIDCUT
    problems = problems_of(tmp_path, MIDCUT.replace(old, new, 1))
    assert message in problems, problems


# ---- the model: the cut simulated inside the burst -------------------------------------------

def test_the_model_cuts_inside_the_burst_deterministically_and_the_verdict_passes(model, tmp_path):
    case = _case(tmp_path)
    first, again = model.execute(case), model.execute(case)
    burst = [r for r in first.steps if r.index == BURST_STEP][0]
    read = [r for r in first.steps if r.index == READ_BURST_STEP][0]
    assert burst.outputs == [r for r in again.steps if r.index == BURST_STEP][0].outputs
    # Stopped at a seed-chosen record, not the count: the power failed inside the step.
    assert 0 < burst.outputs["records"] < 200
    cut = first.phases[1]["cut"]
    assert cut == {"during": "append_burst", "simulated": True, "cut_ms": None, "request_ended": False,
                   "appended_before_cut": burst.outputs["records"]}
    # Forced every 4th: those up to the last forced one are stable; of the rest a prefix of blocks.
    forced = burst.outputs["records"] // 4 * 4
    assert forced <= read.outputs["records"] <= burst.outputs["records"] and read.outputs["bad"] == 0
    verdict = judge(case, first)
    assert verdict.outcome == PASS, verdict.diff()
    assert verdict.durable.phases[0].burst == {"appended": burst.outputs["records"],
                                               "came_back": read.outputs["records"], "promised": forced, "bad": 0}
    assert any(n.startswith("cut: phase 2: cut during append_burst (model, simulated)") for n in verdict.notes)


def test_a_cut_inside_a_step_without_a_power_cut_is_refused(model, tmp_path):
    case = _case(tmp_path)
    phase = split_phases(case)[0]
    request = bytearray(encode_request(phase.case, scratch=MODEL_SCRATCH))
    flags_at = wire.REQ_HEADER.offsets()["flags"]
    (flags,) = struct.unpack_from("<I", request, flags_at)
    assert flags & wire.REQ_KEEP_LOGS   # the field found
    struct.pack_into("<I", request, flags_at, flags | wire.REQ_CUT_IN_STEP)
    response = model.run_bytes(bytes(request))
    (reject,) = struct.unpack_from("<I", response, wire.RESP_HEADER.offsets()["reject"])
    assert reject != 0   # CT_REJ_FLAGS: a cut inside the last step is a power cut


# ---- the verdict on what read_burst saw ------------------------------------------------------

def _patched(result, index, **outputs):
    return dataclasses.replace(result, steps=tuple(
        dataclasses.replace(r, outputs={**r.outputs, **outputs}) if r.index == index else r for r in result.steps))


def _lost(result, *, counted: bool = False):
    """As a VM reports it when the cut beat the answer: phase 2 has no results, and its real cut
    counted nothing. ``counted``: as wine reports it instead: the answer lost too, but the
    stand-in's simulated cut says after how many burst records the power failed."""
    phases = tuple({**p, "cut": {**p["cut"], "simulated": False, "appended_before_cut": None, "cut_ms": 1500.0}}
                   if p.get("cut") and not counted else p for p in result.phases)
    return dataclasses.replace(result, phases=phases, steps=tuple(
        dataclasses.replace(r, disposition=LOST_IN_CUT, status=0, outputs={}) if r.phase == 2 else r
        for r in result.steps))


def test_a_torn_burst_record_fails_naming_lsn_phase_and_bytes(model, tmp_path):
    case = _case(tmp_path)
    result = _lost(model.execute(case))
    assert judge(case, result).outcome == PASS   # lost answers are no failures
    torn = _patched(result, READ_BURST_STEP, bad=2, bad_index=7, bad_lsn=0x1A00, bad_offset=5, expected=0x11,
                    observed=0x00)
    verdict = judge(case, torn)
    assert verdict.outcome == FAIL
    (finding,) = verdict.durable.findings
    assert (finding.phase, finding.step, finding.lsn) == (3, READ_BURST_STEP, 0x1A00)
    assert finding.text.startswith("phase 3 step 14: torn or corrupt burst record #7 at 0x0000000000001A00 "
                                   "(container 0, block 0x1A00, record 0): byte 5 is 0x00, expected 0x11")


def test_a_forced_burst_record_gone_fails_when_the_answer_is_known(model, tmp_path):
    case = _case(tmp_path)
    result = model.execute(case)
    appended = [r for r in result.steps if r.index == BURST_STEP][0].outputs["records"]
    short = _patched(result, READ_BURST_STEP, records=0)
    verdict = judge(case, short)
    assert appended >= 4   # the case's seed cuts after at least one forced record
    assert verdict.outcome == FAIL
    assert any("forced burst record #0 is gone" in f.text for f in verdict.durable.findings)
    # With the answer lost nothing of the burst was promised: none coming back is allowed.
    assert judge(case, _lost(short)).outcome == PASS


def test_a_forced_burst_record_gone_fails_when_a_simulated_cut_counted_the_burst(model, tmp_path):
    """wine: the killed session's answer is lost, but the stand-in's model says after how many burst
    records it failed the power (appended_before_cut), so the forced ones among them are promised.
    Fails if the verdict ignores that count (it did: wine promised nothing of a burst)."""
    case = _case(tmp_path)
    result = model.execute(case)
    cut = next(p["cut"] for p in result.phases if p.get("cut"))
    appended = [r for r in result.steps if r.index == BURST_STEP][0].outputs["records"]
    every = int(next(s for s in case.steps if s.index == BURST_STEP).args["flush_every"])
    promised = appended // every * every
    assert cut["simulated"] and cut["appended_before_cut"] == appended and promised >= every
    wine_like = _lost(result, counted=True)
    verdict = judge(case, wine_like)
    assert verdict.outcome == PASS
    assert verdict.durable.phases[-1].burst == {"appended": appended, "came_back": promised,
                                                "promised": promised, "bad": 0}
    short = judge(case, _patched(wine_like, READ_BURST_STEP, records=2))
    assert short.outcome == FAIL
    assert any(f.text.startswith(f"phase 3: forced burst record #2 is gone: the burst appended {appended} with "
                                 f"CLFS_FLAG_FORCE_FLUSH every {every}") for f in short.durable.findings)


def test_more_burst_records_than_appended_is_garbage(model, tmp_path):
    case = _case(tmp_path)
    result = model.execute(case)
    appended = [r for r in result.steps if r.index == BURST_STEP][0].outputs["records"]
    verdict = judge(case, _patched(result, READ_BURST_STEP, records=appended + 1))
    assert verdict.outcome == FAIL
    assert any("garbage after its last record" in f.text for f in verdict.durable.findings)


# ---- the VM path's edges, on fakes ------------------------------------------------------------

def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


SILENT = python("import sys,time\nsys.stdin.buffer.read(4); time.sleep(60)\n")
ECHO = python("import sys,struct\nn=struct.unpack('<I',sys.stdin.buffer.read(4))[0]; d=sys.stdin.buffer.read(n)\n"
              "sys.stdout.buffer.write(struct.pack('<I',len(d))+d); sys.stdout.flush(); sys.stdin.buffer.read()\n")
HALF = python("import sys,struct,time\nn=struct.unpack('<I',sys.stdin.buffer.read(4))[0]; sys.stdin.buffer.read(n)\n"
              "sys.stdout.buffer.write(struct.pack('<I',100)+b'x'*10); sys.stdout.flush(); time.sleep(60)\n")


@pytest.fixture
def ssh():
    s = ProcessSsh({"silent": SILENT, "echo": ECHO, "half": HALF})
    yield s
    s.close_all()


def test_no_answer_by_the_cut_is_a_request_in_flight(ssh):
    server = FrameServer(ssh, "silent", max_frame=1 << 20)
    asked = []
    start = time.monotonic()
    assert server.answer_or_cut(b"abc", start + 0.3, abort=lambda: asked.append(1)) == (None, 0)
    assert 0.3 <= time.monotonic() - start < 1.0 and asked   # the crash check ran while waiting


def test_an_answer_before_the_cut_is_returned_and_a_part_of_one_counts(ssh):
    assert FrameServer(ssh, "echo", max_frame=1 << 20).answer_or_cut(b"abc", time.monotonic() + 5) == (b"abc", 7)
    assert FrameServer(ssh, "half", max_frame=1 << 20).answer_or_cut(b"abc", time.monotonic() + 0.5) == (None, 14)


class _CutGuest:
    """VmGuest.cut_during's contract: what the answer did by the cut, the guest back after it."""

    def __init__(self, answer, got):
        self.answer, self.got, self.calls = answer, got, []

    def cut_during(self, command, frame, delay_s, *, max_frame):
        self.calls.append((command, delay_s))
        return {"answer": self.answer, "answer_bytes": self.got, "cut_ms": delay_s * 1000 + 3, "restart_s": 12.0}


def _phase2(tmp_path):
    return split_phases(_case(tmp_path))[1].case


def test_the_cut_time_comes_from_the_seed_within_the_window(tmp_path):
    case = _case(tmp_path)
    other = _case(tmp_path, MIDCUT.replace("name: mid", "name: mid2"))
    one = midcut.cut_delay_s(split_phases(case)[1].case, 2)
    assert one == midcut.cut_delay_s(split_phases(case)[1].case, 2)
    assert one != midcut.cut_delay_s(split_phases(other)[1].case, 2)
    assert 3.0 * midcut.CUT_WINDOW[0] <= one <= 3.0 * midcut.CUT_WINDOW[1]   # max_ms 3000


def test_a_lost_answer_gives_no_result_and_an_answer_that_beat_the_cut_says_so(tmp_path):
    phase = _phase2(tmp_path)
    guest = _CutGuest(None, 0)
    result, info = midcut.cut_in_flight(guest, phase, 2, command="serve", request=b"r", max_frame=10,
                                        decode=lambda *_: pytest.fail("nothing to decode"))
    assert result is None and info["request_ended"] is False and guest.calls[0][0] == "serve"
    assert info["cut_ms"] == round(info["planned_ms"] + 3, 1)
    decoded = CaseResult(target="windows", steps=(StepResult(3, "append_burst", RAN, 0, 0, "passive",
                                                             {"records": 77}, 5),), cleanup=CleanupSummary())
    result, info = midcut.cut_in_flight(_CutGuest(b"answer", 10), phase, 2, command="serve", request=b"r",
                                        max_frame=10, decode=lambda response, elapsed: decoded)
    assert result is decoded and info["request_ended"] is True and info["appended_before_cut"] == 77
    from harness.protocol.results import describe_cut
    assert "NOT mid-request" in describe_cut(info)
    _, info = midcut.cut_in_flight(_CutGuest(None, 4), phase, 2, command="serve", request=b"r", max_frame=10,
                                   decode=None)
    assert info["request_ended"] is True   # a part of the answer had left the guest


def test_run_phases_takes_the_cut_instead_of_the_restart_and_marks_the_lost_steps(tmp_path, model):
    case = _case(tmp_path)
    restarts, cuts = [], []

    def cut(phase_case, number):
        cuts.append(number)
        return None, {"during": "append_burst", "simulated": False, "cut_ms": 812.0, "planned_ms": 810.0,
                      "request_ended": False, "restart_s": 14.5, "appended_before_cut": None}

    # The model target keeps the disk between its requests: run phases 1 and 3 on it, cut phase 2.
    result = run_phases(case, lambda c, n: model.execute(c), lambda how: restarts.append(how), "smoke", cut=cut)
    assert cuts == [2] and restarts == ["reopen"]   # no second power cut after the one in flight
    assert {r.disposition for r in result.steps if r.phase == 2} == {LOST_IN_CUT}
    assert result.phases[2]["restart_s"] == 14.5 and result.phases[1]["cut"]["cut_ms"] == 812.0


def test_windows_without_serve_cannot_cut_a_request_in_flight():
    from harness.targets.vm_windows import WindowsTarget
    target = WindowsTarget.__new__(WindowsTarget)
    target.options = {"serve": False}
    with pytest.raises(UsageError, match="needs clfsctl serve"):
        target._serve_channel()
    target.options = {}
    command, scratch = target._serve_channel()
    assert "serve" in command and scratch


def test_a_baseline_keeps_of_a_burst_only_whether_a_record_was_bad():
    from harness.verdict.baseline import observed
    step = {"index": 14, "op": "read_burst", "disposition": "ran", "status_name": "STATUS_SUCCESS", "irql": 0,
            "outputs": {"records": 105, "last_lsn": 0x9000, "bad": 0, "end_status": 0xC0000011}}
    other = dict(step, op="read_log_record", outputs={"size": 100, "lsn": 0})
    assert [s["outputs"] for s in observed({"steps": [step, other]})] == [{"bad": 0}, {"lsn": 0, "size": 100}]


def test_the_guest_cuts_the_power_at_the_planned_time_or_right_after_an_answer(model_binary_free_guest):
    guest = model_binary_free_guest
    seen = guest.cut_during("silent", b"abc", 0.3, max_frame=1 << 20)
    assert seen["answer"] is None and seen["answer_bytes"] == 0 and 300 <= seen["cut_ms"] < 1000
    assert guest.calls[-1] == ("restart", "power_cut") and seen["restart_s"] == 7.5
    seen = guest.cut_during("echo", b"abc", 5.0, max_frame=1 << 20)
    assert seen["answer"] == b"abc" and seen["cut_ms"] < 5000   # no waiting for the plan once answered
    assert guest.calls[-1] == ("restart", "power_cut")


@pytest.fixture
def model_binary_free_guest():
    from tests.unit.test_guest_serve import _Guest, _Ssh
    from tests.unit.guest_fakes import FakeSsh

    class Guest(_Guest):
        def restart(self, how, crash=None):
            self.calls.append(("restart", how))
            return 7.5

    calls: list = []
    ssh = _Ssh({"silent": SILENT, "echo": ECHO}, calls)
    FakeSsh.__init__(ssh, calls)
    yield Guest(ssh, calls)
    ssh.close_all()


class _WindowsGuest:
    """A Windows guest at the target's edge: requests answered by the host model (model flag
    cleared, as clfstest.sys answers); ``cut_during`` runs the request too (the guest did work
    before the plug was pulled) and loses its answer, or returns it when ``beaten``."""

    class Instance:
        def crashed(self):
            return None

    def __init__(self, tmp_path, model, beaten=False):
        self.console_log = tmp_path / "console.log"
        self.console_log.write_bytes(b"")
        self.model, self.beaten, self.events, self.instance = model, beaten, [], self.Instance()

    def _answer(self, request):
        response = bytearray(self.model.run_bytes(request))
        response[wire.RESP_HEADER.offsets()["flags"]] &= ~1
        return bytes(response)

    def serve_request(self, request, timeout, *, max_frame, evidence_dir=None):
        self.events.append("request")
        return self._answer(request)

    def cut_during(self, command, frame, delay_s, *, max_frame):
        self.events.append(("cut", command))
        answer = self._answer(frame)
        return {"answer": answer if self.beaten else None, "answer_bytes": len(answer) + 4 if self.beaten else 0,
                "cut_ms": delay_s * 1000 + 2, "restart_s": 30.0}

    def recover(self):
        self.events.append("back to ready")
        return 0.1


@pytest.mark.parametrize("beaten", [False, True])
def test_windows_cuts_the_domain_while_clfsctl_serve_runs_the_request(tmp_path, model, beaten):
    from harness.guest import wincmd
    from harness.targets.base import CaseArtefacts
    from harness.targets.vm_windows import WindowsTarget

    target = WindowsTarget(options={"image": "unused"})
    target._guest = _WindowsGuest(tmp_path, model, beaten)
    case = _case(tmp_path)
    artefacts = CaseArtefacts(tmp_path / "case")
    result = target.execute(case, artefacts)
    assert target._guest.events == ["request", ("cut", wincmd.clfsctl_serve_command()), "request", "back to ready"]
    cut = result.phases[1]["cut"]
    assert cut["simulated"] is False and cut["request_ended"] is beaten and result.phases[2]["restart_s"] == 30.0
    phase2 = {r.disposition for r in result.steps if r.phase == 2}
    assert phase2 == ({RAN} if beaten else {LOST_IN_CUT})
    verdict = judge(case, result)
    assert verdict.outcome == PASS, verdict.diff()
    said = (artefacts.dir / "restarts.txt").read_text()
    assert said.startswith("power_cut during append_burst: cut at ")
    assert ("NOT mid-request" in said) is beaten and ("request in flight" in said) is not beaten
    assert (artefacts.dir / "phase2-request.bin").is_file()


def test_the_reports_say_when_the_cut_came_and_whether_the_request_still_ran():
    from harness.report.summary import cut_text
    base = {"during": "append_burst", "simulated": False, "cut_ms": 1491.2, "request_ended": False,
            "appended_before_cut": None}
    assert cut_text({"cut": base}) == "at 1491 ms, request in flight"
    assert cut_text({"cut": dict(base, request_ended=True)}) == "at 1491 ms, request had ENDED (not mid-request)"
    assert cut_text({"cut": dict(base, simulated=True, cut_ms=None, appended_before_cut=938)}) == \
        "simulated (model): after 938 burst records"
    assert cut_text({"burst": {"appended": None, "came_back": 105, "promised": 0, "bad": 0}}) == \
        "burst: 105 came back whole (answer lost)"
    assert cut_text({"burst": {"appended": 9, "came_back": 3, "promised": 8, "bad": 2}}).endswith("TORN/CORRUPT")
    assert cut_text({"phase": 1}) == ""


def test_the_case_record_of_a_lost_answer_has_no_made_up_status_and_fits_the_schema(model, tmp_path):
    import json

    import jsonschema

    from harness.report.record import case_record
    from harness.report.results import SCHEMA_PATH

    case = _case(tmp_path)
    result = _lost(model.execute(case))
    result = dataclasses.replace(result, phases=tuple(
        dict(p, cut={"during": "append_burst", "simulated": False, "cut_ms": 900.5, "planned_ms": 900.0,
                     "request_ended": False, "restart_s": 14.0, "appended_before_cut": None})
        if p["phase"] == 2 else p for p in result.phases))
    verdict = judge(case, result)
    record = case_record(case, "smoke", verdict.outcome, result=result, verdict=verdict)
    lost = [s for s in record["steps"] if s["phase"] == 2]
    assert {s["disposition"] for s in lost} == {"lost_in_cut"}
    assert all(s["status"] is None and s["status_name"] is None and s["outputs"] == {} for s in lost)
    assert record["phases"][2]["burst"]["appended"] is None
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(record, {"$defs": schema["$defs"], "$ref": "#/$defs/case"})


def test_the_burst_note_counts_what_came_back_of_what_was_appended_or_says_the_answer_was_lost(model, tmp_path):
    """judge's durable note for the phase that reads the burst back, and the steps of the phase the
    power failed in when their answers were lost (found by tools/mutation.py: the note and the
    observed text were never looked at)."""
    case = _case(tmp_path)
    result = model.execute(case)
    appended = [r for r in result.steps if r.index == BURST_STEP][0].outputs["records"]
    came_back = [r for r in result.steps if r.index == READ_BURST_STEP][0].outputs["records"]
    (note,) = [n for n in judge(case, result).notes if n.startswith("durable: phase 3 ")]
    assert note.endswith(f"; burst: {came_back} record(s) came back whole (of {appended} appended)"), note
    lost = judge(case, _lost(result))
    (note,) = [n for n in lost.notes if n.startswith("durable: phase 3 ")]
    assert note.endswith(f"; burst: {came_back} record(s) came back whole (its answer lost)"), note
    in_cut = [sv for sv in lost.steps if sv.step.phase == 2]
    assert in_cut and all([(c.what, c.observed, c.ok) for c in sv.checks] ==
                          [("status", "no result: the power was cut while its request ran", True)] for sv in in_cut)
