"""Case -> request bytes (the layout of ``driver_src/include/clfstest_proto.h``).

Slots are numbered by ``Case.objects`` (creation order); registers by the order in which
``save:`` names first appear. Strings travel as UTF-16LE with ``${scratch}`` substituted;
integer lists as int64 arrays. The driver validates all of it again: this side refuses what
the wire cannot carry, with the step it is about.
"""

from __future__ import annotations

import struct

from harness.errors import ProtocolError
from harness.protocol import wire
from harness.scenario.model import Case, SavedRef, Step
from harness.scenario.ops import OPS

_HDR = struct.Struct(wire.REQ_HEADER.fmt)
_STEP = struct.Struct(wire.STEP.fmt)
_SAVE = struct.Struct(wire.SAVE.fmt)
_MASK64 = (1 << 64) - 1

# Per op: which param goes where. "value" is the 64-bit field (may be a register); "args" fill
# arg[0..]; "str" the string; "list"/"list2" the int64 lists; "slot"/"slot2" object slots.
_LAYOUT: dict[str, dict] = {
    "create_log": {"slot": "name", "str": "path", "args": ("disposition",)},
    "add_container": {"slot": "log", "value": "size", "str": "path"},
    "add_container_set": {"slot": "log", "value": "size", "args": ("count",)},
    "create_marshalling_area": {"slot": "name", "slot2": "log",
                                "args": ("pool", "buffer_size", "max_write_buffers", "max_read_buffers")},
    "align_reserved_log": {"slot": "area", "list": "record_sizes"},
    "alloc_reserved_log": {"slot": "area", "value": "adjustment", "args": ("records",)},
    "free_reserved_log": {"slot": "area", "value": "adjustment", "args": ("records",)},
    "reserve_and_append": {"slot": "area", "list": "records", "list2": "reservations", "args": ("flags",)},
    "flush_buffers": {"slot": "area"},
    "flush_to_lsn": {"slot": "area", "value": "lsn"},
    "delete_marshalling_area": {"slot": "area"},
    "close_log": {"slot": "log"},
    "delete_log": {"slot": "log"},
    "query_log_info": {"slot": "log", "args": ("info_class",)},
}
_ENUMS = {
    "disposition": wire.DISPOSITION_CODES,
    "pool": wire.POOL_CODES,
    "info_class": wire.INFO_CLASS_CODES,
}


def _fail(step: Step | None, message: str) -> ProtocolError:
    where = f"step {step.index} ({step.op}): " if step is not None else ""
    return ProtocolError(f"cannot encode request: {where}{message}")


class _Payload:
    def __init__(self) -> None:
        self.buf = bytearray()

    def add(self, data: bytes, align: int) -> int:
        pad = -len(self.buf) % align
        self.buf += b"\0" * pad
        off = len(self.buf)
        self.buf += data
        return off


def _u32(step: Step, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF_FFFF:
        raise _fail(step, f"{name} must be an integer in [0, 4294967295], got {value!r}")
    return value


def _arg_value(step: Step, name: str):
    value = step.args.get(name)
    if name in _ENUMS:
        code = _ENUMS[name].get(value)
        if code is None:
            raise _fail(step, f"{name} {value!r} is not one of {', '.join(_ENUMS[name])}")
        return code
    if name == "flags":
        bits = 0
        for flag in value or ():
            if flag not in wire.APPEND_FLAG_CODES:
                raise _fail(step, f"unknown flag {flag!r}")
            bits |= wire.APPEND_FLAG_CODES[flag]
        return bits
    return _u32(step, name, value)


def _string(step: Step, value: str, scratch: str) -> bytes:
    if not isinstance(value, str):
        raise _fail(step, f"expected a string, got {value!r}")
    text = value.replace("${scratch}", scratch)
    if "\0" in text:
        raise _fail(step, "a path may not contain NUL")
    data = text.encode("utf-16-le")
    if len(data) > wire.MAX_PATH_CHARS * 2:
        raise _fail(step, f"path longer than {wire.MAX_PATH_CHARS} UTF-16 units")
    return data


def _int_list(step: Step, name: str, values) -> bytes:
    values = tuple(values or ())
    if len(values) > wire.MAX_LIST:
        raise _fail(step, f"{name} has {len(values)} items, at most {wire.MAX_LIST}")
    try:
        return struct.pack(f"<{len(values)}q", *values)
    except struct.error:
        raise _fail(step, f"{name} items must be 64-bit signed integers") from None


def encode_request(case: Case, *, scratch: str) -> bytes:
    """Encode a checked Case as a request.

    Args:
        case: the case; its steps' args carry every default already.
        scratch: the guest scratch directory substituted for ``${scratch}`` in strings.
    Returns:
        The request bytes, ready for ``clfsctl run`` or the model.
    Raises:
        ProtocolError: the case does not fit the wire (too many steps, slots, registers, a list
            or path too long, a value out of range, a ``${saved}`` name no step saves).
    """
    if not case.steps:
        raise _fail(None, "a case needs at least one step")
    if len(case.steps) > wire.MAX_STEPS:
        raise _fail(None, f"{len(case.steps)} steps, at most {wire.MAX_STEPS}")
    slots = {name: i for i, name in enumerate(case.objects)}
    if len(slots) > wire.MAX_SLOTS:
        raise _fail(None, f"{len(slots)} objects, at most {wire.MAX_SLOTS}")
    regs: dict[str, int] = {}
    for step in case.steps:
        for saved in step.save:
            regs.setdefault(saved, len(regs))
    if len(regs) > wire.MAX_REGS:
        raise _fail(None, f"{len(regs)} saved values, at most {wire.MAX_REGS}")

    payload = _Payload()
    records = []
    record_bytes = 0
    for step in case.steps:
        records.append(_encode_step(step, slots, regs, payload, scratch))
        record_bytes += _record_bytes(step)
        if record_bytes > wire.MAX_REQUEST_RECORD_BYTES:
            raise _fail(step, f"records add up to {record_bytes} bytes, more than the "
                              f"{wire.MAX_REQUEST_RECORD_BYTES} one request may append")

    if len(payload.buf) > wire.MAX_PAYLOAD:
        raise _fail(None, f"payload of {len(payload.buf)} bytes exceeds {wire.MAX_PAYLOAD}")
    steps_offset = wire.REQ_HEADER.size
    payload_offset = steps_offset + len(records) * wire.STEP.size
    total = payload_offset + len(payload.buf)
    flags = wire.REQ_EXPECT_BUGCHECK if case.expect_bugcheck is not None else 0
    header = _HDR.pack(
        wire.REQ_MAGIC, wire.PROTO_VERSION, wire.REQ_HEADER.size, total, flags,
        len(records), wire.STEP.size, len(slots), steps_offset, payload_offset, len(payload.buf),
        len(regs), 0, _expected_code(case), 0, 0, 0, 0, 0,
    )
    return b"".join((header, *records, bytes(payload.buf)))


def _expected_code(case: Case) -> int:
    """The header's informational expected_bugcheck: the code when exactly one is expected, else 0."""
    expected = case.expect_bugcheck
    return (expected.single or 0) & 0xFFFF_FFFF if expected is not None else 0


def _record_bytes(step: Step) -> int:
    """Payload bytes of the one record a reserve_and_append step writes, within the driver's cap."""
    if step.op != "reserve_and_append":
        return 0
    total = sum(int(v) for v in step.args.get("records") or ())
    if total > wire.MAX_RECORD_BYTES:
        raise _fail(step, f"a record of {total} bytes, more than the driver's {wire.MAX_RECORD_BYTES} per record")
    return total


def _encode_step(step: Step, slots: dict, regs: dict, payload: _Payload, scratch: str) -> bytes:
    op = OPS.get(step.op)
    layout = _LAYOUT.get(step.op)
    if op is None or layout is None:
        raise _fail(step, "unknown op")
    context = wire.CONTEXT_CODES.get(step.context)
    if context is None:
        raise _fail(step, f"unknown context {step.context!r}")
    args = step.args

    def slot_of(param: str | None) -> int:
        if param is None:
            return wire.NO_SLOT
        name = args.get(param)
        if name not in slots:
            raise _fail(step, f"object {name!r} is not among the case's objects")
        return slots[name]

    flags = wire.STEP_STOP_ON_FAILURE if step.stop_on_failure else 0
    if step.op == "create_marshalling_area":
        if args.get("alloc_callback"):
            flags |= wire.STEP_ALLOC_CALLBACK
        if args.get("free_callback"):
            flags |= wire.STEP_FREE_CALLBACK

    arg = [0, 0, 0, 0]
    for i, name in enumerate(layout.get("args", ())):
        arg[i] = _arg_value(step, name)
    if step.op == "add_container_set" and not 1 <= arg[0] <= wire.MAX_CONTAINER_SET:
        raise _fail(step, f"count {arg[0]} is outside the driver's range of 1 to {wire.MAX_CONTAINER_SET} "
                          f"containers per set")

    value, value_reg = 0, wire.NO_REG
    if "value" in layout:
        raw = args.get(layout["value"])
        if isinstance(raw, SavedRef):
            if raw.name not in regs:
                raise _fail(step, f"${{{raw.name}}} is not saved by any step")
            value_reg = regs[raw.name]
        elif isinstance(raw, bool) or not isinstance(raw, int) or not -(1 << 63) <= raw <= _MASK64:
            raise _fail(step, f"{layout['value']} must be a 64-bit integer, got {raw!r}")
        else:
            value = raw - (1 << 64) if raw >= (1 << 63) else raw

    str_offset = str_bytes = 0
    if "str" in layout and args.get(layout["str"]) is not None:
        data = _string(step, args[layout["str"]], scratch)
        if data:
            str_offset, str_bytes = payload.add(data, 2), len(data)

    lists = []
    for key in ("list", "list2"):
        if key in layout and args.get(layout[key]):
            data = _int_list(step, layout[key], args[layout[key]])
            lists += [payload.add(data, 8), len(data) // 8]
        else:
            lists += [0, 0]

    outputs = {name: i for i, name in enumerate(op.outputs)}
    save_offset = 0
    if step.save:
        if len(step.save) > wire.MAX_SAVES:
            raise _fail(step, f"{len(step.save)} saves, at most {wire.MAX_SAVES}")
        entries = b""
        for saved, output in step.save.items():
            if output not in outputs:
                raise _fail(step, f"{step.op} has no output {output!r}")
            entries += _SAVE.pack(outputs[output], regs[saved])
        save_offset = payload.add(entries, 4)

    return _STEP.pack(
        step.index, wire.OP_CODES[step.op], context, flags,
        slot_of(layout.get("slot")), slot_of(layout.get("slot2")), value_reg, len(step.save),
        *arg, value, str_offset, str_bytes, *lists, save_offset, 0, 0, 0,
    )
