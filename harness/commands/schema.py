"""``clfs-harness schema``: print (or with --write, regenerate) the scenario language's JSON Schema."""

from __future__ import annotations

import sys

from harness.errors import UsageError
from harness.protocol import c_ops
from harness.scenario import schema


def register(subparsers) -> None:
    parser = subparsers.add_parser("schema", help="print the JSON Schema of scenario files (for editors)")
    parser.add_argument("--write", action="store_true",
                        help=f"regenerate the shipped copy ({schema.SCHEMA_PATH.name}) and the C op tables generated "
                             "from harness/scenario/ops.py (ct_ops.h, ct_op_specs.inc) instead of printing")
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.write:
        schema.SCHEMA_PATH.write_text(schema.schema_text(), encoding="utf-8")
        print(f"wrote {schema.SCHEMA_PATH}")
        try:
            written = c_ops.write_all()
        except ValueError as exc:   # a declaration in ops.py the generator cannot express
            raise UsageError(f"harness/scenario/ops.py: {exc}") from None
        for path in written:
            print(f"wrote {path}")
    else:
        sys.stdout.write(schema.shipped_schema_text())
    return 0
