"""The management ops (ClfsMgmt*) and fill_log as a scenario author meets them: how a policy's fields
travel, which fields a policy type takes, fill_log's outputs on the failure that ends it, a managed
client left registered, and the callbacks a full log causes (on the model target)."""

from __future__ import annotations

import struct

import pytest

from harness.errors import ProtocolError
from harness.protocol import decode_response, encode_request, wire
from harness.scenario.load import load_file
from harness.targets.model import ModelTarget
from tests.unit.protocol_cases import case, step, step_record

pytestmark = pytest.mark.timeout(20)

SCRATCH = "C:\\scratch"
LOG = [step(1, "create_log", name="l"), step(2, "add_container_set", log="l", count=2, size=512 * 1024)]


def record(data: bytes, i: int) -> dict:
    """Step record i by field name; ``arg`` holds the first four of its arguments (install_policy
    uses four: the others must be zero, which the interpreter checks)."""
    out = step_record(data, i)
    assert out["arg"][4:] == (0,) * (len(out["arg"]) - 4)
    out["arg"] = out["arg"][:4]
    return out


def policy_record(**args) -> tuple[dict, bytes]:
    data = encode_request(case(LOG + [step(3, "install_policy", log="l", **args)]), scratch=SCRATCH)
    return record(data, 2), data


def test_a_two_field_policy_fills_arg2_and_arg3_and_overwrite_or_flags_make_policy_flags():
    rec, _ = policy_record(type="growth_rate", absolute_growth=0, relative_growth_percentage=25,
                           overwrite=True, flags=0x100)
    assert rec["arg"] == (wire.POLICY_TYPE_CODES["growth_rate"], 0x101, 0, 25)
    rec, _ = policy_record(type="log_tail", minimum_available_containers=3)
    assert rec["arg"] == (4, 0, 0, 3)   # ClfsMgmtPolicyLogTail = 4; MinimumAvailableContainers is second


# Every policy type as the driver receives it: (PolicyType, PolicyFlags, first field, second field),
# the fields in the order _CLFS_MGMT_POLICY.md's PolicyParameters union gives them, the type numbered
# as CLFS_MGMT_POLICY_TYPE counts (_CLFS_MGMT_POLICY_TYPE.md, from 0). Distinct values, so a field
# sent in the wrong place shows.
POLICIES = [
    ({"type": "maximum_size", "containers": 11}, (0, 0, 11, 0)),
    ({"type": "minimum_size", "containers": 12}, (1, 0, 12, 0)),
    ({"type": "new_container_size", "size_in_bytes": 1 << 20}, (2, 0, 1 << 20, 0)),
    ({"type": "growth_rate", "absolute_growth": 13}, (3, 0, 13, 0)),
    ({"type": "growth_rate", "relative_growth_percentage": 14}, (3, 0, 0, 14)),
    ({"type": "log_tail", "minimum_available_percentage": 15}, (4, 0, 15, 0)),
    ({"type": "auto_shrink", "percentage": 16, "overwrite": True}, (5, 1, 16, 0)),
    ({"type": "auto_grow", "enabled": 1}, (6, 0, 1, 0)),
    ({"type": "new_container_prefix", "prefix": "C:\\logs\\c"}, (7, 0, 0, 0)),
    ({"type": "new_container_suffix", "next_suffix": 17}, (8, 0, 0, 0)),
    ({"type": "new_container_extension", "extension": "dat", "flags": 0x4}, (9, 4, 0, 0)),
    ({"type": "invalid"}, (10, 0, 0, 0)),
]


@pytest.mark.parametrize("args, sent", POLICIES, ids=[f"{a['type']}-{i}" for i, (a, _) in enumerate(POLICIES)])
def test_each_policy_type_reaches_the_driver_with_its_fields_in_place(args, sent):
    rec, _ = policy_record(**args)
    assert rec["arg"] == sent


def test_the_suffix_travels_in_the_value_and_a_prefix_or_extension_in_the_string():
    rec, _ = policy_record(type="new_container_suffix", next_suffix=(1 << 40) + 7)
    assert rec["arg"] == (8, 0, 0, 0) and rec["value"] == (1 << 40) + 7
    rec, data = policy_record(type="new_container_extension", extension="dat")
    start = wire.REQ_HEADER.size + 3 * wire.STEP.size + rec["str_offset"]
    assert data[start:start + rec["str_bytes"]].decode("utf-16-le") == "dat"
    assert rec["arg"] == (9, 0, 0, 0) and rec["value"] == 0


def test_policy_types_are_numbered_as_wdm_h_numbers_them():
    assert wire.POLICY_TYPE_CODES["maximum_size"] == 0
    assert wire.POLICY_TYPE_CODES["new_container_extension"] == 9
    assert wire.POLICY_TYPE_CODES["invalid"] == 10   # ClfsMgmtPolicyInvalid


def test_a_field_of_another_policy_type_is_refused_at_its_line(tmp_path):
    path = tmp_path / "x.scenario.yaml"
    path.write_text("name: p\ndescription: d\nsteps:\n  - create_log: {name: log}\n"
                    "  - install_policy: {log: log, type: maximum_size, percentage: 5}\n")
    cases, problems = load_file(path, file_id="x.scenario.yaml", display="x.scenario.yaml")
    assert cases == []
    assert len(problems) == 1
    assert "x.scenario.yaml:5:" in problems[0]
    assert "percentage: not a field of a maximum_size policy; it takes containers" in problems[0]


def _response(op: str, status: int, mask: int, outputs: list[int]) -> bytes:
    results = struct.pack(wire.STEP_RESULT.fmt, 1, wire.OP_CODES[op], wire.DISP_RAN, 0, status, 0, b"\0\0\0",
                          mask, 0, 0, *(outputs + [0] * (wire.MAX_OUTPUTS - len(outputs))))
    total = wire.response_size(1)
    head = struct.pack(wire.RESP_HEADER.fmt, wire.RESP_MAGIC, wire.PROTO_VERSION, wire.RESP_HEADER.size, total,
                       0, 0, 1, wire.STEP_RESULT.size, wire.CLEANUP.size, wire.RESP_HEADER.size,
                       wire.RESP_HEADER.size + wire.STEP_RESULT.size, wire.RESP_MODEL, 0, 0)
    return head + results + bytes(wire.CLEANUP.size)


def test_fill_log_reports_its_outputs_with_the_failure_that_ended_it_and_other_ops_may_not():
    full = 0xC01A001D   # STATUS_LOG_FULL
    fill = case([step(1, "fill_log", area="a")])
    result = decode_response(_response("fill_log", full, 0b101, [250, 0, 0]), fill, target="model")
    assert result.steps[0].status == full and result.steps[0].outputs["records"] == 250
    flush = case([step(1, "flush_to_lsn", area="a", lsn=1)])
    with pytest.raises(ProtocolError, match="outputs on a failed step"):
        decode_response(_response("flush_to_lsn", full, 0b1, [5]), flush, target="model")


@pytest.fixture
def model():
    target = ModelTarget()
    target.prepare()
    yield target
    target.close()


def test_a_client_left_registered_is_deregistered_by_cleanup_before_its_log_closes(model):
    r = model.execute(case(LOG + [step(3, "register_managed_client", name="c", log="l")]))
    assert [s.status for s in r.steps] == [0, 0, 0]
    assert r.cleanup.clients_deregistered == 1 and r.cleanup.logs_closed == 1 and r.cleanup.failures == 0


def test_a_full_log_asks_the_client_to_move_its_tail_and_a_failure_completes_with_the_reason(model):
    steps = LOG + [
        step(3, "register_managed_client", name="c", log="l"),
        step(4, "create_marshalling_area", name="a", log="l", buffer_size=65536),
        step(5, "fill_log", area="a", stop=False),
        step(6, "handle_log_file_full", "apc", client="c"),
        step(7, "handle_log_file_full", client="c", stop=False),
        step(8, "tail_advance_failure", client="c", reason=0xC0000001),
        step(9, "deregister_managed_client", client="c"),
    ]
    r = model.execute(case(steps))
    fill, pending, again, failure, dereg = r.steps[4:]
    assert fill.status == 0xC01A001D and fill.outputs["stopped_by"] == 0 and fill.outputs["records"] > 200
    assert pending.status == 0x103   # STATUS_PENDING
    assert pending.outputs["advance_tail_calls"] == 1 and pending.outputs["complete_calls"] == 0
    assert pending.outputs["callback_irql"] == 1, "the callback ran inside the apc step"
    assert pending.outputs["target_lsn"] == fill.outputs["last_lsn"]
    assert again.status == 0xC01A0026   # STATUS_LOG_FULL_HANDLER_IN_PROGRESS
    assert failure.outputs["complete_calls"] == 1 and failure.outputs["complete_status"] == 0xC0000001
    assert dereg.outputs["complete_calls"] == 1 and dereg.outputs["unpinned_calls"] == 0
    assert r.cleanup.clients_deregistered == 0


# ---- callback events in the response -----------------------------------------------------------

CLIENT_CASE = case(LOG + [step(3, "register_managed_client", name="c", log="l"),
                          step(4, "handle_log_file_full", client="c")])


def _events_response(n_steps: int, events: list[tuple], count: int | None = None) -> bytes:
    results = b"".join(struct.pack(wire.STEP_RESULT.fmt, i + 1, wire.OP_CODES[s.op], wire.DISP_RAN, 0, 0, 0,
                                   b"\0\0\0", 0, 0, 0, *([0] * wire.MAX_OUTPUTS))
                       for i, s in enumerate(CLIENT_CASE.steps[:n_steps]))
    body = b"".join(struct.pack(wire.EVENT.fmt, *e) for e in events)
    total = wire.response_size(n_steps) + len(body)
    head = struct.pack(wire.RESP_HEADER.fmt, wire.RESP_MAGIC, wire.PROTO_VERSION, wire.RESP_HEADER.size, total,
                       0, 0, n_steps, wire.STEP_RESULT.size, wire.CLEANUP.size, wire.RESP_HEADER.size,
                       wire.RESP_HEADER.size + n_steps * wire.STEP_RESULT.size, wire.RESP_MODEL, 0, 0)
    cleanup = struct.pack(wire.CLEANUP.fmt, *([0] * 9), len(events) if count is None else count)
    return head + results + cleanup + body


def test_callback_events_decode_in_order_with_step_irql_client_and_arguments():
    events = [(1, 1, 0, 0, 4, 0, 1, 0x1_0000_0200),            # advance tail during step 4 at APC_LEVEL
              (2, 0, wire.EV_PINNED, 0, 4, 0xC01A002C, 1, 0),   # growth complete, pinned, with its status
              (4, 0, wire.EV_LATE, 0, 0, 0, wire.NO_SLOT, 4096)]  # an allocation after its request ended
    r = decode_response(_events_response(4, events), CLIENT_CASE, target="model")
    first, second, third = r.events
    assert (first.kind, first.step, first.irql, first.client, first.arg) == ("advance_tail", 4, 1, "c", 0x1_0000_0200)
    assert (second.kind, second.status, second.pinned, second.client) == ("log_growth_complete", 0xC01A002C, True, "c")
    assert (third.kind, third.late, third.arg, third.client) == ("alloc_buffer", True, 4096, None)


@pytest.mark.parametrize("event, why", [
    ((9, 0, 0, 0, 1, 0, wire.NO_SLOT, 0), "unknown kind 9"),
    ((1, 0, 0, 0, 4, 0, 0, 0), "no managed client"),          # slot 0 is the log
    ((4, 0, 0, 0, 4, 0, 2, 0), "names slot 2"),                # an allocation names no client
    ((1, 0, 0, 0, 6, 0, 1, 0), "step 6 of 4"),                 # past the cleanup (steps + 1)
    ((1, 0, wire.EV_PINNED, 0, 4, 0, 1, 0), "pinned flag"),
    ((1, 0, 0x80, 0, 4, 0, 1, 0), "flags 0x80"),
])
def test_a_malformed_callback_event_is_refused_with_what_is_wrong(event, why):
    with pytest.raises(ProtocolError, match=why):
        decode_response(_events_response(4, [event]), CLIENT_CASE, target="model")


def test_more_events_than_the_driver_sends_or_a_count_that_disagrees_with_the_size_is_refused():
    with pytest.raises(ProtocolError, match="65 callback events, at most 64"):
        decode_response(_events_response(4, [], count=65), CLIENT_CASE, target="model")
    with pytest.raises(ProtocolError, match="total_size"):
        decode_response(_events_response(4, [], count=1), CLIENT_CASE, target="model")


def test_a_step_expecting_callbacks_counts_those_of_its_step_and_a_late_one_is_a_note(tmp_path):
    from harness.verdict.judge import judge
    path = tmp_path / "x.scenario.yaml"
    path.write_text("name: p\ndescription: d\nsteps:\n  - create_log: {name: l}\n"
                    "  - add_container_set: {log: l, count: 2, size: 512KiB}\n"
                    "  - register_managed_client: {name: c, log: l}\n"
                    "  - handle_log_file_full: {client: c}\n"
                    "    expect: {status: success, callbacks: {advance_tail: {ge: 1}, log_unpinned: 0}}\n")
    (c,), problems = load_file(path, file_id="x.scenario.yaml", display="x.scenario.yaml")
    assert problems == []
    during = (1, 0, 0, 0, 4, 0, 1, 5)
    elsewhere = (1, 0, 0, 0, 3, 0, 1, 5)
    late = (3, 0, wire.EV_LATE, 0, 4, 0, 1, 0)
    ok = judge(c, decode_response(_events_response(4, [during, late]), c, target="model"))
    assert ok.outcome == "PASS"
    assert any("log_unpinned arrived after its request ended" in n for n in ok.notes), ok.notes
    bad = judge(c, decode_response(_events_response(4, [elsewhere]), c, target="model"))
    assert bad.outcome == "FAIL"
    assert "callbacks advance_tail" in bad.diff() and ">= 1" in bad.diff()


def test_an_unknown_callback_kind_in_an_expectation_is_refused_at_its_line(tmp_path):
    path = tmp_path / "x.scenario.yaml"
    path.write_text("name: p\ndescription: d\nsteps:\n  - create_log: {name: l}\n"
                    "    expect: {status: success, callbacks: {advance_tale: 1}}\n")
    cases, problems = load_file(path, file_id="x.scenario.yaml", display="x.scenario.yaml")
    assert cases == [] and len(problems) == 1
    assert "unknown callback 'advance_tale'" in problems[0] and "advance_tail" in problems[0]


def test_as_many_events_as_the_driver_holds_decode_and_one_at_high_irql_or_in_the_cleanup_too():
    events = [(4, 0, 0, 0, 1, 0, wire.NO_SLOT, 64)] * (wire.MAX_EVENTS - 2)
    events += [(1, 31, 0, 0, 4, 0, 1, 7),                 # IRQL 31: the highest the decoder takes
               (5, 0, 0, 0, 5, 0, wire.NO_SLOT, 0)]       # step 5 of 4: during the request's cleanup
    r = decode_response(_events_response(4, events), CLIENT_CASE, target="model")
    assert len(r.events) == wire.MAX_EVENTS
    assert (r.events[-2].irql, r.events[-1].kind, r.events[-1].step) == (31, "free_buffer", 5)
    with pytest.raises(ProtocolError, match="callback event 1: IRQL 32"):
        decode_response(_events_response(4, [(1, 32, 0, 0, 4, 0, 1, 7)]), CLIENT_CASE, target="model")


def _judged(tmp_path, expect: str, events: list[tuple]):
    from harness.verdict.judge import judge
    path = tmp_path / "x.scenario.yaml"
    path.write_text("name: p\ndescription: d\nsteps:\n  - create_log: {name: l}\n"
                    "  - add_container_set: {log: l, count: 2, size: 512KiB}\n"
                    "  - register_managed_client: {name: c, log: l}\n"
                    f"  - handle_log_file_full: {{client: c}}\n    expect: {expect}\n")
    (c,), problems = load_file(path, file_id="x.scenario.yaml", display="x.scenario.yaml")
    assert problems == []
    return judge(c, decode_response(_events_response(4, events), c, target="model"))


def test_a_callback_count_is_exact_and_dropped_callbacks_are_a_note(tmp_path):
    during = (1, 0, 0, 0, 4, 0, 1, 5)
    one = _judged(tmp_path, "{status: success, callbacks: {advance_tail: 1}}", [during])
    assert one.outcome == "PASS", one.diff()
    assert not any(n.startswith("callback:") for n in one.notes)
    two = _judged(tmp_path, "{status: success, callbacks: {advance_tail: 1}}", [during, during])
    assert two.outcome == "FAIL" and "callbacks advance_tail" in two.diff()
    dropped = _judged(tmp_path, "success", [during, (6, 0, 0, 0, 4, 0, wire.NO_SLOT, 3)])
    assert "callback: 3 more callbacks than the response holds were counted, not listed" in dropped.notes
