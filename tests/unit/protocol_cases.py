"""Hand-built Cases for the protocol and model-target tests (no YAML involved)."""

from __future__ import annotations

import struct

from harness.protocol import wire
from harness.scenario.model import BugcheckExpectation, Case, Expectation, Requirements, SavedRef, SourceLoc, Step
from harness.scenario.ops import INFINITE, OPS

LOC = SourceLoc("hand-built", 1, 1)


def step(index: int, op: str, context: str = "passive", save: dict | None = None,
         stop: bool = True, **args) -> Step:
    """A Step with every default filled in, as the scenario checker would leave it."""
    full = {}
    for p in OPS[op].params:
        if p.name in args:
            full[p.name] = args[p.name]
        elif p.default == "INFINITE":
            full[p.name] = INFINITE
        elif isinstance(p.default, str) and "${name}" in p.default:
            full[p.name] = p.default.replace("${name}", args.get("name", ""))
        else:
            full[p.name] = p.default
    return Step(index=index, op=op, args=full, context=context, expect=Expectation(),
                save=dict(save or {}), stop_on_failure=stop, loc=LOC)


def case(steps: list[Step], expect_bugcheck: int | tuple | None = None, name: str = "hand") -> Case:
    """A Case of ``steps``; ``expect_bugcheck`` a code, a tuple of codes (() = any) or None."""
    if isinstance(expect_bugcheck, int):
        expect_bugcheck = BugcheckExpectation((expect_bugcheck,))
    elif isinstance(expect_bugcheck, tuple):
        expect_bugcheck = BugcheckExpectation(expect_bugcheck)
    objects = {}
    for s in steps:
        for p in OPS[s.op].params:
            if p.kind == "define":
                objects[s.args[p.name]] = p.object_kind
    return Case(id=f"hand.scenario.yaml::{name}", file="hand.scenario.yaml", scenario=name, params={},
                description="", tags=(), steps=tuple(steps), expect_bugcheck=expect_bugcheck,
                timeout_s=10.0, requires=Requirements(), skip_targets=frozenset(), loc=LOC,
                objects=objects)


def lifecycle(context: str = "passive") -> Case:
    """Log, two containers, area, align -> alloc with the saved size, append, flush, delete."""
    return case([
        step(1, "create_log", name="log"),
        step(2, "add_container_set", log="log", count=2, size=512 * 1024),
        step(3, "create_marshalling_area", name="area", log="log", buffer_size=4096,
             alloc_callback=True, free_callback=True),
        step(4, "align_reserved_log", context, save={"aligned": "aligned_size"}, area="area",
             record_sizes=(100, 200)),
        step(5, "alloc_reserved_log", context, area="area", records=2, adjustment=SavedRef("aligned")),
        step(6, "reserve_and_append", context, save={"first": "lsn"}, area="area", records=(64, 32),
             flags=("use_reservation",)),
        step(7, "flush_to_lsn", context, save={"flushed": "last_flushed_lsn"}, area="area",
             lsn=SavedRef("first")),
        step(8, "query_log_info", log="log"),
        step(9, "delete_marshalling_area", area="area"),
        step(10, "close_log", log="log"),
        step(11, "delete_log", log="log"),
    ], name=f"lifecycle[{context}]")


def step_record(data: bytes, i: int) -> dict:
    """The fields of request step record i by name (array fields as tuples), whatever the layout."""
    raw = struct.unpack_from(wire.STEP.fmt, data, wire.REQ_HEADER.size + i * wire.STEP.size)
    out, pos = {}, 0
    for name, code in wire.STEP.fields:
        items = len(struct.unpack("<" + code, bytes(struct.calcsize("<" + code))))
        out[name] = raw[pos] if items == 1 else tuple(raw[pos:pos + items])
        pos += items
    return out
