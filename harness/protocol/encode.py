"""Case -> request bytes (the layout of ``driver_src/include/clfstest_proto.h``).

Slots are numbered by ``Case.objects`` (creation order); registers by the order in which
``save:`` names first appear. Strings travel as UTF-16LE with ``${scratch}`` substituted;
integer lists as int64 arrays. The driver validates all of it again: this side refuses what
the wire cannot carry, with the step it is about.
"""

from __future__ import annotations

import struct
import zlib

from harness.errors import ProtocolError
from harness.protocol import wire
from harness.scenario.model import Case, SavedRef, Step
from harness.scenario.ops import INTERNAL_OPS, LOG_POLICY_OVERWRITE, POLICY_FIELDS, POLICY_U32_FIELDS, WIRE_OPS

_HDR = struct.Struct(wire.REQ_HEADER.fmt)
_STEP = struct.Struct(wire.STEP.fmt)
_SAVE = struct.Struct(wire.SAVE.fmt)
_MASK64 = (1 << 64) - 1


_ENUMS = {
    "mode": wire.MODE_CODES,
    "record_type": wire.RECORD_TYPE_CODES,
    "disposition": wire.DISPOSITION_CODES,
    "pool": wire.POOL_CODES,
    "info_class": wire.INFO_CLASS_CODES,
    "direction": wire.SCAN_MODE_CODES,
    "type": wire.POLICY_TYPE_CODES,
}
# A parameter name that means another enumeration in one op: the scan's mode is a CLFS_SCAN_MODE.
_OP_ENUMS = {("scan_containers", "mode"): wire.SCAN_MODE_CODES}


def policy_args(step: Step) -> dict:
    """install_policy's internal args: PolicyFlags (LOG_POLICY_OVERWRITE when ``overwrite``, OR-ed with
    the raw ``flags``) and the policy type's first two u32 fields (ops.POLICY_FIELDS), 0 when absent."""
    if step.op != "install_policy":
        return {}
    args = step.args
    fields = [f for f in POLICY_FIELDS.get(args.get("type"), ()) if f in POLICY_U32_FIELDS]
    values = [_u32(step, f, args[f]) if args.get(f) is not None else 0 for f in fields] + [0, 0]
    flags = _u32(step, "flags", args.get("flags") or 0) | (LOG_POLICY_OVERWRITE if args.get("overwrite") else 0)
    return {"policy_flags": flags, "field1": values[0], "field2": values[1]}


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


def _flag_bits(step: Step, value) -> int:
    bits = 0
    for flag in value or ():   # the one table of CLFS_FLAG_* values serves every flags param
        if flag not in wire.APPEND_FLAG_CODES:
            raise _fail(step, f"unknown flag {flag!r}")
        bits |= wire.APPEND_FLAG_CODES[flag]
    return bits


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


def payload_seed(case: Case) -> int:
    """The seed of a case's record payloads: stable for a case across runs and targets (a CRC-32
    of its name and matrix values), different between cases. Every append reports it back as its
    ``payload_seed`` output, so the results record it."""
    return zlib.crc32(case.name_with_params.encode("utf-8"))


# The ops whose records carry the burst's seed (append_burst writes them, read_burst checks them):
# one seed for every phase of a case, since the burst is read back in a later phase's request.
BURST_OPS = ("append_burst", "read_burst")


def burst_seed(case: Case) -> int:
    """The seed of a case's burst records: its name and matrix values without the phase."""
    return zlib.crc32(case.name_with_params.split("#phase", 1)[0].encode("utf-8"))


def payload_bytes(step: Step, text: str) -> bytes:
    """A ``payload:`` value: ``hex:00ff..`` gives bytes, anything else is UTF-8 text."""
    if text.startswith("hex:"):
        try:
            data = bytes.fromhex(text[4:])
        except ValueError:
            raise _fail(step, f"payload {text!r}: 'hex:' must be followed by pairs of hex digits") from None
    else:
        data = text.encode("utf-8")
    if not data or len(data) > wire.MAX_BLOB:
        raise _fail(step, f"payload of {len(data)} bytes: give 1 to {wire.MAX_BLOB}")
    return data


def encode_request(case: Case, *, scratch: str, deliberate_bugcheck: bool = False) -> bytes:
    """Encode a checked Case as a request.

    Args:
        case: the case; its steps' args carry every default already.
        scratch: the guest scratch directory substituted for ``${scratch}`` in strings.
        deliberate_bugcheck: the request may end with the internal ``bugcheck`` op (sets
            REQ_DELIBERATE_BUGCHECK); only harness.targets.bugcheck passes it.
    Returns:
        The request bytes, ready for ``clfsctl run`` or the model.
    Raises:
        ProtocolError: the case does not fit the wire (too many steps, slots, registers, a list
            or path too long, a value out of range, a ``${saved}`` name no step saves).
    """
    if case.restarts:
        raise _fail(None, f"the case has {len(case.restarts)} restart(s): one request per phase "
                          f"(harness.targets.phases.run_phases), never one for the whole case")
    if not case.steps:
        raise _fail(None, "a case needs at least one step")
    _check_internal(case, deliberate_bugcheck)
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
    seed = payload_seed(case)
    appends = 0
    record_bytes = 0
    for step in case.steps:
        internal = {"seed": burst_seed(case) if step.op in BURST_OPS else seed, "record_index": appends}
        if step.op == "install_policy":
            internal.update(policy_args(step))
        records.append(_encode_step(step, slots, regs, payload, scratch, internal))
        if _plan(step).appends:
            record_bytes += _record_bytes(step)
            if record_bytes > wire.MAX_REQUEST_RECORD_BYTES:
                raise _fail(step, f"records add up to {record_bytes} bytes, more than the "
                                  f"{wire.MAX_REQUEST_RECORD_BYTES} one request may append")
            appends += 1

    if len(payload.buf) > wire.MAX_PAYLOAD:
        raise _fail(None, f"payload of {len(payload.buf)} bytes exceeds {wire.MAX_PAYLOAD}")
    steps_offset = wire.REQ_HEADER.size
    payload_offset = steps_offset + len(records) * wire.STEP.size
    total = payload_offset + len(payload.buf)
    flags = wire.REQ_EXPECT_BUGCHECK if case.expect_bugcheck is not None else 0
    phase_flags, cut_seed = phase_header(case)
    if deliberate_bugcheck:
        flags |= wire.REQ_DELIBERATE_BUGCHECK
    header = _HDR.pack(
        wire.REQ_MAGIC, wire.PROTO_VERSION, wire.REQ_HEADER.size, total, flags | phase_flags,
        len(records), wire.STEP.size, len(slots), steps_offset, payload_offset, len(payload.buf),
        len(regs), 0, _expected_code(case), cut_seed, 0, 0, 0, 0,
    )
    return b"".join((header, *records, bytes(payload.buf)))


# Restarts the model simulates as a power cut: a bugcheck loses what a cut loses (what was not
# forced to stable storage); a clean shutdown flushes (the request's cleanup deletes its areas,
# and "Before deleting the marshalling area, ClfsDeleteMarshallingArea flushes all of the log
# I/O blocks", ClfsDeleteMarshallingArea.md).
CUT_RESTARTS = frozenset({"power_cut", "bugcheck"})


def phase_header(case: Case) -> tuple[int, int]:
    """The request flags and cut seed of a phase's request (0, 0 for a case of one phase).

    Every phase keeps the model's logs on its durable storage (DISK), the first starts it empty
    (DISK_NEW); a phase that ends in a restart keeps its logs (KEEP_LOGS), and one that ends in a
    cut has the model drop what is not stable, deterministically from the case's seed and the
    phase number (POWER_CUT, cut_seed).
    """
    role = case.role
    if role is None:
        return 0, 0
    flags = wire.REQ_DISK | (wire.REQ_DISK_NEW if role.number == 1 else 0)
    seed = 0
    if role.ends_with is not None:
        flags |= wire.REQ_KEEP_LOGS
    if role.ends_with in CUT_RESTARTS:
        flags |= wire.REQ_POWER_CUT | (wire.REQ_CUT_IN_STEP if role.cut_during else 0)
        seed = zlib.crc32(f"{case.scenario}[{sorted(case.params.items())}]#cut{role.number}".encode("utf-8")) or 1
    return flags, seed


def _check_internal(case: Case, deliberate_bugcheck: bool) -> None:
    """The internal ``bugcheck`` op only as the last step of a request that says it crashes on
    purpose (the driver refuses anything else too: this names the step first)."""
    for i, step in enumerate(case.steps):
        if step.op in INTERNAL_OPS:
            if not deliberate_bugcheck:
                raise _fail(step, "an internal op of the harness: only harness.targets.bugcheck sends it")
            if i != len(case.steps) - 1:
                raise _fail(step, "bugcheck must be the request's last step (nothing after it runs)")


def _expected_code(case: Case) -> int:
    """The header's informational expected_bugcheck: the code when exactly one is expected, else 0."""
    expected = case.expect_bugcheck
    return (expected.single or 0) & 0xFFFF_FFFF if expected is not None else 0


def _record_bytes(step: Step) -> int:
    """Payload bytes of the one record an append step writes, within the driver's cap."""
    total = sum(int(v) for v in step.args.get("records") or ())
    if total > wire.MAX_RECORD_BYTES:
        raise _fail(step, f"a record of {total} bytes, more than the driver's {wire.MAX_RECORD_BYTES} per record")
    return total


class _OpPlan:
    """What encoding a step of one op needs, worked out once per op from its one declaration,
    ``Op.wire`` (which param travels where: "value" the 64-bit field, a register when saved; "args"
    fill arg[0..]; the string; "list"/"list2" the int64 lists; "slot"/"slot2" object slots). The op
    table is fixed, so every step of the op reuses it; per step only the arguments' values are looked at."""

    __slots__ = ("code", "args", "appends", "size_at", "slot", "slot2", "value", "value_optional",
                 "strs", "blob", "lists", "regs", "outputs", "step_flags")

    def __init__(self, op) -> None:
        w = op.wire
        self.code = wire.OP_CODES[op.name]
        internal = _INTERNAL_ARGS | (_POLICY_ARGS if op.name == "install_policy" else frozenset())
        self.args = tuple((name, _arg_kind(op, name, internal)) for name in w.args)
        # Every op that writes a record carries its record index (the payload pattern's input).
        self.appends = "record_index" in w.args
        # An explicit payload's length goes to the "size" arg (the driver reads that many bytes).
        self.size_at = w.args.index("size") if w.blob is not None and "size" in w.args else None
        self.slot, self.slot2 = w.slot, w.slot2
        self.value = w.value
        self.value_optional = self.value is not None and not op.param(self.value).required
        self.strs = tuple(n for n in (w.str, *w.str_alts) if n is not None)
        self.blob = w.blob
        self.lists = tuple((key, param) for key, param in (("list", w.list), ("list2", w.list2)) if param is not None)
        self.regs = tuple((n, param) for n, param in enumerate((w.reg2, w.reg3)) if param is not None)
        self.outputs = {name: i for i, name in enumerate(op.outputs)}
        self.step_flags = tuple((param, wire.STEP_FLAG_CODES[flag]) for param, flag in w.step_flags)


_INTERNAL_ARGS = frozenset({"seed", "record_index"})
_POLICY_ARGS = frozenset({"policy_flags", "field1", "field2"})   # policy_args(): install_policy's only
_PLANS: dict[str, _OpPlan] = {}


def _arg_kind(op, name: str, internal: frozenset):
    """How arg ``name`` of ``op`` is encoded: "internal" (the harness's own value), an enum's
    table (name -> code), or the param's kind ("bool", "flags", or a u32 for anything else)."""
    if name in internal:
        return "internal"
    table = _OP_ENUMS.get((op.name, name), _ENUMS.get(name))
    if table is not None:
        return table
    kind = op.param(name).kind
    return kind if kind in ("bool", "flags") else "u32"


def _plan(step: Step) -> _OpPlan:
    plan = _PLANS.get(step.op)
    if plan is None:
        op = WIRE_OPS.get(step.op)
        if op is None:
            raise _fail(step, "unknown op")
        plan = _PLANS[step.op] = _OpPlan(op)
    return plan


def _encode_step(step: Step, slots: dict, regs: dict, payload: _Payload, scratch: str,
                 internal: dict) -> bytes:
    plan = _plan(step)
    context = wire.CONTEXT_CODES.get(step.context)
    if context is None:
        raise _fail(step, f"unknown context {step.context!r}")
    args = step.args

    flags = wire.STEP_STOP_ON_FAILURE if step.stop_on_failure else 0
    for param, bit in plan.step_flags:
        if args.get(param):
            flags |= bit

    arg = [0] * wire.STEP_ARGS
    for i, (name, kind) in enumerate(plan.args):
        if kind == "internal":
            arg[i] = internal[name]
        elif kind.__class__ is dict:
            code = kind.get(args.get(name))
            if code is None:
                raise _fail(step, f"{name} {args.get(name)!r} is not one of {', '.join(kind)}")
            arg[i] = code
        elif kind == "u32":
            arg[i] = _u32(step, name, args.get(name))
        elif kind == "bool":
            arg[i] = int(bool(args.get(name)))
        else:
            arg[i] = _flag_bits(step, args.get(name))
    if step.op == "add_container_set" and not 1 <= arg[0] <= wire.MAX_CONTAINER_SET:
        raise _fail(step, f"count {arg[0]} is outside the driver's range of 1 to {wire.MAX_CONTAINER_SET} "
                          f"containers per set")

    if step.op == "create_lsn" and arg[1] % 512:
        raise _fail(step, f"block_offset {arg[1]} is not a multiple of 512 (ClfsLsnCreate.md: offBlock \"must be "
                          f"a multiple of 512\")")
    has_blob, blob = plan.blob is not None and args.get(plan.blob) is not None, None
    if has_blob and plan.size_at is not None:
        blob = payload_bytes(step, args[plan.blob])
        arg[plan.size_at] = len(blob)

    value, value_reg = 0, wire.NO_REG
    if plan.value is not None:
        raw = args.get(plan.value)
        if raw is None and plan.value_optional:
            raw = 0   # an optional value left out (install_policy's next_suffix for other types)
        if isinstance(raw, SavedRef):
            if raw.name not in regs:
                raise _fail(step, f"${{{raw.name}}} is not saved by any step")
            value_reg = regs[raw.name]
        elif isinstance(raw, bool) or not isinstance(raw, int) or not -(1 << 63) <= raw <= _MASK64:
            raise _fail(step, f"{plan.value} must be a 64-bit integer, got {raw!r}")
        else:
            value = raw - (1 << 64) if raw >= (1 << 63) else raw

    str_offset = str_bytes = 0
    for name in plan.strs:
        if args.get(name) is not None:
            data = _string(step, args[name], scratch)
            if data:
                str_offset, str_bytes = payload.add(data, 2), len(data)
            break

    blob_offset = blob_bytes = 0
    list_values = {key: args.get(param) for key, param in plan.lists} if plan.lists else {}
    if has_blob:
        if blob is None:
            blob = payload_bytes(step, args[plan.blob])
        if plan.lists and plan.lists[0][0] == "list":
            if list_values.get("list"):
                raise _fail(step, f"give {plan.blob} or {plan.lists[0][1]}, not both")
            list_values["list"] = (len(blob),)   # the explicit payload is the record's one write entry
        blob_offset, blob_bytes = payload.add(blob, 1), len(blob)

    lists = [0, 0, 0, 0]
    for key, param in plan.lists:
        if list_values.get(key):
            data = _int_list(step, param, list_values[key])
            at = 0 if key == "list" else 2
            lists[at:at + 2] = payload.add(data, 8), len(data) // 8

    extra_regs = [0, 0]
    for n, param in plan.regs:
        raw = args.get(param)
        if raw is None:
            continue
        if isinstance(raw, SavedRef) and raw.name in regs:
            extra_regs[n] = regs[raw.name] + 1
        else:
            raise _fail(step, f"{param} takes a saved LSN (${{name}}), got {raw!r}")

    save_offset = 0
    if step.save:
        if len(step.save) > wire.MAX_SAVES:
            raise _fail(step, f"{len(step.save)} saves, at most {wire.MAX_SAVES}")
        entries = b""
        for saved, output in step.save.items():
            if output not in plan.outputs:
                raise _fail(step, f"{step.op} has no output {output!r}")
            entries += _SAVE.pack(plan.outputs[output], regs[saved])
        save_offset = payload.add(entries, 4)

    return _STEP.pack(
        step.index, plan.code, context, flags,
        _slot(step, slots, plan.slot), _slot(step, slots, plan.slot2), value_reg, len(step.save),
        *arg, value, str_offset, str_bytes, *lists, save_offset, blob_offset, blob_bytes, *extra_regs,
    )


def _slot(step: Step, slots: dict, param: str | None) -> int:
    if param is None:
        return wire.NO_SLOT
    name = step.args.get(param)
    if name not in slots:
        raise _fail(step, f"object {name!r} is not among the case's objects")
    return slots[name]
