"""The JSON Schema of the scenario language, generated from the op table.

The generated schema is shipped as ``scenario.schema.json`` (next to this file) for editors'
YAML language servers; a test fails when the shipped file is stale. Regenerate with
``clfs-harness schema --write``. It checks structure and types; the rules that need the order of
steps (names before use, saved values before use, matching record counts) are the checker's.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.scenario import lsn, ops, values
from harness.scenario.model import CUT_DURING, RESTART_HOWS
from harness.scenario.ops import OPS, Op, Param

SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")
SCHEMA_ID = "https://clfs-harness.invalid/scenario.schema.json"

_SIZE_PATTERN = r"^\s*-?\s*\d[\d_]*\s*(B|KiB|MiB|GiB|TiB)?\s*$"
_PLACEHOLDER = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$",
                "description": "a matrix value or a value saved by an earlier step: ${name}"}
_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
_BUGCHECK_CODE = {"type": "integer", "minimum": 1, "maximum": ops.U32_MAX}
_NEVER = "(?!)"  # a pattern nothing matches: carries a message for a value an earlier ``if`` recognised


def _int_schema(param: Param) -> dict:
    """An integer of ``param``'s C type, with the checker's bounds and, where JSON Schema lets a
    message be given (yaml-language-server's ``errorMessage``/``patternErrorMessage``), its words.

    Strings (``${placeholder}``, sizes with units, INFINITE) and numbers are told apart with
    ``if``/``then``/``else`` rather than ``anyOf``: an editor then reports the branch that fits
    the value's type ("unknown unit 'KB'..."), not the first alternative ("Expected integer").
    """
    lo, hi = ops.INT_RANGES[param.kind]
    lo = lo if param.minimum is None else max(lo, param.minimum)
    hi = hi if param.maximum is None else min(hi, param.maximum)
    expected = f"expected {values.describe_int(param)}"
    accepted = [_PLACEHOLDER["pattern"][1:-1]]
    if param.size:
        accepted.append(_SIZE_PATTERN[1:-1])
    if param.kind == "u32inf":
        accepted.append("INFINITE")
    text: dict = {"type": "string", "pattern": f"^(?:{'|'.join(accepted)})$", "patternErrorMessage": expected}
    if param.size:
        text = _unit_rules(text)
    if param.size and param.kind in ("u32", "u32inf"):
        text = _ulong_size_rules(text, f"out of range: {values.range_text(param)}")
    # The bounds sit in an ``if``: outside them, the ``else`` carries the checker's words (an
    # editor ignores a message on minimum/maximum, but shows one on const).
    number = {"type": "integer", "errorMessage": expected, "description": values.range_text(param),
              "if": {"minimum": lo, "maximum": hi},
              "else": {"const": "in range", "errorMessage": f"out of range: {values.range_text(param)}"}}
    return {"if": {"type": "string"}, "then": text, "else": number}


def _ulong_size_rules(otherwise: dict, message: str) -> dict:
    """Size strings a ULONG cannot hold (4 GiB or more in MiB, GiB, TiB) are out of range."""
    too_big = (r"^\s*0*(?:(?:409[6-9]|4[1-9]\d\d|[5-9]\d{3}|[1-9]\d{4,})\s*MiB"
               r"|(?:[4-9]|[1-9]\d+)\s*GiB|[1-9]\d*\s*TiB)\s*$")
    return {"if": {"type": "string", "pattern": too_big},
            "then": {"pattern": _NEVER, "patternErrorMessage": message}, "else": otherwise}


def _unit_rules(otherwise: dict) -> dict:
    """Sizes written with a unit the checker refuses get the checker's words (per unit)."""
    rule = otherwise
    units = sorted({"K", "KB", "k", "kb", "M", "MB", "G", "GB"}, reverse=True)
    for unit in units:
        rule = {"if": {"type": "string", "pattern": rf"^\s*-?\s*\d[\d_]*\s*{unit}\s*$"},
                "then": {"pattern": _NEVER,
                         "patternErrorMessage": f"unknown unit '{unit}'; {values.unknown_unit_text(unit)}"},
                "else": rule}
    return rule


_KNOWN_ISSUE = {
    "type": "object", "additionalProperties": False, "required": ["link", "differs"],
    "properties": {
        "link": {"type": "string", "minLength": 1, "description": "where the issue is described"},
        "applies_to": {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1},
                                                            {"type": "string", "minLength": 1}]},
                       "description": "Windows build numbers and target identities (windows-26100.*); default all"},
        "differs": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["step", "what"],
            "properties": {"step": {"type": "integer", "minimum": 1},
                           "what": {"type": "string", "pattern": "^(status|irql|ran|output [a-z_][a-z0-9_]*)$"},
                           "observed": {"type": ["string", "integer"]}}}},
        "note": {"type": "string"},
    },
}


def _enum(choices) -> dict:
    """One of ``choices``, with the checker's words for anything else."""
    return {"enum": list(choices), "errorMessage": f"expected one of {', '.join(choices)}"}


def _param_schema(param: Param) -> dict:
    kind = param.kind
    if kind in ops.INT_KINDS:
        schema = _int_schema(param)
    elif kind in ("list_i64", "list_u32"):
        element = Param(param.name, kind.removeprefix("list_"), size=param.size, maximum=param.maximum)
        schema = {"type": "array", "items": _int_schema(element),
                  "minItems": param.min_items, "maxItems": param.max_items}
    elif kind == "bool":
        schema = {"anyOf": [{"type": "boolean"}, _PLACEHOLDER]}
    elif kind == "enum":
        schema = {"anyOf": [_enum(param.choices), _PLACEHOLDER]}
    elif kind == "flags":
        schema = {"type": "array", "items": {"enum": list(param.choices)}, "uniqueItems": True}
    elif kind in ("define", "ref"):
        schema = {"type": "string", "pattern": _IDENT}
    else:
        schema = {"type": "string", "minLength": 1, "maxLength": 200}
    if param.doc:
        schema["description"] = param.doc
    return schema


def _condition_schema(output: str) -> dict:
    """A number, ``${saved}`` or ``{gt: ...}``; an LSN output also takes CLFS_LSN_NULL / CLFS_LSN_INVALID."""
    scalar: list[dict] = [{"type": "integer"}, _PLACEHOLDER, {"type": "string", "pattern": _SIZE_PATTERN}]
    if ops.output_kind(output) == ops.OUTPUT_LSN:
        scalar.append({"enum": list(lsn.NAMED)})
    return {"anyOf": [*scalar, {"type": "object", "additionalProperties": False, "minProperties": 1,
                                "properties": {c: {"anyOf": scalar} for c in ops.COMPARATORS}}]}


def _expect_schema(op: Op) -> dict:
    status = {"anyOf": [{"enum": ["success", "failure", "any"]},
                        {"type": "string", "pattern": "^STATUS_[A-Z0-9_]+$"},
                        {"type": "integer", "minimum": 0, "maximum": ops.U32_MAX}]}
    detailed = {"type": "object", "additionalProperties": False,
                "properties": {"status": status, "callbacks": {"$ref": "#/$defs/callbacks"},
                               **{o: _condition_schema(o) for o in op.expect_outputs}}}
    return {"anyOf": [status, detailed]}


def _callbacks_schema() -> dict:
    """``expect: {callbacks: {advance_tail: {ge: 1}}}``: one definition every op's expect refers to."""
    count = {"type": "integer", "minimum": 0, "maximum": ops.U32_MAX}
    return {"type": "object", "additionalProperties": False, "minProperties": 1,
            "description": "how many callbacks of each kind arrive while the step runs",
            "properties": {k: {"anyOf": [count, {"type": "object", "additionalProperties": False,
                                                 "minProperties": 1,
                                                 "properties": {c: count for c in ops.COMPARATORS}}]}
                           for k in ops.CALLBACK_KINDS}}


def _step_schema(op: Op) -> dict:
    params = {"type": "object", "additionalProperties": False,
              "properties": {p.name: _param_schema(p) for p in op.params},
              "required": [p.name for p in op.params if p.required]}
    return {
        "type": "object",
        "description": f"{op.doc} Calls {', '.join(op.routines)}.",
        "additionalProperties": False,
        "required": [op.name],
        "properties": {
            op.name: params,
            "context": {"anyOf": [_enum(ops.CONTEXTS), _PLACEHOLDER]},
            "expect": _expect_schema(op),
            "save": {"type": "object", "minProperties": 1,
                     "propertyNames": {"pattern": _IDENT},
                     "additionalProperties": {"enum": list(op.outputs)}} if op.outputs else {"not": {}},
            "on_failure": {"enum": list(ops.ON_FAILURE)},
            "note": {"type": "string"},
        },
    }


def _restart_schema() -> dict:
    """``restart: {how: ...}``: ends a phase (the checker enforces what it means for names)."""
    return {
        "type": "object",
        "description": "Ends a phase: the guest is restarted on the same disk (power_cut: hard power-off; "
                       "bugcheck: the guest's kernel crashes; clean: orderly shutdown), then boots; reopen "
                       "restarts nothing (a new request on the same boot). Objects created before it are "
                       "gone after it; saved values stay usable. during: append_burst (power_cut only): "
                       "the power fails while the phase's last step, an append_burst, is running, at a "
                       "time chosen from the case's seed.",
        "additionalProperties": False,
        "required": ["restart"],
        "properties": {
            "restart": {"type": "object", "additionalProperties": False, "required": ["how"],
                        "properties": {"how": {"enum": list(RESTART_HOWS)},
                                       "during": {"enum": list(CUT_DURING),
                                                  "description": "cut the power while this step, the "
                                                                 "phase's last, runs (how: power_cut)"}}},
            "expect": {"const": "durable",
                       "description": "judge the phase this restart starts with the durability verdict"},
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
                       "additionalProperties": {"type": "array", "minItems": 1, "uniqueItems": True,
                                                "items": {"type": ["integer", "string", "boolean", "number"]}}},
            "expect_bugcheck": {
                "description": "the stop this scenario expects: a code (0xA), any, or a list of codes "
                               "([0xA, 0xD1, 0xC4]); required for steps above APC_LEVEL",
                "anyOf": [{"type": "null"}, {"const": "any"}, _BUGCHECK_CODE,
                          {"type": "array", "minItems": 1, "uniqueItems": True, "items": _BUGCHECK_CODE}]},
            "timeout": {"if": {"type": "string"},
                        "then": {"pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$",
                                 "patternErrorMessage": "expected a duration such as 30s, 2m or 1h"},
                        "else": {"type": "number", "minimum": 1, "maximum": 86400,
                                 "errorMessage": "expected a duration such as 30s, 2m or 1h"}},
            "requires": {"type": "object", "additionalProperties": False,
                         "properties": {"min_windows_build": {"type": "integer", "minimum": 0,
                                                              "maximum": ops.U32_MAX}}},
            "skip_targets": {"type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": _IDENT}},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            "known_issues": {"type": "array", "minItems": 1, "items": _KNOWN_ISSUE,
                             "description": "known differences: failing as described is a known failure (xfail)"},
        },
        "$defs": {
            "step": {"oneOf": [*({"$ref": f"#/$defs/{name}"} for name in OPS), {"$ref": "#/$defs/restart"}]},
            "restart": _restart_schema(),
            "callbacks": _callbacks_schema(),
            **{name: _step_schema(op) for name, op in OPS.items()},
        },
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"


def shipped_schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")
