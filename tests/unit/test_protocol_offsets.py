"""The Python mirror of the wire format agrees with the C header, field by field.

A small C program includes driver_src/include/clfstest_proto.h and prints sizeof and offsetof of
every struct and field; the host gcc compiles it. The numbers must equal harness.protocol.wire's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.protocol import wire

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "driver_src" / "include" / "clfstest_proto.h"


def _c_program() -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "clfstest_proto.h"', "int main(void) {"]
    for rec in wire.RECORDS:
        lines.append(f'  printf("{rec.name} sizeof %zu\\n", sizeof({rec.name}));')
        for field, _ in rec.fields:
            lines.append(f'  printf("{rec.name}.{field} %zu\\n", offsetof({rec.name}, {field}));')
    consts = {
        "CT_PROTO_VERSION": wire.PROTO_VERSION, "CT_REQ_MAGIC": wire.REQ_MAGIC,
        "CT_RESP_MAGIC": wire.RESP_MAGIC, "CT_MAX_STEPS": wire.MAX_STEPS, "CT_MAX_SLOTS": wire.MAX_SLOTS,
        "CT_MAX_REGS": wire.MAX_REGS, "CT_MAX_LIST": wire.MAX_LIST, "CT_MAX_SAVES": wire.MAX_SAVES,
        "CT_STEP_ARGS": wire.STEP_ARGS,
        "CT_MAX_OUTPUTS": wire.MAX_OUTPUTS, "CT_MAX_PATH_CHARS": wire.MAX_PATH_CHARS,
        "CT_MAX_PAYLOAD": wire.MAX_PAYLOAD, "CT_MAX_REQUEST": wire.MAX_REQUEST,
        "CT_MAX_CONTAINER_SET": wire.MAX_CONTAINER_SET, "CT_MAX_RECORD_BYTES": wire.MAX_RECORD_BYTES,
        "CT_MAX_REQUEST_RECORD_BYTES": wire.MAX_REQUEST_RECORD_BYTES,
        "IOCTL_CLFSTEST_RUN": wire.IOCTL_CLFSTEST_RUN, "IOCTL_CLFSTEST_INFO": wire.IOCTL_CLFSTEST_INFO,
        "CT_REJ_COUNT": len(wire.REJECT_NAMES), "CT_RESP_FLAGS_ALL": wire.RESP_FLAGS_ALL,
        "CT_REQ_EXPECT_BUGCHECK": wire.REQ_EXPECT_BUGCHECK, "CT_REQ_DELIBERATE_BUGCHECK": wire.REQ_DELIBERATE_BUGCHECK,
        "CT_REQ_FLAGS_ALL": wire.REQ_FLAGS_ALL, "CT_HARNESS_BUGCHECK": wire.HARNESS_BUGCHECK,
        "CT_BUGCHECK_TAG": wire.BUGCHECK_TAG,
    }
    for name in consts:
        lines.append(f'  printf("const {name} %lu\\n", (unsigned long)({name}));')
    for code, name in zip(range(7), ("OK", "ERROR", "USAGE", "NOT_LOADED", "ACCESS_DENIED", "VERSION",
                                      "MALFORMED")):
        consts[f"CT_EXIT_{name}"] = code
        lines.append(f'  printf("const CT_EXIT_{name} %lu\\n", (unsigned long)(CT_EXIT_{name}));')
    for op, code in wire.OP_CODES.items():
        lines.append(f'  printf("const CT_OP_{op.upper()} %lu\\n", (unsigned long)CT_OP_{op.upper()});')
    lines += ["  return 0;", "}"]
    return "\n".join(lines), consts


def test_scenario_language_caps_records_as_the_driver_does():
    from harness.scenario import ops

    assert (ops.MAX_RECORD_BYTES, ops.REQUEST_RECORD_LIMIT) == (wire.MAX_RECORD_BYTES, wire.MAX_REQUEST_RECORD_BYTES)


def test_offsets_match_gcc(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed: cannot compile the offsets program")
    source, consts = _c_program()
    (tmp_path / "offsets.c").write_text(source)
    exe = tmp_path / "offsets"
    subprocess.run([gcc, "-std=c11", "-Wall", "-Werror", f"-I{HEADER.parent}", str(tmp_path / "offsets.c"),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    seen = {}
    for line in out.splitlines():
        key, value = line.rsplit(" ", 1)
        seen[key] = int(value)
    for rec in wire.RECORDS:
        assert seen[f"{rec.name} sizeof"] == rec.size, rec.name
        for field, offset in rec.offsets().items():
            assert seen[f"{rec.name}.{field}"] == offset, f"{rec.name}.{field}"
    for name, value in consts.items():
        assert seen[f"const {name}"] == value, name
    for op, code in wire.OP_CODES.items():
        assert seen[f"const CT_OP_{op.upper()}"] == code, op


def test_clfsctl_exit_codes_are_mirrored():
    assert sorted(wire.CLFSCTL_EXIT) == list(range(7))


def test_reject_names_match_the_c_table():
    c = (ROOT / "driver_src" / "common" / "ct_interp.c").read_text()
    table = c[c.index("reject_names[CT_REJ_COUNT]"):]
    table = table[:table.index("};")]
    assert tuple(re.findall(r'"([^"]*)"', table)) == wire.REJECT_NAMES


def test_ops_cover_the_vocabulary():
    from harness.scenario.ops import INTERNAL_OPS, OPS, WIRE_OPS
    assert list(wire.OP_CODES) == list(WIRE_OPS) == list(OPS) + list(INTERNAL_OPS)
    assert sorted(wire.OP_CODES.values()) == list(range(1, len(WIRE_OPS) + 1))


def test_the_bugcheck_op_is_on_the_wire_but_not_in_the_scenario_language():
    from harness.scenario import schema
    from harness.scenario.ops import OPS
    assert "bugcheck" in wire.OP_CODES and "bugcheck" not in OPS
    import json
    steps = json.loads(schema.schema_text())["$defs"]
    assert "bugcheck" not in steps and "restart" in steps
    # The tag is the ASCII of its name, little-endian, as a dump viewer shows the parameter.
    assert wire.BUGCHECK_TAG.to_bytes(4, "little") == b"CLFT"


def test_compiled_op_spec_table_is_the_declaration(tmp_path):
    """The interpreter's validation table, as gcc compiles it, holds what ops.py declares."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed: cannot compile the spec-table program")
    from harness.protocol import c_ops
    from harness.scenario.ops import WIRE_OPS as OPS
    fields = ("slot_use", "slot2_use", "value_use", "str_use", "list_use", "list2_use", "outputs", "args",
              "step_flags", "needs_live", "test_only", "blob_use", "reg2_use", "reg3_use", "checks_payload",
              "outputs_on_failure")
    src = ['#include <stdio.h>', '#include "ct_interp.h"', "int main(void) {", "  unsigned i;",
           "  for (i = 1; i < CT_OP_COUNT; i++) {",
           '    printf("%s", ct_op_specs[i].name);']
    src += [f'    printf(" %u", (unsigned)ct_op_specs[i].{f});' for f in fields]
    src += ['    printf("\\n");', "  }", "  return 0;", "}"]
    (tmp_path / "specs.c").write_text("\n".join(src))
    exe = tmp_path / "specs"
    drv = ROOT / "driver_src"
    subprocess.run([gcc, "-std=c11", "-Wall", "-Werror", f"-I{drv / 'include'}", f"-I{drv / 'common'}",
                    str(tmp_path / "specs.c"), str(drv / "common" / "ct_interp.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    rows = [line.split() for line in subprocess.run([str(exe)], check=True, capture_output=True,
                                                     text=True).stdout.splitlines()]
    uses = {"CT_USE_NONE": 0, "CT_USE_DEFINE_LOG": 1, "CT_USE_DEFINE_AREA": 2, "CT_USE_LOG": 3, "CT_USE_AREA": 4,
            "CT_USE_DEFINE_READ": 5, "CT_USE_READ": 6, "CT_USE_DEFINE_SCAN": 7, "CT_USE_SCAN": 8,
            "CT_USE_DEFINE_CLIENT": 9, "CT_USE_CLIENT": 10}
    flag_bits = {"0": 0, **wire.STEP_FLAG_CODES}
    assert [r[0] for r in rows] == [o.name for o in sorted(OPS.values(), key=lambda o: o.code)]
    for row in rows:
        want = c_ops.spec_fields(OPS[row[0]])
        for field, got in zip(fields, row[1:]):
            value = want[field]
            if field.endswith("_use") and isinstance(value, str):
                value = uses[value]
            elif field == "step_flags":
                value = sum(flag_bits[f.strip()] for f in str(value).split("|"))
            assert int(got) == int(value), f"{row[0]}.{field}"


def test_generator_refuses_a_wire_field_that_names_no_parameter():
    from dataclasses import replace
    from harness.protocol import c_ops
    from harness.scenario.ops import OPS
    bad = replace(OPS["flush_to_lsn"], wire=replace(OPS["flush_to_lsn"].wire, args=("nope",)))
    with pytest.raises(ValueError, match="nope"):
        c_ops.spec_fields(bad)


def test_generator_refuses_more_args_than_the_step_record_holds():
    from dataclasses import replace
    from harness.protocol import c_ops, wire
    from harness.scenario.ops import OPS, Param
    base = OPS["flush_to_lsn"]
    names = tuple(f"a{i}" for i in range(wire.STEP_ARGS + 1))
    fits = replace(base, params=base.params + tuple(Param(n, "u32") for n in names),
                   wire=replace(base.wire, args=names[:wire.STEP_ARGS]), param_index={})
    assert c_ops.spec_fields(fits)["args"] == wire.STEP_ARGS == 8
    over = replace(fits, wire=replace(base.wire, args=names), param_index={})
    with pytest.raises(ValueError, match=f"{wire.STEP_ARGS + 1} args, the step record has {wire.STEP_ARGS}"):
        c_ops.spec_fields(over)
