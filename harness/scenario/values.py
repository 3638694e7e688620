"""Scalar values of the scenario language: sizes with units, durations, integers by C type.

Each parser returns the value or raises ``ValueProblem`` with the text that follows
``field: `` in an error line, e.g. ``expected an integer >= 1, got 'two'``.
"""

from __future__ import annotations

import difflib
import re

from harness.scenario.ops import INFINITE, INT_RANGES, Param

UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(-?)\s*(\d[\d_]*)\s*([A-Za-z]*)\s*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
PLACEHOLDER_RE = re.compile(r"\$\{([^}]*)\}")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

C_TYPE_NAMES = {"u16": "USHORT", "u32": "ULONG", "u32inf": "ULONG", "u64": "ULONGLONG",
                "u64var": "ULONGLONG", "i64": "LONGLONG", "i64var": "LONGLONG"}


class ValueProblem(Exception):
    """A value that does not fit its field; str() is the message after ``field: ``."""


def show(value: object) -> str:
    """A value as an error message quotes it: short, in YAML-ish repr."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_int(param: Param) -> str:
    """What an integer field takes, as the error message says it."""
    lo, hi = INT_RANGES[param.kind]
    noun = "a size in bytes (units: B, KiB, MiB, GiB)" if param.size else "an integer"
    if param.kind == "u32inf":
        noun += " or INFINITE"
    if param.minimum is not None:
        return f"{noun} >= {param.minimum}"
    return f"{noun} from {lo} to {hi}"


def parse_int(param: Param, value: object) -> int:
    """Parse one integer of ``param``'s kind (units if it is a size), range-checked.

    Raises:
        ValueProblem: wrong type, bad unit, or outside the C type's range or the param's minimum.
    """
    lo, hi = INT_RANGES[param.kind]
    if param.kind == "u32inf" and value == "INFINITE":
        return INFINITE
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueProblem(f"expected {describe_int(param)}, got {show(value)}")
    if isinstance(value, str):
        if not param.size:
            raise ValueProblem(f"expected {describe_int(param)}, got {show(value)}")
        number = parse_size_text(value, describe_int(param))
    else:
        number = value
    if number < lo or number > hi or (param.minimum is not None and number < param.minimum):
        raise ValueProblem(f"{number} is out of range: {range_text(param)}")
    if param.maximum is not None and number > param.maximum:
        why = f": {param.maximum_why}" if param.maximum_why else ""
        raise ValueProblem(f"{number} is more than {param.maximum}{why}")
    return number


def range_text(param: Param) -> str:
    """The bounds an integer field takes, as the checker and the editor schema both say them:
    ``ULONG takes 0 to 4294967295``; with a tighter minimum ``count takes 1 to 65535 (a USHORT)``."""
    lo, hi = INT_RANGES[param.kind]
    if param.minimum is not None and param.minimum > lo:
        return f"{param.name} takes {param.minimum} to {hi} (a {C_TYPE_NAMES[param.kind]})"
    return f"{C_TYPE_NAMES[param.kind]} takes {lo} to {hi}"


def unit_hint(unit: str) -> str | None:
    """The binary unit a decimal-looking one probably meant (``KB`` -> ``KiB``), or None."""
    return {"K": "KiB", "KB": "KiB", "k": "KiB", "kb": "KiB", "M": "MiB", "MB": "MiB",
            "G": "GiB", "GB": "GiB"}.get(unit)


def unknown_unit_text(unit: str) -> str:
    """What follows ``unknown unit 'KB'`` in both the checker's and the editor's message."""
    hint = unit_hint(unit)
    suggestion = f" (did you mean {hint}? units are binary: 1 KiB = 1024 bytes)" if hint else ""
    return f"use B, KiB, MiB, GiB or TiB{suggestion}"


def parse_size_text(text: str, expected: str) -> int:
    """``'512KiB'`` -> 524288. Units are binary: 1 KiB = 1024 bytes."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueProblem(f"expected {expected}, got {show(text)}")
    sign, digits, unit = match.groups()
    if unit and unit not in UNITS:
        raise ValueProblem(f"unknown unit {unit!r}; {unknown_unit_text(unit)}")
    number = int(digits.replace("_", "")) * UNITS[unit or "B"]
    return -number if sign else number


def parse_duration(value: object) -> float:
    """``30``, ``'30s'``, ``'2m'``, ``'1h'``, ``'500ms'`` -> seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueProblem(f"expected a duration such as 30s, 2m or 1h, got {show(value)}")
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match:
            raise ValueProblem(f"expected a duration such as 30s, 2m or 1h, got {show(value)}")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        seconds = float(value)
    if not 1 <= seconds <= 86400:
        raise ValueProblem(f"{seconds:g} s is out of range: a timeout takes 1 s to 24 h")
    return seconds


def placeholders(text: str) -> list[str]:
    """Names of the ``${name}`` placeholders in ``text``, in order."""
    return PLACEHOLDER_RE.findall(text)


def whole_placeholder(value: object) -> str | None:
    """``'${x}'`` -> ``'x'`` when the string is exactly one placeholder, else None."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}") and value.count("${") == 1:
        return value[2:-1]
    return None


def suggest(word: object, choices) -> str:
    """`` (did you mean X?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""
