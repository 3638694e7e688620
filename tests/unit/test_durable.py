"""Durability under power loss (issue 14): the model's durable storage and simulated cut, the smoke
executor's disk image, the durability verdict, and the deliberate fault that proves it can fail."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from harness.protocol import decode_response, encode_request, wire
from harness.protocol.encode import phase_header
from harness.scenario.load import load_file
from harness.scenario.phases import split_phases
from harness.targets.model import MODEL_SCRATCH, SOURCE_DIR, ModelTarget, build_model
from harness.verdict.durable import appended_bytes, judge_durable, pattern_bytes
from harness.verdict.judge import FAIL, PASS, judge
from tests.unit.test_saved_conditions import load

CATALOGUE = Path(__file__).resolve().parents[2] / "scenarios" / "durability"

CUT = """\
name: cut
description: d
steps:
  - create_log: {name: log, path: "${scratch}/d"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [100]}
    save: {a: lsn}
  - reserve_and_append: {area: ma, records: [200]}
    save: {b: lsn}
  - flush_to_lsn: {area: ma, lsn: "${b}"}
  - reserve_and_append: {area: ma, records: [300], flags: [force_append]}
    save: {c: lsn}
  - reserve_and_append: {area: ma, records: [400]}
    save: {d: lsn}
  - restart: {how: power_cut}
    expect: durable
  - create_log: {name: log, path: "${scratch}/d", disposition: open_existing}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - read_log_record: {name: ra, area: ma, lsn: "${a}"}
  - read_next_log_record: {read: ra}
  - read_log_record: {name: rc, area: ma, lsn: "${c}"}
    expect: any
  - read_log_record: {name: rd, area: ma, lsn: "${d}"}
    expect: any
"""


from tests.unit.test_protocol import model  # noqa: E402,F401  the host model, one per module


def _case(tmp_path, text=CUT, name="cut"):
    (case,), problems = load(tmp_path, text.replace("name: cut", f"name: {name}"))
    assert problems == []
    return case


# -- the request header of a phase -------------------------------------------------------------

def test_phase_requests_carry_disk_keep_and_cut_flags(tmp_path):
    first, second = split_phases(_case(tmp_path))
    flags1, seed1 = phase_header(first.case)
    flags2, seed2 = phase_header(second.case)
    assert flags1 == wire.REQ_DISK | wire.REQ_DISK_NEW | wire.REQ_KEEP_LOGS | wire.REQ_POWER_CUT and seed1 != 0
    assert (flags2, seed2) == (wire.REQ_DISK, 0)          # the last phase: its cleanup deletes the logs
    offsets = wire.REQ_HEADER.offsets()
    request = encode_request(first.case, scratch="C:\\s")
    assert struct.unpack_from("<I", request, offsets["flags"])[0] == flags1
    assert struct.unpack_from("<I", request, offsets["cut_seed"])[0] == seed1
    assert phase_header(dataclasses.replace(first.case, role=None)) == (0, 0)


def test_a_clean_restart_keeps_logs_without_a_cut(tmp_path):
    first, _ = split_phases(_case(tmp_path, CUT.replace("how: power_cut", "how: clean")))
    assert phase_header(first.case) == (wire.REQ_DISK | wire.REQ_DISK_NEW | wire.REQ_KEEP_LOGS, 0)


# -- the model's durable storage and its cut -----------------------------------------------------

def test_flushed_records_survive_the_simulated_cut_byte_exact(model, tmp_path):
    case = _case(tmp_path)
    result = model.execute(case)
    verdict = judge(case, result)
    assert verdict.outcome == PASS, verdict.diff()
    by_index = {r.index: r for r in result.steps}
    a, b = by_index[12], by_index[13]                          # read back in phase 2
    assert (a.phase, a.outputs["size"], b.outputs["size"]) == (2, 100, 200)
    assert a.outputs["payload_crc"] == zlib.crc32(pattern_bytes(by_index[4].outputs["payload_seed"],
                                                                by_index[4].outputs["record_index"], 100))


def test_the_cut_is_deterministic_per_seed_and_loses_whole_blocks_in_order(model, tmp_path):
    outcomes = {}
    for name in [f"cut{i}" for i in range(12)]:
        case = _case(tmp_path, name=name)
        runs = [model.execute(case) for _ in range(2)]
        came = [tuple(r.status == 0 for r in run.steps if r.index in (14, 15)) for run in runs]
        assert came[0] == came[1], "the same case must lose the same records"
        # c and d sit in two blocks, queued in LSN order: d never survives without c.
        assert came[0] != (False, True)
        outcomes[name] = came[0]
        assert judge(case, runs[0]).outcome == PASS
    assert len(set(outcomes.values())) > 1, "the seed never changed what survived"


def test_the_disk_is_freed_when_the_case_ends(model, tmp_path):
    model.execute(_case(tmp_path))
    alone = _case(tmp_path, "name: cut\ndescription: d\nsteps:\n"
                  "  - create_log: {name: log, path: \"${scratch}/d\", disposition: open_existing}\n"
                  "    expect: failure\n")
    assert judge(alone, model.execute(alone)).outcome == PASS   # the phased case's log is gone


def test_without_keep_logs_the_next_phase_finds_no_log(model, tmp_path):
    """KEEP_LOGS is what keeps phase 1's log: a phase 1 request without it deletes the log at its
    end (a clean restart: a cut would stop the request before its cleanup)."""
    first, second = split_phases(_case(tmp_path, CUT.replace("how: power_cut", "how: clean")))
    request = bytearray(encode_request(first.case, scratch=MODEL_SCRATCH))
    at = wire.REQ_HEADER.offsets()["flags"]
    struct.pack_into("<I", request, at, struct.unpack_from("<I", request, at)[0] & ~wire.REQ_KEEP_LOGS)
    from harness.scenario.phases import bind
    bound, _ = bind(second, {"a": 0, "b": 1, "c": 0x200, "d": 0x400})
    model.run_bytes(bytes(request))
    response = model.run_bytes(encode_request(bound, scratch=MODEL_SCRATCH))
    opened = decode_response(response, bound, target="model").steps[0]
    assert opened.op == "create_log" and opened.status != 0
    # The same two requests with the flag: the log is there.
    model.run_bytes(encode_request(first.case, scratch=MODEL_SCRATCH))
    response = model.run_bytes(encode_request(bound, scratch=MODEL_SCRATCH))
    assert decode_response(response, bound, target="model").steps[0].status == 0


# -- the smoke executor's disk image -------------------------------------------------------------

def _serve(binary: Path, disk: Path, *requests: bytes) -> list[bytes]:
    frames = b"".join(struct.pack("<I", len(r)) + r for r in requests)
    out = subprocess.run([str(binary), "--serve", "--disk", str(disk)], input=frames, capture_output=True,
                         timeout=30, check=True).stdout
    answers = []
    while out:
        (n,) = struct.unpack_from("<I", out)
        answers.append(out[4:4 + n])
        out = out[4 + n:]
    return answers


def test_the_executor_keeps_what_is_stable_on_its_disk_across_a_new_process(tmp_path):
    """What the smoke guest does across a real power cut: phase 1 in one executor process (which
    then dies), phase 2 in a new one that reads the disk image back. The flushed records are there;
    the unflushed ones never reached the image (a process kill keeps nothing else)."""
    binary = build_model()
    case = _case(tmp_path, CUT.replace("how: power_cut", "how: clean"))
    first, second = split_phases(case)
    _serve(binary, tmp_path, encode_request(first.case, scratch=MODEL_SCRATCH))
    assert (tmp_path / "model.disk").stat().st_size > 0
    # The second phase bound with phase 1's LSNs, as run_phases does.
    from harness.targets.phases import run_phases

    def run(phase_case, number):
        answer = _serve(binary, tmp_path, encode_request(phase_case, scratch=MODEL_SCRATCH))[0]
        return decode_response(answer, phase_case, target="model")

    result = run_phases(case, run, lambda how: None, "model")
    statuses = {r.index: r.status for r in result.steps if r.phase == 2}
    assert statuses[12] == 0 and statuses[13] == 0            # flushed: a and b read back
    assert judge(case, result).outcome == PASS, judge(case, result).diff()


def test_before_a_real_cut_the_executor_writes_nothing_after_the_last_step(tmp_path):
    """On the smoke guest the power is really cut after phase 1's answer: the request's cleanup (which
    deletes the area, a flush) must not reach the disk first, or every record would look stable. Only
    what the scenario's own flush made stable is in the image; the unflushed c and d are not."""
    binary = build_model()
    case = _case(tmp_path)
    from harness.targets.phases import run_phases

    def run(phase_case, number):
        answer = _serve(binary, tmp_path, encode_request(phase_case, scratch=MODEL_SCRATCH))[0]
        return decode_response(answer, phase_case, target="model")

    result = run_phases(case, run, lambda how: None, "model")
    statuses = {r.index: r.status for r in result.steps if r.phase == 2}
    assert statuses[12] == 0 and statuses[13] == 0
    assert statuses[14] != 0 and statuses[15] != 0
    assert judge(case, result).outcome == PASS


# -- the durability verdict ----------------------------------------------------------------------

def _run(model, tmp_path, text=CUT):
    case = _case(tmp_path, text)
    return case, model.execute(case)


def _patched(result, index, **outputs):
    steps = tuple(dataclasses.replace(r, outputs={**r.outputs, **outputs}) if r.index == index else r
                  for r in result.steps)
    return dataclasses.replace(result, steps=steps)


def test_a_torn_flushed_record_fails_naming_lsn_phase_and_bytes(model, tmp_path):
    case, result = _run(model, tmp_path)
    torn = _patched(result, 13, payload_crc=0x1234, size=150)
    verdict = judge(case, torn)
    assert verdict.outcome == FAIL
    text = verdict.diff()
    assert "phase 2 step 13: torn or corrupt flushed data record at 0x0000000000000001" in text
    assert "expected 200 bytes" in text and "observed 150 bytes, CRC-32 0x00001234" in text


def test_a_record_no_phase_appended_is_garbage(model, tmp_path):
    case, result = _run(model, tmp_path)
    verdict = judge(case, _patched(result, 13, lsn=0x7000))
    assert verdict.outcome == FAIL and "garbage: a record at 0x0000000000007000" in verdict.diff()


def test_a_flushed_record_that_is_gone_fails_and_an_unflushed_one_may_be_gone(model, tmp_path):
    case, result = _run(model, tmp_path)
    gone = dataclasses.replace(result, steps=tuple(
        dataclasses.replace(r, status=0xC01A0005, outputs={}) if r.index == 13 else r for r in result.steps))
    verdict = judge(dataclasses.replace(case, steps=tuple(
        dataclasses.replace(s, expect=dataclasses.replace(s.expect, status="any")) if s.index == 13 else s
        for s in case.steps)), gone)
    assert verdict.outcome == FAIL
    assert any("flushed data record at 0x0000000000000001" in n and "is gone" in n for n in verdict.notes)
    # c and d were never flushed: their reads failing (or not) is no failure.
    lost = dataclasses.replace(result, steps=tuple(
        dataclasses.replace(r, status=0xC01A0005, outputs={}) if r.index in (14, 15) else r for r in result.steps))
    assert judge(case, lost).outcome == PASS


def test_a_flushed_record_no_step_read_is_named():
    text = CUT.replace("  - read_next_log_record: {read: ra}\n", "")
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        case = _case(Path(tmp), text)
        target = ModelTarget()
        target.prepare()
        try:
            result = target.execute(case)
        finally:
            target.close()
    durable = judge_durable(case, result)
    assert [f.lsn for f in durable.findings] == [1]
    assert "no step of phase 2 read it back" in durable.findings[0].text


def test_aligned_records_are_rebuilt_with_zeros_between_entries(tmp_path):
    (case,), _ = load(tmp_path, "name: a\ndescription: d\nsteps:\n  - create_log: {name: log}\n"
                      "  - add_container_set: {log: log, count: 2, size: 512KiB}\n"
                      "  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}\n"
                      "  - reserve_and_append_aligned: {area: ma, records: [3, 5], alignment: 8}\n")
    data = appended_bytes(case.steps[3], {"payload_seed": 9, "record_index": 0})
    pattern = pattern_bytes(9, 0, 8)
    assert data == pattern[:3] + bytes(5) + pattern[3:8]


# -- the deliberate fault -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def nostable():
    out = SOURCE_DIR / "out"
    proc = subprocess.run(["make", "-s", "-C", str(SOURCE_DIR), f"OUT={out}", "model-nostable"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    target = ModelTarget(binary=out / "host" / "clfstest-model-nostable")
    target.prepare()
    yield target
    target.close()


def _catalogue():
    cases = []
    for path in sorted(CATALOGUE.glob("*.scenario.yaml")):
        found, problems = load_file(path, display=f"scenarios/durability/{path.name}")
        assert problems == []
        cases += found
    return cases


def test_the_durability_catalogue_passes_on_the_model(model):
    cases = _catalogue()
    assert len(cases) >= 12
    failed = [c.id for c in cases if judge(c, model.execute(c)).outcome != PASS]
    assert failed == []


def test_a_model_whose_flushes_make_nothing_stable_fails_naming_the_lost_lsn(nostable):
    """The deliberate fault (make model-nostable): flushes answer as always, but nothing becomes
    stable, so a power cut may drop a flushed record: the verdict must say which."""
    verdicts = {c.id: judge(c, nostable.execute(c)) for c in _catalogue()}
    failed = {cid: v for cid, v in verdicts.items() if v.outcome == FAIL}
    assert failed, "the deliberate fault went unnoticed"
    lines = [n for v in failed.values() for n in v.notes if n.startswith("durable: phase")]
    assert any("flushed data record at 0x" in n and "is gone" in n and "(phase 1, step" in n for n in lines)


# -- reports and baselines -----------------------------------------------------------------------

def test_each_phase_keeps_its_own_request_and_response_files(model, tmp_path):
    from harness.targets.base import CaseArtefacts, flush_artefacts
    artefacts = CaseArtefacts(tmp_path / "case")
    model.execute(_case(tmp_path), artefacts)
    flush_artefacts()
    assert sorted(p.name for p in artefacts.dir.iterdir()) == [
        "phase1-request.bin", "phase1-response.bin", "phase2-request.bin", "phase2-response.bin"]


def _record(model, tmp_path, text=CUT):
    from harness.report.record import case_record
    case = _case(tmp_path, text)
    result = model.execute(case)
    verdict = judge(case, result)
    return case_record(case, "model", verdict.outcome, result=result, verdict=verdict, message=verdict.diff())


def test_results_summary_and_page_show_each_phase_and_what_came_back(model, tmp_path):
    from harness.report.summary import render_markdown
    record = _record(model, tmp_path)
    second = record["phases"][1]
    assert second["restart"] == "power_cut" and "0x0000000000000000" in second["survived"]
    assert set(second["survived"]) | set(second["lost"]) == {"0x0000000000000000", "0x0000000000000001",
                                                              "0x0000000000000200", "0x0000000000000400"}
    results = {"target": {"name": "model", "model": True}, "summary": {"total": 1, **{o: 0 for o in
               ("PASS", "FAIL", "BUGCHECK", "HANG", "INFRA", "CONTRACT", "SKIP", "XFAIL", "XPASS")}},
               "cases": [record], "duration_s": 0.1, "schema_version": 1, "complete": True}
    markdown = render_markdown(results)
    assert "### Cases in phases" in markdown
    assert (f"| `{record['id']}` | 2 | power_cut | 0.00 s | {len(second['survived'])} | "
            f"{len(second['lost'])} |") in markdown
    page = _case_detail_html(record, tmp_path)
    assert '<table class="phases">' in page and "<b>phase 2</b>" in page and second["survived"][0] in page


def _case_detail_html(record, tmp_path):
    from harness.report.html import _case_detail
    return _case_detail(record, tmp_path / "report.html")


def test_a_baseline_records_what_survived_and_shows_a_change_as_a_diff(model, tmp_path):
    from harness.verdict import baseline
    record = _record(model, tmp_path)
    kept = baseline.observed(record)
    assert kept["survived"]["2"]["restart"] == "power_cut"
    changed = copy_with_survivors(kept, ["0x0000000000000000"])
    lines = baseline.compare(kept, changed)
    assert any(line.startswith("phase 2 after power_cut: survived ") and line.endswith("-> 0x0000000000000000")
               for line in lines), lines
    assert baseline.compare(kept, kept) == []


def copy_with_survivors(entry: dict, survived: list[str]) -> dict:
    import copy
    out = copy.deepcopy(entry)
    out["survived"]["2"]["survived"] = survived
    return out


def test_a_read_that_never_ran_says_which_step_failed_first(model, tmp_path):
    case, result = _run(model, tmp_path)
    steps = []
    for r in result.steps:
        if r.index == 10:     # phase 2 cannot open the log: everything after it is not run
            r = dataclasses.replace(r, status=0xC0000034, outputs={})
        elif r.phase == 2 and r.index > 10:
            r = dataclasses.replace(r, disposition="not_run", status=0, outputs={})
        steps.append(r)
    notes = judge(case, dataclasses.replace(result, steps=tuple(steps))).notes
    assert any("flushed data record at 0x0000000000000000" in n and "step 12, which reads it, did not run "
               "(step 10 (create_log) failed with STATUS_OBJECT_NAME_NOT_FOUND)" in n for n in notes), notes


def test_the_durability_catalogue_seeds_the_fuzzer_one_request_per_phase(tmp_path):
    from harness.driver.fuzz_seeds import write_seeds
    written = write_seeds(tmp_path, [str(CATALOGUE)])
    flags_at = wire.REQ_HEADER.offsets()["flags"]
    flags = [struct.unpack_from("<I", p.read_bytes(), flags_at)[0] for p in tmp_path.glob("seed-*.bin")]
    assert written == len(flags) > len(_catalogue())     # phase 2 of the burst cases is one request
    # Every phase's request keeps the model's disk; the harness's bugcheck request (the bugcheck
    # case's restart) is a request of its own, after the phase's.
    phases = [f for f in flags if not f & wire.REQ_DELIBERATE_BUGCHECK]
    assert len(phases) < len(flags)
    assert all(f & wire.REQ_DISK for f in phases) and any(f & wire.REQ_POWER_CUT for f in phases)
