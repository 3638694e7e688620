"""The JSON Schema of the scenario language, generated from the op table.

The generated schema is shipped as ``scenario.schema.json`` (next to this file) for editors'
YAML language servers; a test fails when the shipped file is stale. Regenerate with
``clfs-harness schema --write``. It checks structure and types; the rules that need the order of
steps (names before use, saved values before use, matching record counts) are the checker's.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.scenario import ops
from harness.scenario.ops import OPS, Op, Param

SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")
SCHEMA_ID = "https://clfs-harness.invalid/scenario.schema.json"

_SIZE_PATTERN = r"^\s*-?\s*\d[\d_]*\s*(B|KiB|MiB|GiB|TiB)?\s*$"
_PLACEHOLDER = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$",
                "description": "a matrix value or a value saved by an earlier step: ${name}"}
_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _int_schema(param: Param) -> dict:
    lo, hi = ops.INT_RANGES[param.kind]
    number = {"type": "integer", "minimum": lo if param.minimum is None else param.minimum, "maximum": hi}
    options: list[dict] = [number, _PLACEHOLDER]
    if param.size:
        options.append({"type": "string", "pattern": _SIZE_PATTERN, "description": "a size such as 512KiB"})
    if param.kind == "u32inf":
        options.append({"const": "INFINITE"})
    return {"anyOf": options}


def _param_schema(param: Param) -> dict:
    kind = param.kind
    if kind in ops.INT_KINDS:
        schema = _int_schema(param)
    elif kind in ("list_i64", "list_u32"):
        element = Param(param.name, kind.removeprefix("list_"), size=param.size)
        schema = {"type": "array", "items": _int_schema(element),
                  "minItems": param.min_items, "maxItems": param.max_items}
    elif kind == "bool":
        schema = {"anyOf": [{"type": "boolean"}, _PLACEHOLDER]}
    elif kind == "enum":
        schema = {"anyOf": [{"enum": list(param.choices)}, _PLACEHOLDER]}
    elif kind == "flags":
        schema = {"type": "array", "items": {"enum": list(param.choices)}, "uniqueItems": True}
    elif kind in ("define", "ref"):
        schema = {"type": "string", "pattern": _IDENT}
    else:
        schema = {"type": "string", "minLength": 1, "maxLength": 200}
    if param.doc:
        schema["description"] = param.doc
    return schema


def _expect_schema(op: Op) -> dict:
    status = {"anyOf": [{"enum": ["success", "failure", "any"]},
                        {"type": "string", "pattern": "^STATUS_[A-Z0-9_]+$"},
                        {"type": "integer", "minimum": 0, "maximum": ops.U32_MAX}]}
    condition = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": _SIZE_PATTERN}, _PLACEHOLDER,
                           {"type": "object", "additionalProperties": False, "minProperties": 1,
                            "properties": {c: {"anyOf": [{"type": "integer"}, _PLACEHOLDER,
                                                         {"type": "string", "pattern": _SIZE_PATTERN}]}
                                           for c in ops.COMPARATORS}}]}
    detailed = {"type": "object", "additionalProperties": False,
                "properties": {"status": status, **{o: condition for o in op.expect_outputs}}}
    return {"anyOf": [status, detailed]}


def _step_schema(op: Op) -> dict:
    params = {"type": "object", "additionalProperties": False,
              "properties": {p.name: _param_schema(p) for p in op.params},
              "required": [p.name for p in op.params if p.required]}
    return {
        "type": "object",
        "description": f"{op.doc} Calls {op.api}.",
        "additionalProperties": False,
        "required": [op.name],
        "properties": {
            op.name: params,
            "context": {"anyOf": [{"enum": list(ops.CONTEXTS)}, _PLACEHOLDER]},
            "expect": _expect_schema(op),
            "save": {"type": "object", "minProperties": 1,
                     "propertyNames": {"pattern": _IDENT},
                     "additionalProperties": {"enum": list(op.outputs)}} if op.outputs else {"not": {}},
            "on_failure": {"enum": list(ops.ON_FAILURE)},
            "note": {"type": "string"},
        },
    }


def build_schema() -> dict:
    """The scenario language as a JSON Schema (draft 2020-12)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "clfs-harness scenario",
        "description": "One scenario per YAML document in a *.scenario.yaml file.",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "description", "steps"],
        "properties": {
            "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.-]*$"},
            "description": {"type": "string", "minLength": 1,
                            "description": "what the scenario checks; quote the documented sentence"},
            "tags": {"type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"}},
            "context": {"anyOf": [{"enum": list(ops.CONTEXTS)}, _PLACEHOLDER],
                        "description": "default IRQL context of the steps"},
            "matrix": {"type": "object", "minProperties": 1,
                       "propertyNames": {"pattern": _IDENT, "not": {"const": "scratch"}},
                       "additionalProperties": {"type": "array", "minItems": 1,
                                                "items": {"type": ["integer", "string", "boolean", "number"]}}},
            "expect_bugcheck": {"type": ["integer", "null"], "minimum": 1, "maximum": ops.U32_MAX},
            "timeout": {"anyOf": [{"type": "number", "minimum": 1, "maximum": 86400},
                                  {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"}]},
            "requires": {"type": "object", "additionalProperties": False,
                         "properties": {"min_windows_build": {"type": "integer", "minimum": 0,
                                                              "maximum": ops.U32_MAX}}},
            "skip_targets": {"type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": _IDENT}},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
        },
        "$defs": {
            "step": {"oneOf": [{"$ref": f"#/$defs/{name}"} for name in OPS]},
            **{name: _step_schema(op) for name, op in OPS.items()},
        },
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"


def shipped_schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")
