"""The durability verdict's rules, one promise at a time, on hand-made results (no model run).

Which record a flush promised decides between PASS and FAIL when the record is gone after the cut,
so each source of a promise (ClfsFlushToLsn's target and *plsnLastFlushed, ClfsFlushBuffers,
ClfsDeleteMarshallingArea, CLFS_FLAG_FORCE_FLUSH, ClfsWriteRestartArea) and each excuse (a base
LSN moved before the cut) is shown both ways: the promised record missing is a FAIL naming it, the
record just past the promise missing is no failure. The model's catalogue run cannot show these:
there every promised record does come back.
"""

from __future__ import annotations

import zlib

from harness.protocol.results import NOT_RUN, RAN, CaseResult, CleanupSummary, StepResult
from harness.verdict.durable import pattern_bytes
from harness.verdict.judge import FAIL, PASS, judge
from tests.unit.test_saved_conditions import load

SEED = 0x5EED
A, B, C = 0x200, 0x400, 0x600           # the three records' LSNs, in log order
END_OF_FILE = 0xC0000011
NOT_FOUND = 0xC01A0005                  # STATUS_LOG_BLOCK_... : any failure status will do
SIZES = {A: 100, B: 200, C: 300}
INDEX = {A: 0, B: 1, C: 2}

HEAD = """\
name: t
description: d
steps:
  - create_log: {name: log, path: "${scratch}/d"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [100]%(fa)s}
    save: {a: lsn}
  - reserve_and_append: {area: ma, records: [200]%(fb)s}
    save: {b: lsn}
  - reserve_and_append: {area: ma, records: [300]}
    save: {c: lsn}
"""
# Steps 1-6 above; the phase-1 steps a test adds are 7, 8, ...
REOPEN = """\
  - restart: {how: power_cut}
    expect: durable
  - create_log: {name: %(log)s, path: "${scratch}/d", disposition: open_existing}
  - create_marshalling_area: {name: ma2, log: %(log)s, buffer_size: 4KiB}
"""


def _text(phase1: str = "", phase2: str = "", *, force_a: bool = False, force_b: bool = False,
          log: str = "log") -> str:
    flags = ", flags: [force_flush]"
    return (HEAD % {"fa": flags if force_a else "", "fb": flags if force_b else ""} + phase1
            + REOPEN % {"log": log} + phase2)


def _append(lsn: int) -> dict:
    return {"lsn": lsn, "payload_seed": SEED, "record_index": INDEX[lsn]}


def _read(lsn: int, data: bytes | None = None) -> dict:
    """A read that returned the record at ``lsn`` with ``data`` (default: what was appended there)."""
    if data is None:
        data = pattern_bytes(SEED, INDEX[lsn], SIZES[lsn])
    return {"lsn": lsn, "size": len(data), "payload_crc": zlib.crc32(data),
            "payload_head": int.from_bytes(data[:8].ljust(8, b"\0"), "little")}


def _verdict(tmp_path, text: str, outputs: dict | None = None, failed: dict | None = None, not_run=()):
    """judge() of the case in ``text`` on a result where every step ran and succeeded, except:
    ``failed`` step -> status, ``not_run`` steps; ``outputs`` step -> outputs (the appends of
    a, b and c are filled in). A step is named by the object it defines (the last step defining
    it), or as ``op@phase`` (the first such step of the phase)."""
    (case,), problems = load(tmp_path, text)
    assert problems == []

    def index(key) -> int:
        if isinstance(key, int):
            return key
        if "@" in key:
            op, phase = key.split("@")
            return next(s.index for s in case.steps if s.op == op and s.phase == int(phase))
        return [s.index for s in case.steps if s.args.get("name") == key][-1]

    appended = {name: _append(lsn) for name, lsn in (("a", A), ("b", B), ("c", C))}
    by_save = {next(iter(s.save)): s.index for s in case.steps if s.save}
    outputs = {**{by_save[k]: v for k, v in appended.items()}, **{index(k): v for k, v in (outputs or {}).items()}}
    failed = {index(k): v for k, v in (failed or {}).items()}
    skipped = {index(k) for k in not_run}
    steps = tuple(StepResult(s.index, s.op, NOT_RUN if s.index in skipped else RAN,
                             0 if s.index in skipped else failed.get(s.index, 0), 0, s.context,
                             {} if s.index in failed or s.index in skipped else outputs.get(s.index, {}), 0, s.phase)
                  for s in case.steps)
    return judge(case, CaseResult("model", steps, CleanupSummary()))


def _came_back(verdict) -> str:
    return next(n for n in verdict.notes if n.startswith("durable: phase 2 after power_cut:"))


def _reads(*lsns: int) -> tuple[str, dict]:
    """Phase-2 steps reading each LSN with read_log_record (expect: any, named r<lsn>), and their outputs."""
    text = "".join(f"  - read_log_record: {{name: r{lsn:x}, area: ma2, lsn: {lsn}}}\n    expect: any\n"
                   for lsn in lsns)
    return text, {f"r{lsn:x}": _read(lsn) for lsn in lsns}


RESTART_AT = 0x800
RESTART_BYTES = pattern_bytes(SEED, 3, 40)
WRITE_RESTART = "  - write_restart_area: {area: ma, size: 40}\n"
RESTART_WRITTEN = {"write_restart_area@1": {"lsn": RESTART_AT, "payload_seed": SEED, "record_index": 3}}
READ_RESTART = "  - read_restart_area: {name: rr, area: ma2}\n    expect: any\n"
RESTART_READ = {"rr": {"lsn": RESTART_AT, "size": 40, "payload_crc": zlib.crc32(RESTART_BYTES),
                       "payload_head": int.from_bytes(RESTART_BYTES[:8], "little")}}


# -- what a flush promises -----------------------------------------------------------------------

FLUSH_TO_B = "  - flush_to_lsn: {area: ma, lsn: \"${b}\"}\n"


def _gone(verdict) -> str:
    return " ".join(n for n in verdict.notes if "is gone" in n)


def test_flush_to_lsn_promises_its_target_and_what_is_below_it_not_more(tmp_path):
    # No *plsnLastFlushed in the answer: the target alone says what is promised (A and B, not C).
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, _reads(A)[0]), _reads(A)[1])
    assert verdict.outcome == FAIL
    assert "durable: phase 2: flushed data record at 0x0000000000000400 (" in verdict.diff()
    assert "0x0000000000000600" not in _gone(verdict)
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, _reads(A, B)[0]), _reads(A, B)[1])
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("2 record(s) came back (2 promised stable), 1 unflushed lost")


def test_a_literal_flush_target_promises_up_to_it(tmp_path):
    flush = f"  - flush_to_lsn: {{area: ma, lsn: {B}}}\n"
    verdict = _verdict(tmp_path, _text(flush, _reads(A)[0]), _reads(A)[1])
    assert verdict.outcome == FAIL and "flushed data record at 0x0000000000000400" in _gone(verdict)
    assert "0x0000000000000600" not in _gone(verdict)
    assert _verdict(tmp_path, _text(flush, _reads(A, B)[0]), _reads(A, B)[1]).outcome == PASS


def test_the_last_flushed_lsn_promises_every_record_below_it_but_not_itself(tmp_path):
    # ClfsFlushToLsn to A answered *plsnLastFlushed = C: A and B are stable, C is not promised.
    flush = "  - flush_to_lsn: {area: ma, lsn: \"${a}\"}\n"
    answered = {"flush_to_lsn@1": {"last_flushed_lsn": C}}
    verdict = _verdict(tmp_path, _text(flush, _reads(A)[0]), {**answered, **_reads(A)[1]})
    assert verdict.outcome == FAIL and "flushed data record at 0x0000000000000400" in _gone(verdict)
    assert "0x0000000000000600" not in _gone(verdict)
    verdict = _verdict(tmp_path, _text(flush, _reads(A, B)[0]), {**answered, **_reads(A, B)[1]})
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("(2 promised stable), 1 unflushed lost")


def test_flushing_to_lsn_zero_promises_every_record(tmp_path):
    flush = "  - flush_to_lsn: {area: ma, lsn: 0}\n"
    verdict = _verdict(tmp_path, _text(flush, _reads(A, B)[0]), _reads(A, B)[1])
    assert verdict.outcome == FAIL and "flushed data record at 0x0000000000000600" in _gone(verdict)
    assert _verdict(tmp_path, _text(flush, _reads(A, B, C)[0]), _reads(A, B, C)[1]).outcome == PASS


def test_flush_buffers_and_deleting_the_area_promise_every_record(tmp_path):
    for flush in ("  - flush_buffers: {area: ma}\n", "  - delete_marshalling_area: {area: ma}\n"):
        verdict = _verdict(tmp_path, _text(flush, _reads(A, B)[0]), _reads(A, B)[1])
        assert verdict.outcome == FAIL and "flushed data record at 0x0000000000000600" in _gone(verdict), flush
        assert _verdict(tmp_path, _text(flush, _reads(A, B, C)[0]), _reads(A, B, C)[1]).outcome == PASS, flush


def test_a_flush_that_failed_promises_nothing(tmp_path):
    flush = "  - flush_buffers: {area: ma}\n    expect: any\n"
    verdict = _verdict(tmp_path, _text(flush, _reads(A)[0]), _reads(A)[1], failed={"flush_buffers@1": NOT_FOUND})
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("1 record(s) came back (0 promised stable), 2 unflushed lost")


def test_force_flush_promises_the_record_and_those_before_it(tmp_path):
    verdict = _verdict(tmp_path, _text("", _reads(A)[0], force_b=True), _reads(A)[1])
    assert verdict.outcome == FAIL and "flushed data record at 0x0000000000000400" in _gone(verdict)
    assert "0x0000000000000600" not in _gone(verdict)
    verdict = _verdict(tmp_path, _text("", _reads(A, B)[0], force_b=True), _reads(A, B)[1])
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("(2 promised stable), 1 unflushed lost")


def test_without_a_flush_nothing_is_promised(tmp_path):
    verdict = _verdict(tmp_path, _text())
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("0 record(s) came back (0 promised stable), 3 unflushed lost")


def test_a_restart_record_is_promised_with_the_records_before_it(tmp_path):
    reads, outputs = _reads(A, B, C)
    verdict = _verdict(tmp_path, _text(WRITE_RESTART, reads), {**RESTART_WRITTEN, **outputs})
    assert verdict.outcome == FAIL
    assert ("flushed restart record at 0x0000000000000800" in _gone(verdict) and
            "no step of phase 2 read it back (the durable phase must read every flushed record)" in _gone(verdict))
    # Read back with read_restart_area it passes; torn it fails.
    verdict = _verdict(tmp_path, _text(WRITE_RESTART, reads + READ_RESTART),
                       {**RESTART_WRITTEN, **outputs, **RESTART_READ})
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("4 record(s) came back (4 promised stable), 0 unflushed lost")
    torn = {"rr": {**RESTART_READ["rr"], "payload_crc": 1}}
    verdict = _verdict(tmp_path, _text(WRITE_RESTART, reads + READ_RESTART), {**RESTART_WRITTEN, **outputs, **torn})
    assert verdict.outcome == FAIL
    assert "torn or corrupt flushed restart record at 0x0000000000000800" in verdict.diff()
    # Without the restart write, A alone read back: B and C were never promised.
    verdict = _verdict(tmp_path, _text("", _reads(A)[0]), _reads(A)[1])
    assert verdict.outcome == PASS, verdict.diff()


# -- what a base LSN excuses ---------------------------------------------------------------------

def test_a_base_moved_before_the_cut_excuses_the_records_below_it_only(tmp_path):
    for moved in ("  - advance_log_base: {area: ma, lsn: \"${b}\"}\n",
                  f"  - advance_log_base: {{area: ma, lsn: {B}}}\n",
                  "  - write_restart_area: {area: ma, size: 40, base_lsn: \"${b}\"}\n"):
        phase1 = moved + "  - flush_buffers: {area: ma}\n"
        restart = "restart" in moved
        reads, outputs = _reads(B, C)
        written = RESTART_WRITTEN if restart else {}
        verdict = _verdict(tmp_path, _text(phase1, reads + (READ_RESTART if restart else "")),
                           {**written, **outputs, **(RESTART_READ if restart else {})})
        assert verdict.outcome == PASS, (moved, verdict.diff())
        assert _came_back(verdict).endswith(", 1 unflushed lost"), moved      # A, below the base
        reads, outputs = _reads(C)
        verdict = _verdict(tmp_path, _text(phase1, reads + (READ_RESTART if restart else "")),
                           {**written, **outputs, **(RESTART_READ if restart else {})})
        assert verdict.outcome == FAIL and "flushed data record at 0x0000000000000400" in _gone(verdict), moved
        assert "0x0000000000000200 (" not in _gone(verdict), moved


def test_a_restart_area_without_a_base_moves_no_base(tmp_path):
    reads, outputs = _reads(B, C)
    verdict = _verdict(tmp_path, _text(WRITE_RESTART, reads + READ_RESTART),
                       {**RESTART_WRITTEN, **outputs, **RESTART_READ})
    assert verdict.outcome == FAIL and "flushed data record at 0x0000000000000200" in _gone(verdict)


# -- the stream a record belongs to ------------------------------------------------------------

def test_the_log_opened_again_under_another_name_is_the_same_stream(tmp_path):
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, _reads(A, B)[0], log="again"), _reads(A, B)[1])
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("2 record(s) came back (2 promised stable), 1 unflushed lost")


# -- why a promised record is reported gone --------------------------------------------------------

def test_a_failed_read_of_a_promised_record_is_named(tmp_path):
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, _reads(A, B)[0]), _reads(A, B)[1], failed={"r400": NOT_FOUND})
    assert verdict.outcome == FAIL
    assert "flushed data record at 0x0000000000000400 (" in _gone(verdict)
    assert "is gone: step 12 read it: STATUS_" in _gone(verdict)


FORWARD = ("  - read_log_record: {name: ra, area: ma2, lsn: \"${a}\"}\n"
           "  - read_next_log_record: {read: ra}\n    expect: any\n")


def test_a_forward_read_that_reached_the_end_names_it(tmp_path):
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, FORWARD), {"ra": _read(A)},
                       failed={"read_next_log_record@2": END_OF_FILE})
    assert verdict.outcome == FAIL
    assert "is gone: the forward read reached the end of the log without it" in _gone(verdict)
    # Another failure of the forward read is not "the end of the log".
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, FORWARD), {"ra": _read(A)},
                       failed={"read_next_log_record@2": NOT_FOUND})
    assert "is gone: no step of phase 2 read it back" in _gone(verdict)


def test_a_failed_restart_area_read_names_every_restart_record(tmp_path):
    reads, outputs = _reads(A, B, C)
    verdict = _verdict(tmp_path, _text(WRITE_RESTART, reads + READ_RESTART), {**RESTART_WRITTEN, **outputs},
                       failed={"rr": NOT_FOUND})
    assert verdict.outcome == FAIL
    assert "flushed restart record at 0x0000000000000800" in _gone(verdict)
    assert "is gone: step 14 (read_restart_area) failed: STATUS_" in _gone(verdict)
    # A failed restart-area read says nothing of a data record no step read.
    reads, outputs = _reads(A, B)
    verdict = _verdict(tmp_path, _text(WRITE_RESTART, reads + READ_RESTART), {**RESTART_WRITTEN, **outputs},
                       failed={"rr": NOT_FOUND})
    assert ("flushed data record at 0x0000000000000600 (container 0, block 0x600, record 0) on ${scratch}/d "
            "(phase 1, step 6, 300 bytes) is gone: no step of phase 2 read it back") in _gone(verdict)


def test_the_first_failure_of_the_phase_is_named_not_a_later_one(tmp_path):
    reads = _reads(A, B)[0].replace("    expect: any\n", "")
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, reads), failed={"create_log@2": 0xC0000034, "ma2": NOT_FOUND},
                       not_run=("r200", "r400"))
    assert verdict.outcome == FAIL
    assert ("step 11, which reads it, did not run (step 9 (create_log) failed with STATUS_OBJECT_NAME_NOT_FOUND)"
            in _gone(verdict))


def test_a_flush_in_the_durable_phase_is_not_a_read_of_the_record(tmp_path):
    reads, outputs = _reads(A)
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, reads + "  - flush_to_lsn: {area: ma2, lsn: \"${b}\"}\n"),
                       outputs)
    assert verdict.outcome == FAIL
    assert "is gone: no step of phase 2 read it back (the durable phase must read every flushed record)" \
        in _gone(verdict)


def test_only_the_phases_a_durable_restart_starts_are_judged(tmp_path):
    # Phase 2 follows a clean restart without expect: durable; its read of a record no phase
    # appended is not judged. Phase 3 (durable) reads the flushed records back.
    phase2 = ("  - read_log_record: {name: rx, area: ma2, lsn: 0x7000}\n"
              "  - restart: {how: power_cut}\n    expect: durable\n"
              "  - create_log: {name: log, path: \"${scratch}/d\", disposition: open_existing}\n"
              "  - create_marshalling_area: {name: ma3, log: log, buffer_size: 4KiB}\n"
              + _reads(A, B)[0].replace("ma2", "ma3"))
    text = _text(FLUSH_TO_B, phase2).replace("  - restart: {how: power_cut}\n    expect: durable\n",
                                              "  - restart: {how: clean}\n", 1)
    verdict = _verdict(tmp_path, text, {"rx": {**_read(A), "lsn": 0x7000}, **_reads(A, B)[1]})
    assert verdict.outcome == PASS, verdict.diff()
    assert not any(n.startswith("durable: phase 2") for n in verdict.notes)
    assert "durable: phase 3 after power_cut: 2 record(s) came back (2 promised stable), 1 unflushed lost" \
        in verdict.notes


def test_a_phase_whose_answer_ends_early_fails_without_a_crash(tmp_path):
    # The response of phase 2 stops after the area (a step with no result at all): the promised
    # records' reads never ran, and the verdict says so.
    (case,), _ = load(tmp_path, _text(FLUSH_TO_B, _reads(A, B)[0]))
    steps = tuple(StepResult(s.index, s.op, RAN, 0, 0, s.context,
                             {4: _append(A), 5: _append(B), 6: _append(C)}.get(s.index, {}), 0, s.phase)
                  for s in case.steps if s.index <= 10)
    verdict = judge(case, CaseResult("model", steps, CleanupSummary()))
    assert verdict.outcome == FAIL
    assert "is gone: step 11, which reads it, did not run" in _gone(verdict)


def test_a_base_of_lsn_zero_excuses_nothing(tmp_path):
    # The log's first record sits at LSN 0; a base of 0 (the first record) keeps it in the log.
    at_zero = {4: {**_append(A), "lsn": 0}}
    for moved in ("  - advance_log_base: {area: ma, lsn: \"${a}\"}\n",
                  "  - write_restart_area: {area: ma, size: 40, base_lsn: \"${a}\"}\n"):
        restart = "restart" in moved
        reads, outputs = _reads(B, C)
        verdict = _verdict(tmp_path, _text(moved + "  - flush_buffers: {area: ma}\n",
                                           reads + (READ_RESTART if restart else "")),
                           {**at_zero, **(RESTART_WRITTEN if restart else {}), **outputs,
                            **(RESTART_READ if restart else {})})
        assert verdict.outcome == FAIL, moved
        assert "flushed data record at 0x0000000000000000 (" in _gone(verdict), moved


def test_a_flush_promises_nothing_on_another_log(tmp_path):
    other = ("  - create_log: {name: other, path: \"${scratch}/o\"}\n"
             "  - add_container_set: {log: other, count: 2, size: 512KiB}\n"
             "  - create_marshalling_area: {name: mo, log: other, buffer_size: 4KiB}\n"
             "  - reserve_and_append: {area: mo, records: [100]}\n"
             "  - flush_buffers: {area: ma}\n")
    reads, outputs = _reads(A, B, C)
    verdict = _verdict(tmp_path, _text(other, reads), {10: _append(A), **outputs})   # same LSN as A, other log
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("3 record(s) came back (3 promised stable), 1 unflushed lost")


def test_what_a_gone_record_held_is_shown_in_full_up_to_eight_bytes(tmp_path):
    text = _text("  - write_restart_area: {area: ma, size: 8}\n  - write_restart_area: {area: ma, size: 9}\n",
                 _reads(A, B, C)[0])
    verdict = _verdict(tmp_path, text, {7: {"lsn": 0x800, "payload_seed": SEED, "record_index": 3},
                                        8: {"lsn": 0xA00, "payload_seed": SEED, "record_index": 4},
                                        **_reads(A, B, C)[1]})
    gone = [n for n in verdict.notes if "is gone" in n]
    assert len(gone) == 2
    assert gone[0].endswith(f"expected bytes {pattern_bytes(SEED, 3, 8).hex(' ')}")
    assert gone[1].endswith(f"expected bytes {pattern_bytes(SEED, 4, 8).hex(' ')} …")
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, _reads(A)[0]), _reads(A)[1])
    assert _gone(verdict).endswith(f"expected bytes {pattern_bytes(SEED, 1, 8).hex(' ')} …")


def test_a_torn_record_shows_the_bytes_that_came_back(tmp_path):
    torn = {**_read(B), "size": 150, "payload_crc": 0x1234, "payload_head": 0x0807060504030201}
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, _reads(A, B)[0]), {**_reads(A, B)[1], "r400": torn})
    assert verdict.outcome == FAIL
    assert "observed 150 bytes, CRC-32 0x00001234, first bytes 01 02 03 04 05 06 07 08" in verdict.diff()


def test_records_appended_in_the_durable_phase_are_not_counted_as_lost(tmp_path):
    reads, outputs = _reads(A, B)
    reads += "  - reserve_and_append: {area: ma2, records: [50]}\n"
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, reads), {**outputs, 13: {**_append(C), "lsn": 0x800}})
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("2 record(s) came back (2 promised stable), 1 unflushed lost")


def test_a_promised_record_that_is_gone_still_counts_as_promised(tmp_path):
    verdict = _verdict(tmp_path, _text(FLUSH_TO_B, _reads(A)[0]), _reads(A)[1])
    assert _came_back(verdict).endswith("1 record(s) came back (2 promised stable), 1 unflushed lost")


def test_a_record_read_back_after_one_cut_must_survive_the_next(tmp_path):
    # Nothing flushed: after the first cut A came back (it is on the disk now), B and C did not.
    # After the second cut A must still be there; B and C are forgotten (their LSNs may be reused).
    phase2 = (_reads(A)[0] + "  - restart: {how: power_cut}\n    expect: durable\n"
              "  - create_log: {name: log, path: \"${scratch}/d\", disposition: open_existing}\n")
    verdict = _verdict(tmp_path, _text("", phase2), _reads(A)[1])
    assert "durable: phase 2 after power_cut: 1 record(s) came back (0 promised stable), 2 unflushed lost" \
        in verdict.notes
    assert "durable: phase 3 after power_cut: 0 record(s) came back (1 promised stable), 0 unflushed lost" \
        in verdict.notes
    assert verdict.outcome == FAIL
    assert "durable: phase 3: flushed data record at 0x0000000000000200 (" in _gone(verdict)


def test_aligned_entries_read_back_with_the_zeros_between_them_pass(tmp_path):
    text = _text(FLUSH_TO_B, _reads(A, B)[0]).replace(
        "  - reserve_and_append: {area: ma, records: [300]}",
        "  - reserve_and_append_aligned: {area: ma, records: [3, 5], alignment: 2}")
    entries = pattern_bytes(SEED, 2, 8)
    padded = entries[:3] + b"\0" + entries[3:]                       # the second entry at offset 4
    reads = _reads(A, B, C)[0].replace("r600", "rc")
    text = _text("  - flush_buffers: {area: ma}\n", reads).replace(
        "  - reserve_and_append: {area: ma, records: [300]}",
        "  - reserve_and_append_aligned: {area: ma, records: [3, 5], alignment: 2}")
    outputs = {**_reads(A, B)[1], "rc": {**_read(C, padded)}}
    verdict = _verdict(tmp_path, text, outputs)
    assert verdict.outcome == PASS, verdict.diff()
    verdict = _verdict(tmp_path, text, {**outputs, "rc": _read(C, entries)})
    assert verdict.outcome == FAIL and "torn or corrupt flushed data record at 0x0000000000000600" in verdict.diff()



def test_records_gone_from_two_logs_are_listed_log_by_log_in_lsn_order(tmp_path):
    other = ("  - create_log: {name: other, path: \"${scratch}/o\"}\n"
             "  - add_container_set: {log: other, count: 2, size: 512KiB}\n"
             "  - create_marshalling_area: {name: mo, log: other, buffer_size: 4KiB}\n"
             "  - reserve_and_append: {area: mo, records: [100]}\n"
             "  - flush_buffers: {area: ma}\n  - flush_buffers: {area: mo}\n")
    verdict = _verdict(tmp_path, _text(other), {10: {**_append(A), "lsn": 0x300}})
    gone = [(n.split(" on ")[1].split(" ")[0], n.split(" record at ")[1][:18]) for n in verdict.notes
            if "is gone" in n]
    assert gone == [("${scratch}/d", "0x0000000000000200"), ("${scratch}/d", "0x0000000000000400"),
                    ("${scratch}/d", "0x0000000000000600"), ("${scratch}/o", "0x0000000000000300")]


def test_records_appended_through_an_ex_area_are_judged(tmp_path):
    # ClfsCreateMarshallingAreaEx's area is an area like any other: its records are promised by
    # its flushes and read back through it.
    text = _text(FLUSH_TO_B, _reads(A, B)[0]).replace(
        "create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}",
        "create_marshalling_area_ex: {name: ma, log: log, buffer_size: 4KiB, alignment: 512}").replace(
        "create_marshalling_area: {name: ma2, log: log, buffer_size: 4KiB}",
        "create_marshalling_area_ex: {name: ma2, log: log, buffer_size: 4KiB, alignment: 512}")
    verdict = _verdict(tmp_path, text, _reads(A, B)[1])
    assert verdict.outcome == PASS, verdict.diff()
    assert _came_back(verdict).endswith("2 record(s) came back (2 promised stable), 1 unflushed lost")
    verdict = _verdict(tmp_path, text.replace(_reads(B)[0], ""), _reads(A)[1])
    assert verdict.outcome == FAIL and "flushed data record at 0x0000000000000400 (" in _gone(verdict)
