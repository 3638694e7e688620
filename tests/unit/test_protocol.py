"""Encode/decode: the bytes of a request, round trips through the model, hostile responses."""

from __future__ import annotations

import struct

import pytest

from harness.errors import ProtocolError
from harness.protocol import RequestRejected, decode_response, encode_request, wire
from harness.protocol.results import INPUT_MISSING, NOT_RUN, RAN
from harness.scenario.model import SavedRef
from harness.targets.model import ModelTarget
from tests.unit.protocol_cases import case, lifecycle, step, step_record

SCRATCH = "C:\\scratch"


@pytest.fixture(scope="module")
def model():
    target = ModelTarget()
    target.prepare()
    yield target
    target.close()


def _header(data: bytes) -> dict:
    return dict(zip([n for n, _ in wire.REQ_HEADER.fields],
                    struct.unpack_from(wire.REQ_HEADER.fmt.replace("5I", "IIIII"), data)))


def test_request_layout():
    c = lifecycle()
    data = encode_request(c, scratch=SCRATCH)
    h = struct.unpack_from("<IHHIIIHHIIIHHI", data)
    magic, version, header_size, total, flags, count, step_size, slots, steps_off, payload_off, \
        payload_size, regs, _, bugcheck = h
    assert (magic, version, header_size, step_size) == (wire.REQ_MAGIC, wire.PROTO_VERSION, 64, 96)
    assert total == len(data) and count == 11 and slots == 2 and regs == 3 and flags == 0
    assert steps_off == 64 and payload_off == 64 + 11 * 96 and payload_off + payload_size == total
    s1 = step_record(data, 0)
    assert s1["op"] == wire.OP_CODES["create_log"] and s1["slot"] == 0 and s1["arg"][0] == 4
    path = data[payload_off + s1["str_offset"]: payload_off + s1["str_offset"] + s1["str_bytes"]]
    assert path.decode("utf-16-le") == "C:\\scratch/log"
    s3 = step_record(data, 2)
    assert s3["slot"] == 1 and s3["slot2"] == 0
    assert s3["flags"] == wire.STEP_STOP_ON_FAILURE | wire.STEP_ALLOC_CALLBACK | wire.STEP_FREE_CALLBACK
    assert s3["arg"] == (0, 4096, 0xFFFFFFFF, 4, 0, 0, 0, 0)   # unused args travel as zeros
    s5 = step_record(data, 4)
    assert s5["value_reg"] == 0 and s5["value"] == 0 and s5["arg"][0] == 2
    s6 = step_record(data, 5)
    assert s6["arg"][0] == wire.APPEND_FLAG_CODES["use_reservation"] and s6["list_count"] == 2


def test_bugcheck_flag_and_u64_values():
    c = case([step(1, "create_log", "dispatch", name="l"),
              step(2, "add_container", log="l", size=0xFFFF_FFFF_FFFF_FFFF)], expect_bugcheck=0xA)
    data = encode_request(c, scratch=SCRATCH)
    assert struct.unpack_from("<I", data, 12)[0] == wire.REQ_EXPECT_BUGCHECK
    assert struct.unpack_from("<I", data, 40)[0] == 0xA
    assert step_record(data, 1)["value"] == -1


@pytest.mark.parametrize("bad, message", [
    (lambda: case([step(1, "create_log", name="l"),
                   step(2, "flush_to_lsn", area="a", lsn=5)]), "not among"),
    (lambda: case([step(1, "create_log", name="l", path="x" * 600)]), "longer than 512"),
    (lambda: case([step(1, "create_log", name="l", path="a\0b")]), "NUL"),
    (lambda: case([step(1, "create_log", name="l"),
                   step(2, "align_reserved_log", area="l", record_sizes=tuple(range(65)))]), "65 items"),
    (lambda: case([step(1, "create_log", name="l"),
                   step(2, "add_container_set", log="l", count=3000, size=1)]), "range of 1 to 2048"),
    (lambda: case([step(1, "create_log", name="l"),
                   step(2, "add_container_set", log="l", count=0, size=1)]), "range of 1 to 2048"),
    (lambda: case([step(1, "create_log", name="l"),
                   step(2, "add_container_set", log="l", count=2, size=1),
                   step(3, "create_marshalling_area", name="a", log="l", buffer_size=512),
                   step(4, "reserve_and_append", area="a", records=(0xFFFF_FFFF,))]),
     r"step 4 \(reserve_and_append\): a record of 4294967295 bytes, more than the driver's 1048576"),
    (lambda: case([step(1, "create_log", name="l"),
                   step(2, "add_container_set", log="l", count=2, size=1),
                   step(3, "create_marshalling_area", name="a", log="l", buffer_size=512),
                   *(step(4 + i, "reserve_and_append", area="a", records=(1 << 20,)) for i in range(17))]),
     r"step 20 \(reserve_and_append\): records add up to 17825792 bytes"),
    (lambda: case([step(1, "create_lsn", block_offset=100)]), r"block_offset 100 is not a multiple of 512"),
])
def test_encode_refuses_what_the_wire_cannot_carry(bad, message):
    with pytest.raises(ProtocolError, match=message):
        encode_request(bad(), scratch=SCRATCH)


def test_driver_refuses_a_record_over_its_cap(model):
    """The model runs the driver's own validation: an over-cap record never reaches an op."""
    good = case([step(1, "create_log", name="l"),
                 step(2, "add_container_set", log="l", count=2, size=1),
                 step(3, "create_marshalling_area", name="a", log="l", buffer_size=512),
                 step(4, "reserve_and_append", area="a", records=(16,))])
    data = bytearray(encode_request(good, scratch=SCRATCH))
    s4 = step_record(bytes(data), 3)
    payload = _header(bytes(data))["payload_offset"]
    struct.pack_into("<q", data, payload + s4["list_offset"], 0xFFFF_FFFF)   # what the encoder refuses
    with pytest.raises(RequestRejected, match="record payload too large"):
        decode_response(model.run_bytes(bytes(data)), good, target="model")


@pytest.mark.parametrize("arg, value", [(1, 100), (2, 512)])
def test_driver_refuses_lsn_parts_outside_clfslsncreate_range(model, arg, value):
    """ClfsLsnCreate.md: offBlock a multiple of 512, cRecord 0-511; the routine has no status, so the
    driver's interpreter refuses such parts before the call (on every target)."""
    good = case([step(1, "create_lsn", container=1, block_offset=512, record_sequence=3)])
    data = bytearray(encode_request(good, scratch=SCRATCH))
    assert decode_response(model.run_bytes(bytes(data)), good, target="model").steps[0].outputs["lsn"] \
        == 0x1_0000_0203
    s1 = step_record(bytes(data), 0)
    step_at = bytes(data).index(struct.pack("<%dI" % len(s1["arg"]), *s1["arg"]))   # the step's arg[] as sent
    struct.pack_into("<I", data, step_at + 4 * arg, value)        # what the encoder / checker refuse
    with pytest.raises(RequestRejected, match="argument"):
        decode_response(model.run_bytes(bytes(data)), good, target="model")


def test_unsaved_register_is_refused():
    c = case([step(1, "create_log", name="l"),
              step(2, "add_container_set", log="l", count=2, size=1),
              step(3, "create_marshalling_area", name="a", log="l", buffer_size=512),
              step(4, "flush_to_lsn", area="a", lsn=SavedRef("never"))])
    with pytest.raises(ProtocolError, match=r"\$\{never\} is not saved"):
        encode_request(c, scratch=SCRATCH)


def test_round_trip_lifecycle(model):
    c = lifecycle("apc")
    r = model.execute(c)
    assert r.target == "model" and r.identity["model"] is True
    assert [s.disposition for s in r.steps] == [RAN] * 11
    assert [s.status for s in r.steps] == [0] * 11
    assert [s.irql for s in r.steps] == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]
    aligned = r.steps[3].outputs["aligned_size"]
    assert aligned >= 300 and aligned % 512 == 0
    assert r.steps[4].outputs == {"adjustment": aligned}       # the saved value reached step 5
    assert r.steps[6].outputs["last_flushed_lsn"] > r.steps[5].outputs["lsn"]
    info = r.steps[7].outputs
    assert info["total_containers"] == 2 and info["container_size"] == 512 * 1024
    assert info["last_lsn"] == r.steps[5].outputs["lsn"]
    assert r.steps[8].outputs["alloc_calls"] == r.steps[8].outputs["free_calls"] >= 1
    assert r.cleanup.logs_closed == r.cleanup.areas_deleted == r.cleanup.failures == 0
    assert r.request.startswith(struct.pack("<I", wire.REQ_MAGIC))


def test_input_missing_and_not_run(model):
    c = case([step(1, "create_log", name="l"),
              step(2, "add_container", log="l", size=512 * 1024),
              step(3, "create_marshalling_area", name="a", log="l", buffer_size=512, stop=False),
              step(4, "align_reserved_log", area="a", record_sizes=(1,), save={"s": "aligned_size"}),
              step(5, "query_log_info", log="l")])
    r = model.execute(c)
    assert r.steps[2].status == 0xC01A0023  # STATUS_LOG_NOT_ENOUGH_CONTAINERS, request goes on
    assert r.steps[3].disposition == INPUT_MISSING and r.steps[3].status == 0
    assert r.steps[4].disposition == NOT_RUN and r.stopped
    assert r.cleanup.logs_closed == 1 and r.cleanup.containers_removed == 1


def test_signed_outputs_decode_negative(model):
    c = case([step(1, "create_log", name="l"),
              step(2, "add_container_set", log="l", count=2, size=1),
              step(3, "create_marshalling_area", name="a", log="l", buffer_size=512),
              step(4, "align_reserved_log", area="a", record_sizes=(10,)),
              step(5, "alloc_reserved_log", area="a", records=1, adjustment=-5, stop=False)])
    r = model.execute(c)
    assert r.steps[4].status == 0xC000000D and r.steps[4].outputs == {}


def test_dispatch_without_bugcheck_is_refused_by_the_driver(model):
    c = case([step(1, "create_log", "dispatch", name="l")])
    with pytest.raises(RequestRejected, match="step 1: bad context"):
        decode_response(model.run_bytes(encode_request(c, scratch=SCRATCH)), c, target="model")


def test_model_bugcheck_is_reported(model):
    c = case([step(1, "create_log", name="l"), step(2, "add_container", "dispatch", log="l", size=1),
              step(3, "close_log", log="l")], expect_bugcheck=0xA)
    r = model.execute(c)
    assert r.bugcheck == 0xA and r.bugcheck_step == 2
    assert r.steps[1].irql == 2 and r.steps[2].disposition == NOT_RUN


# ---- hostile responses ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good(model):
    c = lifecycle()
    return c, model.run_bytes(encode_request(c, scratch=SCRATCH))


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


R0 = wire.RESP_HEADER.size  # first step result
RS = wire.STEP_RESULT.size


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:40], "shorter than"),
    (lambda d: d[:-1], "total_size"),
    (lambda d: d + b"\0", "total_size"),
    (lambda d: _patch(d, 0, "<I", 0x12345678), "magic"),
    (lambda d: _patch(d, 4, "<H", wire.PROTO_VERSION + 1), "version"),
    (lambda d: _patch(d, 24, "<H", 120), "record sizes"),
    (lambda d: _patch(d, 36, "<I", 0x100), "unknown flags"),
    (lambda d: _patch(d, 20, "<I", 10), "10 step results"),
    (lambda d: _patch(d, 32, "<I", 999), "offsets"),
    (lambda d: _patch(d, 16, "<I", 3), "reject_step"),
    (lambda d: _patch(d, 40, "<I", 0xA), "bugcheck"),
    (lambda d: _patch(d, R0 + 0, "<I", 2), "index 2"),
    (lambda d: _patch(d, R0 + 4, "<H", 9), "op 9"),
    (lambda d: _patch(d, R0 + 6, "<B", 7), "disposition 7"),
    (lambda d: _patch(d, R0 + 7, "<B", 1), "context 1"),
    (lambda d: _patch(d, R0 + 12, "<B", 200), "IRQL 200"),
    (lambda d: _patch(d, R0 + 13, "<B", 1), "reserved"),
    (lambda d: _patch(d, R0 + 3 * RS + 16, "<I", 0x3), "output mask"),
    (lambda d: _patch(d, R0 + 3 * RS + 40, "<Q", 5), "mask does not mark"),
    (lambda d: _patch(d, R0 + 3 * RS + 8, "<I", 0xC0000001), "outputs on a failed step"),
    (lambda d: _patch(_patch(d, R0 + 10 * RS + 6, "<B", 2), R0 + 10 * RS + 24, "<Q", 1), "did not run"),
])
def test_bad_response_bytes_are_rejected(good, mutate, message):
    c, data = good
    decode_response(data, c, target="model")   # the original is fine
    with pytest.raises(ProtocolError, match=message):
        decode_response(mutate(data), c, target="model")


def test_response_for_another_case_is_rejected(good):
    _, data = good
    other = case([step(1, "create_log", name="l")])
    with pytest.raises(ProtocolError, match="1 steps"):
        decode_response(data, other, target="model")


def test_refusal_decodes_as_request_rejected(good):
    c, _ = good
    refusal = struct.pack(wire.RESP_HEADER.fmt, wire.RESP_MAGIC, wire.PROTO_VERSION, 48, 88, 3, 0, 0, 128, 40, 48, 48,
                          0, 0, 0) + bytes(40)
    with pytest.raises(RequestRejected, match="protocol version mismatch") as info:
        decode_response(refusal, c, target="vm")
    assert info.value.code == 3
