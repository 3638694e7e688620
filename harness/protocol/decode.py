"""Response bytes -> CaseResult, checked field by field.

The bytes come from a guest (or a C process): every length, offset, enumeration and reserved
field is checked, and each result must answer the step the case asked for, in order. Anything
off raises ProtocolError; nothing is guessed.
"""

from __future__ import annotations

import struct

from harness.errors import ProtocolError
from harness.protocol import wire
from harness.scenario import lsn
from harness.protocol.results import (INPUT_MISSING, NOT_RUN, RAN, CallbackEvent, CaseResult, CleanupSummary,
                                      StepResult)
from harness.scenario.model import Case
from harness.scenario.ops import LSN_OUTPUTS, WIRE_OPS

_HDR = struct.Struct(wire.RESP_HEADER.fmt)
_RES = struct.Struct(wire.STEP_RESULT.fmt)
_CLEAN = struct.Struct(wire.CLEANUP.fmt)
_EVENT = struct.Struct(wire.EVENT.fmt)
_EVENTS_COUNT = struct.Struct("<I")
_EVENTS_AT = wire.CLEANUP.offsets()["events"]   # where the cleanup record says how many events follow
_DISPOSITIONS = {wire.DISP_RAN: RAN, wire.DISP_NOT_RUN: NOT_RUN, wire.DISP_INPUT_MISSING: INPUT_MISSING}
_MAX_IRQL = 31  # HIGH_LEVEL on x64 is 15; anything above 31 is garbage


class RequestRejected(ProtocolError):
    """The driver refused the request before running any step (``reject`` in the header)."""

    def __init__(self, code: int, step: int):
        self.code = code
        self.step = step
        reason = wire.REJECT_NAMES[code] if 0 <= code < len(wire.REJECT_NAMES) else f"code {code}"
        where = f" at step {step}" if step else ""
        super().__init__(f"driver refused the request{where}: {reason}")


def _bad(message: str) -> ProtocolError:
    return ProtocolError(f"bad response: {message}")


def decode_response(data: bytes, case: Case, *, target: str) -> CaseResult:
    """Decode and check a response to ``encode_request(case)``.

    Args:
        data: the response bytes as received.
        case: the case the request was made from (results must answer its steps).
        target: the target name recorded in the result (``model``, ``vm-linux``...).
    Returns:
        CaseResult with one StepResult per step. ``identity['model']`` is True when the model
        produced it; ``bugcheck``/``bugcheck_step`` carry a model-simulated bugcheck.
    Raises:
        RequestRejected: the driver refused the request (a ProtocolError).
        ProtocolError: the bytes are not a well-formed answer to this case.
    """
    data = bytes(data)
    if len(data) < _HDR.size:
        raise _bad(f"{len(data)} bytes, shorter than the {_HDR.size}-byte header")
    (magic, version, header_size, total_size, reject, reject_step, step_count, result_size,
     cleanup_size, results_offset, cleanup_offset, flags, bugcheck, bugcheck_step) = _HDR.unpack_from(data)
    if magic != wire.RESP_MAGIC:
        raise _bad(f"magic 0x{magic:08X}, expected 0x{wire.RESP_MAGIC:08X}")
    if version != wire.PROTO_VERSION:
        raise _bad(f"protocol version {version}, expected {wire.PROTO_VERSION}")
    if header_size != _HDR.size or result_size != _RES.size or cleanup_size != _CLEAN.size:
        raise _bad(f"record sizes {header_size}/{result_size}/{cleanup_size}, expected "
                   f"{_HDR.size}/{_RES.size}/{_CLEAN.size}")
    if total_size != len(data):
        raise _bad(f"total_size {total_size} but {len(data)} bytes received")
    if flags & ~wire.RESP_FLAGS_ALL:
        raise _bad(f"unknown flags 0x{flags:08X}")
    if reject:
        if step_count != 0 or reject_step > len(case.steps):
            raise _bad(f"refusal {reject} with {step_count} results, step {reject_step}")
        raise RequestRejected(reject, reject_step)
    if reject_step != 0:
        raise _bad("reject_step set on an accepted request")
    if step_count != len(case.steps):
        raise _bad(f"{step_count} step results for {len(case.steps)} steps")
    if results_offset != _HDR.size or cleanup_offset != results_offset + step_count * _RES.size:
        raise _bad(f"offsets {results_offset}/{cleanup_offset} do not follow the layout")
    (events,) = _EVENTS_COUNT.unpack_from(data, cleanup_offset + _EVENTS_AT) \
        if len(data) >= cleanup_offset + _CLEAN.size else (0,)
    if events > wire.MAX_EVENTS:
        raise _bad(f"{events} callback events, at most {wire.MAX_EVENTS}")
    expected = wire.response_size(step_count) + events * _EVENT.size
    if total_size != expected:
        raise _bad(f"total_size {total_size}, expected {expected}")
    model = bool(flags & wire.RESP_MODEL)
    if bugcheck and not model:
        raise _bad("bugcheck field set by a non-model target")
    if (bugcheck == 0) != (bugcheck_step == 0) or bugcheck_step > step_count:
        raise _bad(f"bugcheck 0x{bugcheck:X} at step {bugcheck_step}")

    steps = tuple(_decode_step(data, results_offset + i * _RES.size, step)
                  for i, step in enumerate(case.steps))
    cleanup = _decode_cleanup(data, cleanup_offset)
    names = _client_names(case)
    callbacks = tuple(_decode_event(data, cleanup_offset + _CLEAN.size + i * _EVENT.size, i, step_count, names)
                      for i in range(events))
    identity = {"target": target, "model": model}
    return CaseResult(target=target, steps=steps, cleanup=cleanup, identity=identity, events=callbacks,
                      response=data, bugcheck=bugcheck or None, bugcheck_step=bugcheck_step or None,
                      stopped=bool(flags & wire.RESP_STOPPED))


class _OpOutputs:
    """An op's outputs as a result carries them, worked out once per op: their names, which are
    signed, which are LSNs (reported decomposed too), and whether a failed step may carry them."""

    __slots__ = ("code", "names", "count", "signed", "lsns", "on_failure")

    def __init__(self, op_name: str) -> None:
        op = WIRE_OPS[op_name]
        self.code = wire.OP_CODES[op_name]
        self.names = op.outputs
        self.count = len(op.outputs)
        self.signed = frozenset(i for i, n in enumerate(op.outputs) if n in wire.SIGNED_OUTPUTS)
        self.lsns = frozenset(i for i, n in enumerate(op.outputs) if n in LSN_OUTPUTS)
        self.on_failure = op.outputs_on_failure


_OUTPUTS: dict[str, _OpOutputs] = {}
_ZERO3 = b"\0\0\0"


def _decode_step(data: bytes, offset: int, step) -> StepResult:
    (index, op, disposition, context, status, irql, reserved0, output_mask, reserved1,
     elapsed_us, *outputs) = _RES.unpack_from(data, offset)
    plan = _OUTPUTS.get(step.op)
    if plan is None:
        plan = _OUTPUTS[step.op] = _OpOutputs(step.op)
    # The common case in one test; anything off is looked at check by check below, for its message.
    if (index != step.index or op != plan.code or context != wire.CONTEXT_CODES.get(step.context)
            or disposition not in _DISPOSITIONS or reserved0 != _ZERO3 or reserved1 or irql > _MAX_IRQL
            or output_mask >> plan.count):
        _refuse_step(step, index, op, disposition, context, irql, reserved0, reserved1, output_mask)
    if any(map(outputs.__getitem__, _unmarked(output_mask, len(outputs)))):
        raise _bad(f"step {step.index}: values in outputs the mask does not mark")
    if disposition != wire.DISP_RAN and (status or irql or output_mask or elapsed_us):
        raise _bad(f"step {step.index}: a step that did not run carries results")
    if output_mask and status & 0x8000_0000 and not plan.on_failure:
        raise _bad(f"step {step.index}: outputs on a failed step")
    values = {}
    if output_mask:
        lsns = []
        for i, name in enumerate(plan.names):
            if (output_mask >> i) & 1:
                v = outputs[i]
                if i in plan.signed and v >= (1 << 63):
                    v -= 1 << 64
                values[name] = v
                if i in plan.lsns:
                    lsns.append(name)
        for name in lsns:
            values.update(lsn.decompose(name, values[name]))
    return StepResult(index, step.op, _DISPOSITIONS[disposition], status, irql, step.context, values, elapsed_us)


def _refuse_step(step, index, op, disposition, context, irql, reserved0, reserved1, output_mask) -> None:
    where = f"step {step.index}"
    if index != step.index:
        raise _bad(f"{where}: result carries index {index}")
    if wire.OP_NAMES.get(op) != step.op:
        raise _bad(f"{where}: result for op {op}, expected {step.op}")
    if wire.CONTEXT_NAMES.get(context) != step.context:
        raise _bad(f"{where}: context {context}, expected {step.context}")
    if disposition not in _DISPOSITIONS:
        raise _bad(f"{where}: unknown disposition {disposition}")
    if reserved0 != _ZERO3 or reserved1 != 0:
        raise _bad(f"{where}: reserved bytes not zero")
    if irql > _MAX_IRQL:
        raise _bad(f"{where}: IRQL {irql}")
    raise _bad(f"{where}: output mask 0x{output_mask:X} names outputs {step.op} does not have")


_UNMARKED: dict[tuple[int, int], tuple[int, ...]] = {}


def _unmarked(mask: int, count: int) -> tuple[int, ...]:
    """Output positions ``mask`` does not mark (a handful of masks recur: kept per mask)."""
    positions = _UNMARKED.get((mask, count))
    if positions is None:
        positions = tuple(i for i in range(count) if not (mask >> i) & 1)
        if len(_UNMARKED) < 4096:
            _UNMARKED[(mask, count)] = positions
    return positions


def _decode_cleanup(data: bytes, offset: int) -> CleanupSummary:
    (logs_closed, areas_deleted, reservations_freed, containers_removed, failures, alloc_calls,
     free_calls, reads_terminated, clients_deregistered, _events) = _CLEAN.unpack_from(data, offset)
    return CleanupSummary(logs_closed=logs_closed, areas_deleted=areas_deleted,
                          reservations_freed=reservations_freed, containers_removed=containers_removed,
                          failures=failures, alloc_calls=alloc_calls, free_calls=free_calls,
                          reads_terminated=reads_terminated, clients_deregistered=clients_deregistered)


def _client_names(case: Case) -> dict[int, str]:
    """Slot -> name of the case's managed clients (slots are the objects in order, as encoded)."""
    return {i: name for i, (name, kind) in enumerate(case.objects.items()) if kind == "client"}


def _decode_event(data: bytes, offset: int, i: int, step_count: int, names: dict) -> CallbackEvent:
    kind, irql, flags, reserved0, step, status, slot, arg = _EVENT.unpack_from(data, offset)
    where = f"callback event {i + 1}"
    if kind not in wire.EVENT_KINDS:
        raise _bad(f"{where}: unknown kind {kind}")
    name = wire.EVENT_KINDS[kind]
    if flags & ~wire.EV_FLAGS_ALL or reserved0:
        raise _bad(f"{where}: flags 0x{flags:X}, reserved 0x{reserved0:X}")
    if irql > _MAX_IRQL:
        raise _bad(f"{where}: IRQL {irql}")
    if step > step_count + 1:
        raise _bad(f"{where}: step {step} of {step_count}")
    management = name in ("advance_tail", "log_growth_complete", "log_unpinned")
    if management and slot not in names:
        raise _bad(f"{where}: {name} for slot {slot}, which is no managed client of the case")
    if not management and slot != wire.NO_SLOT:
        raise _bad(f"{where}: {name} names slot {slot}")
    if (status and name != "log_growth_complete") or (flags & wire.EV_PINNED and name != "log_growth_complete"):
        raise _bad(f"{where}: {name} carries a status or the pinned flag")
    return CallbackEvent(kind=name, step=step, irql=irql, late=bool(flags & wire.EV_LATE),
                         status=status if name == "log_growth_complete" else None,
                         pinned=bool(flags & wire.EV_PINNED), client=names.get(slot) if management else None,
                         arg=arg if name in ("advance_tail", "alloc_buffer", "dropped") else None)
