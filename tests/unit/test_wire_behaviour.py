"""The wire format at its limits, as a scenario author or a guest would meet it: the largest
request the driver takes and the smallest it refuses, negative outputs, the response flags, and
each malformed response refused with what is wrong.

Responses are built here field by field (no model binary), so every field can take the value
a broken or hostile guest might send. Found by tools/mutation.py.
"""

from __future__ import annotations

import dataclasses
import struct

import pytest

from harness.errors import ProtocolError
from harness.protocol import RequestRejected, decode_response, encode_request, wire
from harness.protocol.results import INPUT_MISSING, NOT_RUN, RAN
from harness.scenario.model import SavedRef
from tests.unit.protocol_cases import case, step, step_record

pytestmark = pytest.mark.timeout(10)

SCRATCH = "C:\\scratch"
LOG = step(1, "create_log", name="l")
SETUP = [LOG, step(2, "add_container_set", log="l", count=2, size=512 * 1024),
         step(3, "create_marshalling_area", name="a", log="l", buffer_size=4096)]


def encode(*steps, **kw) -> bytes:
    return encode_request(case(list(steps), **kw), scratch=SCRATCH)


def header(data: bytes) -> dict:
    return dict(zip([n for n, _ in wire.REQ_HEADER.fields], struct.unpack_from(wire.REQ_HEADER.fmt, data)))


def payload(data: bytes) -> bytes:
    return data[header(data)["payload_offset"]:]


# ---- requests ----------------------------------------------------------------------------------

def test_a_path_of_512_utf16_units_travels_and_513_is_refused():
    data = encode(step(1, "create_log", name="l", path="p" * 512))
    rec = step_record(data, 0)
    assert rec["str_bytes"] == 1024
    assert payload(data)[rec["str_offset"]:rec["str_offset"] + 1024].decode("utf-16-le") == "p" * 512
    with pytest.raises(ProtocolError, match=r"step 1 \(create_log\): path longer than 512 UTF-16 units"):
        encode(step(1, "create_log", name="l", path="p" * 513))
    # UTF-16 units, not characters: a character outside the BMP takes two.
    with pytest.raises(ProtocolError, match="longer than 512"):
        encode(step(1, "create_log", name="l", path="\U0001F600" * 257))


def test_scratch_is_substituted_in_paths():
    rec = step_record(encode(step(1, "create_log", name="l", path="${scratch}/x")), 0)
    data = encode(step(1, "create_log", name="l", path="${scratch}/x"))
    assert payload(data)[rec["str_offset"]:rec["str_offset"] + rec["str_bytes"]].decode("utf-16-le") == \
        "C:\\scratch/x"


def test_a_list_of_64_items_travels_and_65_is_refused():
    data = encode(*SETUP, step(4, "align_reserved_log", area="a", record_sizes=tuple(range(1, 65))))
    rec = step_record(data, 3)
    assert rec["list_count"] == 64
    assert struct.unpack_from("<64q", payload(data), rec["list_offset"]) == tuple(range(1, 65))
    with pytest.raises(ProtocolError, match=r"step 4 \(align_reserved_log\): record_sizes has 65 items, at most 64"):
        encode(*SETUP, step(4, "align_reserved_log", area="a", record_sizes=tuple(range(65))))


def test_two_lists_of_one_step_each_keep_their_own_items():
    data = encode(*SETUP, step(4, "reserve_and_append", area="a", records=(7, 8), reservations=(-9,)))
    rec = step_record(data, 3)
    assert (rec["list_count"], rec["list2_count"]) == (2, 1)
    assert struct.unpack_from("<2q", payload(data), rec["list_offset"]) == (7, 8)
    assert struct.unpack_from("<q", payload(data), rec["list2_offset"]) == (-9,)
    assert rec["list_offset"] % 8 == 0 and rec["list2_offset"] % 8 == 0


def test_a_list_item_beyond_64_bits_is_refused():
    with pytest.raises(ProtocolError, match="record_sizes items must be 64-bit signed integers"):
        encode(*SETUP, step(4, "align_reserved_log", area="a", record_sizes=(1 << 63,)))


def test_a_container_set_of_1_to_2048_travels_and_0_or_2049_is_refused():
    assert step_record(encode(LOG, step(2, "add_container_set", log="l", count=1, size=1)), 1)["arg"][0] == 1
    with pytest.raises(ProtocolError, match="count 0 is outside the driver's range of 1 to 2048 containers per set"):
        encode(LOG, step(2, "add_container_set", log="l", count=0, size=1))
    assert step_record(encode(LOG, step(2, "add_container_set", log="l", count=2048, size=1)), 1)["arg"][0] == 2048
    with pytest.raises(ProtocolError, match="count 2049 is outside the driver's range of 1 to 2048 containers per set"):
        encode(LOG, step(2, "add_container_set", log="l", count=2049, size=1))


@pytest.mark.parametrize("value, stored", [(0, 0), (0xFFFF_FFFF, 0xFFFF_FFFF)])
def test_unsigned_32_bit_arguments_take_their_whole_range(value, stored):
    data = encode(LOG, step(2, "add_container_set", log="l", count=2, size=1),
                  step(3, "create_marshalling_area", name="a", log="l", buffer_size=value))
    assert step_record(data, 2)["arg"][1] == stored


@pytest.mark.parametrize("value", [-1, 1 << 32, True, "4096"])
def test_unsigned_32_bit_arguments_refuse_what_does_not_fit(value):
    with pytest.raises(ProtocolError, match=r"buffer_size must be an integer in \[0, 4294967295\]"):
        encode(LOG, step(2, "create_marshalling_area", name="a", log="l", buffer_size=value))


def test_a_negative_adjustment_travels_as_a_signed_64_bit_value():
    data = encode(*SETUP, step(4, "alloc_reserved_log", area="a", records=1, adjustment=-512))
    assert step_record(data, 3)["value"] == -512
    data = encode(*SETUP, step(4, "alloc_reserved_log", area="a", records=1, adjustment=-(1 << 63)))
    assert step_record(data, 3)["value"] == -(1 << 63)
    for bad in (-(1 << 63) - 1, 1 << 64, 1.5, True):
        with pytest.raises(ProtocolError, match="adjustment must be a 64-bit integer"):
            encode(*SETUP, step(4, "alloc_reserved_log", area="a", records=1, adjustment=bad))


def test_an_lsn_above_2_63_keeps_its_bits():
    data = encode(*SETUP, step(4, "flush_to_lsn", area="a", lsn=(1 << 63) + 5))
    assert step_record(data, 3)["value"] == -(1 << 63) + 5
    assert step_record(data, 3)["value_reg"] == wire.NO_REG


def test_a_saved_value_is_sent_as_its_register():
    data = encode(*SETUP, step(4, "align_reserved_log", area="a", record_sizes=(1,), save={"x": "aligned_size"}),
                  step(5, "reserve_and_append", area="a", records=(1,), save={"y": "lsn"}),
                  step(6, "flush_to_lsn", area="a", lsn=SavedRef("y")))
    assert header(data)["reg_count"] == 2
    assert step_record(data, 5)["value_reg"] == 1 and step_record(data, 5)["value"] == 0
    rec = step_record(data, 4)
    assert rec["save_count"] == 1
    assert struct.unpack_from("<HH", payload(data), rec["save_offset"]) == (0, 1)


def test_the_flags_of_a_step_follow_its_expectation_and_callbacks():
    data = encode(LOG, step(2, "add_container_set", log="l", count=2, size=1, stop=False),
                  step(3, "create_marshalling_area", name="a", log="l", buffer_size=1, free_callback=True))
    assert step_record(data, 1)["flags"] == 0
    assert step_record(data, 2)["flags"] == wire.STEP_STOP_ON_FAILURE | wire.STEP_FREE_CALLBACK


def test_append_flags_are_or_ed_together():
    data = encode(*SETUP, step(4, "reserve_and_append", area="a", records=(1,),
                               flags=("force_flush", "use_reservation")))
    assert step_record(data, 3)["arg"][0] == wire.APPEND_FLAG_CODES["force_flush"] | \
        wire.APPEND_FLAG_CODES["use_reservation"]
    with pytest.raises(ProtocolError, match="unknown flag 'sometimes'"):
        encode(*SETUP, step(4, "reserve_and_append", area="a", records=(1,), flags=("sometimes",)))


def test_an_unknown_enumeration_value_is_refused():
    with pytest.raises(ProtocolError, match="disposition 'supersede' is not one of"):
        encode(step(1, "create_log", name="l", disposition="supersede"))


def test_a_case_takes_max_steps_and_max_slots_and_not_one_more():
    close = [step(i, "query_log_info", log="l") for i in range(2, wire.MAX_STEPS + 1)]
    assert header(encode(LOG, *close))["step_count"] == wire.MAX_STEPS
    with pytest.raises(ProtocolError, match=f"{wire.MAX_STEPS + 1} steps, at most {wire.MAX_STEPS}"):
        encode(LOG, *close, step(wire.MAX_STEPS + 1, "close_log", log="l"))
    logs = [step(i, "create_log", name=f"l{i}") for i in range(1, wire.MAX_SLOTS + 1)]
    assert header(encode(*logs))["slot_count"] == wire.MAX_SLOTS
    with pytest.raises(ProtocolError, match=f"{wire.MAX_SLOTS + 1} objects, at most {wire.MAX_SLOTS}"):
        encode(*logs, step(wire.MAX_SLOTS + 1, "create_log", name="extra"))
    with pytest.raises(ProtocolError, match="a case needs at least one step"):
        encode()


def test_saved_values_are_limited_per_case_and_per_step():
    def saves(n, first=0):
        return {f"s{first + i}": "aligned_size" for i in range(n)}
    many = [step(4 + i, "align_reserved_log", area="a", record_sizes=(1,), save=saves(16, 16 * i))
            for i in range(4)]
    assert header(encode(*SETUP, *many))["reg_count"] == wire.MAX_REGS
    with pytest.raises(ProtocolError, match=f"{wire.MAX_REGS + 1} saved values, at most {wire.MAX_REGS}"):
        encode(*SETUP, *many, step(8, "align_reserved_log", area="a", record_sizes=(1,), save={"more": "aligned_size"}))
    with pytest.raises(ProtocolError, match=f"{wire.MAX_SAVES + 1} saves, at most {wire.MAX_SAVES}"):
        encode(*SETUP, step(4, "align_reserved_log", area="a", record_sizes=(1,), save=saves(wire.MAX_SAVES + 1)))


def test_an_expected_bugcheck_code_travels_in_the_header():
    h = header(encode(step(1, "create_log", "dispatch", name="l"), expect_bugcheck=0xC4))
    assert h["flags"] == wire.REQ_EXPECT_BUGCHECK and h["expected_bugcheck"] == 0xC4
    h = header(encode(LOG))
    assert h["flags"] == 0 and h["expected_bugcheck"] == 0


# ---- responses ---------------------------------------------------------------------------------

RS = wire.STEP_RESULT.size


def result(index, op, *, status=0, irql=0, disposition=wire.DISP_RAN, context="passive", mask=0, outputs=(),
           elapsed=5) -> bytes:
    values = list(outputs) + [0] * (wire.MAX_OUTPUTS - len(outputs))
    return struct.pack(wire.STEP_RESULT.fmt, index, wire.OP_CODES[op], disposition, wire.CONTEXT_CODES[context],
                       status, irql, b"\0\0\0", mask, 0, elapsed, *values)


def response(results: list[bytes], *, flags=wire.RESP_MODEL, bugcheck=0, bugcheck_step=0, cleanup=(0,) * 10,
             reject=0, reject_step=0) -> bytes:
    n = len(results)
    size = wire.response_size(n)
    head = struct.pack(wire.RESP_HEADER.fmt, wire.RESP_MAGIC, wire.PROTO_VERSION, wire.RESP_HEADER.size, size,
                       reject, reject_step, n, RS, wire.CLEANUP.size, wire.RESP_HEADER.size,
                       wire.RESP_HEADER.size + n * RS, flags, bugcheck, bugcheck_step)
    return head + b"".join(results) + struct.pack(wire.CLEANUP.fmt, *cleanup)


ALIGN = case([step(1, "align_reserved_log", area="a", record_sizes=(1,))])
ALLOC = case([step(1, "alloc_reserved_log", area="a", records=1, adjustment=0)])


def decode(data, c=ALIGN, target="model"):
    return decode_response(data, c, target=target)


def test_a_negative_adjustment_is_decoded_as_negative_not_as_a_huge_number():
    r = decode(response([result(1, "alloc_reserved_log", mask=1, outputs=[(1 << 64) - 512])]), ALLOC)
    assert r.steps[0].outputs == {"adjustment": -512}
    r = decode(response([result(1, "alloc_reserved_log", mask=1, outputs=[1 << 63])]), ALLOC)
    assert r.steps[0].outputs == {"adjustment": -(1 << 63)}
    r = decode(response([result(1, "alloc_reserved_log", mask=1, outputs=[(1 << 63) - 1])]), ALLOC)
    assert r.steps[0].outputs == {"adjustment": (1 << 63) - 1}


def test_unsigned_outputs_keep_their_high_bit():
    c = case([step(1, "reserve_and_append", area="a", records=(1,))])
    r = decode(response([result(1, "reserve_and_append", mask=1, outputs=[(1 << 64) - 1])]), c)
    top = (1 << 64) - 1
    # The LSN keeps all 64 bits, and so do its parts (ClfsLsnContainer/BlockOffset/RecordSequence).
    assert r.steps[0].outputs == {"lsn": top, "lsn_container": 0xFFFF_FFFF, "lsn_block_offset": 0xFFFF_FE00,
                                  "lsn_record_sequence": 0x1FF}


def test_only_the_outputs_the_mask_marks_are_reported():
    c = case([step(1, "delete_marshalling_area", area="a")])
    r = decode(response([result(1, "delete_marshalling_area", mask=0b101, outputs=[3, 0, 2])]), c)
    assert r.steps[0].outputs == {"alloc_calls": 3, "free_calls": 2}


def test_a_clean_response_decodes_every_field():
    r = decode(response([result(1, "align_reserved_log", status=0x103, irql=1, context="passive", mask=1,
                                outputs=[512], elapsed=77)], cleanup=(1, 2, 3, 4, 5, 6, 7, 8, 9, 0)), target="vm")
    s = r.steps[0]
    assert (s.index, s.op, s.disposition, s.status, s.irql, s.context, s.elapsed_us) == \
        (1, "align_reserved_log", RAN, 0x103, 1, "passive", 77)
    assert s.outputs == {"aligned_size": 512}
    c = r.cleanup
    assert (c.logs_closed, c.areas_deleted, c.reservations_freed, c.containers_removed, c.failures,
            c.alloc_calls, c.free_calls, c.reads_terminated, c.clients_deregistered) == (1, 2, 3, 4, 5, 6, 7, 8, 9)
    assert r.target == "vm" and r.identity == {"target": "vm", "model": True}
    assert r.bugcheck is None and r.bugcheck_step is None and r.stopped is False


def test_a_response_without_the_model_flag_is_not_labelled_a_model_result():
    r = decode(response([result(1, "align_reserved_log")], flags=0), target="windows")
    assert r.identity == {"target": "windows", "model": False}


def test_the_stopped_flag_is_reported_and_only_when_set():
    c = case([step(1, "align_reserved_log", area="a", record_sizes=(1,)),
              step(2, "align_reserved_log", area="a", record_sizes=(1,))])
    stopped = response([result(1, "align_reserved_log", status=0xC000000D),
                        result(2, "align_reserved_log", disposition=wire.DISP_NOT_RUN, elapsed=0)],
                       flags=wire.RESP_MODEL | wire.RESP_STOPPED)
    r = decode(stopped, c)
    assert r.stopped is True and [s.disposition for s in r.steps] == [RAN, NOT_RUN]
    assert decode(response([result(1, "align_reserved_log")]), ALIGN).stopped is False


def test_a_step_whose_input_is_missing_decodes_as_such():
    r = decode(response([result(1, "align_reserved_log", disposition=wire.DISP_INPUT_MISSING, elapsed=0)]))
    assert r.steps[0].disposition == INPUT_MISSING


def test_a_bugcheck_from_a_target_that_is_not_the_model_is_refused():
    data = response([result(1, "align_reserved_log")], flags=0, bugcheck=0xA, bugcheck_step=1)
    with pytest.raises(ProtocolError, match="bugcheck field set by a non-model target"):
        decode(data, target="windows")


def test_a_model_bugcheck_is_reported_with_its_step():
    r = decode(response([result(1, "align_reserved_log")], bugcheck=0xA, bugcheck_step=1))
    assert (r.bugcheck, r.bugcheck_step) == (0xA, 1)


@pytest.mark.parametrize("bugcheck, at", [(0xA, 0), (0, 1), (0xA, 2)])
def test_a_bugcheck_without_its_step_or_beyond_the_last_step_is_refused(bugcheck, at):
    with pytest.raises(ProtocolError, match=f"bugcheck 0x{bugcheck:X} at step {at}"):
        decode(response([result(1, "align_reserved_log")], bugcheck=bugcheck, bugcheck_step=at))


def test_the_highest_irql_is_accepted_and_one_above_is_garbage():
    assert decode(response([result(1, "align_reserved_log", irql=31)])).steps[0].irql == 31
    with pytest.raises(ProtocolError, match="step 1: IRQL 32"):
        decode(response([result(1, "align_reserved_log", irql=32)]))


def test_a_step_that_did_not_run_may_not_carry_results():
    for field in ({"status": 1}, {"irql": 1}, {"elapsed": 1}):
        kw = {"elapsed": 0, **field}
        with pytest.raises(ProtocolError, match="a step that did not run carries results"):
            decode(response([result(1, "align_reserved_log", disposition=wire.DISP_NOT_RUN, **kw)]))
    with pytest.raises(ProtocolError, match="a step that did not run carries results"):
        decode(response([result(1, "align_reserved_log", disposition=wire.DISP_NOT_RUN, elapsed=0, mask=1,
                                outputs=[1])]))


def test_a_warning_status_may_carry_outputs_but_an_error_may_not():
    r = decode(response([result(1, "align_reserved_log", status=0x40000005, mask=1,
                                outputs=[1])]))
    assert r.steps[0].outputs == {"aligned_size": 1}
    with pytest.raises(ProtocolError, match="outputs on a failed step"):
        decode(response([result(1, "align_reserved_log", status=0x80000005, mask=1, outputs=[1])]))


def test_an_output_mask_beyond_the_ops_outputs_is_refused():
    with pytest.raises(ProtocolError, match="output mask 0x2 names outputs align_reserved_log does not have"):
        decode(response([result(1, "align_reserved_log", mask=0b10, outputs=[0, 1])]))


def test_a_refusal_names_the_reason_and_the_step():
    with pytest.raises(RequestRejected, match=r"driver refused the request at step 1: bad context") as info:
        decode(response([], reject=15, reject_step=1))
    assert (info.value.code, info.value.step) == (15, 1)
    with pytest.raises(RequestRejected, match=r"driver refused the request: code 99$"):
        decode(response([], reject=99))
    with pytest.raises(RequestRejected, match=r"refused the request: protocol version mismatch$"):
        decode(response([], reject=3))


def test_a_refusal_must_not_carry_results_or_a_step_beyond_the_case():
    with pytest.raises(ProtocolError, match="refusal 3 with 0 results, step 2"):
        decode(response([], reject=3, reject_step=2))
    with pytest.raises(ProtocolError, match="refusal 3 with 1 results, step 0"):
        decode(response([result(1, "align_reserved_log")], reject=3))
    with pytest.raises(RequestRejected):
        decode(response([], reject=3, reject_step=1))


def test_reject_step_on_an_accepted_request_is_refused():
    with pytest.raises(ProtocolError, match="reject_step set on an accepted request"):
        decode(response([result(1, "align_reserved_log")], reject_step=1))


def test_every_known_flag_is_accepted_and_an_unknown_one_refused():
    decode(response([result(1, "align_reserved_log")], flags=wire.RESP_FLAGS_ALL))
    with pytest.raises(ProtocolError, match="unknown flags 0x00000004"):
        decode(response([result(1, "align_reserved_log")], flags=4))


def test_bad_header_sizes_are_each_refused():
    good = response([result(1, "align_reserved_log")])
    decode(good)
    for offset, fmt, value in ((6, "<H", 40), (24, "<H", RS + 8), (26, "<H", 32)):
        bad = bytearray(good)
        struct.pack_into(fmt, bad, offset, value)
        with pytest.raises(ProtocolError, match="record sizes"):
            decode(bytes(bad))
    bad = bytearray(good)
    struct.pack_into("<I", bad, wire.RESP_HEADER.offsets()["cleanup_offset"], wire.RESP_HEADER.size + RS + 8)
    with pytest.raises(ProtocolError, match="do not follow the layout"):
        decode(bytes(bad))


def test_a_short_response_names_its_length():
    with pytest.raises(ProtocolError, match=f"bad response: 10 bytes, shorter than the {wire.RESP_HEADER.size}-byte"):
        decode(b"\0" * 10)
    with pytest.raises(ProtocolError, match="shorter than"):
        decode(b"")
    decode(bytearray(response([result(1, "align_reserved_log")])))  # any bytes-like object


def test_a_payload_of_exactly_256_kib_travels_and_one_more_piece_is_refused():
    # 254 appends with two full lists (1 KiB), 32 of them also saving 16 values (64 bytes):
    # 254 * 1024 + 32 * 64 = 262144 bytes, the driver's payload limit, to the byte.
    area = [step(1, "create_log", name="l", path=None), step(2, "create_marshalling_area", name="a", log="l",
                                                              buffer_size=4096)]
    saves = {f"s{i}": "lsn" for i in range(16)}
    appends = [step(3 + i, "reserve_and_append", area="a", records=(8,) * 64, reservations=(8,) * 64,
                    save=saves if i < 32 else None) for i in range(254)]
    h = header(encode(*area, *appends))
    assert h["payload_size"] == wire.MAX_PAYLOAD == 262144
    area[0] = step(1, "create_log", name="l", path="x")
    with pytest.raises(ProtocolError, match=r"payload of 262152 bytes exceeds 262144"):
        encode(*area, *appends)


def test_an_lsn_of_exactly_2_63_travels_as_its_bits():
    data = encode(*SETUP, step(4, "flush_to_lsn", area="a", lsn=1 << 63),
                  step(5, "flush_to_lsn", area="a", lsn=(1 << 64) - 1))
    assert step_record(data, 3)["value"] == -(1 << 63)
    assert step_record(data, 4)["value"] == -1


def test_each_path_starts_on_a_utf16_boundary_where_its_step_says():
    data = encode(step(1, "create_log", name="a", path="x"),
                  step(2, "create_log", name="b", path="yz"),
                  step(3, "create_log", name="c", path="w"))
    texts = []
    for i in range(3):
        rec = step_record(data, i)
        assert rec["str_offset"] % 2 == 0
        texts.append(payload(data)[rec["str_offset"]:rec["str_offset"] + rec["str_bytes"]].decode("utf-16-le"))
    assert texts == ["x", "yz", "w"]
    assert [step_record(data, i)["str_offset"] for i in range(3)] == [0, 2, 6]


def test_a_refusal_code_beyond_the_known_ones_is_shown_as_a_number():
    n = len(wire.REJECT_NAMES)
    with pytest.raises(RequestRejected, match=f"driver refused the request: code {n}$"):
        decode(response([], reject=n))
    with pytest.raises(RequestRejected, match=f"refused the request: {wire.REJECT_NAMES[n - 1]}$"):
        decode(response([], reject=n - 1))


def test_the_raw_response_is_kept_as_bytes_whatever_it_came_in():
    data = response([result(1, "align_reserved_log")])
    r = decode(bytearray(data))
    assert type(r.response) is bytes and r.response == data


def test_a_bare_header_is_judged_by_its_sizes_not_as_short():
    data = response([result(1, "align_reserved_log")])[:wire.RESP_HEADER.size]
    with pytest.raises(ProtocolError, match=f"total_size {wire.response_size(1)} but {wire.RESP_HEADER.size} bytes"):
        decode(data)


def test_a_hand_built_step_the_wire_cannot_name_is_refused_with_its_place():
    bad_op = dataclasses.replace(LOG, op="create_logs")
    with pytest.raises(ProtocolError, match=r"step 1 \(create_logs\): unknown op"):
        encode_request(dataclasses.replace(case([LOG]), steps=(bad_op,)), scratch=SCRATCH)
    bad_context = dataclasses.replace(LOG, context="high")
    with pytest.raises(ProtocolError, match=r"step 1 \(create_log\): unknown context 'high'"):
        encode(bad_context)
    with pytest.raises(ProtocolError, match=r"step 1 \(create_log\): expected a string, got 5"):
        encode(step(1, "create_log", name="l", path=5))
    with pytest.raises(ProtocolError, match=r"step 4 \(align_reserved_log\): align_reserved_log has no output 'lsn'"):
        encode(*SETUP, step(4, "align_reserved_log", area="a", record_sizes=(1,), save={"x": "lsn"}))


def test_bytes_after_the_cleanup_record_are_refused():
    data = bytearray(response([result(1, "align_reserved_log")]) + bytes(8))
    struct.pack_into("<I", data, wire.RESP_HEADER.offsets()["total_size"], len(data))
    with pytest.raises(ProtocolError, match=f"total_size {len(data)}, expected {wire.response_size(1)}"):
        decode(bytes(data))


def test_a_set_of_expected_bugcheck_codes_sends_no_single_code():
    import harness.scenario.model as model
    c = dataclasses.replace(case([step(1, "create_log", "dispatch", name="l")]),
                            expect_bugcheck=model.BugcheckExpectation((0xA, 0xC4)))
    h = header(encode_request(c, scratch=SCRATCH))
    assert h["flags"] == wire.REQ_EXPECT_BUGCHECK and h["expected_bugcheck"] == 0


def test_create_marshalling_area_ex_carries_six_arguments_and_64_bit_flags():
    """ClfsCreateMarshallingAreaEx: the base routine's four scalars in arg[0..3], cAlignmentSize in
    arg[4] (past the old four-argument record) and the ULONGLONG fFlags whole in the 64-bit value, so
    a bit above 32 reaches CLFS; the callbacks as step flags, the unused args zero."""
    data = encode(LOG, step(2, "add_container_set", log="l", count=2, size=512 * 1024),
                  step(3, "create_marshalling_area_ex", name="a", log="l", pool="paged", buffer_size=8192,
                       max_write_buffers=3, max_read_buffers=2, alignment=4096, flags=(1 << 32) | 1,
                       alloc_callback=True, free_callback=True))
    rec = step_record(data, 2)
    assert rec["op"] == wire.OP_CODES["create_marshalling_area_ex"]
    assert rec["arg"] == (wire.POOL_CODES["paged"], 8192, 3, 2, 4096, 0, 0, 0)
    assert rec["value"] == (1 << 32) | 1 and rec["value_reg"] == wire.NO_REG
    assert rec["flags"] == wire.STEP_STOP_ON_FAILURE | wire.STEP_ALLOC_CALLBACK | wire.STEP_FREE_CALLBACK
    assert (rec["slot"], rec["slot2"]) == (1, 0)


# ---- a step result off in one field: the combined test lets none through, and each is refused
# ---- with the message the field-by-field checks give (decode._refuse_step, in their old order)

_AT = wire.STEP_RESULT.offsets()


@pytest.mark.parametrize("field, fmt, value, message", [
    ("index", "<I", 2, "result carries index 2"),
    ("op", "<H", wire.OP_CODES["create_log"], f"result for op {wire.OP_CODES['create_log']}, "
                                              f"expected align_reserved_log"),
    ("op", "<H", 0xFFFF, "result for op 65535, expected align_reserved_log"),
    ("disposition", "<B", 9, "unknown disposition 9"),
    ("context", "<B", wire.CONTEXT_CODES["dispatch"], f"context {wire.CONTEXT_CODES['dispatch']}, expected passive"),
    ("context", "<B", 99, "context 99, expected passive"),
    ("reserved0", "<B", 1, "reserved bytes not zero"),
    ("reserved1", "<I", 1, "reserved bytes not zero"),
    ("irql", "<B", 32, "IRQL 32"),
    ("output_mask", "<I", 0b10, "output mask 0x2 names outputs align_reserved_log does not have"),
])
def test_a_result_off_in_one_field_is_refused_naming_that_field(field, fmt, value, message):
    good = response([result(1, "align_reserved_log")])
    decode(good)
    bad = bytearray(good)
    struct.pack_into(fmt, bad, wire.RESP_HEADER.size + _AT[field], value)
    with pytest.raises(ProtocolError) as info:
        decode(bytes(bad))
    assert str(info.value) == f"bad response: step 1: {message}"


def test_the_last_byte_of_the_reserved_field_counts_too():
    bad = bytearray(response([result(1, "align_reserved_log")]))
    bad[wire.RESP_HEADER.size + _AT["reserved0"] + 2] = 0x80
    with pytest.raises(ProtocolError, match="^bad response: step 1: reserved bytes not zero$"):
        decode(bytes(bad))


def test_a_result_at_the_highest_irql_with_a_bad_mask_is_refused_for_its_mask():
    """IRQL 31 is allowed: a result that fails the combined test for its mask alone must not be
    refused for its IRQL (found by tools/mutation.py: `irql > _MAX_IRQL` -> `>=` in _refuse_step)."""
    with pytest.raises(ProtocolError) as info:
        decode(response([result(1, "align_reserved_log", irql=31, mask=0b10, outputs=[0, 1])]))
    assert str(info.value) == "bad response: step 1: output mask 0x2 names outputs align_reserved_log does not have"


def test_the_first_field_off_is_the_one_named():
    """Two fields off: the message names the first in the order the checks always had (index, op,
    context, disposition, reserved, IRQL, mask)."""
    both = result(2, "create_log", irql=32, mask=0b10, outputs=[0, 1])
    with pytest.raises(ProtocolError, match="^bad response: step 1: result carries index 2$"):
        decode(response([both]))
    with pytest.raises(ProtocolError, match="^bad response: step 1: result for op"):
        decode(response([result(1, "create_log", irql=32)]))
    with pytest.raises(ProtocolError, match="^bad response: step 1: IRQL 32$"):
        decode(response([result(1, "align_reserved_log", irql=32, mask=0b10, outputs=[0, 1])]))


def test_an_op_with_all_twelve_outputs_marked_skips_no_check_it_needs(monkeypatch):
    """No op has the wire's twelve outputs yet; when one does, a mask marking all twelve passes the
    unmarked-values check without looking, and a mask missing any one still looks (decode's
    shortcut, checked here with align_reserved_log given twelve outputs)."""
    from harness.protocol import decode as decode_module
    twelve = decode_module._OpOutputs("align_reserved_log")
    twelve.names = tuple(f"o{i}" for i in range(wire.MAX_OUTPUTS))
    twelve.count, twelve.signed, twelve.lsns = wire.MAX_OUTPUTS, frozenset(), frozenset()
    monkeypatch.setitem(decode_module._OUTPUTS, "align_reserved_log", twelve)
    values = list(range(1, wire.MAX_OUTPUTS + 1))
    full = (1 << wire.MAX_OUTPUTS) - 1
    r = decode(response([result(1, "align_reserved_log", mask=full, outputs=values)]))
    assert r.steps[0].outputs == {f"o{i}": i + 1 for i in range(wire.MAX_OUTPUTS)}
    for unmarked in (0, 5, wire.MAX_OUTPUTS - 1):
        with pytest.raises(ProtocolError, match="^bad response: step 1: values in outputs the mask does not mark$"):
            decode(response([result(1, "align_reserved_log", mask=full & ~(1 << unmarked), outputs=values)]))


# ---- requests: what the per-op plans of the encoder must keep (found by tools/mutation.py) -------

def _append(index, **args):
    return step(index, "reserve_and_append", area="a", **args)


def test_a_payload_of_1_to_max_blob_bytes_travels_and_none_or_one_more_is_refused():
    for text, size in (("x", 1), ("y" * wire.MAX_BLOB, wire.MAX_BLOB), ("hex:" + "ab" * wire.MAX_BLOB, wire.MAX_BLOB)):
        rec = step_record(encode(*SETUP, _append(4, payload=text)), 3)
        assert rec["blob_bytes"] == size and rec["list_count"] == 1
    for text, size in (("hex:", 0), ("", 0), ("z" * (wire.MAX_BLOB + 1), wire.MAX_BLOB + 1),
                       ("hex:" + "00" * (wire.MAX_BLOB + 1), wire.MAX_BLOB + 1)):
        with pytest.raises(ProtocolError) as info:
            encode(*SETUP, _append(4, payload=text))
        assert str(info.value) == (f"cannot encode request: step 4 (reserve_and_append): payload of {size} bytes: "
                                   f"give 1 to {wire.MAX_BLOB}")


def test_a_payload_and_write_entries_together_are_refused():
    with pytest.raises(ProtocolError) as info:
        encode(*SETUP, _append(4, payload="abc", records=(3,)))
    assert str(info.value) == "cannot encode request: step 4 (reserve_and_append): give payload or records, not both"


def test_payloads_are_packed_byte_after_byte_and_their_size_goes_where_the_op_reads_it():
    """A payload has no alignment: after a 3-byte restart area the next payload starts at the very
    next byte (and write_restart_area's size is the payload's length, whatever size says)."""
    data = encode(*SETUP, step(4, "write_restart_area", area="a", payload="abc", size=64),
                  _append(5, payload="hex:00ff"))
    area, append = step_record(data, 3), step_record(data, 4)
    at = area["blob_offset"]
    assert (area["blob_bytes"], area["arg"][3]) == (3, 3)
    assert (append["blob_offset"], append["blob_bytes"]) == (at + 3, 2)
    assert payload(data)[at:at + 5] == b"abc\x00\xff"


def test_a_saved_lsn_parameter_takes_only_a_saved_value():
    base = [*SETUP, _append(4, save={"first": "lsn"})]
    rec = step_record(encode(*base, _append(5, undo_next=SavedRef("first"), previous=SavedRef("first"))), 4)
    assert (rec["reg2"], rec["reg3"]) == (1, 1)   # register 0, plus one: 0 means "none"
    assert (step_record(encode(*base, _append(5)), 4)["reg2"], step_record(encode(*base, _append(5)), 4)["reg3"]) \
        == (0, 0)
    for bad in (5, SavedRef("never")):
        for param in ("undo_next", "previous"):
            with pytest.raises(ProtocolError) as info:
                encode(*base, _append(5, **{param: bad}))
            assert str(info.value) == (f"cannot encode request: step 5 (reserve_and_append): {param} takes a saved "
                                       f"LSN (${{name}}), got {bad!r}")


def test_a_boolean_argument_travels_as_0_or_1():
    for force, value in ((True, 1), (False, 0), (None, 0), (2, 1)):
        rec = step_record(encode(LOG, step(2, "remove_container", log="l", number=3, force=force)), 1)
        assert rec["arg"][:2] == (3, value)


def test_policy_args_of_any_other_op_are_none():
    from harness.protocol.encode import policy_args
    assert policy_args(LOG) == {}
    policy = step(2, "install_policy", log="l", type="maximum_size", containers=7, overwrite=True)
    assert set(policy_args(policy)) == {"policy_flags", "field1", "field2"}


def test_a_cut_seed_that_hashes_to_zero_is_sent_as_one():
    """0 would be no seed: a phase ending in a power cut always carries a nonzero one. The name
    below makes the seed's text hash to 0 (found by solving the CRC-32 for five bits of each of its
    last eight characters)."""
    import zlib

    from harness.protocol.encode import phase_header
    from harness.scenario.model import PhaseRole
    name = "cut-seed-]SUOBD@@"
    assert zlib.crc32(f"{name}[[]]#cut1".encode("utf-8")) == 0
    zero = dataclasses.replace(case([LOG], name=name), role=PhaseRole(1, "power_cut"))
    flags, seed = phase_header(zero)
    assert flags & wire.REQ_POWER_CUT and seed == 1
    plain = dataclasses.replace(case([LOG], name="cut-seed-plain"), role=PhaseRole(1, "power_cut"))
    assert phase_header(plain)[1] == zlib.crc32(b"cut-seed-plain[[]]#cut1") != 0
